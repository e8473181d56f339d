//! The registry decoder and validator: arbitrary bytes as `registry.csv`, read with the
//! dialect reader in each charset, every row decoded and checked against every schema.
//!
//! Invariants: no panic; reading the bytes all at once and in small chunks (crossing every
//! buffer boundary) gives the same records and the same error; records written back with the
//! sender's quoting read back the same; with field limits (`with_field_limits`, limits taken
//! from the input's first bytes) the same records and error, each field up to the limit kept
//! whole, a longer one kept empty and marked, and every byte not kept handed to the check, a
//! field at a time with its index; each charset's check of those bytes agrees with decoding
//! them whole; a row that passes `check_row` has a value per field, and a failure names a
//! field within the row and has a one-line message.
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

/// Reads `data` with field limits and checks it against `whole`, read without.
fn limited(data: &[u8], strip_bom: bool, whole: &Records, max_field: usize, max_fields: usize) {
    let unkept = reestr::dialect::Recorded::default();
    let mut rr = RecordReader::new(Chunks { rest: data, n: 0 }, strip_bom).with_field_limits(
        max_field,
        max_fields,
        Box::new(unkept.clone()),
    );
    let mut recs = whole.0.iter();
    loop {
        match rr.read_record() {
            Ok(true) => {
                let (line, fields) = recs.next().expect("a record the whole reading has");
                assert_eq!(rr.record_line(), *line);
                assert_eq!(rr.len(), fields.len());
                assert_eq!(rr.kept(), fields.len().min(max_fields));
                let mut want = Vec::new();
                for (i, f) in fields.iter().enumerate() {
                    let long = f.len() > max_field;
                    if i < max_fields {
                        assert_eq!(rr.is_long(i), long);
                        assert_eq!(rr.field(i), Some(if long { &b""[..] } else { &f[..] }));
                    }
                    if long || i >= max_fields {
                        want.push((i, f.clone()));
                    }
                }
                let got = unkept.take();
                assert_eq!(got, want, "the bytes not kept");
            }
            Ok(false) => {
                assert!(recs.next().is_none() && whole.1.is_none(), "records lost");
                return;
            }
            Err(e) => {
                assert!(recs.next().is_none(), "records lost before an error");
                assert_eq!(Some(e.to_string()), whole.1, "another error");
                return;
            }
        }
    }
}

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
    let (max_field, max_fields) = match data {
        [a, b, ..] => (usize::from(*a % 32), usize::from(*b % 6) + 1),
        _ => (0, 1),
    };
    for strip_bom in [true, false] {
        let whole = records(data, strip_bom);
        let chunked = records(Chunks { rest: data, n: 0 }, strip_bom);
        assert_eq!(whole, chunked, "chunked reading differs");
        limited(data, strip_bom, &whole, max_field, max_fields);
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
    for cs in [Charset::Utf8, Charset::Windows1251, Charset::Cp866] {
        // The check of bytes not kept, given them in pieces, judges them as decoding does.
        let mut check = cs.unkept_check();
        let mut ok = true;
        for piece in data.chunks(max_field.max(1)) {
            ok &= check.check(0, piece, false);
        }
        ok &= check.check(0, &[], true);
        assert_eq!(ok, cs.decode(data).is_some(), "{cs:?}");
    }
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
