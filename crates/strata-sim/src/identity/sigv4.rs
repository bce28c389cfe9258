//! Verifies SigV4-signed requests by signing them again with `aws-sigv4` over exactly the headers
//! the client listed in `SignedHeaders`, and comparing signatures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Header {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.")]
    Incomplete,
    #[error("Authorization header is not a SigV4 header")]
    NotSigV4,
}

/// Reads `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<SigV4Header, HeaderError> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256").ok_or(HeaderError::NotSigV4)?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (credential, signed, signature) = match (credential, signed, signature) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => return Err(HeaderError::Incomplete),
    };
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" || scope.iter().any(|s| s.is_empty()) {
        return Err(HeaderError::Incomplete);
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) || signed.is_empty() {
        return Err(HeaderError::Incomplete);
    }
    Ok(SigV4Header {
        access_key_id: scope[0].to_string(),
        date: scope[1].to_string(),
        region: scope[2].to_string(),
        service: scope[3].to_string(),
        signed_headers: signed.split(';').map(|h| h.to_ascii_lowercase()).collect(),
        signature: signature.to_ascii_lowercase(),
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
    let days = days_from_civil(y as i64, mo as i64, d as i64);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What is needed to recompute a signature.
pub struct VerifyInput<'a> {
    pub method: &'a str,
    /// Path and query exactly as received (still percent-encoded).
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub header: &'a SigV4Header,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub time: SystemTime,
}

/// Recomputes the signature the client should have sent. `None` when the request cannot be
/// signed at all (for instance a signed header that is missing), which is a mismatch too.
pub fn expected_signature(input: &VerifyInput<'_>) -> Option<String> {
    let host = input
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let uri = format!("http://{host}{}", input.path_and_query);
    let mut signed: Vec<(&str, &str)> = Vec::with_capacity(input.header.signed_headers.len());
    for name in &input.header.signed_headers {
        let mut found = false;
        for value in input.headers.get_all(name.as_str()) {
            signed.push((name.as_str(), value.to_str().ok()?));
            found = true;
        }
        if !found {
            return None;
        }
    }
    let body = match input.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(hash) if input.header.signed_headers.iter().any(|h| h == "x-amz-content-sha256") => {
            SignableBody::Precomputed(hash.to_string())
        }
        _ => SignableBody::Bytes(input.body),
    };
    let request = SignableRequest::new(input.method, uri, signed.into_iter(), body).ok()?;
    let identity: Identity = Credentials::new(
        &input.header.access_key_id,
        input.secret_access_key,
        input.session_token.map(str::to_string),
        None,
        "strata-sim",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    settings.percent_encoding_mode = if input.header.service == "s3" {
        PercentEncodingMode::Single
    } else {
        PercentEncodingMode::Double
    };
    if !input.header.signed_headers.iter().any(|h| h == "x-amz-security-token") {
        settings.session_token_mode = aws_sigv4::http_request::SessionTokenMode::Exclude;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&input.header.region)
        .name(&input.header.service)
        .time(input.time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let output = sign(request, &params).ok()?;
    Some(output.signature().to_string())
}

/// Compares two signatures without an early exit.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_botocore_header() {
        let h = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.service, "bedrock");
        assert_eq!(h.signed_headers, vec!["content-type", "host", "x-amz-date"]);
        for bad in [
            "",
            "Bearer x",
            "AWS4-HMAC-SHA256 Credential=a/b/c",
            "AWS4-HMAC-SHA256 Credential=A/2/r/s/aws4_request, SignedHeaders=host, Signature=zz",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amz_dates() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_440_938_160);
        for bad in [
            "",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "2015083xT123600Z",
            "20150830T1236ééZ",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn verifies_what_aws_sigv4_signed_and_rejects_a_changed_body() {
        let time = parse_amz_date("20250102T030405Z").unwrap();
        let identity: Identity = Credentials::new("AKIDEXAMPLE", "secret", None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("bedrock")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let body = br#"{"messages":[]}"#;
        let req = SignableRequest::new(
            "POST",
            "http://localhost:4566/model/us.amazon.nova-pro-v1%3A0/converse",
            [("content-type", "application/json"), ("host", "localhost:4566")].into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let signature = sign(req, &params).unwrap().signature().to_string();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("host", "localhost:4566".parse().unwrap());
        headers.insert("x-amz-date", "20250102T030405Z".parse().unwrap());
        let header = SigV4Header {
            access_key_id: "AKIDEXAMPLE".into(),
            date: "20250102".into(),
            region: "eu-west-1".into(),
            service: "bedrock".into(),
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into()],
            signature: signature.clone(),
        };
        let mut input = VerifyInput {
            method: "POST",
            path_and_query: "/model/us.amazon.nova-pro-v1%3A0/converse",
            headers: &headers,
            body,
            header: &header,
            secret_access_key: "secret",
            session_token: None,
            time,
        };
        assert_eq!(expected_signature(&input).as_deref(), Some(signature.as_str()));
        input.body = b"{}";
        assert_ne!(expected_signature(&input).as_deref(), Some(signature.as_str()));
        assert!(signatures_match("abc", "abc") && !signatures_match("abc", "abd"));
    }
}
