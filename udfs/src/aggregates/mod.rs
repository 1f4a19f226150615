//! Robust and weighted statistics as aggregate functions (UDAFs). Exact median and
//! percentiles are DataFusion's own `median(x)` and `percentile_cont(x, p)`, and the plain
//! moments are its `avg`, `stddev`, `stddev_pop`, `var`; this module adds what it lacks:
//!
//! | function | definition |
//! |---|---|
//! | `mad(x)` | median absolute deviation `median(|x - median(x)|)` (unscaled, as astropy) |
//! | `sigma_clipped_mean(x [, nsigma [, maxiters]])` | mean after iterative sigma clipping about the median (astropy `sigma_clipped_stats`, defaults 3 and 5) |
//! | `sigma_clipped_std(x [, nsigma [, maxiters]])` | population standard deviation after the same clipping |
//! | `weighted_mean(x, err)` | inverse-variance weighted mean `sum(x/err^2) / sum(1/err^2)` |
//! | `weighted_mean_error(x, err)` | its standard error `1 / sqrt(sum(1/err^2))` |
//! | `skewness(x)` | `m3 / m2^1.5` (population moments, as scipy's default) |
//! | `kurtosis(x)` | excess kurtosis `m4 / m2^2 - 3` (population moments, Fisher, as scipy's default) |
//! | `ivo_histogram(x, lower, upper, nbins)` | counts in `nbins` equal bins of `[lower, upper)`, plus underflow first and overflow last |
//!
//! NULL and NaN inputs are ignored; an empty group gives NULL.

pub mod ivo_histogram;
pub mod moments;
pub mod robust;
pub mod weighted_mean;

use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_plan::PhysicalExpr;
use std::sync::Arc;

/// Every Parallax aggregate function.
pub fn all_aggregates() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::new_from_impl(robust::RobustFunc::new(robust::Kind::Mad)),
        AggregateUDF::new_from_impl(robust::RobustFunc::new(robust::Kind::ClippedMean)),
        AggregateUDF::new_from_impl(robust::RobustFunc::new(robust::Kind::ClippedStd)),
        AggregateUDF::new_from_impl(weighted_mean::WeightedMeanFunc::new(false)),
        AggregateUDF::new_from_impl(weighted_mean::WeightedMeanFunc::new(true)),
        AggregateUDF::new_from_impl(moments::MomentFunc::new(moments::Moment::Skewness)),
        AggregateUDF::new_from_impl(moments::MomentFunc::new(moments::Moment::Kurtosis)),
        AggregateUDF::new_from_impl(ivo_histogram::IvoHistogramFunc::new()),
    ]
}

/// The value of a constant argument, as f64 (an error if it is not a constant number).
pub(crate) fn constant_f64(
    exprs: &[Arc<dyn PhysicalExpr>],
    i: usize,
    function: &str,
    what: &str,
) -> Result<Option<f64>> {
    let Some(e) = exprs.get(i) else {
        return Ok(None);
    };
    let Some(lit) = e.downcast_ref::<Literal>() else {
        return exec_err!("{function}: {what} must be a constant");
    };
    let v = lit
        .value()
        .cast_to(&datafusion::arrow::datatypes::DataType::Float64)?;
    match v {
        ScalarValue::Float64(Some(x)) => Ok(Some(x)),
        _ => exec_err!("{function}: {what} must be a number, not NULL"),
    }
}

/// Median of `v` (reordered in place); NaN for an empty slice. Even counts average the two
/// middle values, as numpy does.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    0.5 * (lo + hi)
}
