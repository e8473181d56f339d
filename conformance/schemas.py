"""Black-box suite: a `schemas = "DIR"` folder is honoured as its text says.

Contract: README "Configuration" (the paragraph on the `schemas` folder), Table Schema / CSV
Dialect semantics for the constraints, and the agreement (/work/shared/AGREEMENT.md) for what
the built-in schemas encode. Each case edits a copy of the built-in schemas (schemas/), starts a
scratch receiver on it, and drives `init`, `invoices import`, `run`, `check`, `replay` and
`audit verify [--rebuild]` from outside. One line per case: `OK name` or `FAIL name: why`;
where the documents leave a choice open, either answer is accepted and the one taken printed.

REESTR_BIN=target/release/reestr python3 conformance/schemas.py [NAME-SUBSTRING...]
Standard library only.
"""
import copy, json, os, shutil, subprocess, sys, time, traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
from lib import (BIN, KEY_HEX, INV, PYENC, q, pay_row, build_archive, bidn, run_archive,
                 invoices_csv, registry, PAY_HDR)  # noqa: E402

BUILTIN = {n: json.load(open(os.path.join(lib.REPO, "schemas", n + ".json")))
           for n in ("PAY", "REV", "REC", "invoices")}
NOTES = []


# ---------- harness ----------
def fld(s, name):
    return [f for f in s["fields"] if f["name"] == name][0]


def receiver(name, edit=None, raw=None, import_inv=True, limits=None):
    """A receiver whose `schemas` folder is the built-in schemas after edit(s) (raw: file texts).
    Returns (dir, (rc, out, err) of the first command that failed, or None)."""
    d = os.path.join(lib.SCRATCH, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d + "/keys")
    os.makedirs(d + "/schemas")
    with open(d + "/keys/MUNIS.key", "w") as f:
        f.write(KEY_HEX + "\n")
    os.chmod(d + "/keys/MUNIS.key", 0o600)
    sc = copy.deepcopy(BUILTIN)
    if edit:
        edit(sc)
    for n, s in sc.items():
        p = f"{d}/schemas/{n}.json"
        if raw and n in raw:
            open(p, "w").write(raw[n])
        elif s is not None:
            with open(p, "w") as f:
                json.dump(s, f, indent=1, ensure_ascii=False)
    cfg = ('receiver = "SUDBILLING"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\n'
           'schemas = "schemas"\nsettle_seconds = 0\nunreadable_grace_seconds = 0\nrun_wait_seconds = 5\n')
    if limits:
        cfg += "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    cfg += '[partners.MUNIS]\nkey_file = "keys/MUNIS.key"\n'
    open(d + "/reestr.toml", "w").write(cfg)
    r = cmd(d, "init")
    if r[0]:
        return d, r
    if import_inv:
        r = import_export(d)
        if r[0]:
            return d, r
    return d, None


def cmd(d, *a):
    p = subprocess.run([BIN, "--config", d + "/reestr.toml", *a], capture_output=True)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def sch(d, n):
    return json.load(open(f"{d}/schemas/{n}.json"))


def write_schema(d, n, s):
    with open(f"{d}/schemas/{n}.json", "w") as f:
        json.dump(s, f, indent=1, ensure_ascii=False)


def hdr_of(names):
    return ";".join(q(n) if any(c in n for c in ';"\r\n') or n.startswith('"') else n for n in names)


def val(v):
    v = str(v)
    return q(v) if any(c in v for c in ';"\r\n') else v


