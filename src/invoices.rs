//! The billing export of agreement §9: validated whole, then upserted by `invoice_no`.
//!
//! An export with any invalid line is refused whole, naming every bad line and field. Loading
//! the same export twice changes nothing; payments (and so `paid`) are never touched.

use crate::bind::{BorrowingStatement, Param};
use crate::charset::Charset;
use crate::dialect::{DialectError, RecordReader};
use crate::schema::{Schema, SchemaError};
use crate::validate::{self, Context, Value};
use chrono::DateTime;
use rusqlite::Connection;
use std::collections::HashSet;
use std::io::Read;

/// Why an export is refused: every problem found, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct ExportError {
    /// Problems, each naming the file, line and field.
    pub problems: Vec<String>,
}

/// Reads and validates a whole export, handing every valid row to `visit` in file order: its
/// values in schema order, as text, and its `amount_due` in tiyin. Every problem is collected;
/// the error lists them all.
///
/// A record of any length is read to its end, as in a registry: at most `max_field` bytes of
/// a field are held, and a longer field is a problem of its own line and field (no valid
/// value comes near: the longest are 200 characters), so the lines after it are judged too.
pub fn each_row(
    file: &str,
    src: impl Read,
    schema: &Schema,
    max_field: usize,
    mut visit: impl FnMut(&[String], i64),
) -> Result<(), ExportError> {
    let mut problems = Vec::new();
    let width = schema.fields.len();
    let mut rr = RecordReader::new(src, true).with_field_limits(
        max_field,
        width.saturating_add(1),
        Charset::Utf8.unkept_check(),
    );
    // A broken quote is named by its line and its field (by the header's name, or by column
    // past the header or in the header line itself).
    let fail = |p: &mut Vec<String>, e: DialectError, header: bool| {
        p.push(match e {
            DialectError::Syntax {
                line,
                field,
                message,
            } => {
                let at = if header {
                    crate::schema::header_label(field)
                } else {
                    schema.field_label(field)
                };
                format!("{file} line {line}, {at}: {message}")
            }
            e => format!("{file} {e}"),
        })
    };
    let header: Vec<String> = match rr.read_record() {
        Ok(true) => (0..rr.len())
            .map(|i| String::from_utf8_lossy(rr.field(i).unwrap_or_default()).into_owned())
            .collect(),
        Ok(false) => {
            return Err(ExportError {
                problems: vec![format!("{file}: empty, the header line is missing")],
            });
        }
        Err(e) => {
            fail(&mut problems, e, true);
            return Err(ExportError { problems });
        }
    };
    let expected: Vec<&str> = schema.header().collect();
    if header != expected {
        return Err(ExportError {
            problems: vec![format!(
                "{file} line 1: header must be {}: {}",
                expected.join(";"),
                validate::header_difference(&header, validate::Held::of(&rr), &expected)
            )],
        });
    }
    // The export has no control record: "not after" rules have nothing to compare with.
    let ctx = Context {
        created_at: DateTime::parse_from_rfc3339("9999-12-31T23:59:59+05:00").unwrap_or_default(),
        business_date: chrono::NaiveDate::MAX,
    };
    let key = schema.primary_key.unwrap_or(0);
    let amount_idx = schema.index("amount_due");
    let mut seen = Seen::default();
    let twice = |line: u64, n: u64, no: &str| {
        format!("{file} line {line} (row {n}), field invoice_no: {no} appears twice")
    };
    let mut n = 0u64;
    let mut fields: Vec<String> = Vec::new();
    let mut texts: Vec<validate::Text> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut unreadable: Vec<usize> = Vec::new();
    loop {
        match rr.read_record() {
            Ok(true) => {}
            Ok(false) => break,
            Err(
                e @ DialectError::Syntax {
                    field: broken_at, ..
                },
            ) => {
                // Named, then the rest of its line skipped: later bad lines are named too.
                n = n.saturating_add(1);
                // An invoice number of the right form before the broken field is the line's,
                // as on any line: a repeat of an earlier line's, and one a later line repeats.
                let no = rr
                    .field(key)
                    .filter(|_| key < broken_at)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or_default();
                if validate::key_passes(schema, key, &ctx, no) && !seen.insert(no) {
                    problems.push(twice(rr.record_line(), n, no));
                }
                fail(&mut problems, e, false);
                if let Err(e) = rr.skip_line() {
                    fail(&mut problems, e.into(), false);
                    break;
                }
                continue;
            }
            Err(e) => {
                fail(&mut problems, e, false);
                break;
            }
        }
        n = n.saturating_add(1);
        let line = rr.record_line();
        // The row's text goes into the strings of the row before: no allocation a field.
        // Fields whose bytes are not UTF-8 are named as such, and the others judged all the
        // same (§9: every bad line and field named); a field too long to hold reads as empty,
        // its bytes checked as they were read.
        fields.resize_with(rr.kept(), String::new);
        unreadable.clear();
        unreadable.extend(rr.unkept_invalid());
        for (i, text) in fields.iter_mut().enumerate() {
            text.clear();
            match std::str::from_utf8(rr.field(i).unwrap_or_default()) {
                Ok(s) => text.push_str(s),
                Err(_) => unreadable.push(i),
            }
        }
        let held = validate::Held::of(&rr);
        let valid = unreadable.is_empty() && {
            texts.clear();
            texts.extend(fields.iter().map(|f| validate::Text::from(f.as_str())));
            values.clear();
            validate::check_held_into(schema, &ctx, &mut texts, held, &mut values).is_ok()
        };
        let failures = if valid {
            Vec::new()
        } else {
            validate::every_failure_unreadable(schema, &ctx, &fields, held, &unreadable)
        };
        // An invoice number of the right form that an earlier line has (valid or not, with the
        // right number of fields or not) is a repeat, whatever else is wrong on either line.
        let no = fields.get(key).map(String::as_str).unwrap_or_default();
        let key_ok = if failures.iter().any(|f| f.field.is_none()) {
            // The row's fields were not judged (their number is wrong): its key alone is, so
            // that no text but an invoice number of the right form is remembered. (A key not
            // UTF-8 or too long to hold reads as empty, and fails.)
            validate::key_passes(schema, key, &ctx, no)
        } else {
            !failures.iter().any(|f| f.field == Some(key))
        };
        let repeated = key_ok && !seen.insert(no);
        if valid && !repeated {
            let amount_due = amount_idx
                .and_then(|i| values.get(i))
                .map_or(0, Value::amount);
            visit(&fields, amount_due);
            continue;
        }
        // Named in column order.
        let mut named: Vec<(usize, String)> = failures
            .iter()
            .map(|f| {
                let fname = f
                    .field
                    .and_then(|i| schema.fields.get(i))
                    .map_or("(row)", |f| f.name.as_str());
                let at = f.field.unwrap_or(0);
                if f.field.is_some_and(|i| unreadable.contains(&i)) {
                    (
                        at,
                        format!("{file} line {line}, field {fname}: not valid UTF-8"),
                    )
                } else {
                    (
                        at,
                        format!(
                            "{file} line {line} (row {n}), field {fname}: {} ({})",
                            f.message, f.status
                        ),
                    )
                }
            })
            .collect();
        if repeated {
            named.push((key, twice(line, n, no)));
        }
        named.sort_by_key(|(at, _)| *at);
        problems.extend(named.into_iter().map(|(_, m)| m));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ExportError { problems })
    }
}

