//! `{base}/async` (TAP 1.1 §2.2): the UWS 1.1 job list and job resources over HTTP.
//!
//! Every state change answers 303 See Other with an absolute `Location` (UWS §2.2.3);
//! another owner's job answers 404 as if it did not exist.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ServiceError;
use super::params::Params;
use super::xml::escape;
use crate::time::{iso8601_secs, parse_iso8601};
use crate::uws::{Job, JobError, ListFilter, Phase, valid_id};

const XML: &str = "text/xml; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const UWS_OPEN: &str = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" \
     xmlns:xlink=\"http://www.w3.org/1999/xlink\" \
     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

type Answer = Result<Response, ServiceError>;

fn finish(r: Answer) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, TEXT)], body).into_response()
}

fn checked(id: &str) -> Result<&str, ServiceError> {
    if valid_id(id) {
        Ok(id)
    } else {
        Err(JobError::NotFound(id.to_string()).into())
    }
}

struct Ctx {
    owner: Option<String>,
    base: String,
}

impl Ctx {
    fn new(state: &AppState, headers: &HeaderMap, mount: &str) -> Result<Self, ServiceError> {
        Ok(Self {
            owner: state.authenticate(headers)?,
            base: format!("{}/async", state.base_url(headers, mount)),
        })
    }

    fn job_url(&self, id: &str) -> String {
        format!("{}/{id}", self.base)
    }
}

async fn read_params(
    state: &AppState,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Params, ServiceError> {
    Params::from_request(
        method,
        query,
        headers,
        body,
        state.limits.max_request_bytes,
        Some(state.uploads.max_bytes),
    )
    .await
}

/// `GET {base}/async`: the caller's jobs (UWS §2.2.2.1 filters PHASE, AFTER, LAST).
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    mount: &'static str,
) -> Response {
    finish(list_inner(&state, &headers, query.as_deref(), mount))
}

fn list_inner(state: &AppState, headers: &HeaderMap, query: Option<&str>, mount: &str) -> Answer {
    let ctx = Ctx::new(state, headers, mount)?;
    let p = Params::from_query(query)?;
    let mut filter = ListFilter::default();
    for ph in p.all("phase") {
        filter.phases.push(
            Phase::parse(ph).ok_or_else(|| {
                ServiceError::BadRequest(format!("PHASE={ph} is not a UWS phase"))
            })?,
        );
    }
    if let Some(a) = p.get("after")? {
        filter.after = Some(parse_iso8601(a).ok_or_else(|| {
            ServiceError::BadRequest(format!("AFTER={a} is not an ISO-8601 time"))
        })?);
    }
    if let Some(l) = p.get("last")? {
        filter.last = Some(
            l.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ServiceError::BadRequest(format!("LAST={l} is not a positive integer"))
                })?,
        );
    }
    let jobs = state.jobs.list(ctx.owner.as_deref(), &filter)?;
    let mut x = String::with_capacity(256 + jobs.len() * 200);
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:jobs version=\"1.1\" {UWS_OPEN}>"
    );
    for j in jobs {
        let _ = write!(
            x,
            "<uws:jobref id=\"{id}\" xlink:href=\"{href}\"><uws:phase>{phase}</uws:phase>",
            id = escape(&j.id),
            href = escape(&ctx.job_url(&j.id)),
            phase = j.phase
        );
        run_and_owner(&mut x, j.run_id.as_deref(), j.owner.as_deref());
        let _ = write!(
            x,
            "<uws:creationTime>{}</uws:creationTime></uws:jobref>",
            iso8601_secs(j.creation)
        );
    }
    x.push_str("</uws:jobs>\n");
    Ok(([(header::CONTENT_TYPE, XML)], x).into_response())
}

/// `POST {base}/async`: creates a job (and runs it with `PHASE=RUN`), 303 to the job.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
    mount: &'static str,
) -> Response {
    finish(
        async {
            let ctx = Ctx::new(&state, &headers, mount)?;
            let params = read_params(&state, &method, query.as_deref(), &headers, body).await?;
            let id = state.jobs.create(ctx.owner.clone(), params).await?;
            Ok(see_other(&ctx.job_url(&id)))
        }
        .await,
    )
}

