//! Stage 6: reconciling well-formed rows against the receiver's books (agreement §7.2).
//!
//! The logic is a function of the row and the [`Books`] it sees; rows are applied in registry
//! order, each seeing the effect of those before it. The SQLite ledger implements [`Books`] in
//! the shell (over a transaction, or an in-memory store for replays).

use crate::charset::Charset;
use crate::code::RowStatus;
use crate::index::{Balances, InvoiceKeys, Payer, Slot};
use crate::name::{BatchType, Role};
use crate::schema::Schema;
use crate::store::{Invoice, Ledger, Payment, PaymentRecord, StoreError, paid_out_of_range};
use crate::validate::Value;
use chrono::{NaiveDate, NaiveDateTime};
// The maps below hash a batch's ids several times a row, on the thread that applies the
// batch: foldhash (seeded per map) rather than SipHash. The ids come from a partner's file,
// not from an attacker who can watch timings (docs/SECURITY.md).
use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

/// What reconciliation reads and changes.
///
/// Reads may be served from what [`Books::prefetch`] loaded; changes may be held until
/// [`Books::flush`]. Either way every read sees every change made before it.
pub trait Books {
    /// Loads these invoices and payments ahead of the rows that need them (a hint: sorted,
    /// batched reads are much cheaper than one read per row).
    fn prefetch(
        &mut self,
        invoice_nos: &mut Vec<String>,
        payment_ids: &mut Vec<String>,
    ) -> Result<(), StoreError>;
    /// Told how many rows the batch declares before its rows come, so that a large batch can
    /// read the invoices once instead of one by one (a hint).
    fn expect_rows(&mut self, _rows: u64) -> Result<(), StoreError> {
        Ok(())
    }
    /// Told where the next rows' invoices are (see [`Books::invoice_keys`]) before they are
    /// reconciled one by one: a large table brings them into the CPU cache together, its
    /// misses overlapping, instead of one miss after another. Changes nothing.
    fn warm(&self, _slots: &[Slot]) {}
    /// Writes the changes held so far.
    fn flush(&mut self) -> Result<(), StoreError>;
    /// Payment records written since the last call, handed back so that the thread that
    /// allocated their strings frees them (cheaper there, and off the reconciling thread).
    fn take_written(&mut self) -> Vec<PaymentRecord> {
        Vec::new()
    }
    /// Writes everything still held; called after the last row of an ACK (while the response
    /// is written, [`crate::pipeline::evaluate_then`]).
    fn finish(&mut self) -> Result<(), StoreError> {
        self.flush()
    }
    /// Every invoice, when the books read them once for this batch: the reading thread finds
    /// each row's invoice there and passes its [`Slot`] along.
    fn invoice_keys(&self) -> Option<Arc<InvoiceKeys>> {
        None
    }
    /// The invoice with this number (`slot`: where [`Books::invoice_keys`] has it, if known).
    fn invoice(&mut self, no: &str, slot: Slot) -> Result<Option<InvoiceView>, StoreError>;
    /// The payment with this id.
    fn payment(&mut self, id: &str) -> Result<Option<Payment>, StoreError>;
    /// Records a payment and adds it to its invoice's paid amount.
    fn add_payment(&mut self, p: PaymentRecord, slot: Slot) -> Result<(), StoreError>;
    /// Marks a payment reversed and re-opens its amount.
    fn reverse(
        &mut self,
        id: &str,
        p: &Payment,
        at: &NaiveDateTime,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Records that data row `line` of this batch carried this payment id.
    fn note_line(&mut self, payment_id: &str, line: u64) -> Result<(), StoreError>;
    /// Whether a payment was applied by the batch in hand (an earlier line of it).
    fn applied_by_this_batch(&self, p: &Payment) -> bool;
    /// The batch id of the (earlier) batch that applied the payment with this id.
    fn applied_by(&mut self, payment_id: &str) -> Result<Option<String>, StoreError>;
    /// The first earlier data row of this batch noted with this payment id.
    fn noted(&mut self, payment_id: &str) -> Result<Option<u64>, StoreError>;
    /// Ids of payments with `paid_at` on this date that no line noted, ascending byte order.
    fn unlisted_on(&mut self, date: NaiveDate) -> Result<Vec<String>, StoreError>;
}

/// Payment ids noted in memory before they move to a temporary table (bounded memory).
pub const NOTED_IN_MEMORY: usize = 1 << 20;

/// The SQLite ledger of one batch, as a write-back cache: reads are prefetched in sorted
/// batches, changes are written at [`Books::flush`] in key order.
pub struct StoreBooks<'t> {
    /// The ledger.
    pub ledger: Ledger<'t>,
    /// Batch applying the rows.
    pub batch_id: String,
    /// Journal entry the batch will get.
    pub journal_seq: i64,
    invoices: HashMap<String, Option<Invoice>>,
    payments: HashMap<String, Option<Payment>>,
    new_payments: Vec<PaymentRecord>,
    /// Written payments not yet handed back ([`Books::take_written`]).
    written: Vec<PaymentRecord>,
    reversals: Vec<(String, NaiveDateTime, String)>,
    paid_delta: HashMap<String, i64>,
    noted: HashMap<Box<str>, u64>,
    noted_spilled: bool,
    /// Every invoice, read once for a large batch (see [`Books::expect_rows`]).
    all_invoices: Option<(Arc<InvoiceKeys>, Balances)>,
    /// A batch declaring at least this many rows reads every invoice once (when there are not
    /// too many); tests lower it to prove the answer is the same either way.
    pub read_all_min_rows: u64,
    /// Payment ids a statement's lines may note in memory before they move to a temporary
    /// table; tests lower it to prove the answer is the same either way.
    pub noted_in_memory: usize,
    /// The page cache was made smaller for this batch (restored when the books go).
    cache_shrunk: bool,
}

