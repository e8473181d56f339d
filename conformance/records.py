"""Black-box conformance suite derived from the exchange agreement (munis-offline/1): the
records themselves, byte by byte: control.txt, the CSV dialect, encodings, identifiers, amounts
and the §6 sums, datetimes against created_at.

    REESTR_BIN=target/debug/reestr python3 conformance/records.py [NAME-SUBSTRING ...]

Each case builds batches on a fresh receiver and checks every response with lib.check_response
(§8) and the row statuses of result.csv. Where the agreement leaves the answer open, the case
lists the acceptable answers and notes the one the receiver gave ("ambiguous").

Areas:
 C. control.txt (§4): created_at forms (RFC 3339, offsets, fractions, leap days and second 60,
    the ends of the calendar), every key required and once, unknown keys, ASCII only, value
    forms, rows and amount_total forms, layout (LF/CRLF, blank lines, a CR that no LF follows,
    mid-file and at the end), the order B05 > B04 > B06 > B07 > B08 with control.txt faults.
 S. the CSV dialect (§5): quotes inside unquoted fields, text after a closing quote, quoted
    fields open at the end, blank lines as rows, mixed line ends, lone CRs, records spanning
    lines, header exactness and BOMs, the 64 KiB physical line limit (§3).
 E. encodings: every byte of windows-1251 (0x98 undefined) and cp866, invalid UTF-8 forms,
    lengths counted in characters in each encoding.
 I. identifiers (§5.4): PINFL digit 1, leap days by century, the check digit; the account key
    at r = 0 and r = 1.
 A. amounts: the pattern, and amount_total as the sum of well-formed amounts in rows with the
    right number of fields (§6), in PAY, REV and REC.
 T. paid_at and reversed_at against created_at, compared as instants across offsets; REC
    paid_at on business_date.

Written by an audit of 2026-11-24 (round 7) from the agreement alone; it found that a CR
ending control.txt with no LF after it was dropped (now B06).
"""
import sys
from lib import *

CASES, case = case_list()


CA = "2026-11-22T01:05:00+05:00"


# =====================================================================
# Area C: §4 control.txt
# =====================================================================
def ctl(rx, seq, fn, exp, label, reg_rows=None, created=CA):
    bid = bid_of("PAY", seq)
    reg = registry("PAY", reg_rows if reg_rows is not None else
                   [pay_row("69%010d" % seq, amount="1.00", paid_at="2010-01-01 00:00:00")])
    c = fn(control_text(bid, "PAY", "utf-8", 1, "1.00", created=created), bid)
    return run1(rx, bid, reg, exp, control=c, label=label)[0]


def ok1(seq, created=CA):
    return ack([(1, "69%010d" % seq, 1, "")], "1.00", created_at=created)


def rep(old, new):
    return lambda c, b: c.replace(old, new)


def set_ca(v):
    return rep(b"created_at=" + CA.encode(), b"created_at=" + (v if isinstance(v, bytes) else v.encode()))


@case("C", "§4 created_at: RFC 3339 forms that must be accepted (-00:00, +23:59/-23:59, 15-digit fraction, "
           "lower-case t and z, 29 Feb of a leap year) -> ACK with created_at copied as written")
def c_ca_accept(rx):
    d = []
    vals = ["2026-11-21T20:05:00-00:00", "2026-11-22T01:05:00+23:59", "2026-11-21T01:05:00-23:59",
            "2026-11-22T01:05:00.123456789012345+05:00", "2026-11-21t20:05:00z", "2024-02-29T01:05:00+05:00",
            "2026-11-22T01:05:00.0Z", "2028-02-29T00:00:00Z"]
    for i, v in enumerate(vals):
        d += ctl(rx, 10 + i, set_ca(v), ok1(10 + i, v), f"created_at {v}")
    return d


@case("C", "§4 created_at: values not RFC 3339 with offset or Z -> B06 (created_at falls back, §8)")
def c_ca_refuse(rx):
    d = []
    vals = ["2026-11-22T24:00:00+05:00", "2026-11-22T01:60:00+05:00", "2026-11-31T01:05:00+05:00", "2100-02-29T01:05:00+05:00",
            "1900-02-29T01:05:00+05:00", "2026-11-22T01:05:00.5.5+05:00", "2026-11-22T01:05:00.Z", "2026-11-22T01:05:00+05:00Z",
            "2026-11-22T01:05:00-0:00", "2026-11-22T01:05:00+05:00\t", " 2026-11-22T01:05:00+05:00",
            "2026-11-22T01:05:00+05:00 ", "2026-11-22T01:05:00-24:00", "2026-11-22T01:05:00+05:0", "2026-11-22T01:05:00\u22120500",
            "2026-11-22T01:05:00+05:00\x00", "\uff12026-11-22T01:05:00+05:00", "2026-11-22T01:05:00z05:00",
            "2026-11-22T01:05:60+05:00", "2026-11-22t01:05:00", "2026-11-22T01:05:00.+05:00"]
    for i, v in enumerate(vals):
        d += ctl(rx, 40 + i, set_ca(v.encode("utf-8")), nak("B06", "fallback", msg_has=["control.txt"]), f"created_at {v!r}")
    return d


@case("C", "§4 created_at second 60: a real leap second (2016-12-31T23:59:60Z) is RFC 3339 -> ACK (README decides B06: ambiguous); "
           "23:59:60 at a non-leap-second instant -> B06 or ACK")
def c_ca_leap(rx):
    d = []
    v = "2016-12-31T23:59:60Z"
    d += ctl(rx, 80, set_ca(v), [ok1(80, v), nak("B06", "fallback")], "leap 2016")
    v = "2016-12-31T23:59:60+00:00"
    d += ctl(rx, 81, set_ca(v), [ok1(81, v), nak("B06", "fallback")], "leap 2016 +00:00")
    v = "2026-11-22T04:59:60+05:00"
    d += ctl(rx, 82, set_ca(v), [nak("B06", "fallback"), ok1(82, v)], "non-leap 60")
    return d


@case("C", "§4 every key required: each key missing -> B06 naming control.txt (created_at fallback only when created_at is missing)")
def c_missing_keys(rx):
    d = []
    keys = ["format", "batch_id", "type", "sender", "receiver", "business_date", "created_at", "encoding", "rows", "amount_total"]
    for i, k in enumerate(keys):
        def fn(c, b, k=k):
            return b"".join(l + b"\n" for l in c.split(b"\n")[:-1] if not l.startswith(k.encode() + b"="))
        d += ctl(rx, 100 + i, fn, nak("B06", "fallback" if k == "created_at" else CA, msg_has=["control.txt"]), f"missing {k}")
    d += ctl(rx, 115, lambda c, b: b"", nak("B06", "fallback"), "empty control.txt")
    d += ctl(rx, 116, lambda c, b: b"\n\n\r\n", nak("B06", "fallback"), "only blank lines")
    return d


@case("C", "§4 unknown key / malformed key lines -> B06: unknown key, key with trailing space, empty key, value starting with '=', "
           "non-ASCII key, key with a tab")
def c_unknown_keys(rx):
    d = []
    vs = [("unknown key", lambda c, b: c + b"note=hello\n"),
          ("unknown key empty value", lambda c, b: c + b"x=\n"),
          ("key then space", rep(b"encoding=utf-8", b"encoding =utf-8")),
          ("empty key", lambda c, b: c + b"=x\n"),
          ("just =", lambda c, b: c + b"=\n"),
          ("value starting with =", rep(b"encoding=utf-8", b"encoding==utf-8")),
          ("non-ASCII key", lambda c, b: c + "\u0444\u043e\u0440\u043c\u0430\u0442=1\n".encode()),
          ("tab in key", rep(b"encoding=utf-8", b"encoding\t=utf-8")),
          ("encoding comment", rep(b"encoding=utf-8", b"encoding=utf-8 # x")),
          ("leading space key", rep(b"encoding=utf-8", b" encoding=utf-8"))]
    for i, (lab, fn) in enumerate(vs):
        d += ctl(rx, 130 + i, fn, nak("B06", msg_has=["control.txt"]), lab)
    return d


@case("C", "§4 'ASCII': non-ASCII bytes anywhere in control.txt -> B06 (in a value, a line of NBSP, a NUL line, a Latin-1 byte, "
           "an invalid UTF-8 byte after the last line)")
def c_non_ascii(rx):
    d = []
    vs = [("NBSP after sender", rep(b"sender=MUNIS", b"sender=MUNIS\xc2\xa0")),
          ("NBSP line", lambda c, b: c + b"\xc2\xa0\n"),
          ("NUL line", lambda c, b: c + b"\x00\n"),
          ("NUL at end", lambda c, b: c + b"\x00"),
          ("latin-1 byte line", lambda c, b: c + b"\xe9\n"),
          ("0xFF trailing line", lambda c, b: c + b"\xff"),
          ("BOM in the middle", lambda c, b: c.replace(b"rows=", b"\xef\xbb\xbfrows=")),
          ("fullwidth digit rows", rep(b"rows=1", "rows=\uff11".encode())),
          ("cyrillic in format", rep(b"format=munis-offline/1", "format=munis-offline/1\u0441".encode()))]
    for i, (lab, fn) in enumerate(vs):
        d += ctl(rx, 150 + i, fn, nak("B06", msg_has=["control.txt"]), lab)
    return d


@case("C", "§4 'each once' + §8 created_at: created_at twice (same valid value) -> B06 with fallback created_at; "
           "created_at once + other key twice -> B06 with created_at copied")
def c_dup_keys(rx):
    d = []
    d += ctl(rx, 170, lambda c, b: c + b"created_at=" + CA.encode() + b"\n", nak("B06", "fallback", msg_has=["created_at"]), "created_at twice")
    d += ctl(rx, 171, lambda c, b: c + b"rows=1\n", nak("B06", CA, msg_has=["rows"]), "rows twice same")
    d += ctl(rx, 172, lambda c, b: c + b"type=PAY\r\n", nak("B06", CA, msg_has=["type"]), "type twice same, CRLF")
    d += ctl(rx, 173, lambda c, b: c + b"created_at=bogus\n", nak("B06", "fallback"), "created_at twice, 2nd invalid")
    return d


