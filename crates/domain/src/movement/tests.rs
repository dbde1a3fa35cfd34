//! Given events / when command / then events or error.

use super::*;
use crate::account::{AccountEvent, AccountKind};
use crate::aggregate::fold;
use crate::category::CategoryEvent;
use crate::{Name, SignedAmount};
use proptest::prelude::*;

const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();

struct World {
    owner: UserId,
    account: Account,
    account_id: AccountId,
    category: Category,
    category_id: CategoryId,
}

fn world() -> World {
    world_in("EUR")
}

fn world_in(currency: &str) -> World {
    let owner = UserId::new();
    let account_id = AccountId::new();
    let category_id = CategoryId::new();
    let account = fold::<Account>(&[AccountEvent::AccountOpened {
        account_id,
        owner,
        name: Name::parse("name", "Main").unwrap(),
        kind: AccountKind::Checking,
        currency: Currency::parse("currency", currency).unwrap(),
        opening_balance: SignedAmount::ZERO,
    }]);
    let category = fold::<Category>(&[CategoryEvent::CategoryCreated {
        category_id,
        owner,
        name: Name::parse("name", "Food").unwrap(),
        parent_id: None,
    }]);
    World { owner, account, account_id, category, category_id }
}

impl World {
    fn context(&self) -> MovementContext<'_> {
        MovementContext { account: Some(&self.account), category: Some(&self.category), today: TODAY }
    }

    fn record(&self, on: NaiveDate) -> MovementCommand {
        MovementCommand::Record(RecordMovement {
            movement_id: MovementId::new(),
            owner: self.owner,
            account_id: self.account_id,
            direction: Direction::Expense,
            amount: Amount::parse("amount", "12.50").unwrap(),
            occurred_on: OccurredOn::from_date(on),
            description: Description::parse("description", "Lunch").unwrap(),
            counterparty: None,
            category_id: None,
            source: MovementSource::Manual,
            source_ref: None,
        })
    }

    fn record_amount(&self, amount: &str) -> MovementCommand {
        let MovementCommand::Record(record) = self.record(TODAY) else { unreachable!() };
        MovementCommand::Record(RecordMovement { amount: Amount::parse("amount", amount).unwrap(), ..record })
    }

    fn recorded(&self) -> Movement {
        let events = decide(&Movement::default(), self.record(TODAY), self.context()).unwrap();
        fold::<Movement>(&events)
    }

    fn assign(&self, assigned_by: AssignedBy) -> MovementCommand {
        MovementCommand::AssignCategory { owner: self.owner, category_id: self.category_id, assigned_by, rule_id: None }
    }

    fn void(&self) -> MovementCommand {
        MovementCommand::Void { owner: self.owner, reason: Reason::parse("reason", "duplicate").unwrap() }
    }
}

#[test]
fn a_movement_takes_its_accounts_currency() {
    let w = world();
    let events = decide(&Movement::default(), w.record(TODAY), w.context()).unwrap();
    assert!(matches!(&events[..], [MovementEvent::MovementRecorded { currency, .. }] if currency.code() == "EUR"));
}

#[test]
fn an_amount_finer_than_the_accounts_currency_is_refused_naming_amount() {
    for (currency, refused) in
        [("JPY", "0.5"), ("JPY", "1200.1"), ("EUR", "0.001"), ("EUR", "12.505"), ("KWD", "1.0005")]
    {
        let w = world_in(currency);
        let when = w.record_amount(refused);
        assert!(
            matches!(decide(&Movement::default(), when, w.context()), Err(DomainError::Invalid(e)) if e.field == "amount"),
            "{refused} {currency} should be refused"
        );
    }
}

#[test]
fn an_amount_in_the_currencys_minor_units_is_recorded() {
    for (currency, accepted) in
        [("JPY", "1200"), ("JPY", "1200.00"), ("EUR", "0.01"), ("EUR", "12.500"), ("KWD", "1.005")]
    {
        let w = world_in(currency);
        let events = decide(&Movement::default(), w.record_amount(accepted), w.context()).unwrap();
        assert!(matches!(&events[..], [MovementEvent::MovementRecorded { .. }]), "{accepted} {currency}");
    }
}

#[test]
fn a_movement_may_be_dated_tomorrow_but_not_the_day_after() {
    let w = world();
    let tomorrow = TODAY.succ_opt().unwrap();
    assert!(decide(&Movement::default(), w.record(tomorrow), w.context()).is_ok());
    let result = decide(&Movement::default(), w.record(tomorrow.succ_opt().unwrap()), w.context());
    assert!(matches!(result, Err(DomainError::Invalid(ValidationError { field: "occurred_on", .. }))));
}

#[test]
fn a_movement_cannot_go_to_another_users_account() {
    let w = world();
    let mut command = w.record(TODAY);
    if let MovementCommand::Record(record) = &mut command {
        record.owner = UserId::new();
    }
    assert_eq!(decide(&Movement::default(), command, w.context()), Err(DomainError::NotFound { what: "account" }));
}

#[test]
fn a_movement_cannot_go_to_a_closed_account() {
    let mut w = world();
    w.account.apply(&AccountEvent::AccountClosed {});
    assert!(matches!(
        decide(&Movement::default(), w.record(TODAY), w.context()),
        Err(DomainError::FailedPrecondition(_))
    ));
}

#[test]
fn recording_with_a_category_assigns_it_by_the_user() {
    let w = world();
    let mut command = w.record(TODAY);
    if let MovementCommand::Record(record) = &mut command {
        record.category_id = Some(w.category_id);
    }
    let events = decide(&Movement::default(), command, w.context()).unwrap();
    assert!(matches!(&events[..], [_, MovementEvent::CategoryAssigned { assigned_by: AssignedBy::User, .. }]));
}

