//! `in_unit(x, target [, source])`: ADQL 2.1 `IN_UNIT` (§4.9).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

use crate::UdfError;
use crate::unit::{UNIT_METADATA_KEY, conversion_factor};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Converts `x` to the VOUnit `target` (ADQL 2.1 IN_UNIT). The unit of `x` is the `source` \
         argument if given, otherwise the `unit` metadata of its Arrow field (set by the \
         catalogue for table columns). Understands angles (rad, deg, arcmin, arcsec, mas, uas), \
         times (s, min, h, d, yr or a), lengths (m, pc, AU, lyr, Angstrom, solRad), masses (g, \
         solMass), mag, SI prefixes where VOUnit allows them, and products, quotients and \
         integer powers of these (`mas.yr**-1`, `km/s`, `deg^2`). Units are checked when the \
         query is planned: an unknown unit, a value without a unit and incompatible dimensions \
         are errors. Returns a double carrying the target unit in its field metadata; NULL \
         gives NULL and NaN gives NaN. Offset units (degrees Celsius) are not supported.",
        "in_unit(x, target [, source])",
    )
    .with_standard_argument("x", Some("Numeric"))
    .with_argument("target", "The unit to convert to, a string constant.")
    .with_argument(
        "source",
        "The unit of `x`, a string constant; defaults to the unit of the column.",
    )
    .with_sql_example(
        "```sql\n> SELECT in_unit(ra, 'arcsec'), in_unit(1.5, 'arcmin', 'deg') FROM gaiadr3.gaia_source;\n```",
    )
    .build()
});

/// ADQL `IN_UNIT(x, unit)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InUnitFunc {
    signature: Signature,
}

impl Default for InUnitFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl InUnitFunc {
    /// The function with signatures `(double, varchar [, varchar]) -> double`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Float64, DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Float64, DataType::Utf8, DataType::Utf8]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

fn constant_string(v: Option<&ScalarValue>, argument: &'static str) -> Result<String, UdfError> {
    match v {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s))) => Ok(s.clone()),
        _ => Err(UdfError::NotConstant {
            function: "in_unit",
            argument,
        }),
    }
}

/// Resolves (source unit, target unit, factor) from the value's field and the constants.
fn resolve(
    value_field: Option<&FieldRef>,
    target: Option<&ScalarValue>,
    source: Option<Option<&ScalarValue>>,
) -> Result<(String, f64), UdfError> {
    let target = constant_string(target, "target unit")?;
    let source = match source {
        Some(s) => constant_string(s, "source unit")?,
        None => value_field
            .and_then(|f| f.metadata().get(UNIT_METADATA_KEY))
            .cloned()
            .ok_or(UdfError::MissingUnit)?,
    };
    let factor = conversion_factor(&source, &target)?;
    Ok((target, factor))
}

fn plan_error(e: UdfError) -> DataFusionError {
    DataFusionError::Plan(format!("in_unit: {e}"))
}

impl ScalarUDFImpl for InUnitFunc {
    fn name(&self) -> &str {
        "in_unit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let source = (args.scalar_arguments.len() > 2).then(|| args.scalar_arguments[2]);
        let target = args.scalar_arguments.get(1).copied().flatten();
        let (target, _) = resolve(args.arg_fields.first(), target, source).map_err(plan_error)?;
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        let metadata = HashMap::from([(UNIT_METADATA_KEY.to_owned(), target)]);
        Ok(Arc::new(
            Field::new(self.name(), DataType::Float64, nullable).with_metadata(metadata),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = |i: usize| match args.args.get(i) {
            Some(ColumnarValue::Scalar(s)) => Some(s),
            _ => None,
        };
        let source = (args.args.len() > 2).then(|| scalar(2));
        let (_, factor) =
            resolve(args.arg_fields.first(), scalar(1), source).map_err(plan_error)?;
        let Some(x) = args.args.first() else {
            return exec_err!("in_unit takes two or three arguments");
        };
        let x = x.to_array(args.number_rows)?;
        let out: ArrayRef = Arc::new(
            x.as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(|v| v * factor),
        );
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
    fn resolves_from_metadata_or_argument() {
        let field: FieldRef = Arc::new(Field::new("ra", DataType::Float64, true).with_metadata(
            HashMap::from([(UNIT_METADATA_KEY.to_owned(), "deg".to_owned())]),
        ));
        let arcsec = ScalarValue::Utf8(Some("arcsec".into()));
        let deg = ScalarValue::Utf8(Some("deg".into()));
        let r = resolve(Some(&field), Some(&arcsec), None);
        assert_eq!(r.map(|r| r.1.round()), Ok(3600.0));
        let plain: FieldRef = Arc::new(Field::new("x", DataType::Float64, true));
        assert_eq!(
            resolve(Some(&plain), Some(&arcsec), None),
            Err(UdfError::MissingUnit)
        );
        let r = resolve(Some(&plain), Some(&arcsec), Some(Some(&deg)));
        assert_eq!(r.map(|r| r.1.round()), Ok(3600.0));
        assert!(matches!(
            resolve(Some(&plain), None, Some(Some(&deg))),
            Err(UdfError::NotConstant { .. })
        ));
    }
}
