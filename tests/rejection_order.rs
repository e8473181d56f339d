//! Randomized test of the batch rejection order (agreement §7.1): "When several apply, the first
//! in this order is reported: `B10`, `B09`, `B01`, `B02`, `B03`, `B05`, `B04`, `B06`, `B07`,
//! `B08`."
//!
//! Each case starts from a correct PAY batch (one to five rows in UTF-8, windows-1251 or cp866,
//! with random but allowed layout: entry order, stored or deflated entries, key order and line
//! ends of `control.txt`, manifest line order, the HMAC's optional line end) and injects one to
//! four faults of distinct codes, each of which alone gives its code. Everything the faults do
//! not touch stays right: the manifest lists and hashes the files as written and the HMAC signs
//! the manifest as written, unless the chosen fault is about them. The expected code is the
//! first chosen code in the §7.1 order.
//!
//! Combinations the agreement does not decide, or where one fault would remove what another
//! needs, are handled so:
//! - An entry whose bytes fail (a CRC mismatch, corrupt data, a declared size that differs from
//!   the real bytes: `B01`) together with any `B02`: §7.1 says "`B01` and `B02` are judged as
//!   the archive is read", and a name, a link, an encryption flag or an entry count is seen in
//!   the central directory before any entry's bytes, while a registry line over the limit may be
//!   met before or after the failing entry, so either code is accepted. A truncated archive has
//!   no readable central directory, so it is `B01` whatever `B02` it would hold.
//! - A missing `control.txt` is not combined with a `B06` or `B08` fault (nothing to be
//!   malformed or to declare totals) nor with invalid bytes in the declared encoding (nothing
//!   declares it); a missing `registry.csv` is not combined with `B07` or `B08` nor with a
//!   registry line over the limit; a missing `manifest.sha256` is not combined with `B04` nor
//!   with a wrong or malformed HMAC (only with a missing one); a key left out of `control.txt`
//!   is never `encoding`, `rows` or `amount_total`. A missing file is never listed in the manifest, so "listed but missing" (`B04`) is
//!   never what a `B03` fault makes.
//! - `B09` (an earlier ACK of the batch id) is not combined with a foreign receiver code: the
//!   receiver cannot have acknowledged a batch addressed to another receiver. With an unknown
//!   sender or an unconfigured type, the earlier ACK is made while they were configured, and
//!   the configuration is changed before the faulty archive arrives.
//!
//! `REESTR_ORDER_CASES` sets the number of cases (default 500) and `REESTR_ORDER_SEED` the
//! first seed (the cases use consecutive seeds), so `REESTR_ORDER_CASES=1
//! REESTR_ORDER_SEED=<seed>` replays one case. Every failing case is printed with its seed and
//! faults.

mod common;

use common::batches::key;
use common::rawzip::{raw_entry, rename, set_crc, set_flags, set_usize};
use common::{MUNIS_WITH_KEY, Rx, config_text, control_value, env_u64, sha256_hex};
use reestr::charset::Charset;
use reestr::config::Config;
use reestr::engine::{Engine, Handled};
use reestr::integrity::Key;
use reestr::sample::{PAY_HEADER, Rng, field};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;

/// The §7.1 order of precedence.
const ORDER: [&str; 10] = [
    "B10", "B09", "B01", "B02", "B03", "B05", "B04", "B06", "B07", "B08",
];

/// The receiver's own code (the harness configuration).
const OWN: &str = "SUDBILLING";

/// Business date of every batch (in the archive name).
const DATE: &str = "20261121";

/// `created_at` of the batches; the earlier ACK of a `B09` case uses another value.
const CREATED_AT: &str = "2026-11-22T01:05:00+05:00";

/// One of the files of a correct archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Control,
    Registry,
    Manifest,
    Hmac,
    /// `readme.txt`, present only with [`Fault::ExtraEntry`].
    Readme,
}

impl File {
    /// The entry name.
    fn name(self) -> &'static str {
        match self {
            File::Control => "control.txt",
            File::Registry => "registry.csv",
            File::Manifest => "manifest.sha256",
            File::Hmac => "manifest.sha256.hmac",
            File::Readme => "readme.txt",
        }
    }
}

/// How a manifest is malformed (`B04`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    /// One space between hash and name.
    SingleSpace,
    /// Upper-case hex digits.
    UpperHex,
    /// The last line without its LF.
    NoFinalLf,
    /// CRLF line ends.
    Crlf,
}

/// How the registry header differs from the schema (`B07`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// Two columns swapped.
    Swapped(usize, usize),
    /// One more column at the end.
    Extra,
    /// One column name in another case.
    Case(usize),
}

