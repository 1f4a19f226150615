//! Positional crossmatch as a spatially partitioned hash join.
//!
//! A join whose condition says two positions are within a constant angle `r` of each other
//! (ADQL `1 = CONTAINS(POINT(a.ra, a.dec), CIRCLE(b.ra, b.dec, r))` or
//! `DISTANCE(POINT(...), POINT(...)) < r`) is a nested loop in a naive plan: 2e9 x 2e9 pair
//! tests. [`CrossmatchRule`] turns it into an equi-join on HEALPix cells (Górski et al. 2005,
//! ApJ 622, 759), the scheme of the zones algorithm (Gray et al. 2007, MSR-TR-2006-52) and of
//! LSDB/AXS, but planned by DataFusion itself so that its hash join (and Ballista's
//! distributed one) does the work:
//!
//! * one side gets the NESTED index of its position at an order `k` chosen from `r`
//!   ([`crossmatch_order`]);
//! * the other side gets the list of order-`k` cells that may overlap the cone of radius `r`
//!   around its position ([`healpix_cone_cells`], a superset from `cdshealpix`'s
//!   `cone_coverage_approx`), unnested to one row per cell;
//! * the two meet in a hash join on the cell, and the exact great-circle test is kept as the
//!   join filter.
//!
//! Every true pair (separation <= r) is found exactly once: the first position lies in
//! exactly one cell, and that cell is in the (duplicate-free) cover of the second. The exact
//! filter removes the candidates that are not pairs. Poles, cell edges and RA 0/360 need no
//! special case: the cover is computed on the sphere.

mod cone_cells;
mod cone_search;
mod matcher;
pub mod pairs;
mod rule;

pub use cone_cells::{HealpixConeCellsFunc, cone_cells};
pub use cone_search::{ConeSearchRule, HEALPIX_METADATA_KEY, HealpixKey};
pub use pairs::CrossmatchPairsFunc;
pub use rule::CrossmatchRule;

pub(crate) use matcher::{Separation, match_separation};

/// Approximate HEALPix cell size at `order` in degrees (the square root of the cell area,
/// `sqrt(pi / 3) / 2^order` radians).
pub fn cell_size_deg(order: u8) -> f64 {
    (std::f64::consts::PI / 3.0).sqrt().to_degrees() / f64::from(1u32 << order.min(29))
}

/// The HEALPix order used to crossmatch within `radius_deg`: the deepest order whose cells
/// are still at least [`CELL_TO_RADIUS`] times the radius, so that a cone's cover holds about
/// four cells while a cell holds few non-matching neighbours.
pub fn crossmatch_order(radius_deg: f64) -> u8 {
    if !radius_deg.is_finite() || radius_deg <= 0.0 {
        return cdshealpix::DEPTH_MAX;
    }
    (0..=cdshealpix::DEPTH_MAX)
        .rev()
        .find(|&d| cell_size_deg(d) >= CELL_TO_RADIUS * radius_deg)
        .unwrap_or(0)
}

/// Minimum ratio of cell size to crossmatch radius (see [`crossmatch_order`]).
pub const CELL_TO_RADIUS: f64 = 2.0;

/// A radius widened by a relative 1e-9 and 1e-12 degrees, so that rounding in the cover never
/// loses a pair that the exact test keeps.
pub(crate) fn padded_radius_deg(radius_deg: f64) -> f64 {
    radius_deg * (1.0 + 1e-9) + 1e-12
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_follows_radius() {
        assert_eq!(crossmatch_order(5.0 / 3600.0), 14);
        assert_eq!(crossmatch_order(60.0 / 3600.0), 10);
        assert_eq!(crossmatch_order(10.0), 1);
        assert_eq!(crossmatch_order(100.0), 0);
        assert_eq!(crossmatch_order(0.0), 29);
        assert_eq!(crossmatch_order(f64::NAN), 29);
        for d in 0..29 {
            assert!(cell_size_deg(d) > cell_size_deg(d + 1));
        }
    }
}
