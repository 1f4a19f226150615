//! End-to-end tests of the generator on small catalogues.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int16Array,
    Int64Array, ListArray, RecordBatch, StringArray,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Float32Type, Float64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::reader::FileReader;
use datafusion::parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};

use crate::linalg::{cholesky, packed_index};
use crate::xp::{N_COEFF, N_CORR};
use crate::*;

fn small() -> DemoOptions {
    DemoOptions {
        sources: 3000,
        seed: 7,
        xp_spectra: 400,
        light_curves: 120,
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn gen_small(dir: &Path) -> DemoSummary {
    generate(dir, &small()).unwrap_or_else(|e| panic!("generate: {e}"))
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn read_table(out: &Path, table: &str) -> RecordBatch {
    let mut batches = Vec::new();
    for p in parts(&out.join("gaiadr3").join(table)) {
        let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("{e}"));
        for b in reader {
            batches.push(b.unwrap_or_else(|e| panic!("{e}")));
        }
    }
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| panic!("no batches"));
    concat_batches(&schema, &batches).unwrap_or_else(|e| panic!("{e}"))
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("missing column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("wrong type for {name}"))
}

fn all_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap_or_else(|e| panic!("{e}")));
            }
        }
    }
    out
}

#[test]
fn same_seed_gives_identical_bytes_and_layout() {
    let (a, b) = (tempdir(), tempdir());
    let sa = gen_small(a.path());
    let sb = gen_small(b.path());
    assert_eq!(sa.tables, sb.tables);
    let (fa, fb) = (all_files(a.path()), all_files(b.path()));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{} differs", k.display());
    }
    for rel in [
        "gaiadr3/gaia_source/part-00000.parquet",
        "gaiadr3/xp_continuous_mean_spectrum/part-00000.parquet",
        "gaiadr3/epoch_photometry/part-00000.parquet",
        "truth/xp_templates.json",
        "truth/periods.csv",
        "truth/clusters.json",
        "truth/binaries.csv",
        "DEMO_COMPLETE",
    ] {
        assert!(fa.contains_key(Path::new(rel)), "missing {rel}");
    }
    assert!(!fa.keys().any(|k| k.to_string_lossy().contains(".tmp")));
    // A different seed gives different data.
    let c = tempdir();
    generate(c.path(), &DemoOptions { seed: 8, ..small() }).unwrap_or_else(|e| panic!("{e}"));
    let fc = all_files(c.path());
    let key = Path::new("gaiadr3/gaia_source/part-00000.parquet");
    assert!(fa[key] != fc[key]);
    assert_eq!(sa.tables[0].rows, 3000);
    assert_eq!(sa.tables[1].rows, 400);
    assert_eq!(sa.tables[2].rows, 120);
    assert_eq!(sa.truth_dir, a.path().join("truth"));
}

#[test]
fn existing_detects_complete_and_broken_catalogues() {
    let d = tempdir();
    assert!(existing(d.path()).is_none());
    let s = gen_small(d.path());
    assert_eq!(existing(d.path()), Some(s.clone()));
    assert_eq!(existing_for(d.path(), &small()), Some(s));
    assert!(existing_for(d.path(), &DemoOptions { seed: 1, ..small() }).is_none());
    // A truncated file (e.g. a crash while copying) invalidates the marker.
    let p = d.path().join("gaiadr3/gaia_source/part-00000.parquet");
    let bytes = std::fs::read(&p).unwrap_or_default();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    assert!(existing(d.path()).is_none());
    // Regeneration repairs it; removing the marker invalidates it.
    gen_small(d.path());
    assert!(existing(d.path()).is_some());
    std::fs::remove_file(d.path().join(COMPLETE_MARKER)).unwrap_or_else(|e| panic!("{e}"));
    assert!(existing(d.path()).is_none());
}

