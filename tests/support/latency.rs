//! The emulators' injected latency, kept to within a fraction of a millisecond.
//!
//! `tokio::time::sleep` ends on the first millisecond tick at or after its deadline and then
//! waits for the runtime to wake: an emulator told to answer after 200 ms answered after 200.9 to
//! 202.1 ms (curl against it, quiet machine), and the benchmark counted those milliseconds as the
//! tool's own. One thread here keeps the deadlines and wakes each waiter at its own, to the
//! precision of a condition variable's timeout.

use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A waiter: its deadline first, so the heap orders by it (reversed: earliest on top).
struct Waiter(Instant, oneshot::Sender<()>);

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.cmp(&self.0)
    }
}

struct Timer {
    waiters: Mutex<BinaryHeap<Waiter>>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            waiters: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::spawn(move || {
            let mut waiters = timer.waiters.lock().unwrap();
            loop {
                let now = Instant::now();
                match waiters.peek() {
                    None => waiters = timer.changed.wait(waiters).unwrap(),
                    Some(Waiter(at, _)) if *at <= now => {
                        let Waiter(_, wake) = waiters.pop().unwrap();
                        let _ = wake.send(());
                    }
                    Some(Waiter(at, _)) => {
                        let wait = *at - now;
                        waiters = timer.changed.wait_timeout(waiters, wait).unwrap().0;
                    }
                }
            }
        });
        timer
    })
}

/// Waits `latency` from now, ending within a fraction of a millisecond of it.
pub async fn wait(latency: Duration) {
    let (wake, woken) = oneshot::channel();
    let timer = timer();
    let at = Instant::now() + latency;
    let earliest = {
        let mut waiters = timer.waiters.lock().unwrap();
        let earliest = waiters.peek().is_none_or(|Waiter(first, _)| at < *first);
        waiters.push(Waiter(at, wake));
        earliest
    };
    // The timer thread sleeps until the earliest deadline: it needs waking only for an earlier
    // one (10,000 subscribers' requests would otherwise wake it 10,000 times).
    if earliest {
        timer.changed.notify_one();
    }
    let _ = woken.await;
}
