//! SageMaker runtime's API for endpoints apps already call (issue 12):
//! `POST /endpoints/{EndpointName}/invocations` (InvokeEndpoint) and
//! `/invocations-response-stream` (InvokeEndpointWithResponseStream), as boto3's
//! `sagemaker-runtime` client sends them (SigV4 service `sagemaker`, or an API key). Each endpoint
//! is configured (`endpoints:`) with the logical model that answers and templates: the app's
//! payload → the model's request (an InvokeModel body, or a Converse request), the model's answer
//! (or each streamed chunk) → the app's payload. Routing, admission, execution and accounting are
//! the request path's, as for every dialect.

pub mod decode;
pub mod encode;
pub mod error;

use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;

use self::decode::Invocation;
use crate::call::{Api, Call};
use crate::error::GatewayError;
use crate::request::account::Exit;
use crate::request::{Decoding, Dialect};
use crate::upstream::Answer;

/// The SigV4 service SageMaker runtime's clients sign for.
pub const SIGV4_SERVICE: &str = "sagemaker";

/// SageMaker runtime's dialect.
pub struct SageMakerRuntimeApi;

impl Dialect for SageMakerRuntimeApi {
    const API: Api = Api::SageMaker;
    const SIGV4_SERVICE: &'static str = SIGV4_SERVICE;
    type Decoded = Invocation;

    fn decode(cx: &Decoding<'_>, head: &Parts, body: Bytes) -> Result<(Call, Invocation), GatewayError> {
        decode::call(cx, head, body)
    }

    fn encode(invocation: Invocation, answer: Answer, exit: Exit) -> Response {
        encode::answer(invocation, answer, exit)
    }

    fn error(e: &GatewayError) -> Response {
        error::response(e)
    }
}
