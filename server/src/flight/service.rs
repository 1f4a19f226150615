//! The `FlightSqlService` implementation over [`Engine`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::metadata::{XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo,
    CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery, CommandStatementQuery,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::sql::{Any, Command};
use arrow_flight::sql::{
    CommandGetCrossReference, CommandGetXdbcTypeInfo, Nullable, Searchable, XdbcDataType,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::LogicalPlan;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::Streaming;
use tonic::transport::Identity;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::keys::{self, FOREIGN_KEYS_SCHEMA, PRIMARY_KEYS_SCHEMA, Side};
use super::{CATALOG_NAME, FlightSqlError, LANG_HEADER, Statement, caller, parse_lang};
use crate::auth::{AuthMode, AuthSettings};
use crate::config::Limits;
use crate::engine::{Engine, Lang, QueryError};
use crate::ops::{
    Failure, Ops, Outcome, Payload, QUERY_ID_HEADER, RecordedStream, Recorder, Route,
};
use crate::uws::arrow_result::{self, ArrowResultError};
use crate::uws::{JobError, Jobs, Phase, ResultInfo};

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;
type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// The first element of the path descriptor that names an async job's result.
pub const JOB_PATH: &str = "parallax-job";

/// The `Any` type URL of job-result tickets (the value is the job id).
const JOB_TICKET: &str = "parallax-job/1";

/// The Flight SQL service: statement queries (ADQL or SQL), prepared statements (SQL ones
/// with parameters), the catalogue metadata commands and async job results.
///
/// Statement executions are counted in the service's metrics under the route `flight`: once
/// when a DoGet stream ends, or once when the call that planned, prepared or bound the
/// statement fails. Each such call has its own query id.
#[derive(Clone)]
pub struct FlightSqlServer {
    engine: Arc<Engine>,
    limits: Limits,
    ops: Arc<Ops>,
    auth: AuthSettings,
    jobs: Option<Arc<Jobs>>,
    tls: Option<Identity>,
}

impl FlightSqlServer {
    /// A service over `engine`, with the TAP service's query-size limit, its metrics and
    /// query ids (`ops`), anonymous access and no jobs.
    pub fn new(engine: Arc<Engine>, limits: Limits, ops: Arc<Ops>) -> Self {
        Self {
            engine,
            limits,
            ops,
            auth: AuthSettings::default(),
            jobs: None,
            tls: None,
        }
    }

    /// Checks callers against these accounts (the TAP service's).
    pub fn with_auth(mut self, auth: AuthSettings) -> Self {
        self.auth = auth;
        self
    }

    /// Serves the results of these async jobs.
    pub fn with_jobs(mut self, jobs: Arc<Jobs>) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// Speaks TLS with this certificate and key.
    pub fn with_tls(mut self, identity: Identity) -> Self {
        self.tls = Some(identity);
        self
    }

    pub(crate) fn auth(&self) -> &AuthSettings {
        &self.auth
    }

    pub(crate) fn tls(&self) -> Option<&Identity> {
        self.tls.as_ref()
    }

    /// Job `id`'s result for `owner`: checks ownership and phase.
    async fn job_result(
        &self,
        id: &str,
        owner: Option<&str>,
    ) -> Result<(Arc<Jobs>, ResultInfo), FlightSqlError> {
        let jobs = self
            .jobs
            .clone()
            .ok_or_else(|| FlightSqlError::Unsupported("this server runs no async jobs".into()))?;
        if !crate::uws::valid_id(id) {
            return Err(FlightSqlError::BadRequest(format!(
                "'{id}' is not a job id"
            )));
        }
        let job = jobs.get(id, owner).map_err(|e| match e {
            JobError::NotFound(_) => FlightSqlError::NotFound(format!(
                "no job '{id}' (a job is visible to its owner only)"
            )),
            other => FlightSqlError::Internal(other.to_string()),
        })?;
        match (job.phase, job.result) {
            (Phase::Completed, Some(info)) => Ok((jobs, info)),
            (phase, _) => Err(FlightSqlError::NotReady(format!(
                "job {id} is {phase}; only a COMPLETED job has a result"
            ))),
        }
    }

    /// The statement a request asks for: its text, in the language of its header.
    fn statement<T>(
        &self,
        request: &Request<T>,
        text: String,
    ) -> Result<Statement, FlightSqlError> {
        let lang =
            match request.metadata().get(LANG_HEADER) {
                None => Lang::Adql,
                Some(v) => parse_lang(v.to_str().map_err(|_| {
                    FlightSqlError::BadRequest(format!("{LANG_HEADER}: not ASCII"))
                })?)?,
            };
        if text.len() > self.limits.max_query_bytes {
            return Err(FlightSqlError::TooLong {
                size: text.len(),
                limit: self.limits.max_query_bytes,
            });
        }
        if text.trim().is_empty() {
            return Err(FlightSqlError::BadRequest("the query is empty".into()));
        }
        Ok(Statement {
            lang,
            text,
            params: None,
        })
    }

    /// Plans a statement with its bound parameters (checking it).
    async fn plan(&self, s: &Statement) -> Result<LogicalPlan, FlightSqlError> {
        Ok(match s.lang {
            Lang::Adql => self.engine.plan(&s.text).await?,
            Lang::Sql => self.engine.plan_sql_with(&s.text, &s.values()?).await?,
        })
    }

    /// Plans a statement (checking it) and returns its output schema.
    async fn schema_of(&self, s: &Statement) -> Result<Schema, FlightSqlError> {
        Ok(self.plan(s).await?.schema().as_arrow().clone())
    }

    /// Starts a call that plans or runs a statement: a new query id and its span.
    fn call<T>(&self, method: &'static str, request: &Request<T>) -> Call {
        let query_id = self.ops.query_id();
        let span = tracing::info_span!(
            "flight",
            method,
            query_id = %query_id,
            user = ?caller(request),
        );
        Call {
            ops: self.ops.clone(),
            query_id,
            started: Instant::now(),
            span,
        }
    }

    /// Runs a statement and encodes its batches as they come, accounted by `call` until the
    /// stream ends. At most `limits.maxrec_hard` rows are sent; a longer result ends with
    /// `ResourceExhausted` after them.
    async fn stream(&self, s: &Statement, call: &Call) -> Result<DoGetStream, FlightSqlError> {
        tracing::info!(lang = ?s.lang, query = %s.text, "query started");
        let result = match s.lang {
            Lang::Adql => self.engine.execute_lang(s.lang, &s.text).await?,
            Lang::Sql => self.engine.execute_plan(self.plan(s).await?).await?,
        };
        let limit = self.limits.maxrec_hard;
        let recorder = Recorder::start(
            self.ops.metrics.clone(),
            Route::Flight,
            call.started,
            None,
            limit,
        );
        let rows = recorder.rows.clone();
        let batches = result.stream.map_err(|e| {
            let status: Status = FlightSqlError::Query(QueryError::from_datafusion(e)).into();
            FlightError::Tonic(Box::new(status))
        });
        let batches = capped(batches, limit).inspect_ok(move |b| {
            rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        });
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(result.schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(RecordedStream::new(flight, recorder)))
    }

    /// Answers a DoGet of a statement: runs it, with the query id in the response metadata.
    async fn run(
        &self,
        call: Call,
        statement: Result<Statement, FlightSqlError>,
    ) -> Result<Response<DoGetStream>, Status> {
        let stream = async { self.stream(&statement?, &call).await }
            .instrument(call.span.clone())
            .await;
        match stream {
            Ok(stream) => Ok(call.respond(stream)),
            Err(e) => Err(call.failed(e.into())),
        }
    }

    fn sql_info() -> Result<SqlInfoData, FlightSqlError> {
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "Parallax");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
        b.append(SqlInfo::FlightSqlServerReadOnly, true);
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        b.append(SqlInfo::SqlDdlCatalog, false);
        b.append(SqlInfo::SqlDdlSchema, false);
        b.append(SqlInfo::SqlDdlTable, false);
        b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        b.append(SqlInfo::SqlSupportsColumnAliasing, true);
        b.build()
            .map_err(|e| FlightSqlError::Internal(format!("sql info: {e}")))
    }
}

