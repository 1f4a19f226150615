//! `centroid(geometry)`: ADQL 2.1 CENTROID, a POINT.

use std::sync::LazyLock;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use super::{build, check_geometry_args, decode, geometry_field, point_type, sphere};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The centroid of a geometry as a POINT (ADQL 2.1 CENTROID): a point itself, the centre \
         of a circle, and for a box or polygon the centre of mass of the spherical surface \
         projected back onto the sphere (not the mean of the vertex coordinates, which breaks \
         across RA 0/360 and near the poles). Longitude in [0, 360). NULL if the argument is \
         NULL.",
        "centroid(geometry)",
    )
    .with_argument("geometry", "A POINT, CIRCLE, BOX or POLYGON.")
    .with_sql_example(
        "```sql\n> SELECT coord1(centroid(box(0, 10, 2, 2))), coord2(centroid(box(0, 10, 2, 2)));\n\
         0.0  10.0\n```",
    )
    .build()
});

/// ADQL `CENTROID(geometry)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CentroidFunc {
    signature: Signature,
}

impl Default for CentroidFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl CentroidFunc {
    /// `(geometry) -> point`.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CentroidFunc {
    fn name(&self) -> &str {
        "centroid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_geometry_args(self.name(), arg_types)?;
        Ok(point_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        check_geometry_args(self.name(), &types)?;
        Ok(geometry_field(self.name(), "point", 2))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [g] = args.args.as_slice() else {
            return exec_err!("centroid takes one geometry");
        };
        let shapes = decode(self.name(), g)?;
        let (lon, lat): (Vec<Option<f64>>, Vec<Option<f64>>) = (0..args.number_rows)
            .map(|i| match shapes.get(i) {
                Some(s) => {
                    let (a, b) = sphere::lonlat(s.centroid());
                    (Some(a), Some(b))
                }
                None => (None, None),
            })
            .unzip();
        let (lon, lat) = (Float64Array::from(lon), Float64Array::from(lat));
        Ok(ColumnarValue::Array(build(&[&lon, &lat])?))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::components;
    use super::super::invoke;
    use super::super::testing::{circle, polygons};
    use super::*;

    #[test]
    fn centroids_across_ra_zero_and_at_the_pole() {
        let g = polygons(&[
            Some(vec![359.0, -1.0, 1.0, -1.0, 1.0, 1.0, 359.0, 1.0]),
            Some(vec![0.0, 80.0, 90.0, 80.0, 180.0, 80.0, 270.0, 80.0]),
            None,
        ]);
        let out = invoke(&CentroidFunc::new(), vec![g], 3).unwrap();
        let (v, nulls) = components(&out, 2, "point").unwrap();
        assert!(
            v[0].min(360.0 - v[0]) < 1e-12 && v[1].abs() < 1e-12,
            "{v:?}"
        );
        assert!((v[3] - 90.0).abs() < 1e-12);
        assert!(nulls.is_some_and(|n| n.is_null(2)));
        let c = invoke(&CentroidFunc::new(), vec![circle(359.5, -30.0, 2.0)], 1).unwrap();
        let (v, _) = components(&c, 2, "point").unwrap();
        assert!((v[0] - 359.5).abs() < 1e-12 && (v[1] + 30.0).abs() < 1e-12);
    }
}