/// One injected fault; alone, each gives the code [`Fault::code`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Sender `BANKX`, not configured (name and `control.txt` agree).
    SenderNotConfigured,
    /// Receiver `OTHERRX`, not ours (name and `control.txt` agree).
    ReceiverNotOurs,
    /// MUNIS configured for `REV` and `REC` only.
    TypeNotConfigured,
    /// The batch id was acknowledged before, with other content (`created_at`).
    AckedBefore,
    /// The archive cut to this many thousandths of its length.
    Truncated(u64),
    /// The CRC of this entry off by one bit (both headers).
    CrcMismatch(File),
    /// One byte in the middle of this entry's stored or deflated data flipped.
    CorruptData(File),
    /// The declared uncompressed size of this entry one more than its real bytes (both
    /// headers).
    SizeMismatch(File),
    /// An extra entry named `../x`.
    DotDotEntry,
    /// A directory entry `docs/`.
    DirectoryEntry,
    /// A symbolic link `link` to `control.txt`.
    SymlinkEntry,
    /// `max_entries` one below the archive's entry count.
    TooManyEntries,
    /// `max_line_bytes` one below the registry's longest physical line.
    LineTooLong,
    /// The encryption flag set on this entry.
    Encrypted(File),
    /// This required file left out (and not listed in the manifest).
    Missing(File),
    /// An extra `readme.txt`, listed in the manifest and signed.
    ExtraEntry,
    /// No HMAC although MUNIS has a key.
    HmacMissing,
    /// The HMAC made with another key.
    HmacWrong,
    /// The right HMAC in upper-case hex.
    HmacUpperCase,
    /// The manifest line of this file holds another hash.
    HashMismatch(File),
    /// This file has no manifest line.
    NotListed(File),
    /// The manifest lists `notes.txt`, which the archive lacks.
    ListedButAbsent,
    /// The manifest is malformed.
    ManifestMalformed(Malformed),
    /// `control.txt` has an unknown key.
    UnknownKey,
    /// `control.txt` has this line (index into its keys) twice.
    DuplicateKey(usize),
    /// `created_at` is not RFC 3339 (index into [`BAD_CREATED_AT`]).
    BadCreatedAt(usize),
    /// `batch_id` differs from the archive name.
    BatchIdMismatch,
    /// This key (index into [`DROPPABLE_KEYS`]) left out of `control.txt`.
    MissingKey(usize),
    /// The registry header differs from the schema.
    HeaderDiffers(Header),
    /// Bytes invalid in the declared encoding at the start of this row's `payer_name`.
    InvalidBytes(usize),
    /// Text after the closing quote of this row's `payer_name`.
    TextAfterQuote(usize),
    /// `rows` off by this much.
    RowsWrong(i64),
    /// `amount_total` off by this many tiyin.
    AmountWrong(i128),
}

impl Fault {
    /// The code this fault gives alone.
    fn code(self) -> &'static str {
        use Fault::*;
        match self {
            SenderNotConfigured | ReceiverNotOurs | TypeNotConfigured => "B10",
            AckedBefore => "B09",
            Truncated(_) | CrcMismatch(_) | CorruptData(_) | SizeMismatch(_) => "B01",
            DotDotEntry | DirectoryEntry | SymlinkEntry | TooManyEntries | LineTooLong
            | Encrypted(_) => "B02",
            Missing(_) | ExtraEntry => "B03",
            HmacMissing | HmacWrong | HmacUpperCase => "B05",
            HashMismatch(_) | NotListed(_) | ListedButAbsent | ManifestMalformed(_) => "B04",
            UnknownKey | DuplicateKey(_) | BadCreatedAt(_) | BatchIdMismatch | MissingKey(_) => {
                "B06"
            }
            HeaderDiffers(_) | InvalidBytes(_) | TextAfterQuote(_) => "B07",
            RowsWrong(_) | AmountWrong(_) => "B08",
        }
    }

    /// What a message reporting this fault must name (§8: "naming the file, line and field
    /// where that applies"): the file at fault; the archive when it is the archive as a whole;
    /// for `B10` and `B09` what makes the batch unacceptable.
    fn named(self, case: &Case) -> String {
        use Fault::*;
        match self {
            SenderNotConfigured => "BANKX".into(),
            ReceiverNotOurs => "OTHERRX".into(),
            TypeNotConfigured => "PAY".into(),
            AckedBefore => case.batch_id(),
            // The archive as a whole is at fault.
            Truncated(_) | TooManyEntries => "archive".into(),
            CrcMismatch(f) | CorruptData(f) | SizeMismatch(f) | Encrypted(f) | Missing(f)
            | HashMismatch(f) | NotListed(f) => f.name().into(),
            LineTooLong => "registry.csv".into(),
            DotDotEntry => "../x".into(),
            DirectoryEntry => "docs".into(),
            SymlinkEntry => "link".into(),
            ExtraEntry => "readme.txt".into(),
            HmacMissing | HmacWrong | HmacUpperCase => "manifest.sha256.hmac".into(),
            ListedButAbsent => "notes.txt".into(),
            ManifestMalformed(_) => "manifest.sha256".into(),
            UnknownKey | DuplicateKey(_) | BadCreatedAt(_) | BatchIdMismatch | MissingKey(_)
            | RowsWrong(_) | AmountWrong(_) => "control.txt".into(),
            HeaderDiffers(_) | InvalidBytes(_) | TextAfterQuote(_) => "registry.csv".into(),
        }
    }
}

