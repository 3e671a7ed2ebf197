#!/usr/bin/env python3
"""Math word problems with diverse solvers and a self-consistency vote, as a LangGraph app.

An ordinary LangGraph + langchain-openai application that talks to any OpenAI-compatible server.
It is the workflow of examples/math/workflow.toml written by hand:

    programmer -> run_program -> refine_solver --+
    detailed_solver -----------------------------+--> sc_ensemble (if >= 2 candidates) -> extract_answer
    generate_solver x N (N = 0..2) --------------+

The app owns its prompts (copied from workflow.toml), its parsers (\\boxed{} and ```python blocks)
and its own answer check. The only things that know about a flowcompile gateway:

  * the base URL and API key (OPENAI_BASE_URL / --base-url, --api-key-env);
  * two headers on every LLM call: `x-flowcompile-agent: <agent name>` and
    `x-flowcompile-run: <item id>`, so the gateway can tell the calls of one run and their roles;
  * the model name: each agent sends its own name as `model` (a gateway resolves it to a real
    model); `--model NAME` sends NAME for every agent instead (pass-through to a plain server);
  * an optional plan: see fetch_plan().

Usage: python app.py --data FILE.jsonl [--limit N] [--base-url URL] [--out results.jsonl]
                     [--concurrency K] [--model NAME] [--api-key-env VAR] [--no-plan] [--json]
Exits 1 if any item's run failed (the others still run and are written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import operator
import os
import re
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from typing import Annotated, Any, TypedDict

import httpx
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

AGENT_HEADER = "x-flowcompile-agent"
RUN_HEADER = "x-flowcompile-run"

# Prompts, copied from examples/math/workflow.toml. The originals are minijinja templates; these are
# their renderings with plain string formatting (same text, same newlines).
PROGRAMMER = (
    "Write a short Python 3 program that computes the answer to the problem below and prints only\n"
    "the final answer. Use exact arithmetic (fractions) where it matters. Reply with one ```python\n"
    "code block.\n"
    "\n"
    "Problem: {problem}"
)
REFINE_SOLVER = "Solve the problem step by step and put the final answer in \\boxed{{}}.\n{hint}\nProblem: {problem}"
REFINE_HINT = (
    "\nA program written for this problem printed: {output}\n"
    "Check this result against your own reasoning; it may be wrong.\n"
)
DETAILED_SOLVER = (
    "Solve the problem carefully. Write out every intermediate quantity with its units, check the\n"
    "result by substituting it back, and put the final answer in \\boxed{{}}.\n"
    "\n"
    "Problem: {problem}"
)
GENERATE_SOLVER = (
    "Solve the following problem. Reason step by step and put the final answer in \\boxed{{}}.\n"
    "\n"
    "Problem: {problem}"
)
SC_ENSEMBLE = (
    "Several solutions to the problem below reached these final answers. Decide which answer is\n"
    "correct, favouring the one most solutions agree on unless its reasoning is clearly wrong, and\n"
    "put it in \\boxed{{}}.\n"
    "\n"
    "Problem: {problem}\n"
    "{solutions}"
)
SC_SOLUTION = "Solution {i} answer: \\boxed{{{answer}}}\n"

PROGRAM_TIMEOUT_S = 5.0


# ---------------------------------------------------------------------------------------------
# Parsers


def strip_thinking(text: str) -> str:
    """The reply after a reasoning model's `</think>` (all of it if there is none)."""
    i = text.rfind("</think>")
    return text[i + len("</think>"):] if i >= 0 else text


def last_boxed(text: str) -> str | None:
    """The contents of the last `\\boxed{...}` (nested braces matched), or None."""
    text = strip_thinking(text)
    start = text.rfind("\\boxed")
    while start >= 0:
        i = start + len("\\boxed")
        while i < len(text) and text[i] == " ":
            i += 1
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1:j].strip()
                j += 1
        start = text.rfind("\\boxed", 0, start)
    return None


CODE_BLOCK = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def python_block(text: str) -> str | None:
    """The last ```python code block (or unlabelled ``` block) of a reply, or None."""
    blocks = CODE_BLOCK.findall(strip_thinking(text))
    return blocks[-1] if blocks else None


