//! The Service Quotas API over HTTP, shaped as botocore's `service-quotas` model: JSON 1.1
//! (`POST /`, `X-Amz-Target: ServiceQuotasV20190624.{Operation}`, signed for `servicequotas`),
//! errors as `{"__type", "message"}`.
//!
//! A call goes like a Bedrock control-plane call: SigV4 with the account's credentials →
//! control-plane faults (those without a model scope) → Service Quotas' own (account, region)
//! token bucket under the control-plane settings → the configured delay → the operation. Every
//! call is counted in the stats by operation.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use strata_core::BedrockErrorKind;

use super::{quotas, BedrockQuota, SERVICE_CODE, SERVICE_NAME};
use crate::control_plane::{self, Refusal};
use crate::error::AwsError;
use crate::faults::{Plane, Target};
use crate::identity::{authenticate, Caller, RequestParts};
use crate::reply::DropConnection;
use crate::state::SimState;
use crate::stats::ControlKey;

/// The `X-Amz-Target` prefix of the API.
pub const TARGET_PREFIX: &str = "ServiceQuotasV20190624.";
/// The SigV4 signing name.
pub const SIGNING_NAME: &str = "servicequotas";
/// A page's size when `MaxResults` is not given.
pub const DEFAULT_PAGE: usize = 100;
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Whether a request is a Service Quotas call (by its `X-Amz-Target`).
pub fn is_service_quotas(headers: &http::HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

/// A Service Quotas error: `__type`, `message` and a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl SqError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        SqError {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    fn no_such_resource(message: impl Into<String>) -> Self {
        Self::new("NoSuchResourceException", message)
    }

    fn illegal_argument(message: impl Into<String>) -> Self {
        Self::new("IllegalArgumentException", message)
    }
}

