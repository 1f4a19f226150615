//! `mahalanobis(...)`, `mahalanobis_relevant(...)`, `mahalanobis_gaiaxpy(...)` and
//! `mahalanobis_fluxnorm(...)`: the squared Mahalanobis distance between each row's XP
//! spectrum and a template spectrum.
//!
//! Per band b: `delta = x_b - t_b`, `S_b = C_x,b + C_t,b`, `d2_b = delta^T S_b^-1 delta`
//! (Cholesky); with both bands `d2 = d2_BP + d2_RP` (DR3 has no BP-RP cross-covariance).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{
    Cholesky, FloatLists, Floats, Numbers, coerce_list, coerce_number, corr_len, packed_len,
};

/// Which distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Full 55 x 55 covariances, archive convention.
    Full,
    /// Leading k x k block, k = max(n_relevant_bases of candidate and template) per band.
    Relevant,
    /// GaiaXPy convention: each covariance divided by its band's standard_deviation^2.
    GaiaXpy,
    /// Candidate scaled to the template's G: coefficients / s, covariance / s^2,
    /// s = 10^(0.4 (G_template - G_candidate)).
    FluxNorm,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Full => "mahalanobis",
            Variant::Relevant => "mahalanobis_relevant",
            Variant::GaiaXpy => "mahalanobis_gaiaxpy",
            Variant::FluxNorm => "mahalanobis_fluxnorm",
        }
    }

    /// Scalar arguments after each band's three arrays.
    fn band_extra(self) -> usize {
        match self {
            Variant::Relevant | Variant::GaiaXpy => 1,
            Variant::Full | Variant::FluxNorm => 0,
        }
    }

    /// Scalar arguments after a spectrum's bands.
    fn spectrum_extra(self) -> usize {
        usize::from(self == Variant::FluxNorm)
    }

    /// Arguments of one spectrum with `bands` bands.
    fn per_spectrum(self, bands: usize) -> usize {
        bands * (3 + self.band_extra()) + self.spectrum_extra()
    }

    fn bands_for(self, n_args: usize) -> Option<usize> {
        (1..=2).find(|&b| 2 * self.per_spectrum(b) == n_args)
    }

    fn extra_name(self) -> &'static str {
        match self {
            Variant::Relevant => "n_relevant_bases",
            Variant::GaiaXpy => "standard_deviation",
            Variant::FluxNorm => "phot_g_mean_mag",
            Variant::Full => "",
        }
    }

    fn usage(self) -> String {
        let band = match self {
            Variant::Full | Variant::FluxNorm => "coefficients, errors, correlations".to_string(),
            v => format!("coefficients, errors, correlations, {}", v.extra_name()),
        };
        let g = if self == Variant::FluxNorm { ", g" } else { "" };
        format!(
            "{name} takes one band ({band}{g} of the candidate, then the same of the template) \
             or both bands (BP {band}, RP {band}{g} of the candidate, then of the template): \
             {one} or {two} arguments",
            name = self.name(),
            one = 2 * self.per_spectrum(1),
            two = 2 * self.per_spectrum(2),
        )
    }
}

