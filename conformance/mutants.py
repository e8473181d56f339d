"""Randomized differential test of the ARCHIVE layer (munis-offline/1, AGREEMENT.md §1, §2, §3,
§6, §7.1, §8) against an oracle written here from the agreement alone.

    REESTR_BIN=target/release/reestr python3 conformance/mutants.py [--cases N] [--seed S] [-v]

Every case starts from a correct batch (random type, sender, encoding, registry line ends,
control.txt form, manifest order, HMAC with or without a line end, and a random valid zip
layout written byte by byte by the small writer below: entry order, stored or deflated, data
descriptors with or without signature, zip64 extra blocks and end records, extra fields, DOS or
unix attributes, flags, version needed, comment, central directory order) and applies 0 to 3
faults from many families, each of which alone gives a known code (B01 ... B10), or a name that
§2 does not accept (set aside, no response) or a temporary name (left alone). A case is a
sequence of up to three deliveries of the same batch id over three rounds (re-delivery of an
ACKed archive, of a NAKed one, other bytes under a processed batch id, a corrected batch after
a NAK); one receiver changes its configuration between rounds (key removed, types narrowed,
another key) to check that a re-delivered ACKed archive is answered byte for byte whatever the
configuration says, and that a NAKed one is judged afresh.

The oracle predicts, from the faults applied and the history of the batch id, the first code
in §7.1's order. Where §7.1 leaves B01 against B02 open ("judged as the archive is read"), a
case whose faults give both accepts either (a corrupt archive that also breaks a §3 rule can
be found corrupt first or unsafe first, depending on which byte the reader meets first).
Every response is checked in full: its name (§8, own code even for a B10 on another receiver),
control.txt keys, order, values and LF line ends, created_at copied or the fallback (§8),
in_reply_to_sha256, result, error, a one-line message, result.csv (ACK), the manifest and the
HMAC of the response, entries deflated, entry times from created_at.

Where README.md documents a reading of a point the agreement leaves silent, the oracle follows
it and says so where it is used (README "Decisions where the agreement is silent"): bytes
before the first entry, between entries or after the end record, and a local header that
differs from its central record, are B01; a name that is not UTF-8 is B03, one with a C0
control character or a drive prefix B02; a re-delivery is the same name and the same bytes (the
same bytes under another name are judged in full: B06); the same files zipped again are B09
once the batch id is processed; the checks of B10 and B09 still read the archive for
created_at. Points the agreement leaves open and the README does not settle are accepted both
ways and counted in the summary line "where the agreement leaves the answer open": B01 against
B02 for faults of both kinds. Decided in the README since: the end record's disk number (B01); flag
bits 5, 6 and 13 without bit 0 are B02; a C1 control character in a UTF-8 name is B02; a UTF-8
BOM is a byte of the header line (it can take it over max_line_bytes: B02); an empty entry's
descriptor with 8-byte sizes and no zip64 block is read as the next header decides.

Receivers (one scratch folder each, at most two engines at a time): "def" (the agreement's
default limits), "small" (small limits in [limits], so that limits are reached with small
archives), "chg" (partners change each round: a key, none, another key; types narrowed) and
"own" (the receiver's own code changes in round 1). Partners: MUNIS (key), NOKEY (no key),
PAYONLY (types PAY only). Each case has a business date of its own, so that batches of different
cases never meet (no REC sees another case's PAY). Between rounds the sender takes half of the
responses from the outbox.

Output: one summary line, then one line per disagreement (seed, case, round, description of
the faults, expected against answered). Exit 1 when any case disagrees. Standard library only.
"""
sys_path_added = None
import argparse, copy, datetime, hashlib, hmac, io, json, os, random, re, shutil, struct, subprocess, sys, tempfile, time, zlib, zipfile
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zipraw as Z      # only its deflate_exact: a raw deflate stream of an exact length

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ORDER = ["B10", "B09", "B01", "B02", "B03", "B05", "B04", "B06", "B07", "B08"]
RANK = {c: i for i, c in enumerate(ORDER)}
RANK["-"] = 99      # a fault the agreement leaves open may also give no code at all
OWN = "SUDBILLING"
K1 = bytes.fromhex(open(os.path.join(REPO, "tests", "reference", "MUNIS.key")).read().strip())
K2 = hashlib.sha256(b"mutants second key").digest()
MIB = 1 << 20

# ---------------------------------------------------------------- identifiers (§5.4)
PINFL = "31210932040247"          # the agreement's valid example
MFO, ACCOUNT = "00014", "23402000300100001010"
INVOICES = ["200000000000000000%02d" % i for i in range(10, 40)]
HDR = {"PAY": ["payment_id", "paid_at", "invoice_no", "payer_type", "payer_id", "payer_name", "amount",
               "currency", "bank_mfo", "account", "purpose"],
       "REV": ["payment_id", "reversed_at", "amount", "reason"],
       "REC": ["payment_id", "paid_at", "invoice_no", "amount", "state"]}
PYENC = {"utf-8": "utf-8", "windows-1251": "cp1251", "cp866": "cp866"}


# ---------------------------------------------------------------- a small zip writer
def deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def dos_dt(y, mo, d, h, mi, s):
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


class Ent:
    """One zip entry; every field of both headers can be set or made to lie."""

    def __init__(self, name, data, rnd=None):
        self.name = name.encode() if isinstance(name, str) else name
        self.data = data
        self.method = 8
        self.level = 6
        self.comp = None            # payload override
        self.flags = 0
        self.dd = None              # None | 'sig' | 'nosig'
        self.zip64 = False          # zip64 extra blocks in both headers
        self.z64_offset = True      # zip64 central extra also carries the offset
        self.lextra = b""
        self.cextra = b""
        self.made_by = (3 << 8) | 63
        self.ext_attr = 0o100644 << 16
        self.version = 20
        self.time = dos_dt(2026, 11, 22, 1, 5, 0)
        self.ov = {}                # overrides: crc, usize, csize (both); lcrc.., ccrc..; ddcrc, ddusize, ddcsize
        self.lname = None
        self.in_cd = True
        self.cd_off_delta = 0
        self.after = b""
        self.cd_copy_of_offset = None

    def payload(self):
        if self.comp is not None:
            return self.comp
        return deflate(self.data, self.level) if self.method == 8 else self.data


def _central(e, crc, usize, csize, flags, off):
    ccrc = e.ov.get("ccrc", crc); cus = e.ov.get("cusize", usize); ccs = e.ov.get("ccsize", csize)
    coff = off + e.cd_off_delta
    if coff < 0:
        coff = off + 1
    cextra = e.cextra
    if e.zip64:
        if e.z64_offset:
            cextra = struct.pack("<HHQQQ", 1, 24, cus, ccs, coff) + cextra
            coff32 = 0xFFFFFFFF
        else:
            cextra = struct.pack("<HHQQ", 1, 16, cus, ccs) + cextra
            coff32 = coff
        cus32 = ccs32 = 0xFFFFFFFF
    else:
        cus32, ccs32, coff32 = cus & 0xFFFFFFFF, ccs & 0xFFFFFFFF, coff
    return (struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, e.made_by, e.version, flags, e.method,
                        e.time[0], e.time[1], ccrc, ccs32, cus32, len(e.name), len(cextra), 0, 0, 0,
                        e.ext_attr, coff32) + e.name + cextra)


