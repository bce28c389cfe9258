//! `GET /admin/usage?tenant=&model=&since=&group_by=tenant|model|day|tenant_model`: requests,
//! errors, rate-limited requests, tokens and cost from the usage records, summed per group
//! (`strata usage` prints the same as a table).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use strata_store::{GroupBy, UsageQuery};

use super::{error_response, require_admin_read};
use crate::error::{Class, GatewayError};
use crate::state::GatewayState;
use crate::tenants::keys::now_ms;

#[derive(Debug, Deserialize)]
pub struct UsageParams {
    tenant: Option<String>,
    model: Option<String>,
    since: Option<String>,
    group_by: Option<String>,
}

/// Reads `since`: a duration back from `now_ms` (`90s`, `30m`, `12h`, `7d`), a UTC date
/// (`2026-11-30`) or unix milliseconds.
pub fn parse_since(text: &str, now_ms: i64) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Some((unit_at, unit)) = text.char_indices().last() {
        let per = match unit {
            's' => Some(1_000),
            'm' => Some(60_000),
            'h' => Some(3_600_000),
            'd' => Some(86_400_000),
            _ => None,
        };
        if let (Some(per), Ok(n)) = (per, text[..unit_at].parse::<i64>()) {
            return Some(now_ms.saturating_sub(n.saturating_mul(per)));
        }
    }
    // YYYY-MM-DD
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(strata_core::clock::days_from_civil(y, m, d) * 86_400_000)
}

/// Reads `group_by`.
pub fn parse_group_by(text: &str) -> Option<GroupBy> {
    match text {
        "tenant" => Some(GroupBy::Tenant),
        "model" => Some(GroupBy::Model),
        "day" => Some(GroupBy::Day),
        "tenant_model" | "tenant,model" => Some(GroupBy::TenantModel),
        _ => None,
    }
}

/// The store query for the request's parameters, or what is wrong with them.
pub fn query(
    tenant: Option<String>,
    model: Option<String>,
    since: Option<&str>,
    group_by: Option<&str>,
) -> Result<UsageQuery, String> {
    let since_ms = match since {
        Some(s) => Some(parse_since(s, now_ms()).ok_or_else(|| {
            format!("since: '{s}' is not a duration (30m, 12h, 7d), a date (2026-11-30) or unix milliseconds")
        })?),
        None => None,
    };
    let group_by = match group_by {
        Some(g) => parse_group_by(g)
            .ok_or_else(|| format!("group_by: '{g}' is not one of tenant, model, day, tenant_model"))?,
        None => GroupBy::default(),
    };
    Ok(UsageQuery {
        tenant,
        model,
        since_ms,
        group_by,
    })
}

pub async fn usage(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    params: Result<Query<UsageParams>, QueryRejection>,
) -> Response {
    if let Err(r) = require_admin_read(&state, &headers) {
        return *r;
    }
    let Ok(Query(p)) = params else {
        return error_response(&GatewayError::client(
            Class::Invalid,
            "query parameters: tenant=NAME, model=NAME, since=7d, group_by=tenant|model|day|tenant_model",
        ));
    };
    let q = match query(p.tenant, p.model, p.since.as_deref(), p.group_by.as_deref()) {
        Ok(q) => q,
        Err(why) => return error_response(&GatewayError::client(Class::Invalid, why)),
    };
    match state.gateway().store.usage(&q).await {
        Ok(rows) => Json(json!({ "rows": rows })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "admin: the usage query failed");
            error_response(&GatewayError::gateway(
                Class::Internal,
                "the usage database could not be read",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_durations_dates_and_millis() {
        let now = 1_000_000_000_000;
        assert_eq!(parse_since("1d", now), Some(now - 86_400_000));
        assert_eq!(parse_since("30m", now), Some(now - 1_800_000));
        assert_eq!(parse_since("123", now), Some(123));
        assert_eq!(parse_since("1970-01-02", now), Some(86_400_000));
        assert_eq!(parse_since("2026-11-30", now), Some(1_795_996_800_000));
        assert_eq!(parse_since("yesterday", now), None);
        assert_eq!(parse_since("2026-13-01", now), None);
    }

    #[test]
    fn group_by_names() {
        assert_eq!(parse_group_by("day"), Some(GroupBy::Day));
        assert_eq!(parse_group_by("week"), None);
    }
}
