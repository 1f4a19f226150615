//! Periodograms of light curves: the generalised (floating-mean) Lomb-Scargle periodogram
//! (Zechmeister & Kürster 2009, A&A 496, 577) with astropy's "standard" normalisation, and
//! Baluev's (2008, MNRAS 385, 1279) false-alarm probability of the highest peak.
//!
//! On a uniform grid `f_k = fmin + k df` the periodogram is evaluated exactly (no
//! approximation) with a trigonometric recurrence, in blocks of eight frequencies: per
//! epoch, the phases of the block are the epoch's current `(cos, sin)` rotated by the fixed
//! angles `b 2 pi df t_i`, `b = 0..8`, the six weighted sums of the eight frequencies
//! accumulate in vector registers (the compiler vectorises across the block, with AVX2 and
//! FMA when the CPU has them), and the phase then advances by eight steps. No trigonometric
//! call per frequency; the phases are recomputed directly every [`RESEED`] frequencies so
//! rounding cannot accumulate.
//!
//! Power, with weights `w_i = 1 / dy_i^2` normalised to sum 1 and `y` centred on its weighted
//! mean: `p = (SS YC^2 + CC YS^2 - 2 CS YC YS) / (YY (CC SS - CS^2))` where `YC = sum w y cos`,
//! `CC = sum w cos^2 - (sum w cos)^2`, etc. (ZK09 eq. 5-20, without the tau shift).

mod fast;
pub mod fourier_search;
pub mod lomb_scargle;

use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::ColumnarValue;

use crate::lists::{FloatLists, Numbers};
use crate::spectra::chi2_pvalue::ln_gamma;

/// Default grid: 0.001 to 10 cycles per day (periods from 0.1 d to 1000 d), 50 000 points.
pub(crate) const DEFAULT_FMIN: f64 = 0.001;
pub(crate) const DEFAULT_FMAX: f64 = 10.0;
pub(crate) const DEFAULT_N_FREQ: usize = 50_000;
/// Largest accepted grid.
pub(crate) const MAX_N_FREQ: usize = 10_000_000;
/// Frequencies between two direct evaluations of the phases.
pub(crate) const RESEED: usize = 256;
/// Padding of the epoch arrays (kept a multiple of four; the sweep uses the `n` real epochs).
const LANES: usize = 4;

/// How the periodogram is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Whichever of the two is cheaper for the row's epochs and grid.
    Auto,
    /// The exact recurrence, O(epochs x n_freq).
    Exact,
    /// Extirpolation and FFT ([`fast`]), O(epochs + n_fft log n_fft), within ~1e-8 of exact.
    Fast,
}

/// Nanoseconds per epoch and frequency of the exact sweep (measured with AVX2 and FMA: 55 x
/// 50 000 in ~1.4 ms); the auto choice only needs the ratio to the FFT's cost.
const EXACT_NS: f64 = 0.55;
/// Nanoseconds per `n_fft log2 n_fft` of one FFT of the fast method, everything included
/// (mesh, extirpolation, output): 55 epochs at 50 000 frequencies (three 2^19 FFTs) take
/// 19 ms in the dev-profile bench, 0.62 ns per n log2 n. Erring on the high side only makes
/// 'auto' keep the exact method longer.
const FFT_NS: f64 = 0.6;

impl Method {
    /// The optional seventh argument: 'auto' (default), 'exact' or 'fast'.
    pub(crate) fn from_arg(args: &[ColumnarValue], function: &str) -> Result<Self> {
        let Some(arg) = args.get(6) else {
            return Ok(Self::Auto);
        };
        let text = match arg {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s),
            ) => s.as_deref(),
            _ => {
                return exec_err!(
                    "{function}: method must be a constant string: 'auto', 'exact' or 'fast'"
                );
            }
        };
        match text.map(str::to_ascii_lowercase).as_deref() {
            None | Some("auto") => Ok(Self::Auto),
            Some("exact") => Ok(Self::Exact),
            Some("fast") => Ok(Self::Fast),
            Some(other) => {
                exec_err!("{function}: unknown method '{other}'; use 'auto', 'exact' or 'fast'")
            }
        }
    }

    /// The method used for `epochs` epochs on `grid`.
    fn resolve(self, epochs: usize, grid: &Grid, function: &str) -> Result<Self> {
        let n_fft = fast::mesh_size(grid.n);
        let fits = n_fft <= fast::MAX_FFT;
        match self {
            Self::Exact => Ok(Self::Exact),
            Self::Fast if fits => Ok(Self::Fast),
            Self::Fast => exec_err!(
                "{function}: method 'fast' handles n_freq up to {}; use 'exact' or a smaller grid",
                fast::MAX_FFT / fast::OVERSAMPLING
            ),
            Self::Auto => {
                let exact = EXACT_NS * epochs as f64 * grid.n as f64;
                let fft = FFT_NS * 3.0 * n_fft as f64 * (n_fft as f64).log2();
                Ok(if fits && fft < exact {
                    Self::Fast
                } else {
                    Self::Exact
                })
            }
        }
    }
}

