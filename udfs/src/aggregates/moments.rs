//! `skewness(x)` and `kurtosis(x)`: standardised third and fourth moments, streaming and
//! mergeable (Pébay 2008, "Formulas for robust, one-pass parallel computation of
//! covariances and arbitrary-order statistical moments", SAND2008-6212).

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

/// Which moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Moment {
    /// `m3 / m2^1.5`.
    Skewness,
    /// `m4 / m2^2 - 3`.
    Kurtosis,
}

fn doc(m: Moment) -> Documentation {
    let (desc, syntax, ex) = match m {
        Moment::Skewness => (
            "Sample skewness g1 = m3 / m2^1.5 with population central moments m_k (scipy.stats.skew \
             with its default bias=True). NULL and NaN are ignored; NULL for fewer than 2 values \
             or zero variance.",
            "skewness(x)",
            "```sql\n> SELECT skewness(parallax) FROM gaiadr3.gaia_source;\n```",
        ),
        Moment::Kurtosis => (
            "Excess kurtosis g2 = m4 / m2^2 - 3 with population central moments m_k \
             (scipy.stats.kurtosis with its defaults fisher=True, bias=True). NULL and NaN are \
             ignored; NULL for fewer than 2 values or zero variance.",
            "kurtosis(x)",
            "```sql\n> SELECT kurtosis(parallax) FROM gaiadr3.gaia_source;\n```",
        ),
    };
    Documentation::builder(DOC_SECTION_STATISTICAL, desc, syntax)
        .with_argument("x", "A numeric expression.")
        .with_sql_example(ex)
        .build()
}

static DOCS: LazyLock<[Documentation; 2]> =
    LazyLock::new(|| [doc(Moment::Skewness), doc(Moment::Kurtosis)]);

/// Skewness or kurtosis.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MomentFunc {
    moment: Moment,
    signature: Signature,
}

impl MomentFunc {
    /// The function for `moment`.
    pub fn new(moment: Moment) -> Self {
        Self {
            moment,
            signature: Signature::uniform(1, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

/// Count, mean and central sums M2, M3, M4.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    pub(crate) fn push(&mut self, x: f64) {
        let n1 = self.n;
        self.n += 1.0;
        let n = self.n;
        let delta = x - self.mean;
        let dn = delta / n;
        let dn2 = dn * dn;
        let term1 = delta * dn * n1;
        self.mean += dn;
        self.m4 += term1 * dn2 * (n * n - 3.0 * n + 3.0) + 6.0 * dn2 * self.m2 - 4.0 * dn * self.m3;
        self.m3 += term1 * dn * (n - 2.0) - 3.0 * dn * self.m2;
        self.m2 += term1;
    }

    pub(crate) fn merge(&mut self, b: &Moments) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let a = *self;
        let n = a.n + b.n;
        let d = b.mean - a.mean;
        let (d2, d3) = (d * d, d * d * d);
        let d4 = d2 * d2;
        self.n = n;
        self.mean = a.mean + d * b.n / n;
        self.m2 = a.m2 + b.m2 + d2 * a.n * b.n / n;
        self.m3 = a.m3
            + b.m3
            + d3 * a.n * b.n * (a.n - b.n) / (n * n)
            + 3.0 * d * (a.n * b.m2 - b.n * a.m2) / n;
        self.m4 = a.m4
            + b.m4
            + d4 * a.n * b.n * (a.n * a.n - a.n * b.n + b.n * b.n) / (n * n * n)
            + 6.0 * d2 * (a.n * a.n * b.m2 + b.n * b.n * a.m2) / (n * n)
            + 4.0 * d * (a.n * b.m3 - b.n * a.m3) / n;
    }

    pub(crate) fn skewness(&self) -> Option<f64> {
        (self.n >= 2.0 && self.m2 > 0.0).then(|| self.n.sqrt() * self.m3 / self.m2.powf(1.5))
    }

    pub(crate) fn kurtosis(&self) -> Option<f64> {
        (self.n >= 2.0 && self.m2 > 0.0).then(|| self.n * self.m4 / (self.m2 * self.m2) - 3.0)
    }
}

#[derive(Debug)]
struct MomentAccumulator {
    moment: Moment,
    m: Moments,
}

impl Accumulator for MomentAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for x in values[0].as_primitive::<Float64Type>().iter().flatten() {
            if !x.is_nan() {
                self.m.push(x);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let cols: Vec<_> = states
            .iter()
            .map(|s| s.as_primitive::<Float64Type>())
            .collect();
        for i in 0..cols[0].len() {
            self.m.merge(&Moments {
                n: cols[0].value(i),
                mean: cols[1].value(i),
                m2: cols[2].value(i),
                m3: cols[3].value(i),
                m4: cols[4].value(i),
            });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let m = self.m;
        Ok([m.n, m.mean, m.m2, m.m3, m.m4]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(match self.moment {
            Moment::Skewness => self.m.skewness(),
            Moment::Kurtosis => self.m.kurtosis(),
        }))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

impl AggregateUDFImpl for MomentFunc {
    fn name(&self) -> &str {
        match self.moment {
            Moment::Skewness => "skewness",
            Moment::Kurtosis => "kurtosis",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["n", "mean", "m2", "m3", "m4"]
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
        Ok(Box::new(MomentAccumulator {
            moment: self.moment,
            m: Moments::default(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.moment {
            Moment::Skewness => &DOCS[0],
            Moment::Kurtosis => &DOCS[1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the two-pass definitions (numpy: m_k = mean((x - mean)^k)), and merging two
    /// halves gives the same as one pass.
    #[test]
    fn streaming_and_merged_equal_two_pass() {
        let x: Vec<f64> = (0..1000)
            .map(|i| {
                let t = i as f64 * 0.37;
                1e6 + t.sin() * 3.0 + (t * 0.1).exp().min(50.0)
            })
            .collect();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let m = |k: i32| x.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / n;
        let (skew, kurt) = (m(3) / m(2).powf(1.5), m(4) / (m(2) * m(2)) - 3.0);
        let mut one = Moments::default();
        x.iter().for_each(|&v| one.push(v));
        let (mut a, mut b) = (Moments::default(), Moments::default());
        x[..300].iter().for_each(|&v| a.push(v));
        x[300..].iter().for_each(|&v| b.push(v));
        a.merge(&b);
        for s in [one, a] {
            assert!((s.skewness().unwrap() - skew).abs() < 1e-9 * skew.abs().max(1.0));
            assert!((s.kurtosis().unwrap() - kurt).abs() < 1e-9 * kurt.abs().max(1.0));
        }
        let mut c = Moments::default();
        c.push(1.0);
        assert_eq!(c.skewness(), None);
    }
}
