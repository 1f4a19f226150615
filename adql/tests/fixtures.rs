//! ADQL fixtures and execution semantics: the single integration-test binary of this crate.
//!
//! * `fixtures/valid/*.adql`: snapshot of the rewritten SQL and of DataFusion's logical plan
//!   against a small Gaia-like catalogue (only the SQL when the first line is
//!   `-- parse-only`, used where planning is beside the point, e.g. REGION).
//! * `fixtures/invalid/*.adql`: snapshot of the rendered error frame.
//! * `semantics`: queries executed on a few rows to pin ADQL semantics.

#[path = "support/catalog.rs"]
mod catalog;
#[path = "support/semantics.rs"]
mod semantics;

use std::path::Path;

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a tokio runtime: {e}"),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn valid() {
    let rt = runtime();
    let ctx = rt.block_on(catalog::context());
    let state = ctx.state();
    let mut failures = Vec::new();
    insta::glob!("fixtures/valid/*.adql", |path| {
        let text = read(path);
        let query = match parallax_adql::parse(&text) {
            Ok(q) => q,
            Err(e) => {
                failures.push(format!("{}:\n{}", path.display(), e.render(&text)));
                return;
            }
        };
        let mut out = format!("-- sql\n{}\n", query.statement);
        if let Some(top) = query.top {
            out.push_str(&format!("-- top\n{top}\n"));
        }
        if !text.starts_with("-- parse-only") {
            match rt.block_on(parallax_adql::plan(&state, &text)) {
                Ok(plan) => out.push_str(&format!("-- plan\n{}\n", plan.display_indent())),
                Err(e) => {
                    failures.push(format!("{}:\n{}", path.display(), e.render(&text)));
                    return;
                }
            }
        }
        insta::assert_snapshot!(out);
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid() {
    let rt = runtime();
    let ctx = rt.block_on(catalog::context());
    let state = ctx.state();
    insta::glob!("fixtures/invalid/*.adql", |path| {
        let text = read(path);
        let out = match rt.block_on(parallax_adql::plan(&state, &text)) {
            Ok(plan) => panic!(
                "{} should fail but planned:\n{}",
                path.display(),
                plan.display_indent()
            ),
            Err(e) => {
                assert!(
                    e.is_user_error(),
                    "{}: internal error {e:?}",
                    path.display()
                );
                format!("{}\n{}", kind_name(&e), e.render(&text))
            }
        };
        insta::assert_snapshot!(out);
    });
}

fn kind_name(e: &parallax_adql::AdqlError) -> String {
    let debug = format!("{:?}", e.kind());
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A cheap, deterministic stand-in for the cargo-fuzz target: every prefix of every fixture,
/// and every fixture with each character deleted, must parse or fail without panicking, and
/// every error must render.
#[test]
fn mutated_fixtures_never_panic() {
    let mut texts = Vec::new();
    for dir in ["valid", "invalid"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            texts.push(read(&entry.path()));
        }
    }
    let mut count = 0usize;
    for text in &texts {
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for (k, &i) in boundaries.iter().enumerate() {
            let next = boundaries.get(k + 1).copied().unwrap_or(text.len());
            for candidate in [
                text[..i].to_owned(),
                format!("{}{}", &text[..i], &text[next..]),
            ] {
                if let Err(e) = parallax_adql::parse(&candidate) {
                    let _ = e.render(&candidate);
                }
                count += 1;
            }
        }
    }
    assert!(count > 10_000, "{count}");
}
