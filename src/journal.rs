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

/// A journal entry's sequence number and hash, `SEQ:HASH`: copied to another system after a
/// run, it anchors the chain up to that entry (`audit verify --anchor`), which a consistent
/// rewrite of the journal (the chain recomputed) cannot match.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Anchor {
    /// The entry's sequence number.
    pub seq: i64,
    /// Its hash, 64 lowercase hex digits.
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// `SEQ:HASH`, as [`Anchor`]'s `Display` writes it (the hash in either case).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?}: an anchor is SEQ:HASH, a journal entry's number and its SHA-256 hash (64 hex digits)"
            )
        };
        let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(bad)?;
        let hash = hash.to_ascii_lowercase();
        crate::fsutil::sha256_name(&hash).ok_or_else(bad)?;
        Ok(Self { seq, hash })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// The last entry as an [`Anchor`]; `None` for an empty journal.
pub fn head(conn: &Connection) -> Result<Option<Anchor>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(Anchor {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// What is wrong with the journal against anchors copied from it earlier: an anchored entry
/// missing, or holding another hash (the journal rewritten up to it, or the anchor of another
/// data folder). Empty when every anchor holds. The chain itself is [`verify`]'s.
pub fn against_anchors(conn: &Connection, anchors: &[Anchor]) -> Result<Vec<String>, StoreError> {
    let mut st = conn.prepare("SELECT hash FROM journal WHERE seq = ?1")?;
    let mut problems = Vec::new();
    for a in anchors {
        let hash: Option<String> = st.query_row([a.seq], |r| r.get(0)).optional()?;
        match hash {
            Some(h) if h == a.hash => {}
            Some(h) => problems.push(format!(
                "journal entry {} has hash {h}, the anchor {a} another: the journal was rewritten up to that entry, or the anchor is of another data folder",
                a.seq
            )),
            None => problems.push(format!(
                "journal entry {} is not in the journal, though anchored ({a}): entries were removed, or the anchor is of another data folder",
                a.seq
            )),
        }
    }
    Ok(problems)
}

/// The sequence number the next entry will get.
pub fn next_seq(conn: &Connection) -> Result<i64, StoreError> {
    let last: Option<i64> = conn.query_row("SELECT max(seq) FROM journal", [], |r| r.get(0))?;
    after(conn, last.unwrap_or(0))
}

/// The number after entry `seq`'s; refused when `seq` is the last an entry can have (read back
/// from the store, which may have been edited), never wrapped to a negative one.
fn after(conn: &Connection, seq: i64) -> Result<i64, StoreError> {
    seq.checked_add(1).ok_or_else(|| StoreError::Refused {
        path: conn.path().unwrap_or_default().to_string(),
        message: format!(
            "journal entry {seq} is the last number an entry can have: no entry can follow it"
        ),
    })
}

/// Appends an entry within the caller's transaction; returns its sequence number.
pub fn append(conn: &Connection, kind: &str, at: &str, body: &Value) -> Result<i64, StoreError> {
    let (seq, prev_hash) = match head(conn)? {
        Some(last) => (after(conn, last.seq)?, last.hash),
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
///
/// `in_hand(path)` says whether a kept file that no entry names (`received/…`, `sent/…`,
/// `set-aside/…`, relative to `data`) belongs to an archive still in the inbox: kept by a run
/// applying it now, or by one that stopped before answering it (the next run answers it).
///
/// Everything is read in one state of the store ([`crate::store::one_state`], or the caller's
/// transaction): a batch that would commit meanwhile waits for it. So a batch being applied
/// while the kept folders are listed is seen one way or the other: its entry, committed before
/// the walk, or its archive still in the inbox (removed only after its commit).
pub fn verify(
    conn: &Connection,
    data: &Path,
    in_hand: &mut dyn FnMut(&str) -> bool,
) -> Result<(Vec<String>, i64), StoreError> {
    let _snapshot = crate::store::one_state(conn)?;
    let mut problems = Vec::new();
    let mut st = conn.prepare(
        "SELECT seq, recorded_at, kind, body, prev_hash, hash FROM journal ORDER BY seq",
    )?;
    let mut rows = st.query([])?;
    let mut expect_seq = 1;
    let mut last = 0;
    let mut prev = GENESIS.to_string();
    let mut count = 0i64;
    let mut walked = Vec::new();
    while let Some(r) = rows.next()? {
        count = count.saturating_add(1);
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
                // Only a file of a kept folder is read: an edited path is named, not followed.
                let Some(rel) = in_a_kept_folder(p) else {
                    problems.push(format!(
                        "kept file {p:?} (journal entry {seq}): not a file of a kept folder ({}); not read",
                        KEPT_FOLDERS.join(", ")
                    ));
                    continue;
                };
                match crate::fsutil::sha256_file(&data.join(rel)) {
                    Ok(h) if hex::encode(h) == sha => {}
                    Ok(_) => problems.push(format!(
                        "kept file {p} (journal entry {seq}): bytes changed"
                    )),
                    Err(e) => problems.push(format!("kept file {p} (journal entry {seq}): {e}")),
                }
            }
        }
        // Entries come in ascending order of their (distinct) numbers: none follows i64::MAX.
        expect_seq = seq.saturating_add(1);
        last = seq;
        prev = hash;
        walked.push((seq, kind, parsed));
    }
    crate::engine::pause("audit-walked");
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
    drop(rows);
    problems.extend(store_against_journal(conn, data, &walked)?);
    problems.extend(releases_against_journal(conn, &walked)?);
    let mut unnamed = unnamed_kept_files(data, &walked);
    unnamed.retain(|p| !in_hand(p));
    problems.extend(unnamed.into_iter().map(|n| {
        format!(
            "{n}: in a kept folder but named by no journal entry (put there by hand, or kept by a run that stopped before answering an archive then taken out of the inbox)"
        )
    }));
    Ok((problems, count))
}

/// Set-aside files released (`state = 'released'`) against the `release` entries: each
/// released row has its entry, and each entry's row is released.
fn releases_against_journal(
    conn: &Connection,
    entries: &[(i64, String, Value)],
) -> Result<Vec<String>, StoreError> {
    let journaled: std::collections::HashMap<i64, i64> = entries
        .iter()
        .filter(|(_, kind, _)| kind == "release")
        .filter_map(|(seq, _, body)| Some((body.get("set_aside_id")?.as_i64()?, *seq)))
        .collect();
    let mut st = conn.prepare("SELECT id, original_name, state FROM set_aside ORDER BY id")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut problems = Vec::new();
    for row in rows {
        let (id, name, state) = row?;
        match (state == "released", journaled.get(&id)) {
            (true, None) => problems.push(format!(
                "set_aside row {id} ({}): released, but no journal entry records its release",
                shown(Some(&name))
            )),
            (false, Some(seq)) => problems.push(format!(
                "set_aside row {id} ({}): journal entry {seq} records its release, but its state is {}",
                shown(Some(&name)),
                shown(Some(&state))
            )),
            _ => {}
        }
    }
    Ok(problems)
}

/// A row of `deliveries`, `set_aside` or `imports` as the audit compares it with its entry:
/// its id, and `(column, value)` pairs (`None` for NULL).
type Row = (i64, Vec<(&'static str, Option<String>)>);

/// The store's record of each event against the journal's. Every row of `deliveries`,
/// `set_aside` and `imports` must say what its entry says, and every such entry must have its
/// row; the payments an ACK applied (or reversed) must add up to the accepted count and amount
/// of the response kept for it; the balances must be the sums of the payments not reversed.
fn store_against_journal(
    conn: &Connection,
    data: &Path,
    entries: &[(i64, String, Value)],
) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let rows_by_seq = |sql: &str,
                       cols: &[&'static str]|
     -> Result<std::collections::BTreeMap<i64, Vec<Row>>, StoreError> {
        let mut st = conn.prepare(sql)?;
        let mut q = st.query([])?;
        let mut map: std::collections::BTreeMap<i64, Vec<Row>> = std::collections::BTreeMap::new();
        while let Some(r) = q.next()? {
            let mut vals = Vec::new();
            for (i, c) in cols.iter().enumerate() {
                let v: Option<rusqlite::types::Value> = r.get(i.saturating_add(2))?;
                let text = v.and_then(|v| match v {
                    rusqlite::types::Value::Null => None,
                    rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                    rusqlite::types::Value::Real(f) => Some(f.to_string()),
                    rusqlite::types::Value::Text(t) => Some(t),
                    rusqlite::types::Value::Blob(b) => Some(hex::encode(b)),
                });
                vals.push((*c, text));
            }
            map.entry(r.get(1)?).or_default().push((r.get(0)?, vals));
        }
        Ok(map)
    };
    let mut tables = [
        (
            "deliveries",
            rows_by_seq(
                "SELECT id, journal_seq, inbound_name, inbound_sha256, batch_id, result, code, response_name, response_sha256 FROM deliveries",
                &[
                    "inbound_name",
                    "inbound_sha256",
                    "batch_id",
                    "result",
                    "code",
                    "response_name",
                    "response_sha256",
                ],
            )?,
        ),
        (
            "set_aside",
            rows_by_seq(
                "SELECT id, journal_seq, original_name, sha256, reason, 'set-aside/' || kept_as FROM set_aside",
                &["original_name", "sha256", "reason", "kept"],
            )?,
        ),
        (
            "imports",
            rows_by_seq(
                "SELECT id, journal_seq, file_name, sha256, rows, changed FROM imports",
                &["file_name", "sha256", "rows", "changed"],
            )?,
        ),
    ];
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    // Payments by the entry that applied them, and by the entry that reversed them.
    let sums = |sql: &str| -> Result<std::collections::HashMap<i64, (i64, i64)>, StoreError> {
        let mut st = conn.prepare(sql)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let applied = sums(
        "SELECT journal_seq, count(*), coalesce(sum(amount), 0) FROM payments GROUP BY journal_seq",
    )?;
    let reversed = sums(
        "SELECT reversed_journal_seq, count(*), coalesce(sum(amount), 0) FROM payments WHERE reversed_journal_seq IS NOT NULL GROUP BY reversed_journal_seq",
    )?;
    let mut ack_pay = std::collections::HashSet::new();
    let mut ack_rev = std::collections::HashSet::new();
    for (seq, kind, body) in entries {
        let [deliveries, set_aside, imports] = &mut tables;
        let (table, want): (_, Vec<(&str, Option<String>)>) = match kind.as_str() {
            "delivery" | "resend" => {
                let (result, code) = if kind == "resend" {
                    (Some("ACK".to_string()), None)
                } else {
                    (text(body.get("result")), text(body.get("code")))
                };
                (
                    deliveries,
                    vec![
                        ("inbound_name", text(body.get("inbound_name"))),
                        ("inbound_sha256", text(body.get("inbound_sha256"))),
                        ("batch_id", text(body.get("batch_id"))),
                        ("result", result),
                        ("code", code),
                        ("response_name", text(body.get("response_name"))),
                        ("response_sha256", text(body.get("response_sha256"))),
                    ],
                )
            }
            "set_aside" => (
                set_aside,
                vec![
                    ("original_name", text(body.get("original_name"))),
                    ("sha256", text(body.get("sha256"))),
                    ("reason", text(body.get("reason"))),
                    ("kept", text(body.pointer("/kept/0/path"))),
                ],
            ),
            "import" => (
                imports,
                vec![
                    ("file_name", text(body.get("file_name"))),
                    ("sha256", text(body.get("sha256"))),
                    ("rows", text(body.get("rows"))),
                    ("changed", text(body.get("changed"))),
                ],
            ),
            _ => continue,
        };
        let (name, rows) = table;
        match rows.remove(seq).as_deref() {
            Some([(id, have)]) => {
                for ((col, h), (_, w)) in have.iter().zip(&want) {
                    if h != w {
                        problems.push(format!(
                            "{name} row {id} (journal entry {seq}): {col} is {} where the journal has {}",
                            shown(h.as_deref()),
                            shown(w.as_deref())
                        ));
                    }
                }
            }
            None | Some([]) => problems.push(format!(
                "journal entry {seq} ({kind}) has no row in {name} (deleted?)"
            )),
            Some(more) => problems.push(format!(
                "journal entry {seq} ({kind}) has {} rows in {name}",
                more.len()
            )),
        }
        // What the ACK's kept response says was accepted, against the payments.
        let is_ack = kind == "delivery" && text(body.get("result")).as_deref() == Some("ACK");
        // A type a schemas folder adds journals the role its rows had (`reconciled_as`); the
        // agreement's types are their own.
        let batch_type = text(body.get("reconciled_as")).or_else(|| {
            text(body.get("batch_id")).and_then(|b| b.split('_').nth(2).map(str::to_string))
        });
        if !is_ack {
            continue;
        }
        let (found, verb) = match batch_type.as_deref() {
            Some("PAY") => {
                ack_pay.insert(*seq);
                (applied.get(seq), "applied")
            }
            Some("REV") => {
                ack_rev.insert(*seq);
                (reversed.get(seq), "reversed")
            }
            _ => continue,
        };
        let Some((accepted, amount)) = text(body.get("response_sha256"))
            .and_then(|sha| crate::fsutil::sha256_name(&sha).map(|s| format!("{s}.zip")))
            .and_then(|name| accepted_of(&data.join("sent").join(name)))
        else {
            continue; // The kept response's own check reports it.
        };
        let (n, sum) = found.copied().unwrap_or((0, 0));
        if (n, i128::from(sum)) != (accepted, amount) {
            problems.push(format!(
                "journal entry {seq}: the store has {n} payment(s) {verb} for {} totalling {}, its response accepted {accepted} totalling {}",
                text(body.get("batch_id")).unwrap_or_default(),
                crate::amount::format(i128::from(sum)),
                crate::amount::format(amount)
            ));
        }
    }
    for (name, rows) in &tables {
        for (seq, rows) in rows {
            for (id, _) in rows {
                if entries.iter().any(|(s, _, _)| s == seq) {
                    problems.push(format!(
                        "{name} row {id} points at journal entry {seq}, which records another event"
                    ));
                }
            }
        }
    }
    let strays = applied
        .keys()
        .filter(|s| !ack_pay.contains(s))
        .count()
        .saturating_add(reversed.keys().filter(|s| !ack_rev.contains(s)).count());
    if strays > 0 {
        problems.push(format!(
            "payments point at {strays} journal entr(y/ies) that applied or reversed no payments"
        ));
    }
    // A payment is REVERSED exactly when a reversal is recorded on it.
    problems.extend(first_keys(
        conn,
        "SELECT payment_id FROM payments WHERE (state = 'REVERSED') IS NOT (reversed_journal_seq IS NOT NULL AND reversed_at IS NOT NULL AND reversed_batch_id IS NOT NULL) OR state NOT IN ('PAID', 'REVERSED')",
        |keys| format!("payment(s) {keys}: the state is not what the reversal record gives (REVERSED with no reversal recorded, PAID with one, or another state)"),
    )?);
    // Balances: the sum of each invoice's payments not reversed.
    problems.extend(first_keys(
        conn,
        "WITH p AS (SELECT invoice_no, sum(amount) AS paid FROM payments WHERE state = 'PAID' GROUP BY invoice_no)
         SELECT p.invoice_no FROM p LEFT JOIN balances b USING (invoice_no) WHERE b.paid IS NOT p.paid
         UNION ALL
         SELECT b.invoice_no FROM balances b LEFT JOIN p USING (invoice_no) WHERE b.paid <> 0 AND p.invoice_no IS NULL",
        |keys| format!("balances differ from the payments not reversed for invoice(s) {keys}"),
    )?);
    Ok(problems)
}

/// A problem naming the first five keys `sql` (a query of one text column, every row a
/// finding) gives, as `say` words it, followed by `...` when there are more; none if no row.
fn first_keys(
    conn: &Connection,
    sql: &str,
    say: impl Fn(&str) -> String,
) -> Result<Option<String>, StoreError> {
    let mut st = conn.prepare(&format!("{sql} LIMIT 6"))?;
    let mut keys: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Ok(None);
    }
    let more = if keys.len() > 5 { ", ..." } else { "" };
    keys.truncate(5);
    Ok(Some(say(&format!("{}{more}", keys.join(", ")))))
}

/// The folders of the data folder that hold kept files, as the journal names them.
pub const KEPT_FOLDERS: [&str; 5] = ["received", "sent", "set-aside", "imports", "schemas"];

/// `p`, a kept file's path as a journal entry names it, when it is a file of a kept folder
/// (`received/<name>` and the like): only then is it read or copied.
pub fn in_a_kept_folder(p: &str) -> Option<&Path> {
    use std::path::Component;
    let path = Path::new(p);
    let mut parts = path.components();
    let folder_ok = matches!(parts.next(), Some(Component::Normal(d))
        if d.to_str().is_some_and(|d| KEPT_FOLDERS.contains(&d)));
    let name_ok = matches!(parts.next(), Some(Component::Normal(_)));
    (folder_ok && name_ok && parts.next().is_none()).then_some(path)
}

/// The kept files journal entry `seq` of `kind` names (its `body`'s `kept` list; a set-aside
/// file's reason, written beside it, counts as named by its entry), relative to the data
/// folder, each with the SHA-256 the entry gives it, when it gives one.
pub fn kept_by(seq: i64, kind: &str, body: &Value) -> Vec<(String, Option<String>)> {
    let mut kept: Vec<(String, Option<String>)> = body
        .get("kept")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let p = f.get("path").and_then(Value::as_str)?;
            let sha = f.get("sha256").and_then(Value::as_str);
            Some((p.to_string(), sha.map(str::to_string)))
        })
        .collect();
    if kind == "set_aside"
        && let Some(sha) = body.get("sha256").and_then(Value::as_str)
    {
        let reason = format!("set-aside/{sha}.{seq}.reason.json");
        if !kept.iter().any(|(p, _)| *p == reason) {
            kept.push((reason, None));
        }
    }
    kept
}

/// Files in the kept folders that no journal entry names ([`kept_by`]), relative to the data
/// folder, sorted by folder then name.
fn unnamed_kept_files(data: &Path, entries: &[(i64, String, Value)]) -> Vec<String> {
    let named: std::collections::HashSet<String> = entries
        .iter()
        .flat_map(|(seq, kind, body)| kept_by(*seq, kind, body))
        .map(|(p, _)| p)
        .collect();
    let mut unnamed = Vec::new();
    for dir in ["received", "sent", "set-aside", "imports"] {
        let Ok(rd) = std::fs::read_dir(data.join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            // Hidden names are this engine's temporary files (removed by the next run).
            .filter(|n| !n.starts_with('.'))
            .map(|n| format!("{dir}/{n}"))
            .filter(|p| !named.contains(p))
            .collect();
        names.sort();
        unnamed.extend(names);
    }
    // The kept schemas: the engine keeps the schemas in force before anything is judged under
    // them, so one no entry names yet is expected; only a file that is not the canonical text
    // of its fingerprint (`<sha256>.json` of its own bytes) is out of place.
    if let Ok(rd) = std::fs::read_dir(data.join("schemas")) {
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let p = format!("schemas/{n}");
                let kept_as_its_hash = n.strip_suffix(".json").is_some_and(|fp| {
                    crate::fsutil::sha256_file(&e.path()).is_ok_and(|h| hex::encode(h) == fp)
                });
                (!n.starts_with('.') && !named.contains(&p) && !kept_as_its_hash).then_some(p)
            })
            .collect();
        names.sort();
        unnamed.extend(names);
    }
    unnamed
}

/// A value for an audit message: quoted, or NULL.
fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| format!("{v:?}"))
}

