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
//!   around its position ([`cone_cells`]: its own cell and the neighbours it is close to,
//!   a superset), unnested to one row per cell;
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

/// The HEALPix order used to crossmatch within `radius_deg`: the deepest order at which the
/// cone's margin ([`cone_cells`]) is at most [`MAX_MARGIN`] of a cell, so that a cover holds
/// about (1 + 2 margin)^2, under three, cells and is computed from two hashes, while cells
/// stay small enough to hold few non-matching neighbours.
pub fn crossmatch_order(radius_deg: f64) -> u8 {
    if !radius_deg.is_finite() || radius_deg <= 0.0 {
        return cdshealpix::DEPTH_MAX;
    }
    let r = padded_radius_deg(radius_deg).to_radians();
    (0..=cdshealpix::DEPTH_MAX)
        .rev()
        .find(|&d| cone_cells::margin(d, r) <= MAX_MARGIN)
        .unwrap_or(0)
}

/// Largest cone margin, in cell sides, that [`crossmatch_order`] accepts.
pub const MAX_MARGIN: f64 = 0.5;

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
        assert_eq!(crossmatch_order(5.0 / 3600.0), 13);
        assert_eq!(crossmatch_order(60.0 / 3600.0), 9);
        assert_eq!(crossmatch_order(1.0), 3);
        assert_eq!(crossmatch_order(100.0), 0);
        assert_eq!(crossmatch_order(0.0), 29);
        assert_eq!(crossmatch_order(f64::NAN), 29);
        for d in 0..29 {
            assert!(cell_size_deg(d) > cell_size_deg(d + 1));
        }
    }
}
