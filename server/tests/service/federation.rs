//! Federation (issue 8): a private PostgreSQL cluster on 127.0.0.1 holding a 2MASS-like table
//! near the demo's Gaia sources, and a second `parallax serve` process serving a table over
//! Flight SQL; a Parallax server joins both with the local `gaiadr3.gaia_source`.
//!
//! PostgreSQL comes from Debian (`scripts/install-test-deps.sh`); without its binaries the
//! PostgreSQL tests print a loud SKIPPED message and return.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::displayable;
use parallax::config::Settings;

use crate::common::{SOURCES, client, fixture, read, start_server};
use crate::process::Server;

const PASSWORD: &str = "fed-secret";

/// A private PostgreSQL cluster in a temporary directory, run as the `postgres` user when the
/// tests run as root (PostgreSQL refuses root).
pub(crate) struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub(crate) port: u16,
    log: PathBuf,
    as_postgres: bool,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    /// initdb + start, or `None` (with a loud message) when PostgreSQL is not installed.
    pub(crate) fn start(what: &str) -> Option<Cluster> {
        let Some(bin) = postgres_bin() else {
            eprintln!(
                "\n*** SKIPPED {what}: no PostgreSQL binaries under /usr/lib/postgresql/*/bin \
                 (scripts/install-test-deps.sh installs them) ***\n"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("parallax-pg-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let as_postgres = is_root();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).expect("pwfile");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown")
                .success();
            assert!(ok, "chown of the cluster directory failed");
        }
        let c = Cluster {
            bin,
            dir: dir.clone(),
            port: free_port(),
            log: dir.join("postgres.log"),
            as_postgres,
        };
        let data = dir.join("data");
        c.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                "--pwfile",
                &pwfile.to_string_lossy(),
                "--no-sync",
            ],
        );
        c.pg_ctl_start();
        c.watchdog();
        Some(c)
    }

    /// The shared cluster lives in a static and is never dropped: a detached shell stops it
    /// and removes its directory once this test process has exited.
    fn watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- {}", pg_ctl.display())
        } else {
            pg_ctl.display().to_string()
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} -D {dir}/data -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    /// A PostgreSQL tool, run as `postgres` when the tests run as root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub(crate) fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c log_statement=all -c fsync=off",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.dir.join("data").to_string_lossy(),
                "-l",
                &self.log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    pub(crate) fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.dir.join("data").to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// The server log (every statement: `log_statement=all`).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn connection(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    pub(crate) async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(
            &format!("{} password={PASSWORD}", self.connection()),
            tokio_postgres::NoTls,
        )
        .await
        .expect("connect to the test cluster");
        tokio::spawn(conn);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Gaia source of the demo catalogue.
#[derive(Clone, Copy)]
struct Source {
    id: i64,
    ra: f64,
    dec: f64,
}

/// The first `n` demo sources by `source_id`, read through the shared test server.
async fn demo_sources(n: usize) -> Vec<Source> {
    let f = fixture();
    let q =
        format!("SELECT TOP {n} source_id, ra, dec FROM gaiadr3.gaia_source ORDER BY source_id");
    let r = client()
        .post(f.url("/sync"))
        .form(&[("LANG", "ADQL"), ("FORMAT", "csv"), ("QUERY", q.as_str())])
        .send()
        .await
        .expect("request");
    let (status, _, body) = read(r).await;
    assert_eq!(status, 200, "{body}");
    body.lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            Source {
                id: v[0].parse().expect("id"),
                ra: v[1].parse().expect("ra"),
                dec: v[2].parse().expect("dec"),
            }
        })
        .collect()
}

/// Moves a position by `arcsec` towards position angle `pa` (radians), on the sphere.
fn offset(ra: f64, dec: f64, arcsec: f64, pa: f64) -> (f64, f64) {
    let d = (arcsec / 3600.0).to_radians();
    let (ra0, dec0) = (ra.to_radians(), dec.to_radians());
    let dec1 = (dec0.sin() * d.cos() + dec0.cos() * d.sin() * pa.cos()).asin();
    let ra1 = ra0 + (pa.sin() * d.sin() * dec0.cos()).atan2(d.cos() - dec0.sin() * dec1.sin());
    (ra1.to_degrees().rem_euclid(360.0), dec1.to_degrees())
}

