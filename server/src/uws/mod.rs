//! Universal Worker Service 1.1 (IVOA REC 2016-10-24) jobs for TAP `/async`: a durable job
//! store ([`store`]), the phase machine ([`phase`]), a queue with a fixed number of executors,
//! real cancellation, restart recovery and a reaper for expired jobs.
//!
//! * A job's state lives in SQLite (WAL). Results are written to `results/{id}.part`,
//!   fsynced, renamed to `results/{id}` and the directory fsynced before the job is marked
//!   COMPLETED, so a COMPLETED job always has its whole result on disk.
//! * Inline upload parts of a job are stored under `uploads/{id}/` when the job is created,
//!   so a job re-run after a restart sees the same tables.
//! * ABORT, DELETE and an exhausted execution duration cancel the job's task; dropping its
//!   future drops the DataFusion stream, which aborts the plan's spawned tasks.
//! * At start-up, jobs found QUEUED or EXECUTING (the service was stopped or killed) are
//!   queued again, or ended in ERROR when `jobs.on_restart = "error"`.

pub mod arrow_result;
pub mod phase;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallax_formats::{EndStatus, Info};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::{JobSettings, Limits, OnRestart, UploadSettings};
use crate::engine::{Engine, QueryError};
use crate::tap::{FilePart, Params, QueryRequest, ServiceError};
use crate::time::now_secs;
use crate::upload::{self, PartSource};
pub use phase::{Event, Phase};
pub use store::{Change, Job, JobRef, ListFilter, Refused, ResultInfo, Store, StoreError};

/// Parameters that steer UWS itself and are not stored as job parameters.
const CONTROL: &[&str] = &["phase", "action", "destruction", "executionduration"];

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// No such job (or not the caller's).
    #[error("no job '{0}'")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The job's phase does not allow the operation.
    #[error("job {id} is {phase}; {what}")]
    Conflict {
        /// Job id.
        id: String,
        /// Its phase.
        phase: Phase,
        /// What is not possible.
        what: String,
    },
    /// A per-owner limit is reached.
    #[error("{0}")]
    Limit(String),
    /// The store or the file system failed.
    #[error("job store: {0}")]
    Internal(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        JobError::Internal(e.to_string())
    }
}

impl From<JobError> for ServiceError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound(_) => ServiceError::NotFound(e.to_string()),
            JobError::BadRequest(m) => ServiceError::BadRequest(m),
            JobError::Conflict { .. } => ServiceError::Conflict(e.to_string()),
            JobError::Limit(m) => ServiceError::Limit(m),
            JobError::Internal(m) => ServiceError::Query(QueryError::Internal(m)),
        }
    }
}

/// The async job service.
pub struct Jobs {
    store: Store,
    settings: JobSettings,
    limits: Limits,
    uploads: UploadSettings,
    engine: Arc<Engine>,
    slots: Arc<Semaphore>,
    running: Mutex<HashMap<String, CancellationToken>>,
    changes: watch::Sender<u64>,
    shutdown: CancellationToken,
    metrics: std::sync::OnceLock<Arc<crate::ops::Metrics>>,
}

/// How a job's task ended.
enum Outcome {
    Done(Result<ResultInfo, String>),
    Cancelled,
    TimedOut,
}

impl Jobs {
    /// Opens the store under `settings.dir` and applies the restart policy to jobs left
    /// QUEUED or EXECUTING. Call [`Jobs::start`] inside the runtime to begin work.
    pub fn open(
        settings: JobSettings,
        limits: Limits,
        uploads: UploadSettings,
        engine: Arc<Engine>,
    ) -> Result<Arc<Self>, JobError> {
        std::fs::create_dir_all(settings.dir.join("results"))?;
        std::fs::create_dir_all(settings.dir.join("uploads"))?;
        let store = Store::open(&settings.dir)?;
        let jobs = Arc::new(Self {
            store,
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            limits,
            uploads,
            engine,
            running: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
            metrics: std::sync::OnceLock::new(),
        });
        jobs.recover()?;
        Ok(jobs)
    }

    /// The configuration.
    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    fn results_dir(&self) -> PathBuf {
        self.settings.dir.join("results")
    }

    /// Where a completed job's result lives.
    pub fn result_path(&self, id: &str) -> PathBuf {
        self.results_dir().join(id)
    }

    fn uploads_dir(&self, id: &str) -> PathBuf {
        self.settings.dir.join("uploads").join(id)
    }

