//! The control-plane operations: ListFoundationModels, GetFoundationModel, ListInferenceProfiles,
//! GetInferenceProfile and GetFoundationModelAvailability, shaped as botocore's service model,
//! answered from one snapshot of the fleet.

use serde_json::{json, Value};
use strata_core::ids::{foundation_model_arn, inference_profile_arn};
use strata_core::{BedrockErrorKind, ModelRef};

use crate::error::AwsError;
use crate::faults::{FaultKind, Plane, Target};
use crate::fleet::{Fleet, ModelSpec, ProfileSpec};
use crate::identity::Caller;
use crate::state::SimState;

/// Profiles are listed as created on this date (the service returns one).
const CREATED_AT: &str = "2024-08-27T00:00:00Z";

/// A control-plane call, by (percent-decoded) path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'p> {
    ListFoundationModels,
    GetFoundationModel(&'p str),
    ListInferenceProfiles,
    GetInferenceProfile(&'p str),
    GetFoundationModelAvailability(&'p str),
    Unknown,
}

impl<'p> Operation<'p> {
    pub fn from_path(path: &'p str) -> Self {
        if path == "/foundation-models" {
            Operation::ListFoundationModels
        } else if let Some(id) = path.strip_prefix("/foundation-models/") {
            Operation::GetFoundationModel(id)
        } else if path == "/inference-profiles" {
            Operation::ListInferenceProfiles
        } else if let Some(id) = path.strip_prefix("/inference-profiles/") {
            Operation::GetInferenceProfile(id)
        } else if let Some(id) = path.strip_prefix("/foundation-model-availability/") {
            Operation::GetFoundationModelAvailability(id)
        } else {
            Operation::Unknown
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::ListFoundationModels => "ListFoundationModels",
            Operation::GetFoundationModel(_) => "GetFoundationModel",
            Operation::ListInferenceProfiles => "ListInferenceProfiles",
            Operation::GetInferenceProfile(_) => "GetInferenceProfile",
            Operation::GetFoundationModelAvailability(_) => "GetFoundationModelAvailability",
            Operation::Unknown => "Unknown",
        }
    }

    /// The (requested ID, foundation model) the call is about, for fault scopes; empty for the
    /// list calls. A profile names its model; an ARN is reduced to its ID.
    pub fn subject(self, fleet: &Fleet) -> (String, String) {
        match self {
            Operation::GetFoundationModel(raw) | Operation::GetFoundationModelAvailability(raw) => {
                let id = model_id_of(raw);
                (id.clone(), id)
            }
            Operation::GetInferenceProfile(raw) => {
                let id = profile_id_of(raw);
                let model = fleet.profile(&id).map(|p| p.model.clone()).unwrap_or_default();
                (id, model)
            }
            _ => (String::new(), String::new()),
        }
    }
}

/// Answers one admitted call from a fleet snapshot.
pub fn answer(
    state: &SimState,
    fleet: &Fleet,
    caller: &Caller,
    operation: Operation<'_>,
    path: &str,
    query: &[(String, String)],
) -> Result<Value, AwsError> {
    match operation {
        Operation::ListFoundationModels => list_foundation_models(fleet, caller, query),
        Operation::GetFoundationModel(id) => get_foundation_model(fleet, caller, id),
        Operation::ListInferenceProfiles => list_inference_profiles(fleet, caller, query),
        Operation::GetInferenceProfile(id) => get_inference_profile(fleet, caller, id),
        Operation::GetFoundationModelAvailability(id) => get_availability(state, fleet, caller, id),
        Operation::Unknown => Err(AwsError::new(
            BedrockErrorKind::ResourceNotFoundException,
            format!("No operation matches {path}."),
        )),
    }
}

fn model_id_of(raw: &str) -> String {
    match ModelRef::parse(raw) {
        Ok(ModelRef::Foundation { model_id, .. }) => model_id,
        _ => raw.to_string(),
    }
}

fn profile_id_of(raw: &str) -> String {
    match ModelRef::parse(raw) {
        Ok(ModelRef::Profile { profile_id, .. }) => profile_id,
        _ => raw.to_string(),
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Whether the control plane in this region advertises the model (a catalog lie still does).
fn listed_in(model: &ModelSpec, region: &str) -> bool {
    model.hosted_in.iter().any(|r| r.as_str() == region)
}

fn model_summary(model: &ModelSpec, region: &str) -> Value {
    let on_demand = model.on_demand_in.iter().any(|r| r.as_str() == region);
    let inference_types = if on_demand {
        json!(["ON_DEMAND"])
    } else {
        json!(["INFERENCE_PROFILE"])
    };
    json!({
        "modelArn": foundation_model_arn(region, &model.id),
        "modelId": model.id,
        "modelName": model.name,
        "providerName": model.provider,
        "inputModalities": model.input_modalities,
        "outputModalities": model.output_modalities,
        "responseStreamingSupported": model.streaming,
        "customizationsSupported": [],
        "inferenceTypesSupported": inference_types,
        "modelLifecycle": {"status": model.lifecycle},
    })
}

fn list_foundation_models(fleet: &Fleet, caller: &Caller, query: &[(String, String)]) -> Result<Value, AwsError> {
    let by_provider = param(query, "byProvider");
    let by_output = param(query, "byOutputModality");
    let by_inference = param(query, "byInferenceType");
    let by_customization = param(query, "byCustomizationType");
    if let Some(t) = by_inference {
        if t != "ON_DEMAND" && t != "PROVISIONED" {
            return Err(enum_error("byInferenceType", t, "[ON_DEMAND, PROVISIONED]"));
        }
    }
    if let Some(m) = by_output {
        if !["TEXT", "IMAGE", "EMBEDDING"].contains(&m) {
            return Err(enum_error("byOutputModality", m, "[TEXT, IMAGE, EMBEDDING]"));
        }
    }
    if let Some(c) = by_customization {
        if !["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"].contains(&c) {
            return Err(enum_error(
                "byCustomizationType",
                c,
                "[FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION]",
            ));
        }
    }
    let region = caller.region.as_str();
    let models: Vec<Value> = fleet
        .models
        .iter()
        .filter(|m| listed_in(m, region))
        .filter(|m| by_provider.is_none_or(|p| m.provider.eq_ignore_ascii_case(p)))
        .filter(|m| by_output.is_none_or(|o| m.output_modalities.iter().any(|x| x == o)))
        .filter(|m| match by_inference {
            Some("ON_DEMAND") => m.on_demand_in.iter().any(|r| r.as_str() == region),
            Some(_) => false,
            None => true,
        })
        .filter(|_| by_customization.is_none())
        .map(|m| model_summary(m, region))
        .collect();
    Ok(json!({ "modelSummaries": models }))
}

fn enum_error(field: &str, value: &str, allowed: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: {allowed}"
    ))
}

fn resolve_model<'a>(fleet: &'a Fleet, caller: &Caller, raw: &str) -> Result<&'a ModelSpec, AwsError> {
    let id = model_id_of(raw);
    fleet
        .model(&id)
        .filter(|m| listed_in(m, &caller.region))
        .ok_or_else(|| {
            AwsError::new(
                BedrockErrorKind::ResourceNotFoundException,
                format!("Could not find model {raw}."),
            )
        })
}

