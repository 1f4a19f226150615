"""Conformance tests with real TAP clients against the running `parallax serve`.

Each check compares what a client library parsed with an independent computation, so a wrong
writer, a wrong TAP_SCHEMA entry or a wrong aggregate fails the test.
"""
import io
import json
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import pyvo
import requests
from astropy.io.votable import parse as parse_votable

COLS = ["source_id", "ra", "dec", "parallax", "pmra", "phot_g_mean_mag", "bp_rp", "ruwe",
        "visibility_periods_used", "phot_variable_flag", "has_xp_continuous"]
BASE_QUERY = ("SELECT TOP 700 " + ", ".join(COLS) +
              " FROM gaiadr3.gaia_source ORDER BY source_id")


def sync(url, query, fmt, **extra):
    data = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, "FORMAT": fmt}
    data.update(extra)
    r = requests.post(url + "/sync", data=data, timeout=120)
    return r


@pytest.fixture(scope="module")
def reference(tap_url):
    """The base query as Parquet: the reference every other format must reproduce."""
    r = sync(tap_url, BASE_QUERY, "parquet")
    assert r.status_code == 200, r.text
    t = pq.read_table(io.BytesIO(r.content))
    assert t.num_rows == 700
    assert t.column_names == COLS
    return t


def as_float(values):
    return np.array([np.nan if v is None else float(v) for v in values])


def assert_same(ref, name, got):
    want = ref.column(name).to_pylist()
    got = list(got)
    assert len(got) == len(want), name
    if pa.types.is_floating(ref.column(name).type):
        np.testing.assert_allclose(as_float(got), as_float(want), rtol=1e-6, equal_nan=True,
                                   err_msg=name)
    else:
        norm = [None if (g is None or (isinstance(g, float) and np.isnan(g)) or g is np.ma.masked)
                else g for g in got]
        if pa.types.is_boolean(ref.column(name).type):
            norm = [None if g is None else bool(g) for g in norm]
        elif pa.types.is_integer(ref.column(name).type):
            norm = [None if g is None else int(g) for g in norm]
        else:
            norm = [None if g is None else str(g) for g in norm]
            want = [None if w is None else str(w) for w in want]
        assert norm == want, name


@pytest.mark.parametrize("fmt", ["votable/td", "votable/b2", "votable",
                                 "application/x-votable+xml;serialization=BINARY2"])
def test_votable_round_trip(tap_url, reference, fmt):
    r = sync(tap_url, BASE_QUERY, fmt)
    assert r.status_code == 200, r.text
    vot = parse_votable(io.BytesIO(r.content), verify="exception")
    table = vot.get_first_table()
    arr = table.array
    assert list(arr.dtype.names) == COLS
    info = {i.name: i.value for i in vot.resources[0].infos}
    assert info["QUERY_STATUS"] == "OK"
    for name in COLS:
        col = arr[name]
        values = [None if m else v for v, m in zip(col.data.tolist(), np.ma.getmaskarray(col))]
        assert_same(reference, name, values)
    # Column metadata from the catalogue reaches the FIELDs.
    ra = table.get_field_by_id_or_name("ra")
    assert str(ra.unit) == "deg"
    assert ra.ucd == "pos.eq.ra;meta.main"
    assert table.get_field_by_id_or_name("source_id").datatype == "long"


