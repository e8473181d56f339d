//! `invoices::each_row`, the billing export's reader (§9), on arbitrary bytes.
//!
//! The input is read twice: holding at most 2000 bytes of a field (the least a configuration
//! may set) and holding 1 MiB. Invariants: no panic; a refusal names at least one problem,
//! each on one line and naming the file; holding less can only refuse more: an export taken
//! with the small limit is taken with the large one, with the same rows; and an input of at
//! most 2000 bytes (no field of it can be longer) gets the same answer both ways.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use reestr::schema::Schemas;

type Rows = Vec<(Vec<String>, i64)>;

fn read(
    data: &[u8],
    schema: &reestr::schema::Schema,
    max_field: usize,
) -> Result<Rows, Vec<String>> {
    let mut rows = Vec::new();
    reestr::invoices::each_row("fuzz.csv", data, schema, max_field, |v, due| {
        rows.push((v.to_vec(), due))
    })
    .map(|()| rows)
    .map_err(|e| e.problems)
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static SCHEMAS: Schemas = Schemas::built_in().expect("built-in schemas");
    }
    SCHEMAS.with(|s| {
        let small = read(data, &s.invoices, 2000);
        let large = read(data, &s.invoices, 1 << 20);
        for problems in [&small, &large]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
        {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(p.starts_with("fuzz.csv"), "{p:?}");
                assert!(common::one_line(p), "{p:?}");
            }
        }
        if let Ok(rows) = &small {
            assert_eq!(
                Some(rows),
                large.as_ref().ok(),
                "taken holding less, refused holding more"
            );
        }
        if data.len() <= 2000 {
            assert_eq!(small, large, "no field can pass 2000 bytes");
        }
    });
});
