//! The Messages request: reading, refusals by name, and the Converse translation.

use serde_json::{json, Value};
use strata_core::wire::converse::{self, ContentBlock, ConverseRequest, SystemContentBlock, ToolResultContentBlock};

use super::request::{parse, Refusal};
use super::translate::{count_tokens_body, to_converse, Purpose};

fn translate(v: Value) -> Result<ConverseRequest, Refusal> {
    to_converse(&parse(v.to_string().as_bytes())?, Purpose::Generate)
}

/// A minimal request with `extra` set on top.
fn with(extra: Value) -> Value {
    let mut r = json!({"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn refused(v: Value) -> Refusal {
    let e = translate(v).unwrap_err();
    assert!(!e.message.is_empty());
    e
}

const PNG: &str = "iVBORw0KGgo=";

#[test]
fn a_full_conversation_translates() {
    let c = translate(json!({
        "model": "claude", "max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"],
        "system": "be brief",
        "metadata": {"user_id": "user-42"},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is this and the weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "document", "title": "notes: v1", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "A dot. Checking weather."},
                {"type": "tool_use", "id": "tu1", "name": "weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "tu1", "content": "cold", "is_error": true}]},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [{"name": "weather", "description": "by city", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"}
    }))
    .unwrap();
    assert_eq!(c.messages.len(), 3, "the two user turns at the end merge");
    assert_eq!(c.messages[0].content.len(), 3);
    let ContentBlock::Image(image) = &c.messages[0].content[1] else {
        panic!()
    };
    assert_eq!(image, &json!({"format": "png", "source": {"bytes": PNG}}));
    let ContentBlock::Document(doc) = &c.messages[0].content[2] else {
        panic!()
    };
    assert_eq!(doc["format"], "txt");
    assert_eq!(doc["name"], "notes v1");
    assert_eq!(doc["source"]["bytes"], "aGVsbG8=");
    let ContentBlock::ToolResult(result) = &c.messages[2].content[0] else {
        panic!()
    };
    assert_eq!(result.status.as_deref(), Some("error"));
    assert_eq!(result.content, vec![ToolResultContentBlock::Text("cold".into())]);
    assert_eq!(c.messages[2].content[1], ContentBlock::Text("thanks".into()));
    let inference = c.inference_config.unwrap();
    assert_eq!(inference.max_tokens, Some(64));
    assert_eq!(inference.temperature, Some(0.5));
    assert_eq!(inference.stop_sequences, Some(vec!["END".to_string()]));
    assert_eq!(c.system, Some(vec![SystemContentBlock::Text("be brief".into())]));
    let tools = c.tool_config.unwrap();
    assert!(matches!(tools.tool_choice, Some(converse::ToolChoice::Auto(_))));
    assert_eq!(c.request_metadata, Some(json!({"user_id": "user-42"})));
    assert_eq!(c.additional_model_request_fields, None);
}

#[test]
fn cache_control_becomes_a_cache_point_after_its_block() {
    let c = translate(with(json!({
        "system": [{"type": "text", "text": "long instructions", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "more"}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "a long document", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "question"}]}],
        "tools": [{"name": "a", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}]
    })))
    .unwrap();
    let system = c.system.unwrap();
    assert_eq!(system.len(), 3);
    assert_eq!(system[1], SystemContentBlock::CachePoint(json!({"type": "default"})));
    let content = &c.messages[0].content;
    assert_eq!(
        content[1],
        ContentBlock::CachePoint(json!({"type": "default", "ttl": "1h"}))
    );
    assert_eq!(content[2], ContentBlock::Text("question".into()));
    let tools = c.tool_config.unwrap().tools;
    assert!(matches!(tools[1], converse::Tool::CachePoint(_)));
    let top = translate(with(json!({"cache_control": {"type": "ephemeral"}}))).unwrap();
    assert_eq!(
        top.messages[0].content,
        vec![
            ContentBlock::Text("hi".into()),
            ContentBlock::CachePoint(json!({"type": "default"}))
        ]
    );
    let wire = serde_json::to_value(&system).unwrap();
    assert_eq!(wire[1], json!({"cachePoint": {"type": "default"}}));
}

