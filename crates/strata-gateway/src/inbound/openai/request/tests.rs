//! The chat request: reading, refusals, translation and the upstream body.

use super::translation::is_base64;
use super::*;

fn parse_value(v: &Value) -> Result<ChatRequest, TranslateError> {
    parse(v.to_string().as_bytes())
}

fn translate(v: Value) -> Result<ConverseRequest, TranslateError> {
    to_converse(&parse_value(&v)?)
}

/// A minimal request with `extra` set on top.
fn with(extra: Value) -> Value {
    let mut r = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

/// The parameter a request is refused for, whether by `parse` or by `to_converse`.
fn refused_param(v: Value) -> String {
    let e = translate(v).unwrap_err();
    assert_eq!(e.kind, TranslateErrorKind::InvalidRequest, "{e:?}");
    assert!(!e.message.is_empty());
    let param = e.param.clone();
    param.unwrap_or_else(|| panic!("no param in {e:?}"))
}

#[test]
fn roles_merge_and_tools_round_trip() {
    let req = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "c2", "content": "rain"},
            {"role": "user", "content": [{"type": "text", "text": "thanks"}]}
        ],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
        "tool_choice": "required", "max_tokens": 10, "max_completion_tokens": 20, "stop": "END", "temperature": 1.5
    });
    let parsed = parse_value(&req).unwrap();
    assert_eq!(
        parsed.options(),
        ChatOptions {
            model: "m".into(),
            stream: false,
            include_usage: false
        }
    );
    let c = to_converse(&parsed).unwrap();
    assert_eq!(
        c.messages.len(),
        3,
        "tool results and the next user text merge into one user turn"
    );
    assert_eq!(c.messages[1].content.len(), 2);
    assert_eq!(c.messages[2].content.len(), 3);
    let inf = c.inference_config.unwrap();
    assert_eq!((inf.max_tokens, inf.temperature), (Some(20), Some(1.0)));
    assert_eq!(inf.stop_sequences, Some(vec!["END".to_string()]));
    assert!(matches!(
        c.tool_config.unwrap().tool_choice,
        Some(converse::ToolChoice::Any(_))
    ));
    assert_eq!(c.system.unwrap().len(), 1);
}

#[test]
fn every_message_kind_translates() {
    let c = translate(json!({"model": "m", "messages": [
        {"role": "system", "content": "one"},
        {"role": "developer", "content": [{"type": "text", "text": "t"}, {"type": "text", "text": "wo"}]},
        {"role": "system", "content": ""},
        {"role": "user", "content": "q", "name": "ann"},
        {"role": "user", "content": [{"type": "text", "text": "and"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA", "detail": "low"}}]},
        {"role": "assistant", "content": "let me look", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "  "}},
            {"id": "c2", "function": {"name": "g"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r1"}]},
        {"role": "tool", "tool_call_id": "c2"},
        {"role": "assistant", "content": [{"type": "text", "text": "done"}]}
    ]}))
    .unwrap();
    assert_eq!(
        c.system,
        Some(vec![
            SystemContentBlock::Text("one".into()),
            SystemContentBlock::Text("two".into())
        ]),
        "system and developer become system blocks; parts are joined; empty ones are dropped"
    );
    let roles: Vec<_> = c.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::Assistant]);
    let user = &c.messages[0].content;
    assert_eq!(user[0], ContentBlock::Text("q".into()));
    assert_eq!(user[1], ContentBlock::Text("and".into()));
    assert_eq!(
        user[2],
        ContentBlock::Image(json!({"format": "jpeg", "source": {"bytes": "AAAA"}}))
    );
    let assistant = &c.messages[1].content;
    assert_eq!(assistant[0], ContentBlock::Text("let me look".into()));
    assert_eq!(
        assistant[1],
        ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: "c1".into(),
            name: "f".into(),
            input: json!({})
        }),
        "blank arguments mean none"
    );
    assert!(matches!(&assistant[2], ContentBlock::ToolUse(t) if t.input == json!({})));
    let results = &c.messages[2].content;
    assert_eq!(
        results[0],
        ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id: "c1".into(),
            content: vec![ToolResultContentBlock::Text("r1".into())],
            status: None
        })
    );
    assert!(
        matches!(&results[1], ContentBlock::ToolResult(r) if r.content == [ToolResultContentBlock::Text(String::new())])
    );
    assert_eq!(c.messages[3].content, [ContentBlock::Text("done".into())]);
    assert!(c.tool_config.is_none());
}

