//! Operations (issue 9): the result cache, admission control, the memory pool and
//! `/metrics`, each on its own server over the shared demo catalogue (so counters start at
//! zero), plus a bounded workshop load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::error::FlightError;
use arrow_flight::sql::CommandGetDbSchemas;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightData, FlightInfo, decode::FlightRecordBatchStream};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::common::{SOURCES, client, fixture, start_server};

/// Starts a server over the shared demo catalogue with extra config `text` (and `[jobs]`
/// keys `jobs`); its base URL.
fn server_with_jobs(jobs_keys: &str, text: &str) -> String {
    start(jobs_keys, text).0
}

/// Starts a server as [`server_with_jobs`] does; its base URL and Flight SQL address.
fn start(jobs_keys: &str, text: &str) -> (String, Option<SocketAddr>) {
    let jobs = tempfile::tempdir().expect("tempdir").keep();
    let text = format!(
        "[server]\nhttp = \"127.0.0.1:0\"\n[demo]\nsources = {SOURCES}\n[jobs]\ndir = \"{}\"\n{jobs_keys}\n{text}",
        jobs.display()
    );
    let settings = crate::common::settings_from_toml(&text, PathBuf::from("."));
    let (addr, flight) = start_server(settings);
    (format!("http://{addr}"), flight)
}

fn server(text: &str) -> String {
    server_with_jobs("", text)
}

/// `GET /metrics`, parsed into `name{labels}` -> value (the exposition format's sample lines).
async fn scrape(base: &str) -> HashMap<String, f64> {
    let r = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect("sample line");
        out.insert(key.to_string(), value.parse::<f64>().expect("number"));
    }
    out
}

async fn sync(base: &str, query: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/tap/sync"))
        .form(&[("LANG", "ADQL"), ("QUERY", query), ("FORMAT", "csv")])
        .send()
        .await
        .expect("sync")
}

