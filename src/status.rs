//! `reestr status` and `reestr release`: what operators need to see and do.

use crate::engine::{Engine, EngineError, io_at};
use crate::fsutil;
use crate::journal;
use crate::name::BatchName;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A file waiting in the inbox.
#[derive(Debug, Serialize)]
pub struct Waiting {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Whether the next run would take it.
    pub ready: bool,
    /// Why it is there: `ready`, `settling` (still changing, or an unreadable zip within its
    /// grace time), `held` (ready, but an earlier batch in the §7.2 order is still settling),
    /// `bad name` (not of the agreement's form: it will be set aside once settled),
    /// `temporary` (a `*.part` or dot-file name, left alone), `folder`, `link` or `special` (a
    /// FIFO, socket or device; left alone).
    pub state: &'static str,
}

/// A set-aside file.
#[derive(Debug, Serialize)]
pub struct Aside {
    /// Its row id.
    pub id: i64,
    /// The name it arrived under.
    pub original_name: String,
    /// Kept as `set-aside/<kept_as>`.
    pub kept_as: String,
    /// Why.
    pub reason: String,
    /// `done` (set aside) or `released`.
    pub state: String,
}

/// A recent answer.
#[derive(Debug, Serialize)]
pub struct Recent {
    /// Inbound batch id.
    pub batch_id: String,
    /// `ACK`, `NAK`, or `RESENT`.
    pub result: String,
    /// NAK code.
    pub code: Option<String>,
    /// Response file.
    pub response: String,
    /// When (UTC).
    pub recorded_at: String,
}

/// The whole status report.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Inbox files.
    pub waiting: Vec<Waiting>,
    /// Set-aside files not released.
    pub set_aside: Vec<Aside>,
    /// Last answers, newest first.
    pub recent: Vec<Recent>,
    /// Missing sequence numbers: `SENDER/TYPE/YYYYMMDD: 002, 004`.
    pub gaps: Vec<String>,
    /// Business days with an ACKed PAY but no ACKed REC past the due hour.
    pub missing_rec: Vec<String>,
}

/// The sequence numbers below the highest in `seen` that are not in it, as runs: `002, 005-009`
/// (one step per run, so a sequence number of 999999 costs nothing).
fn missing_ranges(seen: &BTreeSet<u32>) -> String {
    let mut out = Vec::new();
    let mut next = 1u32;
    for &k in seen {
        if k > next {
            out.push(if k.saturating_sub(1) == next {
                format!("{next:03}")
            } else {
                format!("{next:03}-{:03}", k.saturating_sub(1))
            });
        }
        next = next.max(k.saturating_add(1));
    }
    out.join(", ")
}

/// Builds the status report as of `now`.
pub fn status(engine: &Engine, now: DateTime<Utc>, recent_n: usize) -> Result<Status, EngineError> {
    let conn = &engine.store.conn;
    let scan = engine.scan(crate::inbox::Look::Once)?;
    let names = |paths: &[std::path::PathBuf]| -> BTreeSet<String> {
        paths
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    };
    let (ready, held) = (names(&scan.ready), names(&scan.held));
    let mut waiting = Vec::new();
    for e in std::fs::read_dir(&engine.cfg.inbox).map_err(io_at(&engine.cfg.inbox))? {
        let e = e.map_err(io_at(&engine.cfg.inbox))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(e.path()).ok();
        let bytes = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let is_ready = ready.contains(&name);
        let state = match meta.map(|m| m.file_type()) {
            Some(t) if t.is_dir() => "folder",
            Some(t) if t.is_symlink() => "link",
            Some(t) if !t.is_file() => "special",
            _ if name.starts_with('.') || name.ends_with(".part") => "temporary",
            _ if BatchName::parse_with(&name, engine.cfg.schemas.types()).is_err() => "bad name",
            _ if is_ready => "ready",
            _ if held.contains(&name) => "held",
            _ => "settling",
        };
        waiting.push(Waiting {
            ready: is_ready,
            name,
            bytes,
            state,
        });
    }
    waiting.sort_by(|a, b| a.name.cmp(&b.name));
    // One read transaction: the set-aside files, the recent answers and the sequence gaps are
    // of one committed state (a batch's commit waits for it, as it waits for any reader).
    let _snapshot = crate::store::one_state(conn)?;
    let mut set_aside = Vec::new();
    {
        let mut st = conn.prepare("SELECT id, original_name, kept_as, reason, state FROM set_aside WHERE state != 'released' ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(Aside {
                id: r.get(0)?,
                original_name: r.get(1)?,
                kept_as: r.get(2)?,
                reason: r.get(3)?,
                state: r.get(4)?,
            })
        })?;
        for r in rows {
            set_aside.push(r?);
        }
    }
    crate::engine::pause("status-read");
    let mut recent = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT d.batch_id, CASE WHEN d.resent_of IS NULL THEN d.result ELSE 'RESENT' END, d.code, d.response_name, j.recorded_at
             FROM deliveries d JOIN journal j ON j.seq = d.journal_seq ORDER BY d.id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([recent_n as i64], |r| {
            Ok(Recent {
                batch_id: r.get(0)?,
                result: r.get(1)?,
                code: r.get(2)?,
                response: r.get(3)?,
                recorded_at: r.get(4)?,
            })
        })?;
        for r in rows {
            recent.push(r?);
        }
    }
    // Sequence gaps per sender/type/day, over every batch id answered.
    let mut seqs: BTreeMap<(String, String, String), BTreeSet<u32>> = BTreeMap::new();
    let mut pay_days: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut rec_days: BTreeSet<NaiveDate> = BTreeSet::new();
    {
        let mut st = conn.prepare("SELECT DISTINCT batch_id, result FROM deliveries")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for r in rows {
            let (id, result) = r?;
            let Ok(n) = BatchName::parse_with(&format!("{id}.zip"), engine.cfg.schemas.types())
            else {
                continue;
            };
            if let Ok(k) = n.seq.parse::<u32>() {
                seqs.entry((n.sender.clone(), n.kind.to_string(), n.date_text.clone()))
                    .or_default()
                    .insert(k);
            }
            if result == "ACK" {
                match n.kind.role() {
                    crate::name::Role::Pay => {
                        pay_days.insert(n.date);
                    }
                    crate::name::Role::Rec => {
                        rec_days.insert(n.date);
                    }
                    crate::name::Role::Rev => {}
                }
            }
        }
    }
    let mut gaps = Vec::new();
    for ((sender, kind, date), set) in &seqs {
        let missing = missing_ranges(set);
        if !missing.is_empty() {
            gaps.push(format!("{sender}/{kind}/{date}: missing {missing}"));
        }
    }
    let tashkent_now = now
        .with_timezone(&crate::validate::tashkent())
        .naive_local();
    let mut missing_rec = Vec::new();
    for d in pay_days.difference(&rec_days) {
        let due = d
            .succ_opt()
            .and_then(|next| next.and_hms_opt(engine.cfg.rec_due_hour, 0, 0));
        if due.is_some_and(|due| tashkent_now >= due) {
            missing_rec.push(format!(
                "{}: PAY batches answered but no REC statement (due {:02}:00 the next day)",
                d, engine.cfg.rec_due_hour
            ));
        }
    }
    Ok(Status {
        waiting,
        set_aside,
        recent,
        gaps,
        missing_rec,
    })
}

