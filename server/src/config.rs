//! The configuration file (one TOML file) and its validated runtime form.
//!
//! Every command-line flag of `parallax serve` has a key here; flags override the file.

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
    /// VOSI access URLs; default `http://{http}/tap`.
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
        let public_url = o
            .public_url
            .or(file.server.public_url)
            .map(|u| u.trim_end_matches('/').to_string());
        Ok(Self {
            http,
            data_dir: o
                .data_dir
                .or(file.server.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            public_url,
            limits,
            demo_sources: o.demo_sources.or(file.demo.sources).unwrap_or(200_000),
            demo_seed: file.demo.seed.unwrap_or(42),
            catalog,
            config_dir,
        })
    }
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
    fn defaults() {
        let s = Settings::load(None, Overrides::default()).unwrap();
        assert_eq!(s.http.port(), 8080);
        assert!(s.catalog.tables.is_empty());
    }
}
