//! What every part of the emulator answers with: a JSON body, or the marker that closes the
//! connection instead (a `drop` fault). A leaf module, so the parts need not import each other.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

/// Marker on a response: close the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// A 200 answer with a JSON body.
pub fn json_response(body: String) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
