//! RESPONSEFORMAT / FORMAT negotiation (TAP 1.1 §2.7.3, DALI §3.4.3) and the matching
//! TAPRegExt `outputFormat` declarations (TAPRegExt §2.5).
//!
//! One table, [`DECLS`], drives both [`parse_format`] and [`supported_formats`], so
//! `/capabilities` declares exactly what the service accepts.

use crate::error::{FormatError, Result};

/// An output format the writers can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// VOTable 1.4 with a TABLEDATA (XML cells) serialisation. The default.
    VotableTabledata,
    /// VOTable 1.4 with BINARY2 (base64, per-row null bitmap).
    VotableBinary2,
    /// VOTable 1.4 with BINARY (base64; integer NULLs as `<VALUES null>` sentinels).
    VotableBinary,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// Gaia-archive style JSON: `{"metadata":[...],"data":[[...]]}`.
    Json,
    /// Apache Parquet file.
    Parquet,
    /// Arrow IPC stream.
    ArrowStream,
}

impl OutputFormat {
    /// Short name, as used in error messages.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::VotableTabledata => "votable/td",
            Self::VotableBinary2 => "votable/b2",
            Self::VotableBinary => "votable/b",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Json => "json",
            Self::Parquet => "parquet",
            Self::ArrowStream => "arrow",
        }
    }

    /// Whether this is one of the VOTable serialisations.
    pub fn is_votable(self) -> bool {
        matches!(
            self,
            Self::VotableTabledata | Self::VotableBinary2 | Self::VotableBinary
        )
    }
}

/// One TAPRegExt `<outputFormat>` declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatDecl {
    /// The format written for this declaration.
    pub format: OutputFormat,
    /// `<mime>`: the canonical MIME type, also the Content-Type sent for the aliases.
    pub mime: &'static str,
    /// `<alias>` elements: short names and extra MIME spellings accepted for it.
    pub aliases: &'static [&'static str],
    /// `ivo-id` attribute for the standard VOTable serialisations.
    pub ivo_id: Option<&'static str>,
}

const VOTABLE: &str = "application/x-votable+xml";

/// The declaration table. Order matters for lookups: the first matching entry wins.
static DECLS: &[FormatDecl] = &[
    FormatDecl {
        format: OutputFormat::VotableTabledata,
        mime: VOTABLE,
        aliases: &["votable", "votable_plain", "votable_gzip"],
        ivo_id: None,
    },
    FormatDecl {
        format: OutputFormat::VotableTabledata,
        mime: "application/x-votable+xml;serialization=TABLEDATA",
        aliases: &["votable/td", "votabletd", "text/xml"],
        ivo_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
    },
    FormatDecl {
        format: OutputFormat::VotableBinary2,
        mime: "application/x-votable+xml;serialization=BINARY2",
        aliases: &["votable/b2", "votableb2"],
        ivo_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
    },
    FormatDecl {
        format: OutputFormat::VotableBinary,
        mime: "application/x-votable+xml;serialization=BINARY",
        aliases: &["votable/b", "votableb"],
        ivo_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary"),
    },
    FormatDecl {
        format: OutputFormat::Csv,
        mime: "text/csv;header=present",
        aliases: &["csv", "text/csv"],
        ivo_id: None,
    },
    FormatDecl {
        format: OutputFormat::Tsv,
        mime: "text/tab-separated-values",
        aliases: &["tsv"],
        ivo_id: None,
    },
    FormatDecl {
        format: OutputFormat::Json,
        mime: "application/json",
        aliases: &["json"],
        ivo_id: None,
    },
    FormatDecl {
        format: OutputFormat::Parquet,
        mime: "application/vnd.apache.parquet",
        aliases: &["parquet", "application/x-parquet"],
        ivo_id: None,
    },
    FormatDecl {
        format: OutputFormat::ArrowStream,
        mime: "application/vnd.apache.arrow.stream",
        aliases: &["arrow"],
        ivo_id: None,
    },
];

/// Every format [`parse_format`] accepts, for the TAPRegExt `outputFormat` list.
pub fn supported_formats() -> Vec<FormatDecl> {
    DECLS.to_vec()
}

/// Parse a RESPONSEFORMAT/FORMAT value into a format and the Content-Type to send.
///
/// Short names and MIME types are matched case-insensitively; MIME parameters may have
/// spaces around `;` and `=` and quoted values. A MIME type given by the client is echoed
/// as the Content-Type (DALI §3.4.3); a short name gets the canonical MIME type.
pub fn parse_format(value: &str) -> Result<(OutputFormat, String)> {
    let trimmed = value.trim();
    let key = normalize(trimmed);
    let is_mime = key.contains('/') && !key.starts_with("votable");
    for decl in DECLS {
        let hit = normalize(decl.mime) == key || decl.aliases.iter().any(|a| normalize(a) == key);
        if hit {
            let content_type = if is_mime { trimmed } else { decl.mime };
            return Ok((decl.format, content_type.to_owned()));
        }
    }
    Err(FormatError::UnknownFormat {
        value: value.to_owned(),
        accepted: accepted_short_names(),
    })
}

