//! The Bedrock runtime client: signed calls to Converse, ConverseStream, InvokeModel,
//! InvokeModelWithResponseStream and CountTokens over one pooled keep-alive HTTP client, with every failure
//! classified once by its structured error type.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures::future::Either;
use futures::stream::BoxStream;
use futures::{Future, FutureExt, StreamExt, TryFutureExt};
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyDataStream, BodyExt, Full};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use strata_core::{BedrockErrorKind, ErrorClass};

use crate::endpoint::Endpoints;
use crate::fast_signing::{sign_fixed, FixedRequest, SigningKeyCache};
use crate::signing::Scope;
use crate::transport::{Body, Exchange, HttpClient, Protocol};

// Built once: a name outside the standard set given as a `&str` is copied at every insert.
const X_AMZ_DATE: http::HeaderName = http::HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: http::HeaderName = http::HeaderName::from_static("x-amz-security-token");
/// Characters escaped in the `{modelId}` path label, as the SDKs do (`:` and `/` included).
const LABEL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A runtime operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeOperation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
    /// `CountTokens`: the input tokens a Converse or InvokeModel input would use (no generation).
    CountTokens,
}

impl RuntimeOperation {
    /// The path suffix after `/model/{id}/`.
    pub fn action(self) -> &'static str {
        match self {
            RuntimeOperation::Converse => "converse",
            RuntimeOperation::ConverseStream => "converse-stream",
            RuntimeOperation::InvokeModel => "invoke",
            RuntimeOperation::InvokeModelWithResponseStream => "invoke-with-response-stream",
            RuntimeOperation::CountTokens => "count-tokens",
        }
    }

    /// The operation a Bedrock-native path names. Only generating operations: `count-tokens` is
    /// called by the gateway (Anthropic's count_tokens), not yet relayed for Bedrock clients.
    pub fn from_action(action: &str) -> Option<Self> {
        Some(match action {
            "converse" => RuntimeOperation::Converse,
            "converse-stream" => RuntimeOperation::ConverseStream,
            "invoke" => RuntimeOperation::InvokeModel,
            "invoke-with-response-stream" => RuntimeOperation::InvokeModelWithResponseStream,
            "count-tokens" => RuntimeOperation::CountTokens,
            _ => return None,
        })
    }

    pub fn streams(self) -> bool {
        matches!(
            self,
            RuntimeOperation::ConverseStream | RuntimeOperation::InvokeModelWithResponseStream
        )
    }
}

/// A failed upstream call, classified.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{class:?} from Bedrock ({}): {message}", kind.map(|k| k.name()).unwrap_or("no error type"))]
pub struct UpstreamError {
    pub class: ErrorClass,
    /// The Bedrock error type, when the upstream sent one.
    pub kind: Option<BedrockErrorKind>,
    pub status: Option<u16>,
    pub message: String,
    /// From a `retry-after` header.
    pub retry_after: Option<Duration>,
}

impl UpstreamError {
    /// A failure of the given class that carried no Bedrock error type (a transport failure,
    /// or one found by the caller rather than answered by the upstream).
    pub fn new(class: ErrorClass, status: Option<u16>, message: impl Into<String>) -> Self {
        UpstreamError {
            class,
            kind: None,
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn connect(message: String) -> Self {
        Self::new(ErrorClass::Connect, None, message)
    }
}

/// A call to make.
#[derive(Debug, Clone)]
pub struct RuntimeCall<'a> {
    pub region: &'a str,
    /// Model ID, profile ID or ARN, not yet percent-encoded.
    pub model_id: &'a str,
    pub operation: RuntimeOperation,
    pub body: Bytes,
    /// For InvokeModel: the body's content type and the accepted answer type.
    pub content_type: Option<&'a str>,
    pub accept: Option<&'a str>,
    /// More headers to sign and send (lowercase names), such as InvokeModel's
    /// `x-amzn-bedrock-guardrailidentifier`.
    pub extra_headers: &'a [(&'a str, &'a str)],
    /// Total time allowed for the answer's head (and whole body, when not streaming).
    pub timeout: Duration,
}

/// A successful answer.
pub enum RuntimeAnswer {
    /// The whole body (Converse, InvokeModel).
    Complete { headers: HeaderMap, body: Bytes },
    /// An event stream, relayed as it arrives.
    Stream {
        headers: HeaderMap,
        body: BoxStream<'static, Result<Bytes, UpstreamError>>,
    },
}

impl std::fmt::Debug for RuntimeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeAnswer::Complete { body, .. } => write!(f, "Complete({} bytes)", body.len()),
            RuntimeAnswer::Stream { .. } => f.write_str("Stream"),
        }
    }
}

/// The pooled runtime client.
#[derive(Debug, Clone)]
pub struct BedrockRuntime {
    pub(crate) http: HttpClient,
    pub(crate) endpoints: Endpoints,
    signing_keys: Arc<SigningKeyCache>,
}

