//! DALI 1.1 `/examples` (§2.3): Gaia cookbook queries as XHTML with RDFa, which TOPCAT lists
//! under "Service-provided" examples and taplint's EXA stage checks.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::xml::escape;

/// One example query.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// Fragment identifier.
    pub id: &'static str,
    /// Short title.
    pub name: &'static str,
    /// What it shows.
    pub description: &'static str,
    /// Tables it needs (the example is listed only when they all exist).
    pub tables: &'static [&'static str],
    /// The ADQL.
    pub query: &'static str,
}

/// The examples, written for the Gaia DR3 schema of the demo catalogue.
pub const EXAMPLES: &[Example] = &[
    Example {
        id: "brightest",
        name: "Brightest stars",
        description: "The ten brightest sources in G.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 10 source_id, ra, dec, phot_g_mean_mag\n\
                FROM gaiadr3.gaia_source\nORDER BY phot_g_mean_mag",
    },
    Example {
        id: "cone-search",
        name: "Cone search",
        description: "Sources within 0.5 degrees of the Galactic centre, nearest first \
                      (ADQL 2.1 CONTAINS with POINT and CIRCLE; positions in degrees, ICRS).",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 100 source_id, ra, dec, phot_g_mean_mag,\n\
                DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 266.405, -28.936)) AS dist\n\
                FROM gaiadr3.gaia_source\n\
                WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 266.405, -28.936, 0.5))\n\
                ORDER BY dist",
    },
    Example {
        id: "wide-binaries",
        name: "Wide binary candidates (crossmatch self-join)",
        description: "Pairs of sources closer than 10 arcseconds with parallaxes consistent \
                      within 3 sigma: a self-join on CONTAINS, which Parallax runs as a hash \
                      join on HEALPix cells. crossmatch_pairs('gaiadr3.gaia_source', 10) \
                      returns the same pairs as (id1, id2, separation_arcsec).",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 100 a.source_id AS id1, b.source_id AS id2,\n\
                DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', b.ra, b.dec)) * 3600 AS sep_arcsec,\n\
                a.parallax AS plx1, b.parallax AS plx2\n\
                FROM gaiadr3.gaia_source AS a\n\
                JOIN gaiadr3.gaia_source AS b\n\
                ON 1 = CONTAINS(POINT('ICRS', a.ra, a.dec), CIRCLE('ICRS', b.ra, b.dec, 10.0 / 3600))\n\
                WHERE a.source_id < b.source_id\n\
                AND ABS(a.parallax - b.parallax) < 3 * SQRT(a.parallax_error * a.parallax_error + b.parallax_error * b.parallax_error)\n\
                ORDER BY sep_arcsec",
    },
    Example {
        id: "polygon-search",
        name: "Sources in a polygon",
        description: "Sources inside a spherical polygon near the Galactic centre (ADQL 2.1 \
                      POLYGON; vertices in degrees, joined by great circles), with the area of \
                      the polygon in square degrees.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 100 source_id, ra, dec,\n\
                AREA(POLYGON('ICRS', 265.0, -30.0, 268.0, -30.0, 268.0, -28.0, 265.0, -28.0)) AS sq_deg\n\
                FROM gaiadr3.gaia_source\n\
                WHERE 1 = CONTAINS(POINT('ICRS', ra, dec),\n\
                POLYGON('ICRS', 265.0, -30.0, 268.0, -30.0, 268.0, -28.0, 265.0, -28.0))",
    },
    Example {
        id: "epoch-propagation",
        name: "Positions at J2000",
        description: "The nearest stars with their positions moved from the Gaia DR3 epoch to \
                      J2000 by EPOCH_PROP_POS (rigorous propagation including the radial \
                      velocity, as at the ESA Gaia archive), as a POINT.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 20 source_id, parallax, ra, dec,\n\
                EPOCH_PROP_POS(ra, dec, parallax, pmra, pmdec, radial_velocity, ref_epoch, 2000.0) \
                AS pos_j2000\n\
                FROM gaiadr3.gaia_source\n\
                WHERE parallax > 100\nORDER BY parallax DESC",
    },
    Example {
        id: "nearby-good-astrometry",
        name: "Nearby stars with good astrometry",
        description: "Precise parallaxes (parallax_over_error > 10) and a well-behaved \
                      single-star solution (RUWE < 1.4), nearest first.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 100 source_id, parallax, parallax_over_error, ruwe, bp_rp\n\
                FROM gaiadr3.gaia_source\n\
                WHERE parallax_over_error > 10 AND ruwe < 1.4\n\
                ORDER BY parallax DESC",
    },
    Example {
        id: "hr-diagram",
        name: "Colour-absolute magnitude diagram",
        description: "Absolute G magnitude from the parallax (in mas) for stars with precise \
                      parallaxes; plot mg against bp_rp.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT TOP 5000 bp_rp, phot_g_mean_mag + 5 * LOG10(parallax) - 10 AS mg\n\
                FROM gaiadr3.gaia_source\n\
                WHERE parallax_over_error > 10 AND bp_rp IS NOT NULL",
    },
    Example {
        id: "healpix-density",
        name: "Source density on HEALPix level 5",
        description: "Counts per level-5 HEALPix cell with GAIA_HEALPIX_INDEX, as at the ESA \
                      Gaia archive (Gaia source_id encodes the level-12 index times 2^35, so \
                      integer division by 2^35 * 4^7 gives the same).",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT hpx5, COUNT(*) AS n\n\
                FROM (SELECT GAIA_HEALPIX_INDEX(5, source_id) AS hpx5 FROM gaiadr3.gaia_source) AS t\n\
                GROUP BY hpx5\nORDER BY n DESC",
    },
    Example {
        id: "variable-flag-stats",
        name: "Photometric statistics by variability flag",
        description: "Counts and mean magnitudes per phot_variable_flag value.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT phot_variable_flag, COUNT(*) AS n, AVG(phot_g_mean_mag) AS mean_g\n\
                FROM gaiadr3.gaia_source\nGROUP BY phot_variable_flag",
    },
    Example {
        id: "epoch-photometry",
        name: "Light curves of variable sources",
        description: "Join gaia_source with the epoch photometry of variable sources.",
        tables: &["gaiadr3.gaia_source", "gaiadr3.epoch_photometry"],
        query: "SELECT TOP 20 g.source_id, g.phot_g_mean_mag AS gmag, e.n_transits\n\
                FROM gaiadr3.gaia_source AS g\n\
                JOIN gaiadr3.epoch_photometry AS e ON e.source_id = g.source_id\n\
                WHERE g.phot_variable_flag = 'VARIABLE'\nORDER BY gmag",
    },
    Example {
        id: "xp-spectra",
        name: "XP continuous spectra of bright stars",
        description: "Coefficient metadata of the BP/RP continuous mean spectra of stars \
                      brighter than G = 15.",
        tables: &["gaiadr3.gaia_source", "gaiadr3.xp_continuous_mean_spectrum"],
        query: "SELECT TOP 10 x.source_id, x.bp_n_relevant_bases, x.rp_n_relevant_bases, \
                g.phot_g_mean_mag\n\
                FROM gaiadr3.xp_continuous_mean_spectrum AS x\n\
                JOIN gaiadr3.gaia_source AS g ON g.source_id = x.source_id\n\
                WHERE g.phot_g_mean_mag < 15",
    },
    Example {
        id: "xp-template-search",
        name: "XP spectra most similar to a template",
        description: "Squared Mahalanobis distance between every XP spectrum and a template \
                      spectrum (here the first one; use WHERE source_id = ... for yours) with the \
                      full BP and RP covariances, nearest first, with its chi-square p-value for \
                      110 degrees of freedom.",
        tables: &["gaiadr3.xp_continuous_mean_spectrum"],
        query: "SELECT TOP 10 c.source_id,\n\
                mahalanobis(c.bp_coefficients, c.bp_coefficient_errors, c.bp_coefficient_correlations,\n\
                c.rp_coefficients, c.rp_coefficient_errors, c.rp_coefficient_correlations,\n\
                t.bp_coefficients, t.bp_coefficient_errors, t.bp_coefficient_correlations,\n\
                t.rp_coefficients, t.rp_coefficient_errors, t.rp_coefficient_correlations) AS d2\n\
                FROM gaiadr3.xp_continuous_mean_spectrum AS c,\n\
                (SELECT TOP 1 * FROM gaiadr3.xp_continuous_mean_spectrum ORDER BY source_id) AS t\n\
                ORDER BY d2",
    },
    Example {
        id: "period-search",
        name: "Period search in G-band light curves",
        description: "The highest peak of the generalised Lomb-Scargle periodogram of each \
                      G-band light curve (0.001 to 10 per day) with its Baluev false-alarm \
                      probability, most significant first.",
        tables: &["gaiadr3.epoch_photometry"],
        query: "SELECT TOP 20 source_id,\n\
                get_field(fourier_search(g_transit_time, g_transit_flux, g_transit_flux_error), 'best_period') AS period,\n\
                get_field(fourier_search(g_transit_time, g_transit_flux, g_transit_flux_error), 'fap') AS fap\n\
                FROM gaiadr3.epoch_photometry\nORDER BY fap",
    },
    Example {
        id: "robust-statistics",
        name: "Robust parallax statistics",
        description: "Median, median absolute deviation, 3-sigma-clipped mean and standard \
                      deviation, and the inverse-variance weighted mean with its error, of the \
                      parallaxes of bright stars.",
        tables: &["gaiadr3.gaia_source"],
        query: "SELECT median(parallax) AS med, mad(parallax) AS mad,\n\
                sigma_clipped_mean(parallax, 3) AS clipped_mean, sigma_clipped_std(parallax, 3) AS clipped_std,\n\
                weighted_mean(parallax, parallax_error) AS wmean, weighted_mean_error(parallax, parallax_error) AS wmean_error\n\
                FROM gaiadr3.gaia_source\nWHERE phot_g_mean_mag < 15",
    },
    Example {
        id: "tap-schema",
        name: "Tables of this service",
        description: "TAP_SCHEMA is queryable like any other table.",
        tables: &["TAP_SCHEMA.tables"],
        query: "SELECT table_name, description\nFROM TAP_SCHEMA.tables\nORDER BY table_index",
    },
];

