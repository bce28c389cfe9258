//! Guardrail calls for a gateway that guards upstreams itself: `ApplyGuardrail` (runtime) and
//! `ListGuardrails` (control plane, to find a guardrail's ID in an account and region). Signed
//! with `aws-sigv4` like any other call; rare enough that the general signer is fine.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::runtime::{classify_error, invalid, timeout_error, BedrockRuntime, UpstreamError};
use crate::signing::{sign_headers, Scope};

/// Characters escaped in a path label or query value.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl BedrockRuntime {
    /// `POST /guardrail/{id}/version/{version}/apply` with an `ApplyGuardrailRequest` body;
    /// the `ApplyGuardrailResponse` body.
    pub async fn apply_guardrail(
        &self,
        region: &str,
        identifier: &str,
        version: &str,
        body: Bytes,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let url = format!(
            "{}/guardrail/{}/version/{}/apply",
            self.endpoints.runtime(region),
            utf8_percent_encode(identifier, LABEL),
            utf8_percent_encode(version, LABEL)
        );
        self.signed_json("POST", &url, region, body, credentials, timeout).await
    }

    /// One page of `ListGuardrails` (every guardrail's DRAFT, or with `identifier` every
    /// version of that one); the `ListGuardrailsResponse` body.
    pub async fn list_guardrails(
        &self,
        region: &str,
        identifier: Option<&str>,
        next_token: Option<&str>,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let mut url = format!("{}/guardrails?maxResults=1000", self.endpoints.control(region));
        if let Some(id) = identifier {
            url.push_str("&guardrailIdentifier=");
            url.extend(utf8_percent_encode(id, LABEL));
        }
        if let Some(token) = next_token {
            url.push_str("&nextToken=");
            url.extend(utf8_percent_encode(token, LABEL));
        }
        self.signed_json("GET", &url, region, Bytes::new(), credentials, timeout)
            .await
    }

    async fn signed_json(
        &self,
        method: &str,
        url: &str,
        region: &str,
        body: Bytes,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let uri = http::Uri::try_from(url).map_err(|e| invalid(format!("bad endpoint URL {url}: {e}")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| invalid(format!("bad endpoint URL {url}")))?;
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&host).map_err(|e| invalid(e.to_string()))?,
        );
        if method == "POST" {
            headers.insert("content-type", HeaderValue::from_static("application/json"));
        }
        let scope = Scope {
            region,
            service: "bedrock",
        };
        sign_headers(method, url, &mut headers, &body, credentials, scope, SystemTime::now())
            .map_err(|e| invalid(e.to_string()))?;
        headers.remove(http::header::HOST);
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::from_bytes(method.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let exchange = async {
            let (head, body) = self
                .deliver(request, crate::transport::Exchange::Complete)
                .await?
                .into_parts();
            let body = crate::runtime::whole_body(body).await?;
            if head.status != http::StatusCode::OK {
                return Err(classify_error(head.status.as_u16(), &head.headers, &body));
            }
            Ok(body)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(timeout_error(format!("no answer from {url} within {timeout:?}"))),
        }
    }
}
