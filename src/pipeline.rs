//! The pure core of one batch: from the kept inbound archive, the receiver's policy and the
//! books, to a [`Verdict`] and the bytes of `result.csv`. Checks run in the agreement's order
//! (§7.1): `B10`, `B09`, `B01`, `B02`, `B03`, `B05`, `B04`, `B06`, `B07`, `B08`.

use crate::amount;
use crate::archive::{self, Limits, REGISTRY, ReadError};
use crate::charset::Charset;
use crate::code::{BatchCode, RowStatus};
use crate::control::{self, Control};
use crate::dialect::{DialectError, RecordReader};
use crate::index::{InvoiceKeys, Slot};
use crate::integrity::{self, CONTROL, Key};
use crate::name::{BatchName, Role};
use crate::reconcile::{Books, Reconciler};
use crate::respond::{Header, ResultWriter, Verdict};
use crate::schema::{Schema, Schemas};
use crate::store::{PaymentRecord, StoreError};
use crate::validate::{self, Context};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// What the receiver's configuration says about one inbound sender, as used for a batch.
/// Recorded in the journal so that a replay uses what was in force then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// The receiver's own code.
    pub own: String,
    /// Whether the sender is a configured partner.
    pub partner_known: bool,
    /// Types configured for the sender.
    pub types: Vec<String>,
    /// Fingerprint of the sender's key, when one is configured.
    pub key_fingerprint: Option<String>,
    /// The key itself (never serialized).
    #[serde(skip)]
    pub key: Option<Key>,
    /// The limits of §3 in force (journaled so that a replay judges under them; entries
    /// written before 2026-11-24 have none, and a replay of them uses the current ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::archive::Limits>,
}

/// A failure of the receiver itself: the archive is not answered now and stays for a retry.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// File system.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// Store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Schema unusable for the type's logic.
    #[error("schema: {0}")]
    Schema(String),
    /// Writing the response.
    #[error("writing the response: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Abandoned on request (signal); nothing applied, the archive stays for the next run.
    #[error(
        "interrupted; nothing of the archive in hand (if any) was applied, and it stays in the inbox"
    )]
    Cancelled,
}

/// A temporary `result.csv`, removed when dropped.
#[derive(Debug)]
pub struct Spool {
    /// The open file, positioned at its start once finished.
    pub file: File,
    /// Its path.
    pub path: PathBuf,
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// Length.
    pub len: u64,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A batch's answer.
#[derive(Debug)]
pub struct Evaluation {
    /// Response header.
    pub header: Header,
    /// The verdict.
    pub verdict: Verdict,
    /// `result.csv` for an ACK.
    pub result: Option<Spool>,
    /// Rows by status code (ACK).
    pub counts: BTreeMap<u16, u64>,
}

impl Evaluation {
    /// Whether this is an ACK.
    pub fn is_ack(&self) -> bool {
        matches!(self.verdict, Verdict::Ack { .. })
    }
}

/// One batch to judge.
pub struct Job<'a> {
    /// The kept inbound archive.
    pub path: &'a Path,
    /// Its parsed name.
    pub name: &'a BatchName,
    /// SHA-256 of its bytes, hex.
    pub sha256: &'a str,
    /// Policy for its sender.
    pub policy: &'a Policy,
    /// Schemas in force.
    pub schemas: &'a Schemas,
    /// Archive limits.
    pub limits: &'a Limits,
    /// Whether an ACK was already sent for this batch id (with other bytes).
    pub already_acked: bool,
    /// Folder for the temporary `result.csv`.
    pub spool_dir: &'a Path,
    /// Set from outside (a signal) to abandon the batch; checked every few thousand rows.
    pub cancel: Option<&'a AtomicBool>,
    /// Told `(rows done, rows declared)` every few thousand rows.
    pub progress: Option<&'a dyn Fn(u64, u64)>,
    /// Rows validated ahead and reconciled together ([`CHUNK_ROWS`] by default). The answer
    /// does not depend on it; tests vary it to prove that.
    pub chunk_rows: usize,
}

type Reject = (BatchCode, String);

/// The batch checks that need only the name and the policy, in the agreement's order: `B10`
/// (receiver, sender, type), then `B09` (a batch id already acknowledged).
fn refusal(job: &Job<'_>) -> Option<Reject> {
    let (name, p) = (job.name, job.policy);
    if name.receiver != p.own {
        return Some((
            BatchCode::B10,
            format!(
                "receiver {} is not this receiver ({})",
                name.receiver, p.own
            ),
        ));
    }
    if !p.partner_known {
        return Some((
            BatchCode::B10,
            format!("sender {} is not configured", name.sender),
        ));
    }
    if !p.types.iter().any(|t| t == name.kind.as_str()) {
        return Some((
            BatchCode::B10,
            format!(
                "type {} is not configured for sender {}",
                name.kind, name.sender
            ),
        ));
    }
    if job.already_acked {
        return Some((
            BatchCode::B09,
            format!(
                "batch {} was already processed (ACK) from an archive with other bytes; only the same bytes get that response again",
                name.batch_id()
            ),
        ));
    }
    None
}

/// Judges a batch and, for an ACK, reconciles and applies its rows through `books`.
/// The caller rolls `books` back when the verdict is a NAK.
pub fn evaluate(job: &Job<'_>, books: &mut dyn Books) -> Result<Evaluation, PipelineError> {
    evaluate_then(job, books, Ok)
}

