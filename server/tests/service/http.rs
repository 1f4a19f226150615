//! HTTP behaviour of `/sync` and the VOSI/DALI resources.

use crate::common::{SOURCES, client, fixture, query_votable, read, sync};
use crate::votable;

async fn get(path: &str) -> (u16, String, String) {
    let r = client()
        .get(fixture().url(path))
        .header("user-agent", "parallax-tests")
        .send()
        .await
        .expect("request");
    read(r).await
}

#[tokio::test]
async fn capabilities_declare_tap_1_1_formats_and_limits() {
    let (status, ctype, body) = get("/capabilities").await;
    assert_eq!(status, 200);
    assert!(ctype.contains("xml"), "{ctype}");
    assert!(body.contains("standardID=\"ivo://ivoa.net/std/TAP\""));
    assert!(body.contains("role=\"std\" version=\"1.1\""));
    assert!(body.contains(&format!("{}</accessURL>", fixture().url(""))));
    for id in ["output-votable-td", "output-votable-binary2"] {
        assert!(
            body.contains(&format!("TAPRegExt#{id}")),
            "{id} not declared"
        );
    }
    assert!(body.contains("ivo://ivoa.net/std/ADQL#v2.1"));
    assert!(body.contains("<outputLimit><default unit=\"row\">"));
    assert!(body.contains("ivo://ivoa.net/std/DALI#examples"));
    // Every declared alias is accepted by /sync.
    for alias in body.split("<alias>").skip(1) {
        let alias = alias.split("</alias>").next().unwrap();
        let (status, _, b) = sync(&[
            ("LANG", "ADQL"),
            ("FORMAT", alias),
            ("QUERY", "SELECT TOP 1 source_id FROM gaiadr3.gaia_source"),
        ])
        .await;
        assert_eq!(status, 200, "declared alias {alias} refused: {b}");
    }
}

