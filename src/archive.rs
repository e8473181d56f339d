//! Stage 2: the safe zip reader (agreement §3, codes `B01` and `B02`).
//!
//! The central directory is parsed by the `zip` crate; every entry's bytes are inflated here,
//! from the raw compressed data, so that real sizes, CRCs and ratios are counted on the bytes
//! themselves and never taken from what the archive declares. Nothing is ever written to disk
//! under a name taken from the archive.
//!
//! Reading happens in three steps, all "as the archive is read": first every central-directory
//! record is judged (count, names, types, encryption, method, declared sizes), then where every
//! entry lies (its local header and data descriptor compared with its central record, the
//! entries filling the file up to the directory with no byte unaccounted for), then every entry
//! is inflated in central-directory order. The first problem met gives the answer.
//!
//! A zip states each entry's facts twice (central record, local header or data descriptor), and
//! tools differ in which copy they believe; the end record counts the central records, which a
//! tool may also walk on its own. Any disagreement is `B01`, so that what is judged here is
//! what every tool would read; so are entries that overlap one another or the directory, and
//! bytes no part of the archive holds (before the first entry, between two, after the end
//! record).

use crate::code::BatchCode;
use flate2::{Decompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;
use zip::{CompressionMethod, ZipArchive};

/// The limits of agreement §3 (defaults are the agreement's).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest archive file, in bytes.
    pub max_archive_bytes: u64,
    /// Largest sum of uncompressed entry sizes, in bytes.
    pub max_uncompressed_bytes: u64,
    /// Largest ratio uncompressed/compressed for an entry larger than `ratio_applies_above`.
    pub max_ratio: u64,
    /// Entries up to this many uncompressed bytes are exempt from the ratio limit.
    pub ratio_applies_above: u64,
    /// Most entries in an archive.
    pub max_entries: usize,
    /// Longest physical registry line, in bytes, without its line end.
    pub max_line_bytes: u64,
    /// Most bytes of a registry field held in memory. Not in the agreement, and not a limit on
    /// the archive: a record of any length is read to its end, and a field longer than this
    /// (possible only across quoted line breaks) is `202` for that field. No valid value comes
    /// near the default (1 MiB); the longest are 500 characters.
    pub max_field_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_archive_bytes: 2 << 30,
            max_uncompressed_bytes: 8 << 30,
            max_ratio: 200,
            ratio_applies_above: 1 << 20,
            max_entries: 16,
            max_line_bytes: 64 << 10,
            max_field_bytes: 1 << 20,
        }
    }
}

/// The name of the registry entry, whose physical lines are measured.
pub const REGISTRY: &str = "registry.csv";
/// Entries up to this size are kept in memory for the later stages (control and manifests).
pub const KEEP_LIMIT: u64 = 1 << 20;

/// A batch-level rejection from reading the archive, or a failure of the receiver itself.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The archive is answered with this code (`B01` or `B02`) and message.
    #[error("{code}: {message}")]
    Reject {
        /// `B01` or `B02`.
        code: BatchCode,
        /// One line naming the entry and what is wrong.
        message: String,
    },
    /// The receiver could not read its own copy (not the sender's fault).
    #[error("reading the archive: {0}")]
    Io(#[from] io::Error),
}

fn reject(code: BatchCode, message: impl Into<String>) -> ReadError {
    ReadError::Reject {
        code,
        message: message.into(),
    }
}

/// One entry as read: its name, real size and hash, and its bytes when small.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index in the central directory.
    pub index: usize,
    /// The entry name (lossily decoded if not UTF-8; such a name matches no allowed file).
    pub name: String,
    /// Real uncompressed size.
    pub size: u64,
    /// SHA-256 of the real uncompressed bytes.
    pub sha256: [u8; 32],
    /// The bytes, for entries other than the registry of at most [`KEEP_LIMIT`] bytes.
    pub data: Option<Vec<u8>>,
}

/// An archive whose every entry was read and passed the `B01` and `B02` checks.
#[derive(Debug, Clone)]
pub struct Archive {
    /// Entries in central-directory order.
    pub entries: Vec<Entry>,
}

impl Archive {
    /// The entry with this exact (case-sensitive) name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Which record of an archive split over several disks says so: the end record, or the zip64
/// end record, numbering a disk other than the first or fewer entries on this disk than in all;
/// or the zip64 end locator, putting the zip64 end record on another disk or counting more.
#[derive(Clone, Copy)]
enum SplitBy {
    EndRecord,
    Zip64EndRecord,
    Zip64Locator,
}

/// Why an archive split over several disks is not read, naming the record that says it is.
fn split_words(by: SplitBy) -> String {
    let (record, how) = match by {
        SplitBy::EndRecord => ("end record", SPLIT_DISKS),
        SplitBy::Zip64EndRecord => ("zip64 end record", SPLIT_DISKS),
        SplitBy::Zip64Locator => (
            "zip64 end locator",
            "the zip64 end record on a disk other than the first, or more than one disk",
        ),
    };
    format!(
        "its {record} describes one part of an archive split over several disks ({how}), which is not read"
    )
}

/// What an end record, plain or zip64, numbers of a split archive.
const SPLIT_DISKS: &str = "a disk other than the first, or fewer entries on this disk than in all";

/// The message of a `B01` for an archive that cannot be read, saying `why`.
fn unreadable_words(why: impl std::fmt::Display) -> String {
    format!("not a readable zip archive: {why}")
}

/// A `B01` for an archive that cannot be read, saying `why`.
fn unreadable(why: impl std::fmt::Display) -> ReadError {
    reject(BatchCode::B01, unreadable_words(why))
}

/// What the zip reader's error says of the archive, in the archive's terms; the receiver's own
/// failure to read its copy is `Err`.
fn zip_words(e: zip::result::ZipError) -> Result<String, io::Error> {
    Ok(match e {
        zip::result::ZipError::Io(io) if !is_data_error(&io) => return Err(io),
        zip::result::ZipError::InvalidArchive(m)
            if m.contains("EOCD") || m.contains("CDEBlock") =>
        {
            "no complete end of central directory record (the file is truncated, or not a zip)"
                .into()
        }
        zip::result::ZipError::InvalidArchive(m) if m.contains("Multi-disk") => {
            split_words(SplitBy::EndRecord)
        }
        zip::result::ZipError::UnsupportedArchive(m) if m.contains("multi-disk") => {
            split_words(SplitBy::Zip64EndRecord)
        }
        zip::result::ZipError::InvalidArchive(m) if m.starts_with("Unexpected end of ") => {
            format!("{} is cut short", record_named(&m))
        }
        // (Messages naming the end records, EOCD or CDEBlock, took the first branch.)
        zip::result::ZipError::InvalidArchive(m) => m.replace("CDFH", "central directory header"),
        other => other.to_string(),
    })
}

fn zip_error(e: zip::result::ZipError) -> ReadError {
    zip_words(e).map_or_else(ReadError::Io, unreadable)
}

/// [`zip_error`] for the reading of the central directory. The zip reader reads a header's name,
/// extra field and comment, and parses the extra field's blocks, as plain reads: one that runs
/// out of bytes is an I/O error of its own wording ("failed to fill whole buffer"), which is
/// said here in the archive's terms. A failure that one central record causes names its entry:
/// found by the engine's own walk of the records ([`named_record_problem`]), or else by the zip
/// reader reading each record alone ([`unread_record`]), among the first `max_entries` + 1
/// records (more is `B02` once read).
fn directory_error(e: zip::result::ZipError, path: &Path, max_entries: usize) -> ReadError {
    let said = e.to_string();
    // The zip reader judges the end records before the directory: a zip64 end record or
    // locator of a split archive is said as such, whichever words the reader found. (Its
    // "unsupported" multi-disk error, which comes after the end records are accepted, is put
    // into words by `zip_words`.)
    let of_end_records = matches!(&e, zip::result::ZipError::InvalidArchive(m)
        if m.contains("EOCD") || m.contains("CDEBlock") || m.contains("Multi-disk"));
    if of_end_records && let Ok(Some(why)) = zip64_end_problem(path) {
        return unreadable(why);
    }
    let named = || match named_record_problem(path) {
        Ok(Some(why)) => Some(why),
        _ => unread_record(path, &said, max_entries.saturating_add(1))
            .ok()
            .flatten(),
    };
    let found = match &e {
        zip::result::ZipError::Io(io) if is_data_error(io) => Some(named().unwrap_or_else(|| {
            format!(
                "a central directory header's name, extra field or comment is cut short or malformed ({io})"
            )
        })),
        zip::result::ZipError::InvalidArchive(m)
            if m == "Invalid Central Directory header"
                || m.ends_with("ZipCentralEntryBlock")
                || m == "Variable-length field extends beyond file boundary"
                || m == "No CDFH found"
                || m == "Invalid CDFH offset in EOCD" =>
        {
            missing_record(path).ok().flatten()
        }
        zip::result::ZipError::InvalidArchive(m)
            if !(m.contains("EOCD")
                || m.contains("CDEBlock")
                || m.starts_with("Unexpected end of ")) =>
        {
            named()
        }
        _ => None,
    };
    found.map_or_else(|| zip_error(e), unreadable)
}

/// [`zip_error`] for opening entry `index` of the directory at `start`, where the zip reader
/// reads the entry's local header: a fault of the archive names the entry, by its central
/// record as written, unless the end record misplaces the directory.
fn local_error(e: zip::result::ZipError, path: &Path, start: u64, index: usize) -> ReadError {
    let of_the_entry = match &e {
        zip::result::ZipError::InvalidArchive(m) if m == "Invalid local file header" => {
            Some("no local file header where its central record says the entry starts")
        }
        zip::result::ZipError::InvalidArchive(m)
            if m.starts_with("Unexpected end of ") && m.contains("ZipLocalEntryBlock") =>
        {
            Some("its local file header is cut short")
        }
        _ => None,
    };
    let said = match zip_words(e) {
        Ok(said) => said,
        Err(io) => return ReadError::Io(io),
    };
    // The zip reader takes a directory found elsewhere than the end record says as an archive
    // behind other bytes, and looks for every local header that many bytes further on.
    if let Ok(Some((declared, _))) = directory_place(path)
        && declared != start
    {
        return unreadable(format!(
            "the end record says the central directory starts at byte {declared}; it starts at byte {start}"
        ));
    }
    match central_names(path, start, index.saturating_add(1))
        .ok()
        .and_then(|names| names.into_iter().nth(index))
    {
        Some(name) => unreadable(format!(
            "entry {:?}: {}",
            display_name(&name),
            of_the_entry.unwrap_or(&said)
        )),
        None => unreadable(said),
    }
}

/// The zip record a reader's "Unexpected end of `TYPE`" names, in APPNOTE's words rather than
/// the reader's Rust type.
fn record_named(message: &str) -> &'static str {
    [
        ("ZipCentralEntryBlock", "a central directory header"),
        ("ZipLocalEntryBlock", "a local file header"),
        (
            "Zip64CDELocatorBlock",
            "the zip64 end of central directory locator",
        ),
        ("DataDescriptorBlock", "a data descriptor"),
    ]
    .into_iter()
    .find(|(ty, _)| message.contains(ty))
    .map_or("a zip record", |(_, named)| named)
}

