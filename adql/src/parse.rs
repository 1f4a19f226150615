//! Tokenize, parse and check that the text is exactly one ADQL query.

use datafusion::sql::sqlparser::ast::{SetExpr, Statement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::dialect::AdqlDialect;
use crate::error::{AdqlError, ErrorKind, Span};

/// Nesting depth sqlparser may recurse to; deeper queries are rejected, not overflowed.
const RECURSION_LIMIT: usize = 64;

/// Most operators (and parentheses) accepted in one query; see [`parse_statement`].
const MAX_OPERATORS: usize = 5_000;

/// Longest accepted query text, in bytes. Generous for hand-written ADQL (a long polygon is a
/// few kilobytes) and it bounds the work and stack depth of every later stage.
pub(crate) const MAX_QUERY_BYTES: usize = 1 << 20;

/// Tokenizes `text` with the ADQL dialect, rejecting tokens that are not ADQL.
pub(crate) fn tokenize(text: &str) -> Result<Vec<TokenWithSpan>, AdqlError> {
    let dialect = AdqlDialect;
    let tokens = Tokenizer::new(&dialect, text)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| {
            let span = Span::new(e.location.line as usize, e.location.column as usize, 1);
            AdqlError::syntax(lower_first(&e.message), Some(span))
        })?;
    for t in &tokens {
        check_token(t)?;
    }
    Ok(tokens)
}

fn check_token(t: &TokenWithSpan) -> Result<(), AdqlError> {
    let span = Span::from_sql(t.span);
    let (construct, help): (String, Option<&str>) = match &t.token {
        Token::EOF
        | Token::Word(_)
        | Token::Number(_, _)
        | Token::SingleQuotedString(_)
        | Token::Comma
        | Token::Whitespace(_)
        | Token::Eq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::StringConcat
        | Token::LParen
        | Token::RParen
        | Token::Period
        | Token::SemiColon => return Ok(()),
        Token::Caret => (
            "the '^' operator".into(),
            Some("use power(x, y) for exponentiation"),
        ),
        Token::Ampersand
        | Token::Pipe
        | Token::Tilde
        | Token::ShiftLeft
        | Token::ShiftRight
        | Token::Sharp => (
            format!("the bitwise operator '{}'", t.token),
            Some("bitwise operators were removed from adql 2.1"),
        ),
        Token::HexStringLiteral(_) => (
            "the hexadecimal literal".into(),
            Some("write the number in decimal"),
        ),
        Token::DoubleColon => ("the '::' cast".into(), Some("use cast(x as type)")),
        Token::Mod => ("the '%' operator".into(), Some("use mod(x, y)")),
        Token::DoubleEq => ("the '==' operator".into(), Some("use '='")),
        Token::Placeholder(_) => ("the query parameter".into(), None),
        Token::DoubleQuotedString(_) => (
            "a double-quoted string".into(),
            Some("strings use single quotes; double quotes delimit identifiers"),
        ),
        Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::DollarQuotedString(_) => (
            format!("the string literal {}", t.token),
            Some("strings are written in single quotes, with '' for a quote"),
        ),
        other => (format!("'{other}'"), None),
    };
    Err(AdqlError::not_adql(construct, help, span))
}

/// Parses `text` into exactly one query statement.
pub(crate) fn parse_statement(text: &str) -> Result<Statement, AdqlError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(AdqlError::invalid(
            format!(
                "query text is {} bytes long; at most {MAX_QUERY_BYTES} are accepted",
                text.len()
            ),
            None,
        ));
    }
    let tokens = tokenize(text)?;
    // Operators nest expressions; a chain of many thousands would nest the AST deep enough to
    // exhaust the stack in later recursive passes (visitors, planner, drop).
    let operators = tokens
        .iter()
        .filter(|t| match &t.token {
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::StringConcat
            | Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::LParen => true,
            Token::Word(w) => matches!(w.keyword, Keyword::AND | Keyword::OR | Keyword::NOT),
            _ => false,
        })
        .count();
    if operators > MAX_OPERATORS {
        return Err(AdqlError::invalid(
            format!("query has {operators} operators; at most {MAX_OPERATORS} are accepted"),
            None,
        ));
    }
    let first_word = tokens.iter().find_map(|t| match &t.token {
        Token::Word(w) => Some((w.keyword, t.span)),
        Token::Whitespace(_) => None,
        _ => Some((Keyword::NoKeyword, t.span)),
    });
    let Some((first_keyword, first_span)) = first_word else {
        return Err(AdqlError::syntax("empty query; expected select", None));
    };
    if !matches!(
        first_keyword,
        Keyword::SELECT | Keyword::WITH | Keyword::NoKeyword
    ) {
        let word = tokens
            .iter()
            .find(|t| matches!(t.token, Token::Word(_)))
            .map(|t| t.token.to_string().to_lowercase())
            .unwrap_or_default();
        return Err(not_a_query(&word, Span::from_sql(first_span)));
    }

    // Errors "at the end of the query" point just after the last token.
    let end_span = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .and_then(|t| {
            let end = t.span.end;
            (end.line > 0).then(|| Span::new(end.line as usize, end.column as usize, 1))
        });
    let dialect = AdqlDialect;
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token().token == Token::EOF {
            break;
        }
        if !statements.is_empty() {
            let span = Span::from_sql(parser.peek_token().span);
            return Err(AdqlError::new(
                ErrorKind::NotAQuery {
                    message: "only one query is allowed; found a second statement".into(),
                },
                span,
            ));
        }
        let statement = parser
            .parse_statement()
            .map_err(|e| parser_error(e).with_span_if_none(end_span))?;
        statements.push(statement);
        if !parser.consume_token(&Token::SemiColon) && parser.peek_token().token != Token::EOF {
            let next = parser.peek_token();
            return Err(AdqlError::syntax(
                format!("unexpected '{}' after the end of the query", next.token),
                Span::from_sql(next.span),
            ));
        }
    }
    let Some(statement) = statements.pop() else {
        return Err(AdqlError::syntax("empty query; expected select", None));
    };
    match &statement {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                Err(not_a_query("data modification", None))
            }
            _ => Ok(statement),
        },
        other => {
            let word = other
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase();
            Err(not_a_query(&word, Span::from_sql(first_span)))
        }
    }
}

