//! Deterministic synthetic Gaia DR3-like demo catalogue for Parallax.
//!
//! Writes three tables following the Gaia DR3 data model (Gaia Collaboration 2023,
//! A&A 674, A1; the DR3 documentation, chapter 20 "Datamodel description"):
//! `gaiadr3.gaia_source`, `gaiadr3.xp_continuous_mean_spectrum` (De Angeli et al. 2023,
//! Montegriffo et al. 2023) and `gaiadr3.epoch_photometry` (Riello et al. 2021; Eyer et al.
//! 2023), plus the ground truth of the planted signals (XP near-copies, periods, clusters,
//! wide binaries) under `truth/`.
//!
//! Layout under `out_dir`:
//! ```text
//! gaiadr3/gaia_source/part-00000.parquet ...
//! gaiadr3/xp_continuous_mean_spectrum/part-00000.parquet ...
//! gaiadr3/epoch_photometry/part-00000.parquet ...
//! truth/xp_templates.json  truth/periods.csv  truth/clusters.json  truth/binaries.csv
//! DEMO_COMPLETE            (JSON: options + summary + file sizes; written last)
//! ```
//! Sources are sorted by `source_id` (HEALPix level-12 NESTED index * 2^35 + running number,
//! as Gaia builds it), so every file of every table covers one consecutive source_id range
//! (part `k` of each table covers the same range) and Parquet page statistics let a cone
//! search prune files, row groups and pages. Column descriptions, VOUnits, UCDs and the
//! principal/indexed flags are stored as Arrow field metadata (the catalogue's only metadata
//! source), the table description as Arrow schema metadata.
//!
//! Same options (including seed) => byte-identical files: the population is drawn from one
//! seeded stream, and each fixed chunk of `CHUNK_ROWS` sources has its own seeded streams, so
//! the result does not depend on the thread count.

mod columns;
mod epoch_photometry;
mod error;
mod gaia_source;
mod linalg;
mod population;
mod rng;
mod sky;
mod truth;
mod writer;
mod xp;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use error::DemoError;

use population::{Population, XpRole};
use rng::{Stream, rng_for};

/// Catalogue schema of the demo tables.
pub const SCHEMA: &str = "gaiadr3";
/// Name of the completion marker written last into `out_dir`.
pub const COMPLETE_MARKER: &str = "DEMO_COMPLETE";
/// Table names, in the order they appear in [`DemoSummary::tables`].
pub const TABLES: [&str; 3] = [
    "gaia_source",
    "xp_continuous_mean_spectrum",
    "epoch_photometry",
];
/// Sources per chunk (one part file per table per chunk). Fixed so output is reproducible.
const CHUNK_ROWS: usize = 50_000;
/// Bumped whenever the generator's output changes, so stale demo data is regenerated.
const FORMAT_VERSION: u32 = 2;
/// Largest accepted `sources` (keeps running numbers and memory sane).
const MAX_SOURCES: u64 = 50_000_000;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoOptions {
    /// Number of rows of `gaia_source`.
    pub sources: u64,
    /// Random seed; the same seed gives byte-identical files.
    pub seed: u64,
    /// Number of sources with XP spectra (the brightest ones, as in DR3).
    pub xp_spectra: u64,
    /// Number of sources with epoch photometry (a subset of the VARIABLE ones).
    pub light_curves: u64,
}

impl DemoOptions {
    /// `n` sources, `n / 10` XP spectra, `n / 40` light curves, seed 42.
    pub fn for_sources(n: u64) -> Self {
        Self {
            sources: n,
            seed: 42,
            xp_spectra: n / 10,
            light_curves: n / 40,
        }
    }

