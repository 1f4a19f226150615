//! PostgreSQL sources over `tokio-postgres` (binary protocol, no TLS yet).
//!
//! Each scan opens its own connection (in read-only transaction mode), so a database that
//! went away and came back is used again by the next query without any reconnect logic.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::unparser::dialect::{Dialect, PostgreSqlDialect};
use futures::StreamExt;
use futures::stream::BoxStream;
use parallax_catalog::PostgresConfig;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use super::scan::{Backend, quote};
use super::{DEFAULT_TIMEOUT, Described, RemoteError, Source};

/// Rows per record batch read from PostgreSQL.
const BATCH_ROWS: usize = 8192;

/// How a column is read from PostgreSQL (after [`select_expr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    I16,
    I32,
    I64,
    F32,
    F64,
    Bool,
    Text,
    /// Read as days since 1970-01-01.
    Date,
    /// Read as microseconds since 1970-01-01T00:00:00.
    Timestamp,
}

/// The Arrow type of a PostgreSQL type name, or `None` when it has no VOTable equivalent here
/// (arrays, json, bytea, geometric types, ...).
fn arrow_type(typname: &str) -> Option<DataType> {
    Some(match typname {
        "int2" => DataType::Int16,
        "int4" => DataType::Int32,
        "int8" => DataType::Int64,
        "float4" => DataType::Float32,
        // numeric is read as double precision: exact decimals are not kept beyond 15 digits.
        "float8" | "numeric" => DataType::Float64,
        "bool" => DataType::Boolean,
        "text" | "varchar" | "bpchar" | "name" => DataType::Utf8,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamptz" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => return None,
    })
}

/// The SQL selecting a column of `typname` so that it arrives as [`Kind`] reads it.
fn select_expr(column: &str, typname: &str) -> String {
    let c = quote(column);
    match typname {
        "numeric" => format!("{c}::float8"),
        "date" => format!("({c} - DATE '1970-01-01')"),
        "timestamp" | "timestamptz" => format!("(EXTRACT(EPOCH FROM {c}) * 1000000)::int8"),
        _ => c,
    }
}

/// One `[[catalog.postgres]]` source.
#[derive(Debug)]
pub(crate) struct PostgresSource {
    backend: Arc<PostgresBackend>,
}

#[derive(Debug)]
struct PostgresBackend {
    name: String,
    config: tokio_postgres::Config,
    timeout: Duration,
    schemas: Vec<String>,
}

impl PostgresSource {
    /// Validates the configuration (nothing is connected yet).
    pub(crate) fn new(key: &str, c: &PostgresConfig, base_dir: &Path) -> Result<Self, RemoteError> {
        let bad = |k: &str, m: String| RemoteError::Config {
            key: format!("{key}.{k}"),
            message: m,
        };
        let mut config = match &c.connection {
            Some(text) => text.parse::<tokio_postgres::Config>().map_err(|e| {
                bad(
                    "connection",
                    format!("not a PostgreSQL connection string: {e}"),
                )
            })?,
            None => tokio_postgres::Config::new(),
        };
        if let Some(h) = &c.host {
            config.host(h);
        }
        if let Some(p) = c.port {
            config.port(p);
        }
        if let Some(u) = &c.user {
            config.user(u);
        }
        if let Some(d) = &c.dbname {
            config.dbname(d);
        }
        if config.get_hosts().is_empty() {
            return Err(bad(
                "connection",
                "give a connection string or a host (e.g. connection = \"host=127.0.0.1 user=tap dbname=archive\")".into(),
            ));
        }
        if config.get_user().is_none() {
            return Err(bad("user", "a user name is needed".into()));
        }
        if let Some(file) = &c.password_file {
            config.password(read_secret(base_dir, file).map_err(|m| bad("password_file", m))?);
        }
        if c.tables.is_empty() && c.schemas.is_empty() {
            return Err(bad(
                "tables",
                "list at least one table or schema to expose".into(),
            ));
        }
        let timeout = Duration::from_secs(c.timeout.unwrap_or(DEFAULT_TIMEOUT).max(1));
        config
            .connect_timeout(timeout)
            .application_name("parallax")
            // Nothing Parallax sends can write, whatever the account may do.
            .options("-c default_transaction_read_only=on");
        Ok(Self {
            backend: Arc::new(PostgresBackend {
                name: c.name.clone(),
                config,
                timeout,
                schemas: c.schemas.clone(),
            }),
        })
    }
}

