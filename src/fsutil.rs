//! Durable file operations: write to a temporary name, fsync, rename, fsync the directory.

use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Mode of files the engine creates: owner read/write only.
pub const FILE_MODE: u32 = 0o600;
/// Mode of folders the engine creates under `data`.
pub const DIR_MODE: u32 = 0o700;

/// fsyncs a directory so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a new file for reading and writing with mode 0600 (fails if it exists).
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(FILE_MODE);
    }
    o.open(path)
}

/// Creates a folder (and parents) with mode 0700 where it is new.
pub fn create_dir(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b.create(path)
}

/// A temporary path next to `dest`, hidden and unique to this process.
pub fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A long name (an inbox file may have 255 bytes) is cut, so that the temporary name stays
    // within the file system's limit; the process id and the counter keep it unique.
    let mut cut = name.len().min(100);
    while !name.is_char_boundary(cut) {
        cut = cut.saturating_sub(1);
    }
    let name = name.get(..cut).unwrap_or_default();
    let dir = dest.parent().unwrap_or(Path::new("."));
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `src` to `dest` durably and atomically, replacing `dest` if it exists.
/// Returns the SHA-256 and length of what was written.
pub fn write_atomic(dest: &Path, src: &mut dyn Read) -> io::Result<([u8; 32], u64)> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let copy = KeepingReader::at(src, temp_path(dest), dir, "")?.finish()?;
    let written = (copy.sha256, copy.len);
    copy.rename_to(dest)?;
    Ok(written)
}

/// Bytes read at a time by [`KeepingReader::finish`].
const COPY_CHUNK: usize = 256 << 10;

/// Writes bytes durably and atomically.
pub fn write_bytes(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(dest, &mut &bytes[..]).map(|_| ())
}

/// A file kept under the name of its SHA-256 ([`keep_by_hash`]).
#[derive(Debug)]
pub struct Kept {
    /// SHA-256 of the bytes copied.
    pub sha256: [u8; 32],
    /// `<dir>/<hex>.<ext>`.
    pub path: PathBuf,
    /// Whether this call made the file; `false` when one of that name was already there (the
    /// caller decides whether to trust it).
    pub fresh: bool,
    /// The source's stamp, when it vouches for the bytes copied ([`Stamp::vouches`]): a later
    /// look that finds the same stamp ([`unchanged_since`]) knows the source still holds them.
    pub source: Option<Stamp>,
}

/// What tells a file's version apart: device, inode, size, and modification and change times
/// (the change time is set by the kernel on every write and cannot be set back by a writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// How long before a read began a file must have last changed for its stamp to vouch for the
/// bytes read: file times come from a clock that ticks every few milliseconds, so a write in
/// the same tick as the change before it may leave the times as they were.
pub const STAMP_MIN_AGE_SECS: i64 = 2;

