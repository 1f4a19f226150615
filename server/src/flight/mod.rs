//! The Arrow Flight SQL service (Apache Arrow Flight SQL 1.x over gRPC/tonic), on its own
//! address next to the TAP HTTP service.
//!
//! Statement queries are ADQL 2.1 by default; a client asks for (read-only) DataFusion SQL
//! with the gRPC header `x-parallax-lang: sql` (see `docs/flight-sql.md`). Both go through
//! [`Engine`](crate::engine::Engine), the one session builder, with the same read-only rules as
//! TAP. Results stream from DataFusion's record-batch stream straight into Flight data
//! messages; a client that drops the stream stops the query.
//!
//! Tickets and prepared-statement handles are self-contained (`parallax/1 LANG\nTEXT`): the
//! server keeps no per-query state, so a handle never expires and any replica can serve it.
//!
//! Accounts are the TAP accounts ([`crate::auth`]): every call passes an interceptor that
//! reads the `authorization` metadata (basic, bearer, or a session token from the Flight
//! `Handshake`) and records the caller for per-user isolation. A completed async job's
//! result is served to its owner for the path descriptor `["parallax-job", JOB_ID]`.
//! With `[flight] tls_cert`/`tls_key` the service speaks TLS (`grpc+tls://`).
//!
//! Errors become a `tonic::Status` in exactly one place, [`FlightSqlError`]'s `From` impl.

mod keys;
mod service;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::Status;

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;

use crate::auth::AuthSettings;
use crate::engine::{Lang, QueryError};

pub use service::{FlightSqlServer, JOB_PATH};

/// The gRPC header that selects the statement language: `adql` (default) or `sql`.
pub const LANG_HEADER: &str = "x-parallax-lang";

/// The catalogue name Flight SQL reports (DataFusion's default catalogue, so that
/// `datafusion.gaiadr3.gaia_source` also works in SQL mode).
pub const CATALOG_NAME: &str = "datafusion";

/// Why a Flight SQL request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlightSqlError {
    /// The query failed (classified by the engine).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A ticket or prepared-statement handle this server did not issue.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// `ticket` or `prepared statement handle`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad request header or argument.
    #[error("{0}")]
    BadRequest(String),
    /// The query text is longer than `limits.max_query_bytes`.
    #[error("the query is {size} bytes long; the limit is {limit} bytes")]
    TooLong {
        /// Bytes given.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A Flight SQL feature this read-only service does not offer.
    #[error("{0}")]
    Unsupported(String),
    /// No such object for this caller (a job of someone else does not exist for them).
    #[error("{0}")]
    NotFound(String),
    /// The object exists but is not in a state to serve the request (a job still running).
    #[error("{0}")]
    NotReady(String),
    /// A bug on our side (encoding); details go to the log only.
    #[error("internal error")]
    Internal(String),
}

impl From<FlightSqlError> for Status {
    fn from(e: FlightSqlError) -> Self {
        match e {
            FlightSqlError::Query(q) => match &q {
                QueryError::Adql { error, rendered } => match error.kind() {
                    parallax_adql::ErrorKind::UnknownTable { .. } => Status::not_found(rendered),
                    _ if q.is_user_error() => Status::invalid_argument(rendered),
                    _ => internal(&q.to_string()),
                },
                QueryError::Execution(_) | QueryError::Sql(_) => {
                    Status::invalid_argument(q.to_string())
                }
                QueryError::Resource(_) => Status::resource_exhausted(q.to_string()),
                QueryError::Unavailable(_) => Status::unavailable(q.to_string()),
                QueryError::Internal(detail) => internal(detail),
                QueryError::Bug(_) => {
                    tracing::error!(error = %q, "bug in Flight SQL query");
                    Status::internal(q.to_string())
                }
            },
            FlightSqlError::Malformed { .. }
            | FlightSqlError::BadRequest(_)
            | FlightSqlError::TooLong { .. } => Status::invalid_argument(e.to_string()),
            FlightSqlError::Unsupported(m) => Status::unimplemented(m),
            FlightSqlError::NotFound(m) => Status::not_found(m),
            FlightSqlError::NotReady(m) => Status::failed_precondition(m),
            FlightSqlError::Internal(detail) => internal(&detail),
        }
    }
}

fn internal(detail: &str) -> Status {
    tracing::error!(detail = %detail, "internal error in Flight SQL");
    Status::internal("internal error in the service; the operators have the details in their log")
}

/// A statement as carried in tickets and prepared-statement handles:
/// `parallax/1 LANG[ PARAMS]\nTEXT`, PARAMS being the bound parameter row as a base64 Arrow
/// IPC stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) lang: Lang,
    pub(crate) text: String,
    /// Bound parameter values (one row, Arrow IPC stream), for SQL prepared statements.
    pub(crate) params: Option<Vec<u8>>,
}

const HANDLE_PREFIX: &str = "parallax/1 ";

impl Statement {
    pub(crate) fn encode(&self) -> bytes::Bytes {
        use base64::Engine as _;
        let lang = match self.lang {
            Lang::Adql => "adql",
            Lang::Sql => "sql",
        };
        let params = match &self.params {
            Some(p) => format!(" {}", base64::engine::general_purpose::STANDARD.encode(p)),
            None => String::new(),
        };
        format!("{HANDLE_PREFIX}{lang}{params}\n{}", self.text).into()
    }

