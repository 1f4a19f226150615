//! ADQL 2.1 geometry (§4.2) on the unit sphere, degrees at the surface.
//!
//! Values follow DALI 1.1 §3.3: a `point` is `double[2]` (longitude, latitude), a `circle` is
//! `double[3]` (centre longitude, centre latitude, radius), both in degrees. They are Arrow
//! `FixedSizeList<Float64>` columns whose field metadata carries `xtype` and `unit`, so result
//! writers and TAP_SCHEMA declare them as DALI xtypes without special cases.

pub mod circle;
pub mod contains;
pub mod coord;
pub mod point;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err};

/// `double[n]` as Arrow.
pub(crate) fn list_type(n: i32) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float64, true)), n)
}

/// The Arrow type of an ADQL POINT.
pub fn point_type() -> DataType {
    list_type(2)
}

/// The Arrow type of an ADQL CIRCLE.
pub fn circle_type() -> DataType {
    list_type(3)
}

/// A result field of a geometry type, tagged with its DALI xtype and unit.
pub(crate) fn geometry_field(name: &str, xtype: &str, n: i32) -> FieldRef {
    Arc::new(
        Field::new(name, list_type(n), true).with_metadata(HashMap::from([
            ("xtype".to_string(), xtype.to_string()),
            ("unit".to_string(), "deg".to_string()),
        ])),
    )
}

/// Builds a `double[n]` column from `n` component columns; a row is NULL when any component is.
pub(crate) fn build(components: &[&Float64Array]) -> Result<ArrayRef> {
    let n = components.len();
    let rows = components.first().map_or(0, |c| c.len());
    let mut values = Vec::with_capacity(rows * n);
    for i in 0..rows {
        for c in components {
            values.push(c.value(i));
        }
    }
    let nulls = components.iter().fold(None::<NullBuffer>, |acc, c| {
        NullBuffer::union(acc.as_ref(), c.nulls())
    });
    let field = Arc::new(Field::new("item", DataType::Float64, true));
    let arr = FixedSizeListArray::try_new(
        field,
        i32::try_from(n).unwrap_or(i32::MAX),
        Arc::new(Float64Array::from(values)),
        nulls,
    )?;
    Ok(Arc::new(arr))
}

/// The flat values of a `double[n]` column and its row validity.
pub(crate) fn components(
    a: &ArrayRef,
    n: usize,
    what: &str,
) -> Result<(Vec<f64>, Option<NullBuffer>)> {
    let Some(list) = a.as_fixed_size_list_opt() else {
        return exec_err!("expected a {what}, got {}", a.data_type());
    };
    if list.value_length() as usize != n {
        return exec_err!("expected a {what} of {n} numbers");
    }
    let values = list.values().as_primitive::<Float64Type>();
    let start = list.offset() * n;
    let flat = values.values()[start..start + list.len() * n].to_vec();
    Ok((flat, list.nulls().cloned()))
}

/// A POINT column split into its longitude and latitude columns (NULL rows stay NULL).
pub(crate) fn split_point(p: &ArrayRef) -> Result<(Float64Array, Float64Array)> {
    let (flat, nulls) = components(p, 2, "point")?;
    let lon: Vec<f64> = flat.iter().step_by(2).copied().collect();
    let lat: Vec<f64> = flat.iter().skip(1).step_by(2).copied().collect();
    Ok((
        Float64Array::new(lon.into(), nulls.clone()),
        Float64Array::new(lat.into(), nulls),
    ))
}
