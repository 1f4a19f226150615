//! The "true" sky: positions, magnitudes, colours, distances and motions of every source,
//! drawn once, sequentially, from one seeded stream (cheap: ~1 s per million sources). The
//! per-table observables (errors, noise, spectra, light curves) are drawn later per chunk.
//!
//! Components: thin disk concentrated toward the Galactic plane and centre, bulge, halo,
//! LMC, open clusters (a few hundred members within 0.2 deg, common motion and parallax),
//! and wide binaries (pairs 1-5 arcsec apart with common parallax and proper motion).

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Exp, StandardNormal};

use crate::DemoOptions;
use crate::rng::{Stream, rng_for};
use crate::sky;

/// Start of the DR3 observation window, in days since JD 2455197.5 (= 2014-07-25).
pub(crate) const DR3_T_START: f64 = 1666.4;
/// End of the DR3 observation window (2017-05-28), same time scale.
pub(crate) const DR3_T_END: f64 = 2704.4;
/// Cluster radius (deg): every member lies within it.
pub(crate) const CLUSTER_RADIUS_DEG: f64 = 0.2;

/// Galactic population a source belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component {
    Disk,
    Bulge,
    Halo,
    Lmc,
    Cluster,
    Binary,
}

/// Light-curve shape injected into an epoch-photometry source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Sinusoid,
    Eclipsing,
    Sawtooth,
}

impl Shape {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Sinusoid => "sinusoid",
            Shape::Eclipsing => "eclipsing",
            Shape::Sawtooth => "sawtooth",
        }
    }

    /// Normalised light curve in magnitudes at `phase` in [0, 1): 0 at the faintest point
    /// and -1 at the brightest, so `m = mean + amplitude * (value + offset)`; the
    /// peak-to-peak amplitude is exactly `amplitude`.
    pub(crate) fn profile(self, phase: f64) -> f64 {
        let p = phase.rem_euclid(1.0);
        match self {
            // m = -A/2 cos: brightest at phase 0.
            Shape::Sinusoid => -0.5 - 0.5 * (2.0 * std::f64::consts::PI * p).cos(),
            // Detached eclipsing binary: primary eclipse (full depth) at phase 0, secondary
            // (half depth) at 0.5, Gaussian-shaped, out-of-eclipse level -1.
            Shape::Eclipsing => {
                let w = 0.025;
                let d0 = p.min(1.0 - p);
                let d1 = (p - 0.5).abs();
                let dip = (-0.5 * (d0 / w).powi(2)).exp() + 0.5 * (-0.5 * (d1 / w).powi(2)).exp();
                -1.0 + dip.min(1.0)
            }
            // RR Lyrae-like: fast rise to maximum over 15% of the cycle, slow linear decline.
            Shape::Sawtooth => {
                if p < 0.15 {
                    -p / 0.15
                } else {
                    -1.0 + (p - 0.15) / 0.85
                }
            }
        }
    }

    /// Mean of `profile` over a cycle, so the mean magnitude of the curve is the catalogue G.
    pub(crate) fn profile_mean(self) -> f64 {
        let n = 2000;
        (0..n)
            .map(|i| self.profile((i as f64 + 0.5) / n as f64))
            .sum::<f64>()
            / n as f64
    }
}

/// Injected variability of one epoch-photometry source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Variability {
    pub(crate) shape: Shape,
    /// Period (d).
    pub(crate) period: f64,
    /// Peak-to-peak amplitude in G (mag).
    pub(crate) amplitude: f64,
    /// Epoch of phase 0 (d, BJD - 2455197.5).
    pub(crate) epoch: f64,
}

/// Role of a source in the planted XP near-copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XpRole {
    None,
    Template(usize),
    Copy(usize),
}

