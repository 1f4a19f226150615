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
//! Errors become a `tonic::Status` in exactly one place, [`FlightSqlError`]'s `From` impl.

mod keys;
mod service;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::Status;

use crate::engine::{Lang, QueryError};

pub use service::FlightSqlServer;

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
                QueryError::Internal(detail) => internal(detail),
                QueryError::Unavailable(_) => Status::unavailable(q.to_string()),
            },
            FlightSqlError::Malformed { .. }
            | FlightSqlError::BadRequest(_)
            | FlightSqlError::TooLong { .. } => Status::invalid_argument(e.to_string()),
            FlightSqlError::Unsupported(m) => Status::unimplemented(m),
            FlightSqlError::Internal(detail) => internal(&detail),
        }
    }
}

fn internal(detail: &str) -> Status {
    tracing::error!(detail = %detail, "internal error in Flight SQL");
    Status::internal("internal error in the service; the operators have the details in their log")
}

/// A statement as carried in tickets and prepared-statement handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) lang: Lang,
    pub(crate) text: String,
}

const HANDLE_PREFIX: &str = "parallax/1 ";

impl Statement {
    pub(crate) fn encode(&self) -> bytes::Bytes {
        let lang = match self.lang {
            Lang::Adql => "adql",
            Lang::Sql => "sql",
        };
        format!("{HANDLE_PREFIX}{lang}\n{}", self.text).into()
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
        let (lang, query) = rest.split_once('\n').ok_or_else(|| malformed("no query"))?;
        let lang = parse_lang(lang).map_err(|_| malformed("unknown language"))?;
        Ok(Self {
            lang,
            text: query.to_string(),
        })
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

/// Serves Flight SQL on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    service: FlightSqlServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(
            arrow_flight::flight_service_server::FlightServiceServer::new(service)
                .max_decoding_message_size(16 * 1024 * 1024)
                .max_encoding_message_size(64 * 1024 * 1024),
        )
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
        };
        assert_eq!(Statement::decode(&s.encode(), "ticket").unwrap(), s);
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"parallax/1 ",
            b"parallax/1 cobol\nSELECT 1",
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
