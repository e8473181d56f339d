"""certify: a certification dry run, black-box, from the agreement alone (written on 2026-11-24 by
a reviewer playing the partner's certification team, who read AGREEMENT.md, the README and docs/,
never the sources or the tests).

Run: REESTR_BIN=... python3 conformance/certify.py [case-name-substring ...]
(or scripts/conformance.sh certify). Each case builds its inputs, runs the binary in a fresh
receiver folder, and compares with the outcome the agreement requires; the § and sentence are
quoted in the case's docstring. `model_random` runs about 450 random scenarios of PAY, REV and
REC against an independent model of §7.2.

Where the agreement can be read two ways, the case asserts the README's decision ("Decisions
where the agreement is silent") and its docstring gives the other reading: the `readme_*` cases
(a lone CR quoted in result.csv, a leap second in created_at, a line of spaces in control.txt,
bytes around the zip, the same files zipped again, the same bytes under another name, a missing
HMAC with a key configured)."""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *  # noqa
import lib, zlib

CASES = []


def case(f):
    CASES.append(f)
    return f


def rx_for(name, types=None, key=True):
    rx = new_receiver(name, key=key)
    if types is not None:
        with open(rx + "/reestr.toml", "a") as fh:
            fh.write("types = [%s]\n" % ", ".join('"%s"' % t for t in types))
    return rx


def drop(rx, name, data):
    path = os.path.join(rx, "inbox", name)
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.rename(path + ".part", path)
    os.utime(path, (time.time() - 10, time.time() - 10))


def run(rx):
    return sh([BIN, "--config", rx + "/reestr.toml", "run"], check=False)


def rows_of(raw):
    """[(line, pid, status, field)] of a response's result.csv (utf-8)."""
    r = parse_response("x", raw)
    enc = {"utf-8": "utf-8", "windows-1251": "cp1251", "cp866": "cp866"}[r["ctl"].get("encoding", "utf-8")]
    rows = parse_csv(r["result_raw"], enc)[1:]
    return [tuple(x[:4]) for x in rows], r["ctl"]


def expect_rows(label, raw, want, aa=None):
    got, ctl = rows_of(raw)
    want = [(str(a), b, str(c), d) for a, b, c, d in want]
    d = []
    if got != want:
        d.append(f"[{label}] rows:\n        want {want}\n        got  {got}")
    if aa is not None and ctl.get("amount_accepted") != aa:
        d.append(f"[{label}] amount_accepted {ctl.get('amount_accepted')} != {aa}")
    return d


def R(rx, bid, rws, exp, enc="utf-8", label=None, **kw):
    d, r = run1(rx, bid, rws, exp, enc=enc, label=label or bid, **kw)
    return d


D21 = "2026-11-21"


# ---------------------------------------------------------------- REC, byte order
@case
def rec306_byte_order_mixed_lengths(rx):
    """§8: 'then for REC the 306 rows with empty line, in ascending byte order of payment_id'.
    Ids of 12, 13 and 20 digits: byte order differs from numeric order."""
    ids = ["999999999999", "2000000000000", "12345678901234567890", "1000000000000", "100000000000"]
    d = R(rx, bid_of("PAY", 1), [pay_row(p, inv="N10", amount="1.00") for p in ids],
          ack([(i + 1, p, 1, "") for i, p in enumerate(ids)], "5.00"))
    want = sorted(ids, key=lambda s: s.encode())
    d += R(rx, bid_of("REC", 1), [], ack([("", p, 306, "") for p in want], "0.00"))
    return d


@case
def pid_text_identity(rx):
    """§5.1 payment_id '12 to 20 digits; MUNIS transaction id, unique forever'; §7.2 301 'the payment_id
    was applied before'. Ids are digit strings: 012345678901 and 0012345678901 are two ids (both 1);
    REC lists one -> 1, the other -> 306."""
    a, b = "012345678901", "0012345678901"
    d = R(rx, bid_of("PAY", 1), [pay_row(a, inv="N10"), pay_row(b, inv="N10")],
          ack([(1, a, 1, ""), (2, b, 1, "")], "2000.00"))
    d += R(rx, bid_of("REC", 1), [rec_row(a, "1000.00", inv="N10")],
           ack([(1, a, 1, ""), ("", b, 306, "")], "1000.00"))
    return d


@case
def rec_quoted_pid_listed(rx):
    """§5: a quoted field's value is its content; §7.2: 'a payment counts as listed when its payment_id
    appears on any line'. REC with the id quoted -> 1, no 306; a second line with the id quoted
    differently -> 301."""
    p = "555555555555"
    d = R(rx, bid_of("PAY", 1), [pay_row(p, inv="N10")], ack([(1, p, 1, "")], "1000.00"))
    rows = ['"%s";%s 10:00:00;%s;1000.00;PAID' % (p, D21, INV["N10"][0]),
            '%s;"%s 10:00:00";%s;"1000.00";"PAID"' % (p, D21, INV["N10"][0])]
    d += R(rx, bid_of("REC", 1), rows, ack([(1, p, 1, ""), (2, p, 301, "")], "1000.00"))
    return d


@case
def rec_blank_and_short_lines(rx):
    """§5 'a blank line is a row of one empty field'; 'A data row with fewer or more fields than the header
    is a row error (202)'; §7.2 306 'whatever that line's status'. REC: blank line -> 202 (no field);
    a 4-field line naming a payment -> 202 and no 306 for it; an unlisted payment -> 306."""
    p1, p2, p3 = "710000000001", "710000000002", "710000000003"
    d = R(rx, bid_of("PAY", 1), [pay_row(p, inv="N10") for p in (p1, p2, p3)],
          ack([(i + 1, p, 1, "") for i, p in enumerate((p1, p2, p3))]))
    rows = [rec_row(p1, "1000.00", inv="N10"), "", "%s;%s 10:00:00;%s;1000.00" % (p2, D21, INV["N10"][0])]
    d += R(rx, bid_of("REC", 1), rows,
           ack([(1, p1, 1, ""), (2, "", 202, ""), (3, p2, 202, ""), ("", p3, 306, "")], "1000.00"))
    return d


# ---------------------------------------------------------------- waiting together
@case
def rec_before_next_day_pay(rx):
    """§7.2 last bullet: 'Batches that are waiting together are handled in order of business date, then type'.
    REC of the 20th and a PAY of the 21st (carrying a payment paid on the 20th) wait together: the REC goes
    first and does not know it -> 4; the PAY -> 1; a later REC of the 20th (seq 002) -> 1."""
    p = "720000000001"
    b1 = bidn(1, "PAY", "20261121")
    b2 = bidn(1, "REC", "20261120")
    pay_b = build_archive(b1, registry("PAY", [pay_row(p, inv="N10", paid_at="2026-11-20 15:00:00")]))
    rec_b = build_archive(b2, registry("REC", [rec_row(p, "1000.00", inv="N10", paid_at="2026-11-20 15:00:00")]))
    drop(rx, b2 + ".zip", rec_b)
    drop(rx, b1 + ".zip", pay_b)
    run(rx)
    o = outbox(rx)
    d = []
    d += expect_rows("REC20", o[resp_name(b2, "ACK")], [(1, p, 4, "")], "0.00")
    d += expect_rows("PAY21", o[resp_name(b1, "ACK")], [(1, p, 1, "")], "1000.00")
    d += R(rx, bidn(2, "REC", "20261120"), [rec_row(p, "1000.00", inv="N10", paid_at="2026-11-20 15:00:00")],
           ack([(1, p, 1, "")], "1000.00"))
    return d


@case
def waiting_type_then_seq(rx):
    """§7.2 last bullet: order of business date, then type (PAY, REV, REC), then sequence number.
    Dropped in reverse: REC 21/001, REV 21/001, PAY 21/010, PAY 21/002 (pays invoice C fully), PAY 21/001.
    PAY 001 pays 100000.00; PAY 002 pays 200000.00 (C full); PAY 010 pays 0.01 -> 302; REV reverses
    PAY 001's payment -> 1; REC lists both with right states -> 1, 1; 306 for PAY 010? no (not applied)."""
    C = INV["C"]
    pa, pb, pc = "730000000001", "730000000002", "730000000003"
    bs = {
        bidn(1): build_archive(bidn(1), registry("PAY", [pay_row(pa, inv="C", amount="100000.00")])),
        bidn(2): build_archive(bidn(2), registry("PAY", [pay_row(pb, inv="C", amount="200000.00")])),
        bidn(10): build_archive(bidn(10), registry("PAY", [pay_row(pc, inv="C", amount="0.01")])),
        bidn(1, "REV"): build_archive(bidn(1, "REV"), registry("REV", [rev_row(pa, "100000.00")])),
        bidn(1, "REC"): build_archive(bidn(1, "REC"), registry("REC", [
            rec_row(pb, "200000.00", inv="C"), rec_row(pa, "100000.00", inv="C", state="REVERSED")])),
    }
    for b in reversed(list(bs)):
        drop(rx, b + ".zip", bs[b])
    run(rx)
    o = outbox(rx)
    d = []
    d += expect_rows("PAY1", o[resp_name(bidn(1), "ACK")], [(1, pa, 1, "")])
    d += expect_rows("PAY2", o[resp_name(bidn(2), "ACK")], [(1, pb, 1, "")])
    d += expect_rows("PAY10", o[resp_name(bidn(10), "ACK")], [(1, pc, 302, "")], "0.00")
    d += expect_rows("REV", o[resp_name(bidn(1, "REV"), "ACK")], [(1, pa, 1, "")], "100000.00")
    d += expect_rows("REC", o[resp_name(bidn(1, "REC"), "ACK")], [(1, pb, 1, ""), (2, pa, 1, "")], "300000.00")
    return d


# ---------------------------------------------------------------- partial payments / reversal
@case
def balance_boundaries(rx):
    """§7.2: 'Partial payments are allowed: an invoice is paid when its payments reach its amount due.
    A reversal re-opens the amount it reversed.' 303 'amount exceeds the invoice's outstanding balance';
    302 'already fully paid'. Invoice C due 300000.00."""
    d = R(rx, bid_of("PAY", 1), [pay_row("740000000001", inv="C", amount="299999.99"),
                                  pay_row("740000000002", inv="C", amount="0.02"),
                                  pay_row("740000000003", inv="C", amount="0.01"),
                                  pay_row("740000000004", inv="C", amount="0.01")],
          ack([(1, "740000000001", 1, ""), (2, "740000000002", 303, ""), (3, "740000000003", 1, ""),
               (4, "740000000004", 302, "")], "300000.00"))
    d += R(rx, bid_of("REV", 1), [rev_row("740000000003", "0.01"), rev_row("740000000003", "0.01")],
           ack([(1, "740000000003", 1, ""), (2, "740000000003", 307, "")], "0.01"))
    d += R(rx, bid_of("PAY", 2), [pay_row("740000000005", inv="C", amount="0.02"),
                                  pay_row("740000000003", inv="C", amount="0.01"),
                                  pay_row("740000000006", inv="C", amount="0.01"),
                                  pay_row("740000000007", inv="C", amount="0.01")],
           ack([(1, "740000000005", 303, ""), (2, "740000000003", 301, ""), (3, "740000000006", 1, ""),
                (4, "740000000007", 302, "")], "0.01"))
    # REV of the big one re-opens 299999.99; REV amount differs on reversed -> 307 before 305
    d += R(rx, bid_of("REV", 2), [rev_row("740000000001", "299999.98"), rev_row("740000000001", "299999.99"),
                                  rev_row("740000000003", "5.00"), rev_row("740000000004", "0.01")],
           ack([(1, "740000000001", 305, ""), (2, "740000000001", 1, ""), (3, "740000000003", 307, ""),
                (4, "740000000004", 4, "")], "299999.99"))
    d += R(rx, bid_of("PAY", 3), [pay_row("740000000008", inv="C", amount="300000.00"),
                                  pay_row("740000000009", inv="C", amount="299999.99")],
           ack([(1, "740000000008", 303, ""), (2, "740000000009", 1, "")], "299999.99"))
    return d


