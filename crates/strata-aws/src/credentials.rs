//! Credentials per AWS account: the standard chain, a named profile, static keys, or
//! AssumeRole into the account (with session tokens) on top of any of those. Credentials are
//! cached until five minutes before they expire, and refreshed by one caller at a time.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};

/// Refresh credentials this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Where an account's credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialSource {
    /// The standard chain: environment, shared profile, SSO, web identity, container, IMDS.
    Default,
    /// Fixed keys (from config, usually via `${ENV}` interpolation).
    Static {
        access_key_id: String,
        secret_access_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<String>,
    },
    /// A named profile of the shared config and credentials files.
    Profile { name: String },
    /// STS AssumeRole into the account, starting from `source` (the standard chain by default).
    AssumeRole {
        role_arn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Box<CredentialSource>>,
    },
}

/// Credentials could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    #[error("no credentials found in the default chain (environment, profile, SSO, web identity, container, IMDS)")]
    NoDefault,
    #[error("credentials provider failed: {0}")]
    Provider(String),
}

/// Settings shared by every account's credentials.
#[derive(Debug, Clone, Default)]
pub struct CredentialSettings {
    /// Region for STS calls.
    pub region: Option<String>,
    /// STS endpoint override (the emulator serves STS on its one address).
    pub sts_endpoint: Option<String>,
}

/// One account's credentials with their cache.
#[derive(Debug)]
pub struct AccountCredentials {
    provider: SharedCredentialsProvider,
    cached: parking_lot::RwLock<Option<Credentials>>,
    refresh: tokio::sync::Mutex<()>,
}

impl AccountCredentials {
    /// Builds the provider for a source. Nothing is fetched until [`Self::get`].
    pub async fn new(source: &CredentialSource, settings: &CredentialSettings) -> Result<Self, CredentialsError> {
        let provider = provider_for(source, settings).await?;
        Ok(AccountCredentials::from_provider(provider))
    }

    /// Wraps any provider (tests, custom chains).
    pub fn from_provider(provider: SharedCredentialsProvider) -> Self {
        AccountCredentials {
            provider,
            cached: parking_lot::RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The underlying provider (for SDK clients, which keep their own cache).
    pub fn provider(&self) -> SharedCredentialsProvider {
        self.provider.clone()
    }

    /// Current credentials, fetched or refreshed when needed.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| CredentialsError::Provider(crate::error_chain(&e)))?;
        *self.cached.write() = Some(credentials.clone());
        Ok(credentials)
    }

    /// Drops the cached credentials (after the upstream refused them).
    pub fn invalidate(&self) {
        *self.cached.write() = None;
    }

    fn fresh(&self) -> Option<Credentials> {
        let cached = self.cached.read();
        let c = cached.as_ref()?;
        match c.expiry() {
            Some(expiry) if expiry <= SystemTime::now() + REFRESH_MARGIN => None,
            _ => Some(c.clone()),
        }
    }
}

async fn base_loader(settings: &CredentialSettings) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.sts_endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader
}

fn provider_for<'a>(
    source: &'a CredentialSource,
    settings: &'a CredentialSettings,
) -> futures::future::BoxFuture<'a, Result<SharedCredentialsProvider, CredentialsError>> {
    Box::pin(async move {
        match source {
            CredentialSource::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => Ok(SharedCredentialsProvider::new(Credentials::new(
                access_key_id,
                secret_access_key,
                session_token.clone(),
                None,
                "strata-static",
            ))),
            CredentialSource::Profile { name } => Ok(SharedCredentialsProvider::new(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(name)
                    .build(),
            )),
            CredentialSource::Default => {
                let config = base_loader(settings).await.load().await;
                config.credentials_provider().ok_or(CredentialsError::NoDefault)
            }
            CredentialSource::AssumeRole {
                role_arn,
                external_id,
                session_name,
                source,
            } => {
                let base = match source {
                    Some(s) => provider_for(s, settings).await?,
                    None => provider_for(&CredentialSource::Default, settings).await?,
                };
                let config = base_loader(settings).await.credentials_provider(base).load().await;
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                    .session_name(session_name.clone().unwrap_or_else(|| "strata-gateway".to_string()))
                    .configure(&config);
                if let Some(id) = external_id {
                    builder = builder.external_id(id.clone());
                }
                Ok(SharedCredentialsProvider::new(builder.build().await))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_credentials_are_served_from_cache() {
        let source = CredentialSource::Static {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        };
        let creds = AccountCredentials::new(&source, &CredentialSettings::default())
            .await
            .unwrap();
        let a = creds.get().await.unwrap();
        assert_eq!(a.access_key_id(), "AKID");
        assert!(creds.fresh().is_some());
        creds.invalidate();
        assert!(creds.fresh().is_none());
    }

    #[test]
    fn sources_read_from_config_shapes() {
        let s: CredentialSource = serde_json::from_str(
            r#"{"type":"assume_role","role_arn":"arn:aws:iam::111111111111:role/R","source":{"type":"profile","name":"hub"}}"#,
        )
        .unwrap();
        assert!(matches!(s, CredentialSource::AssumeRole { source: Some(_), .. }));
        assert!(serde_json::from_str::<CredentialSource>(r#"{"type":"static","access_key_id":"a"}"#).is_err());
    }
}
