#!/usr/bin/env bash
# Re-runs every benchmark of BENCHMARKS.md on this machine, against the local PostgreSQL and
# NATS, and keeps the raw output in target/bench-results/<UTC time>/. Run it on a quiet machine.
#   scripts/bench.sh                      everything (≈15 min on 2 cores)
#   BENCH_USERS=100 scripts/bench.sh      a smaller read-model scale
#   BENCH_PROFILE=0 scripts/bench.sh      without the CPU profile of the server (e2e; needs perf)
#   BENCH_PARTS="ocr e2e" scripts/bench.sh  only some parts (append scale search ocr micro e2e notify reports peer)
# e2e also runs the peer part's two loads (raw INSERTs, the cqrs-es peer) right after its
# full-speed run and prints the ratios (ADR 0029); `peer` alone runs them without the server.
# The peer builds apart from the workspace, into BENCH_PEER_TARGET_DIR (default: the same
# target directory as the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
out="target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
users="${BENCH_USERS:-1000}"
per_user="${BENCH_MOVEMENTS_PER_USER:-1000}"
load_seconds="${BENCH_LOAD_SECONDS:-30}"
parts=" ${BENCH_PARTS:-append scale search ocr micro e2e notify reports} "
want() { [[ "$parts" == *" $1 "* ]]; }
bin="${CARGO_TARGET_DIR:-target}/release"
peer_target="${BENCH_PEER_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"
peer_bin="$peer_target/release/cashflow-peer"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "postgres: $(psql -h 127.0.0.1 -U postgres -Atc 'SELECT version()' postgres | cut -d, -f1)"
  echo "postgres settings: $(psql -h 127.0.0.1 -U postgres -Atc "SELECT string_agg(name || '=' || setting, ', ') FROM pg_settings WHERE name IN ('synchronous_commit','fsync','shared_buffers','max_connections','wal_level')" postgres)"
  echo "nats: $(nats-server --version 2>/dev/null || /usr/sbin/nats-server --version)"
  echo "rustc: $(rustc --version)"
} | tee "$out/machine.txt"

if [[ "$parts" != " peer " ]]; then
  cargo build --release --locked -p cashflow -p cashflow-loadgen
fi
if want peer || want e2e; then
  # Outside the workspace, with its own Cargo.lock: cqrs-es + postgres-es bring sqlx 0.8.
  CARGO_TARGET_DIR="$peer_target" cargo build --release --locked --manifest-path crates/peer-cqrs-es/Cargo.toml
fi

# The machine's CPU over a load run, from /proc/stat: a VM's "steal" is time the host gave
# to someone else, and it varies from run to run (BENCHMARKS.md).
cpu_ticks() { awk '/^cpu / {print $2, $3, $4, $5, $6, $7, $8, $9}' /proc/stat; }
cpu_report() {
  python3 -c "import sys; a=[int(x) for x in sys.argv[1].split()]; b=[int(x) for x in sys.argv[2].split()]
d=[y-x for x,y in zip(a,b)]; t=sum(d) or 1
print('machine cpu during the run: ' + ', '.join('%s %.0f%%' % (n, 100*v/t) for n,v in zip(['user','nice','system','idle','iowait','irq','softirq','steal'], d)))" "$1" "$2"
}
# CPU ticks (user + system) per program, summed over its processes. PostgreSQL's include what
# its postmaster reaped: a backend whose client disconnected before the second reading (the
# peer's) still counts. A program that exits before it does not (the load generator, the peer).
program_ticks() {
  for stat in /proc/[0-9]*/stat; do cat "$stat" 2>/dev/null; echo; done |
    awk -F') ' 'NF > 1 { name = substr($1, index($1, "(") + 1); gsub(/ /, "_", name); split($2, f, " "); t[name] += f[12] + f[13] + (name == "postgres" ? f[14] + f[15] : 0) } END { for (k in t) print k, t[k] }' | sort
}
program_report() {
  join <(echo "$1") <(echo "$2") | awk -v hz="$(getconf CLK_TCK)" -v s="$3" \
    '$3 - $2 > 0.01 * hz * s { printf "  %-18s %5.1f%% of a core\n", $1, 100 * ($3 - $2) / hz / s }' | sort -k2 -rn
}
load_seconds_peer="${BENCH_PEER_SECONDS:-$load_seconds}"
# Raw single-row INSERT transactions, then the cqrs-es + postgres-es peer, 64 tasks each for the
# load's duration, each on a database of its own that it drops after (ADR 0029). Each over the
# pool that suits it best here: raw INSERTs one connection per task, as the append bench; the
# peer 20, as `cashflow serve`.
run_peers() {
  local before programs started mode pool
  for mode in raw peer; do
    if [[ $mode == raw ]]; then
      pool=64
      echo "-- raw single-row INSERT transactions, 64 tasks, pool $pool, ${load_seconds_peer}s" | tee "$out/$mode.txt"
    else
      pool=20
      echo "-- cqrs-es + postgres-es peer: RecordMovement on an account aggregate, 64 tasks, pool $pool, ${load_seconds_peer}s" | tee "$out/$mode.txt"
    fi
    before=$(cpu_ticks); programs=$(program_ticks); started=$(date +%s)
    "$peer_bin" "$mode" --concurrency 64 --pool "$pool" --seconds "$load_seconds_peer" --json "$out/$mode.json" | tee -a "$out/$mode.txt"
    { cpu_report "$before" "$(cpu_ticks)"; echo "cpu per program (set-up included):"
      program_report "$programs" "$(program_ticks)" $(($(date +%s) - started)); } | tee -a "$out/$mode.txt"
  done
}

