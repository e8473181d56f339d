//! Writes the malformed-archive corpus of issue 4 (checked in under `tests/corpus/`):
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-e cargo run --example make_corpus -- tests/corpus
//! ```
//!
//! Every case is one archive `NNN-slug.zip` and one line of `expected.tsv`, with the columns
//!
//! | column | meaning |
//! |---|---|
//! | `file` | the archive in this folder |
//! | `answer` | `B01`..`B10` for a NAK; for an ACK `ACK` followed, for each registry row in order, by `:<line>:<status>:<field>` (rows `;`-separated, e.g. `ACK:1:1:;ACK:2:202:paid_at`); a bare `ACK` means zero rows |
//! | `line` | NAK: the registry's physical line the response message must name (`line N`) |
//! | `field` | NAK: what the message must name besides (a registry field, a control key, an entry) |
//! | `note` | what the case is, and why the answer is what it is (agreement section) |
//! | `as` | the inbox name the archive is processed under (an agreement name) |
//!
//! Each case is judged by a fresh receiver with the reference configuration (partner `MUNIS`
//! with the key of `tests/reference/MUNIS.key`) and the reference billing export loaded, see
//! `tests/corpus.rs`. The archives are made from the project's own sender side
//! (`reestr::sample`); where a defect cannot be made with a zip writer the raw bytes are
//! patched (APPNOTE 4.3.7 local header, 4.3.12 central header, 4.3.16 end record), with the
//! helpers of `tests/common/rawzip.rs` and `tests/common/batches.rs`, shared with
//! `tests/batch_codes.rs`. The output is deterministic.

use reestr::charset::Charset;
use reestr::integrity::Key;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zip::write::SimpleFileOptions;

#[path = "../tests/common/batches.rs"]
mod batches;
use batches::*;
#[path = "../tests/common/rawzip.rs"]
mod rawzip;
use rawzip::*;

/// The inbox name every case is processed under unless it says otherwise.
const AS: &str = "MUNIS_SUDBILLING_PAY_20261121_001.zip";

