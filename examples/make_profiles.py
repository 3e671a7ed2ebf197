#!/usr/bin/env python3
"""Writes the synthetic example profiles shipped beside each example workflow.

The numbers are not measurements: they come from a small seeded model shaped like the paper's Qwen3
family (bigger models are more accurate and slower; more thinking helps with diminishing returns;
accuracy is a proportion of 100 samples, so ties at 0.01 steps occur as in real profiles). Real
profiles come from `flowcompile profile`. Run: python3 examples/make_profiles.py
"""
import csv
import math
import os
import random

MODELS = {  # name: (ability, prefill tok/s, decode tok/s, tokens needed at full thinking)
    "qwen3-0.6b": (0.30, 9000.0, 190.0, 3200),
    "qwen3-1.7b": (0.52, 6500.0, 150.0, 2600),
    "qwen3-4b": (0.70, 3800.0, 95.0, 2000),
    "qwen3-8b": (0.78, 2400.0, 62.0, 1700),
    "qwen3-14b": (0.84, 1500.0, 41.0, 1500),
}

ROLES = {  # role: (difficulty offset, answer tokens, prompt tokens, sensitivity to thinking)
    "solve": (0.0, 180, 250, 1.0),
    "refine": (-0.05, 200, 450, 0.8),
    "program": (0.08, 220, 240, 0.9),
    "select": (-0.25, 60, 600, 0.4),
    "format": (-0.35, 20, 120, 0.1),
}


def profile(rng, agent, role, model, budget, task_offset):
    ability, prefill, decode, need = MODELS[model]
    offset, answer_tokens, prompt_tokens, sens = ROLES[role]
    thinking = min(budget, need)
    gain = 0.22 * sens * math.log1p(thinking / 400.0) / math.log1p(need / 400.0)
    p = min(0.99, max(0.01, ability + gain - offset * (1 - ability) - task_offset))
    samples = 100
    correct = sum(rng.random() < p for _ in range(samples))
    out_tokens = answer_tokens + thinking * rng.uniform(0.9, 1.0)
    in_tokens = prompt_tokens * rng.uniform(0.95, 1.05)
    latency = 0.05 + in_tokens / prefill + out_tokens / decode
    latency *= rng.uniform(0.97, 1.03)
    return [agent, model, budget, correct / samples, samples, round(latency, 4), round(in_tokens, 1), round(out_tokens, 1)]


def write(example, agents, budgets, task_offset, seed):
    rng = random.Random(seed)
    rows = [["agent", "model", "budget", "accuracy", "samples", "latency_s", "input_tokens", "output_tokens"]]
    for agent, role in agents:
        for model in MODELS:
            for budget in budgets:
                rows.append(profile(rng, agent, role, model, budget, task_offset))
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, example, "profiles.csv"), "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with open(os.path.join(here, example, "throughput.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "prefill_tok_per_s", "decode_tok_per_s"])
        for model, (_, prefill, decode, _) in MODELS.items():
            w.writerow([model, prefill, decode])


SHORT = [10, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 4000, 8000]
LONG = [10, 200, 400, 800, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 12000, 16000]

write("hotpotqa", [("answer_generate", "solve"), ("sc_ensemble", "select"), ("format_answer", "format")], SHORT, 0.1, 1)
write("math", [("programmer", "program"), ("refine_solver", "refine"), ("detailed_solver", "solve"),
               ("generate_solver", "solve"), ("sc_ensemble", "select")], LONG, 0.05, 2)
write("code", [("code_generate", "solve"), ("sc_ensemble", "select"), ("reflection_test", "refine")], LONG, 0.2, 3)