impl Drop for StoreBooks<'_> {
    fn drop(&mut self) {
        if self.cache_shrunk {
            // Only speed depends on it: a failure here changes no answer.
            let _ = self.ledger.set_cache_kib(crate::store::CACHE_KIB);
        }
    }
}

/// A batch declaring at least this many rows reads every invoice once…
pub const READ_ALL_MIN_ROWS: u64 = 50_000;
/// …when there are at most this many invoices per declared row, and at most this many in all
/// (32 bytes an invoice: 12 million take 384 MiB, see `docs/MEMORY.md`).
const READ_ALL_PER_ROW: i64 = 4;
const READ_ALL_MAX: i64 = 12_000_000;

/// An invoice as reconciliation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceView {
    /// Who must pay it.
    pub payer: PayerOf,
    /// Amount due, tiyin.
    pub amount_due: i64,
    /// `CANCELLED`.
    pub cancelled: bool,
    /// Paid and not reversed, tiyin.
    pub paid: i64,
}

/// An invoice's payer, as text from the store or packed in the table read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayerOf {
    /// `payer_type` and `payer_id` as stored.
    Text(String, String),
    /// Packed (see [`crate::index`]).
    Packed(Payer),
}

impl InvoiceView {
    /// Whether a row's `payer_type` and `payer_id` are the invoice's, byte for byte.
    pub fn payer_is(&self, payer_type: &str, payer_id: &str) -> bool {
        match &self.payer {
            PayerOf::Text(t, id) => t == payer_type && id == payer_id,
            PayerOf::Packed(p) => p.is(payer_type, payer_id),
        }
    }

    /// Whether a row's `payer_type` is the invoice's (for the `304` message: which field
    /// differs).
    pub fn payer_type_is(&self, payer_type: &str) -> bool {
        match &self.payer {
            PayerOf::Text(t, _) => t == payer_type,
            PayerOf::Packed(p) => payer_type.as_bytes() == [p.kind],
        }
    }
}

impl From<Invoice> for InvoiceView {
    fn from(i: Invoice) -> Self {
        Self {
            payer: PayerOf::Text(i.payer_type, i.payer_id),
            amount_due: i.amount_due,
            cancelled: i.cancelled,
            paid: i.paid,
        }
    }
}

impl<'t> StoreBooks<'t> {
    /// Books over a transaction (or savepoint) for one batch.
    pub fn new(
        conn: &'t rusqlite::Connection,
        batch_id: String,
        journal_seq: i64,
    ) -> Result<Self, StoreError> {
        let ledger = Ledger::new(conn);
        ledger.begin_batch()?;
        Ok(Self {
            ledger,
            batch_id,
            journal_seq,
            invoices: HashMap::new(),
            payments: HashMap::new(),
            new_payments: Vec::new(),
            written: Vec::new(),
            reversals: Vec::new(),
            paid_delta: HashMap::new(),
            noted: HashMap::new(),
            noted_spilled: false,
            all_invoices: None,
            read_all_min_rows: READ_ALL_MIN_ROWS,
            noted_in_memory: NOTED_IN_MEMORY,
            cache_shrunk: false,
        })
    }

