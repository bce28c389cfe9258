//! Where a runtime call runs: resolves the model reference, picks the executing region (a
//! profile's destination weighted by capacity and load), and admits the call through faults, access and quota.

use std::sync::Arc;

use strata_core::ids::foundation_model_arn;
use strata_core::{BedrockErrorKind, ModelRef};

use super::destination::Destination;
use crate::custom_models::ImportedView;
use crate::error::AwsError;
use crate::faults::{FaultKind, OutageMode, Plane, Target};
use crate::fleet::ModelSpec;
use crate::fleet::{Architecture, BodyDialect};
use crate::identity::Caller;
use crate::quota::QuotaKey;
use crate::state::SimState;

/// A resolved call.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The ID the caller named (profile or model ID, ARNs reduced to their ID).
    pub requested: String,
    pub model: ModelSpec,
    pub source_region: String,
    /// The region that runs the call.
    pub region: String,
    pub account: usize,
    pub quota_key: QuotaKey,
    /// Set for a Custom Model Import model: served by its copies, not by the on-demand quota.
    pub imported: Option<ImportedView>,
}

impl Placement {
    pub fn target(&self) -> Target<'_> {
        Target {
            account: self.account,
            region: &self.region,
            requested_model: &self.requested,
            foundation_model: &self.model.id,
            plane: Plane::Runtime,
        }
    }

    fn source_target(&self) -> Target<'_> {
        Target {
            account: self.account,
            region: &self.source_region,
            requested_model: &self.requested,
            foundation_model: &self.model.id,
            plane: Plane::Runtime,
        }
    }
}

/// Why a call is refused before it runs.
#[derive(Debug)]
pub enum Refusal {
    Error(AwsError),
    /// Drop the connection without an answer.
    Drop,
}

impl From<AwsError> for Refusal {
    fn from(e: AwsError) -> Self {
        Refusal::Error(e)
    }
}

/// Resolves a (percent-decoded) model ID for a caller.
pub fn place(state: &SimState, caller: &Caller, raw_model_id: &str) -> Result<Placement, AwsError> {
    let fleet = state.fleet();
    let model_ref = ModelRef::parse(raw_model_id).map_err(|_| AwsError::invalid_model_id())?;
    match model_ref {
        ModelRef::Foundation { model_id, arn_region } => {
            if arn_region.as_ref().is_some_and(|r| r.as_str() != caller.region) {
                return Err(AwsError::invalid_model_id());
            }
            let model = fleet.model(&model_id).ok_or_else(AwsError::invalid_model_id)?;
            if !model.hosted_in.iter().any(|r| r.as_str() == caller.region) {
                return Err(AwsError::invalid_model_id());
            }
            if !model.on_demand_in.iter().any(|r| r.as_str() == caller.region) {
                return Err(AwsError::validation(format!(
                    "Invocation of model ID {model_id} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
                )));
            }
            Ok(Placement {
                requested: model_id.clone(),
                model: model.clone(),
                source_region: caller.region.clone(),
                region: caller.region.clone(),
                account: caller.account,
                quota_key: QuotaKey {
                    account: caller.account,
                    region: caller.region.clone(),
                    model: model_id,
                    cross_region: false,
                },
                imported: None,
            })
        }
        ModelRef::Profile {
            profile_id, arn_region, ..
        } => {
            if arn_region.as_ref().is_some_and(|r| r.as_str() != caller.region) {
                return Err(AwsError::invalid_model_id());
            }
            let profile = fleet.profile(&profile_id).ok_or_else(AwsError::invalid_model_id)?;
            if !profile.sources.iter().any(|r| r.as_str() == caller.region) {
                return Err(AwsError::invalid_model_id());
            }
            let model = fleet.model(&profile.model).ok_or_else(AwsError::invalid_model_id)?;
            let region = choose_destination(
                state,
                caller.account,
                &profile_id,
                &profile.model,
                &profile.destinations,
            )?;
            Ok(Placement {
                requested: profile_id.clone(),
                model: model.clone(),
                source_region: caller.region.clone(),
                region,
                account: caller.account,
                quota_key: QuotaKey {
                    account: caller.account,
                    region: caller.region.clone(),
                    model: profile_id,
                    cross_region: true,
                },
                imported: None,
            })
        }
        ModelRef::Imported {
            arn,
            region,
            account,
            import_id,
        } => {
            if region.as_str() != caller.region {
                return Err(AwsError::invalid_model_id());
            }
            if fleet.accounts.get(caller.account).map(|a| &a.id) != Some(&account) {
                return Err(AwsError::no_access());
            }
            let view = state
                .custom_models
                .resolve(caller.account, &caller.region, &import_id)
                .ok_or_else(crate::custom_models::not_found)?;
            Ok(Placement {
                requested: arn.clone(),
                model: imported_spec(&arn, &view, &caller.region),
                source_region: caller.region.clone(),
                region: caller.region.clone(),
                account: caller.account,
                quota_key: QuotaKey {
                    account: caller.account,
                    region: caller.region.clone(),
                    model: arn,
                    cross_region: false,
                },
                imported: Some(view),
            })
        }
    }
}