fn get_foundation_model(fleet: &Fleet, caller: &Caller, raw: &str) -> Result<Value, AwsError> {
    let model = resolve_model(fleet, caller, raw)?;
    Ok(json!({ "modelDetails": model_summary(model, &caller.region) }))
}

fn profile_summary(profile: &ProfileSpec, caller: &Caller, account_id: &str) -> Value {
    let models: Vec<Value> = profile
        .destinations
        .iter()
        .map(|r| json!({"modelArn": foundation_model_arn(r.as_str(), &profile.model)}))
        .collect();
    let description = profile.description.clone().unwrap_or_else(|| {
        let regions: Vec<&str> = profile.destinations.iter().map(|r| r.as_str()).collect();
        format!("Routes requests to {} in {}.", profile.name, regions.join(", "))
    });
    json!({
        "inferenceProfileName": profile.name,
        "description": description,
        "createdAt": CREATED_AT,
        "updatedAt": CREATED_AT,
        "inferenceProfileArn": inference_profile_arn(&caller.region, account_id, &profile.id),
        "models": models,
        "inferenceProfileId": profile.id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}

fn list_inference_profiles(fleet: &Fleet, caller: &Caller, query: &[(String, String)]) -> Result<Value, AwsError> {
    let max_results = match param(query, "maxResults") {
        None => 1000,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{raw}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )))
            }
        },
    };
    let kind = param(query, "type").unwrap_or("SYSTEM_DEFINED");
    if kind != "SYSTEM_DEFINED" && kind != "APPLICATION" {
        return Err(enum_error("typeEquals", kind, "[SYSTEM_DEFINED, APPLICATION]"));
    }
    let start = match param(query, "nextToken") {
        None => 0,
        Some(token) => decode_token(token).ok_or_else(|| AwsError::validation("The pagination token is invalid."))?,
    };
    let account_id = fleet.accounts[caller.account].id.as_str().to_string();
    let all: Vec<&ProfileSpec> = if kind == "APPLICATION" {
        Vec::new()
    } else {
        fleet
            .profiles
            .iter()
            .filter(|p| p.sources.iter().any(|r| r.as_str() == caller.region))
            .collect()
    };
    if start > all.len() {
        return Err(AwsError::validation("The pagination token is invalid."));
    }
    let end = (start + max_results).min(all.len());
    let page: Vec<Value> = all[start..end]
        .iter()
        .map(|p| profile_summary(p, caller, &account_id))
        .collect();
    let mut body = json!({ "inferenceProfileSummaries": page });
    if end < all.len() {
        body["nextToken"] = Value::String(encode_token(end));
    }
    Ok(body)
}

