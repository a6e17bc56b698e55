//! The embedded journal: one SQLite file, the default, which needs nothing installed.
//!
//! WAL mode and a busy timeout let several processes use it at once; `BEGIN IMMEDIATE` makes each
//! write atomic. The file (and so its `-wal` and `-shm` companions, which SQLite creates with the
//! file's mode) is created owner-only: it holds internal notes and subscriber addresses. Locks are
//! files in a folder beside it, one per name, held with `flock`.
//!
//! The schema version is `PRAGMA user_version`, and `PRAGMA application_id` marks the file as an
//! outage journal, so a database of something else is recognised and left untouched.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::{
    Access, Change, DELIVERY_READ, Delivery, DeliveryRow, Dump, Filter, Incident, IncidentRow,
    Journal, NewDelivery, NewUpdate, RENDERINGS, SCHEMA_VERSION, StoredRendering, StoredUpdate,
    Thread, Unsettled, UpdateRow, rows,
};
use crate::update::Update;

/// "outg": marks the file as an outage journal.
const APPLICATION_ID: i64 = 0x6f75_7467;

/// The tables as of schema 3; schema 4's are added by [`RENDERINGS`], to a new journal as to an
/// older one.
const SCHEMA: &str = "
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    is_open INTEGER NOT NULL,
    last_sequence INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX incidents_open ON incidents (is_open, updated_at);
CREATE TABLE updates (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    facts TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    allowed TEXT NOT NULL,
    created_at TEXT NOT NULL,
    input TEXT,
    content TEXT,
    UNIQUE (incident_id, sequence)
);
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    update_id TEXT NOT NULL REFERENCES updates (id),
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    remote_id TEXT,
    url TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    note TEXT,
    rendered TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    parts TEXT,
    started_at TEXT,
    UNIQUE (update_id, channel, target)
);
CREATE INDEX updates_recent ON updates (created_at);
CREATE INDEX deliveries_pending ON deliveries (state) WHERE state = 'pending';
";

/// From the first version (schema 1, `user_version` 0) to schema 2.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE updates ADD COLUMN input TEXT;
ALTER TABLE deliveries ADD COLUMN parts TEXT;
ALTER TABLE deliveries ADD COLUMN started_at TEXT;
";

/// From schema 2 to 3: the words' own digest.
const MIGRATE_2_TO_3: &str = "
ALTER TABLE updates ADD COLUMN content TEXT;
";

/// Indexes every schema from 2 on has.
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS updates_input ON updates (input, created_at) WHERE input IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_opened ON incidents (opened_at);
CREATE INDEX IF NOT EXISTS deliveries_unsettled ON deliveries (update_id)
    WHERE state IN ('failed', 'unknown', 'pending');
";

/// Stores a rendering's `payload` under its name `id`, once: another row of the same content is
/// that row.
fn insert_rendering(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    payload: &str,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO renderings (id, payload) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![id, payload])
}

/// Inserts an update's deliveries, each or none: a row the statement's `conflict` clause leaves
/// alone fails the whole.
fn insert_deliveries(
    tx: &rusqlite::Transaction<'_>,
    update_id: &str,
    deliveries: &[NewDelivery],
    created: &str,
    conflict: &str,
) -> anyhow::Result<()> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO deliveries (id, update_id, channel, kind, target, state, note, rendered, payload, rendering, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', '', ?8, ?9){conflict}"
    ))?;
    // The recipients of a list share one rendering: it is serialized and stored once.
    let mut stored = super::Stored::default();
    for delivery in deliveries {
        let (rendering, fresh) = stored.of(&delivery.rendering)?;
        if fresh {
            insert_rendering(tx, &rendering.id, &rendering.payload)?;
        }
        let changed = insert.execute(params![
            delivery.id,
            update_id,
            delivery.channel,
            delivery.kind,
            delivery.target,
            delivery.state.as_str(),
            delivery.note,
            rendering.id,
            created
        ])?;
        if changed != 1 {
            bail!(
                "{} of this update was sent or tried meanwhile; run the command again",
                match delivery.target.as_str() {
                    "" => delivery.channel.clone(),
                    target => format!("{} {target}", delivery.channel),
                }
            );
        }
    }
    Ok(())
}

