//! The gateway's YAML config as written. Every struct denies unknown keys, so a typo is an
//! error with its line, never a silently ignored setting. See `docs/configuration.md`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use strata_aws::CredentialSource;
use strata_core::{AccountId, Region};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Address to serve on (overridden by `--listen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub aws: AwsConfig,
    /// Bedrock accounts the gateway calls into.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// OpenAI-compatible upstreams (vLLM, other gateways, OpenAI itself).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Logical models clients ask for.
    /// (Optional so a config with only `accounts` serves `strata discover`.)
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub routing: RoutingConfig,
    /// Availability discovery: which regions to scan, how often, where to cache the catalog.
    #[serde(default)]
    pub discovery: strata_discovery::DiscoverySettings,
    /// Last-resort targets per geography (`us`, `eu`, `apac`, …), used when every primary
    /// candidate of a request failed. Still residency-checked.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub baseline: std::collections::BTreeMap<String, Vec<BaselineTargetConfig>>,
    /// Upstream quotas that override or add to what Service Quotas says, per account × region
    /// × model or profile ID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<super::quota::QuotaConfig>,
    /// State shared by several replicas (limits, discovery) in Redis; absent: one replica,
    /// everything in process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedConfig>,
    /// Usage records and run-time keys.
    #[serde(default)]
    pub usage: UsageConfig,
    /// Prices besides the built-in table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pricing: Vec<PriceConfig>,
    /// The HTTP edge: TLS, deadlines, limits, shutdown grace.
    #[serde(default)]
    pub server: ServerConfig,
    /// Bedrock guardrails tenants and models may name (`guardrail:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrails: Vec<super::guardrail::GuardrailConfig>,
    /// SageMaker-style endpoints apps call through the SageMaker runtime API, each mapped to
    /// a logical model with pre- and post-processing templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<super::endpoint::EndpointConfig>,
    /// The one line per request (format, output, CloudWatch EMF).
    #[serde(default)]
    pub access_log: super::access_log::AccessLogConfig,
    /// Traces over OTLP (read at start).
    #[serde(default)]
    pub telemetry: super::telemetry::TelemetryConfig,
}

/// The HTTP edge. Unset fields take the defaults in `docs/configuration.md`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to serve HTTPS on (with `tls`); `listen` stays plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_listen: Option<SocketAddr>,
    /// Certificate chain and key for `tls_listen`, reloaded when the files change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Deadline for a request head (the first one from the accept, TLS handshake included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_timeout_ms: Option<u64>,
    /// Deadline for a whole request body, from the end of its head (then 408).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_timeout_ms: Option<u64>,
    /// Keep-alive connections with nothing in flight close after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
    /// Connections open at once; more are closed as soon as accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Largest request body (a larger one is answered 413, before any `100 Continue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_seconds: Option<u64>,
}

/// PEM files of a TLS listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, the server's certificate first.
    pub cert_file: std::path::PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
}

/// Where replicas share their state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedConfig {
    /// `redis://host:port[/db]`.
    pub redis_url: String,
    /// Prefix of every key the gateway writes, so several gateways may share one Redis.
    #[serde(default = "strata_namespace")]
    pub namespace: String,
}

fn strata_namespace() -> String {
    "strata".to_string()
}

/// One verified baseline target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineTargetConfig {
    pub account: String,
    pub region: Region,
    /// Model ID or inference profile ID.
    pub model: String,
    /// Logical models it may serve (default: those whose base model is this target's model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// A logical model declared as an intent: what to run; discovery finds where.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverConfig {
    /// The foundation model ID (`anthropic.claude-sonnet-4-20250514-v1:0`); or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// the name of a model brought in with Custom Model Import (`apexguru-qwen`), found in every
    /// region whose scan lists a model of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_model: Option<String>,
    /// Kinds of target to use, most preferred first: `in_region`, `geography`, `global`
    /// (default: all three; an imported model runs only `in_region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<strata_router::Layer>>,
    /// Accounts to shard over (default: every account), each a name or `{name, weight}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountChoice>,
    /// Regions to send calls to (default: every scanned region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<Region>>,
    /// Requests per minute each discovered candidate may take from the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute each discovered candidate may take from the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
}