def reg_from(d, typ, rows, enc="utf-8"):
    """registry.csv in the field order of d's schema of typ; rows are dicts by field name."""
    names = [f["name"] for f in sch(d, typ)["fields"]]
    lines = [hdr_of(names)] + [";".join(val(r.get(n, "")) for n in names) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(PYENC[enc])


def pd(pid, **kw):
    v = dict(zip(PAY_HDR.split(";"), pay_row(pid)))
    v.update(kw)
    return v


def rvd(pid, amt, **kw):
    v = dict(payment_id=pid, reversed_at="2026-11-21 12:00:00", amount=amt, reason="xato")
    v.update(kw)
    return v


def rcd(pid, amt, inv="A", **kw):
    v = dict(payment_id=pid, paid_at="2026-11-21 10:00:00", invoice_no=INV[inv][0], amount=amt, state="PAID")
    v.update(kw)
    return v


def go(d, typ, rows, seq=1, enc="utf-8", reg=None):
    b = bidn(seq, typ)
    data = build_archive(b, reg if reg is not None else reg_from(d, typ, rows, enc), enc=enc)
    r = run_archive(d, b + ".zip", data)
    r["archive"] = data
    c = r.get("ctl", {})
    r["res"] = c.get("result")
    r["rows"] = [tuple(x) for x in lib.parse_csv(r.get("result_raw", b""), PYENC[enc])[1:]] if "result_raw" in r else []
    return r


def st(r):
    """[(payment_id, status, field)] of a response."""
    return [(x[1], x[2], x[3]) for x in r["rows"]]


def desc(r):
    c = r.get("ctl", {})
    if r.get("res") == "ACK":
        return "ACK " + " | ".join(";".join(x) for x in r["rows"])[:400]
    return f"rc={r['rc']} {c.get('result')} {c.get('error', '')} {c.get('message', '')!r} {r['stderr'][-300:]!r}"


def import_export(d, rows_extra=None, names=None):
    """Writes a billing export in d's invoices schema order (INV, plus rows_extra(k) fields) and imports it."""
    names = names or [f["name"] for f in sch(d, "invoices")["fields"]]
    out = [hdr_of(names)]
    for k, (no, pt, pid, name, amt, stt) in INV.items():
        v = dict(invoice_no=no, court_code="1703002", case_no="2-1/2026", payer_type=pt, payer_id=pid,
                 payer_name=name, amount_due=amt, issued_at="2026-01-10 10:00:00", status=stt)
        if rows_extra:
            v.update(rows_extra(k))
        out.append(";".join(val(v.get(n, "")) for n in names))
    with open(d + "/inv.csv", "wb") as f:
        f.write(("\r\n".join(out) + "\r\n").encode())
    return cmd(d, "invoices", "import", d + "/inv.csv")


CASES = []


def case(expect):
    def deco(f):
        CASES.append((f.__name__, expect, f))
        return f
    return deco


def refused(name, edit=None, raw=None, must_name=(), limits=None):
    """The engine must stop at start (exit 3) naming the file (and the words of must_name)."""
    d, bad = receiver(name, edit, raw=raw, import_inv=False, limits=limits)
    if bad is None:
        return [f"accepted at start (init exit 0); expected exit 3 naming {must_name}"]
    rc, out, err = bad
    diffs = []
    if rc != 3:
        diffs.append(f"exit {rc}, expected 3: {err.strip()[-300:]!r}")
    for w in must_name:
        if w not in err:
            diffs.append(f"message does not name {w!r}: {err.strip()[-300:]!r}")
    return diffs


def loads(name, edit, **kw):
    d, bad = receiver(name, edit, **kw)
    if bad:
        raise AssertionError(f"schema refused: exit {bad[0]} {bad[2].strip()[-300:]!r}")
    return d


def expect_rows(r, want):
    """want: [(payment_id, status, field)]"""
    if r.get("res") != "ACK":
        return [f"expected ACK, got {desc(r)}"]
    got = st(r)
    if got != [(p, str(s), f) for p, s, f in want]:
        return [f"rows {got} != expected {[(p, str(s), f) for p, s, f in want]}"]
    return []


# ---------- the engine reads what it needs: missing fields refused, naming schema and field ----------
NEEDED = {"PAY": ["payment_id", "paid_at", "invoice_no", "payer_type", "payer_id", "payer_name", "amount",
                  "currency", "bank_mfo"],
          "REV": ["payment_id", "reversed_at", "amount", "reason"],
          "REC": ["payment_id", "paid_at", "invoice_no", "amount", "state"],
          "invoices": ["invoice_no", "court_code", "case_no", "payer_type", "payer_id", "payer_name",
                       "amount_due", "issued_at", "status"]}


def _mk_needed(typ, n):
    def f(rx):
        def e(s):
            s[typ]["fields"].remove(fld(s[typ], n))
        return refused(f"rm_{typ}_{n}", e, must_name=(f"{typ}.json", n))
    f.__name__ = f"needed_{typ}_{n}_removed"
    return f


for _t, _ns in NEEDED.items():
    for _n in _ns:
        case(f"README: what the engine reads must be there, exit 3 naming the schema ({_t}.json) and the field ({_n})")(_mk_needed(_t, _n))


@case("README: 'removed when the engine does not read it': PAY without account and purpose loads, batches ACK, replay reproduces")
def removed_account_purpose(rx):
    d = loads("rm_acc_purp", lambda s: [s["PAY"]["fields"].remove(fld(s["PAY"], n)) for n in ("account", "purpose")])
    r = go(d, "PAY", [pd("100000000001"), pd("100000000002", amount="0.00")])
    diffs = expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "amount")])
    diffs += _replays_equal(d)
    return diffs


def _replays_equal(d):
    diffs = []
    for f in sorted(os.listdir(d + "/var/received")):
        rc, out, err = cmd(d, "replay", d + "/var/received/" + f, "--out", d + "/replay")
        if rc != 0 or "identical" not in out:
            diffs.append(f"replay of {f[:12]} under the same schemas: exit {rc} {out.strip()[-200:]!r} {err.strip()[-200:]!r}")
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    if rc != 0:
        diffs.append(f"audit verify --rebuild under the same schemas: exit {rc} {out.strip()[-300:]!r}")
    return diffs


# ---------- keys of the schema file ----------
@case("README: a dialect other than the agreement's stops the engine, naming the file")
def dialect_comma(rx):
    return refused("d_comma", lambda s: s["PAY"]["dialect"].update(delimiter=","), must_name=("PAY.json",))


@case("README: dialect header false is another dialect: refused naming the file")
def dialect_no_header(rx):
    return refused("d_nohdr", lambda s: s["REC"]["dialect"].update(header=False), must_name=("REC.json",))


@case("README: doubleQuote false is another dialect: refused naming the file")
def dialect_doublequote_false(rx):
    return refused("d_dq", lambda s: s["REV"]["dialect"].update(doubleQuote=False), must_name=("REV.json",))


@case("README: an unknown dialect key is refused naming the file")
def dialect_unknown_key(rx):
    return refused("d_unk", lambda s: s["PAY"]["dialect"].update(foo=1), must_name=("PAY.json",))


@case("open: a schema without `dialect` (CSV Dialect defaults are ',' -- or the agreement's) is refused or read as §5")
def dialect_missing(rx):
    d, bad = receiver("d_missing", lambda s: s["PAY"].pop("dialect"))
    if bad:
        NOTES.append(f"refused: {bad[2].strip()[-160:]}")
        return [] if bad[0] == 3 and "PAY.json" in bad[2] else [f"refused without naming PAY.json: {bad}"]
    r = go(d, "PAY", [pd("100000000001")])
    NOTES.append("accepted, read as the agreement's dialect")
    return expect_rows(r, [("100000000001", 1, "")])


