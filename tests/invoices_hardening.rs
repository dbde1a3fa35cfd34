//! End to end: what a hostile client or a flaky database can do to invoices, closed — uploads
//! held in memory within a budget, originals never deleted on an unknown outcome, and a status
//! that says whether processing is settled.

mod support;

#[path = "../crates/ocr/tests/support/mod.rs"]
mod receipts;

use cashflow_app::input::{InvoiceFile, UploadInvoice};
use cashflow_app::{CommandContext, CommandHandler, InvoiceCommands, LedgerLookups, PortError, RuleCandidate};
use cashflow_blob::{BlobStore, ObjectStoreBlobs};
use cashflow_domain::invoice::FileName;
use cashflow_domain::rule::CompiledRule;
use cashflow_domain::{AccountId, CommandId, UserId};
use cashflow_eventstore::{AppendOutcome, AppendRequest, EventStore, PgEventStore, RecordedEvent, StoreError};
use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::*;
use cashflow_testkit::TestDatabase;
use receipts::{Encoding, Face, Look};
use sqlx::Row;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::invoices::blob_files;
use support::{Authed, CASHFLOW, Namespace, Server, command_id};
use tokio::sync::{Mutex, oneshot};
use tonic::Code;
use uuid::Uuid;

const MIB: usize = 1024 * 1024;

fn receipt_png(text: &str) -> Vec<u8> {
    let look = Look { face: Face::DejaVuSans, px: 30.0, width: 900, rotation: 0.6, noise: 8, blur: false };
    receipts::encode(&receipts::render(text, look), Encoding::Png)
}

fn mercadona() -> &'static str {
    "^MERCADONA S.A.\n^C/ Mayor 12, Madrid\n^CIF A-46103834\nFecha: 23/11/2026 18:42\n\n\
     LECHE ENTERA 1L|1,15\nPAN DE MOLDE|1,85\nTOMATE RAMA|2,40\nACEITE OLIVA 1L|8,95\nQUESO CURADO|9,10\n\n\
     BASE IMPONIBLE|21,32\nIVA 10%|2,13\nTOTAL A PAGAR|23,45 €\nEFECTIVO|50,00\nCAMBIO|26,55"
}

fn header(filename: &str) -> UploadInvoiceRequest {
    let header = UploadInvoiceHeader {
        command_id: command_id(),
        filename: filename.into(),
        content_type: String::new(),
        account_id: None,
    };
    UploadInvoiceRequest { part: Some(upload_invoice_request::Part::Header(header)) }
}

fn chunk(bytes: &[u8]) -> UploadInvoiceRequest {
    UploadInvoiceRequest { part: Some(upload_invoice_request::Part::Chunk(bytes.to_vec())) }
}

/// A PNG of `size` bytes, distinct for each `tag`: a real PNG header, then padding made as the
/// stream is sent, so the client never holds the whole file.
fn padded_png(png: Arc<Vec<u8>>, size: usize, tag: u64) -> impl futures::Stream<Item = UploadInvoiceRequest> + Send {
    const CHUNK: usize = 128 * 1024;
    let chunks = size.div_ceil(CHUNK);
    let parts = (0..chunks).map(move |i| {
        let start = i * CHUNK;
        let end = (start + CHUNK).min(size);
        let mut bytes = vec![0u8; end - start];
        for (offset, byte) in bytes.iter_mut().enumerate() {
            if let Some(b) = png.get(start + offset) {
                *byte = *b;
            }
        }
        if end == size {
            let n = bytes.len();
            bytes[n - 8..].copy_from_slice(&tag.to_be_bytes());
        }
        chunk(&bytes)
    });
    futures::stream::iter(std::iter::once(header("big.png")).chain(parts))
}

