//! Invocation and control-plane counters served by `GET /_sim/stats`.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::Serialize;

/// One runtime call's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvocationKey {
    pub account: usize,
    /// The region that ran the request.
    pub region: String,
    pub source_region: String,
    pub model: String,
    pub foundation_model: String,
    pub operation: &'static str,
    pub status: u16,
    pub error: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlKey {
    pub account: usize,
    pub region: String,
    pub operation: &'static str,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct Stats {
    invocations: Mutex<HashMap<InvocationKey, u64>>,
    control: Mutex<HashMap<ControlKey, u64>>,
}

#[derive(Debug, Serialize)]
pub struct InvocationRow {
    pub account: String,
    pub account_name: String,
    pub region: String,
    pub source_region: String,
    pub model: String,
    pub foundation_model: String,
    pub operation: &'static str,
    pub status: u16,
    pub error: Option<&'static str>,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct ControlRow {
    pub account: String,
    pub account_name: String,
    pub region: String,
    pub operation: &'static str,
    pub status: u16,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Totals {
    pub invocations: u64,
    pub control_plane: u64,
}

#[derive(Debug, Serialize)]
pub struct StatsReport {
    pub invocations: Vec<InvocationRow>,
    pub control_plane: Vec<ControlRow>,
    pub totals: Totals,
}

impl Stats {
    pub fn count_invocation(&self, key: InvocationKey) {
        *self.invocations.lock().entry(key).or_insert(0) += 1;
    }

    pub fn count_control(&self, key: ControlKey) {
        *self.control.lock().entry(key).or_insert(0) += 1;
    }

    pub fn clear(&self) {
        self.invocations.lock().clear();
        self.control.lock().clear();
    }

    /// A sorted report; `account_label` maps an account index to (id, name).
    pub fn report(&self, account_label: impl Fn(usize) -> (String, String)) -> StatsReport {
        let mut invocations: Vec<InvocationRow> = self
            .invocations
            .lock()
            .iter()
            .map(|(k, &count)| {
                let (account, account_name) = account_label(k.account);
                InvocationRow {
                    account,
                    account_name,
                    region: k.region.clone(),
                    source_region: k.source_region.clone(),
                    model: k.model.clone(),
                    foundation_model: k.foundation_model.clone(),
                    operation: k.operation,
                    status: k.status,
                    error: k.error,
                    count,
                }
            })
            .collect();
        invocations.sort_by(|a, b| {
            (&a.account, &a.region, &a.model, a.operation, a.status).cmp(&(
                &b.account,
                &b.region,
                &b.model,
                b.operation,
                b.status,
            ))
        });
        let mut control_plane: Vec<ControlRow> = self
            .control
            .lock()
            .iter()
            .map(|(k, &count)| {
                let (account, account_name) = account_label(k.account);
                ControlRow {
                    account,
                    account_name,
                    region: k.region.clone(),
                    operation: k.operation,
                    status: k.status,
                    count,
                }
            })
            .collect();
        control_plane.sort_by(|a, b| (&a.account, &a.region, a.operation).cmp(&(&b.account, &b.region, b.operation)));
        let totals = Totals {
            invocations: invocations.iter().map(|r| r.count).sum(),
            control_plane: control_plane.iter().map(|r| r.count).sum(),
        };
        StatsReport {
            invocations,
            control_plane,
            totals,
        }
    }
}
