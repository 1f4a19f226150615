//! `gaiadr3.epoch_photometry`: per-transit G, BP and RP photometry of variable sources, with
//! Gaia-like sampling (transits in groups of 2-3 a few hours apart, following the two fields
//! of view 106.5 min apart and the 6 h spin; groups weeks apart over the 34-month DR3 window)
//! and an injected periodic signal (see `truth/periods.csv`).

use datafusion::arrow::datatypes::{Float32Type, Float64Type, Int64Type};
use rand::Rng;
use rand::rngs::StdRng;

use crate::DemoError;
use crate::columns::{Columns, m};
use crate::population::{DR3_T_END, DR3_T_START, Star, gauss};
use crate::xp::{ZP_BP, ZP_G, ZP_RP};

/// DR3 `solution_id` of the epoch photometry.
pub(crate) const SOLUTION_ID: i64 = 375_316_653_866_487_564;

/// Offset between the two fields of view (106.5 min) and the spin period (6 h), in days.
const FOV_DT: f64 = 106.5 / 1440.0;
const SPIN_DT: f64 = 0.25;

/// Table description (Arrow schema metadata).
pub(crate) const DESCRIPTION: &str = "Epoch photometry: G, BP and RP per-transit fluxes and magnitudes of variable sources (Gaia DR3 epoch_photometry, one row per source with array columns).";

/// One source's light curve.
pub(crate) struct LightCurve {
    source_id: i64,
    transit_id: Vec<i64>,
    time: Vec<f64>,
    g_flux: Vec<f64>,
    g_err: Vec<f64>,
    bp_flux: Vec<Option<f64>>,
    bp_err: Vec<Option<f64>>,
    rp_flux: Vec<Option<f64>>,
    rp_err: Vec<Option<f64>>,
    noisy: Vec<bool>,
    rejected_var: Vec<bool>,
}

/// Per-transit relative flux error in G (per transit = mean over the 8-9 AF CCDs).
fn g_rel_error(g: f64) -> f64 {
    (0.001f64.powi(2) + (0.025 * 10f64.powf(0.2 * (g - 19.0))).powi(2)).sqrt()
}

/// Per-transit relative flux error in BP or RP.
fn xp_rel_error(mag: f64) -> f64 {
    (0.003f64.powi(2) + (0.08 * 10f64.powf(0.25 * (mag - 19.0))).powi(2)).sqrt()
}

/// Transit times: groups of 1-4 transits (FOV and spin offsets), group starts irregular.
fn sample_times(rng: &mut StdRng) -> Vec<f64> {
    let target = rng.random_range(40..=70_usize);
    let mut group_sizes = Vec::new();
    let mut total = 0;
    while total < target {
        let u = rng.random::<f64>();
        let s = if u < 0.1 {
            1
        } else if u < 0.55 {
            2
        } else if u < 0.9 {
            3
        } else {
            4
        };
        let s = s.min(target - total);
        group_sizes.push(s);
        total += s;
    }
    // Group starts: uniform over the window, sorted, then pushed apart by at least 2 days
    // (a source re-enters the field of view after weeks, in bursts).
    let span = DR3_T_END - DR3_T_START - 2.0;
    let mut starts: Vec<f64> = group_sizes
        .iter()
        .map(|_| DR3_T_START + span * rng.random::<f64>())
        .collect();
    starts.sort_by(f64::total_cmp);
    const OFFSETS: [f64; 4] = [0.0, FOV_DT, SPIN_DT, SPIN_DT + FOV_DT];
    let mut times = Vec::with_capacity(target);
    let mut last = f64::NEG_INFINITY;
    for (start, size) in starts.into_iter().zip(group_sizes) {
        let start = start.max(last + 0.5);
        for &off in OFFSETS.iter().take(size) {
            // A few seconds of jitter: the exact CCD crossing time depends on the source.
            times.push(start + off + 5e-5 * gauss(rng));
        }
        last = times.last().copied().unwrap_or(start);
    }
    times
}