pub(crate) struct Sqlite {
    conn: Connection,
    path: PathBuf,
    locks: HashMap<String, File>,
}

/// What a file holds, read before anything is written to it.
enum Found {
    /// A new, empty file.
    Empty,
    /// An outage journal of this schema version.
    Journal(u32),
    /// Something else: left as it is.
    Foreign(String),
}

impl Sqlite {
    pub(crate) fn open(path: &Path, access: Access) -> anyhow::Result<Option<Sqlite>> {
        if path.is_dir() {
            bail!(
                "the journal {} is a folder; name a file, such as {}",
                path.display(),
                path.join("journal.db").display()
            );
        }
        if !path.exists() {
            if access == Access::ReadOnly {
                return Ok(None);
            }
            create_owner_only(path)?;
        }
        let conn = connect(path, access)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let mut journal = Sqlite {
            conn,
            path: path.to_owned(),
            locks: HashMap::new(),
        };
        match journal.inspect()? {
            Found::Foreign(why) => bail!(
                "{} is not an outage journal ({why}); it was left as it is: pass --state with \
                 another file",
                path.display()
            ),
            Found::Journal(version) if version > SCHEMA_VERSION => bail!(
                "the journal {} was written by a newer version of outage (schema {version}; this \
                 one knows up to {SCHEMA_VERSION}); upgrade outage",
                path.display()
            ),
            Found::Empty if access == Access::ReadOnly => return Ok(None),
            Found::Journal(version) if version < SCHEMA_VERSION && access == Access::ReadOnly => {
                bail!(
                    "the journal {} has the schema of an earlier version ({version}) and must be \
                     upgraded once: run `outage journal migrate` as a user who may write it",
                    path.display()
                )
            }
            Found::Empty => journal.create()?,
            Found::Journal(version) if version < SCHEMA_VERSION => journal.migrate(version)?,
            Found::Journal(_) => {}
        }
        if access == Access::ReadWrite {
            journal.conn.pragma_update(None, "journal_mode", "WAL")?;
            journal.conn.pragma_update(None, "synchronous", "NORMAL")?;
            journal.conn.pragma_update(None, "foreign_keys", "ON")?;
        }
        Ok(Some(journal))
    }

