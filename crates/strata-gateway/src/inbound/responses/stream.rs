//! ConverseStream events → the Responses API's server-sent events, each an `event:` line and a
//! `data:` JSON object carrying its `type` and a `sequence_number`:
//!
//! `response.created`, `response.in_progress`; per output item `response.output_item.added`,
//! then for a message `response.content_part.added`, `response.output_text.delta`s,
//! `response.output_text.done`, `response.content_part.done`, or for a function call
//! `response.function_call_arguments.delta`s and `.done`; then `response.output_item.done`; and
//! last `response.completed` (or `response.incomplete`) with the whole response and its usage.
//! A failure ends the stream with `error` and `response.failed`, never a silent truncation.
//!
//! Converse reports usage in its last event (`metadata`, after `messageStop`), so the final
//! event waits for it (or for the stream's end).

use serde::Serialize;
use serde_json::{json, Value};
use strata_core::wire::converse::{
    ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart, StopReason, TokenUsage,
};

use super::response::{self, Echo};
use crate::error::Class;
use crate::inbound::openai::error::error_kind;
use crate::inbound::sse::{ConverseEvent, SseTranslator};

/// A text delta, written from borrowed fields (one per few streamed tokens).
#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    delta: &'a str,
    logprobs: [(); 0],
}

/// The output item being streamed.
#[derive(Debug)]
struct Open {
    /// The Converse content block it comes from.
    block: u32,
    output_index: usize,
    id: String,
    kind: OpenKind,
}

#[derive(Debug)]
enum OpenKind {
    /// A message; `text` so far.
    Message { text: String },
    /// A function call; `arguments` so far.
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Turns Converse stream events into Responses SSE text.
#[derive(Debug)]
pub struct StreamTranslator {
    echo: Echo,
    format_tool: Option<String>,
    sequence: u64,
    started: bool,
    open: Option<Open>,
    /// Finished output items, in order.
    output: Vec<Value>,
    stop: Option<StopReason>,
    usage: Option<TokenUsage>,
    /// The last event was sent.
    finished: bool,
}

impl StreamTranslator {
    pub fn new(echo: Echo, format_tool: Option<String>) -> Self {
        StreamTranslator {
            echo,
            format_tool,
            sequence: 0,
            started: false,
            open: None,
            output: Vec::new(),
            stop: None,
            usage: None,
            finished: false,
        }
    }

    fn emit(&mut self, out: &mut String, event: &str, mut data: Value) {
        if let Value::Object(map) = &mut data {
            map.insert("type".into(), Value::String(event.to_string()));
            map.insert("sequence_number".into(), json!(self.sequence));
        }
        self.sequence += 1;
        Self::write(out, event, &data);
    }

    fn write(out: &mut String, event: &str, data: &impl Serialize) {
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
        let snapshot = response::object(&self.echo, "in_progress", None, Vec::new(), Value::Null, Value::Null);
        self.emit(out, "response.created", json!({"response": snapshot}));
        self.emit(out, "response.in_progress", json!({"response": snapshot}));
    }

