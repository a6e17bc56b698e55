//! The team journal: the same records in a PostgreSQL database that every machine of the rotation
//! shares, so threads, reruns, `retry` and the cadence survive a change of hands.
//!
//! The client is the maintained `postgres` crate (the synchronous face of `tokio-postgres`, whose
//! runtime it keeps to itself: the journal interface is synchronous, and the dispatcher already
//! writes through one thread). `sqlx` was not chosen: it needs a newer Rust than this crate's
//! `rust-version`, and its SQLite driver would fight rusqlite over `libsqlite3-sys`.
//!
//! TLS is rustls, the stack the rest of the tool uses, with libpq's `sslmode` semantics:
//! `disable`; `prefer` and `require` (encrypted, the certificate not verified, as libpq does
//! unless a root certificate is given); `verify-ca` (the chain, against `sslrootcert` or the
//! system's roots); `verify-full` (the chain and the host name). libpq's environment variables
//! (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`,
//! `PGAPPNAME`, `PGCONNECT_TIMEOUT`) fill what the URL leaves out. A password never appears in a
//! message: locations are described without it.
//!
//! Rows hold the same values as the SQLite file (times as RFC 3339 text), so a copy between the
//! two is exact. Locks are session advisory locks, held by this journal's connection: posts to
//! one incident from any machine are serialised, and a lost connection releases them.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::Timestamp;
use postgres::types::{ToSql, Type};
use postgres::{Client, GenericClient, Row};
use sha2::{Digest, Sha256};

use super::{
    Access, Change, DELIVERY_READ, Delivery, DeliveryRow, Dump, Filter, Incident, IncidentRow,
    Journal, NewDelivery, NewUpdate, RENDERINGS, SCHEMA_VERSION, StoredRendering, StoredUpdate,
    Thread, Unsettled, UpdateRow, rows,
};
use crate::update::Update;

/// Takes the lock that serialises creating and migrating the schema.
const SCHEMA_LOCK: i64 = 0x6f75_7467_0000_0001;

/// The tables as of schema 3; schema 4's are added by [`RENDERINGS`], to a new journal as to an
/// older one.
const SCHEMA: &str = "
CREATE TABLE outage_schema (version INTEGER NOT NULL);
CREATE TABLE incidents (
    ord BIGSERIAL,
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    is_open BOOLEAN NOT NULL,
    last_sequence BIGINT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX incidents_open ON incidents (is_open, updated_at);
CREATE INDEX incidents_opened ON incidents (opened_at);
CREATE TABLE updates (
    ord BIGSERIAL,
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    sequence BIGINT NOT NULL,
    status TEXT NOT NULL,
    facts TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    input TEXT,
    content TEXT,
    idempotency_key TEXT UNIQUE,
    allowed TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (incident_id, sequence)
);
CREATE INDEX updates_recent ON updates (created_at);
CREATE INDEX updates_input ON updates (input, created_at) WHERE input IS NOT NULL;
CREATE TABLE deliveries (
    ord BIGSERIAL,
    id TEXT PRIMARY KEY,
    update_id TEXT NOT NULL REFERENCES updates (id),
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    remote_id TEXT,
    parts TEXT,
    url TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    note TEXT,
    rendered TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (update_id, channel, target)
);
CREATE INDEX deliveries_unsettled ON deliveries (update_id)
    WHERE state IN ('failed', 'unknown', 'pending');
";

/// From schema 2 (the first in PostgreSQL) to 3: the words' own digest.
const MIGRATE_2_TO_3: &str = "ALTER TABLE updates ADD COLUMN content TEXT;";

/// Stores renderings under their names, once each (another row of the same content is that
/// row), in the same statement, and so the same round trip, as the deliveries that name them:
/// the parameters `$n` and `$n + 1` are the names and payloads.
fn storing_renderings(n: usize) -> String {
    format!(
        "WITH stored AS (INSERT INTO renderings (id, payload)
             SELECT * FROM unnest(${n}::text[], ${}::text[]) ON CONFLICT (id) DO NOTHING) ",
        n + 1
    )
}

/// A connection string without its password, for messages.
pub(crate) fn describe(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(key, _)| key != "password")
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect();
            parsed.set_query(None);
            if !pairs.is_empty() {
                parsed.query_pairs_mut().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => "the PostgreSQL journal".to_owned(),
    }
}

