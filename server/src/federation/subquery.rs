//! Sub-query pushdown: the largest parts of a plan that read tables of one remote source only,
//! and that the source's SQL can say, run there as one query.
//!
//! [`RemoteSubqueries`] is a logical optimizer rule that runs after DataFusion's own, so
//! column lists, filters and limits already sit in the remote table scans. Walking down from
//! the root, it takes the first sub-plan whose every leaf is a [`RemoteTable`] of the same
//! source and whose every node is a join, filter, projection, aggregate (`COUNT`, `SUM`,
//! `MIN`, `MAX`, `AVG`), sort, limit or alias over portable expressions (those
//! [`pushable`] accepts for scans: no functions at all, so none of ours). If that sub-plan
//! joins, aggregates or sorts, it is unparsed with DataFusion's `Unparser` in the source's
//! dialect and replaced by a scan of a [`RemoteQuery`] that sends the SQL and streams the
//! answer through the same [`RemoteScanExec`] as a table scan (same timeouts, same errors).
//! Anything else is left to the per-table pushdown of [`RemoteTable`].
//!
//! The replacement has exactly the sub-plan's schema: a projection renames the scan's
//! columns back to their qualified names, the top-level select list is cast to the types
//! DataFusion planned where the source could compute another ([`Backend::result_type`]),
//! and a sort of the sub-plan's output is applied again locally, because nothing tells
//! DataFusion that the rows arrive sorted.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, NullEquality, Result, TableReference};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::{
    Expr, ExprSchemable, FetchType, JoinType, Limit, LogicalPlan, LogicalPlanBuilder, Projection,
    SkipType, Sort, SortExpr, TableScan, TableType,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as ColumnExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::sql::sqlparser::ast::{self, VisitMut, VisitorMut};
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::Dialect;

use super::scan::{Backend, RemoteScanExec, RemoteTable, pushable, quote};

/// The rule's name in DataFusion's optimizer (and in `EXPLAIN VERBOSE`).
pub(crate) const RULE_NAME: &str = "parallax_remote_subqueries";

/// Aggregate functions every SQL source has, with the same meaning.
const STANDARD_AGGREGATES: &[&str] = &["count", "sum", "min", "max", "avg"];

/// Sends whole sub-plans over one remote source to that source (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct RemoteSubqueries;

impl OptimizerRule for RemoteSubqueries {
    fn name(&self) -> &str {
        RULE_NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        // The rule walks the plan itself: it must see a sub-plan before its children.
        None
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        push_down(plan)
    }
}

/// Replaces the largest sendable sub-plans, top down.
fn push_down(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if let Some(c) = candidate(&plan) {
        if !c.worth {
            // Its parts are worth even less: the table scans already push what they can.
            return Ok(Transformed::no(plan));
        }
        match replacement(&plan, &c.backend) {
            Ok(Some(new)) => return Ok(Transformed::yes(new)),
            Ok(None) => {}
            // The sub-plan stays local; the rule never fails a query.
            Err(e) => tracing::debug!(
                source = c.backend.name(),
                error = %e,
                "sub-query not sent to its source"
            ),
        }
    }
    plan.map_children(push_down)
}

/// A sub-plan that could run at one source.
struct Candidate {
    backend: Arc<dyn Backend>,
    /// It joins, aggregates or sorts (or limits more than a scan): sending it saves rows.
    worth: bool,
}

impl Candidate {
    fn or_worth(self, worth: bool) -> Self {
        Self {
            worth: self.worth || worth,
            ..self
        }
    }
}

