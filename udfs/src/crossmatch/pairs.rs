//! `crossmatch_pairs('schema.table', radius_arcsec [, 'schema.other'])`: every pair of sources
//! within a radius, as a table.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{
    Column, Result, ScalarValue, TableReference, plan_datafusion_err, plan_err,
};
use datafusion::datasource::provider_as_source;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, ScalarUDF, cast, lit};

use super::matcher::literal_f64;
use crate::distance::DistanceFunc;

/// The table function `crossmatch_pairs`.
///
/// Returns `(id1, id2, separation_arcsec)` for every pair of rows of `table` (or one row of
/// `table` and one of `other`) whose positions are at most `radius_arcsec` apart; for a
/// self-match each unordered pair once, with `id1 < id2`. It is planned exactly like the
/// ADQL crossmatch join (a HEALPix hash join, see [`CrossmatchRule`](super::CrossmatchRule)).
/// The identifier and position columns are those with the UCDs `meta.id;meta.main`,
/// `pos.eq.ra;meta.main` and `pos.eq.dec;meta.main`, or else the columns named
/// `source_id`/`id`, `ra`/`ra_deg` and `dec`/`dec_deg`.
#[derive(Debug, Default)]
pub struct CrossmatchPairsFunc;

impl CrossmatchPairsFunc {
    /// The function.
    pub fn new() -> Self {
        Self
    }
}

/// The function's name in SQL and ADQL.
pub const NAME: &str = "crossmatch_pairs";

fn string_arg(e: &Expr, what: &str) -> Result<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Ok(s.clone()),
        _ => plan_err!(
            "{NAME}: the {what} must be a table name in quotes, e.g. 'gaiadr3.gaia_source'"
        ),
    }
}

fn table_ref(name: &str) -> TableReference {
    // Undelimited ADQL names are case-insensitive: the catalogue registers them in lower case.
    if name.contains('"') {
        TableReference::parse_str(name)
    } else {
        TableReference::parse_str(&name.to_lowercase())
    }
}

/// Resolves a table through the session's catalogue.
fn resolve(state: &SessionState, name: &str) -> Result<Arc<dyn TableProvider>> {
    let reference = table_ref(name);
    let schema = state
        .schema_for_ref(reference.clone())
        .map_err(|_| plan_datafusion_err!("{NAME}: unknown table '{name}'"))?;
    let mut fut = std::pin::pin!(schema.table(reference.table()));
    // Catalogue schemas answer from memory; a provider that would have to wait is refused
    // rather than blocked on.
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(Some(t))) => Ok(t),
        Poll::Ready(Ok(None)) => plan_err!("{NAME}: unknown table '{name}'"),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => plan_err!("{NAME}: table '{name}' cannot be resolved synchronously"),
    }
}

/// The (id, ra, dec) column names of a table.
fn key_columns(schema: &Schema, name: &str) -> Result<[String; 3]> {
    let find = |ucd: &str, names: &[&str], what: &str| -> Result<String> {
        let by_ucd = schema.fields().iter().find(|f| {
            f.metadata()
                .get("ucd")
                .is_some_and(|u| u.eq_ignore_ascii_case(ucd))
        });
        let by_name = || {
            names.iter().find_map(|n| {
                schema
                    .fields()
                    .iter()
                    .find(|f| f.name().eq_ignore_ascii_case(n))
            })
        };
        match by_ucd.or_else(by_name) {
            Some(f) => Ok(f.name().clone()),
            None => plan_err!(
                "{NAME}: cannot tell the {what} column of '{name}'; give it the UCD {ucd} in the catalogue"
            ),
        }
    };
    Ok([
        find("meta.id;meta.main", &["source_id", "id"], "identifier")?,
        find("pos.eq.ra;meta.main", &["ra", "ra_deg"], "right ascension")?,
        find("pos.eq.dec;meta.main", &["dec", "dec_deg"], "declination")?,
    ])
}

impl TableFunctionImpl for CrossmatchPairsFunc {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(2..=3).contains(&exprs.len()) {
            return plan_err!(
                "{NAME} takes ('schema.table', radius_arcsec [, 'schema.other_table'])"
            );
        }
        let Some(state) = args.session().as_any().downcast_ref::<SessionState>() else {
            return plan_err!("{NAME} needs a DataFusion session");
        };
        let first = string_arg(&exprs[0], "first argument")?;
        let Some(radius_arcsec) = literal_f64(&exprs[1]) else {
            return plan_err!("{NAME}: the radius must be a number of arcseconds");
        };
        if !(0.0..=180.0 * 3600.0).contains(&radius_arcsec) {
            return plan_err!(
                "{NAME}: the radius must be between 0 and 648000 arcseconds (180 degrees), got {radius_arcsec}"
            );
        }
        let second = exprs
            .get(2)
            .map(|e| string_arg(e, "third argument"))
            .transpose()?;
        let t1 = resolve(state, &first)?;
        let [id1, ra1, dec1] = key_columns(&t1.schema(), &first)?;
        let (t2, name2) = match &second {
            Some(n) => (resolve(state, n)?, n.as_str()),
            None => (Arc::clone(&t1), first.as_str()),
        };
        let [id2, ra2, dec2] = key_columns(&t2.schema(), name2)?;

        let a = LogicalPlanBuilder::scan(table_ref(&first), provider_as_source(t1), None)?
            .alias("a")?
            .build()?;
        let b =
            LogicalPlanBuilder::scan(table_ref(name2), provider_as_source(t2), None)?.alias("b")?;
        let distance = Arc::new(ScalarUDF::new_from_impl(DistanceFunc::new()));
        let c = |q: &str, name: &str| Expr::Column(Column::new(Some(q), name));
        let f64col = |q: &str, name: &str| cast(c(q, name), DataType::Float64);
        let sep = distance.call(vec![
            f64col("a", &ra1),
            f64col("a", &dec1),
            f64col("b", &ra2),
            f64col("b", &dec2),
        ]);
        let mut cond = vec![sep.clone().lt_eq(lit(radius_arcsec / 3600.0))];
        if second.is_none() {
            cond.push(c("a", &id1).lt(c("b", &id2)));
        }
        let plan = LogicalPlanBuilder::from(a)
            .join_on(b.build()?, JoinType::Inner, cond)?
            .project(vec![
                c("a", &id1).alias("id1"),
                c("b", &id2).alias("id2"),
                (sep * lit(3600.0)).alias("separation_arcsec"),
            ])?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