/// A uniform frequency grid `f_k = fmin + k df`, `k = 0..n`, `df = (fmax - fmin) / (n - 1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Grid {
    pub(crate) fmin: f64,
    pub(crate) fmax: f64,
    pub(crate) n: usize,
}

impl Grid {
    /// Checks a user grid; errors are user errors with the fix in the message.
    pub(crate) fn new(fmin: f64, fmax: f64, n: f64, function: &str) -> Result<Self> {
        if !(fmin.is_finite() && fmax.is_finite()) || fmin <= 0.0 {
            return exec_err!(
                "{function}: fmin and fmax must be finite and fmin > 0 (cycles per day), got {fmin} and {fmax}"
            );
        }
        if fmin >= fmax {
            return exec_err!("{function}: fmin ({fmin}) must be smaller than fmax ({fmax})");
        }
        if n.is_nan() || n < 2.0 || n > MAX_N_FREQ as f64 || n.fract() != 0.0 {
            return exec_err!(
                "{function}: n_freq must be an integer from 2 to {MAX_N_FREQ}, got {n}"
            );
        }
        Ok(Self {
            fmin,
            fmax,
            n: n as usize,
        })
    }

    pub(crate) fn df(&self) -> f64 {
        (self.fmax - self.fmin) / (self.n - 1) as f64
    }

    pub(crate) fn frequency(&self, k: usize) -> f64 {
        self.fmin + k as f64 * self.df()
    }
}

/// The grid arguments (positions 3, 4, 5 when given), constant per call or per row.
pub(crate) struct GridArgs {
    fmin: Option<Numbers>,
    fmax: Option<Numbers>,
    n: Option<Numbers>,
}

impl GridArgs {
    pub(crate) fn new(args: &[datafusion::logical_expr::ColumnarValue]) -> Result<Self> {
        let get = |i: usize| args.get(i).map(Numbers::new).transpose();
        Ok(Self {
            fmin: get(3)?,
            fmax: get(4)?,
            n: get(5)?,
        })
    }

    /// The grid of row `i` (None when an argument is NULL).
    pub(crate) fn grid(&self, i: usize, function: &str) -> Result<Option<Grid>> {
        let v = |a: &Option<Numbers>, d: f64| a.as_ref().map_or(Some(d), |a| a.get(i));
        let (Some(fmin), Some(fmax), Some(n)) = (
            v(&self.fmin, DEFAULT_FMIN),
            v(&self.fmax, DEFAULT_FMAX),
            v(&self.n, DEFAULT_N_FREQ as f64),
        ) else {
            return Ok(None);
        };
        Grid::new(fmin, fmax, n, function).map(Some)
    }
}

/// One light curve, prepared for the recurrence (arrays padded to a multiple of [`LANES`]
/// with zero weight), plus the scratch it needs. Reused across rows.
#[derive(Debug, Default)]
pub(crate) struct LightCurve {
    /// Epochs used (finite t, y, dy with dy > 0).
    pub(crate) n: usize,
    /// Times minus their weighted mean, days.
    t: Vec<f64>,
    /// Normalised weights.
    w: Vec<f64>,
    /// w * (y - weighted mean of y).
    wy: Vec<f64>,
    /// sum w (y - mean)^2.
    yy: f64,
    /// Weighted variance of the times (for Baluev's effective baseline).
    pub(crate) t_var: f64,
    /// Time span of the usable epochs, days.
    pub(crate) baseline: f64,
    cos: Vec<f64>,
    sin: Vec<f64>,
    cos_step: Vec<f64>,
    /// Per epoch, cos and sin of 0..B frequency steps (B values each).
    rot_cos: Vec<f64>,
    rot_sin: Vec<f64>,
    sin_step: Vec<f64>,
    fast: fast::FastSums,
}