@case
def amount_accepted_small(rx):
    """§8 'amount_accepted (sum of their amounts, 2 decimals)'; §5 amounts exact, leading zeros allowed by
    [0-9]{1,13}\\.[0-9]{2}. 0.05 + 0.07 + 000.10 -> 0.22; REV amount_accepted; REC with a REVERSED row."""
    d = R(rx, bid_of("PAY", 1), [pay_row("750000000001", inv="N10", amount="0.05"),
                                  pay_row("750000000002", inv="N10", amount="0.07"),
                                  pay_row("750000000003", inv="N10", amount="000.10")],
          ack([(1, "750000000001", 1, ""), (2, "750000000002", 1, ""), (3, "750000000003", 1, "")], "0.22"))
    d += R(rx, bid_of("REV", 1), [rev_row("750000000003", "0.10")], ack([(1, "750000000003", 1, "")], "0.10"))
    d += R(rx, bid_of("REC", 1), [rec_row("750000000001", "0.05", inv="N10"),
                                  rec_row("750000000003", "0000.10", inv="N10", state="REVERSED"),
                                  rec_row("750000000002", "0.08", inv="N10")],
           ack([(1, "750000000001", 1, ""), (2, "750000000003", 1, ""), (3, "750000000002", 305, "")], "0.15"))
    return d


# ---------------------------------------------------------------- field rules
@case
def nonascii_digits(rx):
    """§5.1 'digits' and §5 amount pattern [0-9]: non-ASCII digits (fullwidth, Arabic-Indic) are not digits
    -> 202 naming the field, in every digit field of PAY."""
    fw = lambda s: "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in s)
    ar = lambda s: "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in s)
    base = pay_row("760000000000", inv="B", amount="1.00")
    specs = [(0, fw("760000000001"), "payment_id"), (0, ar("760000000002"), "payment_id"),
             (1, fw(D21) + " 10:00:00", "paid_at"), (2, fw(INV["B"][0]), "invoice_no"),
             (4, fw(TIN1), "payer_id"), (6, fw("1.00"), "amount"), (7, fw("860"), "currency"),
             (8, ar(MFO), "bank_mfo"), (9, ar(ACC), "account")]
    rows, exp = [], []
    for i, (col, val, fld) in enumerate(specs):
        r = list(base)
        r[0] = "7600000001%02d" % i
        r[col] = val
        rows.append(r)
        exp.append((i + 1, r[0], 202, fld))
    return R(rx, bid_of("PAY", 1), rows, ack(exp, "0.00"))


@case
def pinfl_century_edges(rx):
    """§5.4 PINFL: digit 1 (1-2: 1800s, 3-4: 1900s, 5-6: 2000s); digits 2-7 a valid DDMMYY in that century;
    check digit. 29.02.00 valid only in the 2000s; 29.02.04 valid in 1904/2004 but 1804 too (leap);
    31.12.99 valid; 31.11 / 00 day / 00 month invalid. Valid ids differ from invoice A's payer -> 304."""
    spec = [("1 29.02.00 (1800)", make_pinfl("1290200000001"), False),
            ("3 29.02.00 (1900)", make_pinfl("3290200000001"), False),
            ("5 29.02.00 (2000)", make_pinfl("5290200000001"), True),
            ("6 29.02.00 (2000)", make_pinfl("6290200000001"), True),
            ("2 29.02.04 (1804)", make_pinfl("2290204000001"), True),
            ("4 29.02.96 (1996)", make_pinfl("4290296000001"), True),
            ("2 29.02.96 (1896)", make_pinfl("2290296000001"), True),
            ("1 31.12.99", make_pinfl("1311299000001"), True),
            ("3 31.11.99", make_pinfl("3311199000001"), False),
            ("5 00.01.10", make_pinfl("5000110000001"), False),
            ("5 01.00.10", make_pinfl("5010010000001"), False),
            ("5 01.13.10", make_pinfl("5011310000001"), False),
            ("bad check", make_pinfl("5010110000001")[:13] + str((int(make_pinfl("5010110000001")[13]) + 1) % 10), False)]
    rows, exp = pinfl_rows("7700000000", spec)
    d = R(rx, bid_of("PAY", 1), rows, ack(exp, "0.00"))
    return d + (pinfl_diffs_safe(rx, spec) if d else [])


def pinfl_diffs_safe(rx, spec):
    return ["    " + lab + " = " + val for lab, val, ok in spec]


@case
def account_key_edges(rx):
    """§5.4 account key: key 9 if r=0, 0 if r=1, else 11-r. Builds accounts for several mfo values hitting
    r=0, r=1, r=2, r=10 and checks the right key -> 1 (or 304-free: invoice N10 payer) and every other key -> 202 account."""
    import itertools
    rows, exp, n = [], [], 0
    wantr = {0: None, 1: None, 2: None, 10: None}
    for mfo, tail in itertools.product(["00014", "00083", "01018", "00450"], range(0, 4000)):
        a = "2020%04d0%011d" % (tail, tail * 7)
        s = mfo + a[0:8] + a[9:20] + "9"
        t = sum(int(s[i]) * int(s[i + 1]) for i in range(24))
        r = t % 11
        if r in wantr and wantr[r] is None:
            wantr[r] = (mfo, a)
        if all(wantr.values()):
            break
    amt = "1.00"
    tot = 0
    for r, (mfo, a) in sorted(wantr.items()):
        key = "9" if r == 0 else ("0" if r == 1 else str(11 - r))
        for k in "0123456789":
            acct = a[:8] + k + a[9:]
            pid = "7800000%05d" % n
            n += 1
            rows.append(pay_row(pid, inv="N10", amount=amt, mfo=mfo, account=acct))
            ok = k == key
            exp.append((n, pid, 1 if ok else 202, "" if ok else "account"))
            tot += 100 if ok else 0
    return R(rx, bid_of("PAY", 1), rows, ack(exp, fmt_amount(tot)))


@case
def datetime_leap_centuries(rx):
    """§5 'Datetimes are YYYY-MM-DD HH:MM:SS': a real calendar datetime. paid_at 2000-02-29 and 1600-02-29 are
    dates (not after created_at) -> 1; 1900-02-29, 2026-02-29, 2100-02-29 are not -> 202 paid_at;
    2024-02-29 -> 1; 2026-04-31 -> 202."""
    vals = [("2000-02-29 10:00:00", True), ("1600-02-29 10:00:00", True), ("2024-02-29 23:59:59", True),
            ("1900-02-29 10:00:00", False), ("2026-02-29 10:00:00", False), ("2100-02-29 10:00:00", False),
            ("2026-04-31 10:00:00", False), ("2026-11-21 23:59:60", False)]
    rows, exp, tot = [], [], 0
    for i, (v, ok) in enumerate(vals):
        pid = "79000000%04d" % i
        rows.append(pay_row(pid, inv="N10", paid_at=v))
        exp.append((i + 1, pid, 1 if ok else 202, "" if ok else "paid_at"))
        tot += 100000 if ok else 0
    return R(rx, bid_of("PAY", 1), rows, ack(exp, fmt_amount(tot)))


@case
def lengths_win1251_reason_and_name(rx):
    """§5.1/§5.2: payer_name 1 to 200 characters, reason 1 to 200, purpose 0 to 500, counted in characters:
    Cyrillic in windows-1251 (1 byte each) and UTF-8 (2 bytes): 200 -> ok, 201 -> 202."""
    d = []
    for enc, seq in (("windows-1251", 1), ("utf-8", 2), ("cp866", 3)):
        nm200, nm201 = "Ж" * 200, "Ж" * 201
        p500, p501 = "Ё" * 500, "Ё" * 501
        pfx = "80%d" % seq
        rows = [pay_row(pfx + "000000001", inv="N10", name=nm200), pay_row(pfx + "000000002", inv="N10", name=nm201),
                pay_row(pfx + "000000003", inv="N10", purpose=p500), pay_row(pfx + "000000004", inv="N10", purpose=p501)]
        d += R(rx, bid_of("PAY", seq), rows, ack([(1, rows[0][0], 1, ""), (2, rows[1][0], 202, "payer_name"),
                                                  (3, rows[2][0], 1, ""), (4, rows[3][0], 202, "purpose")], "2000.00"),
               enc=enc)
        rrows = [rev_row(rows[0][0], "1000.00", reason="Щ" * 201), rev_row(rows[0][0], "1000.00", reason="Щ" * 200)]
        d += R(rx, bid_of("REV", seq), rrows, ack([(1, rows[0][0], 202, "reason"), (2, rows[0][0], 1, "")], "1000.00"),
               enc=enc)
    return d


# ---------------------------------------------------------------- names
@case
def names_set_aside(rx):
    """§2: 'A file whose name does not have this form (including an impossible date ...) cannot be answered:
    the receiver sets it aside with a reason'; §8 'no response is written'. SEQ of 2 and 7 digits, party
    of 1 and 17 characters, lower-case party or type, unknown TYPE, 21000229 and 19000229, month 00,
    '.ZIP', double extension."""
    good = pay("MUNIS_SUDBILLING_PAY_20261121_001", ["810000000001"], inv="N10")
    names = ["MUNIS_SUDBILLING_PAY_20261121_01.zip", "MUNIS_SUDBILLING_PAY_20261121_1234567.zip",
             "M_SUDBILLING_PAY_20261121_001.zip", "MUNISMUNISMUNISMU_SUDBILLING_PAY_20261121_001.zip",
             "munis_SUDBILLING_PAY_20261121_001.zip", "MUNIS_SUDBILLING_pay_20261121_001.zip",
             "MUNIS_SUDBILLING_FEE_20261121_001.zip", "MUNIS_SUDBILLING_PAY_21000229_001.zip",
             "MUNIS_SUDBILLING_PAY_19000229_001.zip", "MUNIS_SUDBILLING_PAY_20260021_001.zip",
             "MUNIS_SUDBILLING_PAY_20261121_001.ZIP", "MUNIS_SUDBILLING_PAY_20261121_001.zip.zip",
             "MUNIS_SUDBILLING_PAY_2026112_001.zip", "MUNIS-SUDBILLING_PAY_20261121_001.zip",
             "MUNIS_SUDBILLING_PAY_20261121_001_.zip", "MUNIS_SUDBILLING_PAY_20261121_00a.zip"]
    for n in names:
        drop(rx, n, good)
    p = run(rx)
    d = []
    left = sorted(os.listdir(rx + "/inbox"))
    if left:
        d.append(f"files left in the inbox: {left}")
    o = outbox(rx)
    if o:
        d.append(f"responses written for unparsable names: {sorted(o)}")
    sa = [f for f in os.listdir(rx + "/var/set-aside") if f.endswith(".bin")] if os.path.isdir(rx + "/var/set-aside") else []
    st = sh([BIN, "--config", rx + "/reestr.toml", "status", "--json"], check=False).stdout.decode(errors="replace")
    miss = [n for n in names if n not in st]
    if miss:
        d.append(f"status does not name set-aside files: {miss}")
    if not sa:
        d.append("nothing in var/set-aside")
    return d


@case
def names_answered(rx):
    """§2: SENDER/RECEIVER [A-Z0-9]{2,16}, SEQ 3 to 6 digits; 20000229 is a date. §7.1 B10 'sender, receiver or
    type not configured'; §8 NAK name uses own code and inbound sender; signed only when a key is configured
    for that sender. Cases: 20000229 -> ACK; SEQ 123456 -> ACK; 16-char unknown sender -> B10 unsigned;
    2-char sender 'M1' -> B10; receiver 'SUDBILLING2' -> B10 from SUDBILLING, signed."""
    d = []
    b = "MUNIS_SUDBILLING_PAY_20000229_001"
    d += R(rx, b, None, ack([(1, "820000000001", 1, "")], created_at="2000-03-01T00:00:00+05:00"),
           data=build_archive(b, registry("PAY", [pay_row("820000000001", inv="N10", paid_at="2000-02-29 10:00:00")]),
                              created="2000-03-01T00:00:00+05:00"))
    b = "MUNIS_SUDBILLING_PAY_20261121_123456"
    d += R(rx, b, [pay_row("820000000002", inv="N10")], ack([(1, "820000000002", 1, "")]))
    for snd in ("ABCDEFGHIJKLMNOP", "M1"):
        b = f"{snd}_SUDBILLING_PAY_20261121_001"
        d += R(rx, b, [pay_row("820000000003", inv="N10")], nak("B10", key=False), key=None)
    b = "MUNIS_SUDBILLING2_PAY_20261121_001"
    data = build_archive(b, registry("PAY", [pay_row("820000000004", inv="N10")]))
    r = run_archive(rx, b + ".zip", data)
    want = "SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip"
    if r.get("name") != want:
        d.append(f"[wrong receiver] response {r.get('name')} != {want}")
    else:
        c = r["ctl"]
        if c.get("error") != "B10" or c.get("sender") != "SUDBILLING" or c.get("in_reply_to") != b:
            d.append(f"[wrong receiver] control {c}")
        if "manifest.sha256.hmac" not in r["entries"]:
            d.append("[wrong receiver] response not signed")
    return d


