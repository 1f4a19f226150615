//! Federation: tables of remote PostgreSQL databases and Arrow Flight SQL services, queried in
//! place from ADQL (`[[catalog.postgres]]`, `[[catalog.flightsql]]`; see `docs/federation.md`).
//!
//! Each remote table is a DataFusion `TableProvider` whose scan sends one SQL query to its
//! source: the columns the query needs, the filters that mean the same there (comparisons,
//! boolean logic, `BETWEEN`, `IN`, `LIKE`, arithmetic without division) and the limit. A
//! logical optimizer rule (`subquery`) sends whole sub-queries over the tables of one source
//! (joins, standard aggregates, sorts) there as one query. Joins with local tables, our ADQL
//! functions and everything else run locally.
//!
//! A source that is down when the service starts does not stop it: its schema is registered
//! with a provider that tries again each time a query names one of its tables, and every
//! connection and every wait for rows is bounded by the source's `timeout`. Errors name the
//! source.

mod flight;
mod postgres;
mod scan;
mod subquery;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::empty::EmptyTable;
use datafusion::prelude::SessionContext;
use parallax_catalog::{CatalogConfig, CatalogError, RemoteTableConfig, TableInfo};

/// Seconds allowed for connecting to a source and for each wait for rows, by default.
pub(crate) const DEFAULT_TIMEOUT: u64 = 10;

/// What can go wrong with a remote source. Every message names the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The source cannot be reached or refused the connection (down, wrong password).
    #[error("remote source '{source_name}' ({kind}) is unavailable: {reason}")]
    Unavailable {
        /// Source name.
        source_name: String,
        /// `postgres` or `flightsql`.
        kind: &'static str,
        /// Why, as the driver reports it.
        reason: String,
    },
    /// The source did not answer in time.
    #[error("remote source '{source_name}' did not answer within {seconds} s (its timeout)")]
    Timeout {
        /// Source name.
        source_name: String,
        /// The configured timeout.
        seconds: u64,
    },
    /// A configured remote table does not exist at the source.
    #[error("remote source '{source_name}' has no table {table}")]
    MissingTable {
        /// Source name.
        source_name: String,
        /// The remote table name.
        table: String,
    },
    /// The source answered with an error.
    #[error("remote source '{source_name}': {message}")]
    Remote {
        /// Source name.
        source_name: String,
        /// The source's message.
        message: String,
    },
    /// The source's configuration is invalid.
    #[error("{key}: {message}")]
    Config {
        /// Dotted configuration key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl From<RemoteError> for DataFusionError {
    fn from(e: RemoteError) -> Self {
        // A source that is down or too slow travels through DataFusion as an I/O error of
        // kind `NotConnected` or `TimedOut`, which the ADQL front end and the engine report as
        // unavailable (HTTP 503, Flight SQL `Unavailable`). Other errors are the query's
        // (HTTP 400, `InvalidArgument`).
        let kind = match &e {
            RemoteError::Unavailable { .. } => std::io::ErrorKind::NotConnected,
            RemoteError::Timeout { .. } => std::io::ErrorKind::TimedOut,
            _ => return DataFusionError::Execution(e.to_string()),
        };
        DataFusionError::IoError(std::io::Error::new(kind, e.to_string()))
    }
}

/// A remote table as a source describes it.
pub(crate) struct Described {
    /// Exposed columns (VOTable-compatible types), with the source's descriptions.
    pub(crate) fields: Vec<Field>,
    /// Per field: the SQL selecting it.
    pub(crate) select: Vec<String>,
    /// The table's description at the source.
    pub(crate) description: Option<String>,
}

/// A source: connects, lists and describes its tables.
#[async_trait]
pub(crate) trait Source: Send + Sync + std::fmt::Debug {
    /// The backend used by its tables' scans.
    fn backend(&self) -> Arc<dyn scan::Backend>;
    /// Describes one remote table (`remote` as configured), skipping columns whose type has
    /// no VOTable equivalent (with a warning).
    async fn describe(&self, remote: &str) -> Result<Described, RemoteError>;
    /// The parts of a configured table's remote name (`public.psc` -> `public`, `psc`).
    fn remote_parts(&self, remote: &str) -> Vec<String>;
    /// The quoted remote name of a configured table.
    fn remote_name(&self, remote: &str) -> String {
        let parts: Vec<String> = self
            .remote_parts(remote)
            .iter()
            .map(|p| scan::quote(p))
            .collect();
        parts.join(".")
    }
    /// Tables of the configured remote schemas (PostgreSQL `schemas`), as `schema.table`.
    async fn list(&self) -> Result<Vec<String>, RemoteError>;
}

/// One configured source and the tables it exposes.
#[derive(Debug)]
struct SourceEntry {
    source: Arc<dyn Source>,
    /// The local ADQL schema.
    schema: String,
    /// Local table name -> remote name, as configured (or listed).
    tables: Vec<(String, String)>,
    /// Per local table: configured metadata.
    meta: BTreeMap<String, RemoteTableConfig>,
    /// Whether `schemas` still need listing (the source was down at start-up).
    unlisted: bool,
    /// The first configured remote schema: where an unlisted name is looked for.
    fallback_schema: Option<String>,
}

