//! End to end: invoices through the real binary, PostgreSQL, NATS, blob storage, tesseract and
//! poppler — upload, OCR, the movement, the categoriser's rule, corrections, crashes, bad files.

mod support;

#[path = "../crates/ocr/tests/support/mod.rs"]
mod receipts;

use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::*;
use receipts::{Encoding, Face, Look};
use sqlx::Row;
use std::time::{Duration, Instant};
use support::invoices::{blob_files, file_request, upload, upload_file, upload_parts};
use support::{Authed, CASHFLOW, Namespace, Server, command_id};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

const ALL_ROLES: &str = "api,relay,projectors,ocr,categoriser";

fn mercadona() -> &'static str {
    "^MERCADONA S.A.\n^C/ Mayor 12, Madrid\n^CIF A-46103834\nFecha: 23/11/2026 18:42\n\n\
     LECHE ENTERA 1L|1,15\nPAN DE MOLDE|1,85\nTOMATE RAMA|2,40\nACEITE OLIVA 1L|8,95\nQUESO CURADO|9,10\n\n\
     BASE IMPONIBLE|21,32\nIVA 10%|2,13\nTOTAL A PAGAR|23,45 €\nEFECTIVO|50,00\nCAMBIO|26,55"
}

fn receipt_png(text: &str) -> Vec<u8> {
    let look = Look { face: Face::DejaVuSans, px: 30.0, width: 900, rotation: 0.6, noise: 8, blur: false };
    receipts::encode(&receipts::render(text, look), Encoding::Png)
}

