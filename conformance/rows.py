"""Black-box conformance suite derived from the exchange agreement (munis-offline/1): row
semantics, identifiers, field rules and control.txt.

    REESTR_BIN=target/debug/reestr python3 conformance/rows.py [NAME-SUBSTRING ...]

Each case builds one or more batches on a fresh receiver and checks every response with
lib.check_response (§8), and the row statuses of result.csv line by line. The section of the
agreement is given in each case's description. Where the agreement leaves the answer open, the
case lists the acceptable answers and prints the one the receiver gave ("ambiguous case").

Areas:
 1. row semantics across batches (§7.2, §7): partial payments up to the amount due, 303, 302,
    reversals re-opening exactly what they reversed, 301 only for payments applied, the
    precedence of the PAY and REV codes, batches waiting together seeing each other's effects
    in the waiting order, the billing export changing what is due (§9), `check` and `replay`
    reproducing the responses byte for byte (§8).
 2. REC (§5.3, §7.2): 1, 305 (amount, invoice, paid_at, state), 4, 301, 202, 306 in byte order,
    statements of another day, header-only statements.
 3. identifiers (§5.4): PINFL century digit, date and check digit; TIN; the account key against
    the bank MFO; rules between two fields failing the later field, in column order.
 4. field rules (§5): amount pattern and sums beyond 64 bits (amount_total, amount_accepted),
    datetimes and "not after created_at" across offsets, lengths in characters in each
    encoding, required fields (201), quoted values.
 5. control.txt (§4): created_at forms, layout (LF/CRLF, blank lines, key order, final line
    end), malformed lines (B06 naming the key), rows and amount_total out of range (B08),
    messages naming the file and the field.
"""
import sys, traceback
from lib import *

# ---------- extra invoices of our own (added before any receiver is created) ----------
TIN2 = "312345670"
INV["D"] = ("10000000000000000004", "P", P1, "Aliyev Anvar", "100.00", "OPEN")
INV["E"] = ("10000000000000000005", "J", TIN2, "Firma Beta", "50.00", "OPEN")
INV["G"] = ("10000000000000000006", "P", P1, "Aliyev Anvar", "9999999999999.99", "OPEN")

CASES, case = case_list()


# =====================================================================
# Area 1: §7.2 row semantics across batches
# =====================================================================
@case(1, "partial payments to amount due over batches; 303 over balance; 302 when paid; REV re-opens exactly; "
         "rejected pid is not 'applied' (no 301 later); reversed pid re-sent -> 301")
def s1_partial_multi_batch(rx):
    d = []
    P = lambda pid, amt: pay_row(pid, inv="D", amount=amt)
    d += run1(rx, bid_of("PAY", 1), [P("500000000001", "30.00"), P("500000000002", "30.00")],
              ack([(1, "500000000001", 1, ""), (2, "500000000002", 1, "")], "60.00"), label="PAY1")[0]
    d += run1(rx, bid_of("PAY", 2), [P("500000000003", "40.01"), P("500000000004", "40.00"), P("500000000005", "0.01")],
              ack([(1, "500000000003", 303, ""), (2, "500000000004", 1, ""), (3, "500000000005", 302, "")], "40.00"), label="PAY2")[0]
    d += run1(rx, bid_of("REV", 1), [rev_row("500000000004", "40.00")],
              ack([(1, "500000000004", 1, "")], "40.00"), label="REV1")[0]
    d += run1(rx, bid_of("PAY", 3), [P("500000000006", "40.01"), P("500000000007", "39.99"), P("500000000008", "0.02"),
                                     P("500000000009", "0.01"), P("500000000010", "0.01")],
              ack([(1, "500000000006", 303, ""), (2, "500000000007", 1, ""), (3, "500000000008", 303, ""),
                   (4, "500000000009", 1, ""), (5, "500000000010", 302, "")], "40.00"), label="PAY3")[0]
    # 500000000004 was applied then reversed: unique forever -> 301; 500000000003 was only rejected (303) -> not 301, invoice paid -> 302
    d += run1(rx, bid_of("PAY", 4), [P("500000000004", "40.00"), P("500000000003", "0.01")],
              ack([(1, "500000000004", 301, ""), (2, "500000000003", 302, "")], "0.00"), label="PAY4")[0]
    d += run1(rx, bid_of("REV", 2), [rev_row("500000000001", "30.00")], ack([(1, "500000000001", 1, "")], "30.00"), label="REV2")[0]
    d += run1(rx, bid_of("PAY", 5), [P("500000000003", "30.00")], ack([(1, "500000000003", 1, "")], "30.00"), label="PAY5")[0]
    return d


@case(1, "REV: 4 unknown / never applied; 307 already reversed (before 305); 305 amount differs; in-batch effects; no 301 for REV")
def s1_rev_precedence(rx):
    d = []
    rows = [pay_row("510000000001", inv="N10", amount="10.00"), pay_row("510000000002", inv="N11", amount="20.00"),
            pay_row("510000000003", inv="N12", amount="30.00"), pay_row("510000000004", inv="N13", amount="x"),
            pay_row("510000000005", inv="99999999999999999999", amount="5.00")]
    d += run1(rx, bid_of("PAY", 1), rows, ack([(1, "510000000001", 1, ""), (2, "510000000002", 1, ""), (3, "510000000003", 1, ""),
                                                (4, "510000000004", 202, "amount"), (5, "510000000005", 4, "")], "60.00"), label="PAY1")[0]
    d += run1(rx, bid_of("REV", 1), [rev_row("510000000001", "10.00")], ack([(1, "510000000001", 1, "")]), label="REV1")[0]
    rows = [rev_row("599999999999", "10.00"),    # 4
            rev_row("510000000001", "9.99"),     # 307 before 305
            rev_row("510000000001", "10.00"),    # 307
            rev_row("510000000002", "19.99"),    # 305
            rev_row("510000000002", "20.00"),    # 1
            rev_row("510000000002", "20.00"),    # 307: sees row 5
            rev_row("510000000002", "1.00"),     # 307 before 305
            rev_row("510000000004", "10.00"),    # 4: its PAY row was invalid
            rev_row("510000000005", "5.00"),     # 4: its PAY row was 4
            rev_row("510000000003", "30.00", reason=""),  # 201 reason
            rev_row("510000000003", "30.0"),     # 202 amount
            rev_row("510000000003", "030.00"),   # 1: same value (leading zero), no 301 in REV
            ]
    d += run1(rx, bid_of("REV", 2), rows, ack([(1, "599999999999", 4, ""), (2, "510000000001", 307, ""), (3, "510000000001", 307, ""),
                                                (4, "510000000002", 305, ""), (5, "510000000002", 1, ""), (6, "510000000002", 307, ""),
                                                (7, "510000000002", 307, ""), (8, "510000000004", 4, ""), (9, "510000000005", 4, ""),
                                                (10, "510000000003", 201, "reason"), (11, "510000000003", 202, "amount"),
                                                (12, "510000000003", 1, "")], "50.00"), label="REV2")[0]
    d += run1(rx, bid_of("PAY", 2), [pay_row("510000000002", inv="N11", amount="20.00")],
              ack([(1, "510000000002", 301, "")], "0.00"), label="PAY2")[0]
    return d


