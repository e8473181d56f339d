//! Stage 7: the response archive of agreement §8, a pure function of its inputs.
//!
//! Entries come in the order `control.txt`, `result.csv` (ACK only), `manifest.sha256`,
//! `manifest.sha256.hmac` (when a key is configured); all deflated at level
//! [`DEFLATE_LEVEL`], with the entry time taken from the `created_at` written in the response.
//! No clock, host name or random value enters the bytes.

use crate::amount;
use crate::charset::Charset;
use crate::code::{BatchCode, RowStatus};
use crate::control::FORMAT;
use crate::integrity::{CONTROL, Key, MANIFEST, MANIFEST_HMAC};
use crate::name::BatchType;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, Write};
use zip::write::SimpleFileOptions;

/// The response result file.
pub const RESULT: &str = "result.csv";
/// Header line of `result.csv`.
pub const RESULT_HEADER: &str = "line;payment_id;status;field;message";
/// Deflate level of every response entry. Part of the response bytes: never change it without
/// a new engine version (replays of earlier responses depend on it).
pub const DEFLATE_LEVEL: i64 = 1;

/// What every response says about the batch it answers.
#[derive(Debug, Clone)]
pub struct Header {
    /// The receiver's own party code.
    pub own: String,
    /// The inbound sender (the response's receiver).
    pub partner: String,
    /// Registry type.
    pub kind: BatchType,
    /// Business date as written in the name (`YYYYMMDD`).
    pub date_text: String,
    /// Business date.
    pub business_date: NaiveDate,
    /// Sequence number as written.
    pub seq: String,
    /// The `created_at` to write (inbound value as written, or the business-date fallback).
    pub created_at: String,
    /// Inbound batch id.
    pub in_reply_to: String,
    /// SHA-256 of the inbound archive file, lower-case hex.
    pub in_reply_to_sha256: String,
}

impl Header {
    /// The `created_at` used when the inbound one cannot be taken: business date at midnight.
    pub fn fallback_created_at(date: NaiveDate) -> String {
        format!("{}T00:00:00+05:00", date.format("%Y-%m-%d"))
    }

    /// The response batch id (name without `.zip`).
    pub fn batch_id(&self, ack: bool) -> String {
        format!(
            "{}_{}_{}_{}_{}_{}",
            self.own,
            self.partner,
            self.kind,
            self.date_text,
            self.seq,
            if ack { "ACK" } else { "NAK" }
        )
    }

    /// The response file name.
    pub fn file_name(&self, ack: bool) -> String {
        format!("{}.zip", self.batch_id(ack))
    }

    fn zip_time(&self) -> zip::DateTime {
        let t = self.created_at.as_bytes();
        let num = |a: usize, b: usize| -> Option<u16> {
            std::str::from_utf8(t.get(a..b)?).ok()?.parse().ok()
        };
        let parts = (|| {
            Some((
                num(0, 4)?,
                num(5, 7)?,
                num(8, 10)?,
                num(11, 13)?,
                num(14, 16)?,
                num(17, 19)?,
            ))
        })();
        let (y, mo, d, h, mi, s) = parts.unwrap_or((1980, 1, 1, 0, 0, 0));
        let (y, mo, d, h, mi, s) = match y {
            ..1980 => (1980, 1, 1, 0, 0, 0),
            2108.. => (2107, 12, 31, 23, 59, 58),
            _ => (y, mo, d, h, mi, s & !1),
        };
        zip::DateTime::from_date_and_time(
            y,
            mo as u8,
            d as u8,
            h as u8,
            mi as u8,
            (s as u8).min(58),
        )
        .unwrap_or_default()
    }
}

/// The outcome a response reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Rejected whole.
    Nak {
        /// The code.
        code: BatchCode,
        /// One line naming file, line and field where that applies.
        message: String,
    },
    /// Processed.
    Ack {
        /// Encoding of the inbound registry (and of `result.csv`).
        encoding: Charset,
        /// Rows in `result.csv`.
        rows: u64,
        /// Rows with status `1`.
        accepted: u64,
        /// Sum of their amounts, tiyin.
        amount_accepted: i128,
    },
}