# ---------------------------------------------------------------------------------------------
# The app's own answer check (flowcompile scores runs with its own scorer, math_equiv).

_TEXT = re.compile(r"\\(?:text|mathrm|mbox)\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")


def normalise(ans: str) -> str:
    s = ans.strip().strip(".")
    s = _TEXT.sub(r"\1", s)
    s = _FRAC.sub(r"(\1)/(\2)", s)
    for junk in ("\\$", "$", "\\!", "\\,", "\\left", "\\right", "^\\circ", "^{\\circ}", "\\%", "%"):
        s = s.replace(junk, "")
    s = s.replace(" ", "")
    if re.fullmatch(r"-?[\d,]+(\.\d+)?", s):
        s = s.replace(",", "")
    return s


def _number(s: str) -> Fraction | None:
    m = re.fullmatch(r"\(?(-?\d+(?:\.\d+)?)\)?(?:/\(?(-?\d+(?:\.\d+)?)\)?)?", s)
    if not m:
        return None
    try:
        num = Fraction(m.group(1))
        return num / Fraction(m.group(2)) if m.group(2) else num
    except (ValueError, ZeroDivisionError):
        return None


def equivalent(answer: str | None, gold: str) -> bool:
    """Numbers compare by value (69 == 69.0 == 69.00, 1/2 == 0.5 == \\frac12 with braces); other
    answers by their text without spaces, dollar signs and \\text{}."""
    if answer is None:
        return False
    a, g = normalise(answer), normalise(gold)
    if a == g:
        return True
    na, ng = _number(a), _number(g)
    if na is not None and ng is not None:
        return math.isclose(float(na), float(ng), rel_tol=1e-9, abs_tol=1e-9)
    return False


# ---------------------------------------------------------------------------------------------
# Plan: which optional steps run for this item.

FULL_PLAN = {
    "programmer": True,
    "refine_solver": True,
    "detailed_solver": True,
    "generate_solver": 2,
}


def plan_url(base_url: str) -> str:
    """The plan endpoint of a gateway whose OpenAI base URL is `base_url`: it is served next to
    /v1, not under it, so a trailing /v1 is stripped (http://h:p/v1 -> http://h:p/flowcompile/plan)."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return f"{root}/flowcompile/plan"


async def fetch_plan(http: httpx.AsyncClient | None, base_url: str, run_id: str) -> dict:
    """GET {plan_url(base_url)}?run=<id> (the base URL without its /v1), e.g.
        {"point": "p3", "agents": {"generate_solver": {"samples": 1}, "programmer": {"enabled": false}}}
    Agents not named keep their defaults: all solvers enabled, 2 generic samples. Any failure
    (no such endpoint, connection refused, not JSON) means the full structure."""
    plan = dict(FULL_PLAN)
    if http is None:
        return plan
    try:
        r = await http.get(plan_url(base_url), params={"run": run_id})
        if r.status_code != 200:
            return plan
        agents = r.json().get("agents", {})
    except (httpx.HTTPError, ValueError, AttributeError):
        return plan
    for name in ("programmer", "refine_solver", "detailed_solver"):
        if isinstance(agents.get(name), dict) and "enabled" in agents[name]:
            plan[name] = bool(agents[name]["enabled"])
    gen = agents.get("generate_solver")
    if isinstance(gen, dict):
        if "samples" in gen:
            plan["generate_solver"] = max(0, int(gen["samples"]))
        elif gen.get("enabled") is False:
            plan["generate_solver"] = 0
    return plan


# ---------------------------------------------------------------------------------------------
# The graph


class State(TypedDict, total=False):
    problem: str
    program: str | None
    program_output: str | None
    candidates: Annotated[list[str], operator.add]
    vote_reply: str | None
    answer: str | None


def run_python(code: str) -> str | None:
    """Runs `code` with python3 in a subprocess, 5 s timeout; its stdout if it exited 0.
    A demo: the program runs unsandboxed with this user's rights. The python3 is the one running
    this app (sys.executable, isolated mode): a `python3` found on PATH may be a slow shim (pyenv's
    took 0.2 s a run here)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        path = f.name
    try:
        p = subprocess.run([sys.executable, "-I", path], capture_output=True, text=True, timeout=PROGRAM_TIMEOUT_S)
        out = p.stdout.strip()
        return out if p.returncode == 0 and out else None
    except subprocess.TimeoutExpired:
        return None
    finally:
        os.unlink(path)