/// The APPNOTE number of a compression method (4.4.5), for messages.
#[allow(deprecated)] // `Unsupported` is how the reader hands over every other method.
fn method_number(m: CompressionMethod) -> String {
    match m {
        CompressionMethod::Unsupported(n) => n.to_string(),
        CompressionMethod::Stored => "0".into(),
        other => other.to_string(),
    }
}

fn is_data_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

/// Why an entry whose general-purpose flags (APPNOTE 4.4.4) are these cannot be read as stored
/// or deflated bytes (`B02`), if it cannot: compressed patched data (bit 5), strong encryption
/// (bit 6, which APPNOTE pairs with bit 0) and masked header values of an encrypted central
/// directory (bit 13). Bit 0 alone is checked against the central directory first.
fn unread_flags(flags: u16) -> Option<&'static str> {
    if flags & 0x40 != 0 {
        Some("is encrypted (strong encryption, flag bit 6)")
    } else if flags & 0x2000 != 0 {
        Some("is encrypted (masked header values, flag bit 13)")
    } else if flags & 0x20 != 0 {
        Some("holds compressed patched data (flag bit 5), neither stored nor deflate")
    } else {
        None
    }
}

/// Why a name from the archive is unsafe (`B02`), if it is.
fn unsafe_name(raw: &[u8]) -> Option<&'static str> {
    if raw.is_empty() {
        return Some("an empty entry name");
    }
    if raw.ends_with(b"/") {
        return Some("a directory (a name ending in a slash)");
    }
    if raw.contains(&b'/') || raw.contains(&b'\\') {
        return Some("a name holding a path separator");
    }
    if raw == b"." || raw == b".." {
        return Some("a relative path");
    }
    if matches!(raw, [drive, b':', ..] if drive.is_ascii_alphabetic()) {
        return Some("an absolute path");
    }
    // C0 and DEL in any encoding; C1 (U+0080 to U+009F) where the name is UTF-8.
    let c1 = std::str::from_utf8(raw).is_ok_and(|n| n.chars().any(char::is_control));
    if c1 || raw.iter().any(|b| *b < 0x20 || *b == 0x7f) {
        return Some("a control character in the name");
    }
    None
}

