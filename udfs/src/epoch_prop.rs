//! `epoch_prop(ra, dec, parallax, pmra, pmdec, radial_velocity, ref_epoch, target_epoch)`: the
//! ESA Gaia archive's rigorous propagation of the six astrometric parameters to another epoch.
//!
//! The model is uniform rectilinear space motion, propagated with the closed-form equations of
//! *The Hipparcos and Tycho Catalogues* (ESA SP-1200, 1997), Vol. 1, §1.5.5, which the Gaia
//! archive's `EPOCH_PROP` follows (Gaia DR2/DR3 archive documentation, "Epoch propagation
//! functions"). With `r0`, `p0`, `q0` the unit vectors towards the star and of increasing RA and
//! Dec, `mu0 = p0 pmra + q0 pmdec`, `zeta0 = rv parallax / A` (the radial proper motion) and
//! `t = target_epoch - ref_epoch`:
//!
//! ```text
//! f    = [1 + 2 zeta0 t + (|mu0|^2 + zeta0^2) t^2]^(-1/2)
//! r    = [r0 (1 + zeta0 t) + mu0 t] f
//! mu   = [mu0 (1 + zeta0 t) - r0 |mu0|^2 t] f^3
//! plx  = plx0 f
//! zeta = [zeta0 + (|mu0|^2 + zeta0^2) t] f^2
//! ```
//!
//! and `rv = zeta A / plx`. `A` = 4.740470446 km yr / s (ESA 1997, the astronomical unit in
//! km divided by the Julian year in s).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `A_v`, km/s per (au/yr) (ESA 1997, Vol. 1, Table 1.2.2).
pub const AU_KM_YR_PER_S: f64 = 4.740470446;

/// Milliarcseconds in radians.
const MAS: f64 = std::f64::consts::PI / (180.0 * 3600.0 * 1000.0);

/// Astrometric parameters: ra, dec (degrees), parallax (mas), pmra (mas/yr, the proper motion
/// in RA times cos dec), pmdec (mas/yr), radial velocity (km/s).
pub type Astrometry = [f64; 6];

/// Propagates `a` by `t` Julian years (rigorous method, see the module docs).
///
/// A parallax of 0 (unknown distance) leaves the radial velocity without effect and returns it
/// unchanged, since the radial motion cannot be turned into an angular rate.
pub fn propagate(a: Astrometry, t: f64) -> Astrometry {
    let [ra, dec, plx, pmra, pmdec, rv] = a;
    let (sa, ca) = ra.to_radians().sin_cos();
    let (sd, cd) = dec.to_radians().sin_cos();
    let p0 = [-sa, ca, 0.0];
    let q0 = [-sd * ca, -sd * sa, cd];
    let r0 = [cd * ca, cd * sa, sd];
    let (mr, md) = (pmra * MAS, pmdec * MAS);
    let zeta0 = rv * plx / AU_KM_YR_PER_S * MAS;
    let mu0: [f64; 3] = std::array::from_fn(|i| p0[i] * mr + q0[i] * md);
    let mu2 = mr * mr + md * md;
    let f = 1.0 / (1.0 + 2.0 * zeta0 * t + (mu2 + zeta0 * zeta0) * t * t).sqrt();
    let r: [f64; 3] = std::array::from_fn(|i| (r0[i] * (1.0 + zeta0 * t) + mu0[i] * t) * f);
    let mu: [f64; 3] =
        std::array::from_fn(|i| (mu0[i] * (1.0 + zeta0 * t) - r0[i] * mu2 * t) * f * f * f);
    let zeta = (zeta0 + (mu2 + zeta0 * zeta0) * t) * f * f;
    let plx1 = plx * f;
    let dec1 = r[2].atan2(r[0].hypot(r[1]));
    let ra1 = r[1].atan2(r[0]).rem_euclid(std::f64::consts::TAU);
    let (sa, ca) = ra1.sin_cos();
    let (sd, cd) = dec1.sin_cos();
    let p = [-sa, ca, 0.0];
    let q = [-sd * ca, -sd * sa, cd];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let rv1 = if plx1 == 0.0 {
        rv
    } else {
        zeta / MAS * AU_KM_YR_PER_S / plx1
    };
    let ra1 = ra1.to_degrees();
    [
        if ra1 >= 360.0 { 0.0 } else { ra1 },
        dec1.to_degrees(),
        plx1,
        dot(p, mu) / MAS,
        dot(q, mu) / MAS,
        rv1,
    ]
}

