//! The browser app on the gRPC port (ADR 0025): every request that is not gRPC or grpc-web and
//! names no RPC gets the built assets of `CASHFLOW_WEB_DIR`, or the `index.html` of the
//! single-page app for the app's own paths, or a page saying how to build the app.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderValue, Method, StatusCode};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tonic::service::Routes;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Vite puts every hashed file here: its name changes with its content, so it is cached for good.
const HASHED_PREFIX: &str = "/assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `index.html` and unhashed files: revalidated on every load, so a deploy shows at once.
const REVALIDATE: &str = "no-cache";

/// `routes` translated from grpc-web, with the app as their fallback: the RPC paths keep their
/// services, and a gRPC or grpc-web call to an unknown method still gets tonic's traced
/// `UNIMPLEMENTED` (counted as `unknown/unknown`).
///
/// grpc-web is translated on the RPC routes only, not around the whole server: tonic-web answers
/// every other HTTP/1.1 request 400, which would hide the app from browsers.
pub fn with_app(routes: Routes, dir: &Path) -> Routes {
    let app = Arc::new(WebApp::new(dir));
    let rpc = routes.into_axum_router().layer(tonic_web::GrpcWebLayer::new());
    let unknown_rpc = rpc.clone();
    let router = rpc.fallback(move |request: Request| {
        let (app, unknown_rpc) = (app.clone(), unknown_rpc.clone());
        async move {
            if is_grpc(&request) {
                // No route matched: the original router answers it with its own fallback.
                unknown_rpc.oneshot(request).await.unwrap_or_else(|never| match never {})
            } else {
                app.serve(request).await
            }
        }
    });
    Routes::from(router)
}

/// The built assets of one directory.
#[derive(Debug)]
struct WebApp {
    index: PathBuf,
    files: ServeDir,
    page: ServeFile,
}

impl WebApp {
    fn new(dir: &Path) -> Self {
        let index = dir.join("index.html");
        Self { files: ServeDir::new(dir).append_index_html_on_directories(false), page: ServeFile::new(&index), index }
    }

    async fn serve(&self, request: Request) -> Response {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return (StatusCode::METHOD_NOT_ALLOWED, [(ALLOW, "GET, HEAD")]).into_response();
        }
        // Checked on every request, so building the app while the service runs needs no restart.
        if !tokio::fs::try_exists(&self.index).await.unwrap_or(false) {
            return not_built();
        }
        let path = request.uri().path().to_owned();
        let mut response = if path == "/" || path == "/index.html" {
            self.page.clone().oneshot(request).await.map(|r| r.map(Body::new))
        } else {
            let (parts, body) = request.into_parts();
            let found = self.files.clone().oneshot(Request::from_parts(parts.clone(), body)).await;
            match found {
                // A path of the app (`/movements`), not a file: the app routes it itself.
                Ok(response) if response.status() == StatusCode::NOT_FOUND && is_app_path(&path) => {
                    self.page.clone().oneshot(Request::from_parts(parts, Body::empty())).await.map(|r| r.map(Body::new))
                }
                other => other.map(|r| r.map(Body::new)),
            }
        }
        .unwrap_or_else(|never| match never {});
        let hashed = path.starts_with(HASHED_PREFIX) && response.status().is_success();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(if hashed { IMMUTABLE } else { REVALIDATE }));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

/// gRPC and grpc-web calls carry an `application/grpc…` content type; pages and assets do not.
fn is_grpc(request: &Request) -> bool {
    request.headers().get(CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Whether a path no file answers is one of the app's own (no file extension), so `index.html`
/// answers it; a missing `/assets/x.js` stays 404.
fn is_app_path(path: &str) -> bool {
    !path.starts_with(HASHED_PREFIX) && !path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// 503 while the assets are missing: says how to build them.
fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-store")],
        NOT_BUILT_PAGE,
    )
        .into_response()
}

const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cashflow: the web app is not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>The Cashflow web app is not built</h1>
<p>The service is running and answers gRPC and grpc-web on this port, but it found no built
browser app to serve here.</p>
<p>Build it from the repository's root, then reload this page:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>The service serves the directory named by <code>CASHFLOW_WEB_DIR</code>
(<code>web/dist</code> relative to its working directory by default).</p>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_extensionless_paths_outside_assets_fall_back_to_the_app() {
        assert!(is_app_path("/movements"));
        assert!(is_app_path("/accounts/42"));
        assert!(!is_app_path("/assets/index-abc123.js"));
        assert!(!is_app_path("/assets/later"));
        assert!(!is_app_path("/favicon.ico"));
    }
}
