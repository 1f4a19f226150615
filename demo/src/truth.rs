//! Ground truth of the planted signals, written to `out_dir/truth/` for tests and demos:
//! `xp_templates.json`, `periods.csv`, `clusters.json`, `binaries.csv`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::DemoError;
use crate::population::{CLUSTER_RADIUS_DEG, Population};

/// File names inside the truth directory.
pub(crate) const XP_TEMPLATES: &str = "xp_templates.json";
pub(crate) const PERIODS: &str = "periods.csv";
pub(crate) const CLUSTERS: &str = "clusters.json";
pub(crate) const BINARIES: &str = "binaries.csv";

#[derive(Serialize)]
struct TemplatesFile {
    description: &'static str,
    templates: Vec<TemplateEntry>,
}

#[derive(Serialize)]
struct TemplateEntry {
    source_id: i64,
    g_mag_true: f64,
    bp_rp_true: f64,
    copies: Vec<i64>,
}

#[derive(Serialize)]
struct ClustersFile {
    description: &'static str,
    clusters: Vec<ClusterEntry>,
}

#[derive(Serialize)]
struct ClusterEntry {
    ra: f64,
    dec: f64,
    radius_deg: f64,
    distance_pc: f64,
    parallax_mas: f64,
    pmra: f64,
    pmdec: f64,
    radial_velocity: f64,
    members: Vec<i64>,
}

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    std::fs::write(path, text).map_err(|e| DemoError::io(path, e))
}

fn json<T: Serialize>(path: &Path, value: &T) -> Result<(), DemoError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| DemoError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write(path, &(text + "\n"))
}

/// Writes all truth files into `dir`.
pub(crate) fn write_all(dir: &Path, pop: &Population) -> Result<(), DemoError> {
    let stars = &pop.stars;
    let templates = TemplatesFile {
        description: "Planted XP near-copies: each copy has the template's photometry and errors/correlations, and coefficients = template coefficients + E L z per band (L L^T = R of the template, z ~ N(0, I)); so with S = C_template + C_copy = 2 C the Mahalanobis d2 to the template is about chi2(110)/2.",
        templates: pop
            .templates
            .iter()
            .map(|t| TemplateEntry {
                source_id: stars[t.template].source_id,
                g_mag_true: stars[t.template].g,
                bp_rp_true: stars[t.template].bp_rp(),
                copies: t.copies.iter().map(|&c| stars[c].source_id).collect(),
            })
            .collect(),
    };
    json(&dir.join(XP_TEMPLATES), &templates)?;

    let mut csv = String::from("source_id,shape,period_d,amplitude_mag,epoch_d,mean_g_mag\n");
    for s in stars.iter().filter(|s| s.has_epoch) {
        if let Some(v) = s.variability {
            // Writing to a String cannot fail.
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{}",
                s.source_id,
                v.shape.name(),
                v.period,
                v.amplitude,
                v.epoch,
                s.g
            );
        }
    }
    write(&dir.join(PERIODS), &csv)?;

    let clusters = ClustersFile {
        description: "Planted open clusters: members within radius_deg of the centre with common distance (parallax) and proper motion (dispersion 0.03 mas/yr).",
        clusters: pop
            .clusters
            .iter()
            .map(|c| ClusterEntry {
                ra: c.ra,
                dec: c.dec,
                radius_deg: CLUSTER_RADIUS_DEG,
                distance_pc: c.distance_pc,
                parallax_mas: 1000.0 / c.distance_pc,
                pmra: c.pmra,
                pmdec: c.pmdec,
                radial_velocity: c.rv,
                members: c.members.iter().map(|&i| stars[i].source_id).collect(),
            })
            .collect(),
    };
    json(&dir.join(CLUSTERS), &clusters)?;

    let mut csv = String::from("source_id_primary,source_id_secondary,sep_arcsec\n");
    for b in &pop.binaries {
        let _ = writeln!(
            csv,
            "{},{},{}",
            stars[b.primary].source_id, stars[b.secondary].source_id, b.sep_arcsec
        );
    }
    write(&dir.join(BINARIES), &csv)
}
