//! Distributed execution on Apache DataFusion Ballista: `parallax scheduler` and
//! `parallax executor` embed Ballista's scheduler and executor with every Parallax function,
//! aggregate and optimizer rule registered, so the plans the front end
//! ([`crate::engine::Engine`] in Ballista mode) sends run unchanged on the cluster.
//!
//! Where each piece must be known (Ballista 55):
//! * the front end plans ADQL and runs the logical optimizer (Parallax's crossmatch and
//!   cone-search rules among them) with the engine's session; the plan goes to the
//!   scheduler as protobuf, functions by name ([`codec`] adds in-memory tables);
//! * the scheduler decodes it with its own session ([`scheduler_session`]), optimizes again,
//!   plans the physical stages and ships them to the executors;
//! * an executor decodes each task's physical plan against its function registry
//!   ([`function_registry`]): DataFusion's functions plus Parallax's.
//!
//! Catalogue tables travel as listing-table scans carrying their absolute paths (or object
//! store URLs), so every executor must see the catalogue's files at the same path: a shared
//! volume in `docker/`, the same directory in tests.

pub mod client;
pub mod codec;
pub mod failure;
pub mod stop;
pub mod version;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::config::parse_scheduler;

/// Why a cluster process could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// An address or option is invalid.
    #[error("{0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Ballista failed.
    #[error("ballista: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
}

/// Every Ballista process (scheduler and executors) of one cluster must agree on this.
const POLICY: TaskSchedulingPolicy = TaskSchedulingPolicy::PushStaged;

/// `parallax scheduler` options.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// gRPC listen address (port 0: any free port).
    pub listen: SocketAddr,
    /// The host executors and clients use to reach this scheduler.
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is dead and its tasks run again.
    pub executor_timeout: u64,
    /// Seconds a job may wait with no executor alive before it fails.
    pub no_executors_grace: u64,
}

/// `parallax executor` options.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `df://HOST:PORT`.
    pub scheduler: String,
    /// Listen host for the Flight (data) and gRPC (control) services.
    pub bind_host: String,
    /// The host the scheduler and other executors use to reach this one.
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle data and results).
    pub flight_port: u16,
    /// gRPC port (task launch and cancellation).
    pub grpc_port: u16,
    /// Tasks run at once (0: one per core).
    pub concurrent_tasks: usize,
    /// Directory of shuffle files (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_interval: u64,
}

/// DataFusion's functions plus every Parallax function and aggregate, for decoding task plans
/// on an executor (Ballista's default registry also lacks the nested/array functions that
/// the crossmatch plans use, e.g. `unnest` over `healpix_cone_cells`).
pub fn function_registry() -> BallistaFunctionRegistry {
    let ctx = crate::engine::parallax_context();
    let state = ctx.state();
    let mut registry = BallistaFunctionRegistry::default();
    for (name, f) in state.scalar_functions() {
        registry.scalar_functions.insert(name.clone(), f.clone());
    }
    for (name, f) in state.aggregate_functions() {
        registry.aggregate_functions.insert(name.clone(), f.clone());
    }
    for (name, f) in state.window_functions() {
        registry.window_functions.insert(name.clone(), f.clone());
    }
    registry
}

/// The scheduler's session for a client's configuration: Ballista's defaults plus Parallax's
/// functions and optimizer rules.
pub fn scheduler_session(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    scheduler_session_as(config, "this scheduler")
}

/// [`scheduler_session`] for the scheduler called `who` in error messages; fails when the job
/// was planned by a front end of another Parallax version ([`version::check`]).
fn scheduler_session_as(
    config: SessionConfig,
    who: &str,
) -> datafusion::common::Result<SessionState> {
    version::check(&config, who)?;
    let state = ballista_core::utils::default_session_builder(config)?;
    // The scheduler plans the physical stages: yield points between operators let an
    // executor abort a cancelled task promptly (see `crate::coop`).
    // The scheduler lists the files of catalogue tables when it plans: it needs the object
    // stores of tables on S3 or WebDAV too.
    let runtime = parallax_catalog::stores::runtime_builder().build_arc()?;
    let state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .with_physical_optimizer_rule(Arc::new(KeepMemoryScanLimits))
        .with_physical_optimizer_rule(Arc::new(crate::coop::YieldBetweenOperators))
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::engine::register_parallax(&ctx);
    Ok(ctx.state())
}

