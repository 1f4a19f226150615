//! Load on loopback: 200 concurrent sync queries and 50 concurrent async jobs, all answered
//! correctly within a bound.

use std::time::{Duration, Instant};

use crate::common::{client, fixture, read};
use crate::uws::{create, get, tag, wait_final};

fn query(i: usize) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source WHERE ra >= {} AND ra < {}",
        (i % 36) * 10,
        (i % 36 + 1) * 10
    )
}

/// The reference counts, one query at a time.
async fn expected() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..36 {
        let r = client()
            .post(fixture().url("/sync"))
            .form(&[("LANG", "ADQL"), ("FORMAT", "csv"), ("QUERY", &query(i))])
            .send()
            .await
            .unwrap();
        let (status, _, body) = read(r).await;
        assert_eq!(status, 200, "{body}");
        out.push(body);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_sync_and_fifty_async_at_once() {
    let want = expected().await;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let url = fixture().url("/sync");
        tasks.push(tokio::spawn(async move {
            let r = client()
                .post(url)
                .form(&[("LANG", "ADQL"), ("FORMAT", "csv"), ("QUERY", &query(i))])
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .expect("sync request");
            let (status, _, body) = read(r).await;
            (i, status, body)
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (i, status, body) = t.await.unwrap();
        assert_eq!(status, 200, "sync query {i}: {body}");
        assert_eq!(body, want[i % 36], "sync query {i}");
        slowest = slowest.max(t0.elapsed());
    }
    let sync_time = t0.elapsed();
    assert!(sync_time < Duration::from_secs(120), "{sync_time:?}");

    let t1 = Instant::now();
    let base = fixture().url("");
    let mut jobs = Vec::new();
    for i in 0..50 {
        let base = base.clone();
        jobs.push(tokio::spawn(async move {
            let q = query(i);
            let job = create(
                &base,
                &[
                    ("LANG", "ADQL"),
                    ("FORMAT", "csv"),
                    ("QUERY", &q),
                    ("PHASE", "RUN"),
                ],
            )
            .await;
            let doc = wait_final(&job, Duration::from_secs(120)).await;
            let (status, _, body) = get(&format!("{job}/results/result")).await;
            crate::uws::raw_client().delete(&job).send().await.unwrap();
            (i, tag(&doc, "phase").map(String::from), status, body)
        }));
    }
    for j in jobs {
        let (i, phase, status, body) = j.await.unwrap();
        assert_eq!(phase.as_deref(), Some("COMPLETED"), "async job {i}");
        assert_eq!(status, 200);
        assert_eq!(body, want[i % 36], "async job {i}");
    }
    let async_time = t1.elapsed();
    assert!(async_time < Duration::from_secs(120), "{async_time:?}");
    eprintln!(
        "load: 200 concurrent sync in {:.2} s; 50 concurrent async jobs in {:.2} s",
        sync_time.as_secs_f64(),
        async_time.as_secs_f64()
    );
}
