//! Closed-loop load: `concurrency` tasks each run an operation again and again until the
//! deadline; the rate of successful operations and their latency percentiles.

use serde_json::{Value, json};
use std::future::Future;
use std::time::{Duration, Instant};

/// What one operation came to.
pub enum Outcome {
    Ok,
    /// Refused by optimistic concurrency (another task appended to the same stream first)
    /// this many times before it succeeded; counted, and retried as a client would.
    OkAfterConflicts(u64),
    Failed(String),
}

pub struct Report {
    pub kind: &'static str,
    pub concurrency: usize,
    pub pool: u32,
    pub seconds: f64,
    pub ok: u64,
    pub conflicts: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Latencies of the successful operations, in microseconds, sorted.
    latencies: Vec<u64>,
    /// This process's CPU over the measured run (the database's is not in it).
    pub cpu_seconds: Option<f64>,
    pub extra: Value,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1] as f64 / 1000.0
    }

    pub fn line(&self) -> String {
        let mut line = format!(
            "{}: {} ok in {:.1} s = {:.0}/s with {} tasks (pool {}), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} conflicts retried, {} errors",
            self.kind,
            self.ok,
            self.seconds,
            self.per_second(),
            self.concurrency,
            self.pool,
            self.percentile_ms(50.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0),
            self.conflicts,
            self.errors,
        );
        if let Some(cpu) = self.cpu_seconds {
            line.push_str(&format!("; this process {:.0}% of a core", 100.0 * cpu / self.seconds));
        }
        if let Some(error) = &self.first_error {
            line.push_str(&format!(" (first: {error})"));
        }
        line
    }

    pub fn json(&self) -> Value {
        json!({
            "bench": self.kind,
            "concurrency": self.concurrency,
            "pool": self.pool,
            "seconds": self.seconds,
            "ok": self.ok,
            "per_second": self.per_second(),
            "p50_ms": self.percentile_ms(50.0),
            "p90_ms": self.percentile_ms(90.0),
            "p99_ms": self.percentile_ms(99.0),
            "max_ms": self.percentile_ms(100.0),
            "conflicts": self.conflicts,
            "errors": self.errors,
            "first_error": self.first_error,
            "process_cpu_seconds": self.cpu_seconds,
            "extra": self.extra,
        })
    }
}

/// Runs `op(task, n)` from `concurrency` tasks for `duration` (closed loop: each task sends its
/// next operation when the last has answered).
pub async fn run<F, Fut>(kind: &'static str, concurrency: usize, pool: u32, duration: Duration, op: F) -> Report
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let outcome = op(task, n).await;
                    n += 1;
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    match outcome {
                        Outcome::Ok => tally.ok(micros),
                        Outcome::OkAfterConflicts(conflicts) => {
                            tally.ok(micros);
                            tally.conflicts += conflicts;
                        }
                        Outcome::Failed(error) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(error);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a load task panicked");
        all.latencies.extend(tally.latencies);
        all.last_ok = all.last_ok.max(tally.last_ok);
        all.conflicts += tally.conflicts;
        all.errors += tally.errors;
        if all.first_error.is_none() {
            all.first_error = tally.first_error;
        }
    }
    // Up to the last success: a task stuck in a failing operation past the deadline (waiting
    // for a connection the server refused, say, until sqlx's 30 s acquire timeout) does not
    // stretch the window of the others. Otherwise this is the deadline plus the last latency.
    let seconds = all.last_ok.map_or_else(|| started.elapsed(), |last| last - started).as_secs_f64();
    let cpu_seconds = process_cpu_seconds().zip(cpu_before).map(|(after, before)| after - before);
    all.latencies.sort_unstable();
    Report {
        kind,
        concurrency,
        pool,
        seconds,
        ok: all.latencies.len() as u64,
        conflicts: all.conflicts,
        errors: all.errors,
        first_error: all.first_error,
        latencies: all.latencies,
        cpu_seconds,
        extra: Value::Null,
    }
}

/// CPU time of this process, all threads, user and system (Linux; `None` elsewhere). The
/// script's per-program split misses a program that exits before its second reading.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14, stime 15; their unit is USER_HZ, 100 on Linux.
    let mut fields = stat.rsplit_once(") ")?.1.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    last_ok: Option<Instant>,
    conflicts: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn ok(&mut self, micros: u64) {
        self.latencies.push(micros);
        self.last_ok = Some(Instant::now());
    }
}

/// xorshift64*, so runs are repeatable without another dependency (as in `cashflow-testkit`).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}