    /// Reads what the file holds without changing it.
    fn inspect(&self) -> anyhow::Result<Found> {
        let header = |err: rusqlite::Error| match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                anyhow::anyhow!(
                    "{} is not an outage journal (not an SQLite file); it was left as it is: pass --state with another file",
                    self.path.display()
                )
            }
            // SQLite could not make its log beside the file, or write the file.
            Some(rusqlite::ErrorCode::ReadOnly) => anyhow::anyhow!(
                "the journal {} or its folder cannot be written by this user; run it as a user \
                 who may write there, or pass --state FILE",
                self.path.display()
            ),
            _ => anyhow::Error::new(err)
                .context(format!("cannot read the journal {}", self.path.display())),
        };
        let application_id: i64 = self
            .conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(header)?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(header)?;
        let tables: Vec<String> = {
            let mut statement = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        let ours = ["deliveries", "incidents", "updates"];
        Ok(match (application_id, tables.is_empty()) {
            (APPLICATION_ID, _) => Found::Journal(u32::try_from(version).unwrap_or(u32::MAX)),
            (0, true) => Found::Empty,
            // The first version set neither marker; its three tables say what it is.
            (0, false) if version == 0 && tables.iter().map(String::as_str).eq(ours) => {
                Found::Journal(1)
            }
            (0, false) => Found::Foreign(format!("it holds the tables {}", tables.join(", "))),
            (other, _) => Found::Foreign(format!("its application id is {other:#x}")),
        })
    }

    fn create(&mut self) -> anyhow::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have created it between our look and our lock.
        let created: i64 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
        if created != APPLICATION_ID {
            tx.execute_batch(SCHEMA)?;
            tx.execute_batch(RENDERINGS)?;
            tx.execute_batch(INDEXES)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn migrate(&mut self, from: u32) -> anyhow::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let marked: i64 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let at = if marked == APPLICATION_ID {
            u32::try_from(current).unwrap_or(u32::MAX)
        } else {
            from
        };
        if at < 2 {
            tx.execute_batch(MIGRATE_1_TO_2)
                .context("cannot upgrade the journal to schema 2")?;
        }
        if at < 3 {
            tx.execute_batch(MIGRATE_2_TO_3)
                .context("cannot upgrade the journal to schema 3")?;
        }
        if at < 4 {
            tx.execute_batch(RENDERINGS)
                .context("cannot upgrade the journal to schema 4")?;
        }
        tx.execute_batch(INDEXES)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    fn update_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> anyhow::Result<Vec<StoredUpdate>> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows: Vec<UpdateRow> = statement
            .query_map(params, update_row)?
            .collect::<Result<_, _>>()?;
        rows.into_iter().map(rows::update).collect()
    }

    fn facts(&self, sql: &str, params: impl rusqlite::Params) -> anyhow::Result<Vec<Update>> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(params, |row| row.get::<_, String>(0))?;
        rows.map(|facts| Ok(serde_json::from_str(&facts?)?))
            .collect()
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        let digest = Sha256::digest(name.as_bytes());
        let hex = crate::digest::hex(&digest[..8]);
        let mut folder = self.path.as_os_str().to_owned();
        folder.push(".locks");
        PathBuf::from(folder).join(format!("{hex}.lock"))
    }
}

/// Opens the connection. A reader that may write the file and its folder opens it for writing
/// and is refused every write (`query_only`): SQLite makes `-wal` and `-shm` files beside a WAL
/// journal for any reader, and only a connection that may write removes them when it is the
/// last to close (a read-only one left them after every `status`). A reader without write access
/// to the folder cannot create the `-shm` file; it then reads the file as it stands
/// (`immutable`), which is safe because no writer is active then (a writer keeps `-shm` in
/// place).
fn connect(path: &Path, access: Access) -> anyhow::Result<Connection> {
    let cannot = || format!("cannot open the journal {}", path.display());
    let writable = || {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
    };
    match access {
        Access::ReadWrite => writable().with_context(cannot),
        Access::ReadOnly => {
            if let Ok(conn) = writable()
                && conn.pragma_update(None, "query_only", true).is_ok()
                && conn
                    .pragma_query_value(None, "application_id", |_| Ok(()))
                    .is_ok()
            {
                return Ok(conn);
            }
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags).with_context(cannot)?;
            let readable = conn
                .pragma_query_value(None, "application_id", |_| Ok(()))
                .map_err(|err| err.sqlite_error_code());
            match readable {
                Err(Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)) => {
                    let uri = format!("file:{}?immutable=1", uri_path(path));
                    Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
                        .with_context(cannot)
                }
                _ => Ok(conn),
            }
        }
    }
}

fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | '?' | '#' | ' ' => out.push_str(&format!("%{:02X}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

/// Creates the journal file (and its folder) readable by its owner only.
fn create_owner_only(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create the journal's folder {}", parent.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => {
            Err(err).with_context(|| format!("cannot create the journal {}", path.display()))
        }
    }
}

const INCIDENT_COLUMNS: &str =
    "id, kind, title, status, is_open, last_sequence, opened_at, updated_at";
const UPDATE_COLUMNS: &str = "id, incident_id, sequence, status, facts, fingerprint, input, idempotency_key, allowed, created_at, content";
const DELIVERY_COLUMNS: &str = "id, update_id, channel, kind, target, state, remote_id, parts, url, \
     attempts, error, note, rendered, payload, created_at, started_at, finished_at";

