//! Templates: the built-in ones and each channel's own, rendered with strict undefined variables,
//! a bound on the work a template may do and on what it may produce, and escaping chosen by what
//! the output is (HTML or text), never by a file name.
//!
//! What a channel renders, and how it is fitted to its limit, is the channel kind's own business
//! (`channels::<kind>`); this module is the machinery they share, and [`Rendering`], the one shape
//! every rendering takes from the plan to the journal to the adapter.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::wording::rules::{Finding, RuleId};

/// What one channel sends for one update, exactly: the plan makes it, the journal keeps it, the
/// adapter sends it and nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendering {
    /// What a reader sees: the post, the plain-text email, the banner's HTML.
    pub text: String,
    /// Further posts of a reply thread, when the facts do not fit one post.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The exact payload when it is not the text itself (a webhook's JSON, an email's HTML part).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// What a channel posts instead when its first choice is refused (a Facebook comment refused
    /// for lack of permission is posted as a new Page post, which must say what it follows up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// The files a projection writes, whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileOut>,
    /// A projection whose files are all of it (a status site rendered whole), not only those
    /// this update changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole: bool,
    /// A status site rendered in part whose other pages show other settings than this one's
    /// (its version says so): they wait for `outage site build`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outdated: bool,
    /// A projection that does not show this update (its incident closed, or it did not fit):
    /// then there is no fact of it to check.
    #[serde(skip)]
    pub(crate) folded: bool,
}

/// One file a projection writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOut {
    pub path: PathBuf,
    pub content: String,
}

impl Rendering {
    #[cfg(test)]
    pub(crate) fn text(text: String) -> Rendering {
        Rendering {
            text,
            ..Rendering::default()
        }
    }

    /// Every post, the first and the replies.
    pub(crate) fn posts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.text.as_str()).chain(self.more.iter().map(String::as_str))
    }

    /// What previews and reports show as "rendered": the payload when there is one, every post
    /// of a thread, every file of a projection.
    pub(crate) fn shown(&self) -> String {
        self.shown_in(None)
    }

    /// As [`Rendering::shown`], each file's path under `folder` when its paths are relative to
    /// one (a status site's): what a person reads says where each file goes.
    pub(crate) fn shown_in(&self, folder: Option<&std::path::Path>) -> String {
        self.shown_within(folder, usize::MAX)
    }

    /// As [`Rendering::shown_in`], for a person: a projection's files whole while they fit in
    /// `lines` (the first whatever its length), then the rest a line each, path and length. A
    /// status site writes a dozen files, most of them its JSON API: whole, they buried the
    /// pages people read under 500 lines.
    pub(crate) fn shown_within(&self, folder: Option<&std::path::Path>, lines: usize) -> String {
        if let [file] = self.files.as_slice() {
            return file.content.trim_end().to_owned();
        }
        if !self.files.is_empty() {
            let mut shown = String::new();
            let mut left = lines;
            let mut listing = false;
            for (index, file) in self.files.iter().enumerate() {
                let path = folder.map_or_else(|| file.path.clone(), |f| f.join(&file.path));
                let content = file.content.trim_end();
                let length = content.lines().count();
                let gap = match index {
                    0 => "",
                    _ if listing => "\n",
                    _ => "\n\n",
                };
                // Once one is listed, so are the rest: the files keep their order.
                if !listing && (index == 0 || length <= left) {
                    left = left.saturating_sub(length);
                    shown.push_str(&format!("{gap}==> {} <==\n{content}", path.display()));
                } else {
                    listing = true;
                    shown.push_str(&format!(
                        "{gap}==> {} <== {}",
                        path.display(),
                        super::counted(length, "line", "lines")
                    ));
                }
            }
            if listing {
                shown.push_str("\n(listed by length: --json has them whole)");
            }
            return shown;
        }
        let posts = self.posts().collect::<Vec<_>>().join("\n\n↳ ");
        match (&self.subject, &self.body) {
            (Some(subject), _) => format!("Subject: {subject}\n\n{posts}"),
            (None, Some(body)) if !body.is_empty() => body.clone(),
            _ => posts,
        }
    }
}

/// What a template produces, which decides its escaping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    Text,
    Html,
}

impl Output {
    fn extension(self) -> &'static str {
        match self {
            Output::Text => "txt",
            Output::Html => "html",
        }
    }
}

/// The most a template file may hold.
pub(crate) const TEMPLATE_LIMIT: u64 = 64 * 1024;
/// The most one rendering may produce.
pub(crate) const OUTPUT_LIMIT: usize = 1024 * 1024;
/// The work one rendering may do (minijinja's fuel: about one unit per instruction). The
/// built-in templates use a few hundred; a runaway loop stops here.
const FUEL: u64 = 500_000;

