//! A prepared SQLite statement whose text parameters SQLite reads where they are, instead of
//! copying each one first: the crate's one use of `unsafe`, for the statements that write a
//! batch's payments and balances and an export's invoices.
//!
//! `rusqlite` binds text with `SQLITE_TRANSIENT`, so SQLite allocates and copies every text
//! parameter before the statement runs, and frees the copy at the next binding. For the
//! payments of a large batch (nine texts a row, a million rows) that copying took about a
//! twelfth of the thread that applies the batch. Bound with `SQLITE_STATIC`, SQLite reads the
//! caller's text in place while it builds the row.
//!
//! Why this is sound, in one place:
//! - The statement borrows the [`Connection`] for its whole life, so the database handle it
//!   was prepared on outlives it; it is finalized when dropped. Holding a raw pointer, it is
//!   neither `Send` nor `Sync`, like the connection.
//! - Text is bound only inside [`BorrowingStatement::execute`], which takes the values by
//!   reference for the length of the call and clears every binding before it returns, on every
//!   path. SQLite therefore never holds a pointer to text after its borrow ends.
//! - A `&str` is valid UTF-8 of the length given, which is what `SQLITE_UTF8` promises SQLite.

#![allow(unsafe_code)]

use rusqlite::{Connection, ffi};
use std::ffi::{CStr, CString, c_int};
use std::ptr::NonNull;

/// One parameter's value.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    /// Text, read in place by SQLite during [`BorrowingStatement::execute`].
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// SQL `NULL`.
    Null,
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

/// A statement prepared on a connection, run with borrowed text parameters.
pub struct BorrowingStatement<'c> {
    conn: &'c Connection,
    stmt: NonNull<ffi::sqlite3_stmt>,
}

impl<'c> BorrowingStatement<'c> {
    /// Prepares one SQL statement (`SQLITE_PREPARE_PERSISTENT`: it is meant to run many times).
    pub fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Self> {
        let text = CString::new(sql).map_err(|_| {
            rusqlite::Error::InvalidParameterName("SQL text holds a NUL byte".into())
        })?;
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        // SAFETY: the handle is the open connection's, borrowed for this call; `text` is a
        // NUL-terminated string that lives through the call; `stmt` is a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                conn.handle(),
                text.as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            // SAFETY: `prepare_v3` sets `stmt` to NULL on failure; finalizing NULL is a no-op.
            unsafe { ffi::sqlite3_finalize(stmt) };
            return Err(last_error(conn, rc));
        }
        NonNull::new(stmt)
            .map(|stmt| BorrowingStatement { conn, stmt })
            .ok_or_else(|| {
                rusqlite::Error::InvalidParameterName("SQL text holds no statement".into())
            })
    }

    /// Binds `params` to `?1`, `?2`, … in order, runs the statement once to completion (a
    /// statement that returns rows is refused), and clears the bindings again. The rows it
    /// inserted, changed or deleted.
    pub fn execute(&mut self, params: &[Param<'_>]) -> rusqlite::Result<u64> {
        let st = self.stmt.as_ptr();
        let mut rc = ffi::SQLITE_OK;
        for (i, p) in params.iter().enumerate() {
            let Ok(ix) = c_int::try_from(i.saturating_add(1)) else {
                rc = ffi::SQLITE_RANGE;
                break;
            };
            // SAFETY: `st` is this statement, not finalized. Text is bound `SQLITE_STATIC`:
            // SQLite reads it in place until the binding is cleared, which happens below
            // before `params` (and so the text) can go.
            rc = unsafe {
                match *p {
                    Param::Text(s) => ffi::sqlite3_bind_text64(
                        st,
                        ix,
                        s.as_ptr().cast(),
                        s.len() as ffi::sqlite3_uint64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as _,
                    ),
                    Param::Int(v) => ffi::sqlite3_bind_int64(st, ix, v),
                    Param::Null => ffi::sqlite3_bind_null(st, ix),
                }
            };
            if rc != ffi::SQLITE_OK {
                break;
            }
        }
        if rc == ffi::SQLITE_OK {
            // SAFETY: as above; every bound text is still borrowed.
            rc = match unsafe { ffi::sqlite3_step(st) } {
                ffi::SQLITE_DONE => ffi::SQLITE_OK,
                ffi::SQLITE_ROW => ffi::SQLITE_MISUSE,
                other => other,
            };
        }
        let err = (rc != ffi::SQLITE_OK).then(|| last_error(self.conn, rc));
        let changed = self.conn.changes();
        // SAFETY: `st` is this statement. After these calls SQLite holds no pointer to the
        // text bound above.
        unsafe {
            ffi::sqlite3_reset(st);
            ffi::sqlite3_clear_bindings(st);
        }
        err.map_or(Ok(changed), Err)
    }
}