/// True properties of one source.
#[derive(Clone, Debug)]
pub(crate) struct Star {
    /// Generation order (stable tie-breaker within a HEALPix cell).
    pub(crate) order: u32,
    pub(crate) ra: f64,
    pub(crate) dec: f64,
    /// True mean G (mag).
    pub(crate) g: f64,
    /// Intrinsic BP-RP (mag).
    pub(crate) bp_rp0: f64,
    /// Extinction in G (mag).
    pub(crate) ag: f64,
    pub(crate) giant: bool,
    pub(crate) distance_pc: f64,
    /// True proper motion (mas/yr).
    pub(crate) pmra: f64,
    pub(crate) pmdec: f64,
    /// True radial velocity (km/s).
    pub(crate) rv: f64,
    /// Metallicity [M/H] (dex).
    pub(crate) mh: f64,
    pub(crate) component: Component,
    pub(crate) source_id: i64,
    pub(crate) random_index: i64,
    pub(crate) has_xp: bool,
    pub(crate) variable: bool,
    pub(crate) has_epoch: bool,
    pub(crate) xp_role: XpRole,
    pub(crate) variability: Option<Variability>,
}

impl Star {
    /// Observed (reddened) BP-RP.
    pub(crate) fn bp_rp(&self) -> f64 {
        self.bp_rp0 + self.ag / 1.9
    }
    /// True mean G-RP from the observed colour (a fit to the DR3 colour-colour locus).
    pub(crate) fn g_rp(&self) -> f64 {
        let c = self.bp_rp().clamp(-0.6, 5.5);
        0.62 * c - 0.06 * c * c.max(0.0)
    }
    pub(crate) fn rp_mag(&self) -> f64 {
        self.g - self.g_rp()
    }
    pub(crate) fn bp_mag(&self) -> f64 {
        self.rp_mag() + self.bp_rp()
    }
    pub(crate) fn parallax_true(&self) -> f64 {
        1000.0 / self.distance_pc
    }
    /// Effective temperature from the intrinsic colour (a Casagrande-like relation).
    pub(crate) fn teff(&self) -> f64 {
        let x = self.bp_rp0.clamp(-0.4, 4.5);
        (5040.0 / (0.4929 + 0.5092 * x - 0.0353 * x * x)).clamp(2500.0, 40000.0)
    }
    pub(crate) fn logg(&self) -> f64 {
        if self.giant {
            2.4
        } else if self.bp_rp0 > 2.0 {
            4.9
        } else {
            4.4
        }
    }
}

/// A planted open cluster (truth).
#[derive(Clone, Debug)]
pub(crate) struct Cluster {
    pub(crate) ra: f64,
    pub(crate) dec: f64,
    pub(crate) distance_pc: f64,
    pub(crate) pmra: f64,
    pub(crate) pmdec: f64,
    pub(crate) rv: f64,
    /// Indices into `Population::stars` (after sorting).
    pub(crate) members: Vec<usize>,
}

/// A planted wide binary (truth): indices into `Population::stars` and separation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binary {
    pub(crate) primary: usize,
    pub(crate) secondary: usize,
    pub(crate) sep_arcsec: f64,
}

/// A template and its planted near-copies (indices into `Population::stars`).
#[derive(Clone, Debug)]
pub(crate) struct TemplateSet {
    pub(crate) template: usize,
    pub(crate) copies: Vec<usize>,
}

/// Number of planted XP templates and copies per template.
pub(crate) const N_TEMPLATES: usize = 3;
pub(crate) const COPIES_PER_TEMPLATE: usize = 5;

/// The whole true sky, sorted by source_id.
pub(crate) struct Population {
    pub(crate) stars: Vec<Star>,
    pub(crate) clusters: Vec<Cluster>,
    pub(crate) binaries: Vec<Binary>,
    pub(crate) templates: Vec<TemplateSet>,
}

pub(crate) fn gauss(rng: &mut StdRng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

fn uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * rng.random::<f64>()).exp()
}

/// G magnitude from a luminosity function rising as 10^(0.35 G) up to G = 20.5 and falling
/// off as a half-Gaussian (sigma 0.3 mag) beyond, as Gaia's completeness does; G >= 3.
pub(crate) fn draw_g(rng: &mut StdRng) -> f64 {
    const SLOPE: f64 = 0.35 * std::f64::consts::LN_10;
    // Mass of the exponential part (1/SLOPE) vs the half-Gaussian tail (0.3 sqrt(pi/2)).
    const P_TAIL: f64 = 0.376 / (0.376 + 1.0 / SLOPE);
    if rng.random::<f64>() < P_TAIL {
        (20.5 + (0.3 * gauss(rng)).abs()).min(21.3)
    } else {
        let u = 1.0 - rng.random::<f64>(); // (0, 1]
        (20.5 + u.ln() / SLOPE).max(3.0)
    }
}

