//! Metrics: names as constants in one place, one global Prometheus recorder, and the typed events
//! the request path emits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::call::{Api, Usage};

/// Requests answered, by tenant, logical model, dialect and outcome (`ok` or an error class).
pub const REQUESTS: &str = "strata_requests_total";
/// Upstream attempts, by account, region, target kind, target and outcome.
pub const ATTEMPTS: &str = "strata_upstream_attempts_total";
/// Request duration in seconds (to the answer's head), by logical model.
pub const REQUEST_SECONDS: &str = "strata_request_duration_seconds";
/// Tokens used, by tenant, logical model and kind (`input`, `output`, `cache_read`,
/// `cache_write`), from the upstream's own usage (streams included).
pub const TOKENS: &str = "strata_tokens_total";
/// What requests cost in US dollars, by tenant and logical model (a float counter the gateway
/// renders itself: see [`Costs`]).
pub const COST_USD: &str = "strata_cost_usd_total";
/// Requests answered other than by the model's first choice, by kind (`model`: a fallback
/// model; `baseline`: the verified baseline) and logical model.
pub const FALLBACKS: &str = "strata_fallbacks_total";

/// Requests sent to the baseline after every primary candidate failed, by logical model and outcome.
pub const BASELINE: &str = "strata_baseline_total";
/// 1 when the account may invoke the model, profile or imported model in the region per the
/// catalog, else 0; by account, region, model and kind (`model`, `profile`, `imported`).
pub const MODEL_AVAILABLE: &str = "strata_model_available";
/// Destination regions of a profile callable from (account, region).
pub const CATALOG_PROFILE_DESTINATIONS: &str = "strata_catalog_profile_destinations";
/// Seconds since the last successful scan of (account, region), as of the scrape.
pub const CATALOG_AGE: &str = "strata_catalog_age_seconds";
/// How long discovery rounds take (every account × region), on the replica that scanned.
pub const DISCOVERY_SECONDS: &str = strata_discovery::ROUND_SECONDS;
/// 1 when the last scan of (account, region) failed and its data is kept as stale.
pub const CATALOG_SCAN_STALE: &str = "strata_catalog_scan_stale";
/// Catalog changes seen by discovery, by kind.
pub const CATALOG_EVENTS: &str = "strata_catalog_events_total";
/// Answers a guardrail intervened in, by tenant, logical model and side (`input`, `output`).
pub const GUARDRAIL_INTERVENTIONS: &str = "strata_guardrail_interventions_total";

/// An upstream quota per minute (`limit`: `rpm` or `tpm`), by account, region and target: what
/// Service Quotas (or the config) says the account may send the target.
pub const UPSTREAM_QUOTA: &str = "strata_upstream_quota";
/// What a target's upstream quota left at the last reservation (requests; thousands of tokens
/// where only tokens are limited), by account, region and target.
pub const UPSTREAM_HEADROOM: &str = "strata_upstream_headroom";
/// The share of a target's upstream quota the gateway uses (1 unless throttles cut it).
pub const UPSTREAM_QUOTA_SHARE: &str = "strata_upstream_quota_share";