fn incident_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.get(0)?,
        kind: row.get(1)?,
        title: row.get(2)?,
        status: row.get(3)?,
        is_open: row.get(4)?,
        last_sequence: row.get(5)?,
        opened_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn update_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UpdateRow> {
    Ok(UpdateRow {
        id: row.get(0)?,
        incident_id: row.get(1)?,
        sequence: row.get(2)?,
        status: row.get(3)?,
        facts: row.get(4)?,
        fingerprint: row.get(5)?,
        input: row.get(6)?,
        idempotency_key: row.get(7)?,
        allowed: row.get(8)?,
        created_at: row.get(9)?,
        content: row.get(10)?,
    })
}

fn delivery_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: row.get(0)?,
        update_id: row.get(1)?,
        channel: row.get(2)?,
        kind: row.get(3)?,
        target: row.get(4)?,
        state: row.get(5)?,
        remote_id: row.get(6)?,
        parts: row.get(7)?,
        url: row.get(8)?,
        attempts: row.get(9)?,
        error: row.get(10)?,
        note: row.get(11)?,
        rendered: row.get(12)?,
        payload: row.get(13)?,
        created_at: row.get(14)?,
        started_at: row.get(15)?,
        finished_at: row.get(16)?,
    })
}

impl Journal for Sqlite {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn incident(&self, id: &str) -> anyhow::Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1");
        self.conn
            .prepare_cached(&sql)?
            .query_row([id], incident_row)
            .optional()?
            .map(rows::incident)
            .transpose()
    }

    fn latest_incident(&self) -> anyhow::Result<Option<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents
             ORDER BY is_open DESC, updated_at DESC, rowid DESC LIMIT 1"
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row([], incident_row)
            .optional()?
            .map(rows::incident)
            .transpose()
    }

    fn incidents(&self, filter: &Filter) -> anyhow::Result<Vec<Incident>> {
        // One statement per filter, so that each can use its index (a parameter that switches a
        // condition off would make SQLite scan every incident).
        let mut conditions = Vec::new();
        if filter.only_open {
            conditions.push("is_open = 1");
        }
        if filter.since.is_some() {
            conditions.push("updated_at >= ?1");
        }
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents {}{} ORDER BY opened_at DESC, rowid DESC",
            if conditions.is_empty() { "" } else { "WHERE " },
            conditions.join(" AND ")
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let since = filter.since.map(|at| at.to_string());
        let found: Vec<IncidentRow> = match since {
            Some(since) => statement
                .query_map([since], incident_row)?
                .collect::<Result<_, _>>()?,
            None => statement
                .query_map([], incident_row)?
                .collect::<Result<_, _>>()?,
        };
        found.into_iter().map(rows::incident).collect()
    }

    fn incident_ids(&self) -> anyhow::Result<Vec<String>> {
        let mut statement = self.conn.prepare_cached("SELECT id FROM incidents")?;
        Ok(statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn updates(&self, incident: &str) -> anyhow::Result<Vec<StoredUpdate>> {
        self.update_rows(
            &format!(
                "SELECT {UPDATE_COLUMNS} FROM updates WHERE incident_id = ?1 ORDER BY sequence"
            ),
            [incident],
        )
    }

    fn update_by_key(&self, key: &str) -> anyhow::Result<Option<StoredUpdate>> {
        Ok(self
            .update_rows(
                &format!("SELECT {UPDATE_COLUMNS} FROM updates WHERE idempotency_key = ?1"),
                [key],
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
                    "SELECT {UPDATE_COLUMNS} FROM updates WHERE input = ?1 AND created_at >= ?2
                     ORDER BY created_at DESC, rowid DESC LIMIT 1"
                ),
                params![input, since.to_string()],
            )?
            .pop())
    }

    fn open_updates(&self) -> anyhow::Result<Vec<Update>> {
        self.facts(
            "SELECT u.facts FROM incidents i
             JOIN updates u ON u.incident_id = i.id AND u.sequence = i.last_sequence
             WHERE i.is_open = 1 ORDER BY i.opened_at, i.id",
            [],
        )
    }

    fn recent_updates(&self, limit: usize) -> anyhow::Result<Vec<Update>> {
        self.facts(
            "SELECT facts FROM updates ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            [i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    fn timelines(&self, incidents: Option<&[String]>) -> anyhow::Result<Vec<Update>> {
        let Some(incidents) = incidents else {
            return self.facts(
                "SELECT facts FROM updates ORDER BY incident_id, sequence",
                [],
            );
        };
        let mut found = Vec::new();
        let mut ids: Vec<&String> = incidents.iter().collect();
        ids.sort();
        ids.dedup();
        // SQLite bounds the parameters of one statement: a few hundred ids at a time.
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            found.extend(self.facts(
                &format!(
                    "SELECT facts FROM updates WHERE incident_id IN ({marks})
                     ORDER BY incident_id, sequence"
                ),
                rusqlite::params_from_iter(chunk),
            )?);
        }
        Ok(found)
    }

    fn deliveries(&self, update_id: &str) -> anyhow::Result<Vec<Delivery>> {
        let sql = format!("{DELIVERY_READ} WHERE d.update_id = ?1 ORDER BY d.rowid");
        let mut statement = self.conn.prepare_cached(&sql)?;
        Ok(rows::deliveries(
            statement.query_map([update_id], delivery_row)?,
        )?)
    }

    fn thread(
        &self,
        incident: &str,
        channel: &str,
        target: &str,
    ) -> anyhow::Result<Option<Thread>> {
        // From the incident's few updates to their deliveries: the cost does not grow with the
        // journal.
        let mut statement = self.conn.prepare_cached(
            "SELECT d.remote_id, d.parts, u.sequence FROM updates u
             CROSS JOIN deliveries d ON d.update_id = u.id AND d.channel = ?2 AND d.target = ?3
             WHERE u.incident_id = ?1 AND d.state = 'delivered' AND d.remote_id IS NOT NULL
             ORDER BY u.sequence",
        )?;
        let posts: Vec<(String, Option<String>, u32)> = statement
            .query_map(params![incident, channel, target], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(thread_of(&posts))
    }

    fn unsettled(&self) -> anyhow::Result<Vec<Unsettled>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT u.incident_id,
                    sum(d.state = 'failed'), sum(d.state = 'unknown'), sum(d.state = 'pending')
             FROM deliveries d
             JOIN updates u ON u.id = d.update_id
             JOIN incidents i ON i.id = u.incident_id AND i.last_sequence = u.sequence
             WHERE d.state IN ('failed', 'unknown', 'pending')
             GROUP BY u.incident_id ORDER BY u.incident_id",
        )?;
        let found = statement.query_map([], |row| {
            Ok(Unsettled {
                incident: row.get(0)?,
                failed: row.get(1)?,
                unknown: row.get(2)?,
                pending: row.get(3)?,
            })
        })?;
        Ok(found.collect::<Result<_, _>>()?)
    }

    fn record(
        &mut self,
        new: &NewUpdate<'_>,
        deliveries: &[NewDelivery],
    ) -> anyhow::Result<String> {
        let update = new.update;
        let update_id = uuid::Uuid::now_v7().to_string();
        let created = update.posted_at.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<u32> = tx
            .query_row(
                "SELECT last_sequence FROM incidents WHERE id = ?1",
                [&update.incident],
                |row| row.get(0),
            )
            .optional()?;
        super::check_sequence(update, last)?;
        let is_open = !update.status.is_final();
        if last.is_none() {
            tx.execute(
                "INSERT INTO incidents (id, kind, title, status, is_open, last_sequence, opened_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![update.incident, update.kind.as_str(), update.title, update.status.as_str(), is_open, update.sequence, created],
            )?;
        } else {
            tx.execute(
                "UPDATE incidents SET title = ?2, status = ?3, is_open = ?4, last_sequence = ?5, updated_at = ?6
                 WHERE id = ?1",
                params![update.incident, update.title, update.status.as_str(), is_open, update.sequence, created],
            )?;
        }
        tx.execute(
            "INSERT INTO updates (id, incident_id, sequence, status, facts, fingerprint, input, idempotency_key, allowed, created_at, content)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                update_id,
                update.incident,
                update.sequence,
                update.status.as_str(),
                serde_json::to_string(update)?,
                new.fingerprint,
                new.input,
                new.idempotency_key,
                rows::allowed_text(new.allowed),
                created,
                new.content
            ],
        )?;
        insert_deliveries(&tx, &update_id, deliveries, &created, "")?;
        tx.commit()?;
        Ok(update_id)
    }

    fn extend(&mut self, update_id: &str, deliveries: &[NewDelivery]) -> anyhow::Result<()> {
        let created = Timestamp::now().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_deliveries(
            &tx,
            update_id,
            deliveries,
            &created,
            super::TAKES_A_SKIPPED_PLACE,
        )?;
        tx.commit()?;
        Ok(())
    }

    fn checkpoint(&mut self) {
        // PASSIVE: what no reader still needs, without waiting for any other connection.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }

    fn apply(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for change in changes {
            match change {
                Change::Attempt { id, at } => {
                    tx.prepare_cached(
                        "UPDATE deliveries SET attempts = attempts + 1,
                             started_at = COALESCE(started_at, ?2) WHERE id = ?1",
                    )?
                    .execute(params![id, at.to_string()])?;
                }
                Change::Parts { id, parts } => {
                    tx.prepare_cached("UPDATE deliveries SET parts = ?2 WHERE id = ?1")?
                        .execute(params![id, serde_json::to_string(parts)?])?;
                }
                Change::Finish { id, outcome } => {
                    let parts = (!outcome.parts.is_empty())
                        .then(|| serde_json::to_string(&outcome.parts))
                        .transpose()?;
                    tx.prepare_cached(
                        "UPDATE deliveries SET state = ?2, remote_id = ?3, url = ?4, error = ?5,
                             note = COALESCE(?6, note), parts = COALESCE(?7, parts), finished_at = ?8
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        outcome.state.as_str(),
                        outcome.remote_id,
                        outcome.url,
                        outcome.error,
                        outcome.note,
                        parts,
                        now
                    ])?;
                }
                Change::Reopen { id } => {
                    tx.prepare_cached(
                        "UPDATE deliveries SET state = 'pending', finished_at = NULL WHERE id = ?1",
                    )?
                    .execute([id])?;
                }
                Change::Rendering { id, rendering } => {
                    let stored = StoredRendering::of(rendering)?;
                    insert_rendering(&tx, &stored.id, &stored.payload)?;
                    tx.prepare_cached(
                        "UPDATE deliveries SET rendered = '', payload = '', rendering = ?2
                         WHERE id = ?1",
                    )?
                    .execute(params![id, stored.id])?;
                }
                Change::Skip { id, note } => {
                    tx.prepare_cached(
                        "UPDATE deliveries SET state = 'skipped', note = ?2, error = NULL,
                             finished_at = ?3 WHERE id = ?1",
                    )?
                    .execute(params![id, note, now])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn settle_abandoned(&mut self, incident: &str) -> anyhow::Result<usize> {
        // An attempt is journaled before its request is made: with none, nothing went out.
        Ok(self.conn.execute(
            "UPDATE deliveries SET
                 state = CASE WHEN attempts = 0 THEN 'failed' ELSE 'unknown' END,
                 error = COALESCE(error, CASE WHEN attempts = 0
                     THEN 'the process ended before sending it'
                     ELSE 'the process ended before the outcome was known' END)
             WHERE state = 'pending'
               AND update_id IN (SELECT id FROM updates WHERE incident_id = ?1)",
            [incident],
        )?)
    }

    fn lock(&mut self, name: &str, on_wait: &mut dyn FnMut()) -> anyhow::Result<bool> {
        if self.locks.contains_key(name) {
            return Ok(false);
        }
        let path = self.lock_path(name);
        let file = lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock().context("cannot lock the journal")?;
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).context("cannot lock the journal");
            }
        }
        self.locks.insert(name.to_owned(), file);
        Ok(true)
    }

    fn is_locked(&mut self, name: &str) -> bool {
        if self.locks.contains_key(name) {
            return true;
        }
        // A shared lock on a read-only handle works for readers who may not write the folder.
        match File::open(self.lock_path(name)) {
            Ok(file) => matches!(
                file.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            ),
            Err(_) => false,
        }
    }

    fn dump(&self) -> anyhow::Result<Dump> {
        // One read transaction: the three tables as of one moment, whatever is being posted.
        let tx = self.conn.unchecked_transaction()?;
        let collect = |sql: &str| -> anyhow::Result<rusqlite::CachedStatement<'_>> {
            Ok(self.conn.prepare_cached(sql)?)
        };
        let incidents = collect(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY rowid"
        ))?
        .query_map([], incident_row)?
        .collect::<Result<_, _>>()?;
        let updates = collect(&format!(
            "SELECT {UPDATE_COLUMNS} FROM updates ORDER BY rowid"
        ))?
        .query_map([], update_row)?
        .collect::<Result<_, _>>()?;
        let deliveries = collect(&format!("{DELIVERY_READ} ORDER BY d.rowid"))?
            .query_map([], delivery_row)?
            .collect::<Result<_, _>>()?;
        tx.finish()?;
        Ok(Dump {
            incidents,
            updates,
            deliveries: rows::with_text_shown(deliveries),
        })
    }

    fn load(&mut self, dump: &Dump) -> anyhow::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for row in &dump.incidents {
            tx.prepare_cached(&format!(
                "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                row.id,
                row.kind,
                row.title,
                row.status,
                row.is_open,
                row.last_sequence,
                row.opened_at,
                row.updated_at
            ])?;
        }
        for row in &dump.updates {
            tx.prepare_cached(&format!(
                "INSERT INTO updates ({UPDATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                row.id,
                row.incident_id,
                row.sequence,
                row.status,
                row.facts,
                row.fingerprint,
                row.input,
                row.idempotency_key,
                row.allowed,
                row.created_at,
                row.content
            ])?;
        }
        let mut named = super::Named::default();
        for row in &dump.deliveries {
            let (rendering, fresh) = named.of(row);
            if fresh {
                insert_rendering(&tx, rendering, &row.payload)?;
            }
            tx.prepare_cached(&format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}, rendering)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, '', '', ?13, ?14, ?15, ?16)"
            ))?
            .execute(params![
                row.id,
                row.update_id,
                row.channel,
                row.kind,
                row.target,
                row.state,
                row.remote_id,
                row.parts,
                row.url,
                row.attempts,
                row.error,
                row.note,
                row.created_at,
                row.started_at,
                row.finished_at,
                rendering
            ])?;
        }
        tx.commit()?;
        // Gives the query planner the tables' sizes after a bulk load.
        self.conn.execute_batch("ANALYZE")?;
        Ok(())
    }

    fn is_empty(&self) -> anyhow::Result<bool> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM incidents", [], |row| row.get(0))?;
        Ok(count == 0)
    }

    fn schema_version(&self) -> anyhow::Result<u32> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok(u32::try_from(version)?)
    }
}

/// The thread from an incident's delivered posts on one channel, oldest first: the first part of
/// the first post, and the last part of the last.
pub(crate) fn thread_of(posts: &[(String, Option<String>, u32)]) -> Option<Thread> {
    let (first, last) = (posts.first()?, posts.last()?);
    let parts = |post: &(String, Option<String>, u32)| -> Vec<String> {
        post.1
            .as_deref()
            .and_then(|parts| serde_json::from_str(parts).ok())
            .unwrap_or_default()
    };
    Some(Thread {
        first_remote_id: parts(first)
            .into_iter()
            .next()
            .unwrap_or_else(|| first.0.clone()),
        last_remote_id: last.0.clone(),
        previous_sequence: last.2,
    })
}

fn lock_file(path: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = path.parent()
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create the lock folder {}", parent.display()))?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}