@case("C", "§4 value forms: encoding exact spelling; business_date form; batch_id/type/sender/receiver/format equal exactly -> B06")
def c_values(rx):
    d = []
    vs = [("encoding UTF-8", rep(b"encoding=utf-8", b"encoding=UTF-8"), "encoding"),
          ("encoding cp1251", rep(b"encoding=utf-8", b"encoding=cp1251"), "encoding"),
          ("encoding CP866", rep(b"encoding=utf-8", b"encoding=CP866"), "encoding"),
          ("encoding win-1251", rep(b"encoding=utf-8", b"encoding=Windows-1251"), "encoding"),
          ("business_date 20261121", rep(b"business_date=2026-11-21", b"business_date=20261121"), "business_date"),
          ("business_date other day", rep(b"business_date=2026-11-21", b"business_date=2026-11-22"), "business_date"),
          ("business_date with time", rep(b"business_date=2026-11-21", b"business_date=2026-11-21T00:00:00"), "business_date"),
          ("business_date 2026-11-21 trailing space", rep(b"business_date=2026-11-21", b"business_date=2026-11-21 "), "business_date"),
          ("business_date 2026/11/21", rep(b"business_date=2026-11-21", b"business_date=2026/11/21"), "business_date"),
          ("batch_id .zip", rep(b"batch_id=MUNIS_SUDBILLING_PAY_20261121_", b"batch_id=X"), "batch_id"),
          ("batch_id lower", lambda c, b: c.replace(b"batch_id=" + b.encode(), b"batch_id=" + b.lower().encode()), "batch_id"),
          ("batch_id with .zip", lambda c, b: c.replace(b"batch_id=" + b.encode(), b"batch_id=" + b.encode() + b".zip"), "batch_id"),
          ("type REV", rep(b"type=PAY", b"type=REV"), "type"),
          ("sender lower", rep(b"sender=MUNIS", b"sender=munis"), "sender"),
          ("sender other", rep(b"sender=MUNIS", b"sender=MUNIS2"), "sender"),
          ("receiver other", rep(b"receiver=SUDBILLING", b"receiver=SUDBILLIN"), "receiver"),
          ("format /2", rep(b"format=munis-offline/1", b"format=munis-offline/2"), "format"),
          ("format upper", rep(b"format=munis-offline/1", b"format=MUNIS-OFFLINE/1"), "format"),
          ("format /01", rep(b"format=munis-offline/1", b"format=munis-offline/01"), "format")]
    for i, (lab, fn, key) in enumerate(vs):
        d += ctl(rx, 180 + i, fn, nak("B06", msg_has=["control.txt", key]), lab)
    return d


@case("C", "§4 rows/amount_total forms: sign, spaces, tab, exponent, missing integer part, 3 decimals, negative zero -> B06; "
           "a well-formed wrong value -> B08")
def c_numbers(rx):
    d = []
    vs = [("rows ' 1'", rep(b"rows=1", b"rows= 1"), "B06", "rows"),
          ("rows '1\\t'", rep(b"rows=1", b"rows=1\t"), "B06", "rows"),
          ("rows 1e0", rep(b"rows=1", b"rows=1e0"), "B06", "rows"),
          ("rows -0", rep(b"rows=1", b"rows=-0"), "B06", "rows"),
          ("rows 0", rep(b"rows=1", b"rows=0"), "B08", "rows"),
          ("rows 2", rep(b"rows=1", b"rows=2"), "B08", "rows"),
          ("total -0.00", rep(b"amount_total=1.00", b"amount_total=-0.00"), "B06", "amount_total"),
          ("total 1.", rep(b"amount_total=1.00", b"amount_total=1."), "B06", "amount_total"),
          ("total empty", rep(b"amount_total=1.00", b"amount_total="), "B06", "amount_total"),
          ("total 1.00.", rep(b"amount_total=1.00", b"amount_total=1.00."), "B06", "amount_total"),
          ("total 1 000.00", rep(b"amount_total=1.00", b"amount_total=1 000.00"), "B06", "amount_total"),
          ("total 0.99", rep(b"amount_total=1.00", b"amount_total=0.99"), "B08", "amount_total"),
          ("total 1.01", rep(b"amount_total=1.00", b"amount_total=1.01"), "B08", "amount_total"),
          ("total 0.00", rep(b"amount_total=1.00", b"amount_total=0.00"), "B08", "amount_total"),
          ("total 14 digits", rep(b"amount_total=1.00", b"amount_total=10000000000001.00"), "B08", "amount_total")]
    for i, (lab, fn, code, key) in enumerate(vs):
        d += ctl(rx, 210 + i, fn, nak(code, msg_has=[key]), lab)
    d += ctl(rx, 235, rep(b"amount_total=1.00", b"amount_total=.00"), [nak("B06", msg_has=["amount_total"]), nak("B08", msg_has=["amount_total"])],
             "total .00 (ambiguous)")
    return d


@case("C", "§4 layout: CR inside a line (value ends with CR before CRLF / LF) -> B06; blank CRLF lines between keys, "
           "CRLF everywhere, final line without line end (ambiguous) -> ACK")
def c_layout(rx):
    d = []
    d += ctl(rx, 240, rep(b"encoding=utf-8\n", b"encoding=utf-8\r\r\n"), nak("B06", msg_has=["control.txt"]), "CR CR LF")
    d += ctl(rx, 241, rep(b"encoding=utf-8\n", b"encoding=utf-8\r"), nak("B06", msg_has=["control.txt"]), "lone CR merges lines")
    d += ctl(rx, 242, lambda c, b: c.replace(b"\n", b"\r\n\r\n"), ok1(242), "CRLF + blank CRLF lines")
    d += ctl(rx, 243, lambda c, b: b"\r\n" + c.replace(b"\n", b"\r\n")[:-2], [ok1(243), nak("B06")], "CRLF, no final line end")
    d += ctl(rx, 244, lambda c, b: c + b"\r\n\n\r\n", ok1(244), "trailing blank lines mixed")
    d += ctl(rx, 245, lambda c, b: c + b"\t\n", nak("B06"), "line of a tab (README: B06)")
    return d


@case("C", "§7.1 order among B04/B05/B06/B07/B08 with control.txt faults")
def c_order(rx):
    d = []
    # B05 before B06: HMAC wrong and unknown key
    bid = bid_of("PAY", 260)
    reg = registry("PAY", [pay_row("690000000260", amount="1.00")])
    c = control_text(bid, "PAY", "utf-8", 1, "1.00") + b"note=x\n"
    d += run1(rx, bid, reg, nak("B05"), control=c, hmac_val=b"0" * 64, label="B05+B06")[0]
    # B04 before B06: manifest hash wrong and unknown key
    bid = bid_of("PAY", 261)
    c = control_text(bid, "PAY", "utf-8", 1, "1.00") + b"note=x\n"
    man = (f"{hashlib.sha256(c).hexdigest()}  control.txt\n{'0' * 64}  registry.csv\n").encode()
    d += run1(rx, bid, reg, nak("B04"), control=c, manifest=man, label="B04+B06")[0]
    # B06 before B07: unknown key and header wrong
    bid = bid_of("PAY", 262)
    reg2 = registry("PAY", [pay_row("690000000262", amount="1.00")]).replace(b"purpose", b"Purpose", 1)
    c = control_text(bid, "PAY", "utf-8", 1, "1.00") + b"note=x\n"
    d += run1(rx, bid, reg2, nak("B06"), control=c, label="B06+B07")[0]
    # B07 before B08: bad bytes and rows wrong
    bid = bid_of("PAY", 263)
    reg3 = registry("PAY", [pay_row("690000000263", amount="1.00", name="Ali@")]).replace(b"@", b"\xff")
    d += run1(rx, bid, reg3, nak("B07"), rows=5, total="1.00", label="B07+B08")[0]
    # B06 before B08: amount_total malformed and rows wrong
    bid = bid_of("PAY", 264)
    c = control_text(bid, "PAY", "utf-8", 7, "1")
    d += run1(rx, bid, reg, nak("B06", msg_has=["amount_total"]), control=c, label="B06+B08")[0]
    # B06 (encoding value invalid) before B07 (header wrong)
    bid = bid_of("PAY", 265)
    c = control_text(bid, "PAY", "latin-1", 1, "1.00")
    d += run1(rx, bid, reg2, nak("B06", msg_has=["encoding"]), control=c, label="B06 encoding + B07")[0]
    # declared cp866, registry starts with a UTF-8 BOM -> header differs -> B07
    bid = bid_of("PAY", 266)
    reg4 = registry("PAY", [pay_row("690000000266", amount="1.00")], bom=True)
    d += run1(rx, bid, reg4, nak("B07"), enc="cp866", rows=1, total="1.00", label="cp866 + BOM")[0]
    # B07 (bad byte in the last row) before B08 (amount_total wrong)
    bid = bid_of("PAY", 267)
    reg5 = registry("PAY", [pay_row("690000000267", amount="1.00"), pay_row("690000000268", amount="1.00", purpose="x@")], enc="cp1251").replace(b"@", b"\x98")
    d += run1(rx, bid, reg5, nak("B07"), enc="windows-1251", rows=2, total="9.00", label="0x98 + B08")[0]
    return d


# =====================================================================
# Area S: §5 CSV dialect
# =====================================================================
def H(typ="PAY"):
    return HDR[typ]


def J(r):
    return ";".join(r)


@case("S", "§5 a '\"' inside an unquoted field is ordinary: payer_name Ali \"Bek\", x\", a\"\"b; purpose with quotes -> 1 each")
def s_unquoted_quotes(rx):
    rows = [pay_row("700000000001", amount="1.00", name='Ali "Bek" o\'g\'li'), pay_row("700000000002", amount="1.00", name='x"'),
            pay_row("700000000003", amount="1.00", name='a""b'), pay_row("700000000004", amount="1.00", purpose='a"b"'),
            pay_row("700000000005", amount="1.00", name=' "quoted after space"')]
    return run1(rx, bid_of("PAY", 1), rows, ack([(i + 1, "70000000000%d" % (i + 1), 1, "") for i in range(5)], "5.00"), label="unquoted quotes")[0]


