//! strata-aws's runtime client against the emulator: signed calls, relayed event streams, and
//! failures classified by their structured type.

use std::time::Duration;

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use strata_aws::transport::Protocol;
use strata_aws::{BedrockRuntime, Endpoints, RuntimeAnswer, RuntimeCall, RuntimeOperation};
use strata_core::eventstream::{FrameReader, StreamFrame};
use strata_core::ErrorClass;

use crate::sim_process::Sim;

fn call<'a>(model: &'a str, operation: RuntimeOperation) -> RuntimeCall<'a> {
    RuntimeCall {
        region: "us-east-1",
        model_id: model,
        operation,
        body: Bytes::from(json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).to_string()),
        content_type: None,
        accept: None,
        extra_headers: &[],
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn converse_stream_and_classified_failures() {
    let sim = Sim::start();
    let (akid, secret) = sim.keys("prod-us");
    let creds = Credentials::new(akid, secret, None, None, "test");
    let rt = BedrockRuntime::new(Endpoints::with_override(&sim.url), Protocol::Http1).unwrap();
    let profile = sim.fleet["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_str().unwrap().starts_with("us."))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let RuntimeAnswer::Complete { body, .. } = rt
        .send(call(&profile, RuntimeOperation::Converse), &creds)
        .await
        .unwrap()
    else {
        panic!("complete answer expected")
    };
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["output"]["message"]["role"], "assistant");

    let RuntimeAnswer::Stream { mut body, headers } = rt
        .send(call(&profile, RuntimeOperation::ConverseStream), &creds)
        .await
        .unwrap()
    else {
        panic!("stream expected")
    };
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/vnd.amazon.eventstream"
    );
    let mut reader = FrameReader::new();
    let mut events = Vec::new();
    while let Some(chunk) = body.next().await {
        reader.push(&chunk.unwrap());
        while let Some(frame) = reader.next_frame().unwrap() {
            if let StreamFrame::Event { event_type, .. } = frame {
                events.push(event_type);
            }
        }
    }
    assert_eq!(events.first().map(String::as_str), Some("messageStart"));
    assert_eq!(events.last().map(String::as_str), Some("metadata"));

    sim.admin_post("/_sim/faults", &json!({"kind": "throttle", "count": 1}));
    let err = rt
        .send(call(&profile, RuntimeOperation::Converse), &creds)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Throttled);
    assert_eq!(err.status, Some(429));

    let onde = sim.fleet["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["on_demand_in"].as_array().unwrap().is_empty())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let err = rt
        .send(call(&onde, RuntimeOperation::Converse), &creds)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid);

    sim.admin_post(
        "/_sim/faults",
        &json!({"kind": "outage", "region": "us-east-1", "mode": "drop", "count": 1}),
    );
    let err = rt
        .send(call(&profile, RuntimeOperation::Converse), &creds)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Connect, "{err}");

    let wrong = Credentials::new("AKIAPRODUS0000000001", "wrong", None, None, "test");
    let err = rt
        .send(call(&profile, RuntimeOperation::Converse), &wrong)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Denied);
}
