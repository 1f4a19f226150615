"""/metrics parses with the Prometheus project's own text-format parser (prometheus_client),
and its counters move by exactly what a known run did."""
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(tap_url):
    parts = urllib.parse.urlsplit(tap_url)
    with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/metrics") as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    families = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def get(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def sync(tap_url, query):
    data = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": query, "FORMAT": "csv"}).encode()
    try:
        with urllib.request.urlopen(f"{tap_url}/sync", data=data) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_metrics_parse_and_count(tap_url):
    families, before = scrape(tap_url)
    assert families["parallax_queries"] == "counter"
    assert families["parallax_query_duration_seconds"] == "histogram"
    assert families["parallax_jobs"] == "gauge"

    # A query no other test sends, twice (a miss, then a cache hit), and one syntax error.
    q = "SELECT TOP 4 source_id FROM gaiadr3.gaia_source WHERE source_id > 17 ORDER BY source_id"
    for expect in ("miss", "hit"):
        status, headers, body = sync(tap_url, q)
        assert status == 200
        assert headers["X-Parallax-Cache"] == expect
        assert len(body.splitlines()) == 5
    status, headers, body = sync(tap_url, "SELECT TOP 4 source_id FROM")
    assert status == 400
    assert headers["X-Parallax-Query-Id"] in body
    _, after = scrape(tap_url)
    ok = ("parallax_queries_total", "sync", "ok")
    delta = lambda name, **l: get(after, name, **l) - get(before, name, **l)
    # Other conformance tests may run sync queries concurrently; this file runs alone in its
    # process, so the deltas are exact.
    assert delta("parallax_queries_total", route="sync", outcome="ok") == 2
    assert delta("parallax_queries_total", route="sync", outcome="user_error") == 1
    assert delta("parallax_cache_hits_total") == 1
    assert delta("parallax_cache_misses_total") == 1
    assert delta("parallax_result_rows_total", route="sync") == 8
    assert delta("parallax_query_duration_seconds_count", route="sync") == 3
    assert get(after, "parallax_memory_reserved_bytes") <= get(after, "parallax_memory_limit_bytes") or get(after, "parallax_memory_limit_bytes") == 0


def test_flight_sql_queries_are_counted(tap_url, flight_url):
    """An ADBC client's statements count under route="flight": one result, one syntax error."""
    import adbc_driver_flightsql.dbapi as fsql

    _, before = scrape(tap_url)
    with fsql.connect(flight_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT TOP 6 source_id FROM gaiadr3.gaia_source WHERE source_id > 23 ORDER BY source_id")
        assert len(cur.fetchall()) == 6
        try:
            cur.execute("SELECT TOP 6 source_id FRM gaiadr3.gaia_source")
            raise AssertionError("the syntax error was accepted")
        except fsql.Error:
            pass
    _, after = scrape(tap_url)
    delta = lambda name, **l: get(after, name, **l) - get(before, name, **l)
    assert delta("parallax_queries_total", route="flight", outcome="ok") == 1
    assert delta("parallax_queries_total", route="flight", outcome="user_error") == 1
    assert delta("parallax_query_duration_seconds_count", route="flight") == 2
    assert delta("parallax_result_rows_total", route="flight") == 6
    assert delta("parallax_result_bytes_total", route="flight") > 0