fn not_a_query(word: &str, span: Option<Span>) -> AdqlError {
    AdqlError::new(
        ErrorKind::NotAQuery {
            message: format!("only select queries are allowed; found '{word}'"),
        },
        span,
    )
}

/// Converts a sqlparser error ("Expected: x, found: y at Line: 1, Column: 5").
fn parser_error(e: ParserError) -> AdqlError {
    match e {
        ParserError::RecursionLimitExceeded => AdqlError::invalid(
            format!("query is nested too deeply (more than {RECURSION_LIMIT} levels)"),
            None,
        ),
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => {
            let (message, span) = split_location(&m);
            AdqlError::syntax(tidy_parser_message(message), span)
        }
    }
}

/// Splits sqlparser's trailing " at Line: L, Column: C" off a message.
pub(crate) fn split_location(m: &str) -> (&str, Option<Span>) {
    let Some(at) = m.rfind(" at Line: ") else {
        return (m, None);
    };
    let rest = &m[at + " at Line: ".len()..];
    let mut parts = rest.split(", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse::<usize>().ok());
    let column = parts.next().and_then(|c| {
        let digits: String = c.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<usize>().ok()
    });
    match (line, column) {
        (Some(line), Some(column)) if line > 0 && column > 0 => {
            let message = &m[..at];
            // Underline the token that was found, when the message names it.
            let width = message
                .rsplit_once(", found: ")
                .map(|(_, found)| found.chars().count())
                .filter(|_| !message.ends_with("found: EOF"))
                .unwrap_or(1);
            (message, Some(Span::new(line, column, width)))
        }
        _ => (m, None),
    }
}

fn tidy_parser_message(m: &str) -> String {
    if let Some(rest) = m
        .strip_prefix("Expected: ")
        .or_else(|| m.strip_prefix("Expected "))
    {
        if let Some((expected, found)) = rest.rsplit_once(", found: ") {
            let found = if found == "EOF" {
                "the end of the query".to_owned()
            } else {
                format!("'{found}'")
            };
            return format!("expected {expected}, found {found}");
        }
        return format!("expected {rest}");
    }
    lower_first(m)
}

/// Lowercases the first letter of a message, unless it starts an acronym ("UNION ...").
pub(crate) fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (Some(f), second) if !second.is_some_and(|x| x.is_uppercase()) => {
            f.to_lowercase().chain(s.chars().skip(1)).collect()
        }
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_operator_chains_are_rejected_not_overflowed() {
        let text = format!("SELECT 1{}", "+1".repeat(MAX_OPERATORS + 1));
        assert!(parse_statement(&text).is_err());
        // The longest accepted chain goes through every pass on a 2 MiB thread stack.
        let text = format!("SELECT 1{} AS x", "+1".repeat(MAX_OPERATORS - 1));
        let worker = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || crate::parse(&text).map(|q| q.statement.to_string().len()));
        let joined = worker.map(|h| h.join());
        assert!(matches!(joined, Ok(Ok(Ok(n))) if n > MAX_OPERATORS));
    }

    #[test]
    fn location_is_split() {
        let (m, s) = split_location("Expected: an expression, found: FROM at Line: 2, Column: 8");
        assert_eq!(m, "Expected: an expression, found: FROM");
        assert_eq!(s, Some(Span::new(2, 8, 4)));
        assert_eq!(split_location("garbage at Line: x").1, None);
    }
}
