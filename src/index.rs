//! Every invoice of the store, held compactly while a large batch runs (issue 5): 32 bytes an
//! invoice, so that ten million fit the memory budget of `docs/MEMORY.md`.
//!
//! The invoice number and the payer are packed together into one `u128` per invoice
//! ([`InvoiceKeys`], sorted, read-only): the reading thread finds each row's invoice there
//! ([`InvoiceKeys::find`]) while the reconciling thread works, and hands it over as a [`Slot`].
//! The amounts due and paid are a parallel array ([`Balances`]) that only the reconciling
//! thread reads and changes. Invoices of another shape (numbers longer than 20 digits, payer
//! ids longer than 15 digits, more than four payer types) are not held this way: the books
//! then read them one by one from the store, with the same answers.

use crate::ident::{digit_key, digit_key_bytes};

/// Low bits of a packed key that hold the payer and the cancelled flag.
const PAYER_BITS: u32 = 55;
/// Digit keys ([`digit_key`]) below this fit above the payer bits (numbers below 2^67).
const KEY_LIMIT: u128 = 1 << (128 - PAYER_BITS);
/// Payer ids up to this value fit (every 14-digit PINFL and 9-digit TIN).
const PAYER_ID_LIMIT: u64 = 1 << 47;
/// Payer id lengths up to this fit (4 bits).
const PAYER_LEN_MAX: usize = 15;
/// Distinct payer types the packing can name (2 bits).
const TYPES_MAX: usize = 4;

/// Where a row's invoice is in the table the books read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slot {
    /// Not looked up (no table, or the row is not well-formed): the books look it up.
    #[default]
    Unresolved,
    /// The store has no invoice with this number.
    Absent,
    /// The invoice at this position.
    At(u32),
}

/// Invoice numbers and payers, packed and sorted; shared read-only with the reading thread.
#[derive(Debug, Default)]
pub struct InvoiceKeys {
    keys: Vec<u128>,
    types: Vec<u8>,
    /// A radix directory: the numbers from the smallest to the largest are cut into buckets
    /// of `2^shift` consecutive numbers; `starts[b]` is the position of the first key of bucket
    /// `b` (and the last entry is the number of keys). A lookup reads its bucket's bounds and
    /// searches only that bucket: two or three places in memory instead of twenty-four.
    starts: Vec<u32>,
    /// The smallest invoice number (as a digit key).
    lo: u128,
    /// Numbers per bucket, as a power of two (a shift, not a 128-bit division, finds a
    /// number's bucket).
    shift: u32,
}

/// Lookups [`InvoiceKeys::find_all`] runs side by side.
pub const FIND_GROUP: usize = 16;

/// Invoices per bucket of the directory of [`InvoiceKeys`], on average (half a byte of
/// directory an invoice).
const PER_BUCKET: usize = 8;

/// An invoice's payer and cancelled flag, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payer {
    /// `payer_type` (one ASCII byte).
    pub kind: u8,
    /// `payer_id` as a number.
    pub id: u64,
    /// Digits in `payer_id` (leading zeros count).
    pub len: u8,
    /// The invoice is cancelled.
    pub cancelled: bool,
}

impl Payer {
    /// Whether a row's `payer_type` and `payer_id` are this payer's, byte for byte.
    pub fn is(&self, payer_type: &str, payer_id: &str) -> bool {
        payer_type.as_bytes() == [self.kind]
            && payer_id.len() == usize::from(self.len)
            && payer_id.bytes().all(|b| b.is_ascii_digit())
            && payer_id.bytes().try_fold(0u64, |a, d| {
                // An ASCII digit's low four bits are its value.
                a.checked_mul(10)?.checked_add(u64::from(d & 0x0f))
            }) == Some(self.id)
    }
}

impl InvoiceKeys {
    /// Number of invoices.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Where the invoice with this number is: [`Slot::Absent`] when the store has none (every
    /// invoice of the store is in the table, so a number of another shape is absent too).
    pub fn find(&self, no: &str) -> Slot {
        match self.bucket(no) {
            Some((k, start, end)) => self.search(k, start, end),
            None => Slot::Absent,
        }
    }

