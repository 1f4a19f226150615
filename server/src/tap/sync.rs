//! `{base}/sync` (TAP 1.1 §2.1): run one ADQL query and stream the result.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parallax_formats::{Info, OutputFormat};
use tracing::Instrument;

use std::sync::atomic::Ordering;
use std::time::Instant;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

use super::AppState;
use super::error::ServiceError;
use super::params::Params;
use crate::config::Limits;
use crate::engine::QueryError;
use crate::ops::cache::{CachedResult, Capture};
use crate::ops::{
    CACHE_HEADER, Outcome, QUERY_ID, QUERY_ID_HEADER, RecordedStream, Recorder, Route,
};
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
    let qid = state.ops.query_id();
    let started = Instant::now();
    let mut resp = QUERY_ID
        .scope(qid.clone(), async {
            match run(
                &state,
                &method,
                query.as_deref(),
                &headers,
                body,
                &qid,
                started,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    let outcome = match &e {
                        ServiceError::Busy(_) => Outcome::Rejected,
                        ServiceError::Query(q) => Outcome::of_error(q),
                        ServiceError::Unauthorized { .. } => Outcome::UserError,
                        _ if e.status().is_server_error() => Outcome::InternalError,
                        _ => Outcome::UserError,
                    };
                    state
                        .ops
                        .metrics
                        .query(Route::Sync, outcome, started.elapsed());
                    e.into_response()
                }
            }
        })
        .await;
    if let Ok(v) = HeaderValue::from_str(&qid) {
        resp.headers_mut().insert(QUERY_ID_HEADER, v);
    }
    resp
}

async fn run(
    state: &AppState,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    qid: &str,
    started: Instant,
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
    let span = tracing::info_span!(
        "sync",
        query_id = %qid,
        user = ?user,
        query = %req.query,
        maxrec = req.maxrec
    );
    start(state, req, params, user.as_deref(), qid, started)
        .instrument(span)
        .await
}

/// Starts the query (or finds it in the result cache) and answers with its streamed result.
async fn start(
    state: &AppState,
    req: QueryRequest,
    params: Params,
    user: Option<&str>,
    qid: &str,
    started: Instant,
) -> Result<Response, ServiceError> {
    let specs: Vec<String> = params.all("upload").into_iter().map(String::from).collect();
    // One row more than MAXREC tells the writer whether the result overflowed.
    let limit = req.maxrec.saturating_add(1);
    let ops = &state.ops;
    let key = if specs.is_empty() {
        ops.cache.key(&req.query, limit)
    } else {
        None
    };
    let mut infos = vec![
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
        Info {
            name: "query_id".into(),
            value: qid.to_string(),
            content: None,
        },
    ];
    let cacheable = key.is_some();
    let cached = key.as_ref().and_then(|k| ops.cache.get(k));
    if key.is_some() {
        ops.metrics.cache_lookup(cached.is_some());
        infos.push(Info {
            name: "parallax_cache".into(),
            value: if cached.is_some() { "hit" } else { "miss" }.into(),
            content: None,
        });
    }
    let (schema, columns, input, recorder, cache_state) = if let Some(hit) = cached {
        // A hit needs no admission: it costs no engine work.
        tracing::info!(
            rows_cached = hit.batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            "answered from the result cache"
        );
        let recorder = Recorder::start(ops.metrics.clone(), Route::Sync, started, None, req.maxrec);
        let rows = recorder.rows.clone();
        let batches: Vec<_> = hit.batches.clone();
        let stream = futures::stream::iter(batches.into_iter().map(move |b| {
            rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            Ok(b)
        }));
        let input: SendableRecordBatchStream =
            Box::pin(RecordBatchStreamAdapter::new(hit.schema.clone(), stream));
        (
            hit.schema.clone(),
            hit.columns.clone(),
            input,
            recorder,
            "hit",
        )
    } else {
        let permit = ops
            .admission
            .admit(user, &ops.metrics)
            .await
            .map_err(ServiceError::Busy)?;
        let tables =
            upload::load(&specs, PartSource::Memory(&params.files), &state.uploads).await?;
        tracing::info!(uploads = tables.len(), "query started");
        let result = state
            .engine
            .execute_with_uploads(&req.query, Some(limit), tables)
            .await?;
        let recorder = Recorder::start(
            ops.metrics.clone(),
            Route::Sync,
            started,
            Some(permit),
            req.maxrec,
        );
        let mut stream = result.stream;
        // Poll the first batch before answering, so errors that surface at once (most of
        // them) get a proper error status instead of a truncated 200.
        let first = match stream.next().await {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                // The error response is counted by `sync`, once.
                recorder.abandon();
                return Err(QueryError::from_datafusion(e).into());
            }
            None => None,
        };
        let rows = recorder.rows.clone();
        let capture = Arc::new(std::sync::Mutex::new(
            key.as_ref()
                .map(|_| Capture::new(ops.cache.settings().max_entry_bytes)),
        ));
        let seen = capture.clone();
        let counted = futures::stream::iter(first.map(Ok))
            .chain(stream)
            .map(move |r| {
                let mut c = seen.lock().unwrap_or_else(|p| p.into_inner());
                match &r {
                    Ok(b) => {
                        rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                        if let Some(c) = c.as_mut() {
                            c.push(b);
                        }
                    }
                    Err(_) => *c = None,
                }
                r
            });
        // At the normal end of the batches, keep them in the cache.
        let (schema, columns) = (result.schema.clone(), result.columns.clone());
        let (cache_schema, cache_columns) = (schema.clone(), columns.clone());
        let cache = state.ops.clone();
        let end = futures::stream::once(async move {
            let taken = capture.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let (Some(key), Some((batches, bytes))) = (key, taken.and_then(Capture::finish)) {
                cache.cache.insert(
                    key,
                    CachedResult {
                        schema: cache_schema,
                        columns: cache_columns,
                        batches,
                        bytes,
                    },
                );
            }
        })
        .filter_map(|()| async { None });
        let input: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            schema.clone(),
            counted.chain(end),
        ));
        (schema, columns, input, recorder, "miss")
    };
    let writer = parallax_formats::new_writer(req.format, schema, columns, infos)
        .map_err(|e| QueryError::Internal(e.to_string()))?;
    let bytes = parallax_formats::encode_stream(writer, input, Some(req.maxrec)).map(|r| {
        r.map_err(|e| {
            tracing::warn!(error = %e, "result stream ended with an error");
            std::io::Error::other(e.to_string())
        })
    });
    let bytes = RecordedStream::new(Box::pin(bytes), recorder);
    let mut resp = Response::new(Body::from_stream(bytes));
    *resp.status_mut() = StatusCode::OK;
    if let Ok(v) = HeaderValue::from_str(&req.content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if cacheable {
        resp.headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(cache_state));
    }
    Ok(resp)
}
