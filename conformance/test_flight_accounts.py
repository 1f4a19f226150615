"""Flight SQL with accounts, async job results and SQL parameters, with real clients (the ADBC
Flight SQL driver, pyarrow.flight) against a second `parallax serve` started here with
`[auth] mode = "basic"`, `required = true` (the binary comes from $CARGO_TARGET_DIR, as
scripts/test-all.sh builds it)."""
import io
import os
import re
import subprocess
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


def binary():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/parallax-target")
    path = os.path.join(target, "debug", "parallax")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run through scripts/test-all.sh")
    return path


def hash_password(pw):
    out = subprocess.run([binary(), "hash-secret"], input=pw + "\n", capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def secured():
    work = tempfile.mkdtemp(prefix="parallax-accounts-")
    users = "".join(f'[[auth.users]]\nname = "{u}"\npassword_hash = "{hash_password(p)}"\n'
                    for u, p in USERS.items())
    config = os.path.join(work, "parallax.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nhttp = "127.0.0.1:0"\ndata_dir = "{work}/data"\n'
                f'[demo]\nsources = 3000\n[flight]\nlisten = "127.0.0.1:0"\n'
                f'[auth]\nmode = "basic"\nrequired = true\n{users}')
    stdout = open(os.path.join(work, "stdout"), "w+")
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen([binary(), "serve", "--config", config], stdout=stdout, stderr=log)
    http = flight = None
    for _ in range(600):
        stdout.seek(0)
        text = stdout.read()
        m = re.search(r"^parallax: listening on (http\S+)$", text, re.M)
        f = re.search(r"^parallax: flight sql on (grpc\S+)$", text, re.M)
        if m and f:
            http, flight = m.group(1), f.group(1)
            break
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    if not http:
        proc.kill()
        pytest.fail("the secured server did not start: " + open(log.name).read()[-2000:])
    yield {"http": http, "flight": flight}
    proc.terminate()
    proc.wait(timeout=30)


def adbc_connect(url, user=None, password=None, sql=False):
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi as fsql
    kwargs = {}
    if user:
        kwargs.update({"username": user, "password": password})
    if sql:
        kwargs[adbc_driver_flightsql.DatabaseOptions.RPC_CALL_HEADER_PREFIX.value
               + "x-parallax-lang"] = "sql"
    return fsql.connect(url, db_kwargs=kwargs, autocommit=True)


def sync_parquet(secured, query, user="alice"):
    r = requests.post(secured["http"] + "/sync", auth=(user, USERS[user]), timeout=120,
                      data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query,
                            "FORMAT": "parquet"})
    assert r.status_code == 200, r.text
    return pq.read_table(io.BytesIO(r.content))


QUERY = ("SELECT source_id, ra, dec, phot_g_mean_mag FROM gaiadr3.gaia_source "
         "WHERE ra BETWEEN 10 AND 40 ORDER BY source_id")


def test_adbc_with_username_and_password(secured):
    want = sync_parquet(secured, QUERY)
    assert want.num_rows > 0
    with adbc_connect(secured["flight"], "alice", USERS["alice"]) as conn, conn.cursor() as cur:
        cur.execute(QUERY)
        got = cur.fetch_arrow_table()
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name


def test_adbc_without_or_with_wrong_credentials_is_refused(secured):
    import adbc_driver_manager
    for user, pw in [(None, None), ("alice", "wrong"), ("mallory", "x")]:
        with pytest.raises(adbc_driver_manager.Error) as e:
            with adbc_connect(secured["flight"], user, pw) as conn, conn.cursor() as cur:
                cur.execute("SELECT TOP 1 source_id FROM gaiadr3.gaia_source")
                cur.fetch_arrow_table()
        text = str(e.value)
        assert "UNAUTHENTICATED" in text or "Unauthenticated" in text, text
    # TAP answers 401 to the same anonymous request.
    r = requests.post(secured["http"] + "/sync", timeout=60,
                      data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT 1 AS x"})
    assert r.status_code == 401


def test_pyarrow_flight_basic_token_handshake(secured):
    import pyarrow.flight as fl
    client = fl.FlightClient(secured["flight"])
    header = client.authenticate_basic_token(b"alice", USERS["alice"].encode())
    assert header[0].lower() == b"authorization" and header[1].startswith(b"Bearer pxs1.")
    options = fl.FlightCallOptions(headers=[header])
    cmd = statement_command(QUERY)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd), options)
    got = pa.concat_tables([client.do_get(ep.ticket, options).read_all() for ep in info.endpoints])
    assert got.num_rows == sync_parquet(secured, QUERY).num_rows
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.authenticate_basic_token(b"alice", b"wrong")
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.get_flight_info(fl.FlightDescriptor.for_command(cmd))