/// Values of `created_at` that are not RFC 3339 with an offset.
const BAD_CREATED_AT: [&str; 4] = [
    "2026-11-22 01:05:00+05:00",
    "2026-11-22T01:05:00",
    "2026-11-22T25:05:00+05:00",
    "22.11.2026 01:05",
];

/// Keys whose absence leaves every other check of the batch possible (not `encoding`, `rows`
/// or `amount_total`, which `B07` and `B08` need).
const DROPPABLE_KEYS: [&str; 5] = ["format", "batch_id", "type", "business_date", "created_at"];

/// One data row: the fields as text.
type Row = Vec<String>;

/// A random case: the correct batch it starts from and the faults injected into it.
#[derive(Debug, Clone)]
struct Case {
    /// The seed it was drawn from.
    seed: u64,
    /// Registry encoding.
    encoding: Charset,
    /// Sequence number in the name.
    seq: String,
    /// The data rows.
    rows: Vec<Row>,
    /// Registry line end.
    registry_crlf: bool,
    /// Whether the registry's last line has its line end.
    final_line_end: bool,
    /// A UTF-8 BOM before the registry (UTF-8 only).
    bom: bool,
    /// `control.txt` line end.
    control_crlf: bool,
    /// Seed of the layout choices (entry order, methods, key and line order).
    layout: u64,
    /// The faults, at most one per code.
    faults: Vec<Fault>,
}

/// Payer names that every encoding holds.
const NAMES: [&str; 5] = [
    "Yo'ldoshev Bekzod",
    "To'xtayeva Malika",
    "G'ulomov Jasur",
    "Тошматов Алишер",
    "Иванова Ольга",
];
/// Payer names only UTF-8 holds (§5 note: ʻ, Қ and Ҳ are in neither single-byte encoding).
const UTF8_NAMES: [&str; 2] = ["Gʻulomov Jasur", "Қодиров Ҳасан"];

/// Purposes, some needing quotes (`;`, `"`, a line break).
const PURPOSES: [&str; 7] = [
    "",
    "Davlat boji",
    "Sud xarajatlari",
    "Суд харажатлари",
    "Boj; 2026",
    "Izoh \"A\"",
    "Birinchi qator\r\nikkinchi",
];