/// An entry name as text, for messages that show it with `{:?}` (which escapes it once:
/// quotes, backslashes and control characters).
fn display_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Reads and judges a whole archive file (pass one). See the module docs for the order.
pub fn read(path: &Path, limits: &Limits) -> Result<Archive, ReadError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > limits.max_archive_bytes {
        return Err(reject(
            BatchCode::B02,
            format!(
                "archive is {len} bytes, over the limit of {}",
                limits.max_archive_bytes
            ),
        ));
    }
    let mut zip = ZipArchive::new(BufReader::new(file))
        .map_err(|e| directory_error(e, path, limits.max_entries))?;
    let count = zip.len();
    if count > limits.max_entries || zip.has_duplicate_names() && count >= limits.max_entries {
        return Err(reject(
            BatchCode::B02,
            format!("archive has more than {} entries", limits.max_entries),
        ));
    }
    if zip.has_duplicate_names() {
        // The zip crate's directory map keeps one entry per name: read the names ourselves to
        // say which one repeats.
        // The limit is any usize (a journaled policy's is read back from the store).
        let most = limits.max_entries.saturating_add(1);
        let names = central_names(path, zip.central_directory_start(), most).unwrap_or_default();
        let mut seen = HashSet::new();
        let dup = names.into_iter().find(|n| !seen.insert(n.clone()));
        let which = dup
            .map(|n| format!("entry {:?}", display_name(&n)))
            .unwrap_or_else(|| "an entry".into());
        return Err(reject(
            BatchCode::B02,
            format!("{which} appears twice in the archive"),
        ));
    }
    // The end record's count is what the zip crate reads (its names are distinct now); another
    // tool may walk the directory itself and see more entries.
    match directory_problem(path, zip.central_directory_start(), count) {
        Ok(None) => {}
        Ok(Some(what)) => return Err(reject(BatchCode::B01, what)),
        Err(e) if !is_data_error(&e) => return Err(ReadError::Io(e)),
        Err(_) => {
            return Err(reject(
                BatchCode::B01,
                "the central directory or its end record is cut short",
            ));
        }
    }
    // Step one: the central directory.
    let mut declared_total: u128 = 0;
    let mut names = HashSet::new();
    let directory_start = zip.central_directory_start();
    for i in 0..count {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| local_error(e, path, directory_start, i))?;
        let raw = f.name_raw().to_vec();
        let shown = display_name(&raw);
        if let Some(why) = unsafe_name(&raw) {
            return Err(reject(BatchCode::B02, format!("entry {shown:?}: {why}")));
        }
        if !names.insert(raw.clone()) {
            return Err(reject(
                BatchCode::B02,
                format!("entry {shown:?} appears twice"),
            ));
        }
        let dos_dir = f.external_attributes() & 0x10 != 0 && f.unix_mode().is_none();
        if f.is_dir() || dos_dir {
            return Err(reject(
                BatchCode::B02,
                format!("entry {shown:?} is a directory"),
            ));
        }
        if let Some(mode) = f.unix_mode() {
            let kind = mode & 0o170000;
            if kind != 0 && kind != 0o100000 {
                let what = match kind {
                    0o040000 => "a directory",
                    0o120000 => "a symbolic link",
                    _ => "not a regular file",
                };
                return Err(reject(
                    BatchCode::B02,
                    format!("entry {shown:?} is {what} (mode {mode:o})"),
                ));
            }
        }
        if f.encrypted() {
            return Err(reject(
                BatchCode::B02,
                format!("entry {shown:?} is encrypted"),
            ));
        }
        if !matches!(
            f.compression(),
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(reject(
                BatchCode::B02,
                format!(
                    "entry {shown:?} uses compression method {}; only stored (0) and deflate (8) are allowed",
                    method_number(f.compression())
                ),
            ));
        }
        let (size, csize) = (f.size(), f.compressed_size());
        declared_total = declared_total.saturating_add(u128::from(size));
        if declared_total > u128::from(limits.max_uncompressed_bytes) {
            return Err(reject(
                BatchCode::B02,
                format!(
                    "declared uncompressed sizes exceed {} bytes at entry {shown:?}",
                    limits.max_uncompressed_bytes
                ),
            ));
        }
        if over_ratio(size, csize, limits) {
            return Err(reject(
                BatchCode::B02,
                format!(
                    "entry {shown:?} declares {size} bytes from {csize} compressed: ratio over {}",
                    limits.max_ratio
                ),
            ));
        }
    }
    // Step two: where every entry lies, from its local header to the end of its data and data
    // descriptor. Each local header must repeat its central record, and the entries must fill
    // the file from its first byte to the central directory, one after another: no bytes before
    // the first (a second archive before this one, say), none between two, no overlap (the
    // "overlapped components" of zip bombs). A tool reading the local headers from the start
    // then sees the entries judged here, and nothing else.
    let mut raw = File::open(path)?;
    let mut spans: Vec<(u64, u64, String)> = Vec::with_capacity(count);
    for index in 0..count {
        let f = zip
            .by_index_raw(index)
            .map_err(|e| local_error(e, path, directory_start, index))?;
        let shown = display_name(f.name_raw());
        let central = Central {
            name: f.name_raw().to_vec(),
            method: if f.compression() == CompressionMethod::Deflated {
                8
            } else {
                0
            },
            crc: f.crc32(),
            csize: f.compressed_size(),
            size: f.size(),
            header_start: f.header_start(),
        };
        let local = local_header(&mut raw, &central)
            .map_err(|e| read_failure(e, &shown))?
            .map_err(|what| {
                reject(
                    BatchCode::B01,
                    format!("entry {shown:?}: {what} in its local header differs from the central directory"),
                )
            })?;
        if let Some(why) = unread_flags(local.flags) {
            return Err(reject(BatchCode::B02, format!("entry {shown:?}: {why}")));
        }
        let data_end = local.data_start.saturating_add(central.csize);
        let end = if local.descriptor {
            let len = descriptor_len(&mut raw, data_end, &central, local.zip64)
                .map_err(|e| read_failure(e, &shown))?
                .ok_or_else(|| {
                    reject(
                        BatchCode::B01,
                        format!("entry {shown:?}: its data descriptor differs from the central directory"),
                    )
                })?;
            data_end.saturating_add(len)
        } else {
            data_end
        };
        if end > directory_start {
            return Err(reject(
                BatchCode::B01,
                format!("entry {shown:?}: its data runs into the central directory"),
            ));
        }
        if let Some((_, _, other)) = spans
            .iter()
            .find(|(s, e, _)| central.header_start < *e && *s < end)
        {
            return Err(reject(
                BatchCode::B01,
                format!("entry {shown:?} overlaps entry {other:?} in the archive"),
            ));
        }
        spans.push((central.header_start, end, shown));
    }
    if let Some(why) = unaccounted(&mut spans, directory_start) {
        return Err(reject(BatchCode::B01, why));
    }
    // Step three: the real bytes.
    let mut total: u64 = 0;
    let mut entries = Vec::with_capacity(count);
    for index in 0..count {
        let f = zip
            .by_index_raw(index)
            .map_err(|e| local_error(e, path, directory_start, index))?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        let shown = display_name(f.name_raw());
        let (declared, csize, crc) = (f.size(), f.compressed_size(), f.crc32());
        let deflated = f.compression() == CompressionMethod::Deflated;
        let is_registry = name == REGISTRY;
        let keep = !is_registry && declared <= KEEP_LIMIT;
        let mut reader = EntryReader::new(f, deflated);
        let mut hasher = Sha256::new();
        let mut crc32 = crc32fast::Hasher::new();
        let mut lines = LineMeter::default();
        let mut data = keep.then(Vec::new);
        let mut size: u64 = 0;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if is_data_error(&e) => {
                    return Err(reject(BatchCode::B01, format!("entry {shown:?}: {e}")));
                }
                Err(e) => return Err(ReadError::Io(e)),
            };
            let Some(chunk) = buf.get(..n) else {
                return Err(ReadError::Io(io::Error::other(format!(
                    "entry {shown:?}: a read of {n} bytes into {} bytes",
                    buf.len()
                ))));
            };
            size = size.saturating_add(n as u64);
            total = total.saturating_add(n as u64);
            if total > limits.max_uncompressed_bytes {
                return Err(reject(
                    BatchCode::B02,
                    format!(
                        "uncompressed bytes exceed {} at entry {shown:?}",
                        limits.max_uncompressed_bytes
                    ),
                ));
            }
            if over_ratio(size, csize, limits) {
                return Err(reject(
                    BatchCode::B02,
                    format!(
                        "entry {shown:?} inflates past {size} bytes from {csize} compressed: ratio over {}",
                        limits.max_ratio
                    ),
                ));
            }
            if let Some(line) = is_registry
                .then(|| lines.feed(chunk, limits.max_line_bytes))
                .flatten()
            {
                return Err(line_too_long(line, limits));
            }
            hasher.update(chunk);
            crc32.update(chunk);
            if let Some(d) = data.as_mut() {
                if (d.len().saturating_add(n)) as u64 <= KEEP_LIMIT {
                    d.extend_from_slice(chunk);
                } else {
                    data = None;
                }
            }
        }
        // At the end of the file a CR is not a line end (§5: CRLF or LF): it counts.
        if let Some(line) = is_registry
            .then(|| lines.finish(limits.max_line_bytes))
            .flatten()
        {
            return Err(line_too_long(line, limits));
        }
        if size != declared {
            return Err(reject(
                BatchCode::B01,
                format!("entry {shown:?} declares {declared} bytes but holds {size}"),
            ));
        }
        if crc32.finalize() != crc {
            return Err(reject(
                BatchCode::B01,
                format!("entry {shown:?} fails its CRC-32 check"),
            ));
        }
        if let Some(used) = reader.compressed_in()
            && used != csize
        {
            return Err(reject(
                BatchCode::B01,
                format!(
                    "entry {shown:?}: its deflate stream ends after {used} of the {csize} compressed bytes it declares"
                ),
            ));
        }
        entries.push(Entry {
            index,
            name,
            size,
            sha256: hasher.finalize().into(),
            data,
        });
    }
    Ok(Archive { entries })
}

/// Entry names of the central directory as written, duplicates included (at most `max`).
fn central_names(path: &Path, start: u64, max: usize) -> io::Result<Vec<Vec<u8>>> {
    Ok(central_records(path, start)?
        .take(max)
        .map(|rec| rec.name)
        .collect())
}

/// The central records from `start` on, read one by one until one cannot be read or none
/// starts where the last ended.
fn central_records(path: &Path, start: u64) -> io::Result<impl Iterator<Item = CentralRecord>> {
    let mut r = BufReader::new(File::open(path)?);
    r.seek(io::SeekFrom::Start(start))?;
    Ok(std::iter::from_fn(move || {
        central_record(&mut r).ok().flatten()
    }))
}

/// The little-endian field of `N` bytes at `i` of a header, if `b` holds it.
fn le<const N: usize>(b: &[u8], i: usize) -> Option<[u8; N]> {
    b.get(i..i.checked_add(N)?)?.try_into().ok()
}

/// A 2-byte header field (0 if `b` is too short: no signature or count is 0).
fn le16(b: &[u8], i: usize) -> u16 {
    le(b, i).map_or(0, u16::from_le_bytes)
}

/// A 4-byte header field, if `b` holds it.
fn le32(b: &[u8], i: usize) -> Option<u32> {
    le(b, i).map(u32::from_le_bytes)
}

/// An 8-byte header field, if `b` holds it.
fn le64(b: &[u8], i: usize) -> Option<u64> {
    le(b, i).map(u64::from_le_bytes)
}

/// The blocks of an extra field (APPNOTE 4.5.1) as (header id, data); a block whose data
/// overruns the field comes last, with no data.
fn extra_blocks(extra: &[u8]) -> impl Iterator<Item = (u16, Option<&[u8]>)> {
    let mut rest = extra;
    std::iter::from_fn(move || {
        let [a, b, c, d, tail @ ..] = rest else {
            return None;
        };
        let data = match tail.split_at_checked(usize::from(u16::from_le_bytes([*c, *d]))) {
            Some((data, after)) => {
                rest = after;
                Some(data)
            }
            None => {
                rest = &[];
                None
            }
        };
        Some((u16::from_le_bytes([*a, *b]), data))
    })
}

