//! `POST /_sim/catalog/models` and `POST /_sim/catalog/profiles`: run-time catalog changes.
//! Each answers with the changed model or profile as the fleet now holds it, or 400 with the
//! reason (the fleet is left unchanged).

use axum::response::Response;
use serde_json::json;

use super::{bad_request, parse};
use crate::fleet::changes::{ModelRegionChange, ProfileRegionsChange};
use crate::reply::json_response;
use crate::state::SimState;

pub(super) fn change_model(state: &SimState, body: &[u8]) -> Response {
    let change: ModelRegionChange = match parse(body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if let Err(e) = state.change_fleet(|fleet| fleet.with_model_region(&change)) {
        return bad_request(e.to_string());
    }
    let fleet = state.fleet();
    json_response(json!({ "model": fleet.model(&change.model) }).to_string())
}

pub(super) fn change_profile(state: &SimState, body: &[u8]) -> Response {
    let change: ProfileRegionsChange = match parse(body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if let Err(e) = state.change_fleet(|fleet| fleet.with_profile_regions(&change)) {
        return bad_request(e.to_string());
    }
    let fleet = state.fleet();
    json_response(json!({ "profile": fleet.profile(&change.id) }).to_string())
}
