//! `{base}/sync` (TAP 1.1 §2.1): run one ADQL query and stream the result.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parallax_formats::{Info, OutputFormat};
use tracing::Instrument;

use super::AppState;
use super::error::ServiceError;
use super::params::Params;
use crate::config::Limits;
use crate::engine::QueryError;
use crate::upload::{self, PartSource};

/// A validated TAP query request.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// ADQL text.
    pub query: String,
    /// Output format.
    pub format: OutputFormat,
    /// Content-Type to answer with.
    pub content_type: String,
    /// Effective MAXREC.
    pub maxrec: u64,
}

impl QueryRequest {
    /// Validates the TAP parameters of a query (TAP §2.7, DALI §3.4).
    pub fn from_params(p: &Params, limits: &Limits) -> Result<Self, ServiceError> {
        // REQUEST=doQuery is TAP 1.0 legacy; every client still sends it. Accept and ignore.
        if let Some(r) = p.get("request")?
            && !r.eq_ignore_ascii_case("doQuery")
        {
            return Err(ServiceError::BadRequest(format!(
                "unsupported REQUEST '{r}'; the only request is doQuery"
            )));
        }
        match p.get("lang")? {
            None => {
                return Err(ServiceError::BadRequest(
                    "missing LANG parameter; use LANG=ADQL".into(),
                ));
            }
            Some(l)
                if ["ADQL", "ADQL-2.0", "ADQL-2.1"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(l.trim())) => {}
            Some(l) => {
                return Err(ServiceError::BadRequest(format!(
                    "unknown query language '{l}'; this service accepts LANG=ADQL \
                     (ADQL-2.0, ADQL-2.1)"
                )));
            }
        }
        let query = p
            .get("query")?
            .ok_or_else(|| ServiceError::BadRequest("missing QUERY parameter".into()))?;
        if query.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "the QUERY parameter is empty".into(),
            ));
        }
        if query.len() > limits.max_query_bytes {
            return Err(ServiceError::BadRequest(format!(
                "the query is {} bytes long; the limit is {} bytes",
                query.len(),
                limits.max_query_bytes
            )));
        }
        let fmt = match (p.get("responseformat")?, p.get("format")?) {
            (Some(a), Some(b)) if a != b => {
                return Err(ServiceError::BadRequest(
                    "RESPONSEFORMAT and FORMAT disagree; give one of them".into(),
                ));
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => "votable",
        };
        let (format, content_type) = parallax_formats::parse_format(fmt)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let maxrec = match p.get("maxrec")? {
            None => limits.maxrec_default,
            Some(m) => m.trim().parse::<u64>().map_err(|_| {
                ServiceError::BadRequest(format!(
                    "MAXREC must be a non-negative integer, not '{m}'"
                ))
            })?,
        }
        .min(limits.maxrec_hard);
        Ok(Self {
            query: query.to_string(),
            format,
            content_type,
            maxrec,
        })
    }
}

/// `GET|POST {base}/sync`.
pub(crate) async fn sync(
    State(state): State<Arc<AppState>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&state, &method, query.as_deref(), &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ServiceError> {
    let user = state.authenticate(headers)?;
    let params = Params::from_request(
        method,
        query,
        headers,
        body,
        state.limits.max_request_bytes,
        Some(state.uploads.max_bytes),
    )
    .await?;
    let req = QueryRequest::from_params(&params, &state.limits)?;
    let span = tracing::info_span!("sync", user = ?user, query = %req.query, maxrec = req.maxrec);
    start(state, req, params).instrument(span).await
}

/// Starts the query and answers with its streamed result.
async fn start(
    state: &AppState,
    req: QueryRequest,
    params: Params,
) -> Result<Response, ServiceError> {
    let specs: Vec<String> = params.all("upload").into_iter().map(String::from).collect();
    let tables = upload::load(&specs, PartSource::Memory(&params.files), &state.uploads).await?;
    tracing::info!(uploads = tables.len(), "query started");

    // One row more than MAXREC tells the writer whether the result overflowed.
    let result = state
        .engine
        .execute_with_uploads(&req.query, Some(req.maxrec.saturating_add(1)), tables)
        .await?;
    let mut stream = result.stream;
    // Poll the first batch before answering, so errors that surface at once (most of them)
    // get a proper error status instead of a truncated 200.
    let first = match stream.next().await {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => return Err(QueryError::from_datafusion(e).into()),
        None => None,
    };
    let rest = futures::stream::iter(first.map(Ok)).chain(stream);
    let input = Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
            result.schema.clone(),
            rest,
        ),
    );
    let infos = vec![
        Info {
            name: "QUERY".into(),
            value: req.query.clone(),
            content: None,
        },
        Info {
            name: "server_software".into(),
            value: format!("Parallax {}", env!("CARGO_PKG_VERSION")),
            content: None,
        },
    ];
    let writer = parallax_formats::new_writer(req.format, result.schema, result.columns, infos)
        .map_err(|e| QueryError::Internal(e.to_string()))?;
    let bytes = parallax_formats::encode_stream(writer, input, Some(req.maxrec)).map(|r| {
        r.map_err(|e| {
            tracing::warn!(error = %e, "result stream ended with an error");
            std::io::Error::other(e.to_string())
        })
    });
    let mut resp = Response::new(Body::from_stream(bytes));
    *resp.status_mut() = StatusCode::OK;
    if let Ok(v) = HeaderValue::from_str(&req.content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(resp)
}
