//! The Anthropic Messages API: `POST /v1/messages` ([`Messages`]) and
//! `POST /v1/messages/count_tokens` ([`CountTokens`]), for the official Anthropic SDKs pointed
//! at the gateway (`x-api-key` or `Authorization: Bearer` with a Strata key; `anthropic-version`
//! and `anthropic-beta` are accepted, not required).
//!
//! Both decode into a Converse call for any Bedrock model (so routing, residency, fallbacks and
//! the baseline work as on the other dialects); count_tokens calls Bedrock's `CountTokens` on
//! the routed target. Neither is offered to OpenAI-compatible upstreams (`Call.openai` is
//! `None`): routing skips such targets with the reason in words.

pub mod encode;
pub mod error;
mod media;
pub mod request;
pub mod response;
pub mod stream;
pub mod translate;

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use strata_aws::RuntimeOperation;

use self::encode::Asked;
use self::request::Refusal;
use self::translate::Purpose;
use crate::call::{Api, Call, Estimate};
use crate::error::{Class, GatewayError};
use crate::request::account::Exit;
use crate::request::{set_rate_limit_headers, Decoding, Dialect};
use crate::upstream::Answer;
use strata_quota::Headroom;

/// `POST /v1/messages`.
pub struct Messages;

/// `POST /v1/messages/count_tokens`.
pub struct CountTokens;

fn invalid(r: Refusal) -> GatewayError {
    let e = GatewayError::client(Class::Invalid, r.message);
    match r.param {
        Some(p) => e.with_param(p),
        None => e,
    }
}

fn encode_body(value: &impl serde::Serialize) -> Result<Bytes, GatewayError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| GatewayError::gateway(Class::Internal, format!("cannot encode the Bedrock request: {e}")))
}

impl Dialect for Messages {
    const API: Api = Api::Anthropic;
    type Decoded = Asked;

    fn decode(_: &Decoding<'_>, _head: &Parts, body: Bytes) -> Result<(Call, Asked), GatewayError> {
        let request = request::parse(&body).map_err(invalid)?;
        let converse = translate::to_converse(&request, Purpose::Generate).map_err(invalid)?;
        let body = encode_body(&converse)?;
        let estimate = Estimate::from_body(body.len(), request.max_tokens.map(u64::from));
        let call = Call::converse(
            Api::Anthropic,
            request.model.clone(),
            request.stream.unwrap_or(false),
            body,
            estimate,
        );
        let asked = Asked {
            model: request.model,
            stop_sequences: request.stop_sequences.unwrap_or_default(),
        };
        Ok((call, asked))
    }

    fn encode(asked: Asked, answer: Answer, exit: Exit) -> Response {
        encode::answer(asked, answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        error::response(e)
    }

    fn limit_headers(response: &mut Response, headroom: &Headroom) {
        limit_headers(response, headroom);
    }
}

/// Anthropic's `anthropic-ratelimit-{requests,tokens}-{limit,remaining}` beside OpenAI's
/// `x-ratelimit-*` (which carry the reset).
fn limit_headers(response: &mut Response, h: &Headroom) {
    set_rate_limit_headers(response, h);
    let headers = response.headers_mut();
    let windows = [
        (
            &h.requests,
            [
                "anthropic-ratelimit-requests-limit",
                "anthropic-ratelimit-requests-remaining",
            ],
        ),
        (
            &h.tokens,
            [
                "anthropic-ratelimit-tokens-limit",
                "anthropic-ratelimit-tokens-remaining",
            ],
        ),
    ];
    for (window, [limit, remaining]) in windows {
        if let Some(w) = window {
            headers.insert(limit, http::HeaderValue::from(w.limit));
            headers.insert(remaining, http::HeaderValue::from(w.remaining));
        }
    }
}

impl Dialect for CountTokens {
    const API: Api = Api::Anthropic;
    type Decoded = ();

    /// A count is authenticated, routed (residency holds) and executed like a generation, but
    /// reserves no tokens or money at admission (it still counts as a request against `rpm` and
    /// `max_concurrent`) and is accounted with zero tokens.
    fn decode(_: &Decoding<'_>, _head: &Parts, body: Bytes) -> Result<(Call, ()), GatewayError> {
        let request = request::parse(&body).map_err(invalid)?;
        let converse = translate::to_converse(&request, Purpose::Count).map_err(invalid)?;
        let body = encode_body(&translate::count_tokens_body(&converse))?;
        let call = Call {
            api: Api::Anthropic,
            model: request.model,
            operation: RuntimeOperation::CountTokens,
            body,
            translation: None,
            content_type: None,
            accept: None,
            openai: None,
            embedding: None,
            estimate: Estimate { input: 0, output: 0 },
        };
        Ok((call, ()))
    }

    fn encode(_: (), answer: Answer, exit: Exit) -> Response {
        encode::count(answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        error::response(e)
    }

    fn limit_headers(response: &mut Response, headroom: &Headroom) {
        limit_headers(response, headroom);
    }
}

#[cfg(test)]
mod tests;
