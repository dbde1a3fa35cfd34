//! The grand total and the tax, from keyword lines, tax tables and consistency checks.
//!
//! | evidence | total | tax |
//! | --- | --- | --- |
//! | `TOTAL A PAGAR`, `AMOUNT DUE`, `GRAND TOTAL`, `TOTAL (IVA INCL.)` … | 0.90 | |
//! | `TOTAL COMPRA`, `A PAGAR` | 0.85 | |
//! | `TOTAL`, `Total:` | 0.80 | |
//! | `IMPORTE`, a tax table's TOTAL column | 0.75 | |
//! | `TOTAL IVA`, `TOTAL TAX`, a tax table's CUOTA column | | 0.85 |
//! | one `IVA 21%` / `VAT` line (several with the same amount) | | 0.80 |
//! | several `IVA` lines, summed | | 0.75 |
//! | `IVA INCLUIDO 2,10` | | 0.60 |
//! | subtotal + tax, no total line | 0.50 | |
//! | a card/cash line paying the items' sum, no total line | 0.55 | |
//! | total − subtotal, no tax line | | 0.55 |
//! | the largest amount, no keyword at all | 0.30 | |
//!
//! Adjustments: +0.05 for a currency written on the amount; −0.05 when the amount is on the
//! line below the keyword; −0.10 for an integer without currency; +0.10 when subtotal + tax =
//! total (raises both); +0.10 when the item lines above sum to it; +0.05 when a card line
//! repeats it or cash given minus change is it; −0.10 when another total close in confidence disagrees. Never
//! `CAMBIO`/`EFECTIVO`/`TARJETA`/`CHANGE`/`CASH`/`CARD` lines: they are money handed over.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

use crate::keyword::Kind;
use crate::line::{Line, Number};
use crate::score::Score;

/// What was read about the money on a receipt.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Money {
    pub total: Option<(Decimal, Score)>,
    pub tax: Option<(Decimal, Score)>,
    /// The line the total was read from, if one line holds it.
    pub total_line: Option<usize>,
}

#[derive(Clone, Debug)]
struct Candidate {
    value: Decimal,
    score: Score,
    line: usize,
}

/// More tender lines than this are not paired up to find given − change.
const MAX_TENDER_PAIRS: usize = 16;

/// Sums of item lines, and the guess for a receipt with no total keyword.
struct Sums {
    /// Items above the first summary line.
    items: Option<Decimal>,
    /// Items anywhere, for a receipt with no summary line.
    all_items: Option<Decimal>,
    /// The largest amount, and the items above it.
    guess: Option<(Candidate, Option<Decimal>)>,
}

/// The subtotals, looked up once per total candidate.
struct Bases {
    each: HashSet<Decimal>,
    sum: Decimal,
}

/// Everything the keyword lines say, before any choice is made.
#[derive(Default)]
struct Evidence {
    totals: Vec<Candidate>,
    subtotals: Vec<Decimal>,
    taxes: Vec<Decimal>,
    tax_totals: Vec<Decimal>,
    tax_included: Vec<Decimal>,
    tenders: HashSet<Decimal>,
    /// The first few tender amounts in order, for the given − change = total check.
    first_tenders: Vec<Decimal>,
    /// Tips, savings, discounts after the items: a total − subtotal gap may be any of them.
    others: bool,
}

pub(crate) fn read(lines: &[Line]) -> Money {
    let tables: Vec<Table> = (0..lines.len()).filter_map(|i| table_at(lines, i)).collect();
    let headers: HashSet<usize> = tables.iter().map(|t| t.header).collect();
    let rows: HashSet<usize> = tables.iter().flat_map(|t| t.rows.clone()).collect();
    let mut evidence = Evidence::default();
    for (i, line) in lines.iter().enumerate() {
        if rows.contains(&i) {
            continue;
        }
        for (c, claim) in line.claims.iter().enumerate() {
            let last = c + 1 == line.claims.len();
            let (number, below) = match line.amount(claim) {
                Some(number) => (number, false),
                None if last && !headers.contains(&i) => {
                    let next = lines.get(i + 1).filter(|next| next.is_bare_amount());
                    match next.and_then(Line::last_money) {
                        Some(number) => (number, true),
                        None => continue,
                    }
                }
                None => continue,
            };
            evidence.add(claim.kind, number, below, i);
        }
    }
    for table in &tables {
        evidence.subtotals.extend(table.base);
        if let Some(total) = table.total.filter(|t| *t > Decimal::ZERO) {
            evidence.totals.push(Candidate { value: total, score: Score(75), line: table.header });
        }
    }
    let table_tax = tables.iter().filter_map(|t| t.tax).reduce(|a, b| a + b);
    let sums = Sums {
        items: items_sum(lines, &headers),
        all_items: sum_above(lines, lines.len()),
        guess: largest(lines).map(|guess| {
            let above = sum_above(lines, guess.line);
            (guess, above)
        }),
    };
    evidence.decide(table_tax, sums)
}