#[tokio::test]
async fn availability() {
    let (status, _, body) = get("/availability").await;
    assert_eq!(status, 200);
    assert!(body.contains("<avl:available>true</avl:available>"));
    let r = client()
        .get(fixture().url("/availability"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["server"]
            .to_str()
            .unwrap()
            .starts_with("Parallax/")
    );
    assert!(body.contains("<avl:upSince>20"));
}

#[tokio::test]
async fn tables_list_the_catalogue_for_every_client() {
    let (status, _, body) = get("/tables").await;
    assert_eq!(status, 200);
    for t in [
        "gaiadr3.gaia_source",
        "gaiadr3.xp_continuous_mean_spectrum",
        "gaiadr3.epoch_photometry",
        "TAP_SCHEMA.columns",
    ] {
        assert!(body.contains(&format!("<name>{t}</name>")), "{t} missing");
    }
    // Standard clients get schema-valid VODataService: no esatapplus attributes.
    assert!(!body.contains("esatapplus:flags="));
    assert!(
        body.contains("<name>&quot;size&quot;</name>"),
        "size must be delimited"
    );
    // astroquery's TapPlus parser needs esatapplus:flags on every column; its GETs carry no
    // User-Agent.
    let r = client().get(fixture().url("/tables")).send().await.unwrap();
    let esa = r.text().await.unwrap();
    assert_eq!(
        esa.matches("<column").count(),
        esa.matches("<column esatapplus:flags=").count()
    );
    assert!(esa.matches("<column").count() > 100);
    assert!(body.contains("<unit>deg</unit>"));
    assert!(body.contains("<foreignKey><targetTable>gaiadr3.gaia_source</targetTable>"));

    let (_, _, min) = get("/tables?detail=min").await;
    assert!(min.contains("<name>gaiadr3.gaia_source</name>"));
    assert!(!min.contains("<column"));
    let (_, _, only) = get("/tables?only_tables=true").await;
    assert!(!only.contains("<column"));

    let (status, _, one) = get("/tables/gaiadr3.gaia_source").await;
    assert_eq!(status, 200);
    assert!(one.contains("<vosi:table"));
    assert!(one.contains("<name>parallax</name>"));
    let (status, _, _) = get("/tables/gaiadr3.nope").await;
    assert_eq!(status, 404);
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn every_example_runs() {
    let (status, ctype, body) = get("/examples").await;
    assert_eq!(status, 200);
    assert!(ctype.contains("xhtml"), "{ctype}");
    let queries: Vec<String> = body
        .split("<pre property=\"query\">")
        .skip(1)
        .map(|s| unescape(s.split("</pre>").next().unwrap()))
        .collect();
    assert!(queries.len() >= 6, "only {} examples", queries.len());
    for q in queries {
        let v = votable::parse(&query_votable(&q).await);
        assert_eq!(v.status()[0], ("OK", false), "{q}");
        assert!(!v.rows.is_empty(), "example returned no rows: {q}");
    }
}

#[tokio::test]
async fn get_and_post_with_case_insensitive_names() {
    let q = "SELECT TOP 3 source_id FROM gaiadr3.gaia_source ORDER BY source_id";
    let url = format!(
        "{}?request=doQuery&lang=adql&FoRmAt=csv&query={}",
        fixture().url("/sync"),
        q.replace(' ', "+")
    );
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let get_body = r.text().await.unwrap();
    let (status, ctype, post_body) = sync(&[
        ("LANG", "ADQL"),
        ("format", "csv"),
        ("Query", q),
        ("tapclient", "x"),
    ])
    .await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"));
    assert_eq!(get_body, post_body);
    assert_eq!(post_body.lines().count(), 4, "{post_body}");
    assert_eq!(post_body.lines().next(), Some("source_id"));
    // astroquery.gaia's path.
    let r = client()
        .post(format!("http://{}/tap-server/tap/sync", fixture().addr))
        .form(&[
            ("LANG", "ADQL"),
            ("FORMAT", "csv"),
            ("QUERY", q),
            ("PHASE", "RUN"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), post_body);
}

#[tokio::test]
async fn bad_requests_get_a_votable_error_and_4xx() {
    let ok_q = "SELECT TOP 1 source_id FROM gaiadr3.gaia_source";
    let huge = format!(
        "SELECT TOP 1 source_id FROM gaiadr3.gaia_source -- {}",
        "x".repeat(10 << 20)
    );
    // (parameters, expected HTTP status, text the error message must contain)
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (vec![("QUERY", ok_q)], 400, "LANG"),
        (
            vec![("LANG", "PQL"), ("QUERY", ok_q)],
            400,
            "unknown query language",
        ),
        (vec![("LANG", "ADQL")], 400, "QUERY"),
        (
            vec![("LANG", "ADQL"), ("lang", "ADQL"), ("QUERY", ok_q)],
            400,
            "more than once",
        ),
        (
            vec![("LANG", "ADQL"), ("MAXREC", "-1"), ("QUERY", ok_q)],
            400,
            "MAXREC",
        ),
        (
            vec![("LANG", "ADQL"), ("MAXREC", "ten"), ("QUERY", ok_q)],
            400,
            "MAXREC",
        ),
        (
            vec![("LANG", "ADQL"), ("FORMAT", "fits/x"), ("QUERY", ok_q)],
            400,
            "format",
        ),
        (
            vec![("LANG", "ADQL"), ("REQUEST", "getTables"), ("QUERY", ok_q)],
            400,
            "REQUEST",
        ),
        (
            vec![("LANG", "ADQL"), ("QUERY", "SELECT FROM WHERE")],
            400,
            "line 1",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                ("QUERY", "SELECT paralax FROM gaiadr3.gaia_source"),
            ],
            400,
            "parallax",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                ("QUERY", "SELECT * FROM gaiadr3.gaia_sauce"),
            ],
            400,
            "gaia_source",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                (
                    "QUERY",
                    "SELECT TOP 1 SQRT(designation) FROM gaiadr3.gaia_source",
                ),
            ],
            400,
            "",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                (
                    "QUERY",
                    "SELECT source_id FROM gaiadr3.gaia_source AS a, gaiadr3.gaia_source AS b",
                ),
            ],
            400,
            "source_id",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                ("QUERY", "DROP TABLE gaiadr3.gaia_source"),
            ],
            400,
            "",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                ("QUERY", "COPY gaiadr3.gaia_source TO '/tmp/x.parquet'"),
            ],
            400,
            "",
        ),
        (
            vec![
                ("LANG", "ADQL"),
                (
                    "QUERY",
                    "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                ),
            ],
            400,
            "",
        ),
        (
            vec![("LANG", "ADQL"), ("QUERY", "SELECT * FROM '/etc/passwd'")],
            400,
            "",
        ),
        (vec![("LANG", "ADQL"), ("QUERY", &huge)], 400, "limit"),
    ];
    for (params, want, needle) in cases {
        let (status, ctype, body) = sync(&params).await;
        let label = format!(
            "{:?}",
            params
                .iter()
                .map(|p| (p.0, &p.1[..p.1.len().min(60)]))
                .collect::<Vec<_>>()
        );
        assert_eq!(status, want, "{label}: {body}");
        assert!(ctype.contains("votable"), "{label}: {ctype}");
        let v = votable::parse(&body);
        assert_eq!(v.status(), vec![("ERROR", false)], "{label}");
        let msg = &v.infos.iter().find(|i| i.0 == "QUERY_STATUS").unwrap().2;
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "{label}: message {msg:?} lacks {needle:?}"
        );
        assert!(!msg.is_empty());
    }
}