/// Main-sequence absolute G magnitude for an intrinsic BP-RP (piecewise linear through
/// representative points of the DR3 HR diagram).
fn ms_abs_g(bp_rp0: f64) -> f64 {
    const PTS: [(f64, f64); 8] = [
        (-0.3, -1.5),
        (0.0, 1.0),
        (0.5, 3.4),
        (0.82, 4.7),
        (1.5, 7.5),
        (2.5, 10.5),
        (3.8, 15.0),
        (4.8, 17.5),
    ];
    let x = bp_rp0.clamp(PTS[0].0, PTS[7].0);
    for w in PTS.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    PTS[7].1
}

/// Disk extinction: grows toward the plane, capped.
fn extinction(rng: &mut StdRng, b_deg: f64, distance_hint: f64) -> f64 {
    let s = b_deg.to_radians().sin().abs().max(0.03);
    let full = (0.12 / s).min(6.0);
    // Nearby stars are in front of most of the dust.
    let frac = (distance_hint / 2000.0).min(1.0);
    full * uniform(rng, 0.2, 1.0) * frac.max(0.05)
}

struct Draw {
    l: f64,
    b: f64,
    component: Component,
}

fn draw_position(rng: &mut StdRng) -> Draw {
    let u = rng.random::<f64>();
    let (component, l, b) = if u < 0.60 {
        // Disk: longitude concentrated toward the Galactic centre, exponential latitude.
        let l = if rng.random::<f64>() < 0.45 {
            50.0 * gauss(rng)
        } else {
            uniform(rng, 0.0, 360.0)
        };
        let scale: f64 = 6.0;
        let b = Exp::new(1.0 / scale)
            .map(|e: Exp<f64>| e.sample(rng))
            .unwrap_or(scale)
            .min(89.0)
            * if rng.random::<bool>() { 1.0 } else { -1.0 };
        (Component::Disk, l, b)
    } else if u < 0.77 {
        (Component::Bulge, 7.0 * gauss(rng), 4.5 * gauss(rng))
    } else if u < 0.97 {
        // Halo / thick disk: isotropic in direction.
        let l = uniform(rng, 0.0, 360.0);
        let b = uniform(rng, -1.0, 1.0).asin().to_degrees();
        (Component::Halo, l, b)
    } else {
        (
            Component::Lmc,
            280.47 + 3.0 * gauss(rng),
            -32.89 + 2.5 * gauss(rng),
        )
    };
    Draw {
        l: l.rem_euclid(360.0),
        b: b.clamp(-89.999, 89.999),
        component,
    }
}

/// A field star at a given position and component.
fn field_star(rng: &mut StdRng, d: &Draw, order: u32) -> Star {
    let (ra, dec) = sky::galactic_to_icrs(d.l, d.b);
    let g = draw_g(rng);
    let giant_p = match d.component {
        Component::Bulge => 0.6,
        Component::Lmc => 0.7,
        Component::Halo => 0.3,
        _ => 0.15,
    };
    let giant = rng.random::<f64>() < giant_p;
    let bp_rp0 = if giant {
        1.25 + 0.25 * gauss(rng)
    } else {
        let v = rng.random::<f64>();
        if v < 0.05 {
            0.15 + 0.2 * gauss(rng)
        } else if v < 0.75 {
            0.95 + 0.3 * gauss(rng)
        } else {
            2.4 + 0.6 * gauss(rng)
        }
    }
    .clamp(-0.35, 4.8);
    let abs_g = if giant {
        0.7 + 0.8 * gauss(rng)
    } else {
        ms_abs_g(bp_rp0) + 0.4 * gauss(rng)
    };
    let (distance_pc, ag) = match d.component {
        Component::Bulge => {
            let dist = (8200.0 + 800.0 * gauss(rng)).max(5000.0);
            (dist, extinction(rng, d.b, dist))
        }
        Component::Lmc => ((49_600.0 + 1500.0 * gauss(rng)).max(40_000.0), 0.25),
        _ => {
            let mut dist = 10f64.powf((g - abs_g + 5.0) / 5.0);
            let ag = if d.component == Component::Halo {
                0.05 * rng.random::<f64>()
            } else {
                extinction(rng, d.b, dist)
            };
            dist = 10f64.powf((g - abs_g - ag + 5.0) / 5.0);
            (dist.clamp(2.0, 80_000.0), ag)
        }
    };
    let (sigma_v, mean_rv, mh) = match d.component {
        Component::Halo => (140.0, 0.0, -1.4 + 0.5 * gauss(rng)),
        Component::Bulge => (100.0, 0.0, 0.4 * gauss(rng)),
        Component::Lmc => (20.0, 262.0, -0.6 + 0.2 * gauss(rng)),
        _ => (30.0, 0.0, -0.1 + 0.25 * gauss(rng)),
    };
    let kpc = distance_pc / 1000.0;
    let (pmra, pmdec) = if d.component == Component::Lmc {
        (1.91 + 0.05 * gauss(rng), 0.23 + 0.05 * gauss(rng))
    } else {
        (
            sigma_v * gauss(rng) / (4.74 * kpc),
            (sigma_v * gauss(rng) - 10.0) / (4.74 * kpc),
        )
    };
    Star {
        order,
        ra,
        dec,
        g,
        bp_rp0,
        ag,
        giant,
        distance_pc,
        pmra,
        pmdec,
        rv: mean_rv + sigma_v * gauss(rng),
        mh,
        component: d.component,
        source_id: 0,
        random_index: 0,
        has_xp: false,
        variable: false,
        has_epoch: false,
        xp_role: XpRole::None,
        variability: None,
    }
}

