#!/usr/bin/env python3
"""Randomized differential test of the records layer against an independent oracle.

The oracle below is written from the exchange agreement (AGREEMENT.md, munis-offline/1) alone,
plus the README's "Decisions where the agreement is silent" where the agreement leaves a point
open (each such place is marked DECISION). It never reads the engine's code or store.

Each case makes a fresh receiver (with the partner key; now and then without one, or allowed PAY
and REV only) with a random invoice set (loaded with `invoices import`), then sends one to four
inbound archives (PAY, or PAY then REV, REC, another PAY, a later export between them), one
`run` each or all waiting together (§7.2's order: business date, type, sequence number, with
sequence numbers of 3 to 6 digits). Every archive is a well-formed safe zip, but its
control.txt and registry.csv are generated at random and mutated near the agreement's edges
(line ends, blank lines, keys, created_at forms, rows and amount_total forms, encodings and
invalid bytes, the CSV dialect, metacharacters spliced in at random, header variants, field
counts, every field rule of §5 with values drawn across their parts, the business rules of §7.2,
the totals of §6, a physical line of 64 KiB and one byte more); a few carry a manifest or HMAC
near §6's edges. Some cases hold a registry of 8,000-20,000 rows (1%) or a field fuzz of
100-300 rows (8%). After an answer the same batch id may come again: corrected after a NAK
(judged afresh), the same bytes after an ACK (the stored ACK, byte for byte, also after later
batches), other bytes after an ACK (B09). For every archive the oracle predicts the whole
answer:

- NAK and its code (B06, B07, B08), or ACK with every result.csv row (line, payment_id,
  status, field);
- the response control.txt, every key and value (created_at copied or the fallback of §8,
  encoding, rows, accepted, amount_accepted), LF line ends; a NAK message of one line;
- result.csv byte for byte apart from the message column (header, CRLF, minimal quoting, the
  inbound registry's encoding, no BOM), with a message of one line;
- entry order, deflate, entry times (created_at's local time, seconds rounded down to even),
  manifest and HMAC of the response.

The store model (invoices, payments, balances) is carried from batch to batch within a case
from the oracle's own predictions; after the first disagreement of a case its later batches
are not judged.

    REESTR_BIN=target/release/reestr python3 conformance/oracle.py [--cases N] [--seed S] [--jobs J] [-v]

Deterministic from the seed. Prints one line per disagreement (seed, case, batch, what
differs, the mutations of that batch), then a one-line summary; exits 1 if any case disagrees.
Archives of disagreeing batches are kept under the scratch folder (printed).
"""
import argparse, hashlib, hmac, io, os, random, re, shutil, subprocess, sys, time, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
_ap.add_argument("--cases", type=int, default=300)
_ap.add_argument("--seed", type=int, default=1)
_ap.add_argument("--first", type=int, default=0, help="number of the first case (to re-run one)")
_ap.add_argument("--jobs", type=int, default=int(os.environ.get("CONFORMANCE_JOBS", "1") or "1"))
_ap.add_argument("-v", "--verbose", action="store_true")
_ap.add_argument("--big", type=float, default=0.01, help="share of cases with a batch of 8,000-20,000 rows")
ARGS = _ap.parse_args()

import lib  # noqa: E402  (plumbing only: the binary, the key, the scratch folder, zip writing)

BIN, KEY, KEY_HEX, SCRATCH = lib.BIN, lib.KEY, lib.KEY_HEX, lib.SCRATCH
OWN, SND = "SUDBILLING", "MUNIS"
PYENC = {"utf-8": "utf-8", "windows-1251": "cp1251", "cp866": "cp866"}
FIELDS = {
    "PAY": ["payment_id", "paid_at", "invoice_no", "payer_type", "payer_id", "payer_name", "amount",
            "currency", "bank_mfo", "account", "purpose"],
    "REV": ["payment_id", "reversed_at", "amount", "reason"],
    "REC": ["payment_id", "paid_at", "invoice_no", "amount", "state"],
}
CTL_KEYS = ["format", "batch_id", "type", "sender", "receiver", "business_date", "created_at",
            "encoding", "rows", "amount_total"]


class Nak(Exception):
    def __init__(self, code, why):
        super().__init__(why)
        self.code, self.why = code, why


# =====================================================================================
# The oracle: pure functions of the agreement
# =====================================================================================
def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def mdays(y, m):
    return [31, 29 if is_leap(y) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]


def valid_date(y, m, d):
    # DECISION (README): year 0000 is no calendar year.
    return 1 <= y and 1 <= m <= 12 and 1 <= d <= mdays(y, m)


def days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def epoch(y, mo, d, h, mi, s, off_min):
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off_min * 60


RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})")


def parse_created(v):
    """§4: RFC 3339 with an offset or Z. Returns the instant's whole seconds (floor), or None."""
    m = RFC3339.fullmatch(v)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    if not valid_date(y, mo, d) or h > 23 or mi > 59 or s > 59:  # DECISION (README): second 60 is B06
        return None
    o = m.group(8)
    if o in ("Z", "z"):
        off = 0
    else:
        oh, om = int(o[1:3]), int(o[4:6])
        if oh > 23 or om > 59:
            return None
        off = (oh * 60 + om) * (1 if o[0] == "+" else -1)
    return epoch(y, mo, d, h, mi, s, off)  # a fraction only moves the instant later within the second


DT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def parse_dt(v):
    """§5 datetime, Tashkent time: epoch seconds or None."""
    m = DT.fullmatch(v)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups())
    if not valid_date(y, mo, d) or h > 23 or mi > 59 or s > 59:
        return None
    return epoch(y, mo, d, h, mi, s, 300)


AMOUNT = re.compile(r"[0-9]{1,13}\.[0-9]{2}")


def amount_tiyin(v):
    if not AMOUNT.fullmatch(v):
        return None
    a, b = v.split(".")
    return int(a) * 100 + int(b)


def fmt_amount(t):
    return "%d.%02d" % (t // 100, t % 100)


def pinfl_ok(v):
    if not re.fullmatch(r"[0-9]{14}", v):
        return False
    c = int(v[0])
    if not 1 <= c <= 6:
        return False
    century = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}[c]
    dd, mm, yy = int(v[1:3]), int(v[3:5]), int(v[5:7])
    if not valid_date(century + yy, mm, dd):
        return False
    w = [7, 3, 1] * 5
    return sum(int(v[i]) * w[i] for i in range(13)) % 10 == int(v[13])


def tin_ok(v):
    return re.fullmatch(r"[23][0-9]{8}", v) is not None


def account_ok(mfo, a):
    if not re.fullmatch(r"[0-9]{20}", a):
        return False
    s = mfo + a[0:8] + a[9:20] + "9"
    t = sum(int(s[i]) * int(s[i + 1]) for i in range(24))
    r = t % 11
    k = 9 if r == 0 else (0 if r == 1 else 11 - r)
    return int(a[8]) == k


def nchars(v):
    return len(v)  # characters (code points) of the decoded text, not bytes


def split_lines(raw):
    """Lines of control.txt: each ends at LF, a CR just before that LF is part of the line end;
    a CR that no LF follows stays in its line (§4: "LF or CRLF"), at the end of the file too."""
    parts = raw.split(b"\n")
    last = parts.pop()
    lines = [l[:-1] if l.endswith(b"\r") else l for l in parts]
    if last != b"":
        lines.append(last)
    return lines


def parse_control(raw, bid):
    """§4 control.txt. Returns (dict, copy_created_at or None); raises Nak('B06') when malformed.
    copy_created_at follows §8: exactly one created_at line with a valid value (judged even when
    the rest of the file is malformed)."""
    # DECISION (README): lines end at LF (a CR before it is dropped); a CR no LF follows stays in
    # its line; a blank line is an empty line; a last line without its end is still a line.
    lines = split_lines(raw)
    ca_lines = [l for l in lines if l.startswith(b"created_at=")]
    copy = None
    if len(ca_lines) == 1:
        v = ca_lines[0][len("created_at="):]
        try:
            vs = v.decode("ascii")
            if parse_created(vs) is not None:
                copy = vs
        except UnicodeDecodeError:
            pass
    try:
        text_lines = [l.decode("ascii") for l in lines]
    except UnicodeDecodeError:
        raise Nak("B06", "control.txt not ASCII") from None
    kv = {}
    for l in text_lines:
        if l == "":
            continue
        if "=" not in l:
            raise Nak("B06", f"line without = {l!r}")
        k, v = l.split("=", 1)
        if k not in CTL_KEYS:
            raise Nak("B06", f"unknown key {k!r}")
        if k in kv:
            raise Nak("B06", f"duplicate key {k!r}")
        kv[k] = v
    for k in CTL_KEYS:
        if k not in kv:
            raise Nak("B06", f"missing key {k}")
    p = bid.split("_")
    want = {"format": "munis-offline/1", "batch_id": bid, "type": p[2], "sender": p[0], "receiver": p[1],
            "business_date": f"{p[3][:4]}-{p[3][4:6]}-{p[3][6:]}"}
    for k, w in want.items():
        if kv[k] != w:
            raise Nak("B06", f"{k}={kv[k]!r} != {w!r}")
    if parse_created(kv["created_at"]) is None:
        raise Nak("B06", f"created_at {kv['created_at']!r}")
    if kv["encoding"] not in PYENC:
        raise Nak("B06", f"encoding {kv['encoding']!r}")
    # DECISION (README): rows and amount_total of any width are well-formed.
    if not re.fullmatch(r"[0-9]+", kv["rows"]):
        raise Nak("B06", f"rows {kv['rows']!r}")
    if not re.fullmatch(r"[0-9]+\.[0-9]{2}", kv["amount_total"]):
        raise Nak("B06", f"amount_total {kv['amount_total']!r}")
    return kv, copy