/// A body larger than the limit is refused with 413 and a VOTable error as soon as its
/// Content-Length is seen, without reading it (raw socket: the client stops sending).
#[tokio::test]
async fn oversized_request_gets_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(fixture().addr)
        .await
        .unwrap();
    let head = "POST /tap/sync HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 40000000\r\nConnection: close\r\n\r\nLANG=ADQL&QUERY=";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[b'x'; 4096]).await.unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp).await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("QUERY_STATUS"), "{text}");
    assert!(text.contains("16777216 bytes"), "{text}");
}

#[tokio::test]
async fn maxrec_overflow_follows_dali() {
    let q = "SELECT source_id FROM gaiadr3.gaia_source";
    let (_, _, body) = sync(&[
        ("LANG", "ADQL"),
        ("FORMAT", "votable/td"),
        ("MAXREC", "7"),
        ("QUERY", q),
    ])
    .await;
    let v = votable::parse(&body);
    assert_eq!(v.rows.len(), 7);
    assert_eq!(v.status(), vec![("OK", false), ("OVERFLOW", true)]);

    let (_, _, body) = sync(&[
        ("LANG", "ADQL"),
        ("FORMAT", "votable/td"),
        ("MAXREC", "0"),
        ("QUERY", q),
    ])
    .await;
    let v = votable::parse(&body);
    assert_eq!(v.rows.len(), 0);
    assert_eq!(v.fields.len(), 1);
    assert_eq!(v.status().last().map(|s| s.0), Some("OVERFLOW"));

    // Exactly as many rows as MAXREC: no overflow.
    let q5 = "SELECT TOP 5 source_id FROM gaiadr3.gaia_source";
    let (_, _, body) = sync(&[
        ("LANG", "ADQL"),
        ("FORMAT", "votable/td"),
        ("MAXREC", "5"),
        ("QUERY", q5),
    ])
    .await;
    assert_eq!(votable::parse(&body).status(), vec![("OK", false)]);

    let count =
        votable::parse(&query_votable("SELECT COUNT(*) AS n FROM gaiadr3.gaia_source").await)
            .column("n")[0]
            .clone()
            .unwrap();
    assert_eq!(count, SOURCES.to_string());
}

