//! Routing decisions, free of I/O: which candidates a logical model has given the availability
//! catalog ([`compile`]), in what order to try a logical model's candidates
//! ([`strategy`]), which are cooling down after failures ([`health`]), whether a custom model is loaded
//! ([`warmth`]), how long to wait before a
//! retry ([`backoff`]), what a target's quota leaves ([`capacity`]) and what a request cost ([`pricing`]). Budgets are counted by
//! `strata-quota`.

pub mod backoff;
pub mod capacity;
pub mod compile;
pub mod health;
pub mod pricing;
pub mod strategy;
pub mod warmth;

pub use backoff::Backoff;
pub use capacity::CapacityState;
pub use compile::{
    admit, compile_intent, compile_intents, policy_mask, target_label, verify_configured, AccountShare, AdmittedBy,
    Candidate, Compiled, DestinationTrust, Exclusion, Intent, IntentModel, Layer, Origin, Problem, ProblemKind,
    ProfileIndex, Reach, Refusal, Severity, TargetVerdict,
};
pub use health::{CooldownPolicy, Health};
pub use pricing::{Nanos, Price, PriceTable, TokenCounts};
pub use strategy::{order_candidates, pick_first, CandidateOrder, CandidateView, Strategy};
pub use warmth::{WarmState, Warmth, WarmthView};