/// Makes a message one line of printable ASCII (non-ASCII is escaped).
pub fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                vec![c]
            } else {
                c.escape_default().collect()
            }
        })
        .collect()
}

/// Text of a response shown on a terminal (`check`): line ends become LF, and every other
/// control character is escaped (`\u{1b}`), so that bytes a registry echoes into
/// `result.csv` cannot move the cursor or rewrite the screen. Letters of any script stay.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// The response `control.txt` (LF line ends, keys in the agreement's order).
pub fn control_text(h: &Header, v: &Verdict) -> String {
    let ack = matches!(v, Verdict::Ack { .. });
    let mut s = String::new();
    let mut kv = |k: &str, v: &str| {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    };
    kv("format", FORMAT);
    kv("batch_id", &h.batch_id(ack));
    kv("type", h.kind.as_str());
    kv("sender", &h.own);
    kv("receiver", &h.partner);
    kv(
        "business_date",
        &h.business_date.format("%Y-%m-%d").to_string(),
    );
    kv("created_at", &h.created_at);
    kv("in_reply_to", &h.in_reply_to);
    kv("in_reply_to_sha256", &h.in_reply_to_sha256);
    match v {
        Verdict::Nak { code, message } => {
            kv("result", "NAK");
            kv("error", code.as_str());
            kv("message", &one_line(message));
        }
        Verdict::Ack {
            encoding,
            rows,
            accepted,
            amount_accepted,
        } => {
            kv("result", "ACK");
            kv("encoding", encoding.as_str());
            kv("rows", &rows.to_string());
            kv("accepted", &accepted.to_string());
            kv("amount_accepted", &amount::format(*amount_accepted));
        }
    }
    s
}

/// Writes `result.csv` rows, encoded, hashing as it goes.
pub struct ResultWriter<W: Write> {
    out: W,
    charset: Charset,
    hash: Sha256,
    len: u64,
    line: Vec<u8>,
}

/// Whether a field must be quoted to be read back as itself (§8: "quotes a field only when it
/// must (§5)"): it starts with a quote, or holds a byte of [`quoted_for`]. A `"` further in is
/// an ordinary character of an unquoted field (§5).
fn needs_quotes(s: &str) -> bool {
    s.starts_with('"') || s.bytes().any(quoted_for)
}

/// Whether this byte anywhere in a `result.csv` field makes it quoted: the separator, a line
/// feed, or a CR (ordinary to §5 when not before an LF, but a line end to most CSV readers:
/// README, "Decisions"). The same in all three encodings.
pub fn quoted_for(b: u8) -> bool {
    matches!(b, b';' | b'\n' | b'\r')
}

impl<W: Write> ResultWriter<W> {
    /// A writer; writes the header line at once.
    pub fn new(out: W, charset: Charset) -> io::Result<Self> {
        let mut w = Self {
            out,
            charset,
            hash: Sha256::new(),
            len: 0,
            line: Vec::with_capacity(256),
        };
        w.put(format!("{RESULT_HEADER}\r\n").as_bytes())?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.hash.update(b);
        self.len = self.len.saturating_add(b.len() as u64);
        self.out.write_all(b)
    }

