//! What people and scripts see: the progress while sending, the final table, the findings, and
//! the same facts as JSON for `--json`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::dispatch::{Progress, humanize};
use crate::journal::{Delivery, Outcome, State};
use crate::style::{Stream, Tone, paint};
use crate::update::Update;
use crate::wording::counted;
use crate::wording::rules::{Finding, Severity};

/// What became of a delivery, as reports show it: a journal state, or `planned` in a dry run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Shown {
    Planned,
    Pending,
    Delivered,
    Failed,
    Unknown,
    Skipped,
}

impl Shown {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Shown::Planned => "planned",
            Shown::Pending => "pending",
            Shown::Delivered => "delivered",
            Shown::Failed => "failed",
            Shown::Unknown => "unknown",
            Shown::Skipped => "skipped",
        }
    }

    /// Did not go out, or may not have: what makes a post exit 1 and what `-q` still shows.
    pub(crate) fn went_wrong(self) -> bool {
        matches!(self, Shown::Failed | Shown::Unknown | Shown::Pending)
    }
}

impl From<State> for Shown {
    fn from(state: State) -> Shown {
        match state {
            State::Pending => Shown::Pending,
            State::Delivered => Shown::Delivered,
            State::Failed => Shown::Failed,
            State::Unknown => Shown::Unknown,
            State::Skipped => Shown::Skipped,
        }
    }
}

/// The result of `post` (and `lint`, `retry`), as `--json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) incident: String,
    pub(crate) sequence: u32,
    pub(crate) status: String,
    pub(crate) dry_run: bool,
    /// The update opened its incident.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) opened: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) rerun: bool,
    /// On a rerun: the channels the config sends to now that the update never went to (enabled
    /// or added since it was posted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) missed: Vec<String>,
    /// The update was posted before with other channels chosen, and went on to these now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) also_sent_to: Vec<String>,
    pub(crate) deliveries: Vec<DeliveryReport>,
    pub(crate) findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeliveryReport {
    pub(crate) channel: String,
    pub(crate) kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) target: String,
    pub(crate) outcome: Shown,
    pub(crate) remote_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) parts: Vec<String>,
    pub(crate) url: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    pub(crate) rendered: Option<std::sync::Arc<str>>,
    /// The whole rendering, in a dry run: every post, the subject, the payload, every file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rendering: Option<crate::channels::Rendering>,
    /// When the first attempt began.
    #[serde(skip)]
    pub(crate) started_at: Option<jiff::Timestamp>,
}

impl DeliveryReport {
    pub(crate) fn from_journal(delivery: &Delivery, in_flight: bool) -> DeliveryReport {
        let state = delivery.settled(in_flight);
        DeliveryReport {
            channel: delivery.channel.clone(),
            kind: delivery.kind.clone(),
            target: delivery.target.clone(),
            outcome: state.into(),
            remote_id: delivery.remote_id.clone(),
            parts: delivery.parts.clone(),
            url: delivery.url.clone(),
            attempts: delivery.attempts,
            error: match (delivery.state, state, &delivery.error) {
                (State::Pending, State::Unknown, None) => {
                    Some("the process ended before the outcome was known".into())
                }
                (State::Pending, State::Failed, None) => {
                    Some("the process ended before sending it".into())
                }
                (.., error) => error.clone(),
            },
            note: delivery.note.clone(),
            rendered: Some(delivery.rendered.clone()),
            rendering: None,
            started_at: delivery.started_at,
        }
    }
}

impl Report {
    /// A report on `update`; `dry_run` and `rerun` start false.
    pub(crate) fn new(
        update: &Update,
        deliveries: Vec<DeliveryReport>,
        findings: Vec<Finding>,
    ) -> Report {
        Report {
            incident: update.incident.clone(),
            sequence: update.sequence,
            status: update.status.as_str().into(),
            dry_run: false,
            opened: false,
            rerun: false,
            missed: Vec::new(),
            also_sent_to: Vec::new(),
            deliveries,
            findings,
        }
    }

