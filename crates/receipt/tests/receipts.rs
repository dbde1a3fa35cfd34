//! Whole receipts as OCR gives them, Spanish and English, clean and noisy.

use cashflow_receipt::{CONFIDENT, Field, Receipt, parse};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn money(text: &str) -> Decimal {
    text.parse().expect("a decimal literal")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn value<T: Clone>(field: &Option<Field<T>>) -> Option<T> {
    field.as_ref().map(|f| f.value.clone())
}

fn trusted<T>(field: &Option<Field<T>>) -> bool {
    field.as_ref().is_some_and(|f| f.confidence >= CONFIDENT)
}

fn confidence<T>(field: &Option<Field<T>>) -> Option<Decimal> {
    field.as_ref().map(|f| f.confidence)
}

/// The five values, and which of them are trusted, as one comparable line.
#[track_caller]
fn assert_reads(
    receipt: &Receipt,
    merchant: Option<&str>,
    issued_on: Option<NaiveDate>,
    total: Option<&str>,
    tax: Option<&str>,
    currency: Option<&str>,
) {
    assert_eq!(value(&receipt.merchant).as_deref(), merchant, "merchant of {receipt:#?}");
    assert_eq!(value(&receipt.issued_on), issued_on, "issued_on of {receipt:#?}");
    assert_eq!(value(&receipt.total), total.map(money), "total of {receipt:#?}");
    assert_eq!(value(&receipt.tax), tax.map(money), "tax of {receipt:#?}");
    assert_eq!(value(&receipt.currency).as_deref(), currency, "currency of {receipt:#?}");
}

#[test]
fn a_spanish_supermarket_ticket_with_a_tax_table() {
    let receipt = parse(
        "MERCADONA, S.A. A-46103834
         C/ ALCALA, 123
         28009 MADRID
         TELEFONO: 914 123 456
         23/11/2026 14:32  OP: 123456
         FACTURA SIMPLIFICADA: 2345-012-678901
         Descripción                 P. Unit  Importe
         1 LECHE ENTERA                        0,89
         2 PAN BARRA          0,60             1,20
         1 TOMATE PERA                         1,45
         1 ACEITE OLIVA 1L                     5,95
         TOTAL (€)                             9,49
         TARJETA BANCARIA                      9,49
         IVA   BASE IMPONIBLE (€)   CUOTA (€)
         4%          2,01             0,08
         10%         1,32             0,13
         21%         4,92             1,03",
    );
    assert_reads(&receipt, Some("MERCADONA, S.A."), Some(date(2026, 11, 23)), Some("9.49"), Some("1.24"), Some("EUR"));
    assert_eq!(confidence(&receipt.merchant), Some(Decimal::new(90, 2)));
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
    assert_eq!(confidence(&receipt.tax), Some(Decimal::new(95, 2)));
    assert!(trusted(&receipt.issued_on) && trusted(&receipt.currency));
}

#[test]
fn a_spanish_restaurant_bill_paid_in_cash() {
    let receipt = parse(
        "RESTAURANTE CASA PEPE
         Plaza Mayor 3, 37002 Salamanca
         NIF: B37123456
         Mesa: 12   Camarero: Luis
         Fecha: 22/11/2026   Hora: 21:47
         2  MENU DEL DIA        12,50   25,00
         1  AGUA MINERAL         1,80    1,80
         2  CAFE SOLO            1,30    2,60
         BASE IMPONIBLE      26,73
         IVA 10%              2,67
         TOTAL A PAGAR       29,40 €
         EFECTIVO            50,00
         CAMBIO              20,60
         Gracias por su visita",
    );
    assert_reads(
        &receipt,
        Some("RESTAURANTE CASA PEPE"),
        Some(date(2026, 11, 22)),
        Some("29.40"),
        Some("2.67"),
        Some("EUR"),
    );
    assert_eq!(confidence(&receipt.issued_on), Some(Decimal::new(95, 2)));
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
}

#[test]
fn the_same_restaurant_bill_through_noisy_ocr() {
    let receipt = parse(
        "RESTAURANTE CASA PEPE.
         Plaza Mayor 3, 37OO2 Salamanca
         NIF: B37123456
         Fecha: 22/11/2026 Hora: 21:47
         2 MENU DEL DIA 12,5O 25,OO
         1 AGUA MINERAL 1,8O 1,8O
         2 CAFE SOLO 1,3O 2,6O
         BASE IMPONIBLE 26,73
         I.V.A. 10% 2 ,67
         T0TAL A PAGAR 29,4O €
         EFECTIVO 5O,OO
         CAMBIO 2O,6O",
    );
    assert_reads(
        &receipt,
        Some("RESTAURANTE CASA PEPE"),
        Some(date(2026, 11, 22)),
        Some("29.40"),
        Some("2.67"),
        Some("EUR"),
    );
    assert!(trusted(&receipt.total) && trusted(&receipt.tax));
}

#[test]
fn a_spanish_fuel_station_ticket_with_a_price_per_litre() {
    let receipt = parse(
        "ESTACION DE SERVICIO REPSOL
         AUTOVIA A-6 KM 23
         28230 LAS ROZAS
         CIF: A28123456
         TICKET: 0045123
         FECHA: 21-11-2026 HORA: 08:15
         SURTIDOR: 04
         PRODUCTO: GASOLEO A
         LITROS: 45,23
         PRECIO: 1,459 €/L
         IMPORTE: 65,99 €
         BASE IMPONIBLE: 54,54
         IVA (21%): 11,45
         TOTAL: 65,99 EUR
         PAGO CON TARJETA",
    );
    assert_reads(
        &receipt,
        Some("ESTACION DE SERVICIO REPSOL"),
        Some(date(2026, 11, 21)),
        Some("65.99"),
        Some("11.45"),
        Some("EUR"),
    );
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(95, 2)));
    assert_eq!(confidence(&receipt.tax), Some(Decimal::new(90, 2)));
}