/// Angular separation in degrees (haversine).
fn separation_deg(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (d1, d2) = (dec1.to_radians(), dec2.to_radians());
    let h = ((d2 - d1) / 2.0).sin().powi(2)
        + d1.cos() * d2.cos() * ((ra2 - ra1).to_radians() / 2.0).sin().powi(2);
    (2.0 * h.sqrt().min(1.0).asin()).to_degrees()
}

/// A row of `public.psc` as loaded.
struct PscRow {
    designation: String,
    ra: f64,
    dec: f64,
    /// As PostgreSQL stores it (`real`).
    j_m: f32,
}

/// A row of `public.obs`.
struct ObsRow {
    designation: String,
    band: &'static str,
    mag: f64,
}

/// The loaded 2MASS-like tables: expected crossmatch pairs (source_id, designation) within
/// 1 arcsec, the rows of `psc` and of its observations `obs`.
struct Loaded {
    pairs: BTreeSet<(i64, String)>,
    rows: usize,
    /// Rows with j_m < 12.25.
    bright: usize,
    psc: Vec<PscRow>,
    obs: Vec<ObsRow>,
}

/// Creates `public.psc` (a 2MASS point-source-like table): a counterpart within 0.8 arcsec
/// of every second of the first 3000 demo sources, plus decoys 30 arcsec away from others.
async fn load_twomass(c: &Cluster) -> Loaded {
    let sources = demo_sources(3000).await;
    assert_eq!(sources.len(), 3000);
    let db = c.client().await;
    db.batch_execute(
        "CREATE TABLE public.psc (
             designation text NOT NULL,
             raj2000 double precision NOT NULL,
             dej2000 double precision NOT NULL,
             j_m real,
             k_m numeric(6,3),
             ph_qual char(3),
             blob bytea,
             tags int4[]
         );
         COMMENT ON TABLE public.psc IS '2MASS-like point sources (test data)';
         COMMENT ON COLUMN public.psc.designation IS 'Source designation';",
    )
    .await
    .expect("create table");
    // Expected pairs against the whole demo catalogue (a counterpart may also fall within
    // 1 arcsec of a second Gaia source), found through a declination-sorted index.
    let mut all = demo_sources(SOURCES as usize).await;
    all.sort_by(|a, b| a.dec.total_cmp(&b.dec));
    let radius = 1.0 / 3600.0;
    let near = |ra: f64, dec: f64| -> Vec<i64> {
        let lo = all.partition_point(|s| s.dec < dec - radius);
        all[lo..]
            .iter()
            .take_while(|s| s.dec <= dec + radius)
            .filter(|s| separation_deg(ra, dec, s.ra, s.dec) <= radius)
            .map(|s| s.id)
            .collect()
    };
    let mut pairs = BTreeSet::new();
    let mut values = Vec::new();
    let mut psc = Vec::new();
    let mut bright = 0;
    for (i, s) in sources.iter().enumerate() {
        // A deterministic spread of offsets and angles.
        let (sep, matched) = if i % 2 == 0 {
            (0.05 + 0.75 * ((i * 37 % 101) as f64 / 100.0), true)
        } else if i % 3 == 0 {
            (30.0, false)
        } else {
            continue;
        };
        let pa = (i as f64 * 2.399_963).rem_euclid(std::f64::consts::TAU);
        let (ra, dec) = offset(s.ra, s.dec, sep, pa);
        let designation = format!("J{:09.5}{:+09.5}", ra, dec);
        let j_m = 8.0 + (i % 97) as f64 * 0.1;
        if j_m < 12.25 {
            bright += 1;
        }
        let found = near(ra, dec);
        assert_eq!(
            found.contains(&s.id),
            matched,
            "offset {sep} arcsec from {}",
            s.id
        );
        for id in found {
            pairs.insert((id, designation.clone()));
        }
        values.push(format!(
            "('{designation}', {ra:.12}, {dec:.12}, {j_m}, {:.3}, 'AAA', '\\x00ff', '{{1,2}}')",
            j_m - 0.9
        ));
        psc.push(PscRow {
            designation,
            ra: format!("{ra:.12}").parse().expect("ra"),
            dec: format!("{dec:.12}").parse().expect("dec"),
            j_m: j_m as f32,
        });
    }
    let rows = values.len();
    for chunk in values.chunks(500) {
        db.batch_execute(&format!(
            "INSERT INTO public.psc VALUES {}",
            chunk.join(",")
        ))
        .await
        .expect("insert");
    }
    let obs = load_observations(&db, &psc).await;
    Loaded {
        pairs,
        rows,
        bright,
        psc,
        obs,
    }
}

