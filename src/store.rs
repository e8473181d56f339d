//! The shell's store: SQLite through `rusqlite`, one file `reestr.db` under `data`.
//!
//! Tables (for auditors, `sqlite3 var/reestr.db`):
//! - `meta(key, value)`: `schema_version`, `engine_version` that created the store.
//! - `invoices`: the billing export as last loaded (only imports change it).
//! - `balances`: for every invoice a batch has paid, the tiyin paid and not reversed (only
//!   batches change it; an invoice without a row has paid nothing). The view `invoices_paid`
//!   joins the two.
//! - `payments`: every applied payment, with the batch and journal entry that applied it and,
//!   once reversed, the reversing batch and journal entry.
//! - `deliveries`: every archive answered (ACK, NAK or re-sent ACK), with hashes of the inbound
//!   and response archives and the journal entry; `state` is `committed` until the response is
//!   in the outbox and the inbox file is gone, then `done`.
//! - `set_aside`: files set aside with their reason.
//! - `imports`: invoice exports loaded.
//! - `journal`: the hash-chained journal (see [`crate::journal`]).
//!
//! Amounts are integers in tiyin; datetimes are text `YYYY-MM-DD HH:MM:SS`.

use crate::bind::{BorrowingStatement, Param};
use crate::validate::Text;
use chrono::{NaiveDate, NaiveDateTime};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the table layout; a store from a newer engine is refused, one from an older
/// engine is brought up to date when opened (layout 1 kept `paid` in `invoices`).
pub const SCHEMA_VERSION: i64 = 3;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The store is from a newer engine or is not a reestr store.
    #[error("store {path}: {message}")]
    Refused {
        /// The database file.
        path: String,
        /// Why it is refused.
        message: String,
    },
}

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invoices (
  invoice_no TEXT PRIMARY KEY, court_code TEXT NOT NULL, case_no TEXT NOT NULL,
  payer_type TEXT NOT NULL, payer_id TEXT NOT NULL, payer_name TEXT NOT NULL,
  amount_due INTEGER NOT NULL, issued_at TEXT NOT NULL, status TEXT NOT NULL,
  import_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balances (invoice_no TEXT PRIMARY KEY, paid INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS payments (
  payment_id TEXT NOT NULL UNIQUE, invoice_no TEXT NOT NULL, paid_at TEXT NOT NULL,
  amount INTEGER NOT NULL, payer_type TEXT NOT NULL, payer_id TEXT NOT NULL,
  payer_name TEXT NOT NULL, currency TEXT NOT NULL, bank_mfo TEXT NOT NULL,
  account TEXT, purpose TEXT, batch_id TEXT NOT NULL, line INTEGER NOT NULL,
  journal_seq INTEGER NOT NULL, state TEXT NOT NULL,
  reversed_at TEXT, reverse_reason TEXT, reversed_batch_id TEXT, reversed_journal_seq INTEGER
);
CREATE TABLE IF NOT EXISTS payment_days (
  day TEXT NOT NULL, first_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL,
  PRIMARY KEY (day, first_rowid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY, journal_seq INTEGER NOT NULL, inbound_name TEXT NOT NULL,
  inbound_sha256 TEXT NOT NULL, batch_id TEXT NOT NULL, result TEXT NOT NULL, code TEXT,
  response_name TEXT NOT NULL, response_sha256 TEXT NOT NULL, resent_of INTEGER,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_sha ON deliveries(inbound_sha256);
CREATE INDEX IF NOT EXISTS deliveries_batch ON deliveries(batch_id);
CREATE TABLE IF NOT EXISTS set_aside (
  id INTEGER PRIMARY KEY, journal_seq INTEGER NOT NULL, original_name TEXT NOT NULL,
  sha256 TEXT NOT NULL, kept_as TEXT NOT NULL, reason TEXT NOT NULL, state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
  id INTEGER PRIMARY KEY, journal_seq INTEGER NOT NULL, file_name TEXT NOT NULL,
  sha256 TEXT NOT NULL, rows INTEGER NOT NULL, changed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
";

/// Covers every payment with a range of rows of its day (one per day and batch): how a store
/// of layout 2, or a scratch copy of payments, gets its `payment_days`.
pub const COVER_EVERY_PAYMENT: &str = "INSERT INTO main.payment_days(day, first_rowid, last_rowid)
  SELECT substr(paid_at, 1, 10), min(rowid), max(rowid) FROM main.payments
  GROUP BY substr(paid_at, 1, 10), journal_seq
  ON CONFLICT(day, first_rowid) DO UPDATE SET last_rowid = max(last_rowid, excluded.last_rowid);";

/// Why the first read of a store failed: busy with a batch being applied (after waiting), or
/// not readable at all.
pub fn first_read_failed(path: &Path, e: &rusqlite::Error) -> StoreError {
    let message = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
        format!(
            "is busy: a batch is being applied (waited {} s); try again when it is done",
            BUSY_WAIT.as_secs()
        )
    } else {
        format!("cannot be read ({e}); it was left untouched")
    };
    StoreError::Refused {
        path: path.display().to_string(),
        message,
    }
}

/// An invoice whose paid amount would leave `i64`: a batch adds to the balances and payments
/// read back from the store, and only a store edited by hand holds them that far apart.
pub fn paid_out_of_range(conn: &Connection, invoice_no: &str) -> StoreError {
    StoreError::Refused {
        path: conn.path().unwrap_or_default().to_string(),
        message: format!(
            "invoice {invoice_no}: its paid amount leaves the range of a 64-bit integer (its balance or payments edited?)"
        ),
    }
}

/// An invoice as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// `P` or `J`.
    pub payer_type: String,
    /// PINFL or TIN.
    pub payer_id: String,
    /// Amount due, tiyin.
    pub amount_due: i64,
    /// `OPEN` or `CANCELLED`.
    pub cancelled: bool,
    /// Paid and not reversed, tiyin.
    pub paid: i64,
}

/// A payment as the reconciler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The invoice paid.
    pub invoice_no: String,
    /// When paid (Tashkent time).
    pub paid_at: NaiveDateTime,
    /// Amount, tiyin.
    pub amount: i64,
    /// Whether reversed.
    pub reversed: bool,
    /// Journal entry of the batch that applied it.
    pub journal_seq: i64,
    /// Data row of that batch's registry that carried it (1-based, as `result.csv`'s `line`).
    pub line: u64,
}

/// The open store.
pub struct Store {
    /// The connection (public for the shell's queries).
    pub conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store file; refuses a newer or foreign store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let refused = |m: String| StoreError::Refused {
            path: path.display().to_string(),
            message: m,
        };
        let existed = path.exists();
        if !existed {
            // Created empty with mode 0600; SQLite gives its journal the same mode.
            crate::fsutil::create_new(path)
                .map_err(|e| refused(format!("cannot be created: {e}")))?;
        }
        let conn = Connection::open(path)?;
        let is_store = |c: &Connection| -> Result<Option<String>, rusqlite::Error> {
            let has_meta: bool = c
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name='meta'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)?;
            if !has_meta {
                return Ok(None);
            }
            c.query_row(
                "SELECT value FROM meta WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
        };
        conn.busy_timeout(BUSY_WAIT)?;
        let version = is_store(&conn).map_err(|e| first_read_failed(path, &e))?;
        if existed {
            let tables: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            match &version {
                None if tables > 0 => {
                    return Err(refused(
                        "is not a reestr store; it was left untouched".into(),
                    ));
                }
                Some(v) if v.parse::<i64>().unwrap_or(i64::MAX) > SCHEMA_VERSION => {
                    return Err(refused(format!(
                        "was written by a newer engine (layout {v}, this engine knows {SCHEMA_VERSION}); it was left untouched"
                    )));
                }
                _ => {}
            }
        }
        // A rollback journal, not WAL: a batch mostly appends pages (payments), which a rollback
        // journal writes once and WAL twice (log, then checkpoint) — a quarter of `run`'s time
        // at a million rows (bench/RESULTS.md). `EXTRA` syncs the folder when the journal is
        // deleted, so a commit survives power loss. Readers (`status`) wait for a batch that
        // has started writing pages; `busy_timeout` bounds the wait.
        conn.execute_batch(
            "PRAGMA journal_mode=DELETE; PRAGMA synchronous=EXTRA; PRAGMA foreign_keys=ON;",
        )?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        let mut s = Self { conn };
        s.init_tables()?;
        // From here on this connection writes: it waits for readers as long as they read.
        s.conn.busy_handler(Some(wait_for_readers))?;
        Ok(s)
    }

    /// Opens an existing store of the current layout for reading only (`status`, `audit
    /// verify`): it writes nothing, so it works on a read-only copy or under an account that
    /// may only read.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let refused = |m: String| StoreError::Refused {
            path: path.display().to_string(),
            message: m,
        };
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_WAIT)?;
        conn.pragma_update(None, "query_only", true)?;
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| first_read_failed(path, &e))?;
        match version
            .as_deref()
            .map(|v| v.parse::<i64>().unwrap_or(i64::MAX))
        {
            Some(SCHEMA_VERSION) => {}
            Some(v) if v > SCHEMA_VERSION => {
                return Err(refused(format!(
                    "was written by a newer engine (layout {v}, this engine knows {SCHEMA_VERSION}); it was left untouched"
                )));
            }
            Some(v) => {
                return Err(refused(format!(
                    "has the older layout {v}; `reestr run` (or any command that writes) brings it up to date first"
                )));
            }
            None => return Err(refused("is not a reestr store".into())),
        }
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        Ok(Self { conn })
    }

    /// A scratch store: SQLite's private temporary database (opened under an empty name), in
    /// which `replay` and `audit verify` rebuild the books. Its page cache is bounded
    /// ([`SMALL_CACHE_KIB`]: the exports are loaded, and the books compared, in key order), so
    /// their memory does not grow with the books: what does not fit spills to a file. It never
    /// syncs, and keeps its rollback journal in memory (what a transaction changes of pages that
    /// were there before it; new pages need none).
    ///
    /// The file, made only once the cache spills, is in the first writable folder of
    /// `SQLITE_TMPDIR`, `TMPDIR`, `/var/tmp`, `/usr/tmp`, `/tmp`. On Linux SQLite creates it
    /// with `O_TMPFILE`: it never has a name. Where that is not supported, it is created under
    /// a random name, new (`O_EXCL`, `O_NOFOLLOW`) and readable by its owner only (0600), and
    /// unlinked as soon as it is open. Either way no other process can open it by name, and
    /// nothing is left behind when the command ends, even by a crash or a kill.
    pub fn scratch() -> Result<Self, StoreError> {
        let conn = Connection::open("")?;
        conn.execute_batch("PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;")?;
        conn.pragma_update(None, "cache_size", -SMALL_CACHE_KIB)?;
        let store = Self { conn };
        store.init_tables()?;
        Ok(store)
    }

    /// A scratch store in memory (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let s = Self {
            conn: Connection::open_in_memory()?,
        };
        s.init_tables()?;
        Ok(s)
    }

    fn init_tables(&self) -> Result<(), StoreError> {
        // Takes effect only when the file is new (an existing store keeps its page size):
        // 16 KiB pages write a large batch with a quarter of the page writes (bench/RESULTS.md).
        self.conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        // A new page size rebuilds the page cache with as many pages as the old size gave (a
        // cache of 16 MiB in 4 KiB pages became 64 MiB in 16 KiB pages): the cache's size,
        // set in KiB before, is set again.
        let kib: i64 = self.conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
        self.conn.pragma_update(None, "cache_size", kib)?;
        self.conn.execute_batch(DDL)?;
        self.conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?1), ('engine_version', ?2)",
            params![SCHEMA_VERSION.to_string(), crate::VERSION],
        )?;
        self.upgrade()?;
        // After the upgrade: the view names columns of the current layout.
        self.conn.execute_batch(
            "CREATE VIEW IF NOT EXISTS invoices_paid AS
               SELECT i.*, coalesce(b.paid, 0) AS paid FROM invoices i LEFT JOIN balances b USING (invoice_no);",
        )?;
        Ok(())
    }

    /// Brings a store of an older layout up to date, in one transaction.
    fn upgrade(&self) -> Result<(), StoreError> {
        let version = |c: &Connection| -> Result<String, rusqlite::Error> {
            c.query_row(
                "SELECT value FROM meta WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
        };
        if version(&self.conn)? == SCHEMA_VERSION.to_string() {
            return Ok(());
        }
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        // Checked again under the write lock: another process may have upgraded meanwhile.
        if version(&tx)? == "1" {
            tx.execute_batch(
                "INSERT INTO balances(invoice_no, paid) SELECT invoice_no, paid FROM invoices WHERE paid <> 0;
                 ALTER TABLE invoices DROP COLUMN paid;
                 UPDATE meta SET value='2' WHERE key='schema_version';",
            )?;
            tracing::info!("store upgraded from layout 1 to 2 (balances moved out of invoices)");
        }
        if version(&tx)? == "2" {
            tx.execute_batch(&format!(
                "DELETE FROM payment_days;
                 {COVER_EVERY_PAYMENT}
                 DROP INDEX IF EXISTS payments_day;
                 UPDATE meta SET value='3' WHERE key='schema_version';"
            ))?;
            tracing::info!(
                "store upgraded from layout 2 to 3 (payments found by day through ranges of rows)"
            );
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets the connection's page cache, KiB ([`CACHE_KIB`] as opened).
    pub fn set_cache_kib(&self, kib: i64) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "cache_size", kib.saturating_neg())?;
        Ok(())
    }

    /// Runs a full integrity check of the SQLite file.
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let r: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        Ok(r == "ok")
    }
}

