//! The benchmark's data set, streamed: a billing export of N invoices and a PAY archive of N
//! rows in windows-1251, built with the project's own sender helpers ([`crate::sample`]) but
//! never holding more than one row in memory, so that 1M and 10M rows cost the same memory.
//!
//! The data is a pure function of [`Spec`] (rows, invoices, seed): invoice `i` and row `r` are
//! each generated from their own seed, and row `r` pays invoice `perm(r)` of a fixed permutation,
//! so that invoices are paid once each, in an order unrelated to their numbers (as a month of
//! real payments would be). About 1% of the rows are made to be rejected, spread over several
//! codes (see [`Kind`]); the others pay their invoice in full or in part. Every row's expected
//! status is known here ([`Model::expected`]), which the tests and the benchmark compare with
//! the engine's answer.
//!
//! Text is realistic: Uzbek Latin, Uzbek Cyrillic and Russian names, legal entities with quotes
//! in their names, purposes holding `;`, `"` and line breaks. The billing export is UTF-8 and
//! may use the Uzbek letters windows-1251 cannot hold (`ʻ`, `Қ`, `Ғ`, `Ҳ`); the registry writes
//! them as a windows-1251 sender does (`'`, `К`, `Г`, `Х`), as agreement §5 notes.

// Generators of the samples', tests' and benchmark's data, from their own parameters (no
// input reaches them): their arithmetic is unchecked.
#![allow(clippy::arithmetic_side_effects)]

use crate::amount;
use crate::charset::Charset;
use crate::integrity::Key;
use crate::name::BatchType;
use crate::sample::{self, Batch, Rng};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    /// Data rows of the PAY registry.
    pub rows: u64,
    /// Invoices of the billing export (at least `rows`; the extra ones stay unpaid).
    pub invoices: u64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Spec {
    /// `rows` rows paying as many invoices, with the default seed.
    pub fn new(rows: u64) -> Self {
        Self {
            rows,
            invoices: rows,
            seed: DEFAULT_SEED,
        }
    }
}

/// The default seed.
pub const DEFAULT_SEED: u64 = 20_261_121;

/// Rows out of 10,000 made to be rejected (1%).
pub const REJECT_PER_10K: u64 = 100;

/// Rows out of 100, among the accepted ones, that pay only part of their invoice.
pub const PARTIAL_PERCENT: u64 = 10;

/// The archive's batch: MUNIS to SUDBILLING, PAY of 2026-11-21, sequence 001.
pub const ARCHIVE_NAME: &str = "MUNIS_SUDBILLING_PAY_20261121_001.zip";

/// What a row is made to be, and so the status the receiver must give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Pays its invoice in full: `1`.
    Full,
    /// Pays part of its invoice: `1`.
    Partial,
    /// PINFL with a wrong check digit (or a TIN with a wrong first digit): `202 payer_id`.
    BadPayerId,
    /// Account whose key digit does not match the bank code: `202 account`.
    BadAccount,
    /// Empty payer name: `201 payer_name`.
    MissingName,
    /// Amount with one decimal: `202 amount` (and it counts as zero in `amount_total`).
    BadAmount,
    /// An invoice number no invoice has: `4`.
    UnknownInvoice,
    /// The `payment_id` of the previous line: `301`.
    Duplicate,
    /// Pays a cancelled invoice: `302`.
    Cancelled,
    /// Payer id differs from the invoice's: `304`.
    PayerDiffers,
    /// Pays more than the invoice's amount due: `303`.
    OverBalance,
}

/// The kinds of rejected rows, chosen with equal chance.
pub const REJECTED_KINDS: [Kind; 9] = [
    Kind::BadPayerId,
    Kind::BadAccount,
    Kind::MissingName,
    Kind::BadAmount,
    Kind::UnknownInvoice,
    Kind::Duplicate,
    Kind::Cancelled,
    Kind::PayerDiffers,
    Kind::OverBalance,
];

impl Kind {
    /// The status code and failing field (empty when none) the receiver must answer.
    pub fn expected(self) -> (&'static str, &'static str) {
        match self {
            Kind::Full | Kind::Partial => ("1", ""),
            Kind::BadPayerId => ("202", "payer_id"),
            Kind::BadAccount => ("202", "account"),
            Kind::MissingName => ("201", "payer_name"),
            Kind::BadAmount => ("202", "amount"),
            Kind::UnknownInvoice => ("4", ""),
            Kind::Duplicate => ("301", ""),
            Kind::Cancelled => ("302", ""),
            Kind::PayerDiffers => ("304", ""),
            Kind::OverBalance => ("303", ""),
        }
    }
}

