//! ADQL 2.1 front end for Parallax.
//!
//! Implements the IVOA *Astronomical Data Query Language* Version 2.1 (IVOA Recommendation
//! 2023-12-15) on top of sqlparser and DataFusion:
//!
//! 1. [`AdqlDialect`] tokenizes and parses with sqlparser; tokens outside ADQL (`^`, bitwise
//!    operators, hex literals, `::`, `%` ...) are rejected with a hint.
//! 2. A validator rejects grammar sqlparser knows but ADQL does not (`LIMIT`, window
//!    functions, `DISTINCT ON`, lateral joins, casts to non-ADQL types ...).
//! 3. A rewrite maps ADQL semantics onto DataFusion's: `TOP n` becomes `LIMIT n` (after
//!    `OFFSET`), `LOG` becomes `ln`, `CEILING` becomes `ceil`, `MOD(a, b)` becomes `a % b`, `POWER`'s base becomes a double.
//! 4. [`plan`] hands the statement to DataFusion's `SqlToRel` and maps its errors to
//!    [`AdqlError`]s with a line, a column and a "did you mean" suggestion.
//!
//! ADQL functions DataFusion lacks or gets wrong (`TRUNCATE`, `RAND(seed)`, `SIGN`,
//! `IN_UNIT`) are UDFs in the `parallax-udfs` crate; the session must register them.
//!
//! Geometry functions (`POINT`, `CIRCLE`, `CONTAINS` ...) parse, with or without the leading
//! coordinate-system string; until a geometry implementation is registered in the session,
//! [`plan`] reports them as not yet supported. `REGION` is always rejected: its STC-S string
//! argument is not parsed.
//!
//! Deliberate leniencies beyond ADQL 2.1: a `SELECT` without `FROM`, `TRUE`/`FALSE`
//! literals, `DOUBLE` as a cast type, a trailing semicolon, `LOG(b, x)` with two arguments
//! (base first, as at the ESA Gaia archive).

mod dialect;
mod error;
mod parse;
mod plan;
mod rewrite;
mod validate;

use datafusion::sql::sqlparser::ast::{SetExpr, Statement, TopQuantity};

pub use dialect::AdqlDialect;
pub use error::{AdqlError, ErrorKind, Span};
pub use plan::{GEOMETRY_FUNCTIONS, plan};

/// A parsed, validated and rewritten ADQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The statement after the ADQL rewrites, ready for DataFusion's `SqlToRel`.
    pub statement: Statement,
    /// The `TOP n` of the outermost `SELECT`, if any (it is also a `LIMIT` in `statement`).
    pub top: Option<u64>,
}

/// Parses ADQL `text` into exactly one query, validates it against ADQL 2.1 and rewrites it
/// for DataFusion.
///
/// # Errors
/// A syntax error, a statement that is not a query (`INSERT`, `CREATE`, several
/// statements ...), or SQL that is not ADQL; each with the span of the offending text.
pub fn parse(text: &str) -> Result<Query, AdqlError> {
    let mut statement = parse::parse_statement(text)?;
    validate::validate(&statement)?;
    let top = outer_top(&statement);
    rewrite::rewrite(&mut statement);
    Ok(Query { statement, top })
}

fn outer_top(statement: &Statement) -> Option<u64> {
    let Statement::Query(q) = statement else {
        return None;
    };
    match q.body.as_ref() {
        SetExpr::Select(s) => match s.top.as_ref()?.quantity {
            Some(TopQuantity::Constant(n)) => Some(n),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> String {
        match parse(text) {
            Ok(q) => q.statement.to_string(),
            Err(e) => panic!("{}", e.render(text)),
        }
    }

    #[test]
    fn top_becomes_limit_after_offset() {
        assert_eq!(
            sql("SELECT TOP 5 a FROM t ORDER BY a OFFSET 10"),
            "SELECT a FROM t ORDER BY a LIMIT 5 OFFSET 10"
        );
        assert_eq!(parse("select top 7 * from t").map(|q| q.top), Ok(Some(7)));
    }

    #[test]
    fn log_is_natural() {
        assert_eq!(
            sql("SELECT LOG(x), Log10(x), CEILING(x), MOD(a, 3) FROM t"),
            "SELECT ln(x), Log10(x), ceil(x), (a % 3) FROM t"
        );
    }

    #[test]
    fn top_in_union_operand() {
        assert_eq!(
            sql("SELECT TOP 1 a FROM t UNION ALL SELECT TOP 2 b FROM u"),
            "(SELECT a FROM t LIMIT 1) UNION ALL (SELECT b FROM u LIMIT 2)"
        );
    }

    #[test]
    fn not_queries() {
        for text in [
            "INSERT INTO t VALUES (1)",
            "DROP TABLE t",
            "SELECT 1; SELECT 2",
            "COPY t TO 'x'",
            "SET x = 1",
        ] {
            let e = parse(text).expect_err(text);
            assert!(
                matches!(e.kind(), ErrorKind::NotAQuery { .. }),
                "{text}: {e:?}"
            );
        }
    }

    #[test]
    fn not_adql() {
        for text in [
            "SELECT 2 ^ 3",
            "SELECT a & 1 FROM t",
            "SELECT X'0F'",
            "SELECT a::int FROM t",
            "SELECT a FROM t LIMIT 3",
            "SELECT row_number() OVER () FROM t",
        ] {
            let e = parse(text).expect_err(text);
            assert!(
                matches!(e.kind(), ErrorKind::NotAdql { .. }),
                "{text}: {e:?}"
            );
            assert!(e.line().is_some(), "{text}: {e:?}");
        }
    }
}
