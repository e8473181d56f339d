#!/usr/bin/env python3
"""Long histories: a seeded differential test of the books (agreement §5, §7.2, §9).

Each case is a fresh receiver (partner key on) with a random billing export (tens of invoices, a
few payers of both types, OPEN and CANCELLED, various amounts due), then 10 to 40 steps spread
over several business days. A step is one of: a PAY batch (partial payments, paying exactly to
the amount due, overpaying, another payer, cancelled or fully paid invoices, unknown invoices,
ids applied before or repeated in the batch, ids rejected before and sent again, a few 201/202
rows and rows of the wrong shape); a REV batch (old and new payments, wrong amounts, unknown
ids, already reversed, reversals that re-open paid invoices); a REC statement of one business
day (the day's payments with their state at the time of the statement, then mutated: rows
dropped, unknown ids, a wrong amount, invoice, paid_at or state, repeated ids, paid_at on another
day); a later billing export (amount_due lowered below or raised above what is paid, cancelled
after a partial payment, re-opened, payer changed, invoices added, invoices left out); several
batches dropped together and handled in one `run` (§7.2 order: business date, type PAY, REV,
REC, sequence number of 3 to 6 digits); a batch first answered NAK B08, then sent corrected; the
re-delivery of an earlier archive (the same response byte for byte); other bytes under a
processed batch id (B09).

An independent model of the books, written from the agreement and the README's decisions only,
predicts every response: ACK or NAK (and its code), every result.csv row (line, payment_id,
status, field; not the message), rows, accepted, amount_accepted; lib.check_response checks the
§8 layout of each. Where the agreement leaves a reading open, each reading it allows is accepted
and the one the engine took is printed. At the end of each case (and at a random step of some),
`audit verify` and `audit verify --rebuild` must exit 0, and `replay` of a few earlier archives
must reproduce the response that was sent, byte for byte.

    REESTR_BIN=target/release/reestr python3 conformance/history.py [--seed S] [--cases N] [--jobs J] [--case K]

Prints one line per case and `== history: N/M cases OK`; on a disagreement the seed, case, step
and the rows that differ, keeps the scratch folder (the case's receiver holds `history.log` and
every archive and export it was given, in order, under `history/`), and exits 1.
--case K runs case K of the seed only. CONFORMANCE_JOBS is the default of --jobs. --big P makes a
step, with probability P, one PAY or REV batch of 50,000+ rows (a few hundred of them meaningful),
which the engine handles on another path (every invoice read at once; off by default).
Standard library only.
"""
import argparse
import copy
import datetime as dt
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _args():
    ap = argparse.ArgumentParser(description="long random histories against a model of §7.2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("CONFORMANCE_JOBS", "0") or "0") or (os.cpu_count() or 1))
    ap.add_argument("--case", type=int, default=None, help="run only this case number of the seed")
    ap.add_argument("--min-steps", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=40)
    ap.add_argument("--big", type=float, default=0.0,
                    help="probability of a step being one batch of 50,000+ rows (default 0: off)")
    return ap.parse_args()


ARGS = _args() if __name__ == "__main__" else None
import lib  # noqa: E402  (needs REESTR_BIN; after argparse so that --help works without it)

TZ5 = dt.timezone(dt.timedelta(hours=5))
PYENC = {"utf-8": "utf-8", "windows-1251": "cp1251", "cp866": "cp866"}
HDR = {"PAY": lib.PAY_HDR, "REV": lib.REV_HDR, "REC": lib.REC_HDR}
NFIELDS = {"PAY": 11, "REV": 4, "REC": 5}
AMT_COL = {"PAY": 6, "REV": 2, "REC": 3}
TYPE_ORDER = {"PAY": 0, "REV": 1, "REC": 2}
EXPORT_HDR = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"

# ======================================================================================
# The model: field rules (§5.1 to §5.4) and the books (§7.2, §9), from the agreement alone
# ======================================================================================
DT_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
AMT_RE = re.compile(r"[0-9]{1,13}\.[0-9]{2}")


def parse_dt(s):
    """§5 datetime `YYYY-MM-DD HH:MM:SS`, Tashkent time: an aware datetime, or None."""
    m = DT_RE.fullmatch(s)
    if not m:
        return None
    y, mo, d, h, mi, se = map(int, m.groups())
    if y == 0 or h > 23 or mi > 59 or se > 59:
        return None
    try:
        return dt.datetime(y, mo, d, h, mi, se, tzinfo=TZ5)
    except ValueError:
        return None


def parse_amt(s):
    """§5 amount: tiyin, or None when not of the form."""
    if not AMT_RE.fullmatch(s):
        return None
    a, b = s.split(".")
    return int(a) * 100 + int(b)


def digits(s, lo, hi):
    return re.fullmatch(r"[0-9]+", s) is not None and lo <= len(s) <= hi


def pinfl_ok(s):
    if not re.fullmatch(r"[0-9]{14}", s):
        return False
    c = int(s[0])
    if not 1 <= c <= 6:
        return False
    century = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}[c]
    try:
        dt.date(century + int(s[5:7]), int(s[3:5]), int(s[1:3]))
    except ValueError:
        return False
    w = [7, 3, 1] * 5
    return sum(int(s[i]) * w[i] for i in range(13)) % 10 == int(s[13])


def tin_ok(s):
    return re.fullmatch(r"[23][0-9]{8}", s) is not None


def acct_key(mfo, a):
    s = mfo + a[0:8] + a[9:20] + "9"
    t = sum(int(s[i]) * int(s[i + 1]) for i in range(24))
    r = t % 11
    return "9" if r == 0 else ("0" if r == 1 else str(11 - r))


def check_pay(f, created):
    """First failing field of a PAY row in column order: (201|202, field) or None."""
    if len(f) != 11:
        return (202, "")
    pid, paid_at, inv, pt, payer, name, amt, cur, mfo, acc, purp = f
    if pid == "":
        return (201, "payment_id")
    if not digits(pid, 12, 20):
        return (202, "payment_id")
    if paid_at == "":
        return (201, "paid_at")
    t = parse_dt(paid_at)
    if t is None or t > created:
        return (202, "paid_at")
    if inv == "":
        return (201, "invoice_no")
    if not digits(inv, 20, 20):
        return (202, "invoice_no")
    if pt == "":
        return (201, "payer_type")
    if pt not in ("P", "J"):
        return (202, "payer_type")
    if payer == "":
        return (201, "payer_id")
    if not (pinfl_ok(payer) if pt == "P" else tin_ok(payer)):
        return (202, "payer_id")
    if name == "":
        return (201, "payer_name")
    if len(name) > 200:
        return (202, "payer_name")
    if amt == "":
        return (201, "amount")
    a = parse_amt(amt)
    if a is None or a == 0:
        return (202, "amount")
    if cur == "":
        return (201, "currency")
    if cur != "860":
        return (202, "currency")
    if mfo == "":
        return (201, "bank_mfo")
    if not digits(mfo, 5, 5):
        return (202, "bank_mfo")
    if acc != "" and (not digits(acc, 20, 20) or acct_key(mfo, acc) != acc[8]):
        return (202, "account")
    if len(purp) > 500:
        return (202, "purpose")
    return None


def check_rev(f, created):
    if len(f) != 4:
        return (202, "")
    pid, at, amt, reason = f
    if pid == "":
        return (201, "payment_id")       # README: a REV payment_id has no format of its own
    if at == "":
        return (201, "reversed_at")
    t = parse_dt(at)
    if t is None or t > created:
        return (202, "reversed_at")
    if amt == "":
        return (201, "amount")
    if parse_amt(amt) is None:
        return (202, "amount")
    if reason == "":
        return (201, "reason")
    if len(reason) > 200:
        return (202, "reason")
    return None