/// The invoice numbers of an export seen so far, to name one that appears twice.
///
/// Numbers of digits are held as [`crate::ident::digit_key`]s. The usual export lists them in
/// ascending order: those are kept in blocks of up to [`Seen::BLOCK`] keys, each key as its
/// 32-bit distance from its block's first key, so that ten million numbers take about 40 MB
/// (a hash set of keys took about 450 MB at its peak). A key that comes at or below the
/// greatest one so far is looked for in the blocks, and kept in a hash set; numbers that are
/// not digits are kept as text.
#[derive(Debug, Default)]
struct Seen {
    /// The first key of each block, ascending.
    bases: Vec<u128>,
    /// Where each block begins in `offsets`.
    starts: Vec<usize>,
    /// Every key that came in ascending order, less its block's first key.
    offsets: Vec<u32>,
    /// The greatest key so far.
    max: Option<u128>,
    /// Keys that came out of order.
    other: HashSet<u128>,
    /// Numbers that are not digits.
    text: HashSet<String>,
}

impl Seen {
    /// Keys a block at most: a key out of order is found by a binary search among the blocks'
    /// first keys, then one within its block.
    const BLOCK: usize = 128;

    /// Notes the number `no`; `false` if it was noted before.
    fn insert(&mut self, no: &str) -> bool {
        match crate::ident::digit_key(no) {
            Some(k) => self.insert_key(k),
            None => self.text.insert(no.to_owned()),
        }
    }