    /// A report on `update` from its deliveries as the journal records them. `in_flight` says
    /// whether a publisher is still sending (else a `pending` delivery reads as `unknown`).
    pub(crate) fn recorded(update: &Update, deliveries: &[Delivery], in_flight: bool) -> Report {
        let deliveries = deliveries
            .iter()
            .map(|delivery| DeliveryReport::from_journal(delivery, in_flight))
            .collect();
        Report::new(update, deliveries, Vec::new())
    }

    pub(crate) fn failed(&self) -> bool {
        self.deliveries
            .iter()
            .any(|delivery| delivery.outcome.went_wrong())
    }

    /// `3 delivered, 1 failed, 12 skipped`: every outcome and how many deliveries had it, in the
    /// order the table's outcomes are listed.
    pub(crate) fn tally(&self) -> String {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for delivery in &self.deliveries {
            let outcome = delivery.outcome.as_str();
            match counts.iter_mut().find(|(seen, _)| *seen == outcome) {
                Some((_, count)) => *count += 1,
                None => counts.push((outcome, 1)),
            }
        }
        if counts.is_empty() {
            return "no channel selected".to_owned();
        }
        counts
            .iter()
            .map(|(outcome, count)| {
                let word = match Tone::of(outcome) {
                    Some(tone) => paint(Stream::Out, tone, outcome),
                    None => (*outcome).to_owned(),
                };
                format!("{count} {word}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line per delivery that failed or may not have gone out, with its error: what `-q`
    /// still shows. A list's recipients that failed alike are one line.
    pub(crate) fn print_problems(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for group in self.by_channel() {
            let problems = group
                .into_iter()
                .filter(|delivery| delivery.outcome.went_wrong());
            for same in alike(problems) {
                let delivery = same[0];
                let tone = match delivery.outcome {
                    Shown::Failed => Tone::Bad,
                    _ => Tone::Doubtful,
                };
                let outcome = paint(Stream::Err, tone, delivery.outcome.as_str());
                let why = delivery
                    .error
                    .as_deref()
                    .or(delivery.note.as_deref())
                    .map(|why| format!(": {why}"))
                    .unwrap_or_default();
                let who = who(&delivery.channel, &delivery.target);
                writeln!(out, "{who}{}: {outcome}{why}", more(same.len()))?;
            }
        }
        Ok(())
    }

    /// The deliveries, a channel at a time (a list's recipients are recorded together).
    fn by_channel(&self) -> Vec<Vec<&DeliveryReport>> {
        let mut groups: Vec<Vec<&DeliveryReport>> = Vec::new();
        for delivery in &self.deliveries {
            match groups.last_mut() {
                Some(group) if group[0].channel == delivery.channel => group.push(delivery),
                _ => groups.push(vec![delivery]),
            }
        }
        groups
    }

    pub(crate) fn blocked(&self) -> bool {
        self.findings.iter().any(Finding::blocks)
    }

    pub(crate) fn print_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }

    /// The previews of a dry run: each channel's exact output.
    pub(crate) fn print_renderings(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for delivery in &self.deliveries {
            let Some(rendered) = &delivery.rendered else {
                continue;
            };
            let heading = format!("── {} ({}) ", delivery.channel, delivery.kind);
            writeln!(out, "{heading:─<72}")?;
            writeln!(out, "{rendered}")?;
            writeln!(out)?;
        }
        Ok(())
    }

    /// The table: one row per channel, with the link or the error. A channel with several
    /// recipients (an email list) gets one summary row and a row for each recipient that was
    /// not delivered.
    pub(crate) fn print_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut rows: Vec<[String; 5]> = Vec::new();
        for group in self.by_channel() {
            let channel = &group[0].channel;
            if let [delivery] = group.as_slice() {
                rows.push(delivery.row(&delivery.channel));
                continue;
            }
            let delivered = group
                .iter()
                .filter(|d| d.outcome == Shown::Delivered)
                .count();
            let outcome = match delivered {
                n if n == group.len() => "delivered",
                0 => group[0].outcome.as_str(),
                _ => "partial",
            };
            rows.push([
                channel.clone(),
                group[0].kind.clone(),
                outcome.to_owned(),
                group.iter().map(|d| d.attempts).sum::<u32>().to_string(),
                format!("{delivered} of {} recipients delivered", group.len()),
            ]);
            let undelivered = group
                .iter()
                .copied()
                .filter(|d| d.outcome != Shown::Delivered);
            for same in alike(undelivered) {
                let first = same[0];
                let mut row = first.row(&format!("  {}{}", first.target, more(same.len())));
                row[3] = same.iter().map(|d| d.attempts).sum::<u32>().to_string();
                rows.push(row);
            }
        }
        print_table(
            out,
            ["CHANNEL", "KIND", "OUTCOME", "ATTEMPTS", "LINK OR ERROR"],
            &rows,
        )
    }
}

/// Deliveries grouped by what happened to them (outcome, error, link), each group in the order
/// it first appears: ten thousand subscribers behind one unreachable receiver are one line of
/// the report, not ten thousand.
fn alike<'a>(deliveries: impl Iterator<Item = &'a DeliveryReport>) -> Vec<Vec<&'a DeliveryReport>> {
    let mut groups: Vec<Vec<&DeliveryReport>> = Vec::new();
    let mut seen: HashMap<[String; 3], usize> = HashMap::new();
    for delivery in deliveries {
        let [_, _, outcome, _, detail] = delivery.row("");
        let key = [delivery.channel.clone(), outcome, detail];
        match seen.get(&key) {
            Some(&at) => groups[at].push(delivery),
            None => {
                seen.insert(key, groups.len());
                groups.push(vec![delivery]);
            }
        }
    }
    groups
}