@case("S", "§5 text after a closing quote before ';' or line end -> B07 (letter, space, lone CR, second quoted part)")
def s_after_close(rx):
    d = []
    base = J(pay_row("700000000010", amount="1.00", name="NAME"))
    vs = [('"Ali"x', "letter"), ('"Ali" ', "space"), ('"Ali"\rx', "lone CR then text"), ('"Ali""x"y', "text after doubled"),
          ('"Ali""Bek"', None)]
    for i, (v, lab) in enumerate(vs):
        reg = (H() + "\r\n" + base.replace("NAME", v) + "\r\n").encode()
        bid = bid_of("PAY", 10 + i)
        if lab is None:  # "Ali""Bek" is a proper quoted field: Ali"Bek -> valid
            d += run1(rx, bid, reg, ack([(1, "700000000010", 1, "")], "1.00"), rows=1, total="1.00", label="doubled quote inside")[0]
        else:
            d += run1(rx, bid, reg, nak("B07", msg_has=["registry.csv"]), rows=1, total="1.00", label=lab)[0]
    # closing quote then CR LF: fine
    reg = (H() + "\r\n" + J(pay_row("700000000011", amount="1.00", purpose='"x"')) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 20), reg, ack([(1, "700000000011", 1, "")], "1.00"), rows=1, total="1.00", label="quoted last field CRLF")[0]
    # closing quote at EOF without line end: fine
    reg = (H() + "\r\n" + J(pay_row("700000000012", amount="1.00", purpose='"x"'))).encode()
    d += run1(rx, bid_of("PAY", 21), reg, ack([(1, "700000000012", 1, "")], "1.00"), rows=1, total="1.00", label="quoted last field EOF")[0]
    return d


@case("S", "§5 a quoted field still open at the end of the file -> B07 (with and without a final line end; ending in a doubled quote)")
def s_open_eof(rx):
    d = []
    base = J(pay_row("700000000020", amount="1.00", purpose="PURP"))
    for i, (v, tail) in enumerate([('"abc', ""), ('"abc', "\r\n"), ('"abc""', "\r\n"), ('"', ""), ('"abc\r\n', "")]):
        reg = (H() + "\r\n" + base.replace("PURP", v) + tail).encode()
        d += run1(rx, bid_of("PAY", 30 + i), reg, nak("B07", msg_has=["registry.csv"]), rows=1, total="1.00", label=f"open {v!r}+{tail!r}")[0]
    return d


@case("S", "§5 'every line end outside quotes ends a row, so a blank line is a row of one empty field': a blank line in the middle "
           "and a file ending with two line ends each add a row (202, counted in rows); line numbers are data row numbers")
def s_blank_lines(rx):
    d = []
    r1 = J(pay_row("700000000030", amount="1.00"))
    r2 = J(pay_row("700000000031", amount="2.00"))
    # middle blank line
    reg = (H() + "\r\n" + r1 + "\r\n\r\n" + r2 + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 40), reg, ack([(1, "700000000030", 1, ""), (2, "", 202, ""), (3, "700000000031", 1, "")], "3.00"),
            rows=3, total="3.00", label="blank middle")[0]
    # trailing blank line (two line ends at the end)
    reg = (H() + "\r\n" + r1.replace("030", "032") + "\r\n\r\n").encode()
    d += run1(rx, bid_of("PAY", 41), reg, ack([(1, "700000000032", 1, ""), (2, "", 202, "")], "1.00"),
            rows=2, total="1.00", label="two final CRLF")[0]
    # same with LF
    reg = (H() + "\n" + r1.replace("030", "033") + "\n\n").encode()
    d += run1(rx, bid_of("PAY", 42), reg, ack([(1, "700000000033", 1, ""), (2, "", 202, "")], "1.00"),
            rows=2, total="1.00", label="two final LF")[0]
    # a control.txt that does not count the trailing blank row -> B08
    reg = (H() + "\r\n" + r1.replace("030", "034") + "\r\n\r\n").encode()
    d += run1(rx, bid_of("PAY", 43), reg, nak("B08", msg_has=["rows"]), rows=1, total="1.00", label="blank not counted -> B08")[0]
    # header then only a blank line
    reg = (H() + "\r\n\r\n").encode()
    d += run1(rx, bid_of("PAY", 44), reg, ack([(1, "", 202, "")], "0.00"), rows=1, total="0.00", label="header + blank")[0]
    # header only: 0 rows, with and without line end
    d += run1(rx, bid_of("PAY", 45), (H() + "\r\n").encode(), ack([], "0.00"), rows=0, total="0.00", label="header only")[0]
    d += run1(rx, bid_of("PAY", 46), H().encode(), ack([], "0.00"), rows=0, total="0.00", label="header only no EOL")[0]
    return d


@case("S", "§5 line ends CRLF or LF mixed freely; last line end optional")
def s_mixed_eol(rx):
    rows = [J(pay_row("70000000004%d" % i, amount="1.00")) for i in range(4)]
    reg = (H() + "\n" + rows[0] + "\r\n" + rows[1] + "\n" + rows[2] + "\r\n" + rows[3]).encode()
    return run1(rx, bid_of("PAY", 50), reg, ack([(i + 1, "70000000004%d" % i, 1, "") for i in range(4)], "4.00"), rows=4, total="4.00", label="mixed")[0]


@case("S", "§5 a lone CR is no line end (only CRLF or LF): inside an unquoted field it is a character (1); between two rows it "
           "joins them into one row of 21 fields (202, rows=1); at the end of the file it is part of the last field")
def s_lone_cr(rx):
    d = []
    reg = (H() + "\r\n" + J(pay_row("700000000050", amount="1.00", name="Ali\rBek")) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 60), reg, ack([(1, "700000000050", 1, "")], "1.00"), rows=1, total="1.00", label="CR in name")[0]
    reg = (H() + "\r\n" + J(pay_row("700000000051", amount="1.00")) + "\r" + J(pay_row("700000000052", amount="1.00")) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 61), reg, ack([(1, "700000000051", 202, "")], "0.00"), rows=1, total="0.00", label="CR joins rows")[0]
    reg = (H() + "\r\n" + J(pay_row("700000000053", amount="1.00")) + "\r").encode()
    d += run1(rx, bid_of("PAY", 62), reg, ack([(1, "700000000053", 1, "")], "1.00"), rows=1, total="1.00", label="CR at EOF in purpose")[0]
    reg = (H() + "\r\n" + J(pay_row("700000000054", amount="1.00", purpose=q("a\rb"))) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 63), reg, ack([(1, "700000000054", 1, "")], "1.00"), rows=1, total="1.00", label="CR in quoted")[0]
    # header ending with a lone CR: header's last name is 'purpose\r' -> B07
    reg = (H() + "\r" + J(pay_row("700000000055", amount="1.00")) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 64), reg, nak("B07", msg_has=["registry.csv"]), rows=0, total="0.00", label="header + lone CR")[0]
    # CR as line end of the header only (old Mac file): header differs
    return d


@case("S", "§5 line breaks inside quoted fields: a record spanning physical lines is one row; result line numbers count data rows")
def s_multiline(rx):
    rows = [pay_row("700000000060", amount="1.00", purpose=q("line1\r\nline2\nline3")),
            pay_row("700000000061", amount="1.00", name=q("Ali\r\nBek")),
            pay_row("700000000062", amount="1.0"),
            pay_row("700000000063", amount="1.00", purpose=q("x;y\r\n\r\n;\"\"")),
            pay_row("700000000064", amount="bad")]
    exp = [(1, "700000000060", 1, ""), (2, "700000000061", 1, ""), (3, "700000000062", 202, "amount"), (4, "700000000063", 1, ""),
           (5, "700000000064", 202, "amount")]
    return run1(rx, bid_of("PAY", 70), rows, ack(exp, "3.00"), rows=5, total="3.00", label="multiline")[0]


@case("S", "§5 header exactness: BOM only in UTF-8; BOM in windows-1251/cp866 -> B07; spaces, trailing ';', case, missing/extra/reordered "
           "column, double BOM, empty file -> B07; quoted header names (ambiguous)")
def s_header(rx):
    d = []
    row = [pay_row("700000000070", amount="1.00")]
    # utf-8 BOM ok
    d += run1(rx, bid_of("PAY", 80), registry("PAY", row, bom=True), ack([(1, "700000000070", 1, "")], "1.00"), rows=1, total="1.00", label="utf-8 BOM")[0]
    # BOM in cp1251 / cp866
    d += run1(rx, bid_of("PAY", 81), registry("PAY", row, enc="cp1251", bom=True), nak("B07", msg_has=["registry.csv"]), enc="windows-1251",
            rows=1, total="1.00", label="cp1251 + BOM")[0]
    d += run1(rx, bid_of("PAY", 82), registry("PAY", row, enc="cp866", bom=True), nak("B07", msg_has=["registry.csv"]), enc="cp866",
            rows=1, total="1.00", label="cp866 + BOM")[0]
    body = "\r\n" + J(row[0]) + "\r\n"
    bads = [("double BOM", b"\xef\xbb\xbf\xef\xbb\xbf" + H().encode()), ("space after name", H().replace("amount", "amount ").encode()),
            ("space before name", H().replace(";amount", "; amount").encode()), ("trailing ;", (H() + ";").encode()),
            ("upper", H().upper().encode()), ("missing purpose", H().rsplit(";", 1)[0].encode()),
            ("extra col", (H() + ";extra").encode()), ("swapped", H().replace("payer_type;payer_id", "payer_id;payer_type").encode()),
            ("REV header in PAY", HDR["REV"].encode()), ("BOM as U+FEFF after a space", b" \xef\xbb\xbf" + H().encode()),
            ("trailing tab", (H() + "\t").encode())]
    for i, (lab, hb) in enumerate(bads):
        d += run1(rx, bid_of("PAY", 83 + i), hb + body.encode(), nak("B07", msg_has=["registry.csv"]), rows=1, total="1.00", label=lab)[0]
    d += run1(rx, bid_of("PAY", 100), b"", nak("B07"), rows=0, total="0.00", label="empty registry")[0]
    d += run1(rx, bid_of("PAY", 101), b"\xef\xbb\xbf", nak("B07"), rows=0, total="0.00", label="BOM only")[0]
    qh = ";".join(q(x) for x in H().split(";"))
    d += run1(rx, bid_of("PAY", 102), (qh + body.replace("700000000070", "700000000072")).encode(), [ack([(1, "700000000072", 1, "")], "1.00"), nak("B07")], rows=1, total="1.00",
            label="quoted header names")[0]
    # U+FEFF at the start of data row 1 (not the file) is part of payment_id -> 202
    reg = (H() + "\r\n\ufeff" + J(pay_row("700000000071", amount="1.00")) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 103), reg, ack([(1, "\ufeff700000000071", 202, "payment_id")], "0.00"), rows=1, total="1.00", label="BOM in row 1")[0]
    return d


