//! `strata sim`: an Amazon Bedrock emulator for many accounts and regions on one address.
//!
//! It speaks Bedrock's real wire protocols so that unmodified AWS clients work against it:
//! SigV4 is verified, regions come from the credential scope and accounts from access keys,
//! the control plane lists the real catalog, the runtime answers Converse / ConverseStream /
//! InvokeModel / InvokeModelWithResponseStream with deterministic synthetic text, and the
//! `/_sim/` admin API injects faults and reads counters. See `docs/emulator.md`.

pub mod admin;
pub mod control_plane;
pub mod custom_models;
pub mod error;
pub mod faults;
pub mod fleet;
pub mod guardrails;
pub mod identity;
pub mod openai_compat;
pub mod prompt_cache;
pub mod quota;
pub mod reply;
pub mod runtime;
pub mod server;
pub mod service_quotas;
pub mod state;
pub mod stats;
pub mod synth;

pub use fleet::{Fleet, FleetError};
pub use server::{app, serve};
pub use state::{SimOptions, SimState};
