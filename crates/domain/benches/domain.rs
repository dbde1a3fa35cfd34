//! Micro-benchmarks of the domain's hot paths: parsing money, deciding and folding a movement,
//! and turning events into their stored form and back.
//! `cargo bench -p cashflow-domain --bench domain`

use cashflow_domain::account::{Account, AccountEvent, AccountKind};
use cashflow_domain::movement::{
    self, Direction, Movement, MovementCommand, MovementContext, MovementEvent, MovementSource, RecordMovement,
};
use cashflow_domain::{
    AccountId, Amount, CategoryId, Currency, Description, DomainEvent, MovementId, Name, OccurredOn, Reason,
    SignedAmount, UserId, fold,
};
use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn money(c: &mut Criterion) {
    c.bench_function("Amount::parse \"1234.56\"", |b| b.iter(|| Amount::parse("amount", black_box("1234.56"))));
    c.bench_function("Amount::parse 40 digits (refused)", |b| {
        let raw = "1".repeat(40);
        b.iter(|| Amount::parse("amount", black_box(&raw)))
    });
}

fn decide_and_fold(c: &mut Criterion) {
    let owner = UserId::new();
    let account_id = AccountId::new();
    let account = fold::<Account>(&[AccountEvent::AccountOpened {
        account_id,
        owner,
        name: Name::parse("name", "Main").unwrap(),
        kind: AccountKind::Checking,
        currency: Currency::parse("currency", "EUR").unwrap(),
        opening_balance: SignedAmount::ZERO,
    }]);
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let record = RecordMovement {
        movement_id: MovementId::new(),
        owner,
        account_id,
        direction: Direction::Expense,
        amount: Amount::parse("amount", "12.50").unwrap(),
        occurred_on: OccurredOn::from_date(today),
        description: Description::parse("description", "Lunch at La Tasca").unwrap(),
        counterparty: None,
        category_id: None,
        source: MovementSource::Manual,
        source_ref: None,
    };
    c.bench_function("movement::decide RecordMovement", |b| {
        b.iter(|| {
            let context = MovementContext { account: Some(&account), category: None, today };
            movement::decide(black_box(&Movement::default()), MovementCommand::Record(record.clone()), context)
        })
    });
    let mut history = movement::decide(
        &Movement::default(),
        MovementCommand::Record(record.clone()),
        MovementContext { account: Some(&account), category: None, today },
    )
    .unwrap();
    for _ in 0..8 {
        history.push(MovementEvent::CategoryAssigned {
            category_id: CategoryId::new(),
            assigned_by: movement::AssignedBy::User,
            rule_id: None,
        });
    }
    history.push(MovementEvent::MovementVoided { reason: Reason::parse("reason", "duplicate").unwrap() });
    c.bench_function("fold 10 movement events", |b| b.iter(|| fold::<Movement>(black_box(&history))));

    let recorded = history[0].clone();
    c.bench_function("event payload (serialise)", |b| b.iter(|| black_box(&recorded).payload().unwrap()));
    let payload = recorded.payload().expect("a payload");
    c.bench_function("event decode (deserialise)", |b| {
        b.iter(|| MovementEvent::decode("MovementRecorded", 1, black_box(&payload)))
    });
}

criterion_group!(benches, money, decide_and_fold);
criterion_main!(benches);
