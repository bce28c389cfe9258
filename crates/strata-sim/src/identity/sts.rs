//! STS in the query protocol: AssumeRole (temporary credentials into another fleet account)
//! and GetCallerIdentity.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::distr::{Alphanumeric, SampleString};
use strata_core::BedrockErrorKind;

use super::{authenticate, Caller, RequestParts, SessionCredentials};
use crate::error::{xml_escape, AwsError, StsError};
use crate::state::SimState;
use strata_http::new_request_id;

/// Serves `POST /` (or `GET /?Action=…`) for STS.
pub fn handle(state: &SimState, req: &RequestParts<'_>, params: &[(String, String)]) -> Response {
    let caller = match authenticate(state, req, "sts") {
        Ok(c) => c,
        Err(e) => return sts_auth_error(e).into_response(),
    };
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match get("Action") {
        Some("AssumeRole") => match assume_role(
            state,
            &caller,
            get("RoleArn"),
            get("RoleSessionName"),
            get("DurationSeconds"),
        ) {
            Ok(xml) => xml_response(xml),
            Err(e) => e.into_response(),
        },
        Some("GetCallerIdentity") => {
            let account = state.fleet().accounts[caller.account].id.as_str().to_string();
            let user_id = caller.access_key_id.clone().unwrap_or_else(|| "BEARER".to_string());
            xml_response(format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{account}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                xml_escape(&caller.arn),
                xml_escape(&user_id),
                new_request_id()
            ))
        }
        Some(other) => StsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!(
                "Could not find operation {} for version 2011-06-15",
                other.chars().take(64).collect::<String>()
            ),
        )
        .into_response(),
        None => StsError::new(StatusCode::BAD_REQUEST, "MissingAction", "Missing Action").into_response(),
    }
}

fn sts_auth_error(e: AwsError) -> StsError {
    let (status, code) = match e.kind {
        BedrockErrorKind::UnrecognizedClientException => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
        BedrockErrorKind::InvalidSignatureException => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
        BedrockErrorKind::ExpiredTokenException => (StatusCode::BAD_REQUEST, "ExpiredToken"),
        BedrockErrorKind::MissingAuthenticationTokenException => (StatusCode::FORBIDDEN, "MissingAuthenticationToken"),
        _ => (StatusCode::BAD_REQUEST, "IncompleteSignature"),
    };
    StsError::new(status, code, e.message)
}

fn xml_response(xml: String) -> Response {
    let mut response = xml.into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    response
}

fn validation(message: impl Into<String>) -> StsError {
    StsError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

fn assume_role(
    state: &SimState,
    caller: &Caller,
    role_arn: Option<&str>,
    session_name: Option<&str>,
    duration: Option<&str>,
) -> Result<String, StsError> {
    let role_arn = role_arn.ok_or_else(|| validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))?;
    let session_name = session_name
        .ok_or_else(|| validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"))?;
    if session_name.len() < 2
        || session_name.len() > 64
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_=,.@-".contains(c))
    {
        return Err(validation(
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ));
    }
    let duration = match duration {
        None => 3600,
        Some(raw) => match raw.parse::<u64>() {
            Ok(d) if (900..=43_200).contains(&d) => d,
            _ => {
                return Err(validation(format!(
                    "The requested DurationSeconds '{raw}' is outside the allowed range of 900 to 43200."
                )))
            }
        },
    };
    let fleet = state.fleet();
    let denied = || {
        StsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ),
        )
    };
    let rest = role_arn
        .strip_prefix("arn:aws:iam::")
        .ok_or_else(|| validation(format!("{role_arn} is invalid")))?;
    let (account_id, role_name) = rest
        .split_once(":role/")
        .ok_or_else(|| validation(format!("{role_arn} is invalid")))?;
    let target = fleet
        .account_by_id_or_name(account_id)
        .filter(|&i| fleet.accounts[i].id.as_str() == account_id)
        .ok_or_else(denied)?;
    let role = fleet.accounts[target]
        .roles
        .iter()
        .find(|r| r.name == role_name)
        .ok_or_else(denied)?;
    let caller_id = fleet.accounts[caller.account].id.as_str();
    if !role.trusted.iter().any(|t| t == "*" || t == caller_id) {
        return Err(denied());
    }
    let mut rng = rand::rng();
    let access_key_id = format!("ASIA{}", Alphanumeric.sample_string(&mut rng, 16).to_ascii_uppercase());
    let secret = Alphanumeric.sample_string(&mut rng, 40);
    let token = format!("FwoGZXIvYXdzE{}", Alphanumeric.sample_string(&mut rng, 180));
    let expires = SystemTime::now() + Duration::from_secs(duration);
    let assumed_arn = format!("arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}");
    state.add_session(
        access_key_id.clone(),
        SessionCredentials {
            secret_access_key: secret.clone(),
            session_token: token.clone(),
            account: target,
            expires,
            assumed_role_arn: assumed_arn.clone(),
        },
    );
    let role_id = format!("AROA{}", &access_key_id[4..]);
    Ok(format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>{role_id}:{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{access_key_id}</AccessKeyId>\n      <SecretAccessKey>{secret}</SecretAccessKey>\n      <SessionToken>{token}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        xml_escape(session_name),
        xml_escape(&assumed_arn),
        iso8601(expires),
        new_request_id()
    ))
}

/// Formats a time as `2025-01-02T03:04:05Z`.
pub fn iso8601(time: SystemTime) -> String {
    let (y, m, d, h, mi, sec) = strata_core::clock::utc_parts(time);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn formats_iso8601() {
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_440_938_160)),
            "2015-08-30T12:36:00Z"
        );
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
