//! The journal: every update and every delivery, recorded before and after it happens, so that
//! nothing is lost and nothing is sent twice.
//!
//! It is one interface ([`Journal`]) with a backend per store: an embedded SQLite file (the
//! default, [`sqlite`]) and a PostgreSQL database a whole team shares ([`postgres`]). Nothing
//! outside this module knows which one it talks to.
//!
//! A delivery is written `pending` before its request and `delivered` or `failed` after. A process
//! that dies in between leaves `pending` behind; once nobody holds that incident's lock, such a
//! delivery reads as `unknown`. Posts to one incident are serialised by a lock per incident
//! ([`Journal::lock`]); posts to different incidents run in parallel, and the projections (banner,
//! feed, site) are written under one short lock of their own, from the state read under it.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::update::{IncidentKind, Status, Update};
use crate::wording::render::Rendering;
use crate::wording::rules::RuleId;

/// The journal's schema version this build writes. A journal with a higher one is refused.
pub(crate) const SCHEMA_VERSION: u32 = 4;

/// Schema 4, the same SQL in both backends: a rendering is stored once, named by a digest of
/// what it holds, and every delivery that sends it names it. The recipients of a list share one
/// rendering: 10,000 subscribers stored it 10,000 times (2.2 KB a recipient, 22 MB a post), and
/// writing those copies was a tenth of a post's time. Its text as shown is not stored: it is
/// made from the payload when read (a status site's pages were kept twice). Rows recorded before
/// keep their own copy (`rendering` NULL); reading takes whichever a row has
/// ([`DELIVERY_READ`], [`rows::deliveries`]).
pub(crate) const RENDERINGS: &str = "
CREATE TABLE renderings (
    id TEXT PRIMARY KEY,
    payload TEXT NOT NULL
);
ALTER TABLE deliveries ADD COLUMN rendering TEXT REFERENCES renderings (id);
";

/// The deliveries' columns as [`DeliveryRow`] reads them, in both backends, each row with its
/// rendering whether stored apart (from schema 4: the text shown is then empty) or in the row
/// (before).
pub(crate) const DELIVERY_READ: &str = "SELECT d.id, d.update_id, d.channel, d.kind, d.target,
    d.state, d.remote_id, d.parts, d.url, d.attempts, d.error, d.note,
    d.rendered, COALESCE(r.payload, d.payload), d.created_at, d.started_at, d.finished_at
    FROM deliveries d LEFT JOIN renderings r ON r.id = d.rendering";

/// What [`Journal::extend`] adds to the insert of deliveries, in both backends' SQL: a delivery
/// takes the place of the one its update recorded as skipped on the same channel and target,
/// and of no other (the statement then changes no row, and the extension fails).
pub(crate) const TAKES_A_SKIPPED_PLACE: &str = "
    ON CONFLICT (update_id, channel, target) DO UPDATE SET id = excluded.id,
        kind = excluded.kind, state = excluded.state, note = excluded.note,
        rendered = excluded.rendered, payload = excluded.payload,
        rendering = excluded.rendering, created_at = excluded.created_at, remote_id = NULL,
        url = NULL, attempts = 0, error = NULL, finished_at = NULL, parts = NULL,
        started_at = NULL
    WHERE deliveries.state = 'skipped'";

/// Where the journal is.
#[derive(Clone)]
pub(crate) enum Location {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL connection string (it may hold a password: never shown).
    Postgres(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&postgres::describe(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is a PostgreSQL journal; anything else a file.
    pub(crate) fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::File(PathBuf::from(text))
        }
    }
}

/// How a command opens the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Commands that only read (`status`, `history`, dry runs): never create, migrate or write,
    /// so a user with read access only can run them.
    ReadOnly,
    /// Commands that record: create the journal and migrate it when needed.
    ReadWrite,
}

/// Opens the journal; `None` when it does not exist yet and `access` is read-only.
pub(crate) fn open(
    location: &Location,
    access: Access,
) -> anyhow::Result<Option<Box<dyn Journal>>> {
    match location {
        Location::File(path) => Ok(sqlite::Sqlite::open(path, access)?
            .map(|journal| Box::new(journal) as Box<dyn Journal>)),
        Location::Postgres(url) => Ok(postgres::Postgres::open(url, access)?
            .map(|journal| Box::new(journal) as Box<dyn Journal>)),
    }
}

/// A journal being opened. Connecting to a PostgreSQL server takes a few milliseconds (a
/// backend to start, a password exchange) that the caller spends meanwhile on other work: the
/// connection is made on a thread of its own. A file opens when it is needed, on the caller's
/// thread: it takes a fraction of that, and creating one early is not worth a race.
pub(crate) enum Opening {
    Connecting(std::thread::JoinHandle<anyhow::Result<Option<Box<dyn Journal>>>>),
    Later(Location, Access),
}