/// Time to the first content of a streamed answer, by logical model.
pub const FIRST_TOKEN_SECONDS: &str = "strata_time_to_first_token_seconds";
/// Requests refused by a tenant's limit or budget, by tenant and limit.
pub const RATE_LIMITED: &str = "strata_rate_limited_total";
/// Requests that met a cold start (a model Bedrock was loading), by logical model and how the
/// request ended.
pub const COLD_STARTS: &str = "strata_cold_starts_total";
/// Seconds requests waited for loading models, by logical model.
pub const COLD_START_WAIT: &str = "strata_cold_start_wait_seconds";
/// Keep-warm calls, by logical model, target and outcome (`ok` or an error class).
pub const KEEP_WARM_CALLS: &str = "strata_keep_warm_calls_total";
/// 1 for an imported-model target's current state (`warm`, `loading`, `cold`), else 0.
pub const CUSTOM_MODEL_STATE: &str = "strata_custom_model_state";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle (None if another
/// recorder was installed first).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(REQUEST_SECONDS.to_string()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    ],
                )
                .ok()?
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(FIRST_TOKEN_SECONDS.to_string()),
                    &[0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0],
                )
                .ok()?
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(DISCOVERY_SECONDS.to_string()),
                    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0],
                )
                .ok()?
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(COLD_START_WAIT.to_string()),
                    &[0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// Every metric's `# HELP` line (and unit where it has one), once the recorder is installed.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        REQUESTS,
        "Requests answered, by tenant, logical model, dialect and outcome (ok, an error class, client_disconnected)."
    );
    describe_counter!(
        ATTEMPTS,
        "Upstream attempts, by account, region, target kind (in_region, geography, global, imported, provider), target and outcome (ok or an error class)."
    );
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Time to the answer's head, by logical model."
    );
    describe_histogram!(
        FIRST_TOKEN_SECONDS,
        Unit::Seconds,
        "Time to the first content of a streamed answer, by logical model."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused by a tenant's limit or budget, by tenant and limit (requests, tokens, concurrent, usd_per_day, usd_per_month)."
    );
    describe_counter!(
        TOKENS,
        "Tokens used, from the upstream's own usage, by tenant, logical model and kind (input, output, cache_read, cache_write)."
    );
    describe_counter!(
        FALLBACKS,
        "Requests answered other than by the model's own candidates, by kind (model: a fallback model; baseline: the verified baseline) and the model asked."
    );
    describe_counter!(
        BASELINE,
        "Requests sent to the verified baseline after every primary candidate failed, by model and outcome."
    );
    describe_gauge!(
        MODEL_AVAILABLE,
        "1 when the account may invoke the model, profile or imported model in the region per the catalog, else 0; by account, region, model and kind (model, profile, imported)."
    );
    describe_gauge!(
        CATALOG_PROFILE_DESTINATIONS,
        "Destination regions of an inference profile callable from the account and region."
    );
    describe_gauge!(
        CATALOG_AGE,
        Unit::Seconds,
        "Seconds since the last successful scan of the account and region, as of the scrape."
    );
    describe_histogram!(
        DISCOVERY_SECONDS,
        Unit::Seconds,
        "How long discovery rounds (every account and region) took, on the replica that scanned."
    );
    describe_gauge!(
        CATALOG_SCAN_STALE,
        "1 when the last scan of the account and region failed and its data is kept as stale."
    );
    describe_counter!(CATALOG_EVENTS, "Catalog changes seen by discovery, by kind.");
    describe_gauge!(
        UPSTREAM_QUOTA,
        "Upstream quota per minute (limit: rpm, tpm) of an account's target in a region, from Service Quotas or the config."
    );
    describe_gauge!(
        UPSTREAM_HEADROOM,
        "What a target's upstream quota left at the last reservation: requests (thousands of tokens where only tokens are limited)."
    );
    describe_gauge!(
        UPSTREAM_QUOTA_SHARE,
        "The share of a target's upstream quota the gateway uses: 1, cut by throttles within the quota, given back per quiet minute."
    );
    describe_counter!(
        GUARDRAIL_INTERVENTIONS,
        "Answers a guardrail intervened in, by tenant, model and side (input, output)."
    );
    describe_counter!(
        COLD_STARTS,
        "Requests that met a loading custom model (a cold start), by model and how they ended."
    );
    describe_histogram!(
        COLD_START_WAIT,
        Unit::Seconds,
        "How long requests waited for loading custom models, by model."
    );
    describe_counter!(
        KEEP_WARM_CALLS,
        "The gateway's keep-warm calls to imported-model targets, by model, target and outcome."
    );
    describe_gauge!(
        CUSTOM_MODEL_STATE,
        "1 for an imported-model target's current state (warm, loading, cold), else 0."
    );
    describe_gauge!(
        IN_FLIGHT,
        "Model calls between their first byte in and their usage record out."
    );
    describe_counter!(
        "strata_config_reloads_total",
        "Config reloads, by result (applied, error)."
    );
    describe_gauge!(
        "strata_config_generation",
        "1 for the config the process started with, +1 per applied reload."
    );
    describe_counter!(
        strata_http::metrics::REFUSED,
        "Connections and requests the HTTP edge refused or closed, by reason."
    );
    describe_gauge!(strata_http::metrics::OPEN_CONNECTIONS, "Connections open now.");
    describe_counter!(
        strata_http::metrics::TLS_RELOADS,
        "TLS certificate reloads, by outcome."
    );
    describe_counter!(
        strata_http::metrics::TLS_HANDSHAKE_FAILURES,
        "TLS handshakes that failed."
    );
    describe_counter!(
        strata_store::USAGE_QUEUE_FULL_TOTAL,
        "Times a request waited for a place because the usage queue was full."
    );
    describe_counter!("strata_usage_written_total", "Usage rows committed to the database.");
    describe_counter!(
        "strata_usage_write_failures_total",
        "Usage batch writes that failed (and were retried)."
    );
    describe_counter!(
        "strata_quota_shared_errors_total",
        "Shared-limit (Redis) errors, by the tenant's fail mode."
    );
    describe_counter!(
        strata_discovery::shared::REDIS_ERRORS,
        "Redis errors that reached discovery."
    );
    describe_counter!(
        strata_discovery::shared::FALLBACKS,
        "Times this replica scanned on its own because Redis was unreachable."
    );
    describe_gauge!(
        strata_discovery::shared::LEADER,
        "1 while this replica holds the discovery lock, else 0."
    );
}

