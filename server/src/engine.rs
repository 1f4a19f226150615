//! The query engine: the one place that builds the DataFusion `SessionContext` (catalogue,
//! UDFs, ADQL front end) and turns ADQL text into a stream of record batches.
//!
//! HTTP `/sync`, the CLI, async jobs and Flight SQL all go through [`Engine`]. The same
//! engine runs queries in process (`[engine] mode = "local"`) or on a Ballista cluster
//! (`"ballista"`): then the session plans here and the scheduler and executors (see
//! [`crate::cluster`]) run the plan, with the same functions registered by
//! [`register_parallax`].
//!
//! The engine is read-only on every path: the session knows no table factories (no
//! `CREATE EXTERNAL TABLE`), no table functions but `crossmatch_pairs` (no `generate_series`,
//! no file readers) and no URL tables; ADQL and SQL plans are verified with DDL, DML and
//! statements (`SET`, transactions, `PREPARE`) switched off, and SQL is limited to one query.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider,
};
use datafusion::common::{Column, DataFusionError, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use parallax_adql::AdqlError;
use parallax_catalog::Catalog;
use parallax_formats::ColumnMeta;

use crate::cluster::client::{JobStream, Scheduler};
use crate::config::EngineMode;
use crate::upload::UploadTable;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The ADQL text is invalid (syntax, names, types).
    #[error("{rendered}")]
    Adql {
        /// The front end's error.
        error: AdqlError,
        /// Message with line, column and caret frame.
        rendered: String,
    },
    /// The query is valid but failed while running because of its data or arguments
    /// (e.g. a cast that cannot succeed).
    #[error("query failed: {0}")]
    Execution(String),
    /// A resource limit was hit (memory, time).
    #[error("query stopped: {0}")]
    Resource(String),
    /// A data source the query reads did not answer: a remote database that is down or too
    /// slow, or the Ballista scheduler of the query cluster (the message names it). HTTP
    /// 503, Flight SQL `Unavailable`.
    #[error("{0}")]
    Unavailable(String),
    /// The SQL text is invalid, or is not a single read-only query (Flight SQL's SQL mode).
    #[error("{0}")]
    Sql(String),
    /// A bug or an I/O failure on our side; details go to the log only.
    #[error("internal error")]
    Internal(String),
    /// A bug: code panicked while planning or running the query (here or on a Ballista
    /// executor). The panic message is shown: it names what failed. HTTP 500.
    #[error("internal error (a bug in Parallax; please report it with the query): {0}")]
    Bug(String),
}

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The catalogue could not be registered.
    #[error(transparent)]
    Catalog(#[from] parallax_catalog::CatalogError),
    /// The Ballista scheduler is unreachable or not a scheduler.
    #[error("{0}")]
    Scheduler(String),
}

impl QueryError {
    /// True when the client caused the error (HTTP 4xx).
    pub fn is_user_error(&self) -> bool {
        match self {
            QueryError::Adql { error, .. } => error.is_user_error(),
            QueryError::Execution(_) => true,
            QueryError::Resource(_) => true,
            QueryError::Unavailable(_) => false,
            QueryError::Sql(_) => true,
            QueryError::Internal(_) => false,
            QueryError::Bug(_) => false,
        }
    }

    /// Classifies an error raised by DataFusion during execution.
    pub fn from_datafusion(e: DataFusionError) -> Self {
        use crate::cluster::{failure, version};
        let root = e.find_root();
        let text = root.to_string();
        // A failed Ballista job: the executor's message, without Ballista's wrapping.
        let job = failure::job_failure(&text);
        let text = job.as_deref().unwrap_or(&text);
        if let Some(mismatch) = version::is_mismatch(text) {
            return QueryError::Unavailable(mismatch);
        }
        if let Some(panic) = failure::panic_in(text) {
            return QueryError::Bug(panic);
        }
        if let Some(missing) = failure::missing_file(text) {
            return QueryError::Unavailable(missing);
        }
        if let Some(message) = job {
            return QueryError::Execution(message);
        }
        match root {
            DataFusionError::IoError(io) if is_unavailable(io) => {
                QueryError::Unavailable(io.to_string())
            }
            DataFusionError::ArrowError(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::Execution(_)
            | DataFusionError::NotImplemented(_) => QueryError::Execution(clean(root)),
            DataFusionError::ResourcesExhausted(m) => QueryError::Resource(m.clone()),
            _ => QueryError::Internal(e.to_string()),
        }
    }
}

/// The message of a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs a planning step, turning a panic inside it into [`QueryError::Bug`] (the server keeps
/// running and the client gets an answer).
async fn unwind_safe<T>(
    step: impl std::future::Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(step).catch_unwind().await {
        Ok(r) => r,
        Err(payload) => Err(QueryError::Bug(panic_message(payload.as_ref()))),
    }
}

/// A result stream that ends with an error instead of unwinding when polling it panics
/// (an operator or function running in the polling task).
struct CatchPanics {
    inner: Option<SendableRecordBatchStream>,
    schema: SchemaRef,
}

impl futures::Stream for CatchPanics {
    type Item = datafusion::common::Result<datafusion::arrow::record_batch::RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use futures::StreamExt;
        let Some(inner) = self.inner.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll_next_unpin(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                // The stream's state is unknown after a panic: drop it, end after this error.
                self.inner = None;
                std::task::Poll::Ready(Some(Err(DataFusionError::External(
                    format!("panicked: {}", panic_message(payload.as_ref())).into(),
                ))))
            }
        }
    }
}

