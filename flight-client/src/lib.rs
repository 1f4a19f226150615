//! `parallax-flight-client`: a small client for the Parallax Arrow Flight SQL service
//! (Apache Arrow Flight SQL 1.x over gRPC), with no query engine inside.
//!
//! * [`Client::connect`] opens `grpc://HOST:PORT` or `grpc+tls://HOST:PORT` (system roots or
//!   a CA file), with no credentials, a bearer token, or a user name and password exchanged
//!   for a session token by the Flight `Handshake`.
//! * [`Client::query`] runs an ADQL (default) or SQL statement and returns the result schema
//!   and a stream of record batches; dropping the stream stops the query on the server.
//! * [`Client::prepare`] creates a prepared statement; [`Prepared::bind`] binds parameters
//!   (one row of values as a record batch) and [`Prepared::query`] runs it.
//! * [`Client::tables`] lists the catalogue's tables; [`Client::job_result`] fetches the
//!   result of a completed TAP async job as Arrow.
//!
//! The wire conventions (the `x-parallax-lang` header, job-result descriptors) are described
//! in the service's `docs/flight-sql.md`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt,
};
use arrow_flight::{Action, FlightDescriptor, FlightInfo, HandshakeRequest, IpcMessage, Ticket};
use arrow_schema::{Schema, SchemaRef};
use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

/// The gRPC header that selects the statement language on a Parallax server.
pub const LANG_HEADER: &str = "x-parallax-lang";

/// The first path element of a job-result descriptor (`["parallax-job", JOB_ID]`).
pub const JOB_PATH: &str = "parallax-job";

/// Largest gRPC message accepted from the server.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `grpc://HOST:PORT` or `grpc+tls://HOST:PORT`.
    #[error("bad URL '{url}': {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached (refused, unknown host, TLS handshake failed).
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why, from the transport.
        reason: String,
    },
    /// The TLS options are unusable (e.g. an unreadable CA file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server answered with an error status (bad query, not authenticated, ...).
    #[error("{}: {message}", code_name(*code))]
    Server {
        /// The gRPC status code.
        code: Code,
        /// The server's message (ADQL errors carry line, column and a caret frame).
        message: String,
    },
    /// The server's answer could not be understood.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The parameters do not fit the prepared statement.
    #[error("parameters: {0}")]
    Parameters(String),
}

fn code_name(code: Code) -> String {
    format!("{code:?}")
}

impl ClientError {
    /// The gRPC status code when the server refused the call.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<Status> for ClientError {
    fn from(s: Status) -> Self {
        ClientError::Server {
            code: s.code(),
            message: s.message().to_string(),
        }
    }
}

impl From<FlightError> for ClientError {
    fn from(e: FlightError) -> Self {
        match e {
            FlightError::Tonic(s) => (*s).into(),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// The statement language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// ADQL 2.1 (the server's default).
    #[default]
    Adql,
    /// Read-only DataFusion SQL.
    Sql,
}

/// How the client authenticates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// Anonymous.
    #[default]
    None,
    /// `authorization: Bearer TOKEN` on every call.
    Bearer(String),
    /// A Flight `Handshake` with HTTP basic credentials; the session token the server returns
    /// is sent on every later call.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// Where and how to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// `grpc://HOST:PORT` (plain) or `grpc+tls://HOST:PORT`.
    pub url: String,
    /// Credentials.
    pub credentials: Credentials,
    /// PEM CA certificate(s) to trust for `grpc+tls://` (default: the web PKI roots).
    pub tls_ca_pem: Option<Vec<u8>>,
    /// The statement language.
    pub lang: Lang,
}

/// A connected client.
#[derive(Debug, Clone)]
pub struct Client {
    inner: FlightServiceClient<Channel>,
    /// Sent on every call: `authorization`, `x-parallax-lang`.
    headers: Vec<(&'static str, String)>,
    lang: Lang,
}

/// An endpoint from a URL: `grpc://` is plain HTTP/2, `grpc+tls://` HTTP/2 over TLS.
fn endpoint(opts: &ConnectOptions) -> Result<Endpoint, ClientError> {
    let bad = |reason: &str| ClientError::BadUrl {
        url: opts.url.clone(),
        reason: reason.to_string(),
    };
    let (scheme, rest) = opts
        .url
        .split_once("://")
        .ok_or_else(|| bad("expected grpc://HOST:PORT or grpc+tls://HOST:PORT"))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "grpc" | "grpc+tcp" => false,
        "grpc+tls" => true,
        _ => {
            return Err(bad(
                "unknown scheme; use grpc://HOST:PORT or grpc+tls://HOST:PORT",
            ));
        }
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(bad("expected HOST:PORT after the scheme, and no path"));
    }
    let http = format!("{}://{authority}", if tls { "https" } else { "http" });
    let mut ep = Channel::from_shared(http).map_err(|e| bad(&e.to_string()))?;
    if tls {
        let mut config = ClientTlsConfig::new();
        config = match &opts.tls_ca_pem {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_webpki_roots(),
        };
        ep = ep
            .tls_config(config)
            .map_err(|e| ClientError::Tls(error_chain(&e)))?;
    } else if opts.tls_ca_pem.is_some() {
        return Err(bad("a CA file needs a grpc+tls:// URL"));
    }
    Ok(ep
        .connect_timeout(std::time::Duration::from_secs(10))
        .tcp_nodelay(true))
}

/// An error and its sources on one line (tonic's transport errors say little at the top).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        source = inner.source();
    }
    s
}

