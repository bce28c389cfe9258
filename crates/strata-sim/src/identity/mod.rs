//! Who is calling: the account (from the access key, a session token or a Bedrock API key) and
//! the region (from the SigV4 credential scope).

pub mod sigv4;
pub mod sts;

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use strata_core::BedrockErrorKind;

use crate::error::AwsError;
use crate::state::SimState;

/// Requests dated further than this from now are refused, as AWS does.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Index of the account in the fleet.
    pub account: usize,
    pub region: String,
    /// The ARN STS reports for this caller.
    pub arn: String,
    pub access_key_id: Option<String>,
}

/// Temporary credentials issued by AssumeRole.
#[derive(Debug, Clone)]
pub struct SessionCredentials {
    pub secret_access_key: String,
    pub session_token: String,
    pub account: usize,
    pub expires: SystemTime,
    pub assumed_role_arn: String,
}

/// The parts of a request that authentication reads.
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// A region named by a `/region/{region}` path prefix.
    pub path_region: Option<&'a str>,
}

fn err(kind: BedrockErrorKind, message: &str) -> AwsError {
    AwsError::new(kind, message)
}

/// Authenticates a request signed with SigV4 or carrying a Bedrock API key.
pub fn authenticate(state: &SimState, req: &RequestParts<'_>, service: &str) -> Result<Caller, AwsError> {
    let Some(auth) = req.headers.get("authorization") else {
        return Err(err(
            BedrockErrorKind::MissingAuthenticationTokenException,
            "Missing Authentication Token",
        ));
    };
    let Ok(auth) = auth.to_str() else {
        return Err(err(
            BedrockErrorKind::IncompleteSignatureException,
            "Authorization header is not valid ASCII.",
        ));
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return authenticate_bearer(state, token.trim(), req.headers, req.path_region);
    }
    let header = sigv4::parse_authorization(auth).map_err(|e| match e {
        sigv4::HeaderError::Incomplete => err(BedrockErrorKind::IncompleteSignatureException, &e.to_string()),
        sigv4::HeaderError::NotSigV4 => err(
            BedrockErrorKind::IncompleteSignatureException,
            &format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={}",
                auth.chars().take(64).collect::<String>()
            ),
        ),
    })?;
    if header.service != service {
        return Err(err(
            BedrockErrorKind::InvalidSignatureException,
            &format!("Credential should be scoped to correct service: '{service}'."),
        ));
    }
    let fleet = state.fleet();
    let (secret, session_token, account, arn) =
        if let Some(account) = fleet.account_by_access_key(&header.access_key_id) {
            let a = &fleet.accounts[account];
            (
                a.secret_access_key.clone(),
                None,
                account,
                format!("arn:aws:iam::{}:root", a.id),
            )
        } else if let Some(session) = state.session(&header.access_key_id) {
            let sent = req.headers.get("x-amz-security-token").and_then(|v| v.to_str().ok());
            if sent != Some(session.session_token.as_str()) {
                return Err(err(
                    BedrockErrorKind::UnrecognizedClientException,
                    "The security token included in the request is invalid.",
                ));
            }
            if session.expires < SystemTime::now() {
                return Err(err(
                    BedrockErrorKind::ExpiredTokenException,
                    "The security token included in the request is expired",
                ));
            }
            (
                session.secret_access_key,
                Some(session.session_token),
                session.account,
                session.assumed_role_arn,
            )
        } else {
            return Err(err(
                BedrockErrorKind::UnrecognizedClientException,
                "The security token included in the request is invalid.",
            ));
        };
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(time) = sigv4::parse_amz_date(amz_date) else {
        return Err(err(
            BedrockErrorKind::IncompleteSignatureException,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    if !amz_date.starts_with(&header.date) {
        return Err(err(
            BedrockErrorKind::InvalidSignatureException,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
        ));
    }
    let now = SystemTime::now();
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(err(
            BedrockErrorKind::InvalidSignatureException,
            &format!("Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes of the current time."),
        ));
    }
    let input = sigv4::VerifyInput {
        method: req.method,
        path_and_query: req.path_and_query,
        headers: req.headers,
        body: req.body,
        header: &header,
        secret_access_key: &secret,
        session_token: session_token.as_deref(),
        time,
    };
    let expected = sigv4::expected_signature(&input).unwrap_or_default();
    if !sigv4::signatures_match(&expected, &header.signature) {
        return Err(err(
            BedrockErrorKind::InvalidSignatureException,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    if !fleet.has_region(&header.region) && service != "sts" {
        return Err(err(
            BedrockErrorKind::UnrecognizedClientException,
            &format!("The region '{}' is not served by this emulated fleet.", header.region),
        ));
    }
    Ok(Caller {
        account,
        region: header.region,
        arn,
        access_key_id: Some(header.access_key_id),
    })
}

fn authenticate_bearer(
    state: &SimState,
    token: &str,
    headers: &HeaderMap,
    path_region: Option<&str>,
) -> Result<Caller, AwsError> {
    let fleet = state.fleet();
    let Some(account) = fleet.account_by_token(token) else {
        return Err(err(
            BedrockErrorKind::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        ));
    };
    let a = &fleet.accounts[account];
    let from_host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(':').next())
        .and_then(|h| {
            h.strip_prefix("bedrock-runtime.")
                .or_else(|| h.strip_prefix("bedrock."))
        })
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .map(str::to_string);
    let from_header = headers
        .get("x-strata-region")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let from_key = a
        .api_keys
        .iter()
        .find(|k| k.token == token)
        .and_then(|k| k.region.as_ref())
        .map(|r| r.to_string());
    let region = path_region
        .map(str::to_string)
        .or(from_host)
        .or(from_header)
        .or(from_key)
        .unwrap_or_else(|| "us-east-1".to_string());
    if !fleet.has_region(&region) {
        return Err(err(
            BedrockErrorKind::UnrecognizedClientException,
            &format!("The region '{region}' is not served by this emulated fleet."),
        ));
    }
    Ok(Caller {
        account,
        region,
        arn: format!("arn:aws:iam::{}:user/BedrockAPIKey", a.id),
        access_key_id: None,
    })
}