pub(crate) fn encode_token(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("strata-sim:{offset}"))
}

pub(crate) fn decode_token(token: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("strata-sim:")?.parse().ok()
}

fn get_inference_profile(fleet: &Fleet, caller: &Caller, raw: &str) -> Result<Value, AwsError> {
    let id = profile_id_of(raw);
    let profile = fleet
        .profile(&id)
        .filter(|p| p.sources.iter().any(|r| r.as_str() == caller.region))
        .ok_or_else(|| {
            AwsError::new(
                BedrockErrorKind::ResourceNotFoundException,
                format!("Inference profile {raw} not found."),
            )
        })?;
    Ok(profile_summary(
        profile,
        caller,
        fleet.accounts[caller.account].id.as_str(),
    ))
}

fn get_availability(state: &SimState, fleet: &Fleet, caller: &Caller, raw: &str) -> Result<Value, AwsError> {
    let model = resolve_model(fleet, caller, raw)?;
    let target = Target {
        account: caller.account,
        region: &caller.region,
        requested_model: &model.id,
        foundation_model: &model.id,
        plane: Plane::Control,
    };
    // A catalog lie keeps advertising full availability whatever the truth is.
    let lying = state.faults.any(&target, |k| matches!(k, FaultKind::CatalogLie { .. }));
    let authorized = lying || state.has_access(caller.account, &model.id, &caller.region);
    Ok(json!({
        "modelId": model.id,
        "agreementAvailability": {"status": "AVAILABLE"},
        "authorizationStatus": if authorized { "AUTHORIZED" } else { "NOT_AUTHORIZED" },
        "entitlementAvailability": if authorized { "AVAILABLE" } else { "NOT_AVAILABLE" },
        "regionAvailability": "AVAILABLE",
    }))
}
