"""Shared harness of the black-box conformance suites (munis-offline/1, the exchange agreement).

The suites drive the `reestr` binary named by REESTR_BIN as the partner would: they build
archives byte by byte (zipfile, hashlib and hmac here; zipraw.py for malformed zips), drop them
into the inbox of a scratch receiver, run the binary, and compare every response with what the
agreement requires. Nothing here reads the engine's source or its store, except through the
commands the product offers (`run`, `watch`, `check`, `status`, `replay`, `release`,
`audit verify`).

- new_receiver(): a fresh receiver folder (reestr.toml, partner MUNIS with the key of
  tests/reference/MUNIS.key, settle and grace 0, the invoices of INV loaded through
  `invoices import`);
- build_archive(), registry(), pay_row(), control_text(): inbound archives of a given content;
- run_archive(): drop, `run`, parse the response;
- check_response(): the checks every response gets (its name; control.txt keys, order, values
  and LF line ends; the created_at rule; entry order, deflate and entry times; manifest and
  HMAC; result.csv header, CRLF, no BOM, minimal quoting, encoding; rows, accepted and
  amount_accepted);
- run_cases(): runs a suite's cases and prints one line per case.

Environment: REESTR_BIN (required: the binary under test); CONFORMANCE_DIR (where the scratch
folder is made; default the system's temporary folder); KEEP=1 keeps the scratch folder, which
is also kept when a case fails. Standard library only.
"""
import hashlib, hmac, io, os, random, shutil, subprocess, sys, tempfile, traceback, zipfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _binary():
    b = os.environ.get("REESTR_BIN", "")
    if not b:
        sys.exit("REESTR_BIN is not set: point it at the reestr binary to test "
                 "(e.g. REESTR_BIN=target/release/reestr), or use scripts/conformance.sh, which builds one")
    found = shutil.which(b) if os.sep not in b else (os.path.abspath(b) if os.access(b, os.X_OK) else None)
    if not found or not os.path.isfile(found):
        sys.exit(f"REESTR_BIN={b!r} is not an executable file")
    return found


BIN = _binary()
KEY_FILE = os.path.join(REPO, "tests", "reference", "MUNIS.key")
KEY_HEX = open(KEY_FILE).read().strip()
KEY = bytes.fromhex(KEY_HEX)
if os.environ.get("CONFORMANCE_DIR"):
    os.makedirs(os.environ["CONFORMANCE_DIR"], exist_ok=True)
# Every receiver, and every other file a case writes, goes under this fresh folder.
SCRATCH = tempfile.mkdtemp(prefix="reestr-conformance-", dir=os.environ.get("CONFORMANCE_DIR") or None)

PAY_HDR = "payment_id;paid_at;invoice_no;payer_type;payer_id;payer_name;amount;currency;bank_mfo;account;purpose"
REV_HDR = "payment_id;reversed_at;amount;reason"
REC_HDR = "payment_id;paid_at;invoice_no;amount;state"
HDR = {"PAY": PAY_HDR, "REV": REV_HDR, "REC": REC_HDR}


# ---------- identifiers (from §5.4) ----------
def pinfl_check(d13):
    w = [7, 3, 1] * 5
    return str(sum(int(c) * w[i] for i, c in enumerate(d13)) % 10)


def make_pinfl(prefix13):
    return prefix13 + pinfl_check(prefix13)


def acct_key(mfo, a):
    s = mfo + a[0:8] + a[9:20] + "9"
    assert len(s) == 25
    t = sum(int(s[i]) * int(s[i + 1]) for i in range(24))
    r = t % 11
    return "9" if r == 0 else ("0" if r == 1 else str(11 - r))


def make_account(mfo, a20):
    k = acct_key(mfo, a20)
    return a20[:8] + k + a20[9:]


assert pinfl_check("3121093204024") == "7"
assert acct_key("00014", "23402000300100001010") == "3"

