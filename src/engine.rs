//! The imperative shell: inbox, keeping, store transactions, outbox, journal, recovery.
//!
//! Life of an inbox file (each step durable before the next):
//! 1. its bytes are hashed and kept as `data/received/<sha256>.zip` (or set aside);
//! 2. in one store transaction: the rows are applied (ACK only), the response archive is
//!    kept as `data/sent/<sha256>.zip`, the delivery row (`state = committed`) and the
//!    journal entry are written; commit;
//! 3. the response is copied into the outbox, the inbox file removed, the delivery marked
//!    `done`. A crash between 2 and 3 is finished by [`Engine::recover`] on the next start.

use crate::config::Config;
use crate::fsutil::{self, hex};
use crate::journal;
use crate::name::BatchName;
use crate::pipeline::{self, Evaluation, Job, PipelineError, Policy};
use crate::reconcile::StoreBooks;
use crate::respond::{self, Verdict};
use crate::store::{Store, StoreError};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A failure that stops the engine (not the sender's fault).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// File system, with the path.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// Store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Pipeline.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A replay or check that cannot be done.
    #[error("{0}")]
    Refused(String),
    /// Another engine holds the data folder.
    #[error(
        "another reestr process holds {0} (waited {secs} s; lock_wait_seconds sets how long); try again when it is done",
        secs = .1.as_secs_f64()
    )]
    Locked(String, Duration),
}

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sql(e))
    }
}

/// Attaches a path to an I/O error.
pub fn io_at(path: &Path) -> impl FnOnce(io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The folders under `data`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `data` itself.
    pub root: PathBuf,
}

impl Layout {
    /// The data folder of `cfg`, refused unless `init` has made its store.
    fn initialised(cfg: &Config) -> Result<Self, EngineError> {
        let layout = Self {
            root: cfg.data.clone(),
        };
        if !layout.db().exists() {
            return Err(EngineError::Refused(format!(
                "no store at {}; run `reestr init` first",
                layout.db().display()
            )));
        }
        Ok(layout)
    }
    /// The store file.
    pub fn db(&self) -> PathBuf {
        self.root.join("reestr.db")
    }
    /// Kept inbound archives.
    pub fn received(&self) -> PathBuf {
        self.root.join("received")
    }
    /// Kept responses.
    pub fn sent(&self) -> PathBuf {
        self.root.join("sent")
    }
    /// Set-aside files.
    pub fn set_aside(&self) -> PathBuf {
        self.root.join("set-aside")
    }
    /// Kept invoice exports.
    pub fn imports(&self) -> PathBuf {
        self.root.join("imports")
    }
    /// Kept schemas, each under its fingerprint (`schemas/<fingerprint>.json`).
    pub fn schemas(&self) -> PathBuf {
        self.root.join("schemas")
    }
    /// The kept schema of this fingerprint.
    pub fn kept_schema(&self, fingerprint: &str) -> PathBuf {
        self.schemas().join(format!("{fingerprint}.json"))
    }
    /// Scratch space (temporary results).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// What happened to one inbox file.
#[derive(Debug, Clone, Serialize)]
pub struct Handled {
    /// The inbox file name.
    pub file: String,
    /// Batch id, when the name parsed.
    pub batch_id: Option<String>,
    /// `ACK`, `NAK`, `RESENT` (stored ACK sent again) or `SET_ASIDE`.
    pub result: String,
    /// NAK code.
    pub code: Option<String>,
    /// NAK message or set-aside reason.
    pub message: Option<String>,
    /// Data rows (ACK).
    pub rows: u64,
    /// Rows by status code (ACK).
    pub statuses: BTreeMap<u16, u64>,
    /// Response file name.
    pub response: Option<String>,
}

/// What one `run` did.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Every file handled, in order.
    pub handled: Vec<Handled>,
    /// Inbox files left for the next run because they were still being written (or settling
    /// for longer than `run_wait`).
    pub left: Vec<String>,
    /// Archives left for the next run because one of `left` comes before them (§7.2 order).
    pub held: Vec<String>,
    /// Responses of batches applied by an earlier run that could not complete their delivery
    /// (crash, outbox not writable), written by this run: the same bytes as then.
    pub finished: Vec<String>,
    /// The failure of the receiver itself that stopped the run (the file in hand stays).
    pub error: Option<EngineError>,
}

/// A batch as the engine hands it to the pure core (see `Engine::evaluate_in`).
struct Batch<'a> {
    path: &'a Path,
    name: &'a BatchName,
    sha256: &'a str,
    policy: &'a Policy,
    already_acked: bool,
    journal_seq: i64,
    spool_dir: &'a Path,
    /// The schemas it is judged under: those in force, or those of its time ([`Engine::schema_of_then`]).
    schemas: &'a crate::schema::Schemas,
}

/// The engine over one configuration and its store.
pub struct Engine {
    /// Configuration.
    pub cfg: Config,
    /// Store.
    pub store: Store,
    /// Data layout.
    pub layout: Layout,
    /// Set (by a signal handler) to stop between batches and abandon the batch in hand.
    pub cancel: Arc<AtomicBool>,
    /// Progress callback `(rows done, rows declared)` for long batches.
    pub progress: Option<Box<dyn Fn(u64, u64)>>,
    /// Rows reconciled together (see [`pipeline::CHUNK_ROWS`]); the answers do not depend on it.
    pub chunk_rows: usize,
    /// Batches declaring this many rows read every invoice once (see
    /// [`crate::reconcile::READ_ALL_MIN_ROWS`]); the answers do not depend on it.
    pub read_all_min_rows: u64,
    /// Payment ids a statement notes in memory before a temporary table takes them (see
    /// [`crate::reconcile::NOTED_IN_MEMORY`]); the answers do not depend on it.
    pub noted_in_memory: usize,
    lock: Option<File>,
    /// A descriptor of the store file, for writing its pages back while a batch is applied
    /// ([`fsutil::write_back_while`]). Open as long as the store is: closing a descriptor of
    /// the file would drop the locks SQLite holds on it.
    store_file: Option<File>,
}

/// Whether this batch id was answered with an ACK before (before journal entry `seq`, when
/// given): a later archive of the same id is then `B09`.
fn acked_before(
    conn: &rusqlite::Connection,
    name: &BatchName,
    seq: Option<i64>,
) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT count(*) FROM deliveries WHERE batch_id=?1 AND result='ACK' AND journal_seq < ?2",
        params![name.batch_id(), seq.unwrap_or(i64::MAX)],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )
}

/// What `watch` and `run` remember of an inbox file between scans: its size and modification
/// time as last seen, and since when they have been seen so.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    len: u64,
    mtime: Option<SystemTime>,
    since: Instant,
}

/// Files seen in the inbox, by path.
pub type Stability = HashMap<PathBuf, Seen>;

/// How far ahead of the clock a file's modification time may be before it counts as a clock
/// running ahead (warned about, and judged by the scans' sight alone).
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// How a scan judges that an inbox file has stopped changing (§1: never pick up a file that is
/// still growing).
#[derive(Debug)]
pub enum Look<'a> {
    /// One look (`status`, metrics): a file's age is the time since its modification time.
    Once,
    /// `watch`: a file must also have been seen unchanged by the scans for the settle time, and
    /// an unreadable zip for the grace time.
    Watch(&'a mut Stability),
    /// `run`: a file must have been unchanged for the settle time by its modification time or
    /// by the scans' sight, whichever is longer, and an unreadable zip for the grace time; an
    /// unreadable zip must also have been seen unchanged by the scans for the settle time,
    /// since a writer whose clock runs behind sets old times on a file still growing.
    Run(&'a mut Stability),
}

/// An inbox scan: files ready to take in order, and those still settling.
#[derive(Debug, Default)]
pub struct Scan {
    /// Ready files, in the agreement's order (unparseable names first).
    pub ready: Vec<PathBuf>,
    /// Files not taken yet (still changing, or an unreadable zip within its grace time).
    pub pending: Vec<PathBuf>,
    /// Ready archives that wait for an earlier one (§7.2 order) among `pending`, in order.
    pub held: Vec<PathBuf>,
    /// How long until the first of `pending` could be ready, if it does not change meanwhile.
    pub next_due: Option<Duration>,
    /// Whether one of `pending` is an unreadable zip not seen unchanged for the settle time yet
    /// (`watch` and `run` looks): it may be being written and become readable at any moment,
    /// sooner than `next_due`.
    pub maybe_changing: bool,
}

/// How often the store file's written pages are sent to disk while a batch is applied
/// ([`fsutil::write_back_while`]).
const WRITE_BACK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Fails an operation with "no space left on device" when `REESTR_FAIL` names its point (tests
/// of write failures that a privileged mount cannot simulate). Points: `outbox-write`,
/// `spool-create`, `keep-received`.
pub fn injected_failure(point: &str) -> io::Result<()> {
    match std::env::var("REESTR_FAIL") {
        Ok(p) if p == point => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("injected failure at {point}"),
        )),
        _ => Ok(()),
    }
}