def check_rec(f, bdate):
    if len(f) != 5:
        return (202, "")
    pid, paid_at, inv, amt, state = f
    if pid == "":
        return (201, "payment_id")
    if not digits(pid, 12, 20):
        return (202, "payment_id")
    if paid_at == "":
        return (201, "paid_at")
    t = parse_dt(paid_at)
    if t is None or t.date() != bdate:
        return (202, "paid_at")
    if inv == "":
        return (201, "invoice_no")
    if not digits(inv, 20, 20):
        return (202, "invoice_no")
    if amt == "":
        return (201, "amount")
    a = parse_amt(amt)
    if a is None or a == 0:
        return (202, "amount")
    if state == "":
        return (201, "state")
    if state not in ("PAID", "REVERSED"):
        return (202, "state")
    return None


# Open points: (label, topic) of each reading the agreement allows where it does not decide.
READINGS = {
    "REC-A": ("REC state: the receiver's record when the statement is judged",
              "REC 'state at the time of the statement' (a reversal dated after the statement's created_at)"),
    "REC-B": ("REC state: the receiver's record as it stood at the statement's created_at",
              "REC 'state at the time of the statement' (a reversal dated after the statement's created_at)"),
    "REV0-1": ("REV amount 0.00: an amount, compared (305 / 4 / 307)", "REV amount 0.00"),
    "REV0-2": ("REV amount 0.00: 202 amount", "REV amount 0.00"),
}
TOPIC = {label: topic for label, topic in READINGS.values()}


class Payment:
    __slots__ = ("pid", "paid_at", "day", "inv", "amount", "state", "rev_at")

    def __init__(self, pid, paid_at, inv, amount):
        self.pid, self.paid_at, self.inv, self.amount = pid, paid_at, inv, amount
        self.day = parse_dt(paid_at).date()
        self.state = "PAID"
        self.rev_at = None


class Model:
    """The receiver's books as the agreement describes them."""

    def __init__(self):
        self.inv = {}        # invoice_no -> dict(pt, payer, name, due, status)   (§9)
        self.pay = {}        # payment_id -> Payment (every applied payment, reversed ones too)
        self.paid = {}       # invoice_no -> tiyin of its payments not reversed
        self.unapplied = {}  # payment ids sent in PAY rows and never applied (generator's use)
        self.full_once = set()  # invoices that were fully paid at some moment
        self.tags = Counter()   # how often each situation of interest was met (coverage report)

    def load_export(self, invoices):
        # §9: a later export updates invoices by invoice_no; README: one left out stays.
        for no, e in invoices.items():
            self.inv[no] = dict(e)

    def is_paid(self, no):
        # §7.2: "an invoice is paid when its payments reach its amount due"; a reversal
        # re-opens the amount it reversed (paid counts the payments not reversed).
        return self.paid.get(no, 0) >= self.inv[no]["due"]

    def outstanding(self, no):
        return self.inv[no]["due"] - self.paid.get(no, 0)

    # --- PAY ---
    def pay_one(self, f, created, seen):
        err = check_pay(f, created)
        key = f[0]
        if err:
            st = err
        elif key in seen or key in self.pay:
            st = (301, "")
        else:
            no = f[2]
            inv = self.inv.get(no)
            a = parse_amt(f[6])
            if inv is None:
                st = (4, "")
            elif inv["status"] == "CANCELLED" or self.is_paid(no):
                st = (302, "")
                paid = self.paid.get(no, 0)
                self.tags["PAY 302 " + ("cancelled" + (" after payments" if paid else "") if inv["status"] == "CANCELLED"
                                        else "paid above a lowered amount due" if paid > inv["due"] else "paid exactly")] += 1
            elif (f[3], f[4]) != (inv["pt"], inv["payer"]):
                st = (304, "")
                if f[3] != inv["pt"]:
                    self.tags["PAY 304 payer_type differs"] += 1
            elif a > self.outstanding(no):
                st = (303, "")
                if a == self.outstanding(no) + 1:
                    self.tags["PAY 303 by one tiyin"] += 1
            else:
                st = (1, "")
                if no in self.full_once:
                    self.tags["PAY 1 on an invoice fully paid before (re-opened)"] += 1
                if a == self.outstanding(no):
                    self.tags["PAY 1 paying exactly the outstanding"] += 1
                if key in self.unapplied:
                    self.tags["PAY 1 an id rejected in an earlier batch"] += 1
                self.pay[key] = Payment(key, f[1], no, a)
                self.paid[no] = self.paid.get(no, 0) + a
                self.unapplied.pop(key, None)
                if self.is_paid(no):
                    self.full_once.add(no)
            if st[0] == 301:
                if key in self.pay and self.pay[key].state == "REVERSED":
                    self.tags["PAY 301 the id of a reversed payment"] += 1
                elif key not in self.pay:
                    self.tags["PAY 301 repeat of an earlier line not applied"] += 1
        seen.add(key)
        if st[0] != 1 and digits(key, 12, 20) and key not in self.pay and len(f) == 11:
            self.unapplied[key] = tuple(f)
        return st

    # --- REV ---
    def rev_one(self, f, created):
        err = check_rev(f, created)
        if err:
            return err
        p = self.pay.get(f[0])
        if p is None:
            return (4, "")
        if p.state == "REVERSED":
            return (307, "")
        if parse_amt(f[2]) != p.amount:
            return (305, "")
        was = self.is_paid(p.inv)
        p.state = "REVERSED"
        p.rev_at = parse_dt(f[1])
        self.paid[p.inv] -= p.amount
        if self.inv[p.inv]["status"] == "CANCELLED":
            self.tags["REV 1 on a cancelled invoice"] += 1
        if was and not self.is_paid(p.inv):
            self.tags["REV 1 re-opening a fully paid invoice"] += 1
        elif was:
            self.tags["REV 1 leaving an invoice paid (due lowered)"] += 1
        return (1, "")

    # --- whole batches: (alternatives of (rows, amount_accepted)) ---
    def pay_batch(self, rows, created):
        seen, out, amt = set(), [], 0
        for i, f in enumerate(rows, 1):
            st, fld = self.pay_one(f, created, seen)
            out.append((str(i), f[0], str(st), fld))
            if st == 1:
                amt += parse_amt(f[6])
        return [(out, amt, None)]

    def rev_batch(self, rows, created):
        """A REV amount of 0.00 is of §5's form; §5.2 says only that it "must equal the original
        payment's amount" (no "> 0.00" as in PAY). Reading 1: it is compared like any amount
        (305, or 4 / 307 first); reading 2: it is 202 amount, as a PAY amount would be. The books
        change alike either way (such a row never applies)."""
        out, alt, amt = [], [], 0
        for i, f in enumerate(rows, 1):
            st, fld = self.rev_one(f, created)
            out.append((str(i), f[0], str(st), fld))
            if len(f) == 4 and check_rev(f, created) is None and parse_amt(f[2]) == 0:
                alt.append((str(i), f[0], "202", "amount"))
            else:
                alt.append(out[-1])
            if st == 1:
                amt += parse_amt(f[2])
        alts = [(out, amt, READINGS["REV0-1"][0])]
        if alt != out:
            alts.append((alt, amt, READINGS["REV0-2"][0]))
        return alts

    def rec_batch(self, rows, created, bdate):
        """A statement changes nothing. §5.3 lists each payment "with its state at the time of
        the statement"; §7.2's 305 compares with "the receiver's record". Reading A: the record
        as it is when the statement is judged; reading B: the record as it stood at the
        statement's created_at (a reversal dated after it not yet counted). Both returned when
        they differ."""
        seen = set()
        outs = {"A": [], "B": []}
        amts = {"A": 0, "B": 0}
        for i, f in enumerate(rows, 1):
            key = f[0]
            err = check_rec(f, bdate)
            if err:
                sts = {"A": err, "B": err}
            elif key in seen:
                sts = {"A": (301, ""), "B": (301, "")}
            else:
                p = self.pay.get(key)
                if p is None:
                    sts = {"A": (4, ""), "B": (4, "")}
                else:
                    base = parse_amt(f[3]) != p.amount or f[2] != p.inv or f[1] != p.paid_at
                    state_b = "REVERSED" if p.state == "REVERSED" and p.rev_at <= created else "PAID"
                    sts = {"A": (305, "") if base or f[4] != p.state else (1, ""),
                           "B": (305, "") if base or f[4] != state_b else (1, "")}
                    if not base and f[4] != p.state:
                        self.tags["REC 305 state differs"] += 1
                    if sts["A"][0] == 1 and p.state == "REVERSED":
                        self.tags["REC 1 a REVERSED payment"] += 1
            seen.add(key)
            for r in "AB":
                outs[r].append((str(i), key, str(sts[r][0]), sts[r][1]))
                if sts[r][0] == 1:
                    amts[r] += parse_amt(f[3])
        listed = {f[0] for f in rows}
        missing = sorted((pid for pid, p in self.pay.items() if p.day == bdate and pid not in listed),
                         key=lambda s: s.encode())
        for r in "AB":
            outs[r] += [("", pid, "306", "") for pid in missing]
        self.tags["REC 306 of a reversed payment"] += sum(self.pay[x].state == "REVERSED" for x in missing)
        alts = [(outs["A"], amts["A"], READINGS["REC-A"][0])]
        if outs["B"] != outs["A"]:
            alts.append((outs["B"], amts["B"], READINGS["REC-B"][0]))
        return alts