/// The process's peak resident set so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's /proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_large_uploads_from_one_person_past_the_cap_are_refused_and_memory_stays_bounded() {
    let namespace = Namespace::new();
    // Time enough for every upload to finish even when all are held at once (a debug build).
    let server = Server::start_with(CASHFLOW, &namespace, "api", &[("CASHFLOW_CALL_TIMEOUT_SECS", "300")]);
    let erin = Uuid::now_v7();
    let png = Arc::new(receipt_png("^BIG"));
    let before = peak_rss(server.pid());

    // 120 uploads of 9 MiB at once, from one person, over 8 connections.
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(server.invoices(erin).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..120u64 {
        let mut client = clients[i as usize % clients.len()].clone();
        let parts = padded_png(png.clone(), 9 * MIB, i);
        tasks.spawn(async move { client.upload_invoice(parts).await.map(|r| r.into_inner()) });
    }
    let (mut accepted, mut refused, mut other) = (0, 0, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("an upload task") {
            Ok(_) => accepted += 1,
            Err(status) if status.code() == Code::ResourceExhausted => refused += 1,
            Err(status) => other.push(status),
        }
    }
    let peak = peak_rss(server.pid());
    println!(
        "120 concurrent 9 MiB uploads: {accepted} accepted, {refused} refused, {} failed otherwise in {:?}; \
         server peak RSS {:.1} MiB (at start {:.1} MiB)",
        other.len(),
        started.elapsed(),
        peak as f64 / MIB as f64,
        before as f64 / MIB as f64
    );
    assert!(other.is_empty(), "uploads failed otherwise: {:?}", &other[..other.len().min(3)]);
    assert!(refused > 0, "every upload was held at once: {accepted} accepted");
    assert!(accepted > 0, "nothing was accepted");
    assert!(peak < 1024 * MIB as u64, "peak RSS {peak} bytes");

    // Slots and bytes come back when calls end: the same person uploads again.
    let mut invoices = server.invoices(erin).await;
    invoices.upload_invoice(padded_png(png.clone(), MIB, 1_000)).await.expect("an upload after the flood");
}

