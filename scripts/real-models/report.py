#!/usr/bin/env python3
"""Writes docs/real-models.md from the files scripts/real-models-study.sh leaves in its output dir.

Every figure in the document is read from those files (timings.tsv, throughput.csv, eval-*.json,
profiles.csv, artifact.json, artifact-tokens.json, validation.json); a section whose input is missing
says so instead of showing a number. Standard library only.

Usage: report.py --dir OUT [--workflow WF] [--server-home DIR] [--n-val N] [--n-test N]
                 [--study-args "--calls N ..."] [-o FILE]
"""

import argparse
import csv
import datetime
import glob
import json
import math
import os
import platform
import subprocess
import sys

PAPER = {"accuracy": 0.92, "latency": 0.96}


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read().strip()
    return json.loads(text) if text else None


def load_csv(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    return f"{x:.{digits}f}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def llama_version(home):
    python = os.path.join(home, "venv", "bin", "python")
    if not os.path.exists(python):
        return "unknown"
    try:
        return subprocess.run([python, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
                              capture_output=True, text=True, timeout=60).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def settings_text(settings):
    return ", ".join(f"{slot} {s['model']}@{s['budget']}" for slot, s in settings.items())


def knobs_text(structure):
    knobs = structure.get("knobs", {}) if isinstance(structure, dict) else {}
    return " ".join(f"{k}={v}" for k, v in knobs.items()) or str(structure)


def fit(pairs):
    """MAE, mean relative error and Pearson r of (predicted, measured) pairs."""
    if len(pairs) < 2:
        return None
    n = len(pairs)
    mae = sum(abs(p - m) for p, m in pairs) / n
    rel = sum(abs(p - m) / m for p, m in pairs if m > 0) / max(1, sum(1 for _, m in pairs if m > 0))
    mp = sum(p for p, _ in pairs) / n
    mm = sum(m for _, m in pairs) / n
    cov = sum((p - mp) * (m - mm) for p, m in pairs)
    vp = sum((p - mp) ** 2 for p, _ in pairs)
    vm = sum((m - mm) ** 2 for _, m in pairs)
    r = cov / math.sqrt(vp * vm) if vp > 0 and vm > 0 else float("nan")
    return {"n": n, "mae": mae, "rel": rel, "r": r}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--workflow", default="examples/hotpotqa-small/workflow.toml")
    ap.add_argument("--server-home",
                    default=os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                         "flowcompile", "llama"))
    ap.add_argument("--n-val", type=int)
    ap.add_argument("--n-test", type=int)
    ap.add_argument("--study-args", default="", help="the study's extra arguments, shown in the commands")
    ap.add_argument("-o", "--output", default="docs/real-models.md")
    args = ap.parse_args()
    d = args.dir
    if not os.path.isdir(d):
        sys.exit(f"report: {d} is not a directory (run scripts/real-models-study.sh first)")

    timings = {}
    if os.path.exists(os.path.join(d, "timings.tsv")):
        with open(os.path.join(d, "timings.tsv")) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 2:
                    timings[fields[0]] = (float(fields[1]), fields[2] if len(fields) > 2 else "n/a")
    throughput = load_csv(os.path.join(d, "throughput.csv"))
    profiles = load_csv(os.path.join(d, "profiles.csv"))
    artifact = load_json(os.path.join(d, "artifact.json"))
    artifact_tokens = load_json(os.path.join(d, "artifact-tokens.json"))
    validation = load_json(os.path.join(d, "validation.json"))
    evals = []
    for path in sorted(glob.glob(os.path.join(d, "eval-*.json")), key=os.path.getmtime):
        v = load_json(path)
        if v:
            evals.append(v)

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    w = out.append
    w("# Real models on this machine")
    w("")
    w(f"Written by `scripts/real-models/report.py` ({now}) from the files that `scripts/real-models-study.sh` "
      f"left in `{d}`: every figure below was measured by the commands of that script on this machine; a "
      "section whose measurement is missing says so.")
    w("")
    w(f"Machine: {os.cpu_count()} cores ({cpu_model()}), no GPU; llama-cpp-python {llama_version(args.server_home)}"
      " serving SmolLM2-135M-Instruct (Q4_1, chat) as `smollm2` and Gemma 3 270M (Q4_K_M, base model, few-shot "
      "completions) as `gemma3`, 2 threads, one request at a time (the server holds one model in memory and "
      "swaps on a change of model).")
    w(f"Workflow: `{args.workflow}` (select two paragraphs, one or two answer generators with a vote, an "
      "optional answer-shortening step; budgets cap the reply in tokens). Data: HotpotQA distractor "
      f"(`hotpotqa_validate.jsonl`), the first {args.n_val or '?'} items for compiling, the next "
      f"{args.n_test or '?'} held out. Accuracy is the fraction of items with token F1 > 0.5.")
    w("")
    w("## Commands")
    w("")
    w("```sh")
    w("scripts/real-models/setup.sh                                   # venv, llama.cpp build, models (sha256 checked)")
    w("export FLOWCOMPILE_LLAMA_URL=$(scripts/real-models/serve.sh)   # http://127.0.0.1:8090/v1")
    w(f"scripts/real-models-study.sh --val {args.n_val or 30} --test {args.n_test or 30}"
      f"{(' ' + args.study_args) if args.study_args else ''}   # this document")
    w("```")
    w("")

    w("## Wall time of each stage")
    w("")
    if timings:
        w(f"The machine has {os.cpu_count()} cores; the load average (1 minute, at the end of each stage) "
          "shows how many other processes competed for them: above the core count, every latency below "
          "is inflated by that competition. A stage that found its measurements in the store (a rerun) takes "
          "almost no time.")
        w("")
        w("| stage | seconds | load average |")
        w("|---|---|---|")
        for name, (secs, load) in timings.items():
            w(f"| {name} | {secs:.1f} | {load} |")
    else:
        w("Not measured (no timings.tsv).")
    w("")

    w("## Model speed (prefill and decode)")
    w("")
    if throughput:
        w("Measured by `scripts/real-models/throughput.py` through `/v1/completions` (prefill: ten-paragraph "
          "prompts with one output token; decode: a streamed count of 128 tokens, timed from the first token to "
          "the last, so prefill does not enter it).")
        w("")
        w("| model | prefill tok/s | decode tok/s |")
        w("|---|---|---|")
        for r in throughput:
            w(f"| {r['model']} | {float(r['prefill_tok_per_s']):.0f} | {float(r['decode_tok_per_s']):.1f} |")
        detail = os.path.join(d, "throughput.csv.err")
        if os.path.exists(detail):
            with open(detail) as f:
                lines = [line.rstrip() for line in f if line.strip()]
            w("")
            w("Each request (the spread shows how much the other processes on the machine interfered):")
            w("")
            w("```")
            out.extend(lines)
            w("```")
    else:
        w("Not measured (no throughput.csv).")
    w("")

    fitted = load_csv(os.path.join(d, "profiles.throughput.csv"))
    if fitted:
        w("Fitted by `flowcompile compile --data` from its profiling calls (`profiles.throughput.csv`):")
        w("")
        w("| model | prefill tok/s | decode tok/s |")
        w("|---|---|---|")
        for r in fitted:
            w(f"| {r['model']} | {float(r['prefill_tok_per_s']):.0f} | {float(r['decode_tok_per_s']):.1f} |")
        w("")

    w("## Single configurations on the held-out items (`flowcompile eval`)")
    w("")
    if evals:
        w("Structure s0 is one answer call; s1 adds the answer-shortening step; s2 is two answers and a vote. "
          "Latency is wall time per item (`--concurrency 1`).")
        w("")
        w("| configuration | items | failed | accuracy | latency mean s | p95 s | tokens per item |")
        w("|---|---|---|---|---|---|---|")
        for v in evals:
            n = v.get("n_items", 0)
            lat = v.get("latency_s", {})
            w(f"| {v.get('config', '?')} | {n} | {v.get('n_failed', 0)} | {fmt(v.get('accuracy'))} | "
              f"{fmt(lat.get('mean'))} | {fmt(lat.get('p95'))} | {fmt(v.get('tokens', 0) / max(1, n), 0)} |")
    else:
        w("Not measured (no eval-*.json).")
    w("")

    w("## Token-based latency model")
    w("")
    if profiles and throughput:
        speed = {r["model"]: (float(r["prefill_tok_per_s"]), float(r["decode_tok_per_s"])) for r in throughput}
        per_model = {}
        for r in profiles:
            if r["model"] not in speed:
                continue
            pre, dec = speed[r["model"]]
            predicted = float(r["input_tokens"]) / pre + float(r["output_tokens"]) / dec
            per_model.setdefault(r["model"], []).append((predicted, float(r["latency_s"])))
        w("Each profile row's measured mean latency against input_tokens / prefill + output_tokens / decode "
          "with the speeds above.")
        w("")
        w("| model | profile rows | MAE s | mean relative error | Pearson r |")
        w("|---|---|---|---|---|")
        for model, pairs in per_model.items():
            f = fit(pairs)
            if f:
                w(f"| {model} | {f['n']} | {fmt(f['mae'])} | {fmt(f['rel'])} | {fmt(f['r'])} |")
    else:
        w("Not measured (needs profiles.csv from `flowcompile profile --export` and throughput.csv).")
    w("")

    compiled = load_json(os.path.join(d, "compile.json"))
    measured = (compiled or {}).get("measured") or {}
    if measured.get("induce"):
        ind = measured["induce"]
        w("## Induction and profiling (`flowcompile compile --data`)")
        w("")
        w(f"The reference configuration ran on {ind.get('items', '?')} validation items (mean score "
          f"{fmt(ind.get('reference_score'))}) and {ind.get('items_kept', '?')} runs were kept as examples"
          f" (induction {fmt(measured.get('induce_s'), 1)} s). Profiling then called every setting of each agent "
          "on those examples:")
        w("")
        w("| agent | examples | calls per setting | calls made |")
        w("|---|---|---|---|")
        for a in measured.get("profile", {}).get("agents", []):
            w(f"| {a.get('agent')} | {a.get('examples')} | {a.get('calls_per_setting')} | "
              f"{a.get('calls_run_now', 0) + a.get('calls_reused', 0)} |")
        w("")
        if profiles:
            w("| agent | model | budget | accuracy | latency s | input tokens | output tokens |")
            w("|---|---|---|---|---|---|---|")
            for r in profiles:
                w(f"| {r['agent']} | {r['model']} | {r['budget']} | {fmt(float(r['accuracy']))} | "
                  f"{fmt(float(r['latency_s']))} | {fmt(float(r['input_tokens']), 0)} | "
                  f"{fmt(float(r['output_tokens']), 1)} |")
            w("")

    w("## The compiled frontier (measured latency)")
    w("")
    if artifact:
        space = artifact.get("space", {})
        n_points = len(artifact["points"])
        w(f"{n_points} point{'' if n_points == 1 else 's'} out of {space.get('n_configs', '?')} configurations "
          f"({space.get('n_structures', '?')} structures), proxy {artifact.get('proxy', {})}.")
        w("")
        w("| point | structure | settings | predicted accuracy | predicted latency s |")
        w("|---|---|---|---|---|")
        for p in artifact["points"]:
            w(f"| {p['id']} | {knobs_text(p['structure'])} | {settings_text(p['settings'])} | "
              f"{fmt(p['predicted']['accuracy'])} | {fmt(p['predicted']['latency_s'])} |")
    else:
        w("Not measured yet: needs `flowcompile compile WORKFLOW --data ... --providers ...` (the compile "
          "pipeline).")
    w("")
    if artifact_tokens:
        w(f"With the token-based latency model the frontier has {len(artifact_tokens['points'])} points.")
        w("")

    w("## Predicted against measured on held-out items")
    w("")
    if validation:
        w(f"`flowcompile test` on {validation.get('n_items', '?')} held-out items ({validation.get('data', '?')}),"
          f" latency source: {validation.get('latency_source', 'wall')}.")
        w("")
        w("| point | structure | predicted accuracy | measured accuracy | predicted latency s | measured latency s "
          "| p95 s | failed |")
        w("|---|---|---|---|---|---|---|---|")
        for p in validation.get("points", []):
            pr, me = p.get("predicted", {}), p.get("measured", {})
            w(f"| {p.get('id')} | {p.get('structure')} | {fmt(pr.get('accuracy'))} | {fmt(me.get('accuracy'))} | "
              f"{fmt(pr.get('latency_s'))} | {fmt(me.get('latency_s'))} | {fmt(me.get('latency_p95_s'))} | "
              f"{me.get('n_failed', 0)} |")
        w("")
        fid = validation.get("fidelity", {})
        w("| metric | Spearman | pairwise agreement | MAE | calibrated MAE | paper's Spearman |")
        w("|---|---|---|---|---|---|")
        for key in ("accuracy", "latency"):
            f = fid.get(key, {})
            w(f"| {key} | {fmt(f.get('spearman'))} | {fmt(f.get('pairwise_agreement'))} | {fmt(f.get('mae'))} | "
              f"{fmt(f.get('mae_calibrated'))} | {PAPER[key]} |")
    else:
        w("Not measured yet: needs `flowcompile test WORKFLOW --artifact ... --data HELDOUT --all-points`.")
    w("")

    w("## What these numbers do and do not show")
    w("")
    w("- The models are tiny (135M and 270M parameters, 4-bit) and weak at multi-hop QA: accuracies are low and "
      "a few items move them. With tens of items, a difference of one or two items between points is noise; "
      "rank correlations over points that differ by less than that are not evidence either way.")
    w("- Latency is wall time on a shared 2-core machine: other processes add noise. The server runs one "
      "request at a time and keeps one model loaded, so a configuration that mixes models pays a model swap "
      "per change, which per-agent profiles do not see.")
    w("- The answer agents' raw replies are the workflow's answer, so induction keeps them from every "
      "completed reference run, labelled with the gold answer (before 2026-12-07 it kept only the runs "
      "the reference got right, and the profiles were optimistic: raw accuracy MAE 0.263).")
    w("- llama.cpp reuses the cached prefix of the previous prompt: when profiling sends the same few "
      "examples again and again, most prompts are already cached and the profiled latency (and any "
      "throughput fitted from it) is far below what a fresh prompt costs, as in the single-configuration "
      "runs above.")
    w("- The proxy composes per-agent profiles; at run time the vote and format steps see these models' own "
      "answers, so their accuracy depends on what came before them. The validation table checks how much "
      "that matters here.")
    w("")
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"report: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
