//! Operator subcommands: rebuild a projection, verify and anchor the audit trail, mint a token.

use crate::cli::ProjectionName;
use crate::config::Config;
use crate::database;
use anyhow::Context;
use cashflow_eventstore::audit::{Anchor, Finding, Report};
use cashflow_eventstore::{EventStore, PgEventStore, hash};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Replays the store into the emptied read model, with a progress bar on stderr.
pub async fn rebuild(config: &Config, name: ProjectionName) -> anyhow::Result<()> {
    let pool = database::prepare(config).await?;
    let store = PgEventStore::new(pool.clone());
    let projection: Box<dyn cashflow_projection::Projection> = match name {
        ProjectionName::Ledger => Box::new(cashflow_projection_ledger::LedgerProjection),
        ProjectionName::Invoices => Box::new(cashflow_projection_invoices::InvoicesProjection),
        ProjectionName::Search => Box::new(cashflow_projection_search::SearchProjection),
        ProjectionName::Notifications => Box::new(cashflow_projection_notifications::NotificationsProjection),
        ProjectionName::Reports => Box::new(cashflow_projection_reports::ReportsProjection),
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} rebuilding {msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message(projection.name());
    let started = Instant::now();
    let last = cashflow_projection::rebuild(&pool, &store, projection.as_ref(), |done, head| {
        bar.set_length(head);
        bar.set_position(done);
    })
    .await
    .context("rebuilding the projection")?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
    println!(
        "cashflow: rebuilt {} up to position {last} in {:.2} s ({:.0} events/s)",
        projection.name(),
        seconds,
        last as f64 / seconds
    );
    Ok(())
}

/// Audits the whole store (ADR 0016) and checks every anchor in `anchors`; with `stream`,
/// only that stream's chain. Prints each finding on a line of its own, then a summary;
/// returns whether everything holds.
pub async fn verify(config: &Config, stream: Option<&str>, anchors: Option<&Path>) -> anyhow::Result<bool> {
    let pool = database::connect(config).await?;
    let store = PgEventStore::new(pool);
    if let Some(stream_id) = stream {
        let events = store.read_stream(stream_id).await.with_context(|| format!("reading {stream_id}"))?;
        let verification = hash::verify(&events);
        if let Some(version) = verification.first_bad_version {
            println!("{}", Finding::Stream { stream_id: stream_id.to_owned(), first_bad_version: version });
        }
        let broken = usize::from(!verification.ok);
        println!("cashflow: 1 stream, {} events checked, {broken} broken", verification.events_checked);
        return Ok(verification.ok);
    }
    let (anchors, unreadable) = match anchors {
        Some(path) => read_anchors(config, path)?,
        None => (Vec::new(), Vec::new()),
    };
    let positions: Vec<u64> = anchors.iter().map(|anchor| anchor.position).collect();
    let mut report = store.audit(&positions).await.context("auditing the event store")?;
    for anchor in &anchors {
        report.check_anchor(anchor);
    }
    report.findings.extend(unreadable);
    print_report(&report);
    Ok(report.ok())
}

/// Audits the whole store and, when it holds, writes an anchor of its last event (to `out`,
/// appended, or to standard output). Returns false, anchoring nothing, when it does not hold.
pub async fn anchor(config: &Config, out: Option<&Path>) -> anyhow::Result<bool> {
    let key = audit_key(config)?;
    let pool = database::connect(config).await?;
    let report = PgEventStore::new(pool).audit(&[]).await.context("auditing the event store")?;
    if !report.ok() {
        print_report(&report);
        println!("cashflow: not anchoring a store that does not verify");
        return Ok(false);
    }
    let Some((position, global_hash)) = report.tip() else {
        anyhow::bail!(
            "nothing to anchor yet: {}",
            match report.last_position {
                0 => "the store is empty".to_owned(),
                last => format!("the last event (position {last}) was written before the global chain existed"),
            }
        );
    };
    let line = Anchor::new(position, global_hash, chrono::Utc::now()).to_line(&key);
    match out {
        None => println!("{line}"),
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            writeln!(file, "{line}")
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("cashflow: anchored position {position} in {}", path.display());
        }
    }
    Ok(true)
}

fn print_report(report: &Report) {
    for finding in &report.findings {
        println!("{finding}");
    }
    println!("cashflow: {report}");
}

/// The anchors in `path`, one per line, each checked against the key: those signed with it,
/// and a finding for each line that is not.
fn read_anchors(config: &Config, path: &Path) -> anyhow::Result<(Vec<Anchor>, Vec<Finding>)> {
    let key = audit_key(config)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut anchors, mut unreadable) = (Vec::new(), Vec::new());
    for (number, line) in (1..).zip(text.lines()).filter(|(_, line)| !line.trim().is_empty()) {
        match Anchor::from_line(line, &key) {
            Ok(anchor) => anchors.push(anchor),
            Err(error) => unreadable.push(Finding::AnchorLine { line: number, problem: error.to_string() }),
        }
    }
    if anchors.is_empty() && unreadable.is_empty() {
        anyhow::bail!("{} holds no anchor", path.display());
    }
    Ok((anchors, unreadable))
}

fn audit_key(config: &Config) -> anyhow::Result<Vec<u8>> {
    let key = config.audit_key.as_ref().context(
        "no anchoring key: set CASHFLOW_AUDIT_KEY or CASHFLOW_AUDIT_KEY_FILE to a secret kept outside the database, \
         e.g. `openssl rand -hex 32`",
    )?;
    Ok(key.load()?)
}

/// A signed access token for `user`, valid `ttl_seconds`.
pub fn token(config: &Config, user: Uuid, ttl_seconds: u64) -> String {
    cashflow_identity::issue_token(&config.jwt_secret, user, Duration::from_secs(ttl_seconds))
}
