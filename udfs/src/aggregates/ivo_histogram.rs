//! `ivo_histogram(x, lower, upper, nbins)`: a histogram as an aggregate, as in the IVOA UDF
//! catalogue (GAVO DaCHS): `nbins + 2` counts, underflow first and overflow last.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_STATISTICAL;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::constant_f64;

/// Largest accepted number of bins.
const MAX_BINS: f64 = 1_000_000.0;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STATISTICAL,
        "Histogram of x: an array of nbins + 2 counts (BIGINT[]); element 0 counts x < lower, \
         elements 1..nbins the equal-width bins of [lower, upper), element nbins + 1 counts x >= \
         upper (IVOA UDF catalogue ivo_histogram). NULL and NaN values are not counted. lower, \
         upper and nbins must be constants with lower < upper and 1 <= nbins <= 1000000.",
        "ivo_histogram(x, lower, upper, nbins)",
    )
    .with_argument("x", "A numeric expression.")
    .with_argument("lower", "Lower edge of the first bin.")
    .with_argument("upper", "Upper edge of the last bin.")
    .with_argument("nbins", "Number of bins.")
    .with_sql_example(
        "```sql\n> SELECT ivo_histogram(phot_g_mean_mag, 5, 21, 16) FROM gaiadr3.gaia_source;\n```",
    )
    .build()
});

/// `ivo_histogram`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IvoHistogramFunc {
    signature: Signature,
}

impl Default for IvoHistogramFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl IvoHistogramFunc {
    /// `(double, double, double, double) -> bigint[]`.
    pub fn new() -> Self {
        Self {
            signature: Signature::uniform(4, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

#[derive(Debug)]
struct HistogramAccumulator {
    lower: f64,
    upper: f64,
    counts: Vec<i64>,
}

impl HistogramAccumulator {
    fn bin(&self, x: f64) -> usize {
        let nbins = self.counts.len() - 2;
        if x < self.lower {
            0
        } else if x >= self.upper {
            nbins + 1
        } else {
            let k = ((x - self.lower) / (self.upper - self.lower) * nbins as f64) as usize;
            k.min(nbins - 1) + 1
        }
    }

    fn to_list(&self) -> ScalarValue {
        let values = Int64Array::from(self.counts.clone());
        ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::from_lengths([values.len()]),
            Arc::new(values),
            None,
        )))
    }
}

impl Accumulator for HistogramAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for x in values[0].as_primitive::<Float64Type>().iter().flatten() {
            if !x.is_nan() {
                let b = self.bin(x);
                self.counts[b] += 1;
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for c in states[0].as_list::<i32>().iter().flatten() {
            let c = c.as_primitive::<Int64Type>();
            if c.len() != self.counts.len() {
                return exec_err!("ivo_histogram: inconsistent partial histograms");
            }
            for (a, b) in self.counts.iter_mut().zip(c.values()) {
                *a += b;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.to_list()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.to_list())
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.counts.capacity() * size_of::<i64>()
    }
}

impl AggregateUDFImpl for IvoHistogramFunc {
    fn name(&self) -> &str {
        "ivo_histogram"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "counts"),
            list_type(),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let f = "ivo_histogram";
        let lower = constant_f64(args.exprs, 1, f, "lower")?;
        let upper = constant_f64(args.exprs, 2, f, "upper")?;
        let nbins = constant_f64(args.exprs, 3, f, "nbins")?;
        let (Some(lower), Some(upper), Some(nbins)) = (lower, upper, nbins) else {
            return exec_err!("{f} takes (x, lower, upper, nbins)");
        };
        if !(lower.is_finite() && upper.is_finite()) || lower >= upper {
            return exec_err!("{f}: lower ({lower}) must be smaller than upper ({upper})");
        }
        if !(1.0..=MAX_BINS).contains(&nbins) || nbins.fract() != 0.0 {
            return exec_err!("{f}: nbins must be an integer from 1 to {MAX_BINS}, got {nbins}");
        }
        Ok(Box::new(HistogramAccumulator {
            lower,
            upper,
            counts: vec![0; nbins as usize + 2],
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_edges_underflow_overflow() {
        let h = HistogramAccumulator {
            lower: 0.0,
            upper: 10.0,
            counts: vec![0; 7],
        };
        assert_eq!(h.bin(-0.1), 0);
        assert_eq!(h.bin(0.0), 1);
        assert_eq!(h.bin(1.9999), 1);
        assert_eq!(h.bin(2.0), 2);
        assert_eq!(h.bin(9.9999), 5);
        assert_eq!(h.bin(10.0), 6);
        assert_eq!(h.bin(f64::INFINITY), 6);
        assert_eq!(h.bin(f64::NEG_INFINITY), 0);
    }
}