/// [`evaluate`], handing the evaluation to `then` (say, writing the response), which runs on
/// another thread while the books write what they still hold for an ACK ([`Books::finish`]);
/// returns what `then` gave, once both are done.
pub fn evaluate_then<T: Send, E: From<PipelineError> + Send>(
    job: &Job<'_>,
    books: &mut dyn Books,
    then: impl FnOnce(Evaluation) -> Result<T, E> + Send,
) -> Result<T, E> {
    let ev = judge(job, books)?;
    if !ev.is_ack() {
        return then(ev);
    }
    std::thread::scope(|scope| {
        let handed = scope.spawn(move || then(ev));
        let finished = books.finish();
        let handed = handed.join().unwrap_or_else(|_| {
            Err(PipelineError::Io(io::Error::other("the evaluation's next step failed")).into())
        });
        finished.map_err(PipelineError::from)?;
        handed
    })
}

/// [`evaluate`] up to [`Books::finish`].
fn judge(job: &Job<'_>, books: &mut dyn Books) -> Result<Evaluation, PipelineError> {
    let name = job.name;
    let t0 = std::time::Instant::now();
    // B10 and B09 need only the name and the policy; they are answered once the archive has
    // been read (for the response's created_at, §8).
    let refused = refusal(job);
    // While the archive is read and checked on another thread, the rows are evaluated ahead
    // on this one (`Ahead`): the books prepare for the rows control.txt declares, then the
    // registry is decoded, validated and reconciled in a savepoint the caller rolls back on a
    // NAK. Whatever the archive checks find still gives the answer, in the agreement's order;
    // work done ahead only counts when the checks pass and the entries it read are the ones
    // the checks judged, and is abandoned early when they fail.
    let abandon = AtomicBool::new(false);
    let (read, ahead) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let read = archive::read(job.path, job.limits);
            if read.is_err() {
                abandon.store(true, Ordering::Relaxed);
            }
            read
        });
        let ahead = if refused.is_none() {
            rows_ahead(job, books, &abandon)
        } else {
            Ok(None)
        };
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(ReadError::Io(io::Error::other("the archive reader failed"))));
        (read, ahead)
    });
    tracing::debug!(
        ms = t0.elapsed().as_millis() as u64,
        "stage archive (inflate, hash, limits)"
    );
    // What judging control.txt needs, read once (streamed again from the kept archive when
    // it is too large to have been held).
    let record = match &read {
        Ok(a) => control_record(job, a)?,
        Err(_) => None,
    };
    let created_at = record
        .as_ref()
        .and_then(|r| r.created_at().map(str::to_owned));
    let header = Header {
        own: job.policy.own.clone(),
        partner: name.sender.clone(),
        kind: name.kind,
        date_text: name.date_text.clone(),
        business_date: name.date,
        seq: name.seq.clone(),
        created_at: created_at.unwrap_or_else(|| Header::fallback_created_at(name.date)),
        in_reply_to: name.batch_id(),
        in_reply_to_sha256: job.sha256.to_string(),
    };
    // §8: an archive that did not pass the B01 and B02 checks gets the fallback `created_at`.
    let nak = |mut header: Header, (code, message): Reject| {
        if matches!(code, BatchCode::B01 | BatchCode::B02) {
            header.created_at = Header::fallback_created_at(name.date);
        }
        Evaluation {
            header,
            verdict: Verdict::Nak { code, message },
            result: None,
            counts: BTreeMap::new(),
        }
    };
    if let Some(r) = refused {
        return Ok(nak(header, r));
    }
    let archive = match read {
        Ok(a) => a,
        // What the zip reader finds is about the archive file itself or an entry in it: the
        // message names the archive (§8: "naming the file").
        Err(ReadError::Reject { code, message }) => {
            let message = format!("{}.zip: {message}", name.batch_id());
            return Ok(nak(header, (code, message)));
        }
        Err(ReadError::Io(e)) => return Err(e.into()),
    };
    let checks = match integrity::check_files(&archive) {
        // Only now is the manifest's HMAC needed (B03 comes first).
        Ok(()) => {
            let streamed = streamed_manifest_mac(job, &archive)?;
            integrity::check_hmac(&archive, job.policy.key.as_ref(), streamed)
                .and_then(|()| integrity::check_manifest(&archive))
        }
        Err(r) => Err(r),
    };
    if let Err(r) = checks {
        return Ok(nak(header, r));
    }
    let control_bytes = archive.get(CONTROL).and_then(|c| c.data.as_deref());
    let control = match record.as_ref().map(|r| control::judge(r, name)) {
        Some(Ok(c)) => c,
        Some(Err(m)) => return Ok(nak(header, (BatchCode::B06, m))),
        None => {
            return Ok(nak(
                header,
                (
                    BatchCode::B03,
                    "required file control.txt is missing".into(),
                ),
            ));
        }
    };
    let Some(reg) = archive.get(REGISTRY) else {
        return Ok(nak(
            header,
            (
                BatchCode::B03,
                "required file registry.csv is missing".into(),
            ),
        ));
    };
    let rows_result = match ahead? {
        Some(a) if Some(a.control.as_slice()) == control_bytes && a.registry == reg.index => {
            a.rows?
        }
        Some(_) => {
            return Err(PipelineError::Io(io::Error::other(
                "the kept archive changed while it was read: its entries differ between two reads",
            )));
        }
        None => rows_of(job, &control, reg.index, books, None)?,
    };
    match rows_result {
        Ok((verdict, spool, counts)) => Ok(Evaluation {
            header,
            verdict,
            result: Some(spool),
            counts,
        }),
        Err(r) => Ok(nak(header, r)),
    }
}

