#!/usr/bin/env python3
"""Black-box suite: every message names the right place (munis-offline/1, §8 and §9).

The other suites compare codes and statuses; this one reads the texts. Each case plants exactly
one fault whose place is known from the agreement (AGREEMENT.md) and the README ("Decisions where
the agreement is silent", "Response `message`s"), and checks that the message names it:

- the NAK `message` of the response `control.txt`, for every code B01 to B10: the file (a
  B01/B02 message starts with the archive's file name and names the entry where there is one),
  the line and the key or field, and the values where they are the point (B08);
- the `message` column of `result.csv`: for 201/202 the `field` is the first failing field in
  column order and the message is about it; for the business statuses the message says what
  differs (301 the earlier line or batch, 305 which of amount / invoice / paid_at / state...);
- messages are one line of printable ASCII (other characters escaped), also for faults in a
  Cyrillic field of a windows-1251 or cp866 registry, and never hold a raw control byte;
- `reestr invoices import` of a bad billing export names every bad line and field (§9);
- `reestr check` gives the same answer, message and result.csv as `run` (every case).

Where the documents do not say which line-number convention applies (a registry record spanning
several physical lines through a quoted line break; the header counted or not), a case accepts
every reading the text allows and records which one the engine took; the last lines of the run
list the conventions seen, so that the product can document them.

    REESTR_BIN=target/release/reestr python3 conformance/messages.py [--seed S] [--cases N] [PATTERN...]

Fixed cases run first, then N seeded random cases (default seed 1, 150 cases); PATTERN selects
cases whose name contains it (`fixed`, `b06`, `seed3-017`...). The last line is
`== messages: N/M cases OK`; exit 1 on any failure (the scratch folder is then kept, with the
receiver of each failing case). CONFORMANCE_JOBS=N runs N cases at a time. Standard library only.
"""
import argparse, collections, hashlib, hmac, json, os, random, re, shutil, struct, sys, time, traceback, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_ap = argparse.ArgumentParser(description="message places: every NAK message, row message and "
                              "export refusal names the right file, line and field")
_ap.add_argument("--seed", type=int, default=1)
_ap.add_argument("--cases", type=int, default=150, help="seeded random cases (default 150)")
_ap.add_argument("patterns", nargs="*", help="run only cases whose name contains one of these")
ARGS = _ap.parse_args()
sys.argv = sys.argv[:1]  # lib reads nothing from argv, but keep it clean

import lib  # noqa: E402
from lib import (BIN, KEY, SCRATCH, HDR, PYENC, INV, P1, P2, TIN1, MFO, ACC, make_pinfl,  # noqa: E402
                 make_account, build_zip, fmt_amount, new_receiver, sh, run_archive)
import zipraw  # noqa: E402

CREATED = "2026-11-22T01:05:00+05:00"
DATE = "20261121"
DAY = "2026-11-21"
ENCS = ["utf-8", "windows-1251", "cp866"]
TYPES = ["PAY", "REV", "REC"]
CTL_ORDER = ["format", "batch_id", "type", "sender", "receiver", "business_date", "created_at",
             "encoding", "rows", "amount_total"]
AMOUNT_RE = re.compile(r"[0-9]{1,13}\.[0-9]{2}")


def bid(typ="PAY", seq=1, date=DATE, snd="MUNIS", rcv="SUDBILLING"):
    return f"{snd}_{rcv}_{typ}_{date}_{seq:03d}" if isinstance(seq, int) else f"{snd}_{rcv}_{typ}_{date}_{seq}"


# ====================================================================================
# the case context: receivers, submitting an archive to `check` and `run`, findings
# ====================================================================================
class Cx:
    def __init__(self, name):
        self.name, self.diffs, self.notes, self.conv = name, [], [], []
        self.rxs = []
        self.plan = ""

    def receiver(self, suffix="", **kw):
        rx = new_receiver(self.name + suffix, **kw)
        self.rxs.append(rx)
        return rx

    def fail(self, s):
        self.diffs.append(s)

    def note(self, s):
        self.notes.append(s)

    def convention(self, topic, reading):
        """A choice the documents leave open: the answer the engine gave."""
        self.conv.append((topic, reading))

    def readings(self, topic, held):
        """held: {reading: whether the message agrees with it}, recorded when the readings
        give different numbers; the summary tells which reading held in every case."""
        self.conv.append((topic, tuple(sorted(held.items()))))


def printable(s):
    return all(0x20 <= ord(c) < 0x7F for c in s)


def submit(cx, rx, name, data, check=True, enc=None):
    """`check --json` then `run` of one archive; compares the two; returns the parsed run
    response (lib.run_archive) with "msg" and "rows" (list of (line, pid, status, field, msg))."""
    doc, text = None, None
    if check:
        d = os.path.join(rx, "check")
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(data)
        c = sh([BIN, "--config", rx + "/reestr.toml", "check", "--json", p], check=False)
        try:
            doc = json.loads(c.stdout)
        except ValueError:
            cx.fail(f"check --json printed no JSON (exit {c.returncode}): {c.stderr[-300:]!r}")
        if c.returncode != 0:
            cx.fail(f"check --json exited {c.returncode}")
        t = sh([BIN, "--config", rx + "/reestr.toml", "check", p], check=False)
        text = t.stdout
        if t.returncode != 0:
            cx.fail(f"check exited {t.returncode}")
    r = run_archive(rx, name, data)
    if not r.get("name"):
        cx.fail(f"run wrote no response for {name}: {r['stdout'][-300:]!r} {r['stderr'][-400:]!r}")
        return None
    ctl = r["ctl"]
    r["msg"] = ctl.get("message")
    r["code"] = ctl.get("error")
    # the message line of control.txt, as bytes
    for line in r["control_raw"].split(b"\n"):
        if line.startswith(b"message="):
            if not all(0x20 <= b < 0x7F for b in line):
                cx.fail(f"NAK message is not printable ASCII: {line!r}")
    if r["msg"] is not None and not r["msg"]:
        cx.fail("NAK message is empty")
    rows = []
    if "result_raw" in r:
        e = PYENC.get(ctl.get("encoding") or enc or "utf-8", "utf-8")
        raw_rows, _ = lib.split_csv_raw(r["result_raw"])
        for rr in raw_rows[1:]:
            vals = [fb for fb, _ in rr]
            if len(vals) != 5:
                cx.fail(f"result.csv row of {len(vals)} fields: {vals!r}")
                continue
            m = vals[4]
            if not all(0x20 <= b < 0x7F for b in m):
                cx.fail(f"row message not printable ASCII: line {vals[0]!r}: {m!r}")
            rows.append((vals[0].decode(), vals[1].decode(e, errors="replace"), vals[2].decode(),
                         vals[3].decode(), m.decode("latin-1")))
    r["rows"] = rows
    if text is not None:
        # `check` (text): "FILE: would answer NAK Bxx", the message indented, then the would-be control.txt
        tl = text.split(b"\n")
        head = tl[0].decode("latin-1")
        want_head = f"would answer {ctl.get('result')}" + (f" {ctl.get('error')}" if ctl.get("error") else "")
        if not head.endswith(want_head):
            cx.fail(f"check says {head!r}, run answered {want_head!r}")
        if r["msg"] is not None:
            shown = tl[1].decode("latin-1")[2:] if len(tl) > 1 else None
            if shown != r["msg"]:
                cx.fail(f"check (text) shows message {shown!r}, run's response says {r['msg']!r}")
        i = text.find(b"--- control.txt\n")
        if i < 0 or not text[i + 16:].startswith(r["control_raw"]):
            cx.fail(f"check (text) shows another control.txt than run's response: {text[i + 16:i + 16 + 600]!r}")
        if "result_raw" in r:
            i = text.find(b"--- result.csv\n")
            if i < 0 or not text[i + 15:].startswith(r["result_raw"]):
                cx.fail(f"check (text) shows another result.csv than run's response: {text[i + 15:i + 15 + 300]!r} "
                        f"vs {r['result_raw'][:300]!r}")
    if doc is not None:
        same = (doc.get("result"), doc.get("code"), doc.get("message")) == (ctl.get("result"), ctl.get("error"), ctl.get("message"))
        if not same:
            cx.fail(f"check --json and run differ: check --json {doc.get('result')} {doc.get('code')} message {doc.get('message')!r}; "
                    f"run {ctl.get('result')} {ctl.get('error')} message {ctl.get('message')!r}")
        if doc.get("control") != r["control_raw"].decode("latin-1"):
            cx.fail(f"check --json control differs from run's control.txt: {doc.get('control')!r}")
        if ctl.get("result") == "ACK":
            e = PYENC.get(ctl.get("encoding"), "utf-8")
            got = r["result_raw"].decode(e, errors="replace")
            if doc.get("result_csv") != got:
                cx.fail(f"check's result.csv differs from run's: {str(doc.get('result_csv'))[:300]!r} vs {got[:300]!r}")
    return r


# ---------------- what a message must name ----------------
def word_in(msg, w, ci=False):
    """w appears in msg as a whole name (not part of a longer name such as manifest.sha256.hmac)."""
    pat = r"(?<![\w.])" + re.escape(w) + r"(?![\w]|\.\w)"
    return re.search(pat, msg, re.I if ci else 0) is not None


def esc_forms(s):
    """The ways a name may be written escaped in a one-line ASCII message (README: `\\u{...}`;
    Rust's escape_debug also writes \\t \\r \\n \\0 \\\\)."""
    def f1(c):
        return c if 0x20 <= ord(c) < 0x7F else "\\u{%x}" % ord(c)
    dbg = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\0": "\\0", "\\": "\\\\", '"': '\\"', "'": "\\'"}

    def f2(c):
        return dbg.get(c) or f1(c)

    def f3(c):
        return dbg[c] if c in "\t\r\n\0" else f1(c)
    return {"".join(map(f, s)) for f in (f1, f2, f3)}


def need(cx, msg, cond, what):
    if not cond:
        cx.fail(f"message does not {what}: {msg!r}")


def need_word(cx, msg, w, what=None, ci=False):
    need(cx, msg or "", word_in(msg or "", w, ci), what or f"name {w!r}")


def need_any(cx, msg, words, what, ci=True):
    need(cx, msg or "", any(word_in(msg or "", w, ci) for w in words), what)


def need_name(cx, msg, name, what="name the entry"):
    need(cx, msg or "", any(f in (msg or "") for f in esc_forms(name)), f"{what} {name!r} (escaped: {sorted(esc_forms(name))[0]!r})")


def numbers(msg, word):
    return [int(x) for x in re.findall(r"\b" + word + r"s? (\d+)", msg or "", re.I)]


def need_line(cx, msg, readings, topic, rows=None):
    """readings: {reading: line number} the text allows; rows: {reading: number} allowed when the
    message says `row N`. Records which reading the engine took when they differ."""
    lines, rws = numbers(msg, "line"), numbers(msg, "row")
    hit = sorted({k for k, v in readings.items() if v in lines} | {k for k, v in (rows or {}).items() if v in rws})
    if not hit:
        want = ", ".join(f"line {v} ({k})" for k, v in readings.items())
        if rows:
            want += ", " + ", ".join(f"row {v} ({k})" for k, v in rows.items())
        cx.fail(f"[{topic}] message names line(s) {lines} row(s) {rws}, expected {want}: {msg!r}")
        return
    allr = dict(readings)
    allr.update({k + " (as row N)": v for k, v in (rows or {}).items()})
    if len(set(allr.values())) > 1:
        cx.readings(topic, {k: (k in hit or k[:-len(" (as row N)")] in hit) for k in allr})


def need_field(cx, msg, name, pos, topic="field"):
    """The field, by its name or its 1-based position (field N / column N)."""
    ok = word_in(msg or "", name) if name else False
    pos_ok = bool(re.search(r"\b(field|column|position)\s+%d\b" % pos, msg or "", re.I))
    if not (ok or pos_ok):
        cx.fail(f"[{topic}] message names neither field {name!r} nor its position {pos}: {msg!r}")
    elif ok and pos_ok:
        cx.convention(topic, "by name and position")
    else:
        cx.convention(topic, "by name" if ok else "by position")


def expect_nak(cx, r, code):
    if r is None:
        return None
    if r["ctl"].get("result") != "NAK" or r["code"] != code:
        cx.fail(f"expected NAK {code}, got {r['ctl'].get('result')} {r['code']} {r['msg']!r}")
        return None
    return r["msg"]


def b0102(cx, msg, archive_name, entry=None):
    need(cx, msg, (msg or "").startswith(archive_name), f"start with the archive's name {archive_name!r}")
    if entry is not None:
        need_name(cx, msg, entry)


# ====================================================================================
# registries built field by field, so that the place of every byte is known
# ====================================================================================
LAT_WORDS = ["Aliyev", "Karimova", "Toshkent", "sud", "boj", "to'lov", "jarima", "Dilnoza", "MChJ",
             "Anvar", "davlat", "xizmat", "O'zbekiston", "ish", "raqam"]
CYR_WORDS = ["Алиев", "Каримова", "Тошкент", "суд", "бож", "тўлов", "жарима", "Дилноза", "МЧЖ",
             "Анвар", "давлат", "хизмат", "Ўзбекистон", "штраф", "пошлина", "ЁЛҒИЗ".replace("Ғ", "Г")]
