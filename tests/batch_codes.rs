//! Batch rejection codes `B01`–`B10` (agreement §3, §6, §7.1), the order in which they win,
//! and the §8 rules a NAK response follows (`created_at`, name, signing, zip entry times).
//!
//! Every test builds its archive from the sender-side helpers of `reestr::sample` and, where a
//! defect cannot be made with a zip writer, patches the raw bytes (APPNOTE offsets below).

mod common;
use common::batches::*;
use common::rawzip::*;
use common::*;
use reestr::charset::Charset;
use reestr::engine::{Engine, Handled};
use reestr::integrity::Key;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER, REC_HEADER, REV_HEADER};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;

const NAME: &str = "MUNIS_SUDBILLING_PAY_20261121_001.zip";
const BATCH_ID: &str = "MUNIS_SUDBILLING_PAY_20261121_001";
const ACK: &str = "SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip";
const NAK: &str = "SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip";
const CREATED_AT: &str = "2026-11-22T01:05:00+05:00";
const FALLBACK_CREATED_AT: &str = "2026-11-21T00:00:00+05:00";

// ---------------------------------------------------------------------------------------------
// Building batches

/// A consistent archive whose `control.txt` is the batch's, edited by `edit`.
fn with_control(edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let b = batch();
    let control = edit(String::from_utf8(b.control()).expect("ascii"));
    pack(control.as_bytes(), &b.registry)
}

/// A signed archive of the batch with this manifest (the HMAC signs the manifest as given).
fn with_manifest(manifest: &[u8]) -> Vec<u8> {
    let b = batch();
    sample::zip_entries(&files_with_manifest(
        &b.control(),
        &b.registry,
        manifest,
        Some(&key()),
    ))
}

/// The right manifest of [`batch`].
fn good_manifest() -> String {
    let b = batch();
    String::from_utf8(sample::manifest(&[
        ("control.txt", &b.control()),
        ("registry.csv", &b.registry),
    ]))
    .expect("ascii")
}

/// Signed archive of the batch, with its HMAC entry holding exactly these bytes.
fn with_hmac_entry(b: &Batch, hmac: &[u8]) -> Vec<u8> {
    let control = b.control();
    let m = sample::manifest(&[("control.txt", &control), ("registry.csv", &b.registry)]);
    sample::zip_entries(&[
        entry("control.txt", control),
        entry("registry.csv", b.registry.clone()),
        entry("manifest.sha256.hmac", hmac),
        entry("manifest.sha256", m),
    ])
}

/// A zip written with the zip writer, one closure call per entry.
fn zip_with(
    build: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>, SimpleFileOptions),
) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    build(&mut z, opts);
    z.finish().expect("zip finishes").into_inner()
}

// ---------------------------------------------------------------------------------------------
// Raw zip patching (APPNOTE 4.3.7 local header, 4.3.12 central header, 4.3.16 end record)

// ---------------------------------------------------------------------------------------------
// Judging

/// Asserts a NAK with this code, also in the response's `control.txt`; returns the message.
#[track_caller]
fn assert_nak(rx: &Rx, h: &Handled, code: &str) -> String {
    assert_eq!(
        (h.result.as_str(), h.code.as_deref()),
        ("NAK", Some(code)),
        "message: {:?}",
        h.message
    );
    let resp = h.response.clone().expect("a response was written");
    assert!(resp.ends_with("_NAK.zip"), "{resp}");
    let control = rx.response_control(&resp);
    assert_eq!(control_value(&control, "result").as_deref(), Some("NAK"));
    assert_eq!(control_value(&control, "error").as_deref(), Some(code));
    let message = control_value(&control, "message").expect("message");
    assert!(!message.is_empty());
    h.message.clone().expect("message")
}

#[track_caller]
fn assert_ack(h: &Handled) {
    assert_eq!(
        (h.result.as_str(), h.code.as_deref()),
        ("ACK", None),
        "message: {:?}",
        h.message
    );
}

/// A fresh receiver (partner MUNIS with the reference key) judges `bytes` as [`NAME`];
/// asserts the code and returns the message.
#[track_caller]
fn nak(bytes: &[u8], code: &str) -> String {
    nak_with(&config_text(MUNIS_WITH_KEY), NAME, bytes, code)
}

#[track_caller]
fn nak_with(config: &str, name: &str, bytes: &[u8], code: &str) -> String {
    let mut rx = Rx::with(config);
    let h = rx.process(name, bytes);
    assert_nak(&rx, &h, code)
}

/// A fresh receiver judges `bytes` as [`NAME`] and must answer ACK.
#[track_caller]
fn ack(bytes: &[u8]) -> Rx {
    ack_with(&config_text(MUNIS_WITH_KEY), bytes)
}

#[track_caller]
fn ack_with(config: &str, bytes: &[u8]) -> Rx {
    let mut rx = Rx::with(config);
    let h = rx.process(NAME, bytes);
    assert_ack(&h);
    rx
}

/// Configuration with partner MUNIS (reference key) and these `[limits]` lines.
fn limits(lines: &str) -> String {
    config_text(&format!("{MUNIS_WITH_KEY}[limits]\n{lines}\n"))
}

#[track_caller]
fn assert_mentions(message: &str, what: &str) {
    assert!(
        message.contains(what),
        "message {message:?} should name {what:?}"
    );
}

#[test]
fn the_good_archive_is_acknowledged() {
    // The baseline every defect below departs from.
    let rx = ack(&good_zip());
    assert_eq!(rx.outbox(), [ACK]);
}

// ---------------------------------------------------------------------------------------------
// B01: not a readable zip archive

#[test]
fn b01_truncated_archive_at_many_offsets() {
    let z = good_zip();
    let mut rx = Rx::new();
    let mut cuts: Vec<usize> = (1..=10).map(|k| z.len() * k / 11).collect();
    cuts.extend([1, 4, 30, z.len() - 22, z.len() - 1]);
    for cut in cuts {
        let h = rx.process(NAME, &z[..cut]);
        assert_eq!(
            (h.result.as_str(), h.code.as_deref()),
            ("NAK", Some("B01")),
            "cut at {cut} of {}: {:?}",
            z.len(),
            h.message
        );
        // Said in the receiver's words, not the zip library's, naming the archive (§8).
        let m = h.message.unwrap_or_default();
        assert_eq!(
            m,
            format!(
                "{NAME}: not a readable zip archive: no complete end of central directory record (the file is truncated, or not a zip)"
            ),
            "cut at {cut}"
        );
    }
    // A NAK never makes the batch id "processed": the whole archive still gets an ACK.
    assert_ack(&rx.process(NAME, &z));
}

#[test]
fn b01_not_a_zip_at_all() {
    nak(
        b"payment_id;paid_at\r\n25786018516942;2026-11-21 13:22:10\r\n",
        "B01",
    );
    nak(&[0u8; 4096], "B01");
    nak(b"PK\x03\x04 but nothing after the signature", "B01");
}

#[test]
fn b01_empty_file() {
    nak(b"", "B01");
}

#[test]
fn b01_corrupt_deflate_stream() {
    let mut z = good_zip();
    let r = raw_entry(&z, "registry.csv");
    // First block header: BFINAL=1, BTYPE=11 (reserved): an invalid deflate stream.
    let start = r.data_start(&z);
    z[start] = 0xFF;
    let m = nak(&z, "B01");
    assert_mentions(
        &m,
        "entry \"registry.csv\": corrupt deflate stream: invalid block type",
    );
}

#[test]
fn b01_flipped_bytes_inside_compressed_data() {
    let good = good_zip();
    let r = raw_entry(&good, "registry.csv");
    let (start, len) = (r.data_start(&good), r.csize(&good));
    let mut rx = Rx::new();
    for at in [len / 4, len / 2, 3 * len / 4, len - 1] {
        let mut z = good.clone();
        z[start + at] ^= 0x55;
        z[start + at.saturating_sub(1)] ^= 0xA0;
        let h = rx.process(NAME, &z);
        let m = assert_nak(&rx, &h, "B01");
        assert_mentions(&m, "registry.csv");
    }
    // Every fourth byte flipped in turn: a corrupt stream is said in the decoder's words of the
    // stream, never in those of its state ("repeated call with bad state", which the decoder
    // gives for a fault its fast path found: "invalid data").
    let mut said = std::collections::BTreeSet::new();
    for at in (0..len).step_by(4) {
        let mut z = good.clone();
        z[start + at] ^= 0xFF;
        let h = rx.process(NAME, &z);
        let m = assert_nak(&rx, &h, "B01");
        if let Some((_, why)) = m.split_once("corrupt deflate stream: ") {
            said.insert(why.to_string());
        }
    }
    assert!(said.contains("invalid data"), "{said:?}");
    assert!(said.contains("invalid distances set"), "{said:?}");
    assert!(
        !said.iter().any(|w| w.contains("repeated call")),
        "{said:?}"
    );
}

#[test]
fn b01_crc_mismatch() {
    let mut z = good_zip();
    set_crc(&mut z, "registry.csv", |c| c ^ 1);
    let m = nak(&z, "B01");
    assert_mentions(&m, "registry.csv");
    assert_mentions(&m, "CRC");
}

#[test]
fn b01_declared_size_differs_from_the_real_bytes() {
    for delta in [1i64, -1, 1000] {
        let mut z = good_zip();
        set_usize(&mut z, "registry.csv", |s| (i64::from(s) + delta) as u32);
        let m = nak(&z, "B01");
        assert_mentions(&m, "registry.csv");
    }
    // Also on a stored entry (no deflate end marker to notice it).
    let b = batch();
    let z0 = zip_with(|z, o| {
        let stored = o.compression_method(zip::CompressionMethod::Stored);
        for (n, bytes) in b.entries(Some(&key())) {
            add(z, stored, &n, &bytes);
        }
    });
    ack(&z0);
    let mut z = z0.clone();
    set_usize(&mut z, "control.txt", |s| s - 1);
    let m = nak(&z, "B01");
    assert_mentions(&m, "control.txt");
}

/// The good archive with a 32-bit field of the registry's local header only (offset in it) set.
fn with_local32(offset: usize, f: impl Fn(u32) -> u32) -> Vec<u8> {
    let mut z = good_zip();
    let r = raw_entry(&z, "registry.csv");
    let v = f(u32_at(&z, r.local + offset));
    put_u32(&mut z, r.local + offset, v);
    z
}

#[test]
fn b01_local_header_differs_from_the_central_directory() {
    // §7.1: a CRC mismatch or a declared size that differs from the real bytes is B01; §3:
    // declared sizes can lie. A tool that reads the local headers would believe these.
    for (what, offset) in [
        ("CRC", 14),
        ("compressed size", 18),
        ("uncompressed size", 22),
    ] {
        // Zero too: only a data descriptor (flag bit 3) lets a local header leave them zero.
        for f in [|v: u32| v ^ 1, |v: u32| v + 1000, |_: u32| 0] {
            let m = nak(&with_local32(offset, f), "B01");
            assert_mentions(&m, "registry.csv");
            assert_mentions(&m, what);
            assert_mentions(&m, "local header");
        }
    }
    // The name (same length, so every offset stays right), and one that climbs out.
    for local in [&b"registry.csX"[..], b"../istry.csv"] {
        let mut z = good_zip();
        let r = raw_entry(&z, "registry.csv");
        z[r.local + 30..r.local + 42].copy_from_slice(local);
        let m = nak(&z, "B01");
        assert_mentions(&m, "the name in its local header");
    }
    // The method and the encryption flag.
    let mut z = good_zip();
    let r = raw_entry(&z, "registry.csv");
    put_u16(&mut z, r.local + 8, 0);
    assert_mentions(&nak(&z, "B01"), "compression method");
    let mut z = good_zip();
    put_u16(&mut z, r.local + 6, 1);
    assert_mentions(&nak(&z, "B01"), "encryption flag");
}

#[test]
fn b01_a_record_or_local_header_missing_where_the_directory_says_names_the_entry() {
    let z = good_zip();
    let dir = directory(&z);
    let shown = |r: &Raw| String::from_utf8_lossy(&r.name).into_owned();
    // The NAK's message for the good archive with one field set.
    let nak_with_u16 = |at: usize, v: u16| {
        let mut bad = z.clone();
        put_u16(&mut bad, at, v);
        nak(&bad, "B01")
    };
    let nak_with_u32 = |at: usize, v: u32| {
        let mut bad = z.clone();
        put_u32(&mut bad, at, v);
        nak(&bad, "B01")
    };
    // The second central record's signature broken: the zip reader finds no header where the
    // first record ends.
    assert_mentions(
        &nak_with_u32(dir[1].central, 0x0301_4b50),
        &format!(
            "not a readable zip archive: no central directory header follows the central record of entry {:?} (1 of the 4 records the end record counts were read)",
            shown(&dir[0])
        ),
    );
    // The same where the end record defers to a zip64 end record.
    let mut bad = z.clone();
    put_u32(&mut bad, dir[1].central, 0x0301_4b50);
    assert_mentions(
        &nak(&with_zip64_end(&bad, |_| {}), "B01"),
        "(1 of the 4 records the end record counts were read)",
    );
    // The first record's broken: none is found where the directory starts.
    assert_mentions(
        &nak_with_u32(dir[0].central, 0x0301_4b50),
        &format!(
            "not a readable zip archive: no central directory header where the end record says the directory starts (byte {})",
            dir[0].central
        ),
    );
    // The end record's directory offset at the end record itself, inside the first record,
    // and past the end of the file.
    let eocd = z.len() - 22;
    for declared in [eocd, dir[0].central + 46] {
        assert_mentions(
            &nak_with_u32(eocd + 16, declared as u32),
            &format!(
                "not a readable zip archive: no central directory header where the end record says the directory starts (byte {declared})"
            ),
        );
    }
    for declared in [z.len() as u32 + 100, 0xffff_fff0] {
        assert_mentions(
            &nak_with_u32(eocd + 16, declared),
            &format!(
                "not a readable zip archive: the end record says the central directory starts at byte {declared}, past the end of the file ({} bytes)",
                z.len()
            ),
        );
    }
    // Lengths in a record that run past the end of the file: the first record's name, and the
    // second's (the zip reader says "Variable-length field extends beyond file boundary").
    assert_mentions(
        &nak_with_u16(dir[0].central + 28, 60_000),
        &format!(
            "not a readable zip archive: the first central directory header, where the end record says the directory starts (byte {}), runs past the end of the file",
            dir[0].central
        ),
    );
    assert_mentions(
        &nak_with_u16(dir[1].central + 32, 60_000),
        &format!(
            "not a readable zip archive: the central directory header after that of entry {:?} runs past the end of the file (1 of the 4 records the end record counts were read)",
            shown(&dir[0])
        ),
    );
    // A central record whose local header offset points into another entry's data.
    assert_mentions(
        &nak_with_u32(dir[2].central + 42, dir[0].local as u32 + 5),
        &format!(
            "not a readable zip archive: entry {:?}: no local file header where its central record says the entry starts",
            shown(&dir[2])
        ),
    );
    // The end record's directory offset a few bytes early, or 0: the zip reader finds the
    // directory all the same, and takes the archive to lie that many bytes further on, so no
    // local header is where it looks; the end record is at fault, not an entry.
    let found = u32_at(&z, eocd + 16);
    for declared in [found - 7, 0] {
        assert_mentions(
            &nak_with_u32(eocd + 16, declared),
            &format!(
                "not a readable zip archive: the end record says the central directory starts at byte {declared}; it starts at byte {found}"
            ),
        );
    }
    // One that points 10 bytes before the end of the file: the header is cut short there.
    assert_mentions(
        &nak_with_u32(dir[3].central + 42, z.len() as u32 - 10),
        &format!(
            "not a readable zip archive: entry {:?}: its local file header is cut short",
            shown(&dir[3])
        ),
    );
}

#[test]
fn b01_central_directory_holds_more_records_than_the_end_record_declares() {
    // A fifth record (an entry not allowed, B03 if it were seen) hidden from a reader that
    // trusts the end record's count of four.
    let mut entries = raw_good_entries();
    entries.push(RawEntry::stored("evil.txt", b"hidden"));
    let mut z = raw_zip(&entries);
    let eocd = z.len() - 22;
    assert_eq!(u32_at(&z, eocd), 0x0605_4b50);
    put_u16(&mut z, eocd + 8, 4);
    put_u16(&mut z, eocd + 10, 4);
    let m = nak(&z, "B01");
    assert_mentions(&m, "central directory");
    // Declaring three of four hides the HMAC: still B01, not B05.
    let mut z = good_zip();
    let eocd = z.len() - 22;
    assert_eq!(u16_at(&z, eocd + 10), 4);
    put_u16(&mut z, eocd + 8, 3);
    put_u16(&mut z, eocd + 10, 3);
    nak(&z, "B01");
}

