//! The words that say what an amount on a line is: a total, a subtotal, tax, money handed over.
//!
//! One table, most specific phrase first (`TOTAL SIN IVA` before `TOTAL IVA` before `TOTAL`),
//! compiled into one regex; at each position the first phrase that matches wins.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::score::Score;

/// What a keyword says about the amount after it on the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The grand total, with the confidence its wording earns (`TOTAL A PAGAR` > `TOTAL` > `IMPORTE`).
    Total(Score),
    /// An amount before tax: `SUBTOTAL`, `BASE IMPONIBLE`, `TOTAL SIN IVA`, `NET`.
    Subtotal,
    /// One tax amount: `IVA 21%`, `VAT`, `CUOTA IVA`.
    Tax,
    /// All the tax: `TOTAL IVA`, `TOTAL TAX`, `CUOTA TOTAL`.
    TaxTotal,
    /// `IVA INCLUIDO`: a note, or the tax included in the total.
    TaxIncluded,
    /// Money handed over or given back: `EFECTIVO`, `CAMBIO`, `TARJETA`, `CHANGE`, `CASH`.
    Tender,
    /// A discount line: its amount is part of the items' sum.
    Discount,
    /// An amount that is none of the above: savings, tips, points.
    Other,
    /// `CIF`, `NIF`, `VAT No`: the number after it is an identifier.
    TaxId,
    /// `ARTICULOS`, `ITEMS`, `UDS`: marks the integer next to it as a count; does not end a
    /// segment.
    Count,
    /// `TIPO`, `RATE`: a tax-rate column header; does not end a segment.
    Rate,
}

impl Kind {
    /// Whether the keyword takes the amounts after it (up to the next such keyword).
    pub fn claims(self) -> bool {
        !matches!(self, Kind::Count | Kind::Rate)
    }
}

/// A keyword found in a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keyword {
    pub span: Range<usize>,
    pub kind: Kind,
}

const TAX_WORD: &str = r"(?:IVA|I\.\s?V\.\s?A|IGIC|VAT|TAX|TAXES|IMPUESTOS?|GST|HST|PST|QST)";

