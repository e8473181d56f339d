//! Stage 4c: payment ids too long for the registry reader to hold, kept in a file until
//! `result.csv` echoes them (agreement §8: a row's `payment_id` column is the row's own value,
//! whatever its length).
//!
//! The registry reader holds at most `max_field_bytes` of a field
//! ([`crate::dialect::RecordReader::with_field_limits`]); the bytes it does not hold pass
//! through an [`Unkept`] check. [`RegistryCheck`] is that check for a registry: it judges the
//! bytes in the registry's encoding and, for the key field, also writes them to a private file
//! in the spool folder ([`PidSpool`]). The row then carries where its id lies ([`Spooled`]),
//! and the thread that writes `result.csv` copies those bytes from the file: the registry and
//! `result.csv` share one encoding, so the raw bytes are the echo. Memory stays bounded
//! whatever the id's length.

use crate::dialect::Unkept;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a spooled payment id lies in the spool file, and whether `result.csv` quotes it (it
/// starts with `"` or holds a byte of [`crate::respond::quoted_for`], as a held id would be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spooled {
    /// Offset of its first byte.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Whether it is written quoted.
    pub quote: bool,
}

/// The file of payment ids too long to hold, shared by the reader's check (which writes it)
/// and the pipeline (which takes each id's place). Created at the first such id; removed when
/// the last handle is dropped.
#[derive(Clone)]
pub struct PidSpool(Arc<Mutex<Inner>>);

struct Inner {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    len: u64,
    /// The id being written.
    current: Option<Spooled>,
    /// The last id written whole, until it is taken.
    done: Option<Spooled>,
    /// The first failure to write; the batch fails with it.
    error: Option<io::Error>,
}

impl PidSpool {
    /// A spool at `path` (not created until an id needs it).
    pub fn new(path: PathBuf) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            path,
            file: None,
            len: 0,
            current: None,
            done: None,
            error: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// The id of the record just read, if its key field was spooled; or the failure to write
    /// it.
    pub fn take(&self) -> io::Result<Option<Spooled>> {
        let mut g = self.lock();
        match g.error.take() {
            Some(e) => Err(e),
            None => Ok(g.done.take()),
        }
    }

    fn piece(&self, bytes: &[u8], last: bool) {
        let mut g = self.lock();
        if g.error.is_some() {
            return;
        }
        if let Err(e) = g.write(bytes, last) {
            g.error = Some(e);
        }
    }
}

impl Inner {
    fn write(&mut self, bytes: &[u8], last: bool) -> io::Result<()> {
        let offset = self.len;
        let cur = self.current.get_or_insert(Spooled {
            offset,
            len: 0,
            quote: false,
        });
        if cur.len == 0 && bytes.first() == Some(&b'"') {
            cur.quote = true;
        }
        cur.quote |= bytes.iter().copied().any(crate::respond::quoted_for);
        cur.len = cur.len.saturating_add(bytes.len() as u64);
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let f = crate::fsutil::create_new(&self.path)?;
                self.file.insert(BufWriter::with_capacity(64 << 10, f))
            }
        };
        file.write_all(bytes)?;
        self.len = self.len.saturating_add(bytes.len() as u64);
        if last {
            // Written through before the row leaves this thread: the writer reads the file.
            file.flush()?;
            self.done = self.current.take();
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The check of a registry's bytes not held: valid in its encoding (`check`), and the key
/// field's bytes spooled.
pub struct RegistryCheck {
    /// The encoding's check.
    pub check: Box<dyn Unkept>,
    /// The key field (`payment_id`), if the schema has one.
    pub key: Option<usize>,
    /// Where the key field's bytes go.
    pub spool: PidSpool,
}

impl Unkept for RegistryCheck {
    fn check(&mut self, field: usize, bytes: &[u8], last: bool) -> bool {
        if Some(field) == self.key {
            self.spool.piece(bytes, last);
        }
        self.check.check(field, bytes, last)
    }
}

/// Reads `sp`'s bytes from the spool file `f`, which is at `path`.
pub fn reader<'f>(
    f: &'f mut Option<File>,
    path: &Path,
    sp: Spooled,
) -> io::Result<impl io::Read + 'f> {
    use io::{Read, Seek};
    let file = match f {
        Some(file) => file,
        None => f.insert(File::open(path)?),
    };
    file.seek(io::SeekFrom::Start(sp.offset))?;
    Ok(Read::take(file, sp.len))
}