/// Simulates the light curve of `s` (which must carry a variability truth).
pub(crate) fn simulate(s: &Star, rng: &mut StdRng) -> Option<LightCurve> {
    let v = s.variability?;
    let times = sample_times(rng);
    let offset = -v.shape.profile_mean();
    let n = times.len();
    let mut lc = LightCurve {
        source_id: s.source_id,
        transit_id: Vec::with_capacity(n),
        time: times.clone(),
        g_flux: Vec::with_capacity(n),
        g_err: Vec::with_capacity(n),
        bp_flux: Vec::with_capacity(n),
        bp_err: Vec::with_capacity(n),
        rp_flux: Vec::with_capacity(n),
        rp_err: Vec::with_capacity(n),
        noisy: Vec::with_capacity(n),
        rejected_var: Vec::with_capacity(n),
    };
    let (bp0, rp0) = (s.bp_mag(), s.rp_mag());
    for (k, &t) in times.iter().enumerate() {
        let dm = v.amplitude * (v.shape.profile((t - v.epoch) / v.period) + offset);
        let g = s.g + dm;
        // Transit id: OBMT-like tick count (10 us resolution) plus the field of view.
        let fov = i64::from(k % 2 == 1);
        lc.transit_id
            .push(((t - DR3_T_START + 100.0) * 8.64e9).round() as i64 * 4 + fov);
        let noisy = rng.random::<f64>() < 0.02;
        let scale = if noisy { 3.0 } else { 1.0 };
        let f_true = 10f64.powf(-0.4 * (g - ZP_G));
        let err = f_true * g_rel_error(s.g);
        lc.g_flux.push(f_true + scale * err * gauss(rng));
        lc.g_err.push(err * scale);
        lc.noisy.push(noisy);
        lc.rejected_var.push(rng.random::<f64>() < 0.005);
        let band = |mean: f64, zp: f64, amp_scale: f64, rng: &mut StdRng| {
            if rng.random::<f64>() < 0.03 {
                return (None, None);
            }
            let f = 10f64.powf(-0.4 * (mean + amp_scale * dm - zp));
            let e = f * xp_rel_error(mean);
            (Some(f + e * gauss(rng)), Some(e))
        };
        // Pulsators and eclipses have larger amplitudes in the blue.
        let (bf, be) = band(bp0, ZP_BP, 1.25, rng);
        let (rf, re) = band(rp0, ZP_RP, 0.8, rng);
        lc.bp_flux.push(bf);
        lc.bp_err.push(be);
        lc.rp_flux.push(rf);
        lc.rp_err.push(re);
    }
    Some(lc)
}

fn mags(flux: &[Option<f64>], zp: f64) -> Vec<Option<f64>> {
    flux.iter()
        .map(|f| f.filter(|f| *f > 0.0).map(|f| zp - 2.5 * f.log10()))
        .collect()
}

fn over(flux: &[Option<f64>], err: &[Option<f64>]) -> Vec<Option<f32>> {
    flux.iter()
        .zip(err)
        .map(|(f, e)| f.zip(*e).map(|(f, e)| (f / e) as f32))
        .collect()
}

/// BP and RP are observed a few seconds after the astrometric field: shift the times.
fn shifted(time: &[f64], flux: &[Option<f64>], dt: f64) -> Vec<Option<f64>> {
    time.iter()
        .zip(flux)
        .map(|(t, f)| f.map(|_| t + dt))
        .collect()
}

