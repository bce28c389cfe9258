//! Verifying SigV4-signed requests (the inbound side; [`crate::signing`] is the outbound one),
//! shared by the gateway and the emulator. A signature is checked by signing the request again
//! with `aws-sigv4` over exactly the headers the client listed in `SignedHeaders` and comparing
//! in constant time; nothing of the request is rewritten first (the path is taken as received,
//! still percent-encoded, and encoded once more as AWS does for every service but S3).
//!
//! The steps, in the order a server can take them:
//! 1. [`parse_authorization`]: the `Authorization` header → [`Authorization`] (who, which scope);
//! 2. the caller looks up the secret of [`Authorization::access_key_id`];
//! 3. [`Authorization::signing_time`]: `X-Amz-Date` against the scope's day and the clock
//!    ([`MAX_CLOCK_SKEW`] either way) — headers only, so before the body is read;
//! 4. [`Authorization::verify`]: the signature over method, path, query, the signed headers and
//!    the payload hash (the body's SHA-256; a signed `x-amz-content-sha256` must equal it).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, Uri};
use sha2::{Digest, Sha256};

/// How far a request's `X-Amz-Date` may be from the server's clock, either way (AWS's limit).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The scheme name that starts a SigV4 `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Whether an `Authorization` header value claims to be SigV4 (well-formed or not).
pub fn is_sigv4(value: &str) -> bool {
    value.starts_with("AWS4-")
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// The scope's day, `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase header names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// 64 lowercase hex digits.
    pub signature: String,
}

/// Why an `Authorization` header could not be read (AWS answers `IncompleteSignatureException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.")]
    Incomplete,
    #[error("Unsupported Authorization Type: only AWS4-HMAC-SHA256 is accepted.")]
    NotSigV4,
}

/// Reads `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<Authorization, HeaderError> {
    let rest = value.strip_prefix(ALGORITHM).ok_or(HeaderError::NotSigV4)?;
    // The scheme name is a whole word: `AWS4-HMAC-SHA256X …` is another scheme.
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return Err(HeaderError::NotSigV4);
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let slot = if let Some(v) = part.strip_prefix("Credential=") {
            (&mut credential, v)
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            (&mut signed, v)
        } else if let Some(v) = part.strip_prefix("Signature=") {
            (&mut signature, v)
        } else {
            continue;
        };
        // A parameter given twice is ambiguous: which one did the client mean?
        if slot.0.replace(slot.1).is_some() {
            return Err(HeaderError::Incomplete);
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(HeaderError::Incomplete);
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(HeaderError::Incomplete);
    };
    if terminator != "aws4_request" || scope.iter().any(|s| s.is_empty()) {
        return Err(HeaderError::Incomplete);
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::Incomplete);
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HeaderError::Incomplete);
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(HeaderError::Incomplete);
    }
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// A secret access key: the one credential a verifier must hold in clear (HMAC needs it).
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(std::sync::Arc<str>);

impl SecretKey {
    pub fn new(secret: impl Into<std::sync::Arc<str>>) -> Self {
        SecretKey(secret.into())
    }

    /// The secret itself, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(** redacted **)")
    }
}

/// Read from a config as the secret itself (usually `${ENV}`-interpolated).
impl<'de> serde::Deserialize<'de> for SecretKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretKey::new)
    }
}

/// Never written out: a config serialized for display shows the secret redacted.
impl serde::Serialize for SecretKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("** redacted **")
    }
}

/// Why a signature is refused. The messages are AWS's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No (readable) `X-Amz-Date`: AWS answers `IncompleteSignatureException`.
    #[error("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")]
    MissingDate,
    #[error("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")]
    ScopeDate,
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - 15 min.)")]
    Expired {
        signed: String,
        earliest: String,
        now: String,
    },
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)")]
    NotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    /// A signed `x-amz-content-sha256` that is not the body's hash (the body was changed, or
    /// the payload was left unsigned).
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHash,
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    Mismatch,
}

impl VerifyError {
    /// Whether AWS calls this an incomplete signature (else an invalid one).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, VerifyError::MissingDate)
    }
}

/// The request a signature covers, exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Its path and query as sent (still percent-encoded); its authority stands in for a
    /// missing `host` header (HTTP/2 sends `:authority` instead).
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

