//! The contract every channel kind passes, run over the registry: a kind added to [`REGISTRY`]
//! without a sample here fails the first test, and then is tested by the rest.
//!
//! - its section parses, and an unknown key is refused by name;
//! - a secret written inline is refused without echoing it; a missing one blocks the build
//!   naming where it should be;
//! - over generated updates (every status, every combination of optional facts, long texts, CJK,
//!   emoji, URLs, markup), every rendering carries every fact its kind declares, escaped as it
//!   escapes, fits its limit (or continues as a thread), and holds no control character.
//!
//! The adapters' behaviour against each service is tested against the emulators in the
//! integration tests (`tests/faults.rs` runs every fault over every kind).

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::REGISTRY;
use crate::config;
use crate::setup::Setup;
use crate::update::{Impact, Status, Update};
use crate::wording::count;
use crate::wording::rules::RuleId;

/// A valid section for each kind, its secrets in files named `<field>` in the folder.
fn sample(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "webhook" => "url = \"https://hooks.example.com/x\"\nsecret_file = \"secret\"",
        "banner" => "html_path = \"banner.html\"\njson_path = \"status.json\"",
        "feed" => "path = \"feed.atom\"",
        "site" => "dir = \"status\"",
        "phone" => "twiml_path = \"ivr.xml\"\nscript_path = \"ivr.txt\"",
        "x" => {
            "consumer_key_file = \"consumer_key\"\nconsumer_secret_file = \"consumer_secret\"\n\
             access_token_file = \"access_token\"\naccess_token_secret_file = \"access_token_secret\""
        }
        "facebook" => "page_id = \"1047\"\npage_token_file = \"page_token\"",
        "mastodon" => {
            "instance = \"https://social.example.com\"\naccess_token_file = \"access_token\""
        }
        "bluesky" => "handle = \"status.example.com\"\napp_password_file = \"app_password\"",
        "email" => {
            "host = \"smtp.example.com\"\nfrom = \"status@example.com\"\nto = [\"ops@example.com\"]\n\
             username_file = \"username\"\npassword_file = \"password\""
        }
        _ => return None,
    })
}

const SECRET: &str = "c2VjcmV0LXZhbHVlLTQy";

/// A folder with one secret file per field name the samples use.
pub(super) fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for field in [
        "secret",
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
        "page_token",
        "username",
        "password",
        "app_password",
    ] {
        let value = if field == "secret" {
            format!("whsec_{SECRET}")
        } else {
            format!("{field}-{SECRET}")
        };
        std::fs::write(dir.path().join(field), value).unwrap();
    }
    dir
}

fn config_text(kinds: &[&str], extra: &str) -> String {
    let mut text = String::from(
        "[organization]\nname = \"Example Inc\"\nstatus_url = \"https://status.example.com\"\n\
         timezone = \"Europe/Paris\"\n",
    );
    for kind in kinds {
        text.push_str(&format!(
            "[[channel]]\nname = \"{kind}\"\nkind = \"{kind}\"\n{}\n{extra}\n",
            sample(kind).unwrap()
        ));
    }
    text
}

pub(super) fn setup(dir: &Path, text: &str) -> anyhow::Result<Setup> {
    let config = config::parse(text, &dir.join("channels.toml"))?;
    Setup::from_config(config, Some(&dir.join("journal.db").display().to_string()))
}

#[test]
fn every_kind_in_the_registry_has_a_sample() {
    for (kind, _) in REGISTRY {
        assert!(
            sample(kind).is_some(),
            "add a sample section for `{kind}` to channels/contract.rs"
        );
    }
}

#[test]
fn every_kind_refuses_an_unknown_key_by_name() {
    let dir = folder();
    for (kind, _) in REGISTRY {
        setup(dir.path(), &config_text(&[kind], "")).unwrap();
        let err = setup(dir.path(), &config_text(&[kind], "colour = \"red\""))
            .err()
            .unwrap_or_else(|| panic!("{kind} took an unknown key"));
        let message = format!("{err:#}");
        assert!(message.contains("colour"), "{kind}: {message}");
        assert!(!message.contains('\n'), "{kind}: {message}");
    }
}

