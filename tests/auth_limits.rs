//! End to end: what guards password guessing and account enumeration, against the real binary.
//! Login is limited per client address (an IPv6 /64 counts as one; a trusted proxy's
//! `x-forwarded-for` names the client) and per account, separately; password hashing runs
//! behind a bounded number of permits; an invalid email is refused before any hashing;
//! Register answers a taken email as it answers a new one, and is limited per address too.

mod support;

use cashflow_proto::v1::auth_service_client::AuthServiceClient;
use cashflow_proto::v1::*;
use std::net::IpAddr;
use std::time::Duration;
use support::{CASHFLOW, Namespace, Server};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

const PASSWORD: &str = "orange-kettle-sings";

/// A client whose TCP connection comes from `source` (any address of 127.0.0.0/8 is this
/// machine's loopback), so the server sees a peer of its own.
async fn auth_from(server: &Server, source: IpAddr) -> AuthServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .local_address(Some(source))
        .connect()
        .await
        .expect("connect from a loopback address");
    AuthServiceClient::new(channel)
}

async fn auth(server: &Server) -> AuthServiceClient<Channel> {
    AuthServiceClient::new(server.channel().await)
}

/// A Login as a proxy would forward it: `forwarded_for` in `x-forwarded-for`.
fn forwarded<T>(message: T, forwarded_for: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("x-forwarded-for", forwarded_for.parse().expect("ascii"));
    request
}

fn login_request(email: &str, password: &str) -> LoginRequest {
    LoginRequest { email: email.into(), password: password.into() }
}

fn register_request(email: &str, password: &str, name: &str) -> RegisterRequest {
    RegisterRequest { email: email.into(), password: password.into(), display_name: name.into() }
}

async fn login_via(auth: &mut AuthServiceClient<Channel>, client: &str, email: &str) -> Result<TokenPair, Status> {
    auth.login(forwarded(login_request(email, "guess-number-one"), client)).await.map(tonic::Response::into_inner)
}

