//! Property tests (issue 4, "Hostile and broken input"): the validators and the amount and
//! date parsers never panic on any input; parse → format round-trips; a valid row stays valid
//! when re-encoded in each supported encoding; the dialect reader reads back what the sender's
//! quoting writes; the packed invoice table of large batches agrees with a plain map.
//!
//! Case counts are modest so the file runs in seconds in a debug build; raise them for a longer
//! search with `PROPTEST_CASES=10000 cargo test --test properties`.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use proptest::prelude::*;
use reestr::amount;
use reestr::charset::Charset;
use reestr::control;
use reestr::dialect::RecordReader;
use reestr::ident;
use reestr::name::BatchName;
use reestr::sample::{self, Rng};
use reestr::schema::{self, Schemas};
use reestr::validate::{self, Context};
use std::sync::LazyLock;

static SCHEMAS: LazyLock<Schemas> =
    LazyLock::new(|| Schemas::built_in().expect("built-in schemas load"));

/// The reference batch's context: created 2026-11-22 01:05 Tashkent, business date 2026-11-21.
fn ctx() -> Context {
    Context {
        created_at: DateTime::parse_from_rfc3339("2026-11-22T01:05:00+05:00")
            .expect("fixed created_at"),
        business_date: NaiveDate::from_ymd_opt(2026, 11, 21).expect("fixed date"),
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        ..ProptestConfig::default()
    }
}

/// Strings that look like the thing under test as often as not: from the given pattern, or
/// anything at all.
fn text_like(pattern: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(pattern).expect("pattern"),
        any::<String>(),
    ]
}

// ------------------------------------------------------------------------------------ amounts

/// The canonical form of a well-formed amount: leading zeros of the so'm part dropped, at
/// least one digit kept. `format(parse(s))` is this, and equals `s` exactly when `s` has no
/// leading zero ("00.10" formats as "0.10").
fn canonical_amount(s: &str) -> String {
    let (int, frac) = s.split_once('.').expect("has a point");
    let int = int.trim_start_matches('0');
    format!("{}.{frac}", if int.is_empty() { "0" } else { int })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn amount_parse_never_panics(s in text_like("[0-9.+ -]{0,20}")) {
        let v = amount::parse(&s);
        let t = amount::parse_total(&s);
        if let Some(v) = v {
            // Every amount is also a valid control total, of the same value.
            prop_assert_eq!(t, Some(i128::from(v)));
            prop_assert!(v >= 0);
        }
    }

    #[test]
    fn well_formed_amounts_format_back_to_their_canonical_text(
        s in "[0-9]{1,13}\\.[0-9]{2}"
    ) {
        let v = amount::parse(&s);
        prop_assert!(v.is_some(), "{} must parse", s);
        let f = amount::format(i128::from(v.unwrap_or_default()));
        prop_assert_eq!(&f, &canonical_amount(&s));
        let no_leading_zero = !s.starts_with('0') || s.starts_with("0.");
        prop_assert_eq!(f == s, no_leading_zero);
        // And the canonical text parses to the same value.
        prop_assert_eq!(amount::parse(&f), v);
    }

    #[test]
    fn formatted_amounts_parse_back(v in 0i64..=999_999_999_999_999) {
        let s = amount::format(i128::from(v));
        prop_assert_eq!(amount::parse(&s), Some(v));
        prop_assert_eq!(amount::parse_total(&s), Some(i128::from(v)));
    }

    #[test]
    fn amounts_out_of_range_or_negative_do_not_parse(v in any::<i64>()) {
        let s = amount::format(i128::from(v));
        let in_range = (0..=999_999_999_999_999).contains(&v);
        prop_assert_eq!(amount::parse(&s).is_some(), in_range, "{}", s);
    }

    #[test]
    fn formatted_totals_parse_back(v in 0i128..=10i128.pow(32) - 1) {
        prop_assert_eq!(amount::parse_total(&amount::format(v)), Some(v));
    }
}

// ---------------------------------------------------------------------------------- datetimes

