//! Building correct batches and consistent archives: shared by the batch-code tests and the
//! hostile corpus generator (`examples/make_corpus.rs` includes this file by path).
#![allow(dead_code)]

use reestr::charset::Charset;
use reestr::integrity::Key;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER};
use std::path::Path;

/// The reference test key (the counterpart's), from `tests/reference/MUNIS.key`.
pub fn key() -> Key {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/MUNIS.key");
    let text = std::fs::read_to_string(&p).expect("tests/reference/MUNIS.key");
    Key::parse(&text).expect("reference key parses")
}

/// Three PAY rows taken from the reference registry, accepted against the reference billing
/// export (ASCII only, so every encoding holds them).
pub fn pay_rows() -> Vec<Vec<String>> {
    [
        "25786018516942;2026-11-21 13:22:10;50122778370060254138;P;62504049323943;Yo'ldoshev Bekzod;204000.00;860;00014;20214000352925082571;Davlat boji",
        "25786018516943;2026-11-21 10:29:36;96018739856048845914;P;62812020061604;To'xtayeva Malika;85000.00;860;00083;20208000034500403120;Sud xarajatlari",
        "25786018516945;2026-11-21 06:17:51;70571320141799209810;P;50705075290842;G'ulomov Jasur;204000.00;860;00440;22618000740815286600;",
    ]
    .iter()
    .map(|l| l.split(';').map(str::to_owned).collect())
    .collect()
}

/// A correct PAY batch `MUNIS_SUDBILLING_PAY_20261121_<seq>` in `encoding`.
pub fn batch_seq(seq: &str, encoding: Charset) -> Batch {
    Batch::new(BatchType::PAY, seq, encoding, &PAY_HEADER, &pay_rows(), 6)
}

/// The correct PAY batch `MUNIS_SUDBILLING_PAY_20261121_001` (UTF-8).
pub fn batch() -> Batch {
    batch_seq("001", Charset::Utf8)
}

/// The correct archive of [`batch`], signed with the reference key.
pub fn good_zip() -> Vec<u8> {
    batch().zip(Some(&key()))
}

/// A named archive entry.
pub fn entry(name: &str, bytes: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (name.to_string(), bytes.into())
}

/// Entries `control.txt`, `registry.csv`, the HMAC (with a key) over `manifest`, `manifest`.
pub fn files_with_manifest(
    control: &[u8],
    registry: &[u8],
    manifest: &[u8],
    key: Option<&Key>,
) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        entry("control.txt", control),
        entry("registry.csv", registry),
    ];
    if let Some(k) = key {
        v.push(entry(
            "manifest.sha256.hmac",
            format!("{}\n", k.sign(manifest)),
        ));
    }
    v.push(entry("manifest.sha256", manifest));
    v
}

/// A consistent archive (right manifest, right HMAC) over this control and registry.
pub fn pack(control: &[u8], registry: &[u8]) -> Vec<u8> {
    let m = sample::manifest(&[("control.txt", control), ("registry.csv", registry)]);
    sample::zip_entries(&files_with_manifest(control, registry, &m, Some(&key())))
}

/// A consistent, signed archive of the batch with this registry (the batch's control totals).
pub fn with_registry(b: &Batch, registry: &[u8]) -> Vec<u8> {
    let mut b = b.clone();
    b.registry = registry.to_vec();
    b.zip(Some(&key()))
}

/// Adds an entry to a zip being written.
pub fn add(
    z: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
    opts: zip::write::SimpleFileOptions,
    name: &str,
    b: &[u8],
) {
    use std::io::Write;
    z.start_file(name, opts).expect("start");
    z.write_all(b).expect("write");
}

/// The good archive plus one entry, then renamed to `raw` (any bytes) in both headers.
pub fn good_plus_entry_named(raw: &[u8]) -> Vec<u8> {
    let placeholder = "Z".repeat(raw.len());
    let mut files = batch().entries(Some(&key()));
    files.push(entry(&placeholder, b"x".to_vec()));
    let mut z = sample::zip_entries(&files);
    super::rawzip::rename(&mut z, &placeholder, raw);
    z
}

/// The good batch's four entries, stored, written by [`super::rawzip::raw_zip`].
pub fn raw_good_entries() -> Vec<super::rawzip::RawEntry> {
    batch()
        .entries(Some(&key()))
        .iter()
        .map(|(n, b)| super::rawzip::RawEntry::stored(n, b))
        .collect()
}

/// The batch's registry with `bytes` put two bytes into the first `needle`.
pub fn registry_with_bytes_at(b: &Batch, needle: &[u8], bytes: &[u8]) -> Vec<u8> {
    let reg = &b.registry;
    let at = reg
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} in the registry", String::from_utf8_lossy(needle)));
    let mut out = reg[..at + 2].to_vec();
    out.extend_from_slice(bytes);
    out.extend_from_slice(&reg[at + 2..]);
    out
}

/// A "quoted overlap" (the zip bomb construction): the registry's local header and data lie
/// inside the stored data of `control.txt`, and a central record points at them. Each entry
/// agrees with its own local header; only their places overlap.
pub fn quoted_overlap() -> Vec<u8> {
    let registry = batch().registry;
    let mut local = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    le32(&mut local, 0x0403_4b50);
    for x in [20, 0, 0, 0x28a0, 0x5d76] {
        le16(&mut local, x);
    }
    let crc = crc32fast::hash(&registry);
    for x in [crc, registry.len() as u32, registry.len() as u32] {
        le32(&mut local, x);
    }
    le16(&mut local, 12);
    le16(&mut local, 0);
    local.extend_from_slice(b"registry.csv");
    local.extend_from_slice(&registry);
    let mut z = super::rawzip::raw_zip(&[super::rawzip::RawEntry::stored("control.txt", &local)]);
    // A central record for the registry, pointing inside control.txt's data.
    let mut central = Vec::new();
    le32(&mut central, 0x0201_4b50);
    for x in [3 << 8 | 20, 20, 0, 0, 0x28a0, 0x5d76] {
        le16(&mut central, x);
    }
    for x in [crc, registry.len() as u32, registry.len() as u32] {
        le32(&mut central, x);
    }
    for x in [12, 0, 0, 0, 0] {
        le16(&mut central, x);
    }
    le32(&mut central, 0o100_644 << 16);
    le32(&mut central, 30 + "control.txt".len() as u32);
    central.extend_from_slice(b"registry.csv");
    let eocd = z.len() - 22;
    let cd_size = super::rawzip::u32_at(&z, eocd + 12);
    z.splice(eocd..eocd, central.iter().copied());
    let eocd = z.len() - 22;
    super::rawzip::put_u16(&mut z, eocd + 8, 2);
    super::rawzip::put_u16(&mut z, eocd + 10, 2);
    super::rawzip::put_u32(&mut z, eocd + 12, cd_size + central.len() as u32);
    z
}
