//! ConverseStream events → Anthropic's server-sent events, in the order the Messages API sends
//! them: `message_start`, then per content block `content_block_start`, `content_block_delta`s
//! (`text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`) and
//! `content_block_stop`, then `message_delta` (stop reason and usage) and `message_stop`.
//!
//! Converse reports usage in its last event (`metadata`, after `messageStop`), so
//! `message_start` carries zero input tokens and `message_delta` carries the real counts (input,
//! output and cache), which the Anthropic SDKs take over as the message's usage.

use serde::Serialize;
use serde_json::{json, Value};
use strata_core::wire::converse::{
    ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart, StopReason, TokenUsage,
};

use super::error::stream_event;
use super::response::{stop_reason, stop_sequence, usage};
use crate::error::Class;
use crate::inbound::sse::{ConverseEvent, SseTranslator};

/// A text delta, written from borrowed fields (one per few streamed tokens).
#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: TextDeltaBody<'a>,
}

#[derive(Serialize)]
struct TextDeltaBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// Turns Converse stream events into Anthropic SSE text.
#[derive(Debug)]
pub struct StreamTranslator {
    id: String,
    model: String,
    stop_sequences: Vec<String>,
    started: bool,
    /// The open block: (Converse content-block index, Anthropic index).
    open: Option<(u32, u32)>,
    next_index: u32,
    stop: Option<StopReason>,
    usage: Option<TokenUsage>,
    /// `message_stop` was sent.
    finished: bool,
}

/// What kind of block a delta belongs to, for a block Converse did not announce.
enum Kind {
    Text,
    Thinking,
}

impl StreamTranslator {
    pub fn new(id: &str, model: &str, stop_sequences: Vec<String>) -> Self {
        StreamTranslator {
            id: id.to_string(),
            model: model.to_string(),
            stop_sequences,
            started: false,
            open: None,
            next_index: 0,
            stop: None,
            usage: None,
            finished: false,
        }
    }

    fn emit(out: &mut String, event: &str, data: &impl Serialize) {
        out.push_str("event: ");
        out.push_str(event);
        out.push_str("\ndata: ");
        out.push_str(&serde_json::to_string(data).unwrap_or_default());
        out.push_str("\n\n");
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        Self::emit(
            out,
            "message_start",
            &json!({"type": "message_start", "message": message}),
        );
    }