/// The ledger view the reconciler works against: reads and applies within the caller's
/// transaction or savepoint.
pub struct Ledger<'t> {
    tx: &'t Connection,
}

fn dt(s: &str) -> NaiveDateTime {
    crate::schema::parse_datetime(s).unwrap_or_default()
}

/// Text of a datetime as stored.
pub fn dt_text(d: &NaiveDateTime) -> String {
    let mut out = String::with_capacity(19);
    push_dt_text(&mut out, d);
    out
}

/// Appends the text of a datetime as stored ([`dt_text`]) to `out`.
fn push_dt_text(out: &mut String, d: &NaiveDateTime) {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let year = d.year();
    if !(0..=9999).contains(&year) {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            year,
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        );
        return;
    }
    // Digits by hand: this runs once per stored payment.
    // In range: a digit (0 to 9) after b'0'.
    #[allow(clippy::arithmetic_side_effects)]
    let mut two = |v: u32, sep: Option<char>| {
        out.push(char::from(b'0' + (v / 10 % 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
        if let Some(c) = sep {
            out.push(c);
        }
    };
    let y = year.unsigned_abs();
    two(y / 100, None);
    two(y % 100, Some('-'));
    two(d.month(), Some('-'));
    two(d.day(), Some(' '));
    two(d.hour(), Some(':'));
    two(d.minute(), Some(':'));
    two(d.second(), None);
}

/// Sets an invoice's paid amount with the balances upsert of [`Ledger::set_paid_all`].
fn upsert_paid(
    up: &mut rusqlite::Statement<'_>,
    invoice_no: &str,
    paid: i64,
) -> Result<(), StoreError> {
    up.raw_bind_parameter(1, invoice_no)?;
    up.raw_bind_parameter(2, paid)?;
    up.raw_execute()?;
    Ok(())
}

/// Payments whose text is brought into the CPU cache together before they are bound
/// ([`Ledger::insert_payments`], `touch_text`).
const TOUCH_ROWS: usize = 16;

/// Reads the first and last byte of every text of these payments, so that their cache misses
/// overlap instead of each stalling a bind in turn (the text was written by the reading
/// thread, on the other core). Changes nothing.
fn touch_text(payments: &[PaymentRecord]) {
    let mut seen = 0u8;
    for p in payments {
        let texts = [
            &p.payment_id,
            &p.invoice_no,
            &p.payer_type,
            &p.payer_id,
            &p.payer_name,
            &p.currency,
            &p.bank_mfo,
        ];
        let optional = [&p.account, &p.purpose].into_iter().flatten();
        for t in texts.into_iter().chain(optional) {
            let b = t.as_bytes();
            seen ^= b.first().copied().unwrap_or(0) ^ b.last().copied().unwrap_or(0);
        }
    }
    std::hint::black_box(seen);
}

/// Writes a copy of the store `db` into the new file `to`: SQLite's `VACUUM INTO`, one read
/// transaction, so the copy holds one committed state (compacted, of the same layout and page
/// size), and `db` is not written. A batch that would commit meanwhile waits for it, as for
/// `audit verify` ([`COMMIT_WAIT`]). `to` must not exist or be empty; its bytes are not synced
/// here.
pub fn snapshot_into(db: &Path, to: &Path) -> Result<(), StoreError> {
    let refused = |m: &str| StoreError::Refused {
        path: to.display().to_string(),
        message: m.to_string(),
    };
    let target = to
        .to_str()
        .ok_or_else(|| refused("the path is not UTF-8, which SQLite needs for a copy"))?;
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags)?;
    conn.busy_timeout(BUSY_WAIT)?;
    match conn.execute("VACUUM INTO ?1", [target]) {
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            Err(first_read_failed(db, &e))
        }
        Err(e) => Err(refused(&format!(
            "the copy of {} could not be written ({e})",
            db.display()
        ))),
    }
}

