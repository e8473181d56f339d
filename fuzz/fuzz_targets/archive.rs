//! `archive::read` with the default limits on arbitrary bytes, then the integrity checks.
//!
//! Invariants: a rejection is `B01` or `B02` with a one-line message, never an I/O error of the
//! receiver (the scratch file is readable); every entry read has a safe name, its kept bytes
//! match its size and SHA-256; the registry re-opened through `open_entry` (as the pipeline
//! does) yields the same bytes.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use reestr::archive::{self, Limits, REGISTRY, ReadError};
use reestr::code::BatchCode;
use reestr::integrity;
use sha2::{Digest, Sha256};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file("archive.zip", data);
    let a = match archive::read(&path, &Limits::default()) {
        Ok(a) => a,
        Err(ReadError::Reject { code, message }) => {
            assert!(matches!(code, BatchCode::B01 | BatchCode::B02), "{code:?}");
            assert!(common::one_line(&message), "{message:?}");
            return;
        }
        Err(ReadError::Io(e)) => panic!("a hostile archive gave a receiver I/O error: {e}"),
    };
    assert!(a.entries.len() <= 16);
    for e in &a.entries {
        assert!(
            !e.name.is_empty() && !e.name.contains(['/', '\\']),
            "{:?}",
            e.name
        );
        if let Some(d) = &e.data {
            assert_eq!(d.len() as u64, e.size);
            assert_eq!(<[u8; 32]>::from(Sha256::digest(d)), e.sha256);
        }
        if e.name == REGISTRY {
            let mut r = archive::open_entry(&path, e.index).expect("re-open a read entry");
            let mut bytes = Vec::new();
            r.read_to_end(&mut bytes).expect("re-read a read entry");
            assert_eq!(bytes.len() as u64, e.size);
            assert_eq!(<[u8; 32]>::from(Sha256::digest(&bytes)), e.sha256);
        }
    }
    let _ = integrity::check_files(&a);
    for key in [common::reference_key(), common::sample_key()] {
        if let Err((code, m)) = integrity::check_hmac(&a, Some(&key), None) {
            assert_eq!(code, BatchCode::B05);
            assert!(common::one_line(&m), "{m:?}");
        }
    }
    if let Err((code, _)) = integrity::check_manifest(&a) {
        assert_eq!(code, BatchCode::B04);
    }
});
