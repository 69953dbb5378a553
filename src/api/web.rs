//! The dashboard: the static files under `web/` (HTML, CSS, ES modules; no build step),
//! embedded into the binary and served at `/` (index.html) and `/ui/{path}` with ETags,
//! gzip and `Cache-Control: no-cache` (browsers revalidate, a 304 costs one round trip).
//! With `VIGIL_WEB_DIR` set, files are read from that directory on every request instead,
//! so a developer edits and reloads without rebuilding.
//!
//! `include_dir!` tracks the embedded files' contents, not new files: after adding a file
//! under `web/`, touch this one (or build from a clean tree) so it is embedded.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use include_dir::{Dir, include_dir};

use super::ApiError;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web");

/// The page's own code only: scripts, styles and media from this origin (video plays from
/// `blob:` MediaSource URLs), WebSockets to wherever the live session URLs point.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// Where the dashboard's files come from.
#[derive(Debug, Clone)]
pub enum WebSource {
    /// Compiled into the binary.
    Embedded,
    /// Read from this directory on every request (development).
    Disk(PathBuf),
}

/// The dashboard routes (no fallback, so they merge into the API router, whatever its
/// state). `VIGIL_WEB_DIR` picks the directory source.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    match std::env::var_os("VIGIL_WEB_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            tracing::info!(dir = %dir.display(), "dashboard served from disk (VIGIL_WEB_DIR)");
            routes_from(WebSource::Disk(dir))
        }
        _ => routes_from(WebSource::Embedded),
    }
}

pub fn routes_from<S: Clone + Send + Sync + 'static>(source: WebSource) -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(asset))
        .with_state(Arc::new(source))
}

async fn index(State(source): State<Arc<WebSource>>, headers: HeaderMap) -> Response {
    serve(&source, "index.html", &headers)
}

async fn asset(
    State(source): State<Arc<WebSource>>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    serve(&source, &path, &headers)
}

/// One file, ready to send.
#[derive(Debug)]
struct Asset {
    body: Bytes,
    /// Present when the type compresses and gzip made it smaller.
    gzip: Option<Bytes>,
    /// Hash of `body`; the ETag is `"{tag}"`, or `"{tag}-gz"` for the gzip representation.
    tag: String,
    content_type: &'static str,
}

impl Asset {
    fn new(path: &str, body: Bytes, compress: bool) -> Option<Asset> {
        let content_type = content_type(path)?;
        let gzip = (compress && compressible(content_type))
            .then(|| gzip(&body))
            .filter(|gz| gz.len() < body.len());
        Some(Asset {
            tag: content_hash(&body),
            body,
            gzip,
            content_type,
        })
    }
}

fn serve(source: &WebSource, path: &str, headers: &HeaderMap) -> Response {
    let Some(rel) = clean_path(path) else {
        return not_found(path);
    };
    match source {
        WebSource::Embedded => match embedded().get(&rel) {
            Some(asset) => respond(asset, headers, "no-cache"),
            None => not_found(path),
        },
        WebSource::Disk(dir) => {
            let body = match std::fs::read(dir.join(&rel)) {
                Ok(b) => Bytes::from(b),
                Err(_) => return not_found(path),
            };
            match Asset::new(&rel, body, false) {
                Some(asset) => respond(&asset, headers, "no-store"),
                None => not_found(path),
            }
        }
    }
}

fn not_found(path: &str) -> Response {
    ApiError::NotFound(format!("no dashboard file {path}")).into_response()
}

/// Every embedded file by its path under `web/`, compressed once on first use.
fn embedded() -> &'static HashMap<String, Asset> {
    static ASSETS: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let mut map = HashMap::new();
        let mut dirs = vec![&EMBEDDED];
        while let Some(dir) = dirs.pop() {
            dirs.extend(dir.dirs());
            for file in dir.files() {
                let path = file.path().to_string_lossy().replace('\\', "/");
                let body = Bytes::from_static(file.contents());
                // Files of unknown type (editor backups, notes) are not served.
                if let Some(asset) = Asset::new(&path, body, true) {
                    map.insert(path, asset);
                }
            }
        }
        map
    })
}

/// The relative path of a request, or `None` when it could leave the directory or names
/// a hidden file.
fn clean_path(path: &str) -> Option<String> {
    if path.is_empty() || path.contains('\\') || path.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => {
                let p = p.to_str()?;
                if p.starts_with('.') {
                    return None;
                }
                parts.push(p);
            }
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn respond(asset: &Asset, headers: &HeaderMap, cache_control: &'static str) -> Response {
    let gz = asset.gzip.as_ref().filter(|_| accepts_gzip(headers));
    let etag = match gz {
        Some(_) => format!("\"{}-gz\"", asset.tag),
        None => format!("\"{}\"", asset.tag),
    };
    let mut out = HeaderMap::new();
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    put(ETAG, &etag);
    put(CACHE_CONTROL, cache_control);
    put(VARY, "Accept-Encoding");
    if matches_etag(headers, &asset.tag) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    put(CONTENT_TYPE, asset.content_type);
    put(HeaderName::from_static("x-content-type-options"), "nosniff");
    if asset.content_type.starts_with("text/html") {
        put(HeaderName::from_static("content-security-policy"), CSP);
        put(HeaderName::from_static("referrer-policy"), "no-referrer");
    }
    let body = match gz {
        Some(gz) => {
            put(CONTENT_ENCODING, "gzip");
            gz.clone()
        }
        None => asset.body.clone(),
    };
    (StatusCode::OK, out, body).into_response()
}

/// Whether `If-None-Match` names this content (either representation, weak or strong).
fn matches_etag(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| {
            let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
            t == "*" || t == tag || t.strip_suffix("-gz") == Some(tag)
        })
}