/// Rows evaluated while the archive was still being checked, with the entries they were read
/// from (compared with the ones the checks judged before the rows count).
struct Ahead {
    /// The bytes of `control.txt` the rows were evaluated with.
    control: Vec<u8>,
    /// Central-directory index of the registry read.
    registry: usize,
    /// What the rows gave.
    rows: Result<RowsResult, PipelineError>,
}

/// Evaluates the rows before the archive checks are done (see [`evaluate`]): prepares the
/// books for the rows `control.txt` declares, then, if it parses and the registry is there,
/// runs the rows, stopping early once `abandon` is set. `None` when there is nothing to do
/// ahead (the rows are then evaluated after the checks, if they pass).
fn rows_ahead(
    job: &Job<'_>,
    books: &mut dyn Books,
    abandon: &AtomicBool,
) -> Result<Option<Ahead>, PipelineError> {
    // A control file too large to hold is judged after the checks, streamed (`control_record`).
    let Some(bytes) = archive::peek(job.path, CONTROL, archive::KEEP_LIMIT + 1)
        .filter(|b| b.len() as u64 <= archive::KEEP_LIMIT)
    else {
        return Ok(None);
    };
    let record = control::Record::of(&bytes);
    if let Some(rows) = record.rows_hint() {
        books.expect_rows(rows)?;
    }
    let (Ok(control), Some(registry)) = (
        control::judge(&record, job.name),
        archive::locate(job.path, REGISTRY),
    ) else {
        return Ok(None);
    };
    if abandon.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let rows = rows_of(job, &control, registry, books, Some(abandon));
    Ok(Some(Ahead {
        control: bytes,
        registry,
        rows,
    }))
}

/// [`rows`] of the registry at central-directory `index` (its schema and reconciler, its
/// reader), stopping early once `abandon` is set, for rows evaluated ahead.
fn rows_of(
    job: &Job<'_>,
    control: &Control,
    index: usize,
    books: &mut dyn Books,
    abandon: Option<&AtomicBool>,
) -> Result<RowsResult, PipelineError> {
    let schema = job.schemas.for_type(job.name.kind).ok_or_else(|| {
        PipelineError::Schema(format!("type {} has no schema in force", job.name.kind))
    })?;
    let mut reconciler = Reconciler::new(job.name.kind, schema)
        .map_err(|e| PipelineError::Schema(format!("{}.json {e}", schema.name)))?;
    let src = match archive::open_entry(job.path, index) {
        Ok(r) => r,
        Err(ReadError::Reject { code, message }) => return Ok(Err((code, message))),
        Err(ReadError::Io(e)) => return Err(e.into()),
    };
    let t = std::time::Instant::now();
    let r = rows(job, control, schema, &mut reconciler, books, src, abandon);
    tracing::debug!(
        ms = t.elapsed().as_millis() as u64,
        ahead = abandon.is_some(),
        "stage rows (decode, validate, reconcile, apply)"
    );
    r
}

/// `control.txt` of an archive that passed `B01` and `B02`, gathered for judging: from the bytes
/// held, or streamed again from the kept archive when it was too large to hold (a failure to
/// read it now is the receiver's own). `None` without a `control.txt`.
fn control_record(
    job: &Job<'_>,
    a: &archive::Archive,
) -> Result<Option<control::Record>, PipelineError> {
    let Some(entry) = a.get(CONTROL) else {
        return Ok(None);
    };
    if let Some(b) = entry.data.as_deref() {
        return Ok(Some(control::Record::of(b)));
    }
    Ok(Some(control::Record::read(reopen(job, entry.index)?)?))
}

/// What stops a rows pass: a signal (the job's flag) or, for rows evaluated ahead, the archive
/// checks failing.
#[derive(Clone, Copy)]
struct Stop<'a> {
    cancel: Option<&'a AtomicBool>,
    abandon: Option<&'a AtomicBool>,
}

impl Stop<'_> {
    fn now(self) -> bool {
        [self.cancel, self.abandon]
            .into_iter()
            .flatten()
            .any(|f| f.load(Ordering::Relaxed))
    }
}

fn decode_fields(
    rr: &RecordReader<impl io::Read>,
    cs: Charset,
    out: &mut Vec<validate::Text>,
    what: impl Fn(usize) -> String,
) -> Result<(), Reject> {
    out.clear();
    let invalid = |i: usize| {
        (
            BatchCode::B07,
            format!(
                "registry.csv line {}, {}: bytes invalid in {}",
                rr.record_line(),
                what(i),
                cs.as_str()
            ),
        )
    };
    // Usually every field kept is whole: then no field is looked up among the long ones.
    let any_long = rr.first_long().is_some();
    for i in 0..rr.kept() {
        if any_long && rr.is_long(i) {
            // Not kept: its bytes were checked as they were read, and it fails as too long.
            if rr.unkept_invalid() == Some(i) {
                return Err(invalid(i));
            }
            out.push(validate::Text::default());
            continue;
        }
        match cs.decode_text(rr.field(i).unwrap_or_default()) {
            Some(s) => out.push(s),
            None => return Err(invalid(i)),
        }
    }
    // Fields past the kept ones, checked as they were read.
    match rr.unkept_invalid() {
        Some(i) => Err(invalid(i)),
        None => Ok(()),
    }
}

