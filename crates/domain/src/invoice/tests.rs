//! Given events, when a command, then events or a refusal.

use super::*;
use crate::aggregate::fold;

struct World {
    owner: UserId,
    invoice_id: InvoiceId,
}

impl World {
    fn new() -> Self {
        Self { owner: UserId::new(), invoice_id: InvoiceId::new() }
    }

    fn uploaded(&self) -> InvoiceEvent {
        InvoiceEvent::InvoiceUploaded {
            invoice_id: self.invoice_id,
            owner: self.owner,
            filename: FileName::parse("filename", "ticket.jpg").unwrap(),
            content_kind: ContentKind::Jpeg,
            size_bytes: 1234,
            sha256: Sha256Hex::from_digest([7; 32]),
            blob_key: "invoices/x/y".into(),
            account_id: None,
        }
    }

    fn reading(total: &str, confidence: Decimal) -> Reading {
        Reading {
            merchant: Some(Read {
                value: Counterparty::parse("merchant", "MERCADONA S.A.").unwrap(),
                confidence: Confidence::new(Decimal::new(8, 1)),
            }),
            issued_on: Some(Read {
                value: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                confidence: Confidence::new(Decimal::new(9, 1)),
            }),
            total: Some(Read {
                value: Amount::parse("total", total).unwrap(),
                confidence: Confidence::new(confidence),
            }),
            tax: None,
            currency: Some(Read { value: Currency::parse("currency", "EUR").unwrap(), confidence: Confidence::ONE }),
            raw_text: "MERCADONA S.A.\nTOTAL 23,45".into(),
        }
    }

    fn given(&self, events: &[InvoiceEvent]) -> Invoice {
        fold::<Invoice>(events)
    }
}

fn eur() -> Currency {
    Currency::parse("currency", "EUR").unwrap()
}

#[test]
fn an_invoice_is_uploaded_once() {
    let w = World::new();
    let state = w.given(&[w.uploaded()]);
    let InvoiceEvent::InvoiceUploaded {
        invoice_id,
        owner,
        filename,
        content_kind,
        size_bytes,
        sha256,
        blob_key,
        account_id,
    } = w.uploaded()
    else {
        unreachable!()
    };
    let upload = UploadInvoice { invoice_id, owner, filename, content_kind, size_bytes, sha256, blob_key, account_id };
    assert_eq!(decide(&Invoice::default(), InvoiceCommand::Upload(upload.clone())).map(|e| e.len()), Ok(1));
    assert_eq!(decide(&state, InvoiceCommand::Upload(upload)), Err(DomainError::AlreadyExists { what: "invoice" }));
}

#[test]
fn a_redelivered_scan_changes_nothing() {
    let w = World::new();
    let reading = World::reading("23.45", Decimal::new(9, 1));
    let state = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(reading.clone())]);
    assert_eq!(state.status, InvoiceStatus::Scanned);
    assert_eq!(decide(&state, InvoiceCommand::RecordScan { owner: w.owner, reading }), Ok(vec![]));
}

#[test]
fn a_failure_after_a_scan_is_ignored_and_before_it_recorded() {
    let w = World::new();
    let uploaded = w.given(&[w.uploaded()]);
    let failed = decide(&uploaded, InvoiceCommand::FailScan { owner: w.owner, reason: "unreadable\u{0}".into() });
    assert_eq!(failed, Ok(vec![InvoiceEvent::InvoiceScanFailed { reason: "unreadable".into() }]));
    // After the reading, a failure does not mark it failed: the reading stands, and the
    // invoice is left for the person, settled.
    let scanned = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("1", Decimal::ONE))]);
    let late = InvoiceCommand::FailScan { owner: w.owner, reason: "late".into() };
    let left = vec![InvoiceEvent::InvoiceLeftForReview { reason: ReviewReason::NotRecorded }];
    assert_eq!(decide(&scanned, late.clone()), Ok(left.clone()));
    let settled =
        w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("1", Decimal::ONE)), left[0].clone()]);
    assert_eq!(decide(&settled, late), Ok(vec![]));
}

