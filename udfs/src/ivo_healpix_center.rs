//! `ivo_healpix_center(order, index)`: the centre of a NESTED HEALPix cell as a POINT (IVOA UDF
//! catalogue), with `cdshealpix`.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::geometry::{build, geometry_field, point_type};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The centre of the NESTED HEALPix cell `index` at `order` (0 to 29) as a POINT, ra in \
         [0, 360) and dec in degrees (IVOA UDF catalogue ivo_healpix_center; the inverse of \
         ivo_healpix_index up to the cell size). NULL when an argument is NULL, the order is \
         outside 0..29 or the index outside 0 .. 12 * 4^order - 1.",
        "ivo_healpix_center(order, index)",
    )
    .with_argument("order", "HEALPix order (depth), 0 to 29.")
    .with_argument("index", "NESTED cell index at that order.")
    .with_sql_example(
        "```sql\n> SELECT coord1(ivo_healpix_center(0, 4)), coord2(ivo_healpix_center(0, 4));\n\
         0.0  0.0\n```",
    )
    .build()
});

/// IVOA `ivo_healpix_center`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IvoHealpixCenterFunc {
    signature: Signature,
}

impl Default for IvoHealpixCenterFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl IvoHealpixCenterFunc {
    /// `(integer, bigint) -> point`.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// The kernel: the cell centre (lon in [0, 360), lat) in degrees, `None` for an invalid order
/// or index.
pub fn healpix_center(order: i64, index: i64) -> Option<(f64, f64)> {
    let depth = u8::try_from(order)
        .ok()
        .filter(|d| *d <= cdshealpix::DEPTH_MAX)?;
    let hash = u64::try_from(index)
        .ok()
        .filter(|h| *h < cdshealpix::n_hash(depth))?;
    let (lon, lat) = cdshealpix::nested::get(depth).center(hash);
    let lon = lon.to_degrees().rem_euclid(360.0);
    Some((if lon >= 360.0 { 0.0 } else { lon }, lat.to_degrees()))
}

impl ScalarUDFImpl for IvoHealpixCenterFunc {
    fn name(&self) -> &str {
        "ivo_healpix_center"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let int = |t: &DataType| t.is_integer() || t.is_null();
        match arg_types {
            [o, i] if int(o) && int(i) => Ok(point_type()),
            _ => plan_err!("ivo_healpix_center takes (order, index) integers, not {arg_types:?}"),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.return_type(&types)?;
        Ok(geometry_field(self.name(), "point", 2))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [o, i] = arrays.as_slice() else {
            return exec_err!("ivo_healpix_center takes two arguments: order, index");
        };
        let (o, i) = (cast(o, &DataType::Int64)?, cast(i, &DataType::Int64)?);
        let (o, i) = (o.as_primitive::<Int64Type>(), i.as_primitive::<Int64Type>());
        let (lon, lat): (Vec<Option<f64>>, Vec<Option<f64>>) = (0..o.len())
            .map(|r| {
                if o.is_null(r) || i.is_null(r) {
                    return (None, None);
                }
                match healpix_center(o.value(r), i.value(r)) {
                    Some((a, b)) => (Some(a), Some(b)),
                    None => (None, None),
                }
            })
            .unzip();
        let out = build(&[&Float64Array::from(lon), &Float64Array::from(lat)])?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::healpix_center;
    use crate::ivo_healpix_index::healpix_index;

    #[test]
    fn kernel() {
        // Order 0: cells 0-3 centred at dec +41.81 (asin(2/3)), RA 45, 135, ...; 4-7 on the
        // equator at RA 0, 90, 180, 270; 8-11 at dec -41.81.
        let z = (2.0f64 / 3.0).asin().to_degrees();
        let close =
            |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12;
        assert!(close(healpix_center(0, 0).unwrap(), (45.0, z)));
        assert!(close(healpix_center(0, 4).unwrap(), (0.0, 0.0)));
        assert!(close(healpix_center(0, 7).unwrap(), (270.0, 0.0)));
        assert!(close(healpix_center(0, 11).unwrap(), (315.0, -z)));
        // The centre of a cell lies in that cell, at every order, also near the poles.
        for order in [1, 5, 12, 20, 29] {
            let n = 12i64 << (2 * order);
            for index in [0, 1, n / 3, n / 2 + 7, n - 1] {
                let (ra, dec) = healpix_center(order, index).unwrap();
                assert_eq!(
                    healpix_index(order, ra, dec),
                    Some(index),
                    "{order} {index}"
                );
            }
        }
        assert_eq!(healpix_center(0, 12), None);
        assert_eq!(healpix_center(30, 0), None);
        assert_eq!(healpix_center(-1, 0), None);
        assert_eq!(healpix_center(3, -1), None);
    }
}
