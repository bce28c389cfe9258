//! Scanning one (account, region): ListFoundationModels, ListInferenceProfiles (system-defined,
//! every page), GetFoundationModelAvailability for each listed model, and ListImportedModels
//! (every page; GetImportedModel for each, for its model units), turned at once into the
//! catalog's own types (the SDK's types have no serde and stay at this edge).
//!
//! Imported models are listed under their own IAM action: an account that may not list them
//! (AccessDenied, or any other refusal no retry can change) keeps its foundation-model data,
//! with its imported models recorded as unknown.
//!
//! Bedrock's Service Quotas (ListServiceQuotas, service code `bedrock`, every page) are read
//! the same way, through the Service Quotas API (signing name `servicequotas`): mapped to the
//! region's models and profiles ([`strata_core::quotas`]); a refusal or running out of attempts
//! leaves them unknown, saying why, and the rest of the scan stands.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use aws_sdk_bedrock::operation::list_imported_models::ListImportedModelsOutput;
use aws_sdk_bedrock::operation::list_inference_profiles::ListInferenceProfilesOutput;
use aws_sdk_bedrock::types::{
    AgreementStatus, AuthorizationStatus, EntitlementAvailability, ImportedModelSummary, InferenceProfileType,
    RegionAvailability,
};
use aws_sdk_servicequotas::operation::list_service_quotas::ListServiceQuotasOutput;
use futures::stream::{FuturesUnordered, StreamExt};
use strata_core::{
    Access, Freshness, ImportedModelEntry, ImportedModels, InferenceType, Lifecycle, ListedQuota, ModelEntry, ModelRef,
    ProfileEntry, Quotas, Region, RegionScan,
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
    /// The Service Quotas client of the same account and region.
    pub quotas: &'a aws_sdk_servicequotas::Client,
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
        refused: false,
    }
}

impl RegionScanner<'_> {
    /// Scans the region. Any call that fails for good fails the whole scan, so the caller keeps
    /// the last good data instead of a partial picture.
    pub async fn scan(&self, now: u64) -> Result<RegionScan, CallError> {
        let (models, profiles, imported, listed_quotas) =
            tokio::try_join!(self.list_models(), self.list_profiles(), self.list_imported(), async {
                Ok(self.list_quotas().await)
            })?;
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
        let quotas = service_quotas(self.account, self.region, listed_quotas, &models, &profiles);
        Ok(RegionScan {
            account: self.account.to_string(),
            region: self.region.clone(),
            scanned_at: now,
            freshness: Freshness::Fresh,
            models,
            profiles,
            imported,
            quotas,
        })
    }

    /// ListServiceQuotas for Bedrock, every page.
    async fn list_quotas(&self) -> Result<Vec<ListedQuota>, CallError> {
        const OP: &str = "ListServiceQuotas";
        let pages = all_pages(
            |token| async move {
                let _permits = self.permits.acquire().await.ok_or_else(|| closed(OP))?;
                with_retries(OP, self.max_attempts, || {
                    self.quotas
                        .list_service_quotas()
                        .service_code("bedrock")
                        .max_results(100)
                        .set_next_token(token.clone())
                        .send()
                })
                .await
            },
            ListServiceQuotasOutput::next_token,
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|page| page.quotas())
            .filter_map(|q| {
                Some(ListedQuota {
                    code: q.quota_code()?.to_string(),
                    name: q.quota_name()?.to_string(),
                    value: q.value()?,
                })
            })
            .collect())
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
        let pages = all_pages(
            |token| async move {
                let _permits = self.permits.acquire().await.ok_or_else(|| closed(OP))?;
                with_retries(OP, self.max_attempts, || {
                    self.client
                        .list_inference_profiles()
                        .type_equals(InferenceProfileType::SystemDefined)
                        .max_results(1000)
                        .set_next_token(token.clone())
                        .send()
                })
                .await
            },
            ListInferenceProfilesOutput::next_token,
        )
        .await?;
        let mut profiles = BTreeMap::new();
        for p in pages.iter().flat_map(|page| page.inference_profile_summaries()) {
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
        Ok(profiles)
    }

    /// ListImportedModels (every page), then GetImportedModel for each listed model's units.
    async fn list_imported(&self) -> Result<ImportedModels, CallError> {
        const OP: &str = "ListImportedModels";
        let pages = all_pages(
            |token| async move {
                let _permits = self.permits.acquire().await.ok_or_else(|| closed(OP))?;
                with_retries(OP, self.max_attempts, || {
                    self.client
                        .list_imported_models()
                        .max_results(1000)
                        .set_next_token(token.clone())
                        .send()
                })
                .await
            },
            ListImportedModelsOutput::next_token,
        )
        .await;
        let mut imported = imported_models(self.account, self.region, pages)?;
        if let ImportedModels::Listed { models } = &mut imported {
            let mut calls: FuturesUnordered<_> = models
                .keys()
                .map(|arn| async move { (arn.clone(), self.model_units(arn).await) })
                .collect();
            let mut units = Vec::with_capacity(models.len());
            while let Some(done) = calls.next().await {
                units.push(done);
            }
            drop(calls);
            for (arn, n) in units {
                if let Some(entry) = models.get_mut(&arn) {
                    entry.model_units_per_copy = n;
                }
            }
        }
        Ok(imported)
    }

    /// An imported model's custom model units per copy (GetImportedModel). Informational only,
    /// so a failure leaves it unknown instead of failing the scan.
    async fn model_units(&self, arn: &str) -> Option<u32> {
        const OP: &str = "GetImportedModel";
        let _permits = self.permits.acquire().await?;
        match with_retries(OP, self.max_attempts, || {
            self.client.get_imported_model().model_identifier(arn).send()
        })
        .await
        {
            Ok(out) => out
                .custom_model_units()
                .and_then(|u| u.custom_model_units_per_model_copy())
                .and_then(|n| u32::try_from(n).ok()),
            Err(e) => {
                tracing::debug!(account = %self.account, region = %self.region, error = %e, "imported model's units unknown");
                None
            }
        }
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

/// The most pages one listing may have; a server that keeps handing out new tokens is broken.
const MAX_PAGES: usize = 1000;

/// Every page of a listing: `fetch(None)`, then `fetch(nextToken)` until a page has no token (or
/// repeats the one it was fetched with).
async fn all_pages<P, F, Fut>(mut fetch: F, next_token: fn(&P) -> Option<&str>) -> Result<Vec<P>, CallError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<P, CallError>>,
{
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = fetch(token.clone()).await?;
        let next = next_token(&page)
            .filter(|next| !next.is_empty() && Some(*next) != token.as_deref())
            .map(str::to_string);
        pages.push(page);
        match next {
            None => return Ok(pages),
            Some(_) if pages.len() >= MAX_PAGES => {
                return Err(CallError {
                    operation: "pagination",
                    code: None,
                    message: format!("a listing went on past {MAX_PAGES} pages"),
                    attempts: 1,
                    refused: false,
                })
            }
            next => token = next,
        }
    }
}