/// `GET {base}/async/{id}`, with optional blocking `WAIT` (UWS §2.2.1.2).
pub(crate) async fn job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    mount: &'static str,
) -> Response {
    finish(
        async {
            let ctx = Ctx::new(&state, &headers, mount)?;
            let id = checked(&id)?;
            let p = Params::from_query(query.as_deref())?;
            let job = match p.get("wait")? {
                None => state.jobs.get(id, ctx.owner.as_deref())?,
                Some(w) => {
                    let n: i64 = w.trim().parse().map_err(|_| {
                        ServiceError::BadRequest(format!("WAIT={w} is not an integer"))
                    })?;
                    let max = state.jobs.settings().wait_max;
                    let secs = if n < 0 { max } else { (n as u64).min(max) };
                    let from = match p.all("phase").first() {
                        Some(ph) => Some(Phase::parse(ph).ok_or_else(|| {
                            ServiceError::BadRequest(format!("PHASE={ph} is not a UWS phase"))
                        })?),
                        None => None,
                    };
                    state
                        .jobs
                        .wait(id, ctx.owner.as_deref(), Duration::from_secs(secs), from)
                        .await?
                }
            };
            Ok(([(header::CONTENT_TYPE, XML)], job_document(&job, &ctx)).into_response())
        }
        .await,
    )
}

/// `POST {base}/async/{id}`: `ACTION=DELETE`, or PHASE / parameters posted to the job.
pub(crate) async fn job_post(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
    mount: &'static str,
) -> Response {
    finish(
        async {
            let ctx = Ctx::new(&state, &headers, mount)?;
            let id = checked(&id)?;
            let params = read_params(&state, &method, query.as_deref(), &headers, body).await?;
            match params.get("action")? {
                Some(a) if a.eq_ignore_ascii_case("DELETE") => {
                    state.jobs.delete(id, ctx.owner.as_deref())?;
                    return Ok(see_other(&ctx.base));
                }
                Some(a) => {
                    return Err(ServiceError::BadRequest(format!(
                        "ACTION={a} is not supported; the only action is DELETE"
                    )));
                }
                None => {}
            }
            let phase: Vec<String> = params.all("phase").into_iter().map(String::from).collect();
            let has_other =
                params.pairs().iter().any(|(k, _)| k != "phase") || !params.files.is_empty();
            if has_other {
                state
                    .jobs
                    .set_parameters(id, ctx.owner.as_deref(), params)
                    .await?;
            }
            if let Some(p) = phase.first() {
                apply_phase(&state, id, ctx.owner.as_deref(), p)?;
            }
            Ok(see_other(&ctx.job_url(id)))
        }
        .await,
    )
}

/// `DELETE {base}/async/{id}`: 303 to the job list.
pub(crate) async fn job_delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    mount: &'static str,
) -> Response {
    finish((|| {
        let ctx = Ctx::new(&state, &headers, mount)?;
        let id = checked(&id)?;
        state.jobs.delete(id, ctx.owner.as_deref())?;
        Ok(see_other(&ctx.base))
    })())
}

fn apply_phase(
    state: &AppState,
    id: &str,
    owner: Option<&str>,
    phase: &str,
) -> Result<(), ServiceError> {
    if phase.eq_ignore_ascii_case("RUN") {
        state.jobs.run(id, owner)?;
    } else if phase.eq_ignore_ascii_case("ABORT") {
        state.jobs.abort(id, owner)?;
    } else {
        return Err(ServiceError::BadRequest(format!(
            "PHASE={phase} is not allowed; POST PHASE=RUN or PHASE=ABORT"
        )));
    }
    Ok(())
}

/// GET and POST of a job's child resources.
pub(crate) async fn child(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Body,
    mount: &'static str,
) -> Response {
    finish(
        child_inner(
            &state,
            method,
            &headers,
            &id,
            &what,
            query.as_deref(),
            body,
            mount,
        )
        .await,
    )
}

