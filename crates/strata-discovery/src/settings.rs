//! What to scan and how hard: the `discovery:` section of the gateway config.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use strata_core::Region;

/// Regions scanned when the config names none: the commercial regions where Bedrock runs.
pub use strata_core::region::BEDROCK_REGIONS as DEFAULT_REGIONS;

/// The `discovery:` config section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySettings {
    /// Scan at start-up and then every `refresh_seconds`; `false` routes only from pinned
    /// deployments (and a cached catalog, if any).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Regions to scan in every account (default: [`DEFAULT_REGIONS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<Region>>,
    /// Seconds between scans (a random ±10 % is added so replicas do not align).
    #[serde(default = "five_minutes")]
    pub refresh_seconds: u64,
    /// Control-plane calls in flight per account.
    #[serde(default = "eight")]
    pub concurrency_per_account: usize,
    /// Control-plane calls in flight overall.
    #[serde(default = "sixty_four")]
    pub concurrency: usize,
    /// Attempts per control-plane call (throttling, 5xx and network errors are retried with
    /// exponential backoff and full jitter).
    #[serde(default = "six")]
    pub max_attempts: u32,
    /// Time limit of one control-plane call, in milliseconds.
    #[serde(default = "ten_seconds")]
    pub call_timeout_ms: u64,
    /// Where the last catalog is written and read at start-up, so a restart routes before the
    /// first scan finishes. Default (for a config read from a file): beside it, as
    /// `<config file>.catalog.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_file: Option<PathBuf>,
    /// `false`: keep the catalog in memory only.
    #[serde(default = "yes")]
    pub persist: bool,
    /// Only these foundation models get GetFoundationModelAvailability calls (default: every
    /// listed model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        DiscoverySettings {
            enabled: true,
            regions: None,
            refresh_seconds: five_minutes(),
            concurrency_per_account: eight(),
            concurrency: sixty_four(),
            max_attempts: six(),
            call_timeout_ms: ten_seconds(),
            cache_file: None,
            persist: true,
            models: Vec::new(),
        }
    }
}

impl DiscoverySettings {
    /// The regions to scan.
    pub fn regions(&self) -> Vec<Region> {
        match &self.regions {
            Some(r) => r.clone(),
            None => DEFAULT_REGIONS.iter().filter_map(|r| Region::parse(r).ok()).collect(),
        }
    }

    /// Where the catalog is cached, if it is.
    pub fn cache_path(&self) -> Option<&std::path::Path> {
        self.cache_file.as_deref().filter(|_| self.persist)
    }

    /// Problems a person must fix, with their path in the config.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.refresh_seconds == 0 {
            out.push("discovery.refresh_seconds: must be at least 1".to_string());
        }
        if self.concurrency == 0 || self.concurrency_per_account == 0 {
            out.push("discovery.concurrency and concurrency_per_account: must be at least 1".to_string());
        }
        if self.max_attempts == 0 {
            out.push("discovery.max_attempts: must be at least 1".to_string());
        }
        if self.regions.as_ref().is_some_and(|r| r.is_empty()) {
            out.push("discovery.regions: list at least one region, or leave it out for the default list".to_string());
        }
        out
    }
}

fn yes() -> bool {
    true
}
fn five_minutes() -> u64 {
    300
}
fn eight() -> usize {
    8
}
fn sixty_four() -> usize {
    64
}
fn six() -> u32 {
    6
}
fn ten_seconds() -> u64 {
    10_000
}