/// One invoice of the billing export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// `invoice_no` (20 digits).
    pub no: String,
    /// `court_code`.
    pub court_code: &'static str,
    /// `case_no`.
    pub case_no: String,
    /// `P` or `J`.
    pub payer_type: &'static str,
    /// PINFL or TIN.
    pub payer_id: String,
    /// Name as the billing system writes it (UTF-8, any Uzbek letter).
    pub payer_name: String,
    /// Amount due in tiyin.
    pub amount_due: i64,
    /// `issued_at`.
    pub issued_at: String,
    /// `CANCELLED` rather than `OPEN`.
    pub cancelled: bool,
}

/// One registry row, its fields as text (before encoding), and what it was made to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The eleven PAY fields, in schema order.
    pub fields: [String; 11],
    /// What the row was made to be.
    pub kind: Kind,
}

/// The generator: a pure function from [`Spec`] and an index to an invoice or a row.
#[derive(Debug, Clone)]
pub struct Model {
    spec: Spec,
    /// Row `r` pays invoice `(mul * r + add) mod invoices`.
    mul: u64,
    add: u64,
    /// Inverse of `mul` modulo `invoices`.
    mul_inv: u64,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Inverse of `a` modulo `n` (`a` and `n` coprime, `n` ≥ 1).
fn mod_inverse(a: u64, n: u64) -> u64 {
    let (mut t, mut new_t) = (0i128, 1i128);
    let (mut r, mut new_r) = (i128::from(n), i128::from(a % n));
    while new_r != 0 {
        let q = r / new_r;
        (t, new_t) = (new_t, t - q * new_t);
        (r, new_r) = (new_r, r - q * new_r);
    }
    u64::try_from(t.rem_euclid(i128::from(n))).unwrap_or(0)
}

/// First number of the invoice numbering (20 digits).
const INVOICE_BASE: u64 = 12_026_000_000_000_000_000;
/// First payment id (15 digits).
const PAYMENT_BASE: u64 = 300_000_000_000_000;
/// Business date of the batch, and the day every row is paid.
const PAID_ON: &str = "2026-11-21";

const STREAM_INVOICE: u64 = 1;
const STREAM_KIND: u64 = 2;
const STREAM_ROW: u64 = 3;
const STREAM_PAYMENT_ID: u64 = 4;

impl Model {
    /// The generator of this spec. `invoices` below `rows` is raised to `rows`.
    pub fn new(spec: Spec) -> Self {
        let spec = Spec {
            invoices: spec.invoices.max(spec.rows).max(1),
            ..spec
        };
        let n = spec.invoices;
        // A multiplier near n/φ, coprime with n, scatters consecutive rows over the invoices.
        let mut mul = ((n as f64) * 0.618_033_988_75) as u64 | 1;
        while gcd(mul % n, n) != 1 {
            mul += 1;
        }
        let mul = mul % n;
        let add = splitmix(spec.seed) % n;
        Self {
            spec,
            mul,
            add,
            mul_inv: mod_inverse(mul, n),
        }
    }

    /// The spec (with `invoices` at least `rows`).
    pub fn spec(&self) -> Spec {
        self.spec
    }

    fn rng(&self, stream: u64, index: u64) -> Rng {
        Rng::new(splitmix(
            splitmix(self.spec.seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F)) ^ index,
        ))
    }

    /// The invoice row `r` pays.
    pub fn invoice_of_row(&self, r: u64) -> u64 {
        let n = u128::from(self.spec.invoices);
        ((u128::from(self.mul) * u128::from(r) + u128::from(self.add)) % n) as u64
    }

    /// The row that pays invoice `i`, if any.
    pub fn row_of_invoice(&self, i: u64) -> Option<u64> {
        let n = u128::from(self.spec.invoices);
        let d = (u128::from(i) + n - u128::from(self.add)) % n;
        let r = (u128::from(self.mul_inv) * d % n) as u64;
        (r < self.spec.rows).then_some(r)
    }

