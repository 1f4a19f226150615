//! VOSI 1.1 resources (`/capabilities` with TAPRegExt, `/availability`, `/tables`) and the
//! HTML landing page.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use parallax_catalog::{Catalog, TableInfo};

use super::AppState;
use super::error::ServiceError;
use super::xml::escape;
use crate::auth::AuthMode;
use crate::time::iso8601;

const XML: [(header::HeaderName, &str); 1] = [(header::CONTENT_TYPE, "text/xml; charset=utf-8")];

/// ADQL 2.1 optional language features this service supports, by TAPRegExt feature type.
const FEATURES: &[(&str, &[&str])] = &[
    ("features-adql-string", &["LOWER", "UPPER", "ILIKE"]),
    ("features-adql-offset", &["OFFSET"]),
    ("features-adql-common-table", &["WITH"]),
    ("features-adql-sets", &["UNION", "EXCEPT", "INTERSECT"]),
    ("features-adql-type", &["CAST"]),
    (
        "features-adqlgeo",
        &[
            "POINT",
            "CIRCLE",
            "BOX",
            "POLYGON",
            "CONTAINS",
            "INTERSECTS",
            "AREA",
            "CENTROID",
            "COORD1",
            "COORD2",
            "COORDSYS",
            "DISTANCE",
        ],
    ),
];