/// One central-directory record as written (APPNOTE 4.3.12): its fixed header, name, extra
/// field and comment, and its length.
struct CentralRecord {
    head: [u8; 46],
    name: Vec<u8>,
    extra: Vec<u8>,
    comment: Vec<u8>,
    len: u64,
}

/// Reads the central record at the reader's place; `None` if no record starts there (its
/// signature is not there: the end record, say, even where fewer than a header's 46 bytes
/// are left).
fn central_record(r: &mut impl Read) -> io::Result<Option<CentralRecord>> {
    let mut head = [0u8; 46];
    let (sig, rest) = head.split_at_mut(4);
    r.read_exact(sig)?;
    if sig != [0x50, 0x4b, 0x01, 0x02] {
        return Ok(None);
    }
    r.read_exact(rest)?;
    let field = |i: usize| usize::from(le16(&head, i));
    let (n, m, k) = (field(28), field(30), field(32));
    // In range: three 16-bit lengths, in a usize of at least 32 bits.
    #[allow(clippy::arithmetic_side_effects)]
    let (all, comment_start) = (n + m + k, n + m);
    let mut name = vec![0u8; all];
    r.read_exact(&mut name)?;
    let comment = name.split_off(comment_start);
    let extra = name.split_off(n);
    Ok(Some(CentralRecord {
        head,
        name,
        extra,
        comment,
        len: (all as u64).saturating_add(46),
    }))
}

/// Walks the `count` central records from `start` (where the zip crate read them) and judges
/// the directory as a whole: it must end exactly where the end records begin (a zip64 end record
/// of the plain 44-byte form, its locator, then the end record; or the end record alone), and
/// every count and size those records give must match what was walked (or be the all-ones
/// that defers to zip64). No extra field may hold a zip64 or Unicode-path block twice. Otherwise another tool,
/// trusting another field, would read another directory than the one judged: `Some(why)`.
fn directory_problem(path: &Path, start: u64, count: usize) -> io::Result<Option<String>> {
    let mut r = BufReader::new(File::open(path)?);
    r.seek(io::SeekFrom::Start(start))?;
    let mut at = start;
    for _ in 0..count {
        let Some(rec) = central_record(&mut r)? else {
            return Ok(Some(format!(
                "the central directory holds fewer records than the {count} its end record declares"
            )));
        };
        if let Some(why) = record_problem(&rec) {
            return Ok(Some(why));
        }
        at = at.saturating_add(rec.len);
    }
    let walked = at.saturating_sub(start);
    let mut sig = [0u8; 4];
    r.read_exact(&mut sig)?;
    let mut sig = u32::from_le_bytes(sig);
    let mut end = at;
    if sig == 0x0505_4b50 {
        // A digital signature record (APPNOTE 4.3.13) may close the directory.
        let mut len = [0u8; 2];
        r.read_exact(&mut len)?;
        let len = u16::from_le_bytes(len);
        r.seek_relative(i64::from(len))?;
        end = end.saturating_add(6).saturating_add(u64::from(len));
        let mut next = [0u8; 4];
        r.read_exact(&mut next)?;
        sig = u32::from_le_bytes(next);
    }
    let count64 = count as u64;
    let mismatch = |what: &str| {
        Ok(Some(format!(
            "the {what} differs from the central directory it closes"
        )))
    };
    let mut zip64 = false;
    if sig == 0x0606_4b50 {
        // The zip64 end record (APPNOTE 4.3.14): its version-1 form, then the locator.
        let mut z = [0u8; 52];
        r.read_exact(&mut z)?;
        if le64(&z, 0) != Some(44) {
            return mismatch("zip64 end record (not of the plain 44-byte form)");
        }
        let (count64, walked) = (Some(count64), Some(walked));
        if le64(&z, 20) != count64 || le64(&z, 28) != count64 || le64(&z, 36) != walked {
            return mismatch("zip64 end record's count or size");
        }
        let mut loc = [0u8; 20];
        r.read_exact(&mut loc)?;
        if le32(&loc, 0) != Some(0x0706_4b50) {
            return mismatch("zip64 end record (no locator after it)");
        }
        let mut next = [0u8; 4];
        r.read_exact(&mut next)?;
        sig = u32::from_le_bytes(next);
        zip64 = true;
    }
    if sig != 0x0605_4b50 {
        return Ok(Some(format!(
            "the central directory does not end where its end record begins (byte {end})"
        )));
    }
    let mut e = [0u8; 18];
    r.read_exact(&mut e)?;
    // The disk numbers: the first disk, or all ones deferring to the zip64 end record. (The zip
    // reader checks them only without a zip64 end record, and that record's own, and its
    // locator's, always.)
    let disk_ok = |v: u16| v == 0 || zip64 && v == u16::MAX;
    if !disk_ok(le16(&e, 0)) || !disk_ok(le16(&e, 2)) {
        return Ok(Some(unreadable_words(split_words(SplitBy::EndRecord))));
    }
    let entries_ok = |v: u16| u64::from(v) == count64 || zip64 && v == u16::MAX;
    if !entries_ok(le16(&e, 4)) || !entries_ok(le16(&e, 6)) {
        return mismatch("end record's count");
    }
    let size = le32(&e, 8).unwrap_or(0);
    if u64::from(size) != walked && !(zip64 && size == u32::MAX) {
        return mismatch("end record's size");
    }
    // The end record and its comment end the file: bytes after them would be a place for
    // another end record, which a tool searching from the end would take instead.
    let after = r.stream_position()?.saturating_add(u64::from(le16(&e, 16)));
    let len = r.get_ref().metadata()?.len();
    if after < len {
        return Ok(Some(format!(
            "{} bytes after the end record that no part of the archive holds",
            len.saturating_sub(after)
        )));
    }
    if after > len {
        return Ok(Some("the end record's comment is cut short".into()));
    }
    Ok(None)
}

/// What is wrong with one central record's extra field, naming its entry: a block that changes
/// how the entry is read found twice, or a block running past the record.
fn record_problem(rec: &CentralRecord) -> Option<String> {
    let shown = display_name(&rec.name);
    if let Some(id) = repeated_block(&rec.extra) {
        return Some(format!(
            "entry {shown:?}: its central record holds extra block 0x{id:04x} twice"
        ));
    }
    extra_blocks(&rec.extra)
        .find(|(_, data)| data.is_none())
        .map(|(id, _)| {
            format!(
                "entry {shown:?}: extra block 0x{id:04x} of its central record runs past the record"
            )
        })
}

/// The last bytes of the file, up to 22 + 65,535 (an end record and the longest comment), and
/// where in them the end record lies that ends the file with its comment, read without the zip
/// reader. `None` when there is no such end record.
fn end_record(path: &Path) -> io::Result<Option<(Vec<u8>, usize)>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let tail_len = len.min(22 + 65_535);
    f.seek(io::SeekFrom::Start(len.saturating_sub(tail_len)))?;
    let mut tail = Vec::new();
    f.take(tail_len).read_to_end(&mut tail)?;
    let end = (0..tail.len()).rev().find(|&i| {
        le32(&tail, i) == Some(0x0605_4b50)
            && i.checked_add(22)
                .and_then(|e| e.checked_add(usize::from(le16(&tail, i.saturating_add(20)))))
                == Some(tail.len())
    });
    Ok(end.map(|end| (tail, end)))
}

/// The zip64 end locator (20 bytes) just before the end record at `end` of `tail`, and the
/// zip64 end record (its 56-byte version-1 form) where the locator says it starts, when both
/// are there with their signatures.
fn zip64_end(path: &Path, tail: &[u8], end: usize) -> io::Result<Option<([u8; 20], [u8; 56])>> {
    let Some(locator) = end
        .checked_sub(20)
        .and_then(|l| tail.get(l..end))
        .and_then(|l| <[u8; 20]>::try_from(l).ok())
        .filter(|l| le32(l, 0) == Some(0x0706_4b50))
    else {
        return Ok(None);
    };
    let Some(at) = le64(&locator, 8) else {
        return Ok(None);
    };
    let mut f = File::open(path)?;
    f.seek(io::SeekFrom::Start(at))?;
    let mut z = [0u8; 56];
    if f.read_exact(&mut z).is_err() || le32(&z, 0) != Some(0x0606_4b50) {
        return Ok(None);
    }
    Ok(Some((locator, z)))
}