    /// The bound parameter values, in order.
    pub(crate) fn values(&self) -> Result<Vec<ScalarValue>, FlightSqlError> {
        match &self.params {
            None => Ok(Vec::new()),
            Some(ipc) => {
                let batch = decode_params(ipc)?;
                batch
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, 0))
                    .collect::<Result<_, _>>()
                    .map_err(|e| FlightSqlError::BadRequest(format!("parameters: {e}")))
            }
        }
    }

    pub(crate) fn decode(bytes: &[u8], what: &'static str) -> Result<Self, FlightSqlError> {
        let malformed = |reason: &str| FlightSqlError::Malformed {
            what,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| malformed("not UTF-8"))?;
        let rest = text
            .strip_prefix(HANDLE_PREFIX)
            .ok_or_else(|| malformed("not issued by this service"))?;
        let (head, query) = rest.split_once('\n').ok_or_else(|| malformed("no query"))?;
        let (lang, params) = match head.split_once(' ') {
            Some((lang, p)) => {
                use base64::Engine as _;
                let ipc = base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .map_err(|_| malformed("bad parameters"))?;
                decode_params(&ipc).map_err(|_| malformed("bad parameters"))?;
                (lang, Some(ipc))
            }
            None => (head, None),
        };
        let lang = parse_lang(lang).map_err(|_| malformed("unknown language"))?;
        Ok(Self {
            lang,
            text: query.to_string(),
            params,
        })
    }
}

/// One row of parameter values as an Arrow IPC stream.
pub(crate) fn encode_params(batch: &RecordBatch) -> Result<Vec<u8>, FlightSqlError> {
    let internal = |e: ArrowError| FlightSqlError::Internal(format!("encoding parameters: {e}"));
    let mut w = StreamWriter::try_new(Vec::new(), &batch.schema()).map_err(internal)?;
    w.write(batch).map_err(internal)?;
    w.into_inner().map_err(internal)
}

fn decode_params(ipc: &[u8]) -> Result<RecordBatch, FlightSqlError> {
    let bad = |m: String| FlightSqlError::BadRequest(format!("parameters: {m}"));
    let mut r =
        StreamReader::try_new(std::io::Cursor::new(ipc), None).map_err(|e| bad(e.to_string()))?;
    match r.next() {
        Some(Ok(b)) if b.num_rows() == 1 => Ok(b),
        Some(Ok(b)) => Err(bad(format!(
            "one row of values expected, got {}",
            b.num_rows()
        ))),
        Some(Err(e)) => Err(bad(e.to_string())),
        None => Err(bad("no values".into())),
    }
}

/// Parses the value of [`LANG_HEADER`].
pub(crate) fn parse_lang(value: &str) -> Result<Lang, FlightSqlError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "adql" | "adql-2.0" | "adql-2.1" => Ok(Lang::Adql),
        "sql" => Ok(Lang::Sql),
        other => Err(FlightSqlError::BadRequest(format!(
            "{LANG_HEADER}: unknown language '{other}'; use 'adql' (the default) or 'sql'"
        ))),
    }
}

/// The authenticated caller of a request (`None`: anonymous), set by the interceptor.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller(pub(crate) Option<String>);

/// The caller recorded on `request`.
pub(crate) fn caller<T>(request: &tonic::Request<T>) -> Option<String> {
    request
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.0.clone())
}

/// Checks the `authorization` metadata of every call against the TAP accounts.
fn authenticate(
    auth: &AuthSettings,
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, Status> {
    let value = match request.metadata().get("authorization") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Status::unauthenticated("malformed authorization metadata"))?,
        ),
    };
    let user = auth
        .authenticate_value(value)
        .map_err(|e| Status::unauthenticated(e.0))?;
    request.extensions_mut().insert(Caller(user));
    Ok(request)
}

/// Serves Flight SQL on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    service: FlightSqlServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let auth = service.auth().clone();
    let tls = service.tls().cloned();
    let flight = arrow_flight::flight_service_server::FlightServiceServer::new(service)
        .max_decoding_message_size(16 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024);
    let checked = tonic::service::interceptor::InterceptedService::new(flight, move |r| {
        authenticate(&auth, r)
    });
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = tls {
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    builder
        .add_service(checked)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_reject_garbage() {
        let s = Statement {
            lang: Lang::Sql,
            text: "SELECT 1\n-- two lines".into(),
            params: None,
        };
        assert_eq!(Statement::decode(&s.encode(), "ticket").unwrap(), s);
        use datafusion::arrow::array::{Int64Array, StringArray};
        let row = RecordBatch::try_from_iter([
            ("a", std::sync::Arc::new(Int64Array::from(vec![7])) as _),
            ("b", std::sync::Arc::new(StringArray::from(vec!["x"])) as _),
        ])
        .unwrap();
        let p = Statement {
            params: Some(encode_params(&row).unwrap()),
            ..s
        };
        let back = Statement::decode(&p.encode(), "ticket").unwrap();
        assert_eq!(
            back.values().unwrap(),
            vec![
                ScalarValue::Int64(Some(7)),
                ScalarValue::Utf8(Some("x".into()))
            ]
        );
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"parallax/1 ",
            b"parallax/1 cobol\nSELECT 1",
            b"parallax/1 sql !!notbase64\nSELECT 1",
            b"parallax/1 sql AAAA\nSELECT 1",
            b"SELECT 1",
        ] {
            let e = Statement::decode(bad, "ticket").unwrap_err();
            assert_eq!(Status::from(e).code(), tonic::Code::InvalidArgument);
        }
    }

    #[test]
    fn languages() {
        assert_eq!(parse_lang("SQL").unwrap(), Lang::Sql);
        assert_eq!(parse_lang("adql").unwrap(), Lang::Adql);
        assert!(parse_lang("python").is_err());
    }
}
