//! Requests through the whole router without a socket: signed calls, bad input, odd paths.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::fleet::Fleet;
use crate::state::{SimOptions, SimState};

const AKID: &str = "AKIAPRODUS0000000001";
const SECRET: &str = "prod-us-secret-key-0000000000000000000001";

fn sim() -> axum::Router {
    let state = SimState::new(Fleet::builtin().unwrap(), SimOptions { zero_latency: true });
    super::app(Arc::new(state))
}

/// A request signed with aws-sigv4 as an SDK would.
fn signed(method: &str, path: &str, body: Vec<u8>, region: &str, secret: &str) -> Request<Body> {
    let identity: Identity = Credentials::new(AKID, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("http://localhost{path}");
    let headers = [("host", "localhost"), ("content-type", "application/json")];
    let signable = SignableRequest::new(method, uri.clone(), headers.into_iter(), SignableBody::Bytes(&body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = Request::builder().method(method).uri(path).header("host", "localhost");
    request = request.header("content-type", "application/json");
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    request.body(Body::from(body)).unwrap()
}

async fn call(request: Request<Body>) -> (u16, Option<String>, Value) {
    let response = sim().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string());
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, kind, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

const NOVA: &str = "/model/amazon.nova-pro-v1%3A0/converse";

#[tokio::test]
async fn a_signed_converse_succeeds() {
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        .to_string()
        .into_bytes();
    let (status, kind, answer) = call(signed("POST", NOVA, body, "us-east-1", SECRET)).await;
    assert_eq!((status, kind), (200, None));
    assert_eq!(answer["output"]["message"]["role"], "assistant");
}

#[tokio::test]
async fn broken_bodies_get_validation_errors() {
    let cases: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        json!({"messages": "x"}).to_string().into_bytes(),
        json!({"messages": []}).to_string().into_bytes(),
        json!({"messages": [{"role": "user", "content": [{"text": 5}]}]})
            .to_string()
            .into_bytes(),
        json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "inferenceConfig": {"maxTokens": -1}})
            .to_string()
            .into_bytes(),
        json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "inferenceConfig": {"temperature": 7}})
            .to_string()
            .into_bytes(),
        vec![0, 0, 0, 16, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4],
        Vec::new(),
    ];
    for body in cases {
        for action in ["converse", "converse-stream", "invoke", "invoke-with-response-stream"] {
            let path = format!("/model/amazon.nova-pro-v1%3A0/{action}");
            let (status, kind, answer) = call(signed("POST", &path, body.clone(), "us-east-1", SECRET)).await;
            assert_eq!(
                (status, kind.as_deref()),
                (400, Some("ValidationException")),
                "{action} {body:?}"
            );
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

#[tokio::test]
async fn oversize_bodies_are_refused_without_reading_them_whole() {
    let body = vec![b' '; super::MAX_BODY_BYTES + 10];
    let mut request = Request::builder().method("POST").uri(NOVA).header("host", "localhost");
    request = request.header("authorization", "Bearer nope");
    let (status, kind, _) = call(request.body(Body::from(body)).unwrap()).await;
    assert_eq!((status, kind.as_deref()), (413, Some("ValidationException")));
}

#[tokio::test]
async fn garbage_auth_gets_aws_auth_errors() {
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        .to_string()
        .into_bytes();
    let cases = [
        (None, "MissingAuthenticationTokenException"),
        (Some("garbage"), "IncompleteSignatureException"),
        (Some("AWS4-HMAC-SHA256 Credential=x"), "IncompleteSignatureException"),
        (Some("Bearer not-a-key"), "UnrecognizedClientException"),
        (
            Some("AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN000000000/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000"),
            "UnrecognizedClientException",
        ),
    ];
    for (auth, expected) in cases {
        let mut request = Request::builder().method("POST").uri(NOVA).header("host", "localhost");
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let (status, kind, answer) = call(request.body(Body::from(body.clone())).unwrap()).await;
        assert_eq!(status, 403, "{auth:?}");
        assert_eq!(kind.as_deref(), Some(expected), "{auth:?}");
        assert!(answer["message"].is_string());
    }
    let (status, kind, _) = call(signed("POST", NOVA, body.clone(), "us-east-1", "wrong-secret")).await;
    assert_eq!((status, kind.as_deref()), (403, Some("InvalidSignatureException")));
    let (status, kind, _) = call(signed("POST", NOVA, body, "mars-north-1", SECRET)).await;
    assert_eq!((status, kind.as_deref()), (403, Some("UnrecognizedClientException")));
}

#[tokio::test]
async fn unknown_models_and_paths_are_clean_errors() {
    let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        .to_string()
        .into_bytes();
    for path in [
        "/model/nope.nope-v1%3A0/converse",
        "/model/%ZZ/converse",
        "/model/arn%3Aaws%3As3%3A%3A%3Ab/converse",
    ] {
        let (status, kind, _) = call(signed("POST", path, body.clone(), "us-east-1", SECRET)).await;
        assert_eq!((status, kind.as_deref()), (400, Some("ValidationException")), "{path}");
    }
    let (status, kind, _) = call(signed(
        "POST",
        "/model/amazon.nova-pro-v1%3A0/explode",
        body,
        "us-east-1",
        SECRET,
    ))
    .await;
    assert_eq!((status, kind.as_deref()), (404, Some("UnknownOperationException")));
}

mod properties {
    use proptest::prelude::*;

    use crate::fleet::Fleet;
    use crate::runtime::{converse, invoke};
    use strata_aws::verify::{parse_amz_date, parse_authorization};

    proptest! {
        #[test]
        fn header_and_body_parsers_never_panic(raw in "\\PC{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_authorization(&raw);
            let _ = parse_amz_date(&raw);
            let fleet = Fleet::builtin().unwrap();
            for model in &fleet.models {
                let _ = converse::parse(raw.as_bytes(), model);
                let _ = converse::parse(&bytes, model);
                let _ = invoke::parse(raw.as_bytes(), model);
                let _ = invoke::parse(&bytes, model);
            }
        }
    }
}

#[test]
fn region_prefix_is_split_off() {
    assert_eq!(
        super::split_region_prefix("/region/eu-west-1/model/x/converse"),
        (Some("eu-west-1".into()), "/model/x/converse")
    );
    assert_eq!(
        super::split_region_prefix("/model/x/converse"),
        (None, "/model/x/converse")
    );
    assert_eq!(super::split_region_prefix("/region/"), (None, "/region/"));
}
