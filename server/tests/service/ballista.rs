//! Distributed execution: a Ballista scheduler and two executors started from the `parallax`
//! binary on 127.0.0.1, queried by the engine in Ballista mode (in this process) or by a
//! `parallax serve --ballista` process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use parallax::config::EngineMode;
use parallax::engine::{Engine, QueryError};

use crate::common::{fixture, settings};
use crate::process::{Server, cpu_use, wait_until_idle_within};
use crate::uws::{create, get, post, tag};

/// A child process whose stderr (the log) is kept.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `parallax ARGS` (with `-v`: info logs of Ballista too); returns it and its
    /// first stdout line starting with `ready` (waited for with a deadline).
    fn start(args: &[&str], ready: &str) -> (Self, String) {
        Self::start_as(&[], &[], args, ready)
    }

    /// As [`Proc::start`], run through `wrapper` (a command that ends by executing its
    /// arguments, e.g. `unshare ...`) and with `env` added to the environment.
    fn start_as(
        wrapper: &[String],
        env: &[(String, String)],
        args: &[&str],
        ready: &str,
    ) -> (Self, String) {
        let bin = env!("CARGO_BIN_EXE_parallax");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("-v")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn parallax");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        // PARALLAX_TEST_LOGS=DIR also keeps each process's log in DIR/PID.log (for hangs).
        let mut file = std::env::var_os("PARALLAX_TEST_LOGS").map(|d| {
            std::fs::File::create(std::path::Path::new(&d).join(format!("{}.log", child.id())))
                .expect("log file")
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let prefix = ready.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix(&prefix) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("parallax {args:?} did not print '{ready}'"));
        (Proc { child, log }, line)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The body of a plain HTTP/1.0 GET (empty when the server does not answer).
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A self-join that keeps both executors of a test cluster busy for ~25 s (for cancellation).
const BUSY_JOIN: &str = "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source AS a \
     JOIN gaiadr3.gaia_source AS b ON MOD(a.source_id, 2) = MOD(b.source_id, 2) \
     WHERE DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', b.ra, b.dec)) < 1";

/// A wrapper command ([`Proc::start_as`]) that runs its process in a mount namespace of its
/// own where each of `dirs` is an empty tmpfs: that process cannot see their files (root only).
fn hiding(dirs: &[&std::path::Path]) -> Vec<String> {
    let script = "while [ \"$1\" != -- ]; do mount -t tmpfs parallax-test \"$1\" || exit 1; \
                  shift; done; shift; exec \"$@\"";
    ["unshare", "--mount", "--", "sh", "-c", script, "sh"]
        .iter()
        .map(|s| s.to_string())
        .chain(dirs.iter().map(|d| d.to_string_lossy().to_string()))
        .chain(["--".to_string()])
        .collect()
}

/// A scheduler and `n` executors.
struct Cluster {
    scheduler: Proc,
    executors: Vec<Proc>,
    /// Each executor's `HOST:FLIGHT_PORT`, as it names itself.
    executor_addrs: Vec<String>,
    /// `df://127.0.0.1:PORT`.
    url: String,
    _work: tempfile::TempDir,
}

/// How a test cluster's processes are started (beyond the defaults).
#[derive(Default)]
struct Setup {
    /// Added to every process's environment.
    env: Vec<(String, String)>,
    /// Extra arguments of the scheduler.
    scheduler_args: Vec<String>,
    /// One entry per executor: the wrapper command it runs through ([`Proc::start_as`]) and
    /// its extra arguments.
    executors: Vec<(Vec<String>, Vec<String>)>,
}

impl Setup {
    /// `n` plain executors.
    fn executors(n: usize) -> Self {
        Setup {
            executors: (0..n).map(|_| Default::default()).collect(),
            ..Default::default()
        }
    }
}

impl Cluster {
    fn start(n: usize) -> Self {
        Self::start_with(Setup::executors(n))
    }

    fn start_with(setup: Setup) -> Self {
        let mut args = vec![
            "scheduler",
            "--listen",
            "127.0.0.1:0",
            "--executor-timeout",
            "6",
        ];
        args.extend(setup.scheduler_args.iter().map(String::as_str));
        let (scheduler, url) = Proc::start_as(&[], &setup.env, &args, "parallax: scheduler on ");
        let work = tempfile::tempdir().expect("tempdir");
        let mut executors = Vec::new();
        let mut executor_addrs = Vec::new();
        let n = setup.executors.len();
        for (i, (wrapper, extra)) in setup.executors.iter().enumerate() {
            let dir = work.path().join(format!("executor{i}"));
            std::fs::create_dir_all(&dir).expect("work dir");
            let (flight, grpc) = (free_port().to_string(), free_port().to_string());
            let dir = dir.to_string_lossy().to_string();
            let mut args = vec![
                "executor",
                "--scheduler",
                &url,
                "--flight-port",
                &flight,
                "--grpc-port",
                &grpc,
                "--concurrent-tasks",
                "2",
                "--heartbeat-interval",
                "1",
                "--work-dir",
                &dir,
            ];
            args.extend(extra.iter().map(String::as_str));
            let (p, addr) = Proc::start_as(wrapper, &setup.env, &args, "parallax: executor on ");
            executors.push(p);
            executor_addrs.push(addr);
        }
        let c = Cluster {
            scheduler,
            executors,
            executor_addrs,
            url,
            _work: work,
        };
        c.wait_for_executors(n);
        c
    }

    /// Waits (deadline 30 s) until the scheduler reports `n` executors.
    fn wait_for_executors(&self, n: usize) {
        let want = format!("ready: {n} executors");
        let t0 = Instant::now();
        loop {
            let text = http_get(self.url.trim_start_matches("df://"), "/readyz");
            if text.starts_with(&want) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "executors did not register: {text}\n{}",
                self.scheduler.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn mode(&self) -> EngineMode {
        let (host, port) = parallax::config::parse_scheduler(&self.url).expect("url");
        EngineMode::Ballista { host, port }
    }

    async fn engine(&self) -> Engine {
        let f = fixture();
        let catalog = parallax::app::load_catalog(&settings(f.data_dir.clone()))
            .await
            .expect("catalogue");
        Engine::build(catalog, &self.mode(), 0)
            .await
            .expect("engine")
    }
}

/// `parallax serve` in Ballista mode on `cluster`, with `extra` appended to its config.
fn front_end(cluster: &Cluster, jobs: &std::path::Path, extra: &str) -> Server {
    front_end_with_env(cluster, jobs, extra, &[])
}

/// As [`front_end`], with `env` added to the process's environment.
fn front_end_with_env(
    cluster: &Cluster,
    jobs: &std::path::Path,
    extra: &str,
    env: &[(&str, &str)],
) -> Server {
    Server::start_with_env(
        jobs,
        &format!(
            "[engine]\nmode = \"ballista\"\nscheduler = \"{}\"\n{extra}",
            cluster.url
        ),
        env,
    )
}

/// The in-process engine over the same catalogue.
async fn local_engine() -> Engine {
    let f = fixture();
    let catalog = parallax::app::load_catalog(&settings(f.data_dir.clone()))
        .await
        .expect("catalogue");
    Engine::new(catalog).expect("engine")
}

async fn rows(engine: &Engine, adql: &str) -> Result<Vec<String>, QueryError> {
    let result = engine.execute(adql, None).await?;
    let batches: Vec<_> = result
        .stream
        .try_collect()
        .await
        .map_err(QueryError::from_datafusion)?;
    Ok(crate::slt::render(&batches))
}

/// The whole `.slt` suite (joins, aggregates, geometry, the crossmatch idiom, mahalanobis,
/// fourier_search, TAP_SCHEMA, uploads-free ADQL semantics) gives the same answers on the
/// cluster as in process: the same expected results, file by file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_suite_on_the_cluster() {
    let cluster = Cluster::start(2);
    let engine = Arc::new(cluster.engine().await);
    let failures = crate::slt::run_all(engine).await;
    assert!(
        failures.is_empty(),
        "{}\n--- scheduler log ---\n{}",
        failures.join("\n\n"),
        tail(&cluster.scheduler.log(), 40)
    );
    // Work happened on both executors.
    for (i, e) in cluster.executors.iter().enumerate() {
        let n = e.log().matches("Execute task").count();
        assert!(n > 0, "executor {i} ran no task");
    }
}

/// Waits (deadline 20 s) until the processes `pids` together use more than half a core;
/// returns each one's use in cores.
async fn wait_until_busy(pids: &[u32]) -> Vec<f64> {
    let t0 = Instant::now();
    loop {
        let busy: Vec<f64> = {
            let pids = pids.to_vec();
            tokio::task::spawn_blocking(move || {
                pids.iter()
                    .map(|p| cpu_use(*p, Duration::from_millis(300)))
                    .collect()
            })
            .await
            .unwrap()
        };
        if busy.iter().sum::<f64>() > 0.5 {
            return busy;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the processes never got busy: {busy:?}"
        );
    }
}

/// The CSV answer of a TAP sync ADQL query to the service at `base` (`.../tap`), which must
/// succeed.
async fn csv(base: &str, query: &str) -> String {
    let (status, _, body) = post(
        &format!("{base}/sync"),
        &[("LANG", "ADQL"), ("QUERY", query), ("FORMAT", "csv")],
    )
    .await;
    assert_eq!(status, 200, "{base}: {query}: {body}");
    body
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// CPU ticks (user + system) of a process.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A UDF-heavy self-join (8 million DISTANCE calls) sent through `parallax serve --ballista`:
/// the executors burn the CPU, the front end hardly any, and both executors run tasks of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udf_batches_run_in_the_executors() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().unwrap();
    let server = front_end(&cluster, &dir.path().join("jobs"), "");
    let query = "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source AS a JOIN gaiadr3.gaia_source AS b \
                 ON MOD(a.source_id, 50) = MOD(b.source_id, 50) \
                 WHERE DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', b.ra, b.dec)) < 10";
    let before: Vec<u64> = cluster.executors.iter().map(|e| ticks(e.pid())).collect();
    let front_before = ticks(server.pid());
    let body = csv(&server.base, query).await;
    let n: u64 = body
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect(&body);
    // The same answer as in process.
    let local = local_engine().await;
    assert_eq!(rows(&local, query).await.unwrap(), vec![n.to_string()]);
    let used: Vec<u64> = cluster
        .executors
        .iter()
        .zip(&before)
        .map(|(e, b)| ticks(e.pid()) - b)
        .collect();
    let front = ticks(server.pid()) - front_before;
    eprintln!("udf work: executors {used:?} ticks, front end {front} ticks, {n} pairs");
    for (i, u) in used.iter().enumerate() {
        assert!(*u >= 10, "executor {i} used only {u} ticks: {used:?}");
    }
    assert!(
        used.iter().sum::<u64>() > 3 * front,
        "the front end did the work: executors {used:?}, front end {front}"
    );
    // The job's tasks are in both executors' logs.
    let logs: Vec<String> = cluster.executors.iter().map(|e| e.log()).collect();
    let job = logs[0]
        .lines()
        .rev()
        .find_map(|l| l.split("Execute task  : [TID ").nth(1))
        .and_then(|s| s.split('/').next())
        .expect("a task in executor 0's log")
        .to_string();
    assert!(
        logs[1].contains(&format!("TID {job}/")),
        "executor 1 ran no task of job {job}"
    );
}

/// SIGKILL one of two executors during a multi-stage query: the query is re-planned onto the
/// survivor once the scheduler declares the executor dead (6 s without heartbeat here) and
/// completes with the right answer, or fails with a clear error; either way within 60 s. The
/// next query succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_killed_mid_query() {
    let mut cluster = Cluster::start(2);
    let engine = cluster.engine().await;
    let query = "SELECT MOD(a.source_id, 7) AS k, COUNT(*) AS n FROM gaiadr3.gaia_source AS a \
                 JOIN gaiadr3.gaia_source AS b ON MOD(a.source_id, 40) = MOD(b.source_id, 40) \
                 WHERE DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', b.ra, b.dec)) < 20 \
                 GROUP BY MOD(a.source_id, 7) ORDER BY k";
    let expected = rows(&local_engine().await, query).await.unwrap();
    let t0 = Instant::now();
    let run = tokio::spawn({
        let engine = Arc::new(engine);
        let q = query.to_string();
        async move {
            let r = rows(&engine, &q).await;
            (r, engine)
        }
    });
    // Kill an executor once it runs a task.
    let victim = loop {
        if let Some(i) = cluster
            .executors
            .iter()
            .position(|e| e.log().contains("Execute task"))
        {
            break i;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no task started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    cluster.executors[victim].kill();
    let killed = t0.elapsed();
    let (result, engine) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the query hangs after an executor died")
        .unwrap();
    let took = t0.elapsed();
    match &result {
        Ok(r) => {
            assert_eq!(r, &expected);
            eprintln!(
                "fault: executor {victim} killed at {:.1} s; query completed on the survivor after {:.1} s",
                killed.as_secs_f64(),
                took.as_secs_f64()
            );
        }
        Err(e) => {
            let m = e.to_string();
            eprintln!(
                "fault: executor {victim} killed at {:.1} s; query failed after {:.1} s: {m}",
                killed.as_secs_f64(),
                took.as_secs_f64()
            );
            assert!(matches!(e, QueryError::Unavailable(_)), "{e:?}");
            assert!(m.contains("executors"), "{m}");
        }
    }
    // The cluster still answers.
    assert_eq!(rows(&engine, query).await.unwrap(), expected);
}

/// ABORT of a TAP async job that runs on the cluster cancels the Ballista job: both
/// executors are idle again within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_frees_the_executors() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().unwrap();
    let server = front_end(&cluster, &dir.path().join("jobs"), "");
    let job = create(
        &server.base,
        &[("LANG", "ADQL"), ("QUERY", BUSY_JOIN), ("PHASE", "RUN")],
    )
    .await;
    let (_, _, doc) = get(&format!("{job}?WAIT=10&PHASE=QUEUED")).await;
    assert_eq!(tag(&doc, "phase"), Some("EXECUTING"), "{doc}");
    // Both executors busy.
    let pids: Vec<u32> = cluster.executors.iter().map(Proc::pid).collect();
    let busy = wait_until_busy(&pids).await;
    eprintln!("cancellation: executors busy {busy:?} cores");
    let t0 = Instant::now();
    assert_eq!(
        post(&format!("{job}/phase"), &[("PHASE", "ABORT")]).await.0,
        303
    );
    for (i, pid) in pids.iter().enumerate() {
        let (after, u) = wait_until_idle_within(*pid, t0, "ABORT", Duration::from_secs(5)).await;
        eprintln!(
            "cancellation: executor {i} idle ({u:.3} cores) {:.0} ms after ABORT",
            after.as_secs_f64() * 1000.0
        );
    }
    let (_, _, phase) = get(&format!("{job}/phase")).await;
    assert_eq!(phase, "ABORTED");
    assert!(
        cluster
            .scheduler
            .log()
            .contains("cancellation request for job"),
        "the scheduler got no CancelJob"
    );
}

/// An unreachable scheduler: the engine refuses to start within a few seconds, naming it;
/// a running front end whose scheduler went away answers 503 with the reason, promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_scheduler_is_a_clear_error() {
    let port = free_port();
    let mode = EngineMode::Ballista {
        host: "127.0.0.1".into(),
        port,
    };
    let f = fixture();
    let catalog = parallax::app::load_catalog(&settings(f.data_dir.clone()))
        .await
        .expect("catalogue");
    let t0 = Instant::now();
    let err = match Engine::build(catalog, &mode, 0).await {
        Ok(_) => panic!("an engine without a scheduler"),
        Err(e) => e.to_string(),
    };
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("unreachable"),
        "{err}"
    );

    let mut cluster = Cluster::start(1);
    let engine = cluster.engine().await;
    assert_eq!(rows(&engine, "SELECT 1 AS one").await.unwrap(), vec!["1"]);
    cluster.scheduler.kill();
    let t0 = Instant::now();
    let err = rows(&engine, "SELECT COUNT(*) FROM gaiadr3.gaia_source")
        .await
        .expect_err("no scheduler");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, QueryError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
}

/// A scheduler restart: the query running on the cluster fails with a clear error within a
/// bounded time (no hung job), the executors register with the new scheduler on the same
/// address, and the front end's next query succeeds without restarting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_restart() {
    let mut cluster = Cluster::start(1);
    let listen = cluster.url.trim_start_matches("df://").to_string();
    let engine = Arc::new(cluster.engine().await);
    let query = "SELECT MOD(a.source_id, 7) AS k, COUNT(*) AS n FROM gaiadr3.gaia_source AS a \
                 JOIN gaiadr3.gaia_source AS b ON MOD(a.source_id, 40) = MOD(b.source_id, 40) \
                 WHERE DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', b.ra, b.dec)) < 20 \
                 GROUP BY MOD(a.source_id, 7) ORDER BY k";
    let run = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { rows(&engine, query).await }
    });
    let t0 = Instant::now();
    while !cluster.executors[0].log().contains("Execute task") {
        assert!(t0.elapsed() < Duration::from_secs(30), "no task started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.scheduler.kill();
    let killed = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the query hangs after the scheduler died")
        .unwrap();
    let err = result.expect_err("a query whose scheduler died cannot succeed");
    eprintln!(
        "scheduler restart: the running query failed {:.1} s after the scheduler died: {err}",
        killed.elapsed().as_secs_f64()
    );
    assert!(matches!(err, QueryError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string().contains(&cluster.url),
        "the error names the scheduler: {err}"
    );
    // A new scheduler on the same address: the executor registers again at its next
    // heartbeat, and the same front end runs queries on it.
    let (scheduler, _) = Proc::start(
        &["scheduler", "--listen", &listen, "--executor-timeout", "6"],
        "parallax: scheduler on ",
    );
    cluster.scheduler = scheduler;
    cluster.wait_for_executors(1);
    let local = local_engine().await;
    let count = "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE phot_g_mean_mag < 15";
    assert_eq!(
        rows(&engine, count)
            .await
            .expect("a query after the restart"),
        rows(&local, count).await.unwrap()
    );
}

/// Federation in Ballista mode: a query joining a catalogue table with a table of another
/// Parallax (over Flight SQL) runs in the front end (executors cannot reach remote sources)
/// and gives the answer of a front end in local mode; catalogue-only queries still go to the
/// cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_queries_in_ballista_mode() {
    let cluster = Cluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let node2 = Server::start(
        &dir.path().join("node2"),
        "[flight]\nlisten = \"127.0.0.1:0\"\n",
    );
    let remote = format!(
        "[[catalog.flightsql]]\nname = \"node2\"\nurl = \"{}\"\ntables = [\"gaiadr3.gaia_source\"]\ntimeout = 5\n",
        node2.flight.clone().expect("flight url")
    );
    let cluster_front = front_end(&cluster, &dir.path().join("front"), &remote);
    let local_front = Server::start(&dir.path().join("local"), &remote);
    let query = "SELECT COUNT(*) AS n, ROUND(AVG(r.phot_g_mean_mag), 9) AS g \
                 FROM gaiadr3.gaia_source AS l JOIN node2.gaia_source AS r \
                 ON l.source_id = r.source_id WHERE r.phot_g_mean_mag < 16";
    let run = |base: String| async move { csv(&base, query).await };
    let jobs_before = cluster.scheduler.log().matches("Job queued").count();
    let on_cluster = run(cluster_front.base.clone()).await;
    let in_process = run(local_front.base.clone()).await;
    assert_eq!(on_cluster, in_process);
    assert!(
        on_cluster
            .lines()
            .nth(1)
            .is_some_and(|l| !l.starts_with("0,")),
        "{on_cluster}"
    );
    assert_eq!(
        cluster.scheduler.log().matches("Job queued").count(),
        jobs_before,
        "a federated query was sent to the cluster"
    );
    // A catalogue-only query from the same front end runs on the cluster.
    csv(
        &cluster_front.base,
        "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE phot_g_mean_mag < 16",
    )
    .await;
    assert!(cluster.scheduler.log().matches("Job queued").count() > jobs_before);
}

/// A function that panics (the `parallax_test_panic` failpoint, in every process): in process
/// and on the cluster the query ends at once with HTTP 500 whose message is the panic's, an
/// async job goes to ERROR with it, no job hangs (the executors are idle again) and the next
/// query succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_function_is_a_clear_error() {
    use parallax::failpoint::{ENV, PANIC_MESSAGE};
    let env = [(ENV, "1")];
    let cluster = Cluster::start_with(Setup {
        env: vec![(ENV.to_string(), "1".to_string())],
        ..Setup::executors(2)
    });
    let dir = tempfile::tempdir().unwrap();
    let on_cluster = front_end_with_env(&cluster, &dir.path().join("jobs"), "", &env);
    let in_process = Server::start_with_env(&dir.path().join("local-jobs"), "", &env);
    let panics = [
        // In a filter under an aggregate (several stages on the cluster) ...
        "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE parallax_test_panic(ra) > 0",
        // ... and in the select list of a sorted query.
        "SELECT TOP 5 source_id, parallax_test_panic(dec) FROM gaiadr3.gaia_source \
         ORDER BY source_id",
    ];
    for (name, server) in [("cluster", &on_cluster), ("in process", &in_process)] {
        for query in panics {
            let t0 = Instant::now();
            let (status, _, body) = post(
                &format!("{}/sync", server.base),
                &[("LANG", "ADQL"), ("QUERY", query)],
            )
            .await;
            eprintln!("panic ({name}): HTTP {status} after {:?}", t0.elapsed());
            assert_eq!(status, 500, "{name}: {body}");
            assert!(
                body.contains(&format!("internal error (a bug in Parallax; please report it with the query): {PANIC_MESSAGE}")),
                "{name}: {body}"
            );
            assert!(t0.elapsed() < Duration::from_secs(30), "{name}: too slow");
        }
        let job = create(
            &server.base,
            &[("LANG", "ADQL"), ("QUERY", panics[0]), ("PHASE", "RUN")],
        )
        .await;
        let (_, _, doc) = get(&format!("{job}?WAIT=30&PHASE=EXECUTING")).await;
        assert_eq!(tag(&doc, "phase"), Some("ERROR"), "{name}: {doc}");
        let (_, _, error) = get(&format!("{job}/error")).await;
        assert!(error.contains(PANIC_MESSAGE), "{name}: {error}");
        // The service goes on.
        csv(
            &server.base,
            "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE ra > 10",
        )
        .await;
    }
    // No job left running on the cluster.
    for (i, e) in cluster.executors.iter().enumerate() {
        let (after, u) = wait_until_idle_within(
            e.pid(),
            Instant::now(),
            "the panics",
            Duration::from_secs(5),
        )
        .await;
        eprintln!("executor {i} idle ({u:.3} cores) after {after:?}");
    }
    // The panics happened in the executors (the panic hook writes to their logs).
    assert!(
        cluster
            .executors
            .iter()
            .any(|e| e.log().contains(PANIC_MESSAGE)),
        "no executor panicked"
    );
}

