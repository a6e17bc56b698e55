//! `channels.toml`: where the file is found, its common sections (organization, state, dispatch,
//! policy, components), and the helpers every channel kind validates its own section with.
//!
//! Loading is pure apart from reading the file: it parses, resolves relative paths against the
//! file's folder and checks every value, but reads no secret. Secrets are named, never written:
//! a secret field `foo` is given as `foo_env = "VAR"` or `foo_file = "path"`, and only
//! [`SecretSource::resolve`] reads it, when the channels are built just before sending. What each
//! `[[channel]]` holds beyond the common keys belongs to its kind (`channels::<kind>`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::update::parse_duration;
use crate::wording::rules::{Policy, RuleId, Severity};

/// The whole configuration, validated, with each channel's own section still to be read by its
/// kind.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) path: PathBuf,
    /// The folder relative paths resolve against.
    pub(crate) base: PathBuf,
    pub(crate) organization: Organization,
    pub(crate) state: StateConfig,
    pub(crate) dispatch: DispatchSettings,
    pub(crate) policy: Policy,
    pub(crate) components: Vec<Component>,
    pub(crate) channels: Vec<RawChannel>,
}

#[derive(Debug, Clone)]
pub(crate) struct Organization {
    pub(crate) name: String,
    pub(crate) status_url: Option<String>,
    pub(crate) timezone: TimeZone,
}

/// `[state]`: where the journal is, when neither `--state` nor `OUTAGE_STATE` says.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateConfig {
    pub(crate) path: Option<PathBuf>,
    /// An environment variable holding a `postgres://` URL (it may carry a password).
    pub(crate) url_env: Option<String>,
}

/// A list's deliveries in flight at once by default. Each costs an open connection, an open file
/// and about 34 KB (hyper's buffers and request channel): 896 with the 64 files kept for the
/// rest ([`crate::limits::RESERVED_FILES`]) fit under the 1,024 open files a shell usually
/// allows, and send 10,000 subscribers answering in 100 ms in under 2 s.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 896;

/// How the dispatcher treats every channel unless the channel says otherwise.
#[derive(Debug, Clone)]
pub(crate) struct DispatchSettings {
    pub(crate) timeout: SignedDuration,
    pub(crate) max_attempts: u32,
    pub(crate) retry_base: SignedDuration,
    pub(crate) max_retry_wait: SignedDuration,
    pub(crate) max_in_flight: usize,
}

/// A part of the service customers know by name (`[[component]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Component {
    pub(crate) name: String,
    pub(crate) group: Option<String>,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Audience {
    Public,
    Internal,
}

impl Audience {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Audience::Public => "public",
            Audience::Internal => "internal",
        }
    }
}

/// A `[[channel]]` section: the common keys read, the rest left to its kind.
#[derive(Debug, Clone)]
pub(crate) struct RawChannel {
    /// Where it is, for messages: `channels.toml: channel #2 `hook``.
    pub(crate) place: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) audience: Audience,
    pub(crate) enabled: bool,
    pub(crate) template: Option<PathBuf>,
    pub(crate) timeout: Option<SignedDuration>,
    /// The maintenance phases it posts (`None`: all).
    pub(crate) phases: Option<Vec<crate::update::Phase>>,
    pub(crate) rest: toml::Table,
}

/// Where a secret comes from. The value is read only by [`SecretSource::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    pub(crate) fn resolve(&self, channel: &str, field: &str) -> anyhow::Result<String> {
        match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                _ => bail!(
                    "channel `{channel}`: {field}_env names {name}, which is not set; export \
                     {name}, or set enabled = false for this channel"
                ),
            },
            SecretSource::File(path) => {
                let value = crate::limits::read_text(path, 64 * 1024, &format!("{field}_file"))
                    .map_err(|err| {
                        anyhow::anyhow!("channel `{channel}`: {err:#}; check the path")
                    })?;
                if value.trim().is_empty() {
                    bail!(
                        "channel `{channel}`: {field}_file {} is empty",
                        path.display()
                    );
                }
                Ok(value.trim().to_owned())
            }
        }
    }

    /// `field_env VAR` or `field_file PATH`, for listings.
    pub(crate) fn describe(&self, field: &str) -> String {
        format!("{field}_{} {}", self.key_suffix(), self.place())
    }

    /// What to set: the variable's name, or the file's path.
    pub(crate) fn place(&self) -> String {
        match self {
            SecretSource::Env(name) => name.clone(),
            SecretSource::File(path) => path.display().to_string(),
        }
    }

    fn key_suffix(&self) -> &'static str {
        match self {
            SecretSource::Env(_) => "env",
            SecretSource::File(_) => "file",
        }
    }
}

