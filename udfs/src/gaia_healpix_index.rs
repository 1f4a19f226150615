//! `gaia_healpix_index(norder, source_id)`: the HEALPix index encoded in a Gaia source_id.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "The nested HEALPix index at order `norder` (0 to 12) of a Gaia source: Gaia builds \
         source_id as the level-12 index times 2^35 plus a running number, so this is \
         source_id / (2^35 * 4^(12 - norder)), as at the ESA Gaia archive. NULL in either \
         argument, a negative source_id or an order outside 0..12 gives NULL.",
        "gaia_healpix_index(norder, source_id)",
    )
    .with_argument("norder", "HEALPix order, 0 to 12.")
    .with_argument("source_id", "Gaia DR1-DR3 source_id.")
    .with_sql_example("```sql\n> SELECT gaia_healpix_index(4, 2060294888487267584);\n914\n```")
    .build()
});

/// ESA Gaia archive `GAIA_HEALPIX_INDEX(norder, source_id)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GaiaHealpixIndexFunc {
    signature: Signature,
}

impl Default for GaiaHealpixIndexFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl GaiaHealpixIndexFunc {
    /// The function with its signature `(bigint, bigint) -> bigint`.
    pub fn new() -> Self {
        Self {
            signature: Signature::uniform(2, vec![DataType::Int64], Volatility::Immutable),
        }
    }
}

/// The kernel: `None` for orders outside 0..=12 or negative ids.
pub fn gaia_healpix_index(norder: i64, source_id: i64) -> Option<i64> {
    if !(0..=12).contains(&norder) || source_id < 0 {
        return None;
    }
    Some(source_id >> (35 + 2 * (12 - norder)))
}

impl ScalarUDFImpl for GaiaHealpixIndexFunc {
    fn name(&self) -> &str {
        "gaia_healpix_index"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [order, id] = arrays.as_slice() else {
            return exec_err!("gaia_healpix_index takes two arguments: norder, source_id");
        };
        let (order, id) = (
            order.as_primitive::<Int64Type>(),
            id.as_primitive::<Int64Type>(),
        );
        let out: Int64Array = order
            .iter()
            .zip(id.iter())
            .map(|(o, s)| gaia_healpix_index(o?, s?))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::gaia_healpix_index;

    #[test]
    fn esa_documentation_values() {
        assert_eq!(gaia_healpix_index(4, 2060294888487267584), Some(914));
        assert_eq!(gaia_healpix_index(8, 539853444666465792), Some(61374));
        assert_eq!(gaia_healpix_index(12, 1 << 35), Some(1));
        assert_eq!(gaia_healpix_index(13, 1), None);
        assert_eq!(gaia_healpix_index(4, -1), None);
    }
}
