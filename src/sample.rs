//! The project's own sender side: builds inbound archives and billing exports from the
//! agreement, for the bundled samples, the tests and the benchmark. Deterministic: the same
//! seed gives the same bytes.

// Generators of the samples', tests' and benchmark's data, from their own parameters (no
// input reaches them): their arithmetic is unchecked.
#![allow(clippy::arithmetic_side_effects)]

use crate::charset::Charset;
use crate::integrity::Key;
use crate::name::BatchType;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

/// A small deterministic pseudo-random generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// `n` random digits.
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    /// One of the items.
    ///
    /// # Panics
    ///
    /// If `items` is empty (the generator's callers pick from lists they wrote).
    #[allow(clippy::indexing_slicing)] // In range: `below(n)` is below `n` for every n >= 1.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A valid PINFL.
pub fn pinfl(rng: &mut Rng) -> String {
    let first = 3 + rng.below(4);
    let day = 1 + rng.below(28);
    let month = 1 + rng.below(12);
    let year = rng.below(100);
    let body = format!("{first}{day:02}{month:02}{year:02}{}", rng.digits(6));
    let s: u32 = body
        .bytes()
        .zip([7, 3, 1].into_iter().cycle())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", s % 10)
}

/// A valid TIN.
pub fn tin(rng: &mut Rng) -> String {
    format!("{}{}", 2 + rng.below(2), rng.digits(8))
}

/// An account with a correct key for the bank code.
pub fn account(mfo: &str, rng: &mut Rng) -> String {
    // Twelve digits drawn, the first replaced by the key (the same draws as ever: the samples'
    // bytes depend on them).
    let rest: String = rng.digits(12).chars().skip(1).collect();
    let with_key = |k: char| format!("20208000{k}{rest}");
    ('0'..='9')
        .map(with_key)
        .find(|a| crate::ident::account_key_ok(mfo, a))
        .unwrap_or_else(|| with_key('9'))
}

/// A field of the registry dialect as a sender writes it: quoted when it holds `;`, `"`, CR or
/// LF (more often than §5 needs, which every reader accepts; the receiver's `result.csv` quotes
/// only when it must, `respond`).
pub fn field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_field(&mut out, s);
    out
}

/// Appends [`field`]`(s)` to `out`.
pub fn push_field(out: &mut String, s: &str) {
    if s.bytes().any(|b| matches!(b, b';' | b'"' | b'\r' | b'\n')) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Registry text: header and rows joined with CRLF (a final CRLF included).
pub fn registry_text(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = header.join(";");
    s.push_str("\r\n");
    for r in rows {
        s.push_str(&r.iter().map(|f| field(f)).collect::<Vec<_>>().join(";"));
        s.push_str("\r\n");
    }
    s
}

/// An inbound batch to build.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Sender code.
    pub sender: String,
    /// Receiver code.
    pub receiver: String,
    /// Type.
    pub kind: BatchType,
    /// `YYYYMMDD`.
    pub date: String,
    /// Sequence number.
    pub seq: String,
    /// `created_at` value.
    pub created_at: String,
    /// Registry encoding.
    pub encoding: Charset,
    /// Registry bytes (already encoded).
    pub registry: Vec<u8>,
    /// Declared rows.
    pub rows: u64,
    /// Declared amount total, tiyin.
    pub amount_total: i128,
}

impl Batch {
    /// A batch of MUNIS to SUDBILLING with the reference archives' `created_at`.
    pub fn new(
        kind: BatchType,
        seq: &str,
        encoding: Charset,
        header: &[&str],
        rows: &[Vec<String>],
        amount_col: usize,
    ) -> Self {
        let text = registry_text(header, rows);
        let registry = encoding
            .encode(&text)
            .unwrap_or_else(|_| text.clone().into_bytes());
        let amount_total = rows
            .iter()
            .filter(|r| r.len() == header.len())
            .filter_map(|r| r.get(amount_col).and_then(|a| crate::amount::parse(a)))
            .map(i128::from)
            .sum();
        Self {
            sender: "MUNIS".into(),
            receiver: "SUDBILLING".into(),
            kind,
            date: "20261121".into(),
            seq: seq.into(),
            created_at: "2026-11-22T01:05:00+05:00".into(),
            encoding,
            registry,
            rows: rows.len() as u64,
            amount_total,
        }
    }

    /// The batch id.
    pub fn batch_id(&self) -> String {
        format!(
            "{}_{}_{}_{}_{}",
            self.sender, self.receiver, self.kind, self.date, self.seq
        )
    }