#[test]
fn an_invoice_is_processing_until_its_movement_is_linked_or_it_is_left_for_review() {
    let w = World::new();
    let scanned = InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(9, 1)));
    let linked = InvoiceEvent::InvoiceLinked { movement_id: MovementId::new() };
    let left = InvoiceEvent::InvoiceLeftForReview { reason: ReviewReason::NotSureEnough };
    let failed = InvoiceEvent::InvoiceScanFailed { reason: "unreadable".into() };
    let status = |events: &[InvoiceEvent]| w.given(events).processing_status();
    assert_eq!(status(&[w.uploaded()]), InvoiceStatus::Uploaded);
    assert_eq!(status(&[w.uploaded(), scanned.clone()]), InvoiceStatus::Uploaded, "the movement is still to come");
    assert_eq!(status(&[w.uploaded(), scanned.clone(), linked.clone()]), InvoiceStatus::Scanned);
    assert_eq!(status(&[w.uploaded(), scanned.clone(), left.clone()]), InvoiceStatus::Scanned);
    assert_eq!(status(&[w.uploaded(), failed.clone()]), InvoiceStatus::Failed);
    // A correction came before the reading and linked a movement: the reading is still to come.
    assert_eq!(status(&[w.uploaded(), linked.clone()]), InvoiceStatus::Uploaded);
    assert_eq!(status(&[w.uploaded(), linked.clone(), scanned.clone()]), InvoiceStatus::Scanned);
    assert_eq!(status(&[w.uploaded(), linked.clone(), failed.clone()]), InvoiceStatus::Scanned);
    // An unreadable invoice the person corrected into a movement.
    assert_eq!(status(&[w.uploaded(), failed, linked]), InvoiceStatus::Scanned);
}

#[test]
fn only_a_read_invoice_not_yet_settled_is_left_for_review() {
    let w = World::new();
    let leave = || InvoiceCommand::LeaveForReview { owner: w.owner, reason: ReviewReason::NoAccount };
    let scanned = InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(3, 1)));
    assert_eq!(decide(&w.given(&[w.uploaded()]), leave()), Ok(vec![]), "the reading is still to come");
    let read = w.given(&[w.uploaded(), scanned.clone()]);
    let left = InvoiceEvent::InvoiceLeftForReview { reason: ReviewReason::NoAccount };
    assert_eq!(decide(&read, leave()), Ok(vec![left.clone()]));
    assert_eq!(decide(&w.given(&[w.uploaded(), scanned.clone(), left]), leave()), Ok(vec![]));
    let linked = InvoiceEvent::InvoiceLinked { movement_id: MovementId::new() };
    assert_eq!(decide(&w.given(&[w.uploaded(), scanned, linked]), leave()), Ok(vec![]));
    let failed = InvoiceEvent::InvoiceScanFailed { reason: "x".into() };
    assert_eq!(decide(&w.given(&[w.uploaded(), failed]), leave()), Ok(vec![]));
    let stranger = InvoiceCommand::LeaveForReview { owner: UserId::new(), reason: ReviewReason::NoAccount };
    assert_eq!(decide(&read, stranger), Err(DomainError::NotFound { what: "invoice" }));
}

#[test]
fn a_reading_with_no_movement_says_why() {
    let w = World::new();
    let confident = Confidence::new(Decimal::new(6, 1));
    let unsure = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(3, 1)))]);
    assert_eq!(unsure.movement_draft_or_why(confident, eur()).unwrap_err(), ReviewReason::NotSureEnough);
    let sure = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(9, 1)))]);
    let usd = Currency::parse("c", "USD").unwrap();
    assert_eq!(sure.movement_draft_or_why(confident, usd).unwrap_err(), ReviewReason::OtherCurrency);
}

