//! End-to-end accuracy on receipts generated at test time: rendered in several fonts, sizes,
//! noise and small rotations, stored as every image kind and as PDFs, read by real tesseract and
//! poppler, understood by `cashflow_receipt::parse`. Prints a table (`--nocapture`).
//!
//! `OCR_STEPS` (a comma list of `scale`, `deskew`, `binarise`, or `none`) and `OCR_PSM` (3, 4, 6
//! or 11) override the defaults, to measure what each step is worth; `OCR_THREADS` sets the pool
//! size (receipts are read that many at a time).

mod support;

use std::time::Instant;

use bytes::Bytes;
use cashflow_domain::invoice::ContentKind;
use cashflow_ocr::{Ocr, OcrConfig, Preprocessing, Segmentation, TesseractEngine};
use chrono::NaiveDate;
use futures::StreamExt;
use rust_decimal::Decimal;
use support::{Encoding, Face, Look};

/// How a case reaches the reader.
#[derive(Debug, Clone, Copy)]
enum Form {
    Image(Encoding),
    /// Rendered, stored as a JPEG inside a PDF with no text layer.
    ScannedPdf,
    /// Written as PDF text in Helvetica; the look is unused.
    TextPdf,
}

struct Case {
    name: &'static str,
    text: &'static str,
    /// The total as printed, and its value.
    total: (&'static str, &'static str),
    /// The date as printed, and its value.
    date: (&'static str, (i32, u32, u32)),
    look: Look,
    form: Form,
}

const fn look(face: Face, px: f32, width: u32) -> Look {
    Look { face, px, width, rotation: 0.0, noise: 0, blur: false }
}

const fn rough(look: Look, rotation: f32, noise: u8, blur: bool) -> Look {
    Look { rotation, noise, blur, ..look }
}

fn cases() -> Vec<Case> {
    use Encoding::*;
    use Face::*;
    use Form::*;
    vec![
        Case {
            name: "es supermercado",
            text: "^MERCADONA S.A.\n^C/ Mayor 12, 28013 Madrid\n^NIF A-46103834\nFACTURA SIMPLIFICADA\n\
                   Fecha: 14/03/2024   Hora: 18:42\nLECHE ENTERA 1L|0,89\nPAN BARRA|0,65\nTOMATES 1,250 kg|2,48\n\
                   ACEITE OLIVA 1L|8,95\nTOTAL (€)|12,97\nEFECTIVO|20,00\nCAMBIO|7,03\nIVA 10%  BASE 11,79  CUOTA 1,18",
            total: ("12,97", "12.97"),
            date: ("14/03/2024", (2024, 3, 14)),
            look: look(DejaVuSansMono, 24.0, 600),
            form: Image(Png),
        },
        Case {
            name: "us restaurant with tip",
            text: "^THE BLUE DINER\n^221 Main St, Austin TX\nServer: Kim   Table 12\nDate: 03/22/2024 7:15 PM\n\
                   2 Burger|25.00\n1 Caesar Salad|11.50\n2 Iced Tea|9.00\nSubtotal|45.50\nTax 8.875%|4.04\n\
                   Tip|8.00\nTOTAL|57.54\nVISA ****1234|57.54\n^Thank you!",
            total: ("57.54", "57.54"),
            date: ("03/22/2024", (2024, 3, 22)),
            look: look(DejaVuSans, 26.0, 700),
            form: Image(Jpeg(85)),
        },
        Case {
            name: "es gasolinera",
            text: "^REPSOL\n^E.S. AUTOVIA A-2 KM 34\n^CIF B12345678\n05-02-2024  09:31\nSURTIDOR 4  GASOLINA 95\n\
                   LITROS|35,42\nPRECIO/L|1,659\nIMPORTE|58,76\nTOTAL|58,76 EUR\nTARJETA|58,76\nIVA 21% INCLUIDO|10,20",
            total: ("58,76", "58.76"),
            date: ("05-02-2024", (2024, 2, 5)),
            look: rough(look(LiberationMono, 22.0, 560), 1.5, 10, false),
            form: Image(Png),
        },
        Case {
            name: "es farmacia",
            text: "^FARMACIA LDA. GARCIA LOPEZ\n^Avda. de la Paz 7, Sevilla\nFecha 09/01/2024 11:02\n\
                   IBUPROFENO 600MG|2,97\nPARACETAMOL 1G|1,45\nCREMA SOLAR 50+|18,68\nTOTAL A PAGAR|23,10\n\
                   ENTREGADO|25,00\nCAMBIO|1,90\nIVA 4% 0,17  IVA 21% 3,24",
            total: ("23,10", "23.10"),
            date: ("09/01/2024", (2024, 1, 9)),
            look: look(LiberationSans, 28.0, 720),
            form: Image(Webp),
        },
        Case {
            name: "es taxi",
            text: "^RADIO TAXI MADRID\n^LICENCIA 12345\nMATRICULA 1234-KLM\nFECHA: 12/04/2024\nINICIO 22:05  FIN 22:31\n\
                   TARIFA 2\nKM RECORRIDOS|9,8\nSUPLEMENTO AEROPUERTO|5,50\nIMPORTE:|18,50 €\nIVA 10% INCLUIDO",
            total: ("18,50", "18.50"),
            date: ("12/04/2024", (2024, 4, 12)),
            look: rough(look(DejaVuSansMono, 22.0, 520), -2.0, 0, false),
            form: Image(Tiff),
        },
        Case {
            name: "es hotel factura",
            text: "^HOTEL PLAZA MAYOR\n^Plaza Mayor 3, 37002 Salamanca\nFACTURA N. F-2024/0731\n\
                   Fecha factura: 21/06/2024\nCliente: Ana Ruiz\nAlojamiento 2 noches|200,00\nDesayunos|24,00\n\
                   Base imponible|224,00\nIVA 10%|22,40\nTOTAL|246,40 €\nForma de pago: tarjeta",
            total: ("246,40", "246.40"),
            date: ("21/06/2024", (2024, 6, 21)),
            look: look(DejaVuSerif, 26.0, 800),
            form: Image(Png),
        },
        Case {
            name: "uk cafe with VAT",
            text: "^Pret A Manger\n^12 High Street, London\nVAT No. GB 123 4567 89\n07/08/2024 08:14\n\
                   Flat White|3.20\nCroissant|2.45\nPorridge|2.20\nTotal|£7.85\nCard|£7.85\n\
                   VAT 20% incl.|1.31\n^Thank you",
            total: ("7.85", "7.85"),
            date: ("07/08/2024", (2024, 8, 7)),
            look: rough(look(LiberationSans, 24.0, 600), 0.0, 12, true),
            form: Image(Jpeg(80)),
        },
        Case {
            name: "us store with sales tax",
            text: "^WALMART SUPERCENTER\n^ST# 1234  OP# 00077\n11/27/2023 14:22:09\nGREAT VALUE MILK|3.48\n\
                   BANANAS 2.1 LB|1.21\nPAPER TOWELS|12.97\nLAUNDRY DET|18.81\nSUBTOTAL|36.47\n\
                   TAX 1 7.250 %|2.64\nTOTAL|39.11\nCASH TEND|50.00\nCHANGE DUE|10.89",
            total: ("39.11", "39.11"),
            date: ("11/27/2023", (2023, 11, 27)),
            look: look(FreeMono, 26.0, 640),
            form: Image(Png),
        },
        Case {
            name: "es factura total a pagar",
            text: "^INSTALACIONES ELECTRICAS NORTE S.L.\n^CIF B87654321 - Bilbao\nFACTURA Nº 2024-0153\n\
                   Fecha: 03/05/2024\nMano de obra 10 h|450,00\nMaterial electrico|800,00\nSubtotal|1.250,00\n\
                   IVA 21%|262,50\nTOTAL A PAGAR|1.512,50 €\nVencimiento: 02/06/2024",
            total: ("1.512,50", "1512.50"),
            date: ("03/05/2024", (2024, 5, 3)),
            look: look(LiberationSerif, 26.0, 900),
            form: Image(Png),
        },
        Case {
            name: "en invoice amount due",
            text: "^ACME CONSULTING LLC\n^500 Market St, San Francisco CA\nINVOICE #1042\nInvoice date: 2024-03-05\n\
                   Due date: 2024-04-04\nStrategy workshop|900.00\nReport|300.00\nSubtotal|1,200.00\nTax 8%|96.00\n\
                   AMOUNT DUE|$1,296.00",
            total: ("1,296.00", "1296.00"),
            date: ("2024-03-05", (2024, 3, 5)),
            look: look(DejaVuSans, 24.0, 820),
            form: Image(Webp),
        },
        Case {
            name: "es cambio mayor que el total",
            text: "^PANADERIA LA ESPIGA\n^C/ Real 4, Toledo\n17/09/2024 08:03\n2 BARRA PAN|1,80\n1 CROISSANT|1,25\n\
                   1 CAFE|1,30\nTOTAL|4,35\nENTREGADO|50,00\nCAMBIO|45,65",
            total: ("4,35", "4.35"),
            date: ("17/09/2024", (2024, 9, 17)),
            look: rough(look(DejaVuSansMono, 24.0, 560), 1.0, 8, false),
            form: Image(Jpeg(90)),
        },
        Case {
            name: "en change larger than total",
            text: "^CORNER NEWS\n^88 Queen St, Toronto\nDate 2024/06/30 12:10\nNewspaper|2.50\nGum|1.25\nTOTAL|3.75\n\
                   CASH|20.00\nCHANGE|16.25",
            total: ("3.75", "3.75"),
            date: ("2024/06/30", (2024, 6, 30)),
            look: look(LiberationMono, 26.0, 560),
            form: Image(Png),
        },
        Case {
            name: "es bar",
            text: "^BAR EL RINCON\n^C/ Sol 9, Valencia\nMesa 4   15.03.24 10:22\nCafe con leche|1,50\nTostada tomate|2,20\n\
                   Zumo naranja|2,80\nTotal:|6,50\nIVA incluido",
            total: ("6,50", "6.50"),
            date: ("15.03.24", (2024, 3, 15)),
            look: look(FreeSans, 28.0, 600),
            form: Image(Png),
        },
        Case {
            name: "uk supermarket balance due",
            text: "^TESCO\n^Store 2345 Leeds\nMILK 2PT|1.45\nBREAD|1.10\nCHICKEN BREAST|4.50\nAPPLES|2.00\nWINE|8.40\n\
                   CHEESE|6.00\nBALANCE DUE|23.45\nVISA|23.45\n02/09/2024 17:55",
            total: ("23.45", "23.45"),
            date: ("02/09/2024", (2024, 9, 2)),
            look: rough(look(DejaVuSans, 22.0, 520), -1.2, 10, false),
            form: Image(Png),
        },
        Case {
            name: "us pharmacy",
            text: "^CVS pharmacy\n^1200 Broadway, New York NY\n2024-02-29 09:40\nVITAMIN D3|9.99\nBAND AIDS|4.79\n\
                   SUBTOTAL|14.78\nSALES TAX|1.31\nTOTAL|$16.09\nDEBIT|$16.09",
            total: ("16.09", "16.09"),
            date: ("2024-02-29", (2024, 2, 29)),
            look: look(LiberationSans, 30.0, 820),
            form: Image(Tiff),
        },
        Case {
            name: "us taxi",
            text: "^YELLOW CAB CO\n^Medallion 5J22\nDate: 04/15/2024\nPick up 18:02  Drop 18:30\nFare|24.50\nTolls|6.12\n\
                   Tip|5.00\nTotal|$35.62\nPaid by card",
            total: ("35.62", "35.62"),
            date: ("04/15/2024", (2024, 4, 15)),
            look: rough(look(DejaVuSerif, 24.0, 600), 2.5, 0, false),
            form: Image(Png),
        },
        Case {
            name: "en hotel",
            text: "^GRAND HOTEL CENTRAL\n^1 Station Road, Bath\nInvoice 88213\nCheck-out: 18 Jul 2024\n\
                   Room 3 nights|450.00\nCity tax|15.00\nBar|22.50\nTotal|£487.50\nPaid|£487.50",
            total: ("487.50", "487.50"),
            date: ("18 Jul 2024", (2024, 7, 18)),
            look: look(LiberationSerif, 28.0, 760),
            form: Image(Jpeg(85)),
        },
        Case {
            name: "es hipermercado",
            text: "^CARREFOUR\n^C.C. La Vaguada, Madrid\n28/02/2024 10:15\nYOGUR NATURAL X8|2,35\nDETERGENTE|9,99\n\
                   POLLO ENTERO|7,45\nARROZ 1KG|1,39\nAGUA 6X1,5L|3,12\nVINO TINTO|4,99\nCAFE MOLIDO|3,49\n\
                   TOTAL COMPRA|32,78\nTARJETA|32,78\nAHORRO CLUB|1,20",
            total: ("32,78", "32.78"),
            date: ("28/02/2024", (2024, 2, 28)),
            look: rough(look(FreeMono, 22.0, 560), 0.0, 14, true),
            form: Image(Png),
        },
        Case {
            name: "es restaurante con propina",
            text: "^RESTAURANTE CASA PEPE\n^Gran Via 20, Madrid\nFecha: 22/11/2024\nMesa 7  Comensales 2\n\
                   Menu del dia x2|28,00\nVino de la casa|4,00\nSUBTOTAL|32,00\nPropina|2,00\nTOTAL|34,00\nIVA 10% incluido",
            total: ("34,00", "34.00"),
            date: ("22/11/2024", (2024, 11, 22)),
            look: look(DejaVuSans, 30.0, 780),
            form: Image(Webp),
        },
        Case {
            name: "es aparcamiento",
            text: "^APARCAMIENTO PLAZA ESPANA\n^Zaragoza\nFecha 07/10/2024\nEntrada 09:12  Salida 11:40\n\
                   Tiempo 2h 28m\nIMPORTE|4,80 €\nIVA 21% incluido|0,83",
            total: ("4,80", "4.80"),
            date: ("07/10/2024", (2024, 10, 7)),
            look: rough(look(LiberationMono, 24.0, 560), -2.8, 6, false),
            form: Image(Jpeg(80)),
        },
        Case {
            name: "uk fuel",
            text: "^SHELL FORECOURT\n^A34 Oxford\n23/01/2024 07:48\nPump 6 Unleaded\n42.31 L @ 145.9p|61.73\n\
                   TOTAL|£61.73\nVAT 20%|10.29\nCard: Mastercard",
            total: ("61.73", "61.73"),
            date: ("23/01/2024", (2024, 1, 23)),
            look: look(FreeSans, 26.0, 620),
            form: Image(Png),
        },
        Case {
            name: "ca subtotal gst pst total",
            text: "^MAPLE HARDWARE\n^Vancouver BC\n2024-06-14 16:20\nHammer|15.00\nNails 1lb|5.00\nSubtotal|20.00\n\
                   GST 5%|1.00\nPST 7%|1.40\nTotal|22.40\nVisa|22.40",
            total: ("22.40", "22.40"),
            date: ("2024-06-14", (2024, 6, 14)),
            look: look(DejaVuSansMono, 28.0, 640),
            form: Image(Tiff),
        },
        Case {
            name: "es ferreteria",
            text: "^FERRETERIA HERMANOS DIAZ\n^Pol. Ind. Sur, Murcia\nTicket 004512  Fecha 30-09-2023\n\
                   Tornillos 4x40 (100)|3,95\nTaladro percutor|79,90\nBrocas set|14,50\nCinta americana|4,25\n\
                   Guantes|3,99\nBase|88,05\nIVA 21%|18,49\nTOTAL|106,54\nTarjeta|106,54",
            total: ("106,54", "106.54"),
            date: ("30-09-2023", (2023, 9, 30)),
            look: rough(look(DejaVuSerif, 24.0, 700), 1.8, 8, false),
            form: Image(Png),
        },
        Case {
            name: "en bookstore",
            text: "^CITY LIGHTS BOOKS\n^261 Columbus Ave\nDec 24, 2023  15:03\nPaperback fiction|17.99\nNotebook|9.99\n\
                   Subtotal|27.98\nTax|2.45\nTotal|30.43\nCash|40.00\nChange|9.57",
            total: ("30.43", "30.43"),
            date: ("Dec 24, 2023", (2023, 12, 24)),
            look: rough(look(LiberationSans, 22.0, 540), 0.0, 10, false),
            form: Image(Jpeg(75)),
        },
        Case {
            name: "es ticket small text",
            text: "^FRUTERIA LOLI\n^Mercado Central, puesto 14\n02/12/2024 09:50\nNaranjas 2 kg|3,20\nPlatanos|1,85\n\
                   Lechuga|0,90\nTOTAL|5,95\nEfectivo|10,00\nCambio|4,05",
            total: ("5,95", "5.95"),
            date: ("02/12/2024", (2024, 12, 2)),
            look: look(LiberationSans, 13.0, 300),
            form: Image(Png),
        },
        Case {
            name: "en receipt small text",
            text: "^QUICK MART\n^Route 9, Albany NY\n10/19/2024 06:12\nCoffee lg|2.49\nDonut|1.29\nWater|1.79\n\
                   Subtotal|5.57\nTax|0.45\nTotal|6.02",
            total: ("6.02", "6.02"),
            date: ("10/19/2024", (2024, 10, 19)),
            look: rough(look(DejaVuSans, 15.0, 320), 0.0, 6, false),
            form: Image(Jpeg(85)),
        },
        Case {
            name: "es photo large text",
            text: "^ZAPATERIA PASOS\n^C/ Larios 5, Malaga\n25/07/2024 18:20\nZapatillas running|64,95\nCalcetines|6,00\n\
                   TOTAL|70,95\nTarjeta|70,95",
            total: ("70,95", "70.95"),
            date: ("25/07/2024", (2024, 7, 25)),
            look: rough(look(FreeSans, 64.0, 1600), -1.0, 10, true),
            form: Image(Jpeg(85)),
        },
        Case {
            name: "pdf es factura (text layer)",
            text: "ASESORIA FISCAL MARTIN S.L.\nCIF B11223344 - Granada\nFACTURA 2024/118\nFecha: 11/03/2024\n\
                   Asesoria trimestral|300,00\nIVA 21%|63,00\nRetencion IRPF 15%|-45,00\nTOTAL A PAGAR|318,00 €",
            total: ("318,00", "318.00"),
            date: ("11/03/2024", (2024, 3, 11)),
            look: look(DejaVuSans, 0.0, 0),
            form: TextPdf,
        },
        Case {
            name: "pdf en invoice (text layer)",
            text: "NORTHWIND HOSTING INC.\nInvoice INV-20931\nDate: 2024-05-01\nVPS plan (May)|40.00\nBackups|8.00\n\
                   Subtotal|48.00\nTax|3.84\nAmount due|$51.84",
            total: ("51.84", "51.84"),
            date: ("2024-05-01", (2024, 5, 1)),
            look: look(DejaVuSans, 0.0, 0),
            form: TextPdf,
        },
        Case {
            name: "pdf es ticket (scanned)",
            text: "^LIBRERIA CERVANTES\n^C/ Ancha 2, Leon\n19/04/2024 13:37\nNovela|19,90\nCuaderno A4|3,50\n\
                   TOTAL|23,40\nTARJETA|23,40\nIVA 4% 0,77  IVA 21% 0,61",
            total: ("23,40", "23.40"),
            date: ("19/04/2024", (2024, 4, 19)),
            look: rough(look(DejaVuSans, 26.0, 640), 0.8, 6, false),
            form: ScannedPdf,
        },
        Case {
            name: "pdf en receipt (scanned)",
            text: "^HARBOR SEAFOOD\n^Pier 39, San Francisco\n08/17/2024 20:45\nClam chowder|9.50\nFish & chips|18.00\n\
                   Soda|3.00\nSubtotal|30.50\nTax|2.63\nTip|5.50\nTotal|38.63",
            total: ("38.63", "38.63"),
            date: ("08/17/2024", (2024, 8, 17)),
            look: look(LiberationSerif, 26.0, 640),
            form: ScannedPdf,
        },
    ]
}

fn bytes_of(case: &Case) -> (Bytes, ContentKind) {
    match case.form {
        Form::Image(encoding) => {
            (Bytes::from(support::encode(&support::render(case.text, case.look), encoding)), encoding.kind())
        }
        Form::ScannedPdf => {
            let image = support::render(case.text, case.look);
            let jpeg = support::encode(&image, Encoding::Jpeg(85));
            (Bytes::from(support::pdf::with_jpeg(&jpeg, image.width(), image.height(), 200)), ContentKind::Pdf)
        }
        Form::TextPdf => (Bytes::from(support::pdf::with_text(case.text)), ContentKind::Pdf),
    }
}

fn numbers_found(printed: &str, read: &str) -> (usize, usize) {
    let words: Vec<&str> = printed
        .split(|c: char| c.is_whitespace() || c == '|')
        .map(|w| w.trim_start_matches('^'))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .collect();
    (words.iter().filter(|w| read.contains(*w)).count(), words.len())
}

fn configured() -> (OcrConfig, Segmentation) {
    let mut config = OcrConfig::default();
    if let Ok(steps) = std::env::var("OCR_STEPS") {
        let on = |step: &str| steps.split(',').any(|s| s.trim() == step);
        config.preprocessing = Preprocessing { scale: on("scale"), deskew: on("deskew"), binarise: on("binarise") };
    }
    if let Some(threads) = std::env::var("OCR_THREADS").ok().and_then(|t| t.parse().ok()) {
        config.threads = threads;
    }
    let segmentation = match std::env::var("OCR_PSM").as_deref() {
        Ok("3") => Segmentation::Auto,
        Ok("6") => Segmentation::SingleBlock,
        Ok("11") => Segmentation::Sparse,
        Ok("4") => Segmentation::SingleColumn,
        _ => Segmentation::SingleBlock,
    };
    (config, segmentation)
}

struct Outcome {
    kind: &'static str,
    total: Option<Decimal>,
    date: Option<NaiveDate>,
    /// Whether the printed total and date appear verbatim in the text: OCR's share of a miss.
    total_in_text: bool,
    date_in_text: bool,
    /// Of the printed words holding a digit, how many the text has verbatim.
    numbers: (usize, usize),
    ms: u128,
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_receipts_are_read_with_their_totals_and_dates() {
    let (config, segmentation) = configured();
    let languages = config.languages.clone();
    let threads = config.threads;
    println!("preprocessing {:?}, segmentation {segmentation:?}, {threads} threads", config.preprocessing);
    let ocr = Ocr::with_engine(config, move || TesseractEngine::with_segmentation(&languages, segmentation)).unwrap();
    let cases = cases();
    assert!(cases.len() >= 20);

    let outcomes: Vec<Outcome> = futures::stream::iter(&cases)
        .map(|case| {
            let ocr = ocr.clone();
            async move {
                let (bytes, kind) = bytes_of(case);
                let started = Instant::now();
                let read = ocr.read(bytes, kind).await;
                let ms = started.elapsed().as_millis();
                let (source, text) = match read {
                    Ok(read) => (read.source.as_str(), read.text),
                    Err(error) => ("error", error.to_string()),
                };
                let receipt = cashflow_receipt::parse(&text);
                Outcome {
                    kind: kind.media_type(),
                    total: receipt.total.map(|f| f.value),
                    date: receipt.issued_on.map(|f| f.value),
                    numbers: numbers_found(case.text, &text),
                    total_in_text: text.contains(case.total.0),
                    date_in_text: text.contains(case.date.0),
                    ms,
                    text: format!("[{source}] {text}"),
                }
            }
        })
        .buffered(threads)
        .collect()
        .await;

    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    println!(
        "\n{:<30} {:<16} {:<16} {:>4} {:>4} {:>10} {:>10} {:<3} {:>10} {:>10} {:<3} {:>6}",
        "case", "kind", "font", "px", "rot", "total", "read", "", "date", "read", "", "ms"
    );
    let (mut totals, mut dates, mut ocr_totals, mut ocr_dates, mut numbers) = (0, 0, 0, 0, (0, 0));
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let total: Decimal = case.total.1.parse().unwrap();
        let (y, m, d) = case.date.1;
        let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let (total_ok, date_ok) = (outcome.total == Some(total), outcome.date == Some(date));
        totals += usize::from(total_ok);
        dates += usize::from(date_ok);
        ocr_totals += usize::from(outcome.total_in_text);
        ocr_dates += usize::from(outcome.date_in_text);
        numbers.0 += outcome.numbers.0;
        numbers.1 += outcome.numbers.1;
        let font = if matches!(case.form, Form::TextPdf) { "Helvetica" } else { case.look.face.name() };
        let show = |v: Option<String>| v.unwrap_or_else(|| "—".to_owned());
        println!(
            "{:<30} {:<16} {:<16} {:>4} {:>4} {:>10} {:>10} {:<3} {:>10} {:>10} {:<3} {:>6}",
            case.name,
            outcome.kind,
            font,
            case.look.px,
            case.look.rotation,
            total,
            show(outcome.total.map(|t| t.to_string())),
            mark(total_ok),
            date,
            show(outcome.date.map(|d| d.to_string())),
            mark(date_ok),
            outcome.ms
        );
        if !(total_ok && date_ok) {
            let in_text =
                format!("total in text {}, date in text {}", mark(outcome.total_in_text), mark(outcome.date_in_text));
            println!("    {in_text}; read:\n      {}", outcome.text.replace('\n', "\n      "));
        }
    }
    let n = cases.len();
    let percent = |k: usize| k as f64 * 100.0 / n as f64;
    let ms: Vec<u128> = outcomes.iter().map(|o| o.ms).collect();
    println!(
        "\ntotals {totals}/{n} ({:.0}%), dates {dates}/{n} ({:.0}%); printed total in OCR text {ocr_totals}/{n}, \
         printed date {ocr_dates}/{n}, printed numbers {}/{}; ms per receipt mean {}, max {}",
        percent(totals),
        percent(dates),
        numbers.0,
        numbers.1,
        ms.iter().sum::<u128>() / n as u128,
        ms.iter().max().unwrap()
    );
    assert!(percent(totals) >= 90.0, "total accuracy {:.0}% < 90%", percent(totals));
    assert!(percent(dates) >= 85.0, "date accuracy {:.0}% < 85%", percent(dates));
}

/// Writes every case's input to `$OCR_DUMP_DIR` (default: a `cashflow-ocr-cases` folder in the
/// temporary directory), to look at: `cargo test -p cashflow-ocr --test accuracy -- --ignored`.
#[test]
#[ignore]
fn write_the_cases_to_look_at() {
    let dir = std::env::var_os("OCR_DUMP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cashflow-ocr-cases"));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, case) in cases().iter().enumerate() {
        let (bytes, kind) = bytes_of(case);
        let extension = kind.media_type().rsplit('/').next().unwrap();
        std::fs::write(dir.join(format!("{i:02}.{extension}")), &bytes).unwrap();
    }
    println!("{} cases in {}", cases().len(), dir.display());
}
