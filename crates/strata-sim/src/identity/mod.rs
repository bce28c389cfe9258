//! Who is calling: the account (from the access key, a session token or a Bedrock API key) and
//! the region (from the SigV4 credential scope).

pub mod sts;

use std::time::SystemTime;

use http::{HeaderMap, Uri};
use strata_aws::verify;
use strata_core::BedrockErrorKind;

use crate::error::AwsError;
use crate::state::SimState;

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
    /// The URI as received (path and query still percent-encoded).
    pub uri: &'a Uri,
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
    let header = verify::parse_authorization(auth).map_err(|e| match e {
        verify::HeaderError::Incomplete => err(BedrockErrorKind::IncompleteSignatureException, &e.to_string()),
        verify::HeaderError::NotSigV4 => err(
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
    let signature_error = |e: verify::VerifyError| {
        let kind = if e.is_incomplete() {
            BedrockErrorKind::IncompleteSignatureException
        } else {
            BedrockErrorKind::InvalidSignatureException
        };
        err(kind, &e.to_string())
    };
    let time = header
        .signing_time(req.headers, SystemTime::now())
        .map_err(signature_error)?;
    let request = verify::SignedRequest {
        method: req.method,
        uri: req.uri,
        headers: req.headers,
    };
    header
        .verify(
            &request,
            req.body,
            &verify::SecretKey::new(secret),
            session_token.as_deref(),
            time,
        )
        .map_err(signature_error)?;
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