impl datafusion::execution::RecordBatchStream for CatchPanics {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Whether an I/O error says that a data source did not answer: remote sources report
/// themselves down or too slow as `NotConnected` or `TimedOut` (as the ADQL front end
/// expects too), which no local read produces.
fn is_unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotConnected | std::io::ErrorKind::TimedOut
    )
}

fn clean(e: &DataFusionError) -> String {
    let s = e.to_string();
    for prefix in [
        "Arrow error: ",
        "Execution error: ",
        "Error during planning: ",
        "This feature is not implemented: ",
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    s
}

/// A running query: output schema, column metadata and the batch stream.
pub struct QueryResult {
    /// The output schema (field names are the TAP column names).
    pub schema: SchemaRef,
    /// Per-column IVOA metadata, for the writers.
    pub columns: Vec<ColumnMeta>,
    /// The result batches.
    pub stream: SendableRecordBatchStream,
}

/// The engine shared by every entry point.
pub struct Engine {
    ctx: SessionContext,
    catalog: Arc<Catalog>,
    /// The Ballista scheduler that runs the queries, in Ballista mode.
    scheduler: Option<Arc<Scheduler>>,
}

/// The session configuration every Parallax session starts from.
fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(false)
        .with_create_default_catalog_and_schema(true);
    config.options_mut().sql_parser.collect_spans = true;
    config.options_mut().execution.parquet.pushdown_filters = true;
    // Sent with Ballista jobs: the scheduler and executors refuse another version's plans.
    crate::cluster::version::with_version(config, crate::cluster::version::own())
}

/// Read-only: no `CREATE EXTERNAL TABLE` factories and none of DataFusion's table functions
/// (Parallax registers its own `crossmatch_pairs`).
fn session_state(config: SessionConfig) -> SessionStateBuilder {
    SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_table_factories(HashMap::new())
        .with_table_functions(HashMap::new())
}

/// Registers every Parallax function, aggregate, table function and optimizer rule: the one
/// list used by the engine, the Ballista scheduler and the Ballista executors.
pub fn register_parallax(ctx: &SessionContext) {
    parallax_udfs::register_all(ctx);
    crate::failpoint::register(ctx);
}

/// A session with Parallax's configuration and functions and no catalogue.
pub fn parallax_context() -> SessionContext {
    let ctx = SessionContext::new_with_state(session_state(session_config()).build());
    register_parallax(&ctx);
    ctx
}

impl Engine {
    /// Builds the session: configuration, Parallax UDFs and the catalogue's tables, with no
    /// memory limit.
    pub fn new(catalog: Catalog) -> Result<Self, parallax_catalog::CatalogError> {
        Self::with_memory_limit(catalog, 0)
    }

    /// As [`Engine::new`], with all queries together limited to `memory_bytes` (0: no limit)
    /// by DataFusion's fair spill pool: operators that can spill (sorts, hash aggregates,
    /// joins) spill to disk, others fail with a "resources exhausted" error naming the top
    /// consumers, instead of the process running out of memory.
    pub fn with_memory_limit(
        catalog: Catalog,
        memory_bytes: u64,
    ) -> Result<Self, parallax_catalog::CatalogError> {
        let mut runtime = parallax_catalog::stores::runtime_builder();
        if memory_bytes > 0 {
            use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
            let pool = TrackConsumersPool::new(
                FairSpillPool::new(usize::try_from(memory_bytes).unwrap_or(usize::MAX)),
                std::num::NonZeroUsize::new(3).unwrap_or(std::num::NonZeroUsize::MIN),
            );
            runtime = runtime.with_memory_pool(Arc::new(pool));
        }
        let runtime =
            runtime
                .build_arc()
                .map_err(|e| parallax_catalog::CatalogError::Registration {
                    table: "(query runtime)".into(),
                    reason: e.to_string(),
                })?;
        let state = session_state(session_config())
            .with_runtime_env(runtime)
            .with_physical_optimizer_rule(Arc::new(crate::coop::YieldBetweenOperators))
            .build();
        let ctx = SessionContext::new_with_state(state);
        register_parallax(&ctx);
        catalog.register(&ctx)?;
        Ok(Self {
            ctx,
            catalog: Arc::new(catalog),
            scheduler: None,
        })
    }

