//! `ivo_healpix_index(order, ra, dec)` and `ivo_healpix_index(order, point)` (IVOA UDF
//! catalogue §2.1), with `cdshealpix`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The NESTED HEALPix index at `order` (0 to 29) of the cell containing (ra, dec), in \
         degrees, or a POINT (IVOA UDF catalogue ivo_healpix_index). NULL when an argument is \
         NULL, the order is outside 0..29 or dec is outside [-90, 90].",
        "ivo_healpix_index(order, ra, dec)",
    )
    .with_argument("order", "HEALPix order (depth), 0 to 29.")
    .with_argument("ra", "Longitude in degrees (or a POINT, then no dec).")
    .with_argument("dec", "Latitude in degrees.")
    .with_sql_example("```sql\n> SELECT ivo_healpix_index(0, 45, 0);\n4\n```")
    .build()
});

/// IVOA `ivo_healpix_index`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IvoHealpixIndexFunc {
    signature: Signature,
}

impl Default for IvoHealpixIndexFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl IvoHealpixIndexFunc {
    /// `(integer, double, double) -> bigint` and `(integer, point) -> bigint`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![TypeSignature::Any(3), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        }
    }
}

/// The kernel: `None` for invalid orders or latitudes.
pub fn healpix_index(order: i64, ra_deg: f64, dec_deg: f64) -> Option<i64> {
    let depth = u8::try_from(order)
        .ok()
        .filter(|d| *d <= cdshealpix::DEPTH_MAX)?;
    if !ra_deg.is_finite() || !(-90.0..=90.0).contains(&dec_deg) {
        return None;
    }
    let h = cdshealpix::nested::get(depth).hash(ra_deg.to_radians(), dec_deg.to_radians());
    i64::try_from(h).ok()
}

impl ScalarUDFImpl for IvoHealpixIndexFunc {
    fn name(&self) -> &str {
        "ivo_healpix_index"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let numeric = |t: &DataType| t.is_numeric() || t.is_null();
        match arg_types {
            [o, a, b] if numeric(o) && numeric(a) && numeric(b) => Ok(DataType::Int64),
            [o, p] if numeric(o) && *p == crate::geometry::point_type() => Ok(DataType::Int64),
            _ => plan_err!(
                "ivo_healpix_index takes (order, ra, dec) or (order, point), not {arg_types:?}"
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let f64s = |a: &ArrayRef| cast(a, &DataType::Float64);
        let (order, ra, dec): (ArrayRef, ArrayRef, ArrayRef) = match arrays.as_slice() {
            [o, a, b] => (cast(o, &DataType::Int64)?, f64s(a)?, f64s(b)?),
            [o, p] => {
                let (ra, dec) = crate::geometry::split_point(p)?;
                (cast(o, &DataType::Int64)?, Arc::new(ra), Arc::new(dec))
            }
            _ => return exec_err!("ivo_healpix_index takes two or three arguments"),
        };
        let (o, a, b) = (
            order.as_primitive::<Int64Type>(),
            ra.as_primitive::<Float64Type>(),
            dec.as_primitive::<Float64Type>(),
        );
        let out: Int64Array = (0..o.len())
            .map(|i| {
                if o.is_null(i) || a.is_null(i) || b.is_null(i) {
                    None
                } else {
                    healpix_index(o.value(i), a.value(i), b.value(i))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::healpix_index;

    #[test]
    fn kernel() {
        // Order 0 has twelve base cells: 0-3 around the north pole centred at RA 45, 135, 225,
        // 315; 4-7 on the equator centred at RA 0, 90, 180, 270; 8-11 around the south pole.
        assert_eq!(healpix_index(0, 0.0, 0.0), Some(4));
        assert_eq!(healpix_index(0, 90.0, 0.0), Some(5));
        assert_eq!(healpix_index(0, 270.0, 0.0), Some(7));
        assert_eq!(healpix_index(0, 45.0, 60.0), Some(0));
        assert_eq!(healpix_index(0, 135.0, 60.0), Some(1));
        assert_eq!(healpix_index(0, 45.0, -60.0), Some(8));
        assert_eq!(healpix_index(0, 315.0, -60.0), Some(11));
        // Order 1 subdivides in NESTED order: the four children of cell 4 are 16..19.
        assert!((16..20).contains(&healpix_index(1, 0.0, 0.0).unwrap()));
        assert_eq!(healpix_index(30, 45.0, 0.0), None);
        assert_eq!(healpix_index(-1, 45.0, 0.0), None);
        assert_eq!(healpix_index(5, 45.0, 91.0), None);
        assert_eq!(healpix_index(5, f64::NAN, 0.0), None);
    }
}