pub(crate) struct Postgres {
    client: RefCell<Client>,
    shown: String,
    /// The names of the locks this session holds.
    locks: HashSet<String>,
}

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Postgres {
    pub(crate) fn open(url: &str, access: Access) -> anyhow::Result<Option<Postgres>> {
        let shown = describe(url);
        let (config, mode, root) =
            config(url).with_context(|| format!("{shown}: cannot read the URL"))?;
        let client = connect(&config, mode, root.as_deref())
            .map_err(|err| anyhow::anyhow!("cannot connect to the journal at {shown}: {err:#}"))?;
        let mut journal = Postgres {
            client: RefCell::new(client),
            shown,
            locks: HashSet::new(),
        };
        match (journal.state()?, access) {
            (None, Access::ReadOnly) => return Ok(None),
            (None, Access::ReadWrite) => journal.prepare()?,
            (Some((version, _)), _) if version > SCHEMA_VERSION => bail!(
                "the journal at {} was written by a newer version of outage (schema {version}; \
                 this one knows up to {SCHEMA_VERSION}); upgrade outage",
                journal.shown
            ),
            (Some((_, false)), Access::ReadWrite) => bail!(
                "the journal at {} may only be read by this role; post with the role that owns \
                 the journal's schema (a read-only role suits `outage status`)",
                journal.shown
            ),
            (Some((version, _)), Access::ReadOnly) if version < SCHEMA_VERSION => bail!(
                "the journal at {} has the schema of an earlier version ({version}) and must be \
                 upgraded once: run `outage journal migrate` with the role that owns it",
                journal.shown
            ),
            (Some((version, _)), Access::ReadWrite) if version < SCHEMA_VERSION => {
                journal.prepare()?;
            }
            (Some(_), _) => {}
        }
        Ok(Some(journal))
    }

    fn version(&self) -> anyhow::Result<Option<u32>> {
        Ok(self.state()?.map(|(version, _)| version))
    }

    /// The schema version and whether this role may write the journal, `None` when the
    /// database holds no journal yet. One round trip when it does: every command opens it.
    fn state(&self) -> anyhow::Result<Option<(u32, bool)>> {
        let mut client = self.client.borrow_mut();
        match client.query_typed_one(
            "SELECT max(version), has_table_privilege('deliveries', 'INSERT')
                 AND has_table_privilege('deliveries', 'UPDATE')
             FROM outage_schema",
            &[],
        ) {
            Ok(row) => {
                let version: Option<i32> = row.get(0);
                return Ok(Some((u32::try_from(version.unwrap_or(0))?, row.get(1))));
            }
            Err(err) if err.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => {}
            Err(err) => return Err(err.into()),
        }
        // Both tables in one snapshot, from the catalog: another process may have created the
        // journal since the query above (its tables appear together when it commits), which is
        // not a foreign `incidents` table.
        let row = client.query_typed_one(
            "SELECT
                 EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                     WHERE schemaname = current_schema() AND tablename = 'outage_schema'),
                 EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                     WHERE schemaname = current_schema() AND tablename = 'incidents')",
            &[],
        )?;
        let (ours, incidents): (bool, bool) = (row.get(0), row.get(1));
        if ours {
            drop(client);
            return self.state();
        }
        if incidents {
            bail!(
                "{} holds an `incidents` table that is not outage's; give the journal a \
                 database or schema of its own",
                self.shown
            );
        }
        Ok(None)
    }

    /// Creates the journal's tables, or upgrades them to this version's schema: once, whichever
    /// machine comes first.
    fn prepare(&mut self) -> anyhow::Result<()> {
        let shown = self.shown.clone();
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        // Two machines starting on an empty database at once: one creates, the other finds it.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        // A plain query of the catalog, under this statement's snapshot: `to_regclass` would
        // answer from this session's cache, which may still remember that the table was absent.
        let exists: bool = tx
            .query_typed_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                     WHERE schemaname = current_schema() AND tablename = 'outage_schema')",
                &[],
            )?
            .get(0);
        let version: Option<i32> = match exists {
            true => tx
                .query_typed_one("SELECT max(version) FROM outage_schema", &[])?
                .get(0),
            false => None,
        };
        let current = i32::try_from(SCHEMA_VERSION)?;
        let steps = match version {
            // Another machine came first.
            Some(version) if version >= current => return Ok(tx.commit()?),
            Some(version) => [(version < 3).then_some(MIGRATE_2_TO_3), Some(RENDERINGS)],
            None => {
                tx.batch_execute(SCHEMA).with_context(|| {
                    format!(
                        "cannot create the journal's tables at {shown}; the role needs CREATE on \
                         its schema"
                    )
                })?;
                [None, Some(RENDERINGS)]
            }
        };
        for step in steps.into_iter().flatten() {
            tx.batch_execute(step).with_context(|| {
                format!(
                    "cannot upgrade the journal at {shown} to schema {SCHEMA_VERSION}; run \
                     `outage journal migrate` with the role that owns its tables"
                )
            })?;
        }
        tx.execute(
            "INSERT INTO outage_schema (version) VALUES ($1)",
            &[&current],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn query(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> anyhow::Result<Vec<Row>> {
        Ok(self.client.borrow_mut().query_typed(sql, params)?)
    }

    fn update_rows(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> anyhow::Result<Vec<StoredUpdate>> {
        self.query(sql, params)?
            .iter()
            .map(update_row)
            .map(rows::update)
            .collect()
    }

    fn facts(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> anyhow::Result<Vec<Update>> {
        self.query(sql, params)?
            .iter()
            .map(|row| Ok(serde_json::from_str(row.get::<_, &str>(0))?))
            .collect()
    }

    fn lock_key(name: &str) -> i64 {
        let digest = Sha256::digest(name.as_bytes());
        i64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
    }
}

/// The error's own words, and its causes' (tokio-postgres keeps the useful part in the source).
fn cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let words = inner.to_string();
        if !text.contains(&words) {
            text = format!("{text}: {words}");
        }
        source = inner.source();
    }
    text
}

/// The client's configuration from the URL and libpq's environment variables, with the TLS
/// settings tokio-postgres does not read (`verify-ca`, `verify-full`, `sslrootcert`).
fn config(url: &str) -> anyhow::Result<(postgres::Config, SslMode, Option<String>)> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let mut parsed = reqwest::Url::parse(url).context("not a postgres:// URL")?;
    let mut mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root = Some(value.into_owned()),
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(&kept);
    }
    let mut config: postgres::Config = parsed.as_str().parse()?;
    if config.get_hosts().is_empty() {
        config.host(&env("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if config.get_ports().is_empty()
        && let Some(port) = env("PGPORT")
    {
        config.port(port.parse().context("PGPORT")?);
    }
    let user = config
        .get_user()
        .map(str::to_owned)
        .or_else(|| env("PGUSER"))
        .or_else(|| env("USER"))
        .context("no user: give one in the URL (postgres://user@host/db) or in PGUSER")?;
    config.user(&user);
    if config.get_password().is_none()
        && let Some(password) = env("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_dbname().is_none() {
        config.dbname(&env("PGDATABASE").unwrap_or(user));
    }
    if config.get_application_name().is_none() {
        config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "outage".into()));
    }
    if config.get_connect_timeout().is_none() {
        let seconds = env("PGCONNECT_TIMEOUT")
            .and_then(|text| text.parse().ok())
            .unwrap_or(10);
        config.connect_timeout(Duration::from_secs(seconds));
    }
    let mode = match mode.or_else(|| env("PGSSLMODE")).as_deref() {
        None | Some("prefer" | "allow") => SslMode::Prefer,
        Some("disable") => SslMode::Disable,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(other) => bail!(
            "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ),
    };
    config.ssl_mode(match mode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Prefer => postgres::config::SslMode::Prefer,
        _ => postgres::config::SslMode::Require,
    });
    Ok((config, mode, root.or_else(|| env("PGSSLROOTCERT"))))
}