/// The text exposition of every metric (ages brought up to date first).
pub fn render() -> String {
    catalog_age();
    let mut text = prometheus().map(|h| h.render()).unwrap_or_default();
    Costs::global().render(&mut text);
    text
}

/// Model calls between their first byte in and their record out (streams until their end).
pub const IN_FLIGHT: &str = "strata_requests_in_flight";

/// The in-flight gauge's handle, registered once.
pub fn in_flight() -> &'static metrics::Gauge {
    static GAUGE: OnceLock<metrics::Gauge> = OnceLock::new();
    GAUGE.get_or_init(|| metrics::gauge!(IN_FLIGHT))
}

/// The outcome label of a success.
pub const OK: &str = "ok";

/// A logical model's request metrics. The handles of the common case (a success, and the
/// duration) are registered on first use and reused: a labelled `counter!` builds, hashes and
/// looks up its key on every call, which showed in the request path's profile.
#[derive(Debug, Default)]
pub struct ModelMetrics {
    /// Success counters by tenant slot ([`slot`]) and `Api as usize`.
    ok: Vec<[OnceLock<Counter>; Api::COUNT]>,
    seconds: OnceLock<Histogram>,
    first_token: OnceLock<Histogram>,
    /// Token counters (input, output, cache read, cache write), by tenant.
    tokens: Vec<[OnceLock<Counter>; 4]>,
    /// Cost counters, by tenant.
    cost: Vec<OnceLock<Arc<AtomicU64>>>,
}

/// The index of a request's tenant in per-tenant handles: 0 for none (refused before
/// authentication), then one per tenant.
fn slot(tenant: Option<usize>) -> usize {
    tenant.map_or(0, |t| t + 1)
}

/// The tenant label of a request without one.
const NO_TENANT: &str = "";

impl ModelMetrics {
    /// The metrics of one logical model used by `tenants` tenants.
    pub fn new(tenants: usize) -> Self {
        ModelMetrics {
            ok: (0..=tenants).map(|_| Default::default()).collect(),
            tokens: (0..tenants).map(|_| Default::default()).collect(),
            cost: (0..tenants).map(|_| Default::default()).collect(),
            ..Default::default()
        }
    }

