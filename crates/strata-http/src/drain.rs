//! The drain handle: how the application learns that shutdown has begun (to answer `/readyz`
//! with 503) and that the grace is over (to end its open streams with an error event before
//! the edge closes their connections by force).

use std::sync::Arc;

use tokio::sync::watch;

/// Two one-way signals, in order: draining started, then the grace's deadline reached.
/// Clones share the signals. [`crate::serve`] fires them: `started` when its shutdown future
/// completes, `deadline` when [`crate::ServeOptions::shutdown_grace`] has passed with
/// connections still open; [`crate::HARD_CLOSE_AFTER_DEADLINE`] later the rest are closed.
#[derive(Debug, Clone)]
pub struct Drain {
    signals: Arc<Signals>,
}

#[derive(Debug)]
struct Signals {
    started: watch::Sender<bool>,
    deadline: watch::Sender<bool>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Drain {
    pub fn new() -> Drain {
        Drain {
            signals: Arc::new(Signals {
                started: watch::Sender::new(false),
                deadline: watch::Sender::new(false),
            }),
        }
    }

    /// True once shutdown has begun (cheap: one read of a shared flag).
    pub fn is_draining(&self) -> bool {
        *self.signals.started.borrow()
    }

    /// True once the grace is over.
    pub fn is_past_deadline(&self) -> bool {
        *self.signals.deadline.borrow()
    }

    /// Completes when shutdown begins (at once if it has).
    pub async fn started(&self) {
        fired(self.signals.started.subscribe()).await;
    }

    /// Completes when the grace is over (at once if it is).
    pub async fn deadline(&self) {
        fired(self.signals.deadline.subscribe()).await;
    }

    /// Fires `started` ([`crate::serve`] does when its shutdown future completes).
    pub fn begin(&self) {
        self.signals.started.send_replace(true);
    }

    /// Fires both signals ([`crate::serve`] does when the grace is over).
    pub fn reach_deadline(&self) {
        self.signals.started.send_replace(true);
        self.signals.deadline.send_replace(true);
    }
}

/// Completes when the flag is (or becomes) true. The sender lives as long as the `Drain` that
/// made the receiver, so a closed channel only happens when nobody can fire it: never complete.
pub(crate) async fn fired(mut flag: watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signals_fire_in_order_and_stay_fired() {
        let drain = Drain::new();
        let seen = drain.clone();
        assert!(!seen.is_draining() && !seen.is_past_deadline());
        let waiter = tokio::spawn(async move {
            seen.started().await;
            let draining = seen.is_draining();
            seen.deadline().await;
            (draining, seen.is_past_deadline())
        });
        tokio::task::yield_now().await;
        drain.begin();
        drain.reach_deadline();
        assert_eq!(waiter.await.unwrap(), (true, true));
        // Late waiters complete at once.
        drain.started().await;
        drain.deadline().await;
    }
}