fn same_source(a: &Arc<dyn Backend>, b: &Arc<dyn Backend>) -> bool {
    // Every table of a source shares its backend.
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// The remote table a scan reads, if it is one.
fn remote_table(scan: &TableScan) -> Option<Arc<dyn TableProvider>> {
    let provider = source_as_provider(&scan.source).ok()?;
    provider.is::<RemoteTable>().then_some(provider)
}

/// `Some` when all of `plan` can run at one source.
fn candidate(plan: &LogicalPlan) -> Option<Candidate> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let provider = remote_table(scan)?;
            let table = provider.downcast_ref::<RemoteTable>()?;
            // Only columns selected as they are: a conversion (`numeric::float8`, dates) is
            // something the unparser would not write.
            let mut used: Vec<usize> = match &scan.projection {
                Some(p) => p.clone(),
                None => (0..table.schema.fields().len()).collect(),
            };
            for f in &scan.filters {
                if !pushable(f) {
                    return None;
                }
                for c in f.column_refs() {
                    used.push(table.schema.index_of(&c.name).ok()?);
                }
            }
            let plain = used
                .iter()
                .all(|&i| table.select.get(i) == Some(&quote(table.schema.field(i).name())));
            plain.then(|| Candidate {
                backend: table.backend.clone(),
                worth: false,
            })
        }
        LogicalPlan::Projection(p) => {
            if !p.expr.iter().all(|e| pushable(unalias(e))) {
                return None;
            }
            candidate(&p.input)
        }
        LogicalPlan::Filter(f) => {
            if !pushable(&f.predicate) {
                return None;
            }
            candidate(&f.input)
        }
        LogicalPlan::SubqueryAlias(a) => candidate(&a.input),
        LogicalPlan::Sort(s) => {
            let schema = s.input.schema();
            let ok = s
                .expr
                .iter()
                .all(|k| pushable(&k.expr) && !is_string(&k.expr, schema));
            if !ok {
                return None;
            }
            Some(candidate(&s.input)?.or_worth(true))
        }
        LogicalPlan::Limit(l) => {
            let literal = matches!(l.get_skip_type(), Ok(SkipType::Literal(_)))
                && matches!(l.get_fetch_type(), Ok(FetchType::Literal(_)));
            if !literal {
                return None;
            }
            Some(candidate(&l.input)?.or_worth(!is_scan(&l.input)))
        }
        LogicalPlan::Aggregate(a) => {
            let schema = a.input.schema();
            let ok = a.group_expr.iter().all(pushable)
                && a.aggr_expr.iter().all(|e| is_standard_aggregate(e, schema));
            if !ok {
                return None;
            }
            Some(candidate(&a.input)?.or_worth(true))
        }
        LogicalPlan::Join(j) => {
            let conditions = j.on.iter().all(|(l, r)| pushable(l) && pushable(r))
                && j.filter.as_ref().is_none_or(pushable)
                && j.null_equality == NullEquality::NullEqualsNothing;
            // The unparser moves the filters of a scan under a join into ON for outer joins:
            // right for the side that may be null-extended, wrong for the preserved side. It
            // writes left-deep join trees: the right side must be a relation.
            let shape = match j.join_type {
                JoinType::Inner => true,
                JoinType::Left => !has_scan_filters(&j.left),
                JoinType::Right => !has_scan_filters(&j.right),
                JoinType::Full => !has_scan_filters(&j.left) && !has_scan_filters(&j.right),
                _ => false,
            } && is_join_side(&j.left, true)
                && is_join_side(&j.right, false);
            if !conditions || !shape {
                return None;
            }
            let left = candidate(&j.left)?;
            let right = candidate(&j.right)?;
            same_source(&left.backend, &right.backend).then(|| left.or_worth(true))
        }
        _ => None,
    }
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

/// Strings sort and compare by the source's collation (PostgreSQL's is the locale's), not
/// byte-wise as here: sorts and `MIN`/`MAX` of strings stay local.
fn is_string(e: &Expr, schema: &DFSchema) -> bool {
    match e.get_type(schema) {
        Ok(t) => matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        Err(_) => true,
    }
}

fn is_standard_aggregate(e: &Expr, schema: &DFSchema) -> bool {
    let Expr::AggregateFunction(f) = unalias(e) else {
        return false;
    };
    let name = f.func.name();
    let p = &f.params;
    STANDARD_AGGREGATES.contains(&name)
        && p.filter.is_none()
        && p.order_by.is_empty()
        && p.null_treatment.is_none()
        && p.args.iter().all(pushable)
        && !(matches!(name, "min" | "max") && p.args.iter().any(|a| is_string(a, schema)))
}

/// A scan, possibly under projections, filters, aliases and limits.
fn is_scan(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::Projection(p) => is_scan(&p.input),
        LogicalPlan::Filter(f) => is_scan(&f.input),
        LogicalPlan::SubqueryAlias(a) => is_scan(&a.input),
        LogicalPlan::Limit(l) => is_scan(&l.input),
        _ => false,
    }
}

/// A scan with filters, possibly under filters and an alias (what the unparser folds into
/// a join's condition).
fn has_scan_filters(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Filter(_) => true,
        LogicalPlan::SubqueryAlias(a) => has_scan_filters(&a.input),
        LogicalPlan::TableScan(s) => !s.filters.is_empty(),
        _ => false,
    }
}

/// What the unparser writes as one side of a join: a table or an aliased sub-query, or on
/// the left, another join.
fn is_join_side(plan: &LogicalPlan, left: bool) -> bool {
    match plan {
        LogicalPlan::TableScan(_) | LogicalPlan::SubqueryAlias(_) => true,
        LogicalPlan::Join(_) => left,
        LogicalPlan::Filter(f) => is_join_side(&f.input, left),
        _ => false,
    }
}

