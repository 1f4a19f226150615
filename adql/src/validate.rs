//! Rejects the parts of sqlparser's grammar that are not ADQL 2.1.
//!
//! sqlparser accepts a superset of ADQL; DataFusion would happily plan most of it. The
//! service promises ADQL, so everything outside ADQL 2.1 (IVOA REC 2023-12-15, BNF in its
//! appendix A) is rejected here with an error that names the construct and, where there is
//! one, the ADQL way to write it. The few harmless extensions we keep are listed in the crate
//! documentation.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, CeilFloorKind, CharacterLength, DataType, DateTimeField, Distinct,
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, JoinConstraint,
    JoinOperator, LimitClause, ObjectNamePart, OrderByKind, Query, Select, SelectFlavor,
    SelectItem, SetExpr, SetQuantifier, Spanned, TableFactor, TimezoneInfo, TopQuantity,
    UnaryOperator, Value, Visit, Visitor,
};

use crate::error::{AdqlError, Span};

/// Checks `statement` (or any visitable AST node) against the ADQL 2.1 grammar.
pub(crate) fn validate<V: Visit>(node: &V) -> Result<(), AdqlError> {
    match node.visit(&mut AdqlValidator) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

struct AdqlValidator;

/// Parallax's table-valued functions, the only ones a FROM clause may call.
pub(crate) const TABLE_FUNCTIONS: &[&str] = &["crossmatch_pairs"];

fn span_of<T: Spanned>(node: &T) -> Option<Span> {
    Span::from_sql(node.span())
}

fn reject<T>(
    construct: impl Into<String>,
    help: Option<&str>,
    span: Option<Span>,
) -> ControlFlow<AdqlError, T> {
    ControlFlow::Break(AdqlError::not_adql(construct, help, span))
}

/// Shortens user text quoted in a message.
fn quoted(s: impl ToString) -> String {
    let s = s.to_string();
    let short: String = s.chars().take(40).collect();
    if short.len() < s.len() {
        format!("'{short}...'")
    } else {
        format!("'{short}'")
    }
}

impl Visitor for AdqlValidator {
    type Break = AdqlError;

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<AdqlError> {
        if let Some(with) = &q.with
            && with.recursive
        {
            return reject(
                "with recursive",
                None,
                Span::from_sql(with.with_token.0.span),
            );
        }
        match &q.limit_clause {
            None => {}
            Some(LimitClause::LimitOffset {
                limit: None,
                offset: Some(_),
                limit_by,
            }) if limit_by.is_empty() => {}
            Some(l) => {
                return reject(
                    "limit",
                    Some("use select top n (and offset m) instead"),
                    span_of(l),
                );
            }
        }
        if q.fetch.is_some() {
            return reject(
                "fetch first",
                Some("use select top n instead"),
                span_of(q.body.as_ref()),
            );
        }
        if !q.locks.is_empty()
            || q.for_clause.is_some()
            || q.settings.is_some()
            || q.format_clause.is_some()
            || !q.pipe_operators.is_empty()
        {
            return reject("this query clause", None, span_of(q));
        }
        if let Some(order_by) = &q.order_by
            && let OrderByKind::All(_) = order_by.kind
        {
            return reject("order by all", None, span_of(order_by));
        }
        check_set_expr(&q.body)
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<AdqlError> {
        let here = Span::from_sql(s.select_token.0.span);
        if let Some(top) = &s.top {
            if top.percent || top.with_ties {
                return reject("top ... percent / with ties", Some("use top n"), here);
            }
            if let Some(TopQuantity::Expr(e)) = &top.quantity {
                return reject(
                    format!("top {}", quoted(format!("({e})"))),
                    Some("top takes an unsigned integer literal: select top 10 ..."),
                    span_of(e),
                );
            }
        }
        if let Some(Distinct::On(_)) = &s.distinct {
            return reject("distinct on", None, here);
        }
        if !matches!(s.flavor, SelectFlavor::Standard) {
            return reject("from-first select", None, here);
        }
        if s.into.is_some() {
            return reject("select into", None, here);
        }
        if s.select_modifiers.is_some()
            || !s.optimizer_hints.is_empty()
            || s.exclude.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.connect_by.is_empty()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || s.value_table_mode.is_some()
        {
            return reject("this select clause", None, here);
        }
        if !s.named_window.is_empty() || s.qualify.is_some() {
            return reject("window clauses", None, here);
        }
        match &s.group_by {
            GroupByExpr::All(_) => return reject("group by all", None, here),
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return reject("group by modifiers", None, here);
                }
                for e in exprs {
                    if matches!(e, Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_)) {
                        return reject("rollup, cube and grouping sets", None, span_of(e));
                    }
                }
            }
        }
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. } => {}
                SelectItem::Wildcard(opts) | SelectItem::QualifiedWildcard(_, opts) => {
                    if !opts.to_string().trim().is_empty() {
                        return reject(
                            format!("wildcard options {}", quoted(opts.to_string().trim())),
                            None,
                            span_of(item),
                        );
                    }
                }
                other => return reject(quoted(other), None, span_of(other)),
            }
        }
        for twj in &s.from {
            for join in &twj.joins {
                let constraint = match &join.join_operator {
                    JoinOperator::Join(c)
                    | JoinOperator::Inner(c)
                    | JoinOperator::Left(c)
                    | JoinOperator::LeftOuter(c)
                    | JoinOperator::Right(c)
                    | JoinOperator::RightOuter(c)
                    | JoinOperator::FullOuter(c) => Some(c),
                    JoinOperator::CrossJoin(JoinConstraint::None) => None,
                    _ => {
                        return reject(
                            "this kind of join",
                            Some(
                                "adql has [natural] [inner | left | right | full [outer]] join and cross join",
                            ),
                            span_of(&join.relation),
                        );
                    }
                };
                if let Some(JoinConstraint::None) = constraint {
                    return ControlFlow::Break(AdqlError::syntax(
                        "a join needs on, using or natural; use cross join for a cartesian product",
                        span_of(&join.relation),
                    ));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<AdqlError> {
        match t {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
                ..
            } => {
                if let Some(args) = args {
                    let known = name.0.len() == 1
                        && name.0[0].as_ident().is_some_and(|i| {
                            i.quote_style.is_none()
                                && TABLE_FUNCTIONS
                                    .iter()
                                    .any(|f| i.value.eq_ignore_ascii_case(f))
                        });
                    if !known || args.settings.is_some() {
                        return reject(
                            "table functions",
                            Some(
                                "the only table function is crossmatch_pairs('schema.table', radius_arcsec)",
                            ),
                            span_of(t),
                        );
                    }
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                {
                    return reject("table modifiers", None, span_of(t));
                }
            }
            TableFactor::Derived {
                lateral, sample, ..
            } => {
                if *lateral {
                    return reject("lateral", None, span_of(t));
                }
                if sample.is_some() {
                    return reject("tablesample", None, span_of(t));
                }
            }
            TableFactor::NestedJoin { .. } => {}
            other => return reject(quoted(other), None, span_of(other)),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<AdqlError> {
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Nested(_) => {}
            Expr::Value(v) => match &v.value {
                Value::Number(_, _)
                | Value::SingleQuotedString(_)
                | Value::Null
                | Value::Boolean(_) => {}
                other => return reject(format!("the literal {}", quoted(other)), None, span_of(e)),
            },
            Expr::BinaryOp { op, .. } => match op {
                BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Gt
                | BinaryOperator::Lt
                | BinaryOperator::GtEq
                | BinaryOperator::LtEq
                | BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::And
                | BinaryOperator::Or
                | BinaryOperator::StringConcat => {}
                other => {
                    return reject(format!("the operator '{other}'"), None, span_of(e));
                }
            },
            Expr::UnaryOp { op, .. } => match op {
                UnaryOperator::Plus | UnaryOperator::Minus | UnaryOperator::Not => {}
                other => return reject(format!("the operator '{other}'"), None, span_of(e)),
            },
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::InList { .. }
            | Expr::InSubquery { .. }
            | Expr::Between { .. }
            | Expr::Exists { .. }
            | Expr::Subquery(_)
            | Expr::Case { .. } => {}
            Expr::Ceil { field, .. } | Expr::Floor { field, .. } => {
                // sqlparser parses FLOOR/CEIL specially; only the plain one-argument form is ADQL.
                if !matches!(
                    field,
                    CeilFloorKind::DateTimeField(DateTimeField::NoDateTime)
                ) {
                    return reject(quoted(e), None, span_of(e));
                }
            }
            Expr::Like { any, .. } | Expr::ILike { any, .. } => {
                if *any {
                    return reject("like any", None, span_of(e));
                }
            }
            Expr::Cast {
                kind,
                data_type,
                format,
                array,
                ..
            } => {
                if !matches!(kind, CastKind::Cast) || format.is_some() || *array {
                    let help = match kind {
                        CastKind::DoubleColon => Some("use cast(x as type)"),
                        _ => None,
                    };
                    return reject(quoted(e), help, span_of(e));
                }
                check_cast_type(data_type, span_of(e))?;
            }
            Expr::Function(f) => {
                let name_span = span_of(&f.name);
                if f.name.0.len() != 1
                    || !matches!(f.name.0.first(), Some(ObjectNamePart::Identifier(_)))
                {
                    return reject(
                        format!("the qualified function name {}", quoted(&f.name)),
                        None,
                        name_span,
                    );
                }
                if f.over.is_some() {
                    return reject("window functions (over)", None, span_of(e));
                }
                if f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
                    return reject("aggregate modifiers", None, span_of(e));
                }
                if f.uses_odbc_syntax || !matches!(f.parameters, FunctionArguments::None) {
                    return reject(quoted(e), None, span_of(e));
                }
                match &f.args {
                    FunctionArguments::List(list) => {
                        if !list.clauses.is_empty() {
                            return reject(
                                "clauses inside a function's argument list",
                                None,
                                span_of(e),
                            );
                        }
                        for arg in &list.args {
                            match arg {
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(_))
                                | FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {}
                                other => {
                                    return reject(
                                        format!("the function argument {}", quoted(other)),
                                        None,
                                        span_of(e),
                                    );
                                }
                            }
                        }
                    }
                    FunctionArguments::None => {
                        return reject(
                            quoted(e),
                            Some("functions are called with parentheses"),
                            span_of(e),
                        );
                    }
                    FunctionArguments::Subquery(_) => {
                        return reject(quoted(e), None, span_of(e));
                    }
                }
            }
            other => return reject(quoted(other), None, span_of(other)),
        }
        ControlFlow::Continue(())
    }
}

fn check_set_expr(body: &SetExpr) -> ControlFlow<AdqlError> {
    match body {
        SetExpr::Select(_) | SetExpr::Query(_) => ControlFlow::Continue(()),
        SetExpr::SetOperation {
            op: _,
            set_quantifier,
            left,
            right,
        } => {
            if !matches!(
                set_quantifier,
                SetQuantifier::All | SetQuantifier::Distinct | SetQuantifier::None
            ) {
                return reject(format!("'{set_quantifier}'"), None, span_of(body));
            }
            check_set_expr(left)?;
            check_set_expr(right)
        }
        SetExpr::Values(_) => reject("values", None, span_of(body)),
        other => reject(quoted(other), None, span_of(other)),
    }
}

/// ADQL 2.1 §4.7: SMALLINT, INTEGER, BIGINT, REAL, DOUBLE PRECISION, CHAR(n), VARCHAR(n),
/// TIMESTAMP (and geometry types, which are not implemented yet).
fn check_cast_type(t: &DataType, span: Option<Span>) -> ControlFlow<AdqlError> {
    let ok = match t {
        DataType::SmallInt(None)
        | DataType::Int(None)
        | DataType::Integer(None)
        | DataType::BigInt(None)
        | DataType::Real
        | DataType::DoublePrecision
        | DataType::Double(_)
        | DataType::Timestamp(None, TimezoneInfo::None) => true,
        DataType::Char(len)
        | DataType::Character(len)
        | DataType::Varchar(len)
        | DataType::CharacterVarying(len) => {
            matches!(len, None | Some(CharacterLength::IntegerLength { .. }))
        }
        _ => false,
    };
    if ok {
        return ControlFlow::Continue(());
    }
    let name = t.to_string().to_lowercase();
    if matches!(
        name.as_str(),
        "point" | "circle" | "polygon" | "region" | "box"
    ) {
        return ControlFlow::Break(AdqlError::new(
            crate::error::ErrorKind::Unsupported {
                feature: format!("cast to the geometry type {name}"),
                help: None,
            },
            span,
        ));
    }
    reject(
        format!("the cast type '{name}'"),
        Some(
            "cast to smallint, integer, bigint, real, double precision, char(n), varchar(n) or timestamp",
        ),
        span,
    )
}