def parse_csv(text):
    """§5 dialect on decoded text: list of rows (lists of fields); raises Nak('B07')."""
    rows, fields, i, n = [], [], 0, len(text)
    if n == 0:
        return rows
    while True:
        if i < n and text[i] == '"':
            i += 1
            buf = []
            while True:
                j = text.find('"', i)
                if j < 0:
                    raise Nak("B07", "quoted field open at the end of the file")
                buf.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    buf.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            fields.append("".join(buf))
            if i == n:
                rows.append(fields)
                return rows
            if text[i] == ";":
                i += 1
                continue
            if text[i] == "\n":
                i += 1
            elif text.startswith("\r\n", i):
                i += 2
            else:
                raise Nak("B07", "text after a closing quote")
            rows.append(fields)
            fields = []
            if i == n:
                return rows
            continue
        j = i
        while j < n:
            c = text[j]
            if c == ";" or c == "\n" or (c == "\r" and j + 1 < n and text[j + 1] == "\n"):
                break
            j += 1
        fields.append(text[i:j])
        if j == n:
            rows.append(fields)
            return rows
        if text[j] == ";":
            i = j + 1
            continue
        i = j + (2 if text[j] == "\r" else 1)
        rows.append(fields)
        fields = []
        if i == n:
            return rows


def decode_registry(raw, enc):
    if enc == "utf-8":
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
    try:
        return raw.decode(PYENC[enc])  # cp1251 0x98 undefined (README DECISION, Python agrees)
    except UnicodeDecodeError as e:
        raise Nak("B07", f"bytes invalid in {enc} at {e.start}") from None


def check_field(typ, name, v, row, created_s, bdate):
    """True when the non-empty value v passes its field's rule (§5.1-§5.4)."""
    if name == "payment_id":
        if typ == "REV":
            return True  # DECISION (README): a REV payment_id has no format of its own
        return re.fullmatch(r"[0-9]{12,20}", v) is not None
    if name in ("paid_at", "reversed_at"):
        t = parse_dt(v)
        if t is None:
            return False
        if typ == "REC":
            return v[:10] == bdate
        return t <= created_s
    if name == "invoice_no":
        return re.fullmatch(r"[0-9]{20}", v) is not None
    if name == "payer_type":
        return v in ("P", "J")
    if name == "payer_id":
        pt = row[FIELDS[typ].index("payer_type")]
        return pinfl_ok(v) if pt == "P" else tin_ok(v)
    if name == "payer_name":
        return 1 <= nchars(v) <= 200
    if name == "amount":
        t = amount_tiyin(v)
        if t is None:
            return False
        return typ == "REV" or t > 0
    if name == "currency":
        return v == "860"
    if name == "bank_mfo":
        return re.fullmatch(r"[0-9]{5}", v) is not None
    if name == "account":
        return account_ok(row[FIELDS[typ].index("bank_mfo")], v)
    if name == "purpose":
        return nchars(v) <= 500
    if name == "reason":
        return 1 <= nchars(v) <= 200
    if name == "state":
        return v in ("PAID", "REVERSED")
    raise KeyError(name)


REQUIRED = {"account": False, "purpose": False}


class Store:
    def __init__(self, invoices):
        self.inv = {no: dict(d) for no, d in invoices.items()}  # no -> pt, pid, due, status, paid
        self.pay = {}  # payment_id -> dict(paid_at, invoice, amount, state)

    def copy(self):
        s = Store({})
        s.inv = {k: dict(v) for k, v in self.inv.items()}
        s.pay = {k: dict(v) for k, v in self.pay.items()}
        return s


def oracle(store, bid, control, reg):
    """The whole expected answer of one batch. Returns (expect, new_store)."""
    p = bid.split("_")
    typ = p[2]
    bdate = f"{p[3][:4]}-{p[3][4:6]}-{p[3][6:]}"
    fallback = bdate + "T00:00:00+05:00"
    # §3: a registry line is at most 64 KiB (a physical line, in bytes, without its line end); B02
    # comes before B06, and §8's created_at is then the fallback.
    parts = reg.split(b"\n")
    for i, l in enumerate(parts):
        if len(l) - (1 if i < len(parts) - 1 and l.endswith(b"\r") else 0) > 65536:
            return {"result": "NAK", "code": "B02", "why": f"registry line {i + 1} too long", "created_at": fallback}, store
    try:
        kv, copy = parse_control(control, bid)
    except Nak as e:
        # the copy rule is judged on its own, even when control.txt is malformed
        try:
            _, copy = parse_control_copy_only(control)
        except Exception:
            copy = None
        return {"result": "NAK", "code": e.code, "why": e.why, "created_at": copy or fallback}, store
    created_at = copy or fallback
    try:
        enc = kv["encoding"]
        text = decode_registry(reg, enc)
        rows = parse_csv(text)
        if not rows or rows[0] != FIELDS[typ]:
            raise Nak("B07", f"header {rows[0] if rows else None!r}")
        data = rows[1:]
        # §6
        ai = FIELDS[typ].index("amount")
        tot = sum(amount_tiyin(r[ai]) or 0 for r in data if len(r) == len(FIELDS[typ]))
        if int(kv["rows"]) != len(data):
            raise Nak("B08", f"rows {kv['rows']} != {len(data)}")
        a, b = kv["amount_total"].split(".")
        if int(a) * 100 + int(b) != tot:
            raise Nak("B08", f"amount_total {kv['amount_total']} != {fmt_amount(tot)}")
    except Nak as e:
        return {"result": "NAK", "code": e.code, "why": e.why, "created_at": created_at}, store
    created_s = parse_created(kv["created_at"])
    st = store.copy()
    out = []  # (line, payment_id, status, field)
    seen = set()
    acc_amt = 0
    names = FIELDS[typ]
    for ln, r in enumerate(data, 1):
        pid_text = r[0]
        status, field = None, ""
        if len(r) != len(names):
            status = 202  # DECISION (README): empty field for a wrong field count
        else:
            for i, nm in enumerate(names):
                v = r[i]
                if v == "":
                    if REQUIRED.get(nm, True):
                        status, field = 201, nm
                        break
                    continue
                if not check_field(typ, nm, v, r, created_s, bdate):
                    status, field = 202, nm
                    break
        if status is None:
            f = dict(zip(names, r))
            amt = amount_tiyin(f["amount"])
            pid = f["payment_id"]
            if typ == "PAY":
                inv = st.inv.get(f["invoice_no"])
                if pid in st.pay or pid in seen:
                    status = 301
                elif inv is None:
                    status = 4
                elif inv["status"] == "CANCELLED" or inv["paid"] >= inv["due"]:
                    status = 302
                elif (f["payer_type"], f["payer_id"]) != (inv["pt"], inv["pid"]):
                    status = 304
                elif amt > inv["due"] - inv["paid"]:
                    status = 303
                else:
                    status = 1
                    inv["paid"] += amt
                    st.pay[pid] = {"paid_at": f["paid_at"], "invoice": f["invoice_no"], "amount": amt,
                                   "state": "PAID"}
            elif typ == "REV":
                pm = st.pay.get(pid)
                if pm is None:
                    status = 4
                elif pm["state"] == "REVERSED":
                    status = 307
                elif pm["amount"] != amt:
                    status = 305
                else:
                    status = 1
                    pm["state"] = "REVERSED"
                    st.inv[pm["invoice"]]["paid"] -= amt
            else:
                pm = st.pay.get(pid)
                if pid in seen:
                    status = 301
                elif pm is None:
                    status = 4
                elif (pm["amount"], pm["invoice"], pm["paid_at"], pm["state"]) != (
                        amt, f["invoice_no"], f["paid_at"], f["state"]):
                    status = 305
                else:
                    status = 1
            if status == 1:
                acc_amt += amt
        seen.add(pid_text)  # DECISION (README): the key column of any earlier row, whatever its status
        out.append((str(ln), pid_text, str(status), field))
    if typ == "REC":
        for pid in sorted((k for k, v in st.pay.items() if v["paid_at"][:10] == bdate and k not in seen),
                          key=lambda s: s.encode(PYENC[enc])):
            out.append(("", pid, "306", ""))
    exp = {"result": "ACK", "created_at": created_at, "enc": enc, "rows": out,
           "accepted": sum(1 for o in out if o[2] == "1"), "amount_accepted": fmt_amount(acc_amt)}
    return exp, st


def parse_control_copy_only(raw):
    lines = split_lines(raw)
    ca = [l for l in lines if l.startswith(b"created_at=")]
    if len(ca) != 1:
        return None, None
    try:
        v = ca[0][len("created_at="):].decode("ascii")
    except UnicodeDecodeError:
        return None, None
    return None, (v if parse_created(v) is not None else None)


# =====================================================================================
# Comparing a response with the expectation
# =====================================================================================
def must_quote(s):
    # §5 / §8: quote only when needed. DECISION (README): a field is quoted when it starts with
    # '"' or holds ';', LF or CR.
    return s.startswith('"') or ";" in s or "\n" in s or "\r" in s


def csv_field(s):
    return '"' + s.replace('"', '""') + '"' if must_quote(s) else s


def entry_time(created):
    y, mo, d = int(created[0:4]), int(created[5:7]), int(created[8:10])
    h, mi, s = int(created[11:13]), int(created[14:16]), int(created[17:19])
    if y < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if y > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (y, mo, d, h, mi, s - s % 2)