# ======================================================================================
# Writing what the partner sends
# ======================================================================================
def csv_field(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ';"\r\n') else s


def registry_bytes(typ, rows, enc, eol="\r\n", final_eol=True, bom=False):
    lines = [HDR[typ]] + [";".join(csv_field(x) for x in r) for r in rows]
    if rows and rows[-1] == [""]:
        final_eol = True
    s = eol.join(lines) + (eol if final_eol else "")
    b = s.encode(PYENC[enc])
    return (b"\xef\xbb\xbf" + b) if bom and enc == "utf-8" else b


def declared_total(typ, rows):
    """§6: the sum of the well-formed amounts of the rows with the right number of fields."""
    t = 0
    for r in rows:
        if len(r) == NFIELDS[typ]:
            a = parse_amt(r[AMT_COL[typ]])
            t += a or 0
    return t


def fmt_dt(t):
    return t.astimezone(TZ5).strftime("%Y-%m-%d %H:%M:%S")


def rfc3339(t, rng):
    """created_at: the instant t written in one of several offsets."""
    off = rng.choice([5 * 60] * 6 + [0, 0, 3 * 60, -4 * 60, 5 * 60 + 30, 9 * 60])
    tz = dt.timezone(dt.timedelta(minutes=off))
    local = t.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S")
    if off == 0 and rng.random() < 0.7:
        return local + "Z"
    sign = "+" if off >= 0 else "-"
    return local + "%s%02d:%02d" % (sign, abs(off) // 60, abs(off) % 60)


def parse_created(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


NAMES = ["Aliyev Anvar", "Karimova Dilnoza", "Ғуломов Ҳасан", "Toʻxtayeva Oʻgʻiloy", "Иванов Пётр Сергеевич",
         'OOO "Yangi Yo\'l"', "Firma; MChJ", "Ўринбоева Гулноза", "Qo'chqorov Bahodir", "Сидорова Анна"]
PURPOSES = ["", "davlat boji", "Госпошлина; дело №2-1/2026", "ikki\r\nqator", 'say "hi"', "sud xarajati",
            "Ж" * 500, "штраф по делу 3-45/2026"]
REASONS = ["xato", "ошибка платежа", "qaytarildi; bank", "возврат \"по заявлению\"", "R" * 200]


def encodable(s, enc):
    try:
        s.encode(PYENC[enc])
        return True
    except UnicodeEncodeError:
        return False


# ======================================================================================
# One case
# ======================================================================================
class Diff(Exception):
    pass


def bid_key(bid):
    p = bid.split("_")
    return (p[3], TYPE_ORDER[p[2]], int(p[4]))


def resp_name(bid, res):
    p = bid.split("_")
    return f"SUDBILLING_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{res}.zip"


class Case:
    def __init__(self, seed, idx):
        self.seed, self.idx = seed, idx
        self.rng = random.Random(f"history:{seed}:{idx}")
        self.notes = []
        self.stats = Counter()
        self.model = Model()
        self.acked_bytes = {}   # sha -> response bytes (processed: ACK)
        self.acked = {}         # batch id -> item of its ACK
        self.first_resp = {}    # sha -> (item, response bytes of its first delivery)
        self.used_ids = set()
        self.used_invs = set()
        self.unknown_invs = []
        self.reopened = set()
        self.pending_fix = []   # items answered B08, to be sent corrected later
        self.seq = Counter()
        self.nfile = 0
        self.step = 0
        self.rx = os.path.join(lib.SCRATCH, "rx", f"h{seed}-{idx:05d}")
        self.hist = os.path.join(self.rx, "history")

    # ---------- receiver ----------
    def setup(self):
        rng = self.rng
        d = self.rx
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d + "/keys")
        os.makedirs(self.hist)
        with open(d + "/keys/MUNIS.key", "w") as f:
            f.write(lib.KEY_HEX + "\n")
        os.chmod(d + "/keys/MUNIS.key", 0o600)
        with open(d + "/reestr.toml", "w") as f:
            f.write('receiver = "SUDBILLING"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\n'
                    'settle_seconds = 0\nunreadable_grace_seconds = 0\nrun_wait_seconds = 5\n'
                    '[partners.MUNIS]\nkey_file = "keys/MUNIS.key"\n')
        self.cli(["init"])
        # payers: a few of each type
        self.payers = []
        for _ in range(rng.randint(3, 6)):
            self.payers.append(self.new_payer())
        if not any(p[0] == "P" for p in self.payers):
            self.payers.append(self.new_payer("P"))
        if not any(p[0] == "J" for p in self.payers):
            self.payers.append(self.new_payer("J"))
        start = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
        if rng.random() < 0.2:
            start = dt.date(2026, 12, rng.randint(24, 31))   # across the year's end
        self.day = start
        self.first_day = start
        invs = {}
        for _ in range(rng.randint(20, 60)):
            no = self.new_inv_no()
            pt, payer, name = rng.choice(self.payers)
            invs[no] = dict(pt=pt, payer=payer, name=name, due=self.rand_due(),
                            status="CANCELLED" if rng.random() < 0.12 else "OPEN",
                            court=rng.choice(["1703002", "1726", "SUD-7", "ТОШ01"]),
                            case=rng.choice(["2-1/2026", "3-45/2026", "дело 17/26", "A-1"]),
                            issued=fmt_dt(dt.datetime.combine(start - dt.timedelta(days=rng.randint(1, 60)),
                                                              dt.time(10, 0), TZ5)))
        self.export(invs)

    def cli(self, args, check=True):
        p = subprocess.run([lib.BIN, "--config", self.rx + "/reestr.toml"] + args, capture_output=True)
        if check and p.returncode != 0:
            raise Diff(f"`reestr {' '.join(args)}` exit {p.returncode}: {p.stdout.decode(errors='replace')[-600:]} "
                       f"{p.stderr.decode(errors='replace')[-600:]}")
        return p

    def log(self, s):
        with open(self.rx + "/history.log", "a") as f:
            f.write(f"step {self.step}: {s}\n")

    def keep(self, name, data):
        self.nfile += 1
        path = os.path.join(self.hist, f"{self.nfile:03d}-{name}")
        with open(path, "wb") as f:
            f.write(data)
        return path

    # ---------- random values ----------
    def new_payer(self, pt=None):
        rng = self.rng
        pt = pt or rng.choice("PJ")
        if pt == "P":
            c = rng.randint(1, 6)
            century = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}[c]
            while True:
                y, m, d = rng.randint(0, 99), rng.randint(1, 12), rng.randint(1, 31)
                try:
                    dt.date(century + y, m, d)
                    break
                except ValueError:
                    continue
            pid = lib.make_pinfl(f"{c}{d:02d}{m:02d}{y:02d}" + "".join(rng.choice("0123456789") for _ in range(6)))
        else:
            pid = rng.choice("23") + "".join(rng.choice("0123456789") for _ in range(8))
        return (pt, pid, rng.choice(NAMES))

    def new_pid(self):
        while True:
            n = self.rng.choice([12, 12, 14, 15, 16, 18, 19, 20])
            s = "".join(self.rng.choice("0123456789") for _ in range(n))
            if s not in self.used_ids:
                self.used_ids.add(s)
                return s

    def new_inv_no(self):
        while True:
            s = self.rng.choice(["2026", "1703", "0000"]) + "".join(self.rng.choice("0123456789") for _ in range(16))
            if s not in self.used_invs:
                self.used_invs.add(s)
                return s

    def rand_due(self):
        r = self.rng.random()
        if r < 0.03:
            return self.rng.randint(10 ** 14, 10 ** 15 - 1)          # 13-digit so'm
        if r < 0.3:
            return self.rng.randint(1, 50000) * 100
        if r < 0.6:
            return self.rng.randint(100, 5000000)
        return self.rng.randint(1000000, 2000000000)

    def amount_text(self, tiyin):
        s = lib.fmt_amount(tiyin)
        room = 13 - len(s.split(".")[0])
        if room > 0 and self.rng.random() < 0.05:
            s = "0" * self.rng.randint(1, room) + s                # leading zeros: the same amount
        return s

    def text(self, pool, enc):
        c = [x for x in pool if encodable(x, enc)]
        return self.rng.choice(c)

    def created_for(self, day, hour=1):
        t = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour, 0), TZ5)
        return t + dt.timedelta(seconds=self.rng.randint(0, 7200))

    def new_bid(self, typ, day):
        if (typ, day) not in self.seq:
            # the day's first number: mostly 1, sometimes just below a power of ten (999 -> 1000)
            self.seq[(typ, day)] = self.rng.choice([0] * 6 + [7, 97, 997, 9997, 99997])
        self.seq[(typ, day)] += 1
        n = self.seq[(typ, day)]
        w = max(len(str(n)), self.rng.choice([3, 3, 3, 3, 4, 5, 6]))
        return f"MUNIS_SUDBILLING_{typ}_{day:%Y%m%d}_{n:0{w}d}"

    def enc(self):
        return self.rng.choice(["utf-8"] * 6 + ["windows-1251", "cp866"])

    # ---------- item: one archive to drop ----------
    def item(self, typ, day, rows, created_s, enc, bid=None, bad_rows=False, layout=None):
        rng = self.rng
        bid = bid or self.new_bid(typ, day)
        layout = layout or dict(eol=rng.choice(["\r\n"] * 4 + ["\n"]), final_eol=rng.random() < 0.85,
                                bom=enc == "utf-8" and rng.random() < 0.15)
        reg = registry_bytes(typ, rows, enc, **layout)
        declared = len(rows) + (rng.choice([1, -1]) if bad_rows and rows else (1 if bad_rows else 0))
        data = lib.build_archive(bid, reg, enc=enc, rows=declared, total=lib.fmt_amount(declared_total(typ, rows)),
                                 created=created_s)
        return dict(bid=bid, name=bid + ".zip", typ=typ, day=day, rows=rows, created=created_s,
                    created_i=parse_created(created_s), enc=enc, declared=declared, data=data,
                    sha=hashlib.sha256(data).hexdigest(), layout=layout)

    # ---------- PAY rows ----------
    def paid_at(self, day, created_i):
        rng = self.rng
        r = rng.random()
        if r < 0.08:
            t = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(rng.randint(18, 23), rng.randint(0, 59), rng.randint(0, 59)), TZ5)
        elif r < 0.12:
            t = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, rng.randint(0, 59), rng.randint(0, 59)), TZ5)
            if t > created_i:
                t = created_i
        else:
            t = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)), TZ5)
        return fmt_dt(t)

    def pay_fields(self, pid, paid_at, no, payer, tiyin, enc):
        rng = self.rng
        pt, payer_id, name = payer
        if not encodable(name, enc):
            name = self.text(NAMES, enc)
        mfo = "".join(rng.choice("0123456789") for _ in range(5))
        acc = "" if rng.random() < 0.3 else lib.make_account(mfo, "".join(rng.choice("0123456789") for _ in range(20)))
        return [pid, paid_at, no, pt, payer_id, name, self.amount_text(tiyin), "860", mfo, acc, self.text(PURPOSES, enc)]

    def open_invoices(self, g):
        return [no for no, e in g.inv.items() if e["status"] == "OPEN" and not g.is_paid(no)]

    def pay_defect(self, f, created_i, enc):
        rng = self.rng
        if len(f) != 11:
            return f
        col = rng.choice(range(-1, 11))
        if col == -1:
            return f[:-1] if rng.random() < 0.5 else f + ["x"]
        pt = f[3]
        pinfl = f[4] if pinfl_ok(f[4]) else lib.P1
        tin = f[4] if tin_ok(f[4]) else "212345678"
        opts = {
            0: ["", "12345678901", "1" * 21, "12345678901x", " " + f[0][1:]],
            1: ["", f[1].replace(" ", "T"), f[1][:5] + "02-30" + f[1][10:], f[1][:11] + "24:00:00",
                fmt_dt(created_i + dt.timedelta(seconds=rng.randint(1, 7200)))],
            2: ["", f[2][:19], f[2] + "0", f[2][:19] + "a"],
            3: ["", "X", "p"],
            4: ["", (pinfl[:13] + str((int(pinfl[13]) + 1) % 10)) if pt == "P" else "1" + tin[1:],
                (rng.choice("23") + "12345678") if pt == "P" else lib.P1, f[4] + "0"],
            5: ["", "Ж" * 201],
            6: ["", "0.00", "100.5", "-5.00", "1 000.00", "12345678901234.00", "5,00", "00.000"],
            7: ["", "840", "UZS"],
            8: ["", "0001", "000145", "0001a"],
            9: ["1" * 19, "BAD"],
            10: ["Ж" * 501],
        }
        v = rng.choice(opts[col])
        if col == 9 and rng.random() < 0.6:
            mfo = f[8] if digits(f[8], 5, 5) else "00014"
            a = lib.make_account(mfo, "".join(rng.choice("0123456789") for _ in range(20)))
            v = a[:8] + str((int(a[8]) + rng.randint(1, 9)) % 10) + a[9:]
        f = list(f)
        f[col] = v
        return f

    def filler_pay(self, g, day, created_i, seen):
        """A cheap row of a big batch: an unknown invoice (4), an invoice not payable (302), or
        an id seen before (301)."""
        rng = self.rng
        r = rng.random()
        pid = self.new_pid() if r > 0.05 or not seen else rng.choice(self.big_ids)
        no = rng.choice(self.big_invs) if r < 0.9 else rng.choice(self.big_closed or self.big_invs)
        pt, payer, name = rng.choice(self.payers)
        f = [pid, fmt_dt(dt.datetime.combine(day, dt.time(12, 0), TZ5)), no, pt, payer, "x", lib.fmt_amount(rng.randint(1, 10 ** 6)),
             "860", "00014", "", ""]
        if len(self.big_ids) < 1000:
            self.big_ids.append(pid)
        g.pay_one(f, created_i, seen)
        return f

    def gen_pay_rows(self, g, day, created_i, enc, n=None, filler=0.0):
        rng = self.rng
        if n is None:
            n = rng.choice([1, 2, 3, 5, 8, 12, 20, 30]) if rng.random() < 0.5 else rng.randint(1, 30)
        kinds = ["partial"] * 28 + ["exact"] * 10 + ["over"] * 8 + ["mismatch"] * 7 + ["closed"] * 8 + \
            ["unknown"] * 5 + ["dup_prev"] * 5 + ["dup_in"] * 4 + ["resend"] * 4 + ["bad"] * 9 + ["blank"] * 1 + ["shape"] * 2
        rows, seen = [], set()
        if filler:
            self.big_ids = []
            self.big_invs = [self.new_inv_no() for _ in range(50)]
            self.big_closed = [x for x, e in g.inv.items() if e["status"] == "CANCELLED" or g.is_paid(x)]
        for _ in range(n):
            if filler and rng.random() < filler:
                rows.append(self.filler_pay(g, day, created_i, seen))
                continue
            kind = rng.choice(kinds)
            pid = self.new_pid()
            pa = self.paid_at(day, created_i)
            opened = self.open_invoices(g)
            payer = no = None
            amount = rng.randint(1, 100000)
            if kind in ("partial", "exact", "over", "dup_prev", "dup_in", "resend", "bad", "shape") and opened:
                re_op = [x for x in opened if x in self.reopened]
                no = rng.choice(re_op) if re_op and rng.random() < 0.5 else rng.choice(opened)
                out = g.outstanding(no)
                payer = (g.inv[no]["pt"], g.inv[no]["payer"], g.inv[no]["name"])
                if kind == "exact" or (kind == "partial" and out == 1):
                    amount = out
                elif kind == "partial":
                    amount = rng.randint(1, out - 1) if rng.random() < 0.7 else rng.randint(max(1, out // 2), out - 1)
                elif kind == "over":
                    amount = min(10 ** 15 - 1, out + (1 if rng.random() < 0.5 else rng.randint(1, 10000000)))
                else:
                    amount = rng.randint(1, out)
            elif kind == "mismatch":
                cand = opened or list(g.inv)
                no = rng.choice(cand)
                e = g.inv[no]
                others = [p for p in self.payers if (p[0], p[1]) != (e["pt"], e["payer"])]
                payer = rng.choice(others) if others else self.new_payer("J" if e["pt"] == "P" else "P")
                amount = rng.randint(1, max(1, g.outstanding(no)))
            elif kind == "closed":
                cand = [x for x, e in g.inv.items() if e["status"] == "CANCELLED" or g.is_paid(x)]
                no = rng.choice(cand) if cand else rng.choice(list(g.inv))
                e = g.inv[no]
                payer = (e["pt"], e["payer"], e["name"])
                amount = rng.randint(1, 1000000)
            if no is None:   # unknown invoice (or nothing open)
                no = rng.choice(self.unknown_invs) if self.unknown_invs and rng.random() < 0.3 else self.new_inv_no()
                if no not in self.unknown_invs:
                    self.unknown_invs.append(no)
                payer = rng.choice(self.payers)
            if kind == "dup_prev" and g.pay:
                pid = rng.choice(sorted(g.pay))
            elif kind == "dup_in" and seen:
                pid = rng.choice(sorted(seen))
            elif kind == "resend":
                c = sorted(x for x in g.unapplied if x not in seen)
                if c:
                    pid = rng.choice(c)
            f = self.pay_fields(pid, pa, no, payer, amount, enc)
            if kind == "bad":
                f = self.pay_defect(f, created_i, enc)
                if rng.random() < 0.3:
                    f = self.pay_defect(f, created_i, enc)
            elif kind == "blank":
                f = [""]
            elif kind == "shape":
                f = f[:rng.randint(1, 10)] if rng.random() < 0.6 else f + [""]
            g.pay_one(f, created_i, seen)
            rows.append(f)
        return rows

    # ---------- REV rows ----------
    def gen_rev_rows(self, g, day, created_i, enc, n=None, filler=0.0):
        rng = self.rng
        if n is None:
            n = rng.randint(1, 12)
        kinds = ["good"] * 40 + ["reopen"] * 12 + ["wrong_amount"] * 10 + ["unknown"] * 8 + ["again"] * 10 + \
            ["repeat"] * 8 + ["bad"] * 8 + ["shape"] * 2
        rows = []
        at = fmt_dt(dt.datetime.combine(day, dt.time(12, 0), TZ5))
        for _ in range(n):
            if filler and rng.random() < filler:
                f = [self.new_pid(), at, "1.00", "x"]                          # no such payment: 4
                g.rev_one(f, created_i)
                rows.append(f)
                continue
            kind = rng.choice(kinds)
            paid = sorted(pid for pid, p in g.pay.items() if p.state == "PAID")
            rev = sorted(pid for pid, p in g.pay.items() if p.state == "REVERSED")
            at = fmt_dt(min(created_i, dt.datetime.combine(day, dt.time(rng.randint(8, 23), rng.randint(0, 59), rng.randint(0, 59)), TZ5)))
            if kind == "reopen":
                c = [x for x in paid if g.is_paid(g.pay[x].inv)]
                kind = "good" if not c else kind
                paid = c or paid
            pid, amount = None, rng.randint(1, 100000)
            if kind in ("good", "reopen", "wrong_amount", "bad", "shape") and paid:
                pid = rng.choice(paid[-8:] if rng.random() < 0.5 else paid)
                amount = g.pay[pid].amount
                if kind == "wrong_amount":
                    amount = max(1, amount + rng.choice([1, -1, 100, -100, 10000]))
                    if amount == g.pay[pid].amount:
                        amount += 1
            elif kind == "again" and rev:
                pid = rng.choice(rev)
                amount = g.pay[pid].amount if rng.random() < 0.7 else amount
            elif kind == "repeat" and rows:
                f = list(rng.choice(rows))
                if len(f) == 4 and rng.random() < 0.5 and f[0] in g.pay:
                    f[2] = lib.fmt_amount(g.pay[f[0]].amount)
                g.rev_one(f, created_i)
                rows.append(f)
                continue
            if pid is None:
                r = rng.random()
                pid = (rng.choice(sorted(g.unapplied)) if g.unapplied and r < 0.4 else
                       "ABC-1" if r < 0.45 else self.new_pid())
            f = [pid, at, self.amount_text(amount), self.text(REASONS, enc)]
            if kind == "bad":
                col = rng.randint(0, 3)
                f[col] = rng.choice({0: [""], 1: ["", at.replace(" ", "T"), fmt_dt(created_i + dt.timedelta(seconds=rng.randint(1, 5000)))],
                                     2: ["", "1.5", "abc", "-1.00", "0.00"], 3: ["", "Ж" * 201]}[col])
            elif kind == "shape":
                f = f[:rng.randint(1, 3)] if rng.random() < 0.6 else f + ["extra"]
            was_paid = f[0] in g.pay and g.is_paid(g.pay[f[0]].inv)
            st = g.rev_one(f, created_i)
            if st[0] == 1 and was_paid:
                self.reopened.add(g.pay[f[0]].inv)
            rows.append(f)
        return rows

    # ---------- REC rows ----------
    def gen_rec_rows(self, g, day, created_i):
        rng = self.rng
        base = [p for p in g.pay.values() if p.day == day]
        rows = []
        for p in base:
            state = "REVERSED" if p.state == "REVERSED" and p.rev_at <= created_i else "PAID"
            f = [p.pid, p.paid_at, p.inv, self.amount_text(p.amount), state]
            r = rng.random()
            if r < 0.08:
                continue                                    # dropped: 306
            elif r < 0.11:
                f[3] = lib.fmt_amount(p.amount + rng.choice([1, 100, -1 if p.amount > 1 else 2]))
            elif r < 0.13:
                f[2] = rng.choice(sorted(g.inv))
            elif r < 0.15:
                t = parse_dt(p.paid_at)
                f[1] = fmt_dt(dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)), TZ5)
                              if rng.random() < 0.5 else t.replace(second=(t.second + 1) % 60))
            elif r < 0.19:
                f[4] = "PAID" if f[4] == "REVERSED" else "REVERSED"
            elif r < 0.22:
                d = day + dt.timedelta(days=rng.choice([-1, 1]))
                f[1] = d.strftime("%Y-%m-%d") + f[1][10:]           # not on business_date: 202
            elif r < 0.25:
                col = rng.randint(0, 4)
                f[col] = rng.choice({0: ["", "12345"], 1: ["", f[1].replace(" ", "T")], 2: ["", f[2][:19]],
                                     3: ["", "0.00", "5.5"], 4: ["", "PENDING", "paid"]}[col])
            elif r < 0.26:
                f = f[:4]
            rows.append(f)
        # payments MUNIS credited that the receiver never applied, and ids it never saw: 4
        for _ in range(rng.choice([0, 0, 1, 2])):
            if g.unapplied and rng.random() < 0.5:
                u = g.unapplied[rng.choice(sorted(g.unapplied))]
                a = parse_amt(u[6])
                f = [u[0], fmt_dt(dt.datetime.combine(day, dt.time(12, 0), TZ5)), u[2], lib.fmt_amount(a) if a else "1.00", "PAID"]
            else:
                no = rng.choice(sorted(g.inv))
                f = [self.new_pid(), fmt_dt(dt.datetime.combine(day, dt.time(rng.randint(0, 23), 30), TZ5)), no,
                     lib.fmt_amount(rng.randint(1, 10 ** 7)), rng.choice(["PAID", "PAID", "REVERSED"])]
            rows.insert(rng.randint(0, len(rows)), f)
        # a payment of another day listed under this one: 305 (paid_at differs)
        other = [p for p in g.pay.values() if p.day != day]
        if other and rng.random() < 0.1:
            p = rng.choice(other)
            rows.append([p.pid, fmt_dt(dt.datetime.combine(day, dt.time(11, 11, 11), TZ5)), p.inv, lib.fmt_amount(p.amount), p.state])
        # repeated ids: 301
        for _ in range(rng.choice([0, 0, 1, 2])):
            if rows:
                f = list(rng.choice(rows))
                if len(f) == 5 and rng.random() < 0.4:
                    f[3] = lib.fmt_amount(rng.randint(1, 10 ** 6))
                rows.insert(rng.randint(0, len(rows)), f)
        if rng.random() < 0.7:
            rng.shuffle(rows)
        if rng.random() < 0.05:
            rows.insert(rng.randint(0, len(rows)), [""])
        return rows

    # ---------- billing export ----------
    def gen_export(self, g):
        rng = self.rng
        out = {}
        for no, e in g.inv.items():
            if rng.random() < 0.12:
                continue                                   # left out: stays (README)
            e = dict(e)
            paid = g.paid.get(no, 0)
            r = rng.random()
            if paid > 0 and r < 0.15:
                e["due"] = max(1, paid - rng.choice([0, 1, rng.randint(0, paid)]))       # lowered to or below what is paid
            elif r < 0.27:
                e["due"] = paid + rng.choice([1, rng.randint(1, 10000000)])           # raised above what is paid
            elif paid > 0 and r < 0.35 and e["status"] == "OPEN":
                e["status"] = "CANCELLED"                                            # cancelled after a partial payment
            elif e["status"] == "CANCELLED" and r < 0.45:
                e["status"] = "OPEN"
            elif r < 0.52:
                pt, payer, name = rng.choice(self.payers) if rng.random() < 0.7 else self.new_payer()
                e.update(pt=pt, payer=payer, name=name)                              # payer changed
            elif r < 0.55:
                e["name"] = rng.choice(NAMES)                                        # only the name
            out[no] = e
        for _ in range(rng.choice([0, 0, 1, 2, 4])):
            if self.unknown_invs and rng.random() < 0.5:
                no = self.unknown_invs.pop(rng.randrange(len(self.unknown_invs)))
            else:
                no = self.new_inv_no()
            if no in g.inv:
                continue
            pt, payer, name = rng.choice(self.payers)
            out[no] = dict(pt=pt, payer=payer, name=name, due=self.rand_due(), status="OPEN",
                           court="1703002", case="2-1/2026", issued=fmt_dt(dt.datetime.combine(self.day, dt.time(9, 0), TZ5)))
        return out

    def export(self, invs):
        lines = [EXPORT_HDR]
        items = list(invs.items())
        self.rng.shuffle(items)
        for no, e in items:
            lines.append(";".join(csv_field(x) for x in [no, e["court"], e["case"], e["pt"], e["payer"], e["name"],
                                                          lib.fmt_amount(e["due"]), e["issued"], e["status"]]))
        data = ("\r\n".join(lines) + "\r\n").encode()
        path = self.keep("invoices.csv", data)
        self.cli(["invoices", "import", path])
        self.model.load_export(invs)
        self.log(f"invoices import {os.path.basename(path)} ({len(invs)} invoices)")
        self.last_export = path

    # ---------- dropping archives and checking every answer ----------
    def predict(self, it):
        m = self.model
        if it["sha"] in self.acked_bytes:
            return ("raw", self.acked_bytes[it["sha"]])
        if it["bid"] in self.acked:
            return ("nak", "B09")
        if it["declared"] != len(it["rows"]):
            return ("nak", "B08")
        if it["typ"] == "PAY":
            alts = m.pay_batch(it["rows"], it["created_i"])
        elif it["typ"] == "REV":
            alts = m.rev_batch(it["rows"], it["created_i"])
        else:
            alts = m.rec_batch(it["rows"], it["created_i"], it["day"])
        return ("ack", alts)

    def deliver(self, items, what):
        rx = self.rx
        inbox, outbox = rx + "/inbox", rx + "/outbox"
        for f in os.listdir(outbox):
            os.remove(os.path.join(outbox, f))
        for it in items:
            kept = self.keep(it["name"], it["data"])
            self.log(f"{what}: drop {it['name']} sha256 {it['sha'][:16]} (kept as {os.path.basename(kept)})")
            path = os.path.join(inbox, it["name"])
            with open(path + ".part", "wb") as f:
                f.write(it["data"])
            os.rename(path + ".part", path)
            os.utime(path, (time.time() - 10, time.time() - 10))
        self.log("reestr run")
        p = self.cli(["run"], check=False)
        diffs = []
        if p.returncode != 0:
            diffs.append(f"run exit {p.returncode}: {p.stdout.decode(errors='replace')[-400:]} {p.stderr.decode(errors='replace')[-400:]}")
        left = [f for f in os.listdir(inbox)]
        if left:
            diffs.append(f"left in the inbox: {left}")
        got = {f: open(os.path.join(outbox, f), "rb").read() for f in os.listdir(outbox)}
        wanted = set()
        ids = sorted(it["bid"] for it in items)
        if sorted(ids, key=bid_key) != sorted(ids, key=lambda b: (b.split("_")[3], TYPE_ORDER[b.split("_")[2]], b)):
            self.stats["tag group: SEQ of another width (number order is not text order)"] += 1
        if len({it["day"] for it in items}) > 1:
            self.stats["tag group: batches of two business days"] += 1
        for it in sorted(items, key=lambda x: bid_key(x["bid"])):
            pred = self.predict(it)
            self.stats["batches"] += 1
            res = "NAK" if pred[0] == "nak" else "ACK"
            rn = resp_name(it["bid"], res)
            wanted.add(rn)
            if rn not in got:
                diffs.append(f"[{it['bid']}] no response {rn}; outbox holds {sorted(got)}")
                for other in got:
                    if other.startswith(rn[:-7]):
                        r = lib.parse_response(other, got[other])
                        diffs.append(f"[{it['bid']}] got {other}: {r['ctl'].get('error', '')} {r['ctl'].get('message', '')!r}")
                        if pred[0] == "ack" and "result_raw" not in r:
                            pass
                raise Diff("\n".join(diffs))
            raw = got[rn]
            if pred[0] == "raw":
                self.stats["redelivered"] += 1
                if raw != pred[1]:
                    diffs.append(f"[{it['bid']}] re-delivery of an ACKed archive: response differs from the first one "
                                 f"(sha {hashlib.sha256(raw).hexdigest()[:16]} != {hashlib.sha256(pred[1]).hexdigest()[:16]})")
                continue
            r = dict(stdout=p.stdout.decode(errors="replace"), stderr=p.stderr.decode(errors="replace"), rc=p.returncode)
            r.update(lib.parse_response(rn, raw))
            if pred[0] == "nak":
                self.stats["nak " + pred[1]] += 1
                d = lib.check_response(r, it["name"], it["data"], dict(result="NAK", code=pred[1], created_at=it["created"]))
                if d:
                    diffs += [f"[{it['bid']}] {x}" for x in d]
            else:
                alts = pred[1]
                results = []
                for rows, amt, reading in alts:
                    d = lib.check_response(r, it["name"], it["data"], dict(result="ACK", rows=rows, enc=it["enc"],
                                                                           created_at=it["created"], amount_accepted=lib.fmt_amount(amt)))
                    results.append((d, rows, reading))
                    if not d:
                        break
                ok = [x for x in results if not x[0]]
                if ok:
                    rows, reading = ok[0][1], ok[0][2]
                    if len(alts) > 1:
                        self.stats["reading " + reading] += 1
                        self.notes.append(f"step {self.step} {it['bid']}: open point, the engine took: {reading}")
                    self.stats["rows"] += len(rows)
                    for row in rows:
                        self.stats[f"{it['typ']} {row[2]}"] += 1
                else:
                    d, rows, _ = results[0]
                    diffs += [f"[{it['bid']}] {x}" for x in d]
                    diffs += self.row_detail(it, rows, r)
                    if len(alts) > 1:
                        diffs.append(f"[{it['bid']}] (the other reading, {results[1][2]}, differs too: {results[1][0][:1]})")
                    raise Diff("\n".join(diffs))
                self.acked_bytes[it["sha"]] = raw
                self.acked[it["bid"]] = it
            if it["sha"] not in self.first_resp:
                self.first_resp[it["sha"]] = (it, raw)
            if diffs:
                raise Diff("\n".join(diffs))
        extra = set(got) - wanted
        if extra:
            diffs.append(f"unexpected responses in the outbox: {sorted(extra)}")
        if diffs:
            raise Diff("\n".join(diffs))

    def row_detail(self, it, rows, r):
        """The rows that differ, with the registry row each answers."""
        out = []
        try:
            got = [[fb.decode(PYENC[it["enc"]]) for fb, _ in row] for row in lib.split_csv_raw(r["result_raw"])[0][1:]]
        except Exception as e:  # noqa: BLE001
            return [f"  (result.csv unreadable: {e})"]
        n = max(len(got), len(rows))
        shown = 0
        for i in range(n):
            w = rows[i] if i < len(rows) else None
            g = tuple(got[i][:4]) if i < len(got) else None
            if w != g and shown < 8:
                shown += 1
                src = ""
                line = (w or g)[0]
                if line and line.isdigit() and int(line) <= len(it["rows"]):
                    src = " registry row: " + ";".join(csv_field(x) for x in it["rows"][int(line) - 1])
                msg = got[i][4] if i < len(got) and len(got[i]) > 4 else ""
                out.append(f"  row {i + 1}: want {w} got {g} msg={msg!r}{src[:400]}")
        return out

    # ---------- audit and replay ----------
    def audit(self, where):
        self.log(f"audit verify ({where})")
        for extra in ([], ["--rebuild"]):
            p = self.cli(["audit", "verify"] + extra, check=False)
            self.stats["audits"] += 1
            if p.returncode != 0:
                raise Diff(f"audit verify {' '.join(extra)} ({where}) exit {p.returncode}: "
                           f"{p.stdout.decode(errors='replace')[-800:]} {p.stderr.decode(errors='replace')[-400:]}")
        shas = sorted(self.first_resp)
        for sha in self.rng.sample(shas, min(len(shas), 3)):
            it, raw = self.first_resp[sha]
            src = os.path.join(self.rx, "replay-in")
            out = os.path.join(self.rx, "replay-out", f"{self.step}-{sha[:12]}")
            os.makedirs(src, exist_ok=True)
            os.makedirs(out)
            path = os.path.join(src, it["name"])
            with open(path, "wb") as f:
                f.write(it["data"])
            self.log(f"replay {it['name']} sha256 {sha[:16]}")
            p = self.cli(["replay", path, "--out", out], check=False)
            self.stats["replays"] += 1
            files = os.listdir(out)
            if p.returncode != 0 or len(files) != 1 or open(os.path.join(out, files[0]), "rb").read() != raw:
                raise Diff(f"replay of {it['name']} ({where}) exit {p.returncode}, wrote {files}: "
                           f"{p.stdout.decode(errors='replace')[-600:]} {p.stderr.decode(errors='replace')[-400:]}")

    # ---------- steps ----------
    def gen_batch(self, g, typ, day, rec_created=None, big=False):
        enc = self.enc()
        if typ == "REC":
            ci = rec_created or self.created_for(day, hour=3)
            rows = self.gen_rec_rows(g, day, ci)
        else:
            ci = self.created_for(day)
            kw = dict(n=self.rng.randint(50000, 51000), filler=0.997) if big else {}
            rows = (self.gen_pay_rows if typ == "PAY" else self.gen_rev_rows)(g, day, ci, enc, **kw)
        created_s = rfc3339(ci, self.rng)
        return self.item(typ, day, rows, created_s, enc)

    def rec_day(self):
        rng = self.rng
        days = (self.day - self.first_day).days
        back = 0 if rng.random() < 0.6 else rng.randint(0, min(days, 6))
        d = self.day - dt.timedelta(days=back)
        if back and rng.random() < 0.5:
            return d, self.created_for(self.day, hour=3)       # a statement made now of an earlier day
        return d, self.created_for(d, hour=3)                  # the day's statement (late when back > 0)

    def redeliverable(self):
        # mostly ACKed archives (the stored ACK again), sometimes bytes answered NAK (judged afresh)
        if self.rng.random() < 0.85 or len(self.first_resp) == len(self.acked_bytes):
            return sorted(self.acked_bytes)
        return sorted(self.first_resp)

    def b09_item(self):
        bid = self.rng.choice(sorted(self.acked))
        it = self.acked[bid]
        rows = list(it["rows"])
        ci = it["created_i"] + dt.timedelta(seconds=self.rng.randint(1, 600))
        if self.rng.random() < 0.5 and it["typ"] != "REC":
            rows = rows[:-1] if len(rows) > 1 else rows
        return self.item(it["typ"], it["day"], rows, rfc3339(ci, self.rng), it["enc"], bid=bid)

    def step_once(self):
        rng = self.rng
        if rng.random() < 0.3:
            self.day += dt.timedelta(days=rng.choice([1, 1, 1, 2, 3]))
        g = copy.deepcopy(self.model)
        if ARGS.big and rng.random() < ARGS.big:
            # a batch of 50,000 rows or more (the engine's other path: every invoice read at once),
            # a few hundred of them meaningful among rows of unknown invoices and payments
            self.stats["big batches"] += 1
            self.deliver([self.gen_batch(g, rng.choice(["PAY", "PAY", "REV"]), self.day, big=True)], "big batch")
            return
        r = rng.random()
        if r < 0.34:
            self.deliver([self.gen_batch(g, "PAY", self.day)], "PAY")
        elif r < 0.48:
            self.deliver([self.gen_batch(g, "REV", self.day)], "REV")
        elif r < 0.60:
            d, ci = self.rec_day()
            self.deliver([self.gen_batch(g, "REC", d, ci)], "REC")
        elif r < 0.68:
            if rng.random() < 0.15:
                self.log("the same export again")
                self.cli(["invoices", "import", self.last_export])
            else:
                self.export(self.gen_export(g))
        elif r < 0.82:
            self.group(g)
        elif r < 0.88 and self.acked_bytes:
            sha = rng.choice(self.redeliverable())
            it = dict(self.first_resp[sha][0])
            self.deliver([it], "re-delivery")
        elif r < 0.92 and self.acked:
            self.deliver([self.b09_item()], "other bytes under a processed batch id")
        elif r < 0.97:
            typ = rng.choice(["PAY", "PAY", "REV"])
            it = self.gen_batch(g, typ, self.day)
            bad = self.item(typ, it["day"], it["rows"], it["created"], it["enc"], bid=it["bid"], bad_rows=True, layout=it["layout"])
            self.deliver([bad], "B08 first")
            if rng.random() < 0.6:
                self.deliver([it], "corrected")
            else:
                self.pending_fix.append(it)
        else:
            self.deliver([self.gen_batch(g, "PAY", self.day)], "PAY")

    def group(self, g):
        rng = self.rng
        n = rng.randint(2, 5)
        opts = ["PAY", "PAY", "PAY", "REV", "REV", "REC", "PAY+1", "REV+1", "REC+1", "resend", "b09", "b08", "fix"]
        items, names = [], set()
        for _ in range(n):
            o = rng.choice(opts)
            it = None
            if o in ("PAY", "REV", "REC", "PAY+1", "REV+1", "REC+1"):
                d = self.day + dt.timedelta(days=1 if o.endswith("+1") else 0)
                it = self.gen_batch(g, o[:3], d)
            elif o == "resend" and self.acked_bytes:
                it = dict(self.first_resp[rng.choice(self.redeliverable())][0])
            elif o == "b09" and self.acked:
                it = self.b09_item()
            elif o == "b08":
                typ = rng.choice(["PAY", "REV"])
                ok = self.gen_batch(g, typ, self.day)
                it = self.item(typ, ok["day"], ok["rows"], ok["created"], ok["enc"], bid=ok["bid"], bad_rows=True, layout=ok["layout"])
                self.pending_fix.append(ok)
            elif o == "fix" and self.pending_fix:
                it = self.pending_fix.pop(0)
            if it and it["name"] not in names:
                names.add(it["name"])
                items.append(it)
        if any(x["day"] > self.day for x in items):
            self.day += dt.timedelta(days=1)
        if items:
            self.stats["groups"] += 1
            self.deliver(items, f"{len(items)} batches together")

    def run(self):
        self.setup()
        rng = self.rng
        nsteps = rng.randint(ARGS.min_steps, ARGS.max_steps)
        mid = rng.randint(1, nsteps - 1) if rng.random() < 0.35 else None
        for self.step in range(1, nsteps + 1):
            try:
                self.step_once()
                if self.step == mid:
                    self.audit("mid-case")
            except Diff as e:
                raise Diff(f"step {self.step}: {e}")
        self.step = nsteps + 1
        for it in self.pending_fix:
            self.deliver([it], "corrected at the end")
        try:
            self.audit("end")
        except Diff as e:
            raise Diff(f"end: {e}")
        self.stats.update({"tag " + k: v for k, v in self.model.tags.items()})
        return nsteps, (self.day - self.first_day).days + 1