def padded_row(pid, nbytes, eol_inside=None, enc="utf-8", amount="1.00"):
    """A PAY row whose physical line is exactly nbytes long (purpose padded with 'a')."""
    r = pay_row(pid, amount=amount, purpose="")
    base = len(J(r).encode(enc))
    r[10] = "a" * (nbytes - base)
    s = J(r)
    assert len(s.encode(enc)) == nbytes
    return s


@case("S", "§3 registry line <= 64 KiB (physical, bytes, without its line end): 65536 with CRLF / LF / no final EOL -> not B02 "
           "(purpose too long: 202); 65537 -> B02; header + 65536 in windows-1251 Cyrillic")
def s_line_limit(rx):
    d = []
    L = 65536
    reg = (H() + "\r\n" + padded_row("700000000080", L) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 110), reg, ack([(1, "700000000080", 202, "purpose")], "0.00"), rows=1, total="1.00", label="65536 CRLF")[0]
    reg = (H() + "\n" + padded_row("700000000081", L) + "\n").encode()
    d += run1(rx, bid_of("PAY", 111), reg, ack([(1, "700000000081", 202, "purpose")], "0.00"), rows=1, total="1.00", label="65536 LF")[0]
    reg = (H() + "\r\n" + padded_row("700000000082", L)).encode()
    d += run1(rx, bid_of("PAY", 112), reg, ack([(1, "700000000082", 202, "purpose")], "0.00"), rows=1, total="1.00", label="65536 EOF")[0]
    reg = (H() + "\r\n" + padded_row("700000000083", L + 1) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 113), reg, nak("B02", "fallback"), rows=1, total="1.00", label="65537 CRLF")[0]
    reg = (H() + "\r\n" + padded_row("700000000084", L + 1)).encode()
    d += run1(rx, bid_of("PAY", 114), reg, nak("B02", "fallback"), rows=1, total="1.00", label="65537 EOF")[0]
    # 65536 bytes + CR + CRLF: the CR is not part of the line end -> 65537 -> B02
    reg = (H() + "\r\n" + padded_row("700000000085", L) + "\r\r\n").encode()
    d += run1(rx, bid_of("PAY", 115), reg, nak("B02", "fallback"), rows=1, total="1.00", label="65536 + CR CRLF")[0]
    # windows-1251 Cyrillic purpose: 65536 bytes (one byte each)
    r = pay_row("700000000086", amount="1.00", purpose="")
    base = len(J(r).encode("cp1251"))
    r[10] = "ж" * (L - base)
    reg = (H() + "\r\n" + J(r) + "\r\n").encode("cp1251")
    d += run1(rx, bid_of("PAY", 116), reg, ack([(1, "700000000086", 202, "purpose")], "0.00", enc="windows-1251"), enc="windows-1251",
            rows=1, total="1.00", label="cp1251 65536")[0]
    # UTF-8 Cyrillic: 65536 bytes -> ok; 65538 -> B02
    r = pay_row("700000000087", amount="1.00", purpose="")
    base = len(J(r).encode())
    pad = L - base
    r[10] = "ж" * (pad // 2) + "a" * (pad % 2)
    reg = (H() + "\r\n" + J(r) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 117), reg, ack([(1, "700000000087", 202, "purpose")], "0.00"), rows=1, total="1.00", label="utf-8 65536")[0]
    return d


@case("S", "§3 line limit is per physical line: a quoted field spanning lines (each < 64 KiB, total > 64 KiB) -> not B02 (202 purpose); "
           "two 40000-byte halves joined by a lone CR form one 80001-byte physical line -> B02; a quoted line over 64 KiB -> B02")
def s_line_limit_multiline(rx):
    d = []
    part = "b" * 40000
    r = pay_row("700000000090", amount="1.00", purpose=q(part + "\r\n" + part + "\n" + part))
    reg = (H() + "\r\n" + J(r) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 120), reg, ack([(1, "700000000090", 202, "purpose")], "0.00"), rows=1, total="1.00", label="multi-line 120 KB")[0]
    r = pay_row("700000000091", amount="1.00", purpose=part + "\r" + part)
    reg = (H() + "\r\n" + J(r) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 121), reg, nak("B02", "fallback"), rows=1, total="1.00", label="lone CR join")[0]
    r = pay_row("700000000092", amount="1.00", purpose=q("x\r\n" + "c" * 65537 + "\r\ny"))
    reg = (H() + "\r\n" + J(r) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 122), reg, nak("B02", "fallback"), rows=1, total="1.00", label="inner line 65537")[0]
    r = pay_row("700000000093", amount="1.00", purpose=q("x\r\n" + "c" * 65536 + "\r\ny"))
    reg = (H() + "\r\n" + J(r) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 123), reg, ack([(1, "700000000093", 202, "purpose")], "0.00"), rows=1, total="1.00", label="inner line 65536")[0]
    return d


# =====================================================================
# Area E: encodings
# =====================================================================
@case("E", "windows-1251: every byte 0x80-0xFF except 0x98 is a defined character -> 1; 0x98 anywhere (quoted purpose, payment_id, "
           "header) -> B07")
def e_cp1251(rx):
    d = []
    hi = bytes(b for b in range(0x80, 0x100) if b != 0x98)
    r = J(pay_row("710000000001", amount="1.00", purpose="PURP")).encode("cp1251")
    reg = H().encode() + b"\r\n" + r.replace(b"PURP", hi) + b"\r\n"
    d += run1(rx, bid_of("PAY", 1), reg, ack([(1, "710000000001", 1, "")], "1.00", enc="windows-1251"), enc="windows-1251",
            rows=1, total="1.00", label="all bytes")[0]
    reg = H().encode() + b"\r\n" + r.replace(b"PURP", b'"a\x98b"') + b"\r\n"
    d += run1(rx, bid_of("PAY", 2), reg, nak("B07", msg_has=["registry.csv"]), enc="windows-1251", rows=1, total="1.00", label="0x98 quoted")[0]
    reg = H().encode() + b"\r\n" + r.replace(b"710000000001", b"71000000\x980001") + b"\r\n"
    d += run1(rx, bid_of("PAY", 3), reg, nak("B07"), enc="windows-1251", rows=1, total="1.00", label="0x98 payment_id")[0]
    reg = H().encode() + b"\x98\r\n" + r + b"\r\n"
    d += run1(rx, bid_of("PAY", 4), reg, nak("B07"), enc="windows-1251", rows=1, total="1.00", label="0x98 header")[0]
    # 0x98 in a row with the wrong number of fields -> still B07
    reg = H().encode() + b"\r\n" + b"x\x98;y\r\n"
    d += run1(rx, bid_of("PAY", 5), reg, nak("B07"), enc="windows-1251", rows=1, total="0.00", label="0x98 short row")[0]
    return d


@case("E", "cp866: every byte 0x80-0xFF is a character -> 1 (lengths in characters: 128 bytes = 128 characters)")
def e_cp866(rx):
    hi = bytes(range(0x80, 0x100))
    r = J(pay_row("711000000001", amount="1.00", purpose="PURP", name="NAME")).encode("cp866")
    reg = H().encode() + b"\r\n" + r.replace(b"PURP", hi * 3).replace(b"NAME", hi[:100] + hi[:100]) + b"\r\n"
    return run1(rx, bid_of("PAY", 1), reg, ack([(1, "711000000001", 1, "")], "1.00", enc="cp866"), enc="cp866", rows=1, total="1.00",
              label="cp866 all bytes")[0]


@case("E", "UTF-8: invalid sequences -> B07 (overlong 2- and 3-byte, surrogate, > U+10FFFF, 0xFF, 0xC0, lone continuation, "
           "truncated sequence before ';' and at EOF, CESU-8 pair, 5-byte form)")
def e_utf8_invalid(rx):
    d = []
    bads = [("overlong C0 AF", b"\xc0\xaf"), ("overlong E0 80 AF", b"\xe0\x80\xaf"), ("overlong F0 80 80 AF", b"\xf0\x80\x80\xaf"),
            ("surrogate ED A0 80", b"\xed\xa0\x80"), ("surrogate ED BF BF", b"\xed\xbf\xbf"), ("F4 90 80 80", b"\xf4\x90\x80\x80"),
            ("FF", b"\xff"), ("C1 81", b"\xc1\x81"), ("lone 80", b"\x80"), ("truncated E2 82", b"\xe2\x82"),
            ("CESU pair", b"\xed\xa0\xbd\xed\xb8\x80"), ("F8 88 80 80 80", b"\xf8\x88\x80\x80\x80")]
    for i, (lab, bb) in enumerate(bads):
        r = J(pay_row("712000000001", amount="1.00", name="NAME")).encode()
        reg = H().encode() + b"\r\n" + r.replace(b"NAME", b"Ali" + bb) + b"\r\n"
        d += run1(rx, bid_of("PAY", 1 + i), reg, nak("B07", msg_has=["registry.csv"]), rows=1, total="1.00", label=lab)[0]
    r = J(pay_row("712000000002", amount="1.00")).encode()
    d += run1(rx, bid_of("PAY", 20), H().encode() + b"\r\n" + r + b"\xd0", nak("B07"), rows=1, total="1.00", label="truncated at EOF")[0]
    return d


@case("E", "UTF-8 valid: noncharacters U+FFFF/U+FFFE, U+FEFF inside a name, 4-byte characters, Uzbek Қ қ Ғ ғ Ҳ ҳ and ʻ -> 1")
def e_utf8_valid(rx):
    names = ["Ali\uffff", "Ali\ufffe", "Ali\ufeffBek", "\U0001d400li", "Қодиров Ғайрат Ҳасанович қғҳ", "Gʻulomov Oʻktam"]
    rows = [pay_row("71300000000%d" % i, amount="1.00", name=n) for i, n in enumerate(names)]
    return run1(rx, bid_of("PAY", 1), rows, ack([(i + 1, "71300000000%d" % i, 1, "") for i in range(len(names))], "%d.00" % len(names)),
              label="valid utf-8")[0]


@case("E", "lengths in characters (not bytes): payer_name 200/201 of 4-byte and of ʻ (2-byte) characters, purpose 500/501 of 3-byte "
           "characters in UTF-8; REV reason 200/201 in cp866 and UTF-8")