// ---- raw TOML shape -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    organization: RawOrganization,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    dispatch: RawDispatch,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    component: Vec<RawComponent>,
    #[serde(default)]
    channel: Vec<RawChannelTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganization {
    name: String,
    status_url: Option<String>,
    timezone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<PathBuf>,
    url_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDispatch {
    timeout: Option<String>,
    max_attempts: Option<u32>,
    retry_base: Option<String>,
    max_retry_wait: Option<String>,
    max_in_flight: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    max_update_interval: Option<String>,
    rerun_window: Option<String>,
    #[serde(default)]
    glossary: BTreeMap<String, String>,
    internal_markers: Option<Vec<String>>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    name: String,
    group: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct RawChannelTable {
    name: String,
    kind: String,
    #[serde(default = "public")]
    audience: Audience,
    #[serde(default = "yes")]
    enabled: bool,
    template: Option<PathBuf>,
    timeout: Option<String>,
    phases: Option<Vec<String>>,
    #[serde(flatten)]
    rest: toml::Table,
}

fn public() -> Audience {
    Audience::Public
}

fn yes() -> bool {
    true
}

fn app_strategy() -> Option<impl etcetera::AppStrategy> {
    etcetera::choose_app_strategy(etcetera::AppStrategyArgs {
        top_level_domain: "dev".into(),
        author: "outage".into(),
        app_name: "outage".into(),
    })
    .ok()
}

/// Finds the configuration file: `--config`/`OUTAGE_CONFIG`, then `./channels.toml`, then the
/// user config folder.
pub(crate) fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let local = PathBuf::from("channels.toml");
    if local.exists() {
        return Ok(local);
    }
    if let Some(user) = user_config_path().filter(|path| path.exists()) {
        return Ok(user);
    }
    bail!(
        "no configuration found: `outage init` writes one to start from (or pass --config FILE, \
         or set OUTAGE_CONFIG)"
    )
}

/// `~/.config/outage/channels.toml` (the platform's user config folder).
pub(crate) fn user_config_path() -> Option<PathBuf> {
    use etcetera::AppStrategy;
    Some(app_strategy()?.config_dir().join("channels.toml"))
}

/// `~/.local/state/outage` (the platform's user state folder).
pub(crate) fn user_state_dir() -> anyhow::Result<PathBuf> {
    use etcetera::AppStrategy;
    let strategy = app_strategy().context("cannot find a state folder; pass --state FILE")?;
    Ok(strategy.state_dir().unwrap_or_else(|| strategy.data_dir()))
}

/// The default journal location when neither flag, env nor config names one.
pub(crate) fn default_state_path() -> anyhow::Result<PathBuf> {
    Ok(user_state_dir()?.join("journal.db"))
}

pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    let text = crate::limits::read_text(path, crate::limits::CONFIG, "the configuration")?;
    parse(&text, path)
}