    /// What row `r` is made to be.
    pub fn kind(&self, r: u64) -> Kind {
        let mut g = self.rng(STREAM_KIND, r);
        if g.below(10_000) < REJECT_PER_10K {
            let k = *g.pick(&REJECTED_KINDS);
            if k == Kind::Duplicate && r == 0 {
                return Kind::Full;
            }
            return k;
        }
        if g.below(100) < PARTIAL_PERCENT {
            Kind::Partial
        } else {
            Kind::Full
        }
    }

    /// The status and field the receiver must answer for row `r`.
    pub fn expected(&self, r: u64) -> (&'static str, &'static str) {
        self.kind(r).expected()
    }

    /// The `payment_id` generated for row `r` (a duplicate row repeats its predecessor's).
    fn payment_id(&self, r: u64) -> u64 {
        PAYMENT_BASE + r * 37 + self.rng(STREAM_PAYMENT_ID, r).below(37)
    }

    /// The `payment_id` row `r` holds: a duplicate row repeats the one of the nearest earlier
    /// row that is not a duplicate itself.
    pub fn written_payment_id(&self, r: u64) -> u64 {
        let mut q = r;
        while q > 0 && self.kind(q) == Kind::Duplicate {
            q -= 1;
        }
        self.payment_id(q)
    }

    /// Invoice `i`.
    pub fn invoice(&self, i: u64) -> Invoice {
        let mut g = self.rng(STREAM_INVOICE, i);
        let legal = g.below(5) == 0;
        let payer_id = if legal {
            sample::tin(&mut g)
        } else {
            sample::pinfl(&mut g)
        };
        let payer_name = if legal {
            legal_name(&mut g)
        } else {
            person_name(&mut g)
        };
        let amount_due = if g.below(10) < 6 {
            // State duty tariffs: fractions and multiples of the base calculation amount.
            *g.pick(&TARIFFS) * 100
        } else {
            // A share of a claim: any amount from 50,000.00 to 20,000,000.00.
            5_000_000 + g.below(1_995_000_000) as i64
        };
        let month = 1 + g.below(11);
        let day = 1 + g.below(if month == 11 { 20 } else { 28 });
        let issued_at = format!(
            "2026-{month:02}-{day:02} {:02}:{:02}:{:02}",
            8 + g.below(10),
            g.below(60),
            g.below(60)
        );
        let court_code = *g.pick(&COURTS);
        let case_no = format!(
            "{}-{}-{}/{}",
            g.pick(&["2", "4", "5", "2-1", "3"]),
            court_code.get(..4).unwrap_or(court_code),
            2600 + month,
            100 + i % 99_900
        );
        let cancelled = match self.row_of_invoice(i) {
            Some(r) => self.kind(r) == Kind::Cancelled,
            None => g.below(20) == 0,
        };
        Invoice {
            no: format!("{:020}", INVOICE_BASE + i * 7919 + g.below(7000)),
            court_code,
            case_no,
            payer_type: if legal { "J" } else { "P" },
            payer_id,
            payer_name,
            amount_due,
            issued_at,
            cancelled,
        }
    }

