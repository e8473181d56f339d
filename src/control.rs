//! Stage 4a: `control.txt`, the batch control record of agreement §4 (code `B06`).

use crate::amount;
use crate::charset::Charset;
use crate::name::BatchName;
use chrono::{DateTime, FixedOffset, NaiveDate, Timelike};

/// The batch format this receiver speaks.
pub const FORMAT: &str = "munis-offline/1";

const KEYS: [&str; 10] = [
    "format",
    "batch_id",
    "type",
    "sender",
    "receiver",
    "business_date",
    "created_at",
    "encoding",
    "rows",
    "amount_total",
];

/// A well-formed control record, consistent with its archive name.
#[derive(Debug, Clone)]
pub struct Control {
    /// When the sender created the batch.
    pub created_at: DateTime<FixedOffset>,
    /// `created_at` exactly as written.
    pub created_at_text: String,
    /// Encoding of `registry.csv`.
    pub encoding: Charset,
    /// Declared number of data rows (`u64::MAX` for a count wider than that).
    pub rows: u64,
    /// Declared sum of amounts, in tiyin (`i128::MAX` for a total wider than that).
    pub amount_total: i128,
    /// `rows` and `amount_total` as written, shortened to at most 40 characters, for messages.
    pub declared: (String, String),
    /// The lines (1-based) of `rows` and `amount_total`, for messages.
    pub declared_at: (usize, usize),
}

/// `text` as it may appear in a one-line message: a long value shows its start and its length.
pub(crate) fn shown(text: &str) -> String {
    if text.len() <= 40 {
        text.to_string()
    } else {
        format!(
            "{}... ({} characters)",
            text.get(..24).unwrap_or_default(),
            text.len()
        )
    }
}

/// Parses an RFC 3339 date-time with an offset or `Z` (`T` separator; lower case allowed).
pub fn parse_rfc3339(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    let dt = DateTime::parse_from_rfc3339(s).ok()?;
    // chrono takes a second 60 (a leap second); the receiver does not, like the registry's
    // datetimes and the RFC 3339 readers of Python, Java, Go and .NET (README, decisions).
    if dt.nanosecond() >= 1_000_000_000 {
        return None;
    }
    // Nor year 0000, written as such (as in archive names and the registry's datetimes; nor
    // do the readers of Python and .NET take it).
    if s.starts_with("0000") {
        return None;
    }
    Some(dt)
}

/// The value of the single `created_at` line, if there is exactly one and it is valid.
///
/// Used for the response's `created_at` (agreement §8) even when the rest is malformed.
pub fn created_at_line(bytes: &[u8]) -> Option<String> {
    Record::of(bytes).created_at
}

/// Non-blank lines of a control record kept by [`Record`]: enough to judge it, since a record
/// with more non-blank lines than keys repeats or adds a key.
const LINES_KEPT: usize = KEYS.len() + 1;

/// The longest line [`Record`] keeps whole (a line of a record small enough to be held in
/// memory always is): a longer one is malformed.
const LINE_KEPT_BYTES: usize = 1 << 20;

/// What judging a control record needs of its bytes, gathered in one pass over them in any
/// number of pieces, in memory bounded whatever their length: a file of blank lines is as
/// good as the keys it holds (§4, "blank lines are ignored"), and §3 limits its size only as an
/// entry of the archive.
#[derive(Debug, Default)]
pub struct Record {
    /// The first [`LINES_KEPT`] non-blank lines, with their 1-based numbers; `None` for a line
    /// longer than [`LINE_KEPT_BYTES`].
    lines: Vec<(usize, Option<Vec<u8>>)>,
    /// The first byte that is not ASCII: (line, key of its line if one comes before it, the
    /// byte, its offset in the file).
    non_ascii: Option<(usize, String, u8, u64)>,
    /// See [`created_at_line`].
    created_at: Option<String>,
    created_at_lines: usize,
    /// The line being read: its number, its first bytes, its length, its last byte.
    line: usize,
    cur: Vec<u8>,
    cur_len: usize,
    cur_last: Option<u8>,
    offset: u64,
}

impl Record {
    /// A record of these bytes.
    pub fn of(bytes: &[u8]) -> Record {
        let mut r = Record::new();
        r.feed(bytes);
        r.finish()
    }