/// The plan that runs `plan` at `backend`, or `None` when its SQL would not mean the same.
fn replacement(plan: &LogicalPlan, backend: &Arc<dyn Backend>) -> Result<Option<LogicalPlan>> {
    let Some(order) = ordering(plan) else {
        return Ok(None);
    };
    if !distinct_relation_names(plan) || !distinct_derived_columns(plan, true) {
        return Ok(None);
    }
    let mut leaves = Vec::new();
    collect_leaves(plan, &mut leaves);
    let dialect = backend.dialect();
    let mut statement = Unparser::new(dialect).plan_to_sql(&with_select_list(plan.clone())?)?;
    let mut rename = Rename {
        leaves: &mut leaves,
        dialect,
    };
    if statement.visit(&mut rename).is_break() || !leaves.iter().all(|l| l.found) {
        return Ok(None);
    }
    if !cast_outputs(&mut statement, plan.schema(), backend.as_ref()) {
        return Ok(None);
    }
    let sql = statement.to_string();
    let new = remote_query(plan.schema(), backend.clone(), sql, order)?;
    // Exactly the same columns (qualifiers, names, types, nullability, metadata), or nothing.
    let same = new.schema().iter().eq(plan.schema().iter());
    Ok(same.then_some(new))
}

/// The order of `plan`'s rows as sort keys over its output columns: `Some(None)` when it
/// has none, `None` when its output cannot express it.
fn ordering(plan: &LogicalPlan) -> Option<Option<Vec<SortExpr>>> {
    match plan {
        LogicalPlan::Sort(s) => Some(Some(s.expr.clone())),
        LogicalPlan::Limit(l) => ordering(&l.input),
        LogicalPlan::Filter(f) => ordering(&f.input),
        LogicalPlan::Projection(p) => match ordering(&p.input)? {
            None => Some(None),
            Some(keys) => {
                let mapped = keys.into_iter().map(|k| {
                    let Expr::Column(c) = &k.expr else {
                        return None;
                    };
                    let i = p
                        .expr
                        .iter()
                        .position(|e| matches!(unalias(e), Expr::Column(x) if same_column(x, c)))?;
                    let (q, f) = p.schema.qualified_field(i);
                    Some(SortExpr::new(
                        Expr::Column(Column::new(q.cloned(), f.name())),
                        k.asc,
                        k.nulls_first,
                    ))
                });
                Some(Some(mapped.collect::<Option<Vec<_>>>()?))
            }
        },
        LogicalPlan::SubqueryAlias(a) => match ordering(&a.input)? {
            None => Some(None),
            Some(keys) => {
                let mapped = keys.into_iter().map(|k| {
                    let Expr::Column(c) = &k.expr else {
                        return None;
                    };
                    let i = a.input.schema().index_of_column(c).ok()?;
                    let (q, f) = a.schema.qualified_field(i);
                    Some(SortExpr::new(
                        Expr::Column(Column::new(q.cloned(), f.name())),
                        k.asc,
                        k.nulls_first,
                    ))
                });
                Some(Some(mapped.collect::<Option<Vec<_>>>()?))
            }
        },
        // Joins and aggregates give no order in SQL.
        _ => Some(None),
    }
}

fn same_column(a: &Column, b: &Column) -> bool {
    a.relation == b.relation && a.name == b.name
}

/// Whether the relations of each `FROM` have distinct names: the unparser qualifies a
/// column by the last part of its table's name only.
fn distinct_relation_names(plan: &LogicalPlan) -> bool {
    fn scope(plan: &LogicalPlan, names: &mut HashSet<String>) -> bool {
        match plan {
            LogicalPlan::TableScan(s) => names.insert(s.table_name.table().to_string()),
            LogicalPlan::SubqueryAlias(a) => {
                names.insert(a.alias.table().to_string())
                    && (matches!(a.input.as_ref(), LogicalPlan::TableScan(_))
                        || distinct_relation_names(&a.input))
            }
            other => other.inputs().into_iter().all(|i| scope(i, names)),
        }
    }
    scope(plan, &mut HashSet::new())
}

/// Whether each part of `plan` below its top-level select that the unparser may write as a
/// derived table has distinct column names: the enclosing select names them unqualified.
fn distinct_derived_columns(plan: &LogicalPlan, top: bool) -> bool {
    let derivable = matches!(
        plan,
        LogicalPlan::Projection(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::SubqueryAlias(_)
    );
    let fields = plan.schema().fields();
    let distinct = fields
        .iter()
        .map(|f| f.name())
        .collect::<HashSet<_>>()
        .len()
        == fields.len();
    // The top-level select: an alias, sorts and limits, then a projection with the
    // aggregate (and `HAVING` filter) it folds in.
    let below_top = top
        && match plan {
            LogicalPlan::SubqueryAlias(_) | LogicalPlan::Sort(_) | LogicalPlan::Limit(_) => true,
            LogicalPlan::Projection(p) => {
                matches!(
                    p.input.as_ref(),
                    LogicalPlan::Aggregate(_) | LogicalPlan::Filter(_)
                )
            }
            LogicalPlan::Filter(f) => matches!(f.input.as_ref(), LogicalPlan::Aggregate(_)),
            _ => false,
        };
    (top || !derivable || distinct)
        && plan
            .inputs()
            .into_iter()
            .all(|i| distinct_derived_columns(i, below_top))
}

/// A remote table read by the sub-plan, under its local and remote names.
struct Leaf {
    /// The local name's parts (`twomass`, `psc`) as the unparser writes them.
    local: Vec<String>,
    /// The remote name's parts (`public`, `psc`).
    remote: Vec<String>,
    /// What the sub-plan's columns are qualified with when the table has no alias.
    table: String,
    found: bool,
}

fn collect_leaves(plan: &LogicalPlan, out: &mut Vec<Leaf>) {
    if let LogicalPlan::TableScan(scan) = plan {
        let local = scan.table_name.to_vec();
        let remote = remote_table(scan).and_then(|p| {
            p.downcast_ref::<RemoteTable>()
                .map(|t| t.remote_parts.clone())
        });
        if let Some(remote) = remote
            && !out.iter().any(|l| l.local == local)
        {
            out.push(Leaf {
                local,
                remote,
                table: scan.table_name.table().to_string(),
                found: false,
            });
        }
    }
    for input in plan.inputs() {
        collect_leaves(input, out);
    }
}

/// Renames the local tables of an unparsed statement to their remote names, keeping the
/// local name as alias; breaks on a table it does not know.
struct Rename<'a> {
    leaves: &'a mut [Leaf],
    dialect: &'a (dyn Dialect + Send + Sync),
}

