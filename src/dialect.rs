//! Stage 4b: the registry's CSV dialect (agreement §5), read as raw bytes, streaming.
//!
//! The dialect differs from what general CSV readers do, so it is read here: `;` separates,
//! `"` quotes (doubled inside), CRLF or LF end a row, a blank line is a row of one empty field,
//! a `"` inside an unquoted field is ordinary, text after a closing quote or a quote still open
//! at the end of the file makes the registry unreadable. Fields stay bytes: decoding happens
//! per field afterwards, since `;`, `"`, CR and LF are the same bytes in all three encodings.

use std::io::{self, Read};

/// Checks the bytes of fields that a [`RecordReader`] does not keep in memory (see
/// [`RecordReader::with_field_limits`]): whether they are valid in the registry's encoding,
/// which for kept fields is judged when they are decoded.
pub trait Unkept: Send {
    /// Takes the next piece of the bytes of field `field` (0-based) of the record being read;
    /// `last` ends the field (with the piece given), and the next call begins another. Returns
    /// `false` when the bytes so far are invalid; the reader remembers that until the field
    /// ends.
    fn check(&mut self, field: usize, bytes: &[u8], last: bool) -> bool;
}

/// An [`Unkept`] check that takes every byte for valid and records what it is given, field by
/// field: for tests, fuzzing and tools that look at what a reader did not keep. Clones share
/// one record.
#[derive(Clone, Default)]
pub struct Recorded(std::sync::Arc<std::sync::Mutex<Given>>);

#[derive(Default)]
struct Given {
    /// The field being given.
    current: Vec<u8>,
    /// The fields given whole, with their indices.
    whole: Vec<(usize, Vec<u8>)>,
}

impl Recorded {
    /// The fields given whole since the last call, with their indices, in order.
    pub fn take(&self) -> Vec<(usize, Vec<u8>)> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut g.whole)
    }
}

impl Unkept for Recorded {
    fn check(&mut self, field: usize, bytes: &[u8], last: bool) -> bool {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.current.extend_from_slice(bytes);
        if last {
            let whole = std::mem::take(&mut g.current);
            g.whole.push((field, whole));
        }
        true
    }
}

/// A syntax error that makes the registry unreadable (`B07`), or an I/O failure.
#[derive(Debug, thiserror::Error)]
pub enum DialectError {
    /// The file breaks the dialect. Shown as `line N, column C: what`; the caller names the
    /// file, and may name the column by its header (`field`).
    #[error("line {line}, column {}: {message}", field.saturating_add(1))]
    Syntax {
        /// Physical line (1-based) where the problem is.
        line: u64,
        /// The field of the record (0-based) that the problem is in.
        field: usize,
        /// What is wrong.
        message: &'static str,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    CrUnquoted,
    CrAfterQuote,
}

/// Reads records of the dialect from a byte stream.
pub struct RecordReader<R: Read> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    /// End of the bytes read into `buf`.
    filled: usize,
    eof: bool,
    started: bool,
    strip_bom: bool,
    /// Bytes of the current record's fields, back to back.
    data: Vec<u8>,
    /// End offset in `data` of each field.
    ends: Vec<usize>,
    line: u64,
    record_line: u64,
    quote_line: u64,
    /// The length of `data` past which the current field is longer than `max_field`.
    limit_at: usize,
    /// Fields of the current record past the kept ones, so far.
    extra: usize,
    /// Bytes kept of a field; a longer field is not kept ([`Self::with_field_limits`]).
    max_field: usize,
    /// Fields kept of a record; the later ones are only counted and checked.
    max_fields: usize,
    /// Checks what is not kept.
    unkept: Option<Box<dyn Unkept>>,
    /// The current field's bytes go to `unkept`, not into `data`.
    spill: bool,
    /// The current field's bytes that went to `unkept` were valid.
    spill_ok: bool,
    /// `unkept` holds part of a field not yet ended.
    fed: bool,
    /// Indices of the kept fields of the record that were longer than `max_field`.
    long: Vec<usize>,
    /// The first field of the record whose unkept bytes were invalid.
    invalid: Option<usize>,
}