fn connect(config: &postgres::Config, mode: SslMode, root: Option<&str>) -> anyhow::Result<Client> {
    let connected = if mode == SslMode::Disable {
        config.connect(postgres::NoTls)
    } else {
        crate::tls::provider();
        let tls = tls_config(mode, root)?;
        config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
    };
    connected.map_err(|err| anyhow::anyhow!("{}", cause(&err)))
}

/// The rustls configuration for a mode: what is verified, against which roots.
fn tls_config(mode: SslMode, root: Option<&str>) -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    if matches!(mode, SslMode::Require | SslMode::Prefer) && root.is_none() {
        // Encrypted, nothing verified: the system's roots (a few milliseconds to load) are
        // not needed.
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verify::Encrypted(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| format!("sslrootcert {path}"))?;
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(cert.with_context(|| format!("sslrootcert {path} is not PEM"))?)
                    .with_context(|| format!("sslrootcert {path}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    Ok(match (mode, root) {
        (SslMode::VerifyFull, _) => builder
            .with_webpki_verifier(webpki.build()?)
            .with_no_client_auth(),
        // libpq: with a root certificate, `require` verifies the chain as `verify-ca` does.
        (SslMode::VerifyCa, _) | (SslMode::Require | SslMode::Prefer, Some(_)) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verify::ChainOnly(webpki.build()?)))
            .with_no_client_auth(),
        (SslMode::Require | SslMode::Prefer, None) | (SslMode::Disable, _) => {
            unreachable!("handled above, or no TLS")
        }
    })
}

