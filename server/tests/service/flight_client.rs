//! The `parallax-flight-client` library and the `parallax query` command against real servers:
//! results identical to TAP `/sync`, files in every output format, clear errors and exit
//! codes, accounts (handshake, bearer, required authentication) over TLS, async job results
//! as Arrow over Flight and HTTP with per-user isolation, and the escape suite over the CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use futures::TryStreamExt;
use parallax_flight_client::{Client, ClientError, ConnectOptions, Credentials, Lang};
use tonic::Code;

use crate::common::{SOURCES, fixture, start_server};
use crate::flight::{ESCAPES, assert_same_rows, sync_arrow};
use crate::uws::raw_client;

const Q: &str = "SELECT source_id, ra, dec, phot_g_mean_mag FROM gaiadr3.gaia_source \
                 WHERE ra BETWEEN 20 AND 25 ORDER BY source_id";

fn url() -> String {
    format!("grpc://{}", fixture().flight.expect("flight"))
}

fn opts(url: &str, lang: Lang) -> ConnectOptions {
    ConnectOptions {
        url: url.to_string(),
        lang,
        ..Default::default()
    }
}

async fn collect(c: &mut Client, q: &str) -> Result<Vec<RecordBatch>, ClientError> {
    c.query(q).await?.try_collect().await
}

fn parallax(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(args)
        .env_remove("PARALLAX_TOKEN")
        .output()
        .expect("run parallax");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn rows(b: &[RecordBatch]) -> usize {
    b.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test]
async fn client_queries_match_sync_in_adql_and_sql() {
    let want = sync_arrow(Q).await;
    assert!(rows(&want) > 10);
    let mut adql = Client::connect(&opts(&url(), Lang::Adql))
        .await
        .expect("connect");
    let stream = adql.query(Q).await.expect("query");
    let unit = stream
        .schema()
        .field_with_name("ra")
        .expect("ra")
        .metadata()
        .get("unit")
        .cloned();
    assert_eq!(unit.as_deref(), Some("deg"));
    let got: Vec<RecordBatch> = stream.try_collect().await.expect("batches");
    assert_same_rows("client adql", &got, &want);

    let mut sql = Client::connect(&opts(&url(), Lang::Sql))
        .await
        .expect("connect");
    let got = collect(&mut sql, Q).await.expect("sql");
    assert_same_rows("client sql", &got, &want);

    // Prepared statement (no parameters) and the table listing.
    let mut p = adql.prepare(Q).await.expect("prepare");
    assert_eq!(p.dataset_schema().fields().len(), 4);
    let got: Vec<RecordBatch> = p.query().await.expect("run").try_collect().await.unwrap();
    assert_same_rows("client prepared", &got, &want);
    p.close().await.expect("close");
    let tables = adql.tables(Some("gaiadr3"), None).await.expect("tables");
    assert!(
        tables
            .iter()
            .any(|t| t.name == "gaia_source" && t.schema == "gaiadr3"),
        "{tables:?}"
    );
    assert!(tables.iter().all(|t| t.schema == "gaiadr3"), "{tables:?}");
}

#[tokio::test]
async fn client_errors_keep_status_and_position() {
    let mut c = Client::connect(&opts(&url(), Lang::Adql))
        .await
        .expect("connect");
    let e = collect(
        &mut c,
        "SELECT ra FROM gaiadr3.gaia_source\nWHERE paralax > 1",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("line 2") && text.contains("parallax"),
        "{text}"
    );
    let e = collect(&mut c, "SELECT * FROM gaiadr3.nope")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::NotFound), "{e}");
    // A job that does not exist, and a malformed job id.
    let e = c.job_result("abc123").await.unwrap_err();
    assert_eq!(e.code(), Some(Code::NotFound), "{e}");
    let e = c.job_result("../../etc").await.unwrap_err();
    assert!(
        matches!(e.code(), Some(Code::InvalidArgument | Code::NotFound)),
        "{e}"
    );
    let e = Client::connect(&opts("http://127.0.0.1:1", Lang::Adql))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::BadUrl { .. }), "{e}");
}

