//! `run`: each inbox file taken through the steps of [`super`]'s life of an inbox file
//! (kept, judged and applied in one transaction, answered into the outbox, removed), or set
//! aside; and [`Engine::recover`], which finishes what a crash interrupted.

use super::hooks::{fault, injected_failure, pause};
use super::then::{keep_schema, kept_schema_entry};
use super::{
    Batch, Engine, EngineError, WRITE_BACK_EVERY, acked_before, io_at, now_text, summary,
    tempdir_in,
};
use crate::fsutil::{self, hex};
use crate::journal;
use crate::name::BatchName;
use crate::pipeline::{Evaluation, PipelineError};
use crate::respond;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

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

/// Keeps a copy of `path` in `dir` under its SHA-256 (`<hex>.<ext>`, read once,
/// [`fsutil::keep_by_hash`]); a file kept there earlier under that name is hashed again before
/// it is trusted. The hash (hex), the kept file, and the source's stamp if it vouches for the
/// bytes ([`fsutil::Kept::source`]).
pub(super) fn keep(
    path: &Path,
    dir: &Path,
    ext: &str,
    what: &str,
) -> Result<(String, PathBuf, Option<fsutil::Stamp>), EngineError> {
    // Opened first, so that a source that cannot be read is named, not the folder.
    let from = fsutil::open_regular(path).map_err(io_at(path))?;
    trusted(
        fsutil::keep_open_by_hash(from, dir, ext).map_err(io_at(dir))?,
        path,
        what,
    )
}

/// A kept copy of `path`, its hash in hex, its path and the source's stamp, once a copy that
/// was already there (not made now) is found to hold the same bytes.
pub(super) fn trusted(
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

/// Writes a response into a folder (not kept): returns its name and SHA-256.
pub(super) fn write_response_to(
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

impl Engine {
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
        let files = match crate::inbox::ready_to_run(&self.cfg, &self.cancel) {
            Ok(Some(scan)) => {
                out.left = names(&scan.pending);
                out.held = names(&scan.held);
                scan.ready
            }
            Ok(None) => {
                out.error = Some(EngineError::Pipeline(PipelineError::Cancelled));
                return out;
            }
            Err(e) => {
                out.error = Some(e.into());
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
        let mut n = 0usize;
        for dir in std::iter::once(self.cfg.outbox.clone()).chain(self.layout.folders()) {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = name.starts_with('.') && name.ends_with(".tmp");
                if ours && e.file_type().is_ok_and(|t| t.is_file()) {
                    fsutil::remove_durable(&e.path()).map_err(io_at(&e.path()))?;
                    n = n.saturating_add(1);
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
            crate::inbox::remove_if_same(&self.cfg.inbox, &name, &sha, None)?;
            self.store
                .conn
                .execute("UPDATE set_aside SET state='done' WHERE id=?1", [id])?;
        }
        Ok(finished)
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
        let kept = self
            .layout
            .sent()
            .join(format!("{}.zip", super::sha_named(resp_sha)?));
        // The store names the response: a plain file name of a response, nothing else.
        let plain = Path::new(response)
            .file_name()
            .is_some_and(|n| n == response)
            && !response.starts_with('.')
            && (response.ends_with("_ACK.zip") || response.ends_with("_NAK.zip"));
        if !plain {
            return Err(EngineError::Refused(format!(
                "the store names a response {:?}, which is not a response's file name: edited? (`reestr audit verify` says more)",
                respond::one_line(response)
            )));
        }
        let dest = self.cfg.outbox.join(response);
        // Sent only as kept: a regular file holding the bytes of its SHA-256.
        let mut f = fsutil::open_regular(&kept).map_err(io_at(&kept))?;
        let have = fsutil::HashingReader::new(&f)
            .finish()
            .map_err(io_at(&kept))?;
        if hex(&have) != resp_sha {
            return Err(EngineError::Refused(format!(
                "kept response {} does not hold the bytes of its SHA-256; not sent (`reestr audit verify` says more)",
                kept.display()
            )));
        }
        io::Seek::rewind(&mut f).map_err(io_at(&kept))?;
        injected_failure("outbox-write").map_err(io_at(&dest))?;
        fsutil::write_atomic(&dest, &mut f).map_err(io_at(&dest))?;
        fault("outbox-written");
        crate::inbox::remove_if_same(&self.cfg.inbox, inbound, sha, claimed)?;
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
        let raw_name = crate::inbox::name_bytes_if_not_utf8(path);
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
        crate::inbox::remove_if_same(&self.cfg.inbox, fname, sha, claimed)?;
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