    fn validate(&self) -> Result<(), DemoError> {
        let fail = |reason: String| Err(DemoError::InvalidOptions { reason });
        if self.sources == 0 {
            return fail("sources must be at least 1".into());
        }
        if self.sources > MAX_SOURCES {
            return fail(format!(
                "sources = {} exceeds the demo limit of {MAX_SOURCES}",
                self.sources
            ));
        }
        if self.xp_spectra > self.sources {
            return fail(format!(
                "xp_spectra = {} exceeds sources = {}; use at most sources",
                self.xp_spectra, self.sources
            ));
        }
        if self.light_curves > self.sources {
            return fail(format!(
                "light_curves = {} exceeds sources = {}; use at most sources",
                self.light_curves, self.sources
            ));
        }
        Ok(())
    }
}

/// One generated table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoTable {
    /// Catalogue schema ("gaiadr3").
    pub schema: String,
    /// Table name, e.g. "gaia_source".
    pub name: String,
    /// Table directory relative to `out_dir`, e.g. "gaiadr3/gaia_source".
    pub path: PathBuf,
    /// Number of rows.
    pub rows: u64,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoSummary {
    /// The tables, in [`TABLES`] order.
    pub tables: Vec<DemoTable>,
    /// Directory with the ground-truth files (`out_dir/truth`).
    pub truth_dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    format: u32,
    generator: String,
    options: DemoOptions,
    tables: Vec<DemoTable>,
    files: Vec<MarkerFile>,
}

#[derive(Serialize, Deserialize)]
struct MarkerFile {
    path: String,
    bytes: u64,
}

fn generator_id() -> String {
    format!(
        "parallax-demo {} format {FORMAT_VERSION}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Generates the demo catalogue into `out_dir` (created if needed), replacing the demo
/// tables and truth files already there. Files are written under `out_dir/.tmp-*`, moved
/// into place when complete, and `DEMO_COMPLETE` is written last, so an interrupted run is
/// detected by [`existing`] and regenerated.
pub fn generate(out_dir: &Path, opts: &DemoOptions) -> Result<DemoSummary, DemoError> {
    opts.validate()?;
    let started = Instant::now();
    tracing::info!(out = %out_dir.display(), ?opts, "generating demo catalogue");
    std::fs::create_dir_all(out_dir).map_err(|e| DemoError::io(out_dir, e))?;
    let marker = out_dir.join(COMPLETE_MARKER);
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DemoError::io(&marker, e)),
    }
    remove_stale_tmp(out_dir)?;
    let tmp = out_dir.join(format!(".tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| DemoError::io(&tmp, e))?;
    }
    let result = generate_into(&tmp, opts);
    let tables = match result {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        "demo tables written"
    );

    // Move the finished directories into place (same file system: rename is atomic per
    // directory); the marker below is what declares the whole set complete.
    let mut moved: Vec<PathBuf> = TABLES.iter().map(|t| Path::new(SCHEMA).join(t)).collect();
    moved.push(PathBuf::from("truth"));
    for rel in &moved {
        let (src, dst) = (tmp.join(rel), out_dir.join(rel));
        if dst.exists() {
            std::fs::remove_dir_all(&dst).map_err(|e| DemoError::io(&dst, e))?;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DemoError::io(parent, e))?;
        }
        std::fs::rename(&src, &dst).map_err(|e| DemoError::io(&src, e))?;
    }
    std::fs::remove_dir_all(&tmp).map_err(|e| DemoError::io(&tmp, e))?;

    let mut files = Vec::new();
    for rel in &moved {
        list_files(out_dir, rel, &mut files)?;
    }
    let summary = DemoSummary {
        tables: tables.clone(),
        truth_dir: out_dir.join("truth"),
    };
    let m = Marker {
        format: FORMAT_VERSION,
        generator: generator_id(),
        options: *opts,
        tables,
        files,
    };
    let text = serde_json::to_string_pretty(&m).map_err(|source| DemoError::Json {
        path: marker.clone(),
        source,
    })?;
    let marker_tmp = out_dir.join(format!("{COMPLETE_MARKER}.tmp"));
    std::fs::write(&marker_tmp, text + "\n").map_err(|e| DemoError::io(&marker_tmp, e))?;
    std::fs::rename(&marker_tmp, &marker).map_err(|e| DemoError::io(&marker, e))?;
    tracing::info!(
        elapsed_s = started.elapsed().as_secs_f64(),
        "demo catalogue complete"
    );
    Ok(summary)
}