@case
def type_not_configured(rx):
    """§7.1 B10 'type not configured at this receiver': partner types = [PAY]; a REV -> B10 (created_at copied),
    a REC -> B10; a PAY -> ACK."""
    rx2 = rx_for("type_not_configured2", types=["PAY"])
    d = R(rx2, bid_of("PAY", 1), [pay_row("830000000001", inv="N10")], ack([(1, "830000000001", 1, "")]))
    d += R(rx2, bid_of("REV", 1), [rev_row("830000000001", "1000.00")], nak("B10"))
    d += R(rx2, bid_of("REC", 1), [rec_row("830000000001", "1000.00", inv="N10")], nak("B10"))
    return d


# ---------------------------------------------------------------- zip / manifest / hmac
@case
def hmac_line_ends(rx):
    """§6: 'lowercase hex HMAC-SHA256 ... optionally followed by one line end'. LF -> ACK, CRLF -> ACK
    (line end is LF or CRLF in the agreement), none -> ACK; two LFs, upper-case, leading space,
    trailing space -> B05."""
    d = []
    variants = [("none", lambda h: h.encode(), "ACK"), ("LF", lambda h: (h + "\n").encode(), "ACK"),
                ("CRLF", lambda h: (h + "\r\n").encode(), "ACK"), ("LFLF", lambda h: (h + "\n\n").encode(), "B05"),
                ("upper", lambda h: h.upper().encode(), "B05"), ("space", lambda h: (" " + h).encode(), "B05"),
                ("trail space", lambda h: (h + " ").encode(), "B05"), ("CR", lambda h: (h + "\r").encode(), "B05")]
    for i, (lab, f, res) in enumerate(variants):
        pid = "8400000000%02d" % i
        b = bid_of("PAY", 100 + i)
        exp = ack([(1, pid, 1, "")]) if res == "ACK" else nak(res)
        d += R(rx, b, [pay_row(pid, inv="N10")], exp, label="hmac " + lab, hmac_mod=f)
    return d


@case
def manifest_forms(rx):
    """§6 manifest: '<64 lowercase hex><two spaces><file name>, each line ending with LF ... Every listed file
    must exist and match; every such file must be listed.' Listing manifest.sha256.hmac or a file not in
    the archive, missing final LF, CRLF, one space, '*' binary marker -> B04 (after a right HMAC)."""
    d = []
    reg = registry("PAY", [pay_row("850000000001", inv="N10")])
    b0 = bid_of("PAY", 1)
    ctl = control_text(b0, "PAY", "utf-8", *count_amounts(reg, "utf-8", "PAY"))
    good = "".join(f"{sha(x)}  {n}\n" for n, x in (("control.txt", ctl), ("registry.csv", reg)))
    forms = [("lists hmac", good + f"{'0' * 64}  manifest.sha256.hmac\n"),
             ("lists absent", good + f"{sha(b'')}  extra.txt\n"),
             ("no final LF", good[:-1]), ("CRLF", good.replace("\n", "\r\n")),
             ("one space", good.replace("  ", " ")), ("binary *", good.replace("  ", " *")),
             ("order swapped", "".join(reversed(good.splitlines(True)))),
             ("registry twice", good + good.splitlines(True)[1])]
    for i, (lab, man) in enumerate(forms):
        b = bid_of("PAY", 10 + i)
        reg = registry("PAY", [pay_row("8500000001%02d" % i, inv="N10")])
        ctl = control_text(b, "PAY", "utf-8", *count_amounts(reg, "utf-8", "PAY"))
        good_i = "".join(f"{sha(x)}  {n}\n" for n, x in (("control.txt", ctl), ("registry.csv", reg)))
        man_i = {"lists hmac": good_i + f"{'0' * 64}  manifest.sha256.hmac\n",
                 "lists absent": good_i + f"{sha(b'')}  extra.txt\n",
                 "no final LF": good_i[:-1], "CRLF": good_i.replace("\n", "\r\n"),
                 "one space": good_i.replace("  ", " "), "binary *": good_i.replace("  ", " *"),
                 "order swapped": "".join(reversed(good_i.splitlines(True))),
                 "registry twice": good_i + good_i.splitlines(True)[1]}[lab]
        exp = ack([(1, "8500000001%02d" % i, 1, "")]) if lab == "order swapped" else nak("B04")
        d += R(rx, b, None, exp, label="manifest " + lab,
               data=build_archive(b, reg, control=ctl, manifest=man_i.encode()))
    return d


@case
def order_b03_b05_b04(rx):
    """§7.1 order B10, B09, B01, B02, B03, B05, B04, B06, B07, B08. HMAC entry missing (key configured) plus an
    extra entry -> B03; wrong HMAC + manifest mismatch + bad control -> B05; manifest mismatch + B06 + B07
    + B08 -> B04; B06 + B07 + B08 -> B06; B07 + B08 -> B07."""
    d = []
    reg = registry("PAY", [pay_row("860000000001", inv="N10")])
    b = bid_of("PAY", 1)
    d += R(rx, b, None, nak("B03"), label="extra + hmac missing",
           data=build_archive(b, reg, key=None, extra_files=[("notes.txt", b"x")]))
    b = bid_of("PAY", 2)
    bad_ctl = control_text(b, "PAY", "utf-8", 1, "1000.00", extra=[("foo", "1")])
    d += R(rx, b, None, nak("B05"), label="hmac wrong + manifest wrong + B06",
           data=build_archive(b, reg, control=bad_ctl, manifest=b"0" * 64 + b"  control.txt\n", hmac_val=b"0" * 64))
    b = bid_of("PAY", 3)
    bad_reg = registry("PAY", [pay_row("860000000002", inv="N10")]) + b"\xff;x\r\n"
    ctl = control_text(b, "PAY", "utf-8", 7, "5.00", extra=[("foo", "1")])
    man = f"{sha(ctl)}  control.txt\n{sha(b'different')}  registry.csv\n".encode()
    d += R(rx, b, None, nak("B04"), label="B04+B06+B07+B08", data=build_archive(b, bad_reg, control=ctl, manifest=man))
    b = bid_of("PAY", 4)
    ctl = control_text(b, "PAY", "utf-8", 7, "5.00", extra=[("foo", "1")])
    d += R(rx, b, None, nak("B06"), label="B06+B07+B08", data=build_archive(b, bad_reg, control=ctl))
    b = bid_of("PAY", 5)
    ctl = control_text(b, "PAY", "utf-8", 7, "5.00")
    d += R(rx, b, None, nak("B07"), label="B07+B08", data=build_archive(b, bad_reg, control=ctl))
    return d


# ---------------------------------------------------------------- encodings
@case
def encodings_bom_mixups(rx):
    """§5 'A UTF-8 file may start with a BOM' (only UTF-8); §7.1 B07 'header differs ... or bytes invalid in
    the declared encoding'. UTF-8 BOM + declared windows-1251 -> B07 (header reads 'п»ї payment_id');
    declared cp866 with UTF-8 BOM -> B07; declared utf-8, BOM, windows-1251 Cyrillic bytes -> B07;
    declared windows-1251 holding UTF-8 'И' (D0 98) -> B07 (0x98 undefined, README decision);
    declared windows-1251 holding UTF-8 'Ж' (D0 96) -> valid bytes -> ACK with payer_name as read."""
    d = []
    rows = [pay_row("870000000001", inv="N10", name="Жора")]
    d += R(rx, bid_of("PAY", 1), None, nak("B07"), label="bom+1251",
           data=build_archive(bid_of("PAY", 1), registry("PAY", rows, enc="cp1251", bom=True), enc="windows-1251"))
    d += R(rx, bid_of("PAY", 2), None, nak("B07"), label="bom+cp866",
           data=build_archive(bid_of("PAY", 2), registry("PAY", rows, enc="cp866", bom=True), enc="cp866"))
    d += R(rx, bid_of("PAY", 3), None, nak("B07"), label="utf8 decl, 1251 bytes",
           data=build_archive(bid_of("PAY", 3), registry("PAY", rows, enc="cp1251", bom=True), enc="utf-8", rows=1, total="1000.00"))
    rows2 = [pay_row("870000000002", inv="N10", name="Иван")]
    d += R(rx, bid_of("PAY", 4), None, nak("B07"), label="1251 decl, utf8 D0 98",
           data=build_archive(bid_of("PAY", 4), registry("PAY", rows2, enc="utf-8"), enc="windows-1251", rows=1, total="1000.00"))
    rows3 = [pay_row("870000000003", inv="N10", name="Жора")]
    d += R(rx, bid_of("PAY", 5), None, ack([(1, "870000000003", 1, "")], enc="windows-1251"), label="1251 decl, utf8 Ж",
           data=build_archive(bid_of("PAY", 5), registry("PAY", rows3, enc="utf-8"), enc="windows-1251", rows=1, total="1000.00"))
    return d


@case
def result_encoding_echo(rx):
    """§8 result.csv 'uses the encoding of the inbound registry'; 'quotes a field only when it must (§5)'.
    windows-1251 and cp866 PAY whose bad payment_ids hold Cyrillic, ';', a leading '"' and an inner '"'
    are echoed as the same characters in that encoding."""
    d = []
    for seq, enc in ((1, "windows-1251"), (2, "cp866")):
        pids = ["Жук12345", 'a"b', ";x", '"q']
        rows = []
        for p in pids:
            r = pay_row("0", inv="N10")
            r[0] = q(p) if (";" in p or p.startswith('"')) else p
            rows.append(r)
        d += R(rx, bid_of("PAY", seq), rows, ack([(i + 1, p, 202, "payment_id") for i, p in enumerate(pids)], "0.00"),
               enc=enc)
    return d


# ---------------------------------------------------------------- CSV edges
@case
def csv_rows_and_lines(rx):
    """§5: quoted line breaks inside a field (one row); a blank line is a row; last line end optional; a '"'
    inside an unquoted field is ordinary; §4 rows counts data rows; §8 'line' is the 1-based data row."""
    p1, p2, p3 = "880000000001", "880000000002", "880000000003"
    r1 = pay_row(p1, inv="N10", purpose=q("a\r\nb\nc;d\"e"))
    r2 = pay_row(p2, inv="N10", name='Ali "Bek"', purpose='x"y')
    r3 = pay_row(p3, inv="N10")
    body = (PAY_HDR + "\n" + ";".join(r1) + "\r\n\r\n" + ";".join(r2) + "\n" + ";".join(r3)).encode()
    d = R(rx, bid_of("PAY", 1), body, ack([(1, p1, 1, ""), (2, "", 202, ""), (3, p2, 1, ""), (4, p3, 1, "")], "3000.00"))
    # quoted field open at EOF -> B07; text after closing quote -> B07
    body2 = (PAY_HDR + "\n" + ";".join(pay_row("880000000004", inv="N10")[:-1]) + ';"open\r\n').encode()
    d += R(rx, bid_of("PAY", 2), body2, nak("B07"), rows=1, total="1000.00", label="open quote")
    body3 = (PAY_HDR + "\n" + ";".join(pay_row("880000000005", inv="N10")[:-1]) + ';"closed"x\r\n').encode()
    d += R(rx, bid_of("PAY", 3), body3, nak("B07"), rows=1, total="1000.00", label="after close")
    return d


