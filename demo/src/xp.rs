//! `gaiadr3.xp_continuous_mean_spectrum`: BP/RP continuous mean spectra (55 Hermite-basis
//! coefficients per band, their errors and the 1485 packed correlations), following the
//! Gaia DR3 data model (De Angeli et al. 2023; Montegriffo et al. 2023; GaiaXPy conventions).
//!
//! Generative model, derived from seven real DR3 spectra embedded in `data/` (Proxima Cen,
//! 18 Sco and two others):
//! - mean coefficients: the real coefficient vectors normalised by their first coefficient,
//!   interpolated in BP-RP between the real stars' colours, scaled by the source's BP/RP flux
//!   (coefficient 0 = k * mean flux, k calibrated on the real stars), with a few per cent of
//!   per-source shape scatter;
//! - errors: the real error profiles (normalised), scaled by a photon + calibration noise law
//!   fitted to the real spectra (error_0 vs coefficient_0);
//! - correlations: R = sum_k w_k R_k (random convex mixture of the real correlation
//!   matrices), plus w_f R_factor (a random two-factor model normalised to unit diagonal),
//!   plus w_i I. A convex combination of correlation matrices is a correlation matrix, and
//!   the identity share keeps the smallest eigenvalue >= w_i, so C = E R E stays positive
//!   definite after the values are rounded to float32;
//! - observed coefficients = mean + E L z with L L^T = R, z ~ N(0, I).

use rand::Rng;
use rand::rngs::StdRng;
use serde::Deserialize;

use crate::DemoError;
use crate::columns::{Columns, m};
use crate::linalg::{cholesky, lower_mul, packed_index};
use crate::population::{Star, gauss};

/// Coefficients per band.
pub(crate) const N_COEFF: usize = 55;
/// Packed strict-lower-triangle correlations per band (55 * 54 / 2).
pub(crate) const N_CORR: usize = N_COEFF * (N_COEFF - 1) / 2;
/// DR3 `solution_id` of the XP continuous spectra.
pub(crate) const XP_SOLUTION_ID: i64 = 4_545_469_030_156_206_080;
/// Mixture weight of the identity matrix in R (lower bound of its eigenvalues).
const W_IDENTITY: f64 = 0.06;
/// Mixture weight of the random factor model in R.
const W_FACTOR: f64 = 0.12;

/// DR3 photometric zero points (Riello et al. 2021), mag for 1 e-/s.
pub(crate) const ZP_G: f64 = 25.6874;
pub(crate) const ZP_BP: f64 = 25.3385;
pub(crate) const ZP_RP: f64 = 24.7479;

/// First coefficient per unit mean flux, calibrated on 18 Sco and Proxima Cen.
const K_BP: f64 = 0.126;
const K_RP: f64 = 0.100;

const REFERENCE_JSON: &str = include_str!("../data/xp_reference.json");

#[derive(Deserialize)]
struct RefFile {
    spectra: Vec<RefSpectrum>,
}

#[derive(Deserialize, Clone)]
struct RefSpectrum {
    source_id: i64,
    band: String,
    coefficients: Vec<f64>,
    coefficient_errors: Vec<f64>,
    coefficient_correlations: Vec<f64>,
}

/// One real star's normalised shape at its colour.
struct Anchor {
    colour: f64,
    shape: Vec<f64>,
    error_profile: Vec<f64>,
}

struct BandModel {
    anchors: Vec<Anchor>,
    correlations: Vec<Vec<f64>>,
    k_flux: f64,
    zero_point: f64,
}

/// The generative XP model (see the module docs).
pub(crate) struct Model {
    bp: BandModel,
    rp: BandModel,
}

/// One band of one spectrum, as stored.
#[derive(Clone, Debug)]
pub(crate) struct BandSpectrum {
    pub(crate) coefficients: Vec<f64>,
    pub(crate) errors: Vec<f32>,
    pub(crate) correlations: Vec<f32>,
    pub(crate) n_measurements: i16,
    pub(crate) n_rejected: i16,
    pub(crate) standard_deviation: f32,
    pub(crate) n_relevant_bases: i16,
    pub(crate) relative_shrinking: f32,
}

