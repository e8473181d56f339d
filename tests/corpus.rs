//! The malformed-archive corpus of issue 4: every archive under `tests/corpus/` gets the answer
//! written beside it in `tests/corpus/expected.tsv` (made by `examples/make_corpus.rs`, which
//! documents the columns).
//!
//! Each archive is processed by a fresh receiver with the reference configuration (partner
//! `MUNIS` with the reference key) and the reference billing export loaded, under the inbox
//! name of the `as` column. A NAK must carry the expected code in the response's `control.txt`;
//! an ACK must list in `result.csv` exactly the rows of the `answer` column, with their line,
//! status and field. Separately, a NAK's `message` must name what went wrong (§8): the registry
//! line (`line N`) and the field, control key or entry of the `line` and `field` columns, and,
//! from `B02` on, an archive entry (`control.txt`, `registry.csv`, a manifest file, or the
//! offending entry).
//!
//! `CORPUS_VERBOSE=1 cargo test --test corpus -- --nocapture` prints every answer and message.
//!
//! Judgement calls recorded in the corpus (see the `note` column):
//! - A registry row of 1,000,000 fields is a line of about 1 MB: the 64 KiB line limit of §3 is
//!   met while the archive is read, before the row could be counted as a `202` (wrong number of
//!   fields), and `B02` comes before any row status. A row of 30,000 fields (30 KB) is a `202`.
//! - A NUL byte is a valid UTF-8 character: inside `payer_name` or `purpose` (text with a length
//!   rule only) the row is accepted; inside `payment_id` or `amount` the pattern fails (`202`).
//! - A lone CR is not a line end (§5: CRLF or LF): it is an ordinary character of its field.
//! - `rows` and `amount_total` of 10,000 digits in `control.txt` are `B08`: §4 sets no number
//!   of digits, so they are well-formed numbers, and no registry can match them (they were
//!   `B06`, malformed, until two independent readings of the agreement both said `B08`).

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// One line of `expected.tsv`.
#[derive(Debug, Clone)]
struct Expected {
    file: String,
    answer: String,
    line: String,
    field: String,
    note: String,
    as_name: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn load() -> Vec<Expected> {
    let text = std::fs::read_to_string(corpus_dir().join("expected.tsv")).expect("expected.tsv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("file\tanswer\tline\tfield\tnote\tas"),
        "expected.tsv header"
    );
    lines
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 6, "six columns: {l:?}");
            Expected {
                file: c[0].into(),
                answer: c[1].into(),
                line: c[2].into(),
                field: c[3].into(),
                note: c[4].into(),
                as_name: c[5].into(),
            }
        })
        .collect()
}

/// `(line, status, field)` of each row in an `ACK:<line>:<status>:<field>;...` answer.
fn expected_rows(answer: &str) -> Vec<(String, String, String)> {
    if answer == "ACK" {
        return Vec::new();
    }
    answer
        .split(';')
        .map(|r| {
            let p: Vec<&str> = r.split(':').collect();
            assert!(
                p.len() == 4 && p[0] == "ACK",
                "row answer {r:?} is ACK:<line>:<status>:<field>"
            );
            (p[1].into(), p[2].into(), p[3].into())
        })
        .collect()
}