pub(crate) struct Renderer {
    env: Environment<'static>,
}

/// A channel's own template: `template = "file"` in its config.
pub(crate) struct Custom<'a> {
    pub(crate) channel: &'a str,
    pub(crate) path: &'a Path,
    pub(crate) output: Output,
}

impl Renderer {
    /// Loads the built-in templates and every channel's own, checking their syntax.
    pub(crate) fn new<'a>(
        customs: impl IntoIterator<Item = Custom<'a>>,
    ) -> anyhow::Result<Renderer> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        // Escaping follows the output: every template is registered under a name that says it.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") || name.ends_with(".xml") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // HTML values are escaped by the one function the fact checks escape with.
        env.set_formatter(|out, state, value| {
            if *state.auto_escape() == AutoEscape::Html
                && !value.is_safe()
                && let Some(text) = value.as_str()
            {
                return out
                    .write_str(&crate::wording::facts::html_escape(text))
                    .map_err(minijinja::Error::from);
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("default syntax"),
        );
        // Built-in templates are compiled when first used: a post to three channels does not
        // pay for the status site's five.
        env.set_loader(|name| {
            Ok(BUILT_IN
                .iter()
                .find(|(built_in, _)| *built_in == name)
                .map(|(_, source)| *source))
        });
        for custom in customs {
            let problem = |why: String| {
                anyhow::anyhow!(
                    "channel `{}`: template {}: {why}",
                    custom.channel,
                    custom.path.display()
                )
            };
            let source = crate::limits::read_text(custom.path, TEMPLATE_LIMIT, "a template")
                .map_err(|err| problem(format!("{err:#}")))?;
            env.add_template_owned(custom_name(custom.channel, custom.output), source)
                .map_err(|err| problem(err.to_string()))?;
        }
        Ok(Renderer { env })
    }

    /// The name to render for `channel`: its own template when it has one, else `built_in`.
    pub(crate) fn template_for(&self, channel: &str, output: Output, built_in: &str) -> String {
        let custom = custom_name(channel, output);
        if self.env.get_template(&custom).is_ok() {
            custom
        } else {
            built_in.to_owned()
        }
    }

    /// Renders a template; an error or a runaway is a finding (the rendering cannot be trusted).
    pub(crate) fn render(&self, name: &str, context: &impl Serialize) -> Result<String, Finding> {
        let template = self.env.get_template(name).map_err(template_error)?;
        let text = template
            .render(minijinja::value::Serde(context))
            .map_err(template_error)?;
        if text.len() > OUTPUT_LIMIT {
            return Err(Finding::new(
                RuleId::TooLong,
                format!(
                    "the template produced {} bytes, more than the {} allowed; check its loops",
                    text.len(),
                    OUTPUT_LIMIT
                ),
            ));
        }
        Ok(tidy(&text))
    }
}

/// The sources of the built-in templates whose names start with `prefix` (`site/`: what the
/// status site's layout is made of).
pub(crate) fn built_in(prefix: &str) -> impl Iterator<Item = &'static str> {
    BUILT_IN
        .iter()
        .filter(move |(name, _)| name.starts_with(prefix))
        .map(|(_, source)| *source)
}

const BUILT_IN: [(&str, &str); 11] = [
    ("email.html", include_str!("templates/email.html")),
    ("plain.txt", include_str!("templates/plain.txt")),
    ("slack.txt", include_str!("templates/slack.txt")),
    ("markdown.md", include_str!("templates/markdown.md")),
    ("short.txt", include_str!("templates/short.txt")),
    ("banner.html", include_str!("templates/banner.html")),
    ("site/base.html", include_str!("templates/site/base.html")),
    ("site/parts.html", include_str!("templates/site/parts.html")),
    ("site/index.html", include_str!("templates/site/index.html")),
    (
        "site/incident.html",
        include_str!("templates/site/incident.html"),
    ),
    (
        "site/history.html",
        include_str!("templates/site/history.html"),
    ),
];

fn custom_name(channel: &str, output: Output) -> String {
    format!("channel/{channel}.{}", output.extension())
}

fn template_error(err: minijinja::Error) -> Finding {
    let mut message = format!("the template cannot be rendered: {err}");
    if let Some(detail) = err.detail() {
        message = format!("{message} ({detail})");
    }
    Finding::new(RuleId::MissingFact, message)
}

