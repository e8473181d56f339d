//! Findings of the fuzz targets (`fuzz/`, `scripts/fuzz.sh`, `docs/FUZZING.md`), replayed.
//!
//! Every file under `tests/fuzz-regressions/<target>/` is an input that once broke fuzz target
//! `<target>`; it is replayed here the way that target feeds it, with the target's invariants,
//! and through the whole engine where the input is (or becomes) an archive. A new finding is
//! added by copying its artifact into the folder of its target; a test naming the bug says what
//! the right answer is.

mod common;
#[path = "../fuzz/fuzz_targets/common/inputs.rs"]
mod inputs;
use common::*;
use inputs::{NAMES, manifest_archive, totals};
use reestr::archive::{self, Limits, ReadError};
use reestr::code::BatchCode;
use reestr::integrity::{self, Key};
use reestr::name::{BatchType, Role};
use reestr::sample::{self, Batch, PAY_HEADER};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .map(|p| {
                    let b = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    (p, b)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ----------------------------------------------------------------------------------- manifest

/// The `manifest` target: the input is `manifest.sha256` next to fixed entries.
fn replay_manifest(data: &[u8]) -> Result<(), (BatchCode, String)> {
    let key = Key::parse(sample::SAMPLE_KEY).expect("sample key");
    let a = manifest_archive(data, &key);
    assert_eq!(integrity::check_hmac(&a, Some(&key), None), Ok(()));
    integrity::check_manifest(&a)
}

#[test]
fn manifest_findings_replay() {
    let found = inputs("manifest");
    assert!(!found.is_empty(), "the manifest findings are checked in");
    for (p, data) in found {
        let r = replay_manifest(&data);
        assert!(
            matches!(r, Err((BatchCode::B04, _))),
            "{}: {r:?}",
            p.display()
        );
    }
}

/// Finding 1 (manifest, crash-431b608f): a manifest line whose 66th byte is inside a multi-byte
/// character (`<64 hex> ֜ontrol.txt`: one space, then U+059C) panicked in `check_manifest`,
/// which sliced the text `line[64..66]` across a character boundary. A hostile archive could
/// so crash the engine on every start. It is now `B04`, a malformed manifest.
#[test]
fn manifest_line_split_inside_a_character_is_b04_not_a_panic() {
    let hash = "0".repeat(64);
    for tail in [" \u{59c}ontrol.txt", "\u{59c}control.txt", " \u{10348}x"] {
        let m = format!("{hash}{tail}\n");
        let r = replay_manifest(m.as_bytes());
        let Err((code, msg)) = r else {
            panic!("{tail:?} accepted")
        };
        assert_eq!(code, BatchCode::B04);
        assert!(msg.contains("line 1"), "{msg}");
    }
}

/// The same manifest inside a correctly signed archive, through the whole engine: NAK `B04`.
#[test]
fn the_engine_answers_such_a_manifest_with_b04() {
    let rows: Vec<Vec<String>> = vec![
        "25786018516942;2026-11-21 13:22:10;50122778370060254138;P;62504049323943;Yo'ldoshev Bekzod;204000.00;860;00014;20214000352925082571;Davlat boji"
            .split(';')
            .map(str::to_owned)
            .collect(),
    ];
    let b = Batch::new(
        BatchType::PAY,
        "001",
        reestr::charset::Charset::Utf8,
        &PAY_HEADER,
        &rows,
        6,
    );
    let key = key();
    let bad = format!(
        "{}  control.txt\n{} \u{59c}egistry.csv\n",
        "0".repeat(64),
        "1".repeat(64)
    );
    let entries = vec![
        ("control.txt".to_string(), b.control()),
        ("registry.csv".to_string(), b.registry.clone()),
        ("manifest.sha256".to_string(), bad.clone().into_bytes()),
        (
            "manifest.sha256.hmac".to_string(),
            format!("{}\n", key.sign(bad.as_bytes())).into_bytes(),
        ),
    ];
    let mut rx = Rx::new();
    let h = rx.process(&b.file_name(), &sample::zip_entries(&entries));
    assert_eq!(h.result, "NAK", "{h:?}");
    assert_eq!(h.code.as_deref(), Some("B04"), "{h:?}");
}

// ------------------------------------------------------------------------- the other targets

/// The `archive` target: any bytes as an archive are read or rejected `B01`/`B02`, never an
/// I/O failure of the receiver.
#[test]
fn archive_findings_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (p, data) in inputs("archive") {
        let f = dir.path().join("a.zip");
        std::fs::write(&f, &data).expect("write");
        match archive::read(&f, &Limits::default()) {
            Ok(a) => {
                let _ = integrity::check_files(&a);
                let _ = integrity::check_hmac(&a, Some(&key()), None);
                let _ = integrity::check_manifest(&a);
            }
            Err(ReadError::Reject { code, .. }) => assert!(
                matches!(code, BatchCode::B01 | BatchCode::B02),
                "{}",
                p.display()
            ),
            Err(ReadError::Io(e)) => panic!("{}: {e}", p.display()),
        }
    }
}

/// The `control` target: no panic, errors name `control.txt`.
#[test]
fn control_findings_replay() {
    let name =
        reestr::name::BatchName::parse("MUNIS_SUDBILLING_PAY_20261121_001.zip").expect("name");
    for (p, data) in inputs("control") {
        let _ = reestr::control::created_at_line(&data);
        if let Err(m) = reestr::control::parse(&data, &name) {
            assert!(m.starts_with("control.txt"), "{}: {m}", p.display());
        }
    }
}

/// The `registry` target: read in each charset and check every row against every schema.
#[test]
fn registry_findings_replay() {
    let s = reestr::schema::Schemas::built_in().expect("schemas");
    let ctx = reestr::validate::Context {
        created_at: chrono::DateTime::parse_from_rfc3339("2026-11-22T01:05:00+05:00")
            .expect("fixed"),
        business_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).expect("fixed"),
    };
    for (_, data) in inputs("registry") {
        let mut rr = reestr::dialect::RecordReader::new(&data[..], true);
        while let Ok(true) = rr.read_record() {
            for cs in [
                reestr::charset::Charset::Utf8,
                reestr::charset::Charset::Windows1251,
                reestr::charset::Charset::Cp866,
            ] {
                let fields: Option<Vec<String>> = (0..rr.len())
                    .map(|i| cs.decode(rr.field(i).unwrap_or_default()))
                    .collect();
                for schema in [&s.pay, &s.rev, &s.rec, &s.invoices] {
                    if let Some(f) = &fields {
                        let _ = reestr::validate::check_row(schema, &ctx, f);
                    }
                }
            }
        }
    }
}