/// `z` (a zip whose end record has no comment) with a zip64 end record and locator put before
/// its end record, whose fields then defer to them (APPNOTE 4.3.14, 4.3.15).
fn with_zip64_end(z: &[u8], edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let eocd = z.len() - 22;
    assert_eq!(u32_at(z, eocd), 0x0605_4b50);
    let (count, size, offset) = (
        u16_at(z, eocd + 10),
        u32_at(z, eocd + 12),
        u32_at(z, eocd + 16),
    );
    let mut out = z[..eocd].to_vec();
    let mut rec = Vec::new();
    rec.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    rec.extend_from_slice(&44u64.to_le_bytes());
    rec.extend_from_slice(&45u16.to_le_bytes());
    rec.extend_from_slice(&45u16.to_le_bytes());
    rec.extend_from_slice(&[0; 8]);
    for v in [
        count as u64,
        count as u64,
        u64::from(size),
        u64::from(offset),
    ] {
        rec.extend_from_slice(&v.to_le_bytes());
    }
    edit(&mut rec);
    let at = out.len() as u64;
    out.extend_from_slice(&rec);
    out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[0xff; 4]);
    out.extend_from_slice(&[0xff; 8]);
    out.extend_from_slice(&[0; 2]);
    out
}

#[test]
fn b01_end_records_that_disagree_with_the_central_directory() {
    // Another tool trusting another field (size instead of offset, zip64 instead of classic)
    // would read another directory than the one judged.
    let z = raw_zip(&raw_good_entries());
    ack(&z);
    let eocd = z.len() - 22;
    for delta in [1i64, -1, 100_000] {
        let mut bad = z.clone();
        let size = u32_at(&bad, eocd + 12);
        put_u32(&mut bad, eocd + 12, (i64::from(size) + delta) as u32);
        assert_mentions(&nak(&bad, "B01"), "end record");
    }
    // A disk other than the first, for the archive (offset 4) or its directory (offset 6).
    let split = "not a readable zip archive: its end record describes one part of an archive split over several disks (a disk other than the first, or fewer entries on this disk than in all), which is not read";
    for at in [4, 6] {
        let mut bad = z.clone();
        put_u16(&mut bad, eocd + at, 1);
        assert_mentions(&nak(&bad, "B01"), split);
        // Beside a zip64 end record too (the zip reader then reads only the zip64 record's),
        // where all ones defer to it.
        let mut bad = with_zip64_end(&z, |_| {});
        let at64 = bad.len() - 22 + at;
        put_u16(&mut bad, at64, 1);
        assert_mentions(&nak(&bad, "B01"), split);
        put_u16(&mut bad, at64, 0xffff);
        ack(&bad);
    }
    // The zip64 end record's own disk numbers (offsets 16 and 20) and count of entries on
    // this disk (offset 24), and its locator's disk (offset 4 after the record's 56 bytes) and
    // count of disks (offset 16; 0 and 1 allowed): the zip reader refuses them itself, mostly in
    // words about the end records in general, and the answer names the record.
    let split64 = "not a readable zip archive: its zip64 end record describes one part of an archive split over several disks (a disk other than the first, or fewer entries on this disk than in all), which is not read";
    let split_locator = "not a readable zip archive: its zip64 end locator describes one part of an archive split over several disks (the zip64 end record on a disk other than the first, or more than one disk), which is not read";
    let disks: [(&[usize], u32, &str); 6] = [
        (&[16], 1, split64),
        (&[20], 1, split64),
        // The directory on the second disk by both the record and its locator.
        (&[20, 56 + 4], 1, split64),
        (&[24], 2, split64),
        (&[56 + 4], 1, split_locator),
        (&[56 + 16], 2, split_locator),
    ];
    for (fields, value, words) in disks {
        let mut bad = with_zip64_end(&z, |_| {});
        let record = bad.len() - 22 - 20 - 56;
        for at in fields {
            put_u32(&mut bad, record + at, value);
        }
        assert_mentions(&nak(&bad, "B01"), words);
    }
    let mut no_disks = with_zip64_end(&z, |_| {});
    let locator = no_disks.len() - 22 - 20;
    put_u32(&mut no_disks, locator + 16, 0);
    ack(&no_disks);
    // Bytes between the last central record and the end record.
    let mut padded = z[..eocd].to_vec();
    padded.extend_from_slice(&[0; 30]);
    padded.extend_from_slice(&z[eocd..]);
    let at = padded.len() - 22;
    let size = u32_at(&padded, at + 12);
    put_u32(&mut padded, at + 12, size + 30);
    assert_mentions(&nak(&padded, "B01"), "central directory");
    // A zip64 end record: right, then with its count, size or form wrong.
    ack(&with_zip64_end(&z, |_| {}));
    let lies: [(usize, u64); 3] = [(24, 3), (40, 1), (48, 0)];
    for (at, value) in lies {
        let bad = with_zip64_end(&z, |rec| {
            let v = u64::from_le_bytes(rec[at..at + 8].try_into().expect("8 bytes"));
            let v = if at == 48 { v + 1 } else { v + value };
            rec[at..at + 8].copy_from_slice(&v.to_le_bytes());
        });
        nak(&bad, "B01");
    }
    // Both its counts too large for the bytes before it (the zip reader then finds no end
    // record it accepts): the records are walked and the first missing one named.
    let entries = raw_good_entries();
    let last = String::from_utf8(entries.last().expect("entries").name.clone()).expect("a name");
    let records = u16_at(&z, eocd + 10);
    assert_eq!(records, entries.len());
    let overcounted = with_zip64_end(&z, |rec| {
        for at in [24, 32] {
            rec[at..at + 8].copy_from_slice(&(records as u64 + 3).to_le_bytes());
        }
    });
    assert_mentions(
        &nak(&overcounted, "B01"),
        &format!(
            "not a readable zip archive: no central directory header follows the central record of entry {last:?} ({records} of the {} records the end record counts were read)",
            records + 3
        ),
    );
    let extended = with_zip64_end(&z, |rec| {
        rec[4..12].copy_from_slice(&56u64.to_le_bytes());
        rec.extend_from_slice(&[0; 12]);
    });
    assert_mentions(&nak(&extended, "B01"), "zip64 end record");
    // The end record's total count wrong beside a zip64 end record (which the zip reader
    // takes): only all ones defer to it.
    let total = u16_at(&z, eocd + 10) as u16;
    let mut bad = with_zip64_end(&z, |_| {});
    let at = bad.len() - 22;
    put_u16(&mut bad, at + 10, total + 1);
    assert_mentions(&nak(&bad, "B01"), "end record's count");
    // The same for the directory's size beside a zip64 end record.
    let mut bad = with_zip64_end(&z, |_| {});
    let at = bad.len() - 22;
    put_u32(&mut bad, at + 12, u32_at(&z, eocd + 12) + 1);
    assert_mentions(&nak(&bad, "B01"), "end record's size");
}

#[test]
fn b01_a_digital_signature_record_running_past_the_end_of_the_file() {
    // APPNOTE 4.3.13: a digital signature record (its signature, a 2-byte length, the data)
    // may close the central directory, before the end record.
    let z = raw_zip(&raw_good_entries());
    let eocd = z.len() - 22;
    let signed = |len: u16, data: &[u8]| {
        let mut out = z[..eocd].to_vec();
        out.extend_from_slice(&0x0505_4b50u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(&z[eocd..]);
        out
    };
    ack(&signed(4, b"sign"));
    // A length that runs past the end of the file: the archive is cut short (B01), not a
    // failure of the receiver's own copy.
    let m = nak(&signed(0xffff, b"sign"), "B01");
    assert_mentions(&m, "the central directory or its end record is cut short");
}

#[test]
fn b01_not_for_a_comment_on_an_entry_in_the_central_directory() {
    // A central record ends with the entry's comment (APPNOTE 4.3.12): the directory is walked
    // past it to the next record.
    let z = raw_zip(&raw_good_entries());
    let r = raw_entry(&z, "registry.csv");
    let at = r.central + 46 + u16_at(&z, r.central + 28) + u16_at(&z, r.central + 30);
    let comment = b"the registry";
    let mut commented = [&z[..at], &comment[..], &z[at..]].concat();
    put_u16(&mut commented, r.central + 32, comment.len() as u16);
    let eocd = commented.len() - 22;
    let size = u32_at(&commented, eocd + 12);
    put_u32(&mut commented, eocd + 12, size + comment.len() as u32);
    ack(&commented);
}

#[test]
fn b01_a_zip64_block_given_twice_in_a_central_record() {
    // One tool takes the first block, another the last.
    let mut entries = raw_good_entries();
    let mut block = vec![1, 0, 8, 0];
    block.extend_from_slice(&0u64.to_le_bytes());
    entries[1].extra = [block.clone(), block].concat();
    let m = nak(&raw_zip(&entries), "B01");
    assert_mentions(&m, "0x0001 twice");
    // Other blocks may repeat.
    let mut entries = raw_good_entries();
    entries[1].extra = vec![0xfe, 0xca, 0, 0, 0xfe, 0xca, 0, 0];
    ack(&raw_zip(&entries));
}

#[test]
fn b01_entries_that_overlap() {
    let z = quoted_overlap();
    let m = nak(&z, "B01");
    assert_mentions(&m, "overlaps");
    assert_mentions(&m, "registry.csv");
    // The last entry's data declared to run on into the central directory.
    let entries = raw_good_entries();
    let last = entries.last().expect("entries");
    let last = String::from_utf8(last.name.clone()).expect("name");
    let mut z = raw_zip(&entries);
    patch32(&mut z, &last, 18, 20, |v| v + 10);
    let m = nak(&z, "B01");
    assert_mentions(&m, "central directory");
}

#[test]
fn b01_not_for_entries_the_directory_lists_in_another_order_than_they_lie() {
    // The central directory may list the entries in any order: an entry that lies right
    // after one listed later touches it, and does not overlap it.
    let z = raw_zip(&raw_good_entries());
    let dir = directory(&z);
    let eocd = z.len() - 22;
    let mut records: Vec<&[u8]> = dir
        .iter()
        .enumerate()
        .map(|(i, r)| &z[r.central..dir.get(i + 1).map_or(eocd, |next| next.central)])
        .collect();
    records.reverse();
    let reversed = [&z[..dir[0].central], &records.concat(), &z[eocd..]].concat();
    assert_eq!(directory(&reversed)[0].name, dir[dir.len() - 1].name);
    ack(&reversed);
}

#[test]
fn b01_not_for_a_deflate_stream_that_yields_no_byte_in_its_first_64_kib() {
    // Empty stored blocks (5 bytes each) before the data: while the stream gives no byte the
    // reader reads on; no byte yet is not the end of the entry.
    let mut entries = raw_good_entries();
    let reg = &mut entries[1];
    assert_eq!(reg.name, b"registry.csv");
    let mut deflate = [0u8, 0, 0, 0xff, 0xff].repeat(16_000);
    let len = u16::try_from(reg.data.len()).expect("a registry under 64 KiB");
    deflate.push(1);
    deflate.extend_from_slice(&len.to_le_bytes());
    deflate.extend_from_slice(&(!len).to_le_bytes());
    deflate.extend_from_slice(&reg.data);
    reg.data = deflate;
    reg.method = 8;
    ack(&raw_zip(&entries));
}

#[test]
fn b01_deflate_stream_ends_before_its_declared_compressed_size() {
    let mut entries = raw_good_entries();
    let reg = &mut entries[1];
    assert_eq!(reg.name, b"registry.csv");
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(&reg.data).expect("deflate");
    reg.data = deflate.finish().expect("deflate");
    reg.method = 8;
    ack(&raw_zip(&entries));
    entries[1].data.extend_from_slice(b"junk!");
    let m = nak(&raw_zip(&entries), "B01");
    assert_mentions(&m, "registry.csv");
    assert_mentions(&m, "compressed bytes");
}

#[test]
fn b01_data_descriptor_differs_from_the_central_directory() {
    let z = streamed_zip(false);
    let r = raw_entry(&z, "registry.csv");
    // The descriptor follows the data: signature, CRC-32, compressed size, uncompressed size.
    let at = r.data_start(&z) + r.csize(&z);
    assert_eq!(u32_at(&z, at), 0x0807_4b50, "descriptor with its signature");
    for field in [4, 8, 12] {
        let mut z = z.clone();
        let v = u32_at(&z, at + field);
        put_u32(&mut z, at + field, v ^ 1);
        let m = nak(&z, "B01");
        assert_mentions(&m, "data descriptor");
    }
}

#[test]
fn b01_bytes_no_entry_holds_before_between_or_after_the_entries() {
    // A tool reading local headers from the start, and one searching for the end record from
    // the end, must see the entries judged here and nothing else.
    let good = good_zip();
    // Bytes before the first entry (offsets in the directory counting them or not).
    let m = nak(&[b"junk!".as_slice(), &good].concat(), "B01");
    assert_mentions(&m, "5 bytes before the first entry");
    // Two archives back to back: the first is not what a directory reader sees.
    let other = Batch::new(
        BatchType::PAY,
        "001",
        Charset::Utf8,
        &PAY_HEADER,
        &pay_rows()[..1],
        6,
    )
    .zip(Some(&key()));
    let m = nak(&[other.as_slice(), &good].concat(), "B01");
    assert_mentions(&m, "before the first entry");
    // Bytes after the end record (a place for another end record).
    let m = nak(&[good.as_slice(), b"GARBAGE!"].concat(), "B01");
    assert_mentions(&m, "8 bytes after the end record");
    // The end record's comment counts: a real comment is part of the archive.
    let mut commented = good.clone();
    let n = commented.len();
    put_u16(&mut commented, n - 2, 7);
    commented.extend_from_slice(b"comment");
    ack(&commented);
    // A comment declared longer than what follows.
    let mut cut = good.clone();
    put_u16(&mut cut, n - 2, 7);
    cut.extend_from_slice(b"com");
    nak(&cut, "B01");
    // An entry between two others that the directory does not list (`../evil.csv`, which a
    // streaming reader would write out).
    let mut entries = raw_good_entries();
    entries.insert(1, RawEntry::stored("../evil.csv", b"evil"));
    let z = without_central_record(&raw_zip(&entries), "../evil.csv");
    let m = nak(&z, "B01");
    assert_mentions(&m, "bytes between entries");
    // The same bytes after the last entry, before the directory.
    let mut entries = raw_good_entries();
    entries.push(RawEntry::stored("../evil.csv", b"evil"));
    let z = without_central_record(&raw_zip(&entries), "../evil.csv");
    let m = nak(&z, "B01");
    assert_mentions(&m, "between the last entry");
    // Without the hidden entry, the raw archive is good: the removal itself is sound.
    let mut entries = raw_good_entries();
    entries.push(RawEntry::stored("extra", b""));
    let z = raw_zip(&entries);
    let dropped = without_central_record(&z, "extra");
    assert_eq!(dropped.len(), z.len() - 46 - 5);
    ack(&raw_zip(&raw_good_entries()));
}

#[test]
fn b01_an_extra_block_running_past_its_central_record() {
    // A zip64 block whose length (255) runs past the record's extra field: the directory is
    // corrupt, whether or not the entry's sizes use zip64 (Python's zipfile refuses it too).
    let mut entries = raw_good_entries();
    entries[2].extra = vec![1, 0, 0xff, 0];
    let m = nak(&raw_zip(&entries), "B01");
    assert_mentions(&m, "extra block 0x0001");
    // The same record beside a zip64 end record the zip reader refuses (it declares 56 bytes
    // and holds 44): the end records are reported, as the zip reader meets them first, not the
    // record.
    let bad = with_zip64_end(&raw_zip(&entries), |rec| {
        rec[4..12].copy_from_slice(&56u64.to_le_bytes())
    });
    assert_mentions(
        &nak(&bad, "B01"),
        "not a readable zip archive: no complete end of central directory record",
    );
    // Fewer than four bytes left over are not a block (APPNOTE 4.5.1): allowed, as before.
    let mut entries = raw_good_entries();
    entries[2].extra = vec![0xfe, 0xca, 0, 0, 0];
    ack(&raw_zip(&entries));
}

#[test]
fn b01_an_extra_block_the_zip_reader_cannot_read_in_a_central_record() {
    // The directory reader parses an NTFS block (0x000a) itself and runs out of bytes inside
    // it: the archive's fault (B01), not a failure of the receiver's own copy.
    // The entry is named, as when the zip reader reads the directory and the engine finds the
    // block running past the record.
    let mut entries = raw_good_entries();
    entries[2].extra = vec![0x0a, 0, 32, 0];
    let m = nak(&raw_zip(&entries), "B01");
    assert_mentions(
        &m,
        "not a readable zip archive: entry \"manifest.sha256.hmac\": extra block 0x000a of its central record runs past the record",
    );
    // The same where the end record defers the directory's place to a zip64 end record.
    let m = nak(&with_zip64_end(&raw_zip(&entries), |_| {}), "B01");
    assert_mentions(
        &m,
        "entry \"manifest.sha256.hmac\": extra block 0x000a of its central record runs past the record",
    );
    // A block that fits its record but is too short for what it must hold (an Info-ZIP
    // Unicode path of 3 bytes: a version and part of a CRC): the zip reader, given each record
    // alone in place of the directory, fails on this one, and on this block alone.
    entries[2].extra = vec![0x75, 0x70, 3, 0, 1, 2, 3];
    let m = nak(&raw_zip(&entries), "B01");
    assert_mentions(
        &m,
        "not a readable zip archive: entry \"manifest.sha256.hmac\": extra block 0x7075 of its central record is too short for what it must hold (failed to fill whole buffer)",
    );
    // A block the zip reader finds malformed in its own words (an extended timestamp without
    // its flags byte), after a block it reads, in another entry; also where the end record
    // defers to a zip64 end record.
    entries[2].extra.clear();
    entries[1].extra = vec![0xfe, 0xca, 2, 0, 7, 7, 0x55, 0x54, 0, 0];
    let said = "not a readable zip archive: entry \"registry.csv\": extra block 0x5455 of its central record is malformed (Extended timestamp field is empty)";
    assert_mentions(&nak(&raw_zip(&entries), "B01"), said);
    assert_mentions(
        &nak(&with_zip64_end(&raw_zip(&entries), |_| {}), "B01"),
        said,
    );
    // Three bytes after the blocks, of a block id the zip reader knows: no block of four bytes
    // is at fault, the extra field is.
    entries[1].extra = vec![0xfe, 0xca, 2, 0, 7, 7, 0x55, 0x54, 0];
    assert_mentions(
        &nak(&raw_zip(&entries), "B01"),
        "not a readable zip archive: entry \"registry.csv\": the extra field of its central record is malformed (Extra field 0x5455 header truncated)",
    );
    // Of an id it does not know, they are padding (APPNOTE 4.5.1), as before.
    entries[1].extra = vec![0xfe, 0xca, 2, 0, 7, 7, 0x55, 0x55, 0];
    ack(&raw_zip(&entries));
}

/// `z` with the central record of `name` taken out (its local entry left in place), and the end
/// record's counts and directory size made to match.
fn without_central_record(z: &[u8], name: &str) -> Vec<u8> {
    let r = raw_entry(z, name);
    let len =
        46 + u16_at(z, r.central + 28) + u16_at(z, r.central + 30) + u16_at(z, r.central + 32);
    let mut out = [&z[..r.central], &z[r.central + len..]].concat();
    let eocd = out.len() - 22;
    assert_eq!(u32_at(&out, eocd), 0x0605_4b50);
    for at in [eocd + 8, eocd + 10] {
        let v = u16_at(&out, at) as u16;
        put_u16(&mut out, at, v - 1);
    }
    let size = u32_at(&out, eocd + 12);
    put_u32(&mut out, eocd + 12, size - len as u32);
    out
}

/// The batch's files written by a streaming zip writer: local headers with flag bit 3 and a
/// data descriptor after each entry's data (with 8-byte sizes when `zip64`).
fn streamed_zip(zip64: bool) -> Vec<u8> {
    stream_zip(&batch().entries(Some(&key())), zip64)
}

/// `files` written by a streaming zip writer, deflated (see [`streamed_zip`]).
fn stream_zip(files: &[(String, Vec<u8>)], zip64: bool) -> Vec<u8> {
    let mut z = zip::ZipWriter::new_stream(Vec::new());
    let o = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(zip64);
    for (n, bytes) in files {
        z.start_file(n.as_str(), o).expect("start");
        z.write_all(bytes).expect("write");
    }
    z.finish().expect("finish").into_inner()
}

// ---------------------------------------------------------------------------------------------
// B02: unsafe archive

#[test]
fn b02_entry_name_with_a_slash() {
    let m = nak(&good_plus_entry_named(b"sub/registry.csv"), "B02");
    assert_mentions(&m, "sub/registry.csv");
}

#[test]
fn b02_entry_name_with_a_backslash() {
    let m = nak(&good_plus_entry_named(b"sub\\readme.txt"), "B02");
    // The name is quoted and escaped once, as a Rust or JSON string would show it: one
    // backslash doubled, not four.
    assert_mentions(&m, "\"sub\\\\readme.txt\"");
    assert!(!m.contains("\\\\\\"), "escaped twice: {m}");
    // A control character is escaped once too.
    let m = nak(&good_plus_entry_named(b"control.txt\0.exe"), "B02");
    assert_mentions(&m, "\"control.txt\\0.exe\"");
}

#[test]
fn b02_c1_control_characters_in_a_utf8_entry_name_but_not_the_same_bytes_in_cp437() {
    // U+0085 (NEL) and U+009B (CSI) are control characters, as C0 ones and DEL are.
    for name in ["control\u{85}.txt", "x\u{9b}2J.txt"] {
        let m = nak(&good_plus_entry_named(name.as_bytes()), "B02");
        assert_mentions(&m, "a control character in the name");
    }
    // Byte 0x85 alone is not UTF-8: in the zip's default encoding, CP437, it is a letter
    // (à), so the entry is one not allowed (B03), not an unsafe name.
    let m = nak(&good_plus_entry_named(b"readme\x85.txt"), "B03");
    assert!(!m.contains("control character"), "{m}");
    // A C0 control character or DEL is one in any encoding, in a name that is not UTF-8 too.
    for name in [
        &b"readme\x85\x01.txt"[..],
        b"readme\x85\x1f.txt",
        b"readme\x85\x7f.txt",
    ] {
        let m = nak(&good_plus_entry_named(name), "B02");
        assert_mentions(&m, "a control character in the name");
    }
    // A space (0x20) is not a control character: the entry is only one not allowed.
    let m = nak(&good_plus_entry_named(b"read me.txt"), "B03");
    assert!(!m.contains("control character"), "{m}");
}

#[test]
fn b02_flags_of_entries_that_cannot_be_read_as_stored_or_deflated() {
    // Bit 5: compressed patched data; bit 6: strong encryption; bit 13: masked header values.
    // A reader that honours them (Python's zipfile refuses bits 5 and 6) reads other bytes.
    for bit in [0x20u16, 0x40, 0x2000] {
        let mut z = good_zip();
        set_flags(&mut z, "registry.csv", |f| f | bit);
        let m = nak(&z, "B02");
        assert_mentions(&m, "\"registry.csv\"");
        assert_mentions(&m, &format!("flag bit {}", bit.trailing_zeros()));
    }
    // The other bits a writer sets (1-2 deflate options, 3 descriptor, 11 UTF-8 names) are
    // read as they are: bit 11 here.
    let mut z = good_zip();
    set_flags(&mut z, "registry.csv", |f| f | 0x800);
    ack(&z);
}

#[test]
fn b02_absolute_entry_name() {
    let m = nak(&good_plus_entry_named(b"/control.txt"), "B02");
    assert_mentions(&m, "/control.txt");
    nak(&good_plus_entry_named(b"C:control.txt"), "B02");
}

#[test]
fn b02_dot_dot_entry_names() {
    nak(&good_plus_entry_named(b".."), "B02");
    let m = nak(&good_plus_entry_named(b"../control.txt"), "B02");
    assert_mentions(&m, "../control.txt");
}

#[test]
fn b02_directory_entry() {
    let b = batch();
    let z = zip_with(|z, o| {
        for (n, bytes) in b.entries(Some(&key())) {
            add(z, o, &n, &bytes);
        }
        z.add_directory("docs/", o).expect("dir");
    });
    let m = nak(&z, "B02");
    assert_mentions(&m, "entry \"docs/\": a directory");
}

#[test]
fn b02_directory_entry_without_a_trailing_slash() {
    // Unix directory mode in the external attributes.
    let mut z = good_plus_entry_named(b"docs");
    set_external(&mut z, "docs", 3 << 8 | 20, 0o040_755 << 16);
    let m = nak(&z, "B02");
    assert_mentions(&m, "entry \"docs\" is a directory");
    // MS-DOS directory attribute.
    let mut z = good_plus_entry_named(b"docs");
    set_external(&mut z, "docs", 20, 0x10);
    let m = nak(&z, "B02");
    assert_mentions(&m, "docs");
    // The MS-DOS directory attribute written on a system whose attributes give no Unix mode
    // (NTFS, 10): a directory still.
    let mut z = good_plus_entry_named(b"docs");
    set_external(&mut z, "docs", 10 << 8 | 20, 0x10);
    let m = nak(&z, "B02");
    assert_mentions(&m, "entry \"docs\" is a directory");
    // A file written there (the archive attribute only) is a file.
    let mut z = good_zip();
    set_external(&mut z, "registry.csv", 10 << 8 | 20, 0x20);
    ack(&z);
}

#[test]
fn b02_symbolic_link_entry() {
    // registry.csv itself is a link; the manifest matches the link's stored bytes, so the link
    // is the only defect.
    let b = batch();
    let control = b.control();
    let target = b"/etc/passwd";
    let m = sample::manifest(&[("control.txt", &control), ("registry.csv", target)]);
    let k = key();
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
    let msg = nak(&z, "B02");
    assert_mentions(&msg, "entry \"registry.csv\" is a symbolic link");
    // A link under another name is B02 too (not B03).
    let z = zip_with(|z, o| {
        for (n, bytes) in b.entries(Some(&key())) {
            add(z, o, &n, &bytes);
        }
        z.add_symlink("link", "control.txt", o).expect("symlink");
    });
    let msg = nak(&z, "B02");
    assert_mentions(&msg, "link");
}

#[test]
fn b02_encrypted_entry() {
    let mut z = good_zip();
    set_flags(&mut z, "registry.csv", |f| f | 1);
    let m = nak(&z, "B02");
    assert_mentions(&m, "registry.csv");
}

#[test]
fn b02_compression_method_other_than_stored_or_deflate() {
    for method in [1u16, 6, 9, 12, 14, 93, 95, 98, 99] {
        let mut z = good_zip();
        set_method(&mut z, "registry.csv", method);
        let mut rx = Rx::new();
        let h = rx.process(NAME, &z);
        assert_eq!(
            (h.result.as_str(), h.code.as_deref()),
            ("NAK", Some("B02")),
            "method {method}: {:?}",
            h.message
        );
        assert_mentions(
            h.message.as_deref().unwrap_or(""),
            &format!("entry \"registry.csv\" uses compression method {method};"),
        );
    }
}

#[test]
fn b02_duplicate_entry_names() {
    // The zip writer refuses duplicates: write "control.txx" and rename it in both headers.
    let b = batch();
    let mut files = b.entries(Some(&key()));
    files.push(entry("control.txx", b.control()));
    let mut z = sample::zip_entries(&files);
    rename(&mut z, "control.txx", b"control.txt");
    let names: Vec<Vec<u8>> = directory(&z).into_iter().map(|r| r.name).collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.as_slice() == b"control.txt")
            .count(),
        2
    );
    nak(&z, "B02");
    // Same with a different second copy, and at the entry limit.
    let mut files = b.entries(Some(&key()));
    files.insert(0, entry("registry.csx", b"other bytes".to_vec()));
    let mut z = sample::zip_entries(&files);
    rename(&mut z, "registry.csx", b"registry.csv");
    nak(&z, "B02");
    nak_with(&limits("max_entries = 5"), NAME, &z, "B02");
}

