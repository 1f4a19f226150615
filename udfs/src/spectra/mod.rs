//! Gaia DR3 BP/RP ("XP") continuous mean spectra: covariance matrices and Mahalanobis
//! distances between spectra (De Angeli et al. 2023, A&A 674, A2; Montegriffo et al. 2023,
//! A&A 674, A3; the GaiaXPy conventions).
//!
//! Conventions (see `docs/science.md`):
//! - per band: `n` (55) coefficients, `n` coefficient errors and `n(n-1)/2` (1485)
//!   correlations; correlation element `k = i(i-1)/2 + j` is row `i`, column `j`, `i > j`
//!   (strict lower triangle, row by row), the unit diagonal is not stored;
//! - covariance `C = E R E`, i.e. `C_ij = e_i e_j R_ij` (the archive errors already include the
//!   standard-deviation scaling); the GaiaXPy convention divides by `standard_deviation^2`.
//!   Never `E^2 R`, which is not even symmetric.
//!
//! The numerical core is [`Cholesky`]: a hand-written factorisation of a symmetric matrix held
//! as a packed lower triangle (row `i` at offset `i(i+1)/2`, so every row is contiguous and
//! the inner products vectorise), fused with the forward substitution that gives
//! `d2 = |L^-1 delta|^2`. Rows are factorised four at a time (one load of each finished row
//! serves four independent inner products), with AVX2 and FMA when the CPU has them. Its
//! buffers are allocated once per batch, so the per-row loop allocates nothing.

pub mod chi2_pvalue;
pub mod mahalanobis;
pub mod xp_covariance;

use datafusion::common::{Result, exec_err};

pub(crate) use crate::lists::{
    FloatLists, Floats, Numbers, coerce_list, coerce_number, constant_string,
};

/// Packed lower-triangle length of an `n x n` matrix (with the diagonal).
pub(crate) const fn packed_len(n: usize) -> usize {
    n * (n + 1) / 2
}

/// Number of stored correlations of an `n x n` correlation matrix (strict lower triangle).
pub(crate) const fn corr_len(n: usize) -> usize {
    n * n.saturating_sub(1) / 2
}

/// Covariance convention of XP spectra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Convention {
    /// `C = E R E` with the archive errors (the default).
    Archive,
    /// GaiaXPy: `C = E R E / standard_deviation^2`.
    GaiaXpy,
}

impl Convention {
    pub(crate) fn parse(s: &str, function: &'static str) -> Result<Self> {
        match s {
            "archive" => Ok(Convention::Archive),
            "gaiaxpy" => Ok(Convention::GaiaXpy),
            other => exec_err!(
                "{function}: unknown covariance convention '{other}'; use 'archive' or 'gaiaxpy'"
            ),
        }
    }
}

/// Writes the packed lower triangle of `scale * E R E` (n x n) into `out`.
/// `errors` has `n` elements, `corr` has `n(n-1)/2`.
pub(crate) fn packed_covariance(errors: &[f64], corr: Floats<'_>, scale: f64, out: &mut [f64]) {
    let n = errors.len();
    for i in 0..n {
        let (ri, li) = (i * (i.saturating_sub(1)) / 2, i * (i + 1) / 2);
        let ei = errors[i] * scale;
        let row = &mut out[li..li + i + 1];
        match corr {
            Floats::F32(r) => {
                for ((o, &e), &c) in row.iter_mut().zip(&errors[..i]).zip(&r[ri..ri + i]) {
                    *o = ei * e * f64::from(c);
                }
            }
            Floats::F64(r) => {
                for ((o, &e), &c) in row.iter_mut().zip(&errors[..i]).zip(&r[ri..ri + i]) {
                    *o = ei * e * c;
                }
            }
        }
        row[i] = ei * errors[i];
    }
}

/// Lanes of the dot products; rows of the factor are padded to a multiple of this.
const LANE: usize = 4;

/// `x` rounded up to a multiple of [`LANE`].
const fn pad(x: usize) -> usize {
    x.div_ceil(LANE) * LANE
}

/// Dot product of two slices whose length is a multiple of [`LANE`], with independent
/// accumulators so that it vectorises and needs no remainder loop.
#[inline(always)]
fn dot<const FMA: bool>(a: &[f64], b: &[f64]) -> f64 {
    debug_assert!(a.len() == b.len() && a.len().is_multiple_of(LANE));
    let mut acc = [0.0f64; LANE];
    for (x, y) in a.chunks_exact(LANE).zip(b.chunks_exact(LANE)) {
        for q in 0..LANE {
            acc[q] = madd::<FMA>(x[q], y[q], acc[q]);
        }
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3])
}