def statement_command(query):
    """CommandStatementQuery packed in google.protobuf.Any (two length-delimited fields)."""
    def field(number, payload):
        def varint(n):
            out = bytearray()
            while True:
                b, n = n & 0x7F, n >> 7
                out.append(b | 0x80 if n else b)
                if not n:
                    return bytes(out)
        return varint(number << 3 | 2) + varint(len(payload)) + payload
    url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return field(1, url) + field(2, field(1, query.encode()))


def completed_job(secured, user, query, fmt):
    auth = (user, USERS[user])
    r = requests.post(secured["http"] + "/async", auth=auth, allow_redirects=False, timeout=60,
                      data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": fmt,
                            "PHASE": "RUN"})
    assert r.status_code == 303, r.text
    job = r.headers["Location"]
    for _ in range(60):
        doc = requests.get(job + "?WAIT=5", auth=auth, timeout=60).text
        if "<uws:phase>COMPLETED</uws:phase>" in doc:
            return job
        assert "ERROR" not in doc and "ABORTED" not in doc, doc
    pytest.fail("job did not complete")


def test_job_results_over_flight_for_the_owner_only(secured):
    import pyarrow.flight as fl
    want = sync_parquet(secured, QUERY)
    job = completed_job(secured, "alice", QUERY, "parquet")
    job_id = job.rstrip("/").rsplit("/", 1)[1]
    client = fl.FlightClient(secured["flight"])
    alice = fl.FlightCallOptions(headers=[client.authenticate_basic_token(
        b"alice", USERS["alice"].encode())])
    info = client.get_flight_info(fl.FlightDescriptor.for_path("parallax-job", job_id), alice)
    got = pa.concat_tables([client.do_get(ep.ticket, alice).read_all() for ep in info.endpoints])
    assert got.column_names == want.column_names
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name
    bob = fl.FlightCallOptions(headers=[client.authenticate_basic_token(
        b"bob", USERS["bob"].encode())])
    # NotFound, which pyarrow raises as ArrowKeyError.
    with pytest.raises(KeyError) as e:
        client.get_flight_info(fl.FlightDescriptor.for_path("parallax-job", job_id), bob)
    assert "no job" in str(e.value)
    # The same result over HTTP as an Arrow IPC stream.
    r = requests.get(job + "/results/result", auth=("alice", USERS["alice"]), timeout=60,
                     headers={"Accept": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    assert pa.ipc.open_stream(r.content).read_all().num_rows == want.num_rows


def test_adbc_sql_parameters(secured):
    import adbc_driver_manager
    want = sync_parquet(secured, "SELECT TOP 3 source_id, ra FROM gaiadr3.gaia_source "
                                 "ORDER BY source_id")
    with adbc_connect(secured["flight"], "alice", USERS["alice"], sql=True) as conn:
        for sid, ra in zip(want.column("source_id").to_pylist(), want.column("ra").to_pylist()):
            with conn.cursor() as cur:
                cur.execute("SELECT source_id, ra FROM gaiadr3.gaia_source WHERE source_id = ?",
                            (sid,))
                got = cur.fetch_arrow_table()
            assert got.column("source_id").to_pylist() == [sid]
            assert got.column("ra").to_pylist() == [ra]
        with conn.cursor() as cur:
            with pytest.raises(adbc_driver_manager.Error) as e:
                cur.execute("SELECT source_id FROM gaiadr3.gaia_source "
                            "WHERE source_id = ? AND ra > ?", (1,))
                cur.fetch_arrow_table()
            assert "parameter" in str(e.value), str(e.value)
