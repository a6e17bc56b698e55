//! X's weighted length (twitter-text config v3), the unit X's 280 limit is counted in.
//!
//! NFC first; every URL counts 23; an emoji sequence (ZWJ families, flags, keycaps, skin tones,
//! variation selectors) counts 2; any other code point counts 1 in the Latin-to-Georgian range
//! (U+0000-U+10FF) and a few punctuation ranges, else 2. Tested against the twitter-text
//! conformance vectors. A few lines we own beat the `twitter-text` crate, which needs a C++
//! toolchain through `cxx`.
//!
//! One deliberate difference: a bare domain (`status.example.com`) counts at least 23, as X
//! counts it when its TLD is valid, so the count never comes out short.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

pub(crate) const X_LIMIT: usize = 280;
const URL_WEIGHT: usize = 23;

/// The weighted length of `text` as X counts it.
pub(crate) fn weighted_length(text: &str) -> usize {
    let text: String = text.nfc().collect();
    let mut total = 0;
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        total += word_weight(word);
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        total += graphemes_weight(&after[..space_end]);
        rest = &after[space_end..];
    }
    total
}

fn word_weight(word: &str) -> usize {
    for scheme in ["https://", "http://"] {
        if let Some(at) = word.to_ascii_lowercase().find(scheme) {
            let (before, url) = word.split_at(at);
            let url_end = url.len() - trailing_punctuation(url);
            return graphemes_weight(before) + URL_WEIGHT + graphemes_weight(&url[url_end..]);
        }
    }
    let end = word.len() - trailing_punctuation(word);
    if looks_like_domain(&word[..end]) {
        return graphemes_weight(word).max(URL_WEIGHT + graphemes_weight(&word[end..]));
    }
    graphemes_weight(word)
}

fn trailing_punctuation(word: &str) -> usize {
    word.len()
        - word
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\''])
            .len()
}

fn looks_like_domain(word: &str) -> bool {
    let host = word.split('/').next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Mastodon's length: grapheme clusters, every `http(s)://` URL counting `per_url`
/// (`characters_reserved_per_url`), as its status length validator counts.
pub(crate) fn mastodon_length(text: &str, per_url: usize) -> usize {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        total += match url_in(word) {
            Some((before, url_end)) => {
                before.graphemes(true).count() + per_url + word[url_end..].graphemes(true).count()
            }
            None => word.graphemes(true).count(),
        };
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        total += after[..space_end].graphemes(true).count();
        rest = &after[space_end..];
    }
    total
}

/// Where a URL starts in a word, and where it ends (trailing punctuation left out).
fn url_in(word: &str) -> Option<(&str, usize)> {
    let lower = word.to_ascii_lowercase();
    let at = ["https://", "http://"]
        .iter()
        .filter_map(|scheme| lower.find(scheme))
        .min()?;
    let end = word.len() - trailing_punctuation(word);
    (end > at).then(|| (&word[..at], end))
}

/// Every `http(s)://` URL in `text`, as byte ranges (trailing punctuation left out): where
/// Bluesky's link facets point.
pub(crate) fn url_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut offset = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        if let Some((before, end)) = url_in(trimmed) {
            ranges.push(offset + before.len()..offset + end);
        }
        offset += word.len();
    }
    ranges
}

/// Bluesky's length: grapheme clusters (and at most 3,000 UTF-8 bytes, checked apart).
pub(crate) fn graphemes(text: &str) -> usize {
    text.graphemes(true).count()
}

fn graphemes_weight(text: &str) -> usize {
    text.graphemes(true).map(grapheme_weight).sum()
}

fn grapheme_weight(grapheme: &str) -> usize {
    let mut chars = grapheme.chars();
    let first = chars.next().unwrap_or(' ');
    let is_sequence = grapheme.chars().count() > 1
        && grapheme.chars().any(|c| {
            matches!(c, '\u{200D}' | '\u{FE0F}' | '\u{20E3}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{1F1E6}'..='\u{1F1FF}' | '\u{E0020}'..='\u{E007F}')
        });
    if is_sequence {
        2
    } else {
        grapheme
            .chars()
            .map(char_weight)
            .sum::<usize>()
            .max(char_weight(first))
    }
}

fn char_weight(c: char) -> usize {
    match u32::from(c) {
        0..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// twitter-text `conformance/validate.yml`, WeightedTweetsWithDiscountedEmojiCounterTest.
    #[test]
    fn conformance_vectors() {
        assert_eq!(weighted_length("Hi http://test.co"), 26);
        assert_eq!(weighted_length("http://test.co"), 23);
        assert_eq!(weighted_length("H🐱☺👨‍👩‍👧‍👦"), 7);
        assert_eq!(weighted_length("😷👾😡🔥💩"), 10);
        let cjk = "名".repeat(160);
        assert_eq!(weighted_length(&cjk), 320);

        let families = "👨‍👩‍👧‍👦".repeat(140);
        assert_eq!(weighted_length(&families), 280);

        let invalid = "ABC\u{202A}\u{FFFF}ABC\u{FFFE}";
        assert_eq!(weighted_length(invalid), 12);
    }

    /// Mastodon counts grapheme clusters, each URL as 23 (`characters_reserved_per_url`).
    #[test]
    fn mastodon_counts_graphemes_and_urls_as_23() {
        assert_eq!(mastodon_length("Hi http://test.co", 23), 3 + 23);
        assert_eq!(
            mastodon_length(
                "See https://status.example.com/incidents/a-very-long-id.",
                23
            ),
            4 + 23 + 1
        );
        assert_eq!(mastodon_length("👨‍👩‍👧‍👦 日本語 é", 23), 1 + 1 + 3 + 1 + 1);
        assert_eq!(
            mastodon_length("status.example.com", 23),
            18,
            "a bare domain is text"
        );
        assert_eq!(mastodon_length("", 23), 0);
    }

    #[test]
    fn url_ranges_are_byte_offsets_without_trailing_punctuation() {
        let text = "Café 🚨 https://status.example.com/x. Then http://a.b/c";
        let ranges = url_ranges(text);
        let found: Vec<&str> = ranges.iter().map(|range| &text[range.clone()]).collect();
        assert_eq!(found, ["https://status.example.com/x", "http://a.b/c"]);
        assert_eq!(ranges[0].start, "Café 🚨 ".len());
    }

    #[test]
    fn nfc_urls_flags_and_domains() {
        assert_eq!(weighted_length("e\u{301}"), 1, "NFC makes one é");
        assert_eq!(weighted_length("🇫🇷 ok"), 5);
        assert_eq!(weighted_length("❤️"), 2);
        assert_eq!(
            weighted_length("See https://status.example.com/incidents/2026-11-22-login."),
            4 + 23 + 1
        );
        assert_eq!(weighted_length("status.example.com"), 23);
        assert_eq!(weighted_length("v2.0 e.g."), 9);
        assert_eq!(weighted_length("日本語"), 6);
        assert_eq!(weighted_length(""), 0);
    }
}