@case
def csv_header_only_no_eol(rx):
    """§5 'last line end optional': a registry that is the header alone without a line end -> rows=0 ACK;
    header + row without final line end, windows-1251 -> ACK."""
    d = R(rx, bid_of("PAY", 1), PAY_HDR.encode(), ack([], "0.00"))
    body = (PAY_HDR + "\r\n" + ";".join(pay_row("890000000001", inv="N10", name="Ёлка"))).encode("cp1251")
    d += R(rx, bid_of("PAY", 2), body, ack([(1, "890000000001", 1, "")], "1000.00"), enc="windows-1251")
    return d


# ---------------------------------------------------------------- response details
@case
def entry_times_and_created_at(rx):
    """§8 created_at copied as written; 'zip entry times set to the local date and time written in created_at
    (seconds rounded down to even)'. 23:59:59 on 31 Dec -> 23:59:58; fraction .999 with Z; a 29 Feb;
    NAK B08 too."""
    d = []
    for i, ca in enumerate(["2026-12-31T23:59:59+05:00", "2026-11-22T01:05:01.999Z", "2028-02-29T00:00:01-11:00"]):
        b = bid_of("PAY", 1 + i)
        d += R(rx, b, [pay_row("9000000000%02d" % i, inv="N10", paid_at="2026-11-21 00:00:00")],
               ack([(1, "9000000000%02d" % i, 1, "")], created_at=ca), created=ca)
    b = bid_of("PAY", 9)
    d += R(rx, b, [pay_row("900000000099", inv="N10")], nak("B08", created="2026-11-22T01:05:03+05:00"),
           created="2026-11-22T01:05:03+05:00", total="1.00")
    return d


@case
def created_at_fallbacks(rx):
    """§8 created_at 'the inbound created_at, copied as written, when the archive passed the B01 and B02 checks
    and its control.txt has exactly one created_at line with a valid value; otherwise business_date at
    00:00:00+05:00'. B05 with valid created_at -> copied; B04 -> copied; B06 from an invalid created_at
    -> fallback; B03 (no control.txt) -> fallback; B07 -> copied; B01 -> fallback."""
    d = []
    reg = registry("PAY", [pay_row("910000000001", inv="N10")])
    b = bid_of("PAY", 1)
    d += R(rx, b, None, nak("B05", created="2026-11-21T23:00:00-01:00"), created="2026-11-21T23:00:00-01:00",
           data=build_archive(b, reg, created="2026-11-21T23:00:00-01:00", hmac_val=b"1" * 64))
    b = bid_of("PAY", 2)
    d += R(rx, b, None, nak("B06", created="fallback"),
           data=build_archive(b, reg, created="2026-11-22T01:05:00"))
    b = bid_of("PAY", 3)
    files = [("registry.csv", reg)]
    man = "".join(f"{sha(x)}  {n}\n" for n, x in files).encode()
    data = build_zip(files + [("manifest.sha256", man), ("manifest.sha256.hmac", hmac.new(KEY, man, hashlib.sha256).hexdigest().encode())])
    d += R(rx, b, None, nak("B03", created="fallback"), data=data)
    b = bid_of("PAY", 4)
    d += R(rx, b, None, nak("B01", created="fallback"), data=build_archive(b, reg)[:-30])
    return d


# ---------------------------------------------------------------- re-delivery
@case
def redelivery_chain(rx):
    """§1/§7.1: NAKed id re-sent with corrected content -> judged afresh (ACK); same corrected bytes again ->
    stored ACK byte for byte and nothing applied twice; the NAKed bytes again -> B09 (the id was processed);
    a third content -> B09; an ACK is never re-made for a different batch."""
    d = []
    b = bid_of("PAY", 1)
    p = "920000000001"
    bad = build_archive(b, registry("PAY", [pay_row(p, inv="C", amount="300000.00")]), total="1.00")
    r1 = run_archive(rx, b + ".zip", bad)
    if r1.get("ctl", {}).get("error") != "B08":
        d.append(f"first: {r1.get('ctl')}")
    good = build_archive(b, registry("PAY", [pay_row(p, inv="C", amount="300000.00")]), created="2026-11-22T02:00:00+05:00")
    r2 = run_archive(rx, b + ".zip", good)
    d += check_response(r2, b + ".zip", good, ack([(1, p, 1, "")], "300000.00", created_at="2026-11-22T02:00:00+05:00", enc="utf-8"))
    clear_outbox(rx)
    r3 = run_archive(rx, b + ".zip", good)
    if r3.get("raw") != r2.get("raw"):
        d.append("re-sent ACK differs from the first")
    r4 = run_archive(rx, b + ".zip", bad)
    d += check_response(r4, b + ".zip", bad, nak("B09", created="2026-11-22T01:05:00+05:00"))
    # books: invoice C fully paid once -> a new 0.01 payment is 302
    d += R(rx, bid_of("PAY", 2), [pay_row("920000000002", inv="C", amount="0.01")], ack([(1, "920000000002", 302, "")], "0.00"))
    return d


@case
def redelivery_in_waiting_group(rx):
    """§7.1 'the stored ACK is sent again ... before any other check': a re-delivered ACKed PAY waits together with
    a REV of an earlier business date reversing its payment. The re-delivery is not applied again; the REV -> 1.
    Then REC of that day lists the payment REVERSED -> 1."""
    d = []
    b = bidn(1, "PAY", "20261121")
    p = "930000000001"
    data = build_archive(b, registry("PAY", [pay_row(p, inv="N10")]))
    r1 = run_archive(rx, b + ".zip", data)
    clear_outbox(rx)
    rv = bidn(1, "REV", "20261120")
    rvdata = build_archive(rv, registry("REV", [rev_row(p, "1000.00", at="2026-11-20 12:00:00")]),
                           created="2026-11-22T01:05:00+05:00")
    drop(rx, b + ".zip", data)
    drop(rx, rv + ".zip", rvdata)
    run(rx)
    o = outbox(rx)
    if o.get(resp_name(b, "ACK")) != r1.get("raw"):
        d.append("stored ACK not re-sent byte for byte")
    d += expect_rows("REV20", o[resp_name(rv, "ACK")], [(1, p, 1, "")], "1000.00")
    d += R(rx, bid_of("REC", 1), [rec_row(p, "1000.00", inv="N10", state="REVERSED")], ack([(1, p, 1, "")], "1000.00"))
    return d


# ---------------------------------------------------------------- exports
@case
def export_lengths_cyrillic(rx):
    """§9 court_code 1 to 10 characters, case_no 1 to 40, payer_name as in PAY (1 to 200): counted in
    characters of the UTF-8 export. 10/40/200 Cyrillic -> loaded (a PAY then pays it -> 1); 11 or 41 or 201
    -> refused whole (a PAY of an invoice only in the refused export -> 4)."""
    hdr = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"
    ok = f"20000000000000000001;{'Ж' * 10};{'Щ' * 40};P;{P1};{'Я' * 200};100.00;2026-01-10 10:00:00;OPEN"
    path = rx + "/exp1.csv"
    open(path, "wb").write((hdr + "\r\n" + ok + "\r\n").encode())
    p = sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", path], check=False)
    d = []
    if p.returncode != 0:
        d.append(f"export with 10/40/200 Cyrillic refused: {p.stderr.decode()[-400:]}")
    for i, line in enumerate([f"2000000000000000000{2+i};{cc};{cn};P;{P1};{nm};100.00;2026-01-10 10:00:00;OPEN"
                              for i, (cc, cn, nm) in enumerate([("Ж" * 11, "x", "y"), ("x", "Щ" * 41, "y"), ("x", "y", "Я" * 201)])]):
        path = rx + f"/exp_bad{i}.csv"
        open(path, "wb").write((hdr + "\r\n" + line + "\r\n").encode())
        p = sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", path], check=False)
        if p.returncode != 1:
            d.append(f"export bad{i} exit {p.returncode}, want 1 (refused)")
    rows = [pay_row("940000000001", inv="20000000000000000001", amount="100.00", payer=P1, name="Я" * 200),
            pay_row("940000000002", inv="20000000000000000002", amount="1.00", payer=P1)]
    d += R(rx, bid_of("PAY", 1), rows, ack([(1, "940000000001", 1, ""), (2, "940000000002", 4, "")], "100.00"))
    return d


@case
def export_payer_change_then_pay(rx):
    """§9 'a later export updates invoices by invoice_no'; §7.2 304 'payer differs from the invoice's payer'.
    Invoice changed from P/P1 to J/TIN: a PAY with the old payer -> 304, with the new -> 1; the payment made
    before the change stays (REC -> 1)."""
    d = R(rx, bid_of("PAY", 1), [pay_row("950000000001", inv="N11", amount="1.00")], ack([(1, "950000000001", 1, "")]))
    hdr = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"
    path = rx + "/exp2.csv"
    open(path, "wb").write((hdr + "\n" + f"{INV['N11'][0]};1;2;J;312345678;OOO;5.00;2026-01-10 10:00:00;OPEN\n").encode())
    sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", path])
    d += R(rx, bid_of("PAY", 2), [pay_row("950000000002", inv="N11", amount="1.00"),
                                  pay_row("950000000003", inv="N11", amount="4.01", pt="J", payer="312345678"),
                                  pay_row("950000000004", inv="N11", amount="4.00", pt="J", payer="312345678"),
                                  pay_row("950000000005", inv="N11", amount="0.01", pt="J", payer="312345678")],
           ack([(1, "950000000002", 304, ""), (2, "950000000003", 303, ""), (3, "950000000004", 1, ""),
                (4, "950000000005", 302, "")], "4.00"))
    d += R(rx, bid_of("REC", 1), [rec_row("950000000001", "1.00", inv="N11"), rec_row("950000000004", "4.00", inv="N11")],
           ack([(1, "950000000001", 1, ""), (2, "950000000004", 1, "")], "5.00"))
    return d


# ---------------------------------------------------------------- control.txt / rows / amount_total
@case
def totals_with_bad_rows(rx):
    """§6 'amount_total must equal the sum of the amount fields that are well-formed amounts, in rows with the
    right number of fields (a malformed amount ... counts as zero)'. A 0.00 amount (well-formed, 202 in PAY)
    counts 0; a 14-digit amount counts 0; a row of 12 fields with amount 5.00 is excluded; a row with
    a bad PINFL but amount 7.00 counts. Total 1007.00 -> ACK; 1012.00 -> B08."""
    rows = [pay_row("960000000001", inv="N10"), pay_row("960000000002", inv="N10", amount="0.00"),
            pay_row("960000000003", inv="N10", amount="12345678901234.00"),
            pay_row("960000000004", inv="N10", amount="5.00") + ["extra"],
            pay_row("960000000005", inv="N10", amount="7.00", payer="31210932040248")]
    d = R(rx, bid_of("PAY", 1), rows, ack([(1, "960000000001", 1, ""), (2, "960000000002", 202, "amount"),
                                          (3, "960000000003", 202, "amount"), (4, "960000000004", 202, ""),
                                          (5, "960000000005", 202, "payer_id")], "1000.00"),
          rows=5, total="1007.00")
    d += R(rx, bid_of("PAY", 2), rows, nak("B08"), rows=5, total="1012.00")
    return d


@case
def rev_field_order_and_status(rx):
    """§5.2/§7.2 REV: reversed_at after created_at -> 202 reversed_at (before 4 for an unknown id); reason empty
    -> 201 reason; reason 200 ok; amount malformed -> 202 amount; REV never 301 (same id twice -> 1 then 307)."""
    p = "970000000001"
    d = R(rx, bid_of("PAY", 1), [pay_row(p, inv="N10", amount="2.00")], ack([(1, p, 1, "")]))
    rows = [[p, "2026-11-22 01:05:01", "2.00", "x"], ["970000000009", "2026-11-22 01:05:01", "2.00", "x"],
            [p, "2026-11-21 12:00:00", "2.00", ""], [p, "2026-11-21 12:00:00", "2.0", "x"],
            [p, "2026-11-22 01:05:00", "2.00", "x"], [p, "2026-11-21 12:00:00", "2.00", "x"]]
    d += R(rx, bid_of("REV", 1), rows, ack([(1, p, 202, "reversed_at"), (2, "970000000009", 202, "reversed_at"),
                                            (3, p, 201, "reason"), (4, p, 202, "amount"), (5, p, 1, ""), (6, p, 307, "")],
                                           "2.00"))
    return d