/// Bedrock-shaped errors (authentication, injected faults) in this API's words.
impl From<AwsError> for SqError {
    fn from(e: AwsError) -> Self {
        let code = match e.kind {
            BedrockErrorKind::ThrottlingException => "TooManyRequestsException",
            BedrockErrorKind::InternalServerException => "ServiceException",
            kind => kind.name(),
        };
        SqError {
            code,
            message: e.message,
            status: StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for SqError {
    fn into_response(self) -> Response {
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}

/// The operations served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    ListServiceQuotas,
    GetServiceQuota,
    ListAwsDefaultServiceQuotas,
    GetAwsDefaultServiceQuota,
    ListServices,
}

impl Operation {
    fn from_target(target: &str) -> Option<Operation> {
        Some(match target.strip_prefix(TARGET_PREFIX)? {
            "ListServiceQuotas" => Operation::ListServiceQuotas,
            "GetServiceQuota" => Operation::GetServiceQuota,
            "ListAWSDefaultServiceQuotas" => Operation::ListAwsDefaultServiceQuotas,
            "GetAWSDefaultServiceQuota" => Operation::GetAwsDefaultServiceQuota,
            "ListServices" => Operation::ListServices,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Operation::ListServiceQuotas => "ListServiceQuotas",
            Operation::GetServiceQuota => "GetServiceQuota",
            Operation::ListAwsDefaultServiceQuotas => "ListAWSDefaultServiceQuotas",
            Operation::GetAwsDefaultServiceQuota => "GetAWSDefaultServiceQuota",
            Operation::ListServices => "ListServices",
        }
    }

    /// Whether the answer shows the AWS defaults rather than the account's applied values.
    fn defaults(self) -> bool {
        matches!(
            self,
            Operation::ListAwsDefaultServiceQuotas | Operation::GetAwsDefaultServiceQuota
        )
    }
}

/// The members of the requests this API reads (others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    service_code: Option<String>,
    quota_code: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    quota_applied_at_level: Option<String>,
}

/// Serves one Service Quotas call.
pub async fn handle(state: &SimState, request: &RequestParts<'_>) -> Response {
    let target = request
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bearer = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("Bearer "));
    if bearer {
        // Bedrock API keys are for Bedrock only.
        return SqError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        .into_response();
    }
    let caller = match authenticate(state, request, SIGNING_NAME) {
        Ok(c) => c,
        Err(e) => return SqError::from(e).into_response(),
    };
    let Some(operation) = Operation::from_target(target) else {
        let name = target.chars().take(100).collect::<String>();
        return SqError::new("UnknownOperationException", format!("Unknown operation {name}.")).into_response();
    };
    let fault_target = Target {
        account: caller.account,
        region: &caller.region,
        requested_model: "",
        foundation_model: "",
        plane: Plane::Control,
    };
    let settings = state.control_plane();
    let admitted = control_plane::admit(state, &fault_target, &settings, &state.service_quotas_buckets);
    let delay = control_plane::base_delay(&settings) + control_plane::added_delay(state, &fault_target);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let result = match admitted {
        Ok(()) => answer(state, &caller, operation, request.body),
        Err(Refusal::Error(e)) => Err(SqError::from(e)),
        Err(Refusal::Drop) => {
            count(state, &caller, operation, 0);
            let mut response = Response::new(axum::body::Body::empty());
            response.extensions_mut().insert(DropConnection);
            return response;
        }
    };
    match result {
        Ok(body) => {
            count(state, &caller, operation, 200);
            let mut response = (StatusCode::OK, body.to_string()).into_response();
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(e) => {
            count(state, &caller, operation, e.status.as_u16());
            e.into_response()
        }
    }
}

fn count(state: &SimState, caller: &Caller, operation: Operation, status: u16) {
    state.stats.count_control(ControlKey {
        account: caller.account,
        region: caller.region.clone(),
        operation: operation.name(),
        status,
    });
}

fn answer(state: &SimState, caller: &Caller, operation: Operation, body: &[u8]) -> Result<Value, SqError> {
    let input: Input = if body.iter().all(u8::is_ascii_whitespace) {
        Input::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| SqError::new("SerializationException", format!("The request body is not valid: {e}")))?
    };
    if operation == Operation::ListServices {
        return Ok(json!({"Services": [{"ServiceCode": SERVICE_CODE, "ServiceName": SERVICE_NAME}]}));
    }
    let service = input
        .service_code
        .as_deref()
        .ok_or_else(|| SqError::illegal_argument("ServiceCode is required."))?;
    if service != SERVICE_CODE {
        return Err(SqError::no_such_resource(format!(
            "The request failed because the specified service does not exist: {}.",
            service.chars().take(63).collect::<String>()
        )));
    }
    let fleet = state.fleet();
    let account_id = fleet
        .accounts
        .get(caller.account)
        .map(|a| a.id.as_str().to_string())
        .unwrap_or_default();
    let list = quotas(state, &fleet, caller.account, &caller.region);
    let shape = |q: &BedrockQuota| shape(q, &caller.region, &account_id, operation.defaults());
    match operation {
        Operation::GetServiceQuota | Operation::GetAwsDefaultServiceQuota => {
            let code = input
                .quota_code
                .as_deref()
                .ok_or_else(|| SqError::illegal_argument("QuotaCode is required."))?;
            let quota = list.iter().find(|q| q.code == code).ok_or_else(|| {
                SqError::no_such_resource(format!(
                    "The request failed because the specified quota does not exist: {}.",
                    code.chars().take(128).collect::<String>()
                ))
            })?;
            Ok(json!({"Quota": shape(quota)}))
        }
        _ => {
            if let Some(level) = input.quota_applied_at_level.as_deref() {
                if !["ACCOUNT", "RESOURCE", "ALL"].contains(&level) {
                    return Err(SqError::illegal_argument(
                        "QuotaAppliedAtLevel must be ACCOUNT, RESOURCE or ALL.",
                    ));
                }
                if level == "RESOURCE" {
                    // Bedrock's quotas are all account-level.
                    return Ok(json!({"Quotas": []}));
                }
            }
            let key = ListKey {
                defaults: operation.defaults(),
                account: caller.account,
                region: &caller.region,
            };
            let (start, end) = page(&key, list.len(), input.max_results, input.next_token.as_deref())?;
            let mut out = json!({"Quotas": list[start..end].iter().map(shape).collect::<Vec<_>>()});
            if end < list.len() {
                out["NextToken"] = Value::String(key.token(end));
            }
            Ok(out)
        }
    }
}

/// One quota in the `ServiceQuota` shape.
fn shape(q: &BedrockQuota, region: &str, account_id: &str, defaults: bool) -> Value {
    // AWS's default quotas have no account in their ARN.
    let (arn_account, value) = if defaults {
        ("", q.default_value)
    } else {
        (account_id, q.value)
    };
    json!({
        "ServiceCode": SERVICE_CODE,
        "ServiceName": SERVICE_NAME,
        "QuotaArn": format!("arn:aws:servicequotas:{region}:{arn_account}:{SERVICE_CODE}/{}", q.code),
        "QuotaCode": q.code,
        "QuotaName": q.name,
        "Value": f64::from(value),
        "Unit": "None",
        "Adjustable": true,
        "GlobalQuota": false,
        "Period": {"PeriodValue": 1, "PeriodUnit": "MINUTE"},
    })
}

/// What a pagination token belongs to: a token is good only for the list it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListKey<'a> {
    defaults: bool,
    account: usize,
    region: &'a str,
}

impl ListKey<'_> {
    fn prefix(&self) -> String {
        let list = if self.defaults { "default" } else { "applied" };
        format!("sq1/{list}/{}/{}/", self.account, self.region)
    }