/// Runs a scheduler until the process is stopped; prints `parallax: scheduler on df://ADDR`
/// once it listens.
pub async fn run_scheduler(opts: SchedulerOptions) -> Result<(), ClusterError> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ClusterError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ClusterError::Bind {
        addr: opts.listen,
        source,
    })?;
    let external = opts
        .external_host
        .clone()
        .unwrap_or_else(|| addr.ip().to_string());
    let config = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        bind_port: addr.port(),
        external_host: external.clone(),
        scheduling_policy: POLICY,
        // Ballista's default ("bias") fills one executor's slots before the next gets any;
        // spread each stage's tasks over all executors instead.
        task_distribution: TaskDistributionPolicy::RoundRobin,
        executor_timeout_seconds: opts.executor_timeout,
        // Dead executors are looked for this often; well under the timeout.
        expire_dead_executor_interval_seconds: (opts.executor_timeout / 4).max(1),
        no_executors_grace_period_seconds: opts.no_executors_grace,
        // A failed task is retried on another executor at most this many times; a stage
        // whose shuffle input was lost (executor gone) is re-run at most this many times.
        task_max_failures: 3,
        stage_max_failures: 3,
        override_session_builder: Some({
            let who = format!("the scheduler at df://{external}:{}", addr.port());
            Arc::new(move |config| scheduler_session_as(config, &who))
        }),
        override_config_producer: Some(Arc::new(version::config_producer)),
        override_logical_codec: Some(Arc::new(codec::ParallaxLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(codec::ParallaxPhysicalCodec::default())),
        ..Default::default()
    };
    config.validate()?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config).await?;
    tracing::info!(%addr, "Ballista scheduler ready");
    println!("parallax: scheduler on df://{external}:{}", addr.port());
    tokio::select! {
        r = start_grpc_service_with_listener(listener, scheduler) => r?,
        () = crate::app::shutdown_signal() => {}
    }
    Ok(())
}

/// Runs an executor until the process is stopped; prints `parallax: executor on HOST:PORT`
/// before registering with the scheduler.
pub async fn run_executor(opts: ExecutorOptions) -> Result<(), ClusterError> {
    let (scheduler_host, scheduler_port) =
        parse_scheduler(&opts.scheduler).map_err(ClusterError::Config)?;
    // Ballista's default runtime for a task, plus the object stores of catalogue tables on S3
    // or WebDAV (Ballista adds the task's memory pool to whatever this returns). Temporary
    // (spill) files go where Ballista's default puts them: the work directory.
    let spill_dir = opts
        .work_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .to_string_lossy()
        .to_string();
    let runtime_producer: ballista_core::RuntimeProducer = Arc::new(move |_| {
        parallax_catalog::stores::runtime_builder()
            .with_temp_file_path(spill_dir.clone())
            .build_arc()
    });
    let config = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone(),
        port: opts.flight_port,
        grpc_port: opts.grpc_port,
        scheduler_host,
        scheduler_port,
        vcores: opts.concurrent_tasks,
        task_scheduling_policy: POLICY,
        work_dir: opts
            .work_dir
            .as_ref()
            .map(|p| p.to_string_lossy().to_string()),
        executor_heartbeat_interval_seconds: opts.heartbeat_interval.max(1),
        override_function_registry: Some(Arc::new(function_registry())),
        override_config_producer: Some(Arc::new(version::config_producer)),
        override_runtime_producer: Some(runtime_producer),
        override_execution_engine: Some(Arc::new(stop::StoppableEngine::new(format!(
            "the executor at {}:{}",
            opts.external_host.as_deref().unwrap_or(&opts.bind_host),
            opts.flight_port
        )))),
        override_logical_codec: Some(Arc::new(codec::ParallaxLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(codec::ParallaxPhysicalCodec::default())),
        ..Default::default()
    };
    tracing::info!(
        flight = opts.flight_port,
        grpc = opts.grpc_port,
        scheduler = %opts.scheduler,
        "starting Ballista executor"
    );
    println!(
        "parallax: executor on {}:{}",
        opts.external_host.as_deref().unwrap_or(&opts.bind_host),
        opts.flight_port
    );
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}

/// Keeps the row limit of in-memory scans across the trip to the executors.
///
/// DataFusion folds `TOP n` over an in-memory table (TAP_SCHEMA, uploads) into the scan's
/// `fetch`; on a Ballista 55 executor that fetch is lost on the way (`SELECT TOP 1 ... FROM
/// TAP_SCHEMA.columns` returned every row), so the scheduler puts an explicit per-partition
/// limit, which always survives, above such scans. Same rows; the scan's own fetch is kept.
#[derive(Debug, Default)]
pub struct KeepMemoryScanLimits;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for KeepMemoryScanLimits {
    fn optimize(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> datafusion::common::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::datasource::memory::MemorySourceConfig;
        use datafusion::datasource::source::DataSourceExec;
        use datafusion::physical_plan::limit::LocalLimitExec;
        plan.transform_up(|node| {
            let Some(scan) = node.downcast_ref::<DataSourceExec>() else {
                return Ok(Transformed::no(node));
            };
            let source: &dyn std::any::Any = scan.data_source().as_ref();
            match (source.is::<MemorySourceConfig>(), node.fetch()) {
                (true, Some(n)) => Ok(Transformed::yes(Arc::new(LocalLimitExec::new(
                    Arc::clone(&node),
                    n,
                )))),
                _ => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "keep_memory_scan_limits"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
