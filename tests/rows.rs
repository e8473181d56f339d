//! Row semantics (agreement §7.2) with the project's own billing export and batches: partial
//! payments, duplicates, the order of evaluation, reversals, the daily statement, row order,
//! encodings, and the order in which waiting batches are handled.

mod common;
use common::*;
use reestr::charset::Charset;
use reestr::name::{BatchType, Role};
use reestr::sample::{self, Batch, Invoice, PAY_HEADER, REC_HEADER, REV_HEADER, Rng};

const MFO: &str = "00014";

/// A receiver loaded with an export of our own invoices.
struct World {
    rx: Rx,
    rng: std::cell::RefCell<Rng>,
    inv: Vec<Invoice>,
}

/// `(legal entity, amount due, status)` of each invoice, numbered `7000…0001`, `7000…0002`, …
type Spec<'a> = (bool, &'a str, &'a str);

fn invoice_no(i: usize) -> String {
    format!("7{:019}", i + 1)
}

impl World {
    fn new(specs: &[Spec<'_>]) -> Self {
        let mut rng = Rng::new(20_261_121);
        let inv: Vec<Invoice> = specs
            .iter()
            .enumerate()
            .map(|(i, (legal, due, status))| Invoice {
                no: invoice_no(i),
                payer_type: if *legal { "J" } else { "P" }.into(),
                payer_id: if *legal {
                    sample::tin(&mut rng)
                } else {
                    sample::pinfl(&mut rng)
                },
                payer_name: "Abdullayev Sardor".into(),
                amount_due: (*due).into(),
                status: (*status).into(),
            })
            .collect();
        let mut rx = Rx::new();
        let p = rx.dir.path().join("invoices.csv");
        std::fs::write(&p, sample::invoices_csv(&inv)).expect("write export");
        let r = rx
            .engine
            .import_invoices(&p)
            .expect("import runs")
            .expect("export valid");
        assert_eq!(r.changed, inv.len() as u64);
        Self {
            rx,
            rng: std::cell::RefCell::new(rng),
            inv,
        }
    }

    /// A valid PAY row for invoice `i` (its own payer), paid at 10:00 on the business date.
    fn pay(&self, id: &str, i: usize, amount: &str) -> Vec<String> {
        let v = &self.inv[i];
        vec![
            id.into(),
            "2026-11-21 10:00:00".into(),
            v.no.clone(),
            v.payer_type.clone(),
            v.payer_id.clone(),
            "Abdullayev Sardor".into(),
            amount.into(),
            "860".into(),
            MFO.into(),
            sample::account(MFO, &mut self.rng.borrow_mut()),
            "Davlat boji".into(),
        ]
    }

    /// Sends a UTF-8 batch and returns its `result.csv` rows as `line;payment_id;status;field`.
    fn send(&mut self, kind: BatchType, seq: &str, rows: &[Vec<String>]) -> Vec<String> {
        self.send_batch(&batch(kind, seq, Charset::Utf8, rows))
    }

    fn send_batch(&mut self, b: &Batch) -> Vec<String> {
        let h = self.rx.process(&b.file_name(), &b.zip(Some(&key())));
        assert_eq!(h.result, "ACK", "{}: {:?}", b.batch_id(), h.message);
        let name = response_name(b, "ACK");
        assert_eq!(h.response.as_deref(), Some(name.as_str()));
        let result = self
            .rx
            .response_entry(&name, "result.csv")
            .expect("result.csv");
        flat(&statuses(&result))
    }

    fn control(&self, b: &Batch) -> String {
        self.rx.response_control(&response_name(b, "ACK"))
    }

    /// `SELECT` rendered as lines, for comparing store states.
    fn dump(&self, sql: &str) -> Vec<String> {
        common::dump(&self.rx.engine.store.conn, sql)
    }

    fn paid(&self, i: usize) -> i64 {
        self.rx
            .engine
            .store
            .conn
            .query_row(
                "SELECT paid FROM invoices_paid WHERE invoice_no=?1",
                [&self.inv[i].no],
                |r| r.get(0),
            )
            .expect("invoice")
    }

    fn payment_state(&self, id: &str) -> Option<String> {
        self.rx
            .engine
            .store
            .conn
            .query_row(
                "SELECT state FROM payments WHERE payment_id=?1",
                [id],
                |r| r.get(0),
            )
            .ok()
    }

    fn payments(&self) -> i64 {
        self.rx
            .engine
            .store
            .conn
            .query_row("SELECT count(*) FROM payments", [], |r| r.get(0))
            .expect("count")
    }
}

fn batch(kind: BatchType, seq: &str, cs: Charset, rows: &[Vec<String>]) -> Batch {
    match kind.role() {
        Role::Pay => Batch::new(kind, seq, cs, &PAY_HEADER, rows, 6),
        Role::Rev => Batch::new(kind, seq, cs, &REV_HEADER, rows, 2),
        Role::Rec => Batch::new(kind, seq, cs, &REC_HEADER, rows, 3),
    }
}

fn response_name(b: &Batch, result: &str) -> String {
    format!(
        "SUDBILLING_MUNIS_{}_{}_{}_{result}.zip",
        b.kind, b.date, b.seq
    )
}

fn flat(rows: &[(String, String, String, String)]) -> Vec<String> {
    rows.iter()
        .map(|(l, p, s, f)| format!("{l};{p};{s};{f}"))
        .collect()
}

fn rev(id: &str, amount: &str) -> Vec<String> {
    vec![
        id.into(),
        "2026-11-21 22:00:00".into(),
        amount.into(),
        "Xato to'lov".into(),
    ]
}

fn rec(id: &str, at: &str, invoice: &str, amount: &str, state: &str) -> Vec<String> {
    vec![
        id.into(),
        at.into(),
        invoice.into(),
        amount.into(),
        state.into(),
    ]
}

/// Payment ids `30000000000001`, `30000000000002`, … (14 digits).
fn pid(n: u64) -> String {
    format!("{}", 30_000_000_000_000u64 + n)
}

#[test]
fn partial_payments_fully_paid_over_balance_payer_cancelled_unknown() {
    let mut w = World::new(&[
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "500.00", "CANCELLED"),
        (true, "1000.00", "OPEN"),
    ]);
    let mut wrong_payer = w.pay(&pid(5), 2, "5000.00");
    wrong_payer[3] = "J".into();
    wrong_payer[4] = "212345678".into();
    let mut cancelled_wrong_payer = w.pay(&pid(9), 3, "1.00");
    cancelled_wrong_payer[4] = sample::pinfl(&mut Rng::new(99));
    let mut unknown = w.pay(&pid(7), 1, "1.00");
    unknown[2] = "79999999999999999999".into();
    let mut unknown_wrong_payer = w.pay(&pid(10), 1, "99999.00");
    unknown_wrong_payer[2] = "79999999999999999998".into();
    unknown_wrong_payer[4] = sample::pinfl(&mut Rng::new(98));
    let rows = vec![
        w.pay(&pid(1), 0, "600.00"),
        w.pay(&pid(2), 0, "400.00"),
        w.pay(&pid(3), 0, "0.01"),
        w.pay(&pid(4), 1, "1000.01"),
        wrong_payer,
        w.pay(&pid(6), 3, "500.00"),
        unknown,
        w.pay(&pid(8), 4, "1000.00"),
        cancelled_wrong_payer,
        unknown_wrong_payer,
    ];
    let got = w.send(BatchType::PAY, "001", &rows);
    let p = |n: u64, line: u64, s: &str| format!("{line};{};{s};", pid(n));
    assert_eq!(
        got,
        [
            p(1, 1, "1"),
            p(2, 2, "1"),   // two partial payments reach the amount due
            p(3, 3, "302"), // a third one: fully paid
            p(4, 4, "303"), // more than outstanding
            p(5, 5, "304"), // payer differs (and over balance): 304 first
            p(6, 6, "302"), // cancelled
            p(7, 7, "4"),   // no such invoice
            p(8, 8, "1"),   // legal entity with its TIN
            p(9, 9, "302"), // cancelled and wrong payer: 302 first
            p(10, 10, "4"), // unknown invoice and everything else wrong: 4 first
        ]
    );
    assert_eq!(w.paid(0), 100_000);
    assert_eq!(w.paid(1), 0);
    assert_eq!(w.paid(3), 0);
    assert_eq!(w.paid(4), 100_000);
    assert_eq!(w.payments(), 3);