/// Phrases in priority order. `TOTAL` is written plainly and compiled as `T[O0]TAL`, and
/// `{TAX}` stands for [`TAX_WORD`].
const PHRASES: &[(&str, Kind)] = &[
    (r"TOTAL\s+(?:TARJETA|EFECTIVO|PAGADO|ENTREGADO|COBRADO|CARD|CASH|TENDERED|PAID)", Kind::Tender),
    (r"TOTAL\s+(?:AHORRADO|AHORRO|AHORRAS|SAVINGS?|SAVED|PUNTOS|POINTS|PROPINAS?|TIPS?)", Kind::Other),
    (r"TOTAL\s+(?:DESCUENTOS?|DTOS?|DISCOUNTS?)", Kind::Other),
    (r"TOTAL\s+(?:DE\s+)?(?:ART[IÍ]CULOS|ARTS|ITEMS?|UNIDADES|UDS|PIEZAS|PRODUCTOS|QTY|L[IÍ]NEAS)", Kind::Other),
    (r"TOTAL\s+(?:SIN|ANTES\s+DE)\s+{TAX}", Kind::Subtotal),
    (r"TOTAL\s+(?:NETO|NET|BRUTO|BASES?(?:\s+IMPONIBLES?)?)", Kind::Subtotal),
    (r"TOTAL[\s.:()\-/]{0,3}(?:EXCL?|EXCLUDING|EX|BEFORE|PRE)[\s.:()\-/]{0,3}{TAX}", Kind::Subtotal),
    (r"TOTAL[\s.:()\-/]{0,3}{TAX}[\s.:()\-/]{0,3}INC[A-Z]*", Kind::Total(Score(90))),
    (r"TOTAL[\s.:()\-/]{0,3}(?:CON|INC|INCL|INCLUDING|INCLUIDO)[\s.:()\-/]{0,3}{TAX}", Kind::Total(Score(90))),
    (r"TOTAL\s+A\s+(?:PAGAR|ABONAR|COBRAR)", Kind::Total(Score(90))),
    (r"TOTAL\s+(?:DUE|TO\s+PAY|PAYABLE|AMOUNT|FACTURA|INVOICE)", Kind::Total(Score(90))),
    (r"TOTAL\s+(?:COMPRA|TICKET|VENTA|PEDIDO|ORDER|SALE)", Kind::Total(Score(85))),
    (r"TOTAL\s+(?:CUOTAS?(?:\s+{TAX})?|{TAX})", Kind::TaxTotal),
    // One space only: `CUOTA   TOTAL` is two columns of a tax table.
    (r"(?:IVA|VAT|TAX|CUOTA)\x20TOTAL", Kind::TaxTotal),
    (r"GRAND\s+TOTAL", Kind::Total(Score(90))),
    (r"(?:AMOUNT|BALANCE)\s+(?:DUE|PAYABLE|TO\s+PAY)", Kind::Total(Score(90))),
    (r"IMPORTE\s+(?:TOTAL|A\s+PAGAR|FACTURA)", Kind::Total(Score(90))),
    (r"A\s+PAGAR", Kind::Total(Score(85))),
    (r"SUB\s?-?\s?TOTAL", Kind::Subtotal),
    (r"TOTAL", Kind::Total(Score(80))),
    (r"BASES?\s+IMPONIBLES?|BASE\s+IMP[A-Z]*|BASES?", Kind::Subtotal),
    (r"IMPORTE\s+(?:SIN\s+{TAX}|NETO|BASE|BRUTO)", Kind::Subtotal),
    (r"NETO|NET(?:\s+(?:AMOUNT|TOTAL|SALES?))?|SIN\s+IVA", Kind::Subtotal),
    (r"(?:EXCL?|EXCLUDING)[\s.:()\-/]{0,3}{TAX}", Kind::Subtotal),
    (r"{TAX}[\s.:#\-]{0,2}(?:NO|NUMBER|NUM|REG[A-Z]*|ID|IDENT[A-Z]*|N[º°])", Kind::TaxId),
    (r"N\.?\s?I\.?\s?F|C\.?\s?I\.?\s?F|DNI|NIE|EIN|ABN", Kind::TaxId),
    (r"{TAX}[\s.:()\-/]{0,3}INC[A-Z]*", Kind::TaxIncluded),
    (r"(?:INC|INCL|INCLUDING|INCLUDES|INCLUIDO|INCLUIDA)[\s.:()\-/]{0,3}{TAX}", Kind::TaxIncluded),
    (r"CUOTA(?:\s+(?:IVA|I\.\s?V\.\s?A|IGIC))?|SALES\s+TAX|{TAX}", Kind::Tax),
    (r"IMPORTE", Kind::Total(Score(75))),
    (
        r"CAMBIO|CHANGE|ENTREGADO|ENTREGA|EFECTIVO|CASH|TENDERED|TENDER|TEND|PAGADO|PAGO|PAID|PAYMENTS?|TARJETA|CARD|VISA|MASTER\s?CARD|MAESTRO|AMEX|DEBIT|D[EÉ]BITO|CR[EÉ]DITO|CREDIT|CONTACTLESS|A\s+DEVOLVER|DEVOLUCI[OÓ]N|DEVUELTO|BIZUM",
        Kind::Tender,
    ),
    (r"DESCUENTOS?|DTO|DISCOUNTS?|PROMOCI[OÓ]N|PROMO|OFERTA|COUPON|CUP[OÓ]N", Kind::Discount),
    (r"AHORR[A-Z]*|SAVINGS?|YOU\s+SAVED|PROPINA|TIPS?|GRATUITY|PUNTOS|POINTS|SALDO|CASHBACK", Kind::Other),
    (r"ART[IÍ]CULOS?|ARTS|ITEMS?|UNIDADES|UDS|PIEZAS|PRODUCTOS|QTY|CANT(?:IDAD)?", Kind::Count),
    (r"TIPO|RATE|PORCENTAJE|PORC", Kind::Rate),
];

/// `(?-u:\b)`: an ASCII word boundary keeps the fast DFA engine on non-ASCII text (`€`, `ñ`).
const BOUNDARY: &str = r"(?-u:\b)";

fn compiled(phrase: &str) -> String {
    phrase.replace("{TAX}", TAX_WORD).replace("TOTAL", "T[O0]TAL")
}