def zbuild(ents, comment=b"", prepend=b"", append=b"", zip64_eocd=False, eocd=None, cd_order=None,
           z64_plain="ones"):
    """Bytes of the archive. eocd: overrides {count, cd_size_delta, cd_off_delta, sig}. An entry
    with cd_copy_of_offset gets only a central record, pointing at that entry's local header."""
    eocd = eocd or {}
    out = bytearray(prepend)
    cds = []
    offsets = {}
    for idx, e in enumerate(ents):
        if e.cd_copy_of_offset is not None:
            continue
        comp = e.payload()
        crc = zlib.crc32(e.data) & 0xFFFFFFFF
        usize, csize = len(e.data), len(comp)
        crc = e.ov.get("crc", crc); usize = e.ov.get("usize", usize); csize = e.ov.get("csize", csize)
        flags = e.flags | (0x08 if e.dd else 0)
        off = len(out)
        offsets[idx] = off
        e.loff = off
        lcrc = e.ov.get("lcrc", 0 if e.dd else crc)
        lus = e.ov.get("lusize", 0 if e.dd else usize)
        lcs = e.ov.get("lcsize", 0 if e.dd else csize)
        lextra = e.lextra
        if e.zip64:
            lextra = struct.pack("<HHQQ", 1, 16, lus, lcs) + lextra
            lus32 = lcs32 = 0xFFFFFFFF
        else:
            lus32, lcs32 = lus & 0xFFFFFFFF, lcs & 0xFFFFFFFF
        lname = e.lname if e.lname is not None else e.name
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, e.version, flags, e.method, e.time[0], e.time[1],
                           lcrc, lcs32, lus32, len(lname), len(lextra)) + lname + lextra
        out += comp
        if e.dd:
            dcrc = e.ov.get("ddcrc", crc); dcs = e.ov.get("ddcsize", csize); dus = e.ov.get("ddusize", usize)
            if e.dd == "sig":
                out += struct.pack("<I", 0x08074B50)
            out += struct.pack("<IQQ", dcrc, dcs, dus) if (e.zip64 or getattr(e, "dd64", False)) else struct.pack("<III", dcrc, dcs, dus)
        out += e.after
        if e.in_cd:
            cds.append(_central(e, crc, usize, csize, flags, off))
    for e in ents:
        if e.cd_copy_of_offset is not None:
            comp = e.payload()
            crc = e.ov.get("crc", zlib.crc32(e.data) & 0xFFFFFFFF)
            cds.append(_central(e, crc, e.ov.get("usize", len(e.data)), e.ov.get("csize", len(comp)),
                                e.flags | (0x08 if e.dd else 0), offsets[e.cd_copy_of_offset]))
    if cd_order is not None:
        cds = [cds[i] for i in cd_order if i < len(cds)]
    cd_start = len(out)
    for c in cds:
        out += c
    cd_size = len(out) - cd_start + eocd.get("cd_size_delta", 0)
    n = eocd.get("count", len(cds))
    cdo = cd_start + eocd.get("cd_off_delta", 0)
    if zip64_eocd:
        z = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cdo)
        out += struct.pack("<IIQI", 0x07064B50, 0, z, 1)
        # the plain end record after zip64 ones: all ones (defer to zip64), the real values, or
        # the counts real and the offset all ones
        if z64_plain == "real":
            vals = (n, n, cd_size, cdo)
        elif z64_plain == "mixed":
            vals = (n, n, cd_size, 0xFFFFFFFF)
        else:
            vals = (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        out += struct.pack("<IHHHHIIH", eocd.get("sig", 0x06054B50), 0, 0, *vals, len(comment)) + comment
    else:
        out += struct.pack("<IHHHHIIH", eocd.get("sig", 0x06054B50), 0, 0, n, n, cd_size, cdo,
                           len(comment)) + comment
    out += append
    return bytes(out)


# ---------------------------------------------------------------- receivers
def partners_cfg(parts):
    s = ""
    for name, (key, types) in parts.items():
        s += f"[partners.{name}]\n"
        if key is not None:
            s += f'key_file = "keys/{name}.key"\n'
        if types is not None:
            s += "types = [" + ", ".join(f'"{t}"' for t in types) + "]\n"
    return s


SMALL = {"max_archive_bytes": 40000, "max_uncompressed_bytes": 120000, "max_ratio": 200,
         "ratio_applies_above": 4096, "max_entries": 8, "max_line_bytes": 1000}
DEFAULT = {"max_archive_bytes": 2147483648, "max_uncompressed_bytes": 8589934592, "max_ratio": 200,
           "ratio_applies_above": MIB, "max_entries": 16, "max_line_bytes": 65536}
BASE_PARTNERS = {"MUNIS": (K1, None), "NOKEY": (None, None), "PAYONLY": (None, ["PAY"])}
# the receiver whose configuration changes: per round
CHG = [{"MUNIS": (K1, None), "NOKEY": (None, None)},
       {"MUNIS": (None, ["PAY", "REV"]), "NOKEY": (None, None)},
       {"MUNIS": (K2, None), "NOKEY": (None, ["REC"])}]


class Receiver:
    def __init__(self, root, name, limits, partners_by_round, owns=(OWN,), limits_by_round=None):
        self.owns = list(owns)
        self.limits_rounds = limits_by_round or [limits]
        self.dir = os.path.join(root, name)
        self.name = name
        self.limits = limits
        self.rounds = partners_by_round
        os.makedirs(self.dir + "/keys")
        self.configure(0)
        sh([BIN, "--config", self.cfg, "init"])
        inv = ["invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"]
        for no in INVOICES:
            inv.append(f"{no};1703002;2-1/2026;P;{PINFL};Aliyev Anvar;999999999.00;2020-01-10 10:00:00;OPEN")
        with open(self.dir + "/invoices.csv", "wb") as f:
            f.write(("\r\n".join(inv) + "\r\n").encode())
        sh([BIN, "--config", self.cfg, "invoices", "import", self.dir + "/invoices.csv"])

    @property
    def cfg(self):
        return self.dir + "/reestr.toml"

    def partners(self, rnd):
        return self.rounds[min(rnd, len(self.rounds) - 1)]

    def configure(self, rnd):
        parts = self.partners(rnd)
        for n, (key, _) in parts.items():
            if key is not None:
                p = f"{self.dir}/keys/{n}.key"
                if os.path.exists(p):
                    os.chmod(p, 0o600)
                with open(p, "w") as f:
                    f.write(key.hex() + "\n")
                os.chmod(p, 0o600)
        cfg = (f'receiver = "{self.own(rnd)}"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\nsettle_seconds = 0\n'
               f'unreadable_grace_seconds = 0\nrun_wait_seconds = 5\n[limits]\n'
               + "".join(f"{k} = {v}\n" for k, v in self.limits_at(rnd).items()) + partners_cfg(parts))
        with open(self.cfg, "w") as f:
            f.write(cfg)

    def limits_at(self, rnd):
        return self.limits_rounds[min(rnd, len(self.limits_rounds) - 1)]

    def own(self, rnd):
        return self.owns[min(rnd, len(self.owns) - 1)]

    def key(self, rnd, snd):
        p = self.partners(rnd).get(snd)
        return p[0] if p else None


def sh(cmd, check=True):
    p = subprocess.run(cmd, capture_output=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{cmd} -> {p.returncode}\n{p.stdout.decode()}\n{p.stderr.decode()}")
    return p


# ---------------------------------------------------------------- the batch and its faults
def fmt_amount(t):
    return "%d.%02d" % (t // 100, t % 100)


def csvfield(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ';"\r\n') else s


class Batch:
    """A batch being built; faults edit it at each stage. codes: list of sets of codes the
    faults applied give, alone (a set of two where the agreement leaves the choice open)."""

    def __init__(self, rnd, case_no, rx, round_no, ident=None, content_seed=None):
        self.r = rnd
        self.content_seed = content_seed if content_seed is not None else rnd.random()
        self.cr = random.Random(self.content_seed)
        self.rx = rx
        self.round = round_no
        if ident is None:
            snd = rnd.choice(["MUNIS"] * 5 + ["NOKEY"] * 2 + ["PAYONLY"]) if rx.name != "chg" else rnd.choice(["MUNIS"] * 3 + ["NOKEY"])
            typ = "PAY" if snd == "PAYONLY" and rnd.random() < 0.7 else rnd.choice(["PAY", "REV", "REC"])
            # a day of its own for each case (no REC meets another case's PAY)
            d = datetime.date(2020, 1, 1) + datetime.timedelta(days=case_no)
            date = d.strftime("%Y%m%d")
            seq = "".join(rnd.choice("0123456789") for _ in range(rnd.choice([3, 3, 3, 4, 5, 6])))
            ident = dict(snd=snd, rcv=OWN, typ=typ, date=date, seq=seq)
        self.ident = dict(ident)
        self.codes = []
        self.desc = []
        self.created_ok = True      # control.txt holds exactly one valid created_at
        self.extras = []            # (name, bytes, listed)
        self.ack_rows = []          # [(line, pid, status, field, amount_tiyin)]
        self.name_override = None
        self.expect_name = None     # 'aside' | 'ignored'

    # -------- names
    @property
    def bid(self):
        i = self.ident
        return f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}"

    def fname(self):
        return self.name_override or self.bid + ".zip"

    def fault(self, codes, desc):
        self.codes.append(set(codes) if not isinstance(codes, str) else {codes})
        self.desc.append(desc)

    # -------- content
    def make_content(self):
        r, i = self.cr, self.ident
        d = i["date"]
        iso = f"{d[:4]}-{d[4:6]}-{d[6:]}"
        self.iso = iso
        self.enc = r.choice(["utf-8"] * 4 + ["windows-1251", "cp866"])
        offs = r.choice(["+05:00", "Z", "+00:00", "-03:30", "+14:00", "+05:00"])
        frac = r.choice(["", "", "", ".5", ".123456"])
        nd = datetime.date(int(d[:4]), int(d[4:6]), int(d[6:])) + datetime.timedelta(days=1)
        sec = r.choice([0, 1, 59, 30])
        self.created = f"{nd.isoformat()}T{r.choice(['01', '13', '23'])}:{r.randint(0, 59):02d}:{sec:02d}{frac}{offs}"
        nrows = r.choice([1, 1, 2, 3])
        self.rows = []
        base = r.randint(10 ** 13, 10 ** 14 - 1)
        for k in range(nrows):
            pid = "%d%03d" % (base, k)
            amt = r.randint(1, 50000)
            a = fmt_amount(amt)
            if i["typ"] == "PAY":
                name = r.choice(["Aliyev Anvar", "Алиев Анвар", 'Firma "Qo‘rg‘on"; MChJ'])
                if self.enc != "utf-8":
                    name = name.replace("‘", "'")
                row = [pid, f"{iso} 10:00:00", r.choice(INVOICES), "P", PINFL, name, a, "860", MFO,
                       r.choice([ACCOUNT, ""]), r.choice(["", "davlat boji", "line\r\nbreak"])]
                self.ack_rows.append([k + 1, pid, "1", "", amt])
            elif i["typ"] == "REV":
                row = [pid, f"{iso} 12:00:00", a, "xato"]
                self.ack_rows.append([k + 1, pid, "4", "", amt])
            else:
                row = [pid, f"{iso} 10:00:00", r.choice(INVOICES), a, r.choice(["PAID", "REVERSED"])]
                self.ack_rows.append([k + 1, pid, "4", "", amt])
            self.rows.append(row)
        self.reg_eol = r.choice(["\r\n", "\n"])
        self.reg_final = r.random() < 0.8
        self.bom = self.enc == "utf-8" and r.random() < 0.2
        self.header = list(HDR[i["typ"]])
        self.reg_post = []          # functions bytes -> bytes
        self.long_line = None
        self.ctl_eol = r.choice(["\n", "\r\n"])
        self.ctl_blank = r.random() < 0.2
        self.ctl_order_shuffle = r.random() < 0.3
        self.ctl_shuffle_seed = r.random()
        self.ctl_edits = []
        self.ctl_pad = 0
        self.rows_delta = 0
        self.total_delta = 0

    def registry_bytes(self):
        lines = [";".join(self.header)] + [";".join(csvfield(f) for f in row) for row in self.rows]
        if self.long_line is not None:
            lines.append(self.long_line)
        s = self.reg_eol.join(lines) + (self.reg_eol if self.reg_final else "")
        b = s.encode(PYENC[self.enc])
        if self.bom:
            b = b"\xef\xbb\xbf" + b
        for f in self.reg_post:
            b = f(b)
        return b

    def control_bytes(self):
        i = self.ident
        nrows = len(self.rows) + (1 if self.long_line is not None else 0)
        total = sum(x[4] for x in self.ack_rows)
        kv = [["format", "munis-offline/1"], ["batch_id", self.bid], ["type", i["typ"]], ["sender", i["snd"]],
              ["receiver", i["rcv"]], ["business_date", self.iso], ["created_at", self.created],
              ["encoding", self.enc], ["rows", str(nrows + self.rows_delta)],
              ["amount_total", fmt_amount(total + self.total_delta)]]
        if self.ctl_order_shuffle:
            random.Random(self.ctl_shuffle_seed).shuffle(kv)
        lines = [f"{k}={v}" for k, v in kv]
        for f in self.ctl_edits:
            lines = f(lines)
        if self.ctl_blank:
            lines.insert(int(self.ctl_shuffle_seed * len(lines)), "")
        s = self.ctl_eol.join(lines) + self.ctl_eol
        return s.encode("latin-1" if getattr(self, "ctl_nonascii", False) else "ascii") + b"\n" * self.ctl_pad


# ---------------------------------------------------------------- faults
# Each fault: (weight, code family, function(batch, stage_state)). Stages: 'content' (registry,
# control), 'manifest', 'hmac', 'entries' (which entries and names), 'layout' (each entry's zip
# form), 'bytes' (the archive's bytes).
FAULTS = []


def fault(stage, weight=1):
    def deco(f):
        FAULTS.append((stage, weight, f))
        return f
    return deco


# ---- B06 / B07 / B08 (content)
@fault("content", 2)
def f_b06(b):
    r = b.r
    k = r.choice(["unknown", "batch_id", "dup", "missing", "type", "date", "created", "space", "format", "created2",
                  "spaces_line", "rows_bad", "total_bad", "nonascii", "lone_cr", "created_bad2"])
    if k == "unknown":
        b.ctl_edits.append(lambda L: L + ["comment=x"])
    elif k == "batch_id":
        b.ctl_edits.append(lambda L: [("batch_id=" + b.bid + "X") if l.startswith("batch_id=") else l for l in L])
    elif k == "dup":
        b.ctl_edits.append(lambda L: L + [next(l for l in L if l.startswith("encoding="))])
    elif k == "missing":
        key = r.choice(["encoding=", "rows=", "format=", "sender="])
        b.ctl_edits.append(lambda L: [l for l in L if not l.startswith(key)])
        k += ":" + key
    elif k == "type":
        t = {"PAY": "REV", "REV": "REC", "REC": "PAY"}[b.ident["typ"]]
        b.ctl_edits.append(lambda L: [("type=" + t) if l.startswith("type=") else l for l in L])
    elif k == "date":
        b.ctl_edits.append(lambda L: [("business_date=" + b.iso.replace("-", "")) if l.startswith("business_date=") else l for l in L])
    elif k == "created":
        bad = r.choice([b.created.replace("T", " "), b.created[:19], b.created[:10] + "T25:00:00+05:00",
                        b.created[:19] + "+5:00"])
        b.ctl_edits.append(lambda L: [("created_at=" + bad) if l.startswith("created_at=") else l for l in L])
        b.created_ok = False
        k += ":" + bad
    elif k == "created2":
        b.ctl_edits.append(lambda L: L + ["created_at=" + b.created])
        b.created_ok = False
    elif k == "nonascii":
        # a byte that is not ASCII in another line: B06, and created_at is still the one valid
        # line (§8: copied)
        b.ctl_edits.append(lambda L: L + ["comment=caf\u00e9"])
        b.ctl_nonascii = True
    elif k == "lone_cr":
        # the created_at line and the next joined by a CR alone, which ends no line (§4: LF or
        # CRLF; README): the value is not valid, so the fallback
        def j(L):
            i = next(n for n, l in enumerate(L) if l.startswith("created_at="))
            if i + 1 < len(L):
                return L[:i] + [L[i] + "\r" + L[i + 1]] + L[i + 2:]
            return L[:i] + [L[i] + "\r"]
        b.ctl_edits.append(j)
        b.created_ok = False
    elif k == "created_bad2":
        b.ctl_edits.append(lambda L: L + ["created_at=yesterday"])
        b.created_ok = False
    elif k == "space":
        b.ctl_edits.append(lambda L: [("rows = " + l[5:]) if l.startswith("rows=") else l for l in L])
    elif k == "format":
        b.ctl_edits.append(lambda L: [("format=munis-offline/2") if l.startswith("format=") else l for l in L])
    elif k == "spaces_line":
        b.ctl_edits.append(lambda L: L + ["   "])
    elif k == "rows_bad":
        b.ctl_edits.append(lambda L: [("rows=x" + l[5:]) if l.startswith("rows=") else l for l in L])
    elif k == "total_bad":
        b.ctl_edits.append(lambda L: [(l[:-3]) if l.startswith("amount_total=") else l for l in L])
    b.fault("B06", "control " + k)


@fault("content", 2)
def f_b07(b):
    k = b.r.choice(["hdr_name", "hdr_extra", "hdr_order"] + (["bad_byte"] if b.enc != "cp866" else []))
    if k == "hdr_name":
        i = b.r.randrange(len(b.header))
        b.header[i] = b.header[i] + "x"
    elif k == "hdr_extra":
        b.header.append("extra")
    elif k == "hdr_order":
        # a rotation, so that the fault given twice is still a wrong order (a swap twice is not)
        b.header.append(b.header.pop(0))
    else:
        # a byte invalid in the declared encoding (README: 0x98 in windows-1251), in the last
        # field of the first data row
        bad = b"\xff" if b.enc == "utf-8" else b"\x98"
        b.rows[0][-1] = b.rows[0][-1] + "@@BAD@@"
        b.reg_post.append(lambda x: x.replace(b"@@BAD@@", bad))
    b.fault("B07", "registry " + k)


@fault("content", 2)
def f_b08(b):
    k = b.r.choice(["rows+1", "rows-1", "total+1", "total-1"])
    if k.startswith("rows"):
        b.rows_delta = 1 if k.endswith("+1") else -1
    else:
        if k == "total-1" and sum(x[4] for x in b.ack_rows) == 0:
            k = "total+1"
        b.total_delta = 1 if k.endswith("+1") else -1
    b.fault("B08", "control " + k)


@fault("content", 2)
def f_long_line(b):
    """A registry line at or over the configured limit (bytes without the line end)."""
    if getattr(b, "long_done", False):
        return
    b.long_done = True
    lim = b.rx.limits["max_line_bytes"]
    over = b.r.random() < 0.6
    n = lim + (b.r.choice([1, 2, 100]) if over else b.r.choice([0, 0, -1]))
    form = b.r.choice(["plain", "plain", "lone_cr_end", "quoted", "header", "cr_before_eol"])
    if form == "header":
        # the header line itself: over the limit is B02, which comes before the B07 of a header
        # that differs from the schema
        head = ";".join(b.header) + ";"
        b.header.append("x" * (n - len(head.encode())))
        b.fault("B07", "registry header with an extra long name")
        b.long_header = True        # judged once every content fault is applied (header_fault)
        return
    pid = "9%013d" % b.r.randint(0, 10 ** 13 - 1)
    t = b.ident["typ"]
    fields = {"PAY": [pid, f"{b.iso} 10:00:00", INVOICES[0], "P", PINFL, "Aliyev", "1.00", "860", MFO, "", None],
              "REV": [pid, f"{b.iso} 12:00:00", "1.00", None],
              "REC": [pid, f"{b.iso} 10:00:00", INVOICES[0], "1.00", None]}[t]
    head = ";".join(f for f in fields if f is not None) + ";"
    fill = n - len(head.encode())
    line = head + "x" * fill
    assert len(line.encode()) == n
    if form == "cr_before_eol":
        # the line's last byte is a CR and a line end follows: with LF line ends the CR and LF
        # make one CRLF line end (the line is a byte shorter); with CRLF ones the CR is a byte
        # of the line
        line = line[:-1] + "\r"
        b.reg_final = True
        if b.reg_eol == "\n":
            n -= 1
            line_desc = "CR then LF"
        else:
            line_desc = "CR then CRLF"
        over = n > lim
        form += " " + line_desc
    elif form == "lone_cr_end":
        # the last line, without a line end, ends in a CR: §5's line ends are CRLF and LF, so
        # the CR is a byte of the line
        line = line[:-1] + "\r"
        b.reg_final = False
    elif form == "quoted":
        # a quoted field broken over physical lines: only the longest physical line counts
        first = n - b.r.randint(0, 50) if b.r.random() < 0.5 else b.r.randint(len(head) + 2, lim)
        a = max(first - len(head) - 1, 1)
        second = n if first != n else b.r.randint(1, lim)
        if not over:
            second = min(second, lim)
        line = head + '"' + "x" * a + b.r.choice(["\r\n", "\n"]) + "y" * max(second - 1, 1) + '"'
        n = max(len(head) + 1 + a, max(second - 1, 1) + 1)
        over = n > lim
    b.long_line = line
    form += f" longest physical line {n}"
    # the last field is too long for its rule: 202 for that field (rows of the ACK)
    fld = {"PAY": "purpose", "REV": "reason", "REC": "state"}[t]
    b.ack_rows.append([len(b.rows) + 1, pid, "202", fld, 100])
    if over:
        b.fault("B02", f"registry line {form} of {n} bytes (limit {lim})")
        b.line_fault = len(b.codes) - 1
    else:
        b.desc.append(f"(valid) registry line {form} of {n} bytes (limit {lim})")


def header_fault(b):
    """The header line against the line limit, once all content faults are applied."""
    lim = b.rx.limits["max_line_bytes"]
    n = len(";".join(b.header).encode(PYENC[b.enc]))
    if n > lim:
        b.fault("B02", f"registry header line of {n} bytes (limit {lim})")
        b.line_fault = len(b.codes) - 1
    elif b.bom and n + 3 > lim:
        # README: a UTF-8 BOM is a byte of the first physical line
        b.fault("B02", f"header line of {n} bytes, {n + 3} with the BOM (limit {lim})")
        b.line_fault = len(b.codes) - 1
    else:
        b.desc.append(f"(within limit) header line of {n} bytes (limit {lim})")


@fault("content", 1)
def f_ctl_pad(b):
    """control.txt padded with blank lines (ignored, §4): a high ratio, judged above the
    configured size only; or a sum of sizes over the limit."""
    lim = b.rx.limits["ratio_applies_above"]
    if lim > 4 * MIB:
        return
    kinds = ["over", "under", "sum"] if b.rx.limits["max_uncompressed_bytes"] < MIB else ["over", "under"]
    if min(b.rx.limits["max_uncompressed_bytes"], b.rx.limits["max_archive_bytes"]) > 3 * MIB:
        kinds.append("big_stored")
    k = b.r.choice(kinds)
    b.pad_kind = k
    if k == "over":
        b.ctl_pad = max(lim + 1000, 60000)
        b.desc.append(f"control.txt of {b.ctl_pad}+ bytes deflated")
    elif k == "under":
        b.ctl_pad = lim - 600
        b.desc.append("(valid) control.txt padded just under the ratio threshold")
    elif k == "big_stored":
        # §4: blank lines are ignored; §3 bounds the file only as an entry (README: judged line
        # by line when over 1 MiB)
        b.ctl_pad = MIB + b.r.randint(1, 5000)
        b.desc.append(f"(valid) control.txt stored, {b.ctl_pad} blank lines")
    else:
        b.ctl_pad = b.rx.limits["max_uncompressed_bytes"] + 10
        b.desc.append("control.txt stored, over the sum of sizes")


# ---- B04 (manifest)
@fault("manifest", 3)
def f_b04(b):
    k = b.r.choice(["upper", "onespace", "crlf", "nofinal", "extra_line", "missing_line", "self", "hmacline",
                    "wronghash", "dupline", "blankline", "star", "dotslash", "trailspace", "empty", "tab",
                    "case", "bom", "leadspace"])
    M = b.man_lines     # list of [hash, name]

    def fmt(lines, sep="  ", eol="\n", final=True):
        s = eol.join(f"{h}{sep}{n}" for h, n in lines)
        return (s + (eol if final else "")).encode()
    if k == "upper":
        i = b.r.randrange(len(M)); M[i][0] = M[i][0].upper()
        if M[i][0] == M[i][0].lower():
            M[i][0] = "A" * 64
        b.man_bytes = fmt(M)
    elif k == "onespace":
        b.man_bytes = fmt(M, sep=" ")
    elif k == "tab":
        b.man_bytes = fmt(M, sep="\t")
    elif k == "crlf":
        b.man_bytes = fmt(M, eol="\r\n")
    elif k == "nofinal":
        b.man_bytes = fmt(M, final=False)
    elif k == "extra_line":
        b.man_bytes = fmt(M + [[hashlib.sha256(b"x").hexdigest(), "notthere.txt"]])
    elif k == "missing_line":
        i = b.r.randrange(len(M)); b.man_bytes = fmt(M[:i] + M[i + 1:])
    elif k == "self":
        b.man_bytes = fmt(M + [[hashlib.sha256(b"").hexdigest(), "manifest.sha256"]])
    elif k == "hmacline":
        b.man_bytes = fmt(M + [[hashlib.sha256(b"").hexdigest(), "manifest.sha256.hmac"]])
    elif k == "wronghash":
        i = b.r.randrange(len(M)); h = M[i][0]
        M[i][0] = h[:-1] + ("0" if h[-1] != "0" else "1"); b.man_bytes = fmt(M)
    elif k == "case":
        i = b.r.randrange(len(M)); M[i][1] = M[i][1][:1].upper() + M[i][1][1:]; b.man_bytes = fmt(M)
    elif k == "bom":
        b.man_bytes = b"\xef\xbb\xbf" + fmt(M)
    elif k == "leadspace":
        b.man_bytes = b" " + fmt(M)
    elif k == "dupline":
        b.man_bytes = fmt(M + [M[0]])
    elif k == "blankline":
        b.man_bytes = fmt(M) + b"\n"
    elif k == "star":
        b.man_bytes = fmt(M, sep=" *")
    elif k == "dotslash":
        i = b.r.randrange(len(M)); M[i][1] = "./" + M[i][1]; b.man_bytes = fmt(M)
    elif k == "trailspace":
        i = b.r.randrange(len(M)); M[i][1] = M[i][1] + " "; b.man_bytes = fmt(M)
    elif k == "empty":
        b.man_bytes = b""
    b.fault("B04", "manifest " + k)


# ---- B05 (hmac)
@fault("hmac", 3)
def f_b05(b):
    if b.key_now is None:
        return
    k = b.r.choice(["missing", "wrong", "upper", "lead_space", "trail_space", "two_lf", "cr", "otherkey",
                    "short", "over_other", "empty", "crcrlf", "lf_before"])
    good = hmac.new(b.key_now, b.man_bytes, hashlib.sha256).hexdigest()
    if k == "missing":
        b.hmac_bytes = None
    elif k == "wrong":
        b.hmac_bytes = ("0" * 64).encode()
    elif k == "upper":
        b.hmac_bytes = good.upper().encode()
        if good.upper() == good:
            b.hmac_bytes = b"0" * 64
    elif k == "lead_space":
        b.hmac_bytes = (" " + good).encode()
    elif k == "trail_space":
        b.hmac_bytes = (good + " \n").encode()
    elif k == "two_lf":
        b.hmac_bytes = (good + "\n\n").encode()
    elif k == "cr":
        b.hmac_bytes = (good + "\r").encode()
    elif k == "otherkey":
        other = K2 if b.key_now == K1 else K1
        b.hmac_bytes = hmac.new(other, b.man_bytes, hashlib.sha256).hexdigest().encode()
    elif k == "empty":
        b.hmac_bytes = b""
    elif k == "crcrlf":
        b.hmac_bytes = (good + "\r\r\n").encode()
    elif k == "lf_before":
        b.hmac_bytes = ("\n" + good).encode()
    elif k == "short":
        b.hmac_bytes = good[:-2].encode()
    elif k == "over_other":
        b.hmac_bytes = hmac.new(b.key_now, b.man_bytes + b"\n", hashlib.sha256).hexdigest().encode()
    b.desc.append("hmac " + k)      # the oracle judges the HMAC itself, under each round's key


# ---- B03 (which entries)
@fault("entries", 3)
def f_b03(b):
    k = b.r.choice(["missing_control", "missing_registry", "missing_manifest", "extra", "extra_listed", "case_control",
                    "case_registry", "upper_ext", "nonutf8"])
    if k == "missing_manifest":
        b.drop_manifest = True
    elif k.startswith("missing_"):
        n = {"missing_control": "control.txt", "missing_registry": "registry.csv"}[k]
        b.files = [(x, d) for x, d in b.files if x != n]
        b.man_keep.add(n)           # still listed in the manifest
        if n == "control.txt":
            b.created_ok = False
    elif k in ("extra", "extra_listed"):
        n = b.r.choice(["readme.txt", "registry.csv.bak", "manifest.sha256.sig", "x", "MANIFEST.SHA256"])
        b.files.append((n, b"hello\n"))
        if k == "extra":
            b.unlisted.add(n)
    elif k == "case_control":
        b.files = [("Control.txt" if x == "control.txt" else x, d) for x, d in b.files]
        b.created_ok = False
    elif k == "case_registry":
        b.files = [("Registry.csv" if x == "registry.csv" else x, d) for x, d in b.files]
    elif k == "upper_ext":
        b.files = [("registry.CSV" if x == "registry.csv" else x, d) for x, d in b.files]
    elif k == "nonutf8":
        # README: a name that is not UTF-8 is not an allowed name (B03)
        b.files.append((b"r\xe9gistry.csv", b"x\n"))
        b.unlisted.add(b"r\xe9gistry.csv")
    b.fault("B03", "entries " + k)


# ---- B02 (entries: names, kinds, flags, methods, counts)
@fault("layout", 4)
def f_b02(b):
    r = b.r
    k = r.choice(["slash", "backslash", "dotdot", "absolute", "drive", "empty", "ctrl", "del", "dir", "dirdos",
                  "symlink", "fifo", "encrypted", "method", "dup", "dup_extra", "many", "ratio_big",
                  "declared_total", "declared_ratio", "dotslash", "dirattr_noslash", "flag_5_6_13"])
    e = r.choice(b.ents)
    nm = e.name
    if k == "slash":
        e.name = b"sub/" + nm
    elif k == "dotslash":
        e.name = b"./" + nm
    elif k == "backslash":
        e.name = b"sub\\" + nm
    elif k == "dotdot":
        e.name = b"../" + nm
    elif k == "absolute":
        e.name = b"/" + nm
    elif k == "drive":
        e.name = b"C:" + nm
    elif k == "empty":
        e.name = b""
    elif k == "ctrl":
        e.name = nm[:3] + bytes([r.choice([1, 9, 10, 13, 27, 0x1f])]) + nm[3:]
    elif k == "del":
        c = r.choice([b"\x7f", b"\x00", b"\xc2\x85"])
        e.name = nm + c
        if c == b"\xc2\x85":
            # README: a name holding a control character (C1 too, in a UTF-8 name) is B02
            b.fault("B02", f"B02 C1 control U+0085 in {nm!r}")
            return
    elif k == "dir":
        d = Ent(r.choice(["sub/", "control.txt/"]), b"")
        d.method = 0; d.ext_attr = (0o40755 << 16) | 0x10
        b.ents.insert(r.randint(0, len(b.ents)), d)
    elif k == "dirattr_noslash":
        # a directory by its attributes (unix S_IFDIR, DOS 0x10), its name without a slash
        d = Ent("folder", b""); d.method = 0; d.ext_attr = (0o40755 << 16) | 0x10
        b.ents.insert(r.randint(0, len(b.ents)), d)
    elif k == "dirdos":
        d = Ent("sub/", b""); d.method = 0; d.made_by = 20; d.ext_attr = 0x10
        b.ents.insert(r.randint(0, len(b.ents)), d)
    elif k == "symlink":
        e.made_by = (3 << 8) | 63; e.ext_attr = 0o120777 << 16
    elif k == "fifo":
        e.made_by = (3 << 8) | 63; e.ext_attr = 0o010644 << 16
    elif k == "encrypted":
        e.flags |= r.choice([1, 1, 0x41])
    elif k == "flag_5_6_13":
        # flag bits of patched data (5), strong encryption (6, which APPNOTE says comes with
        # bit 0) or a masked local header (13), without bit 0: Python's zipfile refuses bits 5
        # and 6. README: B02, as an encrypted entry or an unsupported method
        bit = r.choice([0x20, 0x40, 0x2000])
        e.flags |= bit
        b.fault("B02", f"flag bit {bit:#x} without bit 0 on {nm!r}")
        return
    elif k == "method":
        e.comp = e.payload(); e.method = r.choice([1, 6, 9, 12, 14, 93, 95, 98, 99])
    elif k == "dup":
        c = Ent(nm, e.data); c.method = e.method
        b.ents.insert(r.randint(0, len(b.ents)), c)
    elif k == "dup_extra":
        c = Ent(nm, b"other bytes\n")
        b.ents.insert(r.randint(0, len(b.ents)), c)
    elif k == "many":
        n = b.rx.limits["max_entries"] + 1 - len(b.ents)
        for j in range(max(n, 1)):
            b.ents.append(Ent(f"extra{j}.txt", b"x"))
    elif k == "ratio_big":
        lim = b.rx.limits["ratio_applies_above"]
        c = Ent("pad.bin", b"\0" * (lim + 1 + r.randint(0, 5000)))
        c.level = 9
        b.ents.insert(r.randint(0, len(b.ents)), c)
    elif k == "declared_total":
        # the central directory and local header declare more than the limit allows (judged
        # before inflating, §3); the real bytes are few
        lim = b.rx.limits["max_uncompressed_bytes"]
        e.ov["usize"] = lim + 1
        if lim + 1 > 0xFFFFFFFE:
            e.zip64 = True; e.version = 45
        if e.dd:
            e.ov["ddusize"] = lim + 1
            if lim + 1 > 0xFFFFFFFE:
                pass
        k += f" ({e.name.decode(errors='replace')} declares {lim + 1})"
    elif k == "declared_ratio":
        lim = b.rx.limits["ratio_applies_above"]
        csz = len(e.payload())
        e.ov["usize"] = max(lim + 1, 201 * csz + 1)
        if e.dd:
            e.ov["ddusize"] = e.ov["usize"]
        k += f" ({e.name.decode(errors='replace')} declares {e.ov['usize']} for {csz})"
    if k in ("many", "ratio_big", "declared_total", "declared_ratio"):
        # limits: judged by the oracle from the sizes and counts of the archive as built
        # (§3: from the central directory before inflating, and from the real bytes)
        b.desc.append("B02? " + k)
        return
    b.fault({"B02"}, "B02 " + k + (f" on {nm!r}" if k not in ("many", "ratio_big", "dir", "dirdos", "dirattr_noslash") else ""))


# ---- B01 (corruption of entries and records)
@fault("layout", 4)
def f_b01(b):
    r = b.r
    k = r.choice(["crc", "usize", "csize_trunc", "btype", "lname", "lmethod", "cdoff", "gap", "overlap_csize",
                  "ddcrc", "lcrc", "notincd", "dupoffset", "badextra", "dd_missing", "eocd_disk", "deflate_tail",
                  "enc_local", "lsize"])
    cand = b.ents
    e = r.choice(cand)
    codes = {"B01"}
    if k == "crc":
        e.ov["crc"] = (zlib.crc32(e.data) ^ (1 << r.randrange(32))) & 0xFFFFFFFF
    elif k == "ddcrc":
        if not e.dd:
            e.dd = "sig"
        e.ov["ddcrc"] = (zlib.crc32(e.data) ^ 0x10) & 0xFFFFFFFF
    elif k == "lsize":
        # the local header's size differs from the central record's (the two copies)
        if e.dd:
            e.dd = None
        e.ov["lusize"] = len(e.data) + 1
    elif k == "lcrc":
        if e.dd:
            e.dd = None
        e.ov["lcrc"] = (zlib.crc32(e.data) ^ 0x100) & 0xFFFFFFFF
    elif k == "usize":
        d = r.choice([-1, 1, 2, -2]) if len(e.data) > 2 else 1
        e.ov["usize"] = len(e.data) + d
        if e.dd:
            e.ov["ddusize"] = len(e.data) + d
        k += f"{d:+d}"
    elif k == "csize_trunc":
        p = e.payload()
        if len(p) < 2:
            e.method = 8; e.comp = None; p = e.payload()
        e.comp = p[:-1]
    elif k == "btype":
        e.method = 8; e.comp = None
        p = bytearray(e.payload()); p[0] |= 0x06; e.comp = bytes(p)
    elif k == "lname":
        e.lname = e.name[:-1] + (b"_" if e.name[-1:] != b"_" else b"-")
    elif k == "lmethod":
        pass  # set in bytes stage (method differs between copies)
    elif k == "deflate_tail":
        # bytes after the final deflate block, within the declared compressed size
        e.method = 8; e.comp = None
        e.comp = deflate(e.data, e.level) + r.choice([b"\0", deflate(b"")])
    elif k == "enc_local":
        # the encryption flag in the local header only: the two copies differ (README: B01),
        # or an encrypted entry (B02), as the archive is read
        b.enc_local = e
        codes = {"B01", "B02"}
    elif k == "badextra":
        # an extra block that says it is longer than the room left in its record
        e.cextra = e.cextra + struct.pack("<HH", 0x5455, 40) + b"\x01"
    elif k == "dd_missing":
        # flag bit 3 with no descriptor after the data
        if e.dd is None:
            e.flags |= 0x08
        else:
            e.dd = None; e.flags |= 0x08
        e.ov["lcrc"] = 0; e.ov["lusize"] = 0; e.ov["lcsize"] = 0
    elif k == "eocd_disk":
        # the end record's "number of this disk" is 1 (a split archive's last part): silent in
        # the agreement; decided in the README ("A split archive is B01")
        b.byte_faults.append("eocd_disk")
        codes = {"B01"}
    elif k == "cdoff":
        e.cd_off_delta = r.choice([1, -1, 4])
    elif k == "gap":
        e.after = b"\0" * r.randint(1, 30)
    elif k == "overlap_csize":
        idx = b.ents.index(e)
        if idx + 1 < len(b.ents):
            # its compressed size takes in the next entry's local header
            e.ov["csize"] = len(e.payload()) + 30
            if e.dd:
                e.ov["ddcsize"] = len(e.payload()) + 30
        else:
            e.ov["csize"] = len(e.payload()) + 1
            if e.dd:
                e.ov["ddcsize"] = len(e.payload()) + 1
    elif k == "notincd":
        x = Ent("control.txt", b"hidden\n")
        x.in_cd = False
        b.ents.insert(r.randint(0, len(b.ents)), x)
    elif k == "dupoffset":
        # a second central record for the same local header (same name): overlapping entries and
        # a duplicate name at once, B01 or B02 as the archive is read
        idx = b.ents.index(e)
        x = Ent(e.name, e.data); x.method = e.method; x.comp = e.comp; x.level = e.level
        x.dd = e.dd; x.zip64 = e.zip64; x.version = e.version; x.flags = e.flags
        x.cd_copy_of_offset = idx
        x.lname = e.name
        b.ghost.append(x)
        codes = {"B01", "B02"}
    if k == "lmethod":
        b.lmethod_fault = e
    b.fault(codes, "B01 " + k + f" on {e.name!r}")


@fault("layout", 3)
def f_boundary(b):
    """§3's limits at their boundary, with an extra entry pad.bin (B03 when within the limits,
    B02 when over): exactly the size above which the ratio applies, a ratio of exactly 200, the
    sum of sizes exactly at the limit; the archive's size exactly at the limit (made with the
    comment: an ACK when within); exactly max_entries entries (B03 for the extra names)."""
    L = b.rx.limits
    r = b.r
    k = r.choice(["threshold", "ratio", "sum", "archive", "entries"] if L["max_uncompressed_bytes"] < MIB
                 else ["threshold", "ratio", "entries"])
    d = r.choice([0, 0, 1])
    if k == "threshold":
        # an entry of exactly the threshold (+d) bytes of zeros, deflated far beyond 200:1
        e = Ent("pad.bin", b"\0" * (L["ratio_applies_above"] + d)); e.level = 9
        b.ents.insert(r.randint(0, len(b.ents)), e)
    elif k == "ratio":
        kk = L["ratio_applies_above"] // L["max_ratio"] + 40
        n = L["max_ratio"] * kk
        e = Ent("pad.bin", b"\0" * n)
        e.comp = Z.deflate_exact(e.data, kk - d)      # a ratio of exactly 200, or just over
        e.real_ok = True
        b.ents.insert(r.randint(0, len(b.ents)), e)
    elif k == "sum":
        have = sum(len(e.data) for e in b.ents)
        n = L["max_uncompressed_bytes"] - have + d
        if n < 3000:
            return
        e = Ent("pad.bin", b"\0" * n)
        e.comp = Z.deflate_exact(e.data, n // 150)     # well within the ratio
        e.real_ok = True
        b.ents.insert(r.randint(0, len(b.ents)), e)
    elif k == "archive":
        b.target_size = L["max_archive_bytes"] + d
        b.desc.append(f"archive of exactly {b.target_size} bytes (limit {L['max_archive_bytes']}), by its comment")
        return
    elif k == "entries":
        for j in range(L["max_entries"] - len(b.ents) + d):
            b.ents.append(Ent(f"extra{j}.txt", b"x"))
    if k != "archive":
        b.fault("B03", f"extra entries ({k} boundary +{d})")


@fault("bytes", 1)
def f_fake_eocd(b):
    """The comment holds a whole end record of an empty archive that ends the file too: a reader
    searching backwards for the end record sees no entries. Silent in the agreement; README: an
    archive that reads two ways is B01. Both B01 and the answer without it are accepted."""
    b.fake_eocd = True
    b.fault({"B01", "-"}, "comment holding an end record")


@fault("bytes", 3)
def f_b01_bytes(b):
    k = b.r.choice(["truncate", "truncate", "prepend", "append", "eocd_count", "eocd_cdoff", "eocd_cdsize", "eocd_sig",
                    "comment_len"])
    b.byte_faults.append(k)
    b.fault("B01", "archive " + k)


# ---------------------------------------------------------------- building a delivery
def valid_layout(b, e):
    r = b.r
    e.method = r.choice([8, 8, 8, 0])
    e.level = r.choice([1, 6, 9, 6, 0])       # level 0: deflate of stored blocks
    if e.method == 8 and r.random() < 0.1 and not (b.ctl_pad and e.name == b"control.txt"):
        # a deflate stream in many blocks (full flushes every few bytes)
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        step = r.randint(3, 200)
        e.comp = b"".join(c.compress(e.data[i:i + step]) + c.flush(zlib.Z_FULL_FLUSH)
                          for i in range(0, len(e.data), step)) + c.flush()
        e.real_ok = True
    pk = getattr(b, "pad_kind", None)
    if pk == "over" and e.name == b"control.txt":
        e.method = 8; e.level = 9
    if pk in ("sum", "big_stored") and e.name == b"control.txt":
        e.method = 0
    if r.random() < 0.25:
        e.dd = r.choice(["sig", "nosig"])
        if r.random() < 0.2:
            # the local header repeats the real values too (README: they "may be zero")
            e.ov["lcrc"] = zlib.crc32(e.data) & 0xFFFFFFFF
            e.ov["lusize"] = len(e.data); e.ov["lcsize"] = len(e.payload())
        elif r.random() < 0.15:
            # 8-byte sizes in the descriptor without zip64 (README: 4 or 8; for an empty entry,
            # whose zero sizes read either way, the reading that the next header follows)
            e.dd64 = True
    if r.random() < 0.15:
        e.zip64 = True
        e.version = 45
        e.z64_offset = r.random() < 0.6
    else:
        e.version = r.choice([20, 20, 10 if e.method == 0 else 20, 45])
    if r.random() < 0.3:
        e.flags |= 0x800
    if e.method == 8 and r.random() < 0.2:
        e.flags |= r.choice([2, 4, 6])
    if r.random() < 0.2:
        # extended timestamp (UT) and unix uid/gid (ux) extra fields
        ut = struct.pack("<HHBI", 0x5455, 5, 1, 1763760300)
        ux = struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000)
        e.lextra = ut + ux
        e.cextra = ut
    if r.random() < 0.05:
        e.cextra += struct.pack("<HH", 0xCAFE, 0)
    who = r.random()
    if who < 0.5:
        e.made_by = (3 << 8) | r.choice([20, 30, 63])
        e.ext_attr = r.choice([0o100644, 0o100600, 0o100755, 0o100444]) << 16
    elif who < 0.85:
        e.made_by = r.choice([0, 10 << 8, 14 << 8]) | 20
        e.ext_attr = r.choice([0x20, 0, 0x01, 0x21])
    elif who < 0.95:
        e.made_by = (3 << 8) | 63
        e.ext_attr = (0o100644 << 16) | 0x20
    else:
        # unix, no mode at all (Python's ZipInfo default external_attr=0): no file type given,
        # read as a plain file
        e.made_by = (3 << 8) | 20
        e.ext_attr = 0
        b.desc.append(f"(valid) unix made_by, external attributes 0 on {e.name!r}")
    y = r.randint(1980, 2107)
    e.time = dos_dt(y, r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59), r.randrange(0, 60, 2))


def build_delivery(rnd, rx, round_no, ident, case_no, nfaults, allow, content_seed=None):
    """A new archive for this batch id in this round: (Batch, bytes)."""
    b = Batch(rnd, case_no, rx, round_no, ident, content_seed)
    b.make_content()
    b.ghost = []
    b.byte_faults = []
    b.lmethod_fault = None
    b.key_now = rx.key(round_no, b.ident["snd"])
    chosen = []
    pool = [f for f in FAULTS if f[0] in allow]
    for _ in range(nfaults):
        tot = sum(w for _, w, _ in pool)
        x = rnd.uniform(0, tot)
        for st, w, f in pool:
            x -= w
            if x <= 0:
                chosen.append((st, f)); break
    by = lambda s: [f for st, f in chosen if st == s]
    for f in by("content"):
        f(b)
    if getattr(b, "long_header", False):
        header_fault(b)
    reg = b.registry_bytes()
    ctl = b.control_bytes()
    files = [("control.txt", ctl), ("registry.csv", reg)]
    b.files = list(files)
    b.unlisted, b.man_keep, b.drop_manifest = set(), set(), False
    # which entries there are (B03) first, so that an extra entry can be listed
    for f in by("entries"):
        f(b)
    if getattr(b, "line_fault", None) is not None and "registry.csv" not in [n for n, _ in b.files]:
        # the line limit is a rule of the registry: a registry renamed or left out has none
        b.codes[b.line_fault] = set()
    b.man_lines = [[hashlib.sha256(d).hexdigest(), n if isinstance(n, str) else n.decode("latin-1")]
                   for n, d in files if n in b.man_keep] + \
                  [[hashlib.sha256(d).hexdigest(), n if isinstance(n, str) else n.decode("latin-1")]
                   for n, d in b.files if n not in b.unlisted]
    rnd.shuffle(b.man_lines)
    b.man_bytes = "".join(f"{h}  {n}\n" for h, n in b.man_lines).encode()
    for f in by("manifest"):
        f(b)
    # HMAC: the key configured for the sender now (or, rarely, none: the no-key case allows it)
    if b.key_now is not None:
        good = hmac.new(b.key_now, b.man_bytes, hashlib.sha256).hexdigest()
        b.hmac_bytes = (good + rnd.choice(["", "", "\n", "\r\n"])).encode()
    else:
        x = rnd.random()
        if x < 0.3:
            b.hmac_bytes = hmac.new(K1, b.man_bytes, hashlib.sha256).hexdigest().encode()
        elif x < 0.4:
            b.hmac_bytes = b"garbage, ignored\n"
        else:
            b.hmac_bytes = None
    for f in by("hmac"):
        f(b)
    if not b.drop_manifest:
        b.files.append(("manifest.sha256", b.man_bytes))
    if b.hmac_bytes is not None:
        b.files.append(("manifest.sha256.hmac", b.hmac_bytes))
    rnd.shuffle(b.files)
    b.ents = []
    for n, d in b.files:
        e = Ent(n, d)
        valid_layout(b, e)
        b.ents.append(e)
    for f in by("layout"):
        f(b)
    comment = rnd.choice([b"", b"", b"", b"MUNIS offline", b"x" * rnd.randint(1, 200)])
    if getattr(b, "fake_eocd", False):
        comment = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0, 0, 0, 0, 0)
    if getattr(b, "target_size", None):
        base = len(zbuild(b.ents + b.ghost, comment=b"", zip64_eocd=False))
        comment = b"c" * (b.target_size - base)
        assert len(comment) < 65536
    z64 = rnd.random() < 0.15 and not getattr(b, "target_size", None)
    cd_order = None
    if rnd.random() < 0.1:
        cd_order = list(range(len(b.ents) + len(b.ghost)))
        rnd.shuffle(cd_order)
    ents = b.ents + b.ghost
    eocd = {}
    prepend = append = b""
    for k in b.byte_faults:
        if k == "prepend":
            prepend = rnd.choice([b"PK\x03\x04", b"\0" * rnd.randint(1, 100), b"MZ garbage"])
        elif k == "append":
            append = rnd.choice([b"\0", b"trailing", b"PK\x05\x06" + b"\0" * 18])
        elif k == "eocd_count":
            eocd["count"] = len([e for e in ents if e.in_cd]) + rnd.choice([1, -1])
        elif k == "eocd_cdoff":
            eocd["cd_off_delta"] = rnd.choice([1, -1, -4])
        elif k == "eocd_cdsize":
            eocd["cd_size_delta"] = rnd.choice([1, -1])
        elif k == "eocd_sig":
            eocd["sig"] = 0x06054B51
    data = zbuild(ents, comment=comment, prepend=prepend, append=append, zip64_eocd=z64, eocd=eocd,
                  cd_order=cd_order if not b.ghost else None,
                  z64_plain=rnd.choice(["ones", "ones", "real", "mixed"]))
    if getattr(b, "enc_local", None) is not None:
        pos = b.enc_local.loff + 6
        fl = struct.unpack_from("<H", data, pos)[0]
        data = data[:pos] + struct.pack("<H", fl | 1) + data[pos + 2:]
    if b.lmethod_fault is not None:
        # the local header gives another method than the central record
        pos = b.lmethod_fault.loff
        m = struct.unpack_from("<H", data, pos + 8)[0]
        data = data[:pos + 8] + struct.pack("<H", 0 if m == 8 else 8) + data[pos + 10:]
    for k in b.byte_faults:
        if k == "truncate":
            data = data[:rnd.choice([0, 1, 22, rnd.randint(1, len(data) - 1), rnd.randint(1, len(data) - 1)])]
        elif k == "eocd_disk":
            p = data.rfind(b"PK\x05\x06")
            data = data[:p + 4] + struct.pack("<H", 1) + data[p + 6:]
        elif k == "comment_len":
            # the end record's comment length says one more byte than there is
            p = data.rfind(b"PK\x05\x06")
            if p >= 0:
                cl = struct.unpack_from("<H", data, p + 20)[0]
                data = data[:p + 20] + struct.pack("<H", cl + 1) + data[p + 22:]
    b.lim_ents, b.lim_data = ents, data        # judged by the oracle under the round's limits
    b.layout_desc = (f"entries={[e.name.decode(errors='replace') for e in b.ents]} "
                     f"methods={[e.method for e in b.ents]} dd={[e.dd for e in b.ents]} z64={[e.zip64 for e in b.ents]} "
                     f"z64eocd={z64} comment={len(comment)} cdorder={cd_order is not None}")
    return b, data


