//! The `parallax` binary's subcommands, run as processes.

use std::process::Command;

use crate::common::{SOURCES, fixture};

fn parallax(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .args(args)
        .output()
        .expect("run parallax");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn adql_parse_reports_errors_with_position() {
    let (code, out, _) = parallax(&["adql", "parse", "SELECT TOP 5 ra FROM gaiadr3.gaia_source"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "ok");
    let (code, _, err) = parallax(&[
        "adql",
        "parse",
        "SELECT ra\nFROM gaiadr3.gaia_source\nWHERE",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains('^'), "{err}");
}

#[test]
fn adql_translate_prints_the_plan() {
    // The same data directory and demo size as the running fixture, so nothing is regenerated.
    let dir = fixture().data_dir.to_string_lossy().to_string();
    let n = SOURCES.to_string();
    let (code, out, err) = parallax(&[
        "adql",
        "translate",
        "--data-dir",
        &dir,
        "--demo-sources",
        &n,
        "SELECT TOP 3 source_id FROM gaiadr3.gaia_source WHERE parallax > 1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("TableScan: gaiadr3.gaia_source"), "{out}");
    assert!(out.contains("Limit"), "{out}");
    let (code, _, err) = parallax(&[
        "adql",
        "translate",
        "--data-dir",
        &dir,
        "--demo-sources",
        &n,
        "SELECT paralax FROM gaiadr3.gaia_source",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("parallax"), "{err}");
}

#[test]
fn generate_writes_the_demo_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().to_string();
    let (code, stdout, err) = parallax(&["generate", "--out", &out, "--sources", "2000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("gaiadr3.gaia_source\t2000 rows"),
        "{stdout}"
    );
    assert!(dir.path().join("gaiadr3/gaia_source").is_dir());
}

#[test]
fn bad_start_up_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[limits]\nmaxrec_default = \"many\"\n").unwrap();
    let cfg = cfg.to_string_lossy().to_string();
    let (code, _, err) = parallax(&["serve", "--config", &cfg, "--http", "127.0.0.1:0"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml") && err.contains("maxrec_default"),
        "{err}"
    );

    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "not parquet").unwrap();
    let arg = format!("gaiadr3.notes={}", txt.display());
    let (code, _, err) = parallax(&["serve", "--table", &arg, "--http", "127.0.0.1:0"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("gaiadr3.notes") && err.contains("Parquet"),
        "{err}"
    );
}

#[test]
fn hash_secret_makes_config_values() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_parallax"))
        .arg("hash-secret")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run parallax");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("sha256:100000:"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let section: parallax::config::AuthSection = toml::from_str(&format!(
        "mode = \"basic\"\n[[users]]\nname = \"u\"\npassword_hash = \"{hash}\"\n"
    ))
    .unwrap();
    assert!(parallax::auth::AuthSettings::from_section(&section).is_ok());
}

#[test]
fn config_reference_is_the_docs_file() {
    let (code, out, err) = parallax(&["config-reference"]);
    assert_eq!(code, 0, "{err}");
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config-reference.md"),
    )
    .expect("docs/config-reference.md");
    assert!(
        out == docs,
        "docs/config-reference.md differs from `parallax config-reference`"
    );
    assert!(out.contains("## `[admission]`"), "{out}");
}
