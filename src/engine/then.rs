//! What a journaled entry was judged under: its policy and key, its name's type, its kept
//! schemas (`schemas/<fingerprint>.json`), and the books before it, rebuilt from kept
//! evidence. [`super::replay`] and [`super::audit`] judge again under these.

use super::{Engine, EngineError, Layout, io_at};
use crate::fsutil;
use crate::journal;
use crate::name::BatchName;
use crate::pipeline::{self, Policy};
use crate::store::Store;
use rusqlite::OptionalExtension;
use serde_json::json;
use std::io;

/// Keeps `schema` (`schemas/<fingerprint>.json`, its canonical text) unless it is kept already:
/// done before an answer or an export is journaled under it, which names it.
pub(super) fn keep_schema(
    layout: &Layout,
    schema: &crate::schema::Schema,
) -> Result<(), EngineError> {
    let p = layout.kept_schema(&schema.fingerprint);
    if !p.is_file() {
        fsutil::write_bytes(&p, schema.canonical.as_bytes()).map_err(io_at(&p))?;
    }
    Ok(())
}

/// The journal's `kept` item naming the kept copy of `schema` (its file holds the canonical
/// text whose SHA-256 is the fingerprint, so the file's SHA-256 is the fingerprint too).
pub(super) fn kept_schema_entry(schema: &crate::schema::Schema) -> serde_json::Value {
    json!({"path": format!("schemas/{}.json", schema.fingerprint), "sha256": schema.fingerprint})
}

/// When the schema journaled with an entry's `body` is not `now`, the one in force: its file
/// and both fingerprints (`invoices.json: fingerprint 1a2b… then, 3c4d… now`). Entries written
/// before 2026-11-24 14:00 UTC journal none, and are taken as judged under the schema in force.
pub(super) fn schema_changed(
    body: &serde_json::Value,
    now: &crate::schema::Schema,
) -> Option<String> {
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
pub(super) fn answered_by(body: &serde_json::Value) -> Option<String> {
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

impl Engine {
    /// The policy journaled with delivery entry `seq` (its `body`), with the partner's key when
    /// the key used then is still configured, as its key or a former one; otherwise without a
    /// key, and the fingerprint of the key that was used.
    pub(super) fn journaled_policy(
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
        match self.cfg.key_with_fingerprint(&name.sender, &fp) {
            Some(k) => {
                policy.key = Some(k.clone());
                Ok((policy, None))
            }
            None => Ok((policy, Some(fp))),
        }
    }

    /// Loads into a scratch store, in journal order, the kept invoice exports imported before
    /// journal entry `seq`: the invoices as `invoices import` left them then.
    pub(super) fn load_kept_exports(
        &self,
        scratch: &mut Store,
        seq: i64,
    ) -> Result<(), EngineError> {
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
    pub(super) fn load_kept_export(
        &self,
        conn: &rusqlite::Connection,
        seq: i64,
        fname: &str,
        sha: &str,
    ) -> Result<(), EngineError> {
        let kept = self
            .layout
            .imports()
            .join(format!("{}.csv", super::sha_named(sha)?));
        let f = fsutil::open_regular(&kept).map_err(io_at(&kept))?;
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

    /// The schema journal entry `body` was judged under, to judge it again: `now`, the one in
    /// force, when the entry names it (or names none: entries from before fingerprints were
    /// journaled), else the kept copy of the one it names (`schemas/<fingerprint>.json`, kept
    /// when it was in force). `Err` says the change ([`schema_changed`]) when no such copy is
    /// kept, or the file does not hold the schema of its name.
    pub(super) fn schema_of_then<'s>(
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
    pub(super) fn kept_schema_of(
        &self,
        body: &serde_json::Value,
        name: &str,
    ) -> Option<crate::schema::Schema> {
        let then = body
            .get("schema")
            .and_then(serde_json::Value::as_str)
            .and_then(fsutil::sha256_name)?;
        fsutil::open_regular(&self.layout.kept_schema(then))
            .and_then(io::read_to_string)
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
    pub(super) fn journaled_name(
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
    pub(super) fn schemas_of_then(
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
    pub(super) fn rebuild_before(&self, scratch: &mut Store, seq: i64) -> Result<(), EngineError> {
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

    /// The kept exports imported before journal entry `seq` under another export schema than
    /// the one in force, in one walk of the journal: the first whose schema of then is not kept,
    /// said as `the export F (journal entry N) was loaded under another schema than the one in
    /// force (…)` (the kept exports would not load again as they did); and those a rebuild loads
    /// again under the kept copy of theirs (the books before the batch as they were), each said
    /// as `the export F (journal entry N) (…)`.
    pub(super) fn exports_under_other_schemas(
        &self,
        seq: i64,
    ) -> Result<(Option<String>, Vec<String>), EngineError> {
        let now = &self.cfg.schemas.invoices;
        let mut unkept = None;
        let mut kept = Vec::new();
        for e in journal::entries(&self.store.conn)? {
            if e.kind != "import" || e.seq >= seq {
                continue;
            }
            let Some(changed) = schema_changed(&e.body, now) else {
                continue;
            };
            let file = e
                .body
                .get("file_name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            if self.schema_of_then(&e.body, now).is_ok() {
                kept.push(format!(
                    "the export {file} (journal entry {}) ({changed})",
                    e.seq
                ));
            } else if unkept.is_none() {
                unkept = Some(format!(
                    "the export {file} (journal entry {}) was loaded under another schema than the one in force ({changed})",
                    e.seq
                ));
            }
        }
        Ok((unkept, kept))
    }
}