    /// Tokens one request of `tenant` used.
    pub fn tokens(&self, model: &str, tenant: usize, tenant_name: &str, usage: Usage) {
        let Some(handles) = self.tokens.get(tenant) else {
            return;
        };
        let kinds = [
            ("input", usage.input),
            ("output", usage.output),
            ("cache_read", usage.cache_read),
            ("cache_write", usage.cache_write),
        ];
        for (i, (kind, n)) in kinds.into_iter().enumerate() {
            // Cache counters appear once a cache is used; input and output always.
            if n == 0 && i >= 2 && handles[i].get().is_none() {
                continue;
            }
            handles[i]
                .get_or_init(|| {
                    metrics::counter!(TOKENS, "tenant" => tenant_name.to_string(), "model" => model.to_string(), "kind" => kind)
                })
                .increment(n);
        }
    }

    /// What one request of `tenant` cost, in nano-USD.
    pub fn cost(&self, model: &str, tenant: usize, tenant_name: &str, nanos: u64) {
        if let Some(handle) = self.cost.get(tenant) {
            handle
                .get_or_init(|| Costs::global().counter(tenant_name, model))
                .fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// A streamed answer's time to its first content.
    pub fn first_token(&self, model: &str, elapsed: Duration) {
        self.first_token
            .get_or_init(|| metrics::histogram!(FIRST_TOKEN_SECONDS, "model" => model.to_string()))
            .record(elapsed.as_secs_f64());
    }

    /// One request's end, for the logical model `model`.
    pub fn request_done(
        &self,
        model: &str,
        tenant: Option<(usize, &str)>,
        api: Api,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let tenant_name = tenant.map_or(NO_TENANT, |(_, name)| name);
        match self.ok.get(slot(tenant.map(|(t, _)| t))) {
            Some(handles) if outcome == OK => handles[api as usize]
                .get_or_init(|| requests(tenant_name, model, api, OK))
                .increment(1),
            _ => requests(tenant_name, model, api, outcome).increment(1),
        }
        self.seconds
            .get_or_init(|| metrics::histogram!(REQUEST_SECONDS, "model" => model.to_string()))
            .record(elapsed.as_secs_f64());
    }
}

fn requests(tenant: &str, model: &str, api: Api, outcome: &'static str) -> Counter {
    metrics::counter!(REQUESTS, "tenant" => tenant.to_string(), "model" => model.to_string(), "dialect" => api.label(), "outcome" => outcome)
}

/// `strata_cost_usd_total`: the `metrics` facade counts in integers, and a cost counter in
/// dollars needs fractions, so costs are counted here in nano-USD (as usage records keep them)
/// and rendered as dollars after the recorder's own text.
#[derive(Debug, Default)]
pub struct Costs {
    /// (tenant, model) → nano-USD, registered once per pair.
    counters: parking_lot::Mutex<Vec<(String, String, Arc<AtomicU64>)>>,
}

impl Costs {
    /// The process's one set of cost counters (kept across reloads, as counters must be).
    pub fn global() -> &'static Costs {
        static COSTS: OnceLock<Costs> = OnceLock::new();
        COSTS.get_or_init(Costs::default)
    }

    /// The counter of (tenant, model), registered on first use.
    pub fn counter(&self, tenant: &str, model: &str) -> Arc<AtomicU64> {
        let mut counters = self.counters.lock();
        if let Some((_, _, c)) = counters.iter().find(|(t, m, _)| t == tenant && m == model) {
            return Arc::clone(c);
        }
        let c = Arc::new(AtomicU64::new(0));
        counters.push((tenant.to_string(), model.to_string(), Arc::clone(&c)));
        c
    }

    /// The family in the text exposition format (nothing until a cost was counted).
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let counters = self.counters.lock();
        if counters.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "# HELP {COST_USD} What requests cost in US dollars (from the price table), by tenant and logical model."
        );
        let _ = writeln!(out, "# TYPE {COST_USD} counter");
        for (tenant, model, nanos) in counters.iter() {
            let _ = writeln!(
                out,
                "{COST_USD}{{tenant=\"{}\",model=\"{}\"}} {}",
                label_value(tenant),
                label_value(model),
                nanos.load(Ordering::Relaxed) as f64 / 1e9
            );
        }
    }
}

