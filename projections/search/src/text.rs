//! What a query says: [`SearchText`], its words and amounts, and the forms they take in SQL.
//!
//! A query is split on white space. A piece shaped like an amount (`12.50`, `12,50`, `€12.50`,
//! `-7`) is an amount term; anything else is cut into words at every character that is not a
//! letter or a digit, as PostgreSQL's parser cuts the documents. `<cake>` is the word `cake`:
//! the documents' `<` and `>` are spaces before the parser reads them, or it would take
//! `<cake>` for a tag and drop it (ADR 0031). Words are normalised (lower case, accents
//! dropped) by PostgreSQL, with the same dictionary the documents went through.

use cashflow_domain::ValidationError;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The longest query served, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// The most words and amounts a query may hold: each one is a few index probes.
pub const MAX_QUERY_TERMS: usize = 32;
/// A word this long or longer also finds the words one typo away.
pub const TYPO_MIN_LETTERS: usize = 5;

/// What a person typed, parsed: the words and amounts every hit must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    words: Vec<String>,
    amounts: Vec<AmountTerm>,
    /// Something was typed, even if only punctuation: such a query finds nothing.
    typed: bool,
}

/// An amount in the query: movements of that amount match, and so do documents whose text
/// holds the number as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountTerm {
    pub value: Decimal,
    /// The number's integer part and, if one was typed, its decimals: `12.50` is `("12", Some("50"))`.
    pub integer: String,
    pub decimals: Option<String>,
}

impl SearchText {
    /// Parses the `query` field. Longer than [`MAX_QUERY_CHARS`] or more than
    /// [`MAX_QUERY_TERMS`] words and amounts is an error naming `field`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(ValidationError::new(field, format!("at most {MAX_QUERY_CHARS} characters")));
        }
        let mut text = Self { typed: !raw.trim().is_empty(), ..Self::default() };
        for piece in raw.split_whitespace() {
            if let Some(amount) = AmountTerm::parse(piece) {
                if !text.amounts.contains(&amount) {
                    text.amounts.push(amount);
                }
                continue;
            }
            for word in piece.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                let word = word.to_lowercase();
                if !text.words.contains(&word) {
                    text.words.push(word);
                }
            }
        }
        if text.words.len() + text.amounts.len() > MAX_QUERY_TERMS {
            return Err(ValidationError::new(field, format!("at most {MAX_QUERY_TERMS} words and amounts")));
        }
        Ok(text)
    }

    /// The words, lower-cased, each once, in the order typed.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn amounts(&self) -> &[AmountTerm] {
        &self.amounts
    }

    /// Nothing typed: the filters alone select.
    pub fn is_blank(&self) -> bool {
        !self.typed
    }

    /// Something typed, but no word or amount in it (only punctuation): nothing matches.
    pub fn matches_nothing(&self) -> bool {
        self.typed && self.words.is_empty() && self.amounts.is_empty()
    }
}

impl AmountTerm {
    fn parse(piece: &str) -> Option<Self> {
        let number = piece.trim_start_matches(['-', '+']).trim_matches(['€', '$', '£']);
        let (integer, decimals) = match number.split_once(['.', ',']) {
            Some((integer, decimals)) => (integer, Some(decimals)),
            None => (number, None),
        };
        let digits = |s: &str, most: usize| !s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit());
        // A bare number is an amount too (`12`); Decimal holds 28 digits, amounts need far fewer.
        if !digits(integer, 15) || decimals.is_some_and(|d| !digits(d, 4)) {
            return None;
        }
        let value = Decimal::from_str(&format!("{integer}.{}", decimals.unwrap_or("0"))).ok()?.normalize();
        Some(Self { value, integer: integer.to_owned(), decimals: decimals.map(str::to_owned) })
    }

    /// The tsquery that finds the number in a document's text: `'12.50'`, or `'12' <-> '50'`
    /// for text that writes it `12,50` (PostgreSQL's parser cuts it in two there).
    pub fn text_query(&self) -> String {
        match &self.decimals {
            Some(decimals) => format!(
                "{} | ({} <-> {})",
                quote_lexeme(&format!("{}.{decimals}", self.integer)),
                quote_lexeme(&self.integer),
                quote_lexeme(decimals)
            ),
            None => quote_lexeme(&self.integer),
        }
    }
}

