//! Stage 1, the inbox: which files are archives to take, and when (agreement §1: never a
//! temporary name, never a file still being written), in the agreement's order (§7.2); and
//! the removal of a file once its answer is durable.
//!
//! `watch`, `run` and `status` look at the inbox through [`scan`]; a file is taken only once it
//! has stopped changing for the settle time, judged by its modification time, by what the
//! scans have seen of it, or both ([`Look`]).

use crate::config::Config;
use crate::fsutil::{self, hex};
use crate::name::BatchName;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A file or folder of the inbox that could not be read or removed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct InboxError {
    /// The path involved.
    pub path: PathBuf,
    /// The error.
    pub source: io::Error,
}

/// Attaches a path to an I/O error.
fn at(path: &Path) -> impl FnOnce(io::Error) -> InboxError + '_ {
    move |source| InboxError {
        path: path.to_path_buf(),
        source,
    }
}

/// What `watch` and `run` remember of an inbox file between scans: its size and modification
/// time as last seen, and since when they have been seen so.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    len: u64,
    mtime: Option<SystemTime>,
    since: Instant,
}

/// Files seen in the inbox, by path.
pub type Stability = HashMap<PathBuf, Seen>;

/// How far ahead of the clock a file's modification time may be before it counts as a clock
/// running ahead (warned about, and judged by the scans' sight alone).
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// How a scan judges that an inbox file has stopped changing (§1: never pick up a file that is
/// still growing).
#[derive(Debug)]
pub enum Look<'a> {
    /// One look (`status`, metrics): a file's age is the time since its modification time.
    Once,
    /// `watch`: a file must also have been seen unchanged by the scans for the settle time, and
    /// an unreadable zip for the grace time.
    Watch(&'a mut Stability),
    /// `run`: a file must have been unchanged for the settle time by its modification time or
    /// by the scans' sight, whichever is longer, and an unreadable zip for the grace time; an
    /// unreadable zip must also have been seen unchanged by the scans for the settle time,
    /// since a writer whose clock runs behind sets old times on a file still growing.
    Run(&'a mut Stability),
}

/// An inbox scan: files ready to take in order, and those still settling.
#[derive(Debug, Default)]
pub struct Scan {
    /// Ready files, in the agreement's order (unparseable names first).
    pub ready: Vec<PathBuf>,
    /// Files not taken yet (still changing, or an unreadable zip within its grace time).
    pub pending: Vec<PathBuf>,
    /// Ready archives that wait for an earlier one (§7.2 order) among `pending`, in order.
    pub held: Vec<PathBuf>,
    /// How long until the first of `pending` could be ready, if it does not change meanwhile.
    pub next_due: Option<Duration>,
    /// Whether one of `pending` is an unreadable zip not seen unchanged for the settle time yet
    /// (`watch` and `run` looks): it may be being written and become readable at any moment,
    /// sooner than `next_due`.
    pub maybe_changing: bool,
}

/// The bytes of `path`'s file name in hex, when they are not UTF-8 (the name recorded
/// elsewhere then has U+FFFD in their place).
pub fn name_bytes_if_not_utf8(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let raw = path.file_name()?.as_bytes();
        std::str::from_utf8(raw).is_err().then(|| hex(raw))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Scans the inbox. Temporary names (`*.part` and dot-files, §1), folders and links are
/// left alone. A file is ready once it has not changed for the settle time, as `look`
/// judges it; an archive name whose zip central directory is unreadable waits up to
/// `unreadable_grace` for the writer to finish, then is taken (and answered `B01`).
pub fn scan(cfg: &Config, mut look: Look<'_>) -> Result<Scan, InboxError> {
    let inbox = &cfg.inbox;
    let settle = cfg.settle;
    let grace = cfg.unreadable_grace;
    let mut bad = Vec::new();
    let mut good = Vec::new();
    let mut pending = Vec::new();
    let mut next_due: Option<Duration> = None;
    // The §7.2 order of the first settling archive: no later batch goes before it.
    let mut first_settling = None;
    // Whether a file left waiting has not been seen unchanged for the settle time yet (it
    // may still be being written, and become ready at any moment).
    let mut maybe_changing = false;
    let mut wait = |path: PathBuf, due: Duration, changing: bool| {
        maybe_changing |= changing;
        if let Some(n) = path
            .file_name()
            .and_then(|n| BatchName::parse_with(&n.to_string_lossy(), cfg.schemas.types()).ok())
        {
            let key = n.order_key();
            if first_settling.as_ref().is_none_or(|f| key < *f) {
                first_settling = Some(key);
            }
        }
        pending.push(path);
        next_due = Some(next_due.map_or(due, |d| d.min(due)));
    };
    let now = SystemTime::now();
    let mut present = Vec::new();
    for e in fs::read_dir(inbox).map_err(at(inbox))? {
        let e = e.map_err(at(inbox))?;
        let name = e.file_name().to_string_lossy().into_owned();
        // The temporary names of agreement §1; any other name is taken (and set aside
        // when it is not an archive name, §2).
        if name.starts_with('.') || name.ends_with(".part") {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        if !meta.file_type().is_file() {
            let t = meta.file_type();
            if t.is_symlink() {
                tracing::warn!(file = %name, "inbox entry is a symbolic link; left alone");
            } else if !t.is_dir() {
                // Never opened: opening a FIFO would wait for a writer.
                tracing::warn!(file = %name, "inbox entry is not a regular file (a FIFO, socket or device); left alone");
            }
            continue;
        }
        let path = e.path();
        present.push(path.clone());
        let mtime = meta.modified().ok();
        // A time in the future (a share whose clock runs ahead) says nothing of the file's
        // age: it is taken once it has been seen unchanged for the settle time.
        // (A file just written can carry a time a little ahead of this clock: file
        // systems stamp with their own clock and granularity.)
        let ahead = mtime.is_some_and(|m| now.checked_add(CLOCK_SLACK).is_some_and(|t| m > t));
        let age = mtime
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or(Duration::ZERO);
        // A one-off look has no history: every look is a new state of the file.
        let mut new_state = true;
        let seen = match &mut look {
            Look::Once => None,
            Look::Watch(st) | Look::Run(st) => {
                let fresh = Seen {
                    len: meta.len(),
                    mtime,
                    since: Instant::now(),
                };
                new_state = !st.contains_key(&path);
                let entry = st.entry(path.clone()).or_insert(fresh);
                if entry.len != meta.len() || entry.mtime != mtime {
                    *entry = fresh;
                    new_state = true;
                }
                Some(entry.since.elapsed())
            }
        };
        // Said once per state of the file, not on every scan.
        if ahead && new_state {
            tracing::warn!(file = %name, "modification time is in the future (clock skew?); taken once seen unchanged for the settle time");
        }
        // How long the file has been unchanged, and how long it has been seen so.
        let (stable_for, watched) = match (&look, seen) {
            (Look::Watch(_), Some(seen)) if ahead => (seen, seen),
            (Look::Watch(_), Some(seen)) => (age.min(seen), seen),
            (Look::Run(_), Some(seen)) if ahead => (seen, seen),
            (Look::Run(_), Some(seen)) => (age.max(seen), seen),
            _ => (age, age),
        };
        if stable_for < settle {
            tracing::debug!(file = %name, "still changing or within the settle time; not taken yet");
            // `settle - stable_for` is the earliest it can be ready, changing or not.
            wait(path, settle.saturating_sub(stable_for), false);
            continue;
        }
        match BatchName::parse_with(&name, cfg.schemas.types()) {
            Ok(n) => {
                let readable = File::open(&path)
                    .ok()
                    .is_some_and(|f| zip::ZipArchive::new(io::BufReader::new(f)).is_ok());
                if !readable {
                    let unreadable_for = match look {
                        Look::Run(_) => stable_for,
                        _ => watched,
                    };
                    let mut due = grace.saturating_sub(unreadable_for);
                    if matches!(look, Look::Run(_)) {
                        due = due.max(settle.saturating_sub(watched));
                    }
                    if !due.is_zero() {
                        tracing::debug!(file = %name, "zip directory not readable yet; waiting for the writer");
                        // Still being written, it may become readable at any moment.
                        wait(path, due, watched < settle);
                        continue;
                    }
                }
                good.push((n.order_key(), path))
            }
            Err(_) => bad.push(path),
        }
    }
    match look {
        Look::Watch(st) | Look::Run(st) => st.retain(|p, _| present.contains(p)),
        Look::Once => {}
    }
    bad.sort();
    good.sort();
    // Batches waiting together are handled in the §7.2 order: a ready batch that comes
    // after one still settling waits for it.
    let (good, held): (Vec<_>, Vec<_>) = good
        .into_iter()
        .partition(|(k, _)| first_settling.as_ref().is_none_or(|f| k < f));
    for (_, p) in &held {
        tracing::debug!(file = %p.display(), "waits for an earlier batch still settling (agreement §7.2 order)");
    }
    bad.extend(good.into_iter().map(|(_, p)| p));
    pending.sort();
    Ok(Scan {
        ready: bad,
        pending,
        held: held.into_iter().map(|(_, p)| p).collect(),
        next_due,
        maybe_changing,
    })
}

/// The scan `run` works from. Files that can settle within `run_wait` are waited for (a
/// file copied into the inbox just before `run` is answered by that run); one that still
/// changes, or could not settle in time (settle or grace time longer than `run_wait`), is
/// left for the next run, and so are the batches after it in the §7.2 order. `None` when
/// `cancel` was set meanwhile.
pub fn ready_to_run(cfg: &Config, cancel: &AtomicBool) -> Result<Option<Scan>, InboxError> {
    // In range: `run_wait` is at most a day (the configuration's bounds).
    #[allow(clippy::arithmetic_side_effects)]
    let deadline = Instant::now() + cfg.run_wait;
    let mut seen = Stability::new();
    let mut told = false;
    loop {
        let found = scan(cfg, Look::Run(&mut seen))?;
        if cancel.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let Some(due) = found.next_due else {
            return Ok(Some(found));
        };
        let now = Instant::now();
        // Nothing can be ready before the deadline, unless a zip being written becomes
        // readable: then look again until the deadline.
        let past = now.checked_add(due).is_none_or(|t| t > deadline);
        if now >= deadline || (past && !found.maybe_changing) {
            for p in &found.pending {
                tracing::warn!(file = %p.display(), "still changing or settling; left for the next run");
            }
            for p in &found.held {
                tracing::warn!(file = %p.display(), "waits for an earlier batch still settling (agreement §7.2 order); left for the next run");
            }
            return Ok(Some(found));
        }
        if !told {
            tracing::info!(
                files = found.pending.len(),
                "waiting for inbox files to settle"
            );
            told = true;
        }
        let step = if found.maybe_changing {
            due.min(
                (cfg.settle.checked_div(4).unwrap_or_default())
                    .clamp(Duration::from_millis(250), Duration::from_secs(1)),
            )
        } else {
            due
        };
        let until = now.checked_add(step).map_or(deadline, |t| t.min(deadline));
        while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
            std::thread::sleep(
                Duration::from_millis(100).min(until.saturating_duration_since(Instant::now())),
            );
        }
    }
}

/// Removes the file `name` of the `inbox` if it still holds the bytes with SHA-256 `sha`: known
/// without reading it again when it still has the stamp it had when it was claimed
/// (`claimed`, [`fsutil::Kept::source`]); otherwise hashed again.
pub fn remove_if_same(
    inbox: &Path,
    name: &str,
    sha: &str,
    claimed: Option<fsutil::Stamp>,
) -> Result<(), InboxError> {
    // The name as recorded. A name that is not UTF-8 was recorded with U+FFFD in place of
    // its invalid bytes: that file is found among the entries whose names read the same.
    let paths: Vec<PathBuf> = if name.contains(char::REPLACEMENT_CHARACTER) {
        fs::read_dir(inbox)
            .map_err(at(inbox))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy() == name)
            .map(|e| e.path())
            .collect()
    } else {
        vec![inbox.join(name)]
    };
    for p in paths {
        // A file of the same name with other bytes is a new arrival: leave it.
        let same = claimed.is_some_and(|st| fsutil::unchanged_since(&p, st))
            || fsutil::sha256_file(&p).is_ok_and(|h| hex(&h) == sha);
        if same {
            fsutil::remove_durable(&p).map_err(at(&p))?;
        }
    }
    Ok(())
}