    /// Registry row `r` (0-based; line `r + 1` of the result).
    pub fn row(&self, r: u64) -> Row {
        let kind = self.kind(r);
        let inv = self.invoice(self.invoice_of_row(r));
        let mut g = self.rng(STREAM_ROW, r);
        let payment_id = self.written_payment_id(r);
        let secs = r * 86_400 / self.spec.rows.max(1);
        let paid_at = format!(
            "{PAID_ON} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        let invoice_no = if kind == Kind::UnknownInvoice {
            format!("99{:018}", g.below(1_000_000_000_000_000_000))
        } else {
            inv.no.clone()
        };
        let payer_id = match (kind, inv.payer_type) {
            (Kind::BadPayerId, "P") => {
                let mut b = inv.payer_id.clone().into_bytes();
                if let Some(last) = b.last_mut() {
                    *last = b'0' + (*last - b'0' + 1) % 10;
                }
                String::from_utf8_lossy(&b).into_owned()
            }
            (Kind::BadPayerId, _) => format!("{}{}", 4 + g.below(6), g.digits(8)),
            (Kind::PayerDiffers, t) => loop {
                let other = if t == "P" {
                    sample::pinfl(&mut g)
                } else {
                    sample::tin(&mut g)
                };
                if other != inv.payer_id {
                    break other;
                }
            },
            _ => inv.payer_id.clone(),
        };
        let payer_name = if kind == Kind::MissingName {
            String::new()
        } else {
            for_1251(&inv.payer_name, g.below(3) == 0)
        };
        let amount = match kind {
            Kind::Partial => {
                let part = inv.amount_due * (10 + g.below(80) as i64) / 100;
                amount::format(i128::from(part.max(1)))
            }
            Kind::OverBalance => amount::format(i128::from(
                inv.amount_due + 100 * (1 + g.below(5000) as i64),
            )),
            Kind::BadAmount => format!("{}.{}", inv.amount_due / 100, g.below(10)),
            _ => amount::format(i128::from(inv.amount_due)),
        };
        let mfo = *g.pick(&MFOS);
        let account = if kind == Kind::BadAccount || g.below(4) != 0 {
            let a = sample::account(mfo, &mut g);
            if kind == Kind::BadAccount {
                let mut b = a.into_bytes();
                if let Some(key) = b.get_mut(8) {
                    *key = b'0' + (*key - b'0' + 1) % 10;
                }
                String::from_utf8_lossy(&b).into_owned()
            } else {
                a
            }
        } else {
            String::new()
        };
        let purpose = purpose(&mut g, &inv, &payer_name);
        Row {
            fields: [
                payment_id.to_string(),
                paid_at,
                invoice_no,
                inv.payer_type.to_string(),
                payer_id,
                payer_name,
                amount,
                "860".to_string(),
                mfo.to_string(),
                account,
                purpose,
            ],
            kind,
        }
    }
}

/// Base calculation amount multiples used as state duty tariffs, in so'm.
const TARIFFS: [i64; 8] = [
    103_000, 206_000, 412_000, 824_000, 1_236_000, 2_060_000, 34_000, 68_000,
];

const COURTS: [&str; 12] = [
    "1703002", "1703011", "1726001", "1726273", "1718004", "1730012", "1706002", "1722015",
    "1735001", "1710009", "1714023", "1733007",
];

const MFOS: [&str; 10] = [
    "00014", "00083", "00440", "01069", "00873", "00401", "01037", "00974", "00450", "01158",
];