#[test]
fn b02_duplicate_entry_names_replayed_under_the_largest_journaled_entry_limit() {
    // `replay` judges under the limits journaled with the delivery, read back from the store:
    // any u64. A `max_entries` of u64::MAX once overflowed the count of names read to find the
    // one that repeats.
    let b = batch();
    let mut files = b.entries(Some(&key()));
    files.push(entry("control.txx", b.control()));
    let mut z = sample::zip_entries(&files);
    rename(&mut z, "control.txx", b"control.txt");
    let mut rx = Rx::new();
    let h = rx.process(NAME, &z);
    assert_nak(&rx, &h, "B02");
    let n = rx
        .engine
        .store
        .conn
        .execute(
            "UPDATE journal SET body = replace(body, '\"max_entries\":16', '\"max_entries\":18446744073709551615') WHERE kind = 'delivery'",
            [],
        )
        .expect("edit");
    assert_eq!(n, 1);
    let kept = rx
        .engine
        .layout
        .received()
        .join(format!("{}.zip", sha256_hex(&z)));
    let dir = tempfile::tempdir().expect("out");
    let r = rx.engine.replay(&kept, dir.path()).expect("replay");
    assert_eq!(
        (r.result.as_str(), r.code.as_deref(), r.identical),
        ("NAK", Some("B02"), Some(true)),
        "{r:?}"
    );
}

#[test]
fn b02_too_many_entries() {
    // The signed archive has 4 entries.
    ack_with(&limits("max_entries = 4"), &good_zip());
    let m = nak_with(&limits("max_entries = 3"), NAME, &good_zip(), "B02");
    assert_mentions(&m, "3");
    // The default limit is 16.
    let mut files = batch().entries(Some(&key()));
    for i in 0..13 {
        files.push(entry(&format!("extra{i:02}.txt"), b"x".to_vec()));
    }
    nak(&sample::zip_entries(&files), "B02");
    files.pop();
    // 16 entries: within the limit, so the extra names are B03.
    nak(&sample::zip_entries(&files), "B03");
}

#[test]
fn b02_total_uncompressed_size_over_the_limit() {
    let z = good_zip();
    let total: u64 = directory(&z).iter().map(|r| u64::from(r.usize(&z))).sum();
    ack_with(&limits(&format!("max_uncompressed_bytes = {total}")), &z);
    nak_with(
        &limits(&format!("max_uncompressed_bytes = {}", total - 1)),
        NAME,
        &z,
        "B02",
    );
}

/// A batch whose registry is large and very compressible (the same rows many times).
fn compressible_batch(copies: usize) -> Batch {
    let rows: Vec<Vec<String>> = pay_rows().into_iter().cycle().take(3 * copies).collect();
    Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6)
}

#[test]
fn b02_ratio_over_the_limit() {
    let b = compressible_batch(500);
    let z = b.zip(Some(&key()));
    let r = raw_entry(&z, "registry.csv");
    let (size, csize) = (u64::from(r.usize(&z)), r.csize(&z) as u64);
    let ratio = size / csize;
    assert!(ratio > 20, "registry compresses {ratio}:1");
    let cfg = |max_ratio: u64, above: u64| {
        limits(&format!(
            "max_ratio = {max_ratio}\nratio_applies_above = {above}"
        ))
    };
    // Over the ratio and above the size it applies from: B02 naming the entry.
    let m = nak_with(&cfg(ratio - 1, 4096), NAME, &z, "B02");
    assert_mentions(&m, "registry.csv");
    // Within the ratio, or not larger than the size it applies from: accepted.
    ack_with(&cfg(ratio + 1, 4096), &z);
    ack_with(&cfg(ratio - 1, size), &z);
}

#[test]
fn b02_lying_sizes_ratio_exceeded_by_the_real_bytes() {
    // Declared 100 bytes (under the size the ratio applies from), really ~200 kB: the real
    // bytes exceed the ratio before the end of the entry, so B02, not B01.
    let b = compressible_batch(500);
    let mut z = b.zip(Some(&key()));
    let r = raw_entry(&z, "registry.csv");
    let ratio = u64::from(r.usize(&z)) / r.csize(&z) as u64;
    set_usize(&mut z, "registry.csv", |_| 100);
    let cfg = limits(&format!(
        "max_ratio = {}\nratio_applies_above = 4096",
        ratio / 2
    ));
    let m = nak_with(&cfg, NAME, &z, "B02");
    assert_mentions(&m, "registry.csv");
    // Under the default limits the same lie is only a size mismatch: B01.
    nak(&z, "B01");
}

#[test]
fn b02_lying_sizes_total_exceeded_by_the_real_bytes() {
    let b = compressible_batch(500);
    let mut z = b.zip(Some(&key()));
    set_usize(&mut z, "registry.csv", |_| 100);
    let declared: u64 = directory(&z).iter().map(|r| u64::from(r.usize(&z))).sum();
    let limit = declared + 5000;
    let m = nak_with(
        &limits(&format!("max_uncompressed_bytes = {limit}")),
        NAME,
        &z,
        "B02",
    );
    assert_mentions(&m, "registry.csv");
}

#[test]
fn b02_registry_line_longer_than_the_limit() {
    let b = batch();
    let text = String::from_utf8(b.registry.clone()).expect("utf-8");
    let lines: Vec<&str> = text.split("\r\n").collect();
    let (longest_at, longest) = lines
        .iter()
        .enumerate()
        .max_by_key(|(i, l)| (l.len(), std::cmp::Reverse(*i)))
        .map(|(i, l)| (i + 1, l.len()))
        .expect("lines");
    let z = good_zip();
    // A line of exactly the limit (its CRLF not counted) is allowed.
    ack_with(&limits(&format!("max_line_bytes = {longest}")), &z);
    let m = nak_with(
        &limits(&format!("max_line_bytes = {}", longest - 1)),
        NAME,
        &z,
        "B02",
    );
    assert_mentions(&m, "registry.csv");
    assert_mentions(&m, &format!("line {longest_at} "));
}

#[test]
fn b02_a_cr_at_the_end_of_the_registry_counts_toward_its_last_line() {
    // §5: only CRLF or LF end a line; a CR at the very end of the file is a byte of the last
    // line, so it counts toward the limit (§3).
    let b = batch();
    // The last row's purpose (empty) made long enough for its line to be the longest.
    let mut registry = b
        .registry
        .strip_suffix(b"\r\n")
        .expect("ends with CRLF")
        .to_vec();
    registry.extend_from_slice(&[b'x'; 300]);
    let last = registry.len() - registry.iter().rposition(|c| *c == b'\n').expect("lines") - 1;
    registry.push(b'\r');
    let z = with_registry(&b, &registry);
    ack_with(&limits(&format!("max_line_bytes = {}", last + 1)), &z);
    let m = nak_with(
        &limits(&format!("max_line_bytes = {last}")),
        NAME,
        &z,
        "B02",
    );
    assert_mentions(&m, "line 4 ");
}