    // The balance carries across batches.
    let got = w.send(
        BatchType::PAY,
        "002",
        &[
            w.pay(&pid(11), 0, "0.01"),
            w.pay(&pid(12), 1, "999.99"),
            w.pay(&pid(13), 1, "0.02"),
            w.pay(&pid(14), 1, "0.01"),
            w.pay(&pid(15), 1, "0.01"),
        ],
    );
    assert_eq!(
        got,
        [
            p(11, 1, "302"),
            p(12, 2, "1"),
            p(13, 3, "303"),
            p(14, 4, "1"),
            p(15, 5, "302"),
        ]
    );
    assert_eq!(w.paid(1), 100_000);
}

#[test]
fn duplicate_payment_ids_across_batches_and_on_earlier_lines_valid_or_not() {
    let mut w = World::new(&[(false, "1000.00", "OPEN"), (false, "1000.00", "OPEN")]);
    let got = w.send(BatchType::PAY, "001", &[w.pay(&pid(1), 0, "100.00")]);
    assert_eq!(got, [format!("1;{};1;", pid(1))]);

    let mut bad_currency = w.pay(&pid(2), 1, "100.00");
    bad_currency[7] = "840".into();
    let mut unknown = w.pay(&pid(3), 1, "100.00");
    unknown[2] = "79999999999999999999".into();
    let mut applied_and_unknown = w.pay(&pid(1), 1, "100.00");
    applied_and_unknown[2] = "79999999999999999999".into();
    let rows = vec![
        w.pay(&pid(1), 1, "100.00"), // applied in batch 001 (even for another invoice)
        bad_currency,                // 202
        w.pay(&pid(2), 1, "100.00"), // earlier line was invalid: still 301
        unknown,                     // 4
        w.pay(&pid(3), 1, "100.00"), // earlier line not applied: still 301
        w.pay(&pid(4), 1, "100.00"), // 1
        w.pay(&pid(4), 1, "100.00"), // repeated after an accepted line
        applied_and_unknown,         // 301 comes before 4
    ];
    let got = w.send(BatchType::PAY, "002", &rows);
    assert_eq!(
        got,
        [
            format!("1;{};301;", pid(1)),
            format!("2;{};202;currency", pid(2)),
            format!("3;{};301;", pid(2)),
            format!("4;{};4;", pid(3)),
            format!("5;{};301;", pid(3)),
            format!("6;{};1;", pid(4)),
            format!("7;{};301;", pid(4)),
            format!("8;{};301;", pid(1)),
        ]
    );
    // Each 301 names where the id was before: the earlier line of this batch (numbered as
    // `result.csv`'s `line`), or the batch and line that applied it.
    let b2 = batch(BatchType::PAY, "002", Charset::Utf8, &rows);
    let result =
        w.rx.response_entry(&response_name(&b2, "ACK"), "result.csv")
            .expect("result.csv");
    let messages: Vec<String> = String::from_utf8_lossy(&result)
        .lines()
        .skip(1)
        .filter(|l| l.contains(";301;"))
        .map(|l| l.rsplit(';').next().unwrap_or_default().to_string())
        .collect();
    let applied_by =
        "payment_id was applied before, by batch MUNIS_SUDBILLING_PAY_20261121_001 line 1";
    assert_eq!(
        messages,
        [
            applied_by,
            "payment_id appears on an earlier line, line 2",
            "payment_id appears on an earlier line, line 4",
            "payment_id appears on an earlier line, line 6",
            // Applied by batch 001 too, but line 1 of this batch is where it was before.
            "payment_id appears on an earlier line, line 1",
        ]
    );
    assert_eq!(w.payments(), 2);
    assert_eq!(w.payment_state(&pid(2)), None);
    assert_eq!(w.payment_state(&pid(3)), None);
    assert_eq!(w.paid(1), 10_000);
}

#[test]
fn fields_are_checked_in_column_order_and_the_first_failure_wins() {
    let mut w = World::new(&[(false, "100000.00", "OPEN"), (true, "100.00", "OPEN")]);
    let base = |w: &World, n: u64| w.pay(&pid(n), 0, "1.00");
    let mut rows = Vec::new();
    let mut r = base(&w, 1);
    r[0] = String::new();
    r[1] = "yesterday".into();
    rows.push(r); // 201 payment_id before 202 paid_at
    let mut r = base(&w, 2);
    r[0] = "12345".into();
    r[2] = String::new();
    rows.push(r); // 202 payment_id before 201 invoice_no
    let mut r = base(&w, 3);
    r[1] = String::new();
    r[2] = "123".into();
    rows.push(r); // 201 paid_at before 202 invoice_no
    let mut r = base(&w, 4);
    r[1] = "2026-11-22 01:05:01".into();
    rows.push(r); // after created_at (2026-11-22T01:05:00+05:00)
    let mut r = base(&w, 5);
    r[2] = "123".into();
    r[5] = String::new();
    rows.push(r); // 202 invoice_no before 201 payer_name
    let mut r = base(&w, 6);
    r[3] = "J".into();
    rows.push(r); // a PINFL for a legal entity: the later field (payer_id) fails
    let mut r = base(&w, 7);
    r[3] = "X".into();
    r[4] = String::new();
    rows.push(r); // 202 payer_type before 201 payer_id
    let mut r = base(&w, 8);
    r[5] = String::new();
    r[6] = "abc".into();
    rows.push(r); // 201 payer_name before 202 amount
    let mut r = base(&w, 9);
    r[6] = "100".into();
    rows.push(r);
    let mut r = base(&w, 10);
    r[6] = "0.00".into();
    rows.push(r);
    let mut r = base(&w, 11);
    r[7] = String::new();
    rows.push(r);
    // An account keyed for 00014, presented with another bank code: the account fails.
    let mut r = base(&w, 12);
    let other = ["00083", "00440", "01069", "00001", "00002"]
        .into_iter()
        .find(|m| !reestr::ident::account_key_ok(m, &r[9]))
        .expect("a bank code the account's key does not fit");
    assert!(reestr::ident::account_key_ok(MFO, &r[9]));
    r[8] = other.into();
    rows.push(r);
    // Field checks come before reconciliation: unknown invoice and a bad currency is 202.
    let mut r = base(&w, 13);
    r[2] = "79999999999999999999".into();
    r[7] = "840".into();
    rows.push(r);
    let mut r = base(&w, 14);
    r[10] = "x".repeat(501);
    rows.push(r);
    let mut r = base(&w, 15);
    r[9] = String::new();
    r[10] = String::new();
    rows.push(r); // optional fields may be empty
    rows.push(base(&w, 16));
    let got = w.send(BatchType::PAY, "001", &rows);
    assert_eq!(
        got,
        [
            "1;;201;payment_id".to_string(),
            "2;12345;202;payment_id".into(),
            format!("3;{};201;paid_at", pid(3)),
            format!("4;{};202;paid_at", pid(4)),
            format!("5;{};202;invoice_no", pid(5)),
            format!("6;{};202;payer_id", pid(6)),
            format!("7;{};202;payer_type", pid(7)),
            format!("8;{};201;payer_name", pid(8)),
            format!("9;{};202;amount", pid(9)),
            format!("10;{};202;amount", pid(10)),
            format!("11;{};201;currency", pid(11)),
            format!("12;{};202;account", pid(12)),
            format!("13;{};202;currency", pid(13)),
            format!("14;{};202;purpose", pid(14)),
            format!("15;{};1;", pid(15)),
            format!("16;{};1;", pid(16)),
        ]
    );
    assert_eq!(w.payments(), 2);
}