#[test]
fn every_secret_is_named_never_written_and_read_only_when_building() {
    let dir = folder();
    for (kind, _) in REGISTRY {
        let setup = setup(dir.path(), &config_text(&[kind], "")).unwrap();
        let channel = &setup.channels[0];
        for (field, _) in channel.kind.secrets() {
            let inline = config_text(&[kind], &format!("{field} = \"{SECRET}\""));
            let err = format!("{:#}", self::setup(dir.path(), &inline).err().unwrap());
            assert!(err.contains(&format!("{field}_env")), "{kind}: {err}");
            assert!(!err.contains(SECRET), "{kind} echoed the secret: {err}");
        }
        let redactor = crate::redact::Redactor::default();
        let _runtime = crate::setup::runtime().unwrap();
        let _entered = _runtime.enter();
        setup
            .build([channel.name.as_str()], &redactor)
            .unwrap_or_else(|err| panic!("{kind}: {err:#}"));
        for (field, _) in channel.kind.secrets() {
            std::fs::rename(dir.path().join(field), dir.path().join("moved")).unwrap();
            let err = format!(
                "{:#}",
                setup
                    .build([channel.name.as_str()], &redactor)
                    .err()
                    .unwrap()
            );
            std::fs::rename(dir.path().join("moved"), dir.path().join(field)).unwrap();
            assert!(err.contains(&format!("{field}_file")), "{kind}: {err}");
            assert!(!err.contains(SECRET), "{kind}: {err}");
        }
        // Built channels remember their secrets for redaction.
        for (field, _) in channel.kind.secrets() {
            let value = std::fs::read_to_string(dir.path().join(field)).unwrap();
            let echoed = redactor.redact(&format!("535 bad login {value}"));
            assert_eq!(echoed, "535 bad login [redacted]", "{kind}");
        }
    }
}

pub(super) fn at(minutes: i64) -> Timestamp {
    "2026-11-22T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

/// Words people write in incident updates, with the hard cases mixed in.
fn words() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-z]{1,12}",
            "[A-Z][a-z]{1,8}",
            Just("東京リージョン".to_owned()),
            Just("🚨".to_owned()),
            Just("👨‍👩‍👧‍👦".to_owned()),
            Just("<script>alert(1)</script>".to_owned()),
            Just("&".to_owned()),
            Just("https://example.com/a/very/long/path?with=query&and=more".to_owned()),
            Just("\"quoted\"".to_owned()),
            Just("café".to_owned()),
        ],
        1..400,
    )
    .prop_map(|words| words.join(" "))
}

/// HTML as a browser parses it: no parse error, and no element a message could have smuggled in.
fn well_formed_html(html: &str, document: bool) -> Result<(), TestCaseError> {
    let parsed = if document {
        scraper::Html::parse_document(html)
    } else {
        scraper::Html::parse_fragment(html)
    };
    prop_assert!(parsed.errors.is_empty(), "{:?} in {html}", parsed.errors);
    let script = scraper::Selector::parse("script, b").unwrap();
    prop_assert!(parsed.select(&script).next().is_none(), "{html}");
    Ok(())
}