impl BandSpectrum {
    pub(crate) fn degrees_of_freedom(&self) -> i16 {
        self.n_measurements - N_COEFF as i16
    }
    pub(crate) fn chi_squared(&self) -> f32 {
        let sd = f64::from(self.standard_deviation);
        (sd * sd * f64::from(self.degrees_of_freedom())) as f32
    }

    /// Lower Cholesky factor of the stored correlation matrix.
    fn correlation_factor(&self) -> Option<Vec<f64>> {
        let packed: Vec<f64> = self.correlations.iter().map(|&v| f64::from(v)).collect();
        cholesky(
            &crate::linalg::unpack_correlations(&packed, N_COEFF),
            N_COEFF,
        )
    }

    /// This spectrum plus one draw from its own covariance (a "near-copy").
    fn perturbed(&self, rng: &mut StdRng) -> Option<BandSpectrum> {
        let l = self.correlation_factor()?;
        let z: Vec<f64> = (0..N_COEFF).map(|_| gauss(rng)).collect();
        let lz = lower_mul(&l, N_COEFF, &z);
        let mut out = self.clone();
        for (i, c) in out.coefficients.iter_mut().enumerate() {
            *c += f64::from(self.errors[i]) * lz[i];
        }
        Some(out)
    }
}

/// Both bands of one spectrum (BP can be missing, as in DR3).
#[derive(Clone, Debug)]
pub(crate) struct Spectrum {
    pub(crate) bp: Option<BandSpectrum>,
    pub(crate) rp: Option<BandSpectrum>,
}

impl Spectrum {
    /// A near-copy: each band perturbed by one draw from its covariance.
    pub(crate) fn near_copy(&self, rng: &mut StdRng) -> Spectrum {
        let mut band = |b: &Option<BandSpectrum>| {
            b.as_ref()
                .map(|b| b.perturbed(rng).unwrap_or_else(|| b.clone()))
        };
        let bp = band(&self.bp);
        let rp = band(&self.rp);
        Spectrum { bp, rp }
    }
}

fn invalid(reason: impl Into<String>) -> DemoError {
    DemoError::Reference {
        reason: reason.into(),
    }
}

impl Model {
    /// Loads and checks the embedded real spectra.
    pub(crate) fn load() -> Result<Model, DemoError> {
        let file: RefFile = serde_json::from_str(REFERENCE_JSON)
            .map_err(|e| invalid(format!("cannot parse xp_reference.json: {e}")))?;
        for s in &file.spectra {
            if s.coefficients.len() != N_COEFF
                || s.coefficient_errors.len() != N_COEFF
                || s.coefficient_correlations.len() != N_CORR
            {
                return Err(invalid(format!(
                    "bad array sizes for {} {}",
                    s.source_id, s.band
                )));
            }
            let r = crate::linalg::unpack_correlations(&s.coefficient_correlations, N_COEFF);
            if cholesky(&r, N_COEFF).is_none() {
                return Err(invalid(format!(
                    "correlations of {} {} not PD",
                    s.source_id, s.band
                )));
            }
        }
        let band = |b: &str| -> Vec<RefSpectrum> {
            file.spectra
                .iter()
                .filter(|s| s.band == b)
                .cloned()
                .collect()
        };
        let (bp, rp) = (band("bp"), band("rp"));
        // Anchors: stars with both bands; colour from the coefficient-0 flux ratio.
        let mut anchors_bp = Vec::new();
        let mut anchors_rp = Vec::new();
        for b in &bp {
            let Some(r) = rp.iter().find(|r| r.source_id == b.source_id) else {
                continue;
            };
            let (fb, fr) = (b.coefficients[0] / K_BP, r.coefficients[0] / K_RP);
            if !(fb > 0.0 && fr > 0.0) {
                return Err(invalid("non-positive first coefficient"));
            }
            let colour = -2.5 * (fb / fr).log10() + (ZP_BP - ZP_RP);
            anchors_bp.push(anchor(colour, b));
            anchors_rp.push(anchor(colour, r));
        }
        if anchors_bp.len() < 2 {
            return Err(invalid("need at least two stars with BP and RP"));
        }
        anchors_bp.sort_by(|a, b| a.colour.total_cmp(&b.colour));
        anchors_rp.sort_by(|a, b| a.colour.total_cmp(&b.colour));
        let corr = |v: &[RefSpectrum]| {
            v.iter()
                .map(|s| s.coefficient_correlations.clone())
                .collect()
        };
        Ok(Model {
            bp: BandModel {
                anchors: anchors_bp,
                correlations: corr(&bp),
                k_flux: K_BP,
                zero_point: ZP_BP,
            },
            rp: BandModel {
                anchors: anchors_rp,
                correlations: corr(&rp),
                k_flux: K_RP,
                zero_point: ZP_RP,
            },
        })
    }