#[test]
fn invalid_options_are_user_errors() {
    let d = tempdir();
    for o in [
        DemoOptions {
            sources: 0,
            ..small()
        },
        DemoOptions {
            xp_spectra: 5000,
            ..small()
        },
        DemoOptions {
            light_curves: 5000,
            ..small()
        },
    ] {
        assert!(matches!(
            generate(d.path(), &o),
            Err(DemoError::InvalidOptions { .. })
        ));
    }
    // Tiny catalogues work, including tables with no rows.
    let s = generate(
        d.path(),
        &DemoOptions {
            sources: 5,
            seed: 1,
            xp_spectra: 0,
            light_curves: 0,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.tables.iter().map(|t| t.rows).collect::<Vec<_>>(),
        vec![5, 0, 0]
    );
}

#[test]
fn source_ids_encode_healpix_and_are_sorted() {
    let d = tempdir();
    gen_small(d.path());
    // Across files: consecutive ranges, in file-name order.
    let mut last = i64::MIN;
    for table in TABLES {
        last = i64::MIN;
        for p in parts(&d.path().join("gaiadr3").join(table)) {
            let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{e}"));
            let r = ParquetRecordBatchReaderBuilder::try_new(f)
                .and_then(|b| b.build())
                .unwrap_or_else(|e| panic!("{e}"));
            for b in r {
                let b = b.unwrap_or_else(|e| panic!("{e}"));
                let ids = col::<Int64Array>(&b, "source_id");
                for id in ids.values() {
                    assert!(*id > last, "{table}: not strictly sorted");
                    last = *id;
                }
            }
        }
    }
    let b = read_table(d.path(), "gaia_source");
    let ids = col::<Int64Array>(&b, "source_id");
    let ra = col::<Float64Array>(&b, "ra");
    let dec = col::<Float64Array>(&b, "dec");
    let des = col::<StringArray>(&b, "designation");
    for i in 0..b.num_rows() {
        let h = crate::sky::healpix12(ra.value(i), dec.value(i)) as i64;
        assert_eq!(ids.value(i) >> 35, h);
        assert!(ids.value(i) & ((1 << 35) - 1) >= 1);
        assert_eq!(des.value(i), format!("Gaia DR3 {}", ids.value(i)));
    }
    let _ = last;
}

#[test]
fn schema_metadata_survives_parquet_round_trip() {
    let d = tempdir();
    gen_small(d.path());
    for table in TABLES {
        let p = d
            .path()
            .join("gaiadr3")
            .join(table)
            .join("part-00000.parquet");
        let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).unwrap_or_else(|e| panic!("{e}"));
        let schema = builder.schema().clone();
        assert!(
            schema
                .metadata()
                .get("description")
                .is_some_and(|s| !s.is_empty()),
            "{table}: no table description"
        );
        if table == "gaia_source" {
            assert!(
                schema.fields().len() >= 40,
                "only {} columns",
                schema.fields().len()
            );
        }
        let mut principal = 0;
        for f in schema.fields() {
            let md = f.metadata();
            for key in ["description", "unit", "ucd", "principal", "indexed"] {
                assert!(md.contains_key(key), "{table}.{}: no {key}", f.name());
            }
            assert!(
                !md["description"].is_empty() && !md["ucd"].is_empty(),
                "{table}.{}",
                f.name()
            );
            principal += usize::from(md["principal"] == "1");
            assert_eq!(md["indexed"] == "1", f.name() == "source_id");
        }
        assert!(principal >= 3, "{table}: {principal} principal columns");
        let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let reader = SerializedFileReader::new_with_options(
            f,
            ReadOptionsBuilder::new().with_page_index().build(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let md = reader.metadata();
        for rg in md.row_groups() {
            assert!(rg.num_rows() <= 65_536);
        }
        assert!(
            md.column_index().is_some() && md.offset_index().is_some() || md.num_row_groups() == 0
        );
    }
    let b = read_table(d.path(), "gaia_source");
    let s = b.schema();
    let unit = |c: &str| {
        s.field_with_name(c)
            .map(|f| f.metadata()["unit"].clone())
            .unwrap_or_default()
    };
    let ucd = |c: &str| {
        s.field_with_name(c)
            .map(|f| f.metadata()["ucd"].clone())
            .unwrap_or_default()
    };
    assert_eq!(unit("ra"), "deg");
    assert_eq!(unit("parallax"), "mas");
    assert_eq!(unit("pmra"), "mas.yr**-1");
    assert_eq!(unit("phot_g_mean_flux"), "electron.s**-1");
    assert_eq!(unit("radial_velocity"), "km.s**-1");
    assert_eq!(unit("ref_epoch"), "yr");
    assert_eq!(ucd("source_id"), "meta.id;meta.main");
    assert_eq!(ucd("ra"), "pos.eq.ra;meta.main");
    assert_eq!(ucd("parallax"), "pos.parallax.trig");
}

#[tokio::test]
async fn datafusion_reads_tables_with_metadata() {
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    let d = tempdir();
    gen_small(d.path());
    let ctx = SessionContext::new();
    for t in TABLES {
        let dir = d.path().join("gaiadr3").join(t);
        // DataFusion drops file metadata unless skip_metadata is off (it defaults to on).
        let opts = ParquetReadOptions {
            skip_metadata: Some(false),
            ..Default::default()
        };
        ctx.register_parquet(t, dir.to_string_lossy().as_ref(), opts)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let df = ctx
        .sql("SELECT count(*) AS n, sum(CASE WHEN parallax IS NULL THEN 1 ELSE 0 END) AS two_p FROM gaia_source")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = df.collect().await.unwrap_or_else(|e| panic!("{e}"));
    let n = rows[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0);
    assert_eq!(n, 3000);
    let table = ctx
        .table("xp_continuous_mean_spectrum")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let schema = table.schema();
    let f = schema
        .field_with_unqualified_name("bp_coefficients")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.metadata()["ucd"], "stat.fit.param");
    let joined = ctx
        .sql("SELECT count(*) FROM gaia_source g JOIN epoch_photometry e USING (source_id) WHERE g.has_epoch_photometry AND g.phot_variable_flag = 'VARIABLE'")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let n = joined[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0);
    assert_eq!(n, 120);
}

struct Band {
    coef: Vec<f64>,
    cov: Vec<f64>,
}

fn band(b: &RecordBatch, prefix: &str, i: usize) -> Option<Band> {
    let coef = col::<FixedSizeListArray>(b, &format!("{prefix}_coefficients"));
    if coef.is_null(i) {
        return None;
    }
    let errs = col::<FixedSizeListArray>(b, &format!("{prefix}_coefficient_errors"));
    let corr = col::<FixedSizeListArray>(b, &format!("{prefix}_coefficient_correlations"));
    let c: Vec<f64> = coef
        .value(i)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    let e: Vec<f64> = errs
        .value(i)
        .as_primitive::<Float32Type>()
        .values()
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let r: Vec<f64> = corr
        .value(i)
        .as_primitive::<Float32Type>()
        .values()
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    assert_eq!((c.len(), e.len(), r.len()), (N_COEFF, N_COEFF, N_CORR));
    let mut cov = vec![0.0; N_COEFF * N_COEFF];
    for a in 0..N_COEFF {
        cov[a * N_COEFF + a] = e[a] * e[a];
        for bb in 0..a {
            let v = e[a] * e[bb] * r[packed_index(a, bb)];
            cov[a * N_COEFF + bb] = v;
            cov[bb * N_COEFF + a] = v;
        }
    }
    Some(Band { coef: c, cov })
}

fn mahalanobis(x: &Band, t: &Band) -> f64 {
    let s: Vec<f64> = x.cov.iter().zip(&t.cov).map(|(a, b)| a + b).collect();
    let l = cholesky(&s, N_COEFF).unwrap_or_else(|| panic!("S not PD"));
    // Solve L y = delta; d2 = |y|^2.
    let mut y = vec![0.0; N_COEFF];
    for i in 0..N_COEFF {
        let mut v = x.coef[i] - t.coef[i];
        for k in 0..i {
            v -= l[i * N_COEFF + k] * y[k];
        }
        y[i] = v / l[i * N_COEFF + i];
    }
    y.iter().map(|v| v * v).sum()
}

#[test]
fn xp_covariances_are_positive_definite_and_templates_match() {
    let d = tempdir();
    gen_small(d.path());
    let b = read_table(d.path(), "xp_continuous_mean_spectrum");
    let ids = col::<Int64Array>(&b, "source_id");
    let mut row_of = HashMap::new();
    for i in 0..b.num_rows() {
        row_of.insert(ids.value(i), i);
        for prefix in ["bp", "rp"] {
            if let Some(band) = band(&b, prefix, i) {
                assert!(
                    cholesky(&band.cov, N_COEFF).is_some(),
                    "row {i} {prefix}: C not PD"
                );
                let nrb = col::<Int16Array>(&b, &format!("{prefix}_n_relevant_bases")).value(i);
                assert!((10..=55).contains(&nrb));
                let dof = col::<Int16Array>(&b, &format!("{prefix}_degrees_of_freedom")).value(i);
                let nm = col::<Int16Array>(&b, &format!("{prefix}_n_measurements")).value(i);
                assert_eq!(dof, nm - 55);
            }
        }
        assert!(band(&b, "rp", i).is_some());
    }
    // has_xp_continuous in gaia_source agrees with the XP table.
    let g = read_table(d.path(), "gaia_source");
    let gid = col::<Int64Array>(&g, "source_id");
    let has = col::<BooleanArray>(&g, "has_xp_continuous");
    let flagged: HashSet<i64> = (0..g.num_rows())
        .filter(|&i| has.value(i))
        .map(|i| gid.value(i))
        .collect();
    assert_eq!(flagged, row_of.keys().copied().collect::<HashSet<_>>());

    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("truth/xp_templates.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let templates = truth["templates"].as_array().cloned().unwrap_or_default();
    assert_eq!(templates.len(), 3);
    let mut planted = HashSet::new();
    for t in &templates {
        let tid = t["source_id"].as_i64().unwrap_or_default();
        let ti = row_of[&tid];
        let copies = t["copies"].as_array().cloned().unwrap_or_default();
        assert_eq!(copies.len(), 5);
        planted.insert(tid);
        for c in copies {
            let cid = c.as_i64().unwrap_or_default();
            planted.insert(cid);
            let ci = row_of[&cid];
            let mut d2 = 0.0;
            for p in ["bp", "rp"] {
                if let (Some(x), Some(tb)) = (band(&b, p, ci), band(&b, p, ti)) {
                    d2 += mahalanobis(&x, &tb);
                }
            }
            // Expected ~ chi2(110)/2 = 55; far below unrelated spectra.
            assert!(d2 < 150.0, "copy {cid} of {tid}: d2 = {d2}");
        }
        // Unrelated spectra are far away.
        let mut near = 0;
        for i in 0..b.num_rows() {
            if planted.contains(&ids.value(i)) {
                continue;
            }
            let mut d2 = 0.0;
            for p in ["bp", "rp"] {
                if let (Some(x), Some(tb)) = (band(&b, p, i), band(&b, p, ti)) {
                    d2 += mahalanobis(&x, &tb);
                }
            }
            near += usize::from(d2 < 150.0);
        }
        assert_eq!(near, 0, "template {tid} has unplanted near-copies");
    }
}

#[test]
fn light_curves_match_truth() {
    let d = tempdir();
    gen_small(d.path());
    let e = read_table(d.path(), "epoch_photometry");
    let g = read_table(d.path(), "gaia_source");
    let csv = std::fs::read_to_string(d.path().join("truth/periods.csv")).unwrap_or_default();
    let mut truth = HashMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 6);
        let id: i64 = f[0].parse().unwrap_or_default();
        let period: f64 = f[2].parse().unwrap_or_default();
        let amp: f64 = f[3].parse().unwrap_or_default();
        assert!(["sinusoid", "eclipsing", "sawtooth"].contains(&f[1]));
        assert!((0.1..=300.0).contains(&period) && (0.02..=0.5).contains(&amp));
        truth.insert(id, (period, amp));
    }
    let ids = col::<Int64Array>(&e, "source_id");
    assert_eq!(truth.len(), e.num_rows());
    let gid = col::<Int64Array>(&g, "source_id");
    let gmag = col::<Float32Array>(&g, "phot_g_mean_mag");
    let var = col::<StringArray>(&g, "phot_variable_flag");
    let has = col::<BooleanArray>(&g, "has_epoch_photometry");
    let g_row: HashMap<i64, usize> = (0..g.num_rows()).map(|i| (gid.value(i), i)).collect();
    assert_eq!(
        (0..g.num_rows()).filter(|&i| has.value(i)).count(),
        truth.len()
    );
    let times = col::<ListArray>(&e, "g_transit_time");
    let mags = col::<ListArray>(&e, "g_transit_mag");
    let n_tr = col::<Int16Array>(&e, "n_transits");
    let mut checked = 0;
    for i in 0..e.num_rows() {
        let id = ids.value(i);
        let (_, amp) = truth[&id];
        let gi = g_row[&id];
        assert!(has.value(gi) && var.value(gi) == "VARIABLE");
        let t = times.value(i);
        let t = t.as_primitive::<Float64Type>();
        assert_eq!(t.len(), n_tr.value(i) as usize);
        assert!((40..=70).contains(&t.len()));
        let m = mags.value(i);
        let m: Vec<f64> = m.as_primitive::<Float64Type>().iter().flatten().collect();
        let mean = m.iter().sum::<f64>() / m.len() as f64;
        let g_cat = f64::from(gmag.value(gi));
        if g_cat < 17.0 {
            // Mean magnitude near the catalogue G; spread reflects the injected amplitude.
            assert!(
                (mean - g_cat).abs() < 0.1 + amp,
                "{id}: mean {mean} vs G {g_cat}"
            );
            let (lo, hi) = m
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
            assert!(
                hi - lo > 0.3 * amp && hi - lo < amp + 0.2,
                "{id}: ptp {} amp {amp}",
                hi - lo
            );
            checked += 1;
        }
    }
    assert!(checked > 5);
}

#[test]
fn clusters_and_binaries_match_truth() {
    let d = tempdir();
    gen_small(d.path());
    let g = read_table(d.path(), "gaia_source");
    let gid = col::<Int64Array>(&g, "source_id");
    let ra = col::<Float64Array>(&g, "ra");
    let dec = col::<Float64Array>(&g, "dec");
    let row: HashMap<i64, usize> = (0..g.num_rows()).map(|i| (gid.value(i), i)).collect();
    let cl: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("truth/clusters.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let clusters = cl["clusters"].as_array().cloned().unwrap_or_default();
    assert_eq!(clusters.len(), 2);
    for c in clusters {
        let (cra, cdec) = (
            c["ra"].as_f64().unwrap_or_default(),
            c["dec"].as_f64().unwrap_or_default(),
        );
        for m in c["members"].as_array().cloned().unwrap_or_default() {
            let i = row[&m.as_i64().unwrap_or_default()];
            assert!(crate::sky::separation(cra, cdec, ra.value(i), dec.value(i)) <= 0.2 + 1e-9);
        }
    }
    let csv = std::fs::read_to_string(d.path().join("truth/binaries.csv")).unwrap_or_default();
    let mut n = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (a, b) = (
            row[&f[0].parse().unwrap_or(0)],
            row[&f[1].parse().unwrap_or(0)],
        );
        let sep: f64 = f[2].parse().unwrap_or_default();
        let s =
            crate::sky::separation(ra.value(a), dec.value(a), ra.value(b), dec.value(b)) * 3600.0;
        assert!((s - sep).abs() < 1e-6 && (1.0..=5.0).contains(&sep));
        n += 1;
    }
    assert_eq!(n, 30);
}

#[test]
fn population_statistics_are_gaia_like() {
    let opts = DemoOptions::for_sources(20_000);
    let pop = crate::population::Population::generate(&opts);
    let mut rng = crate::rng::rng_for(1, crate::rng::Stream::GaiaSource, 0);
    let rows: Vec<_> = pop
        .stars
        .iter()
        .map(|s| crate::gaia_source::observe(s, &mut rng))
        .collect();
    let b = crate::gaia_source::batch(&rows).unwrap_or_else(|e| panic!("{e}"));
    let n = b.num_rows() as f64;
    let plx = col::<Float64Array>(&b, "parallax");
    let frac_2p = plx.null_count() as f64 / n;
    assert!(
        (0.12..0.30).contains(&frac_2p),
        "2-parameter fraction {frac_2p}"
    );
    let gl = col::<Float64Array>(&b, "b");
    let low = (0..b.num_rows())
        .filter(|&i| gl.value(i).abs() < 10.0)
        .count() as f64
        / n;
    // |b| < 10 deg is 17% of the sky; Gaia has about half its sources there.
    assert!(low > 0.4, "fraction at |b| < 10: {low}");
    let g = col::<Float32Array>(&b, "phot_g_mean_mag");
    let faint = (0..b.num_rows()).filter(|&i| g.value(i) > 19.0).count() as f64 / n;
    assert!(faint > 0.5, "fraction G > 19: {faint}");
    let rv = col::<Float32Array>(&b, "radial_velocity");
    let rv_frac = 1.0 - rv.null_count() as f64 / n;
    assert!((0.002..0.06).contains(&rv_frac), "rv fraction {rv_frac}");
    let bp = col::<Float64Array>(&b, "phot_bp_mean_flux");
    assert!(bp.null_count() > 0);
    eprintln!(
        "2p {frac_2p:.3} |b|<10 {low:.3} G>19 {faint:.3} rv {rv_frac:.4} bp-null {}",
        bp.null_count()
    );
}

/// Run by hand in release: `cargo test --release -p parallax-demo -- --ignored timing --nocapture`.
#[test]
#[ignore = "slow; run in release by hand"]
fn timing_200k() {
    let d = tempdir();
    let opts = DemoOptions {
        sources: 200_000,
        seed: 42,
        xp_spectra: 20_000,
        light_curves: 5_000,
    };
    let t = std::time::Instant::now();
    let s = generate(d.path(), &opts).unwrap_or_else(|e| panic!("{e}"));
    let secs = t.elapsed().as_secs_f64();
    let bytes: u64 = all_files(d.path()).values().map(|v| v.len() as u64).sum();
    eprintln!(
        "timing: 200k/20k/5k generated in {secs:.2} s, {:.1} MB, {:?}",
        bytes as f64 / 1e6,
        s.tables
    );
    assert!(secs < 60.0);
}