def e_lengths(rx):
    d = []
    c4, c2, c3 = "\U0001d400", "\u02bb", "\u20ac"
    spec = [("name", c4 * 200, 1), ("name", c4 * 201, 202), ("name", c2 * 200, 1), ("name", c2 * 201, 202),
            ("purpose", c3 * 500, 1), ("purpose", c3 * 501, 202), ("purpose", c4 * 500, 1), ("name", "a" * 200, 1), ("name", "a" * 201, 202)]
    rows, exp = [], []
    for i, (f, v, st) in enumerate(spec):
        pid = "7140000000%02d" % i
        rows.append(pay_row(pid, amount="1.00", **({"name": v} if f == "name" else {"purpose": v})))
        exp.append((i + 1, pid, st, "" if st == 1 else ("payer_name" if f == "name" else "purpose")))
    acc = sum(1 for e in exp if e[2] == 1)
    d += run1(rx, bid_of("PAY", 1), rows, ack(exp, "%d.00" % acc), label="utf-8 lengths")[0]
    for j, enc in enumerate(["cp866", "utf-8"]):
        ch = "ў" if enc == "cp866" else "Қ"
        rows = [rev_row("71499999999%d" % j, "1.00", reason=ch * 200), rev_row("71499999998%d" % j, "1.00", reason=ch * 201)]
        d += run1(rx, bid_of("REV", 1 + j), rows, ack([(1, "71499999999%d" % j, 4, ""), (2, "71499999998%d" % j, 202, "reason")], "0.00", enc=enc),
                enc=enc, label=f"reason {enc}")[0]
    return d


# =====================================================================
# Area I: §5.4 identifiers
# =====================================================================
def pinfl(d1, ddmmyy, rest="123456"):
    return make_pinfl(d1 + ddmmyy + rest)


@case("I", "PINFL: digit 1 in 1-6 (7, 0, 8, 9 invalid); 29 Feb by century (1800/1900 not leap, 2000, 1896, 1904 leap); "
           "check digit (valid example 31210932040247) -> valid: 304 vs invoice A's payer / 1 when equal; invalid: 202 payer_id")
def i_pinfl(rx):
    spec = [("7 010190", pinfl("7", "010190"), False), ("0 010190", pinfl("0", "010190"), False),
            ("1 290200", pinfl("1", "290200"), False), ("2 290200", pinfl("2", "290200"), False),
            ("3 290200", pinfl("3", "290200"), False), ("4 290200", pinfl("4", "290200"), False),
            ("5 290200", pinfl("5", "290200"), True), ("6 290200", pinfl("6", "290200"), True),
            ("2 290296 (1896)", pinfl("2", "290296"), True), ("4 290204 (1904)", pinfl("4", "290204"), True),
            ("5 290204 (2004)", pinfl("5", "290204"), True), ("5 290203 (2003)", pinfl("5", "290203"), False),
            ("3 290104", pinfl("3", "290104"), True), ("1 310300", pinfl("1", "310300"), True),
            ("check+1", "3121093204024" + "8", False), ("check-1", "3121093204024" + "6", False),
            ("13th digit weight 7", pinfl("3", "010190", "000009"), True),
            ("space", " 31210932040247"[:14], False), ("letters", "3121093204024A", False)]
    rows, exp = pinfl_rows("7200000000", spec)
    # the agreement's example itself, against invoice A whose payer is it -> 1
    rows.append(pay_row("720000000099", amount="1.00", payer="31210932040247")); exp.append((len(rows), "720000000099", 1, ""))
    # type P with a TIN, type J with a PINFL
    rows.append(pay_row("720000000098", amount="1.00", pt="P", payer=TIN1)); exp.append((len(rows), "720000000098", 202, "payer_id"))
    rows.append(pay_row("720000000097", inv="B", amount="1.00", pt="J", payer=P1)); exp.append((len(rows), "720000000097", 202, "payer_id"))
    d, r = run1(rx, bid_of("PAY", 1), rows, ack(exp, "1.00"), label="PINFL")
    return d + (pinfl_diffs(r, spec) if d else [])


def acct_r(target, mfo, seed=0):
    for n in range(200000):
        a = "2020800000" + "%010d" % ((n + seed) * 7919 % 10 ** 10)
        s = mfo + a[0:8] + a[9:20] + "9"
        if sum(int(s[i]) * int(s[i + 1]) for i in range(24)) % 11 == target:
            return make_account(mfo, a)


@case("I", "account key: the worked example 00014/23402000300100001010 -> 1, its other keys -> 202; r=0 -> 9 and r=1 -> 0 for mfo 00083; "
           "bank_mfo 5 digits (4/6/letters/non-ASCII); account optional; account of spaces / 19 / 21 digits -> 202 account")
def i_account(rx):
    ex = "23402000300100001010"
    spec = [(ex, "00014", 1, ""), (ex[:8] + "4" + ex[9:], "00014", 202, "account"), (ex[:8] + "9" + ex[9:], "00014", 202, "account"),
            (ex[:8] + "0" + ex[9:], "00014", 202, "account")]
    for mfo in ("00083", "01001"):
        for r_ in (0, 1, 5):
            a = acct_r(r_, mfo)
            want = {0: "9", 1: "0", 5: "6"}[r_]
            assert a[8] == want
            spec.append((a, mfo, 1, ""))
            for wrong in ("0", "9", "1"):
                if wrong != want:
                    spec.append((a[:8] + wrong + a[9:], mfo, 202, "account"))
    spec += [(ex, "0014", 202, "bank_mfo"), (ex, "000140", 202, "bank_mfo"), (ex, "0001A", 202, "bank_mfo"), (ex, "\uff100014", 202, "bank_mfo"),
             ("", "00014", 1, ""), (" " * 20, "00014", 202, "account"), (ex[:19], "00014", 202, "account"), (ex + "0", "00014", 202, "account"),
             (ex[:19] + "\uff10", "00014", 202, "account"), (ex, "", 201, "bank_mfo")]
    rows, exp = [], []
    for i, (a, mfo, st, fld) in enumerate(spec):
        pid = "7300000000%02d" % i
        rows.append(pay_row(pid, amount="1.00", account=a, mfo=mfo))
        exp.append((i + 1, pid, st, fld))
    acc = sum(1 for e in exp if e[2] == 1)
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, "%d.00" % acc), label="account")[0]


# =====================================================================
# Area A: amounts and §6 sums
# =====================================================================
@case("A", "§6 amount_total = sum of well-formed amounts in rows with the right number of fields: malformed amounts count 0, rows with 12/10 "
           "fields and blank rows are excluded (but counted in rows), a well-formed amount in an otherwise invalid row counts, "
           "quoted amount counts, 0.00 is well-formed")
def a_totals(rx):
    d = []
    rows = [J(pay_row("740000000001", amount="1.00")),
            J(pay_row("740000000002", amount="1.0")),                       # malformed -> 0
            J(pay_row("740000000003", amount="5.00")) + ";",                 # 12 fields -> excluded
            J(pay_row("740000000004", amount="6.00")[:10]),                 # 10 fields -> excluded
            J(pay_row("740000000005", amount="7.00", payer="123")),         # 202 payer_id, amount counts
            J(pay_row("740000000006", amount="0.00")),                      # 202 amount, counts 0
            "",                                                              # blank row
            J(pay_row("740000000007", amount=q("2.00"))),                   # quoted, counts
            J(pay_row("740000000008", amount="12345678901234.00")),         # 14 digits malformed
            J(pay_row("740000000009", amount="00000000000003.00"))]         # 14 digits malformed
    reg = (H() + "\r\n" + "\r\n".join(rows) + "\r\n").encode()
    exp = [(1, "740000000001", 1, ""), (2, "740000000002", 202, "amount"), (3, "740000000003", 202, ""), (4, "740000000004", 202, ""),
           (5, "740000000005", 202, "payer_id"), (6, "740000000006", 202, "amount"), (7, "", 202, ""), (8, "740000000007", 1, ""),
           (9, "740000000008", 202, "amount"), (10, "740000000009", 202, "amount")]
    d += run1(rx, bid_of("PAY", 1), reg, ack(exp, "3.00"), rows=10, total="10.00", label="sum rules")[0]
    reg2 = reg.replace(b"74000000", b"74100000")
    exp2 = [(a, b.replace("74000000", "74100000"), c, f) for a, b, c, f in exp]
    d += run1(rx, bid_of("PAY", 2), reg2, nak("B08", msg_has=["amount_total"]), rows=10, total="21.00", label="total incl. excluded -> B08")[0]
    d += run1(rx, bid_of("PAY", 3), reg2, nak("B08", msg_has=["rows"]), rows=9, total="10.00", label="rows without blank -> B08")[0]
    return d


@case("A", "§6 sums in REV and REC: malformed amount counts 0, wrong field count excluded")
def a_totals_rev_rec(rx):
    d = []
    rows = [J(rev_row("750000000001", "4.00")), J(rev_row("750000000002", "4.0")), J(rev_row("750000000003", "9.00")) + ";x",
            J(rev_row("750000000004", "+1.00"))]
    reg = (HDR["REV"] + "\r\n" + "\r\n".join(rows)).encode()
    d += run1(rx, bid_of("REV", 1), reg, ack([(1, "750000000001", 4, ""), (2, "750000000002", 202, "amount"), (3, "750000000003", 202, ""),
                                           (4, "750000000004", 202, "amount")], "0.00"), rows=4, total="4.00", label="REV")[0]
    rows = [J(rec_row("751000000001", "4.00")), J(rec_row("751000000002", "4,00")), J(rec_row("751000000003", "9.00")[:4])]
    reg = (HDR["REC"] + "\n" + "\n".join(rows) + "\n").encode()
    d += run1(rx, bid_of("REC", 1), reg, ack([(1, "751000000001", 4, ""), (2, "751000000002", 202, "amount"), (3, "751000000003", 202, "")], "0.00"),
            rows=3, total="4.00", label="REC")[0]
    return d


@case("A", "amount pattern: 13 integer digits with leading zeros ok; 14 -> 202; '+', space, comma, tab, NBSP, 3 decimals -> 202")
def a_amounts(rx):
    spec = [("0000000000001.00", 1), ("01.00", 1), ("9999.00", 1), ("00000000000001.00", 202), ("+1.00", 202), ("1 .00", 202),
            ("1,00", 202), ("1.00\t", 202), ("\u00a01.00", 202), ("1.001", 202), ("1.0\u0661", 202), ("0.00", 202), ("0.01", 1)]
    rows, exp = [], []
    for i, (a, st) in enumerate(spec):
        pid = "7520000000%02d" % i
        rows.append(pay_row(pid, inv="N10", amount=a))
        exp.append((i + 1, pid, st, "" if st == 1 else "amount"))
    tot = 100 + 100 + 999900 + 1
    good_total = 100 + 100 + 999900 + 1  # 0.00 counts as 0
    return run1(rx, bid_of("PAY", 1), rows, ack(exp, fmt_amount(tot)), rows=len(rows), total=fmt_amount(good_total), label="amounts")[0]


