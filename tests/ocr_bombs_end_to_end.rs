//! End to end: hostile invoices against the real binary, tesseract and poppler. Decompression
//! bombs are refused or read within bounds while the process stays up and small; a job that
//! kills the OCR process every time is given up after `max_deliver` deliveries and recorded as
//! failed instead of crash-looping the OCR role.

mod support;

#[path = "../crates/ocr/tests/support/mod.rs"]
mod hostile;

use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::*;
use std::time::{Duration, Instant};
use support::invoices::upload_parts;
use support::{Authed, CASHFLOW, Namespace, Server};
use tonic::Code;
use uuid::Uuid;

const GIB: u64 = 1 << 30;

async fn upload(
    invoices: &mut InvoiceServiceClient<Authed>,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<String, tonic::Status> {
    let parts = upload_parts(filename, content_type, None, bytes);
    support::invoices::upload(invoices, parts).await.map(|r| r.invoice_id)
}

async fn invoice(invoices: &mut InvoiceServiceClient<Authed>, invoice_id: &str) -> Option<Invoice> {
    let request = GetInvoiceRequest { invoice_id: invoice_id.into(), min_position: None };
    match invoices.get_invoice(request).await {
        Ok(response) => response.into_inner().invoice,
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => panic!("{status:?}"),
    }
}

/// Polls until the invoice has left UPLOADED, for at most `limit`.
async fn settled(invoices: &mut InvoiceServiceClient<Authed>, invoice_id: &str, limit: Duration) -> Invoice {
    let started = Instant::now();
    loop {
        match invoice(invoices, invoice_id).await {
            Some(invoice) if invoice.status() != InvoiceStatus::Uploaded => return invoice,
            other => assert!(started.elapsed() < limit, "the invoice never settled: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A `/proc/<pid>/status` field in KiB, e.g. `VmHWM` (peak RSS).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
}

/// Alive: running or sleeping, not a zombie waiting for its exit status to be read.
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| status.lines().any(|l| l.starts_with("State:") && !l.contains("zombie")))
}

/// The processes `pid` started that are still running (poppler's programs, for the OCR role).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|n| n.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ocr_bombs_are_refused_or_read_within_bounds_and_the_process_stays_under_a_gib() {
    let namespace = Namespace::new();
    // The API lets the PNG bomb through (its check allows 100 megapixels here), so that the OCR
    // role has to hold on its own: a file stored before the check existed, or a laxer API.
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api,relay,projectors,ocr",
        &[("CASHFLOW_MAX_UPLOAD_PIXELS", "100000000"), ("CASHFLOW_OCR_THREADS", "2")],
    );
    let person = Uuid::now_v7();
    let mut invoices = server.invoices(person).await;
    let png = hostile::png_bomb();
    assert!(png.len() < 2 << 20, "the PNG bomb is {} bytes", png.len());
    let png_invoice = upload(&mut invoices, "bomb.png", "image/png", &png).await.expect("upload the PNG bomb");
    let pdf_invoice = upload(&mut invoices, "bomb.pdf", "application/pdf", &hostile::pdf::cropped_to_an_inch())
        .await
        .expect("upload the PDF");

    let png_read = settled(&mut invoices, &png_invoice, Duration::from_secs(180)).await;
    let pdf_read = settled(&mut invoices, &pdf_invoice, Duration::from_secs(180)).await;
    let alive = is_alive(server.pid());
    let peak_kib = if alive { status_kib(server.pid(), "VmHWM") } else { 0 };
    eprintln!("peak RSS of `cashflow serve --roles api,relay,projectors,ocr` through both bombs: {peak_kib} KiB");
    eprintln!("PNG bomb: {:?} {:?}", png_read.status(), png_read.failure_reason);
    eprintln!("PDF bomb: {:?} {:?}", pdf_read.status(), pdf_read.failure_reason);
    assert!(alive, "the server died");
    assert!(peak_kib * 1024 < GIB, "peak RSS {peak_kib} KiB");
    // Refused from its header by the bytes it would decode to, not decoded.
    assert_eq!(png_read.status(), InvoiceStatus::Failed, "{png_read:?}");
    assert!(png_read.failure_reason.contains("bytes"), "{png_read:?}");
    // Rendered within its CropBox: an inch at 300 dpi, blank, so nothing to read.
    assert_eq!(pdf_read.status(), InvoiceStatus::Failed, "{pdf_read:?}");
    assert_eq!(pdf_read.failure_reason, "no text found", "{pdf_read:?}");

    // With the default limits the API refuses the PNG bomb at upload: 40 megapixels, at most
    // 4 bytes each.
    let strict = Server::start(CASHFLOW, &namespace, "api");
    let refused = upload(&mut strict.invoices(person).await, "bomb.png", "image/png", &png).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
}

/// Every delivery of the job is killed mid-way (SIGKILL of the OCR process while its poppler
/// child works), as an out-of-memory kill would. With `max_deliver` 3 the job is handled twice
/// and the third delivery records the failure instead of handling it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_kills_the_ocr_process_is_failed_after_max_deliver_deliveries() {
    const MAX_DELIVER: usize = 3;
    let namespace = Namespace::new();
    let api = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let person = Uuid::now_v7();
    let mut invoices = api.invoices(person).await;
    let invoice_id =
        upload(&mut invoices, "slow.pdf", "application/pdf", &hostile::pdf::slow(6)).await.expect("upload");
    let max_deliver = MAX_DELIVER.to_string();
    let ocr_env = [
        ("CASHFLOW_WORKER_ACK_WAIT_SECS", "2"),
        ("CASHFLOW_WORKER_MAX_DELIVER", max_deliver.as_str()),
        ("CASHFLOW_WORKER_RETRY_DELAY_MS", "200"),
        ("CASHFLOW_OCR_THREADS", "1"),
    ];

    let mut kills = 0;
    let failed = 'deliveries: loop {
        assert!(kills <= MAX_DELIVER, "killed {kills} times: every delivery is handled again, forever");
        let ocr = Server::start_with(CASHFLOW, &namespace, "ocr", &ocr_env);
        let started = Instant::now();
        for tick in 0u64.. {
            // Poppler at work (a child just forked still has its parent's name until it execs).
            let busy: Vec<u32> = children(ocr.pid())
                .into_iter()
                .filter(|child| {
                    std::fs::read_to_string(format!("/proc/{child}/comm")).is_ok_and(|name| name.starts_with("pdf"))
                })
                .collect();
            if !busy.is_empty() {
                // The server first, so it never sees its child die; then the orphans.
                ocr.kill();
                for child in busy {
                    let _ = std::process::Command::new("kill").args(["-KILL", &child.to_string()]).status();
                }
                kills += 1;
                continue 'deliveries;
            }
            // Children are looked for every 5 ms, the invoice (a rate-limited call) every 500.
            if tick % 100 == 99
                && let Some(invoice) = invoice(&mut invoices, &invoice_id).await
                && invoice.status() != InvoiceStatus::Uploaded
            {
                break 'deliveries invoice;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the job was neither handled nor given up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        unreachable!("the deliveries loop ends by a kill or a settled invoice");
    };
    eprintln!("killed {kills} times; then {:?}: {}", failed.status(), failed.failure_reason);
    assert_eq!(kills, MAX_DELIVER - 1, "deliveries handled before giving up");
    assert_eq!(failed.status(), InvoiceStatus::Failed, "{failed:?}");
    assert!(failed.failure_reason.contains(&format!("delivered {MAX_DELIVER} times")), "{failed:?}");
}