if want append; then
echo "== event store append vs raw INSERT" | tee "$out/append.txt"
CASHFLOW_BENCH_SECONDS="${BENCH_STEP_SECONDS:-5}" cargo bench --locked -p cashflow-eventstore --bench append | tee -a "$out/append.txt"
fi

if want scale; then
echo "== read model at scale: rebuild vs raw COPY, query latencies" | tee "$out/scale.txt"
CASHFLOW_BENCH_USERS="$users" CASHFLOW_BENCH_MOVEMENTS_PER_USER="$per_user" \
  cargo bench --locked -p cashflow-projection-ledger --bench scale | tee -a "$out/scale.txt"
fi

if want search; then
echo "== search view at scale: rebuild, SearchMovements beside ListMovements" | tee "$out/search.txt"
CASHFLOW_BENCH_USERS="$users" CASHFLOW_BENCH_MOVEMENTS_PER_USER="$per_user" \
  cargo bench --locked -p cashflow-projection-search --bench scale | tee -a "$out/search.txt"
fi

if want ocr; then
echo "== OCR: seconds per receipt, receipts per minute with 1 and 2 engines" | tee "$out/ocr.txt"
OMP_THREAD_LIMIT=1 cargo bench --locked -p cashflow-ocr --bench throughput | tee -a "$out/ocr.txt"
fi

if want micro; then
echo "== micro-benchmarks (criterion)" | tee "$out/micro.txt"
cargo bench --locked -p cashflow-domain --bench domain -- --noplot 2>&1 | grep -vE "^(Benchmarking|Found|Gnuplot|  [0-9])|Compiling|Finished|Running" | tee -a "$out/micro.txt"
cargo bench --locked -p cashflow-eventstore --bench hash -- --noplot 2>&1 | grep -vE "^(Benchmarking|Found|Gnuplot|  [0-9])|Compiling|Finished|Running" | tee -a "$out/micro.txt"
cargo bench --locked -p cashflow-api --bench tokens -- --noplot 2>&1 | grep -vE "^(Benchmarking|Found|Gnuplot|  [0-9])|Compiling|Finished|Running" | tee -a "$out/micro.txt"
fi

if want notify; then
echo "== notifications: every command notifies a webhook, at 250 and 500 commands/s" | tee "$out/notify.txt"
for rate in 250 500; do
  CASHFLOW_BENCH_RATE="$rate" cargo bench --locked -p cashflow --bench notifications | tee -a "$out/notify.txt"
done
fi

if want reports; then
echo "== reports: a heavy user's PDF and CSV reports, GetBalances as of a day, appends with and without the owner index" | tee "$out/reports.txt"
cargo bench --locked -p cashflow --bench reports | tee -a "$out/reports.txt"
fi

if want peer && ! want e2e; then
echo "== raw INSERTs and the cqrs-es peer (64 tasks each; e2e runs them beside its own figure)"
run_peers
fi

if want e2e; then
echo "== end to end through gRPC (release server, all roles in one process)"
stamp="$(date +%s)"
export CASHFLOW_DATABASE_URL="postgres://postgres@127.0.0.1:5432/cashflow_bench_e2e_$stamp"
export CASHFLOW_NATS_PREFIX="bench$stamp"
export CASHFLOW_GRPC_ADDR="127.0.0.1:50551"
export CASHFLOW_METRICS_ADDR="127.0.0.1:50552"
CASHFLOW_JWT_SECRET="$(openssl rand -hex 32)"
export CASHFLOW_JWT_SECRET
RUST_LOG=warn "$bin/cashflow" serve > "$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 120); do grep -q "ready" "$out/server.log" && break; sleep 0.5; done
grep -q "ready" "$out/server.log" || { echo "the server did not start"; cat "$out/server.log"; exit 1; }

# Waits until the server has used under 5% of a core over a second (its projectors catch up
# after a full-speed run), for at most two minutes.
wait_quiet() {
  local hz a b waited
  hz=$(getconf CLK_TCK)
  for waited in $(seq 120); do
    a=$(awk '{print $14 + $15}' "/proc/$1/stat"); sleep 1; b=$(awk '{print $14 + $15}' "/proc/$1/stat")
    if (( (b - a) * 20 < hz )); then echo "the server was quiet after ${waited}s"; return; fi
  done
  echo "the server was still busy after 120s"
}

