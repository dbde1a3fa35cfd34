//! End to end: a flood of Logins with ever-new emails, from one machine over many connections,
//! against the real binary. Each Login costs a 19 MiB argon2; unbounded, 400 of them at once
//! took the server to 7.5 GiB. Past the limits the flood is refused, and whatever gets through
//! hashes behind a few permits, so the server's peak RSS stays under 1 GiB.
//!
//! The flood goes to 127.0.0.1 only, is bounded in count (400 calls) and time (2 minutes).

mod support;

use cashflow_proto::v1::LoginRequest;
use cashflow_proto::v1::auth_service_client::AuthServiceClient;
use std::time::Duration;
use support::{CASHFLOW, Namespace, Server};
use tonic::Code;
use tonic_types::StatusExt;

const LOGINS: usize = 400;
const CONNECTIONS: usize = 96;
const ONE_GIB: u64 = 1 << 30;
/// The production default pool, not the test kit's smaller one: the flood meets what it would.
const POOL: (&str, &str) = ("CASHFLOW_DB_MAX_CONNECTIONS", "20");

/// The process's peak resident set (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmHWM in kB");
    kib * 1024
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

/// 400 Logins at once over 96 connections, each with a new email and a forged
/// `x-forwarded-for` (the server trusts no proxy, so it must not believe it). Every status.
async fn flood(server: &Server) -> Vec<tonic::Status> {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(server.channel().await);
    }
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..LOGINS {
        let mut client = AuthServiceClient::new(channels[n % CONNECTIONS].clone());
        calls.spawn(async move {
            let email = format!("flood-{n}-{}@example.com", uuid::Uuid::now_v7().simple());
            let mut request = tonic::Request::new(LoginRequest { email, password: "guess-number-one".into() });
            let forged = format!("198.51.100.{}", n % 250);
            request.metadata_mut().insert("x-forwarded-for", forged.parse().expect("ascii"));
            let answer = tokio::time::timeout(Duration::from_secs(120), client.login(request)).await;
            answer.expect("a login answered within 2 minutes").expect_err("no flood email has an account")
        });
    }
    calls.join_all().await
}

/// How many answers had each code, for the report.
fn tally(answers: &[tonic::Status]) -> String {
    let mut codes = std::collections::BTreeMap::new();
    for status in answers {
        *codes.entry(format!("{:?}", status.code())).or_insert(0) += 1;
    }
    let other = answers.iter().find(|status| !matches!(status.code(), Code::Unauthenticated | Code::ResourceExhausted));
    match other {
        Some(status) => format!("{codes:?}, e.g. {:?}", status.message()),
        None => format!("{codes:?}"),
    }
}

fn count(answers: &[tonic::Status], code: Code) -> usize {
    answers.iter().filter(|status| status.code() == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_with_new_emails_is_refused_past_the_address_limit_and_stays_under_1_gib() {
    let namespace = Namespace::new();
    let server = Server::start_with(CASHFLOW, &namespace, "api", &[POOL]);
    let before = peak_rss(server.pid());
    let answers = flood(&server).await;
    let peak = peak_rss(server.pid());
    let (refused, checked) = (count(&answers, Code::ResourceExhausted), count(&answers, Code::Unauthenticated));
    eprintln!(
        "login flood, default limits: {LOGINS} logins over {CONNECTIONS} connections: {}; \
         peak RSS {} MiB at start, {} MiB after",
        tally(&answers),
        mib(before),
        mib(peak)
    );
    assert_eq!(refused + checked, LOGINS, "only UNAUTHENTICATED or RESOURCE_EXHAUSTED");
    // The address allowance is 30 at once (plus what refills while the flood runs).
    assert!(checked <= 40, "{checked} logins were hashed from one address");
    assert!(peak < ONE_GIB, "peak RSS {} MiB", mib(peak));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_rate_limits_lifted_the_hashing_permits_still_bound_memory() {
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[
            ("CASHFLOW_RATE_LIMIT_LOGIN_BURST", "100000"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST", "100000"),
            ("CASHFLOW_PASSWORD_HASH_CONCURRENCY", "2"),
            POOL,
        ],
    );
    let before = peak_rss(server.pid());
    let answers = flood(&server).await;
    let peak = peak_rss(server.pid());
    let (refused, checked) = (count(&answers, Code::ResourceExhausted), count(&answers, Code::Unauthenticated));
    eprintln!(
        "login flood, limits lifted, 2 hashing permits: {LOGINS} logins over {CONNECTIONS} connections: \
         {}; peak RSS {} MiB at start, {} MiB after",
        tally(&answers),
        mib(before),
        mib(peak)
    );
    assert_eq!(refused + checked, LOGINS, "only UNAUTHENTICATED or RESOURCE_EXHAUSTED");
    assert!(refused > 0, "400 logins at once on 2 permits must refuse some");
    for status in answers.iter().filter(|status| status.code() == Code::ResourceExhausted) {
        assert!(status.get_details_retry_info().and_then(|info| info.retry_delay).is_some(), "{status:?}");
    }
    assert!(peak < ONE_GIB, "peak RSS {} MiB", mib(peak));
}