    /// [`InvoiceKeys::find`] for many numbers, appended to `slots` in order. The lookups go
    /// [`FIND_GROUP`] at a time, stage by stage (every bucket's bounds, then every bucket's
    /// first key, then the searches), so that the cache misses of a group overlap instead of
    /// following one another: a large table does not fit any cache.
    pub fn find_all(&self, nos: &[&str], slots: &mut Vec<Slot>) {
        for group in nos.chunks(FIND_GROUP) {
            let mut at = [None; FIND_GROUP];
            for (a, no) in at.iter_mut().zip(group) {
                *a = self.bucket(no);
            }
            let mut seen = 0u128;
            for (_, start, _) in at.iter().flatten() {
                seen ^= self.keys.get(*start).copied().unwrap_or_default();
            }
            std::hint::black_box(seen);
            slots.extend(at.iter().take(group.len()).map(|a| match *a {
                Some((k, start, end)) => self.search(k, start, end),
                None => Slot::Absent,
            }));
        }
    }

    /// The number's digit key and the bounds of its bucket; `None` when no invoice can have it.
    fn bucket(&self, no: &str) -> Option<(u128, usize, usize)> {
        let k = digit_key(no).filter(|k| *k < KEY_LIMIT)?;
        let b = k
            .checked_sub(self.lo)
            .and_then(|d| d.checked_shr(self.shift))
            .and_then(|b| usize::try_from(b).ok())?;
        let (&start, &end) = (self.starts.get(b)?, self.starts.get(b.wrapping_add(1))?);
        Some((k, start as usize, end as usize))
    }

    /// The key `k` among the keys `start..end`.
    fn search(&self, k: u128, start: usize, end: usize) -> Slot {
        let Some(keys) = self.keys.get(start..end) else {
            return Slot::Absent;
        };
        match keys.binary_search_by(|e| (e >> PAYER_BITS).cmp(&k)) {
            Ok(i) => u32::try_from(start.saturating_add(i)).map_or(Slot::Absent, Slot::At),
            Err(_) => Slot::Absent,
        }
    }

    /// Builds the radix directory of the sorted keys (see [`InvoiceKeys::find`]).
    fn build_directory(&mut self) {
        let number = |e: &u128| e >> PAYER_BITS;
        let (Some(lo), Some(hi)) = (self.keys.first().map(number), self.keys.last().map(number))
        else {
            self.starts = Vec::new();
            return;
        };
        // At most `most` buckets, one per `PER_BUCKET` keys: each the smallest power of two of
        // numbers at least `(hi - lo) / most + 1` wide, so that `most` of them would cover
        // every number from `lo` to `hi`, and `buckets` (no more than `most`) do.
        let most = (self.keys.len() / PER_BUCKET).max(1);
        let width = hi
            .saturating_sub(lo)
            .checked_div(most as u128) // `most` is at least 1.
            .unwrap_or_default()
            .saturating_add(1);
        self.lo = lo;
        self.shift = width.next_power_of_two().trailing_zeros();
        let buckets = usize::try_from(hi.saturating_sub(lo) >> self.shift)
            .map_or(most, |b| b.saturating_add(1));
        self.starts = Vec::with_capacity(buckets.saturating_add(1));
        let mut at = 0usize;
        for b in 0..=buckets {
            let bound = lo.saturating_add((b as u128) << self.shift);
            // One sweep over the sorted keys for all the buckets.
            while self.keys.get(at).is_some_and(|e| number(e) < bound) {
                at = at.saturating_add(1);
            }
            self.starts.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
    }

    /// The payer of the invoice at `i`.
    pub fn payer(&self, i: usize) -> Option<Payer> {
        let e = *self.keys.get(i)?;
        let bits = (e & ((1 << PAYER_BITS) - 1)) as u64;
        Some(Payer {
            cancelled: bits & 1 == 1,
            kind: *self.types.get(((bits >> 1) & 3) as usize)?,
            len: ((bits >> 3) & 15) as u8,
            id: bits >> 7,
        })
    }

    /// The invoice number at `i`.
    pub fn invoice_no(&self, i: usize) -> Option<InvoiceNo> {
        let k = *self.keys.get(i)? >> PAYER_BITS;
        let width = (k % 64) as usize;
        let value = k / 64; // below 2^67: two u64 halves, so no u128 division per digit
        let (mut hi, mut lo) = ((value / TEN_POW_19) as u64, (value % TEN_POW_19) as u64);
        let mut out = InvoiceNo {
            digits: [b'0'; 40],
            start: 40,
        };
        for k in (0..out.digits.len()).rev() {
            let d = if k >= 40 - 19 {
                let d = lo % 10;
                lo /= 10;
                d
            } else {
                let d = hi % 10;
                hi /= 10;
                d
            };
            if let Some(slot) = out.digits.get_mut(k) {
                // In range: `d` is a remainder of division by 10.
                #[allow(clippy::arithmetic_side_effects)]
                let digit = b'0' + d as u8;
                *slot = digit;
            }
            if hi == 0 && lo == 0 && 40usize.saturating_sub(k) >= width {
                out.start = k;
                break;
            }
        }
        Some(out)
    }
}

const TEN_POW_19: u128 = 10_000_000_000_000_000_000;

/// An invoice number rebuilt from the table, without allocating (a million are written at the
/// end of a large batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceNo {
    digits: [u8; 40],
    start: usize,
}