/// The catalog's imported models from ListImportedModels' pages. Refused — AccessDenied, or any
/// other answer no retry can change (a region or endpoint without Custom Model Import): unknown,
/// saying why, and the rest of the region's scan stands. Running out of attempts (throttling,
/// server errors, the network) fails the scan, so the last good listing is kept.
fn imported_models(
    account: &str,
    region: &Region,
    pages: Result<Vec<ListImportedModelsOutput>, CallError>,
) -> Result<ImportedModels, CallError> {
    let pages = match pages {
        Ok(pages) => pages,
        Err(e) if e.denied() || e.refused => {
            tracing::debug!(%account, %region, error = %e, "imported models cannot be listed; recorded as unknown");
            let code = e.code.as_deref().unwrap_or("an error");
            let reason = if e.denied() {
                format!(
                    "ListImportedModels was refused ({code}: {}); grant bedrock:ListImportedModels to discover imported models",
                    e.message
                )
            } else {
                format!("ListImportedModels answered {code}: {}", e.message)
            };
            return Ok(ImportedModels::Unknown { reason });
        }
        Err(e) => return Err(e),
    };
    let entries = pages
        .iter()
        .flat_map(|page| page.model_summaries())
        .filter_map(|summary| {
            let entry = imported_entry(summary);
            if entry.is_none() {
                tracing::warn!(%account, %region, arn = summary.model_arn(), "imported model with an unusable ARN left out");
            }
            entry
        });
    Ok(ImportedModels::listed(entries))
}

/// The catalog's quotas from ListServiceQuotas' answer. Any failure — refused (AccessDenied:
/// `servicequotas:ListServiceQuotas` not granted) or attempts run out — leaves them unknown with
/// the reason; the rest of the region's scan stands.
fn service_quotas(
    account: &str,
    region: &Region,
    listed: Result<Vec<ListedQuota>, CallError>,
    models: &BTreeMap<String, ModelEntry>,
    profiles: &BTreeMap<String, ProfileEntry>,
) -> Quotas {
    match listed {
        Ok(listed) => Quotas::from_listing(models, profiles, listed),
        Err(e) => {
            tracing::debug!(%account, %region, error = %e, "service quotas cannot be listed; recorded as unknown");
            let code = e.code.as_deref().unwrap_or("an error");
            let reason = if e.denied() {
                format!(
                    "ListServiceQuotas was refused ({code}: {}); grant servicequotas:ListServiceQuotas to discover quotas",
                    e.message
                )
            } else {
                format!(
                    "ListServiceQuotas failed after {} attempt(s) ({code}: {})",
                    e.attempts, e.message
                )
            };
            Quotas::Unknown { reason }
        }
    }
}

/// One summary as a catalog entry; `None` when its ARN is not an imported-model ARN.
fn imported_entry(summary: &ImportedModelSummary) -> Option<ImportedModelEntry> {
    let Ok(ModelRef::Imported { .. }) = ModelRef::parse(summary.model_arn()) else {
        return None;
    };
    Some(ImportedModelEntry {
        arn: summary.model_arn().to_string(),
        name: summary.model_name().to_string(),
        architecture: summary.model_architecture().map(str::to_string),
        created_at: u64::try_from(summary.creation_time().secs()).unwrap_or(0),
        instruct_supported: summary.instruct_supported(),
        model_units_per_copy: None,
    })
}

#[cfg(test)]
mod tests;