impl Stamp {
    /// The stamp of these metadata.
    pub fn of(m: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Whether a read of a file that had stamp `before` when it began (at `read_began`, Unix
    /// seconds) and `after` when it ended read one version of it, which this stamp names: the
    /// two agree, and the file last changed at least [`STAMP_MIN_AGE_SECS`] before the read.
    pub fn vouches(before: Stamp, after: Stamp, read_began: i64) -> bool {
        before == after && read_began.saturating_sub(before.ctime.0) >= STAMP_MIN_AGE_SECS
    }
}

/// Whether the file at `path` still has stamp `stamp`. It is opened, not just looked up, so
/// that a network file system fetches its attributes afresh (close-to-open consistency).
pub fn unchanged_since(path: &Path, stamp: Stamp) -> bool {
    File::open(path)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| Stamp::of(&m) == stamp)
}

/// Keeps a copy of `src` in `dir`, named by its SHA-256 (`<hex>.<ext>`), reading `src` once:
/// the bytes are hashed as they are copied to a temporary file, which is synced and then
/// renamed to its name. Never overwrites: when a file of that name is already there, the
/// copy is removed.
pub fn keep_by_hash(src: &Path, dir: &Path, ext: &str) -> io::Result<Kept> {
    keep_open_by_hash(File::open(src)?, dir, ext)
}

/// [`keep_by_hash`] of a file already opened, so that a caller can tell a source that cannot
/// be opened from a folder that cannot be written.
pub fn keep_open_by_hash(mut from: File, dir: &Path, ext: &str) -> io::Result<Kept> {
    let start = ReadStart::of(&from)?;
    let mut kept = KeepingReader::new(&mut from, dir, ext)?.finish()?.keep()?;
    kept.source = start.vouched(Stamp::of(&from.metadata()?));
    Ok(kept)
}

/// A file's stamp when a read of it began, and when that was: what judges, once the read has
/// ended, whether it saw one version of the file ([`Stamp::vouches`]).
#[derive(Debug, Clone, Copy)]
pub struct ReadStart {
    before: Stamp,
    began: i64,
}

impl ReadStart {
    /// Taken just before `file` is read.
    pub fn of(file: &File) -> io::Result<Self> {
        let before = Stamp::of(&file.metadata()?);
        let began = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Ok(Self { before, began })
    }

    /// The stamp that names the version read, when `after` (the file's stamp once the read
    /// ended) vouches for it.
    pub fn vouched(&self, after: Stamp) -> Option<Stamp> {
        Stamp::vouches(self.before, after, self.began).then_some(after)
    }
}

/// A reader that hashes (SHA-256) every byte read through it and copies it to a new temporary
/// file in a folder, so that a file is parsed, hashed and copied for keeping in one pass
/// ([`KeepingReader::finish`], then [`Copied::keep`]). A failure to write the copy is a
/// failure of the read. [`write_atomic`] writes through one too.
pub struct KeepingReader<R> {
    inner: R,
    hash: Sha256,
    copy: Copied,
}

/// The synced temporary copy a [`KeepingReader`] made: kept under its hash by
/// [`Copied::keep`] (or renamed by [`write_atomic`]), or removed when dropped.
pub struct Copied {
    file: File,
    tmp: PathBuf,
    dir: PathBuf,
    ext: String,
    /// SHA-256 of the bytes copied (once finished).
    pub sha256: [u8; 32],
    /// Length of the bytes copied.
    pub len: u64,
    kept: bool,
}

impl<R: Read> KeepingReader<R> {
    /// Copies what is read from `inner` to a new temporary file in `dir`, to be kept as
    /// `<hex>.<ext>`.
    pub fn new(inner: R, dir: &Path, ext: &str) -> io::Result<Self> {
        Self::at(
            inner,
            temp_path(&dir.join(format!("incoming.{ext}"))),
            dir,
            ext,
        )
    }

    /// The same, copying to the new file `tmp` (in `dir`).
    fn at(inner: R, tmp: PathBuf, dir: &Path, ext: &str) -> io::Result<Self> {
        let file = create_new(&tmp)?;
        Ok(Self {
            inner,
            hash: Sha256::new(),
            copy: Copied {
                file,
                tmp,
                dir: dir.to_path_buf(),
                ext: ext.to_string(),
                sha256: [0; 32],
                len: 0,
                kept: false,
            },
        })
    }

    /// Reads and copies whatever is left, syncs the copy, and hands it over with its hash.
    pub fn finish(mut self) -> io::Result<Copied> {
        let mut buf = vec![0u8; COPY_CHUNK];
        while self.read(&mut buf)? != 0 {}
        self.copy.file.sync_all()?;
        self.copy.sha256 = self.hash.finalize().into();
        Ok(self.copy)
    }
}

impl<R: Read> Read for KeepingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bytes = buf.get(..n).unwrap_or_default();
        self.hash.update(bytes);
        self.copy.file.write_all(bytes)?;
        self.copy.len = self.copy.len.saturating_add(n as u64);
        Ok(n)
    }
}

