//! `weighted_mean(x, err)` and `weighted_mean_error(x, err)`: inverse-variance weighting.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_STATISTICAL;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};

fn doc(error: bool) -> Documentation {
    let rule = "Rows where x or err is NULL or NaN, or err is not > 0 and finite, are \
                ignored; no usable row gives NULL.";
    let (desc, syntax, ex) = if error {
        (
            format!(
                "Standard error of the inverse-variance weighted mean: 1 / sqrt(sum(1/err^2)). \
                 {rule}"
            ),
            "weighted_mean_error(x, err)",
            "```sql\n> SELECT weighted_mean_error(parallax, parallax_error) FROM \
             gaiadr3.gaia_source;\n```",
        )
    } else {
        (
            format!("Inverse-variance weighted mean sum(x/err^2) / sum(1/err^2). {rule}"),
            "weighted_mean(x, err)",
            "```sql\n> SELECT weighted_mean(parallax, parallax_error) FROM \
             gaiadr3.gaia_source;\n```",
        )
    };
    Documentation::builder(DOC_SECTION_STATISTICAL, desc, syntax)
        .with_argument("x", "The values.")
        .with_argument("err", "Their standard errors (same unit as x).")
        .with_sql_example(ex)
        .build()
}

static DOCS: LazyLock<[Documentation; 2]> = LazyLock::new(|| [doc(false), doc(true)]);

/// `weighted_mean` or `weighted_mean_error`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WeightedMeanFunc {
    error: bool,
    signature: Signature,
}

impl WeightedMeanFunc {
    /// The mean (`error = false`) or its standard error.
    pub fn new(error: bool) -> Self {
        Self {
            error,
            signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

#[derive(Debug, Default)]
struct WeightedAccumulator {
    error: bool,
    /// sum w x, sum w (Neumaier-compensated pairs: value, compensation).
    swx: (f64, f64),
    sw: (f64, f64),
}

/// Neumaier's compensated addition.
fn add(acc: &mut (f64, f64), x: f64) {
    let t = acc.0 + x;
    if acc.0.abs() >= x.abs() {
        acc.1 += (acc.0 - t) + x;
    } else {
        acc.1 += (x - t) + acc.0;
    }
    acc.0 = t;
}

impl Accumulator for WeightedAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (x, e) = (
            values[0].as_primitive::<Float64Type>(),
            values[1].as_primitive::<Float64Type>(),
        );
        for (x, e) in x.iter().zip(e.iter()) {
            if let (Some(x), Some(e)) = (x, e)
                && x.is_finite()
                && e.is_finite()
                && e > 0.0
            {
                let w = 1.0 / (e * e);
                add(&mut self.swx, w * x);
                add(&mut self.sw, w);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (a, b) = (
            states[0].as_primitive::<Float64Type>(),
            states[1].as_primitive::<Float64Type>(),
        );
        for i in 0..a.len() {
            add(&mut self.swx, a.value(i));
            add(&mut self.sw, b.value(i));
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.swx.0 + self.swx.1)),
            ScalarValue::Float64(Some(self.sw.0 + self.sw.1)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (swx, sw) = (self.swx.0 + self.swx.1, self.sw.0 + self.sw.1);
        Ok(ScalarValue::Float64((sw > 0.0).then(|| {
            if self.error {
                1.0 / sw.sqrt()
            } else {
                swx / sw
            }
        })))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

impl AggregateUDFImpl for WeightedMeanFunc {
    fn name(&self) -> &str {
        if self.error {
            "weighted_mean_error"
        } else {
            "weighted_mean"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["sum_wx", "sum_w"]
            .into_iter()
            .map(|s| {
                Arc::new(Field::new(
                    format_state_name(args.name, s),
                    DataType::Float64,
                    false,
                ))
            })
            .collect())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(WeightedAccumulator {
            error: self.error,
            ..Default::default()
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCS[usize::from(self.error)])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Float64Array;

    use super::*;

    #[test]
    fn weighted_mean_and_error() {
        let mut acc = WeightedAccumulator::default();
        let x: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(2.0),
            None,
            Some(f64::NAN),
            Some(5.0),
        ]));
        let e: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(2.0),
            Some(1.0),
            Some(1.0),
            Some(0.0),
        ]));
        acc.update_batch(&[x, e]).unwrap();
        // w = 1, 1/4: mean = (1 + 0.5) / 1.25, error = 1 / sqrt(1.25).
        let ScalarValue::Float64(Some(m)) = acc.evaluate().unwrap() else {
            panic!()
        };
        assert!((m - 1.2).abs() < 1e-15);
        acc.error = true;
        let ScalarValue::Float64(Some(s)) = acc.evaluate().unwrap() else {
            panic!()
        };
        assert!((s - 1.25f64.sqrt().recip()).abs() < 1e-15);
        let mut empty = WeightedAccumulator::default();
        assert_eq!(empty.evaluate().unwrap(), ScalarValue::Float64(None));
    }
}