    /// Opens an output item for Converse block `block`, closing the one before.
    fn open(&mut self, block: u32, kind: OpenKind, out: &mut String) {
        self.close(out);
        let output_index = self.output.len();
        let (id, item) = match &kind {
            OpenKind::Message { .. } => {
                let id = self.echo.item_id("msg", output_index);
                let item = json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant",
                                  "content": []});
                (id, item)
            }
            OpenKind::Call { call_id, name, .. } => {
                let id = self.echo.item_id("fc", output_index);
                let item = response::function_call_item(&id, call_id, name, "", "in_progress");
                (id, item)
            }
        };
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        if matches!(kind, OpenKind::Message { .. }) {
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": id, "output_index": output_index, "content_index": 0,
                       "part": response::output_text("")}),
            );
        }
        self.open = Some(Open {
            block,
            output_index,
            id,
            kind,
        });
    }

    /// Finishes the open item: its `.done` events, and it joins the output.
    fn close(&mut self, out: &mut String) {
        let Some(open) = self.open.take() else { return };
        let status = match self.stop.map(response::status) {
            Some(("incomplete", _)) => "incomplete",
            _ => "completed",
        };
        let (id, index) = (open.id.as_str(), open.output_index);
        let item = match &open.kind {
            OpenKind::Message { text } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "part": response::output_text(text)}),
                );
                response::message_item(id, text, status)
            }
            OpenKind::Call {
                call_id,
                name,
                arguments,
            } => {
                let arguments = if arguments.is_empty() { "{}" } else { arguments };
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments}),
                );
                response::function_call_item(id, call_id, name, arguments, "completed")
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.output.push(item);
    }

    /// Appends text to the open message for `block`, opening one if needed.
    fn text(&mut self, block: u32, delta: &str, out: &mut String) {
        if !self
            .open
            .as_ref()
            .is_some_and(|o| o.block == block && matches!(o.kind, OpenKind::Message { .. }))
        {
            self.open(block, OpenKind::Message { text: String::new() }, out);
        }
        let Some(open) = &mut self.open else { return };
        if let OpenKind::Message { text } = &mut open.kind {
            text.push_str(delta);
        }
        let event = TextDelta {
            kind: "response.output_text.delta",
            sequence_number: self.sequence,
            item_id: &open.id,
            output_index: open.output_index,
            content_index: 0,
            delta,
            logprobs: [],
        };
        Self::write(out, "response.output_text.delta", &event);
        self.sequence += 1;
    }

    fn delta(&mut self, e: ContentBlockDeltaEvent, out: &mut String) {
        let block = e.content_block_index;
        match e.delta {
            ContentBlockDelta::Text(text) => self.text(block, &text, out),
            ContentBlockDelta::ToolUse(t) => {
                let Some(open) = &mut self.open else { return };
                if open.block != block {
                    return;
                }
                if let OpenKind::Call { arguments, .. } = &mut open.kind {
                    arguments.push_str(&t.input);
                    let data = json!({"item_id": open.id, "output_index": open.output_index, "delta": t.input});
                    self.emit(out, "response.function_call_arguments.delta", data);
                } else {
                    // The format tool's input is the answer's text.
                    self.text(block, &t.input, out);
                }
            }
            ContentBlockDelta::ReasoningContent(_) | ContentBlockDelta::Citation(_) => {}
        }
    }

    /// The last event, once the stop reason is known.
    fn finish(&mut self, out: &mut String) {
        let Some(stop) = self.stop else { return };
        if self.finished {
            return;
        }
        self.close(out);
        self.finished = true;
        let (status, incomplete) = response::status(stop);
        let body = response::object(
            &self.echo,
            status,
            incomplete,
            std::mem::take(&mut self.output),
            response::usage(self.usage.as_ref()),
            Value::Null,
        );
        let event = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(out, event, json!({"response": body}));
    }
}