/// User-defined functions (TAPRegExt features-udf), as `(form, description)`. taplint parses
/// the forms with the ADQL library's FunctionDef: parameter names must not contain '_', and
/// array types (no ADQL syntax for them) are written `DOUBLE ARRAY`, which it keeps as an
/// unknown type.
const UDFS: &[(&str, &str)] = &[
    (
        "gaia_healpix_index(norder INTEGER, sourceid BIGINT) -> BIGINT",
        "The nested HEALPix index at order norder (0-12) encoded in a Gaia source_id: \
         source_id / (2^35 * 4^(12 - norder)), as at the ESA Gaia archive.",
    ),
    (
        "ivo_healpix_index(hpxorder INTEGER, lon DOUBLE PRECISION, lat DOUBLE PRECISION) -> BIGINT",
        "The NESTED HEALPix index at order hpxOrder (0-29) of the cell containing (ra, dec) in \
         degrees. The form ivo_healpix_index(hpxOrder INTEGER, p POINT) is also available.",
    ),
    (
        "ivo_healpix_center(hpxorder INTEGER, hpxindex BIGINT) -> POINT",
        "The centre of the NESTED HEALPix cell hpxIndex at order hpxOrder (0-29), in degrees; \
         NULL for an invalid order or index.",
    ),
    // ADQLlib (taplint) reads forms with a regular expression: parameter names without
    // underscores, and no array types, so double[6] is written as a custom type name.
    (
        "epoch_prop(ra DOUBLE PRECISION, dec DOUBLE PRECISION, plx DOUBLE PRECISION, \
         pmra DOUBLE PRECISION, pmdec DOUBLE PRECISION, rv DOUBLE PRECISION, \
         refepoch DOUBLE PRECISION, targetepoch DOUBLE PRECISION) -> DOUBLE PRECISION ARRAY",
        "Propagates the six astrometric parameters (ra, dec in deg; parallax in mas; pmra, \
         pmdec in mas/yr; radial velocity in km/s) from refepoch to targetepoch (Julian \
         years) with the rigorous method of the Hipparcos catalogue (ESA 1997, vol. 1, \
         1.5.5), as at the ESA Gaia archive; returns double[6] in the same order and units. \
         NULL parallax, proper motion or radial velocity count as 0.",
    ),
    (
        "epoch_prop_pos(ra DOUBLE PRECISION, dec DOUBLE PRECISION, plx DOUBLE PRECISION, \
         pmra DOUBLE PRECISION, pmdec DOUBLE PRECISION, rv DOUBLE PRECISION, \
         refepoch DOUBLE PRECISION, targetepoch DOUBLE PRECISION) -> POINT",
        "The position of epoch_prop at targetepoch as a POINT, as at the ESA Gaia archive.",
    ),
    (
        "ivo_epoch_prop_pos(ra DOUBLE PRECISION, dec DOUBLE PRECISION, plx DOUBLE PRECISION, \
         pmra DOUBLE PRECISION, pmdec DOUBLE PRECISION, rv DOUBLE PRECISION, \
         refepoch DOUBLE PRECISION, targetepoch DOUBLE PRECISION) -> POINT",
        "The same as epoch_prop_pos (IVOA UDF catalogue name).",
    ),
    (
        "xp_covariance(errors DOUBLE ARRAY, correlations DOUBLE ARRAY) -> DOUBLE ARRAY",
        "The 55 x 55 covariance (3025 values, row-major) of one XP band: C_ij = e_i e_j R_ij (archive errors).",
    ),
    (
        "xp_covariance(errors DOUBLE ARRAY, correlations DOUBLE ARRAY, stddev DOUBLE, convention VARCHAR) -> DOUBLE ARRAY",
        "The XP band covariance with convention 'archive' (default) or 'gaiaxpy' (divided by standard_deviation^2).",
    ),
    (
        "xp_covariance(errors DOUBLE ARRAY, correlations DOUBLE ARRAY, stddev DOUBLE, convention VARCHAR, nrelevant INTEGER) -> DOUBLE ARRAY",
        "The leading k x k block (k = n_relevant_bases) of the XP band covariance, k*k values row-major.",
    ),
    (
        "mahalanobis(coef DOUBLE ARRAY, err DOUBLE ARRAY, corr DOUBLE ARRAY, tcoef DOUBLE ARRAY, terr DOUBLE ARRAY, tcorr DOUBLE ARRAY) -> DOUBLE",
        "Squared Mahalanobis distance between XP spectra with full covariances: per band delta^T (C_x + C_t)^-1 delta by Cholesky, d2 = d2_BP + d2_RP; arguments: the candidate's arrays, then the template's. NULL when a band is missing or the sum is not positive definite. (one band)",
    ),
    (
        "mahalanobis(bpcoef DOUBLE ARRAY, bperr DOUBLE ARRAY, bpcorr DOUBLE ARRAY, rpcoef DOUBLE ARRAY, rperr DOUBLE ARRAY, rpcorr DOUBLE ARRAY, tbpcoef DOUBLE ARRAY, tbperr DOUBLE ARRAY, tbpcorr DOUBLE ARRAY, trpcoef DOUBLE ARRAY, trperr DOUBLE ARRAY, trpcorr DOUBLE ARRAY) -> DOUBLE",
        "Squared Mahalanobis distance between XP spectra with full covariances: per band delta^T (C_x + C_t)^-1 delta by Cholesky, d2 = d2_BP + d2_RP; arguments: the candidate's arrays, then the template's. NULL when a band is missing or the sum is not positive definite. (both bands)",
    ),
    (
        "mahalanobis_relevant(coef DOUBLE ARRAY, err DOUBLE ARRAY, corr DOUBLE ARRAY, nrel INTEGER, tcoef DOUBLE ARRAY, terr DOUBLE ARRAY, tcorr DOUBLE ARRAY, tnrel INTEGER) -> DOUBLE",
        "As mahalanobis over the leading k x k block per band, k = max of both n_relevant_bases (given after each band's arrays). (one band)",
    ),
    (
        "mahalanobis_relevant(bpcoef DOUBLE ARRAY, bperr DOUBLE ARRAY, bpcorr DOUBLE ARRAY, bpnrel INTEGER, rpcoef DOUBLE ARRAY, rperr DOUBLE ARRAY, rpcorr DOUBLE ARRAY, rpnrel INTEGER, tbpcoef DOUBLE ARRAY, tbperr DOUBLE ARRAY, tbpcorr DOUBLE ARRAY, tbpnrel INTEGER, trpcoef DOUBLE ARRAY, trperr DOUBLE ARRAY, trpcorr DOUBLE ARRAY, trpnrel INTEGER) -> DOUBLE",
        "As mahalanobis over the leading k x k block per band, k = max of both n_relevant_bases (given after each band's arrays). (both bands)",
    ),
    (
        "mahalanobis_gaiaxpy(coef DOUBLE ARRAY, err DOUBLE ARRAY, corr DOUBLE ARRAY, sd DOUBLE, tcoef DOUBLE ARRAY, terr DOUBLE ARRAY, tcorr DOUBLE ARRAY, tsd DOUBLE) -> DOUBLE",
        "As mahalanobis with the GaiaXPy covariance convention E R E / standard_deviation^2 (given after each band's arrays). (one band)",
    ),
    (
        "mahalanobis_gaiaxpy(bpcoef DOUBLE ARRAY, bperr DOUBLE ARRAY, bpcorr DOUBLE ARRAY, bpsd DOUBLE, rpcoef DOUBLE ARRAY, rperr DOUBLE ARRAY, rpcorr DOUBLE ARRAY, rpsd DOUBLE, tbpcoef DOUBLE ARRAY, tbperr DOUBLE ARRAY, tbpcorr DOUBLE ARRAY, tbpsd DOUBLE, trpcoef DOUBLE ARRAY, trperr DOUBLE ARRAY, trpcorr DOUBLE ARRAY, trpsd DOUBLE) -> DOUBLE",
        "As mahalanobis with the GaiaXPy covariance convention E R E / standard_deviation^2 (given after each band's arrays). (both bands)",
    ),
    (
        "mahalanobis_fluxnorm(coef DOUBLE ARRAY, err DOUBLE ARRAY, corr DOUBLE ARRAY, gmag DOUBLE, tcoef DOUBLE ARRAY, terr DOUBLE ARRAY, tcorr DOUBLE ARRAY, tgmag DOUBLE) -> DOUBLE",
        "As mahalanobis with the candidate scaled to the template's G magnitude (after each spectrum's arrays): coefficients / s, covariance / s^2, s = 10^(0.4 (G_template - G_candidate)). (one band)",
    ),
    (
        "mahalanobis_fluxnorm(bpcoef DOUBLE ARRAY, bperr DOUBLE ARRAY, bpcorr DOUBLE ARRAY, rpcoef DOUBLE ARRAY, rperr DOUBLE ARRAY, rpcorr DOUBLE ARRAY, gmag DOUBLE, tbpcoef DOUBLE ARRAY, tbperr DOUBLE ARRAY, tbpcorr DOUBLE ARRAY, trpcoef DOUBLE ARRAY, trperr DOUBLE ARRAY, trpcorr DOUBLE ARRAY, tgmag DOUBLE) -> DOUBLE",
        "As mahalanobis with the candidate scaled to the template's G magnitude (after each spectrum's arrays): coefficients / s, covariance / s^2, s = 10^(0.4 (G_template - G_candidate)). (both bands)",
    ),
    (
        "chi2_pvalue(x DOUBLE, dof DOUBLE) -> DOUBLE",
        "Chi-square survival function Q(dof/2, x/2): the p-value of a Mahalanobis d2 (110 degrees of freedom for two full XP bands).",
    ),
    (
        "fourier_search(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY) -> STRUCT",
        "Generalised Lomb-Scargle period search (exact, astropy standard normalisation) on one light curve per row: struct {best_frequency, best_period, power, fap} (Baluev FAP); read fields with get_field. Grid fmin + k (fmax - fmin)/(nfreq - 1), defaults 0.001, 10, 50000 (1/day).",
    ),
    (
        "fourier_search(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY, fmin DOUBLE, fmax DOUBLE) -> STRUCT",
        "fourier_search on the grid fmin..fmax with 50000 frequencies.",
    ),
    (
        "fourier_search(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY, fmin DOUBLE, fmax DOUBLE, nfreq INTEGER) -> STRUCT",
        "fourier_search on nfreq frequencies from fmin to fmax (at most 10000000).",
    ),
    (
        "fourier_search(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY, fmin DOUBLE, fmax DOUBLE, nfreq INTEGER, method VARCHAR) -> STRUCT",
        "fourier_search with method 'exact' (trigonometric recurrence), 'fast' (extirpolation and FFT, O(N log N), within 1e-8 of exact) or 'auto' (the default: the cheaper).",
    ),
    (
        "lomb_scargle(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY) -> STRUCT",
        "The generalised Lomb-Scargle periodogram of one light curve per row: struct {frequency, power} of double arrays; same grid and defaults as fourier_search.",
    ),
    (
        "lomb_scargle(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY, fmin DOUBLE, fmax DOUBLE) -> STRUCT",
        "lomb_scargle on the grid fmin..fmax with 50000 frequencies.",
    ),
    (
        "lomb_scargle(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY, fmin DOUBLE, fmax DOUBLE, nfreq INTEGER) -> STRUCT",
        "lomb_scargle on nfreq frequencies from fmin to fmax (at most 10000000).",
    ),
    (
        "lomb_scargle(times DOUBLE ARRAY, vals DOUBLE ARRAY, errs DOUBLE ARRAY, fmin DOUBLE, fmax DOUBLE, nfreq INTEGER, method VARCHAR) -> STRUCT",
        "lomb_scargle with method 'exact', 'fast' or 'auto' (see fourier_search).",
    ),
    (
        "get_field(s STRUCT, name VARCHAR) -> DOUBLE",
        "A field of a struct value, e.g. get_field(fourier_search(...), 'best_period').",
    ),
    ("median(x DOUBLE) -> DOUBLE", "Aggregate: exact median."),
    (
        "percentile_cont(x DOUBLE, p DOUBLE) -> DOUBLE",
        "Aggregate: exact percentile p (0..1) with linear interpolation.",
    ),
    (
        "mad(x DOUBLE) -> DOUBLE",
        "Aggregate: median absolute deviation median(|x - median(x)|), unscaled.",
    ),
    (
        "sigma_clipped_mean(x DOUBLE) -> DOUBLE",
        "Aggregate: mean after astropy-style sigma clipping about the median (3 sigma, at most 5 passes).",
    ),
    (
        "sigma_clipped_mean(x DOUBLE, nsigma DOUBLE) -> DOUBLE",
        "Aggregate: mean after sigma clipping at nsigma.",
    ),
    (
        "sigma_clipped_mean(x DOUBLE, nsigma DOUBLE, maxiters INTEGER) -> DOUBLE",
        "Aggregate: mean after sigma clipping at nsigma, at most maxiters passes.",
    ),
    (
        "sigma_clipped_std(x DOUBLE) -> DOUBLE",
        "Aggregate: population standard deviation after astropy-style sigma clipping about the median (3 sigma, at most 5 passes).",
    ),
    (
        "sigma_clipped_std(x DOUBLE, nsigma DOUBLE) -> DOUBLE",
        "Aggregate: population standard deviation after sigma clipping at nsigma.",
    ),
    (
        "sigma_clipped_std(x DOUBLE, nsigma DOUBLE, maxiters INTEGER) -> DOUBLE",
        "Aggregate: population standard deviation after sigma clipping at nsigma, at most maxiters passes.",
    ),
    (
        "weighted_mean(x DOUBLE, err DOUBLE) -> DOUBLE",
        "Aggregate: inverse-variance weighted mean sum(x/err^2)/sum(1/err^2).",
    ),
    (
        "weighted_mean_error(x DOUBLE, err DOUBLE) -> DOUBLE",
        "Aggregate: standard error of the weighted mean, 1/sqrt(sum(1/err^2)).",
    ),
    (
        "skewness(x DOUBLE) -> DOUBLE",
        "Aggregate: skewness m3/m2^1.5 (population moments).",
    ),
    (
        "kurtosis(x DOUBLE) -> DOUBLE",
        "Aggregate: excess kurtosis m4/m2^2 - 3 (population moments).",
    ),
    (
        "ivo_histogram(val DOUBLE, lower DOUBLE, upper DOUBLE, nbins INTEGER) -> BIGINT ARRAY",
        "Aggregate: nbins + 2 counts, underflow first, equal-width bins of [lower, upper), overflow last.",
    ),
];