/// An account of an intent: its name, or its name and traffic weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AccountChoice {
    Name(String),
    Weighted {
        name: String,
        #[serde(default = "one")]
        weight: u32,
    },
}

impl AccountChoice {
    pub fn name(&self) -> &str {
        match self {
            AccountChoice::Name(n) | AccountChoice::Weighted { name: n, .. } => n,
        }
    }
    pub fn weight(&self) -> u32 {
        match self {
            AccountChoice::Name(_) => 1,
            AccountChoice::Weighted { weight, .. } => *weight,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// One base URL for every Bedrock region (the emulator, a VPC endpoint or a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// STS endpoint for AssumeRole (defaults to `endpoint_url` when that is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_endpoint: Option<String>,
    /// Region for STS calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Which Bedrock calls go over HTTP/2, many to a connection (absent: streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<Http2Config>,
}

/// HTTP/2 to Bedrock: calls in flight share connections (ALPN `h2` over TLS, prior knowledge
/// over plain `http://`), a new connection opening when each open one carries `max_streams`; a
/// host that does not speak HTTP/2 gets every call over HTTP/1.1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http2Config {
    /// Which calls (default: streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<Http2CallsConfig>,
    /// Calls in flight on one connection (default 100; at most what the server allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<u32>,
}

/// Which calls go over HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Http2CallsConfig {
    /// ConverseStream and InvokeModelWithResponseStream; the rest over HTTP/1.1.
    Streams,
    /// Every call.
    All,
    /// None: every call over HTTP/1.1.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AccountId>,
    pub credentials: CredentialSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// An OpenAI-compatible `/v1/chat/completions` server.
    Openai,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ProviderKind,
    /// Base URL up to and including `/v1`.
    pub base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The AWS region the server runs in, as its operator knows it (a vLLM on EC2 in
    /// `us-east-1`): its calls are then held to that region for residency. Absent: it may run
    /// anywhere, and only tenants allowed any region reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

/// How a logical model picks among its deployments.
pub use strata_router::Strategy;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Candidates found by discovery (see [`DiscoverConfig`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<DiscoverConfig>,
    /// Fixed deployments, used as written (besides or instead of `discover`).
    #[serde(default)]
    pub deployments: Vec<DeploymentConfig>,
    /// Logical models to try, in order, when every deployment of this one failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Under `strategy: headroom`, the most of the model's upstream quota (summed over its
    /// candidates) any one region may take in a minute (0 < share ≤ 1), so no region absorbs a
    /// stampede when others fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_region_share: Option<f64>,
    /// A guardrail (by its name in `guardrails:`) for every call of this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    /// Keep this model's imported-model targets loaded with a minimal call whenever nothing
    /// answered there for an interval: `true` (every 14 minutes) or `{interval_ms, body}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_warm: Option<KeepWarmConfig>,
}

/// Keep-warm of a logical model's imported-model targets, as written: `true`, `false`, or a map.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KeepWarmConfig {
    Enabled(bool),
    Settings(KeepWarmSettings),
}

/// See [`KeepWarmConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepWarmSettings {
    /// A target nothing answered on for this long gets a keep-warm call (default 14 minutes,
    /// under Bedrock's eviction of idle imported models).
    #[serde(default = "fourteen_minutes")]
    pub interval_ms: u64,
    /// The InvokeModel body of a keep-warm call (default: a one-token prompt in the body of the
    /// model's architecture, when discovery knows it, else Llama's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl Default for KeepWarmSettings {
    fn default() -> Self {
        KeepWarmSettings {
            interval_ms: fourteen_minutes(),
            body: None,
        }
    }
}

fn fourteen_minutes() -> u64 {
    14 * 60 * 1000
}

impl KeepWarmConfig {
    /// The settings when keep-warm is on.
    pub fn settings(&self) -> Option<KeepWarmSettings> {
        match self {
            KeepWarmConfig::Enabled(true) => Some(KeepWarmSettings::default()),
            KeepWarmConfig::Enabled(false) => None,
            KeepWarmConfig::Settings(s) => Some(s.clone()),
        }
    }
}

impl<'de> Deserialize<'de> for KeepWarmConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // By hand, so a misspelt field is named in the error (`untagged` would not say).
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = KeepWarmConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or {interval_ms, body}")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(KeepWarmConfig::Enabled(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                KeepWarmSettings::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(KeepWarmConfig::Settings)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// `bedrock` (default) or the name of an OpenAI-compatible provider.
    #[serde(default = "bedrock")]
    pub provider: String,
    /// Bedrock account name (required for Bedrock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Bedrock region to call (required for Bedrock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Model ID, inference profile ID or ARN (Bedrock), or the upstream's model name.
    pub model: String,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub priority: u32,
    /// Requests per minute this deployment may take from the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute this deployment may take from the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
}

