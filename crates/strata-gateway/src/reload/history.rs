//! What reloads did: the running config's origin and the last attempt, one book per process
//! (held by the gateway's state, shown by `GET /admin/config`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Signal,
    File,
    Api,
}

/// One reload attempt, as `GET /admin/config` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at_ms: i64,
    pub trigger: Trigger,
    pub ok: bool,
    /// Why the file was not applied (the running config is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Long-lived parts rebuilt (upstream clients, discovery), or settings that wait for a
    /// restart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rebuilt: Vec<&'static str>,
}

/// The running config's origin and its reload history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The config file (none: built in, as in `strata demo`).
    pub path: Option<PathBuf>,
    /// SHA-256 of the file the running config was read from.
    pub sha256: Option<String>,
    /// 1 for the config the process started with, +1 per applied reload.
    pub generation: u64,
    pub loaded_at_ms: i64,
    pub reloads_applied: u64,
    pub reloads_failed: u64,
    pub last_attempt: Option<Attempt>,
    /// SHA-256 of the file the last attempt read (applied or not).
    #[serde(skip)]
    pub(super) attempted_sha256: Option<String>,
}

/// Reload bookkeeping, one per process.
#[derive(Debug, Default)]
pub struct Reloads {
    pub(super) status: parking_lot::Mutex<Status>,
    /// One reload at a time.
    pub(super) running: tokio::sync::Mutex<()>,
}

impl Reloads {
    /// Records the file the running config came from.
    pub fn started_from(&self, path: Option<&Path>) {
        let mut s = self.status.lock();
        s.path = path.map(Path::to_path_buf);
        s.sha256 = path.and_then(|p| std::fs::read(p).ok()).map(|b| digest(&b));
        s.generation = 1;
        s.loaded_at_ms = crate::tenants::keys::now_ms();
    }

    pub fn status(&self) -> Status {
        self.status.lock().clone()
    }
}

pub(super) fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