/// All phrases in one regex, to find where keywords are.
static KEYWORDS: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives: Vec<String> = PHRASES.iter().map(|(phrase, _)| compiled(phrase)).collect();
    // A digit may follow straight away (`TOTAL12,50`): it is matched, then left out of the span.
    let pattern = format!(r"(?i){BOUNDARY}(?:{})(?:{BOUNDARY}|[0-9])", alternatives.join("|"));
    Regex::new(&pattern).expect("valid regex")
});

/// Each phrase anchored, to tell which one matched: the first that matches at a position is
/// the one the combined regex chose there.
static ANCHORED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    PHRASES
        .iter()
        .map(|(phrase, _)| {
            let pattern = format!(r"(?i)^(?:{})(?:{BOUNDARY}|[0-9])", compiled(phrase));
            Regex::new(&pattern).expect("valid regex")
        })
        .collect()
});

/// Every keyword in a line, in order.
pub(crate) fn find(line: &str) -> Vec<Keyword> {
    KEYWORDS
        .find_iter(line)
        .filter_map(|found| {
            let rest = &line[found.start()..];
            let index = ANCHORED.iter().position(|phrase| phrase.find(rest).is_some_and(|m| m.end() == found.len()))?;
            let end = found.end() - usize::from(found.as_str().ends_with(|c: char| c.is_ascii_digit()));
            Some(Keyword { span: found.start()..end, kind: PHRASES[index].1 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<Kind> {
        find(line).into_iter().map(|k| k.kind).collect()
    }

    #[test]
    fn grand_total_wordings_rank_above_a_bare_total() {
        for line in ["TOTAL A PAGAR", "Amount due", "GRAND TOTAL", "Balance Due", "TOTAL (IVA INCL.)", "Importe total"]
        {
            assert_eq!(kinds(line), [Kind::Total(Score(90))], "{line}");
        }
        assert_eq!(kinds("Total:"), [Kind::Total(Score(80))]);
        assert_eq!(kinds("T0TAL"), [Kind::Total(Score(80))]);
        assert_eq!(kinds("IMPORTE"), [Kind::Total(Score(75))]);
    }

    #[test]
    fn subtotals_are_not_totals() {
        for line in ["SUBTOTAL", "Sub-Total", "SUB TOTAL", "BASE IMPONIBLE", "TOTAL SIN IVA", "Net", "Total excl. VAT"]
        {
            assert_eq!(kinds(line), [Kind::Subtotal], "{line}");
        }
    }

    #[test]
    fn tax_wordings_are_found_but_not_tax_identifiers() {
        for line in ["IVA", "I.V.A.", "VAT", "Tax", "CUOTA IVA", "Sales Tax", "IGIC", "GST 5%", "PST"] {
            assert_eq!(kinds(line), [Kind::Tax], "{line}");
        }
        assert_eq!(kinds("TOTAL IVA"), [Kind::TaxTotal]);
        assert_eq!(kinds("VAT No"), [Kind::TaxId]);
        assert_eq!(kinds("C.I.F."), [Kind::TaxId]);
        assert_eq!(kinds("IVA incluido"), [Kind::TaxIncluded]);
    }

    #[test]
    fn money_handed_over_is_tender() {
        for line in [
            "CAMBIO",
            "Change",
            "ENTREGADO",
            "EFECTIVO",
            "Cash",
            "Tendered",
            "PAGADO",
            "TARJETA",
            "Card",
            "TOTAL TARJETA",
        ] {
            assert_eq!(kinds(line), [Kind::Tender], "{line}");
        }
    }

    #[test]
    fn keywords_only_match_whole_words() {
        assert_eq!(kinds("TAXI MADRID"), []);
        assert_eq!(kinds("INTERNET"), []);
        assert_eq!(kinds("TOTALES"), []);
        assert_eq!(kinds("DIVA"), []);
    }

    #[test]
    fn several_keywords_on_one_line_keep_their_order() {
        assert_eq!(kinds("Subtotal 10.00 Tax 0.80 Total 10.80"), [Kind::Subtotal, Kind::Tax, Kind::Total(Score(80))]);
        assert_eq!(kinds("TOTAL (3 ARTICULOS)"), [Kind::Total(Score(80)), Kind::Count]);
    }
}