def limit_codes(b, ents, data, L):
    """§3's limits, judged on the archive as built: the count of entries, the archive's size,
    the sum of sizes and the ratio above the threshold, both as declared in the central
    directory and as the real bytes are. Any exceeded one is B02."""
    why = []
    n = sum(1 for e in ents if e.in_cd)
    if n > L["max_entries"]:
        why.append(f"{n} entries")
    if len(data) > L["max_archive_bytes"]:
        why.append(f"archive of {len(data)} bytes")
    real_sum = decl_sum = 0
    for e in ents:
        if not e.in_cd:
            continue
        real_u, real_c = len(e.data), len(e.payload())
        du = e.ov.get("cusize", e.ov.get("usize", real_u))
        dc = e.ov.get("ccsize", e.ov.get("csize", real_c))
        decl_sum += du
        if e.cd_copy_of_offset is None:
            real_sum += real_u
        if (e.comp is None or getattr(e, "real_ok", False)) and real_u > L["ratio_applies_above"] and real_u > L["max_ratio"] * real_c:
            why.append(f"{e.name!r}: {real_u}/{real_c} real")
        if du > L["ratio_applies_above"] and du > L["max_ratio"] * max(dc, 0):
            why.append(f"{e.name!r}: {du}/{dc} declared")
    if real_sum > L["max_uncompressed_bytes"]:
        why.append(f"sum {real_sum} real")
    if decl_sum > L["max_uncompressed_bytes"]:
        why.append(f"sum {decl_sum} declared")
    names = [e.name for e in ents if e.in_cd]
    dups = sorted({x for x in names if names.count(x) > 1})
    if dups and not b.ghost:
        why.append(f"duplicate names {dups}")
    return why


