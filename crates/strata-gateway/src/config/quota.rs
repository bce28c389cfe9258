//! `quotas:`: upstream quotas the config sets where Service Quotas does not say (or says
//! otherwise): an account's private arrangement with AWS, a quota Service Quotas does not list.
//! Each overrides, measure by measure, what discovery found for one account × region × model or
//! profile ID, or adds one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use strata_core::{ModelRef, Region};

/// One quota as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub account: String,
    pub region: Region,
    /// Model ID (its on-demand quota) or inference profile ID (that profile's cross-region one).
    pub model: String,
    /// Requests per minute (absent: what Service Quotas says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute (absent: what Service Quotas says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
}

/// A checked override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaOverride {
    pub account: usize,
    pub region: Region,
    pub model_id: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// Checks `quotas:`: a known account, a Bedrock model or profile ID, at least one measure, one
/// entry per account × region × model.
pub(super) fn check_quotas(
    quotas: &[QuotaConfig],
    accounts: &HashMap<String, usize>,
    account_names: &[&str],
    problems: &mut Vec<String>,
) -> Vec<QuotaOverride> {
    let mut out: Vec<QuotaOverride> = Vec::with_capacity(quotas.len());
    for (i, q) in quotas.iter().enumerate() {
        let at = format!("quotas[{i}]");
        let Some(&account) = accounts.get(&q.account) else {
            problems.push(format!(
                "{at}.account: unknown account '{}' (known: {})",
                q.account,
                super::known(account_names.iter().copied())
            ));
            continue;
        };
        if ModelRef::parse(&q.model).is_err() {
            problems.push(format!(
                "{at}.model: '{}' is not a Bedrock model ID or inference profile ID",
                q.model
            ));
            continue;
        }
        if q.rpm.is_none() && q.tpm.is_none() {
            problems.push(format!("{at}: set rpm, tpm or both"));
            continue;
        }
        if q.rpm == Some(0) || q.tpm == Some(0) {
            problems.push(format!("{at}: rpm and tpm must be more than 0"));
            continue;
        }
        if out
            .iter()
            .any(|o| o.account == account && o.region == q.region && o.model_id == q.model)
        {
            problems.push(format!(
                "{at}: a second quota for {}/{}/{}",
                q.account, q.region, q.model
            ));
            continue;
        }
        out.push(QuotaOverride {
            account,
            region: q.region.clone(),
            model_id: q.model.clone(),
            rpm: q.rpm,
            tpm: q.tpm,
        });
    }
    out
}