/// `GET {base}/capabilities`.
pub(crate) async fn capabilities(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    mount: &'static str,
) -> Response {
    let base = state.base_url(&headers, mount);
    let base = escape(&base);
    // The same base URL serves anonymous and authenticated callers (TAP 1.1 §2): an empty
    // securityMethod declares anonymous access next to the configured scheme.
    let security = match state.auth.mode {
        AuthMode::None => "",
        AuthMode::Basic => {
            "<securityMethod/><securityMethod standardID=\"ivo://ivoa.net/sso#BasicAA\"/>"
        }
        AuthMode::Bearer => {
            "<securityMethod/><securityMethod standardID=\"ivo://ivoa.net/sso#token\"/>"
        }
    };
    let mut x = String::with_capacity(8192);
    x.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <vosi:capabilities xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:vr=\"http://www.ivoa.net/xml/VOResource/v1.0\" \
         xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" \
         xmlns:tr=\"http://www.ivoa.net/xml/TAPRegExt/v1.0\">\n",
    );
    let _ = write!(
        x,
        "<capability standardID=\"ivo://ivoa.net/std/TAP\" xsi:type=\"tr:TableAccess\">\n\
         <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.1\">\
         <accessURL use=\"base\">{base}</accessURL>{security}</interface>\n\
         <language><name>ADQL</name>\
         <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.0\">2.0</version>\
         <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.1\">2.1</version>\
         <description>ADQL 2.1, translated to Apache DataFusion plans.</description>\n"
    );
    for (kind, forms) in FEATURES {
        let _ = write!(
            x,
            "<languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#{kind}\">"
        );
        for f in *forms {
            let _ = write!(x, "<feature><form>{f}</form></feature>");
        }
        x.push_str("</languageFeatures>\n");
    }
    x.push_str("<languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#features-udf\">");
    for (form, description) in UDFS {
        let _ = write!(
            x,
            "<feature><form>{}</form><description>{}</description></feature>",
            escape(form),
            escape(description)
        );
    }
    x.push_str("</languageFeatures>\n</language>\n");
    for f in parallax_formats::supported_formats() {
        match &f.ivo_id {
            Some(id) => {
                let _ = write!(x, "<outputFormat ivo-id=\"{}\">", escape(id));
            }
            None => x.push_str("<outputFormat>"),
        }
        let _ = write!(x, "<mime>{}</mime>", escape(f.mime));
        for a in f.aliases {
            let _ = write!(x, "<alias>{}</alias>", escape(a));
        }
        x.push_str("</outputFormat>\n");
    }
    // TAPRegExt §2.6-2.7, in the schema's element order.
    if state.uploads.enabled {
        x.push_str("<uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-inline\"/>\n");
        if state.uploads.allow_urls {
            x.push_str(
                "<uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-http\"/>\n\
                 <uploadMethod ivo-id=\"ivo://ivoa.net/std/TAPRegExt#upload-https\"/>\n",
            );
        }
    }
    let jobs = state.jobs.settings();
    let _ = write!(
        x,
        "<retentionPeriod><default>{}</default><hard>{}</hard></retentionPeriod>\n\
         <executionDuration><default>{}</default><hard>{}</hard></executionDuration>\n\
         <outputLimit><default unit=\"row\">{}</default><hard unit=\"row\">{}</hard></outputLimit>\n",
        jobs.retention_default,
        jobs.retention_max,
        jobs.execution_duration_default,
        jobs.execution_duration_max,
        state.limits.maxrec_default,
        state.limits.maxrec_hard
    );
    if state.uploads.enabled {
        let _ = writeln!(
            x,
            "<uploadLimit><hard unit=\"byte\">{}</hard></uploadLimit>",
            state.uploads.max_bytes
        );
    }
    x.push_str("</capability>\n");
    for (id, path) in [
        ("ivo://ivoa.net/std/VOSI#capabilities", "capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", "availability"),
        ("ivo://ivoa.net/std/VOSI#tables-1.1", "tables"),
    ] {
        let _ = writeln!(
            x,
            "<capability standardID=\"{id}\"><interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\
             <accessURL use=\"full\">{base}/{path}</accessURL></interface></capability>"
        );
    }
    let _ = write!(
        x,
        "<capability standardID=\"ivo://ivoa.net/std/DALI#examples\">\
         <interface xsi:type=\"vr:WebBrowser\"><accessURL use=\"full\">{base}/examples</accessURL>\
         </interface></capability>\n</vosi:capabilities>\n"
    );
    (XML, x).into_response()
}