    /// Where the table read once has this invoice: `None` when there is no table,
    /// `Some(None)` when the store has no such invoice.
    fn position(&self, no: &str, slot: Slot) -> Option<Option<usize>> {
        let (keys, _) = self.all_invoices.as_ref()?;
        let slot = match slot {
            Slot::Unresolved => keys.find(no),
            known => known,
        };
        Some(match slot {
            Slot::At(i) => Some(i as usize),
            _ => None,
        })
    }

    fn read_all_invoices(
        &mut self,
        count: usize,
    ) -> Result<Option<(Arc<InvoiceKeys>, Balances)>, StoreError> {
        let mut table = crate::index::Builder::with_capacity(count);
        let conn = self.ledger.conn();
        // Two scans in invoice number order, merged: invoices, and the balances of those paid.
        let mut st = conn.prepare(
            "SELECT invoice_no, payer_type, payer_id, amount_due, status FROM invoices ORDER BY invoice_no",
        )?;
        let mut paid_st =
            conn.prepare("SELECT invoice_no, paid FROM balances ORDER BY invoice_no")?;
        let mut paid_rows = paid_st.query([])?;
        let mut next_paid = || -> Result<Option<(String, i64)>, StoreError> {
            Ok(match paid_rows.next()? {
                Some(r) => Some((r.get(0)?, r.get(1)?)),
                None => None,
            })
        };
        let mut paid = next_paid()?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            // Bytes, not checked as UTF-8: the table takes digits and one-letter types only,
            // and refuses anything else.
            let text = |i: usize| -> Result<&[u8], StoreError> {
                Ok(r.get_ref(i)?.as_bytes().map_err(rusqlite::Error::from)?)
            };
            let no = text(0)?;
            while paid.as_ref().is_some_and(|(p, _)| p.as_bytes() < no) {
                paid = next_paid()?;
            }
            let paid_now = match &paid {
                Some((p, v)) if p.as_bytes() == no => Some(*v),
                _ => None,
            };
            if !table.push(
                no,
                text(1)?,
                text(2)?,
                text(4)? == b"CANCELLED",
                r.get(3)?,
                paid_now,
            ) {
                return Ok(None); // not the shape the table holds: read one by one
            }
        }
        let (keys, balances) = table.finish();
        Ok(Some((Arc::new(keys), balances)))
    }

    fn spill_noted(&mut self) -> Result<(), StoreError> {
        let mut ids: Vec<(Box<str>, u64)> = self.noted.drain().collect();
        ids.sort_unstable();
        for (id, line) in ids {
            self.ledger.note_line(&id, line)?;
        }
        self.noted_spilled = true;
        Ok(())
    }
}