def compare(exp, bid, inbound, resp_name, resp):
    """Differences between the response (name, bytes) and the expectation."""
    d = []
    p = bid.split("_")
    want_name = f"{OWN}_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{exp['result']}.zip"
    if resp is None:
        return [f"no response (expected {exp['result']} {exp.get('code', '')})"]
    z = zipfile.ZipFile(io.BytesIO(resp))
    files = {i.filename: z.read(i.filename) for i in z.infolist()}
    ctl = files.get("control.txt", b"").decode("utf-8", "replace")
    kv = dict(l.split("=", 1) for l in ctl.split("\n") if "=" in l)
    if resp_name != want_name or kv.get("result") != exp["result"] or kv.get("error") != exp.get("code"):
        what = f"{kv.get('result')} {kv.get('error', '')}".strip()
        d.append(f"answer {what} (msg {kv.get('message', '')[:150]!r}) != expected {exp['result']} "
                 f"{exp.get('code', '')} ({exp.get('why', '')})")
        return d
    entries = [i.filename for i in z.infolist()]
    want_entries = ["control.txt"] + (["result.csv"] if exp["result"] == "ACK" else []) + [
        "manifest.sha256"] + (["manifest.sha256.hmac"] if CFG != "nokey" else [])
    if entries != want_entries:
        d.append(f"entries {entries} != {want_entries}")
    et = entry_time(exp["created_at"])
    for i in z.infolist():
        if i.compress_type != zipfile.ZIP_DEFLATED:
            d.append(f"entry {i.filename} not deflated")
        if i.date_time != et:
            d.append(f"entry {i.filename} time {i.date_time} != {et}")
            break
    # control.txt
    want = [("format", "munis-offline/1"), ("batch_id", want_name[:-4]), ("type", p[2]), ("sender", OWN),
            ("receiver", p[0]), ("business_date", f"{p[3][:4]}-{p[3][4:6]}-{p[3][6:]}"),
            ("created_at", exp["created_at"]), ("in_reply_to", bid),
            ("in_reply_to_sha256", hashlib.sha256(inbound).hexdigest()), ("result", exp["result"])]
    if exp["result"] == "NAK":
        want += [("error", exp["code"]), ("message", None)]
    else:
        want += [("encoding", exp["enc"]), ("rows", str(len(exp["rows"]))), ("accepted", str(exp["accepted"])),
                 ("amount_accepted", exp["amount_accepted"])]
    craw = files.get("control.txt", b"")
    if not craw.endswith(b"\n") or b"\r" in craw:
        d.append("control.txt: line ends not LF")
    got_lines = craw.decode("utf-8", "replace").split("\n")
    if got_lines and got_lines[-1] == "":
        got_lines.pop()
    if len(got_lines) != len(want):
        d.append(f"control.txt has {len(got_lines)} lines, want {len(want)}: {got_lines}")
    for gl, (k, v) in zip(got_lines, want):
        if v is None:
            if not gl.startswith(k + "=") or len(gl) == len(k) + 1:
                d.append(f"control.txt line {gl!r}: want a non-empty {k}")
        elif gl != f"{k}={v}":
            d.append(f"control.txt line {gl!r} != {k}={v}")
    man = files.get("manifest.sha256", b"")
    want_man = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in entries
                       if not n.startswith("manifest.")).encode()
    if man != want_man:
        d.append("manifest.sha256 wrong")
    hv = files.get("manifest.sha256.hmac", b"").rstrip(b"\r\n")
    if CFG != "nokey" and hv != hmac.new(KEY, man, hashlib.sha256).hexdigest().encode():
        d.append("response HMAC wrong")
    if exp["result"] == "NAK":
        return d
    res = files.get("result.csv", b"")
    pyenc = PYENC[exp["enc"]]
    try:
        text = res.decode(pyenc)
        got = parse_csv(text)
    except Exception as e:
        d.append(f"result.csv unreadable in {exp['enc']}: {e}")
        return d
    if not got or got[0] != ["line", "payment_id", "status", "field", "message"]:
        d.append(f"result.csv header {got[:1]}")
        return d
    body = got[1:]
    msgs = []
    diffs = []
    for i in range(max(len(body), len(exp["rows"]))):
        g = body[i] if i < len(body) else None
        w = exp["rows"][i] if i < len(exp["rows"]) else None
        if g is not None and len(g) != 5:
            diffs.append(f"result row {i + 1} has {len(g)} fields: {g!r:.200}")
            msgs.append("")
            continue
        if g is not None:
            msgs.append(g[4])
            if "\n" in g[4] or "\r" in g[4]:
                d.append(f"result row {i + 1}: message not one line {g[4]!r:.200}")
        if g is None or w is None or tuple(g[:4]) != w:
            diffs.append(f"row {i + 1}: got {tuple(g[:4]) if g else None!r:.160} msg={g[4] if g else '':.120} "
                         f"want {w!r:.160}")
    if diffs:
        d.append(f"result.csv rows differ ({len(diffs)}): " + " | ".join(diffs[:6]))
        return d
    want_text = "line;payment_id;status;field;message\r\n" + "".join(
        ";".join(csv_field(x) for x in (w + (m,))) + "\r\n" for w, m in zip(exp["rows"], msgs))
    want_bytes = want_text.encode(pyenc)
    if res != want_bytes:
        k = next((i for i in range(min(len(res), len(want_bytes))) if res[i] != want_bytes[i]),
                 min(len(res), len(want_bytes)))
        d.append(f"result.csv bytes differ at {k}: got {res[max(0, k - 30):k + 30]!r} want "
                 f"{want_bytes[max(0, k - 30):k + 30]!r}")
    return d


# =====================================================================================
# Generating inputs
# =====================================================================================
ALPHA = {
    "utf-8": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ  'АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюяЎўҚқҒғҲҳʻ‘’—№€😀",
    "windows-1251": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ  'АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюяЎў‘’—№€",
    "cp866": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ  'АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюяЎў№░",
}


def digits(rnd, n, first=None):
    s = "".join(rnd.choice("0123456789") for _ in range(n))
    return (first + s[1:]) if first else s


def make_pinfl(rnd, first=None, date=None, good=True):
    c = first if first is not None else rnd.choice("123456")
    if date is None:
        cent = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}.get(c, 1900)
        yy = rnd.randrange(100)
        m = rnd.randrange(1, 13)
        dd = rnd.randrange(1, mdays(cent + yy, m) + 1)
        date = "%02d%02d%02d" % (dd, m, yy)
    body = c + date + digits(rnd, 6)
    w = [7, 3, 1] * 5
    k = sum(int(body[i]) * w[i] for i in range(13)) % 10
    if not good:
        k = (k + rnd.randrange(1, 10)) % 10
    return body + str(k)


def make_tin(rnd, first=None):
    return (first or rnd.choice("23")) + digits(rnd, 8)


def make_account(rnd, mfo, good=True):
    a = digits(rnd, 20)
    s = mfo + a[0:8] + a[9:20] + "9"
    t = sum(int(s[i]) * int(s[i + 1]) for i in range(24))
    r = t % 11
    k = 9 if r == 0 else (0 if r == 1 else 11 - r)
    if not good:
        k = (k + rnd.randrange(1, 10)) % 10
    return a[:8] + str(k) + a[9:]


def text(rnd, enc, n, extra=""):
    al = ALPHA[enc] + extra
    return "".join(rnd.choice(al) for _ in range(n))