    fn close_block(&mut self, out: &mut String) {
        if let Some((_, index)) = self.open.take() {
            Self::emit(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    /// Opens a block for Converse block `converse_index`, closing the one before.
    fn open_block(&mut self, converse_index: u32, block: Value, out: &mut String) -> u32 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((converse_index, index));
        Self::emit(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    /// The Anthropic index of Converse block `converse_index`, opening it if it is new.
    fn block_for(&mut self, converse_index: u32, kind: Kind, out: &mut String) -> u32 {
        match self.open {
            Some((c, index)) if c == converse_index => index,
            _ => {
                let block = match kind {
                    Kind::Text => json!({"type": "text", "text": ""}),
                    Kind::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                };
                self.open_block(converse_index, block, out)
            }
        }
    }

    fn delta(&mut self, e: ContentBlockDeltaEvent, out: &mut String) {
        let at = e.content_block_index;
        match e.delta {
            ContentBlockDelta::Text(text) => {
                let index = self.block_for(at, Kind::Text, out);
                let event = TextDelta {
                    kind: "content_block_delta",
                    index,
                    delta: TextDeltaBody {
                        kind: "text_delta",
                        text: &text,
                    },
                };
                Self::emit(out, "content_block_delta", &event);
            }
            ContentBlockDelta::ToolUse(t) => {
                // A tool's input only follows the start that named the tool.
                if let Some((c, index)) = self.open {
                    if c == at {
                        let delta = json!({"type": "input_json_delta", "partial_json": t.input});
                        Self::emit(
                            out,
                            "content_block_delta",
                            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
                        );
                    }
                }
            }
            ContentBlockDelta::ReasoningContent(r) => {
                if let Some(data) = r.get("redactedContent") {
                    self.open_block(at, json!({"type": "redacted_thinking", "data": data}), out);
                    return;
                }
                let index = self.block_for(at, Kind::Thinking, out);
                let delta = if let Some(text) = r.get("text") {
                    json!({"type": "thinking_delta", "thinking": text})
                } else if let Some(signature) = r.get("signature") {
                    json!({"type": "signature_delta", "signature": signature})
                } else {
                    return;
                };
                Self::emit(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index, "delta": delta}),
                );
            }
            ContentBlockDelta::Citation(_) => {}
        }
    }

    /// `message_delta` and `message_stop`, once the stop reason is known.
    fn finish(&mut self, out: &mut String) {
        let Some(stop) = self.stop else { return };
        if self.finished {
            return;
        }
        self.finished = true;
        self.close_block(out);
        let usage = match &self.usage {
            Some(u) => usage(u),
            None => json!({"output_tokens": 0}),
        };
        let delta =
            json!({"stop_reason": stop_reason(stop), "stop_sequence": stop_sequence(stop, &self.stop_sequences)});
        Self::emit(
            out,
            "message_delta",
            &json!({"type": "message_delta", "delta": delta, "usage": usage}),
        );
        Self::emit(out, "message_stop", &json!({"type": "message_stop"}));
    }
}

impl SseTranslator for StreamTranslator {
    fn event(&mut self, event: ConverseEvent, out: &mut String) {
        match event {
            ConverseEvent::MessageStart => self.start(out),
            ConverseEvent::BlockStart(e) => {
                self.start(out);
                let ContentBlockStart::ToolUse(t) = e.start;
                let block = json!({"type": "tool_use", "id": t.tool_use_id, "name": t.name, "input": {}});
                self.open_block(e.content_block_index, block, out);
            }
            ConverseEvent::BlockDelta(e) => {
                self.start(out);
                self.delta(e, out);
            }
            ConverseEvent::BlockStop(e) => {
                if self.open.is_some_and(|(c, _)| c == e.content_block_index) {
                    self.close_block(out);
                }
            }
            ConverseEvent::MessageStop(e) => {
                self.start(out);
                self.close_block(out);
                self.stop.get_or_insert(e.stop_reason);
            }
            ConverseEvent::Metadata(e) => {
                self.usage = Some(e.usage);
                self.finish(out);
            }
        }
    }

    fn complete(&self) -> bool {
        self.stop.is_some()
    }

    fn end(&mut self, out: &mut String) {
        self.finish(out);
    }

    fn error(&mut self, message: &str, class: Class, out: &mut String) {
        out.push_str(&stream_event(message, class));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (event, data) pairs of an SSE text.
    fn events(sse: &str) -> Vec<(String, Value)> {
        sse.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (event, data) = e.split_once('\n').unwrap();
                let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                let event = event.strip_prefix("event: ").unwrap().to_string();
                assert_eq!(data["type"], Value::String(event.clone()), "the data names its event");
                (event, data)
            })
            .collect()
    }

    fn feed(t: &mut StreamTranslator, list: &[(&str, Value)]) -> String {
        let mut out = String::new();
        for (kind, payload) in list {
            if let Some(event) = ConverseEvent::decode(kind, payload.to_string().as_bytes()) {
                t.event(event, &mut out);
            }
        }
        out
    }

    const USAGE: &str = r#"{"inputTokens":9,"outputTokens":4,"totalTokens":13,"cacheWriteInputTokens":2}"#;

    #[test]
    fn a_text_stream_has_the_messages_api_event_order() {
        let mut t = StreamTranslator::new("msg_1", "claude", vec![]);
        let out = feed(
            &mut t,
            &[
                ("messageStart", json!({"role": "assistant"})),
                (
                    "contentBlockDelta",
                    json!({"delta": {"text": "Hello"}, "contentBlockIndex": 0}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"text": " world"}, "contentBlockIndex": 0}),
                ),
                ("contentBlockStop", json!({"contentBlockIndex": 0})),
                ("messageStop", json!({"stopReason": "end_turn"})),
                (
                    "metadata",
                    json!({"usage": serde_json::from_str::<Value>(USAGE).unwrap(), "metrics": {"latencyMs": 1}}),
                ),
            ],
        );
        let ev = events(&out);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ev[0].1["message"]["id"], "msg_1");
        assert_eq!(ev[0].1["message"]["content"], json!([]));
        assert_eq!(ev[1].1["content_block"], json!({"type": "text", "text": ""}));
        assert_eq!(ev[3].1["delta"], json!({"type": "text_delta", "text": " world"}));
        assert_eq!(ev[5].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(ev[5].1["usage"]["input_tokens"], 9);
        assert_eq!(ev[5].1["usage"]["output_tokens"], 4);
        assert_eq!(ev[5].1["usage"]["cache_creation_input_tokens"], 2);
        assert!(t.complete());
        let mut rest = String::new();
        t.end(&mut rest);
        assert!(rest.is_empty(), "nothing is sent twice");
    }

    #[test]
    fn tool_input_streams_as_json_deltas_after_text() {
        let mut t = StreamTranslator::new("m", "claude", vec![]);
        let out = feed(
            &mut t,
            &[
                ("messageStart", json!({"role": "assistant"})),
                (
                    "contentBlockDelta",
                    json!({"delta": {"text": "Checking."}, "contentBlockIndex": 0}),
                ),
                (
                    "contentBlockStart",
                    json!({"start": {"toolUse": {"toolUseId": "tu1", "name": "w"}}, "contentBlockIndex": 1}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"toolUse": {"input": "{\"city\":"}}, "contentBlockIndex": 1}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"toolUse": {"input": "\"Oslo\"}"}}, "contentBlockIndex": 1}),
                ),
                ("contentBlockStop", json!({"contentBlockIndex": 1})),
                ("messageStop", json!({"stopReason": "tool_use"})),
            ],
        );
        let ev = events(&out);
        // The text block is closed before the tool's opens.
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop"
            ]
        );
        assert_eq!(ev[4].1["index"], 1);
        assert_eq!(
            ev[4].1["content_block"],
            json!({"type": "tool_use", "id": "tu1", "name": "w", "input": {}})
        );
        let json: String = ev
            .iter()
            .filter_map(|(_, d)| d["delta"]["partial_json"].as_str().map(str::to_string))
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), json!({"city": "Oslo"}));
        assert!(t.complete());
        // No metadata event: the end still sends message_delta and message_stop.
        let mut rest = String::new();
        t.end(&mut rest);
        let tail = events(&rest);
        assert_eq!(tail[0].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(tail[1].0, "message_stop");
    }

    #[test]
    fn thinking_deltas_and_a_guardrail_refusal() {
        let mut t = StreamTranslator::new("m", "claude", vec!["END".into()]);
        let out = feed(
            &mut t,
            &[
                ("messageStart", json!({"role": "assistant"})),
                (
                    "contentBlockDelta",
                    json!({"delta": {"reasoningContent": {"text": "hmm"}}, "contentBlockIndex": 0}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"reasoningContent": {"signature": "sig"}}, "contentBlockIndex": 0}),
                ),
                ("messageStop", json!({"stopReason": "guardrail_intervened"})),
                (
                    "metadata",
                    json!({"usage": {"inputTokens": 1, "outputTokens": 0, "totalTokens": 1}, "metrics": {"latencyMs": 1}}),
                ),
            ],
        );
        let ev = events(&out);
        assert_eq!(ev[1].1["content_block"]["type"], "thinking");
        assert_eq!(ev[2].1["delta"], json!({"type": "thinking_delta", "thinking": "hmm"}));
        assert_eq!(ev[3].1["delta"], json!({"type": "signature_delta", "signature": "sig"}));
        let delta = ev.iter().find(|(n, _)| n == "message_delta").unwrap();
        assert_eq!(delta.1["delta"]["stop_reason"], "refusal");
        assert_eq!(delta.1["delta"]["stop_sequence"], Value::Null);
    }

    #[test]
    fn an_unfinished_stream_is_not_complete_and_errors_are_anthropic_shaped() {
        let mut t = StreamTranslator::new("m", "claude", vec![]);
        let out = feed(
            &mut t,
            &[(
                "contentBlockDelta",
                json!({"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
            )],
        );
        assert!(!t.complete());
        assert_eq!(events(&out)[0].0, "message_start");
        let mut tail = String::new();
        t.error("cut", Class::Unavailable, &mut tail);
        let ev = events(&tail);
        assert_eq!(ev[0].0, "error");
        assert_eq!(ev[0].1["error"]["type"], "api_error");
    }
}