#[tokio::test]
async fn gzip_when_accepted() {
    let r = client()
        .post(fixture().url("/sync"))
        .header("accept-encoding", "gzip")
        .form(&[
            ("LANG", "ADQL"),
            ("FORMAT", "csv"),
            ("QUERY", "SELECT TOP 2000 * FROM gaiadr3.gaia_source"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("content-encoding").unwrap(), "gzip");
    // The whole compressed body arrives (the encoder polls the stream after its end).
    let body = r.bytes().await.expect("complete gzip body");
    assert_eq!(&body[..2], &[0x1f, 0x8b]);
}

#[tokio::test]
async fn untyped_null_columns_are_served() {
    let v = votable::parse(
        &query_votable("SELECT TOP 2 NULL AS nothing, source_id FROM gaiadr3.gaia_source").await,
    );
    assert_eq!(v.fields[0]["datatype"], "char");
    assert_eq!(v.column("nothing"), vec![None, None]);
}

/// TAP 1.1 §4.3: the datatype, arraysize and xtype in TAP_SCHEMA.columns equal the FIELD
/// attributes of a query on that column, for every column of every table.
#[tokio::test]
async fn tap_schema_declares_what_queries_return() {
    let tables = votable::parse(&query_votable("SELECT table_name FROM TAP_SCHEMA.tables").await)
        .column("table_name");
    assert!(tables.len() >= 8);
    for t in tables.into_iter().flatten() {
        let cols = votable::parse(
            &query_votable(&format!(
                "SELECT column_name, datatype, arraysize, xtype, \"size\" FROM TAP_SCHEMA.columns \
                 WHERE table_name = '{t}' ORDER BY column_index"
            ))
            .await,
        );
        let names = cols.column("column_name");
        let result = votable::parse(&query_votable(&format!("SELECT TOP 1 * FROM {t}")).await);
        assert_eq!(names.len(), result.fields.len(), "{t}");
        for (i, f) in result.fields.iter().enumerate() {
            let ctx = format!("{t}.{}", f["name"]);
            let declared = names[i].as_deref().map(|n| n.trim_matches('"'));
            assert_eq!(Some(f["name"].as_str()), declared, "{ctx}");
            assert_eq!(
                Some(&f["datatype"]),
                cols.column("datatype")[i].as_ref(),
                "{ctx}"
            );
            assert_eq!(
                f.get("arraysize"),
                cols.column("arraysize")[i].as_ref(),
                "{ctx}"
            );
            assert_eq!(f.get("xtype"), cols.column("xtype")[i].as_ref(), "{ctx}");
            let size = cols.column("size")[i].clone();
            let numeric = f
                .get("arraysize")
                .and_then(|a| a.trim_end_matches('*').parse::<i64>().ok())
                .map(|n| n.to_string());
            assert_eq!(size, numeric, "{ctx} size");
        }
    }
}

/// Geometry values are DALI xtypes in VOTable (TAP 1.1 §3.5, DALI §3.3).
#[tokio::test]
async fn geometry_values_are_dali_xtypes() {
    let v = votable::parse(
        &query_votable(
            "SELECT TOP 1 POINT(ra, dec) AS pos, CIRCLE(10, 20, 0.5) AS c, ra, dec \
             FROM gaiadr3.gaia_source",
        )
        .await,
    );
    let pos = &v.fields[0];
    assert_eq!(pos["datatype"], "double");
    assert_eq!(pos["arraysize"], "2");
    assert_eq!(pos["xtype"], "point");
    assert_eq!(pos.get("unit").map(String::as_str), Some("deg"));
    assert_eq!(v.fields[1]["xtype"], "circle");
    assert_eq!(v.fields[1]["arraysize"], "3");
    let row = &v.rows[0];
    let p: Vec<f64> = row[0]
        .as_ref()
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(
        p,
        [
            row[2].as_ref().unwrap().parse::<f64>().unwrap(),
            row[3].as_ref().unwrap().parse::<f64>().unwrap()
        ]
    );
    assert_eq!(row[1].as_deref(), Some("10.0 20.0 0.5"));
}

/// Polygons (and boxes) are DALI `polygon` values: `double[]` with arraysize `*` in VOTable, and
/// space-separated numbers in VOTable cells and in CSV (DALI §3.3.7).
#[tokio::test]
async fn polygons_are_dali_polygons() {
    let q = "SELECT TOP 1 POLYGON('ICRS', 359, -1, 1, -1, 0, 1) AS poly, BOX(0, 0, 2, 2) AS b, \
             CENTROID(POLYGON(359, -1, 1, -1, 0, 1)) AS c FROM gaiadr3.gaia_source";
    let v = votable::parse(&query_votable(q).await);
    let poly = &v.fields[0];
    assert_eq!(poly["datatype"], "double");
    assert_eq!(poly["arraysize"], "*");
    assert_eq!(poly["xtype"], "polygon");
    assert_eq!(poly.get("unit").map(String::as_str), Some("deg"));
    assert_eq!(v.fields[1]["xtype"], "polygon");
    assert_eq!(v.fields[2]["xtype"], "point");
    assert_eq!(v.rows[0][0].as_deref(), Some("359.0 -1.0 1.0 -1.0 0.0 1.0"));
    assert_eq!(
        v.rows[0][1].as_ref().map(|s| s.split_whitespace().count()),
        Some(8)
    );
    let (status, _, csv) = sync(&[
        ("REQUEST", "doQuery"),
        ("LANG", "ADQL"),
        ("FORMAT", "csv"),
        ("QUERY", q),
    ])
    .await;
    assert_eq!(status, 200, "{csv}");
    let row = csv.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("359.0 -1.0 1.0 -1.0 0.0 1.0,"), "{row}");
}

#[tokio::test]
async fn catalogue_metadata_reaches_result_fields() {
    let v = votable::parse(
        &query_votable("SELECT TOP 1 ra, parallax AS plx, 2*ra FROM gaiadr3.gaia_source").await,
    );
    let names: Vec<&str> = v.fields.iter().map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["ra", "plx", "col_3"]);
    assert_eq!(v.fields[0].get("unit").map(String::as_str), Some("deg"));
    assert_eq!(
        v.fields[0].get("ucd").map(String::as_str),
        Some("pos.eq.ra;meta.main")
    );
    assert_eq!(v.fields[1].get("unit").map(String::as_str), Some("mas"));
}

