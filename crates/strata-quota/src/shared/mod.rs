//! Limits kept in Redis, exact across replicas: a reservation is one Lua script call
//! (`reserve.lua`) that reads Redis's clock, checks every scope and takes from all of them or
//! none; a settle (`settle.lua`) waits in a queue and rides in front of the next reservation's
//! call, or is flushed alone after a few milliseconds without one (`queue.rs`): one round trip per
//! request under traffic. Nothing is read into Rust and written back, so concurrent replicas
//! never race. Every key is `namespace:scope key:kind` with a TTL.
//!
//! The connection is made at the first call and remade by `ConnectionManager` after a failure;
//! each call is bounded by a short timeout.

mod health;
mod pending;
mod queue;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, ScriptInvocation};
use tokio::sync::OnceCell;

use crate::local::Ending;
use crate::types::{Ask, FailMode, Headroom, Limit, QuotaError, Refusal, Scope, Window};
use health::Health;
use pending::Pending;
use queue::{SettleQueue, FLUSH_AFTER, MOST_CARRIED, MOST_FLUSHED};

const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// A reservation, with the settles riding in front of it (none: a count of 0). Static, so a call
/// can be handed to a task of its own.
static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("settle.lua"), include_str!("reserve.lua"))));
/// Settles alone.
static SETTLE: LazyLock<Script> = LazyLock::new(|| Script::new(concat!(include_str!("settle.lua"), "\nreturn 1\n")));
/// Seconds in the sliding window (as `local::window::SLOTS`).
const SLOTS: u64 = 61;

/// What a shared reservation took in one scope, to settle or cancel.
#[derive(Debug)]
struct SharedTaken {
    key: Box<str>,
    requests: u64,
    tokens: u64,
    tpm: Option<u32>,
    /// The in-flight member, when the scope holds a lease.
    member: Option<String>,
    /// (period index, amount) per budget.
    day: Option<(i64, u64)>,
    month: Option<(i64, u64)>,
}

/// A reservation taken in Redis.
#[derive(Debug)]
pub(crate) struct SharedGrant {
    second: i64,
    fail: FailMode,
    taken: Vec<SharedTaken>,
}

#[derive(Debug)]
pub(crate) struct SharedStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    namespace: Box<str>,
    timeout: Duration,
    lease: Duration,
    health: Health,
    /// Settles waiting to ride on a reservation or a flush.
    queue: SettleQueue,
    /// Settles queued or on their way, for [`SharedStore::flush`].
    pending: Pending,
}

impl SharedStore {
    pub(crate) fn new(url: &str, namespace: &str, lease: Duration) -> Result<SharedStore, QuotaError> {
        Ok(SharedStore {
            client: redis::Client::open(url).map_err(QuotaError::BadUrl)?,
            connection: OnceCell::new(),
            namespace: namespace.into(),
            timeout: DEFAULT_TIMEOUT,
            lease,
            health: Health::default(),
            queue: SettleQueue::default(),
            pending: Pending::default(),
        })
    }