    /// Builds the engine for `mode`: in process, or as a client of a Ballista scheduler
    /// (checked to answer, within a few seconds).
    pub async fn build(
        catalog: Catalog,
        mode: &EngineMode,
        memory_bytes: u64,
    ) -> Result<Self, EngineError> {
        match mode {
            EngineMode::Local => Ok(Self::with_memory_limit(catalog, memory_bytes)?),
            EngineMode::Ballista { host, port } => {
                let scheduler = Scheduler {
                    host: host.clone(),
                    port: *port,
                };
                let ready = scheduler
                    .readiness()
                    .await
                    .map_err(EngineError::Scheduler)?;
                tracing::info!(scheduler = %scheduler.url(), %ready, "using the Ballista cluster");
                Self::ballista(catalog, scheduler).await
            }
        }
    }

    /// The Ballista client session: the same configuration, functions and catalogue as
    /// [`Engine::new`]; plans are sent to `scheduler`.
    async fn ballista(catalog: Catalog, scheduler: Scheduler) -> Result<Self, EngineError> {
        use ballista::prelude::{SessionConfigExt, SessionContextExt};
        let mut config = session_config()
            .with_ballista_logical_extension_codec(Arc::new(
                crate::cluster::codec::ParallaxLogicalCodec::default(),
            ))
            // Ballista 55's adaptive planner runs a fixed list of physical optimizer rules
            // (not the scheduler session's, so no yield points and cancellation that waits for
            // a batch boundary) and loses the fetch of in-memory scans (`TOP 1` over
            // TAP_SCHEMA returned every row): use the static distributed planner.
            .with_ballista_adaptive_query_planner(false);
        // DataFusion 55's leaf-expression extraction (`__datafusion_extracted_N` columns for
        // struct fields) makes plans that the scheduler cannot decode again ("No field
        // named max(abs(__datafusion_extracted_3 - ...))"): keep it off for plans sent to it.
        // Ballista 55 packs as many of a stage's partitions into one task as the executor
        // has free slots, so a stage of 2 partitions ran whole on one executor of two: one
        // partition per task spreads every stage over the cluster.
        config
            .options_mut()
            .set("ballista.scheduler.max_partitions_per_task", "1")
            .map_err(|e| EngineError::Scheduler(e.to_string()))?;
        let optimizer = &mut config.options_mut().optimizer;
        optimizer.enable_leaf_expression_pushdown = false;
        // Ballista 55's static planner turns a `CollectLeft` hash join whose type cannot be
        // broadcast (anti and outer joins, e.g. NOT EXISTS) back into a partitioned join
        // without merging its now several output partitions for the parent: a COUNT(*) above
        // it gave one row per partition. Let DataFusion plan every hash join partitioned;
        // Ballista itself promotes small build sides of broadcast-safe joins to broadcasts.
        optimizer.hash_join_single_partition_threshold = 0;
        optimizer.hash_join_single_partition_threshold_rows = 0;
        // Dynamic filters (a join's build side pruning its probe scan) live in one process,
        // and Ballista 55 swaps join inputs after they exist when it re-plans a stage, which
        // fails an assertion inside the scheduler and leaves the job hanging.
        optimizer.enable_dynamic_filter_pushdown = false;
        optimizer.enable_join_dynamic_filter_pushdown = false;
        optimizer.enable_topk_dynamic_filter_pushdown = false;
        optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        let runtime = parallax_catalog::stores::runtime_builder()
            .build_arc()
            .map_err(|e| EngineError::Scheduler(e.to_string()))?;
        let state = session_state(config).with_runtime_env(runtime).build();
        // Ballista replaces the state's functions with its own list: register ours after.
        let ctx = SessionContext::remote_with_state(&scheduler.url(), state)
            .await
            .map_err(|e| EngineError::Scheduler(e.to_string()))?;
        register_parallax(&ctx);
        catalog.register(&ctx)?;
        Ok(Self {
            ctx,
            catalog: Arc::new(catalog),
            scheduler: Some(Arc::new(scheduler)),
        })
    }

    /// The Ballista scheduler queries run on, in Ballista mode.
    pub fn scheduler(&self) -> Option<&Scheduler> {
        self.scheduler.as_deref()
    }

    /// Gauges for `/metrics`: bytes reserved in the memory pool, its limit (0: none), and the
    /// Parquet footers in DataFusion's file-metadata cache with their hits.
    pub fn memory_and_metadata_cache(&self) -> (u64, u64, u64, u64) {
        let rt = self.ctx.runtime_env();
        let limit = match rt.memory_pool.memory_limit() {
            datafusion::execution::memory_pool::MemoryLimit::Finite(n) => n as u64,
            _ => 0,
        };
        let cache = rt.cache_manager.get_file_metadata_cache();
        let hits: usize = cache.list_entries().values().map(|e| e.hits).sum();
        (
            rt.memory_pool.reserved() as u64,
            limit,
            cache.len() as u64,
            hits as u64,
        )
    }

