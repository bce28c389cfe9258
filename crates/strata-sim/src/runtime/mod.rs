//! Bedrock runtime: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream and
//! CountTokens, over the fleet's placement, quotas, latency model and faults.

pub mod converse;
pub mod destination;
pub mod embed;
pub mod invoke;
pub mod placement;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use strata_core::BedrockErrorKind;

use crate::error::AwsError;
use crate::faults::{CutMode, FaultKind};
use crate::identity::Caller;
use crate::reply::json_response;
use crate::reply::DropConnection;
use crate::state::SimState;
use crate::stats::InvocationKey;
use crate::synth::{Prompt, Reply};
use placement::{admit, place, Placement, Refusal};
use stream::Cut;

/// Runtime operations, by path suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
    CountTokens,
}

impl Operation {
    pub fn from_action(action: &str) -> Option<Self> {
        Some(match action {
            "converse" => Operation::Converse,
            "converse-stream" => Operation::ConverseStream,
            "invoke" => Operation::InvokeModel,
            "invoke-with-response-stream" => Operation::InvokeModelWithResponseStream,
            "count-tokens" => Operation::CountTokens,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Operation::Converse => "Converse",
            Operation::ConverseStream => "ConverseStream",
            Operation::InvokeModel => "InvokeModel",
            Operation::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
            Operation::CountTokens => "CountTokens",
        }
    }

    pub fn streams(self) -> bool {
        matches!(
            self,
            Operation::ConverseStream | Operation::InvokeModelWithResponseStream
        )
    }
}

/// The planned timing of one generation.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub first_token: Duration,
    pub per_token: Duration,
}

impl Timing {
    pub fn total(&self, tokens: u32) -> Duration {
        self.first_token + self.per_token * tokens.saturating_sub(1)
    }
}

/// The timing of one generation: the latency model with jitter, plus any added-latency fault.
pub(crate) fn timing(state: &SimState, target: &crate::faults::Target<'_>) -> Timing {
    let latency = state.latency();
    let jitter = |d: f64| -> f64 {
        if latency.jitter > 0.0 {
            d * (1.0 + rand::rng().random_range(-latency.jitter..=latency.jitter))
        } else {
            d
        }
    };
    let added = if state.faults.is_empty() {
        0
    } else {
        match state.faults.take(target, |k| matches!(k, FaultKind::Latency { .. })) {
            Some(FaultKind::Latency { added_ms }) => added_ms,
            _ => 0,
        }
    };
    let first_ms = jitter(latency.ttft_ms as f64).max(0.0) + added as f64;
    let per_token_ms = if latency.tokens_per_second == 0 {
        0.0
    } else {
        jitter(1000.0 / latency.tokens_per_second as f64).max(0.0)
    };
    Timing {
        first_token: Duration::from_secs_f64(first_ms / 1000.0),
        per_token: Duration::from_secs_f64(per_token_ms / 1000.0),
    }
}

/// What the operation-specific code hands back to the shared flow.
pub struct Generated {
    pub prompt: Prompt,
    pub reply: Reply,
    /// What a guardrail named by the call did, if one was.
    pub guardrail: Option<crate::guardrails::check::GuardOutcome>,
}