impl Books for StoreBooks<'_> {
    fn expect_rows(&mut self, rows: u64) -> Result<(), StoreError> {
        if rows < self.read_all_min_rows || self.all_invoices.is_some() {
            return Ok(());
        }
        // Counting scans every invoice page: with the small cache, so that the scan does not
        // grow the page cache (whose memory the C allocator keeps once grown) before it is
        // known whether the table will take that memory.
        self.ledger.set_cache_kib(crate::store::SMALL_CACHE_KIB)?;
        self.cache_shrunk = true;
        let t = std::time::Instant::now();
        let count: i64 =
            self.ledger
                .conn()
                .query_row("SELECT count(*) FROM invoices", [], |r| r.get(0))?;
        let per_row = i64::try_from(rows.max(1))
            .unwrap_or(i64::MAX)
            .saturating_mul(READ_ALL_PER_ROW);
        if count <= per_row.min(READ_ALL_MAX) {
            self.all_invoices = self.read_all_invoices(usize::try_from(count).unwrap_or(0))?;
            tracing::debug!(
                ms = t.elapsed().as_millis() as u64,
                invoices = count,
                table = self.all_invoices.is_some(),
                "invoices read once"
            );
        }
        // The table takes the memory the page cache would, and a batch that reads every invoice
        // once needs the cache for little else: payments are appended and balances written in
        // key order. A small cache also leaves less to write at the commit (its dirty pages
        // spill during the batch, and are written back to disk while it runs). Otherwise the
        // full cache.
        if self.all_invoices.is_none() {
            self.ledger.set_cache_kib(crate::store::CACHE_KIB)?;
            self.cache_shrunk = false;
        }
        Ok(())
    }

    fn prefetch(
        &mut self,
        invoice_nos: &mut Vec<String>,
        payment_ids: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        if self.all_invoices.is_some() {
            invoice_nos.clear();
        }
        invoice_nos.sort_unstable();
        invoice_nos.dedup();
        for no in invoice_nos.drain(..) {
            if !self.invoices.contains_key(&no) {
                let v = self.ledger.invoice(&no)?;
                self.invoices.insert(no, v);
            }
        }
        payment_ids.sort_unstable();
        payment_ids.dedup();
        payment_ids.retain(|id| !self.payments.contains_key(id));
        // New payment ids usually lie beyond the ones in the store: one range scan then says
        // which exist, and only those are read.
        match self.ledger.payments_in_range(payment_ids)? {
            Some(present) => {
                for id in payment_ids.drain(..) {
                    let v = if present.binary_search(&id).is_ok() {
                        self.ledger.payment(&id)?
                    } else {
                        None
                    };
                    self.payments.insert(id, v);
                }
            }
            None => {
                for id in payment_ids.drain(..) {
                    let v = self.ledger.payment(&id)?;
                    self.payments.insert(id, v);
                }
            }
        }
        Ok(())
    }

    fn take_written(&mut self) -> Vec<PaymentRecord> {
        std::mem::take(&mut self.written)
    }

    fn warm(&self, slots: &[Slot]) {
        if let Some((keys, balances)) = &self.all_invoices {
            let mut seen = 0i64;
            for s in slots {
                if let Slot::At(i) = *s {
                    let i = i as usize;
                    seen ^= keys.payer(i).map_or(0, |p| p.id as i64);
                    seen ^= balances.touch(i);
                }
            }
            std::hint::black_box(seen);
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let mut new = std::mem::take(&mut self.new_payments);
        new.sort_unstable_by(|a, b| a.payment_id.cmp(&b.payment_id));
        self.ledger
            .insert_payments(&new, &self.batch_id, self.journal_seq)?;
        if self.written.is_empty() {
            self.written = new;
        } else {
            self.written.append(&mut new);
        }
        let mut rev = std::mem::take(&mut self.reversals);
        rev.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (id, at, reason) in &rev {
            self.ledger
                .mark_reversed(id, at, reason, &self.batch_id, self.journal_seq)?;
        }
        let mut deltas: Vec<(String, i64)> = self.paid_delta.drain().collect();
        deltas.sort_unstable();
        for (no, d) in deltas {
            if d != 0 {
                self.ledger.add_paid(&no, d)?;
            }
        }
        // Everything is in the store now: the caches may go (memory stays bounded).
        self.invoices.clear();
        self.payments.clear();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        let Some((keys, balances)) = self.all_invoices.as_mut() else {
            return Ok(());
        };
        self.ledger.set_paid_all(
            balances
                .drain_changed()
                .filter_map(|(i, paid, stored)| Some((keys.invoice_no(i)?, paid, stored))),
        )
    }

    fn invoice_keys(&self) -> Option<Arc<InvoiceKeys>> {
        self.all_invoices.as_ref().map(|(k, _)| Arc::clone(k))
    }

    fn invoice(&mut self, no: &str, slot: Slot) -> Result<Option<InvoiceView>, StoreError> {
        if let Some(found) = self.position(no, slot) {
            let Some((keys, balances)) = self.all_invoices.as_ref() else {
                return Ok(None);
            };
            return Ok(found.and_then(|i| {
                let p = keys.payer(i)?;
                let (amount_due, paid) = balances.get(i)?;
                Some(InvoiceView {
                    payer: PayerOf::Packed(p),
                    amount_due,
                    cancelled: p.cancelled,
                    paid,
                })
            }));
        }
        if let Some(v) = self.invoices.get(no) {
            return Ok(v.clone().map(InvoiceView::from));
        }
        let v = self.ledger.invoice(no)?;
        self.invoices.insert(no.to_string(), v.clone());
        Ok(v.map(InvoiceView::from))
    }

    fn payment(&mut self, id: &str) -> Result<Option<Payment>, StoreError> {
        if let Some(v) = self.payments.get(id) {
            return Ok(v.clone());
        }
        let v = self.ledger.payment(id)?;
        self.payments.insert(id.to_string(), v.clone());
        Ok(v)
    }

    fn add_payment(&mut self, p: PaymentRecord, slot: Slot) -> Result<(), StoreError> {
        let no = p.invoice_no.as_str();
        let out_of_range = || paid_out_of_range(self.ledger.conn(), no);
        if let Some(found) = self.position(no, slot) {
            // The table read once holds the balance; it is written once, at the end.
            if let (Some(i), Some((_, balances))) = (found, self.all_invoices.as_mut())
                && !balances.add_paid(i, p.amount)
            {
                return Err(out_of_range());
            }
        } else {
            if let Some(Some(inv)) = self.invoices.get_mut(no) {
                inv.paid = inv.paid.checked_add(p.amount).ok_or_else(out_of_range)?;
            } else if let Some(mut inv) = self.ledger.invoice(no)? {
                let delta = self.paid_delta.get(no).copied().unwrap_or(0);
                inv.paid = delta
                    .checked_add(p.amount)
                    .and_then(|d| inv.paid.checked_add(d))
                    .ok_or_else(out_of_range)?;
                self.invoices.insert(no.to_string(), Some(inv));
            }
            let delta = self.paid_delta.entry(no.to_string()).or_default();
            *delta = delta.checked_add(p.amount).ok_or_else(out_of_range)?;
        }
        let applied = Some(Payment {
            invoice_no: p.invoice_no.to_string(),
            paid_at: p.paid_at,
            amount: p.amount,
            reversed: false,
            journal_seq: self.journal_seq,
            line: p.line,
        });
        // The prefetch put the id there (as absent): no second copy of the key.
        match self.payments.get_mut(p.payment_id.as_str()) {
            Some(cached) => *cached = applied,
            None => {
                self.payments.insert(p.payment_id.to_string(), applied);
            }
        }
        self.new_payments.push(p);
        Ok(())
    }

    fn reverse(
        &mut self,
        id: &str,
        p: &Payment,
        at: &NaiveDateTime,
        reason: &str,
    ) -> Result<(), StoreError> {
        let no = p.invoice_no.as_str();
        let out_of_range = || paid_out_of_range(self.ledger.conn(), no);
        // A payment's amount is at least 0 (the reversing row's, which equals it, parsed).
        let minus = p.amount.checked_neg().ok_or_else(out_of_range)?;
        if let Some(found) = self.position(no, Slot::Unresolved) {
            if let (Some(i), Some((_, balances))) = (found, self.all_invoices.as_mut())
                && !balances.add_paid(i, minus)
            {
                return Err(out_of_range());
            }
        } else {
            if let Some(Some(inv)) = self.invoices.get_mut(no) {
                inv.paid = inv.paid.checked_add(minus).ok_or_else(out_of_range)?;
            }
            let delta = self.paid_delta.entry(no.to_string()).or_default();
            *delta = delta.checked_add(minus).ok_or_else(out_of_range)?;
        }
        if let Some(Some(cached)) = self.payments.get_mut(id) {
            cached.reversed = true;
        } else {
            let mut q = p.clone();
            q.reversed = true;
            self.payments.insert(id.to_string(), Some(q));
        }
        // A payment inserted by this batch and reversed by it is written, then updated.
        self.reversals
            .push((id.to_string(), *at, reason.to_string()));
        Ok(())
    }

    fn note_line(&mut self, payment_id: &str, line: u64) -> Result<(), StoreError> {
        if self.noted_spilled {
            return self.ledger.note_line(payment_id, line);
        }
        if !self.noted.contains_key(payment_id) {
            self.noted.insert(payment_id.into(), line);
            if self.noted.len() > self.noted_in_memory {
                self.spill_noted()?;
            }
        }
        Ok(())
    }

    fn applied_by_this_batch(&self, p: &Payment) -> bool {
        p.journal_seq == self.journal_seq
    }

    fn applied_by(&mut self, payment_id: &str) -> Result<Option<String>, StoreError> {
        self.ledger.applied_by(payment_id)
    }

    fn noted(&mut self, payment_id: &str) -> Result<Option<u64>, StoreError> {
        if self.noted_spilled {
            self.ledger.noted(payment_id)
        } else {
            Ok(self.noted.get(payment_id).copied())
        }
    }

    fn unlisted_on(&mut self, date: NaiveDate) -> Result<Vec<String>, StoreError> {
        self.finish()?;
        if self.noted_spilled {
            return self.ledger.unlisted_on(date);
        }
        let all = self.ledger.payments_on(date)?;
        Ok(all
            .into_iter()
            .filter(|id| !self.noted.contains_key(id.as_str()))
            .collect())
    }
}