/// A stored value as the audit shows it (text as [`shown`] does).
fn shown_value(v: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value as Sql;
    match v {
        Sql::Null => shown(None),
        Sql::Text(t) => shown(Some(t)),
        Sql::Integer(i) => i.to_string(),
        Sql::Real(r) => r.to_string(),
        Sql::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// Differing rows (invoices, payments) the audit names one by one; the rest are counted.
const ROW_PROBLEMS_SHOWN: usize = 20;

/// A row of a table as the audit compares it: its columns' values, the key first.
type Values = Vec<rusqlite::types::Value>;

/// Where a key was found when two tables are walked side by side in key order.
enum Found {
    /// In both, with their values (the store's, then the rebuilt one's).
    Both(Values, Values),
    /// In the store only.
    Ours(Values),
    /// In the rebuilt table only.
    Theirs(Values),
}

/// Walks the rows of `ours` and `theirs` (each ordered by its first column, the key) side by
/// side, handing `each` every key as it is found.
fn walk_keyed(
    mut ours: rusqlite::Rows<'_>,
    mut theirs: rusqlite::Rows<'_>,
    width: usize,
    mut each: impl FnMut(Found),
) -> Result<(), StoreError> {
    let row = |r: Option<&rusqlite::Row<'_>>| -> Result<Option<Values>, StoreError> {
        let Some(r) = r else { return Ok(None) };
        Ok(Some(
            (0..width).map(|i| r.get(i)).collect::<Result<_, _>>()?,
        ))
    };
    let (mut a, mut b) = (row(ours.next()?)?, row(theirs.next()?)?);
    loop {
        let ours_first = match (a.as_deref().and_then(key_of), b.as_deref().and_then(key_of)) {
            (None, None) => return Ok(()),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(x), Some(y)) if x != y => x < y,
            (Some(_), Some(_)) => {
                each(Found::Both(
                    a.take().unwrap_or_default(),
                    b.take().unwrap_or_default(),
                ));
                a = row(ours.next()?)?;
                b = row(theirs.next()?)?;
                continue;
            }
        };
        if ours_first {
            each(Found::Ours(a.take().unwrap_or_default()));
            a = row(ours.next()?)?;
        } else {
            each(Found::Theirs(b.take().unwrap_or_default()));
            b = row(theirs.next()?)?;
        }
    }
}