    fn push_field(&mut self, s: &str) -> io::Result<()> {
        let enc = self.charset.encode(s).map_err(|c| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{c:?} cannot be written in {}", self.charset.as_str()),
            )
        })?;
        if needs_quotes(s) {
            self.line.push(b'"');
            for &b in &enc {
                if b == b'"' {
                    self.line.push(b'"');
                }
                self.line.push(b);
            }
            self.line.push(b'"');
        } else {
            self.line.extend_from_slice(&enc);
        }
        Ok(())
    }

    /// Writes one row; `line` is `None` for REC `306` rows.
    pub fn row(
        &mut self,
        line: Option<u64>,
        payment_id: &str,
        status: RowStatus,
        field: &str,
        message: &str,
    ) -> io::Result<()> {
        self.line.clear();
        if let Some(n) = line {
            self.line.extend_from_slice(n.to_string().as_bytes());
        }
        self.line.push(b';');
        self.push_field(payment_id)?;
        self.rest_of_row(status, field, message)
    }

    /// Writes one row whose `payment_id` is read from `payment_id`: raw bytes already in the
    /// result's encoding (those of the registry), written quoted when `quote` says so, with
    /// any `"` doubled. For ids too long to hold in memory ([`crate::echo`]).
    pub fn row_echoing(
        &mut self,
        line: u64,
        payment_id: &mut dyn io::Read,
        quote: bool,
        status: RowStatus,
        field: &str,
        message: &str,
    ) -> io::Result<()> {
        self.line.clear();
        self.line.extend_from_slice(line.to_string().as_bytes());
        self.line.push(b';');
        if quote {
            self.line.push(b'"');
        }
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = match payment_id.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for &b in buf.get(..n).unwrap_or_default() {
                if quote && b == b'"' {
                    self.line.push(b'"');
                }
                self.line.push(b);
            }
            let l = std::mem::take(&mut self.line);
            let r = self.put(&l);
            self.line = l;
            self.line.clear();
            r?;
        }
        if quote {
            self.line.push(b'"');
        }
        self.rest_of_row(status, field, message)
    }

    /// Ends the row begun in `self.line` (after its `payment_id`) and writes it.
    fn rest_of_row(&mut self, status: RowStatus, field: &str, message: &str) -> io::Result<()> {
        self.line.push(b';');
        self.line
            .extend_from_slice(status.code().to_string().as_bytes());
        self.line.push(b';');
        self.push_field(field)?;
        self.line.push(b';');
        self.push_field(&one_line(message))?;
        self.line.extend_from_slice(b"\r\n");
        let l = std::mem::take(&mut self.line);
        let r = self.put(&l);
        self.line = l;
        r
    }

    /// Flushes and returns the inner writer, the SHA-256 and the length.
    pub fn finish(mut self) -> io::Result<(W, [u8; 32], u64)> {
        self.out.flush()?;
        Ok((self.out, self.hash.finalize().into(), self.len))
    }
}