/// §5: "An empty field is a missing value". A field of spaces is not empty: it is a value, judged
/// by its field's rule like any other (README, "Decisions").
#[test]
fn a_field_of_spaces_is_a_value_judged_by_its_rule_not_a_missing_one() {
    let mut w = World::new(&[(false, "100000.00", "OPEN")]);
    let base = |w: &World, n: u64| w.pay(&pid(n), 0, "1.00");
    let mut rows = Vec::new();
    let mut r = base(&w, 1);
    r[0] = " ".repeat(14);
    rows.push(r); // a payment_id of spaces is not 12 to 20 digits
    let mut r = base(&w, 2);
    r[5] = "   ".into();
    rows.push(r); // payer_name: 1 to 200 characters, spaces are characters
    let mut r = base(&w, 3);
    r[6] = " ".into();
    rows.push(r);
    let mut r = base(&w, 4);
    r[9] = " ".into();
    rows.push(r); // an optional account of spaces is present, and not 20 digits
    let mut r = base(&w, 5);
    r[10] = "  ".into();
    rows.push(r); // purpose: 0 to 500 characters
    let got = w.send(BatchType::PAY, "001", &rows);
    assert_eq!(
        got,
        [
            format!("1;{};202;payment_id", " ".repeat(14)),
            format!("2;{};1;", pid(2)),
            format!("3;{};202;amount", pid(3)),
            format!("4;{};202;account", pid(4)),
            format!("5;{};1;", pid(5)),
        ]
    );
    assert_eq!(w.payments(), 2);
}

#[test]
fn reversal_fields_follow_section_5_2() {
    // §5.2 gives `payment_id` no format, only a meaning: "the payment being reversed" (REC's
    // says "as in PAY"; REV's does not). Any id of no payment, whatever its shape, is `4`; an
    // empty one is `201`. `amount` is an amount (§5's rule for every amount) that must also
    // equal the payment's. `reason` is 1 to 200 characters.
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let got = w.send(BatchType::PAY, "001", &[w.pay(&pid(1), 0, "500.00")]);
    assert_eq!(got, [format!("1;{};1;", pid(1))]);
    let mut long_reason = rev(&pid(1), "500.00");
    long_reason[3] = "Ж".repeat(201);
    let mut no_reason = rev(&pid(1), "500.00");
    no_reason[3] = String::new();
    let got = w.send(
        BatchType::REV,
        "001",
        &[
            rev("12345", "500.00"),
            rev("ABC-1", "500.00"),
            rev(&pid(2), "500.00"),
            rev("", "500.00"),
            long_reason,
            no_reason,
            rev(&pid(1), "500.0"),
            rev(&pid(1), "0.00"),
        ],
    );
    assert_eq!(
        got,
        [
            "1;12345;4;".to_string(),
            "2;ABC-1;4;".to_string(),
            format!("3;{};4;", pid(2)),
            "4;;201;payment_id".to_string(),
            format!("5;{};202;reason", pid(1)),
            format!("6;{};201;reason", pid(1)),
            format!("7;{};202;amount", pid(1)),
            format!("8;{};305;", pid(1)),
        ]
    );
    assert_eq!(w.paid(0), 50_000, "nothing reversed");
}

/// §5.2 bounds `reversed_at` by `created_at` only: a reversal dated before the payment it
/// reverses is still applied (README, "Decisions").
#[test]
fn a_reversal_dated_before_its_payment_is_applied() {
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let got = w.send(BatchType::PAY, "001", &[w.pay(&pid(1), 0, "400.00")]);
    assert_eq!(got, [format!("1;{};1;", pid(1))]);
    let mut r = rev(&pid(1), "400.00");
    r[1] = "2026-11-21 09:59:59".into(); // paid at 10:00:00
    let got = w.send(BatchType::REV, "001", &[r]);
    assert_eq!(got, [format!("1;{};1;", pid(1))]);
    assert_eq!(w.payment_state(&pid(1)).as_deref(), Some("REVERSED"));
    assert_eq!(w.paid(0), 0);
}

#[test]
fn reversals_reopen_the_amount_and_are_not_applied_twice() {
    let mut w = World::new(&[(false, "1000.00", "OPEN"), (false, "1000.00", "OPEN")]);
    let got = w.send(
        BatchType::PAY,
        "001",
        &[
            w.pay(&pid(1), 0, "1000.00"),
            w.pay(&pid(2), 1, "400.00"),
            w.pay(&pid(3), 1, "300.00"),
        ],
    );
    assert!(got.iter().all(|r| r.ends_with(";1;")), "{got:?}");
    // Fully paid before the reversal.
    let got = w.send(BatchType::PAY, "002", &[w.pay(&pid(4), 0, "1000.00")]);
    assert_eq!(got, [format!("1;{};302;", pid(4))]);

    let got = w.send(
        BatchType::REV,
        "001",
        &[
            rev(&pid(1), "1000.00"),
            rev(&pid(2), "399.99"),
            rev(&pid(99), "1.00"),
            rev(&pid(2), "400.00"),
            rev(&pid(2), "400.00"),
            rev(&pid(3), "300.00"),
        ],
    );
    assert_eq!(
        got,
        [
            format!("1;{};1;", pid(1)),
            format!("2;{};305;", pid(2)), // amount differs
            format!("3;{};4;", pid(99)),  // no such payment
            format!("4;{};1;", pid(2)),   // the right amount after a wrong one
            format!("5;{};307;", pid(2)), // twice within one batch
            format!("6;{};1;", pid(3)),
        ]
    );
    assert_eq!(w.payment_state(&pid(1)).as_deref(), Some("REVERSED"));
    assert_eq!(w.paid(0), 0);
    assert_eq!(w.paid(1), 0);

    let got = w.send(
        BatchType::REV,
        "002",
        &[
            rev(&pid(1), "1000.00"),
            rev(&pid(1), "1.00"),
            rev(&pid(3), "2.00"),
        ],
    );
    assert_eq!(
        got,
        [
            format!("1;{};307;", pid(1)), // twice across batches
            format!("2;{};307;", pid(1)), // 307 comes before 305
            format!("3;{};307;", pid(3)),
        ]
    );

    // The reversed amount is payable again.
    let got = w.send(
        BatchType::PAY,
        "003",
        &[w.pay(&pid(5), 0, "1000.00"), w.pay(&pid(6), 1, "1000.00")],
    );
    assert_eq!(
        got,
        [format!("1;{};1;", pid(5)), format!("2;{};1;", pid(6))]
    );
    assert_eq!(w.paid(0), 100_000);
    assert_eq!(w.paid(1), 100_000);
}