static DOC: LazyLock<Documentation> =
    LazyLock::new(|| {
        Documentation::builder(
        DOC_SECTION_OTHER,
        "Propagates the six astrometric parameters from ref_epoch to target_epoch (ESA Gaia \
         archive EPOCH_PROP): uniform space motion with the rigorous Hipparcos method (ESA \
         1997, Vol. 1, §1.5.5), including the radial velocity (perspective acceleration). \
         Returns double[6]: ra, dec (degrees), parallax (mas), pmra (mas/yr, times cos dec), \
         pmdec (mas/yr), radial_velocity (km/s), the units of gaia_source. As in the Gaia \
         archive, a NULL parallax, pmra, pmdec or radial_velocity is treated as 0 (fine for \
         most stars, not for the nearest ones); with a zero parallax the radial velocity has \
         no effect and is returned unchanged. NULL when ra, dec or an epoch is NULL.",
        "epoch_prop(ra, dec, parallax, pmra, pmdec, radial_velocity, ref_epoch, target_epoch)",
    )
    .with_argument("ra", "Right ascension at ref_epoch, degrees.")
    .with_argument("dec", "Declination at ref_epoch, degrees.")
    .with_argument("parallax", "Parallax, mas.")
    .with_argument("pmra", "Proper motion in RA times cos(dec), mas/yr.")
    .with_argument("pmdec", "Proper motion in Dec, mas/yr.")
    .with_argument("radial_velocity", "Barycentric radial velocity, km/s.")
    .with_argument("ref_epoch", "Epoch of the parameters, Julian years (2016.0 for Gaia DR3).")
    .with_argument("target_epoch", "Epoch to propagate to, Julian years.")
    .with_sql_example(
        "```sql\n> SELECT epoch_prop(ra, dec, parallax, pmra, pmdec, radial_velocity, ref_epoch, \
         2000) FROM gaiadr3.gaia_source;\n```",
    )
    .build()
    });

/// The Arrow type of the `double[6]` result.
pub(crate) fn astrometry_type() -> DataType {
    crate::geometry::list_type(6)
}

/// Evaluates the propagation for every row of the eight arguments; `None` for a NULL row.
pub(crate) fn propagate_rows(
    function: &str,
    args: &[ColumnarValue],
) -> Result<Vec<Option<Astrometry>>> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    if arrays.len() != 8 {
        return exec_err!(
            "{function} takes eight arguments: ra, dec, parallax, pmra, pmdec, radial_velocity, \
             ref_epoch, target_epoch"
        );
    }
    let cols: Vec<&Float64Array> = arrays
        .iter()
        .map(|a| a.as_primitive::<Float64Type>())
        .collect();
    let n = arrays.first().map_or(0, |a| a.len());
    let get = |c: &Float64Array, i: usize| (!c.is_null(i)).then(|| c.value(i));
    (0..n)
        .map(|i| {
            let (Some(ra), Some(dec), Some(t0), Some(t1)) = (
                get(cols[0], i),
                get(cols[1], i),
                get(cols[6], i),
                get(cols[7], i),
            ) else {
                return Ok(None);
            };
            if let Err(e) = crate::geometry::sphere::check_lonlat(ra, dec) {
                return exec_err!("{function}: {e}");
            }
            let or0 = |c: &Float64Array| get(c, i).unwrap_or(0.0);
            let a = [
                ra,
                dec,
                or0(cols[2]),
                or0(cols[3]),
                or0(cols[4]),
                or0(cols[5]),
            ];
            Ok(Some(propagate(a, t1 - t0)))
        })
        .collect()
}

/// ESA Gaia archive `EPOCH_PROP`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EpochPropFunc {
    signature: Signature,
}