SPECIAL = [";", '"', "\"quoted\"", "a;b", "\u2116 5"]  # № exists in cp1251 and cp866


def words(rng, n, cyr=True, special=False):
    pool = LAT_WORDS + (CYR_WORDS if cyr else [])
    out = [rng.choice(pool) for _ in range(n)]
    if special and rng.random() < 0.3:
        out.insert(rng.randrange(len(out) + 1), rng.choice(SPECIAL))
    return " ".join(out)


def multiline(rng, enc, nlines=None, eol=None):
    nlines = nlines or rng.randint(2, 4)
    eol = eol or rng.choice(["\r\n", "\n"])
    return eol.join(words(rng, rng.randint(1, 3)) for _ in range(nlines))


class Registry:
    """A registry of records; a field is a str (encoded, quoted when it must be or when asked)
    or bytes (written as they are). build() gives the bytes; offsets of every record and field
    are kept, so phys(offset) tells the physical line (1 + the LFs before it)."""

    def __init__(self, typ, enc, eol="\r\n", final_eol=True, bom=False, header=None):
        self.typ, self.enc, self.py = typ, enc, PYENC[enc]
        self.names = HDR[typ].split(";")
        self.header = header if header is not None else list(self.names)
        self.recs, self.vals = [], []
        self.eol, self.final_eol, self.bom = eol, final_eol, bom
        self.quote_all = False

    def add(self, fields, vals=None):
        self.recs.append(list(fields))
        self.vals.append(list(vals) if vals is not None else [f if isinstance(f, str) else None for f in fields])

    def field_bytes(self, f):
        if isinstance(f, bytes):
            return f
        b = f.encode(self.py)
        if self.quote_all or any(c in f for c in ';"\r\n'):
            return b'"' + b.replace(b'"', b'""') + b'"'
        return b

    def build(self):
        out = bytearray(b"\xef\xbb\xbf" if self.bom else b"")
        self.hdr_off = []
        for i, h in enumerate(self.header):
            if i:
                out += b";"
            self.hdr_off.append(len(out))
            out += self.field_bytes(h)
        self.rec_off, self.fld_off = [], []
        for rec in self.recs:
            out += self.eol.encode()
            self.rec_off.append(len(out))
            offs = []
            for j, f in enumerate(rec):
                if j:
                    out += b";"
                offs.append(len(out))
                out += self.field_bytes(f)
            self.fld_off.append(offs)
        if self.final_eol:
            out += self.eol.encode()
        self.data = bytes(out)
        return self.data

    def phys(self, off):
        return 1 + self.data.count(b"\n", 0, off)

    def counts(self):
        """rows and amount_total of control.txt (§6)."""
        ai = self.names.index("amount")
        tot = 0
        for v in self.vals:
            if len(v) == len(self.names) and isinstance(v[ai], str) and AMOUNT_RE.fullmatch(v[ai]):
                a, b = v[ai].split(".")
                tot += int(a) * 100 + int(b)
        return len(self.recs), fmt_amount(tot)

    def max_line(self):
        return max(len(x.rstrip(b"\r")) if i < len(self.data.split(b"\n")) - 1 else len(x)
                   for i, x in enumerate(self.data.split(b"\n")))


def rand_pid(rng, used):
    while True:
        p = str(rng.randint(10 ** 11, 10 ** 13))
        if p not in used:
            used.add(p)
            return p


def rand_amount(rng, lo=100, hi=99999):
    return fmt_amount(rng.randint(lo, hi))


def valid_row(rng, typ, used, enc="utf-8", ml=0.0):
    """A well-formed row of typ (its business status does not matter to the NAK families)."""
    pid = rand_pid(rng, used)
    t = "%s %02d:%02d:%02d" % (DAY, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    if typ == "PAY":
        inv = rng.choice(["A", "B", "C"] + ["N%d" % i for i in range(10, 40)])
        no, pt, pid_, _, _, _ = INV[inv]
        name = multiline(rng, enc) if rng.random() < ml else words(rng, rng.randint(1, 3), special=True)
        purpose = multiline(rng, enc) if rng.random() < ml else words(rng, rng.randint(0, 4), special=True)
        return [pid, t, no, pt, pid_, name, rand_amount(rng), "860", MFO, rng.choice([ACC, ""]), purpose]
    if typ == "REV":
        reason = multiline(rng, enc) if rng.random() < ml else words(rng, rng.randint(1, 3), special=True)
        return [pid, t, rand_amount(rng), reason]
    return [pid, t, INV[rng.choice(["A", "B", "C"])][0], rand_amount(rng), rng.choice(["PAID", "REVERSED"])]


def random_registry(rng, typ, enc, n=None, ml=0.3, used=None):
    reg = Registry(typ, enc, eol=rng.choice(["\r\n", "\n"]), final_eol=rng.random() < 0.85,
                   bom=(enc == "utf-8" and rng.random() < 0.2))
    reg.quote_all = rng.random() < 0.1
    used = used if used is not None else set()
    for _ in range(n if n is not None else rng.randint(1, 8)):
        reg.add(valid_row(rng, typ, used, enc, ml))
    return reg


# ====================================================================================
# control.txt, manifest and archive
# ====================================================================================
def ctl_items(b, enc, rows, total, created=CREATED):
    p = b.split("_")
    d = p[3]
    return [["format", "munis-offline/1"], ["batch_id", b], ["type", p[2]], ["sender", p[0]],
            ["receiver", p[1]], ["business_date", f"{d[:4]}-{d[4:6]}-{d[6:]}"], ["created_at", created],
            ["encoding", enc], ["rows", str(rows)], ["amount_total", total]]


class Ctl:
    """control.txt as a list of lines (text, key, line end); line numbers are list positions + 1."""

    def __init__(self, items, rng=None, shuffle=False, blanks=0.0, eol="\n"):
        order = [list(x) for x in items]
        if rng and shuffle:
            rng.shuffle(order)
        self.eol = eol
        self.lines = []
        for k, v in order:
            while rng and rng.random() < blanks:
                self.lines.append({"text": "", "key": None, "eol": None})
            self.lines.append({"text": f"{k}={v}", "key": k, "eol": None})
        while rng and rng.random() < blanks:
            self.lines.append({"text": "", "key": None, "eol": None})

    def idx(self, key):
        return next(i for i, l in enumerate(self.lines) if l["key"] == key)

    def line_of(self, key):
        return self.idx(key) + 1

    def set(self, key, value):
        self.lines[self.idx(key)]["text"] = f"{key}={value}"

    def render(self):
        out = b""
        for l in self.lines:
            t = l["text"]
            out += (t if isinstance(t, bytes) else t.encode("latin-1")) + (l["eol"] if l["eol"] is not None else self.eol).encode()
        return out


def manifest_of(files):
    return "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files).encode()


def sign(man):
    return hmac.new(KEY, man, hashlib.sha256).hexdigest().encode()


def archive(b, reg_bytes, ctl_bytes, manifest=None, hmac_val=None, extra=(), key=True, method=zipfile.ZIP_DEFLATED):
    files = [("control.txt", ctl_bytes), ("registry.csv", reg_bytes)] + list(extra)
    man = manifest if manifest is not None else manifest_of(files)
    out = files + [("manifest.sha256", man)]
    if key:
        out.append(("manifest.sha256.hmac", hmac_val if hmac_val is not None else sign(man)))
    return build_zip(out, method=method)


def entries(b, reg_bytes, ctl_bytes, extra=()):
    """The entries of a correct archive, for zipraw (faults planted by the caller)."""
    files = [("control.txt", ctl_bytes), ("registry.csv", reg_bytes)] + list(extra)
    man = manifest_of(files)
    files += [("manifest.sha256", man), ("manifest.sha256.hmac", sign(man))]
    return [{"name": n, "data": d} for n, d in files]


def simple_batch(rng=None, typ="PAY", enc="utf-8", n=2, seq=1):
    rng = rng or random.Random(0)
    reg = random_registry(rng, typ, enc, n=n, ml=0.0)
    data = reg.build()
    rows, total = reg.counts()
    b = bid(typ, seq)
    return b, reg, data, Ctl(ctl_items(b, enc, rows, total)).render()


def control_of(b, enc, reg):
    """The correct control.txt of batch b for registry reg (its rows and amount_total)."""
    rows, total = reg.counts()
    return Ctl(ctl_items(b, enc, rows, total)).render()


def registry_nak(cx, rx, rng, typ, enc, reg, data, code):
    """Sends registry bytes `data` (built from reg, with one fault planted) as a batch of a
    random sequence number with a correct control.txt; (batch id, the NAK message, or None
    when the answer was not the NAK `code`, already recorded as a failure)."""
    b = bid(typ, rng.randint(1, 999))
    r = submit(cx, rx, b + ".zip", archive(b, data, control_of(b, enc, reg)), enc=enc)
    return b, expect_nak(cx, r, code)


# ====================================================================================
# NAK families (each plants one fault; seeded and fixed cases share them)
# ====================================================================================
def fam_b06(cx, rng, kind=None, key=None):
    """control.txt: one fault on one key's line, in a random layout (order, blank lines, LF/CRLF)."""
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, ml=0.2)
    data = reg.build()
    rows, total = reg.counts()
    ctl = Ctl(ctl_items(b, enc, rows, total), rng, shuffle=True, blanks=0.15, eol=rng.choice(["\n", "\r\n"]))
    kind = kind or rng.choice(["bad", "bad", "mismatch", "repeat", "unknown", "spaces", "lone_cr", "cr_crlf",
                               "no_eq", "non_ascii", "ctl_char", "missing"])
    bad = {
        "format": ["munis-offline/2", "MUNIS-OFFLINE/1", "", "munis-offline/1/"],
        "batch_id": [b.lower(), b + "x", ""],
        "type": ["XXX", "pay", ""],
        "sender": ["munis", "", "MU NIS"],
        "receiver": ["sudbilling", ""],
        "business_date": ["2026-13-01", DATE, "2026-11-21T00:00", "", "21.11.2026"],
        "created_at": ["2026-11-22 01:05:00", "2026-11-22T01:05:00", "2026-11-22T25:05:00Z", "", "yesterday"],
        "encoding": ["koi8-r", "utf8", "", "cp1252"],
        "rows": ["two", "-1", "", "1.0", "0x10"],
        "amount_total": [total.split(".")[0], total[:-1], "1,000.00", "", "abc"],
    }
    mismatch = {
        "batch_id": [bid(typ, int(b[-3:]) % 999 + 1)],
        "type": [t for t in TYPES if t != typ],
        "sender": ["OTHER", "MUNIS2"],
        "receiver": ["OTHER", "SUDBILLING2"],
        "business_date": ["2026-11-20", "2026-11-22"],
    }
    if kind == "mismatch":
        key = key or rng.choice(sorted(mismatch))
    else:
        key = key or rng.choice(CTL_ORDER)
    cx.plan = f"B06 {kind} on key {key}"
    L = ctl.line_of(key)
    topic = None
    want_key = True
    if kind in ("bad", "mismatch"):
        v = rng.choice((bad if kind == "bad" else mismatch)[key])
        ctl.set(key, v)
        cx.plan += f" = {v!r}"
    elif kind == "repeat":
        first = ctl.idx(key)
        pos = rng.randint(0, len(ctl.lines))
        ctl.lines.insert(pos, dict(ctl.lines[first]))
        firsts = [i + 1 for i, l in enumerate(ctl.lines) if l["key"] == key]
        readings = {"the repeat": firsts[1], "the first occurrence": firsts[0]}
        r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl.render()), enc=enc)
        msg = expect_nak(cx, r, "B06")
        if msg is not None:
            need_word(cx, msg, "control.txt")
            need_word(cx, msg, key)
            need_line(cx, msg, readings, "B06 repeated key: line named")
        return
    elif kind == "unknown":
        uk = rng.choice(["foo", "Format", "ROWS", "row", "amount", "checksum", "batch-id"])
        pos = rng.randint(0, len(ctl.lines))
        ctl.lines.insert(pos, {"text": f"{uk}={rng.choice(['1', 'x', ''])}", "key": uk, "eol": None})
        key, L = uk, pos + 1
    elif kind == "spaces":
        k, v = ctl.lines[L - 1]["text"].split("=", 1)
        ctl.lines[L - 1]["text"] = rng.choice([f"{k} ={v}", f"{k}= {v}", f"{k} = {v}", f"{k}={v} ", f"{k}\t={v}"])
    elif kind == "lone_cr":
        while L < len(ctl.lines) and ctl.lines[L]["text"] == "":
            del ctl.lines[L]  # a blank line after it would make the CR a CRLF line end
        ctl.lines[L - 1]["eol"] = "\r"
    elif kind == "cr_crlf":
        ctl.lines[L - 1]["eol"] = "\r\r\n"
    elif kind == "no_eq":
        k, v = ctl.lines[L - 1]["text"].split("=", 1)
        ctl.lines[L - 1]["text"] = rng.choice([k + v, k + ":" + v, k + " " + v])
        want_key = False  # the line has no key; its text may be quoted
    elif kind == "non_ascii":
        k, v = ctl.lines[L - 1]["text"].split("=", 1)
        ctl.lines[L - 1]["text"] = (f"{k}={v}").encode() + rng.choice(["ё".encode(), b"\xa0", "Ж".encode("cp1251"), b"\xff"])
    elif kind == "ctl_char":
        k, v = ctl.lines[L - 1]["text"].split("=", 1)
        ctl.lines[L - 1]["text"] = f"{k}={v}" + rng.choice(["\x1b[2J", "\x00", "\x07", "\x7f", "\x0b"])
    elif kind == "missing":
        del ctl.lines[L - 1]
        L = None
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl.render()), enc=enc)
    msg = expect_nak(cx, r, "B06")
    if msg is None:
        return
    need_word(cx, msg, "control.txt")
    if want_key:
        need_word(cx, msg, key)
    if L is not None:
        need_line(cx, msg, {"the line": L}, topic or "B06")
    if kind == "mismatch":
        need_any(cx, msg, ["archive name", "name", "archive"], "say the value differs from the archive name")