/// The summary of a complete demo catalogue in `out_dir`: `Some` only if `DEMO_COMPLETE`
/// exists, was written by this generator version, and every file it lists exists with the
/// recorded size.
pub fn existing(out_dir: &Path) -> Option<DemoSummary> {
    read_marker(out_dir).map(|(_, s)| s)
}

/// As [`existing`], and additionally requires that the catalogue was generated with `opts`.
pub fn existing_for(out_dir: &Path, opts: &DemoOptions) -> Option<DemoSummary> {
    read_marker(out_dir).and_then(|(o, s)| (o == *opts).then_some(s))
}

fn read_marker(out_dir: &Path) -> Option<(DemoOptions, DemoSummary)> {
    let text = std::fs::read_to_string(out_dir.join(COMPLETE_MARKER)).ok()?;
    let m: Marker = serde_json::from_str(&text).ok()?;
    if m.format != FORMAT_VERSION || m.generator != generator_id() {
        return None;
    }
    for f in &m.files {
        let meta = std::fs::metadata(out_dir.join(&f.path)).ok()?;
        if !meta.is_file() || meta.len() != f.bytes {
            return None;
        }
    }
    Some((
        m.options,
        DemoSummary {
            tables: m.tables,
            truth_dir: out_dir.join("truth"),
        },
    ))
}

fn remove_stale_tmp(out_dir: &Path) -> Result<(), DemoError> {
    let entries = std::fs::read_dir(out_dir).map_err(|e| DemoError::io(out_dir, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            let p = entry.path();
            std::fs::remove_dir_all(&p).map_err(|e| DemoError::io(&p, e))?;
        }
    }
    Ok(())
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<MarkerFile>) -> Result<(), DemoError> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| DemoError::io(&dir, e))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    entries.sort();
    for name in entries {
        let r = rel.join(&name);
        let p = root.join(&r);
        let meta = std::fs::metadata(&p).map_err(|e| DemoError::io(&p, e))?;
        if meta.is_dir() {
            list_files(root, &r, out)?;
        } else {
            let path = r
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(MarkerFile {
                path,
                bytes: meta.len(),
            });
        }
    }
    Ok(())
}

/// Rows written per table by one chunk.
#[derive(Default, Clone, Copy)]
struct ChunkRows([u64; 3]);

/// Shared, read-only inputs of the chunk workers.
struct Context<'a> {
    opts: &'a DemoOptions,
    pop: &'a Population,
    model: &'a xp::Model,
    template_spectra: &'a [xp::Spectrum],
    dirs: [PathBuf; 3],
}

fn generate_into(tmp: &Path, opts: &DemoOptions) -> Result<Vec<DemoTable>, DemoError> {
    let dirs = TABLES.map(|t| tmp.join(SCHEMA).join(t));
    for d in dirs.iter().chain(std::iter::once(&tmp.join("truth"))) {
        std::fs::create_dir_all(d).map_err(|e| DemoError::io(d, e))?;
    }
    let t0 = Instant::now();
    let pop = Population::generate(opts);
    tracing::debug!(elapsed_s = t0.elapsed().as_secs_f64(), "population drawn");
    let model = xp::Model::load()?;
    let template_spectra: Vec<xp::Spectrum> = pop
        .templates
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let mut rng = rng_for(opts.seed, Stream::Templates, k as u64);
            model.simulate(&pop.stars[t.template], &mut rng)
        })
        .collect();
    let ctx = Context {
        opts,
        pop: &pop,
        model: &model,
        template_spectra: &template_spectra,
        dirs,
    };
    let n_chunks = pop.stars.len().div_ceil(CHUNK_ROWS);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, n_chunks.max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<ChunkRows, DemoError>>> =
        (0..n_chunks).map(|_| None).collect();
    std::thread::scope(|scope| -> Result<(), DemoError> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= n_chunks {
                            break done;
                        }
                        done.push((k, write_chunk(&ctx, k)));
                    }
                })
            })
            .collect();
        for h in handles {
            let done = h.join().map_err(|_| DemoError::Internal {
                reason: "a generator thread panicked".into(),
            })?;
            for (k, r) in done {
                results[k] = Some(r);
            }
        }
        Ok(())
    })?;
    let mut totals = [0u64; 3];
    for r in results {
        let rows = r.ok_or_else(|| DemoError::Internal {
            reason: "a chunk was not processed".into(),
        })??;
        for (t, n) in totals.iter_mut().zip(rows.0) {
            *t += n;
        }
    }
    truth::write_all(&tmp.join("truth"), &pop)?;
    Ok(TABLES
        .iter()
        .zip(totals)
        .map(|(name, rows)| DemoTable {
            schema: SCHEMA.to_string(),
            name: (*name).to_string(),
            path: Path::new(SCHEMA).join(name),
            rows,
        })
        .collect())
}

