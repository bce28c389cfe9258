//! The Strata gateway. A request passes, in order: an inbound dialect's decoding
//! (`inbound/<dialect>`) → authenticate → route → admit → execute over an upstream
//! (`request/`, `upstream/`) → the dialect's encoding → account (`request/account`), the one
//! exit. Routes are compiled from config and catalog (`routes/`); errors are values with a
//! class and a source (`error`).

pub mod access_log;
pub mod call;
pub mod config;
pub mod embedding;
pub mod error;
pub mod inbound;
pub mod keep_warm;
pub mod lifecycle;
pub mod reload;
pub mod request;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tenants;
pub mod traces;
pub mod traffic;
pub mod upstream;