#[test]
fn another_users_invoice_is_not_found() {
    let w = World::new();
    let state = w.given(&[w.uploaded()]);
    let stranger = UserId::new();
    let not_found = Err(DomainError::NotFound { what: "invoice" });
    let total = Some(Amount::parse("total", "1").unwrap());
    assert_eq!(
        decide(&state, InvoiceCommand::Correct { owner: stranger, merchant: None, issued_on: None, total }),
        not_found
    );
    let reading = World::reading("1", Decimal::ONE);
    assert_eq!(decide(&state, InvoiceCommand::RecordScan { owner: stranger, reading }), not_found);
    assert_eq!(decide(&state, InvoiceCommand::Link { owner: stranger, movement_id: MovementId::new() }), not_found);
}

#[test]
fn a_correction_keeps_the_machines_reading_beside_the_persons() {
    let w = World::new();
    let state = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(5, 1)))]);
    let total = Amount::parse("total", "32.45").unwrap();
    let events =
        decide(&state, InvoiceCommand::Correct { owner: w.owner, merchant: None, issued_on: None, total: Some(total) })
            .unwrap();
    let machine = Amount::parse("total", "23.45").unwrap();
    assert_eq!(
        events,
        vec![InvoiceEvent::InvoiceCorrected {
            merchant: None,
            issued_on: None,
            total: Some(Correction { machine: Some(machine), person: total })
        }]
    );
    let corrected = w.given(&[
        w.uploaded(),
        InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(5, 1))),
        events[0].clone(),
    ]);
    assert_eq!(corrected.total(), Some(Read { value: total, confidence: Confidence::ONE }));
    assert_eq!(corrected.reading.as_ref().and_then(|r| r.total.as_ref()).map(|t| t.value), Some(machine));
}

#[test]
fn a_correction_that_changes_nothing_appends_nothing_and_an_empty_one_is_refused() {
    let w = World::new();
    let state = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::ONE))]);
    let same = Some(Amount::parse("total", "23.45").unwrap());
    let unchanged = InvoiceCommand::Correct { owner: w.owner, merchant: None, issued_on: None, total: same };
    assert_eq!(decide(&state, unchanged), Ok(vec![]));
    let empty = InvoiceCommand::Correct { owner: w.owner, merchant: None, issued_on: None, total: None };
    assert!(matches!(decide(&state, empty), Err(DomainError::Invalid(e)) if e.field == "merchant"));
}

#[test]
fn only_a_confident_reading_in_the_accounts_currency_drafts_a_movement() {
    let w = World::new();
    let confident = Confidence::new(Decimal::new(6, 1));
    let sure = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(9, 1)))]);
    let draft = sure.movement_draft(confident, eur()).unwrap();
    assert_eq!(draft.amount, Amount::parse("a", "23.45").unwrap());
    assert_eq!(draft.occurred_on.date(), NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert_eq!(draft.merchant.map(|m| m.to_string()), Some("MERCADONA S.A.".into()));
    assert_eq!(sure.movement_draft(confident, Currency::parse("c", "USD").unwrap()), None);

    let unsure = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(3, 1)))]);
    assert_eq!(unsure.movement_draft(confident, eur()), None);
}

#[test]
fn a_persons_correction_makes_an_unsure_reading_good_enough() {
    let w = World::new();
    let confident = Confidence::new(Decimal::new(6, 1));
    let total = Amount::parse("total", "20.00").unwrap();
    let state = w.given(&[
        w.uploaded(),
        InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(3, 1))),
        InvoiceEvent::InvoiceCorrected {
            merchant: None,
            issued_on: None,
            total: Some(Correction { machine: None, person: total }),
        },
    ]);
    assert_eq!(state.movement_draft(confident, eur()).map(|d| d.amount), Some(total));
}

