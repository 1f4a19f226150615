//! Prometheus metrics in the text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>), kept in atomics and
//! rendered on each scrape of `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Where a query came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// TAP `/sync`.
    Sync,
    /// A TAP async job.
    Async,
    /// Arrow Flight SQL.
    Flight,
}

impl Route {
    const ALL: [Route; 3] = [Route::Sync, Route::Async, Route::Flight];

    fn as_str(self) -> &'static str {
        match self {
            Route::Sync => "sync",
            Route::Async => "async",
            Route::Flight => "flight",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Completed (possibly truncated at MAXREC).
    Ok,
    /// The client's error (syntax, names, arguments): HTTP 4xx.
    UserError,
    /// A resource limit (memory, time).
    ResourceError,
    /// Our error: HTTP 5xx.
    InternalError,
    /// Refused by admission control (HTTP 503) before it ran.
    Rejected,
    /// The client went away or the job was aborted.
    Cancelled,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::UserError,
        Outcome::ResourceError,
        Outcome::InternalError,
        Outcome::Rejected,
        Outcome::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::UserError => "user_error",
            Outcome::ResourceError => "resource_error",
            Outcome::InternalError => "internal_error",
            Outcome::Rejected => "rejected",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The outcome of a failed query.
    pub fn of_error(e: &crate::engine::QueryError) -> Self {
        use crate::engine::QueryError;
        match e {
            QueryError::Resource(_) | QueryError::Unavailable(_) => Outcome::ResourceError,
            e if e.is_user_error() => Outcome::UserError,
            _ => Outcome::InternalError,
        }
    }
}

/// Upper bounds of the latency histogram buckets, seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    /// Sum of observations in microseconds.
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(
            d.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Values read at scrape time from other parts of the service.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    /// Async jobs per UWS phase.
    pub jobs_by_phase: Vec<(String, u64)>,
    /// Bytes reserved in the query memory pool.
    pub memory_reserved: u64,
    /// The memory pool's limit (0: unbounded).
    pub memory_limit: u64,
    /// Result cache entries and their weight in bytes.
    pub cache_entries: u64,
    /// Result cache weight in bytes.
    pub cache_bytes: u64,
    /// Parquet footers held by DataFusion's file-metadata cache.
    pub parquet_metadata_entries: u64,
    /// Hits on those footers.
    pub parquet_metadata_hits: u64,
}

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    queries: [[AtomicU64; 6]; 3],
    latency: [Histogram; 3],
    rows: [AtomicU64; 3],
    bytes: [AtomicU64; 3],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    running: AtomicI64,
    waiting: AtomicI64,
}

impl Metrics {
    /// Records one finished query.
    pub fn query(&self, route: Route, outcome: Outcome, elapsed: Duration) {
        self.queries[route.index()][outcome as usize].fetch_add(1, Ordering::Relaxed);
        if outcome != Outcome::Rejected {
            self.latency[route.index()].observe(elapsed);
        }
    }

    /// Adds rows and bytes sent.
    pub fn output(&self, route: Route, rows: u64, bytes: u64) {
        self.rows[route.index()].fetch_add(rows, Ordering::Relaxed);
        self.bytes[route.index()].fetch_add(bytes, Ordering::Relaxed);
    }

    /// A result-cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Queries running (+1 on start, -1 on end).
    pub fn running(&self, delta: i64) {
        self.running.fetch_add(delta, Ordering::Relaxed);
    }