impl VisitorMut for Rename<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut ast::TableFactor) -> ControlFlow<()> {
        let ast::TableFactor::Table { name, alias, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let parts: Option<Vec<String>> = name
            .0
            .iter()
            .map(|p| p.as_ident().map(|i| i.value.clone()))
            .collect();
        let Some(leaf) = parts.and_then(|p| self.leaves.iter_mut().find(|l| l.local == p)) else {
            return ControlFlow::Break(());
        };
        leaf.found = true;
        let remote: Vec<ast::Ident> = leaf
            .remote
            .iter()
            .map(|r| ast::Ident::with_quote('"', r))
            .collect();
        *name = ast::ObjectName::from(remote);
        if alias.is_none() {
            let ident = match self.dialect.identifier_quote_style(&leaf.table) {
                Some(q) => ast::Ident::with_quote(q, &leaf.table),
                None => ast::Ident::new(&leaf.table),
            };
            *alias = Some(ast::TableAlias {
                explicit: true,
                name: ident,
                columns: vec![],
                at: None,
            });
        }
        ControlFlow::Continue(())
    }
}

/// `plan` with a projection listing its output columns in order at the top of its select
/// (below sorts and limits, which the unparser folds into the same `SELECT`). The unparser
/// otherwise writes an aggregate's columns in another order, or `*`.
fn with_select_list(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        // A top-level alias only renames qualifiers.
        LogicalPlan::SubqueryAlias(a) => with_select_list(Arc::unwrap_or_clone(a.input)),
        other => below_sorts_and_limits(other),
    }
}

fn below_sorts_and_limits(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Sort(s) => Ok(LogicalPlan::Sort(Sort {
            input: Arc::new(below_sorts_and_limits(Arc::unwrap_or_clone(s.input))?),
            ..s
        })),
        LogicalPlan::Limit(l) => Ok(LogicalPlan::Limit(Limit {
            input: Arc::new(below_sorts_and_limits(Arc::unwrap_or_clone(l.input))?),
            ..l
        })),
        LogicalPlan::Projection(_) => Ok(plan),
        other => {
            let columns = other
                .schema()
                .iter()
                .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                .collect();
            Ok(LogicalPlan::Projection(Projection::try_new(
                columns,
                Arc::new(other),
            )?))
        }
    }
}

/// Casts each column of the top-level select list to the type the backend must return it
/// in; `false` when the list is not one item per column.
fn cast_outputs(statement: &mut ast::Statement, schema: &DFSchema, backend: &dyn Backend) -> bool {
    let ast::Statement::Query(query) = statement else {
        return false;
    };
    let ast::SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    if select.projection.len() != schema.fields().len() {
        return false;
    }
    for (item, field) in select.projection.iter_mut().zip(schema.fields()) {
        let expr = match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => return false,
        };
        if let Some(data_type) = backend.result_type(field.data_type()) {
            *expr = ast::Expr::Cast {
                kind: ast::CastKind::Cast,
                expr: Box::new(expr.clone()),
                data_type,
                array: false,
                format: None,
            };
        }
    }
    true
}