def test_csv_round_trip(tap_url, reference):
    r = sync(tap_url, BASE_QUERY, "csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    t = pacsv.read_csv(io.BytesIO(r.content))
    for name in COLS:
        assert_same(reference, name, t.column(name).to_pylist())


def test_tsv_round_trip(tap_url, reference):
    r = sync(tap_url, BASE_QUERY, "tsv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/tab-separated-values")
    t = pacsv.read_csv(io.BytesIO(r.content), parse_options=pacsv.ParseOptions(delimiter="\t"))
    for name in COLS:
        assert_same(reference, name, t.column(name).to_pylist())


def test_json_round_trip(tap_url, reference):
    r = sync(tap_url, BASE_QUERY, "json")
    assert r.status_code == 200
    doc = json.loads(r.content)
    names = [m["name"] for m in doc["metadata"]]
    assert names == COLS
    for i, name in enumerate(COLS):
        assert_same(reference, name, [row[i] for row in doc["data"]])


def test_arrow_round_trip(tap_url, reference):
    r = sync(tap_url, BASE_QUERY, "arrow")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    t = ipc.open_stream(io.BytesIO(r.content)).read_all()
    for name in COLS:
        assert_same(reference, name, t.column(name).to_pylist())
    assert t.schema.field("ra").metadata[b"unit"] == b"deg"


def test_pyvo_join_aggregate(tap_url):
    """A join plus aggregate through pyvo, checked against the raw rows fetched separately."""
    svc = pyvo.dal.TAPService(tap_url)
    q = ("SELECT g.phot_variable_flag AS flag, COUNT(*) AS n, AVG(g.phot_g_mean_mag) AS mean_g "
         "FROM gaiadr3.gaia_source AS g JOIN gaiadr3.epoch_photometry AS e "
         "ON e.source_id = g.source_id GROUP BY g.phot_variable_flag ORDER BY flag")
    res = svc.run_sync(q).to_table()
    assert len(res) >= 1
    raw = svc.run_sync("SELECT g.phot_variable_flag AS flag, g.phot_g_mean_mag AS g "
                       "FROM gaiadr3.gaia_source AS g JOIN gaiadr3.epoch_photometry AS e "
                       "ON e.source_id = g.source_id", maxrec=1_000_000).to_table()
    flags = np.array([str(f) for f in raw["flag"]])
    for row in res:
        sel = flags == str(row["flag"])
        assert int(row["n"]) == int(sel.sum())
        want = np.mean(np.asarray(raw["g"][sel], dtype=np.float64))
        np.testing.assert_allclose(float(row["mean_g"]), want, rtol=1e-9)


def test_pyvo_metadata(tap_url):
    svc = pyvo.dal.TAPService(tap_url)
    caps = svc.capabilities
    assert any(c.standardid.startswith("ivo://ivoa.net/std/TAP") for c in caps)
    names = [t.name for t in svc.tables]
    assert "gaiadr3.gaia_source" in names
    assert "TAP_SCHEMA.columns" in names
    assert svc.maxrec > 0 and svc.hardlimit >= svc.maxrec


def test_maxrec_overflow(tap_url):
    svc = pyvo.dal.TAPService(tap_url)
    res = svc.run_sync("SELECT source_id FROM gaiadr3.gaia_source", maxrec=10)
    assert len(res) == 10
    assert res.query_status == "OVERFLOW"


def test_error_is_reported_with_position(tap_url):
    svc = pyvo.dal.TAPService(tap_url)
    with pytest.raises(pyvo.dal.DALQueryError) as e:
        svc.run_sync("SELECT TOP 5 paralax FROM gaiadr3.gaia_source")
    assert "parallax" in str(e.value)


def test_stilts_tapquery(tap_url, tmp_path):
    """A join plus aggregate through STILTS (TOPCAT's TAP client), checked against raw rows."""
    out = tmp_path / "out.csv"
    q = ("SELECT COUNT(*) AS n, MAX(g.phot_g_mean_mag) AS gmax "
         "FROM gaiadr3.gaia_source AS g "
         "JOIN gaiadr3.xp_continuous_mean_spectrum AS x ON x.source_id = g.source_id "
         "WHERE g.parallax > 1")
    subprocess.run(["stilts", "tapquery", f"tapurl={tap_url}", f"adql={q}", "sync=true",
                    f"out={out}", "ofmt=csv"], check=True, timeout=300,
                   env={"JAVA_TOOL_OPTIONS": "-Djava.awt.headless=true", "PATH": "/usr/bin:/bin"})
    got = pacsv.read_csv(str(out))
    ref = pq.read_table(io.BytesIO(sync(tap_url, "SELECT parallax, phot_g_mean_mag, "
                                         "has_xp_continuous FROM gaiadr3.gaia_source",
                                         "parquet", MAXREC="10000000").content))
    plx = np.array(ref.column("parallax").to_pylist(), dtype=float)
    g = np.array(ref.column("phot_g_mean_mag").to_pylist(), dtype=float)
    xp = np.array(ref.column("has_xp_continuous").to_pylist(), dtype=bool)
    sel = (plx > 1) & xp
    assert sel.sum() > 0
    assert got.column("n")[0].as_py() == int(sel.sum())
    np.testing.assert_allclose(got.column("gmax")[0].as_py(), np.nanmax(g[sel]), rtol=1e-6)


def test_astroquery_tapplus(tap_url):
    from astroquery.utils.tap.core import TapPlus
    tap = TapPlus(url=tap_url, verbose=False)
    tables = tap.load_tables(verbose=False)
    names = [t.get_qualified_name() for t in tables]
    assert any(n.endswith("gaia_source") for n in names)
    job = tap.launch_job("SELECT TOP 3 source_id, ra FROM gaiadr3.gaia_source ORDER BY source_id")
    r = job.get_results()
    assert len(r) == 3


# --- Async (UWS 1.1) and uploads -------------------------------------------------------------

ASYNC_QUERY = "SELECT TOP 50 source_id, ra, dec FROM gaiadr3.gaia_source ORDER BY source_id"


def sync_table(url, query):
    r = sync(url, query, "parquet", MAXREC="10000000")
    assert r.status_code == 200, r.text
    return pq.read_table(io.BytesIO(r.content))


def test_pyvo_run_async_wait_delete(tap_url):
    svc = pyvo.dal.TAPService(tap_url)
    ref = sync_table(tap_url, ASYNC_QUERY)
    # run_async: submit, PHASE=RUN, wait (WAIT=-1), fetch the result, delete.
    res = svc.run_async(ASYNC_QUERY).to_table()
    assert len(res) == 50
    assert list(res["source_id"]) == ref.column("source_id").to_pylist()
    # The explicit life cycle, with job metadata.
    job = svc.submit_job(ASYNC_QUERY, runid="pyvo-conformance")
    assert job.phase == "PENDING"
    assert job.execution_duration > 0
    assert job.destruction is not None
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    assert job.phase == "COMPLETED"
    t = job.fetch_result().to_table()
    np.testing.assert_allclose(np.asarray(t["ra"], dtype=float),
                               np.asarray(ref.column("ra").to_pylist(), dtype=float))
    url = job.url
    job.delete()
    assert requests.get(url, timeout=30).status_code == 404
    # A failing job raises with the service's message.
    bad = svc.submit_job("SELECT paralax FROM gaiadr3.gaia_source")
    bad.run()
    bad.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    assert bad.phase == "ERROR"
    with pytest.raises(pyvo.dal.DALQueryError) as e:
        bad.raise_if_error()
    assert "parallax" in str(e.value)
    bad.delete()


def test_pyvo_upload_sync_and_async(tap_url):
    from astropy.table import Table
    svc = pyvo.dal.TAPService(tap_url)
    ref = sync_table(tap_url, "SELECT TOP 20 source_id, ra, dec FROM gaiadr3.gaia_source "
                               "ORDER BY source_id")
    up = Table({"sid": np.array(ref.column("source_id").to_pylist(), dtype=np.int64),
                "tag": np.array([f"s{i}" for i in range(20)])})
    q = ("SELECT u.tag, g.ra FROM TAP_UPLOAD.mine AS u JOIN gaiadr3.gaia_source AS g "
         "ON g.source_id = u.sid ORDER BY u.sid")
    for res in (svc.run_sync(q, uploads={"mine": up}),
                svc.run_async(q, uploads={"mine": up})):
        t = res.to_table()
        assert [str(x) for x in t["tag"]] == [f"s{i}" for i in range(20)]
        np.testing.assert_allclose(np.asarray(t["ra"], dtype=float),
                                   np.asarray(ref.column("ra").to_pylist(), dtype=float))


def test_astroquery_launch_job_async(tap_url):
    from astroquery.utils.tap.core import TapPlus
    tap = TapPlus(url=tap_url, verbose=False)
    job = tap.launch_job_async(ASYNC_QUERY)
    r = job.get_results()
    ref = sync_table(tap_url, ASYNC_QUERY)
    assert len(r) == 50
    assert [int(x) for x in r["source_id"]] == ref.column("source_id").to_pylist()
    assert job.get_phase() == "COMPLETED"
    # The job list and reloading a job by id (astroquery parses /async itself).
    listed = {j.jobid: j.get_phase() for j in tap.list_async_jobs(verbose=False)}
    assert listed.get(job.jobid) == "COMPLETED"
    again = tap.load_async_job(jobid=job.jobid)
    assert len(again.get_results()) == 50


def test_pyvo_job_list_filters(tap_url):
    svc = pyvo.dal.TAPService(tap_url)
    job = svc.submit_job(ASYNC_QUERY, runid="listed")
    job.run()
    job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    done = {j.jobid for j in svc.get_job_list(phases=["COMPLETED"], last=1000)}
    assert job.job_id in done
    assert job.job_id not in {j.jobid for j in svc.get_job_list(phases=["PENDING"])}
    assert len(svc.get_job_list(last=1)) == 1
    job.delete()


def stilts(*args):
    return subprocess.run(["stilts", *args], check=True, timeout=300, capture_output=True,
                          env={"JAVA_TOOL_OPTIONS": "-Djava.awt.headless=true",
                               "PATH": "/usr/bin:/bin"})


def test_stilts_tapquery_async(tap_url, tmp_path):
    out = tmp_path / "async.csv"
    stilts("tapquery", f"tapurl={tap_url}", f"adql={ASYNC_QUERY}", "sync=false",
           f"out={out}", "ofmt=csv")
    got = pacsv.read_csv(str(out))
    ref = sync_table(tap_url, ASYNC_QUERY)
    assert got.column("source_id").to_pylist() == ref.column("source_id").to_pylist()


@pytest.mark.parametrize("sync_mode", ["true", "false"])
def test_stilts_tapquery_upload(tap_url, tmp_path, sync_mode):
    """nupload=1: STILTS sends the table as a chunked multipart with a quoted boundary."""
    ref = sync_table(tap_url, "SELECT TOP 30 source_id, ra, dec FROM gaiadr3.gaia_source "
                               "ORDER BY source_id")
    src = tmp_path / "up.csv"
    pacsv.write_csv(pa.table({"sid": ref.column("source_id"),
                              "w": pa.array(np.arange(30, dtype=np.float64) * 0.5)}), str(src))
    out = tmp_path / "joined.csv"
    q = ("SELECT u.sid, u.w, g.dec FROM TAP_UPLOAD.up1 AS u JOIN gaiadr3.gaia_source AS g "
         "ON g.source_id = u.sid ORDER BY u.sid")
    stilts("tapquery", f"tapurl={tap_url}", f"adql={q}", f"sync={sync_mode}", "nupload=1",
           f"upload1={src}", "ufmt1=csv", "ucmd1=", "upname1=up1", f"out={out}", "ofmt=csv")
    got = pacsv.read_csv(str(out))
    assert got.column("sid").to_pylist() == ref.column("source_id").to_pylist()
    np.testing.assert_allclose(got.column("w").to_numpy(), np.arange(30) * 0.5)
    np.testing.assert_allclose(got.column("dec").to_numpy(),
                               np.asarray(ref.column("dec").to_pylist(), dtype=float))


def test_uws_documents_are_schema_valid(tap_url, tmp_path):
    """Job, job list, parameters and results documents validate against the UWS 1.1 schema
    (the copy bundled with STILTS' taplint)."""
    import glob
    jars = sorted(glob.glob("/usr/share/java/starlink-ttools*.jar"))
    assert jars, "STILTS (starlink-ttools) is not installed"
    xsd = f"jar:file:{jars[0]}!/uk/ac/starlink/ttools/taplint/UWS-v1.1.xsd"
    svc = pyvo.dal.TAPService(tap_url)
    good = svc.submit_job(ASYNC_QUERY, runid="schema")
    good.run()
    good.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    bad = svc.submit_job("SELECT nope FROM gaiadr3.gaia_source")
    bad.run()
    bad.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=120)
    pending = svc.submit_job(ASYNC_QUERY)
    docs = {
        "completed.xml": good.url, "error.xml": bad.url, "pending.xml": pending.url,
        "jobs.xml": tap_url + "/async", "parameters.xml": good.url + "/parameters",
        "results.xml": good.url + "/results",
    }
    for name, url in docs.items():
        r = requests.get(url, timeout=30)
        assert r.status_code == 200, url
        path = tmp_path / name
        path.write_bytes(r.content)
        out = subprocess.run(
            ["stilts", "xsdvalidate", str(path),
             f"schemaloc=http://www.ivoa.net/xml/UWS/v1.0={xsd}"],
            timeout=120, capture_output=True, text=True,
            env={"JAVA_TOOL_OPTIONS": "-Djava.awt.headless=true", "PATH": "/usr/bin:/bin"})
        assert out.returncode == 0 and "ERROR" not in out.stdout + out.stderr, \
            f"{name}: {out.stdout}{out.stderr}"
    for j in (good, bad, pending):
        j.delete()