/// An upload whose stream the test holds open after sending `size` bytes.
async fn held_upload(
    client: &mut InvoiceServiceClient<Authed>,
    png: Arc<Vec<u8>>,
    size: usize,
    tag: u64,
) -> (
    tokio::sync::mpsc::Sender<UploadInvoiceRequest>,
    tokio::task::JoinHandle<Result<UploadInvoiceResponse, tonic::Status>>,
) {
    use futures::StreamExt;
    // A channel of one: each send returns once the transport took the previous part, so the
    // server has read all but a flow-control window of what was sent.
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let mut client = client.clone();
    let call = tokio::spawn(async move {
        client.upload_invoice(tokio_stream::wrappers::ReceiverStream::new(receiver)).await.map(|r| r.into_inner())
    });
    let mut parts = Box::pin(padded_png(png, size, tag));
    while let Some(part) = parts.next().await {
        if sender.send(part).await.is_err() {
            break;
        }
    }
    (sender, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_upload_caps_are_per_person_in_flight_and_process_wide_in_bytes() {
    let namespace = Namespace::new();
    let env = [("CASHFLOW_UPLOADS_PER_USER", "2"), ("CASHFLOW_UPLOAD_BUFFER_BYTES", &(24 * MIB).to_string())];
    let server = Server::start_with(CASHFLOW, &namespace, "api", &env);
    let png = Arc::new(receipt_png("^HELD"));
    let (frank, gina) = (Uuid::now_v7(), Uuid::now_v7());
    let mut franks = server.invoices(frank).await;
    let mut ginas = server.invoices(gina).await;

    // Frank holds two uploads open (1 MiB each, not finished): a third is refused at once.
    let (first, first_call) = held_upload(&mut franks, png.clone(), MIB, 1).await;
    let (second, second_call) = held_upload(&mut franks, png.clone(), MIB, 2).await;
    let third = franks.upload_invoice(padded_png(png.clone(), 1000, 3)).await.unwrap_err();
    assert_eq!(third.code(), Code::ResourceExhausted, "{third:?}");
    // Gina has slots of her own, but the process holds 2 MiB of Frank's of its 24: her 9 MiB
    // fits once, and a second 9 MiB beside it does not (its chunks and their joined copy would
    // take the process past 24 MiB).
    let (held, held_call) = held_upload(&mut ginas, png.clone(), 9 * MIB, 4).await;
    let over = ginas.upload_invoice(padded_png(png.clone(), 9 * MIB, 5)).await.unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");

    // Every held upload finishes; what they held comes back.
    for (sender, call) in [(first, first_call), (second, second_call), (held, held_call)] {
        drop(sender);
        call.await.expect("the upload task").expect("a held upload, finished");
    }
    ginas.upload_invoice(padded_png(png.clone(), 9 * MIB, 6)).await.expect("9 MiB once the budget is back");
    franks.upload_invoice(padded_png(png, 1000, 7)).await.expect("a slot once Frank's uploads ended");
}

/// The unary upload, in one message: a real PNG header padded to `size` bytes, ending in `tag`.
fn padded_file(png: &[u8], size: usize, tag: u64) -> UploadInvoiceFileRequest {
    let mut content = png.to_vec();
    content.resize(size, 0);
    content[size - 8..].copy_from_slice(&tag.to_be_bytes());
    UploadInvoiceFileRequest {
        command_id: command_id(),
        filename: "whole.png".into(),
        content_type: "image/png".into(),
        account_id: None,
        content,
    }
}

/// grpc-web has no client streaming, so `UploadInvoiceFile` carries the whole file in one
/// message, which the server decodes before a handler runs: its slot and bytes are taken first,
/// from the same budget as the streams'.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unary_upload_takes_its_slot_and_bytes_before_its_message_is_read() {
    let namespace = Namespace::new();
    let env = [("CASHFLOW_UPLOADS_PER_USER", "1"), ("CASHFLOW_UPLOAD_BUFFER_BYTES", &(16 * MIB).to_string())];
    let server = Server::start_with(CASHFLOW, &namespace, "api", &env);
    let png = Arc::new(receipt_png("^WHOLE"));
    let (hugo, iris, jack) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut hugos = server.invoices(hugo).await;
    let mut iriss = server.invoices(iris).await;
    let mut jacks = server.invoices(jack).await;

    // Hugo's one slot is held by a stream he keeps open: his unary upload is refused.
    let (hugos_stream, hugos_call) = held_upload(&mut hugos, png.clone(), MIB, 1).await;
    let refused = hugos.upload_invoice_file(padded_file(&png, 1000, 2)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("uploads at once"), "{refused:?}");
    // Iris holds 7 MiB more: 8 of the 16 MiB are taken, and Jack's 9 MiB in one message does
    // not fit beside them, though he has a slot of his own.
    let (iriss_stream, iriss_call) = held_upload(&mut iriss, png.clone(), 7 * MIB, 3).await;
    let full = jacks.upload_invoice_file(padded_file(&png, 9 * MIB, 4)).await.unwrap_err();
    assert_eq!(full.code(), Code::ResourceExhausted, "{full:?}");
    assert!(full.message().contains("bytes of uploads"), "{full:?}");

    // One at a time: a finished stream joins its chunks, holding its size twice for a moment.
    for (sender, call) in [(hugos_stream, hugos_call), (iriss_stream, iriss_call)] {
        drop(sender);
        call.await.expect("the upload task").expect("a held upload, finished");
    }
    // What the streams and the refused calls held came back.
    let jacks_file = jacks.upload_invoice_file(padded_file(&png, 9 * MIB, 4)).await.expect("9 MiB once there is room");
    hugos.upload_invoice_file(padded_file(&png, 1000, 2)).await.expect("Hugo's slot once his stream ended");
    // Twice the same bytes: the same invoice.
    let again = jacks.upload_invoice_file(padded_file(&png, 9 * MIB, 4)).await.expect("again").into_inner();
    assert_eq!(again.invoice_id, jacks_file.into_inner().invoice_id);
}

// --- Originals are deleted only after a definite refusal -------------------------------------

/// The ledger read model's answers, unused by uploads that name no account.
struct NoLedger;

#[async_trait::async_trait]
impl LedgerLookups for NoLedger {
    async fn account_ids(&self, _: UserId) -> Result<Vec<AccountId>, PortError> {
        Ok(vec![])
    }
    async fn compiled_rules(&self, _: UserId) -> Result<Vec<CompiledRule>, PortError> {
        Ok(vec![])
    }
    async fn rules_version(&self, _: UserId) -> Result<cashflow_app::RulesVersion, PortError> {
        Ok(cashflow_app::RulesVersion::default())
    }
    async fn rule_candidates(
        &self,
        _: UserId,
        _: Option<chrono::NaiveDate>,
        _: Option<chrono::NaiveDate>,
        _: Option<(chrono::NaiveDate, Uuid)>,
        _: u32,
    ) -> Result<Vec<RuleCandidate>, PortError> {
        Ok(vec![])
    }
}

/// PostgreSQL behind a connection that breaks: an append can commit and still answer
/// `Unavailable`, or answer it without committing after letting something else run first.
struct FlakyStore {
    inner: PgEventStore,
    /// The next append commits, then answers Unavailable.
    commit_then_fail: AtomicBool,
    /// The next append announces itself, waits to be let go, then answers Unavailable unwritten.
    pause_then_fail: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
    /// Looking up a command's outcome answers Unavailable.
    lookups_fail: AtomicBool,
}

#[async_trait::async_trait]
impl EventStore for FlakyStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if self.commit_then_fail.swap(false, Ordering::SeqCst) {
            self.inner.append(request).await?;
            return Err(StoreError::Unavailable("the connection broke before the answer".into()));
        }
        if let Some((arrived, go)) = self.pause_then_fail.lock().await.take() {
            let _ = arrived.send(());
            let _ = go.await;
            return Err(StoreError::Unavailable("the connection broke before the append".into()));
        }
        self.inner.append(request).await
    }
    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        if self.lookups_fail.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the database is gone".into()));
        }
        self.inner.find_command(owner, command_id).await
    }
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id).await
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn head(&self) -> Result<u64, StoreError> {
        self.inner.head().await
    }
    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.inner.wait_for_events(after, timeout).await
    }
}