#[tokio::test]
async fn metrics_count_a_known_run() {
    let base = server("");
    let q5 = "SELECT TOP 5 source_id FROM gaiadr3.gaia_source ORDER BY source_id";
    let q3 = "SELECT TOP 3 source_id FROM gaiadr3.gaia_source ORDER BY source_id DESC";
    let mut bytes = 0;
    for q in [q5, q5, q3] {
        let r = sync(&base, q).await;
        assert_eq!(r.status().as_u16(), 200);
        bytes += r.bytes().await.unwrap().len();
    }
    let r = sync(&base, "SELECT TOP 5 source_id FRM gaiadr3.gaia_source").await;
    assert_eq!(r.status().as_u16(), 400);
    // An error in the first batch (planning succeeded) counts once too.
    let r = sync(
        &base,
        "SELECT TOP 1 source_id / (source_id - source_id) AS x FROM gaiadr3.gaia_source",
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let m = scrape(&base).await;
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no sample {k}"));
    assert_eq!(
        get("parallax_queries_total{route=\"sync\",outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(
        get("parallax_queries_total{route=\"sync\",outcome=\"user_error\"}"),
        2.0
    );
    assert_eq!(
        get("parallax_queries_total{route=\"sync\",outcome=\"rejected\"}"),
        0.0
    );
    assert_eq!(
        get("parallax_query_duration_seconds_count{route=\"sync\"}"),
        5.0
    );
    assert_eq!(
        get("parallax_query_duration_seconds_bucket{route=\"sync\",le=\"+Inf\"}"),
        5.0
    );
    assert_eq!(get("parallax_result_rows_total{route=\"sync\"}"), 13.0);
    assert_eq!(
        get("parallax_result_bytes_total{route=\"sync\"}"),
        bytes as f64
    );
    assert_eq!(get("parallax_cache_hits_total"), 1.0);
    assert_eq!(get("parallax_cache_misses_total"), 3.0);
    assert_eq!(get("parallax_cache_entries"), 2.0);
    assert_eq!(get("parallax_queries_running"), 0.0);
    assert!(get("parallax_parquet_metadata_cache_entries") >= 1.0);
    assert!(get("process_resident_memory_bytes") > 1e6);
    // An async job shows up by phase and as a finished async query.
    let r = client()
        .post(format!("{base}/tap/async"))
        .form(&[("LANG", "ADQL"), ("QUERY", q3), ("PHASE", "RUN")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape(&base).await;
        if m.get("parallax_jobs{phase=\"COMPLETED\"}") == Some(&1.0) {
            assert_eq!(
                m["parallax_queries_total{route=\"async\",outcome=\"ok\"}"],
                1.0
            );
            assert_eq!(m["parallax_result_rows_total{route=\"async\"}"], 3.0);
            break;
        }
        assert!(Instant::now() < deadline, "job did not complete: {m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a ticket with the raw Flight client: the query id from the response metadata (a
/// statement has one), the rows, and the bytes of the Flight data messages received.
async fn do_get_counted(
    c: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> (Option<String>, usize, usize) {
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let resp = c.inner_mut().do_get(ticket).await.expect("do_get");
    let qid = resp
        .metadata()
        .get("x-parallax-query-id")
        .map(|v| v.to_str().unwrap().to_string());
    let messages: Vec<FlightData> = resp.into_inner().try_collect().await.expect("stream");
    let bytes = messages
        .iter()
        .map(|m| m.data_header.len() + m.data_body.len() + m.app_metadata.len())
        .sum();
    let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
        futures::stream::iter(messages.into_iter().map(Ok)),
    )
    .try_collect()
    .await
    .expect("decode");
    (qid, batches.iter().map(RecordBatch::num_rows).sum(), bytes)
}

#[tokio::test]
async fn flight_sql_queries_are_counted() {
    let (base, flight) = start("", "[flight]\nlisten = \"127.0.0.1:0\"\n");
    let flight = flight.expect("Flight SQL address").to_string();
    let mut adql = crate::flight::connect(&flight, None).await;
    let mut sql = crate::flight::connect(&flight, Some("sql")).await;
    let mut ids = Vec::new();
    let (mut rows, mut bytes) = (0, 0);
    // An ADQL statement, a SQL statement and a SQL prepared statement with a parameter.
    let infos = vec![
        adql.execute(
            "SELECT TOP 5 source_id FROM gaiadr3.gaia_source ORDER BY source_id".into(),
            None,
        )
        .await
        .expect("adql"),
        sql.execute(
            "SELECT source_id, ra FROM gaiadr3.gaia_source ORDER BY source_id LIMIT 4".into(),
            None,
        )
        .await
        .expect("sql"),
        {
            let mut p = sql
                .prepare(
                    "SELECT source_id FROM gaiadr3.gaia_source WHERE source_id > $1 \
                     ORDER BY source_id LIMIT 3"
                        .into(),
                    None,
                )
                .await
                .expect("prepare");
            let param = Arc::new(Int64Array::from(vec![0_i64])) as ArrayRef;
            p.set_parameters(RecordBatch::try_from_iter([("p", param)]).unwrap())
                .unwrap();
            p.execute().await.expect("prepared")
        },
    ];
    for info in infos {
        let (qid, r, b) = do_get_counted(&mut adql, info).await;
        ids.push(qid.expect("query id"));
        rows += r;
        bytes += b;
    }
    assert_eq!(rows, 12);
    // A catalogue command is not a query.
    let info = adql
        .get_db_schemas(CommandGetDbSchemas::default())
        .await
        .expect("schemas");
    assert_eq!(do_get_counted(&mut adql, info).await.0, None);
    // A syntax error fails at GetFlightInfo, with its query id in the error metadata.
    let e = adql
        .execute(
            "SELECT TOP 5 source_id FRM gaiadr3.gaia_source".into(),
            None,
        )
        .await
        .expect_err("syntax error");
    let FlightError::Tonic(status) = e else {
        panic!("not a gRPC status: {e}");
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    ids.push(
        status
            .metadata()
            .get("x-parallax-query-id")
            .expect("query id")
            .to_str()
            .unwrap()
            .to_string(),
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "one query id per query: {ids:?}");
    assert!(ids.iter().all(|q| q.starts_with('q')), "{ids:?}");

    let m = scrape(&base).await;
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no sample {k}"));
    let flight_total = |outcome: &str| {
        get(&format!(
            "parallax_queries_total{{route=\"flight\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(flight_total("ok"), 3.0);
    assert_eq!(flight_total("user_error"), 1.0);
    for other in ["resource_error", "internal_error", "rejected", "cancelled"] {
        assert_eq!(flight_total(other), 0.0, "{other}");
    }
    assert_eq!(
        get("parallax_query_duration_seconds_count{route=\"flight\"}"),
        4.0
    );
    assert_eq!(
        get("parallax_query_duration_seconds_bucket{route=\"flight\",le=\"+Inf\"}"),
        4.0
    );
    assert_eq!(get("parallax_result_rows_total{route=\"flight\"}"), 12.0);
    assert_eq!(
        get("parallax_result_bytes_total{route=\"flight\"}"),
        bytes as f64
    );
    assert_eq!(get("parallax_queries_running"), 0.0);
    assert_eq!(
        get("parallax_queries_total{route=\"sync\",outcome=\"ok\"}"),
        0.0
    );
}

#[tokio::test]
async fn identical_queries_are_served_from_the_cache() {
    // A table of our own, so the test can change its file.
    let dir = tempfile::tempdir().unwrap().keep();
    let src = fixture()
        .data_dir
        .join("demo/gaiadr3/gaia_source/part-00000.parquet");
    let file = dir.join("src.parquet");
    std::fs::copy(&src, &file).expect("demo gaia_source file");
    let base = server(&format!(
        "[[catalog.table]]\nname = \"mine.src\"\npath = \"{}\"\n",
        file.display()
    ));
    let q = "SELECT TOP 7 source_id, ra FROM mine.src ORDER BY source_id";
    let first = client()
        .post(format!("{base}/tap/sync"))
        .form(&[("LANG", "ADQL"), ("QUERY", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["x-parallax-cache"], "miss");
    let first_id = first.headers()["x-parallax-query-id"]
        .to_str()
        .unwrap()
        .to_string();
    let first = first.text().await.unwrap();
    assert!(
        first.contains("<INFO name=\"parallax_cache\" value=\"miss\""),
        "{first}"
    );
    // Same query, other spelling: a hit, same rows, its own query id.
    let again = client()
        .post(format!("{base}/tap/sync"))
        .form(&[
            ("LANG", "ADQL"),
            (
                "QUERY",
                "select top 7 source_id, ra\n  from mine.src order by source_id -- again",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["x-parallax-cache"], "hit");
    let again_id = again.headers()["x-parallax-query-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(first_id, again_id);
    let again = again.text().await.unwrap();
    assert!(again.contains("<INFO name=\"parallax_cache\" value=\"hit\""));
    let rows = |doc: &str| doc[doc.find("<TABLEDATA>").unwrap()..].to_string();
    assert_eq!(rows(&first), rows(&again));
    // Another format from the same entry.
    let csv = sync(&base, q).await;
    assert_eq!(csv.headers()["x-parallax-cache"], "hit");
    assert_eq!(csv.text().await.unwrap().lines().count(), 8);
    // The catalogue changes (the file is rewritten): the old entry is not served.
    let data = std::fs::read(&file).unwrap();
    std::fs::write(&file, &data).unwrap();
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = sync(&base, q).await;
    assert_eq!(after.headers()["x-parallax-cache"], "miss");
    // Uploads and errors are never cached.
    let bad = sync(&base, "SELECT nope FROM mine.src").await;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.headers().get("x-parallax-cache").is_none());
    let bad_id = bad.headers()["x-parallax-query-id"]
        .to_str()
        .unwrap()
        .to_string();
    let doc = bad.text().await.unwrap();
    assert!(
        doc.contains(&format!("<INFO name=\"query_id\" value=\"{bad_id}\"/>")),
        "{doc}"
    );
}

#[tokio::test]
async fn results_over_the_entry_limit_are_not_cached() {
    let base = server("[cache]\nmax_entry_bytes = 20000\n");
    let big = "SELECT TOP 5000 source_id, ra, dec FROM gaiadr3.gaia_source ORDER BY source_id";
    for _ in 0..2 {
        let r = sync(&base, big).await;
        assert_eq!(r.headers()["x-parallax-cache"], "miss");
        assert_eq!(r.text().await.unwrap().lines().count(), 5001);
    }
    let small = "SELECT TOP 5 source_id FROM gaiadr3.gaia_source ORDER BY source_id";
    sync(&base, small).await.bytes().await.unwrap();
    assert_eq!(
        sync(&base, small).await.headers()["x-parallax-cache"],
        "hit"
    );
    let m = scrape(&base).await;
    assert_eq!(m["parallax_cache_entries"], 1.0);
}

/// More concurrent heavy queries than the limits allow: one runs, the excess waits briefly
/// and gets 503 with Retry-After (sync) or waits in QUEUED (async); the memory pool is never
/// exceeded; nothing crashes and the service answers afterwards.
#[tokio::test]
async fn overload_is_refused_or_queued_within_the_memory_pool() {
    let limit = 8 << 20;
    let base = server_with_jobs(
        "concurrency = 1",
        &format!(
            "[admission]\nsync_concurrency = 1\nqueue_wait = 0\nretry_after = 4\nmemory_bytes = {limit}\n\
             [cache]\nenabled = false\n"
        ),
    );
    // Too big for the pool: every column of every source in a top-k heap, which cannot
    // spill. It stops cleanly with a resource error naming the consumer.
    let r = sync(
        &base,
        "SELECT * FROM gaiadr3.gaia_source ORDER BY phot_g_mean_mag DESC, dec",
    )
    .await;
    assert_eq!(r.status().as_u16(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("query stopped") && body.contains("TopK"),
        "{body}"
    );
    // Fits in the pool: sorting every source by its distance to a point.
    let heavy = |i: usize| {
        format!(
            "SELECT source_id, ra, dec FROM gaiadr3.gaia_source WHERE ra > {i} * 0.001 \
             ORDER BY DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', {i}, 10)), source_id"
        )
    };
    let sampler = {
        let base = base.clone();
        tokio::spawn(async move {
            let mut worst = 0.0f64;
            for _ in 0..40 {
                let m = scrape(&base).await;
                worst = worst.max(m["parallax_memory_reserved_bytes"]);
                assert_eq!(m["parallax_memory_limit_bytes"], (8 << 20) as f64);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            worst
        })
    };
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let base = base.clone();
            let q = heavy(i);
            tokio::spawn(async move {
                let r = client()
                    .post(format!("{base}/tap/sync"))
                    .form(&[("LANG", "ADQL"), ("QUERY", q.as_str()), ("FORMAT", "csv")])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let body = r.text().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert!(body.contains("QUERY_STATUS"), "{body}");
                assert!(body.contains("the service is busy"), "{body}");
                assert_eq!(retry.as_deref(), Some("4"));
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert!(ok >= 1, "no query got through");
    assert!(busy >= 1, "nothing was refused with 8 queries for 1 slot");
    let worst = sampler.await.unwrap();
    assert!(worst <= limit as f64, "memory pool exceeded: {worst}");
    // Async: the second job waits in QUEUED behind the first.
    let mut jobs = Vec::new();
    for i in 0..2 {
        let r = client()
            .post(format!("{base}/tap/async"))
            .form(&[
                ("LANG", "ADQL"),
                ("QUERY", crate::uws::ENDLESS),
                ("PHASE", "RUN"),
                ("RUNID", &i.to_string()),
            ])
            .send()
            .await
            .unwrap();
        jobs.push(r.url().to_string());
        if i == 0 {
            // Blocks while QUEUED (UWS 1.1 §2.2.1.1), then reads the phase.
            client()
                .get(format!("{}?WAIT=10&PHASE=QUEUED", r.url()))
                .send()
                .await
                .unwrap();
            let p = client()
                .get(format!("{}/phase", r.url()))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(p.trim(), "EXECUTING");
        }
    }
    let second = client()
        .get(format!("{}/phase", jobs[1]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(second.trim(), "QUEUED");
    for j in &jobs {
        client()
            .post(format!("{j}/phase"))
            .form(&[("PHASE", "ABORT")])
            .send()
            .await
            .unwrap();
    }
    // Still serving.
    let r = sync(&base, "SELECT TOP 1 source_id FROM gaiadr3.gaia_source").await;
    assert_eq!(r.status().as_u16(), 200);
    let m = scrape(&base).await;
    assert!(m["parallax_queries_total{route=\"sync\",outcome=\"rejected\"}"] >= 1.0);
}

/// 50 users each run the five workshop examples twice, all at once: every query succeeds.
/// (`parallax bench --suite workshop` runs the full 10 rounds and reports latencies.)
#[tokio::test]
async fn workshop_load_all_succeed() {
    let base = server("");
    let queries: Vec<String> = parallax::bench::WORKSHOP_EXAMPLES
        .iter()
        .map(|id| {
            parallax::tap::EXAMPLES
                .iter()
                .find(|e| e.id == *id)
                .expect("example")
                .query
                .to_string()
        })
        .collect();
    let started = Instant::now();
    let users: Vec<_> = (0..50)
        .map(|_| {
            let base = base.clone();
            let queries = queries.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for _ in 0..2 {
                    for q in &queries {
                        let t = Instant::now();
                        let r = sync(&base, q).await;
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap();
                        assert_eq!(status, 200, "{q}: {body}");
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for u in users {
        all.extend(u.await.unwrap());
    }
    all.sort();
    assert_eq!(all.len(), 500);
    eprintln!(
        "workshop (50 users x 5 queries x 2, cache on, dev build): {:.1} s, p50 {:?}, p99 {:?}",
        started.elapsed().as_secs_f64(),
        all[all.len() / 2],
        all[all.len() * 99 / 100]
    );
    let m = scrape(&base).await;
    assert_eq!(
        m["parallax_queries_total{route=\"sync\",outcome=\"ok\"}"],
        500.0
    );
}
