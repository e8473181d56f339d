//! Stage 8: the tamper-evident journal, one hash-chained row per event in the store.
//!
//! Entry `n` carries the hash of entry `n-1`; its own hash covers its sequence number, the
//! previous hash, its kind, time and body (canonical JSON with sorted keys). Kept files are
//! named in bodies by path (relative to `data`) with their SHA-256, so `audit verify` can check
//! them too.

use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn entry_hash(seq: i64, prev: &str, kind: &str, at: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{seq}\n{prev}\n{kind}\n{at}\n").as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// The sequence number the next entry will get.
pub fn next_seq(conn: &Connection) -> Result<i64, StoreError> {
    let last: Option<i64> = conn.query_row("SELECT max(seq) FROM journal", [], |r| r.get(0))?;
    Ok(last.unwrap_or(0) + 1)
}

/// Appends an entry within the caller's transaction; returns its sequence number.
pub fn append(conn: &Connection, kind: &str, at: &str, body: &Value) -> Result<i64, StoreError> {
    let prev: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match prev {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let body = body.to_string();
    let hash = entry_hash(seq, &prev_hash, kind, at, &body);
    conn.execute(
        "INSERT INTO journal(seq, recorded_at, kind, body, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6)",
        params![seq, at, kind, body, prev_hash, hash],
    )?;
    Ok(seq)
}

/// One journal entry as stored.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Sequence number.
    pub seq: i64,
    /// When recorded (UTC, RFC 3339).
    pub recorded_at: String,
    /// `delivery`, `resend`, `set_aside`, `import`, `release`.
    pub kind: String,
    /// The body.
    pub body: Value,
}

/// Every entry in order (no verification).
pub fn entries(conn: &Connection) -> Result<Vec<Entry>, StoreError> {
    let mut st = conn.prepare("SELECT seq, recorded_at, kind, body FROM journal ORDER BY seq")?;
    let rows = st.query_map([], |r| {
        let body: String = r.get(3)?;
        Ok(Entry {
            seq: r.get(0)?,
            recorded_at: r.get(1)?,
            kind: r.get(2)?,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Verifies the chain, the kept files it names, and that every table row points at an entry.
/// Returns the problems found (empty when all is well) and the number of entries.
pub fn verify(conn: &Connection, data: &Path) -> Result<(Vec<String>, i64), StoreError> {
    let mut problems = Vec::new();
    let mut st = conn.prepare(
        "SELECT seq, recorded_at, kind, body, prev_hash, hash FROM journal ORDER BY seq",
    )?;
    let mut rows = st.query([])?;
    let mut expect_seq = 1;
    let mut prev = GENESIS.to_string();
    let mut count = 0;
    while let Some(r) = rows.next()? {
        count += 1;
        let (seq, at, kind, body, prev_hash, hash): (i64, String, String, String, String, String) = (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        );
        if seq != expect_seq {
            problems.push(format!(
                "journal entry {expect_seq} is missing (next found is {seq})"
            ));
        }
        if prev_hash != prev {
            problems.push(format!("journal entry {seq}: previous-hash link is broken (entry missing, edited or reordered)"));
        }
        if entry_hash(seq, &prev_hash, &kind, &at, &body) != hash {
            problems.push(format!(
                "journal entry {seq}: content does not match its hash (edited)"
            ));
        }
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if let Some(files) = parsed.get("kept").and_then(Value::as_array) {
            for f in files {
                let (Some(p), Some(sha)) = (
                    f.get("path").and_then(Value::as_str),
                    f.get("sha256").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let path = data.join(p);
                match crate::fsutil::sha256_file(&path) {
                    Ok(h) if hex::encode(h) == sha => {}
                    Ok(_) => problems.push(format!(
                        "kept file {p} (journal entry {seq}): bytes changed"
                    )),
                    Err(e) => problems.push(format!("kept file {p} (journal entry {seq}): {e}")),
                }
            }
        }
        expect_seq = seq + 1;
        prev = hash;
    }
    let last = expect_seq - 1;
    for table in ["deliveries", "set_aside", "imports"] {
        let n: i64 = conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE journal_seq > ?1 OR journal_seq NOT IN (SELECT seq FROM journal)"),
            [last],
            |r| r.get(0),
        )?;
        if n > 0 {
            problems.push(format!(
                "{n} row(s) of {table} point at journal entries that are missing"
            ));
        }
    }
    Ok((problems, count))
}