/// A real event store and a real blob directory, seen through a flaky store and a healthy one.
struct Originals {
    _database: TestDatabase,
    _blobs: tempfile::TempDir,
    store: PgEventStore,
    flaky: Arc<FlakyStore>,
    blobs: Arc<dyn BlobStore>,
}

impl Originals {
    async fn new() -> Self {
        let database = TestDatabase::create().await;
        let pool = database.pool(4).await;
        PgEventStore::migrate(&pool).await.expect("migrate the event store");
        let dir = tempfile::tempdir().expect("a blob directory");
        let blobs: Arc<dyn BlobStore> = Arc::new(ObjectStoreBlobs::local(dir.path()).expect("blob store"));
        let flaky = Arc::new(FlakyStore {
            inner: PgEventStore::new(pool.clone()),
            commit_then_fail: AtomicBool::new(false),
            pause_then_fail: Mutex::new(None),
            lookups_fail: AtomicBool::new(false),
        });
        Self { _database: database, _blobs: dir, store: PgEventStore::new(pool), flaky, blobs }
    }

    fn commands(&self, store: Arc<dyn EventStore>) -> InvoiceCommands {
        InvoiceCommands::new(CommandHandler::new(store), self.blobs.clone(), Arc::new(NoLedger))
    }

    fn flaky(&self) -> InvoiceCommands {
        self.commands(self.flaky.clone())
    }

    fn healthy(&self) -> InvoiceCommands {
        self.commands(Arc::new(PgEventStore::new(self.store.pool().clone())))
    }
}

