"""Black-box conformance suite for the auditor (written by the audit of 2026-11-24, round 7,
from the agreement and the README alone; run by hand, not in CI): replay of a realistic history, tamper-evidence of
`audit verify`, and read-only auditing.

Every expectation quotes the agreement (AGREEMENT.md, normative) or a README promise:

 R0  README: "Every received and sent file is kept, with a hash-chained journal, so that an
     auditor can replay any batch and get the same response byte for byte."
 R1  §8: "A response is a pure function of the inbound archive and the receiver's store before
     the batch ... Replaying a batch against the same store state therefore reproduces the
     response byte for byte."
 R2  §1: "The receiver keeps every archive it received and every response it sent."
 R3  README replay: "re-run a batch against the store as it was just before the batch was first
     processed, write the response into DIR, say whether it equals the response that was sent
     (an archive never received is computed against the current store)"; exit code 0:
     "`replay` reproduced the sent bytes (or computed a batch never received against the
     current store)"; 1: "`replay` produced different bytes or could not run".
 R4  README Decisions: "Replay of a signed batch needs the partner key that was used (the
     journal holds its fingerprint); if the configured key has changed since, replay says so
     instead of producing a different signature."
 A1  README audit verify: "verify the journal's chain, every kept file against it (and no file
     in a kept folder it does not name), and the store against it: deliveries, set-aside files
     and imports as journaled, the payments of each ACK summing to its response's accepted count
     and amount, balances equal to the payments not reversed, invoices equal to the kept exports
     loaded again in journal order"; exit 1: "`audit verify` found problems"; 0: "found nothing".
 A2  README: "`status` and `audit verify` open the store read-only and create nothing, so they
     work on a read-only copy of the data folder or under an account that may only read".
 A3  README: "a reader waits while a batch that has started writing is applied: up to 10 s, then
     it exits with code 3 saying the store is busy".

The store is inspected (and, for tampering cases, edited) with Python's sqlite3 module, as an
auditor with access to the host would. Usage:
  REESTR_BIN=target/release/reestr python3 conformance/audit7d.py [case-name-substrings]
"""
import glob, hashlib, hmac, json, os, re, shutil, sqlite3, subprocess, sys, time, zipfile, io

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *  # noqa

CASES, case = case_list()
NOTES = []

K1 = KEY
K2 = bytes.fromhex("5a" * 16 + "c3" * 16)
FP = lambda k: hashlib.sha256(k).hexdigest()


def rb(rx, *args, env=None, user=None):
    cmd = [BIN, "--config", rx + "/reestr.toml", *args]
    if user:
        cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", "--"] + cmd
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, env=e)
    p.out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    return p


def set_key(rx, key):
    with open(rx + "/keys/MUNIS.key", "w") as f:
        f.write(key.hex() + "\n")
    os.chmod(rx + "/keys/MUNIS.key", 0o600)


def set_cfg(rx, old, new):
    p = rx + "/reestr.toml"
    c = open(p).read()
    assert old in c, (old, c)
    open(p, "w").write(c.replace(old, new))


def export_csv(over):
    inv = dict(INV)
    for k, v in over.items():
        t = list(inv[k])
        for i, x in v.items():
            t[i] = x
        inv[k] = tuple(t)
    lines = ["invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"]
    for k, (no, pt, pid, name, amt, st) in inv.items():
        lines.append(f"{no};1703002;2-1/2026;{pt};{pid};{name};{amt};2026-01-10 10:00:00;{st}")
    return ("\r\n".join(lines) + "\r\n").encode()


def db(rx):
    return sqlite3.connect(rx + "/var/reestr.db")


def q1(rx, sql, *a):
    c = db(rx)
    try:
        return c.execute(sql, a).fetchall()
    finally:
        c.close()


def tree_state(rx):
    """What a read-only command must not change: every file under var/ (but the lock and tmp/),
    the inbox and the outbox, by SHA-256."""
    out = {}
    for base in ("var", "inbox", "outbox"):
        for p in glob.glob(f"{rx}/{base}/**", recursive=True):
            rel = os.path.relpath(p, rx)
            if os.path.isfile(p) and not rel.endswith("reestr.lock") and not rel.startswith("var/tmp"):
                out[rel] = sha(open(p, "rb").read())
    return out


def audit(rx, *extra, **kw):
    p = rb(rx, "audit", "verify", *extra, **kw)
    pj = rb(rx, "audit", "verify", "--json", *extra, **kw)
    try:
        j = json.loads(pj.stdout)
    except Exception:
        j = None
    return p, pj, j


def audit_clean(rx, label, *extra):
    p, pj, j = audit(rx, *extra)
    if p.returncode != 0 or pj.returncode != 0 or not j or j.get("problems"):
        return [f"[{label}] A1: audit verify on an untouched store must find nothing: rc={p.returncode}/{pj.returncode} "
                f"{p.out[-1500:]!r}"]
    return []


# ====================================================================== the history
HIST = {}


def deliver(rx, files, log, label, key_label):
    """Drop files (name, bytes) together, `run` once, record every response that appeared or changed."""
    before = outbox(rx)
    for n, b in files:
        path = os.path.join(rx, "inbox", n)
        open(path + ".part", "wb").write(b)
        os.rename(path + ".part", path)
        os.utime(path, (time.time() - 10, time.time() - 10))
    p = rb(rx, "run", "--json")
    after = outbox(rx)
    new = {n: b for n, b in after.items() if before.get(n) != b}
    for n, b in files:
        log["inbound"].append((label, n, b, key_label))
    for n, b in new.items():
        log["responses"].append((label, n, b))
    log["runs"].append((label, p.returncode, p.stdout.decode(errors="replace")[-400:]))
    return new


