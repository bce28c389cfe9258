//! The catalog on disk: written after every round (to a temporary file, then renamed, so a
//! crash never leaves half a file) and read at start-up so a restarted gateway routes before
//! its first scan finishes.

use std::path::{Path, PathBuf};

use strata_core::Catalog;

/// The cache file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the catalog cache {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the catalog cache {path} is not a catalog ({source}); delete it or fix it")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("cannot write the catalog cache {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Reads a cached catalog; `Ok(None)` when there is no file yet.
pub fn load(path: &Path) -> Result<Option<Catalog>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| StoreError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the catalog atomically.
pub fn save(path: &Path, catalog: &Catalog) -> Result<(), StoreError> {
    let write_err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_vec_pretty(catalog).map_err(|e| write_err(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{Region, RegionScan};

    #[test]
    fn saves_and_loads_and_reports_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/catalog.json");
        assert!(load(&path).unwrap().is_none());
        let mut c = Catalog::default();
        c.insert(RegionScan::missing(
            "a",
            Region::parse("eu-west-1").unwrap(),
            3,
            "x".into(),
        ));
        save(&path, &c).unwrap();
        assert_eq!(load(&path).unwrap(), Some(c));
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(StoreError::Parse { .. })));
    }
}