/// Parses and validates a configuration; `path` names the file in messages and anchors relative
/// paths. A file in the user config folder keeps its files (banner, feed, journal) in the user
/// state folder instead.
pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<Config> {
    let shown = path.display();
    let raw: RawConfig =
        toml::from_str(text).map_err(|err| anyhow::anyhow!("{shown}: {}", one_line(&err)))?;
    let folder = path.parent().unwrap_or(Path::new("")).to_owned();
    let base = match user_config_path() {
        Some(user) if user == path => user_state_dir().unwrap_or(folder),
        _ => folder,
    };
    let at = |key: &str| format!("{shown}: {key}");

    let timezone = match &raw.organization.timezone {
        None => TimeZone::UTC,
        Some(name) => time_zone(name).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: `{name}` is not an IANA time zone such as UTC or Europe/Paris",
                at("organization.timezone")
            )
        })?,
    };
    if let Some(url) = &raw.organization.status_url {
        check_url(url).with_context(|| at("organization.status_url"))?;
    }
    let organization = Organization {
        name: raw.organization.name,
        status_url: raw.organization.status_url,
        timezone,
    };

    let duration = |value: &Option<String>, key: &str, default: &str| {
        parse_duration(value.as_deref().unwrap_or(default)).with_context(|| at(key))
    };
    let dispatch = DispatchSettings {
        timeout: duration(&raw.dispatch.timeout, "dispatch.timeout", "15s")?,
        max_attempts: raw.dispatch.max_attempts.unwrap_or(4).max(1),
        retry_base: duration(&raw.dispatch.retry_base, "dispatch.retry_base", "1s")?,
        max_retry_wait: duration(
            &raw.dispatch.max_retry_wait,
            "dispatch.max_retry_wait",
            "60s",
        )?,
        max_in_flight: raw
            .dispatch
            .max_in_flight
            .unwrap_or(DEFAULT_MAX_IN_FLIGHT)
            .max(1),
    };

    let mut rules = BTreeMap::new();
    for (rule, severity) in &raw.policy.rules {
        let key = format!("policy.rules.{rule}");
        let rule: RuleId = rule.parse().with_context(|| at(&key))?;
        let severity: Severity = severity.parse().with_context(|| at(&key))?;
        rules.insert(rule, severity);
    }
    let internal_markers = match raw.policy.internal_markers {
        None => Policy::default().internal_markers,
        Some(markers) => markers
            .iter()
            .map(|pattern| {
                regex_lite::Regex::new(pattern).map_err(|err| {
                    anyhow::anyhow!(
                        "{}: `{pattern}` is not a valid regular expression: {}",
                        at("policy.internal_markers"),
                        one_line(&err)
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let policy = Policy {
        max_update_interval: duration(
            &raw.policy.max_update_interval,
            "policy.max_update_interval",
            "60m",
        )?,
        rerun_window: duration(&raw.policy.rerun_window, "policy.rerun_window", "15m")?,
        glossary: raw
            .policy
            .glossary
            .into_iter()
            .map(|(avoid, prefer)| (avoid.to_lowercase(), prefer))
            .collect(),
        internal_markers,
        rules,
    };

    let mut components: Vec<Component> = Vec::new();
    for (index, component) in raw.component.into_iter().enumerate() {
        let place = format!("{shown}: component #{} `{}`", index + 1, component.name);
        if component.name.trim().is_empty() || component.name.contains(',') {
            bail!(
                "{place}: a component name is not empty and has no comma (--components takes a list)"
            );
        }
        if components
            .iter()
            .any(|known| known.name.eq_ignore_ascii_case(&component.name))
        {
            bail!("{place}: another component already has this name");
        }
        components.push(Component {
            name: component.name,
            group: component.group,
            description: component.description,
        });
    }

    let mut names = HashSet::new();
    let mut channels = Vec::new();
    for (index, channel) in raw.channel.into_iter().enumerate() {
        let place = format!("{shown}: channel #{} `{}`", index + 1, channel.name);
        if !valid_name(&channel.name) {
            bail!(
                "{place}: name must be letters, digits, `-` or `_` (it names the channel on the \
                 command line)"
            );
        }
        if !names.insert(channel.name.clone()) {
            bail!("{place}: another channel already has this name; names must be unique");
        }
        let timeout = channel
            .timeout
            .map(|timeout| parse_duration(&timeout).context("timeout"))
            .transpose()
            .map_err(|err| anyhow::anyhow!("{place}: {err:#}"))?;
        let phases = channel
            .phases
            .map(|phases| {
                phases
                    .iter()
                    .map(|phase| phase.parse::<crate::update::Phase>())
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .transpose()
            .map_err(|err| anyhow::anyhow!("{place}: phases: {err:#}"))?;
        channels.push(RawChannel {
            place,
            name: channel.name,
            kind: channel.kind,
            audience: channel.audience,
            enabled: channel.enabled,
            template: channel.template.map(|template| base.join(template)),
            timeout,
            phases,
            rest: channel.rest,
        });
    }

    if raw.state.path.is_some() && raw.state.url_env.is_some() {
        bail!("{}: give either path or url_env, not both", at("state"));
    }
    Ok(Config {
        path: path.to_owned(),
        organization,
        state: StateConfig {
            path: raw.state.path.map(|state| base.join(state)),
            url_env: raw.state.url_env,
        },
        base,
        dispatch,
        policy,
        components,
        channels,
    })
}

/// Reads a kind's own keys into its settings struct, refusing a secret written inline.
pub(crate) fn kind_settings<T: DeserializeOwned>(
    rest: toml::Table,
    kind: &str,
    secret_fields: &[&str],
) -> anyhow::Result<T> {
    for field in secret_fields {
        if rest.contains_key(*field) {
            bail!(
                "`{field}` must not be written in the file; name where it is kept with \
                 {field}_env = \"VAR\" or {field}_file = \"path\""
            );
        }
    }
    rest.try_into()
        .map_err(|err: toml::de::Error| anyhow::anyhow!("{kind}: {}", one_line(&err)))
}

/// A secret named by `{field}_env` or `{field}_file`, at most one of them.
pub(crate) fn secret_source(
    field: &str,
    env: Option<String>,
    file: Option<PathBuf>,
    base: &Path,
) -> anyhow::Result<Option<SecretSource>> {
    match (env, file) {
        (Some(_), Some(_)) => bail!("give either {field}_env or {field}_file, not both"),
        (Some(name), None) => {
            if name.is_empty() || name.contains('=') {
                bail!("{field}_env must name an environment variable");
            }
            Ok(Some(SecretSource::Env(name)))
        }
        (None, Some(path)) => Ok(Some(SecretSource::File(base.join(path)))),
        (None, None) => Ok(None),
    }
}

/// A file a channel writes or reads, relative to the config's folder.
pub(crate) fn file_path(base: &Path, path: &Path, key: &str) -> anyhow::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        bail!("{key} is empty");
    }
    let full = base.join(path);
    if full.is_dir() {
        bail!("{key} {} is a folder; name a file in it", full.display());
    }
    if full.file_name().is_none() {
        bail!("{key} {} does not name a file", full.display());
    }
    Ok(full)
}

/// An API base URL: https, or http only on loopback (for local emulators and proxies).
pub(crate) fn api_base(
    text: Option<&str>,
    default: &str,
    key: &str,
) -> anyhow::Result<reqwest::Url> {
    let mut url = check_url(text.unwrap_or(default)).context(key.to_owned())?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if url.scheme() != "https" && !loopback {
        bail!("{key} must be https:// (http is allowed only on loopback)");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

pub(crate) fn check_url(text: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .map_err(|err| anyhow::anyhow!("`{text}` is not a URL ({err}); write https://..."))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("`{text}` must be an http:// or https:// URL");
    }
    Ok(url)
}

/// An address such as `status@example.com` or `Example Status <status@example.com>`. CR and LF
/// are refused, so no value can inject a header.
pub(crate) fn check_mailbox(text: &str) -> anyhow::Result<lettre::message::Mailbox> {
    if text.chars().any(char::is_control) {
        bail!(
            "`{}` has a line break or control character",
            text.escape_debug()
        );
    }
    text.parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not an email address such as status@example.com"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The zone `name` names, as jiff's database finds it. That database lists the whole zoneinfo
/// folder before its first lookup (43 folders, 900 files here: 0.6 ms of every command that
/// reads a config with a `timezone`), so the zone's own file is read where the database would
/// find it; anything else (another case, a missing or foreign file) is left to the database.
fn time_zone(name: &str) -> Option<TimeZone> {
    use std::io::Read;
    // TZif files are a few KiB; one of over 256 KiB is left to jiff.
    const TZIF_LIMIT: u64 = 256 * 1024;
    let plain = !name.starts_with("posix/")
        && !name.starts_with("right/")
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        });
    let direct = || {
        let folder = std::env::var_os("TZDIR")
            .map(PathBuf::from)
            .filter(|folder| folder.is_dir())
            .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
        let mut data = Vec::new();
        std::fs::File::open(folder.join(name))
            .ok()?
            .take(TZIF_LIMIT)
            .read_to_end(&mut data)
            .ok()?;
        TimeZone::tzif(name, &data).ok()
    };
    plain
        .then(direct)
        .flatten()
        .or_else(|| TimeZone::get(name).ok())
}

/// toml's messages span several lines with a source excerpt; keep the first line plus the
/// location so that every error is one line.
pub(crate) fn one_line(err: &dyn std::fmt::Display) -> String {
    let text = err.to_string();
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let first = lines.next().unwrap_or_default().trim().to_owned();
    // Skip the source excerpt: `  |`, `3 | key = 1` and `  | ^^^` lines.
    let excerpt = |line: &str| {
        let before_bar = line.split('|').next().unwrap_or("");
        line.contains('|') && before_bar.trim().chars().all(|c| c.is_ascii_digit())
    };
    let rest: Vec<&str> = lines
        .filter(|line| !excerpt(line) && !line.contains("-->"))
        .map(str::trim)
        .collect();
    let line = if rest.is_empty() {
        first
    } else {
        format!("{first}: {}", rest.join("; "))
    };
    match did_you_mean(&line, &[]) {
        Some(hint) => format!("{line}; {hint}"),
        None => line,
    }
}

/// For serde's "unknown field `colr`, expected one of `color`, ..." (and `also`, keys read
/// elsewhere): the known key one or two letters away, as "did you mean `color`?".
pub(crate) fn did_you_mean(message: &str, also: &[&str]) -> Option<String> {
    let (_, after) = message.split_once("unknown field `")?;
    let (unknown, expected) = after.split_once('`')?;
    let listed = expected
        .split_once("expected")
        .map_or("", |(_, list)| list)
        .split('`')
        .skip(1)
        .step_by(2);
    listed
        .chain(also.iter().copied())
        .map(|known| (strsim::levenshtein(unknown, known), known))
        .filter(|(distance, known)| *distance <= 2 && *distance < known.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| format!("did you mean `{known}`?"))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    /// Offsets twice a year from 1900 to 2100, where the rules of every zone changed.
    fn offsets(tz: &TimeZone) -> Vec<i32> {
        (1900..2100)
            .map(|year| (year - 1900) * 31_556_952 - 2_208_988_800)
            .flat_map(|january| [january, january + 15_778_476])
            .map(|seconds| {
                let at = Timestamp::from_second(seconds).unwrap();
                tz.to_offset(at).seconds()
            })
            .collect()
    }

    /// Every zone jiff's database has is the same zone read directly: its name and its offsets.
    #[test]
    fn every_zone_reads_as_the_database_has_it() {
        let names = jiff::tz::db().available().collect::<Vec<_>>();
        assert!(names.len() > 300, "a zoneinfo database is installed");
        for name in names {
            let name = name.as_str();
            let ours = super::time_zone(name).unwrap_or_else(|| panic!("{name}"));
            let theirs = TimeZone::get(name).unwrap();
            assert_eq!(ours.iana_name(), theirs.iana_name(), "{name}");
            assert_eq!(offsets(&ours), offsets(&theirs), "{name}");
        }
    }

    proptest! {
        /// Any other name, a path that leaves the folder included, is found or refused as the
        /// database finds or refuses it.
        #[test]
        fn any_name_is_found_or_refused_as_the_database_does(
            name in "[A-Za-z_/.+-]{0,24}|(\\.\\./)+etc/passwd|(posix|right)/Europe/Paris|europe/paris|Zone\\.tab|zone\\.tab"
        ) {
            let ours = super::time_zone(&name);
            let theirs = TimeZone::get(&name).ok();
            prop_assert_eq!(ours.is_some(), theirs.is_some(), "{}", name);
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                prop_assert_eq!(offsets(&ours), offsets(&theirs));
            }
        }
    }
}