@case("README: a `name` other than the file's is refused naming the file")
def name_other(rx):
    return refused("n_other", lambda s: s["REV"].update(name="PAY"), must_name=("REV.json",))


@case("README: a changed `title` is not a rule; the schema loads and batches ACK")
def title_changed(rx):
    d = loads("title", lambda s: s["REV"].update(title="anything"))
    r = go(d, "PAY", [pd("100000000001")])
    return expect_rows(r, [("100000000001", 1, "")])


@case("README: an unknown top-level key is refused naming the file")
def unknown_top_key(rx):
    return refused("u_top", lambda s: s["REC"].update(missingValues=[""]), must_name=("REC.json",))


@case("README: an unknown field key is refused naming the file")
def unknown_field_key(rx):
    return refused("u_field", lambda s: fld(s["REC"], "state").update(example="PAID"), must_name=("REC.json",))


@case("README: an unknown constraint (Table Schema `maximum`, `unique`) is refused, never ignored")
def unknown_constraint(rx):
    a = refused("u_max", lambda s: fld(s["PAY"], "amount")["constraints"].update(maximum="100.00"), must_name=("PAY.json",))
    b = refused("u_uniq", lambda s: fld(s["PAY"], "payer_name")["constraints"].update(unique=True), must_name=("PAY.json",))
    return a + b


@case("README: a field named twice is refused naming the file")
def field_twice(rx):
    return refused("twice", lambda s: s["REC"]["fields"].append(dict(fld(s["REC"], "state"))), must_name=("REC.json", "state"))


@case("README: primaryKey other than payment_id is refused naming the file")
def primary_key_other(rx):
    return refused("pk", lambda s: s["PAY"].update(primaryKey="invoice_no"), must_name=("PAY.json",))


@case("README: amountField other than amount is refused naming the file")
def amount_field_other(rx):
    return refused("af", lambda s: s["REV"].update(amountField="reason"), must_name=("REV.json",))


@case("README: the export's primaryKey other than invoice_no is refused naming invoices.json")
def export_primary_key_other(rx):
    return refused("ipk", lambda s: s["invoices"].update(primaryKey="case_no"), must_name=("invoices.json",))


@case("README 'never ignored': an `amountField` in invoices.json (no §6 sum for exports) naming a string field is refused, or else acted on")
def export_amount_field_ignored(rx):
    d, bad = receiver("iaf", lambda s: s["invoices"].update(amountField="case_no"))
    if bad:
        NOTES.append("refused")
        return [] if bad[0] == 3 and "invoices.json" in bad[2] else [f"refused without naming invoices.json: {bad}"]
    return ["invoices.json with amountField \"case_no\" loads and the export imports: the key is silently ignored"]


@case("README: malformed JSON stops the engine at start naming the file")
def malformed_json(rx):
    return refused("badjson", raw={"PAY": '{"name": "PAY",'}, must_name=("PAY.json",))


@case("README: an empty schema file stops the engine naming the file")
def empty_file(rx):
    return refused("emptyjson", raw={"REC": ''}, must_name=("REC.json",))


@case("README: the folder holds the four files; one missing stops the engine naming it")
def missing_file(rx):
    return refused("missingf", lambda s: s.update(REV=None), must_name=("REV.json",))


@case("README: a schema that is refused stops the engine naming the file -- an invalid `pattern` regex too")
def invalid_pattern_regex(rx):
    return refused("badre", lambda s: fld(s["PAY"], "purpose")["constraints"].update(pattern="[0-9"),
                   must_name=("PAY.json",))


@case("README: a constraint on a type it does not apply to is refused: exclusiveMinimum on a string")
def exmin_on_string(rx):
    return refused("exmin_s", lambda s: fld(s["PAY"], "currency")["constraints"].update(exclusiveMinimum="0.00"),
                   must_name=("PAY.json", "currency"))


@case("README: a rule on a type it does not apply to is refused: notAfter on a string, partyIdOf on an amount")
def rule_on_wrong_type(rx):
    return (refused("r_na", lambda s: fld(s["PAY"], "purpose").update(rule={"notAfter": "created_at"}), must_name=("PAY.json", "purpose"))
            + refused("r_pi", lambda s: fld(s["PAY"], "amount").update(rule={"partyIdOf": "payer_type"}), must_name=("PAY.json", "amount")))


@case("README: an unknown type (Table Schema `integer`) is refused naming the file")
def unknown_type(rx):
    return refused("t_int", lambda s: s["PAY"]["fields"].append({"name": "n", "type": "integer"}), must_name=("PAY.json",))


@case("README 'never ignored': `format` on a string field (Table Schema `email`) is refused, or honoured (a non-email value 202)")
def string_format_ignored(rx):
    d, bad = receiver("fmt_s", lambda s: fld(s["PAY"], "purpose").update(format="email"))
    if bad:
        NOTES.append("refused")
        return [] if bad[0] == 3 and "PAY.json" in bad[2] else [f"refused without naming PAY.json: {bad}"]
    r = go(d, "PAY", [pd("100000000001", purpose="not an email")])
    if st(r) == [("100000000001", "202", "purpose")]:
        NOTES.append("honoured")
        return []
    return [f"format \"email\" on string purpose loads and is ignored: {desc(r)}"]