/// An independent oracle for `YYYY-MM-DD HH:MM:SS`: the digits form a real calendar date and a
/// time of day within 00:00:00..=23:59:59.
fn datetime_oracle(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if (b[4], b[7], b[10], b[13], b[16]) != (b'-', b'-', b' ', b':', b':') {
        return None;
    }
    // Year 0000 is not a calendar year (README, decisions).
    let year = num(0..4).filter(|y| *y > 0)?;
    let date = NaiveDate::from_ymd_opt(year as i32, num(5..7)?, num(8..10)?)?;
    let time = NaiveTime::from_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(date.and_time(time))
}

fn any_datetime() -> impl Strategy<Value = NaiveDateTime> {
    // Years 0001 to 9999, any second of the day.
    (0i64..3_652_059 - 366, 0u32..86_400).prop_map(|(days, secs)| {
        let d = NaiveDate::from_ymd_opt(1, 1, 1).expect("year 1") + Duration::days(days);
        let t = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).expect("in a day");
        d.and_time(t)
    })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn parse_datetime_never_panics_and_agrees_with_the_calendar(
        s in prop_oneof![
            text_like("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"),
            // Parts just around their ranges: month 13, day 32, hour 24, second 60...
            (0u32..=9999, 0u32..=13, 0u32..=32, 0u32..=25, 0u32..=61, 0u32..=61).prop_map(
                |(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            ),
        ]
    ) {
        let got = schema::parse_datetime(&s);
        prop_assert_eq!(got, datetime_oracle(&s), "{:?}", s);
        if let Some(d) = got {
            // parse → format round-trips.
            prop_assert_eq!(d.format("%Y-%m-%d %H:%M:%S").to_string(), s);
        }
    }

    #[test]
    fn every_valid_datetime_round_trips(d in any_datetime()) {
        let s = d.format("%Y-%m-%d %H:%M:%S").to_string();
        prop_assert_eq!(s.len(), 19);
        prop_assert_eq!(schema::parse_datetime(&s), Some(d));
    }
}

// ------------------------------------------------------------------------------------ control

/// Control-record-like text: lines of known and unknown keys with plausible or arbitrary
/// values, joined with LF or CRLF.
fn control_like() -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        Just("format"),
        Just("batch_id"),
        Just("type"),
        Just("sender"),
        Just("receiver"),
        Just("business_date"),
        Just("created_at"),
        Just("encoding"),
        Just("rows"),
        Just("amount_total"),
        Just("extra"),
        Just(""),
    ];
    let value = prop_oneof![
        Just("munis-offline/1".to_string()),
        Just("MUNIS_SUDBILLING_PAY_20261121_001".to_string()),
        Just("PAY".to_string()),
        Just("MUNIS".to_string()),
        Just("SUDBILLING".to_string()),
        Just("2026-11-21".to_string()),
        Just("2026-11-22T01:05:00+05:00".to_string()),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?",
        Just("utf-8".to_string()),
        "[0-9]{0,25}",
        "[0-9]{1,32}\\.[0-9]{1,3}",
        any::<String>(),
    ];
    let line = (key, value, prop_oneof![Just("="), Just(" = "), Just("")])
        .prop_map(|(k, v, eq)| format!("{k}{eq}{v}"));
    (
        proptest::collection::vec(line, 0..14),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(lines, end)| {
            let mut s = lines.join(end);
            s.push_str(end);
            s.into_bytes()
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn control_parse_never_panics(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..400).boxed(),
            control_like().boxed(),
        ]
    ) {
        let name = BatchName::parse("MUNIS_SUDBILLING_PAY_20261121_001.zip").expect("name");
        let line = control::created_at_line(&bytes);
        if let Some(v) = &line {
            prop_assert!(control::parse_rfc3339(v).is_some());
        }
        match control::parse(&bytes, &name) {
            Ok(c) => prop_assert_eq!(line.as_deref(), Some(c.created_at_text.as_str())),
            Err(m) => prop_assert!(m.starts_with("control.txt") && !m.contains('\n'), "{}", m),
        }
    }

    #[test]
    fn a_generated_control_record_parses(rows in 0u64..1_000_000, total in 0i128..10i128.pow(20)) {
        let mut b = sample::Batch::new(
            reestr::name::BatchType::PAY, "001", Charset::Cp866, &sample::PAY_HEADER, &[], 6,
        );
        b.rows = rows;
        b.amount_total = total;
        let name = BatchName::parse(&b.file_name()).expect("name");
        let c = control::parse(&b.control(), &name);
        prop_assert!(c.is_ok(), "{:?}", c);
        let c = c.expect("checked");
        prop_assert_eq!((c.rows, c.amount_total, c.encoding), (rows, total, Charset::Cp866));
    }
}

