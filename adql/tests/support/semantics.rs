//! ADQL semantics pinned by executing queries on the test catalogue.

use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

use crate::catalog;

/// Runs ADQL `text` and returns the rows as strings.
async fn rows(ctx: &SessionContext, text: &str) -> Vec<Vec<String>> {
    let plan = match parallax_adql::plan(&ctx.state(), text).await {
        Ok(p) => p,
        Err(e) => panic!("{}", e.render(text)),
    };
    let batches = match ctx.execute_logical_plan(plan).await {
        Ok(df) => match df.collect().await {
            Ok(b) => b,
            Err(e) => panic!("{text}: {e}"),
        },
        Err(e) => panic!("{text}: {e}"),
    };
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| array_value_to_string(c, r).unwrap_or_else(|e| format!("<{e}>")))
                    .collect(),
            );
        }
    }
    out
}

/// Runs a one-row query and returns its single row.
async fn row(ctx: &SessionContext, text: &str) -> Vec<String> {
    let mut r = rows(ctx, text).await;
    assert_eq!(r.len(), 1, "{text}: {r:?}");
    r.remove(0)
}

fn num(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|e| panic!("'{s}' is not a number: {e}"))
}

fn close(a: &str, b: f64) -> bool {
    (num(a) - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[tokio::test]
async fn log_is_natural_and_log10_is_decimal() {
    let ctx = catalog::context().await;
    let r = row(&ctx, "SELECT LOG(EXP(2.0)), LOG10(1000.0), log(2.0, 8.0)").await;
    assert!(close(&r[0], 2.0), "{r:?}");
    assert!(close(&r[1], 3.0), "{r:?}");
    assert!(close(&r[2], 3.0), "{r:?}");
}

#[tokio::test]
async fn integer_division_truncates() {
    let ctx = catalog::context().await;
    let r = row(&ctx, "SELECT 5/60, 7/2, -7/2, 5.0/60").await;
    assert_eq!(&r[..3], ["0", "3", "-3"]);
    assert!(close(&r[3], 5.0 / 60.0), "{r:?}");
}

#[tokio::test]
async fn math_functions_follow_adql() {
    let ctx = catalog::context().await;
    let r = row(
        &ctx,
        "SELECT TRUNCATE(-3.789, 1), TRUNCATE(1234.5, -2), TRUNCATE(2.9), \
         ROUND(2.5), ROUND(-2.5), ROUND(1.23456, 2), ROUND(1234.5, -2), \
         MOD(7, 3), MOD(-7, 3), CEILING(1.2), FLOOR(-1.2), SIGN(-3), SIGN(0.0), \
         POWER(2, -1), DEGREES(PI()), RADIANS(180.0), ABS(-4), SQRT(16.0)",
    )
    .await;
    let expected = [
        -3.7,
        1200.0,
        2.0,
        3.0,
        -3.0,
        1.23,
        1200.0,
        1.0,
        -1.0,
        2.0,
        -2.0,
        -1.0,
        0.0,
        0.5,
        180.0,
        std::f64::consts::PI,
        4.0,
        4.0,
    ];
    for (i, (got, want)) in r.iter().zip(expected).enumerate() {
        assert!(close(got, want), "column {i}: {got} != {want} in {r:?}");
    }
    let t = row(
        &ctx,
        "SELECT SIN(0.0), COS(0.0), TAN(0.0), ASIN(1.0), ACOS(1.0), ATAN(1.0), ATAN2(1.0, 1.0), COT(1.0)",
    )
    .await;
    let q = std::f64::consts::FRAC_PI_4;
    let expected = [0.0, 1.0, 0.0, 2.0 * q, 0.0, q, q, 1.0 / 1f64.tan()];
    for (i, (got, want)) in t.iter().zip(expected).enumerate() {
        assert!(close(got, want), "column {i}: {got} != {want} in {t:?}");
    }
}

#[tokio::test]
async fn rand_with_seed_is_repeatable() {
    let ctx = catalog::context().await;
    let q = "SELECT source_id, RAND(42) FROM gaiadr3.gaia_source";
    let a = rows(&ctx, q).await;
    let b = rows(&ctx, q).await;
    assert_eq!(a, b);
    assert_eq!(a.len(), 10);
    let distinct: std::collections::BTreeSet<_> = a.iter().map(|r| r[1].clone()).collect();
    assert_eq!(distinct.len(), 10, "{a:?}");
    assert!(a.iter().all(|r| (0.0..1.0).contains(&num(&r[1]))));
    let c = rows(&ctx, "SELECT source_id, RAND(7) FROM gaiadr3.gaia_source").await;
    assert_ne!(a, c);
    let u = rows(&ctx, "SELECT RAND() FROM gaiadr3.gaia_source").await;
    assert!(u.iter().all(|r| (0.0..1.0).contains(&num(&r[0]))));
}

#[tokio::test]
async fn top_applies_after_offset() {
    let ctx = catalog::context().await;
    let r = rows(
        &ctx,
        "SELECT TOP 3 random_index FROM gaiadr3.gaia_source ORDER BY random_index OFFSET 2",
    )
    .await;
    assert_eq!(r, [["2"], ["3"], ["4"]]);
    let r = rows(
        &ctx,
        "SELECT TOP 2 random_index FROM gaiadr3.gaia_source ORDER BY random_index DESC",
    )
    .await;
    assert_eq!(r, [["9"], ["8"]]);
}

#[tokio::test]
async fn set_operations() {
    let ctx = catalog::context().await;
    let count = |q: &'static str| {
        let ctx = &ctx;
        async move { rows(ctx, q).await.len() }
    };
    assert_eq!(
        count(
            "SELECT source_id FROM gaiadr3.gaia_source UNION SELECT source_id FROM gaiadr3.xp_continuous_mean_spectrum"
        )
        .await,
        10
    );
    assert_eq!(
        count(
            "SELECT source_id FROM gaiadr3.gaia_source UNION ALL SELECT source_id FROM gaiadr3.xp_continuous_mean_spectrum"
        )
        .await,
        15
    );
    assert_eq!(
        count(
            "SELECT source_id FROM gaiadr3.gaia_source EXCEPT SELECT source_id FROM gaiadr3.xp_continuous_mean_spectrum"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            "SELECT source_id FROM gaiadr3.gaia_source INTERSECT SELECT source_id FROM gaiadr3.xp_continuous_mean_spectrum"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            "SELECT TOP 2 source_id FROM gaiadr3.gaia_source UNION ALL SELECT TOP 1 source_id FROM gaiadr3.xp_continuous_mean_spectrum"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn correlated_subqueries() {
    let ctx = catalog::context().await;
    // Stars brighter than the mean of their variability class.
    let r = rows(
        &ctx,
        "SELECT g.source_id FROM gaiadr3.gaia_source AS g \
         WHERE g.phot_g_mean_mag < (SELECT AVG(h.phot_g_mean_mag) FROM gaiadr3.gaia_source AS h \
                                    WHERE h.phot_variable_flag = g.phot_variable_flag) \
         ORDER BY g.source_id",
    )
    .await;
    // Classes: {1,4,7,10} mean 15.5 -> 1,4; {2,5,8} mean 15 -> 2; {3,6,9} mean 16 -> 3.
    let ids: Vec<i64> = r.iter().map(|r| num(&r[0]) as i64 % 1000).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    let r = rows(
        &ctx,
        "SELECT COUNT(*) FROM gaiadr3.gaia_source AS g WHERE EXISTS \
         (SELECT 1 FROM gaiadr3.xp_continuous_mean_spectrum AS x WHERE x.source_id = g.source_id)",
    )
    .await;
    assert_eq!(r, [["5"]]);
    let r = rows(
        &ctx,
        "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE source_id NOT IN \
         (SELECT source_id FROM gaiadr3.xp_continuous_mean_spectrum)",
    )
    .await;
    assert_eq!(r, [["5"]]);
}

#[tokio::test]
async fn nulls_strings_and_identifiers() {
    let ctx = catalog::context().await;
    let r = row(
        &ctx,
        "SELECT COUNT(*), COUNT(parallax), COUNT(DISTINCT phot_variable_flag) FROM gaiadr3.gaia_source",
    )
    .await;
    assert_eq!(r, ["10", "9", "3"]);
    let r = row(
        &ctx,
        "SELECT LOWER('AbC') || UPPER('x'), COALESCE(NULL, 2), \
         CASE WHEN 1 > 2 THEN 'a' ELSE 'b' END FROM gaiadr3.gaia_source WHERE source_id = 1000000000001",
    )
    .await;
    assert_eq!(r, ["abcX", "2", "b"]);
    let r = row(
        &ctx,
        "SELECT COUNT(*) FROM gaiadr3.gaia_source WHERE phot_variable_flag ILIKE 'var%' \
         AND \"ra\" BETWEEN 0 AND 100",
    )
    .await;
    assert_eq!(r, ["3"]);
}

#[tokio::test]
async fn in_unit_uses_column_units() {
    let ctx = catalog::context().await;
    let r = row(
        &ctx,
        "SELECT IN_UNIT(ra, 'arcsec'), IN_UNIT(pmra, 'arcsec/yr'), IN_UNIT(1.5, 'arcmin', 'deg'), \
         IN_UNIT(ref_epoch, 'd') FROM gaiadr3.gaia_source WHERE source_id = 1000000000001",
    )
    .await;
    assert!(close(&r[0], 36000.0), "{r:?}");
    assert!(close(&r[1], -0.004), "{r:?}");
    assert!(close(&r[2], 90.0), "{r:?}");
    assert!(close(&r[3], 2016.0 * 365.25), "{r:?}");
}
