//! Custom Model Import: imported models and import jobs per account × region, and how each
//! imported model serves (cold start, copies, latency — [`deployment`]).
//!
//! The book starts from the fleet's `imported_models` seeds (reset returns to them). A job
//! created by CreateModelImportJob is `InProgress` until its (scaled) import time has passed,
//! then `Completed`, and its model exists, warm (AWS preloads a freshly imported model). Jobs
//! are settled lazily: every read of the book first completes the jobs that are due, so no
//! background task is needed and the answer depends only on the clock.
//!
//! Runtime calls take a place on a copy through [`acquire`]: cold → ModelNotReadyException;
//! every copy full → wait (ThrottlingException after the queue timeout). The place is a
//! [`CopySlot`] held for as long as the answer (stream included) runs.

pub mod api;
pub mod deployment;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};
use rand::Rng;
use serde_json::{json, Value};
use strata_core::BedrockErrorKind;

use crate::error::AwsError;
use crate::fleet::{model_units, Architecture, CustomModelSettings, Fleet};
use deployment::{Admission, Deployment};

/// When seeded models say they were imported.
const SEEDED_AT: &str = "2025-10-14T00:00:00Z";

/// The imported-model ARN AWS forms.
pub fn imported_model_arn(region: &str, account_id: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account_id}:imported-model/{id}")
}

/// The import-job ARN AWS forms.
pub fn import_job_arn(region: &str, account_id: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account_id}:model-import-job/{id}")
}

/// A fresh 12-character ID of lowercase letters and digits.
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// An ISO-8601 UTC timestamp, as the control plane prints them.
pub fn iso8601(time: SystemTime) -> String {
    let (y, m, d, h, mi, s) = strata_core::clock::utc_parts(time);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Which imported model: (account index, region, 12-character ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    pub account: usize,
    pub region: String,
    pub id: String,
}

/// The import job a model came from.
#[derive(Debug, Clone)]
pub struct JobRef {
    pub name: String,
    pub id: String,
    pub s3_uri: String,
}

/// One imported model.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub key: ModelKey,
    pub name: String,
    pub architecture: Architecture,
    pub parameters_billion: f64,
    pub instruct: bool,
    pub created_at: String,
    pub job: Option<JobRef>,
    pub deployment: Deployment,
}

impl ImportedModel {
    pub fn units_per_copy(&self) -> u32 {
        model_units(self.parameters_billion)
    }
}

/// What the runtime needs to know of an imported model.
#[derive(Debug, Clone)]
pub struct ImportedView {
    pub key: ModelKey,
    pub name: String,
    pub architecture: Architecture,
    pub parameters_billion: f64,
    pub instruct: bool,
}

/// `InProgress`, `Completed` or `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    InProgress,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::InProgress => "InProgress",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
        }
    }
}

/// One model import job.
#[derive(Debug, Clone)]
pub struct ImportJob {
    pub account: usize,
    pub region: String,
    pub id: String,
    pub name: String,
    pub model_name: String,
    /// The ID the model gets (chosen at creation; it exists once the job completes).
    pub model_id: String,
    pub role_arn: String,
    pub s3_uri: String,
    pub architecture: Architecture,
    pub parameters_billion: f64,
    pub vpc_config: Option<Value>,
    pub client_token: Option<String>,
    pub created: SystemTime,
    pub completes_at: Instant,
    pub duration: Duration,
    pub status: JobStatus,
    /// Set at creation for a job that will fail (its S3 URI has the word `unsupported`).
    pub failure: Option<String>,
}