impl Case {
    /// Draws a case from `seed`: 1 to 4 distinct codes, one fault for each.
    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66);
        let encoding = *rng.pick(&[Charset::Utf8, Charset::Windows1251, Charset::Cp866]);
        let seq = if rng.below(2) == 0 {
            "001".to_string()
        } else {
            let len = 3 + rng.below(4) as usize;
            rng.digits(len)
        };
        let templates = common::batches::pay_rows();
        let n = 1 + rng.below(5) as usize;
        let rows: Vec<Row> = (0..n)
            .map(|_| {
                let mut r = rng.pick(&templates).clone();
                r[0] = format!("2{}", rng.digits(13));
                r[1] = format!(
                    "2026-11-21 {:02}:{:02}:{:02}",
                    rng.below(24),
                    rng.below(60),
                    rng.below(60)
                );
                r[5] = if encoding == Charset::Utf8 && rng.below(3) == 0 {
                    rng.pick(&UTF8_NAMES).to_string()
                } else {
                    rng.pick(&NAMES).to_string()
                };
                r[6] = reestr::amount::format(i128::from(100 + rng.below(50_000_000)));
                r[10] = rng.pick(&PURPOSES).to_string();
                r
            })
            .collect();
        let mut case = Case {
            seed,
            encoding,
            seq,
            rows,
            registry_crlf: rng.below(4) != 0,
            final_line_end: rng.below(4) != 0,
            bom: encoding == Charset::Utf8 && rng.below(4) == 0,
            control_crlf: rng.below(2) == 0,
            layout: rng.next_u64(),
            faults: Vec::new(),
        };
        // The codes: a random subset of 1 to 4. B10 and B09 win whenever drawn, so they are
        // drawn half as often, leaving more cases to the order among the others.
        let mut codes: Vec<&str> = ORDER.to_vec();
        codes.retain(|c| !matches!(*c, "B10" | "B09") || rng.below(2) == 0);
        shuffle(&mut rng, &mut codes);
        codes.truncate(1 + rng.below(4) as usize);
        let has = |c: &str| codes.contains(&c);
        // B03 first: what it leaves out limits the others.
        if has("B03") {
            let mut options = vec![Fault::ExtraEntry];
            if !has("B06") && !has("B08") {
                options.push(Fault::Missing(File::Control));
            }
            if !has("B07") && !has("B08") {
                options.push(Fault::Missing(File::Registry));
            }
            if !has("B04") {
                options.push(Fault::Missing(File::Manifest));
            }
            case.faults.push(*rng.pick(&options));
        }
        let missing = |c: &Case, f: File| c.faults.contains(&Fault::Missing(f));
        if has("B05") {
            let f = if missing(&case, File::Manifest) {
                Fault::HmacMissing
            } else {
                *rng.pick(&[Fault::HmacMissing, Fault::HmacWrong, Fault::HmacUpperCase])
            };
            case.faults.push(f);
        }
        if has("B10") {
            let mut options = vec![Fault::SenderNotConfigured, Fault::TypeNotConfigured];
            if !has("B09") {
                options.push(Fault::ReceiverNotOurs);
            }
            case.faults.push(*rng.pick(&options));
        }
        if has("B09") {
            case.faults.push(Fault::AckedBefore);
        }
        // The regular files the archive will hold, for faults aimed at one of them.
        let present = case.regular_files();
        let listed: Vec<File> = [File::Control, File::Registry]
            .into_iter()
            .filter(|f| present.contains(f))
            .collect();
        if has("B01") {
            let target = *rng.pick(&present);
            let options = [
                Fault::Truncated(100 + rng.below(850)),
                Fault::CrcMismatch(target),
                Fault::CorruptData(target),
                Fault::SizeMismatch(target),
            ];
            case.faults.push(*rng.pick(&options));
        }
        if has("B02") {
            let mut options = vec![
                Fault::DotDotEntry,
                Fault::DirectoryEntry,
                Fault::SymlinkEntry,
                Fault::TooManyEntries,
                Fault::Encrypted(*rng.pick(&present)),
            ];
            if present.contains(&File::Registry) {
                options.push(Fault::LineTooLong);
            }
            case.faults.push(*rng.pick(&options));
        }
        if has("B04") {
            let malformed = [
                Malformed::SingleSpace,
                Malformed::UpperHex,
                Malformed::NoFinalLf,
                Malformed::Crlf,
            ];
            let options = [
                Fault::HashMismatch(*rng.pick(&listed)),
                Fault::NotListed(*rng.pick(&listed)),
                Fault::ListedButAbsent,
                Fault::ManifestMalformed(*rng.pick(&malformed)),
            ];
            case.faults.push(*rng.pick(&options));
        }
        if has("B06") {
            let options = [
                Fault::UnknownKey,
                Fault::DuplicateKey(rng.below(10) as usize),
                Fault::BadCreatedAt(rng.below(BAD_CREATED_AT.len() as u64) as usize),
                Fault::BatchIdMismatch,
                Fault::MissingKey(rng.below(DROPPABLE_KEYS.len() as u64) as usize),
            ];
            case.faults.push(*rng.pick(&options));
        }
        if has("B07") {
            let row = rng.below(n as u64) as usize;
            let i = rng.below(11) as usize;
            let j = (i + 1 + rng.below(10) as usize) % 11;
            let k = rng.below(11) as usize;
            let header = *rng.pick(&[Header::Swapped(i, j), Header::Extra, Header::Case(k)]);
            let mut options = vec![Fault::HeaderDiffers(header), Fault::TextAfterQuote(row)];
            // cp866 defines every byte; a missing control.txt declares no encoding.
            if encoding != Charset::Cp866 && !missing(&case, File::Control) {
                options.push(Fault::InvalidBytes(row));
            }
            case.faults.push(*rng.pick(&options));
        }
        if has("B08") {
            let f = if rng.below(2) == 0 {
                Fault::RowsWrong(*rng.pick(&[1, -1, 2]))
            } else {
                Fault::AmountWrong(*rng.pick(&[1, -1, 100, 100_000]))
            };
            case.faults.push(f);
        }
        case
    }

    /// The case without faults, as first acknowledged in a `B09` case.
    fn without_faults(&self) -> Self {
        Self {
            faults: Vec::new(),
            ..self.clone()
        }
    }

    /// The batch first acknowledged in a `B09` case: the same parties (an unknown sender was
    /// configured then), no other fault.
    fn earlier(&self) -> Self {
        Self {
            faults: self
                .faults
                .iter()
                .copied()
                .filter(|&f| f == Fault::SenderNotConfigured)
                .collect(),
            ..self.clone()
        }
    }

    /// Whether this fault was injected.
    fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }

    /// Whether a fault of this code was injected.
    fn has_code(&self, code: &str) -> bool {
        self.faults.iter().any(|f| f.code() == code)
    }

    /// The regular files the archive holds (the `B02` entries aside).
    fn regular_files(&self) -> Vec<File> {
        [
            File::Control,
            File::Registry,
            File::Manifest,
            File::Hmac,
            File::Readme,
        ]
        .into_iter()
        .filter(|&f| match f {
            File::Hmac => !self.has(Fault::HmacMissing),
            File::Readme => self.has(Fault::ExtraEntry),
            f => !self.has(Fault::Missing(f)),
        })
        .collect()
    }

    /// Sender code.
    fn sender(&self) -> &'static str {
        if self.has(Fault::SenderNotConfigured) {
            "BANKX"
        } else {
            "MUNIS"
        }
    }

    /// Receiver code.
    fn receiver(&self) -> &'static str {
        if self.has(Fault::ReceiverNotOurs) {
            "OTHERRX"
        } else {
            OWN
        }
    }

    /// The batch id (the archive name without `.zip`).
    fn batch_id(&self) -> String {
        format!(
            "{}_{}_PAY_{DATE}_{}",
            self.sender(),
            self.receiver(),
            self.seq
        )
    }

    /// The archive name.
    fn file_name(&self) -> String {
        format!("{}.zip", self.batch_id())
    }

    /// The name of the response (§8).
    fn response_name(&self) -> String {
        format!("{OWN}_{}_PAY_{DATE}_{}_NAK.zip", self.sender(), self.seq)
    }

    /// The codes §7.1 allows for this case: the first chosen code in its order, and also
    /// `B02` when a CRC mismatch meets a `B02` fault (both judged as the archive is read).
    fn expected(&self) -> Vec<&'static str> {
        let first = ORDER
            .into_iter()
            .find(|c| self.has_code(c))
            .expect("at least one fault");
        let mut codes = vec![first];
        let read = self.faults.iter().any(|f| {
            matches!(
                f,
                Fault::CrcMismatch(_) | Fault::CorruptData(_) | Fault::SizeMismatch(_)
            )
        });
        if first == "B01" && read && self.has_code("B02") {
            codes.push("B02");
        }
        codes
    }

    /// The configuration the faulty archive meets.
    fn config(&self, built: &Built) -> String {
        let mut partners = MUNIS_WITH_KEY.to_string();
        if self.has(Fault::TypeNotConfigured) {
            partners.push_str("types = [\"REV\", \"REC\"]\n");
        }
        partners.push_str("[limits]\n");
        if self.has(Fault::TooManyEntries) {
            partners.push_str(&format!("max_entries = {}\n", built.entries - 1));
        }
        if self.has(Fault::LineTooLong) {
            partners.push_str(&format!("max_line_bytes = {}\n", built.longest_line - 1));
        }
        config_text(&partners)
    }

    /// The configuration of the earlier ACK of a `B09` case: the sender and the type
    /// configured, default limits.
    fn earlier_config(&self) -> String {
        let mut partners = MUNIS_WITH_KEY.to_string();
        if self.has(Fault::SenderNotConfigured) {
            partners.push_str("[partners.BANKX]\nkey_file = \"MUNIS.key\"\n");
        }
        config_text(&partners)
    }

    /// The registry bytes, with the `B07` fault if chosen.
    fn registry(&self) -> Vec<u8> {
        let enc = |s: &str| {
            self.encoding
                .encode(s)
                .unwrap_or_else(|c| panic!("{c:?} not in {:?}", self.encoding))
        };
        let eol: &[u8] = if self.registry_crlf { b"\r\n" } else { b"\n" };
        let mut out = Vec::new();
        if self.bom {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        let mut header: Vec<String> = PAY_HEADER.iter().map(|s| s.to_string()).collect();
        for f in &self.faults {
            match *f {
                Fault::HeaderDiffers(Header::Swapped(i, j)) => header.swap(i, j),
                Fault::HeaderDiffers(Header::Extra) => header.push("note".into()),
                Fault::HeaderDiffers(Header::Case(i)) => header[i] = header[i].to_uppercase(),
                _ => {}
            }
        }
        out.extend_from_slice(header.join(";").as_bytes());
        for (n, row) in self.rows.iter().enumerate() {
            out.extend_from_slice(eol);
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    out.push(b';');
                }
                let mut text = field(value);
                if i == 5 && self.has(Fault::TextAfterQuote(n)) {
                    text = format!("\"{value}\"x");
                }
                if i == 5 && self.has(Fault::InvalidBytes(n)) {
                    out.extend_from_slice(match self.encoding {
                        Charset::Windows1251 => b"\x98",
                        _ => b"\xC0\xAF",
                    });
                }
                out.extend_from_slice(&enc(&text));
            }
        }
        if self.final_line_end {
            out.extend_from_slice(eol);
        }
        out
    }

    /// `control.txt`, with the `B06` and `B08` faults if chosen, and its `created_at`.
    fn control(&self, created_at: &str, rng: &mut Rng) -> Vec<u8> {
        let mut rows = self.rows.len() as i64;
        let mut total: i128 = self
            .rows
            .iter()
            .map(|r| reestr::amount::parse(&r[6]).map_or(0, i128::from))
            .sum();
        let mut batch_id = self.batch_id();
        let mut created_at = created_at.to_string();
        for f in &self.faults {
            match *f {
                Fault::RowsWrong(d) => rows += d,
                Fault::AmountWrong(d) => total += d,
                Fault::BadCreatedAt(i) => created_at = BAD_CREATED_AT[i].into(),
                Fault::BatchIdMismatch => {
                    let other = format!(
                        "{:0w$}",
                        self.seq.parse::<u64>().unwrap_or(0) + 1,
                        w = self.seq.len()
                    );
                    batch_id = format!("{}_{}_PAY_{DATE}_{other}", self.sender(), self.receiver());
                }
                _ => {}
            }
        }
        let mut lines: Vec<String> = vec![
            "format=munis-offline/1".into(),
            format!("batch_id={batch_id}"),
            "type=PAY".into(),
            format!("sender={}", self.sender()),
            format!("receiver={}", self.receiver()),
            "business_date=2026-11-21".into(),
            format!("created_at={created_at}"),
            format!("encoding={}", self.encoding.as_str()),
            format!("rows={rows}"),
            format!("amount_total={}", reestr::amount::format(total)),
        ];
        for f in &self.faults {
            if let Fault::MissingKey(k) = *f {
                let prefix = format!("{}=", DROPPABLE_KEYS[k]);
                lines.retain(|l| !l.starts_with(&prefix));
            }
        }
        if rng.below(2) == 0 {
            shuffle(rng, &mut lines);
        }
        for f in &self.faults {
            match *f {
                Fault::UnknownKey => {
                    let at = rng.below(lines.len() as u64 + 1) as usize;
                    lines.insert(at, "comment=x".into());
                }
                Fault::DuplicateKey(i) => {
                    let at = rng.below(lines.len() as u64 + 1) as usize;
                    let line = lines[i].clone();
                    lines.insert(at, line);
                }
                _ => {}
            }
        }
        if rng.below(4) == 0 {
            let at = rng.below(lines.len() as u64 + 1) as usize;
            lines.insert(at, String::new());
        }
        let eol = if self.control_crlf { "\r\n" } else { "\n" };
        lines
            .iter()
            .map(|l| format!("{l}{eol}"))
            .collect::<String>()
            .into_bytes()
    }

    /// The archive of this case with this `created_at`.
    fn archive(&self, created_at: &str) -> Built {
        let mut rng = Rng::new(self.layout);
        let control = self.control(created_at, &mut rng);
        let registry = self.registry();
        let readme = b"read me\n".to_vec();
        let bytes_of = |f: File| -> &[u8] {
            match f {
                File::Control => &control,
                File::Registry => &registry,
                _ => &readme,
            }
        };
        let regular = self.regular_files();

        // The manifest: a line per listed file, in random order, then its fault.
        let mut listed: Vec<File> = [File::Control, File::Registry, File::Readme]
            .into_iter()
            .filter(|f| regular.contains(f) && !self.has(Fault::NotListed(*f)))
            .collect();
        shuffle(&mut rng, &mut listed);
        let mut lines: Vec<String> = listed
            .iter()
            .map(|&f| {
                let mut bytes = bytes_of(f).to_vec();
                if self.has(Fault::HashMismatch(f)) {
                    bytes.push(b'x');
                }
                format!("{}  {}\n", sha256_hex(&bytes), f.name())
            })
            .collect();
        if self.has(Fault::ListedButAbsent) {
            let at = rng.below(lines.len() as u64 + 1) as usize;
            lines.insert(at, format!("{}  notes.txt\n", sha256_hex(b"notes")));
        }
        let mut manifest = lines.concat();
        for f in &self.faults {
            if let Fault::ManifestMalformed(m) = *f {
                manifest = match m {
                    Malformed::SingleSpace => manifest.replace("  ", " "),
                    Malformed::UpperHex => manifest
                        .lines()
                        .map(|l| format!("{}{}\n", l[..64].to_uppercase(), &l[64..]))
                        .collect(),
                    Malformed::NoFinalLf => manifest[..manifest.len() - 1].to_string(),
                    Malformed::Crlf => manifest.replace('\n', "\r\n"),
                };
            }
        }
        let hmac_key = if self.has(Fault::HmacWrong) {
            Key([7; 32])
        } else {
            key()
        };
        let hmac_end = *rng.pick(&["\n", "\r\n", ""]);
        let mut tag = hmac_key.sign(manifest.as_bytes());
        if self.has(Fault::HmacUpperCase) {
            tag = tag.to_uppercase();
        }
        let hmac = format!("{tag}{hmac_end}");

        /// What an entry is.
        enum Kind {
            Bytes(Vec<u8>),
            Dir,
            Link(&'static str),
        }
        // The entries, in random order, the B02 ones among them.
        let mut entries: Vec<(String, Kind)> = regular
            .iter()
            .map(|&f| {
                let bytes = match f {
                    File::Manifest => manifest.clone().into_bytes(),
                    File::Hmac => hmac.clone().into_bytes(),
                    f => bytes_of(f).to_vec(),
                };
                (f.name().to_string(), Kind::Bytes(bytes))
            })
            .collect();
        shuffle(&mut rng, &mut entries);
        let extra = if self.has(Fault::DotDotEntry) {
            Some(("ZZZZ".to_string(), Kind::Bytes(b"x".to_vec())))
        } else if self.has(Fault::DirectoryEntry) {
            Some(("docs/".to_string(), Kind::Dir))
        } else if self.has(Fault::SymlinkEntry) {
            Some(("link".to_string(), Kind::Link("control.txt")))
        } else {
            None
        };
        if let Some(e) = extra {
            let at = rng.below(entries.len() as u64 + 1) as usize;
            entries.insert(at, e);
        }
        let count = entries.len();

        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let t = zip::DateTime::from_date_and_time(2026, 11, 22, 1, 5, 0).expect("time");
        for (name, kind) in &entries {
            // An empty stored entry has no byte to corrupt (an empty manifest, when the only
            // file is not listed): deflated, it has two.
            let empty = matches!(kind, Kind::Bytes(b) if b.is_empty());
            let corrupt = self
                .faults
                .iter()
                .any(|f| matches!(f, Fault::CorruptData(t) if t.name() == name));
            let method = if rng.below(3) == 0 && !(empty && corrupt) {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            let opts = SimpleFileOptions::default()
                .compression_method(method)
                .last_modified_time(t);
            match kind {
                Kind::Bytes(b) => {
                    z.start_file(name.as_str(), opts).expect("start");
                    z.write_all(b).expect("write");
                }
                Kind::Dir => z.add_directory(name.as_str(), opts).expect("directory"),
                Kind::Link(target) => z.add_symlink(name.as_str(), *target, opts).expect("link"),
            }
        }
        let mut z = z.finish().expect("zip").into_inner();

        // Faults in the zip structure; the truncation last.
        if self.has(Fault::DotDotEntry) {
            rename(&mut z, "ZZZZ", b"../x");
        }
        for f in &self.faults {
            match *f {
                Fault::CrcMismatch(f) => set_crc(&mut z, f.name(), |c| c ^ 1),
                Fault::SizeMismatch(f) => set_usize(&mut z, f.name(), |n| n + 1),
                Fault::CorruptData(f) => {
                    let r = raw_entry(&z, f.name());
                    let at = r.data_start(&z) + r.csize(&z) / 2;
                    z[at] ^= 0x5A;
                }
                Fault::Encrypted(f) => set_flags(&mut z, f.name(), |g| g | 1),
                _ => {}
            }
        }
        for f in &self.faults {
            if let Fault::Truncated(permille) = *f {
                let keep = (z.len() as u64 * permille / 1000) as usize;
                z.truncate(keep.min(z.len() - 23));
            }
        }
        // The longest physical registry line without its line end (a leading BOM left out,
        // so that the limit below it is exceeded however the BOM is counted).
        let body = registry
            .strip_prefix("\u{feff}".as_bytes())
            .unwrap_or(&registry);
        let longest_line = body
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
            .max()
            .unwrap_or(0);
        Built {
            bytes: z,
            entries: count,
            longest_line,
        }
    }
}

/// An archive as built, with what the configuration of its case depends on.
struct Built {
    /// The archive bytes.
    bytes: Vec<u8>,
    /// Its number of entries.
    entries: usize,
    /// The registry's longest physical line, in bytes, without its line end.
    longest_line: usize,
}

/// Fisher–Yates shuffle with the case's generator.
fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// Runs one case on a fresh receiver: for `B09`, first the faultless batch (other
/// `created_at`) under [`Case::earlier_config`], then the faulty archive under
/// [`Case::config`]. Returns what happened to the faulty archive and the receiver.
fn run(case: &Case) -> (Handled, Rx) {
    let built = case.archive(CREATED_AT);
    let config = case.config(&built);
    let mut rx = if case.has(Fault::AckedBefore) {
        let mut rx = Rx::with(&case.earlier_config());
        let earlier = case.earlier().archive("2026-11-22T02:00:00+05:00");
        let h = rx.process(&case.file_name(), &earlier.bytes);
        assert_eq!(
            (h.result.as_str(), h.code.as_deref()),
            ("ACK", None),
            "seed {}: the earlier batch should be acknowledged: {:?}",
            case.seed,
            h.message
        );
        // The configuration changes: the old engine goes before the new one opens.
        let Rx { dir, engine } = rx;
        drop(engine);
        let path = dir.path().join("reestr.toml");
        std::fs::write(&path, &config).expect("config");
        let engine = Engine::open(Config::load(&path).expect("config loads")).expect("open");
        Rx { dir, engine }
    } else {
        Rx::with(&config)
    };
    let h = rx.process(&case.file_name(), &built.bytes);
    (h, rx)
}

/// Judges one case; returns a description of what is wrong, if anything.
fn judge(case: &Case) -> Option<String> {
    let expected = case.expected();
    let (h, rx) = run(case);
    let got = h.code.as_deref().unwrap_or("-");
    let message = h.message.clone().unwrap_or_default();
    let describe = |what: &str| {
        format!(
            "seed {} ({:?}, {} rows): faults {:?}: {what}; expected {} got {} {}: {message:?}",
            case.seed,
            case.encoding,
            case.rows.len(),
            case.faults,
            expected.join(" or "),
            h.result,
            got,
        )
    };
    if h.result != "NAK" || !expected.contains(&got) {
        return Some(describe("wrong answer"));
    }
    let want = case.response_name();
    if h.response.as_deref() != Some(want.as_str()) {
        return Some(describe(&format!("response {:?}, not {want}", h.response)));
    }
    let control = rx.response_control(&want);
    let sent = control_value(&control, "message").unwrap_or_default();
    if control_value(&control, "result").as_deref() != Some("NAK")
        || control_value(&control, "error").as_deref() != Some(got)
        || sent.is_empty()
    {
        return Some(describe(&format!("response control.txt:\n{control}")));
    }
    // The message names what is at fault: the fault of the reported code.
    let fault = case
        .faults
        .iter()
        .find(|f| f.code() == got)
        .expect("a fault of the reported code");
    let named = fault.named(case);
    if !message.contains(&named) || !sent.contains(&named) {
        return Some(describe(&format!("message does not name {named:?}")));
    }
    None
}

/// Number of cases and first seed, from the environment.
fn cases() -> (u64, u64) {
    (
        env_u64("REESTR_ORDER_CASES", 500),
        env_u64("REESTR_ORDER_SEED", 1),
    )
}

/// Runs the seeds `first..first+n` on all cores; returns the failures in seed order.
fn run_all(first: u64, n: u64, each: impl Fn(u64) -> Option<String> + Sync) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let mut failures: Vec<(u64, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let each = &each;
                s.spawn(move || {
                    (first..first + n)
                        .filter(|seed| seed % threads == t)
                        .filter_map(|seed| {
                            let outcome =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    each(seed)
                                }));
                            let failure = outcome.unwrap_or_else(|p| {
                                let what = p
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_default();
                                Some(format!(
                                    "seed {seed}: {:?}: panicked: {what}",
                                    Case::random(seed).faults
                                ))
                            });
                            failure.map(|f| (seed, f))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    failures.sort();
    failures.into_iter().map(|(_, f)| f).collect()
}

#[test]
fn the_first_fault_in_the_agreed_order_is_reported() {
    let (n, first) = cases();
    let failures = run_all(first, n, |seed| judge(&Case::random(seed)));
    for f in &failures {
        eprintln!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed (seeds {first}..{}); first: {}",
        failures.len(),
        first + n,
        failures[0]
    );
}

#[test]
fn the_batches_the_faults_start_from_are_acknowledged() {
    // Without faults, every drawn batch is correct: a wrong answer in the test above comes
    // from the faults, not from the batch they were put into.
    let (n, first) = cases();
    let failures = run_all(first, n.min(100), |seed| {
        let case = Case::random(seed).without_faults();
        let built = case.archive(CREATED_AT);
        let mut rx = Rx::with(&case.config(&built));
        let h = rx.process(&case.file_name(), &built.bytes);
        (h.result != "ACK").then(|| format!("seed {seed}: {case:?}: {:?} {:?}", h.code, h.message))
    });
    for f in &failures {
        eprintln!("{f}");
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn every_code_and_every_pair_of_codes_is_drawn() {
    // The default run covers each code alone and each pair of codes.
    let (n, first) = cases();
    let mut seen = std::collections::BTreeSet::new();
    for seed in first..first + n {
        let case = Case::random(seed);
        let mut codes: Vec<&str> = case.faults.iter().map(|f| f.code()).collect();
        codes.sort();
        for a in &codes {
            for b in &codes {
                seen.insert((*a, *b));
            }
        }
    }
    let missing: Vec<_> = ORDER
        .iter()
        .flat_map(|a| ORDER.iter().map(move |b| (*a, *b)))
        .filter(|p| p.0 <= p.1 && !seen.contains(p))
        .collect();
    assert!(missing.is_empty(), "never drawn: {missing:?}");
}