# --- Arrow Flight SQL (ADBC driver and pyarrow.flight) -------------------------------------
#
# The Flight SQL address comes from PARALLAX_FLIGHT (grpc://HOST:PORT, parsed by
# scripts/test-all.sh from `parallax serve --flight`'s readiness line). Statements are ADQL by
# default; the gRPC header `x-parallax-lang: sql` selects SQL.

FLIGHT_QUERIES = [
    # (ADQL, equivalent SQL)
    (BASE_QUERY, "SELECT " + ", ".join(COLS) +
     " FROM gaiadr3.gaia_source ORDER BY source_id LIMIT 700"),
    ("SELECT source_id, ra, dec, phot_g_mean_mag FROM gaiadr3.gaia_source "
     "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 45, 20, 5)) ORDER BY source_id",
     None),
    ("SELECT COUNT(*) AS n, AVG(parallax) AS p FROM gaiadr3.gaia_source WHERE dec > 30",
     "SELECT COUNT(*) AS n, AVG(parallax) AS p FROM gaiadr3.gaia_source WHERE dec > 30"),
]


def sync_table(tap_url, query):
    r = sync(tap_url, query, "parquet", MAXREC="1000000")
    assert r.status_code == 200, r.text
    return pq.read_table(io.BytesIO(r.content))