/// A scan of `sql` at `backend` with the columns of `schema`, renamed back to them, and
/// sorted again by `order`.
fn remote_query(
    schema: &DFSchema,
    backend: Arc<dyn Backend>,
    sql: String,
    order: Option<Vec<SortExpr>>,
) -> Result<LogicalPlan> {
    // A scan's columns need distinct names; a join's output may repeat one.
    let mut used = HashSet::new();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut name = f.name().clone();
            if !used.insert(name.clone()) {
                name = format!("{name}#{i}");
                used.insert(name.clone());
            }
            f.as_ref().clone().with_name(name)
        })
        .collect();
    let table = TableReference::bare(format!("remote {}", backend.name()));
    let provider = Arc::new(RemoteQuery {
        backend,
        sql,
        schema: Arc::new(Schema::new(fields.clone())),
    });
    let renamed: Vec<Expr> = schema
        .iter()
        .zip(&fields)
        .map(|((q, f), scanned)| {
            Expr::Column(Column::new(Some(table.clone()), scanned.name()))
                .alias_qualified(q.cloned(), f.name())
        })
        .collect();
    let scan = LogicalPlanBuilder::scan(table, provider_as_source(provider), None)?.build()?;
    let plan = LogicalPlan::Projection(Projection::try_new(renamed, Arc::new(scan))?);
    match order {
        Some(keys) => LogicalPlanBuilder::from(plan).sort(keys)?.build(),
        None => Ok(plan),
    }
}