@case
def rec_paid_at_other_day_record(rx):
    """§5.3 REC paid_at 'datetime on business_date'; §7.2 305 'paid_at ... differs from the receiver's record'
    and 306 'the receiver has this payment for the day but the statement does not'. A payment paid on the
    20th listed in REC 21 with paid_at on the 21st -> 305; it is not 306 of REC 21; REC 20 without it -> 306."""
    p1, p2 = "980000000001", "980000000002"
    d = R(rx, bid_of("PAY", 1), [pay_row(p1, inv="N10", paid_at="2026-11-20 23:59:59"),
                                  pay_row(p2, inv="N10", paid_at="2026-11-21 00:00:00")],
          ack([(1, p1, 1, ""), (2, p2, 1, "")]))
    d += R(rx, bid_of("REC", 1), [rec_row(p1, "1000.00", inv="N10", paid_at="2026-11-21 00:00:00")],
           ack([(1, p1, 305, ""), ("", p2, 306, "")], "0.00"))
    d += R(rx, bidn(1, "REC", "20261120"), [], ack([("", p1, 306, "")], "0.00"))
    return d


@case
def rec_306_with_repeat_and_4(rx):
    """§7.2 REC: 301 for an id on an earlier line of the statement; 4 unknown; 306 sorted; rows key counts the
    306 rows (§8 'rows (rows in result.csv)'); accepted only status 1."""
    ids = ["990000000003", "990000000001", "990000000002"]
    d = R(rx, bid_of("PAY", 1), [pay_row(p, inv="N12") for p in ids], ack([(i + 1, p, 1, "") for i, p in enumerate(ids)]))
    rows = [rec_row("990000000002", "1000.00", inv="N12"), rec_row("990000000002", "1000.00", inv="N12"),
            rec_row("990000000009", "1000.00", inv="N12"), rec_row("990000000009", "1000.00", inv="N12")]
    d += R(rx, bid_of("REC", 1), rows, ack([(1, "990000000002", 1, ""), (2, "990000000002", 301, ""),
                                            (3, "990000000009", 4, ""), (4, "990000000009", 301, ""),
                                            ("", "990000000001", 306, ""), ("", "990000000003", 306, "")], "1000.00"))
    return d


@case
def reference_archives(rx):
    """/work/shared/reference/README.md: load invoices.csv, process the 8 archives in order, each must get the
    answer shown; ACK row statuses as in expected/<batch id>.csv (line;payment_id;status;field)."""
    ref = os.path.join(REPO, "tests", "reference")
    rx2 = os.path.join(lib.SCRATCH, "rx", "reference")
    shutil.rmtree(rx2, ignore_errors=True)
    os.makedirs(rx2 + "/keys")
    shutil.copy(ref + "/MUNIS.key", rx2 + "/keys/MUNIS.key")
    os.chmod(rx2 + "/keys/MUNIS.key", 0o600)
    open(rx2 + "/reestr.toml", "w").write('receiver = "SUDBILLING"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\n'
                                          'settle_seconds = 0\nunreadable_grace_seconds = 0\n[partners.MUNIS]\nkey_file = "keys/MUNIS.key"\n')
    sh([BIN, "--config", rx2 + "/reestr.toml", "init"])
    sh([BIN, "--config", rx2 + "/reestr.toml", "invoices", "import", ref + "/invoices.csv"])
    order = [("PAY", 1, "ACK"), ("PAY", 2, "ACK"), ("PAY", 3, "ACK"), ("REV", 1, "ACK"), ("REC", 1, "ACK"),
             ("PAY", 4, "B04"), ("PAY", 5, "B08"), ("PAY", 6, "B05")]
    d = []
    for typ, seq, want in order:
        b = bid_of(typ, seq)
        data = open(f"{ref}/{b}.zip", "rb").read()
        r = run_archive(rx2, b + ".zip", data)
        c = r.get("ctl", {})
        got = c.get("result") if c.get("result") == "ACK" else c.get("error")
        if got != want:
            d.append(f"{b}: {got} {c.get('message','')} != {want}")
            continue
        if want == "ACK":
            exp = [l.split(";") for l in open(f"{ref}/expected/{b}.csv").read().splitlines()[1:] if l]
            gotrows, _ = rows_of(r["raw"])
            e4 = [tuple((x + [""] * 4)[:4]) for x in exp]
            if gotrows != e4:
                d.append(f"{b}: rows {gotrows} != {e4}")
    return d


@case
def waiting_seq_numeric(rx):
    """§7.2 'then sequence number': 0010 (ten) before 011 (eleven) though shorter; 000009 (nine) before 010.
    PAY 011 repeats PAY 0010's id -> 301 (it comes second); PAY 010 repeats 000009's -> 301."""
    items = [("0010", "960100000001"), ("011", "960100000001"), ("000009", "960100000002"), ("010", "960100000002")]
    for seq, p in reversed(items):
        b = bidn(seq)
        drop(rx, b + ".zip", build_archive(b, registry("PAY", [pay_row(p, inv="N13", amount="1.00")])))
    run(rx)
    o = outbox(rx)
    d = []
    for seq, p in items:
        want = 301 if seq in ("011", "010") else 1
        d += expect_rows("PAY " + seq, o[resp_name(bidn(seq), "ACK")], [(1, p, want, "")])
    return d


@case
def hmac_missing_alone(rx):
    """§3 table: manifest.sha256.hmac required 'when a key is configured for the sender'; B03 'required file
    missing'; B05 'HMAC missing or wrong'; §7.1 'When several apply, the first in this order is reported'
    (B03 before B05). A key is configured and the archive has no HMAC entry: B03 by that order, B05 by B05's own
    words; the README decides B05 ("A missing manifest.sha256.hmac ... is B05")."""
    b = bid_of("PAY", 1)
    d, r = run1(rx, b, [pay_row("961000000001", inv="N10")], nak("B05", msg_has=["manifest.sha256.hmac"]), key=None)
    return d


@case
def manifest_lists_itself(rx):
    """§6 'one line per file of the archive other than the two manifest files': a line for manifest.sha256
    itself -> malformed manifest, B04."""
    b = bid_of("PAY", 1)
    reg = registry("PAY", [pay_row("962000000001", inv="N10")])
    ctl = control_text(b, "PAY", "utf-8", *count_amounts(reg, "utf-8", "PAY"))
    man = f"{sha(ctl)}  control.txt\n{sha(reg)}  registry.csv\n{'0' * 64}  manifest.sha256\n".encode()
    return R(rx, b, None, nak("B04"), data=build_archive(b, reg, control=ctl, manifest=man))


@case
def lengths_with_line_breaks(rx):
    """§5.1 payer_name '1 to 200 characters', purpose '0 to 500 characters'; §5 a quoted field may hold line
    breaks: CR and LF are characters of the value. 198 letters + CRLF = 200 -> 1; 199 + CRLF = 201 -> 202;
    199 + LF = 200 -> 1; purpose 498 + CRLF -> 1, 499 + CRLF -> 202."""
    rows = [pay_row("963000000001", inv="N10", name=q("a" * 198 + "\r\n")),
            pay_row("963000000002", inv="N10", name=q("a" * 199 + "\r\n")),
            pay_row("963000000003", inv="N10", name=q("a" * 199 + "\n")),
            pay_row("963000000004", inv="N10", purpose=q("b" * 249 + "\r\n" + "b" * 249)),
            pay_row("963000000005", inv="N10", purpose=q("b" * 250 + "\r\n" + "b" * 249))]
    return R(rx, bid_of("PAY", 1), rows, ack([(1, "963000000001", 1, ""), (2, "963000000002", 202, "payer_name"),
                                              (3, "963000000003", 1, ""), (4, "963000000004", 1, ""),
                                              (5, "963000000005", 202, "purpose")], "3000.00"))


@case
def rec306_many_interleaved_days(rx):
    """§5.3/§7.2 306 'the receiver has this payment for the day but the statement does not'; §8 306 rows 'in
    ascending byte order of payment_id'. One PAY of 20,000 rows alternating paid_at on the 20th and the 21st
    (ids of 12 to 20 digits), a second PAY with more of both days, some reversed. REC 21 header-only ->
    exactly the 21st's payments as 306, in byte order; REC 20 listing all of its day but three -> those 3 as 306."""
    import random as _r
    rnd = _r.Random(5)
    ids = set()
    while len(ids) < 20600:
        n = rnd.randint(12, 20)
        ids.add(str(rnd.randint(10 ** (n - 1), 10 ** n - 1)))
    ids = list(ids)
    rnd.shuffle(ids)
    day = {}
    rows1 = []
    for i, p in enumerate(ids[:20000]):
        dd = "2026-11-20" if i % 2 else "2026-11-21"
        day[p] = dd
        rows1.append(pay_row(p, inv="N15", amount="1.00", paid_at=dd + " %02d:00:00" % (i % 24)))
    d = []
    b1 = bidn(1, "PAY", "20261121")
    r = run_archive(rx, b1 + ".zip", build_archive(b1, registry("PAY", rows1)))
    if r.get("ctl", {}).get("accepted") != "20000":
        return [f"PAY1 accepted {r.get('ctl')}"]
    rows2 = []
    for i, p in enumerate(ids[20000:20600]):
        dd = "2026-11-21" if i % 3 else "2026-11-20"
        day[p] = dd
        rows2.append(pay_row(p, inv="N16", amount="2.00", paid_at=dd + " 23:59:59"))
    b2 = bidn(2, "PAY", "20261121")
    r = run_archive(rx, b2 + ".zip", build_archive(b2, registry("PAY", rows2)))
    if r.get("ctl", {}).get("accepted") != "600":
        return [f"PAY2 accepted {r.get('ctl')}"]
    revs = [p for p in ids[:40]]
    b3 = bidn(1, "REV", "20261121")
    r = run_archive(rx, b3 + ".zip", build_archive(b3, registry("REV", [rev_row(p, "1.00") for p in revs])))
    if r.get("ctl", {}).get("accepted") != "40":
        return [f"REV accepted {r.get('ctl')}"]
    d21 = sorted([p for p in day if day[p] == "2026-11-21"], key=lambda s: s.encode())
    b4 = bidn(1, "REC", "20261121")
    r = run_archive(rx, b4 + ".zip", build_archive(b4, registry("REC", [])))
    got, ctl = rows_of(r["raw"])
    want = [("", p, "306", "") for p in d21]
    if got != want:
        extra = set(x[1] for x in got) - set(d21)
        miss = set(d21) - set(x[1] for x in got)
        d.append(f"REC21: {len(got)} rows vs {len(want)}; extra {len(extra)} {sorted(extra)[:3]}; missing {len(miss)} "
                 f"{sorted(miss)[:3]}; order ok={[x[1] for x in got] == sorted([x[1] for x in got], key=lambda s: s.encode())}")
    d20 = [p for p in ids[:20600] if day[p] == "2026-11-20"]
    leave = set(d20[5:8])
    recrows, exp = [], []
    for p in d20:
        if p in leave:
            continue
        inv = "N15" if p in ids[:20000] else "N16"
        amt = "1.00" if inv == "N15" else "2.00"
        pa = [x for x in (rows1 if inv == "N15" else rows2) if x[0] == p][0][1] if len(recrows) < 50 else None
        recrows.append((p, inv, amt))
    # paid_at lookup table
    pa = {x[0]: x[1] for x in rows1 + rows2}
    rr = []
    for i, (p, inv, amt) in enumerate(recrows):
        st = "REVERSED" if p in revs else "PAID"
        rr.append(rec_row(p, amt, inv=inv, paid_at=pa[p], state=st))
        exp.append((i + 1, p, 1, ""))
    exp += [("", p, 306, "") for p in sorted(leave, key=lambda s: s.encode())]
    b5 = bidn(1, "REC", "20261120")
    r = run_archive(rx, b5 + ".zip", build_archive(b5, registry("REC", rr)))
    got, ctl = rows_of(r["raw"])
    want = [(str(a), b, str(c), e) for a, b, c, e in exp]
    if got != want:
        bad = [(w, g) for w, g in zip(want, got) if w != g][:3]
        d.append(f"REC20: {len(got)} rows vs {len(want)}: first diffs {bad} tail {got[-4:]}")
    return d