fn assert_exhausted(status: &Status, case: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{case}: {status:?}");
    let delay = status.get_details_retry_info().and_then(|info| info.retry_delay);
    assert!(delay.is_some_and(|delay| delay > Duration::ZERO), "{case}: no RetryInfo in {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_spraying_one_password_over_many_accounts_is_stopped_by_the_address_limit() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_TRUSTED_PROXIES", "127.0.0.1"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST", "4"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_PER_MINUTE", "1"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_BURST", "100"),
        ],
    );
    let mut auth = auth(&server).await;
    // The proxy (127.0.0.1, trusted) forwards one client's spray: a new account each time.
    for n in 0..4 {
        let answer = login_via(&mut auth, "198.51.100.7", &format!("victim-{n}@example.com")).await;
        assert_eq!(answer.unwrap_err().code(), Code::Unauthenticated, "attempt {n}");
    }
    let limited = login_via(&mut auth, "198.51.100.7", "victim-4@example.com").await.unwrap_err();
    assert_exhausted(&limited, "a fifth account from the same address");
    // A forged leftmost entry changes nothing: the first untrusted hop from the right is the client.
    let spoofed = login_via(&mut auth, "203.0.113.99, 198.51.100.7", "victim-5@example.com").await.unwrap_err();
    assert_exhausted(&spoofed, "a forged x-forwarded-for entry");
    // Another client behind the same proxy has its own allowance.
    let other = login_via(&mut auth, "198.51.100.8", "victim-6@example.com").await.unwrap_err();
    assert_eq!(other.code(), Code::Unauthenticated, "{other:?}");

    // An IPv6 client counts as its /64: hopping within it does not help.
    for n in 0..4 {
        let answer = login_via(&mut auth, &format!("2001:db8:1:2::{n:x}"), &format!("v6-{n}@example.com")).await;
        assert_eq!(answer.unwrap_err().code(), Code::Unauthenticated, "v6 attempt {n}");
    }
    let limited = login_via(&mut auth, "2001:db8:1:2:ffff:ffff:ffff:ffff", "v6-9@example.com").await.unwrap_err();
    assert_exhausted(&limited, "another address of the same /64");
    let next_net = login_via(&mut auth, "2001:db8:1:3::1", "v6-10@example.com").await.unwrap_err();
    assert_eq!(next_net.code(), Code::Unauthenticated, "the next /64 is another client: {next_net:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_addresses_at_one_account_are_stopped_by_the_account_limit() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_RATE_LIMIT_LOGIN_BURST", "3"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_PER_MINUTE", "1"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST", "100"),
        ],
    );
    auth(&server).await.register(register_request("dana@example.com", PASSWORD, "Dana")).await.expect("register");
    // Each guess from another real peer address (127.0.0.x are all this machine).
    let mut guesses = Vec::new();
    for (n, email) in ["dana@example.com", "DANA@example.com", " dana@Example.com"].into_iter().enumerate() {
        let mut from = auth_from(&server, IpAddr::from([127, 0, 0, 10 + n as u8])).await;
        guesses.push(from.login(login_request(email, "guess-number-one")).await.unwrap_err().code());
    }
    assert_eq!(guesses, [Code::Unauthenticated; 3]);
    // The account's allowance is spent, from wherever the next attempt comes, the right password included.
    let mut fresh = auth_from(&server, IpAddr::from([127, 0, 0, 20])).await;
    let limited = fresh.login(login_request("dana@example.com", PASSWORD)).await.unwrap_err();
    assert_exhausted(&limited, "a fourth address at one account");
    // Other accounts are untouched, from that same fresh address.
    let other = fresh.login(login_request("erik@example.com", "guess-number-one")).await.unwrap_err();
    assert_eq!(other.code(), Code::Unauthenticated, "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_beyond_its_permits_is_refused_at_once_and_a_bad_email_never_hashes() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_PASSWORD_HASH_CONCURRENCY", "1"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_BURST", "10000"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST", "10000"),
        ],
    );
    let mut channels = Vec::new();
    for _ in 0..8 {
        channels.push(server.channel().await);
    }
    let burst = |email: &'static str| {
        let channels = channels.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for n in 0..32 {
                let mut client = AuthServiceClient::new(channels[n % channels.len()].clone());
                let email = email.replace("{n}", &n.to_string());
                calls.spawn(async move { client.login(login_request(&email, "guess-number-one")).await });
            }
            calls.join_all().await.into_iter().map(|answer| answer.expect_err("no such account")).collect::<Vec<_>>()
        }
    };

    // An email that is not one is refused by field, before hashing: no call waits for a permit.
    let invalid = burst("not an email {n}").await;
    for status in &invalid {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let violations = status.get_details_bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations[0].field, "email");
    }

    // One permit: of 32 logins at once, those that find it taken are refused at once.
    let answers = burst("someone-{n}@example.com").await;
    let busy: Vec<&Status> = answers.iter().filter(|status| status.code() == Code::ResourceExhausted).collect();
    let checked = answers.iter().filter(|status| status.code() == Code::Unauthenticated).count();
    assert_eq!(busy.len() + checked, answers.len(), "only UNAUTHENTICATED or RESOURCE_EXHAUSTED: {answers:?}");
    assert!(!busy.is_empty(), "32 logins at once on one permit must refuse some");
    assert!(checked >= 1, "the permit's holder is answered");
    for status in busy {
        assert_exhausted(status, "hashing permits taken");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_answers_a_taken_email_as_a_new_one_and_is_limited_per_address() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST", "4"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_PER_MINUTE", "1"),
        ],
    );
    let mut auth = auth(&server).await;
    let register =
        |email: &str, password: &str, client: &str| forwarded(register_request(email, password, "Erin"), client);
    let first = auth.register(register("erin@example.com", PASSWORD, "192.0.2.1")).await.expect("new").into_inner();
    // The same email again, as someone probing for accounts would: the same kind of answer.
    let again = auth
        .register(register(" Erin@example.com", "another-long-passphrase", "192.0.2.1"))
        .await
        .expect("a taken email is answered like a new one")
        .into_inner();
    assert_ne!(again.user_id, first.user_id, "the owner's id must not leak");
    assert!(uuid::Uuid::parse_str(&again.user_id).is_ok(), "{again:?}");
    // Nothing changed for the owner: their password signs in as them, the prober's does not.
    let owner = auth.login(forwarded(login_request("erin@example.com", PASSWORD), "192.0.2.50")).await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(
        owner.expect("owner").get_ref().access_token.as_str(),
    )
    .expect("jwt")
    .claims;
    assert_eq!(claims["sub"], serde_json::json!(first.user_id));
    let prober =
        auth.login(forwarded(login_request("erin@example.com", "another-long-passphrase"), "192.0.2.51")).await;
    assert_eq!(prober.unwrap_err().code(), Code::Unauthenticated);
    let pool = namespace.pool().await;
    let accounts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM identity_users").fetch_one(&pool).await.expect("count users");
    assert_eq!(accounts, 1);
    pool.close().await;

    // Register shares the address allowance: two more, then refused; another address goes on.
    auth.register(register("finn@example.com", PASSWORD, "192.0.2.1")).await.expect("third from this address");
    auth.register(register("gus@example.com", PASSWORD, "192.0.2.1")).await.expect("fourth from this address");
    let limited = auth.register(register("hal@example.com", PASSWORD, "192.0.2.1")).await.unwrap_err();
    assert_exhausted(&limited, "a fifth registration from one address");
    auth.register(register("hal@example.com", PASSWORD, "192.0.2.2")).await.expect("another address");
}
