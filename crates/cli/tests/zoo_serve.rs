//! `flowcompile zoo serve` is a real OpenAI-compatible server: started here on a free loopback port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn zoo_serve_answers_the_openai_api_on_loopback() {
    let tasks =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/gsm8k_validate.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(["zoo", "serve", "--port", "0", "--tasks"])
        .arg(&tasks)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut server = Server(child);
    assert!(
        line.contains("zoo (synthetic)") && line.contains("264 tasks"),
        "{line}"
    );
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();

    let models = http(&addr, "GET", "/v1/models", "");
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    assert!(
        models.contains("zoo-14b") && models.contains("zoo-0.6b"),
        "{models}"
    );

    let question = std::fs::read_to_string(&tasks).unwrap();
    let first: serde_json::Value = serde_json::from_str(question.lines().next().unwrap()).unwrap();
    let body = serde_json::json!({
        "model": "zoo-14b",
        "seed": 1,
        "messages": [{"role": "user", "content": format!("Solve and put the answer in \\boxed{{}}.\n{}", first["problem"].as_str().unwrap())}],
    });
    let reply = http(&addr, "POST", "/v1/chat/completions", &body.to_string());
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.contains("zoo (synthetic)") && reply.contains("\\\\boxed{"),
        "{reply}"
    );

    let unknown = http(
        &addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"gpt-9","messages":[]}"#,
    );
    assert!(unknown.starts_with("HTTP/1.1 4"), "{unknown}");

    // SIGTERM (what a supervisor or `timeout` sends) stops the server cleanly, with exit code 0.
    let kill = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "zoo serve ended with {status} on SIGTERM");
}