# =====================================================================
# Area T: datetimes against created_at and business_date
# =====================================================================
@case("T", "paid_at 'not after created_at' compared as instants: created_at 2026-11-21T20:00:00Z / -00:00 / 15:00:00-05:00 equal "
           "Tashkent 2026-11-22 01:00:00 (equal -> 1, +1 s -> 202); created_at 01:04:59.999+05:00: 01:04:59 -> 1, 01:05:00 -> 202")
def t_paid_boundary(rx):
    d = []
    for i, ca in enumerate(["2026-11-21T20:00:00Z", "2026-11-21T20:00:00-00:00", "2026-11-21T15:00:00-05:00", "2026-11-22T01:00:00+05:00",
                            "2026-11-21t20:00:00z", "2026-11-21T20:00:00.000Z"]):
        rows = [pay_row("76000000%02d01" % i, amount="1.00", paid_at="2026-11-22 01:00:00"),
                pay_row("76000000%02d02" % i, amount="1.00", paid_at="2026-11-22 01:00:01"),
                pay_row("76000000%02d03" % i, amount="1.00", paid_at="2026-11-21 20:00:01")]
        d += run1(rx, bid_of("PAY", 1 + i), rows, ack([(1, "76000000%02d01" % i, 1, ""), (2, "76000000%02d02" % i, 202, "paid_at"),
                                                     (3, "76000000%02d03" % i, 1, "")], "2.00", created_at=ca), created=ca, label=ca)[0]
    ca = "2026-11-22T01:04:59.999+05:00"
    rows = [pay_row("761000000001", amount="1.00", paid_at="2026-11-22 01:04:59"), pay_row("761000000002", amount="1.00", paid_at="2026-11-22 01:05:00")]
    d += run1(rx, bid_of("PAY", 20), rows, ack([(1, "761000000001", 1, ""), (2, "761000000002", 202, "paid_at")], "1.00", created_at=ca),
            created=ca, label="fraction")[0]
    ca = "2026-11-22T01:00:00+23:59"   # = 2026-11-21T01:01:00Z = Tashkent 06:01:00 on the 21st
    rows = [pay_row("762000000001", amount="1.00", paid_at="2026-11-21 06:01:00"), pay_row("762000000002", amount="1.00", paid_at="2026-11-21 06:01:01")]
    d += run1(rx, bid_of("PAY", 21), rows, ack([(1, "762000000001", 1, ""), (2, "762000000002", 202, "paid_at")], "1.00", created_at=ca),
            created=ca, label="+23:59")[0]
    return d


@case("T", "reversed_at 'not after created_at' at the boundary with created_at in Z; REC paid_at on business_date (00:00:00 and 23:59:59 "
           "of the day pass field checks -> 4 unknown; the day before / after -> 202 paid_at)")
def t_rev_rec(rx):
    d = []
    ca = "2026-11-21T20:00:00Z"
    rows = [rev_row("770000000001", "1.00", at="2026-11-22 01:00:00"), rev_row("770000000002", "1.00", at="2026-11-22 01:00:01")]
    d += run1(rx, bid_of("REV", 1), rows, ack([(1, "770000000001", 4, ""), (2, "770000000002", 202, "reversed_at")], "0.00", created_at=ca),
            created=ca, label="REV Z")[0]
    rows = [rec_row("771000000001", "1.00", paid_at="2026-11-21 00:00:00"), rec_row("771000000002", "1.00", paid_at="2026-11-21 23:59:59"),
            rec_row("771000000003", "1.00", paid_at="2026-11-20 23:59:59"), rec_row("771000000004", "1.00", paid_at="2026-11-22 00:00:00")]
    d += run1(rx, bid_of("REC", 1), rows, ack([(1, "771000000001", 4, ""), (2, "771000000002", 4, ""), (3, "771000000003", 202, "paid_at"),
                                            (4, "771000000004", 202, "paid_at")], "0.00"), label="REC day")[0]
    return d


@case("T", "REC 1 for payments applied at the edges of the day (00:00:00, 23:59:59) with created_at of the PAY in UTC")
def t_rec_edges(rx):
    d = []
    ca = "2026-11-21T19:00:00Z"  # = Tashkent 2026-11-22 00:00:00
    rows = [pay_row("772000000001", amount="1.00", paid_at="2026-11-21 00:00:00"), pay_row("772000000002", amount="1.00", paid_at="2026-11-21 23:59:59"),
            pay_row("772000000003", amount="1.00", paid_at="2026-11-22 00:00:00"), pay_row("772000000004", amount="1.00", paid_at="2026-11-22 00:00:01")]
    d += run1(rx, bid_of("PAY", 1), rows, ack([(1, "772000000001", 1, ""), (2, "772000000002", 1, ""), (3, "772000000003", 1, ""),
                                            (4, "772000000004", 202, "paid_at")], "3.00", created_at=ca), created=ca, label="PAY")[0]
    rows = [rec_row("772000000001", "1.00", paid_at="2026-11-21 00:00:00"), rec_row("772000000002", "1.00", paid_at="2026-11-21 23:59:59")]
    d += run1(rx, bid_of("REC", 1), rows, ack([(1, "772000000001", 1, ""), (2, "772000000002", 1, "")], "2.00"), label="REC 21")[0]
    rows = [rec_row("772000000003", "1.00", paid_at="2026-11-22 00:00:00")]
    d += run1(rx, bid_of("REC", 1, "20261122"), rows, ack([(1, "772000000003", 1, "")], "1.00", created_at="2026-11-23T01:00:00+05:00"),
            created="2026-11-23T01:00:00+05:00", label="REC 22")[0]
    return d



# =====================================================================
# More probes
# =====================================================================
@case("C", "§4 created_at at the ends of the calendar: 9999-12-31T23:59:59-23:59 (UTC in year 10000) and 0001-01-01T00:00:00+23:59 "
           "(UTC in year 0000) are RFC 3339 -> ACK (README: year 0001 taken); paid_at compared as instants")
def c_ca_extremes(rx):
    d = []
    v = "9999-12-31T23:59:59-23:59"
    d += ctl(rx, 300, set_ca(v), ok1(300, v), "9999 -23:59")
    v = "0001-01-01T00:00:00+23:59"
    d += ctl(rx, 301, set_ca(v), ack([(1, "69%010d" % 301, 202, "paid_at")], "0.00", created_at=v), "0001 +23:59")
    v = "9999-12-31T23:59:59Z"
    d += ctl(rx, 302, set_ca(v), ok1(302, v), "9999 Z")
    return d


@case("C", "§4 rows / amount_total with many leading zeros (value equal to the registry): ACK or B06, never B08")
def c_wide_zeros(rx):
    d = []
    d += ctl(rx, 310, rep(b"rows=1", b"rows=" + b"0" * 40 + b"1"), [ok1(310), nak("B06", msg_has=["rows"])], "rows 0..01 (41 digits)")
    d += ctl(rx, 311, rep(b"amount_total=1.00", b"amount_total=" + b"0" * 40 + b"1.00"), [ok1(311), nak("B06", msg_has=["amount_total"])],
             "total 0..01.00 (41 digits)")
    return d


@case("S", "§5 text after a closing quote: a lone CR after the quote before CRLF, and at EOF -> B07; '\"\"\"\"' is one quote (1); "
           "unquoted field ending in CR before CRLF keeps the CR (1)")
def s_after_close_cr(rx):
    d = []
    base = J(pay_row("700000000200", amount="1.00", purpose="PURP"))
    reg = (H() + "\r\n" + base.replace("PURP", '"x"\r') + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 200), reg, nak("B07"), rows=1, total="1.00", label='"x" CR CRLF')[0]
    reg = (H() + "\r\n" + base.replace("PURP", '"x"\r')).encode()
    d += run1(rx, bid_of("PAY", 201), reg, nak("B07"), rows=1, total="1.00", label='"x" CR EOF')[0]
    reg = (H() + "\r\n" + J(pay_row("700000000202", amount="1.00", name='""""')) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 202), reg, ack([(1, "700000000202", 1, "")], "1.00"), rows=1, total="1.00", label="name = one quote")[0]
    reg = (H() + "\r\n" + J(pay_row("700000000203", amount="1.00", purpose="t")) + "\r\r\n").encode()
    d += run1(rx, bid_of("PAY", 203), reg, ack([(1, "700000000203", 1, "")], "1.00"), rows=1, total="1.00", label="purpose t CR")[0]
    return d


@case("S", "§4 rows counts data rows (records), not physical lines: two records spanning 5 physical lines -> rows=2 ACK, rows=4 -> B08")
def s_rows_records(rx):
    d = []
    rows = [pay_row("700000000210", amount="1.00", purpose=q("a\r\nb\r\nc")), pay_row("700000000211", amount="1.00", name=q("x\ny"))]
    d += run1(rx, bid_of("PAY", 210), rows, ack([(1, "700000000210", 1, ""), (2, "700000000211", 1, "")], "2.00"), rows=2, total="2.00", label="rows 2")[0]
    rows = [pay_row("700000000212", amount="1.00", purpose=q("a\r\nb\r\nc")), pay_row("700000000213", amount="1.00", name=q("x\ny"))]
    d += run1(rx, bid_of("PAY", 211), rows, nak("B08", msg_has=["rows"]), rows=5, total="2.00", label="rows 5 (physical)")[0]
    # three blank lines at the end: three rows
    reg = (H() + "\r\n" + J(pay_row("700000000214", amount="1.00")) + "\r\n\r\n\n\r\n").encode()
    d += run1(rx, bid_of("PAY", 212), reg, ack([(1, "700000000214", 1, ""), (2, "", 202, ""), (3, "", 202, ""), (4, "", 202, "")], "1.00"),
            rows=4, total="1.00", label="three blank rows")[0]
    # a row of only separators: 11 empty fields -> 201 payment_id
    reg = (H() + "\r\n" + ";" * 10 + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 213), reg, ack([(1, "", 201, "payment_id")], "0.00"), rows=1, total="0.00", label="11 empty fields")[0]
    return d