    fn insert_key(&mut self, k: u128) -> bool {
        if self.max.is_none_or(|m| k > m) {
            self.max = Some(k);
            let offset = match (self.bases.last(), self.starts.last()) {
                (Some(&base), Some(&start))
                    if self.offsets.len().saturating_sub(start) < Self::BLOCK =>
                {
                    u32::try_from(k.saturating_sub(base)).ok()
                }
                _ => None,
            };
            match offset {
                Some(offset) => self.offsets.push(offset),
                None => {
                    self.bases.push(k);
                    self.starts.push(self.offsets.len());
                    self.offsets.push(0);
                }
            }
            return true;
        }
        !self.in_blocks(k) && self.other.insert(k)
    }

    /// Whether `k` is one of the keys that came in ascending order.
    fn in_blocks(&self, k: u128) -> bool {
        // The last block whose first key is at most `k`.
        let Some(i) = self.bases.partition_point(|&b| b <= k).checked_sub(1) else {
            return false;
        };
        let (Some(&base), Some(&start)) = (self.bases.get(i), self.starts.get(i)) else {
            return false;
        };
        let end = self
            .starts
            .get(i.saturating_add(1))
            .copied()
            .unwrap_or(self.offsets.len());
        let Ok(offset) = u32::try_from(k.saturating_sub(base)) else {
            return false;
        };
        self.offsets
            .get(start..end)
            .is_some_and(|block| block.binary_search(&offset).is_ok())
    }
}

/// Valid invoices handed from the thread that reads an export to the one that writes them:
/// their values' text side by side, so that a chunk of rows costs a few allocations, not one a
/// field (the rows all have the schema's width).
#[derive(Debug, Default)]
struct Chunk {
    /// The text of every value, one after the other.
    text: String,
    /// Where each value's text ends in `text`, row after row.
    ends: Vec<usize>,
    /// Each row's `amount_due`, tiyin.
    amounts: Vec<i64>,
    /// Values a row.
    width: usize,
}

impl Chunk {
    fn push(&mut self, values: &[String], amount_due: i64) {
        self.width = values.len();
        for v in values {
            self.text.push_str(v);
            self.ends.push(self.text.len());
        }
        self.amounts.push(amount_due);
    }

    /// An empty chunk with room for as much as this one holds.
    fn sized_alike(&self) -> Chunk {
        Chunk {
            text: String::with_capacity(self.text.len()),
            ends: Vec::with_capacity(self.ends.len()),
            amounts: Vec::with_capacity(self.amounts.len()),
            width: self.width,
        }
    }

