//! Latency histograms per RPC, error counts by status code, and the printed/JSON report.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one client measured; merged into the run's [`Report`].
#[derive(Debug, Default)]
pub struct Recorder {
    rpcs: BTreeMap<&'static str, RpcStats>,
}

#[derive(Debug)]
struct RpcStats {
    /// Microseconds, 1 µs to 60 s at 3 significant digits.
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl RpcStats {
    fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts.
        let latency = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| unreachable!());
        Self { latency, errors: BTreeMap::new() }
    }
}

impl Recorder {
    pub fn ok(&mut self, rpc: &'static str, latency: Duration) {
        let stats = self.rpcs.entry(rpc).or_insert_with(RpcStats::new);
        stats.latency.saturating_record(latency.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
    }

    pub fn error(&mut self, rpc: &'static str, code: tonic::Code) {
        let stats = self.rpcs.entry(rpc).or_insert_with(RpcStats::new);
        *stats.errors.entry(format!("{code:?}")).or_default() += 1;
    }

    pub fn merge(&mut self, other: Recorder) {
        for (rpc, theirs) in other.rpcs {
            let ours = self.rpcs.entry(rpc).or_insert_with(RpcStats::new);
            // Same bounds on both sides, so adding cannot fail.
            let _ = ours.latency.add(&theirs.latency);
            for (code, n) in theirs.errors {
                *ours.errors.entry(code).or_default() += n;
            }
        }
    }

    pub fn into_report(self, elapsed: Duration, clients: usize, target_rate: Option<f64>) -> Report {
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        let rpcs: Vec<RpcReport> = self
            .rpcs
            .into_iter()
            .map(|(rpc, stats)| {
                let ms = |q: f64| stats.latency.value_at_quantile(q) as f64 / 1000.0;
                RpcReport {
                    rpc: rpc.to_owned(),
                    ok: stats.latency.len(),
                    errors: stats.errors,
                    per_second: stats.latency.len() as f64 / seconds,
                    p50_ms: ms(0.50),
                    p90_ms: ms(0.90),
                    p99_ms: ms(0.99),
                    p999_ms: ms(0.999),
                    max_ms: stats.latency.max() as f64 / 1000.0,
                }
            })
            .collect();
        let commands_ok: u64 = rpcs.iter().filter(|r| COMMANDS.contains(&r.rpc.as_str())).map(|r| r.ok).sum();
        Report {
            elapsed_seconds: seconds,
            clients,
            target_rate,
            commands_ok,
            commands_per_second: commands_ok as f64 / seconds,
            errors: rpcs.iter().flat_map(|r| r.errors.values()).sum(),
            rpcs,
        }
    }
}

/// The RPCs that change state; their rate is the headline figure.
pub const COMMANDS: [&str; 3] = ["RecordMovement", "AssignCategory", "VoidMovement"];

/// Name under which read-your-writes freshness is reported: the time from a command's
/// acknowledgement until a query with its position as `min_position` answers.
pub const FRESHNESS: &str = "freshness (ack → visible)";

#[derive(Debug, Serialize)]
pub struct Report {
    pub elapsed_seconds: f64,
    pub clients: usize,
    /// Operations per second asked for (open loop); `None` at full speed.
    pub target_rate: Option<f64>,
    pub commands_ok: u64,
    pub commands_per_second: f64,
    pub errors: u64,
    pub rpcs: Vec<RpcReport>,
}

#[derive(Debug, Serialize)]
pub struct RpcReport {
    pub rpc: String,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Report {
    pub fn rpc(&self, name: &str) -> Option<&RpcReport> {
        self.rpcs.iter().find(|r| r.rpc == name)
    }

    /// A fixed-width table for a terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<28} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            "rpc", "ok", "errors", "per s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        for r in &self.rpcs {
            let errors: u64 = r.errors.values().sum();
            out.push_str(&format!(
                "{:<28} {:>9} {:>7} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}\n",
                r.rpc, r.ok, errors, r.per_second, r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms
            ));
            for (code, n) in &r.errors {
                out.push_str(&format!("    {code}: {n}\n"));
            }
        }
        let rate = self.target_rate.map_or_else(|| "full speed".to_owned(), |r| format!("open loop at {r:.0} ops/s"));
        out.push_str(&format!(
            "{} clients, {rate}, {:.1} s: {} commands ok, {:.0} commands/s, {} errors\n",
            self.clients, self.elapsed_seconds, self.commands_ok, self.commands_per_second, self.errors
        ));
        out
    }
}