/// A label value escaped as the exposition format wants (backslash, quote, newline).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// What an upstream attempt's metric is labelled with.
#[derive(Debug, Clone)]
pub struct AttemptLabels {
    /// The account's name (a provider's, for OpenAI-compatible targets).
    pub account: String,
    /// The region the call went to (empty for providers without one).
    pub region: String,
    /// `in_region`, `geography`, `global`, `imported` or `provider`.
    pub kind: &'static str,
    /// The model or profile id called.
    pub target: String,
}

/// A route's attempt metrics, the success handle registered on first use (as above).
#[derive(Debug, Default)]
pub struct RouteMetrics {
    ok: OnceLock<Counter>,
    headroom: OnceLock<(metrics::Gauge, metrics::Gauge)>,
}

impl RouteMetrics {
    /// One upstream attempt's end on a route whose labels `labels` gives (called only when a
    /// counter is registered).
    pub fn attempt_done(&self, labels: impl FnOnce() -> AttemptLabels, outcome: &'static str) {
        if outcome == OK {
            self.ok.get_or_init(|| attempts(labels(), OK)).increment(1);
        } else {
            attempts(labels(), outcome).increment(1);
        }
    }
}

impl RouteMetrics {
    /// What the route's upstream quota (counted under `key`: `account/region/target`) left, and
    /// the share of it in use.
    pub fn quota_room(&self, key: &str, room: u64, share: f64) {
        let (headroom, used_share) = self.headroom.get_or_init(|| {
            let (account, region, target) = quota_labels(key);
            (
                metrics::gauge!(UPSTREAM_HEADROOM, "account" => account.clone(), "region" => region.clone(), "target" => target.clone()),
                metrics::gauge!(UPSTREAM_QUOTA_SHARE, "account" => account, "region" => region, "target" => target),
            )
        });
        headroom.set(room as f64);
        used_share.set(share);
    }
}

/// The labels of a quota key (`account/region/target`; a target may hold `/`, as ARNs do).
fn quota_labels(key: &str) -> (String, String, String) {
    let mut parts = key.splitn(3, '/');
    let mut next = || parts.next().unwrap_or_default().to_string();
    (next(), next(), next())
}

/// The upstream quotas of a new route table (one gauge per quota key and limit).
pub fn quotas_published<'a>(quotas: impl Iterator<Item = (&'a str, Option<u32>, Option<u32>)>) {
    for (key, rpm, tpm) in quotas {
        let (account, region, target) = quota_labels(key);
        for (limit, value) in [("rpm", rpm), ("tpm", tpm)] {
            if let Some(v) = value {
                metrics::gauge!(UPSTREAM_QUOTA, "account" => account.clone(), "region" => region.clone(), "target" => target.clone(), "limit" => limit)
                    .set(f64::from(v));
            }
        }
    }
}

fn attempts(l: AttemptLabels, outcome: &'static str) -> Counter {
    metrics::counter!(ATTEMPTS, "account" => l.account, "region" => l.region, "target_kind" => l.kind, "target" => l.target, "outcome" => outcome)
}

/// A request of `model` answered other than by its own candidates: `kind` is `model` (a
/// fallback model) or `baseline`.
pub fn fell_back(model: &str, kind: &'static str) {
    metrics::counter!(FALLBACKS, "kind" => kind, "model" => model.to_string()).increment(1);
}

/// A guardrail intervened in a request's answer.
pub fn guardrail_intervened(tenant: &str, model: &str, source: &'static str) {
    metrics::counter!(GUARDRAIL_INTERVENTIONS, "tenant" => tenant.to_string(), "model" => model.to_string(), "source" => source)
        .increment(1);
}

/// A tenant's request refused by one of its limits (`limit`: what ran out).
pub fn rate_limited(tenant: &str, limit: &'static str) {
    metrics::counter!(RATE_LIMITED, "tenant" => tenant.to_string(), "limit" => limit).increment(1);
}

/// A request met a cold start and waited `waited` (ended with `outcome`).
pub fn cold_start_met(model: &str, outcome: &'static str, waited: Duration) {
    metrics::counter!(COLD_STARTS, "model" => model.to_string(), "outcome" => outcome).increment(1);
    metrics::histogram!(COLD_START_WAIT, "model" => model.to_string()).record(waited.as_secs_f64());
}