#[test]
fn cli_query_prints_a_bounded_table() {
    let (code, out, err) = parallax(&[
        "query",
        "--url",
        &url(),
        "SELECT TOP 5 source_id, ra, designation FROM gaiadr3.gaia_source ORDER BY source_id",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("source_id") && lines[0].contains("| ra"),
        "{out}"
    );
    assert!(lines[1].starts_with("---"), "{out}");
    assert_eq!(lines.len(), 2 + 5 + 1, "{out}");
    assert_eq!(*lines.last().unwrap(), "(5 rows)");
    // The row limit for the terminal; SQL mode.
    let (code, out, err) = parallax(&[
        "query",
        "--url",
        &url(),
        "--sql",
        "--max-rows",
        "3",
        "SELECT source_id FROM gaiadr3.gaia_source",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2 + 3 + 1, "{out}");
    assert!(out.contains("first 3 rows shown"), "{out}");
}

/// Reads an Arrow IPC stream file.
fn read_arrow(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).expect("open");
    StreamReader::try_new(f, None)
        .expect("arrow")
        .collect::<Result<_, _>>()
        .expect("batches")
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let f = std::fs::File::open(path).expect("open");
    ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

#[tokio::test]
async fn cli_query_writes_every_format() {
    let want = sync_arrow(Q).await;
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| dir.path().join(name);
    for name in ["r.parquet", "r.csv", "r.arrow", "r.vot"] {
        let path = out(name);
        let (code, _, err) =
            parallax(&["query", "--url", &url(), "--out", path.to_str().unwrap(), Q]);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(
            err.contains(&format!("{} rows written", rows(&want))),
            "{name}: {err}"
        );
    }
    assert_same_rows("parquet", &read_parquet(&out("r.parquet")), &want);
    assert_same_rows("arrow", &read_arrow(&out("r.arrow")), &want);
    let csv = std::fs::read_to_string(out("r.csv")).unwrap();
    assert_eq!(csv.lines().count(), rows(&want) + 1);
    assert!(
        csv.starts_with("source_id,ra,dec,phot_g_mean_mag"),
        "{}",
        &csv[..80]
    );
    let vot = std::fs::read_to_string(out("r.vot")).unwrap();
    assert!(
        vot.contains("<BINARY2>") && vot.contains("unit=\"deg\""),
        "{}",
        &vot[..400]
    );
}

#[test]
fn cli_query_errors_are_clear_with_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let bad_out = dir.path().join("x.xlsx");
    let failed_out = dir.path().join("failed.parquet");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--url".into(),
                "grpc://127.0.0.1:1".into(),
                "SELECT 1".into(),
            ],
            "cannot connect",
        ),
        (
            vec!["--url".into(), "ftp://x".into(), "SELECT 1".into()],
            "bad URL",
        ),
        (
            vec![
                "--url".into(),
                url(),
                "SELECT ra FROM gaiadr3.gaia_source\nWHERE paralax > 1".into(),
            ],
            "line 2",
        ),
        (
            vec![
                "--url".into(),
                url(),
                "--out".into(),
                bad_out.display().to_string(),
                "SELECT 1".into(),
            ],
            "unknown extension",
        ),
        (
            vec![
                "--url".into(),
                url(),
                "--out".into(),
                failed_out.display().to_string(),
                "SELECT * FROM gaiadr3.nope".into(),
            ],
            "NotFound",
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["query".to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let (code, out, err) = parallax(&refs);
        assert_ne!(code, 0, "{all:?}: {out}");
        assert!(err.contains(expect), "{all:?}: {err}");
        assert!(!err.contains("panicked"), "{all:?}: {err}");
    }
    assert!(!bad_out.exists() && !failed_out.exists());
}

/// The escape suite through both CLI routes: `parallax query` (ADQL and `--sql`) against the
/// running server and `parallax adql translate` in process. Nothing may be written.
#[test]
fn escape_suite_fails_cleanly_over_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary.csv");
    let canary_text = canary.display().to_string();
    let mut attempts: Vec<String> = ESCAPES.iter().map(|s| s.to_string()).collect();
    attempts.push(format!("COPY (SELECT 1) TO '{canary_text}' STORED AS CSV"));
    attempts.push(format!(
        "CREATE EXTERNAL TABLE c STORED AS CSV LOCATION '{canary_text}'"
    ));
    attempts.push(format!("INSERT INTO '{canary_text}' VALUES (1)"));
    assert!(attempts.len() >= 30);
    for q in &attempts {
        for mode in [None, Some("--sql")] {
            let mut args = vec!["query", "--url"];
            let u = url();
            args.push(&u);
            args.extend(mode);
            args.push(q);
            let (code, out, err) = parallax(&args);
            assert_ne!(code, 0, "{mode:?} {q}: ran: {out}");
            assert!(
                err.contains("InvalidArgument") || err.contains("NotFound"),
                "{mode:?} {q}: {err}"
            );
            assert!(
                !err.contains("panicked") && !err.contains("Internal"),
                "{q}: {err}"
            );
        }
    }
    // `parallax adql translate` plans against the same catalogue: every attempt is refused.
    let data = fixture().data_dir.to_string_lossy().to_string();
    let n = SOURCES.to_string();
    let mut args = vec![
        "adql",
        "translate",
        "--data-dir",
        &data,
        "--demo-sources",
        &n,
    ];
    args.extend(attempts.iter().map(String::as_str));
    let (code, out, err) = parallax(&args);
    assert_eq!(code, 1, "{err}");
    assert!(out.trim().is_empty(), "a plan was printed: {out}");
    assert!(!err.contains("panicked"), "{err}");
    for p in [
        canary.as_path(),
        Path::new("/tmp/parallax-escape.parquet"),
        Path::new("/tmp/parallax-escape.csv"),
    ] {
        assert!(!p.exists(), "{} was written", p.display());
    }
}