/// ` and 9999 more` after the first of a group of `count`.
fn more(count: usize) -> String {
    match count {
        0 | 1 => String::new(),
        n => format!(" and {} more", n - 1),
    }
}

impl DeliveryReport {
    fn row(&self, label: &str) -> [String; 5] {
        let detail = match (&self.error, &self.url, &self.remote_id) {
            (Some(error), ..) => error.clone(),
            (None, Some(url), _) => url.clone(),
            (None, None, Some(id)) => format!("id {id}"),
            (None, None, None) => String::new(),
        };
        let detail = match &self.note {
            Some(note) if detail.is_empty() => note.clone(),
            Some(note) => format!("{detail} ({note})"),
            None => detail,
        };
        [
            label.to_owned(),
            self.kind.clone(),
            self.outcome.as_str().to_owned(),
            self.attempts.to_string(),
            detail,
        ]
    }
}

/// Prints rows under a header, each column as wide as its widest cell; the last is not padded.
pub(crate) fn print_table<const N: usize>(
    out: &mut dyn Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let rows: Vec<&[String]> = rows.iter().map(|row| row.as_slice()).collect();
    print_columns(out, &header, &rows)
}

/// [`print_table`] for columns chosen at run time: every row as long as the header.
pub(crate) fn print_columns(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[&[String]],
) -> std::io::Result<()> {
    columns(out, header, rows, Stream::Out.colored())
}

fn columns(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[&[String]],
    colored: bool,
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(*row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // Outcomes and `OVERDUE` are coloured on a terminal, after the padding is counted.
    let toned = |index: usize, cell: &str| {
        ["OUTCOME", "NEXT UPDATE DUE", "NEXT AUTOMATIC STEP", "CHECK"]
            .contains(&header[index])
            .then(|| Tone::of(cell))
            .flatten()
    };
    let line = |cells: Vec<&str>, body: bool| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            let last = index + 1 == header.len();
            let shown = match toned(index, cell).filter(|_| body && colored) {
                Some(tone) => {
                    let word = cell.trim_end();
                    format!(
                        "{}{}",
                        crate::style::painted(tone, word),
                        &cell[word.len()..]
                    )
                }
                None => (*cell).to_owned(),
            };
            text.push_str(&shown);
            if !last {
                let pad = widths[index] - cell.chars().count() + 2;
                text.push_str(&" ".repeat(pad));
            }
        }
        text.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec(), false))?;
    for row in rows {
        writeln!(
            out,
            "{}",
            line(row.iter().map(String::as_str).collect(), true)
        )?;
    }
    Ok(())
}