    /// The catalogue being served.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The DataFusion session (for tests and tools).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Parses and plans an ADQL query; the plan's output columns get TAP-compliant names.
    pub async fn plan(&self, adql: &str) -> Result<LogicalPlan, QueryError> {
        plan_in(&self.ctx, adql).await
    }

    /// The physical plan of an ADQL query (for EXPLAIN-style tools, benchmarks and tests;
    /// run it with `datafusion::physical_plan::collect` and read [`scan_metrics`]).
    pub async fn physical_plan(&self, adql: &str) -> Result<Arc<dyn ExecutionPlan>, QueryError> {
        let plan = self.plan(adql).await?;
        self.ctx
            .state()
            .create_physical_plan(&plan)
            .await
            .map_err(QueryError::from_datafusion)
    }

    /// Parses and plans one SQL (DataFusion dialect) query under the same read-only rules as
    /// ADQL: exactly one statement, no DDL, DML, `COPY`, `SET` or other statements, no
    /// `EXPLAIN`, and no table function but `crossmatch_pairs`.
    pub async fn plan_sql(&self, sql: &str) -> Result<LogicalPlan, QueryError> {
        plan_sql_in(&self.ctx, sql).await
    }

    /// The positional parameters of a SQL query (`$1`, `$2`, ... or `?` numbered in order):
    /// for each, the type DataFusion infers from its context (`Null` when it cannot).
    pub async fn sql_parameters(&self, sql: &str) -> Result<Vec<DataType>, QueryError> {
        let plan = self.plan_sql(sql).await?;
        Ok(parameter_types(&plan)?
            .into_iter()
            .map(|t| t.unwrap_or(DataType::Null))
            .collect())
    }

    /// Plans a SQL query and binds `values` to its parameters; a wrong number of values or
    /// a value of the wrong type is refused ([`QueryError::Sql`]). Numeric values are cast to
    /// the numeric type a parameter needs.
    pub async fn plan_sql_with(
        &self,
        sql: &str,
        values: &[ScalarValue],
    ) -> Result<LogicalPlan, QueryError> {
        let plan = self.plan_sql(sql).await?;
        bind(plan, values)
    }

    /// Starts a plan made by [`Engine::plan`] or [`Engine::plan_sql_with`].
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<QueryResult, QueryError> {
        start(&self.ctx, plan, self.scheduler.as_ref()).await
    }

    /// Plans and starts a query in `lang`, streaming its batches.
    pub async fn execute_lang(&self, lang: Lang, text: &str) -> Result<QueryResult, QueryError> {
        match lang {
            Lang::Adql => self.execute(text, None).await,
            Lang::Sql => {
                let plan = self.plan_sql(text).await?;
                start(&self.ctx, plan, self.scheduler.as_ref()).await
            }
        }
    }

    /// Plans and starts an ADQL query, returning at most `limit` rows when given.
    pub async fn execute(&self, adql: &str, limit: Option<u64>) -> Result<QueryResult, QueryError> {
        execute_in(&self.ctx, adql, limit, self.scheduler.as_ref()).await
    }

    /// As [`Engine::execute`], with upload tables visible as `TAP_UPLOAD.name` to this query
    /// only: the query runs in a session whose catalogue holds the service's schemas plus a
    /// private `tap_upload` schema (the shared session is not touched).
    pub async fn execute_with_uploads(
        &self,
        adql: &str,
        limit: Option<u64>,
        uploads: Vec<UploadTable>,
    ) -> Result<QueryResult, QueryError> {
        if uploads.is_empty() {
            return self.execute(adql, limit).await;
        }
        let ctx = self.session_with(uploads)?;
        execute_in(&ctx, adql, limit, self.scheduler.as_ref()).await
    }

    fn session_with(&self, uploads: Vec<UploadTable>) -> Result<SessionContext, QueryError> {
        let internal = |e: DataFusionError| QueryError::Internal(e.to_string());
        let base = self
            .ctx
            .catalog("datafusion")
            .ok_or_else(|| QueryError::Internal("the default catalogue is missing".into()))?;
        let catalog = MemoryCatalogProvider::new();
        for name in base.schema_names() {
            if let Some(schema) = base.schema(&name) {
                catalog.register_schema(&name, schema).map_err(internal)?;
            }
        }
        let upload_schema = MemorySchemaProvider::new();
        for t in uploads {
            let table = MemTable::try_new(t.schema, vec![t.batches]).map_err(internal)?;
            upload_schema
                .register_table(t.name, Arc::new(table))
                .map_err(internal)?;
        }
        catalog
            .register_schema("tap_upload", Arc::new(upload_schema))
            .map_err(internal)?;
        let list = MemoryCatalogProviderList::new();
        list.register_catalog("datafusion".into(), Arc::new(catalog));
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_catalog_list(Arc::new(list))
            .build();
        Ok(SessionContext::new_with_state(state))
    }
}

