//! `parallax bench`: end-to-end streaming throughput of the TAP service.
//!
//! Starts the service in-process on 127.0.0.1:0 over the demo catalogue, runs a query that
//! returns `rows` rows of 10 columns (a cross join of gaia_source with a small subquery) in
//! each requested format, reads the HTTP body as it arrives and reports time to first byte,
//! rows/s, MB/s and the process's peak resident memory.

use std::time::Instant;

use futures::StreamExt;

use crate::app::Application;
use crate::config::Settings;

/// One measurement.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// FORMAT value.
    pub format: String,
    /// Rows requested.
    pub rows: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Seconds to the first body byte.
    pub first_byte_s: f64,
    /// Seconds in total.
    pub total_s: f64,
    /// Peak RSS of this process after the run, in MiB.
    pub peak_rss_mib: f64,
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The benchmark query: `rows` rows of 10 numeric columns.
pub fn query(rows: u64, sources: u64) -> String {
    let repeat = rows.div_ceil(sources.max(1));
    format!(
        "SELECT TOP {rows} a.source_id, a.ra, a.dec, a.parallax, a.pmra, a.pmdec, \
         a.phot_g_mean_mag, a.bp_rp, a.ruwe, b.source_id AS other_id \
         FROM gaiadr3.gaia_source AS a CROSS JOIN \
         (SELECT TOP {repeat} source_id FROM gaiadr3.gaia_source) AS b"
    )
}

/// Runs the benchmark for each format and prints one line per format.
pub async fn run(
    settings: Settings,
    rows: u64,
    formats: &[String],
) -> anyhow::Result<Vec<BenchResult>> {
    let sources = settings.demo_sources;
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped());
    let url = format!("http://{addr}/tap/sync");
    let client = reqwest::Client::builder().no_gzip().build()?;
    let q = query(rows, sources);
    let maxrec = rows.to_string();
    let mut out = Vec::new();
    for format in formats {
        let started = Instant::now();
        let resp = client
            .post(&url)
            .form(&[
                ("LANG", "ADQL"),
                ("FORMAT", format.as_str()),
                ("MAXREC", maxrec.as_str()),
                ("QUERY", q.as_str()),
            ])
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "HTTP {}", resp.status());
        let mut body = resp.bytes_stream();
        let mut bytes = 0u64;
        let mut first = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if first.is_none() && !chunk.is_empty() {
                first = Some(started.elapsed().as_secs_f64());
            }
            bytes += chunk.len() as u64;
        }
        let total = started.elapsed().as_secs_f64();
        let r = BenchResult {
            format: format.clone(),
            rows,
            bytes,
            first_byte_s: first.unwrap_or(total),
            total_s: total,
            peak_rss_mib: peak_rss_mib(),
        };
        println!(
            "{:<12} {:>10} rows {:>9.1} MB  first byte {:>6.3} s  total {:>7.2} s  \
             {:>10.0} rows/s {:>7.1} MB/s  peak RSS {:>6.1} MiB",
            r.format,
            r.rows,
            r.bytes as f64 / 1e6,
            r.first_byte_s,
            r.total_s,
            r.rows as f64 / r.total_s,
            r.bytes as f64 / 1e6 / r.total_s,
            r.peak_rss_mib
        );
        out.push(r);
    }
    Ok(out)
}