    /// A record of everything `src` yields.
    pub fn read(mut src: impl std::io::Read) -> std::io::Result<Record> {
        let mut r = Record::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match src.read(&mut buf)? {
                0 => return Ok(r.finish()),
                n => r.feed(buf.get(..n).unwrap_or_default()),
            }
        }
    }

    /// The value of the single `created_at` line, if there is exactly one and it is valid
    /// ([`created_at_line`]).
    pub fn created_at(&self) -> Option<&str> {
        self.created_at.as_deref()
    }

    /// The `rows` it declares, read leniently (a hint for planning, never an answer): the value
    /// of the one `rows=` line among the lines kept, when it is a whole number.
    pub fn rows_hint(&self) -> Option<u64> {
        let mut values = self
            .lines
            .iter()
            .filter_map(|(_, l)| l.as_deref()?.strip_prefix(b"rows="));
        let v = values.next()?;
        if values.next().is_some() || v.is_empty() || v.len() > 18 {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse().ok()
    }

    fn new() -> Record {
        Record {
            line: 1,
            ..Record::default()
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (seg, lf) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (bytes.get(..i).unwrap_or_default(), true),
                None => (bytes, false),
            };
            if self.non_ascii.is_none()
                && let Some(i) = seg.iter().position(|b| !b.is_ascii())
            {
                // The key is the text before '=' when an '=' comes before the byte.
                let before = [self.cur.as_slice(), seg.get(..i).unwrap_or_default()].concat();
                let key = before
                    .split(|c| *c == b'=')
                    .next()
                    .filter(|_| before.contains(&b'='))
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .unwrap_or_default()
                    .to_string();
                let byte = seg.get(i).copied().unwrap_or(0);
                self.non_ascii = Some((self.line, key, byte, self.offset.saturating_add(i as u64)));
            }
            let room = LINE_KEPT_BYTES
                .saturating_add(1)
                .saturating_sub(self.cur.len());
            self.cur
                .extend_from_slice(seg.get(..seg.len().min(room)).unwrap_or_default());
            self.cur_len = self.cur_len.saturating_add(seg.len());
            if let Some(&b) = seg.last() {
                self.cur_last = Some(b);
            }
            self.offset = self.offset.saturating_add(seg.len() as u64);
            if !lf {
                return;
            }
            self.offset = self.offset.saturating_add(1);
            // Without its LF, and its CR if one ends it (CRLF).
            if self.cur_last == Some(b'\r') {
                self.cur_len = self.cur_len.saturating_sub(1);
                self.cur.truncate(self.cur_len);
            }
            self.end_line();
            bytes = bytes.get(seg.len().saturating_add(1)..).unwrap_or_default();
        }
    }

    /// Ends the line being read (at an LF, or at the end of the bytes).
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.cur);
        let len = std::mem::take(&mut self.cur_len);
        self.cur_last = None;
        let n = self.line;
        self.line = self.line.saturating_add(1);
        if len == 0 {
            return; // Blank.
        }
        let whole = len <= LINE_KEPT_BYTES;
        if whole && let Some(v) = line.strip_prefix(b"created_at=") {
            self.created_at_lines = self.created_at_lines.saturating_add(1);
            self.created_at = std::str::from_utf8(v)
                .ok()
                .filter(|v| parse_rfc3339(v).is_some())
                .map(str::to_owned);
        } else if !whole && line.starts_with(b"created_at=") {
            self.created_at_lines = self.created_at_lines.saturating_add(1);
            self.created_at = None;
        }
        if self.lines.len() < LINES_KEPT {
            self.lines.push((n, whole.then_some(line)));
        }
    }

    fn finish(mut self) -> Record {
        // The last line, when no LF ends it: a CR at its end stays in it (it is no line end).
        if self.cur_len > 0 {
            self.end_line();
        }
        if self.created_at_lines != 1 {
            self.created_at = None;
        }
        self
    }
}

/// Where in `control.txt` a problem is, for messages: `control.txt line N`, followed by
/// `, key K` when `key` (trimmed) is one of the agreement's keys.
pub fn place(line: usize, key: &str) -> String {
    match KEYS.iter().find(|k| **k == key.trim()) {
        Some(k) => format!("control.txt line {line}, key {k}"),
        None => format!("control.txt line {line}"),
    }
}