def fam_b08(cx, rng, key=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, ml=0.3)
    if rng.random() < 0.3:  # rows of the wrong length and malformed amounts (counted as 0, §6)
        reg.add(["1", "2"])
        if typ != "REC":
            r2 = valid_row(rng, typ, set(), enc)
            r2[reg.names.index("amount")] = "1.5"
            reg.add(r2)
    data = reg.build()
    rows, total = reg.counts()
    ctl = Ctl(ctl_items(b, enc, rows, total), rng, shuffle=True, blanks=0.15, eol=rng.choice(["\n", "\r\n"]))
    key = key or rng.choice(["rows", "amount_total"])
    if key == "rows":
        declared = str(max(0, rows + rng.choice([-1, 1, 2, -2, 10, 1000])))
        if declared == str(rows):
            declared = str(rows + 1)
        actual = str(rows)
    else:
        t = int(total.replace(".", ""))
        declared = fmt_amount(max(0, t + rng.choice([-1, 1, 100, -100, 12345, 10 ** 9])))
        if declared == total:
            declared = fmt_amount(t + 1)
        actual = total
    ctl.set(key, declared)
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl.render()), enc=enc)
    msg = expect_nak(cx, r, "B08")
    if msg is None:
        return
    need_word(cx, msg, "control.txt")
    need_word(cx, msg, key)
    need_line(cx, msg, {"the key's line": ctl.line_of(key)}, "B08")
    need(cx, msg, declared in msg, f"name the declared value {declared}")
    need(cx, msg, re.search(r"(?<![\d.])" + re.escape(actual) + r"(?![\d])", msg) is not None,
         f"name the registry's value {actual}")
    need_word(cx, msg, "registry.csv", "name registry.csv")