#[test]
fn a_corrected_total_finer_than_the_receipts_currency_is_refused_naming_total() {
    let w = World::new();
    let state = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::ONE))]);
    let total = Some(Amount::parse("total", "23.455").unwrap());
    let when = InvoiceCommand::Correct { owner: w.owner, merchant: None, issued_on: None, total };
    assert!(matches!(decide(&state, when), Err(DomainError::Invalid(e)) if e.field == "total"));
    let total = Some(Amount::parse("total", "23.40").unwrap());
    let when = InvoiceCommand::Correct { owner: w.owner, merchant: None, issued_on: None, total };
    assert!(matches!(&decide(&state, when).unwrap()[..], [InvoiceEvent::InvoiceCorrected { .. }]));
}

#[test]
fn a_reading_finer_than_the_accounts_currency_is_left_to_the_person() {
    // 12.345 read from a EUR receipt is a misreading (a unit price, a smudge): rounding it would
    // record an amount nobody read, so no movement is drafted and the invoice waits for a person.
    let w = World::new();
    let confident = Confidence::new(Decimal::new(6, 1));
    let fine = w.given(&[w.uploaded(), InvoiceEvent::InvoiceScanned(World::reading("12.345", Decimal::ONE))]);
    assert_eq!(fine.movement_draft(confident, eur()), None);
    // A person's correction to whole yen on a JPY account (the receipt said EUR) is drafted;
    // their 0.5 would not be.
    let jpy = Currency::parse("currency", "JPY").unwrap();
    let corrected = |total: &str| InvoiceEvent::InvoiceCorrected {
        merchant: None,
        issued_on: None,
        total: Some(Correction { machine: None, person: Amount::parse("total", total).unwrap() }),
    };
    let whole = w.given(&[
        w.uploaded(),
        InvoiceEvent::InvoiceScanned(World::reading("12.345", Decimal::ONE)),
        corrected("1200"),
    ]);
    assert_eq!(whole.movement_draft(confident, jpy).map(|d| d.amount.to_string()), Some("1200".into()));
    let half = w.given(&[
        w.uploaded(),
        InvoiceEvent::InvoiceScanned(World::reading("12.345", Decimal::ONE)),
        corrected("0.5"),
    ]);
    assert_eq!(half.movement_draft(confident, jpy), None);
}

#[test]
fn linking_the_same_movement_again_appends_nothing() {
    let w = World::new();
    let movement_id = MovementId::new();
    let state = w.given(&[w.uploaded(), InvoiceEvent::InvoiceLinked { movement_id }]);
    assert_eq!(decide(&state, InvoiceCommand::Link { owner: w.owner, movement_id }), Ok(vec![]));
    let other = MovementId::new();
    assert_eq!(
        decide(&state, InvoiceCommand::Link { owner: w.owner, movement_id: other }),
        Ok(vec![InvoiceEvent::InvoiceLinked { movement_id: other }])
    );
}

#[test]
fn a_file_name_is_its_last_path_segment() {
    assert_eq!(FileName::parse("filename", r"C:\Users\ana\ticket.jpg").unwrap().as_str(), "ticket.jpg");
    assert_eq!(FileName::parse("filename", "/tmp/../x.pdf").unwrap().as_str(), "x.pdf");
    assert!(FileName::parse("filename", "a/..").is_err());
    assert!(FileName::parse("filename", "").is_err());
    assert!(FileName::parse("filename", "bad\nname").is_err());
    assert!(FileName::parse("filename", &"x".repeat(256)).is_err());
}

#[test]
fn events_round_trip_through_their_stored_form() {
    let w = World::new();
    for event in [
        w.uploaded(),
        InvoiceEvent::InvoiceScanned(World::reading("23.45", Decimal::new(875, 3))),
        InvoiceEvent::InvoiceScanFailed { reason: "no text".into() },
        InvoiceEvent::InvoiceLinked { movement_id: MovementId::new() },
        InvoiceEvent::InvoiceLeftForReview { reason: ReviewReason::NotSureEnough },
    ] {
        let decoded = InvoiceEvent::decode(event.event_type(), 1, &event.payload().unwrap()).unwrap();
        assert_eq!(decoded, event);
    }
}