#[test]
fn a_category_of_another_user_is_not_found() {
    let w = world();
    let other = world();
    let given = w.recorded();
    let when = MovementCommand::AssignCategory {
        owner: w.owner,
        category_id: other.category_id,
        assigned_by: AssignedBy::User,
        rule_id: None,
    };
    let context = MovementContext { account: None, category: Some(&other.category), today: TODAY };
    assert_eq!(decide(&given, when, context), Err(DomainError::NotFound { what: "category" }));
}

#[test]
fn a_voided_movement_cannot_be_recategorised() {
    let w = world();
    let mut given = w.recorded();
    given.apply(&MovementEvent::MovementVoided { reason: Reason::parse("reason", "typo").unwrap() });
    assert!(matches!(decide(&given, w.assign(AssignedBy::User), w.context()), Err(DomainError::FailedPrecondition(_))));
}

#[test]
fn a_voided_movement_cannot_be_voided_again() {
    let w = world();
    let mut given = w.recorded();
    given.apply(&MovementEvent::MovementVoided { reason: Reason::parse("reason", "typo").unwrap() });
    assert!(matches!(decide(&given, w.void(), w.context()), Err(DomainError::FailedPrecondition(_))));
}

#[test]
fn assigning_the_same_category_again_changes_nothing() {
    let w = world();
    let mut given = w.recorded();
    for event in decide(&given, w.assign(AssignedBy::User), w.context()).unwrap() {
        given.apply(&event);
    }
    assert_eq!(decide(&given, w.assign(AssignedBy::User), w.context()), Ok(vec![]));
}

#[test]
fn a_rule_never_overrides_the_users_choice() {
    let w = world();
    let other_category = CategoryId::new();
    let mut given = w.recorded();
    given.apply(&MovementEvent::CategoryAssigned {
        category_id: other_category,
        assigned_by: AssignedBy::User,
        rule_id: None,
    });
    assert_eq!(decide(&given, w.assign(AssignedBy::Rule), w.context()), Ok(vec![]));
}

#[test]
fn another_user_cannot_void_a_movement() {
    let w = world();
    let given = w.recorded();
    let when = MovementCommand::Void { owner: UserId::new(), reason: Reason::parse("reason", "mine").unwrap() };
    assert_eq!(decide(&given, when, w.context()), Err(DomainError::NotFound { what: "movement" }));
}

#[test]
fn every_event_round_trips_through_its_stored_form() {
    let w = world();
    let mut command = w.record(TODAY);
    if let MovementCommand::Record(record) = &mut command {
        record.category_id = Some(w.category_id);
        record.counterparty = Some(Counterparty::parse("counterparty", "Café Zürich").unwrap());
    }
    let mut events = decide(&Movement::default(), command, w.context()).unwrap();
    events.push(MovementEvent::MovementVoided { reason: Reason::parse("reason", "typo").unwrap() });
    for event in events {
        let decoded =
            MovementEvent::decode(event.event_type(), MovementEvent::SCHEMA_VERSION, &event.payload().unwrap())
                .unwrap();
        assert_eq!(decoded, event);
    }
}

#[test]
fn an_unknown_schema_version_is_reported_not_guessed() {
    let result = MovementEvent::decode("MovementVoided", 99, &serde_json::json!({ "reason": "x" }));
    assert!(matches!(result, Err(crate::EventDecodeError::Unknown { schema_version: 99, .. })));
}

#[derive(Debug, Clone)]
enum Step {
    Assign(AssignedBy, bool),
    Void,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (prop_oneof![Just(AssignedBy::User), Just(AssignedBy::Rule), Just(AssignedBy::Ocr)], any::<bool>())
            .prop_map(|(by, other)| Step::Assign(by, other)),
        Just(Step::Void),
    ]
}

proptest! {
    /// Folding the events that `decide` returned, from scratch, always gives the state that
    /// applying them one command at a time gave, and the state always obeys the rules.
    #[test]
    fn folding_decided_events_is_consistent(steps in proptest::collection::vec(step(), 0..20)) {
        let w = world();
        let second = fold::<Category>(&[CategoryEvent::CategoryCreated { category_id: CategoryId::new(), owner: w.owner, name: Name::parse("name", "Other").unwrap(), parent_id: None }]);
        let mut history = decide(&Movement::default(), w.record(TODAY), w.context()).unwrap();
        let mut state = fold::<Movement>(&history);
        for step in steps {
            let was_voided = state.recorded.as_ref().is_some_and(|m| m.voided);
            let before = state.recorded.as_ref().and_then(|m| m.category);
            let (command, category) = match step {
                Step::Assign(by, use_second) => {
                    let category = if use_second { &second } else { &w.category };
                    let id = category.created.as_ref().map(|c| c.id).unwrap();
                    (MovementCommand::AssignCategory { owner: w.owner, category_id: id, assigned_by: by, rule_id: None }, category)
                }
                Step::Void => (w.void(), &w.category),
            };
            let context = MovementContext { account: Some(&w.account), category: Some(category), today: TODAY };
            match decide(&state, command, context) {
                Ok(events) => {
                    prop_assert!(!was_voided, "nothing may change a voided movement");
                    for event in &events {
                        state.apply(event);
                    }
                    history.extend(events);
                }
                Err(_) => prop_assert!(was_voided, "only a voided movement refuses these commands"),
            }
            let after = state.recorded.as_ref().and_then(|m| m.category);
            if let (Some(before), Some(after)) = (before, after) {
                prop_assert!(before.assigned_by != AssignedBy::User || after.assigned_by == AssignedBy::User);
            }
            prop_assert_eq!(&fold::<Movement>(&history), &state);
        }
    }
}
