//! Fitting a rendering to a channel's limit without losing a fact.
//!
//! Only the message is ever shortened, at a word boundary. On a channel with reply threads (X,
//! Mastodon, Bluesky), when the facts themselves do not fit one post next to a useful part of the
//! message, the update continues as replies to itself: numbered posts, each fact whole in one of
//! them, the message whole across them.

use crate::wording::count;
use crate::wording::facts::Facts;
use crate::wording::render::shorten;
use crate::wording::rules::{Finding, RuleId};

/// How a channel measures its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Measure {
    Chars(usize),
    /// X's weighted length.
    XWeighted(usize),
    /// Mastodon's: grapheme clusters, each URL counting `url`.
    Mastodon {
        limit: usize,
        url: usize,
    },
    /// Bluesky's: grapheme clusters, and at most `bytes` UTF-8 bytes.
    Graphemes {
        limit: usize,
        bytes: usize,
    },
    Unlimited,
}

impl Measure {
    pub(crate) fn length(self, text: &str) -> usize {
        match self {
            Measure::Chars(_) => text.chars().count(),
            Measure::XWeighted(_) => count::weighted_length(text),
            Measure::Mastodon { url, .. } => count::mastodon_length(text, url),
            Measure::Graphemes { .. } => count::graphemes(text),
            Measure::Unlimited => 0,
        }
    }

    pub(crate) fn fits(self, text: &str) -> bool {
        match self {
            Measure::Chars(limit) | Measure::XWeighted(limit) | Measure::Mastodon { limit, .. } => {
                self.length(text) <= limit
            }
            Measure::Graphemes { limit, bytes } => {
                text.len() <= bytes && self.length(text) <= limit
            }
            Measure::Unlimited => true,
        }
    }

    /// A length in this measure's unit: `2453 characters`.
    pub(crate) fn count(self, length: usize) -> String {
        match self {
            Measure::Chars(_) | Measure::Unlimited => format!("{length} characters"),
            Measure::XWeighted(_) => format!("{length} (X's weighted length)"),
            Measure::Mastodon { .. } => format!("{length} characters (each link 23)"),
            Measure::Graphemes { .. } => format!("{length} graphemes"),
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Measure::Chars(limit) => format!("{limit} characters"),
            Measure::XWeighted(limit) => format!("{limit} (X's weighted length)"),
            Measure::Mastodon { limit, .. } => format!("{limit} characters (each link 23)"),
            Measure::Graphemes { limit, .. } => format!("{limit} graphemes"),
            Measure::Unlimited => "no limit".into(),
        }
    }
}

/// Renders with the whole message, then shortens only the message until the text fits; `None`
/// when even no message is too long.
fn shortest_fit(
    measure: Measure,
    facts: &Facts,
    floor: usize,
    render: &dyn Fn(&Facts) -> Result<String, Finding>,
) -> Result<Option<String>, Finding> {
    let full = render(facts)?;
    if measure.fits(&full) {
        return Ok(Some(full));
    }
    let render_with = |chars: usize| {
        let mut shortened = facts.clone();
        shortened.message = shorten(&facts.message, chars);
        render(&shortened)
    };
    let (mut low, mut high) = (floor, facts.message.chars().count());
    let mut best = None;
    while low <= high {
        let middle = (low + high) / 2;
        let text = render_with(middle)?;
        if measure.fits(&text) {
            best = Some(text);
            low = middle + 1;
        } else if middle == 0 {
            break;
        } else {
            high = middle - 1;
        }
    }
    Ok(best)
}

/// `too-long`, saying how long the rendering is with no message at all.
fn too_long(
    measure: Measure,
    facts: &Facts,
    render: &dyn Fn(&Facts) -> Result<String, Finding>,
) -> Finding {
    let bare = Facts {
        message: String::new(),
        ..facts.clone()
    };
    let length = render(&bare).map_or(0, |text| measure.length(&text));
    Finding::new(
        RuleId::TooLong,
        format!(
            "the rendering is {} even with no message, over the channel's limit of {}; shorten \
             the title, compensation or template",
            measure.count(length),
            measure.describe()
        ),
    )
}

/// Fits a single text: the message shortened as needed, else `too-long`.
pub(crate) fn fitted(
    measure: Measure,
    facts: &Facts,
    render: &dyn Fn(&Facts) -> Result<String, Finding>,
) -> Result<String, Finding> {
    shortest_fit(measure, facts, 0, render)?.ok_or_else(|| too_long(measure, facts, render))
}

/// How much of the message one post keeps before the update becomes a thread instead.
const MESSAGE_FLOOR: usize = 60;

/// Fits an update into the posts of a channel with reply threads. One post when the facts fit
/// beside at least a useful part of the message (the message shortened); otherwise a numbered
/// thread in the built-in layout, the message whole and each fact whole in one post. A channel's
/// own template is never split: it fits one post or is `too-long`.
pub(crate) fn threaded(
    measure: Measure,
    facts: &Facts,
    custom: bool,
    render: &dyn Fn(&Facts) -> Result<String, Finding>,
) -> Result<Vec<String>, Finding> {
    let floor = facts.message.chars().count().min(MESSAGE_FLOOR);
    if let Some(text) = shortest_fit(measure, facts, floor, render)? {
        return Ok(vec![text]);
    }
    if custom {
        return Err(too_long(measure, facts, render));
    }
    pack(measure, facts)
}