UTF8_BAD = [b"\xff", b"\xfe", b"\xc3(", b"\xe2\x82(", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80", b"\xf5\x80\x80\x80", b"\xf0\x9f\x98"]


def plant_bytes(rng, reg, k, j, enc, ml):
    """Field j of record k (0 = header) gets bytes invalid in enc; returns the fault's offset
    within the field bytes (after build)."""
    bad = rng.choice(UTF8_BAD) if enc == "utf-8" else b"\x98"
    py = PYENC[enc]
    pre = words(rng, rng.randint(0, 2)).encode(py)
    post = words(rng, rng.randint(0, 2)).encode(py)
    if k > 0 and ml:
        pre = pre + rng.choice([b"\r\n", b"\n"]) + words(rng, rng.randint(1, 2)).encode(py)
        if rng.random() < 0.5:
            post = post + b"\r\n" + words(rng, 1).encode(py)
        raw = b'"' + pre + bad + post + b'"'
        inner = 1 + len(pre)
    elif rng.random() < 0.3:
        raw = b'"' + pre + bad + post + b'"'
        inner = 1 + len(pre)
    else:
        raw, inner = pre + bad + post, len(pre)
    if k == 0:
        reg.header[j] = raw
    else:
        reg.recs[k - 1][j] = raw
        reg.vals[k - 1][j] = None
    return inner


def registry_readings(reg, k, fault_off):
    """The readings of a registry line number for a fault at fault_off in record k."""
    F = reg.phys(fault_off)
    if k == 0:
        return {"physical line": F}, {}
    P = reg.phys(reg.rec_off[k - 1])
    return ({"physical line of the fault": F, "first physical line of the record": P,
             "record number (header = 1)": k + 1}, {"data row number": k})


def fam_b07_bytes(cx, rng, enc=None, k=None, ml=None):
    typ = rng.choice(TYPES)
    enc = enc or rng.choice(["utf-8", "utf-8", "windows-1251"])  # every byte of cp866 is valid
    reg = random_registry(rng, typ, enc, ml=0.3)
    n = len(reg.recs)
    k = k if k is not None else (0 if rng.random() < 0.1 else rng.randint(1, n))
    j = rng.randrange(len(reg.names))
    ml = (rng.random() < 0.4) if ml is None else ml
    inner = plant_bytes(rng, reg, k, j, enc, ml)
    data = reg.build()
    off = (reg.hdr_off[j] if k == 0 else reg.fld_off[k - 1][j]) + inner
    b, msg = registry_nak(cx, cx.rx, rng, typ, enc, reg, data, "B07")
    if msg is None:
        return
    need_word(cx, msg, "registry.csv")
    readings, rws = registry_readings(reg, k, off)
    topic = "B07 invalid bytes: line named" + (" (header)" if k == 0 else "")
    need_line(cx, msg, readings, topic, rws)
    need_field(cx, msg, reg.names[j], j + 1, "B07 invalid bytes: field named" + (" (header)" if k == 0 else ""))
    need(cx, msg, enc in msg, f"name the declared encoding {enc}")


def fam_b07_header(cx, rng, kind=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    reg = random_registry(rng, typ, enc, ml=0.2)
    names = list(reg.names)
    h = list(names)
    kind = kind or rng.choice(["rename", "rename", "case", "drop", "extra", "swap", "other_type", "cyrillic", "space"])
    i = rng.randrange(len(h))
    if kind == "rename":
        h[i] = h[i] + rng.choice(["x", "_", "2"]) if rng.random() < 0.5 else h[i][:-1]
    elif kind == "case":
        h[i] = h[i].upper()
    elif kind == "drop":
        del h[i]
    elif kind == "extra":
        h.insert(rng.randint(0, len(h)), rng.choice(["extra", "comment", "payment_id"]))
    elif kind == "swap":
        i = rng.randrange(len(h) - 1)
        h[i], h[i + 1] = h[i + 1], h[i]
    elif kind == "other_type":
        h = HDR[rng.choice([t for t in TYPES if t != typ])].split(";")
    elif kind == "cyrillic":
        h[i] = rng.choice(["плательщик", "сумма", "Ўзбек", "ИНН", h[i] + "\x1b[31m", h[i] + "\x07", "\x00"])
    elif kind == "space":
        h[i] = h[i] + " "
    if h == names:
        h[-1] = h[-1] + "x"
    first = next((p for p in range(max(len(h), len(names))) if p >= len(h) or p >= len(names) or h[p] != names[p]), None)
    reg.header = h
    data = reg.build()
    b, msg = registry_nak(cx, cx.rx, rng, typ, enc, reg, data, "B07")
    if msg is None:
        return
    need_word(cx, msg, "registry.csv")
    need_line(cx, msg, {"line 1": 1}, "B07 header")
    if first < len(names):
        # the first position that differs: by number, or by the schema's name there
        pos_ok = re.search(r"\b(field|column|position)\s+%d\b" % (first + 1), msg, re.I)
        need(cx, msg, pos_ok or ('"%s"' % names[first]) in msg.split("expected")[0],
             f"name the first differing position {first + 1} (schema {names[first]!r})")
    else:
        need(cx, msg, str(len(h)) in msg or any(w in msg for w in esc_forms(h[first])),
             f"name the extra field {h[first]!r} or the field count {len(h)}")


def fam_b07_quote(cx, rng, kind=None, ml=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    reg = random_registry(rng, typ, enc, ml=0.3)
    kind = kind or rng.choice(["after", "open"])
    py = PYENC[enc]
    ml = (rng.random() < 0.5) if ml is None else ml
    body = words(rng, rng.randint(1, 2)).encode(py)
    if ml:
        body += rng.choice([b"\r\n", b"\n"]) + words(rng, 1).encode(py)
    n = len(reg.recs)
    if kind == "after":
        k = rng.randint(1, n)
        j = rng.randrange(len(reg.names))
        reg.recs[k - 1][j] = b'"' + body + b'"' + rng.choice([b"x", b" ", b'x"', b"1"])
        reg.vals[k - 1][j] = None
        data = reg.build()
        off = reg.fld_off[k - 1][j] + 1 + len(body)  # the closing quote
    else:
        k = n
        j = rng.randrange(len(reg.names))
        tail = body + (rng.choice([b"\r\n", b"\n"]) + words(rng, 2).encode(py) if rng.random() < 0.5 else b"")
        reg.recs[k - 1] = reg.recs[k - 1][:j] + [b'"' + tail]
        reg.vals[k - 1] = reg.vals[k - 1][:j] + [None]
        data = reg.build()
        off = reg.fld_off[k - 1][j]  # the opening quote
    b, msg = registry_nak(cx, cx.rx, rng, typ, enc, reg, data, "B07")
    if msg is None:
        return
    need_word(cx, msg, "registry.csv")
    readings, rws = registry_readings(reg, k, off)
    what = "text after a closing quote" if kind == "after" else "quote open at the end of the file"
    topic = f"B07 {what}: line named"
    if kind == "open":
        readings = {("physical line of the opening quote" if x.startswith("physical") else x): v for x, v in readings.items()}
    need_line(cx, msg, readings, topic, rws)
    need_field(cx, msg, reg.names[j], j + 1, f"B07 {what}: field named")


def fam_b02_line(cx, rng, limit=None, where=None):
    """A physical registry line over max_line_bytes (§3: a physical line, in bytes, without its
    line end): the message names that physical line."""
    limit = limit or rng.randint(400, 700)
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    rx = cx.receiver("-lim", limits={"max_line_bytes": limit})
    for _ in range(20):
        reg = random_registry(rng, typ, enc, ml=0.3)
        reg.build()
        if reg.max_line() <= limit - 20:
            break
    py = PYENC[enc]
    where = where or rng.choice(["row", "row", "inside", "header", "last"])
    n = len(reg.recs)
    fill = lambda m: ("Ж" if enc != "utf-8" else "x") * m
    if where == "header":
        reg.header[-1] = reg.header[-1] + fill(limit)
        data = reg.build()
        F = 1
    else:
        k = n if where == "last" else rng.randint(1, n)
        if where == "last":
            reg.final_eol = False
        j = rng.randrange(len(reg.names))
        if where == "inside":
            reg.recs[k - 1][j] = b'"' + words(rng, 1).encode(py) + b"\r\n" + fill(limit + rng.randint(1, 5)).encode(py) + b"\r\nend" + b'"'
            data = reg.build()
            F = reg.phys(reg.fld_off[k - 1][j]) + 1
        else:
            reg.recs[k - 1][j] = fill(limit).encode(py)
            data = reg.build()
            F = reg.phys(reg.fld_off[k - 1][j])
    b, msg = registry_nak(cx, rx, rng, typ, enc, reg, data, "B02")
    if msg is None:
        return
    b0102(cx, msg, b + ".zip")
    need_word(cx, msg, "registry.csv")
    need_line(cx, msg, {"physical line": F}, "B02 line limit")
    need(cx, msg, str(limit) in msg, f"name the limit {limit}")


def fam_b04(cx, rng, kind=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, ml=0.2)
    data = reg.build()
    ctl = control_of(b, enc, reg)
    files = [("control.txt", ctl), ("registry.csv", data)]
    if rng.random() < 0.5:
        files.reverse()
    lines = [f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files]
    kind = kind or rng.choice(["sha", "malformed", "not_listed", "listed_missing", "twice", "no_lf", "lists_manifest", "crlf"])
    L, fname = None, None
    if kind == "sha":
        i = rng.randrange(2)
        fname = files[i][0]
        lines[i] = f"{hashlib.sha256(files[i][1] + b'x').hexdigest()}  {fname}\n"
        L = i + 1
    elif kind == "malformed":
        i = rng.randrange(3)
        h, n = lines[min(i, 1)][:64], lines[min(i, 1)][66:-1]
        bad = rng.choice([h.upper() + "  " + n, h + " " + n, h + " *" + n, h[:63] + "  " + n, h + "\t" + n, "", h + "  "])
        if i == 2:
            lines.append(bad + "\n")
        else:
            lines[i] = bad + "\n"
        L = i + 1
    elif kind == "not_listed":
        i = rng.randrange(2)
        fname = files[i][0]
        del lines[i]
    elif kind == "listed_missing":
        fname = rng.choice(["extra.txt", "registry.CSV", "control", "readme.md"])
        pos = rng.randint(0, 2)
        lines.insert(pos, f"{hashlib.sha256(b'').hexdigest()}  {fname}\n")
        L = pos + 1
    elif kind == "twice":
        i = rng.randrange(2)
        fname = files[i][0]
        lines.append(lines[i])
        L = 3
    elif kind == "no_lf":
        lines[-1] = lines[-1][:-1]
        L = 2
    elif kind == "lists_manifest":
        fname = rng.choice(["manifest.sha256", "manifest.sha256.hmac"])
        pos = rng.randint(0, 2)
        lines.insert(pos, f"{hashlib.sha256(b'').hexdigest()}  {fname}\n")
        L = pos + 1
    elif kind == "crlf":
        i = rng.randrange(2)
        lines[i] = lines[i][:-1] + "\r\n"
        L = i + 1
    man = "".join(lines).encode()
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl, manifest=man), enc=enc)
    msg = expect_nak(cx, r, "B04")
    if msg is None:
        return
    need_word(cx, msg, "manifest.sha256")
    if L is not None:
        topic = "B04" if kind != "twice" else "B04 file listed twice: line named"
        readings = {"the line": L}
        if kind == "twice":
            readings = {"the repeat": 3, "the first listing": lines.index(lines[-1]) + 1}
        need_line(cx, msg, readings, topic)
    if fname is not None:
        need_name(cx, msg, fname, "name the file")


def fam_b05(cx, rng, kind=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, ml=0.2)
    data = reg.build()
    ctl = control_of(b, enc, reg)
    man = manifest_of([("control.txt", ctl), ("registry.csv", data)])
    good = sign(man)
    kind = kind or rng.choice(["missing", "wrong", "upper", "truncated", "other_key", "two_eols", "empty", "spaces"])
    if kind == "missing":
        z = archive(b, data, ctl, key=False)
    else:
        hv = {"wrong": bytes(reversed(good)), "upper": good.upper(), "truncated": good[:40],
              "other_key": hmac.new(b"k" * 32, man, hashlib.sha256).hexdigest().encode(),
              "two_eols": good + b"\n\n", "empty": b"", "spaces": b" " + good}[kind]
        z = archive(b, data, ctl, hmac_val=hv)
    r = submit(cx, cx.rx, b + ".zip", z, enc=enc)
    msg = expect_nak(cx, r, "B05")
    if msg is None:
        return
    need_word(cx, msg, "manifest.sha256.hmac")
    says_missing = re.search(r"\b(missing|absent|no manifest\.sha256\.hmac)\b", msg, re.I) is not None
    if kind == "missing":
        need(cx, msg, says_missing, "say the HMAC is missing")
    elif kind == "empty":
        cx.convention("B05 empty HMAC entry", "called missing" if says_missing else "called wrong")
    else:
        need(cx, msg, not says_missing, "say the HMAC is wrong (it says missing)")
        need(cx, msg, re.search(r"match|wrong|invalid|not |differ|malformed", msg, re.I), "say the HMAC is wrong")


def fam_b03(cx, rng, kind=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, ml=0.2)
    data = reg.build()
    ctl = control_of(b, enc, reg)
    es = entries(b, data, ctl)
    kind = kind or rng.choice(["missing", "extra"])
    if kind == "missing":
        name = rng.choice(["control.txt", "registry.csv", "manifest.sha256"])
        es = [e for e in es if e["name"] != name]
    else:
        name = rng.choice(["Registry.csv", "registry.txt", "readme", "manifest.sha256.HMAC", "control.txt.bak",
                           "реестр.csv", "r\u00e9g.csv", " control.txt", "control.txt "])
        es.insert(rng.randint(0, len(es)), {"name": name, "data": b"x", "utf8": not name.isascii()})
    rng.shuffle(es)
    r = submit(cx, cx.rx, b + ".zip", zipraw.build(es), enc=enc)
    msg = expect_nak(cx, r, "B03")
    if msg is None:
        return
    need_name(cx, msg, name, "name the file")
    if kind == "missing":
        need_any(cx, msg, ["missing", "required"], "say it is missing")


B02_KINDS = ["slash", "dotdot", "absolute", "backslash", "dir_slash", "dir_mode", "symlink", "fifo", "encrypted",
             "strong", "method", "dup", "ctl_name", "empty_name", "drive", "patched"]


def fam_b02_entry(cx, rng, kind=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, ml=0.2)
    data = reg.build()
    ctl = control_of(b, enc, reg)
    es = entries(b, data, ctl)
    kind = kind or rng.choice(B02_KINDS)
    i = rng.randrange(len(es))
    e = es[i]
    name = e["name"]
    if kind == "slash":
        name = e["name"] = "sub/" + name
    elif kind == "dotdot":
        name = e["name"] = "../" + name
    elif kind == "absolute":
        name = e["name"] = "/" + name
    elif kind == "backslash":
        name = e["name"] = "sub\\" + name
    elif kind == "dir_slash":
        name = "data/"
        es.insert(rng.randint(0, len(es)), {"name": name, "data": b"", "method": 0, "ext_attr": 0o040755 << 16 | 0x10})
    elif kind == "dir_mode":
        e["ext_attr"] = 0o040755 << 16
    elif kind == "symlink":
        e["ext_attr"] = 0o120777 << 16
    elif kind == "fifo":
        e["ext_attr"] = 0o010644 << 16
    elif kind == "encrypted":
        e["flags"] = 1
    elif kind == "strong":
        e["flags"] = 0x41
    elif kind == "patched":
        e["flags"] = 0x20
    elif kind == "method":
        e["method"] = rng.choice([1, 6, 9, 12, 14, 93, 99])
        e["comp"] = e["data"]
    elif kind == "dup":
        es.insert(rng.randint(0, len(es)), dict(e))
    elif kind == "ctl_name":
        c = rng.choice(["\x01", "\x1b", "\n", "\r", "\x7f", "\t", "\u0085", "\u009b"])
        p = rng.randint(0, len(name))
        name = e["name"] = name[:p] + c + name[p:]
        e["utf8"] = not name.isascii() or rng.random() < 0.5
    elif kind == "empty_name":
        name = e["name"] = ""
    elif kind == "drive":
        name = e["name"] = rng.choice(["C:", "d:"]) + name
    r = submit(cx, cx.rx, b + ".zip", zipraw.build(es), enc=enc)
    msg = expect_nak(cx, r, "B02")
    if msg is None:
        return
    b0102(cx, msg, b + ".zip", name)
    if kind == "empty_name":
        need(cx, msg, '""' in msg or "empty" in msg, "name the empty entry")


def fam_b01(cx, rng, kind=None):
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    b = bid(typ, rng.randint(1, 999))
    reg = random_registry(rng, typ, enc, n=rng.randint(3, 10), ml=0.2)
    data = reg.build()
    ctl = control_of(b, enc, reg)
    es = entries(b, data, ctl)
    kind = kind or rng.choice(["crc", "deflate", "usize", "lname", "lcrc", "truncated_deflate", "between", "truncated"])
    i = rng.randrange(len(es))
    e = es[i]
    name = e["name"]
    extra = {}
    if kind == "crc":
        e["crc"] = (zipraw.zlib.crc32(e["data"]) ^ 0x5A5A) & 0xFFFFFFFF
    elif kind == "deflate":
        e["comp"] = b"\xff\xff\xff" + zipraw.deflate(e["data"])
    elif kind == "usize":
        e["usize"] = len(e["data"]) + rng.choice([-1, 1, 7])
    elif kind == "lname":
        e["lname"] = "x" + name[1:]
    elif kind == "lcrc":
        e["lcrc"] = 1
    elif kind == "truncated_deflate":
        e["comp"] = zipraw.deflate(e["data"])[:-3]
    elif kind == "cextra":
        # An NTFS block (0x000a) declaring 32 bytes with none after it, in the central record
        # only: the directory cannot be read as written, and the record at fault is this one.
        e["cextra"] = b"\x0a\x00\x20\x00"
    elif kind == "cts":
        # An extended timestamp block (0x5455) of no bytes, after a block of another id, in
        # the central record only: it fits the record, but holds not even its flags byte.
        e["cextra"] = b"\xfe\xca\x02\x00\x07\x07\x55\x54\x00\x00"
    elif kind == "cushort":
        # An Info-ZIP Unicode path block (0x7075) of 3 bytes: a version and part of the CRC
        # that must follow it.
        e["cextra"] = b"\x75\x70\x03\x00\x01\x02\x03"
    elif kind == "loff":
        # The central record names a local header where none starts (byte 7 lies inside the
        # first entry's local header).
        e["cd_offset"] = 7
    elif kind == "between":
        i = rng.randrange(len(es) - 1)
        es[i]["after"] = b"JUNK"
        name = None
    if kind in ("z64disk", "z64loc", "z64count"):
        extra["zip64_eocd"] = True
    z = zipraw.build(es, **extra)
    if kind in ("z64disk", "z64loc", "z64count"):
        # The zip64 end record (56 bytes) and its locator (20) before the end record (22, no
        # comment): the record's disk number (offset 16) other than the first; the locator's
        # count of disks (offset 16) two; or both the record's counts (offsets 24 and 32) three
        # more than the records written.
        rec = len(z) - 22 - 20 - 56
        z = bytearray(z)
        if kind == "z64disk":
            struct.pack_into("<I", z, rec + 16, 1)
        elif kind == "z64loc":
            struct.pack_into("<I", z, rec + 56 + 16, 2)
        else:
            struct.pack_into("<QQ", z, rec + 24, len(es) + 3, len(es) + 3)
        z = bytes(z)
        name = es[-1]["name"] if kind == "z64count" else None
    if kind == "truncated":
        z = z[:rng.randint(10, len(z) - 23)]
        name = None
    if kind == "csig":
        # The signature of a central record other than the first broken: the entry whose record
        # it follows is named.
        i = rng.randrange(1, len(es))
        at = struct.unpack_from("<I", z, len(z) - 6)[0]
        for _ in range(i):
            n, m, k = struct.unpack_from("<HHH", z, at + 28)
            at += 46 + n + m + k
        z = z[:at] + b"PK\x01\x03" + z[at + 4:]
        name = es[i - 1]["name"]
    r = submit(cx, cx.rx, b + ".zip", z, enc=enc)
    msg = expect_nak(cx, r, "B01")
    if msg is None:
        return
    b0102(cx, msg, b + ".zip", name)
    if kind == "between":
        need_name(cx, msg, es[i]["name"], "name the entry the junk follows")
    if kind == "loff":
        need(cx, msg, "no local file header" in msg, "say no local file header is where the record says")
    if kind in ("csig", "z64count"):
        need(cx, msg, "no central directory header follows" in msg, "say no central directory header follows")
    if kind == "z64disk":
        need(cx, msg, "its zip64 end record describes one part of an archive split over several disks" in msg,
             "say the zip64 end record describes a part of a split archive")
    if kind == "z64loc":
        need(cx, msg, "its zip64 end locator describes one part of an archive split over several disks" in msg,
             "say the zip64 end locator describes a part of a split archive")
    if kind in ("cextra", "cts", "cushort"):
        block = {"cextra": "0x000a", "cts": "0x5455", "cushort": "0x7075"}[kind]
        need(cx, msg, f"extra block {block}" in msg, f"name the extra block {block}")


def fam_b09_b10(cx, rng, kind=None):
    kind = kind or rng.choice(["b09", "sender", "receiver", "type"])
    typ, enc = rng.choice(TYPES), rng.choice(ENCS)
    if kind == "b09":
        b, reg, data, ctl = simple_batch(rng, typ, enc, seq=rng.randint(1, 999))
        r0 = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl), check=False, enc=enc)
        if r0 is None or r0["ctl"].get("result") != "ACK":
            cx.fail(f"setup batch not ACKed: {r0 and r0['ctl']}")
            return
        ctl2 = Ctl(ctl_items(b, enc, *reg.counts(), created="2026-11-22T01:06:00+05:00")).render()
        r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl2), enc=enc)
        msg = expect_nak(cx, r, "B09")
        if msg is not None:
            need_word(cx, msg, b, "name the batch id")
        return
    snd, rcv, what = "MUNIS", "SUDBILLING", None
    rx = cx.rx
    if kind == "sender":
        snd = what = rng.choice(["BANK", "MUNIS2", "XX"])
    elif kind == "receiver":
        rcv = what = rng.choice(["OTHER", "SUDBILLINX", "ZZ"])
    else:
        allowed = [t for t in TYPES if t != typ]
        rx = cx.receiver("-types")
        with open(rx + "/reestr.toml", "a") as f:
            f.write("types = [%s]\n" % ", ".join('"%s"' % t for t in allowed))
        what = typ
    b = bid(typ, rng.randint(1, 999), snd=snd, rcv=rcv)
    reg = random_registry(rng, typ, enc, ml=0.2)
    data = reg.build()
    ctl = Ctl(ctl_items(b, enc, *reg.counts())).render()
    r = submit(cx, rx, b + ".zip", archive(b, data, ctl), enc=enc)
    msg = expect_nak(cx, r, "B10")
    if msg is not None:
        need_word(cx, msg, what, f"name the {kind} {what}")
        need(cx, msg, kind in msg.lower(), f"say it is the {kind}")


