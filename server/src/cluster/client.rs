//! The front end's side of a Ballista cluster: reachability checks with a deadline, and
//! result streams that cancel their Ballista job when dropped (Ballista 55 leaves the job
//! running when the client stops reading; the scheduler's `CancelJob` stops its tasks).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::Stream;

/// How long connecting to the scheduler may take before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A Ballista scheduler address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduler {
    /// Host name or IP address.
    pub host: String,
    /// gRPC port.
    pub port: u16,
}

impl Scheduler {
    /// `df://host:port`, the form Ballista's client takes.
    pub fn url(&self) -> String {
        format!("df://{}:{}", self.host, self.port)
    }

    fn http(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Fails, within [`CONNECT_TIMEOUT`], when nothing accepts connections at the address.
    pub async fn check(&self) -> std::result::Result<(), String> {
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "the Ballista scheduler at {} is unreachable: {e}",
                self.url()
            )),
            Err(_) => Err(format!(
                "the Ballista scheduler at {} did not answer within {} s",
                self.url(),
                CONNECT_TIMEOUT.as_secs()
            )),
        }
    }

    /// The scheduler's readiness line (`ready: N executors registered`), within a deadline.
    pub async fn readiness(&self) -> std::result::Result<String, String> {
        self.check().await?;
        let client = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client
            .get(format!("{}/readyz", self.http()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the Ballista scheduler at {} did not answer: {e}",
                    self.url()
                )
            })?;
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok(text.trim().to_string())
    }

    /// How many executors the scheduler has registered (from its readiness line).
    pub async fn executors(&self) -> std::result::Result<usize, String> {
        let line = self.readiness().await?;
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected readiness line from the scheduler: {line}"))
    }

    /// Asks the scheduler to cancel a job (its running tasks stop on the executors).
    pub async fn cancel(&self, job_id: &str) -> std::result::Result<(), String> {
        let endpoint = tonic::transport::Endpoint::from_shared(self.http())
            .map_err(|e| e.to_string())?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CONNECT_TIMEOUT);
        let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
        let mut client = SchedulerGrpcClient::new(channel);
        client
            .cancel_job(CancelJobParams {
                job_id: job_id.to_string(),
            })
            .await
            .map_err(|e| e.message().to_string())?;
        Ok(())
    }
}

/// The Ballista job id of an executing plan, once the scheduler has accepted it.
pub fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(q) = node.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>() {
            return q.job_id().map(|id| id.to_string());
        }
        stack.extend(node.children().into_iter().cloned());
    }
    None
}

/// Whether a job's error is the gRPC connection to the scheduler breaking (rather than the
/// query failing).
fn lost_connection(e: &DataFusionError) -> bool {
    let text = e.to_string();
    [
        "h2 protocol error",
        "transport error",
        "broken pipe",
        "Connection refused",
        "connection reset",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// A result stream of a Ballista job that cancels the job when dropped before its end.
pub struct JobStream {
    inner: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    scheduler: Arc<Scheduler>,
    finished: bool,
}

impl JobStream {
    /// Wraps the stream of `plan` (whose root runs on the cluster).
    pub fn new(
        inner: SendableRecordBatchStream,
        plan: Arc<dyn ExecutionPlan>,
        scheduler: Arc<Scheduler>,
    ) -> Self {
        Self {
            inner,
            plan,
            scheduler,
            finished: false,
        }
    }
}

impl Stream for JobStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        match item {
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) if lost_connection(&e) => {
                // The scheduler went away (crashed or restarted): say so, as "unavailable"
                // (HTTP 503), rather than with the gRPC transport's words.
                let msg = format!(
                    "lost the connection to the Ballista scheduler at {} while the query ran \
                     ({}); run it again once the cluster is back",
                    self.scheduler.url(),
                    e.find_root()
                );
                self.finished = true;
                Poll::Ready(Some(Err(DataFusionError::IoError(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    msg,
                )))))
            }
            other => other,
        }
    }
}

impl RecordBatchStream for JobStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for JobStream {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(job) = job_id(&self.plan) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let scheduler = Arc::clone(&self.scheduler);
        rt.spawn(async move {
            match scheduler.cancel(&job).await {
                Ok(()) => tracing::info!(job = %job, "cancelled the Ballista job"),
                Err(e) => {
                    tracing::warn!(job = %job, error = %e, "could not cancel the Ballista job")
                }
            }
        });
    }
}