    /// Value `i` of row `row` (empty past the end).
    fn field(&self, row: usize, i: usize) -> &str {
        let k = row.saturating_mul(self.width).saturating_add(i);
        let start = match k.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(k).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or_default()
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Invoices in the export.
    pub rows: u64,
    /// Invoices inserted or changed.
    pub changed: u64,
}

/// The invoice columns an export sets, in the order of [`STORED`].
pub(crate) const INVOICE_COLUMNS: &str = "invoice_no, court_code, case_no, payer_type, payer_id, payer_name, amount_due, issued_at, status";

/// The fields of the billing export that the `invoices` table keeps, by name: an export schema
/// may order its fields as it likes and add more (they are checked, and kept in the export's
/// kept copy, but not in the table); it must have each of these.
pub const STORED: [&str; 9] = [
    "invoice_no",
    "court_code",
    "case_no",
    "payer_type",
    "payer_id",
    "payer_name",
    "amount_due",
    "issued_at",
    "status",
];

/// Where each of the [`STORED`] fields is in the export's schema, in that order. The schema's
/// primary key must be `invoice_no`, the key the table is upserted by.
pub fn stored_columns(schema: &Schema) -> Result<[usize; 9], SchemaError> {
    let lacks = |message: String| SchemaError {
        file: format!("{}.json", schema.name),
        message,
    };
    let mut cols = [0; 9];
    for (col, name) in cols.iter_mut().zip(STORED) {
        *col = schema.index(name).ok_or_else(|| {
            lacks(format!(
                "lacks field {name}, which the invoices table keeps (needed: {})",
                STORED.join(", ")
            ))
        })?;
        if !schema.fields.get(*col).is_some_and(|f| f.required) {
            return Err(lacks(format!(
                "field {name} must be required: the invoices table keeps it"
            )));
        }
    }
    if schema.amount_field.is_some() {
        return Err(lacks(
            "amountField applies to registries (the amount_total of §6); an export has none".into(),
        ));
    }
    if schema.primary_key != Some(cols[0]) {
        return Err(lacks(
            "primaryKey must be invoice_no, the key invoices are updated by (§9)".into(),
        ));
    }
    Ok(cols)
}

/// What an upsert of an invoice changes when the number exists: everything the export sets,
/// and only when something differs (so that loading an export twice changes nothing).
const UPSERT: &str = "ON CONFLICT(invoice_no) DO UPDATE SET court_code=excluded.court_code,
   case_no=excluded.case_no, payer_type=excluded.payer_type, payer_id=excluded.payer_id,
   payer_name=excluded.payer_name, amount_due=excluded.amount_due, issued_at=excluded.issued_at,
   status=excluded.status, import_seq=excluded.import_seq
 WHERE (court_code, case_no, payer_type, payer_id, payer_name, amount_due, issued_at, status) IS NOT
       (excluded.court_code, excluded.case_no, excluded.payer_type, excluded.payer_id,
        excluded.payer_name, excluded.amount_due, excluded.issued_at, excluded.status)";

/// Rows handed from the reading thread to the staging one at a time.
const STAGE_CHUNK: usize = 4096;

/// Validates a whole export while staging it in a temporary table, then upserts it by
/// `invoice_no` in one sorted statement, within the caller's transaction. An export with any
/// invalid line changes nothing (the caller rolls back) and every problem is returned. At most
/// `max_field` bytes of a field are held ([`each_row`]).
pub fn load(
    conn: &Connection,
    file: &str,
    src: impl Read + Send,
    schema: &Schema,
    import_seq: i64,
    max_field: usize,
) -> Result<Result<Loaded, ExportError>, rusqlite::Error> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS import_stage (
           invoice_no TEXT, court_code TEXT, case_no TEXT, payer_type TEXT, payer_id TEXT,
           payer_name TEXT, amount_due INTEGER, issued_at TEXT, status TEXT);
         DELETE FROM temp.import_stage;",
    )?;
    let [
        c_no,
        c_court,
        c_case,
        c_ptype,
        c_pid,
        c_pname,
        _,
        c_issued,
        c_status,
    ] = match stored_columns(schema) {
        Ok(cols) => cols,
        Err(e) => {
            return Ok(Err(ExportError {
                problems: vec![e.to_string()],
            }));
        }
    };
    let mut rows = 0u64;
    let mut changed = 0u64;
    // Text is bound in place, not copied by SQLite first ([`crate::bind`]).
    let mut stage = BorrowingStatement::prepare(
        conn,
        "INSERT INTO temp.import_stage VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    )?;
    let mut direct = BorrowingStatement::prepare(
        conn,
        &format!(
            "INSERT INTO invoices({INVOICE_COLUMNS}, import_seq)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) {UPSERT}"
        ),
    )?;
    // Rows in ascending invoice number order (the usual export) are upserted as they come;
    // from the first row out of order on, the rest is staged and upserted sorted at the end.
    // Each row's upsert is independent of the others, so the result is the same either way.
    // The last number upserted directly; `None` once a row came out of order.
    let mut last: Option<String> = Some(String::new());
    // Two cores: one reads, decodes and validates; this one stages the rows.
    let parsed = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        let reader = scope.spawn(move || {
            let mut chunk = Chunk::default();
            let r = each_row(file, src, schema, max_field, |values, amount_due| {
                chunk.push(values, amount_due);
                if chunk.amounts.len() >= STAGE_CHUNK {
                    let next = chunk.sized_alike();
                    // A closed channel means staging failed: the error is reported below.
                    let _ = tx.send(std::mem::replace(&mut chunk, next));
                }
            });
            if !chunk.amounts.is_empty() {
                let _ = tx.send(chunk);
            }
            r
        });
        let staged = (|| {
            for chunk in &rx {
                for (row, &amount_due) in chunk.amounts.iter().enumerate() {
                    rows = rows.saturating_add(1);
                    let v = |i: usize| chunk.field(row, i);
                    let a = v(c_no);
                    let in_order = last.as_ref().is_some_and(|l| rows == 1 || a > l.as_str());
                    let values = [
                        Param::Text(a),
                        Param::Text(v(c_court)),
                        Param::Text(v(c_case)),
                        Param::Text(v(c_ptype)),
                        Param::Text(v(c_pid)),
                        Param::Text(v(c_pname)),
                        Param::Int(amount_due),
                        Param::Text(v(c_issued)),
                        Param::Text(v(c_status)),
                        Param::Int(import_seq),
                    ];
                    if in_order {
                        changed = changed.saturating_add(direct.execute(&values)? as u64);
                        if let Some(l) = last.as_mut() {
                            l.clear();
                            l.push_str(a); // no allocation per row
                        }
                    } else {
                        last = None;
                        // The stage has no import_seq column: the upsert at the end sets it.
                        stage.execute(values.get(..9).unwrap_or_default())?;
                    }
                }
            }
            Ok::<(), rusqlite::Error>(())
        })();
        drop(rx);
        let parsed = reader.join().unwrap_or_else(|_| {
            Err(ExportError {
                problems: vec![format!("{file}: the reading thread failed")],
            })
        });
        staged.map(|()| parsed)
    })?;
    drop((stage, direct));
    let problems = parsed.err().map(|e| e.problems).unwrap_or_default();
    if !problems.is_empty() {
        conn.execute("DELETE FROM temp.import_stage", [])?;
        return Ok(Err(ExportError { problems }));
    }
    let changed = changed.saturating_add(conn.execute(
        &format!(
            "INSERT INTO invoices({INVOICE_COLUMNS}, import_seq)
                 SELECT {INVOICE_COLUMNS}, ?1 FROM temp.import_stage WHERE true ORDER BY invoice_no
                 {UPSERT}"
        ),
        [import_seq],
    )? as u64);
    conn.execute("DELETE FROM temp.import_stage", [])?;
    Ok(Ok(Loaded { rows, changed }))
}