// -------------------------------------------------------------------------------- identifiers

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn identifier_checks_never_panic(
        a in text_like("[0-9]{5,20}"),
        b in text_like("[0-9]{9,20}"),
    ) {
        let _ = ident::pinfl_ok(&a);
        let _ = ident::tin_ok(&a);
        let _ = ident::party_id_ok(&b, &a);
        let _ = ident::account_key_ok(&a, &b);
        let _ = ident::account_key_ok(&b, &a);
    }

    #[test]
    fn sample_generators_make_valid_identifiers(seed in any::<u64>(), mfo in "[0-9]{5}") {
        let mut rng = Rng::new(seed);
        let p = sample::pinfl(&mut rng);
        prop_assert!(ident::pinfl_ok(&p), "PINFL {}", p);
        prop_assert!(ident::party_id_ok("P", &p) && !ident::party_id_ok("J", &p));
        let t = sample::tin(&mut rng);
        prop_assert!(ident::tin_ok(&t), "TIN {}", t);
        prop_assert!(ident::party_id_ok("J", &t) && !ident::party_id_ok("P", &t));
        let a = sample::account(&mfo, &mut rng);
        prop_assert!(ident::account_key_ok(&mfo, &a), "account {} for {}", a, mfo);
    }

    #[test]
    fn any_single_digit_change_breaks_a_pinfl(seed in any::<u64>(), pos in 0usize..14, d in 1u8..10) {
        // Weights 7, 3, 1 are prime to 10, so the check digit catches every one-digit change.
        let p = sample::pinfl(&mut Rng::new(seed)).into_bytes();
        let mut q = p.clone();
        q[pos] = b'0' + (p[pos] - b'0' + d) % 10;
        let q = String::from_utf8(q).expect("digits");
        prop_assert!(!ident::pinfl_ok(&q), "{} still valid", q);
    }

    #[test]
    fn only_one_key_digit_fits_an_account(seed in any::<u64>(), mfo in "[0-9]{5}", d in 1u8..10) {
        let a = sample::account(&mfo, &mut Rng::new(seed)).into_bytes();
        let mut b = a.clone();
        b[8] = b'0' + (a[8] - b'0' + d) % 10;
        let b = String::from_utf8(b).expect("digits");
        prop_assert!(!ident::account_key_ok(&mfo, &b));
    }
}

// ------------------------------------------------------------------------------------ rows

/// A field that is often plausible for some column and sometimes anything.
fn any_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,22}",
        "[0-9]{1,14}\\.[0-9]{1,3}",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-9]{2}",
        prop_oneof![
            Just("P"),
            Just("J"),
            Just("860"),
            Just("PAID"),
            Just("REVERSED"),
            Just("OPEN"),
            Just("CANCELLED"),
            Just("31210932040247"),
            Just("00014"),
            Just("23402000300100001010"),
        ]
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn check_row_never_panics(fields in proptest::collection::vec(any_field(), 0..14)) {
        let s = &*SCHEMAS;
        for schema in [&s.pay, &s.rev, &s.rec, &s.invoices] {
            match validate::check_row(schema, &ctx(), &fields) {
                Ok(values) => prop_assert_eq!(values.len(), fields.len()),
                Err(f) => {
                    prop_assert!(f.field.is_none_or(|i| i < fields.len()));
                    prop_assert!(!f.message.contains(['\r', '\n']));
                    if f.field.is_none() {
                        prop_assert_ne!(fields.len(), schema.fields.len());
                    }
                }
            }
        }
    }
}

/// Letters present in utf-8, windows-1251 and cp866: Latin, Russian and the Uzbek Cyrillic
/// letters those code pages hold (Ў ў Ё ё), with the Uzbek Latin apostrophe written `'`.
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\
АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюяЎў";

