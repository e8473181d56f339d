//! The counterpart's reference archives: each must get the answer in `tests/reference/README.md`.

mod common;
use common::*;

const ORDER: [(&str, &str); 8] = [
    ("MUNIS_SUDBILLING_PAY_20261121_001", "ACK"),
    ("MUNIS_SUDBILLING_PAY_20261121_002", "ACK"),
    ("MUNIS_SUDBILLING_PAY_20261121_003", "ACK"),
    ("MUNIS_SUDBILLING_REV_20261121_001", "ACK"),
    ("MUNIS_SUDBILLING_REC_20261121_001", "ACK"),
    ("MUNIS_SUDBILLING_PAY_20261121_004", "NAK B04"),
    ("MUNIS_SUDBILLING_PAY_20261121_005", "NAK B08"),
    ("MUNIS_SUDBILLING_PAY_20261121_006", "NAK B05"),
];

fn response_name(batch: &str, ack: bool) -> String {
    let rest = batch.strip_prefix("MUNIS_SUDBILLING_").unwrap_or(batch);
    format!(
        "SUDBILLING_MUNIS_{rest}_{}.zip",
        if ack { "ACK" } else { "NAK" }
    )
}

/// Runs the reference sequence one archive at a time; returns the receiver.
fn run_reference() -> Rx {
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    for (batch, want) in ORDER {
        let h = rx.process(&format!("{batch}.zip"), &reference(&format!("{batch}.zip")));
        let got = match &h.code {
            Some(c) => format!("{} {c}", h.result),
            None => h.result.clone(),
        };
        assert_eq!(got, want, "{batch}: {:?}", h.message);
    }
    rx
}

#[test]
fn every_reference_archive_gets_its_answer_and_row_statuses() {
    let rx = run_reference();
    for (batch, want) in ORDER {
        let ack = want == "ACK";
        let name = response_name(batch, ack);
        let control = rx.response_control(&name);
        assert_eq!(
            control_value(&control, "result").as_deref(),
            Some(if ack { "ACK" } else { "NAK" })
        );
        if !ack {
            assert_eq!(
                control_value(&control, "error").as_deref(),
                want.strip_prefix("NAK ")
            );
            continue;
        }
        let result = rx.response_entry(&name, "result.csv").expect("result.csv");
        let got: Vec<String> = statuses(&result)
            .into_iter()
            .map(|(l, p, s, f)| {
                let f = if s == "201" || s == "202" {
                    f
                } else {
                    String::new()
                };
                format!("{l};{p};{s};{f}")
            })
            .collect();
        let expected =
            String::from_utf8(reference(&format!("expected/{batch}.csv"))).expect("utf-8");
        let want_rows: Vec<&str> = expected.lines().skip(1).collect();
        assert_eq!(got, want_rows, "{batch}");
        assert_eq!(
            control_value(&control, "rows"),
            Some(want_rows.len().to_string())
        );
        let accepted = want_rows
            .iter()
            .filter(|r| r.split(';').nth(2) == Some("1"))
            .count();
        assert_eq!(
            control_value(&control, "accepted"),
            Some(accepted.to_string())
        );
    }
}

#[test]
fn two_fresh_receivers_give_identical_bytes() {
    let a = run_reference();
    let b = run_reference();
    assert_eq!(a.outbox(), b.outbox());
    assert_eq!(a.outbox().len(), 8);
    for name in a.outbox() {
        assert_eq!(a.response(&name), b.response(&name), "{name}");
    }
}

