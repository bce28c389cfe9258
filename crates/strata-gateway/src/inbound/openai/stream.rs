//! ConverseStream events → OpenAI `chat.completion.chunk`s, with tool-call deltas indexed per
//! call and one finish reason, then the usage chunk when asked.

use serde::Serialize;
use serde_json::json;
use strata_core::wire::converse::{ContentBlockDelta, ContentBlockStart, StopReason};

use super::response::chat_usage;
use super::translate::finish_reason;
use crate::inbound::sse::ConverseEvent;

#[derive(Serialize)]
struct TextDelta<'a> {
    content: &'a str,
}

/// Turns Converse stream events into `data:` lines of chunk JSON, written straight into the
/// outgoing text: no string per chunk, no list per event.
///
/// A chunk is `{"choices":[{"delta":…,"finish_reason":…,"index":0,"logprobs":null}]` and then
/// the same tail every time (creation time, id, model, object), so the tail is encoded once and
/// only the delta per chunk (escaping the id and model again for every token was ~8 % of a
/// translated stream's instructions). Fields are in alphabetical order, the order a `json!` map
/// writes them in, as the chunks always were.
#[derive(Debug)]
pub struct StreamTranslator {
    /// `,"created":…,"id":…,"model":…,"object":"chat.completion.chunk"`, encoded once.
    tail: String,
    /// A delta being encoded (kept between chunks, so encoding allocates nothing).
    json: Vec<u8>,
    include_usage: bool,
    started: bool,
    finished: bool,
    /// Converse content-block index → OpenAI tool-call index.
    tool_blocks: Vec<(u32, usize)>,
    /// The tool carrying a JSON `response_format`: its input is streamed as content.
    format_tool: Option<String>,
    /// The content block of the format tool's call, once it started.
    format_block: Option<u32>,
}

impl StreamTranslator {
    pub fn new(model: &str, id: &str, created: u64, include_usage: bool) -> Self {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        let tail = format!(
            r#","created":{created},"id":{},"model":{},"object":"chat.completion.chunk""#,
            quoted(id),
            quoted(model)
        );
        StreamTranslator {
            tail,
            json: Vec::new(),
            include_usage,
            started: false,
            finished: false,
            tool_blocks: Vec::new(),
            format_tool: None,
            format_block: None,
        }
    }

    /// Streams calls of `tool` (a JSON `response_format`) as the answer's content.
    pub fn with_format_tool(mut self, tool: Option<String>) -> Self {
        self.format_tool = tool;
        self
    }