class App:
    def __init__(self, base_url: str, api_key: str, model: str | None, plan: bool):
        self.base_url, self.api_key, self.model, self.use_plan = base_url, api_key, model, plan
        self.graphs: dict[tuple, Any] = {}

    def llm(self, agent: str, run_id: str) -> ChatOpenAI:
        """One client per agent per run: the headers name both."""
        return ChatOpenAI(
            model=self.model or agent,
            base_url=self.base_url,
            api_key=self.api_key,
            default_headers={AGENT_HEADER: agent, RUN_HEADER: run_id},
            timeout=600,
            max_retries=2,
        )

    def graph(self, plan: dict, run_id: str):
        """The compiled graph of one run (nodes close over its clients; they are cheap)."""
        llm = {a: self.llm(a, run_id) for a in
               ("programmer", "refine_solver", "detailed_solver", "generate_solver", "sc_ensemble")}

        async def programmer(s: State) -> State:
            reply = await llm["programmer"].ainvoke(PROGRAMMER.format(problem=s["problem"]))
            return {"program": python_block(reply.content)}

        async def run_program(s: State) -> State:
            code = s.get("program")
            out = await asyncio.to_thread(run_python, code) if code else None
            return {"program_output": out}

        async def refine_solver(s: State) -> State:
            out = s.get("program_output")
            hint = REFINE_HINT.format(output=out) if out else ""
            reply = await llm["refine_solver"].ainvoke(REFINE_SOLVER.format(hint=hint, problem=s["problem"]))
            return {"candidates": [b] if (b := last_boxed(reply.content)) is not None else []}

        async def detailed_solver(s: State) -> State:
            reply = await llm["detailed_solver"].ainvoke(DETAILED_SOLVER.format(problem=s["problem"]))
            return {"candidates": [b] if (b := last_boxed(reply.content)) is not None else []}

        async def generate_solver(s: State) -> State:
            # Independent samples of one prompt; distinct seeds so that servers that sample
            # deterministically still return different samples.
            prompt = GENERATE_SOLVER.format(problem=s["problem"])
            replies = await asyncio.gather(*(
                llm["generate_solver"].bind(seed=i).ainvoke(prompt) for i in range(plan["generate_solver"])))
            return {"candidates": [b for r in replies if (b := last_boxed(r.content)) is not None]}

        async def sc_ensemble(s: State) -> State:
            cands = s.get("candidates", [])
            if len(cands) < 2:  # nothing to vote on
                return {"vote_reply": None}
            sols = "".join(SC_SOLUTION.format(i=i + 1, answer=c) for i, c in enumerate(cands))
            reply = await llm["sc_ensemble"].ainvoke(SC_ENSEMBLE.format(problem=s["problem"], solutions=sols))
            return {"vote_reply": reply.content}

        def extract_answer(s: State) -> State:
            cands = s.get("candidates", [])
            voted = last_boxed(s["vote_reply"]) if s.get("vote_reply") else None
            if voted is None and cands:  # single candidate, or a vote without \boxed{}: the majority
                voted = max(cands, key=lambda c: sum(normalise(x) == normalise(c) for x in cands))
            return {"answer": voted}

        g = StateGraph(State)
        ends = []
        if plan["refine_solver"]:
            g.add_node("refine_solver", refine_solver)
            if plan["programmer"]:
                g.add_node("programmer", programmer)
                g.add_node("run_program", run_program)
                g.add_edge(START, "programmer")
                g.add_edge("programmer", "run_program")
                g.add_edge("run_program", "refine_solver")
            else:
                g.add_edge(START, "refine_solver")
            ends.append("refine_solver")
        if plan["detailed_solver"]:
            g.add_node("detailed_solver", detailed_solver)
            g.add_edge(START, "detailed_solver")
            ends.append("detailed_solver")
        if plan["generate_solver"] > 0:
            g.add_node("generate_solver", generate_solver)
            g.add_edge(START, "generate_solver")
            ends.append("generate_solver")
        g.add_node("sc_ensemble", sc_ensemble)
        g.add_node("extract_answer", extract_answer)
        g.add_edge(ends if ends else START, "sc_ensemble")  # waits for every branch
        g.add_edge("sc_ensemble", "extract_answer")
        g.add_edge("extract_answer", END)
        return g.compile()

    async def run(self, http: httpx.AsyncClient | None, item: dict, run_id: str) -> dict:
        t0 = time.monotonic()
        plan = await fetch_plan(http if self.use_plan else None, self.base_url, run_id)
        state = await self.graph(plan, run_id).ainvoke({"problem": item["problem"], "candidates": []})
        return {
            "id": run_id,
            "answer": state.get("answer"),
            "gold": str(item.get("answer", "")),
            "correct": equivalent(state.get("answer"), str(item.get("answer", ""))),
            "latency_s": round(time.monotonic() - t0, 4),
        }


