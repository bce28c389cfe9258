use super::*;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use proptest::prelude::*;

const AKID: &str = "AKIASTRATATEST000001";
const SECRET: &str = "strata-test-secret-0000000000000000000001";
const BODY: &[u8] = br#"{"messages":[{"role":"user","content":[{"text":"hello"}]}]}"#;

fn at(amz_date: &str) -> SystemTime {
    parse_amz_date(amz_date).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    h
}

/// Checks a request end to end as a server does: header, time, signature.
fn check(
    method: &str,
    uri: &str,
    h: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: SystemTime,
) -> Result<(), VerifyError> {
    let auth = parse_authorization(h["authorization"].to_str().unwrap()).unwrap();
    let time = auth.signing_time(h, now)?;
    let uri: Uri = uri.parse().unwrap();
    let request = SignedRequest {
        method,
        uri: &uri,
        headers: h,
    };
    auth.verify(&request, body, &SecretKey::new(secret), None, time)
}

/// What botocore 1.44 sent for `converse` on `us.amazon.nova-pro-v1:0` (its path signed with
/// the `%3A` encoded once more), signed at 20250102T030405Z.
fn botocore_converse() -> HeaderMap {
    headers(&[
        ("content-type", "application/json"),
        ("user-agent", "Boto3/1.40.0 md/Botocore#1.40.0"),
        ("host", "127.0.0.1:8080"),
        ("x-amz-date", "20250102T030405Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIASTRATATEST000001/20250102/eu-west-3/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=b895912997bc42bbbc33bf851306da2eca0bb5a94ea77b7677c67f3e42fe80a8",
        ),
    ])
}

const CONVERSE_PATH: &str = "/model/us.amazon.nova-pro-v1%3A0/converse";

