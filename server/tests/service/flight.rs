//! Arrow Flight SQL against the real server (127.0.0.1:0): ADQL and SQL statements give the
//! same rows as TAP `/sync`, the catalogue metadata commands, error statuses, the read-only
//! escape suite over Flight SQL and TAP, and cancellation when a client drops a stream.

use std::time::Duration;

use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, SqlInfo};
use arrow_flight::{FlightInfo, Ticket};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ipc::reader::StreamReader;
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::common::{client, fixture};

pub(crate) async fn connect(addr: &str, lang: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect to Flight SQL");
    let mut c = FlightSqlServiceClient::new(channel);
    if let Some(lang) = lang {
        c.set_header("x-parallax-lang", lang);
    }
    c
}

async fn flight(lang: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let addr = fixture().flight.expect("the fixture serves Flight SQL");
    connect(&addr.to_string(), lang).await
}

/// Fetches every endpoint of `info`.
async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for ep in info.endpoint {
        let ticket: Ticket = ep.ticket.expect("ticket");
        let stream = c.do_get(ticket).await.expect("do_get");
        out.extend(stream.try_collect::<Vec<_>>().await.expect("stream"));
    }
    out
}

/// "CODE message" of a failed Flight call (e.g. `InvalidArgument unknown column ...`).
fn describe(e: FlightError) -> String {
    match e {
        FlightError::Tonic(s) => format!("{:?} {}", s.code(), s.message()),
        other => other.to_string(),
    }
}

/// Runs `query` over Flight SQL; the error text ([`describe`]) on failure.
async fn run(lang: Option<&str>, query: &str) -> Result<(Schema, Vec<RecordBatch>), String> {
    let mut c = flight(lang).await;
    let info = c.execute(query.to_string(), None).await.map_err(describe)?;
    let schema = info.clone().try_decode_schema().expect("schema");
    let mut out = Vec::new();
    for ep in info.endpoint {
        let stream = c
            .do_get(ep.ticket.expect("ticket"))
            .await
            .map_err(describe)?;
        out.extend(stream.try_collect::<Vec<_>>().await.map_err(describe)?);
    }
    Ok((schema, out))
}

/// The same ADQL query over TAP `/sync` as Arrow IPC.
pub(crate) async fn sync_arrow(adql: &str) -> Vec<RecordBatch> {
    let r = client()
        .post(fixture().url("/sync"))
        .form(&[
            ("REQUEST", "doQuery"),
            ("LANG", "ADQL"),
            ("FORMAT", "arrow"),
            ("QUERY", adql),
        ])
        .send()
        .await
        .expect("sync");
    assert_eq!(r.status().as_u16(), 200, "sync {adql}");
    let body = r.bytes().await.expect("body");
    StreamReader::try_new(std::io::Cursor::new(body.to_vec()), None)
        .expect("arrow stream")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches")
}

/// Asserts equal values (ignoring field metadata and batch boundaries).
pub(crate) fn assert_same_rows(label: &str, got: &[RecordBatch], want: &[RecordBatch]) {
    let rows = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum::<usize>();
    assert_eq!(rows(got), rows(want), "{label}: row counts");
    if want.is_empty() {
        return;
    }
    let g = concat_batches(&got[0].schema(), got).expect("concat");
    let w = concat_batches(&want[0].schema(), want).expect("concat");
    assert_eq!(g.num_columns(), w.num_columns(), "{label}: columns");
    for i in 0..g.num_columns() {
        assert_eq!(
            g.column(i).to_data(),
            w.column(i).to_data(),
            "{label}: column {i} ({})",
            w.schema().field(i).name()
        );
    }
}

const SAME: &[(&str, &str)] = &[
    (
        "SELECT source_id, ra, dec, phot_g_mean_mag, parallax FROM gaiadr3.gaia_source \
         WHERE ra BETWEEN 10 AND 14 ORDER BY source_id",
        "SELECT source_id, ra, dec, phot_g_mean_mag, parallax FROM gaiadr3.gaia_source \
         WHERE ra BETWEEN 10 AND 14 ORDER BY source_id",
    ),
    (
        "SELECT TOP 7 source_id, phot_g_mean_mag FROM gaiadr3.gaia_source \
         ORDER BY phot_g_mean_mag, source_id",
        "SELECT source_id, phot_g_mean_mag FROM gaiadr3.gaia_source \
         ORDER BY phot_g_mean_mag, source_id LIMIT 7",
    ),
    (
        "SELECT COUNT(*) AS n, AVG(parallax) AS p FROM gaiadr3.gaia_source WHERE dec > 30",
        "SELECT COUNT(*) AS n, AVG(parallax) AS p FROM gaiadr3.gaia_source WHERE dec > 30",
    ),
];

