//! The imperative shell: keeping, store transactions, outbox, journal, recovery, around the
//! pure core ([`crate::pipeline`]), for the files the [`crate::inbox`] finds ready.
//!
//! Life of an inbox file (each step durable before the next):
//! 1. its bytes are hashed and kept as `data/received/<sha256>.zip` (or set aside);
//! 2. in one store transaction: the rows are applied (ACK only), the response archive is
//!    kept as `data/sent/<sha256>.zip`, the delivery row (`state = committed`) and the
//!    journal entry are written; commit;
//! 3. the response is copied into the outbox, the inbox file removed, the delivery marked
//!    `done`. A crash between 2 and 3 is finished by [`Engine::recover`] on the next start.
//!
//! Its parts: this module opens the engine over its store and data folder and evaluates a
//! batch against books in a transaction; `deliver` takes inbox files through the steps
//! above (`run`); `import` loads billing exports; `check` judges an archive and changes
//! nothing; `backup` copies the data folder; `replay` and `audit` judge kept evidence again, under what `then` finds
//! it was judged under at the time; `hooks` are the fault points the crash tests use.

mod audit;
mod backup;
mod check;
mod deliver;
mod hooks;
mod import;
mod replay;
mod then;

pub use audit::Rebuilt;
pub use backup::BackupReport;
pub use check::{CheckReport, read_response, read_response_bytes};
pub use deliver::{Handled, RunOutcome, keep_response};
pub use hooks::{fault, injected_failure, pause};
pub use import::ImportReport;
pub use replay::ReplayReport;
pub use then::other_version;

use crate::config::Config;
use crate::fsutil;
use crate::inbox::{InboxError, Look, Scan};
use crate::journal;
use crate::name::BatchName;
use crate::pipeline::{self, Evaluation, Job, PipelineError, Policy};
use crate::reconcile::StoreBooks;
use crate::respond::Verdict;
use crate::store::{Store, StoreError};
use rusqlite::params;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

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

impl From<InboxError> for EngineError {
    fn from(e: InboxError) -> Self {
        Self::Io {
            path: e.path.display().to_string(),
            source: e.source,
        }
    }
}

/// `s`, a SHA-256 read back from the store to name a kept file, when it is one (64 lowercase
/// hex digits); otherwise refused, so that an edited store never names another path.
fn sha_named(s: &str) -> Result<&str, EngineError> {
    fsutil::sha256_name(s).ok_or_else(|| {
        EngineError::Refused(format!(
            "the store names a kept file {:?}, which is not a SHA-256: edited? (`reestr audit verify` says more)",
            crate::respond::one_line(s)
        ))
    })
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
    /// Every folder under `data`: the kept folders and `tmp`.
    pub fn folders(&self) -> [PathBuf; 6] {
        [
            self.received(),
            self.sent(),
            self.set_aside(),
            self.imports(),
            self.schemas(),
            self.tmp(),
        ]
    }
    /// Creates `data` and its folders where missing (mode 0700).
    fn create_folders(&self) -> Result<(), EngineError> {
        for d in std::iter::once(self.root.clone()).chain(self.folders()) {
            fsutil::create_dir(&d).map_err(io_at(&d))?;
        }
        Ok(())
    }
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

/// How often the store file's written pages are sent to disk while a batch is applied
/// ([`fsutil::write_back_while`]).
const WRITE_BACK_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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

fn tempdir_in(base: &Path) -> Result<PathBuf, EngineError> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = base.join(format!(".reestr-{}-{n}", std::process::id()));
    fsutil::create_dir(&p).map_err(io_at(&p))?;
    Ok(p)
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
        layout.create_folders()?;
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

    /// Scans the inbox ([`crate::inbox::scan`]).
    pub fn scan(&self, look: Look<'_>) -> Result<Scan, EngineError> {
        Ok(crate::inbox::scan(&self.cfg, look)?)
    }

    /// The most bytes of a field held in memory, for exports as for registries.
    fn max_field(&self) -> usize {
        usize::try_from(self.cfg.limits.max_field_bytes).unwrap_or(usize::MAX)
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
}