@case("README: datetime `format` other than §5's is refused (the engine reads one) naming the file")
def datetime_other_format(rx):
    return refused("fmt_dt", lambda s: fld(s["PAY"], "paid_at").update(format="%d.%m.%Y %H:%M:%S"), must_name=("PAY.json", "paid_at"))


@case("open: datetime without `format` (Table Schema default) / with \"default\": refused, or read as §5")
def datetime_default_format(rx):
    out = []
    for lab, e in (("absent", lambda s: fld(s["PAY"], "paid_at").pop("format")),
                   ("default", lambda s: fld(s["PAY"], "paid_at").update(format="default"))):
        d, bad = receiver("fmt_" + lab, e)
        if bad:
            out.append(f"{lab}: refused")
            continue
        r = go(d, "PAY", [pd("100000000001")])
        out.append(f"{lab}: accepted, {desc(r)[:60]}")
    NOTES.append("; ".join(out))
    return []


@case("open: field `title` (a Table Schema field key, where `description` is taken): refused or accepted")
def field_title(rx):
    d, bad = receiver("f_title", lambda s: fld(s["PAY"], "purpose").update(title="Purpose"))
    NOTES.append("refused: " + bad[2].strip()[-120:] if bad else "accepted")
    return []


@case("README 'moved (after any field its `rule` names ...)': payer_type moved after payer_id, whose rule partyIdOf names it, is refused at start naming the file, the rule and the field")
def move_rule_target_after(rx):
    def e(s):
        x = fld(s["PAY"], "payer_type")
        s["PAY"]["fields"].remove(x)
        s["PAY"]["fields"].insert(s["PAY"]["fields"].index(fld(s["PAY"], "payer_id")) + 1, x)
    # README decision: a field may be moved "after any field its `rule` names" (a rule between
    # two fields is a failure of the later one, §7.2): moving the rule's target after the field
    # that names it is refused at start, naming the rule.
    d, bad = receiver("mv_pt", e)
    if not bad:
        return ["payer_type moved after payer_id (whose rule names it) loads"]
    msg = bad[2]
    return [] if bad[0] == 3 and "PAY.json" in msg and "partyIdOf" in msg and "payer_type" in msg else [
        f"refused, but not naming PAY.json, the rule and the field (exit {bad[0]}): {msg.strip()[-200:]!r}"]


@case("README: limits check: max_field_bytes below 4x a schema's maxLength is refused naming the field")
def max_field_bytes_vs_schema(rx):
    return refused("mfb", lambda s: fld(s["PAY"], "purpose")["constraints"].update(maxLength=600),
                   limits={"max_field_bytes": 2000}, must_name=("purpose",))


# ---------- constraints honoured, Table Schema semantics ----------
def _c(typ, n, **c):
    return lambda s: fld(s[typ], n)["constraints"].update(**c)


@case("Table Schema: `pattern` matches the whole value (anchored) on a field the built-ins leave free")
def pattern_anchored(rx):
    d = loads("pat", _c("PAY", "payer_name", pattern="[A-Z][a-z]+"))
    r = go(d, "PAY", [pd("100000000001", payer_name="Ali"), pd("100000000002", payer_name="Ali Vali"),
                      pd("100000000003", payer_name="xAli")])
    return expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "payer_name"), ("100000000003", 202, "payer_name")])


@case("Table Schema: an alternation `ab|cd` is anchored as a whole (`abx`, `xcd` fail)")
def pattern_alternation_anchored(rx):
    d = loads("pat_alt", _c("PAY", "purpose", pattern="ab|cd"))
    r = go(d, "PAY", [pd("100000000001", purpose="ab"), pd("100000000002", purpose="cd"),
                      pd("100000000003", purpose="abx"), pd("100000000004", purpose="xcd")])
    return expect_rows(r, [("100000000001", 1, ""), ("100000000002", 1, ""), ("100000000003", 202, "purpose"), ("100000000004", 202, "purpose")])


@case("Table Schema: constraints other than `required` do not apply to a missing (empty) optional value")
def optional_empty_skips_constraints(rx):
    d = loads("opt_empty", _c("PAY", "purpose", pattern="[a-z]+", minLength=3, enum=["abc"]))
    r = go(d, "PAY", [pd("100000000001", purpose=""), pd("100000000002", purpose="abc"), pd("100000000003", purpose="ab")])
    return expect_rows(r, [("100000000001", 1, ""), ("100000000002", 1, ""), ("100000000003", 202, "purpose")])


@case("README/§5: `required` true on account (optional in built-ins): empty is 201 account")
def required_added(rx):
    d = loads("req_acc", _c("PAY", "account", required=True))
    r = go(d, "PAY", [pd("100000000001", account=""), pd("100000000002")])
    return expect_rows(r, [("100000000001", 201, "account"), ("100000000002", 1, "")])


def _len_case(enc):
    def f(rx):
        d = loads("len_" + enc, _c("PAY", "payer_name", minLength=3, maxLength=3))
        r = go(d, "PAY", [pd("100000000001", payer_name="Ёжи"), pd("100000000002", payer_name="Ёжик"),
                          pd("100000000003", payer_name="Ёж")], enc=enc)
        return expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "payer_name"), ("100000000003", 202, "payer_name")])
    f.__name__ = "length_in_characters_" + enc.replace("-", "")
    return f


for _e in ("utf-8", "windows-1251", "cp866"):
    case(f"Table Schema/§5.1 '1 to 200 characters': min/maxLength count characters, not bytes ({_e})")(_len_case(_e))