fn name_text(max: usize) -> impl Strategy<Value = String> {
    let letters: Vec<char> = LETTERS.chars().collect();
    let ch = prop_oneof![
        8 => proptest::sample::select(letters),
        1 => proptest::sample::select(vec![' ', '\'', '"', '-', '.', ',', ';', '№', '0', '7']),
        1 => proptest::sample::select(vec!['\r', '\n']),
    ];
    proptest::collection::vec(ch, 1..=max).prop_map(|v| v.into_iter().collect())
}

/// A PAY row that is valid for the reference context, built with the sample helpers.
fn valid_pay_row() -> impl Strategy<Value = Vec<String>> {
    (
        "[0-9]{12,20}",
        (0u32..325, 0u32..86_400),
        "[0-9]{20}",
        any::<(u64, bool)>(),
        name_text(60),
        1i64..=999_999_999_999_999,
        "[0-9]{5}",
        any::<bool>(),
        prop_oneof![Just(String::new()), name_text(120)],
    )
        .prop_map(
            |(id, (day, secs), invoice, (seed, legal), name, amt, mfo, acc, purpose)| {
                let mut rng = Rng::new(seed);
                let at = NaiveDate::from_yo_opt(2026, 1 + day)
                    .expect("day of 2026")
                    .and_time(
                        NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).expect("time"),
                    );
                let (t, payer) = if legal {
                    ("J", sample::tin(&mut rng))
                } else {
                    ("P", sample::pinfl(&mut rng))
                };
                let account = if acc {
                    sample::account(&mfo, &mut rng)
                } else {
                    String::new()
                };
                vec![
                    id,
                    at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    invoice,
                    t.into(),
                    payer,
                    name,
                    amount::format(i128::from(amt)),
                    "860".into(),
                    mfo,
                    account,
                    purpose,
                ]
            },
        )
}

/// Reads every record of `bytes` and decodes every field with `cs`.
fn read_decoded(bytes: &[u8], cs: Charset) -> Vec<Vec<String>> {
    let mut rr = RecordReader::new(bytes, cs == Charset::Utf8);
    let mut out = Vec::new();
    while rr.read_record().expect("readable registry") {
        out.push(
            (0..rr.len())
                .map(|i| {
                    cs.decode(rr.field(i).unwrap_or_default())
                        .expect("decodes in its own charset")
                })
                .collect(),
        );
    }
    out
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn a_valid_pay_row_stays_valid_in_every_encoding(row in valid_pay_row(), bom in any::<bool>()) {
        let s = &*SCHEMAS;
        let direct = validate::check_row(&s.pay, &ctx(), &row);
        prop_assert!(direct.is_ok(), "generated row invalid: {:?} {:?}", row, direct);
        let text = sample::registry_text(&sample::PAY_HEADER, std::slice::from_ref(&row));
        for cs in [Charset::Utf8, Charset::Windows1251, Charset::Cp866] {
            let mut bytes = cs.encode(&text).map_err(|c| {
                TestCaseError::fail(format!("{c:?} not encodable in {cs:?}"))
            })?;
            if bom && cs == Charset::Utf8 {
                bytes.splice(0..0, *b"\xEF\xBB\xBF");
            }
            let recs = read_decoded(&bytes, cs);
            prop_assert_eq!(recs.len(), 2, "{:?}", cs);
            prop_assert_eq!(&recs[0], &sample::PAY_HEADER.map(str::to_owned).to_vec());
            prop_assert_eq!(&recs[1], &row, "{:?}", cs);
            prop_assert_eq!(&validate::check_row(&s.pay, &ctx(), &recs[1]), &direct, "{:?}", cs);
        }
    }

    #[test]
    fn letters_outside_the_code_pages_are_refused_not_replaced(
        prefix in name_text(10),
        c in proptest::sample::select(vec!['Қ', 'қ', 'Ғ', 'ғ', 'Ҳ', 'ҳ', 'ʻ', '€']),
    ) {
        let text = format!("{prefix}{c}");
        prop_assert_eq!(Charset::Cp866.encode(&text), Err(c));
        if c != '€' {
            prop_assert_eq!(Charset::Windows1251.encode(&text), Err(c));
        }
        prop_assert_eq!(Charset::Utf8.encode(&text), Ok(text.clone().into_bytes()));
    }
}

