//! Planning with DataFusion and mapping its errors to located, suggestive [`AdqlError`]s.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, SchemaError};
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, ObjectNamePart, Statement, Visit, Visitor};
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::error::{AdqlError, ErrorKind, Span};
use crate::parse::{lower_first, tokenize};

/// The ADQL 2.1 geometry functions (§4.2). They parse; planning them needs an
/// implementation registered in the session under the same (lowercase) name.
pub const GEOMETRY_FUNCTIONS: &[&str] = &[
    "area",
    "box",
    "centroid",
    "circle",
    "contains",
    "coord1",
    "coord2",
    "coordsys",
    "distance",
    "intersects",
    "point",
    "polygon",
    "region",
];

/// Parses `text` as ADQL (see [`crate::parse`]) and plans it with DataFusion against the
/// catalogue and functions of `state`.
///
/// DataFusion's span collection is switched on for this planning call so that unknown
/// columns, tables and functions are located in `text`; the returned plan is the
/// unoptimized logical plan. Each `rand` call site gets a fresh generator (see
/// `parallax-udfs`), so `RAND(seed)` yields the same sequence every time a query is planned.
///
/// # Errors
/// Any error of [`crate::parse`]; unknown or ambiguous names (with a suggestion), type
/// errors, and unsupported features as user errors; DataFusion bugs as internal errors.
pub async fn plan(state: &SessionState, text: &str) -> Result<LogicalPlan, AdqlError> {
    let query = crate::parse(text)?;
    check_geometry(state, &query.statement)?;
    let spanned;
    let state = if state.config().options().sql_parser.collect_spans {
        state
    } else {
        let mut s = state.clone();
        s.config_mut().options_mut().sql_parser.collect_spans = true;
        spanned = s;
        &spanned
    };
    let plan = state
        .statement_to_plan(DFStatement::Statement(Box::new(query.statement)))
        .await
        .map_err(|e| map_error(state, text, &e))?;
    fresh_generators(plan, state).map_err(|e| map_error(state, text, &e))
}

/// Geometry functions without an implementation in the session are "not yet supported"
/// rather than "unknown". DataFusion's own string `contains` does not count as one.
fn check_geometry(state: &SessionState, statement: &Statement) -> Result<(), AdqlError> {
    struct Geometry<'a>(&'a SessionState);
    impl Visitor for Geometry<'_> {
        type Break = AdqlError;
        fn pre_visit_expr(&mut self, e: &SqlExpr) -> ControlFlow<AdqlError> {
            let SqlExpr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            let Some(ObjectNamePart::Identifier(ident)) = f.name.0.first() else {
                return ControlFlow::Continue(());
            };
            let name = ident.value.to_ascii_lowercase();
            if !GEOMETRY_FUNCTIONS.contains(&name.as_str()) {
                return ControlFlow::Continue(());
            }
            if name == "region" {
                // ADQL 2.1 leaves the region-string syntax of REGION to each service; none is parsed here.
                return ControlFlow::Break(AdqlError::new(
                    ErrorKind::Unsupported {
                        feature: "the adql geometry function 'region'".into(),
                        help: Some(
                            "STC-S region strings are not parsed here; write the region with \
                             POINT, CIRCLE, BOX or POLYGON, e.g. CIRCLE('ICRS', 10, 20, 1)"
                                .into(),
                        ),
                    },
                    Span::from_sql(ident.span),
                ));
            }
            let implemented = match self.0.scalar_functions().get(&name) {
                None => false,
                Some(udf) => !udf
                    .inner()
                    .is::<datafusion::functions::string::contains::ContainsFunc>(),
            };
            if implemented {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(AdqlError::new(
                    ErrorKind::Unsupported {
                        feature: format!("the adql geometry function '{name}'"),
                        help: Some("this service does not implement geometry functions yet".into()),
                    },
                    Span::from_sql(ident.span),
                ))
            }
        }
    }
    match statement.visit(&mut Geometry(state)) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

