//! TAP_UPLOAD over HTTP: multipart and URL uploads in VOTable, CSV and Parquet, joins with the
//! catalogue, limits (413), malformed documents (400 with a line number) and bad parameters.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};

use crate::common::{client, fixture, read, restricted};
use crate::uws::{get, tag, wait_final};

/// POSTs a multipart query with one upload part named `part`.
async fn upload_query(
    base: &str,
    endpoint: &str,
    query: &str,
    upload: &str,
    part: &str,
    data: Vec<u8>,
    fmt: &str,
) -> (u16, String, String) {
    let form = Form::new()
        .text("REQUEST", "doQuery")
        .text("LANG", "ADQL")
        .text("FORMAT", fmt.to_string())
        .text("QUERY", query.to_string())
        .text("UPLOAD", upload.to_string())
        .part(
            part.to_string(),
            Part::bytes(data).file_name(format!("{part}.xml")),
        );
    let r = client()
        .post(format!("{base}{endpoint}"))
        .multipart(form)
        .send()
        .await
        .expect("request");
    read(r).await
}

/// (source_id, ra, dec) of every demo source.
async fn sources() -> Vec<(i64, f64, f64)> {
    let (status, _, body) = crate::common::sync(&[
        ("LANG", "ADQL"),
        ("FORMAT", "csv"),
        ("MAXREC", "1000000"),
        (
            "QUERY",
            "SELECT source_id, ra, dec FROM gaiadr3.gaia_source",
        ),
    ])
    .await;
    assert_eq!(status, 200);
    body.lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn votable(fields: &str, rows: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<VOTABLE version=\"1.4\" \
         xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<RESOURCE>\n<TABLE>\n{fields}\n\
         <DATA><TABLEDATA>\n{rows}</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn crossmatch_of_200000_uploaded_rows() {
    let src = sources().await;
    assert_eq!(src.len() as u64, crate::common::SOURCES);
    // Ten rows per source: three within 0.36 arcsec, seven a degree away.
    let mut rows = String::with_capacity(20_000_000);
    for (i, (sid, ra, dec)) in src.iter().enumerate() {
        for k in 0..10 {
            let off = if k < 3 { 1e-4 } else { 1.0 };
            let d = if *dec > 80.0 { -off } else { off };
            let _ = writeln!(
                rows,
                "<TR><TD>{}</TD><TD>{sid}</TD><TD>{ra}</TD><TD>{}</TD></TR>",
                i * 10 + k,
                dec + d
            );
        }
    }
    let doc = votable(
        "<FIELD name=\"id\" datatype=\"int\"/><FIELD name=\"claimed_source_id\" datatype=\"long\"/>\
         <FIELD name=\"ra\" datatype=\"double\" unit=\"deg\"/>\
         <FIELD name=\"dec\" datatype=\"double\" unit=\"deg\"/>",
        &rows,
    );
    eprintln!("upload: {} rows, {} bytes", src.len() * 10, doc.len());
    // A purely positional join: planned as a hash join on HEALPix cells (issue 3).
    let q = "SELECT u.id, g.source_id FROM TAP_UPLOAD.big AS u \
             JOIN gaiadr3.gaia_source AS g \
             ON 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), CIRCLE('ICRS', g.ra, g.dec, 1.0/3600))";
    let t0 = Instant::now();
    let (status, _, body) = upload_query(
        &fixture().url(""),
        "/sync",
        &format!("{q} ORDER BY u.id"),
        "big,param:big",
        "big",
        doc,
        "csv",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eprintln!("upload crossmatch: {:.1} s", t0.elapsed().as_secs_f64());
    let pairs: Vec<(usize, i64)> = body
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    // Every near row finds its own source; any other match is a real neighbour within 1".
    let by_id: std::collections::HashMap<i64, (f64, f64)> = src
        .iter()
        .map(|(sid, ra, dec)| (*sid, (*ra, *dec)))
        .collect();
    let mut own = 0;
    for (id, sid) in pairs {
        assert!(id % 10 < 3, "row {id} is a degree away and must not match");
        let (_, ra, dec) = src[id / 10];
        let d = if dec > 80.0 { -1e-4 } else { 1e-4 };
        if sid == src[id / 10].0 {
            own += 1;
        } else {
            let (gra, gdec) = by_id[&sid];
            let sep = parallax_udfs::distance::angular_distance_deg(ra, dec + d, gra, gdec);
            assert!(sep <= 1.0 / 3600.0, "row {id} matched {sid} at {sep} deg");
        }
    }
    assert_eq!(own, src.len() * 3);
}

#[tokio::test]
async fn positional_crossmatch_and_array_columns() {
    let src = sources().await;
    let mut rows = String::new();
    for (i, (_, ra, dec)) in src.iter().take(500).enumerate() {
        let _ = writeln!(
            rows,
            "<TR><TD>{i}</TD><TD>{ra} {}</TD></TR>",
            if *dec > 80.0 { dec - 1e-4 } else { dec + 1e-4 }
        );
    }
    let doc = votable(
        "<FIELD name=\"ID\" datatype=\"short\"/>\
         <FIELD name=\"pos\" datatype=\"double\" arraysize=\"2\" xtype=\"point\" unit=\"deg\"/>",
        &rows,
    );
    // The uploaded table comes back with its types, including the point array column.
    let (status, _, body) = upload_query(
        &fixture().url(""),
        "/sync",
        "SELECT * FROM TAP_UPLOAD.pts",
        "pts,param:p1",
        "p1",
        doc.clone(),
        "votable/td",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("name=\"id\" datatype=\"short\""), "{body}");
    assert!(
        body.contains("datatype=\"double\" arraysize=\"2\"") && body.contains("xtype=\"point\""),
        "{}",
        &body[..body.len().min(1500)]
    );
    // A purely positional join (no key) finds each row's source.
    {
        let mut rows = String::new();
        for (i, (_, ra, dec)) in src.iter().take(500).enumerate() {
            let _ = writeln!(
                rows,
                "<TR><TD>{i}</TD><TD>{ra}</TD><TD>{}</TD></TR>",
                if *dec > 80.0 { dec - 1e-4 } else { dec + 1e-4 }
            );
        }
        let doc = votable(
            "<FIELD name=\"id\" datatype=\"int\"/><FIELD name=\"ra\" datatype=\"double\"/>\
             <FIELD name=\"dec\" datatype=\"double\"/>",
            &rows,
        );
        let q = "SELECT u.id, g.source_id FROM TAP_UPLOAD.pts AS u, gaiadr3.gaia_source AS g \
                 WHERE 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), CIRCLE('ICRS', g.ra, g.dec, 1.0/3600)) \
                 ORDER BY u.id";
        let (status, _, body) = upload_query(
            &fixture().url(""),
            "/sync",
            q,
            "pts,param:p1",
            "p1",
            doc,
            "csv",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let got: Vec<i64> = body
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        let want: Vec<i64> = src.iter().take(500).map(|s| s.0).collect();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn csv_parquet_url_and_async_uploads() {
    let base = fixture().url("");
    // CSV with a header line.
    let (status, _, body) = upload_query(
        &base,
        "/sync",
        "SELECT COUNT(*) AS n, SUM(x) AS s FROM TAP_UPLOAD.c",
        "c,param:c",
        "c",
        b"name,x\na,1.5\nb,2.5\n".to_vec(),
        "csv",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().nth(1), Some("2,4.0"));
    // Parquet, as this service writes it.
    let r = client()
        .post(fixture().url("/sync"))
        .form(&[
            ("LANG", "ADQL"),
            ("FORMAT", "parquet"),
            (
                "QUERY",
                "SELECT TOP 10 source_id, ra FROM gaiadr3.gaia_source ORDER BY source_id",
            ),
        ])
        .send()
        .await
        .unwrap();
    let parquet = r.bytes().await.unwrap().to_vec();
    let (status, _, body) = upload_query(
        &base,
        "/sync",
        "SELECT COUNT(*) AS n FROM TAP_UPLOAD.p AS p JOIN gaiadr3.gaia_source AS g \
         ON g.source_id = p.source_id",
        "p,param:p",
        "p",
        parquet,
        "csv",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().nth(1), Some("10"));
    // An http URL: this service's own VOTable output.
    let url = format!(
        "{base}/sync?LANG=ADQL&QUERY=SELECT%20TOP%205%20source_id%20FROM%20gaiadr3.gaia_source"
    );
    let r = client()
        .post(fixture().url("/sync"))
        .form(&[
            ("LANG", "ADQL"),
            ("FORMAT", "csv"),
            ("QUERY", "SELECT COUNT(*) AS n FROM TAP_UPLOAD.web"),
            ("UPLOAD", &format!("web,{url}")),
        ])
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().nth(1), Some("5"));
    // Async: the part is stored with the job and used when it runs.
    let form = Form::new()
        .text("LANG", "ADQL")
        .text("FORMAT", "csv")
        .text("QUERY", "SELECT * FROM TAP_UPLOAD.a ORDER BY x")
        .text("UPLOAD", "a,param:apart")
        .text("PHASE", "RUN")
        .part(
            "apart",
            Part::bytes(b"x\n3\n1\n2\n".to_vec()).file_name("a.csv"),
        );
    let r = crate::uws::raw_client()
        .post(format!("{base}/async"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let job = r.headers()["location"].to_str().unwrap().to_string();
    let doc = wait_final(&job, Duration::from_secs(60)).await;
    assert_eq!(tag(&doc, "phase"), Some("COMPLETED"), "{doc}");
    let (_, _, result) = get(&format!("{job}/results/result")).await;
    assert_eq!(result, "x\r\n1\r\n2\r\n3\r\n");
}

#[tokio::test]
async fn bad_uploads_get_clear_errors() {
    let base = fixture().url("");
    // Malformed VOTable: 400 and the parser's line number.
    let bad = b"<?xml version=\"1.0\"?>\n<VOTABLE>\n<RESOURCE>\n<TABLE>\n\
                <FIELD name=\"a\" datatype=\"int\"/>\n<DATA><TABLEDATA>\n\
                <TR><TD>1</TD></TR>\n<TR><TD>one</TD></TR>\n</TABLEDATA></DATA>\n</TABLE>\n\
                </RESOURCE>\n</VOTABLE>\n"
        .to_vec();
    let (status, ctype, body) = upload_query(
        &base,
        "/sync",
        "SELECT * FROM TAP_UPLOAD.t1",
        "t1,param:t1",
        "t1",
        bad,
        "votable",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(ctype.contains("votable"));
    assert!(body.contains("line 8"), "{body}");
    let broken =
        b"<VOTABLE>\n<RESOURCE>\n<TABLE>\n<FIELD name=\"a\" datatype=\"int\">\n</TABLE>\n".to_vec();
    let (status, _, body) = upload_query(
        &base,
        "/sync",
        "SELECT * FROM TAP_UPLOAD.t1",
        "t1,param:t1",
        "t1",
        broken,
        "votable",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line "), "{body}");
    // Name clash, missing part, bad scheme, unreachable URL.
    for (upload, expect) in [
        ("t1,param:t1;t1,param:t1", "clash"),
        ("t1,param:nothere", "no part named"),
        ("t1,ftp://example.org/x", "unsupported URI"),
        ("t1,http://127.0.0.1:9/x.xml", "cannot fetch"),
        ("1t,param:t1", "not an ADQL identifier"),
    ] {
        let (status, _, body) = upload_query(
            &base,
            "/sync",
            "SELECT * FROM TAP_UPLOAD.t1",
            upload,
            "t1",
            b"a\n1\n".to_vec(),
            "csv",
        )
        .await;
        assert_eq!(status, 400, "{upload}: {body}");
        assert!(body.contains(expect), "{upload}: {body}");
    }
    // A truncated multipart body.
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"LANG\"\r\n\r\nADQL\r\n--XyZ\r\n\
                Content-Disposition: form-data; name=\"t1\"; filename=\"t.csv\"\r\n\r\na\n1\n";
    let r = client()
        .post(fixture().url("/sync"))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, _, text) = read(r).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("multipart"), "{text}");
}

#[tokio::test]
async fn over_limit_uploads_get_413_with_the_limit() {
    let base = restricted().url("");
    let mut rows = String::new();
    for i in 0..1001 {
        let _ = writeln!(rows, "<TR><TD>{i}</TD></TR>");
    }
    let doc = votable("<FIELD name=\"a\" datatype=\"int\"/>", &rows);
    let (status, _, body) = upload_query(
        &base,
        "/sync",
        "SELECT COUNT(*) FROM TAP_UPLOAD.t1",
        "t1,param:t1",
        "t1",
        doc,
        "votable",
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit of 1000 rows"), "{body}");
    let big = vec![b'x'; 150_000];
    let (status, _, body) = upload_query(
        &base,
        "/sync",
        "SELECT COUNT(*) FROM TAP_UPLOAD.t1",
        "t1,param:t1",
        "t1",
        big,
        "votable",
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("100000 bytes"), "{body}");
    // URL uploads switched off: refused, and not declared.
    let r = client()
        .post(restricted().url("/sync"))
        .form(&[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT * FROM TAP_UPLOAD.t1"),
            ("UPLOAD", "t1,http://127.0.0.1:9/t.xml"),
        ])
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(r).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("does not fetch URLs"), "{body}");
    let caps = client()
        .get(restricted().url("/capabilities"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(caps.contains("TAPRegExt#upload-inline"));
    assert!(!caps.contains("TAPRegExt#upload-http"));
    assert!(caps.contains("<uploadLimit><hard unit=\"byte\">100000</hard></uploadLimit>"));
}
