//! `audit verify`: the journal's chain, every kept file, the store against the journal and
//! the kept exports, and with `--rebuild` the books rebuilt from the kept evidence alone.

use super::check::read_response;
use super::deliver::keep_response;
use super::then::{answered_by, other_version};
use super::{Batch, Engine, EngineError, busy_store, summary, tempdir_in, usual_cache_back};
use crate::fsutil::{self, hex};
use crate::journal;
use crate::name::BatchName;
use crate::store::Store;
use std::fs;

/// What `audit verify --rebuild` judged again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// ACKed batches judged again.
    pub judged: u64,
    /// Of them, those whose response was not compared with the one sent: signed with a key of
    /// the partner no longer configured (neither its `key_file` nor one of its
    /// `former_key_files`), so it cannot be reproduced. Their rows are applied all the same.
    pub responses_not_compared: u64,
}

impl Engine {
    /// The journal's last entry, to be copied elsewhere as an anchor ([`journal::Anchor`]).
    pub fn journal_head(&self) -> Result<Option<journal::Anchor>, EngineError> {
        Ok(journal::head(&self.store.conn)?)
    }

    /// What is wrong with the journal against `anchors` copied from it earlier
    /// ([`journal::against_anchors`]); empty when every anchor holds.
    pub fn against_anchors(&self, anchors: &[journal::Anchor]) -> Result<Vec<String>, EngineError> {
        Ok(journal::against_anchors(&self.store.conn, anchors)?)
    }

    /// For `audit verify --rebuild`: the books rebuilt from the kept evidence alone, every kept
    /// export and every ACKed archive judged again in journal order, each under the policy
    /// journaled with it, in a scratch store (`PAY` and `REV` applied, `REC` judged against
    /// them); then every payment of the store against them ([`journal::payments_against`]),
    /// and each rebuilt response against the one sent (when the partner's key of the time is still configured: a response signed with
    /// another key cannot be reproduced). Returns the problems and what was judged again.
    fn books_against_evidence(&self) -> Result<(Vec<String>, Rebuilt), EngineError> {
        let entries = journal::entries(&self.store.conn)?;
        let mut scratch = Store::scratch()?;
        let tmp = std::env::temp_dir();
        let mut problems = Vec::new();
        let mut judged = Rebuilt::default();
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
            let Some(kept_as) = fsutil::sha256_name(&sha) else {
                continue; // Its delivery row is checked against the journal.
            };
            let path = self.layout.received().join(format!("{kept_as}.zip"));
            if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                continue; // A kept file missing is reported by the chain's walk.
            }
            judged.judged = judged.judged.saturating_add(1);
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
            if applies && unkeyed.is_some() {
                judged.responses_not_compared = judged.responses_not_compared.saturating_add(1);
            }
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
        if let (Some(other), _) = self.exports_under_other_schemas(loaded.saturating_add(1))? {
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

    /// Verifies the journal chain, every kept file it names, the store against the journal
    /// and the kept invoice exports, and the store file.
    pub fn audit(&self) -> Result<(Vec<String>, i64), EngineError> {
        self.audit_with(false).map(|(problems, n, _)| (problems, n))
    }

    /// [`Engine::audit`], and with `rebuild` the books rebuilt from the kept evidence alone
    /// and compared with the store, payment by payment (`audit verify --rebuild`): then also
    /// what was judged again.
    pub fn audit_with(
        &self,
        rebuild: bool,
    ) -> Result<(Vec<String>, i64, Option<Rebuilt>), EngineError> {
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
    ) -> Result<(Vec<String>, i64, Option<Rebuilt>), EngineError> {
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
