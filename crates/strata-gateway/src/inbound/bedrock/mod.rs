//! The Bedrock-native API: `POST /model/{id}/converse | converse-stream | invoke |
//! invoke-with-response-stream | count-tokens`. `{id}` is a logical model or a concrete Bedrock ID; bodies are
//! forwarded unchanged and re-signed for the chosen target, answers relayed as sent.

pub mod decode;
pub mod encode;
pub mod error;

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use strata_aws::RuntimeOperation;

use crate::call::{Api, Call};
use crate::error::GatewayError;
use crate::request::account::Exit;
use crate::request::{Decoding, Dialect};
use crate::upstream::Answer;

/// The Bedrock runtime API's dialect.
pub struct BedrockRuntimeApi;

impl Dialect for BedrockRuntimeApi {
    const API: Api = Api::Bedrock;
    type Decoded = RuntimeOperation;

    fn decode(_: &Decoding<'_>, head: &Parts, body: Bytes) -> Result<(Call, RuntimeOperation), GatewayError> {
        let call = decode::call(head, body)?;
        let operation = call.operation;
        Ok((call, operation))
    }

    fn encode(operation: RuntimeOperation, answer: Answer, exit: Exit) -> Response {
        encode::answer(operation, answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        error::response(e)
    }
}
