//! Cone-search pruning: a constant cone (or a polygon or box, through a cone around it) on a
//! table ordered by a HEALPix-bearing key becomes a range predicate on that key, which prunes
//! Parquet row groups and pages by statistics.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, Result};
use datafusion::logical_expr::utils::{conjunction, disjunction, split_conjunction};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::matcher::{Separation, literal_f64, match_contains_region, match_separation};
use super::padded_radius_deg;

/// Field-metadata key marking a HEALPix-bearing column (see [`HealpixKey`]).
pub const HEALPIX_METADATA_KEY: &str = "healpix";

/// How a column encodes a NESTED HEALPix index: `value = index(order) << shift + n` with
/// `0 <= n < 2^shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealpixKey {
    /// HEALPix order of the embedded index.
    pub order: u8,
    /// Bits below the index.
    pub shift: u8,
}

impl HealpixKey {
    /// Gaia's `source_id`: the order-12 NESTED index times 2^35 plus a running number.
    pub const GAIA: Self = Self {
        order: 12,
        shift: 35,
    };

    /// Parses the metadata value: `gaia` or `nested:N` (the NESTED index at order N).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("gaia") {
            return Some(Self::GAIA);
        }
        let order: u8 = s.strip_prefix("nested:")?.trim().parse().ok()?;
        (order <= cdshealpix::DEPTH_MAX).then_some(Self { order, shift: 0 })
    }

    /// Inclusive key ranges of the cells that may overlap the cone, at most `max_ranges`
    /// of them (coarser cells when needed); `None` if the cone is invalid.
    pub fn cone_ranges(
        &self,
        ra_deg: f64,
        dec_deg: f64,
        radius_deg: f64,
        max_ranges: usize,
    ) -> Option<Vec<(i64, i64)>> {
        if !ra_deg.is_finite()
            || !(-90.0..=90.0).contains(&dec_deg)
            || radius_deg.is_nan()
            || radius_deg < 0.0
        {
            return None;
        }
        let radius = padded_radius_deg(radius_deg).min(180.0).to_radians();
        // Start a little deeper than the cone's size, capped by the key's own order.
        let start = super::crossmatch_order(radius_deg / 4.0).min(self.order);
        for depth in (0..=start).rev() {
            let layer = cdshealpix::nested::get(depth);
            let bmoc = layer.cone_coverage_approx(
                ra_deg.to_radians().rem_euclid(std::f64::consts::TAU),
                dec_deg.to_radians(),
                radius.min(std::f64::consts::PI - 1e-12),
            );
            let mut ranges: Vec<(u64, u64)> = Vec::new();
            for h in bmoc.flat_iter() {
                match ranges.last_mut() {
                    Some((_, hi)) if *hi == h => *hi = h + 1,
                    _ => ranges.push((h, h + 1)),
                }
            }
            if ranges.len() > max_ranges && depth > 0 {
                continue;
            }
            // Cells at `depth` -> indices at the key's order -> key values.
            let to_key = 2 * u32::from(self.order - depth) + u32::from(self.shift);
            return ranges
                .into_iter()
                .map(|(lo, hi)| {
                    let lo = i64::try_from(lo.checked_shl(to_key)?).ok()?;
                    let hi = i64::try_from(hi.checked_shl(to_key)?.checked_sub(1)?).ok()?;
                    Some((lo, hi))
                })
                .collect();
        }
        None
    }
}

/// Most ranges put into one predicate.
const MAX_RANGES: usize = 32;

/// Adds a HEALPix range predicate beside a constant cone test on a table with a
/// HEALPix-bearing key; the exact test stays, so results are unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConeSearchRule;

impl ConeSearchRule {
    /// The rule.
    pub fn new() -> Self {
        Self
    }
}

/// The key column of the relation that `position` refers to.
fn key_for(position: &(Expr, Expr), schema: &DFSchema) -> Option<(Column, HealpixKey)> {
    let cols = position
        .0
        .column_refs()
        .into_iter()
        .chain(position.1.column_refs());
    let mut qualifier = None;
    for c in cols {
        match (&qualifier, &c.relation) {
            (None, r) => qualifier = Some(r.clone()),
            (Some(q), r) if q == r => {}
            _ => return None,
        }
    }
    let qualifier = qualifier?;
    schema.iter().find_map(|(q, field)| {
        if q.cloned() != qualifier {
            return None;
        }
        let key = HealpixKey::parse(field.metadata().get(HEALPIX_METADATA_KEY)?)?;
        Some((Column::new(q.cloned(), field.name()), key))
    })
}