/// Where the central directory starts, and how many records it holds, by the end record that
/// ends the file (and its zip64 end record, when the end record defers to one), read without
/// the zip reader: for naming the entry at fault when the zip reader cannot read the
/// directory. `None` when there is no such end record.
fn directory_place(path: &Path) -> io::Result<Option<(u64, u64)>> {
    let Some((tail, end)) = end_record(path)? else {
        return Ok(None);
    };
    match le32(&tail, end.saturating_add(16)) {
        Some(u32::MAX) => {}
        other => {
            let count = u64::from(le16(&tail, end.saturating_add(10)));
            return Ok(other.map(|start| (u64::from(start), count)));
        }
    }
    // Deferred to the zip64 end record, which the locator just before the end record names.
    Ok(zip64_end(path, &tail, end)?.and_then(|(_, z)| le64(&z, 48).zip(le64(&z, 32))))
}

/// What is wrong with the zip64 end record the end record defers to, read without the zip
/// reader, which refuses such an archive in words about the end records in general ("no
/// complete end of central directory record"), or its own words for a split archive:
/// - the record itself (its disk, or the disk of the directory, other than the first, or
///   fewer entries on this disk than in all) or its locator (the disk of the record other than
///   the first, or more than one disk in all) describes one part of a split archive;
/// - or it counts more records than the directory holds where it says the directory starts
///   ([`missing_record`]; the zip reader refuses a count too large for the bytes before the
///   record as it refuses a missing record).
fn zip64_end_problem(path: &Path) -> io::Result<Option<String>> {
    let Some((tail, end)) = end_record(path)? else {
        return Ok(None);
    };
    let Some((locator, z)) = zip64_end(path, &tail, end)? else {
        return Ok(None);
    };
    if le32(&z, 16) != Some(0) || le32(&z, 20) != Some(0) || le64(&z, 24) != le64(&z, 32) {
        return Ok(Some(split_words(SplitBy::Zip64EndRecord)));
    }
    if le32(&locator, 4) != Some(0) || le32(&locator, 16).is_some_and(|n| n > 1) {
        return Ok(Some(split_words(SplitBy::Zip64Locator)));
    }
    if le32(&tail, end.saturating_add(16)) == Some(u32::MAX) {
        return missing_record(path);
    }
    Ok(None)
}

/// The first central record, walked from where the end record says the directory starts,
/// whose extra field is wrong ([`record_problem`]), if the walk finds one.
fn named_record_problem(path: &Path) -> io::Result<Option<String>> {
    let Some((start, _)) = directory_place(path)? else {
        return Ok(None);
    };
    Ok(central_records(path, start)?.find_map(|rec| record_problem(&rec)))
}

/// Where the zip reader found no whole central directory header, if the records walked from
/// where the end record says the directory starts are fewer than it counts: after the last of
/// them, naming its entry, or at the start; a record there of another signature, or one whose
/// name, extra field or comment runs past the end of the file.
fn missing_record(path: &Path) -> io::Result<Option<String>> {
    let Some((start, count)) = directory_place(path)? else {
        return Ok(None);
    };
    let mut r = BufReader::new(File::open(path)?);
    let len = r.get_ref().metadata()?.len();
    if start >= len {
        return Ok(Some(format!(
            "the end record says the central directory starts at byte {start}, past the end of the file ({len} bytes)"
        )));
    }
    r.seek(io::SeekFrom::Start(start))?;
    let (mut walked, mut last) = (0u64, None);
    let cut_short = loop {
        if walked >= count {
            return Ok(None);
        }
        match central_record(&mut r) {
            Ok(Some(rec)) => {
                walked = walked.saturating_add(1);
                last = Some(rec.name);
            }
            Ok(None) => break false,
            Err(e) if is_data_error(&e) => break true,
            Err(e) => return Err(e),
        }
    };
    let read = format!("{walked} of the {count} records the end record counts were read");
    let shown = last.as_deref().map(display_name);
    Ok(Some(match (cut_short, shown) {
        (false, None) => format!(
            "no central directory header where the end record says the directory starts (byte {start})"
        ),
        (false, Some(shown)) => format!(
            "no central directory header follows the central record of entry {shown:?} ({read})"
        ),
        (true, None) => format!(
            "the first central directory header, where the end record says the directory starts (byte {start}), runs past the end of the file"
        ),
        (true, Some(shown)) => format!(
            "the central directory header after that of entry {shown:?} runs past the end of the file ({read})"
        ),
    }))
}

/// The entry whose central record the zip reader cannot read, saying so as it `said`: the zip
/// reader is given the archive with each record in turn, alone, in place of its central
/// directory (the bytes before the directory as they are, then the record and an end record
/// listing it), and the first record it fails on as it did on the whole is named, with the one
/// extra block that fails so by itself when there is one. `None` when no record fails alone as
/// the directory did (the fault is then not one record's), among the first `most`.
fn unread_record(path: &Path, said: &str, most: usize) -> io::Result<Option<String>> {
    let Some((start, _)) = directory_place(path)? else {
        return Ok(None);
    };
    let Ok(at) = u32::try_from(start) else {
        // Beyond what a plain end record can say (the directory's place went to zip64).
        return Ok(None);
    };
    let fails_so = |rec: &CentralRecord, extra: &[u8]| {
        let Ok(file) = File::open(path) else {
            return false;
        };
        let tail = alone(rec, extra, at);
        let spliced = Spliced {
            file,
            cut: start,
            tail,
            pos: 0,
        };
        matches!(ZipArchive::new(BufReader::new(spliced)), Err(e) if e.to_string() == said)
    };
    let why = match said.strip_prefix("invalid Zip archive: ") {
        Some(m) => format!("is malformed ({m})"),
        None => format!(
            "is too short for what it must hold ({})",
            said.strip_prefix("i/o error: ").unwrap_or(said)
        ),
    };
    Ok(central_records(path, start)?
        .take(most)
        .find(|rec| fails_so(rec, &rec.extra))
        .map(|rec| {
            let shown = display_name(&rec.name);
            let block = extra_blocks(&rec.extra).find_map(|(id, data)| {
                let data = data?;
                let mut one = Vec::with_capacity(data.len().saturating_add(4));
                one.extend_from_slice(&id.to_le_bytes());
                one.extend_from_slice(&u16::try_from(data.len()).ok()?.to_le_bytes());
                one.extend_from_slice(data);
                fails_so(&rec, &one).then_some(id)
            });
            match block {
                Some(id) => {
                    format!("entry {shown:?}: extra block 0x{id:04x} of its central record {why}")
                }
                None if !fails_so(&rec, &[]) => {
                    format!("entry {shown:?}: the extra field of its central record {why}")
                }
                None => format!("entry {shown:?}: its central record {why}"),
            }
        }))
}

/// A central directory of `rec` alone, with `extra` as its extra field, starting at byte `at`:
/// the record, then an end record listing it (APPNOTE 4.3.16).
fn alone(rec: &CentralRecord, extra: &[u8], at: u32) -> Vec<u8> {
    let mut z = Vec::new();
    z.extend_from_slice(&rec.head);
    let extra_len = u16::try_from(extra.len()).unwrap_or(u16::MAX);
    z.splice(30..32, extra_len.to_le_bytes());
    z.extend_from_slice(&rec.name);
    z.extend_from_slice(extra);
    z.extend_from_slice(&rec.comment);
    let size = u32::try_from(z.len()).unwrap_or(u32::MAX);
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&at.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z
}

/// The archive file up to `cut`, then `tail` in place of the rest: what the zip reader sees of
/// an archive whose central directory is replaced.
struct Spliced {
    file: File,
    cut: u64,
    tail: Vec<u8>,
    pos: u64,
}

impl Read for Spliced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.cut.checked_sub(self.pos).filter(|&left| left > 0) {
            Some(left) => {
                self.file.seek(io::SeekFrom::Start(self.pos))?;
                (&self.file).take(left).read(buf)?
            }
            None => {
                let at = usize::try_from(self.pos.saturating_sub(self.cut)).unwrap_or(usize::MAX);
                self.tail.get(at..).unwrap_or_default().read(buf)?
            }
        };
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for Spliced {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let len = self.cut.saturating_add(self.tail.len() as u64);
        let pos = match to {
            io::SeekFrom::Start(p) => Some(p),
            io::SeekFrom::End(d) => len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a seek before the start")
        })?;
        Ok(self.pos)
    }
}

