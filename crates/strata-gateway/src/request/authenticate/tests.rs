use super::*;

use std::time::Duration;

use aws_credential_types::Credentials;
use strata_aws::signing::{sign_headers, Scope};

const AKID: &str = "AKIASTRATATESTUS0001";
const SECRET: &str = "us-apps-sigv4-secret-000000000000000001";
const PATH: &str = "/model/us.amazon.nova-pro-v1%3A0/converse";
const BODY: &[u8] = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;

fn config() -> Config {
    let text = format!(
        "models:\n  - name: m\n    deployments:\n      - provider: p\n        model: x\nproviders:\n  - name: p\n    type: openai\n    base_url: http://127.0.0.1:9/v1\n\
         tenants:\n  - name: us-apps\n    keys: [sk-us-apps-01, {{access_key_id: {AKID}, secret_access_key: \"${{US_SECRET}}\"}}]\n  - name: lab\n    keys: [sk-lab-000001]\n\
         admin:\n  keys: [sk-admin-0001]\n"
    );
    crate::config::from_text(&text, "test.yaml", |name| {
        (name == "US_SECRET").then(|| SECRET.to_string())
    })
    .unwrap()
}

/// A request signed the way botocore signs it (the path's `%3A` encoded once more), by the
/// gateway's own upstream signer.
fn signed(akid: &str, secret: &str, region: &str, service: &str, time: SystemTime) -> Parts {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("host", "127.0.0.1:8080".parse().unwrap());
    let credentials = Credentials::new(akid, secret, None, None, "test");
    let scope = Scope { region, service };
    sign_headers(
        "POST",
        &format!("http://127.0.0.1:8080{PATH}"),
        &mut headers,
        BODY,
        &credentials,
        scope,
        time,
    )
    .unwrap();
    let (mut head, ()) = http::Request::builder()
        .method("POST")
        .uri(PATH)
        .body(())
        .unwrap()
        .into_parts();
    head.headers = headers;
    head
}

fn now_signed(akid: &str, secret: &str) -> Parts {
    signed(akid, secret, "eu-west-3", "bedrock", SystemTime::now())
}

#[test]
fn reads_bearer_and_api_key_headers() {
    let mut h = HeaderMap::new();
    assert_eq!(api_key(&h), None);
    h.insert("x-api-key", "k1".parse().unwrap());
    assert_eq!(api_key(&h), Some("k1"));
    h.insert("authorization", "Bearer  k2 ".parse().unwrap());
    assert_eq!(api_key(&h), Some("k2"));
    h.insert("authorization", "AWS4-HMAC-SHA256 Credential=x".parse().unwrap());
    assert_eq!(api_key(&h), Some("k1"));
}

#[test]
fn a_sigv4_caller_is_its_tenant_once_the_body_verifies() {
    let (config, keys) = {
        let c = config();
        let k = KeyRing::new(&c);
        (c, k)
    };
    let head = now_signed(AKID, SECRET);
    let claim = tenant(&config, &keys, &head, SIGV4_SERVICE).unwrap();
    assert!(claim.proven().is_none(), "a signature is not proven before its body");
    let caller = claim.verify(&head, BODY).unwrap();
    assert_eq!(caller.tenant, 0);
    assert_eq!(&*caller.key_id, AKID);
    assert_eq!(caller.signed_region.as_deref(), Some("eu-west-3"));

    // The body changed after signing.
    let e = tenant(&config, &keys, &head, SIGV4_SERVICE)
        .unwrap()
        .verify(&head, b"{}")
        .unwrap_err();
    assert_eq!(e.class, Class::InvalidSignature);
    assert!(
        e.message
            .starts_with("The request signature we calculated does not match"),
        "{}",
        e.message
    );
    // The wrong secret.
    let head = now_signed(AKID, "not-the-secret-00000000000000000000000");
    let e = tenant(&config, &keys, &head, SIGV4_SERVICE)
        .unwrap()
        .verify(&head, BODY)
        .unwrap_err();
    assert_eq!(e.class, Class::InvalidSignature);
}