fn documentation(v: Variant) -> Documentation {
    let (what, syntax, example) = match v {
        Variant::Full => (
            "Squared Mahalanobis distance d2 between each row's Gaia DR3 XP spectrum and a \
             template spectrum: per band, delta = x - t, S = C_x + C_t with C = E R E (archive \
             errors), d2 = delta^T S^-1 delta by Cholesky; with both bands d2 = d2_BP + d2_RP \
             (compare with chi-square, 110 degrees of freedom: chi2_pvalue(d2, 110)).",
            "mahalanobis(bp_coefficients, bp_coefficient_errors, bp_coefficient_correlations, \
             rp_coefficients, rp_coefficient_errors, rp_coefficient_correlations, t_bp_coefficients, \
             t_bp_coefficient_errors, t_bp_coefficient_correlations, t_rp_coefficients, \
             t_rp_coefficient_errors, t_rp_coefficient_correlations)",
            "```sql\n> SELECT TOP 10 c.source_id, mahalanobis(c.bp_coefficients, \
             c.bp_coefficient_errors, c.bp_coefficient_correlations, c.rp_coefficients, \
             c.rp_coefficient_errors, c.rp_coefficient_correlations, t.bp_coefficients, \
             t.bp_coefficient_errors, t.bp_coefficient_correlations, t.rp_coefficients, \
             t.rp_coefficient_errors, t.rp_coefficient_correlations) AS d2\n  FROM \
             gaiadr3.xp_continuous_mean_spectrum AS c, (SELECT * FROM \
             gaiadr3.xp_continuous_mean_spectrum WHERE source_id = 4295806720) AS t\n  ORDER BY \
             d2\n```",
        ),
        Variant::Relevant => (
            "Squared Mahalanobis distance over the relevant bases: per band k = max(candidate's, \
             template's n_relevant_bases) and the leading k x k block of S = C_x + C_t (archive \
             convention); degrees of freedom k_BP + k_RP.",
            "mahalanobis_relevant(bp_coefficients, bp_coefficient_errors, \
             bp_coefficient_correlations, bp_n_relevant_bases, rp_coefficients, \
             rp_coefficient_errors, rp_coefficient_correlations, rp_n_relevant_bases, \
             t_bp_..., t_bp_n_relevant_bases, t_rp_..., t_rp_n_relevant_bases)",
            "```sql\n> SELECT mahalanobis_relevant(c.rp_coefficients, c.rp_coefficient_errors, \
             c.rp_coefficient_correlations, c.rp_n_relevant_bases, t.rp_coefficients, \
             t.rp_coefficient_errors, t.rp_coefficient_correlations, t.rp_n_relevant_bases)\n  \
             FROM gaiadr3.xp_continuous_mean_spectrum AS c, gaiadr3.xp_continuous_mean_spectrum \
             AS t WHERE t.source_id = 4295806720\n```",
        ),
        Variant::GaiaXpy => (
            "Squared Mahalanobis distance with the GaiaXPy covariance convention: each band's \
             covariance is E R E / standard_deviation^2.",
            "mahalanobis_gaiaxpy(bp_coefficients, bp_coefficient_errors, \
             bp_coefficient_correlations, bp_standard_deviation, rp_..., rp_standard_deviation, \
             t_bp_..., t_bp_standard_deviation, t_rp_..., t_rp_standard_deviation)",
            "```sql\n> SELECT mahalanobis_gaiaxpy(c.rp_coefficients, c.rp_coefficient_errors, \
             c.rp_coefficient_correlations, c.rp_standard_deviation, t.rp_coefficients, \
             t.rp_coefficient_errors, t.rp_coefficient_correlations, t.rp_standard_deviation)\n  \
             FROM gaiadr3.xp_continuous_mean_spectrum AS c, gaiadr3.xp_continuous_mean_spectrum \
             AS t WHERE t.source_id = 4295806720\n```",
        ),
        Variant::FluxNorm => (
            "Squared Mahalanobis distance between spectral shapes: the candidate is scaled to the \
             template's brightness, coefficients / s and covariance / s^2 with s = 10^(0.4 \
             (G_template - G_candidate)), before the full-covariance distance.",
            "mahalanobis_fluxnorm(bp_coefficients, bp_coefficient_errors, \
             bp_coefficient_correlations, rp_coefficients, rp_coefficient_errors, \
             rp_coefficient_correlations, phot_g_mean_mag, t_bp_..., t_rp_..., t_phot_g_mean_mag)",
            "```sql\n> SELECT mahalanobis_fluxnorm(c.rp_coefficients, c.rp_coefficient_errors, \
             c.rp_coefficient_correlations, 12.0, t.rp_coefficients, t.rp_coefficient_errors, \
             t.rp_coefficient_correlations, 11.0)\n  FROM gaiadr3.xp_continuous_mean_spectrum AS \
             c, gaiadr3.xp_continuous_mean_spectrum AS t WHERE t.source_id = 4295806720\n```",
        ),
    };
    let description = format!(
        "{what} Arguments: the candidate's arrays (one band, or BP then RP), then the template's \
         in the same layout; the template may be a one-row join or a scalar subquery and is \
         prepared once. The arrays may be float or double, fixed-size or variable lists. NULL \
         when any band is NULL or holds a NULL element, when lengths disagree (n coefficients, \
         n errors, n(n-1)/2 correlations, same n as the template), when an element is NaN or \
         infinite, or when S is not positive definite (these are counted in a log line)."
    );
    let mut b = Documentation::builder(DOC_SECTION_OTHER, description, syntax)
        .with_argument(
            "coefficients",
            "The candidate's coefficients of a band (e.g. bp_coefficients).",
        )
        .with_argument("errors", "The candidate's coefficient errors of that band.")
        .with_argument(
            "correlations",
            "The candidate's packed correlations of that band (n(n-1)/2).",
        );
    b = match v {
        Variant::Relevant => b.with_argument(
            "n_relevant_bases",
            "After each band's arrays: that band's n_relevant_bases.",
        ),
        Variant::GaiaXpy => b.with_argument(
            "standard_deviation",
            "After each band's arrays: that band's standard_deviation.",
        ),
        Variant::FluxNorm => b.with_argument(
            "phot_g_mean_mag",
            "After a spectrum's bands: its G magnitude.",
        ),
        Variant::Full => b,
    };
    b.with_argument(
        "t_...",
        "The template's arguments, in the same layout as the candidate's.",
    )
    .with_sql_example(example)
    .build()
}

