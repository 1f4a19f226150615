//! Admission control for synchronous queries: a global and a per-user limit on queries
//! running at once. A request that finds no free slot waits up to the configured time (it
//! shows in `parallax_sync_queue_depth`), then gets HTTP 503 with `Retry-After`. Async jobs
//! have their own queue (`[jobs] concurrency`, `max_active_per_owner`): they wait in QUEUED.
//! Memory is bounded separately, by DataFusion's memory pool (`[admission] memory_bytes`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::metrics::Metrics;

/// Validated `[admission]` settings.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionSettings {
    /// Sync queries running at once, all users together.
    pub sync_concurrency: usize,
    /// Sync queries one user (or all anonymous callers together) may run at once; 0: no
    /// per-user limit.
    pub sync_per_user: usize,
    /// How long a sync request may wait for a slot before 503.
    pub queue_wait: Duration,
    /// The `Retry-After` given with 503, seconds.
    pub retry_after: u64,
    /// The query memory pool in bytes (0: unbounded).
    pub memory_bytes: u64,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            sync_concurrency: (2 * cores).max(4),
            sync_per_user: 0,
            queue_wait: Duration::from_secs(30),
            retry_after: 10,
            memory_bytes: default_memory_bytes(),
        }
    }
}

/// Half the machine's memory (from /proc/meminfo), or 0 (unbounded) when unknown.
pub fn default_memory_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024 / 2)
}

/// Why a sync query was not admitted.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the service is busy ({running} queries running{who}); try again in {retry_after} s, or \
     submit the query as an async job (/async), which waits in the queue"
)]
pub struct Busy {
    /// Queries running in the exhausted pool.
    pub running: usize,
    /// " for you" when the per-user limit was the one reached.
    pub who: &'static str,
    /// Seconds to wait.
    pub retry_after: u64,
}

/// The gate.
#[derive(Debug)]
pub struct Admission {
    settings: AdmissionSettings,
    global: Arc<Semaphore>,
    per_user: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A slot held while a query runs; released on drop.
#[derive(Debug)]
pub struct Permit {
    _global: OwnedSemaphorePermit,
    _user: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// A gate with these limits.
    pub fn new(settings: AdmissionSettings) -> Self {
        Self {
            global: Arc::new(Semaphore::new(settings.sync_concurrency.max(1))),
            per_user: Mutex::new(HashMap::new()),
            settings,
        }
    }

    /// The limits.
    pub fn settings(&self) -> &AdmissionSettings {
        &self.settings
    }

    /// Waits for a slot for `user` (None: anonymous) up to the configured time.
    pub async fn admit(&self, user: Option<&str>, metrics: &Metrics) -> Result<Permit, Busy> {
        let deadline = Instant::now() + self.settings.queue_wait;
        metrics.waiting(1);
        let result = self.acquire(user, deadline).await;
        metrics.waiting(-1);
        result
    }

    async fn acquire(&self, user: Option<&str>, deadline: Instant) -> Result<Permit, Busy> {
        let user_permit = if self.settings.sync_per_user > 0 {
            let sem = {
                let mut map = self.per_user.lock().unwrap_or_else(|p| p.into_inner());
                map.entry(user.unwrap_or("").to_string())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.settings.sync_per_user)))
                    .clone()
            };
            match tokio::time::timeout_at(deadline.into(), sem.acquire_owned()).await {
                Ok(Ok(p)) => Some(p),
                _ => {
                    return Err(Busy {
                        running: self.settings.sync_per_user,
                        who: " for you",
                        retry_after: self.settings.retry_after,
                    });
                }
            }
        } else {
            None
        };
        match tokio::time::timeout_at(deadline.into(), self.global.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(Permit {
                _global: p,
                _user: user_permit,
            }),
            _ => Err(Busy {
                running: self.settings.sync_concurrency,
                who: "",
                retry_after: self.settings.retry_after,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn excess_waits_then_is_refused_and_slots_come_back() {
        let a = Admission::new(AdmissionSettings {
            sync_concurrency: 2,
            sync_per_user: 1,
            queue_wait: Duration::from_millis(50),
            retry_after: 7,
            memory_bytes: 0,
        });
        let m = Metrics::default();
        let p1 = a.admit(Some("ann"), &m).await.unwrap();
        let busy = a.admit(Some("ann"), &m).await.unwrap_err();
        assert_eq!(busy.who, " for you");
        assert_eq!(busy.retry_after, 7);
        let p2 = a.admit(Some("bob"), &m).await.unwrap();
        let busy = a.admit(Some("cy"), &m).await.unwrap_err();
        assert_eq!(busy.who, "");
        drop(p1);
        let _p3 = a.admit(Some("cy"), &m).await.unwrap();
        drop(p2);
        let _p4 = a.admit(Some("ann"), &m).await.unwrap();
    }
}
