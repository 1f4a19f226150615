//! The remote table provider and its scan: the SQL sent to a source (projection, pushed-down
//! filters, limit) and the execution plan node that streams the answer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DataFusionError, Result, ScalarValue};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::Dialect;
use futures::{StreamExt, TryStreamExt};

use super::RemoteError;

/// One remote source: how to write SQL for it and how to run a query there.
#[async_trait]
pub(crate) trait Backend: fmt::Debug + Send + Sync {
    /// The source name from the configuration.
    fn name(&self) -> &str;
    /// `postgres` or `flightsql`.
    fn kind(&self) -> &'static str;
    /// How long one wait (connecting, the next batch) may take.
    fn timeout(&self) -> Duration;
    /// The SQL dialect the source speaks.
    fn dialect(&self) -> &(dyn Dialect + Send + Sync);
    /// The SQL type a sub-query's output column of Arrow type `t` is cast to, when the
    /// source's own result type can differ from DataFusion's (PostgreSQL sums `bigint` into
    /// `numeric`); `None` to leave it as the source computes it.
    fn result_type(&self, _t: &DataType) -> Option<ast::DataType> {
        None
    }
    /// Runs `sql` and streams batches whose columns are, in order, those of `schema`.
    async fn query(
        &self,
        sql: String,
        schema: SchemaRef,
    ) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch, RemoteError>>, RemoteError>;
}

/// A remote table: its local schema (exposed columns only) and how to select each column.
#[derive(Debug)]
pub(crate) struct RemoteTable {
    pub(crate) backend: Arc<dyn Backend>,
    /// The quoted remote name, e.g. `"public"."psc"`.
    pub(crate) remote_name: String,
    /// The parts of the remote name, unquoted, e.g. `["public", "psc"]`.
    pub(crate) remote_parts: Vec<String>,
    pub(crate) schema: SchemaRef,
    /// Per column of `schema`: the SQL that selects it (a quoted name, or a conversion).
    pub(crate) select: Vec<String>,
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if pushable(f) && self.unparse(f).is_ok() {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let indices: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let schema = Arc::new(self.schema.project(&indices)?);
        let columns: Vec<String> = indices
            .iter()
            .map(|&i| {
                let name = quote(self.schema.field(i).name());
                let expr = &self.select[i];
                if *expr == name {
                    name
                } else {
                    format!("{expr} AS {name}")
                }
            })
            .collect();
        let mut sql = format!(
            "SELECT {} FROM {}",
            if columns.is_empty() {
                "1".to_string()
            } else {
                columns.join(", ")
            },
            self.remote_name
        );
        let mut conditions = Vec::new();
        for f in filters {
            conditions.push(format!("({})", self.unparse(f)?));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        Ok(Arc::new(RemoteScanExec::new(
            self.backend.clone(),
            sql,
            schema,
        )))
    }
}

impl RemoteTable {
    /// A filter as SQL of the source's dialect, with unqualified column names.
    fn unparse(&self, e: &Expr) -> Result<String> {
        let e = e
            .clone()
            .transform(|e| match e {
                Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                    c.name,
                )))),
                other => Ok(Transformed::no(other)),
            })?
            .data;
        let unparser = Unparser::new(self.backend.dialect());
        Ok(unparser.expr_to_sql(&e)?.to_string())
    }
}

/// A double-quoted SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether a filter may run at the source with the same meaning: comparisons, boolean logic,
/// `+ - *`, `BETWEEN`, `IN`, `LIKE`, `IS [NOT] NULL`, numeric casts, over columns and plain
/// literals. Anything else (our UDFs, division, string functions, ...) stays local.
pub(crate) fn pushable(e: &Expr) -> bool {
    let mut ok = true;
    let _ = e.apply(|e| {
        let this = match e {
            Expr::Column(_) => true,
            Expr::Literal(v, _) => {
                matches!(
                    v,
                    ScalarValue::Boolean(Some(_))
                        | ScalarValue::Int8(Some(_))
                        | ScalarValue::Int16(Some(_))
                        | ScalarValue::Int32(Some(_))
                        | ScalarValue::Int64(Some(_))
                        | ScalarValue::UInt8(Some(_))
                        | ScalarValue::UInt16(Some(_))
                        | ScalarValue::UInt32(Some(_))
                        | ScalarValue::Utf8(Some(_))
                        | ScalarValue::Utf8View(Some(_))
                        | ScalarValue::LargeUtf8(Some(_))
                ) || matches!(v, ScalarValue::Float64(Some(x)) if x.is_finite())
                    || matches!(v, ScalarValue::Float32(Some(x)) if x.is_finite())
            }
            Expr::BinaryExpr(b) => matches!(
                b.op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::And
                    | Operator::Or
                    | Operator::Plus
                    | Operator::Minus
                    | Operator::Multiply
            ),
            Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::Negative(_)
            | Expr::Between(_) => true,
            Expr::InList(l) => l.list.len() <= 1000,
            Expr::Like(l) => !l.case_insensitive && l.escape_char.is_none(),
            Expr::Cast(c) => c.field.data_type().is_numeric(),
            _ => false,
        };
        if this {
            Ok(TreeNodeRecursion::Continue)
        } else {
            ok = false;
            Ok(TreeNodeRecursion::Stop)
        }
    });
    ok
}

