//! `POST /_sim/quotas` and `GET /_sim/quotas`: run-time quota changes and the effective quotas.
//!
//! A change names an account, a region and a model ID (the on-demand quota) or a profile ID (the
//! cross-region quota of that profile) with new requests- and tokens-per-minute. It changes what
//! the runtime enforces and what Service Quotas answers at once; the answer is the two Service
//! Quotas entries it changed (none when the model is not on demand, or the profile not
//! callable, in that region). `GET` lists the effective quotas (`?account=` ID or name,
//! `?region=`; each optional — without a region, each account's enabled regions) as Service
//! Quotas names them, with the bucket each one governs.

use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{bad_request, parse};
use crate::fleet::Quota;
use crate::reply::json_response;
use crate::service_quotas::quotas;
use crate::state::SimState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaChange {
    account: String,
    region: String,
    model: String,
    rpm: u32,
    tpm: u32,
}

pub(super) fn change(state: &SimState, body: &[u8]) -> Response {
    let change: QuotaChange = match parse(body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let fleet = state.fleet();
    let Some(account) = fleet.account_by_id_or_name(&change.account) else {
        return bad_request(format!("unknown account '{}'", change.account));
    };
    if fleet.model(&change.model).is_none() && fleet.profile(&change.model).is_none() {
        return bad_request(format!("unknown model or profile '{}'", change.model));
    }
    if !fleet.has_region(&change.region) {
        return bad_request(format!("unknown region '{}'", change.region));
    }
    state.set_quota(
        account,
        &change.region,
        &change.model,
        Quota {
            rpm: change.rpm,
            tpm: change.tpm,
        },
    );
    let changed: Vec<_> = quotas(state, &fleet, account, &change.region)
        .into_iter()
        .filter(|q| q.subject == change.model)
        .collect();
    json_response(json!({"rpm": change.rpm, "tpm": change.tpm, "quotas": changed}).to_string())
}

pub(super) fn show(state: &SimState, query: &[(String, String)]) -> Response {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let fleet = state.fleet();
    let accounts: Vec<usize> = match q("account") {
        Some(a) => match fleet.account_by_id_or_name(a) {
            Some(i) => vec![i],
            None => return bad_request(format!("unknown account '{a}'")),
        },
        None => (0..fleet.accounts.len()).collect(),
    };
    if let Some(r) = q("region") {
        if !fleet.has_region(r) {
            return bad_request(format!("unknown region '{r}'"));
        }
    }
    let mut out = Vec::new();
    for account in accounts {
        for region in &fleet.regions {
            let region = region.as_str();
            // Without a region asked for, only the account's enabled regions (the list stays short).
            let wanted = match q("region") {
                Some(r) => r == region,
                None => fleet.account_in_region(account, region),
            };
            if !wanted {
                continue;
            }
            out.push(json!({
                "account": fleet.accounts[account].id.as_str(),
                "account_name": fleet.accounts[account].name,
                "region": region,
                "quotas": quotas(state, &fleet, account, region),
            }));
        }
    }
    json_response(json!({ "quotas": out }).to_string())
}
