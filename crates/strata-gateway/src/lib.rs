//! The Strata gateway: inbound adapters (OpenAI-compatible, Bedrock-native), the request
//! pipeline, translation between API shapes, admin API and metrics.

pub mod config;
pub mod translate;
