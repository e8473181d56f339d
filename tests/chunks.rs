//! Rows are validated ahead and reconciled in chunks; the answer must not depend on the chunk
//! size. The same PAY, REV and REC batches, full of effects that cross chunk boundaries
//! (partial payments of one invoice far apart, repeated payment ids, rejected lines whose ids
//! come back, reversals of payments of the same run), give identical bytes and books for every
//! chunk size.

mod common;
use common::*;
use reestr::charset::Charset;
use reestr::name::BatchType;
use reestr::sample::{self, Batch, PAY_HEADER, REC_HEADER, REV_HEADER, Rng};

fn batches() -> (String, Vec<(String, Vec<u8>)>) {
    let mut rng = Rng::new(31337);
    let inv = sample::invoices(160, &mut rng);
    let (first, others) = inv.split_at(40);
    let open: Vec<&sample::Invoice> = first.iter().filter(|i| i.status == "OPEN").collect();
    // Partial payments: a third of the amount due, so invoices fill up over the batch.
    let third = |k: u64, v: &sample::Invoice, at: &str, rng: &mut Rng| {
        let mut r = sample::pay_row(94_000_000_000_000 + k, v, at, "", rng);
        let due = reestr::amount::parse(&v.amount_due).unwrap_or(0);
        r[6] = reestr::amount::format(i128::from(due / 3));
        r
    };
    let mut pay = Vec::new();
    for k in 0..300u64 {
        let v = open[(k as usize * 7) % open.len()];
        let mut r = third(k, v, "2026-11-21 10:00:00", &mut rng);
        match k % 23 {
            5 => r[0] = format!("{:014}", 94_000_000_000_000 + k - 3), // repeats an earlier id
            11 => r[8] = "0014".into(),                                // rejected (202) ...
            12 => r[0] = format!("{:014}", 94_000_000_000_000 + k - 1), // ... and its id returns
            17 => r[2] = "99999999999999999999".into(),                // unknown invoice
            21 => {
                // A cancelled invoice (303), with its own payer.
                if let Some(c) = first.iter().find(|i| i.status == "CANCELLED") {
                    r[2] = c.no.clone();
                    r[3] = c.payer_type.clone();
                    r[4] = c.payer_id.clone();
                }
            }
            19 => {
                // Another invoice's payer (304), of the same type or not.
                if let Some(o) = open.iter().find(|o| o.payer_id != v.payer_id) {
                    r[3] = o.payer_type.clone();
                    r[4] = o.payer_id.clone();
                }
            }
            _ => {}
        }
        pay.push(r);
    }
    // One payment each for many other invoices: many balances changed, written at the end of
    // the batch.
    let many = others.iter().filter(|i| i.status == "OPEN");
    for (k, v) in (300u64..).zip(many) {
        pay.push(third(k, v, "2026-11-21 11:00:00", &mut rng));
    }
    assert!(pay.len() > 300 + 64, "many changed balances");
    assert!(
        first.iter().any(|i| i.status == "CANCELLED"),
        "the invoices include a cancelled one"
    );
    let b1 = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &pay, 6);
    let mut rev = Vec::new();
    for r in pay.iter().step_by(9) {
        rev.push(vec![
            r[0].clone(),
            "2026-11-21 22:00:00".into(),
            r[6].clone(),
            "Xato".into(),
        ]);
    }
    rev.push(rev[0].clone());
    let b2 = Batch::new(BatchType::REV, "001", Charset::Utf8, &REV_HEADER, &rev, 2);
    let mut rec: Vec<Vec<String>> = pay
        .iter()
        .skip(2)
        .step_by(2)
        .map(|r| {
            vec![
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[6].clone(),
                "PAID".into(),
            ]
        })
        .collect();
    rec.push(rec[3].clone());
    let b3 = Batch::new(BatchType::REC, "001", Charset::Utf8, &REC_HEADER, &rec, 3);
    // A second PAY after the reversals: re-opened amounts can be paid again.
    let again: Vec<Vec<String>> = pay
        .iter()
        .step_by(9)
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            r[0] = format!("{:014}", 95_000_000_000_000 + i as u64);
            r
        })
        .collect();
    let b4 = Batch::new(BatchType::PAY, "002", Charset::Utf8, &PAY_HEADER, &again, 6);
    let k = key();
    (
        sample::invoices_csv(&inv),
        vec![
            (b1.file_name(), b1.zip(Some(&k))),
            (b2.file_name(), b2.zip(Some(&k))),
            (b4.file_name(), b4.zip(Some(&k))),
            (b3.file_name(), b3.zip(Some(&k))),
        ],
    )
}

/// The batches with `chunk` rows per chunk, every invoice read at once or not, and the
/// statement's payment ids kept in memory or moved to a temporary table after `noted` of them.
fn run_with(chunk: usize, read_all: bool, noted: usize) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let (invoices, files) = batches();
    let mut rx = Rx::new();
    rx.engine.chunk_rows = chunk;
    rx.engine.read_all_min_rows = if read_all { 0 } else { u64::MAX };
    rx.engine.noted_in_memory = noted;
    let csv = rx.dir.path().join("inv.csv");
    std::fs::write(&csv, invoices).expect("csv");
    rx.engine
        .import_invoices(&csv)
        .expect("import")
        .expect("valid");
    for (n, b) in &files {
        let h = rx.process(n, b);
        assert_eq!(h.result, "ACK", "{n}: {:?}", h.message);
    }
    let out = rx
        .outbox()
        .into_iter()
        .map(|n| (n.clone(), rx.response(&n)))
        .collect();
    let mut st = rx
        .engine
        .store
        .conn
        .prepare("SELECT invoice_no, paid FROM invoices_paid ORDER BY invoice_no")
        .expect("q");
    let books = st
        .query_map([], |r| {
            Ok(format!(
                "{}={}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    (out, books)
}

#[test]
fn the_answer_does_not_depend_on_the_chunk_size() {
    let all = reestr::reconcile::NOTED_IN_MEMORY;
    let (want, want_books) = run_with(1, false, all);
    let statuses: Vec<String> = statuses(&entry_of(&want[0].1, "result.csv").expect("result"))
        .into_iter()
        .map(|r| r.2)
        .collect();
    for code in ["1", "202", "301", "302", "303", "304", "4"] {
        assert!(
            statuses.iter().any(|s| s == code),
            "the batch exercises status {code}: {statuses:?}"
        );
    }
    let statement = want
        .iter()
        .find(|(n, _)| n.contains("_REC_"))
        .expect("the statement's response");
    let statement = common::statuses(&entry_of(&statement.1, "result.csv").expect("result"));
    assert!(
        statement.iter().any(|r| r.2 == "306"),
        "the statement leaves payments of its day unlisted (306): {statement:?}"
    );
    for (chunk, read_all, noted) in [
        (1, true, all),
        (2, false, 0),
        (7, true, 10),
        (64, false, all),
        (1000, true, 0),
        (reestr::pipeline::CHUNK_ROWS, false, all),
    ] {
        let (got, books) = run_with(chunk, read_all, noted);
        assert_eq!(got.len(), want.len());
        for ((n, a), (_, b)) in got.iter().zip(&want) {
            assert!(a == b, "chunk size {chunk}: response {n} differs");
        }
        assert_eq!(
            books, want_books,
            "chunk size {chunk}: invoice balances differ"
        );
    }
}
