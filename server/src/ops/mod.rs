//! Operations: what keeps the service responsive and observable under a workshop's load.
//!
//! - [`cache`]: the result cache (moka) for identical sync queries.
//! - [`admission`]: per-user and global limits on sync queries (503 with `Retry-After`
//!   beyond them); the memory pool itself is DataFusion's, built in the engine.
//! - [`metrics`]: Prometheus counters, histograms and gauges served at `GET /metrics`.
//! - Query ids: every sync query gets one; it is in the log span, the `X-Parallax-Query-Id`
//!   response header and an INFO of the result or error document. So does every Flight SQL
//!   call that plans or runs a statement (in its span and the `x-parallax-query-id` response
//!   or error metadata). An async job's query id is its job id.

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
    finished: bool,
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
            finished: false,
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

    /// Stops accounting without counting the query, for a caller that counts it as failed
    /// itself.
    pub fn abandon(mut self) {
        self.finished = true;
        self.metrics.running(-1);
    }

    /// Ends the accounting with `outcome` (the first call counts; later ones do nothing).
    ///
    /// The counts are taken here rather than on drop: a transport may hold a finished stream
    /// until after the client has seen its end (tonic sends the gRPC trailers first), and a
    /// scrape right after a query must see it.
    pub fn finish(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.metrics
            .query(self.route, outcome, self.started.elapsed());
        let rows = self.rows.load(Ordering::Relaxed).min(self.row_cap);
        self.metrics.output(self.route, rows, self.bytes);
        self.metrics.running(-1);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}

/// An item of a [`RecordedStream`]: what it adds to the bytes sent.
pub trait Payload {
    /// Encoded bytes of this item on the wire.
    fn wire_bytes(&self) -> u64;
}

impl Payload for bytes::Bytes {
    fn wire_bytes(&self) -> u64 {
        self.len() as u64
    }
}

/// An error item of a [`RecordedStream`]: how the query ended.
pub trait Failure {
    /// The outcome of a query whose stream ends with this error.
    fn outcome(&self) -> Outcome;
}

impl Failure for std::io::Error {
    /// The result writers report every failure as an I/O error; by the time one surfaces the
    /// response has started, so it is counted as ours.
    fn outcome(&self) -> Outcome {
        Outcome::InternalError
    }
}

/// A result stream that reports to a [`Recorder`]: bytes as they pass, `Ok` at its normal
/// end, the error's outcome on an error item.
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

impl<S, T, E> futures::Stream for RecordedStream<S>
where
    S: futures::Stream<Item = Result<T, E>> + Unpin,
    T: Payload,
    E: Failure,
{
    type Item = Result<T, E>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(item))) => {
                this.recorder.bytes(item.wire_bytes());
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.recorder.finish(e.outcome());
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