/// Writes the response zip. `result` is the ACK's `result.csv` with its SHA-256 and length.
pub fn write_zip<W: Write + Seek>(
    out: W,
    h: &Header,
    v: &Verdict,
    result: Option<(&mut dyn Read, [u8; 32], u64)>,
    key: Option<&Key>,
) -> zip::result::ZipResult<W> {
    let control = control_text(h, v);
    let opts = |size: u64| {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(DEFLATE_LEVEL))
            .last_modified_time(h.zip_time())
            .unix_permissions(0o644)
            .large_file(size >= u64::from(u32::MAX))
    };
    let mut z = zip::ZipWriter::new(out);
    let mut manifest = String::new();
    z.start_file(CONTROL, opts(control.len() as u64))?;
    z.write_all(control.as_bytes())?;
    manifest.push_str(&format!(
        "{}  {CONTROL}\n",
        hex::encode(Sha256::digest(control.as_bytes()))
    ));
    if let Some((reader, sha, len)) = result {
        z.start_file(RESULT, opts(len))?;
        io::copy(reader, &mut z)?;
        manifest.push_str(&format!("{}  {RESULT}\n", hex::encode(sha)));
    }
    z.start_file(MANIFEST, opts(manifest.len() as u64))?;
    z.write_all(manifest.as_bytes())?;
    if let Some(k) = key {
        let tag = format!("{}\n", k.sign(manifest.as_bytes()));
        z.start_file(MANIFEST_HMAC, opts(tag.len() as u64))?;
        z.write_all(tag.as_bytes())?;
    }
    z.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_for_a_terminal_keeps_letters_and_line_ends_and_escapes_other_controls() {
        assert_eq!(
            for_terminal("line;payment_id\r\n1;Қ\u{1b}[2J\t\rx\u{7f}\u{9b}\r\n"),
            "line;payment_id\n1;Қ\\u{1b}[2J\t\\rx\\u{7f}\\u{9b}\n"
        );
        assert_eq!(for_terminal("no end\r"), "no end\\r");
    }

    fn header() -> Header {
        Header {
            own: "SUDBILLING".into(),
            partner: "MUNIS".into(),
            kind: BatchType::PAY,
            date_text: "20261121".into(),
            business_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default(),
            seq: "001".into(),
            created_at: "2026-11-22T01:05:01+05:00".into(),
            in_reply_to: "MUNIS_SUDBILLING_PAY_20261121_001".into(),
            in_reply_to_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn control_keys_in_order() {
        let nak = control_text(
            &header(),
            &Verdict::Nak {
                code: BatchCode::B04,
                message: "x\ny é".into(),
            },
        );
        let keys: Vec<&str> = nak
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
                "error",
                "message"
            ]
        );
        assert!(nak.contains("batch_id=SUDBILLING_MUNIS_PAY_20261121_001_NAK\n"));
        assert!(nak.contains("message=x\\ny \\u{e9}\n"));
        let ack = control_text(
            &header(),
            &Verdict::Ack {
                encoding: Charset::Cp866,
                rows: 3,
                accepted: 2,
                amount_accepted: 150,
            },
        );
        assert!(
            ack.ends_with("result=ACK\nencoding=cp866\nrows=3\naccepted=2\namount_accepted=1.50\n")
        );
    }

    #[test]
    fn result_rows_quote_only_when_needed_and_use_crlf() {
        let mut w = ResultWriter::new(Vec::new(), Charset::Windows1251).unwrap();
        w.row(Some(1), "123", RowStatus::Invalid, "amount", "amount: bad")
            .unwrap();
        w.row(None, "1;2\"", RowStatus::NotInStatement, "", "")
            .unwrap();
        // A quote further in needs no quotes; a leading quote, an LF or a CR (a line end to
        // most CSV readers, though not to §5's) does.
        for (line, id) in [(3, "12\"34"), (4, "\"12"), (5, "a\rb"), (6, "x\ny")] {
            w.row(Some(line), id, RowStatus::Invalid, "payment_id", "")
                .unwrap();
        }
        let (bytes, sha, len) = w.finish().unwrap();
        assert_eq!(
            bytes,
            b"line;payment_id;status;field;message\r\n1;123;202;amount;amount: bad\r\n;\"1;2\"\"\";306;;\r\n\
              3;12\"34;202;payment_id;\r\n4;\"\"\"12\";202;payment_id;\r\n\
              5;\"a\rb\";202;payment_id;\r\n6;\"x\ny\";202;payment_id;\r\n"
        );
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&bytes)));
    }

    #[test]
    fn a_row_echoing_raw_bytes_is_the_row_written_from_text() {
        // Ids in windows-1251, read back from raw bytes (as from the spool of ids too long to
        // hold) in small pieces: the same bytes as the row written from the decoded text.
        struct Trickle<'a>(&'a [u8]);
        impl io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let cs = Charset::Windows1251;
        for id in ["12\"34", "\"Ж\"", "a;б", "x\ny\"\"", "a\rb", "plain", ""] {
            let mut a = ResultWriter::new(Vec::new(), cs).unwrap();
            a.row(Some(7), id, RowStatus::Invalid, "payment_id", "m")
                .unwrap();
            let raw = cs.encode(id).unwrap();
            let quote = id.starts_with('"') || id.contains([';', '\n', '\r']);
            let mut b = ResultWriter::new(Vec::new(), cs).unwrap();
            b.row_echoing(
                7,
                &mut Trickle(&raw),
                quote,
                RowStatus::Invalid,
                "payment_id",
                "m",
            )
            .unwrap();
            assert_eq!(a.finish().unwrap(), b.finish().unwrap(), "{id:?}");
        }
    }

    #[test]
    fn zip_time_rounds_seconds_down_to_even() {
        let t = header().zip_time();
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
}