#[test]
fn a_spanish_pharmacy_ticket_with_two_vat_rates_and_ocr_slips() {
    let receipt = parse(
        "FARMACIA LDA. MARIA GARCIA
         Avda. de la Constitucion 45
         41001 Sevilla
         Tlf 954 22 33 44
         N.I.F. 28765432X
         F. Simplificada N° 2026/000871
         Fecha 19.11.2026 10:03
         IBUPROFENO 600MG 40C      2,5O
         PARACETAMOL 1G 20C        1,45
         CREMA SOLAR SPF50        12,90
         BASE IMPONIBLE           14,46
         I.V.A. 4%                 0,15
         I.V.A. 21%                2,24
         T0TAL EUR                16,85
         ENTREGADO                20,00
         CAMBIO                    3,15",
    );
    assert_reads(
        &receipt,
        Some("FARMACIA LDA. MARIA GARCIA"),
        Some(date(2026, 11, 19)),
        Some("16.85"),
        Some("2.39"),
        Some("EUR"),
    );
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
    assert_eq!(confidence(&receipt.tax), Some(Decimal::new(85, 2)));
}

#[test]
fn a_spanish_online_invoice_with_an_issuer_block() {
    let receipt = parse(
        "FACTURA
         Nº Factura: F2026-00342
         Fecha de emisión: 15/11/2026
         Fecha de vencimiento: 15/12/2026
         Emisor:
         Soluciones Web Levante S.L.
         CIF: B98765432
         Cliente: Juan Pérez Gómez
         Concepto                          Cantidad   Precio    Importe
         Hosting anual plan Pro                   1   120,00     120,00
         Dominio .es                              1    10,00      10,00
         Base imponible                                          130,00
         IVA 21%                                                  27,30
         Total factura                                           157,30 €
         Forma de pago: transferencia",
    );
    assert_reads(
        &receipt,
        Some("Soluciones Web Levante S.L."),
        Some(date(2026, 11, 15)),
        Some("157.30"),
        Some("27.30"),
        Some("EUR"),
    );
    assert_eq!(confidence(&receipt.merchant), Some(Decimal::new(90, 2)));
    assert_eq!(confidence(&receipt.issued_on), Some(Decimal::new(95, 2)));
}