#[test]
fn b02_registry_line_limit_with_the_default_64_kib() {
    let mut rows = pay_rows();
    rows[1][10] = "x".repeat(64 << 10);
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
    let m = nak(&b.zip(Some(&key())), "B02");
    assert_mentions(&m, "line 3");
}

#[test]
fn a_record_of_many_short_lines_over_a_mib_is_a_row_not_a_b02() {
    // §3 limits physical lines; a quoted field may hold line breaks (§5). A 2 MiB purpose of
    // 1,000-byte lines breaks no limit of the agreement: the row gets 202 on its purpose.
    let mut rows = pay_rows();
    rows[1][10] = lines_of_text(2 << 20, 1000);
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    assert_ack(&rx.process(NAME, &b.zip(Some(&key()))));
    let got: Vec<(String, String)> = row_results(&rx)
        .into_iter()
        .map(|(status, _, field)| (status, field))
        .collect();
    let want = [("1:1", ""), ("2:202", "purpose"), ("3:1", "")];
    assert_eq!(
        got,
        want.map(|(s, f)| (s.to_string(), f.to_string())),
        "rows"
    );
}

/// `n` bytes of text in lines of `width` (pseudo-random letters, so that deflate keeps the
/// registry's ratio under the limit).
fn lines_of_text(n: usize, width: usize) -> String {
    let mut seed: u32 = 0x2545_f491;
    let mut s = String::with_capacity(n + n / width);
    while s.len() < n {
        for _ in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            s.push(char::from(b'a' + (seed % 26) as u8));
        }
        s.push('\n');
    }
    s
}

/// `(line:status, payment_id, field)` of every row of the ACK's `result.csv`.
fn row_results(rx: &Rx) -> Vec<(String, String, String)> {
    let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
    statuses(&result)
        .into_iter()
        .map(|(line, pid, status, field)| (format!("{line}:{status}"), pid, field))
        .collect()
}

#[test]
fn a_field_longer_than_max_field_bytes_fails_in_column_order() {
    // Only `max_field_bytes` of a field are held in memory; a longer one (here 10 KB of short
    // quoted lines, breaking no limit of §3) is 202 for that field, after the fields before
    // it, and the rest of the record is still read: its amount counts toward the total and
    // its field count is the true one.
    let long = lines_of_text(10_000, 100);
    let good = pay_rows();
    let edit = |i: usize, f: &dyn Fn(&mut Vec<String>)| {
        let mut r = good[i].clone();
        f(&mut r);
        r
    };
    let rows = vec![
        edit(0, &|r| r[10] = long.clone()),
        edit(1, &|r| {
            r[2] = "bad".into();
            r[5] = long.clone();
        }),
        edit(1, &|r| {
            r[0] = "25786018516950".into();
            r[5] = long.clone();
            r[6] = "1.0".into();
        }),
        edit(1, &|r| r[0] = long.clone()),
        edit(1, &|r| {
            r[0] = "25786018516951".into();
            r[10] = long.clone();
            r.extend(std::iter::repeat_n(long.clone(), 9));
        }),
        good[2].clone(),
    ];
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
    let mut rx = Rx::with(&limits("max_field_bytes = 4096"));
    rx.import_reference_invoices();
    assert_ack(&rx.process(NAME, &b.zip(Some(&key()))));
    let got = row_results(&rx);
    // The long id is echoed whole (`a_payment_id_too_long_to_hold_is_echoed_whole`), quoted.
    let long_id = format!("\"{long}\"");
    let want = [
        ("1:202", "25786018516942", "purpose"),
        ("2:202", "25786018516943", "invoice_no"),
        ("3:202", "25786018516950", "payer_name"),
        ("4:202", long_id.as_str(), "payment_id"),
        ("5:202", "25786018516951", ""),
        ("6:1", "25786018516945", ""),
    ];
    assert_eq!(
        got,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())),
        "rows"
    );
    let result = String::from_utf8(rx.response_entry(ACK, "result.csv").expect("result.csv"))
        .expect("utf-8");
    assert!(
        result.contains("purpose: longer than 4096 bytes") && result.contains("max_field_bytes"),
        "{result}"
    );
    assert!(
        result.contains("row has 20 fields, the header has 11"),
        "{result}"
    );
}

#[test]
fn a_payment_id_too_long_to_hold_is_echoed_whole() {
    // §8: result.csv's payment_id column is the row's own value. An id too long for the reader
    // to hold (here over 4,096 bytes) is echoed from a file, byte for byte as the registry has
    // it: the same result.csv rows as when it is held, quoted and with `"` doubled as §5 says.
    let long_a = format!("12\"34;{}", "ЖЖ\n".repeat(1500));
    let long_b = format!("{}\n{}", "9".repeat(3000), "8".repeat(3000));
    for cs in [Charset::Utf8, Charset::Windows1251] {
        let mut rows = pay_rows();
        rows[0][0] = long_a.clone();
        rows[2][0] = long_b.clone();
        let b = Batch::new(BatchType::PAY, "001", cs, &PAY_HEADER, &rows, 6);
        let mut got = Vec::new();
        for config in ["", "max_field_bytes = 4096"] {
            let mut rx = Rx::with(&limits(config));
            rx.import_reference_invoices();
            assert_ack(&rx.process(NAME, &b.zip(Some(&key()))));
            let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
            let mut rr = reestr::dialect::RecordReader::new(&result[..], false);
            let mut parsed = Vec::new();
            while rr.read_record().expect("a result.csv that reads back") {
                let f = |i: usize| cs.decode(rr.field(i).unwrap_or_default()).expect("decodes");
                parsed.push([f(0), f(1), f(2), f(3)]);
            }
            // Nothing of the spool is left behind.
            let left: Vec<_> = walkdir::WalkDir::new(rx.dir.path())
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains(".pids."))
                .collect();
            assert!(left.is_empty(), "{left:?}");
            got.push((parsed, result));
        }
        let (held, spooled) = (&got[0], &got[1]);
        assert_eq!(held.0, spooled.0, "{cs:?}: rows held and spooled");
        let ids: Vec<(&str, &str)> = spooled
            .0
            .iter()
            .map(|r| (r[1].as_str(), r[2].as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("payment_id", "status"),
                (long_a.as_str(), "202"),
                ("25786018516943", "1"),
                (long_b.as_str(), "202")
            ],
            "{cs:?}"
        );
        // The raw bytes too: only the messages differ ("length ... is outside", "longer than").
        let line_of = |bytes: &[u8], id: &str| {
            let raw = cs.encode(id).expect("encodable");
            bytes.windows(raw.len()).any(|w| w == raw.as_slice())
        };
        assert!(
            line_of(&spooled.1, "\"12\"\"34;") && line_of(&held.1, "\"12\"\"34;"),
            "{cs:?}"
        );
    }
}

#[test]
fn the_bytes_of_a_long_field_not_held_are_still_checked_in_the_encoding() {
    let config = limits("max_field_bytes = 4095");
    let mut rows = pay_rows();
    rows[1][10] = "PURPOSE".into();
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
    let in_purpose = |bytes: &[u8]| {
        let mut field = b"\"".to_vec();
        field.extend_from_slice(bytes);
        field.push(b'"');
        let reg = &b.registry;
        let at = reg
            .windows(7)
            .position(|w| w == b"PURPOSE")
            .expect("PURPOSE");
        let mut out = reg[..at].to_vec();
        out.extend_from_slice(&field);
        out.extend_from_slice(&reg[at + 7..]);
        with_registry(&b, &out)
    };
    // 2-byte letters, one of them split by the 4,095 bytes held: valid, and too long.
    let zhe = "Ж\n".repeat(2000);
    let mut rx = Rx::with(&config);
    rx.import_reference_invoices();
    assert_ack(&rx.process(NAME, &in_purpose(zhe.as_bytes())));
    assert_eq!(
        row_results(&rx)[1],
        ("2:202".into(), "25786018516943".into(), "purpose".into())
    );
    // An invalid byte, or a sequence cut short by the field's end, in the part not held.
    for (why, tail) in [("0xFF", &b"\xFF"[..]), ("truncated", b"\xD0")] {
        let mut bytes = zhe.as_bytes().to_vec();
        bytes.extend_from_slice(tail);
        let mut rx = Rx::with(&config);
        let h = rx.process(NAME, &in_purpose(&bytes));
        let m = assert_nak(&rx, &h, "B07");
        assert!(m.contains("line 3") && m.contains("purpose"), "{why}: {m}");
    }
    // An invalid byte in a field past the ones held (the row has too many fields).
    let mut bytes = zhe.as_bytes().to_vec();
    bytes.extend_from_slice(b"\";x;x;\"\xFF");
    let mut rx = Rx::with(&config);
    let h = rx.process(NAME, &in_purpose(&bytes));
    let m = assert_nak(&rx, &h, "B07");
    assert!(m.contains("line 3") && m.contains("column 14"), "{m}");
    // windows-1251 leaves 0x98 undefined, also where the field is not held; cp866 does not.
    let long = lines_of_text(5000, 100);
    for (cs, code) in [(Charset::Windows1251, "B07"), (Charset::Cp866, "")] {
        let b = Batch::new(BatchType::PAY, "001", cs, &PAY_HEADER, &rows, 6);
        let mut bytes = b"\"".to_vec();
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(b"\x98\"");
        let mut reg = b.registry.clone();
        let at = reg
            .windows(7)
            .position(|w| w == b"PURPOSE")
            .expect("PURPOSE");
        reg.splice(at..at + 7, bytes);
        let mut rx = Rx::with(&config);
        rx.import_reference_invoices();
        let h = rx.process(NAME, &with_registry(&b, &reg));
        if code.is_empty() {
            assert_ack(&h);
            assert_eq!(row_results(&rx)[1].2, "purpose", "{cs:?}");
        } else {
            let m = assert_nak(&rx, &h, code);
            assert_mentions(&m, "purpose");
        }
    }
}

#[test]
fn b02_archive_larger_than_the_limit() {
    let z = good_zip();
    ack_with(&limits(&format!("max_archive_bytes = {}", z.len())), &z);
    nak_with(
        &limits(&format!("max_archive_bytes = {}", z.len() - 1)),
        NAME,
        &z,
        "B02",
    );
}

// ---------------------------------------------------------------------------------------------
// B03: required file missing, or an entry not allowed

#[test]
fn b03_control_txt_missing() {
    let b = batch();
    let m = sample::manifest(&[("registry.csv", &b.registry)]);
    let k = key();
    let z = sample::zip_entries(&[
        entry("registry.csv", b.registry.clone()),
        entry("manifest.sha256.hmac", format!("{}\n", k.sign(&m))),
        entry("manifest.sha256", m),
    ]);
    let msg = nak(&z, "B03");
    assert_mentions(&msg, "control.txt");
}

#[test]
fn b03_registry_csv_missing() {
    let b = batch();
    let c = b.control();
    let m = sample::manifest(&[("control.txt", &c)]);
    let k = key();
    let z = sample::zip_entries(&[
        entry("control.txt", c),
        entry("manifest.sha256.hmac", format!("{}\n", k.sign(&m))),
        entry("manifest.sha256", m),
    ]);
    let msg = nak(&z, "B03");
    assert_mentions(&msg, "registry.csv");
}

#[test]
fn b03_manifest_missing() {
    let b = batch();
    let z = sample::zip_entries(&[
        entry("control.txt", b.control()),
        entry("registry.csv", b.registry.clone()),
    ]);
    let msg = nak(&z, "B03");
    assert_mentions(&msg, "manifest.sha256");
}

#[test]
fn b03_extra_entry() {
    // Listed and signed, so the extra name is the only defect.
    let b = batch();
    let c = b.control();
    let readme = b"read me".to_vec();
    let m = sample::manifest(&[
        ("control.txt", &c),
        ("registry.csv", &b.registry),
        ("readme.txt", &readme),
    ]);
    let mut files = files_with_manifest(&c, &b.registry, &m, Some(&key()));
    files.push(entry("readme.txt", readme));
    let msg = nak(&sample::zip_entries(&files), "B03");
    assert_mentions(&msg, "readme.txt");
}

#[test]
fn b03_wrongly_cased_name() {
    let b = batch();
    let c = b.control();
    let m = sample::manifest(&[("Control.txt", &c), ("registry.csv", &b.registry)]);
    let mut files = files_with_manifest(&c, &b.registry, &m, Some(&key()));
    files[0].0 = "Control.txt".into();
    let msg = nak(&sample::zip_entries(&files), "B03");
    assert_mentions(&msg, "Control.txt");
    // And the same name with a changed case of the manifest.
    let mut z = good_zip();
    rename(&mut z, "manifest.sha256", b"MANIFEST.sha256");
    nak(&z, "B03");
}

// ---------------------------------------------------------------------------------------------
// B05: HMAC missing or wrong (a key is configured for MUNIS)

#[test]
fn b05_hmac_missing_when_a_key_is_configured() {
    // README, decisions: B05's own "HMAC missing", not B03's "required file missing".
    let m = nak(&batch().zip(None), "B05");
    assert_mentions(&m, "manifest.sha256.hmac");
    // A file every archive needs missing as well: B03 (§7.1's order).
    let b = batch();
    let control = b.control();
    let m = sample::manifest(&[("control.txt", &control)]);
    let z = sample::zip_entries(&[entry("control.txt", control), entry("manifest.sha256", m)]);
    let m = nak(&z, "B03");
    assert_mentions(&m, "registry.csv");
}

#[test]
fn b05_wrong_hmac() {
    let m = nak(&batch().zip(Some(&Key([7; 32]))), "B05");
    assert_mentions(&m, "manifest.sha256.hmac");
    // The right key over other bytes.
    let b = batch();
    let tag = key().sign(b"another manifest");
    nak(&with_hmac_entry(&b, format!("{tag}\n").as_bytes()), "B05");
}

#[test]
fn b05_malformed_hmac() {
    let b = batch();
    let m = sample::manifest(&[("control.txt", &b.control()), ("registry.csv", &b.registry)]);
    let tag = key().sign(&m);
    let cases: Vec<(&str, String)> = vec![
        ("upper-case hex", format!("{}\n", tag.to_uppercase())),
        ("extra text", format!("{tag} extra\n")),
        ("text after the line", format!("{tag}\nextra")),
        ("two LF", format!("{tag}\n\n")),
        ("two CRLF", format!("{tag}\r\n\r\n")),
        ("leading space", format!(" {tag}\n")),
        ("leading line end", format!("\n{tag}")),
        ("63 digits", format!("{}\n", &tag[..63])),
        ("empty", String::new()),
    ];
    let mut rx = Rx::new();
    for (why, body) in cases {
        let h = rx.process(NAME, &with_hmac_entry(&b, body.as_bytes()));
        assert_eq!(
            (h.result.as_str(), h.code.as_deref()),
            ("NAK", Some("B05")),
            "{why}: {:?}",
            h.message
        );
    }
}

#[test]
fn b05_hmac_with_one_line_end_or_none_is_accepted() {
    let mut rx = Rx::new();
    for (seq, end) in [("001", "\n"), ("002", "\r\n"), ("003", "")] {
        let b = batch_seq(seq, Charset::Utf8);
        let m = sample::manifest(&[("control.txt", &b.control()), ("registry.csv", &b.registry)]);
        let body = format!("{}{end}", key().sign(&m));
        let h = rx.process(&b.file_name(), &with_hmac_entry(&b, body.as_bytes()));
        assert_ack(&h);
    }
}

#[test]
fn b05_no_key_configured_hmac_entry_is_ignored_and_response_unsigned() {
    let cfg = config_text("[partners.MUNIS]\n");
    let mut rx = Rx::with(&cfg);
    let cases: [(&str, Option<&[u8]>); 3] = [
        ("001", Some(b"garbage, not an HMAC at all\n\n")),
        ("002", Some(b"")),
        ("003", None),
    ];
    for (seq, hmac) in cases {
        let b = batch_seq(seq, Charset::Utf8);
        let z = match hmac {
            Some(h) => with_hmac_entry(&b, h),
            None => b.zip(None),
        };
        let h = rx.process(&b.file_name(), &z);
        assert_ack(&h);
        let resp = h.response.expect("response");
        assert_eq!(
            entry_names(&rx.response(&resp)),
            ["control.txt", "result.csv", "manifest.sha256"],
            "{seq}: unsigned response"
        );
    }
    // A NAK to a partner without key is unsigned too.
    let b = batch_seq("004", Charset::Utf8);
    let z = with_manifest_for(&b, b"not a manifest\n", None);
    let h = rx.process(&b.file_name(), &z);
    assert_nak(&rx, &h, "B04");
    assert_eq!(
        entry_names(&rx.response(h.response.as_deref().expect("response"))),
        ["control.txt", "manifest.sha256"]
    );
}

fn with_manifest_for(b: &Batch, manifest: &[u8], key: Option<&Key>) -> Vec<u8> {
    sample::zip_entries(&files_with_manifest(
        &b.control(),
        &b.registry,
        manifest,
        key,
    ))
}

// ---------------------------------------------------------------------------------------------
// B04: SHA-256 mismatch or malformed manifest (the HMAC always signs the manifest as given)