/// The first line of a secret file (relative paths against the config file's directory).
pub(crate) fn read_secret(base_dir: &Path, file: &str) -> Result<String, String> {
    let path = base_dir.join(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").trim_end().to_string())
}

impl PostgresBackend {
    async fn connect(&self) -> Result<Client, RemoteError> {
        let (client, connection) =
            self.config
                .connect(NoTls)
                .await
                .map_err(|e| RemoteError::Unavailable {
                    source_name: self.name.clone(),
                    kind: "postgres",
                    reason: reason(&e),
                })?;
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(source = %name, error = %e, "postgres connection ended");
            }
        });
        Ok(client)
    }

    fn remote_error(&self, e: tokio_postgres::Error) -> RemoteError {
        if e.as_db_error().is_none() {
            RemoteError::Unavailable {
                source_name: self.name.clone(),
                kind: "postgres",
                reason: reason(&e),
            }
        } else {
            RemoteError::Remote {
                source_name: self.name.clone(),
                message: reason(&e),
            }
        }
    }
}

/// The server's message for database errors (tokio-postgres prints only "db error"), else
/// the error and its causes.
fn reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    super::error_chain(e)
}

#[async_trait]
impl Backend for PostgresBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn dialect(&self) -> &(dyn Dialect + Send + Sync) {
        // A unit struct: the reference is to a promoted constant.
        &PostgreSqlDialect {}
    }

    fn result_type(&self, t: &DataType) -> Option<ast::DataType> {
        // PostgreSQL sums `bigint` and averages integers as `numeric`, and `real * bigint` is
        // `double precision`: the reader takes exactly the type DataFusion planned.
        Some(match t {
            DataType::Int16 => ast::DataType::SmallInt(None),
            DataType::Int32 => ast::DataType::Integer(None),
            DataType::Int64 => ast::DataType::BigInt(None),
            DataType::Float32 => ast::DataType::Real,
            DataType::Float64 => ast::DataType::DoublePrecision,
            DataType::Boolean => ast::DataType::Boolean,
            _ => return None,
        })
    }

    async fn query(
        &self,
        sql: String,
        schema: SchemaRef,
    ) -> Result<BoxStream<'static, Result<RecordBatch, RemoteError>>, RemoteError> {
        let client = self.connect().await?;
        let kinds: Vec<Kind> = schema
            .fields()
            .iter()
            .map(|f| kind_for_arrow(f.data_type()))
            .collect();
        let rows = client
            .query_raw(sql.as_str(), std::iter::empty::<&dyn ToSql>())
            .await
            .map_err(|e| self.remote_error(e))?;
        let name = self.name.clone();
        let name2 = self.name.clone();
        // The client lives as long as the stream: dropping the stream closes the connection,
        // which makes PostgreSQL stop the query.
        let stream = rows
            .chunks(BATCH_ROWS)
            .map(move |chunk| {
                let _keep = &client;
                let rows = chunk
                    .into_iter()
                    .collect::<Result<Vec<Row>, _>>()
                    .map_err(|e| RemoteError::Remote {
                        source_name: name.clone(),
                        message: e.to_string(),
                    })?;
                to_batch(&schema, &kinds, &rows).map_err(|message| RemoteError::Remote {
                    source_name: name2.clone(),
                    message,
                })
            })
            .boxed();
        Ok(stream)
    }
}

fn kind_for_arrow(dt: &DataType) -> Kind {
    match dt {
        DataType::Int16 => Kind::I16,
        DataType::Int32 => Kind::I32,
        DataType::Int64 => Kind::I64,
        DataType::Float32 => Kind::F32,
        DataType::Float64 => Kind::F64,
        DataType::Boolean => Kind::Bool,
        DataType::Date32 => Kind::Date,
        DataType::Timestamp(..) => Kind::Timestamp,
        _ => Kind::Text,
    }
}

