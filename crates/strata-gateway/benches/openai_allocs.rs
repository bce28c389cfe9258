//! Heap allocations per request of the OpenAI translation, counted (not timed): the same inputs
//! give the same counts on every machine, so each change to the translation can write its figure
//! down (docs/performance.md). The steps of a chat request served by a Bedrock model:
//! decoding the request into a call, its translation to a Converse body (run only for Bedrock
//! targets), translating a Converse answer into a
//! `chat.completion`, and a 64-token ConverseStream — its frames split and read by the upstream
//! layer, then translated into `chat.completion.chunk`s — plus the OpenAI-compatible relay's
//! complete answer (its model set to the client's) and its event reading.
//!
//! `cargo bench -p strata-gateway --bench openai_allocs`

use bytes::Bytes;
use futures::StreamExt;
use strata_core::eventstream::event_frame;
use strata_gateway::inbound::openai::stream::StreamTranslator;
use strata_gateway::inbound::openai::ChatCompletions;
use strata_gateway::inbound::sse::{ConverseEvent, SseTranslator};
use strata_gateway::request::{Decoding, Dialect};
use strata_gateway::upstream::bedrock::frames;
use strata_gateway::upstream::openai_compat::sse_events;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const CONFIG: &str = "
accounts:
  - name: a
    credentials: {type: static, access_key_id: AKIAEXAMPLE000000001, secret_access_key: example-secret}
models:
  - name: nova
    deployments: [{account: a, region: us-east-1, model: amazon.nova-pro-v1:0}]
discovery: {enabled: false}
tenants:
  - {name: t, keys: [sk-example-000001]}
";

const CHAT: &str = r#"{"model":"nova","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benchmark in one line."}],"max_tokens":64,"temperature":0.2,"stream":true,"stream_options":{"include_usage":true}}"#;

const ANSWER: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"The gateway relays each request with little added work and one usage record."}]}},"stopReason":"end_turn","usage":{"inputTokens":24,"outputTokens":16,"totalTokens":40},"metrics":{"latencyMs":120}}"#;

/// An OpenAI-compatible upstream's complete answer.
const RELAYED: &str = r#"{"id":"chatcmpl-9f2c","object":"chat.completion","created":1764547200,"model":"llama-3.3-70b-instruct","choices":[{"index":0,"message":{"role":"assistant","content":"The gateway relays each request with little added work and one usage record."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":16,"total_tokens":40},"system_fingerprint":"fp_1"}"#;

/// (allocations, bytes) made by `f`.
fn count<T>(f: impl FnOnce() -> T) -> (u64, u64, T) {
    let before = dhat::HeapStats::get();
    let out = f();
    let after = dhat::HeapStats::get();
    (
        after.total_blocks - before.total_blocks,
        after.total_bytes - before.total_bytes,
        out,
    )
}

/// A 64-token ConverseStream answer as Bedrock sends it: one frame per event.
fn converse_stream() -> Bytes {
    let mut frames = Vec::new();
    let mut push = |kind: &str, payload: String| {
        frames.extend_from_slice(&event_frame(kind, payload).unwrap_or_default());
    };
    push("messageStart", r#"{"role":"assistant"}"#.into());
    for i in 0..64 {
        push(
            "contentBlockDelta",
            format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"word{i} "}}}}"#),
        );
    }
    push("contentBlockStop", r#"{"contentBlockIndex":0}"#.into());
    push("messageStop", r#"{"stopReason":"max_tokens"}"#.into());
    push(
        "metadata",
        r#"{"usage":{"inputTokens":24,"outputTokens":64,"totalTokens":88},"metrics":{"latencyMs":900}}"#.into(),
    );
    Bytes::from(frames)
}

/// The same answer from an OpenAI-compatible upstream: one SSE event per chunk.
fn openai_stream() -> Bytes {
    let mut out = String::new();
    for i in 0..64 {
        out.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":64,\"total_tokens\":88}}\n\ndata: [DONE]\n\n");
    Bytes::from(out)
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let config = strata_gateway::config::from_text(CONFIG, "bench.yaml", |_| None)
        .unwrap_or_else(|e| fail(format!("bench config: {e}")));
    let head = http::Request::post("/v1/chat/completions")
        .body(())
        .unwrap_or_default()
        .into_parts()
        .0;
    let stream_bytes = converse_stream();
    let sse_bytes = openai_stream();
    let (decoded_n, decoded_b, decoded) = count(|| {
        ChatCompletions::decode(
            &Decoding {
                config: &config,
                tenant: 0,
            },
            &head,
            Bytes::from_static(CHAT.as_bytes()),
        )
    });
    let mut call = match decoded {
        Ok((call, _)) => call,
        Err(e) => fail(format!("decode failed: {}", e.message)),
    };
    let rows: Vec<(&str, (u64, u64))> = vec![
        (
            "decode: chat request -> call (translation deferred)",
            (decoded_n, decoded_b),
        ),
        ("translate: call -> Converse body (Bedrock targets only)", {
            let (n, b, translated) = count(|| call.translate());
            if let Err(e) = translated {
                fail(format!("translation failed: {}", e.message));
            }
            (n, b)
        }),
        ("encode: Converse answer -> chat.completion", {
            let (n, b, _) = count(|| {
                let answer: strata_core::wire::converse::ConverseResponse =
                    serde_json::from_str(ANSWER).unwrap_or_else(|e| fail(format!("answer: {e}")));
                let chat =
                    strata_gateway::inbound::openai::response::converse_to_chat(&answer, "nova", "chatcmpl-1", 1, None);
                serde_json::to_vec(&chat).unwrap_or_default()
            });
            (n, b)
        }),
        ("stream: 64-token ConverseStream -> chunks", {
            let input = stream_bytes.clone();
            let (n, b, out) = count(move || {
                let chunks = frames(futures::stream::iter([Ok(input)]).boxed(), true);
                let mut translator = StreamTranslator::new("nova", "chatcmpl-1", 1, true);
                let mut sent = 0usize;
                futures::executor::block_on(chunks.for_each(|chunk| {
                    let mut out = String::new();
                    for frame in chunk.map(|c| c.events).unwrap_or_default() {
                        if let strata_core::eventstream::StreamFrame::Event { event_type, payload } = frame {
                            if let Some(event) = ConverseEvent::decode(&event_type, &payload) {
                                translator.event(event, &mut out);
                            }
                        }
                    }
                    sent += Bytes::from(out).len();
                    futures::future::ready(())
                }));
                let mut out = String::new();
                translator.close(&mut out);
                sent + Bytes::from(out).len()
            });
            if out == 0 {
                fail("the stream translated to nothing".into());
            }
            (n, b)
        }),
        ("relay: OpenAI answer, model set, usage read", {
            let (n, b, out) = count(|| strata_gateway::inbound::openai::relay::with_model(RELAYED.as_bytes(), "nova"));
            if let Err(e) = out {
                fail(format!("relay failed: {e}"));
            }
            (n, b)
        }),
        ("relay: 64-event OpenAI SSE read for usage", {
            let input = sse_bytes.clone();
            let (n, b, _) = count(move || {
                let chunks = sse_events(futures::stream::iter([Ok(input)]).boxed());
                futures::executor::block_on(chunks.count())
            });
            (n, b)
        }),
    ];
    println!(
        "{:<56} {:>12} {:>10}",
        "OpenAI translation, per request", "allocations", "bytes"
    );
    for (name, (n, b)) in rows {
        println!("{name:<56} {n:>12} {b:>10}");
    }
}

/// Ends the bench with a message (the lints forbid panicking, even here).
fn fail(message: String) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
