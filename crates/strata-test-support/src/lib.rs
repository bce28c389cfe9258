//! What Strata's tests share. Dev-only: no library crate depends on it outside
//! `[dev-dependencies]`.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of one test's own, on a port of its own (so the test may stop and restart
/// it without disturbing the shared Redis), killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Whether `redis-server` can be run here.
    pub fn installed() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A free port for a Redis not started yet (so a client can be built before it listens).
    pub fn reserve() -> PrivateRedis {
        #[allow(clippy::unwrap_used)] // a test without a free port cannot run
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        PrivateRedis { port, child: None }
    }

    /// A Redis listening now.
    pub fn running() -> PrivateRedis {
        let mut redis = PrivateRedis::reserve();
        redis.start();
        redis
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (nothing kept on disk) and waits until it accepts connections.
    #[allow(clippy::expect_used, clippy::panic)] // test support: a failure fails the test
    pub fn start(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                panic!("redis-server did not start on {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (a Redis that vanishes, as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
