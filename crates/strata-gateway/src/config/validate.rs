//! Cross-reference checks that turn a [`ConfigFile`] into a [`Config`]: accounts, providers,
//! fallbacks and tenants' models must exist, keys must be unique, numbers must make sense.
//! All problems are reported at once, each with its path in the file.

use std::collections::HashMap;
use std::net::SocketAddr;

use strata_aws::transport::{Http2Calls, Protocol};
use strata_aws::CredentialSource;
use strata_core::{AccountId, ModelRef, Region};
use strata_discovery::DiscoverySettings;

use strata_router::{AccountShare, Intent, IntentModel, Layer};

use super::file::{
    AwsConfig, ConfigFile, DeploymentConfig, DiscoverConfig, Http2CallsConfig, ProviderConfig, RoutingConfig, Strategy,
};
use super::tenant::{KeyHash, SigV4Key, Tenant, TenantKey};

/// A Bedrock account the gateway calls into (its name is unique and not empty).
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub id: Option<AccountId>,
    /// Where its credentials come from.
    pub credentials: CredentialSource,
}

/// Where AWS calls go, with the defaults applied.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// One base URL for every Bedrock region (the emulator, a VPC endpoint or a proxy); `None`
    /// for AWS's own endpoints.
    pub endpoint_url: Option<String>,
    /// STS endpoint for AssumeRole: as configured, else `endpoint_url`, else AWS's.
    pub sts_endpoint: Option<String>,
    /// Region for STS calls (default us-east-1).
    pub sts_region: Region,
    /// HTTP/1.1, or HTTP/2 with a number of calls per connection.
    pub protocol: Protocol,
}

/// Calls on one HTTP/2 connection when the config names no number.
const DEFAULT_HTTP2_STREAMS: u32 = 100;
/// The most calls on one HTTP/2 connection (servers commonly allow 100–250).
const MAX_HTTP2_STREAMS: u32 = 1000;

/// The STS region when the config names none.
const DEFAULT_STS_REGION: &str = "us-east-1";

impl AwsSettings {
    fn from_config(aws: &AwsConfig) -> Result<AwsSettings, Vec<String>> {
        let sts_region = match &aws.region {
            Some(r) => r.clone(),
            None => {
                Region::parse(DEFAULT_STS_REGION).map_err(|_| vec!["internal: bad default STS region".to_string()])?
            }
        };
        let http2 = aws.http2.clone().unwrap_or_default();
        let max_streams = match http2.max_streams.unwrap_or(DEFAULT_HTTP2_STREAMS) {
            n @ 1..=MAX_HTTP2_STREAMS => n as usize,
            n => {
                return Err(vec![format!(
                    "aws.http2.max_streams: {n} is out of range (1 to {MAX_HTTP2_STREAMS})"
                )])
            }
        };
        let protocol = match http2.calls.unwrap_or(Http2CallsConfig::Streams) {
            Http2CallsConfig::None => Protocol::Http1,
            Http2CallsConfig::Streams => Protocol::Http2 {
                max_streams,
                calls: Http2Calls::Streams,
            },
            Http2CallsConfig::All => Protocol::Http2 {
                max_streams,
                calls: Http2Calls::All,
            },
        };
        Ok(AwsSettings {
            endpoint_url: aws.endpoint_url.clone(),
            sts_endpoint: aws.sts_endpoint.clone().or_else(|| aws.endpoint_url.clone()),
            sts_region,
            protocol,
        })
    }
}

/// Where a deployment sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Bedrock {
        account: usize,
        region: Region,
        model_id: String,
    },
    OpenAi {
        provider: usize,
        model: String,
    },
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub target: Target,
    pub weight: u32,
    pub priority: u32,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub strategy: Strategy,
    pub deployments: Vec<Deployment>,
    /// What discovery should find for this model.
    pub intent: Option<ModelIntent>,
    /// Indexes into [`Config::models`].
    pub fallbacks: Vec<usize>,
    /// Keep-warm of its imported-model targets, when on.
    pub keep_warm: Option<KeepWarm>,
    /// The most of its upstream quota one region may take (`headroom` only).
    pub max_region_share: Option<f64>,
}

