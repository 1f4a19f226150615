//! Yield points between every pair of operators, so that cancelling a query really stops it.
//!
//! A query is cancelled by dropping its stream, which only takes effect when the task that
//! polls it gets control back. DataFusion's own `EnsureCooperative` rule makes only the leaf
//! scans consume Tokio's cooperative budget, so an operator that produces many batches from
//! memory (a cross or nested-loop join over small tables, feeding an aggregate) can keep a
//! worker busy for minutes without ever yielding: an ABORT would be recorded but the CPU
//! would stay busy. Wrapping every operator's input in `CooperativeExec` makes each batch
//! handed between operators consume budget, so the task yields every few hundred batches and
//! a dropped job stops within milliseconds.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;

/// The physical optimizer rule; runs after DataFusion's own rules.
#[derive(Debug, Default)]
pub(crate) struct YieldBetweenOperators;

impl PhysicalOptimizerRule for YieldBetweenOperators {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.is::<CooperativeExec>() || node.children().is_empty() {
                return Ok(Transformed::no(node));
            }
            let children: Vec<Arc<dyn ExecutionPlan>> = node
                .children()
                .into_iter()
                .map(|c| {
                    if c.is::<CooperativeExec>() {
                        c.clone()
                    } else {
                        Arc::new(CooperativeExec::new(c.clone())) as Arc<dyn ExecutionPlan>
                    }
                })
                .collect();
            Ok(Transformed::yes(replace_children_if_necessary(
                node, children,
            )?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "parallax_yield_between_operators"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
