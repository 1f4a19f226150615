//! ADQL 2.1 geometry (§4.2) on the unit sphere, degrees at the surface.
//!
//! Values follow DALI 1.1 §3.3: a `point` is `double[2]` (longitude, latitude), a `circle` is
//! `double[3]` (centre longitude, centre latitude, radius), both Arrow `FixedSizeList<Float64>`;
//! a `polygon` is `double[]` (lon1, lat1, lon2, lat2, ...; at least three vertices, the first
//! not repeated), an Arrow `List<Float64>`. BOX builds a polygon (ADQL 2.1 deprecates BOX as a
//! type of its own). All in degrees; the field metadata carries `xtype` and `unit`, so result
//! writers and TAP_SCHEMA declare them as DALI xtypes without special cases.
//!
//! The spherical math (unit vectors, great-circle edges, polygon validation, containment) lives
//! once, in the `sphere` module; the functions here decode Arrow values into its shapes.

pub mod area;
#[path = "box.rs"]
pub mod boxes;
pub mod centroid;
pub mod circle;
pub mod contains;
pub mod coord;
pub mod coordsys;
pub mod intersects;
pub mod point;
pub mod polygon;
pub(crate) mod sphere;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float64Array, Float64Builder, Int32Array,
    ListBuilder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

use sphere::{Cap, Polygon, Shape};

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

/// The Arrow type of an ADQL POLYGON (and BOX): a variable-length `double[]`.
pub fn polygon_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
}

/// A result field of a geometry type, tagged with its DALI xtype and unit.
pub(crate) fn geometry_field(name: &str, xtype: &str, n: i32) -> FieldRef {
    typed_geometry_field(name, xtype, list_type(n))
}

/// A polygon result field (DALI xtype `polygon`, unit deg).
pub(crate) fn polygon_field(name: &str) -> FieldRef {
    typed_geometry_field(name, "polygon", polygon_type())
}

fn typed_geometry_field(name: &str, xtype: &str, t: DataType) -> FieldRef {
    Arc::new(Field::new(name, t, true).with_metadata(HashMap::from([
        ("xtype".to_string(), xtype.to_string()),
        ("unit".to_string(), "deg".to_string()),
    ])))
}

/// The geometry kind of an Arrow type, if it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Point,
    Circle,
    Polygon,
    /// An untyped NULL literal.
    Null,
}

pub(crate) fn kind_of(t: &DataType) -> Option<Kind> {
    match t {
        DataType::Null => Some(Kind::Null),
        DataType::FixedSizeList(f, 2) if f.data_type() == &DataType::Float64 => Some(Kind::Point),
        DataType::FixedSizeList(f, 3) if f.data_type() == &DataType::Float64 => Some(Kind::Circle),
        DataType::List(f) | DataType::LargeList(f) if f.data_type().is_numeric() => {
            Some(Kind::Polygon)
        }
        _ => None,
    }
}

/// Plan-time check that every argument of `function` is a geometry value.
pub(crate) fn check_geometry_args(function: &str, arg_types: &[DataType]) -> Result<Vec<Kind>> {
    arg_types
        .iter()
        .enumerate()
        .map(|(i, t)| match kind_of(t) {
            Some(k) => Ok(k),
            None => plan_err!(
                "{function}: argument {} must be a point, circle, box or polygon, not {t}",
                i + 1
            ),
        })
        .collect()
}

/// One argument decoded into shapes: one per row, or one for a constant.
pub(crate) enum Shapes {
    Constant(Option<Shape>),
    Rows(Vec<Option<Shape>>),
}

impl Shapes {
    pub(crate) fn get(&self, i: usize) -> Option<&Shape> {
        match self {
            Shapes::Constant(s) => s.as_ref(),
            Shapes::Rows(v) => v.get(i).and_then(Option::as_ref),
        }
    }
}