fn bedrock() -> String {
    "bedrock".to_string()
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub name: String,
    /// Keys that authenticate as this tenant: an API key (the key itself, or `sha256:<hex>` of
    /// it so the config holds no key in clear), or an `{access_key_id, secret_access_key}` pair
    /// for clients that sign with SigV4. More API keys can be created through `/admin/keys`.
    pub keys: Vec<TenantKeyConfig>,
    /// Logical models the tenant may use; `*` for all.
    #[serde(default = "all_models")]
    pub models: Vec<String>,
    /// Where the tenant's requests may run: zones (`us`, `eu`, `apac`, `jp`, `au`, `ca`, …),
    /// region names, or `any`.
    #[serde(default = "anywhere")]
    pub residency: Vec<String>,
    /// Admit a geography or global profile on its catalog destinations alone. By default a
    /// profile must also have its whole geography (every EU region for `eu.`) inside the
    /// residency policy, so a destination AWS adds between two scans cannot leak data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trust_catalog_destinations: bool,
    /// Accounts the tenant's requests may use (account sharding for isolation); default: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// Requests per minute over all the tenant's keys and models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens (input + output) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// Requests in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Spending caps in USD (hard: a request is refused when its estimated cost does not fit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
    /// Limits of the tenant's use of one logical model, besides the tenant's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_limits: Vec<ModelLimitConfig>,
    /// What to do when the shared limits (Redis) cannot be reached: `open` applies the limits in
    /// this replica alone until Redis is back; `closed` refuses requests.
    #[serde(default)]
    pub on_shared_failure: FailMode,
    /// Keep the request body and a complete answer's body (64 KiB of each; streamed answers are
    /// not kept) in the usage records, for audit (off: records hold no text).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub audit_bodies: bool,
    /// How much of where a request ran the tenant is told (`x-strata-route`, error messages):
    /// `model` (the logical model), `region` (and the region: the default) or `full` (and the
    /// account and the model ID, as operators see it).
    #[serde(default)]
    pub route_detail: RouteDetail,
    /// A guardrail (by its name in `guardrails:`) for every call of the tenant; it wins over a
    /// model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
}

/// See [`TenantConfig::route_detail`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteDetail {
    Model,
    #[default]
    Region,
    Full,
}

/// One of a tenant's keys as written: a string, or a map (read by hand so a misspelt field is
/// named in the error, which `untagged` would not do).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TenantKeyConfig {
    /// An API key (`Authorization: Bearer`, `x-api-key`, `AWS_BEARER_TOKEN_BEDROCK`), or
    /// `sha256:<hex>` of it.
    ApiKey(String),
    /// AWS-style credentials: a client signs its requests with them (SigV4) as it would for AWS.
    SigV4(SigV4KeyConfig),
}

impl<'de> Deserialize<'de> for TenantKeyConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl<'de> serde::de::Visitor<'de> for Key {
            type Value = TenantKeyConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an API key (a string) or {access_key_id, secret_access_key}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TenantKeyConfig::ApiKey(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                SigV4KeyConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TenantKeyConfig::SigV4)
            }
        }
        d.deserialize_any(Key)
    }
}

/// A tenant's SigV4 credentials. The secret is held as itself (verifying an HMAC needs it), so
/// write it as `${ENV}`; it never shows in logs or `Debug` output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4KeyConfig {
    /// Unique across tenants; names the key in usage records.
    pub access_key_id: String,
    pub secret_access_key: strata_aws::verify::SecretKey,
}

/// Spending caps of a tenant, in USD.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_day: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_month: Option<f64>,
}

/// A tenant's limits on one logical model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLimitConfig {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
}

