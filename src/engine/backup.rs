//! `backup`: a copy of the data folder that is a data folder itself: the store as of one
//! committed state, and every kept file its journal names, then audited as `audit verify`
//! audits the original. It takes no lock and writes nothing in the data folder, so it runs
//! beside `watch`, or on a data folder mounted read-only. Given an earlier backup, a kept file
//! holding the same bytes there is hard-linked instead of copied (kept files never change), so
//! nightly backups cost the new files and the store.

use super::{Engine, EngineError, Layout, io_at};
use crate::fsutil;
use crate::journal::{self, in_a_kept_folder};
use serde::Serialize;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Seek};
use std::path::{Component, Path, PathBuf};

/// What `backup` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The folder written.
    pub to: String,
    /// Journal entries in the copy of the store: the state the copy holds.
    pub entries: i64,
    /// The copy's last journal entry, to be kept elsewhere as an anchor
    /// (`audit verify --anchor`); `None` for an empty journal.
    pub head: Option<journal::Anchor>,
    /// Bytes of the copy of the store.
    pub store_bytes: u64,
    /// Kept files in the copy (each once, though several entries name it), copied or linked.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// Of them, the files hard-linked from the earlier backup given (`--link-from`).
    pub linked: u64,
    /// Their bytes (not written again).
    pub linked_bytes: u64,
    /// What is wrong with the copy: what `audit verify` finds in it (a kept file missing or
    /// changed in the data folder is missing or changed in the copy too; a path the journal
    /// names outside the kept folders, neither copied nor read). Empty when the copy is whole.
    pub problems: Vec<String>,
}

/// `p` made absolute with its links resolved, though its last parts may not exist yet: the
/// longest part that exists, resolved, with the rest (plain names only) after it.
fn resolved(p: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut at = p;
    loop {
        let here = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at
        };
        if let Ok(real) = here.canonicalize() {
            return Some(rest.iter().rev().fold(real, |a, n| a.join(n)));
        }
        match at.components().next_back()? {
            Component::Normal(name) => rest.push(name.to_os_string()),
            _ => return None,
        }
        at = at.parent()?;
    }
}

/// Hard-links `earlier` at `dest` when it is a regular file holding the bytes `from` holds
/// (the same length, then the same SHA-256), and says how many bytes; `None` otherwise, with
/// `from` back at its start to be copied. A link that cannot be made is an error.
fn link_if_same(from: &mut File, earlier: &Path, dest: &Path) -> io::Result<Option<u64>> {
    let Ok(old) = fsutil::open_regular(earlier) else {
        return Ok(None);
    };
    let len = from.metadata()?.len();
    if old.metadata()?.len() != len {
        return Ok(None);
    }
    let now = fsutil::HashingReader::new(&mut *from).finish();
    from.rewind()?;
    if now? != fsutil::HashingReader::new(old).finish()? {
        return Ok(None);
    }
    fs::hard_link(earlier, dest)?;
    Ok(Some(len))
}

