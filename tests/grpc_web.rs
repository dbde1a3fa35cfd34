//! grpc-web on the gRPC port: real grpc-web frames over HTTP/1.1 from a plain TCP socket,
//! trailers read from the body, and CORS only for the configured origins.

mod support;

use cashflow_proto::v1::*;
use prost::Message;
use support::web::{frame, post, raw};
use support::{CASHFLOW, Namespace, Server, command_id, token};
use uuid::Uuid;

const ALLOWED: &str = "https://app.example.com";

fn start(namespace: &Namespace) -> Server {
    Server::start_with(
        CASHFLOW,
        namespace,
        "api",
        &[("CASHFLOW_CORS_ORIGINS", &format!("{ALLOWED}, http://localhost:5173"))],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_and_a_query_over_grpc_web_on_http1() {
    let namespace = Namespace::new();
    let server = start(&namespace);
    let user = Uuid::now_v7();
    let bearer = format!("Bearer {}", token(user));

    let open = OpenAccountRequest {
        command_id: command_id(),
        name: "Web".into(),
        currency: "EUR".into(),
        opening_balance: Some("12.50".into()),
    };
    let response = post(
        &server.addr,
        "/cashflow.v1.LedgerService/OpenAccount",
        &[("authorization", &bearer), ("origin", ALLOWED)],
        &frame(0, &open.encode_to_vec()),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.headers["content-type"].starts_with("application/grpc-web"), "{response:?}");
    assert_eq!(response.trailers.get("grpc-status").map(String::as_str), Some("0"), "{response:?}");
    assert_eq!(response.headers.get("access-control-allow-origin").map(String::as_str), Some(ALLOWED));
    assert!(response.headers.get("access-control-expose-headers").is_some_and(|v| v.contains("grpc-status")));
    assert_eq!(response.messages.len(), 1);
    let opened = OpenAccountResponse::decode(response.messages[0].as_slice()).expect("an OpenAccountResponse");
    Uuid::parse_str(&opened.account_id).expect("an account id");
    assert!(opened.position > 0);

    // The same idempotent command again answers the first result.
    let again = post(
        &server.addr,
        "/cashflow.v1.LedgerService/OpenAccount",
        &[("authorization", &bearer)],
        &frame(0, &open.encode_to_vec()),
    )
    .await;
    assert_eq!(OpenAccountResponse::decode(again.messages[0].as_slice()).expect("decode"), opened);

    // The contract's codes come back in the trailers too.
    let invalid = RecordMovementRequest {
        command_id: command_id(),
        account_id: opened.account_id.clone(),
        direction: Direction::Expense.into(),
        amount: "1.23456".into(),
        occurred_on: "2026-01-02".into(),
        description: "too precise".into(),
        ..Default::default()
    };
    let response = post(
        &server.addr,
        "/cashflow.v1.LedgerService/RecordMovement",
        &[("authorization", &bearer)],
        &frame(0, &invalid.encode_to_vec()),
    )
    .await;
    assert_eq!(response.grpc_status(), Some(3), "INVALID_ARGUMENT: {response:?}");
}

/// A 1×1 PNG.
const PIXEL_PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Browsers cannot stream a request, so a receipt goes up whole in `UploadInvoiceFile`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_goes_up_in_one_grpc_web_message() {
    let namespace = Namespace::new();
    let server = start(&namespace);
    let bearer = format!("Bearer {}", token(Uuid::now_v7()));
    let upload = |content_type: &str| UploadInvoiceFileRequest {
        command_id: command_id(),
        filename: "pixel.png".into(),
        content_type: content_type.into(),
        account_id: None,
        content: PIXEL_PNG.to_vec(),
    };
    let path = "/cashflow.v1.InvoiceService/UploadInvoiceFile";
    let headers = [("authorization", bearer.as_str()), ("origin", ALLOWED)];
    let response = post(&server.addr, path, &headers, &frame(0, &upload("image/png").encode_to_vec())).await;
    assert_eq!(response.grpc_status(), Some(0), "{response:?}");
    let uploaded = UploadInvoiceResponse::decode(response.messages[0].as_slice()).expect("an UploadInvoiceResponse");
    Uuid::parse_str(&uploaded.invoice_id).expect("an invoice id");
    assert!(uploaded.position > 0);

    // A file that is not what it says: INVALID_ARGUMENT in the trailers, with its field.
    let lying = post(&server.addr, path, &headers, &frame(0, &upload("application/pdf").encode_to_vec())).await;
    assert_eq!(lying.grpc_status(), Some(3), "{lying:?}");
    // A refusal before any message comes "trailers-only": in the headers.
    let details = lying.trailers.get("grpc-status-details-bin").or(lying.headers.get("grpc-status-details-bin"));
    assert!(details.is_some_and(|details| !details.is_empty()), "{lying:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_without_a_token_or_with_garbage_bytes_gets_clean_codes() {
    let namespace = Namespace::new();
    let server = start(&namespace);
    let body = frame(0, &GetBalancesRequest { min_position: None, as_of: None }.encode_to_vec());
    let anonymous = post(&server.addr, "/cashflow.v1.QueryService/GetBalances", &[], &body).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.grpc_status(), Some(16), "UNAUTHENTICATED: {anonymous:?}");

    // Bytes that are not a protobuf message: INVALID_ARGUMENT, not INTERNAL.
    let bearer = format!("Bearer {}", token(Uuid::now_v7()));
    let garbage = frame(0, &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    let response =
        post(&server.addr, "/cashflow.v1.LedgerService/OpenAccount", &[("authorization", &bearer)], &garbage).await;
    assert_eq!(response.grpc_status(), Some(3), "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_allows_only_the_configured_origins() {
    let namespace = Namespace::new();
    let server = start(&namespace);
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /cashflow.v1.QueryService/GetBalances HTTP/1.1\r\nhost: {}\r\norigin: {origin}\r\n\
             access-control-request-method: POST\r\n\
             access-control-request-headers: authorization,content-type,x-grpc-web\r\nconnection: close\r\n\r\n",
            server.addr
        )
    };
    let (status, headers) = raw(&server.addr, &preflight(ALLOWED)).await;
    assert!((200..300).contains(&status), "{status} {headers:?}");
    assert_eq!(headers.get("access-control-allow-origin").map(String::as_str), Some(ALLOWED));
    let allowed_headers = headers.get("access-control-allow-headers").cloned().unwrap_or_default();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("x-grpc-web"), "{headers:?}");

    let (_, headers) = raw(&server.addr, &preflight("https://evil.example.com")).await;
    assert_eq!(headers.get("access-control-allow-origin"), None, "{headers:?}");
}
