//! The configuration reference: every table and key of the configuration file with its type,
//! default and meaning. `parallax config-reference` prints it as Markdown, which is
//! `docs/config-reference.md`.
//!
//! [`REFERENCE`] is the one place the keys are described for operators. Its tests hold it to
//! the code: every field of every serde struct is documented (by exhaustive destructuring, so
//! a new field does not compile until it is listed), every documented key parses with the
//! `deny_unknown_fields` structs with the documented type, exactly the keys marked required
//! are required, the written defaults are the ones [`Settings`](super::Settings) applies, and
//! `docs/config-reference.md` is the current output.

use std::fmt::Write as _;

use KeyDefault::{Described, Required, Unset, Value};

/// The TOML type of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `true` or `false`.
    Bool,
    /// An integer.
    Integer,
    /// A number (integer or decimal).
    Number,
    /// A string.
    String,
    /// A file or directory path (a string).
    Path,
    /// An array of strings.
    Strings,
    /// An array of two-string arrays.
    Pairs,
    /// An array of tables (`[[...]]`), documented as its own section.
    Tables,
    /// Tables keyed by a name chosen by the operator (`[...NAME]`), documented as their own
    /// section.
    Map,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "boolean",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::String => "string",
            Ty::Path => "path",
            Ty::Strings => "array of strings",
            Ty::Pairs => "array of string pairs",
            Ty::Tables => "array of tables",
            Ty::Map => "tables by name",
        }
    }

    /// True for keys written as `key = value` (not as tables of their own).
    pub fn is_value(self) -> bool {
        !matches!(self, Ty::Tables | Ty::Map)
    }
}

/// What a key is when it is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// This TOML value (tested to be what the code uses).
    Value(&'static str),
    /// A value computed at start-up or derived from other keys, described in words.
    Described(&'static str),
    /// Not set: the feature it configures is off, or the value comes from elsewhere (the
    /// meaning says which).
    Unset,
    /// The key must be given.
    Required,
}

/// One key of a table.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key as written in the file.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// Its default.
    pub default: KeyDefault,
    /// What it means (Markdown, one paragraph).
    pub doc: &'static str,
}

/// One table of the file (one serde struct).
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// Where the table appears, as a dotted path (`server`, `auth.users`,
    /// `catalog.table.columns.NAME`, `NAME` standing for a name the operator chooses); a table
    /// that appears in several places lists each, the first being where it is described.
    pub paths: &'static [&'static str],
    /// An array of tables (`[[path]]`) rather than one table (`[path]`).
    pub array: bool,
    /// What the table is for.
    pub doc: &'static str,
    /// Its keys.
    pub keys: &'static [Key],
}

impl Section {
    /// The TOML header of the table at `path`.
    pub fn header(&self, path: &str) -> String {
        if self.array {
            format!("[[{path}]]")
        } else {
            format!("[{path}]")
        }
    }
}

const fn key(name: &'static str, ty: Ty, default: KeyDefault, doc: &'static str) -> Key {
    Key {
        name,
        ty,
        default,
        doc,
    }
}

/// The column metadata keys, shared by local and remote tables.
const COLUMN_KEYS: &[Key] = &[
    key(
        "description",
        Ty::String,
        Unset,
        "Human-readable description (TAP_SCHEMA `description`).",
    ),
    key(
        "unit",
        Ty::String,
        Unset,
        "VOUnit string, e.g. `deg` or `mas.yr**-1`.",
    ),
    key(
        "ucd",
        Ty::String,
        Unset,
        "UCD1+ string, e.g. `pos.eq.ra;meta.main`.",
    ),
    key("utype", Ty::String, Unset, "Data-model utype."),
    key(
        "xtype",
        Ty::String,
        Unset,
        "DALI xtype, e.g. `point`; normally derived from the column type.",
    ),
    key(
        "principal",
        Ty::Bool,
        Unset,
        "Whether the column is shown by default (TAP_SCHEMA `principal`).",
    ),
    key(
        "indexed",
        Ty::Bool,
        Unset,
        "Whether the column is indexed (TAP_SCHEMA `indexed`).",
    ),
    key(
        "std",
        Ty::Bool,
        Unset,
        "Whether the column is defined by a standard (TAP_SCHEMA `std`).",
    ),
    key(
        "healpix",
        Ty::String,
        Unset,
        "The column holds a NESTED HEALPix index and the files are sorted by it, so cone \
         searches prune row groups and pages: `gaia` (a Gaia `source_id`: the order-12 index \
         times 2^35 plus a running number) or `nested:N` (the index at order N).",
    ),
];