impl Client {
    /// Connects (and, for [`Credentials::Basic`], performs the handshake).
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ClientError> {
        let channel = endpoint(opts)?
            .connect()
            .await
            .map_err(|e| ClientError::Connect {
                url: opts.url.clone(),
                reason: error_chain(&e),
            })?;
        let inner = FlightServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let mut client = Self {
            inner,
            headers: Vec::new(),
            lang: opts.lang,
        };
        client.set_lang(opts.lang);
        match &opts.credentials {
            Credentials::None => {}
            Credentials::Bearer(token) => {
                client.set_header("authorization", format!("Bearer {token}"))
            }
            Credentials::Basic { user, password } => client.handshake(user, password).await?,
        }
        Ok(client)
    }

    /// The statement language of later calls.
    pub fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
        let value = match lang {
            Lang::Adql => "adql",
            Lang::Sql => "sql",
        };
        self.set_header(LANG_HEADER, value.to_string());
    }

    fn set_header(&mut self, name: &'static str, value: String) {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
    }

    /// `msg` with this client's headers.
    fn request<T>(&self, msg: T) -> Result<Request<T>, ClientError> {
        let mut r = Request::new(msg);
        add_headers(r.metadata_mut(), &self.headers)?;
        Ok(r)
    }

    /// Flight `Handshake` with basic credentials; keeps the bearer token the server returns.
    async fn handshake(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut req = self.request(futures::stream::iter(vec![HandshakeRequest {
            protocol_version: 0,
            payload: Bytes::new(),
        }]))?;
        req.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Basic {basic}")).map_err(|_| {
                ClientError::Parameters("the user name or password is not ASCII".into())
            })?,
        );
        let resp = self.inner.handshake(req).await?;
        let header = resp
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let payloads: Vec<_> = resp.into_inner().try_collect().await?;
        let token = match header {
            Some(h) => h
                .strip_prefix("Bearer ")
                .map(str::to_string)
                .ok_or_else(|| protocol("the handshake returned a non-bearer authorization"))?,
            None => payloads
                .first()
                .map(|p| String::from_utf8_lossy(&p.payload).to_string())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| protocol("the handshake returned no token"))?,
        };
        self.set_header("authorization", format!("Bearer {token}"));
        Ok(())
    }

    /// Runs a statement in the client's language; the schema and a stream of batches.
    pub async fn query(&mut self, text: &str) -> Result<ResultStream, ClientError> {
        let cmd = CommandStatementQuery {
            query: text.to_string(),
            transaction_id: None,
        };
        let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
        self.run(descriptor).await
    }

    /// The result of a completed TAP async job (`JOB_ID` or the job URL), as Arrow; only the
    /// job's owner may fetch it.
    pub async fn job_result(&mut self, job: &str) -> Result<ResultStream, ClientError> {
        let id = job.trim_end_matches('/');
        let id = id
            .strip_suffix("/results/result")
            .unwrap_or(id)
            .rsplit('/')
            .next()
            .unwrap_or(id);
        let descriptor = FlightDescriptor::new_path(vec![JOB_PATH.to_string(), id.to_string()]);
        self.run(descriptor).await
    }

    /// GetFlightInfo, then DoGet on every endpoint in order.
    async fn run(&mut self, descriptor: FlightDescriptor) -> Result<ResultStream, ClientError> {
        let info = self.flight_info(descriptor).await?;
        self.fetch(info)
    }

    async fn flight_info(
        &mut self,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, ClientError> {
        let req = self.request(descriptor)?;
        Ok(self.inner.get_flight_info(req).await?.into_inner())
    }

    /// Streams every endpoint of `info`, one after the other.
    pub fn fetch(&self, info: FlightInfo) -> Result<ResultStream, ClientError> {
        let schema = Arc::new(info.clone().try_decode_schema().map_err(protocol)?);
        let mut tickets = Vec::new();
        for ep in info.endpoint {
            tickets.push(
                ep.ticket
                    .ok_or_else(|| protocol("an endpoint without a ticket"))?,
            );
        }
        let client = self.clone();
        let batches = futures::stream::iter(tickets)
            .then(move |ticket| {
                let mut c = client.clone();
                async move { c.do_get(ticket).await }
            })
            .try_flatten();
        Ok(ResultStream {
            schema,
            inner: Box::pin(batches),
        })
    }

    async fn do_get(&mut self, ticket: Ticket) -> Result<BatchStream, ClientError> {
        let req = self.request(ticket)?;
        let data = self
            .inner
            .do_get(req)
            .await?
            .into_inner()
            .map_err(|s| FlightError::Tonic(Box::new(s)));
        Ok(Box::pin(
            FlightRecordBatchStream::new_from_flight_data(data).map_err(ClientError::from),
        ))
    }

    /// Creates a prepared statement in the client's language.
    pub async fn prepare(&mut self, text: &str) -> Result<Prepared, ClientError> {
        let body = ActionCreatePreparedStatementRequest {
            query: text.to_string(),
            transaction_id: None,
        }
        .as_any()
        .encode_to_vec();
        let req = self.request(Action {
            r#type: "CreatePreparedStatement".into(),
            body: body.into(),
        })?;
        let mut results = self.inner.do_action(req).await?.into_inner();
        let first = results
            .message()
            .await?
            .ok_or_else(|| protocol("CreatePreparedStatement returned nothing"))?;
        let any = Any::decode(&*first.body).map_err(protocol)?;
        let result: ActionCreatePreparedStatementResult = any
            .unpack()
            .map_err(protocol)?
            .ok_or_else(|| protocol("CreatePreparedStatement returned another message"))?;
        Ok(Prepared {
            client: self.clone(),
            handle: result.prepared_statement_handle,
            dataset_schema: Arc::new(ipc_schema(&result.dataset_schema)?),
            parameter_schema: Arc::new(ipc_schema(&result.parameter_schema)?),
        })
    }

    /// The catalogue's tables whose schema and name match the SQL `LIKE` patterns.
    pub async fn tables(
        &mut self,
        schema_pattern: Option<&str>,
        table_pattern: Option<&str>,
    ) -> Result<Vec<TableRef>, ClientError> {
        let cmd = CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: schema_pattern.map(str::to_string),
            table_name_filter_pattern: table_pattern.map(str::to_string),
            table_types: vec![],
            include_schema: false,
        };
        let stream = self
            .run(FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec()))
            .await?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let mut out = Vec::new();
        for b in &batches {
            let col = |name: &str| {
                b.column_by_name(name)
                    .and_then(|c| c.as_string_opt::<i32>().cloned())
                    .ok_or_else(|| protocol(format!("GetTables has no text column {name}")))
            };
            let (schemas, names, types) = (
                col("db_schema_name")?,
                col("table_name")?,
                col("table_type")?,
            );
            for i in 0..b.num_rows() {
                out.push(TableRef {
                    schema: schemas.value(i).to_string(),
                    name: names.value(i).to_string(),
                    table_type: types.value(i).to_string(),
                });
            }
        }
        Ok(out)
    }
}