/// How long a reader (`status`) waits for a batch that holds the store's write lock.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a writing connection (a batch's commit, an import) waits for other processes that
/// read the store (`audit verify`, `status`, `sqlite3`): with a rollback journal the commit
/// needs the store to itself, and one statement of `audit verify` reads every invoice, which
/// takes many seconds on a large store. A reader delays a batch; it does not undo it.
pub const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Pause between two tries of a lock by a writing connection ([`wait_for_readers`]).
const COMMIT_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// The busy handler of a writing connection: `tries` is how often the lock was refused so
/// far. Waits [`COMMIT_RETRY`] and tries again, up to [`COMMIT_WAIT`] in all; says once,
/// after 5 s, what it waits for.
fn wait_for_readers(tries: i32) -> bool {
    let retry_ms = COMMIT_RETRY.as_millis().max(1);
    let tries = u128::try_from(tries).unwrap_or(0);
    if tries.saturating_mul(retry_ms) == 5_000 {
        tracing::warn!(
            up_to_s = COMMIT_WAIT.as_secs(),
            "another process is reading the store (audit verify, status, sqlite3?): waiting for it to finish"
        );
    }
    if tries.saturating_mul(retry_ms) >= COMMIT_WAIT.as_millis() {
        return false;
    }
    std::thread::sleep(COMMIT_RETRY);
    true
}