# ---------------------------------------------------------------- the oracle
def combine(code_sets):
    """Codes the agreement allows for a batch whose faults alone give these sets."""
    if not code_sets:
        return {"ACK"}
    out = set()
    import itertools
    code_sets = [s for s in code_sets if s]
    if not code_sets:
        return {"ACK"}
    for choice in itertools.product(*[sorted(s) for s in code_sets]):
        first = min(choice, key=lambda c: RANK[c])
        out.add("ACK" if first == "-" else first)
        if first in ("B01", "B02"):
            # §7.1: B01 and B02 are judged as the archive is read; either may be met first
            out |= {c for c in choice if c in ("B01", "B02")}
    return out


class History:
    def __init__(self):
        self.by_bid = {}    # bid -> list of (bytes, result, response bytes)


def oracle(rx, hist, round_no, b, data):
    """What the agreement says the receiver answers: a dict."""
    if b.expect_name:
        return {"kind": b.expect_name}
    bid = b.bid
    past = hist.by_bid.get(bid, [])
    for (pb, res, resp) in past:
        if res == "ACK" and pb == data:
            # §7.1: the stored ACK again, byte for byte, before any other check
            return {"kind": "resend", "bytes": resp}
    i = b.ident
    parts = rx.partners(round_no)
    own = rx.own(round_no)
    b10 = (i["rcv"] != own or i["snd"] not in parts
           or (parts[i["snd"]][1] is not None and i["typ"] not in parts[i["snd"]][1]))
    arch = list(b.codes)
    why = limit_codes(b, b.lim_ents, b.lim_data, rx.limits_at(round_no))
    if why:
        arch.append({"B02"})
        b.limit_why = "limit/dup: " + ", ".join(str(w) for w in why)
    # §8: created_at copied when the archive passed B01 and B02 and control.txt has exactly one
    # valid created_at line; otherwise business_date at 00:00:00+05:00. A fault that may or may
    # not give B01/B02 (left open) allows both.
    fb = f"{b.iso}T00:00:00+05:00"
    sure = any(c and c <= {"B01", "B02"} for c in arch)
    maybe = any(c & {"B01", "B02"} for c in arch)
    if not b.created_ok or sure:
        created = {fb}
    elif maybe:
        created = {fb, b.created}
    else:
        created = {b.created}
    key = parts[i["snd"]][0] if i["snd"] in parts else None
    if key is not None:
        # §6: with a key for the sender, the HMAC entry must hold the lowercase hex HMAC of the
        # manifest's exact bytes, optionally followed by one line end (LF, or CRLF: §5's line ends)
        good = hmac.new(key, b.man_bytes, hashlib.sha256).hexdigest().encode()
        if b.hmac_bytes not in (good, good + b"\n", good + b"\r\n"):
            arch = arch + [{"B05"}]
    if b10:
        codes = {"B10"}
    elif any(res == "ACK" for (_, res, _) in past):
        codes = {"B09"}
    else:
        codes = combine(arch)
    return {"kind": "answer", "codes": codes, "created": created, "key": key, "rows": b.ack_rows, "own": own,
            "enc": b.enc}