impl Opening {
    pub(crate) fn start(location: &Location, access: Access) -> Opening {
        match location {
            Location::Postgres(_) => {
                let location = location.clone();
                Opening::Connecting(std::thread::spawn(move || open(&location, access)))
            }
            Location::File(_) => Opening::Later(location.clone(), access),
        }
    }

    pub(crate) fn finish(self) -> anyhow::Result<Option<Box<dyn Journal>>> {
        match self {
            Opening::Connecting(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("opening the journal panicked"))?,
            Opening::Later(location, access) => open(&location, access),
        }
    }
}

/// Whether this user may record to the journal at `location`, asked without writing a byte: the
/// file when there is one, and its folder, where SQLite makes its log beside it (or the nearest
/// folder that exists, under which a post creates the rest). What a server's journal allows is
/// known only by writing to it: left to the post.
pub(crate) fn check_writable(location: &Location) -> anyhow::Result<()> {
    let Location::File(path) = location else {
        return Ok(());
    };
    let writable =
        |path: &std::path::Path| rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok();
    let fix = "run it as a user who may write there, or pass --state FILE";
    if path.exists() && !writable(path) {
        anyhow::bail!(
            "the journal {} cannot be written by this user, and a post records there before it \
             sends; {fix}",
            path.display()
        );
    }
    let folder = path
        .ancestors()
        .skip(1)
        .map(|folder| match folder.as_os_str().is_empty() {
            true => std::path::Path::new("."),
            false => folder,
        })
        .find(|folder| folder.exists());
    if let Some(folder) = folder
        && !writable(folder)
    {
        anyhow::bail!(
            "the journal's folder {} cannot be written by this user, and a post records there \
             before it sends; {fix}",
            folder.display()
        );
    }
    Ok(())
}

/// Opens the journal for a command that cannot work without one.
pub(crate) fn open_existing(location: &Location) -> anyhow::Result<Box<dyn Journal>> {
    open(location, Access::ReadOnly)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no journal at {location}; nothing has been posted yet (or pass --state FILE)"
        )
    })
}

/// The state of one delivery. `Pending` is only ever seen while a process is sending it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    #[default]
    Pending,
    Delivered,
    Failed,
    Unknown,
    Skipped,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
            State::Unknown => "unknown",
            State::Skipped => "skipped",
        }
    }

    pub(crate) fn parse(text: &str) -> State {
        match text {
            "delivered" => State::Delivered,
            "failed" => State::Failed,
            "skipped" => State::Skipped,
            "pending" => State::Pending,
            _ => State::Unknown,
        }
    }
}

/// The rules an update was allowed to break, each with the reason given.
pub(crate) type Allowed = BTreeMap<RuleId, String>;

/// An incident as the journal knows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Incident {
    pub(crate) id: String,
    pub(crate) kind: IncidentKind,
    pub(crate) title: String,
    pub(crate) status: Status,
    pub(crate) is_open: bool,
    pub(crate) last_sequence: u32,
    pub(crate) opened_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

/// A recorded update.
#[derive(Clone, Debug)]
pub(crate) struct StoredUpdate {
    pub(crate) id: String,
    pub(crate) update: Update,
    /// A digest of the inputs as typed (relative times unresolved): what makes a rerun.
    pub(crate) input: Option<String>,
    /// The same without the channels chosen or the incident's name: what makes the same words
    /// to other channels the same update (none before schema 3).
    pub(crate) content: Option<String>,
    pub(crate) allowed: Allowed,
}

/// An update to record.
pub(crate) struct NewUpdate<'a> {
    pub(crate) update: &'a Update,
    pub(crate) fingerprint: &'a str,
    pub(crate) input: &'a str,
    /// A digest of the words as typed, without the channels chosen or the incident's name.
    pub(crate) content: &'a str,
    pub(crate) idempotency_key: Option<&'a str>,
    pub(crate) allowed: &'a Allowed,
}

/// A delivery to record as pending (or skipped).
#[derive(Clone, Debug)]
pub(crate) struct NewDelivery {
    pub(crate) id: String,
    pub(crate) channel: String,
    pub(crate) kind: String,
    pub(crate) target: String,
    pub(crate) state: State,
    pub(crate) note: Option<String>,
    /// Shared by every recipient of a list: 10,000 subscribers hold one rendering, not 10,000.
    pub(crate) rendering: Option<Arc<Rendering>>,
}

/// A rendering as the journal stores it: the JSON payload and the digest that names its row
/// (see [`RENDERINGS`]).
pub(crate) struct StoredRendering {
    pub(crate) id: String,
    pub(crate) payload: String,
}