impl Authorization {
    /// When the request was signed: its `X-Amz-Date`, which must fall on the scope's day and
    /// within [`MAX_CLOCK_SKEW`] of `now`. Reads headers only.
    pub fn signing_time(&self, headers: &HeaderMap, now: SystemTime) -> Result<SystemTime, VerifyError> {
        let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).unwrap_or("");
        let time = parse_amz_date(amz_date).ok_or(VerifyError::MissingDate)?;
        if !amz_date.starts_with(&self.date) {
            return Err(VerifyError::ScopeDate);
        }
        if let Ok(behind) = now.duration_since(time) {
            if behind > MAX_CLOCK_SKEW {
                return Err(VerifyError::Expired {
                    signed: amz_date.to_string(),
                    earliest: format_amz_date(now - MAX_CLOCK_SKEW),
                    now: format_amz_date(now),
                });
            }
        } else if time.duration_since(now).unwrap_or_default() > MAX_CLOCK_SKEW {
            return Err(VerifyError::NotYetCurrent {
                signed: amz_date.to_string(),
                latest: format_amz_date(now + MAX_CLOCK_SKEW),
                now: format_amz_date(now),
            });
        }
        Ok(time)
    }

    /// Checks the signature of `request` with `body`, signed at `time` (from
    /// [`Self::signing_time`]) with `secret` (and `session_token` for temporary credentials).
    pub fn verify(
        &self,
        request: &SignedRequest<'_>,
        body: &[u8],
        secret: &SecretKey,
        session_token: Option<&str>,
        time: SystemTime,
    ) -> Result<(), VerifyError> {
        let body_hash = hex(&Sha256::digest(body));
        if self.signs("x-amz-content-sha256") {
            let claimed = request
                .headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if claimed != body_hash {
                return Err(VerifyError::PayloadHash);
            }
        }
        let expected = self
            .expected_signature(request, body_hash, secret, session_token, time)
            .unwrap_or_default();
        if signatures_match(&expected, &self.signature) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn signs(&self, header: &str) -> bool {
        self.signed_headers.iter().any(|h| h == header)
    }

    /// The signature the client should have sent; `None` when the request cannot be signed at
    /// all (a signed header missing or unreadable), which is a mismatch too.
    fn expected_signature(
        &self,
        request: &SignedRequest<'_>,
        body_hash: String,
        secret: &SecretKey,
        session_token: Option<&str>,
        time: SystemTime,
    ) -> Option<String> {
        let authority = request.uri.authority().map(|a| a.as_str());
        let mut signed: Vec<(&str, &str)> = Vec::with_capacity(self.signed_headers.len());
        for name in &self.signed_headers {
            let mut found = false;
            for value in request.headers.get_all(name.as_str()) {
                signed.push((name.as_str(), value.to_str().ok()?));
                found = true;
            }
            if !found {
                match (name.as_str(), authority) {
                    ("host", Some(a)) => signed.push(("host", a)),
                    _ => return None,
                }
            }
        }
        // `aws-sigv4` reads the host from the URI only when `host` is not signed, and then the
        // signed-header lists differ anyway; a fixed authority keeps a client's `Host` out of
        // URI parsing.
        let path_and_query = request.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("http://localhost{path_and_query}");
        let request = SignableRequest::new(
            request.method,
            url,
            signed.into_iter(),
            SignableBody::Precomputed(body_hash),
        )
        .ok()?;
        let identity: Identity = Credentials::new(
            &self.access_key_id,
            secret.expose(),
            session_token.map(str::to_string),
            None,
            "sigv4-verify",
        )
        .into();
        let mut settings = SigningSettings::default();
        // Every header the client signed counts, `user-agent` included.
        settings.excluded_headers = None;
        settings.percent_encoding_mode = if self.service == "s3" {
            PercentEncodingMode::Single
        } else {
            PercentEncodingMode::Double
        };
        if !self.signs("x-amz-security-token") {
            settings.session_token_mode = SessionTokenMode::Exclude;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(settings)
            .build()
            .ok()?
            .into();
        let output = sign(request, &params).ok()?;
        Some(output.signature().to_string())
    }
}

/// Compares two signatures without an early exit.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Parses an `X-Amz-Date` value (`20250102T030405Z`).
pub fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = value.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 || y < 1970 {
        return None;
    }
    let days = strata_core::clock::days_from_civil(y as i64, mo as i64, d as i64);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Writes a time as `X-Amz-Date` does (`20250102T030405Z`, UTC, whole seconds).
pub fn format_amz_date(time: SystemTime) -> String {
    let (y, m, d, h, mi, s) = strata_core::clock::utc_parts(time);
    format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests;