/// What `release` did.
#[derive(Debug, Serialize)]
pub struct Released {
    /// Set-aside row released.
    pub id: i64,
    /// The name it was put back under in the inbox.
    pub released_as: String,
}

/// Puts a set-aside file back into the inbox for another try (under its original name or
/// `new_name`), recorded in the journal. `what` is the kept name, its SHA-256 (or a prefix of at
/// least 8 digits), or the original name. The kept copy stays.
pub fn release(
    engine: &mut Engine,
    what: &str,
    new_name: Option<&str>,
) -> Result<Released, EngineError> {
    let what = std::path::Path::new(what)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let row: Option<(i64, String, String, String)> = engine
        .store
        .conn
        .query_row(
            "SELECT id, original_name, kept_as, sha256 FROM set_aside
             WHERE state != 'released' AND (kept_as = ?1 OR original_name = ?1 OR (length(?1) >= 8 AND sha256 LIKE ?1 || '%'))
             ORDER BY id DESC LIMIT 1",
            [&what],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((id, original, kept_as, sha)) = row else {
        return Err(EngineError::Refused(format!(
            "no set-aside file matches {what:?} (see `reestr status`)"
        )));
    };
    let name = new_name.unwrap_or(&original).to_string();
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return Err(EngineError::Refused(format!(
            "{name:?} is not a plain file name"
        )));
    }
    let dest = engine.cfg.inbox.join(&name);
    if dest.exists() {
        return Err(EngineError::Refused(format!(
            "{} already exists in the inbox",
            dest.display()
        )));
    }
    // The store names the kept file: used as a path only when it is `<sha256>.bin`.
    let kept_as = fsutil::sha256_name(&sha)
        .map(|s| format!("{s}.bin"))
        .filter(|k| *k == kept_as)
        .ok_or_else(|| {
            EngineError::Refused(format!(
                "set-aside entry {id} names its kept file {:?}, which is not `<sha256>.bin` of its SHA-256: edited? (`reestr audit verify` says more)",
                crate::respond::one_line(&kept_as)
            ))
        })?;
    let src = engine.layout.set_aside().join(&kept_as);
    let mut f = fsutil::open_regular(&src).map_err(io_at(&src))?;
    fsutil::write_atomic(&dest, &mut f).map_err(io_at(&dest))?;
    let tx = engine.store.conn.transaction()?;
    let body = json!({"set_aside_id": id, "original_name": original, "released_as": name, "sha256": sha,
                      "engine_version": crate::VERSION});
    journal::append(
        &tx,
        "release",
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        &body,
    )?;
    tx.execute(
        "UPDATE set_aside SET state='released' WHERE id=?1",
        params![id],
    )?;
    tx.commit()?;
    tracing::info!(id, released_as = %name, "set-aside file released into the inbox");
    Ok(Released {
        id,
        released_as: name,
    })
}

#[cfg(test)]
mod tests {
    use super::missing_ranges;

    #[test]
    fn missing_sequence_numbers_are_shown_as_runs() {
        let set = |v: &[u32]| v.iter().copied().collect();
        assert_eq!(missing_ranges(&set(&[1, 2, 3])), "");
        assert_eq!(missing_ranges(&set(&[2])), "001");
        assert_eq!(missing_ranges(&set(&[1, 3, 7, 8, 10])), "002, 004-006, 009");
        assert_eq!(missing_ranges(&set(&[0, 1, 4])), "002-003");
        assert_eq!(missing_ranges(&set(&[999_999])), "001-999998");
    }
}
