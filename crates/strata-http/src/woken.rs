//! [`Woken`]: a future that is polled again only once it has been woken.
//!
//! A connection's task waits on its HTTP connection and, beside it, on signals that almost never
//! fire (drain, forced close, the idle watchdog). `select!` polls every branch each time the task
//! runs, and the task runs for every chunk a stream relays: re-polling a `watch` receiver locks
//! its waiter list each time. Counted with `bench/instructions.sh`, those re-polls were ~16k
//! instructions of a 64-event stream (`drain::fired` and the watchdog's sleep). Wrapped, a
//! signal's future is polled when it was woken (its own waker, not the task's), as
//! `FuturesUnordered` does for its members.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// `inner`, polled on the first poll and after each wake-up of its own, else left alone.
pub(crate) struct Woken<F> {
    inner: F,
    flag: Arc<Flag>,
    waker: Waker,
}

struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F> Woken<F> {
    pub(crate) fn new(inner: F) -> Woken<F> {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(Arc::clone(&flag));
        Woken { inner, flag, waker }
    }
}

impl<F: Future + Unpin> Future for Woken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Registered before the flag is read: a wake-up between the two still reaches the task.
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its polls; ready once `ready` is set, waking through the waker it was given.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<parking_lot::Mutex<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn the_inner_future_is_polled_only_after_its_own_wake_up() {
        let polls = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let inner_waker = Arc::new(parking_lot::Mutex::new(None::<Waker>));
        let mut woken = Woken::new(Probe {
            polls: Arc::clone(&polls),
            ready: Arc::clone(&ready),
            waker: Arc::clone(&inner_waker),
        });
        let task_woken = Arc::new(AtomicBool::new(false));
        struct TaskWaker(Arc<AtomicBool>);
        impl Wake for TaskWaker {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let task = Waker::from(Arc::new(TaskWaker(Arc::clone(&task_woken))));
        let mut cx = Context::from_waker(&task);

        assert!(Pin::new(&mut woken).poll(&mut cx).is_pending());
        for _ in 0..10 {
            assert!(Pin::new(&mut woken).poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::SeqCst), 1, "not re-polled without a wake-up");

        ready.store(true, Ordering::SeqCst);
        let waker = inner_waker.lock().take().unwrap();
        waker.wake();
        assert!(task_woken.load(Ordering::SeqCst), "its wake-up wakes the task");
        assert!(Pin::new(&mut woken).poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }
}