#[test]
fn daily_statement_matches_differences_duplicates_unknown_and_306_in_byte_order() {
    let mut w = World::new(&[
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
    ]);
    // 13 digits sorts after 14 digits in byte order ("9" > "1"), before it numerically.
    let short = "9000000000000";
    let long = "10000000000000";
    let at = |w: &World, id: &str, i: usize, amount: &str, paid_at: &str| {
        let mut r = w.pay(id, i, amount);
        r[1] = paid_at.into();
        r
    };
    let rows = vec![
        at(&w, short, 0, "100.00", "2026-11-21 09:00:00"),
        at(&w, long, 0, "100.00", "2026-11-21 09:10:00"),
        at(&w, &pid(3), 1, "100.00", "2026-11-21 10:00:00"),
        at(&w, &pid(4), 1, "200.00", "2026-11-21 10:05:00"),
        at(&w, &pid(5), 2, "300.00", "2026-11-21 10:10:00"),
        at(&w, &pid(6), 2, "100.00", "2026-11-21 10:15:00"),
        at(&w, &pid(7), 3, "100.00", "2026-11-21 10:20:00"),
        at(&w, &pid(8), 3, "100.00", "2026-11-21 10:25:00"),
        at(&w, &pid(9), 5, "100.00", "2026-11-21 10:30:00"),
        // Other days: never 306 for this statement.
        at(&w, &pid(10), 4, "100.00", "2026-11-20 23:59:59"),
        at(&w, &pid(11), 4, "100.00", "2026-11-22 00:00:00"),
    ];
    let got = w.send(BatchType::PAY, "001", &rows);
    assert!(got.iter().all(|r| r.ends_with(";1;")), "{got:?}");
    let got = w.send(
        BatchType::REV,
        "001",
        &[rev(&pid(5), "300.00"), rev(&pid(9), "100.00")],
    );
    assert!(got.iter().all(|r| r.ends_with(";1;")), "{got:?}");

    let payments_before = w.dump("SELECT * FROM payments ORDER BY payment_id");
    let invoices_before = w.dump("SELECT * FROM invoices_paid ORDER BY invoice_no");
    let (i0, i1, i2, i3, i5) = (
        invoice_no(0),
        invoice_no(1),
        invoice_no(2),
        invoice_no(3),
        invoice_no(5),
    );
    let statement = vec![
        rec(&pid(3), "2026-11-21 10:00:00", &i1, "100.00", "PAID"), // 1
        rec(&pid(4), "2026-11-21 10:05:00", &i1, "250.00", "PAID"), // amount
        rec(&pid(5), "2026-11-21 10:10:00", &i2, "300.00", "PAID"), // state
        rec(&pid(6), "2026-11-21 10:15:00", &i3, "100.00", "PAID"), // invoice
        rec(&pid(7), "2026-11-21 10:21:00", &i3, "100.00", "PAID"), // paid_at
        rec(&pid(3), "2026-11-21 10:00:00", &i1, "100.00", "PAID"), // repeated
        rec(&pid(99), "2026-11-21 11:00:00", &i0, "100.00", "PAID"), // unknown
        rec(&pid(8), "2026-11-21 10:25:00", &i3, "100.00", "PENDING"), // 202, still listed
        rec(&pid(9), "2026-11-21 10:30:00", &i5, "100.00", "REVERSED"), // 1
    ];
    let b = batch(BatchType::REC, "001", Charset::Utf8, &statement);
    let got = w.send_batch(&b);
    assert_eq!(
        got,
        [
            format!("1;{};1;", pid(3)),
            format!("2;{};305;", pid(4)),
            format!("3;{};305;", pid(5)),
            format!("4;{};305;", pid(6)),
            format!("5;{};305;", pid(7)),
            format!("6;{};301;", pid(3)),
            format!("7;{};4;", pid(99)),
            format!("8;{};202;state", pid(8)),
            format!("9;{};1;", pid(9)),
            format!(";{long};306;"),
            format!(";{short};306;"),
        ]
    );
    let control = w.control(&b);
    assert_eq!(control_value(&control, "rows").as_deref(), Some("11"));
    assert_eq!(control_value(&control, "accepted").as_deref(), Some("2"));
    assert_eq!(
        control_value(&control, "amount_accepted").as_deref(),
        Some("200.00")
    );
    // The statement changes nothing in the store.
    assert_eq!(
        w.dump("SELECT * FROM payments ORDER BY payment_id"),
        payments_before
    );
    assert_eq!(
        w.dump("SELECT * FROM invoices_paid ORDER BY invoice_no"),
        invoices_before
    );
}

/// Payments of 2026-11-21 spread over two PAY batches among other days, and a statement for
/// that day listing one of them: the `306` rows the statement must give.
fn days_spread_over_batches(w: &mut World) -> (Batch, Vec<String>) {
    let at = |w: &World, n: u64, paid_at: &str| {
        let mut r = w.pay(&pid(n), 0, "1.00");
        r[1] = paid_at.into();
        r
    };
    let first = vec![
        at(w, 21, "2026-11-21 08:00:00"),
        at(w, 20, "2026-11-20 23:00:00"),
        at(w, 22, "2026-11-21 09:00:00"),
        at(w, 23, "2026-11-22 00:00:01"),
        at(w, 24, "2026-11-21 23:59:59"),
    ];
    let got = w.send(BatchType::PAY, "001", &first);
    assert!(got.iter().all(|r| r.ends_with(";1;")), "{got:?}");
    let second = vec![
        at(w, 31, "2026-11-20 12:00:00"),
        at(w, 32, "2026-11-21 00:00:00"),
        at(w, 33, "2026-11-22 00:00:00"),
    ];
    let got = w.send(BatchType::PAY, "002", &second);
    assert!(got.iter().all(|r| r.ends_with(";1;")), "{got:?}");
    let i0 = invoice_no(0);
    let statement = vec![rec(&pid(22), "2026-11-21 09:00:00", &i0, "1.00", "PAID")];
    let want = vec![
        format!("1;{};1;", pid(22)),
        format!(";{};306;", pid(21)),
        format!(";{};306;", pid(24)),
        format!(";{};306;", pid(32)),
    ];
    (
        batch(BatchType::REC, "001", Charset::Utf8, &statement),
        want,
    )
}

