//! `invoices import`: a billing export (agreement §9) loaded whole or refused whole, kept and
//! journaled.

use super::deliver::trusted;
use super::hooks::pause;
use super::then::{keep_schema, kept_schema_entry};
use super::{Engine, EngineError, io_at, now_text, usual_cache_back};
use crate::fsutil::{self, hex};
use crate::journal;
use rusqlite::{TransactionBehavior, params};
use serde::Serialize;
use serde_json::json;
use std::fs::File;
use std::io;
use std::path::Path;

/// What an invoice import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The file loaded.
    pub file: String,
    /// Invoices in it.
    pub rows: u64,
    /// Invoices inserted or changed.
    pub changed: u64,
}

impl Engine {
    /// Loads a billing export (agreement §9). Refused whole on any invalid line.
    pub fn import_invoices(
        &mut self,
        path: &Path,
    ) -> Result<Result<ImportReport, crate::invoices::ExportError>, EngineError> {
        // Rows in ascending order append at the right edge of the table: a small page cache
        // serves them, and its dirty pages are written while the load runs (bench/RESULTS.md,
        // round 9). The store's usual cache is back afterwards, whatever happened.
        self.store.set_cache_kib(crate::store::SMALL_CACHE_KIB)?;
        let imported = self.import_with_small_cache(path);
        usual_cache_back(&self.store);
        imported
    }

    fn import_with_small_cache(
        &mut self,
        path: &Path,
    ) -> Result<Result<ImportReport, crate::invoices::ExportError>, EngineError> {
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let max_field = self.max_field();
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = journal::next_seq(&tx)?;
        let f = File::open(path).map_err(io_at(path))?;
        let start = fsutil::ReadStart::of(&f).map_err(io_at(path))?;
        // Parsed, hashed and copied for keeping in one pass: the file is read once, and what
        // is kept is what was loaded.
        let imports = self.layout.imports();
        let mut src = fsutil::KeepingReader::new(
            io::BufReader::with_capacity(256 << 10, &f),
            &imports,
            "csv",
        )
        .map_err(io_at(&imports))?;
        let loaded = match crate::invoices::load(
            &tx,
            &fname,
            &mut src,
            &self.cfg.schemas.invoices,
            seq,
            max_field,
        )? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let copy = src.finish().map_err(io_at(path))?;
        let sha = hex(&copy.sha256);
        let crate::invoices::Loaded { rows, changed } = loaded;
        let report = ImportReport {
            file: fname.clone(),
            rows,
            changed,
        };
        if changed == 0 {
            // Nothing changes: nothing to record (loading the same export twice is a no-op).
            tx.rollback()?;
            return Ok(Ok(report));
        }
        // The export must have been one version while it was read: the stamp of the file read
        // says so (the same before and after, and older than the read), as for an inbox file
        // (`fsutil::keep_by_hash`), or its bytes are hashed again.
        pause("import-read");
        let after = f.metadata().map(|m| fsutil::Stamp::of(&m));
        let one_version = after.is_ok_and(|a| start.vouched(a).is_some())
            || fsutil::sha256_given(path).map_err(io_at(path))? == copy.sha256;
        if !one_version {
            return Err(EngineError::Refused(format!(
                "{} changed while it was read; not imported",
                path.display()
            )));
        }
        trusted(copy.keep().map_err(io_at(&imports))?, path, "export")?;
        keep_schema(&self.layout, &self.cfg.schemas.invoices)?;
        let body = json!({
            "file_name": fname, "sha256": sha, "rows": rows, "changed": changed,
            "engine_version": crate::VERSION, "schema": self.cfg.schemas.invoices.fingerprint,
            "kept": [
                {"path": format!("imports/{sha}.csv"), "sha256": sha},
                kept_schema_entry(&self.cfg.schemas.invoices),
            ],
        });
        journal::append(&tx, "import", &now_text(), &body)?;
        tx.execute(
            "INSERT INTO imports(journal_seq, file_name, sha256, rows, changed) VALUES (?1,?2,?3,?4,?5)",
            params![seq, fname, sha, rows as i64, changed as i64],
        )?;
        tx.commit()?;
        tracing::info!(file = %fname, rows, changed, "invoices imported");
        Ok(Ok(report))
    }
}
