//! Strata's AWS edge: SigV4 signing with `aws-sigv4` (and verifying, for clients that sign
//! with SigV4: `verify`, shared by the gateway and the emulator), per-account credentials from
//! the standard chain (env, profile, static, AssumeRole with session tokens) via `aws-config`,
//! and the classification of Bedrock errors into retry classes.
//!
//! Nothing here knows whether it talks to AWS or to the emulator: an endpoint override is just a
//! different base URL.

pub mod coalesce;
pub mod credentials;
pub mod endpoint;
pub mod fast_signing;
pub mod guardrails;
pub mod runtime;
pub mod signing;
pub mod transport;
pub mod verify;

pub use credentials::{AccountCredentials, CredentialSource, CredentialsError};
pub use endpoint::Endpoints;
pub use runtime::{BedrockRuntime, RuntimeAnswer, RuntimeCall, RuntimeOperation, UpstreamError};

/// An error and its sources on one line (`a: b: c`), for messages that must say why.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