#[test]
fn a_statement_finds_the_days_payments_in_every_batch_among_other_days_and_replays_alike() {
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let (statement, want) = days_spread_over_batches(&mut w);
    assert_eq!(w.send_batch(&statement), want);
    // The auditor's replay rebuilds the store before the statement from a copy of payments.
    let copy = w.rx.dir.path().join("statement.zip");
    std::fs::write(&copy, statement.zip(Some(&key()))).expect("copy");
    let out = w.rx.dir.path().join("replayed");
    let r = w.rx.engine.replay(&copy, &out).expect("replay");
    assert_eq!(r.identical, Some(true), "{r:?}");
}

#[test]
fn a_store_of_the_second_layout_is_upgraded_and_its_statements_find_every_payment() {
    // Layout 2 found a day's payments through an index on every payment; layout 3 through
    // ranges of rows in `payment_days`, which the upgrade builds from the payments.
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let (statement, want) = days_spread_over_batches(&mut w);
    let payments = w.dump("SELECT * FROM payments ORDER BY payment_id");
    w.rx.engine
        .store
        .conn
        .execute_batch(
            "DROP TABLE payment_days;
             CREATE INDEX payments_day ON payments(substr(paid_at, 1, 10), payment_id);
             UPDATE meta SET value='2' WHERE key='schema_version';",
        )
        .expect("make it layout 2");
    let cfg = reestr::config::Config::load(&w.rx.config_path()).expect("config");
    w.rx.engine = reestr::engine::Engine::init(cfg).expect("an older layout opens");
    assert_eq!(
        w.dump("SELECT value FROM meta WHERE key='schema_version'"),
        [format!("Text(\"{}\")", reestr::store::SCHEMA_VERSION)]
    );
    assert!(
        w.dump("SELECT name FROM sqlite_master WHERE name='payments_day'")
            .is_empty()
    );
    assert_eq!(
        w.dump("SELECT * FROM payments ORDER BY payment_id"),
        payments
    );
    assert_eq!(w.send_batch(&statement), want);
}

#[test]
fn rows_apply_in_order_blank_and_misshapen_lines_are_rows_and_amount_accepted_adds_up() {
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let mut extra = w.pay(&pid(9), 0, "400.00");
    extra.push("extra".into());
    let mut short = w.pay(&pid(8), 0, "400.00");
    short.pop();
    let rows = vec![
        w.pay(&pid(1), 0, "600.00"),
        w.pay(&pid(2), 0, "600.00"), // sees line 1: over the outstanding 400.00
        vec![String::new()],         // a blank line is a row of one empty field
        extra,
        short,
        w.pay(&pid(3), 0, "400.00"),
        w.pay(&pid(4), 0, "0.01"), // sees line 6: fully paid
    ];
    let b = batch(BatchType::PAY, "001", Charset::Utf8, &rows);
    let text = String::from_utf8(b.registry.clone()).expect("utf-8");
    assert!(text.contains("\r\n\r\n"), "the registry holds a blank line");
    let got = w.send_batch(&b);
    assert_eq!(
        got,
        [
            format!("1;{};1;", pid(1)),
            format!("2;{};303;", pid(2)),
            "3;;202;".to_string(),
            format!("4;{};202;", pid(9)),
            format!("5;{};202;", pid(8)),
            format!("6;{};1;", pid(3)),
            format!("7;{};302;", pid(4)),
        ]
    );
    let control = w.control(&b);
    assert_eq!(control_value(&control, "rows").as_deref(), Some("7"));
    assert_eq!(control_value(&control, "accepted").as_deref(), Some("2"));
    assert_eq!(
        control_value(&control, "amount_accepted").as_deref(),
        Some("1000.00")
    );
    assert_eq!(w.paid(0), 100_000);
}

#[test]
fn windows_1251_and_cp866_registries_are_answered_in_their_encoding() {
    for (seq, cs, enc) in [
        ("001", Charset::Windows1251, encoding_rs::WINDOWS_1251),
        ("002", Charset::Cp866, encoding_rs::IBM866),
    ] {
        let mut w = World::new(&[(false, "1000.00", "OPEN")]);
        let mut ok = w.pay(&pid(1), 0, "100.00");
        ok[5] = "Тошматов Алишер".into();
        ok[10] = "Давлат божи".into();
        // A Cyrillic payment id is echoed in result.csv: it shows the encoding written.
        let mut bad = w.pay("Тест", 0, "100.00");
        bad[5] = "ООО \"Навоий Савдо\"".into();
        let b = batch(BatchType::PAY, seq, cs, &[ok, bad]);
        let (encoded_name, _, unmappable) = enc.encode("Тошматов Алишер");
        assert!(!unmappable);
        assert!(
            b.registry
                .windows(encoded_name.len())
                .any(|x| x == &encoded_name[..]),
            "the registry is really in {}",
            cs.as_str()
        );
        let got = w.send_batch(&b);
        assert_eq!(got.len(), 2, "{}: {got:?}", cs.as_str());
        assert_eq!(got[0], format!("1;{};1;", pid(1)), "{}", cs.as_str());
        let control = w.control(&b);
        assert_eq!(
            control_value(&control, "encoding").as_deref(),
            Some(cs.as_str())
        );
        let result =
            w.rx.response_entry(&response_name(&b, "ACK"), "result.csv")
                .expect("result.csv");
        let text = enc
            .decode_without_bom_handling_and_without_replacement(&result)
            .unwrap_or_else(|| panic!("result.csv is valid {}", cs.as_str()));
        assert!(
            text.contains("\r\n2;Тест;202;payment_id;"),
            "{}: {text}",
            cs.as_str()
        );
        assert!(
            std::str::from_utf8(&result).is_err(),
            "{}: result.csv is not UTF-8",
            cs.as_str()
        );
        let name: String =
            w.rx.engine
                .store
                .conn
                .query_row(
                    "SELECT payer_name FROM payments WHERE payment_id=?1",
                    [pid(1)],
                    |r| r.get(0),
                )
                .expect("payment stored");
        assert_eq!(name, "Тошматов Алишер");
    }
}

#[test]
fn a_utf8_registry_with_a_bom_is_accepted() {
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let mut row = w.pay(&pid(1), 0, "100.00");
    row[5] = "Yo'ldoshev Bekzod".into();
    row[10] = "Давлат божи".into();
    let mut b = batch(BatchType::PAY, "001", Charset::Utf8, &[row]);
    b.registry.splice(0..0, [0xEF, 0xBB, 0xBF]);
    let got = w.send_batch(&b);
    assert_eq!(got, [format!("1;{};1;", pid(1))]);
    let result =
        w.rx.response_entry(&response_name(&b, "ACK"), "result.csv")
            .expect("result.csv");
    assert!(result.starts_with(b"line;payment_id;status;field;message\r\n"));
    let control = w.control(&b);
    assert_eq!(
        control_value(&control, "encoding").as_deref(),
        Some("utf-8")
    );
}