// ------------------------------------------------------------------------------------ dialect

/// Field text with the dialect's special bytes over-represented.
fn dialect_field() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(
            proptest::sample::select(vec![';', '"', '\r', '\n', 'a', 'Ж', ' ', '\u{FEFF}']),
            0..8,
        )
        .prop_map(|v| v.into_iter().collect::<String>()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_dialect_reads_back_what_the_sender_quoting_writes(
        records in proptest::collection::vec(
            proptest::collection::vec(dialect_field(), 1..6), 0..6),
        crlf in any::<bool>(),
        final_end in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let lines: Vec<String> = records
            .iter()
            .map(|r| r.iter().map(|f| sample::field(f)).collect::<Vec<_>>().join(";"))
            .collect();
        let mut text = String::from(if bom { "\u{FEFF}" } else { "" });
        text.push_str(&lines.join(end));
        // The last line end is optional, except after a blank last line (a row of one empty
        // field), which only its line end makes a row.
        let blank_last = records.last().is_some_and(|r| r.len() == 1 && r[0].is_empty());
        if !records.is_empty() && (final_end || blank_last) {
            text.push_str(end);
        }
        let mut rr = RecordReader::new(text.as_bytes(), bom);
        let mut got: Vec<Vec<String>> = Vec::new();
        let mut starts = Vec::new();
        while rr.read_record().map_err(|e| TestCaseError::fail(e.to_string()))? {
            starts.push(rr.record_line());
            got.push(
                (0..rr.len())
                    .map(|i| String::from_utf8_lossy(rr.field(i).unwrap_or_default()).into_owned())
                    .collect(),
            );
        }
        prop_assert_eq!(&got, &records);
        // Each record starts on the physical line after the LFs of those before it.
        let mut line = 1u64;
        for (i, l) in lines.iter().enumerate() {
            prop_assert_eq!(starts[i], line);
            line += l.matches('\n').count() as u64 + 1;
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Field limits change what is kept, never what is read: the same records with the same
    /// numbers of fields; a field up to the limit kept whole, a longer one kept empty and
    /// marked, and every byte not kept handed to the check, a field at a time, in order.
    #[test]
    fn field_limits_keep_a_prefix_of_each_record_and_check_the_rest(
        records in proptest::collection::vec(
            proptest::collection::vec(dialect_field(), 1..7), 0..6),
        max_field in 0usize..12,
        max_fields in 1usize..5,
    ) {
        let text: String = records
            .iter()
            .map(|r| r.iter().map(|f| sample::field(f)).collect::<Vec<_>>().join(";") + "\n")
            .collect();
        let mut whole = RecordReader::new(text.as_bytes(), false);
        let unkept = reestr::dialect::Recorded::default();
        let mut part = RecordReader::new(text.as_bytes(), false)
            .with_field_limits(max_field, max_fields, Box::new(unkept.clone()));
        loop {
            let (a, b) = (whole.read_record(), part.read_record());
            let (Ok(a), Ok(b)) = (a, b) else {
                return Err(TestCaseError::fail("records that read whole read with limits"));
            };
            prop_assert_eq!(a, b);
            if !a {
                break;
            }
            prop_assert_eq!(part.len(), whole.len());
            prop_assert_eq!(part.kept(), whole.len().min(max_fields));
            let mut want_unkept = Vec::new();
            for i in 0..whole.len() {
                let f = whole.field(i).unwrap_or_default();
                let long = f.len() > max_field;
                if i < max_fields {
                    prop_assert_eq!(part.is_long(i), long);
                    prop_assert_eq!(part.field(i), Some(if long { &b""[..] } else { f }));
                }
                if long || i >= max_fields {
                    want_unkept.push((i, f.to_vec()));
                }
            }
            let first_long = (0..whole.len().min(max_fields))
                .find(|&i| whole.field(i).is_some_and(|f| f.len() > max_field));
            prop_assert_eq!(part.first_long(), first_long);
            let got = unkept.take();
            prop_assert_eq!(got, want_unkept);
        }
    }

    /// The check of bytes not kept judges them, in any pieces, as decoding them whole does.
    #[test]
    fn the_check_of_unkept_bytes_agrees_with_decoding_them_whole(
        bytes in proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(vec![
                    b'a', 0x98, 0xD0, 0x96, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x80, 0xED, 0xA0, 0xC0, 0xFF,
                ]),
                1 => any::<u8>(),
            ],
            0..24,
        ),
        cuts in proptest::collection::vec(0usize..24, 0..4),
    ) {
        for cs in [Charset::Utf8, Charset::Windows1251, Charset::Cp866] {
            let mut check = cs.unkept_check();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| (*c).min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut ok = true;
            let mut from = 0;
            for c in cuts {
                ok &= check.check(0, &bytes[from..c], false);
                from = c;
            }
            ok &= check.check(0, &bytes[from..], true);
            prop_assert_eq!(ok, cs.decode(&bytes).is_some(), "{:?} {:x?}", cs, bytes);
            // The check starts afresh with the next field.
            prop_assert!(check.check(1, b"ok", true));
        }
    }
}