/// Handles `POST /model/{id}/{action}` for an authenticated caller.
pub async fn handle(
    state: &Arc<SimState>,
    caller: &Caller,
    model_id: &str,
    op: Operation,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Response {
    let started = Instant::now();
    let placement = match place(state, caller, model_id) {
        Ok(p) => p,
        Err(e) => {
            return refuse(state, caller, None, model_id, op, e);
        }
    };
    if placement.model.body.embeds() {
        return embed::handle(state, caller, &placement, model_id, op, body).await;
    }
    if let Some(view) = &placement.imported {
        if let Err(e) = imported_supports(view, op) {
            return refuse(state, caller, Some(&placement), model_id, op, e);
        }
    }
    let parsed = match op {
        Operation::Converse | Operation::ConverseStream => converse::parse(body, &placement.model),
        Operation::InvokeModel | Operation::InvokeModelWithResponseStream => invoke::parse(body, &placement.model),
        Operation::CountTokens => converse::parse_count_tokens(body, &placement.model),
    };
    let prompt = match parsed {
        Ok(p) => p,
        Err(e) => {
            return refuse(state, caller, Some(&placement), model_id, op, e);
        }
    };
    if op == Operation::CountTokens {
        record(state, caller, Some(&placement), model_id, op, 200, None);
        return json_response(serde_json::json!({ "inputTokens": prompt.input_tokens() }).to_string());
    }
    // The guardrail the call names (Converse body or InvokeModel headers), in the caller's
    // account and region.
    let guard_config = match op {
        Operation::Converse | Operation::ConverseStream => crate::guardrails::check::from_converse(body),
        _ => crate::guardrails::check::from_headers(headers),
    };
    let guard = match guard_config.and_then(|c| {
        c.map(|c| crate::guardrails::check::resolve(state, caller, &c))
            .transpose()
    }) {
        Ok(g) => g,
        Err(e) => return refuse(state, caller, Some(&placement), model_id, op, e),
    };
    if op.streams() && !placement.model.streaming {
        let e = AwsError::validation("The model is unsupported for streaming.");
        return refuse(state, caller, Some(&placement), model_id, op, e);
    }
    let weight = u64::from(placement.model.output_token_weight.max(1));
    let input_tokens = prompt.input_tokens();
    let reserve = u64::from(input_tokens) + u64::from(prompt.max_tokens.unwrap_or(1000)) * weight;
    let reserved = match admit(state, &placement, reserve) {
        Ok(r) => r,
        Err(Refusal::Drop) => {
            record(
                state,
                caller,
                Some(&placement),
                model_id,
                op,
                0,
                Some("ConnectionDropped"),
            );
            let mut response = Response::new(axum::body::Body::empty());
            response.extensions_mut().insert(DropConnection);
            return response;
        }
        Err(Refusal::Error(e)) => {
            return refuse(state, caller, Some(&placement), model_id, op, e);
        }
    };
    // An imported model serves from its copies: cold → refused, every copy full → wait.
    let slot = match &placement.imported {
        Some(view) => match crate::custom_models::acquire(&state.custom_models, &view.key).await {
            Ok(slot) => Some(slot),
            Err(e) => return refuse(state, caller, Some(&placement), model_id, op, e),
        },
        None => None,
    };
    let mut prompt = prompt;
    if !prompt.cache_points.is_empty() {
        prompt.cached = state.prompt_cache.use_points(
            placement.account,
            &placement.region,
            &prompt.cache_points,
            Instant::now(),
        );
    }
    let (reply, guardrail) = crate::guardrails::check::respond(guard.as_ref(), &prompt);
    let used = u64::from(input_tokens) + u64::from(reply.output_tokens()) * weight;
    state.quotas.refund(&placement.quota_key, reserved.saturating_sub(used));
    let timing = match &slot {
        Some(slot) => Timing {
            first_token: slot.first_token,
            per_token: slot.per_token,
        },
        None => timing(state, &placement.target()),
    };
    let flight = (state.start_flight(&placement.region, &placement.model.id), slot);
    let generated = Generated {
        prompt,
        reply,
        guardrail,
    };

    if op.streams() {
        let cut = stream_cut(state, &placement);
        let error = cut.as_ref().map(|c| match c {
            Cut::Exception { .. } => "modelStreamErrorException",
            Cut::Drop { .. } => "ConnectionDropped",
        });
        record(state, caller, Some(&placement), model_id, op, 200, error);
        let frames = match op {
            Operation::ConverseStream => converse::stream_frames(&generated, &timing),
            _ => invoke::stream_frames(&placement.model, &generated, &timing),
        };
        let frames = match frames {
            Ok(f) => f,
            Err(e) => return e.into_response(),
        };
        let cut = cut.map(|c| match c {
            Cut::Exception { after, frame } => Cut::Exception {
                after: after.min(frames.len()),
                frame,
            },
            Cut::Drop { after } => Cut::Drop {
                after: after.min(frames.len()),
            },
        });
        let body = stream::paced_body(frames, cut, flight);
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            "content-type",
            HeaderValue::from_static(strata_core::eventstream::CONTENT_TYPE),
        );
        if op == Operation::InvokeModelWithResponseStream {
            headers.insert(
                "x-amzn-bedrock-content-type",
                HeaderValue::from_static("application/json"),
            );
        }
        return response;
    }

    let total = timing.total(generated.reply.output_tokens());
    if !total.is_zero() {
        tokio::time::sleep(total).await;
    }
    drop(flight);
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    record(state, caller, Some(&placement), model_id, op, 200, None);
    match op {
        Operation::Converse => json_response(converse::response_json(&generated, latency_ms)),
        _ => invoke::response(&placement.model, &generated, latency_ms),
    }
}

/// What AWS lets an imported model do: InvokeModel and its stream always; Converse only with a
/// chat template (`instructSupported`); no CountTokens.
fn imported_supports(view: &crate::custom_models::ImportedView, op: Operation) -> Result<(), AwsError> {
    match op {
        Operation::Converse | Operation::ConverseStream if !view.instruct => Err(AwsError::validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        )),
        Operation::CountTokens => Err(AwsError::validation(
            "The provided model doesn't support counting tokens.",
        )),
        _ => Ok(()),
    }
}

/// Counts a refused call and answers with its error.
fn refuse(
    state: &SimState,
    caller: &Caller,
    placement: Option<&Placement>,
    model_id: &str,
    op: Operation,
    e: AwsError,
) -> Response {
    record(
        state,
        caller,
        placement,
        model_id,
        op,
        e.status().as_u16(),
        Some(e.kind.name()),
    );
    e.into_response()
}

fn stream_cut(state: &SimState, placement: &Placement) -> Option<Cut> {
    if state.faults.is_empty() {
        return None;
    }
    match state
        .faults
        .take(&placement.target(), |k| matches!(k, FaultKind::StreamCut { .. }))?
    {
        FaultKind::StreamCut { after_events, mode } => {
            let after = after_events as usize;
            Some(match mode {
                CutMode::Drop => Cut::Drop { after },
                CutMode::Exception => {
                    let payload = serde_json::json!({
                        "message": "The model stream was interrupted. Try your request again.",
                        "originalStatusCode": 500,
                        "originalMessage": "stream interrupted"
                    })
                    .to_string();
                    let frame = strata_core::eventstream::exception_frame(
                        &BedrockErrorKind::ModelStreamErrorException.stream_name(),
                        payload,
                    )
                    .ok()?;
                    Cut::Exception { after, frame }
                }
            })
        }
        _ => None,
    }
}

fn record(
    state: &SimState,
    caller: &Caller,
    placement: Option<&Placement>,
    model_id: &str,
    op: Operation,
    status: u16,
    error: Option<&'static str>,
) {
    let key = match placement {
        Some(p) => InvocationKey {
            account: caller.account,
            region: p.region.clone(),
            source_region: p.source_region.clone(),
            model: p.requested.clone(),
            foundation_model: p.model.id.clone(),
            operation: op.name(),
            status,
            error,
        },
        None => InvocationKey {
            account: caller.account,
            region: caller.region.clone(),
            source_region: caller.region.clone(),
            model: model_id.to_string(),
            foundation_model: String::new(),
            operation: op.name(),
            status,
            error,
        },
    };
    state.stats.count_invocation(key);
}
