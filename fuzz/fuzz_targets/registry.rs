//! The registry decoder and validator: arbitrary bytes as `registry.csv`, read with the
//! dialect reader in each charset, every row decoded and checked against every schema.
//!
//! Invariants: no panic; reading the bytes all at once and in small chunks (crossing every
//! buffer boundary) gives the same records and the same error; records written back with the
//! sender's quoting read back the same; a row that passes `check_row` has a value per field,
//! and a failure names a field within the row and has a one-line message.
#![no_main]

mod common;

use chrono::{DateTime, NaiveDate};
use libfuzzer_sys::fuzz_target;
use reestr::charset::Charset;
use reestr::dialect::RecordReader;
use reestr::schema::Schemas;
use reestr::validate::{self, Context};
use std::io::{self, Read};

/// A reader handing out at most `n` bytes per call, `n` cycling through 1..=7.
struct Chunks<'a> {
    rest: &'a [u8],
    n: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.n = self.n % 7 + 1;
        let k = self.n.min(buf.len()).min(self.rest.len());
        buf[..k].copy_from_slice(&self.rest[..k]);
        self.rest = &self.rest[k..];
        Ok(k)
    }
}

type Records = (Vec<(u64, Vec<Vec<u8>>)>, Option<String>);

fn records<R: Read>(src: R, strip_bom: bool) -> Records {
    let mut rr = RecordReader::new(src, strip_bom);
    let mut out = Vec::new();
    loop {
        match rr.read_record() {
            Ok(true) => {
                assert!(!rr.is_empty());
                let fields = (0..rr.len())
                    .map(|i| rr.field(i).expect("field in range").to_vec())
                    .collect();
                out.push((rr.record_line(), fields));
            }
            Ok(false) => return (out, None),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

fn quote(f: &[u8]) -> Vec<u8> {
    if f.iter().any(|b| matches!(b, b';' | b'"' | b'\r' | b'\n')) {
        let mut q = vec![b'"'];
        for &b in f {
            q.push(b);
            if b == b'"' {
                q.push(b'"');
            }
        }
        q.push(b'"');
        q
    } else {
        f.to_vec()
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static SCHEMAS: Schemas = Schemas::built_in().expect("built-in schemas");
    }
    let ctx = Context {
        created_at: DateTime::parse_from_rfc3339("2026-11-22T01:05:00+05:00").expect("fixed"),
        business_date: NaiveDate::from_ymd_opt(2026, 11, 21).expect("fixed"),
    };
    for strip_bom in [true, false] {
        let whole = records(data, strip_bom);
        let chunked = records(Chunks { rest: data, n: 0 }, strip_bom);
        assert_eq!(whole, chunked, "chunked reading differs");
        if whole.1.is_none() {
            let mut again = Vec::new();
            for (_, fields) in &whole.0 {
                let q: Vec<Vec<u8>> = fields.iter().map(|f| quote(f)).collect();
                again.extend(q.join(&b';'));
                again.extend(b"\r\n");
            }
            let back = records(&again[..], false);
            assert_eq!(back.1, None, "written records do not read back");
            let fields: Vec<_> = back.0.into_iter().map(|(_, f)| f).collect();
            let orig: Vec<_> = whole.0.iter().map(|(_, f)| f.clone()).collect();
            assert_eq!(fields, orig, "written records read back differently");
        }
    }
    let (recs, _) = records(data, true);
    SCHEMAS.with(|s| {
        for cs in [Charset::Utf8, Charset::Windows1251, Charset::Cp866] {
            for (_, raw) in &recs {
                let Some(fields) = raw
                    .iter()
                    .map(|f| cs.decode(f))
                    .collect::<Option<Vec<String>>>()
                else {
                    continue;
                };
                for schema in [&s.pay, &s.rev, &s.rec, &s.invoices] {
                    match validate::check_row(schema, &ctx, &fields) {
                        Ok(values) => assert_eq!(values.len(), schema.fields.len()),
                        Err(f) => {
                            assert!(f.field.is_none_or(|i| i < fields.len()));
                            assert!(common::one_line(&f.message), "{:?}", f.message);
                        }
                    }
                }
            }
        }
    });
});