    /// Requeues (or fails) interrupted jobs and removes half-written result files and the
    /// files of jobs whose deletion was interrupted.
    fn recover(&self) -> Result<(), JobError> {
        let known: std::collections::HashSet<String> = self.store.all_ids()?.into_iter().collect();
        for entry in std::fs::read_dir(self.results_dir())? {
            let path = entry?.path();
            let orphan = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !known.contains(n));
            if orphan || path.extension().is_some_and(|e| e == "part") {
                remove_quietly(&path);
            }
        }
        for entry in std::fs::read_dir(self.settings.dir.join("uploads"))? {
            let path = entry?.path();
            let orphan = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !known.contains(n));
            if orphan {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
        for phase in [Phase::Executing, Phase::Queued] {
            for id in self.store.in_phase(phase)? {
                let r = match self.settings.on_restart {
                    OnRestart::Rerun => self.store.transition(
                        &id,
                        Event::Requeue,
                        &Change {
                            reset: true,
                            ..Default::default()
                        },
                    )?,
                    OnRestart::Error => self.store.transition(
                        &id,
                        Event::Fail,
                        &Change {
                            end: Some(now_secs()),
                            error: Some(
                                "the service restarted while this job was queued or executing; \
                                 submit it again"
                                    .into(),
                            ),
                            ..Default::default()
                        },
                    )?,
                };
                tracing::info!(job = %id, was = %phase, now = ?r, "job recovered after restart");
            }
        }
        Ok(())
    }