@case
def names_unicode_digits(rx):
    """§2 'YYYYMMDD', 'SEQ: 3 to 6 digits', parties [A-Z0-9]{2,16}: a name whose SEQ or date is written in
    non-ASCII digits (fullwidth, Arabic-Indic, Devanagari), or whose party holds a non-ASCII letter or a
    Cyrillic 'М', is not of the form -> set aside, no response; also a name with a space or a trailing
    newline. Temporary names (.part, dot) are left alone."""
    good = pay("MUNIS_SUDBILLING_PAY_20261121_001", ["970100000001"], inv="N10")
    fw = lambda s: "".join(chr(0xFF10 + int(c)) for c in s)
    names = ["MUNIS_SUDBILLING_PAY_20261121_%s.zip" % fw("001"),
             "MUNIS_SUDBILLING_PAY_20261121_%s.zip" % "".join(chr(0x0660 + int(c)) for c in "002"),
             "MUNIS_SUDBILLING_PAY_20261121_%s.zip" % "".join(chr(0x0966 + int(c)) for c in "003"),
             "MUNIS_SUDBILLING_PAY_%s_004.zip" % fw("20261121"),
             "\u041cUNIS_SUDBILLING_PAY_20261121_005.zip", "MUNIS_SUDBILLING_PAY_20261121_006 .zip",
             "MUNIS_SUDBILLING_PAY_20261121_007.zip\n", "MUNIS_SUDBILLİNG_PAY_20261121_008.zip",
             "MUNIS_SUDBILLING_PAY_20261121_²³⁴.zip"]
    for n in names:
        drop(rx, n, good)
    temps = ["MUNIS_SUDBILLING_PAY_20261121_009.zip.part", ".MUNIS_SUDBILLING_PAY_20261121_010.zip"]
    for n in temps:
        with open(os.path.join(rx, "inbox", n), "wb") as f:
            f.write(good)
    run(rx)
    d = []
    left = sorted(os.listdir(rx + "/inbox"))
    if left != sorted(temps):
        d.append(f"inbox after run: {left!r} (want only the temporary names)")
    o = outbox(rx)
    if o:
        d.append(f"responses written: {sorted(o)!r}")
    return d


@case
def exit_codes(rx):
    """README 'Exit codes': run exits 0 whatever the answers; run --strict exits 5 when some archive was answered
    NAK or set aside, 0 when all were ACK (a re-sent stored ACK included); check exits 0 for a NAK; a refused
    export exits 1; an unknown command exits 2."""
    d = []
    b1 = bid_of("PAY", 1)
    a1 = pay(b1, ["970200000001"], inv="N10")
    drop(rx, b1 + ".zip", a1)
    p = sh([BIN, "--config", rx + "/reestr.toml", "run", "--strict"], check=False)
    if p.returncode != 0:
        d.append(f"run --strict all ACK -> {p.returncode}")
    drop(rx, b1 + ".zip", a1)
    p = sh([BIN, "--config", rx + "/reestr.toml", "run", "--strict"], check=False)
    if p.returncode != 0:
        d.append(f"run --strict re-sent ACK -> {p.returncode}")
    b2 = bid_of("PAY", 2)
    drop(rx, b2 + ".zip", pay(b2, ["970200000002"], inv="N10", total="5.00"))
    p = sh([BIN, "--config", rx + "/reestr.toml", "run"], check=False)
    if p.returncode != 0:
        d.append(f"run with NAK -> {p.returncode}")
    b3 = bid_of("PAY", 3)
    drop(rx, b3 + ".zip", pay(b3, ["970200000003"], inv="N10", total="5.00"))
    p = sh([BIN, "--config", rx + "/reestr.toml", "run", "--strict"], check=False)
    if p.returncode != 5:
        d.append(f"run --strict with NAK -> {p.returncode}")
    drop(rx, "junk.zip", b"x")
    p = sh([BIN, "--config", rx + "/reestr.toml", "run", "--strict"], check=False)
    if p.returncode != 5:
        d.append(f"run --strict with set-aside -> {p.returncode}")
    path = rx + "/nak.zip"
    open(path, "wb").write(pay(bid_of("PAY", 4), ["970200000004"], inv="N10", total="5.00"))
    p = sh([BIN, "--config", rx + "/reestr.toml", "check", path], check=False)
    if p.returncode != 0:
        d.append(f"check NAK -> {p.returncode}")
    open(rx + "/bad.csv", "w").write("x\n")
    p = sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", rx + "/bad.csv"], check=False)
    if p.returncode != 1:
        d.append(f"refused export -> {p.returncode}")
    p = sh([BIN, "--config", rx + "/reestr.toml", "frobnicate"], check=False)
    if p.returncode != 2:
        d.append(f"unknown command -> {p.returncode}")
    return d


@case
def nak_fields_from_name(rx):
    """§8: response name and keys come from the inbound name ('the rest as in the batch'; business_date, type,
    in_reply_to the inbound batch id) even when control.txt says otherwise (B06); created_at copied (one valid
    line). control business_date 2026-11-20 / type REV / batch_id of seq 002 / sender MUNIS2 -> B06 each."""
    d = []
    for i, (k, v) in enumerate([("business_date", "2026-11-20"), ("type", "REV"), ("batch_id", "MUNIS_SUDBILLING_PAY_20261121_002"),
                                ("sender", "MUNIS2"), ("receiver", "SUDBILLING2"), ("format", "munis-offline/2")]):
        b = bid_of("PAY", 10 + i)
        reg = registry("PAY", [pay_row("9703000000%02d" % i, inv="N10")])
        ctl = control_text(b, "PAY", "utf-8", 1, "1000.00").decode().replace(
            [l for l in control_text(b, "PAY", "utf-8", 1, "1000.00").decode().splitlines() if l.startswith(k + "=")][0],
            f"{k}={v}").encode()
        d += R(rx, b, None, nak("B06"), label="control " + k, data=build_archive(b, reg, control=ctl))
    return d


@case
def huge_fields(rx):
    """§5 quoted fields may hold line breaks; §3 limits only physical lines (64 KiB); §5.1 payer_name 1..200 -> a
    2 MiB quoted multi-line payer_name is 202 payer_name (not B02), its amount counts in amount_total (§6), and a
    later row with the same payment_id is 301 ('valid or not'). A 2 MiB quoted multi-line payment_id (cp866
    Cyrillic) is 202 payment_id and echoed whole in result.csv (§8: one row per registry row; minimal quoting)."""
    big = "\r\n".join(["Жж" * 500] * 2100)  # ~2.1 MB in UTF-8, 2100 physical lines
    p = "970400000001"
    rows = [pay_row(p, inv="N10", name=q(big), amount="3.00"), pay_row(p, inv="N10", amount="4.00")]
    d = R(rx, bid_of("PAY", 1), rows, ack([(1, p, 202, "payer_name"), (2, p, 301, "")], "0.00"), method=zipfile.ZIP_STORED)
    bigid = "\r\n".join(["Ё1" * 1000] * 1100)  # 2.2 MB in cp866
    rows = [pay_row("x", inv="N10", amount="1.00"), pay_row("970400000002", inv="N10", amount="1.00")]
    rows[0][0] = q(bigid)
    d2, r = run1(rx, bid_of("PAY", 2), rows, ack([(1, bigid, 202, "payment_id"), (2, "970400000002", 1, "")], "1.00"),
                 enc="cp866", label="big id", method=zipfile.ZIP_STORED)
    return d + d2


@case
def key_file_forms(rx):
    """§6 'The key is exchanged out of band as a file holding 64 hex digits (32 bytes)': upper-case hex, no final
    line end, a CRLF line end are all 64 hex digits -> the receiver starts and checks HMACs with that key (ACK)."""
    d = []
    for i, (lab, text) in enumerate([("upper", KEY_HEX.upper() + "\n"), ("no eol", KEY_HEX), ("crlf", KEY_HEX + "\r\n"),
                                      ("mixed case", KEY_HEX[:32].upper() + KEY_HEX[32:] + "\n")]):
        with open(rx + "/keys/MUNIS.key", "w", newline="") as f:
            f.write(text)
        os.chmod(rx + "/keys/MUNIS.key", 0o600)
        b = bid_of("PAY", 1 + i)
        pid = "9705000000%02d" % i
        d += R(rx, b, [pay_row(pid, inv="N10")], ack([(1, pid, 1, "")]), label="key " + lab)
    return d


@case
def big_hmac_no_key(rx):
    """§3 'When no key is configured for the sender, a manifest.sha256.hmac entry is allowed and ignored.'
    Partner without key: an HMAC entry of 2 MiB (random hex, ratio ~2) and one of 1 MiB + 1 -> ACK (ignored).
    With a key: the 2 MiB one -> B05."""
    import random as _r
    rnd = _r.Random(3)
    junk = "".join(rnd.choice("0123456789abcdef") for _ in range(2 * 1024 * 1024)).encode()
    rx2 = rx_for("big_hmac_no_key2", key=False)
    d = []
    for i, blob in enumerate([junk, junk[:1024 * 1024 + 1]]):
        b = bid_of("PAY", 1 + i)
        pid = "9706000000%02d" % i
        d += R(rx2, b, [pay_row(pid, inv="N10")], ack([(1, pid, 1, "")], key=False), label=f"no key, hmac {len(blob)}",
               hmac_val=blob, method=zipfile.ZIP_STORED)
    b = bid_of("PAY", 5)
    d += R(rx, b, [pay_row("970600000099", inv="N10")], nak("B05"), label="key, big hmac", hmac_val=junk,
           method=zipfile.ZIP_STORED)
    return d


# ---------------------------------------------------------------- an independent model of §7.2
EXP_HDR = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"
TYPES_ORDER = {"PAY": 0, "REV": 1, "REC": 2}


