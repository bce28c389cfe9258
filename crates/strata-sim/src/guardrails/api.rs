//! The guardrail operations over HTTP, shaped as botocore's `bedrock` (control plane:
//! `/guardrails[/{id}]`) and `bedrock-runtime` (`POST /guardrail/{id}/version/{v}/apply`)
//! service models. Every call is counted in the stats: control-plane calls by operation,
//! ApplyGuardrail as an invocation whose model is the guardrail's ID.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::policy::{Policy, Source};
use super::{arn, not_found, Guardrail};
use crate::error::AwsError;
use crate::identity::Caller;
use crate::reply::json_response;
use crate::state::SimState;
use crate::stats::InvocationKey;

/// Whether a path is a guardrail control-plane path.
pub fn is_control_path(path: &str) -> bool {
    path == "/guardrails" || path.starts_with("/guardrails/")
}

/// `(identifier, version)` of an ApplyGuardrail path (percent-decoded).
pub fn apply_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/guardrail/")?.strip_suffix("/apply")?;
    let (id, version) = rest.split_once("/version/")?;
    Some((id, version))
}

fn now() -> String {
    let (y, m, d, h, mi, s) = strata_core::clock::utc_parts(std::time::SystemTime::now());
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn account_id(state: &SimState, account: usize) -> String {
    state
        .fleet()
        .accounts
        .get(account)
        .map(|a| a.id.as_str().to_string())
        .unwrap_or_default()
}

fn accepted(body: Value) -> Response {
    let mut r = json_response(body.to_string());
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn valid_version(v: &str) -> bool {
    v == "DRAFT" || (!v.is_empty() && v.len() <= 8 && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()))
}

/// Serves a control-plane guardrail call; `path` is percent-decoded.
pub fn control(
    state: &SimState,
    caller: &Caller,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let id = path.strip_prefix("/guardrails/").filter(|s| !s.is_empty());
    let (operation, result) = match (method.as_str(), id) {
        ("GET", None) => ("ListGuardrails", list(state, caller, q("guardrailIdentifier"))),
        ("POST", None) => ("CreateGuardrail", create(state, caller, body)),
        ("GET", Some(id)) => ("GetGuardrail", get(state, caller, id, q("guardrailVersion"))),
        ("PUT", Some(id)) => ("UpdateGuardrail", update(state, caller, id, body)),
        ("POST", Some(id)) => ("CreateGuardrailVersion", create_version(state, caller, id)),
        ("DELETE", Some(id)) => ("DeleteGuardrail", delete(state, caller, id, q("guardrailVersion"))),
        _ => (
            "Unknown",
            Err(AwsError::new(
                strata_core::BedrockErrorKind::ResourceNotFoundException,
                format!("No operation matches {method} {path}."),
            )),
        ),
    };
    crate::control_plane::counted(state, caller, operation, result)
}

fn summary(g: &Guardrail, version: &str, policy: &Policy, region: &str, account_id: &str) -> Value {
    let mut s = json!({
        "id": g.id, "arn": arn(region, account_id, &g.id), "status": "READY", "name": g.name,
        "version": version, "createdAt": g.created_at, "updatedAt": g.updated_at,
    });
    if let Some(d) = &policy.description {
        s["description"] = json!(d);
    }
    s
}

fn list(state: &SimState, caller: &Caller, identifier: Option<&str>) -> Result<Response, AwsError> {
    let account_id = account_id(state, caller.account);
    let region = caller.region.as_str();
    let summaries: Vec<Value> = match identifier {
        None => state
            .guardrails
            .list(caller.account, region)
            .iter()
            .map(|g| summary(g, "DRAFT", &g.draft, region, &account_id))
            .collect(),
        Some(identifier) => {
            let g = state
                .guardrails
                .find(caller.account, region, identifier)
                .ok_or_else(|| not_found(identifier))?;
            std::iter::once(summary(&g, "DRAFT", &g.draft, region, &account_id))
                .chain(
                    g.versions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| summary(&g, &(i + 1).to_string(), p, region, &account_id)),
                )
                .collect()
        }
    };
    Ok(json_response(json!({ "guardrails": summaries }).to_string()))
}

fn parse_body(body: &[u8]) -> Result<Value, AwsError> {
    serde_json::from_slice(body).map_err(|e| AwsError::validation(format!("Malformed request body: {e}")))
}

fn valid_name(name: &str) -> Result<(), AwsError> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AwsError::validation(
            "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_]+",
        ))
    }
}

fn create(state: &SimState, caller: &Caller, body: &[u8]) -> Result<Response, AwsError> {
    let body = parse_body(body)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    valid_name(name)?;
    let policy = Policy::from_request(&body).map_err(AwsError::validation)?;
    let g = state
        .guardrails
        .create(caller.account, &caller.region, name, policy, &now())?;
    Ok(accepted(json!({
        "guardrailId": g.id, "guardrailArn": arn(&caller.region, &account_id(state, caller.account), &g.id),
        "version": "DRAFT", "createdAt": g.created_at,
    })))
}