const LAT_SURNAMES: [&str; 24] = [
    "Abdullayev",
    "Karimov",
    "Yoʻldoshev",
    "Rahimov",
    "Toshmatov",
    "Xolmatov",
    "Ergashev",
    "Nazarov",
    "Qodirov",
    "Usmonov",
    "Mirzayev",
    "Sobirov",
    "Gʻaniyev",
    "Oʻrinboyev",
    "Joʻrayev",
    "Saidov",
    "Rustamov",
    "Haydarov",
    "Norboyev",
    "Xudoyberdiyev",
    "Toʻxtayev",
    "Gʻulomov",
    "Ismoilov",
    "Yusupov",
];
const LAT_MEN: [&str; 16] = [
    "Sardor",
    "Bekzod",
    "Oʻtkir",
    "Alisher",
    "Jasur",
    "Sherzod",
    "Dilshod",
    "Farrux",
    "Javohir",
    "Ulugʻbek",
    "Shoxrux",
    "Doniyor",
    "Islom",
    "Akmal",
    "Bobur",
    "Gʻayrat",
];
const LAT_WOMEN: [&str; 12] = [
    "Dilnoza",
    "Nigora",
    "Gulnora",
    "Madina",
    "Shahnoza",
    "Malika",
    "Zarina",
    "Feruza",
    "Mohira",
    "Sevara",
    "Nodira",
    "Gulchehra",
];
const CYR_SURNAMES: [&str; 16] = [
    "Абдуллаев",
    "Каримов",
    "Йўлдошев",
    "Раҳимов",
    "Тошматов",
    "Холматов",
    "Эргашев",
    "Назаров",
    "Қодиров",
    "Усмонов",
    "Мирзаев",
    "Собиров",
    "Ғаниев",
    "Ўринбоев",
    "Жўраев",
    "Ҳайдаров",
];
const CYR_MEN: [&str; 12] = [
    "Сардор",
    "Бекзод",
    "Ўткир",
    "Алишер",
    "Жасур",
    "Шерзод",
    "Дилшод",
    "Фаррух",
    "Жавоҳир",
    "Улуғбек",
    "Шоҳрух",
    "Ғайрат",
];
const CYR_WOMEN: [&str; 8] = [
    "Дилноза",
    "Нигора",
    "Гулнора",
    "Мадина",
    "Шаҳноза",
    "Малика",
    "Феруза",
    "Севара",
];
const RU_SURNAMES: [&str; 12] = [
    "Иванов",
    "Ким",
    "Петров",
    "Шарипов",
    "Смирнов",
    "Пак",
    "Кузнецов",
    "Юсупов",
    "Соколов",
    "Ли",
    "Попов",
    "Хасанов",
];
const RU_MEN: [&str; 10] = [
    "Сергей",
    "Виктор",
    "Александр",
    "Рустам",
    "Дмитрий",
    "Игорь",
    "Олег",
    "Тимур",
    "Андрей",
    "Павел",
];
const RU_PATRONYMICS: [(&str, &str); 10] = [
    ("Сергеевич", "Сергеевна"),
    ("Викторович", "Викторовна"),
    ("Александрович", "Александровна"),
    ("Рустамович", "Рустамовна"),
    ("Дмитриевич", "Дмитриевна"),
    ("Игоревич", "Игоревна"),
    ("Олегович", "Олеговна"),
    ("Тимурович", "Тимуровна"),
    ("Андреевич", "Андреевна"),
    ("Павлович", "Павловна"),
];
const RU_WOMEN: [&str; 8] = [
    "Ольга",
    "Виктория",
    "Елена",
    "Наталья",
    "Анна",
    "Марина",
    "Татьяна",
    "Ирина",
];
const LEGAL_LAT: [&str; 10] = [
    "Toshkent Agro",
    "Samarqand Invest",
    "Buxoro Qurilish",
    "Fargʻona Tekstil",
    "Navoiy Savdo",
    "Xorazm Logistik",
    "Andijon Avto Servis",
    "Qashqadaryo Neft",
    "Oʻzbekiston Temir Yoʻllari Xizmat",
    "Surxon Meva",
];
const LEGAL_CYR: [&str; 8] = [
    "Навоий Савдо",
    "Тошкент Қурилиш",
    "Самарқанд Фарм",
    "Фарғона Текстиль",
    "Восток Трейд",
    "Бухоро Газ Таъминот",
    "Хоразм Ғалла",
    "Азия Логистик",
];

fn woman_lat(surname: &str) -> String {
    format!("{surname}a")
}

fn person_name(g: &mut Rng) -> String {
    let woman = g.below(2) == 0;
    match g.below(4) {
        // Uzbek Latin, half of the people; often with the patronymic.
        0 | 1 => {
            let s = *g.pick(&LAT_SURNAMES);
            let (surname, given) = if woman {
                (woman_lat(s), *g.pick(&LAT_WOMEN))
            } else {
                (s.to_string(), *g.pick(&LAT_MEN))
            };
            if g.below(2) == 0 {
                let father = *g.pick(&LAT_MEN);
                let tie = if woman { "qizi" } else { "oʻgʻli" };
                format!("{surname} {given} {father} {tie}")
            } else {
                format!("{surname} {given}")
            }
        }
        // Uzbek Cyrillic.
        2 => {
            let s = *g.pick(&CYR_SURNAMES);
            if woman {
                format!("{s}а {} {}", g.pick(&CYR_WOMEN), g.pick(&["қизи", ""]))
                    .trim_end()
                    .to_string()
            } else {
                format!("{s} {} {}", g.pick(&CYR_MEN), g.pick(&["ўғли", ""]))
                    .trim_end()
                    .to_string()
            }
        }
        // Russian, with the patronymic.
        _ => {
            let s = *g.pick(&RU_SURNAMES);
            let (his, hers) = *g.pick(&RU_PATRONYMICS);
            if woman {
                let s = if s.ends_with("ов") {
                    format!("{s}а")
                } else {
                    s.into()
                };
                format!("{s} {} {hers}", g.pick(&RU_WOMEN))
            } else {
                format!("{s} {} {his}", g.pick(&RU_MEN))
            }
        }
    }
}