/// `Accept-Encoding` allows gzip: listed (or `*`) with a non-zero q, not refused by name.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for item in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type == "application/json"
        || content_type == "image/svg+xml"
}

fn gzip(data: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// A short content hash for ETags; stable for one build, which is all an ETag needs.
fn content_hash(data: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    data.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::io::Read;
    use tower::ServiceExt;

    async fn get(
        app: &Router,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut req = Request::get(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = r.into_parts();
        let body = axum::body::to_bytes(body, 1 << 24).await.unwrap();
        (parts.status, parts.headers, body)
    }

    fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
        h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    #[tokio::test]
    async fn index_is_utf8_html_with_csp_and_revalidates_by_etag() {
        let app = routes_from(WebSource::Embedded);
        let (status, h, body) = get(&app, "/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&h, "cache-control"), "no-cache");
        assert!(header(&h, "content-security-policy").contains("media-src 'self' blob:"));
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .contains("<meta charset=\"utf-8\">")
        );
        let etag = header(&h, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

        let (status, h2, body) = get(&app, "/", &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(header(&h2, "etag"), etag);
        let (status, _, _) = get(&app, "/", &[("if-none-match", "\"other\"")]).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn gzip_when_accepted_and_it_inflates_to_the_same_bytes() {
        let app = routes_from(WebSource::Embedded);
        let (_, plain_h, plain) = get(&app, "/ui/app.css", &[]).await;
        assert_eq!(header(&plain_h, "content-encoding"), "");
        let (status, h, gz) = get(
            &app,
            "/ui/app.css",
            &[("accept-encoding", "br, gzip;q=0.8")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-encoding"), "gzip");
        assert_eq!(header(&h, "vary"), "Accept-Encoding");
        assert!(gz.len() < plain.len());
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, plain);
        // The gzip ETag differs, and either one revalidates.
        let gz_etag = header(&h, "etag").to_owned();
        assert_ne!(gz_etag, header(&plain_h, "etag"));
        let (status, _, _) = get(
            &app,
            "/ui/app.css",
            &[("if-none-match", &format!("W/{gz_etag}"))],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn accept_encoding_rules() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip, deflate, br"));
        assert!(h("*"));
        assert!(!h("gzip;q=0"));
        assert!(!h("*, gzip;q=0"));
        assert!(!h("br"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn every_embedded_file_is_served_with_a_known_type() {
        let mut all = Vec::new();
        let mut dirs = vec![&EMBEDDED];
        while let Some(d) = dirs.pop() {
            dirs.extend(d.dirs());
            all.extend(d.files().map(|f| f.path().to_string_lossy().into_owned()));
        }
        assert!(all.iter().any(|p| p == "index.html"), "{all:?}");
        for p in &all {
            assert!(content_type(p).is_some(), "web/{p} has no content type");
            assert!(embedded().contains_key(p), "web/{p} not served");
        }
    }

    #[tokio::test]
    async fn paths_outside_the_directory_or_hidden_are_404_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>dev</p>").unwrap();
        std::fs::write(dir.path().join(".secret.txt"), "no").unwrap();
        let app = routes_from(WebSource::Disk(dir.path().join("sub")));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for uri in [
            "/ui/../index.html",
            "/ui/%2e%2e/index.html",
            "/ui/sub/%2e%2e/%2e%2e/index.html",
            "/ui/..%5cindex.html",
            "/ui/.secret.txt",
            "/ui/missing.js",
            "/ui/README",
        ] {
            let (status, h, body) = get(&app, uri, &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert!(
                header(&h, "content-type").starts_with("application/json"),
                "{uri}"
            );
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], "not_found", "{uri}");
        }
        assert_eq!(clean_path("js/app.js").as_deref(), Some("js/app.js"));
        assert_eq!(clean_path("/etc/passwd"), None);
        assert_eq!(clean_path("js/../../x"), None);
    }

    #[tokio::test]
    async fn a_disk_directory_serves_edits_without_caching() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.js");
        std::fs::write(&file, "export const v = 1;").unwrap();
        let app = routes_from(WebSource::Disk(dir.path().to_owned()));
        let (status, h1, body) = get(&app, "/ui/app.js", &[("accept-encoding", "gzip")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"export const v = 1;");
        assert_eq!(header(&h1, "cache-control"), "no-store");
        assert_eq!(
            header(&h1, "content-type"),
            "text/javascript; charset=utf-8"
        );
        std::fs::write(&file, "export const v = 2;").unwrap();
        let (_, h2, body) = get(&app, "/ui/app.js", &[]).await;
        assert_eq!(&body[..], b"export const v = 2;");
        assert_ne!(header(&h1, "etag"), header(&h2, "etag"));
    }
}