/// The sentences of the built-in short layout (`short.txt`), fact by fact.
fn sentences(facts: &Facts) -> (String, String, Vec<String>) {
    let head = format!("{}: {}.", facts.status_label, facts.title);
    let body = if facts.correction && !facts.message.starts_with("Correction") {
        format!("Correction: {}", facts.message)
    } else {
        facts.message.clone()
    };
    let mut rest = Vec::new();
    match (&facts.starts, &facts.ends) {
        (Some(starts), Some(ends)) => rest.push(format!("Window: {starts} to {ends}.")),
        (Some(starts), None) => rest.push(format!("Window: from {starts}.")),
        (None, Some(ends)) => rest.push(format!("Window: until {ends}.")),
        (None, None) => {}
    }
    if let Some(impact) = facts.impact {
        rest.push(format!("Impact: {impact}."));
    }
    if !facts.components.is_empty() {
        rest.push(format!("Affected: {}.", facts.components.join(", ")));
    }
    if let Some(eta) = &facts.eta {
        rest.push(format!("Estimated fix: {eta} (estimate)."));
    }
    if let Some(next) = &facts.next_update {
        rest.push(format!("Next update by {next}."));
    }
    if let Some(compensation) = &facts.compensation {
        rest.push(compensation.clone());
    }
    if let Some(link) = &facts.link {
        rest.push(link.clone());
    }
    (head, body, rest)
}

/// Packs the head, the message (split at words) and the fact sentences (whole) into numbered
/// posts, each within the limit with its ` (k/n)` mark.
fn pack(measure: Measure, facts: &Facts) -> Result<Vec<String>, Finding> {
    let (head, body, rest) = sentences(facts);
    let mut total = 2;
    for _ in 0..8 {
        let parts = pack_into(measure, total, &head, &body, &rest)?;
        if parts.len() <= total {
            let count = parts.len();
            return Ok(parts
                .into_iter()
                .enumerate()
                .map(|(index, part)| format!("{part} ({}/{count})", index + 1))
                .collect());
        }
        total = parts.len();
    }
    Err(Finding::new(
        RuleId::TooLong,
        "the update needs too many posts; shorten the message",
    ))
}

fn pack_into(
    measure: Measure,
    total: usize,
    head: &str,
    body: &str,
    rest: &[String],
) -> Result<Vec<String>, Finding> {
    let mark = format!(" ({total}/{total})");
    let fits = |text: &str| measure.fits(&format!("{text}{mark}"));
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let push = |piece: &str, parts: &mut Vec<String>, current: &mut String| {
        let joined = if current.is_empty() {
            piece.to_owned()
        } else {
            format!("{current} {piece}")
        };
        if fits(&joined) {
            *current = joined;
            return Ok(());
        }
        if !fits(piece) {
            return Err(Finding::new(
                RuleId::TooLong,
                format!(
                    "\"{}\" alone is over the channel's limit of {}; shorten it",
                    shorten(piece, 40),
                    measure.describe()
                ),
            ));
        }
        if !current.is_empty() {
            parts.push(std::mem::take(current));
        }
        *current = piece.to_owned();
        Ok(())
    };
    push(head, &mut parts, &mut current)?;
    for word in body.split_whitespace() {
        push(word, &mut parts, &mut current)?;
    }
    for sentence in rest {
        push(sentence, &mut parts, &mut current)?;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(message: &str, compensation: Option<&str>) -> Facts {
        Facts {
            organization: "Example".into(),
            incident: "i".into(),
            sequence: 1,
            kind: "maintenance",
            status: "scheduled",
            status_label: "Scheduled maintenance",
            title: "Database upgrade".into(),
            message: message.into(),
            components: vec!["API".into(), "Dashboard".into()],
            impact: Some("major"),
            eta: None,
            next_update: None,
            starts: Some("Tue 24 Nov 02:00 CET".into()),
            ends: Some("Tue 24 Nov 03:00 CET".into()),
            compensation: compensation.map(str::to_owned),
            internal_note: None,
            correction: false,
            link: Some("https://status.example.com/incidents/2026-11-22-database-upgrade".into()),
        }
    }

    #[test]
    fn a_thread_keeps_every_fact_whole_in_one_post() {
        let long = "We upgrade the primary database to a new major version; the dashboard is read-only meanwhile and API writes are queued.";
        let compensation = "Customers on the Enterprise plan who cannot use the dashboard during the window get a day of service credit on request.";
        let facts = facts(long, Some(compensation));
        let measure = Measure::XWeighted(280);
        let posts = pack(measure, &facts).unwrap();
        assert!(posts.len() >= 2, "{posts:?}");
        for (index, post) in posts.iter().enumerate() {
            assert!(measure.fits(post), "{post}");
            assert!(post.ends_with(&format!("({}/{})", index + 1, posts.len())));
        }
        for needle in [
            "Tue 24 Nov 02:00 CET to Tue 24 Nov 03:00 CET",
            compensation,
            "https://status.example.com/incidents/2026-11-22-database-upgrade",
            "Impact: major",
            "Affected: API, Dashboard.",
        ] {
            assert!(posts.iter().any(|post| post.contains(needle)), "{needle}");
        }
        let words: Vec<&str> = posts.iter().flat_map(|p| p.split_whitespace()).collect();
        for word in long.split_whitespace() {
            assert!(words.contains(&word), "the message lost {word}");
        }
    }
}
