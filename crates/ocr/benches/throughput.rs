//! OCR throughput: seconds per receipt and receipts per minute with 1 and 2 engines, the
//! figures `BENCHMARKS.md` reports. Receipts are rendered here (fonts, sizes, a slight
//! rotation and noise), encoded as PNG and JPEG, then read by [`Ocr::read`] (decode,
//! preprocessing, tesseract) and [`cashflow_receipt::parse`], as the OCR worker does.
//!
//! `CASHFLOW_BENCH_RECEIPTS` (default 24) sets how many receipts each run reads.

#[path = "../tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use cashflow_domain::invoice::ContentKind;
use cashflow_ocr::{Ocr, OcrConfig};
use futures::StreamExt;
use std::time::Instant;
use support::{Encoding, Face, Look};

const RECEIPTS: [&str; 4] = [
    "^MERCADONA S.A.\n^C/ Mayor 12, Madrid\nFecha: 23/11/2026 18:42\nLECHE ENTERA 1L|1,15\nPAN DE MOLDE|1,85\n\
     TOMATE RAMA|2,40\nACEITE OLIVA 1L|8,95\nQUESO CURADO|9,10\nBASE IMPONIBLE|21,32\nIVA 10%|2,13\n\
     TOTAL A PAGAR|23,45 €\nEFECTIVO|50,00\nCAMBIO|26,55",
    "^THE BLUE DINER\n^221 Main St, Austin TX\nDate: 11/22/2026 7:15 PM\n2 Burger|25.00\n1 Caesar Salad|11.50\n\
     2 Iced Tea|9.00\nSubtotal|45.50\nTax 8.875%|4.04\nTip|8.00\nTOTAL|57.54\nVISA ****1234|57.54",
    "^REPSOL\n^E.S. AUTOVIA A-2 KM 34\n05-11-2026  09:31\nGASOLINA 95\nLITROS|35,42\nPRECIO/L|1,659\n\
     IMPORTE|58,76\nTOTAL|58,76 EUR\nTARJETA|58,76\nIVA 21% INCLUIDO|10,20",
    "^PRET A MANGER\n^12 Strand, London\n14 Nov 2026 08:12\nFlat white|3.25\nCroissant|2.10\nSubtotal|5.35\n\
     VAT 20%|0.89\nTOTAL|£5.35\nCARD|5.35",
];

fn kind(i: usize) -> ContentKind {
    if i.is_multiple_of(2) { ContentKind::Png } else { ContentKind::Jpeg }
}

fn receipts(count: usize) -> Vec<Bytes> {
    let faces = [Face::DejaVuSans, Face::LiberationSerif, Face::DejaVuSansMono];
    (0..count)
        .map(|i| {
            let look = Look {
                face: faces[i % faces.len()],
                px: 24.0 + (i % 3) as f32 * 3.0,
                width: 640 + (i % 4) as u32 * 60,
                rotation: [0.0, 0.8, -1.2, 1.5][i % 4],
                noise: [0, 6, 10][i % 3],
                blur: false,
            };
            let image = support::render(RECEIPTS[i % RECEIPTS.len()], look);
            let encoding = if kind(i) == ContentKind::Png { Encoding::Png } else { Encoding::Jpeg(85) };
            Bytes::from(support::encode(&image, encoding))
        })
        .collect()
}

fn main() {
    let count = std::env::var("CASHFLOW_BENCH_RECEIPTS").ok().and_then(|n| n.parse().ok()).unwrap_or(24);
    let inputs = receipts(count);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    println!("| engines | receipts | wall s | engine s per receipt | receipts per minute | totals read |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for threads in [1, 2] {
        let ocr = Ocr::new(OcrConfig { threads, ..OcrConfig::default() }).expect("OCR engines");
        runtime.block_on(async {
            // Start every engine (loading eng+spa) outside the timed run.
            let warm = futures::future::join_all((0..threads).map(|i| ocr.read(inputs[i].clone(), kind(i)))).await;
            assert!(warm.iter().all(Result::is_ok), "warm-up failed: {warm:?}");
            let started = Instant::now();
            let totals: Vec<bool> = futures::stream::iter(inputs.iter().enumerate())
                .map(|(i, bytes)| {
                    let ocr = ocr.clone();
                    async move {
                        let read = ocr.read(bytes.clone(), kind(i)).await.expect("read");
                        cashflow_receipt::parse(&read.text).total.is_some()
                    }
                })
                .buffer_unordered(threads * 2)
                .collect()
                .await;
            let wall = started.elapsed().as_secs_f64();
            let with_total = totals.iter().filter(|found| **found).count();
            println!(
                "| {threads} | {count} | {wall:.1} | {:.2} | {:.0} | {with_total}/{count} |",
                wall * threads as f64 / count as f64,
                count as f64 * 60.0 / wall,
            );
        });
    }
}
