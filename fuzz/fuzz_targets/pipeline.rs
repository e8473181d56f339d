//! The whole core, `pipeline::evaluate`, on arbitrary bytes as an inbound archive.
//!
//! The first byte picks the batch name (bits 0-2: one of the reference names) and the key
//! configured for MUNIS (bit 3: the reference key, bit 4: the samples' key, else none); the
//! rest is the archive file. The store is in memory with the reference invoices loaded; each
//! batch is rolled back. See `common::judge` for the invariants.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use reestr::name::BatchName;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, zip)) = data.split_first() else {
        return;
    };
    let name = BatchName::parse(common::inputs::NAMES[usize::from(sel & 7)]).expect("fixed name");
    let key = if sel & 8 != 0 {
        Some(common::reference_key())
    } else if sel & 16 != 0 {
        Some(common::sample_key())
    } else {
        None
    };
    let path = common::scratch_file("inbound.zip", zip);
    common::judge(&path, &name, key);
});
