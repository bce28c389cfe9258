//! The published catalog: written by the lock's holder only (a Lua script compares the lock's
//! value with the writer's id and writes catalog, report and a new version in one step, so a
//! leader that lost its lock mid-scan cannot overwrite its successor's catalog), and read by
//! every replica in one `MGET`, so catalog, report and version always belong together.

use redis::Script;
use strata_core::Catalog;

use super::link::RedisLink;
use super::{Keys, SharedError};
use crate::service::RoundReport;

/// Writes catalog and report and bumps the version if ARGV[1] holds the lock (KEYS[1]):
/// the new version, or -1 when the writer no longer leads.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
local version = redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[4], version)
return version
";

/// A catalog as the leader published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Bumped by every publication; never 0 once something was published.
    pub version: u64,
    pub catalog: Catalog,
    pub report: RoundReport,
}

/// Reads and writes the published catalog of one namespace.
#[derive(Debug)]
pub struct PublishedCatalog {
    link: RedisLink,
    keys: Keys,
    publish: Script,
}

impl PublishedCatalog {
    pub fn new(link: RedisLink, keys: Keys) -> PublishedCatalog {
        PublishedCatalog {
            link,
            keys,
            publish: Script::new(PUBLISH),
        }
    }

    /// Publishes if `leader_id` holds the lock: `Some(version)`, or `None` when another
    /// replica leads now (nothing is written).
    pub async fn publish(
        &self,
        leader_id: &str,
        catalog: &Catalog,
        report: &RoundReport,
    ) -> Result<Option<u64>, SharedError> {
        let catalog = serde_json::to_string(catalog).map_err(|source| SharedError::Garbled {
            what: "catalog",
            source,
        })?;
        let report = serde_json::to_string(report).map_err(|source| SharedError::Garbled { what: "report", source })?;
        let mut call = self.publish.prepare_invoke();
        call.key(&self.keys.leader)
            .key(&self.keys.catalog)
            .key(&self.keys.report)
            .key(&self.keys.version)
            .arg(leader_id)
            .arg(catalog)
            .arg(report)
            .arg(&self.keys.channel);
        let version: i64 = self.link.invoke(&call).await?;
        Ok(u64::try_from(version).ok())
    }

    /// The version last published (0: nothing yet). One small read, polled by followers.
    pub async fn version(&self) -> Result<u64, SharedError> {
        let version: Option<u64> = self.link.query(redis::cmd("GET").arg(&self.keys.version)).await?;
        Ok(version.unwrap_or(0))
    }

    /// The published catalog with its report and version; `None` before the first publication.
    pub async fn load(&self) -> Result<Option<Published>, SharedError> {
        let mut get = redis::cmd("MGET");
        get.arg(&self.keys.version)
            .arg(&self.keys.catalog)
            .arg(&self.keys.report);
        let (version, catalog, report): (Option<u64>, Option<String>, Option<String>) = self.link.query(&get).await?;
        let (Some(version), Some(catalog), Some(report)) = (version, catalog, report) else {
            return Ok(None);
        };
        Ok(Some(Published {
            version,
            catalog: serde_json::from_str(&catalog).map_err(|source| SharedError::Garbled {
                what: "catalog",
                source,
            })?,
            report: serde_json::from_str(&report).map_err(|source| SharedError::Garbled { what: "report", source })?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_core::{Region, RegionScan};

    use super::super::leadership::Leadership;
    use super::super::testing::{link, namespace};
    use super::*;

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.insert(RegionScan::missing(
            "prod",
            Region::parse("eu-west-1").unwrap(),
            7,
            "denied".into(),
        ));
        c.insert(RegionScan::missing(
            "prod",
            Region::parse("us-east-1").unwrap(),
            8,
            "throttled".into(),
        ));
        c
    }

    fn report(finished_at: u64) -> RoundReport {
        RoundReport {
            finished_at,
            duration_ms: 12,
            scanned: 2,
            failed: 2,
            events: 0,
        }
    }

    #[tokio::test]
    async fn what_the_leader_publishes_every_replica_loads() {
        let keys = Keys::new(&namespace("roundtrip"));
        let store = PublishedCatalog::new(link(), keys.clone());
        assert_eq!(store.version().await.unwrap(), 0);
        assert_eq!(store.load().await.unwrap(), None);
        let leader = Leadership::new(link(), &keys, "leader".into(), Duration::from_secs(60));
        assert!(leader.acquire().await.unwrap());
        assert_eq!(
            store.publish("leader", &catalog(), &report(100)).await.unwrap(),
            Some(1)
        );
        let reader = PublishedCatalog::new(link(), keys.clone());
        assert_eq!(reader.version().await.unwrap(), 1);
        let loaded = reader.load().await.unwrap().unwrap();
        assert_eq!(
            loaded,
            Published {
                version: 1,
                catalog: catalog(),
                report: report(100)
            }
        );
        assert_eq!(
            store
                .publish("leader", &Catalog::default(), &report(200))
                .await
                .unwrap(),
            Some(2)
        );
        let loaded = reader.load().await.unwrap().unwrap();
        assert_eq!((loaded.version, loaded.report.finished_at), (2, 200));
        assert!(loaded.catalog.is_empty());
        leader.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_replica_without_the_lock_publishes_nothing() {
        let keys = Keys::new(&namespace("fenced"));
        let store = PublishedCatalog::new(link(), keys.clone());
        // Nobody holds the lock.
        assert_eq!(store.publish("stranger", &catalog(), &report(1)).await.unwrap(), None);
        let leader = Leadership::new(link(), &keys, "leader".into(), Duration::from_secs(60));
        assert!(leader.acquire().await.unwrap());
        // Someone else holds it.
        assert_eq!(store.publish("stranger", &catalog(), &report(1)).await.unwrap(), None);
        assert_eq!(store.version().await.unwrap(), 0);
        assert_eq!(store.load().await.unwrap(), None);
        leader.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_garbled_publication_is_an_error_not_an_empty_catalog() {
        let keys = Keys::new(&namespace("garbled"));
        let l = link();
        let mut set = redis::cmd("MSET");
        set.arg(&keys.version)
            .arg(3)
            .arg(&keys.catalog)
            .arg("{not json")
            .arg(&keys.report)
            .arg("{}");
        let () = l.query(&set).await.unwrap();
        let store = PublishedCatalog::new(l.clone(), keys.clone());
        assert!(matches!(
            store.load().await,
            Err(SharedError::Garbled { what: "catalog", .. })
        ));
        let () = l
            .query(
                redis::cmd("DEL")
                    .arg(&keys.version)
                    .arg(&keys.catalog)
                    .arg(&keys.report),
            )
            .await
            .unwrap();
    }
}