impl<R: Read> RecordReader<R> {
    /// A reader; `strip_bom` drops a UTF-8 byte order mark at the very start.
    pub fn new(src: R, strip_bom: bool) -> Self {
        Self {
            src,
            buf: vec![0; 256 << 10],
            pos: 0,
            filled: 0,
            eof: false,
            started: false,
            strip_bom,
            data: Vec::with_capacity(1024),
            ends: Vec::with_capacity(16),
            line: 1,
            record_line: 1,
            quote_line: 1,
            limit_at: usize::MAX,
            extra: 0,
            max_field: usize::MAX,
            max_fields: usize::MAX,
            unkept: None,
            spill: false,
            spill_ok: true,
            fed: false,
            long: Vec::new(),
            invalid: None,
        }
    }

    /// Makes bytes available at `pos`, reading more when all are used; `false` at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.filled {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.filled = read_retrying(&mut self.src, &mut self.buf)?;
        self.pos = 0;
        self.eof = self.filled == 0;
        Ok(!self.eof)
    }

    fn skip_bom(&mut self) -> io::Result<()> {
        self.started = true;
        if !self.strip_bom {
            return Ok(());
        }
        // The first read of a file may be short; gather three bytes first.
        while self.filled.saturating_sub(self.pos) < 3 && !self.eof {
            let have = self.filled.saturating_sub(self.pos);
            self.buf.copy_within(self.pos..self.filled, 0);
            self.pos = 0;
            self.filled = have;
            let Some(space) = self.buf.get_mut(have..) else {
                break; // Never: fewer than 3 bytes are held in a buffer of 256 KiB.
            };
            let n = read_retrying(&mut self.src, space)?;
            self.filled = self.filled.saturating_add(n);
            self.eof = n == 0;
        }
        let held = self.buf.get(self.pos..self.filled).unwrap_or_default();
        if held.starts_with(b"\xEF\xBB\xBF") {
            self.pos = self.pos.saturating_add(3);
        }
        if self.filled > 0 {
            self.eof = false;
        }
        Ok(())
    }

    /// Keeps at most `max_field` bytes of a field and at most `max_fields` fields of a record,
    /// so that memory stays bounded whatever the record's length, and every record is still
    /// read to its end. A longer field is kept as empty and marked ([`Self::is_long`]); later
    /// fields are only counted ([`Self::len`]). The bytes not kept go to `unkept`, which
    /// judges whether they are valid ([`Self::unkept_invalid`]).
    pub fn with_field_limits(
        mut self,
        max_field: usize,
        max_fields: usize,
        unkept: Box<dyn Unkept>,
    ) -> Self {
        self.max_field = max_field;
        self.max_fields = max_fields;
        self.unkept = Some(unkept);
        self
    }

    /// After a [`DialectError::Syntax`], skips the rest of the physical line where it was
    /// found, so that reading can go on with the next line (to report every bad line of a
    /// file that is refused anyway; the registry stops at the first).
    pub fn skip_line(&mut self) -> io::Result<()> {
        while self.fill()? {
            let rest = self.buf.get(self.pos..self.filled).unwrap_or_default();
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.pos = self.pos.saturating_add(i).saturating_add(1);
                    self.line = self.line.saturating_add(1);
                    return Ok(());
                }
                None => self.pos = self.filled,
            }
        }
        Ok(())
    }

    /// Physical line (1-based) on which the last record read began.
    pub fn record_line(&self) -> u64 {
        self.record_line
    }

    /// Bytes of field content in the last record read.
    pub fn record_bytes(&self) -> usize {
        self.data.len()
    }

    /// Number of fields in the last record read, kept or not.
    pub fn len(&self) -> usize {
        self.ends.len().saturating_add(self.extra)
    }

    /// Whether the last record had no fields (never true after a successful read).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty() && self.extra == 0
    }

    /// Number of fields kept of the last record read: [`Self::len`], or the `max_fields` of
    /// [`Self::with_field_limits`] if that is fewer.
    pub fn kept(&self) -> usize {
        self.ends.len()
    }

    /// Whether kept field `i` of the last record was longer than the `max_field` bytes of
    /// [`Self::with_field_limits`] (it then reads as empty).
    pub fn is_long(&self, i: usize) -> bool {
        self.long.contains(&i)
    }

    /// The kept fields of the last record that were too long to keep, in order.
    pub fn long_fields(&self) -> &[usize] {
        &self.long
    }

    /// The first kept field of the last record that was too long to keep.
    pub fn first_long(&self) -> Option<usize> {
        self.long.first().copied()
    }

    /// The most bytes of a field kept ([`Self::with_field_limits`]).
    pub fn max_field(&self) -> usize {
        self.max_field
    }

    /// The first field of the last record with bytes not kept and invalid, as judged by the
    /// [`Unkept`] check of [`Self::with_field_limits`].
    pub fn unkept_invalid(&self) -> Option<usize> {
        self.invalid
    }

    /// Field `i` of the last record read, as raw bytes; `None` beyond the kept fields.
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        self.data.get(start..end)
    }

    /// Reads the next record; `Ok(false)` at the end of the file.
    pub fn read_record(&mut self) -> Result<bool, DialectError> {
        if !self.started {
            self.skip_bom()?;
        }
        if self.fed {
            // A field left unfinished by an error: the check starts afresh.
            let field = self.len();
            if let Some(u) = self.unkept.as_mut() {
                u.check(field, &[], true);
            }
        }
        self.data.clear();
        self.ends.clear();
        self.limit_at = self.max_field;
        self.extra = 0;
        self.spill = self.max_fields == 0;
        self.spill_ok = true;
        self.fed = false;
        self.long.clear();
        self.invalid = None;
        self.record_line = self.line;
        let mut state = State::FieldStart;
        let mut any = false;
        loop {
            if !self.fill()? {
                return match state {
                    State::Quoted => Err(DialectError::Syntax {
                        line: self.quote_line,
                        field: self.len(),
                        message: "a quoted field opened here is still open at the end of the file",
                    }),
                    State::CrAfterQuote => Err(self.syntax("text after a closing quote")),
                    _ if !any => Ok(false),
                    State::CrUnquoted => {
                        self.put(b'\r');
                        self.end_field();
                        Ok(true)
                    }
                    _ => {
                        self.end_field();
                        Ok(true)
                    }
                };
            }
            any = true;
            if state == State::Unquoted || state == State::Quoted {
                // Fast path: copy a run of ordinary bytes at once.
                // In range: `fill` returned true, so pos < filled <= buf.len().
                #[allow(clippy::indexing_slicing)]
                let slice = &self.buf[self.pos..self.filled];
                let stop = if state == State::Unquoted {
                    slice.iter().position(|b| matches!(b, b';' | b'\n' | b'\r'))
                } else {
                    slice.iter().position(|b| matches!(b, b'"' | b'\n'))
                };
                let run = stop.unwrap_or(slice.len());
                // In range: `run` is a position in `slice` or its length.
                #[allow(clippy::indexing_slicing)]
                let piece = &slice[..run];
                if self.spill {
                    let field = self.ends.len().saturating_add(self.extra);
                    if let Some(u) = self.unkept.as_mut() {
                        self.spill_ok &= u.check(field, piece, false);
                        self.fed = true;
                    }
                } else {
                    self.data.extend_from_slice(piece);
                    if self.data.len() > self.limit_at {
                        self.overflow();
                    }
                }
                self.pos = self.pos.saturating_add(run);
                if stop.is_none() {
                    continue;
                }
            }
            // In range: `fill` returned true (pos < filled <= buf.len()), and the fast path, if
            // taken, stopped at a byte it found in the buffer (else it went round again).
            #[allow(clippy::indexing_slicing)]
            let b = self.buf[self.pos];
            self.pos = self.pos.saturating_add(1);
            if b == b'\n' {
                self.line = self.line.saturating_add(1);
            }
            state = match state {
                State::FieldStart => match b {
                    b'"' => {
                        self.quote_line = self.line;
                        State::Quoted
                    }
                    b';' => {
                        self.end_field();
                        State::FieldStart
                    }
                    b'\n' => {
                        self.end_field();
                        return Ok(true);
                    }
                    b'\r' => State::CrUnquoted,
                    _ => {
                        self.put(b);
                        State::Unquoted
                    }
                },
                State::Unquoted => match b {
                    b';' => {
                        self.end_field();
                        State::FieldStart
                    }
                    b'\n' => {
                        self.end_field();
                        return Ok(true);
                    }
                    b'\r' => State::CrUnquoted,
                    _ => {
                        self.put(b);
                        State::Unquoted
                    }
                },
                State::CrUnquoted => match b {
                    b'\n' => {
                        self.end_field();
                        return Ok(true);
                    }
                    _ => {
                        // A lone CR is an ordinary byte; look at this byte again.
                        self.put(b'\r');
                        self.pos = self.pos.saturating_sub(1);
                        State::Unquoted
                    }
                },
                State::Quoted => match b {
                    b'"' => State::QuoteInQuoted,
                    _ => {
                        self.put(b);
                        State::Quoted
                    }
                },
                State::QuoteInQuoted => match b {
                    b'"' => {
                        self.put(b'"');
                        State::Quoted
                    }
                    b';' => {
                        self.end_field();
                        State::FieldStart
                    }
                    b'\n' => {
                        self.end_field();
                        return Ok(true);
                    }
                    b'\r' => State::CrAfterQuote,
                    _ => return Err(self.syntax("text after a closing quote")),
                },
                State::CrAfterQuote => match b {
                    b'\n' => {
                        self.end_field();
                        return Ok(true);
                    }
                    _ => return Err(self.syntax("text after a closing quote")),
                },
            };
        }
    }

    /// Adds one byte to the current field.
    #[inline(always)]
    fn put(&mut self, b: u8) {
        if self.spill {
            let field = self.len();
            if let Some(u) = self.unkept.as_mut() {
                self.spill_ok &= u.check(field, &[b], false);
                self.fed = true;
            }
        } else {
            self.data.push(b);
            if self.data.len() > self.limit_at {
                self.overflow();
            }
        }
    }

    /// The current field has just grown past `max_field`: what it holds goes to the check,
    /// and so will the rest of it.
    #[cold]
    fn overflow(&mut self) {
        let start = self.ends.last().copied().unwrap_or(0);
        self.long.push(self.ends.len());
        self.spill = true;
        self.spill_ok = true;
        if let (Some(u), Some(held)) = (self.unkept.as_mut(), self.data.get(start..)) {
            self.spill_ok = u.check(self.ends.len(), held, false);
            self.fed = true;
        }
        self.data.truncate(start);
    }

    /// Ends the current field.
    #[inline(always)]
    fn end_field(&mut self) {
        if self.spill {
            self.end_unkept_field();
            return;
        }
        self.ends.push(self.data.len());
        self.limit_at = self.data.len().saturating_add(self.max_field);
        if self.ends.len() >= self.max_fields {
            self.spill = true;
        }
    }

    /// Ends a field whose bytes went to the check: a kept field too long to keep (kept empty),
    /// or one past the kept fields (only counted).
    #[cold]
    fn end_unkept_field(&mut self) {
        let field = self.len();
        let ok = match self.unkept.as_mut() {
            Some(u) => u.check(field, &[], true) && self.spill_ok,
            None => true,
        };
        if !ok && self.invalid.is_none() {
            self.invalid = Some(self.len());
        }
        self.spill_ok = true;
        self.fed = false;
        if self.ends.len() < self.max_fields {
            self.ends.push(self.data.len());
            self.limit_at = self.data.len().saturating_add(self.max_field);
            self.spill = self.ends.len() >= self.max_fields;
        } else {
            self.extra = self.extra.saturating_add(1);
        }
    }

    fn syntax(&self, message: &'static str) -> DialectError {
        DialectError::Syntax {
            line: self.line,
            field: self.len(),
            message,
        }
    }
}

