//! `GET /_sim/capacity` and `POST /_sim/capacity`: every fleet region's capacity for profile
//! traffic, and run-time changes to it (`/_sim/reset` returns to the fleet's). A change names
//! regions and their new capacity; the answer is every region's capacity after it, or 400 with
//! the reason (nothing changed).

use std::collections::BTreeMap;

use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{bad_request, parse};
use crate::fleet::capacity::check_capacity;
use crate::reply::json_response;
use crate::state::SimState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityChange {
    region_capacity: BTreeMap<String, u32>,
}

pub(super) fn show(state: &SimState) -> Response {
    json_response(json!({ "region_capacity": state.capacities() }).to_string())
}

pub(super) fn change(state: &SimState, body: &[u8]) -> Response {
    let change: CapacityChange = match parse(body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let fleet = state.fleet();
    for (region, &capacity) in &change.region_capacity {
        if !fleet.has_region(region) {
            return bad_request(format!("unknown region '{region}'"));
        }
        if let Err(e) = check_capacity(region, capacity) {
            return bad_request(e);
        }
    }
    for (region, &capacity) in &change.region_capacity {
        state.set_capacity(region, capacity);
    }
    show(state)
}