/// Parses and checks `control.txt` against the archive name. The error is the `B06` message.
pub fn parse(bytes: &[u8], name: &BatchName) -> Result<Control, String> {
    judge(&Record::of(bytes), name)
}

/// [`parse`], of a record gathered by [`Record::read`] (a control file too large to hold).
pub fn judge(record: &Record, name: &BatchName) -> Result<Control, String> {
    const F: &str = "control.txt";
    if let Some((n, key, byte, pos)) = &record.non_ascii {
        // Named by line, and by key where the byte is in the value of a line with one.
        return Err(format!(
            "{}: byte 0x{byte:02X} (offset {pos} of the file) is not ASCII",
            place(*n, key)
        ));
    }
    // Each key with the line and value that give it.
    let mut values: [(&str, Option<(usize, &str)>); KEYS.len()] = KEYS.map(|k| (k, None));
    // Blank lines (empty, as §5 uses the word: "a blank line is a row of one empty field"; a
    // line of spaces is a line without '=') are not kept.
    for (n, line) in &record.lines {
        let n = *n;
        let Some(line) = line else {
            return Err(format!("{F} line {n}: longer than {LINE_KEPT_BYTES} bytes"));
        };
        let line = std::str::from_utf8(line).map_err(|_| format!("{F}: not ASCII"))?;
        if line.contains('\r') {
            let key = line.split_once('=').map_or("", |(k, _)| k);
            return Err(format!(
                "{}: a carriage return that no line feed follows (lines end with LF or CRLF)",
                place(n, key)
            ));
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{F} line {n}: no '=' in {line:?}"))?;
        if key.trim() != key || value.trim() != value {
            return Err(format!(
                "{}: spaces around '=' or at the ends",
                place(n, key)
            ));
        }
        let (_, slot) = values
            .iter_mut()
            .find(|(k, _)| *k == key)
            .ok_or_else(|| format!("{F} line {n}: unknown key {key:?}"))?;
        if slot.is_some() {
            return Err(format!("{F} line {n}: key {key:?} appears twice"));
        }
        *slot = Some((n, value));
    }
    /// A key's line, value and name.
    type Got<'a> = (usize, &'a str, &'static str);
    fn get<'a>((k, v): (&'static str, Option<(usize, &'a str)>)) -> Result<Got<'a>, String> {
        v.map(|(n, v)| (n, v, k))
            .ok_or_else(|| format!("{F}: key {k:?} is missing"))
    }
    fn bad((n, v, k): Got, why: &str) -> String {
        format!("{}: {v:?} {why}", place(n, k))
    }
    let [
        format,
        batch_id,
        kind,
        sender,
        receiver,
        date,
        created,
        enc,
        rows,
        total,
    ] = values;
    let format = get(format)?;
    if format.1 != FORMAT {
        return Err(bad(format, &format!("is not {FORMAT}")));
    }
    let batch_id = get(batch_id)?;
    if batch_id.1 != name.batch_id() {
        return Err(bad(batch_id, "differs from the archive name"));
    }
    let kind = get(kind)?;
    if kind.1 != name.kind.as_str() {
        return Err(bad(kind, "differs from the archive name's type"));
    }
    let sender = get(sender)?;
    if sender.1 != name.sender {
        return Err(bad(sender, "differs from the archive name's sender"));
    }
    let receiver = get(receiver)?;
    if receiver.1 != name.receiver {
        return Err(bad(receiver, "differs from the archive name's receiver"));
    }
    let date = get(date)?;
    let parsed = (date.1.len() == 10)
        .then(|| NaiveDate::parse_from_str(date.1, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| bad(date, "is not a YYYY-MM-DD date"))?;
    if parsed != name.date {
        return Err(bad(date, "differs from the archive name's date"));
    }
    let created = get(created)?;
    let created_at = parse_rfc3339(created.1)
        .ok_or_else(|| bad(created, "is not an RFC 3339 date-time with an offset"))?;
    let enc = get(enc)?;
    let encoding =
        Charset::parse(enc.1).ok_or_else(|| bad(enc, "is not utf-8, windows-1251 or cp866"))?;
    let rows = get(rows)?;
    // A count too large for a u64 is read as u64::MAX: no registry has that many rows, so it
    // differs from every count (`B08`), as a well-formed count that does not match should.
    let rows_n = (!rows.1.is_empty() && rows.1.bytes().all(|b| b.is_ascii_digit()))
        .then(|| rows.1.parse::<u64>().unwrap_or(u64::MAX))
        .ok_or_else(|| bad(rows, "is not a whole number"))?;
    let total = get(total)?;
    let amount_total = amount::parse_total(total.1)
        .ok_or_else(|| bad(total, "is not an amount with exactly 2 decimals"))?;
    Ok(Control {
        created_at,
        created_at_text: created.1.to_string(),
        encoding,
        rows: rows_n,
        amount_total,
        declared: (shown(rows.1), shown(total.1)),
        declared_at: (rows.0, total.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(bytes: &[u8]) -> Option<u64> {
        Record::of(bytes).rows_hint()
    }

    const GOOD: &str = "format=munis-offline/1\r\nbatch_id=MUNIS_SUDBILLING_PAY_20261121_001\r\ntype=PAY\r\nsender=MUNIS\r\nreceiver=SUDBILLING\r\nbusiness_date=2026-11-21\r\ncreated_at=2026-11-22T01:05:00+05:00\r\nencoding=utf-8\r\nrows=24\r\namount_total=5918666.66\r\n";

    fn name() -> BatchName {
        BatchName::parse("MUNIS_SUDBILLING_PAY_20261121_001.zip").unwrap()
    }

    #[test]
    fn counts_and_totals_of_any_width_are_well_formed() {
        let huge_rows = GOOD.replace("rows=24", "rows=99999999999999999999999");
        assert_eq!(parse(huge_rows.as_bytes(), &name()).unwrap().rows, u64::MAX);
        let huge_total = GOOD.replace(
            "amount_total=5918666.66",
            &format!("amount_total={}.00", "9".repeat(40)),
        );
        let c = parse(huge_total.as_bytes(), &name()).unwrap();
        assert_eq!(c.amount_total, i128::MAX);
        // Messages show the value as written, shortened.
        assert_eq!(
            c.declared.1,
            format!("{}... (43 characters)", "9".repeat(24))
        );
        assert_eq!(c.declared.0, "24");
        assert_eq!(c.declared_at, (9, 10));
        let wide_total = GOOD.replace(
            "amount_total=5918666.66",
            &format!("amount_total={}.25", "1".repeat(33)),
        );
        assert_eq!(
            parse(wide_total.as_bytes(), &name())
                .unwrap()
                .amount_total
                .to_string(),
            format!("{}25", "1".repeat(33))
        );
        for bad in ["rows=+1", "rows= 1", "rows=1.0", "rows="] {
            assert!(
                parse(GOOD.replace("rows=24", bad).as_bytes(), &name()).is_err(),
                "{bad}"
            );
        }
    }

    /// Yields its bytes `n` at a time.
    struct Pieces<'a>(&'a [u8], usize);

    impl std::io::Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_record_read_in_pieces_of_any_size_is_judged_as_the_whole_bytes() {
        let lf = GOOD.replace("\r\n", "\n");
        let cases = [
            GOOD.to_string(),
            lf.clone(),
            lf.trim_end().to_string(),
            format!("\r\n\n{GOOD}\r\n\r\n"),
            GOOD.replace("rows=24\r\n", "rows=24\r"),
            format!("{}\r", lf.trim_end()),
            format!("{GOOD}\r"),
            GOOD.replace("rows=24", "rows=2\u{416}4"),
            format!("x\u{416}\n{GOOD}"),
            GOOD.replace("type=PAY", "type=PAY\rX"),
            format!("{GOOD}comment=1\n"),
            format!("{GOOD}created_at=2026-11-22T01:05:00+05:00\n"),
            GOOD.replace("created_at=", "created_at =")
                .replace("rows=24", "rows=x"),
            String::new(),
            "\n\n\r\n".to_string(),
        ];
        for text in &cases {
            let bytes = text.as_bytes();
            let whole = Record::of(bytes);
            let want = (
                format!("{:?}", judge(&whole, &name())),
                whole.created_at().map(str::to_owned),
            );
            for n in 1..=bytes.len().clamp(1, 40) {
                let r = Record::read(Pieces(bytes, n)).unwrap();
                let got = (
                    format!("{:?}", judge(&r, &name())),
                    r.created_at().map(str::to_owned),
                );
                assert_eq!(got, want, "{text:?} in pieces of {n}");
            }
        }
    }

    #[test]
    fn second_60_is_never_valid() {
        assert!(parse_rfc3339("2026-11-22T01:05:60+05:00").is_none());
        assert!(parse_rfc3339("2026-11-22T23:59:60+05:00").is_none());
        // Not even a real leap second (the last second of 2016, UTC).
        assert!(parse_rfc3339("2016-12-31T23:59:60Z").is_none());
        assert!(parse_rfc3339("2017-01-01T04:59:60+05:00").is_none());
        assert!(parse_rfc3339("2026-11-22T01:05:59+05:00").is_some());
        assert!(parse_rfc3339("2016-12-31T23:59:59Z").is_some());
        // Year 0000 is not a calendar year; 0001 is.
        assert!(parse_rfc3339("0000-06-01T00:00:00+05:00").is_none());
        assert!(parse_rfc3339("0000-12-31T23:00:00-05:00").is_none());
        assert!(parse_rfc3339("0001-01-01T00:00:00Z").is_some());
    }

    #[test]
    fn parses_a_good_record_in_any_key_order_with_blank_lines() {
        let c = parse(GOOD.as_bytes(), &name()).unwrap();
        assert_eq!(c.rows, 24);
        assert_eq!(c.amount_total, 591_866_666);
        assert_eq!(c.encoding, Charset::Utf8);
        let mut lines: Vec<&str> = GOOD.lines().collect();
        lines.reverse();
        let shuffled = format!("\n{}\n\n", lines.join("\n"));
        assert!(parse(shuffled.as_bytes(), &name()).is_ok());
        // A blank line is an empty one (CRLF too); a line of spaces or tabs is not blank.
        let crlf = format!("\r\n{}\r\n\r\n", lines.join("\r\n"));
        assert!(parse(crlf.as_bytes(), &name()).is_ok());
        for spaces in [" ", "\t", " \t "] {
            let spaced = format!("{}\n{spaces}\n", lines.join("\n"));
            let e = parse(spaced.as_bytes(), &name()).unwrap_err();
            assert!(e.contains("no '='"), "{spaces:?}: {e}");
        }
    }

    #[test]
    fn a_carriage_return_that_no_line_feed_follows_ends_no_line_even_at_the_end() {
        let lf = GOOD.replace("\r\n", "\n");
        let no_final_end = lf.strip_suffix('\n').unwrap();
        // Without a final line end, or with LF or CRLF ones, the record is good.
        assert!(parse(no_final_end.as_bytes(), &name()).is_ok());
        assert!(parse(GOOD.strip_suffix("\r\n").unwrap().as_bytes(), &name()).is_ok());
        let cases = [
            // LF lines, the last one ending in a CR and nothing after it.
            (format!("{no_final_end}\r"), "line 10, key amount_total"),
            // A CR alone after the last LF: a line of its own, not a blank one.
            (format!("{lf}\r"), "line 11"),
            (format!("{GOOD}\r"), "line 11"),
            // CRLF lines whose last LF is missing.
            (
                GOOD.strip_suffix('\n').unwrap().to_owned(),
                "line 10, key amount_total",
            ),
            // Mid-file, a CR before the CRLF.
            (
                GOOD.replace("utf-8\r\n", "utf-8\r\r\n"),
                "line 8, key encoding",
            ),
        ];
        for (text, place) in cases {
            let e = parse(text.as_bytes(), &name()).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "control.txt {place}: a carriage return that no line feed follows (lines end with LF or CRLF)"
                ),
                "{text:?}"
            );
        }
        // The response's created_at falls back when its line ends in such a CR (§8: "exactly
        // one created_at line with a valid value"); the planning hint ignores such a rows line.
        let last = |k: &str| {
            let mut ls: Vec<&str> = lf.lines().filter(|l| !l.starts_with(k)).collect();
            let moved = lf.lines().find(|l| l.starts_with(k)).unwrap();
            ls.push(moved);
            ls.join("\n")
        };
        let created_last = last("created_at=");
        assert_eq!(
            created_at_line(created_last.as_bytes()).as_deref(),
            Some("2026-11-22T01:05:00+05:00")
        );
        assert_eq!(
            created_at_line(format!("{created_last}\r").as_bytes()),
            None
        );
        let rows_last = last("rows=");
        assert_eq!(hint(rows_last.as_bytes()), Some(24));
        assert_eq!(hint(format!("{rows_last}\r").as_bytes()), None);
    }

    #[test]
    fn every_defect_is_refused() {
        let cases: Vec<(String, &str)> = vec![
            (
                GOOD.replace("rows=24", "rows =24"),
                "line 9, key rows: spaces",
            ),
            (
                GOOD.replace("rows=24", "rows= 24"),
                "line 9, key rows: spaces",
            ),
            (
                GOOD.replace("utf-8", "utf-8 "),
                "line 8, key encoding: spaces",
            ),
            (GOOD.replace("rows=24", " x=24"), "line 9: spaces"),
            (format!("{GOOD}extra=1\n"), "unknown key"),
            (format!("{GOOD}rows=24\n"), "twice"),
            (GOOD.replace("rows=24\r\n", ""), "missing"),
            (GOOD.replace("munis-offline/1", "munis-offline/2"), "is not"),
            (
                GOOD.replace("batch_id=MUNIS_SUDBILLING_PAY_20261121_001", "batch_id=X"),
                "differs",
            ),
            (GOOD.replace("type=PAY", "type=REV"), "type"),
            (GOOD.replace("sender=MUNIS", "sender=OTHER"), "sender"),
            (
                GOOD.replace("receiver=SUDBILLING", "receiver=X"),
                "receiver",
            ),
            (GOOD.replace("2026-11-21", "2026-11-20"), "date"),
            (GOOD.replace("2026-11-21", "2026-13-45"), "date"),
            (
                GOOD.replace("2026-11-22T01:05:00+05:00", "2026-11-22 01:05:00"),
                "RFC 3339",
            ),
            (
                GOOD.replace("2026-11-22T01:05:00+05:00", "2026-11-22T01:05:00"),
                "RFC 3339",
            ),
            (GOOD.replace("utf-8", "koi8-r"), "encoding"),
            (GOOD.replace("rows=24", "rows=-1"), "whole"),
            (GOOD.replace("rows=24", "rows="), "whole"),
            (GOOD.replace("5918666.66", "5918666.6"), "decimals"),
            (GOOD.replace("rows=24", "rows24"), "no '='"),
            (
                GOOD.replace("MUNIS\r\n", "MUNÏS\r\n"),
                "line 4, key sender: byte 0xC3 (offset 88 of the file) is not ASCII",
            ),
            (
                GOOD.replace("rows=24", "rows=２4"),
                "line 9, key rows: byte 0xEF",
            ),
            (format!("\u{FEFF}{GOOD}"), "line 1: byte 0xEF (offset 0 "),
            (GOOD.replace("rows=24", "rÖws=24"), "line 9: byte 0xC3"),
            (GOOD.replace("rows=24", "rows24\u{e9}"), "line 9: byte 0xC3"),
        ];
        for (text, why) in cases {
            let err = parse(text.as_bytes(), &name()).expect_err(why);
            assert!(err.starts_with("control.txt"), "{err}");
            assert!(err.contains(why), "{why:?} in {err:?}");
        }
    }

    #[test]
    fn created_at_needs_exactly_one_valid_line() {
        assert_eq!(
            created_at_line(GOOD.as_bytes()).as_deref(),
            Some("2026-11-22T01:05:00+05:00")
        );
        assert_eq!(hint(GOOD.as_bytes()), Some(24));
        assert_eq!(hint(GOOD.replace("rows=24", "rows=2x").as_bytes()), None);
        assert_eq!(hint(GOOD.replace("rows=24", "rows=").as_bytes()), None);
        assert_eq!(hint(format!("{GOOD}rows=25\n").as_bytes()), None);
        let twice = format!("{GOOD}created_at=2026-11-22T01:05:00+05:00\n");
        assert_eq!(created_at_line(twice.as_bytes()), None);
        let bad = GOOD.replace("T01:05:00+05:00", "T25:05:00+05:00");
        assert_eq!(created_at_line(bad.as_bytes()), None);
        let z = GOOD.replace("+05:00", "Z").replace("rows=24", "junk");
        assert_eq!(
            created_at_line(z.as_bytes()).as_deref(),
            Some("2026-11-22T01:05:00Z")
        );
    }
}
