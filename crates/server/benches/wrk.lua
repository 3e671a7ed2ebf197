-- wrk script for crates/server/benches/wrk.sh: POSTs one chat completion per request to the served
-- math workflow (model and question from the environment). wrk itself prints "Non-2xx or 3xx
-- responses: N" when any reply is not a success.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
  '{"model": "%s", "messages": [{"role": "user", "content": "%s"}]}',
  os.getenv("SERVE_MODEL") or "math@p3",
  os.getenv("SERVE_QUESTION") or "What is 12 * 7?"
)
