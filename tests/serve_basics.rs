//! What an operator and a generic client see of a running server: configuration errors,
//! authentication, health, reflection.

mod support;

use cashflow_proto::v1::*;
use std::process::Command;
use support::{CASHFLOW, Namespace, Server};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use uuid::Uuid;

#[test]
fn serve_refuses_to_start_without_a_jwt_secret_and_says_how_to_set_one() {
    let output = Command::new(CASHFLOW)
        .arg("serve")
        .env_remove("CASHFLOW_JWT_SECRET")
        .env("CASHFLOW_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/never_created")
        .output()
        .expect("run cashflow");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CASHFLOW_JWT_SECRET"), "{stderr}");
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api");
    let channel = server.channel().await;
    let request = || GetBalancesRequest { min_position: None, as_of: None };

    let mut anonymous = query_service_client::QueryServiceClient::new(channel.clone());
    assert_eq!(anonymous.get_balances(request()).await.expect_err("no token").code(), Code::Unauthenticated);

    let mut forged =
        query_service_client::QueryServiceClient::with_interceptor(channel.clone(), |mut r: tonic::Request<()>| {
            let token = support::token(Uuid::now_v7());
            // Same claims, signature of another key.
            let (body, _) = token.rsplit_once('.').expect("jwt");
            r.metadata_mut().insert("authorization", format!("Bearer {body}.AAAA").parse().expect("ascii"));
            Ok(r)
        });
    assert_eq!(forged.get_balances(request()).await.expect_err("bad signature").code(), Code::Unauthenticated);

    let mut unsigned = query_service_client::QueryServiceClient::with_interceptor(
        channel.clone(),
        |mut r: tonic::Request<()>| {
            // {"alg":"none","typ":"JWT"} . {"sub":…,"iss":"cashflow","aud":"cashflow","exp":4102444800}
            let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
            let claims = "eyJzdWIiOiIwMTkyZjVjMi04ZDNhLTdiMWUtOWM0Zi0yYTZiOGQwZTFmMzQiLCJpc3MiOiJjYXNoZmxvdyIsImF1ZCI6ImNhc2hmbG93IiwiZXhwIjo0MTAyNDQ0ODAwfQ";
            r.metadata_mut().insert("authorization", format!("Bearer {header}.{claims}.").parse().expect("ascii"));
            Ok(r)
        },
    );
    assert_eq!(unsigned.get_balances(request()).await.expect_err("alg none").code(), Code::Unauthenticated);

    let mut valid = server.query(Uuid::now_v7()).await;
    assert!(valid.get_balances(request()).await.expect("a valid token").into_inner().balances.is_empty());
}

#[tokio::test]
async fn health_reports_each_service_and_reflection_lists_them() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api");
    let mut health = HealthClient::new(server.channel().await);
    let services = [
        "",
        "cashflow.v1.LedgerService",
        "cashflow.v1.QueryService",
        "cashflow.v1.AuditService",
        "cashflow.v1.AuthService",
        "cashflow.v1.InvoiceService",
    ];
    for service in services {
        let status = health
            .check(HealthCheckRequest { service: service.into() })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses =
        reflection.server_reflection_info(tokio_stream::iter([request])).await.expect("reflection").into_inner();
    let response = responses.message().await.expect("a response").expect("not empty");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in ["cashflow.v1.LedgerService", "cashflow.v1.QueryService", "cashflow.v1.AuditService"] {
        assert!(names.contains(&service), "{names:?}");
    }
}
