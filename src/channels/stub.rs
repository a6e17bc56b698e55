//! A test double for the adapter contract, as lettre ships `StubTransport`: it records every post
//! it is given and answers with scripted outcomes, optionally after a delay, so that the
//! dispatcher's retries, timeouts and waits can be tested on paused time.
//!
//! ```
//! use outage::channels::{Channel, Failure, StubChannel};
//!
//! let stub = StubChannel::new_ok().then(Err(Failure::transient("503")));
//! assert_eq!(stub.attempts(), 0);
//! ```

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Channel, Failure, Post, Receipt};

/// Answers each attempt with the next scripted answer, then with its default.
pub struct StubChannel {
    script: Mutex<VecDeque<Result<Receipt, Failure>>>,
    default: Result<Receipt, Failure>,
    delay: Option<Duration>,
    posts: Mutex<Vec<Post>>,
}

impl StubChannel {
    /// Accepts every post, with the remote id `stub-N`.
    pub fn new_ok() -> StubChannel {
        StubChannel::with_default(Ok(Receipt::default()))
    }

    /// Refuses every post with `failure`.
    pub fn new_error(failure: Failure) -> StubChannel {
        StubChannel::with_default(Err(failure))
    }

    fn with_default(default: Result<Receipt, Failure>) -> StubChannel {
        StubChannel {
            script: Mutex::new(VecDeque::new()),
            default,
            delay: None,
            posts: Mutex::new(Vec::new()),
        }
    }

    /// Answers the next attempt (after those already scripted) with `answer`.
    #[must_use]
    pub fn then(self, answer: Result<Receipt, Failure>) -> StubChannel {
        self.script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(answer);
        self
    }

    /// Waits this long before each answer (a slow service).
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> StubChannel {
        self.delay = Some(delay);
        self
    }

    /// Every post given to it, one per attempt, in order.
    pub fn posts(&self) -> Vec<Post> {
        self.posts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> usize {
        self.posts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl Channel for StubChannel {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let attempt = {
            let mut posts = self
                .posts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            posts.push(post.clone());
            posts.len()
        };
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let scripted = self
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front();
        scripted
            .unwrap_or_else(|| self.default.clone())
            .map(|receipt| Receipt {
                remote_id: receipt.remote_id.or(Some(format!("stub-{attempt}"))),
                ..receipt
            })
    }
}
