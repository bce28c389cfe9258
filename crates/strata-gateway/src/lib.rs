//! The Strata gateway: inbound adapters (OpenAI-compatible, Bedrock-native), the request
//! pipeline, translation between API shapes, admin API and metrics.

pub mod config;
pub mod inbound;
pub mod request;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod upstream;