impl Drop for BorrowingStatement<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared on `self.conn`, which is still open (borrowed),
        // and is finalized exactly once, here.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The connection's last error, for result code `rc`.
fn last_error(conn: &Connection, rc: c_int) -> rusqlite::Error {
    // SAFETY: the handle is the open connection's; the message is a NUL-terminated string
    // owned by SQLite, copied before anything else runs on the connection.
    let (code, message) = unsafe {
        let db = conn.handle();
        let code = if ffi::sqlite3_errcode(db) == rc {
            ffi::sqlite3_extended_errcode(db)
        } else {
            rc
        };
        let msg = ffi::sqlite3_errmsg(db);
        let message = (!msg.is_null() && ffi::sqlite3_errcode(db) == rc)
            .then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
        (code, message)
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT NOT NULL UNIQUE, b INTEGER, c TEXT)")
            .unwrap();
        conn
    }

    #[test]
    fn text_integers_and_nulls_are_stored_as_given() {
        let conn = table();
        let mut st =
            BorrowingStatement::prepare(&conn, "INSERT INTO t(a, b, c) VALUES (?1, ?2, ?3)")
                .unwrap();
        for (a, b, c) in [
            ("один", 1, Some("x")),
            ("", -7, None),
            ("a\u{0}b", i64::MAX, Some("")),
        ] {
            // Each value is a fresh allocation, dropped right after the call.
            let (a, c) = (a.to_string(), c.map(str::to_string));
            let n = st
                .execute(&[Param::Text(&a), Param::Int(b), c.as_deref().into()])
                .unwrap();
            assert_eq!(n, 1);
        }
        drop(st);
        let rows: Vec<(String, i64, Option<String>)> = conn
            .prepare("SELECT a, b, c FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                ("один".into(), 1, Some("x".into())),
                ("".into(), -7, None),
                ("a\u{0}b".into(), i64::MAX, Some("".into())),
            ]
        );
    }

    #[test]
    fn a_failing_row_reports_the_constraint_and_the_statement_stays_usable() {
        let conn = table();
        let mut st =
            BorrowingStatement::prepare(&conn, "INSERT INTO t(a, b) VALUES (?1, ?2)").unwrap();
        st.execute(&[Param::Text("k"), Param::Int(1)]).unwrap();
        let err = st.execute(&[Param::Text("k"), Param::Int(2)]).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        assert!(
            err.to_string().contains("UNIQUE constraint failed: t.a"),
            "{err}"
        );
        assert!(
            st.execute(&[Param::Null, Param::Int(3)]).is_err(),
            "NOT NULL"
        );
        st.execute(&[Param::Text("m"), Param::Int(4)]).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn bindings_are_cleared_after_each_run() {
        let conn = table();
        let mut st =
            BorrowingStatement::prepare(&conn, "INSERT INTO t(a, b, c) VALUES (?1, ?2, ?3)")
                .unwrap();
        st.execute(&[Param::Text("first"), Param::Int(1), Param::Text("kept?")])
            .unwrap();
        // Only the first parameter given: the others were cleared, so they are NULL now.
        st.execute(&[Param::Text("second")]).unwrap();
        let c: Option<String> = conn
            .query_row("SELECT c FROM t WHERE a = 'second'", [], |r| r.get(0))
            .unwrap();
        let b: Option<i64> = conn
            .query_row("SELECT b FROM t WHERE a = 'second'", [], |r| r.get(0))
            .unwrap();
        assert_eq!((b, c), (None, None));
    }

    #[test]
    fn bad_sql_and_statements_returning_rows_are_errors() {
        let conn = table();
        assert!(BorrowingStatement::prepare(&conn, "INSERT INTO nowhere VALUES (1)").is_err());
        assert!(BorrowingStatement::prepare(&conn, "").is_err());
        assert!(BorrowingStatement::prepare(&conn, "SELECT 1\0").is_err());
        let mut st = BorrowingStatement::prepare(&conn, "SELECT ?1").unwrap();
        assert!(st.execute(&[Param::Int(1)]).is_err());
    }
}