    fn token(&self, offset: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}{offset}", self.prefix()))
    }

    /// The offset a token names, if it is one of this list's tokens.
    fn offset(&self, token: &str) -> Option<usize> {
        let raw = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
        let text = String::from_utf8(raw).ok()?;
        text.strip_prefix(&self.prefix())?.parse().ok()
    }
}

/// The slice `[start, end)` of a list of `len` items a request asks for.
fn page(
    key: &ListKey<'_>,
    len: usize,
    max_results: Option<i64>,
    token: Option<&str>,
) -> Result<(usize, usize), SqError> {
    let size = match max_results {
        None => DEFAULT_PAGE,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(SqError::illegal_argument(format!(
                "MaxResults must be between 1 and 100, got {n}."
            )))
        }
    };
    let start = match token {
        None => 0,
        Some(t) => match key.offset(t) {
            Some(offset) if offset > 0 && offset < len => offset,
            _ => {
                return Err(SqError::new(
                    "InvalidPaginationTokenException",
                    "Invalid pagination token.",
                ))
            }
        },
    };
    Ok((start, (start + size).min(len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: ListKey<'static> = ListKey {
        defaults: false,
        account: 1,
        region: "us-east-1",
    };

    #[test]
    fn pages_cover_the_list_once() {
        let len = 23;
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (start, end) = page(&KEY, len, Some(5), token.as_deref()).expect("page");
            seen.extend(start..end);
            if end >= len {
                break;
            }
            token = Some(KEY.token(end));
        }
        assert_eq!(seen, (0..len).collect::<Vec<_>>());
        assert_eq!(page(&KEY, len, None, None).expect("one page"), (0, len));
    }

    #[test]
    fn tokens_are_base64_and_bound_to_their_list() {
        let token = KEY.token(5);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='));
        let other_account = ListKey { account: 2, ..KEY };
        let other_region = ListKey {
            region: "eu-west-1",
            ..KEY
        };
        let defaults = ListKey { defaults: true, ..KEY };
        for key in [other_account, other_region, defaults] {
            let err = page(&key, 23, None, Some(&token)).expect_err("foreign token");
            assert_eq!(err.code, "InvalidPaginationTokenException");
        }
        for bad in [
            "",
            "!!!",
            "c3ExL2FwcGxpZWQvMS91cy1lYXN0LTEveA==",
            &KEY.token(0),
            &KEY.token(23),
        ] {
            let err = page(&KEY, 23, None, Some(bad)).expect_err(bad);
            assert_eq!(err.code, "InvalidPaginationTokenException", "{bad}");
        }
    }

    #[test]
    fn max_results_is_checked() {
        for n in [0, 101, -1] {
            let err = page(&KEY, 23, Some(n), None).expect_err("out of range");
            assert_eq!(err.code, "IllegalArgumentException");
        }
        assert_eq!(page(&KEY, 23, Some(100), None).expect("max"), (0, 23));
    }

    #[test]
    fn bedrock_errors_keep_their_status_and_get_this_apis_names() {
        let e = SqError::from(AwsError::rate_exceeded());
        assert_eq!(e.code, "TooManyRequestsException");
        assert_eq!(e.status.as_u16(), 429);
        let e = SqError::from(AwsError::new(
            BedrockErrorKind::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        ));
        assert_eq!(e.code, "UnrecognizedClientException");
    }
}