def assert_tables_equal(got, want, label):
    assert got.num_rows == want.num_rows, label
    assert got.num_columns == want.num_columns, label
    for i, name in enumerate(want.column_names):
        g = got.column(i).to_pylist()
        w = want.column(i).to_pylist()
        assert g == w, f"{label}: column {name}"


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def flight_command(name, message=b""):
    """A Flight SQL command packed in google.protobuf.Any, by hand (no generated classes)."""
    url = ("type.googleapis.com/arrow.flight.protocol.sql." + name).encode()
    return _field(1, url) + _field(2, message)


@pytest.fixture(scope="module")
def adbc_conn(flight_url):
    import adbc_driver_flightsql.dbapi as fsql
    with fsql.connect(flight_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def adbc_sql_conn(flight_url):
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi as fsql
    header = adbc_driver_flightsql.DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "x-parallax-lang"
    with fsql.connect(flight_url, db_kwargs={header: "sql"}, autocommit=True) as conn:
        yield conn


def test_adbc_lists_tables(adbc_conn):
    objects = adbc_conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    tables = {(s["db_schema_name"], t["table_name"])
              for c in objects for s in (c["catalog_db_schemas"] or [])
              for t in (s["db_schema_tables"] or [])}
    assert ("gaiadr3", "gaia_source") in tables, tables
    assert ("TAP_SCHEMA", "tables") in tables, tables
    schema = adbc_conn.adbc_get_table_schema("gaia_source", db_schema_filter="gaiadr3")
    ra = schema.field("ra")
    assert ra.metadata[b"unit"] == b"deg"
    assert b"pos.eq.ra" in ra.metadata[b"ucd"]


@pytest.mark.parametrize("adql,sql", FLIGHT_QUERIES)
def test_adbc_adql_and_sql_match_sync(tap_url, adbc_conn, adbc_sql_conn, adql, sql):
    want = sync_table(tap_url, adql)
    assert want.num_rows > 0
    with adbc_conn.cursor() as cur:
        cur.execute(adql)
        assert_tables_equal(cur.fetch_arrow_table(), want, "adbc adql " + adql)
    if sql is not None:
        with adbc_sql_conn.cursor() as cur:
            cur.execute(sql)
            assert_tables_equal(cur.fetch_arrow_table(), want, "adbc sql " + sql)


def test_adbc_bad_adql_is_a_clean_error(adbc_conn):
    import adbc_driver_manager
    with adbc_conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError) as e:
            cur.execute("SELECT paralax FROM gaiadr3.gaia_source")
    assert "parallax" in str(e.value)
    assert "INVALID_ARGUMENT" in str(e.value) or "InvalidArgument" in str(e.value)