#[test]
fn replay_reproduces_every_sent_response_byte_for_byte_even_renamed() {
    let mut rx = run_reference();
    let out = rx.dir.path().join("replay");
    for (batch, want) in ORDER {
        let copy = rx.dir.path().join("auditor-copy.zip");
        std::fs::write(&copy, reference(&format!("{batch}.zip"))).expect("copy");
        let r = rx.engine.replay(&copy, &out).expect("replay");
        assert!(r.received_before, "{batch}");
        assert_eq!(r.identical, Some(true), "{batch}");
        let name = response_name(batch, want == "ACK");
        assert_eq!(
            std::fs::read(out.join(&name)).expect("replayed"),
            rx.response(&name),
            "{batch}"
        );
    }
    let (problems, _) = rx.engine.audit().expect("audit");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn a_replay_that_differs_names_the_engine_version_that_answered_when_it_is_another() {
    let mut rx = run_reference();
    let out = rx.dir.path().join("replay");
    let (batch, _) = ORDER[0];
    let copy = rx.dir.path().join("auditor-copy.zip");
    std::fs::write(&copy, reference(&format!("{batch}.zip"))).expect("copy");
    let r = rx.engine.replay(&copy, &out).expect("replay");
    assert_eq!(r.answered_by.as_deref(), Some(reestr::VERSION));
    assert_eq!(reestr::engine::other_version(r.answered_by.as_deref()), "");
    // As if an earlier engine had answered it, with other bytes.
    let conn = &rx.engine.store.conn;
    conn.execute_batch(&format!(
        "UPDATE journal SET body = json_set(body, '$.engine_version', '0.0.9') WHERE seq = (SELECT journal_seq FROM deliveries WHERE batch_id = '{batch}');
         UPDATE deliveries SET response_sha256 = '{}' WHERE batch_id = '{batch}';",
        "0".repeat(64)
    ))
    .expect("edit");
    let r = rx.engine.replay(&copy, &out).expect("replay");
    assert_eq!(r.identical, Some(false));
    assert_eq!(r.answered_by.as_deref(), Some("0.0.9"));
    let said = reestr::engine::other_version(r.answered_by.as_deref());
    assert!(
        said.contains("answered by engine 0.0.9") && said.contains("docs/CHANGES.md"),
        "{said}"
    );
}

#[test]
fn the_reference_response_layout() {
    let rx = run_reference();
    let name = "SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip";
    let bytes = rx.response(name);
    assert_eq!(
        entry_names(&bytes),
        [
            "control.txt",
            "result.csv",
            "manifest.sha256",
            "manifest.sha256.hmac"
        ]
    );
    let control = rx.response_control(name);
    let keys: Vec<&str> = control
        .lines()
        .map(|l| l.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "format",
            "batch_id",
            "type",
            "sender",
            "receiver",
            "business_date",
            "created_at",
            "in_reply_to",
            "in_reply_to_sha256",
            "result",
            "encoding",
            "rows",
            "accepted",
            "amount_accepted"
        ]
    );
    assert!(control.ends_with('\n') && !control.contains('\r'));
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(reference(
        "MUNIS_SUDBILLING_PAY_20261121_001.zip",
    )));
    assert_eq!(control_value(&control, "in_reply_to_sha256"), Some(sha));
    assert_eq!(
        control_value(&control, "created_at").as_deref(),
        Some("2026-11-22T01:05:00+05:00")
    );
    assert_eq!(
        control_value(&control, "sender").as_deref(),
        Some("SUDBILLING")
    );
    assert_eq!(
        control_value(&control, "receiver").as_deref(),
        Some("MUNIS")
    );
    // The manifest lists control.txt and result.csv, and the HMAC signs it with the partner key.
    let manifest = rx
        .response_entry(name, "manifest.sha256")
        .expect("manifest");
    let text = String::from_utf8(manifest.clone()).expect("ascii");
    for entry in ["control.txt", "result.csv"] {
        let content = rx.response_entry(name, entry).expect("entry");
        let line = format!(
            "{}  {entry}\n",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content))
        );
        assert!(text.contains(&line), "{entry} in manifest");
    }
    let tag = String::from_utf8(
        rx.response_entry(name, "manifest.sha256.hmac")
            .expect("hmac"),
    )
    .expect("ascii");
    assert_eq!(tag.trim_end(), key().sign(&manifest));
    // Deflated entries, times from created_at.
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    for i in 0..z.len() {
        let f = z.by_index(i).expect("entry");
        assert_eq!(f.compression(), zip::CompressionMethod::Deflated);
        let t = f.last_modified().expect("time");
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2026, 11, 22, 1, 5, 0)
        );
    }
    // result.csv: header, CRLF, no BOM, utf-8 as the inbound registry.
    let result = rx.response_entry(name, "result.csv").expect("result");
    assert!(result.starts_with(b"line;payment_id;status;field;message\r\n"));
    assert!(result.ends_with(b"\r\n"));
}

#[test]
fn result_csv_uses_the_inbound_encoding() {
    let rx = run_reference();
    let control = rx.response_control("SUDBILLING_MUNIS_PAY_20261121_003_ACK.zip");
    assert_eq!(
        control_value(&control, "encoding").as_deref(),
        Some("cp866")
    );
    let control = rx.response_control("SUDBILLING_MUNIS_PAY_20261121_002_ACK.zip");
    assert_eq!(
        control_value(&control, "encoding").as_deref(),
        Some("windows-1251")
    );
}

#[test]
fn the_reference_batch_packed_by_common_zip_writers_is_answered_alike() {
    // tests/writers: the same four files packed by Info-ZIP, jar, java.util.zip, Python's
    // zipfile and 7-Zip (local header sizes, data descriptors with and without zip64, stored
    // entries, entries in another order, NTFS timestamps extra fields).
    let batch = "MUNIS_SUDBILLING_PAY_20261121_001";
    let ack = response_name(batch, true);
    let mut original = Rx::new();
    original.import_reference_invoices();
    let h = original.process(&format!("{batch}.zip"), &reference(&format!("{batch}.zip")));
    assert_eq!(h.result, "ACK", "{:?}", h.message);
    let want = original
        .response_entry(&ack, "result.csv")
        .expect("result.csv");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/writers");
    let mut seen = 0;
    for name in list(&dir).into_iter().filter(|n| n.ends_with(".zip")) {
        let bytes = std::fs::read(dir.join(&name)).expect("archive");
        let mut rx = Rx::new();
        rx.import_reference_invoices();
        let h = rx.process(&format!("{batch}.zip"), &bytes);
        seen += 1;
        let refused = match name.as_str() {
            "infozip-pipe-zip64.zip" => Some("B01"),
            "7zip-deflate64.zip" => Some("B02"),
            _ => None,
        };
        if let Some(code) = refused {
            assert_eq!(
                (h.result.as_str(), h.code.as_deref()),
                ("NAK", Some(code)),
                "{name}"
            );
            continue;
        }
        assert_eq!(h.result, "ACK", "{name}: {:?}", h.message);
        let got = rx.response_entry(&ack, "result.csv").expect("result.csv");
        assert_eq!(got, want, "{name}: result.csv");
    }
    assert_eq!(seen, 17, "archives in tests/writers");
}