#[cfg(test)]
mod tests {
    use super::{Chunk, Seen};
    use std::collections::HashSet;

    #[test]
    fn seen_numbers_are_found_again_in_and_out_of_order() {
        let mut seen = Seen::default();
        let n = |i: u64| format!("{:020}", 10_000_000_000_000_000_000u64 + i * 7919);
        // Ascending, across many blocks.
        for i in 0..1000 {
            assert!(seen.insert(&n(i)), "{i} is new");
        }
        // Close ascending numbers fill their blocks: a block opens every BLOCK keys, never
        // sooner (a key within a block costs 4 bytes, one opening a block 28) nor later.
        let opened: Vec<usize> = (0..1000).step_by(Seen::BLOCK).collect();
        assert_eq!(seen.starts, opened, "full blocks of {} keys", Seen::BLOCK);
        assert_eq!(seen.bases.len(), opened.len());
        assert!(
            seen.other.is_empty(),
            "ascending numbers stay in the blocks"
        );
        // Each again, whether it opened its block, closed it or sat inside.
        for i in [0, 1, 127, 128, 129, 500, 999] {
            assert!(!seen.insert(&n(i)), "{i} again");
        }
        // Between two seen numbers, below the first, and then again.
        for x in ["10000000000000000001", "00000000000000000001"] {
            assert!(seen.insert(x), "{x} is new");
            assert!(!seen.insert(x), "{x} again");
        }
        // A gap wider than 32 bits opens a block, a shorter number of the same value is
        // another number, text is text.
        let far = "99999999999999999999";
        assert!(seen.insert(far) && !seen.insert(far));
        assert!(seen.insert("1") && !seen.insert("1") && seen.insert("01"));
        assert!(seen.insert("A-1") && !seen.insert("A-1"));
    }

    proptest::proptest! {
        /// Whatever the order, a number is new exactly when a plain set of numbers says so.
        #[test]
        fn seen_agrees_with_a_set(steps in proptest::collection::vec((0u8..4, 0u64..5_000_000_000), 0..600)) {
            let mut seen = Seen::default();
            let mut model = HashSet::new();
            let mut up = 0u64;
            for (how, x) in steps {
                let no = match how {
                    // Mostly ascending, with gaps small and large.
                    0 | 1 => {
                        up += x % 1000 + 1;
                        up.to_string()
                    }
                    2 => up.saturating_sub(x % 3000).to_string(),
                    _ => (x * 977).to_string(),
                };
                proptest::prop_assert_eq!(seen.insert(&no), model.insert(no.clone()), "{}", no);
            }
        }
    }

    #[test]
    fn a_chunk_gives_back_every_value_of_every_row() {
        let rows: [[&str; 3]; 3] = [["1", "", "Ўзбек"], ["", "", ""], ["x;y", "\"q\"", "z"]];
        let mut c = Chunk::default();
        for (k, r) in rows.iter().enumerate() {
            let owned: Vec<String> = r.iter().map(|v| v.to_string()).collect();
            c.push(&owned, k as i64 * 100);
        }
        for (k, r) in rows.iter().enumerate() {
            for (i, v) in r.iter().enumerate() {
                assert_eq!(c.field(k, i), *v, "row {k}, value {i}");
            }
        }
        assert_eq!(c.amounts, [0, 100, 200]);
        assert_eq!(c.field(3, 0), "", "past the end");
        let next = c.sized_alike();
        assert!(next.amounts.is_empty() && next.text.capacity() >= c.text.len());
    }
}