    /// The archive file name.
    pub fn file_name(&self) -> String {
        format!("{}.zip", self.batch_id())
    }

    /// `control.txt` bytes (CRLF, as the reference archives write it).
    pub fn control(&self) -> Vec<u8> {
        let d = &self.date;
        format!(
            "format=munis-offline/1\r\nbatch_id={}\r\ntype={}\r\nsender={}\r\nreceiver={}\r\nbusiness_date={}-{}-{}\r\ncreated_at={}\r\nencoding={}\r\nrows={}\r\namount_total={}\r\n",
            self.batch_id(),
            self.kind,
            self.sender,
            self.receiver,
            d.get(0..4).unwrap_or(""),
            d.get(4..6).unwrap_or(""),
            d.get(6..8).unwrap_or(""),
            self.created_at,
            self.encoding.as_str(),
            self.rows,
            crate::amount::format(self.amount_total)
        )
        .into_bytes()
    }

    /// The entries of a correct archive: control, registry, manifest and (with a key) HMAC.
    pub fn entries(&self, key: Option<&Key>) -> Vec<(String, Vec<u8>)> {
        let control = self.control();
        let manifest = manifest(&[("control.txt", &control), ("registry.csv", &self.registry)]);
        let mut v = vec![
            ("control.txt".to_string(), control),
            ("registry.csv".to_string(), self.registry.clone()),
        ];
        if let Some(k) = key {
            v.push((
                "manifest.sha256.hmac".to_string(),
                format!("{}\n", k.sign(&manifest)).into_bytes(),
            ));
        }
        v.push(("manifest.sha256".to_string(), manifest));
        v
    }

    /// The archive bytes.
    pub fn zip(&self, key: Option<&Key>) -> Vec<u8> {
        zip_entries(&self.entries(key))
    }
}

/// A manifest over named contents.
pub fn manifest(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut s = String::new();
    for (n, b) in files {
        s.push_str(&format!("{}  {n}\n", hex::encode(Sha256::digest(b))));
    }
    s.into_bytes()
}