@case("A", "amount 0.00 outside PAY: REV amount has only 'must equal the original payment's amount' -> 305 for a known payment, "
           "4 for an unknown one; REC amount 'as in PAY' (> 0.00) -> 202 amount")
def a_zero_rev_rec(rx):
    d = []
    d += run1(rx, bid_of("PAY", 1), [pay_row("780000000001", amount="1.00")], ack([(1, "780000000001", 1, "")], "1.00"), label="PAY")[0]
    d += run1(rx, bid_of("REV", 1), [rev_row("780000000001", "0.00"), rev_row("789999999999", "0.00")],
            [ack([(1, "780000000001", 305, ""), (2, "789999999999", 4, "")], "0.00"),
             ack([(1, "780000000001", 202, "amount"), (2, "789999999999", 202, "amount")], "0.00")], label="REV 0.00")[0]
    d += run1(rx, bid_of("REC", 1), [rec_row("780000000001", "0.00")],
            ack([(1, "780000000001", 202, "amount")], "0.00"), label="REC 0.00")[0]
    return d


@case("A", "PAY/REC field forms: payment_id 11/12/20/21 digits (leading zeros are digits), invoice_no 19/21, REC state case")
def a_id_forms(rx):
    d = []
    rows = [pay_row("12345678901", amount="1.00"), pay_row("000000000001", amount="1.00"), pay_row("12345678901234567890", amount="1.00"),
            pay_row("123456789012345678901", amount="1.00"), pay_row("79000000000\u0661", amount="1.00"),
            pay_row("790000000002", inv="1000000000000000001", amount="1.00"), pay_row("790000000003", inv="100000000000000000011", amount="1.00")]
    exp = [(1, "12345678901", 202, "payment_id"), (2, "000000000001", 1, ""), (3, "12345678901234567890", 1, ""),
           (4, "123456789012345678901", 202, "payment_id"), (5, "79000000000\u0661", 202, "payment_id"),
           (6, "790000000002", 202, "invoice_no"), (7, "790000000003", 202, "invoice_no")]
    d += run1(rx, bid_of("PAY", 1), rows, ack(exp, "2.00"), label="PAY ids")[0]
    rows = [rec_row("000000000001", "1.00", state="paid"), rec_row("12345678901234567890", "1.00", state="PAID "),
            rec_row("12345678901", "1.00")]
    d += run1(rx, bid_of("REC", 1), rows, ack([(1, "000000000001", 202, "state"), (2, "12345678901234567890", 202, "state"),
                                            (3, "12345678901", 202, "payment_id")], "0.00"), label="REC forms")[0]
    return d

@case("S", "§7.1 order with the line limit (B02 comes before B03..B08): a line over 64 KiB after a bad UTF-8 byte (B07), after a wrong "
           "header (B07), with a malformed control.txt (B06), with a wrong HMAC (B05), with rows wrong (B08) -> B02 each")
def s_limit_order(rx):
    d = []
    long_row = padded_row("700000000300", 70000)
    bad = J(pay_row("700000000301", amount="1.00", name="NAME")).encode().replace(b"NAME", b"\xff")
    reg = H().encode() + b"\r\n" + bad + b"\r\n" + long_row.encode() + b"\r\n"
    d += run1(rx, bid_of("PAY", 300), reg, nak("B02", "fallback"), rows=2, total="2.00", label="B07 byte then long line")[0]
    reg = H().replace("purpose", "Purpose").encode() + b"\r\n" + long_row.encode() + b"\r\n"
    d += run1(rx, bid_of("PAY", 301), reg, nak("B02", "fallback"), rows=1, total="1.00", label="bad header + long line")[0]
    reg = H().encode() + b"\r\n" + long_row.encode() + b"\r\n"
    bid = bid_of("PAY", 302)
    c = control_text(bid, "PAY", "utf-8", 1, "1.00") + b"note=x\n"
    d += run1(rx, bid, reg, nak("B02", "fallback"), control=c, label="B06 + long line")[0]
    d += run1(rx, bid_of("PAY", 303), reg, nak("B02", "fallback"), rows=1, total="1.00", hmac_val=b"0" * 64, label="B05 + long line")[0]
    d += run1(rx, bid_of("PAY", 304), reg, nak("B02", "fallback"), rows=7, total="1.00", label="B08 + long line")[0]
    # cp1251 0x98 on line 2, long line on line 3
    bad = J(pay_row("700000000305", amount="1.00", name="NAME")).encode().replace(b"NAME", b"\x98")
    reg = H().encode() + b"\r\n" + bad + b"\r\n" + long_row.encode() + b"\r\n"
    d += run1(rx, bid_of("PAY", 305), reg, nak("B02", "fallback"), enc="windows-1251", rows=2, total="2.00", label="0x98 then long line")[0]
    # text after a closing quote (B07) then a long line
    bad = J(pay_row("700000000306", amount="1.00", name='"x"y'))
    reg = (H() + "\r\n" + bad + "\r\n" + long_row + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 306), reg, nak("B02", "fallback"), rows=2, total="2.00", label="after-quote then long line")[0]
    return d


@case("C", "§3 limits a registry line only: control.txt with a 100,000-byte line (unknown key) -> B06, not B02")
def c_long_line(rx):
    return ctl(rx, 320, lambda c, b: c + b"x" * 100000 + b"=1\n", nak("B06", msg_has=["control.txt"]), "control long line")


@case("S", "§5 a quoted field's value is its content: a payment_id repeated once quoted -> 301 (same id); quoted pid echoed unquoted")
def s_quoted_pid(rx):
    rows = [pay_row("700000000310", amount="1.00"), pay_row(q("700000000310"), amount="1.00"), pay_row(q("700000000311"), amount="1.00")]
    return run1(rx, bid_of("PAY", 310), rows, ack([(1, "700000000310", 1, ""), (2, "700000000310", 301, ""), (3, "700000000311", 1, "")], "2.00"),
              label="quoted pid")[0]


@case("E", "UTF-8 BOM variants: a truncated BOM (EF BB) -> B07; a UTF-16 LE BOM in a file declared utf-8 -> B07; BOM then a blank line -> B07")
def e_bom_variants(rx):
    d = []
    body = (H() + "\r\n" + J(pay_row("700000000320", amount="1.00")) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 320), b"\xef\xbb" + body, nak("B07"), rows=1, total="1.00", label="EF BB")[0]
    d += run1(rx, bid_of("PAY", 321), b"\xff\xfe" + body, nak("B07"), rows=1, total="1.00", label="FF FE")[0]
    d += run1(rx, bid_of("PAY", 322), b"\xef\xbb\xbf\r\n" + body, nak("B07"), rows=2, total="1.00", label="BOM blank line")[0]
    return d

@case("T", "created_at fractions beyond nanoseconds are not rounded up: created_at 01:05:00.99999999999999999999+05:00 -> paid_at 01:05:00 "
           "is 1, 01:05:01 is 202; .9999999999 (10 digits) the same")
def t_fraction_precision(rx):
    d = []
    for i, ca in enumerate(["2026-11-22T01:05:00.99999999999999999999+05:00", "2026-11-22T01:05:00.9999999999+05:00",
                            "2026-11-21T20:05:00.9999999999Z"]):
        rows = [pay_row("79100000%02d01" % i, amount="1.00", paid_at="2026-11-22 01:05:00"),
                pay_row("79100000%02d02" % i, amount="1.00", paid_at="2026-11-22 01:05:01")]
        d += run1(rx, bid_of("PAY", 1 + i), rows, ack([(1, "79100000%02d01" % i, 1, ""), (2, "79100000%02d02" % i, 202, "paid_at")], "1.00",
                                                     created_at=ca), created=ca, label=ca)[0]
    ca = "2026-11-21T20:05:00.9999999999Z"
    rows = [rev_row("791999999991", "1.00", at="2026-11-22 01:05:01")]
    d += run1(rx, bid_of("REV", 1), rows, ack([(1, "791999999991", 202, "reversed_at")], "0.00", created_at=ca), created=ca, label="REV")[0]
    return d


@case("S", "§5 LF then CR: 'row1 LF CR row2' -> row 2 starts with a CR (payment_id 202); a lone CR inside quotes does not end a "
           "physical line (two 40000-byte halves -> B02); trailing CR in an unquoted datetime -> 202 paid_at")
def s_lf_cr(rx):
    d = []
    reg = (H() + "\r\n" + J(pay_row("700000000400", amount="1.00")) + "\n\r" + J(pay_row("700000000401", amount="1.00")) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 400), reg, ack([(1, "700000000400", 1, ""), (2, "\r700000000401", 202, "payment_id")], "1.00"),
            rows=2, total="2.00", label="LF CR")[0]
    part = "c" * 40000
    reg = (H() + "\r\n" + J(pay_row("700000000402", amount="1.00", purpose=q(part + "\r" + part))) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 401), reg, nak("B02", "fallback"), rows=1, total="1.00", label="CR inside quotes 80001")[0]
    r = pay_row("700000000403", amount="1.00", purpose="")
    r[1] = "2026-11-21 10:00:00\r"
    # put paid_at CR in the middle of the row
    reg = (H() + "\r\n" + J(r) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 402), reg, ack([(1, "700000000403", 202, "paid_at")], "0.00"), rows=1, total="1.00", label="paid_at CR")[0]
    return d


@case("C", "CRLF control.txt whose final LF is missing (last value 'x\\r'): the CR is no line end -> B06")
def c_final_cr(rx):
    return ctl(rx, 330, lambda c, b: c.replace(b"\n", b"\r\n")[:-1], nak("B06", msg_has=["control.txt", "amount_total"]), "final CR")

@case("C", "§4 'LF or CRLF': a CR at the very end of control.txt (no LF after it) is no line end, so the last value carries it -> B06: "
           "LF file ending 'amount_total=1.00<CR>', 'encoding=utf-8<CR>', 'format=munis-offline/1<CR>', 'created_at=...<CR>' (fallback)")