/// The cone (column position, centre, radius) of a separation with one constant position.
fn cone(sep: &Separation) -> Option<((Expr, Expr), f64, f64, f64)> {
    let radius = sep.constant_radius()?;
    let constant = |p: &(Expr, Expr)| Some((literal_f64(&p.0)?, literal_f64(&p.1)?));
    if let Some((ra, dec)) = constant(&sep.b) {
        Some((sep.a.clone(), ra, dec, radius))
    } else {
        let (ra, dec) = constant(&sep.a)?;
        Some((sep.b.clone(), ra, dec, radius))
    }
}

fn range_predicate(key: &Column, ranges: &[(i64, i64)]) -> Option<Expr> {
    let col = || Expr::Column(key.clone());
    disjunction(
        ranges
            .iter()
            .map(|&(lo, hi)| col().gt_eq(lit(lo)).and(col().lt_eq(lit(hi)))),
    )
}

impl OptimizerRule for ConeSearchRule {
    fn name(&self) -> &str {
        "parallax_cone_search"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let conjuncts = split_conjunction(&filter.predicate);
        let mut added = Vec::new();
        for c in &conjuncts {
            let found = match_separation(c)
                .and_then(|sep| cone(&sep))
                .or_else(|| match_contains_region(c).map(|(p, (ra, dec, r))| (p, ra, dec, r)));
            let Some((position, ra, dec, radius)) = found else {
                continue;
            };
            let Some((key, scheme)) = key_for(&position, filter.input.schema()) else {
                continue;
            };
            let Some(ranges) = scheme.cone_ranges(ra, dec, radius, MAX_RANGES) else {
                continue;
            };
            let Some(pred) = range_predicate(&key, &ranges) else {
                continue;
            };
            if !conjuncts.contains(&&pred) && !added.contains(&pred) {
                added.push(pred);
            }
        }
        if added.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let predicate =
            conjunction(conjuncts.into_iter().cloned().chain(added)).unwrap_or_else(|| lit(true));
        let input = Arc::clone(&filter.input);
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
            predicate, input,
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes() {
        assert_eq!(HealpixKey::parse("gaia"), Some(HealpixKey::GAIA));
        assert_eq!(
            HealpixKey::parse("nested:8"),
            Some(HealpixKey { order: 8, shift: 0 })
        );
        assert_eq!(HealpixKey::parse("nested:30"), None);
        assert_eq!(HealpixKey::parse("ring:8"), None);
    }

    /// Every position inside the cone has a key within one of the ranges.
    #[test]
    fn ranges_cover_the_cone() {
        let key = HealpixKey::GAIA;
        for (ra, dec, r) in [
            (10.0, 20.0, 0.1),
            (359.99, 0.0, 0.5),
            (0.0, 89.95, 0.1),
            (0.0, -90.0, 2.0),
        ] {
            let ranges = key.cone_ranges(ra, dec, r, MAX_RANGES).expect("ranges");
            assert!(ranges.len() <= MAX_RANGES);
            for k in 0..400 {
                let t = f64::from(k) * 0.7;
                let rr = r * f64::from(k % 20) / 20.0;
                let dec2 = (dec + rr * t.sin()).clamp(-90.0, 90.0);
                let ra2 = (ra + rr * t.cos() / dec2.to_radians().cos().max(1e-6)).rem_euclid(360.0);
                if crate::distance::angular_distance_deg(ra, dec, ra2, dec2) > r {
                    continue;
                }
                let id = (cdshealpix::nested::hash(12, ra2.to_radians(), dec2.to_radians()) as i64)
                    << 35
                    | 12345;
                assert!(
                    ranges.iter().any(|&(lo, hi)| lo <= id && id <= hi),
                    "({ra2}, {dec2}) in cone ({ra}, {dec}, {r}) but outside the ranges"
                );
            }
        }
    }
}