fn main() -> ExitCode {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("tests/corpus"), PathBuf::from);
    match write_corpus(&out) {
        Ok(n) => {
            println!("{n} cases written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_corpus: {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

/// One archive of the corpus and its expected answer.
struct Case {
    slug: String,
    bytes: Vec<u8>,
    answer: String,
    line: String,
    field: String,
    note: String,
    as_name: String,
}

/// A NAK case: `line` is the registry line the message names, `field` what else it names.
fn nak(slug: &str, bytes: Vec<u8>, code: &str, line: Option<u64>, field: &str, note: &str) -> Case {
    Case {
        slug: slug.into(),
        bytes,
        answer: code.into(),
        line: line.map(|l| l.to_string()).unwrap_or_default(),
        field: field.into(),
        note: note.into(),
        as_name: AS.into(),
    }
}

/// An ACK case with every row's `(line, status, field)`.
fn ack(slug: &str, bytes: Vec<u8>, rows: &[(u64, u16, &str)], note: &str) -> Case {
    let answer = if rows.is_empty() {
        "ACK".to_string()
    } else {
        rows.iter()
            .map(|(l, s, f)| format!("ACK:{l}:{s}:{f}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    Case {
        slug: slug.into(),
        bytes,
        answer,
        line: String::new(),
        field: String::new(),
        note: note.into(),
        as_name: AS.into(),
    }
}

/// The three reference rows accepted (status 1) against the reference billing export.
const ALL_ONE: [(u64, u16, &str); 3] = [(1, 1, ""), (2, 1, ""), (3, 1, "")];

/// Rows 1 and 3 accepted, row 2 with this status and field.
fn row2(status: u16, field: &'static str) -> [(u64, u16, &'static str); 3] {
    [(1, 1, ""), (2, status, field), (3, 1, "")]
}

fn write_corpus(out: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let cases = cases();
    std::fs::create_dir_all(out)?;
    // Start clean: a renamed or dropped case must not leave its old file behind.
    for e in std::fs::read_dir(out)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "zip") {
            std::fs::remove_file(p)?;
        }
    }
    let mut tsv = String::from("file\tanswer\tline\tfield\tnote\tas\n");
    for (i, c) in cases.iter().enumerate() {
        let file = format!("{:03}-{}.zip", i + 1, c.slug);
        for s in [&c.answer, &c.line, &c.field, &c.note, &c.as_name] {
            if s.contains(['\t', '\n', '\r']) {
                return Err(format!("{file}: a column holds a tab or line end").into());
            }
        }
        std::fs::write(out.join(&file), &c.bytes)?;
        tsv.push_str(&format!(
            "{file}\t{}\t{}\t{}\t{}\t{}\n",
            c.answer, c.line, c.field, c.note, c.as_name
        ));
    }
    std::fs::write(out.join("expected.tsv"), tsv)?;
    Ok(cases.len())
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    baseline(&mut v);
    truncations(&mut v);
    zip_tricks(&mut v);
    required_files_and_integrity(&mut v);
    long_lines(&mut v);
    dialect(&mut v);
    encodings(&mut v);
    numbers_and_dates(&mut v);
    empty_and_header_only(&mut v);
    two_copies(&mut v);
    v
}

fn baseline(v: &mut Vec<Case>) {
    v.push(ack(
        "good-baseline",
        good_zip(),
        &ALL_ONE,
        "the correct archive every case departs from: 3 PAY rows paying reference invoices",
    ));
}

fn truncations(v: &mut Vec<Case>) {
    let z = good_zip();
    let n = z.len();
    let cd = directory(&z)[0].central;
    let reg = raw_entry(&z, "registry.csv");
    let mut cuts: Vec<(usize, &str)> = vec![
        (1, "inside the first signature"),
        (4, "right after the first local signature"),
        (29, "inside the first local header"),
        (30, "end of the first local header, before the name"),
        (reg.local + 10, "inside the registry's local header"),
        (
            reg.data_start(&z) + 1,
            "one byte into the registry's deflate data",
        ),
        (
            reg.data_start(&z) + reg.csize(&z) / 2,
            "middle of the registry's deflate data",
        ),
        (n / 4, "a quarter of the archive"),
        (n / 2, "half of the archive"),
        (3 * n / 4, "three quarters of the archive"),
        (cd, "exactly at the start of the central directory"),
        (cd + 20, "inside the first central header"),
        (n - 40, "inside the last central header"),
        (n - 22, "exactly before the end record"),
        (n - 12, "inside the end record"),
        (n - 1, "last byte of the end record missing"),
    ];
    cuts.sort_by_key(|c| c.0);
    cuts.dedup_by_key(|c| c.0);
    for (cut, what) in cuts {
        v.push(nak(
            &format!("truncated-at-{cut:04}"),
            z[..cut].to_vec(),
            "B01",
            None,
            "",
            &format!("the good archive ({n} bytes) cut at byte {cut}: {what} (7.1 B01)"),
        ));
    }
    v.push(nak(
        "zero-byte-file",
        Vec::new(),
        "B01",
        None,
        "",
        "a file of 0 bytes is no zip archive (7.1 B01)",
    ));
    let mut z = good_zip();
    let r = raw_entry(&z, "registry.csv");
    let start = r.data_start(&z);
    z[start] = 0xFF; // BFINAL=1, BTYPE=11: a reserved block type
    v.push(nak(
        "corrupt-deflate-block-type",
        z,
        "B01",
        None,
        "registry.csv",
        "the registry's first deflate block has the reserved type 11 (7.1: a corrupt deflate stream is B01)",
    ));
    let mut z = good_zip();
    let r = raw_entry(&z, "registry.csv");
    let (start, len) = (r.data_start(&z), r.csize(&z));
    z[start + len / 2] ^= 0x55;
    z[start + len / 2 - 1] ^= 0xA0;
    v.push(nak(
        "flipped-bytes-in-deflate-data",
        z,
        "B01",
        None,
        "registry.csv",
        "two bytes flipped in the middle of the registry's compressed data (7.1 B01: corrupt stream or CRC)",
    ));
}

fn zip_tricks(v: &mut Vec<Case>) {
    let b = batch();
    let k = key();
    let z = zip_with(|z, o| {
        for (n, bytes) in b.entries(Some(&k)) {
            add(z, o, &n, &bytes);
        }
        z.add_directory("docs/", o).expect("dir");
    });
    v.push(nak(
        "directory-entry",
        z,
        "B02",
        None,
        "docs",
        "a directory entry docs/ beside the four files (3: no directories; B02)",
    ));
    let mut z = good_plus_entry_named(b"docs");
    set_external(&mut z, "docs", 20, 0x10);
    v.push(nak(
        "directory-by-dos-attribute",
        z,
        "B02",
        None,
        "docs",
        "an entry docs without a trailing slash but with the MS-DOS directory attribute (3 B02)",
    ));
    v.push(nak(
        "name-with-slash",
        good_plus_entry_named(b"sub/registry.csv"),
        "B02",
        None,
        "sub/registry.csv",
        "an entry named sub/registry.csv (3: a name holding / is B02)",
    ));
    v.push(nak(
        "name-with-backslash",
        good_plus_entry_named(b"sub\\readme.txt"),
        "B02",
        None,
        "readme.txt",
        "an entry named sub\\readme.txt (3: a name holding \\ is B02)",
    ));
    v.push(nak(
        "absolute-name",
        good_plus_entry_named(b"/etc/control.txt"),
        "B02",
        None,
        "/etc/control.txt",
        "an entry named /etc/control.txt (3: an absolute path is B02)",
    ));
    v.push(nak(
        "drive-letter-name",
        good_plus_entry_named(b"C:control.txt"),
        "B02",
        None,
        "C:control.txt",
        "an entry named C:control.txt (3: an absolute, drive-relative Windows path is B02)",
    ));
    v.push(nak(
        "dot-dot-name",
        good_plus_entry_named(b"../control.txt"),
        "B02",
        None,
        "../control.txt",
        "an entry named ../control.txt (3: a .. path is B02)",
    ));
    v.push(nak(
        "dot-dot-alone",
        good_plus_entry_named(b".."),
        "B02",
        None,
        "..",
        "an entry named .. (3: a .. path is B02)",
    ));
    v.push(nak(
        "nul-in-entry-name",
        good_plus_entry_named(b"registry.csv\0.txt"),
        "B02",
        None,
        "registry.csv",
        "an entry named registry.csv<NUL>.txt, the C-string truncation trick (3: a bad entry name is B02)",
    ));
    // Duplicates: written under another name of the same length and renamed in both headers.
    let mut files = b.entries(Some(&k));
    files.push(entry("control.txx", b.control()));
    let mut z = sample::zip_entries(&files);
    rename(&mut z, "control.txx", b"control.txt");
    v.push(nak(
        "duplicate-name-same-bytes",
        z,
        "B02",
        None,
        "control.txt",
        "control.txt twice with the same bytes (3: a duplicate name is B02)",
    ));
    let mut files = b.entries(Some(&k));
    files.insert(0, entry("registry.csx", b"other bytes".to_vec()));
    let mut z = sample::zip_entries(&files);
    rename(&mut z, "registry.csx", b"registry.csv");
    v.push(nak(
        "duplicate-name-other-bytes",
        z,
        "B02",
        None,
        "registry.csv",
        "registry.csv twice, the first copy other bytes (3: a duplicate name is B02, whichever copy a reader would take)",
    ));
    // registry.csv itself is a link; the manifest lists the link's stored bytes.
    let control = b.control();
    let target = b"/etc/passwd";
    let m = sample::manifest(&[("control.txt", &control), ("registry.csv", target)]);
    let z = zip_with(|z, o| {
        add(z, o, "control.txt", &control);
        z.add_symlink("registry.csv", "/etc/passwd", o)
            .expect("symlink");
        add(
            z,
            o,
            "manifest.sha256.hmac",
            format!("{}\n", k.sign(&m)).as_bytes(),
        );
        add(z, o, "manifest.sha256", &m);
    });
    v.push(nak(
        "symlink-registry",
        z,
        "B02",
        None,
        "registry.csv",
        "registry.csv is a symbolic link to /etc/passwd, manifest and HMAC right (3: a link is B02)",
    ));
    let z = zip_with(|z, o| {
        for (n, bytes) in b.entries(Some(&k)) {
            add(z, o, &n, &bytes);
        }
        z.add_symlink("link", "control.txt", o).expect("symlink");
    });
    v.push(nak(
        "symlink-extra-entry",
        z,
        "B02",
        None,
        "link",
        "an extra entry link that is a symbolic link (3: a link is B02, before the B03 of its name)",
    ));
    let mut z = good_plus_entry_named(b"fifo");
    set_external(&mut z, "fifo", 3 << 8 | 20, 0o010_644 << 16);
    v.push(nak(
        "fifo-entry",
        z,
        "B02",
        None,
        "fifo",
        "an entry whose Unix mode is a FIFO (3: a non-regular entry is B02)",
    ));
    let mut z = good_zip();
    set_flags(&mut z, "registry.csv", |f| f | 1);
    v.push(nak(
        "encrypted-flag",
        z,
        "B02",
        None,
        "registry.csv",
        "registry.csv has the encryption flag (bit 0) set (3: an encrypted entry is B02)",
    ));
    let mut entries = raw_good_entries();
    entries[1].flags |= 1;
    let mut data = vec![0x11u8; 12]; // PKWARE encryption header
    data.extend_from_slice(&entries[1].data.clone());
    entries[1].data = data;
    v.push(nak(
        "encrypted-pkware",
        raw_zip(&entries),
        "B02",
        None,
        "registry.csv",
        "registry.csv with traditional PKWARE encryption, 12-byte header (3 B02)",
    ));
    let mut entries = raw_good_entries();
    let reg = &mut entries[1];
    reg.method = 99;
    reg.flags |= 1;
    reg.crc = 0;
    reg.extra = vec![0x01, 0x99, 7, 0, 2, 0, b'A', b'E', 3, 8, 0];
    let mut data = vec![0x5Au8; 18]; // salt and password verifier
    data.extend_from_slice(&[0xA5; 64]);
    data.extend_from_slice(&[0x33; 10]); // authentication code
    reg.data = data;
    v.push(nak(
        "encrypted-aes",
        raw_zip(&entries),
        "B02",
        None,
        "registry.csv",
        "registry.csv with WinZip AES-256 (method 99, extra 0x9901) (3 B02)",
    ));
    for (method, what) in [
        (12u16, "bzip2"),
        (14, "LZMA"),
        (93, "Zstandard"),
        (9, "deflate64"),
    ] {
        let mut z = good_zip();
        set_method(&mut z, "registry.csv", method);
        v.push(nak(
            &format!("method-{method}-{}", what.to_lowercase()),
            z,
            "B02",
            None,
            "registry.csv",
            &format!(
                "registry.csv declares compression method {method} ({what}) (3: only stored or deflate; B02)"
            ),
        ));
    }
    let mut files = b.entries(Some(&k));
    for i in 0..13 {
        files.push(entry(&format!("extra{i:02}.txt"), b"x".to_vec()));
    }
    v.push(nak(
        "seventeen-entries",
        sample::zip_entries(&files),
        "B02",
        None,
        "16",
        "17 entries (3: at most 16 entries; B02)",
    ));
    files.pop();
    v.push(nak(
        "sixteen-entries",
        sample::zip_entries(&files),
        "B03",
        None,
        "extra00.txt",
        "16 entries, within the limit: the 12 extra names are what is wrong (3 B03)",
    ));
    // A registry over 1 MiB that deflates far over 200:1.
    let big = compressible_batch(2 << 20);
    let z = big.zip(Some(&k));
    let r = raw_entry(&z, "registry.csv");
    let (size, csize) = (r.usize(&z), r.csize(&z));
    v.push(nak(
        "ratio-over-200",
        z.clone(),
        "B02",
        None,
        "registry.csv",
        &format!(
            "registry.csv of {size} bytes deflated to {csize} (ratio {}, over 200 for an entry over 1 MiB; 3 B02 from the central directory)",
            u64::from(size) / csize as u64
        ),
    ));
    let mut lying = z.clone();
    set_usize(&mut lying, "registry.csv", |_| 100);
    v.push(nak(
        "lying-size-ratio-by-real-bytes",
        lying,
        "B02",
        None,
        "registry.csv",
        &format!(
            "registry.csv declares 100 bytes but inflates to {size} from {csize}: the real bytes pass the ratio limit past 1 MiB before the end of the entry (3, 7.1: B02, not B01)"
        ),
    ));
    let mut lying = good_zip();
    set_usize(&mut lying, "registry.csv", |_| 0xFFFF_FFF0);
    v.push(nak(
        "lying-size-4-gib-declared",
        lying,
        "B02",
        None,
        "registry.csv",
        "registry.csv declares 4294967280 bytes from a few hundred compressed: ratio limit judged from the central directory before inflating (3 B02)",
    ));
    let mut lying = good_zip();
    set_usize(&mut lying, "registry.csv", |s| s + 1);
    v.push(nak(
        "lying-size-one-more",
        lying,
        "B01",
        None,
        "registry.csv",
        "registry.csv declares one byte more than it holds (7.1: a declared size that differs from the real bytes is B01)",
    ));
    let stored = zip_with(|z, o| {
        let o = o.compression_method(zip::CompressionMethod::Stored);
        for (n, bytes) in b.entries(Some(&k)) {
            add(z, o, &n, &bytes);
        }
    });
    let mut lying = stored;
    set_usize(&mut lying, "control.txt", |s| s - 1);
    v.push(nak(
        "lying-size-stored-one-less",
        lying,
        "B01",
        None,
        "control.txt",
        "stored control.txt declares one byte less than its compressed size holds (7.1 B01)",
    ));
    let mut z = good_zip();
    set_crc(&mut z, "registry.csv", |c| c ^ 1);
    v.push(nak(
        "crc-mismatch",
        z,
        "B01",
        None,
        "registry.csv",
        "registry.csv's CRC-32 off by one bit in both headers (7.1: a CRC mismatch is B01)",
    ));
}

fn required_files_and_integrity(v: &mut Vec<Case>) {
    let b = batch();
    let k = key();
    v.push(nak(
        "empty-archive",
        raw_zip(&[]),
        "B03",
        None,
        "control.txt",
        "a readable zip of zero entries (the 22-byte end record alone): every required file missing (3 B03)",
    ));
    let c = b.control();
    let readme = b"read me".to_vec();
    let m = sample::manifest(&[
        ("control.txt", &c),
        ("registry.csv", &b.registry),
        ("readme.txt", &readme),
    ]);
    let mut files = files_with_manifest(&c, &b.registry, &m, Some(&k));
    files.push(entry("readme.txt", readme));
    v.push(nak(
        "extra-entry-listed-and-signed",
        sample::zip_entries(&files),
        "B03",
        None,
        "readme.txt",
        "an extra readme.txt, listed in the manifest and signed (3: any other name is B03)",
    ));
    let mut z = good_zip();
    rename(&mut z, "control.txt", b"Control.txt");
    v.push(nak(
        "wrongly-cased-control",
        z,
        "B03",
        None,
        "Control.txt",
        "Control.txt instead of control.txt (3: names are case-sensitive; B03)",
    ));
    let m = sample::manifest(&[("control.txt", &c)]);
    let z = sample::zip_entries(&[
        entry("control.txt", c.clone()),
        entry("manifest.sha256.hmac", format!("{}\n", k.sign(&m))),
        entry("manifest.sha256", m),
    ]);
    v.push(nak(
        "registry-missing",
        z,
        "B03",
        None,
        "registry.csv",
        "no registry.csv (3 B03)",
    ));
    v.push(nak(
        "hmac-missing",
        b.zip(None),
        "B05",
        None,
        "manifest.sha256.hmac",
        "no manifest.sha256.hmac while a key is configured for MUNIS (6 B05)",
    ));
    v.push(nak(
        "hmac-other-key",
        b.zip(Some(&Key([7; 32]))),
        "B05",
        None,
        "manifest.sha256.hmac",
        "the HMAC made with another key (6 B05)",
    ));
    let mut reg = b.registry.clone();
    reg.push(b'x');
    let m = sample::manifest(&[("control.txt", &c), ("registry.csv", &reg)]);
    v.push(nak(
        "manifest-hash-mismatch",
        sample::zip_entries(&files_with_manifest(&c, &b.registry, &m, Some(&k))),
        "B04",
        None,
        "registry.csv",
        "the manifest's registry.csv hash is of other bytes; the HMAC signs that manifest (6 B04)",
    ));
    let text = String::from_utf8(c.clone()).expect("ascii");
    let total = format!("amount_total={}", sample_total(&b));
    let huge_total = text.replace(&total, &format!("amount_total={}.00", "9".repeat(9998)));
    v.push(nak(
        "control-amount-total-10000-digits",
        pack(huge_total.as_bytes(), &b.registry),
        "B08",
        None,
        "amount_total",
        "control amount_total of 10000 digits (9998 before the point): well-formed (4: so'm with exactly 2 decimals, no width given) and no sum of a registry can reach it (6 B08)",
    ));
    let huge_rows = text.replace("rows=3\r\n", &format!("rows=3{}\r\n", "0".repeat(9999)));
    v.push(nak(
        "control-rows-10000-digits",
        pack(huge_rows.as_bytes(), &b.registry),
        "B08",
        None,
        "rows",
        "control rows of 10000 digits: a well-formed number (4) that no registry can match (6 B08)",
    ));
    let mut bad = b.clone();
    bad.sender = "BANKX".into();
    v.push(Case {
        as_name: bad.file_name(),
        ..nak(
            "sender-not-configured",
            bad.zip(Some(&k)),
            "B10",
            None,
            "BANKX",
            "a consistent archive from sender BANKX, not configured here (7.1 B10); processed as BANKX_SUDBILLING_PAY_20261121_001.zip",
        )
    });
}

fn long_lines(v: &mut Vec<Case>) {
    // Row 2 (physical line 3) padded with its purpose to exactly `len` bytes before its CRLF.
    let with_line_of = |len: usize| {
        let mut rows = pay_rows();
        let base = rows[1].join(";").len() - rows[1][10].len();
        rows[1][10] = "x".repeat(len - base);
        assert_eq!(rows[1].join(";").len(), len);
        batch_of(&rows).zip(Some(&key()))
    };
    v.push(ack(
        "line-of-exactly-64-kib",
        with_line_of(64 << 10),
        &row2(202, "purpose"),
        "row 2 is a physical line of exactly 65536 bytes (the limit, CRLF not counted): read, and its 65400-character purpose is over 500 (3, 5.1: 202 purpose)",
    ));
    v.push(nak(
        "line-of-64-kib-plus-one",
        with_line_of((64 << 10) + 1),
        "B02",
        Some(3),
        "registry.csv",
        "row 2 is a physical line of 65537 bytes (3: a registry line over 64 KiB is B02)",
    ));
    let mut reg = b"x".repeat(70_000);
    reg.extend_from_slice(&batch().registry);
    v.push(nak(
        "header-line-over-64-kib",
        with_registry(&batch(), &reg),
        "B02",
        Some(1),
        "registry.csv",
        "70000 bytes glued before the header: line 1 is over 64 KiB (3 B02, judged before the header)",
    ));
    let mut rows = pay_rows();
    let purpose: String = "ab\r\n".repeat(20_000);
    rows[1][10] = purpose;
    v.push(ack(
        "long-record-of-short-lines",
        batch_of(&rows).zip(Some(&key())),
        &row2(202, "purpose"),
        "row 2's quoted purpose holds 20000 CRLF line breaks (80000 bytes): no physical line is over 64 KiB, so no B02; the purpose is over 500 characters (5, 5.1: 202 purpose)",
    ));
    // A million columns: 1,000,000 fields, 999,999 separators.
    let mut rows = pay_rows();
    rows[1].resize(1_000_000, String::new());
    v.push(nak(
        "million-columns",
        batch_of(&rows).zip(Some(&key())),
        "B02",
        Some(3),
        "registry.csv",
        "row 2 has 1000000 fields (999999 separators, a line of about 1 MB): the 64 KiB line limit is met before the row could be counted as a 202 (3 B02 wins over the row error of 5)",
    ));
    let mut rows = pay_rows();
    rows[1].resize(30_000, String::new());
    v.push(ack(
        "thirty-thousand-columns",
        batch_of(&rows).zip(Some(&key())),
        &row2(202, ""),
        "row 2 has 30000 fields on a 30 KB line, under the line limit: a row with more fields than the header is a row error with no field (5: 202)",
    ));
}

fn dialect(v: &mut Vec<Case>) {
    let b = batch();
    let mut reg = b.registry.clone();
    assert!(reg.ends_with(b";\r\n"));
    reg.truncate(reg.len() - 2);
    reg.extend_from_slice(b"\"open purpose\r\n");
    v.push(nak(
        "unterminated-quote-last-row",
        with_registry(&b, &reg),
        "B07",
        Some(4),
        "registry.csv",
        "the last row's purpose (line 4) opens a quote that never closes (5: a quoted field open at the end of the file is B07; the message names the line where the open field began, not the line after the last line end)",
    ));
    let reg = replace_once(&b.registry, b";Davlat boji\r\n", b";\"Davlat boji\r\n");
    v.push(nak(
        "unterminated-quote-first-row",
        with_registry(&b, &reg),
        "B07",
        Some(2),
        "registry.csv",
        "row 1's purpose (line 2) opens a quote that swallows the rest of the file (5 B07; the message names line 2, where the open field began)",
    ));
    let reg = replace_once(&b.registry, b"Davlat boji", b"\"Davlat\" boji");
    v.push(nak(
        "text-after-closing-quote",
        with_registry(&b, &reg),
        "B07",
        Some(2),
        "registry.csv",
        "row 1's purpose is \"Davlat\" boji: text after a closing quote (5 B07)",
    ));
    let reg = replace_once(&b.registry, b"Yo'ldoshev", b"Yo'l\"dosh\"ev");
    v.push(ack(
        "quote-inside-unquoted-field",
        with_registry(&b, &reg),
        &ALL_ONE,
        "a \" inside an unquoted payer_name is an ordinary character (5); payer_name is not compared to the invoice (7.2 304 is about the payer id)",
    ));
    let mut rows = pay_rows();
    rows[1][5] = "To'xtayeva\0Malika".into();
    v.push(ack(
        "nul-in-payer-name",
        batch_of(&rows).zip(Some(&key())),
        &ALL_ONE,
        "a NUL byte inside payer_name: NUL is a valid UTF-8 character and payer_name is 1 to 200 characters with no pattern (5.1), so the row is accepted",
    ));
    let mut rows = pay_rows();
    rows[1][6] = "85000\0.00".into();
    v.push(ack(
        "nul-in-amount",
        batch_of(&rows).zip(Some(&key())),
        &row2(202, "amount"),
        "a NUL byte inside the amount: it does not match [0-9]{1,13}.[0-9]{2} (5, 5.1: 202 amount; counts as zero in amount_total)",
    ));
    let mut rows = pay_rows();
    rows[1][0] = "2578601851\u{0}6943".into();
    v.push(ack(
        "nul-in-payment-id",
        batch_of(&rows).zip(Some(&key())),
        &row2(202, "payment_id"),
        "a NUL byte inside payment_id: not 12 to 20 digits (5.1: 202 payment_id)",
    ));
    let mut rows = pay_rows();
    rows[1][10] = "Sud\0xarajatlari".into();
    v.push(ack(
        "nul-in-purpose",
        batch_of(&rows).zip(Some(&key())),
        &ALL_ONE,
        "a NUL byte inside the optional purpose (0 to 500 characters, no pattern; 5.1): accepted",
    ));
    let text = String::from_utf8(b.registry.clone()).expect("utf-8");
    let mut lines = text.split("\r\n");
    let mixed = format!(
        "{}\r\n{}\n{}\r\n{}\n",
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or(""),
        lines.next().unwrap_or("")
    );
    v.push(ack(
        "mixed-line-ends",
        with_registry(&b, mixed.as_bytes()),
        &ALL_ONE,
        "CRLF and LF alternate as line ends (5: each of CRLF and LF ends a row)",
    ));
    let mut rows = pay_rows();
    rows[0][10] = "Davlat\nboji\r\nto'lovi".into();
    v.push(ack(
        "line-breaks-inside-quotes",
        batch_of(&rows).zip(Some(&key())),
        &ALL_ONE,
        "row 1's quoted purpose holds an LF and a CRLF: one row over three physical lines, the data row numbers stay 1, 2, 3 (5, 8)",
    ));
    let reg = replace_once(&b.registry, b"Davlat boji", b"Davlat\rboji");
    v.push(ack(
        "lone-cr-in-a-field",
        with_registry(&b, &reg),
        &ALL_ONE,
        "a lone CR inside row 1's unquoted purpose: only CRLF or LF end a row (5), so it is an ordinary character of a field with no pattern",
    ));
    let mut reg = b.registry.clone();
    reg.extend_from_slice(b"\r\n");
    let mut b4 = b.clone();
    b4.registry = reg;
    b4.rows = 4;
    v.push(ack(
        "trailing-blank-line",
        b4.zip(Some(&key())),
        &[(1, 1, ""), (2, 1, ""), (3, 1, ""), (4, 202, "")],
        "a blank line after the last row is a row of one empty field (5), counted in rows=4: 202 with no field (wrong field count)",
    ));
    let mut rows = pay_rows();
    rows[2].truncate(6);
    let cut = batch_of(&rows);
    let mut reg = cut.registry.clone();
    reg.truncate(reg.len() - 2); // and no final line end
    v.push(ack(
        "registry-cut-mid-row",
        with_registry(&cut, &reg),
        &[(1, 1, ""), (2, 1, ""), (3, 202, "")],
        "the registry ends in the middle of row 3, after payer_name, with no line end: a row of 6 fields (5: 202 with no field; its amount is not in amount_total, 6)",
    ));
}

fn encodings(v: &mut Vec<Case>) {
    let b = batch();
    for (enc, name) in [
        (Charset::Windows1251, "windows-1251"),
        (Charset::Cp866, "cp866"),
    ] {
        let bb = batch_enc(enc);
        let mut reg = b"\xEF\xBB\xBF".to_vec();
        reg.extend_from_slice(&bb.registry);
        v.push(nak(
            &format!("utf8-bom-in-{name}"),
            with_registry(&bb, &reg),
            "B07",
            Some(1),
            "registry.csv",
            &format!(
                "a UTF-8 BOM before a {name} registry: only a UTF-8 file may start with a BOM; in {name} the bytes are letters, so the header differs from the schema (5, 7.1 B07)"
            ),
        ));
    }
    let mut reg = b"\xEF\xBB\xBF".to_vec();
    reg.extend_from_slice(&b.registry);
    v.push(ack(
        "utf8-bom-in-utf8",
        with_registry(&b, &reg),
        &ALL_ONE,
        "a UTF-8 BOM before a UTF-8 registry is allowed (5)",
    ));
    let mut reg = b"\xFF\xFE".to_vec();
    reg.extend_from_slice(&b.registry);
    v.push(nak(
        "utf16-bom-in-utf8",
        with_registry(&b, &reg),
        "B07",
        Some(1),
        "registry.csv",
        "a UTF-16LE BOM (FF FE) before a UTF-8 registry: invalid UTF-8 bytes on line 1 (7.1 B07)",
    ));
    let utf16: Vec<u8> = String::from_utf8(b.registry.clone())
        .expect("utf-8")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    v.push(nak(
        "utf16le-registry-declared-utf8",
        with_registry(&b, &utf16),
        "B07",
        Some(1),
        "registry.csv",
        "the whole registry in UTF-16LE without BOM, declared utf-8: every other byte is NUL, so the header differs from the schema (7.1 B07)",
    ));
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "overlong-2-byte-slash",
            b"\xC0\xAF",
            "C0 AF, an overlong '/'",
        ),
        (
            "overlong-2-byte-nul",
            b"\xC0\x80",
            "C0 80, an overlong NUL (modified UTF-8)",
        ),
        (
            "overlong-3-byte-slash",
            b"\xE0\x80\xAF",
            "E0 80 AF, a 3-byte overlong '/'",
        ),
        (
            "overlong-4-byte-slash",
            b"\xF0\x80\x80\xAF",
            "F0 80 80 AF, a 4-byte overlong '/'",
        ),
        (
            "utf8-surrogate",
            b"\xED\xA0\x80",
            "ED A0 80, an encoded UTF-16 surrogate",
        ),
        (
            "utf8-above-10ffff",
            b"\xF4\x90\x80\x80",
            "F4 90 80 80, above U+10FFFF",
        ),
    ];
    for (slug, bytes, what) in cases {
        v.push(nak(
            slug,
            with_registry(&b, &registry_with_bytes_at(&b, b"To'xtayeva", bytes)),
            "B07",
            Some(3),
            "payer_name",
            &format!("row 2's payer_name holds {what}: invalid in UTF-8 (7.1 B07)"),
        ));
    }
    let cyr = Charset::Windows1251.encode("Тошматов").expect("encodable");
    v.push(nak(
        "windows-1251-bytes-declared-utf8",
        with_registry(&b, &registry_with_bytes_at(&b, b"To'xtayeva", &cyr)),
        "B07",
        Some(3),
        "payer_name",
        "row 2's payer_name holds windows-1251 Cyrillic bytes in a registry declared utf-8 (7.1 B07)",
    ));
    let bw = batch_enc(Charset::Windows1251);
    v.push(nak(
        "byte-0x98-in-windows-1251",
        with_registry(
            &bw,
            &registry_with_bytes_at(&bw, b"To'xtayeva", b"\xC0\x98"),
        ),
        "B07",
        Some(3),
        "payer_name",
        "row 2's payer_name holds byte 0x98, undefined in windows-1251 (7.1 B07)",
    ));
}

