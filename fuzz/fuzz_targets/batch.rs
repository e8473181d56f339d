//! The whole core on a well-packed archive around an arbitrary registry, so that the fuzzer
//! spends its time in the dialect, decoding, validation and reconciliation rather than on
//! hashes it cannot forge.
//!
//! The first byte picks the type (bits 0-1: PAY, REV, REC, PAY) and the encoding declared in
//! `control.txt` (bits 2-3: utf-8, windows-1251, cp866, utf-8); the rest is `registry.csv`.
//! `control.txt` declares the rows and amount total the registry really has (as a correct
//! sender would), unless bit 4 is set (then both are declared zero). The archive is packed and
//! signed as `reestr::sample` does and judged like the `pipeline` target.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use reestr::charset::Charset;
use reestr::name::{BatchName, BatchType};
use reestr::sample::Batch;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, registry)) = data.split_first() else {
        return;
    };
    let (kind, width, amount) = match sel & 3 {
        1 => (BatchType::REV, 4, 2),
        2 => (BatchType::REC, 5, 3),
        _ => (BatchType::PAY, 11, 6),
    };
    let cs = match (sel >> 2) & 3 {
        1 => Charset::Windows1251,
        2 => Charset::Cp866,
        _ => Charset::Utf8,
    };
    let (rows, amount_total) = if sel & 16 == 0 {
        common::inputs::totals(registry, cs, width, amount)
    } else {
        (0, 0)
    };
    let mut b = Batch::new(kind, "001", cs, &[], &[], 0);
    b.registry = registry.to_vec();
    b.rows = rows;
    b.amount_total = amount_total;
    let key = common::sample_key();
    let path = common::scratch_file("batch.zip", &b.zip(Some(&key)));
    let name = BatchName::parse(&b.file_name()).expect("sample name");
    common::judge(&path, &name, Some(key));
});
