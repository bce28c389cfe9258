//! Availability discovery: for every configured account × region, the Bedrock control plane
//! (ListFoundationModels, ListInferenceProfiles, GetFoundationModelAvailability,
//! ListImportedModels) is asked what is invocable, and the answers become a
//! [`strata_core::Catalog`].
//!
//! - [`collector`] — the bounded fan-out over accounts × regions;
//! - [`scan`] — one region's APIs, converted into catalog types at once;
//! - [`retry`] — backoff on throttling and server errors;
//! - [`diff`] — changes between catalogs as events;
//! - [`store`] — the catalog cached on disk;
//! - [`service`] — the refresh loop that merges, diffs, persists and publishes;
//! - [`shared`] — several replicas, one scanner: leadership and the published catalog in Redis.

pub mod collector;
pub mod diff;
pub mod retry;
pub mod scan;
pub mod service;
pub mod settings;
pub mod shared;
pub mod store;

pub use collector::{unix_now, Collector, DiscoveryAccount, RoundProgress};
pub use diff::{diff, CatalogEvent, Change};
pub use service::{Discovery, Role, RoundReport, ROUND_SECONDS};
pub use settings::DiscoverySettings;