/// Deflated zip of the entries, in order, with a fixed time.
pub fn zip_entries(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let t = zip::DateTime::from_date_and_time(2026, 11, 22, 1, 5, 0).unwrap_or_default();
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(t);
    for (n, b) in entries {
        if z.start_file(n.as_str(), opts).is_err() || z.write_all(b).is_err() {
            return Vec::new();
        }
    }
    z.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// An invoice of the generated billing export.
#[derive(Debug, Clone)]
pub struct Invoice {
    /// Number.
    pub no: String,
    /// `P` or `J`.
    pub payer_type: String,
    /// PINFL or TIN.
    pub payer_id: String,
    /// Name.
    pub payer_name: String,
    /// Amount due, as text.
    pub amount_due: String,
    /// `OPEN` or `CANCELLED`.
    pub status: String,
}

const NAMES: [&str; 8] = [
    "Abdullayev Sardor",
    "Karimova Dilnoza",
    "Yo'ldoshev Bekzod",
    "Тошматов Алишер",
    "Rahimov O'tkir",
    "\"Toshkent Agro\" MChJ",
    "ООО \"Навоий Савдо\"",
    "Qodirova Nigora",
];
const AMOUNTS: [&str; 6] = [
    "34000.00",
    "68000.00",
    "102000.00",
    "170000.00",
    "340000.00",
    "22666.66",
];

/// Generates `n` invoices.
pub fn invoices(n: usize, rng: &mut Rng) -> Vec<Invoice> {
    (0..n)
        .map(|i| {
            let legal = rng.below(4) == 0;
            Invoice {
                no: format!(
                    "{:020}",
                    10_000_000_000_000_000u64 + (i as u64) * 7919 + rng.below(7000)
                ),
                payer_type: if legal { "J" } else { "P" }.into(),
                payer_id: if legal { tin(rng) } else { pinfl(rng) },
                payer_name: rng.pick(&NAMES).to_string(),
                amount_due: rng.pick(&AMOUNTS).to_string(),
                status: if i % 10 == 5 { "CANCELLED" } else { "OPEN" }.into(),
            }
        })
        .collect()
}

/// The billing export text of these invoices.
pub fn invoices_csv(inv: &[Invoice]) -> String {
    let header = crate::invoices::STORED;
    let rows: Vec<Vec<String>> = inv
        .iter()
        .enumerate()
        .map(|(i, v)| {
            vec![
                v.no.clone(),
                "1703002".into(),
                format!("2-{}/2026", 100 + i),
                v.payer_type.clone(),
                v.payer_id.clone(),
                v.payer_name.clone(),
                v.amount_due.clone(),
                "2026-10-01 09:00:00".into(),
                v.status.clone(),
            ]
        })
        .collect();
    registry_text(&header, &rows)
}

/// PAY header.
pub const PAY_HEADER: [&str; 11] = [
    "payment_id",
    "paid_at",
    "invoice_no",
    "payer_type",
    "payer_id",
    "payer_name",
    "amount",
    "currency",
    "bank_mfo",
    "account",
    "purpose",
];
/// REV header.
pub const REV_HEADER: [&str; 4] = ["payment_id", "reversed_at", "amount", "reason"];
/// REC header.
pub const REC_HEADER: [&str; 5] = ["payment_id", "paid_at", "invoice_no", "amount", "state"];

/// A PAY row paying `inv` in full.
pub fn pay_row(id: u64, inv: &Invoice, at: &str, purpose: &str, rng: &mut Rng) -> Vec<String> {
    let mfo = rng.pick(&["00014", "00083", "00440", "01069"]).to_string();
    vec![
        format!("{id:014}"),
        at.into(),
        inv.no.clone(),
        inv.payer_type.clone(),
        inv.payer_id.clone(),
        inv.payer_name.clone(),
        inv.amount_due.clone(),
        "860".into(),
        mfo.clone(),
        account(&mfo, rng),
        purpose.into(),
    ]
}

/// The shared test key of the samples (not for production).
pub const SAMPLE_KEY: &str = "73616d706c652d6b65793a206e6f7420666f722070726f64756374696f6e2121";

/// Writes the bundled sample set into `dir`: `invoices.csv`, `MUNIS.key`, `reestr.toml`
/// and `inbox/` with archives of every type (and one that is answered NAK, and one set aside).
// In range: fixed data from a fixed seed (40 invoices, 36 of them open; rows of the
// header's 11, 4 and 5 fields); the `sample` command passes only the folder.
#[allow(clippy::indexing_slicing)]
pub fn write_samples(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let key = Key::parse(SAMPLE_KEY).ok_or_else(|| std::io::Error::other("sample key"))?;
    let mut rng = Rng::new(20261121);
    let inv = invoices(40, &mut rng);
    let mut out = Vec::new();
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox)?;
    let mut put = |p: PathBuf, b: &[u8]| -> std::io::Result<()> {
        std::fs::write(&p, b)?;
        out.push(p);
        Ok(())
    };
    put(dir.join("invoices.csv"), invoices_csv(&inv).as_bytes())?;
    put(dir.join("MUNIS.key"), format!("{SAMPLE_KEY}\n").as_bytes())?;
    let open: Vec<&Invoice> = inv.iter().filter(|i| i.status == "OPEN").collect();
    let cancelled: Vec<&Invoice> = inv.iter().filter(|i| i.status == "CANCELLED").collect();
    let purposes = [
        "Davlat boji",
        "Давлат божи; иш № 2-706/2026",
        "Sud xarajatlari\r\nto'lovi",
        "Pochta xarajati \"sud chaqiruvi\"",
        "",
    ];
    // PAY 001 (utf-8): mostly good, with one row of most row codes.
    let mut pay1: Vec<Vec<String>> = Vec::new();
    for (i, v) in open.iter().take(12).enumerate() {
        pay1.push(pay_row(
            30_000_000_000_001 + i as u64,
            v,
            &format!("2026-11-21 {:02}:15:00", 8 + i),
            purposes[i % 5],
            &mut rng,
        ));
    }
    let mut dup = pay1[0].clone();
    dup[6] = "1.00".into();
    pay1.push(dup); // 301: repeated payment_id
    let mut nf = pay_row(
        30_000_000_000_101,
        open[12],
        "2026-11-21 20:00:00",
        "",
        &mut rng,
    );
    nf[2] = "99999999999999999999".into();
    pay1.push(nf); // 4
    if let Some(c) = cancelled.first() {
        pay1.push(pay_row(
            30_000_000_000_102,
            c,
            "2026-11-21 20:01:00",
            "",
            &mut rng,
        )); // 302
    }
    let mut payer = pay_row(
        30_000_000_000_103,
        open[13],
        "2026-11-21 20:02:00",
        "",
        &mut rng,
    );
    payer[3] = "J".into();
    payer[4] = "212345678".into();
    pay1.push(payer); // 304
    let mut over = pay_row(
        30_000_000_000_104,
        open[14],
        "2026-11-21 20:03:00",
        "",
        &mut rng,
    );
    over[6] = "9999999.00".into();
    pay1.push(over); // 303
    let mut missing = pay_row(
        30_000_000_000_105,
        open[15],
        "2026-11-21 20:04:00",
        "",
        &mut rng,
    );
    missing[5] = String::new();
    pay1.push(missing); // 201 payer_name
    let mut badacc = pay_row(
        30_000_000_000_106,
        open[16],
        "2026-11-21 20:05:00",
        "",
        &mut rng,
    );
    let mut a = badacc[9].clone().into_bytes();
    a[8] = if a[8] == b'9' { b'0' } else { a[8] + 1 };
    badacc[9] = String::from_utf8_lossy(&a).into_owned();
    pay1.push(badacc); // 202 account
    let b1 = Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &pay1, 6);
    put(inbox.join(b1.file_name()), &b1.zip(Some(&key)))?;
    // PAY 002 (windows-1251): partial payments of the next invoices.
    let mut pay2 = Vec::new();
    for (i, v) in open.iter().skip(17).take(8).enumerate() {
        let mut r = pay_row(
            30_000_000_000_201 + i as u64,
            v,
            &format!("2026-11-21 {:02}:30:00", 9 + i),
            "Давлат божи",
            &mut rng,
        );
        if i % 2 == 0 {
            r[6] = "1000.00".into();
        }
        pay2.push(r);
    }
    let b2 = Batch::new(
        BatchType::PAY,
        "002",
        Charset::Windows1251,
        &PAY_HEADER,
        &pay2,
        6,
    );
    put(inbox.join(b2.file_name()), &b2.zip(Some(&key)))?;
    // REV 001 (utf-8): one good, one wrong amount, one repeated, one unknown.
    let rev = vec![
        vec![
            pay1[1][0].clone(),
            "2026-11-21 22:00:00".into(),
            pay1[1][6].clone(),
            "Xato to'lov".into(),
        ],
        vec![
            pay1[2][0].clone(),
            "2026-11-21 22:01:00".into(),
            "1.00".into(),
            "Summa farqi".into(),
        ],
        vec![
            pay1[1][0].clone(),
            "2026-11-21 22:02:00".into(),
            pay1[1][6].clone(),
            "Takror".into(),
        ],
        vec![
            "100000000000".into(),
            "2026-11-21 22:03:00".into(),
            "10.00".into(),
            "Noma'lum".into(),
        ],
    ];
    let b3 = Batch::new(BatchType::REV, "001", Charset::Utf8, &REV_HEADER, &rev, 2);
    put(inbox.join(b3.file_name()), &b3.zip(Some(&key)))?;
    // REC 001 (cp866): the day's payments, one wrong amount, one missing, one unknown.
    let mut rec: Vec<Vec<String>> = Vec::new();
    for r in pay1.iter().take(12).chain(pay2.iter()).skip(1) {
        let state = if r[0] == pay1[1][0] {
            "REVERSED"
        } else {
            "PAID"
        };
        rec.push(vec![
            r[0].clone(),
            r[1].clone(),
            r[2].clone(),
            r[6].clone(),
            state.into(),
        ]);
    }
    if let Some(r) = rec.get_mut(3) {
        r[3] = "5.00".into();
    }
    rec.push(vec![
        "200000000000".into(),
        "2026-11-21 09:00:00".into(),
        "11111111111111111111".into(),
        "5000.00".into(),
        "PAID".into(),
    ]);
    let b4 = Batch::new(BatchType::REC, "001", Charset::Cp866, &REC_HEADER, &rec, 3);
    put(inbox.join(b4.file_name()), &b4.zip(Some(&key)))?;
    // PAY 003: signed with another key: NAK B05.
    let wrong = Key([7; 32]);
    let b5 = Batch::new(
        BatchType::PAY,
        "003",
        Charset::Utf8,
        &PAY_HEADER,
        &pay2[..1],
        6,
    );
    put(inbox.join(b5.file_name()), &b5.zip(Some(&wrong)))?;
    // A file whose name is not of the agreement's form: set aside.
    put(inbox.join("payments-november.zip"), &b5.zip(Some(&key)))?;
    Ok(out)
}