impl BedrockRuntime {
    pub fn new(endpoints: Endpoints, protocol: Protocol) -> Result<Self, UpstreamError> {
        let http = crate::transport::http_client(protocol)
            .map_err(|e| UpstreamError::connect(format!("cannot build the HTTP client: {e}")))?;
        Ok(BedrockRuntime {
            http,
            endpoints,
            signing_keys: Arc::default(),
        })
    }

    /// The URL of a call.
    pub fn url(&self, region: &str, model_id: &str, operation: RuntimeOperation) -> String {
        let mut url = String::with_capacity(96 + model_id.len());
        self.endpoints.push_runtime(region, &mut url);
        url.push_str("/model/");
        url.extend(utf8_percent_encode(model_id, LABEL));
        url.push('/');
        url.push_str(operation.action());
        url
    }

    /// Sends a signed request.
    pub(crate) fn deliver(
        &self,
        request: http::Request<Full<Bytes>>,
        exchange: Exchange,
    ) -> impl Future<Output = Result<http::Response<Body>, UpstreamError>> + Send + '_ {
        deliver(&self.http, request, exchange)
    }

    /// Signs and sends a call.
    ///
    /// The request is signed and built before the future that sends it, and that future is
    /// made of combinators around the transport's: what it holds, it holds for as long as the
    /// call waits on its answer (a stream's first event may take seconds), per call in flight.
    /// Built inside an `async fn`, the signing's locals and a copy of the request at each layer
    /// stayed in it (3.3 KiB, `-Zprint-type-sizes`).
    pub fn send(
        &self,
        call: RuntimeCall<'_>,
        credentials: &Credentials,
    ) -> impl Future<Output = Result<RuntimeAnswer, UpstreamError>> + Send + '_ {
        let timeout = call.timeout;
        let streams = call.operation.streams();
        let (request, url) = match self.signed(call, credentials) {
            Ok(built) => built,
            Err(e) => return Either::Left(std::future::ready(Err(e))),
        };
        let kind = if streams { Exchange::Stream } else { Exchange::Complete };
        // A stream's deadline covers its head only; a complete answer's, the whole body.
        let exchange = self
            .deliver(request, kind)
            .and_then(move |response| answer(response, streams));
        Either::Right(tokio::time::timeout(timeout, exchange).map(move |answer| match answer {
            Ok(answer) => answer,
            Err(_) => Err(timeout_error(format!("no answer from {url} within {timeout:?}"))),
        }))
    }

    /// A call's request, signed, and its URL.
    fn signed(
        &self,
        call: RuntimeCall<'_>,
        credentials: &Credentials,
    ) -> Result<(http::Request<Full<Bytes>>, String), UpstreamError> {
        let url = self.url(call.region, call.model_id, call.operation);
        let content_type = call.content_type.unwrap_or("application/json");
        let host = url_host(&url).ok_or_else(|| invalid(format!("bad endpoint URL {url}")))?;
        let path = url_path(&url);
        let mut to_sign: Vec<(&str, &str)> = vec![("content-type", content_type)];
        if let Some(accept) = call.accept {
            to_sign.push(("accept", accept));
        }
        to_sign.extend_from_slice(call.extra_headers);
        let fixed = FixedRequest {
            method: "POST",
            host,
            path,
            headers: &to_sign,
            body: &call.body,
        };
        let scope = Scope {
            region: call.region,
            service: "bedrock",
        };
        let signature = sign_fixed(&fixed, credentials, scope, SystemTime::now(), &self.signing_keys);
        let mut headers = HeaderMap::with_capacity(6);
        for (name, value) in &to_sign {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            headers.insert(name, HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?);
        }
        let header = |v: &str| HeaderValue::from_str(v).map_err(|e| invalid(e.to_string()));
        // Taken as it is (its capacity is its length): no copy.
        let mut authorization =
            HeaderValue::from_maybe_shared(Bytes::from(signature.authorization)).map_err(|e| invalid(e.to_string()))?;
        authorization.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, authorization);
        headers.insert(X_AMZ_DATE, header(signature.amz_date.as_str())?);
        if let Some(token) = credentials.session_token() {
            let mut token = header(token)?;
            token.set_sensitive(true);
            headers.insert(X_AMZ_SECURITY_TOKEN, token);
        }
        let uri = http::Uri::try_from(url.as_str()).map_err(|e| invalid(format!("bad endpoint URL {url}: {e}")))?;
        let mut request = http::Request::new(Full::new(call.body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok((request, url))
    }
}