@case(1, "PAY precedence 301,4,307,302,304,303 and rows applied in order on one invoice (E, J, due 50.00)")
def s1_pay_precedence(rx):
    d = run1(rx, bid_of("PAY", 1), [pay_row("520000000001", inv="D", amount="100.00")], ack([(1, "520000000001", 1, "")]), label="PAY1")[0]
    rows = [pay_row("520000000001", inv="X", amount="1.00"),                               # 301 before 302
            pay_row("520000000002", inv="99999999999999999999", pt="J", payer=TIN1),     # 4 before 304
            pay_row("520000000003", inv="D", payer=P2, amount="1000.00"),               # 302 (paid) before 304/303
            pay_row("520000000004", inv="X", amount="1.00"),                            # 302 cancelled
            pay_row("520000000005", inv="A", pt="J", payer=TIN1, amount="1.00"),        # 304 type differs
            pay_row("520000000006", inv="A", payer=P2, amount="1.00"),                  # 304 id differs
            pay_row("520000000007", inv="E", payer=TIN1, amount="50.01"),               # 304 before 303
            pay_row("520000000008", inv="E", amount="50.01"),                           # 303
            pay_row("520000000009", inv="E", amount="20.00"),                           # 1
            pay_row("520000000010", inv="E", amount="30.01"),                           # 303 over the balance left by row 9
            pay_row("520000000011", inv="E", amount="30.00"),                           # 1
            pay_row("520000000012", inv="E", amount="0.01"),                            # 302
            pay_row("520000000009", inv="E", amount="0.01"),                            # 301 (earlier line, applied)
            pay_row("520000000008", inv="E", amount="0.01"),                            # 301 (earlier line was 303)
            pay_row("520000000009", inv="E", amount="0.01", currency="840"),            # 202 currency: fields first
            ]
    exp = [(1, "520000000001", 301, ""), (2, "520000000002", 4, ""), (3, "520000000003", 302, ""), (4, "520000000004", 302, ""),
           (5, "520000000005", 304, ""), (6, "520000000006", 304, ""), (7, "520000000007", 304, ""), (8, "520000000008", 303, ""),
           (9, "520000000009", 1, ""), (10, "520000000010", 303, ""), (11, "520000000011", 1, ""), (12, "520000000012", 302, ""),
           (13, "520000000009", 301, ""), (14, "520000000008", 301, ""), (15, "520000000009", 202, "currency")]
    d += run1(rx, bid_of("PAY", 2), rows, ack(exp, "50.00"), label="PAY2")[0]
    return d


@case(1, "301 when the pid is on an earlier line that was invalid (201 / 202 / wrong field count / 302); "
         "such pids were never applied, so a later batch accepts them")
def s1_301_earlier_invalid(rx):
    bad_acc = ACC[:8] + str((int(ACC[8]) + 1) % 10) + ACC[9:]
    short = ";".join(pay_row("530000000003", amount="1.00")[:10])
    rows = [pay_row("530000000001", amount="1.00", name=""), pay_row("530000000001", amount="1.00"),
            pay_row("530000000002", amount="1.00", account=bad_acc), pay_row("530000000002", amount="1.00"),
            short, pay_row("530000000003", amount="1.00"),
            pay_row("530000000004", inv="X", amount="1.00"), pay_row("530000000004", amount="1.00"),
            [q("530000000005")] + pay_row("x", amount="1.00")[1:], pay_row("530000000005", amount="1.00")]
    exp = [(1, "530000000001", 201, "payer_name"), (2, "530000000001", 301, ""), (3, "530000000002", 202, "account"),
           (4, "530000000002", 301, ""), (5, "530000000003", 202, ""), (6, "530000000003", 301, ""),
           (7, "530000000004", 302, ""), (8, "530000000004", 301, ""), (9, "530000000005", 1, ""), (10, "530000000005", 301, "")]
    d = run1(rx, bid_of("PAY", 1), rows, ack(exp, "1.00"), label="PAY1")[0]
    rows = [pay_row("530000000001", amount="1.00"), pay_row("530000000002", amount="1.00"), pay_row("530000000003", amount="1.00"),
            pay_row("530000000004", amount="1.00"), pay_row("530000000005", amount="1.00")]
    d += run1(rx, bid_of("PAY", 2), rows, ack([(1, "530000000001", 1, ""), (2, "530000000002", 1, ""), (3, "530000000003", 1, ""),
                                                (4, "530000000004", 1, ""), (5, "530000000005", 301, "")], "4.00"), label="PAY2")[0]
    return d


@case(1, "304 is about payer type or id: a payer_name spelled differently from the invoice is not a payer difference (ambiguity: §7.2 says 'payer differs')")
def s1_name_only_differs(rx):
    return run1(rx, bid_of("PAY", 1), [pay_row("540000000099", amount="1.00", name="ALIYEV ANVAR"),
                                       pay_row("540000000098", amount="1.00", name="Алиев Анвар")],
                [ack([(1, "540000000099", 1, ""), (2, "540000000098", 1, "")], "2.00"),
                 ack([(1, "540000000099", 304, ""), (2, "540000000098", 304, "")], "0.00")], label="PAY1")[0]


# =====================================================================
# Area 2: REC
# =====================================================================
@case(2, "REC: 1 / 305 amount, invoice, paid_at, state / 4 / 301 / 202 / listed-on-invalid-line / 306 in byte order incl. "
         "reversed and other-date-batch payments; none for other days")
def s2_rec_full(rx):
    d = []
    ids = {}
    pays = [("540000000001", "A", "1.00", "2026-11-21 10:00:00"), ("540000000002", "A", "2.00", "2026-11-21 10:00:00"),
            ("540000000003", "B", "3.00", "2026-11-21 10:00:00"), ("540000000004", "A", "4.00", "2026-11-21 00:00:00"),
            ("540000000005", "A", "5.00", "2026-11-21 23:59:59"), ("540000000006", "A", "6.00", "2026-11-20 12:00:00"),
            ("540000000007", "A", "7.00", "2026-11-22 00:00:00"), ("540000000008", "A", "8.00", "2026-11-21 10:00:00"),
            ("540000000009", "A", "9.00", "2026-11-21 10:00:00"), ("5400000000100", "A", "10.00", "2026-11-21 10:00:00"),
            ("54000000000099", "A", "11.00", "2026-11-21 00:00:00"),
            ("540000000012", "X", "12.00", "2026-11-21 10:00:00"), ("540000000013", "A", "13.00", "2026-11-21 10:00:00"),
            ("540000000014", "A", "14.00", "2026-11-21 10:00:00"), ("540000000015", "B", "15.00", "2026-11-21 10:00:00")]
    rows = [pay_row(p, inv=i, amount=a, paid_at=t) for p, i, a, t in pays]
    exp = [(n + 1, p, 302 if i == "X" else 1, "") for n, (p, i, a, t) in enumerate(pays)]
    d += run1(rx, bid_of("PAY", 1), rows, ack(exp), label="PAY 21")[0]
    rows = [pay_row("540000000016", amount="16.00", paid_at="2026-11-21 23:30:00"), pay_row("540000000017", amount="17.00", paid_at="2026-11-22 00:30:00")]
    d += run1(rx, bid_of("PAY", 1, "20261122"), rows, ack([(1, "540000000016", 1, ""), (2, "540000000017", 1, "")]), label="PAY 22")[0]
    d += run1(rx, bid_of("REV", 1), [rev_row("540000000008", "8.00"), rev_row("5400000000100", "10.00"), rev_row("540000000015", "15.00")],
              ack([(1, "540000000008", 1, ""), (2, "5400000000100", 1, ""), (3, "540000000015", 1, "")]), label="REV")[0]
    rec = [rec_row("540000000001", "1.00"),                                           # 1
           rec_row("540000000002", "2.01"),                                           # 305 amount
           rec_row("540000000003", "3.00", inv="A"),                                  # 305 invoice
           rec_row("540000000004", "4.00", paid_at="2026-11-21 00:00:01"),            # 305 paid_at
           rec_row("540000000005", "5.00", paid_at="2026-11-21 23:59:59", state="REVERSED"),  # 305 state
           rec_row("540000000008", "8.00"),                                           # 305 state (reversed)
           rec_row("540000000015", "15.00", inv="B", state="REVERSED"),               # 1
           rec_row("540000000001", "1.00"),                                           # 301
           rec_row("599999999999", "1.00"),                                           # 4
           rec_row("540000000012", "12.00", inv="X"),                                 # 4 (PAY row was 302)
           rec_row("540000000006", "6.00", paid_at="2026-11-21 12:00:00"),            # 305 paid_at (real one is on the 20th)
           "540000000013;2026-11-21 10:00:00;" + INV["A"][0] + ";13.00",              # 202, no field; still 'listed'
           rec_row("540000000014", "14.00", paid_at="2026-11-20 10:00:00"),           # 202 paid_at (not on business_date); listed
           rec_row("540000000004", "4.00", paid_at="2026-11-21 00:00:00"),            # 301 (earlier line was 305)
           rec_row("550000000001", "1.00", paid_at="2026-11-20 10:00:00"),            # 202 paid_at before 4
           rec_row("540000000003", "3.0", inv="B"),                                   # 202 amount before 301
           ]
    exp = [(1, "540000000001", 1, ""), (2, "540000000002", 305, ""), (3, "540000000003", 305, ""), (4, "540000000004", 305, ""),
           (5, "540000000005", 305, ""), (6, "540000000008", 305, ""), (7, "540000000015", 1, ""), (8, "540000000001", 301, ""),
           (9, "599999999999", 4, ""), (10, "540000000012", 4, ""), (11, "540000000006", 305, ""), (12, "540000000013", 202, ""),
           (13, "540000000014", 202, "paid_at"), (14, "540000000004", 301, ""), (15, "550000000001", 202, "paid_at"),
           (16, "540000000003", 202, "amount")]
    missing = ["540000000009", "5400000000100", "54000000000099", "540000000016"]
    exp += [("", p, 306, "") for p in sorted(missing, key=lambda s: s.encode())]
    d += run1(rx, bid_of("REC", 1), rec, ack(exp, "16.00"), label="REC 21")[0]
    return d