fn to_batch(schema: &SchemaRef, kinds: &[Kind], rows: &[Row]) -> Result<RecordBatch, String> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (i, (kind, field)) in kinds.iter().zip(schema.fields()).enumerate() {
        macro_rules! col {
            ($t:ty, $arr:ty) => {{
                let v = rows
                    .iter()
                    .map(|r| r.try_get::<_, Option<$t>>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("column '{}': {e}", field.name()))?;
                Arc::new(<$arr>::from(v)) as ArrayRef
            }};
        }
        let array = match kind {
            Kind::I16 => col!(i16, Int16Array),
            Kind::I32 => col!(i32, Int32Array),
            Kind::I64 => col!(i64, Int64Array),
            Kind::F32 => col!(f32, Float32Array),
            Kind::F64 => col!(f64, Float64Array),
            Kind::Bool => col!(bool, BooleanArray),
            Kind::Text => col!(&str, StringArray),
            Kind::Date => col!(i32, Date32Array),
            Kind::Timestamp => {
                let v = rows
                    .iter()
                    .map(|r| r.try_get::<_, Option<i64>>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("column '{}': {e}", field.name()))?;
                let a = TimestampMicrosecondArray::from(v);
                match field.data_type() {
                    DataType::Timestamp(_, Some(tz)) => Arc::new(a.with_timezone(tz.clone())),
                    _ => Arc::new(a) as ArrayRef,
                }
            }
        };
        columns.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| e.to_string())
}

#[async_trait]
impl Source for PostgresSource {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    fn remote_parts(&self, remote: &str) -> Vec<String> {
        match remote.split_once('.') {
            Some((s, t)) => vec![s.to_string(), t.to_string()],
            None => vec![remote.to_string()],
        }
    }

    async fn describe(&self, remote: &str) -> Result<Described, RemoteError> {
        let b = &self.backend;
        let client = b.connect().await?;
        let quoted = self.remote_name(remote);
        let rows = client
            .query(
                "SELECT a.attname::text, t.typname::text, a.attnotnull, \
                 col_description(a.attrelid, a.attnum) \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = to_regclass($1::text) AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&quoted],
            )
            .await
            .map_err(|e| b.remote_error(e))?;
        if rows.is_empty() {
            return Err(RemoteError::MissingTable {
                source_name: b.name.clone(),
                table: remote.to_string(),
            });
        }
        let description: Option<String> = client
            .query_one(
                "SELECT obj_description(to_regclass($1::text), 'pg_class')",
                &[&quoted],
            )
            .await
            .map_err(|e| b.remote_error(e))?
            .get(0);
        let mut fields = Vec::new();
        let mut select = Vec::new();
        let mut skipped = Vec::new();
        for r in &rows {
            let name: String = r.get(0);
            let typname: String = r.get(1);
            let not_null: bool = r.get(2);
            let comment: Option<String> = r.get(3);
            match arrow_type(&typname) {
                Some(dt) => {
                    let mut md = HashMap::new();
                    if let Some(c) = comment {
                        md.insert("description".to_string(), c);
                    }
                    fields.push(Field::new(&name, dt, !not_null).with_metadata(md));
                    select.push(select_expr(&name, &typname));
                }
                None => skipped.push(format!("{name} ({typname})")),
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                source = %b.name,
                table = remote,
                columns = %skipped.join(", "),
                "columns with types that have no VOTable equivalent are not exposed"
            );
        }
        Ok(Described {
            fields,
            select,
            description,
        })
    }

    async fn list(&self) -> Result<Vec<String>, RemoteError> {
        let b = &self.backend;
        let client = b.connect().await?;
        let mut out = Vec::new();
        for s in &b.schemas {
            let rows = client
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = $1 ORDER BY table_name",
                    &[s],
                )
                .await
                .map_err(|e| b.remote_error(e))?;
            out.extend(
                rows.iter()
                    .map(|r| format!("{s}.{}", r.get::<_, String>(0))),
            );
        }
        Ok(out)
    }
}