def strict_zip(raw):
    """Problems of a response archive read strictly: the end record ends the file, the central
    directory is where it says and holds what it counts, every entry's local header repeats its
    central record, the entries fill the file one after another, every deflate stream ends at
    its compressed size and inflates to its size and CRC."""
    p = []
    e = raw.rfind(b"PK\x05\x06")
    if e < 0 or e + 22 + struct.unpack_from("<H", raw, e + 20)[0] != len(raw):
        return ["end record missing or not at the end"]
    _, d0, d1, n0, n, cdsize, cdoff, _ = struct.unpack_from("<IHHHHIIH", raw, e)
    if d0 or d1 or n0 != n:
        p.append("end record disk fields")
    if cdoff + cdsize != e:
        p.append("central directory does not end where the end record begins")
    pos, expect_local = cdoff, 0
    for i in range(n):
        if raw[pos:pos + 4] != b"PK\x01\x02":
            p.append(f"central record {i} missing"); break
        (_, mb, vn, fl, m, t, dt, crc, cs, us, nl, xl, cl, _, _, ea, off) = struct.unpack_from("<IHHHHHHIIIHHHHHII", raw, pos)
        name = raw[pos + 46:pos + 46 + nl]
        pos += 46 + nl + xl + cl
        if off != expect_local:
            p.append(f"{name!r}: local header at {off}, expected {expect_local}")
        (_, lvn, lfl, lm, lt, ld, lcrc, lcs, lus, lnl, lxl) = struct.unpack_from("<IHHHHHIIIHH", raw, off)
        lname = raw[off + 30:off + 30 + lnl]
        if lname != name or lm != m or (lfl & 1) != (fl & 1):
            p.append(f"{name!r}: local header differs (name/method/flags)")
        if not (fl & 8) and (lcrc, lcs, lus) != (crc, cs, us):
            p.append(f"{name!r}: local CRC or sizes differ")
        start = off + 30 + lnl + lxl
        comp = raw[start:start + cs]
        try:
            dz = zlib.decompressobj(-15)
            out = dz.decompress(comp) if m == 8 else comp
            if m == 8 and (not dz.eof or dz.unused_data):
                p.append(f"{name!r}: deflate stream does not end at its compressed size")
        except zlib.error as ex:
            p.append(f"{name!r}: {ex}"); out = b""
        if len(out) != us or zlib.crc32(out) & 0xFFFFFFFF != crc:
            p.append(f"{name!r}: size or CRC wrong")
        end = start + cs
        if fl & 8:
            if raw[end:end + 4] == b"PK\x07\x08":
                end += 16
            else:
                end += 12
        expect_local = end
    if expect_local != cdoff:
        p.append(f"{cdoff - expect_local} bytes between the last entry and the central directory")
    return p


