//! How the fuzz targets turn their bytes into inputs. `tests/fuzz_regressions.rs` includes this
//! file by path, so that a saved finding is replayed exactly as its target saw it (and so that
//! CI, which does not build the fuzz project, compiles it).
#![allow(dead_code)]

use reestr::archive::{Archive, Entry};
use reestr::charset::Charset;
use reestr::dialect::RecordReader;
use reestr::integrity::Key;
use sha2::{Digest, Sha256};

/// The batch names the first byte of a `pipeline` input picks from (bits 0-2): the
/// reference archives' names.
pub const NAMES: [&str; 8] = [
    "MUNIS_SUDBILLING_PAY_20261121_001.zip",
    "MUNIS_SUDBILLING_PAY_20261121_002.zip",
    "MUNIS_SUDBILLING_PAY_20261121_003.zip",
    "MUNIS_SUDBILLING_PAY_20261121_004.zip",
    "MUNIS_SUDBILLING_PAY_20261121_005.zip",
    "MUNIS_SUDBILLING_PAY_20261121_006.zip",
    "MUNIS_SUDBILLING_REV_20261121_001.zip",
    "MUNIS_SUDBILLING_REC_20261121_001.zip",
];

/// An archive entry as `archive::read` would record these bytes (kept in memory or not).
pub fn entry(index: usize, name: &str, bytes: &[u8], keep: bool) -> Entry {
    Entry {
        index,
        name: name.into(),
        size: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
        data: keep.then(|| bytes.to_vec()),
    }
}

/// Rows and amount total of a registry as the receiver counts them (§6): what the `batch`
/// target's sender declares.
pub fn totals(registry: &[u8], cs: Charset, width: usize, amount: usize) -> (u64, i128) {
    let mut rr = RecordReader::new(registry, cs == Charset::Utf8);
    let (mut rows, mut total) = (0u64, 0i128);
    let mut first = true;
    while let Ok(true) = rr.read_record() {
        if std::mem::take(&mut first) {
            continue;
        }
        rows += 1;
        if rr.len() == width {
            let a = rr
                .field(amount)
                .and_then(|f| cs.decode(f))
                .and_then(|t| reestr::amount::parse(&t));
            total += i128::from(a.unwrap_or(0));
        }
    }
    (rows, total)
}

/// The `manifest` target's archive: fixed `control.txt` and `registry.csv` entries, the input
/// as `manifest.sha256`, and the input's correct HMAC with `key`.
pub fn manifest_archive(data: &[u8], key: &Key) -> Archive {
    let hmac = format!("{}\n", key.sign(data));
    Archive {
        entries: vec![
            entry(0, "control.txt", b"control", true),
            entry(1, "registry.csv", b"registry", false),
            entry(2, "manifest.sha256", data, true),
            entry(3, "manifest.sha256.hmac", hmac.as_bytes(), true),
        ],
    }
}
