//! Parallax SQL functions for DataFusion.
//!
//! This crate holds the scalar functions that the IVOA *Astronomical Data Query Language*
//! Version 2.1 (IVOA Recommendation 2023-12-15, §2.3 "Mathematical and trigonometric
//! functions" and §4.9 "Unit conversion") needs and that DataFusion lacks or defines
//! differently:
//!
//! | ADQL                   | function here      | why                                            |
//! |------------------------|--------------------|------------------------------------------------|
//! | `TRUNCATE(x [, n])`    | [`truncate`]       | DataFusion has only `trunc`                    |
//! | `RAND([seed])`         | [`rand`]           | DataFusion's `random()` takes no seed          |
//! | `SIGN(x)`              | [`sign`]           | `signum` turns integers into floats            |
//! | `IN_UNIT(x, 'unit')`   | [`in_unit`]        | needs VOUnit parsing and the column's unit     |
//!
//! `LOG` (natural in ADQL, base 10 in DataFusion), `CEILING` and `MOD` are rewritten by the
//! `parallax-adql` front end onto DataFusion's `ln`, `ceil` and `%`.
//!
//! [`geometry`] implements the ADQL 2.1 geometry functions (§4.2: POINT, CIRCLE, BOX, POLYGON,
//! CONTAINS, INTERSECTS, AREA, CENTROID, COORD1, COORD2, COORDSYS) with DALI 1.1 xtypes, on one
//! exact spherical kernel. The Gaia and IVOA functions are [`distance`], [`gaia_healpix_index`],
//! [`ivo_healpix_index`], [`ivo_healpix_center`] (HEALPix, Górski et al. 2005, via cdshealpix),
//! and [`epoch_prop`] / [`epoch_prop_pos`] (rigorous epoch propagation, ESA 1997, *The
//! Hipparcos and Tycho Catalogues*, Vol. 1, §1.5.5).
//!
//! Every function is a [`ScalarUDFImpl`](datafusion::logical_expr::ScalarUDFImpl) with a
//! pure, vectorised kernel over Arrow arrays and [`Documentation`]; [`all_functions`] is the
//! single registration list.
//!
//! [`Documentation`]: datafusion::logical_expr::Documentation

pub mod aggregates;
pub mod crossmatch;
pub mod distance;
pub mod epoch_prop;
pub mod epoch_prop_pos;
pub mod gaia_healpix_index;
pub mod geometry;
pub mod in_unit;
pub mod ivo_healpix_center;
pub mod ivo_healpix_index;
mod lists;
pub mod rand;
pub mod sign;
pub mod spectra;
pub mod timeseries;
pub mod truncate;
mod unit;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::ScalarUDF;
use datafusion::optimizer::OptimizerRule;
use datafusion::prelude::SessionContext;

pub use unit::UNIT_METADATA_KEY;

/// Errors raised by Parallax functions (wrapped into `DataFusionError::Plan` or
/// `DataFusionError::Execution` when they cross into DataFusion).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdfError {
    /// A unit string that is not a VOUnit this crate understands.
    #[error("unknown unit '{unit}'")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
    },
    /// Two units of different physical dimensions.
    #[error("cannot convert '{from}' to '{to}': the units have different dimensions")]
    IncompatibleUnits {
        /// The unit of the value.
        from: String,
        /// The requested unit.
        to: String,
    },
    /// The value has no unit: a literal or a column without unit metadata.
    #[error(
        "the unit of the value is unknown; pass it as a third argument, e.g. in_unit(x, 'arcsec', 'deg')"
    )]
    MissingUnit,
    /// An argument that must be a constant was not.
    #[error("{function}: the {argument} must be a constant string")]
    NotConstant {
        /// The function name.
        function: &'static str,
        /// Which argument.
        argument: &'static str,
    },
}

