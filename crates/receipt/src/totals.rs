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
//! | total − subtotal, no tax line | | 0.55 |
//! | the largest amount, no keyword at all | 0.30 | |
//!
//! Adjustments: +0.05 for a currency written on the amount; −0.05 when the amount is on the
//! line below the keyword; −0.10 for an integer without currency; +0.10 when subtotal + tax =
//! total (raises both); +0.10 when the item lines above sum to it; +0.05 when a card or cash
//! line repeats it; −0.10 when another total close in confidence disagrees. Never
//! `CAMBIO`/`EFECTIVO`/`TARJETA`/`CHANGE`/`CASH`/`CARD` lines: they are money handed over.

use std::collections::HashSet;

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

/// Everything the keyword lines say, before any choice is made.
#[derive(Default)]
struct Evidence {
    totals: Vec<Candidate>,
    subtotals: Vec<Decimal>,
    taxes: Vec<Decimal>,
    tax_totals: Vec<Decimal>,
    tax_included: Vec<Decimal>,
    tenders: Vec<Decimal>,
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
    let items = items_sum(lines, &headers);
    let guess = largest(lines).map(|guess| {
        let above = sum_above(lines, guess.line);
        (guess, above)
    });
    evidence.decide(table_tax, items, guess)
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
            Kind::Tender => self.tenders.push(value),
            Kind::Other | Kind::Discount => self.others = true,
            _ => {}
        }
    }

    fn tax(&self, table_tax: Option<Decimal>) -> Option<(Decimal, Score)> {
        if let Some(&total) = self.tax_totals.first() {
            return Some((total, Score(85)));
        }
        if let Some(table) = table_tax {
            return Some((table, Score(85)));
        }
        if let Some(&first) = self.taxes.first() {
            return Some(if self.taxes.iter().all(|t| *t == first) {
                (first, Score(80))
            } else {
                (self.taxes.iter().sum(), Score(75))
            });
        }
        self.tax_included.first().map(|&t| (t, Score(60)))
    }

    /// Whether some subtotal (or all of them, for several tax rates) plus the tax is `total`.
    fn adds_up(&self, total: Decimal, tax: Option<Decimal>) -> bool {
        let Some(tax) = tax else { return false };
        let bases = &self.subtotals;
        bases.iter().any(|b| b + tax == total) || (bases.len() > 1 && bases.iter().sum::<Decimal>() + tax == total)
    }

    fn decide(mut self, table_tax: Option<Decimal>, items: Option<Decimal>, guess: Option<(Candidate, Option<Decimal>)>) -> Money {
        let tax = self.tax(table_tax).filter(|(t, _)| *t >= Decimal::ZERO);
        let tax_value = tax.map(|(t, _)| t);
        let mut derived_total = false;
        let (total, total_line) = if self.totals.is_empty() {
            match (self.subtotals.as_slice(), tax_value) {
                ([base], Some(t)) => {
                    derived_total = true;
                    let score = if items == Some(base + t) { Score(60) } else { Score(50) };
                    (Some((base + t, score)), None)
                }
                _ => match guess {
                    Some((guess, above)) => {
                        let mut score = guess.score;
                        if self.adds_up(guess.value, tax_value) {
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
                if self.adds_up(value, tax_value) {
                    candidate.score = candidate.score + 10;
                }
                if items == Some(value) {
                    candidate.score = candidate.score + 10;
                }
                if self.tenders.contains(&value) {
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
        let tax = match (tax, total) {
            (Some((t, _)), Some((total, _))) if t >= total => None,
            (Some((t, score)), Some((total, _))) if !derived_total && self.adds_up(total, Some(t)) => Some((t, score + 10)),
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
    let summary = |i: usize, line: &Line| {
        headers.contains(&i)
            || line.has(|k| matches!(k, Kind::Total(_) | Kind::Subtotal | Kind::Tax | Kind::TaxTotal | Kind::TaxIncluded))
    };
    let end = lines.iter().enumerate().position(|(i, line)| summary(i, line))?;
    sum_above(lines, end)
}

/// The item lines' sum before line `end`, as [`items_sum`] reads it.
fn sum_above(lines: &[Line], end: usize) -> Option<Decimal> {
    let mut sum = Decimal::ZERO;
    let mut count = 0;
    for line in &lines[..end] {
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
        assert_eq!(m.total, Some((d(215, 2), Score(90))));
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
    }
}