/// Runs one SQL query at a remote source and streams its rows.
#[derive(Debug)]
pub(crate) struct RemoteScanExec {
    backend: Arc<dyn Backend>,
    sql: String,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl RemoteScanExec {
    pub(crate) fn new(backend: Arc<dyn Backend>, sql: String, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            backend,
            sql,
            schema,
            properties,
        }
    }
}

impl DisplayAs for RemoteScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RemoteScanExec: source={} ({}), sql={}",
            self.backend.name(),
            self.backend.kind(),
            self.sql
        )
    }
}

impl ExecutionPlan for RemoteScanExec {
    fn name(&self) -> &'static str {
        "RemoteScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
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
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "RemoteScanExec has one partition, not {partition}"
            )));
        }
        let backend = self.backend.clone();
        let sql = self.sql.clone();
        let schema = self.schema.clone();
        tracing::debug!(source = backend.name(), %sql, "remote query");
        let out_schema = schema.clone();
        let stream = futures::stream::once(async move {
            let wait = backend.timeout();
            let name = backend.name().to_string();
            let rows = tokio::time::timeout(wait, backend.query(sql, schema.clone()))
                .await
                .map_err(|_| RemoteError::Timeout {
                    source_name: name.clone(),
                    seconds: wait.as_secs(),
                })??;
            // Every wait for the next batch is bounded too, so a source that stalls mid-way
            // gives an error naming it instead of a hung query.
            Ok::<_, RemoteError>(futures::stream::unfold(
                Some((rows, name, schema)),
                move |state| async move {
                    let (mut rows, name, schema) = state?;
                    match tokio::time::timeout(wait, rows.next()).await {
                        Err(_) => {
                            let e = RemoteError::Timeout {
                                source_name: name,
                                seconds: wait.as_secs(),
                            };
                            Some((Err(e), None))
                        }
                        Ok(None) => None,
                        Ok(Some(Ok(b))) => {
                            let b = conform(&schema, b, &name);
                            Some((b, Some((rows, name, schema))))
                        }
                        Ok(Some(Err(e))) => Some((Err(e), None)),
                    }
                },
            ))
        })
        .try_flatten()
        .map_err(DataFusionError::from);
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)))
    }
}

/// Puts a batch from the source under the local schema (names and metadata), checking types.
fn conform(
    schema: &SchemaRef,
    batch: RecordBatch,
    source: &str,
) -> Result<RecordBatch, RemoteError> {
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    let columns = if schema.fields().is_empty() {
        Vec::new()
    } else {
        batch.columns().to_vec()
    };
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| {
        RemoteError::Remote {
            source_name: source.to_string(),
            message: format!("the answer does not match the table's columns: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::pushable;

    #[test]
    fn only_portable_filters_are_pushed() {
        assert!(pushable(&col("j_m").lt(lit(12.25))));
        assert!(pushable(
            &col("a")
                .between(lit(1), lit(2))
                .and(col("b").like(lit("J%")))
        ));
        assert!(pushable(&col("a").in_list(vec![lit(1), lit(2)], false)));
        assert!(pushable(
            &(col("a") * lit(2)).gt(col("b")).or(col("c").is_null())
        ));
        // Division and functions stay local; so does NaN, which SQL cannot write portably.
        assert!(!pushable(&(col("a") / lit(2)).gt(lit(1))));
        assert!(!pushable(
            &datafusion::functions::expr_fn::abs(col("a")).gt(lit(1))
        ));
        assert!(!pushable(&col("a").lt(lit(f64::NAN))));
        assert!(!pushable(&col("a").ilike(lit("j%"))));
    }
}