fn add_headers(m: &mut MetadataMap, headers: &[(&'static str, String)]) -> Result<(), ClientError> {
    for (name, value) in headers {
        let v = MetadataValue::try_from(value.as_str())
            .map_err(|_| ClientError::Parameters(format!("header {name}: not ASCII")))?;
        m.insert(*name, v);
    }
    Ok(())
}

fn ipc_schema(bytes: &Bytes) -> Result<Schema, ClientError> {
    if bytes.is_empty() {
        return Ok(Schema::empty());
    }
    Schema::try_from(IpcMessage(bytes.clone())).map_err(protocol)
}

/// A table of the remote catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Schema name (`gaiadr3`, `TAP_SCHEMA`).
    pub schema: String,
    /// Table name.
    pub name: String,
    /// `TABLE` or `VIEW`.
    pub table_type: String,
}

/// A prepared statement; closing is optional (handles hold no server state).
#[derive(Debug, Clone)]
pub struct Prepared {
    client: Client,
    handle: Bytes,
    dataset_schema: SchemaRef,
    parameter_schema: SchemaRef,
}

impl Prepared {
    /// The result schema.
    pub fn dataset_schema(&self) -> &SchemaRef {
        &self.dataset_schema
    }

    /// The parameters the statement takes (empty when it has no placeholders).
    pub fn parameter_schema(&self) -> &SchemaRef {
        &self.parameter_schema
    }

    /// Binds one row of parameter values (`$1`, `$2`, ... or `?` in order); the server
    /// checks the count and types.
    pub async fn bind(&mut self, values: RecordBatch) -> Result<(), ClientError> {
        if values.num_rows() != 1 {
            return Err(ClientError::Parameters(format!(
                "bind one row of values, not {}",
                values.num_rows()
            )));
        }
        let cmd = CommandPreparedStatementQuery {
            prepared_statement_handle: self.handle.clone(),
        };
        let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
        let data: Vec<_> = FlightDataEncoderBuilder::new()
            .with_flight_descriptor(Some(descriptor))
            .build(futures::stream::iter([Ok(values)]))
            .try_collect()
            .await?;
        let req = self.client.request(futures::stream::iter(data))?;
        let mut results = self.client.inner.do_put(req).await?.into_inner();
        if let Some(put) = results.message().await?
            && !put.app_metadata.is_empty()
        {
            let r = DoPutPreparedStatementResult::decode(&*put.app_metadata).map_err(protocol)?;
            if let Some(h) = r.prepared_statement_handle {
                self.handle = h;
            }
        }
        Ok(())
    }

    /// Runs the statement with the bound parameters.
    pub async fn query(&mut self) -> Result<ResultStream, ClientError> {
        let cmd = CommandPreparedStatementQuery {
            prepared_statement_handle: self.handle.clone(),
        };
        self.client
            .run(FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec()))
            .await
    }

    /// Tells the server the statement is no longer needed.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let body = ActionClosePreparedStatementRequest {
            prepared_statement_handle: self.handle.clone(),
        }
        .as_any()
        .encode_to_vec();
        let req = self.client.request(Action {
            r#type: "ClosePreparedStatement".into(),
            body: body.into(),
        })?;
        let mut results = self.client.inner.do_action(req).await?.into_inner();
        while results.message().await?.is_some() {}
        Ok(())
    }
}