/// One `read` of `src` into `buf`, tried again when a signal interrupts it (`Read`'s
/// contract); any other failure is returned.
fn read_retrying(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8]) -> Result<Vec<Vec<String>>, DialectError> {
        // A tiny reader that returns one byte at a time, to cross every buffer boundary.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut out = Vec::new();
        for trickle in [false, true] {
            let mut r: RecordReader<Box<dyn Read>> = RecordReader::new(
                if trickle {
                    Box::new(Trickle(input))
                } else {
                    Box::new(input)
                },
                true,
            );
            let mut recs = Vec::new();
            while r.read_record()? {
                recs.push(
                    (0..r.len())
                        .map(|i| {
                            String::from_utf8_lossy(r.field(i).unwrap_or_default()).into_owned()
                        })
                        .collect::<Vec<_>>(),
                );
            }
            if trickle {
                assert_eq!(recs, out, "byte-at-a-time reading must agree");
            }
            out = recs;
        }
        Ok(out)
    }

    #[test]
    fn reads_quotes_separators_and_line_breaks() {
        let r = records(b"a;b\r\n\"x;y\";\"say \"\"hi\"\"\"\r\n\"two\r\nlines\";z\n").unwrap();
        assert_eq!(
            r,
            vec![
                vec!["a", "b"],
                vec!["x;y", "say \"hi\""],
                vec!["two\r\nlines", "z"]
            ]
        );
    }

    #[test]
    fn last_line_end_is_optional_and_blank_lines_are_rows() {
        assert_eq!(records(b"a;b").unwrap(), vec![vec!["a", "b"]]);
        assert_eq!(records(b"a;b\n").unwrap(), vec![vec!["a", "b"]]);
        assert_eq!(
            records(b"a\n\nb\r\n\r\n").unwrap(),
            vec![vec!["a"], vec![""], vec!["b"], vec![""]]
        );
        assert_eq!(records(b"").unwrap(), Vec::<Vec<String>>::new());
        assert_eq!(records(b";\n").unwrap(), vec![vec!["", ""]]);
    }

    #[test]
    fn quote_inside_unquoted_field_is_ordinary_and_lone_cr_is_text() {
        assert_eq!(records(b"ab\"c;d\n").unwrap(), vec![vec!["ab\"c", "d"]]);
        assert_eq!(records(b"a\rb;c").unwrap(), vec![vec!["a\rb", "c"]]);
        assert_eq!(records(b"a\r").unwrap(), vec![vec!["a\r"]]);
    }

    #[test]
    fn strips_a_utf8_bom_only_at_the_start() {
        assert_eq!(records(b"\xEF\xBB\xBFa;b").unwrap(), vec![vec!["a", "b"]]);
        assert_eq!(records(b"a\n\xEF\xBB\xBFb").unwrap()[1], vec!["\u{FEFF}b"]);
    }

    #[test]
    fn syntax_errors_make_it_unreadable() {
        for bad in [
            &b"\"abc\"def;x\n"[..],
            b"\"open;x\n",
            b"a;\"b\"\rc",
            b"\"a\"\r",
            b"x\n\"a\" ;b",
        ] {
            assert!(
                matches!(records(bad), Err(DialectError::Syntax { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        match records(b"h\nok\n\"bad\"x") {
            Err(DialectError::Syntax { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }

    /// [`Recorded`], refusing a field that holds `!`.
    #[derive(Clone, Default)]
    struct Recorder {
        seen: Recorded,
        bad: bool,
    }
    impl Unkept for Recorder {
        fn check(&mut self, field: usize, bytes: &[u8], last: bool) -> bool {
            self.seen.check(field, bytes, last);
            self.bad |= bytes.contains(&b'!');
            let ok = !self.bad;
            if last {
                self.bad = false;
            }
            ok
        }
    }

    #[test]
    fn with_field_limits_long_fields_and_extra_fields_are_counted_and_checked_not_kept() {
        let input = b"ab;\"0123\n456\"\"7\";c;d;e\nx;\"!long!\";y\nshort\n";
        let rec = Recorder::default();
        let mut r =
            RecordReader::new(&input[..], false).with_field_limits(5, 3, Box::new(rec.clone()));
        assert!(r.read_record().is_ok_and(|more| more));
        assert_eq!((r.len(), r.kept(), r.first_long()), (5, 3, Some(1)));
        assert!(!r.is_long(0) && r.is_long(1) && !r.is_long(2));
        assert_eq!(r.field(0), Some(&b"ab"[..]));
        assert_eq!(r.field(1), Some(&b""[..]));
        assert_eq!(r.field(2), Some(&b"c"[..]));
        assert_eq!(r.field(3), None);
        assert_eq!(r.unkept_invalid(), None);
        // The check saw the long field whole, and each field past the kept ones.
        assert_eq!(
            rec.seen.take(),
            vec![
                (1, b"0123\n456\"7".to_vec()),
                (3, b"d".to_vec()),
                (4, b"e".to_vec())
            ]
        );
        assert!(r.read_record().is_ok_and(|more| more));
        assert_eq!(
            (r.len(), r.first_long(), r.unkept_invalid()),
            (3, Some(1), Some(1))
        );
        assert_eq!(r.field(2), Some(&b"y"[..]));
        assert!(r.read_record().is_ok_and(|more| more));
        assert_eq!(
            (r.len(), r.first_long(), r.unkept_invalid()),
            (1, None, None)
        );
        assert_eq!(r.field(0), Some(&b"short"[..]));
        assert!(r.read_record().is_ok_and(|more| !more));
        // A field of exactly the limit is kept.
        let mut r = RecordReader::new(&b"12345;123456"[..], false).with_field_limits(
            5,
            9,
            Box::new(Recorder::default()),
        );
        assert!(r.read_record().is_ok_and(|more| more));
        assert_eq!((r.field(0), r.first_long()), (Some(&b"12345"[..]), Some(1)));
    }

    #[test]
    fn an_open_quote_is_reported_where_it_opened() {
        match records(b"h\nok\n\"open\nmore\nlines\n") {
            Err(DialectError::Syntax { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }

    /// §5 ("every line end outside quotes ends a row") and the README's message decision (a
    /// broken quote names the physical line where it is found): a lone CR is an ordinary byte,
    /// not a line end, so it leaves the numbering of the lines after it as it is.
    #[test]
    fn a_lone_cr_does_not_change_the_line_numbers_after_it() {
        match records(b"h\nx\ry;z\n\"bad\"x") {
            Err(DialectError::Syntax {
                line,
                field,
                message,
            }) => assert_eq!((line, field, message), (3, 0, "text after a closing quote")),
            other => panic!("{other:?}"),
        }
    }

    /// A source that fails its first read with `first`, then gives `data`.
    struct FailsOnce {
        first: Option<io::ErrorKind>,
        data: &'static [u8],
    }
    impl Read for FailsOnce {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.first.take() {
                Some(kind) => Err(io::Error::from(kind)),
                None => self.data.read(buf),
            }
        }
    }

    /// Reading the registry (§5): a read interrupted by a signal (`Interrupted`) is tried
    /// again, as `Read`'s contract asks, and reads the same records; any other failure of the
    /// source is an I/O error (the receiver's, not a registry unreadable by `B07`), reported
    /// at once rather than tried again.
    #[test]
    fn an_interrupted_read_is_tried_again_and_another_failure_is_an_io_error() {
        // Without a BOM to skip, and with one (the first read gathers three bytes).
        for (data, strip_bom) in [(&b"a;b\n"[..], false), (&b"\xEF\xBB\xBFa;b\n"[..], true)] {
            let mut r = RecordReader::new(
                FailsOnce {
                    first: Some(io::ErrorKind::Interrupted),
                    data,
                },
                strip_bom,
            );
            assert!(matches!(r.read_record(), Ok(true)), "BOM {strip_bom}");
            assert_eq!(
                (r.len(), r.field(0), r.field(1)),
                (2, Some(&b"a"[..]), Some(&b"b"[..]))
            );
            assert!(matches!(r.read_record(), Ok(false)));
        }
        let mut r = RecordReader::new(
            FailsOnce {
                first: Some(io::ErrorKind::PermissionDenied),
                data: b"a;b\n",
            },
            false,
        );
        match r.read_record() {
            Err(DialectError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied),
            other => panic!("{other:?}"),
        }
    }

    /// An [`Unkept`] check that keeps every piece it is given with its field index, and
    /// refuses a piece holding `!` (that piece alone: the field's last call is judged afresh).
    #[derive(Clone, Default)]
    struct Pieces(std::sync::Arc<std::sync::Mutex<Vec<Piece>>>);
    /// A piece given to [`Pieces`]: field index, bytes, whether it ended the field.
    type Piece = (usize, Vec<u8>, bool);
    impl Unkept for Pieces {
        fn check(&mut self, field: usize, bytes: &[u8], last: bool) -> bool {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            g.push((field, bytes.to_vec(), last));
            !bytes.contains(&b'!')
        }
    }

    /// §4 and §5 (bytes invalid in the declared encoding make the registry unreadable, `B07`),
    /// for a field too long to keep: every piece of it reaches the check under its own field
    /// index (the key field's pieces are what a `result.csv` echoes), and one invalid piece
    /// makes the field invalid though the pieces after it are valid.
    #[test]
    fn every_piece_of_a_long_field_is_checked_under_its_index_and_one_bad_piece_counts() {
        let input = b"ab;\"012345\"\"!\"\"678\";c\n";
        let seen = Pieces::default();
        let mut r =
            RecordReader::new(&input[..], false).with_field_limits(5, 9, Box::new(seen.clone()));
        assert!(r.read_record().is_ok_and(|more| more));
        assert_eq!(
            (r.len(), r.first_long(), r.unkept_invalid()),
            (3, Some(1), Some(1))
        );
        assert_eq!(r.field(2), Some(&b"c"[..]));
        let pieces = seen.0.lock().map(|g| g.clone()).unwrap_or_default();
        assert!(pieces.iter().all(|(field, _, _)| *field == 1), "{pieces:?}");
        let whole: Vec<u8> = pieces.iter().flat_map(|(_, b, _)| b.clone()).collect();
        assert_eq!(whole, b"012345\"!\"678");
        assert_eq!(
            pieces.last().map(|(_, b, last)| (b.len(), *last)),
            Some((0, true))
        );
        // A field past the kept ones: its first byte, given alone, is invalid.
        let seen = Pieces::default();
        let mut r = RecordReader::new(&b"a;b;!cd;e\n"[..], false).with_field_limits(
            5,
            2,
            Box::new(seen.clone()),
        );
        assert!(r.read_record().is_ok_and(|more| more));
        assert_eq!((r.len(), r.kept(), r.unkept_invalid()), (4, 2, Some(2)));
    }
}