/// The certificate verifiers libpq's modes call for, beside rustls's own (`verify-full`).
mod verify {
    use std::sync::Arc;

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    /// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
    #[derive(Debug)]
    pub(super) struct ChainOnly(pub(super) Arc<rustls::client::WebPkiServerVerifier>);

    impl ServerCertVerifier for ChainOnly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            match self
                .0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }

    /// `require` without a root certificate, as libpq does it: encrypted, any certificate.
    #[derive(Debug)]
    pub(super) struct Encrypted(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for Encrypted {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

const INCIDENT_COLUMNS: &str =
    "id, kind, title, status, is_open, last_sequence, opened_at, updated_at";
const UPDATE_COLUMNS: &str = "id, incident_id, sequence, status, facts, fingerprint, input, \
     idempotency_key, allowed, created_at, content";
const DELIVERY_COLUMNS: &str = "id, update_id, channel, kind, target, state, remote_id, parts, \
     url, attempts, error, note, rendered, payload, created_at, started_at, finished_at";

fn incident_row(row: &Row) -> IncidentRow {
    IncidentRow {
        id: row.get(0),
        kind: row.get(1),
        title: row.get(2),
        status: row.get(3),
        is_open: row.get(4),
        last_sequence: row.get(5),
        opened_at: row.get(6),
        updated_at: row.get(7),
    }
}

fn update_row(row: &Row) -> UpdateRow {
    UpdateRow {
        id: row.get(0),
        incident_id: row.get(1),
        sequence: row.get(2),
        status: row.get(3),
        facts: row.get(4),
        fingerprint: row.get(5),
        input: row.get(6),
        idempotency_key: row.get(7),
        allowed: row.get(8),
        created_at: row.get(9),
        content: row.get(10),
    }
}

fn delivery_row(row: &Row) -> DeliveryRow {
    DeliveryRow {
        id: row.get(0),
        update_id: row.get(1),
        channel: row.get(2),
        kind: row.get(3),
        target: row.get(4),
        state: row.get(5),
        remote_id: row.get(6),
        parts: row.get(7),
        url: row.get(8),
        attempts: row.get(9),
        error: row.get(10),
        note: row.get(11),
        rendered: row.get(12),
        payload: row.get(13),
        created_at: row.get(14),
        started_at: row.get(15),
        finished_at: row.get(16),
    }
}

/// Inserts an update's deliveries, each or none: a row the statement's `conflict` clause leaves
/// alone fails the whole.
fn insert_deliveries(
    tx: &mut postgres::Transaction<'_>,
    update_id: &str,
    deliveries: &[NewDelivery],
    created: &str,
    conflict: &str,
) -> anyhow::Result<()> {
    // All the deliveries in one statement: a list of 10,000 subscribers is one round trip,
    // not 10,000.
    let column = |field: fn(&NewDelivery) -> Option<String>| -> Vec<Option<String>> {
        deliveries.iter().map(field).collect()
    };
    // The recipients of a list share one rendering: it is serialized and stored once.
    let mut stored = super::Stored::default();
    let mut names = Vec::with_capacity(deliveries.len());
    let (mut ids, mut payloads) = (Vec::new(), Vec::new());
    for delivery in deliveries {
        let (rendering, new) = stored.of(&delivery.rendering)?;
        if new {
            ids.push(rendering.id.clone());
            payloads.push(rendering.payload.clone());
        }
        names.push(Some(rendering.id.clone()));
    }
    let changed = tx.execute_typed(
        &format!(
            "{}INSERT INTO deliveries (id, update_id, channel, kind, target, state, note,
                 rendered, payload, rendering, created_at)
             SELECT d.id, $2, d.channel, d.kind, d.target, d.state, d.note, '', '',
                 d.rendering, $9
             FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::text[], $8::text[])
                 WITH ORDINALITY AS d (id, channel, kind, target, state, note, rendering, n)
             ORDER BY d.n{conflict}",
            storing_renderings(10)
        ),
        &[
            (&column(|d| Some(d.id.clone())), Type::TEXT_ARRAY),
            (&update_id, Type::TEXT),
            (&column(|d| Some(d.channel.clone())), Type::TEXT_ARRAY),
            (&column(|d| Some(d.kind.clone())), Type::TEXT_ARRAY),
            (&column(|d| Some(d.target.clone())), Type::TEXT_ARRAY),
            (
                &column(|d| Some(d.state.as_str().to_owned())),
                Type::TEXT_ARRAY,
            ),
            (&column(|d| d.note.clone()), Type::TEXT_ARRAY),
            (&names, Type::TEXT_ARRAY),
            (&created, Type::TEXT),
            (&ids, Type::TEXT_ARRAY),
            (&payloads, Type::TEXT_ARRAY),
        ],
    )?;
    if usize::try_from(changed)? != deliveries.len() {
        bail!("a channel of this update was sent or tried meanwhile; run the command again");
    }
    Ok(())
}

