//! Recognises "two positions within a constant angle" in a predicate.

use std::any::Any;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, ScalarUDFImpl, lit};

use crate::distance::DistanceFunc;
use crate::geometry::circle::CircleFunc;
use crate::geometry::contains::ContainsFunc;
use crate::geometry::point::PointFunc;
use crate::geometry::sphere;

/// `distance((a_lon, a_lat), (b_lon, b_lat)) <= radius` (or `<` when not inclusive), in
/// degrees, as found in a predicate.
#[derive(Debug, Clone)]
pub(crate) struct Separation {
    /// Longitude and latitude of the first position.
    pub a: (Expr, Expr),
    /// Longitude and latitude of the second position (the circle's centre for CONTAINS).
    pub b: (Expr, Expr),
    /// The radius expression in degrees.
    pub radius: Expr,
    /// `<=` (CONTAINS, `<=`) rather than `<`.
    pub inclusive: bool,
}

impl Separation {
    /// The radius in degrees when it is a constant.
    pub(crate) fn constant_radius(&self) -> Option<f64> {
        literal_f64(&self.radius)
    }
}

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip(&c.expr),
        Expr::Alias(a) => strip(&a.expr),
        other => other,
    }
}

/// A numeric literal (possibly cast) as f64.
pub(crate) fn literal_f64(e: &Expr) -> Option<f64> {
    match strip(e) {
        Expr::Literal(v, _) => match v.cast_to(&DataType::Float64).ok()? {
            ScalarValue::Float64(Some(x)) => Some(x),
            _ => None,
        },
        Expr::Negative(inner) => literal_f64(inner).map(|x| -x),
        _ => None,
    }
}

/// The arguments of a call to the UDF implemented by `T`.
pub(crate) fn call_of<T: ScalarUDFImpl>(e: &Expr) -> Option<&[Expr]> {
    match strip(e) {
        Expr::ScalarFunction(f) => {
            let inner: &dyn Any = f.func.inner().as_ref();
            inner.downcast_ref::<T>().map(|_| f.args.as_slice())
        }
        _ => None,
    }
}

/// The numbers of a constant geometry (a `double[n]` literal, as constant folding leaves
/// `CIRCLE(10, 20, 0.1)`).
fn literal_components(e: &Expr, n: usize) -> Option<Vec<Expr>> {
    let Expr::Literal(ScalarValue::FixedSizeList(list), _) = strip(e) else {
        return None;
    };
    if list.len() != 1 || list.is_null(0) || list.value_length() as usize != n {
        return None;
    }
    let values = list.value(0);
    let values = values.as_primitive_opt::<Float64Type>()?;
    if values.null_count() > 0 {
        return None;
    }
    Some(values.values().iter().map(|v| lit(*v)).collect())
}

/// `POINT(lon, lat)` (a call or a constant) as its two component expressions.
pub(crate) fn point_args(e: &Expr) -> Option<(Expr, Expr)> {
    if let Some(v) = literal_components(e, 2) {
        return Some((v[0].clone(), v[1].clone()));
    }
    match call_of::<PointFunc>(e)? {
        [lon, lat] => Some((lon.clone(), lat.clone())),
        _ => None,
    }
}

/// `CIRCLE(lon, lat, r)` (a call or a constant) as its three component expressions.
pub(crate) fn circle_args(e: &Expr) -> Option<(Expr, Expr, Expr)> {
    if let Some(v) = literal_components(e, 3) {
        return Some((v[0].clone(), v[1].clone(), v[2].clone()));
    }
    match call_of::<CircleFunc>(e)? {
        [lon, lat, r] => Some((lon.clone(), lat.clone(), r.clone())),
        _ => None,
    }
}

/// `DISTANCE(...)` in its point or four-number form, as two positions.
fn distance_args(e: &Expr) -> Option<((Expr, Expr), (Expr, Expr))> {
    match call_of::<DistanceFunc>(e)? {
        [p, q] => Some((point_args(p)?, point_args(q)?)),
        [a, b, c, d] => Some(((a.clone(), b.clone()), (c.clone(), d.clone()))),
        _ => None,
    }
}