/// The key (first column) of a row, as text.
fn key_of(v: &[rusqlite::types::Value]) -> Option<String> {
    match v.first()? {
        rusqlite::types::Value::Text(t) => Some(t.clone()),
        other => Some(shown_value(other)),
    }
}

/// How `have` (the store's) differs from `want` (what `source` gives), column by column.
fn differences(
    names: &[&str],
    have: &[rusqlite::types::Value],
    want: &[rusqlite::types::Value],
    source: &str,
) -> Vec<String> {
    names
        .iter()
        .zip(have.iter().zip(want))
        .filter(|(_, (h, w))| h != w)
        .map(|(c, (h, w))| {
            format!(
                "{c} is {} where {source} give {}",
                shown_value(h),
                shown_value(w)
            )
        })
        .collect()
}

/// Collects the audit's findings about rows: the first [`ROW_PROBLEMS_SHOWN`] one by one, then
/// how many more there were.
#[derive(Default)]
struct Findings {
    shown: Vec<String>,
    more: u64,
}

impl Findings {
    fn say(&mut self, line: String) {
        if self.shown.len() < ROW_PROBLEMS_SHOWN {
            self.shown.push(line);
        } else {
            self.more = self.more.saturating_add(1);
        }
    }

    /// Says how a row found by [`walk_keyed`] differs: `noun` names a row (`invoice`), `source`
    /// what the rebuilt rows come from, `ours_only` and `theirs_only` what a row of one side
    /// only is.
    fn compare(
        &mut self,
        f: Found,
        names: &[&str],
        (noun, source): (&str, &str),
        (ours_only, theirs_only): (&str, &str),
    ) {
        let (k, line) = match f {
            Found::Both(have, want) => {
                let changed = differences(names, &have, &want, source);
                if changed.is_empty() {
                    return;
                }
                (key_of(&have), changed.join("; "))
            }
            Found::Ours(have) => (key_of(&have), ours_only.to_string()),
            Found::Theirs(want) => (key_of(&want), theirs_only.to_string()),
        };
        self.say(format!("{noun} {}: {line}", k.unwrap_or_default()));
    }

