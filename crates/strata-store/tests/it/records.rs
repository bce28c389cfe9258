//! Usage records for tests.

use strata_store::UsageRecord;

/// 2025-03-10 12:00:00 UTC.
pub const DAY1_NOON: i64 = 1_741_608_000_000;
/// 2025-03-11 00:00:00 UTC.
pub const DAY2_START: i64 = 1_741_651_200_000;

/// A successful record with every optional field set.
pub fn full(request_id: &str) -> UsageRecord {
    UsageRecord {
        request_id: request_id.to_string(),
        at_ms: DAY1_NOON,
        tenant: Some("acme".into()),
        key_id: Some("key_abc".into()),
        dialect: "openai".into(),
        model: Some("claude-sonnet".into()),
        logical_model: Some("smart".into()),
        served_model: Some("smart-fallback".into()),
        targets: "use1-sonnet=throttled,usw2-sonnet=ok".into(),
        status: 200,
        outcome: "ok".into(),
        error_class: Some("throttled".into()),
        error_source: Some("upstream".into()),
        attempts: 2,
        input_tokens: 1_234,
        output_tokens: 567,
        cache_read_tokens: 89,
        cache_write_tokens: 10,
        cost_nanos: 12_345_678_901,
        pricing_layer: Some("tenant".into()),
        ttft_ms: Some(123.25),
        ttlt_ms: Some(456.5),
        duration_ms: 460.125,
        fallback: true,
        baseline: false,
        usage_estimated: true,
        disconnected: false,
        audit_body: Some("{\"prompt\":\"héllo ✓\"}".into()),
        guardrail: Some("input".into()),
        cold_start_ms: Some(1_500.5),
        purpose: Some(strata_store::PURPOSE_KEEP_WARM.into()),
    }
}

/// A record with every optional field empty.
pub fn bare(request_id: &str, at_ms: i64) -> UsageRecord {
    UsageRecord {
        request_id: request_id.to_string(),
        at_ms,
        dialect: "bedrock".into(),
        targets: String::new(),
        status: 400,
        outcome: "invalid".into(),
        ..UsageRecord::default()
    }
}

/// A record for aggregation tests: (model as named, logical model), (input, output, nano-USD).
pub fn billed(
    request_id: &str,
    at_ms: i64,
    tenant: Option<&str>,
    (model, logical_model): (Option<&str>, Option<&str>),
    error_class: Option<&str>,
    (input_tokens, output_tokens, cost_nanos): (u64, u64, u64),
) -> UsageRecord {
    UsageRecord {
        tenant: tenant.map(str::to_string),
        model: model.map(str::to_string),
        logical_model: logical_model.map(str::to_string),
        error_class: error_class.map(str::to_string),
        input_tokens,
        output_tokens,
        cost_nanos,
        status: if error_class.is_some() { 429 } else { 200 },
        outcome: error_class.unwrap_or("ok").to_string(),
        ..bare(request_id, at_ms)
    }
}
