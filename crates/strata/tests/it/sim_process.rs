//! Spawns `strata sim` on a free port and tears it down.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running emulator.
pub struct Sim {
    child: Child,
    pub url: String,
    pub fleet: Value,
}

impl Sim {
    /// Starts `strata sim --zero-latency` on an ephemeral port and waits until it listens.
    pub fn start() -> Sim {
        Sim::start_with(&["--zero-latency"])
    }

    pub fn start_with(extra: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["sim", "--listen", "127.0.0.1:0", "--threads", "2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata sim");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            assert!(Instant::now() < deadline, "strata sim did not start in time");
            let line = lines
                .next()
                .expect("strata sim exited before listening")
                .expect("read stderr");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_string();
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let fleet = blocking_get(&format!("{url}/_sim/fleet"));
        Sim { child, url, fleet }
    }

    /// (access key, secret) of the fleet account with this name.
    pub fn keys(&self, name: &str) -> (String, String) {
        let accounts = self.fleet["accounts"].as_array().expect("accounts");
        let a = accounts.iter().find(|a| a["name"] == name).expect("account by name");
        (
            a["access_key_id"].as_str().expect("akid").to_string(),
            a["secret_access_key"].as_str().expect("secret").to_string(),
        )
    }

    pub fn admin_post(&self, path: &str, body: &Value) -> Value {
        http_request("POST", &format!("{}{path}", self.url), Some(body))
    }

    pub fn admin_get(&self, path: &str) -> Value {
        blocking_get(&format!("{}{path}", self.url))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn blocking_get(url: &str) -> Value {
    http_request("GET", url, None)
}

/// A tiny HTTP/1.1 client for the admin API, so the tests need no extra HTTP crate.
fn http_request(method: &str, url: &str, body: Option<&Value>) -> Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (_, body) = response.split_once("\r\n\r\n").expect("http response");
    serde_json::from_str(body).unwrap_or(Value::Null)
}
