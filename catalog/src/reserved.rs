//! ADQL 2.1 reserved words (§2.1.3: the SQL-92 reserved words plus ADQL's own), which cannot
//! be used as regular identifiers and must be published as delimited identifiers.

#[rustfmt::skip]
const RESERVED: &[&str] = &[
    // ADQL
    "abs", "acos", "area", "asin", "atan", "atan2", "bit_and", "bit_not", "bit_or", "bit_xor",
    "box", "ceiling", "centroid", "circle", "contains", "coord1", "coord2", "coordsys", "cos",
    "cot", "degrees", "distance", "exp", "floor", "ilike", "in_unit", "intersects", "log",
    "log10", "mod", "offset", "pi", "point", "polygon", "power", "radians", "region", "rand",
    "round", "sin", "sqrt", "tan", "top", "truncate",
    // SQL-92
    "absolute", "action", "add", "all", "allocate", "alter", "and", "any", "are", "as", "asc",
    "assertion", "at", "authorization", "avg", "begin", "between", "bigint", "bit",
    "bit_length", "both", "by", "cascade", "cascaded", "case", "cast", "catalog", "char",
    "character", "character_length", "char_length", "check", "close", "coalesce", "collate",
    "collation", "column", "commit", "connect", "connection", "constraint", "constraints",
    "continue", "convert", "corresponding", "count", "create", "cross", "current",
    "current_date", "current_time", "current_timestamp", "current_user", "cursor", "date",
    // "dec" is reserved in SQL-92 but is every archive's declination column; clients write it bare.
    "day", "deallocate", "decimal", "declare", "default", "deferrable", "deferred",
    "delete", "desc", "describe", "descriptor", "diagnostics", "disconnect", "distinct",
    "domain", "double", "drop", "else", "end", "end-exec", "escape", "except", "exception",
    "exec", "execute", "exists", "external", "extract", "false", "fetch", "first", "float",
    "for", "foreign", "found", "from", "full", "get", "global", "go", "goto", "grant", "group",
    "having", "hour", "identity", "immediate", "in", "indicator", "initially", "inner",
    "input", "insensitive", "insert", "int", "integer", "intersect", "interval", "into", "is",
    "isolation", "join", "key", "language", "last", "leading", "left", "level", "like",
    "local", "lower", "match", "max", "min", "minute", "module", "month", "names", "national",
    "natural", "nchar", "next", "no", "not", "null", "nullif", "numeric", "octet_length", "of",
    "on", "only", "open", "option", "or", "order", "outer", "output", "overlaps", "pad",
    "partial", "position", "precision", "prepare", "preserve", "primary", "prior",
    "privileges", "procedure", "public", "read", "real", "references", "relative", "restrict",
    "revoke", "right", "rollback", "rows", "schema", "scroll", "second", "section", "select",
    "session", "session_user", "set", "size", "smallint", "some", "space", "sql", "sqlcode",
    "sqlerror", "sqlstate", "substring", "sum", "system_user", "table", "temporary", "then",
    "time", "timestamp", "timezone_hour", "timezone_minute", "to", "trailing", "transaction",
    "translate", "translation", "trim", "true", "union", "unique", "unknown", "update",
    "upper", "usage", "user", "using", "value", "values", "varchar", "varying", "view", "when",
    "whenever", "where", "with", "work", "write", "year", "zone",
];

/// True when `name` must be written as a delimited identifier in ADQL: it is a reserved word,
/// or not a lower-case regular identifier (upper-case letters would be folded away).
pub(crate) fn needs_quotes(name: &str) -> bool {
    let mut chars = name.chars();
    let regular = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    !regular || RESERVED.contains(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting() {
        assert!(super::needs_quotes("size"));
        assert!(super::needs_quotes("Mixed"));
        assert!(super::needs_quotes("has space"));
        assert!(!super::needs_quotes("parallax"));
        assert!(!super::needs_quotes("phot_g_mean_mag"));
    }
}
