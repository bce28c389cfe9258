//! Strata's domain types, shared by the gateway and the emulator.
//!
//! Identifiers are parsed once at the edge into newtypes ([`Region`], [`AccountId`], [`ModelRef`]);
//! [`BedrockErrorKind`] is the single list of Bedrock error classes with their HTTP status and
//! retry class; [`wire`] holds the serde shapes of Bedrock's JSON and [`eventstream`] its binary
//! stream framing. Nothing here does I/O.

pub mod catalog;
pub mod clock;
pub mod error_class;
pub mod error_kind;
pub mod eventstream;
pub mod geography;
pub mod ids;
pub mod quota_names;
pub mod quotas;
pub mod region;
pub mod residency;
pub mod wire;

pub use catalog::{
    Access, AccessState, Catalog, Freshness, ImportedModelEntry, ImportedModels, InferenceType, Lifecycle, ModelEntry,
    ProfileEntry, RegionScan,
};
pub use error_class::ErrorClass;
pub use error_kind::BedrockErrorKind;
pub use geography::{Coverage, Geography};
pub use ids::{AccountId, IdError, ModelRef};
pub use quotas::{ListedQuota, QuotaEntry, Quotas, UnmatchedQuota};
pub use region::{Region, RegionMask};
pub use residency::{ExecutionSet, ResidencyPolicy, Verdict};