#[test]
fn batches_waiting_together_go_by_date_then_type_then_sequence() {
    let mut w = World::new(&[
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
    ]);
    let at = |w: &World, id: &str, i: usize, amount: &str, paid_at: &str| {
        let mut r = w.pay(id, i, amount);
        r[1] = paid_at.into();
        r
    };
    // The day before: pays invoice 2 in full.
    let q1 = at(&w, &pid(1), 2, "1000.00", "2026-11-20 12:00:00");
    let mut earlier = batch(BatchType::PAY, "001", Charset::Utf8, &[q1]);
    earlier.date = "20261120".into();
    earlier.created_at = "2026-11-21T01:05:00+05:00".into();
    // PAY 001: a payment of invoice 0, and one of invoice 2 (302 only after the day before).
    let r1 = at(&w, &pid(11), 0, "500.00", "2026-11-21 10:00:00");
    let r2 = at(&w, &pid(12), 2, "1000.00", "2026-11-21 10:01:00");
    let pay1 = batch(BatchType::PAY, "001", Charset::Utf8, &[r1.clone(), r2]);
    // PAY 002: repeats PAY 001's first payment (301 only after PAY 001) and pays invoice 1.
    let r3 = at(&w, &pid(13), 1, "700.00", "2026-11-21 11:00:00");
    let pay2 = batch(BatchType::PAY, "002", Charset::Utf8, &[r1, r3]);
    // REV 001 reverses PAY 002's payment (4 if it came first).
    let rev1 = batch(
        BatchType::REV,
        "001",
        Charset::Utf8,
        &[rev(&pid(13), "700.00")],
    );
    // REC 001: the day's payments in their final states (305 if it came before the REV).
    let rec1 = batch(
        BatchType::REC,
        "001",
        Charset::Utf8,
        &[
            rec(
                &pid(11),
                "2026-11-21 10:00:00",
                &invoice_no(0),
                "500.00",
                "PAID",
            ),
            rec(
                &pid(13),
                "2026-11-21 11:00:00",
                &invoice_no(1),
                "700.00",
                "REVERSED",
            ),
        ],
    );
    for b in [&rec1, &rev1, &pay2, &pay1, &earlier] {
        w.rx.drop_in(&b.file_name(), &b.zip(Some(&key())));
    }
    let handled = w.rx.run();
    let order: Vec<String> = handled
        .iter()
        .map(|h| h.batch_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [
            "MUNIS_SUDBILLING_PAY_20261120_001",
            "MUNIS_SUDBILLING_PAY_20261121_001",
            "MUNIS_SUDBILLING_PAY_20261121_002",
            "MUNIS_SUDBILLING_REV_20261121_001",
            "MUNIS_SUDBILLING_REC_20261121_001",
        ]
    );
    assert!(handled.iter().all(|h| h.result == "ACK"), "{handled:?}");
    let result = |b: &Batch| {
        flat(&statuses(
            &w.rx
                .response_entry(&response_name(b, "ACK"), "result.csv")
                .expect("result.csv"),
        ))
    };
    assert_eq!(result(&earlier), [format!("1;{};1;", pid(1))]);
    assert_eq!(
        result(&pay1),
        [format!("1;{};1;", pid(11)), format!("2;{};302;", pid(12))]
    );
    assert_eq!(
        result(&pay2),
        [format!("1;{};301;", pid(11)), format!("2;{};1;", pid(13))]
    );
    assert_eq!(result(&rev1), [format!("1;{};1;", pid(13))]);
    assert_eq!(
        result(&rec1),
        [format!("1;{};1;", pid(11)), format!("2;{};1;", pid(13))]
    );
    assert!(w.rx.inbox().is_empty());
}

#[test]
fn duplicates_come_first_in_every_type_and_a_statement_lists_by_any_line() {
    // §7.2, cases the other tests leave out: 301 before 4 and before 305 in a statement, an
    // earlier line that is invalid or misshapen still makes a repeat 301 (PAY and REC), a
    // reversed payment's id is never free again, a line with the wrong number of fields still
    // lists its payment for 306, a reversed payment missing from the statement is 306, and
    // REV and REC fields are checked in column order.
    let mut w = World::new(&[(false, "1000.00", "OPEN"), (false, "1000.00", "OPEN")]);
    let paid_at = "2026-11-21 10:00:00";
    let got = w.send(
        BatchType::PAY,
        "001",
        &[
            w.pay(&pid(1), 0, "100.00"),
            w.pay(&pid(2), 0, "100.00"),
            w.pay(&pid(3), 1, "100.00"),
            w.pay(&pid(5), 1, "100.00"),
        ],
    );
    assert!(got.iter().all(|r| r.ends_with(";1;")), "{got:?}");

    // PAY: a line of ten fields, then the same payment well-formed: 301, not applied.
    let mut short = w.pay(&pid(4), 0, "100.00");
    short.pop();
    let got = w.send(BatchType::PAY, "002", &[short, w.pay(&pid(4), 0, "100.00")]);
    assert_eq!(
        got,
        [format!("1;{};202;", pid(4)), format!("2;{};301;", pid(4))]
    );
    assert_eq!(w.payment_state(&pid(4)), None);

    // REV: column order with two defects, then a real reversal.
    let got = w.send(
        BatchType::REV,
        "001",
        &[
            vec![
                String::new(),
                "2026-11-21 22:00:00".into(),
                "abc".into(),
                "Xato".into(),
            ],
            vec![
                "123".into(),
                "yesterday".into(),
                "1.00".into(),
                String::new(),
            ],
            rev(&pid(3), "100.00"),
        ],
    );
    assert_eq!(
        got,
        [
            "1;;201;payment_id".to_string(),
            "2;123;202;reversed_at".into(),
            format!("3;{};1;", pid(3)),
        ]
    );
    assert_eq!(w.payment_state(&pid(3)).as_deref(), Some("REVERSED"));

    // A reversed payment's id is not free again ("unique forever").
    let got = w.send(BatchType::PAY, "003", &[w.pay(&pid(3), 1, "100.00")]);
    assert_eq!(got, [format!("1;{};301;", pid(3))]);
    assert_eq!(w.paid(1), 10_000, "only pid 5 counts for invoice 1");

    let (i0, i1) = (invoice_no(0), invoice_no(1));
    let mut misshapen = rec(&pid(5), paid_at, &i1, "100.00", "PAID");
    misshapen.pop();
    let statement = vec![
        rec(&pid(1), paid_at, &i0, "100.00", "PAID"),    // 1
        rec(&pid(1), paid_at, &i0, "1.00", "PAID"),      // 301, not 305
        rec(&pid(99), paid_at, &i0, "100.00", "PAID"),   // 4
        rec(&pid(99), paid_at, &i0, "100.00", "PAID"),   // 301, not 4
        rec(&pid(2), paid_at, &i0, "100.00", "PENDING"), // 202 state
        rec(&pid(2), paid_at, &i0, "100.00", "PAID"),    // 301 after an invalid line
        rec(&pid(98), paid_at, "123", "1", "PAID"),      // invoice_no before amount
        rec(&pid(97), paid_at, &i0, "1", "X"),           // amount before state
        misshapen,                                       // 202, and pid 5 is listed
    ];
    let b = batch(BatchType::REC, "001", Charset::Utf8, &statement);
    let got = w.send_batch(&b);
    assert_eq!(
        got,
        [
            format!("1;{};1;", pid(1)),
            format!("2;{};301;", pid(1)),
            format!("3;{};4;", pid(99)),
            format!("4;{};301;", pid(99)),
            format!("5;{};202;state", pid(2)),
            format!("6;{};301;", pid(2)),
            format!("7;{};202;invoice_no", pid(98)),
            format!("8;{};202;amount", pid(97)),
            format!("9;{};202;", pid(5)),
            // The reversed payment of the day is on no line.
            format!(";{};306;", pid(3)),
        ]
    );
    let control = w.control(&b);
    assert_eq!(control_value(&control, "rows").as_deref(), Some("10"));
    assert_eq!(control_value(&control, "accepted").as_deref(), Some("1"));

    // A statement saying REVERSED of a payment the receiver has as PAID is 305, as the other
    // way round is; REVERSED of a reversed payment matches.
    let got = w.send(
        BatchType::REC,
        "002",
        &[
            rec(&pid(5), paid_at, &i1, "100.00", "REVERSED"),
            rec(&pid(3), paid_at, &i1, "100.00", "REVERSED"),
        ],
    );
    assert_eq!(
        got,
        [
            format!("1;{};305;", pid(5)),
            format!("2;{};1;", pid(3)),
            format!(";{};306;", pid(1)),
            format!(";{};306;", pid(2)),
        ]
    );
}