impl Evidence {
    fn add(&mut self, kind: Kind, number: &Number, below: bool, line: usize) {
        let value = number.value;
        match kind {
            Kind::Total(base) if value > Decimal::ZERO => {
                let mut score = base;
                if number.currency.is_some() {
                    score = score + 5;
                } else if value.scale() == 0 {
                    score = score - 10;
                }
                if below {
                    score = score - 5;
                }
                self.totals.push(Candidate { value, score, line });
            }
            Kind::Subtotal if number.is_money() => self.subtotals.push(value),
            Kind::Tax if number.is_money() => self.taxes.push(value),
            Kind::TaxTotal if number.is_money() => self.tax_totals.push(value),
            Kind::TaxIncluded if number.is_money() => self.tax_included.push(value),
            Kind::Tender => {
                self.tenders.insert(value);
                if self.first_tenders.len() < MAX_TENDER_PAIRS {
                    self.first_tenders.push(value);
                }
            }
            Kind::Other | Kind::Discount => self.others = true,
            _ => {}
        }
    }

    /// The readings of the tax, most likely first. Several equal tax lines are either one tax
    /// printed twice or one tax per night of a hotel folio: both readings are kept, and the
    /// one that adds up with the total wins.
    fn tax_options(&self, table_tax: Option<Decimal>) -> Vec<(Decimal, Score)> {
        if let Some(&total) = self.tax_totals.first() {
            return vec![(total, Score(85))];
        }
        if let Some(table) = table_tax {
            return vec![(table, Score(85))];
        }
        match self.taxes.as_slice() {
            [] => self.tax_included.first().map(|&t| vec![(t, Score(60))]).unwrap_or_default(),
            [one] => vec![(*one, Score(80))],
            [first, rest @ ..] => {
                let mut options = vec![(self.taxes.iter().sum(), Score(75))];
                if rest.iter().all(|t| t == first) {
                    options.push((*first, Score(70)));
                }
                options
            }
        }
    }

    /// Whether money handed over settles `total`: a card line repeating it, or cash given
    /// minus change.
    fn settles(&self, total: Decimal) -> bool {
        self.tenders.contains(&total)
            || self.first_tenders.iter().any(|&given| given > total && self.tenders.contains(&(given - total)))
    }

    /// Whether some subtotal (or all of them, for several tax rates) plus the tax is `total`.
    fn adds_up(&self, bases: &Bases, total: Decimal, tax: Decimal) -> bool {
        let base = total - tax;
        bases.each.contains(&base) || (self.subtotals.len() > 1 && bases.sum == base)
    }

    fn adds_up_with_any(&self, bases: &Bases, total: Decimal, taxes: &[(Decimal, Score)]) -> bool {
        taxes.iter().any(|&(tax, _)| self.adds_up(bases, total, tax))
    }

