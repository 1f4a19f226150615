//! UWS 1.1 `/async` over HTTP against the in-process server: the job lifecycle, the job list
//! filters, blocking WAIT, error documents and bad input.

use std::time::{Duration, Instant};

use crate::common::{fixture, read, sync};

/// A client that does not follow redirects, so 303s can be checked.
pub(crate) fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// POSTs a form and returns (status, Location, body).
pub(crate) async fn post(url: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let r = raw_client()
        .post(url)
        .form(form)
        .send()
        .await
        .expect("request");
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let status = r.status().as_u16();
    (status, loc, r.text().await.unwrap_or_default())
}

pub(crate) async fn get(url: &str) -> (u16, String, String) {
    read(raw_client().get(url).send().await.expect("request")).await
}

/// Creates a job and returns its URL.
pub(crate) async fn create(base: &str, form: &[(&str, &str)]) -> String {
    let (status, loc, body) = post(&format!("{base}/async"), form).await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.starts_with(&format!("{base}/async/")), "{loc}");
    loc
}

pub(crate) fn tag<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<uws:{name}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&format!("</uws:{name}>"))? + start;
    Some(&doc[start..end])
}

/// Waits (blocking WAIT, bounded by a deadline) until the job is in a final phase.
pub(crate) async fn wait_final(job: &str, deadline: Duration) -> String {
    let until = Instant::now() + deadline;
    loop {
        let (status, _, doc) = get(&format!("{job}?WAIT=5")).await;
        assert_eq!(status, 200, "{doc}");
        let phase = tag(&doc, "phase").unwrap_or("").to_string();
        if !matches!(phase.as_str(), "PENDING" | "QUEUED" | "EXECUTING") {
            return doc;
        }
        assert!(Instant::now() < until, "job {job} still {phase}");
    }
}

const Q: &str = "SELECT TOP 7 source_id, ra, dec FROM gaiadr3.gaia_source ORDER BY source_id";

#[tokio::test]
async fn lifecycle_parameters_run_results_delete() {
    let base = fixture().url("");
    let job = create(
        &base,
        &[
            ("REQUEST", "doQuery"),
            ("LANG", "ADQL"),
            ("QUERY", Q),
            ("FORMAT", "csv"),
            ("RUNID", "first"),
        ],
    )
    .await;
    let (status, ctype, phase) = get(&format!("{job}/phase")).await;
    assert_eq!((status, phase.as_str()), (200, "PENDING"));
    assert!(ctype.starts_with("text/plain"));
    // Parameters can change while PENDING.
    let (status, loc, _) = post(&format!("{job}/parameters"), &[("runId", "second")]).await;
    assert_eq!((status, loc.as_str()), (303, job.as_str()));
    let (_, _, doc) = get(&job).await;
    assert!(doc.contains("<uws:job version=\"1.1\""), "{doc}");
    assert_eq!(tag(&doc, "runId"), Some("second"));
    assert!(doc.contains("<uws:parameter id=\"query\">"));
    assert!(doc.contains("<uws:ownerId xsi:nil=\"true\"/>"));
    for (res, check) in [
        ("quote", "20"),
        ("executionduration", "3600"),
        ("destruction", "20"),
    ] {
        let (status, ctype, text) = get(&format!("{job}/{res}")).await;
        assert_eq!(status, 200, "{res}");
        assert!(ctype.starts_with("text/plain"), "{res} {ctype}");
        assert!(text.starts_with(check), "{res}: {text}");
    }
    let (status, _, _) = get(&format!("{job}/owner")).await;
    assert_eq!(status, 200);
    // No error yet: /error is 404 (DALI §4.2); no result yet.
    assert_eq!(get(&format!("{job}/error")).await.0, 404);
    assert_eq!(get(&format!("{job}/results/result")).await.0, 404);

    let (status, loc, _) = post(&format!("{job}/phase"), &[("PHASE", "RUN")]).await;
    assert_eq!((status, loc.as_str()), (303, job.as_str()));
    let doc = wait_final(&job, Duration::from_secs(60)).await;
    assert_eq!(tag(&doc, "phase"), Some("COMPLETED"), "{doc}");
    assert!(tag(&doc, "startTime").is_some() && tag(&doc, "endTime").is_some());
    let href = format!("{job}/results/result");
    assert!(doc.contains(&format!("xlink:href=\"{href}\"")), "{doc}");
    let (_, _, results) = get(&format!("{job}/results")).await;
    assert!(results.contains("<uws:result id=\"result\""));
    let (status, ctype, body) = get(&href).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let (_, _, expected) = sync(&[("LANG", "ADQL"), ("QUERY", Q), ("FORMAT", "csv")]).await;
    assert_eq!(body, expected, "async and sync results differ");

    // Illegal transitions: RUN on a COMPLETED job, parameters after the run.
    let (status, _, body) = post(&format!("{job}/phase"), &[("PHASE", "RUN")]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("COMPLETED"), "{body}");
    let (status, _, _) = post(&format!("{job}/parameters"), &[("QUERY", "SELECT 1")]).await;
    assert_eq!(status, 403);
    // The result is untouched.
    assert_eq!(get(&href).await.2, expected);

    // DELETE: 303 to the job list, then 404.
    let r = raw_client().delete(&job).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{base}/async")
    );
    assert_eq!(get(&job).await.0, 404);
    assert_eq!(get(&href).await.0, 404);
}