/// `x * y + acc`, fused when `FMA` (only inside code compiled for FMA).
#[inline(always)]
fn madd<const FMA: bool>(x: f64, y: f64, acc: f64) -> f64 {
    if FMA { x.mul_add(y, acc) } else { acc + x * y }
}

/// Rows factorised together.
const ROWS: usize = 4;

/// The inner products of the first `m` values (a multiple of [`LANE`]) of each row with `l`,
/// loading `l` once.
#[inline(always)]
fn dot_rows<const R: usize, const FMA: bool>(
    rows: &[&mut [f64]; R],
    m: usize,
    l: &[f64],
) -> [f64; R] {
    let ls = l[..m].as_chunks::<LANE>().0;
    let rs: [&[[f64; LANE]]; R] = std::array::from_fn(|q| rows[q][..m].as_chunks::<LANE>().0);
    let mut acc = [[0.0f64; LANE]; R];
    for (c, lc) in ls.iter().enumerate() {
        for (a, r) in acc.iter_mut().zip(&rs) {
            let x = &r[c];
            for z in 0..LANE {
                a[z] = madd::<FMA>(x[z], lc[z], a[z]);
            }
        }
    }
    acc.map(|a| (a[0] + a[2]) + (a[1] + a[3]))
}

/// Smallest accepted Cholesky pivot relative to the diagonal element of S.
const PIVOT_RTOL: f64 = 64.0 * f64::EPSILON;

/// Scratch space for factorising `S = C_candidate + C_template` and solving for `d2`,
/// reused across rows (no allocation per row).
///
/// Layout: row `i` of the lower factor starts at `offsets[i]` and holds `pad(i + 1)` values;
/// its diagonal slot and the padding stay zero (the diagonal lives in `inv_diag`), so every
/// inner product runs over a multiple of [`LANE`] values: the extra terms multiply a zero.
#[derive(Debug, Default)]
pub(crate) struct Cholesky {
    /// Rows of S on input, of L after factorisation (strictly lower part).
    l: Vec<f64>,
    offsets: Vec<usize>,
    /// Size the layout was built for.
    n: usize,
    /// Forward-substitution solution `y = L^-1 delta`, zero beyond the current row.
    y: Vec<f64>,
    /// `1 / L_jj`.
    inv_diag: Vec<f64>,
    /// Candidate errors as f64, times the covariance scale's square root.
    errors: Vec<f64>,
}

impl Cholesky {
    fn layout(&mut self, n: usize) {
        if self.n == n && !self.offsets.is_empty() {
            return;
        }
        self.offsets.clear();
        let mut off = 0;
        for i in 0..n {
            self.offsets.push(off);
            off += pad(i + 1);
        }
        self.l = vec![0.0; off];
        self.y = vec![0.0; pad(n + 1)];
        self.inv_diag = vec![0.0; n];
        self.n = n;
    }