def check_response(exp, b, data, name, raw):
    """Differences between a response and the oracle's expectation."""
    d = []
    i = b.ident
    bid = b.bid
    try:
        z = zipfile.ZipFile(io.BytesIO(raw))
        infos = z.infolist()
        files = {x.filename: z.read(x.filename) for x in infos}
    except Exception as ex:
        return [f"response {name} unreadable: {ex}"]
    d += ["response zip: " + x for x in strict_zip(raw)]
    ctl_raw = files.get("control.txt", b"")
    try:
        kv = [l.split("=", 1) for l in ctl_raw.decode("ascii").split("\n")[:-1]]
    except Exception:
        return [f"response control.txt not ASCII: {ctl_raw[:200]!r}"]
    if any(len(x) != 2 for x in kv):
        return [f"response control.txt has a line without '=': {ctl_raw[:300]!r}"]
    ctl = {k: v for k, v in kv}
    res = ctl.get("result")
    got = res if res == "ACK" else ctl.get("error")
    if got not in exp["codes"]:
        d.append(f"answered {got} ({ctl.get('message', '')!r}), expected {'/'.join(sorted(exp['codes']))}")
        return d
    OWN = exp["own"]
    want_name = f"{OWN}_{i['snd']}_{i['typ']}_{i['date']}_{i['seq']}_{res}.zip"
    if name != want_name:
        d.append(f"response name {name} != {want_name}")
    if not ctl_raw.endswith(b"\n") or b"\r" in ctl_raw:
        d.append("response control.txt lines do not end with LF")
    keys = [k for k, _ in kv]
    want_keys = ["format", "batch_id", "type", "sender", "receiver", "business_date", "created_at", "in_reply_to",
                 "in_reply_to_sha256", "result"] + (["error", "message"] if res == "NAK" else
                                                   ["encoding", "rows", "accepted", "amount_accepted"])
    if keys != want_keys:
        d.append(f"control keys {keys}")
    want = {"format": "munis-offline/1", "batch_id": want_name[:-4], "type": i["typ"], "sender": OWN,
            "receiver": i["snd"], "business_date": b.iso, "in_reply_to": bid,
            "in_reply_to_sha256": hashlib.sha256(data).hexdigest()}
    for k, v in want.items():
        if ctl.get(k) != v:
            d.append(f"control {k}={ctl.get(k)!r}, expected {v!r}")
    if ctl.get("created_at") not in exp["created"]:
        d.append(f"control created_at={ctl.get('created_at')!r}, expected {' or '.join(sorted(exp['created']))}")
    elif len(exp["created"]) > 1 and got in ("B01", "B02"):
        if ctl.get("created_at") != f"{b.iso}T00:00:00+05:00":
            d.append(f"control created_at={ctl.get('created_at')!r} copied although the answer is {got}")
    entries = [x.filename for x in infos]
    want_entries = ["control.txt"] + (["result.csv"] if res == "ACK" else []) + ["manifest.sha256"] + \
                   (["manifest.sha256.hmac"] if exp["key"] is not None else [])
    if entries != want_entries:
        d.append(f"entries {entries} != {want_entries}")
    # entry times: the local date and time of created_at, seconds down to even (§8)
    ca = ctl.get("created_at", "")
    try:
        y, mo, da, h, mi, s = int(ca[0:4]), int(ca[5:7]), int(ca[8:10]), int(ca[11:13]), int(ca[14:16]), int(ca[17:19])
        et = (y, mo, da, h, mi, s - s % 2)
        for x in infos:
            if x.date_time != et:
                d.append(f"entry time of {x.filename} {x.date_time} != {et}"); break
    except Exception:
        d.append(f"created_at {ca!r} unparseable")
    for x in infos:
        if x.compress_type != 8:
            d.append(f"entry {x.filename} not deflated"); break
        if x.flag_bits & 1 or x.filename.endswith("/"):
            d.append(f"entry {x.filename} encrypted or a directory"); break
    man = files.get("manifest.sha256", b"")
    lines = man.split(b"\n")
    if man and not man.endswith(b"\n"):
        d.append("response manifest does not end with LF")
    listed = sorted(lines[:-1])
    want_man = sorted(f"{hashlib.sha256(files[n]).hexdigest()}  {n}".encode() for n in entries if not n.startswith("manifest.sha256"))
    if listed != want_man:
        d.append(f"response manifest {man!r}")
    if exp["key"] is not None:
        hv = files.get("manifest.sha256.hmac", b"")
        good = hmac.new(exp["key"], man, hashlib.sha256).hexdigest().encode()
        if hv not in (good, good + b"\n", good + b"\r\n"):
            d.append(f"response HMAC {hv!r} != {good!r}")
    if res == "NAK":
        m = ctl.get("message", "")
        if not m or "\r" in m:
            d.append(f"message {m!r} empty or not one line")
        # §8: the message names the file where that applies
        names = {"B04": ["manifest"], "B05": ["hmac"], "B06": ["control.txt"], "B07": ["registry.csv"],
                 "B08": ["control.txt", "registry.csv"]}.get(got)
        if names and not any(x in m for x in names):
            d.append(f"{got} message {m!r} names none of {names}")
        return d
    # ACK
    if ctl.get("encoding") != exp["enc"]:
        d.append(f"encoding {ctl.get('encoding')} != {exp['enc']}")
    rc = files.get("result.csv", b"")
    if rc.startswith(b"\xef\xbb\xbf"):
        d.append("result.csv has a BOM")
    if not rc.endswith(b"\r\n"):
        d.append("result.csv does not end with CRLF")
    text = rc.decode(PYENC[exp["enc"]], errors="replace")
    rl = text.split("\r\n")[:-1]
    if not rl or rl[0] != "line;payment_id;status;field;message":
        d.append(f"result.csv header {rl[:1]}")
    got_rows = [tuple(x.split(";")[:4]) for x in rl[1:]]
    want_rows = [(str(a), p, s, f) for a, p, s, f, _ in exp["rows"]]
    if got_rows != want_rows:
        d.append(f"result rows {got_rows} != {want_rows}")
    acc = [x for x in exp["rows"] if x[2] == "1"]
    if ctl.get("rows") != str(len(want_rows)) or ctl.get("accepted") != str(len(acc)) or \
            ctl.get("amount_accepted") != fmt_amount(sum(x[4] for x in acc)):
        d.append(f"rows/accepted/amount_accepted {ctl.get('rows')}/{ctl.get('accepted')}/{ctl.get('amount_accepted')}"
                 f" != {len(want_rows)}/{len(acc)}/{fmt_amount(sum(x[4] for x in acc))}")
    return d