def history():
    """Builds (once) a receiver with several days of history and returns (rx, log)."""
    if HIST:
        return HIST["rx"], HIST["log"]
    rx = new_receiver("history")
    with open(rx + "/reestr.toml", "a") as f:
        f.write('\n[partners.KAPITAL]\ntypes = ["PAY", "REC"]\n')
    log = {"inbound": [], "responses": [], "runs": [], "expect": []}
    B = bidn

    def kb(bid):
        return bid.replace("MUNIS_", "KAPITAL_", 1)

    def reg(typ, rows):
        return registry(typ, rows)

    def exp(label, resp_name_, want):
        log["expect"].append((label, resp_name_, want))

    D1, D2, D3 = "20261121", "20261122", "20261123"
    # ---- day 1, key K1
    pay1 = build_archive(B(1), reg("PAY", [pay_row("810000000001", amount="100.00"), pay_row("810000000002", amount="100.00"),
                                          pay_row("810000000003", amount="100.00"), pay_row("810000000004", amount="100.00"),
                                          pay_row("810000000005", amount="100.00"),
                                          pay_row("810000000006", amount="100.00", payer="31210932040248"),
                                          pay_row("810000000007", inv="10000000000000000099", amount="1.00")]))
    deliver(rx, [(B(1) + ".zip", pay1)], log, "pay1", "K1")
    exp("pay1", resp_name(B(1), "ACK"), ["1", "1", "1", "1", "1", "202", "4"])
    rows2 = [pay_row("810000000011", inv="B", amount="1000.00"), pay_row("810000000012", inv="C", amount="500.00")]
    deliver(rx, [(B(2) + ".zip", build_archive(B(2), reg("PAY", rows2), total="9.99"))], log, "pay2-B08", "K1")
    exp("pay2-B08", resp_name(B(2), "NAK"), "B08")
    deliver(rx, [(B(2) + ".zip", build_archive(B(2), reg("PAY", rows2)))], log, "pay2", "K1")
    exp("pay2", resp_name(B(2), "ACK"), ["1", "1"])
    rows3 = [pay_row("810000000021", amount="50.00"), pay_row("810000000001", amount="1.00")]
    deliver(rx, [(B(3) + ".zip", build_archive(B(3), reg("PAY", rows3), hmac_val=b"0" * 64))], log, "pay3-B05", "K1")
    exp("pay3-B05", resp_name(B(3), "NAK"), "B05")
    deliver(rx, [(B(3) + ".zip", build_archive(B(3), reg("PAY", rows3)))], log, "pay3", "K1")
    exp("pay3", resp_name(B(3), "ACK"), ["1", "301"])
    deliver(rx, [(B(1) + ".zip", pay1)], log, "pay1-resent", "K1")
    deliver(rx, [(B(1) + ".zip", pay(B(1), ["810000000099"]))], log, "pay1-B09", "K1")
    exp("pay1-B09", resp_name(B(1), "NAK"), "B09")
    deliver(rx, [("MUNIS_SUDBILLING_PAY_20261340_001.zip", pay1), ("junk.zip", b"not a zip at all")], log, "setaside1", "K1")
    # export 2: A's amount due lowered, B's payer changed, C cancelled; loaded twice
    open(rx + "/export2.csv", "wb").write(export_csv({"A": {4: "800.00"}, "B": {2: "312345678"}, "C": {5: "CANCELLED"}}))
    sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/export2.csv"])
    sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/export2.csv"])
    rows4 = [pay_row("810000000031", amount="300.00"), pay_row("810000000032", inv="B", amount="10.00"),
             pay_row("810000000033", inv="C", amount="10.00"), pay_row("810000000034", amount="250.00"),
             pay_row("810000000035", amount="1.00")]
    deliver(rx, [(B(4) + ".zip", build_archive(B(4), reg("PAY", rows4)))], log, "pay4", "K1")
    exp("pay4", resp_name(B(4), "ACK"), ["303", "304", "302", "1", "302"])
    rv1 = [["810000000001", "2026-11-21 12:00:00", "100.00", "xato"], ["810000000002", "2026-11-21 12:00:00", "99.00", "xato"],
           ["899999999999", "2026-11-21 12:00:00", "1.00", "xato"], ["810000000001", "2026-11-21 12:00:00", "100.00", "xato"]]
    deliver(rx, [(B(1, "REV") + ".zip", build_archive(B(1, "REV"), reg("REV", rv1)))], log, "rev1", "K1")
    exp("rev1", resp_name(B(1, "REV"), "ACK"), ["1", "305", "4", "307"])
    rc1 = [rec_row("810000000001", "100.00", state="REVERSED"), rec_row("810000000002", "100.00"),
           rec_row("810000000003", "101.00"), rec_row("899999999998", "1.00")]
    deliver(rx, [(B(1, "REC") + ".zip", build_archive(B(1, "REC"), reg("REC", rc1)))], log, "rec1", "K1")
    exp("rec1", resp_name(B(1, "REC"), "ACK"), ["1", "1", "305", "4", "306", "306", "306", "306", "306", "306"])
    kp = kb(B(1))
    krev = kb(B(1, "REV"))
    krev_bytes = build_archive(krev, reg("REV", [["820000000001", "2026-11-21 12:00:00", "5.00", "xato"]]), key=None)
    deliver(rx, [(kp + ".zip", build_archive(kp, reg("PAY", [pay_row("820000000001", inv="N10", amount="5.00"),
                                                             pay_row("820000000002", inv="N11", amount="5.00")]), key=None)),
                 (krev + ".zip", krev_bytes),
                 ("MUNIS_OTHERBANK_PAY_20261121_009.zip", build_archive("MUNIS_OTHERBANK_PAY_20261121_009",
                                                                      reg("PAY", [pay_row("820000000009")])))],
            log, "kapital+B10", "K1")
    exp("kapital-pay", "SUDBILLING_KAPITAL_PAY_20261121_001_ACK.zip", ["1", "1"])
    exp("kapital-rev-B10", "SUDBILLING_KAPITAL_REV_20261121_001_NAK.zip", "B10")
    exp("otherbank-B10", "SUDBILLING_MUNIS_PAY_20261121_009_NAK.zip", "B10")
    # ---- key rotation: K2 from now on
    set_key(rx, K2)
    C2, C3 = "2026-11-22T23:00:00+05:00", "2026-11-23T23:00:00+05:00"
    d22 = "2026-11-22 10:00:00"
    p22_1_rows = [pay_row("830000000001", inv="C", amount="10.00", paid_at=d22),
                  pay_row("830000000002", inv="N12", amount="1.00", paid_at=d22),
                  pay_row("830000000003", inv="N13", amount="15.00", paid_at=d22)]
    deliver(rx, [(B(1, date=D2) + ".zip", build_archive(B(1, date=D2), reg("PAY", p22_1_rows), key=K1, created=C2))], log, "p22_1-oldkey-B05", "K2")
    exp("p22_1-oldkey-B05", resp_name(B(1, date=D2), "NAK"), "B05")
    # export 3: C reopened, N12's payer changed, N13 due 20.00
    open(rx + "/export3.csv", "wb").write(export_csv({"A": {4: "800.00"}, "B": {2: "312345678"}, "N12": {2: P2},
                                                      "N13": {4: "20.00"}}))
    sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/export3.csv"])
    # waiting together, dropped in reverse order
    p22_1 = build_archive(B(1, date=D2), reg("PAY", p22_1_rows), key=K2, created=C2)
    p22_2 = build_archive(B(2, date=D2), reg("PAY", [pay_row("830000000004", inv="N13", amount="10.00", paid_at=d22),
                                                     pay_row("830000000005", inv="N13", amount="5.00", paid_at=d22)]), key=K2, created=C2)
    r22 = build_archive(B(1, "REV", D2), reg("REV", [["830000000003", "2026-11-22 12:00:00", "15.00", "xato"],
                                                     ["810000000002", "2026-11-22 12:00:00", "100.00", "xato"]]), key=K2, created=C2)
    c22 = build_archive(B(1, "REC", D2), reg("REC", [rec_row("830000000001", "10.00", inv="C", paid_at=d22),
                                                     rec_row("830000000003", "15.00", inv="N13", paid_at=d22, state="REVERSED"),
                                                     rec_row("830000000005", "5.00", inv="N13", paid_at=d22),
                                                     rec_row("830000000002", "1.00", inv="N12", paid_at=d22)]), key=K2, created=C2)
    deliver(rx, [(B(1, "REC", D2) + ".zip", c22), (B(1, "REV", D2) + ".zip", r22), (B(2, date=D2) + ".zip", p22_2),
                 (B(1, date=D2) + ".zip", p22_1)], log, "day2-together", "K2")
    exp("p22_1", resp_name(B(1, date=D2), "ACK"), ["1", "304", "1"])
    exp("p22_2", resp_name(B(2, date=D2), "ACK"), ["303", "1"])
    exp("r22", resp_name(B(1, "REV", D2), "ACK"), ["1", "1"])
    exp("c22", resp_name(B(1, "REC", D2), "ACK"), ["1", "1", "1", "4"])
    p22_3 = build_archive(B(3, date=D2), reg("PAY", [pay_row("830000000011", inv="N14", amount="1.00", paid_at=d22)]), key=K2, created=C2)
    deliver(rx, [(B(3, date=D2) + ".zip", p22_3[:len(p22_3) // 2])], log, "p22_3-B01", "K2")
    exp("p22_3-B01", resp_name(B(3, date=D2), "NAK"), "B01")
    deliver(rx, [(B(3, date=D2) + ".zip", p22_3)], log, "p22_3", "K2")
    exp("p22_3", resp_name(B(3, date=D2), "ACK"), ["1"])
    deliver(rx, [(B(4, date=D2) + ".zip", build_archive(B(4, date=D2), reg("PAY", [pay_row("830000000012", inv="N14", paid_at=d22)]),
                                                        key=K2, created=C2, ctl_extra=[("colour", "blue")])),
                 (B(5, date=D2) + ".zip", build_archive(B(5, date=D2), reg("PAY", [pay_row("830000000013", inv="N14", paid_at=d22)]),
                                                        key=K2, created=C2, extra_files=[("readme.txt", b"hello\n")]))],
            log, "p22_4-B06+p22_5-B03", "K2")
    exp("p22_4-B06", resp_name(B(4, date=D2), "NAK"), "B06")
    exp("p22_5-B03", resp_name(B(5, date=D2), "NAK"), "B03")
    p22_6 = build_archive(B(6, date=D2), reg("PAY", [pay_row("830000000021", inv="N15", amount="2.00", paid_at=d22)]), key=K2, created=C2)
    deliver(rx, [("payreg.zip", p22_6)], log, "setaside2", "K2")
    sh([BIN, "--config", rx + "/reestr.toml", "release", "payreg.zip", "--as", B(6, date=D2) + ".zip"])
    os.utime(os.path.join(rx, "inbox", B(6, date=D2) + ".zip"), (time.time() - 10, time.time() - 10))
    deliver(rx, [], log, "p22_6-released", "K2")
    log["inbound"].append(("p22_6-released", B(6, date=D2) + ".zip", p22_6, "K2"))
    exp("p22_6", resp_name(B(6, date=D2), "ACK"), ["1"])
    # KAPITAL may now send REV: the same bytes NAKed B10 earlier are judged afresh
    set_cfg(rx, 'types = ["PAY", "REC"]', 'types = ["PAY", "REV", "REC"]')
    deliver(rx, [(krev + ".zip", krev_bytes)], log, "kapital-rev-again", "K2")
    exp("kapital-rev-ACK", "SUDBILLING_KAPITAL_REV_20261121_001_ACK.zip", ["1"])
    # export 4: N16 cancelled
    open(rx + "/export4.csv", "wb").write(export_csv({"A": {4: "800.00"}, "B": {2: "312345678"}, "N12": {2: P2},
                                                      "N13": {4: "20.00"}, "N16": {5: "CANCELLED"}}))
    sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/export4.csv"])
    d23 = "2026-11-23 10:00:00"
    bad_row = ";".join(pay_row("840000000003", inv="N17", paid_at=d23)[:-1])  # one field short
    p23 = build_archive(B(1, date=D3), reg("PAY", [pay_row("840000000001", inv="N16", paid_at=d23),
                                                   pay_row("840000000002", inv="N17", amount="3.00", paid_at=d23), bad_row]), key=K2, created=C3)
    c22b = build_archive(B(2, "REC", D2), reg("REC", [rec_row("830000000001", "10.00", inv="C", paid_at=d22)]), key=K2, created=C3)
    deliver(rx, [(B(1, date=D3) + ".zip", p23), (B(2, "REC", D2) + ".zip", c22b)], log, "day3", "K2")
    exp("p23", resp_name(B(1, date=D3), "ACK"), ["302", "1", "202"])
    exp("c22b", resp_name(B(2, "REC", D2), "ACK"), ["1", "306", "306", "306", "306"])
    deliver(rx, [(B(1, date=D2) + ".zip", p22_1)], log, "p22_1-resent", "K2")
    HIST["rx"], HIST["log"] = rx, log
    return rx, log


def copy_hist(name):
    rx, log = history()
    dst = os.path.join(SCRATCH, "rx", name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(rx, dst, symlinks=True)
    return dst, log


def deliveries(rx):
    return q1(rx, "SELECT d.id, d.inbound_name, d.inbound_sha256, d.result, d.code, d.response_name, d.response_sha256, "
                  "d.resent_of, j.body FROM deliveries d JOIN journal j ON j.seq = d.journal_seq ORDER BY d.id")


# ---------------------------------------------------------------------- 1. history itself
@case(1, "history of 3 days (PAY/REV/REC, NAK B01 B03 B05 B06 B08 B09 B10, RESENT, set-aside + release, 3 exports, "
         "batches waiting together, signed and unsigned partners, key rotated): statuses as §7.2, every inbound "
         "archive and every response kept (§1), outbox copies equal kept copies, audit verify clean (A1)")
def h_history(_rx):
    rx, log = history()
    d = []
    ob = outbox(rx)
    for label, rn, want in log["expect"]:
        raw = ob.get(rn)
        if raw is None:
            d.append(f"[{label}] no {rn} in the outbox")
            continue
        res, code, rows = results(raw)
        if isinstance(want, str):
            if res != "NAK" or code != want:
                d.append(f"[{label}] {rn}: {res} {code}, want NAK {want}")
        elif [r[2] for r in rows] != want:
            d.append(f"[{label}] {rn}: statuses {[r[2] for r in rows]}, want {want}")
    rcv = {os.path.basename(p)[:-4] for p in glob.glob(rx + "/var/received/*.zip")}
    snt = {os.path.basename(p)[:-4] for p in glob.glob(rx + "/var/sent/*.zip")}
    sa = {os.path.basename(p).split(".")[0] for p in glob.glob(rx + "/var/set-aside/*.bin")}
    for label, n, b, _ in log["inbound"]:
        if sha(b) not in rcv | sa:
            d.append(f"[{label}] R2: received archive {n} ({sha(b)[:12]}) not kept in received/ or set-aside/")
    for label, n, b in log["responses"]:
        if sha(b) not in snt:
            d.append(f"[{label}] R2: sent response {n} ({sha(b)[:12]}) not kept in sent/")
    for n, b in ob.items():
        if sha(b) not in snt:
            d.append(f"outbox {n} not equal to any kept response")
    dl = deliveries(rx)
    NOTES.append(f"(history: {len(dl)} deliveries, {len(log['responses'])} responses written, "
                 f"{q1(rx, 'SELECT count(*) FROM journal')[0][0]} journal entries, "
                 f"{q1(rx, 'SELECT count(*) FROM set_aside')[0][0]} set aside, {q1(rx, 'SELECT count(*) FROM imports')[0][0]} imports)")
    for row in dl:
        if not os.path.exists(f"{rx}/var/sent/{row[6]}.zip"):
            d.append(f"delivery {row[0]} {row[1]}: response {row[6][:12]} not kept")
    return d + audit_clean(rx, "audit")


# ---------------------------------------------------------------------- 2. replay of everything
def replay_one(rx, inbound_name, data, tag, *extra):
    """Replay data under its inbound name into a fresh folder: (process, {name: bytes})."""
    ind = os.path.join(rx, "replay_in", tag)
    os.makedirs(ind, exist_ok=True)
    fn = os.path.join(ind, inbound_name)
    open(fn, "wb").write(data)
    od = os.path.join(rx, "replay_out", tag)
    shutil.rmtree(od, ignore_errors=True)
    os.makedirs(od)
    p = rb(rx, "replay", fn, "--out", od, *extra)
    return p, {f: open(os.path.join(od, f), "rb").read() for f in os.listdir(od)}


def replay_all(rx, current_fp, label):
    """Replays every kept inbound archive under its inbound name; compares with the kept response
    of its ACK, or of its first delivery when it was never ACKed. Returns (differences, notes)."""
    d, notes = [], []
    dl = deliveries(rx)
    by_sha = {}
    for row in dl:
        by_sha.setdefault(row[2], []).append(row)
    n_same = n_key = 0
    for s, rows in by_sha.items():
        # README "Decisions": bytes NAKed and later ACKed are replayed as the ACK (the delivery
        # that processed them); bytes only ever NAKed, as their first delivery.
        firsts = [r for r in rows if r[7] is None]
        last = next((r for r in firsts if r[3] == "ACK"), firsts[0])
        fps = [(json.loads(r[8]).get("policy") or {}).get("key_fingerprint") for r in rows]
        fp = next((x for x in fps if x), None)
        kept_resp = open(f"{rx}/var/sent/{last[6]}.zip", "rb").read()
        data = open(f"{rx}/var/received/{s}.zip", "rb").read()
        before = tree_state(rx)
        p, files = replay_one(rx, last[1], data, f"{label}-{last[0]}")
        if tree_state(rx) != before:
            d.append(f"[{last[1]} #{last[0]}] replay changed the store, the kept files, the inbox or the outbox")
        key_changed = fp is not None and fp != current_fp
        got = list(files.values())
        if key_changed:
            if p.returncode == 0 and got and got[0] == kept_resp:
                n_same += 1
                notes.append(f"{last[1]} ({last[3]} {last[4]}): key changed since, yet replay reproduced the bytes")
            elif p.returncode != 0 and "key" in p.out.lower():
                n_key += 1
            else:
                d.append(f"[{last[1]} #{last[0]} {last[3]} {last[4]}] R4: key changed since (journal fp {fp[:12]}, now "
                         f"{(current_fp or 'none')[:12]}): replay must say so; rc={p.returncode} files={list(files)} {p.out[-300:]!r}")
            continue
        if p.returncode != 0 or len(got) != 1 or got[0] != kept_resp:
            extra = ""
            if len(got) == 1:
                c1, c2 = parse_response("x", got[0])["ctl"], parse_response("x", kept_resp)["ctl"]
                extra = f" replay {c1.get('result')} {c1.get('error')} {c1.get('message')!r} vs sent {c2.get('result')} {c2.get('error')}"
            d.append(f"[{last[1]} #{last[0]} {last[3]} {last[4]}] R0/R1/R3: replay rc={p.returncode} files={list(files)} not the "
                     f"sent bytes{extra} {p.out[-300:]!r}")
        else:
            n_same += 1
        if len(rows) > 1 and len({r[6] for r in rows}) > 1:
            notes.append(f"{last[1]}: delivered {len(rows)} times with different answers "
                         f"{[(r[3], r[4]) for r in rows]}; replay gives one answer "
                         f"({'the ACK' if got and got[0] == kept_resp else '?'}); the earlier NAK(s) cannot be replayed")
    notes.insert(0, f"{len(by_sha)} distinct kept inbound archives: {n_same} reproduced byte for byte, {n_key} refused for the key")
    return d, notes


@case(2, "R0/R1/R3/R4 replay EVERY kept inbound archive (under its inbound name) with the current key K2: the K2 era and the "
         "unsigned partner reproduce the last response byte for byte (exit 0); the K1 era says the key changed; replay changes nothing")
def r_replay_all_k2(_rx):
    rx, log = copy_hist("replay_k2")
    d, notes = replay_all(rx, FP(K2), "k2")
    NOTES.extend("(" + n + ")" for n in notes)
    return d


@case(2, "R0/R1/R4 the same with the old key K1 put back: the K1 era reproduces byte for byte, the K2 era says the key changed")
def r_replay_all_k1(_rx):
    rx, log = copy_hist("replay_k1")
    set_key(rx, K1)
    d, notes = replay_all(rx, FP(K1), "k1")
    NOTES.extend("(" + n + ")" for n in notes)
    return d


@case(2, "A1 `audit verify --rebuild` on the untouched history, with K2 and with K1 configured: the books rebuilt from the kept "
         "evidence (every export and ACKed PAY/REV/REC, NAKs, re-deliveries, two partners, a rotated key) equal the store, exit 0")
def r_audit_rebuild(_rx):
    rx, log = copy_hist("audit_rebuild")
    d = audit_clean(rx, "rebuild, K2", "--rebuild")
    p, pj, j = audit(rx, "--rebuild")
    NOTES.append(f"(rebuilt_batches={(j or {}).get('rebuilt_batches')}; {p.out.strip()[-200:]!r})")
    if not j or not j.get("rebuilt_batches"):
        d.append(f"--rebuild --json names no batch judged again: {pj.stdout[-300:]!r}")
    set_key(rx, K1)
    return d + audit_clean(rx, "rebuild, K1", "--rebuild")


@case(2, "R0/§1 every response that was ever written to the outbox equals a kept response, and replay of the inbound "
         "archive it answered (by in_reply_to_sha256) reproduces it, with the right key configured")
def r_replay_every_response(_rx):
    rx, log = copy_hist("replay_resp")
    d = []
    for label, n, raw in log["responses"]:
        ctl = parse_response(n, raw)["ctl"]
        s = ctl["in_reply_to_sha256"]
        inb = [x for x in log["inbound"] if sha(x[2]) == s]
        if not inb:
            d.append(f"[{label}] {n}: in_reply_to_sha256 names no delivered archive"); continue
        lab, name, data, keylab = inb[-1]
        set_key(rx, K1 if keylab == "K1" else K2)
        if label == "kapital+B10" and "KAPITAL_REV" in n:
            set_cfg(rx, 'types = ["PAY", "REV", "REC"]', 'types = ["PAY", "REC"]')
        p, files = replay_one(rx, name, data, "resp-" + n)
        if label == "kapital+B10" and "KAPITAL_REV" in n:
            set_cfg(rx, 'types = ["PAY", "REC"]', 'types = ["PAY", "REV", "REC"]')
        got = list(files.values())
        if not got or got[0] != raw:
            c1 = parse_response("x", got[0])["ctl"] if got else {}
            msg = (f"[{label}] {n} ({ctl.get('result')} {ctl.get('error', '')}): replay rc={p.returncode} gives "
                   f"{c1.get('result')} {c1.get('error', '')}, not the sent bytes {p.out[-200:]!r}")
            if label == "kapital+B10":
                NOTES.append("(doubt: " + msg + " -- the NAK B10 answered under the configuration of that time, which the "
                             "journal's policy records; replay uses the current types even when configured back as then?)")
            else:
                d.append("R0: " + msg)
    return d


@case(2, "R3 replay of the kept file itself (var/received/<sha256>.zip, the only name under which it is kept) "
         "for an ACK, a NAK and a re-delivered ACK")
def r_replay_kept_path(_rx):
    rx, log = copy_hist("replay_kept")
    d = []
    for row in deliveries(rx):
        if row[1] not in ("MUNIS_SUDBILLING_PAY_20261122_001.zip", "MUNIS_SUDBILLING_PAY_20261122_003.zip"):
            continue
        od = os.path.join(rx, "rk", str(row[0]))
        os.makedirs(od)
        p = rb(rx, "replay", f"{rx}/var/received/{row[2]}.zip", "--out", od)
        files = os.listdir(od)
        kept_resp = open(f"{rx}/var/sent/{row[6]}.zip", "rb").read()
        ok = p.returncode == 0 and len(files) == 1 and open(os.path.join(od, files[0]), "rb").read() == kept_resp
        NOTES.append(f"(replay var/received/{row[2][:12]}….zip [{row[1]} {row[3]} {row[4]}]: rc={p.returncode} files={files} "
                     f"{'reproduced' if ok else 'NOT reproduced: ' + p.out[-250:]!r})")
        if not ok:
            d.append(f"[{row[1]} {row[3]}] R0: the kept archive, replayed as kept, does not reproduce its response: rc={p.returncode} "
                     f"{p.out[-250:]!r}")
    return d


@case(2, "R3 replay --json: a JSON document on stdout saying the bytes are equal, exit 0; and for a batch whose key changed, "
         "JSON saying so, exit 1")
def r_replay_json(_rx):
    rx, log = copy_hist("replay_json")
    d = []
    row = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"][-1]
    p, files = replay_one(rx, row[1], open(f"{rx}/var/received/{row[2]}.zip", "rb").read(), "json", "--json")
    try:
        j = json.loads(p.stdout)
        NOTES.append(f"(replay --json: {json.dumps(j)[:400]})")
    except Exception:
        return [f"replay --json: stdout not JSON: rc={p.returncode} {p.stdout[-300:]!r} {p.stderr[-300:]!r}"]
    if p.returncode != 0:
        d.append(f"replay --json rc={p.returncode}")
    if not any(v is True for k, v in j.items() if any(w in k for w in ("equal", "same", "identical", "match", "reproduced"))):
        d.append(f"replay --json does not say the bytes are equal: {j}")
    row1 = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261121_004.zip"][-1]
    p, files = replay_one(rx, row1[1], open(f"{rx}/var/received/{row1[2]}.zip", "rb").read(), "json-k", "--json")
    NOTES.append(f"(replay --json, key changed: rc={p.returncode} stdout={p.stdout.decode(errors='replace')[:300]!r} "
                 f"stderr={p.stderr.decode(errors='replace')[-200:]!r})")
    if p.returncode == 0 or "key" not in p.out.lower():
        d.append(f"replay --json of a K1 batch with K2 configured: rc={p.returncode}, must say the key changed (R4)")
    return d


@case(2, "R1/R3 replay of archives never received (a new PAY, a REC of day 22, a PAY reusing a processed batch id): computed "
         "against the current store, exit 0, nothing changed; then `run` of the same bytes answers exactly those bytes")
def r_replay_never_received(_rx):
    rx, log = copy_hist("replay_new")
    d = []
    D2 = "20261122"
    arcs = [
        (bidn(7, date=D2), build_archive(bidn(7, date=D2), registry("PAY", [
            pay_row("850000000001", inv="N20", amount="7.00", paid_at="2026-11-22 11:00:00"),
            pay_row("830000000005", inv="N13", amount="1.00", paid_at="2026-11-22 11:00:00"),
            pay_row("850000000002", inv="N13", amount="1.00", paid_at="2026-11-22 11:00:00")]), key=K2, created="2026-11-22T23:00:00+05:00")),
        (bidn(3, "REC", D2), build_archive(bidn(3, "REC", D2), registry("REC", [
            rec_row("830000000001", "10.00", inv="C", paid_at="2026-11-22 10:00:00")]), key=K2, created="2026-11-22T23:00:00+05:00")),
        (bidn(2, date=D2), build_archive(bidn(2, date=D2), registry("PAY", [pay_row("850000000003", inv="N21", paid_at="2026-11-22 11:00:00")]), key=K2, created="2026-11-22T23:00:00+05:00")),
    ]
    for bid, data in arcs:
        before = tree_state(rx)
        p, files = replay_one(rx, bid + ".zip", data, "new-" + bid)
        if tree_state(rx) != before:
            d.append(f"[{bid}] replay of a never-received archive changed the store or the kept files")
        if p.returncode != 0 or len(files) != 1:
            d.append(f"[{bid}] R3: replay of a never-received archive: rc={p.returncode} files={list(files)} {p.out[-300:]!r}")
            continue
        rep = list(files.values())[0]
        r = run_archive(rx, bid + ".zip", data)
        if r.get("raw") != rep:
            c1 = parse_response("x", rep)["ctl"]
            d.append(f"[{bid}] R1: replay before receipt gave {list(files)[0]} {c1.get('result')} {c1.get('error')}, "
                     f"`run` then answered {r.get('name')} {r.get('ctl', {}).get('result')} {r.get('ctl', {}).get('error')}: not the same bytes")
        else:
            NOTES.append(f"({bid}: replay before receipt == response of `run`: {r['name']} {results(rep)[:2]})")
    return d + audit_clean(rx, "audit after")


@case(2, "R3 replay --out handling: a folder that does not exist; a folder already holding a stale file of the response's "
         "name; --out naming a regular file; --out missing (usage, exit 2); the inbox and outbox untouched")
def r_replay_outdir(_rx):
    rx, log = copy_hist("replay_out")
    d = []
    row = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"][-1]
    fn = f"{rx}/ri/{row[1]}"
    os.makedirs(f"{rx}/ri")
    shutil.copy(f"{rx}/var/received/{row[2]}.zip", fn)
    kept_resp = open(f"{rx}/var/sent/{row[6]}.zip", "rb").read()
    before = tree_state(rx)
    # a) nonexistent
    p = rb(rx, "replay", fn, "--out", f"{rx}/nope/deeper")
    ex = os.path.exists(f"{rx}/nope/deeper/{row[5]}")
    NOTES.append(f"(replay --out <missing folder>: rc={p.returncode} created={ex} {p.out[-200:]!r})")
    if p.returncode == 0 and not ex:
        d.append("replay --out <missing folder>: exit 0 but no response written")
    if ex and open(f"{rx}/nope/deeper/{row[5]}", "rb").read() != kept_resp:
        d.append("replay --out <missing folder>: wrong bytes")
    # b) stale file of the same name
    os.makedirs(f"{rx}/stale")
    open(f"{rx}/stale/{row[5]}", "wb").write(b"stale junk")
    p = rb(rx, "replay", fn, "--out", f"{rx}/stale")
    now = open(f"{rx}/stale/{row[5]}", "rb").read()
    NOTES.append(f"(replay --out <folder with stale file of that name>: rc={p.returncode} replaced={now == kept_resp} {p.out[-200:]!r})")
    if p.returncode == 0 and now != kept_resp:
        d.append("R3: replay exit 0 ('reproduced') but the file in --out is not the response (stale bytes left)")
    # c) --out is a regular file
    open(f"{rx}/afile", "wb").write(b"x")
    p = rb(rx, "replay", fn, "--out", f"{rx}/afile")
    NOTES.append(f"(replay --out <regular file>: rc={p.returncode} {p.out[-200:]!r})")
    if p.returncode == 0:
        d.append("replay --out <regular file>: exit 0")
    if open(f"{rx}/afile", "rb").read() != b"x":
        d.append("replay --out <regular file>: the file was overwritten")
    # d) --out missing
    p = rb(rx, "replay", fn)
    if p.returncode != 2:
        d.append(f"replay without --out: rc={p.returncode} (README: 2 = usage error) {p.out[-200:]!r}")
    if tree_state(rx) != before:
        d.append("replay changed the store, the kept files, the inbox or the outbox")
    return d


@case(2, "R0/R1 replay after the configuration's limits changed (max_entries 3 < the 4 entries of every signed batch; "
         "max_line_bytes 200): does replay reproduce the sent ACK, or say why not?")
def r_replay_limits_changed(_rx):
    rx, log = copy_hist("replay_limits")
    set_cfg(rx, "[partners.MUNIS]", "[limits]\nmax_entries = 3\nmax_line_bytes = 200\n[partners.MUNIS]")
    row = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"][-1]
    p, files = replay_one(rx, row[1], open(f"{rx}/var/received/{row[2]}.zip", "rb").read(), "lim")
    kept_resp = open(f"{rx}/var/sent/{row[6]}.zip", "rb").read()
    got = list(files.values())
    same = bool(got) and got[0] == kept_resp
    c = parse_response("x", got[0])["ctl"] if got else {}
    NOTES.append(f"(replay with tighter limits: rc={p.returncode} reproduced={same} replay says {c.get('result')} {c.get('error')} "
                 f"{c.get('message')!r} / {p.out[-300:]!r})")
    if same and p.returncode == 0:
        return []
    said = p.out.lower().replace(rx.lower(), "")
    if p.returncode != 0 and ("limit" in said or "config" in said):
        NOTES.append("(doubt: replay depends on the current limits, which the journal does not record; it says why)")
        return []
    return [f"R0/R1: after the limits changed, replay of an ACKed batch does not reproduce the sent ACK "
            f"(rc={p.returncode}, replay gives {c.get('result')} {c.get('error')}) and does not name the configuration as the cause: "
            f"{p.out[-300:]!r}"]


@case(2, "R4 replay when the key used is no longer configured (key_file removed from the partner): must say so, exit 1, "
         "and not claim equality; the unsigned partner's batches still reproduce")
def r_replay_key_removed(_rx):
    rx, log = copy_hist("replay_nokey")
    set_cfg(rx, 'key_file = "keys/MUNIS.key"\n', "")
    d = []
    dl = deliveries(rx)
    row = [r for r in dl if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"][-1]
    p, files = replay_one(rx, row[1], open(f"{rx}/var/received/{row[2]}.zip", "rb").read(), "nokey")
    NOTES.append(f"(replay, key removed: rc={p.returncode} files={list(files)} {p.out[-300:]!r})")
    if p.returncode == 0 or "key" not in p.out.lower():
        d.append(f"R4: key no longer configured: replay rc={p.returncode}, must say so: {p.out[-300:]!r}")
    rowk = [r for r in dl if r[1] == "KAPITAL_SUDBILLING_PAY_20261121_001.zip"][-1]
    p, files = replay_one(rx, rowk[1], open(f"{rx}/var/received/{rowk[2]}.zip", "rb").read(), "nokey-k")
    if p.returncode != 0 or list(files.values()) != [open(f"{rx}/var/sent/{rowk[6]}.zip", "rb").read()]:
        d.append(f"unsigned partner replay not reproduced with MUNIS's key removed: rc={p.returncode} {p.out[-300:]!r}")
    return d


@case(2, "R0/§7.1 the same bytes NAKed B02 (max_entries = 3, a signed batch has 4 entries), then, limits restored, delivered again "
         "and ACKed (applied): replay of those bytes must reproduce the ACK that applied the batch (and the outbox's answer)")
def r_replay_nak_limits_then_ack(_rx):
    rx = new_receiver("nak_then_ack", limits={"max_entries": 3})
    d = []
    bid = bidn(1)
    data = pay(bid, ["880000000001", "880000000002"])
    r1 = run_archive(rx, bid + ".zip", data)
    set_cfg(rx, "max_entries = 3", "max_entries = 16")
    r2 = run_archive(rx, bid + ".zip", data)
    NOTES.append(f"(deliveries: {r1.get('name')} {r1.get('ctl', {}).get('error')}, then {r2.get('name')})")
    if r2.get("ctl", {}).get("result") != "ACK":
        return [f"second delivery not ACKed: {r2.get('name')} {r2.get('ctl')}"]
    p, files = replay_one(rx, bid + ".zip", data, "nta")
    got = list(files.values())
    c = parse_response("x", got[0])["ctl"] if got else {}
    NOTES.append(f"(replay: rc={p.returncode} {list(files)} {c.get('result')} {c.get('error')} / {p.out.strip()[-250:]!r})")
    if got and got[0] == r2["raw"] and p.returncode != 0:
        d.append(f"R3: replay wrote exactly the ACK that was sent (and applied the batch) but exits {p.returncode} saying "
                 f"{p.out.strip().splitlines()[-1][:200]!r}: it compares with the earlier NAK of the same bytes")
    elif not got or got[0] != r2["raw"]:
        d.append(f"R0: the ACK that applied the batch is not reproduced by replay: rc={p.returncode} replay gives "
                 f"{list(files)} {c.get('result')} {c.get('error')}; {p.out.strip()[-200:]!r}")
    return d


# ---------------------------------------------------------------------- 3. tamper-evidence
def tampered(name, fn, hints=(), expect_detect=True, why="", extra=()):
    """A case: copy the history, apply fn(rx), run audit verify (with the options in extra). hints: strings one of
    which should appear in the report (naming what and where)."""
    def t(_rx):
        rx, log = copy_hist("t_" + name)
        info = fn(rx) or {}
        hs = list(hints) + list(info.get("hints", []))
        p, pj, j = audit(rx, *extra)
        probs = (j or {}).get("problems", [])
        rep = p.out.strip().replace("\n", " | ")[:700]
        NOTES.append(f"(audit verify rc={p.returncode}: {rep})")
        if not expect_detect:
            if p.returncode == 0:
                NOTES.append(f"(not detected, as expected from the README's list: {why})")
            return []
        d = []
        if p.returncode != 1 or pj.returncode != 1 or not probs:
            d.append(f"A1: tampering not detected: rc={p.returncode}/{pj.returncode} problems={len(probs)} {rep!r}")
        elif hs and not any(h.lower() in (p.out + json.dumps(j)).lower() for h in hs):
            NOTES.append(f"(NAMING: detected, but the report names none of {hs}: it does not say which row/file)")
        return d
    t.__name__ = "t_" + name
    return t


def add_tamper(name, desc, fn, hints=(), expect_detect=True, why="", extra=()):
    case(3, desc)(tampered(name, fn, hints, expect_detect, why, extra))


def pick_delivery(rx, name, result="ACK"):
    return [r for r in deliveries(rx) if r[1] == name and r[3] == result][0]


def flip(path, at=-30):
    b = bytearray(open(path, "rb").read())
    b[at] ^= 1
    open(path, "wb").write(bytes(b))


def _recv_mod(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261121_004.zip")
    flip(f"{rx}/var/received/{r[2]}.zip")
    return {"hints": [r[2][:12]]}


def _recv_trunc(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_REV_20261121_001.zip")
    p = f"{rx}/var/received/{r[2]}.zip"
    open(p, "r+b").truncate(os.path.getsize(p) // 2)
    return {"hints": [r[2][:12]]}


def _recv_del(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_REC_20261121_001.zip")
    os.remove(f"{rx}/var/received/{r[2]}.zip")
    return {"hints": [r[2][:12]]}


def _recv_ren(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261122_002.zip")
    os.rename(f"{rx}/var/received/{r[2]}.zip", f"{rx}/var/received/{'0' * 64}.zip")
    return {"hints": [r[2][:12], "0000000000"]}


def _recv_ren_other(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261122_002.zip")
    os.rename(f"{rx}/var/received/{r[2]}.zip", f"{rx}/var/received/{r[2]}.zip.bak")
    return {"hints": [r[2][:12]]}


def _recv_nak_mod(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261121_002.zip", "NAK")
    flip(f"{rx}/var/received/{r[2]}.zip")
    return {"hints": [r[2][:12]]}


def _sent_mod(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_REC_20261122_001.zip")
    flip(f"{rx}/var/sent/{r[6]}.zip")
    return {"hints": [r[6][:12]]}


def _sent_del(rx):
    r = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261121_003.zip", "NAK")
    os.remove(f"{rx}/var/sent/{r[6]}.zip")
    return {"hints": [r[6][:12]]}


def _sent_swap(rx):
    """Replace a kept ACK by another valid response and rename it to the first one's hash name? impossible; instead
    put another kept response's bytes under this name."""
    a = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261122_001.zip")
    b = pick_delivery(rx, "MUNIS_SUDBILLING_PAY_20261122_002.zip")
    shutil.copy(f"{rx}/var/sent/{b[6]}.zip", f"{rx}/var/sent/{a[6]}.zip")
    return {"hints": [a[6][:12]]}


def _extra_file(rx):
    open(f"{rx}/var/received/{'ab' * 32}.zip", "wb").write(b"PK\x05\x06" + b"\0" * 18)
    return {"hints": ["abababab"]}


def _export_mod(rx):
    p = sorted(glob.glob(f"{rx}/var/imports/*.csv"))[0]
    b = open(p, "rb").read().replace(b"1000000.00", b"1000001.00", 1)
    open(p, "wb").write(b)
    return {"hints": [os.path.basename(p)[:12]]}


def _export_del(rx):
    s = q1(rx, "SELECT sha256 FROM imports ORDER BY id")[1][0]
    os.remove(f"{rx}/var/imports/{s}.csv")
    return {"hints": [s[:12]]}


def _setaside_mod(rx):
    p = sorted(glob.glob(f"{rx}/var/set-aside/*.bin"))[0]
    flip(p, 0)
    return {"hints": [os.path.basename(p)[:12]]}


def _setaside_reason(rx):
    p = sorted(glob.glob(f"{rx}/var/set-aside/*.reason.json"))[0]
    b = open(p, "rb").read().replace(b"date", b"DATE", 1).replace(b"name", b"NAME", 1)
    open(p, "wb").write(b)
    return {"hints": [os.path.basename(p)[:12]]}


def _exec(rx, *sqls):
    c = db(rx)
    for s in sqls:
        c.execute(s)
    c.commit()
    c.close()


def _j_body(rx):
    seq = q1(rx, "SELECT seq FROM journal WHERE kind='delivery' ORDER BY seq LIMIT 1 OFFSET 3")[0][0]
    _exec(rx, f"UPDATE journal SET body = replace(body, '\"rows\":', '\"rows\":1') WHERE seq = {seq}")
    return {"hints": [str(seq)]}


def _j_del_mid(rx):
    seq = q1(rx, "SELECT seq FROM journal WHERE kind='delivery' ORDER BY seq LIMIT 1 OFFSET 5")[0][0]
    _exec(rx, f"DELETE FROM journal WHERE seq = {seq}")
    return {"hints": [str(seq)]}


def _j_swap(rx):
    a, b = [x[0] for x in q1(rx, "SELECT seq FROM journal WHERE kind='delivery' ORDER BY seq LIMIT 2 OFFSET 4")]
    ra = q1(rx, f"SELECT recorded_at, kind, body, prev_hash, hash FROM journal WHERE seq={a}")[0]
    rb_ = q1(rx, f"SELECT recorded_at, kind, body, prev_hash, hash FROM journal WHERE seq={b}")[0]
    c = db(rx)
    c.execute("UPDATE journal SET recorded_at=?, kind=?, body=?, prev_hash=?, hash=? WHERE seq=?", rb_ + (a,))
    c.execute("UPDATE journal SET recorded_at=?, kind=?, body=?, prev_hash=?, hash=? WHERE seq=?", ra + (b,))
    c.commit(); c.close()
    return {"hints": [str(a), str(b)]}


def _j_last_only(rx):
    seq = q1(rx, "SELECT max(seq) FROM journal")[0][0]
    _exec(rx, f"DELETE FROM journal WHERE seq = {seq}")
    return {"hints": [str(seq)]}


def _j_last_consistent(rx):
    """Roll back the last delivery entirely: its journal entry, its deliveries row, its kept files (a RESENT of
    PAY_20261122_001 keeps no new file: the last entry is a `resend`)."""
    seq, kind, body = q1(rx, "SELECT seq, kind, body FROM journal ORDER BY seq DESC LIMIT 1")[0]
    NOTES.append(f"(last journal entry: seq {seq} kind {kind})")
    _exec(rx, f"DELETE FROM journal WHERE seq = {seq}", f"DELETE FROM deliveries WHERE journal_seq = {seq}")
    return {}


def _j_last_two_consistent(rx):
    """Remove the last two ACK deliveries (day 3) completely: journal, deliveries, payments, balances, kept files."""
    rows = q1(rx, "SELECT seq, body FROM journal ORDER BY seq DESC LIMIT 3")
    c = db(rx)
    for seq, body in rows:
        b = json.loads(body)
        for k in b.get("kept", []):
            if q1(rx, "SELECT count(*) FROM journal WHERE seq < ? AND body LIKE ?", seq, f"%{k['sha256']}%")[0][0] == 0:
                try:
                    os.remove(f"{rx}/var/{k['path']}")
                except FileNotFoundError:
                    pass
        for pid, inv, amt in c.execute("SELECT payment_id, invoice_no, amount FROM payments WHERE journal_seq=? AND state='PAID'", (seq,)).fetchall():
            c.execute("UPDATE balances SET paid = paid - ? WHERE invoice_no=?", (amt, inv))
        c.execute("DELETE FROM payments WHERE journal_seq=?", (seq,))
        c.execute("DELETE FROM deliveries WHERE journal_seq=?", (seq,))
        c.execute("DELETE FROM journal WHERE seq=?", (seq,))
    c.execute("DELETE FROM balances WHERE paid = 0")
    c.commit(); c.close()
    # the outbox copies are not part of the evidence; remove them as the sender would have taken them
    return {}


def _jhash(seq, prev, kind, ra, body):
    return hashlib.sha256(f"{seq}\n{prev}\n{kind}\n{ra}\n{body}".encode()).hexdigest()


def _j_append_forged(rx):
    seq, h = q1(rx, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")[0]
    body = json.dumps({"changed": 0, "engine_version": "0.1.0", "file_name": "x.csv", "kept": [], "rows": 0, "sha256": "00" * 32})
    _exec(rx, f"INSERT INTO journal VALUES ({seq + 1}, '2026-11-24T00:00:00Z', 'import', '{body}', '{h}', '{'f' * 64}')")
    return {"hints": [str(seq + 1)]}


def _j_append_rehashed(rx):
    """Append an entry with a correctly computed hash (the chain formula is visible: sha256 of seq, prev, kind,
    recorded_at and body, LF-joined) claiming an import that has no imports row and no kept file."""
    seq, h = q1(rx, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")[0]
    body = json.dumps({"changed": 0, "engine_version": "0.1.0", "file_name": "x.csv", "kept": [], "rows": 0, "sha256": "00" * 32},
                      separators=(",", ":"))
    ra = "2026-11-24T00:00:00Z"
    _exec(rx, f"INSERT INTO journal VALUES ({seq + 1}, '{ra}', 'import', '{body}', '{h}', '{_jhash(seq + 1, h, 'import', ra, body)}')")
    return {"hints": [str(seq + 1), "import"]}


def _j_rewrite_chain(rx):
    """Edit one delivery's body (its statuses) and its deliveries row consistently, then recompute the whole
    chain: a consistent rewrite (docs/SECURITY.md: 'the chain detects partial edits, not a consistent rewrite')."""
    rows = q1(rx, "SELECT seq, recorded_at, kind, body FROM journal ORDER BY seq")
    c = db(rx)
    prev = "0" * 64
    for seq, ra, kind, body in rows:
        if kind == "delivery" and '"MUNIS_SUDBILLING_PAY_20261121_004"' in body and '"ACK"' in body:
            body = re.sub(r'("engine_version":"[^"]*")', r'\1,"note":"x"', body, count=1)
        h = _jhash(seq, prev, kind, ra, body)
        c.execute("UPDATE journal SET body=?, prev_hash=?, hash=? WHERE seq=?", (body, prev, h, seq))
        prev = h
    c.commit(); c.close()
    return {}


def _pay_amount(rx):
    _exec(rx, "UPDATE payments SET amount = amount + 100 WHERE payment_id = '810000000011'")
    return {"hints": ["810000000011", "10000000000000000002", "MUNIS_SUDBILLING_PAY_20261121_002", "balance", "payment"]}


def _pay_amount_bal(rx):
    _exec(rx, "UPDATE payments SET amount = amount + 100 WHERE payment_id = '810000000011'",
          "UPDATE balances SET paid = paid + 100 WHERE invoice_no = '10000000000000000002'")
    return {"hints": ["MUNIS_SUDBILLING_PAY_20261121_002", "810000000011"]}


def _pay_state(rx):
    _exec(rx, "UPDATE payments SET state = 'REVERSED' WHERE payment_id = '810000000012'")
    return {"hints": ["10000000000000000003", "810000000012", "balance"]}


def _pay_state_bal(rx):
    """A payment marked reversed (re-opening its invoice), balance lowered to match; no reversal batch names it."""
    _exec(rx, "UPDATE payments SET state='REVERSED', reversed_at='2026-11-22 12:00:00', reverse_reason='x' "
              "WHERE payment_id = '810000000012'",
          "UPDATE balances SET paid = paid - 50000 WHERE invoice_no = '10000000000000000003'")
    return {"hints": ["810000000012"]}


def _pay_unreverse(rx):
    """Undo an applied reversal (REV_20261121_001 line 1) and raise the balance to match."""
    _exec(rx, "UPDATE payments SET state='PAID', reversed_at=NULL, reverse_reason=NULL, reversed_batch_id=NULL, "
              "reversed_journal_seq=NULL WHERE payment_id = '810000000001'",
          "UPDATE balances SET paid = paid + 10000 WHERE invoice_no = '10000000000000000001'")
    return {"hints": ["810000000001", "MUNIS_SUDBILLING_REV_20261121_001"]}


def _pay_move(rx):
    """Move a payment to another invoice (balances moved too)."""
    _exec(rx, "UPDATE payments SET invoice_no = '10000000000000000025' WHERE payment_id = '810000000011'",
          "UPDATE balances SET paid = paid - 100000 WHERE invoice_no = '10000000000000000002'",
          "INSERT INTO balances VALUES ('10000000000000000025', 100000)")
    return {"hints": ["810000000011"]}


def _pay_payer(rx):
    _exec(rx, "UPDATE payments SET payer_name = 'Someone Else', account = NULL WHERE payment_id = '810000000003'")
    return {"hints": ["810000000003"]}


def _pay_delete(rx):
    _exec(rx, "DELETE FROM payments WHERE payment_id = '830000000021'",
          "UPDATE balances SET paid = paid - 200 WHERE invoice_no = '10000000000000000015'")
    return {"hints": ["MUNIS_SUDBILLING_PAY_20261122_006", "830000000021"]}


def _pay_insert(rx):
    """A payment no batch carried, its balance raised to match."""
    _exec(rx, "INSERT INTO payments (payment_id, invoice_no, paid_at, amount, payer_type, payer_id, payer_name, currency, "
              "bank_mfo, account, purpose, batch_id, line, journal_seq, state) VALUES ('899000000001', '10000000000000000030', "
              "'2026-11-22 10:00:00', 500, 'P', '31210932040247', 'X', '860', '00014', NULL, NULL, 'FAKE_BATCH', 1, 0, 'PAID')",
          "INSERT INTO balances VALUES ('10000000000000000030', 500)")
    return {"hints": ["899000000001", "FAKE_BATCH", "10000000000000000030"]}


def _bal(rx):
    _exec(rx, "UPDATE balances SET paid = paid - 1 WHERE invoice_no = '10000000000000000001'")
    return {"hints": ["10000000000000000001"]}


def _bal_delete(rx):
    _exec(rx, "DELETE FROM balances WHERE invoice_no = '10000000000000000013'")
    return {"hints": ["10000000000000000013"]}


def _inv_amount(rx):
    _exec(rx, "UPDATE invoices SET amount_due = amount_due + 1 WHERE invoice_no = '10000000000000000003'")
    return {"hints": ["10000000000000000003"]}


def _inv_status(rx):
    _exec(rx, "UPDATE invoices SET status = 'OPEN' WHERE invoice_no = '10000000000000000016'")
    return {"hints": ["10000000000000000016"]}


def _inv_payer(rx):
    _exec(rx, "UPDATE invoices SET payer_id = '31210932040247' WHERE invoice_no = '10000000000000000012'")
    return {"hints": ["10000000000000000012"]}


def _inv_insert(rx):
    _exec(rx, "INSERT INTO invoices SELECT '10000000000000000099', court_code, case_no, payer_type, payer_id, payer_name, "
              "amount_due, issued_at, status, import_seq FROM invoices WHERE invoice_no = '10000000000000000001'")
    return {"hints": ["10000000000000000099"]}


def _inv_delete(rx):
    _exec(rx, "DELETE FROM invoices WHERE invoice_no = '10000000000000000039'")
    return {"hints": ["10000000000000000039"]}


def _deliv_result(rx):
    _exec(rx, "UPDATE deliveries SET code = 'B04' WHERE inbound_name = 'MUNIS_SUDBILLING_PAY_20261121_002.zip' AND result = 'NAK'")
    return {"hints": ["MUNIS_SUDBILLING_PAY_20261121_002"]}


def _deliv_delete(rx):
    _exec(rx, "DELETE FROM deliveries WHERE inbound_name = 'MUNIS_SUDBILLING_PAY_20261122_004.zip'")
    return {"hints": ["MUNIS_SUDBILLING_PAY_20261122_004"]}


def _setaside_row(rx):
    _exec(rx, "DELETE FROM set_aside WHERE original_name = 'junk.zip'")
    return {"hints": ["junk.zip"]}


def _import_row(rx):
    _exec(rx, "UPDATE imports SET rows = rows + 1 WHERE id = 2")
    return {"hints": ["import"]}


def _j_last_release(rx):
    """`release junk.zip` (journaled as `release`), then that last journal entry deleted, nothing else."""
    sh([BIN, "--config", rx + "/reestr.toml", "release", "junk.zip"])
    seq, kind = q1(rx, "SELECT seq, kind FROM journal ORDER BY seq DESC LIMIT 1")[0]
    NOTES.append(f"(last entry after release: seq {seq} kind {kind}; set_aside rows: {q1(rx, 'SELECT original_name, state, journal_seq FROM set_aside')})")
    _exec(rx, f"DELETE FROM journal WHERE seq = {seq}")
    return {"hints": [str(seq), "release", "junk.zip"]}


add_tamper("recv_modified", "A1 a kept received archive (ACK PAY) modified by one bit -> detected, naming it", _recv_mod)
add_tamper("recv_truncated", "A1 a kept received archive (ACK REV) truncated -> detected", _recv_trunc)
add_tamper("recv_deleted", "A1 a kept received archive (ACK REC) deleted -> detected", _recv_del)
add_tamper("recv_renamed", "A1 a kept received archive renamed to another hash name -> detected (missing + unnamed file)", _recv_ren)
add_tamper("recv_renamed_bak", "A1 a kept received archive renamed to <sha>.zip.bak -> detected", _recv_ren_other)
add_tamper("recv_nak_modified", "A1 a kept received archive that was NAKed (B08) modified -> detected", _recv_nak_mod)
add_tamper("sent_modified", "A1 a kept response (ACK REC) modified -> detected", _sent_mod)
add_tamper("sent_deleted", "A1 a kept response (NAK B05) deleted -> detected", _sent_del)
add_tamper("sent_replaced", "A1 a kept response's bytes replaced by another kept response -> detected", _sent_swap)
add_tamper("extra_file", "A1 a file no entry names put in received/ -> detected ('no file in a kept folder it does not name')", _extra_file)
add_tamper("export_modified", "A1 a kept billing export modified (one amount) -> detected", _export_mod)
add_tamper("export_deleted", "A1 a kept billing export deleted -> detected", _export_del)
add_tamper("setaside_modified", "A1 a set-aside file modified -> detected", _setaside_mod)
add_tamper("setaside_reason", "A1 a set-aside reason file edited -> detected", _setaside_reason)
add_tamper("journal_body", "A1 a journal entry's body edited (hash not recomputed) -> detected, naming the entry", _j_body)
add_tamper("journal_row_deleted", "A1 a journal entry deleted in the middle -> detected", _j_del_mid)
add_tamper("journal_rows_swapped", "A1 two journal entries swapped -> detected", _j_swap)
add_tamper("journal_last_removed", "A1 the last journal entry removed (nothing else) -> detected? (its deliveries row points at it)",
           _j_last_only)
add_tamper("journal_append_forged", "A1 an entry appended with a forged hash -> detected", _j_append_forged)
add_tamper("journal_append_rehashed", "A1 an import entry appended with a correctly computed hash but no imports row or file -> "
           "detected by the store check ('imports as journaled')", _j_append_rehashed)
add_tamper("journal_last_release_removed", "A1 the last journal entry, a `release`, removed (nothing else) -> detected? "
           "(README: `release` is 'recorded in the journal')", _j_last_release)
add_tamper("payment_amount", "A1 a payment's amount edited -> detected (ACK sum and balance)", _pay_amount)
add_tamper("payment_amount_and_balance", "A1 a payment's amount and its invoice's balance edited together -> detected (the ACK's "
           "amount_accepted)", _pay_amount_bal)
add_tamper("payment_state", "A1 a payment's state set REVERSED (balance untouched) -> detected (balances)", _pay_state)
add_tamper("payment_deleted", "A1 a payment deleted with its balance lowered -> detected (ACK count)", _pay_delete)
add_tamper("payment_inserted", "A1 a payment no batch carried inserted, balance raised -> detected", _pay_insert)
add_tamper("balance", "A1 an invoice's balance edited -> detected", _bal)
add_tamper("balance_deleted", "A1 an invoice's balance row deleted -> detected", _bal_delete)
add_tamper("invoice_amount", "A1 an invoice's amount_due edited against the kept exports -> detected", _inv_amount)
add_tamper("invoice_status", "A1 a CANCELLED invoice re-opened in the store -> detected", _inv_status)
add_tamper("invoice_payer", "A1 an invoice's payer edited -> detected", _inv_payer)
add_tamper("invoice_inserted", "A1 an invoice no export holds inserted -> detected", _inv_insert)
add_tamper("invoice_deleted", "A1 an invoice deleted -> detected", _inv_delete)
add_tamper("delivery_code", "A1 a deliveries row's code edited -> detected ('deliveries ... as journaled')", _deliv_result)
add_tamper("delivery_deleted", "A1 a deliveries row deleted -> detected", _deliv_delete)
add_tamper("setaside_row_deleted", "A1 a set_aside row deleted -> detected", _setaside_row)
add_tamper("import_row_edited", "A1 an imports row edited -> detected", _import_row)
# Outside the README's list: reported as notes, not differences (the README does not promise them).
add_tamper("payment_state_and_balance", "A1 a payment marked REVERSED by hand (no REV batch) with its balance lowered to match "
           "-> detected (README: 'a payment REVERSED exactly when a reversal is recorded on it')", _pay_state_bal)
add_tamper("payment_unreversed", "gap? an applied reversal undone by hand, balance raised to match", _pay_unreverse,
           expect_detect=False, why="README checks payments only by ACK sums and balances")
add_tamper("payment_moved", "gap? a payment moved to another invoice, balances moved to match", _pay_move, expect_detect=False,
           why="README checks payments only by ACK sums and balances")
add_tamper("payment_payer_edited", "gap? a payment's payer name and account edited", _pay_payer, expect_detect=False,
           why="README: payments are checked by ACK sums only")
# The same edits, with the books rebuilt from the kept evidence (README: `audit verify --rebuild`).
for _n, _f, _what in (("payment_state_and_balance", _pay_state_bal, "a payment marked REVERSED by hand, balance lowered"),
                      ("payment_unreversed", _pay_unreverse, "an applied reversal undone by hand, balance raised"),
                      ("payment_moved", _pay_move, "a payment moved to another invoice, balances moved"),
                      ("payment_payer_edited", _pay_payer, "a payment's payer name and account edited"),
                      ("payment_inserted", _pay_insert, "a payment no batch carried inserted, balance raised"),
                      ("payment_deleted", _pay_delete, "a payment deleted with its balance lowered")):
    add_tamper(_n + "_rebuild", f"A1 --rebuild: {_what} -> detected, naming the payment", _f, extra=("--rebuild",))
add_tamper("journal_tail_rollback", "gap? the last journal entry (a resend) and its deliveries row removed together",
           _j_last_consistent, expect_detect=False, why="no anchor of the chain's head outside the store")
add_tamper("journal_tail_rollback_3", "gap? the last three entries and everything they wrote removed (journal, deliveries, payments, "
           "balances, kept files)", _j_last_two_consistent, expect_detect=False, why="no anchor of the chain's head")
add_tamper("journal_rewritten", "gap? a body edited and the whole chain recomputed (unkeyed hash)", _j_rewrite_chain,
           expect_detect=False, why="SECURITY.md: the chain detects partial edits, not a consistent rewrite")


# ---------------------------------------------------------------------- 4. read-only auditing, busy store
@case(4, "A2 `audit verify`, `status` (and `replay`) on a read-only copy of the whole receiver, as an account that may only read "
         "(uid nobody, files 0400, folders 0500): audit and status work and create nothing; replay is recorded")
def ro_readonly(_rx):
    src, log = history()
    base = f"/tmp/a7d-ro-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    os.chmod(base, 0o755)
    rx = base + "/rx"
    shutil.copytree(src, rx, symlinks=True)
    d = []
    row = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"][-1]
    os.makedirs(rx + "/rin"); shutil.copy(f"{rx}/var/received/{row[2]}.zip", f"{rx}/rin/{row[1]}")
    od = base + "/out"
    os.makedirs(od); os.chmod(od, 0o777)
    for root, dirs, files in os.walk(rx):
        os.chown(root, 65534, 65534)
        for f in files:
            os.chown(os.path.join(root, f), 65534, 65534, follow_symlinks=False)
    for root, dirs, files in os.walk(rx, topdown=False):
        for f in files:
            os.chmod(os.path.join(root, f), 0o400)
        os.chmod(root, 0o500)
    before = tree_state(rx)
    listing = sorted(glob.glob(rx + "/**", recursive=True))
    p = rb(rx, "audit", "verify", user=65534)
    if p.returncode != 0:
        d.append(f"A2: audit verify on a read-only copy: rc={p.returncode} {p.out[-400:]!r}")
    p = rb(rx, "status", user=65534)
    if p.returncode != 0:
        d.append(f"A2: status on a read-only copy: rc={p.returncode} {p.out[-400:]!r}")
    p = rb(rx, "replay", f"{rx}/rin/{row[1]}", "--out", od, user=65534)
    got = os.listdir(od)
    NOTES.append(f"(replay on the read-only copy as nobody: rc={p.returncode} files={got} {p.out[-300:]!r}; "
                 f"README says replay takes the lock, and promises read-only use for status and audit only)")
    if tree_state(rx) != before or sorted(glob.glob(rx + "/**", recursive=True)) != listing:
        d.append("A2: a read-only command changed or created something in the read-only copy")
    for root, dirs, files in os.walk(rx):
        os.chmod(root, 0o700)
    shutil.rmtree(base, ignore_errors=True)
    return d


@case(4, "A1/A3 while a `run` holds a batch open (REESTR_PAUSE at validated, then at response-kept): audit verify either "
         "finds nothing or exits 3 'busy' -- never reports tampering; status answers or exits 3; replay exits 4 (lock); "
         "after the run, audit is clean")
def ro_during_run(_rx):
    rx, log = copy_hist("busy")
    d = []
    D3 = "20261123"
    for i, point in enumerate(("validated", "response-kept")):
        bid = bidn(2 + i, date=D3)
        data = build_archive(bid, registry("PAY", [pay_row("86000000000%d" % i, inv="N22", amount="1.00",
                                                           paid_at="2026-11-23 10:00:00")]), key=K2, created="2026-11-23T23:00:00+05:00")
        path = os.path.join(rx, "inbox", bid + ".zip")
        open(path, "wb").write(data); os.utime(path, (time.time() - 10, time.time() - 10))
        flag = os.path.join(rx, f"pause-{point}")
        env = dict(os.environ, REESTR_PAUSE=f"{point}:{flag}")
        bg = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t = time.time()
        while not os.path.exists(flag) and time.time() - t < 20 and bg.poll() is None:
            time.sleep(0.05)
        if not os.path.exists(flag):
            d.append(f"[{point}] pause flag never appeared (rc={bg.poll()})"); continue
        t0 = time.time()
        p, pj, j = audit(rx)
        dt = time.time() - t0
        NOTES.append(f"(during run at {point}: audit verify rc={p.returncode} in {dt:.1f}s: {p.out.strip()[:300]!r})")
        if p.returncode not in (0, 3):
            d.append(f"[{point}] A1/A3: audit verify during a run reports problems on an untouched store: rc={p.returncode} "
                     f"{p.out.strip()[:500]!r}")
        if p.returncode == 3 and "busy" not in p.out.lower():
            d.append(f"[{point}] A3: exit 3 without saying the store is busy")
        ps = rb(rx, "status")
        NOTES.append(f"(during run at {point}: status rc={ps.returncode} {ps.out.strip()[-160:]!r})")
        if ps.returncode not in (0, 3):
            d.append(f"[{point}] status during a run: rc={ps.returncode} {ps.out[-300:]!r}")
        row = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"] if False else None
        for cmd in (["replay", path, "--out", os.path.join(rx, "busy-out")], ["run"], ["invoices", "import", rx + "/invoices.csv"]):
            t1 = time.time()
            pr = rb(rx, *cmd)
            NOTES.append(f"(during run at {point}: {cmd[0]} rc={pr.returncode} after {time.time() - t1:.1f}s {pr.out.strip()[-120:]!r})")
            if pr.returncode != 4:
                d.append(f"[{point}] README lock: a second `{cmd[0]}` while `run` holds var/reestr.lock must exit 4 saying another "
                         f"process holds the lock; got rc={pr.returncode} after {time.time() - t1:.1f}s {pr.out.strip()[-120:]!r}")
        os.remove(flag)
        try:
            bg.wait(30)
        except subprocess.TimeoutExpired:
            bg.kill(); d.append(f"[{point}] run did not finish")
        if bg.returncode != 0:
            d.append(f"[{point}] run rc={bg.returncode} {bg.stderr.read()[-300:]!r}")
    return d + audit_clean(rx, "after")


@case(4, "A1/A3 and the lock, without any test hook: while `run` applies a 1,500,000-row PAY, repeated `audit verify` never "
         "reports problems (exit 0 or 3 'busy'); a second `run` exits 4 (README: 'A second one waits up to "
         "lock_wait_seconds (default 0), then exits with code 4'); after the run audit is clean; 8 trials, polling from 0-0.5 s")
def ro_during_big_run(_rx):
    rx, log = copy_hist("bigrun")
    d = []
    D3 = "20261123"
    bid = bidn(4, date=D3)
    rows = [pay_row("87%010d" % i, inv="N30", amount="1.00", paid_at="2026-11-23 10:00:00") for i in range(1500000)]
    data = build_archive(bid, registry("PAY", rows), key=K2, created="2026-11-23T23:00:00+05:00")
    path = os.path.join(rx, "inbox", bid + ".zip")
    open(path, "wb").write(data); os.utime(path, (time.time() - 10, time.time() - 10))
    other = [r for r in deliveries(rx) if r[1] == "MUNIS_SUDBILLING_PAY_20261122_002.zip"][-1]
    os.makedirs(rx + "/ri"); shutil.copy(f"{rx}/var/received/{other[2]}.zip", f"{rx}/ri/{other[1]}")
    seen = {}
    n_audit = 0
    base = rx
    for trial, delay in enumerate((0.0, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.5)):
        if trial:
            rx = base + "-%d" % trial
            shutil.rmtree(rx, ignore_errors=True)
            shutil.copytree(base + "-clean", rx, symlinks=True)
        else:
            shutil.copytree(base, base + "-clean", symlinks=True)
        path = os.path.join(rx, "inbox", bid + ".zip")
        os.utime(path, (time.time() - 10, time.time() - 10))
        bg = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.time()
        time.sleep(delay)
        ack = os.path.join(rx, "outbox", bid.replace("MUNIS_SUDBILLING_", "SUDBILLING_MUNIS_") + "_ACK.zip")
        while bg.poll() is None and time.time() - t0 < 120:
            for cmd in (["audit", "verify"], ["run"], ["status"]):
                if bg.poll() is not None:
                    break
                t1 = time.time()
                answered = os.path.exists(ack)
                q = rb(rx, *cmd)
                n_audit += cmd[0] == "audit"
                key = (cmd[0], q.returncode)
                if cmd == ["run"] and q.returncode == 0:
                    # The first run may end (its response out, its lock released) between the
                    # poll above and the second run's attempt at the lock: a race of this suite,
                    # not a second writer, when it had answered and exits at once.
                    try:
                        bg.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
                    if bg.poll() is not None and (answered or os.path.exists(ack)):
                        key = ("run as the first one ended", 0)
                if key not in seen:
                    seen[key] = (f"trial {trial} t={t1 - t0:.2f}s..{time.time() - t0:.2f}s", q.out.strip()[-300:])
            time.sleep(0.02)
        bg.wait()
        if bg.returncode != 0:
            d.append(f"[trial {trial}] background run rc={bg.returncode}")
        d += audit_clean(rx, f"trial {trial} after")
    NOTES.append(f"({n_audit} audits during 8 runs; outcomes (command, rc): first seen at, output: "
                 + "; ".join(f"{k}: {v}" for k, v in seen.items())[:1800] + ")")
    for (cmd, rc), (at, out) in seen.items():
        if cmd == "audit" and rc not in (0, 3):
            d.append(f"A1/A3: `audit verify` during a run ({at}) exit {rc} reporting tampering on an untouched store: {out[:300]!r}")
        if cmd in ("run",) and rc not in (4,):
            d.append(f"README lock: a second `{cmd}` during a run ({at}) exit {rc}, not 4: {out[-160:]!r}")
    for x in glob.glob(base + "*"):  # about 300 MB each: never keep them
        shutil.rmtree(x, ignore_errors=True)
    return d


if __name__ == "__main__":
    run_cases("evidence", CASES, lambda c: SCRATCH, notes=NOTES)
