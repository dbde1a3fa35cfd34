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
