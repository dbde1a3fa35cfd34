//! End to end: `cashflow audit verify` and `cashflow audit anchor` against a store that
//! someone with database access has edited, through the real binary and PostgreSQL.

mod support;

use cashflow_eventstore::{EventStore, PgEventStore, hash};
use cashflow_proto::v1::ledger_service_client::LedgerServiceClient;
use cashflow_proto::v1::*;
use sqlx::PgPool;
use std::path::PathBuf;
use std::process::Output;
use support::{Authed, CASHFLOW, Namespace, Server, command_id, open_account, run_cli_with};
use uuid::Uuid;

/// The anchoring key, from outside the database.
const KEY: &str = "audit-key-for-tests-0123456789abcdef";

/// A store with a short history: an account, movements A, B and C, and A voided, so that A
/// has two events and its last one is not at the head.
struct History {
    namespace: Namespace,
    pool: PgPool,
    a: String,
    b: String,
    c: String,
}

impl History {
    async fn new() -> Self {
        let namespace = Namespace::new();
        let server = Server::start(CASHFLOW, &namespace, "api");
        let alice = Uuid::now_v7();
        let mut ledger = server.ledger(alice).await;
        let account = open_account(&mut ledger, "Current").await.account_id;
        let a = record(&mut ledger, &account, "12.50").await;
        let b = record(&mut ledger, &account, "3.20").await;
        let movement_id = a.trim_start_matches("movement-").to_owned();
        ledger
            .void_movement(VoidMovementRequest { command_id: command_id(), movement_id, reason: "twice".into() })
            .await
            .expect("void A");
        let c = record(&mut ledger, &account, "7.00").await;
        assert!(server.terminate().success());
        let pool = namespace.pool().await;
        Self { namespace, pool, a, b, c }
    }

    fn cli(&self, args: &[&str]) -> Output {
        run_cli_with(CASHFLOW, &self.namespace, args, &[("CASHFLOW_AUDIT_KEY", KEY)])
    }

    /// `audit verify`, which must pass; its standard output.
    fn verify_passes(&self, args: &[&str]) -> String {
        let output = self.cli(&[&["audit", "verify"], args].concat());
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "audit verify {args:?} failed:\n{stdout}{}", stderr(&output));
        assert!(stdout.contains(", 0 broken"), "{stdout}");
        stdout
    }

    /// `audit verify`, which must fail with exit status 1 and print `expected`; its standard output.
    fn verify_fails(&self, args: &[&str], expected: &str) -> String {
        let output = self.cli(&[&["audit", "verify"], args].concat());
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(1), "audit verify {args:?} must fail:\n{stdout}{}", stderr(&output));
        assert!(stdout.contains(expected), "expected {expected:?} in:\n{stdout}");
        assert!(!stdout.contains(", 0 broken"), "{stdout}");
        println!("audit verify {args:?} exited with 1:\n{stdout}");
        stdout
    }

    /// Writes an anchor of the current head to a file of its own.
    fn anchor(&self) -> Anchor {
        let anchor = Anchor(std::env::temp_dir().join(format!("cashflow-anchor-{}", Uuid::now_v7().simple())));
        let output = self.cli(&["audit", "anchor", "--out", anchor.path()]);
        assert!(output.status.success(), "audit anchor failed: {}", stderr(&output));
        anchor
    }

    /// Runs `sql` with `binds` as `$1`, `$2`…; the rows it touched.
    async fn execute(&self, sql: &str, binds: &[&str]) -> u64 {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for bind in binds {
            query = query.bind(*bind);
        }
        query.execute(&self.pool).await.expect("tamper").rows_affected()
    }

    async fn last_position(&self) -> i64 {
        sqlx::query_scalar("SELECT MAX(position) FROM events").fetch_one(&self.pool).await.expect("last position")
    }
}

/// Records an expense of `amount`; its stream's id.
async fn record(ledger: &mut LedgerServiceClient<Authed>, account: &str, amount: &str) -> String {
    let recorded = ledger
        .record_movement(RecordMovementRequest {
            command_id: command_id(),
            account_id: account.into(),
            direction: Direction::Expense as i32,
            amount: amount.into(),
            occurred_on: "2026-11-20".into(),
            description: format!("spent {amount}"),
            counterparty: None,
            category_id: None,
        })
        .await
        .expect("record a movement")
        .into_inner();
    format!("movement-{}", recorded.movement_id)
}

/// An anchor file, removed on drop.
struct Anchor(PathBuf);