/// Kills the process at a named point when `REESTR_FAULT` names it (crash tests).
///
/// `REESTR_FAULT=point` aborts at the first time the point is reached; `point:N` at the N-th.
/// Points: `claimed`, `validated`, `response-kept`, `committed`, `outbox-written`,
/// `source-removed`, `done`.
pub fn fault(point: &str) {
    static COUNTS: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());
    let Ok(spec) = std::env::var("REESTR_FAULT") else {
        return;
    };
    let (name, nth) = match spec.split_once(':') {
        Some((n, k)) => (n.to_string(), k.parse::<u32>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if name != point {
        return;
    }
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let count = match counts.iter_mut().find(|(n, _)| *n == name) {
        Some((_, c)) => {
            *c += 1;
            *c
        }
        None => {
            counts.push((name, 1));
            1
        }
    };
    if count == nth {
        eprintln!("REESTR_FAULT: aborting at {point}");
        std::process::abort();
    }
}

/// The bytes of `path`'s file name in hex, when they are not UTF-8 (the name recorded
/// elsewhere then has U+FFFD in their place).
fn name_bytes_if_not_utf8(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let raw = path.file_name()?.as_bytes();
        std::str::from_utf8(raw).is_err().then(|| hex(raw))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Holds the process at a named point while `REESTR_PAUSE` is `point:FILE`: creates FILE and
/// waits until it is removed (at most `PAUSE_AT_MOST`). Tests use it to look at the store
/// from another process while a batch holds its transaction. Points: `validated` (the rows
/// evaluated, the books writing their last changes), `response-kept` (just before the commit),
/// `import-read` (an export read and loaded, before it is found to have stayed one version),
/// `audit-walked` (`audit verify` has walked the journal's chain, before it reads the tables
/// that point into it), `status-read` (`status` has read the set-aside files, before the
/// answers).
pub fn pause(point: &str) {
    let Ok(spec) = std::env::var("REESTR_PAUSE") else {
        return;
    };
    let Some((name, file)) = spec.split_once(':') else {
        return;
    };
    if name != point || fs::write(file, point).is_err() {
        return;
    }
    let until = std::time::Instant::now() + PAUSE_AT_MOST;
    while Path::new(file).exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The longest a [`pause`] holds the process.
const PAUSE_AT_MOST: std::time::Duration = std::time::Duration::from_secs(120);

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Engine {
    /// Creates the folders and the store where missing (safe to repeat).
    pub fn init(cfg: Config) -> Result<Self, EngineError> {
        for d in [cfg.inbox.clone(), cfg.outbox.clone()] {
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        Self::with_data(cfg)
    }

    /// The engine over a configuration, its store and its data folder.
    fn over(cfg: Config, store: Store, layout: Layout) -> Self {
        // Only speed depends on it: without it, no pages are written back during a batch.
        let store_file = File::open(layout.db()).ok();
        Self {
            cfg,
            store,
            layout,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: None,
            chunk_rows: pipeline::CHUNK_ROWS,
            read_all_min_rows: crate::reconcile::READ_ALL_MIN_ROWS,
            noted_in_memory: crate::reconcile::NOTED_IN_MEMORY,
            lock: None,
            store_file,
        }
    }

    /// The engine over `cfg`, creating the data folder's parts and the store where missing.
    fn with_data(cfg: Config) -> Result<Self, EngineError> {
        let layout = Layout {
            root: cfg.data.clone(),
        };
        for d in [
            layout.root.clone(),
            layout.received(),
            layout.sent(),
            layout.set_aside(),
            layout.imports(),
            layout.schemas(),
            layout.tmp(),
        ] {
            fsutil::create_dir(&d).map_err(io_at(&d))?;
        }
        let store = Store::open(&layout.db())?;
        Ok(Self::over(cfg, store, layout))
    }

    /// Takes the exclusive lock on the data folder, waiting up to `lock_wait`. Held until the
    /// engine is dropped. `run`, `watch`, `replay`, `invoices import` and `release` take it.
    pub fn lock(&mut self) -> Result<(), EngineError> {
        if self.lock.is_none() {
            self.lock = Some(take_lock(&self.layout.root, self.cfg.lock_wait)?);
        }
        Ok(())
    }

    /// Opens an initialised engine holding the data folder's lock, taken before the store is
    /// opened: a process in the middle of a batch also holds the store, and waiting on the
    /// store would end in "database is locked" after SQLite's busy timeout, not in saying that
    /// another process holds the lock.
    pub fn open_locked(cfg: Config) -> Result<Self, EngineError> {
        Layout::initialised(&cfg)?;
        let lock = take_lock(&cfg.data, cfg.lock_wait)?;
        let mut engine = Self::with_data(cfg)?;
        engine.lock = Some(lock);
        Ok(engine)
    }

    /// Opens an initialised engine; refuses when `init` has not been run.
    pub fn open(cfg: Config) -> Result<Self, EngineError> {
        Layout::initialised(&cfg)?;
        Self::with_data(cfg)
    }

    /// Opens an initialised engine for reading only (`status`, `audit verify`): no folder is
    /// created and nothing is written, so it works on a read-only copy of the data folder.
    pub fn open_read_only(cfg: Config) -> Result<Self, EngineError> {
        let layout = Layout::initialised(&cfg)?;
        let store = Store::open_read_only(&layout.db())?;
        Ok(Self::over(cfg, store, layout))
    }

    /// Refuses when the inbox or the outbox is missing (`run`, `watch`, `status`, `release`).
    /// Only `init` creates them: a missing one is most likely a share that is not mounted, and
    /// a run over an empty local folder would report success.
    pub fn require_exchange_folders(&self) -> Result<(), EngineError> {
        for (what, d) in [("inbox", &self.cfg.inbox), ("outbox", &self.cfg.outbox)] {
            if !d.is_dir() {
                return Err(EngineError::Refused(format!(
                    "the {what} {} is not there (is the share mounted?); `reestr init` creates it",
                    d.display()
                )));
            }
        }
        Ok(())
    }

    /// Scans the inbox. Temporary names (`*.part` and dot-files, §1), folders and links are
    /// left alone. A file is ready once it has not changed for the settle time, as `look`
    /// judges it; an archive name whose zip central directory is unreadable waits up to
    /// `unreadable_grace` for the writer to finish, then is taken (and answered `B01`).
    pub fn scan(&self, mut look: Look<'_>) -> Result<Scan, EngineError> {
        let inbox = &self.cfg.inbox;
        let settle = self.cfg.settle;
        let grace = self.cfg.unreadable_grace;
        let mut bad = Vec::new();
        let mut good = Vec::new();
        let mut pending = Vec::new();
        let mut next_due: Option<Duration> = None;
        // The §7.2 order of the first settling archive: no later batch goes before it.
        let mut first_settling = None;
        // Whether a file left waiting has not been seen unchanged for the settle time yet (it
        // may still be being written, and become ready at any moment).
        let mut maybe_changing = false;
        let mut wait = |path: PathBuf, due: Duration, changing: bool| {
            maybe_changing |= changing;
            if let Some(n) = path.file_name().and_then(|n| {
                BatchName::parse_with(&n.to_string_lossy(), self.cfg.schemas.types()).ok()
            }) {
                let key = n.order_key();
                if first_settling.as_ref().is_none_or(|f| key < *f) {
                    first_settling = Some(key);
                }
            }
            pending.push(path);
            next_due = Some(next_due.map_or(due, |d| d.min(due)));
        };
        let now = SystemTime::now();
        let mut present = Vec::new();
        for e in fs::read_dir(inbox).map_err(io_at(inbox))? {
            let e = e.map_err(io_at(inbox))?;
            let name = e.file_name().to_string_lossy().into_owned();
            // The temporary names of agreement §1; any other name is taken (and set aside
            // when it is not an archive name, §2).
            if name.starts_with('.') || name.ends_with(".part") {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(e.path()) else {
                continue;
            };
            if !meta.file_type().is_file() {
                let t = meta.file_type();
                if t.is_symlink() {
                    tracing::warn!(file = %name, "inbox entry is a symbolic link; left alone");
                } else if !t.is_dir() {
                    // Never opened: opening a FIFO would wait for a writer.
                    tracing::warn!(file = %name, "inbox entry is not a regular file (a FIFO, socket or device); left alone");
                }
                continue;
            }
            let path = e.path();
            present.push(path.clone());
            let mtime = meta.modified().ok();
            // A time in the future (a share whose clock runs ahead) says nothing of the file's
            // age: it is taken once it has been seen unchanged for the settle time.
            // (A file just written can carry a time a little ahead of this clock: file
            // systems stamp with their own clock and granularity.)
            let ahead = mtime.is_some_and(|m| m > now + CLOCK_SLACK);
            let age = mtime
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or(Duration::ZERO);
            // A one-off look has no history: every look is a new state of the file.
            let mut new_state = true;
            let seen = match &mut look {
                Look::Once => None,
                Look::Watch(st) | Look::Run(st) => {
                    let fresh = Seen {
                        len: meta.len(),
                        mtime,
                        since: Instant::now(),
                    };
                    new_state = !st.contains_key(&path);
                    let entry = st.entry(path.clone()).or_insert(fresh);
                    if entry.len != meta.len() || entry.mtime != mtime {
                        *entry = fresh;
                        new_state = true;
                    }
                    Some(entry.since.elapsed())
                }
            };
            // Said once per state of the file, not on every scan.
            if ahead && new_state {
                tracing::warn!(file = %name, "modification time is in the future (clock skew?); taken once seen unchanged for the settle time");
            }
            // How long the file has been unchanged, and how long it has been seen so.
            let (stable_for, watched) = match (&look, seen) {
                (Look::Watch(_), Some(seen)) if ahead => (seen, seen),
                (Look::Watch(_), Some(seen)) => (age.min(seen), seen),
                (Look::Run(_), Some(seen)) if ahead => (seen, seen),
                (Look::Run(_), Some(seen)) => (age.max(seen), seen),
                _ => (age, age),
            };
            if stable_for < settle {
                tracing::debug!(file = %name, "still changing or within the settle time; not taken yet");
                // `settle - stable_for` is the earliest it can be ready, changing or not.
                wait(path, settle - stable_for, false);
                continue;
            }
            match BatchName::parse_with(&name, self.cfg.schemas.types()) {
                Ok(n) => {
                    let readable = File::open(&path)
                        .ok()
                        .is_some_and(|f| zip::ZipArchive::new(io::BufReader::new(f)).is_ok());
                    if !readable {
                        let unreadable_for = match look {
                            Look::Run(_) => stable_for,
                            _ => watched,
                        };
                        let mut due = grace.saturating_sub(unreadable_for);
                        if matches!(look, Look::Run(_)) {
                            due = due.max(settle.saturating_sub(watched));
                        }
                        if !due.is_zero() {
                            tracing::debug!(file = %name, "zip directory not readable yet; waiting for the writer");
                            // Still being written, it may become readable at any moment.
                            wait(path, due, watched < settle);
                            continue;
                        }
                    }
                    good.push((n.order_key(), path))
                }
                Err(_) => bad.push(path),
            }
        }
        match look {
            Look::Watch(st) | Look::Run(st) => st.retain(|p, _| present.contains(p)),
            Look::Once => {}
        }
        bad.sort();
        good.sort();
        // Batches waiting together are handled in the §7.2 order: a ready batch that comes
        // after one still settling waits for it.
        let (good, held): (Vec<_>, Vec<_>) = good
            .into_iter()
            .partition(|(k, _)| first_settling.as_ref().is_none_or(|f| k < f));
        for (_, p) in &held {
            tracing::debug!(file = %p.display(), "waits for an earlier batch still settling (agreement §7.2 order)");
        }
        bad.extend(good.into_iter().map(|(_, p)| p));
        pending.sort();
        Ok(Scan {
            ready: bad,
            pending,
            held: held.into_iter().map(|(_, p)| p).collect(),
            next_due,
            maybe_changing,
        })
    }

    /// The scan `run` works from. Files that can settle within `run_wait` are waited for (a
    /// file copied into the inbox just before `run` is answered by that run); one that still
    /// changes, or could not settle in time (settle or grace time longer than `run_wait`), is
    /// left for the next run, and so are the batches after it in the §7.2 order.
    fn ready_to_run(&self) -> Result<Scan, EngineError> {
        let deadline = Instant::now() + self.cfg.run_wait;
        let mut seen = Stability::new();
        let mut told = false;
        loop {
            let scan = self.scan(Look::Run(&mut seen))?;
            if self.cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Pipeline(PipelineError::Cancelled));
            }
            let Some(due) = scan.next_due else {
                return Ok(scan);
            };
            let now = Instant::now();
            // Nothing can be ready before the deadline, unless a zip being written becomes
            // readable: then look again until the deadline.
            if now >= deadline || (now + due > deadline && !scan.maybe_changing) {
                for p in &scan.pending {
                    tracing::warn!(file = %p.display(), "still changing or settling; left for the next run");
                }
                for p in &scan.held {
                    tracing::warn!(file = %p.display(), "waits for an earlier batch still settling (agreement §7.2 order); left for the next run");
                }
                return Ok(scan);
            }
            if !told {
                tracing::info!(
                    files = scan.pending.len(),
                    "waiting for inbox files to settle"
                );
                told = true;
            }
            let step = if scan.maybe_changing {
                due.min(
                    (self.cfg.settle / 4).clamp(Duration::from_millis(250), Duration::from_secs(1)),
                )
            } else {
                due
            };
            let until = (now + step).min(deadline);
            while Instant::now() < until && !self.cancel.load(Ordering::Relaxed) {
                std::thread::sleep(
                    Duration::from_millis(100).min(until.saturating_duration_since(Instant::now())),
                );
            }
        }
    }

    /// Handles every inbox file once, waiting up to `run_wait` for files still settling. Stops
    /// at the first failure of the receiver itself (the file stays in the inbox).
    pub fn run(&mut self) -> RunOutcome {
        let mut out = RunOutcome::default();
        match self.recover() {
            Ok(finished) => out.finished = finished,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
        let names = |paths: &[PathBuf]| -> Vec<String> {
            paths
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect()
        };
        let files = match self.ready_to_run() {
            Ok(scan) => {
                out.left = names(&scan.pending);
                out.held = names(&scan.held);
                scan.ready
            }
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        for f in files {
            if self.cancel.load(Ordering::Relaxed) {
                out.error = Some(EngineError::Pipeline(PipelineError::Cancelled));
                return out;
            }
            match self.handle(&f) {
                Ok(h) => out.handled.push(h),
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
        out
    }

    /// Removes temporary files a crashed engine left behind (only names this engine makes:
    /// hidden, ending in `.tmp`), in the outbox and the data folders. Needs the lock.
    pub fn clean_temporaries(&self) -> Result<usize, EngineError> {
        let mut n = 0;
        let dirs = [
            self.cfg.outbox.clone(),
            self.layout.tmp(),
            self.layout.sent(),
            self.layout.received(),
            self.layout.set_aside(),
            self.layout.imports(),
            self.layout.schemas(),
        ];
        for dir in dirs {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = name.starts_with('.') && name.ends_with(".tmp");
                if ours && e.file_type().is_ok_and(|t| t.is_file()) {
                    fsutil::remove_durable(&e.path()).map_err(io_at(&e.path()))?;
                    n += 1;
                }
            }
        }
        if n > 0 {
            tracing::info!(
                files = n,
                "removed temporary files left by an interrupted run"
            );
        }
        Ok(n)
    }

    /// Finishes deliveries and set-asides that were committed but not completed (a crash, or a
    /// response that could not be written), after removing temporary files left behind (when
    /// this engine holds the lock) and keeping the schemas in force. Returns the responses it
    /// wrote.
    pub fn recover(&mut self) -> Result<Vec<String>, EngineError> {
        if self.lock.is_some() {
            self.clean_temporaries()?;
        }
        // The schemas in force are kept before anything is judged under them, and kept again
        // when a copy was lost and its schema is configured anew.
        for schema in self
            .cfg
            .schemas
            .registries()
            .map(|(_, s)| s)
            .chain([&self.cfg.schemas.invoices])
        {
            keep_schema(&self.layout, schema)?;
        }
        let pending: Vec<(i64, String, String, String)> = {
            let mut st = self.store.conn.prepare(
                "SELECT id, inbound_name, inbound_sha256, response_name FROM deliveries WHERE state='committed' ORDER BY id",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut finished = Vec::new();
        for (id, inbound, sha, response) in pending {
            let resp_sha: String = self.store.conn.query_row(
                "SELECT response_sha256 FROM deliveries WHERE id=?1",
                [id],
                |r| r.get(0),
            )?;
            tracing::info!(delivery = id, file = %inbound, "finishing a delivery interrupted earlier");
            self.finish_delivery(id, &inbound, &sha, &response, &resp_sha, None)?;
            finished.push(response);
        }
        let aside: Vec<(i64, String, String)> = {
            let mut st = self
                .store
                .conn
                .prepare("SELECT id, original_name, sha256 FROM set_aside WHERE state='committed' ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, name, sha) in aside {
            self.remove_from_inbox(&name, &sha, None)?;
            self.store
                .conn
                .execute("UPDATE set_aside SET state='done' WHERE id=?1", [id])?;
        }
        Ok(finished)
    }

    /// Removes the inbox file `name` if it still holds the bytes with SHA-256 `sha`: known
    /// without reading it again when it still has the stamp it had when it was claimed
    /// (`claimed`, [`fsutil::Kept::source`]); otherwise hashed again.
    fn remove_from_inbox(
        &self,
        name: &str,
        sha: &str,
        claimed: Option<fsutil::Stamp>,
    ) -> Result<(), EngineError> {
        // The name as recorded. A name that is not UTF-8 was recorded with U+FFFD in place of
        // its invalid bytes: that file is found among the entries whose names read the same.
        let paths: Vec<PathBuf> = if name.contains(char::REPLACEMENT_CHARACTER) {
            let inbox = &self.cfg.inbox;
            fs::read_dir(inbox)
                .map_err(io_at(inbox))?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy() == name)
                .map(|e| e.path())
                .collect()
        } else {
            vec![self.cfg.inbox.join(name)]
        };
        for p in paths {
            // A file of the same name with other bytes is a new arrival: leave it.
            let same = claimed.is_some_and(|st| fsutil::unchanged_since(&p, st))
                || fsutil::sha256_file(&p).is_ok_and(|h| hex(&h) == sha);
            if same {
                fsutil::remove_durable(&p).map_err(io_at(&p))?;
            }
        }
        Ok(())
    }

    fn finish_delivery(
        &self,
        id: i64,
        inbound: &str,
        sha: &str,
        response: &str,
        resp_sha: &str,
        claimed: Option<fsutil::Stamp>,
    ) -> Result<(), EngineError> {
        let kept = self.layout.sent().join(format!("{resp_sha}.zip"));
        let dest = self.cfg.outbox.join(response);
        let mut f = File::open(&kept).map_err(io_at(&kept))?;
        injected_failure("outbox-write").map_err(io_at(&dest))?;
        fsutil::write_atomic(&dest, &mut f).map_err(io_at(&dest))?;
        fault("outbox-written");
        self.remove_from_inbox(inbound, sha, claimed)?;
        fault("source-removed");
        self.store
            .conn
            .execute("UPDATE deliveries SET state='done' WHERE id=?1", [id])?;
        fault("done");
        Ok(())
    }

    /// The name of a file whose type no schema in force adds, when these very bytes were
    /// acknowledged under that type: §7.1 sends the stored ACK again whatever the configuration
    /// now says. The type's role is the one its delivery journaled (`reconciled_as`).
    fn name_of_a_former_type(
        &self,
        path: &Path,
        fname: &str,
    ) -> Result<Option<BatchName>, EngineError> {
        let Some(batch_id) = fname
            .strip_suffix(".zip")
            .filter(|_| BatchName::of_some_type(fname))
        else {
            return Ok(None);
        };
        let sha = hex(&fsutil::sha256_file(path).map_err(io_at(path))?);
        let body: Option<String> = self
            .store
            .conn
            .query_row(
                "SELECT j.body FROM deliveries d JOIN journal j ON j.seq = d.journal_seq
                 WHERE d.inbound_sha256=?1 AND d.batch_id=?2 AND d.result='ACK' AND d.resent_of IS NULL
                 ORDER BY d.id LIMIT 1",
                params![sha, batch_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(body
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|b| self.journaled_name(fname, &b).ok()))
    }

    /// Handles one inbox file: answers it or sets it aside.
    pub fn handle(&mut self, path: &Path) -> Result<Handled, EngineError> {
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match BatchName::parse_with(&fname, self.cfg.schemas.types()) {
            Ok(n) => n,
            Err(e) => match self.name_of_a_former_type(path, &fname)? {
                Some(n) => n,
                None => return self.set_aside(path, &fname, &e.to_string()),
            },
        };
        let received = self.layout.received();
        injected_failure("keep-received").map_err(io_at(&received))?;
        // The kept copy is what is judged.
        let (sha, kept, claimed) = keep(path, &received, "zip", "inbox file")?;
        fault("claimed");
        let started = std::time::Instant::now();
        // Unchecked (a shared borrow of the connection) so that `evaluate_in` can borrow the
        // engine; it is still the only transaction on this connection.
        let mut tx =
            rusqlite::Transaction::new_unchecked(&self.store.conn, TransactionBehavior::Immediate)?;
        let prior_ack: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT id, response_name, response_sha256 FROM deliveries WHERE inbound_sha256=?1 AND batch_id=?2 AND result='ACK' ORDER BY id LIMIT 1",
                params![sha, name.batch_id()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let mut handled = Handled {
            file: fname.clone(),
            batch_id: Some(name.batch_id()),
            result: String::new(),
            code: None,
            message: None,
            rows: 0,
            statuses: BTreeMap::new(),
            response: None,
        };
        let (id, response_name, resp_sha) = if let Some((first, response_name, resp_sha)) =
            prior_ack
        {
            let body = json!({
                "inbound_name": fname, "inbound_sha256": sha, "batch_id": name.batch_id(),
                "response_name": response_name, "response_sha256": resp_sha, "resent_of_delivery": first,
                "engine_version": crate::VERSION,
                "kept": [{"path": format!("received/{sha}.zip"), "sha256": sha}],
            });
            let seq = journal::append(&tx, "resend", &now_text(), &body)?;
            tx.execute(
                "INSERT INTO deliveries(journal_seq, inbound_name, inbound_sha256, batch_id, result, code, response_name, response_sha256, resent_of, state)
                 VALUES (?1,?2,?3,?4,'ACK',NULL,?5,?6,?7,'committed')",
                params![seq, fname, sha, name.batch_id(), response_name, resp_sha, first],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            handled.result = "RESENT".into();
            let original: Option<String> = self
                .store
                .conn
                .query_row(
                    "SELECT j.body FROM deliveries d JOIN journal j ON j.seq = d.journal_seq WHERE d.id = ?1",
                    [first],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(body) =
                original.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            {
                handled.rows = body
                    .get("rows")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                handled.statuses = body
                    .get("statuses")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
            }
            (id, response_name, resp_sha)
        } else {
            let already_acked = acked_before(&tx, &name, None)?;
            let policy = self.cfg.policy(&name.sender);
            let seq = journal::next_seq(&tx)?;
            let (tmp, sent) = (self.layout.tmp(), self.layout.sent());
            let key = policy.key.as_ref();
            // The response is written and kept while the books write their last changes.
            let ((result, code, message, rows, statuses), (resp_name, resp_sha)) = {
                let mut sp = tx.savepoint()?;
                let batch = Batch {
                    path: &kept,
                    name: &name,
                    sha256: &sha,
                    policy: &policy,
                    already_acked,
                    journal_seq: seq,
                    spool_dir: &tmp,
                    schemas: &self.cfg.schemas,
                };
                let (ack, answer, response) =
                    fsutil::write_back_while(self.store_file.as_ref(), WRITE_BACK_EVERY, || {
                        self.evaluate_in(&sp, batch, true, |ev| {
                            // Evaluated; the books may still be writing their last changes.
                            fault("validated");
                            pause("validated");
                            let (ack, s) = (ev.is_ack(), summary(&ev));
                            keep_response(&sent, &tmp, key, ev).map(|kept| (ack, s, kept))
                        })
                    })?;
                if ack {
                    sp.commit()?;
                } else {
                    sp.rollback()?;
                }
                (answer, response)
            };
            fault("response-kept");
            pause("response-kept");
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "batch evaluated and applied, response kept (not committed)"
            );
            let mut body = json!({
                "inbound_name": fname, "inbound_sha256": sha, "batch_id": name.batch_id(),
                "result": result, "code": code, "message": message, "rows": rows, "statuses": statuses,
                "response_name": resp_name, "response_sha256": resp_sha,
                "policy": policy, "engine_version": crate::VERSION,
                "schema": self.cfg.schemas.for_type(name.kind).map(|s| &s.fingerprint),
                "kept": [
                    {"path": format!("received/{sha}.zip"), "sha256": sha},
                    {"path": format!("sent/{resp_sha}.zip"), "sha256": resp_sha},
                ],
            });
            if let (Some(schema), Some(kept)) = (
                self.cfg.schemas.for_type(name.kind),
                body.get_mut("kept")
                    .and_then(serde_json::Value::as_array_mut),
            ) {
                keep_schema(&self.layout, schema)?;
                kept.push(kept_schema_entry(schema));
            }
            if let Some(b) = body.as_object_mut().filter(|_| !name.kind.is_agreements()) {
                // What its rows did, for an audit made whatever schemas are then in force.
                b.insert("reconciled_as".into(), json!(name.kind.role()));
            }
            let jseq = journal::append(&tx, "delivery", &now_text(), &body)?;
            debug_assert_eq!(jseq, seq);
            tx.execute(
                "INSERT INTO deliveries(journal_seq, inbound_name, inbound_sha256, batch_id, result, code, response_name, response_sha256, resent_of, state)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,NULL,'committed')",
                params![jseq, fname, sha, name.batch_id(), result, code, resp_name, resp_sha],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            fault("committed");
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "committed");
            handled.result = result;
            handled.code = code;
            handled.message = message;
            handled.rows = rows;
            handled.statuses = statuses;
            (id, resp_name, resp_sha)
        };
        self.finish_delivery(id, &fname, &sha, &response_name, &resp_sha, claimed)?;
        handled.response = Some(response_name);
        tracing::info!(
            batch = %name.batch_id(), result = %handled.result, code = handled.code.as_deref().unwrap_or(""),
            rows = handled.rows, ms = started.elapsed().as_millis() as u64, "batch handled"
        );
        Ok(handled)
    }

    fn set_aside(
        &mut self,
        path: &Path,
        fname: &str,
        reason: &str,
    ) -> Result<Handled, EngineError> {
        let dir = self.layout.set_aside();
        let (sha, _, claimed) = keep(path, &dir, "bin", "inbox file")?;
        let sha = sha.as_str();
        let kept_as = format!("{sha}.bin");
        let n = journal::next_seq(&self.store.conn)?;
        let note_path = dir.join(format!("{sha}.{n}.reason.json"));
        let mut note = json!({"original_name": fname, "sha256": sha, "reason": reason});
        // A name that is not UTF-8 is shown with U+FFFD above; its exact bytes are kept too.
        let raw_name = name_bytes_if_not_utf8(path);
        if let (Some(raw), Some(obj)) = (&raw_name, note.as_object_mut()) {
            obj.insert("original_name_bytes".into(), raw.clone().into());
        }
        let note_body = serde_json::to_vec_pretty(&note).unwrap_or_default();
        fsutil::write_bytes(&note_path, &note_body).map_err(io_at(&note_path))?;
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let note_sha = hex(&<sha2::Sha256 as sha2::Digest>::digest(&note_body));
        let mut body = json!({
            "original_name": fname, "sha256": sha, "reason": reason, "engine_version": crate::VERSION,
            "kept": [
                {"path": format!("set-aside/{kept_as}"), "sha256": sha},
                {"path": format!("set-aside/{sha}.{n}.reason.json"), "sha256": note_sha},
            ],
        });
        if let (Some(raw), Some(obj)) = (raw_name, body.as_object_mut()) {
            obj.insert("original_name_bytes".into(), raw.into());
        }
        let seq = journal::append(&tx, "set_aside", &now_text(), &body)?;
        tx.execute(
            "INSERT INTO set_aside(journal_seq, original_name, sha256, kept_as, reason, state) VALUES (?1,?2,?3,?4,?5,'committed')",
            params![seq, fname, sha, kept_as, reason],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        self.remove_from_inbox(fname, sha, claimed)?;
        self.store
            .conn
            .execute("UPDATE set_aside SET state='done' WHERE id=?1", [id])?;
        tracing::warn!(file = %fname, reason = %reason, "set aside");
        Ok(Handled {
            file: fname.to_string(),
            batch_id: None,
            result: "SET_ASIDE".into(),
            code: None,
            message: Some(reason.to_string()),
            rows: 0,
            statuses: BTreeMap::new(),
            response: None,
        })
    }
}

/// Keeps a copy of `path` in `dir` under its SHA-256 (`<hex>.<ext>`, read once,
/// [`fsutil::keep_by_hash`]); a file kept there earlier under that name is hashed again before
/// it is trusted. The hash (hex), the kept file, and the source's stamp if it vouches for the
/// bytes ([`fsutil::Kept::source`]).
fn keep(
    path: &Path,
    dir: &Path,
    ext: &str,
    what: &str,
) -> Result<(String, PathBuf, Option<fsutil::Stamp>), EngineError> {
    // Opened first, so that a source that cannot be read is named, not the folder.
    let from = File::open(path).map_err(io_at(path))?;
    trusted(
        fsutil::keep_open_by_hash(from, dir, ext).map_err(io_at(dir))?,
        path,
        what,
    )
}

/// A kept copy of `path`, its hash in hex, its path and the source's stamp, once a copy that
/// was already there (not made now) is found to hold the same bytes.
fn trusted(
    copy: fsutil::Kept,
    path: &Path,
    what: &str,
) -> Result<(String, PathBuf, Option<fsutil::Stamp>), EngineError> {
    let sha = hex(&copy.sha256);
    if !copy.fresh && hex(&fsutil::sha256_file(&copy.path).map_err(io_at(&copy.path))?) != sha {
        return Err(EngineError::Refused(format!(
            "kept copy {} does not match the {what} {}; not processed",
            copy.path.display(),
            path.display()
        )));
    }
    Ok((sha, copy.path, copy.source))
}

/// Builds the response zip into `tmp`, then keeps it as `sent/<sha256>.zip`. Returns the
/// response file name and its SHA-256.
pub fn keep_response(
    sent: &Path,
    tmp: &Path,
    key: Option<&crate::integrity::Key>,
    mut ev: Evaluation,
) -> Result<(String, String), EngineError> {
    let ack = ev.is_ack();
    let name = ev.header.file_name(ack);
    let tmp_path = fsutil::temp_path(&tmp.join(&name));
    let file = fsutil::create_new(&tmp_path).map_err(io_at(&tmp_path))?;
    let result = ev
        .result
        .as_mut()
        .map(|s| (&mut s.file as &mut dyn io::Read, s.sha256, s.len));
    let w = respond::write_zip(BufWriter::new(file), &ev.header, &ev.verdict, result, key)
        .map_err(PipelineError::from)?;
    let file = w.into_inner().map_err(|e| EngineError::Io {
        path: tmp_path.display().to_string(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_at(&tmp_path))?;
    drop(file);
    let sha = hex(&fsutil::sha256_file(&tmp_path).map_err(io_at(&tmp_path))?);
    let dest = sent.join(format!("{sha}.zip"));
    if dest.exists() {
        fs::remove_file(&tmp_path).map_err(io_at(&tmp_path))?;
    } else {
        fs::rename(&tmp_path, &dest).map_err(io_at(&dest))?;
        fsutil::sync_dir(sent).map_err(io_at(sent))?;
    }
    Ok((name, sha))
}

/// A batch's outcome for reports: result, NAK code and message, data rows, rows by status.
pub type Summary = (
    String,
    Option<String>,
    Option<String>,
    u64,
    BTreeMap<u16, u64>,
);

/// Summarises an evaluation.
pub fn summary(ev: &Evaluation) -> Summary {
    match &ev.verdict {
        Verdict::Nak { code, message } => (
            "NAK".into(),
            Some(code.to_string()),
            Some(message.clone()),
            0,
            BTreeMap::new(),
        ),
        Verdict::Ack { .. } => {
            let data_rows = ev
                .counts
                .iter()
                .filter(|(c, _)| **c != 306)
                .map(|(_, n)| n)
                .sum();
            ("ACK".into(), None, None, data_rows, ev.counts.clone())
        }
    }
}

/// How much of `result.csv` `check` shows.
const CHECK_SHOW_BYTES: u64 = 1 << 20;

/// What an invoice import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The file loaded.
    pub file: String,
    /// Invoices in it.
    pub rows: u64,
    /// Invoices inserted or changed.
    pub changed: u64,
}

/// The outcome of `replay`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Whether the archive had been received before.
    pub received_before: bool,
    /// The response written.
    pub response: String,
    /// Its SHA-256.
    pub response_sha256: String,
    /// The response sent at the time (received archives only).
    pub sent_sha256: Option<String>,
    /// Whether the bytes are identical to what was sent.
    pub identical: Option<bool>,
    /// Outcome summary.
    pub result: String,
    /// NAK code.
    pub code: Option<String>,
    /// The engine version that answered the archive, as journaled (received archives only).
    pub answered_by: Option<String>,
    /// When the archive was judged under another schema than the one in force for its type
    /// (as journaled, [`crate::schema::Schema::fingerprint`]): the schema file and both
    /// fingerprints.
    pub schema_changed: Option<String>,
    /// Whether it was judged under the kept copy of that other schema, the one of its time
    /// (`schemas/<fingerprint>.json` in the data folder), as the books before it were.
    pub judged_under_kept_schema: bool,
}

/// The outcome of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// What would be done: `ACK`, `NAK`, `RESENT`, `SET_ASIDE`.
    pub result: String,
    /// NAK code.
    pub code: Option<String>,
    /// NAK message or set-aside reason.
    pub message: Option<String>,
    /// Rows by status.
    pub statuses: BTreeMap<u16, u64>,
    /// The response's `control.txt`, when one would be written.
    pub control: Option<String>,
    /// The response's `result.csv` decoded from its encoding (at most 1 MiB of it), for an
    /// ACK.
    pub result_csv: Option<String>,
    /// The same bytes as the response holds them, in the registry's encoding.
    #[serde(skip)]
    pub result_csv_bytes: Option<Vec<u8>>,
}

impl Engine {
    /// The most bytes of a field held in memory, for exports as for registries.
    fn max_field(&self) -> usize {
        usize::try_from(self.cfg.limits.max_field_bytes).unwrap_or(usize::MAX)
    }

    /// Loads a billing export (agreement §9). Refused whole on any invalid line.
    pub fn import_invoices(
        &mut self,
        path: &Path,
    ) -> Result<Result<ImportReport, crate::invoices::ExportError>, EngineError> {
        // Rows in ascending order append at the right edge of the table: a small page cache
        // serves them, and its dirty pages are written while the load runs (bench/RESULTS.md,
        // round 9). The store's usual cache is back afterwards, whatever happened.
        self.store.set_cache_kib(crate::store::SMALL_CACHE_KIB)?;
        let imported = self.import_with_small_cache(path);
        usual_cache_back(&self.store);
        imported
    }

    fn import_with_small_cache(
        &mut self,
        path: &Path,
    ) -> Result<Result<ImportReport, crate::invoices::ExportError>, EngineError> {
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let max_field = self.max_field();
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = journal::next_seq(&tx)?;
        let f = File::open(path).map_err(io_at(path))?;
        let start = fsutil::ReadStart::of(&f).map_err(io_at(path))?;
        // Parsed, hashed and copied for keeping in one pass: the file is read once, and what
        // is kept is what was loaded.
        let imports = self.layout.imports();
        let mut src = fsutil::KeepingReader::new(
            io::BufReader::with_capacity(256 << 10, &f),
            &imports,
            "csv",
        )
        .map_err(io_at(&imports))?;
        let loaded = match crate::invoices::load(
            &tx,
            &fname,
            &mut src,
            &self.cfg.schemas.invoices,
            seq,
            max_field,
        )? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let copy = src.finish().map_err(io_at(path))?;
        let sha = hex(&copy.sha256);
        let crate::invoices::Loaded { rows, changed } = loaded;
        let report = ImportReport {
            file: fname.clone(),
            rows,
            changed,
        };
        if changed == 0 {
            // Nothing changes: nothing to record (loading the same export twice is a no-op).
            tx.rollback()?;
            return Ok(Ok(report));
        }
        // The export must have been one version while it was read: the stamp of the file read
        // says so (the same before and after, and older than the read), as for an inbox file
        // (`fsutil::keep_by_hash`), or its bytes are hashed again.
        pause("import-read");
        let after = f.metadata().map(|m| fsutil::Stamp::of(&m));
        let one_version = after.is_ok_and(|a| start.vouched(a).is_some())
            || fsutil::sha256_file(path).map_err(io_at(path))? == copy.sha256;
        if !one_version {
            return Err(EngineError::Refused(format!(
                "{} changed while it was read; not imported",
                path.display()
            )));
        }
        trusted(copy.keep().map_err(io_at(&imports))?, path, "export")?;
        keep_schema(&self.layout, &self.cfg.schemas.invoices)?;
        let body = json!({
            "file_name": fname, "sha256": sha, "rows": rows, "changed": changed,
            "engine_version": crate::VERSION, "schema": self.cfg.schemas.invoices.fingerprint,
            "kept": [
                {"path": format!("imports/{sha}.csv"), "sha256": sha},
                kept_schema_entry(&self.cfg.schemas.invoices),
            ],
        });
        journal::append(&tx, "import", &now_text(), &body)?;
        tx.execute(
            "INSERT INTO imports(journal_seq, file_name, sha256, rows, changed) VALUES (?1,?2,?3,?4,?5)",
            params![seq, fname, sha, rows as i64, changed as i64],
        )?;
        tx.commit()?;
        tracing::info!(file = %fname, rows, changed, "invoices imported");
        Ok(Ok(report))
    }

    /// Judges an archive as `run` would, against the current store, and changes nothing.
    pub fn check(&mut self, path: &Path) -> Result<CheckReport, EngineError> {
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sha = hex(&fsutil::sha256_file(path).map_err(io_at(path))?);
        let name = match BatchName::parse_with(&fname, self.cfg.schemas.types()) {
            Ok(n) => n,
            Err(e) => {
                return Ok(CheckReport {
                    result: "SET_ASIDE".into(),
                    code: None,
                    message: Some(respond::one_line(&e.to_string())),
                    statuses: BTreeMap::new(),
                    control: None,
                    result_csv: None,
                    result_csv_bytes: None,
                });
            }
        };
        let prior: Option<String> = self
            .store
            .conn
            .query_row(
                "SELECT response_sha256 FROM deliveries WHERE inbound_sha256=?1 AND batch_id=?2 AND result='ACK' ORDER BY id LIMIT 1",
                params![sha, name.batch_id()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(resp) = prior {
            let kept = self.layout.sent().join(format!("{resp}.zip"));
            let (control, bytes) = read_response_bytes(&kept).map_err(io_at(&kept))?;
            let result_csv = bytes.as_deref().map(|b| shown_result(&control, b));
            return Ok(CheckReport {
                result: "RESENT".into(),
                code: None,
                message: Some(
                    "this archive was processed before: its stored ACK would be sent again".into(),
                ),
                statuses: BTreeMap::new(),
                control: Some(control),
                result_csv,
                result_csv_bytes: bytes,
            });
        }
        let policy = self.cfg.policy(&name.sender);
        let mut ev = self.evaluate_rolled_back(path, &name, &sha, &policy)?;
        let (result, code, message, _rows, statuses) = summary(&ev);
        let control = respond::control_text(&ev.header, &ev.verdict);
        let bytes = match ev.result.as_mut() {
            Some(s) => {
                // Shown up to 1 MiB: `check` is for reading, and memory must not grow with the
                // registry.
                let mut b = Vec::new();
                io::Read::read_to_end(&mut io::Read::take(&mut s.file, CHECK_SHOW_BYTES), &mut b)
                    .map_err(io_at(&s.path))?;
                if s.len > CHECK_SHOW_BYTES {
                    b.extend_from_slice(
                        format!("... ({} bytes in all; the rest is not shown)\n", s.len).as_bytes(),
                    );
                }
                Some(b)
            }
            None => None,
        };
        Ok(CheckReport {
            result,
            code,
            // As the response's `control.txt` writes it.
            message: message.map(|m| respond::one_line(&m)),
            statuses,
            result_csv: bytes.as_deref().map(|b| shown_result(&control, b)),
            control: Some(control),
            result_csv_bytes: bytes,
        })
    }

    /// Re-runs a batch against the store as it was just before the batch was first processed
    /// (or, for an archive never received, against the current store) and writes the response
    /// into `out`. Changes nothing in the real store.
    pub fn replay(&mut self, path: &Path, out: &Path) -> Result<ReplayReport, EngineError> {
        let sha = hex(&fsutil::sha256_file(path).map_err(io_at(path))?);
        fs::create_dir_all(out).map_err(io_at(out))?;
        let first: Option<(i64, String, String)> = self
            .store
            .conn
            .query_row(
                // The delivery that processed the batch (its ACK) when there is one: bytes
                // NAKed and later ACKed (§7.1: judged afresh) are answered by that ACK.
                "SELECT journal_seq, inbound_name, response_sha256 FROM deliveries WHERE inbound_sha256=?1 AND resent_of IS NULL ORDER BY result = 'ACK' DESC, id LIMIT 1",
                [&sha],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((seq, inbound_name, sent_sha)) = first else {
            let fname = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = BatchName::parse_with(&fname, self.cfg.schemas.types())
                .map_err(|e| EngineError::Refused(format!("{e}; it cannot be answered")))?;
            let policy = self.cfg.policy(&name.sender);
            let ev = self.evaluate_rolled_back(path, &name, &sha, &policy)?;
            let (result, code, ..) = summary(&ev);
            let tmp = std::env::temp_dir();
            let (resp, resp_sha) = write_response_to(out, &tmp, policy.key.as_ref(), ev)?;
            return Ok(ReplayReport {
                received_before: false,
                response: resp,
                response_sha256: resp_sha,
                sent_sha256: None,
                identical: None,
                result,
                code,
                answered_by: None,
                schema_changed: None,
                judged_under_kept_schema: false,
            });
        };
        let body: String =
            self.store
                .conn
                .query_row("SELECT body FROM journal WHERE seq=?1", [seq], |r| r.get(0))?;
        let body: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| EngineError::Refused(format!("journal entry {seq}: {e}")))?;
        let name = self
            .journaled_name(&inbound_name, &body)
            .map_err(|e| EngineError::Refused(e.to_string()))?;
        let (policy, unkeyed) = self.journaled_policy(seq, &body, &name)?;
        if let Some(fp) = unkeyed {
            return Err(EngineError::Refused(format!(
                "the key of {} used for this batch (fingerprint {}) is no longer configured; the signed response cannot be reproduced",
                name.sender,
                fp.chars().take(16).collect::<String>()
            )));
        }
        if let Some(other) = self.export_under_another_schema(seq)? {
            return Err(EngineError::Refused(format!(
                "the books before this batch cannot be rebuilt: {other}; with that one configured, replay loads it again"
            )));
        }
        let already_acked = acked_before(&self.store.conn, &name, Some(seq))?;
        let schemas = self.schemas_of_then(&body, name.kind);
        // The books rebuilt in a file of their own: memory does not grow with them.
        let mut scratch = Store::scratch()?;
        self.rebuild_before(&mut scratch, seq)?;
        let tmp = std::env::temp_dir();
        let tx = scratch.conn.transaction()?;
        let key = policy.key.as_ref();
        let (result, code, resp, resp_sha) = self.evaluate_in(
            &tx,
            Batch {
                path,
                name: &name,
                sha256: &sha,
                policy: &policy,
                already_acked,
                journal_seq: seq,
                spool_dir: &tmp,
                schemas: &schemas,
            },
            false,
            |ev| {
                let (result, code, ..) = summary(&ev);
                let (resp, sha) = write_response_to(out, &tmp, key, ev)?;
                Ok((result, code, resp, sha))
            },
        )?;
        tx.rollback()?;
        Ok(ReplayReport {
            received_before: true,
            identical: Some(resp_sha == sent_sha),
            response: resp,
            response_sha256: resp_sha,
            sent_sha256: Some(sent_sha),
            result,
            code,
            answered_by: answered_by(&body),
            schema_changed: match self.cfg.schemas.for_type(name.kind) {
                Some(now) => schema_changed(&body, now),
                None => Some(format!(
                    "{}.json: fingerprint {}… then, none in force now",
                    name.kind,
                    body.get("schema")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .chars()
                        .take(12)
                        .collect::<String>()
                )),
            },
            judged_under_kept_schema: matches!(schemas, std::borrow::Cow::Owned(_)),
        })
    }

    /// The policy journaled with delivery entry `seq` (its `body`), with the partner's key when
    /// the key used then is still configured; otherwise without a key, and the fingerprint of
    /// the key that was used.
    fn journaled_policy(
        &self,
        seq: i64,
        body: &serde_json::Value,
        name: &BatchName,
    ) -> Result<(Policy, Option<String>), EngineError> {
        let mut policy: pipeline::Policy =
            serde_json::from_value(body.get("policy").cloned().unwrap_or_default()).map_err(
                |e| EngineError::Refused(format!("journal entry {seq} has no usable policy: {e}")),
            )?;
        let Some(fp) = policy.key_fingerprint.clone() else {
            return Ok((policy, None));
        };
        match self.cfg.key_of(&name.sender) {
            Some(k) if k.fingerprint() == fp => {
                policy.key = Some(k.clone());
                Ok((policy, None))
            }
            _ => Ok((policy, Some(fp))),
        }
    }

    /// Loads into a scratch store, in journal order, the kept invoice exports imported before
    /// journal entry `seq`: the invoices as `invoices import` left them then.
    fn load_kept_exports(&self, scratch: &mut Store, seq: i64) -> Result<(), EngineError> {
        let imports: Vec<(i64, String, String)> = {
            let mut st = self
                .store
                .conn
                .prepare("SELECT journal_seq, file_name, sha256 FROM imports WHERE journal_seq < ?1 ORDER BY journal_seq")?;
            let rows = st.query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let tx = scratch.conn.transaction()?;
        for (iseq, fname, sha) in imports {
            self.load_kept_export(&tx, iseq, &fname, &sha)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Loads the kept export `imports/<sha>.csv`, imported as `fname` by journal entry `seq`,
    /// into a scratch store.
    fn load_kept_export(
        &self,
        conn: &rusqlite::Connection,
        seq: i64,
        fname: &str,
        sha: &str,
    ) -> Result<(), EngineError> {
        let kept = self.layout.imports().join(format!("{sha}.csv"));
        let f = File::open(&kept).map_err(io_at(&kept))?;
        let body: Option<String> = self
            .store
            .conn
            .query_row("SELECT body FROM journal WHERE seq=?1", [seq], |r| r.get(0))
            .optional()?;
        let body: serde_json::Value = body
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        let now = &self.cfg.schemas.invoices;
        let schema = self
            .schema_of_then(&body, now)
            .unwrap_or(std::borrow::Cow::Borrowed(now));
        crate::invoices::load(
            conn,
            fname,
            io::BufReader::new(f),
            &schema,
            seq,
            self.max_field(),
        )?
        .map_err(|e| EngineError::Refused(format!("kept export {}: {e}", kept.display())))?;
        Ok(())
    }

    /// For `audit verify --rebuild`: the books rebuilt from the kept evidence alone, every kept
    /// export and every ACKed archive judged again in journal order, each under the policy
    /// journaled with it, in a scratch store (`PAY` and `REV` applied, `REC` judged against
    /// them); then every payment of the store against them ([`journal::payments_against`]),
    /// and each rebuilt response against the one sent (when the partner's key of the time is still configured: a response signed with
    /// another key cannot be reproduced). Returns the problems and how many batches were
    /// judged again.
    fn books_against_evidence(&self) -> Result<(Vec<String>, u64), EngineError> {
        let entries = journal::entries(&self.store.conn)?;
        let mut scratch = Store::scratch()?;
        let tmp = std::env::temp_dir();
        let mut problems = Vec::new();
        let mut judged = 0u64;
        let text = |b: &serde_json::Value, k: &str| {
            b.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        for e in &entries {
            let b = &e.body;
            let changed = if e.kind == "import" {
                self.schema_of_then(b, &self.cfg.schemas.invoices)
                    .err()
                    .map(|c| (format!("the export {} was loaded", text(b, "file_name")), c))
            } else if e.kind == "delivery" && text(b, "result") == "ACK" {
                let inbound = text(b, "inbound_name");
                match self.journaled_name(&inbound, b) {
                    Ok(n) => match self.cfg.schemas.for_type(n.kind) {
                        Some(now) => self.schema_of_then(b, now).err(),
                        // Of a type the schemas in force no longer add: its kept schema, if any.
                        None => self
                            .kept_schema_of(b, n.kind.as_str())
                            .is_none()
                            .then(|| "its type has no schema in force, and none is kept".into()),
                    }
                    .map(|c| (format!("{inbound} was judged"), c)),
                    Err(_) if BatchName::of_some_type(&inbound) => Some((
                        format!("{inbound} was judged"),
                        "its type has no schema in force".to_string(),
                    )),
                    Err(_) => None,
                }
            } else {
                None
            };
            if let Some((what, changed)) = changed {
                // Judged again under another schema, its rows (or invoices) could differ, and
                // every later book with them: nothing past it would be evidence of anything.
                problems.push(format!(
                    "the books were not rebuilt past journal entry {}: {what} under another schema than the one in force ({changed}); with that one configured, the rebuild judges it again",
                    e.seq
                ));
                return Ok((problems, judged));
            }
            if e.kind == "import" {
                let tx = scratch.conn.transaction()?;
                match self.load_kept_export(&tx, e.seq, &text(b, "file_name"), &text(b, "sha256")) {
                    Ok(()) => tx.commit()?,
                    Err(err) if busy_store(&err).is_some() => return Err(err),
                    // A kept export that no longer loads (edited or removed, which the chain's
                    // walk reports too) leaves nothing to rebuild the later books from.
                    Err(err) => {
                        problems.push(format!(
                            "the books were not rebuilt past journal entry {}: {err}",
                            e.seq
                        ));
                        return Ok((problems, judged));
                    }
                }
                continue;
            }
            if e.kind != "delivery" || text(b, "result") != "ACK" {
                continue;
            }
            let Ok(name) = self.journaled_name(&text(b, "inbound_name"), b) else {
                continue; // Its delivery row is checked against the journal.
            };
            let (policy, unkeyed) = self.journaled_policy(e.seq, b, &name)?;
            let sha = text(b, "inbound_sha256");
            let path = self.layout.received().join(format!("{sha}.zip"));
            if !path.is_file() {
                continue; // A kept file missing is reported by the chain's walk.
            }
            judged += 1;
            let schemas = self.schemas_of_then(b, name.kind);
            let tx = scratch.conn.transaction()?;
            let batch = Batch {
                path: &path,
                name: &name,
                sha256: &sha,
                policy: &policy,
                already_acked: false,
                journal_seq: e.seq,
                spool_dir: &tmp,
                schemas: &schemas,
            };
            let sent = text(b, "response_sha256");
            // What is wrong with the batch judged again, and whether its rows apply (an ACK
            // applies them even when its bytes differ, so that later batches see them).
            let (problem, applies) = self.evaluate_in(&tx, batch, false, |ev| {
                let (result, code, message, ..) = summary(&ev);
                if result != "ACK" {
                    return Ok((Some(format!(
                        "{}: journal entry {} answered it ACK; judged again it is {result} {} ({})",
                        text(b, "inbound_name"),
                        e.seq,
                        code.unwrap_or_default(),
                        message.unwrap_or_default()
                    )), false));
                }
                if unkeyed.is_some() {
                    return Ok((None, true));
                }
                let dir = tempdir_in(&tmp)?;
                let kept = keep_response(&dir, &dir, policy.key.as_ref(), ev);
                let _ = fs::remove_dir_all(&dir);
                let (_, resp_sha) = kept?;
                let differs = (resp_sha != sent).then(|| {
                    format!(
                        "{}: judged again, its response differs from the one sent (journal entry {}{}; `reestr replay` shows how)",
                        text(b, "inbound_name"),
                        e.seq,
                        other_version(answered_by(b).as_deref())
                    )
                });
                Ok((differs, true))
            })?;
            problems.extend(problem);
            // A statement (REC) is judged against the books, and changes nothing in them.
            if applies && name.kind.role() != crate::name::Role::Rec {
                tx.commit()?;
            } else {
                tx.rollback()?;
            }
        }
        let last = entries.last().map_or(0, |e| e.seq);
        problems.extend(journal::payments_against(
            &self.store.conn,
            &scratch.conn,
            last,
        )?);
        Ok((problems, judged))
    }

    /// The store's invoices against the ones the kept exports give, loaded again in journal
    /// order into a scratch store ([`journal::invoices_against`]).
    ///
    /// The audit takes no lock: an import may commit while it runs. The exports loaded are the
    /// ones imported when it began.
    fn invoices_against_exports(&self) -> Result<Vec<String>, EngineError> {
        let loaded: i64 = self.store.conn.query_row(
            "SELECT coalesce(max(journal_seq), 0) FROM imports",
            [],
            |r| r.get(0),
        )?;
        if let Some(other) = self.export_under_another_schema(loaded.saturating_add(1))? {
            return Ok(vec![format!(
                "invoices not checked against the kept exports: {other}; with that one configured, the audit loads it again"
            )]);
        }
        let mut scratch = Store::scratch()?;
        if let Err(e) = self.load_kept_exports(&mut scratch, loaded.saturating_add(1)) {
            if busy_store(&e).is_some() {
                return Err(e);
            }
            return Ok(vec![format!(
                "invoices not checked against the kept exports: {e}"
            )]);
        }
        Ok(journal::invoices_against(
            &self.store.conn,
            &scratch.conn,
            loaded,
        )?)
    }

    /// The schema journal entry `body` was judged under, to judge it again: `now`, the one in
    /// force, when the entry names it (or names none: entries from before fingerprints were
    /// journaled), else the kept copy of the one it names (`schemas/<fingerprint>.json`, kept
    /// when it was in force). `Err` says the change ([`schema_changed`]) when no such copy is
    /// kept, or the file does not hold the schema of its name.
    fn schema_of_then<'s>(
        &self,
        body: &serde_json::Value,
        now: &'s crate::schema::Schema,
    ) -> Result<std::borrow::Cow<'s, crate::schema::Schema>, String> {
        let Some(changed) = schema_changed(body, now) else {
            return Ok(std::borrow::Cow::Borrowed(now));
        };
        self.kept_schema_of(body, &now.name)
            .map(std::borrow::Cow::Owned)
            .ok_or(changed)
    }

    /// The kept schema of name `name` whose fingerprint entry `body` journals, when it is kept
    /// and the file holds exactly its canonical text.
    fn kept_schema_of(
        &self,
        body: &serde_json::Value,
        name: &str,
    ) -> Option<crate::schema::Schema> {
        let then = body.get("schema").and_then(serde_json::Value::as_str)?;
        fs::read_to_string(self.layout.kept_schema(then))
            .ok()
            .and_then(|text| {
                crate::schema::Schema::parse(&format!("{name}.json"), &text)
                    .ok()
                    .filter(|s| s.canonical == text)
            })
            .filter(|s| s.fingerprint == then && s.name == name)
    }

    /// The name of a delivery's inbound archive (`body`, journaled), read against the types in
    /// force, or, for a type no schema in force adds any more, against the type it journaled
    /// (`reconciled_as`, its role then).
    fn journaled_name(
        &self,
        inbound: &str,
        body: &serde_json::Value,
    ) -> Result<BatchName, crate::name::NameError> {
        BatchName::parse_with(inbound, self.cfg.schemas.types()).or_else(|e| {
            let code = inbound.split('_').nth(2).unwrap_or_default();
            body.get("reconciled_as")
                .and_then(serde_json::Value::as_str)
                .and_then(crate::name::Role::parse)
                .and_then(|role| crate::name::BatchType::new(code, role))
                .and_then(|t| BatchName::parse_with(inbound, &crate::name::Types::with([t])).ok())
                .ok_or(e)
        })
    }

    /// The schemas in force with, for a batch of type `kind`, the kept schema of its time
    /// ([`Engine::schema_of_then`]) in place of the one in force when that is another one.
    ///
    /// A type no schema in force adds any more is judged under its kept schema, added for the
    /// purpose; without one, the schemas in force are returned, which lack it.
    fn schemas_of_then(
        &self,
        body: &serde_json::Value,
        kind: crate::name::BatchType,
    ) -> std::borrow::Cow<'_, crate::schema::Schemas> {
        let then = match self.cfg.schemas.for_type(kind) {
            Some(now) => match self.schema_of_then(body, now) {
                Ok(std::borrow::Cow::Owned(then)) => Some(then),
                _ => None,
            },
            None => self.kept_schema_of(body, kind.as_str()),
        };
        match then {
            Some(then) => std::borrow::Cow::Owned(self.cfg.schemas.with_schema(kind, then)),
            None => std::borrow::Cow::Borrowed(&self.cfg.schemas),
        }
    }

    /// Fills a scratch store with the state just before journal entry `seq`: the invoice
    /// exports loaded before it, and the payments and reversals applied before it.
    fn rebuild_before(&self, scratch: &mut Store, seq: i64) -> Result<(), EngineError> {
        self.load_kept_exports(scratch, seq)?;
        let db = self.layout.db();
        scratch
            .conn
            .execute("ATTACH DATABASE ?1 AS real", [db.display().to_string()])?;
        scratch.conn.execute_batch(&format!(
            "INSERT INTO main.payments SELECT * FROM real.payments WHERE journal_seq < {seq};
             UPDATE main.payments SET state='PAID', reversed_at=NULL, reverse_reason=NULL, reversed_batch_id=NULL,
               reversed_journal_seq=NULL WHERE reversed_journal_seq >= {seq};
             INSERT INTO main.deliveries SELECT * FROM real.deliveries WHERE journal_seq < {seq};
             DELETE FROM main.balances;
             INSERT INTO main.balances(invoice_no, paid)
               SELECT invoice_no, sum(amount) FROM main.payments WHERE state='PAID' GROUP BY invoice_no;
             {}",
            crate::store::COVER_EVERY_PAYMENT
        ))?;
        scratch.conn.execute("DETACH DATABASE real", [])?;
        Ok(())
    }

    /// Evaluates a batch against books over `conn` (a transaction or savepoint the caller
    /// commits or rolls back) and hands the evaluation to `then`, which runs while the books
    /// write their last changes ([`pipeline::evaluate_then`]); a `live` batch can be cancelled
    /// and reports progress.
    fn evaluate_in<T: Send>(
        &self,
        conn: &rusqlite::Connection,
        b: Batch<'_>,
        live: bool,
        then: impl FnOnce(Evaluation) -> Result<T, EngineError> + Send,
    ) -> Result<T, EngineError> {
        let job = Job {
            path: b.path,
            name: b.name,
            sha256: b.sha256,
            policy: b.policy,
            schemas: b.schemas,
            limits: b.policy.limits.as_ref().unwrap_or(&self.cfg.limits),
            already_acked: b.already_acked,
            spool_dir: b.spool_dir,
            cancel: live.then_some(&*self.cancel),
            progress: if live { self.progress.as_deref() } else { None },
            chunk_rows: self.chunk_rows,
        };
        let mut books = StoreBooks::new(conn, b.name.batch_id(), b.journal_seq)?;
        books.read_all_min_rows = self.read_all_min_rows;
        books.noted_in_memory = self.noted_in_memory;
        pipeline::evaluate_then(&job, &mut books, then)
    }

    /// Evaluates a batch against the current store and rolls everything back: what `check`
    /// does, and `replay` for an archive never received.
    fn evaluate_rolled_back(
        &self,
        path: &Path,
        name: &BatchName,
        sha: &str,
        policy: &pipeline::Policy,
    ) -> Result<Evaluation, EngineError> {
        let tx = self.store.conn.unchecked_transaction()?;
        let already_acked = acked_before(&tx, name, None)?;
        let journal_seq = journal::next_seq(&tx)?;
        let tmp = std::env::temp_dir();
        // What a large batch spills into the store before the rollback leaves the page cache
        // as it does in `run` (`fsutil::write_back_while`): the file is truncated back at the
        // rollback, and its pages' memory serves the next ones meanwhile.
        let ev = fsutil::write_back_while(self.store_file.as_ref(), WRITE_BACK_EVERY, || {
            self.evaluate_in(
                &tx,
                Batch {
                    path,
                    name,
                    sha256: sha,
                    policy,
                    already_acked,
                    journal_seq,
                    spool_dir: &tmp,
                    schemas: &self.cfg.schemas,
                },
                false,
                Ok,
            )
        })?;
        tx.rollback()?;
        Ok(ev)
    }

    /// Verifies the journal chain, every kept file it names, the store against the journal
    /// and the kept invoice exports, and the store file.
    pub fn audit(&self) -> Result<(Vec<String>, i64), EngineError> {
        self.audit_with(false).map(|(problems, n, _)| (problems, n))
    }

    /// [`Engine::audit`], and with `rebuild` the books rebuilt from the kept evidence alone
    /// and compared with the store, payment by payment (`audit verify --rebuild`): then also
    /// how many batches were judged again.
    pub fn audit_with(
        &self,
        rebuild: bool,
    ) -> Result<(Vec<String>, i64, Option<u64>), EngineError> {
        // The audit reads the store in key order, table after table: a small page cache
        // serves it.
        self.store.set_cache_kib(crate::store::SMALL_CACHE_KIB)?;
        let audited = self.audit_with_small_cache(rebuild);
        usual_cache_back(&self.store);
        // A batch being applied holds the store at any step of the audit: the audit says so
        // (exit 3), as it does when the store is busy at its first read; it is no finding.
        audited.map_err(|e| {
            let busy = busy_store(&e)
                .map(|sql| crate::store::first_read_failed(&self.layout.db(), sql).into());
            busy.unwrap_or(e)
        })
    }

    fn audit_with_small_cache(
        &self,
        rebuild: bool,
    ) -> Result<(Vec<String>, i64, Option<u64>), EngineError> {
        // One read transaction: every statement of the audit sees the same committed state. A
        // batch that would commit meanwhile waits for it (a writer waits for readers, up to
        // `store::COMMIT_WAIT`), instead of the audit seeing, say, a delivery whose journal
        // entry it has already walked past. Nothing is written; it is rolled back when dropped.
        // (A caller already inside a transaction on this connection has one state already.)
        let _snapshot = crate::store::one_state(&self.store.conn)?;
        let mut in_hand = self.in_hand();
        let (mut problems, n) = journal::verify(&self.store.conn, &self.layout.root, &mut in_hand)?;
        match self.invoices_against_exports() {
            Ok(found) => problems.extend(found),
            Err(e) if busy_store(&e).is_some() => return Err(e),
            // A store too damaged to read its invoices is still checked below, and said so.
            Err(e) => problems.push(format!(
                "invoices not checked against the kept exports: {e}"
            )),
        }
        let mut judged = None;
        if rebuild {
            let (found, n) = self.books_against_evidence()?;
            problems.extend(found);
            judged = Some(n);
        }
        if !self.store.integrity_ok()? {
            problems.push(format!(
                "{}: SQLite integrity check failed",
                self.layout.db().display()
            ));
        }
        Ok((problems, n, judged))
    }

    /// For the audit: whether a kept file no journal entry names belongs to an archive still in
    /// the inbox ([`journal::verify`]): `received/<sha>.zip` when an inbox file holds those
    /// bytes, `sent/…` when the response answers such a file (`in_reply_to_sha256`), and
    /// `set-aside/<sha>.…` likewise. The inbox is hashed once, when first needed.
    fn in_hand(&self) -> impl FnMut(&str) -> bool + '_ {
        let mut inbox: Option<std::collections::HashSet<String>> = None;
        move |kept: &str| {
            let shas = inbox.get_or_insert_with(|| {
                let Ok(rd) = fs::read_dir(&self.cfg.inbox) else {
                    return std::collections::HashSet::new();
                };
                rd.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| fsutil::sha256_file(&e.path()).ok())
                    .map(|h| hex(&h))
                    .collect()
            });
            let (dir, name) = kept.split_once('/').unwrap_or(("", kept));
            let sha = match dir {
                "received" | "set-aside" => name.split('.').next().map(str::to_string),
                "sent" => {
                    read_response(&self.layout.root.join(kept))
                        .ok()
                        .and_then(|(control, _)| {
                            control
                                .lines()
                                .find_map(|l| l.strip_prefix("in_reply_to_sha256="))
                                .map(str::to_string)
                        })
                }
                _ => None,
            };
            sha.is_some_and(|s| shas.contains(&s))
        }
    }
}

/// Takes the exclusive lock on the data folder `root` (`reestr.lock`), waiting up to `wait`.
fn take_lock(root: &Path, wait: Duration) -> Result<File, EngineError> {
    let path = root.join("reestr.lock");
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(fsutil::FILE_MODE);
    }
    let f = o.open(&path).map_err(io_at(&path))?;
    let start = Instant::now();
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    return Err(EngineError::Locked(path.display().to_string(), wait));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_at(&path)(e)),
        }
    }
}

/// The SQLite error of a store busy with another process's batch, if that is what `e` is.
fn busy_store(e: &EngineError) -> Option<&rusqlite::Error> {
    match e {
        EngineError::Store(StoreError::Sql(sql))
            if sql.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
        {
            Some(sql)
        }
        _ => None,
    }
}

/// Gives the store its usual page cache back after work that ran with a small one. A failure
/// costs speed only, so it is logged, never put in place of the work's own result (an import
/// already committed, say).
fn usual_cache_back(store: &Store) {
    if let Err(e) = store.set_cache_kib(crate::store::CACHE_KIB) {
        tracing::warn!(error = %e, "the store's page cache was not set back to its usual size");
    }
}

/// Writes a response into a folder (not kept): returns its name and SHA-256.
fn write_response_to(
    dir: &Path,
    tmp: &Path,
    key: Option<&crate::integrity::Key>,
    ev: Evaluation,
) -> Result<(String, String), EngineError> {
    let scratch = tempdir_in(tmp)?;
    let (name, sha) = keep_response(&scratch, &scratch, key, ev)?;
    let from = scratch.join(format!("{sha}.zip"));
    let to = dir.join(&name);
    let mut f = File::open(&from).map_err(io_at(&from))?;
    fsutil::write_atomic(&to, &mut f).map_err(io_at(&to))?;
    let _ = fs::remove_dir_all(&scratch);
    Ok((name, sha))
}

fn tempdir_in(base: &Path) -> Result<PathBuf, EngineError> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = base.join(format!(".reestr-{}-{n}", std::process::id()));
    fsutil::create_dir(&p).map_err(io_at(&p))?;
    Ok(p)
}

impl Engine {
    /// The first kept export imported before journal entry `seq` under another export schema
    /// than the one in force, said as `the export F (journal entry N) was loaded under another
    /// schema than the one in force (…)`: the kept exports would not load again as they did.
    fn export_under_another_schema(&self, seq: i64) -> Result<Option<String>, EngineError> {
        Ok(journal::entries(&self.store.conn)?.into_iter().find_map(|e| {
            let changed = (e.kind == "import" && e.seq < seq)
                .then(|| self.schema_of_then(&e.body, &self.cfg.schemas.invoices).err())??;
            Some(format!(
                "the export {} (journal entry {}) was loaded under another schema than the one in force ({changed})",
                e.body
                    .get("file_name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default(),
                e.seq,
            ))
        }))
    }
}

/// Keeps `schema` (`schemas/<fingerprint>.json`, its canonical text) unless it is kept already:
/// done before an answer or an export is journaled under it, which names it.
fn keep_schema(layout: &Layout, schema: &crate::schema::Schema) -> Result<(), EngineError> {
    let p = layout.kept_schema(&schema.fingerprint);
    if !p.is_file() {
        fsutil::write_bytes(&p, schema.canonical.as_bytes()).map_err(io_at(&p))?;
    }
    Ok(())
}

/// The journal's `kept` item naming the kept copy of `schema` (its file holds the canonical
/// text whose SHA-256 is the fingerprint, so the file's SHA-256 is the fingerprint too).
fn kept_schema_entry(schema: &crate::schema::Schema) -> serde_json::Value {
    json!({"path": format!("schemas/{}.json", schema.fingerprint), "sha256": schema.fingerprint})
}

/// When the schema journaled with an entry's `body` is not `now`, the one in force: its file
/// and both fingerprints (`invoices.json: fingerprint 1a2b… then, 3c4d… now`). Entries written
/// before 2026-11-24 14:00 UTC journal none, and are taken as judged under the schema in force.
fn schema_changed(body: &serde_json::Value, now: &crate::schema::Schema) -> Option<String> {
    let then = body
        .get("schema")
        .and_then(serde_json::Value::as_str)
        .filter(|then| *then != now.fingerprint)?;
    let short = |f: &str| f.get(..12).unwrap_or(f).to_string();
    Some(format!(
        "{}.json: fingerprint {}… then, {}… now",
        now.name,
        short(then),
        short(&now.fingerprint)
    ))
}

/// The engine version journaled with an entry's `body`.
fn answered_by(body: &serde_json::Value) -> Option<String> {
    body.get("engine_version")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

/// When `answered_by` is another engine version than this one, says so (for a response that
/// differs when judged again): `docs/CHANGES.md` lists the answers that changed.
pub fn other_version(answered_by: Option<&str>) -> String {
    match answered_by {
        Some(v) if v != crate::VERSION => format!(
            ", answered by engine {v}, judged again by {} (docs/CHANGES.md lists the answers that changed)",
            crate::VERSION
        ),
        _ => String::new(),
    }
}

/// Reads a response archive's `control.txt` and (lossily) `result.csv`.
pub fn read_response(path: &Path) -> io::Result<(String, Option<String>)> {
    let (control, result) = read_response_bytes(path)?;
    let result = result.map(|b| shown_result(&control, &b));
    Ok((control, result))
}

/// `result.csv`'s bytes as text: decoded from the encoding its response's `control.txt` names
/// (UTF-8 when none), lossily where they are cut short.
fn shown_result(control: &str, bytes: &[u8]) -> String {
    let cs = control
        .lines()
        .find_map(|l| l.strip_prefix("encoding="))
        .and_then(crate::charset::Charset::parse)
        .unwrap_or(crate::charset::Charset::Utf8);
    cs.decode(bytes)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// A response's `control.txt` and the bytes of its `result.csv` (`None` for a NAK).
pub fn read_response_bytes(path: &Path) -> io::Result<(String, Option<Vec<u8>>)> {
    let f = File::open(path)?;
    let mut z = zip::ZipArchive::new(io::BufReader::new(f)).map_err(io::Error::other)?;
    let mut read = |n: &str| -> io::Result<Option<Vec<u8>>> {
        match z.by_name(n) {
            Ok(mut e) => {
                let mut b = Vec::new();
                io::Read::read_to_end(&mut e, &mut b)?;
                Ok(Some(b))
            }
            Err(_) => Ok(None),
        }
    };
    let control = read("control.txt")?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let result = read("result.csv")?;
    Ok((control, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_cannot_be_opened_is_named_not_the_folder_it_was_to_be_kept_in() {
        let dir = tempfile::tempdir().unwrap();
        let received = dir.path().join("received");
        fs::create_dir(&received).unwrap();
        let gone = dir
            .path()
            .join("inbox")
            .join("MUNIS_SUDBILLING_PAY_20261121_001.zip");
        match keep(&gone, &received, "zip", "inbox file") {
            Err(EngineError::Io { path, source }) => {
                assert_eq!(path, gone.display().to_string());
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        // A folder that cannot be written is still named as the folder.
        let src = dir.path().join("a.zip");
        fs::write(&src, b"bytes").unwrap();
        let missing = dir.path().join("no-such-folder");
        match keep(&src, &missing, "zip", "inbox file") {
            Err(EngineError::Io { path, .. }) => assert_eq!(path, missing.display().to_string()),
            other => panic!("{other:?}"),
        }
    }
}