/// `lexeme` as a tsquery operand, matched as it is (no dictionary applied).
pub fn quote_lexeme(lexeme: &str) -> String {
    let mut quoted = String::with_capacity(lexeme.len() + 2);
    quoted.push('\'');
    for c in lexeme.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

/// Whether a word of the query may have been mistyped for another: long enough, and letters.
pub fn may_be_mistyped(word: &str) -> bool {
    word.chars().filter(|c| c.is_alphabetic()).count() >= TYPO_MIN_LETTERS
}

/// Whether `a` becomes `b` by at most one typo: a letter added, dropped, changed, or two
/// neighbours swapped (the optimal string alignment distance is at most 1).
pub fn within_one_typo(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let start = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    if start == short.len() {
        // Equal, or one letter added at the end.
        return true;
    }
    if short.len() == long.len() {
        let changed = short[start + 1..] == long[start + 1..];
        let swapped = start + 1 < short.len()
            && short[start] == long[start + 1]
            && short[start + 1] == long[start]
            && short[start + 2..] == long[start + 2..];
        changed || swapped
    } else {
        short[start..] == long[start + 1..]
    }
}

/// Marks ts_headline puts around a matched word, from Unicode's private use area: text cannot
/// forge them (they are removed from it first), and [`render_highlight`] turns them into tags.
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// What `<` and `>` are in the text ts_headline reads: characters its parser takes for spaces,
/// as the documents' brackets are spaces when indexed (ADR 0031), so a word in brackets is
/// highlighted; [`render_highlight`] writes them back as brackets. Removed from the text first,
/// as the marks are.
pub const ANGLE_OPEN: char = '\u{E003}';
pub const ANGLE_CLOSE: char = '\u{E004}';

/// A ts_headline fragment as HTML: the text escaped, the matched words in `<mark>`…`</mark>`.
/// `None` when nothing in it matched.
pub fn render_highlight(fragment: &str) -> Option<String> {
    if !fragment.contains(MARK_START) {
        return None;
    }
    let mut html = String::with_capacity(fragment.len() + 16);
    for c in fragment.trim().chars() {
        match c {
            MARK_START => html.push_str("<mark>"),
            MARK_END => html.push_str("</mark>"),
            '&' => html.push_str("&amp;"),
            '<' | ANGLE_OPEN => html.push_str("&lt;"),
            '>' | ANGLE_CLOSE => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
    Some(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> SearchText {
        SearchText::parse("query", raw).unwrap()
    }

    #[test]
    fn words_are_cut_at_punctuation_lower_cased_and_kept_once() {
        let text = parse("  Café, coca-cola CAFÉ o'Brien  ");
        assert_eq!(text.words(), ["café", "coca", "cola", "o", "brien"]);
        assert!(text.amounts().is_empty());
        assert!(!text.is_blank() && !text.matches_nothing());
    }

    #[test]
    fn amounts_are_read_with_a_point_or_a_comma_and_a_currency_sign() {
        let text = parse("12.50 12,50 €7 -3.1 +4 1.23456 12.5.6");
        let values: Vec<String> = text.amounts().iter().map(|a| a.value.to_string()).collect();
        assert_eq!(values, ["12.5", "7", "3.1", "4"], "12,50 is 12.50 again");
        assert_eq!(text.words(), ["1", "23456", "12", "5", "6"], "not amounts: cut into words");
        assert_eq!(text.amounts()[0].text_query(), "'12.50' | ('12' <-> '50')");
        assert_eq!(text.amounts()[1].text_query(), "'7'");
    }

    #[test]
    fn a_blank_query_selects_by_the_filters_and_punctuation_alone_matches_nothing() {
        assert!(parse("").is_blank());
        assert!(parse(" \t").is_blank());
        let punctuation = parse("?!. -- ,");
        assert!(!punctuation.is_blank());
        assert!(punctuation.matches_nothing());
    }

    #[test]
    fn a_query_too_long_or_with_too_many_terms_is_refused_naming_the_field() {
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        let error = SearchText::parse("query", &long).unwrap_err();
        assert_eq!(error.field, "query");
        assert!(SearchText::parse("query", &"é".repeat(MAX_QUERY_CHARS)).is_ok(), "characters, not bytes");
        let many: Vec<String> = (0..=MAX_QUERY_TERMS).map(|i| format!("w{i}")).collect();
        let error = SearchText::parse("query", &many.join(" ")).unwrap_err();
        assert_eq!(error.field, "query");
    }

    #[test]
    fn lexemes_are_quoted_for_tsquery() {
        assert_eq!(quote_lexeme("cafe"), "'cafe'");
        assert_eq!(quote_lexeme("o'brien\\"), "'o''brien\\\\'");
    }

    #[test]
    fn one_typo_is_a_letter_added_dropped_changed_or_two_swapped() {
        for (a, b) in [
            ("groceries", "groseries"),
            ("groceries", "grocerie"),
            ("groceries", "grocceries"),
            ("groceries", "rgoceries"),
            ("groceries", "groceries"),
            ("mango", "mnago"),
            ("mango", "manog"),
            ("mango", "mangos"),
            ("mango", "mang"),
        ] {
            assert!(within_one_typo(a, b), "{a} {b}");
            assert!(within_one_typo(b, a), "{b} {a}");
        }
        for (a, b) in [("groceries", "grosseries"), ("groceries", "gorcereis"), ("mango", "man"), ("mango", "mnaog")] {
            assert!(!within_one_typo(a, b), "{a} {b}");
            assert!(!within_one_typo(b, a), "{b} {a}");
        }
        assert!(!within_one_typo("mango", "tango1"));
        assert!(!within_one_typo("café", "cafeteria"));
    }

    #[test]
    fn only_words_of_five_letters_or_more_may_be_mistyped() {
        assert!(may_be_mistyped("mango"));
        assert!(!may_be_mistyped("cafe"));
        assert!(!may_be_mistyped("12345"));
    }

    #[test]
    fn a_highlight_is_escaped_html_with_marks_and_nothing_without_a_match() {
        let fragment = format!("{MARK_START}Café{MARK_END} <b>&\"'");
        assert_eq!(render_highlight(&fragment).unwrap(), "<mark>Café</mark> &lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(render_highlight("no match here"), None);
        let bracketed = format!("Tea & {ANGLE_OPEN}{MARK_START}cake{MARK_END}{ANGLE_CLOSE}");
        assert_eq!(render_highlight(&bracketed).unwrap(), "Tea &amp; &lt;<mark>cake</mark>&gt;");
    }

    #[test]
    fn words_in_angle_brackets_are_words() {
        assert_eq!(parse("<cake>").words(), ["cake"]);
        assert_eq!(parse("Tea&<cake> <b>bold</b>").words(), ["tea", "cake", "b", "bold"]);
        assert!(parse("<>").matches_nothing());
    }
}