    fn decide(mut self, table_tax: Option<Decimal>, sums: Sums) -> Money {
        let Sums { items, all_items, guess } = sums;
        let taxes: Vec<(Decimal, Score)> =
            self.tax_options(table_tax).into_iter().filter(|(t, _)| *t >= Decimal::ZERO).collect();
        let bases = Bases { each: self.subtotals.iter().copied().collect(), sum: self.subtotals.iter().sum() };
        let mut derived_total = false;
        let (total, total_line) = if self.totals.is_empty() {
            match (self.subtotals.as_slice(), taxes.first()) {
                ([base], Some(&(t, _))) => {
                    derived_total = true;
                    let score = if items == Some(base + t) { Score(60) } else { Score(50) };
                    (Some((base + t, score)), None)
                }
                _ => match guess {
                    // Nothing says "total", but the card or cash line pays for the items.
                    _ if all_items.is_some_and(|sum| sum > Decimal::ZERO && self.settles(sum)) => {
                        (all_items.map(|sum| (sum, Score(55))), None)
                    }
                    Some((guess, above)) => {
                        let mut score = guess.score;
                        if self.adds_up_with_any(&bases, guess.value, &taxes) {
                            score = score + 10;
                        }
                        if above == Some(guess.value) {
                            score = score + 10;
                        }
                        (Some((guess.value, score)), Some(guess.line))
                    }
                    None => (None, None),
                },
            }
        } else {
            let mut totals = std::mem::take(&mut self.totals);
            for candidate in &mut totals {
                let value = candidate.value;
                if self.adds_up_with_any(&bases, value, &taxes) {
                    candidate.score = candidate.score + 10;
                }
                if items == Some(value) {
                    candidate.score = candidate.score + 10;
                }
                if self.settles(value) {
                    candidate.score = candidate.score + 5;
                }
            }
            self.totals = totals;
            let best = self
                .totals
                .iter()
                .max_by(|a, b| (a.score, a.value, a.line).cmp(&(b.score, b.value, b.line)))
                .expect("not empty")
                .clone();
            let disputed = self.totals.iter().any(|o| o.value != best.value && o.score >= best.score - 10);
            let score = if disputed { best.score - 10 } else { best.score };
            (Some((best.value, score)), Some(best.line))
        };
        let adding_up = total.and_then(|(total, _)| taxes.iter().find(|&&(t, _)| self.adds_up(&bases, total, t)));
        let tax = match (adding_up.or(taxes.first()).copied(), total) {
            (Some((t, _)), Some((total, _))) if t >= total => None,
            (Some((t, score)), Some(_)) if !derived_total && adding_up.is_some() => Some((t, score + 10)),
            (None, Some((total, _))) if !self.others => match self.subtotals.as_slice() {
                [base] if *base > Decimal::ZERO && *base < total => Some((total - base, Score(55))),
                _ => None,
            },
            (tax, _) => tax,
        };
        Money { total, tax, total_line }
    }
}

/// The largest amount on lines that say nothing about it, for receipts with no total keyword.
fn largest(lines: &[Line]) -> Option<Candidate> {
    let mut best: Option<(&Number, usize)> = None;
    for (i, line) in lines.iter().enumerate() {
        let plain = line.claims.iter().all(|c| matches!(c.kind, Kind::Total(_) | Kind::Subtotal));
        if !plain {
            continue;
        }
        for number in line.numbers.iter().filter(|n| n.is_money() && n.value > Decimal::ZERO) {
            if best.is_none_or(|(b, _)| number.value > b.value) {
                best = Some((number, i));
            }
        }
    }
    best.map(|(n, line)| Candidate { value: n.value, score: Score(if n.currency.is_some() { 35 } else { 30 }), line })
}

/// The sum of the item lines above the first total, subtotal or tax line, when there are at
/// least two: the last amount of each line without keywords, and discounts as negatives.
fn items_sum(lines: &[Line], headers: &HashSet<usize>) -> Option<Decimal> {
    // A column header (`DESCRIPCION  IMPORTE`) has no numbers and does not end the items.
    let summary = |i: usize, line: &Line| {
        let summing = |k| matches!(k, Kind::Total(_) | Kind::Subtotal | Kind::Tax | Kind::TaxTotal | Kind::TaxIncluded);
        let valued = !line.numbers.is_empty() || lines.get(i + 1).is_some_and(Line::is_bare_amount);
        headers.contains(&i) || (line.has(summing) && valued)
    };
    let end = lines.iter().enumerate().position(|(i, line)| summary(i, line))?;
    sum_above(lines, end)
}

/// The item lines' sum before line `end`, as [`items_sum`] reads it.
fn sum_above(lines: &[Line], end: usize) -> Option<Decimal> {
    let mut sum = Decimal::ZERO;
    let mut count = 0;
    for line in &lines[..end] {
        if UNIT_PRICE.is_match(line.text) {
            continue; // `0.850 kg @ £0.80/kg` details the line above
        }
        if !line.has_claims() {
            if let Some(number) = line.last_money() {
                sum += number.value;
                count += 1;
            }
        } else if line.claims.iter().all(|c| c.kind == Kind::Discount) {
            for number in line.claims.iter().filter_map(|c| line.amount(c)) {
                sum -= number.value.abs();
            }
        }
    }
    (count >= 2).then_some(sum)
}

