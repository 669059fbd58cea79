//! The web console: `GET /` is its page, `GET /console/{file}` its ES
//! modules, stylesheet and vendored libraries. Every file is compiled into
//! the binary (`include_bytes!`), so the console needs no npm step, no CDN
//! and no network beyond this server. The files live in `server/console/`.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

pub struct Asset {
    pub path: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            mime: mime_of($path),
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)),
        }),*]
    };
}

const fn mime_of(path: &str) -> &'static str {
    let b = path.as_bytes();
    let n = b.len();
    if n > 3 && b[n - 3] == b'.' && b[n - 2] == b'j' && b[n - 1] == b's' {
        "text/javascript; charset=utf-8"
    } else if n > 4 && b[n - 4] == b'.' && b[n - 3] == b'c' && b[n - 2] == b's' && b[n - 1] == b's' {
        "text/css; charset=utf-8"
    } else if n > 5 && b[n - 5] == b'.' && b[n - 4] == b'h' {
        "text/html; charset=utf-8"
    } else if n > 5 && b[n - 5] == b'.' && b[n - 4] == b'j' {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

/// Every file the console serves (a test checks this list against the folder).
pub static ASSETS: &[Asset] = assets![
    "index.html",
    "style.css",
    "app.js",
    "api.js",
    "lib.js",
    "live.js",
    "flags.js",
    "flag.js",
    "rules.js",
    "segments.js",
    "bundles.js",
    "cohorts.js",
    "audit.js",
    "releases.js",
    "signin.js",
    "people.js",
    "requests.js",
    "applyat.js",
    "whoami.js",
    "freeze.js",
    "archive.js",
    "promote.js",
    "conflict.js",
    "diff.js",
    "receipt.js",
    "history.js",
    "schedule.js",
    "urlstate.js",
    "usage.js",
    "explain.js",
    "playground.js",
    "vendor/preact.js",
    "vendor/hooks.js",
    "vendor/htm.js",
    "vendor/VERSIONS.json",
    "vendor/LICENSES.txt",
];

/// Same-origin only: no inline script, no third-party host, not framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Stateless: the files are compiled in.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers) }),
        )
}

/// Content hashes, computed once: the `ETag` of each file.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.body)[..12])))
            .collect()
    })
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return ApiError::NotFound(format!("console file `{path}`")).into_response();
    };
    let asset = &ASSETS[i];
    let etag = &etags()[i];
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, asset.mime)], asset.body).into_response()
    };
    let h = response.headers_mut();
    // Revalidate every time: a new server binary must never run with the
    // previous release's modules.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(ETAG, v);
    }
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to `server/console/` but not to `ASSETS` would be
    /// missing from the binary; one listed but deleted fails to compile.
    #[test]
    fn every_console_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        for dir in ["", "vendor"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("console folder") {
                let entry = entry.expect("entry");
                let name = entry.file_name().into_string().expect("utf-8 name");
                let tooling = [
                    "package.json",
                    "package-lock.json",
                    "vendor.mjs",
                    "node_modules",
                    "vendor",
                ];
                if entry.file_type().expect("type").is_file() && !tooling.contains(&name.as_str()) {
                    on_disk.push(if dir.is_empty() { name } else { format!("{dir}/{name}") });
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn mime_types() {
        assert!(mime_of("app.js").starts_with("text/javascript"));
        assert!(mime_of("style.css").starts_with("text/css"));
        assert!(mime_of("index.html").starts_with("text/html"));
        assert_eq!(mime_of("vendor/VERSIONS.json"), "application/json");
        assert!(mime_of("vendor/LICENSES.txt").starts_with("text/plain"));
    }
}