#[test]
fn a_spanish_hotel_invoice_with_stay_dates() {
    let receipt = parse(
        "HOTEL GRAN VIA MADRID
         Gran Via 25, 28013 Madrid
         NIF B87654321
         FACTURA Nº 2026/1187
         Fecha factura: 24/11/2026
         Llegada: 21/11/2026  Salida: 24/11/2026
         Habitación 305  Huésped: Ms. Sarah Connor
         21/11/2026 Alojamiento Doble            110,00
         22/11/2026 Alojamiento Doble            110,00
         23/11/2026 Alojamiento Doble            110,00
         23/11/2026 Minibar                        8,50
         Tasa turística 3 noches                   4,50
         BASE IMPONIBLE                          311,82
         IVA 10%                                  31,18
         TOTAL (IVA INCL.)                       343,00 EUR
         Pagado con VISA                         343,00",
    );
    assert_reads(
        &receipt,
        Some("HOTEL GRAN VIA MADRID"),
        Some(date(2026, 11, 24)),
        Some("343.00"),
        Some("31.18"),
        Some("EUR"),
    );
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
}

#[test]
fn a_madrid_taxi_receipt_with_vat_included() {
    let receipt = parse(
        "TAXI MADRID
         Licencia: 12345
         Matricula: 1234-ABC
         NIF: 12345678Z
         Fecha: 20/11/2026
         Inicio: 23:10  Fin: 23:34
         Origen: Aeropuerto T4
         Destino: C/ Serrano 50
         Tarifa: 4
         Importe:        30,00 €
         IVA 10% incluido: 2,73
         Forma de pago: Efectivo",
    );
    assert_reads(&receipt, Some("TAXI MADRID"), Some(date(2026, 11, 20)), Some("30.00"), Some("2.73"), Some("EUR"));
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(80, 2)));
}

#[test]
fn a_spanish_bakery_ticket_with_the_total_below_its_label() {
    let receipt = parse(
        "~~ PANADERIA LA ESPIGA ~~
         C/ Real 8 - Toledo
         2 BARRAS              1,80
         4 CROISSANT           4,40
         1 TARTA MANZANA      12 ,50
         TOTAL
         18,70
         EFECTIVO  20,00
         CAMBIO     1,30
         18-11-26  09:12",
    );
    assert_reads(&receipt, Some("PANADERIA LA ESPIGA"), Some(date(2026, 11, 18)), Some("18.70"), None, None);
    // TOTAL 0.80, below its label −0.05, items +0.10, 20,00 given − 1,30 change +0.05.
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(90, 2)));
    assert_eq!(confidence(&receipt.issued_on), Some(Decimal::new(70, 2)));
}

#[test]
fn a_spanish_supermarket_with_discounts_and_no_currency_symbol() {
    let receipt = parse(
        "CARREFOUR EXPRESS
         CENTROS COMERCIALES CARREFOUR S.A.
         NIF A28425270
         C/ Princesa 25 Madrid
         Ticket: 0123 045 987654
         PLATANO CANARIAS            2,15
         YOGUR NATURAL 8U            1,99
         DESCUENTO YOGUR            -0,50
         AGUA 1,5L                   0,65
         DTO. CLUB                  -0,20
         TOTAL A PAGAR               4,09
         Entregado                  10,00
         Cambio                      5,91
         IVA      BASE    CUOTA
         10%      3,72    0,37
         Fecha 20/11/2026 Hora 18:55",
    );
    assert_reads(
        &receipt,
        Some("CARREFOUR EXPRESS"),
        Some(date(2026, 11, 20)),
        Some("4.09"),
        Some("0.37"),
        Some("EUR"),
    );
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
    assert!(!trusted(&receipt.currency), "EUR is only inferred from Spanish wording");
}

#[test]
fn a_parking_ticket_without_keywords_falls_back_to_the_largest_amount() {
    let receipt = parse(
        "PARKING PLAZA ESPAÑA
         Entrada 22/11/2026 10:15
         Salida  22/11/2026 12:40
         Tiempo 2h 25m
         5,35 €",
    );
    assert_reads(&receipt, Some("PARKING PLAZA ESPAÑA"), Some(date(2026, 11, 22)), Some("5.35"), None, Some("EUR"));
    assert!(!trusted(&receipt.total), "a bare largest amount is a guess");
}