/// One line per finding: `error[rule] channel: message`.
pub(crate) fn print_findings(
    out: &mut dyn Write,
    stream: Stream,
    findings: &[Finding],
) -> std::io::Result<()> {
    for finding in findings {
        let (level, tone) = match (&finding.allowed, finding.severity) {
            (Some(_), _) => ("allowed", None),
            (None, Severity::Error) => ("error", Some(Tone::Bad)),
            (None, _) => ("warning", Some(Tone::Doubtful)),
        };
        let lead = format!("{level}[{}]", finding.rule);
        let lead = match tone {
            Some(tone) => paint(stream, tone, &lead),
            None => lead,
        };
        let place = finding
            .channel
            .as_deref()
            .map(|channel| format!(" {channel}"))
            .unwrap_or_default();
        write!(out, "{lead}{place}: {}", finding.message)?;
        match &finding.allowed {
            Some(reason) => writeln!(out, " (allowed: {reason})")?,
            None => writeln!(out)?,
        }
    }
    Ok(())
}

/// How progress is shown while sending.
pub(crate) fn progress(quiet: bool, json: bool) -> std::sync::Arc<dyn Progress> {
    use std::io::IsTerminal;
    if quiet || json {
        std::sync::Arc::new(Silent)
    } else if std::io::stderr().is_terminal() {
        std::sync::Arc::new(Bars::new())
    } else {
        std::sync::Arc::new(Lines::default())
    }
}

struct Silent;

impl Progress for Silent {
    fn planned(&self, _: &str, _: usize) {}
    fn retrying(&self, _: &str, _: &str, _: u32, _: Duration, _: &str) {}
    fn finished(&self, _: &str, _: &str, _: &Outcome) {}
}

fn who(channel: &str, target: &str) -> String {
    if target.is_empty() {
        channel.to_owned()
    } else {
        format!("{channel} {target}")
    }
}

fn summary(outcome: &Outcome) -> String {
    let tries = counted(outcome.attempts as usize, "attempt", "attempts");
    let state = outcome.state.as_str();
    let state = match Tone::of(state) {
        Some(tone) => paint(Stream::Err, tone, state),
        None => state.to_owned(),
    };
    match &outcome.error {
        Some(error) => format!("{state} after {tries}: {error}"),
        None => format!("{state} ({tries})"),
    }
}

/// How far a channel with several deliveries (a subscriber list) has got.
#[derive(Default)]
struct Tally {
    total: usize,
    done: usize,
    delivered: usize,
    /// The failures and retries already printed, by what happened: the rest of a list that
    /// fails alike is counted, not printed again.
    said: std::collections::HashSet<String>,
    unsaid: usize,
}

impl Tally {
    fn line(&self, channel: &str) -> String {
        let line = format!("{channel}: {} of {} delivered", self.delivered, self.total);
        match self.unsaid {
            0 => line,
            n => format!("{line} ({n} more lines like those above not shown)"),
        }
    }

    /// Whether a line about what happened (`what`) is the first of its kind in this list.
    fn first(&mut self, what: String) -> bool {
        let first = self.said.insert(what);
        if !first {
            self.unsaid += 1;
        }
        first
    }
}

/// Plain lines on stderr, for logs and CI. A subscriber list prints its failures and one
/// summary line, not a line per subscriber.
#[derive(Default)]
struct Lines {
    lists: Mutex<HashMap<String, Tally>>,
}

impl Progress for Lines {
    fn planned(&self, channel: &str, deliveries: usize) {
        if deliveries > 1
            && let Ok(mut lists) = self.lists.lock()
        {
            lists.insert(
                channel.to_owned(),
                Tally {
                    total: deliveries,
                    ..Tally::default()
                },
            );
        }
    }