/// `GET {base}/availability`.
pub(crate) async fn availability(State(state): State<Arc<AppState>>) -> Response {
    let x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <avl:availability xmlns:avl=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\
         <avl:available>true</avl:available><avl:upSince>{}</avl:upSince>\
         <avl:note>Parallax {} is accepting queries</avl:note></avl:availability>\n",
        iso8601(state.started),
        env!("CARGO_PKG_VERSION")
    );
    (XML, x).into_response()
}

/// Query parameters of `/tables`: VOSI 1.1 `detail=min`, and astroquery's `only_tables` and
/// `tables` (ESA TAP+).
#[derive(Debug, serde::Deserialize, Default)]
pub(crate) struct TablesQuery {
    detail: Option<String>,
    only_tables: Option<String>,
    tables: Option<String>,
}

const TABLESET_OPEN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
     <vosi:tableset xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\" \
     xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" \
     xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
     xmlns:esatapplus=\"http://esa.int/xml/EsaTapPlus\">\n";

/// `GET {base}/tables`.
pub(crate) async fn tables(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<TablesQuery>,
) -> Response {
    let esa = is_astroquery(&headers);
    let catalog = state.engine.catalog();
    let min = q
        .detail
        .as_deref()
        .is_some_and(|d| d.eq_ignore_ascii_case("min"))
        || q.only_tables
            .as_deref()
            .is_some_and(|d| d.eq_ignore_ascii_case("true"));
    let wanted: Option<Vec<String>> = q.tables.as_ref().map(|t| {
        t.split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let mut x = String::with_capacity(64 * 1024);
    x.push_str(TABLESET_OPEN);
    for schema in &catalog.schemas {
        let tables: Vec<&TableInfo> = schema
            .tables
            .iter()
            .filter(|t| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.contains(&t.qualified_name().to_ascii_lowercase()))
            })
            .collect();
        if wanted.is_some() && tables.is_empty() {
            continue;
        }
        let _ = write!(x, "<schema><name>{}</name>", escape(&schema.name));
        if let Some(d) = &schema.description {
            let _ = write!(x, "<description>{}</description>", escape(d));
        }
        if let Some(u) = &schema.utype {
            let _ = write!(x, "<utype>{}</utype>", escape(u));
        }
        x.push('\n');
        for t in tables {
            write_table(&mut x, catalog, t, !min, esa);
        }
        x.push_str("</schema>\n");
    }
    x.push_str("</vosi:tableset>\n");
    (XML, x).into_response()
}