impl Anchor {
    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untouched_store_verifies_with_and_without_its_anchor() {
    let history = History::new().await;
    let stdout = history.verify_passes(&[]);
    assert!(stdout.contains("4 streams, 5 events checked"), "{stdout}");
    let anchor = history.anchor();
    let line = std::fs::read_to_string(&anchor.0).expect("read the anchor");
    assert!(line.contains(&format!("\"position\":{}", history.last_position().await)), "{line}");
    history.verify_passes(&["--anchor", anchor.path()]);

    // Another key cannot have written this anchor.
    let output = run_cli_with(
        CASHFLOW,
        &history.namespace,
        &["audit", "verify", "--anchor", anchor.path()],
        &[("CASHFLOW_AUDIT_KEY", "another-key-of-more-than-32-bytes-0000")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("was not written with this key"));

    // The key may come from a file too.
    let key_file = Anchor(std::env::temp_dir().join(format!("cashflow-key-{}", Uuid::now_v7().simple())));
    std::fs::write(&key_file.0, format!("{KEY}\n")).expect("write the key file");
    let output = run_cli_with(
        CASHFLOW,
        &history.namespace,
        &["audit", "verify", "--anchor", anchor.path()],
        &[("CASHFLOW_AUDIT_KEY_FILE", key_file.path())],
    );
    assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_last_event_of_a_stream_fails_verification() {
    let history = History::new().await;
    // A's last event (its voiding) is in the middle of the store: a hole in the positions.
    assert_eq!(history.execute("DELETE FROM events WHERE stream_id = $1 AND version = 2", &[&history.a]).await, 1);
    let stdout = history.verify_fails(&[], "MISSING position");
    assert!(stdout.contains("GLOBAL CHAIN"), "{stdout}");

    // C's only event is the head: nothing follows it, but the head counter still says it was there.
    let history = History::new().await;
    let head = history.last_position().await;
    assert_eq!(history.execute("DELETE FROM events WHERE stream_id = $1", &[&history.c]).await, 1);
    history.verify_fails(&[], &format!("HEAD the head counter is at {head}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_whole_stream_and_its_commands_fails_verification() {
    let history = History::new().await;
    assert_eq!(history.execute("DELETE FROM events WHERE stream_id = $1", &[&history.b]).await, 1);
    assert_eq!(history.execute("DELETE FROM commands WHERE stream_id = $1", &[&history.b]).await, 1);
    history.verify_fails(&[], "MISSING position");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_redirected_command_row_fails_verification() {
    let history = History::new().await;
    let deleted = "DELETE FROM commands WHERE (owner, command_id) = \
                   (SELECT owner, command_id FROM events WHERE stream_id = $1 AND version = 2)";
    assert_eq!(history.execute(deleted, &[&history.a]).await, 1);
    history.verify_fails(&[], "COMMAND");

    // Pointing A's voiding at B's event instead.
    let history = History::new().await;
    let redirected = "UPDATE commands SET stream_id = $2, stream_version = 1, \
                      position = (SELECT position FROM events WHERE stream_id = $2) \
                      WHERE (owner, command_id) = \
                      (SELECT owner, command_id FROM events WHERE stream_id = $1 AND version = 2)";
    assert_eq!(history.execute(redirected, &[&history.a, &history.b]).await, 1);
    history.verify_fails(&[], "COMMAND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_rewrite_passes_verification_alone_but_not_against_the_anchor() {
    let history = History::new().await;
    let anchor = history.anchor();

    // The attacker changes A's amount and recomputes every hash after it, per stream and
    // globally, as anyone with write access to the database can.
    let store = PgEventStore::new(history.pool.clone());
    let mut events = store.read_stream(&history.a).await.expect("read A");
    let path = if events[0].payload.get("amount").is_some() { "/amount" } else { "/data/amount" };
    *events[0].payload.pointer_mut(path).expect("an amount in MovementRecorded") = serde_json::json!("1.25");
    let mut previous = hash::GENESIS;
    for event in &mut events {
        event.hash = hash::chain(&previous, event);
        previous = event.hash;
        sqlx::query("UPDATE events SET payload = $1, hash = $2 WHERE position = $3")
            .bind(&event.payload)
            .bind(event.hash.to_vec())
            .bind(event.position as i64)
            .execute(&history.pool)
            .await
            .expect("rewrite A");
    }
    sqlx::query(
        r"DO $$
        DECLARE
            r record;
            link bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
        BEGIN
            FOR r IN SELECT position, hash FROM events ORDER BY position LOOP
                link := sha256(link || int8send(r.position) || r.hash);
                UPDATE events SET global_hash = link WHERE position = r.position;
            END LOOP;
            UPDATE event_store_head SET global_hash = link;
        END $$",
    )
    .execute(&history.pool)
    .await
    .expect("recompute the global chain");

    // Verification alone cannot tell a consistent rewrite from the truth: every hash holds.
    history.verify_passes(&[]);
    // The anchor, signed with a key the database never saw, can.
    history.verify_fails(&["--anchor", anchor.path()], "ANCHOR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_the_store_below_its_anchor_fails_verification() {
    let history = History::new().await;
    let anchor = history.anchor();
    // Delete C, then make the head agree, as a careful attacker would.
    history.execute("DELETE FROM commands WHERE stream_id = $1", &[&history.c]).await;
    history.execute("DELETE FROM events WHERE stream_id = $1", &[&history.c]).await;
    sqlx::query(
        "UPDATE event_store_head SET position = position - 1, \
         global_hash = (SELECT global_hash FROM events WHERE position = (SELECT MAX(position) FROM events))",
    )
    .execute(&history.pool)
    .await
    .expect("lower the head");
    history.verify_passes(&[]);
    history.verify_fails(&["--anchor", anchor.path()], "ANCHOR");
}
