//! `parallax bench`: end-to-end streaming throughput of the TAP service.
//!
//! Starts the service in-process on 127.0.0.1:0 over the demo catalogue, runs a query that
//! returns `rows` rows of 10 columns (a cross join of gaia_source with a small subquery) in
//! each requested format, reads the HTTP body as it arrives and reports time to first byte,
//! rows/s, MB/s and the process's peak resident memory. The format `flight` runs the same
//! ADQL over Arrow Flight SQL (GetFlightInfo + DoGet on loopback) and counts the bytes of the
//! Flight data messages.

use std::time::Instant;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::physical_plan::collect;
use futures::StreamExt;

use crate::app::Application;
use crate::config::Settings;
use crate::engine::{Engine, scan_metrics};

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
    let flight_addr = app.flight_addr();
    tokio::spawn(app.run_until_stopped());
    let url = format!("http://{addr}/tap/sync");
    let client = reqwest::Client::builder().no_gzip().build()?;
    let q = query(rows, sources);
    let maxrec = rows.to_string();
    let mut out = Vec::new();
    for format in formats {
        let started = Instant::now();
        if format == "flight" {
            let addr = flight_addr
                .ok_or_else(|| anyhow::anyhow!("the flight format needs the Flight SQL service"))?;
            let (bytes, first) = fetch_flight(addr, &q, started).await?;
            let total = started.elapsed().as_secs_f64();
            out.push(report(format, rows, bytes, first.unwrap_or(total), total));
            continue;
        }
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
        out.push(report(format, rows, bytes, first.unwrap_or(total), total));
    }
    Ok(out)
}