/// `GET {base}/tables/{name}` (VOSI 1.1 §3.3.2).
pub(crate) async fn table(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let catalog = state.engine.catalog();
    let Some(t) = catalog.table(&name) else {
        return ServiceError::NotFound(format!("no table named '{name}'")).into_response();
    };
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <vosi:table xmlns:vosi=\"http://www.ivoa.net/xml/VOSITables/v1.0\" \
         xmlns:vs=\"http://www.ivoa.net/xml/VODataService/v1.1\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:esatapplus=\"http://esa.int/xml/EsaTapPlus\" type=\"",
    );
    x.push_str(if t.table_type == "view" {
        "view"
    } else {
        "base_table"
    });
    x.push_str("\">");
    write_table_body(&mut x, catalog, t, true, is_astroquery(&headers));
    x.push_str("</vosi:table>\n");
    (XML, x).into_response()
}

/// astroquery's TapPlus sends its GETs through `http.client` with no User-Agent at all (its
/// POSTs say `astroquery/<version>`); TOPCAT/STILTS and pyvo always name themselves.
fn is_astroquery(headers: &HeaderMap) -> bool {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ua| ua.starts_with("astroquery"))
}

fn write_table(x: &mut String, catalog: &Catalog, t: &TableInfo, columns: bool, esa: bool) {
    let kind = if t.table_type == "view" {
        "view"
    } else {
        "base_table"
    };
    let _ = write!(x, "<table type=\"{kind}\">");
    write_table_body(x, catalog, t, columns, esa);
    x.push_str("</table>\n");
}

