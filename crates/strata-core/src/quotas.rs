//! Bedrock's Service Quotas as catalog data: for one (account, region), the requests and tokens
//! per minute AWS lets the account send each model (on demand, by model ID) and each inference
//! profile (cross-region, by profile ID), with their quota codes.
//!
//! Service Quotas names a quota, it does not say which model it governs: the name is mapped back
//! to a model or profile of the same scan. `On-demand InvokeModel requests per minute for
//! Anthropic Claude Sonnet 4` → the kind (on demand, cross-region, global cross-region), the
//! measure (requests, tokens) and a display name; the display name is matched to a model of the
//! scan (its provider and name, or the name alone; case, spaces and punctuation aside), or, when
//! the name ends in ` ({ID})` naming a model or profile of the scan, to that ID. A cross-region
//! quota goes to the scan's profile of that kind (`global.` or geographic) running the model.
//! A quota that maps to nothing, or to more than one, is kept by name (shown, never used).
//! The mapping is [`crate::quota_names`]'s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One model's or profile's quotas in one (account, region). Either measure may be missing
/// (AWS may list only tokens per minute).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// The quota codes (`L-…`), for `GetServiceQuota` and quota increase requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_code: Option<String>,
}

/// A listed quota no model or profile of the scan was found for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedQuota {
    pub code: String,
    pub value: u32,
}

/// What is known of one (account, region)'s Bedrock quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Quotas {
    /// ListServiceQuotas answered.
    Listed {
        /// By model ID (on demand) or profile ID (cross-region).
        by_id: BTreeMap<String, QuotaEntry>,
        /// Quotas mapped to no model or profile (other Bedrock quotas, or names not understood),
        /// by name.
        #[serde(default)]
        unmatched: BTreeMap<String, UnmatchedQuota>,
    },
    /// Not known: the account may not list them (AccessDenied), or no scan has listed them yet.
    Unknown { reason: String },
}

impl Default for Quotas {
    /// What a catalog written before quotas were scanned holds.
    fn default() -> Self {
        Quotas::Unknown {
            reason: "not listed yet (no scan of Service Quotas has finished)".to_string(),
        }
    }
}

/// One quota as ListServiceQuotas gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedQuota {
    pub code: String,
    pub name: String,
    pub value: f64,
}
