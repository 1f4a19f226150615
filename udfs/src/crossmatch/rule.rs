//! The optimizer rule that plans crossmatch joins as HEALPix equi-joins.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, NullEquality, Result, UnnestOptions};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Expr, ExprSchemable, Join, JoinType, LogicalPlan, LogicalPlanBuilder, ScalarUDF, cast, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::{HealpixConeCellsFunc, Separation, crossmatch_order, match_separation};
use crate::distance::DistanceFunc;
use crate::ivo_healpix_index::IvoHealpixIndexFunc;

static CELL_OF: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(IvoHealpixIndexFunc::new())));
static CONE_CELLS: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(HealpixConeCellsFunc::new())));
static DISTANCE: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(DistanceFunc::new())));

/// Name of the single-cell key column added to one join input.
const CELL: &str = "__parallax_xmatch_cell";
/// Name of the cover column added (and unnested) on the other join input.
const COVER: &str = "__parallax_xmatch_cover";

/// Rewrites a join whose only condition is a constant-radius separation test (plus any other
/// non-equi conditions) into a hash join on HEALPix cells; see the [module](super) docs.
///
/// Inner, left and right outer, semi and anti joins are rewritten (the preserved or
/// filtered side gets the single cell, so unmatched rows are emitted once). Full outer joins,
/// joins that already have equality keys, and separation tests whose radius is not a
/// constant are left alone (the last is logged with its reason).
#[derive(Debug, Default, Clone, Copy)]
pub struct CrossmatchRule;

impl CrossmatchRule {
    /// The rule.
    pub fn new() -> Self {
        Self
    }
}

impl OptimizerRule for CrossmatchRule {
    fn name(&self) -> &str {
        "parallax_crossmatch"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if !join.on.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let Some(filter) = &join.filter else {
            return Ok(Transformed::no(plan));
        };
        // The side whose rows must appear at most once (preserved or filtered) takes the
        // single cell.
        let single_on_left = match join.join_type {
            JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti => true,
            JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => false,
            _ => return Ok(Transformed::no(plan)),
        };
        let conjuncts = split_conjunction(filter);
        for (i, c) in conjuncts.iter().enumerate() {
            let Some(sep) = match_separation(c) else {
                continue;
            };
            let Some((l_pos, r_pos)) = orient(&sep, join.left.schema(), join.right.schema()) else {
                continue;
            };
            let Some(radius) = sep.constant_radius() else {
                tracing::info!(
                    radius = %sep.radius,
                    "crossmatch join not partitioned: the radius is not a constant"
                );
                continue;
            };
            if !(0.0..=180.0).contains(&radius) {
                continue;
            }
            let rest = conjuncts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, e)| (*e).clone());
            let rewritten = rewrite_join(join, single_on_left, l_pos, r_pos, radius, &sep, rest)?;
            return Ok(Transformed::yes(rewritten));
        }
        Ok(Transformed::no(plan))
    }
}

type Position = (Expr, Expr);

/// The separation's positions as (left input's, right input's), when each refers to one side.
fn orient(sep: &Separation, left: &DFSchema, right: &DFSchema) -> Option<(Position, Position)> {
    let on = |p: &Position, s: &DFSchema| {
        let cols: Vec<&Column> =
            p.0.column_refs()
                .into_iter()
                .chain(p.1.column_refs())
                .collect();
        !cols.is_empty() && cols.iter().all(|c| s.has_column(c))
    };
    if on(&sep.a, left) && on(&sep.b, right) {
        Some((sep.a.clone(), sep.b.clone()))
    } else if on(&sep.b, left) && on(&sep.a, right) {
        Some((sep.b.clone(), sep.a.clone()))
    } else {
        None
    }
}

fn as_f64(e: Expr, schema: &DFSchema) -> Result<Expr> {
    Ok(if e.get_type(schema)? == DataType::Float64 {
        e
    } else {
        cast(e, DataType::Float64)
    })
}

/// `input` with one more column `name = value`.
fn with_column(input: &LogicalPlan, value: Expr, name: &str) -> Result<LogicalPlanBuilder> {
    let mut exprs: Vec<Expr> = input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    exprs.push(value.alias(name));
    LogicalPlanBuilder::from(input.clone()).project(exprs)
}

fn rewrite_join(
    join: &Join,
    single_on_left: bool,
    l_pos: Position,
    r_pos: Position,
    radius: f64,
    sep: &Separation,
    rest: impl Iterator<Item = Expr>,
) -> Result<LogicalPlan> {
    let order = crossmatch_order(radius);
    let (ls, rs) = (join.left.schema(), join.right.schema());
    let l_pos = (as_f64(l_pos.0, ls)?, as_f64(l_pos.1, ls)?);
    let r_pos = (as_f64(r_pos.0, rs)?, as_f64(r_pos.1, rs)?);

    let cell = |input: &LogicalPlan, (lon, lat): &Position| {
        with_column(
            input,
            CELL_OF.call(vec![lit(i64::from(order)), lon.clone(), lat.clone()]),
            CELL,
        )
        .and_then(|b| b.build())
    };
    let cover = |input: &LogicalPlan, (lon, lat): &Position| {
        with_column(
            input,
            CONE_CELLS.call(vec![
                lit(i64::from(order)),
                lon.clone(),
                lat.clone(),
                lit(radius),
            ]),
            COVER,
        )
        .and_then(|b| {
            b.unnest_column_with_options(
                Column::from_name(COVER),
                UnnestOptions::new().with_preserve_nulls(false),
            )
        })
        .and_then(|b| b.build())
    };
    let (left, right, on) = if single_on_left {
        (
            cell(&join.left, &l_pos)?,
            cover(&join.right, &r_pos)?,
            (
                Expr::Column(Column::from_name(CELL)),
                Expr::Column(Column::from_name(COVER)),
            ),
        )
    } else {
        (
            cover(&join.left, &l_pos)?,
            cell(&join.right, &r_pos)?,
            (
                Expr::Column(Column::from_name(COVER)),
                Expr::Column(Column::from_name(CELL)),
            ),
        )
    };
    let exact = DISTANCE.call(vec![l_pos.0, l_pos.1, r_pos.0, r_pos.1]);
    let exact = if sep.inclusive {
        exact.lt_eq(lit(radius))
    } else {
        exact.lt(lit(radius))
    };
    let filter = conjunction(std::iter::once(exact).chain(rest));
    let new_join = Join::try_new(
        Arc::new(left),
        Arc::new(right),
        vec![on],
        filter,
        join.join_type,
        join.join_constraint,
        NullEquality::NullEqualsNothing,
        false,
    )?;
    let columns: Vec<Expr> = join
        .schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    LogicalPlanBuilder::from(LogicalPlan::Join(new_join))
        .project(columns)?
        .build()
}