async fn plan_in(ctx: &SessionContext, adql: &str) -> Result<LogicalPlan, QueryError> {
    unwind_safe(plan_in_unguarded(ctx, adql)).await
}

async fn plan_in_unguarded(ctx: &SessionContext, adql: &str) -> Result<LogicalPlan, QueryError> {
    let state = ctx.state();
    let plan = parallax_adql::plan(&state, adql)
        .await
        .map_err(|error| match error.kind() {
            parallax_adql::ErrorKind::Unavailable { message } => {
                QueryError::Unavailable(message.clone())
            }
            _ => QueryError::Adql {
                rendered: error.render(adql),
                error,
            },
        })?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| QueryError::Execution(clean(&e)))?;
    tap_names(plan).map_err(|e| QueryError::Internal(e.to_string()))
}

/// A query language accepted by [`Engine::execute_lang`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// ADQL 2.1 (the default everywhere).
    Adql,
    /// DataFusion SQL, read-only (Flight SQL clients that ask for it).
    Sql,
}

/// The only table functions a query may call.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["crossmatch_pairs"];

async fn plan_sql_in(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, QueryError> {
    unwind_safe(plan_sql_in_unguarded(ctx, sql)).await
}

async fn plan_sql_in_unguarded(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, QueryError> {
    let state = ctx.state();
    // Defence in depth: the session registers nothing else, but refuse clearly if it ever did.
    if let Some(name) = state
        .table_functions()
        .keys()
        .find(|n| !ALLOWED_TABLE_FUNCTIONS.contains(&n.as_str()))
    {
        return Err(QueryError::Internal(format!(
            "table function '{name}' is registered in the session"
        )));
    }
    let sql = number_placeholders(sql)?;
    let plan = state.create_logical_plan(&sql).await.map_err(sql_error)?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| QueryError::Sql(format!("refused: {}", clean(&e))))?;
    match &plan {
        LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) | LogicalPlan::DescribeTable(_) => {
            Err(QueryError::Sql(
                "refused: only queries (SELECT, WITH, VALUES) are accepted, not EXPLAIN or DESCRIBE"
                    .into(),
            ))
        }
        _ => Ok(plan),
    }
}

/// The parameter types of `plan`, indexed from `$1`; named placeholders are refused.
fn parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>, QueryError> {
    let found = plan
        .get_parameter_types()
        .map_err(|e| QueryError::Sql(format!("parameters: {}", clean(&e))))?;
    let mut out: Vec<Option<DataType>> = Vec::new();
    for (id, ty) in found {
        let index = id
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                QueryError::Sql(format!(
                    "unsupported placeholder '{id}': use $1, $2, ... or ?"
                ))
            })?;
        if index > out.len() {
            out.resize(index, None);
        }
        out[index - 1] = ty;
    }
    Ok(out)
}

/// Binds positional `values` to the placeholders of `plan`, checking count and types.
fn bind(plan: LogicalPlan, values: &[ScalarValue]) -> Result<LogicalPlan, QueryError> {
    let types = parameter_types(&plan)?;
    if types.len() != values.len() {
        return Err(QueryError::Sql(format!(
            "the statement has {} parameter(s) but {} value(s) were bound",
            types.len(),
            values.len()
        )));
    }
    if types.is_empty() {
        return Ok(plan);
    }
    let mut bound = Vec::with_capacity(values.len());
    for (i, (want, value)) in types.iter().zip(values).enumerate() {
        let have = value.data_type();
        let value = match want {
            Some(want) if *want != have => {
                if value.is_null() || (want.is_numeric() && have.is_numeric()) {
                    value.cast_to(want).map_err(|_| {
                        QueryError::Sql(format!(
                            "parameter ${}: the value {value} does not fit {want}",
                            i + 1
                        ))
                    })?
                } else {
                    return Err(QueryError::Sql(format!(
                        "parameter ${}: expected a value of type {want}, got {have}",
                        i + 1
                    )));
                }
            }
            _ => value.clone(),
        };
        bound.push(value);
    }
    plan.with_param_values(bound)
        .map_err(|e| QueryError::Sql(format!("parameters: {}", clean(e.find_root()))))
}