#[test]
fn tools_and_tool_choice() {
    let tools = json!([
        {"type": "function", "function": {"name": "a", "description": "does a", "strict": true}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "required": ["x"]}}}
    ]);
    let config = |choice: Value| {
        translate(with(json!({"tools": tools, "tool_choice": choice})))
            .unwrap()
            .tool_config
    };
    let c = config(Value::Null).unwrap();
    assert_eq!(c.tool_choice, None);
    assert_eq!(
        c.tools[0],
        converse::Tool::ToolSpec(ToolSpec {
            name: "a".into(),
            description: Some("does a".into()),
            input_schema: ToolInputSchema::Json(json!({"type": "object", "properties": {}}))
        })
    );
    assert!(
        matches!(&c.tools[1], converse::Tool::ToolSpec(s) if s.input_schema == ToolInputSchema::Json(json!({"type": "object", "required": ["x"]})))
    );
    assert!(matches!(
        config(json!("auto")).unwrap().tool_choice,
        Some(converse::ToolChoice::Auto(_))
    ));
    assert!(matches!(
        config(json!("required")).unwrap().tool_choice,
        Some(converse::ToolChoice::Any(_))
    ));
    assert_eq!(
        config(json!({"type": "function", "function": {"name": "b"}}))
            .unwrap()
            .tool_choice,
        Some(converse::ToolChoice::Tool(SpecificToolChoice { name: "b".into() }))
    );
    assert_eq!(config(json!("none")), None, "tool_choice none sends no tools");
    assert_eq!(translate(with(json!({"tools": []}))).unwrap().tool_config, None);
}

#[test]
fn inference_config_from_the_sampling_options() {
    let c = translate(with(
        json!({"temperature": 0.25, "top_p": 0.5, "max_tokens": 7, "stop": ["a", "b"], "seed": 3, "user": "u"}),
    ))
    .unwrap();
    assert_eq!(
        c.inference_config,
        Some(InferenceConfig {
            max_tokens: Some(7),
            temperature: Some(0.25),
            top_p: Some(0.5),
            stop_sequences: Some(vec!["a".into(), "b".into()])
        })
    );
    let bare = translate(with(json!({}))).unwrap();
    assert_eq!(bare.inference_config, Some(InferenceConfig::default()));
    let r = parse_value(&with(json!({"max_completion_tokens": 5_000_000_000u64}))).unwrap();
    assert_eq!(r.max_output_tokens(), Some(u32::MAX));
    assert_eq!(parse_value(&with(json!({}))).unwrap().max_output_tokens(), None);
}

#[test]
fn options_read_stream_and_usage() {
    let r = parse_value(&with(
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    ))
    .unwrap();
    assert_eq!(
        r.options(),
        ChatOptions {
            model: "m".into(),
            stream: true,
            include_usage: true
        }
    );
    let r = parse_value(&with(json!({"stream": null, "stream_options": null}))).unwrap();
    assert!(!r.options().stream && !r.options().include_usage);
}

