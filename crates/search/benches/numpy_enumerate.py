#!/usr/bin/env python3
"""The numpy baseline of `cargo bench -p flowcompile-search`, as the research prototype computes a
frontier: drop each agent's dominated settings, enumerate every configuration of every structure
with numpy broadcasting (one array axis per slot, the proxy's composition rules applied to whole
arrays in the order the Rust proxy applies them), concatenate, and take the Pareto set.

Usage: numpy_enumerate.py SPACES.json

SPACES.json is written by the bench from the same examples/*/workflow.toml and profiles.csv it
searches: per space its name, execution model, each slot's (accuracy, latency) per setting, the
structures as expression trees over slots, the size of the frontier the Rust search found, and
whether to also enumerate the unpruned space. Prints one line per space:

    NAME PRUNED_MS PRUNED_FRONTIER FULL_MS FULL_FRONTIER

(times are medians in milliseconds of the enumeration and the Pareto filter, the JSON read not
included; FULL_* are "-" when the unpruned space was not asked for). Exits 1 when a frontier size
differs from the Rust search's.
"""

import json
import sys
import time

import numpy as np


def kept_settings(metrics):
    """Settings no other setting weakly dominates: by accuracy descending, latency ascending, index
    ascending, a setting is kept when it is strictly faster than every one before it."""
    order = sorted(range(len(metrics)), key=lambda i: (-metrics[i][0], metrics[i][1], i))
    kept, best = [], float("inf")
    for i in order:
        if metrics[i][1] < best:
            best = metrics[i][1]
            kept.append(i)
    return kept


def slots_of(expr, out):
    kind = expr[0]
    if kind == "call":
        if expr[1] not in out:
            out.append(expr[1])
    elif kind in ("seq", "all_of", "any_of"):
        for e in expr[1]:
            slots_of(e, out)
    elif kind == "cond":
        for _, e in expr[1]:
            slots_of(e, out)
    elif kind == "retry":
        slots_of(expr[1], out)
        slots_of(expr[2], out)
    return out


def evaluate(expr, leaves, parallel):
    """(accuracy, latency) arrays of an expression; `leaves[slot]` are the slot's arrays, shaped to
    broadcast along the slot's own axis."""
    kind = expr[0]

    def par(a, b):
        return np.maximum(a, b) if parallel else a + b

    if kind == "call":
        return leaves[expr[1]]
    if kind == "tool":
        return 1.0, expr[1]
    if kind in ("seq", "all_of", "any_of"):
        items = [evaluate(e, leaves, parallel) for e in expr[1]]
        if not items:
            return 1.0, 0.0
        acc, lat = items[0]
        if kind == "any_of":
            acc = -(1.0 - acc)
        for a, t in items[1:]:
            if kind == "seq":
                acc, lat = acc * a, lat + t
            elif kind == "all_of":
                acc, lat = acc * a, par(lat, t)
            else:
                acc, lat = -((-acc) * (1.0 - a)), par(lat, t)
        if kind == "any_of":
            acc = 1.0 - (-acc)
        return acc, lat
    if kind == "cond":
        arms = expr[1]
        if not arms:
            return 1.0, 0.0
        w, e = arms[0]
        a, t = evaluate(e, leaves, parallel)
        acc, lat = w * a, w * t
        for w, e in arms[1:]:
            a, t = evaluate(e, leaves, parallel)
            acc, lat = acc + w * a, lat + w * t
        return acc, lat
    if kind == "retry":
        b_acc, b_lat = evaluate(expr[1], leaves, parallel)
        f_acc, f_lat = evaluate(expr[2], leaves, parallel)
        r = 1.0 - f_acc
        r_k, runs = 1.0, 0.0
        for _ in range(expr[3]):
            runs = runs + r_k
            r_k = r_k * r
        fail = 1.0 - b_acc
        return 1.0 - fail * r_k, b_lat + fail * runs * f_lat
    raise ValueError(f"unknown expression {kind}")


def frontier_size(space, prune):
    """Enumerates every configuration (of the pruned settings when `prune`) and returns the number
    of Pareto-optimal (accuracy, latency) values."""
    parallel = space["exec"] == "parallel"
    slots = [np.asarray(m, dtype=np.float64) for m in space["slots"]]
    if prune:
        slots = [m[kept_settings(m.tolist())] for m in slots]
    accs, lats = [], []
    for expr in space["structures"]:
        used = slots_of(expr, [])
        shape = [len(slots[s]) for s in used]
        leaves = {}
        for axis, s in enumerate(used):
            view = [1] * len(used)
            view[axis] = shape[axis]
            leaves[s] = (slots[s][:, 0].reshape(view), slots[s][:, 1].reshape(view))
        acc, lat = evaluate(expr, leaves, parallel)
        accs.append(np.broadcast_to(acc, shape).ravel())
        lats.append(np.broadcast_to(lat, shape).ravel())
    acc, lat = np.concatenate(accs), np.concatenate(lats)
    # Fastest first, the more accurate first among equally fast; a point is on the frontier when
    # it is strictly more accurate than every point before it.
    order = np.lexsort((-acc, lat))
    acc = acc[order]
    before = np.maximum.accumulate(np.concatenate(([-np.inf], acc[:-1])))
    return int(np.count_nonzero(acc > before))


def median_ms(f, budget_s=2.0):
    start = time.perf_counter()
    result = f()
    once = time.perf_counter() - start
    runs = int(min(max(budget_s / max(once, 1e-9), 3), 200))
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[runs // 2] * 1e3, result


def main():
    with open(sys.argv[1]) as f:
        spaces = json.load(f)
    ok = True
    for space in spaces:
        pruned_ms, pruned = median_ms(lambda: frontier_size(space, True))
        if space["unpruned"]:
            full_ms, full = median_ms(lambda: frontier_size(space, False))
            full_ms, full = f"{full_ms:.4f}", str(full)
        else:
            full_ms, full = "-", "-"
        for size in (pruned, full):
            if size != "-" and int(size) != space["frontier"]:
                print(f"{space['name']}: numpy frontier has {size} points, the search {space['frontier']}",
                      file=sys.stderr)
                ok = False
        print(f"{space['name']} {pruned_ms:.4f} {pruned} {full_ms} {full}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