/// Whether `message` names physical line `n` (`line 3`, not `line 30`).
fn names_line(message: &str, n: &str) -> bool {
    let needle = format!("line {n}");
    message.match_indices(&needle).any(|(i, _)| {
        !message[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// What a case's NAK message is checked for.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// The answer: code, or every row's line, status and field.
    Answer,
    /// The NAK message: names the entry, line and field.
    Message,
}

/// Judges one case; `Err` says how the engine's answer differs.
fn judge(e: &Expected, check: Check) -> Result<(), String> {
    let bytes = std::fs::read(corpus_dir().join(&e.file)).map_err(|err| err.to_string())?;
    let mut rx = Rx::new();
    rx.import_reference_invoices();
    let h = rx.process(&e.as_name, &bytes);
    if check == Check::Answer && std::env::var_os("CORPUS_VERBOSE").is_some() {
        eprintln!(
            "{}\t{} {}\t{}",
            e.file,
            h.result,
            h.code.as_deref().unwrap_or(""),
            h.message.as_deref().unwrap_or("")
        );
    }
    let got = format!(
        "{} {} {:?}",
        h.result,
        h.code.as_deref().unwrap_or("-"),
        h.message
    );
    let resp = h
        .response
        .clone()
        .ok_or_else(|| format!("no response written: {got}"))?;
    let control = rx.response_control(&resp);
    let value = |k: &str| control_value(&control, k).unwrap_or_default();
    if e.answer.starts_with('B') {
        if h.result != "NAK" || h.code.as_deref() != Some(e.answer.as_str()) {
            return Err(format!("want NAK {}, got {got}", e.answer));
        }
        if value("result") != "NAK" || value("error") != e.answer {
            return Err(format!("response control.txt says {control:?}"));
        }
        if check == Check::Answer {
            return Ok(());
        }
        let message = value("message");
        if message.is_empty() {
            return Err("NAK without a message".into());
        }
        if !e.line.is_empty() && !names_line(&message, &e.line) {
            return Err(format!("message {message:?} does not name line {}", e.line));
        }
        if !e.field.is_empty() && !message.contains(&e.field) {
            return Err(format!("message {message:?} does not name {:?}", e.field));
        }
        let entries = [
            "control.txt",
            "registry.csv",
            "manifest.sha256",
            e.field.as_str(),
        ];
        // A fault found while the zip is read is in the archive file, which is named; an
        // entry's fault names the entry as well.
        if matches!(e.answer.as_str(), "B01" | "B02")
            && !message.starts_with(&format!("{}: ", e.as_name))
        {
            return Err(format!(
                "message {message:?} does not name the archive {}",
                e.as_name
            ));
        }
        let from_b02 = !matches!(e.answer.as_str(), "B01" | "B09" | "B10");
        if from_b02 && !entries.iter().any(|n| !n.is_empty() && message.contains(n)) {
            return Err(format!("message {message:?} names no archive entry"));
        }
        return Ok(());
    }
    if h.result != "ACK" {
        return Err(format!("want {}, got {got}", e.answer));
    }
    if check == Check::Message {
        return Ok(());
    }
    let want = expected_rows(&e.answer);
    let result = rx
        .response_entry(&resp, "result.csv")
        .ok_or("ACK without result.csv")?;
    let rows: Vec<(String, String, String)> = statuses(&result)
        .into_iter()
        .map(|(l, _, s, f)| (l, s, f))
        .collect();
    if rows != want {
        return Err(format!("want rows {want:?}, got {rows:?}"));
    }
    if value("result") != "ACK" || value("rows") != want.len().to_string() {
        return Err(format!("response control.txt says {control:?}"));
    }
    Ok(())
}

fn judge_all(check: Check) {
    let cases = load();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|e| {
            judge(e, check)
                .err()
                .map(|why| format!("{}: {why}", e.file))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_archive_gets_its_expected_answer() {
    judge_all(Check::Answer);
}

#[test]
fn every_corpus_nak_message_names_the_entry_line_and_field() {
    // §8: a NAK's message is one line naming the file, line and field where that applies.
    judge_all(Check::Message);
}

#[test]
fn the_corpus_covers_what_issue_4_asks_for() {
    let cases = load();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    // Every archive in the folder is listed, once, and every listed one exists.
    let mut listed: Vec<&str> = cases.iter().map(|e| e.file.as_str()).collect();
    listed.sort_unstable();
    let before = listed.len();
    listed.dedup();
    assert_eq!(listed.len(), before, "a file listed twice");
    let on_disk: Vec<String> = list(&corpus_dir())
        .into_iter()
        .filter(|n| n.ends_with(".zip"))
        .collect();
    assert_eq!(on_disk, listed, "archives on disk and in expected.tsv");
    // Small enough to keep in the repository.
    let total: u64 = on_disk
        .iter()
        .map(|n| std::fs::metadata(corpus_dir().join(n)).expect("size").len())
        .sum();
    assert!(total < 4 << 20, "corpus is {total} bytes");
    let slug = |s: &str| cases.iter().filter(|e| e.file.contains(s)).count();
    assert!(
        slug("-truncated-at-") >= 12,
        "truncations at 12 offsets or more"
    );
    let answer_of = |s: &str| -> Vec<&str> {
        cases
            .iter()
            .filter(|e| e.file.contains(s))
            .map(|e| e.answer.as_str())
            .collect()
    };
    for (what, code) in [
        // Agreement §3, one by one.
        ("-directory-entry", "B02"),
        ("-name-with-slash", "B02"),
        ("-name-with-backslash", "B02"),
        ("-absolute-name", "B02"),
        ("-dot-dot-name", "B02"),
        ("-duplicate-name-", "B02"),
        ("-symlink-", "B02"),
        ("-encrypted-", "B02"),
        ("-method-12-bzip2", "B02"),
        ("-seventeen-entries", "B02"),
        ("-ratio-over-200", "B02"),
        ("-lying-size-", ""),
        ("-crc-mismatch", "B01"),
        ("-line-of-64-kib-plus-one", "B02"),
        ("-million-columns", "B02"),
        ("-unterminated-quote-", "B07"),
        ("-nul-in-", ""),
        ("-mixed-line-ends", "ACK"),
        ("-utf8-bom-in-windows-1251", "B07"),
        ("-overlong-", "B07"),
        ("-amount-10000-digits", "ACK:1:1:;ACK:2:202:amount;ACK:3:1:"),
        (
            "-paid-at-month-13-day-45",
            "ACK:1:1:;ACK:2:202:paid_at;ACK:3:1:",
        ),
        ("-empty-archive", "B03"),
        ("-empty-registry", "B07"),
        ("-header-only.zip", "ACK"),
    ] {
        let answers = answer_of(what);
        assert!(!answers.is_empty(), "no corpus case {what}");
        if !code.is_empty() {
            assert!(
                answers.iter().all(|a| a.starts_with(code)),
                "{what}: {answers:?}"
            );
        }
    }
    // Every note says why.
    assert!(cases.iter().all(|e| !e.note.is_empty()));
}