// --- accounts, TLS and job results ----------------------------------------------------------

struct Secured {
    http: String,
    flight: String,
    ca: PathBuf,
}

/// A server requiring basic authentication (alice, bob) with Flight SQL over TLS, using a
/// self-signed certificate made with the openssl command.
fn secured() -> &'static Secured {
    static S: OnceLock<Secured> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let text = format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[demo]\nsources = {SOURCES}\n\
             [limits]\nmaxrec_default = 5000\nmaxrec_hard = 5000\n\
             [jobs]\ndir = \"{}\"\n\
             [flight]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
             [auth]\nmode = \"basic\"\nrequired = true\n\
             [[auth.users]]\nname = \"alice\"\npassword_hash = \"{}\"\n\
             [[auth.users]]\nname = \"bob\"\npassword_hash = \"{}\"\n",
            dir.join("jobs").display(),
            cert.display(),
            key.display(),
            parallax::auth::hash_password("alice-pw"),
            parallax::auth::hash_password("bob-pw"),
        );
        let settings = crate::common::settings_from_toml(&text, dir.clone());
        let (http, flight) = start_server(settings);
        Secured {
            http: format!("http://{http}/tap"),
            flight: format!("grpc+tls://127.0.0.1:{}", flight.expect("flight").port()),
            ca: cert,
        }
    })
}

fn secured_opts(credentials: Credentials) -> ConnectOptions {
    let s = secured();
    ConnectOptions {
        url: s.flight.clone(),
        credentials,
        tls_ca_pem: Some(std::fs::read(&s.ca).expect("ca")),
        lang: Lang::Adql,
    }
}

fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        user: user.into(),
        password: password.into(),
    }
}

fn basic_header(user: &str, password: &str) -> String {
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {v}")
}

#[tokio::test]
async fn accounts_and_tls_over_flight_and_the_cli() {
    let s = secured();
    let q = "SELECT TOP 3 source_id FROM gaiadr3.gaia_source ORDER BY source_id";
    // The handshake exchanges the password for a session token used on later calls.
    let mut alice = Client::connect(&secured_opts(basic("alice", "alice-pw")))
        .await
        .expect("alice");
    assert_eq!(rows(&collect(&mut alice, q).await.expect("query")), 3);
    // Anonymous calls and wrong credentials are Unauthenticated, with a clear message.
    let mut anon = Client::connect(&secured_opts(Credentials::None))
        .await
        .expect("tls connect");
    let e = collect(&mut anon, q).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::Unauthenticated), "{e}");
    assert!(e.to_string().contains("requires authentication"), "{e}");
    let e = Client::connect(&secured_opts(basic("alice", "wrong")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::Unauthenticated), "{e}");
    assert!(e.to_string().contains("wrong user name or password"), "{e}");
    let mut forged = Client::connect(&secured_opts(Credentials::Bearer(
        "pxs1.616c696365.9999999999.00".into(),
    )))
    .await
    .expect("connect");
    let e = collect(&mut forged, q).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::Unauthenticated), "{e}");
    // Without the CA the certificate is not trusted; plain gRPC to a TLS port fails.
    let mut untrusted = secured_opts(basic("alice", "alice-pw"));
    untrusted.tls_ca_pem = None;
    assert!(Client::connect(&untrusted).await.is_err());
    let mut plain = secured_opts(basic("alice", "alice-pw"));
    plain.tls_ca_pem = None;
    plain.url = plain.url.replace("grpc+tls://", "grpc://");
    assert!(Client::connect(&plain).await.is_err());
    // Results longer than limits.maxrec_hard: the first 5000 rows, then ResourceExhausted.
    let mut stream = alice
        .query("SELECT source_id FROM gaiadr3.gaia_source")
        .await
        .expect("big");
    let mut got = 0;
    let end = loop {
        match futures::StreamExt::next(&mut stream).await {
            Some(Ok(b)) => got += b.num_rows(),
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    assert_eq!(got, 5000);
    let end = end.expect("an overflow error");
    assert_eq!(end.code(), Some(Code::ResourceExhausted), "{end}");
    assert!(end.to_string().contains("maxrec_hard"), "{end}");
    // The same switch guards TAP: anonymous /sync is 401.
    let r = raw_client()
        .post(format!("{}/sync", s.http))
        .form(&[("LANG", "ADQL"), ("QUERY", q)])
        .send()
        .await
        .expect("sync");
    assert_eq!(r.status().as_u16(), 401);

    // The CLI: --user/--password-file and --tls-ca.
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "alice-pw\n").unwrap();
    let ca = s.ca.display().to_string();
    let pw_s = pw.display().to_string();
    let base = ["query", "--url", s.flight.as_str(), "--tls-ca", ca.as_str()];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend(extra);
        parallax(&a)
    };
    let (code, out, err) = run(&["--user", "alice", "--password-file", &pw_s, q]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(3 rows)"), "{out}");
    let (code, _, err) = run(&[q]);
    assert_ne!(code, 0);
    assert!(err.contains("Unauthenticated"), "{err}");
    std::fs::write(&pw, "nope\n").unwrap();
    let (code, _, err) = run(&["--user", "alice", "--password-file", &pw_s, q]);
    assert_ne!(code, 0);
    assert!(err.contains("Unauthenticated"), "{err}");
}

