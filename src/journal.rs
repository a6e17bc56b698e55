//! The journal: a SQLite file that records every update and every delivery before and after it
//! happens, so that nothing is lost and nothing is sent twice.
//!
//! A delivery is written `pending` before its request and `delivered` or `failed` after. A process
//! that dies in between leaves `pending` behind; once no `outage` process holds the publish lock,
//! such a delivery reads as `unknown`, and only `outage retry --include-unknown` sends it again.
//! WAL mode, a busy timeout and `BEGIN IMMEDIATE` make two processes at once safe; the publish
//! lock ([`PublishLock`]) serialises whole posts so that sequence numbers and thread anchors are
//! always read and written by one process at a time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::channels::Thread;
use crate::update::{Status, Update};
use crate::wording::render::Rendering;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    is_open INTEGER NOT NULL,
    last_sequence INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (is_open, updated_at);
CREATE TABLE IF NOT EXISTS updates (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    facts TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    allowed TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (incident_id, sequence)
);
CREATE TABLE IF NOT EXISTS deliveries (
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
    UNIQUE (update_id, channel, target)
);
CREATE INDEX IF NOT EXISTS updates_recent ON updates (created_at);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (state) WHERE state = 'pending';
";

/// The state of one delivery. `Pending` is only ever seen while a process is sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Delivered,
    Failed,
    Unknown,
    Skipped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::Unknown => "unknown",
            State::Skipped => "skipped",
        }
    }

    fn parse(text: &str) -> State {
        match text {
            "delivered" => State::Delivered,
            "failed" => State::Failed,
            "skipped" => State::Skipped,
            "pending" => State::Pending,
            _ => State::Unknown,
        }
    }
}

/// An incident as the journal knows it.
#[derive(Clone, Debug, Serialize)]
pub struct Incident {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: Status,
    pub is_open: bool,
    pub last_sequence: u32,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A recorded update.
#[derive(Clone, Debug)]
pub struct StoredUpdate {
    pub id: String,
    pub update: Update,
    pub fingerprint: String,
    pub allowed: String,
}

/// A delivery to record as pending.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub target: String,
    pub state: State,
    pub note: Option<String>,
    pub rendering: Option<Rendering>,
}

/// A recorded delivery.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub target: String,
    pub state: State,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
    pub note: Option<String>,
    pub rendered: String,
    #[serde(skip)]
    pub rendering: Option<Rendering>,
}

/// How one delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub state: State,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
    pub note: Option<String>,
}

pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

