//! `integrity::check_manifest` and `check_hmac` with arbitrary bytes as `manifest.sha256`.
//!
//! The archive holds `control.txt` (bytes `control`), `registry.csv` (bytes `registry`), the
//! manifest under test and its correct HMAC. Invariants: the correctly signed manifest always
//! passes `check_hmac`; `check_manifest` accepts exactly the two well-formed manifests (the two
//! orders of the two lines) and answers everything else `B04` with a message.
#![no_main]

mod common;

use common::inputs::manifest_archive;
use libfuzzer_sys::fuzz_target;
use reestr::code::BatchCode;
use reestr::integrity::{self, Key};
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let key = Key::parse(reestr::sample::SAMPLE_KEY).expect("sample key");
    let a = manifest_archive(data, &key);
    assert_eq!(integrity::check_files(&a), Ok(()));
    assert_eq!(integrity::check_hmac(&a, Some(&key), None), Ok(()));
    let line = |n: &str, b: &[u8]| format!("{}  {n}\n", hex::encode(Sha256::digest(b)));
    let (c, r) = (
        line("control.txt", b"control"),
        line("registry.csv", b"registry"),
    );
    let good = data == format!("{c}{r}").as_bytes() || data == format!("{r}{c}").as_bytes();
    match integrity::check_manifest(&a) {
        Ok(()) => assert!(good, "accepted {:?}", String::from_utf8_lossy(data)),
        Err((code, m)) => {
            assert!(!good, "refused a good manifest: {m}");
            assert_eq!(code, BatchCode::B04);
            assert!(m.starts_with("manifest.sha256"), "{m:?}");
        }
    }
});