impl SseTranslator for StreamTranslator {
    fn event(&mut self, event: ConverseEvent, out: &mut String) {
        if self.finished {
            return;
        }
        match event {
            ConverseEvent::MessageStart => self.start(out),
            ConverseEvent::BlockStart(e) => {
                self.start(out);
                let ContentBlockStart::ToolUse(t) = e.start;
                let kind = if self.format_tool.as_deref() == Some(t.name.as_str()) {
                    OpenKind::Message { text: String::new() }
                } else {
                    OpenKind::Call {
                        call_id: t.tool_use_id,
                        name: t.name,
                        arguments: String::new(),
                    }
                };
                self.open(e.content_block_index, kind, out);
            }
            ConverseEvent::BlockDelta(e) => {
                self.start(out);
                self.delta(e, out);
            }
            ConverseEvent::BlockStop(e) => {
                if self.open.as_ref().is_some_and(|o| o.block == e.content_block_index) {
                    self.close(out);
                }
            }
            ConverseEvent::MessageStop(e) => {
                self.start(out);
                self.stop.get_or_insert(e.stop_reason);
                self.close(out);
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

    /// `error`, then `response.failed` with what was produced so far.
    fn error(&mut self, message: &str, class: Class, out: &mut String) {
        if self.finished {
            return;
        }
        self.start(out);
        self.finished = true;
        let code = error_kind(class).2;
        self.emit(out, "error", json!({"code": code, "message": message, "param": null}));
        let mut output = std::mem::take(&mut self.output);
        if let Some(open) = self.open.take() {
            output.push(match &open.kind {
                OpenKind::Message { text } => response::message_item(&open.id, text, "incomplete"),
                OpenKind::Call {
                    call_id,
                    name,
                    arguments,
                } => response::function_call_item(&open.id, call_id, name, arguments, "incomplete"),
            });
        }
        let body = response::object(
            &self.echo,
            "failed",
            None,
            output,
            response::usage(self.usage.as_ref()),
            json!({"code": "server_error", "message": message}),
        );
        self.emit(out, "response.failed", json!({"response": body}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn translator(format: Option<&str>) -> StreamTranslator {
        let echo = Echo {
            id: "resp_r".into(),
            created_at: 1,
            model: "claude".into(),
            fields: Map::new(),
        };
        StreamTranslator::new(echo, format.map(str::to_string))
    }

    /// The (event, data) pairs of an SSE text; each data names its event and numbers it in order.
    fn events(sse: &str, first: u64) -> Vec<(String, Value)> {
        let list: Vec<(String, Value)> = sse
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (event, data) = e.split_once('\n').unwrap();
                let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                let event = event.strip_prefix("event: ").unwrap().to_string();
                assert_eq!(data["type"], Value::String(event.clone()), "the data names its event");
                (event, data)
            })
            .collect();
        for (i, (_, d)) in list.iter().enumerate() {
            assert_eq!(d["sequence_number"], json!(first + i as u64));
        }
        list
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

    fn names(ev: &[(String, Value)]) -> Vec<&str> {
        ev.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn a_text_stream_has_the_responses_event_order() {
        let mut t = translator(None);
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
                    json!({"usage": {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}, "metrics": {"latencyMs": 1}}),
                ),
            ],
        );
        let ev = events(&out, 0);
        assert_eq!(
            names(&ev),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(ev[0].1["response"]["status"], "in_progress");
        assert_eq!(ev[4].1["item_id"], ev[2].1["item"]["id"]);
        assert_eq!(ev[6].1["text"], "Hello world");
        let done = &ev[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello world");
        assert_eq!(done["usage"]["total_tokens"], 13);
        assert!(t.complete());
        let mut rest = String::new();
        t.end(&mut rest);
        assert!(rest.is_empty(), "nothing is sent twice");
    }

    #[test]
    fn a_function_call_streams_its_arguments_and_a_limit_is_incomplete() {
        let mut t = translator(None);
        let out = feed(
            &mut t,
            &[
                ("messageStart", json!({"role": "assistant"})),
                (
                    "contentBlockStart",
                    json!({"start": {"toolUse": {"toolUseId": "tu1", "name": "w"}}, "contentBlockIndex": 0}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"toolUse": {"input": "{\"city\":"}}, "contentBlockIndex": 0}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"toolUse": {"input": "\"Oslo\"}"}}, "contentBlockIndex": 0}),
                ),
                ("contentBlockStop", json!({"contentBlockIndex": 0})),
                ("messageStop", json!({"stopReason": "tool_use"})),
            ],
        );
        let ev = events(&out, 0);
        assert_eq!(ev[2].1["item"]["type"], "function_call");
        assert_eq!(ev[2].1["item"]["call_id"], "tu1");
        assert_eq!(ev[3].0, "response.function_call_arguments.delta");
        assert_eq!(ev[5].0, "response.function_call_arguments.done");
        assert_eq!(ev[5].1["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(ev[6].0, "response.output_item.done");
        // No metadata event: the stream's end still sends the final response.
        let mut rest = String::new();
        t.end(&mut rest);
        let tail = events(&rest, ev.len() as u64);
        assert_eq!(tail[0].0, "response.completed");
        assert_eq!(tail[0].1["response"]["output"][0]["arguments"], "{\"city\":\"Oslo\"}");

        let mut t = translator(Some("place"));
        let out = feed(
            &mut t,
            &[
                (
                    "contentBlockStart",
                    json!({"start": {"toolUse": {"toolUseId": "t", "name": "place"}}, "contentBlockIndex": 0}),
                ),
                (
                    "contentBlockDelta",
                    json!({"delta": {"toolUse": {"input": "{}"}}, "contentBlockIndex": 0}),
                ),
                ("messageStop", json!({"stopReason": "max_tokens"})),
                (
                    "metadata",
                    json!({"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}}),
                ),
            ],
        );
        let ev = events(&out, 0);
        assert!(
            names(&ev).contains(&"response.output_text.delta"),
            "the format tool's input is text"
        );
        let last = &ev.last().unwrap();
        assert_eq!(last.0, "response.incomplete");
        assert_eq!(last.1["response"]["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(last.1["response"]["output"][0]["content"][0]["text"], "{}");
    }

    #[test]
    fn a_broken_stream_ends_with_error_and_response_failed() {
        let mut t = translator(None);
        let out = feed(
            &mut t,
            &[(
                "contentBlockDelta",
                json!({"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
            )],
        );
        assert!(!t.complete());
        let first = events(&out, 0);
        let mut tail = String::new();
        t.error("cut", Class::Unavailable, &mut tail);
        let ev = events(&tail, first.len() as u64);
        assert_eq!(names(&ev), ["error", "response.failed"]);
        assert_eq!(ev[0].1["message"], "cut");
        assert_eq!(ev[1].1["response"]["status"], "failed");
        assert_eq!(ev[1].1["response"]["output"][0]["content"][0]["text"], "Hel");
    }
}