/// The batch for `rows` (in source_id order).
pub(crate) fn batch(
    rows: &[LightCurve],
) -> Result<datafusion::arrow::record_batch::RecordBatch, DemoError> {
    let mut c = Columns::new("epoch_photometry", DESCRIPTION);
    let it = || rows.iter();
    let some = |v: &[f64]| v.iter().map(|x| Some(*x)).collect::<Vec<_>>();
    c.i64(
        m(
            "source_id",
            "",
            "meta.id;meta.main",
            "Unique source identifier (unique within a particular Data Release).",
        )
        .principal()
        .indexed(),
        it().map(|r| r.source_id),
    );
    c.i64(
        m("solution_id", "", "meta.version", "Solution identifier."),
        it().map(|_| SOLUTION_ID),
    );
    c.i16(
        m(
            "n_transits",
            "",
            "meta.number",
            "Number of field-of-view transits in the light curve.",
        )
        .principal(),
        it().map(|r| r.time.len() as i16),
    );
    c.list::<Int64Type>(
        m(
            "transit_id",
            "",
            "meta.id",
            "Transit unique identifier (one per field-of-view transit).",
        ),
        it().map(|r| r.transit_id.iter().map(|x| Some(*x)).collect()),
    );
    c.list::<Float64Type>(
        m(
            "g_transit_time",
            "d",
            "time.epoch",
            "Transit averaged G-band observing time (barycentric JD in TCB - 2455197.5).",
        )
        .principal(),
        it().map(|r| some(&r.time)),
    );
    c.list::<Float64Type>(
        m(
            "g_transit_flux",
            "electron.s**-1",
            "phot.flux;em.opt",
            "Transit averaged G-band flux.",
        )
        .principal(),
        it().map(|r| some(&r.g_flux)),
    );
    c.list::<Float64Type>(
        m(
            "g_transit_flux_error",
            "electron.s**-1",
            "stat.error;phot.flux;em.opt",
            "Transit averaged G-band flux error.",
        ),
        it().map(|r| some(&r.g_err)),
    );
    c.list::<Float32Type>(
        m(
            "g_transit_flux_over_error",
            "",
            "stat.snr;phot.flux;em.opt",
            "Transit averaged G-band flux divided by its error.",
        ),
        it().map(|r| {
            r.g_flux
                .iter()
                .zip(&r.g_err)
                .map(|(f, e)| Some((f / e) as f32))
                .collect()
        }),
    );
    c.list::<Float64Type>(
        m(
            "g_transit_mag",
            "mag",
            "phot.mag;em.opt",
            "Transit averaged G-band magnitude (null for non-positive flux).",
        )
        .principal(),
        it().map(|r| mags(&some(&r.g_flux), ZP_G)),
    );
    c.list::<Float64Type>(
        m(
            "bp_obs_time",
            "d",
            "time.epoch",
            "BP observing time (barycentric JD in TCB - 2455197.5).",
        ),
        it().map(|r| shifted(&r.time, &r.bp_flux, 4.4e-4)),
    );
    c.list::<Float64Type>(
        m(
            "bp_flux",
            "electron.s**-1",
            "phot.flux;em.opt.B",
            "Integrated BP flux.",
        ),
        it().map(|r| r.bp_flux.clone()),
    );
    c.list::<Float64Type>(
        m(
            "bp_flux_error",
            "electron.s**-1",
            "stat.error;phot.flux;em.opt.B",
            "Integrated BP flux error.",
        ),
        it().map(|r| r.bp_err.clone()),
    );
    c.list::<Float32Type>(
        m(
            "bp_flux_over_error",
            "",
            "stat.snr;phot.flux;em.opt.B",
            "Integrated BP flux divided by its error.",
        ),
        it().map(|r| over(&r.bp_flux, &r.bp_err)),
    );
    c.list::<Float64Type>(
        m(
            "bp_mag",
            "mag",
            "phot.mag;em.opt.B",
            "Integrated BP magnitude.",
        ),
        it().map(|r| mags(&r.bp_flux, ZP_BP)),
    );
    c.list::<Float64Type>(
        m(
            "rp_obs_time",
            "d",
            "time.epoch",
            "RP observing time (barycentric JD in TCB - 2455197.5).",
        ),
        it().map(|r| shifted(&r.time, &r.rp_flux, 4.9e-4)),
    );
    c.list::<Float64Type>(
        m(
            "rp_flux",
            "electron.s**-1",
            "phot.flux;em.opt.R",
            "Integrated RP flux.",
        ),
        it().map(|r| r.rp_flux.clone()),
    );
    c.list::<Float64Type>(
        m(
            "rp_flux_error",
            "electron.s**-1",
            "stat.error;phot.flux;em.opt.R",
            "Integrated RP flux error.",
        ),
        it().map(|r| r.rp_err.clone()),
    );
    c.list::<Float32Type>(
        m(
            "rp_flux_over_error",
            "",
            "stat.snr;phot.flux;em.opt.R",
            "Integrated RP flux divided by its error.",
        ),
        it().map(|r| over(&r.rp_flux, &r.rp_err)),
    );
    c.list::<Float64Type>(
        m(
            "rp_mag",
            "mag",
            "phot.mag;em.opt.R",
            "Integrated RP magnitude.",
        ),
        it().map(|r| mags(&r.rp_flux, ZP_RP)),
    );
    c.list_bool(
        m(
            "photometry_flag_noisy_data",
            "",
            "meta.code.qual",
            "G-band flux is noisy (error inflated).",
        ),
        it().map(|r| r.noisy.clone()),
    );
    c.list_bool(
        m(
            "photometry_flag_sm_unavailable",
            "",
            "meta.code.qual",
            "Sky-mapper observation unavailable.",
        ),
        it().map(|r| vec![false; r.time.len()]),
    );
    c.list_bool(
        m(
            "rejected_by_photometry",
            "",
            "meta.code.qual",
            "Observation rejected by the photometric processing.",
        ),
        it().map(|r| vec![false; r.time.len()]),
    );
    c.list_bool(
        m(
            "rejected_by_variability",
            "",
            "meta.code.qual",
            "Observation rejected by the variability processing.",
        ),
        it().map(|r| r.rejected_var.clone()),
    );
    c.list_bool(
        m(
            "variability_flag_g_reject",
            "",
            "meta.code.qual",
            "G-band observation rejected by the variability processing.",
        ),
        it().map(|r| r.rejected_var.clone()),
    );
    c.list_bool(
        m(
            "variability_flag_bp_reject",
            "",
            "meta.code.qual",
            "BP observation rejected by the variability processing.",
        ),
        it().map(|r| r.bp_flux.iter().map(|f| f.is_none()).collect()),
    );
    c.list_bool(
        m(
            "variability_flag_rp_reject",
            "",
            "meta.code.qual",
            "RP observation rejected by the variability processing.",
        ),
        it().map(|r| r.rp_flux.iter().map(|f| f.is_none()).collect()),
    );
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, rng_for};

    #[test]
    fn sampling_is_clumped_and_in_window() {
        let mut rng = rng_for(1, Stream::Epoch, 0);
        for _ in 0..200 {
            let t = sample_times(&mut rng);
            assert!((40..=70).contains(&t.len()));
            assert!(t.windows(2).all(|w| w[1] > w[0]));
            assert!(t[0] >= DR3_T_START - 0.01 && *t.last().unwrap_or(&0.0) <= DR3_T_END + 1.0);
            let short = t.windows(2).filter(|w| w[1] - w[0] < 0.4).count();
            let long = t.windows(2).filter(|w| w[1] - w[0] > 7.0).count();
            assert!(
                short >= t.len() / 3 && long >= 8,
                "short {short} long {long}"
            );
        }
    }
}