/// The id of a block that changes how an entry is read (zip64 sizes and offset, 0x0001; the
/// Info-ZIP Unicode path, 0x7075) found twice in `extra`, if any: one tool takes the first,
/// another the last. Other blocks may repeat.
fn repeated_block(extra: &[u8]) -> Option<u16> {
    let mut seen = Vec::new();
    extra_blocks(extra).map(|(id, _)| id).find(|&id| {
        let again = matches!(id, 0x0001 | 0x7075) && seen.contains(&id);
        seen.push(id);
        again
    })
}

/// What an entry's central-directory record says, for comparing with its local header.
struct Central {
    name: Vec<u8>,
    /// 0 (stored) or 8 (deflate): the only methods that pass the directory checks.
    method: u16,
    crc: u32,
    csize: u64,
    size: u64,
    header_start: u64,
}

/// What the local header adds: where the data starts, and whether a data descriptor follows.
struct Local {
    data_start: u64,
    descriptor: bool,
    /// The general-purpose flags of the local header.
    flags: u16,
    /// The local header holds a zip64 extra block: a data descriptor's sizes are then 8 bytes
    /// each (APPNOTE 4.3.9.2).
    zip64: bool,
}

/// A failure to read the receiver's own copy is `Io`; running out of bytes is the archive's
/// fault (`B01`).
fn read_failure(e: io::Error, shown: &str) -> ReadError {
    if is_data_error(&e) {
        reject(
            BatchCode::B01,
            format!("entry {shown:?}: its local header or data descriptor is cut short"),
        )
    } else {
        ReadError::Io(e)
    }
}

/// Reads an entry's local header (APPNOTE 4.3.7) and compares it with the central record: a
/// tool that reads the local headers (a streaming unzip) must see the same name, method,
/// encryption flag, CRC and sizes. With a data descriptor (flag bit 3) the local CRC and sizes
/// may be zero; the descriptor after the data is compared too ([`descriptor_len`]).
/// `Ok(Err(what))` names the field that differs.
fn local_header(raw: &mut File, c: &Central) -> io::Result<Result<Local, &'static str>> {
    raw.seek(io::SeekFrom::Start(c.header_start))?;
    let mut h = [0u8; 30];
    raw.read_exact(&mut h)?;
    let u32_at = |i: usize| le32(&h, i).unwrap_or(0);
    if u32_at(0) != 0x0403_4b50 {
        return Ok(Err("the signature"));
    }
    let (flags, method, crc) = (le16(&h, 6), le16(&h, 8), u32_at(14));
    let name_len = usize::from(le16(&h, 26));
    let mut name_extra = vec![0u8; name_len.saturating_add(usize::from(le16(&h, 28)))];
    raw.read_exact(&mut name_extra)?;
    let (name, extra) = name_extra.split_at(name_len);
    let (csize, size) = local_sizes(extra, u32_at(18), u32_at(22));
    let descriptor = flags & 0x08 != 0;
    let agrees = |local: u64, central: u64| local == central || descriptor && local == 0;
    let differs = if name != c.name {
        Some("the name")
    } else if method != c.method {
        Some("the compression method")
    } else if flags & 0x01 != 0 {
        Some("the encryption flag")
    } else if !agrees(u64::from(crc), u64::from(c.crc)) {
        Some("the CRC-32")
    } else if !agrees(csize, c.csize) {
        Some("the compressed size")
    } else if !agrees(size, c.size) {
        Some("the uncompressed size")
    } else {
        None
    };
    Ok(match differs {
        Some(what) => Err(what),
        None => Ok(Local {
            data_start: c
                .header_start
                .saturating_add(30)
                .saturating_add(name_extra.len() as u64),
            descriptor,
            flags,
            zip64: extra_blocks(extra).any(|(id, _)| id == 1),
        }),
    })
}

/// A local header's (compressed, uncompressed) sizes: a field of all ones is taken from the
/// zip64 extra field (header id 1; in a local header it holds the uncompressed size, then the
/// compressed size, APPNOTE 4.5.3).
fn local_sizes(extra: &[u8], csize: u32, size: u32) -> (u64, u64) {
    let zip64 = extra_blocks(extra)
        .find(|(id, _)| *id == 1)
        .and_then(|(_, data)| data)
        .unwrap_or_default();
    let values: Vec<u64> = zip64.chunks_exact(8).filter_map(|v| le64(v, 0)).collect();
    // A local zip64 field holds both sizes (APPNOTE 4.5.3), whichever of them overflowed; a
    // shorter one holds the sizes that overflowed, in order.
    let (size64, csize64) = match values[..] {
        [s, c, ..] => (Some(s), Some(c)),
        [v] if size == u32::MAX => (Some(v), None),
        [v] => (None, Some(v)),
        [] => (None, None),
    };
    let wide = |narrow: u32, wide: Option<u64>| match narrow {
        u32::MAX => wide.unwrap_or(u64::MAX),
        n => u64::from(n),
    };
    (wide(csize, csize64), wide(size, size64))
}

/// The bytes between the entries of `spans` (start, end, name; sorted here by start) and
/// around them, up to `directory_start`, that no entry accounts for: `Some(why)` if any.
fn unaccounted(spans: &mut [(u64, u64, String)], directory_start: u64) -> Option<String> {
    spans.sort_by_key(|s| s.0);
    let mut at = 0;
    let mut before: Option<&str> = None;
    for (start, end, name) in spans.iter() {
        if *start != at {
            return Some(match before {
                None => {
                    format!("{start} bytes before the first entry ({name:?}) that no entry holds")
                }
                Some(b) => format!(
                    "{} bytes between entries {b:?} and {name:?} that no entry holds",
                    start.saturating_sub(at)
                ),
            });
        }
        at = *end;
        before = Some(name);
    }
    (at != directory_start).then(|| match before {
        None => format!("{directory_start} bytes before the central directory, and no entry"),
        Some(b) => format!(
            "{} bytes between the last entry ({b:?}) and the central directory that no entry holds",
            directory_start.saturating_sub(at)
        ),
    })
}

/// The length of the data descriptor at `at` (APPNOTE 4.3.9: an optional signature, the
/// CRC-32, then the two sizes in 4 or, for zip64, 8 bytes each) that repeats the central
/// record's values; `None` if none does. The sizes are read as 8 bytes first when the local
/// header holds a zip64 block (`zip64`, APPNOTE 4.3.9.2), as 4 bytes first otherwise: for an
/// empty entry both readings of a zip64 descriptor match (the high half of an 8-byte size is
/// zero), and only the length decides where the next entry must begin.
fn descriptor_len(raw: &mut File, at: u64, c: &Central, zip64: bool) -> io::Result<Option<u64>> {
    raw.seek(io::SeekFrom::Start(at))?;
    // The longest descriptor (24 bytes) and the signature that may follow it.
    let mut d = Vec::with_capacity(28);
    raw.take(28).read_to_end(&mut d)?;
    let u32_at = |i: usize| le32(&d, i);
    let u64_at = |i: usize| le64(&d, i);
    // With its signature first (as most writers do), then without one (a CRC-32 that happens
    // to equal the signature); sizes of 4 bytes, then of 8.
    let starts: &[usize] = if u32_at(0) == Some(0x0807_4b50) {
        &[4, 0]
    } else {
        &[0]
    };
    let sizes = Some((c.csize, c.size));
    let narrow = |o: usize| {
        let read = u32_at(o.saturating_add(4))
            .zip(u32_at(o.saturating_add(8)))
            .map(|(a, b)| (u64::from(a), u64::from(b)));
        (read == sizes).then_some((o as u64).saturating_add(12))
    };
    let wide = |o: usize| {
        (u64_at(o.saturating_add(4)).zip(u64_at(o.saturating_add(12))) == sizes)
            .then_some((o as u64).saturating_add(20))
    };
    let readings: Vec<u64> = starts
        .iter()
        .filter(|&&o| u32_at(o) == Some(c.crc))
        .flat_map(|&o| {
            if zip64 {
                [wide(o), narrow(o)]
            } else {
                [narrow(o), wide(o)]
            }
        })
        .flatten()
        .collect();
    // Where more than one reading matches (an empty entry: zero sizes read either way), the
    // one that a header follows (the next entry's, or the central directory's) is the length.
    let header_after = |len: &&u64| {
        usize::try_from(**len)
            .ok()
            .and_then(u32_at)
            .is_some_and(|sig| matches!(sig, 0x0403_4b50 | 0x0201_4b50 | 0x0606_4b50 | 0x0605_4b50))
    };
    Ok(readings
        .iter()
        .find(header_after)
        .or(readings.first())
        .copied())
}

/// `B02` for registry line `line` over the line limit.
fn line_too_long(line: u64, limits: &Limits) -> ReadError {
    reject(
        BatchCode::B02,
        format!(
            "{REGISTRY} line {line} is longer than {} bytes",
            limits.max_line_bytes
        ),
    )
}