fn legal_name(g: &mut Rng) -> String {
    match g.below(4) {
        0 => format!("\"{}\" MChJ", g.pick(&LEGAL_LAT)),
        1 => format!("\"{}\" AJ", g.pick(&LEGAL_LAT)),
        2 => format!("ООО \"{}\"", g.pick(&LEGAL_CYR)),
        _ => format!("«{}» МЧЖ", g.pick(&LEGAL_CYR)),
    }
}

/// The text as a windows-1251 (or cp866) sender writes it: the Uzbek letters these code pages
/// lack become their nearest Russian letters, the modifier letter ʻ an apostrophe (or `‘`).
pub fn for_1251(text: &str, left_quote: bool) -> String {
    text.chars()
        .map(|c| match c {
            'ʻ' | 'ʼ' => {
                if left_quote {
                    '‘'
                } else {
                    '\''
                }
            }
            'Қ' => 'К',
            'қ' => 'к',
            'Ғ' => 'Г',
            'ғ' => 'г',
            'Ҳ' => 'Х',
            'ҳ' => 'х',
            other => other,
        })
        .collect()
}

fn purpose(g: &mut Rng, inv: &Invoice, name: &str) -> String {
    let case = &inv.case_no;
    match g.below(12) {
        0 => format!("Davlat boji, ish № {case}"),
        1 => format!("Давлат божи; иш № {case}"),
        2 => format!("Sud xarajatlari\r\nto'lovi, ish {case}"),
        3 => "Pochta xarajati \"sud chaqiruvi\" bo'yicha".to_string(),
        4 => format!("Госпошлина по делу № {case} (\"исковое заявление\")"),
        5 => format!("Оплата штрафа; постановление {case}\nот 2026-10-01"),
        6 => format!("Jarima to'lovi: ma'muriy ish {case}"),
        7 => format!("Суд харажатлари тўлови, {name}"),
        8 => format!("To'lov {} bo'yicha", inv.no),
        9 => format!("Davlat boji {case}; to'lovchi: {name}"),
        _ => String::new(),
    }
}

fn join_line(line: &mut String, fields: &[&str]) {
    line.clear();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(';');
        }
        sample::push_field(line, f);
    }
    line.push_str("\r\n");
}

/// The billing export's header (agreement §9).
pub const INVOICES_HEADER: &str =
    "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status";

/// Writes the billing export (UTF-8, CRLF) of every invoice of the model. Returns its bytes.
pub fn write_invoices(model: &Model, out: &mut impl Write) -> io::Result<u64> {
    let mut line = String::new();
    let mut bytes = 0u64;
    line.push_str(INVOICES_HEADER);
    line.push_str("\r\n");
    out.write_all(line.as_bytes())?;
    bytes += line.len() as u64;
    for i in 0..model.spec.invoices {
        let v = model.invoice(i);
        let amount_due = amount::format(i128::from(v.amount_due));
        join_line(
            &mut line,
            &[
                &v.no,
                v.court_code,
                &v.case_no,
                v.payer_type,
                &v.payer_id,
                &v.payer_name,
                &amount_due,
                &v.issued_at,
                if v.cancelled { "CANCELLED" } else { "OPEN" },
            ],
        );
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
    }
    Ok(bytes)
}

/// What writing the registry counted.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RegistryStats {
    /// Data rows.
    pub rows: u64,
    /// Sum of the well-formed amounts, tiyin (the control record's `amount_total`).
    pub amount_total: i128,
    /// Bytes of the registry in windows-1251.
    pub bytes: u64,
    /// Bytes of the UTF-8 copy.
    pub utf8_bytes: u64,
    /// SHA-256 of the windows-1251 registry, hex.
    pub sha256: String,
    /// Rows expected with each status code.
    pub expected: BTreeMap<String, u64>,
    /// Rows expected accepted (status `1`).
    pub accepted: u64,
    /// Sum of their amounts, tiyin.
    pub amount_accepted: i128,
}

