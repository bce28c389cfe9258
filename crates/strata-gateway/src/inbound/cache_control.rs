//! `cache_control`, as Anthropic spells a prompt-cache mark (and as OpenAI-style clients send it
//! for Claude): a Converse `cachePoint` after the marked block. Shared by the dialects that
//! accept it.

use serde::Deserialize;
use serde_json::{json, Value};

/// `cache_control: {"type": "ephemeral", "ttl": "5m" | "1h"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheControl {
    #[serde(rename = "type")]
    pub kind: CacheKind,
    #[serde(default)]
    pub ttl: Option<CacheTtl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    Ephemeral,
}

/// Bedrock's `CacheTTL`: five minutes (the default) or an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CacheTtl {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheControl {
    /// The Converse `cachePoint` block's value for this mark.
    pub fn cache_point(&self) -> Value {
        match self.ttl {
            None => json!({"type": "default"}),
            Some(CacheTtl::FiveMinutes) => json!({"type": "default", "ttl": "5m"}),
            Some(CacheTtl::OneHour) => json!({"type": "default", "ttl": "1h"}),
        }
    }
}
