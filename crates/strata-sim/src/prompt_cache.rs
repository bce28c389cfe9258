//! Bedrock's prompt cache, emulated: a request's `cachePoint` blocks mark prefixes (tools, then
//! system, then messages, in that order); a prefix seen in the same account, region and model
//! within the cache's time to live (the point's `ttl`, five minutes or an hour, refreshed on each
//! hit, as AWS documents) is read from the cache, the rest up to the last cache point is written
//! to it.
//!
//! Simplifications, documented in docs/emulator.md: any prefix length is cached (AWS needs a
//! model-specific minimum, 1,024 tokens for most Claude models), and only Claude and Nova models
//! cache (others ignore cache points, with no cache fields in their usage).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// How long a cached prefix lives after its last use, unless its point asks for an hour.
pub const TTL: Duration = Duration::from_secs(300);
/// `ttl: "1h"`.
pub const LONG_TTL: Duration = Duration::from_secs(3600);

/// The most prefixes kept; the oldest go first when full.
const CAPACITY: usize = 100_000;

/// A `cachePoint`: the prefix up to it, as a hash, its size in input tokens, and how long it is
/// kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePoint {
    pub prefix: u64,
    pub tokens: u32,
    pub ttl: Duration,
}

impl CachePoint {
    /// The time to live a `cachePoint` block asks for (`{"type": "default", "ttl": "1h"}`).
    pub fn ttl_of(block: &serde_json::Value) -> Duration {
        match block.get("ttl").and_then(serde_json::Value::as_str) {
            Some("1h") => LONG_TTL,
            _ => TTL,
        }
    }
}

/// Input tokens read from and written to the cache by one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    pub read: u32,
    pub write: u32,
}

/// A running hash of a prompt's prefix, fed the request's parts in order.
#[derive(Debug, Clone)]
pub struct PrefixHasher(DefaultHasher);

impl PrefixHasher {
    pub fn new(model: &str) -> Self {
        let mut h = DefaultHasher::new();
        model.hash(&mut h);
        PrefixHasher(h)
    }

    /// Adds one part (a tool, a system block, a message block) to the prefix.
    pub fn add(&mut self, part: &impl Serialize) {
        match serde_json::to_vec(part) {
            Ok(bytes) => bytes.hash(&mut self.0),
            Err(_) => 0u8.hash(&mut self.0),
        }
    }

    /// Marks the end of a message, so blocks moved across turns make another prefix.
    pub fn end_message(&mut self) {
        0xffu8.hash(&mut self.0);
    }

    pub fn value(&self) -> u64 {
        self.0.finish()
    }
}

/// Whether the model takes cache points (Claude and Nova on Bedrock).
pub fn supports(model_id: &str) -> bool {
    model_id.starts_with("anthropic.claude") || model_id.starts_with("amazon.nova")
}

/// The cached prefixes of every account, region and model.
#[derive(Debug, Default)]
pub struct PromptCache {
    entries: Mutex<HashMap<(usize, String, u64), Instant>>,
}

impl PromptCache {
    /// Reads the longest cached prefix among `points` and writes the rest up to the last point;
    /// every point is (re)cached from `now`.
    pub fn use_points(&self, account: usize, region: &str, points: &[CachePoint], now: Instant) -> CacheUse {
        let Some(last) = points.last() else {
            return CacheUse::default();
        };
        let mut entries = self.entries.lock();
        let live = |entries: &HashMap<(usize, String, u64), Instant>, p: &CachePoint| {
            entries
                .get(&(account, region.to_string(), p.prefix))
                .is_some_and(|expires| *expires > now)
        };
        let read = points.iter().rev().find(|p| live(&entries, p)).map_or(0, |p| p.tokens);
        if entries.len() >= CAPACITY {
            entries.retain(|_, expires| *expires > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        for p in points {
            let expires = entries.entry((account, region.to_string(), p.prefix)).or_insert(now);
            *expires = (*expires).max(now + p.ttl);
        }
        CacheUse {
            read,
            write: last.tokens.saturating_sub(read),
        }
    }

    /// Forgets every cached prefix (`POST /_sim/reset`).
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_prefix_is_read_and_the_rest_written() {
        let cache = PromptCache::default();
        let now = Instant::now();
        let system = CachePoint {
            prefix: 1,
            tokens: 100,
            ttl: TTL,
        };
        let history = CachePoint {
            prefix: 2,
            tokens: 150,
            ttl: TTL,
        };
        assert_eq!(
            cache.use_points(0, "us-east-1", &[system], now),
            CacheUse { read: 0, write: 100 }
        );
        assert_eq!(
            cache.use_points(0, "us-east-1", &[system, history], now),
            CacheUse { read: 100, write: 50 }
        );
        assert_eq!(
            cache.use_points(0, "us-east-1", &[system, history], now),
            CacheUse { read: 150, write: 0 }
        );
        // Another region or account has its own cache; an expired prefix is written again.
        assert_eq!(cache.use_points(0, "us-west-2", &[system], now).read, 0);
        assert_eq!(cache.use_points(1, "us-east-1", &[system], now).read, 0);
        assert_eq!(cache.use_points(0, "us-east-1", &[system], now + TTL * 2).read, 0);
        assert_eq!(cache.use_points(0, "us-east-1", &[], now), CacheUse::default());
        // An hour-long point outlives five minutes.
        let long = CachePoint {
            prefix: 3,
            tokens: 10,
            ttl: LONG_TTL,
        };
        cache.use_points(0, "us-east-1", &[long], now);
        assert_eq!(cache.use_points(0, "us-east-1", &[long], now + TTL * 2).read, 10);
    }
}