    /// Sync queries waiting for admission (+1 / -1).
    pub fn waiting(&self, delta: i64) {
        self.waiting.fetch_add(delta, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, g: &Gauges) -> String {
        let mut o = String::with_capacity(8192);
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
        };
        family(
            &mut o,
            "parallax_queries_total",
            "counter",
            "Queries finished, by route and outcome.",
        );
        for r in Route::ALL {
            for oc in Outcome::ALL {
                let v = self.queries[r.index()][oc as usize].load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "parallax_queries_total{{route=\"{}\",outcome=\"{}\"}} {v}",
                    r.as_str(),
                    oc.as_str()
                );
            }
        }
        family(
            &mut o,
            "parallax_query_duration_seconds",
            "histogram",
            "Query latency from admission to the last byte, by route.",
        );
        for r in Route::ALL {
            let h = &self.latency[r.index()];
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "parallax_query_duration_seconds_bucket{{route=\"{}\",le=\"{b}\"}} {}",
                    r.as_str(),
                    h.counts[i].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "parallax_query_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {count}",
                r.as_str()
            );
            let _ = writeln!(
                o,
                "parallax_query_duration_seconds_sum{{route=\"{}\"}} {}",
                r.as_str(),
                h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                o,
                "parallax_query_duration_seconds_count{{route=\"{}\"}} {count}",
                r.as_str()
            );
        }
        for (name, help, values) in [
            (
                "parallax_result_rows_total",
                "Result rows sent, by route.",
                &self.rows,
            ),
            (
                "parallax_result_bytes_total",
                "Result bytes sent (encoded), by route.",
                &self.bytes,
            ),
        ] {
            family(&mut o, name, "counter", help);
            for r in Route::ALL {
                let _ = writeln!(
                    o,
                    "{name}{{route=\"{}\"}} {}",
                    r.as_str(),
                    values[r.index()].load(Ordering::Relaxed)
                );
            }
        }
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let gauge = |o: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        counter(
            &mut o,
            "parallax_cache_hits_total",
            "Sync queries answered from the result cache.",
            self.cache_hits.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "parallax_cache_misses_total",
            "Cacheable sync queries that were run.",
            self.cache_misses.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "parallax_cache_entries",
            "Results held by the result cache.",
            g.cache_entries as i64,
        );
        gauge(
            &mut o,
            "parallax_cache_bytes",
            "Arrow bytes held by the result cache.",
            g.cache_bytes as i64,
        );
        gauge(
            &mut o,
            "parallax_parquet_metadata_cache_entries",
            "Parquet footers in DataFusion's file-metadata cache.",
            g.parquet_metadata_entries as i64,
        );
        counter(
            &mut o,
            "parallax_parquet_metadata_cache_hits_total",
            "Footer reads saved by the file-metadata cache.",
            g.parquet_metadata_hits,
        );
        gauge(
            &mut o,
            "parallax_queries_running",
            "Queries executing now (sync and Flight SQL; async jobs are in parallax_jobs).",
            self.running.load(Ordering::Relaxed),
        );
        gauge(
            &mut o,
            "parallax_sync_queue_depth",
            "Sync queries waiting for admission.",
            self.waiting.load(Ordering::Relaxed),
        );
        family(&mut o, "parallax_jobs", "gauge", "Async jobs by UWS phase.");
        for (phase, n) in &g.jobs_by_phase {
            let _ = writeln!(o, "parallax_jobs{{phase=\"{phase}\"}} {n}");
        }
        gauge(
            &mut o,
            "parallax_memory_reserved_bytes",
            "Bytes reserved by running queries in the memory pool.",
            g.memory_reserved as i64,
        );
        gauge(
            &mut o,
            "parallax_memory_limit_bytes",
            "The memory pool's limit (0: unbounded).",
            g.memory_limit as i64,
        );
        if let Some(rss) = resident_bytes() {
            gauge(
                &mut o,
                "process_resident_memory_bytes",
                "Resident memory of the process.",
                rss as i64,
            );
        }
        o
    }
}

/// Resident set size from /proc (Linux), if available.
fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.query(Route::Sync, Outcome::Ok, Duration::from_millis(30));
        m.query(Route::Sync, Outcome::Ok, Duration::from_millis(700));
        m.query(Route::Sync, Outcome::UserError, Duration::from_millis(1));
        m.output(Route::Sync, 10, 1000);
        let text = m.render(&Gauges::default());
        assert!(text.contains("parallax_queries_total{route=\"sync\",outcome=\"ok\"} 2\n"));
        assert!(text.contains("parallax_queries_total{route=\"sync\",outcome=\"user_error\"} 1\n"));
        assert!(
            text.contains("parallax_query_duration_seconds_bucket{route=\"sync\",le=\"0.05\"} 2\n")
        );
        assert!(
            text.contains("parallax_query_duration_seconds_bucket{route=\"sync\",le=\"1\"} 3\n")
        );
        assert!(text.contains("parallax_query_duration_seconds_count{route=\"sync\"} 3\n"));
        assert!(text.contains("parallax_result_rows_total{route=\"sync\"} 10\n"));
    }
}