impl StoredRendering {
    /// One rendering stored on its own (a projection's, made again from newer state).
    pub(crate) fn of(rendering: &Rendering) -> anyhow::Result<StoredRendering> {
        Ok(StoredRendering::new(serde_json::to_string(&Some(
            rendering,
        ))?))
    }

    fn new(payload: String) -> StoredRendering {
        StoredRendering {
            id: rendering_id(&payload),
            payload,
        }
    }
}

/// Whether two deliveries share one rendering (the recipients of a list do), or both have none.
fn shared(a: &Option<Arc<Rendering>>, b: &Option<Arc<Rendering>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The name of a stored rendering: the first 128 bits of the SHA-256 of its payload, so the
/// same content is one row however often, and by whichever process, it is sent.
pub(crate) fn rendering_id(payload: &str) -> String {
    use sha2::Digest;
    crate::digest::hex(&sha2::Sha256::digest(payload)[..16])
}

/// What was made for the last of a run of rows: a list's recipients come in runs that share one
/// rendering, so its stored form, its name or its text is made once a run.
pub(crate) struct Last<K, V>(Option<(K, V)>);

impl<K, V> Default for Last<K, V> {
    fn default() -> Self {
        Last(None)
    }
}

impl<K, V> Last<K, V> {
    /// The value kept for the key `same` recognises, or else the key and value `make` makes
    /// (kept in their place); and whether it was made.
    pub(crate) fn get(
        &mut self,
        same: impl FnOnce(&K) -> bool,
        make: impl FnOnce() -> (K, V),
    ) -> (&V, bool) {
        let Ok(got) = self.try_get::<std::convert::Infallible>(same, || Ok(make()));
        got
    }

    /// As [`Last::get`], with a `make` that may fail.
    pub(crate) fn try_get<E>(
        &mut self,
        same: impl FnOnce(&K) -> bool,
        make: impl FnOnce() -> Result<(K, V), E>,
    ) -> Result<(&V, bool), E> {
        let made = !matches!(&self.0, Some((key, _)) if same(key));
        if made {
            self.0 = Some(make()?);
        }
        Ok((&self.0.as_ref().expect("set above").1, made))
    }
}

/// The stored forms of renderings, made once for each rendering a run of deliveries shares.
#[derive(Default)]
pub(crate) struct Stored(Last<Option<Arc<Rendering>>, StoredRendering>);

impl Stored {
    /// The stored form of `rendering`, and whether it differs from the one before (so that its
    /// row is written once for a run of deliveries that share it).
    pub(crate) fn of(
        &mut self,
        rendering: &Option<Arc<Rendering>>,
    ) -> anyhow::Result<(&StoredRendering, bool)> {
        self.0.try_get(
            |seen| shared(seen, rendering),
            || {
                let stored = StoredRendering::new(serde_json::to_string(rendering)?);
                Ok((rendering.clone(), stored))
            },
        )
    }
}

/// The stored renderings of rows read whole (a dump being loaded): each run of rows with the
/// same payload is named once. The text a row shows is made from its payload when read.
#[derive(Default)]
pub(crate) struct Named(Last<String, String>);

impl Named {
    /// The name of the rendering `row` holds, and whether it differs from the row before.
    pub(crate) fn of(&mut self, row: &DeliveryRow) -> (&str, bool) {
        let (id, made) = self.0.get(
            |payload| *payload == row.payload,
            || (row.payload.clone(), rendering_id(&row.payload)),
        );
        (id, made)
    }
}

/// A recorded delivery.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) channel: String,
    pub(crate) kind: String,
    pub(crate) target: String,
    pub(crate) state: State,
    pub(crate) remote_id: Option<String>,
    /// The remote ids of every post of a reply thread, when the update needed more than one.
    pub(crate) parts: Vec<String>,
    pub(crate) url: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) error: Option<String>,
    pub(crate) note: Option<String>,
    /// The text shown for it; the recipients of a list share one.
    pub(crate) rendered: Arc<str>,
    pub(crate) rendering: Option<Arc<Rendering>>,
    /// When the first attempt began (for idempotency keys that expire).
    pub(crate) started_at: Option<Timestamp>,
}

impl Delivery {
    /// Its state as a reader should take it: a `pending` delivery nobody is sending any more
    /// ended with its process, `unknown` when an attempt was made, else `failed`.
    pub(crate) fn settled(&self, in_flight: bool) -> State {
        match self.state {
            State::Pending if in_flight => State::Pending,
            State::Pending if self.attempts == 0 => State::Failed,
            State::Pending => State::Unknown,
            state => state,
        }
    }