def item_id(item: dict, line: int) -> str:
    """The item's `id` (or `_id`, `unique_id`, `task_id`, `question_id`, as flowcompile reads
    them), else `line-N`."""
    for key in ("id", "_id", "unique_id", "task_id", "question_id"):
        v = item.get(key)
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            return str(v)
    return f"line-{line}"


async def main_async(args) -> dict:
    items = []
    with open(args.data) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                items.append((item_id(json.loads(line), n), json.loads(line)))
            if args.limit is not None and len(items) >= args.limit:
                break
    api_key = os.environ.get(args.api_key_env) or "EMPTY"
    app = App(args.base_url, api_key, args.model, not args.no_plan)
    sem = asyncio.Semaphore(args.concurrency)
    out = open(args.out, "w") if args.out else None
    results = []
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=10, headers={"authorization": f"Bearer {api_key}"}) as http:
        async def one(run_id, item):
            async with sem:
                try:
                    r = await app.run(http, item, run_id)
                except Exception as e:  # a failed run counts as wrong; the others go on
                    r = {"id": run_id, "answer": None, "gold": str(item.get("answer", "")),
                         "correct": False, "latency_s": None, "error": f"{type(e).__name__}: {e}"}
                    print(f"run {run_id} failed: {r['error']}", file=sys.stderr)
            if out:
                out.write(json.dumps(r) + "\n")
                out.flush()
            results.append(r)

        await asyncio.gather(*(one(i, it) for i, it in items))
    if out:
        out.close()
    lat = [r["latency_s"] for r in results if r["latency_s"] is not None]
    return {
        "items": len(results),
        "correct": sum(r["correct"] for r in results),
        "accuracy": sum(r["correct"] for r in results) / len(results) if results else 0.0,
        "failed": sum("error" in r for r in results),
        "mean_latency_s": sum(lat) / len(lat) if lat else None,
        "wall_s": round(time.monotonic() - t0, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="JSONL items with problem and answer")
    p.add_argument("--limit", type=int, help="first N items only")
    p.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
                   help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL or http://127.0.0.1:8000/v1)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the API key")
    p.add_argument("--model", help="send this model for every agent (default: the agent's name)")
    p.add_argument("--out", help="write per-item results (JSONL) here")
    p.add_argument("--concurrency", type=int, default=8, help="items run at once (default 8)")
    p.add_argument("--no-plan", action="store_true", help="do not ask the server for a plan ({base_url without /v1}/flowcompile/plan)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args()
    s = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(s))
    else:
        lat = f"{s['mean_latency_s']:.3f} s" if s["mean_latency_s"] is not None else "-"
        print(f"{s['items']} items: accuracy {s['accuracy']:.3f} ({s['correct']} correct, "
              f"{s['failed']} failed), mean latency {lat}, wall {s['wall_s']:.1f} s")
    sys.exit(1 if s["failed"] else 0)  # a failed run (its error on stderr) fails the command


if __name__ == "__main__":
    main()