impl Engine {
    /// Writes a backup of the data folder into `to`, a new or empty folder: the store as of one
    /// committed state ([`crate::store::snapshot_into`]), then every kept file that state's
    /// journal names, each written durably, then the copy audited as a data folder of its own
    /// ([`Engine::audit`]). Refused when `to` holds anything: a backup never writes over
    /// another. With `link_from` (an earlier backup, outside the data folder), a kept file
    /// that folder holds at the same place with the same bytes as the data folder's is
    /// hard-linked from it instead of copied.
    pub fn backup(&self, to: &Path, link_from: Option<&Path>) -> Result<BackupReport, EngineError> {
        let data = self
            .layout
            .root
            .canonicalize()
            .map_err(io_at(&self.layout.root))?;
        if resolved(to).is_none_or(|t| t.starts_with(&data)) {
            return Err(EngineError::Refused(format!(
                "{} is in the data folder {} (or cannot be resolved): a backup goes elsewhere",
                to.display(),
                data.display()
            )));
        }
        if let Some(earlier) = link_from {
            // Links into the data folder would make the backup share its files.
            let real = earlier.canonicalize().map_err(io_at(earlier))?;
            if real.starts_with(&data) || !real.is_dir() {
                return Err(EngineError::Refused(format!(
                    "--link-from {}: not a folder outside the data folder {}: links are made from an earlier backup",
                    earlier.display(),
                    data.display()
                )));
            }
        }
        match fs::read_dir(to) {
            Ok(mut rd) => {
                if rd.next().is_some() {
                    return Err(EngineError::Refused(format!(
                        "{} is not empty: a backup is written into a new or empty folder, never over another",
                        to.display()
                    )));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fsutil::create_dir(to).map_err(io_at(to))?;
            }
            Err(e) => return Err(io_at(to)(e)),
        }
        let copy = Layout {
            root: to.to_path_buf(),
        };
        // The store first: the kept files its journal names were all written before the
        // entries naming them were committed.
        let db = copy.db();
        let unsynced = fsutil::temp_path(&db);
        // Created empty first, with the store's mode (0600), for SQLite to fill.
        drop(fsutil::create_new(&unsynced).map_err(io_at(&unsynced))?);
        if let Err(e) = crate::store::snapshot_into(&self.layout.db(), &unsynced) {
            // Not left behind (a disk full, say): DIR stays as it was, for a retry.
            let _ = fs::remove_file(&unsynced);
            return Err(e.into());
        }
        let store_bytes = File::open(&unsynced)
            .and_then(|f| f.sync_all().and_then(|()| f.metadata()))
            .map_err(io_at(&unsynced))?
            .len();
        copy.create_folders()?;
        fs::rename(&unsynced, &db).map_err(io_at(&db))?;
        fsutil::sync_dir(to).map_err(io_at(to))?;
        let conn = rusqlite::Connection::open_with_flags(
            &db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let entries = journal::entries(&conn)?;
        let head = journal::head(&conn)?;
        drop(conn);
        let mut problems = Vec::new();
        let (mut files, mut file_bytes, mut linked, mut linked_bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut copied = HashSet::new();
        let mut linking = link_from;
        for e in &entries {
            for (p, _) in journal::kept_by(e.seq, &e.kind, &e.body) {
                if !copied.insert(p.clone()) {
                    continue;
                }
                // Only files of the kept folders: the audit of the copy names any other path.
                let Some(rel) = in_a_kept_folder(&p) else {
                    continue;
                };
                // One missing is not copied, and the audit of the copy names it; one that
                // cannot be read is named here too, with why.
                let src = self.layout.root.join(rel);
                let mut from = match fsutil::open_regular(&src) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        problems.push(format!(
                            "kept file {p} in {}: {e}; not copied",
                            self.layout.root.display()
                        ));
                        continue;
                    }
                };
                let dest = to.join(rel);
                let was = match linking {
                    Some(earlier) => {
                        match link_if_same(&mut from, &earlier.join(rel), &dest) {
                            Ok(was) => was,
                            // Another file system, or links not supported there: the rest
                            // is copied, and not compared either.
                            Err(e) => {
                                tracing::warn!(
                                    from = %earlier.display(),
                                    error = %e,
                                    "cannot hard-link from the earlier backup; copying instead"
                                );
                                linking = None;
                                from.rewind().map_err(io_at(&src))?;
                                None
                            }
                        }
                    }
                    None => None,
                };
                let n = match was {
                    Some(n) => {
                        linked = linked.saturating_add(1);
                        linked_bytes = linked_bytes.saturating_add(n);
                        n
                    }
                    None => {
                        fsutil::write_atomic(&dest, &mut from)
                            .map_err(io_at(&dest))?
                            .1
                    }
                };
                files = files.saturating_add(1);
                file_bytes = file_bytes.saturating_add(n);
            }
        }
        // The links made durable (a copied file's folder is synced as it is written).
        if linked > 0 {
            for d in copy.folders() {
                fsutil::sync_dir(&d).map_err(io_at(&d))?;
            }
        }
        // The copy, audited as a data folder of its own (the inbox is still this one's: a kept
        // file no entry names is none of the copy's, which holds only named ones).
        let mut cfg = self.cfg.clone();
        cfg.data = to.to_path_buf();
        let (found, n) = Engine::open_read_only(cfg)?.audit()?;
        problems.extend(found);
        Ok(BackupReport {
            to: to.display().to_string(),
            entries: n,
            head,
            store_bytes,
            files,
            file_bytes,
            linked,
            linked_bytes,
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_resolved_though_its_last_parts_do_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        fs::create_dir(real.join("a")).unwrap();
        assert_eq!(resolved(&real.join("a")), Some(real.join("a")));
        assert_eq!(resolved(&real.join("a/b/c")), Some(real.join("a/b/c")));
        assert_eq!(resolved(&real.join("a/../a/b")), Some(real.join("a/b")));
        // A `..` after a part that does not exist cannot be resolved.
        assert_eq!(resolved(&real.join("x/../a")), None);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(real.join("a"), real.join("link")).unwrap();
            assert_eq!(resolved(&real.join("link/new")), Some(real.join("a/new")));
        }
    }
}