    /// Writes one chunk as a `data:` line.
    fn chunk(&mut self, delta: impl Serialize, finish: Option<&'static str>, out: &mut String) {
        self.json.clear();
        if serde_json::to_writer(&mut self.json, &delta).is_err() {
            return;
        }
        let Ok(delta) = std::str::from_utf8(&self.json) else {
            return;
        };
        out.push_str(r#"data: {"choices":[{"delta":"#);
        out.push_str(delta);
        out.push_str(match finish {
            None => r#","finish_reason":null"#,
            Some(_) => r#","finish_reason":""#,
        });
        if let Some(reason) = finish {
            // Finish reasons are fixed ASCII words: nothing to escape.
            out.push_str(reason);
            out.push('"');
        }
        out.push_str(r#","index":0,"logprobs":null}]"#);
        out.push_str(&self.tail);
        out.push_str("}\n\n");
    }

    fn start(&mut self, out: &mut String) {
        if !self.started {
            self.started = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None, out);
        }
    }

    /// Feeds one event; writes the chunks it becomes.
    pub fn on_event(&mut self, event: ConverseEvent, out: &mut String) {
        match event {
            ConverseEvent::MessageStart => self.start(out),
            ConverseEvent::BlockStart(e) => {
                self.start(out);
                let ContentBlockStart::ToolUse(t) = e.start;
                if self.format_tool.as_deref() == Some(t.name.as_str()) {
                    self.format_block = Some(e.content_block_index);
                    return;
                }
                let index = self.tool_blocks.len();
                self.tool_blocks.push((e.content_block_index, index));
                self.chunk(
                    json!({"tool_calls": [{"index": index, "id": t.tool_use_id, "type": "function",
                    "function": {"name": t.name, "arguments": ""}}]}),
                    None,
                    out,
                );
            }
            ConverseEvent::BlockDelta(e) => {
                self.start(out);
                match e.delta {
                    ContentBlockDelta::Text(t) => self.chunk(TextDelta { content: &t }, None, out),
                    ContentBlockDelta::ToolUse(t) if self.format_block == Some(e.content_block_index) => {
                        self.chunk(TextDelta { content: &t.input }, None, out);
                    }
                    ContentBlockDelta::ToolUse(t) => {
                        if let Some(&(_, index)) = self.tool_blocks.iter().find(|(b, _)| *b == e.content_block_index) {
                            self.chunk(
                                json!({"tool_calls": [{"index": index, "function": {"arguments": t.input}}]}),
                                None,
                                out,
                            );
                        }
                    }
                    _ => {}
                }
            }
            ConverseEvent::MessageStop(e) => {
                self.start(out);
                if !self.finished {
                    self.finished = true;
                    let formatted_only = self.format_block.is_some() && self.tool_blocks.is_empty();
                    let finish = match e.stop_reason {
                        StopReason::ToolUse if formatted_only => "stop",
                        other => finish_reason(other),
                    };
                    self.chunk(json!({}), Some(finish), out);
                }
            }
            ConverseEvent::Metadata(e) if self.include_usage => {
                self.json.clear();
                if serde_json::to_writer(&mut self.json, &chat_usage(&e.usage)).is_ok() {
                    if let Ok(usage) = std::str::from_utf8(&self.json) {
                        out.push_str(r#"data: {"choices":[]"#);
                        out.push_str(&self.tail);
                        out.push_str(r#","usage":"#);
                        out.push_str(usage);
                        out.push_str("}\n\n");
                    }
                }
            }
            ConverseEvent::BlockStop(_) | ConverseEvent::Metadata(_) => {}
        }
    }

    /// Whether the finish reason was sent.
    pub fn finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_are_byte_identical_to_the_json_maps_they_replaced() {
        let mut t = super::StreamTranslator::new("nova \"x\"", "chatcmpl-1", 7, true);
        let map = |choices: serde_json::Value| {
            serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7,
                "model": "nova \"x\"", "choices": choices})
        };
        let mut out = String::new();
        t.chunk(super::TextDelta { content: "hi \"x\"\n" }, Some("stop"), &mut out);
        let expected = map(serde_json::json!([{"index": 0, "delta": {"content": "hi \"x\"\n"},
            "finish_reason": "stop", "logprobs": null}]));
        assert_eq!(out, format!("data: {expected}\n\n"));

        let mut out = String::new();
        t.chunk(serde_json::json!({"role": "assistant", "content": ""}), None, &mut out);
        let expected = map(
            serde_json::json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
            "finish_reason": null, "logprobs": null}]),
        );
        assert_eq!(out, format!("data: {expected}\n\n"));

        let mut out = String::new();
        let usage = r#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3},"metrics":{"latencyMs":1}}"#;
        t.on_event(ConverseEvent::decode("metadata", usage.as_bytes()).unwrap(), &mut out);
        let mut expected = map(serde_json::json!([]));
        expected["usage"] = serde_json::json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 0}});
        assert_eq!(out, format!("data: {expected}\n\n"));
    }

    use super::*;
    use serde_json::Value;

    /// Feeds one event by its `:event-type` and JSON payload, as the stream driver does; the
    /// chunks' JSON, one string each.
    fn on(t: &mut StreamTranslator, kind: &str, payload: &[u8]) -> Vec<String> {
        let mut out = String::new();
        if let Some(e) = ConverseEvent::decode(kind, payload) {
            t.on_event(e, &mut out);
        }
        out.split_terminator("\n\n")
            .map(|line| line.strip_prefix("data: ").unwrap().to_string())
            .collect()
    }

    fn text_of(chunks: &[String]) -> String {
        chunks
            .iter()
            .filter_map(|c| serde_json::from_str::<Value>(c).ok())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn text_stream_with_usage() {
        let mut t = StreamTranslator::new("m", "id", 1, true);
        let mut out = Vec::new();
        out.extend(on(&mut t, "messageStart", br#"{"role":"assistant"}"#));
        out.extend(on(
            &mut t,
            "contentBlockDelta",
            br#"{"delta":{"text":"Hello"},"contentBlockIndex":0}"#,
        ));
        out.extend(on(
            &mut t,
            "contentBlockDelta",
            br#"{"delta":{"text":" world"},"contentBlockIndex":0}"#,
        ));
        out.extend(on(&mut t, "contentBlockStop", br#"{"contentBlockIndex":0}"#));
        out.extend(on(&mut t, "messageStop", br#"{"stopReason":"max_tokens"}"#));
        out.extend(on(&mut t, "messageStop", br#"{"stopReason":"end_turn"}"#));
        out.extend(on(
            &mut t,
            "metadata",
            br#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3},"metrics":{"latencyMs":1}}"#,
        ));
        assert_eq!(text_of(&out), "Hello world");
        let finishes: Vec<Value> = out
            .iter()
            .map(|c| serde_json::from_str::<Value>(c).unwrap())
            .filter(|v| v["choices"][0]["finish_reason"].is_string())
            .collect();
        assert_eq!(finishes.len(), 1, "one finish reason");
        assert_eq!(finishes[0]["choices"][0]["finish_reason"], "length");
        let last: Value = serde_json::from_str(out.last().unwrap()).unwrap();
        assert_eq!(last["usage"]["total_tokens"], 3);
    }

    #[test]
    fn tool_call_deltas_concatenate_to_json() {
        let mut t = StreamTranslator::new("m", "id", 1, false);
        let mut out = Vec::new();
        out.extend(on(
            &mut t,
            "contentBlockStart",
            br#"{"start":{"toolUse":{"toolUseId":"t1","name":"f"}},"contentBlockIndex":1}"#,
        ));
        out.extend(on(
            &mut t,
            "contentBlockDelta",
            br#"{"delta":{"toolUse":{"input":"{\"a\":"}},"contentBlockIndex":1}"#,
        ));
        out.extend(on(
            &mut t,
            "contentBlockDelta",
            br#"{"delta":{"toolUse":{"input":"1}"}},"contentBlockIndex":1}"#,
        ));
        out.extend(on(&mut t, "messageStop", br#"{"stopReason":"tool_use"}"#));
        let args: String = out
            .iter()
            .map(|c| serde_json::from_str::<Value>(c).unwrap())
            .filter_map(|v| {
                v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"a": 1}));
        assert!(t.finished());
    }

    #[test]
    fn a_format_tool_call_streams_as_content() {
        let mut t = StreamTranslator::new("m", "id", 1, false).with_format_tool(Some("place".into()));
        let mut out = Vec::new();
        out.extend(on(
            &mut t,
            "contentBlockStart",
            br#"{"start":{"toolUse":{"toolUseId":"t1","name":"place"}},"contentBlockIndex":0}"#,
        ));
        for piece in [r#"{\"city\":"#, r#"\"Paris\"}"#] {
            let event = format!(r#"{{"delta":{{"toolUse":{{"input":"{piece}"}}}},"contentBlockIndex":0}}"#);
            out.extend(on(&mut t, "contentBlockDelta", event.as_bytes()));
        }
        out.extend(on(&mut t, "messageStop", br#"{"stopReason":"tool_use"}"#));
        assert_eq!(
            serde_json::from_str::<Value>(&text_of(&out)).unwrap(),
            json!({"city": "Paris"})
        );
        assert!(out.iter().all(|c| !c.contains("tool_calls")));
        let last: Value = serde_json::from_str(out.last().unwrap()).unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
    }
}
