//! The configuration file (one TOML file) and its validated runtime form.
//!
//! Every command-line flag of `parallax serve` has a key here; flags override the file.
//! [`reference`] describes every key for operators (`docs/config-reference.md`).

pub mod reference;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use parallax_catalog::CatalogConfig;
use serde::Deserialize;

/// The configuration file as written by the operator.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[server]`: addresses and directories.
    #[serde(default)]
    pub server: ServerSection,
    /// `[limits]`: output and request limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[demo]`: the built-in demo catalogue, used when no table is configured.
    #[serde(default)]
    pub demo: DemoSection,
    /// `[catalog]`: schemas, tables and keys.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// `[jobs]`: the UWS job store, queue and reaper.
    #[serde(default)]
    pub jobs: JobsSection,
    /// `[uploads]`: TAP_UPLOAD tables.
    #[serde(default)]
    pub uploads: UploadsSection,
    /// `[auth]`: accounts.
    #[serde(default)]
    pub auth: AuthSection,
    /// `[flight]`: the Arrow Flight SQL service.
    #[serde(default)]
    pub flight: FlightSection,
    /// `[cache]`: the result cache of sync queries.
    #[serde(default)]
    pub cache: CacheSection,
    /// `[admission]`: limits on concurrent sync queries and query memory.
    #[serde(default)]
    pub admission: AdmissionSection,
    /// `[engine]`: where queries run (in process, or on a Ballista cluster).
    #[serde(default)]
    pub engine: EngineSection,
}

/// `[cache]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Answer identical sync queries (same normalised ADQL, MAXREC and catalogue files) from
    /// memory (default true).
    pub enabled: Option<bool>,
    /// Seconds an entry lives (default 600).
    pub ttl: Option<u64>,
    /// Arrow bytes the cache holds in all (default 536870912).
    pub max_bytes: Option<u64>,
    /// Largest result kept, in Arrow bytes (default 33554432); bigger ones are not cached.
    pub max_entry_bytes: Option<u64>,
}

/// `[admission]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionSection {
    /// Sync queries running at once, all users together (default twice the cores, at
    /// least 4). Async jobs have their own limit, `jobs.concurrency`.
    pub sync_concurrency: Option<usize>,
    /// Sync queries one user runs at once (anonymous callers count as one user; default 0,
    /// no per-user limit).
    pub sync_per_user: Option<usize>,
    /// Seconds a sync request waits for a free slot before HTTP 503 (default 30).
    pub queue_wait: Option<f64>,
    /// `Retry-After` seconds sent with 503 (default 10).
    pub retry_after: Option<u64>,
    /// Bytes of memory all running queries may reserve together (DataFusion's fair spill
    /// pool: sorts, joins and aggregates spill to disk or fail cleanly beyond it); default
    /// half the machine's memory, 0 for no limit.
    pub memory_bytes: Option<u64>,
}

/// `[engine]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// `"local"` (default: queries run in this process) or `"ballista"` (queries run on the
    /// Ballista cluster whose scheduler is `scheduler`).
    pub mode: Option<String>,
    /// The Ballista scheduler, `df://HOST:PORT` (default `df://127.0.0.1:50050`); used in
    /// `ballista` mode (`serve --ballista URL`).
    pub scheduler: Option<String>,
}

/// `[flight]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightSection {
    /// Flight SQL (gRPC) listen address (`--flight`), e.g. `127.0.0.1:50051`; the Flight SQL
    /// service runs only when an address is given.
    pub listen: Option<String>,
    /// PEM certificate chain: serve Flight SQL over TLS (`grpc+tls://`); needs `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