/// Gives every volatile `rand` call a fresh instance (see `RandFunc::with_updated_config` in
/// `parallax-udfs`) so that its seeded sequence starts anew for each planned query.
fn fresh_generators(
    plan: LogicalPlan,
    state: &SessionState,
) -> datafusion::common::Result<LogicalPlan> {
    let options = state.config_options();
    plan.transform_up_with_subqueries(|p| {
        p.map_expressions(|e| {
            e.transform_up(|e| match &e {
                Expr::ScalarFunction(sf) if sf.func.name() == "random" => {
                    match sf.func.inner().with_updated_config(options) {
                        Some(udf) => Ok(Transformed::yes(Expr::ScalarFunction(
                            ScalarFunction::new_udf(Arc::new(udf), sf.args.clone()),
                        ))),
                        None => Ok(Transformed::no(e)),
                    }
                }
                _ => Ok(Transformed::no(e)),
            })
        })
    })
    .map(|t| t.data)
}

/// Maps a DataFusion planning error to an [`AdqlError`].
pub(crate) fn map_error(state: &SessionState, text: &str, e: &DataFusionError) -> AdqlError {
    let diag_span = e
        .diagnostic()
        .and_then(|d| d.span.as_ref())
        .and_then(Span::from_df);
    let root = e.find_root();
    let (kind, locate): (ErrorKind, Option<String>) = match root {
        DataFusionError::SchemaError(se, _) => match se.as_ref() {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => {
                // A qualified name is compared with qualified candidates, so that a wrong
                // alias ("h.ra" for "g.ra") gets a useful suggestion too.
                let suggestion = if field.relation.is_some() {
                    nearest(
                        &field.flat_name(),
                        valid_fields.iter().map(|c| c.flat_name()),
                    )
                } else {
                    nearest(&field.name, valid_fields.iter().map(|c| c.name.clone()))
                };
                (
                    ErrorKind::UnknownColumn {
                        name: field.flat_name(),
                        suggestion,
                    },
                    Some(field.name.clone()),
                )
            }
            SchemaError::AmbiguousReference { field } => (
                ErrorKind::AmbiguousColumn {
                    name: field.flat_name(),
                },
                Some(field.name.clone()),
            ),
            SchemaError::DuplicateQualifiedField { qualifier, name } => (
                ErrorKind::Invalid {
                    message: format!(
                        "column '{qualifier}.{name}' appears twice in a select list; give one of them an alias"
                    ),
                },
                Some(name.clone()),
            ),
            SchemaError::DuplicateUnqualifiedField { name } => (
                ErrorKind::Invalid {
                    message: format!(
                        "column name '{name}' appears twice in a select list; give one of them an alias"
                    ),
                },
                Some(name.clone()),
            ),
        },
        DataFusionError::Plan(m) => classify_plan_message(state, m),
        DataFusionError::NotImplemented(m) => (
            ErrorKind::Unsupported {
                feature: lower_first(first_line(m)),
                help: None,
            },
            quoted_name(m),
        ),
        DataFusionError::Execution(m) => (
            ErrorKind::Invalid {
                message: lower_first(first_line(m)),
            },
            locate_hint(m),
        ),
        DataFusionError::ArrowError(a, _) => (
            ErrorKind::Invalid {
                message: lower_first(&a.to_string()),
            },
            None,
        ),
        DataFusionError::IoError(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotConnected | std::io::ErrorKind::TimedOut
            ) =>
        {
            (
                ErrorKind::Unavailable {
                    message: e.to_string(),
                },
                None,
            )
        }
        other => (
            ErrorKind::Internal {
                message: other.strip_backtrace(),
            },
            None,
        ),
    };
    let span = diag_span.or_else(|| locate.and_then(|name| find_word(text, &name)));
    AdqlError::new(kind, span)
}

fn first_line(m: &str) -> &str {
    m.lines().next().unwrap_or_default().trim_end_matches('.')
}

/// The first `'quoted'` word in a DataFusion message, as a guess at what to underline.
fn quoted_name(m: &str) -> Option<String> {
    let start = m.find('\'')? + 1;
    let len = m[start..].find('\'')?;
    let name = &m[start..start + len];
    let name = name.rsplit('.').next().unwrap_or(name);
    (!name.is_empty()).then(|| name.to_owned())
}