/// The metadata keys of a remote table.
const REMOTE_TABLE_KEYS: &[Key] = &[
    key(
        "description",
        Ty::String,
        Unset,
        "Human-readable description; overrides what the remote side reports.",
    ),
    key("utype", Ty::String, Unset, "Data-model utype."),
    key(
        "columns",
        Ty::Map,
        Described("none"),
        "Column metadata by column name, overriding PostgreSQL comments or Flight field \
         metadata: `[catalog.postgres.table.NAME.columns.NAME]`, with the keys of \
         `[catalog.table.columns.NAME]`.",
    ),
];

/// Every table and key of the configuration file, in the order of the reference.
pub const REFERENCE: &[Section] = &[
    Section {
        paths: &["server"],
        array: false,
        doc: "Addresses and directories of the HTTP service (TAP, the web console and \
              `/metrics`).",
        keys: &[
            key(
                "http",
                Ty::String,
                Value("\"127.0.0.1:8080\""),
                "HTTP listen address (`--http`); port 0 picks a free port.",
            ),
            key(
                "data_dir",
                Ty::Path,
                Value("\"data\""),
                "Data directory (`--data-dir`): the demo catalogue and, by default, the job \
                 store; relative to the working directory.",
            ),
            key(
                "public_url",
                Ty::String,
                Described("`http://HOST/tap`, HOST from each request's `Host` header"),
                "Base URL of the TAP service as clients see it (`--public-url`), used in VOSI \
                 access URLs and job URLs; set it behind a reverse proxy.",
            ),
        ],
    },
    Section {
        paths: &["limits"],
        array: false,
        doc: "Output and request limits.",
        keys: &[
            key(
                "maxrec_default",
                Ty::Integer,
                Value("100000"),
                "Rows returned when the client gives no MAXREC.",
            ),
            key(
                "maxrec_hard",
                Ty::Integer,
                Value("100000000"),
                "Largest MAXREC honoured; larger requests are lowered to it. Also the most \
                 rows one Flight SQL result sends.",
            ),
            key(
                "max_query_bytes",
                Ty::Integer,
                Value("1000000"),
                "Longest accepted query text in bytes (TAP and Flight SQL).",
            ),
            key(
                "max_request_bytes",
                Ty::Integer,
                Value("16777216"),
                "Largest accepted HTTP request body in bytes (HTTP 413 above); multipart \
                 bodies may add `uploads.max_bytes`.",
            ),
        ],
    },
    Section {
        paths: &["jobs"],
        array: false,
        doc: "The UWS job store of `/async`: a SQLite database and result files, the queue \
              and the reaper.",
        keys: &[
            key(
                "dir",
                Ty::Path,
                Described("`{data_dir}/jobs`"),
                "Directory of `jobs.db`, `results/` and `uploads/`; relative to the working \
                 directory.",
            ),
            key(
                "concurrency",
                Ty::Integer,
                Value("2"),
                "Jobs EXECUTING at once; further jobs wait in QUEUED. At least 1.",
            ),
            key(
                "execution_duration_default",
                Ty::Integer,
                Value("3600"),
                "Seconds a job may run when the client gives no EXECUTIONDURATION; a job \
                 running longer is aborted.",
            ),
            key(
                "execution_duration_max",
                Ty::Integer,
                Value("86400"),
                "Longest EXECUTIONDURATION a client may ask for, in seconds; longer requests \
                 are lowered to it.",
            ),
            key(
                "retention_default",
                Ty::Integer,
                Value("172800"),
                "Seconds from a job's creation to its destruction (two days).",
            ),
            key(
                "retention_max",
                Ty::Integer,
                Value("604800"),
                "Longest retention a client may ask for with DESTRUCTION, in seconds (a week).",
            ),
            key(
                "on_restart",
                Ty::String,
                Value("\"rerun\""),
                "Jobs that were QUEUED or EXECUTING when the service stopped: `\"rerun\"` \
                 queues them again, `\"error\"` ends them in ERROR.",
            ),
            key(
                "reaper_interval",
                Ty::Integer,
                Value("60"),
                "Seconds between runs of the reaper that destroys expired jobs.",
            ),
            key(
                "wait_max",
                Ty::Integer,
                Value("60"),
                "Longest blocking `WAIT` in seconds (`WAIT=-1` means this).",
            ),
            key(
                "max_active_per_owner",
                Ty::Integer,
                Value("0"),
                "Jobs one owner may have QUEUED or EXECUTING at once (HTTP 403 beyond); 0 for \
                 no limit.",
            ),
            key(
                "max_result_bytes_per_owner",
                Ty::Integer,
                Value("0"),
                "Bytes of stored results one owner may hold (HTTP 403 beyond); 0 for no limit.",
            ),
        ],
    },
    Section {
        paths: &["uploads"],
        array: false,
        doc: "TAP_UPLOAD tables (`UPLOAD=name,param:part` or an `http(s)` URL): VOTable, CSV \
              or Parquet.",
        keys: &[
            key("enabled", Ty::Bool, Value("true"), "Accept UPLOAD at all."),
            key(
                "max_bytes",
                Ty::Integer,
                Value("67108864"),
                "Largest upload table in bytes (HTTP 413 above).",
            ),
            key(
                "max_rows",
                Ty::Integer,
                Value("1000000"),
                "Most rows in one upload table (HTTP 413 above).",
            ),
            key(
                "allow_urls",
                Ty::Bool,
                Value("true"),
                "Fetch `http://` and `https://` upload URLs.",
            ),
            key(
                "url_timeout",
                Ty::Integer,
                Value("30"),
                "Seconds allowed to fetch one upload URL.",
            ),
        ],
    },
    Section {
        paths: &["auth"],
        array: false,
        doc: "Accounts, shared by HTTP TAP and Flight SQL. Anonymous calls are allowed unless \
              `required`; wrong credentials are always refused (HTTP 401, gRPC \
              `Unauthenticated`).",
        keys: &[
            key(
                "mode",
                Ty::String,
                Value("\"none\""),
                "`\"none\"`, `\"bearer\"` (tokens) or `\"basic\"` (user name and password).",
            ),
            key(
                "required",
                Ty::Bool,
                Value("false"),
                "Refuse anonymous calls; needs a `mode`.",
            ),
            key(
                "users",
                Ty::Tables,
                Described("none"),
                "The accounts: `[[auth.users]]`.",
            ),
        ],
    },
    Section {
        paths: &["auth.users"],
        array: true,
        doc: "One account. Secrets are stored hashed only.",
        keys: &[
            key(
                "name",
                Ty::String,
                Required,
                "The user name, which owns the user's jobs.",
            ),
            key(
                "password_hash",
                Ty::String,
                Unset,
                "For `basic`: `sha256:ITERATIONS:SALT:HEX`, made by `echo PASSWORD | parallax \
                 hash-secret`.",
            ),
            key(
                "token_hash",
                Ty::String,
                Unset,
                "For `bearer`: `sha256:HEX`, the SHA-256 of the token, made by `echo TOKEN | \
                 parallax hash-secret --token`.",
            ),
        ],
    },
    Section {
        paths: &["flight"],
        array: false,
        doc: "The Arrow Flight SQL service (`docs/flight-sql.md`); off unless `listen` is set.",
        keys: &[
            key(
                "listen",
                Ty::String,
                Unset,
                "gRPC listen address (`--flight ADDR`; `--flight` alone means \
                 `127.0.0.1:50051`); unset serves no Flight SQL.",
            ),
            key(
                "tls_cert",
                Ty::Path,
                Unset,
                "PEM certificate chain: serve Flight SQL over TLS (`grpc+tls://`); needs \
                 `tls_key`. Relative to the configuration file.",
            ),
            key(
                "tls_key",
                Ty::Path,
                Unset,
                "PEM private key of `tls_cert`. Relative to the configuration file.",
            ),
        ],
    },
    Section {
        paths: &["engine"],
        array: false,
        doc: "Where queries run: in this process, or on an Apache DataFusion Ballista cluster \
              started with `parallax scheduler` and `parallax executor` \
              (`docs/deployment.md`).",
        keys: &[
            key(
                "mode",
                Ty::String,
                Value("\"local\""),
                "`\"local\"` (queries run in this process) or `\"ballista\"` (queries run on \
                 the cluster of `scheduler`; `serve --ballista URL` does the same).",
            ),
            key(
                "scheduler",
                Ty::String,
                Value("\"df://127.0.0.1:50050\""),
                "The Ballista scheduler, `df://HOST:PORT`, used in `ballista` mode. It must \
                 answer at start-up (checked within 3 s).",
            ),
        ],
    },
    Section {
        paths: &["cache"],
        array: false,
        doc: "The result cache of sync queries (`docs/operations.md`).",
        keys: &[
            key(
                "enabled",
                Ty::Bool,
                Value("true"),
                "Answer identical sync queries (same normalised ADQL, MAXREC and catalogue \
                 files) from memory.",
            ),
            key("ttl", Ty::Integer, Value("600"), "Seconds an entry lives."),
            key(
                "max_bytes",
                Ty::Integer,
                Value("536870912"),
                "Arrow bytes the cache holds in all.",
            ),
            key(
                "max_entry_bytes",
                Ty::Integer,
                Value("33554432"),
                "Largest result kept, in Arrow bytes; bigger ones stream on uncached.",
            ),
        ],
    },
    Section {
        paths: &["admission"],
        array: false,
        doc: "Limits that keep the service responsive: concurrent sync queries and query \
              memory (`docs/operations.md`).",
        keys: &[
            key(
                "sync_concurrency",
                Ty::Integer,
                Described("twice the CPU cores, at least 4"),
                "Sync queries running at once, all users together. Async jobs have their own \
                 limit, `jobs.concurrency`.",
            ),
            key(
                "sync_per_user",
                Ty::Integer,
                Value("0"),
                "Sync queries one user runs at once (anonymous callers count as one user); 0 \
                 for no limit.",
            ),
            key(
                "queue_wait",
                Ty::Number,
                Value("30"),
                "Seconds a sync request waits for a free slot before HTTP 503.",
            ),
            key(
                "retry_after",
                Ty::Integer,
                Value("10"),
                "`Retry-After` seconds sent with that 503.",
            ),
            key(
                "memory_bytes",
                Ty::Integer,
                Described("half the machine's memory"),
                "Bytes of memory all running queries may reserve together (DataFusion's fair \
                 spill pool: sorts, joins and aggregates spill to disk or stop cleanly beyond \
                 it); 0 for no limit.",
            ),
        ],
    },
    Section {
        paths: &["demo"],
        array: false,
        doc: "The built-in demo catalogue, generated on first start and served when no table is \
              configured.",
        keys: &[
            key(
                "sources",
                Ty::Integer,
                Value("200000"),
                "Sources in `gaiadr3.gaia_source` (`--demo-sources`).",
            ),
            key("seed", Ty::Integer, Value("42"), "Random seed."),
        ],
    },
    Section {
        paths: &["catalog"],
        array: false,
        doc: "The catalogue: Parquet tables, their schemas and keys, and remote sources \
              (`docs/federation.md`). With no table, the demo catalogue is served (remote \
              sources are added to it).",
        keys: &[
            key(
                "schema",
                Ty::Tables,
                Described("none"),
                "Schema descriptions: `[[catalog.schema]]`.",
            ),
            key(
                "table",
                Ty::Tables,
                Described("none"),
                "Tables over Parquet files: `[[catalog.table]]`.",
            ),
            key(
                "foreign_key",
                Ty::Tables,
                Described("none"),
                "Foreign keys: `[[catalog.foreign_key]]`.",
            ),
            key(
                "postgres",
                Ty::Tables,
                Described("none"),
                "Remote PostgreSQL databases: `[[catalog.postgres]]`.",
            ),
            key(
                "flightsql",
                Ty::Tables,
                Described("none"),
                "Remote Arrow Flight SQL services: `[[catalog.flightsql]]`.",
            ),
        ],
    },
    Section {
        paths: &["catalog.schema"],
        array: true,
        doc: "One schema. Schemas used by tables but not listed are created without a \
              description.",
        keys: &[
            key(
                "name",
                Ty::String,
                Required,
                "Schema name: a lower-case ADQL regular identifier.",
            ),
            key(
                "description",
                Ty::String,
                Unset,
                "Human-readable description.",
            ),
            key("utype", Ty::String, Unset, "Data-model utype."),
        ],
    },
    Section {
        paths: &["catalog.table"],
        array: true,
        doc: "One table over Parquet files.",
        keys: &[
            key(
                "name",
                Ty::String,
                Required,
                "Qualified name `schema.table`, lower-case ADQL identifiers.",
            ),
            key(
                "path",
                Ty::String,
                Required,
                "A Parquet file, a directory of Parquet files, or a glob; relative to the \
                 configuration file. Or an object-store URL: `s3://BUCKET/PREFIX/` (credentials \
                 from the AWS environment variables) or `http(s)://HOST/PATH/` (WebDAV); a \
                 trailing `/` names a directory.",
            ),
            key(
                "description",
                Ty::String,
                Unset,
                "Human-readable description; overrides the Parquet schema metadata \
                 `description`.",
            ),
            key("utype", Ty::String, Unset, "Data-model utype."),
            key(
                "columns",
                Ty::Map,
                Described("none"),
                "Column metadata by column name: `[catalog.table.columns.NAME]`.",
            ),
        ],
    },
    Section {
        paths: &[
            "catalog.table.columns.NAME",
            "catalog.postgres.table.NAME.columns.NAME",
            "catalog.flightsql.table.NAME.columns.NAME",
        ],
        array: false,
        doc: "Metadata of one column. Each key overrides the Parquet field metadata of the same \
              name (or, for a remote table, what the remote side reports); unset keys keep it.",
        keys: COLUMN_KEYS,
    },
    Section {
        paths: &["catalog.foreign_key"],
        array: true,
        doc: "A foreign key between two tables, published in `TAP_SCHEMA.keys` and \
              `TAP_SCHEMA.key_columns`.",
        keys: &[
            key(
                "from",
                Ty::String,
                Required,
                "Qualified name of the table holding the key.",
            ),
            key(
                "target",
                Ty::String,
                Required,
                "Qualified name of the referenced table.",
            ),
            key(
                "columns",
                Ty::Pairs,
                Required,
                "Column pairs `[from_column, target_column]`.",
            ),
            key(
                "description",
                Ty::String,
                Unset,
                "Human-readable description.",
            ),
        ],
    },
    Section {
        paths: &["catalog.postgres"],
        array: true,
        doc: "A remote PostgreSQL database whose tables are queried in place \
              (`docs/federation.md`). Give `connection`, or `host`, `port`, `user` and \
              `dbname`.",
        keys: &[
            key(
                "name",
                Ty::String,
                Required,
                "Source name (a lower-case identifier); errors about the source name it.",
            ),
            key(
                "schema",
                Ty::String,
                Described("`name`"),
                "Local ADQL schema of the source's tables.",
            ),
            key(
                "description",
                Ty::String,
                Unset,
                "Description of the local schema.",
            ),
            key(
                "connection",
                Ty::String,
                Unset,
                "libpq-style connection string (`host=... port=... user=... dbname=...`) or a \
                 `postgresql://` URL.",
            ),
            key(
                "host",
                Ty::String,
                Unset,
                "Host, when no `connection` is given.",
            ),
            key("port", Ty::Integer, Value("5432"), "Port."),
            key("user", Ty::String, Unset, "User name."),
            key("dbname", Ty::String, Unset, "Database name."),
            key(
                "password_file",
                Ty::Path,
                Unset,
                "File holding the password (its first line); relative to the configuration \
                 file.",
            ),
            key(
                "tables",
                Ty::Strings,
                Value("[]"),
                "Remote tables to expose, as `schema.table` (a bare name means \
                 `public.name`); `public.psc` appears as `{schema}.psc`.",
            ),
            key(
                "schemas",
                Ty::Strings,
                Value("[]"),
                "Remote schemas whose every table and view is exposed (listed when the \
                 service starts).",
            ),
            key(
                "timeout",
                Ty::Integer,
                Value("10"),
                "Seconds allowed for connecting and for each wait for rows.",
            ),
            key(
                "table",
                Ty::Map,
                Described("none"),
                "Metadata of remote tables by local table name: \
                 `[catalog.postgres.table.NAME]`.",
            ),
        ],
    },
    Section {
        paths: &["catalog.flightsql"],
        array: true,
        doc: "A remote Arrow Flight SQL service (another Parallax, or any Flight SQL server) \
              whose tables are queried in place.",
        keys: &[
            key(
                "name",
                Ty::String,
                Required,
                "Source name (a lower-case identifier); errors about the source name it.",
            ),
            key(
                "schema",
                Ty::String,
                Described("`name`"),
                "Local ADQL schema of the source's tables.",
            ),
            key(
                "description",
                Ty::String,
                Unset,
                "Description of the local schema.",
            ),
            key(
                "url",
                Ty::String,
                Required,
                "`grpc://host:port` (plain HTTP/2; TLS is not supported yet).",
            ),
            key(
                "username",
                Ty::String,
                Unset,
                "User name for HTTP basic authentication.",
            ),
            key(
                "password_file",
                Ty::Path,
                Unset,
                "File holding the password for `username` (its first line); relative to the \
                 configuration file.",
            ),
            key(
                "token_file",
                Ty::Path,
                Unset,
                "File holding a bearer token (its first line); not with `username`. Relative \
                 to the configuration file.",
            ),
            key(
                "tables",
                Ty::Strings,
                Value("[]"),
                "Remote tables to expose, as `schema.table` (or a bare `table`); they appear \
                 in the local schema under their table name.",
            ),
            key(
                "timeout",
                Ty::Integer,
                Value("10"),
                "Seconds allowed for connecting and for each wait for data.",
            ),
            key(
                "table",
                Ty::Map,
                Described("none"),
                "Metadata of remote tables by local table name: \
                 `[catalog.flightsql.table.NAME]`.",
            ),
        ],
    },
    Section {
        paths: &[
            "catalog.postgres.table.NAME",
            "catalog.flightsql.table.NAME",
        ],
        array: false,
        doc: "Metadata of one remote table; every value overrides what the remote side \
              reports (PostgreSQL comments, Flight field metadata).",
        keys: REMOTE_TABLE_KEYS,
    },
];

