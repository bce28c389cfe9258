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
    /// Pooled client for OpenAI-compatible providers.
    pub http: reqwest::Client,
    /// (base URL, API key) per provider, indexed like `config.providers`.
    pub providers: Vec<(String, Option<String>)>,
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
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| SetupError::Client(openai_error(ErrorClass::Connect, None, e.to_string())))?;
        let providers = config
            .providers
            .iter()
            .map(|p| (p.base_url.trim_end_matches('/').to_string(), p.api_key.clone()))
            .collect();
        Ok(Upstreams {
            bedrock: BedrockRuntime::new(endpoints).map_err(SetupError::Client)?,
            http,
            providers,
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
    /// Calls an OpenAI-compatible provider's `/chat/completions` with an OpenAI request.
    pub async fn call_openai(
        &self,
        provider: usize,
        request: &serde_json::Value,
        timeout: Duration,
    ) -> Result<crate::request::execute::Answer, UpstreamError> {
        use futures::StreamExt;
        let Some((base, key)) = self.providers.get(provider) else {
            return Err(denied(format!("provider #{provider} is not configured")));
        };
        let stream = request
            .get("stream")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let mut call = self.http.post(format!("{base}/chat/completions")).json(request);
        if let Some(key) = key {
            call = call.bearer_auth(key);
        }
        if !stream {
            call = call.timeout(timeout);
        }
        let response = match tokio::time::timeout(timeout, call.send()).await {
            Err(_) => {
                return Err(openai_error(
                    ErrorClass::Timeout,
                    None,
                    format!("no answer from {base} within {timeout:?}"),
                ))
            }
            Ok(Err(e)) if e.is_timeout() => return Err(openai_error(ErrorClass::Timeout, None, e.to_string())),
            Ok(Err(e)) => return Err(openai_error(ErrorClass::Connect, None, e.to_string())),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status != 200 {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let message = body
                .pointer("/error/message")
                .and_then(|m| m.as_str())
                .unwrap_or("upstream error")
                .to_string();
            return Err(openai_error(ErrorClass::of_status(status), Some(status), message));
        }
        if stream {
            let rest = response
                .bytes_stream()
                .map(|c| c.map_err(|e| openai_error(ErrorClass::Connect, Some(200), e.to_string())))
                .boxed();
            Ok(crate::request::execute::Answer::OpenAiStream { rest })
        } else {
            let body = response
                .bytes()
                .await
                .map_err(|e| openai_error(ErrorClass::Connect, Some(200), e.to_string()))?;
            Ok(crate::request::execute::Answer::OpenAiComplete { body })
        }
    }
}

fn openai_error(class: ErrorClass, status: Option<u16>, message: String) -> UpstreamError {
    UpstreamError {
        class,
        kind: None,
        status,
        message,
        retry_after: None,
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