/// Keep-warm settings of a logical model (see [`super::file::KeepWarmSettings`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KeepWarm {
    pub interval: std::time::Duration,
    /// The configured InvokeModel body, if any (JSON).
    pub body: Option<bytes::Bytes>,
}

impl Model {
    /// Foundation model IDs this logical model runs (its intent's base model and its pinned
    /// Bedrock deployments'), for matching baseline targets.
    pub fn foundation_models(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .intent
            .iter()
            .filter_map(|i| i.intent.model.foundation().map(str::to_string))
            .collect();
        for d in &self.deployments {
            if let Target::Bedrock { model_id, .. } = &d.target {
                if let Some(m) = ModelRef::parse(model_id)
                    .ok()
                    .and_then(|r| r.foundation_model_id().map(str::to_string))
                {
                    out.push(m);
                }
            }
        }
        out
    }
}

/// A checked intent with the local budget of each candidate it yields.
#[derive(Debug, Clone)]
pub struct ModelIntent {
    pub intent: Intent,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

/// A checked baseline target.
#[derive(Debug, Clone)]
pub struct BaselineTarget {
    /// The geography it was listed under (a label for logs and metrics).
    pub geography: String,
    pub account: usize,
    pub region: Region,
    pub model_id: String,
    /// Logical models it serves (indexes into [`Config::models`]).
    pub serves: Vec<usize>,
}

/// A validated config: everything the gateway and the commands read after loading.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub aws: AwsSettings,
    /// Bedrock accounts; [`Target::Bedrock`] and [`BaselineTarget`] index into it.
    pub accounts: Vec<Account>,
    pub models: Vec<Model>,
    pub model_by_name: HashMap<String, usize>,
    pub tenants: Vec<Tenant>,
    /// Every tenant key, with its tenant and the key's id (never the key) for usage records.
    pub tenant_keys: HashMap<KeyHash, TenantKey>,
    /// Tenants' SigV4 credentials by access key id (the id names the key in usage records).
    pub tenant_sigv4_keys: HashMap<std::sync::Arc<str>, SigV4Key>,
    /// Admin keys by hash, each with its id (`admin/key-<n>`) for the audit trail.
    pub admin_keys: HashMap<KeyHash, std::sync::Arc<str>>,
    /// Where the admin surface (`/admin/*`, `/dashboard`, `/metrics`) is served apart, if it is.
    pub admin_listen: Option<SocketAddr>,
    pub metrics_access: crate::config::file::MetricsAccess,
    pub providers: Vec<ProviderConfig>,
    pub routing: RoutingConfig,
    pub account_by_name: HashMap<String, usize>,
    pub baseline: Vec<BaselineTarget>,
    /// `quotas:`: upstream quotas that override or add to Service Quotas'.
    pub quotas: Vec<super::quota::QuotaOverride>,
    /// What discovery scans and where it caches the catalog.
    pub discovery: DiscoverySettings,
    /// Redis shared by replicas; `None`: a single replica.
    pub shared: Option<crate::config::file::SharedConfig>,
    /// Where usage records and run-time keys are kept (`sqlite:…` or `postgres://…`); `None`:
    /// in memory ([`IN_MEMORY_DATABASE`]). A config loaded from a file keeps them beside it.
    pub usage_database_url: Option<String>,
    /// Records queued for writing before new requests wait.
    pub usage_queue: usize,
    /// Whether requests write usage records (`usage.records`, default true).
    pub usage_records: bool,
    /// The built-in price table with the config's `pricing` applied.
    pub prices: strata_router::pricing::PriceTable,
    /// What a reload compares to know which running parts it must rebuild.
    pub sections: Sections,
    /// The HTTP edge (`server:`): TLS listener, deadlines, limits, shutdown grace.
    pub server: super::ServerSettings,
    /// Traces over OTLP (`telemetry.traces`); `None`: not configured (the `OTEL_*` variables
    /// may still turn them on).
    pub traces: Option<super::TracesSettings>,
    /// Guardrails (`guardrails:`), and the one each tenant and each model names (indexes into
    /// `guardrails`, indexed like `tenants` and `models`).
    pub guardrails: Vec<std::sync::Arc<super::Guardrail>>,
    pub tenant_guardrails: Vec<Option<usize>>,
    pub model_guardrails: Vec<Option<usize>>,
    /// SageMaker-style endpoints (`endpoints:`), and their indexes by name.
    pub endpoints: Vec<std::sync::Arc<super::Endpoint>>,
    pub endpoint_by_name: HashMap<String, usize>,
    /// The access log (`access_log:`); its output is read at start.
    pub access_log: super::access_log::AccessLogConfig,
}

