//! The X emulator's own count of a post's weighted length, written from twitter-text's published
//! rules (config v3, ../shared/reference/apis.md §2), not from `outage`'s counter: NFC first; each
//! URL counts 23; an emoji sequence counts 2; any other code point counts 1 when its first UTF-16
//! unit falls in the config's ranges, else 2. Valid: 1 to 280, and none of U+FFFE, U+FEFF, U+FFFF.

use unicode_normalization::UnicodeNormalization;

const RANGES: [(u32, u32); 4] = [(0, 4351), (8192, 8205), (8208, 8223), (8242, 8247)];

/// The weighted length X gives `text`.
pub fn weighted_length(text: &str) -> usize {
    let text: String = text.nfc().collect();
    let url = regex_lite::Regex::new(r"(?i)https?://[^\s]+").unwrap();
    let mut total = 0;
    let mut last = 0;
    for found in url.find_iter(&text) {
        let link = found.as_str();
        let trimmed = link.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
        total += code_points(&text[last..found.start()]);
        total += 23;
        last = found.start() + trimmed.len();
    }
    total + code_points(&text[last..])
}

pub fn is_valid(text: &str) -> bool {
    let length = weighted_length(text);
    length > 0 && length <= 280 && !text.contains(['\u{FFFE}', '\u{FEFF}', '\u{FFFF}'])
}

fn is_emoji(c: char) -> bool {
    let code = c as u32;
    (0x1F300..=0x1FAFF).contains(&code)
        || (0x2600..=0x27BF).contains(&code)
        || (0x1F000..=0x1F2FF).contains(&code)
        || (0x1F1E6..=0x1F1FF).contains(&code)
        || matches!(
            code,
            0x231A | 0x231B | 0x23E9..=0x23F3 | 0x2B50 | 0x2B55 | 0x3030 | 0x303D
        )
}

fn joins(c: char) -> bool {
    matches!(c as u32, 0x200D | 0xFE0F | 0x20E3 | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F)
}

fn code_points(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut total = 0;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if is_emoji(c) {
            // One emoji sequence: ZWJ-joined emoji, modifiers, variation selectors, and a pair of
            // regional indicators (a flag).
            index += 1;
            let regional = (0x1F1E6..=0x1F1FF).contains(&(c as u32));
            if regional
                && index < chars.len()
                && (0x1F1E6..=0x1F1FF).contains(&(chars[index] as u32))
            {
                index += 1;
            }
            while index < chars.len() {
                if chars[index] == '\u{200D}' && index + 1 < chars.len() {
                    index += 2;
                } else if joins(chars[index]) {
                    index += 1;
                } else {
                    break;
                }
            }
            total += 2;
            continue;
        }
        let first_unit = c.encode_utf16(&mut [0; 2])[0] as u32;
        total += if RANGES
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&first_unit))
        {
            1
        } else {
            2
        };
        index += 1;
    }
    total
}

#[test]
fn the_published_conformance_vectors() {
    assert_eq!(weighted_length("Hi http://test.co"), 26);
    assert_eq!(weighted_length("http://test.co"), 23);
    assert_eq!(weighted_length("H🐱☺👨‍👩‍👧‍👦"), 7);
    assert_eq!(weighted_length("😷👾😡🔥💩"), 10);
    assert_eq!(weighted_length(&"名".repeat(160)), 320);
    assert_eq!(weighted_length(&"👨‍👩‍👧‍👦".repeat(140)), 280);
    assert!(!is_valid("ABC\u{202A}\u{FFFF}ABC\u{FFFE}"));
    assert_eq!(weighted_length("ABC\u{202A}\u{FFFF}ABC\u{FFFE}"), 12);
}
