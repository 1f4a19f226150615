//! Tests that need the real `parallax` binary in its own process: durability across
//! SIGKILL, and cancellation measured by the server process's CPU time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{SOURCES, fixture};
use crate::uws::{ENDLESS, create, get, post, raw_client, tag, wait_final};

/// A `parallax serve` process on 127.0.0.1:0 over the test demo catalogue.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    /// `grpc://HOST:PORT` when the config serves Flight SQL.
    pub(crate) flight: Option<String>,
}

impl Server {
    /// Starts the binary with `extra` appended to its config file; waits (with a deadline) for
    /// its "listening on" line.
    pub(crate) fn start(jobs_dir: &Path, extra: &str) -> Self {
        Self::start_with_env(jobs_dir, extra, &[])
    }

    /// As [`Server::start`], with `env` added to the process's environment.
    pub(crate) fn start_with_env(jobs_dir: &Path, extra: &str, env: &[(&str, &str)]) -> Self {
        let f = fixture();
        let config = jobs_dir.with_extension("toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nhttp = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[demo]\nsources = {SOURCES}\n\
                 [jobs]\ndir = \"{}\"\n{extra}",
                f.data_dir.display(),
                jobs_dir.display()
            ),
        )
        .expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_parallax"))
            .args(["serve", "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn parallax");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut flight = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("parallax: flight sql on ") {
                    flight = Some(url.trim().to_string());
                }
                if let Some(url) = line.strip_prefix("parallax: listening on ") {
                    let _ = tx.send((url.trim().to_string(), flight.clone()));
                }
            }
        });
        let (base, flight) = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("server did not report its address in time");
        Server {
            child,
            base,
            flight,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `HOST:PORT` of its Flight SQL service (the config must serve Flight SQL).
    pub(crate) fn flight_addr(&self) -> String {
        self.flight
            .as_deref()
            .expect("flight readiness line")
            .trim_start_matches("grpc://")
            .to_string()
    }

    /// SIGKILL, no shutdown.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of a process, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Waits (off the async runtime) until `pid` uses under 5% of a core over a 250 ms window,
/// failing if that takes more than 2 s from `since`; returns the time it took and the use.
pub(crate) async fn wait_until_idle(
    pid: u32,
    since: Instant,
    what: &'static str,
) -> (Duration, f64) {
    wait_until_idle_within(pid, since, what, Duration::from_secs(2)).await
}

/// As [`wait_until_idle`], failing after `deadline` from `since`.
pub(crate) async fn wait_until_idle_within(
    pid: u32,
    since: Instant,
    what: &'static str,
    deadline: Duration,
) -> (Duration, f64) {
    tokio::task::spawn_blocking(move || {
        loop {
            let u = cpu_use(pid, Duration::from_millis(250));
            if u < 0.05 {
                return (since.elapsed(), u);
            }
            assert!(
                since.elapsed() < deadline,
                "still {u:.2} cores busy {} s after {what}",
                deadline.as_secs()
            );
        }
    })
    .await
    .unwrap()
}

/// CPU use (in cores) of `pid` over `window`.
pub(crate) fn cpu_use(pid: u32, window: Duration) -> f64 {
    let a = cpu_ticks(pid);
    std::thread::sleep(window);
    let b = cpu_ticks(pid);
    (b - a) as f64 / 100.0 / window.as_secs_f64()
}

fn query(i: usize) -> String {
    // 50 slices of 7.2 degrees in right ascension, about 400 rows each.
    format!(
        "SELECT source_id, ra, dec, phot_g_mean_mag FROM gaiadr3.gaia_source \
         WHERE ra >= {} AND ra < {} ORDER BY source_id",
        (i % 50) as f64 * 7.2,
        (i % 50 + 1) as f64 * 7.2
    )
}

async fn phases(base: &str) -> Vec<String> {
    let (_, _, list) = get(&format!("{base}/async")).await;
    list.split("<uws:phase>")
        .skip(1)
        .filter_map(|s| s.split("</uws:phase>").next())
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_jobs_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let jobs_dir = dir.path().join("jobs");
    // One job at a time before the kill, so that many are still queued when it comes.
    let server = Server::start(&jobs_dir, "concurrency = 1\n");
    let base = server.base.clone();
    // Create all 50 jobs first (PENDING), then start them all at once: started one by one as
    // they were created, the jobs could all finish before the last was created.
    let mut jobs = Vec::new();
    for i in 0..50 {
        let q = query(i);
        jobs.push(create(&base, &[("LANG", "ADQL"), ("QUERY", &q), ("FORMAT", "csv")]).await);
    }
    let runs = jobs
        .iter()
        .map(|job| async move { post(&format!("{job}/phase"), &[("PHASE", "RUN")]).await });
    for (status, _, body) in futures::future::join_all(runs).await {
        assert_eq!(status, 303, "{body}");
    }
    // Kill it midway: once some jobs are done and others are not.
    let until = Instant::now() + Duration::from_secs(120);
    let done_at_kill = loop {
        let p = phases(&base).await;
        let done = p.iter().filter(|p| *p == "COMPLETED").count();
        if done >= 3 {
            break done;
        }
        assert!(Instant::now() < until, "no job completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill();
    eprintln!("durability: SIGKILL with {done_at_kill}/50 jobs completed");
    assert!(
        done_at_kill < 50,
        "every job finished before the kill; nothing was tested"
    );

    let server = Server::start(&jobs_dir, "concurrency = 2\n");
    let base2 = server.base.clone();
    let t0 = Instant::now();
    for (i, old) in jobs.iter().enumerate() {
        let id = old.rsplit('/').next().unwrap();
        let job = format!("{base2}/async/{id}");
        let doc = wait_final(&job, Duration::from_secs(300)).await;
        assert_eq!(tag(&doc, "phase"), Some("COMPLETED"), "job {i}: {doc}");
        let (status, _, got) = get(&format!("{job}/results/result")).await;
        assert_eq!(status, 200);
        // A clean run of the same query.
        let r = raw_client()
            .post(format!("{base2}/sync"))
            .form(&[("LANG", "ADQL"), ("QUERY", &query(i)), ("FORMAT", "csv")])
            .send()
            .await
            .unwrap();
        let want = r.text().await.unwrap();
        assert!(
            want.lines().count() > 100,
            "query {i} returns too little to compare"
        );
        assert_eq!(got, want, "job {i} differs from a clean run");
    }
    assert_eq!(
        phases(&base2).await.len(),
        50,
        "a job was lost or duplicated"
    );
    eprintln!(
        "durability: after restart all 50 COMPLETED with identical results in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_stops_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("jobs"), "");
    let pid = server.pid();
    let base = server.base.clone();
    let job = create(
        &base,
        &[("LANG", "ADQL"), ("QUERY", ENDLESS), ("PHASE", "RUN")],
    )
    .await;
    let (_, _, doc) = get(&format!("{job}?WAIT=10&PHASE=QUEUED")).await;
    assert_eq!(tag(&doc, "phase"), Some("EXECUTING"), "{doc}");
    let busy = tokio::task::spawn_blocking(move || cpu_use(pid, Duration::from_millis(1000)))
        .await
        .unwrap();
    assert!(
        busy > 0.3,
        "the query does not load the CPU ({busy:.2} cores)"
    );

    let t0 = Instant::now();
    assert_eq!(
        post(&format!("{job}/phase"), &[("PHASE", "ABORT")]).await.0,
        303
    );
    let aborted = loop {
        let (_, _, p) = get(&format!("{job}/phase")).await;
        if p == "ABORTED" {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "not ABORTED within 1 s ({p})"
        );
    };
    // Idle: a 250 ms window with under 5% of a core, reached within 2 s of the ABORT.
    let idle = wait_until_idle(pid, t0, "ABORT").await;
    eprintln!(
        "cancellation: busy {busy:.2} cores; ABORTED after {:.0} ms; CPU idle ({:.3} cores) {:.0} ms after ABORT",
        aborted.as_secs_f64() * 1000.0,
        idle.1,
        idle.0.as_secs_f64() * 1000.0
    );
    // DELETE of a running job stops it too.
    let job2 = create(
        &base,
        &[("LANG", "ADQL"), ("QUERY", ENDLESS), ("PHASE", "RUN")],
    )
    .await;
    get(&format!("{job2}?WAIT=10&PHASE=QUEUED")).await;
    let t1 = Instant::now();
    raw_client().delete(&job2).send().await.unwrap();
    let idle2 = wait_until_idle(pid, t1, "DELETE").await.0;
    eprintln!(
        "cancellation: CPU idle {:.0} ms after DELETE",
        idle2.as_secs_f64() * 1000.0
    );
    // The execution duration running out stops it the same way.
    let job3 = create(
        &base,
        &[
            ("LANG", "ADQL"),
            ("QUERY", ENDLESS),
            ("EXECUTIONDURATION", "1"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    let doc = crate::uws::wait_final(&job3, Duration::from_secs(30)).await;
    assert_eq!(tag(&doc, "phase"), Some("ABORTED"), "{doc}");
    let t2 = Instant::now();
    let idle3 = wait_until_idle(pid, t2, "the execution duration ran out")
        .await
        .0;
    eprintln!(
        "cancellation: CPU idle {:.0} ms after the execution duration ran out",
        idle3.as_secs_f64() * 1000.0
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_jobs_can_be_ended_in_error_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let jobs_dir = dir.path().join("jobs");
    let server = Server::start(&jobs_dir, "concurrency = 1\n");
    let base = server.base.clone();
    let running = create(
        &base,
        &[("LANG", "ADQL"), ("QUERY", ENDLESS), ("PHASE", "RUN")],
    )
    .await;
    // The endless job holds the only slot before the next one is submitted (jobs race for a
    // free slot, so submitting both at once does not say which one runs).
    let (_, _, doc) = get(&format!("{running}?WAIT=10&PHASE=QUEUED")).await;
    assert_eq!(tag(&doc, "phase"), Some("EXECUTING"));
    let queued = create(
        &base,
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT 1 AS x"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    let pending = create(&base, &[("LANG", "ADQL"), ("QUERY", "SELECT 1 AS x")]).await;
    assert_eq!(get(&format!("{queued}/phase")).await.2, "QUEUED");
    server.kill();
    // Files of a job whose deletion was interrupted, and a half-written result.
    let orphan = jobs_dir.join("results").join("orphan0000000000");
    let part = jobs_dir.join("results").join("orphan0000000001.part");
    let orphan_uploads = jobs_dir.join("uploads").join("orphan0000000000");
    std::fs::write(&orphan, "x").unwrap();
    std::fs::write(&part, "x").unwrap();
    std::fs::create_dir_all(&orphan_uploads).unwrap();

    let server = Server::start(&jobs_dir, "concurrency = 1\non_restart = \"error\"\n");
    assert!(!orphan.exists() && !part.exists() && !orphan_uploads.exists());
    for (old, want) in [
        (&running, "ERROR"),
        (&queued, "ERROR"),
        (&pending, "PENDING"),
    ] {
        let id = old.rsplit('/').next().unwrap();
        let job = format!("{}/async/{id}", server.base);
        let (status, _, doc) = get(&job).await;
        assert_eq!(status, 200);
        assert_eq!(tag(&doc, "phase"), Some(want), "{doc}");
        if want == "ERROR" {
            assert!(doc.contains("service restarted"), "{doc}");
        }
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_identify_owners() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[auth]\nmode = \"bearer\"\n[[auth.users]]\nname = \"carol\"\ntoken_hash = \"{}\"\n\
         [[auth.users]]\nname = \"dave\"\ntoken_hash = \"{}\"\n",
        parallax::auth::hash_token("carol-token-0123456789"),
        parallax::auth::hash_token("dave-token-9876543210"),
    );
    let server = Server::start(&dir.path().join("jobs"), &extra);
    let base = server.base.clone();
    let send = |method: reqwest::Method, url: String, token: Option<&'static str>| {
        let mut rb = raw_client().request(method, url);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    };
    let r = send(
        reqwest::Method::POST,
        format!("{base}/async"),
        Some("carol-token-0123456789"),
    )
    .form(&[("LANG", "ADQL"), ("QUERY", "SELECT 1 AS x")])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let job = r.headers()["location"].to_str().unwrap().to_string();
    let r = send(
        reqwest::Method::GET,
        format!("{job}/owner"),
        Some("carol-token-0123456789"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "carol");
    for token in [Some("dave-token-9876543210"), None] {
        let r = send(reqwest::Method::GET, job.clone(), token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{token:?}");
    }
    let r = send(reqwest::Method::GET, job.clone(), Some("not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    drop(server);
}