# ---------- invoices of our own ----------
P1 = make_pinfl("3121093204024")  # 31210932040247
P2 = make_pinfl("5010120000011")  # 01.01.20 in 2000s
TIN1 = "212345678"
MFO = "00014"
ACC = make_account(MFO, "23402000000100001010")
INV = {
    "A": ("10000000000000000001", "P", P1, "Aliyev Anvar", "1000000.00", "OPEN"),
    "B": ("10000000000000000002", "J", TIN1, "Firma MChJ", "500000.00", "OPEN"),
    "C": ("10000000000000000003", "P", P2, "Karimova Dilnoza", "300000.00", "OPEN"),
    "X": ("10000000000000000009", "P", P1, "Aliyev Anvar", "100000.00", "CANCELLED"),
}
for i in range(10, 40):
    INV["N%d" % i] = ("100000000000000000%02d" % i, "P", P1, "Aliyev Anvar", "9999999.00", "OPEN")


def invoices_csv():
    lines = ["invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"]
    for k, (no, pt, pid, name, amt, st) in INV.items():
        lines.append(f"{no};1703002;2-1/2026;{pt};{pid};{name};{amt};2026-01-10 10:00:00;{st}")
    return ("\r\n".join(lines) + "\r\n").encode()


# ---------- receiver dirs ----------
def new_receiver(name, key=True, limits=None, extra=""):
    d = os.path.join(SCRATCH, "rx", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d + "/keys")
    with open(d + "/keys/MUNIS.key", "w") as f:
        f.write(KEY_HEX + "\n")
    os.chmod(d + "/keys/MUNIS.key", 0o600)
    cfg = f'''receiver = "SUDBILLING"
inbox = "inbox"
outbox = "outbox"
data = "var"
settle_seconds = 0
unreadable_grace_seconds = 0
run_wait_seconds = 5
{extra}
'''
    if limits:
        cfg += "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    cfg += "[partners.MUNIS]\n"
    if key:
        cfg += 'key_file = "keys/MUNIS.key"\n'
    with open(d + "/reestr.toml", "w") as f:
        f.write(cfg)
    sh([BIN, "--config", d + "/reestr.toml", "init"])
    with open(d + "/invoices.csv", "wb") as f:
        f.write(invoices_csv())
    sh([BIN, "--config", d + "/reestr.toml", "invoices", "import", d + "/invoices.csv"])
    return d