    /// The pending ones of the deliveries just recorded, as the journal now holds them (a
    /// record writes exactly what it is given, in one transaction), without reading 10,000 rows
    /// back: the list is sized once, and each text shown is made once per shared rendering, as
    /// reading makes it ([`rows::deliveries`]).
    pub(crate) fn recorded(new: Vec<NewDelivery>) -> Vec<Delivery> {
        let count = new.iter().filter(|new| new.state == State::Pending).count();
        let mut found = Vec::with_capacity(count);
        let mut texts: Last<Option<Arc<Rendering>>, Arc<str>> = Last::default();
        for new in new.into_iter().filter(|new| new.state == State::Pending) {
            let (rendered, _) = texts.get(
                |seen| shared(seen, &new.rendering),
                || {
                    let text = new.rendering.as_deref().map(Rendering::shown);
                    (new.rendering.clone(), text.unwrap_or_default().into())
                },
            );
            let rendered = rendered.clone();
            found.push(Delivery {
                id: new.id,
                channel: new.channel,
                kind: new.kind,
                target: new.target,
                state: new.state,
                remote_id: None,
                parts: Vec::new(),
                url: None,
                attempts: 0,
                error: None,
                note: new.note,
                rendered,
                rendering: new.rendering,
                started_at: None,
            });
        }
        found
    }
}

/// How one delivery ended.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Outcome {
    pub(crate) state: State,
    pub(crate) remote_id: Option<String>,
    pub(crate) parts: Vec<String>,
    pub(crate) url: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) error: Option<String>,
    pub(crate) note: Option<String>,
}

/// One change to recorded deliveries, as the dispatcher makes them; written in batches.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    /// One more attempt is about to be made.
    Attempt { id: String, at: Timestamp },
    /// Some posts of a reply thread went out before the delivery ended.
    Parts { id: String, parts: Vec<String> },
    /// The delivery ended.
    Finish { id: String, outcome: Outcome },
    /// The delivery is sent again (`retry`): back to pending.
    Reopen { id: String },
    /// The rendering was made again from newer state (a projection) or for the first time.
    Rendering { id: String, rendering: Rendering },
    /// The delivery is not sent after all.
    Skip { id: String, note: String },
}

/// Where an incident's thread stands on one channel and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Thread {
    /// The first post of the incident on this channel (a Facebook post to comment on, the root
    /// of a Bluesky thread).
    pub(crate) first_remote_id: String,
    /// The last post (what the next one replies to).
    pub(crate) last_remote_id: String,
    pub(crate) previous_sequence: u32,
}

/// The deliveries of an incident's latest update that still need something done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Unsettled {
    pub(crate) incident: String,
    pub(crate) failed: u32,
    pub(crate) unknown: u32,
    /// Still marked pending: being sent now, or left by a process that died (unknown).
    pub(crate) pending: u32,
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    pub(crate) only_open: bool,
    pub(crate) since: Option<Timestamp>,
}

/// Every record of a journal, for `outage journal copy`.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Dump {
    pub(crate) incidents: Vec<IncidentRow>,
    pub(crate) updates: Vec<UpdateRow>,
    pub(crate) deliveries: Vec<DeliveryRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct IncidentRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) title: String,
    pub(crate) status: String,
    pub(crate) is_open: bool,
    pub(crate) last_sequence: i64,
    pub(crate) opened_at: String,
    pub(crate) updated_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct UpdateRow {
    pub(crate) id: String,
    pub(crate) incident_id: String,
    pub(crate) sequence: i64,
    pub(crate) status: String,
    pub(crate) facts: String,
    pub(crate) fingerprint: String,
    pub(crate) input: Option<String>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) allowed: String,
    pub(crate) created_at: String,
    /// Absent from the dumps of schema 2.
    #[serde(default)]
    pub(crate) content: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct DeliveryRow {
    pub(crate) id: String,
    pub(crate) update_id: String,
    pub(crate) channel: String,
    pub(crate) kind: String,
    pub(crate) target: String,
    pub(crate) state: String,
    pub(crate) remote_id: Option<String>,
    pub(crate) parts: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) attempts: i64,
    pub(crate) error: Option<String>,
    pub(crate) note: Option<String>,
    pub(crate) rendered: String,
    pub(crate) payload: String,
    pub(crate) created_at: String,
    pub(crate) started_at: Option<String>,
    pub(crate) finished_at: Option<String>,
}

/// The lock that serialises the writing of projections (banner, feed, site) across incidents.
pub(crate) const PROJECTIONS: &str = "projections";

/// The name of an incident's lock.
pub(crate) fn incident_lock(id: &str) -> String {
    format!("incident:{id}")
}