/// `[jobs]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    /// Directory of the job database and result files (default `{data_dir}/jobs`).
    pub dir: Option<PathBuf>,
    /// Jobs executing at once; further jobs wait in QUEUED (default 2).
    pub concurrency: Option<usize>,
    /// Default execution duration of a job in seconds (default 3600).
    pub execution_duration_default: Option<u64>,
    /// Longest execution duration a client may ask for, in seconds (default 86400).
    pub execution_duration_max: Option<u64>,
    /// Default time from creation to destruction, in seconds (default 172800, two days).
    pub retention_default: Option<u64>,
    /// Longest retention a client may ask for, in seconds (default 604800, a week).
    pub retention_max: Option<u64>,
    /// What happens to jobs that were QUEUED or EXECUTING when the service stopped:
    /// `"rerun"` (default) queues them again, `"error"` ends them in ERROR.
    pub on_restart: Option<String>,
    /// Seconds between reaper runs that destroy expired jobs (default 60).
    pub reaper_interval: Option<u64>,
    /// Longest time a blocking `WAIT` holds a request, in seconds (default 60; `WAIT=-1`
    /// means this).
    pub wait_max: Option<u64>,
    /// Jobs one owner may have QUEUED or EXECUTING at once (default 0: no limit).
    pub max_active_per_owner: Option<usize>,
    /// Bytes of stored results one owner may hold (default 0: no limit).
    pub max_result_bytes_per_owner: Option<u64>,
}

/// `[uploads]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadsSection {
    /// Accept UPLOAD at all (default true).
    pub enabled: Option<bool>,
    /// Largest upload table in bytes (default 67108864).
    pub max_bytes: Option<u64>,
    /// Most rows in one upload table (default 1000000).
    pub max_rows: Option<u64>,
    /// Fetch `http://` and `https://` upload URLs (default true).
    pub allow_urls: Option<bool>,
    /// Seconds allowed to fetch an upload URL (default 30).
    pub url_timeout: Option<u64>,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `"none"` (default), `"bearer"` or `"basic"`. Anonymous requests are always allowed;
    /// wrong credentials are refused with 401.
    pub mode: Option<String>,
    /// Refuse anonymous calls over HTTP TAP and Flight SQL (default false; needs a mode).
    pub required: Option<bool>,
    /// The accounts.
    #[serde(default)]
    pub users: Vec<UserEntry>,
}

/// One account in `[[auth.users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The user name (the job owner).
    pub name: String,
    /// For `basic`: `sha256:ITERATIONS:SALT:HEX`, SHA-256 applied ITERATIONS times to SALT
    /// followed by the password (make one with `parallax hash-secret`).
    pub password_hash: Option<String>,
    /// For `bearer`: `sha256:HEX`, the SHA-256 of the token (`parallax hash-secret --token`).
    pub token_hash: Option<String>,
}

/// `[server]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// HTTP listen address (`--http`), default `127.0.0.1:8080`.
    pub http: Option<String>,
    /// Data directory (`--data-dir`) for the demo catalogue and job results, default `./data`.
    pub data_dir: Option<PathBuf>,
    /// Public base URL of the TAP service as clients see it (`--public-url`), used in
    /// VOSI access URLs; default `http://HOST/tap`, HOST from the request's `Host` header.
    pub public_url: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Rows returned when the client gives no MAXREC (default 100000).
    pub maxrec_default: Option<u64>,
    /// Largest MAXREC honoured (default 100000000); larger requests are capped.
    pub maxrec_hard: Option<u64>,
    /// Longest accepted query text in bytes (default 1000000).
    pub max_query_bytes: Option<usize>,
    /// Largest accepted request body in bytes (default 16777216).
    pub max_request_bytes: Option<usize>,
}

/// `[demo]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSection {
    /// Number of sources in `gaiadr3.gaia_source` (default 200000).
    pub sources: Option<u64>,
    /// Random seed (default 42).
    pub seed: Option<u64>,
}