impl Population {
    /// Draws the population for `opts` (already validated) and sorts it by source_id.
    pub(crate) fn generate(opts: &DemoOptions) -> Population {
        let mut rng = rng_for(opts.seed, Stream::Population, 0);
        let n = usize::try_from(opts.sources).unwrap_or(usize::MAX);
        let n_clusters: usize = if n >= 20_000 {
            5
        } else if n >= 2_000 {
            2
        } else {
            0
        };
        let members = if n_clusters > 0 {
            (n / 600).clamp(20, 300)
        } else {
            0
        };
        let n_pairs = n / 100;
        let n_field = n - n_clusters * members - 2 * n_pairs;

        let mut stars: Vec<Star> = Vec::with_capacity(n);
        for _ in 0..n_field {
            let d = draw_position(&mut rng);
            let order = stars.len() as u32;
            stars.push(field_star(&mut rng, &d, order));
        }

        // Clusters: members within CLUSTER_RADIUS_DEG, common distance and motion.
        let mut clusters = Vec::with_capacity(n_clusters);
        let mut cluster_orders: Vec<Vec<u32>> = Vec::with_capacity(n_clusters);
        for c in 0..n_clusters {
            let l = (c as f64 * 360.0 / n_clusters as f64 + uniform(&mut rng, 0.0, 40.0))
                .rem_euclid(360.0);
            let b = (3.0 * gauss(&mut rng)).clamp(-15.0, 15.0);
            let (ra, dec) = sky::galactic_to_icrs(l, b);
            let distance_pc = uniform(&mut rng, 400.0, 2500.0);
            let kpc = distance_pc / 1000.0;
            let (pmra, pmdec) = (
                25.0 * gauss(&mut rng) / (4.74 * kpc),
                25.0 * gauss(&mut rng) / (4.74 * kpc),
            );
            let rv = 25.0 * gauss(&mut rng);
            let mh = -0.1 + 0.2 * gauss(&mut rng);
            let ag = extinction(&mut rng, b, distance_pc);
            let mut ids = Vec::with_capacity(members);
            for _ in 0..members {
                let sep = CLUSTER_RADIUS_DEG * rng.random::<f64>().powf(1.5);
                let (mra, mdec) = sky::offset(ra, dec, sep, uniform(&mut rng, 0.0, 360.0));
                // Members span the cluster main sequence: draw G from the LF within the
                // range the cluster distance allows, and the colour from the MS relation.
                let g = loop {
                    let g = draw_g(&mut rng);
                    if (8.0..21.0).contains(&g) {
                        break g;
                    }
                };
                let dm = 5.0 * distance_pc.log10() - 5.0;
                let abs_g = g - dm - ag;
                let bp_rp0 = ms_colour(abs_g);
                let order = stars.len() as u32;
                ids.push(order);
                stars.push(Star {
                    order,
                    ra: mra,
                    dec: mdec,
                    g,
                    bp_rp0,
                    ag,
                    giant: abs_g < 1.5,
                    distance_pc: distance_pc * (1.0 + 0.003 * gauss(&mut rng)),
                    pmra: pmra + 0.03 * gauss(&mut rng),
                    pmdec: pmdec + 0.03 * gauss(&mut rng),
                    rv: rv + 0.8 * gauss(&mut rng),
                    mh,
                    component: Component::Cluster,
                    source_id: 0,
                    random_index: 0,
                    has_xp: false,
                    variable: false,
                    has_epoch: false,
                    xp_role: XpRole::None,
                    variability: None,
                });
            }
            cluster_orders.push(ids);
            clusters.push(Cluster {
                ra,
                dec,
                distance_pc,
                pmra,
                pmdec,
                rv,
                members: Vec::new(),
            });
        }

        // Wide binaries: a field primary and a fainter companion 1-5 arcsec away with the
        // same distance and nearly the same proper motion (orbital motion << 0.1 mas/yr).
        let mut pair_orders = Vec::with_capacity(n_pairs);
        for _ in 0..n_pairs {
            let d = draw_position(&mut rng);
            let o1 = stars.len() as u32;
            let mut p = field_star(&mut rng, &d, o1);
            p.component = Component::Binary;
            let sep = uniform(&mut rng, 1.0, 5.0);
            let (ra2, dec2) = sky::offset(p.ra, p.dec, sep / 3600.0, uniform(&mut rng, 0.0, 360.0));
            let g2 = (p.g + (1.5 * gauss(&mut rng)).abs()).min(21.0);
            let dm = 5.0 * p.distance_pc.log10() - 5.0;
            let s = Star {
                order: o1 + 1,
                ra: ra2,
                dec: dec2,
                g: g2,
                bp_rp0: ms_colour(g2 - dm - p.ag),
                giant: false,
                distance_pc: p.distance_pc * (1.0 + 1e-4 * gauss(&mut rng)),
                pmra: p.pmra + 0.05 * gauss(&mut rng),
                pmdec: p.pmdec + 0.05 * gauss(&mut rng),
                rv: p.rv + 0.5 * gauss(&mut rng),
                ..p.clone()
            };
            stars.push(p);
            stars.push(s);
            pair_orders.push((o1, o1 + 1, sep));
        }

        // source_id = HEALPix level-12 NESTED index << 35 + running number within the cell.
        let mut keyed: Vec<(u64, Star)> = stars
            .into_iter()
            .map(|s| (sky::healpix12(s.ra, s.dec), s))
            .collect();
        keyed.sort_by_key(|(h, s)| (*h, s.order));
        let mut stars: Vec<Star> = Vec::with_capacity(keyed.len());
        let mut prev = u64::MAX;
        let mut running: i64 = 0;
        for (h, mut s) in keyed {
            running = if h == prev { running + 1 } else { 1 };
            prev = h;
            s.source_id = ((h as i64) << sky::SOURCE_ID_SHIFT) + running;
            stars.push(s);
        }
        let mut index_of = vec![0usize; stars.len()];
        for (i, s) in stars.iter().enumerate() {
            index_of[s.order as usize] = i;
        }

        // random_index: a random permutation of 0..n, as in DR3.
        let mut perm: Vec<i64> = (0..stars.len() as i64).collect();
        perm.shuffle(&mut rng);
        for (s, r) in stars.iter_mut().zip(perm) {
            s.random_index = r;
        }

        // XP spectra: the brightest sources (DR3 published them for G < 17.65).
        let n_xp = usize::try_from(opts.xp_spectra)
            .unwrap_or(usize::MAX)
            .min(stars.len());
        let mut by_g: Vec<usize> = (0..stars.len()).collect();
        by_g.sort_by(|&a, &b| stars[a].g.total_cmp(&stars[b].g).then(a.cmp(&b)));
        let xp_set: Vec<usize> = by_g[..n_xp].to_vec();
        for &i in &xp_set {
            stars[i].has_xp = true;
        }
        let templates = plant_templates(&mut rng, &mut stars, &xp_set);

        // Variables: a random set of G < 20 sources; epoch photometry for `light_curves` of
        // them (DR3 published epoch photometry only for a subset of VARIABLE sources).
        let mut eligible: Vec<usize> = (0..stars.len())
            .filter(|&i| stars[i].g < 20.0 && stars[i].xp_role == XpRole::None)
            .collect();
        eligible.shuffle(&mut rng);
        let n_lc = usize::try_from(opts.light_curves)
            .unwrap_or(usize::MAX)
            .min(eligible.len());
        let n_var = (n_lc + n_lc / 4).min(eligible.len());
        eligible.truncate(n_var);
        for (k, &i) in eligible.iter().enumerate() {
            stars[i].variable = true;
            if k < n_lc {
                stars[i].has_epoch = true;
                stars[i].variability = Some(draw_variability(&mut rng));
            }
        }

        let clusters = clusters
            .into_iter()
            .zip(cluster_orders)
            .map(|(c, ids)| Cluster {
                members: ids.iter().map(|&o| index_of[o as usize]).collect(),
                ..c
            })
            .collect();
        let binaries = pair_orders
            .into_iter()
            .map(|(a, b, sep)| Binary {
                primary: index_of[a as usize],
                secondary: index_of[b as usize],
                sep_arcsec: sep,
            })
            .collect();
        Population {
            stars,
            clusters,
            binaries,
            templates,
        }
    }
}