#[test]
fn a_manifest_over_a_mib_is_b04_when_its_hmac_is_right_and_b05_when_not() {
    // Over 1 MiB the manifest is not kept in memory; its HMAC is still checked first (B05 comes
    // before B04), over every byte. Pseudo-random lines keep its ratio under 200.
    let mut manifest = good_manifest().into_bytes();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    while manifest.len() <= (1 << 20) + 1000 {
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            manifest.push(b"0123456789abcdef"[(seed % 16) as usize]);
        }
        manifest.extend_from_slice(b"  extra.txt\n");
    }
    let m = nak(&with_manifest(&manifest), "B04");
    assert_mentions(&m, "manifest.sha256");
    // The same with one byte of the manifest changed after signing: B05.
    let b = batch();
    let mut files = files_with_manifest(&b.control(), &b.registry, &manifest, Some(&key()));
    let (_, bytes) = files
        .iter_mut()
        .find(|(n, _)| n == "manifest.sha256")
        .expect("manifest entry");
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    let m = nak(&sample::zip_entries(&files), "B05");
    assert_mentions(&m, "manifest.sha256.hmac");
}

#[test]
fn b04_hash_mismatch() {
    let b = batch();
    let mut reg = b.registry.clone();
    reg.push(b'x');
    let m = sample::manifest(&[("control.txt", &b.control()), ("registry.csv", &reg)]);
    let msg = nak(&with_manifest(&m), "B04");
    assert_mentions(&msg, "registry.csv");
}

#[test]
fn b04_file_not_listed() {
    let b = batch();
    let m = sample::manifest(&[("control.txt", &b.control())]);
    let msg = nak(&with_manifest(&m), "B04");
    assert_mentions(&msg, "registry.csv");
    // An empty manifest lists nothing.
    nak(&with_manifest(b""), "B04");
}

#[test]
fn b04_listed_file_missing_from_the_archive() {
    let m = format!("{}{}  readme.txt\n", good_manifest(), sha256_hex(b"x"));
    let msg = nak(&with_manifest(m.as_bytes()), "B04");
    assert_eq!(
        msg,
        "manifest.sha256 line 3: \"readme.txt\" is not in the archive"
    );
    // The name is quoted, so that a trailing space shows.
    let m = format!("{}{}  registry.csv \n", good_manifest(), sha256_hex(b"x"));
    let msg = nak(&with_manifest(m.as_bytes()), "B04");
    assert_eq!(
        msg,
        "manifest.sha256 line 3: \"registry.csv \" is not in the archive"
    );
}

#[test]
fn b04_manifest_lists_itself_or_the_hmac() {
    let m = format!("{}{}  manifest.sha256\n", good_manifest(), sha256_hex(b"x"));
    let msg = nak(&with_manifest(m.as_bytes()), "B04");
    assert_mentions(&msg, "manifest.sha256");
    let m = format!(
        "{}{}  manifest.sha256.hmac\n",
        good_manifest(),
        sha256_hex(b"x")
    );
    nak(&with_manifest(m.as_bytes()), "B04");
    // The .hmac entry of a sender with no key (allowed and ignored, §3), listed with its right
    // hash: still B04, the manifest lists no manifest file (§6).
    let mut rx = Rx::with(&config_text("[partners.MUNIS]\n"));
    let b = batch();
    let control = b.control();
    let hmac: &[u8] = b"ignored\n";
    let m = sample::manifest(&[
        ("control.txt", &control),
        ("registry.csv", &b.registry),
        ("manifest.sha256.hmac", hmac),
    ]);
    let z = sample::zip_entries(&[
        entry("control.txt", control),
        entry("registry.csv", b.registry.clone()),
        entry("manifest.sha256.hmac", hmac),
        entry("manifest.sha256", m),
    ]);
    let h = rx.process(NAME, &z);
    let msg = assert_nak(&rx, &h, "B04");
    assert_mentions(&msg, "manifest.sha256 line 3");
}

#[test]
fn b04_duplicate_line() {
    let good = good_manifest();
    let first = good.lines().next().expect("line");
    let m = format!("{good}{first}\n");
    let msg = nak(&with_manifest(m.as_bytes()), "B04");
    assert_mentions(&msg, "control.txt");
}

#[test]
fn b04_crlf_line_ends() {
    let m = good_manifest().replace('\n', "\r\n");
    nak(&with_manifest(m.as_bytes()), "B04");
}

#[test]
fn b04_upper_case_hex() {
    let m: String = good_manifest()
        .lines()
        .map(|l| format!("{}{}\n", l[..64].to_uppercase(), &l[64..]))
        .collect();
    nak(&with_manifest(m.as_bytes()), "B04");
}

#[test]
fn b04_single_space_separator() {
    let m = good_manifest().replace("  ", " ");
    nak(&with_manifest(m.as_bytes()), "B04");
    // A binary-mode marker ("<hash> *name") is not the agreed form either.
    let m = good_manifest().replace("  ", " *");
    nak(&with_manifest(m.as_bytes()), "B04");
}

#[test]
fn b04_missing_final_lf() {
    let good = good_manifest();
    let m = good.strip_suffix('\n').expect("ends with LF");
    let why = nak(&with_manifest(m.as_bytes()), "B04");
    assert_eq!(
        why,
        format!(
            "manifest.sha256 line {}: the last line does not end with LF",
            good.lines().count()
        )
    );
}

#[test]
fn b04_lines_in_any_order_are_accepted() {
    let good = good_manifest();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.reverse();
    let m = format!("{}\n", lines.join("\n"));
    assert_ne!(m, good);
    ack(&with_manifest(m.as_bytes()));
}

// ---------------------------------------------------------------------------------------------
// B06: control.txt malformed or inconsistent with the name

#[test]
fn b06_accepts_any_key_order_lf_and_blank_lines() {
    ack(&with_control(|c| {
        let mut lines: Vec<&str> = c.split("\r\n").filter(|l| !l.is_empty()).collect();
        lines.reverse();
        format!("\n{}\n\n", lines.join("\n\n"))
    }));
}

/// A signed archive of the batch whose `control.txt` is `control`, every entry stored (so that
/// a control file of blank lines over 1 MiB stays within the 200:1 ratio).
fn stored_with_control(control: &[u8]) -> Vec<u8> {
    let b = batch();
    let manifest = sample::manifest(&[("control.txt", control), ("registry.csv", &b.registry)]);
    let files = files_with_manifest(control, &b.registry, &manifest, Some(&key()));
    raw_zip(
        &files
            .iter()
            .map(|(n, bytes)| RawEntry::stored(n, bytes))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn b06_a_control_file_of_any_length_is_judged_by_its_lines_blank_ones_ignored() {
    // §4: blank lines are ignored; §3 bounds the file only as an entry of the archive. Two MiB
    // of blank lines (LF, then CRLF) around the keys: ACK, with created_at copied (§8).
    let b = batch();
    let good = String::from_utf8(b.control()).expect("ascii");
    let (head, tail) = good.split_at(good.find("created_at=").expect("key"));
    let blank = |n: usize, end: &str| end.repeat(n);
    let big = format!(
        "{}{head}{}{tail}",
        blank(1_200_000, "\n"),
        blank(500_000, "\r\n")
    );
    assert!(big.len() > 2 << 20);
    let mut rx = Rx::new();
    let h = rx.process(NAME, &stored_with_control(big.as_bytes()));
    assert_eq!(h.result, "ACK", "{:?}", h.message);
    let control = rx.response_control(ACK);
    assert_eq!(
        control_value(&control, "created_at").as_deref(),
        Some(b.created_at.as_str())
    );
    // The keys first, the blank lines after: the first MiB alone would parse, and it is the
    // whole file that is judged.
    let keys_first = format!("{good}{}", blank(2_200_000, "\n"));
    assert_ack(&Rx::new().process(NAME, &stored_with_control(keys_first.as_bytes())));
    // Faults far into it are named by line (and offset) as in a small one.
    let lines_before = 1_200_000 + head.matches('\n').count() + 500_000;
    let m = nak(
        &stored_with_control(format!("{big}comment=x\r\n").as_bytes()),
        "B06",
    );
    let last = lines_before + tail.matches('\n').count() + 1;
    assert_mentions(
        &m,
        &format!("control.txt line {last}: unknown key \"comment\""),
    );
    let odd = format!("{big}rows=\u{416}\r\n");
    let m = nak(&stored_with_control(odd.as_bytes()), "B06");
    assert_mentions(
        &m,
        &format!(
            "control.txt line {last}, key rows: byte 0xD0 (offset {} of the file) is not ASCII",
            big.len() + 5
        ),
    );
    // A line longer than 1 MiB is refused as such, its value never judged.
    let long = format!(
        "{}rows={}\r\n",
        good.replace("rows=3\r\n", ""),
        "0".repeat(1 << 20)
    );
    let m = nak(&stored_with_control(long.as_bytes()), "B06");
    assert_mentions(&m, "longer than 1048576 bytes");
    // Such a line is a created_at line only when it starts with `created_at=` (README,
    // decisions): a long `rows` line leaves the one created_at line to be copied (§8), and a
    // long created_at line beside a valid one makes two, so neither is; nor is one of two
    // after the blank lines (§8: exactly one).
    let long_created_at = format!("created_at={}\r\n{good}", "0".repeat(1 << 20));
    let twice = format!("{big}created_at=2026-11-22T01:05:00+05:00\r\n");
    for (control, created_at) in [
        (&long, b.created_at.as_str()),
        (&long_created_at, "2026-11-21T00:00:00+05:00"),
        (&twice, "2026-11-21T00:00:00+05:00"),
    ] {
        let mut rx = Rx::new();
        let h = rx.process(NAME, &stored_with_control(control.as_bytes()));
        assert_eq!(h.code.as_deref(), Some("B06"));
        let response = rx.response_control(&ACK.replace("_ACK", "_NAK"));
        assert_eq!(
            control_value(&response, "created_at").as_deref(),
            Some(created_at)
        );
    }
}

#[test]
fn b06_unknown_key() {
    let m = nak(&with_control(|c| format!("{c}comment=hello\r\n")), "B06");
    assert_mentions(&m, "control.txt");
    assert_mentions(&m, "comment");
}

#[test]
fn b06_duplicate_key() {
    let m = nak(&with_control(|c| format!("{c}rows=3\r\n")), "B06");
    assert_mentions(&m, "rows");
    // Even with an equal value first.
    nak(&with_control(|c| format!("encoding=utf-8\r\n{c}")), "B06");
}

#[test]
fn b06_missing_key() {
    for key_line in [
        "format=munis-offline/1\r\n",
        "encoding=utf-8\r\n",
        "amount_total=493000.00\r\n",
    ] {
        let z = with_control(|c| {
            assert!(c.contains(key_line), "{c}");
            c.replace(key_line, "")
        });
        let m = nak(&z, "B06");
        assert_mentions(&m, key_line.split('=').next().unwrap_or(""));
    }
}

#[test]
fn b06_spaces_around_equals() {
    for bad in ["rows =3", "rows= 3", "rows = 3", " rows=3", "rows=3 "] {
        let m = nak(&with_control(|c| c.replace("rows=3", bad)), "B06");
        assert_mentions(&m, "control.txt");
    }
}

#[test]
fn b06_batch_id_inconsistent_with_the_name() {
    let m = nak(
        &with_control(|c| {
            c.replace(
                "batch_id=MUNIS_SUDBILLING_PAY_20261121_001",
                "batch_id=MUNIS_SUDBILLING_PAY_20261121_002",
            )
        }),
        "B06",
    );
    assert_mentions(&m, "batch_id");
}

#[test]
fn b06_type_inconsistent_with_the_name() {
    let m = nak(&with_control(|c| c.replace("type=PAY", "type=REV")), "B06");
    assert_mentions(&m, "type");
    nak(&with_control(|c| c.replace("type=PAY", "type=pay")), "B06");
}

#[test]
fn b06_sender_inconsistent_with_the_name() {
    let m = nak(
        &with_control(|c| c.replace("sender=MUNIS", "sender=BANKX")),
        "B06",
    );
    assert_mentions(&m, "sender");
}

#[test]
fn b06_receiver_inconsistent_with_the_name() {
    let m = nak(
        &with_control(|c| c.replace("receiver=SUDBILLING", "receiver=OTHERRX")),
        "B06",
    );
    assert_mentions(&m, "receiver");
}

#[test]
fn b06_business_date_inconsistent_with_the_name() {
    for bad in ["2026-11-20", "20261121", "2026-11-21x", "2026-13-01"] {
        let m = nak(
            &with_control(|c| {
                c.replace("business_date=2026-11-21", &format!("business_date={bad}"))
            }),
            "B06",
        );
        assert_mentions(&m, "business_date");
    }
}

#[test]
fn b06_bad_created_at() {
    for bad in [
        "2026-11-22 01:05:00+05:00",
        "2026-11-22T01:05:00",
        "2026-11-22T25:05:00+05:00",
        "22.11.2026 01:05",
        "",
        // Second 60, even where a leap second could fall (23:59:60 UTC).
        "2026-11-22T01:05:60+05:00",
        "2016-12-31T23:59:60Z",
        "2017-01-01T04:59:60+05:00",
    ] {
        let mut rx = Rx::new();
        let h = rx.process(NAME, &with_control(|c| c.replace(CREATED_AT, bad)));
        let m = assert_nak(&rx, &h, "B06");
        assert_mentions(&m, "created_at");
        assert_eq!(created_at_of(&rx, NAK), FALLBACK_CREATED_AT, "{bad:?}");
    }
}

#[test]
fn b06_a_control_line_of_spaces_is_not_blank() {
    // §4 ignores blank lines; §5 calls a blank line one that makes "a row of one empty field",
    // so a line of spaces or tabs is a line without '='.
    for line in [" ", "\t", "  \t"] {
        let m = nak(&with_control(|c| format!("{c}{line}\r\n")), "B06");
        assert_mentions(&m, "control.txt");
        assert_mentions(&m, "'='");
    }
}

#[test]
fn b06_bad_encoding_name() {
    for bad in ["UTF-8", "utf8", "cp1251", "koi8-r", ""] {
        let m = nak(
            &with_control(|c| c.replace("encoding=utf-8", &format!("encoding={bad}"))),
            "B06",
        );
        assert_mentions(&m, "encoding");
    }
}

#[test]
fn b06_rows_not_a_number() {
    for bad in ["three", "-3", "3.0", "+3", "", "0x3"] {
        let m = nak(
            &with_control(|c| c.replace("rows=3\r\n", &format!("rows={bad}\r\n"))),
            "B06",
        );
        assert_mentions(&m, "rows");
    }
}

#[test]
fn b06_amount_total_with_one_decimal() {
    for bad in [
        "493000.0",
        "493000",
        "493000.000",
        "493000,00",
        "-493000.00",
    ] {
        let m = nak(
            &with_control(|c| c.replace("amount_total=493000.00", &format!("amount_total={bad}"))),
            "B06",
        );
        assert_mentions(&m, "amount_total");
    }
}

#[test]
fn b06_non_ascii_byte() {
    let b = batch();
    let mut control = b.control();
    let at = control.len() - 2;
    control.splice(at..at, [0xC2, 0xA0]); // a UTF-8 no-break space after amount_total
    let m = nak(&pack(&control, &b.registry), "B06");
    assert_mentions(&m, "control.txt");
    let mut control = b.control();
    control.extend_from_slice(b"\xff\r\n");
    nak(&pack(&control, &b.registry), "B06");
}

// ---------------------------------------------------------------------------------------------
// B07: registry unreadable

fn registry_with_header(header: &[&str]) -> Vec<u8> {
    sample::registry_text(header, &pay_rows()).into_bytes()
}

#[test]
fn b07_header_in_the_wrong_order() {
    let mut h = PAY_HEADER;
    h.swap(3, 4);
    let m = nak(&with_registry(&batch(), &registry_with_header(&h)), "B07");
    assert_mentions(&m, "registry.csv");
    assert_mentions(&m, "line 1");
}

#[test]
fn b07_header_missing_a_column() {
    let h = &PAY_HEADER[..10];
    nak(&with_registry(&batch(), &registry_with_header(h)), "B07");
}

#[test]
fn b07_header_with_an_extra_column() {
    let mut h = PAY_HEADER.to_vec();
    h.push("note");
    nak(&with_registry(&batch(), &registry_with_header(&h)), "B07");
    // A header differing only in case, or with a space, is not the schema's header either.
    let h = PAY_HEADER.map(|f| if f == "amount" { "Amount" } else { f });
    nak(&with_registry(&batch(), &registry_with_header(&h)), "B07");
}

/// The batch's registry with `bytes` put into row 2's `payer_name` (physical line 3).
fn registry_with_bytes_in_a_name(b: &Batch, bytes: &[u8]) -> Vec<u8> {
    registry_with_bytes_at(b, b"To'xtayeva", bytes)
}

#[test]
fn b07_invalid_utf8_bytes() {
    let b = batch();
    let cases: [(&str, &[u8]); 6] = [
        ("overlong '/'", b"\xC0\xAF"),
        ("overlong NUL", b"\xC0\x80"),
        ("lone continuation byte", b"\x80"),
        ("0xFF", b"\xFF"),
        ("surrogate", b"\xED\xA0\x80"),
        ("truncated sequence", b"\xE2\x82"),
    ];
    for (why, bytes) in cases {
        let mut rx = Rx::new();
        let h = rx.process(
            NAME,
            &with_registry(&b, &registry_with_bytes_in_a_name(&b, bytes)),
        );
        let m = assert_nak(&rx, &h, "B07");
        assert!(
            m.contains("line 3") && m.contains("payer_name"),
            "{why}: {m}"
        );
    }
    // Above U+10FFFF.
    nak(
        &with_registry(&b, &registry_with_bytes_in_a_name(&b, b"\xF4\x90\x80\x80")),
        "B07",
    );
    // Valid multi-byte UTF-8 in the same place is fine.
    ack(&with_registry(
        &b,
        &registry_with_bytes_in_a_name(&b, "Тошматов".as_bytes()),
    ));
}

#[test]
fn b07_byte_0x98_in_windows_1251() {
    let b = batch_seq("001", Charset::Windows1251);
    // Valid windows-1251 Cyrillic bytes are fine...
    let cyr = Charset::Windows1251.encode("Тошматов").expect("encodable");
    ack(&with_registry(&b, &registry_with_bytes_in_a_name(&b, &cyr)));
    // ...0x98 is undefined there.
    let m = nak(
        &with_registry(&b, &registry_with_bytes_in_a_name(&b, b"\xC0\x98")),
        "B07",
    );
    assert_mentions(&m, "payer_name");
    // In cp866 the same byte is a letter.
    let b = batch_seq("001", Charset::Cp866);
    ack(&with_registry(
        &b,
        &registry_with_bytes_in_a_name(&b, b"\x98"),
    ));
}

#[test]
fn b07_text_after_a_closing_quote() {
    let b = batch();
    for bad in [
        &b"\"Davlat\" boji"[..],
        b"\"Davlat\"boji",
        b"\"Davlat\"\"\" x",
    ] {
        let text = b.registry.clone();
        let at = text
            .windows(11)
            .position(|w| w == b"Davlat boji")
            .expect("purpose");
        let mut reg = text[..at].to_vec();
        reg.extend_from_slice(bad);
        reg.extend_from_slice(&text[at + 11..]);
        let m = nak(&with_registry(&b, &reg), "B07");
        assert_mentions(
            &m,
            "registry.csv line 2, field purpose: text after a closing quote",
        );
    }
}

#[test]
fn b07_quoted_field_open_at_the_end_of_the_file() {
    let b = batch();
    let mut reg = b.registry.clone();
    // The last row's purpose is empty: open a quote there and never close it.
    assert!(reg.ends_with(b";\r\n"));
    reg.truncate(reg.len() - 2);
    reg.extend_from_slice(b"\"open purpose\r\n");
    let m = nak(&with_registry(&b, &reg), "B07");
    assert_mentions(
        &m,
        ", field purpose: a quoted field opened here is still open",
    );
    // Closed, it is an ordinary field.
    reg.truncate(reg.len() - 2);
    reg.extend_from_slice(b"\"\r\n");
    ack(&with_registry(&b, &reg));
}

#[test]
fn b07_empty_registry() {
    let mut b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &[], 6);
    b.registry = Vec::new();
    assert_eq!((b.rows, b.amount_total), (0, 0));
    let m = nak(&b.zip(Some(&key())), "B07");
    assert_mentions(&m, "registry.csv");
    // A header alone is a registry of no rows.
    let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &[], 6);
    ack(&b.zip(Some(&key())));
}