/// `x * k` or `k * x` with a positive constant `k`.
fn scaled(e: &Expr) -> Option<(&Expr, f64)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Multiply,
        right,
    }) = strip(e)
    else {
        return None;
    };
    let (x, k) = match (literal_f64(left), literal_f64(right)) {
        (None, Some(k)) => (left.as_ref(), k),
        (Some(k), None) => (right.as_ref(), k),
        _ => return None,
    };
    (k > 0.0 && k.is_finite()).then_some((x, k))
}

fn is_one(e: &Expr) -> bool {
    literal_f64(e) == Some(1.0)
}

/// The separation test in `e`, if `e` is one of
/// `CONTAINS(POINT(..), CIRCLE(..)) = 1` (either way round), `DISTANCE(..) < r`,
/// `DISTANCE(..) <= r`, `r > DISTANCE(..)` or `r >= DISTANCE(..)`.
pub(crate) fn match_separation(e: &Expr) -> Option<Separation> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = strip(e) else {
        return None;
    };
    match op {
        Operator::Eq => {
            let call = if is_one(right) {
                left
            } else if is_one(left) {
                right
            } else {
                return None;
            };
            let [p, c] = call_of::<ContainsFunc>(call)? else {
                return None;
            };
            let a = point_args(p)?;
            let (lon, lat, radius) = circle_args(c)?;
            Some(Separation {
                a,
                b: (lon, lat),
                radius,
                inclusive: true,
            })
        }
        Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
            let (d, r) = match op {
                Operator::Lt | Operator::LtEq => (left, right),
                _ => (right, left),
            };
            // `DISTANCE(..) * 3600 < 5`: a positive constant factor moves to the radius.
            let (d, radius) = match scaled(d) {
                Some((inner, k)) => (inner, lit(literal_f64(r)? / k)),
                None => (d.as_ref(), r.as_ref().clone()),
            };
            let (a, b) = distance_args(d)?;
            Some(Separation {
                a,
                b,
                radius,
                inclusive: matches!(op, Operator::LtEq | Operator::GtEq),
            })
        }
        _ => None,
    }
}

/// A cone: centre ra, dec and radius, degrees.
pub(crate) type Cone = (f64, f64, f64);

/// A cone (centre ra, dec and radius, degrees) containing a constant region: a circle, or a
/// polygon or box (folded to a `double[]` literal) whose vertices lie within 90 degrees of
/// their mean direction; such a cap is convex, so it holds the edges and the inside too.
fn bounding_cone(e: &Expr) -> Option<Cone> {
    if let Some((ra, dec, r)) = circle_args(e) {
        return Some((literal_f64(&ra)?, literal_f64(&dec)?, literal_f64(&r)?));
    }
    let Expr::Literal(ScalarValue::List(list), _) = strip(e) else {
        return None;
    };
    if list.len() != 1 || list.is_null(0) {
        return None;
    }
    let values = list.value(0);
    let values = values.as_primitive_opt::<Float64Type>()?;
    if values.null_count() > 0 {
        return None;
    }
    let polygon = sphere::Polygon::new(values.values()).ok()?;
    let sum = polygon.vertices().iter().fold([0.0; 3], |acc, v| {
        [acc[0] + v[0], acc[1] + v[1], acc[2] + v[2]]
    });
    let centre = sphere::normalize(sum)?;
    let radius = polygon
        .vertices()
        .iter()
        .map(|v| sphere::angle(centre, *v))
        .fold(0.0, f64::max)
        .to_degrees();
    if radius >= 90.0 {
        return None;
    }
    let (ra, dec) = sphere::lonlat(centre);
    Some((ra, dec, radius))
}

/// `CONTAINS(POINT(lon, lat), region) = 1` with a constant region: the point's components
/// and a cone containing the region.
pub(crate) fn match_contains_region(e: &Expr) -> Option<((Expr, Expr), Cone)> {
    let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = strip(e)
    else {
        return None;
    };
    let call = if is_one(right) {
        left
    } else if is_one(left) {
        right
    } else {
        return None;
    };
    let [p, region] = call_of::<ContainsFunc>(call)? else {
        return None;
    };
    Some((point_args(p)?, bounding_cone(region)?))
}