# Idle read-your-writes: one client at 5 operations a second, every recorded movement read back
# with its position as min_position, so nothing else is in flight (ADR 0027).
before=$(cpu_ticks)
"$bin/cashflow-loadgen" --endpoint "http://$CASHFLOW_GRPC_ADDR" --users 10 --clients 1 --rate 5 \
  --freshness-every 1 --seed 7 --duration "$load_seconds" --json "$out/load-idle.json" | tee "$out/load-idle.txt"
cpu_report "$before" "$(cpu_ticks)" | tee -a "$out/load-idle.txt"

before=$(cpu_ticks); programs=$(program_ticks); started=$(date +%s)
"$bin/cashflow-loadgen" --endpoint "http://$CASHFLOW_GRPC_ADDR" --users 1000 --clients 64 \
  --duration "$load_seconds" --json "$out/load-full-speed.json" | tee "$out/load-full-speed.txt"
{ cpu_report "$before" "$(cpu_ticks)"; echo "cpu per program (set-up included):"
  program_report "$programs" "$(program_ticks)" $(($(date +%s) - started)); } | tee -a "$out/load-full-speed.txt"
# Beside it, in the same run on the same PostgreSQL: raw INSERTs and the cqrs-es peer, once the
# server has caught up (ADR 0029). The server idles meanwhile; the half-rate run follows.
wait_quiet "$server" | tee -a "$out/load-full-speed.txt"
run_peers
python3 - "$out/load-full-speed.json" "$out/raw.json" "$out/peer.json" <<'PY' | tee "$out/side-by-side.txt"
import json, sys
e2e, raw, peer = (json.load(open(p)) for p in sys.argv[1:])
record = next(r for r in e2e["rpcs"] if r["rpc"] == "RecordMovement")
commands = e2e["commands_per_second"]
print("side by side, 64 clients each, same run:")
print("  end to end (gRPC, loadgen mix) RecordMovement %.0f/s p99 %.1f ms; all commands %.0f/s" % (record["per_second"], record["p99_ms"], commands))
print("  raw single-row INSERT          %.0f/s p99 %.1f ms" % (raw["per_second"], raw["p99_ms"]))
print("  cqrs-es + postgres-es peer     %.0f/s p99 %.1f ms (%d conflicts retried)" % (peer["per_second"], peer["p99_ms"], peer["conflicts"]))
print("  ratio: RecordMovement / raw %.2f, RecordMovement / peer %.2f; all commands / raw %.2f, all commands / peer %.2f" % (
    record["per_second"] / raw["per_second"], record["per_second"] / peer["per_second"],
    commands / raw["per_second"], commands / peer["per_second"]))
PY
# Half the measured maximum, open loop: freshness (projection lag) under a sustainable load.
half=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(round(sum(x['per_second'] for x in r['rpcs'] if not x['rpc'].startswith('freshness'))/2))" "$out/load-full-speed.json")
before=$(cpu_ticks)
"$bin/cashflow-loadgen" --endpoint "http://$CASHFLOW_GRPC_ADDR" --users 1000 --clients 64 \
  --rate "$half" --duration "$load_seconds" --json "$out/load-half-rate.json" | tee "$out/load-half-rate.txt"
cpu_report "$before" "$(cpu_ticks)" | tee -a "$out/load-half-rate.txt"
curl -s "http://$CASHFLOW_METRICS_ADDR/metrics" > "$out/server-metrics.txt" || true

# Where the server's CPU goes at full speed: perf's software clock at 499 Hz on the server's
# threads during a third full-speed run, apart from the measured ones (sampling costs a little).
# Symbols come from the release binary's symbol table; no call graphs (no frame pointers).
# BENCH_PROFILE=0 skips it.
if [[ "${BENCH_PROFILE:-1}" != 0 ]] && command -v perf >/dev/null; then
  wait_quiet "$server" > /dev/null
  "$bin/cashflow-loadgen" --endpoint "http://$CASHFLOW_GRPC_ADDR" --users 1000 --clients 64 \
    --duration "$load_seconds" --seed 11 > "$out/load-profiled.txt" &
  loadgen=$!
  sleep 2
  perf record -e cpu-clock -F 499 -p "$server" -o "$out/perf.data" -- sleep "$((load_seconds > 6 ? load_seconds - 4 : 2))" \
    > "$out/perf-record.log" 2>&1 || true
  wait "$loadgen" || true
  {
    echo "== the server under full-speed load: perf record -e cpu-clock -F 499 -p <server>"
    grep -m1 "commands/s" "$out/load-profiled.txt" || true
    echo "-- by shared object"
    perf report -i "$out/perf.data" --stdio --sort dso --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' || true
    echo "-- by thread name"
    perf report -i "$out/perf.data" --stdio --sort comm --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' || true
    echo "-- hottest symbols (over 0.5% each)"
    perf report -i "$out/perf.data" --stdio --sort dso,symbol --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' |
      sed -e 's/[ -]*$//' | head -60 || true
  } | tee "$out/profile.txt"
fi

kill -TERM "$server"; wait "$server" || true
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS cashflow_bench_e2e_$stamp WITH (FORCE)" postgres
fi
echo "results in $out"