#[test]
fn b07_utf8_bom_accepted_for_utf8_but_not_for_single_byte_encodings() {
    for (enc, ok) in [
        (Charset::Utf8, true),
        (Charset::Cp866, false),
        (Charset::Windows1251, false),
    ] {
        let b = batch_seq("001", enc);
        let mut reg = b"\xEF\xBB\xBF".to_vec();
        reg.extend_from_slice(&b.registry);
        let z = with_registry(&b, &reg);
        if ok {
            ack(&z);
        } else {
            let m = nak(&z, "B07");
            assert_mentions(&m, "line 1");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// B08: control totals differ from the registry

#[test]
fn b08_rows_count_wrong() {
    for delta in [1i64, -1] {
        let mut b = batch();
        b.rows = (b.rows as i64 + delta) as u64;
        let m = nak(&b.zip(Some(&key())), "B08");
        // File, line and key of the declared count (§8), and the count found.
        assert_mentions(&m, "control.txt line 9, key rows: ");
        assert_mentions(&m, "registry.csv has 3 data rows");
    }
}

#[test]
fn b08_amount_total_wrong() {
    for delta in [1i128, -1, 100] {
        let mut b = batch();
        b.amount_total += delta;
        let m = nak(&b.zip(Some(&key())), "B08");
        assert_mentions(&m, "control.txt line 10, key amount_total: ");
    }
}

#[test]
fn b08_for_counts_and_totals_too_large_for_any_registry() {
    // Well-formed numbers (§4: a number of rows; so'm with exactly 2 decimals) that no
    // registry can match differ from it (B08); they are not malformed (B06).
    let huge_rows = with_control(|c| c.replace("rows=3", "rows=99999999999999999999999"));
    assert_mentions(&nak(&huge_rows, "B08"), "rows");
    let huge_total = with_control(|c| {
        let line = c
            .split("\r\n")
            .find(|l| l.starts_with("amount_total="))
            .expect("amount_total line")
            .to_string();
        c.replace(&line, &format!("amount_total={}.00", "9".repeat(40)))
    });
    assert_mentions(&nak(&huge_total, "B08"), "amount_total");
}

#[test]
fn b08_amount_total_counts_malformed_amounts_as_zero_and_skips_wrong_sized_rows() {
    let good = pay_rows();
    let mut rows = vec![good[0].clone()]; // 204000.00, well-formed
    let mut r = good[1].clone();
    r[0] = "25786018516960".into();
    r[6] = "85000.5".into(); // malformed: counts as zero
    rows.push(r);
    let mut r = good[2].clone();
    r[0] = "25786018516961".into();
    r.pop(); // 10 fields: excluded from the sum although 204000.00 is well-formed
    rows.push(r);
    let mut r = good[1].clone();
    r[0] = "25786018516962".into();
    r[6] = String::new(); // missing: zero
    rows.push(r);
    let mut r = good[1].clone();
    r[0] = "25786018516963".into();
    r[6] = "-5.00".into(); // malformed: zero
    rows.push(r);
    let mut r = good[1].clone();
    r[0] = "25786018516964".into();
    r[4] = "12345".into(); // bad payer_id, but the amount is well-formed: counts
    r[6] = "100.00".into();
    rows.push(r);
    let mut r = good[1].clone();
    r[0] = "25786018516965".into();
    r.push("extra".into()); // 12 fields: excluded
    rows.push(r);
    let mut b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
    b.rows = 7;
    b.amount_total = 20_410_000; // 204000.00 + 100.00
    let rx = ack(&b.zip(Some(&key())));
    let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
    let got: Vec<(String, String)> = statuses(&result)
        .into_iter()
        .map(|(_, p, s, f)| (p, format!("{s} {f}")))
        .collect();
    let want = [
        ("25786018516942", "4 "),
        ("25786018516960", "202 amount"),
        ("25786018516961", "202 "),
        ("25786018516962", "201 amount"),
        ("25786018516963", "202 amount"),
        ("25786018516964", "202 payer_id"),
        ("25786018516965", "202 "),
    ];
    assert_eq!(got.len(), want.len());
    for ((p, s), (wp, ws)) in got.iter().zip(want) {
        assert_eq!(p, wp);
        let code = ws.split(' ').next().unwrap_or("");
        assert!(s.starts_with(code), "{p}: {s} (want {ws})");
        if ws.len() > code.len() + 1 {
            assert_eq!(s, ws, "{p}");
        }
    }
    // Counting the wrong-sized row, or the malformed amount, is wrong.
    for wrong in [20_410_000 + 20_400_000, 20_410_000 + 8_500_050] {
        let mut b2 = b.clone();
        b2.amount_total = wrong;
        nak(&b2.zip(Some(&key())), "B08");
    }
}

// ---------------------------------------------------------------------------------------------
// B09: this batch id was already processed with different content

#[test]
fn b09_different_bytes_after_an_ack() {
    let mut rx = Rx::new();
    assert_ack(&rx.process(NAME, &good_zip()));
    let mut b = batch();
    b.created_at = "2026-11-22T02:00:00+05:00".into();
    let h = rx.process(NAME, &b.zip(Some(&key())));
    let m = assert_nak(&rx, &h, "B09");
    assert_mentions(&m, BATCH_ID);
    // The ACK stays in the outbox beside the NAK.
    assert_eq!(rx.outbox(), [ACK, NAK]);
    // Still B09 later, whatever the new content.
    let h = rx.process(NAME, b"garbage");
    assert_nak(&rx, &h, "B09");
}

/// The same four files zipped again (stored instead of deflated: other bytes, the same
/// content) are not a re-delivery: §7.1 defines one by its bytes, and a response names the
/// SHA-256 of the archive file it answers (§8 `in_reply_to_sha256`), so the stored ACK cannot
/// answer them, and applying them again is what `B09` is there to prevent.
#[test]
fn b09_the_same_files_zipped_again_are_not_a_redelivery() {
    let mut rx = Rx::new();
    let first = good_zip();
    assert_ack(&rx.process(NAME, &first));
    let rezipped = raw_zip(&raw_good_entries());
    assert_ne!(rezipped, first);
    let files = |z: &[u8]| {
        let mut z = zip::ZipArchive::new(Cursor::new(z.to_vec())).expect("zip");
        (0..z.len())
            .map(|i| {
                let mut e = z.by_index(i).expect("entry");
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut bytes).expect("read");
                (String::from_utf8_lossy(e.name_raw()).into_owned(), bytes)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(files(&first), files(&rezipped), "the same files");
    let h = rx.process(NAME, &rezipped);
    let m = assert_nak(&rx, &h, "B09");
    assert_mentions(&m, "other bytes");
    let control = rx.response_control(NAK);
    assert_eq!(
        control_value(&control, "in_reply_to_sha256"),
        Some(sha256_hex(&rezipped))
    );
    // The first bytes still get the stored ACK.
    assert_eq!(rx.process(NAME, &first).result, "RESENT");
}

#[test]
fn b09_not_after_naks_only_a_corrected_batch_is_acknowledged() {
    let mut rx = Rx::new();
    let h = rx.process(NAME, &batch().zip(Some(&Key([7; 32]))));
    assert_nak(&rx, &h, "B05");
    let h = rx.process(NAME, &good_plus_entry_named(b"readme.txt"));
    assert_nak(&rx, &h, "B03");
    let h = rx.process(NAME, &good_zip());
    assert_ack(&h);
    // Once processed, other bytes are B09.
    let h = rx.process(NAME, &batch().zip(Some(&Key([7; 32]))));
    assert_nak(&rx, &h, "B09");
}

#[test]
fn b09_same_bytes_as_an_ack_get_the_stored_ack_back() {
    let mut rx = Rx::new();
    let z = good_zip();
    let first = rx.process(NAME, &z);
    assert_ack(&first);
    let sent = rx.response(ACK);
    let again = rx.process(NAME, &z);
    assert_eq!(again.result, "RESENT");
    assert_eq!(again.code, None);
    assert_eq!(again.response.as_deref(), Some(ACK));
    assert_eq!(rx.response(ACK), sent);
    assert_eq!(rx.outbox(), [ACK]);
    // Still the stored ACK after other batches were answered in between.
    let other = batch_seq("002", Charset::Utf8);
    assert_ack(&rx.process(&other.file_name(), &other.zip(Some(&key()))));
    let third = rx.process(NAME, &z);
    assert_eq!(third.result, "RESENT");
    assert_eq!(rx.response(ACK), sent);
}

#[test]
fn b09_resend_is_byte_for_byte_even_after_the_configuration_changed() {
    let mut rx = Rx::new();
    let z = good_zip();
    assert_ack(&rx.process(NAME, &z));
    let sent = rx.response(ACK);
    // A second engine over the same folders: partner MUNIS removed, tiny limits.
    let cfg_path = rx.dir.path().join("changed.toml");
    std::fs::write(
        &cfg_path,
        config_text("[limits]\nmax_entries = 1\nmax_archive_bytes = 10\n"),
    )
    .expect("config");
    let cfg = reestr::config::Config::load(&cfg_path).expect("config loads");
    let mut engine = Engine::open(cfg).expect("open");
    std::fs::remove_file(engine.cfg.outbox.join(ACK)).expect("ACK collected by the sender");
    rx.drop_in(NAME, &z);
    let reestr::engine::RunOutcome {
        handled: h,
        error: err,
        ..
    } = engine.run();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].result, "RESENT", "{:?}", h[0]);
    assert_eq!(
        std::fs::read(engine.cfg.outbox.join(ACK)).expect("resent"),
        sent
    );
    // Other bytes under that configuration: the sender is no longer configured (B10 first).
    rx.drop_in(NAME, b"other bytes");
    let reestr::engine::RunOutcome {
        handled: h,
        error: err,
        ..
    } = engine.run();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        (h[0].result.as_str(), h[0].code.as_deref()),
        ("NAK", Some("B10"))
    );
}

#[test]
fn b09_rejected_bytes_are_judged_afresh_under_a_new_configuration() {
    // No key for MUNIS: an archive signed with a foreign key is ACK (the HMAC is ignored);
    // under a key the same bytes were B05.
    let mut rx = Rx::new();
    let z = batch().zip(Some(&Key([7; 32])));
    let h = rx.process(NAME, &z);
    assert_nak(&rx, &h, "B05");
    let cfg_path = rx.dir.path().join("nokey.toml");
    std::fs::write(&cfg_path, config_text("[partners.MUNIS]\n")).expect("config");
    let cfg = reestr::config::Config::load(&cfg_path).expect("config loads");
    let mut engine = Engine::open(cfg).expect("open");
    rx.drop_in(NAME, &z);
    let reestr::engine::RunOutcome {
        handled: h,
        error: err,
        ..
    } = engine.run();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(h[0].result, "ACK", "{:?}", h[0]);
}

// ---------------------------------------------------------------------------------------------
// B10: sender, receiver or type not configured

/// The batch with other parties, name and control consistent.
fn batch_between(sender: &str, receiver: &str) -> Batch {
    let mut b = batch();
    b.sender = sender.into();
    b.receiver = receiver.into();
    b
}

#[test]
fn b10_receiver_code_not_ours() {
    let b = batch_between("MUNIS", "OTHERRX");
    let mut rx = Rx::new();
    let h = rx.process(&b.file_name(), &b.zip(Some(&key())));
    let m = assert_nak(&rx, &h, "B10");
    assert_mentions(&m, "OTHERRX");
    // The response comes from our own code, to the sender, and is signed with its key.
    assert_eq!(h.response.as_deref(), Some(NAK));
    assert_eq!(rx.outbox(), [NAK]);
    let control = rx.response_control(NAK);
    assert_eq!(
        control_value(&control, "sender").as_deref(),
        Some("SUDBILLING")
    );
    assert_eq!(
        control_value(&control, "receiver").as_deref(),
        Some("MUNIS")
    );
    assert_eq!(
        control_value(&control, "batch_id").as_deref(),
        Some("SUDBILLING_MUNIS_PAY_20261121_001_NAK")
    );
    assert_eq!(
        control_value(&control, "in_reply_to").as_deref(),
        Some("MUNIS_OTHERRX_PAY_20261121_001")
    );
    assert_eq!(
        entry_names(&rx.response(NAK)),
        ["control.txt", "manifest.sha256", "manifest.sha256.hmac"]
    );
}

#[test]
fn b10_sender_not_configured() {
    let b = batch_between("BANKX", "SUDBILLING");
    let z = b.zip(Some(&key()));
    let mut rx = Rx::new();
    let h = rx.process(&b.file_name(), &z);
    let m = assert_nak(&rx, &h, "B10");
    assert_mentions(&m, "BANKX");
    let resp = "SUDBILLING_BANKX_PAY_20261121_001_NAK.zip";
    assert_eq!(h.response.as_deref(), Some(resp));
    // Unsigned: no key for an unknown sender.
    assert_eq!(
        entry_names(&rx.response(resp)),
        ["control.txt", "manifest.sha256"]
    );
    let control = rx.response_control(resp);
    assert_eq!(
        control_value(&control, "in_reply_to").as_deref(),
        Some("BANKX_SUDBILLING_PAY_20261121_001")
    );
    assert_eq!(
        control_value(&control, "in_reply_to_sha256"),
        Some(sha256_hex(&z))
    );
    assert_eq!(
        control_value(&control, "receiver").as_deref(),
        Some("BANKX")
    );
    // The manifest of the response is right.
    let manifest = rx
        .response_entry(resp, "manifest.sha256")
        .expect("manifest");
    let c = rx.response_entry(resp, "control.txt").expect("control");
    assert_eq!(manifest, sample::manifest(&[("control.txt", &c)]));
}

#[test]
fn b10_unknown_sender_response_names_the_inbound_even_for_garbage() {
    let z = b"not even a zip".to_vec();
    let mut rx = Rx::new();
    let h = rx.process("BANKX_SUDBILLING_REV_20261121_000123.zip", &z);
    assert_nak(&rx, &h, "B10");
    let resp = "SUDBILLING_BANKX_REV_20261121_000123_NAK.zip";
    let control = rx.response_control(resp);
    assert_eq!(
        control_value(&control, "in_reply_to").as_deref(),
        Some("BANKX_SUDBILLING_REV_20261121_000123")
    );
    assert_eq!(
        control_value(&control, "in_reply_to_sha256"),
        Some(sha256_hex(&z))
    );
    assert_eq!(
        control_value(&control, "created_at").as_deref(),
        Some(FALLBACK_CREATED_AT)
    );
}

#[test]
fn b10_type_not_configured_for_the_partner() {
    let cfg = config_text(&format!("{MUNIS_WITH_KEY}types = [\"PAY\"]\n"));
    let rev_rows = vec![vec![
        "25786018516942".to_string(),
        "2026-11-21 22:00:00".into(),
        "204000.00".into(),
        "Xato to'lov".into(),
    ]];
    let rev = Batch::new(
        BatchType::REV,
        "001",
        Charset::Utf8,
        &REV_HEADER,
        &rev_rows,
        2,
    );
    let mut rx = Rx::with(&cfg);
    let h = rx.process(&rev.file_name(), &rev.zip(Some(&key())));
    let m = assert_nak(&rx, &h, "B10");
    assert_mentions(&m, "REV");
    assert_eq!(
        h.response.as_deref(),
        Some("SUDBILLING_MUNIS_REV_20261121_001_NAK.zip")
    );
    // PAY is configured.
    assert_ack(&rx.process(NAME, &good_zip()));
    // And with every type configured, the REV is processed.
    let mut rx = Rx::new();
    assert_ack(&rx.process(&rev.file_name(), &rev.zip(Some(&key()))));
}

// ---------------------------------------------------------------------------------------------
// Order of precedence: B10, B09, B01, B02, B03, B05, B04, B06, B07, B08

#[test]
fn order_b10_before_b01() {
    nak_with(
        &config_text(MUNIS_WITH_KEY),
        "BANKX_SUDBILLING_PAY_20261121_001.zip",
        b"garbage bytes",
        "B10",
    );
    nak_with(
        &config_text(MUNIS_WITH_KEY),
        "MUNIS_OTHERRX_PAY_20261121_001.zip",
        b"",
        "B10",
    );
}

#[test]
fn order_b10_before_b09() {
    // The batch id was ACKed while the type was configured; now it is not.
    let mut rx = Rx::new();
    assert_ack(&rx.process(NAME, &good_zip()));
    let cfg_path = rx.dir.path().join("pay-less.toml");
    std::fs::write(
        &cfg_path,
        config_text(&format!("{MUNIS_WITH_KEY}types = [\"REV\"]\n")),
    )
    .expect("config");
    let mut engine =
        Engine::open(reestr::config::Config::load(&cfg_path).expect("load")).expect("open");
    rx.drop_in(NAME, b"other bytes");
    let reestr::engine::RunOutcome {
        handled: h,
        error: err,
        ..
    } = engine.run();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(h[0].code.as_deref(), Some("B10"), "{:?}", h[0]);
}

#[test]
fn order_b09_before_b01() {
    let mut rx = Rx::new();
    assert_ack(&rx.process(NAME, &good_zip()));
    let z = good_zip();
    let h = rx.process(NAME, &z[..z.len() / 2]);
    assert_nak(&rx, &h, "B09");
}

#[test]
fn order_b01_and_b02_first_met_in_the_archive() {
    // Both in the central directory walk: a bad name (B02) is judged before any byte is read,
    // so it wins over a corrupt stream (B01) of an earlier entry.
    let mut z = good_plus_entry_named(b"../x");
    let r = raw_entry(&z, "control.txt");
    let start = r.data_start(&z);
    z[start] = 0xFF;
    nak(&z, "B02");
    // A corrupt first entry is met before a too-long registry line.
    let mut z = good_zip();
    let r = raw_entry(&z, "control.txt");
    let start = r.data_start(&z);
    z[start] = 0xFF;
    nak_with(&limits("max_line_bytes = 10"), NAME, &z, "B01");
}

#[test]
fn order_b02_before_b03() {
    // registry.csv encrypted (B02) and control.txt missing (B03).
    let b = batch();
    let m = sample::manifest(&[("registry.csv", &b.registry)]);
    let k = key();
    let mut z = sample::zip_entries(&[
        entry("registry.csv", b.registry.clone()),
        entry("manifest.sha256.hmac", format!("{}\n", k.sign(&m))),
        entry("manifest.sha256", m),
    ]);
    nak(&z, "B03");
    set_flags(&mut z, "registry.csv", |f| f | 1);
    nak(&z, "B02");
}

#[test]
fn order_b03_before_b05() {
    // An extra entry (B03) and no HMAC although a key is configured (B05).
    let mut files = batch().entries(None);
    files.push(entry("readme.txt", b"x".to_vec()));
    let z = sample::zip_entries(&files);
    nak(&z, "B03");
    nak(&batch().zip(None), "B05");
}

#[test]
fn order_b05_before_b04() {
    // Wrong HMAC (B05) and a manifest whose hash does not match (B04).
    let b = batch();
    let m = sample::manifest(&[("control.txt", b"other"), ("registry.csv", &b.registry)]);
    nak(&with_manifest_for(&b, &m, Some(&Key([7; 32]))), "B05");
    nak(&with_manifest_for(&b, &m, Some(&key())), "B04");
}

#[test]
fn order_b04_before_b06() {
    // control.txt with an unknown key (B06) and a manifest missing its final LF (B04).
    let b = batch();
    let control = format!(
        "{}comment=x\r\n",
        String::from_utf8(b.control()).expect("ascii")
    );
    let m = sample::manifest(&[
        ("control.txt", control.as_bytes()),
        ("registry.csv", &b.registry),
    ]);
    let k = key();
    let bad_m = &m[..m.len() - 1];
    let z = sample::zip_entries(&files_with_manifest(
        control.as_bytes(),
        &b.registry,
        bad_m,
        Some(&k),
    ));
    nak(&z, "B04");
    let z = sample::zip_entries(&files_with_manifest(
        control.as_bytes(),
        &b.registry,
        &m,
        Some(&k),
    ));
    nak(&z, "B06");
}

#[test]
fn order_b05_and_b04_before_b07_and_b08_found_by_the_rows() {
    // The rows are read while the archive is checked; what they find (invalid bytes, B07; a
    // wrong row count, B08) never answers an archive that fails the HMAC or the manifest.
    let good = batch();
    let mut b = batch();
    b.registry = registry_with_bytes_in_a_name(&good, b"\xC0\xAF");
    let m = sample::manifest(&[
        ("control.txt", &b.control()),
        ("registry.csv", &good.registry),
    ]);
    nak(&with_manifest_for(&b, &m, Some(&Key([7; 32]))), "B05");
    nak(&with_manifest_for(&b, &m, Some(&key())), "B04");
    nak(&b.zip(Some(&key())), "B07");
    let mut b = batch();
    b.rows += 5;
    let m = sample::manifest(&[
        ("control.txt", &good.control()),
        ("registry.csv", &b.registry),
    ]);
    nak(&with_manifest_for(&b, &m, Some(&key())), "B04");
    nak(&b.zip(Some(&key())), "B08");
}

#[test]
fn order_b06_before_b07() {
    // rows not a number (B06) and invalid UTF-8 in the registry (B07).
    let b = batch();
    let reg = registry_with_bytes_in_a_name(&b, b"\xC0\xAF");
    let control = String::from_utf8(b.control())
        .expect("ascii")
        .replace("rows=3", "rows=three");
    nak(&pack(control.as_bytes(), &reg), "B06");
    nak(&pack(&b.control(), &reg), "B07");
}

#[test]
fn order_b07_before_b08() {
    // Header wrong (B07) and the rows count wrong (B08).
    let mut b = batch();
    b.rows += 5;
    let mut h = PAY_HEADER;
    h.swap(0, 1);
    nak(&with_registry(&b, &registry_with_header(&h)), "B07");
    nak(&b.zip(Some(&key())), "B08");
}

#[test]
fn order_b07_before_b08_even_when_the_bad_bytes_come_late() {
    // The last row holds invalid bytes and amount_total is wrong: B07 wins although it is met
    // after rows whose sum is already off.
    let mut b = batch();
    b.amount_total += 1;
    let reg = registry_with_bytes_at(&b, b"G'ulomov", b"\xFF");
    let m = nak(&with_registry(&b, &reg), "B07");
    assert_mentions(&m, "line 4");
}

// ---------------------------------------------------------------------------------------------
// §8: created_at and zip entry times of a response

fn created_at_of(rx: &Rx, response: &str) -> String {
    control_value(&rx.response_control(response), "created_at").expect("created_at")
}

#[test]
fn created_at_copied_for_a_b04_nak() {
    let mut b = batch();
    b.created_at = "2026-11-22T03:04:05+05:00".into();
    let m = sample::manifest(&[("control.txt", b"x"), ("registry.csv", &b.registry)]);
    let mut rx = Rx::new();
    let h = rx.process(NAME, &with_manifest_for(&b, &m, Some(&key())));
    assert_nak(&rx, &h, "B04");
    assert_eq!(created_at_of(&rx, NAK), "2026-11-22T03:04:05+05:00");
}

#[test]
fn created_at_copied_as_written_for_a_b06_caused_by_another_key() {
    // `Z` and lower-case are valid RFC 3339 and are copied exactly as written.
    for written in [
        "2026-11-22T03:04:05+05:00",
        "2026-11-21T22:04:05Z",
        "2026-11-21t22:04:05.25z",
    ] {
        let z = with_control(|c| {
            c.replace(CREATED_AT, written)
                .replace("rows=3", "rows=three")
        });
        let mut rx = Rx::new();
        let h = rx.process(NAME, &z);
        let m = assert_nak(&rx, &h, "B06");
        assert_mentions(&m, "rows");
        assert_eq!(created_at_of(&rx, NAK), written);
    }
}

#[test]
fn created_at_copied_for_a_b03_nak() {
    let mut rx = Rx::new();
    let h = rx.process(NAME, &good_plus_entry_named(b"readme.txt"));
    assert_nak(&rx, &h, "B03");
    assert_eq!(created_at_of(&rx, NAK), CREATED_AT);
}

#[test]
fn created_at_falls_back_for_b01() {
    let mut rx = Rx::new();
    let z = good_zip();
    let h = rx.process(NAME, &z[..z.len() - 10]);
    assert_nak(&rx, &h, "B01");
    assert_eq!(created_at_of(&rx, NAK), FALLBACK_CREATED_AT);
}

#[test]
fn created_at_falls_back_for_b02() {
    // control.txt is fine, but the archive did not pass B02.
    let mut rx = Rx::with(&limits("max_entries = 3"));
    let h = rx.process(NAME, &good_zip());
    assert_nak(&rx, &h, "B02");
    assert_eq!(created_at_of(&rx, NAK), FALLBACK_CREATED_AT);
}

#[test]
fn created_at_falls_back_with_two_created_at_lines() {
    for second in [CREATED_AT, "2026-11-22T04:00:00+05:00"] {
        let z = with_control(|c| format!("{c}created_at={second}\r\n"));
        let mut rx = Rx::new();
        let h = rx.process(NAME, &z);
        assert_nak(&rx, &h, "B06");
        assert_eq!(created_at_of(&rx, NAK), FALLBACK_CREATED_AT);
    }
}

#[test]
fn created_at_falls_back_with_an_invalid_created_at() {
    for bad in [
        "2026-11-22T25:05:00+05:00",
        "2026-11-22 01:05:00",
        "yesterday",
    ] {
        let z = with_control(|c| c.replace(CREATED_AT, bad));
        let mut rx = Rx::new();
        let h = rx.process(NAME, &z);
        assert_nak(&rx, &h, "B06");
        assert_eq!(created_at_of(&rx, NAK), FALLBACK_CREATED_AT);
    }
}

fn entry_times(zip_bytes: &[u8]) -> Vec<(u16, u8, u8, u8, u8, u8)> {
    let mut z = zip::ZipArchive::new(Cursor::new(zip_bytes)).expect("zip");
    (0..z.len())
        .map(|i| {
            let t = z.by_index(i).expect("entry").last_modified().expect("time");
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
            )
        })
        .collect()
}

#[test]
fn response_entry_times_follow_created_at_with_even_seconds() {
    let mut b = batch();
    b.created_at = "2026-11-22T01:05:07+05:00".into();
    let mut rx = Rx::new();
    assert_ack(&rx.process(NAME, &b.zip(Some(&key()))));
    assert_eq!(created_at_of(&rx, ACK), "2026-11-22T01:05:07+05:00");
    let times = entry_times(&rx.response(ACK));
    assert_eq!(times.len(), 4);
    assert!(
        times.iter().all(|t| *t == (2026, 11, 22, 1, 5, 6)),
        "{times:?}"
    );
    // A NAK too (B04), and the local time as written for a `Z` offset.
    let mut b = batch_seq("002", Charset::Utf8);
    b.created_at = "2026-11-21T20:59:59Z".into();
    let m = sample::manifest(&[("control.txt", b"x"), ("registry.csv", &b.registry)]);
    let h = rx.process(&b.file_name(), &with_manifest_for(&b, &m, Some(&key())));
    assert_nak(&rx, &h, "B04");
    let resp = h.response.expect("response");
    assert_eq!(created_at_of(&rx, &resp), "2026-11-21T20:59:59Z");
    let times = entry_times(&rx.response(&resp));
    assert!(
        times.iter().all(|t| *t == (2026, 11, 21, 20, 59, 58)),
        "{times:?}"
    );
    // The fallback: the business date at midnight.
    let h = rx.process("MUNIS_SUDBILLING_PAY_20261121_003.zip", b"");
    assert_nak(&rx, &h, "B01");
    let times = entry_times(&rx.response(h.response.as_deref().expect("response")));
    assert!(
        times.iter().all(|t| *t == (2026, 11, 21, 0, 0, 0)),
        "{times:?}"
    );
    // Years outside the zip range (README, decisions): the entry times are clamped to its
    // ends, and the text of created_at is still copied as written.
    for (seq, created_at, clamped) in [
        (
            "004",
            "2108-01-01T00:00:00+05:00",
            (2107, 12, 31, 23, 59, 58),
        ),
        ("005", "1979-12-31T23:59:59+05:00", (1980, 1, 1, 0, 0, 0)),
    ] {
        let mut b = batch_seq(seq, Charset::Utf8);
        b.created_at = created_at.into();
        let h = rx.process(&b.file_name(), &b.zip(Some(&key())));
        let resp = h.response.expect("response");
        assert_eq!(created_at_of(&rx, &resp), created_at);
        let times = entry_times(&rx.response(&resp));
        assert!(
            times.len() == 4 && times.iter().all(|t| *t == clamped),
            "{created_at}: {times:?}"
        );
    }
}

#[test]
fn same_bytes_under_another_batch_name_are_judged_not_resent() {
    // Bytes of the ACKed batch 001 arrive named as batch 002: not a re-delivery of 001. Judged
    // afresh, its control.txt names batch 001 (B06), and the answer is named for batch 002.
    let mut rx = Rx::new();
    let z = good_zip();
    assert_ack(&rx.process(NAME, &z));
    let other = "MUNIS_SUDBILLING_PAY_20261121_002.zip";
    let h = rx.process(other, &z);
    let m = assert_nak(&rx, &h, "B06");
    assert_mentions(&m, "batch_id");
    assert_eq!(
        h.response.as_deref(),
        Some("SUDBILLING_MUNIS_PAY_20261121_002_NAK.zip")
    );
}

#[test]
fn b09_bytes_of_an_earlier_nak_after_an_ack_are_b09() {
    let mut rx = Rx::new();
    let bad = batch().zip(Some(&Key([7; 32])));
    let h = rx.process(NAME, &bad);
    assert_nak(&rx, &h, "B05");
    assert_ack(&rx.process(NAME, &good_zip()));
    let h = rx.process(NAME, &bad);
    assert_nak(&rx, &h, "B09");
}

// ---------------------------------------------------------------------------------------------
// What the archive may legitimately be (§3: deflate or stored, zip64 allowed)

#[test]
fn stored_zip64_and_streamed_archives_are_accepted() {
    let b = batch();
    let files = b.entries(Some(&key()));
    let stored = zip_with(|z, o| {
        let o = o.compression_method(zip::CompressionMethod::Stored);
        for (n, bytes) in &files {
            add(z, o, n, bytes);
        }
    });
    let zip64 = zip_with(|z, o| {
        let o = o.large_file(true);
        for (n, bytes) in &files {
            add(z, o, n, bytes);
        }
    });
    // zip64 extra field (header id 0x0001) in the local header of each entry.
    let r = raw_entry(&zip64, "registry.csv");
    let extra = u16_at(&zip64, r.local + 28);
    assert!(extra >= 4 && u16_at(&zip64, r.local + 30 + r.name.len()) == 1);
    let streamed = streamed_zip(false);
    // Data descriptors: general-purpose flag bit 3 set in the local header.
    let r = raw_entry(&streamed, "registry.csv");
    assert_ne!(
        u16_at(&streamed, r.local + 6) & 8,
        0,
        "data descriptor used"
    );
    let streamed64 = streamed_zip(true);
    // A descriptor may also come without its signature (APPNOTE 4.3.9.3): drop it from the
    // registry's, moving everything after it and every offset past it back by four.
    let no_signature = {
        let mut z = streamed.clone();
        let at = r.data_start(&z) + r.csize(&z);
        assert_eq!(u32_at(&z, at), 0x0807_4b50);
        let records = directory(&z);
        let eocd = z.len() - 22;
        z.drain(at..at + 4);
        for rec in records {
            let field = rec.central - 4 + 42;
            let local = u32_at(&z, field);
            if local as usize > at {
                put_u32(&mut z, field, local - 4);
            }
        }
        let cd = u32_at(&z, eocd - 4 + 16);
        put_u32(&mut z, eocd - 4 + 16, cd - 4);
        z
    };
    for (what, z) in [
        ("stored", stored),
        ("zip64", zip64),
        ("streamed", streamed),
        ("streamed zip64", streamed64),
        ("descriptor without signature", no_signature),
    ] {
        let mut rx = Rx::new();
        let h = rx.process(NAME, &z);
        assert_eq!(h.result, "ACK", "{what}: {:?}", h.message);
    }
    // An empty entry whose descriptor has 8-byte sizes though its local header has no zip64
    // block (as some streaming writers do): both readings of its sizes match (zero), and the
    // one that the next header follows is its length.
    {
        let mut files = b.entries(None);
        files.push(entry("manifest.sha256.hmac", Vec::new()));
        let mut z = stream_zip(&files, false);
        let r = raw_entry(&z, "manifest.sha256.hmac");
        let at = r.data_start(&z) + r.csize(&z);
        assert_eq!(
            u32_at(&z, at),
            0x0807_4b50,
            "a descriptor with its signature"
        );
        // Signature, CRC-32, then each size widened from 4 to 8 bytes.
        z.splice(at + 16..at + 16, [0u8; 4]);
        z.splice(at + 12..at + 12, [0u8; 4]);
        let eocd = z.len() - 22;
        let cd = u32_at(&z, eocd + 16);
        put_u32(&mut z, eocd + 16, cd + 8);
        let mut rx = Rx::with(&config_text("[partners.MUNIS]\n"));
        let h = rx.process(NAME, &z);
        assert_eq!(h.result, "ACK", "8-byte descriptor sizes: {:?}", h.message);
    }
    // An empty entry streamed with zip64 descriptors (24 bytes, where a 4-byte reading of the
    // sizes also matches, the high halves being zero): an HMAC file, allowed and ignored when
    // no key is configured (§3), first and last in the archive.
    for first in [true, false] {
        let mut files = b.entries(None);
        let empty = entry("manifest.sha256.hmac", Vec::new());
        if first {
            files.insert(0, empty);
        } else {
            files.push(empty);
        }
        let z = stream_zip(&files, true);
        let mut rx = Rx::with(&config_text("[partners.MUNIS]\n"));
        let h = rx.process(NAME, &z);
        assert_eq!(
            h.result, "ACK",
            "empty entry first {first}: {:?}",
            h.message
        );
    }
}

// ---------------------------------------------------------------------------------------------
// B08 details

#[test]
fn b08_a_trailing_blank_line_is_a_row() {
    let mut b = batch();
    b.registry.extend_from_slice(b"\r\n");
    let m = nak(&b.zip(Some(&key())), "B08");
    assert_mentions(&m, "rows");
    b.rows += 1;
    let rx = ack(&b.zip(Some(&key())));
    let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
    let rows = statuses(&result);
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[3].0.as_str(), rows[3].2.as_str()), ("4", "202"));
}