/// Removes the blank lines that skipped template blocks leave behind.
pub(crate) fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Shortens `text` to at most `max_chars` characters at a word boundary, marking the cut with `…`.
pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let cut: String = text.chars().take(max_chars - 1).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(at) if at > 0 => &cut[..at],
        _ => cut.as_str(),
    };
    let trimmed = at_word.trim_end_matches(|c: char| c.is_whitespace() || ",;:-".contains(c));
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}…")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A brief preview names every file once, in order; the first whole whatever its
        /// length, then whole files while their lines fit the budget, then each of the rest
        /// with its true length, and a last line saying where they are whole.
        #[test]
        fn a_brief_preview_names_every_file_and_keeps_to_its_budget(
            lengths in proptest::collection::vec(0usize..60, 2..12),
            budget in 0usize..200,
        ) {
            let files: Vec<FileOut> = lengths
                .iter()
                .enumerate()
                .map(|(n, &length)| FileOut {
                    path: PathBuf::from(format!("f{n}.txt")),
                    content: (0..length).map(|line| format!("{n}:{line}\n")).collect(),
                })
                .collect();
            let rendering = Rendering { files, ..Rendering::default() };
            let shown = rendering.shown_within(None, budget);
            let mut whole = 0;
            let mut listing = false;
            for (n, &length) in lengths.iter().enumerate() {
                let listed = format!("==> f{n}.txt <== {length} line");
                if shown.contains(&listed) {
                    listing = true;
                    prop_assert!(n > 0, "the first file is listed: {shown}");
                } else {
                    prop_assert!(!listing, "f{n} whole after one was listed: {shown}");
                    let heading = format!("==> f{n}.txt <==");
                    prop_assert!(shown.lines().any(|line| line == heading), "{shown}");
                    let prefix = format!("{n}:");
                    let lines = shown.lines().filter(|line| line.starts_with(&prefix)).count();
                    prop_assert_eq!(lines, length);
                    if n > 0 {
                        whole += length;
                    }
                }
            }
            prop_assert!(whole <= budget, "{whole} lines whole past the first, budget {budget}");
            prop_assert_eq!(listing, shown.ends_with("--json has them whole)"));
            prop_assert_eq!(shown.matches("==> ").count(), lengths.len());
            // With no budget to keep to, every file is whole, as the journal and --json have it.
            prop_assert!(!rendering.shown_in(None).contains("line"));
        }

        #[test]
        fn shorten_never_exceeds_its_limit(text in "\\PC{0,200}", limit in 0usize..120) {
            prop_assert!(shorten(&text, limit).chars().count() <= limit);
        }
    }

    #[test]
    fn shorten_cuts_at_a_word_boundary() {
        assert_eq!(
            shorten("Some customers cannot log in", 100),
            "Some customers cannot log in"
        );
        assert_eq!(
            shorten("Some customers cannot log in", 17),
            "Some customers…"
        );
        assert_eq!(shorten("Some customers cannot log in", 1), "");
        assert_eq!(shorten("Supercalifragilistic", 6), "Super…");
    }

    /// They are compiled when first used; each must compile.
    #[test]
    fn every_built_in_template_compiles() {
        let renderer = Renderer::new([]).unwrap();
        for (name, _) in BUILT_IN {
            assert!(renderer.env.get_template(name).is_ok(), "{name}");
        }
        assert!(renderer.env.get_template("nope.html").is_err());
    }

    #[test]
    fn tidy_collapses_blank_runs() {
        assert_eq!(tidy("a\n\n\n\nb\n\n"), "a\n\nb");
    }

    #[test]
    fn a_runaway_template_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loop.txt");
        std::fs::write(
            &path,
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        let renderer = Renderer::new([Custom {
            channel: "c",
            path: &path,
            output: Output::Text,
        }])
        .unwrap();
        let name = renderer.template_for("c", Output::Text, "plain.txt");
        assert_eq!(name, "channel/c.txt");
        let finding = renderer.render(&name, &serde_json::json!({})).unwrap_err();
        assert!(finding.message.contains("fuel"), "{}", finding.message);
    }

    #[test]
    fn escaping_follows_the_output_not_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("banner.jinja");
        std::fs::write(&path, "<p>{{ message }}</p>").unwrap();
        let renderer = Renderer::new([Custom {
            channel: "banner",
            path: &path,
            output: Output::Html,
        }])
        .unwrap();
        let name = renderer.template_for("banner", Output::Html, "banner.html");
        let html = renderer
            .render(&name, &serde_json::json!({"message": "<script>x</script>"}))
            .unwrap();
        assert_eq!(html, "<p>&lt;script&gt;x&lt;/script&gt;</p>");
    }
}
