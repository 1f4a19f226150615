//! `mad(x)`, `sigma_clipped_mean(x [, nsigma [, maxiters]])`,
//! `sigma_clipped_std(x [, nsigma [, maxiters]])`: exact, over all the group's values.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::aggregate_doc_sections::DOC_SECTION_STATISTICAL;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, TypeSignature, Volatility,
};

use super::{constant_f64, median};

/// Which statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Median absolute deviation.
    Mad,
    /// Sigma-clipped mean.
    ClippedMean,
    /// Sigma-clipped population standard deviation.
    ClippedStd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mad => "mad",
            Kind::ClippedMean => "sigma_clipped_mean",
            Kind::ClippedStd => "sigma_clipped_std",
        }
    }
}

fn doc(kind: Kind) -> Documentation {
    let clip = "Sigma clipping as astropy's sigma_clip/sigma_clipped_stats: repeat at most \
        maxiters times (default 5) until nothing changes: keep the values within nsigma \
        (default 3) population standard deviations of the median. NULL and NaN are ignored; \
        an empty group gives NULL; nsigma and maxiters must be positive constants.";
    let (desc, syntax, example) = match kind {
        Kind::Mad => (
            "Median absolute deviation median(|x - median(x)|), exact and unscaled (multiply by \
             1.4826 for a Gaussian sigma). NULL and NaN are ignored; an empty group gives NULL."
                .to_string(),
            "mad(x)",
            "```sql\n> SELECT mad(phot_g_mean_mag) FROM gaiadr3.gaia_source;\n```",
        ),
        Kind::ClippedMean => (
            format!("Mean of the values left after sigma clipping. {clip}"),
            "sigma_clipped_mean(x [, nsigma [, maxiters]])",
            "```sql\n> SELECT sigma_clipped_mean(parallax, 3, 5) FROM gaiadr3.gaia_source;\n```",
        ),
        Kind::ClippedStd => (
            format!(
                "Population standard deviation (ddof 0) of the values left after sigma \
                 clipping. {clip}"
            ),
            "sigma_clipped_std(x [, nsigma [, maxiters]])",
            "```sql\n> SELECT sigma_clipped_std(parallax) FROM gaiadr3.gaia_source;\n```",
        ),
    };
    let mut b = Documentation::builder(DOC_SECTION_STATISTICAL, desc, syntax)
        .with_argument("x", "A numeric expression.");
    if kind != Kind::Mad {
        b = b
            .with_argument(
                "nsigma",
                "Clipping threshold in standard deviations; default 3.",
            )
            .with_argument("maxiters", "Maximum number of clipping passes; default 5.");
    }
    b.with_sql_example(example).build()
}

static DOCS: LazyLock<[Documentation; 3]> = LazyLock::new(|| {
    [
        doc(Kind::Mad),
        doc(Kind::ClippedMean),
        doc(Kind::ClippedStd),
    ]
});

/// The robust statistics over all values of a group.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RobustFunc {
    kind: Kind,
    signature: Signature,
}

impl RobustFunc {
    /// The function for `kind`.
    pub fn new(kind: Kind) -> Self {
        let arities: &[usize] = match kind {
            Kind::Mad => &[1],
            _ => &[1, 2, 3],
        };
        Self {
            kind,
            signature: Signature::one_of(
                arities
                    .iter()
                    .map(|&n| TypeSignature::Uniform(n, vec![DataType::Float64]))
                    .collect(),
                Volatility::Immutable,
            ),
        }
    }
}

/// Sigma clipping about the median; returns the kept values.
pub(crate) fn sigma_clip(values: &mut Vec<f64>, nsigma: f64, maxiters: usize) {
    let mut scratch = Vec::with_capacity(values.len());
    for _ in 0..maxiters {
        if values.is_empty() {
            return;
        }
        scratch.clear();
        scratch.extend_from_slice(values);
        let med = median(&mut scratch);
        let (_, std) = mean_std(values);
        let (lo, hi) = (med - nsigma * std, med + nsigma * std);
        let before = values.len();
        values.retain(|&x| x >= lo && x <= hi);
        if values.len() == before {
            return;
        }
    }
}

/// Mean and population standard deviation (two passes).
pub(crate) fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[derive(Debug)]
struct RobustAccumulator {
    kind: Kind,
    nsigma: f64,
    maxiters: usize,
    values: Vec<f64>,
}

impl Accumulator for RobustAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = values[0].as_primitive::<Float64Type>();
        self.values
            .extend(a.iter().flatten().filter(|x| !x.is_nan()));
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for v in states[0].as_list::<i32>().iter().flatten() {
            self.update_batch(&[v])?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = Float64Array::from(std::mem::take(&mut self.values));
        let list = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Float64, true)),
            OffsetBuffer::from_lengths([values.len()]),
            Arc::new(values),
            None,
        );
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.values.is_empty() {
            return Ok(ScalarValue::Float64(None));
        }
        let v = &mut self.values;
        let out = match self.kind {
            Kind::Mad => {
                let med = median(v);
                let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
                median(&mut dev)
            }
            Kind::ClippedMean | Kind::ClippedStd => {
                sigma_clip(v, self.nsigma, self.maxiters);
                if v.is_empty() {
                    return Ok(ScalarValue::Float64(None));
                }
                let (mean, std) = mean_std(v);
                if self.kind == Kind::ClippedMean {
                    mean
                } else {
                    std
                }
            }
        };
        Ok(ScalarValue::Float64(Some(out)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.values.capacity() * size_of::<f64>()
    }
}

impl AggregateUDFImpl for RobustFunc {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let f = self.kind.name();
        let nsigma = constant_f64(args.exprs, 1, f, "nsigma")?.unwrap_or(3.0);
        let maxiters = constant_f64(args.exprs, 2, f, "maxiters")?.unwrap_or(5.0);
        if nsigma.is_nan() || nsigma <= 0.0 || maxiters.is_nan() || maxiters < 1.0 {
            return exec_err!("{f}: nsigma and maxiters must be positive");
        }
        Ok(Box::new(RobustAccumulator {
            kind: self.kind,
            nsigma,
            maxiters: maxiters.min(1e6) as usize,
            values: Vec::new(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            Kind::Mad => &DOCS[0],
            Kind::ClippedMean => &DOCS[1],
            Kind::ClippedStd => &DOCS[2],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASTROPY_MEAN: f64 = 2.008_333_333_333_333_3;
    const ASTROPY_STD: f64 = 0.480_812_391_225_055_2;
    const ASTROPY_MAD: f64 = 0.299_999_999_999_999_93;

    /// astropy.stats.sigma_clipped_stats([...]) and median_absolute_deviation([...]),
    /// computed with astropy 8.0.2 (the values are in the assertion).
    #[test]
    fn matches_astropy() {
        let data = [
            1.0, 2.0, 3.0, 2.5, 1.5, 2.2, 1.8, 2.1, 100.0, -50.0, 2.05, 1.95, 2.3, 1.7,
        ];
        let mut v = data.to_vec();
        sigma_clip(&mut v, 3.0, 5);
        let (mean, std) = mean_std(&v);
        assert!((mean - ASTROPY_MEAN).abs() < 1e-12, "{mean}");
        assert!((std - ASTROPY_STD).abs() < 1e-12, "{std}");
        let mut v = data.to_vec();
        let med = median(&mut v);
        let mut dev: Vec<f64> = data.iter().map(|x| (x - med).abs()).collect();
        assert!((median(&mut dev) - ASTROPY_MAD).abs() < 1e-12);
        assert!(median(&mut []).is_nan());
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