impl Config {
    /// The guardrail for a tenant's call of a logical model: the tenant's, else the model's.
    pub fn guardrail_for(&self, tenant: usize, model: usize) -> Option<&std::sync::Arc<super::Guardrail>> {
        let tenant = self.tenant_guardrails.get(tenant).copied().flatten();
        let model = self.model_guardrails.get(model).copied().flatten();
        self.guardrails.get(tenant.or(model)?)
    }
}

/// The sections of a config file that feed long-lived parts (upstream clients, discovery, the
/// listener, the usage database), as written, so a reload rebuilds only what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    /// `aws`, `accounts`, `providers`: the upstream clients.
    pub upstreams: String,
    /// `aws`, `accounts`, `discovery`, `shared`: the discovery service.
    pub discovery: String,
    /// `listen`, `usage`, `shared`, `server`, `telemetry`: read once at start; a change takes effect at
    /// restart (TLS certificates excepted: they are reloaded when their files change).
    pub at_start: String,
}

impl Sections {
    fn of(file: &ConfigFile) -> Sections {
        let json = |v: serde_json::Value| v.to_string();
        Sections {
            upstreams: json(serde_json::json!([file.aws, file.accounts, file.providers])),
            discovery: json(serde_json::json!([
                file.aws,
                file.accounts,
                file.discovery,
                file.shared
            ])),
            at_start: json(serde_json::json!([
                file.listen,
                file.usage,
                file.shared,
                file.server,
                file.admin.listen,
                file.access_log.output,
                file.telemetry
            ])),
        }
    }
}

/// The built-in prices with the config's overrides (USD per million tokens → nano-USD).
fn price_table(
    overrides: &[crate::config::file::PriceConfig],
    problems: &mut Vec<String>,
) -> strata_router::pricing::PriceTable {
    use strata_router::pricing::{Price, PriceTable};
    let mut table = PriceTable::builtin();
    for (i, o) in overrides.iter().enumerate() {
        let mut nanos = |usd: f64, field: &str| {
            if usd.is_finite() && usd >= 0.0 {
                (usd * 1e9).round() as u64
            } else {
                problems.push(format!("pricing[{i}].{field}: must be a number of USD, 0 or more"));
                0
            }
        };
        let price = Price {
            input: nanos(o.input_per_mtok, "input_per_mtok"),
            output: nanos(o.output_per_mtok, "output_per_mtok"),
            cache_read: o.cache_read_per_mtok.map(|v| nanos(v, "cache_read_per_mtok")),
            cache_write: o.cache_write_per_mtok.map(|v| nanos(v, "cache_write_per_mtok")),
        };
        table = table.with_override(&o.model, o.layer, price);
    }
    table
}

/// The usage database when nothing names one.
pub const IN_MEMORY_DATABASE: &str = "sqlite::memory:";

/// Records queued for writing by default.
pub const DEFAULT_USAGE_QUEUE: usize = 10_000;

pub use super::server::DEFAULT_LISTEN;