fn numbers_and_dates(v: &mut Vec<Case>) {
    let one =
        |slug: &str, col: usize, value: String, status: u16, field: &'static str, note: &str| {
            let mut rows = pay_rows();
            rows[1][col] = value;
            ack(
                slug,
                batch_of(&rows).zip(Some(&key())),
                &row2(status, field),
                note,
            )
        };
    v.push(one(
        "amount-10000-digits",
        6,
        format!("{}.00", "1".repeat(9998)),
        202,
        "amount",
        "row 2's amount has 10000 digits (9998 before the point; a 10 KB line, under the limit): over [0-9]{1,13}.[0-9]{2} (5, 5.1: 202 amount, counted as zero in amount_total)",
    ));
    v.push(one(
        "amount-14-integer-digits",
        6,
        format!("{}.00", "1".repeat(14)),
        202,
        "amount",
        "row 2's amount has 14 digits before the point, one over the 13 of the pattern (5: 202 amount)",
    ));
    v.push(one(
        "payment-id-10000-digits",
        0,
        "7".repeat(10_000),
        202,
        "payment_id",
        "row 2's payment_id has 10000 digits: not 12 to 20 (5.1: 202 payment_id)",
    ));
    v.push(one(
        "invoice-no-10000-digits",
        2,
        "5".repeat(10_000),
        202,
        "invoice_no",
        "row 2's invoice_no has 10000 digits: not 20 (5.1: 202 invoice_no)",
    ));
    for (slug, at, what) in [
        (
            "paid-at-month-13-day-45",
            "2026-13-45 00:00:00",
            "month 13, day 45",
        ),
        (
            "paid-at-february-29-2026",
            "2026-02-29 10:00:00",
            "29 February of a common year",
        ),
        ("paid-at-hour-24", "2026-11-21 24:00:00", "hour 24"),
        (
            "paid-at-leap-second",
            "2026-11-21 23:59:60",
            "second 60 (Tashkent wall-clock time has none)",
        ),
        (
            "paid-at-after-created-at",
            "2026-11-22 01:05:01",
            "one second after created_at",
        ),
        (
            "paid-at-iso-t",
            "2026-11-21T10:29:36",
            "a T instead of the space",
        ),
    ] {
        v.push(one(
            slug,
            1,
            at.into(),
            202,
            "paid_at",
            &format!("row 2's paid_at is {at}: {what} (5, 5.1: 202 paid_at)"),
        ));
    }
}

