//! The sqlparser [`Dialect`] for ADQL 2.1.

use datafusion::sql::sqlparser::dialect::Dialect;

/// ADQL 2.1 (IVOA Recommendation 2023-12-15) as a sqlparser dialect.
///
/// Regular identifiers are `[A-Za-z][A-Za-z0-9_]*`, delimited identifiers use double quotes
/// only, strings use single quotes with `''` as the only escape. Everything sqlparser would
/// accept beyond ADQL (`^`, bitwise operators, hex literals, `::` casts ...) is rejected by
/// [`crate::parse`] with an error that says what to write instead; the dialect itself turns
/// off every optional sqlparser extension.
#[derive(Debug, Default, Clone, Copy)]
pub struct AdqlDialect;

impl Dialect for AdqlDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_ascii_alphabetic()
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_ascii_alphanumeric() || ch == '_'
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        false
    }

    fn supports_nested_comments(&self) -> bool {
        false
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        false
    }

    fn supports_group_by_expr(&self) -> bool {
        false
    }
}