def fmt_dt(t):
    """epoch seconds -> Tashkent 'YYYY-MM-DD HH:MM:SS'."""
    t += 300 * 60
    days, sec = divmod(t, 86400)
    # civil_from_days
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y += m <= 2
    return "%04d-%02d-%02d %02d:%02d:%02d" % (y, m, d, sec // 3600, sec // 60 % 60, sec % 60)


def created_forms(rnd, t, tags):
    """created_at strings for instant t (valid), in various offsets and forms."""
    off = rnd.choice([300, 300, 300, 0, 0, -0, 840, -720, 330, 345, -60, 59])
    form = rnd.random()
    u = t + off * 60
    s = fmt_dt(u - 300 * 60)  # local time at that offset
    base = s[:10] + "T" + s[11:]
    frac = ""
    if rnd.random() < 0.2:
        frac = rnd.choice([".0", ".5", ".000", ".999999999", ".123"])
        tags.add("ca_frac")
    if off == 0:
        z = rnd.choice(["Z", "z", "+00:00", "-00:00"])
    else:
        z = "%s%02d:%02d" % ("+" if off > 0 else "-", abs(off) // 60, abs(off) % 60)
    if rnd.random() < 0.1:
        base = base[:10] + "t" + base[11:]
        tags.add("ca_lower_t")
    tags.add("ca_off" + z)
    return base + frac + z


BAD_CREATED = ["2026-11-22 01:05:00+05:00", "2026-11-22T01:05:00", "2026-11-22T01:05+05:00",
               "2026-02-30T01:05:00+05:00", "2026-11-22T24:00:00+05:00", "2026-11-22T01:05:60+05:00",
               "2026-11-22T01:05:00+0500", "2026-11-22T01:05:00+24:00", "2026-11-22T01:05:00+05:60",
               "2026-11-22T01:05:00.+05:00", "2026-11-22T1:05:00+05:00", "2025-02-29T01:05:00Z",
               "0000-01-01T00:00:00Z", "2026-11-22T01:05:00+05", "2026-13-01T00:00:00Z", " 2026-11-22T01:05:00Z",
               "2026-11-22T01:05:00Z ", "2026-11-22T01:05:00GMT", "2026-11-22T01:05:00+5:00", "",
               "2026-11-22T01:05:00\rZ", "2026-11-22T01:05:00+05:00Z", "2026-11-22_01:05:00Z"]
OK_CREATED = ["2024-02-29T23:59:59+05:00", "2000-02-29T00:00:00Z", "2026-11-22T01:05:00.1-00:00",
              "2026-11-21T20:05:00z", "2026-11-22t01:05:00+14:00", "2026-11-21T08:05:00-12:00",
              "1979-12-31T23:59:59+05:00", "2108-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z",
              "2026-11-22T01:05:00.000000000000000000000000001+05:00", "9999-12-31T23:59:59-23:59"]


def rand_dt(rnd):
    """A datetime-shaped text with every part drawn across its edges."""
    y = rnd.choice([0, 1, 1800, 1900, 1999, 2000, 2024, 2025, 2026, 2100, 9999, rnd.randrange(10000)])
    return "%04d-%02d-%02d %02d:%02d:%02d" % (y, rnd.randrange(0, 14), rnd.randrange(0, 33), rnd.randrange(0, 26),
                                             rnd.randrange(0, 62), rnd.randrange(0, 62))


def rand_pinfl(rnd):
    body = str(rnd.randrange(10)) + "%02d%02d%02d" % (rnd.randrange(0, 33), rnd.randrange(0, 14), rnd.randrange(100)) \
        + digits(rnd, 6)
    w = [7, 3, 1] * 5
    k = sum(int(body[i]) * w[i] for i in range(13)) % 10
    return body + str(k if rnd.random() < 0.7 else rnd.randrange(10))


def rand_amount(rnd):
    return digits(rnd, rnd.choice([0, 1, 1, 2, 5, 12, 13, 13, 14, 15])) + rnd.choice([".", ".", ",", ""]) + \
        digits(rnd, rnd.choice([0, 1, 2, 2, 2, 3]))


def mut_value(rnd, typ, name, enc, row, ctx):
    """An edge value for field name (valid or not: the oracle decides)."""
    if rnd.random() < 0.3:
        if name in ("paid_at", "reversed_at"):
            return rand_dt(rnd)
        if name == "payer_id":
            return rand_pinfl(rnd) if rnd.random() < 0.7 else digits(rnd, rnd.choice([8, 9, 9, 10]))
        if name == "amount":
            return rand_amount(rnd)
        if name == "account":
            mfo = row[FIELDS[typ].index("bank_mfo")]
            mfo = mfo if re.fullmatch(r"[0-9]{5}", mfo) else "00014"
            return make_account(rnd, mfo, good=rnd.random() < 0.5)
        if name in ("payment_id", "invoice_no", "bank_mfo", "currency"):
            return digits(rnd, rnd.randrange(0, 23))
    created = ctx["created_s"]
    bd = ctx["bdate"]
    if name == "payment_id":
        return rnd.choice([digits(rnd, 11), digits(rnd, 12), digits(rnd, 20), digits(rnd, 21), "",
                           " " + digits(rnd, 12), digits(rnd, 11) + "a", "0" * 12, digits(rnd, 13) + " ",
                           "１２３４５６７８９０１２" if enc == "utf-8" else digits(rnd, 15), '"' + digits(rnd, 12),
                           digits(rnd, 6) + ";" + digits(rnd, 6), digits(rnd, 12) + '"x', "   ",
                           digits(rnd, 12) + "\r" + digits(rnd, 2), digits(rnd, 12) + "\n" + digits(rnd, 2),
                           digits(rnd, 12) + "\r\n", text(rnd, enc, 12), "№" + digits(rnd, 12), (rnd.choice(ctx["pool"]) if ctx["pool"] else digits(rnd, 14))])
    if name in ("paid_at", "reversed_at"):
        return rnd.choice([
            fmt_dt(created), fmt_dt(created + 1), fmt_dt(created - 1), fmt_dt(created + 86400 * 400),
            fmt_dt(created - 86400 * 365 * 30), "", bd + "T10:00:00", bd + " 10:00", bd + " 24:00:00",
            bd + " 23:59:60", bd + " 23:59:59", bd + " 00:00:00", "2026-02-29 10:00:00", "2024-02-29 10:00:00",
            "1900-02-29 10:00:00", "2000-02-29 10:00:00", "0000-01-01 00:00:00", "0001-01-01 00:00:00",
            bd + " 10:00:00 ", bd + "  10:00:00", bd[:5] + "1" + bd[6:] + " 10:00:00", bd + " 10:00:00.0",
            bd + " 1:00:00", "2026-04-31 10:00:00", "2026-11-21 10:60:00", bd.replace("-", "/") + " 10:00:00"])
    if name == "invoice_no":
        return rnd.choice([digits(rnd, 19), digits(rnd, 21), digits(rnd, 20), "", rnd.choice(ctx["invs"]) + " ",
                           "A" + digits(rnd, 19), rnd.choice(ctx["invs"])])
    if name == "payer_type":
        return rnd.choice(["P", "J", "p", "j", "", "PJ", " P", "Р" if enc != "cp866" else "R"])
    if name == "payer_id":
        return rnd.choice([
            make_pinfl(rnd), make_pinfl(rnd, good=False), make_pinfl(rnd, first=rnd.choice("0789")),
            make_pinfl(rnd, first=rnd.choice("12"), date="290200"), make_pinfl(rnd, first=rnd.choice("34"), date="290200"),
            make_pinfl(rnd, first=rnd.choice("56"), date="290200"), make_pinfl(rnd, first=rnd.choice("56"), date="290204"),
            make_pinfl(rnd, date="300284"), make_pinfl(rnd, date="311184"), make_pinfl(rnd, date="001084"),
            make_pinfl(rnd, date="011384"), make_pinfl(rnd, date="310184"), make_pinfl(rnd, first="6", date="311299"),
            make_pinfl(rnd)[:13], make_pinfl(rnd) + "0", make_tin(rnd), make_tin(rnd, "1"), make_tin(rnd, "4"),
            make_tin(rnd)[:8], make_tin(rnd) + "1", "", " " + make_tin(rnd), "31210932040247",
            rnd.choice(ctx["payers"])[1]])
    if name == "payer_name":
        n = rnd.choice([0, 1, 199, 200, 200, 201, 202])
        return rnd.choice([text(rnd, enc, n), text(rnd, enc, max(0, n - 2)) + "\r\n" if n >= 2 else text(rnd, enc, n),
                           " " * max(n, 1), ("Ў" if enc != "utf-8" else "Қ") * n, ("Я" if enc != "utf-8" else "😀") * n,
                           ("e\u0301" * (n // 2) if enc == "utf-8" else "ё" * n)])
    if name == "amount":
        return rnd.choice(["0.00", "0.01", "1.5", "1,50", "+1.00", "-1.00", "01.00", "0001.00",
                           "9999999999999.99", "10000000000000.00", "00000000000001.00", " 1.00", "1.00 ", "1.000",
                           ".50", "1.", "", "1e3", "١.٠٠" if enc == "utf-8" else "1.0O", row[FIELDS[typ].index("amount")]])
    if name == "currency":
        return rnd.choice(["860", "0860", "643", "", " 860", "UZS", "860 "])
    if name == "bank_mfo":
        return rnd.choice([digits(rnd, 4), digits(rnd, 5), digits(rnd, 6), "", "0001a", "00014"])
    if name == "account":
        mfo = row[FIELDS[typ].index("bank_mfo")]
        mfo = mfo if re.fullmatch(r"[0-9]{5}", mfo) else "00014"
        return rnd.choice(["", make_account(rnd, mfo), make_account(rnd, mfo, good=False), digits(rnd, 19),
                           digits(rnd, 21), " " * 20, "23402000300100001010", make_account(rnd, mfo) + " "])
    if name == "purpose":
        n = rnd.choice([0, 1, 499, 500, 500, 501])
        t = text(rnd, enc, n, extra=';";\r\n')
        return rnd.choice([t, ("Ў" if enc != "utf-8" else "ʻ") * n,
                           (text(rnd, enc, max(0, n - 2)) + "\r\n") if n >= 2 else t, '"' * n])
    if name == "reason":
        n = rnd.choice([0, 1, 200, 200, 201])
        return rnd.choice([text(rnd, enc, n, extra=';"\n'), ("ё" * n)])
    if name == "state":
        return rnd.choice(["PAID", "REVERSED", "paid", "", "CANCELLED", "PAID "])
    raise KeyError(name)


def gen_invoices(rnd):
    invs = {}
    payers = [("P", make_pinfl(rnd)) for _ in range(2)] + [("J", make_tin(rnd)) for _ in range(2)]
    for _ in range(rnd.randint(3, 7)):
        no = digits(rnd, 20)
        pt, pid = rnd.choice(payers)
        due = rnd.choice([100, 5000, 100000, 150000, 1000000, rnd.randrange(1, 10 ** 8)])
        st = "CANCELLED" if rnd.random() < 0.15 else "OPEN"
        invs[no] = {"pt": pt, "pid": pid, "due": due, "status": st, "paid": 0}
    return invs, payers


def invoices_csv(invs):
    lines = ["invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"]
    for no, v in invs.items():
        lines.append(f"{no};1703002;2-1/2026;{v['pt']};{v['pid']};Payer {v['pid'][:4]};{fmt_amount(v['due'])};"
                     f"2026-01-10 10:00:00;{v['status']}")
    return ("\r\n".join(lines) + "\r\n").encode()


def gen_rows(rnd, typ, ctx, store, enc, tags, clean=False):
    n = ctx.get("big") or rnd.choice([0, 1, 1, 2, 3, 4, 5, 6, 8, 10, 14])
    rows = []
    invs = list(store.inv)
    bd = ctx["bdate"]
    created = ctx["created_s"]
    # a paid_at at or before created_at (on the business date when it allows)
    def when():
        day0 = parse_dt(bd + " 00:00:00")
        hi = min(created, day0 + 86399)
        if hi < day0:
            return fmt_dt(created - rnd.randrange(0, 3600))
        if rnd.random() < 0.1:
            return fmt_dt(day0 - rnd.randrange(1, 86400))
        return fmt_dt(rnd.randint(day0, hi)) if rnd.random() < 0.8 else fmt_dt(hi)
    pays = list(store.pay.items())
    if ctx.get("bigday") and typ == "REC":
        # a statement of most of the day's payments, in random order: the rest are 306
        day = [kv for kv in pays if kv[1]["paid_at"][:10] == bd]
        pays = rnd.sample(day, int(len(day) * rnd.uniform(0.6, 0.99))) + rnd.sample(pays, min(len(pays), 20))
        n = len(pays)
    for _ in range(n):
        if ctx.get("bigday"):
            if typ == "PAY":
                no = rnd.choice(invs)
                inv = store.inv[no]
                r = [ctx["pool"].pop() if ctx["pool"] else digits(rnd, 18), when(), no, inv["pt"], inv["pid"], "Ism",
                     fmt_amount(rnd.randrange(1, 100000)), "860", "00014", "", ""]
            elif typ == "REV":
                pid, pm = rnd.choice(pays) if pays else (digits(rnd, 18), {"amount": 100})
                r = [pid, when(), fmt_amount(pm["amount"]), "x"]
            else:
                pid, pm = pays.pop()
                r = [pid, pm["paid_at"], pm["invoice"], fmt_amount(pm["amount"]), pm["state"]]
            if rnd.random() < 0.02:
                i = rnd.randrange(len(r))
                r[i] = mut_value(rnd, typ, FIELDS[typ][i], enc, r, ctx)
            rows.append(r)
            continue
        if typ == "PAY":
            no = rnd.choice(invs) if rnd.random() < 0.85 else digits(rnd, 20)
            inv = store.inv.get(no)
            pt, pid = (inv["pt"], inv["pid"]) if inv and rnd.random() < 0.85 else rnd.choice(ctx["payers"])
            due = inv["due"] if inv else 100000
            amt = rnd.choice([1, due // 3 or 1, due // 2 or 1, due, due + 1, due - 1 or 1, rnd.randrange(1, due + 2)])
            mfo = digits(rnd, 5)
            acct = "" if rnd.random() < 0.3 else make_account(rnd, mfo, good=rnd.random() < 0.9)
            r = [(rnd.choice(ctx["pool"]) if ctx["pool"] else digits(rnd, 14)), when(), no, pt, pid, text(rnd, enc, rnd.randint(1, 30)).strip() or "X",
                 fmt_amount(amt), "860", mfo, acct, text(rnd, enc, rnd.randint(0, 40), extra=';";')]
        elif typ == "REV":
            if pays and rnd.random() < 0.85:
                pid, pm = rnd.choice(pays)
                amt = pm["amount"] if rnd.random() < 0.8 else pm["amount"] + rnd.choice([1, -1, 100])
            else:
                pid, amt = (rnd.choice(ctx["pool"]) if ctx["pool"] else digits(rnd, 14)), rnd.randrange(1, 10 ** 6)
            r = [pid, when(), fmt_amount(max(amt, 0)), text(rnd, enc, rnd.randint(1, 30)).strip() or "x"]
        else:
            if pays and rnd.random() < 0.85:
                pid, pm = rnd.choice(pays)
                r = [pid, pm["paid_at"], pm["invoice"], fmt_amount(pm["amount"]), pm["state"]]
                if rnd.random() < 0.2:
                    k = rnd.randrange(1, 5)
                    r[k] = {1: bd + " 12:34:56", 2: rnd.choice(invs), 3: fmt_amount(pm["amount"] + 1),
                            4: "REVERSED" if pm["state"] == "PAID" else "PAID"}[k]
                    tags.add("rec_differs")
            else:
                r = [(rnd.choice(ctx["pool"]) if ctx["pool"] else digits(rnd, 14)), bd + " 09:00:00", rnd.choice(invs), "1.00", "PAID"]
        # field edge mutations
        if rnd.random() < (0.08 if clean else ctx.get("mutp", 0.35)):
            for _ in range(rnd.choice([1, 1, 1, 2])):
                i = rnd.randrange(len(r))
                r[i] = mut_value(rnd, typ, FIELDS[typ][i], enc, r, ctx)
                tags.add("f_" + FIELDS[typ][i])
        if not clean and rnd.random() < 0.04:
            r = r[:-1] if rnd.random() < 0.5 else r + [""]
            tags.add("field_count")
        if not clean and rnd.random() < 0.03:
            r = [""]
            tags.add("blank_row")
        rows.append(r)
    # REC: leave some of the day's payments out (306), list some twice
    return rows


def serialize(rnd, rows, hdr, tags, enc, clean=False):
    """The registry text; mutations of the dialect that keep it readable or not."""
    eol_mode = rnd.choice(["crlf"] * 5 + ["lf"] * 3 + ["mixed"])
    tags.add("eol_" + eol_mode)

    def eol():
        return "\r\n" if eol_mode == "crlf" or (eol_mode == "mixed" and rnd.random() < 0.5) else "\n"

    def field(s):
        need = s.startswith('"') or ";" in s or "\n" in s or "\r" in s
        if need or rnd.random() < 0.05:
            if not need:
                tags.add("quoted_needless")
            return '"' + s.replace('"', '""') + '"'
        return s

    h = list(hdr)
    r = rnd.random() + (1 if clean else 0)
    if r < 0.04:
        k = rnd.randrange(len(h))
        h[k] = rnd.choice([h[k].upper(), " " + h[k], h[k] + " ", h[k].capitalize(), h[k] + "s"])
        tags.add("hdr_variant")
    elif r < 0.06:
        h = h[:-1] if rnd.random() < 0.5 else h + ["extra"]
        tags.add("hdr_count")
    elif r < 0.08:
        tags.add("hdr_quoted")
        h = ['"' + x + '"' for x in h]
    lines = [";".join(h) if not h[0].startswith('"') else ";".join(h)]
    for row in rows:
        lines.append(";".join(field(x) for x in row))
    out = ""
    for i, l in enumerate(lines):
        out += l + (eol() if i < len(lines) - 1 else "")
    final = rnd.random()
    if final < 0.75:
        out += eol()
    else:
        tags.add("no_final_eol")
    if not clean and rnd.random() < 0.12:
        # splice CSV metacharacters at random places: the oracle's reader decides what they mean
        for _ in range(rnd.randint(1, 3)):
            pos = rnd.randrange(len(out) + 1)
            out = out[:pos] + rnd.choice(['"', '"', ";", "\r", "\n", "\r\n", '""', '";', ';"', '"\r\n', "\x00"]) + out[pos:]
        tags.add("splice")
    rr = rnd.random() + (1 if clean else 0)
    if rr < 0.03:
        out += eol()  # a blank line at the end: a row of one empty field
        tags.add("blank_last")
    elif rr < 0.05:
        out = out.replace("\r\n", "\r").replace("\n", "\r")
        tags.add("cr_only")
    elif rr < 0.07 and rows:
        tags.add("text_after_quote")
        out = out.replace(";", ';"ab"c;', 1) if rnd.random() < 0.5 else out + '"x"y\r\n'
    elif rr < 0.09:
        tags.add("open_quote_eof")
        out += '1;"abc'
    elif rr < 0.11:
        tags.add("quote_in_unquoted")
        out += 'ab"c"d;1\r\n'
    elif rr < 0.13:
        tags.add("quoted_cr_after")
        out += '"12345678901234"\r;x\r\n'
    return out


def encode_registry(rnd, txt, enc, tags, clean=False):
    try:
        b = txt.encode(PYENC[enc])
    except UnicodeEncodeError:
        b = txt.encode(PYENC[enc], errors="replace")
        tags.add("enc_replaced")
    r = rnd.random() + (0.5 if clean else 0)
    if r < 0.06:
        b = b"\xef\xbb\xbf" + b
        tags.add("bom")
    elif r < 0.09:
        tags.add("bad_bytes")
        bad = {"utf-8": [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf4\x90\x80\x80"],
               "windows-1251": [b"\x98"], "cp866": [b"\x98\xff"]}[enc]
        pos = rnd.randrange(len(b) + 1)
        b = b[:pos] + rnd.choice(bad) + b[pos:]
    elif r < 0.11:
        tags.add("wrong_encoding")
        other = rnd.choice([e for e in PYENC if e != enc])
        b = txt.encode(PYENC[other], errors="replace")
    elif r < 0.12:
        tags.add("double_bom")
        b = b"\xef\xbb\xbf\xef\xbb\xbf" + b
    return b


def gen_control(rnd, bid, enc, nrows, total, created, tags, clean=False):
    p = bid.split("_")
    kv = [("format", "munis-offline/1"), ("batch_id", bid), ("type", p[2]), ("sender", p[0]), ("receiver", p[1]),
          ("business_date", f"{p[3][:4]}-{p[3][4:6]}-{p[3][6:]}"), ("created_at", created),
          ("encoding", enc), ("rows", str(nrows)), ("amount_total", total)]
    if rnd.random() < 0.3:
        rnd.shuffle(kv)
        tags.add("ctl_shuffled")
    lines = [k + "=" + v for k, v in kv]
    if rnd.random() < (0 if clean else 0.3):
        for _ in range(rnd.choice([1, 1, 2])):
            m = rnd.randrange(24)
            i = rnd.randrange(len(lines))
            k, v = lines[i].split("=", 1) if "=" in lines[i] else (lines[i], "")
            tags.add(f"ctl_m{m}")
            if m == 0:
                lines[i] = k + " =" + v
            elif m == 1:
                lines[i] = k + "= " + v
            elif m == 2:
                lines.insert(rnd.randrange(len(lines) + 1), lines[i])
            elif m == 3:
                lines.insert(rnd.randrange(len(lines) + 1), rnd.choice(["comment=x", "Format=munis-offline/1", "x", "=",
                                                                         "rows", "#c"]))
            elif m == 4:
                del lines[i]
            elif m == 5:
                lines[i] = k.upper() + "=" + v
            elif m == 6:
                lines.insert(rnd.randrange(len(lines) + 1), "")
            elif m == 7:
                lines.insert(rnd.randrange(len(lines) + 1), rnd.choice([" ", "\t", "\r"]))
            elif m == 8:
                lines[i] = k + "=" + v + rnd.choice([" ", "\t", "\r"])
            elif m == 9:
                j = next((a for a, x in enumerate(lines) if x.startswith("created_at=")), i)
                lines[j] = "created_at=" + rnd.choice(BAD_CREATED + OK_CREATED)
            elif m == 10:
                j = next((a for a, x in enumerate(lines) if x.startswith("rows=")), i)
                n = nrows
                lines[j] = "rows=" + rnd.choice(["0" + str(n), "+" + str(n), str(n) + " ", str(n + 1), str(max(n - 1, 0)),
                                                 "-" + str(n), str(n) + ".0", "", "1e1", "٣", "00", str(n), "9" * 25, "0" * 30 + str(n)])
            elif m == 11:
                j = next((a for a, x in enumerate(lines) if x.startswith("amount_total=")), i)
                t = amount_tiyin(total) if amount_tiyin(total) is not None else 0
                lines[j] = "amount_total=" + rnd.choice([
                    "0" + total, "+" + total, total + " ", fmt_amount(t + 1), fmt_amount(max(t - 1, 0)), total[:-1],
                    total.replace(".", ","), "-" + total, "%d" % (t // 100), total + "0", "", "9999999999999999.00",
                    "10000000000000.00", ".00" if t == 0 else total, "9" * 40 + ".00", "0" * 30 + total])
            elif m == 12:
                j = next((a for a, x in enumerate(lines) if x.startswith("encoding=")), i)
                lines[j] = "encoding=" + rnd.choice([enc.upper(), "utf8", "cp1251", "CP866", "windows1251", "UTF-8",
                                                     "ibm866", "koi8-r", enc, "windows-1251", "cp866", "utf-8"])
                tags.add("ctl_enc_declared")
            elif m == 13:
                j = next((a for a, x in enumerate(lines) if x.startswith("business_date=")), i)
                lines[j] = "business_date=" + rnd.choice(["2026-11-22", "20261121", "2026-11-21 ", "2026-11-21T00:00:00",
                                                          kv[[a for a, _ in kv].index("business_date")][1]])
            elif m == 14:
                lines[i] = k + "=" + v + "é"
            elif m == 15:
                j = next((a for a, x in enumerate(lines) if x.startswith("format=")), i)
                lines[j] = "format=" + rnd.choice(["munis-offline/2", "MUNIS-OFFLINE/1", "munis-offline/1 ", "munis-offline/1"])
            elif m == 16:
                j = next((a for a, x in enumerate(lines) if x.startswith("type=")), i)
                lines[j] = "type=" + rnd.choice(["PAY", "REV", "REC", "pay"])
            elif m == 17:
                j = next((a for a, x in enumerate(lines) if x.startswith("sender=")), i)
                lines[j] = "sender=" + rnd.choice(["MUNIS", "munis", "MUNIS2"])
            elif m == 18:
                j = next((a for a, x in enumerate(lines) if x.startswith("batch_id=")), i)
                lines[j] = "batch_id=" + rnd.choice([bid, bid + ".zip", bid.lower(), bid[:-1] + "9"])
            elif m == 19:
                lines.insert(0, "\ufeff".encode("utf-8").decode("latin-1") + lines.pop(0))
            elif m == 20:
                lines[i] = k + "==" + v
            elif m == 21:
                j = next((a for a, x in enumerate(lines) if x.startswith("created_at=")), i)
                lines.insert(rnd.randrange(len(lines) + 1), "created_at=" + rnd.choice([created, OK_CREATED[0]]))
            elif m == 22:
                lines[i] = k + "=" + v + "\r"
            elif m == 23:
                j = next((a for a, x in enumerate(lines) if x.startswith("receiver=")), i)
                lines[j] = "receiver=" + rnd.choice(["SUDBILLING", "SUDBILLING2", "sudbilling"])
    if not clean and rnd.random() < 0.06:
        for _ in range(rnd.randint(1, 2)):
            i = rnd.randrange(len(lines))
            pos = rnd.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rnd.choice(["=", " ", "\t", "\x00", "\r", "\x7f", "\xff", "\r\n", "\n"]) + lines[i][pos:]
        tags.add("ctl_splice")
    eolm = rnd.choice(["lf"] * 12 + ["crlf"] * 10 + ["mixed"] * 3 + ["cr"] * (0 if clean else 1))
    tags.add("ctl_eol_" + eolm)
    out = ""
    for i, l in enumerate(lines):
        e = {"lf": "\n", "crlf": "\r\n", "cr": "\r", "mixed": rnd.choice(["\n", "\r\n"])}[eolm]
        out += l + e
    if rnd.random() < 0.1:
        out = out.rstrip("\r\n")
        tags.add("ctl_no_final_eol")
    if rnd.random() < 0.08:
        out += rnd.choice(["\n", "\r\n", "\n\n", "\r\n\r\n"])
        tags.add("ctl_trailing_blank")
    return b"".join(c.encode("latin-1") if ord(c) < 256 else c.encode("utf-8") for c in out)


def build_archive(bid, control, reg, seal=None):
    """The archive; seal (from gen_seal) varies the manifest and HMAC."""
    seal = seal or {}
    files = [("control.txt", control), ("registry.csv", reg)]
    man = seal.get("manifest")
    if man is None:
        man = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files).encode()
    hv = hmac.new(KEY, man, hashlib.sha256).hexdigest()
    hv = seal.get("hmac", lambda h: h)(hv).encode()
    out = files + [("manifest.sha256", man)]
    if seal.get("hmac_missing"):
        return lib.build_zip(out)
    return lib.build_zip(out + [("manifest.sha256.hmac", hv)])


def gen_seal(rnd, control, reg, tags):
    """Now and then a manifest or HMAC near §6's edges. Returns (seal, the code it calls for or None)."""
    if rnd.random() > 0.06:
        return None, None
    h = {"control.txt": hashlib.sha256(control).hexdigest(), "registry.csv": hashlib.sha256(reg).hexdigest()}
    m = rnd.randrange(11)
    tags.add(f"seal{m}")
    line = lambda n: f"{h[n]}  {n}\n"
    if m == 0:
        return {"manifest": (line("registry.csv") + line("control.txt")).encode()}, None  # order is free
    if m == 1:
        return {"manifest": (line("control.txt") + line("registry.csv")).replace("\n", "\r\n").encode()}, "B04"
    if m == 2:
        bad = h["registry.csv"][:-1] + ("0" if h["registry.csv"][-1] != "0" else "1")
        return {"manifest": f"{h['control.txt']}  control.txt\n{bad}  registry.csv\n".encode()}, "B04"
    if m == 3:
        return {"manifest": (line("control.txt") + line("registry.csv")).upper().replace("CONTROL.TXT", "control.txt")
                .replace("REGISTRY.CSV", "registry.csv").encode()}, "B04"
    if m == 4:
        return {"manifest": line("control.txt").encode()}, "B04"
    if m == 5:
        return {"manifest": (line("control.txt") + line("registry.csv")).rstrip("\n").encode()}, "B04"
    if m == 6:
        return {"hmac": lambda x: x.upper()}, "B05"
    if m == 7:
        return {"hmac": lambda x: x + rnd.choice(["\n", "\r\n"])}, None
    if m == 8:
        return {"hmac": lambda x: x + rnd.choice(["\n\n", " ", "\r"])}, "B05"
    if m == 9:
        return {"hmac_missing": True}, "B05"
    return {"hmac": lambda x: x[:-1] + ("0" if x[-1] != "0" else "1")}, "B05"


def gen_batch(rnd, typ, seq, date, store, ctx, tags, clean=False):
    bid = f"{SND}_{OWN}_{typ}_{date}_{seq if isinstance(seq, str) else '%03d' % seq}"
    bdate = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    ctx["bdate"] = bdate
    enc = rnd.choice(["utf-8", "utf-8", "windows-1251", "cp866"])
    tags.add("enc_" + enc)
    day0 = parse_dt(bdate + " 00:00:00")
    created_s = rnd.choice([day0 + 86400 + 3900, day0 + 86400 + 3900, day0 + 43200, day0 + 86399, day0 + 86400])
    ctx["created_s"] = created_s
    created = created_forms(rnd, created_s, tags)
    rows = gen_rows(rnd, typ, ctx, store, enc, tags, clean)
    if ctx.get("big"):
        rows = [r for r in rows if len(r) == len(FIELDS[typ])] if rnd.random() < 0.5 else rows
    if not ctx.get("big") and rows and rnd.random() < 0.02:
        # one physical line of 65536 or 65537 bytes (without its line end)
        r = rows[rnd.randrange(len(rows))]
        k = len(r) - 1
        r[k] = ""
        cur = len(";".join(r).encode(PYENC[enc]))
        r[k] = "x" * (65536 + rnd.choice([0, 0, 1]) - cur)
        tags.add("line_64k")
    if typ == "REC" and rows and rnd.random() < 0.3:
        rows.insert(rnd.randrange(len(rows) + 1), list(rnd.choice(rows)))
        tags.add("rec_repeat")
    txt = serialize(rnd, rows, FIELDS[typ], tags, enc, clean or bool(ctx.get("big")))
    reg = encode_registry(rnd, txt, enc, tags, clean or bool(ctx.get("big")))
    if ctx.get("big") and rnd.random() < 0.1:
        pos = rnd.randrange(len(reg) // 2, len(reg))
        reg = reg[:pos] + {"utf-8": b"\xff", "windows-1251": b"\x98", "cp866": b'"'}[enc] + reg[pos:]
        tags.add("big_bad_byte")
    if not ctx.get("big") and rnd.random() < 0.02:
        reg = rnd.choice([b"", b"\xef\xbb\xbf", ";".join(FIELDS[typ]).encode(), b"\r\n", b"\n" + ";".join(FIELDS[typ]).encode()])
        tags.add("reg_degenerate")
    # honest totals from the oracle's own reading of §6 when the registry is readable as declared
    try:
        parsed = parse_csv(decode_registry(reg, enc))[1:]
    except Nak:
        parsed = [r for r in rows]
    ai = FIELDS[typ].index("amount")
    tot = sum(amount_tiyin(r[ai]) or 0 for r in parsed if len(r) == len(FIELDS[typ]))
    control = gen_control(rnd, bid, enc, len(parsed), fmt_amount(tot), created, tags, clean or bool(ctx.get("big")))
    return bid, control, reg


# =====================================================================================
# Running
# =====================================================================================
TEMPLATES = {}
CFG = "key"  # the configuration of the running case's receiver (one case at a time per process)


def template():
    """Three receivers to copy: MUNIS with its key (most cases), MUNIS without a key (§3: an HMAC
    entry is then allowed and ignored; §8: the response is not signed), and MUNIS with its key
    allowed PAY and REV only (a REC is B10, §7.1)."""
    for name, extra in (("key", 'key_file = "keys/MUNIS.key"\n'), ("nokey", ""),
                        ("types", 'key_file = "keys/MUNIS.key"\ntypes = ["PAY", "REV"]\n')):
        d = os.path.join(SCRATCH, "template-" + name)
        os.makedirs(d + "/keys")
        with open(d + "/keys/MUNIS.key", "w") as f:
            f.write(KEY_HEX + "\n")
        os.chmod(d + "/keys/MUNIS.key", 0o600)
        with open(d + "/reestr.toml", "w") as f:
            f.write('receiver = "SUDBILLING"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\nsettle_seconds = 0\n'
                    'unreadable_grace_seconds = 0\nrun_wait_seconds = 5\n[partners.MUNIS]\n' + extra)
        lib.sh([BIN, "--config", d + "/reestr.toml", "init"])
        TEMPLATES[name] = d


def config_adjust(exp, typ, seal_code):
    """The answer once the receiver's configuration and the archive's seal are taken into account:
    B10 first, then B02 (already in exp), then B05, B04, then the rest (§7.1)."""
    if CFG == "types" and typ == "REC":
        # §8: created_at still copied when the archive is readable and safe (exp holds that rule)
        return {"result": "NAK", "code": "B10", "why": "type not configured", "created_at": exp["created_at"]}, True
    if CFG == "nokey" and seal_code == "B05":
        seal_code = None  # no key: the HMAC entry is allowed and ignored
    if seal_code and exp.get("code") != "B02":
        return {"result": "NAK", "code": seal_code, "why": "manifest or HMAC", "created_at": exp["created_at"]}, True
    return exp, False


def run_batch(rx, bid, data):
    out = os.path.join(rx, "outbox")
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    path = os.path.join(rx, "inbox", bid + ".zip")
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.rename(path + ".part", path)
    os.utime(path, (time.time() - 10, time.time() - 10))
    p = subprocess.run([BIN, "--config", rx + "/reestr.toml", "run"], capture_output=True)
    names = sorted(os.listdir(out))
    if len(names) != 1:
        return None, None, p
    with open(os.path.join(out, names[0]), "rb") as f:
        return names[0], f.read(), p


TYPE_ORDER = {"PAY": 0, "REV": 1, "REC": 2}


def run_together(rnd, k, rx, plan, date, store, ctx, diffs, stats, alltags):
    """All batches of the plan wait in the inbox together and one `run` handles them: §7.2, in
    order of business date, then type (PAY, REV, REC), then sequence number."""
    alltags.add("together")
    nums = rnd.sample(range(1, 40), len(plan))
    gen_store = store
    batches = []
    for bi, typ in enumerate(plan):
        tags = set()
        seq = "%0*d" % (rnd.choice([3, 3, 3, 4, 5, 6]), nums[bi])
        bdate_of = date if rnd.random() < 0.6 else ctx["date2"]
        bid, control, reg = gen_batch(rnd, typ, seq, bdate_of, gen_store, ctx, tags, rnd.random() < 0.5)
        _, gen_store = oracle(gen_store, bid, control, reg)  # rows of later batches drawn from plan order
        batches.append((bid, control, reg, tags))
        alltags |= tags
    order = sorted(batches, key=lambda b: (b[0].split("_")[3], TYPE_ORDER[b[0].split("_")[2]], int(b[0].split("_")[4])))
    out = os.path.join(rx, "outbox")
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    datas = {}
    for bid, control, reg, tags in batches:
        datas[bid] = build_archive(bid, control, reg)
        path = os.path.join(rx, "inbox", bid + ".zip")
        with open(path, "wb") as f:
            f.write(datas[bid])
        os.utime(path, (time.time() - 10, time.time() - 10))
    subprocess.run([BIN, "--config", rx + "/reestr.toml", "run"], capture_output=True)
    got = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}
    for bid, control, reg, tags in order:
        exp, new_store = oracle(store, bid, control, reg)
        exp, changed = config_adjust(exp, bid.split("_")[2], None)
        if changed:
            new_store = store
        p = bid.split("_")
        name = f"{OWN}_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{exp['result']}.zip"
        other = f"{OWN}_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{'NAK' if exp['result'] == 'ACK' else 'ACK'}.zip"
        rname = name if name in got else (other if other in got else None)
        d = compare(exp, bid, datas[bid], rname, got.get(rname))
        stats.append((p[2], exp["result"], exp.get("code"), [r[2] for r in exp.get("rows", [])]))
        if d:
            keep = os.path.join(SCRATCH, "fail", f"s{ARGS.seed}_c{k}_{bid}")
            os.makedirs(keep, exist_ok=True)
            for n, b in (("inbound.zip", datas[bid]), ("control.txt", control), ("registry.csv", reg)):
                with open(os.path.join(keep, n), "wb") as f:
                    f.write(b)
            diffs.append(f"seed {ARGS.seed} case {k} together {[b[0][17:] for b in order]}: {bid} "
                         f"[{','.join(sorted(tags))}] kept {keep}")
            diffs.extend("    - " + x for x in d)
            break
        store = new_store
    shutil.rmtree(rx, ignore_errors=True)
    return diffs, alltags, stats


def run_case(k):
    """One case: returns (list of disagreement lines, tags, stats)."""
    rnd = random.Random(f"{ARGS.seed}:{k}")
    global CFG
    rx = os.path.join(SCRATCH, "rx", f"c{k}")
    r = rnd.random()
    CFG = "key" if r < 0.8 else ("nokey" if r < 0.9 else "types")
    shutil.copytree(TEMPLATES[CFG], rx)
    invs, payers = gen_invoices(rnd)
    with open(rx + "/invoices.csv", "wb") as f:
        f.write(invoices_csv(invs))
    lib.sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/invoices.csv"])
    store = Store(invs)
    ctx = {"pool": [digits(rnd, rnd.choice([12, 14, 16, 20])) for _ in range(rnd.randint(4, 16))],
           "payers": payers, "invs": list(invs)}
    date = rnd.choice(["20261121"] * 6 + ["20240229", "20000229", "20261231", "19991231", "20260101"])
    ctx["date2"] = {"20261121": "20261122", "20240229": "20240301", "20000229": "20000301", "20261231": "20270101",
                    "19991231": "20000101", "20260101": "20251231"}[date]
    plan = rnd.choice([["PAY"]] * 5 + [["PAY", "REV"], ["PAY", "REC"], ["PAY", "REV", "REC"], ["PAY", "PAY"],
                                      ["PAY", "PAY", "REC"], ["REV"], ["REC"], ["PAY", "REV", "PAY"],
                                      ["PAY", "REV", "REV"], ["PAY", "IMP", "PAY"], ["PAY", "IMP", "REC"],
                                      ["PAY", "IMP", "REV", "PAY"], ["PAY", "PAY", "REV", "REC"]])
    if rnd.random() < ARGS.big:
        ctx["big"] = rnd.randint(8000, 20000)
        ctx["pool"] = [digits(rnd, 16) for _ in range(ctx["big"])]
        for _ in range(4):
            store_extra = gen_invoices(rnd)[0]
            invs.update(store_extra)
        if rnd.random() < 0.5:
            # dues of 13 digits: nearly every payment is applied, so that a day holds more than
            # the 8,192 payments of one write and a statement checks them all (306 among them)
            for v in invs.values():
                if rnd.random() < 0.8:
                    v["due"] = 999999999999999
        with open(rx + "/invoices.csv", "wb") as f:
            f.write(invoices_csv(invs))
        lib.sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/invoices.csv"])
        store = Store(invs)
        ctx["invs"] = list(invs)
        plan = rnd.choice([["PAY", "REV", "REC"], ["PAY", "REC"], ["PAY", "PAY"]])
        if rnd.random() < 0.4:
            ctx["bigday"] = True
            ctx["pool"] = list(dict.fromkeys(digits(rnd, rnd.choice([12, 15, 20])) for _ in range(3 * ctx["big"])))
            rnd.shuffle(ctx["pool"])
            for v in invs.values():
                v["due"], v["status"] = 999999999999999, "OPEN"
            with open(rx + "/invoices.csv", "wb") as f:
                f.write(invoices_csv(invs))
            lib.sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/invoices.csv"])
            store = Store(invs)
            plan = rnd.choice([["PAY", "PAY", "REC"], ["PAY", "REV", "REC"], ["PAY", "PAY", "REV", "REC"]])
    if not ctx.get("big") and rnd.random() < 0.08:
        # a field fuzz: one registry of many rows, nearly every one with a field at its edges
        ctx["big"], ctx["mutp"] = rnd.randint(100, 300), 0.9
        ctx["pool"] = [digits(rnd, rnd.choice([12, 13, 15, 20])) for _ in range(ctx["big"])]
        plan = rnd.choice([["PAY"], ["PAY", "REV"], ["PAY", "REC"]])
    diffs, stats, alltags = [], [], {"cfg_" + CFG}
    if len(plan) > 1 and "IMP" not in plan and rnd.random() < 0.3:
        return run_together(rnd, k, rx, plan, date, store, ctx, diffs, stats, alltags)
    seq = 0
    acked = []
    for bi, typ in enumerate(plan):
        tags = set()
        if typ == "IMP":
            # a later export (§9): updates invoices by invoice_no; payments stay
            for no, v in list(invs.items()):
                if rnd.random() < 0.5:
                    v = dict(v)
                    ch = rnd.randrange(4)
                    if ch == 0:
                        v["status"] = "CANCELLED" if v["status"] == "OPEN" else "OPEN"
                    elif ch == 1:
                        v["due"] = max(1, store.inv[no]["paid"] + rnd.choice([-1, 0, 1, 500]))
                    elif ch == 2:
                        v["pt"], v["pid"] = rnd.choice(payers)
                    invs[no] = v
            if rnd.random() < 0.5:
                nv, _ = gen_invoices(rnd)
                invs.update(nv)
            with open(rx + "/invoices2.csv", "wb") as f:
                f.write(invoices_csv(invs))
            lib.sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/invoices2.csv"])
            for no, v in invs.items():
                paid = store.inv[no]["paid"] if no in store.inv else 0
                store.inv[no] = dict(v, paid=paid)
            ctx["invs"] = list(store.inv)
            alltags.add("reimport")
            continue
        seq += 1
        clean = bi < len(plan) - 1 and rnd.random() < 0.7
        bdate_of = date if rnd.random() < 0.7 else rnd.choice([date, ctx["date2"]])
        bid, control, reg = gen_batch(rnd, typ, seq, bdate_of, store, ctx, tags, clean)
        alltags |= tags
        exp, new_store = oracle(store, bid, control, reg)
        seal, code = gen_seal(rnd, control, reg, tags)
        exp, changed = config_adjust(exp, typ, code)
        if changed:
            new_store = store
        data = build_archive(bid, control, reg, seal)

        def fail(what, d, data=data, control=control, reg=reg, resp=None):
            keep = os.path.join(SCRATCH, "fail", f"s{ARGS.seed}_c{k}_b{bi + 1}{what}")
            os.makedirs(keep, exist_ok=True)
            for n, b in (("inbound.zip", data), ("control.txt", control), ("registry.csv", reg), ("response.zip", resp or b"")):
                with open(os.path.join(keep, n), "wb") as f:
                    f.write(b)
            diffs.append(f"seed {ARGS.seed} case {k} batch {bi + 1}{what} {bid} [{','.join(sorted(tags))}] kept {keep}")
            diffs.extend("    - " + x for x in d)
            if ARGS.verbose:
                diffs.append(f"    control={control!r:.600}")
                diffs.append(f"    registry={reg!r:.1500}")

        rname, resp, p = run_batch(rx, bid, data)
        d = compare(exp, bid, data, rname, resp)
        stats.append((typ, exp["result"], exp.get("code"), [r[2] for r in exp.get("rows", [])]))
        if d:
            fail("", d, resp=resp)
            break
        store = new_store
        # the same batch id again (§7.1)
        r = rnd.random()
        if exp["result"] == "NAK" and r < 0.3:
            # all earlier deliveries rejected: judged afresh, corrected content welcome
            tags2 = set()
            bid2, control2, reg2 = gen_batch(rnd, typ, seq, bdate_of, store, ctx, tags2, True)
            assert bid2 == bid
            exp2, st2 = oracle(store, bid, control2, reg2)
            exp2, changed = config_adjust(exp2, typ, None)
            if changed:
                st2 = store
            data2 = build_archive(bid, control2, reg2)
            rname, resp2, p = run_batch(rx, bid, data2)
            d = compare(exp2, bid, data2, rname, resp2)
            stats.append((typ, exp2["result"], exp2.get("code"), [x[2] for x in exp2.get("rows", [])]))
            alltags.add("resent_after_nak")
            if d:
                fail("-resent", d, data2, control2, reg2, resp2)
                break
            store, exp, data, resp, control, reg = st2, exp2, data2, resp2, control2, reg2
        r = rnd.random()
        if exp["result"] == "ACK" and r < 0.1:
            # the same bytes again: the stored ACK, byte for byte, nothing applied twice
            rname2, resp2, p = run_batch(rx, bid, data)
            alltags.add("redelivered")
            if resp2 != resp:
                fail("-redelivered", ["re-delivered archive not answered with the same bytes"], resp=resp2)
                break
        elif exp["result"] == "ACK" and r < 0.2:
            # other content under a processed batch id: B09, created_at per §8 from the new control.txt
            control3 = control + b"\n" if rnd.random() < 0.5 else control
            reg3 = reg if control3 != control else reg + b"\r\n"
            if rnd.random() < 0.3:
                control3 = control3.replace(b"created_at=", b"created_at=x", 1)
            _, cp = parse_control_copy_only(control3)
            if oracle(store, bid, control3, reg3)[0].get("code") == "B02":
                cp = None  # §8: copied only when the archive passed the B01 and B02 checks
            exp3 = {"result": "NAK", "code": "B10" if CFG == "types" and typ == "REC" else "B09", "why": "batch id already processed",
                    "created_at": cp or f"{bid.split('_')[3][:4]}-{bid.split('_')[3][4:6]}-{bid.split('_')[3][6:]}T00:00:00+05:00"}
            data3 = build_archive(bid, control3, reg3)
            rname, resp3, p = run_batch(rx, bid, data3)
            alltags.add("b09")
            d = compare(exp3, bid, data3, rname, resp3)
            if d:
                fail("-b09", d, data3, control3, reg3, resp3)
                break
        if exp["result"] == "ACK":
            acked.append((bid, data, resp))
    if not diffs and acked and rnd.random() < 0.3:
        # a late re-delivery, after later batches changed the store: still the stored ACK (§1, §7.1)
        bid, data, resp = rnd.choice(acked)
        rname2, resp2, p = run_batch(rx, bid, data)
        alltags.add("redelivered_late")
        if resp2 != resp:
            diffs.append(f"seed {ARGS.seed} case {k}: late re-delivery of {bid} not answered with the stored ACK")
    shutil.rmtree(rx, ignore_errors=True)
    return diffs, alltags, stats


def main():
    template()
    t0 = time.time()
    ks = list(range(ARGS.first, ARGS.first + ARGS.cases))
    if ARGS.jobs > 1:
        import multiprocessing
        pool = multiprocessing.get_context("fork").Pool(min(ARGS.jobs, 2))
        results = pool.imap(run_case, ks, chunksize=4)
    else:
        pool = None
        results = map(run_case, ks)
    bad, batches, rows = 0, 0, 0
    codes, statuses, tagc = {}, {}, {}
    for k, (diffs, tags, stats) in zip(ks, results):
        if diffs:
            bad += 1
            for x in diffs:
                print(x[:3000], flush=True)
        for t in tags:
            tagc[t] = tagc.get(t, 0) + 1
        for typ, res, code, sts in stats:
            batches += 1
            key = f"{typ} {res}{' ' + code if code else ''}"
            codes[key] = codes.get(key, 0) + 1
            for s in sts:
                rows += 1
                statuses[f"{typ}:{s}"] = statuses.get(f"{typ}:{s}", 0) + 1
    if pool:
        pool.close()
        pool.join()
    if ARGS.verbose:
        print("answers: " + ", ".join(f"{k} {v}" for k, v in sorted(codes.items())))
        print("row statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
        print("mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(tagc.items())))
    print(f"== oracle: {ARGS.cases - bad}/{ARGS.cases} cases OK (seed {ARGS.seed}, {batches} batches, {rows} rows; "
          f"{sum(v for k, v in codes.items() if 'ACK' in k)} ACK, {sum(v for k, v in codes.items() if 'NAK' in k)} NAK) "
          f"({time.time() - t0:.0f} s)", flush=True)
    if bad or os.environ.get("KEEP"):
        print(f"scratch folder kept: {SCRATCH}")
    else:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
