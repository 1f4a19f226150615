//! `gaiadr3.gaia_source`: observables of every source with Gaia-like errors (growing with
//! magnitude as in Lindegren et al. 2021 and Riello et al. 2021), 2-, 5- and 6-parameter
//! astrometric solutions, and the DR3 column names, types, units and UCDs.

use rand::Rng;
use rand::rngs::StdRng;

use crate::DemoError;
use crate::columns::{Columns, m};
use crate::linalg::{cholesky, lower_mul};
use crate::population::{Star, gauss};
use crate::sky;
use crate::xp::{ZP_BP, ZP_G, ZP_RP};

/// DR3 `solution_id` of gaia_source.
pub(crate) const SOLUTION_ID: i64 = 1_636_148_068_921_376_768;
/// DR3 parallax zero-point offset (mas), applied to the simulated parallaxes.
const PARALLAX_ZERO_POINT: f64 = -0.017;

/// Table description (Arrow schema metadata).
pub(crate) const DESCRIPTION: &str = "Gaia DR3 source catalogue: astrometry, photometry and summary parameters of every source (synthetic demo data following the DR3 data model).";

/// Observed (published) values of one source.
pub(crate) struct Row {
    source_id: i64,
    random_index: i64,
    ra: f64,
    dec: f64,
    l: f64,
    b: f64,
    ecl_lon: f64,
    ecl_lat: f64,
    ra_error: f32,
    dec_error: f32,
    /// parallax, pmra, pmdec (None for 2-parameter solutions).
    astro: Option<(f64, f64, f64)>,
    astro_err: Option<(f32, f32, f32)>,
    /// The 10 correlations in DR3 order (ra_dec, ra_parallax, ra_pmra, ra_pmdec,
    /// dec_parallax, dec_pmra, dec_pmdec, parallax_pmra, parallax_pmdec, pmra_pmdec).
    corr: [Option<f32>; 10],
    params_solved: i16,
    nu_eff: Option<f32>,
    pseudocolour: Option<(f32, f32)>,
    n_obs_al: i32,
    n_obs_ac: i32,
    n_bad_obs_al: i32,
    gof_al: f32,
    chi2_al: f32,
    excess_noise: f32,
    excess_noise_sig: f32,
    primary_flag: bool,
    matched_transits: i16,
    new_matched_transits: i16,
    matched_transits_removed: i16,
    visibility_periods: i16,
    sigma5d_max: f32,
    ipd_amp: f32,
    ipd_phase: f32,
    ipd_multi_peak: i16,
    ipd_odd_win: i16,
    ruwe: f32,
    duplicated: bool,
    g_n_obs: i16,
    g_flux: f64,
    g_flux_error: f32,
    g_mag: f32,
    /// (n_obs, flux, flux_error, mag) for BP and RP; None when not published.
    bp: Option<(i16, f64, f32, Option<f32>)>,
    rp: Option<(i16, f64, f32, Option<f32>)>,
    excess_factor: Option<f32>,
    bp_contaminated: Option<i16>,
    bp_blended: Option<i16>,
    rp_contaminated: Option<i16>,
    rp_blended: Option<i16>,
    proc_mode: i16,
    /// radial_velocity, error, method, n_transits, template teff, grvs_mag.
    rv: Option<(f32, f32, i16, i16, f32, f32)>,
    variable: bool,
    has_xp: bool,
    has_epoch: bool,
    qso: bool,
    galaxy: bool,
    non_single_star: i16,
    dsc_star: Option<f32>,
    /// teff, logg, mh, distance, ag, ebpminrp (GSP-Phot).
    gspphot: Option<(f32, f32, f32, f32, f32, f32)>,
}

fn mag(flux: f64, zp: f64) -> Option<f32> {
    (flux > 0.0).then(|| (zp - 2.5 * flux.log10()) as f32)
}