impl Config {
    pub fn validate(file: ConfigFile) -> Result<Config, Vec<String>> {
        let sections = Sections::of(&file);
        let mut problems = Vec::new();
        let accounts = index(file.accounts.iter().map(|a| a.name.as_str()), "accounts", &mut problems);
        let providers = index(
            file.providers.iter().map(|p| p.name.as_str()),
            "providers",
            &mut problems,
        );
        if providers.contains_key("bedrock") {
            problems
                .push("providers: 'bedrock' is reserved for Bedrock deployments; name the provider otherwise".into());
        }
        for (i, p) in file.providers.iter().enumerate() {
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                problems.push(format!(
                    "providers[{i}].base_url: '{}' must start with http:// or https://",
                    p.base_url
                ));
            }
        }
        let model_by_name = index(file.models.iter().map(|m| m.name.as_str()), "models", &mut problems);
        let mut models = Vec::new();
        for (mi, m) in file.models.iter().enumerate() {
            if m.deployments.is_empty() && m.discover.is_none() {
                problems.push(format!(
                    "models[{mi}] ({}): needs `discover` (an intent that discovery expands) or at least one deployment",
                    m.name
                ));
            }
            let intent = m
                .discover
                .as_ref()
                .and_then(|d| check_intent(d, &format!("models[{mi}].discover"), &file, &accounts, &mut problems));
            let mut deployments = Vec::new();
            for (di, d) in m.deployments.iter().enumerate() {
                let at = format!("models[{mi}].deployments[{di}]");
                if let Some(dep) = check_deployment(d, &at, &accounts, &providers, &mut problems) {
                    deployments.push(dep);
                }
            }
            let mut fallbacks = Vec::new();
            for (fi, f) in m.fallbacks.iter().enumerate() {
                match model_by_name.get(f) {
                    Some(&target) if target == mi => problems.push(format!(
                        "models[{mi}].fallbacks[{fi}]: a model cannot fall back to itself"
                    )),
                    Some(&target) => fallbacks.push(target),
                    None => problems.push(format!(
                        "models[{mi}].fallbacks[{fi}]: unknown model '{f}' (known: {})",
                        known(file.models.iter().map(|m| m.name.as_str()))
                    )),
                }
            }
            let keep_warm = m.keep_warm.as_ref().and_then(|k| k.settings()).and_then(|k| {
                if k.interval_ms == 0 {
                    problems.push(format!("models[{mi}].keep_warm.interval_ms: must be more than 0"));
                    return None;
                }
                let body = match &k.body {
                    Some(b @ serde_json::Value::Object(_)) => Some(bytes::Bytes::from(b.to_string())),
                    Some(_) => {
                        problems.push(format!(
                            "models[{mi}].keep_warm.body: must be a map (the InvokeModel body of a keep-warm call)"
                        ));
                        return None;
                    }
                    None => None,
                };
                Some(KeepWarm {
                    interval: std::time::Duration::from_millis(k.interval_ms),
                    body,
                })
            });
            if m.max_region_share.is_some_and(|s| !(s > 0.0 && s <= 1.0)) {
                problems.push(format!("models[{mi}].max_region_share: a share above 0 and at most 1"));
            }
            models.push(Model {
                name: m.name.clone(),
                strategy: m.strategy.unwrap_or(file.routing.strategy),
                deployments,
                intent,
                fallbacks,
                keep_warm,
                max_region_share: m.max_region_share,
            });
        }
        let mut admin_keys = HashMap::new();
        for (ki, key) in file.admin.keys.iter().enumerate() {
            match super::tenant::configured_key(key) {
                Ok(h) => {
                    admin_keys.insert(h, format!("admin/key-{ki}").into());
                }
                Err(e) => problems.push(format!("admin.keys[{ki}]: {e}")),
            }
        }
        index(file.tenants.iter().map(|t| t.name.as_str()), "tenants", &mut problems);
        let super::tenant::Tenants {
            tenants,
            keys: tenant_keys,
            sigv4_keys: tenant_sigv4_keys,
        } = super::tenant::check_tenants(&file.tenants, &model_by_name, &accounts, &admin_keys, &mut problems);
        if let Some(shared) = &file.shared {
            if !(shared.redis_url.starts_with("redis://") || shared.redis_url.starts_with("rediss://")) {
                problems.push(format!(
                    "shared.redis_url: '{}' must start with redis:// or rediss://",
                    shared.redis_url
                ));
            } else if let Err(e) = strata_discovery::shared::check_redis_url(&shared.redis_url) {
                problems.push(format!("shared.redis_url: {e}"));
            }
            if shared.namespace.is_empty() || shared.namespace.contains(char::is_whitespace) {
                problems.push("shared.namespace: must be a non-empty word (it prefixes every Redis key)".into());
            }
        }
        let r = &file.routing;
        if r.retries.max_attempts == 0 {
            problems.push("routing.retries.max_attempts: must be at least 1".into());
        }
        if r.retries.base_delay_ms > r.retries.max_delay_ms {
            problems.push("routing.retries: base_delay_ms must not exceed max_delay_ms".into());
        }
        if r.timeout_ms == 0 {
            problems.push("routing.timeout_ms: must be more than 0".into());
        }
        if r.cold_start.base_delay_ms > r.cold_start.max_delay_ms {
            problems.push("routing.cold_start: base_delay_ms must not exceed max_delay_ms".into());
        }
        if r.cold_start.base_delay_ms == 0 {
            problems.push("routing.cold_start.base_delay_ms: must be more than 0".into());
        }
        if r.cooldown.failures == 0 {
            problems.push("routing.cooldown.failures: must be at least 1".into());
        }
        problems.extend(file.discovery.problems());
        let baseline = check_baseline(&file, &accounts, &model_by_name, &models, &mut problems);
        let account_names: Vec<&str> = file.accounts.iter().map(|a| a.name.as_str()).collect();
        let quotas = super::quota::check_quotas(&file.quotas, &accounts, &account_names, &mut problems);
        let prices = price_table(&file.pricing, &mut problems);
        if file.admin.listen.is_some() && file.admin.listen == file.listen {
            problems.push("admin.listen: must differ from `listen` (it serves the admin surface apart)".into());
        }
        if file.admin.metrics == crate::config::file::MetricsAccess::AdminKey && file.admin.keys.is_empty() {
            problems.push("admin.metrics: admin_key needs at least one key in admin.keys".into());
        }
        let server = super::server::check(&file.server, file.listen, &mut problems);
        file.access_log.check(&mut problems);
        let traces = super::telemetry::check(&file.telemetry, &mut problems);
        let (guardrails, guardrail_by_name) =
            super::guardrail::check_guardrails(&file.guardrails, &accounts, &mut problems);
        let tenant_guardrails = file
            .tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let at = format!("tenants[{i}]");
                super::guardrail::reference(t.guardrail.as_deref(), &at, &guardrail_by_name, &mut problems)
            })
            .collect();
        let model_guardrails = file
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let at = format!("models[{i}]");
                super::guardrail::reference(m.guardrail.as_deref(), &at, &guardrail_by_name, &mut problems)
            })
            .collect();
        let (endpoints, endpoint_by_name) =
            super::endpoint::check_endpoints(&file.endpoints, &model_by_name, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let listen = match file.listen {
            Some(l) => l,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| vec!["internal: bad default listen address".to_string()])?,
        };
        let aws = AwsSettings::from_config(&file.aws)?;
        Ok(Config {
            listen,
            aws,
            accounts: file
                .accounts
                .into_iter()
                .map(|a| Account {
                    name: a.name,
                    id: a.id,
                    credentials: a.credentials,
                })
                .collect(),
            models,
            model_by_name,
            tenants,
            tenant_keys,
            tenant_sigv4_keys,
            admin_keys,
            admin_listen: file.admin.listen,
            metrics_access: file.admin.metrics,
            providers: file.providers,
            routing: file.routing,
            account_by_name: accounts,
            baseline,
            quotas,
            discovery: file.discovery,
            shared: file.shared,
            usage_database_url: file.usage.database_url,
            usage_queue: file.usage.queue.unwrap_or(DEFAULT_USAGE_QUEUE).max(1),
            usage_records: file.usage.records.unwrap_or(true),
            prices,
            sections,
            server,
            traces,
            guardrails,
            tenant_guardrails,
            model_guardrails,
            endpoints,
            endpoint_by_name,
            access_log: file.access_log,
        })
    }
}