/// With a key, the HMAC of a manifest too large to be kept in memory, computed by streaming
/// it again from the kept archive (which already passed `B01` and `B02`: a failure to read it
/// now is the receiver's own).
fn streamed_manifest_mac(
    job: &Job<'_>,
    archive: &archive::Archive,
) -> Result<Option<integrity::StreamedMac>, PipelineError> {
    let (Some(key), Some(m)) = (job.policy.key.as_ref(), archive.get(integrity::MANIFEST)) else {
        return Ok(None);
    };
    if m.data.is_some() {
        return Ok(None);
    }
    Ok(Some(key.mac_of(reopen(job, m.index)?)?))
}

/// Entry `index` of the kept archive, which already passed `B01` and `B02`, streamed again: a
/// failure to read it now is the receiver's own.
fn reopen(job: &Job<'_>, index: usize) -> io::Result<impl io::Read + use<>> {
    archive::open_entry(job.path, index).map_err(|e| match e {
        ReadError::Io(io) => io,
        ReadError::Reject { message, .. } => io::Error::other(message),
    })
}

/// The answer to a registry that breaks the dialect (`B07`, naming the line and the field as
/// `what` calls it), or to bytes the archive could not give (`B01`).
fn syntax(e: DialectError, what: impl Fn(usize) -> String) -> Result<Reject, PipelineError> {
    match e {
        DialectError::Syntax {
            line,
            field,
            message,
        } => Ok((
            BatchCode::B07,
            format!("{REGISTRY} line {line}, {}: {message}", what(field)),
        )),
        DialectError::Io(io)
            if matches!(
                io.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Ok((BatchCode::B01, format!("registry.csv: {io}")))
        }
        DialectError::Io(io) => Err(io.into()),
    }
}

/// Rows validated ahead and then reconciled together, so that the store is read in sorted
/// batches and written once per chunk.
pub const CHUNK_ROWS: usize = 8 * 1024;

/// A chunk also ends once its rows hold this many bytes of text (memory stays bounded when
/// rows are long).
const CHUNK_BYTES: usize = 4 << 20;

/// A validated row waiting for reconciliation.
struct Pending {
    line: u64,
    pid: validate::Text,
    /// Where the payment id lies in the spool of ids too long to hold (`pid` is then empty).
    spooled: Option<crate::echo::Spooled>,
    amount: Option<i64>,
    /// Where the row's values lie in its chunk's [`Chunk::values`], or why it is not
    /// well-formed.
    checked: Result<std::ops::Range<usize>, validate::Failure>,
    /// Where the books' table of invoices has the row's invoice (found by the reading thread).
    slot: Slot,
}

/// Validated rows, in order, with the values of the well-formed ones side by side: one vector
/// for a chunk, not one a row (which the reading thread allocated and the reconciling thread
/// freed).
struct Chunk {
    rows: Vec<Pending>,
    values: Vec<validate::Value>,
}

impl Chunk {
    /// The values of a well-formed row.
    fn values_of(&self, p: &Pending) -> Option<&[validate::Value]> {
        p.checked
            .as_ref()
            .ok()
            .and_then(|r| self.values.get(r.clone()))
    }
}

/// Rows whose invoices [`Books::warm`] brings into the CPU cache at a time: few enough that
/// they are still there when their rows are reconciled.
const WARM_ROWS: usize = 256;

/// What the reading thread sends.
enum Produced {
    /// Validated rows, in order.
    Chunk(Chunk),
    /// The end of the registry: data rows and the sum of well-formed amounts.
    Done { rows: u64, total: i128 },
    /// The registry is unreadable (`B07`).
    Reject(Reject),
    /// A failure of the receiver.
    Failed(PipelineError),
}

/// What the reconciling thread hands back to the reading thread, which allocated it, to be
/// freed there: a chunk's payment ids, the payment records written to the store, and the
/// chunk's values (their vector is used again for a later chunk).
struct Spent {
    _ids: Vec<String>,
    _payments: Vec<PaymentRecord>,
    values: Vec<validate::Value>,
}