impl Journal {
    /// Opens the journal, creating it and its folder when missing.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create the journal's folder {}", parent.display())
            })?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the journal {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("{} is not an outage journal", path.display()))?;
        Ok(Journal {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens the journal only if it exists: reading commands never create one.
    pub fn open_if_exists(path: &Path) -> anyhow::Result<Option<Journal>> {
        if path.exists() {
            Journal::open(path).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn incident(&self, id: &str) -> anyhow::Result<Option<Incident>> {
        self.conn
            .query_row(
                "SELECT id, kind, title, status, is_open, last_sequence, opened_at, updated_at
                 FROM incidents WHERE id = ?1",
                [id],
                incident_row,
            )
            .optional()?
            .transpose()
    }

    /// The incident updated most recently, preferring open ones: what `--incident latest` means.
    pub fn latest_incident(&self) -> anyhow::Result<Option<Incident>> {
        self.conn
            .query_row(
                "SELECT id, kind, title, status, is_open, last_sequence, opened_at, updated_at
                 FROM incidents ORDER BY is_open DESC, updated_at DESC, rowid DESC LIMIT 1",
                [],
                incident_row,
            )
            .optional()?
            .transpose()
    }

    pub fn incidents(&self, only_open: bool) -> anyhow::Result<Vec<Incident>> {
        let sql = if only_open {
            "SELECT id, kind, title, status, is_open, last_sequence, opened_at, updated_at
             FROM incidents WHERE is_open = 1 ORDER BY opened_at, id"
        } else {
            "SELECT id, kind, title, status, is_open, last_sequence, opened_at, updated_at
             FROM incidents ORDER BY opened_at, id"
        };
        let mut statement = self.conn.prepare(sql)?;
        let rows = statement.query_map([], incident_row)?;
        rows.map(|row| row?).collect()
    }

    pub fn latest_update(&self, incident: &str) -> anyhow::Result<Option<StoredUpdate>> {
        self.conn
            .query_row(
                "SELECT id, facts, fingerprint, allowed FROM updates
                 WHERE incident_id = ?1 ORDER BY sequence DESC LIMIT 1",
                [incident],
                update_row,
            )
            .optional()?
            .transpose()
    }

    pub fn updates(&self, incident: &str) -> anyhow::Result<Vec<StoredUpdate>> {
        let mut statement = self.conn.prepare(
            "SELECT id, facts, fingerprint, allowed FROM updates
             WHERE incident_id = ?1 ORDER BY sequence",
        )?;
        let rows = statement.query_map([incident], update_row)?;
        rows.map(|row| row?).collect()
    }

    pub fn update_by_key(&self, key: &str) -> anyhow::Result<Option<StoredUpdate>> {
        self.conn
            .query_row(
                "SELECT id, facts, fingerprint, allowed FROM updates WHERE idempotency_key = ?1",
                [key],
                update_row,
            )
            .optional()?
            .transpose()
    }

    /// The latest update of every open incident and maintenance, oldest incident first.
    pub fn open_updates(&self) -> anyhow::Result<Vec<Update>> {
        let mut statement = self.conn.prepare(
            "SELECT u.facts FROM incidents i
             JOIN updates u ON u.incident_id = i.id AND u.sequence = i.last_sequence
             WHERE i.is_open = 1 ORDER BY i.opened_at, i.id",
        )?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|facts| Ok(serde_json::from_str(&facts?)?))
            .collect()
    }

    /// The most recent updates, newest first.
    pub fn recent_updates(&self, limit: usize) -> anyhow::Result<Vec<Update>> {
        let mut statement = self
            .conn
            .prepare("SELECT facts FROM updates ORDER BY created_at DESC, rowid DESC LIMIT ?1")?;
        let rows = statement.query_map([limit as i64], |row| row.get::<_, String>(0))?;
        rows.map(|facts| Ok(serde_json::from_str(&facts?)?))
            .collect()
    }

    /// Records an update and its deliveries, all `pending` (or `skipped`), in one transaction.
    pub fn record(
        &mut self,
        update: &Update,
        fingerprint: &str,
        idempotency_key: Option<&str>,
        allowed: &str,
        deliveries: &[NewDelivery],
    ) -> anyhow::Result<String> {
        let update_id = uuid::Uuid::now_v7().to_string();
        let now = Timestamp::now().to_string();
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
        let expected = last.unwrap_or(0) + 1;
        anyhow::ensure!(
            update.sequence == expected,
            "incident {} moved on while this update was prepared (expected update {}); run the \
             command again",
            update.incident,
            expected
        );
        let posted = update.posted_at.to_string();
        let is_open = !update.status.is_final();
        if last.is_none() {
            tx.execute(
                "INSERT INTO incidents (id, kind, title, status, is_open, last_sequence, opened_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![update.incident, update.kind.as_str(), update.title, update.status.as_str(), is_open, update.sequence, posted],
            )?;
        } else {
            tx.execute(
                "UPDATE incidents SET title = ?2, status = ?3, is_open = ?4, last_sequence = ?5, updated_at = ?6
                 WHERE id = ?1",
                params![update.incident, update.title, update.status.as_str(), is_open, update.sequence, posted],
            )?;
        }
        tx.execute(
            "INSERT INTO updates (id, incident_id, sequence, status, facts, fingerprint, idempotency_key, allowed, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                update_id,
                update.incident,
                update.sequence,
                update.status.as_str(),
                serde_json::to_string(update)?,
                fingerprint,
                idempotency_key,
                allowed,
                now
            ],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO deliveries (id, update_id, channel, kind, target, state, note, rendered, payload, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for delivery in deliveries {
                insert.execute(params![
                    delivery.id,
                    update_id,
                    delivery.channel,
                    delivery.kind,
                    delivery.target,
                    delivery.state.as_str(),
                    delivery.note,
                    delivery
                        .rendering
                        .as_ref()
                        .map(Rendering::shown)
                        .unwrap_or_default(),
                    serde_json::to_string(&delivery.rendering)?,
                    now
                ])?;
            }
        }
        tx.commit()?;
        Ok(update_id)
    }

    /// Marks deliveries as being sent again (by `retry`).
    pub fn reopen(&self, delivery_ids: &[String]) -> anyhow::Result<()> {
        for id in delivery_ids {
            self.conn.execute(
                "UPDATE deliveries SET state = 'pending', finished_at = NULL WHERE id = ?1",
                [id],
            )?;
        }
        Ok(())
    }

    /// Counts one more attempt, before it is made.
    pub fn attempt(&self, delivery_id: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1 WHERE id = ?1",
            [delivery_id],
        )?;
        Ok(())
    }

    pub fn finish(&self, delivery_id: &str, outcome: &Outcome) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE deliveries SET state = ?2, remote_id = ?3, url = ?4, error = ?5,
                 note = COALESCE(?6, note), finished_at = ?7
             WHERE id = ?1",
            params![
                delivery_id,
                outcome.state.as_str(),
                outcome.remote_id,
                outcome.url,
                outcome.error,
                outcome.note,
                Timestamp::now().to_string()
            ],
        )?;
        Ok(())
    }

    pub fn deliveries(&self, update_id: &str) -> anyhow::Result<Vec<Delivery>> {
        let mut statement = self.conn.prepare(
            "SELECT id, channel, kind, target, state, remote_id, url, attempts, error, note, rendered,
                    payload
             FROM deliveries WHERE update_id = ?1 ORDER BY rowid",
        )?;
        let rows = statement.query_map([update_id], |row| {
            Ok(Delivery {
                id: row.get(0)?,
                channel: row.get(1)?,
                kind: row.get(2)?,
                target: row.get(3)?,
                state: State::parse(&row.get::<_, String>(4)?),
                remote_id: row.get(5)?,
                url: row.get(6)?,
                attempts: row.get(7)?,
                error: row.get(8)?,
                note: row.get(9)?,
                rendered: row.get(10)?,
                rendering: serde_json::from_str(&row.get::<_, String>(11)?).unwrap_or(None),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where an incident's thread stands on one channel: its first and last delivered posts.
    pub fn thread(
        &self,
        incident: &str,
        channel: &str,
        target: &str,
    ) -> anyhow::Result<Option<Thread>> {
        // From the incident's few updates to their deliveries: the cost does not grow with the
        // journal.
        let mut statement = self.conn.prepare(
            "SELECT d.remote_id, u.sequence FROM updates u
             CROSS JOIN deliveries d ON d.update_id = u.id AND d.channel = ?2 AND d.target = ?3
             WHERE u.incident_id = ?1 AND d.state = 'delivered' AND d.remote_id IS NOT NULL
             ORDER BY u.sequence",
        )?;
        let posts: Vec<(String, u32)> = statement
            .query_map(params![incident, channel, target], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(match (posts.first(), posts.last()) {
            (Some(first), Some(last)) => Some(Thread {
                first_remote_id: first.0.clone(),
                last_remote_id: last.0.clone(),
                previous_sequence: last.1,
            }),
            _ => None,
        })
    }

    /// Turns the `pending` deliveries left by a process that died into `unknown`. Call it only
    /// while holding the [`PublishLock`].
    pub fn settle_abandoned(&self) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "UPDATE deliveries SET state = 'unknown',
                 error = COALESCE(error, 'the process ended before the outcome was known')
             WHERE state = 'pending'",
            [],
        )?)
    }
}

fn incident_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<anyhow::Result<Incident>> {
    let status: String = row.get(3)?;
    let opened: String = row.get(6)?;
    let updated: String = row.get(7)?;
    let id: String = row.get(0)?;
    let kind: String = row.get(1)?;
    let title: String = row.get(2)?;
    let is_open: bool = row.get(4)?;
    let last_sequence: u32 = row.get(5)?;
    Ok((|| {
        Ok(Incident {
            id,
            kind,
            title,
            status: status.parse()?,
            is_open,
            last_sequence,
            opened_at: opened.parse()?,
            updated_at: updated.parse()?,
        })
    })())
}

fn update_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<anyhow::Result<StoredUpdate>> {
    let id: String = row.get(0)?;
    let facts: String = row.get(1)?;
    let fingerprint: String = row.get(2)?;
    let allowed: String = row.get(3)?;
    Ok(serde_json::from_str(&facts)
        .map(|update| StoredUpdate {
            id,
            update,
            fingerprint,
            allowed,
        })
        .context("a journal entry cannot be read"))
}

/// Held by a process that records and sends: one publisher at a time per journal.
pub struct PublishLock {
    _file: File,
}

impl PublishLock {
    /// Takes the lock, waiting for another publisher; `on_wait` is called once if it must wait.
    pub fn acquire(journal: &Path, on_wait: impl FnOnce()) -> anyhow::Result<PublishLock> {
        let file = lock_file(journal)?;
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
        Ok(PublishLock { _file: file })
    }

    /// Whether another process is publishing right now.
    pub fn is_held(journal: &Path) -> bool {
        match lock_file(journal) {
            Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }
}

fn lock_file(journal: &Path) -> anyhow::Result<File> {
    let mut name = journal.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}
