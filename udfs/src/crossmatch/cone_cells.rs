//! `healpix_cone_cells(order, ra, dec, radius)`: the NESTED HEALPix cells that may overlap a
//! cone, the cover side of a crossmatch join.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

/// Covers larger than this many cells are refused (a lower order is the fix).
pub(crate) const MAX_CELLS: f64 = 1_048_576.0;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The NESTED HEALPix indices at `order` of every cell that may overlap the cone of \
         `radius` degrees around (ra, dec): a superset of the overlapping cells, never missing \
         one (cdshealpix cone_coverage_approx). Parallax plans crossmatch joins with it; use \
         it to write HEALPix-partitioned joins by hand. NULL when an argument is NULL, the \
         order is outside 0..29, dec is outside [-90, 90] or the radius is negative or NaN. \
         An error when the cover would exceed 1 048 576 cells.",
        "healpix_cone_cells(order, ra, dec, radius)",
    )
    .with_argument("order", "HEALPix order (depth), 0 to 29.")
    .with_argument("ra", "Longitude of the cone centre in degrees.")
    .with_argument("dec", "Latitude of the cone centre in degrees.")
    .with_argument("radius", "Cone radius in degrees.")
    .with_sql_example(
        "```sql\n> SELECT healpix_cone_cells(3, 45, 0, 0.5);\n[0, 277, 362, 575]\n```",
    )
    .build()
});

/// `healpix_cone_cells(order, ra, dec, radius) -> bigint[]`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HealpixConeCellsFunc {
    signature: Signature,
}

impl Default for HealpixConeCellsFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl HealpixConeCellsFunc {
    /// `(integer, double, double, double) -> bigint[]`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(vec![TypeSignature::Any(4)], Volatility::Immutable),
        }
    }
}

/// A lower bound of the angular length per unit of length in the HEALPix projection plane
/// (Calabretta & Roukema 2007). The projection's smallest singular value (sphere over plane)
/// is 0.5907, reached at the poles on the facet edges; 0.5 leaves a 15% margin.
pub(crate) const PLANE_SCALE_MIN: f64 = 0.5;

/// Side of an order-`order` cell in the HEALPix plane, in radians of plane length
/// (`pi / (2 sqrt 2) / 2^order`).
fn plane_side(order: u8) -> f64 {
    std::f64::consts::PI / (2.0 * std::f64::consts::SQRT_2) / f64::from(1u32 << order.min(29))
}

/// The margin of a cone of `radius_rad` at `order`, in units of the cell side: a position
/// further than this (in the cell's own plane coordinates) from an edge has its whole cone on
/// this side of the edge.
pub(crate) fn margin(order: u8, radius_rad: f64) -> f64 {
    radius_rad / (PLANE_SCALE_MIN * plane_side(order))
}

/// The cells at `order` that may overlap the cone, appended to `out`; `false` when the input
/// is invalid (the row is then NULL).
///
/// For a cone smaller than the cell (margin below 1) this is the position's own cell plus
/// the neighbours across the edges and vertices it is within the margin of: an arc of
/// angular length r maps to a plane curve no longer than r / [`PLANE_SCALE_MIN`], so it
/// cannot cross an edge that is further away than that. Two hashes and a few comparisons,
/// about 0.15 microseconds. Larger cones use `cdshealpix`'s `cone_coverage_approx`.
pub fn cone_cells(
    order: u8,
    ra_deg: f64,
    dec_deg: f64,
    radius_deg: f64,
    out: &mut Vec<i64>,
) -> bool {
    use cdshealpix::compass_point::MainWind;

    if order > cdshealpix::DEPTH_MAX
        || !ra_deg.is_finite()
        || !(-90.0..=90.0).contains(&dec_deg)
        || radius_deg.is_nan()
        || radius_deg < 0.0
    {
        return false;
    }
    let layer = cdshealpix::nested::get(order);
    let radius = super::padded_radius_deg(radius_deg).min(180.0).to_radians();
    let lon = ra_deg.to_radians().rem_euclid(std::f64::consts::TAU);
    let lat = dec_deg.to_radians();
    let m = margin(order, radius);
    if m < 1.0 {
        let (h, dx, dy) = layer.hash_with_dxdy(lon, lat);
        out.push(h as i64);
        let (sw, ne, se, nw) = (dx < m, dx > 1.0 - m, dy < m, dy > 1.0 - m);
        if sw || ne || se || nw {
            let near = layer.neighbours(h, false);
            let mut add = |wind: MainWind, yes: bool| {
                if yes && let Some(n) = near.get(wind) {
                    out.push(*n as i64);
                }
            };
            add(MainWind::SW, sw);
            add(MainWind::NE, ne);
            add(MainWind::SE, se);
            add(MainWind::NW, nw);
            add(MainWind::S, sw && se);
            add(MainWind::E, ne && se);
            add(MainWind::W, sw && nw);
            add(MainWind::N, ne && nw);
        }
        return true;
    }
    if radius >= std::f64::consts::PI {
        out.extend((0..layer.n_hash()).map(|h| h as i64));
        return true;
    }
    let bmoc = layer.cone_coverage_approx(lon, lat, radius);
    out.extend(bmoc.flat_iter().map(|h| h as i64));
    true
}