/// Writes the PAY registry in windows-1251 to `out` and, when given, the same text in UTF-8
/// to `utf8`; counts rows, the amount total and the expected statuses, and hashes `out`.
pub fn write_registry(
    model: &Model,
    out: &mut impl Write,
    mut utf8: Option<&mut dyn Write>,
) -> io::Result<RegistryStats> {
    let mut st = RegistryStats::default();
    let mut sha = Sha256::new();
    let mut line = String::new();
    {
        let mut put = |line: &str, st: &mut RegistryStats| -> io::Result<()> {
            let bytes = Charset::Windows1251.encode(line).map_err(|c| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("generator wrote {c:?}, which windows-1251 cannot hold"),
                )
            })?;
            out.write_all(&bytes)?;
            sha.update(&bytes);
            st.bytes += bytes.len() as u64;
            if let Some(u) = utf8.as_mut() {
                u.write_all(line.as_bytes())?;
            }
            st.utf8_bytes += line.len() as u64;
            Ok(())
        };
        line.push_str(&sample::PAY_HEADER.join(";"));
        line.push_str("\r\n");
        put(&line, &mut st)?;
        for r in 0..model.spec.rows {
            let row = model.row(r);
            let fields: Vec<&str> = row.fields.iter().map(String::as_str).collect();
            join_line(&mut line, &fields);
            put(&line, &mut st)?;
            st.rows += 1;
            let amount = amount::parse(&row.fields[6]).map(i128::from);
            st.amount_total += amount.unwrap_or(0);
            let (status, _) = row.kind.expected();
            *st.expected.entry(status.to_string()).or_default() += 1;
            if status == "1" {
                st.accepted += 1;
                st.amount_accepted += amount.unwrap_or(0);
            }
        }
    }
    st.sha256 = hex::encode(sha.finalize());
    Ok(st)
}

/// Zips a registry already written to `registry` (with its stats) into the archive `out`:
/// `control.txt`, `registry.csv` (streamed from the file, deflated at the default level),
/// `manifest.sha256.hmac` (with a key) and `manifest.sha256`, as [`Batch::zip`] orders them.
pub fn write_archive(
    registry: &Path,
    stats: &RegistryStats,
    key: Option<&Key>,
    out: &Path,
) -> io::Result<u64> {
    let batch = Batch {
        sender: "MUNIS".into(),
        receiver: "SUDBILLING".into(),
        kind: BatchType::PAY,
        date: "20261121".into(),
        seq: "001".into(),
        created_at: "2026-11-22T01:05:00+05:00".into(),
        encoding: Charset::Windows1251,
        registry: Vec::new(),
        rows: stats.rows,
        amount_total: stats.amount_total,
    };
    let control = batch.control();
    let manifest = format!(
        "{}  control.txt\n{}  registry.csv\n",
        hex::encode(Sha256::digest(&control)),
        stats.sha256
    )
    .into_bytes();
    let t = zip::DateTime::from_date_and_time(2026, 11, 22, 1, 5, 0).unwrap_or_default();
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(t);
    let mut z = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, File::create(out)?));
    z.start_file("control.txt", opts)
        .map_err(io::Error::other)?;
    z.write_all(&control)?;
    z.start_file(
        "registry.csv",
        opts.large_file(stats.bytes >= u64::from(u32::MAX)),
    )
    .map_err(io::Error::other)?;
    io::copy(&mut File::open(registry)?, &mut z)?;
    if let Some(k) = key {
        z.start_file("manifest.sha256.hmac", opts)
            .map_err(io::Error::other)?;
        z.write_all(format!("{}\n", k.sign(&manifest)).as_bytes())?;
    }
    z.start_file("manifest.sha256", opts)
        .map_err(io::Error::other)?;
    z.write_all(&manifest)?;
    let mut w = z.finish().map_err(io::Error::other)?;
    w.flush()?;
    Ok(fs::metadata(out)?.len())
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The spec generated.
    pub spec: Spec,
    /// `invoices.csv`.
    pub invoices_csv: PathBuf,
    /// Its bytes.
    pub invoices_bytes: u64,
    /// The PAY archive (in `inbox/`).
    pub archive: PathBuf,
    /// Its bytes.
    pub archive_bytes: u64,
    /// The registry in UTF-8 (`registry-utf8.csv`), for other tools.
    pub registry_utf8: PathBuf,
    /// The partner key file (`MUNIS.key`, the sample key).
    pub key_file: PathBuf,
    /// What the registry holds.
    pub registry: RegistryStats,
    /// `amount_total` as written in `control.txt`.
    pub amount_total: String,
    /// `amount_accepted` the ACK must report.
    pub amount_accepted: String,
}