/// A runtime call's answer from the response's head: an error classified, a stream relayed as it
/// arrives, a complete answer's body read whole.
async fn answer(response: http::Response<Body>, streams: bool) -> Result<RuntimeAnswer, UpstreamError> {
    let (head, body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        let body = error_body(body).await;
        return Err(classify_error(head.status.as_u16(), &head.headers, &body));
    }
    if streams {
        Ok(RuntimeAnswer::Stream {
            headers: head.headers,
            body: chunks(body),
        })
    } else {
        let body = whole_body(body).await?;
        Ok(RuntimeAnswer::Complete {
            headers: head.headers,
            body,
        })
    }
}

/// Sends a request over the pooled client (any upstream: Bedrock, an OpenAI-compatible server);
/// a transport failure is a timeout or a connection error.
/// (The transport's future mapped, not awaited in one more layer: see [`BedrockRuntime::send`].)
pub fn deliver<'a>(
    http: &'a HttpClient,
    request: http::Request<Full<Bytes>>,
    exchange: Exchange,
) -> impl Future<Output = Result<http::Response<Body>, UpstreamError>> + Send + 'a {
    http.request(request, exchange).map_err(|e| {
        if e.is_timeout() {
            timeout_error(e.to_string())
        } else {
            UpstreamError::connect(crate::error_chain(e.source_error()))
        }
    })
}

/// A streamed answer's body as chunks, those already read joined into one write
/// ([`crate::coalesce`]); a body that breaks is a connection error.
pub fn chunks(body: Body) -> BoxStream<'static, Result<Bytes, UpstreamError>> {
    crate::coalesce::coalesce(
        BodyDataStream::new(body)
            .map(|chunk| {
                chunk.map_err(|e| {
                    UpstreamError::connect(format!("stream broke: {}", crate::error_chain(e.source_error())))
                })
            })
            .boxed(),
    )
}

/// A complete answer's body; one that breaks is a connection error.
pub async fn whole_body(body: Body) -> Result<Bytes, UpstreamError> {
    Ok(body
        .collect()
        .await
        .map_err(|e| UpstreamError::connect(crate::error_chain(e.source_error())))?
        .to_bytes())
}

/// An error answer's body, for its message (empty when it cannot be read).
pub async fn error_body(body: Body) -> Bytes {
    body.collect().await.map(|b| b.to_bytes()).unwrap_or_default()
}

pub(crate) fn timeout_error(message: String) -> UpstreamError {
    UpstreamError::new(ErrorClass::Timeout, None, message)
}

pub(crate) fn invalid(message: String) -> UpstreamError {
    UpstreamError::new(ErrorClass::Invalid, None, message)
}

/// The path of a URL (everything after the authority).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Classifies an error answer by its `x-amzn-ErrorType` (the structured code), falling back to
/// the status only when no type was sent. Message text is never used for the decision.
pub fn classify_error(status: u16, headers: &HeaderMap, body: &[u8]) -> UpstreamError {
    let kind = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .and_then(BedrockErrorKind::from_name)
        .or_else(|| {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("__type")
                        .and_then(|t| t.as_str())
                        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                })
                .and_then(|t| BedrockErrorKind::from_name(&t))
        });
    let class = kind
        .map(ErrorClass::of_bedrock)
        .unwrap_or_else(|| ErrorClass::of_status(status));
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned());
    UpstreamError {
        class,
        kind,
        status: Some(status),
        message,
        retry_after: retry_after(headers),
    }
}

/// The wait a `retry-after` header asks for, in seconds (at most an hour).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_encoded_like_the_sdks_do() {
        let rt = BedrockRuntime::new(Endpoints::with_override("http://127.0.0.1:4566"), Protocol::Http1).unwrap();
        assert_eq!(
            rt.url(
                "eu-west-1",
                "eu.anthropic.claude-sonnet-4-20250514-v1:0",
                RuntimeOperation::ConverseStream
            ),
            "http://127.0.0.1:4566/model/eu.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
        );
        assert_eq!(
            rt.url(
                "us-east-1",
                "arn:aws:bedrock:us-east-1:111111111111:imported-model/abc",
                RuntimeOperation::InvokeModel
            ),
            "http://127.0.0.1:4566/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111111111111%3Aimported-model%2Fabc/invoke"
        );
    }

    #[test]
    fn errors_are_classified_by_type_not_text() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("ThrottlingException:http://internal.amazon.com/"),
        );
        headers.insert("retry-after", HeaderValue::from_static("2"));
        let e = classify_error(400, &headers, br#"{"message":"validation failed"}"#);
        assert_eq!(e.class, ErrorClass::Throttled);
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(e.message, "validation failed");
        let e = classify_error(503, &HeaderMap::new(), b"oops");
        assert_eq!((e.class, e.kind), (ErrorClass::Unavailable, None));
        let e = classify_error(
            400,
            &HeaderMap::new(),
            br#"{"__type":"com.amazon#ModelNotReadyException","message":"x"}"#,
        );
        assert_eq!(e.class, ErrorClass::ColdStart);
    }
}