/// GETs `url` with the given `Accept` header (none when `None`).
async fn get_accepting(url: &str, accept: Option<&str>) -> reqwest::Response {
    let mut req = client().get(url).header("user-agent", "parallax-tests");
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().await.expect("request")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The `src`/`href` of the console page that starts with `prefix`, up to the closing quote.
fn asset_url(page: &str, prefix: &str) -> String {
    let start = page
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} not in page:\n{page}"));
    let end = page[start..].find('"').expect("closing quote") + start;
    page[start..end].to_string()
}

const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[tokio::test]
async fn console_is_served_to_browsers_with_its_assets() {
    let f = fixture();
    for mount in ["/tap", "/tap-server/tap"] {
        let base = format!("http://{}{mount}", f.addr);
        let r = get_accepting(&base, Some(BROWSER_ACCEPT)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "vary"), "Accept");
        assert!(header(&r, "content-security-policy").contains("default-src 'self'"));
        let page = r.text().await.unwrap();
        assert!(page.contains("<textarea id=\"editor\""), "{page}");
        assert!(page.contains(&format!("data-mount=\"{mount}\"")));
        // Self-contained: no CDN, no external fonts.
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );

        for (prefix, ctype, marker) in [
            (
                format!("{mount}/console/console.js?v="),
                "text/javascript; charset=utf-8",
                "function runSync",
            ),
            (
                format!("{mount}/console/console.css?v="),
                "text/css; charset=utf-8",
                "#editor",
            ),
        ] {
            let url = format!("http://{}{}", f.addr, asset_url(&page, &prefix));
            let r = get_accepting(&url, Some("*/*")).await;
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(header(&r, "content-type"), ctype);
            assert_eq!(header(&r, "x-content-type-options"), "nosniff");
            assert!(header(&r, "cache-control").contains("max-age="));
            let etag = header(&r, "etag");
            assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
            // The version in the page's URL is the asset's validator.
            assert!(url.ends_with(etag.trim_matches('"')), "{url} vs {etag}");
            assert!(r.text().await.unwrap().contains(marker));
            // Revalidation with the validator costs nothing.
            let r = client()
                .get(&url)
                .header("if-none-match", &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 304);
            assert!(r.bytes().await.unwrap().is_empty());
        }
    }
    let r = get_accepting(&f.url("/console/nope.js"), None).await;
    assert_eq!(r.status(), 404);
    // GET / still leads a browser to the console.
    let r = get_accepting(&format!("http://{}/", f.addr), Some(BROWSER_ACCEPT)).await;
    assert_eq!(r.status(), 200);
    assert!(r.url().path().starts_with("/tap"));
    assert!(r.text().await.unwrap().contains("id=\"editor\""));
}

#[tokio::test]
async fn console_leaves_api_clients_the_landing_page() {
    let f = fixture();
    // What TAP libraries, curl and taplint send: no HTML in Accept, or no Accept at all.
    for accept in [
        None,
        Some("*/*"),
        Some("application/xml"),
        Some("text/html;q=0"),
    ] {
        let r = get_accepting(&f.url(""), accept).await;
        assert_eq!(r.status(), 200, "{accept:?}");
        assert!(header(&r, "content-type").starts_with("text/html"));
        assert_eq!(header(&r, "vary"), "Accept");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("<h1>Parallax TAP service</h1>"),
            "{accept:?}: {body}"
        );
        assert!(body.contains(&format!("{}/capabilities", f.url(""))));
        assert!(body.contains("gaiadr3.gaia_source"));
        assert!(!body.contains("id=\"editor\""), "{accept:?}");
    }
    // The other TAP resources ignore the browser's Accept as before.
    let r = get_accepting(&f.url("/availability"), Some(BROWSER_ACCEPT)).await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").contains("xml"));
}