@case(2, "REC: a pid first on an invalid line then on a valid one -> 301; statement with header only -> every day's payment is 306; "
         "REC 0.00 amount -> 202 (as in PAY); state lower case -> 202")
def s2_rec_misc(rx):
    d = []
    rows = [pay_row("560000000001", amount="1.00"), pay_row("560000000002", amount="2.00"), pay_row("560000000003", amount="3.00")]
    d += run1(rx, bid_of("PAY", 1), rows, ack([(1, "560000000001", 1, ""), (2, "560000000002", 1, ""), (3, "560000000003", 1, "")]), label="PAY")[0]
    rec = [rec_row("560000000001", "x"), rec_row("560000000001", "1.00"), rec_row("560000000002", "0.00"), rec_row("560000000003", "3.00", state="paid")]
    d += run1(rx, bid_of("REC", 1), rec, ack([(1, "560000000001", 202, "amount"), (2, "560000000001", 301, ""),
                                              (3, "560000000002", 202, "amount"), (4, "560000000003", 202, "state")], "0.00"), label="REC1")[0]
    d += run1(rx, bid_of("REC", 2), [], ack([("", "560000000001", 306, ""), ("", "560000000002", 306, ""), ("", "560000000003", 306, "")], "0.00"),
              label="REC2 empty", rows=0, total="0.00")[0]
    return d


@case(2, "REC of another business date: 306 only for payments whose paid_at is on that date")
def s2_rec_other_day(rx):
    d = []
    rows = [pay_row("570000000001", amount="1.00", paid_at="2026-11-20 23:59:59"), pay_row("570000000002", amount="2.00", paid_at="2026-11-21 00:00:00")]
    d += run1(rx, bid_of("PAY", 1), rows, ack([(1, "570000000001", 1, ""), (2, "570000000002", 1, "")]), label="PAY")[0]
    d += run1(rx, bid_of("REC", 1, "20261120"), [rec_row("570000000001", "1.00", paid_at="2026-11-20 23:59:59")],
              ack([(1, "570000000001", 1, "")], "1.00"), label="REC 20")[0]
    return d


# =====================================================================
# Area 3: §5.4 identifiers
# =====================================================================
def pinfl(d1, ddmmyy, rest="123456"):
    return make_pinfl(d1 + ddmmyy + rest)


def wrong_check(p):
    return p[:13] + str((int(p[13]) + 1) % 10)


PINFL_CASES = [  # (label, value, valid?)
    ("1 290200 (1800 not leap)", pinfl("1", "290200"), False),
    ("2 290204 (1804 leap)", pinfl("2", "290204"), True),
    ("2 300200 (Feb 30)", pinfl("2", "300200"), False),
    ("4 290200 (1900 not leap)", pinfl("4", "290200"), False),
    ("4 290296 (1996 leap)", pinfl("4", "290296"), True),
    ("6 290200 (2000 leap)", pinfl("6", "290200"), True),
    ("6 290201 (2001)", pinfl("6", "290201"), False),
    ("3 310426 (Apr 31)", pinfl("3", "310426"), False),
    ("3 300426 (Apr 30)", pinfl("3", "300426"), True),
    ("3 311126 (Nov 31)", pinfl("3", "311126"), False),
    ("3 310926 (Sep 31)", pinfl("3", "310926"), False),
    ("3 310626 (Jun 31)", pinfl("3", "310626"), False),
    ("3 310126 (Jan 31)", pinfl("3", "310126"), True),
    ("3 000126 (day 00)", pinfl("3", "000126"), False),
    ("3 010026 (month 00)", pinfl("3", "010026"), False),
    ("3 011326 (month 13)", pinfl("3", "011326"), False),
    ("3 320126 (day 32)", pinfl("3", "320126"), False),
    ("1 311299", pinfl("1", "311299"), True),
    ("0 010190", pinfl("0", "010190"), False),
    ("8 010190", pinfl("8", "010190"), False),
    ("9 010190", pinfl("9", "010190"), False),
    ("P1 wrong check digit", wrong_check(P1), False),
    ("13 digits", P1[:13], False),
    ("15 digits", P1 + "0", False),
    ("fullwidth digits", "".join(chr(0xFF10 + int(c)) for c in P1), False),
    ("arabic-indic digits", "".join(chr(0x660 + int(c)) for c in P1), False),
]


@case(3, "PINFL century digit 0-9 with dates valid/invalid in that century, check digit, length, non-ASCII digits "
         "(valid -> passes format, differs from invoice A's payer -> 304; invalid -> 202 payer_id)")
def s3_pinfl(rx):
    rows, exp = pinfl_rows("6000000000", PINFL_CASES)
    d, r = run1(rx, bid_of("PAY", 1), rows, ack(exp, "0.00"), label="PINFL")
    return d + (pinfl_diffs(r, PINFL_CASES) if d else [])


@case(3, "PINFL 2099-12-31 (century digit 6, future date): a valid calendar date in the century -> 304 (ambiguity: future birth date)")
def s3_pinfl_future(rx):
    v = pinfl("6", "311299")
    return run1(rx, bid_of("PAY", 1), [pay_row("600000000099", amount="1.00", payer=v)],
                [ack([(1, "600000000099", 304, "")]), ack([(1, "600000000099", 202, "payer_id")])], label="PINFL 2099")[0]


TIN_CASES = [("3xxxxxxxx", "312345678", True), ("2 other", "212345679", True), ("1xxxxxxxx", "112345678", False),
             ("0xxxxxxxx", "012345678", False), ("5xxxxxxxx", "512345678", False), ("9xxxxxxxx", "912345678", False),
             ("8 digits", "21234567", False), ("10 digits", "2123456789", False), ("letter", "21234567a", False),
             ("fullwidth 2", "\uff12" + "12345678", False), ("leading space", " 212345678", False)]


@case(3, "TIN: first digit 2/3 vs others, length 8/10, non-digits (invoice B is J/212345678; valid other TIN -> 304)")
def s3_tin(rx):
    rows, exp = [], []
    for i, (lab, val, ok) in enumerate(TIN_CASES):
        pid = "6100000000%02d" % i
        rows.append(pay_row(pid, inv="B", amount="1.00", payer=val))
        exp.append((i + 1, pid, 304 if ok else 202, "" if ok else "payer_id"))
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, "0.00"), label="TIN")[0]


