//! The test-control API under `/_sim/`: health, fleet, stats, reset, faults, access, quotas,
//! latency, control-plane settings, region capacities, catalog changes and imported models' settings and state. It has no auth: the emulator is a test
//! double bound to loopback.

mod capacity;
mod catalog;
mod custom_models;
mod quotas;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::faults::FaultSpec;
use crate::fleet::{ControlPlaneSpec, LatencySpec};
use crate::reply::json_response;
use crate::state::SimState;

pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    let mut r = (StatusCode::BAD_REQUEST, json!({"message": message.into()}).to_string()).into_response();
    r.headers_mut()
        .insert("content-type", axum::http::HeaderValue::from_static("application/json"));
    r
}

fn not_found(path: &str) -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        json!({"message": format!("no admin route {path}")}).to_string(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", axum::http::HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(bad_request(format!("invalid JSON body: {e}"))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessChange {
    account: String,
    region: String,
    model: String,
    granted: bool,
}

/// Serves `/_sim/…`.
pub fn handle(state: &SimState, method: &Method, path: &str, query: &[(String, String)], body: &[u8]) -> Response {
    let fleet = state.fleet();
    match (method.as_str(), path) {
        ("GET", "/_sim/health") => json_response(json!({"status": "ok"}).to_string()),
        ("GET", "/_sim/fleet") => json_response(serde_json::to_string(&fleet.to_file()).unwrap_or_default()),
        ("GET", "/_sim/stats") => {
            let report = state.stats.report(|i| {
                let a = &fleet.accounts[i];
                (a.id.as_str().to_string(), a.name.clone())
            });
            let mut report = serde_json::to_value(&report).unwrap_or_default();
            report["imported_models"] = state.custom_models.stats(&fleet);
            json_response(report.to_string())
        }
        ("GET", "/_sim/custom-models") => custom_models::show(state, &fleet),
        ("POST", "/_sim/custom-models") => custom_models::change(state, body),
        ("POST", "/_sim/custom-models/evict") => custom_models::evict(state, &fleet, body),
        ("POST", "/_sim/custom-models/warm") => custom_models::warm(state, &fleet, body),
        ("POST", "/_sim/reset") => {
            state.reset();
            json_response(json!({"reset": true}).to_string())
        }
        ("GET", "/_sim/faults") => json_response(json!({"faults": state.faults.list()}).to_string()),
        ("DELETE", "/_sim/faults") => {
            state.faults.clear();
            json_response(json!({"cleared": true}).to_string())
        }
        ("POST", "/_sim/faults") => {
            let spec: FaultSpec = match parse(body) {
                Ok(s) => s,
                Err(r) => return *r,
            };
            if let Err(e) = spec.validate() {
                return bad_request(e);
            }
            let account_index = match &spec.account {
                None => None,
                Some(a) => match fleet.account_by_id_or_name(a) {
                    Some(i) => Some(i),
                    None => return bad_request(format!("unknown account '{a}'")),
                },
            };
            if let Some(r) = &spec.region {
                if !fleet.has_region(r) && r != crate::openai_compat::LOCAL_REGION {
                    return bad_request(format!("unknown region '{r}'"));
                }
            }
            if let Some(m) = &spec.model {
                // An imported model is named by its ARN (it need not exist yet).
                let imported = m.starts_with("arn:aws:bedrock:") && m.contains(":imported-model/");
                if fleet.model(m).is_none() && fleet.profile(m).is_none() && !imported {
                    return bad_request(format!("unknown model or profile '{m}'"));
                }
            }
            let id = state.faults.add(spec, account_index);
            json_response(json!({"id": id}).to_string())
        }
        ("DELETE", p) if p.starts_with("/_sim/faults/") => {
            let id = &p["/_sim/faults/".len()..];
            if state.faults.remove(id) {
                json_response(json!({"cleared": id}).to_string())
            } else {
                not_found(p)
            }
        }
        ("POST", "/_sim/access") => {
            let change: AccessChange = match parse(body) {
                Ok(c) => c,
                Err(r) => return *r,
            };
            let Some(account) = fleet.account_by_id_or_name(&change.account) else {
                return bad_request(format!("unknown account '{}'", change.account));
            };
            if fleet.model(&change.model).is_none() {
                return bad_request(format!("unknown model '{}'", change.model));
            }
            if !fleet.has_region(&change.region) {
                return bad_request(format!("unknown region '{}'", change.region));
            }
            state.set_access(account, &change.model, &change.region, change.granted);
            json_response(json!({"granted": change.granted}).to_string())
        }
        ("POST", "/_sim/quotas") => quotas::change(state, body),
        ("GET", "/_sim/quotas") => quotas::show(state, query),
        ("POST", "/_sim/latency") => {
            let latency: LatencySpec = match parse(body) {
                Ok(l) => l,
                Err(r) => return *r,
            };
            if !(0.0..=1.0).contains(&latency.jitter) {
                return bad_request("jitter must be between 0 and 1");
            }
            state.set_latency(latency);
            json_response(serde_json::to_string(&latency).unwrap_or_default())
        }
        ("GET", "/_sim/latency") => json_response(serde_json::to_string(&state.latency()).unwrap_or_default()),
        ("GET", "/_sim/control-plane") => {
            json_response(serde_json::to_string(&state.control_plane()).unwrap_or_default())
        }
        ("POST", "/_sim/control-plane") => {
            let spec: ControlPlaneSpec = match parse(body) {
                Ok(s) => s,
                Err(r) => return *r,
            };
            if let Err(e) = spec.check() {
                return bad_request(e);
            }
            state.set_control_plane(spec);
            json_response(serde_json::to_string(&spec).unwrap_or_default())
        }
        ("GET", "/_sim/capacity") => capacity::show(state),
        ("POST", "/_sim/capacity") => capacity::change(state, body),
        ("POST", "/_sim/catalog/models") => catalog::change_model(state, body),
        ("POST", "/_sim/catalog/profiles") => catalog::change_profile(state, body),
        _ => not_found(path),
    }
}