/// Submits an async job as `user` with RESPONSEFORMAT `format` and waits until it completes.
async fn completed_job(user: &str, password: &str, query: &str, format: &str) -> String {
    let s = secured();
    let auth = basic_header(user, password);
    let r = raw_client()
        .post(format!("{}/async", s.http))
        .header("authorization", &auth)
        .form(&[
            ("LANG", "ADQL"),
            ("QUERY", query),
            ("RESPONSEFORMAT", format),
            ("PHASE", "RUN"),
        ])
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status().as_u16(), 303);
    let job = r.headers()["location"].to_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let doc = raw_client()
            .get(format!("{job}?WAIT=5"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("job")
            .text()
            .await
            .unwrap();
        match crate::uws::tag(&doc, "phase") {
            Some("COMPLETED") => return job,
            Some("ERROR" | "ABORTED") => panic!("job failed: {doc}"),
            _ => assert!(std::time::Instant::now() < deadline, "job too slow: {doc}"),
        }
    }
}

#[tokio::test]
async fn async_job_results_as_arrow_for_their_owner_only() {
    let want = sync_arrow(Q).await;
    let mut alice = Client::connect(&secured_opts(basic("alice", "alice-pw")))
        .await
        .expect("alice");
    let mut bob = Client::connect(&secured_opts(basic("bob", "bob-pw")))
        .await
        .expect("bob");
    for format in ["parquet", "arrow"] {
        let job = completed_job("alice", "alice-pw", Q, format).await;
        let id = job.rsplit('/').next().unwrap().to_string();
        // Flight DoGet, by id and by job URL.
        for name in [id.as_str(), job.as_str()] {
            let s = alice.job_result(name).await.expect("job result");
            assert!(s.schema().field_with_name("ra").is_ok());
            let got: Vec<RecordBatch> = s.try_collect().await.expect("batches");
            assert_same_rows(format, &got, &want);
        }
        // Someone else's job does not exist for them.
        let e = bob.job_result(&id).await.unwrap_err();
        assert_eq!(e.code(), Some(Code::NotFound), "{e}");
        // HTTP: Accept: application/vnd.apache.arrow.stream.
        let r = raw_client()
            .get(format!("{job}/results/result"))
            .header("authorization", basic_header("alice", "alice-pw"))
            .header("accept", "application/vnd.apache.arrow.stream")
            .send()
            .await
            .expect("result");
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.apache.arrow.stream"
        );
        let body = r.bytes().await.unwrap();
        let got: Vec<RecordBatch> =
            StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None)
                .expect("arrow")
                .collect::<Result<_, _>>()
                .expect("batches");
        assert_same_rows("http arrow", &got, &want);
        let r = raw_client()
            .get(format!("{job}/results/result"))
            .header("authorization", basic_header("bob", "bob-pw"))
            .header("accept", "application/vnd.apache.arrow.stream")
            .send()
            .await
            .expect("result");
        assert_eq!(r.status().as_u16(), 404);
        // The CLI fetches it too.
        let s = secured();
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "alice-pw").unwrap();
        let out = dir.path().join("job.arrow");
        let (code, _, err) = parallax(&[
            "query",
            "--url",
            &s.flight,
            "--tls-ca",
            &s.ca.display().to_string(),
            "--user",
            "alice",
            "--password-file",
            &pw.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--job",
            &id,
        ]);
        assert_eq!(code, 0, "{err}");
        assert_same_rows("cli job", &read_arrow(&out), &want);
    }
    // A VOTable result is not read back as Arrow: a clear refusal.
    let job = completed_job(
        "alice",
        "alice-pw",
        "SELECT TOP 2 source_id FROM gaiadr3.gaia_source",
        "votable",
    )
    .await;
    let e = alice.job_result(&job).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::FailedPrecondition), "{e}");
    assert!(e.to_string().contains("RESPONSEFORMAT=arrow"), "{e}");
    let n = collect(&mut alice, "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source")
        .await
        .expect("count");
    assert_eq!(
        n[0].column(0).as_primitive::<Int64Type>().value(0) as u64,
        SOURCES
    );
}