type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, ClientError>> + Send>>;

/// A query result: the schema (known before the first batch) and the batches as they arrive.
/// Dropping it cancels the call, which stops the query on the server.
pub struct ResultStream {
    schema: SchemaRef,
    inner: BatchStream,
}

impl std::fmt::Debug for ResultStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ResultStream {
    /// The result schema, with the server's field metadata (unit, UCD, description).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
}

impl Stream for ResultStream {
    type Item = Result<RecordBatch, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: &str) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn urls() {
        assert!(endpoint(&opts("grpc://127.0.0.1:50051")).is_ok());
        assert!(endpoint(&opts("grpc+tcp://localhost:1")).is_ok());
        for bad in [
            "http://x:1",
            "127.0.0.1:50051",
            "grpc://",
            "grpc://h:1/path",
        ] {
            let e = endpoint(&opts(bad)).unwrap_err();
            assert!(matches!(e, ClientError::BadUrl { .. }), "{bad}: {e}");
        }
        let mut o = opts("grpc://h:1");
        o.tls_ca_pem = Some(b"x".to_vec());
        assert!(endpoint(&o).is_err());
    }

    #[tokio::test]
    async fn unreachable_servers_are_a_connect_error() {
        // Port 1 on loopback: nothing listens there in a test environment.
        let e = Client::connect(&opts("grpc://127.0.0.1:1"))
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    }

    #[test]
    fn status_errors_keep_their_code() {
        let e = ClientError::from(Status::invalid_argument("line 2, column 7"));
        assert_eq!(e.code(), Some(Code::InvalidArgument));
        assert_eq!(e.to_string(), "InvalidArgument: line 2, column 7");
    }
}