impl AsRef<str> for InvoiceNo {
    fn as_ref(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(self.digits.get(self.start..).unwrap_or_default()).unwrap_or_default()
    }
}

impl std::fmt::Display for InvoiceNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_ref())
    }
}

/// Amounts due and paid, parallel to [`InvoiceKeys`]; which balances changed.
#[derive(Debug, Default)]
pub struct Balances {
    due_paid: Vec<[i64; 2]>,
    dirty: Vec<u64>,
    /// One bit per invoice: the store had a balance row for it when the table was read.
    stored: Vec<u64>,
}

/// Bit `i` of a bit set.
fn bit(set: &[u64], i: usize) -> bool {
    set.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// Sets bit `i` of a bit set to `on`.
fn set_bit(set: &mut [u64], i: usize, on: bool) {
    if let Some(w) = set.get_mut(i / 64) {
        if on {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }
}

impl Balances {
    /// Amount due and paid of the invoice at `i`.
    pub fn get(&self, i: usize) -> Option<(i64, i64)> {
        self.due_paid.get(i).map(|[d, p]| (*d, *p))
    }

    /// Reads what [`Balances::add_paid`] will touch for the invoice at `i` (its amounts and its
    /// change mark), so that those cache lines are loaded ahead; returns a value to discard.
    pub fn touch(&self, i: usize) -> i64 {
        let amounts = self.due_paid.get(i).map_or(0, |[due, _]| *due);
        let mark = self.dirty.get(i / 64).map_or(0, |w| *w as i64);
        amounts ^ mark
    }

    /// Adds `delta` to the paid amount of the invoice at `i` (and marks it changed); `false`,
    /// changing nothing, when the sum leaves `i64` (the paid amount is read back from the
    /// store, which may have been edited).
    #[must_use]
    pub fn add_paid(&mut self, i: usize, delta: i64) -> bool {
        if let Some([_, p]) = self.due_paid.get_mut(i) {
            let Some(sum) = p.checked_add(delta) else {
                return false;
            };
            *p = sum;
            set_bit(&mut self.dirty, i, true);
        }
        true
    }

    /// Positions and paid amounts of the changed invoices, ascending, each with whether the
    /// store had a balance row for it, clearing the marks as it goes (lazily: ten million
    /// changes need no list in memory).
    pub fn drain_changed(&mut self) -> impl Iterator<Item = (usize, i64, bool)> + '_ {
        let (due_paid, stored) = (&self.due_paid, &self.stored);
        self.dirty
            .iter_mut()
            .enumerate()
            .flat_map(move |(w, word)| {
                let mut bits = std::mem::take(word);
                std::iter::from_fn(move || {
                    if bits == 0 {
                        return None;
                    }
                    let i = w
                        .saturating_mul(64)
                        .saturating_add(bits.trailing_zeros() as usize);
                    // The lowest bit set cleared (`bits` is not 0 here).
                    bits &= bits.wrapping_sub(1);
                    Some(i)
                })
                .filter_map(move |i| due_paid.get(i).map(|[_, p]| (i, *p, bit(stored, i))))
            })
    }
}

/// Builds the table from invoices in any order.
#[derive(Debug, Default)]
pub struct Builder {
    keys: InvoiceKeys,
    due_paid: Vec<[i64; 2]>,
    stored: Vec<u64>,
    sorted: bool,
}

impl Builder {
    /// An empty table with room for `n` invoices (so that loading needs no more memory than
    /// the table).
    pub fn with_capacity(n: usize) -> Self {
        Self {
            keys: InvoiceKeys {
                keys: Vec::with_capacity(n),
                types: Vec::new(),
                starts: Vec::new(),
                lo: 0,
                shift: 0,
            },
            due_paid: Vec::with_capacity(n),
            stored: Vec::with_capacity(n.div_ceil(64)),
            sorted: true,
        }
    }

    /// An empty table.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Adds an invoice, with its stored balance row's paid amount if it has one; `false` when
    /// it does not fit the packing (then the table cannot hold the store's invoices and must
    /// not be used).
    pub fn push(
        &mut self,
        no: &[u8],
        payer_type: &[u8],
        payer_id: &[u8],
        cancelled: bool,
        amount_due: i64,
        paid: Option<i64>,
    ) -> bool {
        let Some(key) = digit_key_bytes(no).filter(|k| *k < KEY_LIMIT) else {
            return false;
        };
        let Some(id) = digit_key_bytes(payer_id)
            .filter(|_| payer_id.len() <= PAYER_LEN_MAX)
            .and_then(|k| u64::try_from(k / 64).ok())
            .filter(|v| *v < PAYER_ID_LIMIT)
        else {
            return false;
        };
        let [kind] = payer_type else {
            return false;
        };
        let t = match self.keys.types.iter().position(|t| t == kind) {
            Some(t) => t,
            None if self.keys.types.len() < TYPES_MAX => {
                self.keys.types.push(*kind);
                self.keys.types.len().saturating_sub(1)
            }
            None => return false,
        };
        let bits = (u128::from(id) << 7)
            | ((payer_id.len() as u128) << 3)
            | ((t as u128) << 1)
            | u128::from(cancelled);
        let packed = (key << PAYER_BITS) | bits;
        if self.keys.keys.last().is_some_and(|l| *l >= packed) {
            self.sorted = false;
        }
        let at = self.due_paid.len();
        if at.is_multiple_of(64) {
            self.stored.push(0);
        }
        set_bit(&mut self.stored, at, paid.is_some());
        self.keys.keys.push(packed);
        self.due_paid.push([amount_due, paid.unwrap_or(0)]);
        true
    }

    /// The table, sorted by invoice number.
    pub fn finish(self) -> (InvoiceKeys, Balances) {
        let Builder {
            mut keys,
            mut due_paid,
            mut stored,
            sorted,
        } = self;
        if !sorted {
            // Sort both arrays by key in place: an order of positions, then its cycles.
            let mut order: Vec<u32> = (0..keys.keys.len() as u32).collect();
            order.sort_unstable_by_key(|i| keys.keys.get(*i as usize).copied());
            for start in 0..order.len() {
                let mut cur = start;
                while let Some(&next) = order.get(cur).filter(|n| **n as usize != start) {
                    let next = next as usize;
                    keys.keys.swap(cur, next);
                    due_paid.swap(cur, next);
                    let (a, b) = (bit(&stored, cur), bit(&stored, next));
                    set_bit(&mut stored, cur, b);
                    set_bit(&mut stored, next, a);
                    if let Some(o) = order.get_mut(cur) {
                        *o = cur as u32;
                    }
                    cur = next;
                }
                if let Some(o) = order.get_mut(cur) {
                    *o = cur as u32;
                }
            }
        }
        let words = due_paid.len().div_ceil(64);
        keys.build_directory();
        keys.keys.shrink_to_fit();
        due_paid.shrink_to_fit();
        (
            keys,
            Balances {
                due_paid,
                dirty: vec![0; words],
                stored,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(&str, &str, &str, bool, i64, i64)]) -> Option<(InvoiceKeys, Balances)> {
        let mut b = Builder::new();
        for (no, t, id, c, due, paid) in rows {
            if !b.push(
                no.as_bytes(),
                t.as_bytes(),
                id.as_bytes(),
                *c,
                *due,
                Some(*paid),
            ) {
                return None;
            }
        }
        Some(b.finish())
    }

    #[test]
    fn finds_every_invoice_in_any_order_and_keeps_its_data() {
        let rows = [
            ("12026000005535255270", "P", "42101087046892", false, 500, 0),
            ("00000000000000000001", "J", "301234567", true, 7, 3),
            ("99999999999999999999", "P", "00000000000001", false, 1, 1),
            ("5", "J", "123456789", false, 10, 0),
            ("05", "P", "99999999999999", false, 11, 2),
            ("147573952589676412927", "J", "1", false, 12, 0),
            ("10000000000000000000", "P", "1", false, 13, 0),
            ("0", "P", "1", false, 14, 0),
            ("000", "P", "1", false, 15, 0),
            (
                "000000000000000000000000000000000005",
                "P",
                "1",
                false,
                16,
                0,
            ),
        ];
        let (keys, bal) = table(&rows).expect("fits");
        assert_eq!(keys.len(), rows.len());
        for (no, t, id, c, due, paid) in rows {
            let Slot::At(i) = keys.find(no) else {
                panic!("{no} not found")
            };
            let i = i as usize;
            assert_eq!(
                keys.invoice_no(i).map(|n| n.to_string()).as_deref(),
                Some(no)
            );
            let p = keys.payer(i).expect("payer");
            assert!(p.is(t, id), "{no}: {p:?}");
            assert_eq!(p.cancelled, c);
            assert_eq!(bal.get(i), Some((due, paid)));
        }
        for absent in [
            "6",
            "005",
            "12026000005535255271",
            "x",
            "",
            "123456789012345678901",
        ] {
            assert_eq!(keys.find(absent), Slot::Absent, "{absent}");
        }
    }

    #[test]
    fn every_key_of_many_blocks_is_found_and_no_other() {
        // Several directory blocks, odd numbers only, in descending order (sorted on finish).
        let mut b = Builder::new();
        let n = 64 * 5 + 17;
        for i in (0..n).rev() {
            assert!(b.push(
                format!("{:020}", 2 * i + 1).as_bytes(),
                b"P",
                b"1",
                false,
                i,
                None
            ));
        }
        let (keys, bal) = b.finish();
        for i in 0..n {
            let Slot::At(at) = keys.find(&format!("{:020}", 2 * i + 1)) else {
                panic!("{i} not found")
            };
            assert_eq!(bal.get(at as usize), Some((i, 0)));
            assert_eq!(keys.find(&format!("{:020}", 2 * i)), Slot::Absent, "{i}");
        }
        assert_eq!(keys.find(&format!("{:020}", 2 * n + 1)), Slot::Absent);
        assert_eq!(Builder::new().finish().0.find("1"), Slot::Absent);
    }

    #[test]
    fn payer_comparison_is_exact() {
        let (keys, _) = table(&[("1", "P", "04210108704689", false, 1, 0)]).expect("fits");
        let p = keys.payer(0).expect("payer");
        assert!(p.is("P", "04210108704689"));
        for (t, id) in [
            ("J", "04210108704689"),
            ("P", "4210108704689"),
            ("P", "004210108704689"),
            ("P", "04210108704688"),
            ("PP", "04210108704689"),
            ("P", "0421010870468a"),
        ] {
            assert!(!p.is(t, id), "{t} {id}");
        }
    }

    #[test]
    fn shapes_it_cannot_hold_are_refused() {
        assert!(table(&[("999999999999999999999", "P", "1", false, 1, 0)]).is_none());
        assert!(table(&[("147573952589676412928", "P", "1", false, 1, 0)]).is_none());
        assert!(table(&[("147573952589676412927", "P", "1", false, 1, 0)]).is_some());
        assert!(table(&[("1", "P", "1234567890123456", false, 1, 0)]).is_none());
        assert!(table(&[("1", "P", "140737488355328", false, 1, 0)]).is_none());
        assert!(table(&[("1", "PJ", "1", false, 1, 0)]).is_none());
        assert!(table(&[("1A", "P", "1", false, 1, 0)]).is_none());
        let five_types = [
            ("1", "A", "1", false, 1, 0),
            ("2", "B", "1", false, 1, 0),
            ("3", "C", "1", false, 1, 0),
            ("4", "D", "1", false, 1, 0),
            ("5", "E", "1", false, 1, 0),
        ];
        assert!(table(&five_types[..4]).is_some());
        assert!(table(&five_types).is_none());
    }

    #[test]
    fn changed_balances_come_back_once_in_order() {
        let rows: Vec<(String, i64)> = (0..200).rev().map(|i| (i.to_string(), i)).collect();
        let mut b = Builder::new();
        for (no, due) in &rows {
            assert!(b.push(no.as_bytes(), b"P", b"1", false, *due, None));
        }
        let (keys, mut bal) = b.finish();
        let at = |no: &str| match keys.find(no) {
            Slot::At(i) => i as usize,
            s => panic!("{no}: {s:?}"),
        };
        for no in ["150", "3", "64", "63", "3"] {
            assert!(bal.add_paid(at(no), 5));
        }
        let changed: Vec<(String, i64)> = bal
            .drain_changed()
            .map(|(i, p, stored)| {
                assert!(!stored, "no balance row was read");
                (
                    keys.invoice_no(i)
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    p,
                )
            })
            .collect();
        let mut want = vec![
            ("150".to_string(), 5),
            ("3".to_string(), 10),
            ("64".to_string(), 5),
            ("63".to_string(), 5),
        ];
        want.sort_by_key(|(no, _)| at(no));
        assert_eq!(changed, want);
        assert_eq!(bal.drain_changed().count(), 0);
        assert_eq!(bal.get(at("3")), Some((3, 10)));
    }
}