# ====================================================================================
# row messages (result.csv)
# ====================================================================================
PAY_FAULTS = {
    "payment_id": [("", 201), ("12345", 202), ("12345678901a", 202), ("1" * 21, 202), (" 123456789012", 202)],
    "paid_at": [("", 201), ("2026-11-22 01:05:01", 202), ("2026-02-30 10:00:00", 202), ("2026-11-21T10:00:00", 202),
                ("2026-11-21 24:00:00", 202), ("0000-01-01 00:00:00", 202)],
    "invoice_no": [("", 201), ("123", 202), ("1000000000000000000X", 202), ("1" * 21, 202)],
    "payer_type": [("", 201), ("X", 202), ("p", 202), ("PJ", 202)],
    "payer_id": [("", 201), (P1[:-1] + str((int(P1[-1]) + 1) % 10), 202), ("1234567890123", 202), (TIN1, 202)],
    "payer_name": [("", 201), ("x" * 201, 202), ("Ж" * 201, 202)],
    "amount": [("", 201), ("0.00", 202), ("1.5", 202), ("-1.00", 202), ("1,00", 202), ("12345678901234.00", 202)],
    "currency": [("", 201), ("840", 202), ("UZS", 202)],
    "bank_mfo": [("", 201), ("1234", 202), ("123456", 202), ("abcde", 202)],
    "account": [(ACC[:8] + str((int(ACC[8]) + 1) % 10) + ACC[9:], 202), ("123", 202), ("Ж" * 20, 202)],
    "purpose": [("x" * 501, 202), ("Ў" * 501, 202)],
}
REV_FAULTS = {
    "payment_id": [("", 201)],
    "reversed_at": [("", 201), ("2026-11-23 00:00:00", 202), ("x", 202)],
    "amount": [("", 201), ("1.5", 202), ("1,00", 202)],
    "reason": [("", 201), ("x" * 201, 202), ("Ё" * 201, 202)],
}
REC_FAULTS = {
    "payment_id": [("", 201), ("12345", 202)],
    "paid_at": [("", 201), ("2026-11-20 10:00:00", 202), ("x", 202)],
    "invoice_no": [("", 201), ("123", 202)],
    "amount": [("", 201), ("1.5", 202)],
    "state": [("", 201), ("paid", 202), ("X", 202)],
}
FAULTS = {"PAY": PAY_FAULTS, "REV": REV_FAULTS, "REC": REC_FAULTS}


def plant_field_faults(rng, typ, vals):
    """Breaks 1 to 3 fields of a well-formed row; returns (status, first failing field)."""
    names = HDR[typ].split(";")
    table = FAULTS[typ]
    cols = sorted(rng.sample(sorted(table), rng.randint(1, min(3, len(table)))), key=names.index)
    first = None
    for c in cols:
        v, code = rng.choice(table[c])
        vals[names.index(c)] = v
        if first is None:
            first = (code, c)
    return first


def check_row(cx, got, want):
    """want: (line, status, field, predicate(msg) -> error or None)."""
    line, status, field, pred = want
    if got is None:
        cx.fail(f"no result.csv row for line {line}")
        return
    gl, gpid, gs, gf, gm = got
    if gs != str(status) or gf != field:
        cx.fail(f"line {line}: status/field {gs}/{gf!r} != expected {status}/{field!r} (message {gm!r})")
        return
    if field:
        need_word(cx, gm, field, f"name its field {field} (line {line})")
    if pred:
        e = pred(gm)
        if e:
            cx.fail(f"line {line} status {status}: message {gm!r} {e}")


def mentions(*ws, ci=True):
    def p(m):
        return None if any(word_in(m, w, ci) for w in ws) else f"does not mention any of {ws}"
    return p


def pay_vals(pid, inv, amount, rng, enc, paid_at=None, pt=None, payer=None):
    no, ipt, ipid, _, _, _ = INV[inv] if inv in INV else (inv, "P", P1, "", 0, 0)
    return [pid, paid_at or "%s 1%d:00:00" % (DAY, rng.randint(0, 9)), no, pt or ipt, payer or ipid,
            words(rng, 2), amount, "860", MFO, rng.choice([ACC, ""]), words(rng, rng.randint(0, 3), special=True)]


def earlier_line_pred(cx, earlier_rows, topic):
    """301 on an earlier line: the message names that line (result.csv's `line`, the data row,
    or the registry's physical line)."""
    def p(m):
        nums = numbers(m, "line") + numbers(m, "row")
        hit = [k for k, v in earlier_rows.items() if v in nums]
        if not hit:
            return f"names no earlier line holding the id (one of {sorted(set(earlier_rows.values()))})"
        if len(set(earlier_rows.values())) > 1:
            cx.readings(topic, {k: k in hit for k in earlier_rows})
        return None
    return p


def fam_rows_pay(cx, rng, n=None, force=None):
    enc = rng.choice(ENCS)
    used = set()
    rx = cx.rx
    # setup: payments applied before, and invoice N39 paid in full
    setup_b = bid("PAY", 1)
    setup = [pay_vals(rand_pid(rng, used), "N%d" % rng.randint(10, 30), rand_amount(rng), rng, enc) for _ in range(3)]
    setup.append(pay_vals(rand_pid(rng, used), "N39", "9999999.00", rng, enc))
    reg0 = Registry("PAY", enc)
    for v in setup:
        reg0.add(v)
    d0 = reg0.build()
    r0 = submit(cx, rx, setup_b + ".zip", archive(setup_b, d0, Ctl(ctl_items(setup_b, enc, *reg0.counts())).render()), check=False, enc=enc)
    if r0 is None or [x[2] for x in r0["rows"]] != ["1"] * 4:
        cx.fail(f"setup batch not all applied: {r0 and r0['rows']}")
        return
    applied = [v[0] for v in setup]
    b = bid("PAY", 2)
    reg = Registry("PAY", enc, eol=rng.choice(["\r\n", "\n"]))
    want = []
    pids_at = collections.defaultdict(list)  # pid -> data rows where it appears
    kinds = ["ok", "fault", "fault", "fault", "4", "301line", "301batch", "302cancel", "302paid", "303", "304", "count", "ml"]
    n = n or rng.randint(4, 12)
    for i in range(n):
        line = i + 1
        kind = force[i] if force and i < len(force) else rng.choice(kinds)
        if kind == "301line" and not pids_at:
            kind = "ok"
        if kind == "301batch" and not [p for p in applied if p not in pids_at]:
            kind = "ok"
        pid = rand_pid(rng, used)
        inv = "N%d" % rng.randint(10, 30)
        v = pay_vals(pid, inv, rand_amount(rng), rng, enc)
        pred, status, field = None, 1, ""
        if kind == "ml":
            v[10] = multiline(rng, enc)
        elif kind == "fault":
            status, field = plant_field_faults(rng, "PAY", v)
        elif kind == "4":
            v[2] = "2000000000000000%04d" % rng.randint(0, 9999)
            status, pred = 4, mentions("invoice", "invoice_no")
        elif kind == "301line":
            p = rng.choice(sorted(pids_at))
            v[0] = pid = p
            status = 301
            pred = ("301line", {f"data row (result.csv line) {r_}": r_ for r_ in pids_at[p]})
        elif kind == "301batch":
            p = rng.choice([p for p in applied if p not in pids_at])
            v[0] = pid = p
            status, pred = 301, ("301batch", setup_b)
        elif kind == "302cancel":
            v = pay_vals(pid, "X", rand_amount(rng), rng, enc)
            status, pred = 302, mentions("cancelled", "canceled", "cancel")
        elif kind == "302paid":
            v = pay_vals(pid, "N39", rand_amount(rng), rng, enc)
            status, pred = 302, mentions("paid", "fully")
        elif kind == "303":
            v = pay_vals(pid, "C", fmt_amount(30000000 + rng.randint(1, 10 ** 6)), rng, enc)
            status, pred = 303, mentions("amount", "outstanding", "balance")
        elif kind == "304":
            if rng.random() < 0.5:
                v = pay_vals(pid, "A", rand_amount(rng), rng, enc, payer=P2)
                status, pred = 304, mentions("payer_id", "payer")
            else:
                # §7.2 / README: 304 compares payer_type and payer_id; here both differ
                v = pay_vals(pid, "B", rand_amount(rng), rng, enc, pt="P", payer=P1)
                status, pred = 304, mentions("payer_type", "payer type", "type")
        elif kind == "count":
            v = v[:rng.choice([1, 5, 10])] if rng.random() < 0.7 else v + ["extra"]
            nf = len(v)
            status, field = 202, ""
            pred = (lambda nf: lambda m: None if re.search(r"\b%d\b" % nf, m) and "11" in m else
                    f"does not name the row's {nf} fields and the header's 11")(nf)
        if v and re.fullmatch(r"[0-9]{12,20}", v[0]):
            pids_at[v[0]].append(line)
        reg.add(v)
        want.append([line, status, field, pred])
    data = reg.build()
    r = submit(cx, rx, b + ".zip", archive(b, data, control_of(b, enc, reg)), enc=enc)
    if r is None or r["ctl"].get("result") != "ACK":
        cx.fail(f"expected ACK, got {r and r['ctl']}")
        return
    for w in want:
        if isinstance(w[3], tuple) and w[3][0] == "301line":
            earlier = dict(w[3][1])
            for k_, r_ in list(earlier.items()):
                earlier[f"registry physical line {reg.phys(reg.rec_off[r_ - 1])}"] = reg.phys(reg.rec_off[r_ - 1])
            w[3] = earlier_line_pred(cx, earlier, "301 (PAY, earlier line): line named")
        elif isinstance(w[3], tuple) and w[3][0] == "301batch":
            sb = w[3][1]
            w[3] = lambda m, sb=sb: None if sb in m else f"does not name the earlier batch {sb}"
        got = r["rows"][w[0] - 1] if w[0] - 1 < len(r["rows"]) else None
        check_row(cx, got, w)


def fam_rows_rev(cx, rng):
    enc = rng.choice(ENCS)
    used = set()
    rx = cx.rx
    pays = [pay_vals(rand_pid(rng, used), "N%d" % rng.randint(10, 39), rand_amount(rng), rng, enc) for _ in range(8)]
    reg0 = Registry("PAY", enc)
    for v in pays:
        reg0.add(v)
    b0 = bid("PAY", 1)
    r0 = submit(cx, rx, b0 + ".zip", archive(b0, reg0.build(), Ctl(ctl_items(b0, enc, *reg0.counts())).render()), check=False, enc=enc)
    if r0 is None or [x[2] for x in r0["rows"]] != ["1"] * 8:
        cx.fail(f"setup PAY not applied: {r0 and r0['rows']}")
        return
    amt = {v[0]: v[6] for v in pays}
    # one reversed in an earlier REV batch
    pre = pays[0][0]
    b1 = bid("REV", 1)
    reg1 = Registry("REV", enc)
    reg1.add([pre, DAY + " 12:00:00", amt[pre], "xato"])
    r1 = submit(cx, rx, b1 + ".zip", archive(b1, reg1.build(), Ctl(ctl_items(b1, enc, *reg1.counts())).render()), check=False, enc=enc)
    if r1 is None or [x[2] for x in r1["rows"]] != ["1"]:
        cx.fail(f"setup REV not applied: {r1 and r1['rows']}")
        return
    reversed_ = {pre}
    avail = [v[0] for v in pays[1:]]
    b = bid("REV", 2)
    reg = Registry("REV", enc, eol=rng.choice(["\r\n", "\n"]))
    want = []
    for i in range(rng.randint(4, 10)):
        line = i + 1
        kind = rng.choice(["ok", "305", "4", "307", "fault", "fault", "ml"])
        if kind in ("ok", "305", "ml") and not avail:
            kind = "4"
        pred, status, field = None, 1, ""
        if kind in ("ok", "ml"):
            p = avail.pop(rng.randrange(len(avail)))
            v = [p, DAY + " 13:00:00", amt[p], multiline(rng, enc) if kind == "ml" else words(rng, 2)]
            reversed_.add(p)
        elif kind == "305":
            p = avail.pop(rng.randrange(len(avail)))
            other = fmt_amount(int(amt[p].replace(".", "")) + rng.choice([-1, 1, 100]))
            v = [p, DAY + " 13:00:00", other, words(rng, 2)]
            status, pred = 305, mentions("amount")
            avail.append(p)  # not applied: still reversible
        elif kind == "4":
            v = [rng.choice([str(rng.randint(10 ** 11, 10 ** 12)), "ABC-1", "12345"]), DAY + " 13:00:00", "1.00", "x"]
            status, pred = 4, mentions("payment", "payment_id")
        elif kind == "307":
            p = rng.choice(sorted(reversed_))
            v = [p, DAY + " 13:00:00", amt[p], "x"]
            status, pred = 307, mentions("reversed")
        else:
            v = [str(rng.randint(10 ** 11, 10 ** 12)), DAY + " 13:00:00", "1.00", "x"]
            status, field = plant_field_faults(rng, "REV", v)
        reg.add(v)
        want.append((line, status, field, pred))
    data = reg.build()
    r = submit(cx, rx, b + ".zip", archive(b, data, control_of(b, enc, reg)), enc=enc)
    if r is None or r["ctl"].get("result") != "ACK":
        cx.fail(f"expected ACK, got {r and r['ctl']}")
        return
    for w in want:
        check_row(cx, r["rows"][w[0] - 1] if w[0] - 1 < len(r["rows"]) else None, w)