@case(3, "rule between two fields is a failure of the later field, checked in column order (payer_type/payer_id/payer_name)")
def s3_cross_payer(rx):
    def blank(row, i):
        row[i] = ""; return row
    rows = [blank(pay_row("620000000001", pt="X"), 4),           # 202 payer_type (first failing)
            blank(pay_row("620000000002", payer=P1), 3),         # 201 payer_type
            blank(pay_row("620000000003", pt="P"), 4),           # 201 payer_id
            pay_row("620000000004", pt="J", payer=P1, name=""),  # 202 payer_id before payer_name
            pay_row("620000000005", pt="P", payer=P1, name=""),  # 201 payer_name
            pay_row("620000000006", pt="PJ", payer=P1),          # 202 payer_type
            pay_row("620000000007", pt="X", payer="123"),        # 202 payer_type
            pay_row("620000000008", inv="B", pt="P", payer=TIN1, amount="bad"),  # 202 payer_id before amount
            ]
    exp = [(1, "620000000001", 202, "payer_type"), (2, "620000000002", 201, "payer_type"), (3, "620000000003", 201, "payer_id"),
           (4, "620000000004", 202, "payer_id"), (5, "620000000005", 201, "payer_name"), (6, "620000000006", 202, "payer_type"),
           (7, "620000000007", 202, "payer_type"), (8, "620000000008", 202, "payer_id")]
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, "0.00"), label="cross")[0]


def acct_with_r(target, mfo=MFO):
    for n in range(100000):
        a = "2020800000" + "%010d" % (n * 7919)
        s = mfo + a[0:8] + a[9:20] + "9"
        if sum(int(s[i]) * int(s[i + 1]) for i in range(24)) % 11 == target:
            return make_account(mfo, a)


def with_key(a, k):
    return a[:8] + str(k) + a[9:]


@case(3, "account key: r=0 -> 9, r=1 -> 0, r=2 -> 9, r=10 -> 1; wrong keys; lengths; bank_mfo 4/6/empty; account after bank_mfo; column order")
def s3_account(rx):
    A0, A1, A2, A10 = acct_with_r(0), acct_with_r(1), acct_with_r(2), acct_with_r(10)
    assert (A0[8], A1[8], A2[8], A10[8]) == ("9", "0", "9", "1")
    spec = [(A0, None, 1, ""), (with_key(A0, 0), None, 202, "account"), (with_key(A0, 1), None, 202, "account"),
            (A1, None, 1, ""), (with_key(A1, 1), None, 202, "account"), (with_key(A1, 9), None, 202, "account"),
            (A2, None, 1, ""), (with_key(A2, 0), None, 202, "account"),
            (A10, None, 1, ""), (with_key(A10, 0), None, 202, "account"),
            (A0[:19], None, 202, "account"), (A0 + "0", None, 202, "account"), (A0[:19] + "a", None, 202, "account"),
            (A0, "000140", 202, "bank_mfo"), (A0, "0014", 202, "bank_mfo"), (A0, "", 201, "bank_mfo"), ("", "0014", 202, "bank_mfo"),
            ("", "", 201, "bank_mfo"), ("", "99999", 1, ""), (A0, "0001a", 202, "bank_mfo"),
            ]
    rows, exp = [], []
    for i, (acc, mfo, st, fld) in enumerate(spec):
        pid = "6300000000%02d" % i
        rows.append(pay_row(pid, amount="1.00", account=acc, mfo=MFO if mfo is None else mfo))
        exp.append((i + 1, pid, st, fld))
    n = len(spec)
    # account wrong + purpose 501 -> account; amount wrong + account wrong -> amount
    rows.append(pay_row("630000000090", amount="1.00", account=with_key(A0, 1), purpose="a" * 501)); exp.append((n + 1, "630000000090", 202, "account"))
    rows.append(pay_row("630000000091", amount="1.5", account=with_key(A0, 1))); exp.append((n + 2, "630000000091", 202, "amount"))
    # account with key correct for 00083 but bank_mfo 00014
    B83 = acct_with_r(0, "00083")
    if acct_key(MFO, B83) != B83[8]:
        rows.append(pay_row("630000000092", amount="1.00", account=B83, mfo="00083")); exp.append((n + 3, "630000000092", 1, ""))
        rows.append(pay_row("630000000093", amount="1.00", account=B83, mfo=MFO)); exp.append((n + 4, "630000000093", 202, "account"))
    acc = sum(1 for e in exp if e[2] == 1)
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, "%d.00" % acc), label="account")[0]


# =====================================================================
# Area 4: field rules
# =====================================================================
@case(4, "amount pattern [0-9]{1,13}\\.[0-9]{2} and > 0.00: leading zeros ok; sign, spaces, comma, exponent, non-ASCII digits, 0.00/00.00 -> 202")
def s4_amounts(rx):
    spec = [("0001.00", 1), ("00.01", 1), ("0.01", 1), ("1234567890123.45", 1),
            (" 1.00", 202), ("1.00 ", 202), ("1,00", 202), (".50", 202), ("1.", 202), ("1.000", 202), ("-1.00", 202),
            ("1e2", 202), ("\uff11.00", 202), ("\u0661.00", 202), ("0.00", 202), ("00.00", 202), ("0000000000000.00", 202),
            ("12345678901234.00", 202), ("00000000000001.00", 202), ("1.0", 202), ("1 000.00", 202), ("+1.00", 202), ("１２.00", 202)]
    rows, exp, tot = [], [], 0
    for i, (a, st) in enumerate(spec):
        pid = "6400000000%02d" % i
        rows.append(pay_row(pid, inv="G", amount=a)); exp.append((i + 1, pid, st, "" if st == 1 else "amount"))
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, "1234567890124.47"), label="amounts")[0]


@case(4, "13-digit amounts: invoice due 9999999999999.99 paid in one row -> 1; amount_total of 14 integer digits in control.txt -> accepted")
def s4_big_amounts(rx):
    rows = [pay_row("641000000001", inv="G", amount="9999999999999.99"), pay_row("641000000002", inv="G", amount="9999999999999.99")]
    return run1(rx, bid_of("PAY", 1), rows, ack([(1, "641000000001", 1, ""), (2, "641000000002", 302, "")], "9999999999999.99"), label="big")[0]


@case(4, "datetime pattern YYYY-MM-DD HH:MM:SS: impossible dates, 24:00:00, 60 min/sec, single digits, T/t, offsets, fractions, spaces")
def s4_datetimes(rx):
    spec = [("2026-02-29 10:00:00", 202), ("2024-02-29 10:00:00", 1), ("2000-02-29 00:00:00", 1), ("1900-02-29 10:00:00", 202),
            ("2026-11-21 24:00:00", 202), ("2026-11-21 23:59:60", 202), ("2026-11-21 10:60:00", 202), ("2026-11-21 10:00:60", 202),
            ("2026-11-21 9:00:00", 202), ("2026-1-21 10:00:00", 202), ("2026-11-1 10:00:00", 202), ("2026-11-21 10:00", 202),
            ("2026-11-21 10:00:00.5", 202), ("2026-11-21  10:00:00", 202), ("2026-11-21 10:00:00Z", 202),
            ("2026-11-21 10:00:00+05:00", 202), ("2026-04-31 10:00:00", 202), (" 2026-11-21 10:00:00", 202),
            ("2026-11-21t10:00:00", 202), ("2026-11-21T10:00:00", 202), ("2026/11/21 10:00:00", 202), ("2026-11-21 23:59:59", 1),
            ("2026-11-21 00:00:00", 1), ("2026-00-10 10:00:00", 202), ("2026-11-00 10:00:00", 202), ("2026-13-01 10:00:00", 202),
            ("\uff12026-11-21 10:00:00", 202)]
    rows, exp = [], []
    for i, (t, st) in enumerate(spec):
        pid = "6500000000%02d" % i
        rows.append(pay_row(pid, amount="1.00", paid_at=t)); exp.append((i + 1, pid, st, "" if st == 1 else "paid_at"))
    acc = sum(1 for e in exp if e[2] == 1)
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, "%d.00" % acc), label="datetimes")[0]


CREATED = [("+03:00", "2026-11-21T23:05:00+03:00"), ("-05:00", "2026-11-21T15:05:00-05:00"), ("+06:30", "2026-11-22T02:35:00+06:30"),
           ("fraction +05", "2026-11-22T01:05:00.5+05:00"), ("fraction Z", "2026-11-21T20:05:00.999Z"), ("+00:00", "2026-11-21T20:05:00+00:00")]


@case(4, "paid_at/reversed_at 'not after created_at' compared as instants when created_at has another offset or a fraction "
         "(Tashkent 2026-11-22 01:05:00 -> 1, 01:05:01 -> 202)")