/// A row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Status code.
    pub status: RowStatus,
    /// One-line ASCII message.
    pub message: String,
}

impl Outcome {
    fn new(status: RowStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The `301` message for a payment id an earlier data row of the batch carries.
fn on_earlier_line(line: u64) -> String {
    format!("payment_id appears on an earlier line, line {line}")
}

/// Field positions the reconciler needs, looked up by name in the schema.
#[derive(Debug, Clone)]
struct Cols {
    payment_id: usize,
    at: usize,
    invoice_no: usize,
    payer_type: usize,
    payer_id: usize,
    payer_name: usize,
    amount: usize,
    currency: usize,
    bank_mfo: usize,
    account: usize,
    purpose: usize,
    reason: usize,
    state: usize,
}

/// Whether `schema` has what the engine reads from batches of `kind`: every field the type's
/// reconciliation uses (found by name), `payment_id` as its primary key (`301`) and `amount` as
/// its amount field (`amount_total`, §6). Checked when the configuration loads, so that a
/// schemas folder lacking one stops the engine at its start rather than at each batch.
pub fn check_schema(kind: BatchType, schema: &Schema) -> Result<(), crate::schema::SchemaError> {
    let bad = |message: String| crate::schema::SchemaError {
        file: format!("{}.json", schema.name),
        message,
    };
    Reconciler::new(kind, schema).map_err(bad)?;
    // A registry's header is in its encoding (§4): a name one of them cannot write would make
    // every registry in that encoding unreadable (`B07`).
    for f in &schema.fields {
        for cs in [Charset::Windows1251, Charset::Cp866] {
            if let Err(c) = cs.encode(&f.name) {
                return Err(bad(format!(
                    "field name {:?} holds {c:?}, which {} cannot write: no {kind} registry in that encoding could carry this header",
                    f.name,
                    cs.as_str()
                )));
            }
        }
    }
    if schema.primary_key != schema.index("payment_id") {
        return Err(bad(format!(
            "primaryKey must be payment_id, the key of {kind} rows (301)"
        )));
    }
    if schema.amount_field != schema.index("amount") {
        return Err(bad(format!(
            "amountField must be amount, the field {kind}'s amount_total sums (§6)"
        )));
    }
    Ok(())
}

/// Per-batch reconciliation state. Which payment ids earlier lines carried is kept by the
/// [`Books`] (for PAY only lines not applied: applied ones are found as payments).
pub struct Reconciler {
    kind: BatchType,
    cols: Cols,
    /// The key field's rules: only ids a well-formed row could carry need remembering.
    key_field: Option<crate::schema::Field>,
}

impl Reconciler {
    /// A reconciler for a batch type; the schema must have the fields the type's logic uses.
    pub fn new(kind: BatchType, schema: &Schema) -> Result<Self, String> {
        // A field the logic reads must be there and required: an empty one would be a payment
        // with no id, amount or date.
        let need = |n: &str| {
            let i = schema.index(n).ok_or_else(|| {
                format!("lacks field {n}, which reconciling {kind} batches reads")
            })?;
            match schema.fields.get(i) {
                Some(f) if f.required => Ok(i),
                _ => Err(format!(
                    "field {n} must be required: reconciling {kind} batches reads it"
                )),
            }
        };
        let opt = |n: &str| schema.index(n).unwrap_or(usize::MAX);
        let cols = match kind.role() {
            Role::Pay => Cols {
                payment_id: need("payment_id")?,
                at: need("paid_at")?,
                invoice_no: need("invoice_no")?,
                payer_type: need("payer_type")?,
                payer_id: need("payer_id")?,
                payer_name: need("payer_name")?,
                amount: need("amount")?,
                currency: need("currency")?,
                bank_mfo: need("bank_mfo")?,
                account: opt("account"),
                purpose: opt("purpose"),
                reason: usize::MAX,
                state: usize::MAX,
            },
            Role::Rev => Cols {
                payment_id: need("payment_id")?,
                at: need("reversed_at")?,
                amount: need("amount")?,
                reason: need("reason")?,
                ..Cols::none()
            },
            Role::Rec => Cols {
                payment_id: need("payment_id")?,
                at: need("paid_at")?,
                invoice_no: need("invoice_no")?,
                amount: need("amount")?,
                state: need("state")?,
                ..Cols::none()
            },
        };
        let key_field = schema.fields.get(cols.payment_id).cloned();
        Ok(Self {
            kind,
            cols,
            key_field,
        })
    }

    /// The invoice number and payment id a well-formed row will look up (for prefetching).
    pub fn keys<'v>(&self, v: &'v [Value]) -> (Option<&'v str>, &'v str) {
        let c = &self.cols;
        let inv = (c.invoice_no != usize::MAX)
            .then(|| v.get(c.invoice_no).map(Value::text))
            .flatten();
        (inv, v.get(c.payment_id).map(Value::text).unwrap_or(""))
    }

    /// Notes the payment id written on a line (valid or not) once the line has its status.
    pub fn saw(
        &mut self,
        books: &mut dyn Books,
        payment_id: &str,
        line: u64,
        status: RowStatus,
    ) -> Result<(), StoreError> {
        let needed = match self.kind.role() {
            Role::Pay => status != RowStatus::Accepted,
            Role::Rec => true,
            Role::Rev => false,
        };
        // A later line is compared only when it is well-formed, so an id its key field's
        // pattern or length refuses can never match: not remembering it keeps hostile rows
        // (a 65,000-digit id, say) from costing memory.
        let could_match = self.key_field.as_ref().is_none_or(|f| {
            f.pattern.as_ref().is_none_or(|p| p.matches(payment_id))
                && f.max_length.is_none_or(|m| payment_id.chars().count() <= m)
        });
        if needed && could_match && !payment_id.is_empty() {
            books.note_line(payment_id, line)?;
        }
        Ok(())
    }

    /// Column of the invoice number, for batch types that pay invoices.
    pub fn invoice_col(&self) -> Option<usize> {
        (self.cols.invoice_no != usize::MAX && self.kind.role() == Role::Pay)
            .then_some(self.cols.invoice_no)
    }

    /// Reconciles a well-formed row (values in schema order) and applies it when accepted;
    /// `slot` is where [`Books::invoice_keys`] has the row's invoice, if already looked up.
    pub fn row(
        &mut self,
        books: &mut dyn Books,
        line: u64,
        v: &mut [Value],
        slot: Slot,
    ) -> Result<Outcome, StoreError> {
        let c = &self.cols;
        let get = |i: usize| v.get(i).unwrap_or(&Value::Missing);
        let pid = get(c.payment_id).text();
        match self.kind.role() {
            Role::Pay => {
                if let Some(earlier) = books.noted(pid)? {
                    return Ok(Outcome::new(RowStatus::Duplicate, on_earlier_line(earlier)));
                }
                if let Some(p) = books.payment(pid)? {
                    let why = if books.applied_by_this_batch(&p) {
                        on_earlier_line(p.line)
                    } else {
                        match books.applied_by(pid)? {
                            Some(batch) => format!(
                                "payment_id was applied before, by batch {batch} line {}",
                                p.line
                            ),
                            None => "payment_id was applied before".to_string(),
                        }
                    };
                    return Ok(Outcome::new(RowStatus::Duplicate, why));
                }
                let no = get(c.invoice_no).text();
                let Some(inv) = books.invoice(no, slot)? else {
                    return Ok(Outcome::new(
                        RowStatus::NotFound,
                        "invoice_no: no such invoice",
                    ));
                };
                if inv.cancelled {
                    return Ok(Outcome::new(RowStatus::NotPayable, "invoice is cancelled"));
                }
                if inv.paid >= inv.amount_due {
                    return Ok(Outcome::new(
                        RowStatus::NotPayable,
                        "invoice is already fully paid",
                    ));
                }
                let (pt, pi) = (get(c.payer_type).text(), get(c.payer_id).text());
                if !inv.payer_is(pt, pi) {
                    let which = if inv.payer_type_is(pt) {
                        "payer_id"
                    } else {
                        "payer_type"
                    };
                    return Ok(Outcome::new(
                        RowStatus::PayerDiffers,
                        format!("{which} differs from the invoice's payer"),
                    ));
                }
                let amount = get(c.amount).amount();
                // In 128 bits: the amounts are read back from the store, each any i64.
                #[allow(clippy::arithmetic_side_effects)] // In range: two i64 in 128 bits.
                let outstanding = i128::from(inv.amount_due) - i128::from(inv.paid);
                if i128::from(amount) > outstanding {
                    return Ok(Outcome::new(
                        RowStatus::OverBalance,
                        format!(
                            "amount exceeds the outstanding {}",
                            crate::amount::format(outstanding)
                        ),
                    ));
                }
                let paid_at = get(c.at).datetime().unwrap_or_default();
                let mut take = |i: usize| match v.get_mut(i) {
                    Some(Value::Text(s)) => Some(std::mem::take(s)),
                    _ => None,
                };
                let record = PaymentRecord {
                    payment_id: take(c.payment_id).unwrap_or_default(),
                    paid_at,
                    invoice_no: take(c.invoice_no).unwrap_or_default(),
                    payer_type: take(c.payer_type).unwrap_or_default(),
                    payer_id: take(c.payer_id).unwrap_or_default(),
                    payer_name: take(c.payer_name).unwrap_or_default(),
                    amount,
                    currency: take(c.currency).unwrap_or_default(),
                    bank_mfo: take(c.bank_mfo).unwrap_or_default(),
                    account: take(c.account),
                    purpose: take(c.purpose),
                    line,
                };
                books.add_payment(record, slot)?;
                Ok(Outcome::new(RowStatus::Accepted, ""))
            }
            Role::Rev => {
                let Some(p) = books.payment(pid)? else {
                    return Ok(Outcome::new(
                        RowStatus::NotFound,
                        "payment_id: no such payment",
                    ));
                };
                if p.reversed {
                    return Ok(Outcome::new(
                        RowStatus::AlreadyReversed,
                        "payment is already reversed",
                    ));
                }
                if get(c.amount).amount() != p.amount {
                    return Ok(Outcome::new(
                        RowStatus::Differs,
                        format!(
                            "amount differs from the payment's {}",
                            crate::amount::format(p.amount.into())
                        ),
                    ));
                }
                let at = get(c.at).datetime().unwrap_or_default();
                books.reverse(pid, &p, &at, get(c.reason).text())?;
                Ok(Outcome::new(RowStatus::Accepted, ""))
            }
            Role::Rec => {
                if let Some(earlier) = books.noted(pid)? {
                    return Ok(Outcome::new(RowStatus::Duplicate, on_earlier_line(earlier)));
                }
                let Some(p) = books.payment(pid)? else {
                    return Ok(Outcome::new(
                        RowStatus::NotFound,
                        "payment_id: payment unknown to the receiver",
                    ));
                };
                let state = if p.reversed { "REVERSED" } else { "PAID" };
                let mut diffs = Vec::new();
                if get(c.amount).amount() != p.amount {
                    diffs.push("amount");
                }
                if get(c.invoice_no).text() != p.invoice_no {
                    diffs.push("invoice_no");
                }
                if get(c.at).datetime() != Some(p.paid_at) {
                    diffs.push("paid_at");
                }
                if get(c.state).text() != state {
                    diffs.push("state");
                }
                if diffs.is_empty() {
                    Ok(Outcome::new(RowStatus::Accepted, ""))
                } else {
                    Ok(Outcome::new(
                        RowStatus::Differs,
                        format!("{} differs from the receiver's record", diffs.join(", ")),
                    ))
                }
            }
        }
    }

    /// REC only: the receiver's payments for the day that no line listed (`306`).
    pub fn unlisted(
        &self,
        books: &mut dyn Books,
        date: NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        if self.kind.role() != Role::Rec {
            return Ok(Vec::new());
        }
        books.unlisted_on(date)
    }
}

impl Cols {
    fn none() -> Self {
        Cols {
            payment_id: usize::MAX,
            at: usize::MAX,
            invoice_no: usize::MAX,
            payer_type: usize::MAX,
            payer_id: usize::MAX,
            payer_name: usize::MAX,
            amount: usize::MAX,
            currency: usize::MAX,
            bank_mfo: usize::MAX,
            account: usize::MAX,
            purpose: usize::MAX,
            reason: usize::MAX,
            state: usize::MAX,
        }
    }
}