/// Decodes a geometry argument of `function`; a constant is decoded (and validated) once.
///
/// NULL values and values with a NULL component decode to `None`; invalid values (latitude
/// out of range, bad radius, invalid polygon) are execution errors.
pub(crate) fn decode(function: &str, v: &ColumnarValue) -> Result<Shapes> {
    match v {
        ColumnarValue::Scalar(s) => {
            let a = s.to_array_of_size(1)?;
            let mut rows = decode_array(function, &a)?;
            Ok(Shapes::Constant(rows.pop().flatten()))
        }
        ColumnarValue::Array(a) => Ok(Shapes::Rows(decode_array(function, a)?)),
    }
}

fn decode_array(function: &str, a: &ArrayRef) -> Result<Vec<Option<Shape>>> {
    let wrap = |r: std::result::Result<Shape, String>| match r {
        Ok(s) => Ok(s),
        Err(e) => exec_err!("{function}: {e}"),
    };
    match kind_of(a.data_type()) {
        Some(Kind::Null) => Ok(vec![None; a.len()]),
        Some(Kind::Point) => {
            let (v, nulls) = components(a, 2, "point")?;
            (0..a.len())
                .map(|i| {
                    if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                        return Ok(None);
                    }
                    wrap(point_shape(v[2 * i], v[2 * i + 1])).map(Some)
                })
                .collect()
        }
        Some(Kind::Circle) => {
            let (v, nulls) = components(a, 3, "circle")?;
            (0..a.len())
                .map(|i| {
                    if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                        return Ok(None);
                    }
                    wrap(circle_shape(v[3 * i], v[3 * i + 1], v[3 * i + 2])).map(Some)
                })
                .collect()
        }
        Some(Kind::Polygon) => {
            let a = cast(a, &polygon_type())?;
            let list = a.as_list::<i32>();
            let values = cast(list.values(), &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>();
            let offsets = list.value_offsets();
            (0..list.len())
                .map(|i| {
                    let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                    if list.is_null(i) || (s..e).any(|j| values.is_null(j)) {
                        return Ok(None);
                    }
                    wrap(Polygon::new(&values.values()[s..e]).map(Shape::Polygon)).map(Some)
                })
                .collect()
        }
        None => exec_err!(
            "{function}: expected a point, circle, box or polygon, got {}",
            a.data_type()
        ),
    }
}

pub(crate) fn point_shape(lon: f64, lat: f64) -> std::result::Result<Shape, String> {
    sphere::check_lonlat(lon, lat)?;
    Ok(Shape::Point(sphere::unit(lon, lat)))
}

pub(crate) fn circle_shape(lon: f64, lat: f64, r: f64) -> std::result::Result<Shape, String> {
    sphere::check_lonlat(lon, lat)?;
    sphere::check_radius(r)?;
    Ok(Shape::Circle(Cap {
        c: sphere::unit(lon, lat),
        r: r.to_radians(),
    }))
}

