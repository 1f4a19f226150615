//! `rand([seed])`: ADQL 2.1 `RAND`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "A pseudo-random double in [0, 1) (ADQL 2.1 RAND), from a SplitMix64 generator. \
         Without a seed every call site starts from an unpredictable state. With a constant \
         seed the call site produces the same sequence of values, row after row, each time the \
         query is planned by the ADQL front end (which gives every call site a fresh \
         generator); the order of rows across parallel partitions is not defined, so fix it \
         with ORDER BY in a subquery if it matters. With a seed that varies per row the value is \
         a pure function of that row's seed. A NULL seed gives NULL.",
        "random([seed]), also named rand([seed])",
    )
    .with_argument("seed", "Optional integer (or number) seed.")
    .with_sql_example("```sql\n> SELECT rand(42) FROM t;\n0.7415648787718233\n...\n```")
    .build()
});

static ALIASES: LazyLock<[String; 1]> = LazyLock::new(|| ["rand".to_string()]);

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// ADQL `RAND([seed])`. Each instance carries its own generator state.
#[derive(Debug)]
pub struct RandFunc {
    signature: Signature,
    /// Distinguishes instances: two call sites are never "the same expression".
    id: u64,
    /// `(seed the state belongs to, generator state)`.
    state: Mutex<Option<(u64, u64)>>,
}

impl PartialEq for RandFunc {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for RandFunc {}

impl Hash for RandFunc {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl Default for RandFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl RandFunc {
    /// A fresh generator with signatures `() -> double` and `(bigint | double) -> double`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Nullary,
                    TypeSignature::Exact(vec![DataType::Int64]),
                    TypeSignature::Exact(vec![DataType::Float64]),
                ],
                Volatility::Volatile,
            ),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(None),
        }
    }

    /// Draws `n` values for `seed`, continuing this instance's sequence for that seed.
    fn draw(&self, seed: u64, n: usize) -> Float64Array {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = match *guard {
            Some((seeded, s)) if seeded == seed => s,
            _ => seed,
        };
        let values: Float64Array = (0..n).map(|_| Some(to_unit(splitmix64(&mut s)))).collect();
        *guard = Some((seed, s));
        values
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 53 bits as a double in [0, 1).
fn to_unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A seed from a per-row value: the bits of the number.
fn seed_of(v: &ScalarValue) -> Option<u64> {
    match v {
        ScalarValue::Int64(Some(i)) => Some(*i as u64),
        ScalarValue::Float64(Some(f)) => Some(f.to_bits()),
        _ => None,
    }
}

impl ScalarUDFImpl for RandFunc {
    /// Named like DataFusion's `random`, whose alias `rand` it also takes: DataFusion's
    /// function must not stay registered under `rand` next to this one, or a session rebuilt
    /// from its function list (as Ballista's scheduler does) may resolve `rand` to it.
    fn name(&self) -> &str {
        "random"
    }

    fn aliases(&self) -> &[String] {
        ALIASES.as_slice()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    /// A fresh instance, which the ADQL front end uses to restart seeded sequences per query.
    fn with_updated_config(&self, _config: &ConfigOptions) -> Option<ScalarUDF> {
        Some(ScalarUDF::new_from_impl(Self::new()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let out: ArrayRef = match args.args.as_slice() {
            [] => {
                let seed = {
                    let guard = self
                        .state
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match *guard {
                        Some((seed, _)) => seed,
                        None => RandomState::new().hash_one(self.id),
                    }
                };
                Arc::new(self.draw(seed, n))
            }
            [ColumnarValue::Scalar(v)] => match seed_of(v) {
                Some(seed) => Arc::new(self.draw(seed, n)),
                None => Arc::new(Float64Array::new_null(n)),
            },
            [ColumnarValue::Array(a)] => match a.data_type() {
                DataType::Int64 => Arc::new(
                    a.as_primitive::<Int64Type>()
                        .unary::<_, Float64Type>(|s| to_unit(splitmix64(&mut (s as u64)))),
                ),
                DataType::Float64 => Arc::new(
                    a.as_primitive::<Float64Type>()
                        .unary::<_, Float64Type>(|s| to_unit(splitmix64(&mut s.to_bits()))),
                ),
                other => return exec_err!("rand: unexpected seed type {other}"),
            },
            _ => return exec_err!("rand takes zero or one argument"),
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequences_repeat_per_instance() {
        let a = RandFunc::new();
        let first = a.draw(42, 3);
        let second = a.draw(42, 2);
        let b = RandFunc::new();
        let all = b.draw(42, 5);
        let joined: Vec<f64> = first
            .values()
            .iter()
            .chain(second.values())
            .copied()
            .collect();
        assert_eq!(joined, all.values().to_vec());
        assert!(all.values().iter().all(|v| (0.0..1.0).contains(v)));
        assert_ne!(all.value(0), all.value(1));
        assert_ne!(b.draw(7, 1).value(0), RandFunc::new().draw(42, 1).value(0));
    }
}