/// One call that plans or runs a statement: its query id, start time and log span.
struct Call {
    ops: Arc<Ops>,
    query_id: String,
    started: Instant,
    span: tracing::Span,
}

impl Call {
    /// The query id as gRPC metadata.
    fn query_id_value(&self) -> Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
        tonic::metadata::MetadataValue::try_from(self.query_id.as_str()).ok()
    }

    /// A successful response, carrying the query id.
    fn respond<T>(&self, body: T) -> Response<T> {
        let mut resp = Response::new(body);
        if let Some(v) = self.query_id_value() {
            resp.metadata_mut().insert(QUERY_ID_HEADER, v);
        }
        resp
    }

    /// Counts the statement as a failed query and returns `status` with the query id.
    fn failed(&self, mut status: Status) -> Status {
        let outcome = status.outcome();
        self.ops
            .metrics
            .query(Route::Flight, outcome, self.started.elapsed());
        self.span.in_scope(|| {
            tracing::info!(code = ?status.code(), outcome = ?outcome, "query failed");
        });
        if let Some(v) = self.query_id_value() {
            status.metadata_mut().insert(QUERY_ID_HEADER, v);
        }
        status
    }
}

impl Payload for FlightData {
    fn wire_bytes(&self) -> u64 {
        (self.data_header.len() + self.data_body.len() + self.app_metadata.len()) as u64
    }
}