impl LightCurve {
    /// Loads row `i`; false when fewer than 3 usable epochs remain or the values are constant.
    pub(crate) fn load(
        &mut self,
        times: &FloatLists,
        values: &FloatLists,
        errors: &FloatLists,
        i: usize,
    ) -> bool {
        self.t.clear();
        self.w.clear();
        self.wy.clear();
        let (Some(t), Some(y), Some(dy)) = (
            times.row_lenient(i),
            values.row_lenient(i),
            errors.row_lenient(i),
        ) else {
            return false;
        };
        if t.len() != y.len() || t.len() != dy.len() {
            return false;
        }
        for k in 0..t.len() {
            let (tk, yk, ek) = (t.get(k), y.get(k), dy.get(k));
            if let (Some(tk), Some(yk), Some(ek)) = (tk, yk, ek)
                && tk.is_finite()
                && yk.is_finite()
                && ek.is_finite()
                && ek > 0.0
            {
                self.t.push(tk);
                self.wy.push(yk);
                self.w.push(1.0 / (ek * ek));
            }
        }
        self.n = self.t.len();
        if self.n < 3 {
            return false;
        }
        let (lo, hi) = self
            .t
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
                (lo.min(t), hi.max(t))
            });
        self.baseline = hi - lo;
        let wsum: f64 = self.w.iter().sum();
        self.w.iter_mut().for_each(|w| *w /= wsum);
        let tm: f64 = self.w.iter().zip(&self.t).map(|(w, t)| w * t).sum();
        let ym: f64 = self.w.iter().zip(&self.wy).map(|(w, y)| w * y).sum();
        self.t.iter_mut().for_each(|t| *t -= tm);
        self.t_var = self.w.iter().zip(&self.t).map(|(w, t)| w * t * t).sum();
        self.yy = 0.0;
        for (wy, w) in self.wy.iter_mut().zip(&self.w) {
            let d = *wy - ym;
            self.yy += w * d * d;
            *wy = w * d;
        }
        if !(self.yy > 0.0 && self.yy.is_finite()) {
            return false;
        }
        let padded = self.n.div_ceil(LANES) * LANES;
        self.t.resize(padded, 0.0);
        self.w.resize(padded, 0.0);
        self.wy.resize(padded, 0.0);
        true
    }

    /// Evaluates the periodogram on `grid` with `method`, calling `each(k, power)` in order.
    pub(crate) fn periodogram(
        &mut self,
        grid: &Grid,
        method: Method,
        function: &str,
        mut each: impl FnMut(usize, f64),
    ) -> Result<()> {
        match method.resolve(self.n, grid, function)? {
            Method::Fast => {
                let n = self.n;
                self.fast
                    .compute(&self.t[..n], &self.w[..n], &self.wy[..n], grid);
                let [c, s, yc, ys, cc, cs] = &self.fast.sums;
                for k in 0..grid.n {
                    each(k, power(&[c[k], s[k], yc[k], ys[k], cc[k], cs[k]], self.yy));
                }
            }
            _ => {
                self.prepare_sweep();
                self.sweep(grid, &mut each);
            }
        }
        Ok(())
    }

    fn prepare_sweep(&mut self) {
        self.cos.resize(self.n, 1.0);
        self.sin.resize(self.n, 0.0);
        self.cos_step.clear();
        self.sin_step.clear();
    }

    /// The frequency loop in blocks of eight frequencies, with AVX2 and FMA when the CPU has
    /// them, else baseline SSE2. Eight frequencies per block keep two independent vector
    /// chains per sum in flight (four were latency-bound: ~245 against ~665 light curves per
    /// CPU-second with AVX2, ~170 against ~300 with SSE2; sixteen gain < 5%).
    fn sweep(&mut self, grid: &Grid, each: &mut dyn FnMut(usize, f64)) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: `sweep_avx2` only needs the AVX2 and FMA instructions, which the CPU
            // was just checked to support.
            #[allow(unsafe_code)]
            unsafe {
                return self.sweep_avx2(grid, each);
            }
        }
        self.sweep_with::<8, false>(grid, each);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn sweep_avx2(&mut self, grid: &Grid, each: &mut dyn FnMut(usize, f64)) {
        self.sweep_with::<8, true>(grid, each);
    }

    /// The frequencies in blocks of `B` (one vector of `B` f64): per epoch, the phases of the
    /// block come from the epoch's current `(cos, sin)` times the fixed rotations by
    /// `0..B` steps, the six sums of the `B` frequencies accumulate in registers, and the
    /// epoch's phase then advances by `B` steps.
    #[inline(always)]
    fn sweep_with<const B: usize, const FMA: bool>(
        &mut self,
        grid: &Grid,
        each: &mut dyn FnMut(usize, f64),
    ) {
        let two_pi = std::f64::consts::TAU;
        let n = self.n;
        let df = grid.df();
        self.rot_cos.clear();
        self.rot_sin.clear();
        for &t in &self.t[..n] {
            for b in 0..B {
                let (s, c) = (two_pi * df * t * b as f64).sin_cos();
                self.rot_cos.push(c);
                self.rot_sin.push(s);
            }
            let (s, c) = (two_pi * df * t * B as f64).sin_cos();
            self.cos_step.push(c);
            self.sin_step.push(s);
        }
        let mut k = 0;
        while k < grid.n {
            let f = grid.frequency(k);
            for ((c, s), &t) in self
                .cos
                .iter_mut()
                .zip(self.sin.iter_mut())
                .zip(&self.t[..n])
            {
                // Reduce the phase in cycles first: f t can be thousands of cycles.
                let cycles = (f * t).rem_euclid(1.0);
                (*s, *c) = (two_pi * cycles).sin_cos();
            }
            let end = (k + RESEED).min(grid.n);
            let mut kk = k;
            while kk < end {
                let a = block::<B, FMA>(
                    &mut self.cos[..n],
                    &mut self.sin[..n],
                    self.rot_cos.as_chunks::<B>().0,
                    self.rot_sin.as_chunks::<B>().0,
                    &self.cos_step[..n],
                    &self.sin_step[..n],
                    &self.w[..n],
                    &self.wy[..n],
                );
                let [a0, a1, a2, a3, a4, a5] = &a;
                for b in 0..B.min(end - kk) {
                    let sums = [a0[b], a1[b], a2[b], a3[b], a4[b], a5[b]];
                    each(kk + b, power(&sums, self.yy));
                }
                kk += B;
            }
            k = end;
        }
    }
}