#[test]
fn a_nak_found_after_the_rows_applies_nothing() {
    // With the invoices loaded, the rows are accepted; a B08 (known only after every row was
    // reconciled) must leave no payment behind, so the corrected batch gets status 1 again.
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    let mut bad = batch();
    bad.amount_total += 1;
    let h = rx.process(NAME, &bad.zip(Some(&key())));
    assert_nak(&rx, &h, "B08");
    let h = rx.process(NAME, &good_zip());
    assert_ack(&h);
    let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
    let got: Vec<String> = statuses(&result).into_iter().map(|r| r.2).collect();
    assert_eq!(got, ["1", "1", "1"]);
    // And a B07 on the last row, likewise.
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    let b = batch();
    let reg = registry_with_bytes_at(&b, b"G'ulomov", b"\xFF");
    let h = rx.process(NAME, &with_registry(&b, &reg));
    assert_nak(&rx, &h, "B07");
    assert_ack(&rx.process(NAME, &good_zip()));
    let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
    let got: Vec<String> = statuses(&result).into_iter().map(|r| r.2).collect();
    assert_eq!(got, ["1", "1", "1"]);
}

#[test]
fn a_nak_of_the_archive_checks_applies_none_of_the_rows_evaluated_ahead() {
    // The rows are evaluated while the archive is still being checked; whichever check then
    // fails (the registry's CRC, the HMAC, the manifest), none of them may stay applied.
    let mut crc = good_zip();
    set_crc(&mut crc, "registry.csv", |c| c ^ 1);
    let b = batch();
    let mut other = b.registry.clone();
    other.push(b'x');
    let manifest = sample::manifest(&[("control.txt", &b.control()), ("registry.csv", &other)]);
    for (code, z) in [
        ("B01", crc),
        ("B05", b.zip(Some(&Key([7; 32])))),
        ("B04", with_manifest(&manifest)),
    ] {
        let mut rx = Rx::new();
        rx.import_reference_invoices();
        let h = rx.process(NAME, &z);
        assert_nak(&rx, &h, code);
        assert_ack(&rx.process(NAME, &good_zip()));
        let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
        let got: Vec<String> = statuses(&result).into_iter().map(|r| r.2).collect();
        assert_eq!(got, ["1", "1", "1"], "after a {code}");
    }
}