/// Numbers `?` placeholders in order (`$1`, `$2`, ...): DataFusion binds positional
/// parameters by number only. The tokenizer finds them, so a `?` inside a string literal,
/// a quoted name or a comment is left alone.
fn number_placeholders(sql: &str) -> Result<std::borrow::Cow<'_, str>, QueryError> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    if !sql.contains('?') {
        return Ok(std::borrow::Cow::Borrowed(sql));
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| QueryError::Sql(format!("invalid SQL: {e}")))?;
    let mut at: Vec<(u64, u64)> = tokens
        .iter()
        .filter(|t| matches!(&t.token, Token::Placeholder(p) if p == "?"))
        .map(|t| (t.span.start.line, t.span.start.column))
        .collect();
    if at.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(sql));
    }
    if tokens
        .iter()
        .any(|t| matches!(&t.token, Token::Placeholder(p) if p.starts_with('$')))
    {
        return Err(QueryError::Sql(
            "use either ? or $1, $2, ... placeholders in one statement, not both".into(),
        ));
    }
    at.reverse();
    let mut out = String::with_capacity(sql.len() + 2 * at.len());
    let (mut line, mut column, mut n) = (1u64, 1u64, 0usize);
    for ch in sql.chars() {
        if ch == '?' && at.last() == Some(&(line, column)) {
            at.pop();
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Classifies an error raised while parsing or planning SQL.
fn sql_error(e: DataFusionError) -> QueryError {
    match e.find_root() {
        DataFusionError::SQL(err, _) => QueryError::Sql(format!("invalid SQL: {err}")),
        DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => {
            QueryError::Sql(format!("invalid SQL: {}", clean(e.find_root())))
        }
        _ => QueryError::from_datafusion(e),
    }
}

/// DataFusion's own physical planning (the Ballista client session plans for the cluster).
#[derive(Debug)]
struct InProcess;

#[async_trait::async_trait]
impl datafusion::execution::context::QueryPlanner for InProcess {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn datafusion::catalog::Session,
    ) -> datafusion::common::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::physical_planner::PhysicalPlanner;
        datafusion::physical_planner::DefaultPhysicalPlanner::default()
            .create_physical_plan(plan, state)
            .await
    }
}

/// Starts a plan: in process, or as a Ballista job. A panic while starting it or while its
/// batches are computed becomes [`QueryError::Bug`].
async fn start(
    ctx: &SessionContext,
    plan: LogicalPlan,
    scheduler: Option<&Arc<Scheduler>>,
) -> Result<QueryResult, QueryError> {
    let mut result = unwind_safe(start_unguarded(ctx, plan, scheduler)).await?;
    result.stream = Box::pin(CatchPanics {
        schema: Arc::clone(&result.schema),
        inner: Some(result.stream),
    });
    Ok(result)
}

async fn start_unguarded(
    ctx: &SessionContext,
    plan: LogicalPlan,
    scheduler: Option<&Arc<Scheduler>>,
) -> Result<QueryResult, QueryError> {
    // Remote (federated) tables are read by the front end: Ballista's executors have no
    // connection to those sources, so such a query runs here, in process.
    let local;
    let (ctx, scheduler) = match scheduler {
        Some(_) if crate::federation::touches_remote(&plan) => {
            let state = datafusion::execution::SessionStateBuilder::new_from_existing(ctx.state())
                .with_query_planner(Arc::new(InProcess))
                .build();
            local = SessionContext::new_with_state(state);
            (&local, None)
        }
        other => (ctx, other),
    };
    // In Ballista mode: the scheduler must answer (within a deadline), and how many executors
    // it has is compared with the count once the job is done (below).
    let executors_before = match scheduler {
        Some(s) => Some(s.executors().await.map_err(QueryError::Unavailable)?),
        None => None,
    };
    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(QueryError::from_datafusion)?;
    let task_ctx = Arc::new(df.task_ctx());
    let physical = df
        .create_physical_plan()
        .await
        .map_err(QueryError::from_datafusion)?;
    let mut stream = datafusion::physical_plan::execute_stream(Arc::clone(&physical), task_ctx)
        .map_err(QueryError::from_datafusion)?;
    if let (Some(s), Some(before)) = (scheduler, executors_before) {
        let mut job = JobStream::new(stream, physical, Arc::clone(s));
        // The first batch comes once the Ballista job has finished. Ballista 55 re-runs the
        // work of an executor that died, and in our fault tests the re-run sometimes counted
        // rows twice: a result computed while the cluster lost an executor is not trusted.
        let first = futures::StreamExt::next(&mut job).await;
        if let Ok(after) = s.executors().await
            && after < before
        {
            return Err(QueryError::Unavailable(format!(
                "{} of the {before} executors of the Ballista cluster at {} stopped while the \
                 query ran; its result was discarded (work re-run after an executor is lost \
                 can be counted twice in Ballista 55): run the query again",
                before - after,
                s.url()
            )));
        }
        let schema = datafusion::execution::RecordBatchStream::schema(&job);
        stream = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::StreamExt::chain(futures::stream::iter(first), job),
        ));
    }
    let schema = stream.schema();
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnMeta::from_field(f))
        .collect();
    Ok(QueryResult {
        schema,
        columns,
        stream,
    })
}

