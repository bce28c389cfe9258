//! Gateway configuration: read YAML (with `${ENV}` interpolation), deny unknown keys with file
//! and line, then validate every cross-reference once into a [`Config`] the hot path can trust.

pub mod access_log;
pub mod endpoint;
pub mod file;
pub mod guardrail;
pub mod interpolate;
pub mod quota;
mod server;
pub mod telemetry;
pub mod tenant;
mod validate;

use std::path::Path;

pub use endpoint::{Endpoint, RequestKind};
pub use file::ConfigFile;
pub use guardrail::Guardrail;
pub use quota::{QuotaConfig, QuotaOverride};
pub use server::{ServerSettings, TlsListener};
pub use telemetry::TracesSettings;
pub use tenant::{KeyHash, SigV4Key, Tenant, TenantKey, TenantLimits};
pub use validate::{known, Account, AwsSettings, BaselineTarget, Config, Deployment, Model, ModelIntent, Target};
pub use validate::{Sections, DEFAULT_USAGE_QUEUE, IN_MEMORY_DATABASE};

/// A config that cannot be used, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Interpolate {
        path: String,
        source: interpolate::InterpolationError,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {problems}", problems = .problems.join("\n  "))]
    Invalid { path: String, problems: Vec<String> },
}

/// Reads, interpolates, parses and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut config = from_text(&text, &shown, |name| std::env::var(name).ok())?;
    // Usage records are kept beside the config unless the config says where.
    if config.usage_database_url.is_none() {
        let mut db = path.as_os_str().to_owned();
        db.push(".usage.db");
        config.usage_database_url = Some(format!("sqlite:{}", Path::new(&db).display()));
    }
    // The catalog is cached beside the config unless the config says where (or says not to).
    let discovery = &mut config.discovery;
    if discovery.persist && discovery.cache_file.is_none() {
        let mut cache = path.as_os_str().to_owned();
        cache.push(".catalog.json");
        discovery.cache_file = Some(cache.into());
    }
    Ok(config)
}

/// Like [`load`] for text already in memory; `lookup` resolves `${NAME}`.
pub fn from_text(text: &str, shown_path: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = interpolate::interpolate(text, lookup).map_err(|source| ConfigError::Interpolate {
        path: shown_path.to_string(),
        source,
    })?;
    let file: ConfigFile = serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
        path: shown_path.to_string(),
        message: e.to_string(),
    })?;
    Config::validate(file).map_err(|problems| ConfigError::Invalid {
        path: shown_path.to_string(),
        problems,
    })
}

#[cfg(test)]
mod tests;
