//! `epoch_prop_pos(ra, dec, parallax, pmra, pmdec, radial_velocity, ref_epoch, target_epoch)`
//! (alias `ivo_epoch_prop_pos`): the propagated position of [`crate::epoch_prop`] as a POINT.

use std::sync::LazyLock;

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::epoch_prop::propagate_rows;
use crate::geometry::{build, geometry_field, point_type};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The position at target_epoch as a POINT (ESA Gaia archive EPOCH_PROP_POS, IVOA \
         ivo_epoch_prop_pos): the first two values of epoch_prop, with the same rigorous \
         method and NULL handling (a NULL parallax, proper motion or radial velocity counts \
         as 0; NULL when ra, dec or an epoch is NULL). Use it for cone searches and \
         crossmatches at another epoch.",
        "epoch_prop_pos(ra, dec, parallax, pmra, pmdec, radial_velocity, ref_epoch, target_epoch)",
    )
    .with_argument("ra", "Right ascension at ref_epoch, degrees.")
    .with_argument("dec", "Declination at ref_epoch, degrees.")
    .with_argument("parallax", "Parallax, mas.")
    .with_argument("pmra", "Proper motion in RA times cos(dec), mas/yr.")
    .with_argument("pmdec", "Proper motion in Dec, mas/yr.")
    .with_argument("radial_velocity", "Barycentric radial velocity, km/s.")
    .with_argument("ref_epoch", "Epoch of the parameters, Julian years.")
    .with_argument("target_epoch", "Epoch to propagate to, Julian years.")
    .with_sql_example(
        "```sql\n> SELECT coord2(epoch_prop_pos(10, 20, 100, 0, 1000, 0, 2016, 2017));\n\
         20.000277777...\n```",
    )
    .build()
});

/// ESA Gaia archive `EPOCH_PROP_POS` / IVOA `ivo_epoch_prop_pos`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EpochPropPosFunc {
    signature: Signature,
    aliases: Vec<String>,
}

impl Default for EpochPropPosFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl EpochPropPosFunc {
    /// Eight doubles -> point.
    pub fn new() -> Self {
        Self {
            signature: Signature::uniform(8, vec![DataType::Float64], Volatility::Immutable),
            aliases: vec!["ivo_epoch_prop_pos".to_string()],
        }
    }
}

impl ScalarUDFImpl for EpochPropPosFunc {
    fn name(&self) -> &str {
        "epoch_prop_pos"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(point_type())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(geometry_field(self.name(), "point", 2))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = propagate_rows(self.name(), &args.args)?;
        let ra: Float64Array = rows.iter().map(|r| r.map(|a| a[0])).collect();
        let dec: Float64Array = rows.iter().map(|r| r.map(|a| a[1])).collect();
        Ok(ColumnarValue::Array(build(&[&ra, &dec])?))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
