//! Cleaning text before anything renders or prints it: what people type or paste (terminal
//! colours, a NUL, a form feed, a right-to-left override) and what remote servers answer.
//!
//! Control characters would make the Atom feed invalid XML, reorder a banner or an email subject
//! on screen, or drive the terminal of whoever reads the report. Line feeds stay (a message may
//! have paragraphs); tabs become spaces; everything else invisible and controlling goes.

/// Cleans a text that may span lines.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if is_unwanted(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Cleans a text that must be one line: every run of whitespace becomes one space.
pub(crate) fn one_line(text: &str) -> String {
    clean(text).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_unwanted(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidirectional embeddings, overrides and isolates, and the marks.
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            // Byte order mark and noncharacters.
            | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            // Line and paragraph separators, which XML and JSON readers treat unevenly.
            | '\u{2028}' | '\u{2029}'
        )
}

/// Skips the rest of an escape sequence after ESC: CSI (`ESC [ … final`), OSC (`ESC ] … BEL` or
/// `ESC \`), or a two-character sequence.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']' | 'P' | '_' | '^') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                    chars.next();
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn pasted_terminal_colours_and_controls_go() {
        assert_eq!(
            clean("\u{1b}[31mDown\u{1b}[0m\u{0}\u{c} now\r\nnext\tline"),
            "Down now\nnext line"
        );
        assert_eq!(clean("abc\u{202e}def"), "abcdef");
        assert_eq!(clean("\u{1b}]0;title\u{7}ok"), "ok");
        assert_eq!(one_line("a\n\n b"), "a b");
        assert_eq!(
            clean("Plain text, with é and 日本"),
            "Plain text, with é and 日本"
        );
    }

    proptest! {
        #[test]
        fn nothing_controlling_survives(text in "\\PC*|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}a ]{0,40}") {
            let cleaned = clean(&text);
            prop_assert!(cleaned.chars().all(|c| c == '\n' || !is_unwanted(c)), "{cleaned:?}");
            prop_assert_eq!(clean(&cleaned), cleaned.clone(), "cleaning is idempotent");
        }
    }
}