/// `GET {base}/examples`.
pub(crate) async fn examples(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    mount: &'static str,
) -> Response {
    let base = state.base_url(&headers, mount);
    let catalog = state.engine.catalog();
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE html>\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n\
         <head><meta charset=\"utf-8\"/><title>Parallax TAP examples</title></head>\n\
         <body vocab=\"http://www.ivoa.net/rdf/examples#\">\n\
         <h1>Example queries</h1>\n",
    );
    let _ = writeln!(
        x,
        "<p>Run these against <code>{}/sync</code> with LANG=ADQL.</p>",
        escape(&base)
    );
    for e in EXAMPLES
        .iter()
        .filter(|e| e.tables.iter().all(|t| catalog.table(t).is_some()))
    {
        let _ = write!(
            x,
            "<div typeof=\"example\" id=\"{id}\" resource=\"#{id}\">\n\
             <h2 property=\"name\">{name}</h2>\n<p>{desc}</p>\n\
             <pre property=\"query\">{query}</pre>\n",
            id = e.id,
            name = escape(e.name),
            desc = escape(e.description),
            query = escape(e.query),
        );
        for t in e.tables {
            let _ = writeln!(
                x,
                "<p>Table: <span property=\"table\">{}</span></p>",
                escape(t)
            );
        }
        x.push_str("</div>\n");
    }
    x.push_str("</body>\n</html>\n");
    (
        [(header::CONTENT_TYPE, "application/xhtml+xml; charset=utf-8")],
        x,
    )
        .into_response()
}
