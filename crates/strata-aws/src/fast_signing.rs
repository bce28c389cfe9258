//! SigV4 for the gateway's own fixed-shape requests, without the general path's per-request
//! costs: the signing key is derived once per (key, day, region, service) and the canonical
//! request is written straight from the few headers we send. `aws-sigv4` still derives the key
//! and computes the HMAC; a property test checks every signature equals `aws-sigv4`'s own.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::signing::Scope;

/// The headers a signature adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub authorization: String,
    pub amz_date: String,
    pub security_token: Option<String>,
}

/// Derived signing keys, by (access key, secret, day, region, service): the secret is part of
/// the key so a rotated secret under the same access key ID never signs with a stale key.
#[derive(Debug, Default)]
pub struct SigningKeyCache {
    keys: Mutex<HashMap<KeyId, Vec<u8>>>,
}

type KeyId = (String, String, String, String, String);

/// Entries kept before the cache starts over (days roll, credentials rotate).
const MAX_CACHED_KEYS: usize = 1024;

impl SigningKeyCache {
    fn key(&self, credentials: &Credentials, day: &str, scope: Scope<'_>, time: SystemTime) -> Vec<u8> {
        let id = (
            credentials.access_key_id().to_string(),
            credentials.secret_access_key().to_string(),
            day.to_string(),
            scope.region.to_string(),
            scope.service.to_string(),
        );
        if let Some(k) = self.keys.lock().get(&id) {
            return k.clone();
        }
        let derived = generate_signing_key(credentials.secret_access_key(), time, scope.region, scope.service)
            .as_ref()
            .to_vec();
        let mut keys = self.keys.lock();
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(id, derived.clone());
        derived
    }
}

/// A request to sign: `path` is already percent-encoded as sent; `headers` are lowercase names
/// with their values, not including `host`, `x-amz-date` or `x-amz-security-token`.
#[derive(Debug, Clone, Copy)]
pub struct FixedRequest<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Lowercase hex, by table: `write!("{:02x}")` per byte was a visible share of the profile.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// `20250102T030405Z` and `20250102` for a time.
pub fn amz_date(time: SystemTime) -> (String, String) {
    use strata_core::clock::push_digits;
    let (y, m, d, h, mi, sec) = strata_core::clock::utc_parts(time);
    let mut date = String::with_capacity(16);
    push_digits(&mut date, y.unsigned_abs(), 4);
    push_digits(&mut date, m.unsigned_abs(), 2);
    push_digits(&mut date, d.unsigned_abs(), 2);
    let day = date.clone();
    date.push('T');
    for part in [h, mi, sec] {
        push_digits(&mut date, part, 2);
    }
    date.push('Z');
    (date, day)
}

/// URI-encodes the already-encoded path once more, as SigV4 does for every service but S3.
fn canonical_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 16);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Signs a request.
pub fn sign_fixed(
    request: &FixedRequest<'_>,
    credentials: &Credentials,
    scope: Scope<'_>,
    time: SystemTime,
    cache: &SigningKeyCache,
) -> Signature {
    let (amz_date, day) = amz_date(time);
    let token = credentials.session_token();
    let mut headers: Vec<(&str, String)> = request
        .headers
        .iter()
        .map(|(n, v)| (*n, v.trim().to_string()))
        .collect();
    headers.push(("host", request.host.to_string()));
    headers.push(("x-amz-date", amz_date.clone()));
    if let Some(t) = token {
        headers.push(("x-amz-security-token", t.to_string()));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let signed: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    let signed = signed.join(";");
    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(&canonical_uri(request.path));
    canonical.push_str("\n\n");
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(&hex(&Sha256::digest(request.body)));
    // Written piece by piece: the three format! calls these were cost ~1,000 instructions each.
    let credential_scope = [day.as_str(), "/", scope.region, "/", scope.service, "/aws4_request"].concat();
    let string_to_sign = [
        "AWS4-HMAC-SHA256\n",
        &amz_date,
        "\n",
        &credential_scope,
        "\n",
        &hex(&Sha256::digest(canonical.as_bytes())),
    ]
    .concat();
    let key = cache.key(credentials, &day, scope, time);
    let signature = calculate_signature(&key, string_to_sign.as_bytes());
    Signature {
        authorization: [
            "AWS4-HMAC-SHA256 Credential=",
            credentials.access_key_id(),
            "/",
            &credential_scope,
            ", SignedHeaders=",
            &signed,
            ", Signature=",
            &signature,
        ]
        .concat(),
        amz_date,
        security_token: token.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn reference(request: &FixedRequest<'_>, creds: &Credentials, scope: Scope<'_>, time: SystemTime) -> String {
        let mut headers = HeaderMap::new();
        for (n, v) in request.headers {
            headers.insert(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        headers.insert("host", HeaderValue::from_str(request.host).unwrap());
        let url = format!("http://{}{}", request.host, request.path);
        crate::signing::sign_headers(request.method, &url, &mut headers, request.body, creds, scope, time).unwrap();
        headers.get("authorization").unwrap().to_str().unwrap().to_string()
    }

    #[test]
    fn a_rotated_secret_never_signs_with_the_old_key() {
        let cache = SigningKeyCache::default();
        let request = FixedRequest {
            method: "POST",
            host: "h",
            path: "/model/a.b/converse",
            headers: &[],
            body: b"{}",
        };
        let scope = Scope {
            region: "us-east-1",
            service: "bedrock",
        };
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let old = sign_fixed(
            &request,
            &Credentials::new("AKID", "old", None, None, "t"),
            scope,
            time,
            &cache,
        );
        let new = sign_fixed(
            &request,
            &Credentials::new("AKID", "new", None, None, "t"),
            scope,
            time,
            &cache,
        );
        assert_ne!(old.authorization, new.authorization);
    }

    proptest! {
        #[test]
        fn signatures_equal_aws_sigv4(
            model in "[a-z]{2,6}\\.[a-z0-9.:-]{1,30}",
            body in prop::collection::vec(any::<u8>(), 0..300),
            region in prop::sample::select(vec!["us-east-1", "eu-west-1", "ap-southeast-4"]),
            token in proptest::option::of("[A-Za-z0-9/+=]{10,40}"),
            secs in 1_600_000_000u64..1_900_000_000,
            accept in proptest::option::of(Just("application/json")),
        ) {
            let encoded: String = percent_encoding::utf8_percent_encode(&model, percent_encoding::NON_ALPHANUMERIC).to_string();
            let path = format!("/model/{encoded}/converse");
            let mut headers = vec![("content-type", "application/json")];
            if let Some(a) = accept { headers.push(("accept", a)); }
            let request = FixedRequest { method: "POST", host: "127.0.0.1:4566", path: &path, headers: &headers, body: &body };
            let creds = Credentials::new("AKIDEXAMPLE", "secret/key+x", token, None, "t");
            let scope = Scope { region, service: "bedrock" };
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            let cache = SigningKeyCache::default();
            let fast = sign_fixed(&request, &creds, scope, time, &cache);
            prop_assert_eq!(fast.authorization.clone(), reference(&request, &creds, scope, time));
            // Cached key, same answer.
            prop_assert_eq!(sign_fixed(&request, &creds, scope, time, &cache), fast);
        }
    }
}