static UNIT_PRICE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)@|/\s?(?:kg|k|l|lt|ud|u|unit|lb)(?-u:\b)").expect("valid regex"));

/// A tax table: a header of column names (`BASE  %IVA  CUOTA  TOTAL`) over rows of numbers.
#[derive(Clone, Debug, PartialEq)]
struct Table {
    header: usize,
    rows: std::ops::Range<usize>,
    base: Option<Decimal>,
    tax: Option<Decimal>,
    total: Option<Decimal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Base,
    Rate,
    Tax,
    Total,
}

/// Rows after a header are read while they have one number per column.
const MAX_TABLE_ROWS: usize = 12;

fn table_at(lines: &[Line], header: usize) -> Option<Table> {
    let line = &lines[header];
    if !line.numbers.is_empty() || line.keywords.len() < 2 {
        return None;
    }
    let columns = columns(line)?;
    let is_table = columns.len() >= 2 && columns.iter().any(|c| matches!(c, Column::Base | Column::Tax));
    if !is_table {
        return None;
    }
    let mut end = header + 1;
    let (mut base, mut tax, mut total) = (None, None, None);
    let add = |slot: &mut Option<Decimal>, value: Decimal| *slot = Some(slot.unwrap_or_default() + value);
    while end < lines.len() && end - header <= MAX_TABLE_ROWS {
        let row: Vec<&Number> = lines[end].numbers.iter().filter(|n| !n.count).collect();
        if row.len() != columns.len() {
            break;
        }
        for (column, number) in columns.iter().zip(row) {
            match column {
                Column::Base if !number.percent => add(&mut base, number.value),
                Column::Tax if !number.percent => add(&mut tax, number.value),
                Column::Total if !number.percent => add(&mut total, number.value),
                _ => {}
            }
        }
        end += 1;
    }
    (end > header + 1).then_some(Table { header, rows: header + 1..end, base, tax, total })
}