/// Reads, decodes and validates every data row, sending them in chunks (and freeing what
/// comes back, [`Spent`]).
#[allow(clippy::too_many_arguments)]
fn produce<R: io::Read>(
    mut rr: RecordReader<R>,
    pids: &crate::echo::PidSpool,
    schema: &Schema,
    ctx: &Context,
    cs: Charset,
    chunk_rows: usize,
    stop: Stop<'_>,
    invoices: Option<(&InvoiceKeys, usize)>,
    tx: mpsc::SyncSender<Produced>,
    spent: mpsc::Receiver<Spent>,
) {
    let (amount_idx, pk) = (schema.amount_field, schema.primary_key);
    let mut fields: Vec<validate::Text> = Vec::with_capacity(schema.fields.len());
    let mut n: u64 = 0;
    let mut total: i128 = 0;
    let width = schema.fields.len();
    // Values vectors the reconciling thread has handed back, emptied here.
    let mut free: Vec<Vec<validate::Value>> = Vec::new();
    let mut chunk = Chunk {
        rows: Vec::with_capacity(chunk_rows),
        values: Vec::with_capacity(chunk_rows.saturating_mul(width)),
    };
    let mut chunk_bytes = 0usize;
    loop {
        match rr.read_record() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let _ = tx.send(match syntax(e, |i| schema.field_label(i)) {
                    Ok(r) => Produced::Reject(r),
                    Err(e) => Produced::Failed(e),
                });
                return;
            }
        }
        n = n.saturating_add(1);
        if n.is_multiple_of(4096) && stop.now() {
            let _ = tx.send(Produced::Failed(PipelineError::Cancelled));
            return;
        }
        if let Err(r) = decode_fields(&rr, cs, &mut fields, |i| schema.field_label(i)) {
            let _ = tx.send(Produced::Reject(r));
            return;
        }
        let well_sized = rr.len() == schema.fields.len();
        let row_amount = match amount_idx {
            Some(i) if well_sized => fields.get(i).and_then(|a| amount::parse(a)),
            _ => None,
        };
        total = total.saturating_add(i128::from(row_amount.unwrap_or(0)));
        let pid = pk.and_then(|i| fields.get(i)).cloned().unwrap_or_default();
        // A key field too long to hold was spooled while it was read.
        let spooled = match pk.filter(|&i| rr.is_long(i)).map(|_| pids.take()) {
            Some(Ok(sp)) => sp,
            Some(Err(e)) => {
                let _ = tx.send(Produced::Failed(e.into()));
                return;
            }
            None => None,
        };
        chunk_bytes = chunk_bytes
            .saturating_add(rr.record_bytes())
            .saturating_add(pid.len());
        // The row's fields move into the check, which appends them to the chunk's values;
        // their vector is kept for the next row.
        let start = chunk.values.len();
        let checked = validate::check_held_into(
            schema,
            ctx,
            &mut fields,
            validate::Held::of(&rr),
            &mut chunk.values,
        )
        .map(|()| start..chunk.values.len());
        chunk.rows.push(Pending {
            line: n,
            pid,
            spooled,
            amount: row_amount,
            checked,
            slot: Slot::Unresolved,
        });
        if chunk.rows.len() >= chunk_rows || chunk_bytes >= CHUNK_BYTES {
            chunk_bytes = 0;
            for s in spent.try_iter() {
                let mut values = s.values;
                values.clear();
                free.push(values);
            }
            let values = free
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(chunk_rows.saturating_mul(width)));
            let next = Chunk {
                rows: Vec::with_capacity(chunk_rows),
                values,
            };
            let mut full = std::mem::replace(&mut chunk, next);
            find_invoices(&mut full, invoices);
            if tx.send(Produced::Chunk(full)).is_err() {
                return;
            }
        }
    }
    find_invoices(&mut chunk, invoices);
    if !chunk.rows.is_empty() && tx.send(Produced::Chunk(chunk)).is_err() {
        return;
    }
    let _ = tx.send(Produced::Done { rows: n, total });
}

/// Finds the invoice of every well-formed row of a chunk in the books' table, when they have
/// one (`invoices`: the table and the invoice number's column), all at once
/// ([`InvoiceKeys::find_all`]).
fn find_invoices(chunk: &mut Chunk, invoices: Option<(&InvoiceKeys, usize)>) {
    let Some((keys, col)) = invoices else {
        return;
    };
    let (rows, nos): (Vec<usize>, Vec<&str>) = chunk
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, chunk.values_of(p)?.get(col)?.text())))
        .unzip();
    let mut slots = Vec::with_capacity(nos.len());
    keys.find_all(&nos, &mut slots);
    for (i, slot) in rows.into_iter().zip(slots) {
        if let Some(p) = chunk.rows.get_mut(i) {
            p.slot = slot;
        }
    }
}

/// Running counts of a batch.
#[derive(Default)]
struct Tally {
    accepted: u64,
    amount_accepted: i128,
    counts: BTreeMap<u16, u64>,
}

/// A row's line of `result.csv`, on its way to the thread that writes them.
struct Answer<'s> {
    line: u64,
    pid: validate::Text,
    spooled: Option<crate::echo::Spooled>,
    status: RowStatus,
    field: &'s str,
    message: String,
}

/// The `B07` message for a header that is not the schema's: the first column that differs
/// (`fields`, of which `held` tells what the reader held).
fn header_differs(
    fields: &[validate::Text],
    held: validate::Held<'_>,
    expected: &[&str],
    schema: &str,
) -> String {
    let what = validate::header_difference(fields, held, expected);
    format!(
        "registry.csv line 1: header differs from the {schema} schema: {what}; expected {:?}",
        expected.join(";")
    )
}

