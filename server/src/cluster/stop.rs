//! Cancellation that really stops an executor's work.
//!
//! Ballista 55 cancels a task by aborting the future that drives it, but that future only
//! waits: the stage's output partitions are computed in tasks it spawned with
//! `tokio::spawn`, which an abort does not reach, so a cancelled job kept its executors busy
//! until each stage finished. This executor engine wraps Ballista's own: every operator of a
//! stage reads its inputs through [`StopOnCancelExec`], and the stage's future raises the
//! stop flag when it is dropped before its end (cancelled), so the spawned work fails at the
//! next batch handed between operators.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use ballista_core::JobId;
use ballista_core::serde::protobuf::{ShuffleWritePartition, TaskColumnStats};
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{
    ChildrenPropertiesMode, ReplaceChildrenOptions, replace_children_if_necessary,
};
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::SessionConfig;
use futures::Stream;

/// Raised when the stage's task is cancelled.
type StopFlag = Arc<AtomicBool>;

/// Passes its input's batches through until the stop flag is raised, then fails.
#[derive(Debug)]
pub struct StopOnCancelExec {
    input: Arc<dyn ExecutionPlan>,
    stop: StopFlag,
}

impl StopOnCancelExec {
    fn new(input: Arc<dyn ExecutionPlan>, stop: StopFlag) -> Self {
        Self { input, stop }
    }
}

impl DisplayAs for StopOnCancelExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "StopOnCancelExec")
    }
}

impl ExecutionPlan for StopOnCancelExec {
    fn name(&self) -> &'static str {
        "StopOnCancelExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self::new(input, Arc::clone(&self.stop)))),
            _ => Err(DataFusionError::Internal(
                "StopOnCancelExec has exactly one child".into(),
            )),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(StopOnCancelStream {
            inner: self.input.execute(partition, context)?,
            stop: Arc::clone(&self.stop),
        }))
    }
}

struct StopOnCancelStream {
    inner: SendableRecordBatchStream,
    stop: StopFlag,
}

impl Stream for StopOnCancelStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stop.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(DataFusionError::Execution(
                "the task was cancelled".into(),
            ))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for StopOnCancelStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// Every operator's inputs read through [`StopOnCancelExec`] with `stop`.
fn wrap(plan: Arc<dyn ExecutionPlan>, stop: &StopFlag) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if node.children().is_empty() || node.is::<StopOnCancelExec>() {
            return Ok(Transformed::no(node));
        }
        let children = node
            .children()
            .into_iter()
            .map(|c| {
                if c.is::<StopOnCancelExec>() {
                    Arc::clone(c)
                } else {
                    Arc::new(StopOnCancelExec::new(Arc::clone(c), Arc::clone(stop)))
                        as Arc<dyn ExecutionPlan>
                }
            })
            .collect();
        Ok(Transformed::yes(replace_children_if_necessary(
            node, children,
        )?))
    })
    .map(|t| t.data)
}

/// Ballista's execution engine with stages that stop when cancelled, refusing tasks planned
/// by a front end of another Parallax version ([`super::version::check`]).
pub struct StoppableEngine {
    inner: DefaultExecutionEngine,
    /// This executor in error messages ("the executor at HOST:PORT").
    who: String,
}

impl StoppableEngine {
    /// The engine of the executor called `who` in error messages.
    pub fn new(who: String) -> Self {
        Self {
            inner: DefaultExecutionEngine::default(),
            who,
        }
    }
}

impl ExecutionEngine for StoppableEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        super::version::check(config, &self.who)?;
        let stop = StopFlag::default();
        let plan = wrap(plan, &stop)?;
        let inner = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StoppableStage {
            inner,
            stop,
            who: self.who.clone(),
        }))
    }
}

/// Says which executor failed to read a catalogue file: the catalogue must be visible at the
/// same path on every executor, and Ballista's job failure does not name the executor of the
/// task. Only errors of reading Parquet files through the object store are rewritten (they
/// reach here inside Ballista's own error type, so they are recognised by their text); other
/// errors keep their type, which Ballista's retry of lost shuffle data depends on.
fn name_the_executor(e: DataFusionError, who: &str) -> DataFusionError {
    let text = e.to_string();
    if text.contains("Object Store error") || text.contains("Parquet error") {
        DataFusionError::Execution(format!("{who} could not read the data: {text}"))
    } else {
        e
    }
}

/// A stage whose work stops when the future running it is dropped before its end.
#[derive(Debug)]
struct StoppableStage {
    inner: Arc<dyn QueryStageExecutor>,
    stop: StopFlag,
    /// The executor, for errors that depend on where the task ran.
    who: String,
}

impl fmt::Display for StoppableStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// Raises the flag when dropped, unless disarmed.
struct RaiseOnDrop(Option<StopFlag>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for StoppableStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        let mut guard = RaiseOnDrop(Some(Arc::clone(&self.stop)));
        let result = self.inner.execute_query_stage(task_id, context).await;
        guard.0 = None;
        result.map_err(|e| name_the_executor(e, &self.who))
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(
        &self,
    ) -> Vec<ballista_core::serde::protobuf::RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(
        &self,
    ) -> Result<Vec<ballista_core::serde::protobuf::WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}
