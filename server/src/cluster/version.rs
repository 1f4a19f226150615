//! Every process of a cluster must run the same Parallax version.
//!
//! The front end plans with its functions and optimizer rules, the scheduler decodes and
//! re-plans with its own, and executors decode task plans against theirs: processes of
//! different versions can disagree on a function's meaning or on the plan encoding, and the
//! result would be wrong or the failure cryptic. Ballista itself only checks its own protocol
//! version.
//!
//! So the front end writes its version into the session configuration
//! ([`ParallaxOptions::version`], key `parallax.version`), which Ballista sends with the job to
//! the scheduler and with every task to the executors; the scheduler's session builder and the
//! executors' execution engine compare it with their own and refuse the job or task with a
//! message naming both versions and the process ([`check`]). The front end turns that into
//! HTTP 503 / Flight SQL `Unavailable` ([`is_mismatch`]).

use std::sync::OnceLock;

use datafusion::common::DataFusionError;
use datafusion::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::prelude::SessionConfig;

/// Parallax's keys in a session configuration (prefix `parallax.`).
///
/// Written by hand rather than with DataFusion's `extensions_options!`, whose entries lack the
/// prefix: Ballista sends a session's entries as key-value pairs and sets them again on the
/// other side, where a key without its prefix is dropped.
#[derive(Debug, Clone, Default)]
pub struct ParallaxOptions {
    /// The Parallax version of the front end that planned the query ("" when a client that is
    /// not a Parallax front end sent the job).
    pub version: String,
}

impl ConfigExtension for ParallaxOptions {
    const PREFIX: &'static str = "parallax";
}

impl ExtensionOptions for ParallaxOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> datafusion::common::Result<()> {
        match key {
            "version" => {
                self.version = value.to_string();
                Ok(())
            }
            _ => Err(DataFusionError::Configuration(format!(
                "unknown configuration key parallax.{key}"
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: format!("{}.version", Self::PREFIX),
            value: Some(self.version.clone()),
            description: "The Parallax version of the front end that planned the query",
        }]
    }
}

/// Text every version-mismatch message contains (how the front end recognises one in a
/// Ballista job's failure).
const MARK: &str = "Parallax version mismatch";

static OWN: OnceLock<String> = OnceLock::new();

/// This process's Parallax version: the crate version, unless [`pretend`] set another.
pub fn own() -> &'static str {
    OWN.get_or_init(|| env!("CARGO_PKG_VERSION").to_string())
}

/// Makes this process claim `version` (the hidden `--test-pretend-version` flag, for the tests
/// of a cluster with mixed versions). Only effective before the first [`own`].
pub fn pretend(version: String) {
    let _ = OWN.set(version);
}

/// `config` with [`ParallaxOptions`] registered and `parallax.version` set to `version`.
pub fn with_version(config: SessionConfig, version: &str) -> SessionConfig {
    config.with_option_extension(ParallaxOptions {
        version: version.to_string(),
    })
}

/// Ballista's default session configuration with [`ParallaxOptions`] registered (empty
/// version), so that the `parallax.version` a job carries is parsed, not dropped.
pub fn config_producer() -> SessionConfig {
    with_version(ballista_core::utils::default_config_producer(), "")
}

/// Fails unless the job or task configured by `config` was planned by a front end of this
/// process's version; `who` names this process ("the scheduler at ...", "the executor at ...").
pub fn check(config: &SessionConfig, who: &str) -> Result<(), DataFusionError> {
    let theirs = config
        .options()
        .extensions
        .get::<ParallaxOptions>()
        .map(|o| o.version.as_str())
        .unwrap_or("");
    let ours = own();
    if theirs == ours {
        return Ok(());
    }
    let theirs = if theirs.is_empty() {
        "an unknown version (not a Parallax front end?)".to_string()
    } else {
        format!("Parallax {theirs}")
    };
    Err(DataFusionError::Execution(format!(
        "{MARK}: {who} runs Parallax {ours} but the query was planned by {theirs}; every \
         scheduler, executor and front end of a cluster must run the same Parallax version"
    )))
}

/// The mismatch message inside a Ballista job's failure text, if it is one.
pub fn is_mismatch(text: &str) -> Option<String> {
    let start = text.find(MARK)?;
    let rest = &text[start..];
    // Ballista wraps the message in its own error's Debug text; stop at the end of ours.
    let end = rest
        .find("same Parallax version")
        .map_or(rest.len(), |i| i + "same Parallax version".len());
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_travels_as_a_config_key_and_is_checked() {
        let front = with_version(SessionConfig::new(), own());
        let pairs: Vec<(String, String)> = front
            .options()
            .entries()
            .into_iter()
            .filter_map(|e| Some((e.key, e.value?)))
            .filter(|(k, _)| k.starts_with("parallax."))
            .collect();
        assert_eq!(pairs, [("parallax.version".to_string(), own().to_string())]);

        // The receiving side parses the key into its registered extension.
        let mut received = config_producer();
        assert!(check(&received, "the executor at x").is_err());
        received
            .options_mut()
            .set("parallax.version", own())
            .expect("key registered");
        assert!(check(&received, "the executor at x").is_ok());

        received
            .options_mut()
            .set("parallax.version", "0.0.0-other")
            .expect("key registered");
        let e = check(&received, "the executor at 10.0.0.2:50051")
            .expect_err("mismatch")
            .to_string();
        assert!(
            e.contains("the executor at 10.0.0.2:50051 runs Parallax"),
            "{e}"
        );
        assert!(e.contains("planned by Parallax 0.0.0-other"), "{e}");
        let wrapped = format!("Job 1 failed: Internal(\"{e}\")");
        assert_eq!(
            is_mismatch(&wrapped).as_deref(),
            Some(e.trim_start_matches("Execution error: "))
        );
        assert_eq!(is_mismatch("Job 1 failed: disk full"), None);
    }
}