#[tokio::test]
async fn adql_and_sql_return_the_same_rows_as_sync() {
    for (adql, sql) in SAME {
        let want = sync_arrow(adql).await;
        assert!(want.iter().map(RecordBatch::num_rows).sum::<usize>() > 0);
        let (_, by_adql) = run(None, adql).await.expect("adql");
        assert_same_rows(adql, &by_adql, &want);
        let (_, by_adql_header) = run(Some("adql"), adql).await.expect("adql header");
        assert_same_rows(adql, &by_adql_header, &want);
        let (_, by_sql) = run(Some("sql"), sql).await.expect("sql");
        assert_same_rows(sql, &by_sql, &want);
    }
}

#[tokio::test]
async fn results_stream_in_several_batches_with_ivoa_metadata() {
    let q = "SELECT source_id, ra, parallax FROM gaiadr3.gaia_source";
    let (schema, batches) = run(None, q).await.expect("query");
    assert!(batches.len() > 1, "one batch only: {}", batches.len());
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows as u64, crate::common::SOURCES);
    for s in [&schema, batches[0].schema().as_ref()] {
        let ra = s.field_with_name("ra").expect("ra");
        assert_eq!(ra.metadata().get("unit").map(String::as_str), Some("deg"));
        assert!(
            ra.metadata()
                .get("ucd")
                .is_some_and(|u| u.contains("pos.eq.ra"))
        );
        let plx = s.field_with_name("parallax").expect("parallax");
        assert!(plx.metadata().contains_key("description"), "{plx:?}");
    }
}

#[tokio::test]
async fn catalogue_metadata_commands() {
    let mut c = flight(None).await;
    let info = c.get_catalogs().await.expect("catalogs");
    let b = fetch(&mut c, info).await;
    assert_eq!(b[0].column(0).as_string::<i32>().value(0), "datafusion");

    let info = c
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .expect("schemas");
    let b = fetch(&mut c, info).await;
    let schemas: Vec<String> = b
        .iter()
        .flat_map(|b| {
            let a = b.column(1).as_string::<i32>();
            (0..a.len())
                .map(|i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(schemas.iter().any(|s| s == "gaiadr3"), "{schemas:?}");
    assert!(schemas.iter().any(|s| s == "TAP_SCHEMA"), "{schemas:?}");

    let info = c
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: Some("gaiadr3".into()),
            table_name_filter_pattern: Some("gaia%".into()),
            table_types: vec![],
            include_schema: true,
        })
        .await
        .expect("tables");
    let b = fetch(&mut c, info).await;
    let b = concat_batches(&b[0].schema(), &b).unwrap();
    let names = b.column(2).as_string::<i32>();
    let found: Vec<&str> = (0..names.len()).map(|i| names.value(i)).collect();
    assert_eq!(found, vec!["gaia_source"]);
    let ipc = b.column(4).as_binary::<i32>().value(0);
    let schema = arrow_flight::IpcMessage(ipc.to_vec().into());
    let schema = Schema::try_from(schema).expect("table schema");
    let ra = schema.field_with_name("ra").expect("ra");
    assert_eq!(ra.metadata().get("unit").map(String::as_str), Some("deg"));

    let info = c
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .expect("sql info");
    let b = fetch(&mut c, info).await;
    assert_eq!(b[0].num_rows(), 2);

    let info = c.get_table_types().await.expect("table types");
    assert!(!fetch(&mut c, info).await.is_empty());
}

#[tokio::test]
async fn foreign_keys_from_the_catalogue() {
    use arrow_flight::sql::{
        CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys,
    };
    let mut c = flight(None).await;
    let info = c
        .get_imported_keys(CommandGetImportedKeys {
            catalog: None,
            db_schema: Some("gaiadr3".into()),
            table: "epoch_photometry".into(),
        })
        .await
        .expect("imported keys");
    let b = fetch(&mut c, info).await;
    let b = concat_batches(&b[0].schema(), &b).unwrap();
    assert_eq!(b.num_rows(), 1);
    let col = |i: usize| b.column(i).as_string::<i32>().value(0).to_string();
    assert_eq!(col(2), "gaia_source"); // pk_table_name
    assert_eq!(col(3), "source_id"); // pk_column_name
    assert_eq!(col(6), "epoch_photometry"); // fk_table_name
    assert_eq!(col(7), "source_id"); // fk_column_name

    let info = c
        .get_exported_keys(CommandGetExportedKeys {
            catalog: None,
            db_schema: Some("gaiadr3".into()),
            table: "gaia_source".into(),
        })
        .await
        .expect("exported keys");
    let b = fetch(&mut c, info).await;
    let rows: usize = b.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 2, "xp_continuous_mean_spectrum and epoch_photometry");

    let info = c
        .get_primary_keys(CommandGetPrimaryKeys {
            catalog: None,
            db_schema: Some("gaiadr3".into()),
            table: "gaia_source".into(),
        })
        .await
        .expect("primary keys");
    let b = fetch(&mut c, info).await;
    assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
}

