//! The discovery lock. One key holds the leader's replica id with a time limit: taken with
//! `SET key id NX PX ttl` (only when nobody holds it), extended and released by Lua scripts
//! that first compare the value with our id, so a replica whose lock expired (a long pause,
//! a partition) can never extend or delete a lock another replica took since. A leader that
//! dies simply stops renewing; another replica takes the key once it expires.

use std::time::Duration;

use redis::Script;

use super::link::RedisLink;
use super::{Keys, SharedError};

/// Extends the lock only if we hold it: 1 when extended, 0 when someone else (or nobody) holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lock only if we hold it: 1 when deleted, else 0.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// One replica's side of the lock.
#[derive(Debug)]
pub struct Leadership {
    link: RedisLink,
    key: String,
    id: String,
    ttl: Duration,
    renew: Script,
    release: Script,
}

impl Leadership {
    /// `ttl` is how long the lock outlives its holder's last renewal; renew well within it.
    pub fn new(link: RedisLink, keys: &Keys, id: String, ttl: Duration) -> Leadership {
        Leadership {
            link,
            key: keys.leader.clone(),
            id,
            ttl,
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        }
    }

    /// This replica's id, the value written into the lock.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn ttl_ms(&self) -> u64 {
        (self.ttl.as_millis() as u64).max(1)
    }

    /// Takes the lock if nobody holds it; `true` when we now hold it.
    pub async fn acquire(&self) -> Result<bool, SharedError> {
        let mut set = redis::cmd("SET");
        set.arg(&self.key).arg(&self.id).arg("NX").arg("PX").arg(self.ttl_ms());
        let answer: Option<String> = self.link.query(&set).await?;
        Ok(answer.is_some())
    }

    /// Extends the lock if we still hold it; `false` when it expired or another replica has it.
    pub async fn renew(&self) -> Result<bool, SharedError> {
        let mut call = self.renew.prepare_invoke();
        call.key(&self.key).arg(&self.id).arg(self.ttl_ms());
        let extended: i64 = self.link.invoke(&call).await?;
        Ok(extended == 1)
    }

    /// Keeps or takes the lock: renewed if we hold it, else taken if it is free. `true` when
    /// we hold it afterwards.
    pub async fn hold(&self) -> Result<bool, SharedError> {
        if self.renew().await? {
            return Ok(true);
        }
        self.acquire().await
    }

    /// Gives the lock up (on a clean shutdown) so another replica takes over at once rather
    /// than when it expires; `false` when we did not hold it.
    pub async fn release(&self) -> Result<bool, SharedError> {
        let mut call = self.release.prepare_invoke();
        call.key(&self.key).arg(&self.id);
        let deleted: i64 = self.link.invoke(&call).await?;
        Ok(deleted == 1)
    }

    /// Who holds the lock now, if anyone.
    pub async fn holder(&self) -> Result<Option<String>, SharedError> {
        self.link.query(redis::cmd("GET").arg(&self.key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{link, namespace};
    use super::*;

    fn contender(keys: &Keys, id: &str, ttl_ms: u64) -> Leadership {
        Leadership::new(link(), keys, id.to_string(), Duration::from_millis(ttl_ms))
    }

    async fn pttl(keys: &Keys) -> i64 {
        link().query(redis::cmd("PTTL").arg(&keys.leader)).await.unwrap()
    }

    #[tokio::test]
    async fn only_one_of_two_contenders_holds_the_lock() {
        let keys = Keys::new(&namespace("exclusive"));
        let a = contender(&keys, "a", 60_000);
        let b = contender(&keys, "b", 60_000);
        assert!(a.acquire().await.unwrap());
        assert!(!b.acquire().await.unwrap());
        assert!(!b.hold().await.unwrap(), "b must not take a held lock");
        assert!(a.hold().await.unwrap());
        assert_eq!(b.holder().await.unwrap().as_deref(), Some("a"));
        // Neither renewal nor release by the other contender touches the lock.
        assert!(!b.renew().await.unwrap());
        assert!(!b.release().await.unwrap());
        assert_eq!(a.holder().await.unwrap().as_deref(), Some("a"));
        assert!(a.release().await.unwrap());
        assert_eq!(a.holder().await.unwrap(), None);
        assert!(
            b.hold().await.unwrap(),
            "a released lock is free for the next contender"
        );
        assert!(!a.hold().await.unwrap());
        b.release().await.unwrap();
    }

    #[tokio::test]
    async fn racing_contenders_end_with_exactly_one_holder() {
        let keys = Keys::new(&namespace("race"));
        let contenders: Vec<Leadership> = (0..8).map(|i| contender(&keys, &format!("c{i}"), 60_000)).collect();
        let won = futures::future::join_all(contenders.iter().map(|c| c.hold())).await;
        let winners: Vec<&str> = won
            .iter()
            .zip(&contenders)
            .filter(|(w, _)| *w.as_ref().unwrap())
            .map(|(_, c)| c.id())
            .collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(contenders[0].holder().await.unwrap().as_deref(), Some(winners[0]));
        for c in &contenders {
            c.release().await.unwrap();
        }
    }

    #[tokio::test]
    async fn renewal_extends_the_holders_lock() {
        let keys = Keys::new(&namespace("renew"));
        let short = contender(&keys, "a", 5_000);
        assert!(short.acquire().await.unwrap());
        let before = pttl(&keys).await;
        assert!(before > 0 && before <= 5_000, "{before}");
        // The same replica renewing with a longer limit: the key's time to live grows.
        let long = contender(&keys, "a", 60_000);
        assert!(long.renew().await.unwrap());
        assert!(pttl(&keys).await > 5_000);
        long.release().await.unwrap();
        // Nothing to renew once released.
        assert!(!long.renew().await.unwrap());
    }

    #[tokio::test]
    async fn another_replica_takes_over_when_the_holder_stops_renewing() {
        let keys = Keys::new(&namespace("takeover"));
        let dying = contender(&keys, "dying", 100);
        let heir = contender(&keys, "heir", 60_000);
        assert!(dying.acquire().await.unwrap());
        assert!(!heir.hold().await.unwrap());
        // The holder stops renewing; the lock expires on Redis's clock, however slow this
        // machine is: poll (bounded) until the heir holds it.
        let mut took_over = false;
        for _ in 0..200 {
            if heir.hold().await.unwrap() {
                took_over = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(took_over, "the lock never expired");
        assert_eq!(heir.holder().await.unwrap().as_deref(), Some("heir"));
        // The old holder, back from its pause, cannot renew or release what is not its own.
        assert!(!dying.renew().await.unwrap());
        assert!(!dying.release().await.unwrap());
        assert_eq!(heir.holder().await.unwrap().as_deref(), Some("heir"));
        heir.release().await.unwrap();
    }
}