    /// Colours of the real anchor stars (BP-RP), for tests and docs.
    #[cfg(test)]
    pub(crate) fn anchor_colours(&self) -> Vec<f64> {
        self.bp.anchors.iter().map(|a| a.colour).collect()
    }

    /// Draws the observed spectrum of `star`.
    pub(crate) fn simulate(&self, star: &Star, rng: &mut StdRng) -> Spectrum {
        let colour = star.bp_rp();
        let n_transits = rng.random_range(15..60_i32);
        // DR3 has a few per cent of faint spectra without BP.
        let bp_missing = star.g > 16.0 && rng.random::<f64>() < 0.01;
        let bp = self
            .bp
            .simulate(star.bp_mag(), star.g, colour, n_transits, rng);
        let rp = self
            .rp
            .simulate(star.rp_mag(), star.g, colour, n_transits, rng);
        Spectrum {
            bp: if bp_missing { None } else { Some(bp) },
            rp: Some(rp),
        }
    }
}

fn anchor(colour: f64, s: &RefSpectrum) -> Anchor {
    let c0 = s.coefficients[0];
    let e0 = s.coefficient_errors[0];
    Anchor {
        colour,
        shape: s.coefficients.iter().map(|c| c / c0).collect(),
        error_profile: s.coefficient_errors.iter().map(|e| e / e0).collect(),
    }
}

/// Linear interpolation weights between the two anchors bracketing `colour` (clamped).
fn bracket(anchors: &[Anchor], colour: f64) -> (usize, usize, f64) {
    let last = anchors.len() - 1;
    if colour <= anchors[0].colour {
        return (0, 0, 0.0);
    }
    if colour >= anchors[last].colour {
        return (last, last, 0.0);
    }
    for i in 0..last {
        let (a, b) = (anchors[i].colour, anchors[i + 1].colour);
        if colour <= b {
            return (i, i + 1, (colour - a) / (b - a));
        }
    }
    (last, last, 0.0)
}

impl BandModel {
    fn simulate(
        &self,
        mag: f64,
        g: f64,
        colour: f64,
        n_transits: i32,
        rng: &mut StdRng,
    ) -> BandSpectrum {
        let flux = 10f64.powf(-0.4 * (mag - self.zero_point));
        let c0 = self.k_flux * flux;
        let (ia, ib, t) = bracket(&self.anchors, colour);
        let (a, b) = (&self.anchors[ia], &self.anchors[ib]);
        // Per-source shape scatter, larger for the (noisier, less constrained) high orders.
        let mean: Vec<f64> = (0..N_COEFF)
            .map(|i| {
                let s = a.shape[i] * (1.0 - t) + b.shape[i] * t;
                let scatter = if i == 0 { 0.0 } else { 0.03 * gauss(rng) };
                c0 * s * (1.0 + scatter)
            })
            .collect();
        // Error law fitted to the real spectra: error_0^2 = (8e-4 c0)^2 + 0.004 c0 + 0.01.
        let e0 = ((8e-4 * c0).powi(2) + 0.004 * c0 + 0.01).sqrt() * (0.25 * gauss(rng)).exp();
        let errors: Vec<f32> = (0..N_COEFF)
            .map(|i| (e0 * (a.error_profile[i] * (1.0 - t) + b.error_profile[i] * t)) as f32)
            .collect();
        let correlations = self.correlations(rng);
        let packed: Vec<f64> = correlations.iter().map(|&v| f64::from(v)).collect();
        let r = crate::linalg::unpack_correlations(&packed, N_COEFF);
        let z: Vec<f64> = (0..N_COEFF).map(|_| gauss(rng)).collect();
        let coefficients = match cholesky(&r, N_COEFF) {
            Some(l) => {
                let lz = lower_mul(&l, N_COEFF, &z);
                (0..N_COEFF)
                    .map(|i| mean[i] + f64::from(errors[i]) * lz[i])
                    .collect()
            }
            // Unreachable in practice (R >= W_IDENTITY * I); fall back to independent noise.
            None => (0..N_COEFF)
                .map(|i| mean[i] + f64::from(errors[i]) * z[i])
                .collect(),
        };
        let per_transit = rng.random_range(50.0..80.0);
        let n_measurements = (f64::from(n_transits) * per_transit)
            .round()
            .clamp(60.0, 32_000.0) as i16;
        let n_rejected = (f64::from(n_measurements) * rng.random_range(0.0..0.03)).round() as i16;
        let standard_deviation =
            (1.0 + 0.3 * (-(g - 8.0) / 3.0).exp().min(1.5) + (0.04 * gauss(rng)).abs()) as f32;
        let n_relevant_bases = (55.0 - 2.0 * (g - 10.0).max(0.0) * rng.random_range(0.5..1.5)
            + 2.0 * gauss(rng))
        .round()
        .clamp(10.0, 55.0) as i16;
        let relative_shrinking = if n_relevant_bases >= 55 {
            1.0
        } else {
            (1.0 - (10f64.powf(-6.0 + 0.25 * (g - 8.0)) * rng.random::<f64>()).min(0.01)) as f32
        };
        BandSpectrum {
            coefficients,
            errors,
            correlations,
            n_measurements,
            n_rejected,
            standard_deviation,
            n_relevant_bases,
            relative_shrinking,
        }
    }

