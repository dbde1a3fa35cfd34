//! The merchant: a `Vendido por:`/`Sold by:` line, else the first line at the top that is mostly
//! letters and is not an address, phone, tax id, date, web address or a `FACTURA`/`INVOICE`
//! heading.
//!
//! | evidence | confidence |
//! | --- | --- |
//! | a line with a legal suffix (`S.L.`, `S.A.`, `Ltd`, `LLC`, `Inc`, …) | 0.90 |
//! | a `Vendido por:`/`Sold by:`/`Emisor:` label | 0.85 |
//! | the first line, repeated on a later line with a legal suffix | 0.85 |
//! | the very first line | 0.75 |
//! | the second or third line, or `Welcome to …` | 0.65 |
//! | a later line at the top | 0.55 |
//!
//! Only the first qualifying line is taken: a second line under a name is more often a
//! subtitle (`CAFETERIA - RESTAURANTE`) than the rest of the name.

use std::sync::LazyLock;

use regex::Regex;

use crate::date;
use crate::keyword::Kind;
use crate::line::Line;
use crate::score::Score;

/// The merchant name is cut to this many characters.
const MAX_CHARS: usize = 200;

/// How many lines at the top may hold the name.
const TOP_LINES: usize = 8;

static SELLER_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:vendido\s+por|sold\s+by|emisor|proveedor|merchant|comercio|establecimiento|raz[oó]n\s+social|seller|vendor)\s*[:.\-]\s*(.+)$",
    )
    .expect("valid regex")
});

static WELCOME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(?:bienvenid[oa]s?\s+al?|welcome\s+to)\s+(.+)$").expect("valid regex"));

static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:factura|invoice|ticket|receipt|recibo|albar[aá]n|presupuesto|copia|duplicado|original|simplificada|bienvenid[oa]s?|welcome|gracias|thank|thanks|cliente|customer|bill\s+to|ship\s+to|facturar\s+a|p[aá]gina|page|pedido|order|cajero|cashier|camarero|server|mesa|table|terminal|caja|atendido)(?-u:\b)",
    )
    .expect("valid regex")
});

static WEB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)www\.|https?:|@|\.(?:com|es|net|org|eu|co\.uk|uk)(?-u:\b)").expect("valid regex")
});

static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:c\.?\s?i\.?\s?f|n\.?\s?i\.?\s?f|vat|tax\s+id|dni|nie|ein|abn|company\s+(?:no|number)|reg(?:istered|istro)?\s+(?:no|mercantil))(?-u:\b)",
    )
    .expect("valid regex")
});

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:tel|telf|tlf|tlfno|tel[eé]fono|phone|fax|m[oó]vil|mobile)(?-u:\b)|\+\d")
        .expect("valid regex")
});

static ADDRESS_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|\s)c/|(?-u:\b)(?:calle|avda|avenida|av|plaza|pza|paseo|pº|ctra|carretera|camino|ronda|v[ií]a|pol[ií]gono|street|st|road|rd|avenue|ave|lane|blvd|boulevard|way|drive|square|suite|unit|floor|planta|local|n[º°])(?-u:\b)",
    )
    .expect("valid regex")
});

static UK_POSTCODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}(?-u:\b)").expect("valid regex"));

/// A tax id at the end of the name line: `MERCADONA, S.A. A-46103834`, `… CIF: B12345678`.
static TRAILING_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)[\s,;\-]*(?:(?:c\.?\s?i\.?\s?f|n\.?\s?i\.?\s?f)\.?\s*[:.]?\s*)?(?-u:\b)[A-Z]?-?\d{7,8}-?[A-Z0-9]?$",
    )
    .expect("valid regex")
});

static LEGAL_SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[\s,])(?:S\.?\s?L\.?(?:\s?U\.?)?|S\.?\s?A\.?(?:\s?U\.?)?|S\.\s?C\.?|C\.\s?B\.?|S\.?\s?COOP\.?|LTD\.?|LIMITED|LLC\.?|L\.L\.C\.?|INC\.?|PLC|GMBH|CORP\.?|LLP|S\.?\s?R\.?\s?L\.?|B\.?\s?V\.?|S\.?\s?[AÀ]\.?\s?R\.?\s?L\.?)$",
    )
    .expect("valid regex")
});

static SELLER_LABEL_ALONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:vendido\s+por|sold\s+by|emisor|proveedor|seller|vendor)\s*:?$").expect("valid regex")
});

pub(crate) fn read(lines: &[Line]) -> Option<(String, Score)> {
    let labelled = lines.iter().enumerate().find_map(|(i, line)| {
        if let Some(caps) = SELLER_LABEL.captures(line.text) {
            return Some(clean(&caps[1]));
        }
        let next = lines.get(i + 1).filter(|_| SELLER_LABEL_ALONE.is_match(line.text))?;
        Some(clean(next.text))
    });
    if let Some(name) = labelled.filter(|name| letters(name) >= 2) {
        let score = if LEGAL_SUFFIX.is_match(&name) { Score(90) } else { Score(85) };
        return Some((name, score));
    }
    let end = lines
        .iter()
        .position(|l| l.has(|k| matches!(k, Kind::Total(_) | Kind::Subtotal | Kind::Tax | Kind::TaxTotal)))
        .unwrap_or(lines.len())
        .min(TOP_LINES);
    let top = &lines[..end];
    let (index, name, welcome) = top.iter().enumerate().find_map(|(i, line)| {
        if let Some(caps) = WELCOME.captures(line.text) {
            let name = clean(&caps[1]);
            return plausible(line, &name).then_some((i, name, true));
        }
        let name = clean(line.text);
        plausible(line, &name).then_some((i, name, false))
    })?;
    let legal_later = top[index + 1..].iter().any(|line| {
        let other = clean(line.text);
        LEGAL_SUFFIX.is_match(&other) && other.to_lowercase().contains(&name.to_lowercase())
    });
    let score = if LEGAL_SUFFIX.is_match(&name) {
        Score(90)
    } else if legal_later {
        Score(85)
    } else if index == 0 && !welcome {
        Score(75)
    } else if index <= 2 {
        Score(65)
    } else {
        Score(55)
    };
    Some((name, score))
}