/// Names for a "(known: …)" hint: comma-separated, or `none`.
pub fn known<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let list: Vec<&str> = names.collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

fn index<'a>(names: impl Iterator<Item = &'a str>, what: &str, problems: &mut Vec<String>) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (i, name) in names.enumerate() {
        if name.trim().is_empty() {
            problems.push(format!("{what}[{i}].name: must not be empty"));
        } else if map.insert(name.to_string(), i).is_some() {
            problems.push(format!("{what}[{i}].name: '{name}' is used twice"));
        }
    }
    map
}

fn check_deployment(
    d: &DeploymentConfig,
    at: &str,
    accounts: &HashMap<String, usize>,
    providers: &HashMap<String, usize>,
    problems: &mut Vec<String>,
) -> Option<Deployment> {
    if d.weight == 0 {
        problems.push(format!(
            "{at}.weight: must be at least 1 (remove the deployment to disable it)"
        ));
    }
    let target = if d.provider == "bedrock" {
        let account = match &d.account {
            None => {
                problems.push(format!("{at}.account: Bedrock deployments need an account"));
                None
            }
            Some(name) => match accounts.get(name) {
                Some(&i) => Some(i),
                None => {
                    let mut names: Vec<&String> = accounts.keys().collect();
                    names.sort();
                    problems.push(format!(
                        "{at}.account: unknown account '{name}' (known: {})",
                        known(names.iter().map(|s| s.as_str()))
                    ));
                    None
                }
            },
        };
        if d.region.is_none() {
            problems.push(format!("{at}.region: Bedrock deployments need a region"));
        }
        if ModelRef::parse(&d.model).is_err() {
            problems.push(format!(
                "{at}.model: '{}' is not a Bedrock model ID, inference profile ID or ARN",
                d.model
            ));
        }
        Target::Bedrock {
            account: account?,
            region: d.region.clone()?,
            model_id: d.model.clone(),
        }
    } else {
        let Some(&provider) = providers.get(&d.provider) else {
            problems.push(format!(
                "{at}.provider: unknown provider '{}' (use 'bedrock' or a name from providers)",
                d.provider
            ));
            return None;
        };
        if d.account.is_some() || d.region.is_some() {
            problems.push(format!("{at}: account and region apply to Bedrock deployments only"));
        }
        Target::OpenAi {
            provider,
            model: d.model.clone(),
        }
    };
    Some(Deployment {
        target,
        weight: d.weight,
        priority: d.priority,
        rpm: d.rpm,
        tpm: d.tpm,
    })
}

