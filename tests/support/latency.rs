//! The emulators' injected latency, kept to within a fraction of a millisecond.
//!
//! `tokio::time::sleep` ends on the first millisecond tick at or after its deadline and then
//! waits for the runtime to wake: an emulator told to answer after 200 ms answered after 200.9 to
//! 202.1 ms (curl against it, quiet machine), and the benchmark counted those milliseconds as the
//! tool's own. One thread here keeps the deadlines and wakes each waiter at its own, to the
//! precision of a condition variable's timeout.

use std::collections::BTreeMap;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The waiters by deadline (and a count that tells apart those due at the same instant).
#[derive(Default)]
struct Waiters {
    due: BTreeMap<(Instant, u64), oneshot::Sender<()>>,
    count: u64,
}

struct Timer {
    waiters: Mutex<Waiters>,
    changed: Condvar,
}

/// The timer; its thread starts with it (and waits for it to be made before using it).
static TIMER: LazyLock<Timer> = LazyLock::new(|| {
    std::thread::spawn(|| run(&TIMER));
    Timer {
        waiters: Mutex::new(Waiters::default()),
        changed: Condvar::new(),
    }
});

/// Wakes each waiter at its deadline, sleeping until the earliest.
fn run(timer: &Timer) {
    let mut waiters = timer.waiters.lock().unwrap();
    loop {
        let now = Instant::now();
        match waiters.due.first_key_value().map(|(&(at, _), _)| at) {
            None => waiters = timer.changed.wait(waiters).unwrap(),
            Some(at) if at <= now => {
                let (_, wake) = waiters.due.pop_first().unwrap();
                let _ = wake.send(());
            }
            Some(at) => waiters = timer.changed.wait_timeout(waiters, at - now).unwrap().0,
        }
    }
}

/// Waits `latency` from now, ending within a fraction of a millisecond of it.
pub async fn wait(latency: Duration) {
    let (wake, woken) = oneshot::channel();
    let at = Instant::now() + latency;
    let earliest = {
        let mut waiters = TIMER.waiters.lock().unwrap();
        let earliest = waiters
            .due
            .first_key_value()
            .is_none_or(|(&(first, _), _)| at < first);
        waiters.count += 1;
        let key = (at, waiters.count);
        waiters.due.insert(key, wake);
        earliest
    };
    // The timer thread sleeps until the earliest deadline: it needs waking only for an earlier
    // one (10,000 subscribers' requests would otherwise wake it 10,000 times).
    if earliest {
        TIMER.changed.notify_one();
    }
    let _ = woken.await;
}