impl Journal for Postgres {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn incident(&self, id: &str) -> anyhow::Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        self.query(&sql, &[(&id, Type::TEXT)])?
            .first()
            .map(|row| rows::incident(incident_row(row)))
            .transpose()
    }

    fn latest_incident(&self) -> anyhow::Result<Option<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents
             ORDER BY is_open DESC, updated_at DESC, ord DESC LIMIT 1"
        );
        self.query(&sql, &[])?
            .first()
            .map(|row| rows::incident(incident_row(row)))
            .transpose()
    }

    fn incidents(&self, filter: &Filter) -> anyhow::Result<Vec<Incident>> {
        let since = filter.since.map(|at| at.to_string());
        let mut conditions = Vec::new();
        if filter.only_open {
            conditions.push("is_open");
        }
        if since.is_some() {
            conditions.push("updated_at >= $1");
        }
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents {}{} ORDER BY opened_at DESC, ord DESC",
            if conditions.is_empty() { "" } else { "WHERE " },
            conditions.join(" AND ")
        );
        let found = match &since {
            Some(since) => self.query(&sql, &[(since, Type::TEXT)])?,
            None => self.query(&sql, &[])?,
        };
        found
            .iter()
            .map(|row| rows::incident(incident_row(row)))
            .collect()
    }

    fn incident_ids(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .query("SELECT id FROM incidents", &[])?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn updates(&self, incident: &str) -> anyhow::Result<Vec<StoredUpdate>> {
        self.update_rows(
            &format!(
                "SELECT {UPDATE_COLUMNS} FROM updates WHERE incident_id = $1 ORDER BY sequence"
            ),
            &[(&incident, Type::TEXT)],
        )
    }

    fn update_by_key(&self, key: &str) -> anyhow::Result<Option<StoredUpdate>> {
        Ok(self
            .update_rows(
                &format!("SELECT {UPDATE_COLUMNS} FROM updates WHERE idempotency_key = $1"),
                &[(&key, Type::TEXT)],
            )?
            .pop())
    }

    fn update_by_input(
        &self,
        input: &str,
        since: Timestamp,
    ) -> anyhow::Result<Option<StoredUpdate>> {
        Ok(self
            .update_rows(
                &format!(
                    "SELECT {UPDATE_COLUMNS} FROM updates WHERE input = $1 AND created_at >= $2
                     ORDER BY created_at DESC, ord DESC LIMIT 1"
                ),
                &[(&input, Type::TEXT), (&since.to_string(), Type::TEXT)],
            )?
            .pop())
    }

    fn open_updates(&self) -> anyhow::Result<Vec<Update>> {
        self.facts(
            "SELECT u.facts FROM incidents i
             JOIN updates u ON u.incident_id = i.id AND u.sequence = i.last_sequence
             WHERE i.is_open ORDER BY i.opened_at, i.id",
            &[],
        )
    }

    fn recent_updates(&self, limit: usize) -> anyhow::Result<Vec<Update>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.facts(
            "SELECT facts FROM updates ORDER BY created_at DESC, ord DESC LIMIT $1",
            &[(&limit, Type::INT8)],
        )
    }

    fn timelines(&self, incidents: Option<&[String]>) -> anyhow::Result<Vec<Update>> {
        match incidents {
            None => self.facts(
                "SELECT facts FROM updates ORDER BY incident_id, sequence",
                &[],
            ),
            Some(ids) => self.facts(
                "SELECT facts FROM updates WHERE incident_id = ANY($1)
                 ORDER BY incident_id, sequence",
                &[(&ids, Type::TEXT_ARRAY)],
            ),
        }
    }

    fn deliveries(&self, update_id: &str) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!("{DELIVERY_READ} WHERE d.update_id = $1 ORDER BY d.ord");
        let found = self.query(&sql, &[(&update_id, Type::TEXT)])?;
        rows::deliveries(
            found
                .iter()
                .map(|row| Ok::<_, anyhow::Error>(delivery_row(row))),
        )
    }

    fn thread(
        &self,
        incident: &str,
        channel: &str,
        target: &str,
    ) -> anyhow::Result<Option<Thread>> {
        let found = self.query(
            "SELECT d.remote_id, d.parts, u.sequence FROM updates u
             JOIN deliveries d ON d.update_id = u.id AND d.channel = $2 AND d.target = $3
             WHERE u.incident_id = $1 AND d.state = 'delivered' AND d.remote_id IS NOT NULL
             ORDER BY u.sequence",
            &[
                (&incident, Type::TEXT),
                (&channel, Type::TEXT),
                (&target, Type::TEXT),
            ],
        )?;
        let posts: Vec<(String, Option<String>, u32)> = found
            .iter()
            .map(|row| Ok((row.get(0), row.get(1), u32::try_from(row.get::<_, i64>(2))?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(super::sqlite::thread_of(&posts))
    }

    fn unsettled(&self) -> anyhow::Result<Vec<Unsettled>> {
        let found = self.query(
            "SELECT u.incident_id,
                    count(*) FILTER (WHERE d.state = 'failed'),
                    count(*) FILTER (WHERE d.state = 'unknown'),
                    count(*) FILTER (WHERE d.state = 'pending')
             FROM deliveries d
             JOIN updates u ON u.id = d.update_id
             JOIN incidents i ON i.id = u.incident_id AND i.last_sequence = u.sequence
             WHERE d.state IN ('failed', 'unknown', 'pending')
             GROUP BY u.incident_id ORDER BY u.incident_id",
            &[],
        )?;
        found
            .iter()
            .map(|row| {
                Ok(Unsettled {
                    incident: row.get(0),
                    failed: u32::try_from(row.get::<_, i64>(1))?,
                    unknown: u32::try_from(row.get::<_, i64>(2))?,
                    pending: u32::try_from(row.get::<_, i64>(3))?,
                })
            })
            .collect()
    }

    fn record(
        &mut self,
        new: &NewUpdate<'_>,
        deliveries: &[NewDelivery],
    ) -> anyhow::Result<String> {
        let update = new.update;
        let update_id = uuid::Uuid::now_v7().to_string();
        let created = update.posted_at.to_string();
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        let last: Option<i64> = tx
            .query_typed(
                "SELECT last_sequence FROM incidents WHERE id = $1 FOR UPDATE",
                &[(&update.incident, Type::TEXT)],
            )?
            .first()
            .map(|row| row.get(0));
        let last = last.map(u32::try_from).transpose()?;
        super::check_sequence(update, last)?;
        let is_open = !update.status.is_final();
        let sequence = i64::from(update.sequence);
        if last.is_none() {
            tx.execute_typed(
                &format!(
                    "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                ),
                &[
                    (&update.incident, Type::TEXT),
                    (&update.kind.as_str(), Type::TEXT),
                    (&update.title, Type::TEXT),
                    (&update.status.as_str(), Type::TEXT),
                    (&is_open, Type::BOOL),
                    (&sequence, Type::INT8),
                    (&created, Type::TEXT),
                ],
            )?;
        } else {
            tx.execute_typed(
                "UPDATE incidents SET title = $2, status = $3, is_open = $4, last_sequence = $5,
                     updated_at = $6 WHERE id = $1",
                &[
                    (&update.incident, Type::TEXT),
                    (&update.title, Type::TEXT),
                    (&update.status.as_str(), Type::TEXT),
                    (&is_open, Type::BOOL),
                    (&sequence, Type::INT8),
                    (&created, Type::TEXT),
                ],
            )?;
        }
        tx.execute_typed(
            &format!(
                "INSERT INTO updates ({UPDATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                (&update_id, Type::TEXT),
                (&update.incident, Type::TEXT),
                (&sequence, Type::INT8),
                (&update.status.as_str(), Type::TEXT),
                (&serde_json::to_string(update)?, Type::TEXT),
                (&new.fingerprint, Type::TEXT),
                (&new.input, Type::TEXT),
                (&new.idempotency_key, Type::TEXT),
                (&rows::allowed_text(new.allowed), Type::TEXT),
                (&created, Type::TEXT),
                (&new.content, Type::TEXT),
            ],
        )?;
        insert_deliveries(&mut tx, &update_id, deliveries, &created, "")?;
        tx.commit()?;
        Ok(update_id)
    }

    fn extend(&mut self, update_id: &str, deliveries: &[NewDelivery]) -> anyhow::Result<()> {
        let created = Timestamp::now().to_string();
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        insert_deliveries(
            &mut tx,
            update_id,
            deliveries,
            &created,
            super::TAKES_A_SKIPPED_PLACE,
        )?;
        tx.commit()?;
        Ok(())
    }

    fn apply(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        let now = Timestamp::now().to_string();
        let client = self.client.get_mut();
        match changes {
            [] => Ok(()),
            // One statement commits on its own: no BEGIN and COMMIT round trips.
            [change] => apply(client, change, &now),
            _ => {
                let mut tx = client.transaction()?;
                for change in changes {
                    apply(&mut tx, change, &now)?;
                }
                tx.commit()?;
                Ok(())
            }
        }
    }

    fn settle_abandoned(&mut self, incident: &str) -> anyhow::Result<usize> {
        let settled = self.client.get_mut().execute_typed(
            "UPDATE deliveries SET
                 state = CASE WHEN attempts = 0 THEN 'failed' ELSE 'unknown' END,
                 error = COALESCE(error, CASE WHEN attempts = 0
                     THEN 'the process ended before sending it'
                     ELSE 'the process ended before the outcome was known' END)
             WHERE state = 'pending'
               AND update_id IN (SELECT id FROM updates WHERE incident_id = $1)",
            &[(&incident, Type::TEXT)],
        )?;
        Ok(usize::try_from(settled)?)
    }

    fn lock(&mut self, name: &str, on_wait: &mut dyn FnMut()) -> anyhow::Result<bool> {
        if self.locks.contains(name) {
            return Ok(false);
        }
        let key = Postgres::lock_key(name);
        let client = self.client.get_mut();
        let taken: bool = client
            .query_typed_one("SELECT pg_try_advisory_lock($1)", &[(&key, Type::INT8)])?
            .get(0);
        if !taken {
            on_wait();
            client.query_typed("SELECT pg_advisory_lock($1)", &[(&key, Type::INT8)])?;
        }
        self.locks.insert(name.to_owned());
        Ok(true)
    }

    fn is_locked(&mut self, name: &str) -> bool {
        if self.locks.contains(name) {
            return true;
        }
        let key = Postgres::lock_key(name);
        let client = self.client.get_mut();
        match client.query_typed_one("SELECT pg_try_advisory_lock($1)", &[(&key, Type::INT8)]) {
            Ok(row) if row.get::<_, bool>(0) => {
                let _ = client.query_typed("SELECT pg_advisory_unlock($1)", &[(&key, Type::INT8)]);
                false
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    fn dump(&self) -> anyhow::Result<Dump> {
        let client = &mut *self.client.borrow_mut();
        // One snapshot: the three tables as of one moment, whatever is being posted.
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let incidents = tx
            .query(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY ord"),
                &[],
            )?
            .iter()
            .map(incident_row)
            .collect();
        let updates = tx
            .query(
                &format!("SELECT {UPDATE_COLUMNS} FROM updates ORDER BY ord"),
                &[],
            )?
            .iter()
            .map(update_row)
            .collect();
        let deliveries = tx
            .query(&format!("{DELIVERY_READ} ORDER BY d.ord"), &[])?
            .iter()
            .map(delivery_row)
            .collect();
        tx.commit()?;
        Ok(Dump {
            incidents,
            updates,
            deliveries: rows::with_text_shown(deliveries),
        })
    }

    fn load(&mut self, dump: &Dump) -> anyhow::Result<()> {
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        let incident = tx.prepare(&format!(
            "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))?;
        for row in &dump.incidents {
            tx.execute(
                &incident,
                &[
                    &row.id,
                    &row.kind,
                    &row.title,
                    &row.status,
                    &row.is_open,
                    &row.last_sequence,
                    &row.opened_at,
                    &row.updated_at,
                ],
            )?;
        }
        let update = tx.prepare(&format!(
            "INSERT INTO updates ({UPDATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))?;
        for row in &dump.updates {
            tx.execute(
                &update,
                &[
                    &row.id,
                    &row.incident_id,
                    &row.sequence,
                    &row.status,
                    &row.facts,
                    &row.fingerprint,
                    &row.input,
                    &row.idempotency_key,
                    &row.allowed,
                    &row.created_at,
                    &row.content,
                ],
            )?;
        }
        let delivery = tx.prepare(&format!(
            "INSERT INTO deliveries ({DELIVERY_COLUMNS}, rendering)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', '', $13, $14, $15, $16)"
        ))?;
        let rendering = tx.prepare(
            "INSERT INTO renderings (id, payload) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )?;
        let mut named = super::Named::default();
        for row in &dump.deliveries {
            let (name, fresh) = named.of(row);
            if fresh {
                tx.execute(&rendering, &[&name, &row.payload])?;
            }
            tx.execute(
                &delivery,
                &[
                    &row.id,
                    &row.update_id,
                    &row.channel,
                    &row.kind,
                    &row.target,
                    &row.state,
                    &row.remote_id,
                    &row.parts,
                    &row.url,
                    &row.attempts,
                    &row.error,
                    &row.note,
                    &row.created_at,
                    &row.started_at,
                    &row.finished_at,
                    &name,
                ],
            )?;
        }
        tx.commit()?;
        // The planner's statistics still describe empty tables until autovacuum comes round:
        // without this, the first `status` after copying 10,000 incidents scans every delivery.
        client.batch_execute("ANALYZE incidents, updates, deliveries, renderings")?;
        Ok(())
    }

    fn is_empty(&self) -> anyhow::Result<bool> {
        let count: i64 = self
            .client
            .borrow_mut()
            .query_one("SELECT count(*) FROM incidents", &[])?
            .get(0);
        Ok(count == 0)
    }

    fn schema_version(&self) -> anyhow::Result<u32> {
        Ok(self.version()?.unwrap_or(0))
    }
}

/// Writes one change of a delivery.
fn apply(client: &mut impl GenericClient, change: &Change, now: &str) -> anyhow::Result<()> {
    match change {
        Change::Attempt { id, at } => {
            client.execute_typed(
                "UPDATE deliveries SET attempts = attempts + 1,
                     started_at = COALESCE(started_at, $2) WHERE id = $1",
                &[(id, Type::TEXT), (&at.to_string(), Type::TEXT)],
            )?;
        }
        Change::Parts { id, parts } => {
            client.execute_typed(
                "UPDATE deliveries SET parts = $2 WHERE id = $1",
                &[
                    (id, Type::TEXT),
                    (&serde_json::to_string(parts)?, Type::TEXT),
                ],
            )?;
        }
        Change::Finish { id, outcome } => {
            let parts = (!outcome.parts.is_empty())
                .then(|| serde_json::to_string(&outcome.parts))
                .transpose()?;
            client.execute_typed(
                "UPDATE deliveries SET state = $2, remote_id = $3, url = $4, error = $5,
                     note = COALESCE($6, note), parts = COALESCE($7, parts),
                     finished_at = $8
                 WHERE id = $1",
                &[
                    (id, Type::TEXT),
                    (&outcome.state.as_str(), Type::TEXT),
                    (&outcome.remote_id, Type::TEXT),
                    (&outcome.url, Type::TEXT),
                    (&outcome.error, Type::TEXT),
                    (&outcome.note, Type::TEXT),
                    (&parts, Type::TEXT),
                    (&now, Type::TEXT),
                ],
            )?;
        }
        Change::Reopen { id } => {
            client.execute_typed(
                "UPDATE deliveries SET state = 'pending', finished_at = NULL WHERE id = $1",
                &[(id, Type::TEXT)],
            )?;
        }
        Change::Rendering { id, rendering } => {
            let stored = StoredRendering::of(rendering)?;
            client.execute_typed(
                &format!(
                    "{}UPDATE deliveries SET rendered = '', payload = '', rendering = $2
                     WHERE id = $1",
                    storing_renderings(3)
                ),
                &[
                    (id, Type::TEXT),
                    (&stored.id, Type::TEXT),
                    (&vec![stored.id.as_str()], Type::TEXT_ARRAY),
                    (&vec![stored.payload.as_str()], Type::TEXT_ARRAY),
                ],
            )?;
        }
        Change::Skip { id, note } => {
            client.execute_typed(
                "UPDATE deliveries SET state = 'skipped', note = $2, error = NULL,
                     finished_at = $3 WHERE id = $1",
                &[(id, Type::TEXT), (note, Type::TEXT), (&now, Type::TEXT)],
            )?;
        }
    }
    Ok(())
}