prop_compose! {
    pub(super) fn updates()(
        status in prop::sample::select(Status::ALL.to_vec()),
        title in "[A-Za-z][A-Za-z <&>']{0,60}",
        message in words(),
        components in prop::collection::vec("[A-Z][a-z]{2,10}", 0..4),
        impact in prop::option::of(prop::sample::select(vec![Impact::Minor, Impact::Major, Impact::Critical])),
        eta in prop::option::of(5i64..3000),
        next in prop::option::of(5i64..55),
        window in (prop::option::of(5i64..2000), prop::option::of(10i64..600)),
        compensation in prop::option::of("[A-Z][a-z ]{10,150}\\."),
        correction in any::<bool>(),
        sequence in 1u32..5,
        // A scheduled maintenance may be a reminder, or rescheduled (never both).
        phase in 0u8..3,
    ) -> Update {
        let maintenance = status.kind() == crate::update::IncidentKind::Maintenance;
        Update {
            incident: "2026-11-22-generated".into(),
            sequence: if correction { sequence + 1 } else { sequence },
            kind: status.kind(),
            status,
            title: title.trim().to_owned(),
            message,
            components,
            impact,
            eta: eta.map(at),
            next_update: next.map(at),
            // A follow-up may give the end alone (a running maintenance's new end).
            starts: window.0.filter(|_| maintenance).map(at),
            ends: window.1.filter(|_| maintenance).map(|length| at(window.0.unwrap_or(0) + length)),
            compensation,
            internal_note: None,
            correction,
            posted_at: at(0),
            reminder: status == Status::Scheduled && phase == 1,
            rescheduled: status == Status::Scheduled && phase == 2,
            autopilot: None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every built-in rendering of every kind carries every fact its kind declares, escaped as
    /// it escapes, within its limit, with no control character.
    #[test]
    fn every_rendering_carries_its_facts(update in updates()) {
        prop_assume!(!update.title.is_empty());
        let dir = folder();
        let kinds: Vec<&str> = REGISTRY.iter().map(|(kind, _)| *kind).collect();
        let setup = setup(dir.path(), &config_text(&kinds, "")).unwrap();
        let renderer = setup.renderer().unwrap();
        let links = setup.links();
        let projection =
            crate::plan::projection(None, &update, &setup.channels, &setup.site_settings(&links))
                .unwrap();
        for channel in &setup.channels {
            let (rendering, findings) = crate::plan::render_one(
                &setup, channel, &update, &projection, &renderer, update.posted_at, &setup.links(),
            );
            let missing: Vec<_> = findings.iter().filter(|f| f.rule == RuleId::MissingFact).collect();
            prop_assert!(missing.is_empty(), "{}: {missing:?}", channel.name);
            let rendering = match rendering {
                Some(rendering) => rendering,
                None => {
                    prop_assert!(findings.iter().all(|f| f.rule == RuleId::TooLong), "{}: {findings:?}", channel.name);
                    continue;
                }
            };
            for post in rendering.posts() {
                prop_assert!(post.chars().all(|c| c == '\n' || !c.is_control()), "{}: {post:?}", channel.name);
                if channel.name == "x" {
                    prop_assert!(count::weighted_length(post) <= count::X_LIMIT, "{post}");
                }
            }
            if channel.name == "banner" {
                prop_assert!(rendering.text.len() <= super::banner::LIMIT);
                well_formed_html(&rendering.text, false)?;
            }
            if let Some(html) = rendering.body.as_deref().filter(|_| channel.name == "email") {
                well_formed_html(html, true)?;
            }
            for file in &rendering.files {
                let extension = file.path.extension().and_then(|ext| ext.to_str());
                if channel.name == "site" && extension == Some("html") {
                    well_formed_html(&file.content, true)?;
                }
                if extension == Some("json") {
                    let parsed = serde_json::from_str::<serde_json::Value>(&file.content);
                    prop_assert!(parsed.is_ok(), "{}: {parsed:?}", file.path.display());
                }
                if extension == Some("xml") {
                    let parsed = roxmltree::Document::parse(&file.content);
                    prop_assert!(parsed.is_ok(), "{}: {parsed:?}", file.content);
                }
                if extension == Some("atom") {
                    let feed = file.content.parse::<atom_syndication::Feed>();
                    prop_assert!(feed.is_ok(), "{}: {feed:?}", file.content);
                }
            }
        }
    }
}