def fam_rows_rec(cx, rng):
    enc = rng.choice(ENCS)
    used = set()
    rx = cx.rx
    pays = []
    for _ in range(rng.randint(4, 9)):
        inv = rng.choice(["N%d" % i for i in range(10, 39)])
        pays.append(pay_vals(rand_pid(rng, used), inv, rand_amount(rng), rng, enc,
                             paid_at="%s %02d:%02d:%02d" % (DAY, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))))
    reg0 = Registry("PAY", enc)
    for v in pays:
        reg0.add(v)
    b0 = bid("PAY", 1)
    r0 = submit(cx, rx, b0 + ".zip", archive(b0, reg0.build(), Ctl(ctl_items(b0, enc, *reg0.counts())).render()), check=False, enc=enc)
    if r0 is None or [x[2] for x in r0["rows"]] != ["1"] * len(pays):
        cx.fail(f"setup PAY not applied: {r0 and r0['rows']}")
        return
    rec = {v[0]: {"paid_at": v[1], "invoice_no": v[2], "amount": v[6], "state": "PAID"} for v in pays}
    revs = rng.sample(sorted(rec), rng.randint(0, 2))
    if revs:
        b1 = bid("REV", 1)
        reg1 = Registry("REV", enc)
        for p in revs:
            reg1.add([p, DAY + " 23:00:00", rec[p]["amount"], "x"])
            rec[p]["state"] = "REVERSED"
        r1 = submit(cx, rx, b1 + ".zip", archive(b1, reg1.build(), Ctl(ctl_items(b1, enc, *reg1.counts())).render()), check=False, enc=enc)
        if r1 is None or [x[2] for x in r1["rows"]] != ["1"] * len(revs):
            cx.fail(f"setup REV not applied: {r1 and r1['rows']}")
            return
    b = bid("REC", 1)
    reg = Registry("REC", enc, eol=rng.choice(["\r\n", "\n"]))
    want, listed, seen = [], set(), {}
    todo = sorted(rec)
    rng.shuffle(todo)
    leave_out = set(todo[:rng.randint(0, 2)])
    line = 0
    for p in todo:
        if p in leave_out:
            continue
        kinds = ["match", "diff", "diff", "diff"]
        kind = rng.choice(kinds)
        x = dict(rec[p])
        differ = []
        if kind == "diff":
            differ = rng.sample(["amount", "invoice_no", "paid_at", "state"], rng.randint(1, 3 if rng.random() < 0.8 else 4))
            for f in differ:
                if f == "amount":
                    x[f] = fmt_amount(int(x[f].replace(".", "")) + rng.choice([1, -1, 1000]))
                elif f == "invoice_no":
                    x[f] = next(INV[k][0] for k in ("A", "B", "C") if INV[k][0] != x[f])
                elif f == "paid_at":
                    x[f] = DAY + (" 23:59:59" if x[f] != DAY + " 23:59:59" else " 00:00:00")
                else:
                    x[f] = "PAID" if x[f] == "REVERSED" else "REVERSED"
        line += 1
        reg.add([p, x["paid_at"], x["invoice_no"], x["amount"], x["state"]])
        listed.add(p)
        seen.setdefault(p, []).append(line)
        if differ:
            want.append((line, 305, "", rec305_pred(cx, differ)))
        else:
            want.append((line, 1, "", None))
        # extra lines between: unknown, repeats, faults
        while rng.random() < 0.4:
            line += 1
            k2 = rng.choice(["4", "301", "fault"])
            if k2 == "4":
                q_ = str(rng.randint(10 ** 11, 10 ** 12))
                reg.add([q_, DAY + " 10:00:00", INV["A"][0], "1.00", "PAID"])
                want.append((line, 4, "", mentions("payment", "payment_id", "unknown")))
                seen.setdefault(q_, []).append(line)
            elif k2 == "301":
                q_ = rng.choice(sorted(seen))
                reg.add([q_, DAY + " 10:00:00", INV["A"][0], "1.00", "PAID"])
                earlier = {f"data row (result.csv line) {r_}": r_ for r_ in seen[q_]}
                want.append((line, 301, "", ("301rec", earlier)))
                seen[q_].append(line)
            else:
                v = [str(rng.randint(10 ** 11, 10 ** 12)), DAY + " 10:00:00", INV["A"][0], "1.00", "PAID"]
                status, field = plant_field_faults(rng, "REC", v)
                reg.add(v)
                want.append((line, status, field, None))
                if re.fullmatch(r"[0-9]{12,20}", v[0]):
                    seen.setdefault(v[0], []).append(line)
    data = reg.build()
    r = submit(cx, rx, b + ".zip", archive(b, data, control_of(b, enc, reg)), enc=enc)
    if r is None or r["ctl"].get("result") != "ACK":
        cx.fail(f"expected ACK, got {r and r['ctl']}")
        return
    for w in want:
        w = list(w)
        if isinstance(w[3], tuple):
            earlier = dict(w[3][1])
            for k_, r_ in list(earlier.items()):
                earlier[f"registry physical line {reg.phys(reg.rec_off[r_ - 1])}"] = reg.phys(reg.rec_off[r_ - 1])
            w[3] = earlier_line_pred(cx, earlier, "301 (REC, earlier line): line named")
        check_row(cx, r["rows"][w[0] - 1] if w[0] - 1 < len(r["rows"]) else None, w)
    tail = r["rows"][line:]
    want306 = sorted(leave_out, key=lambda s: s.encode())
    got306 = [(t[1], t[2], t[0]) for t in tail]
    if got306 != [(p, "306", "") for p in want306]:
        cx.fail(f"306 rows {got306} != {want306}")
    for t in tail:
        if not re.search(r"statement|day|listed|missing", t[4], re.I):
            cx.fail(f"306 message {t[4]!r} does not say the statement lacks the day's payment")


def rec305_pred(cx, differ):
    def p(m):
        named = {f for f, ws in {"amount": ["amount"], "invoice_no": ["invoice_no", "invoice"],
                                 "paid_at": ["paid_at"], "state": ["state"]}.items() if any(word_in(m, w) for w in ws)}
        miss = set(differ) - named
        extra = named - set(differ)
        if miss or extra:
            return f"names {sorted(named)} where {sorted(differ)} differ"
        return None
    return p


# ====================================================================================
# the billing export (§9)
# ====================================================================================
EXP_HDR = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status".split(";")
EXP_FAULTS = {
    "invoice_no": ["", "123", "1000000000000000000X", "1" * 21],
    "court_code": ["", "12345678901", "\x1b[2J1234567890"],
    "case_no": ["", "x" * 41],
    "payer_type": ["X", "", "p"],
    "payer_id": ["", P1[:-1] + str((int(P1[-1]) + 1) % 10), "12345"],
    "payer_name": ["", "x" * 201],
    "amount_due": ["0.00", "1.5", "-1.00", "", "1,00"],
    "issued_at": ["2026-02-30 10:00:00", "2026-01-10", "", "2026-01-10T10:00:00"],
    "status": ["open", "PAID", ""],
}


def exp_line(rng, no, ml=False):
    pt = rng.choice(["P", "J"])
    pid = P1 if pt == "P" else TIN1
    name = multiline(rng, "utf-8") if ml and rng.random() < 0.6 else words(rng, rng.randint(1, 3))
    case = ("2-1/2026\r\nqo'shimcha" if ml and rng.random() < 0.4 else "2-%d/2026" % rng.randint(1, 999))
    return [no, str(rng.randint(1, 9999999)), case, pt, pid, name, rand_amount(rng, 100, 10 ** 8),
            "2026-01-%02d 10:00:00" % rng.randint(1, 28), rng.choice(["OPEN", "CANCELLED"])]


def fam_export(cx, rng, force=None):
    rx = cx.rx
    n = rng.randint(2, 10)
    recs, expect = [], {}  # record index (1-based) -> set of fields (None: any / the line itself)
    nos = ["3%019d" % rng.randint(0, 10 ** 18) for _ in range(n)]
    kinds_of = {}
    for i in range(n):
        recs.append(exp_line(rng, nos[i], ml=rng.random() < 0.3))
    bad_idx = rng.sample(range(n), rng.randint(1, min(3, n)))
    special = {}  # record index -> raw bytes of a field
    dups = []
    fields_j = {}
    for i in bad_idx:
        kind = (force or {}).get(i) or rng.choice(["fields", "fields", "fields", "dup", "bytes", "count", "quote"])
        kinds_of[i + 1] = kind
        if kind == "dup" and i > 0:
            dups.append(i)  # planted below, once every other line has its fault
        elif kind == "bytes":
            j = rng.randrange(len(EXP_HDR))
            special[(i, j)] = rng.choice(UTF8_BAD + ["Ж".encode("cp1251")])
            expect[i + 1] = {EXP_HDR[j]}
            fields_j[i + 1] = j
        elif kind == "count":
            recs[i] = recs[i] + ["x"] if rng.random() < 0.5 else recs[i][:rng.randint(1, 8)]
            expect[i + 1] = {None}
        elif kind == "quote":
            j = rng.randrange(len(EXP_HDR))
            recs[i] = [x.replace("\r\n", " ").replace("\n", " ") for x in recs[i]]
            special[(i, j)] = b'"' + words(rng, 1).encode() + b'"x'
            expect[i + 1] = {EXP_HDR[j]}
            fields_j[i + 1] = j
            kinds_of[i + 1] = "quote"
        else:
            cols = rng.sample(EXP_HDR, rng.randint(1, 3))
            fs = set()
            for c in cols:
                recs[i][EXP_HDR.index(c)] = rng.choice(EXP_FAULTS[c])
                fs.add(c)
            # beside a bad payer_type, a payer_id is named when it is valid for neither type
            # (README decision): every payer_id fault here is, and the row's own PINFL is not
            expect[i + 1] = fs
            kinds_of[i + 1] = "fields"
    # a repeat of an earlier line's invoice_no of the right form is named "whatever else is wrong
    # on either line" (README); the numbers are otherwise unique
    for i in sorted(dups):
        srcs = [s_ for s_ in range(i) if s_ not in dups and re.fullmatch(r"[0-9]{20}", recs[s_][0])
                and (s_, 0) not in special]
        if not srcs:
            kinds_of[i + 1] = "fields"
            recs[i][EXP_HDR.index("status")] = "open"
            expect[i + 1] = {"status"}
            continue
        s_ = rng.choice(srcs)
        recs[i][0] = recs[s_][0]
        if kinds_of.get(s_ + 1) == "quote":
            # the rest of a line after a broken quote is skipped (README); whether the number
            # before it counts as the line's is not said: either answer is taken
            expect[i + 1] = {"invoice_no?"}
        else:
            expect[i + 1] = {"invoice_no"}
        kinds_of[i + 1] = "dup of a %s line" % kinds_of.get(s_ + 1, "valid")
    out = bytearray(";".join(EXP_HDR).encode() + b"\r\n")
    starts, field_phys = [], {}
    eol = rng.choice([b"\r\n", b"\n"])
    for i, rec in enumerate(recs):
        starts.append(1 + out.count(b"\n"))
        for j, f in enumerate(rec):
            if j:
                out += b";"
            field_phys[(i, j)] = 1 + out.count(b"\n")
            if (i, j) in special:
                s = special[(i, j)]
                if s.startswith(b'"'):
                    out += s
                elif any(c in f for c in ';"\r\n'):
                    out += b'"' + f.encode().replace(b'"', b'""') + s + b'"'
                else:
                    out += f.encode() + s
            else:
                b_ = f.encode()
                out += (b'"' + b_.replace(b'"', b'""') + b'"') if any(c in f for c in ';"\r\n') else b_
        out += eol
    p = os.path.join(rx, "export.csv")
    with open(p, "wb") as f:
        f.write(bytes(out))
    res = sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", p], check=False)
    err = res.stderr.decode("latin-1")
    if res.returncode != 1:
        cx.fail(f"a bad export: exit {res.returncode}, expected 1; stderr {err[-500:]!r}")
        return
    for ch in res.stderr:
        if not (0x20 <= ch < 0x7F or ch == 0x0A):
            cx.fail(f"export refusal holds byte 0x{ch:02x} (not printable ASCII): {err[-600:]!r}")
            break
    named = []  # (line, row, field or None, text)
    for l in err.split("\n"):
        m = re.search(r"\bline (\d+)(?: \(row (\d+)\))?(?:, field ([^:]+))?:", l)
        if m:
            named.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None, m.group(3), l.strip()))
    need(cx, err, "export.csv" in err, "name the export file")
    matched = set()
    ends = starts[1:] + [1 + out.count(b"\n")]
    owner = {}
    for (ln, row, fld, text) in named:
        ks = [k for k in range(1, n + 1) if starts[k - 1] <= ln < ends[k - 1] and row in (None, k)]
        if not ks:
            ks = [k for k in range(1, n + 1) if k + 1 == ln and row in (None, k)]
        owner[text] = ks[0] if ks else None
    for k, fields in sorted(expect.items()):
        P = starts[k - 1]
        mine = []
        for (ln, row, fld, text) in named:
            if owner[text] != k:
                continue
            ph = [ph for (i, j), ph in field_phys.items() if i == k - 1]
            readings = {"first physical line of the record": P, "record number (header = 1)": k + 1}
            readings.update({"physical line of the field": x for x in ph})
            hit = [name for name, v in readings.items() if v == ln]
            if hit:
                mine.append((ln, row, fld, text, hit))
        if not mine:
            if all(f and f.endswith("?") for f in fields):
                cx.convention(f"export: {kinds_of.get(k)}", "not named")
                continue
            cx.fail(f"export record {k} ({kinds_of.get(k)}; line {P}, row {k}) not named; refusal: {err.strip()[-800:]!r}")
            continue
        if any(f and f.endswith("?") for f in fields) and kinds_of.get(k, "").startswith("dup"):
            cx.convention(f"export: {kinds_of.get(k)}", "named")
        for (ln, row, fld, text, hit) in mine:
            matched.add(text)
            fl = ({"physical line of the field": field_phys[(k - 1, fields_j[k])]} if k in fields_j else {})
            rd = {"first physical line of the record": P, "record number (header = 1)": k + 1}
            rd.update(fl)
            topic = "export " + {"bytes": "bytes not UTF-8", "quote": "text after a closing quote"}.get(kinds_of.get(k), "field errors") + ": line named"
            if len(set(rd.values())) > 1:
                cx.readings(topic, {x: v == ln for x, v in rd.items()})
            cx.convention(topic.replace("line named", "(row N) given"), "yes, the data row" if row == k else "no" if row is None else f"row {row}")
        got_fields = {fld.strip() if fld else None for (_, _, fld, _, _) in mine}
        for f in fields:
            if f is None or f.endswith("?"):
                continue
            if f not in got_fields:
                cx.fail(f"export record {k} (line {P}): field {f} not named (named {sorted(map(str, got_fields))}): "
                        + "; ".join(t for (_, _, _, t, _) in mine))
        allowed = {f.rstrip("?") for f in fields if f} | {None, "(row)"}
        extra = {f for f in got_fields if f not in allowed and None not in fields}
        if extra:
            cx.fail(f"export record {k}: names fields {sorted(extra)} that are not bad: " + "; ".join(t for (_, _, _, t, _) in mine))
    for (ln, row, fld, text) in named:
        if text not in matched:
            cx.fail(f"export refusal names a line that is not bad: {text!r}")


