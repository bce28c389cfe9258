//! Scanning one (account, region): ListFoundationModels, ListInferenceProfiles (system-defined,
//! every page) and GetFoundationModelAvailability for each listed model, turned at once into the
//! catalog's own types (the SDK's types have no serde and stay at this edge).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_bedrock::types::{
    AgreementStatus, AuthorizationStatus, EntitlementAvailability, InferenceProfileType, RegionAvailability,
};
use futures::stream::{FuturesUnordered, StreamExt};
use strata_core::{
    Access, Freshness, InferenceType, Lifecycle, ModelEntry, ModelRef, ProfileEntry, Region, RegionScan,
};
use tokio::sync::Semaphore;

use crate::retry::{with_retries, CallError};

/// Control-plane calls allowed in flight: per account and overall. A call holds one permit of
/// each while it runs.
#[derive(Debug, Clone)]
pub struct Permits {
    pub account: Arc<Semaphore>,
    pub total: Arc<Semaphore>,
}

impl Permits {
    async fn acquire(&self) -> Option<(tokio::sync::SemaphorePermit<'_>, tokio::sync::SemaphorePermit<'_>)> {
        let a = self.account.acquire().await.ok()?;
        let t = self.total.acquire().await.ok()?;
        Some((a, t))
    }
}

/// What one region's scan needs.
pub struct RegionScanner<'a> {
    pub client: &'a aws_sdk_bedrock::Client,
    pub account: &'a str,
    pub region: &'a Region,
    pub permits: &'a Permits,
    pub max_attempts: u32,
    /// Models whose availability to fetch; empty for all.
    pub models: &'a [String],
}

fn closed(operation: &'static str) -> CallError {
    CallError {
        operation,
        code: None,
        message: "discovery is shutting down".into(),
        attempts: 0,
    }
}

impl RegionScanner<'_> {
    /// Scans the region. Any call that fails for good fails the whole scan, so the caller keeps
    /// the last good data instead of a partial picture.
    pub async fn scan(&self, now: u64) -> Result<RegionScan, CallError> {
        let (models, profiles) = tokio::try_join!(self.list_models(), self.list_profiles())?;
        let mut models = models;
        let mut calls = FuturesUnordered::new();
        for id in models.keys() {
            if self.models.is_empty() || self.models.iter().any(|m| m == id) {
                let id = id.clone();
                calls.push(async move { self.availability(&id).await.map(|a| (id, a)) });
            }
        }
        while let Some(result) = calls.next().await {
            let (id, access) = result?;
            if let Some(entry) = models.get_mut(&id) {
                entry.access = Some(access);
            }
        }
        drop(calls);
        Ok(RegionScan {
            account: self.account.to_string(),
            region: self.region.clone(),
            scanned_at: now,
            freshness: Freshness::Fresh,
            models,
            profiles,
        })
    }

    async fn list_models(&self) -> Result<BTreeMap<String, ModelEntry>, CallError> {
        const OP: &str = "ListFoundationModels";
        let out = {
            let _permits = self.permits.acquire().await.ok_or_else(|| closed(OP))?;
            with_retries(OP, self.max_attempts, || self.client.list_foundation_models().send()).await?
        };
        let mut models = BTreeMap::new();
        for m in out.model_summaries() {
            let entry = ModelEntry {
                id: m.model_id().to_string(),
                name: m.model_name().unwrap_or_default().to_string(),
                provider: m.provider_name().unwrap_or_default().to_string(),
                lifecycle: m
                    .model_lifecycle()
                    .map(|l| Lifecycle::parse(l.status().as_str()))
                    .unwrap_or(Lifecycle::Active),
                inference_types: m
                    .inference_types_supported()
                    .iter()
                    .filter_map(|t| InferenceType::parse(t.as_str()))
                    .collect(),
                streaming: m.response_streaming_supported().unwrap_or(false),
                access: None,
            };
            models.insert(entry.id.clone(), entry);
        }
        Ok(models)
    }

    async fn list_profiles(&self) -> Result<BTreeMap<String, ProfileEntry>, CallError> {
        const OP: &str = "ListInferenceProfiles";
        let mut profiles = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = {
                let _permits = self.permits.acquire().await.ok_or_else(|| closed(OP))?;
                with_retries(OP, self.max_attempts, || {
                    self.client
                        .list_inference_profiles()
                        .type_equals(InferenceProfileType::SystemDefined)
                        .max_results(1000)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?
            };
            for p in page.inference_profile_summaries() {
                let mut models = BTreeSet::new();
                let mut destinations = BTreeSet::new();
                for m in p.models() {
                    if let Some(Ok(ModelRef::Foundation {
                        model_id,
                        arn_region: Some(region),
                    })) = m.model_arn().map(ModelRef::parse)
                    {
                        models.insert(model_id);
                        destinations.insert(region);
                    }
                }
                let entry = ProfileEntry {
                    id: std::sync::Arc::from(p.inference_profile_id()),
                    name: p.inference_profile_name().to_string(),
                    status: p.status().as_str().to_string(),
                    models,
                    destinations: destinations.into(),
                };
                profiles.insert(entry.id.to_string(), entry);
            }
            match page.next_token() {
                Some(next) if !next.is_empty() && Some(next) != token.as_deref() => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(profiles)
    }

    async fn availability(&self, model: &str) -> Result<Access, CallError> {
        const OP: &str = "GetFoundationModelAvailability";
        let _permits = self.permits.acquire().await.ok_or_else(|| closed(OP))?;
        let out = with_retries(OP, self.max_attempts, || {
            self.client.get_foundation_model_availability().model_id(model).send()
        })
        .await?;
        Ok(Access {
            authorized: *out.authorization_status() == AuthorizationStatus::Authorized,
            entitled: *out.entitlement_availability() == EntitlementAvailability::Available,
            agreement: out
                .agreement_availability()
                .is_none_or(|a| matches!(a.status(), AgreementStatus::Available)),
            region_available: *out.region_availability() == RegionAvailability::Available,
        })
    }
}
