//! The fleet file's shapes, as written (every key checked): accounts, models, profiles,
//! quotas, the runtime latency model, and the built-in catalog's file. Checking that they hold
//! together is `Fleet::from_file`'s job, not this module's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_core::{AccountId, Region};

use super::{ControlPlaneSpec, CustomModelSettings, FleetError, ImportedModelSeed};

/// The fleet file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<Region>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<ModelSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Vec<ProfileSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<AccountSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<QuotaDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneSpec>,
    /// Guardrails that exist from the start (in the built-in fleet: one demo blocklist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<Vec<GuardrailSeed>>,
    /// Custom Model Import models that exist from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_models: Option<Vec<ImportedModelSeed>>,
    /// How imported models behave (cold start, copies, latency, time scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_models: Option<CustomModelSettings>,
    /// Each region's capacity for cross-region (profile) traffic: how many calls of a model it
    /// runs at once before it counts as full, and so its share of a profile's calls. Regions
    /// not named get `fleet::DEFAULT_REGION_CAPACITY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_capacity: Option<BTreeMap<Region, u32>>,
}

/// A guardrail the emulator starts with, created in each listed account × region (each with
/// its own ID, as AWS would give, unless `id` fixes one) with `versions` numbered versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailSeed {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Numbered versions to create (each a copy of the draft); 0 leaves only `DRAFT`.
    #[serde(default = "one")]
    pub versions: u32,
    #[serde(default)]
    pub blocked_words: Vec<String>,
    /// Block the built-in profanity list.
    #[serde(default)]
    pub profanity: bool,
    #[serde(default)]
    pub denied_topics: Vec<TopicSeed>,
    pub blocked_input_messaging: String,
    pub blocked_outputs_messaging: String,
    /// Account names; empty means every account.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Regions; empty means every fleet region.
    #[serde(default)]
    pub regions: Vec<Region>,
}

/// A denied topic of a seeded guardrail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSeed {
    pub name: String,
    pub definition: String,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// The shape of the built-in catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogFile {
    pub(crate) regions: Vec<Region>,
    pub(crate) models: Vec<ModelSpec>,
    pub(crate) profiles: Vec<ProfileSpec>,
}

impl CatalogFile {
    /// The built-in catalog.
    pub(crate) fn builtin() -> Result<CatalogFile, FleetError> {
        serde_json::from_str(super::DEFAULT_CATALOG).map_err(|e| FleetError::Parse {
            path: "<built-in catalog>".into(),
            message: e.to_string(),
        })
    }
}

/// The request/response dialect of a model's InvokeModel body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyDialect {
    Anthropic,
    Nova,
    Llama,
    Mistral,
    /// Amazon Titan Text Embeddings (`inputText` → `embedding`).
    #[serde(rename = "titan-embed")]
    TitanEmbed,
    /// Cohere Embed v3 (`texts` → `embeddings`).
    #[serde(rename = "cohere-embed")]
    CohereEmbed,
    /// Imported Qwen: Bedrock's completion body (`prompt` → `generation`, as Llama) or OpenAI's
    /// chat-completion body (`messages` → `choices`).
    Qwen,
}

impl BodyDialect {
    /// An embedding model: InvokeModel only, no Converse and no streaming.
    pub fn embeds(self) -> bool {
        matches!(self, BodyDialect::TitanEmbed | BodyDialect::CohereEmbed)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub body: BodyDialect,
    #[serde(default = "text_only")]
    pub input_modalities: Vec<String>,
    #[serde(default = "text_only")]
    pub output_modalities: Vec<String>,
    #[serde(default = "yes")]
    pub streaming: bool,
    #[serde(default = "active")]
    pub lifecycle: String,
    #[serde(default = "one")]
    pub output_token_weight: u32,
    /// Every region the model runs in, in-region or as a profile destination.
    pub hosted_in: Vec<Region>,
    /// Regions where the plain model ID may be called on demand.
    #[serde(default)]
    pub on_demand_in: Vec<Region>,
}

fn text_only() -> Vec<String> {
    vec!["TEXT".to_string()]
}
fn yes() -> bool {
    true
}
fn active() -> String {
    "ACTIVE".to_string()
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub model: String,
    /// Regions the profile may be called from; defaults to its destinations.
    #[serde(default)]
    pub sources: Vec<Region>,
    pub destinations: Vec<Region>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    pub id: AccountId,
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub api_keys: Vec<ApiKeySpec>,
    /// Regions enabled for the account; empty means every fleet region.
    #[serde(default)]
    pub regions: Vec<Region>,
    /// (model, region) pairs the account has no access to.
    #[serde(default)]
    pub denied: Vec<DeniedSpec>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    #[serde(default)]
    pub quotas: Vec<QuotaOverride>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeniedSpec {
    pub model: String,
    pub region: Region,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: String,
    /// Account IDs allowed to assume the role; `*` for any fleet account.
    #[serde(default)]
    pub trusted: Vec<String>,
}

/// A quota for matching (model, region); `*` matches any.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverride {
    #[serde(default = "star")]
    pub model: String,
    #[serde(default = "star")]
    pub region: String,
    pub rpm: u32,
    pub tpm: u32,
}

fn star() -> String {
    "*".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub rpm: u32,
    pub tpm: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaDefaults {
    pub on_demand: Quota,
    pub cross_region: Quota,
}

impl Default for QuotaDefaults {
    fn default() -> Self {
        QuotaDefaults {
            on_demand: Quota { rpm: 400, tpm: 800_000 },
            cross_region: Quota {
                rpm: 800,
                tpm: 1_600_000,
            },
        }
    }
}

/// The latency model: time to first token, then a token rate, each scaled by ±jitter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    pub ttft_ms: u64,
    /// Tokens per second after the first; 0 means no pacing.
    pub tokens_per_second: u32,
    #[serde(default)]
    pub jitter: f64,
}

impl LatencySpec {
    pub const ZERO: LatencySpec = LatencySpec {
        ttft_ms: 0,
        tokens_per_second: 0,
        jitter: 0.0,
    };
}

impl Default for LatencySpec {
    fn default() -> Self {
        LatencySpec {
            ttft_ms: 250,
            tokens_per_second: 150,
            jitter: 0.2,
        }
    }
}