fn write_table_body(x: &mut String, catalog: &Catalog, t: &TableInfo, columns: bool, esa: bool) {
    let q = t.qualified_name();
    let _ = write!(x, "<name>{}</name>", escape(&q));
    if let Some(d) = &t.description {
        let _ = write!(x, "<description>{}</description>", escape(d));
    }
    if let Some(u) = &t.utype {
        let _ = write!(x, "<utype>{}</utype>", escape(u));
    }
    if !columns {
        return;
    }
    x.push('\n');
    for c in &t.columns {
        // astroquery's TapPlus table parser requires esatapplus:flags on every column, but the
        // attribute is not valid VODataService, so only astroquery gets it.
        let _ = write!(
            x,
            "<column{}{}><name>{}</name>",
            if esa { " esatapplus:flags=\"0\"" } else { "" },
            if c.std { " std=\"true\"" } else { "" },
            escape(&c.adql_name())
        );
        if let Some(d) = &c.description {
            let _ = write!(x, "<description>{}</description>", escape(d));
        }
        if let Some(u) = &c.unit {
            let _ = write!(x, "<unit>{}</unit>", escape(u));
        }
        if let Some(u) = &c.ucd {
            let _ = write!(x, "<ucd>{}</ucd>", escape(u));
        }
        if let Some(u) = &c.utype {
            let _ = write!(x, "<utype>{}</utype>", escape(u));
        }
        x.push_str("<dataType xsi:type=\"vs:VOTableType\"");
        if let Some(a) = &c.arraysize {
            let _ = write!(x, " arraysize=\"{}\"", escape(a));
        }
        if let Some(xt) = &c.xtype {
            let _ = write!(x, " extendedType=\"{}\"", escape(xt));
        }
        let _ = write!(x, ">{}</dataType>", c.datatype);
        if c.indexed {
            x.push_str("<flag>indexed</flag>");
        }
        if c.principal {
            x.push_str("<flag>principal</flag>");
        }
        if c.nullable {
            x.push_str("<flag>nullable</flag>");
        }
        x.push_str("</column>\n");
    }
    for k in catalog.keys.iter().filter(|k| k.from_table == q) {
        let _ = write!(
            x,
            "<foreignKey><targetTable>{}</targetTable>",
            escape(&k.target_table)
        );
        for (a, b) in &k.columns {
            let _ = write!(
                x,
                "<fkColumn><fromColumn>{}</fromColumn><targetColumn>{}</targetColumn></fkColumn>",
                escape(a),
                escape(b)
            );
        }
        if let Some(d) = &k.description {
            let _ = write!(x, "<description>{}</description>", escape(d));
        }
        x.push_str("</foreignKey>\n");
    }
}

