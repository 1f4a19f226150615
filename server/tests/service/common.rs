//! A shared demo catalogue and a server running on its own runtime thread for the whole test
//! process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use parallax::config::{Overrides, Settings};

/// Sources in the test demo catalogue.
pub(crate) const SOURCES: u64 = 20_000;

pub(crate) struct Fixture {
    pub(crate) addr: SocketAddr,
    pub(crate) data_dir: PathBuf,
    /// The Flight SQL address (the shared fixture serves Flight SQL on port 0 too).
    pub(crate) flight: Option<SocketAddr>,
}

impl Fixture {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}/tap{}", self.addr, path)
    }
}

pub(crate) fn settings(data_dir: PathBuf) -> Settings {
    Settings::load(
        None,
        Overrides {
            http: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir),
            demo_sources: Some(SOURCES),
            flight: Some("127.0.0.1:0".into()),
            ..Default::default()
        },
    )
    .expect("settings")
}

/// Settings from a whole config file `text` (paths relative to `config_dir`) over the
/// shared demo catalogue.
pub(crate) fn settings_from_toml(text: &str, config_dir: PathBuf) -> Settings {
    let file: parallax::config::ConfigFile = toml::from_str(text).expect("config");
    Settings::from_file(
        file,
        "test",
        config_dir,
        Overrides {
            data_dir: Some(fixture().data_dir.clone()),
            ..Default::default()
        },
    )
    .expect("settings")
}

/// Starts (once) the server on a fresh demo catalogue and returns where it listens.
pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let data_dir = dir.join("data");
        let (addr, flight) = start_server(settings(data_dir.clone()));
        Fixture {
            addr,
            data_dir,
            flight,
        }
    })
}

/// Runs a server with `settings` on its own runtime thread for the rest of the test process;
/// returns its HTTP and (when configured) Flight SQL addresses.
pub(crate) fn start_server(settings: Settings) -> (SocketAddr, Option<SocketAddr>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let app = parallax::app::Application::build(settings)
                .await
                .expect("server starts");
            tx.send((app.local_addr(), app.flight_addr()))
                .expect("send addr");
            app.run_until_stopped().await.expect("serve");
        });
    });
    rx.recv().expect("server ready")
}

/// A second server over the same demo catalogue with HTTP basic accounts `alice` and `bob`
/// (passwords `alice-pw`, `bob-pw`), small upload limits (100 000 bytes, 1 000 rows, no URLs)
/// and one
/// active job per owner; its reaper runs every second.
pub(crate) fn restricted() -> &'static Fixture {
    static RESTRICTED: OnceLock<Fixture> = OnceLock::new();
    RESTRICTED.get_or_init(|| {
        let f = fixture();
        let jobs = tempfile::tempdir().expect("tempdir").keep();
        let text = format!(
            "[server]\nhttp = \"127.0.0.1:0\"\n[demo]\nsources = {SOURCES}\n\
             [jobs]\ndir = \"{}\"\nmax_active_per_owner = 1\nreaper_interval = 1\n[uploads]\nmax_bytes = 100000\nmax_rows = 1000\nallow_urls = false\n\
             [auth]\nmode = \"basic\"\n\
             [[auth.users]]\nname = \"alice\"\npassword_hash = \"{}\"\n\
             [[auth.users]]\nname = \"bob\"\npassword_hash = \"{}\"\n",
            jobs.display(),
            parallax::auth::hash_password("alice-pw"),
            parallax::auth::hash_password("bob-pw"),
        );
        let settings = settings_from_toml(&text, PathBuf::from("."));
        let (addr, flight) = start_server(settings);
        Fixture {
            addr,
            data_dir: f.data_dir.clone(),
            flight,
        }
    })
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client")
}

/// POSTs a form to `/sync` and returns (status, content type, body).
pub(crate) async fn sync(params: &[(&str, &str)]) -> (u16, String, String) {
    let f = fixture();
    let r = client().post(f.url("/sync")).form(params).send().await;
    read(r.expect("request")).await
}

/// Splits a response into (status, content type, body text).
pub(crate) async fn read(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, r.text().await.expect("body"))
}

/// Runs an ADQL query and returns the VOTable text (asserting success).
pub(crate) async fn query_votable(q: &str) -> String {
    let (status, _, body) = sync(&[
        ("REQUEST", "doQuery"),
        ("LANG", "ADQL"),
        ("FORMAT", "votable/td"),
        ("QUERY", q),
    ])
    .await;
    assert_eq!(status, 200, "query {q} failed: {body}");
    body
}