#[test]
fn accepts_what_botocore_signed() {
    let h = botocore_converse();
    let now = at("20250102T031000Z");
    assert_eq!(check("POST", CONVERSE_PATH, &h, BODY, SECRET, now), Ok(()));
    // A query string, its parameters out of order and encoded (botocore, GET /v1/models?b=2&a=1%20x).
    let h = headers(&[
        ("host", "127.0.0.1:8080"),
        ("x-amz-date", "20250102T030405Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIASTRATATEST000001/20250102/us-east-1/bedrock/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=3b41528258a8bdd144eafebe571bbccb5c2547419b1c5c933aacb469c255f3dd",
        ),
    ]);
    assert_eq!(check("GET", "/v1/models?b=2&a=1%20x", &h, b"", SECRET, now), Ok(()));
    assert_eq!(
        check("GET", "/v1/models?b=2&a=1%20y", &h, b"", SECRET, now),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn refuses_any_change_to_what_was_signed() {
    let now = at("20250102T031000Z");
    let h = botocore_converse();
    let mismatch = Err(VerifyError::Mismatch);
    assert_eq!(check("POST", CONVERSE_PATH, &h, BODY, "another-secret", now), mismatch);
    assert_eq!(check("POST", CONVERSE_PATH, &h, b"{}", SECRET, now), mismatch);
    assert_eq!(check("PUT", CONVERSE_PATH, &h, BODY, SECRET, now), mismatch);
    // The same model spelt without its encoding is another path to SigV4.
    assert_eq!(
        check("POST", "/model/us.amazon.nova-pro-v1:0/converse", &h, BODY, SECRET, now),
        mismatch
    );
    assert_eq!(
        check(
            "POST",
            "/model/us.amazon.nova-lite-v1%3A0/converse",
            &h,
            BODY,
            SECRET,
            now
        ),
        mismatch
    );
    // A signed header changed, or missing.
    let mut changed = h.clone();
    changed.insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(check("POST", CONVERSE_PATH, &changed, BODY, SECRET, now), mismatch);
    let mut missing = h.clone();
    missing.remove("content-type");
    assert_eq!(check("POST", CONVERSE_PATH, &missing, BODY, SECRET, now), mismatch);
    // A header the client did not sign may change (proxies add some).
    let mut unsigned = h.clone();
    unsigned.insert("user-agent", "something else".parse().unwrap());
    unsigned.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
    assert_eq!(check("POST", CONVERSE_PATH, &unsigned, BODY, SECRET, now), Ok(()));
    // The scope is part of what is signed: another region does not verify. (The access key
    // id is not: it only chooses the secret.)
    let mut other = h.clone();
    let value = h["authorization"].to_str().unwrap().replace("eu-west-3", "eu-west-1");
    other.insert("authorization", value.parse().unwrap());
    assert_eq!(check("POST", CONVERSE_PATH, &other, BODY, SECRET, now), mismatch);
}

/// Signs like an SDK would, with `aws-sigv4` itself (so settings such as a signed payload hash
/// or a session token can be tried).
fn sdk_signed(
    uri: &str,
    pairs: &[(&str, &str)],
    body: &[u8],
    token: Option<&str>,
    settings: SigningSettings,
    time: SystemTime,
) -> HeaderMap {
    let identity: Identity = Credentials::new(AKID, SECRET, token.map(str::to_string), None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-west-2")
        .name("bedrock")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(
        "POST",
        format!("http://gateway.example:8080{uri}"),
        pairs.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut h = headers(pairs);
    h.insert("host", "gateway.example:8080".parse().unwrap());
    for (name, value) in instructions.headers() {
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    h
}

#[test]
fn a_signed_payload_hash_must_be_the_bodys() {
    let now = at("20250102T030405Z");
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let h = sdk_signed(
        CONVERSE_PATH,
        &[("content-type", "application/json")],
        BODY,
        None,
        settings,
        now,
    );
    assert!(h.contains_key("x-amz-content-sha256"));
    assert_eq!(check("POST", CONVERSE_PATH, &h, BODY, SECRET, now), Ok(()));
    // A body changed after signing, or a hash claimed for another body.
    assert_eq!(
        check("POST", CONVERSE_PATH, &h, b"{}", SECRET, now),
        Err(VerifyError::PayloadHash)
    );
    let mut unsigned_payload = h.clone();
    unsigned_payload.insert("x-amz-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());
    assert_eq!(
        check("POST", CONVERSE_PATH, &unsigned_payload, BODY, SECRET, now),
        Err(VerifyError::PayloadHash)
    );
}

#[test]
fn temporary_credentials_sign_their_token() {
    let now = at("20250102T030405Z");
    let h = sdk_signed(
        CONVERSE_PATH,
        &[],
        BODY,
        Some("the-token"),
        SigningSettings::default(),
        now,
    );
    let auth = parse_authorization(h["authorization"].to_str().unwrap()).unwrap();
    assert!(auth.signed_headers.contains(&"x-amz-security-token".to_string()));
    let uri: Uri = CONVERSE_PATH.parse().unwrap();
    let request = SignedRequest {
        method: "POST",
        uri: &uri,
        headers: &h,
    };
    let secret = SecretKey::new(SECRET);
    assert_eq!(auth.verify(&request, BODY, &secret, Some("the-token"), now), Ok(()));
    assert_eq!(
        auth.verify(&request, BODY, &secret, Some("another-token"), now),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_authority_stands_in_for_a_missing_host_header() {
    // HTTP/2 carries the host as `:authority`, which hyper puts in the URI.
    let now = at("20250102T031000Z");
    let mut h = botocore_converse();
    h.remove("host");
    let absolute = format!("http://127.0.0.1:8080{CONVERSE_PATH}");
    assert_eq!(check("POST", &absolute, &h, BODY, SECRET, now), Ok(()));
    assert_eq!(
        check("POST", CONVERSE_PATH, &h, BODY, SECRET, now),
        Err(VerifyError::Mismatch)
    );
    let elsewhere = format!("http://127.0.0.1:9999{CONVERSE_PATH}");
    assert_eq!(
        check("POST", &elsewhere, &h, BODY, SECRET, now),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_signing_time_is_checked_against_the_scope_and_the_clock() {
    let h = botocore_converse();
    let auth = parse_authorization(h["authorization"].to_str().unwrap()).unwrap();
    let signed = at("20250102T030405Z");
    assert_eq!(auth.signing_time(&h, signed), Ok(signed));
    assert_eq!(auth.signing_time(&h, at("20250102T031905Z")), Ok(signed));
    assert_eq!(auth.signing_time(&h, at("20250102T024905Z")), Ok(signed));
    assert_eq!(
        auth.signing_time(&h, at("20250102T032406Z")).map_err(|e| e.to_string()),
        Err(
            "Signature expired: 20250102T030405Z is now earlier than 20250102T030906Z (20250102T032406Z - 15 min.)"
                .into()
        )
    );
    assert_eq!(
        auth.signing_time(&h, at("20250102T024000Z")).map_err(|e| e.to_string()),
        Err("Signature not yet current: 20250102T030405Z is still later than 20250102T025500Z (20250102T024000Z + 15 min.)".into())
    );
    let mut other_day = h.clone();
    other_day.insert("x-amz-date", "20250103T000000Z".parse().unwrap());
    assert_eq!(
        auth.signing_time(&other_day, at("20250103T000000Z")),
        Err(VerifyError::ScopeDate)
    );
    for bad in [None, Some("2025-01-02T03:04:05Z"), Some("yesterday")] {
        let mut h = h.clone();
        match bad {
            Some(v) => h.insert("x-amz-date", v.parse().unwrap()),
            None => h.remove("x-amz-date"),
        };
        let e = auth.signing_time(&h, signed).unwrap_err();
        assert_eq!(e, VerifyError::MissingDate, "{bad:?}");
        assert!(e.is_incomplete());
    }
}

#[test]
fn parses_authorization_headers() {
    let h = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=Content-Type;host;x-amz-date, Signature=5D672D79C15B13162D9279B0855CFBA6789A8EDB4C82C400E06B5924A6F2B5D7",
    )
    .unwrap();
    assert_eq!(h.access_key_id, "AKIDEXAMPLE");
    assert_eq!(h.date, "20150830");
    assert_eq!((h.region.as_str(), h.service.as_str()), ("us-east-1", "bedrock"));
    assert_eq!(h.signed_headers, vec!["content-type", "host", "x-amz-date"]);
    assert_eq!(
        h.signature,
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
    // Commas without spaces, parameters in another order, unknown parameters: all read.
    let sig = "0".repeat(64);
    let h2 = parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Signature={sig},Extra=1,SignedHeaders=host,Credential=A/20150830/r/s/aws4_request"
    ))
    .unwrap();
    assert_eq!((h2.access_key_id.as_str(), h2.signed_headers.len()), ("A", 1));

    let ok_scope = "Credential=A/20150830/r/s/aws4_request";
    for (bad, why) in [
        (String::new(), HeaderError::NotSigV4),
        ("Bearer x".into(), HeaderError::NotSigV4),
        ("AWS4-HMAC-SHA256X Credential=…".into(), HeaderError::NotSigV4),
        ("aws4-hmac-sha256 Credential=…".into(), HeaderError::NotSigV4),
        ("AWS4-HMAC-SHA256".into(), HeaderError::Incomplete),
        ("AWS4-HMAC-SHA256 Credential=a/b/c".into(), HeaderError::Incomplete),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, SignedHeaders=host"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, SignedHeaders=host, Signature=zz"),
            HeaderError::Incomplete,
        ),
        (
            format!(
                "AWS4-HMAC-SHA256 {ok_scope}, SignedHeaders=host, Signature={}",
                "g".repeat(64)
            ),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, SignedHeaders=host, Signature={sig}0"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_reques, SignedHeaders=host, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=A/2015083/r/s/aws4_request, SignedHeaders=host, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=A//r/s/aws4_request, SignedHeaders=host, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 Credential=A/20150830/r/s/x/aws4_request, SignedHeaders=host, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, SignedHeaders=host;;x-amz-date, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, SignedHeaders=, Signature={sig}"),
            HeaderError::Incomplete,
        ),
        (
            format!("AWS4-HMAC-SHA256 {ok_scope}, {ok_scope}, SignedHeaders=host, Signature={sig}"),
            HeaderError::Incomplete,
        ),
    ] {
        assert_eq!(parse_authorization(&bad), Err(why), "{bad}");
    }
    assert!(is_sigv4("AWS4-HMAC-SHA256 Credential=x") && is_sigv4("AWS4-ECDSA-P256-SHA256 x"));
    assert!(!is_sigv4("Bearer AWS4-HMAC-SHA256"));
}

#[test]
fn amz_dates_read_and_write() {
    let t = at("20150830T123600Z");
    assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_440_938_160);
    for text in [
        "19700101T000000Z",
        "20240229T235959Z",
        "20250102T030405Z",
        "21000301T120000Z",
    ] {
        assert_eq!(format_amz_date(at(text)), text);
    }
    for bad in [
        "",
        "2015-08-30T12:36:00Z",
        "20151330T123600Z",
        "20150800T123600Z",
        "20150830T243600Z",
        "2015083xT123600Z",
        "20150830T1236ééZ",
        "19690830T123600Z",
        "20150830T123600",
    ] {
        assert!(parse_amz_date(bad).is_none(), "{bad}");
    }
}

#[test]
fn secrets_never_show_in_debug() {
    let s = SecretKey::new(SECRET);
    assert_eq!(s.expose(), SECRET);
    assert!(!format!("{s:?}").contains("secret-0000"));
}

proptest! {
    #[test]
    fn parsers_never_panic(raw in "\\PC{0,200}") {
        let _ = parse_authorization(&raw);
        let _ = parse_amz_date(&raw);
        let _ = parse_authorization(&format!("AWS4-HMAC-SHA256 {raw}"));
    }

    /// Whatever a client sends (paths, hosts, header lists), verifying answers and never panics.
    #[test]
    fn verifying_never_panics(
        path in "/[a-zA-Z0-9%:._~/-]{0,40}",
        host in "[a-zA-Z0-9.:@\\[\\]-]{0,20}",
        signed in "[a-z0-9;-]{1,30}",
        region in "[a-z0-9-]{1,12}",
        service in "(bedrock|s3|[a-z]{1,5})",
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/20250102/{region}/{service}/aws4_request, SignedHeaders={signed}, Signature={}",
            "a".repeat(64)
        );
        let mut h = HeaderMap::new();
        if let Ok(v) = host.parse() {
            h.insert("host", v);
        }
        h.insert("x-amz-date", "20250102T030405Z".parse().unwrap());
        h.insert("x-amz-content-sha256", "abc".parse().unwrap());
        if let (Ok(auth), Ok(uri)) = (parse_authorization(&value), path.parse::<Uri>()) {
            let request = SignedRequest { method: "POST", uri: &uri, headers: &h };
            let time = at("20250102T030405Z");
            prop_assert!(auth.verify(&request, &body, &SecretKey::new(SECRET), None, time).is_err());
        }
    }
}