/// Writes the whole data set into `dir`: `invoices.csv`, `inbox/<ARCHIVE_NAME>`,
/// `registry-utf8.csv`, `MUNIS.key` and `bench-data.json` (the summary).
pub fn generate(spec: Spec, dir: &Path) -> io::Result<Summary> {
    let model = Model::new(spec);
    let inbox = dir.join("inbox");
    fs::create_dir_all(&inbox)?;
    let key = Key::parse(sample::SAMPLE_KEY).ok_or_else(|| io::Error::other("sample key"))?;
    let key_file = dir.join("MUNIS.key");
    fs::write(&key_file, format!("{}\n", sample::SAMPLE_KEY))?;

    let invoices_csv = dir.join("invoices.csv");
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&invoices_csv)?);
    let invoices_bytes = write_invoices(&model, &mut w)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;

    let tmp = dir.join(".registry.csv.tmp");
    let registry_utf8 = dir.join("registry-utf8.csv");
    let mut reg = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut utf8 = BufWriter::with_capacity(1 << 20, File::create(&registry_utf8)?);
    let stats = write_registry(&model, &mut reg, Some(&mut utf8))?;
    reg.flush()?;
    utf8.flush()?;
    drop((reg, utf8));

    let archive = inbox.join(ARCHIVE_NAME);
    let archive_bytes = write_archive(&tmp, &stats, Some(&key), &archive)?;
    fs::remove_file(&tmp)?;
    let summary = Summary {
        spec: model.spec(),
        invoices_csv,
        invoices_bytes,
        archive,
        archive_bytes,
        registry_utf8,
        key_file,
        amount_total: amount::format(stats.amount_total),
        amount_accepted: amount::format(stats.amount_accepted),
        registry: stats,
    };
    let json = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
    fs::write(dir.join("bench-data.json"), json)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 7, 10, 1000, 1024, 999_983] {
            let m = Model::new(Spec {
                rows: n,
                invoices: n,
                seed: 5,
            });
            let probe = n.min(5000);
            let mut seen = std::collections::HashSet::new();
            for r in 0..probe {
                let i = m.invoice_of_row(r);
                assert!(i < n);
                assert!(seen.insert(i));
                assert_eq!(m.row_of_invoice(i), Some(r), "n={n} r={r}");
            }
        }
        let m = Model::new(Spec {
            rows: 10,
            invoices: 30,
            seed: 1,
        });
        let paid = (0..30).filter(|&i| m.row_of_invoice(i).is_some()).count();
        assert_eq!(paid, 10);
    }

    #[test]
    fn rows_are_what_they_are_made_to_be() {
        let m = Model::new(Spec::new(20_000));
        let mut kinds = BTreeMap::new();
        for r in 0..20_000 {
            let row = m.row(r);
            *kinds.entry(row.kind).or_insert(0u64) += 1;
            let f = &row.fields;
            assert!(Charset::Windows1251.encode(&f.join(";")).is_ok(), "{f:?}");
            let inv = m.invoice(m.invoice_of_row(r));
            assert_eq!(inv.cancelled, row.kind == Kind::Cancelled);
            assert_eq!(
                ident::party_id_ok(&f[3], &f[4]),
                row.kind != Kind::BadPayerId,
                "{f:?}"
            );
            if !f[9].is_empty() {
                assert_eq!(
                    ident::account_key_ok(&f[8], &f[9]),
                    row.kind != Kind::BadAccount
                );
            }
            assert_eq!(amount::parse(&f[6]).is_some(), row.kind != Kind::BadAmount);
        }
        let rejected: u64 = kinds
            .iter()
            .filter(|(k, _)| !matches!(k, Kind::Full | Kind::Partial))
            .map(|(_, n)| n)
            .sum();
        assert!((120..=280).contains(&rejected), "{rejected} of 20000");
        assert_eq!(kinds.len(), 11, "every kind occurs: {kinds:?}");
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes() {
        let m = Model::new(Spec::new(300));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let sa = write_registry(&m, &mut a, None).expect("writes");
        let sb = write_registry(&Model::new(Spec::new(300)), &mut b, None).expect("writes");
        assert_eq!(a, b);
        assert_eq!(sa.sha256, sb.sha256);
        assert_eq!(sa.rows, 300);
    }
}