def _model_scenario(rx, seed):
    import random as _r
    rnd = _r.Random(seed)
    P3 = make_pinfl("5010120000022")
    payers = [("P", P1), ("J", TIN1), ("P", P3), ("J", "312345678")]
    invs = {"3000000000000000000%d" % i: [payers[i % 4], rnd.choice([300, 500, 1000]), "OPEN"] for i in range(1, 4)}

    def export(changes):
        lines = [EXP_HDR] + [f"{no};1;c;{pt};{pid};Nomi;{fmt_amount(due)};2026-01-10 10:00:00;{st}"
                             for no, ((pt, pid), due, st) in changes.items()]
        path = rx + f"/exp_{seed}_{rnd.random()}.csv"
        open(path, "w").write("\n".join(lines) + "\n")
        sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", path])
    export(invs)
    pays = {}  # pid -> dict
    paid = {no: 0 for no in invs}
    pids = ["31%010d" % rnd.randint(0, 10 ** 10) for _ in range(7)]
    seqs = {}
    acked = []  # (name, bytes, response bytes)
    d = []
    dates = ["20261120", "20261121", "20261122"]

    def mk_batch(typ, date):
        seqs[(typ, date)] = seqs.get((typ, date), 0) + 1
        b = bidn(seqs[(typ, date)], typ, date)
        dd = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        rows = []
        if typ == "PAY":
            for _ in range(rnd.randint(1, 4)):
                no = rnd.choice(list(invs) + ["39999999999999999999"])
                pt, pid = invs[no][0] if no in invs and rnd.random() < 0.85 else rnd.choice(payers)
                r = pay_row(rnd.choice(pids), inv="N10", amount=fmt_amount(rnd.choice([100, 100, 200, 300, 50])),
                            paid_at=f"{dd} {rnd.randint(0, 23):02d}:00:00")
                r[2], r[3], r[4] = no, pt, pid
                k2 = rnd.random()
                if k2 < 0.08:
                    r[7] = "840"
                elif k2 < 0.14:
                    r = r[:-1]
                elif k2 < 0.18:
                    r[6] = "0.00"
                rows.append(r)
        elif typ == "REV":
            for _ in range(rnd.randint(1, 3)):
                p = rnd.choice(pids)
                amt = pays[p]["amount"] if p in pays and rnd.random() < 0.8 else rnd.choice([100, 200])
                rows.append([p, f"{dd} 23:00:00", fmt_amount(amt), "xato"])
        else:
            for _ in range(rnd.randint(0, 4)):
                p = rnd.choice(pids)
                if p in pays and rnd.random() < 0.8:
                    x = pays[p]
                    r = [p, x["paid_at"], x["inv"], fmt_amount(x["amount"]), x["state"]]
                    k = rnd.random()
                    if k < 0.1:
                        r[4] = "PAID" if r[4] == "REVERSED" else "REVERSED"
                    elif k < 0.2:
                        r[3] = fmt_amount(x["amount"] + 1)
                else:
                    r = [p, f"{dd} 12:00:00", rnd.choice(list(invs)), "1.00", "PAID"]
                if not r[1].startswith(dd):
                    r[1] = f"{dd} 12:00:00"
                if rnd.random() < 0.08:
                    r = r + ["x"]
                rows.append(r)
            if rnd.random() < 0.15:
                rows.insert(rnd.randint(0, len(rows)), "")
        data = build_archive(b, registry(typ, rows), created="2026-11-23T12:00:00+05:00")
        return b, typ, date, seqs[(typ, date)], rows, data

    def model(typ, date, rows):
        dd = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        out, seen = [], set()
        nf = {"PAY": 11, "REV": 4, "REC": 5}[typ]
        for i, r in enumerate(rows, 1):
            if isinstance(r, str):
                r = [r]
            p = r[0]
            if len(r) != nf:
                st = "202"
                if p:
                    seen.add(p)
            elif typ == "PAY":
                if r[7] != "860" or r[6] == "0.00":
                    st = "202"
                elif p in seen or p in pays:
                    st = "301"
                elif r[2] not in invs:
                    st = "4"
                else:
                    (pt, pid), due, stt = invs[r[2]]
                    amt = int(r[6].replace(".", ""))
                    if stt == "CANCELLED" or paid[r[2]] >= due:
                        st = "302"
                    elif (r[3], r[4]) != (pt, pid):
                        st = "304"
                    elif amt > due - paid[r[2]]:
                        st = "303"
                    else:
                        st = "1"
                        pays[p] = {"inv": r[2], "amount": amt, "paid_at": r[1], "state": "PAID"}
                        paid[r[2]] += amt
                seen.add(p)
            elif typ == "REV":
                amt = int(r[2].replace(".", ""))
                if p not in pays:
                    st = "4"
                elif pays[p]["state"] == "REVERSED":
                    st = "307"
                elif pays[p]["amount"] != amt:
                    st = "305"
                else:
                    st = "1"
                    pays[p]["state"] = "REVERSED"
                    paid[pays[p]["inv"]] -= amt
            else:
                if p in seen:
                    st = "301"
                elif p not in pays:
                    st = "4"
                else:
                    x = pays[p]
                    st = "1" if (r[1], r[2], int(r[3].replace(".", "")), r[4]) == (x["paid_at"], x["inv"], x["amount"], x["state"]) else "305"
                seen.add(p)
            out.append((str(i), p, st))
        if typ == "REC":
            for p in sorted((p for p in pays if pays[p]["paid_at"].startswith(dd) and p not in seen), key=lambda s: s.encode()):
                out.append(("", p, "306"))
        return out

    for step in range(rnd.randint(8, 14)):
        k = rnd.random()
        if k < 0.12:
            no = rnd.choice(list(invs))
            inv = invs[no]
            c = rnd.random()
            if c < 0.4:
                inv[1] = rnd.choice([100, 200, 300, 500, 1000])
            elif c < 0.7:
                inv[2] = "CANCELLED" if inv[2] == "OPEN" else "OPEN"
            else:
                inv[0] = rnd.choice(payers)
            export({no: inv})
            continue
        if k < 0.2 and acked:
            name, data, resp = rnd.choice(acked)
            drop(rx, name, data)
            run(rx)
            got = outbox(rx).get(resp_name(name[:-4], "ACK"))
            if got != resp:
                d.append(f"seed {seed} step {step}: re-delivery of {name} not answered with the stored ACK")
            continue
        n = 1 if rnd.random() < 0.6 else rnd.randint(2, 3)
        batches = [mk_batch(rnd.choice(["PAY", "PAY", "REV", "REC"]), rnd.choice(dates)) for _ in range(n)]
        for bt in rnd.sample(batches, len(batches)):
            drop(rx, bt[0] + ".zip", bt[5])
        run(rx)
        o = outbox(rx)
        for b, typ, date, seq, rows, data in sorted(batches, key=lambda x: (x[2], TYPES_ORDER[x[1]], x[3])):
            want = model(typ, date, rows)
            raw = o.get(resp_name(b, "ACK"))
            if raw is None:
                d.append(f"seed {seed} step {step}: no ACK for {b}: {sorted(o)}")
                return d
            r = parse_response("x", raw)
            got = [tuple(l.split(";")[:3]) for l in r["result_raw"].decode().split("\r\n")[1:] if l]
            if got != want:
                d.append(f"seed {seed} step {step} {b}: rows\n        {rows}\n        want {want}\n        got  {got}")
                return d
            acked.append((b + ".zip", data, raw))
    return d


@case
def model_random(rx):
    """§7.2 (all statuses and the waiting order) and §9 (exports between batches), against an independent model
    written from the agreement alone: 40 random scenarios of 8-14 steps, each in a fresh receiver."""
    d = []
    for seed in range(int(os.environ.get("CERT_SEEDS", "40"))):
        rxs = rx_for(f"model_{seed}")
        d += _model_scenario(rxs, seed)
        if len(d) > 3:
            break
    return d


# ---------------------------------------------------------------- doubtful readings (recorded, not failed)
def _answer(r):
    c = r.get("ctl", {}) or {}
    return f"{c.get('result')} {c.get('error', '')} {c.get('message', '')}".strip()


@case
def readme_lone_cr_quoted(rx):
    """§8 result.csv 'quotes a field only when it must (§5)'; §5 line end is 'CRLF or LF', so by the letter a lone
    CR is an ordinary character and a field holding one need not be quoted. The README ('Quoting in result.csv')
    quotes it, for readers that end a row at a CR: an unquoted payment_id '12345\\r6789012' (202) is echoed quoted."""
    pid = "12345\r6789012"
    rows = [pay_row("x", inv="N10")]
    rows[0][0] = pid
    d, r = run1(rx, bid_of("PAY", 1), rows, [ack([(1, pid, 202, "payment_id")], "0.00")], rows=1, total="1000.00")
    raw = r.get("result_raw", b"")
    if b'1;"12345\r6789012";202;payment_id;' not in raw:
        d.append(f"not echoed quoted: {raw[:120]!r}")
    return d


@case
def readme_leap_second_b06(rx):
    """§4 created_at 'RFC 3339 with an offset or Z'; RFC 3339 §5.6 allows time-second 60 on a leap second, so by
    the letter 2016-12-31T23:59:60Z could be copied as written. The README ('A leap second') decides B06, with
    created_at falling back to business_date at 00:00:00+05:00 (§8)."""
    ca = "2016-12-31T23:59:60Z"
    b = bidn(1, "PAY", "20161231")
    return R(rx, b, None, nak("B06", created="2016-12-31T00:00:00+05:00", msg_has=["created_at"]),
             data=build_archive(b, registry("PAY", [pay_row("970700000001", inv="N10", paid_at="2016-12-31 10:00:00")]),
                                created=ca))


@case
def readme_control_whitespace_line_b06(rx):
    """§4 'blank lines are ignored': a line holding only spaces (or a tab) could be called blank; the README
    ('Blank lines of control.txt') reads blank as empty, as §5 uses the word: such a line has no '=', B06 (its
    created_at line is valid, so it is copied)."""
    d = []
    for i, ws in enumerate(["   ", "\t"]):
        b = bid_of("PAY", 1 + i)
        reg = registry("PAY", [pay_row("97080000000%d" % i, inv="N10")])
        ctl = control_text(b, "PAY", "utf-8", 1, "1000.00").replace(b"encoding=", ws.encode() + b"\nencoding=")
        d += R(rx, b, None, nak("B06", msg_has=["no '='"]), label=f"ws line {ws!r}",
               data=build_archive(b, reg, control=ctl))
    return d


@case
def readme_bytes_around_the_zip_b01(rx):
    """§7.1 B01 'not a readable zip archive (truncated, corrupt)'. A correct archive with 16 bytes after its end
    record, or 64 bytes of junk before it (offsets shifted, as a self-extractor's stub), is read by unzip and
    Python; the README ('Two copies of an entry's facts') decides B01 for bytes no part of the archive holds,
    with created_at falling back (§8: the archive did not pass the B01 checks)."""
    d = []
    b = bid_of("PAY", 1)
    data = build_archive(b, registry("PAY", [pay_row("970900000001", inv="N10")]))
    d += R(rx, b, None, nak("B01", created="2026-11-21T00:00:00+05:00", msg_has=["after the end record"]),
           label="trailing junk", data=data + b"\x00" * 16)
    b = bid_of("PAY", 2)
    data = build_archive(b, registry("PAY", [pay_row("970900000002", inv="N10")]))
    bio = io.BytesIO()
    bio.write(b"J" * 64)
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(bio, "a") as z:
        for i in src.infolist():
            z.writestr(i, src.read(i.filename))
    pre = bio.getvalue()
    assert zipfile.ZipFile(io.BytesIO(pre)).testzip() is None
    d += R(rx, b, None, nak("B01", created="2026-11-21T00:00:00+05:00", msg_has=["before the first entry"]),
           label="prefix stub", data=pre)
    return d


@case
def readme_rezipped_same_files_b09(rx):
    """§7.1 B09 'this batch id was already processed with different content'; §3 calls the files the archive's
    content, so the same four files zipped again (stored instead of deflated) after an ACK could be read as the
    same content. The README ('Re-delivery') decides B09: only the same bytes get the stored ACK, and applying
    them again is what B09 prevents."""
    b = bid_of("PAY", 1)
    reg = registry("PAY", [pay_row("971000000001", inv="N10")])
    a1 = build_archive(b, reg)
    r1 = run_archive(rx, b + ".zip", a1)
    a2 = build_archive(b, reg, method=zipfile.ZIP_STORED)
    r2 = run_archive(rx, b + ".zip", a2)
    d = []
    if (r1.get("ctl") or {}).get("result") != "ACK":
        d.append(f"first delivery -> {_answer(r1)}")
    if (r2.get("ctl") or {}).get("error") != "B09":
        d.append(f"re-zipped same files -> {_answer(r2)}, not B09")
    return d


@case
def readme_same_bytes_other_name_b06(rx):
    """§7.1 'A re-delivered archive whose bytes equal an earlier delivery that was processed (ACK) ... the stored
    ACK is sent again, byte for byte, before any other check'. The ACKed bytes of PAY 001 delivered as PAY 002:
    the README ('Re-delivery') holds a re-delivery to be the same name and bytes, so this is a new archive judged
    in full, and its control.txt names batch 001: NAK B06 under the name of 002."""
    b = bid_of("PAY", 1)
    a1 = build_archive(b, registry("PAY", [pay_row("971100000001", inv="N10")]))
    run_archive(rx, b + ".zip", a1)
    r2 = run_archive(rx, bid_of("PAY", 2) + ".zip", a1)
    if r2.get("name") == lib.resp_name(bid_of("PAY", 2), "NAK") and (r2.get("ctl") or {}).get("error") == "B06":
        return []
    return [f"same bytes as ACKed 001 under name 002 -> {r2.get('name')} {_answer(r2)}"]


@case
def doubt_win1251_0x98(rx):
    """§7.1 B07 'bytes invalid in the declared encoding'. windows-1251 byte 0x98 is unassigned in Microsoft's
    table but mapped to U+0098 by WHATWG/ICU 'windows-1251'. README decides B07. Recorded."""
    rows = [pay_row("971200000001", inv="N10", purpose="a\u0098b")]
    reg = registry("PAY", rows, enc="latin-1")
    b = bid_of("PAY", 1)
    d, r = run1(rx, b, None, [nak("B07"), ack([(1, "971200000001", 1, "")], enc="windows-1251")],
                data=build_archive(b, reg, enc="windows-1251", rows=1, total="1000.00"))
    return d