fn estimated_cells(order: u8, radius_deg: f64) -> f64 {
    let r = radius_deg.clamp(0.0, 180.0).to_radians();
    let cone = 2.0 * std::f64::consts::PI * (1.0 - r.cos());
    let cell = 4.0 * std::f64::consts::PI / (12.0 * 4f64.powi(i32::from(order)));
    cone / cell + 9.0
}

impl ScalarUDFImpl for HealpixConeCellsFunc {
    fn name(&self) -> &str {
        "healpix_cone_cells"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types[0].is_integer() && !arg_types[0].is_null() {
            return plan_err!("healpix_cone_cells: the order must be an integer");
        }
        for t in &arg_types[1..] {
            if !t.is_numeric() && !t.is_null() {
                return plan_err!("healpix_cone_cells takes (order, ra, dec, radius) as numbers");
            }
        }
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Int64,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [order, ra, dec, radius] = arrays.as_slice() else {
            return exec_err!("healpix_cone_cells takes (order, ra, dec, radius)");
        };
        let order = cast(order, &DataType::Int64)?;
        let order = order.as_primitive::<Int64Type>();
        let f = |a: &ArrayRef| cast(a, &DataType::Float64);
        let (ra, dec, radius) = (f(ra)?, f(dec)?, f(radius)?);
        let (ra, dec, radius) = (
            ra.as_primitive::<Float64Type>(),
            dec.as_primitive::<Float64Type>(),
            radius.as_primitive::<Float64Type>(),
        );
        let n = order.len();
        let mut values = Vec::with_capacity(n * 5);
        let mut offsets = Vec::with_capacity(n + 1);
        let mut valid = Vec::with_capacity(n);
        offsets.push(0i32);
        for i in 0..n {
            let ok = !(order.is_null(i) || ra.is_null(i) || dec.is_null(i) || radius.is_null(i))
                && match u8::try_from(order.value(i)) {
                    Ok(o) if o <= cdshealpix::DEPTH_MAX => {
                        if estimated_cells(o, radius.value(i)) > MAX_CELLS {
                            return exec_err!(
                                "healpix_cone_cells: a cone of {} degrees covers more than {} cells at order {o}; use a lower order",
                                radius.value(i),
                                MAX_CELLS
                            );
                        }
                        cone_cells(o, ra.value(i), dec.value(i), radius.value(i), &mut values)
                    }
                    _ => false,
                };
            valid.push(ok);
            let Ok(end) = i32::try_from(values.len()) else {
                return exec_err!("healpix_cone_cells: result too large for one batch");
            };
            offsets.push(end);
        }
        let list = ListArray::try_new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::new(offsets.into()),
            Arc::new(Int64Array::from(values)),
            Some(NullBuffer::from(valid)),
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::angular_distance_deg;

    /// Every position within the radius lies in a cell of the cover, near the poles, across RA
    /// 0/360 and at cell corners too.
    #[test]
    fn cover_contains_every_close_position() {
        let mut state: u64 = 7;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let centres = [
            (0.0, 0.0),
            (359.9999, 89.9999),
            (0.00001, -89.99),
            (180.0, 41.8103149),
            (45.0, 0.0),
        ];
        for (ra, dec) in centres {
            for radius in [1.0 / 3600.0, 10.0 / 3600.0, 0.5] {
                let order = crate::crossmatch::crossmatch_order(radius);
                let mut cells = Vec::new();
                assert!(cone_cells(order, ra, dec, radius, &mut cells));
                for _ in 0..2000 {
                    // a random position in a box around the centre, kept when inside the cone
                    let r = radius * next().sqrt();
                    let t = next() * std::f64::consts::TAU;
                    let dec2 = (dec + r * t.sin()).clamp(-90.0, 90.0);
                    let ra2 =
                        (ra + r * t.cos() / dec2.to_radians().cos().max(1e-9)).rem_euclid(360.0);
                    if angular_distance_deg(ra, dec, ra2, dec2) > radius {
                        continue;
                    }
                    let h =
                        cdshealpix::nested::hash(order, ra2.to_radians(), dec2.to_radians()) as i64;
                    assert!(
                        cells.contains(&h),
                        "({ra2}, {dec2}) within {radius} of ({ra}, {dec}) not covered"
                    );
                }
            }
        }
    }

    /// Positions exactly on the cone's edge, for margins up to 0.95 of a cell, around the
    /// places where HEALPix is most distorted: the poles, base-cell vertices (where three or
    /// four base cells meet), the transition latitude and RA 0/360.
    #[test]
    fn cover_contains_the_cone_edge_where_healpix_is_distorted() {
        let transition = (2.0f64 / 3.0).asin().to_degrees();
        let places = [
            (0.0, 90.0),
            (45.0, 89.9999),
            (12.3, -89.99),
            (45.0, 0.0),
            (0.0, 0.0),
            (45.0, transition),
            (90.0, -transition),
            (0.0, transition + 1e-7),
            (359.99999, 12.0),
            (135.0, 66.0),
        ];
        for order in [3u8, 10, 14] {
            let side = plane_side(order);
            for (ra, dec) in places {
                for frac in [0.01, 0.3, 0.6, 0.95] {
                    // shift the centre around the special place
                    for shift in 0..9 {
                        let sra = ra + f64::from(shift % 3) * 0.3 * side.to_degrees();
                        let sdec = (dec - f64::from(shift / 3) * 0.3 * side.to_degrees())
                            .clamp(-90.0, 90.0);
                        let radius = (frac * PLANE_SCALE_MIN * side).to_degrees();
                        let mut cells = Vec::new();
                        assert!(cone_cells(order, sra, sdec, radius, &mut cells));
                        for k in 0..256 {
                            let az = f64::from(k) / 256.0 * std::f64::consts::TAU;
                            for f in [1.0, 0.5] {
                                let (ra2, dec2) = offset(sra, sdec, az, radius * f);
                                let h = cdshealpix::nested::hash(
                                    order,
                                    ra2.to_radians(),
                                    dec2.to_radians(),
                                ) as i64;
                                assert!(
                                    cells.contains(&h),
                                    "order {order}: ({ra2}, {dec2}) at {} of ({sra}, {sdec}) not in {cells:?}",
                                    radius * f
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// The position at angular distance `d` (degrees) and position angle `az` from (ra, dec).
    fn offset(ra: f64, dec: f64, az: f64, d: f64) -> (f64, f64) {
        let (ra, dec, d) = (ra.to_radians(), dec.to_radians(), d.to_radians());
        let lat = (dec.sin() * d.cos() + dec.cos() * d.sin() * az.cos()).asin();
        let lon = ra + (az.sin() * d.sin() * dec.cos()).atan2(d.cos() - dec.sin() * lat.sin());
        (lon.to_degrees().rem_euclid(360.0), lat.to_degrees())
    }

    #[test]
    fn invalid_input_gives_none() {
        let mut v = Vec::new();
        assert!(!cone_cells(30, 0.0, 0.0, 1.0, &mut v));
        assert!(!cone_cells(5, 0.0, 91.0, 1.0, &mut v));
        assert!(!cone_cells(5, f64::NAN, 0.0, 1.0, &mut v));
        assert!(!cone_cells(5, 0.0, 0.0, -1.0, &mut v));
        assert!(v.is_empty());
        assert!(cone_cells(0, 0.0, 0.0, 180.0, &mut v));
        assert_eq!(v.len(), 12);
    }
}