# ---------------------------------------------------------------- names (§2) and temporary names (§1)
BAD_NAMES = [
    ("impossible date 20261340", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_20261340_{i['seq']}.zip"),
    ("impossible date 20250229", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_20250229_{i['seq']}.zip"),
    ("impossible date 20260431", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_20260431_{i['seq']}.zip"),
    ("date 2026111", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_2026111_{i['seq']}.zip"),
    ("year 0000", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_00000101_{i['seq']}.zip"),
    ("SEQ of 2 digits", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_12.zip"),
    ("SEQ of 7 digits", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_1234567.zip"),
    ("SEQ not digits", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_00a.zip"),
    ("lowercase sender", lambda i: f"{i['snd'].lower()}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip"),
    ("lowercase type", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ'].lower()}_{i['date']}_{i['seq']}.zip"),
    ("unknown TYPE", lambda i: f"{i['snd']}_{i['rcv']}_PAX_{i['date']}_{i['seq']}.zip"),
    ("extra suffix", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}_x.zip"),
    (".zip.zip", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip.zip"),
    (".ZIP", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.ZIP"),
    ("one-letter party", lambda i: f"M_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip"),
    ("17-letter party", lambda i: f"{i['snd']}_ABCDEFGHIJKLMNOPQ_{i['typ']}_{i['date']}_{i['seq']}.zip"),
    ("dash in party", lambda i: f"MU-NIS_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip"),
    ("no .zip", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}"),
    ("missing part", lambda i: f"{i['snd']}_{i['typ']}_{i['date']}_{i['seq']}.zip"),
]
TEMP_NAMES = [
    ("part", lambda i: f"{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip.part"),
    ("dot", lambda i: f".{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip"),
    ("dot part", lambda i: f".{i['snd']}_{i['rcv']}_{i['typ']}_{i['date']}_{i['seq']}.zip.part"),
    ("bad name .part", lambda i: f"{i['snd']}_x.part"),
]


# ---------------------------------------------------------------- cases
class Case:
    def __init__(self, no, rx, rnd):
        self.no = no
        self.rx = rx
        self.r = rnd
        self.steps = {}     # round -> (Batch, bytes) or ('same', round)
        self.hist_desc = []


ALL = {"content", "manifest", "hmac", "entries", "layout", "bytes"}


def plan_case(no, rx, rnd):
    c = Case(no, rx, rnd)
    kind = rnd.random()
    ident = None
    nf = lambda: rnd.choice([0, 0, 1, 1, 1, 2, 2, 3])
    if kind < 0.08:
        # a name §2 does not accept, or a temporary name
        b, data = build_delivery(rnd, rx, 0, None, no, 0, ALL)
        if rnd.random() < 0.75:
            lab, f = rnd.choice(BAD_NAMES)
            b.expect_name = "aside"
        else:
            lab, f = rnd.choice(TEMP_NAMES)
            b.expect_name = "ignored"
        b.name_override = f(b.ident)
        b.desc.append(f"name {lab}: {b.name_override}")
        c.steps[0] = (b, data)
        return c
    b, data = build_delivery(rnd, rx, 0, None, no, nf(), ALL)
    ident = b.ident
    x = rnd.random()
    if x < 0.06:
        # names §2 accepts at its edges, of a configured sender: answered as any other
        # (outside the days the cases take from 2020-01-01 on, so that no REC meets them)
        ident["date"] = rnd.choice(["20000229", "20960229", "19991231", "20991231", "19800101"])
        ident["seq"] = "%06d" % no
        ident["typ"] = rnd.choice(["PAY", "REV"])
        b, data = build_delivery(rnd, rx, 0, ident, no, nf(), ALL)
        b.desc.insert(0, "name at the edges of §2")
    elif x < 0.15:
        # B10 names that do parse (§2) but are not configured here
        k = rnd.choice(["sender", "receiver", "type", "sender16", "digits"])
        if k == "sender":
            ident["snd"] = "ZZBANK"
        elif k == "sender16":
            ident["snd"] = "ABCDEFGHIJKLMNOP"
        elif k == "digits":
            ident["snd"] = rnd.choice(["12", "A1B2", "0000000000000000"])
        elif k == "receiver":
            ident["rcv"] = rnd.choice(["SUDBILLINX", "OTHER", "S2"])
        else:
            ident["snd"] = "PAYONLY"; ident["typ"] = rnd.choice(["REV", "REC"])
        b, data = build_delivery(rnd, rx, 0, ident, no, nf(), ALL)
        b.desc.insert(0, f"B10 {k}")
    c.steps[0] = (b, data)
    # later rounds: the same bytes again, other bytes, or nothing
    for rd in (1, 2):
        y = rnd.random()
        if y < 0.3:
            c.steps[rd] = ("same", rnd.choice(sorted(k for k, v in c.steps.items() if v[0] != "same")))
        elif y < 0.55:
            nb, nd = build_delivery(rnd, rx, rd, ident, no, nf(), ALL)
            c.steps[rd] = (nb, nd)
        elif y < 0.65:
            # the same content zipped again under another layout, no fault: other bytes
            nb, nd = build_delivery(rnd, rx, rd, ident, no, 0, ALL, content_seed=b.content_seed)
            nb.desc.insert(0, "same content as round 0, zipped again")
            c.steps[rd] = (nb, nd)
        elif y < 0.72 and rd == 1:
            # round 0's bytes under another sequence number: a new archive (README: a re-delivery
            # is the same name and the same bytes), whose control.txt names another batch (B06)
            b0, d0 = c.steps[0]
            nb = copy.copy(b0)
            nb.ident = dict(b0.ident)
            nb.ident["seq"] = b0.ident["seq"] + "9" if len(b0.ident["seq"]) < 6 else b0.ident["seq"][:-1]
            nb.codes = list(b0.codes) + [{"B06"}]
            nb.desc = ["round 0's bytes under the name " + nb.bid] + list(b0.desc)
            nb.name_override = None
            c.steps[rd] = (nb, d0)
    return c


# ---------------------------------------------------------------- running
def run_round(rx, rnd_no, items):
    """items: list of (case, Batch, bytes). Drops them, runs, returns {file name: handled record}."""
    inbox = rx.dir + "/inbox"
    for c, b, data in items:
        p = os.path.join(inbox, b.fname())
        tmp = os.path.join(rx.dir, "staging")
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, (time.time() - 60, time.time() - 60))
        os.rename(tmp, p)
    p = sh([BIN, "--config", rx.cfg, "run", "--json"], check=False)
    try:
        js = json.loads(p.stdout)
    except Exception:
        raise RuntimeError(f"run --json gave no JSON (rc {p.returncode}): {p.stdout[:500]!r} {p.stderr[-2000:]!r}")
    out = {}
    for h in js.get("handled", []):
        out[h.get("file")] = h
    return out, js, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    root = tempfile.mkdtemp(prefix="reestr-mutants-", dir=os.environ.get("CONFORMANCE_DIR") or None)
    rxs = [Receiver(root, "def", DEFAULT, [BASE_PARTNERS]),
           Receiver(root, "small", SMALL, [BASE_PARTNERS]),
           # round 2 also narrows max_archive_bytes and max_entries (§7.1: an ACKed archive is
           # answered with the stored ACK whatever the configuration says; B09 comes before B02)
           Receiver(root, "chg", DEFAULT, CHG,
                    limits_by_round=[DEFAULT, DEFAULT, dict(DEFAULT, max_archive_bytes=1800, max_entries=4)]),
           # the receiver's own code changes in round 1 (§8: a B10 comes from the own code; §7.1:
           # an ACKed archive is answered with the stored ACK whatever the configuration says)
           Receiver(root, "own", DEFAULT, [BASE_PARTNERS], owns=[OWN, "SUDNEW", OWN])]
    master = random.Random(a.seed)
    cases = []
    for n in range(a.cases):
        rx = rxs[master.choice([0, 0, 1, 1, 2, 3])]
        cases.append(plan_case(n, rx, random.Random(master.getrandbits(64))))
    hist = {rx.name: History() for rx in rxs}
    rx_rand = {rx.name: random.Random(a.seed * 7 + i) for i, rx in enumerate(rxs)}
    opened = {}
    diffs = []
    counts = {}
    nruns = 0

    def do_rx(rx, rd):
        items = []
        for c in cases:
            if c.rx is not rx or rd not in c.steps:
                continue
            st = c.steps[rd]
            if st[0] == "same":
                b, data = c.steps[st[1]]
                b = b  # the same Batch and bytes
                items.append((c, b, data, f"same bytes as round {st[1]}"))
            else:
                items.append((c, st[0], st[1], "new bytes"))
        if not items:
            return []
        if rd > 0:
            rx.configure(rd)
            # the sender takes some responses from the outbox between rounds: a re-delivered
            # ACKed archive must still be answered with the stored bytes
            for f in sorted(os.listdir(rx.dir + "/outbox")):
                if rx_rand[rx.name].random() < 0.5:
                    os.remove(os.path.join(rx.dir, "outbox", f))
        exps = [oracle(rx, hist[rx.name], rd, b, data) for c, b, data, _ in items]
        handled, js, proc = run_round(rx, rd, [(c, b, data) for c, b, data, _ in items])
        res = []
        for (c, b, data, how), exp in zip(items, exps):
            res.append((c, b, data, how, exp, handled.get(b.fname()), js))
        return res

    for rd in range(3):
        with ThreadPoolExecutor(max_workers=2) as ex:     # at most two engines at a time
            outs = list(ex.map(lambda rx: do_rx(rx, rd), rxs))
        for rx, out in zip(rxs, outs):
            for c, b, data, how, exp, h, js in out:
                nruns += 1
                where = f"seed {a.seed} case {c.no} ({rx.name}) round {rd} ({how}) {b.fname()}"
                what = "; ".join(b.desc + ([b.limit_why] if getattr(b, "limit_why", None) else [])) or "no fault"
                b.limit_why = None
                path = os.path.join(rx.dir, "inbox", b.fname())
                dd = []
                got_kind = None
                if exp["kind"] == "ignored":
                    if h is not None or not os.path.exists(path):
                        dd.append(f"temporary name not left alone: {h}")
                    got_kind = "ignored"
                elif exp["kind"] == "aside":
                    if h is None or h.get("result") != "SET_ASIDE" or h.get("response"):
                        dd.append(f"name not set aside without response: {h}")
                    got_kind = "aside"
                else:
                    if h is None or not h.get("response"):
                        dd.append(f"no response: {h} left={js.get('left')}")
                    else:
                        rp = os.path.join(rx.dir, "outbox", h["response"])
                        raw = open(rp, "rb").read()
                        if exp["kind"] == "resend":
                            got_kind = "resend"
                            if raw != exp["bytes"]:
                                ctl = zipfile.ZipFile(io.BytesIO(raw)).read("control.txt").decode(errors="replace")
                                dd.append("re-delivered ACKed archive not answered with the stored ACK: got "
                                          + ctl.replace("\n", " | ")[:400])
                        else:
                            dd += check_response(exp, b, data, h["response"], raw)
                            ctl = dict(l.split("=", 1) for l in zipfile.ZipFile(io.BytesIO(raw)).read("control.txt").decode(errors="replace").split("\n") if "=" in l)
                            got_kind = ctl.get("result") if ctl.get("result") == "ACK" else ctl.get("error")
                            hist[rx.name].by_bid.setdefault(b.bid, []).append((data, ctl.get("result"), raw))
                    if os.path.exists(path):
                        dd.append("archive still in the inbox after the run")
                counts[got_kind] = counts.get(got_kind, 0) + 1
                if exp["kind"] == "answer" and len(exp["codes"]) > 1 and not dd:
                    kx = f"{'/'.join(sorted(exp['codes']))}->{got_kind}"
                    opened[kx] = opened.get(kx, 0) + 1
                exp_s = exp["kind"] if exp["kind"] != "answer" else "/".join(sorted(exp["codes"]))
                if a.verbose:
                    print(f"  {where}: {what} -> expected {exp_s}, got {got_kind}")
                if dd:
                    diffs.append(f"DIFF {where}: faults [{what}] expected {exp_s}: " + " | ".join(dd)
                                 + (f"\n     layout: {b.layout_desc}" if a.verbose else ""))
    el = time.time() - t0
    cs = " ".join(f"{k}:{v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))
    bad_cases = {m.group(1) for d in diffs for m in [re.search(r" case (\d+) ", d)] if m}
    print(f"== mutants: {a.cases - len(bad_cases)}/{a.cases} cases OK (seed {a.seed}, {nruns} deliveries, "
          f"{len(diffs)} disagreements) ({el:.0f} s) [{cs}]")
    if opened:
        print("   where the agreement leaves the answer open (accepted->answered): "
              + ", ".join(f"{k} x{v}" for k, v in sorted(opened.items())))
    for d in diffs:
        print(d)
    if diffs or a.keep:
        print(f"scratch kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if diffs else 0)


BIN = os.environ.get("REESTR_BIN") or sys.exit("REESTR_BIN is not set")
BIN = os.path.abspath(BIN) if os.sep in BIN else shutil.which(BIN)

if __name__ == "__main__":
    main()