async fn execute_in(
    ctx: &SessionContext,
    adql: &str,
    limit: Option<u64>,
    scheduler: Option<&Arc<Scheduler>>,
) -> Result<QueryResult, QueryError> {
    let mut plan = plan_in(ctx, adql).await?;
    if let Some(n) = limit {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        plan = LogicalPlanBuilder::from(plan)
            .limit(0, Some(n))
            .and_then(LogicalPlanBuilder::build)
            .map_err(|e| QueryError::Internal(e.to_string()))?;
    }
    start(ctx, plan, scheduler).await
}

/// What the Parquet scans of an executed plan read, from DataFusion's scan metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanMetrics {
    /// Row groups whose statistics could match.
    pub row_groups_matched: usize,
    /// Row groups skipped by their statistics.
    pub row_groups_pruned: usize,
    /// Rows left to decode after the page index pruned pages of the matched row groups.
    pub rows_after_page_index: usize,
    /// Rows of the matched row groups skipped by the page index.
    pub rows_pruned_by_page_index: usize,
    /// Bytes read from storage.
    pub bytes_scanned: usize,
}

/// Sums the scan metrics of every node of an executed plan.
pub fn scan_metrics(plan: &Arc<dyn ExecutionPlan>) -> ScanMetrics {
    let mut out = ScanMetrics::default();
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(metrics) = node.metrics() {
            for m in metrics.iter() {
                match m.value() {
                    MetricValue::PruningMetrics {
                        name,
                        pruning_metrics,
                    } => match name.as_ref() {
                        "row_groups_pruned_statistics" => {
                            out.row_groups_matched += pruning_metrics.matched();
                            out.row_groups_pruned += pruning_metrics.pruned();
                        }
                        "page_index_rows_pruned" => {
                            out.rows_after_page_index += pruning_metrics.matched();
                            out.rows_pruned_by_page_index += pruning_metrics.pruned();
                        }
                        _ => {}
                    },
                    MetricValue::Count { name, count } if name == "bytes_scanned" => {
                        out.bytes_scanned += count.value();
                    }
                    _ => {}
                }
            }
        }
        stack.extend(node.children().into_iter().cloned());
    }
    out
}

/// Gives every output column a unique name that is a valid ADQL identifier (TAP 1.1 §3.2):
/// select-list names and aliases are kept; expressions such as `count(*)` become `count`,
/// anything else `col_N`; duplicates get a numeric suffix.
fn tap_names(plan: LogicalPlan) -> datafusion::error::Result<LogicalPlan> {
    let mut used = HashSet::new();
    let mut exprs = Vec::new();
    let mut changed = false;
    for (i, (qualifier, field)) in plan.schema().iter().enumerate() {
        let name = field.name();
        let mut wanted = tap_name(name, i);
        if used.contains(&wanted) {
            let base = wanted.clone();
            let mut k = 2;
            while used.contains(&wanted) {
                wanted = format!("{base}_{k}");
                k += 1;
            }
        }
        used.insert(wanted.clone());
        let mut col = Expr::Column(Column::new(qualifier.cloned(), name));
        // `SELECT NULL`: an untyped column has no VOTable type; serve it as char.
        let untyped = field.data_type() == &DataType::Null;
        if untyped {
            col = cast(col, DataType::Utf8);
        }
        if &wanted == name && !untyped {
            exprs.push(col);
        } else {
            changed = true;
            exprs.push(col.alias(wanted));
        }
    }
    if !changed {
        return Ok(plan);
    }
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn tap_name(name: &str, index: usize) -> String {
    if is_identifier(name) {
        return name.to_string();
    }
    let prefix: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !prefix.is_empty()
        && name[prefix.len()..].starts_with('(')
        && is_identifier(&prefix)
        // DataFusion names literals after their type (`Int64(1)`): not a function.
        && !prefix.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return prefix.to_ascii_lowercase();
    }
    format!("col_{}", index + 1)
}

#[cfg(test)]
mod tests {
    use super::{Engine, QueryError, tap_name};

    #[test]
    fn a_panic_on_an_executor_is_a_bug_with_its_message() {
        let ballista = "Job 038 failed: Job failed due to stage 2 failed: Task failed due to \
             runtime execution error: DataFusionError(Shared(Execution(\"shuffle-write drain \
             task panicked: task 205 panicked with message \\\"f: failpoint reached\\\"\")))";
        let e = datafusion::common::DataFusionError::Execution(ballista.to_string());
        assert!(
            matches!(QueryError::from_datafusion(e), QueryError::Bug(m) if m == "f: failpoint reached")
        );
    }

