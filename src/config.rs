//! `channels.toml`: the schema, where the file is found, and validation with clear messages.
//!
//! Loading is pure apart from reading the file: it parses, resolves relative paths against the
//! file's folder and checks every value, but reads no secret. Secrets are named, never written:
//! a secret field `foo` is given as `foo_env = "VAR"` or `foo_file = "path"`, and only
//! [`SecretSource::resolve`] reads it, when the channels are built just before sending.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::update::parse_duration;
use crate::wording::rules::{RuleId, Severity};

/// The whole configuration, validated.
#[derive(Debug)]
pub struct Config {
    pub path: PathBuf,
    pub organization: Organization,
    pub state_path: Option<PathBuf>,
    pub dispatch: DispatchSettings,
    pub policy: Policy,
    pub channels: Vec<ChannelConfig>,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub name: String,
    pub status_url: Option<String>,
    pub timezone: TimeZone,
}

/// How the dispatcher treats every channel unless the channel says otherwise.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub timeout: SignedDuration,
    pub max_attempts: u32,
    pub retry_base: SignedDuration,
    pub max_retry_wait: SignedDuration,
    pub max_in_flight: usize,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub max_update_interval: SignedDuration,
    pub glossary: BTreeMap<String, String>,
    pub internal_markers: Vec<regex::Regex>,
    pub rules: BTreeMap<RuleId, Severity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Public,
    Internal,
}

#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub name: String,
    pub audience: Audience,
    pub enabled: bool,
    pub template: Option<PathBuf>,
    pub timeout: Option<SignedDuration>,
    pub settings: ChannelSettings,
}