    fn done(mut self, what: &str) -> Vec<String> {
        if self.more > 0 {
            self.shown.push(format!("{} more {what}", self.more));
        }
        self.shown
    }
}

/// The store's invoices (`store`) against the ones the kept exports give (`rebuilt`: the
/// exports up to journal entry `loaded`, loaded again in journal order): an invoice changed,
/// added or removed other than by `invoices import` is a problem. Both are walked in invoice
/// number order. A store invoice that an import after `loaded` changed (one that committed
/// while the audit ran) is left for the next audit, once that import is found to exist.
pub fn invoices_against(
    store: &Connection,
    rebuilt: &Connection,
    loaded: i64,
) -> Result<Vec<String>, StoreError> {
    use rusqlite::types::Value as Sql;
    let columns = format!("{}, import_seq", crate::invoices::INVOICE_COLUMNS);
    let names: Vec<&str> = columns.split(", ").collect();
    let sql = format!("SELECT {columns} FROM invoices ORDER BY invoice_no");
    let mut ours = store.prepare(&sql)?;
    let mut theirs = rebuilt.prepare(&sql)?;
    // The import that last changed a store invoice, when it came after `loaded`.
    let later = |v: &Values| -> Option<i64> {
        match v.last()? {
            Sql::Integer(seq) if *seq > loaded => Some(*seq),
            _ => None,
        }
    };
    let mut found = Findings::default();
    let mut left: Vec<(String, i64)> = Vec::new();
    walk_keyed(
        ours.query([])?,
        theirs.query([])?,
        names.len(),
        |f| match f {
            Found::Ours(have) | Found::Both(have, _) if later(&have).is_some() => {
                let seq = later(&have).unwrap_or_default();
                left.push((key_of(&have).unwrap_or_default(), seq));
            }
            f => found.compare(
                f,
                &names,
                ("invoice", "the kept exports"),
                (
                    "in the store, in no kept export",
                    "in the kept exports, missing from the store",
                ),
            ),
        },
    )?;
    // Invoices left for a later import: that import must exist.
    let mut st = store.prepare("SELECT 1 FROM imports WHERE journal_seq = ?1")?;
    for (k, seq) in left {
        if !st.exists([seq])? {
            found.say(format!(
                "invoice {k}: import_seq is {seq}, which names no import"
            ));
        }
    }
    Ok(found.done("invoice(s) differ from the kept exports"))
}