    /// A random correlation matrix (packed, float32) from the mixture in the module docs.
    fn correlations(&self, rng: &mut StdRng) -> Vec<f32> {
        let w_real = 1.0 - W_FACTOR - W_IDENTITY;
        let raw: Vec<f64> = self
            .correlations
            .iter()
            .map(|_| -(1.0 - rng.random::<f64>()).ln())
            .collect();
        let total: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w_real * w / total).collect();
        // Two-factor model M = F F^T + diag(psi), normalised to unit diagonal.
        let f: Vec<[f64; 2]> = (0..N_COEFF)
            .map(|_| [0.8 * gauss(rng), 0.8 * gauss(rng)])
            .collect();
        let psi: Vec<f64> = (0..N_COEFF).map(|_| rng.random_range(0.5..1.5)).collect();
        let diag: Vec<f64> = (0..N_COEFF)
            .map(|i| (f[i][0] * f[i][0] + f[i][1] * f[i][1] + psi[i]).sqrt())
            .collect();
        let mut out = Vec::with_capacity(N_CORR);
        for i in 1..N_COEFF {
            for j in 0..i {
                let k = packed_index(i, j);
                let mut v: f64 = weights
                    .iter()
                    .zip(&self.correlations)
                    .map(|(w, r)| w * r[k])
                    .sum();
                v += W_FACTOR * (f[i][0] * f[j][0] + f[i][1] * f[j][1]) / (diag[i] * diag[j]);
                out.push(v as f32);
            }
        }
        out
    }
}

/// Table description (Arrow schema metadata).
pub(crate) const DESCRIPTION: &str = "BP/RP (XP) continuous mean spectra: coefficients of the Hermite-function basis, their errors and correlations (Gaia DR3 xp_continuous_mean_spectrum).";