#[test]
fn raw_zip_writer_makes_an_acceptable_archive() {
    ack(&raw_zip(&raw_good_entries()));
}

#[test]
fn b02_aes_encrypted_entry() {
    // WinZip AES: method 99, flag bit 0, extra field 0x9901 (version 2, "AE", AES-256, deflate).
    let mut entries = raw_good_entries();
    let reg = &mut entries[1];
    assert_eq!(reg.name, b"registry.csv");
    reg.method = 99;
    reg.flags |= 1;
    reg.crc = 0;
    reg.extra = vec![0x01, 0x99, 7, 0, 2, 0, b'A', b'E', 3, 8, 0];
    let mut data = vec![0x5Au8; 16 + 2]; // salt and password verifier
    data.extend_from_slice(&[0xA5; 64]);
    data.extend_from_slice(&[0x33; 10]); // authentication code
    reg.data = data;
    let m = nak(&raw_zip(&entries), "B02");
    assert_mentions(&m, "registry.csv");
}

#[test]
fn b02_traditional_pkware_encrypted_entry() {
    let mut entries = raw_good_entries();
    let reg = &mut entries[1];
    reg.flags |= 1;
    let mut data = vec![0x11u8; 12]; // encryption header
    data.extend_from_slice(&reg.data.clone());
    reg.data = data;
    let m = nak(&raw_zip(&entries), "B02");
    assert_mentions(&m, "registry.csv");
}

#[test]
fn b02_duplicate_names_raw() {
    let mut entries = raw_good_entries();
    entries.push(RawEntry::stored("registry.csv", b"second copy"));
    let m = nak(&raw_zip(&entries), "B02");
    // The name that repeats is named, not the first one read.
    assert_mentions(&m, "entry \"registry.csv\" appears twice");
    // Duplicates far below the entry limit, the second identical to the first.
    let mut entries = raw_good_entries();
    let again = RawEntry::stored("control.txt", &batch().control());
    entries.insert(1, again);
    nak(&raw_zip(&entries), "B02");
}

#[test]
fn b03_empty_zip() {
    // A readable archive with no entries at all: every required file is missing.
    let m = nak(&raw_zip(&[]), "B03");
    assert_mentions(&m, "control.txt");
}

// ---------------------------------------------------------------------------------------------
// Cases found missing by a sentence-by-sentence reading of the agreement (§3, §5, §8)

#[test]
fn b07_rev_and_rec_registries_are_held_to_their_own_headers() {
    // §5: the first line is exactly the field names of the batch's type (§5.2, §5.3).
    let rev_row = |id: &str| -> Vec<String> {
        vec![
            id.into(),
            "2026-11-21 22:00:00".into(),
            "204000.00".into(),
            "Xato".into(),
        ]
    };
    let rec_row = vec![
        "25786018516942".to_string(),
        "2026-11-21 13:22:10".into(),
        "50122778370060254138".into(),
        "204000.00".into(),
        "PAID".into(),
    ];
    let cfg = config_text(MUNIS_WITH_KEY);
    let rev = |header: &[&str]| {
        Batch::new(
            BatchType::REV,
            "001",
            Charset::Utf8,
            header,
            &[rev_row("25786018516942")],
            2,
        )
    };
    let rec = |header: &[&str]| {
        Batch::new(
            BatchType::REC,
            "001",
            Charset::Utf8,
            header,
            std::slice::from_ref(&rec_row),
            3,
        )
    };
    // With their own headers both are answered (ACK, the rows `4`: nothing is in the store).
    for b in [rev(&REV_HEADER), rec(&REC_HEADER)] {
        let mut rx = Rx::with(&cfg);
        assert_ack(&rx.process(&b.file_name(), &b.zip(Some(&key()))));
    }
    let mut paid_at = REV_HEADER;
    paid_at[1] = "paid_at";
    let mut status = REC_HEADER;
    status[4] = "status";
    let mut reordered = REC_HEADER;
    reordered.swap(2, 3);
    for b in [
        rev(&paid_at),
        rev(&PAY_HEADER[..4]),
        rec(&status),
        rec(&reordered),
        rec(&PAY_HEADER[..5]),
    ] {
        let m = nak_with(&cfg, &b.file_name(), &b.zip(Some(&key())), "B07");
        assert_mentions(&m, "registry.csv");
        assert_mentions(&m, "line 1");
    }
}

#[test]
fn created_at_copied_for_b07_b08_b09_and_a_readable_b10() {
    // §8: every archive that passed B01 and B02 with one valid created_at gets it copied, as
    // written, whatever the code; the entry times follow it (seconds rounded down to even).
    let cfg = config_text(MUNIS_WITH_KEY);
    let check = |rx: &Rx, response: &str, written: &str| {
        assert_eq!(created_at_of(rx, response), written);
        let (h, mi, s) = (&written[11..13], &written[14..16], &written[17..19]);
        let want = (
            h.parse::<u8>().expect("hour"),
            mi.parse::<u8>().expect("minute"),
            s.parse::<u8>().expect("second") / 2 * 2,
        );
        for t in entry_times(&rx.response(response)) {
            assert_eq!((t.3, t.4, t.5), want, "{response}: {t:?}");
        }
    };
    // B07: a header in the wrong order.
    let written = "2026-11-22T03:03:03+05:00";
    let mut b = batch();
    b.created_at = written.into();
    let mut h = PAY_HEADER;
    h.swap(3, 4);
    let mut rx = Rx::with(&cfg);
    let got = rx.process(NAME, &with_registry(&b, &registry_with_header(&h)));
    assert_nak(&rx, &got, "B07");
    check(&rx, NAK, written);
    // B08: rows declared wrong.
    let written = "2026-11-22T06:06:07+05:00";
    let z = with_control(|c| c.replace("rows=3", "rows=5").replace(CREATED_AT, written));
    let mut rx = Rx::with(&cfg);
    let got = rx.process(NAME, &z);
    assert_nak(&rx, &got, "B08");
    check(&rx, NAK, written);
    // B09: other bytes under a batch id already acknowledged.
    let written = "2026-11-21T22:03:05Z";
    let mut rx = Rx::with(&cfg);
    assert_ack(&rx.process(NAME, &good_zip()));
    let got = rx.process(NAME, &with_control(|c| c.replace(CREATED_AT, written)));
    assert_nak(&rx, &got, "B09");
    check(&rx, NAK, written);
    // B10: a well-formed archive from a sender not configured.
    let written = "2026-11-22T04:04:05+05:00";
    let mut b = batch_between("BANKX", "SUDBILLING");
    b.created_at = written.into();
    let mut rx = Rx::with(&cfg);
    let got = rx.process(&b.file_name(), &b.zip(None));
    assert_nak(&rx, &got, "B10");
    check(&rx, "SUDBILLING_BANKX_PAY_20261121_001_NAK.zip", written);
}

#[test]
fn b02_ratio_exactly_at_the_limit_is_allowed_and_the_size_it_applies_above_is_exclusive() {
    // §3: ratio ≤ 200 for any entry larger than 1 MiB. Stored entries have a ratio of exactly
    // 1: allowed under `max_ratio = 1` from size 0; the same entries deflated are not.
    let b = batch();
    let stored = zip_with(|z, _| {
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, data) in b.entries(Some(&key())) {
            z.start_file(name.as_str(), opts).expect("entry");
            z.write_all(&data).expect("data");
        }
    });
    let cfg = limits("max_ratio = 1\nratio_applies_above = 0");
    ack_with(&cfg, &stored);
    nak_with(&cfg, NAME, &good_zip(), "B02");
    // An entry one byte larger than `ratio_applies_above` is judged; one of exactly that size
    // is not (b02_ratio_over_the_limit).
    let b = compressible_batch(500);
    let z = b.zip(Some(&key()));
    let r = raw_entry(&z, "registry.csv");
    let (size, csize) = (u64::from(r.usize(&z)), r.csize(&z) as u64);
    let over = size / csize - 1;
    let m = nak_with(
        &limits(&format!(
            "max_ratio = {over}\nratio_applies_above = {}",
            size - 1
        )),
        NAME,
        &z,
        "B02",
    );
    assert_mentions(&m, "registry.csv");
}

#[test]
fn b02_the_line_limit_counts_bytes_not_characters() {
    // §3: a registry line ≤ 64 KiB "in bytes, without its line end". Cyrillic takes two bytes
    // in UTF-8: a purpose of 2-byte letters brings line 2 to exactly 65,536 bytes (allowed; the
    // row is 202 on purpose, over 500 characters), and one byte more is B02 naming the line.
    let line_of = |purpose: &str| {
        let mut rows = pay_rows();
        rows[0][10] = purpose.into();
        let b = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
        let text = String::from_utf8(b.registry.clone()).expect("utf-8");
        let len = text.split("\r\n").nth(1).expect("line 2").len();
        (b, len)
    };
    let (_, base) = line_of("");
    let fill = 65_536 - base;
    let (b, len) = line_of(&format!("{}{}", "Ж".repeat(fill / 2), "x".repeat(fill % 2)));
    assert_eq!(len, 65_536);
    let rx = ack(&b.zip(Some(&key())));
    let result = rx.response_entry(ACK, "result.csv").expect("result.csv");
    let first = statuses(&result).into_iter().next().expect("row 1");
    assert_eq!((first.2.as_str(), first.3.as_str()), ("202", "purpose"));
    let (b, len) = line_of(&format!(
        "{}{}",
        "Ж".repeat(fill / 2),
        "x".repeat(fill % 2 + 1)
    ));
    assert_eq!(len, 65_537);
    let m = nak(&b.zip(Some(&key())), "B02");
    assert_mentions(&m, "registry.csv line 2");
}

#[test]
fn b02_declared_sizes_over_the_total_are_judged_before_inflating() {
    // §3: sizes are judged from the central directory before inflating. An archive declaring
    // more than the total limit is B02 even though its real bytes are few (with the default
    // limits the same lie is only a size mismatch, B01).
    let mut z = good_zip();
    set_usize(&mut z, "registry.csv", |_| 200_000);
    let m = nak_with(&limits("max_uncompressed_bytes = 100000"), NAME, &z, "B02");
    assert_mentions(&m, "100000");
    nak(&z, "B01");
}

#[test]
fn replay_answers_bytes_naked_then_acked_by_their_ack_under_the_limits_then_in_force() {
    // Under max_entries = 3 the good archive (4 entries) is B02; the limit raised, the same
    // bytes are judged afresh (§7.1) and ACKed.
    let tight = format!("{MUNIS_WITH_KEY}[limits]\nmax_entries = 3\n");
    let mut rx = Rx::with(&config_text(&tight));
    let z = good_zip();
    let h = rx.process(NAME, &z);
    assert_nak(&rx, &h, "B02");
    let normal = rx.dir.path().join("normal.toml");
    std::fs::write(&normal, config_text(MUNIS_WITH_KEY)).expect("config");
    let mut engine =
        Engine::open(reestr::config::Config::load(&normal).expect("loads")).expect("open");
    rx.drop_in(NAME, &z);
    let out = engine.run();
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.handled[0].result, "ACK", "{:?}", out.handled[0]);
    let kept = engine
        .layout
        .received()
        .join(format!("{}.zip", sha256_hex(&z)));
    // Replayed, the bytes are answered by the delivery that processed them, the ACK...
    let dir = tempfile::tempdir().expect("out");
    let r = engine.replay(&kept, dir.path()).expect("replay");
    assert_eq!(
        (r.result.as_str(), r.identical),
        ("ACK", Some(true)),
        "{r:?}"
    );
    // ...and under the limits journaled with it, whatever the configuration says now.
    let dir = tempfile::tempdir().expect("out");
    let r = rx
        .engine
        .replay(&kept, dir.path())
        .expect("replay under max_entries = 3");
    assert_eq!(
        (r.result.as_str(), r.identical),
        ("ACK", Some(true)),
        "{r:?}"
    );
}