def sh(cmd, check=True):
    p = subprocess.run(cmd, capture_output=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{cmd} -> {p.returncode}\n{p.stdout.decode()}\n{p.stderr.decode()}")
    return p


def run_archive(rx, name, data):
    """Drop an archive into rx's inbox, run, return the parsed response (or None)."""
    out = os.path.join(rx, "outbox")
    before = set(os.listdir(out))
    path = os.path.join(rx, "inbox", name)
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.rename(path + ".part", path)
    os.utime(path, (time.time() - 10, time.time() - 10))
    p = sh([BIN, "--config", rx + "/reestr.toml", "run"], check=False)
    after = set(os.listdir(out))
    new = sorted(after - before)
    # response of same name replaces older; find by batch
    bid = name[:-4]
    cands = [f for f in after if f.startswith("SUDBILLING_") and bid.split("_", 2)[2] in f]
    resp = None
    if new:
        resp = new[-1]
    elif cands:
        resp = sorted(cands, key=lambda f: os.path.getmtime(os.path.join(out, f)))[-1]
    r = {"stdout": p.stdout.decode(errors="replace"), "stderr": p.stderr.decode(errors="replace"), "rc": p.returncode}
    if resp:
        with open(os.path.join(out, resp), "rb") as f:
            r.update(parse_response(resp, f.read()))
    return r


def parse_response(name, data):
    z = zipfile.ZipFile(io.BytesIO(data))
    r = {"name": name, "raw": data, "entries": [i.filename for i in z.infolist()],
         "infos": z.infolist()}
    ctl = z.read("control.txt")
    r["control_raw"] = ctl
    r["control"] = [tuple(l.split("=", 1)) for l in ctl.decode().split("\n") if l]
    r["ctl"] = dict(r["control"])
    if "result.csv" in r["entries"]:
        r["result_raw"] = z.read("result.csv")
    r["files"] = {n: z.read(n) for n in r["entries"]}
    return r


def parse_csv(data, enc="utf-8"):
    """Parse §5 CSV into list of rows (list of str)."""
    text = data.decode(enc)
    rows, row, field, i, n = [], [], "", 0, len(text)
    quoted_state = False
    while i < n:
        c = text[i]
        if c == '"' and field == "" and not quoted_state:
            # quoted field
            i += 1
            buf = []
            while True:
                j = text.index('"', i)
                buf.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    buf.append('"'); i = j + 2; continue
                i = j + 1; break
            field = "".join(buf); quoted_state = True
            continue
        if c == ";":
            row.append(field); field = ""; quoted_state = False; i += 1; continue
        if c in "\r\n":
            row.append(field); rows.append(row); row = []; field = ""; quoted_state = False
            if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            i += 1; continue
        field += c; i += 1
    if field or row:
        row.append(field); rows.append(row)
    return rows


# ---------- archive builder ----------
def fmt_amount(tiyin):
    return "%d.%02d" % (tiyin // 100, tiyin % 100)


def control_text(bid, typ, enc, rows, total, created="2026-11-22T01:05:00+05:00", extra=None, order=None, eol="\n"):
    parts = bid.split("_")
    d = parts[3]
    kv = [("format", "munis-offline/1"), ("batch_id", bid), ("type", typ), ("sender", parts[0]),
          ("receiver", parts[1]), ("business_date", f"{d[:4]}-{d[4:6]}-{d[6:]}"), ("created_at", created),
          ("encoding", enc), ("rows", str(rows)), ("amount_total", total)]
    if extra:
        kv += extra
    return "".join(f"{k}={v}{eol}" for k, v in kv if v is not None).encode()


def count_amounts(reg_bytes, enc, typ):
    """rows and amount_total per §6 (amount well-formed, right field count)."""
    import re
    rows = parse_csv(reg_bytes, enc.replace("utf-8", "utf-8-sig"))
    hdr = rows[0]
    data = rows[1:]
    ai = hdr.index("amount")
    tot = 0
    for r in data:
        if len(r) == len(hdr) and re.fullmatch(r"[0-9]{1,13}\.[0-9]{2}", r[ai]):
            a, b = r[ai].split(".")
            tot += int(a) * 100 + int(b)
    return len(data), fmt_amount(tot)


def build_zip(files, method=zipfile.ZIP_DEFLATED, level=6):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        for name, data in files:
            zi = zipfile.ZipInfo(name, date_time=(2026, 11, 22, 1, 5, 0))
            zi.compress_type = method
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data, compress_type=method, compresslevel=level)
    return bio.getvalue()


def build_archive(bid, registry, enc="utf-8", control=None, rows=None, total=None, key=KEY,
                  created="2026-11-22T01:05:00+05:00", extra_files=(), manifest=None, hmac_val=None,
                  ctl_extra=None, method=zipfile.ZIP_DEFLATED, hmac_mod=None):
    typ = bid.split("_")[2]
    if control is None:
        if rows is None or total is None:
            r, t = count_amounts(registry, enc, typ)
            rows = r if rows is None else rows
            total = t if total is None else total
        control = control_text(bid, typ, enc, rows, total, created=created, extra=ctl_extra)
    files = [("control.txt", control), ("registry.csv", registry)] + list(extra_files)
    if manifest is None:
        manifest = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files).encode()
    out = files + [("manifest.sha256", manifest)]
    if key is not None:
        hv = hmac_val if hmac_val is not None else hmac.new(key, manifest, hashlib.sha256).hexdigest().encode()
        if hmac_mod: hv = hmac_mod(hmac.new(key, manifest, hashlib.sha256).hexdigest())
        out.append(("manifest.sha256.hmac", hv))
    return build_zip(out, method=method)


def registry(typ, rows, enc="utf-8", eol="\r\n", final_eol=True, bom=False):
    """rows: list of already-joined row strings (fields joined/quoted by caller) or lists."""
    out = [HDR[typ]]
    for r in rows:
        out.append(r if isinstance(r, str) else ";".join(r))
    s = eol.join(out) + (eol if final_eol else "")
    b = s.encode(enc)
    if bom:
        b = b"\xef\xbb\xbf" + b
    return b