/// Power from the six sums `[C, S, YC, YS, sum w cos^2, sum w cos sin]` (weights sum to 1,
/// y centred).
#[inline(always)]
fn power(a: &[f64; 6], yy: f64) -> f64 {
    let [c, s, yc, ys, ccr, csr] = *a;
    let cc = ccr - c * c;
    let ss = (1.0 - ccr) - s * s;
    let cs = csr - c * s;
    let d = cc * ss - cs * cs;
    let p = (ss * yc * yc + cc * ys * ys - 2.0 * cs * yc * ys) / (yy * d);
    if p.is_finite() { p } else { 0.0 }
}

/// `x * y + acc`, fused when `FMA` (only inside code compiled for FMA).
#[inline(always)]
fn madd<const FMA: bool>(x: f64, y: f64, acc: f64) -> f64 {
    if FMA { x.mul_add(y, acc) } else { acc + x * y }
}

/// One block of `B` consecutive frequencies (see `sweep_with`); advances every epoch's phase
/// by `B` steps.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // reason: the kernel's slices, kept apart for vectorising
fn block<const B: usize, const FMA: bool>(
    cos: &mut [f64],
    sin: &mut [f64],
    rot_cos: &[[f64; B]],
    rot_sin: &[[f64; B]],
    cos_step: &[f64],
    sin_step: &[f64],
    w: &[f64],
    wy: &[f64],
) -> [[f64; B]; 6] {
    let n = cos.len();
    let (sin, rot_cos, rot_sin, cos_step, sin_step, w, wy) = (
        &mut sin[..n],
        &rot_cos[..n],
        &rot_sin[..n],
        &cos_step[..n],
        &sin_step[..n],
        &w[..n],
        &wy[..n],
    );
    let mut acc = [[0.0f64; B]; 6];
    for i in 0..n {
        let (ci, si, wi, wyi) = (cos[i], sin[i], w[i], wy[i]);
        let (rc, rs) = (&rot_cos[i], &rot_sin[i]);
        for b in 0..B {
            let cb = madd::<FMA>(ci, rc[b], -(si * rs[b]));
            let sb = madd::<FMA>(si, rc[b], ci * rs[b]);
            let wc = wi * cb;
            acc[0][b] += wc;
            acc[1][b] = madd::<FMA>(wi, sb, acc[1][b]);
            acc[2][b] = madd::<FMA>(wyi, cb, acc[2][b]);
            acc[3][b] = madd::<FMA>(wyi, sb, acc[3][b]);
            acc[4][b] = madd::<FMA>(wc, cb, acc[4][b]);
            acc[5][b] = madd::<FMA>(wc, sb, acc[5][b]);
        }
        cos[i] = ci * cos_step[i] - si * sin_step[i];
        sin[i] = si * cos_step[i] + ci * sin_step[i];
    }
    acc
}