fn get(state: &SimState, caller: &Caller, identifier: &str, version: Option<&str>) -> Result<Response, AwsError> {
    let g = state
        .guardrails
        .find(caller.account, &caller.region, identifier)
        .ok_or_else(|| not_found(identifier))?;
    let version = version.unwrap_or("DRAFT");
    let policy = g.version(version).ok_or_else(|| not_found(identifier))?;
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!(g.name));
    if let Some(d) = &policy.description {
        out.insert("description".into(), json!(d));
    }
    out.insert("guardrailId".into(), json!(g.id));
    out.insert(
        "guardrailArn".into(),
        json!(arn(&caller.region, &account_id(state, caller.account), &g.id)),
    );
    out.insert("version".into(), json!(version));
    out.insert("status".into(), json!("READY"));
    policy.policy_members(&mut out);
    out.insert("createdAt".into(), json!(g.created_at));
    out.insert("updatedAt".into(), json!(g.updated_at));
    out.insert("blockedInputMessaging".into(), json!(policy.blocked_input_messaging));
    out.insert(
        "blockedOutputsMessaging".into(),
        json!(policy.blocked_outputs_messaging),
    );
    Ok(json_response(Value::Object(out).to_string()))
}

fn update(state: &SimState, caller: &Caller, identifier: &str, body: &[u8]) -> Result<Response, AwsError> {
    let body = parse_body(body)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    valid_name(&name)?;
    let policy = Policy::from_request(&body).map_err(AwsError::validation)?;
    let at = now();
    let id = state
        .guardrails
        .change(caller.account, &caller.region, identifier, |g| {
            g.name = name;
            g.draft = policy;
            g.updated_at = at.clone();
            Ok(g.id.clone())
        })?;
    Ok(accepted(json!({
        "guardrailId": id, "guardrailArn": arn(&caller.region, &account_id(state, caller.account), &id),
        "version": "DRAFT", "updatedAt": at,
    })))
}

fn create_version(state: &SimState, caller: &Caller, identifier: &str) -> Result<Response, AwsError> {
    let (id, version) = state
        .guardrails
        .change(caller.account, &caller.region, identifier, |g| {
            g.versions.push(g.draft.clone());
            Ok((g.id.clone(), g.versions.len()))
        })?;
    Ok(accepted(json!({"guardrailId": id, "version": version.to_string()})))
}

fn delete(state: &SimState, caller: &Caller, identifier: &str, version: Option<&str>) -> Result<Response, AwsError> {
    if version.is_some() {
        return Err(AwsError::validation(
            "The emulator deletes whole guardrails only: leave out guardrailVersion.",
        ));
    }
    state.guardrails.delete(caller.account, &caller.region, identifier)?;
    Ok(accepted(json!({})))
}

/// Serves ApplyGuardrail.
pub fn apply(state: &SimState, caller: &Caller, identifier: &str, version: &str, body: &[u8]) -> Response {
    let result = apply_result(state, caller, identifier, version, body);
    let (status, error) = match &result {
        Ok(_) => (200, None),
        Err(e) => (e.kind.status(), Some(e.kind.name())),
    };
    state.stats.count_invocation(InvocationKey {
        account: caller.account,
        region: caller.region.clone(),
        source_region: caller.region.clone(),
        model: identifier.to_string(),
        foundation_model: String::new(),
        operation: "ApplyGuardrail",
        status,
        error,
    });
    match result {
        Ok(body) => json_response(body.to_string()),
        Err(e) => e.into_response(),
    }
}

fn apply_result(
    state: &SimState,
    caller: &Caller,
    identifier: &str,
    version: &str,
    body: &[u8],
) -> Result<Value, AwsError> {
    if !valid_version(version) {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{}' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (([1-9][0-9]{{0,7}})|(DRAFT))",
            version.chars().take(20).collect::<String>()
        )));
    }
    let body = parse_body(body)?;
    let source = body
        .get("source")
        .and_then(Value::as_str)
        .and_then(Source::parse)
        .ok_or_else(|| {
            AwsError::validation(
                "1 validation error detected: Value at 'source' failed to satisfy constraint: Member must satisfy enum value set: [INPUT, OUTPUT]",
            )
        })?;
    let content = body.get("content").and_then(Value::as_array).ok_or_else(|| {
        AwsError::validation(
            "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let texts: Vec<&str> = content
        .iter()
        .filter_map(|b| b.get("text")?.get("text")?.as_str())
        .collect();
    let g = state
        .guardrails
        .find(caller.account, &caller.region, identifier)
        .ok_or_else(|| not_found(identifier))?;
    let policy = g.version(version).ok_or_else(|| not_found(identifier))?;
    let assessment = policy.assess(source, &texts);
    let outputs = if assessment.intervened {
        json!([{ "text": policy.blocked_message(source) }])
    } else {
        json!([])
    };
    let mut out = json!({
        "usage": assessment.usage_json(),
        "action": if assessment.intervened { "GUARDRAIL_INTERVENED" } else { "NONE" },
        "outputs": outputs,
        "assessments": [assessment.to_json(1)],
    });
    if assessment.intervened {
        out["actionReason"] = json!("Guardrail blocked.");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_paths_are_read() {
        assert_eq!(apply_path("/guardrail/abc/version/DRAFT/apply"), Some(("abc", "DRAFT")));
        assert_eq!(apply_path("/guardrail/abc/version/2/apply"), Some(("abc", "2")));
        assert_eq!(apply_path("/guardrail/abc/apply"), None);
        assert!(is_control_path("/guardrails") && is_control_path("/guardrails/x"));
        assert!(valid_version("DRAFT") && valid_version("12") && !valid_version("0") && !valid_version("x"));
    }
}