/// (Re)creates `public.obs`, observations of the `psc` sources: none for every fourth row,
/// else one to three, in bands J, H and K.
async fn load_observations(db: &tokio_postgres::Client, psc: &[PscRow]) -> Vec<ObsRow> {
    db.batch_execute(
        "DROP TABLE IF EXISTS public.obs;
         CREATE TABLE public.obs (
             designation text NOT NULL,
             band text NOT NULL,
             mag double precision NOT NULL,
             epoch integer NOT NULL
         );",
    )
    .await
    .expect("create obs");
    let mut obs = Vec::new();
    let mut values = Vec::new();
    for (k, row) in psc.iter().enumerate() {
        for j in 0..k % 4 {
            let band = ["J", "H", "K"][(k + j) % 3];
            let mag = f64::from(row.j_m) + 0.25 * j as f64 - 0.5;
            values.push(format!(
                "('{}', '{band}', {mag}, {})",
                row.designation,
                2000 + (k + j) % 5
            ));
            obs.push(ObsRow {
                designation: row.designation.clone(),
                band,
                mag,
            });
        }
    }
    for chunk in values.chunks(500) {
        db.batch_execute(&format!(
            "INSERT INTO public.obs VALUES {}",
            chunk.join(",")
        ))
        .await
        .expect("insert obs");
    }
    obs
}

/// Settings of a server over the demo catalogue plus the TOML `extra` (remote sources).
fn settings_with(extra: &str) -> Settings {
    let text = format!("[server]\nhttp = \"127.0.0.1:0\"\n[demo]\nsources = {SOURCES}\n{extra}");
    let jobs = tempfile::tempdir().expect("jobs").keep();
    let mut s = crate::common::settings_from_toml(&text, PathBuf::from("/"));
    s.jobs.dir = jobs;
    s
}

fn password_file(text: &str) -> PathBuf {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let p = dir.join("pw");
    std::fs::write(&p, format!("{text}\n")).expect("password file");
    p
}

fn postgres_source(
    name: &str,
    schema: &str,
    connection: &str,
    password: &Path,
    timeout: u64,
) -> String {
    format!(
        "[[catalog.postgres]]\nname = \"{name}\"\nschema = \"{schema}\"\n\
         connection = \"{connection}\"\npassword_file = \"{}\"\n\
         tables = [\"public.psc\", \"public.obs\", \"public.nosuch\"]\ntimeout = {timeout}\n\
         description = \"2MASS-like test catalogue in PostgreSQL\"\n\
         [catalog.postgres.table.psc.columns.raj2000]\nunit = \"deg\"\nucd = \"pos.eq.ra;meta.main\"\n\
         [catalog.postgres.table.psc.columns.dej2000]\nunit = \"deg\"\nucd = \"pos.eq.dec;meta.main\"\n",
        password.display()
    )
}

/// A port that accepts connections and never answers (a hung server); returns the port.
fn silent_listener() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// POSTs an ADQL query and returns (status, body).
async fn query(addr: SocketAddr, q: &str, format: &str, maxrec: Option<&str>) -> (u16, String) {
    let mut form = vec![("LANG", "ADQL"), ("FORMAT", format), ("QUERY", q)];
    if let Some(m) = maxrec {
        form.push(("MAXREC", m));
    }
    let r = client()
        .post(format!("http://{addr}/tap/sync"))
        .form(&form)
        .send()
        .await
        .expect("request");
    let (status, _, body) = read(r).await;
    (status, body)
}

async fn csv(addr: SocketAddr, q: &str) -> Vec<Vec<String>> {
    let (status, body) = query(addr, q, "csv", None).await;
    assert_eq!(status, 200, "{q}: {body}");
    body.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The shared cluster with `public.psc` loaded, and a server with sources `pg` (good),
/// `pgbad` (wrong password) and `pgdown` (nothing listens), started after the cluster.
struct PgSetup {
    cluster: Cluster,
    loaded: Loaded,
    addr: SocketAddr,
    settings: Settings,
}

fn pg_setup() -> Option<&'static PgSetup> {
    static SETUP: OnceLock<Option<PgSetup>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            // Set up on a thread of its own: the caller is inside a Tokio runtime.
            std::thread::spawn(pg_setup_now)
                .join()
                .expect("set-up thread")
        })
        .as_ref()
}

