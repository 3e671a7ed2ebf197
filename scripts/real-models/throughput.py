#!/usr/bin/env python3
"""Measures prefill and decode speed (tokens/s) of each model of a llama.cpp server.

Prefill: distinct long prompts (ten HotpotQA paragraphs, ~1,300 tokens) with max_tokens = 1, so the
wall time is almost all prompt processing. Decode: a streamed count ("1, 2, 3, ...") of 128 tokens that
neither model ends early; the rate is the tokens after the first over the time from the first streamed
token to the last, so prefill does not enter it. Every request goes through /v1/completions at
temperature 0, one at a time, after a warm-up request that loads the model. Prints the CSV that `flowcompile compile --throughput`
reads (model, prefill_tok_per_s, decode_tok_per_s) and, on stderr, every measurement.

Usage: throughput.py BASE_URL DATA.jsonl MODEL [MODEL...] [--repeats N] [-o throughput.csv]
Standard library only.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def complete(base_url, model, prompt, max_tokens):
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens,
                       "temperature": 0}).encode()
    req = urllib.request.Request(base_url + "/completions", body,
                                 {"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            reply = json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"throughput: {model}: POST {base_url}/completions: http {e.code}: {e.read()[:300]!r}")
    except OSError as e:
        sys.exit(f"throughput: {model}: POST {base_url}/completions failed: {e} (is the server running?)")
    wall = time.perf_counter() - started
    usage = reply.get("usage") or {}
    return wall, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)


def stream_decode(base_url, model, prompt, max_tokens):
    """Streams a completion; returns (chunks with text, seconds from the first such chunk to the last)."""
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens,
                       "temperature": 0, "stream": True}).encode()
    req = urllib.request.Request(base_url + "/completions", body,
                                 {"Content-Type": "application/json"})
    stamps = []
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                if any(c.get("text") for c in chunk.get("choices", [])):
                    stamps.append(time.perf_counter())
    except OSError as e:
        sys.exit(f"throughput: {model}: streamed POST {base_url}/completions failed: {e}")
    if len(stamps) < 2:
        sys.exit(f"throughput: {model}: the streamed reply had {len(stamps)} tokens, too few to time")
    return len(stamps), stamps[-1] - stamps[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base_url")
    ap.add_argument("data")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    base_url = args.base_url.rstrip("/")
    items = []
    with open(args.data) as f:
        for line in f:
            if line.strip():
                items.append(json.loads(line))
    if len(items) < args.repeats + 1:
        sys.exit(f"throughput: {args.data} has {len(items)} items, {args.repeats + 1} needed")

    def long_prompt(item):
        paragraphs = "".join(f"## {t}\n{''.join(s).strip()}\n" for t, s in item["context"])
        return f"{paragraphs}Question: {item['question']}\nAnswer:"

    rows = []
    for model in args.models:
        complete(base_url, model, "Warm-up.", 1)  # loads the model (the server holds one at a time)
        pre_tokens = pre_wall = 0.0
        for item in items[1:1 + args.repeats]:
            wall, p, _ = complete(base_url, model, long_prompt(item), 1)
            print(f"{model}: prefill {p} prompt tokens in {wall:.3f} s", file=sys.stderr)
            pre_tokens, pre_wall = pre_tokens + p, pre_wall + wall
        prefill = pre_tokens / pre_wall
        dec_tokens = dec_wall = 0.0
        for start in range(1, 1 + args.repeats):
            prompt = ", ".join(str(start * 100 + i) for i in range(8)) + ","
            n, wall = stream_decode(base_url, model, prompt, 128)
            print(f"{model}: decode {n - 1} tokens in {wall:.3f} s after the first", file=sys.stderr)
            dec_tokens, dec_wall = dec_tokens + n - 1, dec_wall + wall
        decode = dec_tokens / dec_wall
        rows.append((model, prefill, decode))
        print(f"{model}: prefill {prefill:.1f} tok/s, decode {decode:.1f} tok/s", file=sys.stderr)
    text = "model,prefill_tok_per_s,decode_tok_per_s\n" + "".join(
        f"{m},{p:.1f},{d:.1f}\n" for m, p, d in rows)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