/// A cluster whose processes run different Parallax versions refuses work with a message
/// naming the process and both versions: an executor of another version fails its tasks (503
/// for the query), a scheduler of another version refuses the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_of_another_version_are_refused() {
    let ours = parallax::cluster::version::own();
    let other = |args: &[&str]| -> Vec<String> { args.iter().map(|a| a.to_string()).collect() };
    let cluster = Cluster::start_with(Setup {
        executors: vec![(vec![], other(&["--test-pretend-version", "0.0.0-other"]))],
        ..Default::default()
    });
    let engine = cluster.engine().await;
    let query = "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE ra > 10";
    let t0 = Instant::now();
    match rows(&engine, query).await {
        Err(QueryError::Unavailable(m)) => {
            eprintln!("executor of another version, after {:?}: {m}", t0.elapsed());
            assert!(
                m.contains(&format!(
                    "the executor at {} runs Parallax 0.0.0-other but the query was planned by \
                     Parallax {ours}",
                    cluster.executor_addrs[0]
                )),
                "{m}"
            );
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    drop(engine);
    drop(cluster);

    let cluster = Cluster::start_with(Setup {
        scheduler_args: other(&["--test-pretend-version", "0.0.0-other"]),
        ..Setup::executors(1)
    });
    let engine = cluster.engine().await;
    match rows(&engine, query).await {
        Err(QueryError::Unavailable(m)) => {
            assert!(
                m.contains(&format!(
                    "the scheduler at {} runs Parallax 0.0.0-other but the query was planned by \
                     Parallax {ours}",
                    cluster.url
                )),
                "{m}"
            );
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
}

/// One of two executors cannot see the catalogue (its directory hidden by an empty tmpfs in
/// the executor's own mount namespace): the query fails at once with 503 naming the missing
/// file and that executor, and the job does not hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_path_missing_on_one_executor() {
    let data = fixture().data_dir.to_string_lossy().to_string();
    let hide = hiding(&[&fixture().data_dir]);
    let cluster = Cluster::start_with(Setup {
        executors: vec![(vec![], vec![]), (hide, vec![])],
        ..Default::default()
    });
    let engine = cluster.engine().await;
    // Every partition of the table is read (no statistics answer this).
    let query = "SELECT COUNT(*), SUM(phot_g_mean_mag) FROM gaiadr3.gaia_source WHERE ra > 10";
    let t0 = Instant::now();
    match rows(&engine, query).await {
        Err(QueryError::Unavailable(m)) => {
            eprintln!("missing table path, after {:?}: {m}", t0.elapsed());
            assert!(m.starts_with(&format!("the catalogue file {data}/")), "{m}");
            assert!(
                m.contains(&format!(
                    ".parquet is missing on the executor at {}: every executor must see",
                    cluster.executor_addrs[1]
                )),
                "{m}"
            );
        }
        other => panic!("expected a missing file, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(30));
    // The executor that sees the catalogue is not stuck with the failed job's tasks.
    let (after, u) = wait_until_idle_within(
        cluster.executors[0].pid(),
        Instant::now(),
        "the failed job",
        Duration::from_secs(5),
    )
    .await;
    eprintln!("healthy executor idle ({u:.3} cores) after {after:?}");
}

/// Apache httpd (Debian's `apache2`) serving `root` read-only over WebDAV on 127.0.0.1.
struct WebDav {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
    dir: tempfile::TempDir,
}

impl WebDav {
    fn start(root: &std::path::Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        // The server's workers run as www-data: they write the lock database here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let d = dir.path().display();
        let conf = dir.path().join("httpd.conf");
        let m = "/usr/lib/apache2/modules";
        std::fs::write(
            &conf,
            format!(
                "Listen 127.0.0.1:{port}\nServerName 127.0.0.1\nPidFile {d}/httpd.pid\n\
                 ErrorLog {d}/error.log\n\
                 LoadModule mpm_event_module {m}/mod_mpm_event.so\n\
                 LoadModule authz_core_module {m}/mod_authz_core.so\n\
                 LoadModule dav_module {m}/mod_dav.so\n\
                 LoadModule dav_fs_module {m}/mod_dav_fs.so\n\
                 User www-data\nGroup www-data\nDocumentRoot \"{root}\"\n\
                 DavLockDB \"{d}/davlock\"\nDavDepthInfinity On\n\
                 CustomLog {d}/access.log \"%{{Host}}i \\\"%r\\\" %>s %{{Range}}i\"\n\
                 <Directory \"{root}\">\n  Dav On\n  Require all denied\n\
                 <Limit GET HEAD OPTIONS PROPFIND>\n    Require all granted\n  </Limit>\n\
                 </Directory>\n",
                root = root.display()
            ),
        )
        .unwrap();
        let child = Command::new("apache2")
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("apache2 (Debian package apache2; scripts/install-test-deps.sh installs it)");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "apache2 did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        WebDav {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for WebDav {
    fn drop(&mut self) {
        // SIGTERM: the parent stops its www-data workers.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Catalogue tables on an object store (here a WebDAV server; `s3://` URLs take the same
/// path): a table whose path is `http://.../gaia_source/` is queried on a cluster whose two
/// executors cannot see the catalogue's directory (hidden in their own mount namespaces), so
/// every byte comes over HTTP; the answers equal the local demo catalogue's, both executors
/// ran tasks, and the server's log shows their ranged reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_on_an_object_store() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    // A world-readable copy of the demo gaia_source for the server's www-data workers.
    let www = tempfile::tempdir().unwrap();
    let table = www.path().join("gaia_source");
    std::fs::create_dir(&table).unwrap();
    let source = f.data_dir.join("demo/gaiadr3/gaia_source");
    for entry in std::fs::read_dir(&source).unwrap().flatten() {
        std::fs::copy(entry.path(), table.join(entry.file_name())).unwrap();
    }
    for p in [www.path(), table.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let dav = WebDav::start(www.path());
    let hide = hiding(&[&f.data_dir, www.path()]);
    let cluster = Cluster::start_with(Setup {
        executors: vec![(hide.clone(), vec![]), (hide, vec![])],
        ..Default::default()
    });
    let config = format!(
        "[engine]\nmode = \"ballista\"\nscheduler = \"{}\"\n\
         [[catalog.table]]\nname = \"web.gaia_source\"\npath = \"{}/gaia_source/\"\n",
        cluster.url, dav.url
    );
    let settings = crate::common::settings_from_toml(&config, www.path().to_path_buf());
    let catalog = parallax::app::load_catalog(&settings)
        .await
        .expect("catalogue over WebDAV");
    let engine = Engine::build(catalog, &cluster.mode(), 0)
        .await
        .expect("engine");
    let local = local_engine().await;
    for (web, disk) in [
        (
            "SELECT COUNT(*), SUM(phot_g_mean_mag) FROM web.gaia_source WHERE ra > 10",
            "SELECT COUNT(*), SUM(phot_g_mean_mag) FROM gaiadr3.gaia_source WHERE ra > 10",
        ),
        (
            "SELECT TOP 5 source_id, ra, dec FROM web.gaia_source \
             WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 180, 0, 10)) \
             ORDER BY source_id",
            "SELECT TOP 5 source_id, ra, dec FROM gaiadr3.gaia_source \
             WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 180, 0, 10)) \
             ORDER BY source_id",
        ),
    ] {
        let got = rows(&engine, web).await.unwrap_or_else(|e| {
            panic!(
                "{web}: {e}\n--- scheduler ---\n{}",
                tail(&cluster.scheduler.log(), 30)
            )
        });
        assert_eq!(got, rows(&local, disk).await.unwrap(), "{web}");
    }
    for (i, e) in cluster.executors.iter().enumerate() {
        assert!(e.log().contains("Execute task"), "executor {i} ran no task");
    }
    let log = dav.access_log();
    let ranged = log
        .lines()
        .filter(|l| l.contains("\"GET /gaia_source/") && l.contains("bytes="))
        .count();
    eprintln!(
        "object store: {ranged} ranged GETs, {} PROPFINDs",
        log.matches("PROPFIND").count()
    );
    assert!(ranged > 0, "no ranged reads in the server's log:\n{log}");
}

/// A Flight SQL client that gives up on its DoGet of a query running on the cluster cancels the
/// Ballista job: both executors are idle again within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giving_up_on_a_flight_query_frees_the_executors() {
    let cluster = Cluster::start(2);
    let dir = tempfile::tempdir().unwrap();
    let server = front_end(
        &cluster,
        &dir.path().join("jobs"),
        "[flight]\nlisten = \"127.0.0.1:0\"\n",
    );
    let mut c = crate::flight::connect(&server.flight_addr(), None).await;
    let info = c.execute(BUSY_JOIN.to_string(), None).await.expect("plan");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    // In Ballista mode the answer to DoGet comes once the job is done (the front end checks
    // the cluster before it streams): the client gives up while it waits, dropping the call.
    let reader = tokio::spawn(async move {
        let stream = c.do_get(ticket).await?;
        stream.try_collect::<Vec<_>>().await.map(|b| b.len())
    });
    // Both executors busy.
    let pids: Vec<u32> = cluster.executors.iter().map(Proc::pid).collect();
    let busy = wait_until_busy(&pids).await;
    eprintln!("flight drop: executors busy {busy:?} cores");
    let t0 = Instant::now();
    reader.abort();
    assert!(
        reader.await.is_err(),
        "the query ended before the client gave up"
    );
    for (i, pid) in pids.iter().enumerate() {
        let (after, u) =
            wait_until_idle_within(*pid, t0, "dropping the call", Duration::from_secs(5)).await;
        eprintln!(
            "flight drop: executor {i} idle ({u:.3} cores) {:.0} ms after the drop",
            after.as_secs_f64() * 1000.0
        );
    }
    assert!(
        cluster
            .scheduler
            .log()
            .contains("cancellation request for job"),
        "the scheduler got no CancelJob"
    );
}

/// A `moto_server` (the S3 protocol on 127.0.0.1, from PyPI's moto; the test machines have no
/// other S3 server) with one bucket holding a copy of the demo gaia_source.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    async fn start(bucket: &str, table_dir: &std::path::Path) -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; scripts/install-test-deps.sh)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let server = S3Server { child, endpoint };
        // moto accepts unsigned requests: create the bucket and upload the files.
        let http = reqwest::Client::new();
        let put = |url: String, body: Vec<u8>| {
            let http = http.clone();
            async move {
                let r = http.put(&url).body(body).send().await.expect("PUT");
                assert!(r.status().is_success(), "PUT {url}: {}", r.status());
            }
        };
        put(format!("{}/{bucket}", server.endpoint), Vec::new()).await;
        for entry in std::fs::read_dir(table_dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let body = std::fs::read(entry.path()).unwrap();
            put(
                format!("{}/{bucket}/gaia_source/{name}", server.endpoint),
                body,
            )
            .await;
        }
        server
    }

    /// The AWS environment that points object_store's S3 client at this server.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "parallax-test"),
            ("AWS_SECRET_ACCESS_KEY", "parallax-test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A table on S3 (`s3://bucket/gaia_source/`, served by moto): a Ballista-mode front end and
/// two executors that cannot see the local catalogue, all configured from the AWS environment
/// variables, answer as the local demo catalogue does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_on_s3() {
    let f = fixture();
    let s3 = S3Server::start("gaia", &f.data_dir.join("demo/gaiadr3/gaia_source")).await;
    let env = s3.env();
    let hide = hiding(&[&f.data_dir]);
    let cluster = Cluster::start_with(Setup {
        env: env.clone(),
        executors: vec![(hide.clone(), vec![]), (hide, vec![])],
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = front_end_with_env(
        &cluster,
        &dir.path().join("jobs"),
        "[[catalog.table]]\nname = \"s3.gaia_source\"\npath = \"s3://gaia/gaia_source/\"\n",
        &env_refs,
    );
    for query in [
        "SELECT COUNT(*), SUM(phot_g_mean_mag) FROM {} WHERE ra > 10",
        "SELECT TOP 5 source_id, ra, dec FROM {} \
         WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 180, 0, 10)) \
         ORDER BY source_id",
    ] {
        let on_s3 = csv(&server.base, &query.replace("{}", "s3.gaia_source")).await;
        let local = csv(&f.url(""), &query.replace("{}", "gaiadr3.gaia_source")).await;
        assert_eq!(on_s3, local, "{query}");
        assert!(on_s3.lines().count() > 1, "{on_s3}");
    }
    for (i, e) in cluster.executors.iter().enumerate() {
        assert!(e.log().contains("Execute task"), "executor {i} ran no task");
    }
}
