//! End to end: hostile invoices against the real binary, tesseract and poppler. Decompression
//! bombs are refused or read within bounds while the process stays up and small; a job that
//! kills the OCR process every time is given up after `max_deliver` deliveries and recorded as
//! failed instead of crash-looping the OCR role.

mod support;

use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::*;
use std::time::{Duration, Instant};
use support::{Authed, CASHFLOW, Namespace, Server, command_id};
use tonic::Code;
use uuid::Uuid;

const GIB: u64 = 1 << 30;

/// A PNG of 6000×6600 16-bit RGBA pixels, all transparent: ~300 KB that decodes to 317 MB (and to
/// ~0.5 GB on its way to gray). All zeros, so the buffer is never touched before encoding.
fn png_bomb() -> Vec<u8> {
    use image::ImageEncoder;
    let (width, height) = (6000u32, 6600u32);
    let pixels = vec![0u8; width as usize * height as usize * 8];
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    )
    .write_image(&pixels, width, height, image::ExtendedColorType::Rgba16)
    .expect("encode the PNG bomb");
    png
}

/// Objects numbered from 1 in order; object 1 is the catalog.
fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(object);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

fn stream(dictionary: &str, data: &str) -> Vec<u8> {
    format!("<< {dictionary} /Length {} >>\nstream\n{data}\nendstream", data.len()).into_bytes()
}

/// One page whose CropBox is an inch and whose MediaBox is 10,000 points square, no text layer:
/// pdfinfo reports the inch, and pdftoppm without `-cropbox` draws 41,667² pixels (1.7 GB).
fn pdf_bomb() -> Vec<u8> {
    pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10000 10000] /CropBox [0 0 72 72] /Contents 4 0 R >>".to_vec(),
        stream("", "0 0 1 rg 10 10 50 50 re f"),
    ])
}

/// A letter page, no text layer, that draws one Form XObject 10⁵ times through six nested forms:
/// poppler spends seconds on it, so the OCR process is caught with a poppler child at work.
fn slow_pdf() -> Vec<u8> {
    const LEVELS: usize = 6;
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /F 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
        stream("", "/F Do"),
    ];
    for level in 0..LEVELS {
        let form = "/Type /XObject /Subtype /Form /BBox [0 0 612 792]";
        objects.push(if level + 1 < LEVELS {
            let next = 5 + level + 1;
            stream(&format!("{form} /Resources << /XObject << /F {next} 0 R >> >>"), &["/F Do"; 10].join(" "))
        } else {
            stream(form, "0 g 1 1 2 2 re f")
        });
    }
    pdf(&objects)
}

fn upload_parts(filename: &str, content_type: &str, bytes: &[u8]) -> Vec<UploadInvoiceRequest> {
    use upload_invoice_request::Part;
    let header = UploadInvoiceHeader {
        command_id: command_id(),
        filename: filename.into(),
        content_type: content_type.into(),
        account_id: None,
    };
    let mut parts = vec![UploadInvoiceRequest { part: Some(Part::Header(header)) }];
    parts
        .extend(bytes.chunks(100 * 1024).map(|chunk| UploadInvoiceRequest { part: Some(Part::Chunk(chunk.to_vec())) }));
    parts
}

async fn upload(
    invoices: &mut InvoiceServiceClient<Authed>,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<String, tonic::Status> {
    let parts = upload_parts(filename, content_type, bytes);
    invoices.upload_invoice(tokio_stream::iter(parts)).await.map(|r| r.into_inner().invoice_id)
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
    let png = png_bomb();
    assert!(png.len() < 2 << 20, "the PNG bomb is {} bytes", png.len());
    let png_invoice = upload(&mut invoices, "bomb.png", "image/png", &png).await.expect("upload the PNG bomb");
    let pdf_invoice = upload(&mut invoices, "bomb.pdf", "application/pdf", &pdf_bomb()).await.expect("upload the PDF");

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
    let invoice_id = upload(&mut invoices, "slow.pdf", "application/pdf", &slow_pdf()).await.expect("upload");
    let ocr_env = [
        ("CASHFLOW_WORKER_ACK_WAIT_SECS", "2"),
        ("CASHFLOW_WORKER_MAX_DELIVER", "3"),
        ("CASHFLOW_WORKER_RETRY_DELAY_MS", "200"),
        ("CASHFLOW_OCR_THREADS", "1"),
    ];
    let max_deliver = MAX_DELIVER.to_string();
    assert_eq!(ocr_env[1].1, max_deliver);

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
    assert!(failed.failure_reason.contains("delivered 3 times"), "{failed:?}");
}