impl Copied {
    /// Renames the copy to `<dir>/<hex>.<ext>` and syncs the folder; when a file of that name
    /// is already there, it is left as it is (`fresh` false: the caller decides whether to
    /// trust it) and the copy is removed. Never overwrites.
    pub fn keep(self) -> io::Result<Kept> {
        let path = self.dir.join(format!("{}.{}", hex(&self.sha256), self.ext));
        let fresh = !path.exists();
        let sha256 = self.sha256;
        if fresh {
            self.rename_to(&path)?;
        }
        Ok(Kept {
            sha256,
            path,
            fresh,
            source: None,
        })
    }

    /// Renames the copy to `dest` (in its folder), replacing what is there, and syncs the
    /// folder.
    fn rename_to(mut self, dest: &Path) -> io::Result<()> {
        fs::rename(&self.tmp, dest)?;
        self.kept = true;
        sync_dir(&self.dir)
    }
}

impl Drop for Copied {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Runs `work` while another thread asks the kernel every `every` to write `file` to disk
/// (`fdatasync`): the pages a long transaction writes then reach the disk while it runs, and
/// its commit finds little left to sync. Durability never depends on it: the commit still
/// syncs, and a write error is reported to every descriptor open when it happened (Linux 4.13
/// and later), so it is left for the commit's own sync.
///
/// Once written back, the pages past the file's length when `work` began (what a batch
/// appends) are dropped from the kernel's page cache (`posix_fadvise` `DONTNEED`): the memory
/// is used again for the pages written next, instead of new memory the kernel must clear and
/// map (on a virtual machine, ask its host for), which cost a 10M-row batch several seconds of
/// system time (`bench/RESULTS.md`). The store reads those pages rarely: they are new payment
/// rows, and what the batch reads again SQLite holds in its own cache. It is advice only: the
/// bytes in the file are the same.
///
/// The descriptor is borrowed and never closed here. Closing *any* descriptor of a file drops
/// every POSIX record lock the process holds on it, SQLite's locks on its database included:
/// a descriptor of the store closed while a transaction is open would let another process
/// read half-written pages, or take the rollback journal for a hot one and roll the
/// transaction back under it. The engine therefore opens the store's descriptor once and keeps
/// it as long as the store is open.
pub fn write_back_while<T>(
    file: Option<&File>,
    every: std::time::Duration,
    work: impl FnOnce() -> T,
) -> T {
    let Some(file) = file else {
        return work();
    };
    let appended_from = file.metadata().map_or(u64::MAX, |m| m.len());
    std::thread::scope(|scope| {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every)
            {
                if file.sync_data().is_ok() {
                    let _ = rustix::fs::fadvise(
                        file,
                        appended_from,
                        None,
                        rustix::fs::Advice::DontNeed,
                    );
                }
            }
        });
        let out = work();
        drop(stop);
        out
    })
}

/// SHA-256 of a file, streaming. The file must be a regular one ([`open_regular`]): for files
/// the engine keeps or takes.
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    HashingReader::new(open_regular(path)?).finish()
}

/// SHA-256 of a file an operator names on the command line (`check`, `replay`, `invoices
/// import`): a symbolic link to it is followed, as commands do.
pub fn sha256_given(path: &Path) -> io::Result<[u8; 32]> {
    HashingReader::new(File::open(path)?).finish()
}

/// Opens a file the engine keeps or takes, for reading, only when it is a regular file: a
/// symbolic link is not followed, and a FIFO or device is refused without waiting for a
/// writer (it is opened non-blocking, and judged by what was opened). What the store or a
/// folder names, an edited store included, is never a way to hang the engine or read
/// elsewhere.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let not_regular = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a link, folder, FIFO or device)",
        )
    };
    if !fs::symlink_metadata(path)?.file_type().is_file() {
        return Err(not_regular());
    }
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        o.custom_flags(i32::try_from(flags.bits()).unwrap_or_default());
    }
    let f = o.open(path)?;
    if !f.metadata()?.file_type().is_file() {
        return Err(not_regular());
    }
    Ok(f)
}