/// An imported model as the runtime's model description: its ARN as ID, its architecture's body.
fn imported_spec(arn: &str, view: &ImportedView, region: &str) -> ModelSpec {
    let region = strata_core::Region::parse(region).ok();
    ModelSpec {
        id: arn.to_string(),
        name: view.name.clone(),
        provider: "Imported".into(),
        body: match view.architecture {
            Architecture::Llama => BodyDialect::Llama,
            Architecture::Mistral => BodyDialect::Mistral,
            Architecture::Qwen => BodyDialect::Qwen,
        },
        input_modalities: vec!["TEXT".into()],
        output_modalities: vec!["TEXT".into()],
        streaming: true,
        lifecycle: "ACTIVE".into(),
        output_token_weight: 1,
        hosted_in: region.iter().cloned().collect(),
        on_demand_in: region.into_iter().collect(),
    }
}

/// Picks a profile destination like cross-region inference does (`destination::choose`): at
/// random, weighted by spare capacity and by how much of each destination is not throttled,
/// never a destination in outage.
fn choose_destination(
    state: &SimState,
    account: usize,
    profile_id: &str,
    model: &str,
    destinations: &[strata_core::Region],
) -> Result<String, AwsError> {
    let faults = !state.faults.is_empty();
    let seen: Vec<Destination> = destinations
        .iter()
        .map(|r| {
            let t = Target {
                account,
                region: r.as_str(),
                requested_model: profile_id,
                foundation_model: model,
                plane: Plane::Runtime,
            };
            Destination {
                capacity: state.capacity(r.as_str()),
                in_flight: state.in_flight(r.as_str(), model),
                throttled: if faults { state.faults.throttle_rate(&t) } else { 0.0 },
                down: faults && state.faults.any(&t, |k| matches!(k, FaultKind::Outage { .. })),
            }
        })
        .collect();
    match super::destination::choose(&seen, &mut rand::rng()) {
        Some(i) => Ok(destinations[i].as_str().to_string()),
        None => Err(AwsError::new(
            BedrockErrorKind::ServiceUnavailableException,
            "The service is temporarily unable to handle the request. Every destination region of the inference profile is unavailable.",
        )),
    }
}

/// Runs the checks AWS makes before a model runs: outages, injected errors and throttling,
/// catalog lies, access in the source and executing regions, then the quota.
/// Returns the tokens taken from the quota (the reservation, capped at a minute's worth).
pub fn admit(state: &Arc<SimState>, placement: &Placement, reserve_tokens: u64) -> Result<u64, Refusal> {
    let target = placement.target();
    let source = placement.source_target();
    if !state.faults.is_empty() {
        let outage = |k: &FaultKind| matches!(k, FaultKind::Outage { .. });
        if let Some(FaultKind::Outage { mode }) = state
            .faults
            .take(&source, outage)
            .or_else(|| state.faults.take(&target, outage))
        {
            return Err(match mode {
                OutageMode::Drop => Refusal::Drop,
                OutageMode::Unavailable => Refusal::Error(AwsError::new(
                    BedrockErrorKind::ServiceUnavailableException,
                    "The service is temporarily unable to handle the request. Please try again later.",
                )),
            });
        }
        if let Some(FaultKind::CatalogLie { error }) = state
            .faults
            .take(&source, |k| matches!(k, FaultKind::CatalogLie { .. }))
        {
            let kind = BedrockErrorKind::from_name(&error).unwrap_or(BedrockErrorKind::ValidationException);
            return Err(AwsError::new(kind, "The provided model identifier is invalid.").into());
        }
        if let Some(kind) = state.faults.take(&target, |k| match k {
            FaultKind::ErrorRate { rate, .. } | FaultKind::Throttle { rate } => crate::faults::roll(*rate),
            _ => false,
        }) {
            let err = match kind {
                FaultKind::ErrorRate { error, .. } => {
                    let kind = BedrockErrorKind::from_name(&error).unwrap_or(BedrockErrorKind::InternalServerException);
                    AwsError::injected(kind)
                }
                _ => AwsError::throttled(),
            };
            return Err(err.into());
        }
    }
    let model = &placement.model.id;
    for region in [&placement.source_region, &placement.region] {
        if !state.has_access(placement.account, model, region) {
            let message = if placement.quota_key.cross_region {
                let arn = foundation_model_arn(region, model);
                format!("You don't have access to the model with the specified model ID. Access to {arn} is not granted for this account in {region}.")
            } else {
                AwsError::no_access().message
            };
            return Err(AwsError::new(BedrockErrorKind::AccessDeniedException, message).into());
        }
    }
    // Imported models have no on-demand token quota here: their copies bound the throughput.
    if placement.imported.is_some() {
        return Ok(0);
    }
    let quota = state.quota_for(
        placement.account,
        &placement.source_region,
        &placement.quota_key.model,
        placement.quota_key.cross_region,
    );
    state
        .quotas
        .try_acquire(&placement.quota_key, quota, reserve_tokens)
        .ok_or_else(|| AwsError::throttled().into())
}