    #[tokio::test]
    async fn a_panic_while_streaming_is_a_bug_and_ends_the_stream() {
        use datafusion::arrow::datatypes::Schema;
        use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
        use futures::StreamExt;
        let schema = std::sync::Arc::new(Schema::empty());
        let panicking = futures::stream::poll_fn(|_| -> std::task::Poll<Option<_>> {
            panic!("boom in an operator")
        });
        let mut stream = super::CatchPanics {
            inner: Some(Box::pin(RecordBatchStreamAdapter::new(
                std::sync::Arc::clone(&schema),
                panicking,
            ))),
            schema,
        };
        let e = stream.next().await.expect("an item").expect_err("an error");
        assert!(
            matches!(QueryError::from_datafusion(e), QueryError::Bug(m) if m == "boom in an operator")
        );
        assert!(
            stream.next().await.is_none(),
            "the stream ends after the panic"
        );
    }

    fn empty_engine() -> Engine {
        Engine::new(parallax_catalog::Catalog::default()).expect("engine")
    }

    #[test]
    fn the_session_cannot_reach_files() {
        let e = empty_engine();
        let state = e.context().state();
        let functions: Vec<&String> = state.table_functions().keys().collect();
        assert_eq!(functions, vec!["crossmatch_pairs"]);
        assert!(state.table_factories().is_empty());
    }

    #[tokio::test]
    async fn sql_is_one_read_only_query() {
        let e = empty_engine();
        assert!(e.plan_sql("SELECT 1 AS a").await.is_ok());
        for q in [
            "CREATE TABLE t AS SELECT 1",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "SET datafusion.execution.batch_size = 1",
            "EXPLAIN SELECT 1",
            "SELECT 1; SELECT 2",
            "SELECT * FROM generate_series(1, 3)",
            "SELECT * FROM '/etc/passwd'",
        ] {
            let err = e.plan_sql(q).await.expect_err(q);
            assert!(matches!(err, QueryError::Sql(_)), "{q}: {err:?}");
            assert!(err.is_user_error(), "{q}");
        }
    }

    #[tokio::test]
    async fn sql_parameters_are_numbered_checked_and_bound() {
        use datafusion::common::ScalarValue;
        let e = empty_engine();
        let q = "SELECT CAST(? AS BIGINT) + 1 AS a, '?' AS \"?\" WHERE ? > 2 -- ?";
        assert_eq!(e.sql_parameters(q).await.unwrap().len(), 2);
        let mixed = e
            .sql_parameters("SELECT $1 AS a WHERE ? > 1")
            .await
            .unwrap_err();
        assert!(mixed.to_string().contains("not both"), "{mixed}");
        let plan = e
            .plan_sql_with(
                q,
                &[ScalarValue::Int64(Some(4)), ScalarValue::Int64(Some(3))],
            )
            .await
            .unwrap();
        let batches = e.execute_plan(plan).await.unwrap().stream;
        let b: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(batches)
            .await
            .unwrap();
        assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        for bad in [
            vec![ScalarValue::Int64(Some(1))],
            vec![
                ScalarValue::Int64(Some(1)),
                ScalarValue::Int64(Some(1)),
                ScalarValue::Int64(Some(1)),
            ],
        ] {
            let err = e.plan_sql_with(q, &bad).await.unwrap_err();
            assert!(err.to_string().contains("2 parameter(s)"), "{err}");
        }
        let typed = "SELECT 1 AS a WHERE CAST(1 AS BIGINT) = $1";
        let err = e
            .plan_sql_with(typed, &[ScalarValue::Utf8(Some("x".into()))])
            .await
            .unwrap_err();
        assert!(
            matches!(err, QueryError::Sql(_)) && err.to_string().contains("$1"),
            "{err}"
        );
    }

    #[test]
    fn sources_that_do_not_answer_are_unavailable() {
        use datafusion::common::DataFusionError;
        use std::io::{Error, ErrorKind};
        for kind in [ErrorKind::NotConnected, ErrorKind::TimedOut] {
            let io = Error::new(
                kind,
                "remote source 'pg' (postgres) is unavailable: refused",
            );
            let wrapped =
                DataFusionError::Context("scan".into(), Box::new(DataFusionError::IoError(io)));
            let q = QueryError::from_datafusion(wrapped);
            assert_eq!(
                q.to_string(),
                "remote source 'pg' (postgres) is unavailable: refused"
            );
            assert!(matches!(q, QueryError::Unavailable(_)) && !q.is_user_error());
            let status = crate::tap::ServiceError::Query(q).status();
            assert_eq!(status.as_u16(), 503);
        }
        // Other I/O errors are not about sources.
        let other = DataFusionError::IoError(Error::new(ErrorKind::NotFound, "no file"));
        assert!(matches!(
            QueryError::from_datafusion(other),
            QueryError::Internal(_)
        ));
    }

    #[test]
    fn names() {
        assert_eq!(tap_name("ra", 0), "ra");
        assert_eq!(tap_name("count(*)", 0), "count");
        assert_eq!(tap_name("avg(gaiadr3.gaia_source.parallax)", 0), "avg");
        assert_eq!(tap_name("gaiadr3.gaia_source.ra + Int64(1)", 2), "col_3");
        assert_eq!(tap_name("Int64(1)", 0), "col_1");
    }
}