fn check_intent(
    d: &DiscoverConfig,
    at: &str,
    file: &ConfigFile,
    accounts: &HashMap<String, usize>,
    problems: &mut Vec<String>,
) -> Option<ModelIntent> {
    let before = problems.len();
    let model = match (&d.model, &d.imported_model) {
        (Some(id), None) => {
            if !matches!(ModelRef::parse(id), Ok(ModelRef::Foundation { arn_region: None, .. })) {
                problems.push(format!(
                    "{at}.model: '{id}' must be a foundation model ID such as anthropic.claude-sonnet-4-20250514-v1:0 (not a profile or ARN: discovery finds the profiles; for an imported model use imported_model: NAME)"
                ));
            }
            IntentModel::Foundation(id.clone())
        }
        (None, Some(name)) => {
            if !imported_model_name(name) {
                problems.push(format!(
                    "{at}.imported_model: '{name}' is not an imported model's name (the name it was imported under: 1-63 letters, digits, '-' and '_', such as apexguru-qwen; not its ARN — pin an ARN under deployments)"
                ));
            }
            IntentModel::Imported(name.clone())
        }
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{at}: give either model (a foundation model) or imported_model (an imported model's name), not both"
            ));
            return None;
        }
        (None, None) => {
            problems.push(format!(
                "{at}: needs model (a foundation model ID) or imported_model (an imported model's name)"
            ));
            return None;
        }
    };
    let layers = match (&model, &d.layers) {
        (IntentModel::Foundation(_), None) => vec![Layer::InRegion, Layer::Geography, Layer::Global],
        (IntentModel::Imported(_), None) => vec![Layer::InRegion],
        (IntentModel::Imported(_), Some(layers)) if layers.iter().any(|l| *l != Layer::InRegion) => {
            problems.push(format!(
                "{at}.layers: an imported model runs only in its own region; use [in_region] or leave layers out"
            ));
            Vec::new()
        }
        (_, Some(layers)) => layers.clone(),
    };
    if layers.is_empty() && d.layers.as_ref().is_some_and(|l| l.is_empty()) {
        problems.push(format!(
            "{at}.layers: list at least one of in_region, geography, global"
        ));
    }
    let mut shares = Vec::new();
    if d.accounts.is_empty() {
        if file.accounts.is_empty() {
            problems.push(format!(
                "{at}: there are no accounts to discover in; add some under `accounts`"
            ));
        }
        shares.extend(file.accounts.iter().map(|a| AccountShare {
            account: a.name.clone(),
            weight: 1,
        }));
    }
    for (i, a) in d.accounts.iter().enumerate() {
        if !accounts.contains_key(a.name()) {
            problems.push(format!(
                "{at}.accounts[{i}]: unknown account '{}' (known: {})",
                a.name(),
                known(file.accounts.iter().map(|a| a.name.as_str()))
            ));
        }
        if a.weight() == 0 {
            problems.push(format!("{at}.accounts[{i}].weight: must be at least 1"));
        }
        shares.push(AccountShare {
            account: a.name().to_string(),
            weight: a.weight(),
        });
    }
    if problems.len() > before {
        return None;
    }
    Some(ModelIntent {
        intent: Intent {
            model,
            layers,
            accounts: shares,
            regions: d.regions.as_ref().map(|r| r.iter().cloned().collect()),
        },
        rpm: d.rpm,
        tpm: d.tpm,
    })
}