#[test]
fn a_us_store_receipt_with_a_month_first_date() {
    let receipt = parse(
        "Walmart
         Save money. Live better.
         ( 555 ) 555 - 1234
         MANAGER JOHN SMITH
         1234 MAIN ST
         SPRINGFIELD IL 62701
         ST# 1234 OP# 00001 TE# 12 TR# 03456
         BANANAS            000000004011 F     1.24
         MILK 1GAL          007874235186 F     3.48
         PAPER TOWELS       003700083815      12.97
         SUBTOTAL                             17.69
         TAX 1   6.250 %                       0.81
         TOTAL                                18.50
         VISA TEND                            18.50
         CHANGE DUE                            0.00
         11/23/2026 14:32:05",
    );
    assert_reads(&receipt, Some("Walmart"), Some(date(2026, 11, 23)), Some("18.50"), Some("0.81"), None);
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(95, 2)));
    assert_eq!(confidence(&receipt.tax), Some(Decimal::new(90, 2)));
}

#[test]
fn a_us_diner_bill_with_a_tip() {
    let receipt = parse(
        "JOE'S DINER
         450 Broadway
         New York, NY 10012
         (212) 555-0199
         Server: Mike   Table: 7
         Nov 21, 2026  7:45 PM
         2 Cheeseburger        $25.90
         1 Fries                $4.50
         2 Soda                 $5.00
         Subtotal              $35.40
         Sales Tax 8.875%       $3.14
         Tip                    $6.00
         Total                 $44.54
         Visa ****1234         $44.54",
    );
    assert_reads(&receipt, Some("JOE'S DINER"), Some(date(2026, 11, 21)), Some("44.54"), Some("3.14"), Some("USD"));
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(90, 2)));
}

#[test]
fn a_us_pharmacy_receipt_with_an_ambiguous_date_is_not_trusted_on_the_date() {
    let receipt = parse(
        "CVS pharmacy
         Store 1234
         225 Main St, Anytown, CA 90210
         (310) 555-0123
         05/11/2026 3:42 PM
         ADVIL 50CT           $9.99
         VITAMIN C 100CT      $7.49
         SUBTOTAL            $17.48
         CA TAX 7.25%         $1.27
         TOTAL               $18.75
         MASTERCARD          $18.75",
    );
    assert_reads(&receipt, Some("CVS pharmacy"), Some(date(2026, 11, 5)), Some("18.75"), Some("1.27"), Some("USD"));
    assert!(!trusted(&receipt.issued_on), "05/11 on a US receipt may well be May 11th");
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
}

#[test]
fn a_uk_cafe_receipt_with_vat_included_in_prices() {
    let receipt = parse(
        "The Daily Grind Ltd
         12 High Street, Bath BA1 1AA
         VAT Reg No: GB 123 4567 89
         Tel: 01225 123456
         Table 4        Server: Emma
         23 Nov 2026    09:41
         1 Flat White           £3.20
         1 Croissant            £2.50
         1 Orange Juice         £2.95
         Subtotal               £8.65
         VAT @ 20%              £1.44
         Total                  £8.65
         Card                   £8.65
         Thank you!",
    );
    assert_reads(
        &receipt,
        Some("The Daily Grind Ltd"),
        Some(date(2026, 11, 23)),
        Some("8.65"),
        Some("1.44"),
        Some("GBP"),
    );
    assert_eq!(confidence(&receipt.merchant), Some(Decimal::new(90, 2)));
    assert_eq!(confidence(&receipt.currency), Some(Decimal::new(95, 2)));
}

#[test]
fn a_uk_online_invoice_with_amount_due() {
    let receipt = parse(
        "Invoice
         Sold by: Widget World Ltd
         VAT Number: GB987654321
         Invoice date: 02 November 2026
         Order number: 205-1234567-7654321
         Invoice number: INV-2026-88231
         Billing address: Jane Doe, 5 Elm Road, Leeds LS1 4AB
         Description                 Qty   Unit price   VAT rate   Total
         USB-C charger                 1     £16.66        20%    £19.99
         Delivery                      1      £2.49        20%     £2.99
         Total net                                                £19.15
         VAT 20%                                                   £3.83
         Amount due                                               £22.98",
    );
    assert_reads(&receipt, Some("Widget World Ltd"), Some(date(2026, 11, 2)), Some("22.98"), Some("3.83"), Some("GBP"));
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
    assert_eq!(confidence(&receipt.issued_on), Some(Decimal::new(95, 2)));
}