fn over_ratio(size: u64, csize: u64, limits: &Limits) -> bool {
    size > limits.ratio_applies_above
        && u128::from(size) > u128::from(csize).saturating_mul(u128::from(limits.max_ratio))
}

/// Measures physical lines (split at LF, a CR before the LF not counted).
#[derive(Default)]
struct LineMeter {
    /// Lines ended so far.
    line: u64,
    /// Bytes of the current line so far.
    raw: u64,
    /// Whether the current line's last byte so far is a CR.
    cr: bool,
}

impl LineMeter {
    /// Returns the 1-based number of the first line found too long.
    ///
    /// A line's length, less a CR at its end so far, never shrinks as bytes come, so it is
    /// enough to compare it at each LF and at the end of the chunk (`memchr` finds the LFs).
    fn feed(&mut self, chunk: &[u8], max: u64) -> Option<u64> {
        let mut rest = chunk;
        loop {
            let lf = memchr::memchr(b'\n', rest);
            let (seg, after) = match lf {
                Some(i) => {
                    let (seg, tail) = rest.split_at(i);
                    (seg, tail.get(1..).unwrap_or_default())
                }
                None => (rest, &[][..]),
            };
            if let Some(&last) = seg.last() {
                self.raw = self.raw.saturating_add(seg.len() as u64);
                self.cr = last == b'\r';
            }
            if self.raw.saturating_sub(u64::from(self.cr)) > max {
                return Some(self.line.saturating_add(1));
            }
            // No LF: the line goes on in the next chunk.
            lf?;
            self.line = self.line.saturating_add(1);
            self.raw = 0;
            self.cr = false;
            rest = after;
        }
    }

    /// At the end of the bytes: the 1-based number of the last line if it is too long, a CR
    /// at its very end counted (no LF follows it, so it is not part of a line end).
    fn finish(&self, max: u64) -> Option<u64> {
        (self.raw > max).then_some(self.line.saturating_add(1))
    }
}

/// Opens entry `index` of an archive that already passed [`read`], for streaming its bytes.
pub fn open_entry(
    path: &Path,
    index: usize,
) -> Result<EntryReader<io::Take<BufReader<File>>>, ReadError> {
    let file = File::open(path)?;
    let zip = ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
    entry_at(zip, index)
}

/// The reader of the entry at `index` of an opened archive.
fn entry_at(
    mut zip: ZipArchive<BufReader<File>>,
    index: usize,
) -> Result<EntryReader<io::Take<BufReader<File>>>, ReadError> {
    let (start, csize, deflated) = {
        let f = zip.by_index_raw(index).map_err(zip_error)?;
        let start = f
            .data_start()
            .ok_or_else(|| reject(BatchCode::B01, "entry data start unknown"))?;
        (
            start,
            f.compressed_size(),
            f.compression() == CompressionMethod::Deflated,
        )
    };
    let mut reader = zip.into_inner();
    reader.seek(io::SeekFrom::Start(start))?;
    Ok(EntryReader::new(reader.take(csize), deflated))
}

/// Where the central directory has the entry of this name (as [`Archive::get`] finds it in an
/// archive that [`read`] accepted), without any of [`read`]'s checks: for work begun before
/// the archive is judged, never for an answer. `None` if there is no such entry.
pub fn locate(path: &Path, name: &str) -> Option<usize> {
    let file = File::open(path).ok()?;
    ZipArchive::new(BufReader::new(file))
        .ok()?
        .index_for_name(name)
}

/// At most `max` bytes of the entry with this name, inflated through the same reader as
/// [`read`] (real bytes counted), without any of [`read`]'s checks: for a planning hint or
/// work begun before the archive is judged, never for an answer. `None` if there is no such
/// entry or it cannot be read.
pub fn peek(path: &Path, name: &str, max: u64) -> Option<Vec<u8>> {
    let file = File::open(path).ok()?;
    let zip = ZipArchive::new(BufReader::new(file)).ok()?;
    let index = zip.index_for_name(name)?;
    let mut out = Vec::new();
    entry_at(zip, index)
        .ok()?
        .take(max)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// A reader over one entry's raw data that inflates when the entry is deflated.
pub struct EntryReader<R: Read> {
    inner: R,
    dec: Option<Inflate>,
}

impl<R: Read> EntryReader<R> {
    /// Wraps the raw (compressed) bytes of an entry.
    pub fn new(inner: R, deflated: bool) -> Self {
        Self {
            inner,
            dec: deflated.then(Inflate::new),
        }
    }

    /// For a deflated entry, the compressed bytes the deflate stream took (all of them once it
    /// ended); `None` for a stored entry.
    pub fn compressed_in(&self) -> Option<u64> {
        self.dec.as_ref().map(|d| d.state.total_in())
    }
}

impl<R: Read> Read for EntryReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.dec.as_mut() {
            Some(d) => d.read_from(&mut self.inner, buf),
            None => self.inner.read(buf),
        }
    }
}

/// Raw deflate state with its own input buffer; reports a truncated stream as `UnexpectedEof`
/// and a corrupt one as `InvalidData`.
struct Inflate {
    state: Decompress,
    input: Vec<u8>,
    pos: usize,
    len: usize,
    input_done: bool,
    done: bool,
}

impl Inflate {
    fn new() -> Self {
        Self {
            state: Decompress::new(false),
            input: vec![0; 64 << 10],
            pos: 0,
            len: 0,
            input_done: false,
            done: false,
        }
    }

    fn read_from(&mut self, src: &mut impl Read, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos == self.len && !self.input_done {
                self.len = src.read(&mut self.input)?;
                self.pos = 0;
                self.input_done = self.len == 0;
            }
            let (in0, out0) = (self.state.total_in(), self.state.total_out());
            let pending = self.input.get(self.pos..self.len).ok_or_else(|| {
                io::Error::other(format!(
                    "deflate input at {} past the {} bytes read",
                    self.pos, self.len
                ))
            })?;
            let status = self
                .state
                .decompress(pending, out, FlushDecompress::None)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("corrupt deflate stream: {}", deflate_fault(&e)),
                    )
                })?;
            let consumed = self.state.total_in().saturating_sub(in0) as usize;
            let produced = self.state.total_out().saturating_sub(out0) as usize;
            self.pos = self.pos.saturating_add(consumed);
            if status == Status::StreamEnd {
                self.done = true;
                return Ok(produced);
            }
            if produced > 0 {
                return Ok(produced);
            }
            if self.input_done && consumed == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "deflate stream is truncated",
                ));
            }
        }
    }
}

/// What a deflate decoder's error says of the stream, in the decoder's words. A fault its fast
/// path finds is reported as "repeated call with bad state" (the state was already bad when its
/// main loop looked again), which says nothing of the stream and reads as the receiver's own
/// misuse: that one, and an error without words, is "invalid data".
fn deflate_fault(e: &flate2::DecompressError) -> &str {
    match e.message() {
        Some(m) if !m.contains("repeated call") => m,
        _ => "invalid data",
    }
}

#[cfg(test)]
mod tests {
    use super::LineMeter;
    use proptest::prelude::*;

    #[test]
    fn the_zip_readers_words_are_said_in_the_agreements_not_its_rust_types() {
        for (said, want) in [
            (
                "Unexpected end of zip::format::blocks::ZipCentralEntryBlock",
                "not a readable zip archive: a central directory header is cut short",
            ),
            (
                "Unexpected end of zip::format::blocks::ZipLocalEntryBlock",
                "not a readable zip archive: a local file header is cut short",
            ),
            (
                "Multi-disk ZIP files are not supported",
                "not a readable zip archive: its end record describes one part of an archive split over several disks (a disk other than the first, or fewer entries on this disk than in all), which is not read",
            ),
            (
                "No CDFH found",
                "not a readable zip archive: No central directory header found",
            ),
            (
                "Invalid EOCD64 Locator CD offset",
                "not a readable zip archive: no complete end of central directory record (the file is truncated, or not a zip)",
            ),
        ] {
            match super::zip_error(zip::result::ZipError::InvalidArchive(said.into())) {
                super::ReadError::Reject { code, message } => {
                    assert_eq!(
                        (code, message.as_str()),
                        (crate::code::BatchCode::B01, want)
                    );
                }
                other => panic!("{said}: {other:?}"),
            }
        }
        #[allow(deprecated)] // How the reader hands over a method it does not know.
        let bzip2 = zip::CompressionMethod::Unsupported(12);
        assert_eq!(super::method_number(bzip2), "12");
    }