/// A PINFL of these 13 digits and the check digit §5.4 gives them (weights 7, 3, 1, … mod 10),
/// computed here from the agreement's words rather than by the receiver's code.
fn with_check_digit(body: &str) -> String {
    assert_eq!(body.len(), 13, "{body}");
    let s: u32 = body
        .bytes()
        .zip([7, 3, 1].iter().cycle())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", s % 10)
}

#[test]
fn every_field_rule_of_sections_5_1_to_5_4_holds_at_its_boundaries() {
    // Each row has one defect, or none. A row on an unknown invoice or payment that gets `4`
    // passed every field check (fields are checked before the store is looked at).
    let mut w = World::new(&[(false, "1000.00", "OPEN")]);
    let unknown = "79999999999999999999";
    let mut n = 0u64;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut want: Vec<String> = Vec::new();
    let mut pay = |w: &World, edit: &dyn Fn(&mut Vec<String>), outcome: &str| {
        n += 1;
        let mut r = w.pay(&pid(n), 0, "1.00");
        r[2] = unknown.into();
        edit(&mut r);
        want.push(format!("{};{};{outcome}", rows.len() + 1, r[0]));
        rows.push(r);
    };
    let set = |i: usize, v: &str| {
        let v = v.to_string();
        move |r: &mut Vec<String>| r[i] = v.clone()
    };
    // Required fields, each alone.
    pay(&w, &set(2, ""), "201;invoice_no");
    pay(&w, &set(3, ""), "201;payer_type");
    pay(&w, &set(4, ""), "201;payer_id");
    pay(
        &w,
        &|r| {
            r[8] = String::new();
            r[9] = String::new();
        },
        "201;bank_mfo",
    );
    // payment_id: 12 to 20 digits.
    pay(&w, &set(0, "12345678901"), "202;payment_id");
    pay(&w, &set(0, "123456789012"), "4;");
    pay(&w, &set(0, "12345678901234567890"), "4;");
    pay(&w, &set(0, "123456789012345678901"), "202;payment_id");
    // invoice_no: 20 digits.
    pay(&w, &set(2, "799999999999999999991"), "202;invoice_no");
    pay(&w, &set(2, "7999999999999999999"), "202;invoice_no");
    // bank_mfo: 5 digits; account: 20 digits (optional).
    pay(
        &w,
        &|r| {
            r[8] = "000140".into();
            r[9] = String::new();
        },
        "202;bank_mfo",
    );
    for bad in [
        "2021400035292508257",
        "202140003529250825712",
        "2021400035292508257A",
    ] {
        pay(&w, &set(9, bad), "202;account");
    }
    pay(
        &w,
        &|r| {
            r[8] = "00014".into();
            r[9] = "23402000300100001010".into(); // §5.4's own valid example
        },
        "4;",
    );
    // PINFL: first digit 1–6 with the century it names, a real DDMMYY, the check digit.
    for (body, outcome) in [
        ("1010185123456", "4;"),           // 01.01.1885
        ("2010185123456", "4;"),           // 01.01.1885
        ("3290200123456", "202;payer_id"), // 29.02.1900: not a leap year
        ("4290200123456", "202;payer_id"),
        ("5290200123456", "4;"), // 29.02.2000
        ("6290200123456", "4;"),
        ("2290200123456", "202;payer_id"), // 29.02.1800
        ("2290296123456", "4;"),           // 29.02.1896
        ("3000190123456", "202;payer_id"), // day 00
        ("3010090123456", "202;payer_id"), // month 00
        ("3320190123456", "202;payer_id"), // day 32
        ("7010190123456", "202;payer_id"), // first digit 7
        ("0010190123456", "202;payer_id"), // first digit 0
    ] {
        pay(&w, &set(4, &with_check_digit(body)), outcome);
    }
    pay(&w, &set(4, "31210932040247"), "4;"); // §5.4's own valid example
    let mut wrong_check = with_check_digit("3121093204024").into_bytes();
    wrong_check[13] = b'0' + (wrong_check[13] - b'0' + 1) % 10;
    pay(
        &w,
        &set(4, &String::from_utf8(wrong_check).expect("digits")),
        "202;payer_id",
    );
    // TIN: 9 digits, the first 2 or 3.
    for (tin, outcome) in [
        ("012345678", "202;payer_id"),
        ("112345678", "202;payer_id"),
        ("212345678", "4;"),
        ("312345678", "4;"),
        ("412345678", "202;payer_id"),
        ("2123456789", "202;payer_id"),
    ] {
        pay(
            &w,
            &|r| {
                r[3] = "J".into();
                r[4] = tin.into();
            },
            outcome,
        );
    }
    // Lengths in characters, not bytes.
    pay(&w, &set(5, &"Ж".repeat(200)), "4;");
    pay(&w, &set(5, &"Ж".repeat(201)), "202;payer_name");
    pay(&w, &set(10, &"Ж".repeat(500)), "4;");
    let got = w.send(BatchType::PAY, "001", &rows);
    assert_eq!(got, want);
    assert_eq!(w.payments(), 0);

    // REV (§5.2), created_at 2026-11-22T01:05:00+05:00.
    let r = |id: &str, at: &str, amount: &str, reason: &str| {
        vec![id.to_string(), at.into(), amount.into(), reason.into()]
    };
    let at = "2026-11-21 22:00:00";
    let got = w.send(
        BatchType::REV,
        "001",
        &[
            r(&pid(1), "", "10.00", "x"),
            r(&pid(2), "2026-11-21T22:00:00", "10.00", "x"),
            r(&pid(3), "2026-02-30 10:00:00", "10.00", "x"),
            r(&pid(4), at, "", "x"),
            r(&pid(5), "2026-11-22 01:05:00", "10.00", "x"),
            r(&pid(6), "2026-11-22 01:05:01", "10.00", "x"),
            r(&pid(7), at, "10.00", &"Ж".repeat(200)),
            r("12345678901234567890", at, "10.00", "x"),
            r("123456789012345678901", at, "10.00", "x"),
            // Year 0000 is not a calendar year (README, decisions).
            r(&pid(8), "0000-01-01 00:00:00", "10.00", "x"),
        ],
    );
    assert_eq!(
        got,
        [
            format!("1;{};201;reversed_at", pid(1)),
            format!("2;{};202;reversed_at", pid(2)),
            format!("3;{};202;reversed_at", pid(3)),
            format!("4;{};201;amount", pid(4)),
            format!("5;{};4;", pid(5)),
            format!("6;{};202;reversed_at", pid(6)),
            format!("7;{};4;", pid(7)),
            "8;12345678901234567890;4;".to_string(),
            "9;123456789012345678901;4;".to_string(),
            format!("10;{};202;reversed_at", pid(8)),
        ]
    );

    // REC (§5.3), business date 2026-11-21.
    let i0 = invoice_no(0);
    let got = w.send(
        BatchType::REC,
        "001",
        &[
            rec(&pid(1), "", &i0, "1.00", "PAID"),
            rec(&pid(2), "2026-11-21T10:00:00", &i0, "1.00", "PAID"),
            rec(&pid(3), "2026-11-20 23:59:59", &i0, "1.00", "PAID"),
            rec(&pid(4), "2026-11-21 00:00:00", &i0, "1.00", "PAID"),
            rec(&pid(5), "2026-11-21 23:59:59", &i0, "1.00", "REVERSED"),
            rec(&pid(6), "2026-11-22 00:00:00", &i0, "1.00", "PAID"),
            rec(
                &pid(7),
                "2026-11-21 10:00:00",
                "799999999999999999991",
                "1.00",
                "PAID",
            ),
            rec(
                "123456789012345678901",
                "2026-11-21 10:00:00",
                &i0,
                "1.00",
                "PAID",
            ),
            rec(
                "12345678901234567890",
                "2026-11-21 10:00:00",
                &i0,
                "1.00",
                "PAID",
            ),
        ],
    );
    assert_eq!(
        got,
        [
            format!("1;{};201;paid_at", pid(1)),
            format!("2;{};202;paid_at", pid(2)),
            format!("3;{};202;paid_at", pid(3)),
            format!("4;{};4;", pid(4)),
            format!("5;{};4;", pid(5)),
            format!("6;{};202;paid_at", pid(6)),
            format!("7;{};202;invoice_no", pid(7)),
            "8;123456789012345678901;202;payment_id".to_string(),
            "9;12345678901234567890;4;".to_string(),
        ]
    );
}

