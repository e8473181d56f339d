//! `replay`: a batch judged again against the books as they were just before it, under the
//! policy and schema of its time, and its response compared with the one sent.

use super::deliver::write_response_to;
use super::then::{answered_by, schema_changed};
use super::{Batch, Engine, EngineError, acked_before, io_at, summary};
use crate::fsutil::{self, hex};
use crate::name::BatchName;
use crate::store::Store;
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::fs;
use std::path::Path;

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
    /// The invoice exports loaded before it under another export schema than the one in force,
    /// which the books before it were rebuilt with under the kept copies of their schemas: each
    /// export and journal entry, with the schema's file and both fingerprints.
    pub exports_under_kept_schemas: Vec<String>,
}

impl Engine {
    /// Re-runs a batch against the store as it was just before the batch was first processed
    /// (or, for an archive never received, against the current store) and writes the response
    /// into `out`. Changes nothing in the real store.
    pub fn replay(&mut self, path: &Path, out: &Path) -> Result<ReplayReport, EngineError> {
        let sha = hex(&fsutil::sha256_given(path).map_err(io_at(path))?);
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
                exports_under_kept_schemas: Vec::new(),
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
                "the key of {} used for this batch (fingerprint {}) is no longer configured; the signed response cannot be reproduced (list that key's file in former_key_files of [partners.{}] to reproduce it)",
                name.sender,
                fp.chars().take(16).collect::<String>(),
                name.sender
            )));
        }
        let (unkept, exports_under_kept_schemas) = self.exports_under_other_schemas(seq)?;
        if let Some(other) = unkept {
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
            exports_under_kept_schemas,
        })
    }
}
