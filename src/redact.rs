//! Redaction: the one step every text leaving an adapter passes (errors, notes, receipts) before
//! it reaches the report, the terminal or the journal.
//!
//! A remote side can echo what it was sent: an Express 404 page repeats the webhook URL's path
//! (and so its token), an SMTP server quotes the login, a proxy reflects the `Authorization`
//! header. Every secret value the channels were built with, and every secret URL's path and
//! query, is replaced by `[redacted]`, in the forms it travels in (as is, percent-encoded,
//! base64). Control characters are removed too: a hostile answer cannot drive the terminal.
//!
//! The needles are matched all at once (Aho-Corasick), so ten thousand subscriber URLs cost no
//! more per message than one.

use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The most needles a matcher is built with ahead of need: a few channels' secrets in their
/// forms (seven channels have about 80), not a list's URLs.
const PREPARED_NEEDLES: usize = 256;

/// Shorter values are not redacted: they would erase ordinary words (and services ask for
/// longer secrets).
const SHORTEST: usize = 8;

/// The secrets of this process's channels.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    needles: Vec<String>,
    /// Built on first use after the last addition.
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// Remembers a secret value, in every form it may travel in.
    pub(crate) fn add(&self, secret: &str) {
        self.add_forms([
            secret.to_owned(),
            percent_encoding::utf8_percent_encode(secret, UNRESERVED).to_string(),
            form_encode(secret),
            STANDARD.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            serde_json::to_string(secret)
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        ]);
    }

    /// Remembers a URL that carries a token: the whole URL, its path (and its last segments,
    /// which a server may show without the leading ones) and its query.
    pub(crate) fn add_url(&self, url: &reqwest::Url) {
        let mut forms = vec![url.as_str().to_owned()];
        let path = url.path().trim_matches('/');
        if !path.is_empty() {
            forms.push(url.path().to_owned());
            let segments: Vec<&str> = path.split('/').collect();
            for start in 1..segments.len() {
                forms.push(segments[start..].join("/"));
            }
        }
        forms.extend(url.query().map(str::to_owned));
        self.add_forms(forms);
    }

    fn add_forms(&self, forms: impl IntoIterator<Item = String>) {
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for form in forms {
            if form.len() >= SHORTEST {
                inner.needles.push(form);
            }
        }
        inner.matcher = None;
    }

    /// The text with every secret replaced and control characters removed.
    pub(crate) fn redact(&self, text: &str) -> String {
        // Before and after cleaning: removing a control character must not join a secret back.
        let once = self.replace(text);
        self.replace(&crate::wording::clean::one_line(&once))
    }

    /// Builds the matcher now, unless it is built or would be large: the first answer to
    /// come back would otherwise build it, and the answers behind it would wait. A list's
    /// thousands of URLs are left to the first text that needs them, which may never come (a
    /// webhook's answer leaves nothing to redact): built ahead, the matcher for 10,000
    /// subscribers each on a server of its own raised that benchmark row's peak by 6-7 MB.
    pub(crate) fn prepare(&self) {
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if inner.matcher.is_none() && (1..=PREPARED_NEEDLES).contains(&inner.needles.len()) {
            inner.matcher = Some(matcher(&inner.needles));
        }
    }

    fn replace(&self, text: &str) -> String {
        {
            let inner = self
                .inner
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if inner.needles.is_empty() {
                return text.to_owned();
            }
            if let Some(matcher) = &inner.matcher {
                return redact_with(matcher, text);
            }
        }
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let matcher = matcher(&inner.needles);
        let out = redact_with(&matcher, text);
        inner.matcher = Some(matcher);
        out
    }
}

/// A contiguous NFA: the DFA the crate picks for a few needles took a millisecond and a half to
/// build, to search texts of a few hundred bytes.
fn matcher(needles: &[String]) -> AhoCorasick {
    AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .match_kind(MatchKind::LeftmostLongest)
        .build(needles)
        .expect("literal needles always build")
}