#[test]
fn unsupported_options_name_their_parameter() {
    let cases = [
        (json!({"n": 2}), "n"),
        (json!({"n": "1"}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 3}), "top_logprobs"),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {}}}),
            "response_format",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "has space"}}}),
            "response_format",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": []}}}),
            "response_format",
        ),
        (json!({"response_format": {"type": "xml"}}), "response_format"),
        (json!({"response_format": "json"}), "response_format"),
        (json!({"audio": {"voice": "alloy", "format": "wav"}}), "audio"),
        (json!({"modalities": ["text", "audio"]}), "modalities"),
        (json!({"temperature": 3}), "temperature"),
        (json!({"temperature": "hot"}), "temperature"),
        (json!({"top_p": 1.5}), "top_p"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"max_tokens": "many"}), "max_tokens"),
        (json!({"max_completion_tokens": -1}), "max_completion_tokens"),
        (json!({"stop": 5}), "stop"),
        (json!({"stop": ["a", 1]}), "stop"),
        (json!({"stream": "yes"}), "stream"),
        (json!({"stream_options": {"include_usage": "yes"}}), "stream_options"),
        (json!({"model": 5}), "model"),
        (json!({"model": ""}), "model"),
        (json!({"model": null}), "model"),
        (json!({"messages": "hi"}), "messages"),
        (json!({"messages": []}), "messages"),
        (json!({"messages": null}), "messages"),
        (json!({"tools": {}}), "tools"),
        (json!({"tools": [{"type": "web_search"}]}), "tools[0]"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function"}]}),
            "tools[1]",
        ),
        (json!({"tool_choice": "sometimes"}), "tool_choice"),
        (json!({"tool_choice": {"type": "function"}}), "tool_choice"),
        (json!({"parallel_tool_calls": 1}), "parallel_tool_calls"),
        (json!({"seed": 1.5}), "seed"),
        (json!({"user": 7}), "user"),
        (json!({"frequency_penalty": "x"}), "frequency_penalty"),
    ];
    for (extra, param) in cases {
        assert_eq!(refused_param(with(extra.clone())), param, "{extra}");
    }
    let mut no_model = with(json!({}));
    no_model.as_object_mut().unwrap().remove("model");
    assert_eq!(refused_param(no_model), "model");
    let mut no_messages = with(json!({}));
    no_messages.as_object_mut().unwrap().remove("messages");
    assert_eq!(refused_param(no_messages), "messages");
    // Null means absent, as OpenAI's clients send it.
    for absent in [
        "n",
        "logprobs",
        "top_logprobs",
        "response_format",
        "audio",
        "modalities",
        "tools",
        "stop",
    ] {
        assert!(translate(with(json!({absent: null}))).is_ok(), "{absent}: null");
    }
    for accepted in [
        json!({"n": 1, "logprobs": false, "response_format": {"type": "text"}, "modalities": ["text"]}),
        json!({"temperature": 2, "top_p": 0, "max_tokens": 1}),
    ] {
        assert!(translate(with(accepted.clone())).is_ok(), "{accepted}");
    }
}

#[test]
fn refusals_quote_the_rule() {
    let e = translate(with(json!({"n": 3}))).unwrap_err();
    assert_eq!(
        e.message,
        "only n = 1 is supported: Bedrock returns one choice per request"
    );
    let e = translate(with(json!({"max_tokens": "many"}))).unwrap_err();
    assert_eq!(e.message, "'max_tokens' must be a positive integer");
    assert_eq!(e.code(), "invalid_request");
}

