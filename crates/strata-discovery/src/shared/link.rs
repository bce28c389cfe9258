//! The connection to Redis: one reconnecting connection manager per replica, made without
//! touching the network (Redis may be down when the gateway starts), and every call bounded by
//! a short timeout so discovery never hangs on Redis: a slow or absent Redis is an error the
//! coordinator answers by scanning locally.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::FromRedisValue;

use super::{SharedError, REDIS_ERRORS};

/// How long one Redis call may take, connecting included.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// A cheap-to-clone handle on the shared Redis.
#[derive(Clone)]
pub struct RedisLink {
    manager: ConnectionManager,
    timeout: Duration,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Parses the URL and prepares the connection; nothing is sent until the first call, and a
    /// lost connection is re-established by later calls.
    pub fn connect(url: &str) -> Result<RedisLink, SharedError> {
        let url_error = |source| SharedError::Url {
            url: url.to_string(),
            source,
        };
        let client = redis::Client::open(url).map_err(url_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            // Reconnection is retried by the next call, not in a long background loop.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(url_error)?;
        Ok(RedisLink {
            manager,
            timeout: CALL_TIMEOUT,
        })
    }

    /// Sends one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, SharedError> {
        let mut con = self.manager.clone();
        self.bounded(async move { cmd.query_async(&mut con).await }).await
    }

    /// Runs one Lua script (by hash, loading it when Redis does not know it yet).
    pub async fn invoke<T: FromRedisValue>(&self, script: &redis::ScriptInvocation<'_>) -> Result<T, SharedError> {
        let mut con = self.manager.clone();
        self.bounded(async move { script.invoke_async(&mut con).await }).await
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedError> {
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => SharedError::Redis(e),
            Err(_) => SharedError::Timeout(self.timeout),
        };
        metrics::counter!(REDIS_ERRORS).increment(1);
        Err(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_that_is_not_redis_is_refused_without_a_connection() {
        assert!(matches!(RedisLink::connect("http://x"), Err(SharedError::Url { .. })));
        assert!(super::super::check_redis_url("redis://127.0.0.1:notaport").is_err());
        assert!(super::super::check_redis_url("redis://127.0.0.1:6379/2").is_ok());
        // Nothing listens on port 1: the link is made, the call fails quickly.
        let link = RedisLink::connect("redis://127.0.0.1:1").unwrap();
        let answer: Result<String, _> = link.query(&redis::cmd("PING")).await;
        assert!(answer.is_err());
    }

    #[tokio::test]
    async fn talks_to_the_real_redis() {
        let link = super::super::testing::link();
        let answer: String = link.query(&redis::cmd("PING")).await.unwrap();
        assert_eq!(answer, "PONG");
    }
}
