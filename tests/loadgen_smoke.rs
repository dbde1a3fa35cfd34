//! A short run of the load generator against the real server: commands succeed and every
//! figure the benchmark report needs is produced. Speed is measured in BENCHMARKS.md, not here.

mod support;

use cashflow_loadgen::{LoadConfig, report::FRESHNESS};
use std::time::Duration;
use support::{CASHFLOW, Namespace, SECRET, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_run_succeeds_and_reports_its_figures() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let config = LoadConfig {
        endpoint: format!("http://{}", server.addr),
        jwt_secret: SECRET.into(),
        users: 6,
        clients: 4,
        duration: Duration::from_secs(3),
        freshness_every: 5,
        ..LoadConfig::default()
    };
    let report = cashflow_loadgen::run(config).await.expect("load run");
    print!("{}", report.table());

    assert_eq!(report.errors, 0, "every operation must succeed: {report:#?}");
    assert!(report.commands_ok > 0 && report.commands_per_second > 0.0);
    let record = report.rpc("RecordMovement").expect("RecordMovement figures");
    assert!(record.ok > 0 && record.p50_ms > 0.0 && record.p50_ms <= record.p99_ms && record.p99_ms <= record.max_ms);
    let freshness = report.rpc(FRESHNESS).expect("freshness figures");
    assert!(freshness.ok > 0);
    let json: serde_json::Value = serde_json::to_value(&report).expect("json");
    assert!(json["rpcs"].as_array().is_some_and(|rpcs| rpcs.len() >= 3));
}