/// The maximum frequency astropy's `false_alarm_probability` uses for `fmax`: rounded onto
/// its automatic grid of spacing `1 / (5 baseline)` starting at `fmin`. Matching it keeps the
/// FAP equal to astropy's to ~1e-9 instead of ~1e-5 relative.
pub(crate) fn astropy_fmax(fmin: f64, fmax: f64, baseline: f64) -> f64 {
    if baseline.is_nan() || baseline <= 0.0 {
        return fmax;
    }
    let df = 1.0 / baseline / 5.0;
    let nf = 1.0 + ((fmax - fmin) / df).round();
    fmin + df * (nf - 1.0)
}

/// Baluev (2008) false-alarm probability of a peak of standard-normalised power `z` over
/// frequencies up to `fmax`, for `n` epochs whose times have weighted variance `t_var`
/// (astropy's `fap_baluev`).
pub(crate) fn fap_baluev(z: f64, fmax: f64, n: usize, t_var: f64) -> f64 {
    let n = n as f64;
    let (nh, nk) = (n - 1.0, n - 3.0);
    let fap_single = (1.0 - z).powf(0.5 * nk);
    let gamma = (2.0 / nh).sqrt() * (ln_gamma(nh / 2.0) - ln_gamma((nh - 1.0) / 2.0)).exp();
    let w = fmax * (4.0 * std::f64::consts::PI * t_var).sqrt();
    let tau = gamma * w * (1.0 - z).powf(0.5 * (nk - 1.0)) * (0.5 * nh * z).sqrt();
    (-(-tau).exp_m1() + fap_single * (-tau).exp()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct evaluation at one frequency (trigonometric calls, no recurrence).
    pub(crate) fn direct_power(t: &[f64], y: &[f64], dy: &[f64], f: f64) -> f64 {
        let w: Vec<f64> = dy.iter().map(|e| 1.0 / (e * e)).collect();
        let ws: f64 = w.iter().sum();
        let w: Vec<f64> = w.iter().map(|x| x / ws).collect();
        let ym: f64 = w.iter().zip(y).map(|(w, y)| w * y).sum();
        let mut a = [0.0; 6];
        for k in 0..t.len() {
            let (s, c) = (std::f64::consts::TAU * f * t[k]).sin_cos();
            let d = y[k] - ym;
            a[0] += w[k] * c;
            a[1] += w[k] * s;
            a[2] += w[k] * d * c;
            a[3] += w[k] * d * s;
            a[4] += w[k] * c * c;
            a[5] += w[k] * c * s;
        }
        let yy: f64 = w.iter().zip(y).map(|(w, y)| w * (y - ym) * (y - ym)).sum();
        power(&a, yy)
    }

    /// One light curve as a one-row list column.
    fn lists(v: &[f64]) -> FloatLists {
        FloatLists::new(
            &ColumnarValue::Array(std::sync::Arc::new(
                datafusion::arrow::array::ListArray::from_iter_primitive::<
                    datafusion::arrow::datatypes::Float64Type,
                    _,
                    _,
                >(vec![Some(v.iter().map(|x| Some(*x)).collect::<Vec<_>>())]),
            )),
            "x",
        )
        .unwrap()
    }

    /// A light curve with `n` irregular epochs over ~1000 days, a 3.3-day signal and noise-like
    /// structure.
    fn light_curve(n: usize, seed: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let t: Vec<f64> = (0..n)
            .map(|i| 1700.0 + 1000.0 * i as f64 / n as f64 + 3.0 * (i as f64 * 1.3 + seed).sin())
            .collect();
        let y: Vec<f64> = t
            .iter()
            .map(|t| {
                (std::f64::consts::TAU * t / 3.3).sin()
                    + 0.4 * (t * 7.1 + seed).cos()
                    + 0.3 * (t * t * 0.37).sin()
            })
            .collect();
        let dy: Vec<f64> = (0..n).map(|i| 0.1 + 0.01 * (i % 5) as f64).collect();
        (t, y, dy)
    }

    #[test]
    fn fast_equals_exact() {
        let mut lc = LightCurve::default();
        for (n, fmin, fmax, nf) in [
            (55, 0.001, 10.0, 50_000.0),
            (57, 0.5, 3.0, 1_000.0),
            (600, 0.001, 10.0, 50_000.0),
            (3000, 0.01, 25.0, 200_000.0),
        ] {
            let (t, y, dy) = light_curve(n, n as f64);
            assert!(lc.load(&lists(&t), &lists(&y), &lists(&dy), 0));
            let grid = Grid::new(fmin, fmax, nf, "test").unwrap();
            let mut exact = Vec::new();
            lc.periodogram(&grid, Method::Exact, "test", |_, p| exact.push(p))
                .unwrap();
            let mut fast = Vec::new();
            lc.periodogram(&grid, Method::Fast, "test", |_, p| fast.push(p))
                .unwrap();
            assert_eq!(exact.len(), grid.n);
            assert_eq!(fast.len(), grid.n);
            let worst = exact
                .iter()
                .zip(&fast)
                .map(|(e, f)| (e - f).abs())
                .fold(0.0, f64::max);
            let argmax = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            assert!(
                worst < 1e-7,
                "n={n} grid={grid:?}: |fast - exact| up to {worst}"
            );
            assert_eq!(argmax(&exact), argmax(&fast), "n={n}");
            eprintln!("n={n} n_freq={}: |fast - exact| <= {worst:.2e}", grid.n);
        }
    }

    #[test]
    fn auto_picks_the_cheaper_method() {
        let grid = Grid::new(0.001, 10.0, 50_000.0, "t").unwrap();
        assert_eq!(Method::Auto.resolve(55, &grid, "t").unwrap(), Method::Exact);
        assert_eq!(
            Method::Auto.resolve(5000, &grid, "t").unwrap(),
            Method::Fast
        );
        let huge = Grid::new(0.001, 10.0, 5e6, "t").unwrap();
        assert_eq!(
            Method::Auto.resolve(5000, &huge, "t").unwrap(),
            Method::Exact
        );
        assert!(Method::Fast.resolve(5000, &huge, "t").is_err());
    }

    #[test]
    fn recurrence_equals_direct_evaluation() {
        let t: Vec<f64> = (0..57)
            .map(|i| 1700.0 + 13.7 * i as f64 + (i as f64 * 1.3).sin())
            .collect();
        let y: Vec<f64> = t
            .iter()
            .map(|t| (std::f64::consts::TAU * t / 3.3).sin() + 0.1 * (t * 7.1).cos())
            .collect();
        let dy: Vec<f64> = (0..57).map(|i| 0.1 + 0.01 * (i % 5) as f64).collect();
        let mut lc = LightCurve::default();
        assert!(lc.load(&lists(&t), &lists(&y), &lists(&dy), 0));
        let grid = Grid::new(0.001, 10.0, 2000.0, "test").unwrap();
        let mut worst: f64 = 0.0;
        let mut best = (0, 0.0);
        lc.periodogram(&grid, Method::Exact, "test", |k, p| {
            let d = direct_power(&t, &y, &dy, grid.frequency(k));
            worst = worst.max((p - d).abs());
            if p > best.1 {
                best = (k, p);
            }
        })
        .unwrap();
        assert!(worst < 1e-10, "{worst}");
        assert!(best.1 > 0.5, "{best:?}");
        // The portable (SSE2) path too, whatever this CPU dispatches to.
        let mut worst: f64 = 0.0;
        lc.prepare_sweep();
        lc.sweep_with::<8, false>(&grid, &mut |k, p| {
            let d = direct_power(&t, &y, &dy, grid.frequency(k));
            worst = worst.max((p - d).abs());
        });
        assert!(worst < 1e-10, "portable: {worst}");
    }

    #[test]
    fn bad_grids_are_errors() {
        assert!(Grid::new(1.0, 1.0, 10.0, "f").is_err());
        assert!(Grid::new(2.0, 1.0, 10.0, "f").is_err());
        assert!(Grid::new(0.0, 1.0, 10.0, "f").is_err());
        assert!(Grid::new(0.1, 1.0, 1e9, "f").is_err());
        assert!(Grid::new(0.1, 1.0, 1.0, "f").is_err());
        assert!(Grid::new(0.1, 1.0, 10.5, "f").is_err());
        assert!(Grid::new(0.1, f64::NAN, 10.0, "f").is_err());
        assert!(Grid::new(0.1, 1.0, 10.0, "f").is_ok());
    }
}