/// The reference as Markdown (`docs/config-reference.md`).
pub fn markdown() -> String {
    let mut o = String::new();
    o.push_str(
        "# Configuration reference\n\n\
         <!-- Generated by `parallax config-reference` from server/src/config/reference.rs; \
         do not edit. Regenerate with `UPDATE_GOLDEN=1 cargo test -p parallax --lib \
         config::reference`. -->\n\n\
         Every table and key of the configuration file (`parallax serve --config \
         FILE.toml`), generated from the code. Every key is optional unless marked \
         **required**; unknown keys are errors that name the file and key, and command-line \
         flags override the keys they name. `NAME` in a table path stands for a name you \
         choose (a column or table name). An annotated example is in \
         [configuration.md](configuration.md).\n",
    );
    for s in REFERENCE {
        let _ = write!(o, "\n## `{}`\n\n{}\n", s.header(s.paths[0]), s.doc);
        if s.paths.len() > 1 {
            let also: Vec<String> = s.paths[1..]
                .iter()
                .map(|p| format!("`{}`", s.header(p)))
                .collect();
            let _ = writeln!(o, "\nThe same keys apply in {}.", also.join(" and "));
        }
        o.push_str("\n| key | type | default | meaning |\n|---|---|---|---|\n");
        for k in s.keys {
            let default = match k.default {
                Value(v) => format!("`{v}`"),
                Described(t) => t.to_string(),
                Unset => "unset".to_string(),
                Required => "**required**".to_string(),
            };
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {} |",
                k.name,
                k.ty.name(),
                cell(&default),
                cell(k.doc)
            );
        }
    }
    o
}