#[test]
fn a_uk_supermarket_receipt_with_a_weighed_item() {
    let receipt = parse(
        "TESCO
         Tesco Stores Ltd
         Express Kensington
         0345 677 9000
         MILK SEMI SKIMMED 2PT      £1.45
         BREAD WHITE 800G           £0.75
         BANANAS LOOSE              £0.68
          0.850 kg @ £0.80/kg
         CHEDDAR MATURE             £2.60
         BALANCE DUE                £5.48
         CASH                      £10.00
         CHANGE                     £4.52
         VAT NO. GB 220 4302 31
         23/11/26 14:05 4162 022 3301 2114",
    );
    assert_reads(&receipt, Some("TESCO"), Some(date(2026, 11, 23)), Some("5.48"), None, Some("GBP"));
    assert_eq!(confidence(&receipt.merchant), Some(Decimal::new(85, 2)));
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
}

#[test]
fn a_us_hotel_folio_sums_the_nightly_taxes() {
    let receipt = parse(
        "Hilton Garden Inn Boston
         100 Cambridge St, Boston, MA 02114
         Tel: +1 617 555 0100
         Guest: Robert Brown    Room: 1208
         Arrival: 20-Nov-2026   Departure: 23-Nov-2026
         Folio No: 884512
         Date        Description              Charges
         20-Nov-2026 Room Charge               189.00
         20-Nov-2026 Occupancy Tax              21.92
         21-Nov-2026 Room Charge               189.00
         21-Nov-2026 Occupancy Tax              21.92
         22-Nov-2026 Room Charge               189.00
         22-Nov-2026 Occupancy Tax              21.92
         Total Charges                         632.76
         Payments                             -632.76
         Balance Due                             0.00
         Invoice Date: 23-Nov-2026
         All amounts in USD",
    );
    assert_reads(
        &receipt,
        Some("Hilton Garden Inn Boston"),
        Some(date(2026, 11, 23)),
        Some("632.76"),
        Some("65.76"),
        Some("USD"),
    );
    assert_eq!(confidence(&receipt.currency), Some(Decimal::new(85, 2)));
}

#[test]
fn an_english_invoice_with_thousands_and_a_grand_total() {
    let receipt = parse(
        "BRIGHT OFFICE SUPPLIES INC.
         Invoice # 10442
         Date: Nov 23, 2026
         Standing desk              2    $649.50   $1,299.00
         Ergonomic chair            1              $1,050.00
         Subtotal                                  $2,349.00
         Tax (8%)                                    $187.92
         GRAND TOTAL                               $2,536.92",
    );
    assert_reads(
        &receipt,
        Some("BRIGHT OFFICE SUPPLIES INC."),
        Some(date(2026, 11, 23)),
        Some("2536.92"),
        Some("187.92"),
        Some("USD"),
    );
    assert_eq!(confidence(&receipt.total), Some(Decimal::new(99, 2)));
}

#[test]
fn a_spanish_invoice_with_thousands_and_an_all_in_one_summary_line() {
    let receipt = parse(
        "TALLERES MECANICOS HERMANOS RUIZ S.L.
         Fecha: 23 de noviembre de 2026
         Cambio de embrague                      1.150,00
         Mano de obra 6 h                          330,00
         Base 1.480,00 IVA 21% 310,80 Total 1.790,80",
    );
    assert_reads(
        &receipt,
        Some("TALLERES MECANICOS HERMANOS RUIZ S.L."),
        Some(date(2026, 11, 23)),
        Some("1790.80"),
        Some("310.80"),
        Some("EUR"),
    );
}

#[test]
fn text_that_is_not_a_receipt_reads_nothing_trusted() {
    let receipt = parse("Lorem ipsum dolor sit amet\nconsectetur adipiscing elit");
    assert_eq!(receipt.total, None);
    assert_eq!(receipt.tax, None);
    assert_eq!(receipt.currency, None);
    assert_eq!(receipt.issued_on, None);
}
