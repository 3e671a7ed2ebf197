"""Calls `flowcompile serve` with the official `openai` Python package (and parses its metrics with
`prometheus_client`). Run by crates/cli/tests/serve.rs as: python serve_openai.py BASE_URL PROBLEM,
with the bearer token in FLOWCOMPILE_TEST_SERVE_TOKEN. Prints one JSON summary line; any failed
check raises, so the exit code is non-zero."""

import json
import os
import sys
import urllib.request

import openai
from openai import OpenAI

base_url, problem = sys.argv[1], sys.argv[2]
token = os.environ["FLOWCOMPILE_TEST_SERVE_TOKEN"]
client = OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=60)
messages = [{"role": "user", "content": problem}]

ids = [m.id for m in client.models.list()]
assert ids == ["math", "math@fast", "math@medium", "math@high", "math@xhigh"], ids

points = {}
answers = {}
for model in ["math@fast", "math@high"]:
    c = client.chat.completions.create(model=model, messages=messages)
    assert c.object == "chat.completion", c
    assert c.model == model, c.model
    assert c.choices[0].finish_reason == "stop"
    assert c.choices[0].message.role == "assistant"
    assert c.choices[0].message.content, c
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens > 0, c.usage
    info = c.model_extra["flowcompile"]
    assert info["workflow"] == "math" and info["models_label"] == "zoo (synthetic)", info
    points[model] = info["point"]
    answers[model] = c.choices[0].message.content

raw = client.chat.completions.with_raw_response.create(model="math@high", messages=messages)
assert raw.headers["x-flowcompile-point"] == points["math@high"], dict(raw.headers)
assert float(raw.headers["x-flowcompile-predicted-accuracy"]) > 0
assert raw.parse().choices[0].message.content == answers["math@high"]

pinned = client.chat.completions.create(
    model="math", messages=messages, extra_body={"preference": 0.0}
)
assert pinned.model_extra["flowcompile"]["point"] == points["math@fast"], pinned.model_extra

stream = client.chat.completions.create(
    model="math@high", messages=messages, stream=True, stream_options={"include_usage": True}
)
text, thinking, finish, streamed_info, usage = "", "", None, None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        text += choice.delta.content or ""
        # The final agent's reply as it is produced, before the workflow makes the answer of it.
        thinking += (choice.delta.model_extra or {}).get("reasoning_content") or ""
        finish = choice.finish_reason or finish
    if chunk.model_extra and "flowcompile" in chunk.model_extra:
        streamed_info = chunk.model_extra["flowcompile"]
assert text == answers["math@high"], (text, answers)
assert finish == "stop"
assert streamed_info["point"] == points["math@high"], streamed_info
assert usage is not None and usage.total_tokens > 0
assert thinking, (text, thinking)

completion = client.completions.create(model="math@high", prompt=problem)
assert completion.object == "text_completion", completion
assert completion.choices[0].text == answers["math@high"], (completion, answers)
assert completion.model_extra["flowcompile"]["point"] == points["math@high"]

errors = {}
try:
    client.chat.completions.create(model="gpt-9", messages=messages)
except openai.NotFoundError as e:
    errors["unknown_model"] = [e.status_code, e.body["code"]]
try:
    client.chat.completions.create(
        model="math", messages=messages, extra_body={"min_accuracy": 0.999, "max_latency_s": 1.5}
    )
except openai.UnprocessableEntityError as e:
    errors["unsatisfiable"] = [e.status_code, e.body["message"]]
try:
    client.chat.completions.create(model="math@7", messages=messages)
except openai.BadRequestError as e:
    errors["out_of_range"] = [e.status_code, e.body["param"]]
try:
    OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0).models.list()
except openai.AuthenticationError as e:
    errors["wrong_token"] = [e.status_code, e.body["code"]]
assert set(errors) == {"unknown_model", "unsatisfiable", "out_of_range", "wrong_token"}, errors

metrics_url = base_url.removesuffix("/v1") + "/metrics"
families = {}
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    families = None
if families is not None:
    with urllib.request.urlopen(metrics_url) as r:
        for family in text_string_to_metric_families(r.read().decode()):
            families[family.name] = family.type
    assert families.get("flowcompile_requests") == "counter", families
    assert families.get("flowcompile_request_duration_seconds") == "histogram", families

print(
    json.dumps(
        {
            "points": points,
            "answers": answers,
            "errors": errors,
            "metrics_parsed": families is not None,
            "openai_version": openai.__version__,
        }
    )
)
