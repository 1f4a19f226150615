//! The `FlightSqlService` implementation over [`Engine`].

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo,
    CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery, CommandStatementQuery,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::arrow::record_batch::RecordBatch;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::keys::{self, FOREIGN_KEYS_SCHEMA, PRIMARY_KEYS_SCHEMA, Side};
use super::{CATALOG_NAME, FlightSqlError, LANG_HEADER, Statement, parse_lang};
use crate::config::Limits;
use crate::engine::{Engine, Lang, QueryError};

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

/// The Flight SQL service: statement queries (ADQL or SQL), prepared statements without
/// parameters, and the catalogue metadata commands.
#[derive(Clone)]
pub struct FlightSqlServer {
    engine: Arc<Engine>,
    limits: Limits,
}

impl FlightSqlServer {
    /// A service over `engine`, with the TAP service's query-size limit.
    pub fn new(engine: Arc<Engine>, limits: Limits) -> Self {
        Self { engine, limits }
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
        Ok(Statement { lang, text })
    }

    /// Plans a statement (checking it) and returns its output schema.
    async fn schema_of(&self, s: &Statement) -> Result<Schema, FlightSqlError> {
        let plan = match s.lang {
            Lang::Adql => self.engine.plan(&s.text).await?,
            Lang::Sql => self.engine.plan_sql(&s.text).await?,
        };
        Ok(plan.schema().as_arrow().clone())
    }

    /// Runs a statement and encodes its batches as they come.
    async fn stream(&self, s: &Statement) -> Result<DoGetStream, FlightSqlError> {
        let result = self.engine.execute_lang(s.lang, &s.text).await?;
        let batches = result.stream.map_err(|e| {
            let status: Status = FlightSqlError::Query(QueryError::from_datafusion(e)).into();
            FlightError::Tonic(Box::new(status))
        });
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(result.schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(flight))
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
        let statement = self.statement(&request, query.query)?;
        let span = tracing::info_span!("flight", method = "GetFlightInfo", lang = ?statement.lang);
        async {
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
        .instrument(span)
        .await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let statement = Statement::decode(&ticket.statement_handle, "ticket")?;
        let span = tracing::info_span!("flight", method = "DoGet", lang = ?statement.lang);
        let stream = self.stream(&statement).instrument(span).await?;
        Ok(Response::new(stream))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let statement =
            Statement::decode(&cmd.prepared_statement_handle, "prepared statement handle")?;
        let schema = self.schema_of(&statement).await?;
        flight_info(
            &schema,
            cmd.as_any().encode_to_vec().into(),
            request.into_inner(),
        )
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let statement =
            Statement::decode(&cmd.prepared_statement_handle, "prepared statement handle")?;
        let span = tracing::info_span!("flight", method = "DoGet", lang = ?statement.lang);
        let stream = self.stream(&statement).instrument(span).await?;
        Ok(Response::new(stream))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let statement = self.statement(&request, query.query)?;
        let schema = self.schema_of(&statement).await?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: statement.encode(),
            dataset_schema: ipc_schema(&schema)?,
            parameter_schema: ipc_schema(&Schema::empty())?,
        })
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
        _query: CommandPreparedStatementQuery,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        Err(FlightSqlError::Unsupported(
            "prepared statements take no parameters here; put the values in the query".into(),
        )
        .into())
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
}