impl ChannelConfig {
    pub fn kind(&self) -> &'static str {
        match self.settings {
            ChannelSettings::Webhook(_) => "webhook",
            ChannelSettings::Banner(_) => "banner",
            ChannelSettings::Feed(_) => "feed",
            ChannelSettings::X(_) => "x",
            ChannelSettings::Facebook(_) => "facebook",
            ChannelSettings::Email(_) => "email",
        }
    }

    /// Every secret this channel reads, with its field name.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        match &self.settings {
            ChannelSettings::Webhook(webhook) => {
                let mut secrets = Vec::new();
                if let Some(UrlSource::Env(source)) = &webhook.url {
                    secrets.push(("url", source));
                }
                secrets.extend(webhook.secret.iter().map(|source| ("secret", source)));
                secrets
            }
            ChannelSettings::X(x) => match &x.auth {
                XAuth::OAuth1 {
                    consumer_key,
                    consumer_secret,
                    access_token,
                    access_token_secret,
                } => vec![
                    ("consumer_key", consumer_key),
                    ("consumer_secret", consumer_secret),
                    ("access_token", access_token),
                    ("access_token_secret", access_token_secret),
                ],
                XAuth::Bearer(token) => vec![("bearer_token", token)],
            },
            ChannelSettings::Facebook(facebook) => {
                let mut secrets = vec![("page_token", &facebook.page_token)];
                secrets.extend(
                    facebook
                        .app_secret
                        .iter()
                        .map(|source| ("app_secret", source)),
                );
                secrets
            }
            ChannelSettings::Email(email) => {
                [("username", &email.username), ("password", &email.password)]
                    .into_iter()
                    .filter_map(|(field, source)| source.as_ref().map(|source| (field, source)))
                    .collect()
            }
            ChannelSettings::Banner(_) | ChannelSettings::Feed(_) => Vec::new(),
        }
    }

    /// The secrets that cannot be read now, each as `field_env names VAR` / `field_file PATH`.
    pub fn missing_secrets(&self) -> Vec<String> {
        self.secrets()
            .into_iter()
            .filter(|(field, source)| source.resolve(&self.name, field).is_err())
            .map(|(field, source)| match source {
                SecretSource::Env(name) => format!("{field}_env {name}"),
                SecretSource::File(path) => format!("{field}_file {}", path.display()),
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub enum ChannelSettings {
    Webhook(WebhookSettings),
    Banner(BannerSettings),
    Feed(FeedSettings),
    X(XSettings),
    Facebook(FacebookSettings),
    Email(EmailSettings),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or a trusted local network.
    None,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub tls: EmailTls,
    /// A PEM file of the CA that signs a private relay's certificate; then only it is trusted.
    pub ca_file: Option<PathBuf>,
    pub username: Option<SecretSource>,
    pub password: Option<SecretSource>,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub reply_to: Option<String>,
    pub recipients_file: Option<PathBuf>,
    pub unsubscribe_url: Option<String>,
    pub list_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct XSettings {
    pub api_base: reqwest::Url,
    pub auth: XAuth,
}

/// X accepts OAuth 1.0a user context or an OAuth 2.0 user token for posting.
#[derive(Debug, Clone)]
pub enum XAuth {
    OAuth1 {
        consumer_key: SecretSource,
        consumer_secret: SecretSource,
        access_token: SecretSource,
        access_token_secret: SecretSource,
    },
    Bearer(SecretSource),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowUps {
    /// Comment on the incident's first post.
    Comment,
    /// A new post each time.
    Post,
}

#[derive(Debug, Clone)]
pub struct FacebookSettings {
    pub graph_base: reqwest::Url,
    pub api_version: String,
    pub page_id: String,
    pub page_token: SecretSource,
    pub app_secret: Option<SecretSource>,
    pub follow_ups: FollowUps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Json,
    Slack,
    Discord,
    Teams,
    Mattermost,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Mattermost => "mattermost",
        }
    }
}

#[derive(Debug, Clone)]
pub enum UrlSource {
    Literal(reqwest::Url),
    /// The URL carries a token (Slack, Discord), so it is read like a secret.
    Env(SecretSource),
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: Option<UrlSource>,
    /// Subscribers: one URL a line, each its own delivery.
    pub urls_file: Option<PathBuf>,
    pub format: WebhookFormat,
    pub secret: Option<SecretSource>,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct BannerSettings {
    pub html_path: PathBuf,
    pub json_path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub path: PathBuf,
    pub max_entries: usize,
    pub feed_url: Option<String>,
}

/// Where a secret comes from. The value is read only by [`SecretSource::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    pub fn resolve(&self, channel: &str, field: &str) -> anyhow::Result<String> {
        match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
                _ => bail!(
                    "channel `{channel}`: {field}_env names {name}, which is not set; export \
                     {name}, or set enabled = false for this channel"
                ),
            },
            SecretSource::File(path) => {
                let value = std::fs::read_to_string(path).map_err(|err| {
                    anyhow::anyhow!(
                        "channel `{channel}`: {field}_file {}: {err}; check the path",
                        path.display()
                    )
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
    channel: Vec<RawChannel>,
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
    #[serde(default)]
    glossary: BTreeMap<String, String>,
    internal_markers: Option<Vec<String>>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawChannel {
    name: String,
    kind: String,
    #[serde(default = "public")]
    audience: Audience,
    #[serde(default = "yes")]
    enabled: bool,
    template: Option<PathBuf>,
    timeout: Option<String>,
    #[serde(flatten)]
    rest: toml::Table,
}

fn public() -> Audience {
    Audience::Public
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Option<String>,
    url_env: Option<String>,
    urls_file: Option<PathBuf>,
    #[serde(default = "json_format")]
    format: WebhookFormat,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn json_format() -> WebhookFormat {
    WebhookFormat::Json
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBanner {
    html_path: PathBuf,
    json_path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    path: PathBuf,
    #[serde(default = "twenty")]
    max_entries: usize,
    feed_url: Option<String>,
}

fn twenty() -> usize {
    20
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawX {
    api_base: Option<String>,
    consumer_key_env: Option<String>,
    consumer_key_file: Option<PathBuf>,
    consumer_secret_env: Option<String>,
    consumer_secret_file: Option<PathBuf>,
    access_token_env: Option<String>,
    access_token_file: Option<PathBuf>,
    access_token_secret_env: Option<String>,
    access_token_secret_file: Option<PathBuf>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFacebook {
    graph_base: Option<String>,
    #[serde(default = "graph_version")]
    api_version: String,
    page_id: String,
    page_token_env: Option<String>,
    page_token_file: Option<PathBuf>,
    app_secret_env: Option<String>,
    app_secret_file: Option<PathBuf>,
    #[serde(default = "comment")]
    follow_ups: FollowUps,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    host: String,
    port: Option<u16>,
    #[serde(default = "starttls")]
    tls: EmailTls,
    ca_file: Option<PathBuf>,
    username_env: Option<String>,
    username_file: Option<PathBuf>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    from: String,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    reply_to: Option<String>,
    recipients_file: Option<PathBuf>,
    unsubscribe_url: Option<String>,
    list_id: Option<String>,
}

fn starttls() -> EmailTls {
    EmailTls::Starttls
}

fn graph_version() -> String {
    "v25.0".into()
}

fn comment() -> FollowUps {
    FollowUps::Comment
}

/// The secret fields of each kind: writing one inline gets a message that says how to name it.
const SECRET_FIELDS: [&str; 11] = [
    "secret",
    "consumer_key",
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "bearer_token",
    "page_token",
    "app_secret",
    "token",
    "password",
    "username",
];

/// Ticket ids, internal host names and private addresses.
const DEFAULT_INTERNAL_MARKERS: [&str; 3] = [
    r"\b[A-Z][A-Z0-9]{1,9}-\d{1,6}\b",
    r"(?i)\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(internal|corp|local|lan|intranet)\b",
    r"\b(10|127)\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|\b192\.168\.\d{1,3}\.\d{1,3}\b",
];

/// Finds the configuration file: `--config`/`OUTAGE_CONFIG`, then `./channels.toml`, then the
/// user config folder.
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let local = PathBuf::from("channels.toml");
    if local.exists() {
        return Ok(local);
    }
    let user = user_config_path();
    if let Some(user) = user.filter(|path| path.exists()) {
        return Ok(user);
    }
    bail!(
        "no configuration found: pass --config FILE, set OUTAGE_CONFIG, or copy \
         channels.example.toml to ./channels.toml"
    )
}

fn user_config_path() -> Option<PathBuf> {
    use etcetera::AppStrategy;
    let strategy = etcetera::choose_app_strategy(etcetera::AppStrategyArgs {
        top_level_domain: "dev".into(),
        author: "outage".into(),
        app_name: "outage".into(),
    })
    .ok()?;
    Some(strategy.config_dir().join("channels.toml"))
}

/// The default journal location when neither flag, env nor config names one.
pub fn default_state_path() -> anyhow::Result<PathBuf> {
    use etcetera::AppStrategy;
    let strategy = etcetera::choose_app_strategy(etcetera::AppStrategyArgs {
        top_level_domain: "dev".into(),
        author: "outage".into(),
        app_name: "outage".into(),
    })
    .context("cannot find a state folder; pass --state FILE")?;
    let dir = strategy.state_dir().unwrap_or_else(|| strategy.data_dir());
    Ok(dir.join("journal.db"))
}

pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text, path)
}

/// Parses and validates a configuration; `path` names the file in messages and anchors relative
/// paths.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Config> {
    let shown = path.display();
    let raw: RawConfig =
        toml::from_str(text).map_err(|err| anyhow::anyhow!("{shown}: {}", one_line(&err)))?;
    let base = path.parent().unwrap_or(Path::new("")).to_owned();
    let at = |key: &str| format!("{shown}: {key}");

    let timezone = match &raw.organization.timezone {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| {
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
        max_in_flight: raw.dispatch.max_in_flight.unwrap_or(256).max(1),
    };

    let mut rules = BTreeMap::new();
    for (rule, severity) in &raw.policy.rules {
        let key = format!("policy.rules.{rule}");
        let rule: RuleId = rule.parse().with_context(|| at(&key))?;
        let severity: Severity = severity.parse().with_context(|| at(&key))?;
        rules.insert(rule, severity);
    }
    let markers = raw.policy.internal_markers.unwrap_or_else(|| {
        DEFAULT_INTERNAL_MARKERS
            .iter()
            .map(|pattern| (*pattern).to_owned())
            .collect()
    });
    let internal_markers = markers
        .iter()
        .map(|pattern| {
            regex::Regex::new(pattern).map_err(|err| {
                anyhow::anyhow!(
                    "{}: `{pattern}` is not a valid regular expression: {}",
                    at("policy.internal_markers"),
                    one_line(&err)
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let policy = Policy {
        max_update_interval: duration(
            &raw.policy.max_update_interval,
            "policy.max_update_interval",
            "60m",
        )?,
        glossary: raw
            .policy
            .glossary
            .into_iter()
            .map(|(avoid, prefer)| (avoid.to_lowercase(), prefer))
            .collect(),
        internal_markers,
        rules,
    };

    let mut names = HashSet::new();
    let mut channels = Vec::new();
    for (index, channel) in raw.channel.into_iter().enumerate() {
        let where_ = format!("{shown}: channel #{} `{}`", index + 1, channel.name);
        if !valid_name(&channel.name) {
            bail!(
                "{where_}: name must be letters, digits, `-` or `_` (it names the channel on the \
                 command line)"
            );
        }
        if !names.insert(channel.name.clone()) {
            bail!("{where_}: another channel already has this name; names must be unique");
        }
        channels.push(
            channel_config(channel, &base).map_err(|err| anyhow::anyhow!("{where_}: {err:#}"))?,
        );
    }

    let state_path = raw.state.path.map(|state| base.join(state));
    Ok(Config {
        path: path.to_owned(),
        organization,
        state_path,
        dispatch,
        policy,
        channels,
    })
}

fn channel_config(raw: RawChannel, base: &Path) -> anyhow::Result<ChannelConfig> {
    let settings = match raw.kind.as_str() {
        "webhook" => {
            let webhook: RawWebhook = kind_settings(raw.rest, "webhook")?;
            let url = match (webhook.url, webhook.url_env) {
                (Some(url), None) => Some(UrlSource::Literal(check_url(&url).context("url")?)),
                (None, Some(name)) => Some(UrlSource::Env(
                    secret_source("url", Some(name), None, base)?.expect("given"),
                )),
                (Some(_), Some(_)) => bail!("give either url or url_env, not both"),
                (None, None) if webhook.urls_file.is_some() => None,
                (None, None) => bail!(
                    "missing url; add url = \"https://...\", url_env = \"VAR\" or urls_file = \"path\""
                ),
            };
            let secret = secret_source("secret", webhook.secret_env, webhook.secret_file, base)?;
            for (name, value) in &webhook.headers {
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| anyhow::anyhow!("headers: `{name}` is not a valid header name"))?;
                reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                    anyhow::anyhow!("headers.{name}: the value is not a valid header value")
                })?;
            }
            ChannelSettings::Webhook(WebhookSettings {
                url,
                urls_file: webhook
                    .urls_file
                    .map(|path| file_path(base, &path, "urls_file"))
                    .transpose()?,
                format: webhook.format,
                secret,
                headers: webhook.headers,
            })
        }
        "banner" => {
            let banner: RawBanner = kind_settings(raw.rest, "banner")?;
            ChannelSettings::Banner(BannerSettings {
                html_path: file_path(base, &banner.html_path, "html_path")?,
                json_path: banner
                    .json_path
                    .map(|path| file_path(base, &path, "json_path"))
                    .transpose()?,
            })
        }
        "feed" => {
            let feed: RawFeed = kind_settings(raw.rest, "feed")?;
            if feed.max_entries == 0 {
                bail!("max_entries must be at least 1");
            }
            if let Some(url) = &feed.feed_url {
                check_url(url).context("feed_url")?;
            }
            ChannelSettings::Feed(FeedSettings {
                path: file_path(base, &feed.path, "path")?,
                max_entries: feed.max_entries,
                feed_url: feed.feed_url,
            })
        }
        "x" => {
            let x: RawX = kind_settings(raw.rest, "x")?;
            let api_base = api_base(x.api_base.as_deref(), "https://api.x.com", "api_base")?;
            let oauth1 = [
                secret_source(
                    "consumer_key",
                    x.consumer_key_env,
                    x.consumer_key_file,
                    base,
                )?,
                secret_source(
                    "consumer_secret",
                    x.consumer_secret_env,
                    x.consumer_secret_file,
                    base,
                )?,
                secret_source(
                    "access_token",
                    x.access_token_env,
                    x.access_token_file,
                    base,
                )?,
                secret_source(
                    "access_token_secret",
                    x.access_token_secret_env,
                    x.access_token_secret_file,
                    base,
                )?,
            ];
            let bearer = secret_source(
                "bearer_token",
                x.bearer_token_env,
                x.bearer_token_file,
                base,
            )?;
            let auth = match (oauth1, bearer) {
                ([Some(key), Some(secret), Some(token), Some(token_secret)], None) => {
                    XAuth::OAuth1 {
                        consumer_key: key,
                        consumer_secret: secret,
                        access_token: token,
                        access_token_secret: token_secret,
                    }
                }
                ([None, None, None, None], Some(bearer)) => XAuth::Bearer(bearer),
                ([None, None, None, None], None) => bail!(
                    "x needs credentials: consumer_key_env, consumer_secret_env, access_token_env \
                     and access_token_secret_env (OAuth 1.0a), or bearer_token_env (OAuth 2.0 user \
                     token)"
                ),
                (_, Some(_)) => {
                    bail!("give either the OAuth 1.0a fields or bearer_token_env, not both")
                }
                _ => bail!(
                    "OAuth 1.0a needs all four of consumer_key_env, consumer_secret_env, \
                     access_token_env and access_token_secret_env"
                ),
            };
            ChannelSettings::X(XSettings { api_base, auth })
        }
        "facebook" => {
            let facebook: RawFacebook = kind_settings(raw.rest, "facebook")?;
            if facebook.page_id.is_empty() || !facebook.page_id.chars().all(|c| c.is_ascii_digit())
            {
                bail!("page_id must be the Page's numeric id (Page settings -> About -> Page ID)");
            }
            if !facebook.api_version.starts_with('v') || !facebook.api_version.ends_with(".0") {
                bail!("api_version must look like v25.0");
            }
            ChannelSettings::Facebook(FacebookSettings {
                graph_base: api_base(
                    facebook.graph_base.as_deref(),
                    "https://graph.facebook.com",
                    "graph_base",
                )?,
                api_version: facebook.api_version,
                page_id: facebook.page_id,
                page_token: secret_source(
                    "page_token",
                    facebook.page_token_env,
                    facebook.page_token_file,
                    base,
                )?
                .context("missing page_token_env: a Page access token is needed to post")?,
                app_secret: secret_source(
                    "app_secret",
                    facebook.app_secret_env,
                    facebook.app_secret_file,
                    base,
                )?,
                follow_ups: facebook.follow_ups,
            })
        }
        "email" => ChannelSettings::Email(email_settings(kind_settings(raw.rest, "email")?, base)?),
        other => {
            bail!("unknown kind `{other}`; use one of webhook, banner, feed, x, facebook, email")
        }
    };
    Ok(ChannelConfig {
        name: raw.name,
        audience: raw.audience,
        enabled: raw.enabled,
        template: raw.template.map(|template| base.join(template)),
        timeout: raw
            .timeout
            .map(|timeout| parse_duration(&timeout).context("timeout"))
            .transpose()?,
        settings,
    })
}

fn email_settings(email: RawEmail, base: &Path) -> anyhow::Result<EmailSettings> {
    if email.host.trim().is_empty() || email.host.contains(['/', ' ', ':']) {
        bail!("host must be a host name such as smtp.example.com (the port goes in `port`)");
    }
    for (key, addresses) in [
        ("from", std::slice::from_ref(&email.from)),
        ("to", &email.to),
        ("cc", &email.cc),
        ("bcc", &email.bcc),
    ] {
        for address in addresses {
            check_mailbox(address).with_context(|| key.to_owned())?;
        }
    }
    if let Some(reply_to) = &email.reply_to {
        check_mailbox(reply_to).context("reply_to")?;
    }
    if email.to.is_empty()
        && email.cc.is_empty()
        && email.bcc.is_empty()
        && email.recipients_file.is_none()
    {
        bail!("no recipients: give to, cc, bcc or recipients_file");
    }
    if let Some(url) = &email.unsubscribe_url {
        check_url(url).context("unsubscribe_url")?;
    }
    let username = secret_source("username", email.username_env, email.username_file, base)?;
    let password = secret_source("password", email.password_env, email.password_file, base)?;
    if username.is_some() != password.is_some() {
        bail!("give both username_env and password_env (or neither, for a relay without AUTH)");
    }
    Ok(EmailSettings {
        host: email.host,
        port: email.port.unwrap_or(match email.tls {
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        }),
        tls: email.tls,
        ca_file: email.ca_file.map(|path| base.join(path)),
        username,
        password,
        from: email.from,
        to: email.to,
        cc: email.cc,
        bcc: email.bcc,
        reply_to: email.reply_to,
        recipients_file: email
            .recipients_file
            .map(|path| file_path(base, &path, "recipients_file"))
            .transpose()?,
        unsubscribe_url: email.unsubscribe_url,
        list_id: email.list_id,
    })
}

/// An address such as `status@example.com` or `Example Status <status@example.com>`. CR and LF
/// are refused, so no value can inject a header.
pub fn check_mailbox(text: &str) -> anyhow::Result<lettre::message::Mailbox> {
    if text.chars().any(char::is_control) {
        bail!(
            "`{}` has a line break or control character",
            text.escape_debug()
        );
    }
    text.parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not an email address such as status@example.com"))
}

fn kind_settings<T: DeserializeOwned>(rest: toml::Table, kind: &str) -> anyhow::Result<T> {
    for field in SECRET_FIELDS {
        if rest.contains_key(field) {
            bail!(
                "`{field}` must not be written in the file; name where it is kept with \
                 {field}_env = \"VAR\" or {field}_file = \"path\""
            );
        }
    }
    rest.try_into()
        .map_err(|err: toml::de::Error| anyhow::anyhow!("{kind}: {}", one_line(&err)))
}

fn secret_source(
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

fn file_path(base: &Path, path: &Path, key: &str) -> anyhow::Result<PathBuf> {
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
fn api_base(text: Option<&str>, default: &str, key: &str) -> anyhow::Result<reqwest::Url> {
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

pub fn check_url(text: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .map_err(|err| anyhow::anyhow!("`{text}` is not a URL ({err}); write https://..."))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("`{text}` must be an http:// or https:// URL");
    }
    Ok(url)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
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
    if rest.is_empty() {
        first
    } else {
        format!("{first}: {}", rest.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const VALID: &str = "[organization]\nname = \"Example\"\n[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n";

    proptest! {
        /// Any text is a configuration or one clear line that names the file.
        #[test]
        fn any_text_parses_or_fails_with_one_line(text in "(\\[|\\]|\\[\\[channel\\]\\]|organization|name|kind|url|=|\"|\\n|webhook|email|x|facebook|[a-z0-9 ._:/-]){0,120}") {
            if let Err(err) = parse(&text, Path::new("channels.toml")) {
                let message = format!("{err:#}");
                prop_assert!(message.starts_with("channels.toml: "), "{message}");
                prop_assert!(!message.contains('\n'), "{message}");
            }
        }

        /// Changing one value of a valid file never panics, whatever the value.
        #[test]
        fn any_value_in_a_valid_file_is_checked(value in "\\PC{0,40}") {
            let text = VALID.replace("https://hooks.example.com/x", &value.replace(['"', '\\'], ""));
            let _ = parse(&text, Path::new("channels.toml"));
        }
    }
}