def q(s):
    return '"' + s.replace('"', '""') + '"'


def pay_row(pid, inv="A", amount="1000.00", name=None, purpose="test", pt=None, payer=None,
            paid_at="2026-11-21 10:00:00", currency="860", mfo=MFO, account=None):
    no, ipt, ipid, iname, _, _ = INV[inv] if inv in INV else (inv, "P", P1, "X", 0, 0)
    return [pid, paid_at, no, pt or ipt, payer or ipid, iname if name is None else name, amount,
            currency, mfo, ACC if account is None else account, purpose]


def rand_letters(n, seed=1, alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    rnd = random.Random(seed)
    return "".join(rnd.choice(alphabet) for _ in range(n))


def long_multiline(total_bytes, line_len=60, seed=1, alphabet=None, enc="utf-8"):
    """Text of about total_bytes encoded bytes made of short lines (CRLF inside quotes)."""
    rnd = random.Random(seed)
    alphabet = alphabet or "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    # bytes per char
    bpc = len(alphabet[0].encode(enc))
    nchars_line = max(1, line_len // bpc)
    nlines = total_bytes // (nchars_line * bpc + 2) + 1
    parts = []
    for _ in range(nlines):
        parts.append("".join(rnd.choices(alphabet, k=nchars_line)))
    return "\r\n".join(parts)


# ---------- response checks ----------
BOTH_KEYS = ["format", "batch_id", "type", "sender", "receiver", "business_date", "created_at",
             "in_reply_to", "in_reply_to_sha256", "result"]


def split_csv_raw(data):
    """Split result.csv bytes into rows of (field_bytes, was_quoted); also return line-end list."""
    rows, row, i, n = [], [], 0, len(data)
    eols = []
    field, quoted = b"", False
    while i < n:
        c = data[i:i + 1]
        if c == b'"' and field == b"" and not quoted:
            i += 1
            buf = b""
            while True:
                j = data.index(b'"', i)
                buf += data[i:j]
                if data[j + 1:j + 2] == b'"':
                    buf += b'"'; i = j + 2; continue
                i = j + 1; break
            field, quoted = buf, True
            continue
        if c == b";":
            row.append((field, quoted)); field, quoted = b"", False; i += 1; continue
        if c in (b"\r", b"\n"):
            row.append((field, quoted)); rows.append(row); row = []; field, quoted = b"", False
            if data[i:i + 2] == b"\r\n":
                eols.append(b"\r\n"); i += 2
            else:
                eols.append(c); i += 1
            continue
        field += c; i += 1
    if field or row:
        row.append((field, quoted)); rows.append(row); eols.append(b"")
    return rows, eols


def must_quote(fb):
    return b";" in fb or b"\r" in fb or b"\n" in fb or fb.startswith(b'"')


def expected_entry_time(created):
    # local date-time as written
    d, t = created[:10], created[11:19]
    y, mo, da = int(d[:4]), int(d[5:7]), int(d[8:10])
    h, mi, s = int(t[:2]), int(t[3:5]), int(t[6:8])
    return (y, mo, da, h, mi, s - s % 2)


def check_response(r, inbound_name, inbound_bytes, exp, key=True):
    """exp: dict(result='ACK'|'NAK', code=, rows=[(line,pid,status,field)], enc=, created_at=,
    amount_accepted=). Returns list of difference strings."""
    d = []
    if exp.get("result") is None:
        if r.get("name"):
            d.append(f"expected no response, got {r['name']}")
        return d
    if not r.get("name"):
        return [f"no response; stdout={r['stdout'][:300]!r} stderr={r['stderr'][-500:]!r}"]
    bid = inbound_name[:-4]
    p = bid.split("_")
    exp_name = f"SUDBILLING_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{exp['result']}.zip"
    if r["name"] != exp_name:
        d.append(f"response name {r['name']} != {exp_name}")
    ctl = r["ctl"]
    if exp["result"] == "NAK":
        if ctl.get("error") != exp.get("code"):
            d.append(f"NAK code {ctl.get('error')} (msg {ctl.get('message')!r}) != expected {exp.get('code')}")
    if ctl.get("result") != exp["result"]:
        d.append(f"result {ctl.get('result')} {ctl.get('error','')} {ctl.get('message','')!r} != {exp['result']} {exp.get('code','')}")
        return d
    keys = [k for k, _ in r["control"]]
    want = BOTH_KEYS + (["error", "message"] if exp["result"] == "NAK" else ["encoding", "rows", "accepted", "amount_accepted"])
    if keys != want:
        d.append(f"control keys {keys} != {want}")
    raw = r["control_raw"]
    if b"\r" in raw or not raw.endswith(b"\n"):
        d.append("control.txt line ends not LF")
    if ctl.get("batch_id") != r["name"][:-4]:
        d.append("batch_id != response name")
    if ctl.get("in_reply_to") != bid:
        d.append("in_reply_to wrong")
    if ctl.get("in_reply_to_sha256") != hashlib.sha256(inbound_bytes).hexdigest():
        d.append("in_reply_to_sha256 wrong")
    if ctl.get("sender") != "SUDBILLING" or ctl.get("receiver") != p[0] or ctl.get("type") != p[2]:
        d.append("sender/receiver/type wrong")
    bd = f"{p[3][:4]}-{p[3][4:6]}-{p[3][6:]}"
    if ctl.get("business_date") != bd:
        d.append("business_date wrong")
    ca = exp.get("created_at", "2026-11-22T01:05:00+05:00")
    if ca == "fallback":
        ca = bd + "T00:00:00+05:00"
    if ctl.get("created_at") != ca:
        d.append(f"created_at {ctl.get('created_at')!r} != expected {ca!r}")
    # entries
    want_entries = ["control.txt"] + (["result.csv"] if exp["result"] == "ACK" else []) + ["manifest.sha256"] + (["manifest.sha256.hmac"] if exp.get("signed", key) else [])
    if r["entries"] != want_entries:
        d.append(f"entries {r['entries']} != {want_entries}")
    try:
        et = expected_entry_time(ctl.get("created_at", ca))
        for i in r["infos"]:
            if not 1980 <= et[0] <= 2107: break
            if i.date_time != et:
                d.append(f"entry time {i.filename} {i.date_time} != {et}"); break
            if i.compress_type != zipfile.ZIP_DEFLATED:
                d.append(f"entry {i.filename} not deflated"); break
    except Exception as e:
        d.append(f"entry time check failed: {e}")
    man = r["files"].get("manifest.sha256", b"")
    want_man = "".join(f"{hashlib.sha256(r['files'][n]).hexdigest()}  {n}\n" for n in r["entries"] if not n.startswith("manifest")).encode()
    if man != want_man:
        d.append(f"manifest {man!r} != {want_man!r}")
    if "manifest.sha256.hmac" in r["files"]:
        hv = r["files"]["manifest.sha256.hmac"].strip()
        if hv != hmac.new(KEY, man, hashlib.sha256).hexdigest().encode():
            d.append("response hmac wrong")
    if exp["result"] == "NAK":
        if "\n" in ctl.get("message", "") or not ctl.get("message"):
            d.append("message empty or multi-line")
        return d
    # ACK
    enc = exp.get("enc", "utf-8")
    if ctl.get("encoding") != enc:
        d.append(f"encoding key {ctl.get('encoding')} != {enc}")
    res = r["result_raw"]
    if res.startswith(b"\xef\xbb\xbf"):
        d.append("result.csv has BOM")
    rows, eols = split_csv_raw(res)
    if any(e != b"\r\n" for e in eols):
        d.append(f"result.csv line ends not all CRLF: {set(eols)}")
    if not rows or [f for f, _ in rows[0]] != [b"line", b"payment_id", b"status", b"field", b"message"]:
        d.append("result.csv header wrong")
    for row in rows:
        for fb, qd in row:
            if qd != must_quote(fb):
                d.append(f"quoting: field {fb[:60]!r} quoted={qd} must={must_quote(fb)}"); break
    pycodec = {"utf-8": "utf-8", "windows-1251": "cp1251", "cp866": "cp866"}[enc]
    got = []
    for row in rows[1:]:
        try:
            vals = [fb.decode(pycodec) for fb, _ in row]
        except UnicodeDecodeError:
            d.append("result.csv not decodable in " + enc); vals = [fb.decode("latin-1") for fb, _ in row]
        if len(vals) != 5:
            d.append(f"result row with {len(vals)} fields"); continue
        got.append(tuple(vals))
    if "rows" in exp:
        want_rows = [(str(a), b, str(c), e) for a, b, c, e in exp["rows"]]
        got4 = [g[:4] for g in got]
        if got4 != want_rows:
            diffs = [(i, w, g) for i, (w, g) in enumerate(zip(want_rows, got4)) if w != g]
            d.append(f"rows differ ({len(got4)} got vs {len(want_rows)} want): " + "; ".join(
                f"want {w[:1]+(w[1][:40],)+w[2:]} got {g[:1]+(g[1][:40],)+g[2:]} msg={got[i][4][:80]!r}" for i, w, g in diffs[:5]))
        if ctl.get("rows") != str(len(got)):
            d.append(f"rows key {ctl.get('rows')} != {len(got)}")
        acc = sum(1 for g in got if g[2] == "1")
        if ctl.get("accepted") != str(acc):
            d.append(f"accepted {ctl.get('accepted')} != {acc}")
    if "amount_accepted" in exp and ctl.get("amount_accepted") != exp["amount_accepted"]:
        d.append(f"amount_accepted {ctl.get('amount_accepted')} != {exp['amount_accepted']}")
    return d


# ---------- batches of rows (rows.py, records.py) ----------
# Remarks of the running case (not differences), printed after its line: the default notes of
# run1 and run_cases.
NOTES = []
PYENC = {"utf-8": "utf-8", "windows-1251": "cp1251", "cp866": "cp866"}


def bid_of(typ, seq, date="20261121"):
    return bidn(seq, typ, date)


def ack(rows, aa=None, **kw):
    e = {"result": "ACK", "rows": rows}
    if aa is not None:
        e["amount_accepted"] = aa
    e.update(kw)
    return e


def nak(code, created="2026-11-22T01:05:00+05:00", msg_has=(), **kw):
    e = {"result": "NAK", "code": code, "created_at": created, "msg_has": list(msg_has)}
    e.update(kw)
    return e


def rev_row(pid, amount, at="2026-11-21 12:00:00", reason="oshibka"):
    return [pid, at, amount, reason]


def rec_row(pid, amount, inv="A", paid_at="2026-11-21 10:00:00", state="PAID"):
    return [pid, paid_at, INV[inv][0] if inv in INV else inv, amount, state]


def pinfl_rows(pid_prefix, spec):
    """PAY rows paying invoice A with each PINFL of spec [(label, value, valid)], and their
    expected statuses: a valid PINFL passes its rule and differs from A's payer (304), an
    invalid one is 202 payer_id."""
    rows, exp = [], []
    for i, (lab, val, ok) in enumerate(spec):
        pid = pid_prefix + "%02d" % i
        rows.append(pay_row(pid, amount="1.00", payer=val))
        exp.append((i + 1, pid, 304 if ok else 202, "" if ok else "payer_id"))
    return rows, exp


def pinfl_diffs(r, spec):
    """Names each PINFL of spec whose row in the response r did not get its status."""
    got = r.get("result_raw", b"").decode(errors="replace").split("\r\n")[1:]
    return [f"    PINFL {lab} = {val}: want {304 if ok else 202} got {got[i]!r}"
            for i, (lab, val, ok) in enumerate(spec)
            if i < len(got) and got[i].split(";")[2:3] != [str(304 if ok else 202)]]


def clear_outbox(rx):
    for f in os.listdir(rx + "/outbox"):
        os.remove(os.path.join(rx, "outbox", f))


def run1(rx, bid, reg, exp, enc="utf-8", label="", notes=None, data=None, clear=False, **bk):
    """Builds batch bid from reg (bytes, or a list of rows), or takes the archive's bytes from
    data; empties the outbox first when clear; runs it and checks the response.
    exp: a dict for check_response (plus msg_has: words the NAK message must hold; key: whether
    the response is signed, default True), or a list of the answers the agreement allows (the
    one given is noted in notes, default NOTES). Returns (differences, response); the response's
    "archive" is the bytes sent."""
    typ = bid.split("_")[2]
    if data is None:
        if not isinstance(reg, bytes):
            reg = registry(typ, reg, enc=PYENC[enc])
        data = build_archive(bid, reg, enc=enc, **bk)
    if clear:
        clear_outbox(rx)
    r = run_archive(rx, bid + ".zip", data)
    r["archive"] = data
    alts = exp if isinstance(exp, list) else [exp]
    results = []
    for e in alts:
        e = dict(e)
        if e.get("result") == "ACK":
            e.setdefault("enc", enc)
        msg_has = e.pop("msg_has", [])
        d = check_response(r, bid + ".zip", data, e, key=e.pop("key", True))
        msg = r.get("ctl", {}).get("message", "") if r.get("ctl") else ""
        for s in msg_has:
            if s.lower() not in msg.lower():
                d.append(f"NAK message {msg!r} does not name {s!r}")
        results.append(d)
        if not d:
            break
    ok = any(not x for x in results)
    c = r.get("ctl", {}) or {}
    if len(alts) > 1 and ok:
        note = (f"(ambiguous {label or bid}: alternative #{[not x for x in results].index(True) + 1}; "
                f"receiver answered {c.get('result')} {c.get('error', '')} {c.get('message', '')!r})")
        (NOTES if notes is None else notes).append(note)
    if ok:
        return [], r
    got = f"got {c.get('result')} {c.get('error', '')} {c.get('message', '')!r}"
    return [f"[{label or bid}] " + x for x in results[0]] + ([f"[{label or bid}] {got}"] if c.get("result") == "NAK" else []), r


# ---------- whole archives by sequence number (operations.py, environment.py) ----------
def bidn(seq, typ="PAY", date="20261121", snd="MUNIS", rcv="SUDBILLING"):
    """A batch id; seq a number (written with 3 digits) or the digits as written."""
    return f"{snd}_{rcv}_{typ}_{date}_{seq if isinstance(seq, str) else '%03d' % seq}"


def resp_name(bid, res):
    p = bid.split("_")
    return f"SUDBILLING_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{res}.zip"


def pay(bid, pids, inv="A", amount="1.00", paid_at=None, **kw):
    """A PAY archive paying invoice inv once for each id of pids, at 10:00 of the batch's day."""
    d = bid.split("_")[3]
    pa = paid_at or f"{d[:4]}-{d[4:6]}-{d[6:]} 10:00:00"
    return build_archive(bid, registry("PAY", [pay_row(p, inv=inv, amount=amount, paid_at=pa) for p in pids]), **kw)


def rev(bid, items, **kw):
    """A REV archive reversing each (payment_id, amount) of items at 12:00 of the batch's day."""
    d = bid.split("_")[3]
    return build_archive(bid, registry("REV", [[p, f"{d[:4]}-{d[4:6]}-{d[6:]} 12:00:00", a, "xato"] for p, a in items]), **kw)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def outbox(rx):
    """The files of the outbox, by name, with their bytes."""
    o = rx + "/outbox"
    return {f: open(os.path.join(o, f), "rb").read() for f in sorted(os.listdir(o)) if os.path.isfile(os.path.join(o, f))}


def results(raw):
    """(result, error code, [(line, payment_id, status)]) of a response's bytes."""
    r = parse_response("x", raw)
    if "result_raw" not in r:
        return r["ctl"].get("result"), r["ctl"].get("error"), []
    rows = [l.split(";") for l in r["result_raw"].decode().split("\r\n")[1:] if l]
    return r["ctl"]["result"], None, [(x[0], x[1], x[2]) for x in rows]


def case_list():
    """A suite's list of cases and the decorator that adds one: @case(area, description)."""
    cases = []

    def case(area, desc):
        def deco(f):
            cases.append((f.__name__, area, desc, f))
            return f
        return deco
    return cases, case


# ---------- running a suite ----------
def _run_one(c, receiver, notes, after_case, stats):
    """Runs one case: (differences, notes it made, seconds, its additions to stats)."""
    t = time.time()
    if notes is not None:
        notes.clear()
    before = dict(stats or {})
    rx = None
    try:
        rx = receiver(c)
        diffs = c[3](rx)
    except Exception:
        diffs = ["EXCEPTION " + traceback.format_exc()[-1500:]]
    if after_case is not None and rx is not None and not diffs:
        after_case(c, rx)
    added = {k: v - before.get(k, 0) for k, v in (stats or {}).items()}
    return diffs, list(notes or ()), time.time() - t, added


_POOL_JOB = None


def _pool_run(i):
    # In a forked worker: the suite's cases and callbacks were inherited, not pickled.
    sel, receiver, notes, after_case, stats = _POOL_JOB
    return _run_one(sel[i], receiver, notes, after_case, stats)


def run_cases(suite, cases, receiver, notes=None, after_case=None, summary=None, stats=None):
    """Runs the cases whose name contains one of the command-line arguments (all without any).
    cases: tuples (name, area, description, function, ...); receiver(case) makes the case's
    receiver folder; function(rx) returns a list of differences (empty: as the agreement says).
    notes: a list the cases fill with remarks (printed, not differences; default NOTES); after_case(case, rx)
    runs after each case that passed; stats: a dict of counts the cases add to, which summary()
    may show; summary() adds to the last line. Prints one line per case, in the suite's order,
    and a last line `== SUITE: N/M cases OK`; exits 1 if any case differs or raised, 0
    otherwise.

    CONFORMANCE_JOBS=N (default 1) runs N cases at a time, each in a forked worker process; the
    cases must then be independent of each other (each has its own receiver folder)."""
    global _POOL_JOB
    if notes is None:
        notes = NOTES
    pats = sys.argv[1:]
    sel = [c for c in cases if not pats or any(p in c[0] for p in pats)]
    jobs = max(1, int(os.environ.get("CONFORMANCE_JOBS", "1") or "1"))
    print(f"{suite}: {len(sel)} of {len(cases)} cases against {BIN} (scratch {SCRATCH}"
          f"{f', {jobs} at a time' if jobs > 1 else ''})", flush=True)
    ok, t0 = 0, time.time()
    if jobs > 1 and len(sel) > 1:
        import multiprocessing
        _POOL_JOB = (sel, receiver, notes, after_case, stats)
        pool = multiprocessing.get_context("fork").Pool(jobs)
        results = pool.imap(_pool_run, range(len(sel)))
    else:
        pool = None
        results = (_run_one(c, receiver, notes, after_case, stats) for c in sel)
    for c, (diffs, made, secs, added) in zip(sel, results):
        name, area, desc = c[:3]
        ok += not diffs
        if pool is not None and stats is not None:
            for k, v in added.items():
                stats[k] = stats.get(k, 0) + v
        print(f"{'OK  ' if not diffs else 'DIFF'} area{area} {name} ({secs:.1f}s) :: {desc}", flush=True)
        for x in made:
            print("     " + x[:800], flush=True)
        for x in diffs:
            print("     - " + x[:2000], flush=True)
    if pool is not None:
        pool.close()
        pool.join()
    failed = len(sel) - ok
    extra = summary() if summary else ""
    print(f"== {suite}: {ok}/{len(sel)} cases OK{extra} ({time.time() - t0:.0f} s)", flush=True)
    if failed or os.environ.get("KEEP"):
        print(f"scratch folder kept: {SCRATCH}", flush=True)
    else:
        shutil.rmtree(SCRATCH, ignore_errors=True)
    sys.exit(1 if failed or not sel else 0)