impl ImportJob {
    pub fn end_time(&self) -> Option<SystemTime> {
        (self.status != JobStatus::InProgress).then(|| self.created + self.duration)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Book {
    pub(crate) models: Vec<ImportedModel>,
    pub(crate) jobs: Vec<ImportJob>,
}

impl Book {
    /// Completes the jobs that are due, adding their models (warm, loaded when the job ended).
    fn settle(&mut self, now: Instant) {
        for job in &mut self.jobs {
            if job.status != JobStatus::InProgress || job.completes_at > now {
                continue;
            }
            if job.failure.is_some() {
                job.status = JobStatus::Failed;
                continue;
            }
            job.status = JobStatus::Completed;
            self.models.push(ImportedModel {
                key: ModelKey {
                    account: job.account,
                    region: job.region.clone(),
                    id: job.model_id.clone(),
                },
                name: job.model_name.clone(),
                architecture: job.architecture,
                parameters_billion: job.parameters_billion,
                instruct: job.architecture.instruct_by_default(),
                created_at: iso8601(job.created + job.duration),
                job: Some(JobRef {
                    name: job.name.clone(),
                    id: job.id.clone(),
                    s3_uri: job.s3_uri.clone(),
                }),
                deployment: Deployment::new(job.parameters_billion, true, job.completes_at),
            });
        }
    }

    fn model_mut(&mut self, key: &ModelKey) -> Option<&mut ImportedModel> {
        self.models.iter_mut().find(|m| &m.key == key)
    }
}

/// Every imported model and import job, and the settings they run under.
#[derive(Debug)]
pub struct CustomModels {
    settings: RwLock<CustomModelSettings>,
    book: Mutex<Book>,
    /// Woken when a place on a copy frees up.
    freed: tokio::sync::Notify,
    zero_latency: bool,
}

impl CustomModels {
    /// The fleet's seeded models and settings (`zero_latency`: no per-request latency).
    pub fn new(fleet: &Fleet, zero_latency: bool) -> Self {
        let models = CustomModels {
            settings: RwLock::new(CustomModelSettings::default()),
            book: Mutex::new(Book::default()),
            freed: tokio::sync::Notify::new(),
            zero_latency,
        };
        models.reset(fleet);
        models
    }

    /// Drops every job, import and change, and seeds the fleet's models and settings again.
    pub fn reset(&self, fleet: &Fleet) {
        let settings = if self.zero_latency {
            fleet.custom_models.without_latency()
        } else {
            fleet.custom_models
        };
        *self.settings.write() = settings;
        let now = Instant::now();
        let mut book = Book::default();
        for seed in &fleet.imported_models {
            for (a, account) in fleet.accounts.iter().enumerate() {
                if !seed.accounts.contains(&account.name) {
                    continue;
                }
                for region in &seed.regions {
                    book.models.push(ImportedModel {
                        key: ModelKey {
                            account: a,
                            region: region.to_string(),
                            id: seed.id.clone(),
                        },
                        name: seed.name.clone(),
                        architecture: seed.architecture,
                        parameters_billion: seed.parameters_billion,
                        instruct: seed.instruct.unwrap_or(seed.architecture.instruct_by_default()),
                        created_at: SEEDED_AT.into(),
                        job: None,
                        deployment: Deployment::new(seed.parameters_billion, seed.warm, now),
                    });
                }
            }
        }
        *self.book.lock() = book;
        self.freed.notify_waiters();
    }

    pub fn settings(&self) -> CustomModelSettings {
        *self.settings.read()
    }

    /// Replaces the settings (checked by the caller). Waiting calls look again.
    pub fn set_settings(&self, settings: CustomModelSettings) {
        *self.settings.write() = settings;
        self.freed.notify_waiters();
    }

    /// Runs `f` over the book with due jobs settled.
    pub(crate) fn with_book<T>(&self, f: impl FnOnce(&mut Book, &CustomModelSettings) -> T) -> T {
        let settings = self.settings();
        let mut book = self.book.lock();
        book.settle(Instant::now());
        f(&mut book, &settings)
    }

    /// The imported model `id` of an account in a region.
    pub fn resolve(&self, account: usize, region: &str, id: &str) -> Option<ImportedView> {
        self.with_book(|book, _| {
            book.models
                .iter()
                .find(|m| m.key.account == account && m.key.region == region && m.key.id == id)
                .map(|m| ImportedView {
                    key: m.key.clone(),
                    name: m.name.clone(),
                    architecture: m.architecture,
                    parameters_billion: m.parameters_billion,
                    instruct: m.instruct,
                })
        })
    }

    /// Models matching a selector (an ARN, a 12-character ID or a name; `None`: all), as keys.
    fn select(&self, fleet: &Fleet, selector: Option<&str>) -> Vec<ModelKey> {
        self.with_book(|book, _| {
            book.models
                .iter()
                .filter(|m| match selector {
                    None => true,
                    Some(s) => {
                        s == m.key.id
                            || s == m.name
                            || fleet
                                .accounts
                                .get(m.key.account)
                                .is_some_and(|a| s == imported_model_arn(&m.key.region, a.id.as_str(), &m.key.id))
                    }
                })
                .map(|m| m.key.clone())
                .collect()
        })
    }

    /// Evicts the selected models now (they answer ModelNotReadyException next). Returns how many.
    pub fn evict(&self, fleet: &Fleet, selector: Option<&str>) -> usize {
        let keys = self.select(fleet, selector);
        self.with_book(|book, _| {
            for key in &keys {
                if let Some(m) = book.model_mut(key) {
                    m.deployment.evict();
                }
            }
        });
        keys.len()
    }

    /// Makes the selected models warm now, each with one loaded copy. Returns how many.
    pub fn warm(&self, fleet: &Fleet, selector: Option<&str>) -> usize {
        let keys = self.select(fleet, selector);
        let now = Instant::now();
        self.with_book(|book, _| {
            for key in &keys {
                if let Some(m) = book.model_mut(key) {
                    m.deployment.warm(now);
                }
            }
        });
        self.freed.notify_waiters();
        keys.len()
    }

    /// Per imported model: where it is, its size and units, state, copies and counters (the
    /// `imported_models` part of `/_sim/stats`).
    pub fn stats(&self, fleet: &Fleet) -> Value {
        let now = Instant::now();
        self.with_book(|book, settings| {
            let rows: Vec<Value> = book
                .models
                .iter_mut()
                .map(|m| {
                    m.deployment.refresh(now, settings);
                    let (account_id, account_name) = fleet
                        .accounts
                        .get(m.key.account)
                        .map(|a| (a.id.as_str().to_string(), a.name.clone()))
                        .unwrap_or_default();
                    let d = &m.deployment;
                    json!({
                        "arn": imported_model_arn(&m.key.region, &account_id, &m.key.id),
                        "id": m.key.id,
                        "name": m.name,
                        "account": account_id,
                        "account_name": account_name,
                        "region": m.key.region,
                        "architecture": m.architecture.name(),
                        "parameters_billion": m.parameters_billion,
                        "model_units_per_copy": m.units_per_copy(),
                        "state": d.phase(now).name(),
                        "copies": d.copies(now),
                        "copies_loading": d.copies_loading(now),
                        "peak_copies": d.peak_copies,
                        "model_units": d.copies(now) * m.units_per_copy(),
                        "in_flight": d.in_flight(),
                        "waiting": d.waiting(),
                        "invocations": d.invocations,
                        "cold_start_refusals": d.cold_start_refusals,
                        "last_invocation": d.last_invocation.map(iso8601),
                    })
                })
                .collect();
            Value::Array(rows)
        })
    }
}

/// A place on a copy of an imported model, held while the answer runs; gives it back on drop.
#[derive(Debug)]
pub struct CopySlot {
    models: Arc<CustomModels>,
    key: ModelKey,
    copy: u64,
    /// Time to the first token and per further token, for this request.
    pub first_token: Duration,
    pub per_token: Duration,
}

impl Drop for CopySlot {
    fn drop(&mut self) {
        let models = &self.models;
        if let Some(m) = models.book.lock().model_mut(&self.key) {
            m.deployment.release(self.copy, Instant::now());
        }
        models.freed.notify_waiters();
    }
}

/// Takes a place on a copy of the model: refused while it is cold or loading (the first call
/// on a cold model starts the load), waits while every copy is full.
pub async fn acquire(models: &Arc<CustomModels>, key: &ModelKey) -> Result<CopySlot, AwsError> {
    let deadline = Instant::now() + models.settings().queue_timeout();
    let mut waiter: Option<Waiter<'_>> = None;
    loop {
        // Registered before looking, so a place freed in between is not missed.
        let freed = models.freed.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        let now = Instant::now();
        let settings = models.settings();
        let (admission, params) = {
            let mut book = models.book.lock();
            book.settle(now);
            let m = book.model_mut(key).ok_or_else(not_found)?;
            if waiter.is_some() && now >= deadline {
                return Err(AwsError::throttled());
            }
            (
                m.deployment.admit(now, &settings, waiter.is_some()),
                m.parameters_billion,
            )
        };
        match admission {
            Admission::Place { copy, in_flight } => {
                if let Some(w) = waiter.as_mut() {
                    w.armed = false;
                }
                let draw = rand::rng().random_range(-1.0..=1.0);
                let (first_token, per_token) = deployment::request_timing(&settings, params, in_flight, draw);
                return Ok(CopySlot {
                    models: Arc::clone(models),
                    key: key.clone(),
                    copy,
                    first_token,
                    per_token,
                });
            }
            Admission::NotReady => {
                if let Some(w) = waiter.as_mut() {
                    w.armed = false;
                }
                return Err(AwsError::injected(BedrockErrorKind::ModelNotReadyException));
            }
            Admission::Wait { next_ready } => {
                waiter.get_or_insert(Waiter {
                    models,
                    key,
                    armed: true,
                });
                let until = next_ready.map_or(deadline, |r| r.min(deadline));
                let _ = tokio::time::timeout_at(until.into(), freed).await;
            }
        }
    }
}

/// A call counted as waiting on a model; uncounted if it stops waiting without a place (timed
/// out, or its client went away).
struct Waiter<'a> {
    models: &'a CustomModels,
    key: &'a ModelKey,
    armed: bool,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(m) = self.models.book.lock().model_mut(self.key) {
                m.deployment.abandon_wait();
            }
        }
    }
}

/// The runtime's answer for an imported model that does not exist here.
pub fn not_found() -> AwsError {
    AwsError::new(
        BedrockErrorKind::ResourceNotFoundException,
        "The specified imported model was not found in this account and region.",
    )
}