@case
def keeps_everything(rx):
    """§1 'The receiver keeps every archive it received and every response it sent.' (README: var/received/<sha256>.zip,
    var/sent/<sha256>.zip, var/set-aside/<sha256>.bin.) ACK, NAK B08 then corrected ACK of the same id, B10 of an
    unknown sender, a re-delivery, a set-aside name: every inbound and every response (also those replaced in the
    outbox) kept by SHA-256."""
    ins, outs = [], []
    b = bid_of("PAY", 1)
    a = pay(b, ["971300000001"], inv="N10"); ins.append(a)
    outs.append(run_archive(rx, b + ".zip", a)["raw"])
    b2 = bid_of("PAY", 2)
    a = pay(b2, ["971300000002"], inv="N10", total="9.00"); ins.append(a)
    outs.append(run_archive(rx, b2 + ".zip", a)["raw"])
    a = pay(b2, ["971300000002"], inv="N10"); ins.append(a)
    outs.append(run_archive(rx, b2 + ".zip", a)["raw"])
    a = pay(b2, ["971300000003"], inv="N10"); ins.append(a)
    outs.append(run_archive(rx, b2 + ".zip", a)["raw"])  # B09 NAK replaces the earlier NAK in the outbox
    b3 = "XYZ_SUDBILLING_PAY_20261121_001"
    a = pay(b3, ["971300000004"], inv="N10", key=None); ins.append(a)
    outs.append(run_archive(rx, b3 + ".zip", a)["raw"])
    run_archive(rx, b + ".zip", ins[0])
    drop(rx, "not-a-batch.zip", b"hello")
    run(rx)
    d = []
    rec = set(os.listdir(rx + "/var/received"))
    sent = set(os.listdir(rx + "/var/sent"))
    sa = os.listdir(rx + "/var/set-aside")
    for i, x in enumerate(ins):
        if sha(x) + ".zip" not in rec:
            d.append(f"inbound #{i} not kept in var/received")
    for i, x in enumerate(outs):
        if sha(x) + ".zip" not in sent:
            d.append(f"response #{i} not kept in var/sent")
    if not any(f.startswith(sha(b"hello")) for f in sa):
        d.append(f"set-aside file not kept: {sa}")
    return d


@case
def waiting_two_senders(rx):
    """§7.2 'Batches that are waiting together are handled in order of business date, then type (PAY, REV, REC),
    then sequence number' (no sender in the key). Partners MUNIS and CBU; waiting together: CBU PAY 21/002 and
    MUNIS PAY 21/001 both paying invoice C in full, CBU REV 20/005 (nothing to reverse: 4) -> MUNIS 001 first (1),
    CBU 002 -> 302. Then the reverse case on another invoice: MUNIS PAY 22/003 and CBU PAY 22/001 -> CBU first."""
    with open(rx + "/reestr.toml", "a") as f:
        f.write("[partners.CBU]\n")
    C, B = INV["C"], INV["B"]
    items = [("MUNIS", "PAY", "20261121", 1, [pay_row("971400000001", inv="C", amount="300000.00")]),
             ("CBU", "PAY", "20261121", 2, [pay_row("971400000002", inv="C", amount="300000.00")]),
             ("CBU", "REV", "20261120", 5, [rev_row("971400000001", "300000.00", at="2026-11-20 12:00:00")])]
    for snd, typ, date, seq, rows in items:
        b = bidn(seq, typ, date, snd=snd)
        drop(rx, b + ".zip", build_archive(b, registry(typ, rows), key=KEY if snd == "MUNIS" else None))
    run(rx)
    o = outbox(rx)
    d = []
    want = {"MUNIS": [(1, "971400000001", 1, "")], "CBU": [(1, "971400000002", 302, "")]}
    for snd, typ, date, seq, rows in items:
        name = f"SUDBILLING_{snd}_{typ}_{date}_{seq:03d}_ACK.zip"
        if name not in o:
            d.append(f"missing {name}: {sorted(o)}")
            continue
        w = [(1, "971400000001", 4, "")] if typ == "REV" else want[snd]
        d += expect_rows(name, o[name], w)
    clear_outbox(rx)
    items = [("MUNIS", "PAY", "20261122", 3, [pay_row("971400000003", inv="B", amount="500000.00")]),
             ("CBU", "PAY", "20261122", 1, [pay_row("971400000004", inv="B", amount="500000.00")])]
    for snd, typ, date, seq, rows in items:
        b = bidn(seq, typ, date, snd=snd)
        drop(rx, b + ".zip", build_archive(b, registry(typ, rows), key=KEY if snd == "MUNIS" else None))
    run(rx)
    o = outbox(rx)
    d += expect_rows("MUNIS 22/003", o.get("SUDBILLING_MUNIS_PAY_20261122_003_ACK.zip", b""), [(1, "971400000003", 302, "")]) if "SUDBILLING_MUNIS_PAY_20261122_003_ACK.zip" in o else [f"missing MUNIS 003 {sorted(o)}"]
    d += expect_rows("CBU 22/001", o.get("SUDBILLING_CBU_PAY_20261122_001_ACK.zip", b""), [(1, "971400000004", 1, "")]) if "SUDBILLING_CBU_PAY_20261122_001_ACK.zip" in o else [f"missing CBU 001 {sorted(o)}"]
    return d


def _std_entries(bid, reg, key=True, extra=()):
    import zipraw as Z
    ctl = control_text(bid, bid.split("_")[2], "utf-8", *count_amounts(reg, "utf-8", bid.split("_")[2]))
    files = [("control.txt", ctl), ("registry.csv", reg)]
    man = "".join(f"{sha(x)}  {n}\n" for n, x in files).encode()
    ents = [dict(name=n, data=x, made_by=Z.UNIX, ext_attr=Z.REG) for n, x in files + list(extra)]
    ents.append(dict(name="manifest.sha256", data=man, made_by=Z.UNIX, ext_attr=Z.REG))
    if key:
        ents.append(dict(name="manifest.sha256.hmac", data=hmac.new(KEY, man, hashlib.sha256).hexdigest().encode(),
                         made_by=Z.UNIX, ext_attr=Z.REG))
    return ents


@case
def order_b01_with_others(rx):
    """§7.1 order B10, B09, B01, B02, B03, ...; 'a CRC mismatch ... is B01'. A CRC mismatch in registry.csv
    together with: an extra entry 'notes.txt' (B03) -> B01; a missing HMAC (B05) -> B01; a wrong manifest hash
    (B04) -> B01; an unknown control key (B06) -> B01. Fallback created_at (did not pass B01)."""
    import zipraw as Z
    d = []
    reg = registry("PAY", [pay_row("971500000001", inv="N10")])
    for i, lab in enumerate(["extra entry", "no hmac", "manifest wrong", "control unknown key"]):
        b = bid_of("PAY", 1 + i)
        ents = _std_entries(b, reg, key=(lab != "no hmac"), extra=[("notes.txt", b"x")] if lab == "extra entry" else ())
        for e in ents:
            if e["name"] == "registry.csv":
                e["crc"] = zlib.crc32(reg) ^ 1
            if lab == "manifest wrong" and e["name"] == "manifest.sha256":
                e["data"] = e["data"].replace(e["data"][:4], b"0000")
            if lab == "control unknown key" and e["name"] == "control.txt":
                e["data"] = e["data"] + b"foo=1\n"
        d += R(rx, b, None, nak("B01", created="fallback"), label=lab, data=Z.build(ents))
    return d


@case
def doubt_control_leading_zeros(rx):
    """§4 rows 'number of data rows', amount_total 'sum of the amount column, so'm with exactly 2 decimals'; §6 they
    'must equal' the registry's. rows=01 and amount_total=0001000.00 are that number and that sum -> ACK
    (B08 would be wrong; B06 doubtful). Also amount_total=1000.00 with rows=+1 -> B06 (not a number form)."""
    d = []
    for i, (rw, tot) in enumerate([("01", "1000.00"), ("1", "0001000.00"), ("0000000000000000000001", "1000.00")]):
        b = bid_of("PAY", 1 + i)
        pid = "9716000000%02d" % i
        d2, r = run1(rx, b, [pay_row(pid, inv="N10")], [ack([(1, pid, 1, "")]), nak("B06")], rows=rw, total=tot)
        d += d2
    return d


@case
def total_off_by_one_tiyin_big(rx):
    """§5 amounts 'are exact ... never pass through floating point'; §6 amount_total 'must equal' the sum.
    1000 rows of 9999999999999.99 (sum 9999999999999990.00, beyond 2^53 tiyin): control 9999999999999990.01 and
    9999999999999989.99 -> B08; exact -> ACK (every row 4: invoice unknown)."""
    rows = [pay_row("9717%08d" % i, inv="39999999999999999999", amount="9999999999999.99") for i in range(1000)]
    d = R(rx, bid_of("PAY", 1), rows, nak("B08"), rows=1000, total="9999999999999990.01")
    d += R(rx, bid_of("PAY", 2), rows, nak("B08"), rows=1000, total="9999999999999989.99")
    d += R(rx, bid_of("PAY", 3), rows, ack([(i + 1, r[0], 4, "") for i, r in enumerate(rows)], "0.00"),
           rows=1000, total="9999999999999990.00")
    return d


@case
def zip_writers_variants(rx):
    """§3 'A zip archive (deflate or stored entries, zip64 allowed)': Python zipfile with force_zip64 on every entry,
    a mix of stored and deflated entries, deflate level 9 and 1, entries in another order (manifest first),
    a UTF-8-flagged ASCII name, and an archive comment -> ACK each."""
    d = []
    variants = ["zip64", "mixed", "level9", "level1", "order", "utf8flag", "comment"]
    for i, v in enumerate(variants):
        b = bid_of("PAY", 1 + i)
        pid = "9719000000%02d" % i
        reg = registry("PAY", [pay_row(pid, inv="N10")])
        ctl = control_text(b, "PAY", "utf-8", 1, "1000.00")
        files = [("control.txt", ctl), ("registry.csv", reg)]
        man = "".join(f"{sha(x)}  {n}\n" for n, x in files).encode()
        files += [("manifest.sha256", man), ("manifest.sha256.hmac", hmac.new(KEY, man, hashlib.sha256).hexdigest().encode())]
        if v == "order":
            files = files[::-1]
        bio = io.BytesIO()
        with zipfile.ZipFile(bio, "w") as z:
            if v == "comment":
                z.comment = b"MUNIS offline batch"
            for j, (n, x) in enumerate(files):
                zi = zipfile.ZipInfo(n, date_time=(2026, 11, 22, 1, 5, 0))
                zi.external_attr = 0o644 << 16
                zi.compress_type = zipfile.ZIP_STORED if (v == "mixed" and j % 2) else zipfile.ZIP_DEFLATED
                if v == "utf8flag":
                    zi.flag_bits |= 0x800
                lvl = 9 if v == "level9" else (1 if v == "level1" else 6)
                with z.open(zi, "w", force_zip64=(v == "zip64")) as f:
                    f.write(x)
        d += R(rx, b, None, ack([(1, pid, 1, "")]), label=v, data=bio.getvalue())
    return d


def main():
    pats = sys.argv[1:]
    sel = [c for c in CASES if not pats or any(p in c.__name__ for p in pats)]
    ok = 0
    for c in sel:
        t = time.time()
        try:
            rx = rx_for(c.__name__)
            diffs = c(rx)
        except Exception:
            diffs = ["EXCEPTION " + traceback.format_exc()[-2000:]]
        ok += not diffs
        print(f"{'OK  ' if not diffs else 'FAIL'} {c.__name__} ({time.time() - t:.1f}s)", flush=True)
        for x in NOTES:
            print("     note: " + x[:500], flush=True)
        NOTES.clear()
        for x in diffs:
            print("     - " + x[:3000], flush=True)
    print(f"== certify: {ok}/{len(sel)} cases OK")
    if ok == len(sel):
        shutil.rmtree(lib.SCRATCH, ignore_errors=True)
    else:
        print(f"scratch folder kept: {lib.SCRATCH}")
        sys.exit(1)


if __name__ == "__main__":
    main()
