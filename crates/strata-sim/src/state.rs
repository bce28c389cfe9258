//! The emulator's state: the fleet as configured plus everything that changes at run time
//! (the catalog, access changes, quota overrides, region capacities, buckets, faults, sessions, counters,
//! in-flight load, control-plane settings).
//!
//! The fleet in use is an `ArcSwap<Fleet>`: a request takes one cheap snapshot and reads it
//! without a lock; a catalog change builds a whole new validated fleet and swaps it in
//! (changes are serialised by `catalog_writer`, so two concurrent changes cannot lose one).

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

use crate::control_plane::throttle::ControlPlaneBuckets;
use crate::faults::{FaultBook, FaultKind, Plane, Target};
use crate::fleet::{ControlPlaneSpec, Fleet, FleetError, LatencySpec, Quota};
use crate::identity::SessionCredentials;
use crate::quota::QuotaBook;
use crate::stats::Stats;

/// Options chosen on the command line.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    pub zero_latency: bool,
}

/// Shared state of one emulator.
#[derive(Debug)]
pub struct SimState {
    /// The fleet as loaded; `POST /_sim/reset` returns to it.
    configured: Arc<Fleet>,
    fleet: ArcSwap<Fleet>,
    catalog_writer: Mutex<()>,
    latency: RwLock<LatencySpec>,
    control_plane: RwLock<ControlPlaneSpec>,
    pub control_plane_buckets: ControlPlaneBuckets,
    /// Service Quotas' own rate limit (same settings, separate buckets: another service).
    pub service_quotas_buckets: ControlPlaneBuckets,
    access_changes: RwLock<HashMap<(usize, String, String), bool>>,
    quota_overrides: RwLock<HashMap<(usize, String, String), Quota>>,
    /// Region capacities set at run time (`POST /_sim/capacity`), over the fleet's.
    capacity_changes: RwLock<HashMap<String, u32>>,
    sessions: RwLock<HashMap<String, SessionCredentials>>,
    in_flight: Mutex<HashMap<(String, String), u32>>,
    pub quotas: QuotaBook,
    pub faults: FaultBook,
    pub stats: Stats,
    pub prompt_cache: crate::prompt_cache::PromptCache,
    /// Guardrails per account × region.
    pub guardrails: crate::guardrails::GuardrailBook,
    /// Imported models and import jobs per account × region, with their settings.
    pub custom_models: Arc<crate::custom_models::CustomModels>,
}

impl SimState {
    pub fn new(fleet: Fleet, options: SimOptions) -> Self {
        let latency = if options.zero_latency {
            LatencySpec::ZERO
        } else {
            fleet.latency
        };
        let control_plane = fleet.control_plane;
        let guardrails = crate::guardrails::GuardrailBook::seeded(&fleet);
        let custom_models = Arc::new(crate::custom_models::CustomModels::new(&fleet, options.zero_latency));
        let fleet = Arc::new(fleet);
        SimState {
            configured: Arc::clone(&fleet),
            fleet: ArcSwap::new(fleet),
            catalog_writer: Mutex::new(()),
            latency: RwLock::new(latency),
            control_plane: RwLock::new(control_plane),
            control_plane_buckets: ControlPlaneBuckets::default(),
            service_quotas_buckets: ControlPlaneBuckets::default(),
            access_changes: RwLock::default(),
            quota_overrides: RwLock::default(),
            capacity_changes: RwLock::default(),
            sessions: RwLock::default(),
            in_flight: Mutex::default(),
            quotas: QuotaBook::default(),
            faults: FaultBook::default(),
            stats: Stats::default(),
            prompt_cache: Default::default(),
            guardrails,
            custom_models,
        }
    }

    /// A snapshot of the fleet in use (catalog changes included). Cheap; hold it for one
    /// request, not longer.
    pub fn fleet(&self) -> Arc<Fleet> {
        self.fleet.load_full()
    }

    /// Applies a catalog change to the fleet in use: `change` builds the new fleet from the
    /// current one; on error nothing changes.
    pub fn change_fleet(&self, change: impl FnOnce(&Fleet) -> Result<Fleet, FleetError>) -> Result<(), FleetError> {
        let _writer = self.catalog_writer.lock();
        let next = change(&self.fleet.load())?;
        self.fleet.store(Arc::new(next));
        Ok(())
    }

    pub fn control_plane(&self) -> ControlPlaneSpec {
        *self.control_plane.read()
    }

