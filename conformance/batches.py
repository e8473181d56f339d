"""Black-box conformance suite derived from the exchange agreement (munis-offline/1): batches
in sequence and what they leave behind: row statuses across batches, the response archive,
re-delivery, the billing export.

    REESTR_BIN=target/debug/reestr python3 conformance/batches.py [NAME-SUBSTRING ...]

Each case builds batches on a fresh receiver and checks every response with lib.check_response
(§8). Where the agreement leaves the answer open, the case lists the acceptable answers, the
README's decision first, and notes the one given ("ambiguous").

 - §7.2: PAY precedence (301, 4, 302, 304, 303), 301 after invalid earlier lines, reversals
   re-opening an invoice, REV 305/307, REC 1/301/4/305 (each field)/306 in byte order, the day
   of a payment in Tashkent time, batches waiting together (date, type, sequence number as a
   number) under `run` and `watch` in other time zones, and an independent model of §7.2 over
   random scenarios (m1_model; AUDIT_SEEDS for more).
 - §8: entry times, the created_at rule (copied, or business_date when B01/B02, two lines or an
   invalid value), B10 names and signing, result.csv encodings and quoting, a newer response
   replacing an older one, determinism across receivers, header-only batches.
 - §1/§7.1: re-delivery after ACK whatever the configuration now says, judged afresh after NAKs
   only, B09 only once processed, the same files zipped again.
 - §9: loading twice, updates by invoice_no, payments never changed by an export, a bad export
   refused whole naming every bad line and field.

Written by an audit of 2026-11-24 (round 7) from the agreement alone; its two differences are
README decisions (a lone CR quoted in result.csv; B09 for the same files zipped again), kept
here as noted readings.
"""
import functools, glob, re, sys
from lib import *

# invoices of our own (before any receiver is created)
INV["H"] = ("20000000000000000001", "P", P1, "Aliyev Anvar", "100.00", "OPEN")
INV["K"] = ("20000000000000000002", "J", TIN1, "Firma MChJ", "100.00", "OPEN")
INV["M"] = ("20000000000000000003", "P", P2, "Karimova Dilnoza", "100.00", "OPEN")
INV["L"] = ("20000000000000000004", "P", P1, "Aliyev Anvar", "100.00", "CANCELLED")
UNK = "29999999999999999999"

CASES, area_case = case_list()
# This suite's statements are of invoice H unless a case says otherwise.
rec_row = functools.partial(rec_row, inv="H")


def case(desc):
    return area_case(0, desc)


def B(typ, seq="001", date="20261121", rcv="SUDBILLING", snd="MUNIS"):
    return bidn(seq, typ, date, snd, rcv)


def P(pid, inv="H", amount="1.00", **kw):
    return pay_row(pid, inv=inv, amount=amount, **kw)


def go(rx, bid, reg, exp, enc="utf-8", label="", data=None, clear=True, **bk):
    """lib.run1 with the outbox emptied first; returns (differences, response, archive bytes)."""
    d, r = run1(rx, bid, reg, exp, enc=enc, label=label, data=data, clear=clear, **bk)
    return d, r, r["archive"]


def drop_many(rx, specs):
    """specs: list of (bid, data). One run. Returns {bid: response dict}."""
    clear_outbox(rx)
    for bid, data in specs:
        p = os.path.join(rx, "inbox", bid + ".zip")
        with open(p + ".part", "wb") as f:
            f.write(data)
        os.rename(p + ".part", p)
        os.utime(p, (time.time() - 10, time.time() - 10))
    sh([BIN, "--config", rx + "/reestr.toml", "run"], check=False)
    out = {}
    files = os.listdir(rx + "/outbox")
    for bid, data in specs:
        p = bid.split("_")
        for res in ("ACK", "NAK"):
            n = f"SUDBILLING_{p[0]}_{p[2]}_{p[3]}_{p[4]}_{res}.zip"
            if n in files:
                r = {"stdout": "", "stderr": "", "rc": 0}
                r.update(parse_response(n, open(os.path.join(rx, "outbox", n), "rb").read()))
                out[bid] = r
    return out


def set_config(rx, fn):
    p = rx + "/reestr.toml"
    s = open(p).read()
    open(p, "w").write(fn(s))


def import_csv(rx, text_or_bytes, name="inv2.csv"):
    p = os.path.join(rx, name)
    b = text_or_bytes if isinstance(text_or_bytes, bytes) else text_or_bytes.encode()
    open(p, "wb").write(b)
    return sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", p], check=False)


INV_HDR = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"


def inv_line(no, pt="P", pid=P1, name="Aliyev Anvar", due="100.00", st="OPEN", court="1703002", case_no="2-1/2026",
             issued="2026-01-10 10:00:00"):
    return f"{no};{court};{case_no};{pt};{pid};{name};{due};{issued};{st}"


def export_with(changes):
    """The full base export with some invoices' lines replaced: changes {key: dict(kwargs for inv_line)}."""
    lines = [INV_HDR]
    for k, (no, pt, pid, name, amt, st) in INV.items():
        kw = dict(pt=pt, pid=pid, name=name, due=amt, st=st)
        kw.update(changes.get(k, {}))
        lines.append(inv_line(no, **kw))
    return "\r\n".join(lines) + "\r\n"


# =====================================================================
# §7.2 row statuses
# =====================================================================
@case("§7.2 PAY precedence 301,4,302,304,303 within one batch; partial payments reaching amount due exactly; "
      "301 for an id of an earlier line that was 303")
def a1_pay_precedence(rx):
    rows = [P("110000000001", amount="30.00"),                       # 1
            P("110000000001", inv=UNK, amount="1.00"),                # 301 before 4
            P("110000000002", inv="L", payer=P2),                    # cancelled + wrong payer -> 302
            P("110000000003", amount="1000.00", payer=P2),           # wrong payer + over -> 304
            P("110000000004", amount="70.01"),                       # 303
            P("110000000005", amount="70.00"),                       # 1, reaches 100.00 exactly
            P("110000000006", amount="0.01", payer=P2),              # fully paid + wrong payer -> 302
            P("110000000007", amount="0.01"),                        # 302
            P("110000000008", inv=UNK, payer=P2),                    # 4
            P("110000000004", inv="K", amount="1.00"),               # 301 (line 5 was 303)
            P("110000000009", inv="K", amount="1.00", pt="P", payer=P1),   # payer type differs -> 304
            P("110000000010", inv="K", amount="100.01")]             # 303
    exp = [(1, "110000000001", 1, ""), (2, "110000000001", 301, ""), (3, "110000000002", 302, ""),
           (4, "110000000003", 304, ""), (5, "110000000004", 303, ""), (6, "110000000005", 1, ""),
           (7, "110000000006", 302, ""), (8, "110000000007", 302, ""), (9, "110000000008", 4, ""),
           (10, "110000000004", 301, ""), (11, "110000000009", 304, ""), (12, "110000000010", 303, "")]
    d, r, _ = go(rx, B("PAY"), rows, ack(exp, "100.00"))
    # a later batch: applied ids -> 301 (even unknown invoice); rejected ids are free
    rows = [P("110000000005", inv=UNK), P("110000000004", inv="K", amount="100.00"), P("110000000010", inv="K", amount="0.01")]
    d += go(rx, B("PAY", "002"), rows, ack([(1, "110000000005", 301, ""), (2, "110000000004", 1, ""), (3, "110000000010", 302, "")],
                                             "100.00"), label="PAY2")[0]
    return d


@case("§7.2 PAY 301 for an id on an earlier line that was itself invalid: 202 currency, 201 payer_name, too many / too few "
      "fields, paid_at after created_at, bad PINFL, quoted vs unquoted id; such ids are free in a later batch")
def a2_301_after_invalid(rx):
    long_ = P("120000000003") + ["extra"]
    short = P("120000000004")[:5]
    rows = [P("120000000001", currency="840"), P("120000000001"),
            P("120000000002", name=""), P("120000000002"),
            ";".join(long_), P("120000000003"),
            ";".join(short), P("120000000004"),
            P("120000000005", paid_at="2026-11-22 01:05:01"), P("120000000005"),
            P("120000000006", payer=P1[:13] + str((int(P1[13]) + 1) % 10)), P("120000000006"),
            [q("120000000007")] + P("120000000007")[1:], P("120000000007"),
            P("12000000000X"), P("120000000008", amount="1.0"), P("120000000008")]
    exp = [(1, "120000000001", 202, "currency"), (2, "120000000001", 301, ""),
           (3, "120000000002", 201, "payer_name"), (4, "120000000002", 301, ""),
           (5, "120000000003", 202, ""), (6, "120000000003", 301, ""),
           (7, "120000000004", 202, ""), (8, "120000000004", 301, ""),
           (9, "120000000005", 202, "paid_at"), (10, "120000000005", 301, ""),
           (11, "120000000006", 202, "payer_id"), (12, "120000000006", 301, ""),
           (13, "120000000007", 1, ""), (14, "120000000007", 301, ""),
           (15, "12000000000X", 202, "payment_id"), (16, "120000000008", 202, "amount"), (17, "120000000008", 301, "")]
    d = go(rx, B("PAY"), rows, ack(exp, "1.00"))[0]
    rows = [P(p) for p in ("120000000001", "120000000002", "120000000003", "120000000004", "120000000005", "120000000006",
                           "120000000007", "120000000008")]
    exp = [(i + 1, p[0], 301 if p[0] == "120000000007" else 1, "") for i, p in enumerate(rows)]
    d += go(rx, B("PAY", "002"), rows, ack(exp, "7.00"), label="PAY2")[0]
    return d


@case("§7.2 partial payments, reversal re-opening the amount, new payment on the re-opened invoice, 302 once full again; "
      "re-sending a reversed payment_id -> 301")
