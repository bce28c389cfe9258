//! Config reload: on SIGHUP, on a change of the config file (looked at through symlinks every
//! second, so a Kubernetes ConfigMap's symlink swap is seen), or on `POST /admin/config/reload`. The file is
//! read, checked and applied whole ([`GatewayState::apply`]) while traffic flows; a file that
//! does not check keeps the running config, and the error is logged, counted
//! (`strata_config_reloads_total{result="error"}`) and shown by `GET /admin/config`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::state::GatewayState;

pub mod history;

use history::digest;
pub use history::{Attempt, Reloads, Status, Trigger};

/// Changes arriving closer together than this are applied once.
const SETTLE: Duration = Duration::from_millis(300);

/// Why a reload did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this gateway was not started from a config file")]
    NoFile,
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Build(#[from] crate::state::BuildError),
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied {
        rebuilt: Vec<&'static str>,
    },
    /// The file is byte for byte the running one (a watch event for nothing).
    Unchanged,
}

/// Reads the config file again and applies it; see the module docs.
pub async fn reload(state: &Arc<GatewayState>, trigger: Trigger) -> Result<Outcome, ReloadError> {
    let reloads = &state.reloads;
    let _one = reloads.running.lock().await;
    let (path, running, attempted) = {
        let s = reloads.status.lock();
        (s.path.clone(), s.sha256.clone(), s.attempted_sha256.clone())
    };
    let Some(path) = path else {
        return Err(ReloadError::NoFile);
    };
    let sha = std::fs::read(&path).ok().map(|b| digest(&b));
    // A watch fires for any change in the directory (and several times for one write); only
    // a file not tried yet is a reload. A signal or an API call reloads even the same bytes
    // (`${ENV}` values may differ).
    if trigger == Trigger::File && sha.is_some() && (sha == running || sha == attempted) {
        return Ok(Outcome::Unchanged);
    }
    let result = match crate::config::load(&path) {
        Ok(config) => state.apply(config).await.map_err(ReloadError::from),
        Err(e) => Err(ReloadError::from(e)),
    };
    let now = crate::tenants::keys::now_ms();
    let mut s = reloads.status.lock();
    s.attempted_sha256.clone_from(&sha);
    match &result {
        Ok(rebuilt) => {
            s.generation += 1;
            s.reloads_applied += 1;
            s.sha256 = sha;
            s.loaded_at_ms = now;
            s.last_attempt = Some(Attempt {
                at_ms: now,
                trigger,
                ok: true,
                error: None,
                rebuilt: rebuilt.clone(),
            });
            metrics::counter!("strata_config_reloads_total", "result" => "applied").increment(1);
            metrics::gauge!("strata_config_generation").set(s.generation as f64);
            tracing::info!(?trigger, generation = s.generation, rebuilt = ?rebuilt, "config reloaded");
        }
        Err(e) => {
            s.reloads_failed += 1;
            s.last_attempt = Some(Attempt {
                at_ms: now,
                trigger,
                ok: false,
                error: Some(e.to_string()),
                rebuilt: Vec::new(),
            });
            metrics::counter!("strata_config_reloads_total", "result" => "error").increment(1);
            tracing::error!(?trigger, error = %e, "config reload failed; the running config is kept");
        }
    }
    drop(s);
    result.map(|rebuilt| Outcome::Applied { rebuilt })
}

/// Watches the config file and reloads when it changes, until `stop` turns true: its metadata
/// (device, inode, size, modification time) is read through symlinks every [`LOOK_EVERY`], so
/// an editor's rename, an in-place write and a Kubernetes ConfigMap's `..data` symlink swap are
/// all seen. (An inotify watch on the directory was tried first: it woke a thread for every write
/// of a usage database kept beside the config, a measurable cost per request under load.)
pub async fn watch(state: Arc<GatewayState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(path) = state.reloads.status().path else {
        return;
    };
    let mut seen = stamp(&path);
    loop {
        tokio::select! {
            () = tokio::time::sleep(LOOK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = stamp(&path);
        if now == seen {
            continue;
        }
        // Editors write in steps (truncate, write, rename): wait for the file to settle.
        tokio::time::sleep(SETTLE).await;
        seen = stamp(&path);
        let _ = reload(&state, Trigger::File).await;
    }
}

/// How often the config file's metadata is read.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What tells one version of a file from another without reading it.
fn stamp(path: &Path) -> Option<(u64, u64, u64, Option<std::time::SystemTime>)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (dev, ino) = {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    };
    #[cfg(not(unix))]
    let (dev, ino) = (0, 0);
    Some((dev, ino, m.len(), m.modified().ok()))
}