#[test]
fn message_problems_name_the_message() {
    let msg = |m: Value| {
        let e = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, m]})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[1]"), "{m}: {e:?}");
        e.message
    };
    assert!(msg(json!({"role": "robot", "content": "x"})).contains("robot"));
    assert!(msg(json!({"content": "x"})).contains("role"));
    assert!(msg(json!({"role": "tool", "content": "x"})).contains("tool_call_id"));
    assert!(msg(json!({"role": "user"})).contains("content"));
    assert!(msg(json!({"role": "user", "content": null})).contains("content"));
    assert!(msg(json!({"role": "user", "content": 5})).contains("content"));
    assert!(msg(json!({"role": "user", "content": []})).contains("needs content"));
    assert!(msg(json!({"role": "user", "content": [{"text": "x"}]})).contains("type"));
    assert!(
        msg(json!({"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]})).contains("input_audio")
    );
    assert!(msg(json!({"role": "user", "content": [{"type": "text"}]})).contains("text"));
    assert!(msg(json!({"role": "assistant", "content": null})).contains("content or tool_calls"));
    assert!(msg(json!({"role": "assistant", "tool_calls": []})).contains("content or tool_calls"));
    assert!(msg(
        json!({"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{"}}]})
    )
    .contains("not valid JSON"));
    assert!(msg(json!({"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]})).contains("id"));
    assert!(msg(json!({"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}))
        .contains("only hold text"));
    let e = translate(json!({"model": "m", "messages": [{"role": "assistant", "content": "x"}]})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages"));
    let e = translate(json!({"model": "m", "messages": [{"role": "system", "content": "x"}]})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages"));
}

#[test]
fn images_must_be_data_urls_of_known_types() {
    let image = |url: &str| {
        translate(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}]}]}))
    };
    let c = image("data:image/png;base64,iVBORw0KGgo=").unwrap();
    assert!(matches!(&c.messages[0].content[1], ContentBlock::Image(v) if v["format"] == "png"));
    for (url, format) in [
        ("data:image/jpg;base64,AAAA", "jpeg"),
        ("data:image/gif;base64,", "gif"),
        ("data:image/webp;base64,AA==", "webp"),
    ] {
        let c = image(url).unwrap();
        assert!(
            matches!(&c.messages[0].content[1], ContentBlock::Image(v) if v["format"] == format),
            "{url}"
        );
    }
    for (url, says) in [
        ("https://x/y.png", "data URL"),
        ("data:image/png;base64", "malformed"),
        ("data:image/png,AAAA", "base64"),
        ("data:image/svg+xml;base64,AAAA", "image/svg+xml"),
        ("data:image/png;base64,A", "not valid base64"),
        ("data:image/png;base64,AA=A", "not valid base64"),
    ] {
        let e = image(url).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0]"), "{url}");
        assert!(e.message.contains(says), "{url}: {}", e.message);
    }
}

#[test]
fn base64_check_agrees_with_a_full_decode() {
    let long = "QUJD".repeat(1024); // exactly one piece
    let cases = [
        String::new(),
        "AA==".into(),
        "AAA=".into(),
        "AAAA".into(),
        "AAA".into(),
        "AB==".into(), // non-canonical trailing bits
        "A===".into(),
        "AA==AAAA".into(),
        format!("{long}AA=="),
        format!("{}AA==AAAA", &long[..4092]), // padding ends the first piece
        format!("{long}{long}"),
        format!("{long}A"),
        format!("{long}*AAA"),
    ];
    for data in cases {
        let full = base64::engine::general_purpose::STANDARD.decode(&data).is_ok();
        assert_eq!(is_base64(&data), full, "{data:.20}… ({} chars)", data.len());
    }
}

#[test]
fn parse_errors_are_clear() {
    for body in [
        &b"{not json"[..],
        b"",
        b"{\"model\": \"m\", \"messages\": [",
        br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]} x"#,
    ] {
        let e = parse(body).unwrap_err();
        assert_eq!(
            (e.kind, e.code(), e.param.as_deref()),
            (TranslateErrorKind::InvalidJson, "invalid_json", None)
        );
        assert!(e.message.starts_with("The body is not valid JSON: "), "{}", e.message);
    }
    for body in [&b"[1,2,3]"[..], b"\"hi\"", b"null"] {
        let e = parse(body).unwrap_err();
        assert_eq!((e.kind, e.param.as_deref()), (TranslateErrorKind::InvalidRequest, None));
        assert_eq!(e.message, "the request body must be a JSON object");
    }
    let e = parse(br#"{"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "robot"}]}"#)
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages[2]"));
    assert!(
        e.message.starts_with("invalid 'messages[2]': unknown variant `robot`"),
        "{}",
        e.message
    );
    // serde's own entry point checks the same rules.
    assert!(serde_json::from_str::<ChatRequest>(r#"{"model": "m", "messages": [], "n": 1}"#).is_err());
    assert!(serde_json::from_value::<ChatRequest>(with(json!({"n": 2}))).is_err());
    assert!(serde_json::from_value::<ChatRequest>(with(json!({"n": 1}))).is_ok());
}

#[test]
fn upstream_body_is_the_request_with_its_model_replaced() {
    let original = json!({
        "model": "alias",
        "messages": [
            {"role": "developer", "content": "be brief", "name": "ops"},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}]},
            {"role": "assistant", "content": "", "refusal": "no", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "user", "content": "and?"}
        ],
        "stream": true, "stream_options": {"include_usage": true},
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 100, "max_completion_tokens": 50,
        "stop": ["x"], "n": 1, "logprobs": false, "response_format": {"type": "text"}, "modalities": ["text"],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": false}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": true,
        "frequency_penalty": -0.5, "presence_penalty": 0.5, "seed": -3, "user": "u",
        "top_k": 40, "metadata": {"team": "a"}, "chat_template_kwargs": {"thinking": false}
    });
    let request = parse_value(&original).unwrap();
    let sent: Value = serde_json::from_slice(&request.upstream_body("llama-70b").unwrap()).unwrap();
    let mut expected = original.clone();
    expected["model"] = json!("llama-70b");
    assert_eq!(sent, expected, "every field kept, unknown top-level ones included");
    assert_eq!(
        parse_value(&sent).unwrap().params,
        request.params,
        "it parses back the same"
    );
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        original,
        "Serialize keeps the model"
    );

    let with_nulls = with(json!({"temperature": null, "tools": null, "logprobs": null, "x": 1,
        "messages": [{"role": "user", "content": "hi", "name": null},
                     {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]},
                     {"role": "tool", "tool_call_id": "c"}]}));
    let body = parse_value(&with_nulls).unwrap().upstream_body("m2").unwrap();
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "m2", "x": 1, "messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]},
            {"role": "tool", "tool_call_id": "c"}]}),
        "null and absent fields are left out; nothing is added"
    );
}