    /// Replaces the control-plane settings; buckets start full under the new limit.
    pub fn set_control_plane(&self, spec: ControlPlaneSpec) {
        *self.control_plane.write() = spec;
        self.control_plane_buckets.clear();
        self.service_quotas_buckets.clear();
    }

    pub fn latency(&self) -> LatencySpec {
        *self.latency.read()
    }

    pub fn set_latency(&self, latency: LatencySpec) {
        *self.latency.write() = latency;
    }

    /// Clears counters, faults, buckets, quota overrides and access changes, and restores the
    /// configured catalog, guardrails, imported models (and their settings) and control-plane
    /// settings. Sessions survive, so a client holding
    /// temporary credentials keeps working across tests.
    pub fn reset(&self) {
        {
            let _writer = self.catalog_writer.lock();
            self.fleet.store(Arc::clone(&self.configured));
        }
        self.set_control_plane(self.configured.control_plane);
        self.guardrails.reset(&self.configured);
        self.custom_models.reset(&self.configured);
        self.stats.clear();
        self.faults.clear();
        self.prompt_cache.clear();
        self.quotas.clear();
        self.access_changes.write().clear();
        self.quota_overrides.write().clear();
        self.capacity_changes.write().clear();
    }

    /// Whether the account may invoke the model in the region, counting runtime changes and
    /// revoke-access faults.
    pub fn has_access(&self, account: usize, model: &str, region: &str) -> bool {
        let fleet = self.fleet.load();
        if !fleet.account_in_region(account, region) {
            return false;
        }
        let target = Target {
            account,
            region,
            requested_model: model,
            foundation_model: model,
            plane: Plane::Runtime,
        };
        if self.faults.any(&target, |k| matches!(k, FaultKind::RevokeAccess)) {
            return false;
        }
        if let Some(&granted) = self
            .access_changes
            .read()
            .get(&(account, model.to_string(), region.to_string()))
        {
            return granted;
        }
        fleet.configured_access(account, model, region)
    }

    pub fn set_access(&self, account: usize, model: &str, region: &str, granted: bool) {
        self.access_changes
            .write()
            .insert((account, model.to_string(), region.to_string()), granted);
    }

    pub fn set_quota(&self, account: usize, region: &str, model: &str, quota: Quota) {
        self.quota_overrides
            .write()
            .insert((account, region.to_string(), model.to_string()), quota);
    }

    pub fn quota_for(&self, account: usize, region: &str, model: &str, cross_region: bool) -> Quota {
        if let Some(q) = self
            .quota_overrides
            .read()
            .get(&(account, region.to_string(), model.to_string()))
        {
            return *q;
        }
        self.fleet.load().quota_for(account, region, model, cross_region)
    }

    /// A region's capacity for profile traffic: a run-time change, else the fleet's.
    pub fn capacity(&self, region: &str) -> u32 {
        if let Some(&c) = self.capacity_changes.read().get(region) {
            return c;
        }
        self.fleet.load().capacity(region)
    }

    pub fn set_capacity(&self, region: &str, capacity: u32) {
        self.capacity_changes.write().insert(region.to_string(), capacity);
    }

    /// Every fleet region's capacity now.
    pub fn capacities(&self) -> std::collections::BTreeMap<String, u32> {
        let fleet = self.fleet.load();
        fleet
            .regions
            .iter()
            .map(|r| (r.as_str().to_string(), self.capacity(r.as_str())))
            .collect()
    }

    pub fn add_session(&self, access_key_id: String, session: SessionCredentials) {
        let mut sessions = self.sessions.write();
        let now = std::time::SystemTime::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(access_key_id, session);
    }

    pub fn session(&self, access_key_id: &str) -> Option<SessionCredentials> {
        self.sessions.read().get(access_key_id).cloned()
    }

    /// Requests now running for a model in a region (for load-aware placement).
    pub fn in_flight(&self, region: &str, model: &str) -> u32 {
        self.in_flight
            .lock()
            .get(&(region.to_string(), model.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Marks a request running until the guard drops.
    pub fn start_flight(self: &Arc<Self>, region: &str, model: &str) -> FlightGuard {
        let key = (region.to_string(), model.to_string());
        *self.in_flight.lock().entry(key.clone()).or_insert(0) += 1;
        FlightGuard {
            state: Arc::clone(self),
            key,
        }
    }
}

/// Counts a request as in flight while it lives.
#[derive(Debug)]
pub struct FlightGuard {
    state: Arc<SimState>,
    key: (String, String),
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut map = self.state.in_flight.lock();
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}