# ====================================================================================
# cases
# ====================================================================================
CASES = []


def case(name, desc):
    def deco(f):
        CASES.append(("fixed-" + name, desc, f))
        return f
    return deco


def with_rx(f, **kw):
    def g(cx):
        cx.rx = cx.receiver(**kw)
        return f(cx)
    return g


# ---- fixed cases: each named place of the brief, with a plain layout ----
def fixed_b06(kind, key):
    def f(cx):
        fam_b06(cx, random.Random(f"b06{kind}{key}"), kind=kind, key=key)
    return f


for _k in CTL_ORDER:
    case(f"b06-bad-{_k}", f"B06: a bad value of {_k} names control.txt, its line and the key")(with_rx(fixed_b06("bad", _k)))
for _k in ["batch_id", "type", "sender", "receiver", "business_date"]:
    case(f"b06-mismatch-{_k}", f"B06: {_k} differing from the archive name names the line and key")(with_rx(fixed_b06("mismatch", _k)))
for _kind in ["repeat", "unknown", "spaces", "lone_cr", "cr_crlf", "no_eq", "non_ascii", "ctl_char", "missing"]:
    case(f"b06-{_kind}", f"B06 ({_kind}) names control.txt, the line and the key")(with_rx(fixed_b06(_kind, "rows" if _kind != "repeat" else "created_at")))


@case("b06-cr-ending-file", "B06: a CR alone after the last LF names the line it makes (README) ")
def _(cx):
    cx.rx = cx.receiver()
    b, reg, data, ctl = simple_batch()
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl + b"\r"))
    msg = expect_nak(cx, r, "B06")
    if msg:
        need_word(cx, msg, "control.txt")
        need_line(cx, msg, {"the line after the last LF": ctl.count(b"\n") + 1}, "B06")


@case("b08-rows-huge", "B08: rows too large for any registry names rows and the value (README: B08, not B06)")
def _(cx):
    cx.rx = cx.receiver()
    b, reg, data, _ = simple_batch()
    huge = "9" * 30
    c = Ctl(ctl_items(b, "utf-8", huge, reg.counts()[1]))
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, c.render()))
    msg = expect_nak(cx, r, "B08")
    if msg:
        need_word(cx, msg, "rows")
        need(cx, msg, huge in msg, "name the declared value")
        need_line(cx, msg, {"the line": c.line_of("rows")}, "B08")


for _key in ["rows", "amount_total"]:
    case(f"b08-{_key}", f"B08: {_key} differing names control.txt, the key, its line and both values")(
        with_rx((lambda k: lambda cx: fam_b08(cx, random.Random(k), key=k))(_key)))


@case("b07-header-field", "B07: a header differing names registry.csv line 1 and the position that differs")
def _(cx):
    cx.rx = cx.receiver()
    for kind in ["rename", "drop", "extra", "swap", "cyrillic", "case", "other_type", "space"]:
        fam_b07_header(cx, random.Random("hdr" + kind), kind=kind)


@case("b07-bytes-plain", "B07: bytes invalid in utf-8 / windows-1251 name registry.csv, the line and the field")
def _(cx):
    cx.rx = cx.receiver()
    for enc in ["utf-8", "windows-1251"]:
        for k in [0, 1, 3]:
            fam_b07_bytes(cx, random.Random(f"b07{enc}{k}"), enc=enc, k=k, ml=False)


@case("b07-bytes-after-multiline", "B07: invalid bytes in a record after one with a quoted line break: the line number")
def _(cx):
    cx.rx = cx.receiver()
    reg = Registry("PAY", "utf-8")
    used = set()
    rng = random.Random(5)
    r1 = valid_row(rng, "PAY", used)
    r1[10] = "one\r\ntwo\r\nthree"
    reg.add(valid_row(rng, "PAY", used))
    reg.add(r1)
    r3 = valid_row(rng, "PAY", used)
    reg.add(r3)
    reg.recs[2][5] = b"Al\xffyev"
    data = reg.build()
    b = bid("PAY", 7)
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, control_of(b, "utf-8", reg)))
    msg = expect_nak(cx, r, "B07")
    if msg:
        need_line(cx, msg, {"physical line of the fault": 6, "first physical line of the record": 6, "record number (header = 1)": 4}, "B07 invalid bytes: line named",
                  {"data row number": 3})
        need_field(cx, msg, "payer_name", 6, "B07 invalid bytes: field named")


@case("b07-bytes-inside-multiline", "B07: invalid bytes on the 3rd physical line of a quoted field: which line is named")
def _(cx):
    cx.rx = cx.receiver()
    reg = Registry("PAY", "utf-8")
    used = set()
    rng = random.Random(6)
    a = valid_row(rng, "PAY", used)
    a[10] = "x\r\ny"
    reg.add(a)                              # lines 2-3
    reg.add(valid_row(rng, "PAY", used))    # line 4
    reg.add(valid_row(rng, "PAY", used))    # lines 5-7 (record 3)
    reg.recs[2][10] = b'"ab\r\ncd\r\nQ\xffQ"'
    data = reg.build()
    b = bid("PAY", 8)
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, control_of(b, "utf-8", reg)))
    msg = expect_nak(cx, r, "B07")
    if msg:
        need_line(cx, msg, {"physical line of the fault": 7, "first physical line of the record": 5, "record number (header = 1)": 4},
                  "B07 invalid bytes: line named", {"data row number": 3})
        need_field(cx, msg, "purpose", 11, "B07 invalid bytes: field named")


@case("b07-bytes-beyond-header", "B07: invalid bytes in a 12th field of an 11-field PAY row: the field named by position")
def _(cx):
    cx.rx = cx.receiver()
    reg = Registry("PAY", "utf-8")
    rng = random.Random(7)
    v = valid_row(rng, "PAY", set())
    reg.add(v + ["ok"])
    reg.recs[0].append(b"z\xffz")
    data = reg.build()
    b = bid("PAY", 9)
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, Ctl(ctl_items(b, "utf-8", 1, "0.00")).render()))
    msg = expect_nak(cx, r, "B07")
    if msg:
        need_line(cx, msg, {"line": 2}, "B07")
        need(cx, msg, re.search(r"\b(field|column)\s+13\b", msg) is not None, "name the 13th field by its position")


for _kind in ["after", "open"]:
    for _ml in [False, True]:
        case(f"b07-quote-{_kind}{'-multiline' if _ml else ''}",
             f"B07 {'text after a closing quote' if _kind == 'after' else 'quote open at the end'}"
             f"{' (quoted line break)' if _ml else ''}: registry.csv, the line and the field")(
            with_rx((lambda k, m: lambda cx: fam_b07_quote(cx, random.Random(f"q{k}{m}"), kind=k, ml=m))(_kind, _ml)))


@case("b07-cyrillic-header-866", "B07 in a cp866 registry: the Cyrillic header field is escaped, not raw")
def _(cx):
    cx.rx = cx.receiver()
    for enc in ["cp866", "windows-1251"]:
        reg = Registry("PAY", enc)
        reg.add(valid_row(random.Random(1), "PAY", set(), enc))
        reg.header[5] = "плательщик"
        data = reg.build()
        b = bid("PAY", 11 if enc == "cp866" else 12)
        r = submit(cx, cx.rx, b + ".zip", archive(b, data, control_of(b, enc, reg)), enc=enc)
        msg = expect_nak(cx, r, "B07")
        if msg:
            need_name(cx, msg, "плательщик", "name the header field")
            need_field(cx, msg, None, 6, "B07 header")


@case("b02-line-64k", "B02: a registry line over the default 64 KiB names the archive, registry.csv and that physical line")
def _(cx):
    cx.rx = cx.receiver()
    for where, k in [("row", 3), ("inside", 2)]:
        rng = random.Random(where)
        reg = Registry("PAY", "utf-8")
        used = set()
        for _ in range(4):
            reg.add(valid_row(rng, "PAY", used))
        reg.recs[0][10] = "a\r\nb"
        if where == "row":
            reg.recs[k - 1][10] = "x" * 65537
            data = reg.build()
            F = reg.phys(reg.fld_off[k - 1][10])
        else:
            reg.recs[k - 1][10] = "head\r\n" + "y" * 65537 + "\r\ntail"
            data = reg.build()
            F = reg.phys(reg.fld_off[k - 1][10]) + 1
        b = bid("PAY", 20 if where == "row" else 21)
        r = submit(cx, cx.rx, b + ".zip", archive(b, data, control_of(b, "utf-8", reg)))
        msg = expect_nak(cx, r, "B02")
        if msg:
            b0102(cx, msg, b + ".zip")
            need_word(cx, msg, "registry.csv")
            need_line(cx, msg, {"physical line": F}, "B02 line limit")


for _w in ["row", "inside", "header", "last"]:
    case(f"b02-line-{_w}", f"B02: a long physical line ({_w}) names that physical line")(
        (lambda w: lambda cx: fam_b02_line(cx, random.Random("L" + w), where=w))(_w))

for _kind in B02_KINDS:
    case(f"b02-{_kind}", f"B02 ({_kind}): the message starts with the archive name and names the entry")(
        with_rx((lambda k: lambda cx: fam_b02_entry(cx, random.Random("e" + k), kind=k))(_kind)))


@case("b02-limits", "B02 limits: entries, ratio, total size, archive size: archive named, and the entry where one exceeds it")
def _(cx):
    rng = random.Random(3)
    b, reg, data, ctl = simple_batch(rng, n=40)
    rx = cx.receiver("-a", limits={"max_entries": 4})
    es = entries(b, data, ctl) + [{"name": "zz", "data": b""}]
    r = submit(cx, rx, b + ".zip", zipraw.build(es))
    msg = expect_nak(cx, r, "B02")
    if msg:
        b0102(cx, msg, b + ".zip")
        need(cx, msg, "4" in msg, "name the limit of 4 entries")
    rx = cx.receiver("-b", limits={"ratio_applies_above": 1000, "max_ratio": 3})
    r = submit(cx, rx, b + ".zip", zipraw.build(entries(b, data, ctl)))
    msg = expect_nak(cx, r, "B02")
    if msg:
        b0102(cx, msg, b + ".zip", "registry.csv")
    rx = cx.receiver("-c", limits={"max_uncompressed_bytes": len(ctl) + 100})
    r = submit(cx, rx, b + ".zip", zipraw.build(entries(b, data, ctl)))
    msg = expect_nak(cx, r, "B02")
    if msg:
        b0102(cx, msg, b + ".zip", "registry.csv")
    # the real bytes cross the limit though the declared sizes do not
    es = entries(b, data, ctl)
    es[1]["usize"] = 10
    rx = cx.receiver("-e", limits={"max_uncompressed_bytes": sum(len(e["data"]) for e in es) - len(data) + 10 + 200})
    r = submit(cx, rx, b + ".zip", zipraw.build(es))
    msg = expect_nak(cx, r, "B02")
    if msg:
        b0102(cx, msg, b + ".zip", "registry.csv")
    # the real bytes cross the ratio though the declared size (under ratio_applies_above) does not
    rx = cx.receiver("-f", limits={"ratio_applies_above": 1000, "max_ratio": 3})
    es = entries(b, data, ctl)
    es[1]["usize"] = 900
    r = submit(cx, rx, b + ".zip", zipraw.build(es))
    msg = expect_nak(cx, r, "B02")
    if msg:
        b0102(cx, msg, b + ".zip", "registry.csv")
    rx = cx.receiver("-d", limits={"max_archive_bytes": 600})
    r = submit(cx, rx, b + ".zip", zipraw.build(entries(b, data, ctl)))
    msg = expect_nak(cx, r, "B02")
    if msg:
        b0102(cx, msg, b + ".zip")
        need(cx, msg, "600" in msg, "name the limit")


