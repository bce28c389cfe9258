//! The typed `aws-sdk-bedrockruntime` client against the emulator's runtime.

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message, StopReason,
    Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::Document;
use serde_json::json;

use crate::sim_process::Sim;

pub fn runtime_client(sim: &Sim, account: &str, region: &str) -> aws_sdk_bedrockruntime::Client {
    let (akid, secret) = sim.keys(account);
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(&sim.url)
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(conf)
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

const SONNET_45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

#[tokio::test]
async fn converse_through_a_profile_runs_in_a_destination_region() {
    let sim = Sim::start();
    let client = runtime_client(&sim, "prod-us", "us-east-1");
    let profile = format!("us.{SONNET_45}");
    let out = client
        .converse()
        .model_id(&profile)
        .messages(user("hello there"))
        .inference_config(InferenceConfiguration::builder().max_tokens(5).build())
        .send()
        .await
        .expect("converse");
    let usage = out.usage().unwrap();
    assert_eq!(usage.output_tokens(), 5);
    assert_eq!(usage.total_tokens(), usage.input_tokens() + usage.output_tokens());
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);

    let stats = sim.admin_get("/_sim/stats");
    let row = &stats["invocations"][0];
    assert_eq!(row["model"], profile.as_str());
    assert_eq!(row["status"], 200);
    let destinations: Vec<String> = sim.fleet["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == profile.as_str())
        .unwrap()["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert!(destinations.contains(&row["region"].as_str().unwrap().to_string()));

    // The plain ID of a profile-only model is refused with Bedrock's own words.
    let err = client
        .converse()
        .model_id(SONNET_45)
        .messages(user("hi"))
        .send()
        .await
        .expect_err("on-demand");
    let err = err.into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(err
        .meta()
        .message()
        .unwrap_or_default()
        .contains("on-demand throughput"));
}

#[tokio::test]
async fn converse_stream_events_match_the_non_streaming_answer() {
    let sim = Sim::start();
    let client = runtime_client(&sim, "prod-us", "us-east-1");
    let profile = format!("us.{SONNET_45}");
    let plain = client
        .converse()
        .model_id(&profile)
        .messages(user("stream me"))
        .send()
        .await
        .expect("converse");
    let ContentBlock::Text(expected) = &plain.output().unwrap().as_message().unwrap().content()[0] else {
        panic!("text answer expected")
    };
    let mut stream = client
        .converse_stream()
        .model_id(&profile)
        .messages(user("stream me"))
        .send()
        .await
        .expect("stream");
    let mut text = String::new();
    let mut kinds = Vec::new();
    let mut usage = None;
    while let Some(event) = stream.stream.recv().await.expect("event") {
        match event {
            ConverseStreamOutput::MessageStart(_) => kinds.push("start"),
            ConverseStreamOutput::ContentBlockDelta(d) => {
                kinds.push("delta");
                if let Some(aws_sdk_bedrockruntime::types::ContentBlockDelta::Text(t)) = d.delta() {
                    text.push_str(t);
                }
            }
            ConverseStreamOutput::ContentBlockStop(_) => kinds.push("block_stop"),
            ConverseStreamOutput::MessageStop(_) => kinds.push("stop"),
            ConverseStreamOutput::Metadata(m) => {
                kinds.push("metadata");
                usage = m.usage().cloned();
            }
            _ => kinds.push("other"),
        }
    }
    assert_eq!(&text, expected);
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(&kinds[kinds.len() - 3..], &["block_stop", "stop", "metadata"]);
    assert_eq!(usage.unwrap().output_tokens(), plain.usage().unwrap().output_tokens());
}

#[tokio::test]
async fn forced_tool_use_fills_required_properties() {
    let sim = Sim::start();
    let client = runtime_client(&sim, "prod-us", "us-east-1");
    let schema = Document::Object(
        [
            ("type".to_string(), Document::String("object".into())),
            (
                "required".to_string(),
                Document::Array(vec![Document::String("city".into())]),
            ),
            (
                "properties".to_string(),
                Document::Object(
                    [(
                        "city".to_string(),
                        Document::Object([("type".to_string(), Document::String("string".into()))].into()),
                    )]
                    .into(),
                ),
            ),
        ]
        .into(),
    );
    let tool = Tool::ToolSpec(
        ToolSpecification::builder()
            .name("get_weather")
            .input_schema(ToolInputSchema::Json(schema))
            .build()
            .unwrap(),
    );
    let config = ToolConfiguration::builder()
        .tools(tool)
        .tool_choice(ToolChoice::Any(AnyToolChoice::builder().build()))
        .build()
        .unwrap();
    let out = client
        .converse()
        .model_id(format!("us.{SONNET_45}"))
        .messages(user("weather in Paris?"))
        .tool_config(config)
        .send()
        .await
        .expect("converse");
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let ContentBlock::ToolUse(tool_use) = &out.output().unwrap().as_message().unwrap().content()[0] else {
        panic!("tool use expected")
    };
    assert_eq!(tool_use.name(), "get_weather");
    let Document::Object(input) = tool_use.input() else {
        panic!("object input")
    };
    assert!(input.contains_key("city"));
}

#[tokio::test]
async fn invoke_model_speaks_native_bodies_and_streams_chunks() {
    let sim = Sim::start();
    let client = runtime_client(&sim, "prod-us", "us-east-1");
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 12,
                      "messages": [{"role": "user", "content": "hi"}]});
    let out = client
        .invoke_model()
        .model_id(format!("us.{SONNET_45}"))
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("invoke");
    let answer: serde_json::Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["usage"]["output_tokens"], 12);
    assert_eq!(answer["stop_reason"], "max_tokens");

    let mut stream = client
        .invoke_model_with_response_stream()
        .model_id(format!("us.{SONNET_45}"))
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .expect("invoke stream");
    let mut chunks = Vec::new();
    while let Some(event) = stream.body.recv().await.expect("chunk") {
        if let aws_sdk_bedrockruntime::types::ResponseStream::Chunk(part) = event {
            let bytes = part.bytes().unwrap().as_ref().to_vec();
            chunks.push(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap());
        }
    }
    assert_eq!(chunks.first().unwrap()["type"], "message_start");
    let last = chunks.last().unwrap();
    assert_eq!(last["type"], "message_stop");
    assert_eq!(last["amazon-bedrock-invocationMetrics"]["outputTokenCount"], 12);
}

#[tokio::test]
async fn injected_throttling_and_stream_cuts_reach_the_sdk_as_aws_errors() {
    let sim = Sim::start();
    let client = runtime_client(&sim, "prod-us", "us-east-1");
    sim.admin_post("/_sim/faults", &json!({"kind": "throttle", "count": 1}));
    let err = client
        .converse()
        .model_id(format!("us.{SONNET_45}"))
        .messages(user("hi"))
        .send()
        .await
        .expect_err("throttled")
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    client
        .converse()
        .model_id(format!("us.{SONNET_45}"))
        .messages(user("hi"))
        .send()
        .await
        .expect("fault expired");

    sim.admin_post("/_sim/faults", &json!({"kind": "stream_cut", "after_events": 2}));
    let mut stream = client
        .converse_stream()
        .model_id(format!("us.{SONNET_45}"))
        .messages(user("hi"))
        .send()
        .await
        .expect("stream opens");
    let mut events = 0;
    let failure = loop {
        match stream.stream.recv().await {
            Ok(Some(_)) => events += 1,
            Ok(None) => panic!("stream ended without the injected error"),
            Err(e) => break e,
        }
    };
    assert_eq!(events, 2);
    assert!(failure.into_service_error().is_model_stream_error_exception());
}
