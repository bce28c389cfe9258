//! `/_sim/custom-models`: read and change the imported models' settings at run time (a JSON
//! object merged over the current settings, so `{"time_scale": 0.01}` changes one field), and
//! make models cold (`/evict`) or warm (`/warm`) now. `{"model": ARN | ID | name}` picks models;
//! without it, every imported model.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{bad_request, parse};
use crate::fleet::{CustomModelSettings, Fleet};
use crate::reply::json_response;
use crate::state::SimState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Selector {
    #[serde(default)]
    model: Option<String>,
}

/// The settings and every imported model's state.
pub(super) fn show(state: &SimState, fleet: &Fleet) -> Response {
    json_response(
        json!({
            "settings": state.custom_models.settings(),
            "models": state.custom_models.stats(fleet),
        })
        .to_string(),
    )
}

/// Merges the body's fields over the current settings, checks, applies; answers the settings.
pub(super) fn change(state: &SimState, body: &[u8]) -> Response {
    let patch: Value = match parse(body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Value::Object(patch) = patch else {
        return bad_request("the body must be a JSON object of settings");
    };
    let mut merged = serde_json::to_value(state.custom_models.settings()).unwrap_or_default();
    if let Value::Object(current) = &mut merged {
        current.extend(patch);
    }
    let settings: CustomModelSettings = match serde_json::from_value(merged) {
        Ok(s) => s,
        Err(e) => return bad_request(format!("invalid settings: {e}")),
    };
    if let Err(e) = settings.check() {
        return bad_request(e);
    }
    state.custom_models.set_settings(settings);
    json_response(serde_json::to_string(&settings).unwrap_or_default())
}

fn selector(body: &[u8]) -> Result<Option<String>, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    Ok(parse::<Selector>(body)?.model)
}

pub(super) fn evict(state: &SimState, fleet: &Fleet, body: &[u8]) -> Response {
    pick(body, |model| state.custom_models.evict(fleet, model), "evicted")
}

pub(super) fn warm(state: &SimState, fleet: &Fleet, body: &[u8]) -> Response {
    pick(body, |model| state.custom_models.warm(fleet, model), "warmed")
}

fn pick(body: &[u8], apply: impl FnOnce(Option<&str>) -> usize, verb: &str) -> Response {
    let model = match selector(body) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let n = apply(model.as_deref());
    if n == 0 {
        if let Some(m) = model {
            return bad_request(format!("no imported model '{m}'"));
        }
    }
    json_response(json!({ verb: n }).to_string())
}
