//! The IVOA TAP 1.1 service over HTTP: `/sync`, `/async` (UWS 1.1), VOSI `/capabilities`, `/availability`,
//! `/tables`, DALI `/examples`, an HTML landing page and, for browsers, the web console.

mod async_;
mod error;
mod examples;
mod params;
mod sync;
mod vosi;
mod xml;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::Redirect;
use axum::routing::get;

pub use error::ServiceError;
pub use examples::EXAMPLES;
pub use params::{FilePart, Params};
pub use sync::QueryRequest;

use crate::auth::AuthSettings;
use crate::config::{Limits, UploadSettings};
use crate::engine::Engine;
use crate::uws::Jobs;

/// State shared by the handlers.
pub struct AppState {
    /// The query engine.
    pub engine: Arc<Engine>,
    /// Request and output limits.
    pub limits: Limits,
    /// Configured public base URL of the TAP service, if any.
    pub public_url: Option<String>,
    /// When the service started (VOSI availability `upSince`).
    pub started: SystemTime,
    /// Async jobs.
    pub jobs: Arc<Jobs>,
    /// Upload limits.
    pub uploads: UploadSettings,
    /// Accounts.
    pub auth: AuthSettings,
    /// Result cache, admission control and metrics.
    pub ops: Arc<crate::ops::Ops>,
}

impl AppState {
    /// The TAP base URL as the client sees it: the configured public URL, else derived from the
    /// request's Host header and the mount point.
    pub(crate) fn base_url(&self, headers: &HeaderMap, mount: &str) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}{mount}")
    }

    /// The caller: `None` when anonymous; 401 when credentials are given and wrong.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Option<String>, ServiceError> {
        self.auth
            .authenticate(headers)
            .map_err(|e| ServiceError::Unauthorized {
                message: e.0,
                challenge: self.auth.challenge(),
            })
    }
}

/// The TAP routes, mounted under `mount` (e.g. `/tap`).
fn tap_routes(mount: &'static str) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(move |s, h| base(s, h, mount)))
        .route("/console/{name}", get(crate::console::asset))
        .route("/sync", get(sync::sync).post(sync::sync))
        .route(
            "/async",
            get(move |s, h, q| async_::list(s, h, q, mount))
                .post(move |s, m, h, q, b| async_::create(s, m, h, q, b, mount)),
        )
        .route(
            "/async/{id}",
            get(move |s, h, p, q| async_::job(s, h, p, q, mount))
                .post(move |s, m, h, p, q, b| async_::job_post(s, m, h, p, q, b, mount))
                .delete(move |s, h, p| async_::job_delete(s, h, p, mount)),
        )
        .route(
            "/async/{id}/{what}",
            get(move |s, m, h, p, q, b| async_::child(s, m, h, p, q, b, mount))
                .post(move |s, m, h, p, q, b| async_::child(s, m, h, p, q, b, mount)),
        )
        .route(
            "/async/{id}/results/{name}",
            get(move |s, h, p| async_::result(s, h, p, mount)),
        )
        .route(
            "/capabilities",
            get(move |s, h| vosi::capabilities(s, h, mount)),
        )
        .route("/availability", get(vosi::availability))
        .route("/tables", get(vosi::tables))
        .route("/tables/{name}", get(vosi::table))
        .route(
            "/examples",
            get(move |s, h| examples::examples(s, h, mount)),
        )
}

/// The base URL: the web console for browsers, the plain landing page for everyone else.
async fn base(
    state: axum::extract::State<Arc<AppState>>,
    headers: HeaderMap,
    mount: &'static str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if crate::console::wants_html(&headers) {
        return crate::console::index(mount);
    }
    let mut resp = vosi::landing(state, headers, mount).await.into_response();
    resp.headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept"));
    resp
}

/// The whole HTTP application. The TAP service lives at `/tap`; it is also reachable at
/// `/tap-server/tap`, the path astroquery.gaia builds from a host name.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/tap") }))
        .route("/metrics", get(metrics))
        .nest("/tap", tap_routes("/tap"))
        .nest("/tap-server/tap", tap_routes("/tap-server/tap"))
        .with_state(state)
        .layer(axum::middleware::map_response(server_header))
        // One span per request with method and path; the /sync span nests inside it.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (memory_reserved, memory_limit, parquet_metadata_entries, parquet_metadata_hits) =
        state.engine.memory_and_metadata_cache();
    let (cache_entries, cache_bytes) = state.ops.cache.usage();
    let jobs_by_phase = state.jobs.phase_counts().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot count jobs for /metrics");
        Vec::new()
    });
    let gauges = crate::ops::metrics::Gauges {
        jobs_by_phase,
        memory_reserved,
        memory_limit,
        cache_entries,
        cache_bytes,
        parquet_metadata_entries,
        parquet_metadata_hits,
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.ops.metrics.render(&gauges),
    )
        .into_response()
}

async fn server_header(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut().insert(
        header::SERVER,
        header::HeaderValue::from_static(concat!("Parallax/", env!("CARGO_PKG_VERSION"))),
    );
    resp
}