/// Intrinsic colour of a main-sequence star of absolute magnitude `abs_g` (inverse of
/// `ms_abs_g`).
fn ms_colour(abs_g: f64) -> f64 {
    let (mut lo, mut hi) = (-0.3, 4.8);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if ms_abs_g(mid) < abs_g {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn draw_variability(rng: &mut StdRng) -> Variability {
    let u = rng.random::<f64>();
    let (shape, period) = if u < 0.6 {
        (Shape::Sinusoid, log_uniform(rng, 0.1, 300.0))
    } else if u < 0.8 {
        (Shape::Eclipsing, log_uniform(rng, 0.2, 30.0))
    } else {
        (Shape::Sawtooth, log_uniform(rng, 0.1, 60.0))
    };
    Variability {
        shape,
        period,
        amplitude: log_uniform(rng, 0.02, 0.5),
        epoch: DR3_T_START + period * rng.random::<f64>(),
    }
}

/// Picks `N_TEMPLATES` bright XP sources of different colours as templates and
/// `COPIES_PER_TEMPLATE` other XP sources per template as near-copies; the copies take the
/// template's photometry (their spectra are drawn later from the template's covariance).
fn plant_templates(rng: &mut StdRng, stars: &mut [Star], xp_set: &[usize]) -> Vec<TemplateSet> {
    let n_t = N_TEMPLATES.min(xp_set.len() / (2 * (COPIES_PER_TEMPLATE + 1)));
    let mut sets = Vec::with_capacity(n_t);
    let targets = [0.35, 0.95, 2.2];
    let mut taken = vec![false; stars.len()];
    for (k, &target) in targets.iter().enumerate().take(n_t) {
        let best = xp_set
            .iter()
            .copied()
            .filter(|&i| !taken[i] && stars[i].component != Component::Binary)
            .min_by(|&a, &b| {
                let da = (stars[a].bp_rp() - target).abs() + 0.05 * (stars[a].g - 13.0).abs();
                let db = (stars[b].bp_rp() - target).abs() + 0.05 * (stars[b].g - 13.0).abs();
                da.total_cmp(&db).then(a.cmp(&b))
            });
        let Some(t) = best else { break };
        taken[t] = true;
        stars[t].xp_role = XpRole::Template(k);
        let mut copies = Vec::with_capacity(COPIES_PER_TEMPLATE);
        let mut guard = 0;
        while copies.len() < COPIES_PER_TEMPLATE && guard < 100_000 {
            guard += 1;
            let c = xp_set[rng.random_range(0..xp_set.len())];
            if taken[c] || stars[c].component == Component::Binary {
                continue;
            }
            taken[c] = true;
            let tpl = stars[t].clone();
            let s = &mut stars[c];
            s.xp_role = XpRole::Copy(k);
            s.g = tpl.g;
            s.bp_rp0 = tpl.bp_rp0;
            s.ag = tpl.ag;
            s.giant = tpl.giant;
            s.mh = tpl.mh;
            copies.push(c);
        }
        sets.push(TemplateSet {
            template: t,
            copies,
        });
    }
    sets
}