// ------------------------------------------------------------------------------- a whole row

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn created_at_in_any_offset_is_compared_as_an_instant(
        offset_h in -12i32..=14,
        secs in 0i64..172_800,
    ) {
        // paid_at (Tashkent) is "not after created_at" exactly when the instant is not later,
        // whatever offset created_at is written in.
        let s = &*SCHEMAS;
        let base = NaiveDate::from_ymd_opt(2026, 11, 21).expect("date").and_hms_opt(0, 0, 0).expect("t");
        let paid = base + Duration::seconds(secs);
        let tz = FixedOffset::east_opt(offset_h * 3600).expect("offset");
        let created = (base + Duration::hours(24)).and_local_timezone(tz).single().expect("fixed");
        let c = Context { created_at: created, business_date: base.date() };
        let row = vec![
            "200000000000".to_string(),
            paid.format("%Y-%m-%d %H:%M:%S").to_string(),
            "12.00".to_string(),
            "reason".to_string(),
        ];
        let ok = validate::check_row(&s.rev, &c, &row).is_ok();
        let tashkent = FixedOffset::east_opt(5 * 3600).expect("offset");
        let paid_instant = paid.and_local_timezone(tashkent).single().expect("fixed");
        prop_assert_eq!(ok, paid_instant <= created);
    }
}

#[test]
fn leap_seconds_and_out_of_range_parts_are_not_datetimes() {
    for s in [
        "2026-12-31 23:59:60",
        "2026-11-21 13:22:60",
        "2026-11-21 24:00:00",
        "2026-11-21 23:60:00",
        "2026-02-29 00:00:00",
        "2026-00-10 00:00:00",
        "2026-11-00 00:00:00",
    ] {
        assert_eq!(schema::parse_datetime(s), None, "{s}");
        assert_eq!(datetime_oracle(s), None, "{s}");
    }
}