/// Validated runtime settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTP listen address.
    pub http: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Public base URL override (without trailing slash).
    pub public_url: Option<String>,
    /// Output and request limits.
    pub limits: Limits,
    /// Demo catalogue size.
    pub demo_sources: u64,
    /// Demo catalogue seed.
    pub demo_seed: u64,
    /// The catalogue; empty means "serve the demo catalogue".
    pub catalog: CatalogConfig,
    /// Directory relative catalogue paths are resolved against.
    pub config_dir: PathBuf,
    /// The job store and queue.
    pub jobs: JobSettings,
    /// Upload limits.
    pub uploads: UploadSettings,
    /// Accounts.
    pub auth: crate::auth::AuthSettings,
    /// Flight SQL listen address; `None` serves no Flight SQL.
    pub flight: Option<SocketAddr>,
    /// Where queries run.
    pub engine: EngineMode,
    /// The result cache.
    pub cache: crate::ops::CacheSettings,
    /// Sync admission and the memory pool.
    pub admission: crate::ops::AdmissionSettings,
    /// Flight SQL TLS certificate chain and key (PEM files, relative to the config file).
    pub flight_tls: Option<(PathBuf, PathBuf)>,
}

/// What to do with jobs that were running when the service stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRestart {
    /// Queue them again.
    Rerun,
    /// End them in ERROR with an explicit message.
    Error,
}

/// Validated `[jobs]`.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Job database and result directory.
    pub dir: PathBuf,
    /// Concurrently executing jobs.
    pub concurrency: usize,
    /// Default execution duration (s).
    pub execution_duration_default: u64,
    /// Maximum execution duration (s).
    pub execution_duration_max: u64,
    /// Default retention (s).
    pub retention_default: u64,
    /// Maximum retention (s).
    pub retention_max: u64,
    /// Restart policy.
    pub on_restart: OnRestart,
    /// Reaper period (s).
    pub reaper_interval: u64,
    /// Longest blocking WAIT (s).
    pub wait_max: u64,
    /// Active jobs per owner (0 = no limit).
    pub max_active_per_owner: usize,
    /// Stored result bytes per owner (0 = no limit).
    pub max_result_bytes_per_owner: u64,
}

/// Validated `[uploads]`.
#[derive(Debug, Clone, Copy)]
pub struct UploadSettings {
    /// UPLOAD accepted.
    pub enabled: bool,
    /// Bytes per table.
    pub max_bytes: u64,
    /// Rows per table.
    pub max_rows: u64,
    /// http(s) URLs fetched.
    pub allow_urls: bool,
    /// URL fetch timeout (s).
    pub url_timeout: u64,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 64 * 1024 * 1024,
            max_rows: 1_000_000,
            allow_urls: true,
            url_timeout: 30,
        }
    }
}

/// Limits applied to requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Default MAXREC.
    pub maxrec_default: u64,
    /// Hard MAXREC.
    pub maxrec_hard: u64,
    /// Maximum query length.
    pub max_query_bytes: usize,
    /// Maximum request body.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            maxrec_default: 100_000,
            maxrec_hard: 100_000_000,
            max_query_bytes: 1_000_000,
            max_request_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Command-line overrides for [`Settings`].
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--http`.
    pub http: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--table SCHEMA.NAME=PATH`, repeatable.
    pub tables: Vec<String>,
    /// `--demo-sources`.
    pub demo_sources: Option<u64>,
    /// `--flight`.
    pub flight: Option<String>,
    /// `--ballista URL`: run queries on this Ballista scheduler.
    pub ballista: Option<String>,
}

/// Where queries run (`[engine]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EngineMode {
    /// In this process (DataFusion).
    #[default]
    Local,
    /// On a Ballista cluster.
    Ballista {
        /// The scheduler's gRPC host.
        host: String,
        /// The scheduler's gRPC port.
        port: u16,
    },
}

impl EngineMode {
    /// The scheduler URL (`df://host:port`) in Ballista mode.
    pub fn scheduler_url(&self) -> Option<String> {
        match self {
            EngineMode::Local => None,
            EngineMode::Ballista { host, port } => Some(format!("df://{host}:{port}")),
        }
    }
}

/// The default Ballista scheduler address.
pub const DEFAULT_SCHEDULER: &str = "df://127.0.0.1:50050";