def a3_reopen(rx):
    d = go(rx, B("PAY"), [P("130000000001", amount="33.33"), P("130000000002", amount="33.33"), P("130000000003", amount="33.34"),
                          P("130000000004", amount="0.01")],
           ack([(1, "130000000001", 1, ""), (2, "130000000002", 1, ""), (3, "130000000003", 1, ""), (4, "130000000004", 302, "")],
               "100.00"), label="PAY1")[0]
    d += go(rx, B("REV"), [rev_row("130000000002", "33.33")], ack([(1, "130000000002", 1, "")], "33.33"), label="REV1")[0]
    d += go(rx, B("PAY", "002"), [P("130000000005", amount="33.34"), P("130000000006", amount="33.33"), P("130000000007", amount="0.01"),
                                  P("130000000002", amount="0.01")],
            ack([(1, "130000000005", 303, ""), (2, "130000000006", 1, ""), (3, "130000000007", 302, ""), (4, "130000000002", 301, "")],
                "33.33"), label="PAY2")[0]
    d += go(rx, B("REV", "002"), [rev_row("130000000001", "33.33"), rev_row("130000000006", "33.33")],
            ack([(1, "130000000001", 1, ""), (2, "130000000006", 1, "")], "66.66"), label="REV2")[0]
    d += go(rx, B("PAY", "003"), [P("130000000008", amount="66.66"), P("130000000009", amount="0.01")],
            ack([(1, "130000000008", 1, ""), (2, "130000000009", 302, "")], "66.66"), label="PAY3")[0]
    return d


@case("§7.2 REV: 1 for a payment of the same day's PAY; the same id twice in one REV batch -> 307; 305 then 1 then 307; "
      "307 before 305; 4 for an id whose PAY row was rejected, and for an unknown id; 201/202 field checks first")
def a4_rev(rx):
    d = go(rx, B("PAY"), [P("140000000001", amount="10.00"), P("140000000002", amount="20.00"), P("140000000003", amount="1000.00")],
           ack([(1, "140000000001", 1, ""), (2, "140000000002", 1, ""), (3, "140000000003", 303, "")], "30.00"), label="PAY")[0]
    rows = [rev_row("140000000001", "10.00"), rev_row("140000000001", "10.00"),
            rev_row("140000000002", "19.99"), rev_row("140000000002", "20.00"), rev_row("140000000002", "1.00"),
            rev_row("140000000003", "1000.00"), rev_row("149999999999", "10.00"),
            rev_row("140000000001", "10.00", at="2026-11-22 01:05:01"), rev_row("140000000001", "10.00", reason=""),
            rev_row("140000000001", "10")]
    exp = [(1, "140000000001", 1, ""), (2, "140000000001", 307, ""), (3, "140000000002", 305, ""), (4, "140000000002", 1, ""),
           (5, "140000000002", 307, ""), (6, "140000000003", 4, ""), (7, "149999999999", 4, ""),
           (8, "140000000001", 202, "reversed_at"), (9, "140000000001", 201, "reason"), (10, "140000000001", 202, "amount")]
    d += go(rx, B("REV"), rows, ack(exp, "30.00"), label="REV")[0]
    # re-opened fully: 100.00 payable again; a REV batch of a later day reversing already-reversed -> 307
    d += go(rx, B("PAY", "002"), [P("140000000004", amount="100.00")], ack([(1, "140000000004", 1, "")], "100.00"), label="PAY2")[0]
    d += go(rx, B("REV", "001", "20261122"), [rev_row("140000000002", "20.00", at="2026-11-22 00:10:00")],
            ack([(1, "140000000002", 307, "")], "0.00"), label="REV 22")[0]
    return d


def a5_specs():
    b = lambda t, s, dt="20261121": B(t, s, dt)
    specs = []
    def add(bid, typ, rows, **kw):
        specs.append((bid, build_archive(bid, registry(typ, rows), **kw)))
    add(b("REC", "001"), "REC", [rec_row("150000000001", "100.00", state="REVERSED"), rec_row("150000000002", "0.01")])
    add(b("REV", "001"), "REV", [rev_row("150000000001", "100.00")])
    add(b("PAY", "1000"), "PAY", [P("150000000002", amount="0.01")])
    add(b("PAY", "999"), "PAY", [P("150000000001", amount="100.00"),
                                  P("150000000005", inv="K", amount="1.00", paid_at="2026-11-20 11:00:00")])
    add(b("REC", "001", "20261120"), "REC", [rec_row("150000000004", "1.00", inv="K", paid_at="2026-11-20 10:00:00", state="REVERSED"),
                                             rec_row("150000000005", "1.00", inv="K", paid_at="2026-11-20 11:00:00")])
    add(b("REV", "001", "20261120"), "REV", [rev_row("150000000004", "1.00", at="2026-11-20 12:00:00")])
    add(b("PAY", "001", "20261120"), "PAY", [P("150000000003", inv="K", amount="1.00", paid_at="2026-11-21 09:00:00"),
                                             P("150000000004", inv="K", amount="1.00", paid_at="2026-11-20 10:00:00")])
    exps = {b("PAY", "001", "20261120"): ack([(1, "150000000003", 1, ""), (2, "150000000004", 1, "")], "2.00"),
            b("REV", "001", "20261120"): ack([(1, "150000000004", 1, "")], "1.00"),
            b("REC", "001", "20261120"): ack([(1, "150000000004", 1, ""), (2, "150000000005", 4, "")], "1.00"),
            b("PAY", "999"): ack([(1, "150000000001", 1, ""), (2, "150000000005", 1, "")], "101.00"),
            b("PAY", "1000"): ack([(1, "150000000002", 302, "")], "0.00"),
            b("REV", "001"): ack([(1, "150000000001", 1, "")], "100.00"),
            b("REC", "001"): ack([(1, "150000000001", 1, ""), (2, "150000000002", 4, ""), ("", "150000000003", 306, "")], "100.00")}
    return specs, exps


@case("§7.2 batches waiting together, one run: business date, then PAY/REV/REC, then sequence number as a number "
      "(999 before 1000); REC of the 20th before PAY of the 21st; REV before REC of the same day")
def a5_waiting(rx):
    specs, exps = a5_specs()
    res = drop_many(rx, specs)
    d = []
    datas = dict(specs)
    for bid, e in exps.items():
        e = dict(e, enc="utf-8")
        d += [f"[{bid}] " + x for x in check_response(res.get(bid, {}), bid + ".zip", datas[bid], e)]
    return d


@case("§7.2/§8 the same batches waiting together answered by `run` (TZ=Pacific/Kiritimati) and by `watch` started after they "
      "arrived (TZ=America/Sao_Paulo): identical response bytes; `replay` of each reproduces its response")
