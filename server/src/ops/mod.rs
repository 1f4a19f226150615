//! Operations: what keeps the service responsive and observable under a workshop's load.
//!
//! - [`cache`]: the result cache (moka) for identical sync queries.
//! - [`admission`]: per-user and global limits on sync queries (503 with `Retry-After`
//!   beyond them); the memory pool itself is DataFusion's, built in the engine.
//! - [`metrics`]: Prometheus counters, histograms and gauges served at `GET /metrics`.
//! - Query ids: every sync query gets one; it is in the log span, the `X-Parallax-Query-Id`
//!   response header and an INFO of the result or error document. An async job's query id
//!   is its job id.

pub mod admission;
pub mod cache;
pub mod metrics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use admission::{Admission, AdmissionSettings, Busy};
pub use cache::{CacheSettings, ResultCache};
pub use metrics::{Metrics, Outcome, Route};

/// The response header carrying the query id.
pub const QUERY_ID_HEADER: &str = "x-parallax-query-id";
/// The response header telling whether the result came from the cache (`hit` or `miss`).
pub const CACHE_HEADER: &str = "x-parallax-cache";

tokio::task_local! {
    /// The query id of the request being handled (read by the error documents).
    pub static QUERY_ID: String;
}

/// The query id of the current request, if one was assigned.
pub fn current_query_id() -> Option<String> {
    QUERY_ID.try_with(|q| q.clone()).ok()
}

/// The service's operational state.
#[derive(Debug)]
pub struct Ops {
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Result cache.
    pub cache: ResultCache,
    /// Sync admission.
    pub admission: Admission,
    next_id: AtomicU64,
    prefix: u32,
}

impl Ops {
    /// Builds the parts.
    pub fn new(cache: ResultCache, admission: Admission) -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            metrics: Arc::new(Metrics::default()),
            cache,
            admission,
            next_id: AtomicU64::new(1),
            // Distinct across restarts: the low bits of the start time and the pid.
            prefix: (t as u32) ^ std::process::id().rotate_left(16),
        }
    }

    /// A new query id: `q` + 8 hex digits of this process + a sequence number.
    pub fn query_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("q{:08x}-{n}", self.prefix)
    }
}

/// Accounts one query in the metrics when it ends: latency, outcome, rows and bytes. Hold
/// it for as long as the result streams (it may also hold the admission [`admission::Permit`]);
/// dropped without [`Recorder::finish`], the query counts as cancelled.
#[derive(Debug)]
pub struct Recorder {
    metrics: Arc<Metrics>,
    route: Route,
    started: std::time::Instant,
    outcome: Option<Outcome>,
    /// Rows seen (shared with the batch stream that counts them).
    pub rows: Arc<AtomicU64>,
    bytes: u64,
    row_cap: u64,
    _permit: Option<admission::Permit>,
}

impl Recorder {
    /// Starts accounting a query that holds `permit`.
    pub fn start(
        metrics: Arc<Metrics>,
        route: Route,
        started: std::time::Instant,
        permit: Option<admission::Permit>,
        row_cap: u64,
    ) -> Self {
        metrics.running(1);
        Self {
            metrics,
            route,
            started,
            outcome: None,
            rows: Arc::new(AtomicU64::new(0)),
            bytes: 0,
            row_cap,
            _permit: permit,
        }
    }

    /// Adds encoded bytes sent.
    pub fn bytes(&mut self, n: u64) {
        self.bytes += n;
    }

    /// Sets the outcome (the first one set wins).
    pub fn finish(&mut self, outcome: Outcome) {
        self.outcome.get_or_insert(outcome);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let outcome = self.outcome.unwrap_or(Outcome::Cancelled);
        self.metrics
            .query(self.route, outcome, self.started.elapsed());
        let rows = self.rows.load(Ordering::Relaxed).min(self.row_cap);
        self.metrics.output(self.route, rows, self.bytes);
        self.metrics.running(-1);
    }
}

/// A byte stream that reports to a [`Recorder`]: bytes as they pass, `Ok` at its normal
/// end, an error outcome on an error item.
pub struct RecordedStream<S> {
    inner: S,
    recorder: Recorder,
}

impl<S> RecordedStream<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, recorder: Recorder) -> Self {
        Self { inner, recorder }
    }
}

impl<S, E> futures::Stream for RecordedStream<S>
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    type Item = Result<bytes::Bytes, E>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                this.recorder.bytes(b.len() as u64);
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.recorder.finish(Outcome::InternalError);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.recorder.finish(Outcome::Ok);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
