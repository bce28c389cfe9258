//! AWS-shaped errors: `x-amzn-ErrorType` + `{"message": …}` for Bedrock, XML for STS.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_core::BedrockErrorKind;

/// A Bedrock error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct AwsError {
    pub kind: BedrockErrorKind,
    pub message: String,
}

impl AwsError {
    pub fn new(kind: BedrockErrorKind, message: impl Into<String>) -> Self {
        AwsError {
            kind,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(BedrockErrorKind::ValidationException, message)
    }

    pub fn throttled() -> Self {
        Self::new(
            BedrockErrorKind::ThrottlingException,
            "Too many requests, please wait before trying again.",
        )
    }

    pub fn invalid_model_id() -> Self {
        Self::validation("The provided model identifier is invalid.")
    }

    pub fn no_access() -> Self {
        Self::new(
            BedrockErrorKind::AccessDeniedException,
            "You don't have access to the model with the specified model ID.",
        )
    }

    /// An injected failure of this kind, with AWS's usual message for it.
    pub fn injected(kind: BedrockErrorKind) -> Self {
        Self::new(kind, injected_message(kind))
    }

    /// A control-plane rate limit, as the service words it.
    pub fn rate_exceeded() -> Self {
        Self::new(BedrockErrorKind::ThrottlingException, "Rate exceeded")
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The JSON body `{"message": …}`.
    pub fn body_json(&self) -> String {
        serde_json::json!({ "message": self.message }).to_string()
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.body_json()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.kind.name()));
        response
    }
}

/// The message AWS sends with an error of this kind when nothing more specific applies.
pub fn injected_message(kind: BedrockErrorKind) -> &'static str {
    match kind {
        BedrockErrorKind::ThrottlingException => "Too many requests, please wait before trying again.",
        BedrockErrorKind::ModelNotReadyException => {
            "Model is not ready for inference. Wait and try your request again."
        }
        BedrockErrorKind::ServiceUnavailableException => {
            "The service is temporarily unable to handle the request. Please try again later."
        }
        BedrockErrorKind::ModelTimeoutException => {
            "Model has timed out in processing the request. Try your request again."
        }
        BedrockErrorKind::AccessDeniedException => "You don't have access to the model with the specified model ID.",
        BedrockErrorKind::ValidationException => "The provided model identifier is invalid.",
        BedrockErrorKind::ServiceQuotaExceededException => "Your request exceeded the service quota for your account.",
        BedrockErrorKind::ModelErrorException => "The model returned an error while processing the request.",
        _ => "The server encountered an internal error while processing the request.",
    }
}

/// An STS error answer (query protocol: XML body, HTTP status).
#[derive(Debug, Clone)]
pub struct StsError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl StsError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        StsError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for StsError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            self.code,
            xml_escape(&self.message),
            strata_http::new_request_id()
        );
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/xml"));
        response
    }
}

/// Escapes text for an XML element.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