#[allow(clippy::too_many_arguments)] // reason: one handler for the UWS child resources
async fn child_inner(
    state: &AppState,
    method: Method,
    headers: &HeaderMap,
    id: &str,
    what: &str,
    query: Option<&str>,
    body: Body,
    mount: &str,
) -> Answer {
    let ctx = Ctx::new(state, headers, mount)?;
    let id = checked(id)?;
    let owner = ctx.owner.as_deref();
    if method == Method::POST {
        let params = read_params(state, &method, query, headers, body).await?;
        match what {
            "phase" => {
                let p = params.all("phase");
                let [p] = p.as_slice() else {
                    return Err(ServiceError::BadRequest(
                        "POST exactly one PHASE=RUN or PHASE=ABORT".into(),
                    ));
                };
                apply_phase(state, id, owner, p)?;
            }
            "executionduration" => {
                let d = params.get("executionduration")?.ok_or_else(|| {
                    ServiceError::BadRequest("POST EXECUTIONDURATION=seconds".into())
                })?;
                state.jobs.set_execution_duration(id, owner, d)?;
            }
            "destruction" => {
                let d = params.get("destruction")?.ok_or_else(|| {
                    ServiceError::BadRequest("POST DESTRUCTION=ISO-8601 time".into())
                })?;
                state.jobs.set_destruction(id, owner, d)?;
            }
            "parameters" => {
                state.jobs.set_parameters(id, owner, params).await?;
            }
            _ => {
                state.jobs.get(id, owner)?;
                return Err(ServiceError::BadRequest(format!(
                    "{what} cannot be changed with POST"
                )));
            }
        }
        return Ok(see_other(&ctx.job_url(id)));
    }
    let job = state.jobs.get(id, owner)?;
    Ok(match what {
        "phase" => text(job.phase.to_string()),
        "quote" => text(iso8601_secs(quote(&job))),
        "executionduration" => text(job.execution_duration.to_string()),
        "destruction" => text(iso8601_secs(job.destruction)),
        "owner" => text(job.owner.clone().unwrap_or_default()),
        "runId" | "runid" => text(job.run_id.clone().unwrap_or_default()),
        "error" => match (&job.error, job.phase) {
            (Some(m), Phase::Error | Phase::Aborted) => (
                [(header::CONTENT_TYPE, "application/x-votable+xml")],
                parallax_formats::votable_error_document(m),
            )
                .into_response(),
            _ => {
                return Err(ServiceError::NotFound(format!(
                    "job {id} has no error ({})",
                    job.phase
                )));
            }
        },
        "parameters" => {
            let mut x =
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:parameters {UWS_OPEN}>");
            write_parameters(&mut x, &job);
            x.push_str("</uws:parameters>\n");
            ([(header::CONTENT_TYPE, XML)], x).into_response()
        }
        "results" => {
            let mut x =
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:results {UWS_OPEN}>");
            write_results(&mut x, &job, &ctx);
            x.push_str("</uws:results>\n");
            ([(header::CONTENT_TYPE, XML)], x).into_response()
        }
        _ => {
            return Err(ServiceError::NotFound(format!(
                "job {id} has no resource '{what}'"
            )));
        }
    })
}

/// `GET {base}/async/{id}/results/result`: the result file, streamed from disk.
pub(crate) async fn result(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
    mount: &'static str,
) -> Response {
    finish(
        async {
            let ctx = Ctx::new(&state, &headers, mount)?;
            let id = checked(&id)?;
            let job = state.jobs.get(id, ctx.owner.as_deref())?;
            let info = match (&job.result, job.phase, name.as_str()) {
                (Some(info), Phase::Completed, "result") => info.clone(),
                _ => {
                    return Err(ServiceError::NotFound(format!(
                        "job {id} has no result '{name}' ({})",
                        job.phase
                    )));
                }
            };
            if wants_arrow(&headers, &info.content_type) {
                return arrow_result(&state, id, &info.content_type).await;
            }
            let file = tokio::fs::File::open(state.jobs.result_path(id))
                .await
                .map_err(|_| ServiceError::NotFound(format!("job {id} has no result")))?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
            let mut resp = Response::new(Body::from_stream(stream));
            if let Ok(v) = HeaderValue::from_str(&info.content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(info.bytes));
            Ok(resp)
        }
        .await,
    )
}

/// True when the client asks for the Arrow IPC stream (`Accept`) and the result is stored
/// in another format (an Arrow result is served as stored).
fn wants_arrow(headers: &HeaderMap, stored: &str) -> bool {
    use crate::uws::arrow_result::ARROW_STREAM;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let asks = accept.split(',').any(|m| {
        m.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case(ARROW_STREAM)
    });
    asks && !stored.to_ascii_lowercase().starts_with(ARROW_STREAM)
}