/// Draws the published values of `s`.
pub(crate) fn observe(s: &Star, rng: &mut StdRng) -> Row {
    let (l, b) = sky::icrs_to_galactic(s.ra, s.dec);
    let (ecl_lon, ecl_lat) = sky::icrs_to_ecliptic(s.ra, s.dec);
    let g = s.g;
    // Scanning law: more transits near ecliptic latitude +-45 deg.
    let boost = 1.0 + 0.6 * (-((ecl_lat.abs() - 45.0) / 12.0).powi(2)).exp();
    let n_tr = (rng.random_range(18.0..42.0) * boost).round().max(5.0);
    let visibility = (n_tr / 2.3 + 1.5 * gauss(rng)).round().clamp(5.0, 33.0) as i16;
    let crowded = b.abs() < 5.0 || s.component == crate::population::Component::Cluster;

    // Solution type: 2-parameter for the faintest (about 20% of all sources), 6-parameter
    // when no reliable colour was available.
    let p2 = 1.0 / (1.0 + (-(g - 20.75) / 0.2).exp());
    let two_param = visibility < 9 || rng.random::<f64>() < p2;
    let bp_rp_null = rng.random::<f64>() < 0.5 / (1.0 + (-(g - 20.4) / 0.15).exp()) + 0.004;
    let six_param = !two_param
        && (bp_rp_null || (g > 19.0 && rng.random::<f64>() < 0.7) || rng.random::<f64>() < 0.1);

    let ruwe = if rng.random::<f64>() < 0.08 {
        1.3 + -(1.0 - rng.random::<f64>()).ln()
    } else {
        (0.04 * gauss(rng)).exp() * 1.01
    };
    let sigma_plx = (0.018f64.powi(2) + (0.5 * 10f64.powf(0.3 * (g - 20.0))).powi(2)).sqrt()
        * (0.15 * gauss(rng)).exp()
        * (18.0 / f64::from(visibility)).sqrt()
        * if six_param { 1.3 } else { 1.0 }
        * ruwe.sqrt();
    let (ra_error, dec_error) = if two_param {
        let e = 3.0 * sigma_plx * (0.2 * gauss(rng)).exp();
        (e, e * rng.random_range(0.8..1.2))
    } else {
        (
            0.8 * sigma_plx * rng.random_range(0.8..1.2),
            0.7 * sigma_plx * rng.random_range(0.8..1.2),
        )
    };
    let sig_pmra = 1.1 * sigma_plx * rng.random_range(0.8..1.25);
    let sig_pmdec = 1.0 * sigma_plx * rng.random_range(0.8..1.25);

    // Correlations of the 5 parameters from a random one-factor model (a valid correlation
    // matrix); the noise is drawn with the same correlations.
    let lambda: [f64; 5] = [0, 1, 2, 3, 4].map(|_| rng.random_range(-0.55..0.55));
    let mut r = [0.0f64; 25];
    for i in 0..5 {
        for j in 0..5 {
            r[i * 5 + j] = if i == j { 1.0 } else { lambda[i] * lambda[j] };
        }
    }
    let z: Vec<f64> = (0..5).map(|_| gauss(rng)).collect();
    let noise = cholesky(&r, 5).map_or_else(|| z.clone(), |l| lower_mul(&l, 5, &z));
    let pairs = [
        (0, 1),
        (0, 2),
        (0, 3),
        (0, 4),
        (1, 2),
        (1, 3),
        (1, 4),
        (2, 3),
        (2, 4),
        (3, 4),
    ];
    let mut corr = [None; 10];
    for (k, &(i, j)) in pairs.iter().enumerate() {
        if !two_param || k == 0 {
            corr[k] = Some(r[i * 5 + j] as f32);
        }
    }
    let astro = (!two_param).then(|| {
        (
            s.parallax_true() + PARALLAX_ZERO_POINT + sigma_plx * noise[2],
            s.pmra + sig_pmra * noise[3],
            s.pmdec + sig_pmdec * noise[4],
        )
    });
    let astro_err = (!two_param).then_some((sigma_plx as f32, sig_pmra as f32, sig_pmdec as f32));
    let nu = (1.76 - 1.61 / std::f64::consts::PI * (0.531 * s.bp_rp()).atan()).clamp(1.24, 1.72);
    let nu_eff = (!two_param && !six_param).then_some(nu as f32);
    let pseudocolour = six_param.then(|| {
        let e = (0.01 + 0.05 * 10f64.powf(0.3 * (g - 20.0))).min(0.3);
        ((nu + e * gauss(rng)) as f32, e as f32)
    });

    let n_obs_al = (n_tr * 9.0) as i32 - rng.random_range(0..6);
    let n_bad_obs_al = if rng.random::<f64>() < 0.7 {
        0
    } else {
        rng.random_range(1..10)
    };
    let n_good = f64::from(n_obs_al - n_bad_obs_al);
    let (excess_noise, excess_noise_sig) = if ruwe > 1.4 {
        let e = (ruwe - 1.0) * 0.6 * rng.random_range(0.5..1.5) * (1.0 + sigma_plx);
        (e, (ruwe - 1.0) * 40.0 * rng.random_range(0.5..1.5))
    } else if rng.random::<bool>() {
        (0.0, 0.0)
    } else {
        (
            (0.1 * gauss(rng)).abs() * (1.0 + sigma_plx),
            rng.random_range(0.0..2.0),
        )
    };

    // Photometry: per-CCD (G) and per-transit (BP, RP) relative errors, averaged.
    let g_n_obs = (n_tr * 9.0 - f64::from(rng.random_range(0..8_i32))).max(1.0);
    let g_flux_true = 10f64.powf(-0.4 * (g - ZP_G));
    let g_rel =
        (0.003f64.powi(2) + (0.06 * 10f64.powf(0.2 * (g - 19.0))).powi(2)).sqrt() / g_n_obs.sqrt();
    let g_flux = g_flux_true * (1.0 + g_rel * gauss(rng));
    let g_flux_error = g_flux_true * g_rel;
    let mut band = |m_true: f64, zp: f64| {
        let n = (n_tr - f64::from(rng.random_range(0..4_i32))).max(1.0);
        let rel = (0.004f64.powi(2) + (0.2 * 10f64.powf(0.3 * (m_true - 19.0))).powi(2)).sqrt()
            / n.sqrt();
        let f_true = 10f64.powf(-0.4 * (m_true - zp));
        let f = f_true * (1.0 + rel * gauss(rng));
        (n as i16, f, (f_true * rel) as f32, mag(f, zp))
    };
    let (bp, rp) = if bp_rp_null {
        (None, None)
    } else {
        (Some(band(s.bp_mag(), ZP_BP)), Some(band(s.rp_mag(), ZP_RP)))
    };
    let excess_factor = match (&bp, &rp) {
        (Some(b), Some(r)) => {
            let base = (b.1 + r.1) / g_flux;
            let extra = if crowded && g > 18.0 {
                rng.random_range(0.0..0.3)
            } else {
                0.0
            };
            Some((base * (1.0 + 0.01 * gauss(rng)) + extra) as f32)
        }
        _ => None,
    };
    let contam = |rng: &mut StdRng| -> i16 {
        if crowded {
            rng.random_range(0..8)
        } else if rng.random::<f64>() < 0.8 {
            0
        } else {
            rng.random_range(1..4)
        }
    };
    let (bp_contaminated, bp_blended, rp_contaminated, rp_blended) = if bp.is_some() {
        (
            Some(contam(rng)),
            Some(contam(rng)),
            Some(contam(rng)),
            Some(contam(rng)),
        )
    } else {
        (None, None, None, None)
    };
    let proc_mode = if bp.is_none() {
        2
    } else if g > 19.0 {
        1
    } else {
        0
    };

    // Radial velocities for G_RVS <= 14 and Teff 3100-14500 K (DR3 selection).
    let grvs = g - (0.04 + 0.42 * s.bp_rp().clamp(-0.3, 4.0));
    let teff = s.teff();
    let rv = (grvs <= 14.0 && (3100.0..=14_500.0).contains(&teff)).then(|| {
        let err = 0.12 + 6.0 * 10f64.powf(0.4 * (grvs - 14.0)) * (0.2 * gauss(rng)).exp();
        let method = if grvs <= 12.0 { 1 } else { 2 };
        (
            (s.rv + err * gauss(rng)) as f32,
            err as f32,
            method,
            rng.random_range(5..40),
            ((teff / 250.0).round() * 250.0) as f32,
            grvs as f32,
        )
    });
    let gspphot = (s.has_xp && g < 19.0).then(|| {
        let dist = s.distance_pc * (1.0 + 0.12 * gauss(rng)).max(0.3);
        let ag = (s.ag * (1.0 + 0.15 * gauss(rng)) + 0.02 * gauss(rng)).max(0.0);
        (
            (teff * (1.0 + 0.03 * gauss(rng))) as f32,
            (s.logg() + 0.15 * gauss(rng)) as f32,
            (s.mh + 0.2 * gauss(rng)) as f32,
            dist as f32,
            ag as f32,
            (ag / 1.9) as f32,
        )
    });
    let sigma5d_max = if two_param {
        4.0 * ra_error.max(dec_error)
    } else {
        1.9 * sigma_plx.max(sig_pmra).max(sig_pmdec)
    };
    Row {
        source_id: s.source_id,
        random_index: s.random_index,
        ra: s.ra,
        dec: s.dec,
        l,
        b,
        ecl_lon,
        ecl_lat,
        ra_error: ra_error as f32,
        dec_error: dec_error as f32,
        astro,
        astro_err,
        corr,
        params_solved: if two_param {
            3
        } else if six_param {
            95
        } else {
            31
        },
        nu_eff,
        pseudocolour,
        n_obs_al,
        n_obs_ac: if g < 13.0 { n_obs_al } else { 0 },
        n_bad_obs_al,
        gof_al: ((ruwe - 1.0) * 25.0 + 1.2 * gauss(rng)) as f32,
        chi2_al: (n_good * ruwe * ruwe * rng.random_range(0.95..1.05)) as f32,
        excess_noise: excess_noise as f32,
        excess_noise_sig: excess_noise_sig as f32,
        primary_flag: g < 11.5 && rng.random::<f64>() < 0.3,
        matched_transits: n_tr as i16,
        new_matched_transits: (n_tr * rng.random_range(0.2..0.5)) as i16,
        matched_transits_removed: if rng.random::<f64>() < 0.8 {
            0
        } else {
            rng.random_range(1..5)
        },
        visibility_periods: visibility,
        sigma5d_max: sigma5d_max as f32,
        ipd_amp: (0.03 * (0.6 * gauss(rng)).exp() * if ruwe > 1.4 { 3.0 } else { 1.0 }) as f32,
        ipd_phase: rng.random_range(0.0..180.0),
        ipd_multi_peak: if rng.random::<f64>() < 0.9 {
            0
        } else {
            rng.random_range(1..40)
        },
        ipd_odd_win: if rng.random::<f64>() < 0.95 {
            0
        } else {
            rng.random_range(1..100)
        },
        ruwe: ruwe as f32,
        duplicated: rng.random::<f64>() < 0.005,
        g_n_obs: g_n_obs as i16,
        g_flux,
        g_flux_error: g_flux_error as f32,
        g_mag: mag(g_flux, ZP_G).unwrap_or(g as f32),
        bp,
        rp,
        excess_factor,
        bp_contaminated,
        bp_blended,
        rp_contaminated,
        rp_blended,
        proc_mode,
        rv,
        variable: s.variable,
        has_xp: s.has_xp,
        has_epoch: s.has_epoch,
        qso: rng.random::<f64>() < 0.002,
        galaxy: rng.random::<f64>() < 0.001,
        non_single_star: if rng.random::<f64>() < 0.98 {
            0
        } else {
            rng.random_range(1..4)
        },
        dsc_star: s.has_xp.then(|| rng.random_range(0.9..1.0)),
        gspphot,
    }
}