fn empty_and_header_only(v: &mut Vec<Case>) {
    let mut empty = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &[], 6);
    empty.registry = Vec::new();
    v.push(nak(
        "empty-registry",
        empty.zip(Some(&key())),
        "B07",
        None,
        "registry.csv",
        "registry.csv of 0 bytes, control rows=0 amount_total=0.00: there is no header line (5, 7.1 B07; the message names the file, no line)",
    ));
    let header = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &[], 6);
    v.push(ack(
        "header-only",
        header.zip(Some(&key())),
        &[],
        "the header line alone with control rows=0 amount_total=0.00: a registry of no rows (ACK with an empty result.csv)",
    ));
    let mut no_end = header.clone();
    no_end.registry = PAY_HEADER.join(";").into_bytes();
    v.push(ack(
        "header-only-no-line-end",
        no_end.zip(Some(&key())),
        &[],
        "the header line alone without a line end (5: the last line end is optional): no rows",
    ));
    let mut claims = header.clone();
    claims.rows = 1;
    v.push(nak(
        "header-only-rows-1",
        claims.zip(Some(&key())),
        "B08",
        None,
        "rows",
        "the header alone but control says rows=1 (6 B08)",
    ));
}

/// An entry's facts are written twice (central record; local header or data descriptor), and
/// the end record counts the central records: where the copies disagree, another zip tool would
/// read another archive than the receiver judged (7.1 B01).
fn two_copies(v: &mut Vec<Case>) {
    for (slug, offset, what) in [
        ("local-crc-differs", 14, "CRC-32"),
        ("local-compressed-size-differs", 18, "compressed size"),
        ("local-size-differs", 22, "uncompressed size"),
    ] {
        let mut z = good_zip();
        let r = raw_entry(&z, "registry.csv");
        let lied = u32_at(&z, r.local + offset) ^ 0x10;
        put_u32(&mut z, r.local + offset, lied);
        v.push(nak(
            slug,
            z,
            "B01",
            None,
            "registry.csv",
            &format!("the {what} in registry.csv's local header differs from its central record (7.1 B01: a declared size or CRC that differs; 3: declared sizes can lie)"),
        ));
    }
    let mut z = good_zip();
    let r = raw_entry(&z, "registry.csv");
    z[r.local + 30..r.local + 42].copy_from_slice(b"../istry.csv");
    v.push(nak(
        "local-name-differs",
        z,
        "B01",
        None,
        "registry.csv",
        "registry.csv's local header names ../istry.csv: a tool extracting from the local headers would write another file (7.1 B01)",
    ));
    let mut entries = raw_good_entries();
    entries.push(RawEntry::stored("evil.txt", b"hidden"));
    let mut z = raw_zip(&entries);
    let eocd = z.len() - 22;
    put_u16(&mut z, eocd + 8, 4);
    put_u16(&mut z, eocd + 10, 4);
    v.push(nak(
        "end-record-hides-an-entry",
        z,
        "B01",
        None,
        "central directory",
        "the end record counts 4 entries, the central directory holds a fifth (evil.txt) that a tool walking the directory would see (7.1 B01: an unreadable central directory)",
    ));
    let mut entries = raw_good_entries();
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let reg = &mut entries[1];
    std::io::Write::write_all(&mut deflate, &reg.data).unwrap_or_default();
    reg.data = deflate.finish().unwrap_or_default();
    reg.data.extend_from_slice(b"junk!");
    reg.method = 8;
    v.push(nak(
        "deflate-ends-before-its-size",
        raw_zip(&entries),
        "B01",
        None,
        "registry.csv",
        "registry.csv's deflate stream ends 5 bytes before its declared compressed size (7.1 B01: a declared size that differs from the real bytes)",
    ));
    v.push(nak(
        "entries-overlap",
        quoted_overlap(),
        "B01",
        None,
        "overlaps",
        "registry.csv's local header and data lie inside control.txt's stored data (the quoted-overlap zip bomb; unzip: overlapped components): B01",
    ));
}