/// Every Parallax scalar function, for registration in a session.
pub fn all_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(truncate::TruncateFunc::new()),
        ScalarUDF::new_from_impl(rand::RandFunc::new()),
        ScalarUDF::new_from_impl(sign::SignFunc::new()),
        ScalarUDF::new_from_impl(in_unit::InUnitFunc::new()),
        ScalarUDF::new_from_impl(distance::DistanceFunc::new()),
        ScalarUDF::new_from_impl(gaia_healpix_index::GaiaHealpixIndexFunc::new()),
        ScalarUDF::new_from_impl(ivo_healpix_index::IvoHealpixIndexFunc::new()),
        ScalarUDF::new_from_impl(geometry::point::PointFunc::new()),
        ScalarUDF::new_from_impl(geometry::circle::CircleFunc::new()),
        ScalarUDF::new_from_impl(geometry::contains::ContainsFunc::new()),
        ScalarUDF::new_from_impl(geometry::coord::CoordFunc::new(0)),
        ScalarUDF::new_from_impl(geometry::coord::CoordFunc::new(1)),
        ScalarUDF::new_from_impl(crossmatch::HealpixConeCellsFunc::new()),
        ScalarUDF::new_from_impl(geometry::polygon::PolygonFunc::new()),
        ScalarUDF::new_from_impl(geometry::boxes::BoxFunc::new()),
        ScalarUDF::new_from_impl(geometry::intersects::IntersectsFunc::new()),
        ScalarUDF::new_from_impl(geometry::area::AreaFunc::new()),
        ScalarUDF::new_from_impl(geometry::centroid::CentroidFunc::new()),
        ScalarUDF::new_from_impl(geometry::coordsys::CoordsysFunc::new()),
        ScalarUDF::new_from_impl(ivo_healpix_center::IvoHealpixCenterFunc::new()),
        ScalarUDF::new_from_impl(epoch_prop::EpochPropFunc::new()),
        ScalarUDF::new_from_impl(epoch_prop_pos::EpochPropPosFunc::new()),
        ScalarUDF::new_from_impl(spectra::xp_covariance::XpCovarianceFunc::new()),
        ScalarUDF::new_from_impl(spectra::mahalanobis::MahalanobisFunc::new(
            spectra::mahalanobis::Variant::Full,
        )),
        ScalarUDF::new_from_impl(spectra::mahalanobis::MahalanobisFunc::new(
            spectra::mahalanobis::Variant::Relevant,
        )),
        ScalarUDF::new_from_impl(spectra::mahalanobis::MahalanobisFunc::new(
            spectra::mahalanobis::Variant::GaiaXpy,
        )),
        ScalarUDF::new_from_impl(spectra::mahalanobis::MahalanobisFunc::new(
            spectra::mahalanobis::Variant::FluxNorm,
        )),
        ScalarUDF::new_from_impl(spectra::chi2_pvalue::Chi2PvalueFunc::new()),
        ScalarUDF::new_from_impl(timeseries::fourier_search::FourierSearchFunc::new()),
        ScalarUDF::new_from_impl(timeseries::lomb_scargle::LombScargleFunc::new()),
    ]
}

/// The table functions, by name.
pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![(
        crossmatch::pairs::NAME,
        Arc::new(crossmatch::CrossmatchPairsFunc::new()),
    )]
}

/// The optimizer rules that plan Parallax's spatial joins and cone searches.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![
        Arc::new(crossmatch::CrossmatchRule::new()),
        Arc::new(crossmatch::ConeSearchRule::new()),
    ]
}

pub use aggregates::all_aggregates;

/// Registers [`all_functions`], [`all_aggregates`], [`table_functions`] and
/// [`optimizer_rules`] in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for f in all_functions() {
        ctx.register_udf(f);
    }
    for (name, f) in table_functions() {
        ctx.register_udtf(name, f);
    }
    for rule in optimizer_rules() {
        ctx.add_optimizer_rule(rule);
    }
    for f in all_aggregates() {
        ctx.register_udaf(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_documented() {
        for f in all_functions() {
            let doc = f
                .documentation()
                .unwrap_or_else(|| panic!("{} has no documentation", f.name()));
            assert!(!doc.description.is_empty(), "{}", f.name());
            assert!(
                doc.syntax_example.starts_with(f.name()),
                "{}: {}",
                f.name(),
                doc.syntax_example
            );
            assert!(doc.sql_example.is_some(), "{} has no example", f.name());
            assert!(doc.arguments.is_some(), "{} has no arguments", f.name());
        }
    }

    #[test]
    fn every_aggregate_is_documented() {
        for f in all_aggregates() {
            let doc = f
                .documentation()
                .unwrap_or_else(|| panic!("{} has no documentation", f.name()));
            assert!(!doc.description.is_empty(), "{}", f.name());
            assert!(doc.syntax_example.starts_with(f.name()), "{}", f.name());
            assert!(doc.sql_example.is_some(), "{} has no example", f.name());
            assert!(doc.arguments.is_some(), "{} has no arguments", f.name());
        }
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut names: Vec<_> = all_functions()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(names.iter().all(|n| n == &n.to_lowercase()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all_functions().len());
    }
}