fn classify_plan_message(state: &SessionState, m: &str) -> (ErrorKind, Option<String>) {
    let line = first_line(m);
    if let Some(name) = line
        .strip_prefix("table '")
        .and_then(|r| r.strip_suffix("' not found"))
    {
        let defaults = &state.config().options().catalog;
        let name = name
            .strip_prefix(&format!("{}.", defaults.default_catalog))
            .unwrap_or(name);
        let name = name
            .strip_prefix(&format!("{}.", defaults.default_schema))
            .unwrap_or(name);
        let suggestion = nearest_table(name, &table_names(state));
        let last = name.rsplit('.').next().unwrap_or(name).to_owned();
        return (
            ErrorKind::UnknownTable {
                name: name.to_owned(),
                suggestion,
            },
            Some(last),
        );
    }
    if let Some(name) = line
        .strip_prefix("Invalid function '")
        .and_then(|r| r.split('\'').next())
    {
        let suggestion = nearest(name, function_names(state).into_iter());
        return (
            ErrorKind::UnknownFunction {
                name: name.to_owned(),
                suggestion,
            },
            Some(name.to_owned()),
        );
    }
    (
        ErrorKind::Invalid {
            message: lower_first(line),
        },
        locate_hint(line),
    )
}

/// What to underline for a generic planning message: the function a UDF error names
/// (`in_unit: ...`), the clause a message names, else the first quoted name.
fn locate_hint(m: &str) -> Option<String> {
    if let Some((prefix, _)) = m.split_once(": ")
        && !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Some(prefix.to_owned());
    }
    for (phrase, word) in [
        ("WHERE clause", "where"),
        ("order by", "order"),
        ("ORDER BY", "order"),
        ("GROUP BY", "group"),
        ("HAVING", "having"),
    ] {
        if m.contains(phrase) {
            return Some(word.to_owned());
        }
    }
    quoted_name(m)
}

/// The closest table, comparing both `schema.table` and the bare table name.
fn nearest_table(name: &str, tables: &[String]) -> Option<String> {
    let bare = name.rsplit('.').next().unwrap_or(name);
    let qualified = nearest(name, tables.iter().cloned());
    qualified.or_else(|| {
        tables
            .iter()
            .filter(|t| t.contains('.'))
            .find(|t| {
                let tb = t.rsplit('.').next().unwrap_or(t);
                nearest(bare, std::iter::once(tb.to_owned())).is_some() || tb == bare
            })
            .cloned()
    })
}

fn table_names(state: &SessionState) -> Vec<String> {
    let defaults = &state.config().options().catalog;
    let mut names = Vec::new();
    let catalogs = state.catalog_list();
    for catalog_name in catalogs.catalog_names() {
        let Some(catalog) = catalogs.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            for table in schema.table_names() {
                if catalog_name == defaults.default_catalog
                    && schema_name == defaults.default_schema
                {
                    names.push(table.clone());
                }
                names.push(format!("{schema_name}.{table}"));
            }
        }
    }
    names
}

fn function_names(state: &SessionState) -> Vec<String> {
    state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .cloned()
        .collect()
}

/// The candidate closest to `name`: a case-insensitive exact match first, else the best
/// Jaro-Winkler score, kept if it is at least 0.9, or at least 0.8 with a Levenshtein
/// distance of at most a third of the name (so "frobnicate" suggests nothing).
pub(crate) fn nearest(name: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    let target = name.to_lowercase();
    let mut best: Option<(f64, String)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let lower = c.to_lowercase();
        let score = if lower == target {
            2.0
        } else {
            let jw = strsim::jaro_winkler(&target, &lower);
            let lev = strsim::levenshtein(&target, &lower);
            if jw >= 0.9 || (jw >= 0.8 && lev <= (target.chars().count() / 3).max(2)) {
                jw
            } else {
                continue;
            }
        };
        if best
            .as_ref()
            .is_none_or(|(s, b)| score > *s || (score == *s && c < *b))
        {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The span of the first identifier token in `text` that spells `name`.
fn find_word(text: &str, name: &str) -> Option<Span> {
    let tokens = tokenize(text).ok()?;
    tokens.iter().find_map(|t| match &t.token {
        Token::Word(w)
            if (w.quote_style.is_none() && w.value.eq_ignore_ascii_case(name))
                || (w.quote_style.is_some() && w.value == name) =>
        {
            Span::from_sql(t.span)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names() {
        let c = || {
            ["parallax", "pmra", "pmdec", "ra"]
                .map(String::from)
                .into_iter()
        };
        assert_eq!(nearest("paralax", c()), Some("parallax".into()));
        assert_eq!(nearest("pmde", c()), Some("pmdec".into()));
        assert_eq!(nearest("xyzzy", c()), None);
    }

    #[test]
    fn quoted_names() {
        assert_eq!(quoted_name("call to 'sqrt' failed"), Some("sqrt".into()));
        assert_eq!(quoted_name("no quotes"), None);
    }
}