/// The payments table's columns, as `audit verify --rebuild` compares them (the key first).
const PAYMENT_COLUMNS: &str = "payment_id, invoice_no, paid_at, amount, payer_type, payer_id, payer_name, currency, bank_mfo, account, purpose, batch_id, line, journal_seq, state, reversed_at, reverse_reason, reversed_batch_id, reversed_journal_seq";

/// The store's payments (`store`) against the ones the kept evidence gives (`rebuilt`: every
/// kept export and every ACKed archive up to journal entry `last`, judged again in journal
/// order): a payment added, removed or changed other than by a batch is a problem, whatever
/// the balances say. Payments a batch after `last` applied or reversed (one that committed
/// while the audit ran) are taken as they were before it.
pub fn payments_against(
    store: &Connection,
    rebuilt: &Connection,
    last: i64,
) -> Result<Vec<String>, StoreError> {
    let names: Vec<&str> = PAYMENT_COLUMNS.split(", ").collect();
    let as_of_last = names
        .iter()
        .map(|c| match *c {
            "state" => "CASE WHEN reversed_journal_seq > ?1 THEN 'PAID' ELSE state END".to_string(),
            "reversed_at" | "reverse_reason" | "reversed_batch_id" | "reversed_journal_seq" => {
                format!("CASE WHEN reversed_journal_seq > ?1 THEN NULL ELSE {c} END")
            }
            c => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut ours = store.prepare(&format!(
        "SELECT {as_of_last} FROM payments WHERE journal_seq <= ?1 ORDER BY payment_id"
    ))?;
    let mut theirs = rebuilt.prepare(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY payment_id"
    ))?;
    let mut found = Findings::default();
    walk_keyed(ours.query([last])?, theirs.query([])?, names.len(), |f| {
        found.compare(
            f,
            &names,
            ("payment", "the kept archives"),
            (
                "in the store, applied by no kept archive",
                "applied by a kept archive, missing from the store",
            ),
        )
    })?;
    Ok(found.done("payment(s) differ from the kept archives"))
}

/// `accepted` and `amount_accepted` (tiyin) of a kept ACK, from its `control.txt`.
fn accepted_of(path: &Path) -> Option<(i64, i128)> {
    let file = crate::fsutil::open_regular(path).ok()?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(zip.by_name("control.txt").ok()?, 64 * 1024),
        &mut text,
    )
    .ok()?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    Some((
        get("accepted")?.parse().ok()?,
        crate::amount::parse_total(get("amount_accepted")?)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::{accepted_of, in_a_kept_folder, kept_by};
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn a_set_aside_entry_names_its_reason_file_once_whether_or_not_its_kept_list_does() {
        let (sha, bin) = (
            "ab".repeat(32),
            format!("set-aside/{}.bin", "ab".repeat(32)),
        );
        let reason = format!("set-aside/{sha}.7.reason.json");
        // Listed in `kept` (as the engine writes it): named once, with its hash.
        let listed = json!({"sha256": sha, "kept": [
            {"path": bin, "sha256": sha},
            {"path": reason, "sha256": "cd".repeat(32)},
        ]});
        assert_eq!(
            kept_by(7, "set_aside", &listed),
            [
                (bin.clone(), Some(sha.clone())),
                (reason.clone(), Some("cd".repeat(32)))
            ]
        );
        // Not listed: the reason written beside the file counts as named, with no hash.
        let unlisted = json!({"sha256": sha, "kept": [{"path": bin, "sha256": sha}]});
        assert_eq!(
            kept_by(7, "set_aside", &unlisted),
            [(bin.clone(), Some(sha.clone())), (reason, None)]
        );
        // Another kind of entry with a `sha256` (an import) names no reason file.
        let import = json!({"sha256": sha, "kept": [{"path": "imports/x.csv", "sha256": sha}]});
        assert_eq!(
            kept_by(7, "import", &import),
            [("imports/x.csv".to_string(), Some(sha))]
        );
    }

    #[test]
    fn a_kept_acks_control_txt_is_read_up_to_64_kib() {
        // The figures an ACK accepted are read from its `control.txt`, whatever comes before
        // them, within its first 64 KiB; past that the response is not read further.
        let dir = tempfile::tempdir().unwrap();
        let kept = |padding: usize| {
            let control = format!(
                "{}accepted=3\namount_accepted=12.34\n",
                "message=x\n".repeat(padding)
            );
            let path = dir.path().join(format!("{padding}.zip"));
            std::fs::write(
                &path,
                crate::sample::zip_entries(&[("control.txt".to_string(), control.into_bytes())]),
            )
            .unwrap();
            accepted_of(&path)
        };
        assert_eq!(kept(0), Some((3, 1234)));
        // 2,000 bytes in: still within the first 64 KiB.
        assert_eq!(kept(200), Some((3, 1234)));
        // 65,540 bytes in: past them.
        assert_eq!(kept(6554), None);
    }

    #[test]
    fn only_files_of_the_kept_folders_are_read_or_copied() {
        for ok in [
            "received/ab.zip",
            "sent/cd.zip",
            "set-aside/ef.bin",
            "imports/01.csv",
            "schemas/9a.json",
        ] {
            assert_eq!(in_a_kept_folder(ok), Some(Path::new(ok)), "{ok}");
        }
        for bad in [
            "",
            "received",
            "received/",
            "/received/ab.zip",
            "../received/ab.zip",
            "received/../reestr.db",
            "received/a/b.zip",
            "tmp/x",
            "reestr.db",
            "./received/ab.zip",
        ] {
            assert_eq!(in_a_kept_folder(bad), None, "{bad}");
        }
    }
}