/// A keep-warm call ended.
pub fn keep_warm_called(model: &str, target: &str, outcome: &'static str) {
    metrics::counter!(KEEP_WARM_CALLS, "model" => model.to_string(), "target" => target.to_string(), "outcome" => outcome)
        .increment(1);
}

/// An imported-model target's state, one gauge per state (1 for the current one).
pub fn custom_model_state(target: &str, state: strata_router::WarmState) {
    for s in strata_router::WarmState::ALL {
        metrics::gauge!(CUSTOM_MODEL_STATE, "target" => target.to_string(), "state" => s.label()).set(if s == state {
            1.0
        } else {
            0.0
        });
    }
}

/// A request that went to the baseline, and how it ended.
pub fn baseline_used(model: &str, outcome: &'static str) {
    metrics::counter!(BASELINE, "model" => model.to_string(), "outcome" => outcome).increment(1);
}

/// A catalog was published: availability gauges and change counters. A model, profile or
/// scan that left the catalog has its gauges set to 0 rather than kept at their last value.
pub fn catalog_published(catalog: &strata_core::Catalog, events: &[strata_discovery::CatalogEvent]) {
    let mut seen = Published::default();
    for scan in catalog.scans() {
        let account = scan.account.clone();
        let region = scan.region.to_string();
        let stale = !matches!(scan.freshness, strata_core::Freshness::Fresh);
        metrics::gauge!(CATALOG_SCAN_STALE, "account" => account.clone(), "region" => region.clone()).set(if stale {
            1.0
        } else {
            0.0
        });
        if scan.has_data() {
            seen.scanned_at.push((account.clone(), region.clone(), scan.scanned_at));
        }
        let mut available = |id: &str, kind: &'static str, yes: bool| {
            let key = (account.clone(), region.clone(), id.to_string(), kind);
            metrics::gauge!(MODEL_AVAILABLE, "account" => key.0.clone(), "region" => key.1.clone(), "model" => key.2.clone(), "kind" => kind)
                .set(if yes { 1.0 } else { 0.0 });
            seen.available.insert(key);
        };
        for id in scan.models.keys() {
            available(id, "model", scan.availability(id).invocable());
        }
        for (id, p) in &scan.profiles {
            available(id, "profile", p.status == "ACTIVE");
        }
        if let Some(imported) = scan.imported.models() {
            for m in imported.values() {
                available(&m.name, "imported", true);
            }
        }
        for (id, p) in &scan.profiles {
            metrics::gauge!(CATALOG_PROFILE_DESTINATIONS, "account" => account.clone(), "region" => region.clone(), "profile" => id.clone())
                .set(p.destinations.len() as f64);
        }
    }
    let mut last = PUBLISHED.lock();
    for (account, region, model, kind) in last.available.difference(&seen.available) {
        metrics::gauge!(MODEL_AVAILABLE, "account" => account.clone(), "region" => region.clone(), "model" => model.clone(), "kind" => *kind)
            .set(0.0);
    }
    *last = seen;
    drop(last);
    catalog_age();
    for e in events {
        metrics::counter!(CATALOG_EVENTS, "kind" => e.change.kind()).increment(1);
    }
}

/// What the last publication set: the availability gauges' labels, and when each account ×
/// region with data was scanned (for [`catalog_age`] at every scrape).
#[derive(Debug, Default)]
struct Published {
    available: std::collections::BTreeSet<(String, String, String, &'static str)>,
    scanned_at: Vec<(String, String, u64)>,
}

static PUBLISHED: parking_lot::Mutex<Published> = parking_lot::Mutex::new(Published {
    available: std::collections::BTreeSet::new(),
    scanned_at: Vec::new(),
});

/// Sets each account × region's catalog age to now minus its last successful scan.
fn catalog_age() {
    let now = strata_discovery::unix_now();
    for (account, region, at) in &PUBLISHED.lock().scanned_at {
        metrics::gauge!(CATALOG_AGE, "account" => account.clone(), "region" => region.clone())
            .set(now.saturating_sub(*at) as f64);
    }
}