/// Reconciles a chunk in registry order (after prefetching what it reads), hands its result
/// rows to the writing thread, and flushes its changes to the store; returns the ids the
/// prefetch used.
fn settle_chunk<'s>(
    chunk: &mut Chunk,
    schema: &'s Schema,
    reconciler: &mut Reconciler,
    books: &mut dyn Books,
    answers: &mpsc::SyncSender<Vec<Answer<'s>>>,
    tally: &mut Tally,
) -> Result<Vec<String>, PipelineError> {
    let mut invoices = Vec::new();
    let mut payments = Vec::with_capacity(chunk.rows.len());
    for p in &chunk.rows {
        if let Some(v) = chunk.values_of(p) {
            let (inv, pid) = reconciler.keys(v);
            if let Some(i) = inv.filter(|_| p.slot == Slot::Unresolved) {
                invoices.push(i.to_string());
            }
            payments.push(pid.to_string());
        }
    }
    let t = std::time::Instant::now();
    books.prefetch(&mut invoices, &mut payments)?;
    tracing::trace!(us = t.elapsed().as_micros() as u64, "prefetch");
    let slots: Vec<Slot> = chunk.rows.iter().map(|p| p.slot).collect();
    let mut out = Vec::with_capacity(chunk.rows.len());
    let Chunk { rows, values } = chunk;
    for (i, p) in rows.drain(..).enumerate() {
        if i % WARM_ROWS == 0 {
            books.warm(
                slots
                    .get(i..)
                    .map_or(&[], |s| s.get(..WARM_ROWS).unwrap_or(s)),
            );
        }
        let (status, field, message) = match p.checked {
            Err(f) => {
                let fname = f
                    .field
                    .and_then(|i| schema.fields.get(i))
                    .map_or("", |f| f.name.as_str());
                (f.status, fname, f.message)
            }
            Ok(range) => {
                let v = values.get_mut(range).unwrap_or_default();
                let o = reconciler.row(books, p.line, v, p.slot)?;
                (o.status, "", o.message)
            }
        };
        if status == RowStatus::Accepted {
            tally.accepted = tally.accepted.saturating_add(1);
            tally.amount_accepted = tally
                .amount_accepted
                .saturating_add(i128::from(p.amount.unwrap_or(0)));
        }
        let count = tally.counts.entry(status.code()).or_default();
        *count = count.saturating_add(1);
        reconciler.saw(books, &p.pid, p.line, status)?;
        out.push(Answer {
            line: p.line,
            pid: p.pid,
            spooled: p.spooled,
            status,
            field,
            message,
        });
    }
    answers
        .send(out)
        .map_err(|_| io::Error::other("the result.csv writer stopped"))?;
    let t = std::time::Instant::now();
    books.flush()?;
    tracing::trace!(us = t.elapsed().as_micros() as u64, "flush");
    // Handed back to be freed by the reading thread (see `Spent`).
    Ok(payments)
}

type RowsResult = Result<(Verdict, Spool, BTreeMap<u16, u64>), Reject>;

/// Reconciles the chunks the reading thread sends, in order, until its end: the rows' count
/// and amount total with the tally, or why the registry was rejected.
#[allow(clippy::too_many_arguments)]
fn reconcile_all<'s>(
    chunks: mpsc::Receiver<Produced>,
    answers: mpsc::SyncSender<Vec<Answer<'s>>>,
    spent: mpsc::Sender<Spent>,
    stop: Stop<'_>,
    schema: &'s Schema,
    reconciler: &mut Reconciler,
    books: &mut dyn Books,
    job: &Job<'_>,
    control: &Control,
) -> Result<Result<(u64, i128, Tally), Reject>, PipelineError> {
    let mut tally = Tally::default();
    for msg in chunks {
        match msg {
            Produced::Chunk(mut chunk) => {
                if stop.now() {
                    return Err(PipelineError::Cancelled);
                }
                let ids =
                    settle_chunk(&mut chunk, schema, reconciler, books, &answers, &mut tally)?;
                // Sent back for the reading thread to free; after it has ended (the last
                // chunk), dropped here.
                let _ = spent.send(Spent {
                    _ids: ids,
                    _payments: books.take_written(),
                    values: chunk.values,
                });
                if let (Some(p), Some(last)) = (
                    job.progress,
                    tally.counts.values().copied().reduce(u64::saturating_add),
                ) {
                    p(last, control.rows);
                }
            }
            Produced::Done { rows, total } => return Ok(Ok((rows, total, tally))),
            Produced::Reject(r) => return Ok(Err(r)),
            Produced::Failed(e) => return Err(e),
        }
    }
    Err(PipelineError::Io(io::Error::other(
        "the registry reader stopped unexpectedly",
    )))
}

