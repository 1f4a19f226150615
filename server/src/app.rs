//! Application start-up: load the catalogue (or the demo catalogue), build the engine, bind
//! the listener, serve until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use parallax_catalog::{Catalog, CatalogConfig, ForeignKeyConfig, SchemaConfig, TableConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::engine::Engine;
use crate::federation::Federation;
use crate::tap::{self, AppState};
use crate::uws::Jobs;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The catalogue is invalid.
    #[error("catalogue: {0}")]
    Catalog(#[from] parallax_catalog::CatalogError),
    /// The demo catalogue could not be generated.
    #[error("demo catalogue in {dir}: {reason}")]
    Demo {
        /// Directory.
        dir: String,
        /// Why.
        reason: String,
    },
    /// The job store could not be opened.
    #[error("job store in {dir}: {reason}")]
    Jobs {
        /// Directory.
        dir: String,
        /// Why.
        reason: String,
    },
    /// The query engine could not be built (e.g. the Ballista scheduler is unreachable).
    #[error("engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    /// The Flight SQL TLS certificate or key is unusable.
    #[error("flight TLS: {0}")]
    Tls(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Makes sure the demo catalogue exists under `data_dir/demo` and returns its configuration.
pub fn demo_catalog(data_dir: &Path, sources: u64, seed: u64) -> Result<CatalogConfig, StartError> {
    let dir = data_dir.join("demo");
    let err = |reason: String| StartError::Demo {
        dir: dir.display().to_string(),
        reason,
    };
    let mut opts = parallax_demo::DemoOptions::for_sources(sources);
    opts.seed = seed;
    let summary = match parallax_demo::existing_for(&dir, &opts) {
        Some(s) => {
            tracing::info!(dir = %dir.display(), "using the existing demo catalogue");
            s
        }
        None => {
            std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
            tracing::info!(dir = %dir.display(), sources, "generating the demo catalogue");
            let started = std::time::Instant::now();
            let s = parallax_demo::generate(&dir, &opts).map_err(|e| err(e.to_string()))?;
            tracing::info!(
                seconds = started.elapsed().as_secs_f64(),
                "demo catalogue ready"
            );
            s
        }
    };
    let mut config = CatalogConfig {
        schemas: vec![SchemaConfig {
            name: "gaiadr3".into(),
            description: Some(
                "Synthetic Gaia DR3-like demo catalogue: real DR3 column names, types, units and \
                 UCDs; generated deterministically by parallax generate"
                    .into(),
            ),
            utype: None,
        }],
        ..Default::default()
    };
    for t in &summary.tables {
        config.tables.push(TableConfig {
            name: format!("{}.{}", t.schema, t.name),
            path: dir.join(&t.path).to_string_lossy().to_string(),
            ..Default::default()
        });
    }
    let has = |n: &str| config.tables.iter().any(|t| t.name == n);
    for from in [
        "gaiadr3.xp_continuous_mean_spectrum",
        "gaiadr3.epoch_photometry",
    ] {
        if has(from) && has("gaiadr3.gaia_source") {
            config.foreign_keys.push(ForeignKeyConfig {
                from: from.into(),
                target: "gaiadr3.gaia_source".into(),
                columns: vec![["source_id".into(), "source_id".into()]],
                description: Some("Each row belongs to one gaia_source entry".into()),
            });
        }
    }
    Ok(config)
}

/// Loads the configured catalogue, or the demo catalogue when no table is configured, with
/// the tables of the remote sources that answered.
pub async fn load_catalog(settings: &Settings) -> Result<Catalog, StartError> {
    Ok(load_federated(settings).await?.0)
}

/// As [`load_catalog`], also returning the remote sources (to register with the engine, so
/// that sources that were down at start-up are retried when queried).
pub async fn load_federated(settings: &Settings) -> Result<(Catalog, Federation), StartError> {
    let federation = Federation::connect(&settings.catalog, &settings.config_dir).await?;
    let remote = federation.tables();
    let catalog = if settings.catalog.tables.is_empty() {
        let mut config = demo_catalog(
            &settings.data_dir,
            settings.demo_sources,
            settings.demo_seed,
        )?;
        config.postgres = settings.catalog.postgres.clone();
        config.flightsql = settings.catalog.flightsql.clone();
        config
            .schemas
            .extend(settings.catalog.schemas.iter().cloned());
        parallax_catalog::load_with(&config, Path::new("/"), remote).await?
    } else {
        parallax_catalog::load_with(&settings.catalog, &settings.config_dir, remote).await?
    };
    Ok((catalog, federation))
}

/// The files and directories whose sizes and times make the catalogue's version (the key of
/// the result cache): the demo directory, or each configured local table path (up to its
/// first glob component).
fn catalog_roots(settings: &Settings) -> Vec<std::path::PathBuf> {
    if settings.catalog.tables.is_empty() {
        return vec![settings.data_dir.join("demo")];
    }
    settings
        .catalog
        .tables
        .iter()
        .filter(|t| !t.path.contains("://"))
        .map(|t| {
            let full = settings.config_dir.join(&t.path);
            let mut root = std::path::PathBuf::new();
            for c in full.components() {
                if c.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
                    break;
                }
                root.push(c);
            }
            root
        })
        .collect()
}

/// Reads and checks the Flight SQL TLS certificate chain and key (PEM).
fn flight_identity(cert: &Path, key: &Path) -> Result<tonic::transport::Identity, StartError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| StartError::Tls(format!("cannot read {}: {e}", p.display())))
    };
    let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
    // Building the server configuration parses both; fail at start-up, not at serve time.
    tonic::transport::Server::builder()
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity.clone()))
        .map_err(|e| StartError::Tls(format!("{} / {}: {e:?}", cert.display(), key.display())))?;
    Ok(identity)
}

