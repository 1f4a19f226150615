//! Sky frames: ICRS, Galactic (Hipparcos definition, as used by Gaia) and ecliptic (J2000),
//! plus the HEALPix level-12 index that Gaia source_ids are built from.

/// ICRS -> Galactic rotation matrix (Hipparcos Vol. 1, Sect. 1.5.3, eq. 1.5.11), the one used
/// for Gaia DR3 `l`, `b`. Galactic = A * ICRS; ICRS = A^T * Galactic.
#[allow(clippy::excessive_precision)] // reason: the published digits, kept verbatim
const ICRS_TO_GAL: [[f64; 3]; 3] = [
    [
        -0.054_875_560_416_215_4,
        -0.873_437_090_234_885,
        -0.483_835_015_548_713_2,
    ],
    [
        0.494_109_427_875_583_7,
        -0.444_829_629_960_011_2,
        0.746_982_244_497_218_9,
    ],
    [
        -0.867_666_149_019_004_7,
        -0.198_076_373_431_201_5,
        0.455_983_776_175_066_9,
    ],
];

/// Obliquity of the ecliptic at J2000 used by the Gaia archive for `ecl_lon`/`ecl_lat` (deg).
const OBLIQUITY_DEG: f64 = 23.439_291_1;

/// HEALPix depth of the Gaia source_id (level 12, NESTED).
pub(crate) const SOURCE_ID_DEPTH: u8 = 12;
/// The HEALPix index occupies the bits above bit 35 of a Gaia source_id.
pub(crate) const SOURCE_ID_SHIFT: u32 = 35;

fn to_vec(lon_deg: f64, lat_deg: f64) -> [f64; 3] {
    let (lon, lat) = (lon_deg.to_radians(), lat_deg.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn to_lonlat(v: [f64; 3]) -> (f64, f64) {
    let lon = v[1].atan2(v[0]).to_degrees().rem_euclid(360.0);
    // rem_euclid can return exactly 360.0 for tiny negative inputs.
    let lon = if lon >= 360.0 { 0.0 } else { lon };
    let r = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let lat = (v[2] / r).clamp(-1.0, 1.0).asin().to_degrees();
    (lon, lat)
}

fn mul(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

fn mul_t(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| m[0][i] * v[0] + m[1][i] * v[1] + m[2][i] * v[2])
}

/// Galactic (l, b) -> ICRS (ra, dec), degrees.
pub(crate) fn galactic_to_icrs(l: f64, b: f64) -> (f64, f64) {
    to_lonlat(mul_t(&ICRS_TO_GAL, to_vec(l, b)))
}

/// ICRS (ra, dec) -> Galactic (l, b), degrees.
pub(crate) fn icrs_to_galactic(ra: f64, dec: f64) -> (f64, f64) {
    to_lonlat(mul(&ICRS_TO_GAL, to_vec(ra, dec)))
}

/// ICRS (ra, dec) -> ecliptic (lon, lat), degrees.
pub(crate) fn icrs_to_ecliptic(ra: f64, dec: f64) -> (f64, f64) {
    let v = to_vec(ra, dec);
    let (s, c) = OBLIQUITY_DEG.to_radians().sin_cos();
    to_lonlat([v[0], c * v[1] + s * v[2], -s * v[1] + c * v[2]])
}

/// The point at angular distance `sep_deg` and position angle `pa_deg` (east of north)
/// from (ra, dec); exact on the sphere, valid at the poles.
pub(crate) fn offset(ra: f64, dec: f64, sep_deg: f64, pa_deg: f64) -> (f64, f64) {
    let (d1, s, pa) = (dec.to_radians(), sep_deg.to_radians(), pa_deg.to_radians());
    let sin_d2 = (d1.sin() * s.cos() + d1.cos() * s.sin() * pa.cos()).clamp(-1.0, 1.0);
    let d2 = sin_d2.asin();
    let dra = (pa.sin() * s.sin() * d1.cos()).atan2(s.cos() - d1.sin() * sin_d2);
    let ra2 = (ra + dra.to_degrees()).rem_euclid(360.0);
    let ra2 = if ra2 >= 360.0 { 0.0 } else { ra2 };
    (ra2, d2.to_degrees())
}

/// HEALPix level-12 NESTED index of (ra, dec) in degrees.
pub(crate) fn healpix12(ra: f64, dec: f64) -> u64 {
    cdshealpix::nested::get(SOURCE_ID_DEPTH).hash(
        ra.to_radians(),
        dec.to_radians()
            .clamp(-std::f64::consts::FRAC_PI_2, std::f64::consts::FRAC_PI_2),
    )
}

/// Angular separation in degrees (haversine; accurate for arcsecond pairs).
#[cfg(test)]
pub(crate) fn separation(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (d1, d2) = (dec1.to_radians(), dec2.to_radians());
    let dra = (ra2 - ra1).to_radians();
    let h = ((d2 - d1) / 2.0).sin().powi(2) + d1.cos() * d2.cos() * (dra / 2.0).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn galactic_round_trip_and_known_points() {
        // The Galactic centre and north pole in ICRS (Hipparcos definition).
        let (ra, dec) = galactic_to_icrs(0.0, 0.0);
        assert!((ra - 266.404_988_7).abs() < 1e-5 && (dec + 28.936_174_8).abs() < 1e-5);
        let (ra, dec) = galactic_to_icrs(0.0, 90.0);
        assert!((ra - 192.859_481_5).abs() < 1e-5 && (dec - 27.128_251_4).abs() < 1e-5);
        for &(l, b) in &[(10.0, 5.0), (200.0, -60.0), (359.9, 0.1)] {
            let (ra, dec) = galactic_to_icrs(l, b);
            let (l2, b2) = icrs_to_galactic(ra, dec);
            assert!(separation(l, b, l2, b2) < 1e-10);
        }
    }

    #[test]
    fn ecliptic_pole() {
        // The north ecliptic pole is at ra 270, dec 90 - obliquity.
        let (_, lat) = icrs_to_ecliptic(270.0, 90.0 - OBLIQUITY_DEG);
        assert!((lat - 90.0).abs() < 1e-9);
    }

    #[test]
    fn offset_distance_is_exact() {
        for &(ra, dec) in &[(0.0, 0.0), (359.999, 89.99), (180.0, -89.5), (10.0, 45.0)] {
            let (r2, d2) = offset(ra, dec, 3.0 / 3600.0, 77.0);
            assert!((separation(ra, dec, r2, d2) * 3600.0 - 3.0).abs() < 1e-6);
        }
    }
}
