//! The security log: every auth outcome is one structured event under `cashflow::security`,
//! and no password or token ever appears in any log line.

use cashflow_api::limits::RateLimit;
use cashflow_api::{AuthApi, AuthLimiters, Identity};
use cashflow_proto::v1::auth_service_server::AuthService;
use cashflow_proto::v1::*;
use cashflow_testkit::TestDatabase;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::Request;

const SECRET: &str = "security-log-test-secret-0123456789";
const PASSWORD: &str = "orange-kettle-sings";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_outcomes_are_logged_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let database = TestDatabase::create().await;
    let pool = database.pool(10).await;
    cashflow_identity::migrate(&pool).await.unwrap();
    let attempts = Arc::new(AuthLimiters::new(RateLimit::new(100, 100), RateLimit::new(3, 1)));
    let api = AuthApi::new(Identity::new(pool.clone()).unwrap(), SECRET, Duration::from_secs(60), attempts);

    api.register(Request::new(RegisterRequest {
        email: "erin@example.com".into(),
        password: PASSWORD.into(),
        display_name: "Erin".into(),
    }))
    .await
    .unwrap();
    let login =
        |password: &str| Request::new(LoginRequest { email: "erin@example.com".into(), password: password.into() });
    let pair = api.login(login(PASSWORD)).await.unwrap().into_inner();
    api.login(login("wrong-password-attempt")).await.unwrap_err();
    let next = api.refresh(Request::new(RefreshRequest { refresh_token: pair.refresh_token.clone() })).await.unwrap();
    api.refresh(Request::new(RefreshRequest { refresh_token: pair.refresh_token.clone() })).await.unwrap_err();
    api.logout(Request::new(LogoutRequest { refresh_token: next.get_ref().refresh_token.clone() })).await.unwrap();
    api.login(login("wrong-password-attempt")).await.unwrap_err(); // the third attempt
    let limited = api.login(login(PASSWORD)).await.unwrap_err();
    assert_eq!(limited.code(), tonic::Code::ResourceExhausted);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["target"] == "cashflow::security")
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|event| event["fields"]["event"].as_str()).collect();
    assert_eq!(
        names,
        [
            "register",
            "login_succeeded",
            "login_failed",
            "refreshed",
            "refresh_token_reused",
            "logout",
            "login_failed",
            "rate_limited"
        ],
        "{log}"
    );
    for event in &events {
        assert!(event["fields"]["peer"].is_string(), "{event}");
    }
    for secret in [
        PASSWORD,
        "wrong-password-attempt",
        &pair.refresh_token,
        &pair.access_token,
        &next.get_ref().refresh_token,
        SECRET,
    ] {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }

    pool.close().await;
}