/// How long Flight SQL streams may run on after the shutdown signal.
const FLIGHT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A built, bound application: the TAP HTTP service and, when configured, Flight SQL.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    jobs: Arc<Jobs>,
    flight: Option<(TcpListener, crate::flight::FlightSqlServer)>,
    flight_addr: Option<SocketAddr>,
}

impl Application {
    /// Loads the catalogue, builds the engine and binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let (catalog, federation) = load_federated(&settings).await?;
        let engine = Arc::new(
            Engine::build(catalog, &settings.engine, settings.admission.memory_bytes).await?,
        );
        federation.register(engine.context())?;
        // Remote tables can change behind our back: queries naming them are never cached.
        let remote = federation
            .tables()
            .iter()
            .map(|t| t.qualified_name())
            .collect();
        let ops = Arc::new(crate::ops::Ops::new(
            crate::ops::ResultCache::new(settings.cache, catalog_roots(&settings))
                .with_uncached_tables(remote),
            crate::ops::Admission::new(settings.admission),
        ));
        let jobs = Jobs::open(
            settings.jobs.clone(),
            settings.limits,
            settings.uploads,
            engine.clone(),
        )
        .map_err(|e| StartError::Jobs {
            dir: settings.jobs.dir.display().to_string(),
            reason: e.to_string(),
        })?;
        jobs.set_metrics(ops.metrics.clone());
        jobs.start().map_err(|e| StartError::Jobs {
            dir: settings.jobs.dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut flight_service =
            crate::flight::FlightSqlServer::new(engine.clone(), settings.limits, ops.clone())
                .with_auth(settings.auth.clone())
                .with_jobs(jobs.clone());
        if let Some((cert, key)) = &settings.flight_tls {
            flight_service = flight_service.with_tls(flight_identity(cert, key)?);
        }
        let state = Arc::new(AppState {
            engine,
            limits: settings.limits,
            public_url: settings.public_url.clone(),
            started: SystemTime::now(),
            jobs: jobs.clone(),
            uploads: settings.uploads,
            auth: settings.auth.clone(),
            ops,
        });
        let listener =
            TcpListener::bind(settings.http)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.http,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.http,
            source,
        })?;
        let (flight, flight_addr) = match settings.flight {
            None => (None, None),
            Some(want) => {
                let bind_err = |source| StartError::Bind { addr: want, source };
                let l = TcpListener::bind(want).await.map_err(bind_err)?;
                let bound = l.local_addr().map_err(bind_err)?;
                (Some((l, flight_service)), Some(bound))
            }
        };
        Ok(Self {
            listener,
            router: tap::router(state),
            addr,
            jobs,
            flight,
            flight_addr,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound Flight SQL address, when Flight SQL is served.
    pub fn flight_addr(&self) -> Option<SocketAddr> {
        self.flight_addr
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests (HTTP and Flight SQL
    /// stop together).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let signal = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            signal.cancel();
        });
        let flight = self.flight.map(|(listener, service)| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let result =
                    crate::flight::serve(listener, service, stop.clone().cancelled_owned()).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "Flight SQL service failed");
                }
                // One service going down takes the other with it.
                stop.cancel();
                result
            })
        });
        let jobs = self.jobs.clone();
        let http_stop = stop.clone();
        let http = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                http_stop.cancelled().await;
                // Running jobs stop; they are queued again at the next start.
                jobs.stop();
            })
            .await;
        stop.cancel();
        if let Some(mut handle) = flight {
            // Flight streams in flight get a grace period, then are cut.
            match tokio::time::timeout(FLIGHT_GRACE, &mut handle).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(std::io::Error::other(e)),
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => {
                    tracing::warn!("Flight SQL streams still open at shutdown; cutting them");
                    handle.abort();
                }
            }
        }
        http
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