for _kind in ["crc", "deflate", "usize", "lname", "lcrc", "truncated_deflate", "between", "truncated", "cextra", "cts",
              "cushort", "loff", "csig", "z64disk", "z64loc", "z64count"]:
    case(f"b01-{_kind}", f"B01 ({_kind}): the message starts with the archive name and names the entry where there is one")(
        with_rx((lambda k: lambda cx: fam_b01(cx, random.Random("b01" + k), kind=k))(_kind)))
for _kind in ["missing", "extra"]:
    case(f"b03-{_kind}", f"B03 ({_kind}): names the file")(with_rx((lambda k: lambda cx: [fam_b03(cx, random.Random(k + str(i)), kind=k) for i in range(4)])(_kind)))
for _kind in ["missing", "wrong", "upper", "truncated", "other_key", "two_eols", "empty", "spaces"]:
    case(f"b05-{_kind}", f"B05 ({_kind}): names manifest.sha256.hmac and tells missing from wrong")(
        with_rx((lambda k: lambda cx: fam_b05(cx, random.Random(k), kind=k))(_kind)))
for _kind in ["sha", "malformed", "not_listed", "listed_missing", "twice", "no_lf", "lists_manifest", "crlf"]:
    case(f"b04-{_kind}", f"B04 ({_kind}): names manifest.sha256, the line and the file")(
        with_rx((lambda k: lambda cx: [fam_b04(cx, random.Random(k + str(i)), kind=k) for i in range(3)])(_kind)))
for _kind in ["b09", "sender", "receiver", "type"]:
    case(f"{'b09' if _kind == 'b09' else 'b10-' + _kind}", f"{_kind}: names the batch id, party or type")(
        with_rx((lambda k: lambda cx: fam_b09_b10(cx, random.Random(k), kind=k))(_kind)))


@case("b04-escaped-name", "B04: a manifest naming a file with control characters is named escaped, one line")
def _(cx):
    cx.rx = cx.receiver()
    b, reg, data, ctl = simple_batch()
    man = manifest_of([("control.txt", ctl), ("registry.csv", data)]) + f"{hashlib.sha256(b'').hexdigest()}  x\x1b[2J\u0416.txt\n".encode()
    r = submit(cx, cx.rx, b + ".zip", archive(b, data, ctl, manifest=man))
    msg = expect_nak(cx, r, "B04")
    if msg:
        need_line(cx, msg, {"the line": 3}, "B04")
        need_name(cx, msg, "x\x1b[2J\u0416.txt", "name the file")


@case("rows-pay-fields", "result.csv: 201/202 field is the first failing field in column order; message about it")
def _(cx):
    cx.rx = cx.receiver()
    fam_rows_pay(cx, random.Random(11), n=12, force=["fault"] * 12)


@case("rows-pay-business", "result.csv PAY: 4, 301 (earlier line, earlier batch), 302, 303, 304 say what differs")
def _(cx):
    cx.rx = cx.receiver()
    fam_rows_pay(cx, random.Random(12), force=["ok", "4", "301line", "301batch", "302cancel", "302paid", "303", "304", "304", "count", "ml", "301line"])


@case("rows-rev", "result.csv REV: 4, 305 (amount), 307 (reversed) say what differs")
def _(cx):
    cx.rx = cx.receiver()
    fam_rows_rev(cx, random.Random(13))


@case("rows-rec", "result.csv REC: 305 names which of amount/invoice/paid_at/state differ; 306; 301; 4")
def _(cx):
    cx.rx = cx.receiver()
    fam_rows_rec(cx, random.Random(14))


@case("export-plain", "invoices import: every bad line and field named, right line numbers")
def _(cx):
    cx.rx = cx.receiver()
    fam_export(cx, random.Random(21), force={})


@case("export-after-multiline", "invoices import: a bad line after a record with a quoted line break (physical line or record?)")
def _(cx):
    cx.rx = cx.receiver()
    rx = cx.rx
    H = ";".join(EXP_HDR)
    g = lambda no, **k: [no, k.get("court", "1703002"), k.get("case", "2-1/2026"), "P", P1, k.get("name", "Aliyev"),
                         k.get("amt", "100.00"), "2026-01-10 10:00:00", k.get("st", "OPEN")]
    recs = [g("30000000000000000001", name="Aliyev\r\nAnvar\r\nakasi"), g("30000000000000000002", amt="0.00"),
            g("30000000000000000003", case="a\r\nb"), g("30000000000000000004", st="open", court="")]
    out = H + "\r\n" + "".join(";".join('"%s"' % f if "\r" in f else f for f in r) + "\r\n" for r in recs)
    with open(rx + "/e.csv", "w") as f:
        f.write(out)
    res = sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/e.csv"], check=False)
    err = res.stderr.decode()
    want = [(5, 2, "amount_due"), (8, 4, "status"), (8, 4, "court_code")]
    for ph, k, fld in want:
        ls = [l for l in err.split("\n") if re.search(r"\bfield %s\b" % fld, l)]
        if not ls:
            cx.fail(f"field {fld} of record {k} not named: {err!r}")
            continue
        nums = numbers(ls[0], "line")
        if ph in nums or k + 1 in nums:
            cx.readings("export field errors: line named", {"first physical line of the record": ph in nums,
                                                            "record number (header = 1)": k + 1 in nums})
        else:
            cx.fail(f"{fld}: line {nums} is neither physical line {ph} nor record {k + 1}: {ls[0]!r}")


@case("export-broken-quote", "invoices import: text after a closing quote names the line and the field")
def _(cx):
    cx.rx = cx.receiver()
    fam_export(cx, random.Random(22), force={i: "quote" for i in range(10)})


@case("export-bytes", "invoices import: bytes not UTF-8 name the line and field, after a quoted line break too")
def _(cx):
    cx.rx = cx.receiver()
    fam_export(cx, random.Random(23), force={i: "bytes" for i in range(10)})


@case("export-header", "invoices import: a wrong header names line 1 and the field that differs")
def _(cx):
    cx.rx = cx.receiver()
    h = list(EXP_HDR)
    h[8] = "Status"
    body = ";".join(h) + "\r\n" + ";".join(exp_line(random.Random(1), "30000000000000000001")) + "\r\n"
    with open(cx.rx + "/e.csv", "w") as f:
        f.write(body)
    res = sh([BIN, "--config", cx.rx + "/reestr.toml", "invoices", "import", cx.rx + "/e.csv"], check=False)
    err = res.stderr.decode()
    need(cx, err, res.returncode == 1, "refuse the export (exit 1)")
    need_line(cx, err, {"line 1": 1}, "export header")
    need(cx, err, re.search(r"\b(field|column|position)\s+9\b", err) or '"Status"' in err or "Status" in err,
         "name the header field that differs (9, Status)")


def import_export(cx, body):
    with open(cx.rx + "/e.csv", "wb") as f:
        f.write(body)
    res = sh([BIN, "--config", cx.rx + "/reestr.toml", "invoices", "import", cx.rx + "/e.csv"], check=False)
    err = res.stderr.decode("latin-1")
    need(cx, err, res.returncode == 1, "refuse the export (exit 1)")
    return err


@case("export-repeat-of-a-short-line", "invoices import: a repeated invoice_no is named whatever else is wrong on either line "
      "(README), a wrong field count included")
def _(cx):
    cx.rx = cx.receiver()
    H = ";".join(EXP_HDR)
    good = "30000000000000000001;1703002;2-1/2026;P;%s;Aliyev;100.00;2026-01-10 10:00:00;OPEN" % P1
    for label, lines, bad_line in [
            ("the earlier line has 5 fields", [H, "30000000000000000001;1703002;2-1/2026;P;" + P1, good], 3),
            ("the earlier line has 10 fields", [H, good + ";extra", good], 3),
            ("the repeating line has 2 fields", [H, good, "30000000000000000001;1703002"], 3)]:
        err = import_export(cx, ("\r\n".join(lines) + "\r\n").encode())
        named = [l for l in err.split("\n") if re.search(r"\bline %d\b" % bad_line, l) and
                 re.search(r"invoice_no|twice|repeat", l)]
        need(cx, err, named, f"name line {bad_line}'s invoice_no as a repeat ({label})")


@case("check-json-result-csv-1251", "check --json shows the would-be result.csv of a windows-1251/cp866 registry as run writes it")
def _(cx):
    cx.rx = cx.receiver()
    for enc, seq in [("windows-1251", 31), ("cp866", 32)]:
        reg = Registry("REV", enc)
        reg.add(["давлат", DAY + " 12:00:00", "1.00", "хато"])
        data = reg.build()
        b = bid("REV", seq)
        r = submit(cx, cx.rx, b + ".zip", archive(b, data, control_of(b, enc, reg)), enc=enc)
        if r and r["rows"]:
            need(cx, r["rows"][0][4], printable(r["rows"][0][4]), "be printable ASCII")


# ---- seeded cases ----
FAMILIES = [
    ("b06", fam_b06, 14), ("b08", fam_b08, 6), ("b07bytes", fam_b07_bytes, 10), ("b07header", fam_b07_header, 6),
    ("b07quote", fam_b07_quote, 8), ("b02line", fam_b02_line, 5), ("b04", fam_b04, 7), ("b05", fam_b05, 4),
    ("b03", fam_b03, 4), ("b02entry", fam_b02_entry, 8), ("b01", fam_b01, 6), ("b09b10", fam_b09_b10, 3),
    ("rowspay", fam_rows_pay, 8), ("rowsrev", fam_rows_rev, 4), ("rowsrec", fam_rows_rec, 5), ("export", fam_export, 8),
]


def seeded(seed, n):
    out = []
    fams = [f for f in FAMILIES for _ in range(f[2])]
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        fname, fn, _ = rng.choice(fams)

        def run(cx, fn=fn, rng=rng, fname=fname):
            if fname != "b02line":
                cx.rx = cx.receiver()
            fn(cx, rng)
        out.append((f"seed{seed}-{i:03d}-{fname}", f"seeded: {fname}", run))
    return out


# ====================================================================================
# running
# ====================================================================================
_SEL = []


def run_index(i):
    # in a forked worker: the selected cases were inherited, not pickled
    return run_one(_SEL[i])


def run_one(c):
    name, desc, fn = c
    cx = Cx(name)
    t = time.time()
    try:
        fn(cx)
    except Exception:
        cx.fail("EXCEPTION " + traceback.format_exc()[-1500:])
    if cx.diffs and cx.plan:
        cx.diffs.insert(0, "planted: " + cx.plan)
    if not cx.diffs and not os.environ.get("KEEP"):
        for rx in cx.rxs:
            shutil.rmtree(rx, ignore_errors=True)
    return cx.diffs, cx.notes, cx.conv, time.time() - t


def main():
    cases = CASES + seeded(ARGS.seed, ARGS.cases)
    sel = [c for c in cases if not ARGS.patterns or any(p in c[0] for p in ARGS.patterns)]
    jobs = max(1, int(os.environ.get("CONFORMANCE_JOBS", "1") or "1"))
    print(f"messages: {len(sel)} of {len(cases)} cases (seed {ARGS.seed}) against {BIN} (scratch {SCRATCH}"
          f"{f', {jobs} at a time' if jobs > 1 else ''})", flush=True)
    t0 = time.time()
    if jobs > 1 and len(sel) > 1:
        import multiprocessing
        _SEL[:] = sel
        pool = multiprocessing.get_context("fork").Pool(jobs)
        results = pool.imap(run_index, range(len(sel)))
    else:
        pool = None
        results = map(run_one, sel)
    ok = 0
    conv = collections.defaultdict(collections.Counter)
    held = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    for c, (diffs, notes, cv, secs) in zip(sel, results):
        ok += not diffs
        for topic, reading in cv:
            if isinstance(reading, tuple):
                for rd, h in reading:
                    held[topic][rd][0] += h
                    held[topic][rd][1] += 1
            else:
                conv[topic][reading] += 1
        print(f"{'OK  ' if not diffs else 'DIFF'} {c[0]} ({secs:.1f}s) :: {c[1]}", flush=True)
        for x in notes:
            print("     " + x[:800], flush=True)
        for x in diffs:
            print("     - " + x[:1500], flush=True)
    if pool is not None:
        pool.close()
        pool.join()
    print("-- where the documents leave the place open, what the engine does (cases where the readings differ):")
    for topic in sorted(set(conv) | set(held)):
        if topic in held:
            rs = sorted(held[topic].items(), key=lambda x: (-x[1][0] / x[1][1], x[0]))
            print(f"   {topic}: " + "; ".join(f"{r} {a}/{n}" + (" <- always" if a == n else "") for r, (a, n) in rs))
        if topic in conv:
            print(f"   {topic}: " + "; ".join(f"{r} ({n})" for r, n in conv[topic].most_common()))
    failed = len(sel) - ok
    print(f"-- {time.time() - t0:.0f} s", flush=True)
    if failed or os.environ.get("KEEP"):
        print(f"scratch folder kept: {SCRATCH}", flush=True)
    else:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    print(f"== messages: {ok}/{len(sel)} cases OK", flush=True)
    sys.exit(1 if failed or not sel else 0)


if __name__ == "__main__":
    main()