fn one_row(columns: Vec<(&str, datafusion::arrow::array::ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).expect("batch")
}

#[tokio::test]
async fn prepared_sql_statements_bind_parameters() {
    use datafusion::arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::DataType;
    use std::sync::Arc;
    let mut c = Client::connect(&opts(&url(), Lang::Sql))
        .await
        .expect("connect");
    let ids = collect(
        &mut c,
        "SELECT source_id FROM gaiadr3.gaia_source ORDER BY source_id LIMIT 1 OFFSET 10",
    )
    .await
    .expect("ids");
    let id = ids[0].column(0).as_primitive::<Int64Type>().value(0);
    let want = sync_arrow(&format!(
        "SELECT source_id, ra FROM gaiadr3.gaia_source WHERE source_id = {id}"
    ))
    .await;
    assert_eq!(rows(&want), 1);
    let int64 = || Arc::new(Int64Array::from(vec![id])) as ArrayRef;
    let int32 = || Arc::new(Int32Array::from(vec![i32::try_from(id).unwrap_or(0)])) as ArrayRef;
    for q in [
        "SELECT source_id, ra FROM gaiadr3.gaia_source WHERE source_id = ?",
        "SELECT source_id, ra FROM gaiadr3.gaia_source WHERE source_id = $1",
    ] {
        let mut p = c.prepare(q).await.expect("prepare");
        assert_eq!(p.parameter_schema().fields().len(), 1, "{q}");
        assert_eq!(
            p.parameter_schema().field(0).data_type(),
            &DataType::Int64,
            "{q}"
        );
        p.bind(one_row(vec![("p", int64())])).await.expect("bind");
        let got: Vec<RecordBatch> = p.query().await.expect("run").try_collect().await.unwrap();
        assert_same_rows(q, &got, &want);
    }
    // A narrower integer type is cast to the parameter type (Int32 -> Int64).
    let mut p = c
        .prepare("SELECT source_id FROM gaiadr3.gaia_source WHERE source_id = ?")
        .await
        .unwrap();
    let r = p.bind(one_row(vec![("p", int32())])).await;
    assert!(r.is_ok(), "{r:?}");
    // Wrong type, wrong count, nothing bound: InvalidArgument with the reason.
    let mut p = c
        .prepare("SELECT source_id FROM gaiadr3.gaia_source WHERE source_id = ? AND ra > ?")
        .await
        .expect("prepare");
    assert_eq!(p.parameter_schema().fields().len(), 2);
    let e = p.query().await.expect_err("unbound parameters");
    assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
    let e = p
        .bind(one_row(vec![
            ("a", Arc::new(StringArray::from(vec!["abc"])) as ArrayRef),
            ("b", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
        ]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
    assert!(e.to_string().contains("$1"), "{e}");
    let e = p.bind(one_row(vec![("a", int64())])).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
    assert!(e.to_string().contains("2 parameter(s)"), "{e}");
    // ADQL has no placeholders: binding is refused.
    let mut adql = Client::connect(&opts(&url(), Lang::Adql))
        .await
        .expect("connect");
    let mut p = adql
        .prepare("SELECT TOP 1 source_id FROM gaiadr3.gaia_source")
        .await
        .expect("prepare");
    assert!(p.parameter_schema().fields().is_empty());
    let e = p.bind(one_row(vec![("a", int64())])).await.unwrap_err();
    assert_eq!(e.code(), Some(Code::InvalidArgument), "{e}");
    assert!(e.to_string().contains("ADQL"), "{e}");
}