def a11_waiting_watch_replay(rx):
    specs, exps = a5_specs()
    d = []
    old = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "Pacific/Kiritimati"
        res1 = drop_many(rx, specs)
        rx2 = new_receiver("a11_watch")
        for bid, data in specs:
            p = os.path.join(rx2, "inbox", bid + ".zip")
            open(p + ".part", "wb").write(data)
            os.rename(p + ".part", p)
            os.utime(p, (time.time() - 10, time.time() - 10))
        os.environ["TZ"] = "America/Sao_Paulo"
        w = subprocess.Popen([BIN, "--config", rx2 + "/reestr.toml", "watch"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t = time.time()
        while time.time() - t < 30 and (len(os.listdir(rx2 + "/outbox")) < len(specs) or
                                        any(f.endswith(".zip") for f in os.listdir(rx2 + "/inbox"))):
            time.sleep(0.2)
        time.sleep(0.5)
        w.terminate()
        try:
            w.wait(20)
        except subprocess.TimeoutExpired:
            w.kill(); w.wait()
    finally:
        if old is None: os.environ.pop("TZ", None)
        else: os.environ["TZ"] = old
    for bid, data in specs:
        p = bid.split("_")
        n = f"SUDBILLING_{p[0]}_{p[2]}_{p[3]}_{p[4]}_ACK.zip"
        a = res1.get(bid, {}).get("raw")
        fp = os.path.join(rx2, "outbox", n)
        b2 = open(fp, "rb").read() if os.path.exists(fp) else None
        if a is None or a != b2:
            d.append(f"[{bid}] run and watch responses differ (run {a is not None}, watch {b2 is not None})")
        ip = os.path.join(rx, "rp_" + bid + ".zip")
        open(ip, "wb").write(data)
        od = os.path.join(rx, "rpo_" + bid)
        pr = sh([BIN, "--config", rx + "/reestr.toml", "replay", ip, "--out", od], check=False)
        fs = os.listdir(od) if os.path.isdir(od) else []
        if pr.returncode != 0 or len(fs) != 1 or open(os.path.join(od, fs[0]), "rb").read() != a:
            d.append(f"[replay {bid}] rc={pr.returncode} files={fs}")
    return d


def rec_setup(rx, pfx):
    """PAY 21: payments of several days; REV one. Returns ids dict."""
    ids = {k: pfx + v for k, v in dict(
        R1="00000001", R2="00000002", R3="00000003", R4="00000004", R5="00000005", R6="00000006", R7="00000007",
        R8="00000008", R9="00000009", R10="00000010", R11="00000011").items()}
    # byte-order ids (no prefix)
    ids.update(U1="999999999999", U2="1000000000009", U3="12345678901234567891", U4="100000000000099")
    rows = [P(ids["R1"], amount="10.00"), P(ids["R2"], amount="20.00", paid_at="2026-11-21 23:59:59"),
            P(ids["R3"], inv="K", amount="5.00", paid_at="2026-11-21 00:00:00"),
            P(ids["R4"], inv="K", amount="6.00", paid_at="2026-11-22 00:00:00"),
            P(ids["R5"], inv="K", amount="7.00", paid_at="2026-11-20 23:59:59"),
            P(ids["R6"], amount="1.00"), P(ids["R7"], amount="1.00"),
            P(ids["R8"], inv="M", amount="1.00"), P(ids["R9"], inv="M", amount="1.00"), P(ids["R10"], inv="M", amount="1.00"),
            P(ids["R11"], inv="M", amount="1.00", paid_at="2026-11-22 00:00:00")]
    d = go(rx, B("PAY"), rows, ack([(i + 1, r[0], 1, "") for i, r in enumerate(rows)], "54.00"), label="REC setup PAY")[0]
    # other PAY batches (other business dates) carrying payments of the 21st
    rows2 = [P(ids["U1"], inv="M", amount="1.00", paid_at="2026-11-21 01:00:00"), P(ids["U2"], inv="M", amount="1.00"),
             P(ids["U3"], inv="M", amount="1.00"), P(ids["U4"], inv="M", amount="1.00")]
    d += go(rx, B("PAY", "001", "20261122"), rows2, ack([(i + 1, r[0], 1, "") for i, r in enumerate(rows2)], "4.00"),
            label="REC setup PAY 22")[0]
    d += go(rx, B("REV"), [rev_row(ids["R6"], "1.00"), rev_row(ids["U4"], "1.00")],
            ack([(1, ids["R6"], 1, ""), (2, ids["U4"], 1, "")], "2.00"), label="REC setup REV")[0]
    return ids, d


@case("§7.2 REC: 1, 301 repeats (also of an unknown id), 4, 305 for amount / invoice / paid_at / state each, REVERSED vs PAID, "
      "empty line, 306 in ascending byte order for payments of the day whichever PAY batch carried them (reversed ones too), "
      "listed whatever the line's status, no 306 for other days")
def a6_rec(rx):
    ids, d = rec_setup(rx, "1600")
    I = ids
    rows = [rec_row(I["R1"], "10.00"),                                        # 1 1
            rec_row(I["R1"], "10.00"),                                        # 2 301
            rec_row(I["R2"], "20.01", paid_at="2026-11-21 23:59:59"),         # 3 305 amount
            rec_row(I["R3"], "5.00", inv="H", paid_at="2026-11-21 00:00:00"),  # 4 305 invoice
            rec_row(I["R6"], "1.00"),                                         # 5 305 state (reversed, says PAID)
            rec_row(I["R7"], "1.00", state="REVERSED"),                       # 6 305 state
            rec_row("555555555555", "1.00"),                                  # 7 4
            rec_row("555555555555", "1.00"),                                  # 8 301
            rec_row(I["R5"], "7.00", inv="K", paid_at="2026-11-21 23:59:59"),  # 9 305 paid_at (20th in store)
            rec_row(I["R4"], "6.00", inv="K", paid_at="2026-11-21 00:00:00"),  # 10 305 paid_at (22nd in store)
            "",                                                               # 11 202 (one empty field)
            rec_row(I["R8"], "abc", inv="M"),                                 # 12 202 amount, listed
            ";".join(rec_row(I["R9"], "1.00", inv="M")) + ";x",               # 13 202 wrong field count, listed
            rec_row(I["R10"], "1.00", inv="M", paid_at="2026-11-20 10:00:00"),  # 14 202 paid_at not on business_date, listed
            rec_row(I["U1"], "1.00", inv="M", paid_at="2026-11-21 01:00:00")]  # 15 1 (carried by PAY of the 22nd)
    exp = [(1, I["R1"], 1, ""), (2, I["R1"], 301, ""), (3, I["R2"], 305, ""), (4, I["R3"], 305, ""), (5, I["R6"], 305, ""),
           (6, I["R7"], 305, ""), (7, "555555555555", 4, ""), (8, "555555555555", 301, ""), (9, I["R5"], 305, ""),
           (10, I["R4"], 305, ""), (11, "", 202, ""), (12, I["R8"], 202, "amount"), (13, I["R9"], 202, ""),
           (14, I["R10"], 202, "paid_at"), (15, I["U1"], 1, "")]
    # unlisted payments of the 21st: U2, U3, U4 (reversed) ; R2? listed. R11/R4 on 22nd, R5 on 20th: no 306
    extra = sorted([I["U2"], I["U3"], I["U4"]], key=lambda s: s.encode())
    exp += [("", x, 306, "") for x in extra]
    d += go(rx, B("REC"), rows, ack(exp, "11.00"), label="REC")[0]
    # same statement in cp866, REVERSED states right: check encoding of result.csv and 306 rows
    return d


@case("§7.2 REC 301 when the earlier line of the same id was invalid (202 state / 202 wrong field count); REC of reversed "
      "payment with state REVERSED -> 1; header-only statement of a day with payments -> all 306")
def a7_rec_misc(rx):
    d = go(rx, B("PAY"), [P("170000000001", amount="2.00"), P("170000000002", amount="3.00")],
           ack([(1, "170000000001", 1, ""), (2, "170000000002", 1, "")], "5.00"), label="PAY")[0]
    d += go(rx, B("REV"), [rev_row("170000000002", "3.00")], ack([(1, "170000000002", 1, "")], "3.00"), label="REV")[0]
    rows = [rec_row("170000000001", "2.00", state="paid"), rec_row("170000000001", "2.00"),
            ";".join(rec_row("170000000002", "3.00")) + ";", rec_row("170000000002", "3.00", state="REVERSED")]
    d += go(rx, B("REC"), rows, ack([(1, "170000000001", 202, "state"), (2, "170000000001", 301, ""),
                                     (3, "170000000002", 202, ""), (4, "170000000002", 301, "")], "0.00"), label="REC1")[0]
    d += go(rx, B("REC", "002"), [rec_row("170000000002", "3.00", state="REVERSED"), rec_row("170000000001", "2.00")],
            ack([(1, "170000000002", 1, ""), (2, "170000000001", 1, "")], "5.00"), label="REC2")[0]
    d += go(rx, B("REC", "003"), [], ack([("", "170000000001", 306, ""), ("", "170000000002", 306, "")], "0.00"), label="REC3 empty")[0]
    return d


# =====================================================================
# §8 responses
# =====================================================================
def dirzip(files):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z:
        for name, data in files:
            zi = zipfile.ZipInfo(name, date_time=(2026, 11, 22, 1, 5, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = (0o40755 << 16) | 0x10 if name.endswith("/") else 0o644 << 16
            z.writestr(zi, data)
    return bio.getvalue()


def signed_files(bid, reg, control, extra=()):
    files = [("control.txt", control), ("registry.csv", reg)] + list(extra)
    man = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files if not n.endswith("/")).encode()
    return files + [("manifest.sha256", man), ("manifest.sha256.hmac", hmac.new(KEY, man, hashlib.sha256).hexdigest().encode())]


@case("§8 entry times = local date-time as written in created_at, seconds rounded down to even; created_at copied as written "
      "(odd seconds, Z, -03:00, fraction), ACK and NAK")
def b1_entry_times(rx):
    d = []
    reg = registry("PAY", [P("180000000001", inv="N10")])
    for i, ca in enumerate(["2026-11-22T01:05:03+05:00", "2026-11-21T20:05:07Z", "2026-11-21T17:05:09-03:00",
                            "2026-11-22T01:05:05.999+05:00", "2026-11-21T23:59:59+05:00"]):
        reg = registry("PAY", [P("18000000000%d" % i, inv="N10")])
        bid = B("PAY", "%03d" % (i + 1))
        dd, r, _ = go(rx, bid, reg, ack([(1, "18000000000%d" % i, 1, "")], "1.00", created_at=ca), created=ca, label=ca)
        d += dd
        if r.get("infos"):
            NOTES.append(f"({ca}: entry times {[i.date_time for i in r['infos']][:1]})")
    # NAK B08 with odd seconds and Z
    ca = "2026-11-21T21:00:01Z"
    d += go(rx, B("PAY", "010"), registry("PAY", [P("180000000010", inv="N10")]), nak("B08", created=ca), created=ca, total="9.99",
            label="NAK B08 " + ca)[0]
    return d


@case("§8 created_at fallback to business_date 00:00:00+05:00: two created_at lines, invalid value, B01, B02; copied when "
      "B01/B02 pass and one valid line: B03 (extra entry), B04, B05, B06 unknown key, B06 other duplicate key, CRLF control")
def b2_created_at_rule(rx):
    d = []
    reg = registry("PAY", [P("190000000001", inv="N10")])
    ca = "2026-11-21T22:07:09+05:00"
    n = [0]
    def bid():
        n[0] += 1
        return B("PAY", "%03d" % n[0])
    def ctl(b, **kw):
        return control_text(b, "PAY", "utf-8", 1, "1.00", **kw)
    # two created_at lines (same valid value)
    b = bid(); c = ctl(b, created=ca) + f"created_at={ca}\n".encode()
    d += go(rx, b, reg, nak("B06", created="fallback"), control=c, label="two created_at")[0]
    b = bid(); c = ctl(b, created="2026-11-22 01:05:00")
    d += go(rx, b, reg, nak("B06", created="fallback"), control=c, label="invalid created_at")[0]
    b = bid(); c = ctl(b, created=None)
    d += go(rx, b, reg, nak("B06", created="fallback"), control=c, label="no created_at")[0]
    # B01 truncated
    b = bid(); full = build_archive(b, reg, created=ca)
    d += go(rx, b, None, nak("B01", created="fallback"), data=full[:len(full) - 30], label="B01")[0]
    # B02: directory entry, valid control
    b = bid(); files = signed_files(b, reg, ctl(b, created=ca), extra=[("sub/", b"")])
    d += go(rx, b, None, nak("B02", created="fallback"), data=dirzip(files), label="B02 dir")[0]
    # B03: extra entry, valid control -> copied
    b = bid(); files = signed_files(b, reg, ctl(b, created=ca), extra=[("readme.txt", b"hi")])
    d += go(rx, b, None, nak("B03", created=ca), data=dirzip(files), label="B03 extra")[0]
    # B03: control.txt missing -> fallback
    b = bid(); man = f"{hashlib.sha256(reg).hexdigest()}  registry.csv\n".encode()
    files = [("registry.csv", reg), ("manifest.sha256", man), ("manifest.sha256.hmac", hmac.new(KEY, man, hashlib.sha256).hexdigest().encode())]
    d += go(rx, b, None, nak("B03", created="fallback"), data=dirzip(files), label="B03 no control")[0]
    # B05
    b = bid()
    d += go(rx, b, reg, nak("B05", created=ca), created=ca, hmac_val=b"0" * 64, label="B05")[0]
    # B04
    b = bid()
    d += go(rx, b, reg, nak("B04", created=ca), created=ca, manifest=("0" * 64 + "  control.txt\n" + hashlib.sha256(reg).hexdigest() + "  registry.csv\n").encode(), label="B04")[0]
    # B06 unknown key with one valid created_at
    b = bid(); c = ctl(b, created=ca, extra=[("comment", "x")])
    d += go(rx, b, reg, nak("B06", created=ca), control=c, label="B06 unknown key")[0]
    b = bid(); c = ctl(b, created=ca) + b"rows=1\n"
    d += go(rx, b, reg, nak("B06", created=ca), control=c, label="B06 dup rows")[0]
    # B07, B08 copied
    b = bid()
    d += go(rx, b, b"payment_id;x\r\n", nak("B07", created=ca), created=ca, rows=0, total="0.00", label="B07")[0]
    # CRLF control.txt, ACK: copied without CR
    b = bid(); c = control_text(b, "PAY", "utf-8", 1, "1.00", created=ca, eol="\r\n")
    d += go(rx, b, registry("PAY", [P("190000000002", inv="N10")]), ack([(1, "190000000002", 1, "")], "1.00", created_at=ca),
            control=c, label="CRLF control")[0]
    return d


@case("§8 name and created_at for B10: wrong receiver (own code; signed), unknown sender (unsigned), type not configured; "
      "B10 with a B02 archive -> fallback created_at")
def b3_b10(rx):
    d = []
    set_config(rx, lambda s: s + 'types = ["PAY", "REV"]\n')
    ca = "2026-11-21T22:07:09+05:00"
    reg = registry("PAY", [P("200000000001", inv="N10")])
    b = B("PAY", rcv="OTHERCOURT")
    d += go(rx, b, reg, nak("B10", created=ca), created=ca, label="wrong receiver")[0]
    b = B("PAY", snd="BANK")
    d += go(rx, b, reg, nak("B10", created=ca, signed=False), created=ca, key=None, label="unknown sender")[0]
    b = B("REC")
    d += go(rx, b, registry("REC", []), nak("B10", created=ca), created=ca, label="REC not configured")[0]
    b = B("PAY", "002", rcv="OTHERCOURT")
    files = signed_files(b, reg, control_text(b, "PAY", "utf-8", 1, "1.00", created=ca), extra=[("sub/", b"")])
    d += go(rx, b, None, nak("B10", created="fallback"), data=dirzip(files), label="B10 + B02")[0]
    return d


@case("§8 result.csv in the registry's encoding (cp866, windows-1251), CRLF, no BOM, minimal quoting of echoed payment_ids "
      "holding ; \" CR LF, leading/trailing spaces, Cyrillic; UTF-8 with BOM registry -> no BOM in result.csv")
def b4_result_csv(rx):
    d = []
    weird = ["абв123456789", "12;345678901", '12"34567890123', " 123456789012", "123456789012 ", "1234\r\n56789012",
             '"123456789012', "№12345678901", "123\r456789012"]
    for j, enc in enumerate(["cp866", "windows-1251", "utf-8"]):
        rows = [P("21%d000000001" % j, inv="N11")]
        for w in weird:
            fld = q(w) if (any(c in w for c in ';\r\n') or w.startswith('"')) else w
            rows.append([fld] + P("1")[1:])
        exp = [(1, "21%d000000001" % j, 1, "")] + [(i + 2, w, 202, "payment_id") for i, w in enumerate(weird)]
        reg = registry("PAY", rows, enc=PYENC[enc], bom=(enc == "utf-8"))
        dd, r, _ = go(rx, B("PAY", "%03d" % (j + 1)), reg, ack(exp, "1.00"), enc=enc, label=enc)
        d += dd
        if r.get("result_raw"):
            NOTES.append(f"({enc} result.csv lines 2-4: {r['result_raw'].splitlines()[2:5]!r})")
    # REC in cp866 with 306 rows
    d += go(rx, B("REC", "001"), registry("REC", [rec_row("211000000001", "1.00", inv="N11")], enc="cp866"),
            ack([(1, "211000000001", 1, ""), ("", "210000000001", 306, ""), ("", "212000000001", 306, "")], "1.00"),
            enc="cp866", label="REC cp866")[0]
    return d


@case("§8 signing: partner without key -> response unsigned, inbound hmac entry allowed and ignored (even wrong)")
def b5_unsigned(rx):
    set_config(rx, lambda s: s.replace('key_file = "keys/MUNIS.key"\n', ""))
    d = go(rx, B("PAY"), [P("220000000001", inv="N12")], ack([(1, "220000000001", 1, "")], "1.00", signed=False),
           hmac_val=b"0" * 64, label="no key, wrong hmac")[0]
    d += go(rx, B("PAY", "002"), [P("220000000002", inv="N12")], ack([(1, "220000000002", 1, "")], "1.00", signed=False),
            key=None, label="no key, no hmac")[0]
    d += go(rx, B("PAY", "003"), [P("220000000003", inv="N12")], nak("B08", signed=False), total="2.00", key=None, label="no key NAK")[0]
    return d


@case("§8 a newer response of the same name replaces the older one in the outbox, both kept (var/sent): NAK B08 then NAK B07 "
      "for 001 while the first is still in the outbox")
def b6_replace(rx):
    d = []
    b = B("PAY")
    reg = registry("PAY", [P("230000000001", inv="N13")])
    d1, r1, a1 = go(rx, b, reg, nak("B08"), total="5.00", label="B08")
    d2, r2, a2 = go(rx, b, b"payment_id\r\n", nak("B07"), rows=0, total="0.00", clear=False, label="B07")
    d += d1 + d2
    ob = sorted(os.listdir(rx + "/outbox"))
    n = "SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip"
    if ob != [n]:
        d.append(f"outbox {ob}")
    else:
        c = parse_response(n, open(rx + "/outbox/" + n, "rb").read())["ctl"]
        if c.get("error") != "B07":
            d.append(f"outbox holds {c.get('error')}, not the newer B07")
    sent = [open(f, "rb").read() for f in glob.glob(rx + "/var/sent/*")]
    for lab, r in (("B08", r1), ("B07", r2)):
        if r.get("raw") not in sent:
            d.append(f"{lab} response not kept in var/sent")
    return d


@case("§8 determinism: the same sequence of batches on two fresh receivers (seconds apart) gives identical response bytes; "
      "`replay` of each kept archive reproduces the sent bytes after later batches changed the store")
def b7_determinism(rx):
    seq = [(B("PAY"), registry("PAY", [P("240000000001", amount="60.00"), P("240000000002", amount="50.00")]), {}),
           (B("REV"), registry("REV", [rev_row("240000000001", "60.00")]), {}),
           (B("PAY", "002"), registry("PAY", [P("240000000003", amount="60.00")]), {}),
           (B("REC"), registry("REC", [rec_row("240000000002", "50.00")]), {"created": "2026-11-21T20:00:03Z"}),
           (B("PAY", "003"), registry("PAY", [P("240000000004", amount="1.00")]), {"total": "7.00"})]
    outs = []
    for k, r_ in enumerate([rx, new_receiver("b7_second")]):
        if k:
            time.sleep(2.1)
        got = {}
        for bid, reg, kw in seq:
            data = build_archive(bid, reg, **kw)
            r = run_archive(r_, bid + ".zip", data)
            got[bid] = (data, r.get("raw"), r.get("name"))
        outs.append(got)
    d = []
    for bid in outs[0]:
        if outs[0][bid][1] != outs[1][bid][1]:
            d.append(f"[{bid}] response bytes differ between two receivers")
    for bid, (data, raw, name) in outs[0].items():
        p = os.path.join(rx, "replay_" + bid + ".zip")
        open(p, "wb").write(data)
        od = os.path.join(rx, "rout_" + bid)
        pr = sh([BIN, "--config", rx + "/reestr.toml", "replay", p, "--out", od], check=False)
        fs = os.listdir(od) if os.path.isdir(od) else []
        if pr.returncode != 0 or len(fs) != 1 or open(os.path.join(od, fs[0]), "rb").read() != raw:
            d.append(f"[replay {bid}] rc={pr.returncode} files={fs} {pr.stdout.decode()[-200:]!r}")
    return d


# =====================================================================
# §1 / §7.1 re-delivery
# =====================================================================
@case("§7.1 same bytes after ACK -> stored ACK byte for byte whatever the configuration now says (key changed; limits "
      "lowered; partner removed); never applied twice")
def c1_resend_config(rx):
    b = B("PAY")
    d, r, data = go(rx, b, [P("250000000001", amount="60.00")], ack([(1, "250000000001", 1, "")], "60.00"), label="first")
    first = r.get("raw")
    other = "ab" * 32
    changes = [("key changed", lambda s: s, lambda: open(rx + "/keys/MUNIS.key", "w").write(other + "\n")),
               ("max_entries=2", lambda s: s.replace("[partners.MUNIS]", "[limits]\nmax_entries = 2\n[partners.MUNIS]"), None),
               ("partner removed", lambda s: s.split("[partners.MUNIS]")[0] + "[partners.BANK]\n", None),
               ("types without PAY", lambda s: s.split("[partners.MUNIS]")[0] + '[partners.MUNIS]\ntypes = ["REC"]\n', None)]
    orig = open(rx + "/reestr.toml").read()
    for lab, cf, act in changes:
        open(rx + "/reestr.toml", "w").write(orig)
        open(rx + "/keys/MUNIS.key", "w").write(KEY_HEX + "\n")
        set_config(rx, cf)
        if act: act()
        clear_outbox(rx)
        r2 = run_archive(rx, b + ".zip", data)
        if r2.get("raw") != first:
            c = r2.get("ctl", {}) or {}
            d.append(f"[{lab}] re-delivery answered {r2.get('name')} {c.get('result')} {c.get('error')} {c.get('message', '')!r} "
                     f"(identical: {r2.get('raw') == first}; rc={r2['rc']} {r2['stderr'][-300:]!r})")
    open(rx + "/reestr.toml", "w").write(orig)
    open(rx + "/keys/MUNIS.key", "w").write(KEY_HEX + "\n")
    d += go(rx, B("PAY", "002"), [P("250000000002", amount="40.00"), P("250000000003", amount="0.01")],
            ack([(1, "250000000002", 1, ""), (2, "250000000003", 302, "")], "40.00"), label="applied once")[0]
    return d


@case("§7.1 same bytes after only NAKs -> judged afresh: B10 (partner missing) then ACK once configured; B05 (other key) then "
      "ACK with the right key; then same bytes again -> stored ACK")
def c2_afresh(rx):
    orig = open(rx + "/reestr.toml").read()
    set_config(rx, lambda s: s.split("[partners.MUNIS]")[0] + "[partners.BANK]\n")
    b = B("PAY")
    d, r, data = go(rx, b, [P("260000000001", inv="N14")], nak("B10", signed=False), label="B10 no partner")
    open(rx + "/reestr.toml", "w").write(orig)
    d += go(rx, b, None, ack([(1, "260000000001", 1, "")], "1.00"), data=data, label="afresh -> ACK")[0]
    first = open(rx + "/outbox/SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip", "rb").read()
    clear_outbox(rx)
    r = run_archive(rx, b + ".zip", data)
    if r.get("raw") != first:
        d.append("re-delivery after ACK not byte-identical")
    # B05 with another key, then right key
    open(rx + "/keys/MUNIS.key", "w").write("cd" * 32 + "\n")
    b2 = B("PAY", "002")
    d2, r2, data2 = go(rx, b2, [P("260000000002", inv="N14")], nak("B05"), label="B05 other key")
    d += [x for x in d2 if "hmac" not in x]  # response signed with the then-configured key
    open(rx + "/keys/MUNIS.key", "w").write(KEY_HEX + "\n")
    d += go(rx, b2, None, ack([(1, "260000000002", 1, "")], "1.00"), data=data2, label="afresh B05 -> ACK")[0]
    return d


@case("§7.1 B09 only once processed: NAK B08 then other content -> ACK; then the B08 bytes again -> B09 (before B01..B08); "
      "other content -> B09; truncated archive under that id -> B09; original bytes -> stored ACK; B10 before B09")
def c3_b09(rx):
    b = B("PAY")
    reg1 = registry("PAY", [P("270000000001", inv="N15")])
    d, _, bad = go(rx, b, reg1, nak("B08"), total="3.00", label="B08")
    d2, r, good = go(rx, b, reg1, ack([(1, "270000000001", 1, "")], "1.00"), label="then ACK")
    d += d2
    first = r.get("raw")
    d += go(rx, b, None, nak("B09"), data=bad, label="B08 bytes again")[0]
    reg2 = registry("PAY", [P("270000000002", inv="N15")])
    d += go(rx, b, reg2, nak("B09"), label="other content")[0]
    d += go(rx, b, None, nak("B09", created="fallback"), data=good[:len(good) // 2], label="truncated")[0]
    d += go(rx, b, reg2, nak("B09"), hmac_val=b"0" * 64, label="other content + B05")[0]
    clear_outbox(rx)
    r = run_archive(rx, b + ".zip", good)
    if r.get("raw") != first:
        d.append("original bytes after B09s: not the stored ACK")
    set_config(rx, lambda s: s + 'types = ["REV", "REC"]\n')
    d += go(rx, b, reg2, nak("B10"), label="B10 before B09")[0]
    # the B10 re-delivery of the ACKed bytes is still the stored ACK
    clear_outbox(rx)
    r = run_archive(rx, b + ".zip", good)
    if r.get("raw") != first:
        d.append("ACKed bytes with type no longer configured: not the stored ACK")
    return d


@case("§7.1 the same files zipped again (other zip bytes) after ACK: B09 (README decision: a re-delivery is the same bytes; "
      "applying them again is what B09 prevents) or, reading 'different content' as the files, judged afresh -> ACK with "
      "301 and nothing applied twice; the answer given is noted")
def c4_rezipped(rx):
    b = B("PAY")
    reg = registry("PAY", [P("280000000001", inv="N16")])
    d, r, data = go(rx, b, reg, ack([(1, "280000000001", 1, "")], "1.00"), label="first")
    # rezip with other entry times
    z = zipfile.ZipFile(io.BytesIO(data))
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w") as z2:
        for i in z.infolist():
            zi = zipfile.ZipInfo(i.filename, date_time=(2026, 11, 22, 2, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z2.writestr(zi, z.read(i.filename))
    d += go(rx, b, None, [nak("B09"), ack([(1, "280000000001", 301, "")], "0.00")], data=bio.getvalue(), label="rezipped")[0]
    return d


# =====================================================================
# §9 invoices import
# =====================================================================
@case("§9 loading the same export twice changes nothing; a later export updates by invoice_no (amount_due, payer, status)")
def d1_import_update(rx):
    d = []
    p = import_csv(rx, invoices_csv())
    if p.returncode != 0:
        d.append(f"re-import rc={p.returncode} {p.stderr.decode()[-300:]}")
    d += go(rx, B("PAY"), [P("290000000001", amount="100.00")], ack([(1, "290000000001", 1, "")], "100.00"), label="after reimport")[0]
    p = import_csv(rx, export_with({"H": dict(due="150.00"), "K": dict(pt="P", pid=P2, name="Karimova"), "L": dict(st="OPEN"),
                                    "M": dict(st="CANCELLED")}))
    if p.returncode != 0:
        d.append(f"update rc={p.returncode} {p.stderr.decode()[-300:]}")
    p = import_csv(rx, export_with({"H": dict(due="150.00"), "K": dict(pt="P", pid=P2, name="Karimova"), "L": dict(st="OPEN"),
                                    "M": dict(st="CANCELLED")}), name="inv3.csv")
    rows = [P("290000000002", amount="50.01"), P("290000000003", amount="50.00"), P("290000000004", inv="K"),
            P("290000000005", inv="K", pt="P", payer=P2), P("290000000006", inv="L"), P("290000000007", inv="M")]
    d += go(rx, B("PAY", "002"), rows, ack([(1, "290000000002", 303, ""), (2, "290000000003", 1, ""), (3, "290000000004", 304, ""),
                                           (4, "290000000005", 1, ""), (5, "290000000006", 1, ""), (6, "290000000007", 302, "")],
                                          "52.00"), label="after update")[0]
    return d


@case("§9 payments never changed by an export: amount_due lowered below paid -> 302, REC still matches, REV still 1; "
      "cancelling a paid invoice -> REV 1, REC REVERSED 1, PAY 302; re-opened -> balance from kept payments")
def d2_import_payments(rx):
    d = go(rx, B("PAY"), [P("300000000001", amount="80.00"), P("300000000002", amount="10.00")],
           ack([(1, "300000000001", 1, ""), (2, "300000000002", 1, "")], "90.00"), label="PAY")[0]
    import_csv(rx, export_with({"H": dict(due="50.00", pid=P2, name="Karimova")}))
    d += go(rx, B("PAY", "002"), [P("300000000003", amount="0.01", payer=P2)], ack([(1, "300000000003", 302, "")], "0.00"), label="due<paid")[0]
    d += go(rx, B("REC"), [rec_row("300000000001", "80.00"), rec_row("300000000002", "10.00")],
            ack([(1, "300000000001", 1, ""), (2, "300000000002", 1, "")], "90.00"), label="REC after export")[0]
    import_csv(rx, export_with({"H": dict(due="50.00", pid=P2, name="Karimova", st="CANCELLED")}), name="inv3.csv")
    d += go(rx, B("REV"), [rev_row("300000000001", "80.00")], ack([(1, "300000000001", 1, "")], "80.00"), label="REV on cancelled")[0]
    d += go(rx, B("REC", "002"), [rec_row("300000000001", "80.00", state="REVERSED"), rec_row("300000000002", "10.00")],
            ack([(1, "300000000001", 1, ""), (2, "300000000002", 1, "")], "90.00"), label="REC2")[0]
    d += go(rx, B("PAY", "003"), [P("300000000004", amount="1.00", payer=P2)], ack([(1, "300000000004", 302, "")], "0.00"), label="cancelled")[0]
    import_csv(rx, export_with({"H": dict(due="50.00", pid=P2, name="Karimova")}), name="inv4.csv")
    d += go(rx, B("PAY", "004"), [P("300000000005", amount="40.01", payer=P2), P("300000000006", amount="40.00", payer=P2)],
            ack([(1, "300000000005", 303, ""), (2, "300000000006", 1, "")], "40.00"), label="re-opened")[0]
    return d


@case("§9 an export with any bad line is refused whole, naming every bad line and field; nothing of it loaded")
def d3_import_refused(rx):
    d = []
    good_new = "20000000000000000099"
    lines = [INV_HDR,
             inv_line(good_new),                                            # 2 good new
             inv_line(INV["H"][0], due="1.00"),                             # 3 good update of H
             inv_line("20000000000000000098", due="0.00"),                  # 4 amount_due
             inv_line("20000000000000000097", pid=P1[:13] + "0" if P1[13] != "0" else P1[:13] + "1"),  # 5 payer_id
             inv_line("20000000000000000096", st="open", court="12345678901"),  # 6 court_code + status
             inv_line("20000000000000000095") + ";x",                       # 7 field count
             inv_line("2000000000000000009", issued="2026-02-30 10:00:00"),  # 8 invoice_no + issued_at
             "",                                                            # 9 blank line: one empty field
             inv_line("20000000000000000094", case_no="x" * 41, name=""),    # 10 case_no + payer_name
             inv_line(good_new, due="5.00")]                                # 11 duplicate invoice_no
    p = import_csv(rx, "\r\n".join(lines) + "\r\n")
    out = (p.stdout + p.stderr).decode(errors="replace")
    NOTES.append("(refusal output: " + out.replace("\n", " | ")[:1500] + ")")
    if p.returncode == 0:
        d.append("export with bad lines accepted")
    for ln, fields in ((4, ["amount_due"]), (5, ["payer_id"]), (6, ["court_code", "status"]), (8, ["invoice_no", "issued_at"]),
                       (10, ["case_no", "payer_name"])):
        for f in fields:
            if f not in out:
                d.append(f"field {f} (line {ln}) not named")
    for ln in (4, 5, 6, 7, 8, 9, 10, 11):
        if str(ln) not in out and str(ln - 1) not in out:
            d.append(f"line {ln} not named")
    d += go(rx, B("PAY"), [P("310000000001", inv=good_new), P("310000000002", amount="2.00")],
            ack([(1, "310000000001", 4, ""), (2, "310000000002", 1, "")], "2.00"), label="nothing loaded")[0]
    return d


@case("§9 export CSV rules of §5: BOM, LF, quoted fields holding ; and \"\" and a line break, no final line end -> loaded")
def d4_import_csv_rules(rx):
    body = "\n".join([INV_HDR, inv_line("20000000000000000091", name=q('Firma "A;B"\nfilial')),
                      inv_line("20000000000000000092", due="7.00")])
    p = import_csv(rx, b"\xef\xbb\xbf" + body.encode())
    d = [] if p.returncode == 0 else [f"refused: {(p.stdout + p.stderr).decode()[-400:]}"]
    d += go(rx, B("PAY"), [P("320000000001", inv="20000000000000000091", name="x", amount="100.00"),
                           P("320000000002", inv="20000000000000000092", amount="7.00")],
            ack([(1, "320000000001", 1, ""), (2, "320000000002", 1, "")], "107.00"), label="pay loaded")[0]
    return d


@case("§9 refused exports: not UTF-8, header differs, duplicate invoice_no only, trailing blank line")
def d5_import_refused_misc(rx):
    d = []
    for lab, data in (("cp1251", ("\r\n".join([INV_HDR, inv_line("20000000000000000081", name="Алиев")]) + "\r\n").encode("cp1251")),
                      ("header", ("\r\n".join([INV_HDR.replace("status", "state"), inv_line("20000000000000000082")]) + "\r\n").encode()),
                      ("dup", ("\r\n".join([INV_HDR, inv_line("20000000000000000083"), inv_line("20000000000000000083", due="5.00")]) + "\r\n").encode()),
                      ("blank end", ("\r\n".join([INV_HDR, inv_line("20000000000000000084")]) + "\r\n\r\n").encode())):
        p = import_csv(rx, data, name=lab.replace(" ", "_") + ".csv")
        NOTES.append(f"({lab}: rc={p.returncode} {(p.stdout + p.stderr).decode(errors='replace').strip()[-250:]!r})")
        if p.returncode == 0:
            d.append(f"[{lab}] export accepted")
    d += go(rx, B("PAY"), [P("330000000001", inv="20000000000000000083"), P("330000000002", inv="20000000000000000084")],
            ack([(1, "330000000001", 4, ""), (2, "330000000002", 4, "")], "0.00"), label="nothing loaded")[0]
    return d



# =====================================================================
# more
# =====================================================================
@case("§5.3/§7.2 REC day of a payment is its paid_at date in Tashkent time: payments at 00:00:00, 04:59:59, 05:00:00, 23:59:59 "
      "of the 21st are 306 in REC 21 (not REC 20 / 22); created_at in Z does not move the day")
def a8_rec_day(rx):
    times = ["2026-11-21 00:00:00", "2026-11-21 04:59:59", "2026-11-21 05:00:00", "2026-11-21 23:59:59", "2026-11-20 23:59:59",
             "2026-11-22 00:00:00"]
    rows = [P("18100000000%d" % i, inv="N17", paid_at=t) for i, t in enumerate(times)]
    d = go(rx, B("PAY", "001", "20261122"), rows, ack([(i + 1, r[0], 1, "") for i, r in enumerate(rows)], "6.00", created_at="2026-11-21T20:30:00Z"),
           created="2026-11-21T20:30:00Z", label="PAY")[0]
    for date, idx in (("20261120", [4]), ("20261121", [0, 1, 2, 3]), ("20261122", [5])):
        exp = [("", "18100000000%d" % i, 306, "") for i in idx]
        d += go(rx, B("REC", "001", date), [], ack(exp, "0.00", created_at="2026-11-22T23:00:00Z"), created="2026-11-22T23:00:00Z", label="REC " + date)[0]
    return d


@case("§7.2 more precedence: field check before 301 (repeat with bad currency -> 202); cancelled + over -> 302; "
      "REV/REC amounts compared as values (010.00 = 10.00); REC unknown id with state REVERSED -> 4; REC amount 0.00 -> 202")
def a9_more_precedence(rx):
    rows = [P("190000000001", amount="10.00"), P("190000000001", currency="978"), P("190000000002", inv="L", amount="500.00"),
            P("190000000003", amount="0.00"), P("190000000004", amount="20.00")]
    d = go(rx, B("PAY"), rows, ack([(1, "190000000001", 1, ""), (2, "190000000001", 202, "currency"), (3, "190000000002", 302, ""),
                                    (4, "190000000003", 202, "amount"), (5, "190000000004", 1, "")], "30.00"), label="PAY")[0]
    d += go(rx, B("REV"), [rev_row("190000000001", "010.00")], ack([(1, "190000000001", 1, "")], "10.00"), label="REV 010.00")[0]
    d += go(rx, B("REC"), [rec_row("190000000004", "0020.00"), rec_row("190000000009", "1.00", state="REVERSED"),
                           rec_row("190000000001", "0.00", state="REVERSED")],
            ack([(1, "190000000004", 1, ""), (2, "190000000009", 4, ""), (3, "190000000001", 202, "amount")], "20.00"),
            label="REC values")[0]
    return d


def raw_archive(bid, reg, created, reg_entry=None, limits_ok=True):
    ctl = control_text(bid, bid.split("_")[2], "utf-8", *count_amounts(reg, "utf-8", bid.split("_")[2]), created=created)
    man = (f"{hashlib.sha256(ctl).hexdigest()}  control.txt\n{hashlib.sha256(reg).hexdigest()}  registry.csv\n").encode()
    e_reg = {"name": "registry.csv", "data": reg}
    e_reg.update(reg_entry or {})
    import zipraw
    return zipraw.build([{"name": "control.txt", "data": ctl}, e_reg, {"name": "manifest.sha256", "data": man},
                         {"name": "manifest.sha256.hmac", "data": hmac.new(KEY, man, hashlib.sha256).hexdigest().encode()}])


@case("§8 created_at falls back when B01/B02 is found late, after a valid control.txt: CRC mismatch of registry.csv (B01), "
      "registry line over 64 KiB (B02), ratio over 200 in a 2 MiB registry (B02); control copied for a sound archive")
def b8_created_at_late(rx):
    ca = "2026-11-21T22:07:09+05:00"
    d = []
    reg = registry("PAY", [P("200100000001", inv="N18")])
    import zlib
    d += go(rx, B("PAY", "001"), None, nak("B01", created="fallback"),
            data=raw_archive(B("PAY", "001"), reg, ca, {"crc": (zlib.crc32(reg) ^ 1) & 0xFFFFFFFF}), label="CRC")[0]
    d += go(rx, B("PAY", "002"), None, nak("B01", created="fallback"),
            data=raw_archive(B("PAY", "002"), reg, ca, {"usize": len(reg) - 5}), label="declared size lies")[0]
    reg2 = registry("PAY", [P("200100000002", inv="N18", purpose="a" * 70000)])
    d += go(rx, B("PAY", "003"), reg2, nak("B02", created="fallback"), created=ca, label="long line")[0]
    big = q("\r\n".join(["a" * 1000] * 2200))
    reg3 = registry("PAY", [P("200100000003", inv="N18", purpose=big)])
    d += go(rx, B("PAY", "004"), reg3, nak("B02", created="fallback"), created=ca, label="ratio")[0]
    d += go(rx, B("PAY", "005"), None, ack([(1, "200100000001", 1, "")], "1.00", created_at=ca),
            data=raw_archive(B("PAY", "005"), reg, ca), label="sound raw")[0]
    return d


@case("§8 B10/B09 with an unsafe or unreadable archive: created_at falls back (B10 + B01, B09 + B02)")
def b9_b10_b09_fallback(rx):
    ca = "2026-11-21T22:07:09+05:00"
    reg = registry("PAY", [P("200200000001", inv="N18")])
    b = B("PAY", rcv="OTHERCOURT")
    full = build_archive(b, reg, created=ca)
    d = go(rx, b, None, nak("B10", created="fallback"), data=full[:-30], label="B10+B01")[0]
    b = B("PAY")
    d += go(rx, b, reg, ack([(1, "200200000001", 1, "")], "1.00", created_at=ca), created=ca, label="ACK")[0]
    files = signed_files(b, registry("PAY", [P("200200000002", inv="N18")]), control_text(b, "PAY", "utf-8", 1, "1.00", created=ca),
                         extra=[("sub/", b"")])
    d += go(rx, b, None, nak("B09", created="fallback"), data=dirzip(files), label="B09+B02")[0]
    return d


@case("§8 response names: 6-digit SEQ kept as written; another configured partner without a key -> SUDBILLING_CBU_..., unsigned")
def b10_names(rx):
    set_config(rx, lambda s: s.replace("[partners.MUNIS]", "[partners.CBU]\n[partners.MUNIS]"))
    d = go(rx, B("PAY", "000123"), [P("200300000001", inv="N19")], ack([(1, "200300000001", 1, "")], "1.00"), label="seq 000123")[0]
    d += go(rx, B("REV", "1234", snd="CBU"), [rev_row("200300000001", "1.00")], ack([(1, "200300000001", 1, "")], "1.00", signed=False),
            key=None, label="CBU")[0]
    return d


@case("§7.1 doubtful: the same bytes as an ACKed archive delivered under another (valid) archive name")
def c5_same_bytes_other_name(rx):
    b = B("PAY")
    d, r, data = go(rx, b, [P("200400000001", inv="N20")], ack([(1, "200400000001", 1, "")], "1.00"), label="first")
    b2 = B("PAY", "002")
    clear_outbox(rx)
    r2 = run_archive(rx, b2 + ".zip", data)
    NOTES.append(f"(same bytes as {b} under {b2}.zip: {r2.get('name')} {r2.get('ctl', {}).get('error')} "
                 f"{r2.get('ctl', {}).get('message', '')!r}; stored ACK: {r2.get('raw') == r.get('raw')})")
    return d


@case("§7.1 re-delivery after ACK with the receiver's own code and archive size limit changed -> stored ACK byte for byte")
def c6_resend_receiver_changed(rx):
    b = B("PAY")
    d, r, data = go(rx, b, [P("200500000001", inv="N21")], ack([(1, "200500000001", 1, "")], "1.00"), label="first")
    set_config(rx, lambda s: s.replace('receiver = "SUDBILLING"', 'receiver = "SUDNEW"').replace(
        "[partners.MUNIS]", "[limits]\nmax_archive_bytes = 100\nmax_line_bytes = 10\n[partners.MUNIS]"))
    clear_outbox(rx)
    r2 = run_archive(rx, b + ".zip", data)
    if r2.get("raw") != r.get("raw"):
        d.append(f"re-delivery answered {r2.get('name')} {r2.get('ctl', {}).get('error')} rc={r2['rc']} {r2['stderr'][-300:]!r}")
    return d


@case("§9 a later export updates by invoice_no even when its bytes equal an export loaded earlier (A, B, A again -> A's values)")
def d6_import_aba(rx):
    a = export_with({"H": dict(due="100.00")})
    bb = export_with({"H": dict(due="150.00")})
    d = []
    for lab, t, nm in (("A", a, "a.csv"), ("B", bb, "b.csv"), ("A again", a, "a2.csv")):
        p = import_csv(rx, t, name=nm)
        NOTES.append(f"(import {lab}: rc={p.returncode} {(p.stdout + p.stderr).decode().strip()[-200:]!r})")
    d += go(rx, B("PAY"), [P("200600000001", amount="100.01"), P("200600000002", amount="100.00")],
            ack([(1, "200600000001", 303, ""), (2, "200600000002", 1, "")], "100.00"), label="H due 100 again")[0]
    return d


@case("§8 minimal quoting and a lone CR: an echoed payment_id holding a CR that no LF follows (inbound unquoted, valid "
      "under §5) -> 202, quoted (README decision: §5 would not need it; every common CSV writer quotes a CR); "
      "a strict §5 writer's answer, unquoted, is noted as the other reading")
def b11_lone_cr(rx):
    import lib
    rows = [P("200700000001", inv="N22"), ["123\r456789012"] + P("1")[1:], ["1234567\r"] + P("1")[1:]]
    exp = ack([(1, "200700000001", 1, ""), (2, "123\r456789012", 202, "payment_id"),
               (3, "1234567\r", 202, "payment_id")], "1.00")
    d, r, data = go(rx, B("PAY"), rows, exp, rows=3, total="3.00")
    if d:
        orig = lib.must_quote
        lib.must_quote = lambda fb: b";" in fb or b"\n" in fb or fb.startswith(b'"')
        try:
            strict = check_response(r, B("PAY") + ".zip", data, dict(exp, enc="utf-8"))
        finally:
            lib.must_quote = orig
        if not strict:
            NOTES.append("(a lone CR left unquoted, the strict §5 reading: not the README's decision)")
    return d


@case("§8 header-only PAY / REV / REC (no payments that day) -> ACK, rows=0, accepted=0, amount_accepted=0.00, result.csv header only")
def b12_empty(rx):
    d = []
    for t in ("PAY", "REV", "REC"):
        dd, r, _ = go(rx, B(t), [], ack([], "0.00"), label=t)
        d += dd
        if r.get("result_raw") != b"line;payment_id;status;field;message\r\n":
            d.append(f"[{t}] result.csv {r.get('result_raw')!r}")
    return d


@case("§2/§8 names that cannot be parsed (impossible date 20261131, 20270229) get no response and are set aside; 20280229 is answered")
def b13_names(rx):
    d = []
    for date, answered in (("20261131", False), ("20270229", False), ("20280229", True)):
        b = B("PAY", "001", date)
        reg = registry("PAY", [P("200800000001" if answered else "200800000002", inv="N23", paid_at="2026-11-21 10:00:00")])
        data = build_archive(b, reg, created="2028-03-01T00:00:00+05:00")
        clear_outbox(rx)
        r = run_archive(rx, b + ".zip", data)
        if answered and r.get("ctl", {}).get("result") != "ACK":
            d.append(f"[{date}] not answered ACK: {r.get('name')} {r.get('ctl', {}).get('message')}")
        if not answered:
            if os.listdir(rx + "/outbox"):
                d.append(f"[{date}] a response was written: {os.listdir(rx + '/outbox')}")
            if os.path.exists(os.path.join(rx, "inbox", b + ".zip")):
                d.append(f"[{date}] left in the inbox")
    return d


@case("§8 created_at: a created_at line with an empty value beside a valid one -> fallback (not exactly one); doubtful forms printed")
def b14_created_at_lines(rx):
    ca = "2026-11-21T22:07:09+05:00"
    reg = registry("PAY", [P("200900000001", inv="N24")])
    b = B("PAY", "001")
    c = control_text(b, "PAY", "utf-8", 1, "1.00", created=ca) + b"created_at=\n"
    d = go(rx, b, reg, nak("B06", created="fallback"), control=c, label="empty second")[0]
    for i, extra in enumerate([b"created_at\n", b"created_at =2026-11-21T22:07:09+05:00\n", b"CREATED_AT=2026-11-21T22:07:09+05:00\n"]):
        b = B("PAY", "%03d" % (i + 2))
        c = control_text(b, "PAY", "utf-8", 1, "1.00", created=ca) + extra
        dd, r, _ = go(rx, b, reg, [nak("B06", created=ca), nak("B06", created="fallback")], control=c, label=repr(extra))
        d += dd
    return d


@case("§8 result.csv `line` is the 1-based data row number, not the physical line: records spanning lines (quoted CRLF/LF), "
      "in windows-1251")
def a10_line_numbers(rx):
    rows = [P("201000000001", inv="N25", purpose=q("birinchi\r\nikkinchi\r\nuchinchi")), P("201000000002", inv="N25", currency="1"),
            P("201000000003", inv="N25", name=q("Алиев\nАнвар")), P("201000000003", inv="N25")]
    exp = [(1, "201000000001", 1, ""), (2, "201000000002", 202, "currency"), (3, "201000000003", 1, ""), (4, "201000000003", 301, "")]
    return go(rx, B("PAY"), rows, ack(exp, "2.00", enc="windows-1251"), enc="windows-1251")[0]


@case("§8 created_at copied exactly as written for other valid RFC 3339 forms (lower-case t/z, fraction with Z, +05:30, -00:00, "
      "nanoseconds); entry times from the written local time")
def b15_created_at_forms(rx):
    d = []
    for i, ca in enumerate(["2026-11-21t20:05:07z", "2026-11-21T20:05:07.5Z", "2026-11-22T01:35:07+05:30", "2026-11-21T20:05:07-00:00",
                            "2026-11-21T20:05:07.123456789+00:00"]):
        pid = "20200000000%d" % i
        d += go(rx, B("PAY", "%03d" % (i + 1)), [P(pid, inv="N26")], ack([(1, pid, 1, "")], "1.00", created_at=ca), created=ca,
                label=ca)[0]
    return d


@case("§8 B10 for a wrong receiver comes from the receiver's own code as configured (receiver = SUDNEW): SUDNEW_MUNIS_..._NAK, "
      "control sender=SUDNEW")
def b16_own_code(rx):
    set_config(rx, lambda s: s.replace('receiver = "SUDBILLING"', 'receiver = "SUDNEW"'))
    b = B("PAY")
    data = build_archive(b, registry("PAY", [P("203000000001", inv="N27")]))
    clear_outbox(rx)
    r = run_archive(rx, b + ".zip", data)
    d = []
    if r.get("name") != "SUDNEW_MUNIS_PAY_20261121_001_NAK.zip":
        d.append(f"response name {r.get('name')}")
    c = r.get("ctl", {}) or {}
    if (c.get("sender"), c.get("receiver"), c.get("error"), c.get("batch_id"), c.get("in_reply_to")) != \
            ("SUDNEW", "MUNIS", "B10", "SUDNEW_MUNIS_PAY_20261121_001_NAK", b):
        d.append(f"control {c}")
    return d


@case("§9 a refused export names every bad line: 400 bad lines among 1000 -> 400 lines named, nothing loaded")
def d7_import_many_bad(rx):
    lines = [INV_HDR]
    bad = []
    for i in range(1000):
        no = "4%019d" % i
        if i % 5 in (1, 3):
            lines.append(inv_line(no, due="0.00")); bad.append(len(lines))
        else:
            lines.append(inv_line(no))
    p = import_csv(rx, "\r\n".join(lines) + "\r\n")
    out = (p.stdout + p.stderr).decode()
    named = set(int(x) for x in re.findall(r"line (\d+)", out))
    d = []
    if p.returncode == 0:
        d.append("accepted")
    miss = [b for b in bad if b not in named]
    if miss:
        d.append(f"{len(miss)} bad lines not named, e.g. {miss[:5]}")
    extra = named - set(bad)
    if extra:
        d.append(f"good lines named: {sorted(extra)[:5]}")
    d += go(rx, B("PAY"), [P("203100000001", inv="4%019d" % 0)], ack([(1, "203100000001", 4, "")], "0.00"), label="nothing loaded")[0]
    return d


# ---------------------------------------------------------------------
# an independent model of §7.2 over random scenarios
# ---------------------------------------------------------------------
MODEL_INV = {"Q%d" % i: ("3000000000000000000%d" % i, "P", P1, "Aliyev Anvar", "%d.00" % (10 + 5 * i), "OPEN") for i in range(4)}
MODEL_INV["Q4"] = ("30000000000000000004", "J", TIN1, "Firma MChJ", "12.00", "OPEN")
INV.update(MODEL_INV)
TYPE_ORDER = {"PAY": 0, "REV": 1, "REC": 2}


def tiy(a):
    x, y = a.split(".")
    return int(x) * 100 + int(y)


def model_scenario(rx, seed):
    rnd = random.Random(seed)
    inv = {k: dict(no=v[0], pt=v[1], pid=v[2], name=v[3], due=tiy(v[4]), st=v[5]) for k, v in INV.items()}
    byno = lambda no: next((x for x in inv.values() if x["no"] == no), None)
    pays = {}  # pid -> dict(no, amount, paid_at, state)
    pool = ["4%011d" % i for i in range(1, 13)] + ["4%019d" % 7, "39999999999"[:0] + "400000000000000"]
    days = ["2026-11-20", "2026-11-21", "2026-11-22"]
    seqs = {}
    d = []

    def bal(no):
        return sum(p["amount"] for p in pays.values() if p["no"] == no and p["state"] == "PAID")

    def new_batch(typ, date):
        seqs[(typ, date)] = seqs.get((typ, date), 0) + rnd.choice([1, 1, 7, 95, 900])
        return B(typ, "%0*d" % (rnd.randint(3, 6), seqs[(typ, date)]), date.replace("-", ""))

    done = []  # (bid, data, raw response) of ACKed batches

    def gen(typ, date):
        rows = []
        for _ in range(rnd.randint(0, 7)):
            pid = rnd.choice(pool)
            if typ == "PAY":
                k = rnd.choice(list(MODEL_INV) + ["L"])
                amt = rnd.choice(["1.00", "2.50", "5.00", "7.00", "10.00", "12.00", "0.01", "20.00"])
                kw = {}
                r = rnd.random()
                if r < 0.1: kw["payer"] = P2 if inv[k]["pt"] == "P" else "312345670"
                elif r < 0.15: kw.update(pt="J", payer=TIN1) if inv[k]["pt"] == "P" else kw.update(pt="P", payer=P1)
                inv_no = inv[k]["no"] if rnd.random() > 0.05 else UNK
                if inv_no == UNK: kw = {}
                row = pay_row(pid, inv=inv_no if inv_no == UNK else k, amount=amt,
                              paid_at=rnd.choice(days) + " " + rnd.choice(["00:00:00", "10:00:00", "23:59:59"]), **kw)
                r = rnd.random()
                if r < 0.05: row[7] = "840"
                elif r < 0.08: row = row + ["x"]
                rows.append(row)
            elif typ == "REV":
                amt = pays[pid]["amount"] if pid in pays and rnd.random() < 0.8 else rnd.choice([100, 500, 1000])
                rows.append(rev_row(pid, fmt_amount(amt), at="2026-11-22 12:00:00"))
            else:
                if pid in pays and rnd.random() < 0.85:
                    p = pays[pid]
                    row = [pid, p["paid_at"], p["no"], fmt_amount(p["amount"]), p["state"]]
                else:
                    row = [pid, date + " 10:00:00", INV["Q0"][0], "1.00", "PAID"]
                r = rnd.random()
                if r < 0.08: row[4] = "REVERSED" if row[4] == "PAID" else "PAID"
                elif r < 0.12: row[3] = "99.00"
                elif r < 0.15: row = row[:4]
                rows.append(row)
        return rows

    def expect(typ, date, rows):
        out, acc, seen = [], 0, set()
        for i, row in enumerate(rows, 1):
            pid = row[0]
            if typ == "PAY":
                if len(row) != 11: st, f = 202, ""
                elif row[7] != "860": st, f = 202, "currency"
                elif pid in pays or pid in seen: st, f = 301, ""
                else:
                    iv = byno(row[2]); a = tiy(row[6])
                    if iv is None: st = 4
                    elif iv["st"] == "CANCELLED" or bal(iv["no"]) >= iv["due"]: st = 302
                    elif (row[3], row[4]) != (iv["pt"], iv["pid"]): st = 304
                    elif a > iv["due"] - bal(iv["no"]): st = 303
                    else:
                        st = 1; acc += a
                        pays[pid] = dict(no=row[2], amount=a, paid_at=row[1], state="PAID")
                    f = ""
                seen.add(pid)
            elif typ == "REV":
                f = ""
                if pid not in pays: st = 4
                elif pays[pid]["state"] == "REVERSED": st = 307
                elif tiy(row[2]) != pays[pid]["amount"]: st = 305
                else:
                    st = 1; acc += pays[pid]["amount"]; pays[pid]["state"] = "REVERSED"
            else:
                f = ""
                if len(row) != 5: st = 202
                elif row[1][:10] != date: st, f = 202, "paid_at"
                elif pid in seen: st = 301
                elif pid not in pays: st = 4
                else:
                    p = pays[pid]
                    if (row[1], row[2], tiy(row[3]), row[4]) != (p["paid_at"], p["no"], p["amount"], p["state"]): st = 305
                    else: st = 1; acc += tiy(row[3])
                seen.add(pid)
            out.append((i, pid, st, f))
        if typ == "REC":
            for pid in sorted((k for k, p in pays.items() if p["paid_at"][:10] == date and k not in seen), key=lambda s: s.encode()):
                out.append(("", pid, 306, ""))
        return out, fmt_amount(acc)

    for step in range(18):
        r = rnd.random()
        if r < 0.12:
            ch = {}
            for k in MODEL_INV:
                if rnd.random() < 0.4:
                    c = dict(due=rnd.choice(["5.00", "10.00", "15.00", "30.00"]), st=rnd.choice(["OPEN", "OPEN", "CANCELLED"]))
                    ch[k] = c
                    inv[k]["due"] = tiy(c["due"]); inv[k]["st"] = c["st"]
            if os.environ.get("AUDIT_TRACE"): print("EXPORT", step, ch)
            full = {k: dict(due=fmt_amount(inv[k]["due"]), st=inv[k]["st"]) for k in MODEL_INV}
            pr = import_csv(rx, export_with(full), name="m%d.csv" % step)
            if pr.returncode != 0:
                d.append(f"[seed {seed} step {step}] export refused: {pr.stderr.decode()[-200:]}")
            continue
        if done and r < 0.2:
            bid, data, raw = rnd.choice(done)
            if r < 0.16:
                rr = run_archive(rx, bid + ".zip", data)
                if rr.get("raw") != raw:
                    d.append(f"[seed {seed} step {step} {bid}] re-delivery not answered with the stored ACK: {rr.get('name')}")
            else:
                data2 = build_archive(bid, registry(bid.split("_")[2], []), created="2026-11-23T01:00:01+05:00")
                clear_outbox(rx)
                rr = run_archive(rx, bid + ".zip", data2)
                d += [f"[seed {seed} step {step} {bid} other content] " + x for x in
                      check_response(rr, bid + ".zip", data2, nak("B09", created="2026-11-23T01:00:01+05:00"))]
            if d:
                break
            continue
        n = 1 if rnd.random() < 0.5 else rnd.randint(2, 8)
        specs = []
        for _ in range(n):
            typ = rnd.choice(["PAY", "PAY", "REV", "REC"])
            date = rnd.choice(days)
            bid = new_batch(typ, date)
            specs.append((bid, typ, date, gen(typ, date)))
        order = sorted(specs, key=lambda s: (s[2], TYPE_ORDER[s[1]], int(s[0].split("_")[4])))
        datas = []
        for bid, typ, date, rows in specs:
            datas.append((bid, build_archive(bid, registry(typ, rows), created="2026-11-23T01:00:00+05:00")))
        exps = {}
        for bid, typ, date, rows in order:
            exps[bid] = expect(typ, date, rows)
        res = drop_many(rx, datas)
        dd = dict(datas)
        if os.environ.get("AUDIT_TRACE"):
            for bid, typ, date, rows in order:
                print("BATCH", step, bid, [";".join(r) for r in rows], exps[bid][0], "GOT", res.get(bid, {}).get("result_raw"))
        for bid, (rows_e, aa) in exps.items():
            e = ack(rows_e, aa, enc="utf-8", created_at="2026-11-23T01:00:00+05:00")
            diffs = check_response(res.get(bid, {}), bid + ".zip", dd[bid], e)
            d += [f"[seed {seed} step {step} {bid}] " + x for x in diffs]
            done.append((bid, dd[bid], res.get(bid, {}).get("raw")))
        if d:
            break
    return d


@case("§7.2/§9 independent model over random scenarios (PAY/REV/REC from small pools, exports between, batches waiting together)")
def m1_model(rx):
    d = []
    n = int(os.environ.get("AUDIT_SEEDS", "25"))
    for seed in range(n):
        r = new_receiver("m1_%d" % seed)
        d += model_scenario(r, seed)
        if d:
            break
    return d


if __name__ == "__main__":
    run_cases("batches", CASES, lambda c: new_receiver(c[0]))