    /// Starts the executors for queued jobs and the reaper. Needs a Tokio runtime.
    pub fn start(self: &Arc<Self>) -> Result<(), JobError> {
        for id in self.store.in_phase(Phase::Queued)? {
            self.spawn(id);
        }
        let me = Arc::downgrade(self);
        let period = Duration::from_secs(self.settings.reaper_interval);
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let Some(jobs) = me.upgrade() else { return };
                jobs.reap();
            }
        });
        Ok(())
    }

    /// Stops the executors (their jobs stay EXECUTING/QUEUED in the store and run again after
    /// a restart).
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Destroys every job whose destruction time has passed.
    pub fn reap(&self) {
        match self.store.expired(now_secs()) {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(job = %id, "destruction time reached");
                    if let Err(e) = self.destroy(&id) {
                        tracing::error!(job = %id, error = %e, "cannot destroy job");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reaper cannot read the job store"),
        }
    }

    fn notify(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Creates a job from the creation POST's parameters; runs it at once if they include
    /// `PHASE=RUN`.
    pub async fn create(
        self: &Arc<Self>,
        owner: Option<String>,
        params: Params,
    ) -> Result<String, JobError> {
        let now = now_secs();
        let destruction = match one(&params, "destruction")? {
            Some(d) => self.check_destruction(d)?,
            None => now + self.settings.retention_default as i64,
        };
        let execution_duration = match one(&params, "executionduration")? {
            Some(d) => self.check_duration(d)?,
            None => self.settings.execution_duration_default,
        };
        let run = match params.all("phase").as_slice() {
            [] => false,
            [p] if p.eq_ignore_ascii_case("RUN") => true,
            [p] => {
                return Err(JobError::BadRequest(format!(
                    "PHASE={p} is not allowed when creating a job; use PHASE=RUN or leave it out"
                )));
            }
            _ => return Err(JobError::BadRequest("PHASE is given more than once".into())),
        };
        if run {
            // Refuse before creating anything, so a refused client holds no orphaned job.
            self.check_owner_limits(owner.as_deref())?;
        }
        let id = new_id();
        let (parameters, run_id) = tap_parameters(&params, &[])?;
        let parts = self.store_parts(&id, &params.files).await?;
        let job = Job {
            id: id.clone(),
            owner,
            run_id,
            phase: Phase::Pending,
            creation: now,
            start: None,
            end: None,
            execution_duration,
            destruction,
            parameters,
            upload_parts: parts,
            error: None,
            result: None,
        };
        self.store.insert(&job)?;
        tracing::info!(job = %id, owner = ?job.owner, "job created");
        if run {
            self.run(&id, job.owner.as_deref())?;
        }
        Ok(id)
    }

    async fn store_parts(&self, id: &str, files: &[FilePart]) -> Result<Vec<String>, JobError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.uploads_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        let mut names = Vec::new();
        for f in files {
            if !upload::valid_name(&f.name) {
                return Err(JobError::BadRequest(format!(
                    "upload part name '{}' is not an ADQL identifier",
                    f.name
                )));
            }
            let key = f.name.to_ascii_lowercase();
            write_durably(&dir.join(&key), &f.data).await?;
            if !names.contains(&key) {
                names.push(key);
            }
        }
        Ok(names)
    }

    fn check_destruction(&self, d: &str) -> Result<i64, JobError> {
        let t = crate::time::parse_iso8601(d).ok_or_else(|| {
            JobError::BadRequest(format!(
                "DESTRUCTION '{d}' is not an ISO-8601 time such as 2030-01-31T12:00:00Z"
            ))
        })?;
        let now = now_secs();
        if t <= now {
            return Err(JobError::BadRequest(format!(
                "DESTRUCTION {d} is in the past"
            )));
        }
        // UWS §2.1.6: the service may shorten a destruction time it does not accept.
        Ok(t.min(now + self.settings.retention_max as i64))
    }

    fn check_duration(&self, d: &str) -> Result<u64, JobError> {
        let n: i64 = d.trim().parse().map_err(|_| {
            JobError::BadRequest(format!(
                "EXECUTIONDURATION must be a whole number of seconds, not '{d}'"
            ))
        })?;
        if n <= 0 {
            return Err(JobError::BadRequest(format!(
                "EXECUTIONDURATION must be positive (at most {} s); unlimited jobs are not offered",
                self.settings.execution_duration_max
            )));
        }
        // UWS §2.1.5: the service may lower a requested duration to its maximum.
        Ok((n as u64).min(self.settings.execution_duration_max))
    }

    /// A job of `owner` (anyone else's job does not exist for them).
    pub fn get(&self, id: &str, owner: Option<&str>) -> Result<Job, JobError> {
        match self.store.get(id)? {
            Some(j) if j.owner.as_deref() == owner => Ok(j),
            _ => Err(JobError::NotFound(id.to_string())),
        }
    }

    /// Reports finished jobs to `metrics` (route `async`); set once, at start-up.
    pub fn set_metrics(&self, metrics: Arc<crate::ops::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Jobs per phase, all owners.
    pub fn phase_counts(&self) -> Result<Vec<(String, u64)>, JobError> {
        Ok(self.store.phase_counts()?)
    }

    /// The job list of `owner`.
    pub fn list(&self, owner: Option<&str>, f: &ListFilter) -> Result<Vec<JobRef>, JobError> {
        Ok(self.store.list(owner, f)?)
    }

    /// `PHASE=RUN`: queue a PENDING job. Repeating it on a queued or running job is a no-op.
    pub fn run(self: &Arc<Self>, id: &str, owner: Option<&str>) -> Result<(), JobError> {
        let job = self.get(id, owner)?;
        if matches!(job.phase, Phase::Queued | Phase::Executing) {
            return Ok(());
        }
        if job.phase == Phase::Pending {
            self.check_owner_limits(owner)?;
        }
        match self.store.transition(id, Event::Run, &Change::default())? {
            Ok(_) => {
                self.notify();
                self.spawn(id.to_string());
                Ok(())
            }
            Err(Refused::NotFound) => Err(JobError::NotFound(id.to_string())),
            Err(Refused::Illegal(Phase::Queued | Phase::Executing)) => Ok(()),
            Err(Refused::Illegal(phase)) => Err(JobError::Conflict {
                id: id.to_string(),
                phase,
                what: "only a PENDING job can be run".into(),
            }),
        }
    }

    fn check_owner_limits(&self, owner: Option<&str>) -> Result<(), JobError> {
        let max = self.settings.max_active_per_owner;
        if max > 0 {
            let n = self.store.active_count(owner)?;
            if n >= max as u64 {
                return Err(JobError::Limit(format!(
                    "you have {n} jobs queued or executing; the limit is {max}; wait for one to \
                     finish or abort one"
                )));
            }
        }
        let max = self.settings.max_result_bytes_per_owner;
        if max > 0 {
            let n = self.store.result_bytes(owner)?;
            if n >= max {
                return Err(JobError::Limit(format!(
                    "your stored results take {n} bytes; the limit is {max} bytes; delete jobs \
                     you no longer need"
                )));
            }
        }
        Ok(())
    }

    /// `PHASE=ABORT`. Aborting a finished job changes nothing.
    pub fn abort(&self, id: &str, owner: Option<&str>) -> Result<(), JobError> {
        self.get(id, owner)?;
        let change = Change {
            end: Some(now_secs()),
            ..Default::default()
        };
        match self.store.transition(id, Event::Abort, &change)? {
            Ok(_) => {
                self.cancel(id);
                self.notify();
                tracing::info!(job = %id, "job aborted");
                Ok(())
            }
            Err(Refused::NotFound) => Err(JobError::NotFound(id.to_string())),
            Err(Refused::Illegal(_)) => Ok(()),
        }
    }

    fn cancel(&self, id: &str) {
        let token = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        if let Some(t) = token {
            t.cancel();
        }
    }

    /// `DELETE` / `ACTION=DELETE`: stops the job and removes it and its files.
    pub fn delete(&self, id: &str, owner: Option<&str>) -> Result<(), JobError> {
        self.get(id, owner)?;
        self.destroy(id)
    }

    fn destroy(&self, id: &str) -> Result<(), JobError> {
        let existed = self.store.delete(id)?;
        self.cancel(id);
        self.notify();
        remove_quietly(&self.result_path(id));
        let _ = std::fs::remove_dir_all(self.uploads_dir(id));
        if existed {
            tracing::info!(job = %id, "job destroyed");
        }
        Ok(())
    }

    /// POST to `/parameters` (or extra TAP parameters on the job): only while PENDING.
    pub async fn set_parameters(
        &self,
        id: &str,
        owner: Option<&str>,
        params: Params,
    ) -> Result<(), JobError> {
        let job = self.get(id, owner)?;
        if !job.phase.accepts_parameters() {
            return Err(JobError::Conflict {
                id: id.to_string(),
                phase: job.phase,
                what: "parameters can only be changed while the job is PENDING".into(),
            });
        }
        if let Some(d) = one(&params, "destruction")? {
            let t = self.check_destruction(d)?;
            self.store.set_destruction(id, t)?;
        }
        if let Some(d) = one(&params, "executionduration")? {
            let s = self.check_duration(d)?;
            self.store.set_execution_duration(id, s)?;
        }
        let (parameters, run_id) = tap_parameters(&params, &job.parameters)?;
        let mut parts = job.upload_parts.clone();
        for p in self.store_parts(id, &params.files).await? {
            if !parts.contains(&p) {
                parts.push(p);
            }
        }
        let run_id = run_id.or(job.run_id);
        if !self
            .store
            .set_parameters(id, &parameters, &parts, run_id.as_deref())?
        {
            let phase = self.get(id, owner)?.phase;
            return Err(JobError::Conflict {
                id: id.to_string(),
                phase,
                what: "parameters can only be changed while the job is PENDING".into(),
            });
        }
        self.notify();
        Ok(())
    }

    /// POST `/destruction`.
    pub fn set_destruction(&self, id: &str, owner: Option<&str>, d: &str) -> Result<(), JobError> {
        self.get(id, owner)?;
        let t = self.check_destruction(d)?;
        self.store.set_destruction(id, t)?;
        Ok(())
    }

    /// POST `/executionduration` (before the job runs).
    pub fn set_execution_duration(
        &self,
        id: &str,
        owner: Option<&str>,
        d: &str,
    ) -> Result<(), JobError> {
        let job = self.get(id, owner)?;
        let s = self.check_duration(d)?;
        if !self.store.set_execution_duration(id, s)? {
            return Err(JobError::Conflict {
                id: id.to_string(),
                phase: job.phase,
                what: "the execution duration can only be changed before the job executes".into(),
            });
        }
        Ok(())
    }

    /// Blocking `WAIT` (UWS 1.1 §2.2.1.2): returns once the job leaves `from` (default: its
    /// current phase), at once if that phase is not an active one, or after `timeout`.
    pub async fn wait(
        &self,
        id: &str,
        owner: Option<&str>,
        timeout: Duration,
        from: Option<Phase>,
    ) -> Result<Job, JobError> {
        let mut rx = self.changes.subscribe();
        let job = self.get(id, owner)?;
        let from = from.unwrap_or(job.phase);
        if !from.is_active() || job.phase != from {
            return Ok(job);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // A shutdown ends blocking waits at once, so it is not held up by them.
            tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.changed()) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return self.get(id, owner),
                },
                _ = self.shutdown.cancelled() => return self.get(id, owner),
            }
            let job = self.get(id, owner)?;
            if job.phase != from {
                return Ok(job);
            }
        }
    }

    /// Launches the executor task of a QUEUED job.
    fn spawn(self: &Arc<Self>, id: String) {
        let token = self.shutdown.child_token();
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), token.clone());
        let me = self.clone();
        let span = tracing::info_span!("job", job = %id);
        tokio::spawn(
            async move {
                me.execute(&id, token).await;
                me.running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
            }
            .instrument(span),
        );
    }

    async fn execute(self: &Arc<Self>, id: &str, token: CancellationToken) {
        // Wait for a free executor; an ABORT or DELETE while QUEUED ends the wait.
        let _permit = tokio::select! {
            p = self.slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = token.cancelled() => return,
        };
        let start = Change {
            start: Some(now_secs()),
            ..Default::default()
        };
        match self.store.transition(id, Event::Start, &start) {
            Ok(Ok(_)) => self.notify(),
            Ok(Err(_)) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot start job");
                return;
            }
        }
        let job = match self.store.get(id) {
            Ok(Some(j)) => j,
            _ => return,
        };
        tracing::info!("job executing");
        let started = std::time::Instant::now();
        let duration = Duration::from_secs(job.execution_duration.max(1));
        let part = self.results_dir().join(format!("{id}.part"));
        let outcome = tokio::select! {
            r = self.produce(&job, &part) => Outcome::Done(r),
            _ = token.cancelled() => Outcome::Cancelled,
            _ = tokio::time::sleep(duration) => Outcome::TimedOut,
        };
        // The query's stream is dropped here (the select! dropped the losing future).
        if let Some(m) = self.metrics.get() {
            use crate::ops::{Outcome as O, Route};
            let (o, rows, bytes) = match &outcome {
                Outcome::Done(Ok(info)) => (O::Ok, info.rows, info.bytes),
                Outcome::Done(Err(_)) => (O::UserError, 0, 0),
                Outcome::Cancelled => (O::Cancelled, 0, 0),
                Outcome::TimedOut => (O::ResourceError, 0, 0),
            };
            m.query(Route::Async, o, started.elapsed());
            m.output(Route::Async, rows, bytes);
        }
        let now = now_secs();
        let final_path = self.result_path(id);
        let (event, change) = match outcome {
            Outcome::Done(Ok(info)) => (
                Event::Finish,
                Change {
                    end: Some(now),
                    result: Some(info),
                    ..Default::default()
                },
            ),
            Outcome::Done(Err(message)) => (
                Event::Fail,
                Change {
                    end: Some(now),
                    error: Some(message),
                    ..Default::default()
                },
            ),
            Outcome::Cancelled => {
                remove_quietly(&part);
                tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "job cancelled; query stopped"
                );
                return;
            }
            Outcome::TimedOut => (
                Event::Abort,
                Change {
                    end: Some(now),
                    error: Some(format!(
                        "the job exceeded its execution duration of {} s and was aborted",
                        job.execution_duration
                    )),
                    ..Default::default()
                },
            ),
        };
        remove_quietly(&part);
        match self.store.transition(id, event, &change) {
            Ok(Ok(phase)) => {
                tracing::info!(
                    %phase,
                    seconds = started.elapsed().as_secs_f64(),
                    "job finished"
                );
                if phase != Phase::Completed {
                    remove_quietly(&final_path);
                }
            }
            Ok(Err(r)) => {
                // Aborted or deleted meanwhile: its result must not stay behind.
                tracing::info!(refused = ?r, "job changed while finishing");
                remove_quietly(&final_path);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record the end of a job");
                remove_quietly(&final_path);
            }
        }
        self.notify();
    }

    /// Runs the job's query into `part`, then syncs and renames it into place.
    async fn produce(&self, job: &Job, part: &Path) -> Result<ResultInfo, String> {
        let params = Params::from_pairs(job.parameters.iter().cloned());
        let req = QueryRequest::from_params(&params, &self.limits).map_err(|e| e.to_string())?;
        let dir = self.uploads_dir(&job.id);
        let specs: Vec<String> = params.all("upload").into_iter().map(String::from).collect();
        let tables = upload::load(&specs, PartSource::Dir(&dir), &self.uploads)
            .await
            .map_err(|e| e.to_string())?;
        let result = self
            .engine
            .execute_with_uploads(&req.query, Some(req.maxrec.saturating_add(1)), tables)
            .await
            .map_err(|e| public(ServiceError::Query(e)))?;
        let infos = vec![
            Info::new("QUERY", req.query.clone()),
            Info::new("JOB_ID", job.id.clone()),
            Info::new(
                "server_software",
                format!("Parallax {}", env!("CARGO_PKG_VERSION")),
            ),
        ];
        let writer = parallax_formats::new_writer(req.format, result.schema, result.columns, infos)
            .map_err(|e| e.to_string())?;
        let internal = |e: std::io::Error| {
            tracing::error!(error = %e, "cannot write a result file");
            "internal error writing the result file; the operators have the details in their log"
                .to_string()
        };
        let file = tokio::fs::File::create(part).await.map_err(internal)?;
        let mut sink = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let summary =
            parallax_formats::write_stream_to(writer, result.stream, Some(req.maxrec), &mut sink)
                .await
                .map_err(|e| e.to_string())?;
        if let EndStatus::Error(m) = &summary.end {
            return Err(m.clone());
        }
        sink.flush().await.map_err(internal)?;
        let file = sink.into_inner();
        file.sync_all().await.map_err(internal)?;
        drop(file);
        let final_path = self.result_path(&job.id);
        tokio::fs::rename(part, &final_path)
            .await
            .map_err(internal)?;
        sync_dir(&self.results_dir()).await.map_err(internal)?;
        Ok(ResultInfo {
            content_type: req.content_type,
            rows: summary.rows,
            bytes: summary.bytes,
        })
    }
}