fn part_name(k: usize) -> String {
    format!("part-{k:05}.parquet")
}

/// Writes part `k` of every table.
fn write_chunk(ctx: &Context<'_>, k: usize) -> Result<ChunkRows, DemoError> {
    let lo = k * CHUNK_ROWS;
    let hi = (lo + CHUNK_ROWS).min(ctx.pop.stars.len());
    let stars = &ctx.pop.stars[lo..hi];
    let seed = ctx.opts.seed;
    let mut rows = ChunkRows::default();

    // gaia_source
    let mut rng = rng_for(seed, Stream::GaiaSource, k as u64);
    let obs: Vec<gaia_source::Row> = stars
        .iter()
        .map(|s| gaia_source::observe(s, &mut rng))
        .collect();
    let batch = gaia_source::batch(&obs)?;
    drop(obs);
    let path = ctx.dirs[0].join(part_name(k));
    let mut w = writer::PartWriter::create(&path, batch.schema(), 65_536, &["phot_variable_flag"])?;
    w.write(&batch)?;
    rows.0[0] = w.finish()?;
    drop(batch);

    // xp_continuous_mean_spectrum, in slices to bound memory (a row is ~13 kB).
    const XP_SLICE: usize = 2048;
    let mut rng = rng_for(seed, Stream::Xp, k as u64);
    let xp_stars: Vec<&population::Star> = stars.iter().filter(|s| s.has_xp).collect();
    if !xp_stars.is_empty() || k == 0 {
        let path = ctx.dirs[1].join(part_name(k));
        let schema = xp::batch(&[])?.schema();
        let mut w = writer::PartWriter::create(&path, schema, XP_SLICE, &[])?;
        for slice in xp_stars.chunks(XP_SLICE) {
            let spectra: Vec<(i64, xp::Spectrum)> = slice
                .iter()
                .map(|s| {
                    let spec = match s.xp_role {
                        XpRole::Template(t) => ctx.template_spectra.get(t).cloned(),
                        XpRole::Copy(t) => {
                            ctx.template_spectra.get(t).map(|ts| ts.near_copy(&mut rng))
                        }
                        XpRole::None => None,
                    };
                    (
                        s.source_id,
                        spec.unwrap_or_else(|| ctx.model.simulate(s, &mut rng)),
                    )
                })
                .collect();
            w.write(&xp::batch(&spectra)?)?;
        }
        rows.0[1] = w.finish()?;
    }

    // epoch_photometry
    let mut rng = rng_for(seed, Stream::Epoch, k as u64);
    let curves: Vec<_> = stars
        .iter()
        .filter(|s| s.has_epoch)
        .filter_map(|s| epoch_photometry::simulate(s, &mut rng))
        .collect();
    if !curves.is_empty() || k == 0 {
        let path = ctx.dirs[2].join(part_name(k));
        let batch = epoch_photometry::batch(&curves)?;
        let mut w = writer::PartWriter::create(&path, batch.schema(), 8192, &[])?;
        w.write(&batch)?;
        rows.0[2] = w.finish()?;
    }
    Ok(rows)
}