/// New balance rows inserted by one statement ([`Ledger::set_paid_all`]).
pub const NEW_BALANCES_PER_STATEMENT: usize = 128;

/// A read transaction on `conn`, so that every statement until it is dropped sees one
/// committed state (a batch's commit waits for it, as for any reader); nothing is written, and
/// it is rolled back when dropped. `None` when the connection is in a transaction already,
/// which is one state by itself.
pub fn one_state(conn: &Connection) -> rusqlite::Result<Option<rusqlite::Transaction<'_>>> {
    if conn.is_autocommit() {
        conn.unchecked_transaction().map(Some)
    } else {
        Ok(None)
    }
}

/// Page size of a new store, bytes.
pub const PAGE_SIZE: i64 = 16 * 1024;

/// SQLite page cache of the store, KiB, unless a batch holds every invoice in memory (issue 5:
/// 96 MiB measured best at a million rows read one by one).
pub const CACHE_KIB: i64 = 96 * 1024;
/// The page cache while a batch holds every invoice in memory, KiB (issue 5: at 1M rows the
/// commit took 35 ms instead of 80 ms, and peak RSS fell by 80 MiB, against 96 MiB; at 10M
/// the same as 32 MiB).
pub const SMALL_CACHE_KIB: i64 = 16 * 1024;

