//! Micro-benchmark of bearer-token checks at the gRPC edge (ADR 0032): one of our HS256 access
//! tokens verified the first time a process sees it (header and claims decoded, HMAC checked,
//! then remembered) and again on a later call (one map lookup).
//! `cargo bench -p cashflow-api --bench tokens`

use cashflow_api::auth::JwtVerifier;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use uuid::Uuid;

const SECRET: &str = "bench-secret-of-a-reasonable-length";

fn tokens(c: &mut Criterion) {
    let token = cashflow_identity::issue_token(SECRET, Uuid::now_v7(), Duration::from_secs(900));
    c.bench_function("verify a token seen for the first time", |b| {
        b.iter_batched_ref(
            || JwtVerifier::new(SECRET).unwrap(),
            |verifier| black_box(verifier.verify(black_box(&token)).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let verifier = JwtVerifier::new(SECRET).unwrap();
    verifier.verify(&token).unwrap();
    c.bench_function("verify a remembered token", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&token)).unwrap()))
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
