//! `distance(ra1, dec1, ra2, dec2)`: ADQL 2.1 `DISTANCE` in its four-number form.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "Great-circle distance in degrees between (ra1, dec1) and (ra2, dec2), all in degrees \
         (ADQL 2.1 DISTANCE, four-number form). Computed with the Vincenty atan2 formula, which \
         is accurate for tiny separations, near the poles, across RA 0/360 and for antipodes. \
         NULL in any argument gives NULL; NaN propagates.",
        "distance(ra1, dec1, ra2, dec2)",
    )
    .with_argument("ra1", "Right ascension of the first position, degrees.")
    .with_argument("dec1", "Declination of the first position, degrees.")
    .with_argument("ra2", "Right ascension of the second position, degrees.")
    .with_argument("dec2", "Declination of the second position, degrees.")
    .with_sql_example("```sql\n> SELECT distance(0, 0, 90, 0);\n90.0\n```")
    .build()
});

/// ADQL `DISTANCE(ra1, dec1, ra2, dec2)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistanceFunc {
    signature: Signature,
}

impl Default for DistanceFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl DistanceFunc {
    /// The function with its signature `(double, double, double, double) -> double`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Uniform(4, vec![DataType::Float64]),
                    TypeSignature::Exact(vec![
                        crate::geometry::point_type(),
                        crate::geometry::point_type(),
                    ]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// Angular distance in degrees between two positions given in degrees (Vincenty formula).
pub fn angular_distance_deg(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (ra1, dec1, ra2, dec2) = (
        ra1.to_radians(),
        dec1.to_radians(),
        ra2.to_radians(),
        dec2.to_radians(),
    );
    let (sd1, cd1) = dec1.sin_cos();
    let (sd2, cd2) = dec2.sin_cos();
    let (sda, cda) = (ra2 - ra1).sin_cos();
    let x = cd2 * sda;
    let y = cd1 * sd2 - sd1 * cd2 * cda;
    let num = x.hypot(y);
    let den = sd1 * sd2 + cd1 * cd2 * cda;
    num.atan2(den).to_degrees()
}

impl ScalarUDFImpl for DistanceFunc {
    fn name(&self) -> &str {
        "distance"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        if let [p, q] = arrays.as_slice() {
            let (pv, pn) = crate::geometry::components(p, 2, "point")?;
            let (qv, qn) = crate::geometry::components(q, 2, "point")?;
            let values: Vec<f64> = (0..p.len())
                .map(|i| angular_distance_deg(pv[2 * i], pv[2 * i + 1], qv[2 * i], qv[2 * i + 1]))
                .collect();
            let nulls = datafusion::arrow::buffer::NullBuffer::union(pn.as_ref(), qn.as_ref());
            return Ok(ColumnarValue::Array(Arc::new(Float64Array::new(
                values.into(),
                nulls,
            ))));
        }
        let [a, b, c, d] = arrays.as_slice() else {
            return exec_err!("distance takes two points or four numbers: ra1, dec1, ra2, dec2");
        };
        let (a, b, c, d) = (
            a.as_primitive::<Float64Type>(),
            b.as_primitive::<Float64Type>(),
            c.as_primitive::<Float64Type>(),
            d.as_primitive::<Float64Type>(),
        );
        let out: Float64Array = (0..a.len())
            .map(|i| {
                if a.is_null(i) || b.is_null(i) || c.is_null(i) || d.is_null(i) {
                    None
                } else {
                    Some(angular_distance_deg(
                        a.value(i),
                        b.value(i),
                        c.value(i),
                        d.value(i),
                    ))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs::File;
    use std::path::PathBuf;

    use datafusion::arrow::array::{Array, Float64Array, Int64Array};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::angular_distance_deg as dist;

    #[test]
    fn simple_cases() {
        assert!((dist(0.0, 0.0, 90.0, 0.0) - 90.0).abs() < 1e-12);
        assert!((dist(359.999, 0.0, 0.001, 0.0) - 0.002).abs() < 1e-12);
        assert!((dist(10.0, 89.9, 190.0, 89.9) - 0.2).abs() < 1e-10);
        assert!((dist(0.0, 0.0, 180.0, 0.0) - 180.0).abs() < 1e-12);
        // 20 + 1e-9 is itself only representable to ~4e-15 deg; the formula adds nothing.
        let tiny = dist(10.0, 20.0, 10.0, 20.0 + 1e-9);
        assert!((tiny - 1e-9).abs() < 1e-14, "{tiny}");
        assert_eq!(dist(10.0, 20.0, 10.0, 20.0), 0.0);
        assert!(dist(f64::NAN, 0.0, 0.0, 0.0).is_nan());
    }

    fn read(name: &str) -> Vec<datafusion::arrow::array::RecordBatch> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference")
            .join(name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn f64s(b: &datafusion::arrow::array::RecordBatch, name: &str) -> Vec<f64> {
        let c = b.column_by_name(name).unwrap();
        let c =
            datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Float64)
                .unwrap();
        let a = c.as_any().downcast_ref::<Float64Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).collect()
    }

    fn i64s(b: &datafusion::arrow::array::RecordBatch, name: &str) -> Vec<i64> {
        let c = b.column_by_name(name).unwrap();
        let c = datafusion::arrow::compute::cast(c, &datafusion::arrow::datatypes::DataType::Int64)
            .unwrap();
        let a = c.as_any().downcast_ref::<Int64Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).collect()
    }

    /// Every reference pair (astropy separations, `../shared/reference/README.md`) to 1e-8
    /// arcsec: uniform, clustered, binary, duplicate, RA-wrap and polar positions.
    #[test]
    fn matches_the_crossmatch_reference() {
        let mut pos: HashMap<i64, (f64, f64)> = HashMap::new();
        for b in read("crossmatch_positions_200k.parquet") {
            let (id, ra, dec) = (i64s(&b, "id"), f64s(&b, "ra_deg"), f64s(&b, "dec_deg"));
            for i in 0..id.len() {
                pos.insert(id[i], (ra[i], dec[i]));
            }
        }
        let mut n = 0;
        let mut worst: f64 = 0.0;
        for b in read("crossmatch_pairs_10arcsec.parquet") {
            let (a, c, sep) = (i64s(&b, "id1"), i64s(&b, "id2"), f64s(&b, "sep_arcsec"));
            for i in 0..a.len() {
                let (p, q) = (pos[&a[i]], pos[&c[i]]);
                let d = dist(p.0, p.1, q.0, q.1) * 3600.0;
                worst = worst.max((d - sep[i]).abs());
                n += 1;
            }
        }
        assert_eq!(n, 324_433);
        assert!(worst < 1e-8, "worst difference {worst} arcsec");
    }
}