/// `s` when it is a SHA-256 in lowercase hex (64 digits), as the engine names kept files: a
/// name read back from the store is used in a path only then.
pub fn sha256_name(s: &str) -> Option<&str> {
    (s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(s)
}

/// A reader that hashes (SHA-256) every byte read through it, so that a file is hashed in
/// the same pass that parses it.
pub struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what is read from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
        }
    }

    /// Reads whatever is left, then returns the hash of everything.
    pub fn finish(mut self) -> io::Result<[u8; 32]> {
        let mut buf = vec![0u8; 256 << 10];
        while self.read(&mut buf)? != 0 {}
        Ok(self.hash.finalize().into())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Removes a file and fsyncs its folder; a file already gone is not an error.
pub fn remove_durable(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Lower-case hex of a hash.
pub fn hex(h: &[u8]) -> String {
    hex::encode(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Test = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_keeping_reader_keeps_every_byte_it_read_under_their_hash() -> Test {
        let dir = tempfile::tempdir()?;
        let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = KeepingReader::new(&bytes[..], dir.path(), "csv")?;
        let mut head = [0u8; 1000];
        r.read_exact(&mut head)?; // the parser stops early: the rest is read by `finish`
        let copy = r.finish()?;
        assert_eq!(copy.len, bytes.len() as u64);
        let kept = copy.keep()?;
        assert!(kept.fresh);
        assert_eq!(kept.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert_eq!(fs::read(&kept.path)?, bytes);
        assert_eq!(
            kept.path.file_name().and_then(|n| n.to_str()),
            Some(format!("{}.csv", hex(&kept.sha256)).as_str())
        );
        // The same bytes again: the kept file stays as it was, the new copy goes.
        let again = KeepingReader::new(&bytes[..], dir.path(), "csv")?
            .finish()?
            .keep()?;
        assert!(!again.fresh);
        // A copy not kept (a refused export) leaves nothing behind.
        drop(KeepingReader::new(&b"refused"[..], dir.path(), "csv")?.finish()?);
        drop(KeepingReader::new(&b"abandoned"[..], dir.path(), "csv")?);
        let names: Vec<_> = fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names.len(), 1, "{names:?}");
        Ok(())
    }

    #[test]
    fn a_file_of_the_longest_name_is_written_atomically() -> Test {
        // 255 bytes, the usual limit; in two-byte letters too.
        let dir = tempfile::tempdir()?;
        for name in ["a".repeat(251) + ".zip", "ж".repeat(125) + ".zip"] {
            let dest = dir.path().join(&name);
            write_atomic(&dest, &mut &b"bytes"[..])?;
            assert_eq!(fs::read(&dest)?, b"bytes");
            let tmp = temp_path(&dest);
            let tmp_name = tmp.file_name().map(|n| n.len()).unwrap_or(0);
            assert!(tmp_name <= 255, "{tmp_name} bytes");
        }
        assert_eq!(names(dir.path())?.len(), 2, "no temporary file left");
        Ok(())
    }

    #[test]
    fn removing_a_file_already_gone_is_no_error_but_a_failed_removal_is() -> Test {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("answered.zip");
        fs::write(&file, b"bytes")?;
        remove_durable(&file)?;
        assert!(!file.exists());
        remove_durable(&file)?;
        // A folder cannot be removed as a file: that error is the caller's to see.
        let folder = dir.path().join("folder.zip");
        fs::create_dir(&folder)?;
        assert!(remove_durable(&folder).is_err());
        assert!(folder.is_dir());
        Ok(())
    }

    fn names(dir: &Path) -> io::Result<Vec<String>> {
        let mut n: Vec<String> = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        n.sort();
        Ok(n)
    }

    #[test]
    fn work_runs_once_with_or_without_the_file_to_write_back() -> Test {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store");
        fs::write(&path, b"pages")?;
        let file = File::open(&path)?;
        let every = std::time::Duration::from_millis(1);
        let mut runs = 0;
        let out = write_back_while(Some(&file), every, || {
            runs += 1;
            // Long enough for the other thread to sync a few times.
            std::thread::sleep(std::time::Duration::from_millis(20));
            fs::read(&path)
        })?;
        assert_eq!((out.as_slice(), runs), (&b"pages"[..], 1));
        let none = write_back_while(None, every, || 7);
        assert_eq!(none, 7);
        Ok(())
    }

    /// Set in the child process of [`write_back_keeps_the_transactions_lock`]: the store it
    /// tries to write.
    const LOCK_PROBE: &str = "REESTR_TEST_LOCK_PROBE";

    /// Whether another process can take the write lock on the SQLite database at `db` now
    /// (the test binary runs itself as that process).
    fn another_process_can_write(db: &Path) -> io::Result<bool> {
        let status =
            crate::this_test_alone("fsutil::tests::write_back_keeps_the_transactions_lock")?
                .env(LOCK_PROBE, db)
                .stdout(std::process::Stdio::null())
                .status()?;
        match status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            other => Err(io::Error::other(format!("lock probe ended with {other:?}"))),
        }
    }

    /// A batch's transaction keeps its lock through the write-back, which borrows the store's
    /// descriptor. Closing a descriptor of the file, as the write-back once did with one of its
    /// own, drops the lock: the last step shows that the probe sees that.
    #[test]
    fn write_back_keeps_the_transactions_lock() -> Test {
        if let Some(db) = std::env::var_os(LOCK_PROBE) {
            // The child: exit 0 if the write lock can be taken, 3 if the store is busy.
            let conn = rusqlite::Connection::open(db)?;
            conn.busy_timeout(std::time::Duration::ZERO)?;
            let code = match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
                Ok(()) => 0,
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => 3,
                Err(_) => 4,
            };
            std::process::exit(code);
        }
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("reestr.db");
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")?;
        assert!(
            !another_process_can_write(&db)?,
            "the transaction holds the lock"
        );
        let file = File::open(&db)?;
        let every = std::time::Duration::from_millis(1);
        write_back_while(Some(&file), every, || {
            std::thread::sleep(std::time::Duration::from_millis(20))
        });
        assert!(
            !another_process_can_write(&db)?,
            "the lock outlives the write-back"
        );
        drop(file);
        assert!(
            another_process_can_write(&db)?,
            "closing a descriptor of the file drops the transaction's lock"
        );
        conn.execute_batch("ROLLBACK")?;
        Ok(())
    }

    /// A folder with the file `in.zip` holding `bytes` and an empty folder `kept`.
    fn source_and_keep(bytes: &[u8]) -> io::Result<(tempfile::TempDir, PathBuf, PathBuf)> {
        let dir = tempfile::tempdir()?;
        let (src, keep) = (dir.path().join("in.zip"), dir.path().join("kept"));
        fs::create_dir(&keep)?;
        fs::write(&src, bytes)?;
        Ok((dir, src, keep))
    }

    #[test]
    fn a_file_is_kept_once_under_its_hash_and_never_overwritten() -> Test {
        let (_dir, src, keep) = source_and_keep(b"archive bytes")?;
        let sha = hex(&Sha256::digest(b"archive bytes"));
        let first = keep_by_hash(&src, &keep, "zip")?;
        assert!(first.fresh);
        assert_eq!(hex(&first.sha256), sha);
        assert_eq!(first.path, keep.join(format!("{sha}.zip")));
        assert_eq!(fs::read(&first.path)?, b"archive bytes");
        // A file already there under that name stays as it is, whatever it holds; no
        // temporary file is left behind.
        fs::write(&first.path, b"planted")?;
        let again = keep_by_hash(&src, &keep, "zip")?;
        assert!(!again.fresh);
        assert_eq!((again.sha256, &again.path), (first.sha256, &first.path));
        assert_eq!(fs::read(&again.path)?, b"planted");
        assert_eq!(names(&keep)?, [format!("{sha}.zip")]);
        Ok(())
    }

    #[test]
    fn a_file_of_many_chunks_is_copied_and_hashed_in_order() -> Test {
        // Several chunks, the last one partial; no two chunks alike.
        let len = COPY_CHUNK * 7 + 12_345;
        let bytes: Vec<u8> = (0..len)
            .map(|i| (i % 251) as u8 ^ (i / COPY_CHUNK) as u8)
            .collect();
        let (_dir, src, keep) = source_and_keep(&bytes)?;
        let kept = keep_by_hash(&src, &keep, "zip")?;
        assert_eq!(kept.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert!(
            fs::read(&kept.path)? == bytes,
            "the kept copy differs from the source"
        );
        Ok(())
    }

    fn stamp_changed_at(ctime: i64) -> Stamp {
        Stamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (ctime, 0),
            ctime: (ctime, 0),
        }
    }

    #[test]
    fn a_stamp_vouches_only_for_one_version_changed_well_before_the_read() {
        let old = stamp_changed_at(1_000);
        assert!(Stamp::vouches(old, old, 1_000 + STAMP_MIN_AGE_SECS));
        // Changed too recently: a write in the same clock tick might not show.
        assert!(!Stamp::vouches(old, old, 1_000 + STAMP_MIN_AGE_SECS - 1));
        // A change time ahead of the clock (another machine's clock, say) never vouches.
        assert!(!Stamp::vouches(old, old, 900));
        // Changed while it was read.
        let later = stamp_changed_at(1_005);
        assert!(!Stamp::vouches(old, later, 1_010));
        let grown = Stamp { size: 4, ..old };
        assert!(!Stamp::vouches(old, grown, 1_010));
    }

    #[test]
    fn a_claimed_file_is_known_unchanged_only_while_nothing_was_written_or_replaced() -> Test {
        let (_dir, src, keep) = source_and_keep(b"archive bytes")?;
        let (_dir2, src2, keep2) = source_and_keep(b"archive bytes")?;
        // Just written: its stamp does not vouch for the bytes yet.
        assert_eq!(keep_by_hash(&src, &keep, "zip")?.source, None);
        std::thread::sleep(std::time::Duration::from_millis(
            1_100 * u64::try_from(STAMP_MIN_AGE_SECS)?,
        ));
        let kept = keep_by_hash(&src, &keep, "zip")?;
        let Some(stamp) = kept.source else {
            return Err("an old, unchanged file's stamp should vouch for it".into());
        };
        assert!(unchanged_since(&src, stamp));
        // Rewritten in place with bytes of the same length, its modification time set back:
        // the change time, which no writer can set, still tells.
        let times = fs::metadata(&src)?;
        let (mtime, atime) = (times.modified()?, times.accessed()?);
        fs::write(&src, b"ARCHIVE BYTES")?;
        File::options()
            .write(true)
            .open(&src)?
            .set_times(fs::FileTimes::new().set_modified(mtime).set_accessed(atime))?;
        assert_eq!(fs::metadata(&src)?.modified()?, mtime);
        assert!(!unchanged_since(&src, stamp));
        // Replaced by another file of the same bytes: another inode.
        let Some(stamp2) = keep_by_hash(&src2, &keep2, "zip")?.source else {
            return Err("an old, unchanged file's stamp should vouch for it".into());
        };
        let twin = src2.with_extension("twin");
        fs::copy(&src2, &twin)?;
        fs::rename(&twin, &src2)?;
        assert!(!unchanged_since(&src2, stamp2));
        // Gone.
        fs::remove_file(&src2)?;
        assert!(!unchanged_since(&src2, stamp2));
        Ok(())
    }
}
