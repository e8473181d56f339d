//! `control::parse` and `control::created_at_line` on arbitrary bytes.
//!
//! The archive name is taken from a `batch_id=` line when it names a valid archive (so the
//! fuzzer can get past the name checks), else a fixed PAY name. Invariants: no panic; an error
//! is one line naming `control.txt`; a parsed record's `created_at` is exactly what
//! `created_at_line` returns (the response copies it, §8); its totals format back.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use reestr::amount;
use reestr::control;
use reestr::name::BatchName;

fn name_in(data: &[u8]) -> BatchName {
    data.split(|b| *b == b'\n')
        .filter_map(|l| l.strip_prefix(b"batch_id="))
        .filter_map(|v| std::str::from_utf8(v.strip_suffix(b"\r").unwrap_or(v)).ok())
        .find_map(|v| BatchName::parse(&format!("{v}.zip")).ok())
        .unwrap_or_else(|| {
            BatchName::parse("MUNIS_SUDBILLING_PAY_20261121_001.zip").expect("fixed name")
        })
}

fuzz_target!(|data: &[u8]| {
    let line = control::created_at_line(data);
    if let Some(v) = &line {
        assert!(control::parse_rfc3339(v).is_some());
    }
    let name = name_in(data);
    match control::parse(data, &name) {
        Ok(c) => {
            assert_eq!(line.as_deref(), Some(c.created_at_text.as_str()));
            assert!(c.amount_total >= 0);
            assert_eq!(
                amount::parse_total(&amount::format(c.amount_total)),
                Some(c.amount_total)
            );
        }
        Err(m) => {
            assert!(m.starts_with("control.txt"), "{m:?}");
            assert!(common::one_line(&m), "{m:?}");
        }
    }
});
