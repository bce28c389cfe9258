//! OpenAI's embeddings API: `POST /v1/embeddings`. A request is decoded into a neutral
//! [`EmbedRequest`](crate::embedding::EmbedRequest) carried by the call; routing keeps the
//! targets whose model embeds, and the Bedrock upstream builds each target family's bodies
//! (`upstream::bedrock::embed`). Answers are OpenAI's `{"object": "list", "data": [...]}`; errors are
//! OpenAI's.

pub mod encode;
pub mod request;

use std::sync::Arc;

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use strata_aws::RuntimeOperation;

use self::encode::Asked;
use crate::call::{Api, Call, Estimate};
use crate::error::GatewayError;
use crate::request::account::Exit;
use crate::request::{Decoding, Dialect};
use crate::upstream::Answer;

/// The embeddings dialect.
pub struct EmbeddingsApi;

impl Dialect for EmbeddingsApi {
    const API: Api = Api::Embeddings;
    type Decoded = Asked;

    fn decode(_: &Decoding<'_>, _head: &Parts, body: Bytes) -> Result<(Call, Asked), GatewayError> {
        let request = request::parse(&body)?;
        // Embedding models produce no tokens: the estimate is the input alone.
        let estimate = Estimate {
            input: request.embed.estimated_tokens(),
            output: 0,
        };
        let call = Call {
            api: Api::Embeddings,
            model: request.model.clone(),
            // The body is the target family's, built by the upstream once a target is chosen.
            operation: RuntimeOperation::InvokeModel,
            body: Bytes::new(),
            translation: None,
            content_type: Some("application/json".into()),
            accept: Some("application/json".into()),
            openai: None,
            embedding: Some(Arc::new(request.embed)),
            estimate,
        };
        Ok((
            call,
            Asked {
                model: request.model,
                encoding: request.encoding,
            },
        ))
    }

    fn encode(asked: Asked, answer: Answer, exit: Exit) -> Response {
        encode::answer(asked, answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        super::openai::error::response(e)
    }
}
