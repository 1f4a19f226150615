//! `coordsys(geometry)`: ADQL 2.1 COORDSYS.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::check_geometry_args;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The coordinate system of a geometry (ADQL 2.1 COORDSYS): always 'ICRS', the only \
         frame this service serves (a '' or 'ICRS' frame argument of POINT, CIRCLE, BOX or \
         POLYGON is accepted and means ICRS). NULL if the argument is NULL.",
        "coordsys(geometry)",
    )
    .with_argument("geometry", "A POINT, CIRCLE, BOX or POLYGON.")
    .with_sql_example("```sql\n> SELECT coordsys(point('ICRS', 10, 20));\nICRS\n```")
    .build()
});

/// ADQL `COORDSYS(geometry)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CoordsysFunc {
    signature: Signature,
}

impl Default for CoordsysFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl CoordsysFunc {
    /// `(geometry) -> varchar`.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CoordsysFunc {
    fn name(&self) -> &str {
        "coordsys"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_geometry_args(self.name(), arg_types)?;
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [g] = args.args.as_slice() else {
            return exec_err!("coordsys takes one geometry");
        };
        let g = g.to_array(args.number_rows)?;
        let out: StringArray = (0..g.len())
            .map(|i| (!g.is_null(i)).then_some("ICRS"))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;

    use super::super::invoke;
    use super::super::testing::points;
    use super::*;

    #[test]
    fn icrs_or_null() {
        let out = invoke(
            &CoordsysFunc::new(),
            vec![points(&[Some((1.0, 2.0)), None])],
            2,
        )
        .unwrap();
        let s: Vec<_> = out.as_string::<i32>().iter().collect();
        assert_eq!(s, [Some("ICRS"), None]);
        assert!(CoordsysFunc::new().return_type(&[DataType::Utf8]).is_err());
    }
}