fn public(e: ServiceError) -> String {
    e.public_message()
}

fn one<'a>(p: &'a Params, name: &str) -> Result<Option<&'a str>, JobError> {
    p.get(name).map_err(|e| JobError::BadRequest(e.to_string()))
}

/// Job parameters as (lower-case name, value) pairs.
type Pairs = Vec<(String, String)>;

/// Merges the TAP parameters of `params` into `existing` (a later value replaces an earlier
/// one; UPLOAD accumulates). Returns them and the RUNID.
fn tap_parameters(
    params: &Params,
    existing: &[(String, String)],
) -> Result<(Pairs, Option<String>), JobError> {
    let mut out: Vec<(String, String)> = existing.to_vec();
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in params.pairs() {
        if CONTROL.contains(&k.as_str()) {
            continue;
        }
        if k != "upload" {
            if seen.contains(&k.as_str()) {
                return Err(JobError::BadRequest(format!(
                    "parameter {} is given more than once; it takes a single value",
                    k.to_ascii_uppercase()
                )));
            }
            seen.push(k);
            out.retain(|(ek, _)| ek != k);
        }
        out.push((k.clone(), v.clone()));
    }
    if let Some((_, r)) = out.iter().find(|(k, _)| k == "runid")
        && r.chars().count() > 64
    {
        return Err(JobError::BadRequest(
            "RUNID is limited to 64 characters".into(),
        ));
    }
    let run_id = out
        .iter()
        .find(|(k, _)| k == "runid")
        .map(|(_, v)| v.clone());
    Ok((out, run_id))
}

fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut n: u128 = rand::random();
    let mut s = String::with_capacity(16);
    for _ in 0..16 {
        s.push(char::from(ALPHABET[(n % 36) as usize]));
        n /= 36;
    }
    s
}

fn remove_quietly(p: &Path) {
    match std::fs::remove_file(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %p.display(), error = %e, "cannot remove file"),
    }
}

/// Writes `data` to `path` via a synced temporary file and a rename.
async fn write_durably(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("part");
    let mut f = tokio::fs::File::create(&tmp).await?;
    f.write_all(data).await?;
    f.sync_all().await?;
    drop(f);
    tokio::fs::rename(&tmp, path).await?;
    if let Some(dir) = path.parent() {
        sync_dir(dir).await?;
    }
    Ok(())
}

/// Makes a rename in `dir` durable.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

/// Valid job ids (checked before touching the file system with one).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(valid_id(&a));
        assert!(!valid_id("../x"));
    }

    #[test]
    fn parameters_merge_and_control_params_are_dropped() {
        let p = Params::from_pairs([
            ("QUERY".to_string(), "SELECT 1".to_string()),
            ("PHASE".to_string(), "RUN".to_string()),
            ("RUNID".to_string(), "r1".to_string()),
        ]);
        let (out, run) = tap_parameters(&p, &[]).unwrap();
        assert_eq!(run.as_deref(), Some("r1"));
        assert!(out.iter().all(|(k, _)| k != "phase"));
        let p2 = Params::from_pairs([("runId".to_string(), "r2".to_string())]);
        let (out2, run2) = tap_parameters(&p2, &out).unwrap();
        assert_eq!(run2.as_deref(), Some("r2"));
        assert_eq!(out2.iter().filter(|(k, _)| k == "runid").count(), 1);
    }
}