// ------------------------------------------------------------------------ names and manifests

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn archive_names_never_panic_and_valid_ones_round_trip(
        name in prop_oneof![
            text_like("[A-Z0-9]{1,17}_[A-Z0-9]{1,17}_(PAY|REV|REC|XXX)_[0-9]{8}_[0-9]{2,7}\\.zip"),
            ("[A-Z0-9]{2,16}", "[A-Z0-9]{2,16}", 0u32..3, any_datetime(), "[0-9]{3,6}").prop_map(
                |(s, r, k, d, q)| {
                    let k = ["PAY", "REV", "REC"][k as usize];
                    format!("{s}_{r}_{k}_{}_{q}.zip", d.format("%Y%m%d"))
                }
            ),
        ]
    ) {
        if let Ok(n) = BatchName::parse(&name) {
            prop_assert_eq!(format!("{}.zip", n.batch_id()), name);
        }
    }

    #[test]
    fn check_manifest_never_panics(
        lines in proptest::collection::vec(
            ("[0-9a-f]{64}", prop_oneof![Just("  "), Just(" "), Just("")], any::<String>()),
            0..4,
        )
    ) {
        // Lines that pass the hash test and then hold anything, multi-byte text included
        // (finding 1 of the manifest fuzz target: slicing inside a character panicked).
        let text: String = lines.iter().map(|(h, sep, rest)| format!("{h}{sep}{rest}\n")).collect();
        let a = reestr::archive::Archive {
            entries: vec![reestr::archive::Entry {
                index: 0,
                name: "manifest.sha256".into(),
                size: text.len() as u64,
                sha256: [0; 32],
                data: Some(text.into_bytes()),
            }],
        };
        let r = reestr::integrity::check_manifest(&a);
        prop_assert!(
            matches!(r, Ok(()) | Err((reestr::code::BatchCode::B04, _))),
            "{:?}",
            r
        );
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The packed invoice table of large batches (`reestr::index`) agrees with a plain map:
    /// every invoice is found with its payer and amounts, its number comes back as written,
    /// other numbers are absent, and changed balances come back once, in table order.
    #[test]
    fn the_packed_invoice_table_agrees_with_a_map(
        invoices in proptest::collection::btree_map(
            // Up to 20 digits, all of which fit (longer ones: the unit tests of `index`).
            "[0-9]{1,20}",
            ("[PJ]", "[0-9]{1,14}", any::<bool>(), 0i64..1_000_000_000_000, 0i64..1_000_000),
            0..300,
        ),
        probes in proptest::collection::vec("[0-9]{1,21}", 0..50),
        paid in proptest::collection::vec((any::<prop::sample::Index>(), -1000i64..1000), 0..100),
    ) {
        use reestr::index::{Builder, Slot};
        let mut b = Builder::new();
        let mut fits = true;
        // Pushed in reverse order: the builder sorts.
        // An invoice with an even amount due has a stored balance row; the others have none
        // (paid 0), whatever their place after sorting.
        let stored = |due: i64| due % 2 == 0;
        for (no, (t, id, c, due, p)) in invoices.iter().rev() {
            fits &= b.push(no.as_bytes(), t.as_bytes(), id.as_bytes(), *c, *due, stored(*due).then_some(*p));
        }
        prop_assert!(fits);
        let (keys, mut bal) = b.finish();
        prop_assert_eq!(keys.len(), invoices.len());
        let mut want_paid = std::collections::BTreeMap::new();
        for (no, (t, id, c, due, p)) in &invoices {
            let Slot::At(i) = keys.find(no) else {
                return Err(TestCaseError::fail(format!("{no} not found")));
            };
            let i = i as usize;
            prop_assert_eq!(keys.invoice_no(i).map(|n| n.to_string()), Some(no.clone()));
            let payer = keys.payer(i).expect("payer");
            prop_assert!(payer.is(t, id));
            prop_assert_eq!(payer.cancelled, *c);
            let p = if stored(*due) { *p } else { 0 };
            prop_assert_eq!(bal.get(i), Some((*due, p)));
            want_paid.insert(i, (p, stored(*due)));
        }
        for probe in &probes {
            if !invoices.contains_key(probe) {
                prop_assert_eq!(keys.find(probe), Slot::Absent, "{}", probe);
            }
        }
        // Found all at once (in groups), every number and probe is where `find` says.
        let all: Vec<&str> = invoices.keys().chain(&probes).map(String::as_str).collect();
        let mut slots = Vec::new();
        keys.find_all(&all, &mut slots);
        let one_by_one: Vec<Slot> = all.iter().map(|no| keys.find(no)).collect();
        prop_assert_eq!(slots, one_by_one);
        let positions: Vec<usize> = want_paid.keys().copied().collect();
        let mut changed = std::collections::BTreeMap::new();
        if !positions.is_empty() {
            for (at, delta) in &paid {
                let i = positions[at.index(positions.len())];
                prop_assert!(bal.add_paid(i, *delta));
                let w = want_paid.entry(i).or_default();
                w.0 += delta;
                changed.insert(i, *w);
            }
        }
        let changed: Vec<(usize, i64, bool)> = changed.into_iter().map(|(i, (p, s))| (i, p, s)).collect();
        let got: Vec<(usize, i64, bool)> = bal.drain_changed().collect();
        prop_assert_eq!(got, changed);
        prop_assert_eq!(bal.drain_changed().count(), 0);
    }
}