macro_rules! band_columns {
    ($cols:expr, $rows:expr, $band:ident, $b:literal, $basis:expr) => {{
        let rows = $rows;
        $cols.i16o(
            m(
                concat!($b, "_basis_function_id"),
                "",
                "meta.id;meta.code",
                concat!(
                    "Identifier of the ",
                    $b,
                    " basis function set (56 for BP, 57 for RP)."
                ),
            ),
            rows.iter().map(|(_, s)| s.$band.as_ref().map(|_| $basis)),
        );
        $cols.i16o(
            m(
                concat!($b, "_degrees_of_freedom"),
                "",
                "stat.fit.dof",
                concat!("Degrees of freedom of the ", $b, " spectrum fit."),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.degrees_of_freedom())),
        );
        $cols.i16o(
            m(
                concat!($b, "_n_parameters"),
                "",
                "meta.number",
                concat!("Number of ", $b, " basis coefficients (55)."),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|_| N_COEFF as i16)),
        );
        $cols.i16o(
            m(
                concat!($b, "_n_measurements"),
                "",
                "meta.number",
                concat!("Number of ", $b, " measurements used in the fit."),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.n_measurements)),
        );
        $cols.i16o(
            m(
                concat!($b, "_n_rejected_measurements"),
                "",
                "meta.number",
                concat!("Number of ", $b, " measurements rejected by the fit."),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.n_rejected)),
        );
        $cols.f32o(
            m(
                concat!($b, "_standard_deviation"),
                "",
                "stat.stdev",
                concat!(
                    "Standard deviation of the ",
                    $b,
                    " fit residuals (the errors already include this scaling)."
                ),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.standard_deviation)),
        );
        $cols.f32o(
            m(
                concat!($b, "_chi_squared"),
                "",
                "stat.fit.chi2",
                concat!("Chi-squared of the ", $b, " spectrum fit."),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.chi_squared())),
        );
        $cols.fixed_f64(
            m(
                concat!($b, "_coefficients"),
                "electron.s**-1",
                "stat.fit.param",
                concat!("The 55 ", $b, " spectrum basis coefficients."),
            )
            .principal(),
            N_COEFF,
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.coefficients.as_slice())),
        )?;
        $cols.fixed_f32(
            m(
                concat!($b, "_coefficient_errors"),
                "electron.s**-1",
                "stat.error;stat.fit.param",
                concat!(
                    "Errors of the ",
                    $b,
                    " coefficients (including the standard-deviation scaling)."
                ),
            )
            .principal(),
            N_COEFF,
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.errors.as_slice())),
        )?;
        $cols.fixed_f32(
            m(
                concat!($b, "_coefficient_correlations"),
                "",
                "stat.correlation",
                concat!(
                    "Correlations of the ",
                    $b,
                    " coefficients: strict lower triangle row by row, element i(i-1)/2+j is (i, j)."
                ),
            ),
            N_CORR,
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.correlations.as_slice())),
        )?;
        $cols.i16o(
            m(
                concat!($b, "_n_relevant_bases"),
                "",
                "meta.number",
                concat!(
                    "Number of ",
                    $b,
                    " basis functions considered relevant (leading block to use)."
                ),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.n_relevant_bases)),
        );
        $cols.f32o(
            m(
                concat!($b, "_relative_shrinking"),
                "",
                "stat.value",
                concat!(
                    "Measure of the shrinking of the ",
                    $b,
                    " coefficients by the truncation."
                ),
            ),
            rows.iter()
                .map(|(_, s)| s.$band.as_ref().map(|b| b.relative_shrinking)),
        );
    }};
}

/// The batch for `rows` (source_id, spectrum), sorted by source_id.
pub(crate) fn batch(
    rows: &[(i64, Spectrum)],
) -> Result<datafusion::arrow::record_batch::RecordBatch, DemoError> {
    let mut c = Columns::new("xp_continuous_mean_spectrum", DESCRIPTION);
    c.i64(
        m(
            "source_id",
            "",
            "meta.id;meta.main",
            "Unique source identifier (unique within a particular Data Release).",
        )
        .principal()
        .indexed(),
        rows.iter().map(|(id, _)| *id),
    );
    c.i64(
        m("solution_id", "", "meta.version", "Solution identifier."),
        rows.iter().map(|_| XP_SOLUTION_ID),
    );
    band_columns!(c, rows, bp, "bp", 56_i16);
    band_columns!(c, rows, rp, "rp", 57_i16);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng_for};

    #[test]
    fn reference_loads_with_sensible_colours() {
        let model = Model::load().unwrap_or_else(|e| panic!("{e}"));
        let colours = model.anchor_colours();
        assert_eq!(colours.len(), 3);
        // Bluest (~-0.1), 18 Sco (~0.8), Proxima Cen (~3.6).
        assert!(
            colours[0] < 0.3 && (0.5..1.1).contains(&colours[1]) && colours[2] > 3.0,
            "{colours:?}"
        );
    }

    #[test]
    fn correlations_are_positive_definite_after_f32_rounding() {
        let model = Model::load().unwrap_or_else(|e| panic!("{e}"));
        let mut rng = rng_for(7, Stream::Xp, 0);
        for _ in 0..50 {
            let packed: Vec<f64> = model
                .rp
                .correlations(&mut rng)
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            assert!(packed.iter().all(|v| v.abs() < 1.0));
            let r = crate::linalg::unpack_correlations(&packed, N_COEFF);
            assert!(cholesky(&r, N_COEFF).is_some());
        }
    }
}