@pytest.mark.parametrize("sql", [
    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
    "COPY (SELECT 1) TO '/tmp/parallax-adbc-escape.csv' STORED AS CSV",
    "DROP TABLE gaiadr3.gaia_source",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SET datafusion.execution.batch_size = 1",
])
def test_adbc_sql_escapes_fail(adbc_sql_conn, sql):
    import adbc_driver_manager
    with adbc_sql_conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error):
            cur.execute(sql)
            cur.fetch_arrow_table()


def pyarrow_query(flight_url, query, lang=None):
    import pyarrow.flight as fl
    client = fl.FlightClient(flight_url)
    headers = [(b"x-parallax-lang", lang.encode())] if lang else []
    options = fl.FlightCallOptions(headers=headers)
    cmd = flight_command("CommandStatementQuery", _field(1, query.encode()))
    info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd), options)
    return pa.concat_tables(
        [client.do_get(ep.ticket, options).read_all() for ep in info.endpoints])


@pytest.mark.parametrize("adql,sql", FLIGHT_QUERIES)
def test_pyarrow_flight_adql_and_sql_match_sync(tap_url, flight_url, adql, sql):
    want = sync_table(tap_url, adql)
    assert_tables_equal(pyarrow_query(flight_url, adql), want, "pyarrow adql " + adql)
    if sql is not None:
        assert_tables_equal(pyarrow_query(flight_url, sql, "sql"), want, "pyarrow sql " + sql)


def test_pyarrow_flight_lists_tables(flight_url):
    import pyarrow.flight as fl
    client = fl.FlightClient(flight_url)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(
        flight_command("CommandGetTables")))
    t = client.do_get(info.endpoints[0].ticket).read_all()
    names = set(zip(t.column("db_schema_name").to_pylist(), t.column("table_name").to_pylist()))
    assert ("gaiadr3", "gaia_source") in names, names


def test_pyarrow_flight_errors_are_invalid_argument(flight_url):
    # pyarrow maps gRPC InvalidArgument to ArrowInvalid.
    with pytest.raises(pa.ArrowInvalid) as e:
        pyarrow_query(flight_url, "SELECT ra FROM gaiadr3.gaia_source\nWHERE paralax > 1")
    assert "invalid argument" in str(e.value)
    assert "did you mean 'parallax'" in str(e.value)
    assert "line 2, column 7" in str(e.value)
    with pytest.raises(pa.ArrowInvalid) as e:
        pyarrow_query(flight_url, "DROP TABLE gaiadr3.gaia_source", "sql")
    assert "DDL not supported" in str(e.value)