def c_final_cr_values(rx):
    d = []
    def last(key, c):
        ls = [l for l in c.split(b"\n") if l]
        k = [l for l in ls if l.startswith(key + b"=")][0]
        return b"".join(l + b"\n" for l in ls if l != k) + k + b"\r"
    d += ctl(rx, 340, lambda c, b: last(b"amount_total", c), nak("B06", msg_has=["amount_total"]), "amount_total CR EOF")
    d += ctl(rx, 341, lambda c, b: last(b"encoding", c), nak("B06", msg_has=["encoding"]), "encoding CR EOF")
    d += ctl(rx, 342, lambda c, b: last(b"format", c), nak("B06", msg_has=["format"]), "format CR EOF")
    d += ctl(rx, 343, lambda c, b: last(b"created_at", c), nak("B06", "fallback", msg_has=["created_at"]), "created_at CR EOF")
    d += ctl(rx, 344, lambda c, b: last(b"rows", c), nak("B06", msg_has=["rows"]), "rows CR EOF")
    # the same CR before the LF of a middle line is B06 (consistency check)
    d += ctl(rx, 345, lambda c, b: c.replace(b"amount_total=1.00\n", b"amount_total=1.00\r\r\n"), nak("B06", msg_has=["amount_total"]), "amount_total CR CRLF")
    d += ctl(rx, 346, lambda c, b: c + b"\r", nak("B06"), "CR after final LF (a line of one CR)")
    return d


@case("S", "§5 a CR at the end of the registry without LF is part of the last field: REC state 'PAID<CR>' at EOF -> 202 state; "
           "REC state 'PAID<CR><CR><LF>' -> 202 state")
def s_final_cr_field(rx):
    d = []
    r = J(rec_row("700000000500", "1.00"))
    reg = (HDR["REC"] + "\r\n" + r + "\r").encode()
    d += run1(rx, bid_of("REC", 1), reg, ack([(1, "700000000500", 202, "state")], "0.00"), rows=1, total="1.00", label="state CR EOF")[0]
    reg = (HDR["REC"] + "\r\n" + r.replace("0500", "0501") + "\r\r\n").encode()
    d += run1(rx, bid_of("REC", 2), reg, ack([(1, "700000000501", 202, "state")], "0.00"), rows=1, total="1.00", label="state CR CRLF")[0]
    reg = (HDR["REC"] + "\r\n" + r.replace("0500", "0502") + "\r\n").encode()
    d += run1(rx, bid_of("REC", 3), reg, ack([(1, "700000000502", 4, "")], "0.00"), rows=1, total="1.00", label="state ok (control)")[0]
    return d

@case("C", "control.txt trailing bytes without a final LF: a space, a tab, two CRs, 'x' -> B06 (README: a line of spaces is B06)")
def c_final_junk(rx):
    d = []
    for i, (lab, tail) in enumerate([("space", b" "), ("tab", b"\t"), ("CR CR", b"\r\r"), ("x", b"x"), ("CR in CRLF file", None)]):
        if tail is None:
            fn = lambda c, b: c.replace(b"\n", b"\r\n") + b"\r"
        else:
            fn = lambda c, b, tail=tail: c + tail
        d += ctl(rx, 350 + i, fn, nak("B06", msg_has=["control.txt"]), lab)
    return d


@case("S", "registry header only, ending with a CR and no LF: the header's last name is 'purpose<CR>' -> B07")
def s_header_final_cr(rx):
    return run1(rx, bid_of("PAY", 360), (H() + "\r").encode(), nak("B07", msg_has=["registry.csv"]), rows=0, total="0.00", label="header CR")[0]

@case("S", "line limit with a CR at the end of the file (no LF): 65536 bytes + CR = a 65537-byte physical line -> B02; 65535 + CR -> not B02; "
           "'row CRLF CR' -> a second row holding one CR (202, rows=2)")
def s_limit_final_cr(rx):
    d = []
    reg = (H() + "\r\n" + padded_row("700000000600", 65536) + "\r").encode()
    d += run1(rx, bid_of("PAY", 600), reg, nak("B02", "fallback"), rows=1, total="1.00", label="65536+CR EOF")[0]
    reg = (H() + "\r\n" + padded_row("700000000601", 65535) + "\r").encode()
    d += run1(rx, bid_of("PAY", 601), reg, ack([(1, "700000000601", 202, "purpose")], "0.00"), rows=1, total="1.00", label="65535+CR EOF")[0]
    reg = (H() + "\r\n" + J(pay_row("700000000602", amount="1.00")) + "\r\n\r").encode()
    d += run1(rx, bid_of("PAY", 602), reg, ack([(1, "700000000602", 1, ""), (2, "\r", 202, "")], "1.00"), rows=2, total="1.00", label="CRLF then CR")[0]
    return d


@case("S", "lengths after unquoting: payer_name of 199 letters + one '\"' written quoted (doubled) = 200 characters -> 1; 200 + '\"' -> 202")
def s_len_unquoted(rx):
    rows = [pay_row("700000000610", amount="1.00", name=q("a" * 199 + '"')), pay_row("700000000611", amount="1.00", name=q("a" * 200 + '"')),
            pay_row("700000000612", amount="1.00", name=q("a" * 198 + "\r\n"))]
    return run1(rx, bid_of("PAY", 610), rows, ack([(1, "700000000610", 1, ""), (2, "700000000611", 202, "payer_name"), (3, "700000000612", 1, "")], "2.00"),
              label="quoted lengths")[0]


@case("C", "§7.1 order B05 > B04 > B06 with manifest problems: manifest with upper-case hex (malformed, B04) + unknown control key -> B04; "
           "HMAC missing + manifest hash wrong -> B05")
def c_order2(rx):
    d = []
    bid = bid_of("PAY", 620)
    reg = registry("PAY", [pay_row("700000000620", amount="1.00")])
    c = control_text(bid, "PAY", "utf-8", 1, "1.00") + b"note=x\n"
    man = "".join(f"{hashlib.sha256(x).hexdigest().upper()}  {n}\n" for n, x in [("control.txt", c), ("registry.csv", reg)]).encode()
    d += run1(rx, bid, reg, nak("B04"), control=c, manifest=man, label="B04 upper + B06")[0]
    bid = bid_of("PAY", 621)
    c = control_text(bid, "PAY", "utf-8", 1, "1.00")
    man = (f"{hashlib.sha256(c).hexdigest()}  control.txt\n{'1' * 64}  registry.csv\n").encode()
    # no HMAC entry at all: key=None in build_archive
    data = build_archive(bid, reg, control=c, manifest=man, key=None)
    r = run_archive(rx, bid + ".zip", data)
    d += ["[B05 missing + B04] " + x for x in check_response(r, bid + ".zip", data, nak("B05"))]
    return d

@case("S", "§5 an unquoted field's '\"' does not protect ';': name 'Ali\"Bek;x\"' and ' \"a;b\"' split into 12 fields -> 202 (no field); "
           "a fully quoted row is its values -> 1; payer_type 'p' -> 202; account key 'X' -> 202 account")
def s_unquoted_semicolon(rx):
    full = ";".join(q(x) for x in pay_row("700000000703", amount="1.00"))
    rows = [pay_row("700000000701", amount="1.00", name='Ali"Bek;x"'), pay_row("700000000702", amount="1.00", name=' "a;b"'), full,
            pay_row("700000000704", amount="1.00", pt="p"), pay_row("700000000705", amount="1.00", account=ACC[:8] + "X" + ACC[9:])]
    reg = registry("PAY", rows)
    return run1(rx, bid_of("PAY", 700), reg, ack([(1, "700000000701", 202, ""), (2, "700000000702", 202, ""), (3, "700000000703", 1, ""),
                                                (4, "700000000704", 202, "payer_type"), (5, "700000000705", 202, "account")], "1.00"),
              rows=5, total="3.00", label="unquoted ;")[0]

@case("C", "control.txt CRs not part of a CRLF: LF CR between lines, a CR leading the file, a CR inside a key -> B06")
def c_cr_places(rx):
    d = []
    vs = [("LF CR", lambda c, b: c.replace(b"\nbatch_id=", b"\n\rbatch_id=")), ("leading CR", lambda c, b: b"\r" + c),
          ("CR in key", rep(b"encoding=", b"enc\roding=")), ("CR after =", rep(b"encoding=", b"encoding=\r")),
          ("CR before = ", rep(b"encoding=", b"encoding\r="))]
    for i, (lab, fn) in enumerate(vs):
        d += ctl(rx, 380 + i, fn, nak("B06", msg_has=["control.txt"]), lab)
    return d

@case("S", "§7.1 B07 before B08 for CSV faults: open quote at EOF with rows wrong; text after closing quote with amount_total wrong -> B07")
def s_b07_b08(rx):
    d = []
    reg = (H() + "\r\n" + J(pay_row("700000000800", amount="1.00", purpose='"open')) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 800), reg, nak("B07"), rows=3, total="1.00", label="open quote + rows")[0]
    reg = (H() + "\r\n" + J(pay_row("700000000801", amount="1.00", name='"x"y')) + "\r\n").encode()
    d += run1(rx, bid_of("PAY", 801), reg, nak("B07"), rows=1, total="5.00", label="after quote + total")[0]
    return d


@case("C", "created_at in year 0000 (RFC 3339's 4DIGIT allows it; README decides B06) -> B06 or ACK")
def c_ca_year0(rx):
    v = "0000-01-01T00:00:00Z"
    return ctl(rx, 390, set_ca(v), [nak("B06", "fallback"), ack([(1, "69%010d" % 390, 202, "paid_at")], "0.00", created_at=v)], "year 0000")

@case("C", "control.txt ending with a DOS EOF mark (0x1A) or a form feed -> B06; registry REC state 'PAID<0x1A>' at EOF -> 202 state")
def c_ctrl_z(rx):
    d = []
    d += ctl(rx, 395, lambda c, b: c + b"\x1a", nak("B06", msg_has=["control.txt"]), "0x1A at EOF")
    d += ctl(rx, 396, lambda c, b: c + b"\x0c\n", nak("B06", msg_has=["control.txt"]), "form feed line")
    d += ctl(rx, 397, lambda c, b: c[:-1] + b"\x1a", nak("B06", msg_has=["control.txt"]), "0x1A instead of last LF")
    reg = (HDR["REC"] + "\r\n" + J(rec_row("700000000900", "1.00")) + "\x1a").encode()
    d += run1(rx, bid_of("REC", 1), reg, ack([(1, "700000000900", 202, "state")], "0.00"), rows=1, total="1.00", label="REC 0x1A")[0]
    return d


if __name__ == "__main__":
    run_cases("records", CASES, lambda c: new_receiver(c[0]))