/// Text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    use parallax_catalog::{
        CatalogConfig, ColumnConfig, FlightSqlConfig, ForeignKeyConfig, PostgresConfig,
        RemoteTableConfig, SchemaConfig, TableConfig,
    };

    use super::*;
    use crate::config::{
        AdmissionSection, AuthSection, CacheSection, ConfigFile, DemoSection, EngineSection,
        FlightSection, JobsSection, LimitsSection, Overrides, ServerSection, Settings,
        UploadsSection, UserEntry,
    };

    /// The serde names of a struct's fields. The pattern is exhaustive, so a field added to
    /// the struct does not compile until it is listed here (and then must be documented).
    macro_rules! fields {
        ($ty:ident { $($field:ident $(as $name:literal)?),* $(,)? }) => {{
            let _exhaustive = |v: $ty| {
                let $ty { $($field: _),* } = v;
            };
            vec![$(fields!(@name $field $($name)?)),*]
        }};
        (@name $field:ident $name:literal) => { $name };
        (@name $field:ident) => { stringify!($field) };
    }

    /// Each section's first path (`""`: the top level) and its struct's keys.
    fn structs() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![
            (
                "",
                fields!(ConfigFile {
                    server,
                    limits,
                    demo,
                    catalog,
                    jobs,
                    uploads,
                    auth,
                    flight,
                    cache,
                    admission,
                    engine,
                }),
            ),
            (
                "server",
                fields!(ServerSection {
                    http,
                    data_dir,
                    public_url
                }),
            ),
            (
                "limits",
                fields!(LimitsSection {
                    maxrec_default,
                    maxrec_hard,
                    max_query_bytes,
                    max_request_bytes,
                }),
            ),
            (
                "jobs",
                fields!(JobsSection {
                    dir,
                    concurrency,
                    execution_duration_default,
                    execution_duration_max,
                    retention_default,
                    retention_max,
                    on_restart,
                    reaper_interval,
                    wait_max,
                    max_active_per_owner,
                    max_result_bytes_per_owner,
                }),
            ),
            (
                "uploads",
                fields!(UploadsSection {
                    enabled,
                    max_bytes,
                    max_rows,
                    allow_urls,
                    url_timeout,
                }),
            ),
            (
                "auth",
                fields!(AuthSection {
                    mode,
                    required,
                    users
                }),
            ),
            (
                "auth.users",
                fields!(UserEntry {
                    name,
                    password_hash,
                    token_hash
                }),
            ),
            (
                "flight",
                fields!(FlightSection {
                    listen,
                    tls_cert,
                    tls_key
                }),
            ),
            ("engine", fields!(EngineSection { mode, scheduler })),
            (
                "cache",
                fields!(CacheSection {
                    enabled,
                    ttl,
                    max_bytes,
                    max_entry_bytes,
                }),
            ),
            (
                "admission",
                fields!(AdmissionSection {
                    sync_concurrency,
                    sync_per_user,
                    queue_wait,
                    retry_after,
                    memory_bytes,
                }),
            ),
            ("demo", fields!(DemoSection { sources, seed })),
            (
                "catalog",
                fields!(CatalogConfig {
                    schemas as "schema",
                    tables as "table",
                    foreign_keys as "foreign_key",
                    postgres,
                    flightsql,
                }),
            ),
            (
                "catalog.schema",
                fields!(SchemaConfig {
                    name,
                    description,
                    utype
                }),
            ),
            (
                "catalog.table",
                fields!(TableConfig {
                    name,
                    path,
                    description,
                    utype,
                    columns,
                }),
            ),
            (
                "catalog.table.columns.NAME",
                fields!(ColumnConfig {
                    description,
                    unit,
                    ucd,
                    utype,
                    xtype,
                    principal,
                    indexed,
                    std,
                    healpix,
                }),
            ),
            (
                "catalog.foreign_key",
                fields!(ForeignKeyConfig {
                    from,
                    target,
                    columns,
                    description,
                }),
            ),
            (
                "catalog.postgres",
                fields!(PostgresConfig {
                    name,
                    schema,
                    description,
                    connection,
                    host,
                    port,
                    user,
                    dbname,
                    password_file,
                    tables,
                    schemas,
                    timeout,
                    table,
                }),
            ),
            (
                "catalog.flightsql",
                fields!(FlightSqlConfig {
                    name,
                    schema,
                    description,
                    url,
                    username,
                    password_file,
                    token_file,
                    tables,
                    timeout,
                    table,
                }),
            ),
            (
                "catalog.postgres.table.NAME",
                fields!(RemoteTableConfig {
                    description,
                    utype,
                    columns
                }),
            ),
        ]
    }

    fn section_at(path: &str) -> Option<&'static Section> {
        REFERENCE.iter().find(|s| s.paths.contains(&path))
    }

    fn example_value(ty: Ty) -> &'static str {
        match ty {
            Ty::Bool => "true",
            Ty::Integer => "7",
            Ty::Number => "1.5",
            Ty::String | Ty::Path => "\"x\"",
            Ty::Strings => "[\"x\"]",
            Ty::Pairs => "[[\"a\", \"b\"]]",
            Ty::Tables | Ty::Map => unreachable!("not a value"),
        }
    }

    /// A file with the table at `path`, every value key of it and of the tables it lies in,
    /// `NAME` being `x`; without the key `omit` of the table itself.
    fn example(path: &str, omit: Option<&str>) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        let mut o = String::new();
        for n in 1..=parts.len() {
            let prefix = parts[..n].join(".");
            let Some(s) = section_at(&prefix) else {
                continue;
            };
            let _ = writeln!(o, "{}", s.header(&prefix.replace("NAME", "x")));
            for k in s.keys.iter().filter(|k| k.ty.is_value()) {
                if n < parts.len() || omit != Some(k.name) {
                    let _ = writeln!(o, "{} = {}", k.name, example_value(k.ty));
                }
            }
        }
        o
    }

    #[test]
    fn every_field_is_documented_and_every_section_is_a_struct() {
        let structs = structs();
        for (path, fields) in &structs {
            let documented: BTreeSet<&str> = if path.is_empty() {
                REFERENCE
                    .iter()
                    .map(|s| s.paths[0])
                    .filter(|p| !p.contains('.'))
                    .collect()
            } else {
                let s = section_at(path).unwrap_or_else(|| panic!("no section [{path}]"));
                assert_eq!(
                    s.paths[0], *path,
                    "[{path}] is described under another path"
                );
                s.keys.iter().map(|k| k.name).collect()
            };
            let fields: BTreeSet<&str> = fields.iter().copied().collect();
            assert_eq!(documented, fields, "keys of [{path}]");
        }
        let known: BTreeSet<&str> = structs.iter().map(|(p, _)| *p).collect();
        for s in REFERENCE {
            assert!(known.contains(s.paths[0]), "[{}] has no struct", s.paths[0]);
            let names: BTreeSet<&str> = s.keys.iter().map(|k| k.name).collect();
            assert_eq!(names.len(), s.keys.len(), "a key of [{}] twice", s.paths[0]);
            // A key that is a table of its own is described at its own path.
            for p in s.paths {
                for k in s.keys {
                    let sub = match k.ty {
                        Ty::Tables => format!("{p}.{}", k.name),
                        Ty::Map => format!("{p}.{}.NAME", k.name),
                        _ => continue,
                    };
                    let found = section_at(&sub)
                        .unwrap_or_else(|| panic!("{p}.{} has no section [{sub}]", k.name));
                    assert_eq!(found.array, k.ty == Ty::Tables, "[{sub}]");
                }
            }
        }
    }

    #[test]
    fn documented_keys_parse_and_exactly_the_required_ones_are_required() {
        for s in REFERENCE {
            for path in s.paths {
                let text = example(path, None);
                if let Err(e) = toml::from_str::<ConfigFile>(&text) {
                    panic!("[{path}] as documented does not parse: {e}\n{text}");
                }
                for k in s.keys.iter().filter(|k| k.ty.is_value()) {
                    let text = example(path, Some(k.name));
                    let parsed = toml::from_str::<ConfigFile>(&text);
                    assert_eq!(
                        parsed.is_err(),
                        k.default == Required,
                        "[{path}] without {}: {parsed:?}",
                        k.name
                    );
                }
            }
        }
    }

    #[test]
    fn documented_defaults_are_the_defaults() {
        // Writing every documented default changes nothing.
        let mut text = String::new();
        for s in REFERENCE
            .iter()
            .filter(|s| !s.array && !s.paths[0].contains('.'))
        {
            let _ = writeln!(text, "{}", s.header(s.paths[0]));
            for k in s.keys {
                if let Value(v) = k.default {
                    let _ = writeln!(text, "{} = {v}", k.name);
                }
            }
        }
        let file: ConfigFile = toml::from_str(&text).expect("documented defaults parse");
        let mut written = Settings::from_file(file, "t", PathBuf::from("."), Overrides::default())
            .expect("documented defaults are valid");
        let default = Settings::load(None, Overrides::default()).expect("defaults");
        assert_eq!(written.auth.mode, default.auth.mode);
        assert_eq!(written.auth.required, default.auth.required);
        // The rest of the auth settings is a per-process random key.
        written.auth = default.auth.clone();
        assert_eq!(format!("{written:?}"), format!("{default:?}"), "{text}");
        // Remote sources' defaults are applied where they connect.
        for path in ["catalog.postgres", "catalog.flightsql"] {
            let s = section_at(path).expect("section");
            let timeout = s
                .keys
                .iter()
                .find(|k| k.name == "timeout")
                .expect("timeout");
            let want = crate::federation::DEFAULT_TIMEOUT.to_string();
            assert!(
                matches!(timeout.default, Value(v) if v == want),
                "{path}.timeout: {:?}",
                timeout.default
            );
        }
    }

    #[test]
    fn docs_file_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config-reference.md");
        let want = markdown();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &want).expect("write docs/config-reference.md");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            let line = have
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .map_or(have.lines().count().min(want.lines().count()), |i| i)
                + 1;
            panic!(
                "docs/config-reference.md is out of date with the code (first difference at \
                 line {line}); regenerate it with `UPDATE_GOLDEN=1 cargo test -p parallax \
                 --lib config::reference` or `parallax config-reference > \
                 docs/config-reference.md`"
            );
        }
    }
}