fn upload_of(owner: UserId, bytes: &[u8]) -> (CommandContext, UploadInvoice, InvoiceFile) {
    let command_id = CommandId::from_uuid(Uuid::now_v7());
    let input = UploadInvoice {
        command_id,
        filename: FileName::parse("filename", "ticket.png").unwrap(),
        declared: None,
        account_id: None,
    };
    let file = InvoiceFile::check(None, bytes.to_vec().into(), 40_000_000).expect("a valid file");
    (CommandContext::new(owner, command_id, None, None), input, file)
}

async fn original(
    commands: &InvoiceCommands,
    owner: UserId,
    invoice_id: cashflow_domain::InvoiceId,
) -> Option<Vec<u8>> {
    let invoice = commands.uploaded_invoice(owner, invoice_id).await.expect("the invoice");
    let key = cashflow_blob::BlobKey::parse(&invoice.blob_key).expect("a key");
    commands.blobs().get(&key).await.ok().map(|b| b.to_vec())
}

#[tokio::test(flavor = "current_thread")]
async fn an_append_that_committed_but_answered_unavailable_keeps_its_original() {
    let originals = Originals::new().await;
    let png = receipt_png("^COMMITTED");

    // The append commits; its answer is lost; the command's lookup finds it.
    let owner = UserId::new();
    originals.flaky.commit_then_fail.store(true, Ordering::SeqCst);
    let (ctx, input, file) = upload_of(owner, &png);
    let created = originals.flaky().upload_invoice(&ctx, input, file).await.expect("the upload, found committed");
    assert_eq!(original(&originals.healthy(), ctx.owner, created.id).await.map(|b| b == png), Some(true));

    // The append commits; its answer is lost, and so is the lookup: the outcome is unknown.
    let other = receipt_png("^UNKNOWN");
    originals.flaky.commit_then_fail.store(true, Ordering::SeqCst);
    originals.flaky.lookups_fail.store(true, Ordering::SeqCst);
    let (ctx, input, file) = upload_of(owner, &other);
    let unknown = originals.flaky().upload_invoice(&ctx, input.clone(), file.clone()).await.unwrap_err();
    assert!(unknown.is_transient(), "{unknown:?}");
    originals.flaky.lookups_fail.store(false, Ordering::SeqCst);
    let invoice_id = cashflow_app::handler::invoice_id_for(ctx.owner, &file.sha256);
    assert_eq!(
        original(&originals.healthy(), ctx.owner, invoice_id).await.map(|b| b == other),
        Some(true),
        "the invoice was stored; its original must be too"
    );
    // The client's retry gets the same invoice.
    let retried = originals.healthy().upload_invoice(&ctx, input, file).await.expect("the retry");
    assert_eq!(retried.id, invoice_id);
}

#[tokio::test(flavor = "current_thread")]
async fn a_second_upload_of_the_same_file_whose_append_fails_leaves_the_first_ones_original() {
    let originals = Originals::new().await;
    let png = receipt_png("^RACE");
    let (arrived, arrival) = oneshot::channel();
    let (go, wait) = oneshot::channel();
    *originals.flaky.pause_then_fail.lock().await = Some((arrived, wait));

    // The second upload found no invoice, stored the file and is about to append when the
    // first one, the same file, completes; then the second's append fails.
    let owner = UserId::new();
    let (ctx, input, file) = upload_of(owner, &png);
    let flaky = originals.flaky();
    let second = tokio::spawn(async move { flaky.upload_invoice(&ctx, input, file).await });
    arrival.await.expect("the second upload reached its append");
    let (ctx, input, file) = upload_of(owner, &png);
    let first = originals.healthy().upload_invoice(&ctx, input, file).await.expect("the first upload");
    go.send(()).expect("let the second go");
    let failed = second.await.expect("the task").unwrap_err();
    assert!(failed.is_transient(), "{failed:?}");

    assert_eq!(
        original(&originals.healthy(), ctx.owner, first.id).await.map(|b| b == png),
        Some(true),
        "the first upload's original is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_whose_file_went_missing_gets_it_back_on_re_upload() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api");
    let hugo = Uuid::now_v7();
    let mut invoices = server.invoices(hugo).await;
    let png = receipt_png("^LOST");
    let upload = |bytes: Vec<u8>| {
        let parts = vec![header("lost.png"), chunk(&bytes)];
        let mut invoices = invoices.clone();
        async move { invoices.upload_invoice(tokio_stream::iter(parts)).await.map(|r| r.into_inner()) }
    };
    let first = upload(png.clone()).await.expect("upload");
    let files = blob_files(&namespace.blobs);
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::remove_file(&files[0]).expect("lose the file");

    let again = upload(png.clone()).await.expect("upload again");
    assert_eq!(again.invoice_id, first.invoice_id);
    let mut download = invoices
        .download_invoice(DownloadInvoiceRequest { invoice_id: first.invoice_id.clone() })
        .await
        .expect("download")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = download.message().await.expect("a chunk") {
        bytes.extend(chunk.chunk);
    }
    assert!(bytes == png, "{} bytes came back of {}", bytes.len(), png.len());
}