fn ratio(a: Option<f64>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some((a / f64::from(b)) as f32),
        _ => None,
    }
}

/// The batch for `rows` (in source_id order).
pub(crate) fn batch(
    rows: &[Row],
) -> Result<datafusion::arrow::record_batch::RecordBatch, DemoError> {
    let mut c = Columns::new("gaia_source", DESCRIPTION);
    let it = || rows.iter();
    c.i64(
        m("solution_id", "", "meta.version", "Solution identifier."),
        it().map(|_| SOLUTION_ID),
    );
    c.string(m("designation", "", "meta.id", "Unique source designation (unique across all Data Releases): 'Gaia DR3 ' followed by the source_id."), it().map(|r| format!("Gaia DR3 {}", r.source_id)));
    c.i64(m("source_id", "", "meta.id;meta.main", "Unique source identifier: HEALPix level-12 NESTED index * 2^35 + running number within the pixel.").principal().indexed().healpix("gaia"), it().map(|r| r.source_id));
    c.i64(
        m(
            "random_index",
            "",
            "meta.code",
            "Random index for selecting random subsets (a random permutation of 0..N-1).",
        ),
        it().map(|r| r.random_index),
    );
    c.f64(
        m(
            "ref_epoch",
            "yr",
            "meta.ref;time.epoch",
            "Reference epoch of the astrometry (Julian year, TCB).",
        ),
        it().map(|_| 2016.0),
    );
    c.f64(
        m(
            "ra",
            "deg",
            "pos.eq.ra;meta.main",
            "Right ascension (ICRS) at the reference epoch.",
        )
        .principal(),
        it().map(|r| r.ra),
    );
    c.f32(
        m(
            "ra_error",
            "mas",
            "stat.error;pos.eq.ra",
            "Standard error of right ascension times cos(dec).",
        ),
        it().map(|r| r.ra_error),
    );
    c.f64(
        m(
            "dec",
            "deg",
            "pos.eq.dec;meta.main",
            "Declination (ICRS) at the reference epoch.",
        )
        .principal(),
        it().map(|r| r.dec),
    );
    c.f32(
        m(
            "dec_error",
            "mas",
            "stat.error;pos.eq.dec",
            "Standard error of declination.",
        ),
        it().map(|r| r.dec_error),
    );
    c.f64o(
        m(
            "parallax",
            "mas",
            "pos.parallax.trig",
            "Absolute stellar parallax at the reference epoch.",
        )
        .principal(),
        it().map(|r| r.astro.map(|a| a.0)),
    );
    c.f32o(
        m(
            "parallax_error",
            "mas",
            "stat.error;pos.parallax.trig",
            "Standard error of parallax.",
        ),
        it().map(|r| r.astro_err.map(|a| a.0)),
    );
    c.f32o(
        m(
            "parallax_over_error",
            "",
            "stat.snr;pos.parallax.trig",
            "Parallax divided by its standard error.",
        ),
        it().map(|r| ratio(r.astro.map(|a| a.0), r.astro_err.map(|a| a.0))),
    );
    c.f32o(
        m(
            "pm",
            "mas.yr**-1",
            "pos.pm;phys.veloc.transverse",
            "Total proper motion.",
        ),
        it().map(|r| r.astro.map(|a| a.1.hypot(a.2) as f32)),
    );
    c.f64o(
        m(
            "pmra",
            "mas.yr**-1",
            "pos.pm;pos.eq.ra",
            "Proper motion in right ascension (mu_alpha* = mu_alpha cos(dec)).",
        )
        .principal(),
        it().map(|r| r.astro.map(|a| a.1)),
    );
    c.f32o(
        m(
            "pmra_error",
            "mas.yr**-1",
            "stat.error;pos.pm;pos.eq.ra",
            "Standard error of the proper motion in right ascension.",
        ),
        it().map(|r| r.astro_err.map(|a| a.1)),
    );
    c.f64o(
        m(
            "pmdec",
            "mas.yr**-1",
            "pos.pm;pos.eq.dec",
            "Proper motion in declination.",
        )
        .principal(),
        it().map(|r| r.astro.map(|a| a.2)),
    );
    c.f32o(
        m(
            "pmdec_error",
            "mas.yr**-1",
            "stat.error;pos.pm;pos.eq.dec",
            "Standard error of the proper motion in declination.",
        ),
        it().map(|r| r.astro_err.map(|a| a.2)),
    );
    const CORR: [(&str, &str); 10] = [
        (
            "ra_dec_corr",
            "Correlation between right ascension and declination.",
        ),
        (
            "ra_parallax_corr",
            "Correlation between right ascension and parallax.",
        ),
        (
            "ra_pmra_corr",
            "Correlation between right ascension and proper motion in right ascension.",
        ),
        (
            "ra_pmdec_corr",
            "Correlation between right ascension and proper motion in declination.",
        ),
        (
            "dec_parallax_corr",
            "Correlation between declination and parallax.",
        ),
        (
            "dec_pmra_corr",
            "Correlation between declination and proper motion in right ascension.",
        ),
        (
            "dec_pmdec_corr",
            "Correlation between declination and proper motion in declination.",
        ),
        (
            "parallax_pmra_corr",
            "Correlation between parallax and proper motion in right ascension.",
        ),
        (
            "parallax_pmdec_corr",
            "Correlation between parallax and proper motion in declination.",
        ),
        (
            "pmra_pmdec_corr",
            "Correlation between proper motion in right ascension and proper motion in declination.",
        ),
    ];
    for (k, &(name, desc)) in CORR.iter().enumerate() {
        c.f32o(
            m(name, "", "stat.correlation", desc),
            it().map(|r| r.corr[k]),
        );
    }
    c.i32(
        m(
            "astrometric_n_obs_al",
            "",
            "meta.number",
            "Total number of AL observations (CCD transits) used in the astrometric solution.",
        ),
        it().map(|r| r.n_obs_al),
    );
    c.i32(
        m(
            "astrometric_n_obs_ac",
            "",
            "meta.number",
            "Total number of AC observations (CCD transits) used in the astrometric solution.",
        ),
        it().map(|r| r.n_obs_ac),
    );
    c.i32(
        m(
            "astrometric_n_good_obs_al",
            "",
            "meta.number",
            "Number of good AL observations.",
        ),
        it().map(|r| r.n_obs_al - r.n_bad_obs_al),
    );
    c.i32(
        m(
            "astrometric_n_bad_obs_al",
            "",
            "meta.number",
            "Number of bad AL observations.",
        ),
        it().map(|r| r.n_bad_obs_al),
    );
    c.f32(
        m(
            "astrometric_gof_al",
            "",
            "stat.fit.goodness",
            "Goodness of fit statistic of the astrometric model in the AL direction.",
        ),
        it().map(|r| r.gof_al),
    );
    c.f32(
        m(
            "astrometric_chi2_al",
            "",
            "stat.fit.chi2",
            "AL chi-square value of the astrometric solution.",
        ),
        it().map(|r| r.chi2_al),
    );
    c.f32(m("astrometric_excess_noise", "mas", "stat.value", "Excess noise of the source (extra per-observation noise needed to fit the astrometric model)."), it().map(|r| r.excess_noise));
    c.f32(
        m(
            "astrometric_excess_noise_sig",
            "",
            "stat.value",
            "Significance of the excess noise.",
        ),
        it().map(|r| r.excess_noise_sig),
    );
    c.i16(m("astrometric_params_solved", "", "meta.number", "Which parameters were solved for: 3 = two-parameter, 31 = five-parameter, 95 = six-parameter solution."), it().map(|r| r.params_solved));
    c.boolean(
        m(
            "astrometric_primary_flag",
            "",
            "meta.code",
            "Primary or secondary (flag for sources with Hipparcos/Tycho-2 priors).",
        ),
        it().map(|r| r.primary_flag),
    );
    c.f32o(
        m(
            "nu_eff_used_in_astrometry",
            "um**-1",
            "em.wavenumber",
            "Effective wavenumber of the source used in the five-parameter astrometric solution.",
        ),
        it().map(|r| r.nu_eff),
    );
    c.f32o(
        m(
            "pseudocolour",
            "um**-1",
            "em.wavenumber",
            "Astrometrically estimated pseudocolour of the source (six-parameter solutions).",
        ),
        it().map(|r| r.pseudocolour.map(|p| p.0)),
    );
    c.f32o(
        m(
            "pseudocolour_error",
            "um**-1",
            "stat.error;em.wavenumber",
            "Standard error of the pseudocolour.",
        ),
        it().map(|r| r.pseudocolour.map(|p| p.1)),
    );
    c.i16(
        m(
            "astrometric_matched_transits",
            "",
            "meta.number",
            "Matched FOV transits used in the astrometric solution.",
        ),
        it().map(|r| r.matched_transits),
    );
    c.i16(m("visibility_periods_used", "", "meta.number", "Number of visibility periods (groups of observations separated by at least 4 days) used in the astrometric solution."), it().map(|r| r.visibility_periods));
    c.f32(
        m(
            "astrometric_sigma5d_max",
            "mas",
            "stat.value;pos.errorEllipse",
            "The longest semi-major axis of the 5-d error ellipsoid.",
        ),
        it().map(|r| r.sigma5d_max),
    );
    c.i16(
        m(
            "matched_transits",
            "",
            "meta.number",
            "The number of transits matched to this source.",
        ),
        it().map(|r| r.matched_transits),
    );
    c.i16(m("new_matched_transits", "", "meta.number", "The number of transits newly incorporated into an existing source in the current cycle."), it().map(|r| r.new_matched_transits));
    c.i16(
        m(
            "matched_transits_removed",
            "",
            "meta.number",
            "The number of transits removed from an existing source in the current cycle.",
        ),
        it().map(|r| r.matched_transits_removed),
    );
    c.f32(
        m(
            "ipd_gof_harmonic_amplitude",
            "",
            "stat.value",
            "Amplitude of the IPD goodness-of-fit versus position angle of scan.",
        ),
        it().map(|r| r.ipd_amp),
    );
    c.f32(
        m(
            "ipd_gof_harmonic_phase",
            "deg",
            "stat.value",
            "Phase of the IPD goodness-of-fit versus position angle of scan.",
        ),
        it().map(|r| r.ipd_phase),
    );
    c.i16(
        m(
            "ipd_frac_multi_peak",
            "%",
            "stat.value",
            "Percent of successful-IPD windows with more than one peak.",
        ),
        it().map(|r| r.ipd_multi_peak),
    );
    c.i16(
        m(
            "ipd_frac_odd_win",
            "%",
            "stat.value",
            "Percent of transits with truncated windows or multiple gates.",
        ),
        it().map(|r| r.ipd_odd_win),
    );
    c.f32(
        m("ruwe", "", "stat.value", "Renormalised unit weight error.").principal(),
        it().map(|r| r.ruwe),
    );
    c.boolean(
        m(
            "duplicated_source",
            "",
            "meta.code.status",
            "Source with multiple source identifiers.",
        ),
        it().map(|r| r.duplicated),
    );
    c.i16(
        m(
            "phot_g_n_obs",
            "",
            "meta.number",
            "Number of observations (CCD transits) contributing to G photometry.",
        ),
        it().map(|r| r.g_n_obs),
    );
    c.f64(
        m(
            "phot_g_mean_flux",
            "electron.s**-1",
            "phot.flux;stat.mean;em.opt",
            "G-band mean flux.",
        ),
        it().map(|r| r.g_flux),
    );
    c.f32(
        m(
            "phot_g_mean_flux_error",
            "electron.s**-1",
            "stat.error;phot.flux;stat.mean;em.opt",
            "Error on the G-band mean flux.",
        ),
        it().map(|r| r.g_flux_error),
    );
    c.f32(
        m(
            "phot_g_mean_flux_over_error",
            "",
            "stat.snr;phot.flux;stat.mean;em.opt",
            "G-band mean flux divided by its error.",
        ),
        it().map(|r| (r.g_flux / f64::from(r.g_flux_error)) as f32),
    );
    c.f32(
        m(
            "phot_g_mean_mag",
            "mag",
            "phot.mag;em.opt",
            "G-band mean magnitude (Vega scale).",
        )
        .principal(),
        it().map(|r| r.g_mag),
    );
    macro_rules! band {
        ($f:ident, $b:literal, $B:literal, $ucd:literal) => {
            c.i16o(
                m(
                    concat!("phot_", $b, "_n_obs"),
                    "",
                    "meta.number",
                    concat!(
                        "Number of observations contributing to ",
                        $B,
                        " photometry."
                    ),
                ),
                it().map(|r| r.$f.map(|x| x.0)),
            );
            c.f64o(
                m(
                    concat!("phot_", $b, "_mean_flux"),
                    "electron.s**-1",
                    concat!("phot.flux;stat.mean;", $ucd),
                    concat!("Integrated ", $B, " mean flux."),
                ),
                it().map(|r| r.$f.map(|x| x.1)),
            );
            c.f32o(
                m(
                    concat!("phot_", $b, "_mean_flux_error"),
                    "electron.s**-1",
                    concat!("stat.error;phot.flux;stat.mean;", $ucd),
                    concat!("Error on the integrated ", $B, " mean flux."),
                ),
                it().map(|r| r.$f.map(|x| x.2)),
            );
            c.f32o(
                m(
                    concat!("phot_", $b, "_mean_flux_over_error"),
                    "",
                    concat!("stat.snr;phot.flux;stat.mean;", $ucd),
                    concat!("Integrated ", $B, " mean flux divided by its error."),
                ),
                it().map(|r| r.$f.map(|x| (x.1 / f64::from(x.2)) as f32)),
            );
            c.f32o(
                m(
                    concat!("phot_", $b, "_mean_mag"),
                    "mag",
                    concat!("phot.mag;", $ucd),
                    concat!("Integrated ", $B, " mean magnitude (Vega scale)."),
                ),
                it().map(|r| r.$f.and_then(|x| x.3)),
            );
        };
    }
    band!(bp, "bp", "BP", "em.opt.B");
    band!(rp, "rp", "RP", "em.opt.R");
    c.f32o(
        m(
            "phot_bp_rp_excess_factor",
            "",
            "arith.factor;phot.flux;em.opt",
            "BP/RP excess factor: (BP flux + RP flux) / G flux.",
        ),
        it().map(|r| r.excess_factor),
    );
    c.i16o(
        m(
            "phot_bp_n_contaminated_transits",
            "",
            "meta.number",
            "Number of BP transits contaminated by nearby sources.",
        ),
        it().map(|r| r.bp_contaminated),
    );
    c.i16o(
        m(
            "phot_bp_n_blended_transits",
            "",
            "meta.number",
            "Number of BP transits blended with nearby sources.",
        ),
        it().map(|r| r.bp_blended),
    );
    c.i16o(
        m(
            "phot_rp_n_contaminated_transits",
            "",
            "meta.number",
            "Number of RP transits contaminated by nearby sources.",
        ),
        it().map(|r| r.rp_contaminated),
    );
    c.i16o(
        m(
            "phot_rp_n_blended_transits",
            "",
            "meta.number",
            "Number of RP transits blended with nearby sources.",
        ),
        it().map(|r| r.rp_blended),
    );
    c.i16(
        m(
            "phot_proc_mode",
            "",
            "meta.code",
            "Photometry processing mode (0 gold, 1 silver, 2 bronze).",
        ),
        it().map(|r| r.proc_mode),
    );
    let colour = |a: Option<f32>, b: Option<f32>| a.zip(b).map(|(a, b)| a - b);
    c.f32o(
        m(
            "bp_rp",
            "mag",
            "phot.color;em.opt.B;em.opt.R",
            "BP - RP colour.",
        )
        .principal(),
        it().map(|r| colour(r.bp.and_then(|x| x.3), r.rp.and_then(|x| x.3))),
    );
    c.f32o(
        m(
            "bp_g",
            "mag",
            "phot.color;em.opt.B;em.opt",
            "BP - G colour.",
        ),
        it().map(|r| colour(r.bp.and_then(|x| x.3), Some(r.g_mag))),
    );
    c.f32o(
        m(
            "g_rp",
            "mag",
            "phot.color;em.opt;em.opt.R",
            "G - RP colour.",
        ),
        it().map(|r| colour(Some(r.g_mag), r.rp.and_then(|x| x.3))),
    );
    c.f32o(
        m(
            "radial_velocity",
            "km.s**-1",
            "spect.dopplerVeloc.opt;em.opt.I",
            "Radial velocity (barycentric).",
        )
        .principal(),
        it().map(|r| r.rv.map(|v| v.0)),
    );
    c.f32o(
        m(
            "radial_velocity_error",
            "km.s**-1",
            "stat.error;spect.dopplerVeloc.opt;em.opt.I",
            "Radial velocity error.",
        ),
        it().map(|r| r.rv.map(|v| v.1)),
    );
    c.i16o(
        m(
            "rv_method_used",
            "",
            "meta.code.class",
            "Method used to obtain the radial velocity (1 combined spectrum, 2 median of epochs).",
        ),
        it().map(|r| r.rv.map(|v| v.2)),
    );
    c.i16o(
        m(
            "rv_nb_transits",
            "",
            "meta.number",
            "Number of transits used to compute the radial velocity.",
        ),
        it().map(|r| r.rv.map(|v| v.3)),
    );
    c.f32o(m("rv_template_teff", "K", "phys.temperature.effective", "Effective temperature of the synthetic spectrum template used for the radial velocity."), it().map(|r| r.rv.map(|v| v.4)));
    c.f32o(
        m(
            "grvs_mag",
            "mag",
            "phot.mag;em.opt.I",
            "Integrated Grvs magnitude.",
        ),
        it().map(|r| r.rv.map(|v| v.5)),
    );
    c.string(
        m(
            "phot_variable_flag",
            "",
            "meta.code;src.var",
            "Photometric variability flag: VARIABLE or NOT_AVAILABLE.",
        ),
        it().map(|r| {
            if r.variable {
                "VARIABLE"
            } else {
                "NOT_AVAILABLE"
            }
            .to_string()
        }),
    );
    c.f64(
        m("l", "deg", "pos.galactic.lon", "Galactic longitude."),
        it().map(|r| r.l),
    );
    c.f64(
        m("b", "deg", "pos.galactic.lat", "Galactic latitude."),
        it().map(|r| r.b),
    );
    c.f64(
        m("ecl_lon", "deg", "pos.ecliptic.lon", "Ecliptic longitude."),
        it().map(|r| r.ecl_lon),
    );
    c.f64(
        m("ecl_lat", "deg", "pos.ecliptic.lat", "Ecliptic latitude."),
        it().map(|r| r.ecl_lat),
    );
    c.boolean(m("in_qso_candidates", "", "meta.code", "Flag indicating the availability of additional information in the QSO candidates table."), it().map(|r| r.qso));
    c.boolean(m("in_galaxy_candidates", "", "meta.code", "Flag indicating the availability of additional information in the galaxy candidates table."), it().map(|r| r.galaxy));
    c.i16(m("non_single_star", "", "meta.code", "Flag indicating the availability of additional information in the non-single-star tables."), it().map(|r| r.non_single_star));
    c.boolean(m("has_xp_continuous", "", "meta.code", "Flag indicating the availability of mean BP/RP spectra in continuous representation for this source."), it().map(|r| r.has_xp));
    c.boolean(m("has_xp_sampled", "", "meta.code", "Flag indicating the availability of mean BP/RP spectra in sampled form for this source."), it().map(|r| r.has_xp && r.g_mag < 17.65));
    c.boolean(
        m(
            "has_rvs",
            "",
            "meta.code",
            "Flag indicating the availability of mean RVS spectrum for this source.",
        ),
        it().map(|r| r.rv.is_some_and(|v| v.5 < 12.0)),
    );
    c.boolean(
        m(
            "has_epoch_photometry",
            "",
            "meta.code",
            "Flag indicating the availability of epoch photometry for this source.",
        ),
        it().map(|r| r.has_epoch),
    );
    c.boolean(
        m(
            "has_epoch_rv",
            "",
            "meta.code",
            "Flag indicating the availability of epoch radial velocity for this source.",
        ),
        it().map(|_| false),
    );
    c.f32o(
        m(
            "classprob_dsc_combmod_star",
            "",
            "stat.probability",
            "Probability from DSC-Combmod of being a single star.",
        ),
        it().map(|r| r.dsc_star),
    );
    c.f32o(
        m(
            "teff_gspphot",
            "K",
            "phys.temperature.effective",
            "Effective temperature from GSP-Phot Aeneas best library using BP/RP spectra.",
        ),
        it().map(|r| r.gspphot.map(|v| v.0)),
    );
    c.f32o(
        m(
            "logg_gspphot",
            "log(cm.s**-2)",
            "phys.gravity",
            "Surface gravity from GSP-Phot Aeneas best library using BP/RP spectra.",
        ),
        it().map(|r| r.gspphot.map(|v| v.1)),
    );
    c.f32o(
        m(
            "mh_gspphot",
            "dex",
            "phys.abund.Z",
            "Iron abundance from GSP-Phot Aeneas best library using BP/RP spectra.",
        ),
        it().map(|r| r.gspphot.map(|v| v.2)),
    );
    c.f32o(
        m(
            "distance_gspphot",
            "pc",
            "pos.distance;pos.eq",
            "Distance from GSP-Phot Aeneas best library using BP/RP spectra.",
        ),
        it().map(|r| r.gspphot.map(|v| v.3)),
    );
    c.f32o(
        m(
            "ag_gspphot",
            "mag",
            "phys.absorption;em.opt",
            "Extinction in the G band from GSP-Phot Aeneas best library using BP/RP spectra.",
        ),
        it().map(|r| r.gspphot.map(|v| v.4)),
    );
    c.f32o(
        m(
            "ebpminrp_gspphot",
            "mag",
            "phot.color.excess",
            "Reddening E(G_BP - G_RP) from GSP-Phot Aeneas best library using BP/RP spectra.",
        ),
        it().map(|r| r.gspphot.map(|v| v.5)),
    );
    c.finish()
}