#[tokio::test]
async fn prepared_statements_without_parameters() {
    let mut c = flight(None).await;
    let mut p = c
        .prepare(
            "SELECT TOP 3 source_id FROM gaiadr3.gaia_source ORDER BY source_id".into(),
            None,
        )
        .await
        .expect("prepare");
    assert_eq!(p.dataset_schema().unwrap().fields().len(), 1);
    let info = p.execute().await.expect("execute");
    let b = fetch(&mut c, info).await;
    assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    p.close().await.expect("close");
}

#[tokio::test]
async fn bad_adql_is_invalid_argument_with_line_and_column() {
    let err = run(
        None,
        "SELECT ra FROM gaiadr3.gaia_source\nWHERE paralax > 1",
    )
    .await
    .unwrap_err();
    assert!(err.contains("InvalidArgument"), "{err}");
    assert!(err.contains("paralax"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("column"), "{err}");
    let err = run(None, "SELECT * FROM gaiadr3.no_such_table")
        .await
        .unwrap_err();
    assert!(err.contains("NotFound"), "{err}");
    let err = run(Some("cobol"), "SELECT 1").await.unwrap_err();
    assert!(
        err.contains("InvalidArgument") && err.contains("x-parallax-lang"),
        "{err}"
    );
    let err = run(Some("sql"), "SELEC 1").await.unwrap_err();
    assert!(err.contains("InvalidArgument"), "{err}");
}

#[tokio::test]
async fn malformed_tickets_and_handles_are_invalid_argument() {
    use arrow_flight::sql::{CommandPreparedStatementQuery, ProstMessageExt, TicketStatementQuery};
    use prost::Message;
    let mut c = flight(None).await;
    let tickets: Vec<Vec<u8>> = vec![
        b"garbage".to_vec(),
        TicketStatementQuery {
            statement_handle: "nope".into(),
        }
        .as_any()
        .encode_to_vec(),
        CommandPreparedStatementQuery {
            prepared_statement_handle: "parallax/1 fortran\nSELECT 1".into(),
        }
        .as_any()
        .encode_to_vec(),
    ];
    for t in tickets {
        let r = c.inner_mut().do_get(Ticket { ticket: t.into() }).await;
        let Err(status) = r else {
            panic!("a malformed ticket was accepted")
        };
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
}

/// Attempts to write, create, read files or URLs, or change settings. Every one must fail
/// cleanly as ADQL and as SQL over Flight SQL, and as ADQL over TAP `/sync`.
pub(crate) const ESCAPES: &[&str] = &[
    "CREATE TABLE t (a INT)",
    "CREATE TABLE t AS SELECT * FROM gaiadr3.gaia_source",
    "CREATE OR REPLACE TABLE gaiadr3.gaia_source AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "CREATE SCHEMA evil",
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
    "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'http://example.com/x.parquet'",
    "CREATE UNBOUNDED EXTERNAL TABLE t (a VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
    "INSERT INTO gaiadr3.gaia_source (source_id) VALUES (1)",
    "INSERT INTO gaiadr3.gaia_source SELECT * FROM gaiadr3.gaia_source",
    "UPDATE gaiadr3.gaia_source SET ra = 0",
    "DELETE FROM gaiadr3.gaia_source",
    "TRUNCATE TABLE gaiadr3.gaia_source",
    "DROP TABLE gaiadr3.gaia_source",
    "DROP SCHEMA gaiadr3 CASCADE",
    "DROP VIEW IF EXISTS v",
    "COPY gaiadr3.gaia_source TO '/tmp/parallax-escape.parquet'",
    "COPY (SELECT 1) TO '/tmp/parallax-escape.csv' STORED AS CSV",
    "SET datafusion.execution.target_partitions = 1",
    "SET datafusion.catalog.information_schema = true",
    "RESET datafusion.execution.batch_size",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'file:///etc/passwd'",
    "SELECT * FROM 'https://example.com/x.parquet'",
    "SELECT * FROM read_parquet('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_json('/etc/passwd')",
    "SELECT * FROM parquet_metadata('/etc/passwd')",
    "SELECT * FROM generate_series(1, 1000000000)",
    "SELECT * FROM range(1, 10)",
    "SELECT * FROM information_schema.df_settings",
    "SHOW ALL",
    "SELECT 1; DROP TABLE gaiadr3.gaia_source",
    "SELECT 1; SELECT 2",
    "EXPLAIN SELECT * FROM gaiadr3.gaia_source",
    "EXPLAIN ANALYZE SELECT * FROM gaiadr3.gaia_source",
    "DESCRIBE gaiadr3.gaia_source",
    "PREPARE p AS SELECT 1",
    "BEGIN TRANSACTION",
    "ALTER TABLE gaiadr3.gaia_source ADD COLUMN x INT",
    "SELECT 1 INTO evil",
];

#[tokio::test]
async fn escape_suite_fails_cleanly_everywhere() {
    assert!(ESCAPES.len() >= 30);
    let addr = fixture().flight.expect("flight").to_string();
    for lang in [None, Some("sql")] {
        let mut c = connect(&addr, lang).await;
        for q in ESCAPES {
            let r = c.execute((*q).to_string(), None).await;
            let err = match r {
                Err(e) => describe(e),
                Ok(info) => {
                    // Planning accepted it: DoGet must refuse before any row.
                    let t = info.endpoint[0].ticket.clone().expect("ticket");
                    match c.do_get(t).await {
                        Err(e) => describe(e),
                        Ok(s) => match s.try_collect::<Vec<_>>().await {
                            Err(e) => describe(e),
                            Ok(b) => panic!("{lang:?} {q}: ran and returned {} batches", b.len()),
                        },
                    }
                }
            };
            assert!(
                err.contains("InvalidArgument") || err.contains("NotFound"),
                "{lang:?} {q}: {err}"
            );
            assert!(!err.contains("panick"), "{lang:?} {q}: {err}");
            let first = err.lines().next().unwrap_or("");
            eprintln!(
                "escape {:<5} {q:<60.60} -> {first:.110}",
                lang.unwrap_or("adql")
            );
        }
    }
    for q in ESCAPES {
        let (status, ctype, body) =
            crate::common::sync(&[("REQUEST", "doQuery"), ("LANG", "ADQL"), ("QUERY", q)]).await;
        assert_eq!(status, 400, "TAP {q}: {body}");
        assert!(ctype.contains("votable"), "TAP {q}: {ctype}");
        assert!(
            body.contains("QUERY_STATUS") && body.contains("ERROR"),
            "TAP {q}: {body}"
        );
    }
    for p in ["/tmp/parallax-escape.parquet", "/tmp/parallax-escape.csv"] {
        assert!(!std::path::Path::new(p).exists(), "{p} was written");
    }
    // The catalogue is intact.
    let (_, b) = run(None, "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source")
        .await
        .expect("count");
    let n = b[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0);
    assert_eq!(n as u64, crate::common::SOURCES);
}

/// A client that drops a DoGet stream stops the query: the server process's CPU time goes
/// idle within 2 s (measured from /proc, as in `process.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_stops_the_query() {
    use crate::process::{Server, cpu_use, wait_until_idle};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("jobs"),
        "[flight]\nlisten = \"127.0.0.1:0\"\n",
    );
    let pid = server.pid();
    let mut c = connect(&server.flight_addr(), None).await;
    let info = c
        .execute(crate::uws::ENDLESS.to_string(), None)
        .await
        .expect("plan");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let stream = c.do_get(ticket).await.expect("do_get");
    // Poll the stream in a task so the query runs; it produces no row for a very long time.
    let reader = tokio::spawn(async move { stream.try_collect::<Vec<_>>().await.map(|b| b.len()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = tokio::task::spawn_blocking(move || cpu_use(pid, Duration::from_millis(1000)))
        .await
        .unwrap();
    assert!(
        busy > 0.3,
        "the query does not load the CPU: {busy:.2} cores"
    );
    let t0 = std::time::Instant::now();
    reader.abort();
    let _ = reader.await;
    drop(c);
    // Idle: a 250 ms window with under 5% of a core, reached within 2 s of the drop.
    let (after, idle) = wait_until_idle(pid, t0, "dropping the stream").await;
    eprintln!(
        "flight drop: busy {busy:.2} cores while streaming; CPU idle ({idle:.3} cores) {:.0} ms \
         after the drop",
        after.as_secs_f64() * 1000.0
    );
    drop(server);
}

#[tokio::test]
async fn xdbc_types_cross_references_and_bad_commands() {
    use arrow_flight::FlightDescriptor;
    use arrow_flight::sql::{Any, CommandGetCrossReference, CommandGetXdbcTypeInfo};
    use prost::Message;
    let mut c = flight(None).await;
    let info = c
        .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
        .await
        .expect("xdbc");
    let b = fetch(&mut c, info).await;
    let b = concat_batches(&b[0].schema(), &b).unwrap();
    let names = b.column(0).as_string::<i32>();
    let names: Vec<&str> = (0..names.len()).map(|i| names.value(i)).collect();
    assert!(
        names.contains(&"BIGINT") && names.contains(&"DOUBLE"),
        "{names:?}"
    );
    let info = c
        .get_xdbc_type_info(CommandGetXdbcTypeInfo {
            data_type: Some(-5),
        })
        .await
        .expect("xdbc bigint");
    let b = fetch(&mut c, info).await;
    assert_eq!(b.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);

    let cross = |pk: &str, fk: &str| CommandGetCrossReference {
        pk_catalog: None,
        pk_db_schema: Some("gaiadr3".into()),
        pk_table: pk.into(),
        fk_catalog: None,
        fk_db_schema: Some("gaiadr3".into()),
        fk_table: fk.into(),
    };
    let info = c
        .get_cross_reference(cross("gaia_source", "epoch_photometry"))
        .await
        .expect("cross");
    let b = fetch(&mut c, info).await;
    let b = concat_batches(&b[0].schema(), &b).unwrap();
    assert_eq!(b.num_rows(), 1);
    assert_eq!(b.column(7).as_string::<i32>().value(0), "source_id");
    let info = c
        .get_cross_reference(cross("epoch_photometry", "gaia_source"))
        .await
        .expect("cross reversed");
    assert_eq!(
        fetch(&mut c, info)
            .await
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        0
    );

    // Unknown descriptors and tickets: clean statuses, never a panic.
    let e = c
        .inner_mut()
        .get_flight_info(FlightDescriptor::new_path(vec!["no-such-thing".into()]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let job = |type_url: &str, value: &[u8]| Ticket {
        ticket: Any {
            type_url: type_url.into(),
            value: value.to_vec().into(),
        }
        .encode_to_vec()
        .into(),
    };
    for (t, code) in [
        (
            job("parallax-job/1", b"doesnotexist"),
            tonic::Code::NotFound,
        ),
        (
            job("parallax-job/1", b"\xff\xfe"),
            tonic::Code::InvalidArgument,
        ),
        (
            job("parallax-job/1", b"../../etc/passwd"),
            tonic::Code::InvalidArgument,
        ),
        (
            job("example.com/Unknown", b""),
            tonic::Code::InvalidArgument,
        ),
    ] {
        let Err(status) = c.inner_mut().do_get(t).await else {
            panic!("a bad ticket was accepted");
        };
        assert_eq!(status.code(), code, "{status:?}");
    }
}