/// Parses a scheduler address: `df://HOST:PORT`, or `HOST:PORT`.
pub fn parse_scheduler(text: &str) -> Result<(String, u16), String> {
    let rest = text.strip_prefix("df://").unwrap_or(text);
    let rest = rest.trim_end_matches('/');
    let bad = || format!("'{text}' is not a scheduler address like {DEFAULT_SCHEDULER}");
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains('/') {
        return Err(bad());
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

fn engine_mode(
    e: &EngineSection,
    ballista: Option<String>,
    name: &str,
) -> Result<EngineMode, ConfigError> {
    let mode = match (&ballista, e.mode.as_deref()) {
        (Some(_), _) => "ballista",
        (None, None) => "local",
        (None, Some(m)) => m,
    };
    match mode {
        "local" => Ok(EngineMode::Local),
        "ballista" => {
            let text = ballista
                .or_else(|| e.scheduler.clone())
                .unwrap_or_else(|| DEFAULT_SCHEDULER.to_string());
            let (host, port) = parse_scheduler(&text)
                .map_err(|m| ConfigError::new(name, format!("engine.scheduler: {m}")))?;
            Ok(EngineMode::Ballista { host, port })
        }
        other => Err(ConfigError::new(
            name,
            format!("engine.mode: '{other}' is neither \"local\" nor \"ballista\""),
        )),
    }
}

/// A configuration error, naming the file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    file: String,
    message: String,
}

impl ConfigError {
    fn new(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

impl Settings {
    /// Reads the optional config file and applies command-line overrides.
    pub fn load(path: Option<&Path>, o: Overrides) -> Result<Self, ConfigError> {
        let (file, name, dir) = match path {
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::new(&name, format!("cannot read: {e}")))?;
                let file: ConfigFile = toml::from_str(&text).map_err(|e| {
                    ConfigError::new(&name, e.to_string().trim_end().replace('\n', "\n  "))
                })?;
                let dir = p
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."));
                (file, name, dir)
            }
            None => (
                ConfigFile::default(),
                "command line".to_string(),
                PathBuf::from("."),
            ),
        };
        Self::from_file(file, &name, dir, o)
    }

    /// Validates a parsed config file plus overrides.
    pub fn from_file(
        file: ConfigFile,
        name: &str,
        config_dir: PathBuf,
        o: Overrides,
    ) -> Result<Self, ConfigError> {
        let http_text = o
            .http
            .or(file.server.http)
            .unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let http: SocketAddr = http_text.parse().map_err(|_| {
            ConfigError::new(
                name,
                format!("server.http: '{http_text}' is not an address like 127.0.0.1:8080"),
            )
        })?;
        let flight = match o.flight.or(file.flight.listen) {
            None => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                ConfigError::new(
                    name,
                    format!("flight.listen: '{text}' is not an address like 127.0.0.1:50051"),
                )
            })?),
        };
        let flight_tls = match (file.flight.tls_cert, file.flight.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((config_dir.join(cert), config_dir.join(key))),
            _ => {
                return Err(ConfigError::new(
                    name,
                    "flight.tls_cert and flight.tls_key must be given together",
                ));
            }
        };
        let d = Limits::default();
        let limits = Limits {
            maxrec_default: file.limits.maxrec_default.unwrap_or(d.maxrec_default),
            maxrec_hard: file.limits.maxrec_hard.unwrap_or(d.maxrec_hard),
            max_query_bytes: file.limits.max_query_bytes.unwrap_or(d.max_query_bytes),
            max_request_bytes: file.limits.max_request_bytes.unwrap_or(d.max_request_bytes),
        };
        if limits.maxrec_default > limits.maxrec_hard {
            return Err(ConfigError::new(
                name,
                "limits.maxrec_default must not exceed limits.maxrec_hard",
            ));
        }
        let mut catalog = file.catalog;
        for t in &o.tables {
            catalog.tables.push(
                parallax_catalog::quick_table(t)
                    .map_err(|e| ConfigError::new(name, e.to_string()))?,
            );
        }
        let data_dir = o
            .data_dir
            .or(file.server.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let jobs = jobs_settings(&file.jobs, &data_dir, name)?;
        let engine = engine_mode(&file.engine, o.ballista, name)?;
        let du = UploadSettings::default();
        let uploads = UploadSettings {
            enabled: file.uploads.enabled.unwrap_or(du.enabled),
            max_bytes: file.uploads.max_bytes.unwrap_or(du.max_bytes),
            max_rows: file.uploads.max_rows.unwrap_or(du.max_rows),
            allow_urls: file.uploads.allow_urls.unwrap_or(du.allow_urls),
            url_timeout: file.uploads.url_timeout.unwrap_or(du.url_timeout).max(1),
        };
        let auth = crate::auth::AuthSettings::from_section(&file.auth)
            .map_err(|e| ConfigError::new(name, e))?;
        let public_url = o
            .public_url
            .or(file.server.public_url)
            .map(|u| u.trim_end_matches('/').to_string());
        let dc = crate::ops::CacheSettings::default();
        let cache = crate::ops::CacheSettings {
            enabled: file.cache.enabled.unwrap_or(dc.enabled),
            ttl: file
                .cache
                .ttl
                .map_or(dc.ttl, std::time::Duration::from_secs),
            max_bytes: file.cache.max_bytes.unwrap_or(dc.max_bytes),
            max_entry_bytes: file.cache.max_entry_bytes.unwrap_or(dc.max_entry_bytes),
        };
        let da = crate::ops::AdmissionSettings::default();
        let a = &file.admission;
        let queue_wait = a.queue_wait.unwrap_or(da.queue_wait.as_secs_f64());
        if !(queue_wait.is_finite() && queue_wait >= 0.0) {
            return Err(ConfigError::new(
                name,
                "admission.queue_wait must be a non-negative number of seconds",
            ));
        }
        let admission = crate::ops::AdmissionSettings {
            sync_concurrency: a.sync_concurrency.unwrap_or(da.sync_concurrency),
            sync_per_user: a.sync_per_user.unwrap_or(da.sync_per_user),
            queue_wait: std::time::Duration::from_secs_f64(queue_wait),
            retry_after: a.retry_after.unwrap_or(da.retry_after),
            memory_bytes: a.memory_bytes.unwrap_or(da.memory_bytes),
        };
        if admission.sync_concurrency == 0 {
            return Err(ConfigError::new(
                name,
                "admission.sync_concurrency must be at least 1",
            ));
        }
        Ok(Self {
            http,
            data_dir,
            public_url,
            limits,
            demo_sources: o.demo_sources.or(file.demo.sources).unwrap_or(200_000),
            demo_seed: file.demo.seed.unwrap_or(42),
            catalog,
            config_dir,
            jobs,
            uploads,
            auth,
            flight,
            engine,
            cache,
            admission,
            flight_tls,
        })
    }
}