/// Polls GetInvoice until `done` holds, for at most `limit`.
async fn invoice_until(
    invoices: &mut InvoiceServiceClient<Authed>,
    invoice_id: &str,
    limit: Duration,
    done: impl Fn(&Invoice) -> bool,
) -> Invoice {
    let started = Instant::now();
    loop {
        let got = invoices
            .get_invoice(GetInvoiceRequest { invoice_id: invoice_id.into(), min_position: None })
            .await
            .map(|r| r.into_inner().invoice.expect("an invoice"));
        match got {
            Ok(invoice) if done(&invoice) => return invoice,
            Ok(invoice) if started.elapsed() > limit => panic!("invoice never got there: {invoice:?}"),
            Err(status) if status.code() != Code::NotFound || started.elapsed() > limit => panic!("{status:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The movement as the ledger read model has it once it has applied `min_position`.
async fn movement(server: &Server, user: Uuid, movement_id: &str, min_position: Option<u64>) -> Movement {
    let mut query = server.query(user).await;
    let response = query.get_movement(GetMovementRequest { movement_id: movement_id.into(), min_position }).await;
    response.expect("the movement").into_inner().movement.expect("a movement")
}

/// The position of a stream's last event, as the audit service reads it from the store.
async fn last_position(server: &Server, user: Uuid, stream_id: &str) -> u64 {
    let mut audit = server.audit(user).await;
    let mut stream =
        audit.read_stream(ReadStreamRequest { stream_id: stream_id.into() }).await.expect("read stream").into_inner();
    let mut last = None;
    while let Some(event) = stream.message().await.expect("an event") {
        last = Some(event.position);
    }
    last.expect("the stream has events")
}

fn violated_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    details.bad_request().expect("a BadRequest").field_violations.first().expect("a violation").field.clone()
}

async fn open_account(server: &Server, user: Uuid) -> String {
    let mut ledger = server.ledger(user).await;
    let request = OpenAccountRequest {
        command_id: command_id(),
        name: "Everyday".into(),
        currency: "EUR".into(),
        opening_balance: Some("500.00".into()),
    };
    ledger.open_account(request).await.expect("open account").into_inner().account_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_photographed_receipt_becomes_a_categorised_movement_and_follows_its_correction() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, ALL_ROLES);
    let alice = Uuid::now_v7();
    let account_id = open_account(&server, alice).await;
    let mut ledger = server.ledger(alice).await;
    let groceries = ledger
        .create_category(CreateCategoryRequest { command_id: command_id(), name: "Groceries".into(), parent_id: None })
        .await
        .expect("category")
        .into_inner()
        .category_id;
    ledger
        .add_categorization_rule(AddCategorizationRuleRequest {
            command_id: command_id(),
            category_id: groceries.clone(),
            description_pattern: Some("mercadona".into()),
            ..Default::default()
        })
        .await
        .expect("a rule");

    let photo = receipt_png(mercadona());
    let mut invoices = server.invoices(alice).await;
    // No account named: alice's only account is the default.
    let uploaded = upload(&mut invoices, upload_parts("ticket.png", "image/png", None, &photo)).await.expect("upload");
    let scanned =
        invoice_until(&mut invoices, &uploaded.invoice_id, Duration::from_secs(90), |i| !i.movement_id.is_empty())
            .await;
    assert_eq!(scanned.status(), InvoiceStatus::Scanned, "{scanned:?}");
    assert_eq!(scanned.total, "23.45", "{}", scanned.raw_text);
    assert_eq!(scanned.issued_on, "2026-11-23", "{}", scanned.raw_text);
    assert!(scanned.merchant.to_uppercase().contains("MERCADONA"), "{scanned:?}");
    assert_eq!(scanned.currency, "EUR");
    assert!(scanned.total_confidence >= 0.6, "{scanned:?}");
    assert_eq!(scanned.content_type, "image/png");
    assert_eq!(scanned.size_bytes, photo.len() as u64);

    // The movement is there, and the categoriser put it in Groceries by the rule. The invoices
    // read model saw InvoiceLinked, but the ledger read model may not have applied the movement
    // yet (no order between two read models): read it at the link's position, which is after it.
    let linked_at = last_position(&server, alice, &format!("invoice-{}", uploaded.invoice_id)).await;
    let started = Instant::now();
    let recorded = loop {
        let m = movement(&server, alice, &scanned.movement_id, Some(linked_at)).await;
        if !m.category_id.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(recorded.amount, "23.45");
    assert_eq!(recorded.occurred_on, "2026-11-23");
    assert_eq!(recorded.account_id, account_id);
    assert_eq!(recorded.direction(), Direction::Expense);
    assert_eq!(recorded.category_id, groceries, "the rule categorised the movement");
    let mut query = server.query(alice).await;
    let listed = query
        .list_movements(ListMovementsRequest { category_id: Some(groceries.clone()), ..Default::default() })
        .await
        .expect("list")
        .into_inner()
        .movements;
    assert_eq!(listed.iter().map(|m| m.movement_id.as_str()).collect::<Vec<_>>(), [scanned.movement_id.as_str()]);

    // The original comes back byte for byte; the same file again is the same invoice.
    let mut download = invoices
        .download_invoice(DownloadInvoiceRequest { invoice_id: uploaded.invoice_id.clone() })
        .await
        .expect("download")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = download.message().await.expect("a chunk") {
        assert!(chunk.chunk.len() <= 64 * 1024);
        bytes.extend(chunk.chunk);
    }
    assert_eq!(bytes, photo);
    let again = upload(&mut invoices, upload_parts("again.png", "", None, &photo)).await.expect("upload again");
    assert_eq!(again.invoice_id, uploaded.invoice_id);
    let listed = invoices.list_invoices(ListInvoicesRequest::default()).await.expect("list invoices").into_inner();
    assert_eq!(listed.invoices.len(), 1);

    // The person corrects the total: the machine's reading stays, the movement follows.
    let corrected = invoices
        .correct_invoice(CorrectInvoiceRequest {
            command_id: command_id(),
            invoice_id: uploaded.invoice_id.clone(),
            total: Some("32.45".into()),
            ..Default::default()
        })
        .await
        .expect("correct")
        .into_inner();
    let invoice = invoices
        .get_invoice(GetInvoiceRequest {
            invoice_id: uploaded.invoice_id.clone(),
            min_position: Some(corrected.position),
        })
        .await
        .expect("get")
        .into_inner()
        .invoice
        .expect("invoice");
    assert_eq!((invoice.total.as_str(), invoice.scanned_total.as_str()), ("32.45", "23.45"));
    assert_eq!(invoice.total_confidence, 1.0);
    assert_ne!(invoice.movement_id, scanned.movement_id, "a new movement replaced the old one");
    let after = Some(corrected.position);
    assert!(movement(&server, alice, &scanned.movement_id, after).await.voided, "the old movement is voided");
    let replacement = movement(&server, alice, &invoice.movement_id, after).await;
    assert_eq!((replacement.amount.as_str(), replacement.voided), ("32.45", false));
    let balances = query
        .get_balances(GetBalancesRequest { min_position: Some(corrected.position), as_of: None })
        .await
        .expect("balances");
    assert_eq!(balances.into_inner().balances[0].balance, "467.55", "500.00 − 32.45, the voided 23.45 not counted");

    // The replacement is categorised too: by the categoriser, or by ApplyRules over the past
    // if the categoriser has not got to it yet. Either way each movement changed at most once.
    let applied = ledger
        .apply_rules(ApplyRulesRequest { command_id: command_id(), from: None, to: None })
        .await
        .expect("apply rules")
        .into_inner();
    assert!(applied.movements_categorised <= 1, "{applied:?}");
    let started = Instant::now();
    loop {
        let now = movement(&server, alice, &invoice.movement_id, Some(applied.position)).await;
        if now.category_id == groceries {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the replacement stayed uncategorised: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The browser's path: the whole photo in one `UploadInvoiceFile` message is read, recorded
/// and deduplicated exactly as a streamed upload of the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receipt_uploaded_in_one_message_is_read_like_a_streamed_one() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, ALL_ROLES);
    let dora = Uuid::now_v7();
    let account_id = open_account(&server, dora).await;
    let photo = receipt_png(mercadona());
    let mut invoices = server.invoices(dora).await;

    let uploaded = upload_file(&mut invoices, file_request("ticket.png", "image/png", &photo)).await.expect("upload");
    let scanned =
        invoice_until(&mut invoices, &uploaded.invoice_id, Duration::from_secs(90), |i| !i.movement_id.is_empty())
            .await;
    assert_eq!(scanned.status(), InvoiceStatus::Scanned, "{scanned:?}");
    assert_eq!(scanned.total, "23.45", "{}", scanned.raw_text);
    assert_eq!(scanned.filename, "ticket.png");
    assert_eq!(scanned.size_bytes, photo.len() as u64);
    let linked_at = last_position(&server, dora, &format!("invoice-{}", uploaded.invoice_id)).await;
    let recorded = movement(&server, dora, &scanned.movement_id, Some(linked_at)).await;
    assert_eq!(recorded.account_id, account_id);
    assert_eq!((recorded.amount.as_str(), recorded.direction()), ("23.45", Direction::Expense), "{recorded:?}");

    // The same bytes again, by either path, are the same invoice.
    let again = upload_file(&mut invoices, file_request("again.png", "", &photo)).await.expect("again");
    assert_eq!(again.invoice_id, uploaded.invoice_id);
    let streamed =
        upload(&mut invoices, upload_parts("streamed.png", "image/png", None, &photo)).await.expect("stream");
    assert_eq!(streamed.invoice_id, uploaded.invoice_id);
    let listed = invoices
        .list_invoices(ListInvoicesRequest {
            page_size: 10,
            page_token: String::new(),
            min_position: Some(again.position),
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.invoices.len(), 1, "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pdf_with_a_text_layer_is_read_without_ocr_and_a_corrupt_image_fails_cleanly() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, ALL_ROLES);
    let bob = Uuid::now_v7();
    let account_id = open_account(&server, bob).await;
    let mut invoices = server.invoices(bob).await;

    // A PNG whose header is fine and whose pixels are garbage: accepted, then failed by OCR.
    let mut corrupt = receipt_png("^BROKEN")[..60].to_vec();
    corrupt.extend(std::iter::repeat_n(0xAB, 4000));
    let broken = upload(&mut invoices, upload_parts("broken.png", "image/png", None, &corrupt)).await.expect("upload");
    let pdf = receipts::pdf::with_text(
        "ACME SUPPLIES LTD\nInvoice 2026-0042\nDate: 2026-11-20\nWidgets 3 x 10.00  30.00\nSubtotal 30.00\nVAT 20% 6.00\nAMOUNT DUE EUR 36.00",
    );
    let read = upload(&mut invoices, upload_parts("invoice.pdf", "application/pdf", Some(account_id), &pdf))
        .await
        .expect("upload pdf");

    let failed = invoice_until(&mut invoices, &broken.invoice_id, Duration::from_secs(60), |i| {
        i.status() != InvoiceStatus::Uploaded
    })
    .await;
    assert_eq!(failed.status(), InvoiceStatus::Failed, "{failed:?}");
    assert!(!failed.failure_reason.is_empty());
    assert!(failed.movement_id.is_empty());
    // The bad file did not block the good one behind it.
    let scanned =
        invoice_until(&mut invoices, &read.invoice_id, Duration::from_secs(60), |i| !i.movement_id.is_empty()).await;
    assert_eq!(
        (scanned.total.as_str(), scanned.tax.as_str(), scanned.issued_on.as_str()),
        ("36.00", "6.00", "2026-11-20")
    );
    assert!(scanned.raw_text.contains("AMOUNT DUE"), "{}", scanned.raw_text);
}

/// A PNG that declares 30,000 × 30,000 pixels in a kilobyte.
fn bomb_bytes() -> Vec<u8> {
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bomb.extend(30_000u32.to_be_bytes());
    bomb.extend(30_000u32.to_be_bytes());
    bomb.extend([8, 0, 0, 0, 0]);
    bomb.extend(std::iter::repeat_n(0u8, 1000));
    bomb
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_uploads_get_clean_errors_and_leave_nothing_behind() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let carol = Uuid::now_v7();
    let mut invoices = server.invoices(carol).await;
    let png = receipt_png("^TINY");

    let empty = upload(&mut invoices, upload_parts("empty.png", "image/png", None, &[])).await.unwrap_err();
    assert_eq!(violated_field(&empty), "chunk");
    let mut huge = png.clone();
    huge.resize(11 * 1024 * 1024, 0);
    let too_big = upload(&mut invoices, upload_parts("huge.png", "image/png", None, &huge)).await.unwrap_err();
    assert_eq!(too_big.code(), Code::ResourceExhausted, "{too_big:?}");
    let lying = upload(&mut invoices, upload_parts("x.pdf", "application/pdf", None, &png)).await.unwrap_err();
    assert_eq!(violated_field(&lying), "content_type");
    let bomb = upload(&mut invoices, upload_parts("bomb.png", "", None, &bomb_bytes())).await.unwrap_err();
    assert_eq!(bomb.code(), Code::ResourceExhausted, "{bomb:?}");
    let text = upload(&mut invoices, upload_parts("notes.txt", "", None, b"just some text")).await.unwrap_err();
    assert_eq!(violated_field(&text), "chunk");
    let no_header = invoices
        .upload_invoice(tokio_stream::iter([UploadInvoiceRequest {
            part: Some(upload_invoice_request::Part::Chunk(png.clone())),
        }]))
        .await
        .unwrap_err();
    assert_eq!(violated_field(&no_header), "header");
    let mut parts = upload_parts("ticket.png", "image/png", Some(Uuid::now_v7().to_string()), &png);
    let missing_account = upload(&mut invoices, std::mem::take(&mut parts)).await.unwrap_err();
    assert_eq!(missing_account.code(), Code::NotFound, "{missing_account:?}");

    // The same refusals through the unary upload, the file's field named `content`.
    let empty = upload_file(&mut invoices, file_request("empty.png", "image/png", &[])).await.unwrap_err();
    assert_eq!(violated_field(&empty), "content");
    let text = upload_file(&mut invoices, file_request("notes.txt", "", b"just some text")).await.unwrap_err();
    assert_eq!(violated_field(&text), "content");
    let lying = upload_file(&mut invoices, file_request("x.pdf", "application/pdf", &png)).await.unwrap_err();
    assert_eq!(violated_field(&lying), "content_type");
    let mut no_id = file_request("ticket.png", "image/png", &png);
    no_id.command_id.clear();
    assert_eq!(violated_field(&upload_file(&mut invoices, no_id).await.unwrap_err()), "command_id");
    let mut bad_account = file_request("ticket.png", "image/png", &png);
    bad_account.account_id = Some("not-an-id".into());
    assert_eq!(violated_field(&upload_file(&mut invoices, bad_account).await.unwrap_err()), "account_id");
    // Just over the file limit (10 MiB) is the handler's refusal; far over it, the decoder's.
    for size in [10 * 1024 * 1024 + 1, 11 * 1024 * 1024] {
        let mut large = png.clone();
        large.resize(size, 0);
        let too_big = upload_file(&mut invoices, file_request("huge.png", "image/png", &large)).await.unwrap_err();
        assert_eq!(too_big.code(), Code::ResourceExhausted, "{size} bytes: {too_big:?}");
    }
    let bomb_file = upload_file(&mut invoices, file_request("bomb.png", "", &bomb_bytes())).await.unwrap_err();
    assert_eq!(bomb_file.code(), Code::ResourceExhausted, "{bomb_file:?}");

    // Nothing was stored: no event, no blob.
    let pool = namespace.pool().await;
    let events: i64 = sqlx::query("SELECT count(*) AS n FROM events").fetch_one(&pool).await.expect("count").get("n");
    assert_eq!(events, 0);
    let blobs = blob_files(&namespace.blobs);
    assert!(blobs.is_empty(), "orphan blobs: {blobs:?}");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ocr_worker_killed_mid_job_leaves_exactly_one_movement_per_invoice() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors,categoriser");
    let worker_env = [("CASHFLOW_OCR_THREADS", "1"), ("CASHFLOW_WORKER_ACK_WAIT_SECS", "2")];
    let mut ocr = Server::start_with(CASHFLOW, &namespace, "ocr", &worker_env);
    let dave = Uuid::now_v7();
    open_account(&server, dave).await;
    let mut invoices = server.invoices(dave).await;
    let pool = namespace.pool().await;

    let mut ids = Vec::new();
    for (i, shop) in ["MERCADONA S.A.", "LIDL SUPERMERCADOS", "CARREFOUR EXPRESS"].iter().enumerate() {
        let text = mercadona().replace("MERCADONA S.A.", shop).replace("23,45", &format!("2{i},45"));
        let uploaded = upload(&mut invoices, upload_parts("t.png", "image/png", None, &receipt_png(&text))).await;
        ids.push(uploaded.expect("upload").invoice_id);
    }
    // Kill the worker as soon as it has finished one job: the others are in its hands or queued.
    let scanned = || async {
        let n: i64 = sqlx::query("SELECT count(*) AS n FROM events WHERE event_type = 'InvoiceScanned'")
            .fetch_one(&pool)
            .await
            .expect("count")
            .get("n");
        n
    };
    let started = Instant::now();
    while scanned().await == 0 {
        assert!(started.elapsed() < Duration::from_secs(90), "no invoice was scanned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ocr.kill();
    let at_kill = scanned().await;
    assert!(at_kill < 3, "the kill interrupted nothing: all three were already scanned");
    ocr = Server::start_with(CASHFLOW, &namespace, "ocr", &worker_env);

    for id in &ids {
        invoice_until(&mut invoices, id, Duration::from_secs(120), |i| !i.movement_id.is_empty()).await;
    }
    let per_invoice: Vec<(String, i64)> = sqlx::query(
        "SELECT payload->>'source_ref' AS invoice, count(*) AS n FROM events
         WHERE event_type = 'MovementRecorded' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("movements")
    .iter()
    .map(|row| (row.get("invoice"), row.get("n")))
    .collect();
    let mut expected: Vec<(String, i64)> = ids.iter().map(|id| (id.clone(), 1)).collect();
    expected.sort();
    assert_eq!(per_invoice, expected, "exactly one movement per invoice");
    let scans: i64 = sqlx::query("SELECT count(*) AS n FROM events WHERE event_type = 'InvoiceScanned'")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(scans, 3);
    drop(ocr);
    pool.close().await;
}