/// The remote sources of a catalogue.
#[derive(Debug, Default)]
pub struct Federation {
    entries: Vec<Arc<SourceEntry>>,
    /// Tables described at start-up, for TAP_SCHEMA.
    tables: Vec<TableInfo>,
}

impl Federation {
    /// Reads the remote sources of `config` and describes their tables. A source that is
    /// down or slow is logged and left for later; only configuration errors fail.
    pub async fn connect(config: &CatalogConfig, base_dir: &Path) -> Result<Self, CatalogError> {
        let schemas = parallax_catalog::remote_schemas(config)?;
        let mut entries = Vec::new();
        let mut names = schemas.iter().map(|s| s.name.clone());
        for (i, p) in config.postgres.iter().enumerate() {
            let key = format!("catalog.postgres[{i}]");
            let source = postgres::PostgresSource::new(&key, p, base_dir).map_err(config_error)?;
            let tables = table_names(&key, &p.tables, true)?;
            entries.push((
                Arc::new(source) as Arc<dyn Source>,
                names.next().unwrap_or_default(),
                tables,
                p.table.clone(),
                p.schemas.first().cloned(),
            ));
        }
        for (i, f) in config.flightsql.iter().enumerate() {
            let key = format!("catalog.flightsql[{i}]");
            let source = flight::FlightSource::new(&key, f, base_dir).map_err(config_error)?;
            let tables = table_names(&key, &f.tables, false)?;
            entries.push((
                Arc::new(source) as Arc<dyn Source>,
                names.next().unwrap_or_default(),
                tables,
                f.table.clone(),
                None,
            ));
        }
        let mut out = Federation::default();
        for (source, schema, mut tables, meta, fallback_schema) in entries {
            let backend = source.backend();
            let mut unlisted = fallback_schema.is_some();
            if unlisted {
                match source.list().await {
                    Ok(listed) => {
                        unlisted = false;
                        for remote in listed {
                            let local = remote.rsplit('.').next().unwrap_or(&remote).to_string();
                            if !is_identifier(&local) {
                                tracing::warn!(
                                    source = backend.name(),
                                    table = %remote,
                                    "not exposed: the name is not a lower-case ADQL identifier"
                                );
                            } else if !tables.iter().any(|(l, _)| *l == local) {
                                tables.push((local, remote));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "remote schemas not listed; retried when queried")
                    }
                }
            }
            let mut down = false;
            for (local, remote) in &tables {
                if down {
                    break;
                }
                match describe(&source, &schema, local, remote, meta.get(local)).await {
                    Ok(info) => out.tables.push(info),
                    Err(DescribeError::Config(e)) => return Err(e),
                    Err(DescribeError::Remote(e)) => {
                        // Unreachable: the other tables of this source would wait too.
                        down = matches!(
                            e,
                            RemoteError::Unavailable { .. } | RemoteError::Timeout { .. }
                        );
                        tracing::warn!(
                            source = backend.name(),
                            table = %format!("{schema}.{local}"),
                            error = %e,
                            "remote table not available at start-up; retried when queried"
                        );
                    }
                }
            }
            out.entries.push(Arc::new(SourceEntry {
                source,
                schema,
                tables,
                meta,
                unlisted,
                fallback_schema,
            }));
        }
        Ok(out)
    }

    /// The tables described at start-up (for the catalogue and TAP_SCHEMA).
    pub fn tables(&self) -> Vec<TableInfo> {
        self.tables.clone()
    }

    /// Registers each source's schema with `ctx`, replacing the catalogue's static one by a
    /// provider that retries tables that were not available at start-up, and the optimizer
    /// rule that sends sub-queries over one source's tables to that source.
    pub fn register(&self, ctx: &SessionContext) -> Result<(), CatalogError> {
        if !self.entries.is_empty() {
            // After DataFusion's rules: scans then carry their columns, filters and limits.
            ctx.remove_optimizer_rule(subquery::RULE_NAME);
            ctx.add_optimizer_rule(Arc::new(subquery::RemoteSubqueries));
        }
        let Some(catalog) = ctx.catalog("datafusion") else {
            return Err(CatalogError::Registration {
                table: "*".into(),
                reason: "the default DataFusion catalogue is missing".into(),
            });
        };
        for entry in &self.entries {
            let known: HashMap<String, Arc<dyn TableProvider>> = self
                .tables
                .iter()
                .filter(|t| t.schema == entry.schema)
                .map(|t| (t.name.clone(), t.provider.clone()))
                .collect();
            let provider = RemoteSchema {
                entry: entry.clone(),
                resolved: Mutex::new(known),
            };
            catalog
                .register_schema(&entry.schema, Arc::new(provider))
                .map_err(|e| CatalogError::Registration {
                    table: entry.schema.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }
}

fn config_error(e: RemoteError) -> CatalogError {
    match e {
        RemoteError::Config { key, message } => CatalogError::InvalidConfig { key, message },
        other => CatalogError::InvalidConfig {
            key: "catalog".into(),
            message: other.to_string(),
        },
    }
}

/// (local name, remote name) pairs of the configured tables, checked.
fn table_names(
    key: &str,
    tables: &[String],
    default_public: bool,
) -> Result<Vec<(String, String)>, CatalogError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (j, t) in tables.iter().enumerate() {
        let remote = match (t.split_once('.'), default_public) {
            (Some(_), _) => t.clone(),
            (None, true) => format!("public.{t}"),
            (None, false) => t.clone(),
        };
        let local = remote
            .rsplit('.')
            .next()
            .unwrap_or(&remote)
            .to_ascii_lowercase();
        if !is_identifier(&local) {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.tables[{j}]"),
                message: format!(
                    "'{t}': the table name must be an ADQL regular identifier ([a-z][a-z0-9_]*) to be exposed"
                ),
            });
        }
        if out.iter().any(|(l, _)| *l == local) {
            return Err(CatalogError::InvalidConfig {
                key: format!("{key}.tables[{j}]"),
                message: format!("two tables of this source would both be named '{local}'"),
            });
        }
        out.push((local, remote));
    }
    Ok(out)
}

/// `[a-z][a-z0-9_]*`: a name usable as an ADQL regular identifier without quotes.
fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

enum DescribeError {
    Config(CatalogError),
    Remote(RemoteError),
}

async fn describe(
    source: &Arc<dyn Source>,
    schema: &str,
    local: &str,
    remote: &str,
    meta: Option<&RemoteTableConfig>,
) -> Result<TableInfo, DescribeError> {
    let backend = source.backend();
    let wait = backend.timeout();
    let d = tokio::time::timeout(wait, source.describe(remote))
        .await
        .map_err(|_| {
            DescribeError::Remote(RemoteError::Timeout {
                source_name: backend.name().to_string(),
                seconds: wait.as_secs(),
            })
        })?
        .map_err(DescribeError::Remote)?;
    let arrow = Schema::new(d.fields);
    let placeholder = Arc::new(EmptyTable::new(Arc::new(arrow.clone())));
    let info =
        parallax_catalog::remote_table(schema, local, &arrow, d.description, meta, placeholder)
            .map_err(DescribeError::Config)?;
    // The provider carries the metadata TAP_SCHEMA declares, so results carry it too.
    let provider = Arc::new(scan::RemoteTable {
        backend,
        remote_name: source.remote_name(remote),
        remote_parts: source.remote_parts(remote),
        schema: info.arrow_schema.clone(),
        select: d.select,
    });
    Ok(TableInfo { provider, ..info })
}

/// The schema of one source: tables described at start-up, plus configured tables that are
/// described (and cached) when a query first names them.
#[derive(Debug)]
struct RemoteSchema {
    entry: Arc<SourceEntry>,
    resolved: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl RemoteSchema {
    fn cached(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.resolved.lock().ok()?.get(name).cloned()
    }
}

#[async_trait]
impl SchemaProvider for RemoteSchema {
    fn table_names(&self) -> Vec<String> {
        self.entry.tables.iter().map(|(l, _)| l.clone()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if let Some(t) = self.cached(name) {
            return Ok(Some(t));
        }
        let e = &self.entry;
        let remote = match e.tables.iter().find(|(l, _)| l == name) {
            Some((_, r)) => r.clone(),
            None if e.unlisted => match &e.fallback_schema {
                Some(s) => format!("{s}.{name}"),
                None => return Ok(None),
            },
            None => return Ok(None),
        };
        let info = describe(&e.source, &e.schema, name, &remote, e.meta.get(name))
            .await
            .map_err(|err| match err {
                DescribeError::Config(c) => DataFusionError::Plan(c.to_string()),
                DescribeError::Remote(
                    r @ (RemoteError::Unavailable { .. } | RemoteError::Timeout { .. }),
                ) => r.into(),
                DescribeError::Remote(r) => DataFusionError::Plan(r.to_string()),
            })?;
        tracing::info!(source = e.source.backend().name(), table = %info.qualified_name(), "remote table available");
        if let Ok(mut m) = self.resolved.lock() {
            m.insert(name.to_string(), info.provider.clone());
        }
        Ok(Some(info.provider))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.entry.tables.iter().any(|(l, _)| l == name) || self.cached(name).is_some()
    }
}

/// An error and its causes, each once (tonic prints only "transport error" and
/// tokio-postgres only "db error" at the top).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

/// Whether a logical plan reads a table of a remote source (sub-queries included). In
/// Ballista mode such a query runs in the front end: the cluster's executors have no
/// connection to the remote sources.
pub fn touches_remote(plan: &datafusion::logical_expr::LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source)
            && (provider.downcast_ref::<scan::RemoteTable>().is_some()
                || provider.downcast_ref::<subquery::RemoteQuery>().is_some())
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}