#[tokio::test]
async fn phase_run_in_the_creation_post_and_action_delete() {
    let base = fixture().url("");
    // astroquery's request: PHASE=RUN with the TAP parameters, then it only polls.
    let job = create(
        &base,
        &[
            ("REQUEST", "doQuery"),
            ("LANG", "ADQL"),
            ("FORMAT", "votable"),
            ("tapclient", "aqtappy1-20200428.1"),
            ("QUERY", Q),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    let doc = wait_final(&job, Duration::from_secs(60)).await;
    assert_eq!(tag(&doc, "phase"), Some("COMPLETED"), "{doc}");
    let (status, loc, _) = post(&job, &[("ACTION", "DELETE")]).await;
    assert_eq!(status, 303);
    assert!(loc.ends_with("/async"), "{loc}");
    assert_eq!(get(&format!("{job}/phase")).await.0, 404);
}

#[tokio::test]
async fn error_job_has_an_error_document() {
    let base = fixture().url("");
    let job = create(
        &base,
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT paralax FROM gaiadr3.gaia_source"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    let doc = wait_final(&job, Duration::from_secs(60)).await;
    assert_eq!(tag(&doc, "phase"), Some("ERROR"), "{doc}");
    assert!(doc.contains("<uws:errorSummary type=\"fatal\""), "{doc}");
    assert!(
        doc.contains("parallax"),
        "the message suggests the column: {doc}"
    );
    let (status, ctype, err) = get(&format!("{job}/error")).await;
    assert_eq!(status, 200);
    assert!(ctype.contains("votable"), "{ctype}");
    assert!(err.contains("QUERY_STATUS\" value=\"ERROR\""), "{err}");
    assert_eq!(get(&format!("{job}/results/result")).await.0, 404);
}

#[tokio::test]
async fn job_list_filters() {
    let base = fixture().url("");
    let mut ids = Vec::new();
    for i in 0..3 {
        let job = create(
            &base,
            &[
                ("LANG", "ADQL"),
                ("QUERY", Q),
                ("RUNID", &format!("list-{i}")),
            ],
        )
        .await;
        ids.push(job.rsplit('/').next().unwrap().to_string());
    }
    let (status, _, list) = get(&format!("{base}/async")).await;
    assert_eq!(status, 200);
    assert!(list.contains("<uws:jobs version=\"1.1\""));
    for id in &ids {
        assert!(list.contains(&format!("id=\"{id}\"")), "{id} missing");
    }
    let (_, _, pending) = get(&format!("{base}/async?PHASE=PENDING")).await;
    assert!(pending.contains(&format!("id=\"{}\"", ids[0])));
    assert!(!pending.contains("<uws:phase>COMPLETED</uws:phase>"));
    let (_, _, none) = get(&format!("{base}/async?PHASE=ARCHIVED")).await;
    assert!(!none.contains("<uws:jobref"));
    let (_, _, last) = get(&format!("{base}/async?LAST=1")).await;
    assert_eq!(last.matches("<uws:jobref").count(), 1);
    let (_, _, after) = get(&format!("{base}/async?AFTER=2999-01-01T00:00:00Z")).await;
    assert!(!after.contains("<uws:jobref"));
    assert_eq!(get(&format!("{base}/async?PHASE=NOPE")).await.0, 400);
    assert_eq!(get(&format!("{base}/async?LAST=0")).await.0, 400);
    for id in ids {
        raw_client()
            .delete(format!("{base}/async/{id}"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn bad_input_is_refused_without_harm() {
    let base = fixture().url("");
    assert_eq!(get(&format!("{base}/async/nosuchjob")).await.0, 404);
    assert_eq!(get(&format!("{base}/async/nosuchjob/phase")).await.0, 404);
    assert_eq!(
        post(
            &format!("{base}/async/nosuchjob/phase"),
            &[("PHASE", "RUN")]
        )
        .await
        .0,
        404
    );
    let job = create(&base, &[("LANG", "ADQL"), ("QUERY", Q)]).await;
    let d = format!("{job}/destruction");
    let e = format!("{job}/executionduration");
    let (status, _, body) = post(&d, &[("DESTRUCTION", "2001-01-01T00:00:00Z")]).await;
    assert_eq!(status, 400);
    assert!(body.contains("in the past"), "{body}");
    assert_eq!(post(&d, &[("DESTRUCTION", "soon")]).await.0, 400);
    for bad in ["0", "-5", "x"] {
        let (status, _, body) = post(&e, &[("EXECUTIONDURATION", bad)]).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(
        post(&format!("{job}/phase"), &[("PHASE", "SUSPEND")])
            .await
            .0,
        400
    );
    // Valid changes are applied and reported.
    assert_eq!(post(&e, &[("EXECUTIONDURATION", "120")]).await.0, 303);
    assert_eq!(get(&e).await.2, "120");
    assert_eq!(
        post(&d, &[("DESTRUCTION", "2099-01-01T00:00:00Z")]).await.0,
        303
    );
    // Capped to the maximum retention (a week), never later.
    let kept = get(&d).await.2;
    assert!(kept.as_str() < "2099", "{kept}");
    // The job is still PENDING and intact.
    let (_, _, doc) = get(&job).await;
    assert_eq!(tag(&doc, "phase"), Some("PENDING"));
    assert_eq!(tag(&doc, "executionDuration"), Some("120"));
    // Creation with bad control parameters creates nothing.
    let (status, _, _) = post(
        &format!("{base}/async"),
        &[("LANG", "ADQL"), ("QUERY", Q), ("EXECUTIONDURATION", "0")],
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = post(
        &format!("{base}/async"),
        &[("LANG", "ADQL"), ("QUERY", Q), ("PHASE", "ABORT")],
    )
    .await;
    assert_eq!(status, 400);
    raw_client().delete(&job).send().await.unwrap();
}

/// A query that keeps a core busy for hours on the test catalogue (a triple cross join).
pub(crate) const ENDLESS: &str = "SELECT COUNT(*) AS n FROM gaiadr3.gaia_source AS a, \
     gaiadr3.gaia_source AS b, gaiadr3.gaia_source AS c WHERE a.ra + b.ra + c.ra > -1";

#[tokio::test]
async fn abort_and_execution_duration_stop_a_long_query() {
    let base = fixture().url("");
    let job = create(
        &base,
        &[("LANG", "ADQL"), ("QUERY", ENDLESS), ("PHASE", "RUN")],
    )
    .await;
    // Wait until it executes.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, p) = get(&format!("{job}/phase")).await;
        if p == "EXECUTING" {
            break;
        }
        assert_eq!(p, "QUEUED", "unexpected phase");
        assert!(Instant::now() < until, "never started");
        let _ = get(&format!("{job}?WAIT=1&PHASE=QUEUED")).await;
    }
    let t0 = Instant::now();
    let (status, _, _) = post(&format!("{job}/phase"), &[("PHASE", "ABORT")]).await;
    assert_eq!(status, 303);
    let (_, _, p) = get(&format!("{job}/phase")).await;
    assert_eq!(p, "ABORTED");
    assert!(t0.elapsed() < Duration::from_secs(1));
    // ABORT again is harmless; RUN is not allowed any more.
    assert_eq!(
        post(&format!("{job}/phase"), &[("PHASE", "ABORT")]).await.0,
        303
    );
    assert_eq!(
        post(&format!("{job}/phase"), &[("PHASE", "RUN")]).await.0,
        403
    );

    // executionduration: the service aborts the job itself and says why.
    let timed = create(
        &base,
        &[
            ("LANG", "ADQL"),
            ("QUERY", ENDLESS),
            ("EXECUTIONDURATION", "1"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    let doc = wait_final(&timed, Duration::from_secs(60)).await;
    assert_eq!(tag(&doc, "phase"), Some("ABORTED"), "{doc}");
    assert!(doc.contains("execution duration of 1 s"), "{doc}");
    let (status, _, err) = get(&format!("{timed}/error")).await;
    assert_eq!(status, 200);
    assert!(err.contains("execution duration"), "{err}");
    for j in [job, timed] {
        raw_client().delete(&j).send().await.unwrap();
    }
}

#[tokio::test]
async fn blocking_wait_returns_on_phase_change_or_timeout() {
    let base = fixture().url("");
    let job = create(&base, &[("LANG", "ADQL"), ("QUERY", Q)]).await;
    // PENDING is active: WAIT=1 blocks about a second and returns the unchanged job.
    let t0 = Instant::now();
    let (status, _, doc) = get(&format!("{job}?WAIT=1")).await;
    assert_eq!(status, 200);
    assert_eq!(tag(&doc, "phase"), Some("PENDING"));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    // A phase change ends the wait early (pyvo's WAIT=-1).
    let waiter = {
        let job = job.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let (_, _, doc) = get(&format!("{job}?WAIT=-1")).await;
            (t.elapsed(), doc)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    post(&format!("{job}/phase"), &[("PHASE", "RUN")]).await;
    let (elapsed, doc) = waiter.await.unwrap();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_ne!(tag(&doc, "phase"), Some("PENDING"));
    // A finished job answers at once.
    let done = wait_final(&job, Duration::from_secs(60)).await;
    assert_eq!(tag(&done, "phase"), Some("COMPLETED"));
    let t0 = Instant::now();
    get(&format!("{job}?WAIT=30")).await;
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(get(&format!("{job}?WAIT=soon")).await.0, 400);
    raw_client().delete(&job).send().await.unwrap();
}

#[tokio::test]
async fn the_reaper_destroys_expired_jobs_and_their_results() {
    let base = crate::common::restricted().url("");
    let job = create(&base, &[("LANG", "ADQL"), ("QUERY", Q), ("PHASE", "RUN")]).await;
    let doc = wait_final(&job, Duration::from_secs(60)).await;
    assert_eq!(tag(&doc, "phase"), Some("COMPLETED"));
    let id = job.rsplit('/').next().unwrap().to_string();
    assert_eq!(get(&format!("{job}/results/result")).await.0, 200);
    let soon = parallax::time::iso8601_secs(parallax::time::now_secs() + 2);
    let (status, _, body) = post(
        &format!("{job}/destruction"),
        &[("DESTRUCTION", soon.as_str())],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(get(&format!("{job}/destruction")).await.2, soon);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = get(&job).await;
        if status == 404 {
            break;
        }
        assert!(
            Instant::now() < until,
            "job {id} outlived its destruction time"
        );
        let _ = get(&format!("{job}?WAIT=1")).await;
    }
    assert_eq!(get(&format!("{job}/results/result")).await.0, 404);
    let (_, _, list) = get(&format!("{base}/async")).await;
    assert!(!list.contains(&id));
}