def run_case(idx):
    seed = ARGS.seed
    t = time.time()
    c = Case(seed, idx)
    try:
        nsteps, ndays = c.run()
        diffs = []
    except Diff as e:
        diffs = [str(e)]
        nsteps = ndays = None
    except Exception:
        diffs = ["EXCEPTION " + traceback.format_exc()[-2000:]]
        nsteps = ndays = None
    if not diffs:
        shutil.rmtree(c.rx, ignore_errors=True)
    return idx, diffs, c.notes, c.stats, nsteps, ndays, time.time() - t, c.rx


def main():
    seed = ARGS.seed
    idxs = [ARGS.case] if ARGS.case is not None else list(range(ARGS.cases))
    jobs = max(1, ARGS.jobs)
    print(f"history: {len(idxs)} cases, seed {seed}, against {lib.BIN} (scratch {lib.SCRATCH}"
          f"{f', {jobs} at a time' if jobs > 1 else ''})", flush=True)
    t0 = time.time()
    if jobs > 1 and len(idxs) > 1:
        import multiprocessing
        pool = multiprocessing.get_context("fork").Pool(jobs)
        results = pool.imap(run_case, idxs)
    else:
        pool = None
        results = map(run_case, idxs)
    ok = 0
    total = Counter()
    for idx, diffs, notes, stats, nsteps, ndays, secs, rx in results:
        ok += not diffs
        total.update(stats)
        if diffs:
            print(f"DIFF case {idx} (seed {seed}) ({secs:.1f}s): reproduce with --seed {seed} --case {idx}; receiver kept in {rx}", flush=True)
            for d in diffs:
                for line in d.split("\n"):
                    print("     - " + line[:1500], flush=True)
        else:
            print(f"OK   case {idx} (seed {seed}) ({secs:.1f}s): {nsteps} steps over {ndays} days, {stats['batches']} batches, "
                  f"{stats['rows']} rows, {stats['groups']} dropped together, {stats['redelivered']} re-delivered, "
                  f"{stats['nak B08'] + stats['nak B09']} NAK, {stats['replays']} replays", flush=True)
        for n in notes[:2]:
            print("     " + n, flush=True)
    if pool is not None:
        pool.close()
        pool.join()
    st = " ".join(f"{k.split()[0]}:{k.split()[1]}={v}" for k, v in sorted(total.items(), key=lambda kv: (kv[0].split()[0], len(kv[0]), kv[0]))
                  if k.split()[0] in ("PAY", "REV", "REC"))
    print(f"   row statuses: {st}", flush=True)
    print(f"   batches {total['batches']}, rows {total['rows']}, groups {total['groups']}, re-deliveries {total['redelivered']}, "
          f"NAK B08 {total['nak B08']}, NAK B09 {total['nak B09']}, audits {total['audits']}, replays {total['replays']}", flush=True)
    tags = sorted((k[4:], v) for k, v in total.items() if k.startswith("tag "))
    print("   situations met: " + "; ".join(f"{k} {v}" for k, v in tags), flush=True)
    for topic in sorted(set(TOPIC.values())):
        taken = [(label, total["reading " + label]) for label, t in TOPIC.items() if t == topic]
        if any(n for _, n in taken):
            print(f"   open point, {topic}: batches where the readings differ: {sum(n for _, n in taken)}; the engine took "
                  + ", ".join(f"'{label}' {n} times" for label, n in taken), flush=True)
    failed = len(idxs) - ok
    print(f"== history: {ok}/{len(idxs)} cases OK ({time.time() - t0:.0f} s)", flush=True)
    if failed or os.environ.get("KEEP"):
        print(f"scratch folder kept: {lib.SCRATCH}", flush=True)
    else:
        shutil.rmtree(lib.SCRATCH, ignore_errors=True)
    sys.exit(1 if failed or not idxs else 0)


if __name__ == "__main__":
    main()
