//! Arrow Flight SQL sources: another Parallax (`parallax serve --flight`) or any Flight SQL
//! server. Queries are sent as SQL (`CommandStatementQuery`, with the Parallax header
//! `x-parallax-lang: sql`), and the answer arrives as Arrow batches with its field metadata.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightDescriptor, FlightInfo};
use async_trait::async_trait;
use base64::Engine as _;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::unparser::dialect::{DefaultDialect, Dialect};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parallax_catalog::FlightSqlConfig;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

use super::postgres::read_secret;
use super::scan::{Backend, quote};
use super::{DEFAULT_TIMEOUT, Described, RemoteError, Source};
use crate::flight::LANG_HEADER;

/// One `[[catalog.flightsql]]` source.
#[derive(Debug)]
pub(crate) struct FlightSource {
    backend: Arc<FlightBackend>,
}

#[derive(Debug)]
struct FlightBackend {
    name: String,
    endpoint: Endpoint,
    authorization: Option<String>,
    timeout: Duration,
}

impl FlightSource {
    /// Validates the configuration (nothing is connected yet).
    pub(crate) fn new(
        key: &str,
        c: &FlightSqlConfig,
        base_dir: &Path,
    ) -> Result<Self, RemoteError> {
        let bad = |k: &str, m: String| RemoteError::Config {
            key: format!("{key}.{k}"),
            message: m,
        };
        let url = match c.url.split_once("://") {
            Some(("grpc" | "http", rest)) => format!("http://{rest}"),
            _ => {
                return Err(bad(
                    "url",
                    format!(
                        "'{}' is not a grpc://host:port URL (TLS is not supported yet)",
                        c.url
                    ),
                ));
            }
        };
        let timeout = Duration::from_secs(c.timeout.unwrap_or(DEFAULT_TIMEOUT).max(1));
        let endpoint = Endpoint::from_shared(url)
            .map_err(|e| bad("url", format!("'{}': {e}", c.url)))?
            .connect_timeout(timeout);
        let authorization = match (&c.token_file, &c.username, &c.password_file) {
            (Some(_), Some(_), _) => {
                return Err(bad(
                    "token_file",
                    "give either token_file or username, not both".into(),
                ));
            }
            (Some(f), None, _) => Some(format!(
                "Bearer {}",
                read_secret(base_dir, f).map_err(|m| bad("token_file", m))?
            )),
            (None, Some(u), p) => {
                let password = match p {
                    Some(f) => read_secret(base_dir, f).map_err(|m| bad("password_file", m))?,
                    None => String::new(),
                };
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{password}"));
                Some(format!("Basic {pair}"))
            }
            (None, None, Some(_)) => {
                return Err(bad("password_file", "a password needs a username".into()));
            }
            (None, None, None) => None,
        };
        if c.tables.is_empty() {
            return Err(bad("tables", "list at least one table to expose".into()));
        }
        Ok(Self {
            backend: Arc::new(FlightBackend {
                name: c.name.clone(),
                endpoint,
                authorization,
                timeout,
            }),
        })
    }
}

impl FlightBackend {
    fn unavailable(&self, reason: String) -> RemoteError {
        RemoteError::Unavailable {
            source_name: self.name.clone(),
            kind: "flightsql",
            reason,
        }
    }

    fn status(&self, s: &tonic::Status) -> RemoteError {
        match s.code() {
            tonic::Code::Unavailable => self.unavailable(s.message().to_string()),
            _ => RemoteError::Remote {
                source_name: self.name.clone(),
                message: s.message().to_string(),
            },
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        r.metadata_mut().insert(
            LANG_HEADER,
            tonic::metadata::MetadataValue::from_static("sql"),
        );
        if let Some(a) = &self.authorization
            && let Ok(v) = a.parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        r
    }

    async fn client(&self) -> Result<FlightServiceClient<Channel>, RemoteError> {
        let channel = self
            .endpoint
            .connect()
            .await
            .map_err(|e| self.unavailable(super::error_chain(&e)))?;
        Ok(FlightServiceClient::new(channel))
    }

    /// Plans `sql` at the source: its schema and where to fetch the rows.
    async fn info(
        &self,
        client: &mut FlightServiceClient<Channel>,
        sql: String,
    ) -> Result<FlightInfo, RemoteError> {
        let cmd = CommandStatementQuery {
            query: sql,
            transaction_id: None,
        };
        let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
        client
            .get_flight_info(self.request(descriptor))
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| self.status(&s))
    }
}

#[async_trait]
impl Backend for FlightBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "flightsql"
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    fn dialect(&self) -> &(dyn Dialect + Send + Sync) {
        // A unit struct: the reference is to a promoted constant.
        &DefaultDialect {}
    }

    async fn query(
        &self,
        sql: String,
        _schema: SchemaRef,
    ) -> Result<BoxStream<'static, Result<RecordBatch, RemoteError>>, RemoteError> {
        let mut client = self.client().await?;
        let info = self.info(&mut client, sql).await?;
        let mut streams = Vec::new();
        for endpoint in info.endpoint {
            let Some(ticket) = endpoint.ticket else {
                continue;
            };
            let data = client
                .do_get(self.request(ticket))
                .await
                .map_err(|s| self.status(&s))?
                .into_inner()
                .map_err(FlightError::from);
            let name = self.name.clone();
            streams.push(
                FlightRecordBatchStream::new_from_flight_data(data)
                    .map_err(move |e| RemoteError::Remote {
                        source_name: name.clone(),
                        message: match e {
                            FlightError::Tonic(s) => s.message().to_string(),
                            other => other.to_string(),
                        },
                    })
                    .boxed(),
            );
        }
        Ok(futures::stream::iter(streams).flatten().boxed())
    }
}

#[async_trait]
impl Source for FlightSource {
    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    fn remote_parts(&self, remote: &str) -> Vec<String> {
        remote.split('.').map(str::to_string).collect()
    }

    async fn describe(&self, remote: &str) -> Result<Described, RemoteError> {
        let b = &self.backend;
        let mut client = b.client().await?;
        let sql = format!("SELECT * FROM {}", self.remote_name(remote));
        let info = b.info(&mut client, sql).await.map_err(|e| match e {
            RemoteError::Remote { message, .. } if message.contains("not found") => {
                RemoteError::MissingTable {
                    source_name: b.name.clone(),
                    table: remote.to_string(),
                }
            }
            other => other,
        })?;
        let schema = info.try_decode_schema().map_err(|e| RemoteError::Remote {
            source_name: b.name.clone(),
            message: format!("undecodable schema: {e}"),
        })?;
        let mut fields = Vec::new();
        let mut select = Vec::new();
        let mut skipped = Vec::new();
        for f in schema.fields() {
            if parallax_formats::votable_type(f.data_type()).is_some() {
                fields.push(f.as_ref().clone());
                select.push(quote(f.name()));
            } else {
                skipped.push(format!("{} ({})", f.name(), f.data_type()));
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
            description: schema.metadata().get("description").cloned(),
        })
    }

    async fn list(&self) -> Result<Vec<String>, RemoteError> {
        Ok(Vec::new())
    }
}