impl Failure for Status {
    fn outcome(&self) -> Outcome {
        use tonic::Code;
        match self.code() {
            Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::Unimplemented
            | Code::Unauthenticated
            | Code::PermissionDenied
            | Code::OutOfRange
            | Code::AlreadyExists => Outcome::UserError,
            Code::ResourceExhausted | Code::DeadlineExceeded => Outcome::ResourceError,
            Code::Cancelled => Outcome::Cancelled,
            _ => Outcome::InternalError,
        }
    }
}

/// Passes at most `limit` rows, then ends with `ResourceExhausted` if more come (dropping
/// the input, which stops the query).
fn capped(
    input: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
    limit: u64,
) -> impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static {
    let input = Box::pin(input);
    futures::stream::unfold(Some((input, 0u64)), move |state| async move {
        let (mut input, sent) = state?;
        match input.next().await? {
            Ok(batch) => {
                let n = batch.num_rows() as u64;
                if sent + n <= limit {
                    return Some((Ok(batch), Some((input, sent + n))));
                }
                let left = usize::try_from(limit - sent).unwrap_or(usize::MAX);
                if left > 0 {
                    // Send what fits; the next poll reports the overflow.
                    return Some((Ok(batch.slice(0, left)), Some((input, limit))));
                }
                let status = Status::resource_exhausted(format!(
                    "the result has more than {limit} rows (limits.maxrec_hard); the first \
                     {limit} were sent: narrow the query or add TOP/LIMIT"
                ));
                Some((Err(FlightError::Tonic(Box::new(status))), None))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// The SQL types served, for GetXdbcTypeInfo.
fn xdbc_types() -> Result<XdbcTypeInfoData, FlightSqlError> {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let types = [
        ("BOOLEAN", XdbcDataType::XdbcBit, None, false),
        ("SMALLINT", XdbcDataType::XdbcSmallint, Some(5), false),
        ("INTEGER", XdbcDataType::XdbcInteger, Some(10), false),
        ("BIGINT", XdbcDataType::XdbcBigint, Some(19), false),
        ("REAL", XdbcDataType::XdbcReal, Some(24), false),
        ("DOUBLE", XdbcDataType::XdbcDouble, Some(53), false),
        ("VARCHAR", XdbcDataType::XdbcVarchar, None, true),
        ("TIMESTAMP", XdbcDataType::XdbcTimestamp, None, false),
    ];
    for (name, ty, size, text) in types {
        b.append(XdbcTypeInfo {
            type_name: name.into(),
            data_type: ty,
            column_size: size,
            literal_prefix: text.then(|| "'".to_string()),
            literal_suffix: text.then(|| "'".to_string()),
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: text,
            searchable: Searchable::Full,
            unsigned_attribute: (!text && size.is_some()).then_some(false),
            fixed_prec_scale: false,
            auto_increment: None,
            local_type_name: Some(name.into()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: ty,
            datetime_subcode: None,
            num_prec_radix: size.map(|_| {
                if matches!(name, "REAL" | "DOUBLE") {
                    2
                } else {
                    10
                }
            }),
            interval_precision: None,
        });
    }
    b.build()
        .map_err(|e| FlightSqlError::Internal(format!("xdbc type info: {e}")))
}

/// A FlightInfo with one endpoint whose ticket is `ticket`.
fn flight_info(
    schema: &Schema,
    ticket: bytes::Bytes,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| FlightSqlError::Internal(format!("encoding a schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket { ticket }))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

/// One metadata batch as a DoGet stream.
fn one_batch<E: Into<FlightError> + Send + 'static>(
    schema: SchemaRef,
    batch: Result<RecordBatch, E>,
) -> DoGetStream {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(
            async move { batch.map_err(Into::into) },
        ))
        .map_err(Status::from);
    Box::pin(stream)
}

fn arrow_result_error(e: ArrowResultError) -> FlightSqlError {
    match e {
        ArrowResultError::NotArrow { .. } => FlightSqlError::NotReady(e.to_string()),
        other => FlightSqlError::Internal(other.to_string()),
    }
}

/// The job id a `["parallax-job", ID]` path descriptor names (the id may be the job URL).
fn job_descriptor(d: &FlightDescriptor) -> Option<String> {
    if d.r#type != DescriptorType::Path as i32 {
        return None;
    }
    match d.path.as_slice() {
        [head, id] if head == JOB_PATH => {
            let id = id.trim_end_matches('/');
            let id = id.strip_suffix("/results/result").unwrap_or(id);
            Some(id.rsplit('/').next().unwrap_or(id).to_string())
        }
        _ => None,
    }
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, FlightSqlError> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| FlightSqlError::Internal(format!("encoding a schema: {e}")))?;
    Ok(bytes)
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlServer {
    type FlightService = FlightSqlServer;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let call = self.call("GetFlightInfo", &request);
        async {
            let statement = self.statement(&request, query.query)?;
            tracing::debug!(lang = ?statement.lang, query = %statement.text, "planning");
            let schema = self.schema_of(&statement).await?;
            let ticket = TicketStatementQuery {
                statement_handle: statement.encode(),
            };
            flight_info(
                &schema,
                ticket.as_any().encode_to_vec().into(),
                request.into_inner(),
            )
        }
        .instrument(call.span.clone())
        .await
        .map_err(|e| call.failed(e))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let call = self.call("DoGet", &request);
        let statement = Statement::decode(&ticket.statement_handle, "ticket");
        self.run(call, statement).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let call = self.call("GetFlightInfo", &request);
        async {
            let statement =
                Statement::decode(&cmd.prepared_statement_handle, "prepared statement handle")?;
            let schema = self.schema_of(&statement).await?;
            flight_info(
                &schema,
                cmd.as_any().encode_to_vec().into(),
                request.into_inner(),
            )
        }
        .instrument(call.span.clone())
        .await
        .map_err(|e| call.failed(e))
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let call = self.call("DoGet", &request);
        let statement =
            Statement::decode(&cmd.prepared_statement_handle, "prepared statement handle");
        self.run(call, statement).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let call = self.call("CreatePreparedStatement", &request);
        async {
            let statement = self.statement(&request, query.query)?;
            // The dataset schema of a SQL statement with parameters is known before binding.
            let plan = match statement.lang {
                Lang::Adql => self.engine.plan(&statement.text).await,
                Lang::Sql => self.engine.plan_sql(&statement.text).await,
            }
            .map_err(FlightSqlError::from)?;
            let parameters = match statement.lang {
                Lang::Adql => Schema::empty(),
                Lang::Sql => Schema::new(
                    self.engine
                        .sql_parameters(&statement.text)
                        .await
                        .map_err(FlightSqlError::from)?
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| Field::new(format!("${}", i + 1), t, true))
                        .collect::<Vec<_>>(),
                ),
            };
            Ok::<_, Status>(ActionCreatePreparedStatementResult {
                prepared_statement_handle: statement.encode(),
                dataset_schema: ipc_schema(plan.schema().as_arrow())?,
                parameter_schema: ipc_schema(&parameters)?,
            })
        }
        .instrument(call.span.clone())
        .await
        .map_err(|e| call.failed(e))
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        // Handles are self-contained: nothing to free, but refuse foreign ones.
        Statement::decode(
            &query.prepared_statement_handle,
            "prepared statement handle",
        )?;
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let call = self.call("DoPut", &request);
        async {
            let mut statement = Statement::decode(
                &query.prepared_statement_handle,
                "prepared statement handle",
            )?;
            if statement.lang == Lang::Adql {
                return Err(FlightSqlError::BadRequest(
                    "ADQL statements take no parameters (ADQL has no placeholders); prepare the \
                     statement as SQL (x-parallax-lang: sql) with $1, $2, ... or ?"
                        .into(),
                )
                .into());
            }
            let data = request
                .into_inner()
                .map_err(|s| FlightError::Tonic(Box::new(s)));
            let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(data)
                .try_collect()
                .await
                .map_err(|e| match e {
                    FlightError::Tonic(s) => *s,
                    other => FlightSqlError::BadRequest(format!("parameters: {other}")).into(),
                })?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let Some(row) = batches
                .iter()
                .find(|b| b.num_rows() > 0)
                .filter(|_| rows == 1)
            else {
                return Err(FlightSqlError::BadRequest(format!(
                    "bind exactly one row of parameter values, not {rows}"
                ))
                .into());
            };
            statement.params = Some(super::encode_params(row)?);
            // Check count and types now, so that a bad binding fails here.
            self.plan(&statement).await?;
            Ok::<_, Status>(DoPutPreparedStatementResult {
                prepared_statement_handle: Some(statement.encode()),
            })
        }
        .instrument(call.span.clone())
        .await
        .map_err(|e| call.failed(e))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let data = xdbc_types()?;
        let schema = query.into_builder(&data).schema();
        flight_info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let data = xdbc_types()?;
        let builder = query.into_builder(&data);
        let schema = builder.schema();
        Ok(Response::new(one_batch(schema, builder.build())))
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        flight_info(
            &FOREIGN_KEYS_SCHEMA,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_cross_reference(
        &self,
        query: CommandGetCrossReference,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let batch = keys::cross_reference(self.engine.catalog(), &query);
        Ok(Response::new(one_batch(FOREIGN_KEYS_SCHEMA.clone(), batch)))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        flight_info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(CATALOG_NAME);
        let schema = builder.schema();
        Ok(Response::new(one_batch(schema, builder.build())))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        flight_info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for s in &self.engine.catalog().schemas {
            builder.append(CATALOG_NAME, &s.name);
        }
        let schema = builder.schema();
        Ok(Response::new(one_batch(schema, builder.build())))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        flight_info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for t in self.engine.catalog().tables() {
            builder
                .append(
                    CATALOG_NAME,
                    &t.schema,
                    &t.name,
                    t.table_type.to_ascii_uppercase(),
                    t.arrow_schema.as_ref(),
                )
                .map_err(|e| FlightSqlError::Internal(format!("table {}: {e}", t.name)))?;
        }
        let schema = builder.schema();
        Ok(Response::new(one_batch(schema, builder.build())))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        flight_info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append("TABLE");
        builder.append("VIEW");
        let schema = builder.schema();
        Ok(Response::new(one_batch(schema, builder.build())))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = Self::sql_info()?;
        let schema = query.clone().into_builder(&info).schema();
        flight_info(
            &schema,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let info = Self::sql_info()?;
        let builder = query.into_builder(&info);
        let schema = builder.schema();
        Ok(Response::new(one_batch(schema, builder.build())))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        flight_info(
            &PRIMARY_KEYS_SCHEMA,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Ok(Response::new(one_batch::<FlightError>(
            PRIMARY_KEYS_SCHEMA.clone(),
            Ok(keys::primary_keys()),
        )))
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        flight_info(
            &FOREIGN_KEYS_SCHEMA,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let batch = keys::foreign_keys(
            self.engine.catalog(),
            Side::Imported,
            query.catalog.as_deref(),
            query.db_schema.as_deref(),
            &query.table,
        );
        Ok(Response::new(one_batch(FOREIGN_KEYS_SCHEMA.clone(), batch)))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        flight_info(
            &FOREIGN_KEYS_SCHEMA,
            query.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let batch = keys::foreign_keys(
            self.engine.catalog(),
            Side::Exported,
            query.catalog.as_deref(),
            query.db_schema.as_deref(),
            &query.table,
        );
        Ok(Response::new(one_batch(FOREIGN_KEYS_SCHEMA.clone(), batch)))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let Some(user) = caller(&request) else {
            if self.auth.mode == AuthMode::None {
                // Anonymous service: nothing to exchange.
                let out: HandshakeStream =
                    Box::pin(futures::stream::iter(vec![Ok(HandshakeResponse {
                        protocol_version: 0,
                        payload: bytes::Bytes::new(),
                    })]));
                return Ok(Response::new(out));
            }
            return Err(Status::unauthenticated(
                "the handshake needs credentials: authorization: Basic base64(user:password) \
                 or Bearer TOKEN",
            ));
        };
        let token = self.auth.issue_session_token(&user);
        tracing::info!(%user, "Flight SQL handshake");
        let header = tonic::metadata::MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| FlightSqlError::Internal(format!("session token header: {e}")))?;
        let out: HandshakeStream = Box::pin(futures::stream::iter(vec![Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.into(),
        })]));
        let mut resp = Response::new(out);
        resp.metadata_mut().insert("authorization", header);
        Ok(resp)
    }

    async fn get_flight_info_fallback(
        &self,
        cmd: Command,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let Some(id) = job_descriptor(request.get_ref()) else {
            return Err(FlightSqlError::BadRequest(format!(
                "unknown command '{}': this service answers Flight SQL statement, prepared \
                 statement and catalogue commands, and [\"{JOB_PATH}\", JOB_ID] path descriptors",
                cmd.type_url()
            ))
            .into());
        };
        let owner = caller(&request);
        let (jobs, info) = self.job_result(&id, owner.as_deref()).await?;
        let schema = arrow_result::schema(&id, jobs.result_path(&id), &info.content_type)
            .await
            .map_err(arrow_result_error)?;
        let ticket = Any {
            type_url: JOB_TICKET.into(),
            value: id.clone().into(),
        };
        flight_info(&schema, ticket.encode_to_vec().into(), request.into_inner())
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        if message.type_url != JOB_TICKET {
            return Err(FlightSqlError::Malformed {
                what: "ticket",
                reason: format!("unknown ticket type '{}'", message.type_url),
            }
            .into());
        }
        let id = std::str::from_utf8(&message.value).map_err(|_| FlightSqlError::Malformed {
            what: "ticket",
            reason: "the job id is not UTF-8".into(),
        })?;
        // Tickets are not secrets: ownership is checked again here.
        let owner = caller(&request);
        let span = tracing::info_span!("flight", method = "DoGet", job = %id);
        let (jobs, info) = self
            .job_result(id, owner.as_deref())
            .instrument(span.clone())
            .await?;
        let (schema, batches) = arrow_result::open(id, jobs.result_path(id), &info.content_type)
            .instrument(span)
            .await
            .map_err(arrow_result_error)?;
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches.map_err(FlightError::Arrow))
            .map_err(Status::from);
        Ok(Response::new(Box::pin(flight)))
    }
}