    /// `d2 = delta^T S^-1 delta` over the leading `k x k` block (`k <= n`), where
    /// `S = c_scale * E_c R_c E_c + template_cov` and `delta = c_coef_scale * x_c - t`.
    /// None if the block is not (numerically) positive definite or an input is not finite.
    #[allow(clippy::too_many_arguments)] // reason: the kernel's inputs, kept as plain slices
    pub(crate) fn d2(
        &mut self,
        coefficients: Floats<'_>,
        errors: Floats<'_>,
        correlations: Floats<'_>,
        cov_scale: f64,
        coef_scale: f64,
        template_coefficients: &[f64],
        template_cov: &[f64],
        k: usize,
    ) -> Option<f64> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: `d2_avx2` only needs the AVX2 and FMA instructions, which the CPU was
            // just checked to support.
            #[allow(unsafe_code)]
            unsafe {
                return self.d2_avx2(
                    coefficients,
                    errors,
                    correlations,
                    cov_scale,
                    coef_scale,
                    template_coefficients,
                    template_cov,
                    k,
                );
            }
        }
        self.d2_with::<false>(
            coefficients,
            errors,
            correlations,
            cov_scale,
            coef_scale,
            template_coefficients,
            template_cov,
            k,
        )
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)] // reason: as d2
    fn d2_avx2(
        &mut self,
        coefficients: Floats<'_>,
        errors: Floats<'_>,
        correlations: Floats<'_>,
        cov_scale: f64,
        coef_scale: f64,
        template_coefficients: &[f64],
        template_cov: &[f64],
        k: usize,
    ) -> Option<f64> {
        self.d2_with::<true>(
            coefficients,
            errors,
            correlations,
            cov_scale,
            coef_scale,
            template_coefficients,
            template_cov,
            k,
        )
    }

    /// [`Cholesky::d2`], with fused multiply-adds when `FMA`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // reason: as d2
    pub(crate) fn d2_with<const FMA: bool>(
        &mut self,
        coefficients: Floats<'_>,
        errors: Floats<'_>,
        correlations: Floats<'_>,
        cov_scale: f64,
        coef_scale: f64,
        template_coefficients: &[f64],
        template_cov: &[f64],
        k: usize,
    ) -> Option<f64> {
        let n = template_coefficients.len();
        let k = k.min(n);
        if coefficients.len() != n || errors.len() != n || correlations.len() != corr_len(n) {
            return None;
        }
        if !errors.copy_finite(&mut self.errors) || !correlations.all_finite() {
            return None;
        }
        let sqrt_scale = cov_scale.sqrt();
        self.errors.iter_mut().for_each(|e| *e *= sqrt_scale);
        self.layout(n);
        self.y.fill(0.0);
        let (l, y, inv_diag, e, offsets) = (
            &mut self.l[..],
            &mut self.y[..],
            &mut self.inv_diag[..],
            &self.errors[..],
            &self.offsets[..],
        );
        // Rows of S, strictly lower part (the diagonal slot stays 0); returns S_ii.
        let build = |l: &mut [f64], i: usize| -> f64 {
            let (oi, ti, ri) = (offsets[i], i * (i + 1) / 2, i * (i.saturating_sub(1)) / 2);
            let ei = e[i];
            let trow = &template_cov[ti..ti + i + 1];
            let row = &mut l[oi..oi + i];
            match correlations {
                Floats::F32(r) => {
                    for (((o, &ej), &c), &t) in
                        row.iter_mut().zip(&e[..i]).zip(&r[ri..ri + i]).zip(trow)
                    {
                        *o = ei * ej * f64::from(c) + t;
                    }
                }
                Floats::F64(r) => {
                    for (((o, &ej), &c), &t) in
                        row.iter_mut().zip(&e[..i]).zip(&r[ri..ri + i]).zip(trow)
                    {
                        *o = ei * ej * c + t;
                    }
                }
            }
            ei * ei + trow[i]
        };
        // 1 / L_ii from S_ii and the finished strict part of row i, or None if not PD.
        let pivot = |row: &[f64], s_ii: f64| -> Option<f64> {
            let p = s_ii - dot::<FMA>(row, row);
            // p = 1 / (S^-1)_ii >= lambda_min and S_ii <= lambda_max, so this rejects only
            // condition numbers above ~7e13, where d2 would be rounding noise.
            if p.is_nan() || p <= PIVOT_RTOL * s_ii || !p.is_finite() {
                return None;
            }
            Some(1.0 / p.sqrt())
        };
        let mut d2 = 0.0;
        let mut i0 = 0;
        // Blocks of ROWS rows: each finished row before the block is loaded once for all of
        // them, and their inner products are independent chains.
        while i0 < k {
            let r = (k - i0).min(ROWS);
            let mut s_ii = [0.0f64; ROWS];
            for (q, s) in s_ii.iter_mut().enumerate().take(r) {
                *s = build(l, i0 + q);
            }
            let (done, rest) = l.split_at_mut(offsets[i0]);
            let mut rows: [&mut [f64]; ROWS] = Default::default();
            let mut tail = rest;
            for (q, row) in rows.iter_mut().enumerate().take(r) {
                let (head, t) = std::mem::take(&mut tail).split_at_mut(pad(i0 + q + 1));
                *row = head;
                tail = t;
            }
            for j in 0..i0 {
                let (oj, m) = (offsets[j], pad(j));
                let lj = &done[oj..oj + m];
                if r == ROWS {
                    let d = dot_rows::<ROWS, FMA>(&rows, m, lj);
                    for (row, d) in rows.iter_mut().zip(d) {
                        row[j] = (row[j] - d) * inv_diag[j];
                    }
                } else {
                    for row in rows.iter_mut().take(r) {
                        row[j] = (row[j] - dot::<FMA>(&row[..m], lj)) * inv_diag[j];
                    }
                }
            }
            // Inside the block, row by row.
            for (q, &s_ii) in s_ii.iter().enumerate().take(r) {
                let i = i0 + q;
                let (before, after) = rows.split_at_mut(q);
                let row = &mut *after[0];
                for (p, prev) in before.iter().enumerate() {
                    let (j, m) = (i0 + p, pad(i0 + p));
                    row[j] = (row[j] - dot::<FMA>(&row[..m], &prev[..m])) * inv_diag[j];
                }
                let m = pad(i);
                inv_diag[i] = pivot(&row[..m], s_ii)?;
                let delta = coef_scale * coefficients.get(i) - template_coefficients[i];
                let yi = (delta - dot::<FMA>(&row[..m], &y[..m])) * inv_diag[i];
                y[i] = yi;
                d2 += yi * yi;
            }
            i0 += r;
        }
        d2.is_finite().then_some(d2)
    }
}