    pub(crate) fn set_lease(&mut self, lease: Duration) {
        self.lease = lease;
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The connection, made lazily (needs the tokio runtime, which `Quotas::shared` may lack).
    async fn connection(&self) -> Result<ConnectionManager, String> {
        self.connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // One attempt per reconnection: the back-off in `Health` paces the retries.
                    .set_number_of_retries(0);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config).map_err(|e| e.to_string())
            })
            .await
            .cloned()
    }

    fn keys(&self, key: &str) -> [String; 3] {
        let ns = &self.namespace;
        [
            format!("{ns}:{key}:w"),
            format!("{ns}:{key}:b"),
            format!("{ns}:{key}:f"),
        ]
    }

    /// Reserves in Redis. The outer error means Redis could not be asked (the fail mode
    /// decides); the inner one is a refusal.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        scopes: &[Scope<'_>],
        ask: Ask,
        fail: FailMode,
    ) -> Result<Result<(SharedGrant, Headroom), Refusal>, String> {
        if !self.health.may_ask() {
            return Err("Redis failed recently; not asked during the back-off".to_owned());
        }
        let id = format!("{:016x}", rand::random::<u64>());
        let mut taken = Vec::with_capacity(scopes.len());
        let carried = self.queue.take(MOST_CARRIED);
        let mut call = RESERVE.prepare_invoke();
        self.push_settles(&mut call, &carried);
        call.arg(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX))
            .arg(&id)
            .arg(scopes.len());
        for scope in scopes {
            let l = scope.limits;
            for key in self.keys(scope.key) {
                call.key(key);
            }
            let tokens = l.tpm.map_or(0, |tpm| ask.tokens.min(u64::from(tpm)));
            let day = l.usd_per_day.map_or(0, |cap| ask.cost.min(cap));
            let month = l.usd_per_month.map_or(0, |cap| ask.cost.min(cap));
            call.arg(optional(l.rpm))
                .arg(optional(l.tpm))
                .arg(optional(l.concurrent))
                .arg(optional(l.usd_per_day))
                .arg(optional(l.usd_per_month))
                .arg(tokens)
                .arg(day)
                .arg(month);
            taken.push((scope, tokens, day, month));
        }
        let answer: Result<Vec<i64>, String> = if carried.is_empty() {
            self.invoke(call).await
        } else {
            // Other requests' settles ride on this call: it runs to its end in a task of its own,
            // even if this request is dropped while it waits (a client that hangs up), so they
            // are neither lost nor left pending.
            let store = Arc::clone(self);
            let ride = tokio::spawn(async move {
                let answer = store.invoke(call).await;
                store.pending.finish(carried.len());
                answer
            });
            ride.await
                .unwrap_or_else(|e| Err(format!("the reservation's task failed: {e}")))
        };
        let reply: Vec<i64> = match answer {
            Ok(reply) => reply,
            Err(error) => {
                self.health.failed("reserve", &error, fail);
                return Err(error);
            }
        };
        let Some(parsed) = parse_reserve(&reply) else {
            let error = format!("unexpected reply from reserve.lua: {reply:?}");
            self.health.failed("reserve", &error, fail);
            return Err(error);
        };
        self.health.answered();
        Ok(match parsed {
            Reply::Refused(refusal) => Err(refusal),
            Reply::Granted {
                second,
                day,
                month,
                headroom,
            } => {
                let taken = taken
                    .into_iter()
                    .filter(|(scope, ..)| !scope.limits.is_unlimited())
                    .map(|(scope, tokens, day_amount, month_amount)| {
                        let l = scope.limits;
                        let day = l.usd_per_day.map(|_| (day, day_amount));
                        let month = l.usd_per_month.map(|_| (month, month_amount));
                        let member = l.needs_lease().then(|| {
                            let period = |p: Option<(i64, u64)>| p.map(|(i, _)| i.to_string()).unwrap_or_default();
                            format!("{id}|{}|{day_amount}|{}|{month_amount}", period(day), period(month))
                        });
                        SharedTaken {
                            key: scope.key.into(),
                            requests: u64::from(l.rpm.is_some()),
                            tokens,
                            tpm: l.tpm,
                            member,
                            day,
                            month,
                        }
                    })
                    .collect();
                Ok((SharedGrant { second, fail, taken }, headroom))
            }
        })
    }

    /// Runs one script call on the connection within the timeout.
    async fn invoke<T: redis::FromRedisValue>(&self, call: ScriptInvocation<'static>) -> Result<T, String> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, call.invoke_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// Settles or cancels a shared reservation: queued to ride on the next reservation, with a
    /// flush scheduled on the current runtime in case none comes.
    pub(crate) fn queue_end(self: &Arc<Self>, grant: SharedGrant, ending: Ending) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("quota settle outside a tokio runtime: the reservation stands until its lease expires");
            return;
        };
        self.pending.start();
        if self.queue.push(grant, ending) {
            let store = Arc::clone(self);
            runtime.spawn(async move {
                tokio::time::sleep(FLUSH_AFTER).await;
                store.queue.flush_started();
                store.flush().await;
            });
        }
    }

    /// Sends every waiting settle now, in as few calls as it takes.
    async fn flush(&self) {
        loop {
            let batch = self.queue.take(MOST_FLUSHED);
            let Some((first, _)) = batch.first() else {
                return;
            };
            let fail = first.fail;
            let mut call = SETTLE.prepare_invoke();
            self.push_settles(&mut call, &batch);
            let result: Result<i64, String> = self.invoke(call).await;
            self.pending.finish(batch.len());
            match result {
                Ok(_) => self.health.answered(),
                Err(error) => self.health.failed("settle", &error, fail),
            }
        }
    }

    /// Sends what is queued and waits until every settle queued so far has been answered,
    /// including those riding on reservations in flight (shutdown, tests).
    pub(crate) async fn settled(&self) {
        self.flush().await;
        self.pending.wait().await;
    }

    /// Writes settle.lua's part of a call: the number of scopes, then their keys and arguments.
    fn push_settles(&self, call: &mut ScriptInvocation<'_>, settles: &[(SharedGrant, Ending)]) {
        let scopes: usize = settles.iter().map(|(grant, _)| grant.taken.len()).sum();
        call.arg(scopes);
        for (grant, ending) in settles {
            for t in &grant.taken {
                for key in self.keys(&t.key) {
                    call.key(key);
                }
                let (requests, tokens): (i64, i64) = match *ending {
                    Ending::Used { tokens, .. } => {
                        let cap = t.tpm.map_or(0, |tpm| u64::from(tpm) * SLOTS);
                        (0, signed(tokens.min(cap)) - signed(t.tokens))
                    }
                    Ending::Estimate => (0, 0),
                    Ending::Cancel => (-signed(t.requests), -signed(t.tokens)),
                };
                call.arg(grant.second)
                    .arg(requests)
                    .arg(tokens)
                    .arg(t.member.as_deref().unwrap_or(""));
                for period in [t.day, t.month] {
                    match period {
                        Some((index, amount)) => {
                            let spent = match *ending {
                                Ending::Used { cost, .. } => cost,
                                Ending::Estimate => amount,
                                Ending::Cancel => 0,
                            };
                            // Redis integers are signed 64-bit.
                            call.arg(index).arg(amount).arg(spent.min(i64::MAX as u64));
                        }
                        None => {
                            call.arg("").arg(0).arg(0);
                        }
                    }
                }
            }
        }
    }
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

