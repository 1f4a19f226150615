//! Accounts and isolation on a server with HTTP basic authentication.

use std::time::Duration;

use base64::Engine as _;

use crate::common::restricted;
use crate::uws::{raw_client, tag};

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

async fn as_user(
    method: reqwest::Method,
    url: &str,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let mut rb = raw_client().request(method, url);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    if !form.is_empty() {
        rb = rb.form(form);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, loc, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn jobs_are_private_to_their_owner() {
    use reqwest::Method;
    let base = restricted().url("");
    let alice = basic("alice", "alice-pw");
    let bob = basic("bob", "bob-pw");
    let (status, job, _) = as_user(
        Method::POST,
        &format!("{base}/async"),
        Some(&alice),
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT TOP 3 source_id FROM gaiadr3.gaia_source"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    // The owner sees it, with ownerId.
    let (status, _, doc) = as_user(Method::GET, &job, Some(&alice), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(tag(&doc, "ownerId"), Some("alice"));
    // Bob and anonymous callers see nothing: 404 on every resource, and empty job lists.
    for who in [Some(bob.as_str()), None] {
        for res in ["", "/phase", "/parameters", "/results", "/owner"] {
            let (status, _, _) = as_user(Method::GET, &format!("{job}{res}"), who, &[]).await;
            assert_eq!(status, 404, "{res} visible to {who:?}");
        }
        let (status, _, _) = as_user(
            Method::POST,
            &format!("{job}/phase"),
            who,
            &[("PHASE", "ABORT")],
        )
        .await;
        assert_eq!(status, 404);
        let (status, _, _) = as_user(Method::DELETE, &job, who, &[]).await;
        assert_eq!(status, 404);
        let (_, _, list) = as_user(Method::GET, &format!("{base}/async"), who, &[]).await;
        assert!(!list.contains(job.rsplit('/').next().unwrap()), "{list}");
    }
    // Capabilities stay anonymous and declare both access modes.
    let (status, _, caps) = as_user(Method::GET, &format!("{base}/capabilities"), None, &[]).await;
    assert_eq!(status, 200);
    assert!(
        caps.contains(
            "<securityMethod/><securityMethod standardID=\"ivo://ivoa.net/sso#BasicAA\"/>"
        )
    );
    // Wrong credentials: 401 with a challenge, on /async and /sync alike.
    for url in [
        format!("{base}/async"),
        format!("{base}/sync?LANG=ADQL&QUERY=SELECT%201"),
    ] {
        let r = raw_client()
            .get(&url)
            .header("authorization", basic("alice", "wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{url}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
    let (status, _, _) = as_user(
        Method::GET,
        &format!("{base}/async"),
        Some(&basic("mallory", "x")),
        &[],
    )
    .await;
    assert_eq!(status, 401);
    // Alice's job is intact and hers to delete.
    let client = reqwest::Client::builder()
        .default_headers({
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("authorization", alice.parse().unwrap());
            h
        })
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(format!("{job}?WAIT=30")).send().await.unwrap();
    let doc = r.text().await.unwrap();
    assert!(doc.contains("<uws:phase>"), "{doc}");
    let mut done = doc;
    for _ in 0..60 {
        if tag(&done, "phase") == Some("COMPLETED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        done = client.get(&job).send().await.unwrap().text().await.unwrap();
    }
    assert_eq!(tag(&done, "phase"), Some("COMPLETED"));
    let r = client
        .get(format!("{job}/results/result"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _, _) = as_user(Method::DELETE, &job, Some(&alice), &[]).await;
    assert_eq!(status, 303);
    let (status, _, _) = as_user(Method::GET, &job, Some(&alice), &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn active_jobs_per_owner_are_limited() {
    use reqwest::Method;
    let base = restricted().url("");
    let bob = basic("bob", "bob-pw");
    let endless = [
        ("LANG", "ADQL"),
        ("QUERY", crate::uws::ENDLESS),
        ("PHASE", "RUN"),
    ];
    let (status, first, _) =
        as_user(Method::POST, &format!("{base}/async"), Some(&bob), &endless).await;
    assert_eq!(status, 303);
    // A second job may be created but not run while the first is active.
    let (status, second, _) = as_user(
        Method::POST,
        &format!("{base}/async"),
        Some(&bob),
        &[("LANG", "ADQL"), ("QUERY", "SELECT 1 AS x")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, body) = as_user(
        Method::POST,
        &format!("{second}/phase"),
        Some(&bob),
        &[("PHASE", "RUN")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("the limit is 1"), "{body}");
    // Creating with PHASE=RUN over the limit creates nothing.
    let (_, _, before) = as_user(Method::GET, &format!("{base}/async"), Some(&bob), &[]).await;
    let (status, loc, _) = as_user(
        Method::POST,
        &format!("{base}/async"),
        Some(&bob),
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT 1 AS x"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    assert_eq!((status, loc.as_str()), (403, ""));
    let (_, _, after) = as_user(Method::GET, &format!("{base}/async"), Some(&bob), &[]).await;
    assert_eq!(
        before.matches("<uws:jobref").count(),
        after.matches("<uws:jobref").count()
    );
    // Another owner is not affected.
    let (status, other, _) = as_user(
        Method::POST,
        &format!("{base}/async"),
        Some(&basic("alice", "alice-pw")),
        &[
            ("LANG", "ADQL"),
            ("QUERY", "SELECT 1 AS x"),
            ("PHASE", "RUN"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    as_user(
        Method::DELETE,
        &other,
        Some(&basic("alice", "alice-pw")),
        &[],
    )
    .await;
    // After ABORT the slot is free again.
    let (status, _, _) = as_user(
        Method::POST,
        &format!("{first}/phase"),
        Some(&bob),
        &[("PHASE", "ABORT")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, body) = as_user(
        Method::POST,
        &format!("{second}/phase"),
        Some(&bob),
        &[("PHASE", "RUN")],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    for j in [first, second] {
        as_user(Method::DELETE, &j, Some(&bob), &[]).await;
    }
}