/// The `result.csv` rows of an ACK answered to `b` whole, `line;payment_id;status;field;message`.
fn result_lines(w: &World, b: &Batch) -> Vec<String> {
    let result =
        w.rx.response_entry(&response_name(b, "ACK"), "result.csv")
            .expect("result.csv");
    String::from_utf8_lossy(&result)
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// §7.2 `304` and the README's "Row `field`" decision (other statuses name what differs in
/// `message`): the message says which of `payer_type` and `payer_id` differs from the invoice's
/// payer, for individuals and legal entities alike, whether the invoices are read one by one or
/// all at once into the packed table of a large batch.
#[test]
fn a_304_message_names_the_payer_field_that_differs() {
    let mut w = World::new(&[(false, "1000.00", "OPEN"), (true, "1000.00", "OPEN")]);
    let other_pinfl = sample::pinfl(&mut Rng::new(99));
    let other_tin = "212345678";
    assert_ne!(w.inv[0].payer_id, other_pinfl);
    assert_ne!(w.inv[1].payer_id, other_tin);
    for (seq, read_all, base) in [("001", u64::MAX, 100), ("002", 0, 200)] {
        w.rx.engine.read_all_min_rows = read_all;
        let with_payer = |n: u64, i: usize, t: &str, id: &str| {
            let mut r = w.pay(&pid(base + n), i, "1.00");
            r[3] = t.into();
            r[4] = id.into();
            r
        };
        let rows = vec![
            with_payer(1, 0, "P", &other_pinfl),
            with_payer(2, 0, "J", other_tin),
            with_payer(3, 1, "J", other_tin),
            with_payer(4, 1, "P", &other_pinfl),
        ];
        let b = batch(BatchType::PAY, seq, Charset::Utf8, &rows);
        w.send_batch(&b);
        let id = "payer_id differs from the invoice's payer";
        let ty = "payer_type differs from the invoice's payer";
        assert_eq!(
            result_lines(&w, &b),
            [
                format!("1;{};304;;{id}", pid(base + 1)),
                format!("2;{};304;;{ty}", pid(base + 2)),
                format!("3;{};304;;{id}", pid(base + 3)),
                format!("4;{};304;;{ty}", pid(base + 4)),
            ],
            "read_all_min_rows {read_all}"
        );
    }
    assert_eq!(w.payments(), 0);
}

/// §7.2 ("partial payments are allowed", "each seeing the effect of the rows before it"),
/// across batches: when a large batch reads every invoice once, each invoice carries the paid
/// amount the store holds for it (interleaved with invoices never paid), so the outstanding
/// balance, `302` and `303` are as when invoices are read one by one.
#[test]
fn invoices_read_all_at_once_carry_their_stored_paid_amounts() {
    let mut w = World::new(&[
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
        (false, "1000.00", "OPEN"),
    ]);
    let got = w.send(
        BatchType::PAY,
        "001",
        &[w.pay(&pid(1), 0, "600.00"), w.pay(&pid(2), 2, "300.00")],
    );
    assert_eq!(
        got,
        [format!("1;{};1;", pid(1)), format!("2;{};1;", pid(2))]
    );
    w.rx.engine.read_all_min_rows = 0;
    let rows = vec![
        w.pay(&pid(3), 1, "1000.00"),
        w.pay(&pid(4), 0, "400.01"),
        w.pay(&pid(5), 0, "400.00"),
        w.pay(&pid(6), 2, "700.00"),
        w.pay(&pid(7), 2, "0.01"),
        w.pay(&pid(8), 3, "1000.00"),
    ];
    let b = batch(BatchType::PAY, "002", Charset::Utf8, &rows);
    w.send_batch(&b);
    assert_eq!(
        result_lines(&w, &b),
        [
            format!("1;{};1;;", pid(3)),
            format!("2;{};303;;amount exceeds the outstanding 400.00", pid(4)),
            format!("3;{};1;;", pid(5)),
            format!("4;{};1;;", pid(6)),
            format!("5;{};302;;invoice is already fully paid", pid(7)),
            format!("6;{};1;;", pid(8)),
        ]
    );
    for i in 0..4 {
        assert_eq!(w.paid(i), 100_000, "invoice {i}");
    }
}