#[test]
fn sigv4_refusals_that_headers_alone_decide() {
    let config = config();
    let keys = KeyRing::new(&config);
    let refused = |head: &Parts| tenant(&config, &keys, head, SIGV4_SERVICE).map(|_| ()).unwrap_err();

    let e = refused(&now_signed("AKIASTRATAUNKNOWN001", SECRET));
    assert_eq!(
        (e.class, e.message.as_str()),
        (
            Class::Unauthenticated,
            "The security token included in the request is invalid."
        )
    );
    let e = refused(&signed(AKID, SECRET, "eu-west-3", "s3", SystemTime::now()));
    assert_eq!(
        (e.class, e.message.as_str()),
        (
            Class::InvalidSignature,
            "Credential should be scoped to correct service: 'bedrock'."
        )
    );
    // Each API takes its own service: SageMaker's clients sign for `sagemaker`.
    let sagemaker = signed(AKID, SECRET, "eu-west-3", "sagemaker", SystemTime::now());
    assert_eq!(
        refused(&sagemaker).message,
        "Credential should be scoped to correct service: 'bedrock'."
    );
    let claim = tenant(&config, &keys, &sagemaker, "sagemaker").unwrap();
    assert_eq!(claim.verify(&sagemaker, BODY).unwrap().tenant, 0);
    let e = refused(&signed(AKID, SECRET, "mars", "bedrock", SystemTime::now()));
    assert_eq!(e.class, Class::InvalidSignature);

    let twenty_minutes = Duration::from_secs(20 * 60);
    let e = refused(&signed(
        AKID,
        SECRET,
        "us-east-1",
        "bedrock",
        SystemTime::now() - twenty_minutes,
    ));
    assert_eq!(e.class, Class::InvalidSignature);
    assert!(e.message.starts_with("Signature expired: "), "{}", e.message);
    let e = refused(&signed(
        AKID,
        SECRET,
        "us-east-1",
        "bedrock",
        SystemTime::now() + twenty_minutes,
    ));
    assert!(e.message.starts_with("Signature not yet current: "), "{}", e.message);

    let mut head = now_signed(AKID, SECRET);
    head.headers.remove("x-amz-date");
    assert_eq!(refused(&head).class, Class::IncompleteSignature);
    let mut head = now_signed(AKID, SECRET);
    head.headers.insert("x-amz-security-token", "a-token".parse().unwrap());
    assert_eq!(refused(&head).class, Class::Unauthenticated);
    let mut head = now_signed(AKID, SECRET);
    head.headers.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=x, Signature=y".parse().unwrap(),
    );
    let e = refused(&head);
    assert_eq!(e.class, Class::IncompleteSignature);
    assert!(e.message.contains("requires 'Credential' parameter"), "{}", e.message);
}

#[test]
fn an_api_key_beside_a_signature_wins_and_admins_cannot_call_models() {
    let config = config();
    let keys = KeyRing::new(&config);
    // An SDK signing with placeholder credentials and adding x-api-key.
    let mut head = now_signed("AKIAPLACEHOLDER00001", "placeholder-secret-0000000");
    head.headers.insert("x-api-key", "sk-lab-000001".parse().unwrap());
    let claim = tenant(&config, &keys, &head, SIGV4_SERVICE).unwrap();
    let caller = claim.proven().cloned().unwrap();
    assert_eq!((caller.tenant, &*caller.key_id), (1, "lab/key-0"));
    assert_eq!(claim.verify(&head, b"anything").unwrap(), caller);

    let mut head = now_signed(AKID, SECRET);
    head.headers.remove("authorization");
    head.headers
        .insert("authorization", "Bearer sk-admin-0001".parse().unwrap());
    assert_eq!(
        tenant(&config, &keys, &head, SIGV4_SERVICE).unwrap_err().class,
        Class::Forbidden
    );
    head.headers.remove("authorization");
    assert_eq!(
        tenant(&config, &keys, &head, SIGV4_SERVICE).unwrap_err().class,
        Class::Unauthenticated
    );
}

#[test]
fn region_names() {
    for ok in ["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-5"] {
        assert!(region_name(ok), "{ok}");
    }
    for bad in [
        "",
        "mars",
        "us-east",
        "US-EAST-1",
        "us--1",
        "us-east-1/",
        &"a-".repeat(20),
    ] {
        assert!(!region_name(bad), "{bad}");
    }
}