// ---------------------------------------------------------------------------------------------
// Building batches (the sender side of reestr::sample)

fn batch_of(rows: &[Vec<String>]) -> Batch {
    Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, rows, 6)
}

fn batch_enc(enc: Charset) -> Batch {
    Batch::new(BatchType::PAY, "001", enc, &PAY_HEADER, &pay_rows(), 6)
}

fn sample_total(b: &Batch) -> String {
    reestr::amount::format(b.amount_total)
}

/// A registry of at least `bytes` bytes that deflates far over 200:1: rows whose purpose is a
/// run of 30000 `x` (a line under the 64 KiB limit).
fn compressible_batch(bytes: usize) -> Batch {
    let mut row = pay_rows().remove(0);
    row[10] = "x".repeat(30_000);
    let rows: Vec<Vec<String>> = std::iter::repeat_n(row, bytes / 30_000 + 1).collect();
    batch_of(&rows)
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} in the registry", String::from_utf8_lossy(needle)))
}

fn replace_once(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = find(hay, from);
    let mut out = hay[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&hay[at + from.len()..]);
    out
}

/// A zip written with the zip writer, one closure call per entry.
fn zip_with(
    build: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>, SimpleFileOptions),
) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let t = zip::DateTime::from_date_and_time(2026, 11, 22, 1, 5, 0).unwrap_or_default();
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(t);
    build(&mut z, opts);
    z.finish().expect("zip finishes").into_inner()
}

// ---------------------------------------------------------------------------------------------
// Raw zip patching (APPNOTE 4.3.7 local header, 4.3.12 central header, 4.3.16 end record)
