//! TLS: with `CASHFLOW_TLS_CERT` / `CASHFLOW_TLS_KEY` the API speaks only TLS, with a
//! certificate generated here for `localhost`.

mod support;

use cashflow_proto::v1::query_service_client::QueryServiceClient;
use cashflow_proto::v1::*;
use support::{CASHFLOW, Namespace, Server, bearer};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_grpc_over_tls_with_a_generated_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).expect("write cert");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).expect("write key");

    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_TLS_CERT", cert_path.to_str().expect("utf-8")),
            ("CASHFLOW_TLS_KEY", key_path.to_str().expect("utf-8")),
        ],
    );
    let port = server.addr.rsplit(':').next().expect("port");

    let tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(certified.cert.pem())).domain_name("localhost");
    let channel = Channel::from_shared(format!("https://localhost:{port}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls config")
        .connect()
        .await
        .expect("a TLS connection trusting the generated certificate");
    let mut query = QueryServiceClient::with_interceptor(channel, bearer(Uuid::now_v7()));
    let balances =
        query.get_balances(GetBalancesRequest { min_position: None, as_of: None }).await.expect("a call over TLS");
    assert!(balances.into_inner().balances.is_empty());

    // Plaintext HTTP/2 to the TLS port fails.
    let plaintext = Channel::from_shared(format!("http://127.0.0.1:{port}")).expect("uri").connect().await;
    let refused = match plaintext {
        Err(_) => true,
        Ok(channel) => QueryServiceClient::with_interceptor(channel, bearer(Uuid::now_v7()))
            .get_balances(GetBalancesRequest { min_position: None, as_of: None })
            .await
            .is_err(),
    };
    assert!(refused, "a plaintext client must not get an answer from the TLS port");

    // And a client that does not trust the certificate is refused.
    let untrusted = Channel::from_shared(format!("https://localhost:{port}"))
        .expect("uri")
        .tls_config(ClientTlsConfig::new().domain_name("localhost"))
        .expect("tls config");
    assert!(untrusted.connect().await.is_err(), "an untrusted certificate must fail the handshake");
}