fn pg_setup_now() -> Option<PgSetup> {
    let cluster = Cluster::start("federation PostgreSQL tests")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let loaded = rt.block_on(load_twomass(&cluster));
    let good = password_file(PASSWORD);
    let bad = password_file("not-the-password");
    let down = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        free_port()
    );
    let slow = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        silent_listener()
    );
    let extra = format!(
        "{}{}{}{}",
        postgres_source("pg", "twomass", &cluster.connection(), &good, 5),
        postgres_source("pgbad", "badpw", &cluster.connection(), &bad, 5),
        postgres_source("pgdown", "down", &down, &good, 2),
        postgres_source("pgslow", "slow", &slow, &good, 1),
    );
    let settings = settings_with(&extra);
    let (addr, _) = start_server(settings.clone());
    Some(PgSetup {
        cluster,
        loaded,
        addr,
        settings,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossmatch_with_a_postgres_table() {
    let Some(s) = pg_setup() else { return };
    let q = "SELECT g.source_id, t.designation FROM gaiadr3.gaia_source AS g \
             JOIN twomass.psc AS t \
             ON 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), CIRCLE('ICRS', t.raj2000, t.dej2000, 1.0/3600))";
    let got: BTreeSet<(i64, String)> = csv(s.addr, q)
        .await
        .into_iter()
        .map(|r| (r[0].parse().expect("id"), r[1].clone()))
        .collect();
    assert_eq!(got.len(), s.loaded.pairs.len(), "pair count");
    assert_eq!(got, s.loaded.pairs);
    // Every second of the first 3000 sources has a counterpart (plus any close neighbours).
    assert!(s.loaded.pairs.len() >= 1500, "{}", s.loaded.pairs.len());

    // A count over the whole remote table agrees with what was loaded.
    let n = csv(s.addr, "SELECT COUNT(*) AS n FROM twomass.psc").await;
    assert_eq!(n[0][0], s.loaded.rows.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_columns_and_limits_run_in_postgres() {
    let Some(s) = pg_setup() else { return };
    let q = "SELECT designation, j_m FROM twomass.psc WHERE j_m < 12.25 AND ph_qual = 'AAA'";
    let rows = csv(s.addr, q).await;
    assert_eq!(rows.len(), s.loaded.bright);
    assert!(
        rows.iter()
            .all(|r| r[1].parse::<f64>().expect("j_m") < 12.25)
    );

    // PostgreSQL's statement log shows the column list, the WHERE clause and the limit
    // (MAXREC + 1) of the query Parallax sent.
    let log = s.cluster.log();
    let line = log
        .lines()
        .find(|l| l.contains("FROM \"public\".\"psc\"") && l.contains("12.25"))
        .unwrap_or_else(|| panic!("no pushed-down statement in the log:\n{log}"));
    assert!(
        line.contains("SELECT \"designation\", \"j_m\" FROM \"public\".\"psc\" WHERE"),
        "{line}"
    );
    assert!(line.contains("\"ph_qual\" = 'AAA'"), "{line}");
    assert!(line.contains("LIMIT 100001"), "{line}");
    assert!(!line.contains("blob"), "{line}");

    // The plan shows the same: one RemoteScanExec with the SQL, no local filter.
    let (catalog, federation) = parallax::app::load_federated(&s.settings)
        .await
        .expect("catalogue");
    let engine = parallax::engine::Engine::new(catalog).expect("engine");
    federation.register(engine.context()).expect("register");
    let plan = engine.physical_plan(q).await.expect("plan");
    let text = displayable(plan.as_ref()).indent(true).to_string();
    assert!(
        text.contains("RemoteScanExec: source=pg (postgres)"),
        "{text}"
    );
    assert!(!text.contains("FilterExec"), "{text}");

    // A filter that means something only here (an ADQL function) stays local.
    let q = "SELECT designation FROM twomass.psc \
             WHERE 1 = CONTAINS(POINT('ICRS', raj2000, dej2000), CIRCLE('ICRS', 10, 10, 1))";
    let plan = engine.physical_plan(q).await.expect("plan");
    let text = displayable(plan.as_ref()).indent(true).to_string();
    assert!(text.contains("FilterExec"), "{text}");
    assert!(!text.contains("WHERE"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_tables_in_tap_schema_with_mapped_types() {
    let Some(s) = pg_setup() else { return };
    let rows = csv(
        s.addr,
        "SELECT column_name, datatype, unit, ucd FROM TAP_SCHEMA.columns \
         WHERE table_name = 'twomass.psc' ORDER BY column_index",
    )
    .await;
    let got: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let want = [
        ("designation", "char"),
        ("raj2000", "double"),
        ("dej2000", "double"),
        ("j_m", "float"),
        ("k_m", "double"),
        ("ph_qual", "char"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>(),
        "bytea and int4[] are skipped, numeric is double"
    );
    assert_eq!(rows[1][2], "deg");
    assert_eq!(rows[1][3], "pos.eq.ra;meta.main");
    let t = csv(
        s.addr,
        "SELECT description FROM TAP_SCHEMA.tables WHERE table_name = 'twomass.psc'",
    )
    .await;
    assert_eq!(t[0][0], "2MASS-like point sources (test data)");
    // VOSI /tables lists it too.
    let r = client()
        .get(format!("http://{}/tap/tables", s.addr))
        .send()
        .await
        .expect("tables");
    let (status, _, body) = read(r).await;
    assert_eq!(status, 200);
    assert!(body.contains("twomass.psc"), "{body}");
    // Values arrive with their types.
    let v = csv(
        s.addr,
        "SELECT TOP 1 k_m, j_m FROM twomass.psc WHERE designation LIKE 'J%'",
    )
    .await;
    let (k, j): (f64, f64) = (v[0][0].parse().expect("k_m"), v[0][1].parse().expect("j_m"));
    assert!((j - 0.9 - k).abs() < 1e-3, "{k} {j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_remote_input_gives_clear_errors() {
    let Some(s) = pg_setup() else { return };
    let started = Instant::now();
    // Wrong password: the server started anyway; queries name the source and the reason.
    // A source that cannot be used is the service's problem, not the query's: 503.
    let (status, body) = query(s.addr, "SELECT * FROM badpw.psc", "votable/td", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("remote source 'pgbad'"), "{body}");
    assert!(body.contains("password authentication failed"), "{body}");
    // Nothing listens: named, within the timeout.
    let (status, body) = query(s.addr, "SELECT * FROM down.psc", "votable/td", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("remote source 'pgdown'"), "{body}");
    // A source that accepts connections but never answers: the timeout (1 s) names it.
    let t = Instant::now();
    let (status, body) = query(s.addr, "SELECT * FROM slow.psc", "votable/td", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("remote source 'pgslow' did not answer within 1 s"),
        "{body}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // A configured table that does not exist: the query's problem.
    let (status, body) = query(s.addr, "SELECT * FROM twomass.nosuch", "votable/td", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("has no table public.nosuch"), "{body}");
    // A skipped column (bytea) is an unknown column.
    let (status, body) = query(s.addr, "SELECT blob FROM twomass.psc", "votable/td", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("blob"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // More rows than MAXREC: the result stops at MAXREC with the overflow marker, and
    // PostgreSQL was asked for MAXREC + 1 rows only.
    let (status, body) = query(
        s.addr,
        "SELECT designation FROM twomass.psc",
        "votable/td",
        Some("7"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("<TR>").count(), 7, "{body}");
    assert!(body.contains("OVERFLOW"), "{body}");
    assert!(
        s.cluster
            .log()
            .contains("SELECT \"designation\" FROM \"public\".\"psc\" LIMIT 8"),
        "no LIMIT 8 in the statement log"
    );
    // Local tables are unaffected.
    let n = csv(s.addr, "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source").await;
    assert_eq!(n[0][0], SOURCES.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_suite() {
    let Some(cluster) = Cluster::start("postgres_stopped_mid_suite") else {
        return;
    };
    let db = cluster.client().await;
    db.batch_execute(
        "CREATE TABLE public.psc (designation text, raj2000 float8, dej2000 float8); \
         INSERT INTO public.psc VALUES ('a', 1, 2), ('b', 3, 4);",
    )
    .await
    .expect("load");
    drop(db);
    let pw = password_file(PASSWORD);
    let settings = settings_with(&postgres_source(
        "pg2",
        "archive",
        &cluster.connection(),
        &pw,
        3,
    ));
    let (addr, _) = start_server(settings);
    let q = "SELECT designation FROM archive.psc ORDER BY designation";
    assert_eq!(
        csv(addr, q).await,
        vec![vec!["a".to_string()], vec!["b".to_string()]]
    );

    cluster.stop();
    let started = Instant::now();
    let (status, body) = query(addr, q, "votable/td", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("remote source 'pg2'"), "{body}");
    assert!(body.contains("unavailable"), "{body}");
    // The same for a sub-query sent whole (a grouping).
    let grouped = "SELECT designation, COUNT(*) AS n FROM archive.psc GROUP BY designation";
    let (status, body) = query(addr, grouped, "votable/td", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("remote source 'pg2'"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Queries that do not touch it keep working.
    let n = csv(addr, "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source").await;
    assert_eq!(n[0][0], SOURCES.to_string());

    // Back up: the next query uses it again.
    cluster.pg_ctl_start();
    assert_eq!(csv(addr, q).await.len(), 2);
    assert_eq!(csv(addr, grouped).await.len(), 2);
}

/// The lines of PostgreSQL's statement log that contain `marker` (a constant only one test
/// sends).
fn logged(c: &Cluster, marker: &str) -> Vec<String> {
    c.log()
        .lines()
        .filter(|l| l.contains(marker))
        .map(str::to_string)
        .collect()
}

/// The physical plan of an ADQL query on an engine like the server's, as text.
async fn plan_text(settings: &Settings, q: &str) -> String {
    let (catalog, federation) = parallax::app::load_federated(settings)
        .await
        .expect("catalogue");
    let engine = parallax::engine::Engine::new(catalog).expect("engine");
    federation.register(engine.context()).expect("register");
    let plan = engine.physical_plan(q).await.expect("plan");
    displayable(plan.as_ref()).indent(true).to_string()
}

/// Observations per designation, for those with a `psc` row passing `keep`.
fn observation_counts(loaded: &Loaded, keep: impl Fn(&PscRow) -> bool) -> BTreeMap<String, usize> {
    let kept: BTreeSet<&str> = loaded
        .psc
        .iter()
        .filter(|r| keep(r))
        .map(|r| r.designation.as_str())
        .collect();
    let mut n = BTreeMap::new();
    for o in loaded
        .obs
        .iter()
        .filter(|o| kept.contains(o.designation.as_str()))
    {
        *n.entry(o.designation.clone()).or_insert(0) += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_aggregate_of_postgres_tables_run_in_postgres() {
    let Some(s) = pg_setup() else { return };
    // `99.125` is in no other test's query: it finds this query's statement in the log.
    let q = "SELECT o.band, COUNT(*) AS n, AVG(o.mag) AS mean_mag \
             FROM twomass.psc AS t JOIN twomass.obs AS o ON o.designation = t.designation \
             WHERE t.j_m < 12.25 AND o.mag < 99.125 GROUP BY o.band ORDER BY o.band";
    let rows = csv(s.addr, q).await;

    // The same computed here from the rows loaded.
    let bright: BTreeSet<&str> = s
        .loaded
        .psc
        .iter()
        .filter(|r| f64::from(r.j_m) < 12.25)
        .map(|r| r.designation.as_str())
        .collect();
    let mut want: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for o in s
        .loaded
        .obs
        .iter()
        .filter(|o| bright.contains(o.designation.as_str()))
    {
        let e = want.entry(o.band).or_default();
        e.0 += 1;
        e.1 += o.mag;
    }
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows.len(), want.len(), "{rows:?}");
    for (row, (band, (n, sum))) in rows.iter().zip(&want) {
        assert_eq!(
            (row[0].as_str(), row[1].as_str()),
            (*band, n.to_string().as_str())
        );
        let mean: f64 = row[2].parse().expect("mean");
        let expected = sum / *n as f64;
        assert!(
            (mean - expected).abs() < 1e-9,
            "{band}: {mean} vs {expected}"
        );
    }

    // PostgreSQL ran one statement holding the join and the grouping.
    let sent = logged(&s.cluster, "99.125");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    for part in [
        "JOIN",
        "GROUP BY",
        "\"public\".\"psc\"",
        "\"public\".\"obs\"",
    ] {
        assert!(sent[0].contains(part), "{part}: {}", sent[0]);
    }
    // The plan shows that SQL, and no local join or aggregate.
    let text = plan_text(&s.settings, q).await;
    assert!(
        text.contains("RemoteScanExec: source=pg (postgres), sql=SELECT"),
        "{text}"
    );
    assert!(text.contains("GROUP BY"), "{text}");
    assert!(
        !text.contains("HashJoinExec") && !text.contains("AggregateExec"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossmatch_with_postgres_subqueries() {
    let Some(s) = pg_setup() else { return };
    // An aggregated sub-query over two PostgreSQL tables, crossmatched with Gaia.
    let q = "SELECT g.source_id, x.designation, x.n FROM gaiadr3.gaia_source AS g JOIN \
             (SELECT t.designation, t.raj2000, t.dej2000, COUNT(*) AS n \
              FROM twomass.psc AS t JOIN twomass.obs AS o ON o.designation = t.designation \
              WHERE o.mag < 98.625 GROUP BY t.designation, t.raj2000, t.dej2000) AS x \
             ON 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), CIRCLE('ICRS', x.raj2000, x.dej2000, 1.0/3600))";
    let got: BTreeSet<(i64, String, usize)> = csv(s.addr, q)
        .await
        .into_iter()
        .map(|r| {
            (
                r[0].parse().expect("id"),
                r[1].clone(),
                r[2].parse().expect("n"),
            )
        })
        .collect();
    let counts = observation_counts(&s.loaded, |_| true);
    let want: BTreeSet<(i64, String, usize)> = s
        .loaded
        .pairs
        .iter()
        .filter_map(|(id, d)| counts.get(d).map(|n| (*id, d.clone(), *n)))
        .collect();
    assert!(want.len() > 500, "{}", want.len());
    assert_eq!(got, want);
    let sent = logged(&s.cluster, "98.625");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].contains("JOIN") && sent[0].contains("GROUP BY"),
        "{}",
        sent[0]
    );

    // A filtered and sorted sub-query of one table: the 300 brightest sources.
    let q = "SELECT g.source_id, x.designation FROM gaiadr3.gaia_source AS g JOIN \
             (SELECT TOP 300 designation, raj2000, dej2000 FROM twomass.psc \
              WHERE j_m < 98.375 ORDER BY j_m, raj2000) AS x \
             ON 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), CIRCLE('ICRS', x.raj2000, x.dej2000, 1.0/3600))";
    let got: BTreeSet<(i64, String)> = csv(s.addr, q)
        .await
        .into_iter()
        .map(|r| (r[0].parse().expect("id"), r[1].clone()))
        .collect();
    let mut by_j: Vec<&PscRow> = s.loaded.psc.iter().collect();
    by_j.sort_by(|a, b| a.j_m.total_cmp(&b.j_m).then(a.ra.total_cmp(&b.ra)));
    let top: BTreeSet<&str> = by_j[..300].iter().map(|r| r.designation.as_str()).collect();
    let want: BTreeSet<(i64, String)> = s
        .loaded
        .pairs
        .iter()
        .filter(|(_, d)| top.contains(d.as_str()))
        .cloned()
        .collect();
    assert!(want.len() > 50, "{}", want.len());
    assert_eq!(got, want);
    let sent = logged(&s.cluster, "98.375");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].contains("ORDER BY") && sent[0].contains("LIMIT 300"),
        "{}",
        sent[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallax_functions_over_postgres_tables_run_here() {
    let Some(s) = pg_setup() else { return };
    let q = "SELECT t.designation, o.n, \
             DISTANCE(POINT('ICRS', t.raj2000, t.dej2000), POINT('ICRS', 0, 0)) AS d \
             FROM twomass.psc AS t JOIN \
             (SELECT designation, COUNT(*) AS n FROM twomass.obs WHERE mag < 97.375 \
              GROUP BY designation) AS o ON o.designation = t.designation \
             WHERE t.j_m < 9";
    let rows = csv(s.addr, q).await;
    let counts = observation_counts(&s.loaded, |r| f64::from(r.j_m) < 9.0);
    assert!(counts.len() > 20, "{}", counts.len());
    assert_eq!(rows.len(), counts.len(), "{rows:?}");
    let psc: HashMap<&str, &PscRow> = s
        .loaded
        .psc
        .iter()
        .map(|r| (r.designation.as_str(), r))
        .collect();
    for r in &rows {
        assert_eq!(r[1], counts[&r[0]].to_string(), "{r:?}");
        let p = psc[r[0].as_str()];
        let d: f64 = r[2].parse().expect("distance");
        let want = separation_deg(p.ra, p.dec, 0.0, 0.0);
        assert!((d - want).abs() < 1e-9, "{r:?}: {want}");
    }
    // The join and the aggregate ran in PostgreSQL; DISTANCE ran here.
    let sent = logged(&s.cluster, "97.375");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let sql = sent[0].to_lowercase();
    assert!(sql.contains("join") && sql.contains("group by"), "{sql}");
    assert!(!sql.contains("distance") && !sql.contains("point"), "{sql}");
}

/// Writes a Parquet table of (source_id, period) for `ids`.
fn write_periods(path: &Path, ids: &[i64]) -> HashMap<i64, f64> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("source_id", DataType::Int64, false),
        Field::new("period", DataType::Float64, false),
    ]));
    let periods: Vec<f64> = ids
        .iter()
        .enumerate()
        .map(|(i, _)| 0.5 + (i % 40) as f64 * 0.1)
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(Float64Array::from(periods.clone())),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("parquet file");
    let mut w = ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    ids.iter().copied().zip(periods).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_with_a_table_of_another_parallax_over_flight_sql() {
    let sources = demo_sources(500).await;
    let dir = tempfile::tempdir().expect("tempdir").keep();
    // Every third source has a period; two ids that are not in the demo catalogue.
    let mut ids: Vec<i64> = sources.iter().step_by(3).map(|s| s.id).collect();
    ids.extend([7, 11]);
    let periods = write_periods(&dir.join("periods.parquet"), &ids);
    let remote = Server::start(
        &dir.join("jobs"),
        &format!(
            "[flight]\nlisten = \"127.0.0.1:0\"\n[[catalog.table]]\nname = \"survey.periods\"\npath = \"{}\"\n\
             [catalog.table.columns.period]\nunit = \"d\"\nucd = \"time.period\"\n",
            dir.join("periods.parquet").display()
        ),
    );
    let url = remote.flight.clone().expect("flight url");
    let settings = settings_with(&format!(
        "[[catalog.flightsql]]\nname = \"node2\"\nurl = \"{url}\"\ntables = [\"survey.periods\"]\ntimeout = 3\n"
    ));
    let (addr, _) = start_server(settings.clone());

    let q = "SELECT g.source_id, p.period FROM gaiadr3.gaia_source AS g \
             JOIN node2.periods AS p ON g.source_id = p.source_id WHERE p.period > 2.0";
    let got: BTreeSet<(i64, String)> = csv(addr, q)
        .await
        .into_iter()
        .map(|r| (r[0].parse().expect("id"), r[1].clone()))
        .collect();
    let want: BTreeSet<(i64, String)> = sources
        .iter()
        .filter_map(|s| {
            periods
                .get(&s.id)
                .filter(|p| **p > 2.0)
                .map(|p| (s.id, format!("{p:?}")))
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // The remote column metadata reaches TAP_SCHEMA.
    let m = csv(
        addr,
        "SELECT unit, ucd FROM TAP_SCHEMA.columns WHERE table_name = 'node2.periods' AND column_name = 'period'",
    )
    .await;
    assert_eq!(m, vec![vec!["d".to_string(), "time.period".to_string()]]);

    // An aggregate over the remote table runs at the other node, in its SQL dialect.
    let aq = "SELECT COUNT(*) AS n, AVG(period) AS mean, MAX(source_id) AS top \
              FROM node2.periods WHERE period > 2.0";
    let a = csv(addr, aq).await;
    let long: Vec<(i64, f64)> = periods
        .iter()
        .filter(|(_, p)| **p > 2.0)
        .map(|(id, p)| (*id, *p))
        .collect();
    let mean = long.iter().map(|(_, p)| p).sum::<f64>() / long.len() as f64;
    assert_eq!(a[0][0], long.len().to_string());
    assert!(
        (a[0][1].parse::<f64>().expect("mean") - mean).abs() < 1e-9,
        "{a:?}"
    );
    assert_eq!(
        a[0][2],
        long.iter()
            .map(|(id, _)| id)
            .max()
            .expect("ids")
            .to_string()
    );
    let text = plan_text(&settings, aq).await;
    assert!(
        text.contains("RemoteScanExec: source=node2 (flightsql), sql=SELECT")
            && text.contains("avg(")
            && !text.contains("AggregateExec"),
        "{text}"
    );

    // The remote process goes away: queries touching it fail naming it; others work.
    remote.kill();
    let started = Instant::now();
    let (status, body) = query(addr, q, "votable/td", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("remote source 'node2'"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let n = csv(addr, "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source").await;
    assert_eq!(n[0][0], SOURCES.to_string());
}
