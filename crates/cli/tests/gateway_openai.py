"""Calls `flowcompile gateway` (deploying the math artifact) with the official `openai` Python
package, as an application would: its base URL, the gateway's token, and two headers. Run by
crates/cli/tests/gateway.rs as: python gateway_openai.py BASE_URL, with the gateway's token in
FLOWCOMPILE_TEST_GATEWAY_TOKEN. Prints one JSON summary line; any failed check raises, so the exit
code is non-zero."""

import json
import os
import sys
import urllib.request

from openai import OpenAI

base_url = sys.argv[1]
token = os.environ["FLOWCOMPILE_TEST_GATEWAY_TOKEN"]
client = OpenAI(
    base_url=base_url,
    api_key=token,
    max_retries=0,
    timeout=60,
    default_headers={"x-flowcompile-run": "py-1", "x-flowcompile-preference": "xhigh"},
)
messages = [{"role": "user", "content": "What is 12 * 7? Put the answer in \\boxed{}."}]

raw = client.chat.completions.with_raw_response.create(model="generate_solver", messages=messages)
reply = raw.parse()
assert reply.object == "chat.completion", reply
assert reply.choices[0].message.content, reply
assert reply.usage.total_tokens > 0, reply.usage
point = raw.headers["x-flowcompile-point"]
model = raw.headers["x-flowcompile-agent-model"]

chunks = list(client.chat.completions.create(model="generate_solver", messages=messages, stream=True))
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text, chunks

req = urllib.request.Request(
    base_url.removesuffix("/v1") + "/flowcompile/plan?run=py-1",
    headers={"authorization": f"Bearer {token}"},
)
plan = json.loads(urllib.request.urlopen(req).read())
assert plan["point"] == point, (plan, point)

print(json.dumps({"point": point, "model": model, "streamed_chars": len(text)}))