/// Runs `q` over Flight SQL; returns the Flight data bytes received and the time to the
/// first message.
async fn fetch_flight(
    addr: std::net::SocketAddr,
    q: &str,
    started: Instant,
) -> anyhow::Result<(u64, Option<f64>)> {
    use arrow_flight::sql::client::FlightSqlServiceClient;
    // HTTP/2 windows larger than the 64 KiB default, as gRPC clients with BDP probing get.
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .initial_stream_window_size(Some(8 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .connect()
        .await?;
    let mut client = FlightSqlServiceClient::new(channel);
    let info = client.execute(q.to_string(), None).await?;
    let mut bytes = 0u64;
    let mut first = None;
    for ep in info.endpoint {
        let ticket = ep
            .ticket
            .ok_or_else(|| anyhow::anyhow!("endpoint without ticket"))?;
        // Raw Flight data messages, not decoded: the same measure as the HTTP body bytes.
        let mut stream = client.inner_mut().do_get(ticket).await?.into_inner();
        while let Some(data) = stream.next().await {
            let data = data?;
            if first.is_none() {
                first = Some(started.elapsed().as_secs_f64());
            }
            bytes += (data.data_header.len() + data.data_body.len()) as u64;
        }
    }
    Ok((bytes, first))
}

fn report(format: &str, rows: u64, bytes: u64, first_byte_s: f64, total_s: f64) -> BenchResult {
    {
        let r = BenchResult {
            format: format.to_string(),
            rows,
            bytes,
            first_byte_s,
            total_s,
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
        r
    }
}

async fn count(engine: &Engine, q: &str) -> anyhow::Result<(i64, f64)> {
    let started = Instant::now();
    let plan = engine.physical_plan(q).await?;
    let batches = collect(plan, engine.context().task_ctx()).await?;
    let n = batches
        .first()
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
        .unwrap_or(0);
    Ok((n, started.elapsed().as_secs_f64()))
}

/// Writes `n` positions as a Gaia-like Parquet file sorted by `source_id` (the order-12
/// NESTED index << 35 plus a running number; field metadata `healpix = "gaia"`), with seven
/// more numeric columns, row groups of 65 536 rows and pages of 4096: uniform over the sky,
/// plus one companion within 10 arcsec for 5% of them (binaries, so crossmatches find pairs).
pub fn write_sky(path: &std::path::Path, n: usize, seed: u64) -> anyhow::Result<()> {
    use std::collections::HashMap;
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows: Vec<(i64, f64, f64)> = Vec::with_capacity(n);
    while rows.len() < n {
        let ra = 360.0 * next();
        let dec = (2.0 * next() - 1.0).asin().to_degrees();
        rows.push((0, ra, dec));
        if rows.len() < n && next() < 0.05 {
            let r = 10.0 / 3600.0 * next().sqrt();
            let t = std::f64::consts::TAU * next();
            let dec2 = (dec + r * t.sin()).clamp(-90.0, 90.0);
            let ra2 = (ra + r * t.cos() / dec2.to_radians().cos().max(1e-6)).rem_euclid(360.0);
            rows.push((0, ra2, dec2));
        }
    }
    for row in &mut rows {
        let h = cdshealpix::nested::hash(12, row.1.to_radians(), row.2.to_radians());
        row.0 = i64::try_from(h).unwrap_or(0) << 35;
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut last = (-1i64, 0i64);
    for row in &mut rows {
        let running = if row.0 == last.0 { last.1 + 1 } else { 0 };
        last = (row.0, running);
        row.0 += running;
    }
    let md = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut fields = vec![
        Field::new("source_id", DataType::Int64, false)
            .with_metadata(md(&[("ucd", "meta.id;meta.main"), ("healpix", "gaia")])),
        Field::new("ra", DataType::Float64, false)
            .with_metadata(md(&[("ucd", "pos.eq.ra;meta.main"), ("unit", "deg")])),
        Field::new("dec", DataType::Float64, false)
            .with_metadata(md(&[("ucd", "pos.eq.dec;meta.main"), ("unit", "deg")])),
    ];
    for i in 1..=7 {
        fields.push(Field::new(format!("x{i}"), DataType::Float64, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(65_536))
        .set_data_page_row_count_limit(4096)
        .build();
    let tmp = path.with_extension("tmp");
    let mut w = ArrowWriter::try_new(std::fs::File::create(&tmp)?, schema.clone(), Some(props))?;
    for chunk in rows.chunks(65_536) {
        let mut cols: Vec<datafusion::arrow::array::ArrayRef> = vec![
            Arc::new(chunk.iter().map(|r| r.0).collect::<Int64Array>()),
            Arc::new(chunk.iter().map(|r| r.1).collect::<Float64Array>()),
            Arc::new(chunk.iter().map(|r| r.2).collect::<Float64Array>()),
        ];
        for i in 1..=7 {
            cols.push(Arc::new(
                chunk
                    .iter()
                    .map(|r| (r.1 * f64::from(i)).sin())
                    .collect::<Float64Array>(),
            ));
        }
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
    }
    w.close()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The spatial suite, on synthetic skies written under the data directory on first use
/// ([`write_sky`]): 0.1-degree (by default) cone searches at 20 positions over
/// `cone_sources` rows, each run once cold and five times warm (median reported), with the
/// fraction of rows the scan decoded; then self-crossmatches of `xmatch_sources` positions
/// within each radius through `crossmatch_pairs`.
pub async fn spatial(
    settings: Settings,
    cone_sources: usize,
    radius: f64,
    xmatch_sources: usize,
    xmatch_radii: &[f64],
) -> anyhow::Result<()> {
    let dir = settings.data_dir.join("bench");
    std::fs::create_dir_all(&dir)?;
    let mut tables = Vec::new();
    for (name, n) in [("cones", cone_sources), ("pairs", xmatch_sources)] {
        let path = dir.join(format!("sky-{n}.parquet"));
        if !path.exists() {
            let started = Instant::now();
            let p = path.clone();
            tokio::task::spawn_blocking(move || write_sky(&p, n, 42)).await??;
            println!(
                "wrote {} ({n} rows) in {:.1} s",
                path.display(),
                started.elapsed().as_secs_f64()
            );
        }
        tables.push(parallax_catalog::quick_table(&format!(
            "bench.{name}={}",
            path.display()
        ))?);
    }
    let config = parallax_catalog::CatalogConfig {
        tables,
        ..Default::default()
    };
    let engine = Engine::new(parallax_catalog::load(&config, std::path::Path::new("/")).await?)?;
    let rows = cone_sources;
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    let mut fractions = Vec::new();
    let mut groups = Vec::new();
    let mut found = 0;
    for k in 0..20 {
        // Spread over the sky (a Fibonacci lattice).
        let dec = (1.0 - 2.0 * (f64::from(k) + 0.5) / 20.0)
            .asin()
            .to_degrees();
        let ra = (f64::from(k) * 137.507_764_05).rem_euclid(360.0);
        let q = format!(
            "SELECT source_id, ra, dec, x1 FROM bench.cones \
             WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))"
        );
        let mut times = Vec::new();
        for run in 0..6 {
            let started = Instant::now();
            let plan = engine.physical_plan(&q).await?;
            let batches = collect(plan.clone(), engine.context().task_ctx()).await?;
            let t = started.elapsed().as_secs_f64();
            if run == 0 {
                cold.push(t);
                found += batches.iter().map(|b| b.num_rows()).sum::<usize>();
                let m = scan_metrics(&plan);
                fractions.push(m.rows_after_page_index as f64 / rows.max(1) as f64);
                groups.push(m.row_groups_matched as f64);
            } else {
                times.push(t);
            }
        }
        times.sort_by(f64::total_cmp);
        warm.push(times[times.len() / 2]);
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!(
        "cone {radius} deg on {rows} rows (20 cones, {found} sources found): warm median {:.1} ms \
         (max {:.1} ms), first run median {:.1} ms; rows decoded median {:.4}% (max {:.4}%), \
         row groups read median {} (max {})",
        median(&warm) * 1e3,
        max(&warm) * 1e3,
        median(&cold) * 1e3,
        median(&fractions) * 100.0,
        max(&fractions) * 100.0,
        median(&groups),
        max(&groups)
    );
    for r in xmatch_radii {
        let q = format!("SELECT COUNT(*) FROM crossmatch_pairs('bench.pairs', {r})");
        let (pairs, t) = count(&engine, &q).await?;
        println!(
            "self-crossmatch of {xmatch_sources} positions within {r}\": {pairs} pairs in {t:.3} s \
             ({:.3} s per million)",
            t / (xmatch_sources.max(1) as f64 / 1e6)
        );
    }
    Ok(())
}

/// `parallax bench --suite cluster`: a mahalanobis template search over the demo catalogue's
/// XP spectra and a self-crossmatch of `xmatch_sources` positions, in process and on the
/// Ballista cluster of `settings.engine` (medians of three runs after a warm-up).
pub async fn cluster(
    settings: Settings,
    xmatch_sources: usize,
    xmatch_radius: f64,
) -> anyhow::Result<()> {
    use crate::config::EngineMode;
    let dir = settings.data_dir.join("bench");
    std::fs::create_dir_all(&dir)?;
    let sky = dir.join(format!("sky-{xmatch_sources}.parquet"));
    if !sky.exists() {
        let p = sky.clone();
        tokio::task::spawn_blocking(move || write_sky(&p, xmatch_sources, 42)).await??;
    }
    let mut config = crate::app::demo_catalog(
        &settings.data_dir,
        settings.demo_sources,
        settings.demo_seed,
    )?;
    config.tables.push(parallax_catalog::quick_table(&format!(
        "bench.pairs={}",
        sky.display()
    ))?);
    let root = std::path::Path::new("/");
    let spectra = "SELECT COUNT(*) FROM gaiadr3.xp_continuous_mean_spectrum \
                   WHERE rp_coefficients IS NOT NULL";
    // The template is one spectrum named by its source_id, as an astronomer gives it (the
    // first one that has both bands; found once, outside the timings).
    let first_spectrum = "SELECT MIN(source_id) FROM gaiadr3.xp_continuous_mean_spectrum \
                          WHERE rp_coefficients IS NOT NULL AND bp_coefficients IS NOT NULL";
    let template = |template_id: i64| {
        format!(
            "SELECT COUNT(*) FROM (SELECT TOP 10 s.source_id, \
             mahalanobis(s.bp_coefficients, s.bp_coefficient_errors, s.bp_coefficient_correlations, \
                         s.rp_coefficients, s.rp_coefficient_errors, s.rp_coefficient_correlations, \
                         t.bp_coefficients, t.bp_coefficient_errors, t.bp_coefficient_correlations, \
                         t.rp_coefficients, t.rp_coefficient_errors, t.rp_coefficient_correlations) AS d \
             FROM gaiadr3.xp_continuous_mean_spectrum AS s, \
                  (SELECT * FROM gaiadr3.xp_continuous_mean_spectrum \
                   WHERE source_id = {template_id}) AS t \
             WHERE s.rp_coefficients IS NOT NULL AND s.bp_coefficients IS NOT NULL \
             ORDER BY d) AS best"
        )
    };
    let xmatch = format!("SELECT COUNT(*) FROM crossmatch_pairs('bench.pairs', {xmatch_radius})");
    let mut modes = vec![("local".to_string(), EngineMode::Local)];
    if let Some(url) = settings.engine.scheduler_url() {
        modes.push((format!("ballista {url}"), settings.engine.clone()));
    }
    for (name, mode) in modes {
        let engine = Engine::build(parallax_catalog::load(&config, root).await?, &mode, 0).await?;
        if let Some(s) = engine.scheduler() {
            println!(
                "{name}: {}",
                s.readiness().await.map_err(anyhow::Error::msg)?
            );
        }
        let (n_spectra, _) = count(&engine, spectra).await?;
        let (template_id, _) = count(&engine, first_spectrum).await?;
        let template = template(template_id);
        for (what, q, rows) in [
            (
                "template search (mahalanobis, both bands)",
                template.as_str(),
                n_spectra as f64,
            ),
            ("self-crossmatch", xmatch.as_str(), xmatch_sources as f64),
        ] {
            let (first, _) = count(&engine, q).await?;
            let mut times = Vec::new();
            for _ in 0..3 {
                times.push(count(&engine, q).await?.1);
            }
            times.sort_by(f64::total_cmp);
            let t = times[1];
            println!(
                "{name}: {what} over {rows} rows: {t:.3} s median of 3 ({:.0} rows/s; result {first})",
                rows / t
            );
        }
    }
    Ok(())
}

/// The example queries of the workshop suite (ids in `/examples`).
pub const WORKSHOP_EXAMPLES: [&str; 5] = [
    "brightest",
    "cone-search",
    "wide-binaries",
    "healpix-density",
    "variable-flag-stats",
];

/// The workshop suite: `users` simulated users, all at once, each running the five
/// [`WORKSHOP_EXAMPLES`] `rounds` times over sync TAP, once against a service with the result
/// cache and once without; prints p50/p90/p99 latency and the wall time of each run.
pub async fn workshop(settings: Settings, users: usize, rounds: usize) -> anyhow::Result<()> {
    let queries: Vec<String> = WORKSHOP_EXAMPLES
        .iter()
        .filter_map(|id| crate::tap::EXAMPLES.iter().find(|e| e.id == *id))
        .map(|e| e.query.to_string())
        .collect();
    for cache in [false, true] {
        let mut s = settings.clone();
        s.cache.enabled = cache;
        s.jobs.dir = s
            .jobs
            .dir
            .join(if cache { "cache-on" } else { "cache-off" });
        let app = Application::build(s).await?;
        let base = format!("http://{}/tap/sync", app.local_addr());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder().no_gzip().build()?;
        let started = Instant::now();
        let tasks: Vec<_> = (0..users)
            .map(|_| {
                let (client, base, queries) = (client.clone(), base.clone(), queries.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    for _ in 0..rounds {
                        for q in &queries {
                            let t = Instant::now();
                            let r = client
                                .post(&base)
                                .form(&[
                                    ("LANG", "ADQL"),
                                    ("QUERY", q.as_str()),
                                    ("FORMAT", "votable/b2"),
                                ])
                                .send()
                                .await?;
                            let status = r.status();
                            r.bytes().await?;
                            anyhow::ensure!(status.is_success(), "{status} for {q}");
                            lat.push(t.elapsed().as_secs_f64());
                        }
                    }
                    Ok::<_, anyhow::Error>(lat)
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let wall = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize] * 1e3;
        println!(
            "workshop cache={}: {users} users x {} queries x {rounds}: {} queries in {wall:.1} s \
             ({:.0} queries/s), latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            if cache { "on " } else { "off" },
            queries.len(),
            all.len(),
            all.len() as f64 / wall,
            pct(0.5),
            pct(0.9),
            pct(0.99),
        );
    }
    Ok(())
}