fn accepted_short_names() -> String {
    DECLS
        .iter()
        .flat_map(|d| d.aliases.iter())
        .filter(|a| !a.contains('/') || a.starts_with("votable"))
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lower-case, drop blanks around `;`/`=`, unquote parameter values and drop a
/// `charset=utf-8` parameter, so equivalent MIME spellings compare equal.
fn normalize(v: &str) -> String {
    let lower = v.trim().to_ascii_lowercase();
    let mut parts = lower.split(';').map(str::trim);
    let mut out = parts.next().unwrap_or_default().to_owned();
    for p in parts {
        if p.is_empty() {
            continue;
        }
        let (k, val) = match p.split_once('=') {
            Some((k, val)) => (k.trim(), val.trim().trim_matches('"')),
            None => (p, ""),
        };
        if k == "charset" && (val == "utf-8" || val == "utf8") {
            continue;
        }
        out.push(';');
        out.push_str(k);
        out.push('=');
        out.push_str(val);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutputFormat::*;

    fn ok(v: &str) -> (OutputFormat, String) {
        match parse_format(v) {
            Ok(x) => x,
            Err(e) => panic!("{v}: {e}"),
        }
    }

    #[test]
    fn short_names_get_canonical_mime() {
        assert_eq!(ok("votable"), (VotableTabledata, VOTABLE.to_owned()));
        assert_eq!(ok("VOTable"), (VotableTabledata, VOTABLE.to_owned()));
        assert_eq!(ok("votable_plain").0, VotableTabledata);
        assert_eq!(ok("votable_gzip"), (VotableTabledata, VOTABLE.to_owned()));
        assert_eq!(
            ok("votable/td"),
            (
                VotableTabledata,
                "application/x-votable+xml;serialization=TABLEDATA".to_owned()
            )
        );
        assert_eq!(
            ok("votable/b2"),
            (
                VotableBinary2,
                "application/x-votable+xml;serialization=BINARY2".to_owned()
            )
        );
        assert_eq!(ok("votable/b").0, VotableBinary);
        assert_eq!(ok("csv"), (Csv, "text/csv;header=present".to_owned()));
        assert_eq!(ok("TSV"), (Tsv, "text/tab-separated-values".to_owned()));
        assert_eq!(ok("json"), (Json, "application/json".to_owned()));
        assert_eq!(
            ok("parquet"),
            (Parquet, "application/vnd.apache.parquet".to_owned())
        );
        assert_eq!(
            ok("arrow"),
            (
                ArrowStream,
                "application/vnd.apache.arrow.stream".to_owned()
            )
        );
    }

    #[test]
    fn mime_types_are_echoed_exactly() {
        for (v, f) in [
            ("application/x-votable+xml", VotableTabledata),
            (
                "application/x-votable+xml;serialization=TABLEDATA",
                VotableTabledata,
            ),
            (
                "application/x-votable+xml;serialization=BINARY2",
                VotableBinary2,
            ),
            (
                "application/x-votable+xml;serialization=binary2",
                VotableBinary2,
            ),
            (
                "application/x-votable+xml ; serialization = BINARY2",
                VotableBinary2,
            ),
            (
                "application/x-votable+xml;serialization=\"BINARY\"",
                VotableBinary,
            ),
            (
                "Application/X-VOTable+XML;Serialization=Binary",
                VotableBinary,
            ),
            ("text/xml", VotableTabledata),
            ("text/csv", Csv),
            ("text/csv;header=present", Csv),
            ("text/csv; charset=UTF-8", Csv),
            ("text/tab-separated-values", Tsv),
            ("application/json", Json),
            ("application/vnd.apache.parquet", Parquet),
            ("application/x-parquet", Parquet),
            ("application/vnd.apache.arrow.stream", ArrowStream),
        ] {
            assert_eq!(ok(v), (f, v.to_owned()), "{v}");
        }
        assert_eq!(ok("  text/csv  ").1, "text/csv");
    }

    #[test]
    fn unknown_formats_list_the_accepted_names() {
        for v in [
            "fits",
            "",
            "votable/x",
            "application/x-votable+xml;serialization=FITS",
            "text/csv;header=absent",
            "text/html",
        ] {
            match parse_format(v) {
                Err(e @ FormatError::UnknownFormat { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains("votable/b2") && msg.contains("csv"), "{msg}");
                    assert!(!msg.contains("application/x-parquet"), "{msg}");
                }
                other => panic!("{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn declarations_round_trip_through_parse() {
        let decls = supported_formats();
        assert!(decls.iter().any(|d| d.ivo_id
            == Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary2")
            && d.aliases.contains(&"votable/b2")));
        for d in &decls {
            assert_eq!(ok(d.mime), (d.format, d.mime.to_owned()));
            for a in d.aliases {
                assert_eq!(ok(a).0, d.format, "{a}");
            }
        }
    }
}