/// The answer of one SQL query at a remote source, as a table.
#[derive(Debug)]
pub(crate) struct RemoteQuery {
    backend: Arc<dyn Backend>,
    sql: String,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for RemoteQuery {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let exec: Arc<dyn ExecutionPlan> = Arc::new(RemoteScanExec::new(
            self.backend.clone(),
            self.sql.clone(),
            self.schema.clone(),
        ));
        let all = 0..self.schema.fields().len();
        match projection {
            // Later optimizer passes may drop columns no one reads; the SQL stays as it is
            // (its rows may be sorted) and the columns are dropped here.
            Some(p) if !p.iter().copied().eq(all) => {
                let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = p
                    .iter()
                    .map(|&i| {
                        let name = self.schema.field(i).name().clone();
                        (
                            Arc::new(ColumnExpr::new(&name, i)) as Arc<dyn PhysicalExpr>,
                            name,
                        )
                    })
                    .collect();
                Ok(Arc::new(ProjectionExec::try_new(exprs, exec)?))
            }
            _ => Ok(exec),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The rule against a "remote" DataFusion session: every query gives the same answer as
    //! over local copies of the tables, and the statements the source receives show what ran
    //! there.

    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use datafusion::arrow::array::{
        ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    };
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
    use datafusion::common::DataFusionError;
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use datafusion::sql::unparser::dialect::DefaultDialect;
    use futures::stream::BoxStream;
    use futures::{StreamExt, TryStreamExt};

    use super::*;
    use crate::federation::RemoteError;

    /// A source that is another DataFusion session, recording the SQL it gets.
    struct Session2 {
        ctx: SessionContext,
        sent: Mutex<Vec<String>>,
    }

    impl std::fmt::Debug for Session2 {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Session2")
        }
    }

    impl Session2 {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.sent.lock().expect("lock"))
        }
    }

    #[async_trait]
    impl Backend for Session2 {
        fn name(&self) -> &str {
            "node2"
        }

        fn kind(&self) -> &'static str {
            "flightsql"
        }

        fn timeout(&self) -> Duration {
            Duration::from_secs(10)
        }

        fn dialect(&self) -> &(dyn Dialect + Send + Sync) {
            &DefaultDialect {}
        }

        async fn query(
            &self,
            sql: String,
            _schema: SchemaRef,
        ) -> Result<BoxStream<'static, Result<RecordBatch, RemoteError>>, RemoteError> {
            self.sent.lock().expect("lock").push(sql.clone());
            let failed = |e: DataFusionError| RemoteError::Remote {
                source_name: "node2".into(),
                message: e.to_string(),
            };
            let df = self.ctx.sql(&sql).await.map_err(failed)?;
            let stream = df.execute_stream().await.map_err(failed)?;
            Ok(stream.map_err(failed).boxed())
        }
    }

    fn session() -> SessionContext {
        SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1))
    }

    /// `psc` (with a column the source selects through a conversion, `k_m`) and `obs`:
    /// magnitudes are multiples of 1/4, so sums and averages are exact in any order.
    fn tables() -> Vec<(&'static str, RecordBatch, Vec<String>)> {
        let unit = HashMap::from([("unit".to_string(), "deg".to_string())]);
        let psc = Schema::new(vec![
            Field::new("designation", DataType::Utf8, false),
            Field::new("ra", DataType::Float64, false).with_metadata(unit),
            Field::new("j_m", DataType::Float32, true),
            Field::new("qual", DataType::Utf8, true),
            Field::new("k_m", DataType::Float64, true),
        ]);
        let n = 12;
        let psc = RecordBatch::try_new(
            Arc::new(psc),
            vec![
                arr(StringArray::from_iter_values(
                    (0..n).map(|i| format!("J{i:02}")),
                )),
                arr(Float64Array::from_iter_values(
                    (0..n).map(|i| 10.0 + i as f64 * 0.5),
                )),
                arr(Float32Array::from_iter(
                    (0..n).map(|i| (i != 5).then_some(9.0 + i as f32 * 0.25)),
                )),
                arr(StringArray::from_iter((0..n).map(|i| {
                    (i != 7).then(|| ["AAA", "ABC", "BBB"][i % 3].to_string())
                }))),
                arr(Float64Array::from_iter_values(
                    (0..n).map(|i| 8.0 + i as f64 * 0.25),
                )),
            ],
        )
        .expect("psc");
        let m = 40;
        let obs = Schema::new(vec![
            Field::new("designation", DataType::Utf8, false),
            Field::new("band", DataType::Utf8, false),
            Field::new("mag", DataType::Float64, false),
            Field::new("epoch", DataType::Int32, false),
        ]);
        let obs = RecordBatch::try_new(
            Arc::new(obs),
            vec![
                // J00..J13: two designations without psc rows, J09..J11 without obs.
                arr(StringArray::from_iter_values((0..m).map(|i| {
                    format!("J{:02}", [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13][i % 11])
                }))),
                arr(StringArray::from_iter_values(
                    (0..m).map(|i| ["J", "H", "K"][i % 3].to_string()),
                )),
                arr(Float64Array::from_iter_values(
                    (0..m).map(|i| 9.0 + (i % 13) as f64 * 0.25),
                )),
                arr(Int32Array::from_iter_values(
                    (0..m).map(|i| 2000 + (i % 7) as i32),
                )),
            ],
        )
        .expect("obs");
        let quoted = |b: &RecordBatch| -> Vec<String> {
            b.schema()
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "k_m" => "CAST(\"k_m\" AS DOUBLE)".to_string(),
                    name => quote(name),
                })
                .collect()
        };
        let (ps, os) = (quoted(&psc), quoted(&obs));
        vec![("psc", psc, ps), ("obs", obs, os)]
    }

    fn arr(a: impl datafusion::arrow::array::Array + 'static) -> ArrayRef {
        Arc::new(a)
    }

    fn mem(batch: &RecordBatch) -> Arc<dyn TableProvider> {
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch.clone()]]).expect("mem"))
    }

    fn register(ctx: &SessionContext, schema: &str, tables: Vec<(&str, Arc<dyn TableProvider>)>) {
        let s = MemorySchemaProvider::new();
        for (name, t) in tables {
            s.register_table(name.to_string(), t).expect("table");
        }
        ctx.catalog("datafusion")
            .expect("catalog")
            .register_schema(schema, Arc::new(s))
            .expect("schema");
    }

    /// (reference session over local copies, session with remote tables, the source).
    fn sessions() -> (SessionContext, SessionContext, Arc<Session2>) {
        let tables = tables();
        let gaia = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("source_id", DataType::Int64, false),
                Field::new("ra", DataType::Float64, false),
            ])),
            vec![
                arr(Int64Array::from_iter_values(100..120)),
                arr(Float64Array::from_iter_values(
                    (0..20).map(|i| 10.0 + i as f64),
                )),
            ],
        )
        .expect("gaia");

        let remote = session();
        register(
            &remote,
            "public",
            tables.iter().map(|(n, b, _)| (*n, mem(b))).collect(),
        );
        let source = Arc::new(Session2 {
            ctx: remote,
            sent: Mutex::new(Vec::new()),
        });

        let reference = session();
        register(
            &reference,
            "twomass",
            tables.iter().map(|(n, b, _)| (*n, mem(b))).collect(),
        );
        register(&reference, "local", vec![("gaia", mem(&gaia))]);

        let federated = session();
        let remote_tables = tables
            .into_iter()
            .map(|(name, batch, select)| {
                let t: Arc<dyn TableProvider> = Arc::new(RemoteTable {
                    backend: source.clone(),
                    remote_name: format!("\"public\".\"{name}\""),
                    remote_parts: vec!["public".into(), name.into()],
                    schema: batch.schema(),
                    select,
                });
                (name, t)
            })
            .collect();
        register(&federated, "twomass", remote_tables);
        register(&federated, "local", vec![("gaia", mem(&gaia))]);
        federated.add_optimizer_rule(Arc::new(RemoteSubqueries));
        (reference, federated, source)
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (SchemaRef, Vec<String>) {
        let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let text = pretty_format_batches(&batches).expect("format").to_string();
        (schema, text.lines().map(str::to_string).collect())
    }

    /// Runs `sql` both ways, checks the answers (in order when `ordered`) and the schemas
    /// agree, and returns the statements the source received.
    async fn same_answer(sql: &str, ordered: bool) -> Vec<String> {
        let (reference, federated, source) = sessions();
        let (want_schema, mut want) = run(&reference, sql).await;
        let (got_schema, mut got) = run(&federated, sql).await;
        if !ordered {
            want.sort();
            got.sort();
        }
        assert!(want.len() > 4, "{sql}: an empty answer proves little");
        assert_eq!(got, want, "{sql}\nsent: {:#?}", source.take());
        assert_eq!(got_schema, want_schema, "{sql}");
        source.take()
    }

    fn one(sent: &[String], sql: &str) -> String {
        assert_eq!(sent.len(), 1, "{sql}: {sent:#?}");
        sent[0].clone()
    }

    #[tokio::test]
    async fn joins_and_aggregates_of_one_source_run_there() {
        let q = "SELECT p.qual, COUNT(*) AS n, AVG(o.mag) AS mean_mag \
                 FROM twomass.psc AS p JOIN twomass.obs AS o ON p.designation = o.designation \
                 GROUP BY p.qual";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("JOIN") && s.contains("GROUP BY"), "{s}");
        assert!(
            s.contains("\"public\".\"psc\" AS psc") || s.contains("\"public\".\"psc\" AS p"),
            "{s}"
        );

        let q = "SELECT p.qual, SUM(o.epoch) AS s, MAX(o.mag) AS hi \
                 FROM twomass.psc AS p JOIN twomass.obs AS o ON p.designation = o.designation \
                 WHERE p.j_m < 11.5 AND o.band = 'J' GROUP BY p.qual HAVING COUNT(*) > 1";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("WHERE") && s.contains("HAVING"), "{s}");

        let q = "SELECT COUNT(*) AS n FROM twomass.psc, twomass.obs";
        // One row only: checked by hand.
        let (_, federated, source) = sessions();
        let (_, rows) = run(&federated, q).await;
        assert!(rows.iter().any(|r| r.contains(" 480 ")), "{rows:?}");
        let s = one(&source.take(), q);
        assert!(s.contains("CROSS JOIN") || s.contains(","), "{s}");

        let q = "SELECT designation, COUNT(*) AS n, SUM(epoch) AS s, MIN(mag) AS lo, \
                 AVG(epoch) AS a, COUNT(DISTINCT band) AS b \
                 FROM twomass.obs WHERE band <> 'H' GROUP BY designation";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("GROUP BY"), "{s}");
    }

    #[tokio::test]
    async fn aliases_and_derived_tables() {
        let q = "SELECT a.designation, b.designation AS other FROM twomass.psc AS a \
                 JOIN twomass.psc AS b ON a.qual = b.qual AND a.ra < b.ra";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("JOIN"), "{s}");

        let q = "SELECT p.designation, p.ra, s.n FROM twomass.psc AS p JOIN \
                 (SELECT designation, COUNT(*) AS n FROM twomass.obs GROUP BY designation) AS s \
                 ON p.designation = s.designation WHERE p.j_m > 9.5";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("JOIN") && s.contains("GROUP BY"), "{s}");

        // Limited derived tables: the limit stays inside.
        let q = "SELECT s.designation, o.mag FROM \
                 (SELECT designation FROM twomass.psc ORDER BY ra DESC LIMIT 5) AS s \
                 JOIN twomass.obs AS o ON o.designation = s.designation";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("LIMIT 5") && s.contains("JOIN"), "{s}");
        let q = "SELECT s.designation, o.mag FROM \
                 (SELECT designation FROM twomass.psc LIMIT 5) AS s \
                 JOIN twomass.obs AS o ON o.designation = s.designation";
        let sent = same_answer(q, false).await;
        assert!(sent.iter().any(|s| s.contains("LIMIT 5")), "{sent:#?}");

        // A join with a local table: the remote sub-query runs there as one statement.
        let q = "SELECT g.source_id, s.n FROM local.gaia AS g JOIN \
                 (SELECT p.ra, COUNT(*) AS n FROM twomass.psc AS p JOIN twomass.obs AS o \
                  ON p.designation = o.designation GROUP BY p.ra) AS s ON g.ra = s.ra";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("JOIN") && s.contains("GROUP BY"), "{s}");
        assert!(!s.contains("gaia"), "{s}");
    }

    #[tokio::test]
    async fn sorted_results_stay_sorted() {
        let q = "SELECT o.epoch, o.mag FROM twomass.obs AS o WHERE o.band = 'K' \
                 ORDER BY o.mag DESC, o.epoch LIMIT 6";
        let s = one(&same_answer(q, true).await, q);
        assert!(s.contains("ORDER BY") && s.contains("LIMIT 6"), "{s}");

        let q = "SELECT epoch, AVG(mag) AS m FROM twomass.obs GROUP BY epoch ORDER BY epoch DESC";
        let s = one(&same_answer(q, true).await, q);
        assert!(s.contains("ORDER BY"), "{s}");

        // Sorted by a column that is not selected.
        let q = "SELECT p.designation, o.designation AS d2 FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.designation = o.designation ORDER BY o.mag, o.epoch, o.band";
        let s = one(&same_answer(q, true).await, q);
        assert!(s.contains("JOIN"), "{s}");

        // Strings sort by the source's collation: that sort stays here, the rest is sent.
        let q = "SELECT band, COUNT(*) AS n FROM twomass.obs GROUP BY band ORDER BY band";
        let (_, federated, source) = sessions();
        let (_, rows) = run(&federated, q).await;
        assert_eq!(rows.len(), 7, "{rows:?}");
        let s = one(&source.take(), q);
        assert!(s.contains("GROUP BY") && !s.contains("ORDER BY"), "{s}");
    }

    #[tokio::test]
    async fn what_stays_local() {
        // A function (here DataFusion's own `abs`) runs locally; the join below it is sent.
        let q = "SELECT p.designation, abs(o.mag - 12.0) AS d FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.designation = o.designation";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("JOIN") && !s.contains("abs"), "{s}");

        // A column the source selects through a conversion: one scan per table.
        let q = "SELECT p.k_m, o.mag FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.designation = o.designation";
        let sent = same_answer(q, false).await;
        assert_eq!(sent.len(), 2, "{sent:#?}");
        assert!(sent.iter().all(|s| !s.contains("JOIN")), "{sent:#?}");

        // One table, filters and a limit: the table scan's own SQL, as before.
        let q = "SELECT designation FROM twomass.psc WHERE j_m < 12 LIMIT 5";
        let sent = same_answer(q, false).await;
        assert_eq!(
            one(&sent, q),
            "SELECT \"designation\" FROM \"public\".\"psc\" WHERE ((j_m < 12.0)) LIMIT 5"
        );

        // A left join whose preserved side is filtered: the unparser would move that
        // filter into ON, so the join stays here.
        let q = "SELECT p.designation, o.mag FROM twomass.psc AS p LEFT JOIN twomass.obs AS o \
                 ON p.designation = o.designation AND o.band = 'K' WHERE p.j_m < 11";
        let sent = same_answer(q, false).await;
        assert!(sent.iter().all(|s| !s.contains("JOIN")), "{sent:#?}");
        // Unfiltered on the preserved side, it is sent.
        let q = "SELECT p.designation, o.mag FROM twomass.psc AS p LEFT JOIN twomass.obs AS o \
                 ON p.designation = o.designation AND o.band = 'K'";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("LEFT OUTER JOIN"), "{s}");

        // Semi joins (IN sub-queries) and unions stay here; the answers are right.
        let q = "SELECT designation FROM twomass.psc \
                 WHERE designation IN (SELECT designation FROM twomass.obs WHERE band = 'K')";
        same_answer(q, false).await;
        let q = "SELECT designation FROM twomass.psc UNION ALL SELECT designation FROM twomass.obs";
        same_answer(q, false).await;
    }

    #[tokio::test]
    async fn repeated_names_and_nested_aggregates() {
        // Two columns named `designation` below an aggregate.
        let q = "SELECT p.designation, o.designation AS d2, COUNT(*) AS n FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.designation = o.designation \
                 GROUP BY p.designation, o.designation";
        same_answer(q, false).await;
        // The same with a join key not kept after the join (a projection below the aggregate).
        let q = "SELECT p.designation, o.designation AS d2, COUNT(*) AS n FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.j_m = o.mag GROUP BY p.designation, o.designation";
        same_answer(q, false).await;
        let q = "SELECT p.designation, o.designation FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.designation = o.designation WHERE o.mag > 10";
        let s = one(&same_answer(q, false).await, q);
        assert!(s.contains("JOIN"), "{s}");
        // DataFusion plans a single COUNT(DISTINCT) as two aggregates.
        let q =
            "SELECT designation, COUNT(DISTINCT band) AS b FROM twomass.obs GROUP BY designation";
        same_answer(q, false).await;
        let q = "SELECT COUNT(*) AS n, SUM(m) AS total FROM \
                 (SELECT designation, MAX(mag) AS m FROM twomass.obs GROUP BY designation) AS s";
        let (_, federated, source) = sessions();
        let (_, rows) = run(&federated, q).await;
        assert!(rows.iter().any(|r| r.contains("| 11 ")), "{rows:?}");
        let s = one(&source.take(), q);
        assert!(s.contains("GROUP BY"), "{s}");
    }

    #[tokio::test]
    async fn the_plan_shows_the_sql_sent() {
        let (_, federated, _) = sessions();
        let q = "SELECT p.qual, COUNT(*) AS n FROM twomass.psc AS p \
                 JOIN twomass.obs AS o ON p.designation = o.designation GROUP BY p.qual";
        let df = federated.sql(q).await.expect("plan");
        let plan = df.create_physical_plan().await.expect("physical plan");
        let text = displayable(plan.as_ref()).indent(true).to_string();
        assert!(
            text.contains("RemoteScanExec: source=node2 (flightsql), sql=SELECT"),
            "{text}"
        );
        assert!(text.contains("JOIN") && text.contains("GROUP BY"), "{text}");
        assert!(
            !text.contains("HashJoinExec") && !text.contains("AggregateExec"),
            "{text}"
        );
    }
}
