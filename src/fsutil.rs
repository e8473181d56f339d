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
    let dir = dest.parent().unwrap_or(Path::new("."));
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `src` to `dest` durably and atomically, replacing `dest` if it exists.
/// Returns the SHA-256 and length of what was written.
pub fn write_atomic(dest: &Path, src: &mut dyn Read) -> io::Result<([u8; 32], u64)> {
    let tmp = temp_path(dest);
    let result = (|| {
        let mut f = create_new(&tmp)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut len = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            f.write_all(&buf[..n])?;
            len += n as u64;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dest)?;
        sync_dir(dest.parent().unwrap_or(Path::new(".")))?;
        Ok((h.finalize().into(), len))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes bytes durably and atomically.
pub fn write_bytes(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(dest, &mut &bytes[..]).map(|_| ())
}

/// Keeps a copy of `src` at `dest` unless a file is already there (content-addressed keeping:
/// the same name always means the same bytes). Never overwrites. Returns the SHA-256 of the
/// bytes copied, or `None` when a file was already there (nothing was read).
pub fn keep_copy(src: &Path, dest: &Path) -> io::Result<Option<[u8; 32]>> {
    if dest.exists() {
        return Ok(None);
    }
    let mut f = File::open(src)?;
    write_atomic(dest, &mut f).map(|(sha, _)| Some(sha))
}

/// SHA-256 of a file, streaming.
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    HashingReader::new(File::open(path)?).finish()
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