/// Whether `name` can be an imported model's name (botocore's `ImportedModelName`:
/// `([0-9a-zA-Z][_-]?)+`, 1–63 characters).
fn imported_model_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        && !bytes
            .windows(2)
            .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
}

fn check_baseline(
    file: &ConfigFile,
    accounts: &HashMap<String, usize>,
    model_by_name: &HashMap<String, usize>,
    models: &[Model],
    problems: &mut Vec<String>,
) -> Vec<BaselineTarget> {
    let mut out = Vec::new();
    for (geography, targets) in &file.baseline {
        if strata_core::Geography::from_prefix(geography).is_none() {
            problems.push(format!(
                "baseline.{geography}: not a geography (us, eu, apac, jp, au, ca, sa, me, af, us-gov, global)"
            ));
        }
        for (i, t) in targets.iter().enumerate() {
            let at = format!("baseline.{geography}[{i}]");
            let Some(&account) = accounts.get(&t.account) else {
                problems.push(format!(
                    "{at}.account: unknown account '{}' (known: {})",
                    t.account,
                    known(file.accounts.iter().map(|a| a.name.as_str()))
                ));
                continue;
            };
            let foundation = match ModelRef::parse(&t.model) {
                Ok(r) => r.foundation_model_id().map(str::to_string),
                Err(_) => {
                    problems.push(format!(
                        "{at}.model: '{}' is not a Bedrock model ID or inference profile ID",
                        t.model
                    ));
                    continue;
                }
            };
            let serves: Vec<usize> = if t.models.is_empty() {
                models
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| foundation.as_ref().is_some_and(|f| m.foundation_models().contains(f)))
                    .map(|(i, _)| i)
                    .collect()
            } else {
                let mut serves = Vec::new();
                for (mi, name) in t.models.iter().enumerate() {
                    match model_by_name.get(name) {
                        Some(&m) => serves.push(m),
                        None => problems.push(format!("{at}.models[{mi}]: unknown model '{name}'")),
                    }
                }
                serves
            };
            if serves.is_empty() {
                problems.push(format!(
                    "{at}: serves no logical model (no model's base model is '{}'); name them under `models`",
                    t.model
                ));
            }
            out.push(BaselineTarget {
                geography: geography.clone(),
                account,
                region: t.region.clone(),
                model_id: t.model.clone(),
                serves,
            });
        }
    }
    out
}