def _pat_enc(enc):
    def f(rx):
        d = loads("pe_" + enc, _c("PAY", "payer_name", pattern="[А-Яа-яЁё]+"))
        d2 = loads("ee_" + enc, _c("PAY", "purpose", enum=["Ёжик"]))
        r = go(d, "PAY", [pd("100000000001", payer_name="Ёжик"), pd("100000000002", payer_name="Ali")], enc=enc)
        r2 = go(d2, "PAY", [pd("100000000001", purpose="Ёжик"), pd("100000000002", purpose="Ежик")], enc=enc)
        return (expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "payer_name")])
                + expect_rows(r2, [("100000000001", 1, ""), ("100000000002", 202, "purpose")]))
    f.__name__ = "pattern_enum_on_decoded_text_" + enc.replace("-", "")
    return f


for _e in ("utf-8", "windows-1251", "cp866"):
    case(f"Table Schema: pattern and enum compare the decoded characters ({_e})")(_pat_enc(_e))


@case("Table Schema: `enum` on a free field is exact (case-sensitive)")
def enum_added(rx):
    d = loads("enum", _c("PAY", "purpose", enum=["alpha", "beta"]))
    r = go(d, "PAY", [pd("100000000001", purpose="beta"), pd("100000000002", purpose="Beta")])
    return expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "purpose")])


@case("Table Schema: exclusiveMinimum on an amount is strict (100.00 fails, 100.01 passes)")
def exclusive_minimum_moved(rx):
    d = loads("exmin", _c("PAY", "amount", exclusiveMinimum="100.00"))
    r = go(d, "PAY", [pd("100000000001", amount="100.00"), pd("100000000002", amount="100.01")])
    return expect_rows(r, [("100000000001", 202, "amount"), ("100000000002", 1, "")])


@case("README 'given other rules': exclusiveMinimum added to REV amount makes 0.00 a 202 (built-in: 4/305)")
def exclusive_minimum_rev(rx):
    d = loads("exmin_rev", _c("REV", "amount", exclusiveMinimum="0.00"))
    r = go(d, "REV", [rvd("999999999999", "0.00"), rvd("999999999998", "1.00")])
    return expect_rows(r, [("999999999999", 202, "amount"), ("999999999998", 4, "")])


@case("README 'given other rules': a pattern on REV payment_id (built-in: none) makes a bad id 202, not 4")
def rev_payment_id_pattern(rx):
    d = loads("rev_pat", _c("REV", "payment_id", pattern="[0-9]{12,20}"))
    r = go(d, "REV", [rvd("abc", "1.00"), rvd("999999999999", "1.00")])
    return expect_rows(r, [("abc", 202, "payment_id"), ("999999999999", 4, "")])


@case("open: constraints whose type is arguable (pattern/enum on amount, maxLength on datetime): refused, or honoured")
def constraints_on_other_types(rx):
    out, diffs = [], []
    for lab, e, rows, want in (
            ("pattern-amount", _c("PAY", "amount", pattern="[0-9]\\.[0-9]{2}"), [pd("100000000001", amount="1.00"), pd("100000000002", amount="11.00")], ["1", "202"]),
            ("enum-amount", _c("PAY", "amount", enum=["1.00"]), [pd("100000000001", amount="1.00"), pd("100000000002", amount="2.00")], ["1", "202"]),
            ("maxLength-datetime", _c("PAY", "paid_at", maxLength=5), [pd("100000000001")], ["202"])):
        d, bad = receiver("ot_" + lab, e)
        if bad:
            out.append(f"{lab}: refused")
            if bad[0] != 3:
                diffs.append(f"{lab}: exit {bad[0]}")
            continue
        r = go(d, "PAY", rows)
        got = [x[1] for x in st(r)]
        out.append(f"{lab}: honoured" if got == want else f"{lab}: accepted, got {got}")
        if got != want:
            diffs.append(f"{lab}: accepted but not honoured: {desc(r)}")
    NOTES.append("; ".join(out))
    return diffs


# ---------- rules moved / removed ----------
@case("README: rule notAfter removed from PAY paid_at: a paid_at after created_at is accepted")
def rule_not_after_removed(rx):
    d = loads("no_na", lambda s: fld(s["PAY"], "paid_at").pop("rule"))
    r = go(d, "PAY", [pd("100000000001", paid_at="2026-11-23 10:00:00")])
    return expect_rows(r, [("100000000001", 1, "")])


@case("README: rule onDate put on PAY paid_at: a payment of another day is 202 paid_at")
def rule_on_date_on_pay(rx):
    d = loads("od_pay", lambda s: fld(s["PAY"], "paid_at").update(rule={"onDate": "business_date"}))
    r = go(d, "PAY", [pd("100000000001"), pd("100000000002", paid_at="2026-11-20 10:00:00")])
    return expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "paid_at")])


@case("README: rule accountKeyOf removed: a wrong account key is accepted")
def rule_account_key_removed(rx):
    d = loads("no_ak", lambda s: fld(s["PAY"], "account").pop("rule"))
    r = go(d, "PAY", [pd("100000000001", account="23402000000100001010")])
    return expect_rows(r, [("100000000001", 1, "")])


@case("README: rule partyIdOf removed: a payer_id of any form passes the field check (then 304 against the invoice)")
def rule_party_id_removed(rx):
    d = loads("no_pi", lambda s: fld(s["PAY"], "payer_id").pop("rule"))
    r = go(d, "PAY", [pd("100000000001", payer_id="123")])
    return expect_rows(r, [("100000000001", 304, "")])


