#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests: spawn the real `strata` binary and drive it with real clients.
//! One test binary so the dependency graph links once.

mod aws_credentials;
mod aws_runtime;
mod bench_sweep;
mod sim_custom_models;
mod sim_process;
mod sim_sdk_control_plane;
mod sim_sdk_runtime;