/// A stored (Parquet) result re-encoded batch by batch as an Arrow IPC stream.
async fn arrow_result(state: &AppState, id: &str, stored: &str) -> Answer {
    use crate::uws::arrow_result::{self, ARROW_STREAM, ArrowResultError};
    use datafusion::error::DataFusionError;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::TryStreamExt;
    let (schema, batches) = arrow_result::open(id, state.jobs.result_path(id), stored)
        .await
        .map_err(|e| match e {
            ArrowResultError::NotArrow { .. } => ServiceError::NotAcceptable(e.to_string()),
            other => ServiceError::Query(crate::engine::QueryError::Internal(other.to_string())),
        })?;
    let input = RecordBatchStreamAdapter::new(
        schema.clone(),
        batches.map_err(|e| DataFusionError::ArrowError(Box::new(e), None)),
    );
    let writer = parallax_formats::new_writer(
        parallax_formats::OutputFormat::ArrowStream,
        schema,
        vec![],
        vec![],
    )
    .map_err(|e| ServiceError::Query(crate::engine::QueryError::Internal(e.to_string())))?;
    let body = parallax_formats::encode_stream(writer, Box::pin(input), None);
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ARROW_STREAM));
    Ok(resp)
}

/// The estimated end (UWS §2.1.4): the end time once known, else "as soon as it can run".
fn quote(job: &Job) -> i64 {
    job.end.or(job.start).unwrap_or(job.creation)
}

fn opt_time(x: &mut String, tag: &str, t: Option<i64>) {
    match t {
        Some(t) => {
            let _ = write!(x, "<uws:{tag}>{}</uws:{tag}>", iso8601_secs(t));
        }
        None => {
            let _ = write!(x, "<uws:{tag} xsi:nil=\"true\"/>");
        }
    }
}

fn write_parameters(x: &mut String, job: &Job) {
    for (k, v) in &job.parameters {
        let _ = write!(
            x,
            "<uws:parameter id=\"{}\">{}</uws:parameter>",
            escape(k),
            escape(v)
        );
    }
}

fn write_results(x: &mut String, job: &Job, ctx: &Ctx) {
    if let (Phase::Completed, Some(r)) = (job.phase, &job.result) {
        let _ = write!(
            x,
            "<uws:result id=\"result\" xlink:type=\"simple\" xlink:href=\"{}/results/result\" \
             size=\"{}\" mime-type=\"{}\"/>",
            escape(&ctx.job_url(&job.id)),
            r.bytes,
            escape(&r.content_type)
        );
    }
}

/// The UWS 1.1 job document (UWS App. B element order).
fn job_document(job: &Job, ctx: &Ctx) -> String {
    let mut x = String::with_capacity(2048);
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:job version=\"1.1\" {UWS_OPEN}>\
         <uws:jobId>{}</uws:jobId>",
        escape(&job.id)
    );
    run_and_owner(&mut x, job.run_id.as_deref(), job.owner.as_deref());
    let _ = write!(
        x,
        "<uws:phase>{}</uws:phase><uws:quote>{}</uws:quote><uws:creationTime>{}</uws:creationTime>",
        job.phase,
        iso8601_secs(quote(job)),
        iso8601_secs(job.creation)
    );
    opt_time(&mut x, "startTime", job.start);
    opt_time(&mut x, "endTime", job.end);
    let _ = write!(
        x,
        "<uws:executionDuration>{}</uws:executionDuration><uws:destruction>{}</uws:destruction>\
         <uws:parameters>",
        job.execution_duration,
        iso8601_secs(job.destruction)
    );
    write_parameters(&mut x, job);
    x.push_str("</uws:parameters><uws:results>");
    write_results(&mut x, job, ctx);
    x.push_str("</uws:results>");
    if let (Some(m), Phase::Error | Phase::Aborted) = (&job.error, job.phase) {
        let kind = if job.phase == Phase::Error {
            "fatal"
        } else {
            "transient"
        };
        let _ = write!(
            x,
            "<uws:errorSummary type=\"{kind}\" hasDetail=\"true\"><uws:message>{}</uws:message>\
             </uws:errorSummary>",
            escape(m)
        );
    }
    x.push_str("</uws:job>\n");
    x
}

/// The optional `runId` and the `ownerId` (nil for anonymous jobs) of a job or job reference.
fn run_and_owner(x: &mut String, run_id: Option<&str>, owner: Option<&str>) {
    if let Some(r) = run_id {
        let _ = write!(x, "<uws:runId>{}</uws:runId>", escape(r));
    }
    match owner {
        Some(o) => {
            let _ = write!(x, "<uws:ownerId>{}</uws:ownerId>", escape(o));
        }
        None => x.push_str("<uws:ownerId xsi:nil=\"true\"/>"),
    }
}