#[cfg(test)]
pub(crate) mod test_data {
    //! Readers of `../shared/reference/` for the kernel tests.
    use std::fs::File;
    use std::path::PathBuf;

    use datafusion::arrow::array::{Array, AsArray, RecordBatch};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, Float64Type};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    pub(crate) fn path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference")
            .join(name)
    }

    pub(crate) fn read(name: &str) -> RecordBatch {
        let path = path(name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    pub(crate) fn f64s(b: &RecordBatch, name: &str) -> Vec<f64> {
        let c = cast(b.column_by_name(name).unwrap(), &DataType::Float64).unwrap();
        let a = c.as_primitive::<Float64Type>();
        (0..a.len()).map(|i| a.value(i)).collect()
    }

    pub(crate) fn lists(b: &RecordBatch, name: &str) -> Vec<Option<Vec<f64>>> {
        let c = b.column_by_name(name).unwrap();
        let l = c.as_list::<i32>();
        (0..l.len())
            .map(|i| {
                l.is_valid(i).then(|| {
                    let v = l.value(i);
                    v.as_primitive::<Float64Type>().values().to_vec()
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_small_system() {
        // S = [[4, 2], [2, 3]] from C_c = diag(1, 1) + template [[3, 2], [2, 2]].
        let mut ch = Cholesky::default();
        let template_cov = [3.0, 2.0, 2.0];
        let d2 = ch
            .d2(
                Floats::F64(&[1.0, 1.0]),
                Floats::F64(&[1.0, 1.0]),
                Floats::F64(&[0.0]),
                1.0,
                1.0,
                &[0.0, 0.0],
                &template_cov,
                2,
            )
            .unwrap();
        // S^-1 = [[3, -2], [-2, 4]] / 8 -> (3 - 4 + 4) / 8.
        assert!((d2 - 3.0 / 8.0).abs() < 1e-15, "{d2}");
        // Leading 1x1 block: 1 / 4.
        let d1 = ch
            .d2(
                Floats::F64(&[1.0, 1.0]),
                Floats::F64(&[1.0, 1.0]),
                Floats::F64(&[0.0]),
                1.0,
                1.0,
                &[0.0, 0.0],
                &template_cov,
                1,
            )
            .unwrap();
        assert!((d1 - 0.25).abs() < 1e-15);
    }

    #[test]
    fn not_positive_definite_wrong_lengths_and_nan_give_none() {
        let mut ch = Cholesky::default();
        // Correlation 1 and an equal template: S singular.
        let singular = ch.d2(
            Floats::F64(&[1.0, 2.0]),
            Floats::F64(&[1.0, 1.0]),
            Floats::F64(&[1.0]),
            1.0,
            1.0,
            &[0.0, 0.0],
            &[1.0, 1.0, 1.0],
            2,
        );
        assert_eq!(singular, None);
        let indefinite = ch.d2(
            Floats::F64(&[1.0, 2.0]),
            Floats::F64(&[1.0, 1.0]),
            Floats::F64(&[-3.0]),
            1.0,
            1.0,
            &[0.0, 0.0],
            &[1.0, 0.0, 1.0],
            2,
        );
        assert_eq!(indefinite, None);
        let short = ch.d2(
            Floats::F64(&[1.0]),
            Floats::F64(&[1.0, 1.0]),
            Floats::F64(&[0.0]),
            1.0,
            1.0,
            &[0.0, 0.0],
            &[1.0, 0.0, 1.0],
            2,
        );
        assert_eq!(short, None);
        let nan = ch.d2(
            Floats::F64(&[1.0, 1.0]),
            Floats::F64(&[f64::NAN, 1.0]),
            Floats::F32(&[0.0]),
            1.0,
            1.0,
            &[0.0, 0.0],
            &[1.0, 0.0, 1.0],
            2,
        );
        assert_eq!(nan, None);
        let nan_coef = ch.d2(
            Floats::F64(&[f64::NAN, 1.0]),
            Floats::F64(&[1.0, 1.0]),
            Floats::F32(&[0.0]),
            1.0,
            1.0,
            &[0.0, 0.0],
            &[1.0, 0.0, 1.0],
            2,
        );
        assert_eq!(nan_coef, None);
    }

    #[test]
    fn packed_covariance_is_e_r_e() {
        let mut out = [0.0; 6];
        packed_covariance(
            &[1.0, 2.0, 3.0],
            Floats::F64(&[0.5, 0.25, -0.5]),
            1.0,
            &mut out,
        );
        // (1,0): 1*2*0.5; (2,0): 3*1*0.25; (2,1): 3*2*-0.5.
        assert_eq!(out, [1.0, 1.0, 4.0, 0.75, -3.0, 9.0]);
    }
}