def s4_created_offsets(rx):
    d = []
    for i, (lab, ca) in enumerate(CREATED):
        rows = [pay_row("66000000%02d01" % i, amount="1.00", paid_at="2026-11-22 01:05:00"),
                pay_row("66000000%02d02" % i, amount="1.00", paid_at="2026-11-22 01:05:01")]
        d += run1(rx, bid_of("PAY", 10 + i), rows, ack([(1, "66000000%02d01" % i, 1, ""), (2, "66000000%02d02" % i, 202, "paid_at")], "1.00", created_at=ca),
                  label=f"PAY created {lab}", created=ca)[0]
    ca = "2026-11-21T23:05:00+03:00"
    rows = [rev_row("6600000000" + "01", "1.00", at="2026-11-22 01:05:01"), rev_row("6600000000" + "01", "1.00", at="2026-11-22 01:05:00")]
    d += run1(rx, bid_of("REV", 1), rows, ack([(1, "660000000001", 202, "reversed_at"), (2, "660000000001", 1, "")], "1.00", created_at=ca),
              label="REV created +03:00", created=ca)[0]
    return d


CYR = "ЖёЎўЁабвгдежзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"


def cyr(n):
    return (CYR * (n // len(CYR) + 1))[:n]


@case(4, "lengths counted in characters in utf-8, windows-1251, cp866: payer_name 200/201, purpose 500/501, 1-char name, empty purpose")
def s4_lengths(rx):
    d = []
    for j, enc in enumerate(["utf-8", "windows-1251", "cp866"]):
        rows = [pay_row("6700000%d0001" % j, amount="1.00", name=cyr(200)), pay_row("6700000%d0002" % j, amount="1.00", name=cyr(201)),
                pay_row("6700000%d0003" % j, amount="1.00", purpose=cyr(500)), pay_row("6700000%d0004" % j, amount="1.00", purpose=cyr(501)),
                pay_row("6700000%d0005" % j, amount="1.00", name="Ж"), pay_row("6700000%d0006" % j, amount="1.00", purpose=""),
                pay_row("6700000%d0007" % j, amount="1.00", name=q(cyr(100) + ";" + cyr(99))),
                pay_row("6700000%d0008" % j, amount="1.00", name=q(cyr(100) + '"' + cyr(100)))]
        exp = [(1, "6700000%d0001" % j, 1, ""), (2, "6700000%d0002" % j, 202, "payer_name"), (3, "6700000%d0003" % j, 1, ""),
               (4, "6700000%d0004" % j, 202, "purpose"), (5, "6700000%d0005" % j, 1, ""), (6, "6700000%d0006" % j, 1, ""),
               (7, "6700000%d0007" % j, 1, ""), (8, "6700000%d0008" % j, 202, "payer_name")]
        d += run1(rx, bid_of("PAY", 1 + j), rows, ack(exp, "5.00", enc=enc), enc=enc, label=f"lengths {enc}")[0]
    # REV reason 200 / 201 in cp1251 (unknown payment: field checks come first)
    rows = [rev_row("679999999991", "1.00", reason=cyr(200)), rev_row("679999999992", "1.00", reason=cyr(201))]
    d += run1(rx, bid_of("REV", 1), rows, ack([(1, "679999999991", 4, ""), (2, "679999999992", 202, "reason")], "0.00", enc="windows-1251"),
              enc="windows-1251", label="REV reason cp1251")[0]
    return d


PAY_COLS = PAY_HDR.split(";")


@case(4, "required fields empty -> 201 naming the field, for every required column of PAY, REV and REC; optional account/purpose empty -> 1")
def s4_required(rx):
    d = []
    rows, exp = [], []
    for i, col in enumerate(PAY_COLS):
        pid = "6800000000%02d" % i
        r = pay_row(pid, amount="1.00")
        r[i] = ""
        rows.append(r)
        if col in ("account", "purpose"):
            exp.append((i + 1, pid, 1, ""))
        else:
            exp.append((i + 1, "" if col == "payment_id" else pid, 201, col))
    # first failing field wins
    r = pay_row("680000000050", amount="1.00", name=""); r[2] = "abc"; rows.append(r); exp.append((len(rows), "680000000050", 202, "invoice_no"))
    r = pay_row("680000000051", amount="1.5"); r[0] = ""; rows.append(r); exp.append((len(rows), "", 201, "payment_id"))
    for cur in ["0860", "860 ", "UZS", "８６０"]:
        rows.append(pay_row("6800000001%02d" % len(rows), amount="1.00", currency=cur)); exp.append((len(rows), "6800000001%02d" % (len(rows) - 1), 202, "currency"))
    rows.append(pay_row("680000000070", inv="100000000000000000011", amount="1.00")); exp.append((len(rows), "680000000070", 202, "invoice_no"))
    rows.append(pay_row("680000000071", inv="10000000000000000099", amount="1.00")); exp.append((len(rows), "680000000071", 4, ""))
    d += run1(rx, bid_of("PAY", 1), rows, ack(exp, "2.00"), label="PAY")[0]
    rows, exp = [], []
    for i, col in enumerate(REV_HDR.split(";")):
        r = rev_row("681000000001", "1.00"); r[i] = ""
        rows.append(r); exp.append((i + 1, "" if i == 0 else "681000000001", 201, col))
    d += run1(rx, bid_of("REV", 1), rows, ack(exp, "0.00"), label="REV")[0]
    rows, exp = [], []
    for i, col in enumerate(REC_HDR.split(";")):
        r = rec_row("682000000001", "1.00"); r[i] = ""
        rows.append(r); exp.append((i + 1, "" if i == 0 else "682000000001", 201, col))
    # the two PAY rows accepted above (paid 2026-11-21, not listed) are 306
    exp += [("", "680000000009", 306, ""), ("", "680000000010", 306, "")]
    d += run1(rx, bid_of("REC", 1), rows, ack(exp, "0.00"), label="REC")[0]
    return d


# =====================================================================
# Area 5: §4 control.txt
# =====================================================================
CA = "2026-11-22T01:05:00+05:00"


def ctl_case(rx, seq, fn, exp, label, reg_rows=None):
    bid = bid_of("PAY", seq)
    reg = registry("PAY", reg_rows if reg_rows is not None else [pay_row("69%010d" % seq, amount="1.00")])
    c = fn(control_text(bid, "PAY", "utf-8", 1, "1.00"), bid)
    return run1(rx, bid, reg, exp, control=c, label=label)[0]


def ok_row(seq, created=CA):
    return ack([(1, "69%010d" % seq, 1, "")], "1.00", created_at=created)


def set_ca(v):
    return lambda c, b: c.replace(b"created_at=" + CA.encode(), b"created_at=" + v.encode())


@case(5, "created_at forms RFC 3339 allows (9-digit fraction, lower-case t, +00:00, lower-case z with fraction) -> ACK, copied as written")
def s5_ca_allowed(rx):
    d = []
    for i, v in enumerate(["2026-11-21T20:05:00.000000001Z", "2026-11-22t01:05:00+05:00", "2026-11-21T20:05:00+00:00",
                           "2026-11-21t20:05:00.25z", "2026-11-22T01:05:00.000+05:00"]):
        d += ctl_case(rx, 100 + i, set_ca(v), ok_row(100 + i, v), f"created_at {v}")
    return d


@case(5, "created_at forms outside 'RFC 3339 with an offset or Z' -> B06 with fallback created_at")
def s5_ca_refused(rx):
    d = []
    for i, v in enumerate(["2026-11-22T01:05:00+0500", "2026-11-22T01:05:00+05", "2026-11-22T01:05+05:00", "2026-11-22T01:05:00,5+05:00",
                           "2026-11-22T01:05:00.+05:00", "2026-11-22T01:05:00+24:00", "2026-11-22T01:05:00+05:60", "2026-11-22T1:05:00+05:00",
                           "20261122T010500Z", "2026-11-22T01:05:00 +05:00", "2026-11-22T01:05:00Z+05:00", "2026-11-22T01:05:00UTC",
                           "2026-02-29T01:05:00+05:00", "2026-11-22T01:05:00", "2026-11-22", "", "2026-11-22T01:05:00+5:00",
                           "+2026-11-22T01:05:00+05:00", "2026-11-22T01:05:00.5"]):
        d += ctl_case(rx, 120 + i, set_ca(v), nak("B06", "fallback", msg_has=["control.txt", "created_at"]), f"created_at {v!r}")
    return d


@case(5, "created_at with a space separator: the RFC 3339 ABNF requires T (the §5.6 NOTE only allows applications to choose a space) -> B06 (ambiguity)")
def s5_ca_space(rx):
    v = "2026-11-22 01:05:00+05:00"
    return ctl_case(rx, 150, set_ca(v), [nak("B06", "fallback", msg_has=["control.txt", "created_at"]), ok_row(150, v)], "created_at space")


@case(5, "control.txt layout accepted: mixed LF/CRLF, leading/trailing/multiple blank lines, keys in reverse order")
def s5_layout_ok(rx):
    d = []
    def mixed(c, b):
        ls = c.split(b"\n")
        return b"".join(l + (b"\r\n" if i % 2 else b"\n") for i, l in enumerate(ls[:-1]))
    d += ctl_case(rx, 160, mixed, ok_row(160), "mixed LF/CRLF")
    d += ctl_case(rx, 161, lambda c, b: b"\n\r\n\n" + c.replace(b"\n", b"\n\n") + b"\r\n\r\n", ok_row(161), "blank lines")
    d += ctl_case(rx, 162, lambda c, b: b"".join(l + b"\n" for l in reversed(c.split(b"\n")[:-1])), ok_row(162), "reverse order")
    return d


@case(5, "control.txt without a final line end -> ACK (ambiguity: 'one key=value per line')")
def s5_no_final_eol(rx):
    return ctl_case(rx, 165, lambda c, b: c[:-1], [ok_row(165), nak("B06")], "no final LF")


@case(5, "control.txt malformed -> B06 naming control.txt and the key: keys twice, case of key, spaces, no '=', empty value, BOM, lone CR, "
         "amount_total not exactly 2 decimals, rows with sign/space/decimal/letters")
def s5_malformed(rx):
    d = []
    R = lambda old, new: (lambda c, b: c.replace(old, new))
    variants = [
        ("format twice", lambda c, b: c + b"format=munis-offline/1\n", "format", CA),
        ("amount_total twice", lambda c, b: c + b"amount_total=1.00\n", "amount_total", CA),
        ("encoding twice differing", lambda c, b: c + b"encoding=cp866\n", "encoding", CA),
        ("batch_id twice", lambda c, b: c + b"batch_id=" + b.encode() + b"\n", "batch_id", CA),
        ("key Format", R(b"format=", b"Format="), "Format", CA),
        ("space after =", R(b"encoding=utf-8", b"encoding= utf-8"), "encoding", CA),
        ("trailing space value", R(b"encoding=utf-8", b"encoding=utf-8 "), "encoding", CA),
        ("no = line", lambda c, b: c + b"garbage\n", "control.txt", CA),
        ("empty value", R(b"encoding=utf-8", b"encoding="), "encoding", CA),
        ("BOM", lambda c, b: b"\xef\xbb\xbf" + c, "control.txt", CA),
        ("lone CR line ends", lambda c, b: c.replace(b"\n", b"\r"), "control.txt", "fallback"),
        ("total 1", R(b"amount_total=1.00", b"amount_total=1"), "amount_total", CA),
        ("total 1.000", R(b"amount_total=1.00", b"amount_total=1.000"), "amount_total", CA),
        ("total +1.00", R(b"amount_total=1.00", b"amount_total=+1.00"), "amount_total", CA),
        ("total 1,00", R(b"amount_total=1.00", b"amount_total=1,00"), "amount_total", CA),
        ("total -1.00", R(b"amount_total=1.00", b"amount_total=-1.00"), "amount_total", CA),
        ("total trailing space", R(b"amount_total=1.00", b"amount_total=1.00 "), "amount_total", CA),
        ("total 1e0", R(b"amount_total=1.00", b"amount_total=1e0"), "amount_total", CA),
        ("rows +1", R(b"rows=1", b"rows=+1"), "rows", CA),
        ("rows -1", R(b"rows=1", b"rows=-1"), "rows", CA),
        ("rows 1.0", R(b"rows=1", b"rows=1.0"), "rows", CA),
        ("rows empty", R(b"rows=1", b"rows="), "rows", CA),
        ("rows '1 '", R(b"rows=1", b"rows=1 "), "rows", CA),
        ("rows one", R(b"rows=1", b"rows=one"), "rows", CA),
        ("rows 0x1", R(b"rows=1", b"rows=0x1"), "rows", CA),
        ("rows fullwidth", R(b"rows=1", "rows=\uff11".encode()), "rows", CA),
        ("type lower", R(b"type=PAY", b"type=pay"), "type", CA),
        ("format value with =", R(b"format=munis-offline/1", b"format=munis-offline/1=x"), "format", CA),
        ("encoding cp-866", R(b"encoding=utf-8", b"encoding=utf8"), "encoding", CA),
    ]
    for i, (lab, fn, key, created) in enumerate(variants):
        msg = ["control.txt"] + ([key] if key != "control.txt" else [])
        d += ctl_case(rx, 200 + i, fn, nak("B06", created, msg_has=msg), lab)
    return d


@case(5, "rows/amount_total with leading zeros: well-formed numbers equal to the registry -> ACK or B06 (ambiguity; B08 would be wrong)")
def s5_leading_zeros(rx):
    d = []
    d += ctl_case(rx, 250, lambda c, b: c.replace(b"rows=1", b"rows=01"), [ok_row(250), nak("B06", msg_has=["rows"])], "rows 01")
    d += ctl_case(rx, 251, lambda c, b: c.replace(b"amount_total=1.00", b"amount_total=01.00"), [ok_row(251), nak("B06", msg_has=["amount_total"])], "total 01.00")
    return d


@case(5, "rows / amount_total too large for 64-bit: a well-formed number that differs from the registry -> B08 (ambiguity: B06)")
def s5_huge_numbers(rx):
    d = []
    d += ctl_case(rx, 260, lambda c, b: c.replace(b"rows=1", b"rows=99999999999999999999999"),
                  [nak("B08", msg_has=["rows"]), nak("B06", msg_has=["rows"])], "rows 10^23")
    d += ctl_case(rx, 261, lambda c, b: c.replace(b"amount_total=1.00", b"amount_total=999999999999999999999999.00"),
                  [nak("B08", msg_has=["amount_total"]), nak("B06", msg_has=["amount_total"])], "total 10^24")
    return d


@case(5, "B08 / B07 NAK messages name the file and the field/line")
def s5_messages(rx):
    d = []
    d += ctl_case(rx, 270, lambda c, b: c.replace(b"rows=1", b"rows=2"), nak("B08", msg_has=["rows"]), "B08 rows")
    d += ctl_case(rx, 271, lambda c, b: c.replace(b"amount_total=1.00", b"amount_total=2.00"), nak("B08", msg_has=["amount_total"]), "B08 total")
    bid = bid_of("PAY", 272)
    reg = registry("PAY", [pay_row("690000000272", amount="1.00")]).replace(b"purpose", b"Purpose", 1)
    d += run1(rx, bid, reg, nak("B07", msg_has=["registry.csv"]), rows=1, total="1.00", label="B07 header")[0]
    bid = bid_of("PAY", 273)
    reg = registry("PAY", [pay_row("690000000273", amount="1.00"), pay_row("690000000274", amount="1.00", name="Ali@ev")], enc="cp1251").replace(b"@", b"\x98")
    dd, r = run1(rx, bid, reg, nak("B07", msg_has=["registry.csv", "payer_name"]), enc="windows-1251", rows=2, total="2.00", label="B07 bad byte 2nd data row")
    NOTES.append("(B07 message for a bad byte in data row 2 = physical line 3: %r)" % r.get("ctl", {}).get("message"))
    d += dd
    return d



# =====================================================================
# More: cross-batch effects through the waiting order, exports, large sums
# =====================================================================
def drop_all(rx, specs):
    """specs: list of (bid, registry bytes, build kwargs). Put all in the inbox, one run, return {bid: (data, response)}."""
    datas = {}
    for bid, reg, kw in specs:
        data = build_archive(bid, reg, **kw)
        p = os.path.join(rx, "inbox", bid + ".zip")
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (time.time() - 10, time.time() - 10))
        datas[bid] = data
    sh([BIN, "--config", rx + "/reestr.toml", "run"], check=False)
    out = {}
    for bid, data in datas.items():
        p = bid.split("_")
        n = f"SUDBILLING_{p[0]}_{p[2]}_{p[3]}_{p[4]}_ACK.zip"
        fp = os.path.join(rx, "outbox", n)
        r = {"stdout": "", "stderr": "", "rc": 0}
        if not os.path.exists(fp):
            nn = n.replace("_ACK", "_NAK")
            if os.path.exists(os.path.join(rx, "outbox", nn)):
                n, fp = nn, os.path.join(rx, "outbox", nn)
        if os.path.exists(fp):
            r.update(parse_response(n, open(fp, "rb").read()))
        out[bid] = (data, r)
    return out


@case(1, "batches waiting together run by date, type, seq, and each sees the earlier ones' effects: PAY 20 -> REC 20 (before REV 21: PAID) "
         "-> PAY 21 (invoice paid by PAY 20 -> 302) -> REV 21 -> REC 21 (306 for a payment carried by PAY 20 with paid_at on the 21st)")
def s1_waiting_semantics(rx):
    specs = [
        (bid_of("REC", 1), registry("REC", [rec_row("710000000005", "5.00")]), {}),
        (bid_of("REV", 1), registry("REV", [rev_row("710000000003", "60.00")]), {}),
        (bid_of("PAY", 1), registry("PAY", [pay_row("710000000001", inv="D", amount="0.01"), pay_row("710000000005", amount="5.00")]), {}),
        (bid_of("REC", 1, "20261120"), registry("REC", [rec_row("710000000003", "60.00", inv="D", paid_at="2026-11-20 10:00:00")]), {}),
        (bid_of("PAY", 1, "20261120"), registry("PAY", [pay_row("710000000003", inv="D", amount="60.00", paid_at="2026-11-20 10:00:00"),
                                                          pay_row("710000000004", inv="D", amount="40.00", paid_at="2026-11-21 00:00:01")]), {}),
    ]
    res = drop_all(rx, specs)
    exps = {bid_of("PAY", 1, "20261120"): ack([(1, "710000000003", 1, ""), (2, "710000000004", 1, "")], "100.00"),
            bid_of("REC", 1, "20261120"): ack([(1, "710000000003", 1, "")], "60.00"),
            bid_of("PAY", 1): ack([(1, "710000000001", 302, ""), (2, "710000000005", 1, "")], "5.00"),
            bid_of("REV", 1): ack([(1, "710000000003", 1, "")], "60.00"),
            bid_of("REC", 1): ack([(1, "710000000005", 1, ""), ("", "710000000004", 306, "")], "5.00")}
    d = []
    for bid, e in exps.items():
        data, r = res[bid]
        e = dict(e); e["enc"] = "utf-8"
        d += [f"[{bid}] " + x for x in check_response(r, bid + ".zip", data, e)]
    return d


def import_invoices(rx, mutate):
    lines = invoices_csv().decode()
    lines = mutate(lines)
    p = rx + "/inv2.csv"
    open(p, "w").write(lines)
    sh([BIN, "--config", rx + "/reestr.toml", "invoices", "import", p])


@case(1, "§9 + §7.2: export lowers amount_due below what is paid -> 302; a reversal re-opens only what it reversed; "
         "export cancels -> 302 but REV still 1; export re-opens -> balance from the kept payments")
def s1_export_interplay(rx):
    d = []
    C = INV["C"][0]
    d += run1(rx, bid_of("PAY", 1), [pay_row("720000000001", inv="C", amount="100000.00"), pay_row("720000000002", inv="C", amount="100000.00")],
              ack([(1, "720000000001", 1, ""), (2, "720000000002", 1, "")], "200000.00"), label="PAY1")[0]
    import_invoices(rx, lambda s: s.replace("Karimova Dilnoza;300000.00", "Karimova Dilnoza;150000.00"))
    d += run1(rx, bid_of("PAY", 2), [pay_row("720000000003", inv="C", amount="0.01")], ack([(1, "720000000003", 302, "")], "0.00"), label="PAY2 due<paid")[0]
    d += run1(rx, bid_of("REV", 1), [rev_row("720000000001", "100000.00")], ack([(1, "720000000001", 1, "")]), label="REV1")[0]
    d += run1(rx, bid_of("PAY", 3), [pay_row("720000000004", inv="C", amount="50000.01"), pay_row("720000000005", inv="C", amount="10000.00")],
              ack([(1, "720000000004", 303, ""), (2, "720000000005", 1, "")], "10000.00"), label="PAY3 balance 50000")[0]
    import_invoices(rx, lambda s: s.replace("Karimova Dilnoza;300000.00;2026-01-10 10:00:00;OPEN", "Karimova Dilnoza;150000.00;2026-01-10 10:00:00;CANCELLED"))
    d += run1(rx, bid_of("PAY", 4), [pay_row("720000000006", inv="C", amount="1.00")], ack([(1, "720000000006", 302, "")], "0.00"), label="PAY4 cancelled")[0]
    d += run1(rx, bid_of("REV", 2), [rev_row("720000000005", "10000.00")], ack([(1, "720000000005", 1, "")]), label="REV2 on cancelled invoice")[0]
    import_invoices(rx, lambda s: s.replace("Karimova Dilnoza;300000.00", "Karimova Dilnoza;150000.00"))
    # paid now: 720000000002 (100000.00) -> balance 50000.00
    d += run1(rx, bid_of("PAY", 5), [pay_row("720000000007", inv="C", amount="50000.01"), pay_row("720000000008", inv="C", amount="50000.00")],
              ack([(1, "720000000007", 303, ""), (2, "720000000008", 1, "")], "50000.00"), label="PAY5 re-opened")[0]
    return d


@case(4, "amount_total of 20000 rows of 9999999999999.99 (2*10^19 tiyin, beyond 64 bits) must still be compared exactly -> ACK (all 4)")
def s4_total_overflow(rx):
    n = 20000
    rows = [pay_row("73%010d" % i, inv="99999999999999999999", amount="9999999999999.99") for i in range(n)]
    reg = registry("PAY", rows)
    total = fmt_amount(999999999999999 * n)
    bid = bid_of("PAY", 1)
    dd, r = run1(rx, bid, reg, ack([(i + 1, "73%010d" % i, 4, "") for i in range(n)], "0.00"), rows=n, total=total,
                 method=zipfile.ZIP_STORED, label="20000 x 13-digit")
    if dd:
        dd = dd[:3]
    # and a total that is off by 0.01 -> B08
    bid = bid_of("PAY", 2)
    wrong = fmt_amount(999999999999999 * n + 1)
    rows2 = [pay_row("74%010d" % i, inv="99999999999999999999", amount="9999999999999.99") for i in range(n)]
    dd += run1(rx, bid, registry("PAY", rows2), nak("B08", msg_has=["amount_total"]), rows=n, total=wrong, method=zipfile.ZIP_STORED,
               label="off by 0.01")[0]
    return dd


@case(4, "amount_accepted beyond 64 bits: 10000 invoices due 9999999999999.99 each paid in full in one batch -> amount_accepted exact")
def s4_accepted_overflow(rx):
    n = 10000
    extra = "".join(f"2{i:019d};1703002;2-1/2026;P;{P1};Aliyev Anvar;9999999999999.99;2026-01-10 10:00:00;OPEN\r\n" for i in range(n))
    import_invoices(rx, lambda s: s + extra)
    rows = [pay_row("75%010d" % i, inv=f"2{i:019d}", amount="9999999999999.99") for i in range(n)]
    tot = fmt_amount(999999999999999 * n)
    dd, r = run1(rx, bid_of("PAY", 1), registry("PAY", rows), ack([(i + 1, "75%010d" % i, 1, "") for i in range(n)], tot),
                 rows=n, total=tot, method=zipfile.ZIP_STORED, label="10000 x full payment")
    return dd[:3]


@case(2, "REV payment_id has no format rule in §5.2 ('the payment being reversed'): an 11-digit id -> 4 not found (ambiguity: 202 payment_id)")
def s2_rev_pid_format(rx):
    return run1(rx, bid_of("REV", 1), [rev_row("12345678901", "1.00")],
                [ack([(1, "12345678901", 4, "")]), ack([(1, "12345678901", 202, "payment_id")])], label="REV 11 digits")[0]


@case(2, "REC: paid_at has no 'not after created_at' rule (only 'on business_date'); 305 (not 4) when the listed invoice does not exist; "
         "repeated unknown id -> 301 before 4; amount 01.00 equals 1.00; a payment of a NAKed PAY batch is not in the store (no 306)")
def s2_rec_more(rx):
    d = []
    d += run1(rx, bid_of("PAY", 1), [pay_row("760000000001", amount="1.00", paid_at="2026-11-21 20:00:00"),
                                     pay_row("760000000002", amount="1.00", paid_at="2026-11-21 10:00:00")],
              ack([(1, "760000000001", 1, ""), (2, "760000000002", 1, "")]), label="PAY1")[0]
    d += run1(rx, bid_of("PAY", 2), [pay_row("760000000003", amount="1.00")], nak("B08"), total="2.00", label="PAY2 NAK")[0]
    rec = [rec_row("760000000001", "1.00", paid_at="2026-11-21 20:00:00"),        # created_at of the REC is 12:00: still 1
           rec_row("760000000002", "1.00", inv="99999999999999999999"),          # 305: invoice differs (listed invoice unknown)
           rec_row("769999999999", "1.00"), rec_row("769999999999", "1.00"),      # 4, then 301
           rec_row("760000000002", "01.00")]                                     # 301 (repeat)
    d += run1(rx, bid_of("REC", 1), rec, ack([(1, "760000000001", 1, ""), (2, "760000000002", 305, ""), (3, "769999999999", 4, ""),
                                              (4, "769999999999", 301, ""), (5, "760000000002", 301, "")], "1.00",
                                             created_at="2026-11-21T12:00:00+05:00"), created="2026-11-21T12:00:00+05:00", label="REC1")[0]
    d += run1(rx, bid_of("REC", 2), [rec_row("760000000001", "1.00", paid_at="2026-11-21 20:00:00"), rec_row("760000000002", "01.00")],
              ack([(1, "760000000001", 1, ""), (2, "760000000002", 1, "")], "2.00"), label="REC2 amount 01.00")[0]
    return d


@case(4, "datetime rules in REV reversed_at and REC paid_at (24:00:00, Feb 29 2026, single-digit hour, T) -> 202 naming the field")
def s4_datetimes_rev_rec(rx):
    bad = ["2026-11-21 24:00:00", "2026-02-29 10:00:00", "2026-11-21 9:00:00", "2026-11-21T10:00:00"]
    d = run1(rx, bid_of("REV", 1), [rev_row("770000000001", "1.00", at=t) for t in bad],
             ack([(i + 1, "770000000001", 202, "reversed_at") for i in range(len(bad))], "0.00"), label="REV")[0]
    bad = ["2026-11-21 24:00:00", "2026-11-21 9:00:00", "2026-11-21T10:00:00", "2026-11-21 10:00:00.0"]
    d += run1(rx, bid_of("REC", 1), [rec_row("77000000000%d" % i, "1.00", paid_at=t) for i, t in enumerate(bad)],
              ack([(i + 1, "77000000000%d" % i, 202, "paid_at") for i in range(len(bad))], "0.00"), label="REC")[0]
    return d


@case(1, "§8 'Replaying a batch against the same store state reproduces the response byte for byte': after PAY1, PAY2, REV1, PAY3 "
         "(each depending on the earlier ones), `replay` of every batch gives its original response; `check` changes nothing")
def s1_replay_chain(rx):
    d = []
    P = lambda pid, amt: pay_row(pid, inv="D", amount=amt)
    steps = [(bid_of("PAY", 1), [P("780000000001", "60.00"), P("780000000002", "40.01")], [(1, "780000000001", 1, ""), (2, "780000000002", 303, "")]),
             (bid_of("PAY", 2), [P("780000000003", "40.00"), P("780000000004", "0.01")], [(1, "780000000003", 1, ""), (2, "780000000004", 302, "")]),
             (bid_of("REV", 1), [rev_row("780000000001", "60.00"), rev_row("780000000001", "60.00")], [(1, "780000000001", 1, ""), (2, "780000000001", 307, "")]),
             (bid_of("PAY", 3), [P("780000000002", "60.01"), P("780000000004", "60.00")], [(1, "780000000002", 303, ""), (2, "780000000004", 1, "")])]
    raws = {}
    for bid, rows, exp in steps:
        reg = registry(bid.split("_")[2], rows)
        data = build_archive(bid, reg)
        # check first: must print the same outcome and change nothing
        os.makedirs(os.path.join(rx, "tmp_in"), exist_ok=True)
        fn = os.path.join(rx, "tmp_in", bid + ".zip")
        open(fn, "wb").write(data)
        c = sh([BIN, "--config", rx + "/reestr.toml", "check", fn], check=False)
        out = c.stdout.decode(errors="replace")
        for ln, pid, st, fld in exp:
            if f"{ln};{pid};{st};" not in out:
                d.append(f"[check {bid}] output does not show {ln};{pid};{st}: {out[:300]!r}")
        dd, r = run1(rx, bid, reg, ack(exp), label=bid)
        d += dd
        raws[bid] = (fn, r.get("raw"))
    for bid, (fn, raw) in raws.items():
        od = os.path.join(rx, "replay_out", bid)
        shutil.rmtree(od, ignore_errors=True); os.makedirs(od)
        p = sh([BIN, "--config", rx + "/reestr.toml", "replay", "--out", od, fn], check=False)
        files = [f for f in os.listdir(od) if f.endswith(".zip")]
        if len(files) != 1:
            d.append(f"[replay {bid}] rc={p.returncode} files={files} {p.stderr.decode()[-300:]!r}"); continue
        got = open(os.path.join(od, files[0]), "rb").read()
        if got != raw:
            d.append(f"[replay {bid}] response differs from the original ({files[0]})")
        os.remove(fn)
    return d


@case(4, "§5 quoting meets field rules: a quoted value is its content (quoted amount/payer_id/currency valid; quoted \"\" is empty -> 201, "
         "or fine for optional account); trailing ';' = 12 fields -> 202 no field; unquoted amount with a '\"' -> 202 amount")
def s4_quoted_fields(rx):
    rows = [pay_row("790000000001", amount=q("1.00"), payer=q(P1), currency=q("860")),
            pay_row("790000000002", amount="1.00", name='""'),
            pay_row("790000000003", amount="1.00", account='""'),
            ";".join(pay_row("790000000004", amount="1.00")) + ";",
            pay_row("790000000005", amount='1.00"'),
            pay_row("790000000006", amount="1.00", purpose=q(cyr(249) + "\r\n" + cyr(249))),
            pay_row("790000000007", amount="1.00", purpose=q(cyr(250) + "\r\n" + cyr(249)))]
    exp = [(1, "790000000001", 1, ""), (2, "790000000002", 201, "payer_name"), (3, "790000000003", 1, ""), (4, "790000000004", 202, ""),
           (5, "790000000005", 202, "amount"), (6, "790000000006", 1, ""), (7, "790000000007", 202, "purpose")]
    d = []
    for j, enc in enumerate(["utf-8", "windows-1251"]):
        rr = [[c.replace("7900", "79%d0" % j, 1) if k == 0 else c for k, c in enumerate(r)] if isinstance(r, list) else r.replace("7900", "79%d0" % j, 1) for r in rows]
        ee = [(a, b.replace("7900", "79%d0" % j, 1), c, f) for a, b, c, f in exp]
        d += run1(rx, bid_of("PAY", 1 + j), rr, ack(ee, "3.00", enc=enc), enc=enc, label=enc)[0]
    return d

# =====================================================================


if __name__ == "__main__":
    run_cases("rows", CASES, lambda c: new_receiver(c[0]))