impl Default for EpochPropFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl EpochPropFunc {
    /// Eight doubles -> `double[6]`.
    pub fn new() -> Self {
        Self {
            signature: Signature::uniform(8, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for EpochPropFunc {
    fn name(&self) -> &str {
        "epoch_prop"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(astrometry_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = propagate_rows(self.name(), &args.args)?;
        let values: Vec<f64> = rows.iter().flat_map(|r| r.unwrap_or([0.0; 6])).collect();
        let nulls: Vec<bool> = rows.iter().map(Option::is_some).collect();
        let out = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float64, true)),
            6,
            Arc::new(Float64Array::from(values)),
            Some(nulls.into()),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gaia DR3-like parameters of a fast, nearby star (Barnard's star's magnitudes).
    const FAST: Astrometry = [269.448, 4.739, 546.98, -801.55, 10362.39, -110.47];

    fn assert_close(a: Astrometry, b: Astrometry, tol: [f64; 6]) {
        let dra = (a[0] - b[0] + 180.0).rem_euclid(360.0) - 180.0;
        assert!(
            dra.abs() * b[1].to_radians().cos() <= tol[0],
            "ra {a:?} {b:?}"
        );
        for k in 1..6 {
            assert!((a[k] - b[k]).abs() <= tol[k], "{k}: {a:?} {b:?}");
        }
    }

    /// The same motion as a straight line in Cartesian coordinates (au, au/yr), an independent
    /// formulation of the model.
    fn cartesian(a: Astrometry, t: f64) -> Astrometry {
        let [ra, dec, plx, pmra, pmdec, rv] = a;
        let (sa, ca) = ra.to_radians().sin_cos();
        let (sd, cd) = dec.to_radians().sin_cos();
        let r0 = [cd * ca, cd * sa, sd];
        let p0 = [-sa, ca, 0.0];
        let q0 = [-sd * ca, -sd * sa, cd];
        let d = 1.0 / (plx * MAS);
        let vr = rv / AU_KM_YR_PER_S;
        let v: [f64; 3] =
            std::array::from_fn(|i| (p0[i] * pmra + q0[i] * pmdec) * MAS * d + r0[i] * vr);
        let b: [f64; 3] = std::array::from_fn(|i| r0[i] * d + v[i] * t);
        let dist = b[0].hypot(b[1]).hypot(b[2]);
        let (ra1, dec1) = (b[1].atan2(b[0]), b[2].atan2(b[0].hypot(b[1])));
        let (sa, ca) = ra1.sin_cos();
        let (sd, cd) = dec1.sin_cos();
        let p = [-sa, ca, 0.0];
        let q = [-sd * ca, -sd * sa, cd];
        let r = [cd * ca, cd * sa, sd];
        let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        [
            ra1.to_degrees().rem_euclid(360.0),
            dec1.to_degrees(),
            1.0 / dist / MAS,
            dot(p, v) / dist / MAS,
            dot(q, v) / dist / MAS,
            dot(r, v) * AU_KM_YR_PER_S,
        ]
    }

    #[test]
    fn zero_motion_is_the_identity() {
        let a = [123.4, -56.7, 2.5, 0.0, 0.0, 0.0];
        assert_close(
            propagate(a, 1000.0),
            a,
            [1e-12, 1e-12, 1e-12, 1e-12, 1e-12, 1e-12],
        );
        // No distance: proper motion only, the radial velocity comes back unchanged.
        let b = propagate([10.0, 20.0, 0.0, 0.0, 0.0, 50.0], 100.0);
        assert_close(b, [10.0, 20.0, 0.0, 0.0, 0.0, 50.0], [1e-12; 6]);
    }

    #[test]
    fn matches_straight_line_motion() {
        for t in [-1000.0, -15.5, 0.5, 84.0, 10_000.0] {
            let a = propagate(FAST, t);
            let b = cartesian(FAST, t);
            // Position to 1 microarcsecond; rates and distance to 1e-9 relative.
            let rel = |x: f64| x.abs() * 1e-9;
            assert_close(
                a,
                b,
                [
                    1e-9 / 3600.0,
                    1e-9 / 3600.0,
                    rel(b[2]),
                    rel(b[3]).max(1e-9),
                    rel(b[4]),
                    rel(b[5]),
                ],
            );
        }
    }

    #[test]
    fn round_trip() {
        for (t0, t1) in [(2016.0, 2000.0), (2016.0, 1000.0), (2016.0, 12016.0)] {
            let back = propagate(propagate(FAST, t1 - t0), t0 - t1);
            let tol = [1e-9 / 3600.0, 1e-9 / 3600.0, 1e-9, 1e-8, 1e-8, 1e-9];
            assert_close(back, FAST, tol);
        }
        // Across RA 0 and close to the pole. 1e-4 degrees from the pole the RA/Dec basis turns
        // by 1e-16 / cos(dec) ~ 6e-11 rad per rounding of the position, so the proper-motion
        // components only come back to ~2e-8 mas/yr.
        for a in [
            [359.9999, 0.0, 10.0, 500.0, 0.0, 20.0],
            [45.0, 89.9999, 10.0, 300.0, 300.0, -20.0],
        ] {
            let back = propagate(propagate(a, 500.0), -500.0);
            assert_close(
                back,
                a,
                [1e-9 / 3600.0, 1e-9 / 3600.0, 1e-9, 1e-7, 1e-7, 1e-9],
            );
        }
    }

    #[test]
    fn short_intervals_are_linear() {
        // Over one year the position moves by the proper motion (to second order).
        let a = propagate(FAST, 1.0);
        let ddec_mas = (a[1] - FAST[1]) * 3.6e6;
        assert!((ddec_mas - FAST[4]).abs() < 1.0, "{ddec_mas}");
        let dra_mas = (a[0] - FAST[0]) * 3.6e6 * FAST[1].to_radians().cos();
        assert!((dra_mas - FAST[3]).abs() < 1.0, "{dra_mas}");
        // Approaching star: the parallax grows and the proper motion speeds up.
        assert!(a[2] > FAST[2]);
        assert!(a[3].hypot(a[4]) > FAST[3].hypot(FAST[4]));
    }
}