// --- Invoice processing is observable --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_client_sees_uploaded_until_the_movement_is_linked_then_scanned_with_it() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors,ocr");
    let ivan = Uuid::now_v7();
    let mut ledger = server.ledger(ivan).await;
    let opened = support::open_account(&mut ledger, "Everyday").await;
    // The OCR worker finds the default account in the ledger read model: wait until it is there.
    let mut query = server.query(ivan).await;
    query
        .get_balances(GetBalancesRequest { min_position: Some(opened.position), as_of: None })
        .await
        .expect("balances");

    // Hold the worker between the reading and the movement: the accounts table is locked, so
    // its lookup of the default account waits.
    let pool = namespace.pool().await;
    let mut lock = pool.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE ledger_accounts IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.expect("lock");

    let mut invoices = server.invoices(ivan).await;
    let photo = receipt_png(mercadona());
    let parts = vec![header("ticket.png"), chunk(&photo)];
    let uploaded = invoices.upload_invoice(tokio_stream::iter(parts)).await.expect("upload").into_inner();
    let mut seen = Vec::new();
    let observe = |seen: &mut Vec<(InvoiceStatus, bool)>, invoice: &Invoice| {
        let observed = (invoice.status(), !invoice.movement_id.is_empty());
        if seen.last() != Some(&observed) {
            seen.push(observed);
        }
    };
    let get = |mut invoices: InvoiceServiceClient<Authed>, id: String| async move {
        let request = GetInvoiceRequest { invoice_id: id, min_position: None };
        invoices.get_invoice(request).await.expect("get invoice").into_inner().invoice.expect("an invoice")
    };

    // The reading is in the read model; the movement is still to come.
    let started = Instant::now();
    loop {
        let read: Option<String> = sqlx::query("SELECT raw_text FROM invoices WHERE id = $1::uuid")
            .bind(&uploaded.invoice_id)
            .fetch_optional(&pool)
            .await
            .expect("the invoices row")
            .and_then(|row| row.get("raw_text"));
        if read.is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the invoice was never read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..10 {
        let invoice = get(invoices.clone(), uploaded.invoice_id.clone()).await;
        observe(&mut seen, &invoice);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, [(InvoiceStatus::Uploaded, false)], "read, movement to come");

    lock.rollback().await.expect("unlock");
    let started = Instant::now();
    let settled = loop {
        let invoice = get(invoices.clone(), uploaded.invoice_id.clone()).await;
        observe(&mut seen, &invoice);
        if invoice.status() != InvoiceStatus::Uploaded {
            break invoice;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never settled: {invoice:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(settled.status(), InvoiceStatus::Scanned, "{settled:?}");
    assert!(!settled.movement_id.is_empty(), "a confident receipt settles with its movement: {settled:?}");
    assert_eq!(seen, [(InvoiceStatus::Uploaded, false), (InvoiceStatus::Scanned, true)]);
    pool.close().await;
}