static DOCS: LazyLock<[Documentation; 4]> = LazyLock::new(|| {
    [
        documentation(Variant::Full),
        documentation(Variant::Relevant),
        documentation(Variant::GaiaXpy),
        documentation(Variant::FluxNorm),
    ]
});

/// The Mahalanobis family.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MahalanobisFunc {
    variant: Variant,
    signature: Signature,
}

impl MahalanobisFunc {
    /// The function for `variant`.
    pub fn new(variant: Variant) -> Self {
        Self {
            variant,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Argument positions of one band.
#[derive(Clone, Copy)]
struct BandArgs {
    coef: usize,
    err: usize,
    corr: usize,
    extra: Option<usize>,
}

/// Argument positions of one spectrum.
struct SpectrumArgs {
    bands: Vec<BandArgs>,
    g: Option<usize>,
}

fn layout(v: Variant, bands: usize, start: usize) -> SpectrumArgs {
    let mut p = start;
    let mut out = Vec::with_capacity(bands);
    for _ in 0..bands {
        let extra = (v.band_extra() == 1).then_some(p + 3);
        out.push(BandArgs {
            coef: p,
            err: p + 1,
            corr: p + 2,
            extra,
        });
        p += 3 + v.band_extra();
    }
    SpectrumArgs {
        bands: out,
        g: (v.spectrum_extra() == 1).then_some(p),
    }
}

/// The template of one band, prepared once and reused while the template row repeats.
#[derive(Default)]
struct Template {
    /// Row of the template arrays this was built from.
    row: Option<usize>,
    coefficients: Vec<f64>,
    /// Packed lower triangle of the template covariance.
    covariance: Vec<f64>,
    errors: Vec<f64>,
    n_relevant: f64,
    ok: bool,
}

/// One band's columns.
struct BandCols {
    coef: FloatLists,
    err: FloatLists,
    corr: FloatLists,
    extra: Option<Numbers>,
}

impl BandCols {
    fn new(args: &[ColumnarValue], b: BandArgs) -> Result<Self> {
        Ok(Self {
            coef: FloatLists::new(&args[b.coef], "mahalanobis: coefficients")?,
            err: FloatLists::new(&args[b.err], "mahalanobis: errors")?,
            corr: FloatLists::new(&args[b.corr], "mahalanobis: correlations")?,
            extra: b.extra.map(|i| Numbers::new(&args[i])).transpose()?,
        })
    }

    /// True when row `a` and row `b` hold bit-identical values.
    fn same_rows(&self, a: usize, b: usize) -> bool {
        let same = |l: &FloatLists| match (l.row(a), l.row(b)) {
            (Some(x), Some(y)) => x.same(&y),
            (None, None) => true,
            _ => false,
        };
        same(&self.coef)
            && same(&self.err)
            && same(&self.corr)
            && self
                .extra
                .as_ref()
                .is_none_or(|e| e.get(a).map(f64::to_bits) == e.get(b).map(f64::to_bits))
    }
}

impl Template {
    fn prepare(&mut self, cols: &BandCols, i: usize, v: Variant) {
        self.row = Some(i);
        self.ok = false;
        let (Some(c), Some(e), Some(r)) = (cols.coef.row(i), cols.err.row(i), cols.corr.row(i))
        else {
            return;
        };
        let n = c.len();
        if e.len() != n || r.len() != corr_len(n) || n == 0 {
            return;
        }
        if !c.copy_finite(&mut self.coefficients)
            || !e.copy_finite(&mut self.errors)
            || !r.all_finite()
        {
            return;
        }
        let extra = cols.extra.as_ref().map(|x| x.get(i));
        let scale = match (v, extra) {
            (Variant::GaiaXpy, Some(Some(sd))) if sd > 0.0 && sd.is_finite() => 1.0 / (sd * sd),
            (Variant::GaiaXpy, _) => return,
            _ => 1.0,
        };
        self.n_relevant = match (v, extra) {
            (Variant::Relevant, Some(Some(k))) if k >= 1.0 => k,
            (Variant::Relevant, _) => return,
            _ => n as f64,
        };
        self.covariance.resize(packed_len(n), 0.0);
        super::packed_covariance(&self.errors, r, scale, &mut self.covariance);
        self.ok = true;
    }
}

/// Evaluates the distance over `rows` rows.
fn evaluate(v: Variant, args: &[ColumnarValue], rows: usize) -> Result<Float64Array> {
    let Some(bands) = v.bands_for(args.len()) else {
        return plan_err!("{}", v.usage());
    };
    let cand = layout(v, bands, 0);
    let tmpl = layout(v, bands, v.per_spectrum(bands));
    let cand_cols = cand
        .bands
        .iter()
        .map(|&b| BandCols::new(args, b))
        .collect::<Result<Vec<_>>>()?;
    let tmpl_cols = tmpl
        .bands
        .iter()
        .map(|&b| BandCols::new(args, b))
        .collect::<Result<Vec<_>>>()?;
    let cand_g = cand.g.map(|i| Numbers::new(&args[i])).transpose()?;
    let tmpl_g = tmpl.g.map(|i| Numbers::new(&args[i])).transpose()?;
    let mut templates: Vec<Template> = (0..bands).map(|_| Template::default()).collect();
    let mut chol = Cholesky::default();
    let mut not_pd = 0usize;
    let mut out: Vec<Option<f64>> = Vec::with_capacity(rows);
    for i in 0..rows {
        let (coef_scale, cov_scale) = match (&cand_g, &tmpl_g) {
            (Some(cg), Some(tg)) => match (cg.get(i), tg.get(i)) {
                (Some(gc), Some(gt)) if gc.is_finite() && gt.is_finite() => {
                    let s = 10f64.powf(0.4 * (gt - gc));
                    (1.0 / s, 1.0 / (s * s))
                }
                _ => {
                    out.push(None);
                    continue;
                }
            },
            _ => (1.0, 1.0),
        };
        let mut total = Some(0.0);
        for (b, t) in templates.iter_mut().enumerate() {
            let tc = &tmpl_cols[b];
            let reuse = t.row.is_some_and(|r| r == i || tc.same_rows(r, i));
            if !reuse {
                t.prepare(tc, i, v);
            }
            let c = &cand_cols[b];
            let d2 = (|| {
                if !t.ok {
                    return None;
                }
                let (coef, err, corr) = (c.coef.row(i)?, c.err.row(i)?, c.corr.row(i)?);
                let extra = match &c.extra {
                    Some(x) => Some(x.get(i)?),
                    None => None,
                };
                let (cov_scale, k) = match (v, extra) {
                    (Variant::GaiaXpy, Some(sd)) if sd > 0.0 && sd.is_finite() => {
                        (1.0 / (sd * sd), t.coefficients.len())
                    }
                    (Variant::Relevant, Some(k)) if k >= 1.0 => (1.0, k.max(t.n_relevant) as usize),
                    (Variant::GaiaXpy | Variant::Relevant, _) => return None,
                    _ => (cov_scale, t.coefficients.len()),
                };
                let d2 = chol.d2(
                    coef,
                    err,
                    corr,
                    cov_scale,
                    coef_scale,
                    &t.coefficients,
                    &t.covariance,
                    k,
                );
                if d2.is_none() && shapes_ok(coef, err, corr, t.coefficients.len()) {
                    not_pd += 1;
                }
                d2
            })();
            total = match (total, d2) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        out.push(total);
    }
    if not_pd > 0 {
        tracing::warn!(
            function = v.name(),
            rows = not_pd,
            "covariance sum not positive definite (or non-finite input); returned NULL"
        );
    }
    Ok(Float64Array::from(out))
}

fn shapes_ok(coef: Floats<'_>, err: Floats<'_>, corr: Floats<'_>, n: usize) -> bool {
    coef.len() == n && err.len() == n && corr.len() == corr_len(n)
}

impl ScalarUDFImpl for MahalanobisFunc {
    fn name(&self) -> &str {
        self.variant.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let v = self.variant;
        let f = v.name();
        let Some(bands) = v.bands_for(arg_types.len()) else {
            return plan_err!("{}", v.usage());
        };
        let mut out = arg_types.to_vec();
        for start in [0, v.per_spectrum(bands)] {
            let s = layout(v, bands, start);
            for b in &s.bands {
                out[b.coef] = coerce_list(&arg_types[b.coef], f, "coefficients")?;
                out[b.err] = coerce_list(&arg_types[b.err], f, "errors")?;
                out[b.corr] = coerce_list(&arg_types[b.corr], f, "correlations")?;
                if let Some(x) = b.extra {
                    out[x] = coerce_number(&arg_types[x], f, v.extra_name())?;
                }
            }
            if let Some(g) = s.g {
                out[g] = coerce_number(&arg_types[g], f, v.extra_name())?;
            }
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let out = evaluate(self.variant, &args.args, args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.variant {
            Variant::Full => &DOCS[0],
            Variant::Relevant => &DOCS[1],
            Variant::GaiaXpy => &DOCS[2],
            Variant::FluxNorm => &DOCS[3],
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
    use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
    use datafusion::common::ScalarValue;
    use datafusion::common::config::ConfigOptions;
    use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

    use super::{MahalanobisFunc, Variant};
    use crate::spectra::test_data::{f64s, read};

    fn col(b: &datafusion::arrow::array::RecordBatch, name: &str) -> ColumnarValue {
        ColumnarValue::Array(b.column_by_name(name).unwrap().clone())
    }

    /// The template of `mahalanobis_template.json` as one-row scalars.
    fn template(names: &[&str]) -> Vec<ColumnarValue> {
        let text =
            std::fs::read_to_string(crate::spectra::test_data::path("mahalanobis_template.json"))
                .unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        names
            .iter()
            .map(|n| {
                let v: Vec<f64> = match &json[n] {
                    serde_json::Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
                    x => vec![x.as_f64().unwrap()],
                };
                if !n.contains("coefficient") {
                    ColumnarValue::Scalar(ScalarValue::Float64(Some(v[0])))
                } else {
                    let l = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(
                        v.into_iter().map(Some).collect::<Vec<_>>(),
                    )]);
                    ColumnarValue::Scalar(ScalarValue::List(Arc::new(l)))
                }
            })
            .collect()
    }

    fn call(v: Variant, args: Vec<ColumnarValue>, rows: usize) -> Float64Array {
        let f = MahalanobisFunc::new(v);
        let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
        f.coerce_types(&types).unwrap();
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                arg_fields: types
                    .iter()
                    .map(|t| Arc::new(Field::new("a", t.clone(), true)))
                    .collect(),
                args,
                number_rows: rows,
                return_field: Arc::new(Field::new("r", DataType::Float64, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        let a: ArrayRef = out.into_array(rows).unwrap();
        a.as_primitive::<Float64Type>().clone()
    }

    fn band(p: &str, extra: Option<&str>) -> Vec<String> {
        let mut v = vec![
            format!("{p}_coefficients"),
            format!("{p}_coefficient_errors"),
            format!("{p}_coefficient_correlations"),
        ];
        if let Some(e) = extra {
            v.push(format!("{p}_{e}"));
        }
        v
    }

    fn check(got: &Float64Array, want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len());
        let mut worst: f64 = 0.0;
        for (i, w) in want.iter().enumerate() {
            assert!(got.is_valid(i), "{what} row {i} is NULL");
            let rel = (got.value(i) - w).abs() / w.abs();
            worst = worst.max(rel);
            assert!(rel < 1e-9, "{what} row {i}: {} vs {w}", got.value(i));
        }
        eprintln!("{what}: worst relative difference {worst:e}");
    }

    /// All 1000 reference rows, every form, to 1e-9 relative.
    #[test]
    fn matches_the_reference_distances() {
        let b = read("mahalanobis_reference.parquet");
        let rows = b.num_rows();
        let forms: [(Variant, Option<&str>, &[&str]); 4] = [
            (Variant::Full, None, &["d2_bp", "d2_rp", "d2"]),
            (
                Variant::Relevant,
                Some("n_relevant_bases"),
                &["d2_bp_relevant", "d2_rp_relevant", "d2_relevant"],
            ),
            (
                Variant::GaiaXpy,
                Some("standard_deviation"),
                &[
                    "d2_bp_gaiaxpy_convention",
                    "d2_rp_gaiaxpy_convention",
                    "d2_gaiaxpy_convention",
                ],
            ),
            (
                Variant::FluxNorm,
                None,
                &["d2_bp_fluxnorm", "d2_rp_fluxnorm", "d2_fluxnorm"],
            ),
        ];
        for (v, extra, wanted) in forms {
            let g = v == Variant::FluxNorm;
            for (which, bands) in [(0, vec!["bp"]), (1, vec!["rp"]), (2, vec!["bp", "rp"])] {
                let mut cand: Vec<ColumnarValue> = Vec::new();
                let mut names: Vec<String> = Vec::new();
                for p in &bands {
                    for n in band(p, extra) {
                        cand.push(col(&b, &n));
                        names.push(n);
                    }
                }
                if g {
                    cand.push(col(&b, "g_mag"));
                    names.push("g_mag".into());
                }
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut args = cand;
                args.extend(template(&refs));
                let got = call(v, args, rows);
                check(&got, &f64s(&b, wanted[which]), wanted[which]);
            }
        }
    }

    #[test]
    fn wrong_arity_is_an_error_and_null_template_gives_null() {
        let f = MahalanobisFunc::new(Variant::Full);
        assert!(f.coerce_types(&vec![DataType::Float64; 5]).is_err());
        let list = |v: Vec<f64>| {
            ColumnarValue::Array(Arc::new(
                ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(
                    v.into_iter().map(Some).collect::<Vec<_>>(),
                )]),
            ))
        };
        let null_list = ColumnarValue::Scalar(ScalarValue::Null);
        let got = call(
            Variant::Full,
            vec![
                list(vec![1.0, 2.0]),
                list(vec![1.0, 1.0]),
                list(vec![0.1]),
                null_list.clone(),
                null_list.clone(),
                null_list,
            ],
            1,
        );
        assert!(got.is_null(0));
        // A 2x2 case by hand: C_x = C_t = I, delta = (1, 2) -> d2 = (1 + 4) / 2.
        let got = call(
            Variant::Full,
            vec![
                list(vec![1.0, 2.0]),
                list(vec![1.0, 1.0]),
                list(vec![0.0]),
                list(vec![0.0, 0.0]),
                list(vec![1.0, 1.0]),
                list(vec![0.0]),
            ],
            1,
        );
        assert!((got.value(0) - 2.5).abs() < 1e-15);
        // Correlation 1 in both: S singular -> NULL, not garbage.
        let got = call(
            Variant::Full,
            vec![
                list(vec![1.0, 2.0]),
                list(vec![1.0, 1.0]),
                list(vec![1.0]),
                list(vec![0.0, 0.0]),
                list(vec![1.0, 1.0]),
                list(vec![1.0]),
            ],
            1,
        );
        assert!(got.is_null(0));
    }
}