/// Behaviour when shared state cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    #[default]
    Open,
    Closed,
}

/// Where usage records (and keys created at run time) are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageConfig {
    /// `sqlite:/path/usage.db` (default: beside the config file) or `postgres://…` for several
    /// replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Records queued for writing before new requests wait for the writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<usize>,
    /// `false`: no usage record is written (usage is accounted elsewhere, from metrics or
    /// traces). Limits and budgets still hold; usage totals and the dashboard's spend are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<bool>,
}

/// A price that replaces or adds to the built-in table, in USD per million tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Foundation model ID.
    pub model: String,
    /// `in_region`, `geography` or `global`; absent: every layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<strata_router::Layer>,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<f64>,
}

fn all_models() -> Vec<String> {
    vec!["*".to_string()]
}
fn anywhere() -> Vec<String> {
    vec!["any".to_string()]
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Keys for `/admin/*` and the dashboard.
    #[serde(default)]
    pub keys: Vec<String>,
    /// A second address for `/admin/*`, `/dashboard` and `/metrics` (then no longer served on
    /// `listen`), so they can stay inside the cluster. Read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Who may read `/metrics`: `open` (anyone who reaches it: the default, as Prometheus
    /// scrapes) or `admin_key` (`Authorization: Bearer <admin key>`).
    #[serde(default)]
    pub metrics: MetricsAccess,
}

/// See [`AdminConfig::metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    #[default]
    Open,
    AdminKey,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    #[serde(default)]
    pub strategy: Strategy,
    /// Total time a request may take, retries included.
    #[serde(default = "sixty_seconds")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub retries: RetryConfig,
    #[serde(default)]
    pub cooldown: CooldownConfig,
    /// Waiting for a custom model Bedrock is loading (`ModelNotReadyException`).
    #[serde(default)]
    pub cold_start: ColdStartConfig,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            strategy: Strategy::default(),
            timeout_ms: sixty_seconds(),
            retries: RetryConfig::default(),
            cooldown: CooldownConfig::default(),
            cold_start: ColdStartConfig::default(),
        }
    }
}

/// A cold start is not a failure: the request waits for the model to load, retrying with
/// backoff, for up to `budget_ms` beyond its deadline (the retry budget and cooldowns are not
/// touched). A client that cannot wait sends `x-strata-cold-start: fail-fast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdStartConfig {
    /// How long one request may wait for a model to load (default 5 minutes).
    #[serde(default = "five_minutes")]
    pub budget_ms: u64,
    /// First wait before asking a loading model again; doubles each time, with jitter.
    #[serde(default = "one_second")]
    pub base_delay_ms: u64,
    #[serde(default = "fifteen_seconds")]
    pub max_delay_ms: u64,
    /// How long Bedrock keeps an idle imported model loaded, as far as the gateway assumes:
    /// a target nothing answered on for longer is shown as cold (default 15 minutes).
    #[serde(default = "fifteen_minutes")]
    pub evicted_after_ms: u64,
}

impl Default for ColdStartConfig {
    fn default() -> Self {
        ColdStartConfig {
            budget_ms: five_minutes(),
            base_delay_ms: one_second(),
            max_delay_ms: fifteen_seconds(),
            evicted_after_ms: fifteen_minutes(),
        }
    }
}

fn five_minutes() -> u64 {
    5 * 60 * 1000
}
fn one_second() -> u64 {
    1000
}
fn fifteen_seconds() -> u64 {
    15_000
}
fn fifteen_minutes() -> u64 {
    15 * 60 * 1000
}

fn sixty_seconds() -> u64 {
    60_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per logical model (its candidates, then retries of the healthy ones); each
    /// fallback model gets as many again. The AWS SDK's standard mode makes 3.
    pub max_attempts: u32,
    /// First backoff; doubles each retry, with full jitter.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 4,
            base_delay_ms: 50,
            max_delay_ms: 2_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CooldownConfig {
    /// Failures within `window_ms` that put a deployment in cooldown.
    pub failures: u32,
    pub window_ms: u64,
    /// How long a cooled-down deployment is skipped.
    pub duration_ms: u64,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        CooldownConfig {
            failures: 3,
            window_ms: 30_000,
            duration_ms: 30_000,
        }
    }
}
