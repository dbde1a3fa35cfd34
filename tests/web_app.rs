//! The browser app on the gRPC port (ADRs 0025 and 0026): the built assets with their content
//! types and cache headers, the app's own paths answered by `index.html`, a page saying how to
//! build the app when it is not built, gRPC untouched; and the app's flows in Debian's Chromium
//! (`web/e2e/flows.mjs`, playwright-core) against the real binary with every role (OCR,
//! notifications and reports included), PostgreSQL and NATS, uploading a receipt rendered here.

mod support;

#[path = "../crates/ocr/tests/support/mod.rs"]
mod receipts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{CASHFLOW, Namespace, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` over HTTP/1.1, as a browser asks for a page: status, headers, body.
async fn get(addr: &str, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/html,*/*\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status =
        lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok()).expect("status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, String::from_utf8_lossy(&raw[split + 4..]).into_owned())
}

fn built_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("assets")).expect("assets dir");
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>Cashflow test app</title>").expect("index");
    std::fs::write(dir.path().join("assets/index-Ab12Cd34.js"), "console.log('app')").expect("script");
    std::fs::write(dir.path().join("assets/index-Ef56Gh78.css"), "body{}").expect("style");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_app_is_served_beside_grpc_with_cache_headers_and_app_paths() {
    let namespace = Namespace::new();
    let app = built_app();
    let dir = app.path().to_str().expect("utf-8 path");
    let server = Server::start_with(CASHFLOW, &namespace, "api", &[("CASHFLOW_WEB_DIR", dir)]);

    let (status, headers, body) = get(&server.addr, "/").await;
    assert_eq!(status, 200, "{headers:?}");
    assert!(headers["content-type"].starts_with("text/html"), "{headers:?}");
    assert_eq!(headers["cache-control"], "no-cache", "index.html is revalidated");
    assert!(body.contains("Cashflow test app"), "{body}");

    let (status, headers, body) = get(&server.addr, "/assets/index-Ab12Cd34.js").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].contains("javascript"), "{headers:?}");
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(body, "console.log('app')");
    let (_, headers, _) = get(&server.addr, "/assets/index-Ef56Gh78.css").await;
    assert!(headers["content-type"].starts_with("text/css"), "{headers:?}");

    // The app's own paths load the app; a missing file is a 404, never the app.
    let (status, headers, body) = get(&server.addr, "/movements/2026-11").await;
    assert_eq!((status, headers["cache-control"].as_str()), (200, "no-cache"));
    assert!(body.contains("Cashflow test app"));
    let (status, headers, _) = get(&server.addr, "/assets/index-missing.js").await;
    assert_eq!(status, 404);
    assert_ne!(headers.get("cache-control").map(String::as_str), Some("public, max-age=31536000, immutable"));
    let (_, _, body) = get(&server.addr, "/../../etc/passwd").await;
    assert!(!body.contains("root:"), "no way out of the directory");

    // gRPC is untouched: health answers, an unknown service is still UNIMPLEMENTED, not a page.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let serving =
        health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.expect("health over gRPC");
    assert_eq!(serving.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    let unknown =
        support::web::post(&server.addr, "/cashflow.v1.NoSuchService/Method", &[], &support::web::frame(0, &[])).await;
    assert_eq!(unknown.grpc_status(), Some(12), "UNIMPLEMENTED over grpc-web: {unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_app_the_page_says_how_to_build_it() {
    let namespace = Namespace::new();
    let empty = tempfile::tempdir().expect("temp dir");
    let missing = empty.path().join("dist");
    let server =
        Server::start_with(CASHFLOW, &namespace, "api", &[("CASHFLOW_WEB_DIR", missing.to_str().expect("utf-8"))]);
    for path in ["/", "/movements"] {
        let (status, headers, body) = get(&server.addr, path).await;
        assert_eq!(status, 503, "{path}: {headers:?}");
        assert!(headers["content-type"].starts_with("text/html"), "{headers:?}");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(body.contains("npm ci &amp;&amp; npm run build") && body.contains("CASHFLOW_WEB_DIR"), "{body}");
    }

    // Built while the service runs: served at once, no restart.
    std::fs::create_dir(&missing).expect("dist");
    std::fs::write(missing.join("index.html"), "<!doctype html><title>now built</title>").expect("index");
    let (status, _, body) = get(&server.addr, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("now built"));
}

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// A photographed supermarket receipt, as the invoice tests read it: Mercadona, 23 November
/// 2026, 23.45 EUR.
fn receipt_photo() -> Vec<u8> {
    let text = "^MERCADONA S.A.\n^C/ Mayor 12, Madrid\n^CIF A-46103834\nFecha: 23/11/2026 18:42\n\n\
                LECHE ENTERA 1L|1,15\nPAN DE MOLDE|1,85\nTOMATE RAMA|2,40\nACEITE OLIVA 1L|8,95\nQUESO CURADO|9,10\n\n\
                BASE IMPONIBLE|21,32\nIVA 10%|2,13\nTOTAL A PAGAR|23,45 €\nEFECTIVO|50,00\nCAMBIO|26,55";
    let look =
        receipts::Look { face: receipts::Face::DejaVuSans, px: 30.0, width: 900, rotation: 0.6, noise: 8, blur: false };
    receipts::encode(&receipts::render(text, look), receipts::Encoding::Png)
}

/// Access tokens this short make the browser test see the app refresh them (and wait them out:
/// the server accepts a token `LEEWAY_SECS` past its expiry).
const BROWSER_TOKEN_TTL_SECS: &str = "5";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_flows_pass_in_chromium() {
    let web = root().join("web");
    let dist = web.join("dist");
    // A missing build or browser fails here, loudly: it is part of the product, not optional.
    assert!(
        dist.join("index.html").is_file(),
        "the web app is not built at {}: run `cd web && npm ci && npm run build` (.ci/run does)",
        dist.display()
    );
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `cd web && npm ci` (.ci/run does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "no Chromium at {chromium}: `apt-get install chromium` (scripts/system-packages.txt; .ci/run installs it)"
    );

    // The browser picks this file for the Receipt field.
    let fixtures = tempfile::tempdir().expect("temp dir");
    let receipt = fixtures.path().join("mercadona.png");
    std::fs::write(&receipt, receipt_photo()).expect("write the receipt");

    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api,relay,projectors,ocr,categoriser,notifications,reports",
        &[
            ("CASHFLOW_WEB_DIR", dist.to_str().expect("utf-8 path")),
            ("CASHFLOW_ACCESS_TOKEN_TTL_SECS", BROWSER_TOKEN_TTL_SECS),
        ],
    );
    // Kept after the run: look at them (<target>/web-screenshots).
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../web-screenshots");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(web.join("e2e/flows.mjs"))
            .env("CASHFLOW_URL", format!("http://{}", server.addr))
            .env("SCREENSHOT_DIR", &screenshots)
            .env("RECEIPT", &receipt)
            .env("DOWNLOAD_DIR", fixtures.path())
            .env("CHROMIUM", &chromium)
            .env("ACCESS_TOKEN_TTL_SECS", BROWSER_TOKEN_TTL_SECS)
            .env("ACCESS_TOKEN_LEEWAY_SECS", cashflow_api::auth::LEEWAY_SECS.to_string())
            .output()
            .map(|output| (output, server))
    })
    .await
    .expect("join")
    .expect("run node (Node.js 20 or later on PATH)");
    let (output, _server) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "web flows failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("web flows passed"), "{stdout}\n{stderr}");
}
