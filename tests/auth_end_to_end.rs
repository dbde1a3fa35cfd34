//! End to end: accounts, sessions and access tokens against the real binary and PostgreSQL.
//! Register, login, call with the token, refresh rotation, reuse detection, logout; every kind
//! of bad token refused; the login and per-user rate limits.

mod support;

use cashflow_proto::v1::auth_service_client::AuthServiceClient;
use cashflow_proto::v1::query_service_client::QueryServiceClient;
use cashflow_proto::v1::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use support::{CASHFLOW, Namespace, SECRET, Server, command_id};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const PASSWORD: &str = "orange-kettle-sings";

async fn auth(server: &Server) -> AuthServiceClient<Channel> {
    AuthServiceClient::new(server.channel().await)
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ascii"));
    request
}

async fn login(auth: &mut AuthServiceClient<Channel>, email: &str, password: &str) -> Result<TokenPair, tonic::Status> {
    auth.login(LoginRequest { email: email.into(), password: password.into() }).await.map(|r| r.into_inner())
}

async fn balances(server: &Server, token: &str) -> Result<GetBalancesResponse, tonic::Status> {
    let mut query = QueryServiceClient::new(server.channel().await);
    query
        .get_balances(with_token(GetBalancesRequest { min_position: None, as_of: None }, token))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_call_refresh_reuse_and_logout() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api");
    let mut auth = auth(&server).await;

    let user_id = auth
        .register(RegisterRequest {
            email: " Alice@Example.com".into(),
            password: PASSWORD.into(),
            display_name: "Alice".into(),
        })
        .await
        .expect("register")
        .into_inner()
        .user_id;

    // Refusals name their field. A taken email is not refused: it is answered like a new one
    // (with an id of no account), so Register tells nobody which emails have accounts (ADR 0012).
    let weak = auth
        .register(RegisterRequest {
            email: "bob@example.com".into(),
            password: "password123".into(),
            display_name: "Bob".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(weak.code(), Code::InvalidArgument);
    assert_eq!(weak.get_details_bad_request().expect("BadRequest").field_violations[0].field, "password");
    let taken = auth
        .register(RegisterRequest {
            email: "alice@example.com".into(),
            password: PASSWORD.into(),
            display_name: "Eve".into(),
        })
        .await
        .expect("a taken email is answered like a new one")
        .into_inner();
    assert_ne!(taken.user_id, user_id);

    // Wrong password and unknown email: one answer.
    let wrong_password = login(&mut auth, "alice@example.com", "orange-kettle-sang").await.unwrap_err();
    let unknown_email = login(&mut auth, "nobody@example.com", PASSWORD).await.unwrap_err();
    assert_eq!((wrong_password.code(), unknown_email.code()), (Code::Unauthenticated, Code::Unauthenticated));
    assert_eq!(wrong_password.message(), unknown_email.message());

    // The access token opens the other services, for this user.
    let first = login(&mut auth, "ALICE@example.com", PASSWORD).await.expect("login");
    assert_eq!(first.expires_in, 900);
    let mut ledger = cashflow_proto::v1::ledger_service_client::LedgerServiceClient::new(server.channel().await);
    let opened = ledger
        .open_account(with_token(
            OpenAccountRequest {
                command_id: command_id(),
                name: "Main".into(),
                currency: "EUR".into(),
                opening_balance: None,
            },
            &first.access_token,
        ))
        .await
        .expect("open an account with the issued token");
    assert!(!opened.into_inner().account_id.is_empty());
    let claims =
        jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&first.access_token).expect("jwt").claims;
    assert_eq!(claims["sub"], json!(user_id));
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some("cashflow"), Some("cashflow")));

    // Refresh rotates: a new pair, and the old refresh token is spent.
    let second = auth
        .refresh(RefreshRequest { refresh_token: first.refresh_token.clone() })
        .await
        .expect("refresh")
        .into_inner();
    assert_ne!(second.refresh_token, first.refresh_token);
    balances(&server, &second.access_token).await.expect("the refreshed access token works");
    let third = auth
        .refresh(RefreshRequest { refresh_token: second.refresh_token.clone() })
        .await
        .expect("refresh again")
        .into_inner();

    // The spent first token comes back: theft. Its whole family is revoked, the newest too.
    let reused = auth.refresh(RefreshRequest { refresh_token: first.refresh_token.clone() }).await.unwrap_err();
    assert_eq!(reused.code(), Code::Unauthenticated);
    let after_theft = auth.refresh(RefreshRequest { refresh_token: third.refresh_token.clone() }).await.unwrap_err();
    assert_eq!(after_theft.code(), Code::Unauthenticated, "the family must be revoked");

    // Logout revokes a fresh session's family; other sessions live on.
    let session = login(&mut auth, "alice@example.com", PASSWORD).await.expect("login again");
    let other = login(&mut auth, "alice@example.com", PASSWORD).await.expect("second device");
    auth.logout(LogoutRequest { refresh_token: session.refresh_token.clone() }).await.expect("logout");
    let logged_out = auth.refresh(RefreshRequest { refresh_token: session.refresh_token }).await.unwrap_err();
    assert_eq!(logged_out.code(), Code::Unauthenticated);
    auth.refresh(RefreshRequest { refresh_token: other.refresh_token }).await.expect("another session is untouched");
    let garbage =
        auth.refresh(RefreshRequest { refresh_token: "'; DROP TABLE identity_users; --".into() }).await.unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);

    // Only hashes are stored.
    let pool = namespace.pool().await;
    use sqlx::Row;
    let stored: String = sqlx::query("SELECT password_hash FROM identity_users").fetch_one(&pool).await.unwrap().get(0);
    assert!(stored.starts_with("$argon2id$"));
    let leaked: i64 = sqlx::query("SELECT count(*) FROM identity_refresh_tokens WHERE encode(token_hash, 'hex') = $1")
        .bind(&third.refresh_token)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0, "a refresh token is stored only as its hash");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited_per_email_and_address() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[("CASHFLOW_RATE_LIMIT_LOGIN_BURST", "3"), ("CASHFLOW_RATE_LIMIT_LOGIN_PER_MINUTE", "1")],
    );
    let mut auth = auth(&server).await;
    auth.register(RegisterRequest {
        email: "carol@example.com".into(),
        password: PASSWORD.into(),
        display_name: "Carol".into(),
    })
    .await
    .expect("register");
    for _ in 0..3 {
        assert_eq!(
            login(&mut auth, "carol@example.com", "guess-number-one").await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    // The right password does not help once the allowance is spent.
    let limited = login(&mut auth, "carol@example.com", PASSWORD).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    let retry = limited.get_details_retry_info().expect("RetryInfo").retry_delay.expect("a delay");
    assert!(retry.as_secs() > 0 && retry.as_secs() <= 60, "{retry:?}");
    // Another email from the same address has its own allowance.
    assert_eq!(login(&mut auth, "dave@example.com", PASSWORD).await.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_has_a_rate_limit_on_queries_and_commands() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_RATE_LIMIT_QUERIES_BURST", "2"),
            ("CASHFLOW_RATE_LIMIT_QUERIES_PER_MINUTE", "1"),
            ("CASHFLOW_RATE_LIMIT_COMMANDS_BURST", "1"),
            ("CASHFLOW_RATE_LIMIT_COMMANDS_PER_MINUTE", "1"),
        ],
    );
    let alice = support::token(uuid::Uuid::now_v7());
    balances(&server, &alice).await.expect("first query");
    balances(&server, &alice).await.expect("second query");
    let limited = balances(&server, &alice).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    assert!(limited.get_details_retry_info().is_some());
    balances(&server, &support::token(uuid::Uuid::now_v7())).await.expect("another user is not limited");

    let bob = uuid::Uuid::now_v7();
    let mut ledger = server.ledger(bob).await;
    let open = || OpenAccountRequest {
        command_id: command_id(),
        name: "Main".into(),
        currency: "EUR".into(),
        opening_balance: None,
    };
    ledger.open_account(open()).await.expect("first command");
    let limited = ledger.open_account(open()).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    // Queries have their own bucket.
    balances(&server, &support::token(bob)).await.expect("bob's queries are not limited by his commands");
}

