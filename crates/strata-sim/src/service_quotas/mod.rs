//! Service Quotas for Amazon Bedrock (service code `bedrock`): the runtime's per-model quotas as
//! AWS lists them, read from the same source the runtime enforces (`SimState::quota_for`: the
//! run-time overrides of `POST /_sim/quotas`, then the fleet's quota rules with wildcards
//! resolved, then the fleet defaults).
//!
//! For an account × region there are two quotas (requests and tokens per minute) for every
//! model the region offers on demand and for every inference profile callable from the region.
//! Names follow AWS's pattern for the `bedrock-runtime` endpoint:
//!
//! - `On-demand InvokeModel {requests|tokens} per minute for {model}` — the plain model ID;
//! - `Cross-Region InvokeModel {requests|tokens} per minute for {model}` — a geographic profile
//!   (`us.`, `eu.`, `apac.`, …);
//! - `Global cross-Region InvokeModel {requests|tokens} per minute for {model}` — a `global.`
//!   profile.
//!
//! `{model}` is the model's display name: its provider and name (`Anthropic Claude Sonnet 4`),
//! or the name alone when it already starts with the provider's first word (`Mistral Large
//! (24.02)`). When two quotas of one kind in
//! one region would get the same name (two models with one display name, or two geographic
//! profiles of one model), each of them is named `… for {model} ({ID})` with the model or
//! profile ID, so every name maps to exactly one model or profile. The built-in catalog has no
//! such case.
//!
//! A quota code is `L-` and the first 4 bytes of SHA-256 over the quota name, in upper-case
//! hex: stable across runs, regions and accounts, as AWS's codes are.

pub mod api;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fleet::{Fleet, ModelSpec, Quota};
use crate::state::SimState;

/// The service code Bedrock's quotas are listed under.
pub const SERVICE_CODE: &str = "bedrock";
/// The service's name in Service Quotas.
pub const SERVICE_NAME: &str = "Amazon Bedrock";

/// Which way a model is called, and so which bucket a quota is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Inference {
    OnDemand,
    CrossRegion,
    GlobalCrossRegion,
}

impl Inference {
    fn phrase(self) -> &'static str {
        match self {
            Inference::OnDemand => "On-demand",
            Inference::CrossRegion => "Cross-Region",
            Inference::GlobalCrossRegion => "Global cross-Region",
        }
    }

    pub fn cross_region(self) -> bool {
        self != Inference::OnDemand
    }
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Requests,
    Tokens,
}

impl Measure {
    fn word(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
        }
    }

    fn of(self, quota: Quota) -> u32 {
        match self {
            Measure::Requests => quota.rpm,
            Measure::Tokens => quota.tpm,
        }
    }
}

/// One Bedrock quota of an account × region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BedrockQuota {
    pub code: String,
    pub name: String,
    /// The bucket: the model ID (on demand) or the profile ID (cross-region).
    pub subject: String,
    /// The foundation model the subject runs.
    pub model: String,
    pub inference: Inference,
    pub measure: Measure,
    /// What the runtime enforces now.
    pub value: u32,
    /// The fleet's default for this kind of quota (what `ListAWSDefaultServiceQuotas` shows).
    pub default_value: u32,
}

/// A model's display name in quota names: provider and name, or the name alone when it already
/// starts with the provider's first word (`Mistral Large (24.02)`, not `Mistral AI Mistral …`).
pub fn display_name(model: &ModelSpec) -> String {
    let first = model.provider.split(' ').next().unwrap_or_default();
    if !first.is_empty() && (model.name == first || model.name.starts_with(&format!("{first} "))) {
        model.name.clone()
    } else {
        format!("{} {}", model.provider, model.name)
    }
}

/// `L-` and 8 upper-case hex digits from SHA-256 over the quota name.
pub fn quota_code(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut code = String::with_capacity(10);
    code.push_str("L-");
    for b in &digest[..4] {
        code.push_str(&format!("{b:02X}"));
    }
    code
}

/// The quota's name for a display name.
fn quota_name(inference: Inference, measure: Measure, display: &str) -> String {
    format!(
        "{} InvokeModel {} per minute for {display}",
        inference.phrase(),
        measure.word()
    )
}

/// The account × region's Bedrock quotas, sorted by name, with the values `quota` gives for
/// (subject, cross-region).
pub fn quotas_with(fleet: &Fleet, region: &str, quota: impl Fn(&str, bool) -> Quota) -> Vec<BedrockQuota> {
    // (inference, subject, model, display)
    let mut subjects: Vec<(Inference, String, &ModelSpec, String)> = Vec::new();
    for m in &fleet.models {
        if m.on_demand_in.iter().any(|r| r.as_str() == region) {
            subjects.push((Inference::OnDemand, m.id.clone(), m, display_name(m)));
        }
    }
    for p in &fleet.profiles {
        if !p.sources.iter().any(|r| r.as_str() == region) {
            continue;
        }
        let Some(m) = fleet.model(&p.model) else { continue };
        let inference = if p.id.starts_with("global.") {
            Inference::GlobalCrossRegion
        } else {
            Inference::CrossRegion
        };
        subjects.push((inference, p.id.clone(), m, display_name(m)));
    }
    let mut out = Vec::with_capacity(subjects.len() * 2);
    for (inference, subject, model, display) in &subjects {
        let shared = subjects
            .iter()
            .filter(|(i, _, _, d)| i == inference && d == display)
            .count();
        let display = if shared > 1 {
            format!("{display} ({subject})")
        } else {
            display.clone()
        };
        let enforced = quota(subject, inference.cross_region());
        let default = if inference.cross_region() {
            fleet.quotas.cross_region
        } else {
            fleet.quotas.on_demand
        };
        for measure in [Measure::Requests, Measure::Tokens] {
            let name = quota_name(*inference, measure, &display);
            out.push(BedrockQuota {
                code: quota_code(&name),
                name,
                subject: subject.clone(),
                model: model.id.clone(),
                inference: *inference,
                measure,
                value: measure.of(enforced),
                default_value: measure.of(default),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The account × region's Bedrock quotas as the runtime enforces them now.
pub fn quotas(state: &SimState, fleet: &Fleet, account: usize, region: &str) -> Vec<BedrockQuota> {
    quotas_with(fleet, region, |subject, cross_region| {
        state.quota_for(account, region, subject, cross_region)
    })
}

#[cfg(test)]
mod tests;
