//! The web console: a single-page ADQL editor, job list, result table and sky plot served at
//! the TAP base URL to browsers (clients whose `Accept` names `text/html`). Plain HTML, CSS and
//! JavaScript embedded in the binary: no build step, no CDN, works offline. The page talks to
//! the TAP resources next to it (`/sync`, `/async`, `/examples`) like any other TAP client.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// One embedded asset.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// Strong validator derived from the content at compile time.
    etag: &'static str,
}

/// FNV-1a over the asset bytes, as 16 hex digits: changes whenever the file changes.
const fn fnv1a(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < b.len() {
        h ^= b[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

const fn hex16(mut v: u64) -> [u8; 18] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut i = 16;
    while i > 0 {
        out[i] = DIGITS[(v & 0xf) as usize];
        v >>= 4;
        i -= 1;
    }
    out
}

static SCRIPT_TAG: [u8; 18] = hex16(fnv1a(SCRIPT));
static STYLE_TAG: [u8; 18] = hex16(fnv1a(STYLE));

fn etag_str(tag: &'static [u8; 18]) -> &'static str {
    // Only ASCII hex digits and quotes, so this cannot fail.
    std::str::from_utf8(tag).unwrap_or("\"0\"")
}

fn assets() -> [Asset; 2] {
    [
        Asset {
            name: "console.js",
            content_type: "text/javascript; charset=utf-8",
            body: SCRIPT,
            etag: etag_str(&SCRIPT_TAG),
        },
        Asset {
            name: "console.css",
            content_type: "text/css; charset=utf-8",
            body: STYLE,
            etag: etag_str(&STYLE_TAG),
        },
    ]
}

/// Whether the client asked for HTML: a browser navigating to the base URL. `Accept: */*`
/// (curl, TAP libraries) or no header keeps the plain landing page.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let mime = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            !refused
                && (mime.eq_ignore_ascii_case("text/html")
                    || mime.eq_ignore_ascii_case("application/xhtml+xml"))
        })
}

/// A policy that keeps the page self-contained: scripts, styles and requests only from here.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'self'";

/// The console page for the TAP service mounted at `mount`.
pub(crate) fn index(mount: &str) -> Response {
    let [script, style] = assets();
    let page = INDEX
        .replace("{{MOUNT}}", mount)
        .replace("{{SCRIPT_VERSION}}", script.etag.trim_matches('"'))
        .replace("{{STYLE_VERSION}}", style.etag.trim_matches('"'))
        .replace("{{VERSION}}", env!("CARGO_PKG_VERSION"));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page is small and names its versioned assets: always revalidate it.
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "Accept"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page,
    )
        .into_response()
}

/// `GET {mount}/console/{name}`: an embedded script or style sheet.
pub(crate) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = assets().into_iter().find(|a| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no console asset named '{name}'\n"),
        )
            .into_response();
    };
    let etag = HeaderValue::from_static(a.etag);
    let cache = HeaderValue::from_static("public, max-age=86400");
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == a.etag
        });
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn browsers_get_html_api_clients_do_not() {
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&accept("application/xhtml+xml")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("application/xml")));
        assert!(!wants_html(&accept("text/html;q=0")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn etags_follow_content() {
        assert_ne!(fnv1a("a"), fnv1a("b"));
        let [s, c] = assets();
        assert!(s.etag.starts_with('"') && s.etag.ends_with('"') && s.etag.len() == 18);
        assert_ne!(s.etag, c.etag);
    }

    #[test]
    fn page_names_its_assets_under_the_mount() {
        let page = INDEX
            .replace("{{MOUNT}}", "/tap")
            .replace("{{SCRIPT_VERSION}}", "x");
        assert!(page.contains("/tap/console/console.js?v=x"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