// ---- tokens -------------------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn claims(user: uuid::Uuid) -> serde_json::Value {
    json!({ "sub": user.to_string(), "exp": now() + 600, "iat": now(), "iss": "cashflow", "aud": "cashflow" })
}

fn with(mut claims: serde_json::Value, key: &str, value: serde_json::Value) -> serde_json::Value {
    claims[key] = value;
    claims
}

fn sign(claims: &serde_json::Value, key: &EncodingKey, alg: Algorithm, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

/// [`sign`] with the header's `typ` set to `typ`.
fn sign_typed(claims: &serde_json::Value, key: &EncodingKey, alg: Algorithm, kid: &str, typ: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn base64_url(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_token_is_unauthenticated() {
    // An external identity provider's Ed25519 key, published in a JWKS file.
    let provider = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519 key");
    let provider_key = EncodingKey::from_ed_der(&provider.serialize_der());
    let jwks = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "idp-1",
                                  "x": base64_url(provider.public_key_raw()) }] });
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).expect("write jwks");

    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[("CASHFLOW_JWT_JWKS_FILE", jwks_file.to_str().expect("utf-8 path"))],
    );
    let user = uuid::Uuid::now_v7();
    let secret = EncodingKey::from_secret(SECRET.as_bytes());

    // The good ones, so the refusals below are about the tokens.
    balances(&server, &sign(&claims(user), &secret, Algorithm::HS256, None)).await.expect("our HS256 token");
    balances(&server, &sign(&claims(user), &provider_key, Algorithm::EdDSA, Some("idp-1")))
        .await
        .expect("the IdP's token");
    balances(&server, &sign_typed(&claims(user), &provider_key, Algorithm::EdDSA, "idp-1", "at+jwt"))
        .await
        .expect("the IdP's access token typed at+jwt (RFC 9068)");

    let unsigned = format!(
        "{}.{}.",
        base64_url(br#"{"alg":"none","typ":"JWT"}"#),
        base64_url(claims(user).to_string().as_bytes())
    );
    // HS/RS confusion: the provider's PUBLIC key used as an HMAC secret, naming its kid.
    let public_as_secret = EncodingKey::from_secret(provider.public_key_raw());
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("malformed", Some("not.a.jwt".into())),
        ("alg none", Some(unsigned)),
        (
            "wrong secret",
            Some(sign(
                &claims(user),
                &EncodingKey::from_secret(b"another-secret-entirely-0123456789"),
                Algorithm::HS256,
                None,
            )),
        ),
        ("expired", Some(sign(&with(claims(user), "exp", json!(now() - 120)), &secret, Algorithm::HS256, None))),
        ("not yet valid", Some(sign(&with(claims(user), "nbf", json!(now() + 3600)), &secret, Algorithm::HS256, None))),
        ("wrong iss", Some(sign(&with(claims(user), "iss", json!("someone-else")), &secret, Algorithm::HS256, None))),
        ("wrong aud", Some(sign(&with(claims(user), "aud", json!("someone-else")), &secret, Algorithm::HS256, None))),
        ("HS/RS confusion", Some(sign(&claims(user), &public_as_secret, Algorithm::HS256, Some("idp-1")))),
        ("unknown kid", Some(sign(&claims(user), &provider_key, Algorithm::EdDSA, Some("idp-2")))),
        ("no kid", Some(sign(&claims(user), &provider_key, Algorithm::EdDSA, None))),
        // Signed by the IdP, but not an access token: an ID token, a DPoP proof, a logout token.
        (
            "IdP token typed dpop+jwt",
            Some(sign_typed(&claims(user), &provider_key, Algorithm::EdDSA, "idp-1", "dpop+jwt")),
        ),
        (
            "IdP token typed logout+jwt",
            Some(sign_typed(&claims(user), &provider_key, Algorithm::EdDSA, "idp-1", "logout+jwt")),
        ),
    ];
    for (case, token) in cases {
        let mut query = QueryServiceClient::new(server.channel().await);
        let request = match &token {
            Some(token) => with_token(GetBalancesRequest { min_position: None, as_of: None }, token),
            None => tonic::Request::new(GetBalancesRequest { min_position: None, as_of: None }),
        };
        let status = query.get_balances(request).await.expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
    }
}