#[test]
fn tool_choices_map() {
    let tools = json!([{"name": "a", "input_schema": {"type": "object"}}]);
    let choice = |c: Value| translate(with(json!({"tools": tools, "tool_choice": c}))).map(|r| r.tool_config);
    assert!(matches!(
        choice(json!({"type": "any"})).unwrap().unwrap().tool_choice,
        Some(converse::ToolChoice::Any(_))
    ));
    let named = choice(json!({"type": "tool", "name": "a"})).unwrap().unwrap();
    assert!(matches!(named.tool_choice, Some(converse::ToolChoice::Tool(t)) if t.name == "a"));
    assert_eq!(choice(json!({"type": "none"})).unwrap(), None, "no tools offered");
    let e = choice(json!({"type": "auto", "disable_parallel_tool_use": true})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tool_choice.disable_parallel_tool_use"));
    // `none` in a conversation that used tools cannot be honoured.
    let e = refused(
        json!({"model": "claude", "max_tokens": 9, "tools": tools, "tool_choice": {"type": "none"},
        "messages": [{"role": "user", "content": "x"},
                     {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "a", "input": {}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]}),
    );
    assert_eq!(e.param.as_deref(), Some("tool_choice"));
    let e = refused(with(json!({"tool_choice": {"type": "any"}})));
    assert_eq!(e.param.as_deref(), Some("tool_choice"));
}

#[test]
fn top_k_and_thinking_go_to_additional_fields_for_claude_only() {
    let c = translate(with(
        json!({"top_k": 5, "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2048}}),
    ))
    .unwrap();
    assert_eq!(
        c.additional_model_request_fields,
        Some(json!({"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 2048}}))
    );
    let mut r = with(json!({"top_k": 5}));
    r["model"] = json!("us.anthropic.claude-sonnet-4-20250514-v1:0");
    assert!(translate(r.clone()).is_ok());
    r["model"] = json!("amazon.nova-pro-v1:0");
    assert_eq!(refused(r).param.as_deref(), Some("top_k"));
    let e = refused(with(json!({"thinking": {"type": "enabled", "budget_tokens": 500}})));
    assert_eq!(e.param.as_deref(), Some("thinking.budget_tokens"));
    let e = refused(with(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})));
    assert!(e.message.contains("less than max_tokens"), "{e:?}");
    assert!(translate(with(json!({"thinking": {"type": "disabled"}})))
        .unwrap()
        .additional_model_request_fields
        .is_none());
}

#[test]
fn refusals_name_the_field() {
    let cases = [
        (
            json!({"model": "claude", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (json!({"model": "claude", "max_tokens": 5}), "messages"),
        (with(json!({"messages": []})), "messages"),
        (with(json!({"frequency_penalty": 1})), "frequency_penalty"),
        (with(json!({"temperature": 1.5})), "temperature"),
        (with(json!({"max_tokens": "many"})), "max_tokens"),
        (with(json!({"stop_sequences": [""]})), "stop_sequences"),
        (
            with(json!({"metadata": {"user_id": "u", "other": 1}})),
            "metadata.other",
        ),
        (
            with(json!({"messages": [{"role": "assistant", "content": "x"}]})),
            "messages",
        ),
        (
            with(json!({"messages": [{"role": "system", "content": "x"}]})),
            "messages[0].role",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": []}]})),
            "messages[0].content",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [{"type": "server_tool_use", "id": "x"}]}]})),
            "messages[0].content[0].type",
        ),
        (
            with(json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "extra": 1}]}]})),
            "messages[0].content[0]",
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}),
            ),
            "messages[0].content[0].source",
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": PNG}}]}]}),
            ),
            "messages[0].content[0].source.media_type",
        ),
        (
            with(
                json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}}]}]}),
            ),
            "messages[0].content[0].source.data",
        ),
        (
            with(json!({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]})),
            "tools[0].type",
        ),
        (with(json!({"tools": [{"name": "a"}]})), "tools[0]"),
        (with(json!({"tool_choice": {"type": "sometimes"}})), "tool_choice.type"),
        (with(json!({"system": [{"type": "image"}]})), "system[0].type"),
    ];
    let mut wrong = Vec::new();
    for (body, param) in cases {
        let e = refused(body.clone());
        if e.param.as_deref() != Some(param) || !e.message.contains(param) {
            wrong.push(format!("{param}: {e:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let e = parse(b"{\"model\": ").unwrap_err();
    assert_eq!(e.param, None);
    assert!(e.message.contains("not valid JSON"), "{e:?}");
    assert!(parse(b"[1]").is_err());
}

#[test]
fn accepted_options_that_change_nothing() {
    let c = translate(with(
        json!({"service_tier": "auto", "stream": true, "metadata": {"user_id": null}}),
    ))
    .unwrap();
    assert_eq!(c.request_metadata, None);
    // A user id Bedrock's metadata rules do not allow is accepted, not sent.
    let c = translate(with(json!({"metadata": {"user_id": "ü"}}))).unwrap();
    assert_eq!(c.request_metadata, None);
}

#[test]
fn thinking_blocks_go_back_as_reasoning_content() {
    let c = translate(with(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                          {"type": "redacted_thinking", "data": "abc"},
                                          {"type": "text", "text": "y"}]},
        {"role": "user", "content": "z"}]})))
    .unwrap();
    assert_eq!(
        c.messages[1].content[0],
        ContentBlock::ReasoningContent(json!({"reasoningText": {"text": "t", "signature": "s"}}))
    );
    assert_eq!(
        c.messages[1].content[1],
        ContentBlock::ReasoningContent(json!({"redactedContent": "abc"}))
    );
}

#[test]
fn count_tokens_needs_no_max_tokens_and_wraps_the_conversation() {
    let r = parse(
        json!({"model": "claude", "system": "s", "messages": [{"role": "user", "content": "hi"}],
               "tools": [{"name": "a", "input_schema": {"type": "object"}}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let c = to_converse(&r, Purpose::Count).unwrap();
    assert!(c.inference_config.is_none());
    let body = count_tokens_body(&c);
    let converse = &body["input"]["converse"];
    assert_eq!(converse["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(converse["system"][0]["text"], "s");
    assert_eq!(converse["toolConfig"]["tools"][0]["toolSpec"]["name"], "a");
    assert!(converse.get("inferenceConfig").is_none());
}