/// The journal's interface. Reading methods never write; writing methods are only called by a
/// process that holds the lock of the incident concerned.
pub(crate) trait Journal: Send {
    /// Where it is, for messages (never with a password).
    fn location(&self) -> String;

    fn incident(&self, id: &str) -> anyhow::Result<Option<Incident>>;
    /// The incident updated most recently, preferring open ones: what `--incident latest` means.
    fn latest_incident(&self) -> anyhow::Result<Option<Incident>>;
    /// Incidents, newest first.
    fn incidents(&self, filter: &Filter) -> anyhow::Result<Vec<Incident>>;
    /// Every incident id (for suggestions when one is mistyped).
    fn incident_ids(&self) -> anyhow::Result<Vec<String>>;
    /// An incident's updates, oldest first.
    fn updates(&self, incident: &str) -> anyhow::Result<Vec<StoredUpdate>>;
    fn update_by_key(&self, key: &str) -> anyhow::Result<Option<StoredUpdate>>;
    /// The most recent update recorded at or after `since` whose inputs digest to `input`.
    fn update_by_input(
        &self,
        input: &str,
        since: Timestamp,
    ) -> anyhow::Result<Option<StoredUpdate>>;
    /// The latest update of every open incident and maintenance, oldest incident first.
    fn open_updates(&self) -> anyhow::Result<Vec<Update>>;
    /// The most recent updates, newest first.
    fn recent_updates(&self, limit: usize) -> anyhow::Result<Vec<Update>>;
    /// Every update of these incidents (of every incident when `None`), by incident and
    /// sequence: the timelines a status site shows.
    fn timelines(&self, incidents: Option<&[String]>) -> anyhow::Result<Vec<Update>>;
    fn deliveries(&self, update_id: &str) -> anyhow::Result<Vec<Delivery>>;
    /// Where an incident's thread stands on one channel and target.
    fn thread(&self, incident: &str, channel: &str, target: &str)
    -> anyhow::Result<Option<Thread>>;
    /// Per incident, how many deliveries of its latest update are not settled (failed, unknown
    /// or pending), the incidents with none left out.
    fn unsettled(&self) -> anyhow::Result<Vec<Unsettled>>;

    /// Records an update and its deliveries in one transaction. Fails when the incident moved on
    /// (its last sequence is not the one before this update's).
    fn record(
        &mut self,
        update: &NewUpdate<'_>,
        deliveries: &[NewDelivery],
    ) -> anyhow::Result<String>;
    /// Adds deliveries to a recorded update, in one transaction: the same words going on to
    /// channels it had not reached. A delivery may take the place of one recorded as skipped
    /// (a channel disabled then), never of one that was sent or tried; then nothing is added.
    fn extend(&mut self, update_id: &str, deliveries: &[NewDelivery]) -> anyhow::Result<()>;
    /// Applies changes to recorded deliveries, all in one transaction.
    fn apply(&mut self, changes: &[Change]) -> anyhow::Result<()>;
    /// Folds what has been committed into the journal's own file (SQLite's WAL checkpoint),
    /// waiting for nobody. The writer calls it while the deliveries wait on the remotes: a copy
    /// of the file alone is then current, and closing has little left to write. Best effort:
    /// closing folds in the rest.
    fn checkpoint(&mut self) {}
    /// Settles the `pending` deliveries of `incident` left by a process that died: `unknown` when
    /// an attempt was made (it may have gone out), `failed` when none was (it did not). Call it
    /// only while holding the incident's lock.
    fn settle_abandoned(&mut self, incident: &str) -> anyhow::Result<usize>;

    /// Takes a named lock (see [`incident_lock`], [`PROJECTIONS`]), waiting for whoever holds
    /// it; `on_wait` is called once if it must wait. Held until the journal is dropped (or the
    /// process ends). True when it was taken now, false when this journal held it already.
    fn lock(&mut self, name: &str, on_wait: &mut dyn FnMut()) -> anyhow::Result<bool>;
    /// Whether any process (this one included) holds the lock now.
    fn is_locked(&mut self, name: &str) -> bool;

    /// Every record, for copying.
    fn dump(&self) -> anyhow::Result<Dump>;
    /// Loads every record into an empty journal.
    fn load(&mut self, dump: &Dump) -> anyhow::Result<()>;
    fn is_empty(&self) -> anyhow::Result<bool>;
    fn schema_version(&self) -> anyhow::Result<u32>;
}

/// The shared reading of rows into typed records, the same for every backend.
pub(crate) mod rows {
    use anyhow::Context;

    use super::{
        Allowed, Delivery, DeliveryRow, Incident, IncidentRow, State, StoredUpdate, UpdateRow,
    };

