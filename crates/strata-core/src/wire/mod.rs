//! Serde shapes of the JSON Strata speaks: Bedrock's Converse API (shared by the gateway and the
//! emulator) and Bedrock's error body.

pub mod converse;

use serde::{Deserialize, Serialize};

/// The body of every Bedrock error response: `{"message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}