fn rows(
    job: &Job<'_>,
    control: &Control,
    schema: &Schema,
    reconciler: &mut Reconciler,
    books: &mut dyn Books,
    src: impl io::Read + Send,
    abandon: Option<&AtomicBool>,
) -> Result<RowsResult, PipelineError> {
    let cs = control.encoding;
    // A record of any length is read to its end; memory holds at most `max_field_bytes` of a
    // field, and one field more than the header has (enough to tell a row has too many).
    // A payment id too long to hold goes to a file, for `result.csv` to echo (`echo`).
    let max_field = usize::try_from(job.limits.max_field_bytes).unwrap_or(usize::MAX);
    let pids = crate::echo::PidSpool::new(job.spool_dir.join(format!(
        ".pids.{}.{}.tmp",
        std::process::id(),
        job.sha256
    )));
    let check = crate::echo::RegistryCheck {
        check: cs.unkept_check(),
        key: schema.primary_key,
        spool: pids.clone(),
    };
    let mut rr = RecordReader::new(src, cs == Charset::Utf8).with_field_limits(
        max_field,
        schema.fields.len().saturating_add(1),
        Box::new(check),
    );
    let mut fields: Vec<validate::Text> = Vec::with_capacity(schema.fields.len());
    match rr.read_record() {
        Ok(true) => {}
        Ok(false) => {
            return Ok(Err((
                BatchCode::B07,
                "registry.csv is empty: the header line is missing".into(),
            )));
        }
        Err(e) => return syntax(e, crate::schema::header_label).map(Err),
    }
    if let Err(r) = decode_fields(&rr, cs, &mut fields, crate::schema::header_label) {
        return Ok(Err(r));
    }
    let expected: Vec<&str> = schema.header().collect();
    // (The kept fields equal the header only when the record had no more fields than that.)
    if fields != expected {
        return Ok(Err((
            BatchCode::B07,
            header_differs(&fields, validate::Held::of(&rr), &expected, &schema.name),
        )));
    }
    let ctx = Context {
        created_at: control.created_at,
        business_date: job.name.date,
    };
    let path = job
        .spool_dir
        .join(format!(".result.{}.{}.tmp", std::process::id(), job.sha256));
    crate::engine::injected_failure("spool-create")?;
    let file = crate::fsutil::create_new(&path).or_else(|_| {
        std::fs::remove_file(&path)?;
        crate::fsutil::create_new(&path)
    })?;
    let mut spool = Spool {
        file,
        path,
        sha256: [0; 32],
        len: 0,
    };
    let mut w = ResultWriter::new(
        BufWriter::with_capacity(256 << 10, spool.file.try_clone()?),
        cs,
    )?;
    books.expect_rows(control.rows)?;
    let keys = books.invoice_keys();
    let (tx, rx) = mpsc::sync_channel::<Produced>(2);
    let (spent_tx, spent_rx) = mpsc::channel::<Spent>();
    let chunk_rows = job.chunk_rows.max(1);
    let stop = Stop {
        cancel: job.cancel,
        abandon,
    };
    let (outcome, w) = std::thread::scope(|scope| {
        // Two cores: one reads, decodes and validates; this one reconciles and applies; the
        // result rows are written by a third, lighter thread.
        let ctx = &ctx;
        let invoices = keys.as_deref().zip(reconciler.invoice_col());
        let reading = pids.clone();
        scope.spawn(move || {
            produce(
                rr, &reading, schema, ctx, cs, chunk_rows, stop, invoices, tx, spent_rx,
            )
        });
        let (answers, answered) = mpsc::sync_channel::<Vec<Answer<'_>>>(4);
        let pids_path = pids.path();
        let writer = scope.spawn(move || -> io::Result<ResultWriter<_>> {
            let mut spooled: Option<File> = None;
            for chunk in answered {
                for a in chunk {
                    match a.spooled {
                        None => w.row(Some(a.line), &a.pid, a.status, a.field, &a.message)?,
                        Some(sp) => {
                            let mut pid = crate::echo::reader(&mut spooled, &pids_path, sp)?;
                            w.row_echoing(
                                a.line, &mut pid, sp.quote, a.status, a.field, &a.message,
                            )?;
                        }
                    }
                }
            }
            Ok(w)
        });
        let outcome = reconcile_all(
            rx, answers, spent_tx, stop, schema, reconciler, books, job, control,
        );
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the result.csv writer failed")));
        (outcome, written)
    });
    // A failure to write result.csv is the first cause of any other failure.
    let mut w = w?;
    let (n, total, tally) = match outcome? {
        Ok(v) => v,
        Err(r) => return Ok(Err(r)),
    };
    let Tally {
        accepted,
        amount_accepted,
        mut counts,
    } = tally;
    if n != control.rows {
        return Ok(Err((
            BatchCode::B08,
            format!(
                "{}: {} but registry.csv has {n} data rows",
                crate::control::place(control.declared_at.0, "rows"),
                control.declared.0
            ),
        )));
    }
    if total != control.amount_total {
        return Ok(Err((
            BatchCode::B08,
            format!(
                "{}: {} but the amounts in registry.csv sum to {}",
                crate::control::place(control.declared_at.1, "amount_total"),
                control.declared.1,
                amount::format(total)
            ),
        )));
    }
    let mut rows_out = n;
    if job.name.kind.role() == Role::Rec {
        for id in reconciler.unlisted(books, job.name.date)? {
            w.row(
                None,
                &id,
                RowStatus::NotInStatement,
                "",
                "the receiver has this payment for the day, the statement does not",
            )?;
            let count = counts.entry(RowStatus::NotInStatement.code()).or_default();
            *count = count.saturating_add(1);
            rows_out = rows_out.saturating_add(1);
        }
    }
    let (buf, sha, len) = w.finish()?;
    drop(buf);
    spool.sha256 = sha;
    spool.len = len;
    spool.file.rewind()?;
    let verdict = Verdict::Ack {
        encoding: cs,
        rows: rows_out,
        accepted,
        amount_accepted,
    };
    Ok(Ok((verdict, spool, counts)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::BatchType;
    use crate::reconcile::StoreBooks;
    use crate::sample::{self, PAY_HEADER, Rng};
    use crate::store::Store;

    #[test]
    fn a_header_that_differs_is_named_by_its_first_differing_field() {
        let want = ["payment_id", "paid_at", "amount"];
        let got = |v: &[&str]| -> Vec<validate::Text> {
            v.iter().map(|s| validate::Text::from(*s)).collect()
        };
        let whole = |n: usize| validate::Held {
            fields: n,
            long: &[],
            limit: usize::MAX,
        };
        let m = header_differs(
            &got(&["payment_id", "paid", "amount"]),
            whole(3),
            &want,
            "PAY",
        );
        assert!(
            m.starts_with("registry.csv line 1: header differs from the PAY schema: field 2 is \"paid\" where the schema has \"paid_at\";"),
            "{m}"
        );
        assert!(m.ends_with("expected \"payment_id;paid_at;amount\""), "{m}");
        let m = header_differs(&got(&["payment_id"]), whole(1), &want, "PAY");
        assert!(
            m.contains(": 1 fields where the schema has 3, the next being \"paid_at\";"),
            "{m}"
        );
        let m = header_differs(
            &got(&["payment_id", "paid_at", "amount", "x"]),
            whole(4),
            &want,
            "PAY",
        );
        assert!(m.contains(": 4 fields where the schema has 3;"), "{m}");
        // What the reader did not hold: its true count, and a field too long to hold.
        let held = validate::Held {
            fields: 5000,
            long: &[],
            limit: 64,
        };
        let m = header_differs(
            &got(&["payment_id", "paid_at", "amount", "x"]),
            held,
            &want,
            "PAY",
        );
        assert!(m.contains(": 5000 fields where the schema has 3;"), "{m}");
        let held = validate::Held {
            fields: 3,
            long: &[1],
            limit: 64,
        };
        let m = header_differs(&got(&["payment_id", "", "amount"]), held, &want, "PAY");
        assert!(
            m.contains(": field 2 is longer than 64 bytes where the schema has \"paid_at\";"),
            "{m}"
        );
        let long = "x".repeat(70_000);
        let m = header_differs(&got(&[&long]), whole(1), &want, "PAY");
        assert!(
            m.len() < 300,
            "a long field is shortened: {} bytes",
            m.len()
        );
    }

    type Test = Result<(), Box<dyn std::error::Error>>;

    /// A PAY archive of `n` rows (all for one invoice the store does not have: status 4).
    fn archive(dir: &Path, n: u64) -> Result<(sample::Batch, PathBuf), io::Error> {
        let mut rng = Rng::new(7);
        let inv = sample::invoices(1, &mut rng);
        let rows: Vec<Vec<String>> = (0..n)
            .filter_map(|i| {
                let inv = inv.first()?;
                Some(sample::pay_row(
                    i + 1,
                    inv,
                    "2026-11-21 10:00:00",
                    "x",
                    &mut rng,
                ))
            })
            .collect();
        let b = sample::Batch::new(BatchType::PAY, "001", Charset::Utf8, &PAY_HEADER, &rows, 6);
        let path = dir.join(b.file_name());
        std::fs::write(&path, b.zip(None))?;
        Ok((b, path))
    }

    #[test]
    fn rows_evaluated_ahead_stop_once_the_archive_checks_fail() -> Test {
        let dir = tempfile::tempdir()?;
        let (b, path) = archive(dir.path(), 10_000)?;
        let name = BatchName::parse(&b.file_name())?;
        let policy = Policy {
            own: "SUDBILLING".into(),
            partner_known: true,
            types: vec!["PAY".into()],
            key_fingerprint: None,
            key: None,
            limits: None,
        };
        let schemas = Schemas::built_in()?;
        let limits = Limits::default();
        let sha = "0".repeat(64);
        let job = Job {
            path: &path,
            name: &name,
            sha256: &sha,
            policy: &policy,
            schemas: &schemas,
            limits: &limits,
            already_acked: false,
            spool_dir: dir.path(),
            cancel: None,
            progress: None,
            chunk_rows: CHUNK_ROWS,
        };
        let store = Store::open(&dir.path().join("store.db"))?;
        let tx = store.conn.unchecked_transaction()?;
        let mut books = StoreBooks::new(&tx, b.batch_id(), 1)?;
        let (failed, passing) = (AtomicBool::new(true), AtomicBool::new(false));

        // Checks already failed: nothing is evaluated ahead.
        assert!(rows_ahead(&job, &mut books, &failed)?.is_none());
        // Checks failing while the rows are read: the rows stop (at the first chunk).
        let schema = schemas.for_type(BatchType::PAY).unwrap();
        let mut reconciler = Reconciler::new(BatchType::PAY, schema)?;
        let control = control::parse(&b.control(), &name)?;
        let index = archive::locate(&path, REGISTRY).ok_or("no registry")?;
        let src = archive::open_entry(&path, index)?;
        let stopped = rows(
            &job,
            &control,
            schema,
            &mut reconciler,
            &mut books,
            src,
            Some(&failed),
        );
        assert!(
            matches!(stopped, Err(PipelineError::Cancelled)),
            "{stopped:?}"
        );
        // Checks not failed: every row is evaluated, from the entries the checks will judge.
        let a = rows_ahead(&job, &mut books, &passing)?.ok_or("not evaluated ahead")?;
        assert_eq!((a.control, a.registry), (b.control(), index));
        match a.rows {
            Ok(Ok((Verdict::Ack { rows, .. }, _, counts))) => {
                assert_eq!(rows, 10_000);
                assert_eq!(counts.get(&4), Some(&10_000));
            }
            other => panic!("expected an ACK of 10,000 rows: {other:?}"),
        }
        Ok(())
    }
}
