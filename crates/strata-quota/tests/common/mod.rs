//! What the Redis-backed tests share.

#![allow(dead_code)]

/// The Redis every developer machine and CI runs.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A namespace no other test (nor another run) uses, so tests run in parallel.
pub fn fresh_namespace(test: &str) -> String {
    format!(
        "strata-quota-test:{test}:{}:{:x}",
        std::process::id(),
        rand::random::<u64>()
    )
}