#[test]
fn unknown_fields_are_ignored_for_bedrock() {
    let plain = translate(with(json!({}))).unwrap();
    let extra = translate(with(
        json!({"metadata": {"a": 1}, "store": true, "top_k": 5, "service_tier": "auto"}),
    ))
    .unwrap();
    assert_eq!(plain, extra);
    let escaped =
        parse(br#"{"mod\u0065l": "m", "messages": [{"role": "user", "content": "hi"}], "t\u006fp_k": 1}"#).unwrap();
    assert_eq!(escaped.model, "m");
    assert_eq!(escaped.params.extra.get("top_k"), Some(&json!(1)));
}

fn forced_tool(config: &ToolConfig) -> Option<&str> {
    match &config.tool_choice {
        Some(converse::ToolChoice::Tool(t)) => Some(&t.name),
        _ => None,
    }
}

fn tool_names(config: &ToolConfig) -> Vec<&str> {
    config
        .tools
        .iter()
        .map(|t| match t {
            converse::Tool::ToolSpec(spec) => spec.name.as_str(),
            _ => "",
        })
        .collect()
}

#[test]
fn a_json_schema_format_is_a_forced_tool_with_that_schema() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let c = translate(with(json!({"response_format": {"type": "json_schema",
        "json_schema": {"name": "place", "schema": schema, "strict": true}}})))
    .unwrap();
    let config = c.tool_config.unwrap();
    assert_eq!(tool_names(&config), ["place"]);
    assert_eq!(forced_tool(&config), Some("place"));
    let converse::Tool::ToolSpec(spec) = &config.tools[0] else {
        panic!()
    };
    assert_eq!(spec.input_schema, ToolInputSchema::Json(schema));

    let c = translate(with(json!({"response_format": {"type": "json_object"}}))).unwrap();
    let config = c.tool_config.unwrap();
    assert_eq!(forced_tool(&config), Some(FORMAT_TOOL));
}

#[test]
fn a_json_format_beside_client_tools_makes_the_model_call_one_of_them() {
    let tools = json!([{"type": "function", "function": {"name": "weather"}}]);
    let format = json!({"type": "json_schema", "json_schema": {"name": "answer"}});
    let c = translate(with(json!({"tools": tools, "response_format": format}))).unwrap();
    let config = c.tool_config.unwrap();
    assert_eq!(tool_names(&config), ["weather", "answer"]);
    assert!(matches!(config.tool_choice, Some(converse::ToolChoice::Any(_))));
    // A named choice is kept; "none" turns the client's tools off and forces the format.
    let c = translate(with(json!({"tools": tools, "response_format": format,
        "tool_choice": {"type": "function", "function": {"name": "weather"}}})))
    .unwrap();
    assert_eq!(forced_tool(c.tool_config.as_ref().unwrap()), Some("weather"));
    let c = translate(with(
        json!({"tools": tools, "response_format": format, "tool_choice": "none"}),
    ))
    .unwrap();
    let config = c.tool_config.unwrap();
    assert_eq!(tool_names(&config), ["answer"]);
    assert_eq!(forced_tool(&config), Some("answer"));
    // A format named like a tool is refused.
    let clash = json!({"type": "json_schema", "json_schema": {"name": "weather"}});
    assert_eq!(
        refused_param(with(json!({"tools": tools, "response_format": clash}))),
        "response_format"
    );
    // Text is no tool at all.
    let c = translate(with(json!({"response_format": {"type": "text"}}))).unwrap();
    assert!(c.tool_config.is_none());
}

#[test]
fn a_json_format_is_passed_on_unchanged_to_openai_compatible_upstreams() {
    let format =
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}});
    let r = parse_value(&with(json!({"response_format": format}))).unwrap();
    let body: Value = serde_json::from_slice(&r.upstream_body("gpt").unwrap()).unwrap();
    assert_eq!(body["response_format"], format);
}