    fn retrying(&self, channel: &str, target: &str, attempt: u32, wait: Duration, why: &str) {
        let mut lists = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tally) = lists.get_mut(channel)
            && !tally.first(format!("retry: {why}"))
        {
            return;
        }
        eprintln!(
            "{}: attempt {attempt} failed ({why}); retrying in {}",
            who(channel, target),
            humanize(wait)
        );
    }

    fn finished(&self, channel: &str, target: &str, outcome: &Outcome) {
        let mut lists = self
            .lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(tally) = lists.get_mut(channel) else {
            eprintln!("{}: {}", who(channel, target), summary(outcome));
            return;
        };
        tally.done += 1;
        if outcome.state == crate::journal::State::Delivered {
            tally.delivered += 1;
        } else if tally.first(format!(
            "{}: {}",
            outcome.state.as_str(),
            outcome.error.as_deref().unwrap_or_default()
        )) {
            eprintln!("{}: {}", who(channel, target), summary(outcome));
        }
        if tally.done == tally.total {
            eprintln!("{}", tally.line(channel));
        }
    }
}

/// On a terminal: a spinner per channel, or one bar for a subscriber list.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, Tally)>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Bars {
    fn planned(&self, channel: &str, deliveries: usize) {
        let bar = if deliveries > 1 {
            let bar = self.multi.add(ProgressBar::new(deliveries as u64));
            bar.set_style(
                ProgressStyle::with_template("  {prefix:.bold} [{bar:30}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        } else {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        };
        bar.set_prefix(channel.to_owned());
        bar.set_message("sending");
        let tally = Tally {
            total: deliveries,
            ..Tally::default()
        };
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(channel.to_owned(), (bar, tally));
        }
    }

    fn retrying(&self, channel: &str, target: &str, attempt: u32, wait: Duration, why: &str) {
        let bar = self
            .bars
            .lock()
            .ok()
            .and_then(|bars| bars.get(channel).map(|(bar, _)| bar.clone()));
        if let Some(bar) = bar {
            bar.set_message(format!(
                "{target} attempt {attempt} failed ({why}); retrying in {}",
                humanize(wait)
            ));
        }
    }

    fn finished(&self, channel: &str, _target: &str, outcome: &Outcome) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let Some((bar, tally)) = bars.get_mut(channel) else {
            return;
        };
        tally.done += 1;
        if outcome.state == crate::journal::State::Delivered {
            tally.delivered += 1;
        }
        if tally.total == 1 {
            bar.finish_with_message(summary(outcome));
        } else {
            bar.inc(1);
            if tally.done == tally.total {
                bar.finish_with_message(format!("{} delivered", tally.delivered));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Drops the colour escapes (`ESC [ … m`).
    fn plain(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("delivered".to_owned()),
            Just("failed".to_owned()),
            Just("unknown".to_owned()),
            Just("OVERDUE since 10:30".to_owned()),
            "[a-zé ]{0,12}",
        ]
    }

    proptest! {
        /// Colour never moves a column: the coloured table, its escapes removed, is the plain
        /// table; and the plain one has no escape at all.
        #[test]
        fn colour_keeps_tables_aligned(rows in prop::collection::vec([cell(), cell(), cell(), cell()], 0..8)) {
            let header = ["CHANNEL", "OUTCOME", "NEXT UPDATE DUE", "TITLE"];
            let rows: Vec<&[String]> = rows.iter().map(|row| row.as_slice()).collect();
            let (mut colored, mut uncolored) = (Vec::new(), Vec::new());
            columns(&mut colored, &header, &rows, true).unwrap();
            columns(&mut uncolored, &header, &rows, false).unwrap();
            let colored = String::from_utf8(colored).unwrap();
            let uncolored = String::from_utf8(uncolored).unwrap();
            prop_assert_eq!(plain(&colored), uncolored.clone());
            prop_assert!(!uncolored.contains('\x1b'));
            let toned = rows.iter().any(|row| Tone::of(&row[1]).is_some() || Tone::of(&row[2]).is_some());
            prop_assert_eq!(colored.contains('\x1b'), toned);
        }
    }
}