fn jobs_settings(j: &JobsSection, data_dir: &Path, name: &str) -> Result<JobSettings, ConfigError> {
    let on_restart = match j.on_restart.as_deref().unwrap_or("rerun") {
        "rerun" => OnRestart::Rerun,
        "error" => OnRestart::Error,
        other => {
            return Err(ConfigError::new(
                name,
                format!("jobs.on_restart: '{other}' is neither \"rerun\" nor \"error\""),
            ));
        }
    };
    let s = JobSettings {
        dir: j.dir.clone().unwrap_or_else(|| data_dir.join("jobs")),
        concurrency: j.concurrency.unwrap_or(2),
        execution_duration_default: j.execution_duration_default.unwrap_or(3600),
        execution_duration_max: j.execution_duration_max.unwrap_or(86_400),
        retention_default: j.retention_default.unwrap_or(172_800),
        retention_max: j.retention_max.unwrap_or(604_800),
        on_restart,
        reaper_interval: j.reaper_interval.unwrap_or(60).max(1),
        wait_max: j.wait_max.unwrap_or(60),
        max_active_per_owner: j.max_active_per_owner.unwrap_or(0),
        max_result_bytes_per_owner: j.max_result_bytes_per_owner.unwrap_or(0),
    };
    if s.concurrency == 0 {
        return Err(ConfigError::new(
            name,
            "jobs.concurrency must be at least 1",
        ));
    }
    if s.execution_duration_default == 0 || s.execution_duration_default > s.execution_duration_max
    {
        return Err(ConfigError::new(
            name,
            "jobs.execution_duration_default must be between 1 and jobs.execution_duration_max",
        ));
    }
    if s.retention_default == 0 || s.retention_default > s.retention_max {
        return Err(ConfigError::new(
            name,
            "jobs.retention_default must be between 1 and jobs.retention_max",
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.toml");
        std::fs::write(&p, "[server]\nhtp = \"x\"\n").unwrap();
        let err = Settings::load(Some(&p), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("htp"), "{err}");
    }

    #[test]
    fn bad_address_is_reported() {
        let o = Overrides {
            http: Some("nonsense".into()),
            ..Default::default()
        };
        let err = Settings::load(None, o).unwrap_err().to_string();
        assert!(err.contains("server.http"), "{err}");
    }

    #[test]
    fn table_flag_needs_equals() {
        let o = Overrides {
            tables: vec!["gaiadr3.x".into()],
            ..Default::default()
        };
        assert!(Settings::load(None, o).is_err());
    }

    #[test]
    fn flight_section() {
        let file: ConfigFile = toml::from_str("[flight]\nlisten = \"127.0.0.1:50051\"\n").unwrap();
        let s = Settings::from_file(file, "t", PathBuf::from("."), Overrides::default()).unwrap();
        assert_eq!(s.flight.map(|a| a.port()), Some(50051));
        let file: ConfigFile = toml::from_str("[flight]\nlisten = \"nowhere\"\n").unwrap();
        let err = Settings::from_file(file, "t", PathBuf::from("."), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("flight.listen"), "{err}");
        assert!(
            Settings::load(None, Overrides::default())
                .unwrap()
                .flight
                .is_none()
        );
    }

    #[test]
    fn engine_section() {
        let file: ConfigFile =
            toml::from_str("[engine]\nmode = \"ballista\"\nscheduler = \"df://h:1234\"\n").unwrap();
        let s = Settings::from_file(file, "t", PathBuf::from("."), Overrides::default()).unwrap();
        assert_eq!(s.engine.scheduler_url().as_deref(), Some("df://h:1234"));
        let file: ConfigFile = toml::from_str("[engine]\nmode = \"cluster\"\n").unwrap();
        let err = Settings::from_file(file, "t", PathBuf::from("."), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("engine.mode"), "{err}");
        let o = Overrides {
            ballista: Some("df://nowhere".into()),
            ..Default::default()
        };
        let err = Settings::load(None, o).unwrap_err().to_string();
        assert!(err.contains("engine.scheduler"), "{err}");
        assert_eq!(
            Settings::load(None, Overrides::default()).unwrap().engine,
            EngineMode::Local
        );
    }

    #[test]
    fn remote_sources() {
        let file: ConfigFile = toml::from_str(
            "[[catalog.postgres]]\nname = \"archive\"\nschema = \"twomass\"\n\
             connection = \"host=127.0.0.1 user=tap dbname=a\"\ntables = [\"public.psc\"]\n\
             [catalog.postgres.table.psc.columns.ra]\nunit = \"deg\"\n\
             [[catalog.flightsql]]\nname = \"node2\"\nurl = \"grpc://127.0.0.1:1\"\n\
             tables = [\"gaiadr3.gaia_source\"]\ntimeout = 3\n",
        )
        .unwrap();
        let s = Settings::from_file(file, "t", PathBuf::from("."), Overrides::default()).unwrap();
        assert_eq!(s.catalog.postgres[0].tables, vec!["public.psc"]);
        let psc = &s.catalog.postgres[0].table["psc"];
        assert_eq!(psc.columns["ra"].unit.as_deref(), Some("deg"));
        assert_eq!(s.catalog.flightsql[0].timeout, Some(3));
        let err =
            toml::from_str::<ConfigFile>("[[catalog.postgres]]\nname = \"a\"\npasword = \"x\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("pasword"), "{err}");
    }

    #[test]
    fn defaults() {
        let s = Settings::load(None, Overrides::default()).unwrap();
        assert_eq!(s.http.port(), 8080);
        assert!(s.catalog.tables.is_empty());
    }
}