impl<'t> Ledger<'t> {
    /// Sets the page cache size (KiB) of the connection.
    pub fn set_cache_kib(&self, kib: i64) -> Result<(), StoreError> {
        self.tx
            .pragma_update(None, "cache_size", kib.saturating_neg())?;
        Ok(())
    }

    /// The connection (transaction or savepoint) the ledger works in.
    pub fn conn(&self) -> &'t Connection {
        self.tx
    }

    /// A ledger over an open transaction.
    pub fn new(tx: &'t Connection) -> Self {
        Self { tx }
    }

    /// The invoice with this number.
    pub fn invoice(&self, no: &str) -> Result<Option<Invoice>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached("SELECT payer_type, payer_id, amount_due, status, paid FROM invoices_paid WHERE invoice_no=?1")?;
        Ok(st
            .query_row([no], |r| {
                Ok(Invoice {
                    payer_type: r.get(0)?,
                    payer_id: r.get(1)?,
                    amount_due: r.get(2)?,
                    cancelled: r.get::<_, String>(3)? == "CANCELLED",
                    paid: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// The payment with this id.
    pub fn payment(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT invoice_no, paid_at, amount, state, journal_seq, line FROM payments WHERE payment_id=?1",
        )?;
        Ok(st
            .query_row([id], |r| {
                Ok(Payment {
                    invoice_no: r.get(0)?,
                    paid_at: dt(&r.get::<_, String>(1)?),
                    amount: r.get(2)?,
                    reversed: r.get::<_, String>(3)? == "REVERSED",
                    journal_seq: r.get(4)?,
                    line: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                })
            })
            .optional()?)
    }

    /// The batch that applied the payment with this id.
    pub fn applied_by(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached("SELECT batch_id FROM payments WHERE payment_id=?1")?;
        Ok(st.query_row([id], |r| r.get(0)).optional()?)
    }

    /// Of these sorted ids, the ones present as payments, found by one range scan when the
    /// range holds few other payments (`None` when a range scan would not pay off).
    pub fn payments_in_range(
        &self,
        sorted_ids: &[String],
    ) -> Result<Option<Vec<String>>, StoreError> {
        let (Some(lo), Some(hi)) = (sorted_ids.first(), sorted_ids.last()) else {
            return Ok(Some(Vec::new()));
        };
        let cap = sorted_ids.len().saturating_mul(2).saturating_add(1);
        let mut st = self
            .tx
            .prepare_cached("SELECT payment_id FROM payments WHERE payment_id >= ?1 AND payment_id <= ?2 ORDER BY payment_id LIMIT ?3")?;
        let rows = st.query_map(params![lo, hi, cap as i64], |r| r.get::<_, String>(0))?;
        let found: Vec<String> = rows.collect::<Result<_, _>>()?;
        if found.len() >= cap {
            return Ok(None);
        }
        Ok(Some(
            found
                .into_iter()
                .filter(|id| sorted_ids.binary_search(id).is_ok())
                .collect(),
        ))
    }

    /// Inserts payments (state `PAID`), in the order given.
    pub fn insert_payments(
        &self,
        payments: &[PaymentRecord],
        batch_id: &str,
        journal_seq: i64,
    ) -> Result<(), StoreError> {
        if payments.is_empty() {
            return Ok(());
        }
        // Text is bound in place, not copied first ([`crate::bind`]): the payments of a large
        // batch are most of what the thread applying it does.
        let mut st = BorrowingStatement::prepare(
            self.tx,
            "INSERT INTO payments(payment_id, invoice_no, paid_at, amount, payer_type, payer_id, payer_name,
               currency, bank_mfo, account, purpose, batch_id, line, journal_seq, state)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,'PAID')",
        )?;
        // The rows of each day among these payments, as (day, first rowid, last rowid): a
        // day's payments are found through these ranges instead of an index entry per row.
        let mut days: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
        let mut paid_at = String::with_capacity(19);
        // Each window of rows has its text touched just before its rows are bound.
        let rows = payments.chunks(TOUCH_ROWS).flat_map(|w| {
            touch_text(w);
            w
        });
        for p in rows {
            paid_at.clear();
            push_dt_text(&mut paid_at, &p.paid_at);
            st.execute(&[
                Param::Text(&p.payment_id),
                Param::Text(&p.invoice_no),
                Param::Text(&paid_at),
                Param::Int(p.amount),
                Param::Text(&p.payer_type),
                Param::Text(&p.payer_id),
                Param::Text(&p.payer_name),
                Param::Text(&p.currency),
                Param::Text(&p.bank_mfo),
                p.account.as_deref().into(),
                p.purpose.as_deref().into(),
                Param::Text(batch_id),
                Param::Int(i64::try_from(p.line).unwrap_or(i64::MAX)),
                Param::Int(journal_seq),
            ])?;
            let rowid = self.tx.last_insert_rowid();
            days.entry(p.paid_at.date())
                .and_modify(|(first, last)| {
                    *first = (*first).min(rowid);
                    *last = (*last).max(rowid);
                })
                .or_insert((rowid, rowid));
        }
        let mut range = self.tx.prepare_cached(
            "INSERT INTO payment_days(day, first_rowid, last_rowid) VALUES (?1, ?2, ?3)
               ON CONFLICT(day, first_rowid) DO UPDATE SET last_rowid = max(last_rowid, excluded.last_rowid)",
        )?;
        for (day, (first, last)) in days {
            range.execute(params![day.format("%Y-%m-%d").to_string(), first, last])?;
        }
        Ok(())
    }

    /// Adds `delta` tiyin to an invoice's paid amount.
    pub fn add_paid(&self, invoice_no: &str, delta: i64) -> Result<(), StoreError> {
        let mut up = self.tx.prepare_cached(
            "INSERT INTO balances(invoice_no, paid) VALUES (?1, ?2)
                 ON CONFLICT(invoice_no) DO UPDATE SET paid = paid + excluded.paid
               RETURNING typeof(paid) = 'integer'",
        )?;
        // SQLite makes a sum that leaves i64 a real number, silently.
        if !up.query_row(params![invoice_no, delta], |r| r.get::<_, bool>(0))? {
            return Err(paid_out_of_range(self.tx, invoice_no));
        }
        Ok(())
    }

    /// Sets invoices' paid amounts (fastest in invoice number order), each with whether the
    /// invoice has a balance row already.
    ///
    /// An invoice with a row gets a one-row upsert: a statement of several such rows would
    /// need a statement journal (SQLite copies every page it changes to a temporary file first,
    /// in case it fails halfway): 640 MB of copies for a million balances. New rows go
    /// [`NEW_BALANCES_PER_STATEMENT`] to an `INSERT OR IGNORE`, which cannot fail halfway and so
    /// needs no statement journal, at less than half the cost of an upsert a row. A statement
    /// that inserted fewer rows than it was given met rows that exist after all: its rows are
    /// written again by upserts, so the amounts are right whatever the flag said.
    pub fn set_paid_all<S: AsRef<str>>(
        &self,
        paid: impl IntoIterator<Item = (S, i64, bool)>,
    ) -> Result<(), StoreError> {
        let mut up = self.tx.prepare_cached(
            "INSERT INTO balances(invoice_no, paid) VALUES (?1, ?2)
               ON CONFLICT(invoice_no) DO UPDATE SET paid = excluded.paid",
        )?;
        let values = vec!["(?,?)"; NEW_BALANCES_PER_STATEMENT].join(",");
        let mut many = BorrowingStatement::prepare(
            self.tx,
            &format!("INSERT OR IGNORE INTO balances(invoice_no, paid) VALUES {values}"),
        )?;
        let mut new: Vec<(S, i64)> = Vec::with_capacity(NEW_BALANCES_PER_STATEMENT);
        for (invoice_no, paid, stored) in paid {
            if stored {
                upsert_paid(&mut up, invoice_no.as_ref(), paid)?;
                continue;
            }
            new.push((invoice_no, paid));
            if new.len() < NEW_BALANCES_PER_STATEMENT {
                continue;
            }
            let params: Vec<Param<'_>> = new
                .iter()
                .flat_map(|(no, paid)| [Param::Text(no.as_ref()), Param::Int(*paid)])
                .collect();
            let inserted = many.execute(&params)?;
            if usize::try_from(inserted).ok() != Some(new.len()) {
                // Rows there after all: the statement's rows are written again, one by one.
                for (no, paid) in &new {
                    upsert_paid(&mut up, no.as_ref(), *paid)?;
                }
            }
            new.clear();
        }
        // Fewer than a statement's worth left: one by one.
        for (no, paid) in new {
            upsert_paid(&mut up, no.as_ref(), paid)?;
        }
        Ok(())
    }

    /// Marks a payment reversed.
    pub fn mark_reversed(
        &self,
        payment_id: &str,
        reversed_at: &NaiveDateTime,
        reason: &str,
        batch_id: &str,
        journal_seq: i64,
    ) -> Result<(), StoreError> {
        let mut st = self.tx.prepare_cached(
            "UPDATE payments SET state='REVERSED', reversed_at=?2, reverse_reason=?3, reversed_batch_id=?4,
               reversed_journal_seq=?5 WHERE payment_id=?1",
        )?;
        st.execute(params![
            payment_id,
            dt_text(reversed_at),
            reason,
            batch_id,
            journal_seq
        ])?;
        Ok(())
    }

    /// Ids of the payments with `paid_at` on this date, in ascending byte order.
    pub fn payments_on(&self, date: NaiveDate) -> Result<Vec<String>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT DISTINCT p.payment_id FROM payment_days d
               JOIN payments p ON p.rowid BETWEEN d.first_rowid AND d.last_rowid
             WHERE d.day = ?1 AND substr(p.paid_at, 1, 10) = ?1 ORDER BY p.payment_id",
        )?;
        let rows = st.query_map([date.format("%Y-%m-%d").to_string()], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Starts a batch: forgets the payment ids noted for the previous one.
    pub fn begin_batch(&self) -> Result<(), StoreError> {
        self.tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS batch_lines (payment_id TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
             DELETE FROM temp.batch_lines;",
        )?;
        Ok(())
    }

    /// Notes that data row `line` of the batch carried this payment id (the first such row
    /// is kept).
    pub fn note_line(&self, id: &str, line: u64) -> Result<(), StoreError> {
        let mut st = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO temp.batch_lines(payment_id, line) VALUES (?1, ?2)",
        )?;
        st.execute(params![id, i64::try_from(line).unwrap_or(i64::MAX)])?;
        Ok(())
    }

    /// The first data row of the batch noted with this payment id.
    pub fn noted(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached("SELECT line FROM temp.batch_lines WHERE payment_id=?1")?;
        let line = st.query_row([id], |r| r.get::<_, i64>(0)).optional()?;
        Ok(line.map(|l| u64::try_from(l).unwrap_or(0)))
    }

    /// Ids of the payments with `paid_at` on this date that no line of the batch noted, in
    /// ascending byte order.
    pub fn unlisted_on(&self, date: NaiveDate) -> Result<Vec<String>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT DISTINCT p.payment_id FROM payment_days d
               JOIN payments p ON p.rowid BETWEEN d.first_rowid AND d.last_rowid
             WHERE d.day = ?1 AND substr(p.paid_at, 1, 10) = ?1
               AND p.payment_id NOT IN (SELECT payment_id FROM temp.batch_lines)
             ORDER BY p.payment_id",
        )?;
        let rows = st.query_map([date.format("%Y-%m-%d").to_string()], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// A payment to insert: the fields of a PAY row the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// `payment_id`
    pub payment_id: Text,
    /// `paid_at`
    pub paid_at: NaiveDateTime,
    /// `invoice_no`
    pub invoice_no: Text,
    /// `payer_type`
    pub payer_type: Text,
    /// `payer_id`
    pub payer_id: Text,
    /// `payer_name`
    pub payer_name: Text,
    /// `amount`, tiyin
    pub amount: i64,
    /// `currency`
    pub currency: Text,
    /// `bank_mfo`
    pub bank_mfo: Text,
    /// `account`, if given
    pub account: Option<Text>,
    /// `purpose`, if given
    pub purpose: Option<Text>,
    /// Data row number in the batch.
    pub line: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_store_reads_writes_nothing_and_wants_the_current_layout() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("reestr.db");
        drop(Store::open(&path).expect("store"));
        let ro = Store::open_read_only(&path).expect("read-only");
        let v: String = ro
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key='schema_version'",
                [],
                |r| r.get(0),
            )
            .expect("read");
        assert_eq!(v, SCHEMA_VERSION.to_string());
        assert!(
            ro.conn.execute("DELETE FROM meta", []).is_err(),
            "writes refused"
        );
        drop(ro);
        let rw = Store::open(&path).expect("store");
        rw.conn
            .execute("UPDATE meta SET value='2' WHERE key='schema_version'", [])
            .expect("older");
        drop(rw);
        let e = Store::open_read_only(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("older layout 2"), "{e}");
    }

    #[test]
    fn balances_are_set_whatever_the_stored_flags_say() {
        // 300 invoices, in number order: new rows go 128 to a statement, rows already there
        // one by one. Two rows exist although flagged new (their statement falls back to
        // upserts), one is flagged as stored; the last 44 are fewer than a statement.
        let store = Store::in_memory().expect("store");
        let tx = store.conn.unchecked_transaction().expect("tx");
        let ledger = Ledger::new(&tx);
        let no = |i: usize| format!("{i:020}");
        for i in [10, 150, 200] {
            tx.execute(
                "INSERT INTO balances(invoice_no, paid) VALUES (?1, -1)",
                [no(i)],
            )
            .expect("row");
        }
        let want: Vec<(String, i64, bool)> = (0..300)
            .map(|i| (no(i), 1000 + i as i64, i == 200))
            .collect();
        ledger
            .set_paid_all(want.iter().map(|(n, p, s)| (n.as_str(), *p, *s)))
            .expect("set");
        let mut st = tx
            .prepare("SELECT invoice_no, paid FROM balances ORDER BY invoice_no")
            .expect("query");
        let got: Vec<(String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("read");
        let want: Vec<(String, i64)> = want.into_iter().map(|(n, p, _)| (n, p)).collect();
        assert_eq!(got, want);
    }

    /// Set in the child process of [`a_scratch_store_spills_to_a_file_no_one_can_open`]: the
    /// folder it takes for its temporary files.
    const SCRATCH_PROBE: &str = "REESTR_TEST_SCRATCH_PROBE";

    /// What a scratch store outgrows its cache into: a file in the temporary folder that has no
    /// name (`O_TMPFILE`) or is unlinked while open, so no process can open it by name and a
    /// killed process leaves nothing.
    /// The test binary runs itself as the process that fills a scratch store, then kills it.
    #[test]
    fn a_scratch_store_spills_to_a_file_no_one_can_open() -> Result<(), Box<dyn std::error::Error>>
    {
        use std::io::{BufRead, Write};
        if let Some(dir) = std::env::var_os(SCRATCH_PROBE) {
            // The child: fill a scratch store past its cache, say where its pages went, wait.
            let dir = std::path::PathBuf::from(dir);
            let store = Store::scratch()?;
            store.conn.execute_batch(
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50000)
                 INSERT INTO meta(key, value) SELECT 'k' || i, hex(randomblob(500)) FROM c;",
            )?;
            let mut spilled = Vec::new();
            for fd in std::fs::read_dir("/proc/self/fd")? {
                let fd = fd?.path();
                let Ok(target) = std::fs::read_link(&fd) else {
                    continue;
                };
                if target.starts_with(&dir) {
                    // The descriptor reaches the file, which has no name.
                    let size = std::fs::metadata(&fd)?.len();
                    spilled.push(format!("{} {size}", target.display()));
                }
            }
            let left: Vec<_> = std::fs::read_dir(&dir)?.collect();
            let mut out = std::io::stdout().lock();
            writeln!(out, "files by name in the folder: {}", left.len())?;
            for s in spilled {
                writeln!(out, "open: {s}")?;
            }
            writeln!(out, "done")?;
            out.flush()?;
            drop(out);
            std::thread::sleep(std::time::Duration::from_secs(60));
            std::process::exit(0);
        }
        let dir = tempfile::tempdir()?;
        let mut child = crate::this_test_alone(
            "store::tests::a_scratch_store_spills_to_a_file_no_one_can_open",
        )?
        .env(SCRATCH_PROBE, dir.path())
        .env("SQLITE_TMPDIR", dir.path())
        .env("TMPDIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
        let mut report = Vec::new();
        if let Some(out) = child.stdout.take() {
            for line in std::io::BufReader::new(out).lines() {
                let line = line?;
                let done = line == "done";
                report.push(line);
                if done {
                    break;
                }
            }
        }
        child.kill()?;
        child.wait()?;
        let report = report.join("\n");
        assert!(
            report.contains("files by name in the folder: 0\n"),
            "{report}"
        );
        // One open file, with no name, holding the pages that did not fit the cache (the store
        // holds about 50 MiB; its cache is 16 MiB).
        let open: Vec<&str> = report.lines().filter(|l| l.starts_with("open: ")).collect();
        assert_eq!(open.len(), 1, "{report}");
        let size: u64 = open
            .first()
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(open.iter().all(|l| l.contains(" (deleted) ")), "{report}");
        assert!(size > 32 << 20, "{report}");
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            0,
            "nothing left after the kill"
        );
        Ok(())
    }

    #[test]
    fn datetimes_are_stored_as_fixed_width_text() {
        let d = |s: &str| crate::schema::parse_datetime(s).expect("datetime");
        for s in [
            "2026-11-21 00:00:00",
            "2026-01-09 23:59:59",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59",
            "2000-02-29 12:34:56",
        ] {
            assert_eq!(dt_text(&d(s)), s);
        }
        let far = chrono::NaiveDate::from_ymd_opt(10000, 1, 1)
            .and_then(|x| x.and_hms_opt(1, 2, 3))
            .expect("date");
        assert_eq!(dt_text(&far), "10000-01-01 01:02:03");
    }
}