/// The `pipeline` and `batch` targets: the first byte selects, the rest is an archive or a
/// registry; either way the engine answers it (no engine failure, no panic).
#[test]
fn pipeline_and_batch_findings_replay() {
    for (p, data) in inputs("pipeline") {
        let Some((&sel, zip)) = data.split_first() else {
            continue;
        };
        let mut rx = Rx::new();
        rx.import_reference_invoices();
        let h = rx.process(NAMES[usize::from(sel & 7)], zip);
        assert!(
            h.result == "ACK" || h.result == "NAK",
            "{}: {h:?}",
            p.display()
        );
    }
    for (p, data) in inputs("batch") {
        let Some((&sel, registry)) = data.split_first() else {
            continue;
        };
        let kind = match sel & 3 {
            1 => BatchType::REV,
            2 => BatchType::REC,
            _ => BatchType::PAY,
        };
        let cs = match (sel >> 2) & 3 {
            1 => reestr::charset::Charset::Windows1251,
            2 => reestr::charset::Charset::Cp866,
            _ => reestr::charset::Charset::Utf8,
        };
        let (width, amount) = match kind.role() {
            Role::Pay => (11, 6),
            Role::Rev => (4, 2),
            Role::Rec => (5, 3),
        };
        let mut b = Batch::new(kind, "001", cs, &[], &[], 0);
        b.registry = registry.to_vec();
        if sel & 16 == 0 {
            (b.rows, b.amount_total) = totals(registry, cs, width, amount);
        }
        let mut rx = Rx::new();
        rx.import_reference_invoices();
        let h = rx.process(&b.file_name(), &b.zip(Some(&key())));
        assert!(
            h.result == "ACK" || h.result == "NAK",
            "{}: {h:?}",
            p.display()
        );
    }
}
