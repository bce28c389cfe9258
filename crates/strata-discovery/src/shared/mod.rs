//! Discovery shared by several replicas through Redis: Bedrock's control-plane quotas are low,
//! so one replica (the leader, holding a lock with a time limit) scans and publishes its
//! catalog; the others load what it published and never call the control plane.
//!
//! - [`link`] — the reconnecting Redis connection, every call bounded by a short timeout;
//! - [`leadership`] — the lock: taken with `SET NX PX`, renewed and released only by its holder;
//! - [`published`] — the catalog, its version and round report, written only by the holder;
//! - [`coordinator`] — the loop: who scans, who loads, and local scanning while Redis is away.
//!
//! Keys (all under the configured namespace `ns`): `ns:discovery:leader` (the holder's replica
//! id), `ns:discovery:catalog` (JSON), `ns:discovery:report` (JSON), `ns:discovery:version`
//! (a counter bumped on every publication); each publication is also announced on the
//! channel `ns:discovery:published`.

pub mod coordinator;
pub mod leadership;
pub mod link;
pub mod published;

pub use coordinator::{Adopted, SharedDiscovery};
pub use leadership::Leadership;
pub use link::RedisLink;
pub use published::{Published, PublishedCatalog};

/// Redis errors, counted each time one reaches discovery.
pub const REDIS_ERRORS: &str = "strata_discovery_redis_errors_total";
/// Times a replica started scanning on its own because Redis was unreachable.
pub const FALLBACKS: &str = "strata_discovery_fallbacks_total";
/// 1 while this replica holds the discovery lock, else 0.
pub const LEADER: &str = "strata_discovery_leader";

/// Where replicas meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `redis://host:port[/db]` (or `rediss://`).
    pub redis_url: String,
    /// Prefix of every key, so several gateways may share one Redis.
    pub namespace: String,
}

/// Redis could not be used for discovery.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("shared.redis_url '{url}' is not usable: {source}")]
    Url { url: String, source: redis::RedisError },
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("the published {what} is not valid JSON ({source}); the next publication replaces it")]
    Garbled {
        what: &'static str,
        source: serde_json::Error,
    },
}

/// Checks a Redis URL the way [`RedisLink::connect`] reads it, without connecting (config
/// validation runs before there is a runtime to connect with).
pub fn check_redis_url(url: &str) -> Result<(), SharedError> {
    redis::Client::open(url).map(drop).map_err(|source| SharedError::Url {
        url: url.to_string(),
        source,
    })
}

/// The Redis keys of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub leader: String,
    pub catalog: String,
    pub report: String,
    pub version: String,
    pub channel: String,
}

impl Keys {
    pub fn new(namespace: &str) -> Keys {
        let key = |name: &str| format!("{namespace}:discovery:{name}");
        Keys {
            leader: key("leader"),
            catalog: key("catalog"),
            report: key("report"),
            version: key("version"),
            channel: key("published"),
        }
    }
}

/// A name for this replica that no other replica shares: the host (when the environment says
/// it), the process id and random bits (two processes on one host, or a pid reused after a
/// restart, stay distinct).
pub fn replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".to_string());
    format!("{host}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Tests run against the real Redis at 127.0.0.1:6379, each in its own namespace.

    use super::*;

    pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

    /// A namespace no other test (or test run) uses.
    pub fn namespace(test: &str) -> String {
        format!(
            "strata-test-{test}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    }

    pub fn link() -> RedisLink {
        RedisLink::connect(REDIS_URL).unwrap()
    }
}