    #[test]
    fn a_cr_at_the_end_of_the_bytes_counts_toward_the_last_line() {
        let mut m = LineMeter::default();
        // 4 bytes and a CR: within a limit of 4 while an LF may still follow...
        assert_eq!(m.feed(b"ab\ncdef\r", 4), None);
        // ...but nothing follows: the line is 5 bytes.
        assert_eq!(m.finish(4), Some(2));
        assert_eq!(m.finish(5), None);
        // A CRLF at the end is a line end.
        let mut m = LineMeter::default();
        assert_eq!(m.feed(b"cdef\r\n", 4), None);
        assert_eq!(m.finish(4), None);
    }

    #[test]
    fn local_sizes_read_the_zip64_field() {
        use super::local_sizes;
        let field = |values: &[u64]| {
            let mut e = vec![0x55, 0x54, 5, 0, 1, 2, 3, 4, 5]; // another field first
            e.extend_from_slice(&[1, 0]);
            e.extend_from_slice(&(values.len() as u16 * 8).to_le_bytes());
            for v in values {
                e.extend_from_slice(&v.to_le_bytes());
            }
            e
        };
        let max = u32::MAX;
        // No zip64: the 32-bit fields as they are.
        assert_eq!(local_sizes(&[], 10, 20), (10, 20));
        // Both sizes present (uncompressed first), whichever overflowed.
        assert_eq!(
            local_sizes(&field(&[7 << 32, 5 << 32]), max, max),
            (5 << 32, 7 << 32)
        );
        assert_eq!(local_sizes(&field(&[7 << 32, 5]), 5, max), (5, 7 << 32));
        assert_eq!(local_sizes(&field(&[7, 5 << 32]), max, 7), (5 << 32, 7));
        // One value: the size that overflowed.
        assert_eq!(local_sizes(&field(&[9 << 32]), 3, max), (3, 9 << 32));
        assert_eq!(local_sizes(&field(&[9 << 32]), max, 3), (9 << 32, 3));
        // Overflowed with nothing to read: never equal to a real size.
        assert_eq!(local_sizes(&[], max, max), (u64::MAX, u64::MAX));
    }

    #[test]
    fn a_repeated_name_is_named_under_the_largest_entry_limit() {
        // A journaled policy is read back from the store (`replay`, `audit verify --rebuild`):
        // its limits may be any u64, and `max_entries` this large once overflowed the count
        // of names read to find the one that repeats.
        let mut z = crate::sample::zip_entries(&[
            ("a.txt".to_string(), b"one".to_vec()),
            ("b.txt".to_string(), b"two".to_vec()),
        ]);
        for i in 0..z.len().saturating_sub(4) {
            if z.get(i..i + 5) == Some(b"b.txt") {
                z[i] = b'a';
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dup.zip");
        std::fs::write(&path, &z).unwrap();
        let limits = super::Limits {
            max_entries: usize::MAX,
            ..super::Limits::default()
        };
        match super::read(&path, &limits) {
            Err(super::ReadError::Reject { code, message }) => assert_eq!(
                (code, message.as_str()),
                (
                    crate::code::BatchCode::B02,
                    "entry \"a.txt\" appears twice in the archive"
                )
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_spliced_archive_reads_the_file_up_to_the_cut_then_the_tail() {
        use std::io::{Read, Seek, SeekFrom};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, b"abcdefgh").unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let tail = b"XYZ".to_vec();
        let mut s = super::Spliced {
            file,
            cut: 3,
            tail,
            pos: 0,
        };
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcXYZ");
        // A read that starts before the cut stops at it; one after it reads the tail.
        let mut two = [0u8; 5];
        assert_eq!(s.seek(SeekFrom::Start(1)).unwrap(), 1);
        assert_eq!(s.read(&mut two).unwrap(), 2);
        assert_eq!(&two[..2], b"bc");
        assert_eq!(s.read(&mut two).unwrap(), 3);
        assert_eq!(&two[..3], b"XYZ");
        assert_eq!(s.read(&mut two).unwrap(), 0);
        assert_eq!(s.seek(SeekFrom::End(-2)).unwrap(), 4);
        assert_eq!(s.seek(SeekFrom::Current(-2)).unwrap(), 2);
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"c");
        assert_eq!(s.seek(SeekFrom::Current(2)).unwrap(), 5);
        s.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"Z");
        assert!(s.seek(SeekFrom::End(-7)).is_err());
        assert!(s.seek(SeekFrom::Current(-7)).is_err());
    }

    #[test]
    fn a_record_alone_is_the_record_with_its_extra_field_replaced_then_an_end_record() {
        let mut head = [0u8; 46];
        head[..4].copy_from_slice(&[0x50, 0x4b, 0x01, 0x02]);
        head[28] = 1; // name length
        head[30] = 9; // extra length, as written
        head[32] = 2; // comment length
        let rec = super::CentralRecord {
            head,
            name: b"n".to_vec(),
            extra: vec![0; 9],
            comment: b"cc".to_vec(),
            len: 58,
        };
        let z = super::alone(&rec, &[0x55, 0x54, 0, 0], 0x0102_0304);
        assert_eq!(z.len(), 46 + 1 + 4 + 2 + 22);
        assert_eq!(&z[30..32], &[4, 0]);
        assert_eq!(&z[46..53], &[b'n', 0x55, 0x54, 0, 0, b'c', b'c']);
        // The end record: one entry on disk 0, the directory's size and its place.
        assert_eq!(
            &z[53..],
            &[
                0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0, 53, 0, 0, 0, 4, 3, 2, 1, 0, 0
            ]
        );
    }

    #[test]
    fn a_folder_in_place_of_the_archive_is_the_receivers_own_failure_not_b01() {
        // Reading fails for a reason that is not the archive's bytes: `Io`, never a NAK.
        let dir = tempfile::tempdir().unwrap();
        match super::read(dir.path(), &super::Limits::default()) {
            Err(super::ReadError::Io(e)) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                ),
                "{e:?}"
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn the_registry_is_streamed_and_never_held_and_small_entries_are_held() {
        let z = crate::sample::zip_entries(&[
            ("registry.csv".to_string(), b"a;b\n1;2\n".to_vec()),
            ("control.txt".to_string(), b"rows=1\n".to_vec()),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, &z).unwrap();
        let a = super::read(&path, &super::Limits::default()).unwrap();
        let registry = a.get(super::REGISTRY).unwrap();
        assert_eq!((registry.size, registry.data.as_deref()), (8, None));
        let control = a.get("control.txt").unwrap();
        assert_eq!(control.data.as_deref(), Some(&b"rows=1\n"[..]));
    }

    /// The line meter one byte at a time, as it was first written: the reference.
    fn bytewise(chunks: &[Vec<u8>], max: u64) -> Option<u64> {
        let (mut line, mut len, mut cr) = (0u64, 0u64, false);
        for &b in chunks.iter().flatten() {
            if b == b'\n' {
                line += 1;
                len = 0;
                cr = false;
                continue;
            }
            if cr {
                len += 1;
            }
            cr = b == b'\r';
            if !cr {
                len += 1;
            }
            if len > max {
                return Some(line + 1);
            }
        }
        None
    }

    fn metered(chunks: &[Vec<u8>], max: u64) -> Option<u64> {
        let mut m = LineMeter::default();
        chunks.iter().find_map(|c| m.feed(c, max))
    }

    #[test]
    fn a_cr_before_the_lf_is_not_counted_and_any_other_cr_is() {
        let at = |text: &[u8], max| metered(&[text.to_vec()], max);
        assert_eq!(at(b"abc\r\nabcd\r\n", 3), Some(2));
        assert_eq!(at(b"abc\r\nabc\r\n", 3), None);
        assert_eq!(at(b"ab\rc\n", 3), Some(1));
        // A CR ending the chunk is counted once the next chunk shows it is not before an LF.
        assert_eq!(metered(&[b"abc\r".to_vec(), b"\n".to_vec()], 3), None);
        assert_eq!(metered(&[b"abc\r".to_vec(), b"x\n".to_vec()], 3), Some(1));
        assert_eq!(metered(&[b"abc\r".to_vec(), b"\r\n".to_vec()], 3), Some(1));
    }

    proptest! {
        #[test]
        fn the_line_meter_agrees_with_the_bytewise_reference(
            chunks in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![b'a', b'\r', b'\n']), 0..40),
                0..8,
            ),
            max in 0u64..12,
        ) {
            prop_assert_eq!(metered(&chunks, max), bytewise(&chunks, max));
        }
    }
}