    pub(crate) fn incident(row: IncidentRow) -> anyhow::Result<Incident> {
        Ok(Incident {
            kind: row.kind.parse()?,
            status: row.status.parse()?,
            is_open: row.is_open,
            last_sequence: u32::try_from(row.last_sequence)?,
            opened_at: row.opened_at.parse()?,
            updated_at: row.updated_at.parse()?,
            title: row.title,
            id: row.id,
        })
    }

    pub(crate) fn update(row: UpdateRow) -> anyhow::Result<StoredUpdate> {
        let update = serde_json::from_str(&row.facts).context("a journal entry cannot be read")?;
        Ok(StoredUpdate {
            id: row.id,
            update,
            input: row.input,
            content: row.content,
            allowed: allowed(&row.allowed),
        })
    }

    /// The `allowed` column: a JSON object of rule id to reason. Unknown rules (from a later
    /// version) are dropped rather than failing the whole read.
    pub(crate) fn allowed(text: &str) -> Allowed {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).unwrap_or_default();
        map.into_iter()
            .filter_map(|(rule, reason)| {
                Some((
                    rule.parse().ok()?,
                    reason.as_str().unwrap_or_default().to_owned(),
                ))
            })
            .collect()
    }

    pub(crate) fn allowed_text(allowed: &Allowed) -> String {
        let map: serde_json::Map<String, serde_json::Value> = allowed
            .iter()
            .map(|(rule, reason)| (rule.as_str().to_owned(), reason.clone().into()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// The deliveries of one update, read in order. The recipients of a list share one stored
    /// rendering, so each distinct payload is parsed once and shared, and so is the text shown
    /// for it (made from the payload, or the row's own before schema 4); rows are converted as
    /// they are read, so 10,000 payloads are never held at once.
    pub(crate) fn deliveries<E>(
        rows: impl IntoIterator<Item = Result<DeliveryRow, E>>,
    ) -> Result<Vec<Delivery>, E> {
        let mut payloads = Payloads::default();
        let mut shown: Option<super::Arc<str>> = None;
        let mut found = Vec::new();
        for row in rows {
            let mut row = row?;
            let (rendering, made) = payloads.read(&row.payload);
            let rendered = match shown {
                _ if row.rendered.is_empty() => made,
                Some(text) if *text == *row.rendered => text,
                _ => super::Arc::from(std::mem::take(&mut row.rendered)),
            };
            shown = Some(rendered.clone());
            found.push(delivery(row, rendering, rendered));
        }
        Ok(found)
    }

    /// Rows for a dump, each with its text shown as the journal reads it: a row that names a
    /// stored rendering holds none (schema 4), and a dump says it as earlier versions wrote it.
    pub(crate) fn with_text_shown(mut rows: Vec<DeliveryRow>) -> Vec<DeliveryRow> {
        let mut payloads = Payloads::default();
        for row in rows.iter_mut().filter(|row| row.rendered.is_empty()) {
            row.rendered = payloads.read(&row.payload).1.to_string();
        }
        rows
    }

    /// The payloads of a run of rows, each read once: a list's recipients share one.
    #[derive(Default)]
    struct Payloads(super::Last<String, (Option<super::Arc<super::Rendering>>, super::Arc<str>)>);

    impl Payloads {
        /// The rendering `payload` holds, and the text it shows. A rendering this version
        /// cannot read (or none) is `None`: `retry` renders it again.
        fn read(
            &mut self,
            payload: &str,
        ) -> (Option<super::Arc<super::Rendering>>, super::Arc<str>) {
            let ((rendering, shown), _) = self.0.get(
                |seen| seen == payload,
                || {
                    let rendering: Option<super::Arc<super::Rendering>> =
                        serde_json::from_str(payload).unwrap_or(None);
                    let shown = rendering.as_deref().map(super::Rendering::shown);
                    (
                        payload.to_owned(),
                        (rendering, shown.unwrap_or_default().into()),
                    )
                },
            );
            (rendering.clone(), shown.clone())
        }
    }

    /// One delivery, its rendering read already (see [`deliveries`]).
    fn delivery(
        row: DeliveryRow,
        rendering: Option<super::Arc<super::Rendering>>,
        rendered: super::Arc<str>,
    ) -> Delivery {
        Delivery {
            id: row.id,
            channel: row.channel,
            kind: row.kind,
            target: row.target,
            state: State::parse(&row.state),
            remote_id: row.remote_id,
            parts: row
                .parts
                .as_deref()
                .and_then(|parts| serde_json::from_str(parts).ok())
                .unwrap_or_default(),
            url: row.url,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            error: row.error,
            note: row.note,
            rendered,
            rendering,
            started_at: row.started_at.and_then(|at| at.parse().ok()),
        }
    }
}

/// The update about to be recorded must be the one after the incident's last.
pub(crate) fn check_sequence(update: &Update, last: Option<u32>) -> anyhow::Result<()> {
    let expected = last.unwrap_or(0) + 1;
    anyhow::ensure!(
        update.sequence == expected,
        "incident {} moved on while this update was prepared (expected update {}); run the \
         command again",
        update.incident,
        expected
    );
    Ok(())
}

/// A new journal in a temporary folder holding `Update::example` with `deliveries`, for tests:
/// the folder (the journal goes with it), the journal and the update's id.
#[cfg(test)]
pub(crate) fn example(deliveries: &[NewDelivery]) -> (tempfile::TempDir, sqlite::Sqlite, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = sqlite::Sqlite::open(&dir.path().join("journal.db"), Access::ReadWrite)
        .unwrap()
        .unwrap();
    let update = crate::update::Update::example("2026-11-22T10:00:00Z".parse().unwrap());
    let id = journal
        .record(
            &NewUpdate {
                update: &update,
                fingerprint: "f",
                input: "i",
                content: "c",
                idempotency_key: None,
                allowed: &Allowed::new(),
            },
            deliveries,
        )
        .unwrap();
    (dir, journal, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, text: &str) -> DeliveryRow {
        let rendering = Some(Rendering::text(text.to_owned()));
        DeliveryRow {
            id: id.into(),
            update_id: "u".into(),
            channel: "subscribers".into(),
            kind: "webhook".into(),
            target: format!("https://hooks.example.com/{id}"),
            state: "pending".into(),
            remote_id: None,
            parts: None,
            url: None,
            attempts: 0,
            error: None,
            note: None,
            rendered: text.into(),
            payload: serde_json::to_string(&rendering).unwrap(),
            created_at: "2026-11-22T10:00:00Z".into(),
            started_at: None,
            finished_at: None,
        }
    }

    /// A list's recipients share one rendering and one shown text, as read; a different one
    /// after them is its own.
    #[test]
    fn a_run_of_rows_shares_its_rendering_and_text() {
        let rows = ["a", "b", "c"]
            .map(|id| row(id, "Investigating: login failures"))
            .into_iter()
            .chain([row("d", "Resolved: login failures")])
            .map(Ok::<_, std::convert::Infallible>);
        let read = rows::deliveries(rows).unwrap();
        let texts: Vec<&str> = read.iter().map(|d| &*d.rendered).collect();
        assert_eq!(
            texts,
            [
                "Investigating: login failures",
                "Investigating: login failures",
                "Investigating: login failures",
                "Resolved: login failures"
            ]
        );
        assert!(Arc::ptr_eq(&read[0].rendered, &read[2].rendered));
        assert!(!Arc::ptr_eq(&read[2].rendered, &read[3].rendered));
        let rendering = |n: usize| read[n].rendering.clone().unwrap();
        assert!(Arc::ptr_eq(&rendering(0), &rendering(2)));
        assert_eq!(rendering(3).text, "Resolved: login failures");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        /// What `post` sends is what it recorded: the deliveries made from the list it recorded
        /// are, field for field, the pending ones the journal reads back (a list's runs of
        /// shared renderings, skipped channels and notes among them). Each distinct rendering
        /// is stored once, however many deliveries send it.
        #[test]
        fn the_recorded_list_is_what_the_journal_reads_back(
            runs in proptest::collection::vec((0..4usize, 0..4u8, proptest::bool::ANY), 1..6)
        ) {
            let mut new = Vec::new();
            let mut distinct = std::collections::BTreeSet::new();
            for (run, (recipients, shape, skipped)) in runs.into_iter().enumerate() {
                // Shape 3 is the same words in every run, each run's its own copy.
                distinct.insert(if shape == 3 { usize::MAX } else { run * 4 + usize::from(shape) });
                let rendering = match shape {
                    0 => None,
                    1 => Some(Rendering::text(format!("Investigating: run {run}"))),
                    3 => Some(Rendering::text("The same words".into())),
                    _ => Some(Rendering {
                        text: format!("Run {run}"),
                        body: Some(format!("{{\"run\":{run}}}")),
                        subject: Some("Subject".into()),
                        ..Rendering::default()
                    }),
                }
                .map(Arc::new);
                for recipient in 0..recipients.max(1) {
                    new.push(NewDelivery {
                        id: uuid::Uuid::now_v7().to_string(),
                        channel: format!("channel-{run}"),
                        kind: "webhook".into(),
                        target: format!("hooks.example.com#{recipient}"),
                        state: if skipped { State::Skipped } else { State::Pending },
                        note: skipped.then(|| "skipped: disabled".to_owned()),
                        rendering: rendering.clone(),
                    });
                }
            }
            // Runs without a rendering share the one stored for none.
            let nones = distinct.iter().filter(|key| **key != usize::MAX && *key % 4 == 0).count();
            let stored = distinct.len() - nones.saturating_sub(1);
            let (dir, journal, id) = example(&new);
            let conn = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
            let count = |sql: &str| -> usize {
                usize::try_from(conn.query_row(sql, [], |row| row.get::<_, i64>(0)).unwrap()).unwrap()
            };
            proptest::prop_assert_eq!(count("SELECT count(*) FROM renderings"), stored);
            proptest::prop_assert_eq!(
                count("SELECT count(*) FROM deliveries d JOIN renderings r ON r.id = d.rendering
                       WHERE d.rendered = '' AND d.payload = ''"),
                new.len()
            );
            let read: Vec<Delivery> = journal
                .deliveries(&id)
                .unwrap()
                .into_iter()
                .filter(|delivery| delivery.state == State::Pending)
                .collect();
            let made = Delivery::recorded(new);
            proptest::prop_assert_eq!(made.len(), read.len());
            proptest::prop_assert_eq!(made.capacity(), made.len());
            for (made, read) in made.iter().zip(&read) {
                proptest::prop_assert_eq!(format!("{made:?}"), format!("{read:?}"));
            }
        }

        /// An update goes on to more channels only where it was not sent or tried: a delivery
        /// takes the place of a skipped one (where it stood) or is added after the others; one
        /// that meets a delivery sent, tried or pending adds nothing at all.
        #[test]
        fn an_update_goes_on_only_where_it_was_not_sent(
            before in proptest::collection::vec(0..5u8, 5),
            chosen in proptest::sample::subsequence((0..5usize).collect::<Vec<_>>(), 0..=5),
        ) {
            // Per channel: 0 none, 1 skipped, 2 pending, 3 delivered, 4 failed.
            let new = |channel: usize, state: State| NewDelivery {
                id: uuid::Uuid::now_v7().to_string(),
                channel: format!("channel-{channel}"),
                kind: "webhook".into(),
                target: String::new(),
                state,
                note: (state == State::Skipped).then(|| "disabled in the config".to_owned()),
                rendering: Some(Arc::new(Rendering::text(format!("to {channel}")))),
            };
            let first: Vec<NewDelivery> = before
                .iter()
                .enumerate()
                .filter(|(_, state)| **state > 0)
                .map(|(channel, state)| new(channel, if *state == 1 { State::Skipped } else { State::Pending }))
                .collect();
            let (_dir, mut journal, id) = example(&first);
            let finished: Vec<Change> = first
                .iter()
                .zip(before.iter().filter(|state| **state > 0))
                .filter(|(_, state)| **state > 2)
                .map(|(delivery, state)| Change::Finish {
                    id: delivery.id.clone(),
                    outcome: Outcome {
                        state: if *state == 3 { State::Delivered } else { State::Failed },
                        ..Outcome::default()
                    },
                })
                .collect();
            journal.apply(&finished).unwrap();
            let read = |journal: &sqlite::Sqlite| -> Vec<(String, String, State)> {
                journal
                    .deliveries(&id)
                    .unwrap()
                    .into_iter()
                    .map(|d| (d.id, d.channel, d.state))
                    .collect()
            };
            let was = read(&journal);
            let more: Vec<NewDelivery> = chosen.iter().map(|c| new(*c, State::Pending)).collect();
            let result = journal.extend(&id, &more);
            let allowed = chosen.iter().all(|c| before[*c] <= 1);
            proptest::prop_assert_eq!(result.is_ok(), allowed, "{:?}", result);
            if !allowed {
                proptest::prop_assert_eq!(read(&journal), was);
                return Ok(());
            }
            let mut expected: Vec<(String, String, State)> = was
                .into_iter()
                .map(|(id, channel, state)| match more.iter().find(|m| m.channel == channel) {
                    Some(m) => (m.id.clone(), channel, State::Pending),
                    None => (id, channel, state),
                })
                .collect();
            for m in more.iter().filter(|m| !expected.iter().any(|e| e.1 == m.channel)).collect::<Vec<_>>() {
                expected.push((m.id.clone(), m.channel.clone(), State::Pending));
            }
            proptest::prop_assert_eq!(read(&journal), expected);
            // Each one read back carries what it was given.
            for delivery in journal.deliveries(&id).unwrap() {
                if let Some(m) = more.iter().find(|m| m.id == delivery.id) {
                    proptest::prop_assert_eq!(&*delivery.rendered, m.rendering.as_ref().unwrap().text.as_str());
                    proptest::prop_assert_eq!(delivery.note, None);
                    proptest::prop_assert_eq!(delivery.attempts, 0);
                }
            }
        }
    }
}