/// The columns a header names, left to right; `None` if it names something else too.
fn columns(line: &Line) -> Option<Vec<Column>> {
    let mut named: Vec<(usize, usize, Column)> = Vec::new();
    for keyword in &line.keywords {
        let column = match keyword.kind {
            Kind::Subtotal => Column::Base,
            Kind::Tax | Kind::TaxTotal => Column::Tax,
            Kind::Total(_) => Column::Total,
            Kind::Rate => Column::Rate,
            _ => return None,
        };
        named.push((keyword.span.start, keyword.span.end, column));
    }
    named.extend(line.text.match_indices('%').map(|(at, _)| (at, at + 1, Column::Rate)));
    named.sort_by_key(|&(start, _, _)| start);
    // `% IVA`, `IVA %`, `TIPO IVA` name one rate column.
    let mut merged: Vec<(usize, usize, Column)> = Vec::new();
    for item in named {
        if let Some(previous) = merged.last_mut() {
            let pair = [previous.2, item.2];
            let adjacent = line.text.get(previous.1..item.0).is_some_and(|gap| gap.len() <= 1 && gap.trim().is_empty());
            if adjacent && pair.contains(&Column::Rate) && pair.contains(&Column::Tax) {
                *previous = (previous.0, item.1, Column::Rate);
                continue;
            }
        }
        merged.push(item);
    }
    let mut columns: Vec<Column> = merged.into_iter().map(|(_, _, c)| c).collect();
    // `IVA  BASE  CUOTA`: with two tax columns the first holds the rate.
    let taxes = columns.iter().filter(|c| **c == Column::Tax).count();
    let mut seen = 0;
    for column in &mut columns {
        if *column == Column::Tax {
            seen += 1;
            if seen < taxes {
                *column = Column::Rate;
            }
        }
    }
    Some(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line;

    fn money(text: &str) -> Money {
        let texts: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let lines: Vec<Line> = texts.iter().map(|t| Line::new(t, &line::scan(t), None)).collect();
        read(&lines)
    }

    fn d(mantissa: i64, scale: u32) -> Decimal {
        Decimal::new(mantissa, scale)
    }

    #[test]
    fn the_grand_total_wins_over_the_subtotal() {
        let m = money("SUBTOTAL 10,00\nIVA 21% 2,10\nTOTAL 12,10");
        assert_eq!(m.total, Some((d(1210, 2), Score(90))));
        assert_eq!(m.tax, Some((d(210, 2), Score(90))));
    }

    #[test]
    fn money_handed_over_and_change_are_never_the_total() {
        let m = money("PAN 1,20\nLECHE 0,95\nTOTAL 2,15\nEFECTIVO 5,00\nCAMBIO 2,85");
        assert_eq!(m.total, Some((d(215, 2), Score(95))));
    }

    #[test]
    fn the_amount_may_be_on_the_next_line() {
        let m = money("TOTAL A PAGAR\n23,45 €");
        assert_eq!(m.total, Some((d(2345, 2), Score(90))));
    }

    #[test]
    fn without_a_keyword_the_largest_amount_is_a_guess() {
        let m = money("CAFE 1,50\nTOSTADA 2,30\nEFECTIVO 10,00");
        assert_eq!(m.total, Some((d(230, 2), Score(30))));
        assert_eq!(m.total_line, Some(1));
        let m = money("CAFE 1,50\nTOSTADA 2,30\n3,80 €");
        assert_eq!(m.total, Some((d(380, 2), Score(45))));
    }

    #[test]
    fn a_tax_table_gives_base_tax_and_total() {
        let m = money("TOTAL 17,60\nIVA   BASE   CUOTA\n21%   10,00  2,10\n10%    5,00  0,50");
        assert_eq!(m.total, Some((d(1760, 2), Score(90))));
        assert_eq!(m.tax, Some((d(260, 2), Score(95))));
        let m = money("BASE IMP.  %IVA  CUOTA  TOTAL\n19,01  21,00  3,99  23,00");
        assert_eq!(m.total, Some((d(2300, 2), Score(85))));
        assert_eq!(m.tax, Some((d(399, 2), Score(95))));
    }

    #[test]
    fn several_tax_lines_are_summed() {
        let m = money("IVA 10% 0,50\nIVA 21% 2,10\nTOTAL 17,60");
        assert_eq!(m.tax, Some((d(260, 2), Score(75))));
    }

    #[test]
    fn equal_tax_lines_are_one_tax_printed_twice_when_that_adds_up() {
        let m = money("SUBTOTAL 10,00\nIVA 21% 2,10\nTOTAL 12,10\nIVA 2,10");
        assert_eq!(m.tax, Some((d(210, 2), Score(80))));
        let m = money("Room 100.00\nTax 10.00\nRoom 100.00\nTax 10.00\nTotal 220.00");
        assert_eq!(m.tax, Some((d(2000, 2), Score(75))));
    }

    #[test]
    fn a_tax_larger_than_the_total_is_dropped() {
        let m = money("TOTAL 2,10\nIVA 12,10");
        assert_eq!(m.tax, None);
    }

    #[test]
    fn the_tax_is_derived_when_only_subtotal_and_total_are_given() {
        let m = money("Subtotal 10.00\nTotal 10.80");
        assert_eq!(m.tax, Some((d(80, 2), Score(55))));
        let m = money("Subtotal 10.00\nTip 2.00\nTotal 12.00");
        assert_eq!(m.tax, None);
    }

    #[test]
    fn the_total_is_derived_from_subtotal_and_tax_when_missing() {
        let m = money("Subtotal 10.00\nVAT 2.00");
        assert_eq!(m.total, Some((d(1200, 2), Score(50))));
    }

    #[test]
    fn items_summing_to_the_total_raise_its_confidence() {
        let m = money("CAFE 1,50\nTOSTADA 2,30\nTOTAL 3,80");
        assert_eq!(m.total, Some((d(380, 2), Score(90))));
        let m = money("CAFE 1,50\nTOSTADA 2,30\nTOTAL 4,80");
        assert_eq!(m.total, Some((d(480, 2), Score(80))));
    }

    #[test]
    fn a_card_line_repeating_the_total_raises_its_confidence() {
        let m = money("TOTAL 4,80\nTARJETA 4,80");
        assert_eq!(m.total, Some((d(480, 2), Score(85))));
        let m = money("ENTREGADO 50,00\nCAMBIO 5,00\nTOTAL 45,00");
        assert_eq!(m.total, Some((d(4500, 2), Score(85))));
    }

    #[test]
    fn without_a_total_line_a_card_payment_of_the_items_is_the_total() {
        let m = money("1 CAFE 1,20\n1 TOSTADA 2,00\nTARJETA 3,20");
        assert_eq!(m.total, Some((d(320, 2), Score(55))));
    }
}
