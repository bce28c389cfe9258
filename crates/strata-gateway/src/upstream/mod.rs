//! Upstream clients: the Bedrock runtime (signed with each account's credentials) and, later,
//! OpenAI-compatible servers. Built once at start-up from the config.

use std::time::Duration;

use strata_aws::credentials::CredentialSettings;
use strata_aws::{AccountCredentials, BedrockRuntime, Endpoints, RuntimeAnswer, RuntimeCall, UpstreamError};
use strata_core::ErrorClass;

use crate::config::Config;

/// Upstream set-up failed (bad endpoint, credentials source that cannot be built).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("account '{account}': {source}")]
    Credentials {
        account: String,
        source: strata_aws::CredentialsError,
    },
    #[error("Bedrock client: {0}")]
    Client(UpstreamError),
}

/// Every upstream the gateway can call.
#[derive(Debug)]
pub struct Upstreams {
    pub bedrock: BedrockRuntime,
    /// Indexed like `config.file.accounts`.
    pub accounts: Vec<AccountCredentials>,
}

impl Upstreams {
    pub async fn build(config: &Config) -> Result<Self, SetupError> {
        let aws = &config.file.aws;
        let endpoints = match &aws.endpoint_url {
            Some(url) => Endpoints::with_override(url.clone()),
            None => Endpoints::aws(),
        };
        let settings = CredentialSettings {
            region: aws
                .region
                .as_ref()
                .map(|r| r.to_string())
                .or_else(|| Some("us-east-1".to_string())),
            sts_endpoint: aws.sts_endpoint.clone().or_else(|| aws.endpoint_url.clone()),
        };
        let mut accounts = Vec::with_capacity(config.file.accounts.len());
        for account in &config.file.accounts {
            let creds = AccountCredentials::new(&account.credentials, &settings)
                .await
                .map_err(|source| SetupError::Credentials {
                    account: account.name.clone(),
                    source,
                })?;
            accounts.push(creds);
        }
        Ok(Upstreams {
            bedrock: BedrockRuntime::new(endpoints).map_err(SetupError::Client)?,
            accounts,
        })
    }

    /// Calls Bedrock with the account's current credentials.
    pub async fn call_bedrock(&self, account: usize, call: RuntimeCall<'_>) -> Result<RuntimeAnswer, UpstreamError> {
        let Some(creds) = self.accounts.get(account) else {
            return Err(denied(format!("account #{account} is not configured")));
        };
        let credentials = creds.get().await.map_err(|e| denied(e.to_string()))?;
        let result = self.bedrock.send(call, &credentials).await;
        if let Err(e) = &result {
            if matches!(
                e.kind,
                Some(
                    strata_core::BedrockErrorKind::ExpiredTokenException
                        | strata_core::BedrockErrorKind::UnrecognizedClientException
                )
            ) {
                creds.invalidate();
            }
        }
        result
    }
}

fn denied(message: String) -> UpstreamError {
    UpstreamError {
        class: ErrorClass::Denied,
        kind: None,
        status: None,
        message,
        retry_after: None,
    }
}

/// The time left before a deadline, never zero (a zero timeout would fail instantly and hide
/// the real cause).
pub fn remaining(deadline: std::time::Instant) -> Duration {
    deadline
        .saturating_duration_since(std::time::Instant::now())
        .max(Duration::from_millis(1))
}