enum Reply {
    Granted {
        second: i64,
        day: i64,
        month: i64,
        headroom: Headroom,
    },
    Refused(Refusal),
}

fn parse_reserve(reply: &[i64]) -> Option<Reply> {
    let (head, rest) = reply.split_at_checked(4)?;
    let headroom = parse_headroom(rest)?;
    Some(match head {
        [1, second, day, month] => Reply::Granted {
            second: *second,
            day: *day,
            month: *month,
            headroom,
        },
        [0, scope, limit, retry_ms] => Reply::Refused(Refusal {
            scope: usize::try_from(*scope).ok()?,
            limit: Limit::from_code(*limit)?,
            retry_after: Duration::from_millis(u64::try_from(*retry_ms).ok()?),
            headroom,
        }),
        _ => return None,
    })
}

fn parse_headroom(fields: &[i64]) -> Option<Headroom> {
    let window = |f: &[i64]| -> Option<Option<Window>> {
        match *f {
            [0, _, _, _] => Some(None),
            [1, limit, remaining, reset_ms] => Some(Some(Window {
                limit: u64::try_from(limit).ok()?,
                remaining: u64::try_from(remaining).ok()?,
                reset: Duration::from_millis(u64::try_from(reset_ms).ok()?),
            })),
            _ => None,
        }
    };
    let (requests, tokens) = fields.split_at_checked(4)?;
    Some(Headroom {
        requests: window(requests)?,
        tokens: window(tokens)?,
    })
}