/// `GET {base}`: an HTML page for people.
pub(crate) async fn landing(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    mount: &'static str,
) -> Html<String> {
    let base = state.base_url(&headers, mount);
    let catalog = state.engine.catalog();
    let mut rows = String::new();
    for t in catalog.tables() {
        let _ = write!(
            rows,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&t.qualified_name()),
            t.columns.len(),
            escape(t.description.as_deref().unwrap_or(""))
        );
    }
    let base = escape(&base);
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>Parallax TAP service</title></head><body>\
         <h1>Parallax TAP service</h1>\
         <p>An IVOA TAP 1.1 service speaking ADQL 2.1. Point TOPCAT, STILTS, pyvo or astroquery \
         at <code>{base}</code>.</p>\
         <ul><li><a href=\"{base}/capabilities\">capabilities</a></li>\
         <li><a href=\"{base}/availability\">availability</a></li>\
         <li><a href=\"{base}/tables\">tables</a></li>\
         <li><a href=\"{base}/examples\">example queries</a></li></ul>\
         <p>Synchronous queries: <code>curl -d LANG=ADQL -d FORMAT=csv --data-urlencode \
         'QUERY=SELECT TOP 5 * FROM gaiadr3.gaia_source' {base}/sync</code></p>\
         <h2>Tables</h2><table><tr><th>table</th><th>columns</th><th>description</th></tr>\
         {rows}</table><p>Up since {}.</p></body></html>\n",
        iso8601(state.started),
    ))
}
