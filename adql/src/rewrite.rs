//! AST rewrites from ADQL semantics to DataFusion SQL semantics.
//!
//! | ADQL                      | DataFusion                           | why                                   |
//! |---------------------------|--------------------------------------|---------------------------------------|
//! | `SELECT TOP n ... [OFFSET m]` | `SELECT ... LIMIT n [OFFSET m]`  | ADQL applies OFFSET first, then TOP   |
//! | `LOG(x)`                  | `ln(x)`                              | ADQL's LOG is natural, DataFusion's is base 10 |
//! | `CEILING(x)`              | `ceil(x)`                            | DataFusion has no `ceiling`           |
//! | `MOD(x, y)`               | `(x % y)`                            | DataFusion has no `mod`               |
//! | `POWER(x, y)`             | `power(CAST(x AS DOUBLE), y)`        | ADQL's POWER is a double              |
//! | `POINT('ICRS', a, d)`     | `point(a, d)`                        | frame argument optional; ICRS only    |
//!
//! `TRUNCATE`, `RAND`, `SIGN` and `IN_UNIT` keep their names: they are UDFs of
//! `parallax-udfs`. Spans of renamed identifiers are kept so that planner errors still point
//! at the user's text.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, LimitClause, ObjectNamePart, Query, SetExpr, TopQuantity, Value, VisitMut, VisitorMut,
};

/// Applies every rewrite to `node`.
pub(crate) fn rewrite<V: VisitMut>(node: &mut V) {
    let _ = node.visit(&mut AdqlRewriter);
}

struct AdqlRewriter;

impl VisitorMut for AdqlRewriter {
    type Break = ();

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        match q.body.as_mut() {
            SetExpr::Select(select) => {
                if let Some(n) = take_top(&mut select.top) {
                    let offset = match q.limit_clause.take() {
                        Some(LimitClause::LimitOffset { offset, .. }) => offset,
                        _ => None,
                    };
                    q.limit_clause = Some(LimitClause::LimitOffset {
                        limit: Some(number(n)),
                        offset,
                        limit_by: vec![],
                    });
                }
            }
            body @ SetExpr::SetOperation { .. } => wrap_set_operands(body),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if f.name.0.len() != 1 {
            return ControlFlow::Continue(());
        }
        let Some(ObjectNamePart::Identifier(ident)) = f.name.0.first_mut() else {
            return ControlFlow::Continue(());
        };
        if ident.quote_style.is_some() {
            return ControlFlow::Continue(());
        }
        let name = ident.value.to_ascii_lowercase();
        let nargs = match &f.args {
            FunctionArguments::List(l) => l.args.len(),
            _ => return ControlFlow::Continue(()),
        };
        match (name.as_str(), nargs) {
            ("point" | "circle" | "box" | "polygon", _) => drop_icrs_argument(&mut f.args),
            ("log", 1) => rename(ident, "ln"),
            ("ceiling", _) => rename(ident, "ceil"),
            ("power", 2) => {
                // ADQL's POWER is a double; DataFusion keeps integer bases integral, so
                // POWER(2, -1) would not be 0.5.
                if let FunctionArguments::List(l) = &mut f.args
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(a))) = l.args.first_mut()
                {
                    let base = std::mem::replace(a, null());
                    *a = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(base),
                        data_type: DataType::DoublePrecision,
                        array: false,
                        format: None,
                    };
                }
            }
            ("mod", 2) => {
                if let FunctionArguments::List(l) = &mut f.args
                    && let [
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(a)),
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(b)),
                    ] = l.args.as_mut_slice()
                {
                    let (a, b) = (std::mem::replace(a, null()), std::mem::replace(b, null()));
                    *e = Expr::Nested(Box::new(Expr::BinaryOp {
                        left: Box::new(a),
                        op: BinaryOperator::Modulo,
                        right: Box::new(b),
                    }));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// ADQL 2.1 makes the leading coordinate-system string of geometry constructors optional and
/// deprecated; '' and ICRS (the only frame served) are removed, anything else is left for the
/// planner to reject.
fn drop_icrs_argument(args: &mut FunctionArguments) {
    let FunctionArguments::List(l) = args else {
        return;
    };
    let is_icrs = matches!(
        l.args.first(),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))))
            if matches!(&v.value, Value::SingleQuotedString(s)
                if s.trim().is_empty() || s.trim().to_ascii_uppercase().starts_with("ICRS"))
    );
    if is_icrs {
        l.args.remove(0);
    }
}

fn rename(ident: &mut Ident, to: &str) {
    ident.value = to.to_owned();
}

fn null() -> Expr {
    Expr::value(Value::Null)
}

fn number(n: u64) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

fn take_top(top: &mut Option<datafusion::sql::sqlparser::ast::Top>) -> Option<u64> {
    match top.take() {
        Some(t) => match t.quantity {
            Some(TopQuantity::Constant(n)) => Some(n),
            quantity => {
                // Only constants reach here: validation rejects `TOP (expr)`.
                *top = Some(datafusion::sql::sqlparser::ast::Top { quantity, ..t });
                None
            }
        },
        None => None,
    }
}

/// In `a UNION b`, a `TOP` in an operand limits that operand only (ADQL 2.1 BNF: TOP belongs
/// to each `<query_specification>`), so the operand becomes `(SELECT ... LIMIT n)`.
fn wrap_set_operands(body: &mut SetExpr) {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            wrap_set_operands(left);
            wrap_set_operands(right);
        }
        SetExpr::Select(select) => {
            if let Some(n) = take_top(&mut select.top) {
                let inner = std::mem::replace(body, SetExpr::Values(empty_values()));
                *body = SetExpr::Query(Box::new(Query {
                    with: None,
                    body: Box::new(inner),
                    order_by: None,
                    limit_clause: Some(LimitClause::LimitOffset {
                        limit: Some(number(n)),
                        offset: None,
                        limit_by: vec![],
                    }),
                    fetch: None,
                    locks: vec![],
                    for_clause: None,
                    settings: None,
                    format_clause: None,
                    pipe_operators: vec![],
                }));
            }
        }
        _ => {}
    }
}

fn empty_values() -> datafusion::sql::sqlparser::ast::Values {
    datafusion::sql::sqlparser::ast::Values {
        explicit_row: false,
        value_keyword: false,
        rows: vec![],
    }
}