/// Whether a cleaned line can be a name.
fn plausible(line: &Line, name: &str) -> bool {
    let visible = name.chars().filter(|c| !c.is_whitespace()).count();
    let digits = name.chars().filter(char::is_ascii_digit).count();
    let has_digit = digits > 0;
    letters(name) >= 2
        && letters(name) * 10 >= visible * 6
        && digits < 3
        && !line.numbers.iter().any(|n| n.is_money())
        && !line.has_claims()
        && date::find_dates(line.text).is_empty()
        && !HEADING.is_match(name)
        && !WEB.is_match(name)
        && !IDENTIFIER.is_match(name)
        && !PHONE.is_match(name)
        && !(has_digit && ADDRESS_WORD.is_match(name))
        && !UK_POSTCODE.is_match(name)
}

fn letters(text: &str) -> usize {
    text.chars().filter(|c| c.is_alphabetic()).count()
}

/// Trims OCR junk and a trailing tax id, collapses spaces, and cuts to [`MAX_CHARS`].
fn clean(text: &str) -> String {
    let text = TRAILING_ID.replace(text.trim(), "");
    let text = text
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .trim_end_matches(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | ')' | '!')));
    // A trailing dot is OCR noise after a word, part of the name after an abbreviation (S.L., Inc.).
    let last_word = text.rsplit(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("");
    let text = match text.strip_suffix('.') {
        Some(stripped) if last_word.chars().count() >= 4 || stripped.ends_with(' ') => stripped.trim_end(),
        _ => text,
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(MAX_CHARS).collect::<String>().trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line;

    fn merchant(text: &str) -> Option<(String, Score)> {
        let texts: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let lines: Vec<Line> = texts.iter().map(|t| Line::new(t, &line::scan(t), None)).collect();
        read(&lines)
    }

    fn named(name: &str, score: i64) -> Option<(String, Score)> {
        Some((name.to_owned(), Score(score)))
    }

    #[test]
    fn the_first_line_of_letters_is_the_merchant() {
        assert_eq!(merchant("BAR EL RINCON\nC/ Mayor 12\n28013 Madrid\nTOTAL 3,50"), named("BAR EL RINCON", 75));
    }

    #[test]
    fn a_legal_suffix_raises_the_confidence() {
        assert_eq!(merchant("MERCADONA, S.A. A-46103834\nC/ Mayor 12"), named("MERCADONA, S.A.", 90));
        assert_eq!(merchant("Joe's Coffee Ltd\n1 High Street"), named("Joe's Coffee Ltd", 90));
        assert_eq!(merchant("ACME LLC"), named("ACME LLC", 90));
        assert_eq!(merchant("DIA\nDISTRIBUIDORA INTERNACIONAL DIA S.A."), named("DIA", 85));
    }

    #[test]
    fn headings_addresses_phones_and_ids_are_skipped() {
        let text = "FACTURA SIMPLIFICADA\nTel. 912 345 678\nCIF B12345678\nwww.example.com\n23/11/2026\nC/ Alcala 45\nFarmacia Lopez\nTOTAL 3,50";
        assert_eq!(merchant(text), named("Farmacia Lopez", 55));
    }

    #[test]
    fn ocr_junk_at_the_ends_is_trimmed() {
        assert_eq!(merchant("*** ~CAFE CENTRAL~ ***\nTOTAL 3,50"), named("CAFE CENTRAL", 75));
        assert_eq!(merchant("|  PANADERIA   LA   ESPIGA |"), named("PANADERIA LA ESPIGA", 75));
        assert_eq!(merchant("RESTAURANTE CASA PEPE."), named("RESTAURANTE CASA PEPE", 75));
        assert_eq!(merchant("Widgets Inc."), named("Widgets Inc.", 90));
    }

    #[test]
    fn a_seller_label_names_the_merchant() {
        assert_eq!(
            merchant("Factura\nCliente: Juan Perez\nVendido por: Amazon EU S.à r.l."),
            named("Amazon EU S.à r.l.", 90)
        );
        assert_eq!(merchant("INVOICE\nSold by: Widgets Direct"), named("Widgets Direct", 85));
        assert_eq!(merchant("FACTURA\nEmisor:\nSoluciones Web S.L.\nCIF B98765432"), named("Soluciones Web S.L.", 90));
    }

    #[test]
    fn welcome_to_is_not_part_of_the_name() {
        assert_eq!(merchant("Welcome to Joe's Diner\nTotal 12.00"), named("Joe's Diner", 65));
    }

    #[test]
    fn a_name_is_cut_to_two_hundred_characters() {
        let long = "A".repeat(500);
        assert_eq!(merchant(&long).map(|(name, _)| name.chars().count()), Some(200));
    }

    #[test]
    fn no_line_of_letters_is_no_merchant() {
        assert_eq!(merchant("12,50\n23/11/2026"), None);
        assert_eq!(merchant(""), None);
    }
}