@case("README: a notAfter rule on an added REV datetime field is checked and named")
def rule_on_added_field(rx):
    d = loads("add_na", lambda s: s["REV"]["fields"].append({"name": "booked_at", "type": "datetime", "format": "%Y-%m-%d %H:%M:%S",
                                                             "constraints": {"required": False}, "rule": {"notAfter": "created_at"}}))
    r = go(d, "REV", [rvd("999999999999", "1.00", booked_at="2026-11-30 00:00:00"), rvd("999999999998", "1.00", booked_at="2026-11-20 00:00:00")])
    return expect_rows(r, [("999999999999", 202, "booked_at"), ("999999999998", 4, "")])


# ---------- fields added / moved ----------
def _added(typ, pos, required):
    def f(rx):
        def e(s):
            fs = s[typ]["fields"]
            fs.insert({"start": 0, "middle": len(fs) // 2, "end": len(fs)}[pos],
                      {"name": "extra_note", "type": "string", "constraints": {"required": required, "maxLength": 3}})
        d = loads(f"add_{typ}_{pos}_{required}", e)
        if typ == "PAY":
            rows = [pd("100000000001", extra_note="abc"), pd("100000000002", extra_note="abcd"), pd("100000000003")]
            want = [("100000000001", 1, ""), ("100000000002", 202, "extra_note"), ("100000000003", 201 if required else 1, "extra_note" if required else "")]
            r = go(d, "PAY", rows)
        elif typ == "REV":
            go(d, "PAY", [pd("100000000001"), pd("100000000002"), pd("100000000003")], reg=reg_from(d, "PAY", [pd("100000000001"), pd("100000000002"), pd("100000000003")]))
            rows = [rvd("100000000001", "1000.00", extra_note="abc"), rvd("100000000002", "1000.00", extra_note="abcd"), rvd("100000000003", "1000.00")]
            want = [("100000000001", 1, ""), ("100000000002", 202, "extra_note"), ("100000000003", 201 if required else 1, "extra_note" if required else "")]
            r = go(d, "REV", rows)
        else:
            go(d, "PAY", [pd("100000000001"), pd("100000000002"), pd("100000000003"), pd("100000000004")])
            rows = [rcd("100000000001", "1000.00", extra_note="abc"), rcd("100000000002", "1000.00", extra_note="abcd"), rcd("100000000003", "1000.00")]
            want = [("100000000001", 1, ""), ("100000000002", 202, "extra_note"), ("100000000003", 201 if required else 1, "extra_note" if required else ""),
                    ("100000000004", 306, "")]
            r = go(d, "REC", rows)
        diffs = expect_rows(r, want)
        if not diffs:
            # the agreement's header is now another contract: B07
            b = bidn(7, typ)
            r2 = run_archive(d, b + ".zip", build_archive(b, registry(typ, [])))
            if r2.get("ctl", {}).get("error") != "B07":
                diffs.append(f"agreement's header under an edited {typ} schema: {desc(r2)} (README: B07)")
            diffs += _replays_equal(d)
        return diffs
    f.__name__ = f"added_{typ}_{pos}_{'required' if required else 'optional'}"
    return f


for _t in ("PAY", "REV", "REC"):
    for _p in ("start", "middle", "end"):
        for _rq in (False, True):
            case(f"README: an added field is checked by its rules, named in result.csv `field`; B07 for the agreement's header; replay and --rebuild reproduce ({_t}, {_p}, {'required' if _rq else 'optional'})")(_added(_t, _p, _rq))


@case("§6/README: amount moved to column 1 in PAY/REV/REC (and state moved): amount_total sums it, rows judged, replays reproduce")
def amount_moved(rx):
    def mv(s, typ, n, i):
        x = fld(s[typ], n)
        s[typ]["fields"].remove(x)
        s[typ]["fields"].insert(i, x)

    def e(s):
        mv(s, "PAY", "amount", 0); mv(s, "REV", "amount", 0); mv(s, "REC", "amount", 0); mv(s, "REC", "state", 1)
    d = loads("amt_moved", e)
    r1 = go(d, "PAY", [pd("100000000001", amount="5.00"), pd("100000000002", amount="6.00"), pd("100000000003", amount="bad")])
    r2 = go(d, "REV", [rvd("100000000001", "5.00")])
    r3 = go(d, "REC", [rcd("100000000001", "5.00", state="REVERSED")])
    diffs = expect_rows(r1, [("100000000001", 1, ""), ("100000000002", 1, ""), ("100000000003", 202, "amount")])
    diffs += expect_rows(r2, [("100000000001", 1, "")])
    diffs += expect_rows(r3, [("100000000001", 1, ""), ("100000000002", 306, "")])
    if r1.get("ctl", {}).get("amount_accepted") != "11.00":
        diffs.append(f"amount_accepted {r1.get('ctl', {}).get('amount_accepted')} != 11.00")
    # a wrong amount_total against the moved column: B08
    b = bidn(9)
    data = build_archive(b, reg_from(d, "PAY", [pd("100000000009", amount="5.00")]), total="6.00")
    r4 = run_archive(d, b + ".zip", data)
    if r4.get("ctl", {}).get("error") != "B08":
        diffs.append(f"wrong amount_total with amount moved: {desc(r4)} (expected B08)")
    return diffs + _replays_equal(d)


@case("README: REC.json edited (required field added first, onDate removed): rows judged, 306 rows still listed")
def rec_edited_306(rx):
    def e(s):
        s["REC"]["fields"].insert(0, {"name": "bank", "type": "string", "constraints": {"required": True, "pattern": "[0-9]{5}"}})
        fld(s["REC"], "paid_at").pop("rule")
    d = loads("rec306", e)
    go(d, "PAY", [pd("100000000001"), pd("100000000002"), pd("100000000003", paid_at="2026-11-20 10:00:00")])
    r = go(d, "REC", [rcd("100000000001", "1000.00", bank="00014"), rcd("100000000009", "1000.00", bank="x"),
                      rcd("100000000003", "1000.00", bank="00014", paid_at="2026-11-20 10:00:00")])
    return expect_rows(r, [("100000000001", 1, ""), ("100000000009", 202, "bank"), ("100000000003", 1, ""), ("100000000002", 306, "")]) + _replays_equal(d)


@case("README: 2000 added optional fields load and a batch with them is judged in well under a second")
def very_many_fields(rx):
    d = loads("many", lambda s: [s["PAY"]["fields"].append({"name": "f%d" % i, "type": "string", "constraints": {"required": False, "maxLength": 1}}) for i in range(2000)])
    t = time.time()
    r = go(d, "PAY", [pd("100000000001"), pd("100000000002", f1999="xy")])
    dt = time.time() - t
    diffs = expect_rows(r, [("100000000001", 1, ""), ("100000000002", 202, "f1999")])
    if dt > 5:
        diffs.append(f"took {dt:.1f} s")
    return diffs


@case("§8/README: odd field names (';', '\"', LF, Cyrillic) are matched in a quoted header and named in `field` (quoted as §5 needs)")
def odd_field_names(rx):
    diffs = []
    for i, nm in enumerate(["a;b", 'a"b', "a\nb", "izoh_ё"]):
        d = loads(f"odd{i}", lambda s: s["PAY"]["fields"].append({"name": nm, "type": "string", "constraints": {"required": True}}))
        r = go(d, "PAY", [pd("100000000001", **{nm: "v"}), pd("100000000002")])
        diffs += [f"name {nm!r}: {x}" for x in expect_rows(r, [("100000000001", 1, ""), ("100000000002", 201, nm)])]
    return diffs


@case("§8 'field names the failing field': a field named \"\" is refused at start, or else named (it cannot be: FAIL)")
def empty_field_name(rx):
    d, bad = receiver("emptyname", lambda s: s["PAY"]["fields"].append({"name": "", "type": "string", "constraints": {"required": True}}))
    if bad:
        NOTES.append("refused")
        return [] if bad[0] == 3 else [f"exit {bad[0]}"]
    r = go(d, "PAY", [pd("100000000001", **{"": "v"}), pd("100000000002")])
    return [f"a field named \"\" loads; its 201 has an empty `field` (like a wrong field count): {desc(r)}"]


# ---------- engine-read fields made optional ----------
@case("Table Schema: primaryKey fields are implicitly required: payment_id with required false still gives 201 (or is refused)")
def primary_key_optional(rx):
    d, bad = receiver("pk_opt", _c("PAY", "payment_id", required=False))
    if bad:
        NOTES.append("refused")
        return []
    r = go(d, "PAY", [pd(""), pd("100000000002")])
    return expect_rows(r, [("", 201, "payment_id"), ("100000000002", 1, "")])


@case("README 'what it reads must be there': PAY amount with required false: an empty amount is not a payment (201/202, or refused at start)")
def amount_optional(rx):
    d, bad = receiver("amt_opt", _c("PAY", "amount", required=False))
    if bad:
        NOTES.append("refused")
        return []
    r = go(d, "PAY", [pd("100000000001", amount=""), pd("100000000002")])
    if r["res"] == "ACK" and st(r)[0][1] == "1":
        return [f"an empty amount is applied as a payment (status 1): {desc(r)}"]
    return []


@case("README 'what it reads must be there': PAY paid_at with required false: a payment without a date is not applied (REC could never list it), or refused")
def paid_at_optional(rx):
    d, bad = receiver("pa_opt", _c("PAY", "paid_at", required=False))
    if bad:
        NOTES.append("refused")
        return []
    r = go(d, "PAY", [pd("100000000001", paid_at=""), pd("100000000002")])
    if r["res"] == "ACK" and st(r)[0][1] == "1":
        r2 = go(d, "REC", [rcd("100000000002", "1000.00")])
        return [f"a payment without paid_at is applied: {desc(r)}; the day's REC then gives {st(r2)} (no 306 for 100000000001)"]
    return []


# ---------- the billing export ----------
@case("README: invoices.json with a required enum field added first and status moved: the export is judged by it (refusal names the field), then loads")
def export_added_moved(rx):
    def e(s):
        s["invoices"]["fields"].insert(0, {"name": "region", "type": "string", "constraints": {"required": True, "enum": ["TAS", "SAM"]}})
        x = fld(s["invoices"], "status")
        s["invoices"]["fields"].remove(x)
        s["invoices"]["fields"].insert(2, x)
    d, bad = receiver("inv_add", e, import_inv=False)
    if bad:
        return [f"refused: {bad}"]
    rc, out, err = import_export(d, lambda k: {"region": "XXX" if k == "B" else "TAS"})
    diffs = []
    if rc != 1 or "region" not in err or "line 3" not in err:
        diffs.append(f"bad region: exit {rc} {err.strip()[-200:]!r} (expected 1 naming line 3 and region)")
    rc, out, err = import_export(d, lambda k: {"region": "TAS"})
    if rc != 0:
        diffs.append(f"good export: exit {rc} {err.strip()[-200:]!r}")
    r = go(d, "PAY", [pd("100000000001"), pd("100000000002", invoice_no=INV["X"][0])])
    diffs += expect_rows(r, [("100000000001", 1, ""), ("100000000002", 302, "")])
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    if rc:
        diffs.append(f"audit verify --rebuild: {out.strip()[-200:]!r}")
    return diffs


@case("README: `check` under a schemas folder says what `run` then answers")
def check_equals_run(rx):
    d = loads("chk", lambda s: s["PAY"]["fields"].append({"name": "note", "type": "string", "constraints": {"required": True}}))
    b = bidn(1)
    data = build_archive(b, reg_from(d, "PAY", [pd("100000000001", note="n"), pd("100000000002")]))
    p = d + "/" + b + ".zip"
    open(p, "wb").write(data)
    rc, out, err = cmd(d, "check", p)
    r = run_archive(d, b + ".zip", data)
    body = r.get("result_raw", b"").decode()
    if rc != 0 or body.replace("\r\n", "\n").strip() not in out.replace("\r\n", "\n"):
        return [f"check exit {rc} output does not hold run's result.csv {body!r}: {out[-300:]!r}"]
    return []


# ---------- the folder changed between runs ----------
def pay_then_purpose_max3(name):
    """A receiver that answered a PAY batch (a purpose of 12 characters on line 2), and whose
    PAY.json then limits purpose to 3 characters: the batch would be judged otherwise now."""
    d = loads(name, None)
    go(d, "PAY", [pd("100000000001"), pd("100000000002", purpose="long purpose")])
    s = sch(d, "PAY")
    fld(s, "purpose")["constraints"]["maxLength"] = 3
    write_schema(d, "PAY", s)
    return d


@case("README 'when the schema in force is another one, `replay` says so beside DIFFERS': after PAY.json changes, replay of an earlier batch exits 1 naming PAY.json's change")
def replay_after_schema_change(rx):
    d = pay_then_purpose_max3("chg")
    f = os.listdir(d + "/var/received")[0]
    rc, out, err = cmd(d, "replay", d + "/var/received/" + f, "--out", d + "/replay")
    if rc == 1 and "DIFFERS" in out and "another schema than the one in force (PAY.json: fingerprint" in out:
        return []
    return [f"replay exit {rc}, not DIFFERS naming PAY.json's change: {out.strip()[-220:]!r} {err.strip()[-200:]!r}"]


@case("README '`audit verify` stops rebuilding the books at that entry, saying why, rather than report payments ... that no evidence would then explain': --rebuild after PAY.json changes")
def audit_rebuild_after_schema_change(rx):
    d = pay_then_purpose_max3("chg2")
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    text = out + err
    if rc == 1 and "was judged under another schema than the one in force (PAY.json" in text \
            and "applied by no kept archive" not in text:
        return []
    return [f"audit verify --rebuild exit {rc}, not one finding naming PAY.json's change: {text.strip()[-300:]!r}"]


@case("README: plain audit verify (no --rebuild) after invoices.json changes: the kept exports still verify, or the schema change is named")
def audit_after_export_schema_change(rx):
    d = loads("chg3", lambda s: s["invoices"]["fields"].append({"name": "region", "type": "string", "constraints": {"required": False}}))
    rc, out, err = import_export(d)
    if rc:
        return [f"import: {err}"]
    s = sch(d, "invoices")
    s["fields"].pop()
    write_schema(d, "invoices", s)
    rc, out, err = cmd(d, "audit", "verify")
    if rc == 0:
        NOTES.append("clean")
        return []
    text = (out + err).lower()
    if "invoices.json" in text and "another schema than the one in force" in text:
        NOTES.append("names the change")
        return []
    return [f"audit verify exit {rc}: {out.strip()[-260:]!r}"]


@case("README: the same schemas folder for run, check, replay and --rebuild reproduces every response (PAY/REV/REC with added fields)")
def same_folder_reproduces(rx):
    def e(s):
        for t in ("PAY", "REV", "REC"):
            s[t]["fields"].insert(1, {"name": "x", "type": "string", "constraints": {"required": False, "pattern": "[a-z]"}})
    d = loads("same", e)
    go(d, "PAY", [pd("100000000001", x="a"), pd("100000000002", x="B")])
    go(d, "REV", [rvd("100000000001", "1000.00", x="c")])
    go(d, "REC", [rcd("100000000001", "1000.00", state="REVERSED")])
    return _replays_equal(d)


# ---------- runner ----------
def main():
    pats = sys.argv[1:]
    sel = [c for c in CASES if not pats or any(p in c[0] for p in pats)]
    print(f"schemas: {len(sel)} of {len(CASES)} cases against {BIN} (scratch {lib.SCRATCH})", flush=True)
    ok, t0 = 0, time.time()
    for name, expect, f in sel:
        NOTES.clear()
        try:
            diffs = f(None)
        except Exception:
            diffs = ["EXCEPTION " + traceback.format_exc()[-800:]]
        if diffs:
            print(f"FAIL {name}: " + " // ".join(x.replace("\n", "\\n")[:600] for x in diffs), flush=True)
            print(f"     expected: {expect}", flush=True)
        else:
            ok += 1
            print(f"OK {name}" + (f"  [{'; '.join(NOTES)[:300]}]" if NOTES else ""), flush=True)
    print(f"== schemas: {ok}/{len(sel)} cases OK ({time.time() - t0:.0f} s)", flush=True)
    if ok != len(sel) or os.environ.get("KEEP"):
        print(f"scratch folder kept: {lib.SCRATCH}")
    else:
        shutil.rmtree(lib.SCRATCH, ignore_errors=True)
    sys.exit(0 if ok == len(sel) and sel else 1)


if __name__ == "__main__":
    main()