/// Builds a polygon column from per-row vertex lists (`None`: a NULL row).
pub(crate) fn build_polygons(rows: impl Iterator<Item = Option<Vec<f64>>>) -> ArrayRef {
    let mut b = ListBuilder::new(Float64Builder::new());
    for r in rows {
        match r {
            Some(v) => {
                b.values().append_slice(&v);
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
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

/// Evaluates a binary geometry predicate row by row as 0/1, NULL when either side is NULL.
pub(crate) fn predicate(
    function: &str,
    args: &ScalarFunctionArgs,
    test: fn(&Shape, &Shape) -> bool,
) -> Result<ColumnarValue> {
    let [a, b] = args.args.as_slice() else {
        return exec_err!("{function} takes two geometry arguments");
    };
    let (a, b) = (decode(function, a)?, decode(function, b)?);
    let out: Int32Array = (0..args.number_rows)
        .map(|i| Some(i32::from(test(a.get(i)?, b.get(i)?))))
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// The exact point-in-circle test of CONTAINS and INTERSECTS: Vincenty distance in degrees
/// against the radius, so that it agrees bit for bit with `DISTANCE(p, c) <= r`.
pub(crate) fn point_in_circle(function: &str, p: &ArrayRef, c: &ArrayRef) -> Result<ArrayRef> {
    let (pv, pn) = components(p, 2, "point")?;
    let (cv, cn) = components(c, 3, "circle")?;
    let valid = |n: &Option<NullBuffer>, i: usize| n.as_ref().is_none_or(|n| n.is_valid(i));
    let mut out = Vec::with_capacity(p.len());
    for i in 0..p.len() {
        if !valid(&pn, i) || !valid(&cn, i) {
            out.push(None);
            continue;
        }
        let (lat, clat, r) = (pv[2 * i + 1], cv[3 * i + 1], cv[3 * i + 2]);
        if !(-90.0..=90.0).contains(&lat) || !(-90.0..=90.0).contains(&clat) {
            return exec_err!("{function}: latitude outside [-90, 90] degrees");
        }
        if let Err(e) = sphere::check_radius(r) {
            return exec_err!("{function}: {e}");
        }
        let d = crate::distance::angular_distance_deg(pv[2 * i], lat, cv[3 * i], clat);
        out.push(Some(i32::from(d <= r)));
    }
    Ok(Arc::new(Int32Array::from(out)))
}

/// Rejects out-of-range values of a freshly built point (`n` = 2) or circle (`n` = 3) column:
/// a latitude outside [-90, 90] or a non-finite coordinate, and a radius outside [0, 180].
pub(crate) fn check_built(function: &str, a: &ArrayRef, n: usize) -> Result<()> {
    let (v, nulls) = components(a, n, if n == 2 { "point" } else { "circle" })?;
    for i in 0..a.len() {
        if nulls.as_ref().is_some_and(|b| b.is_null(i)) {
            continue;
        }
        let row = &v[n * i..n * i + n];
        let checked = sphere::check_lonlat(row[0], row[1])
            .and_then(|()| row.get(2).map_or(Ok(()), |r| sphere::check_radius(*r)));
        if let Err(e) = checked {
            return exec_err!("{function}: {e}");
        }
    }
    Ok(())
}

/// Calls a function the way DataFusion does, for unit tests.
#[cfg(test)]
pub(crate) fn invoke(
    f: &dyn datafusion::logical_expr::ScalarUDFImpl,
    args: Vec<ColumnarValue>,
    rows: usize,
) -> Result<ArrayRef> {
    let arg_fields: Vec<FieldRef> = args
        .iter()
        .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
        .collect();
    let types: Vec<DataType> = args.iter().map(ColumnarValue::data_type).collect();
    let return_field = Arc::new(Field::new("r", f.return_type(&types)?, true));
    f.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: rows,
        return_field,
        config_options: Arc::new(datafusion::config::ConfigOptions::default()),
    })?
    .to_array(rows)
}

/// Test values: points, circles and polygons as columns or constants.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use datafusion::common::ScalarValue;

    pub(crate) fn points(v: &[Option<(f64, f64)>]) -> ColumnarValue {
        let lon: Float64Array = v.iter().map(|p| p.map(|p| p.0)).collect();
        let lat: Float64Array = v.iter().map(|p| p.map(|p| p.1)).collect();
        ColumnarValue::Array(build(&[&lon, &lat]).unwrap_or_else(|e| panic!("{e}")))
    }

    pub(crate) fn circle(lon: f64, lat: f64, r: f64) -> ColumnarValue {
        let a = build(&[
            &Float64Array::from(vec![lon]),
            &Float64Array::from(vec![lat]),
            &Float64Array::from(vec![r]),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0).unwrap_or_else(|e| panic!("{e}")))
    }

    pub(crate) fn polygon(flat: &[f64]) -> ColumnarValue {
        let a = build_polygons(std::iter::once(Some(flat.to_vec())));
        ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0).unwrap_or_else(|e| panic!("{e}")))
    }

    pub(crate) fn polygons(v: &[Option<Vec<f64>>]) -> ColumnarValue {
        ColumnarValue::Array(build_polygons(v.iter().cloned()))
    }

    pub(crate) fn ints(a: &ArrayRef) -> Vec<Option<i32>> {
        a.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .iter()
            .collect()
    }

    pub(crate) fn f64s(a: &ArrayRef) -> Vec<Option<f64>> {
        a.as_primitive::<Float64Type>().iter().collect()
    }
}