fn redact_with(matcher: &AhoCorasick, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, out| {
        out.push_str("[redacted]");
        true
    });
    out
}

/// RFC 3986: every byte but the unreserved ones as `%XX` (how OAuth and most query strings
/// carry a value).
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn form_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_echoed_webhook_path_is_redacted() {
        let redactor = Redactor::default();
        let url =
            reqwest::Url::parse("https://hooks.slack.com/services/T0001/B0002/XyZsecretToken42")
                .unwrap();
        redactor.add_url(&url);
        assert_eq!(
            redactor.redact("404: Cannot POST /services/T0001/B0002/XyZsecretToken42\n"),
            "404: Cannot POST [redacted]"
        );
        assert_eq!(
            redactor.redact("unknown hook B0002/XyZsecretToken42"),
            "unknown hook [redacted]"
        );
        assert_eq!(redactor.redact("plain text"), "plain text");
    }

    #[test]
    fn every_form_of_a_secret_is_redacted() {
        let redactor = Redactor::default();
        redactor.add("p@ss word/42");
        for echo in [
            "535 bad user:p@ss word/42",
            "token=p%40ss%20word%2F42",
            "token=p%40ss+word%2F42",
            &format!("basic {}", STANDARD.encode("p@ss word/42")),
        ] {
            assert!(!redactor.redact(echo).contains("word"), "{echo}");
        }
    }

    #[test]
    fn a_list_s_matcher_is_not_built_ahead() {
        let redactor = Redactor::default();
        for n in 0..PREPARED_NEEDLES {
            redactor.add_forms([format!("https://hooks.example.com/{n:08}")]);
        }
        redactor.prepare();
        assert!(redactor.inner.read().unwrap().matcher.is_some());
        redactor.add_forms([String::from("https://hooks.example.com/one-more")]);
        redactor.prepare();
        assert!(redactor.inner.read().unwrap().matcher.is_none());
        assert_eq!(
            redactor.redact("no https://hooks.example.com/one-more"),
            "no [redacted]"
        );
    }

    proptest! {
        /// Whatever surrounds a secret, it never survives redaction.
        #[test]
        fn no_secret_survives(secret in "[!-~]{8,40}", before in "\\PC{0,30}", after in "\\PC{0,30}") {
            let redactor = Redactor::default();
            redactor.add(&secret);
            let redacted = redactor.redact(&format!("{before}{secret}{after}"));
            prop_assert!(!redacted.contains(&secret), "{redacted}");
        }

        /// A matcher built ahead (as `post` does while it records) redacts as the one the
        /// first text builds; a secret added after it is not missed.
        #[test]
        fn a_prepared_redactor_redacts_the_same(
            base in "[ab]{12,16}",
            lengths in proptest::collection::vec(8usize..=12, 1..4),
            late in "[ab]{8,12}",
            picks in proptest::collection::vec((0usize..5, "[ab ]{0,4}"), 0..8),
        ) {
            // Prefixes of one string: secrets that overlap, as tokens of one account may.
            let secrets: Vec<String> = lengths.iter().map(|&n| base[..n].to_owned()).collect();
            let text: String = picks
                .iter()
                .map(|(pick, filler)| {
                    let piece = secrets.get(*pick).map_or(late.as_str(), String::as_str);
                    format!("{filler}{piece}")
                })
                .collect();
            let (lazy, prepared) = (Redactor::default(), Redactor::default());
            for secret in &secrets {
                lazy.add(secret);
                prepared.add(secret);
            }
            prepared.prepare();
            prop_assert_eq!(prepared.redact(&text), lazy.redact(&text));
            lazy.add(&late);
            prepared.add(&late);
            let redacted = prepared.redact(&text);
            prop_assert_eq!(&redacted, &lazy.redact(&text));
            prop_assert!(!redacted.contains(&late), "{}", redacted);
        }
    }
}
