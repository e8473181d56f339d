"""Black-box suite: a `schemas = "DIR"` folder is honoured as its text says.

Contract: README "Configuration" (the paragraphs on the `schemas` folder, the one on the
registry types a folder adds among them), docs/CHANGES.md (0.4.0), Table Schema / CSV
Dialect semantics for the constraints, and the agreement (/work/shared/AGREEMENT.md) for what
the built-in schemas encode and how an added type's role reconciles and is ordered (§7.2).
Each case edits a copy of the built-in schemas (schemas/), starts a scratch receiver on it, and
drives `init`, `invoices import`, `run`, `check`, `replay`, `release`, `status` and
`audit verify [--rebuild]` from outside (one added-type case also edits the store, as an
auditor's tamper test). The kept-schema cases (`kept_*`) build histories over several schema
eras (PAY/REV, the export's invoices.json, an added FEE type), then, on a copy of each, replay
and audit every era, remove, edit or plant files in var/schemas as an auditor's tamper tests,
read the journal's `schema` and `kept` (sqlite3, read-only), and audit a read-only copy (as uid
nobody when run as root). One line per case: `OK name` or `FAIL name: why`;
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


def receiver(name, edit=None, raw=None, import_inv=True, limits=None, types=None, files=None, partners="",
             schemas=True):
    """A receiver whose `schemas` folder is the built-in schemas after edit(s) (raw: file texts;
    an added type is one more entry of the dict edit receives); files: other files of the folder
    by name (text, or None for a folder); types: partner MUNIS's `types`; partners: more TOML
    after MUNIS's table; schemas False: no `schemas` key (the built-in schemas).
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
    for n, text in (files or {}).items():
        if text is None:
            os.makedirs(f"{d}/schemas/{n}", exist_ok=True)
        else:
            open(f"{d}/schemas/{n}", "w").write(text)
    cfg = ('receiver = "SUDBILLING"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\n'
           + ('schemas = "schemas"\n' if schemas else '')
           + 'settle_seconds = 0\nunreadable_grace_seconds = 0\nrun_wait_seconds = 5\n')
    if limits:
        cfg += "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    cfg += '[partners.MUNIS]\nkey_file = "keys/MUNIS.key"\n'
    if types is not None:
        cfg += "types = [" + ", ".join(json.dumps(t) for t in types) + "]\n"
    cfg += partners
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


def refused(name, edit=None, raw=None, must_name=(), limits=None, **kw):
    """The engine must stop at start (exit 3) naming the file (and the words of must_name)."""
    d, bad = receiver(name, edit, raw=raw, import_inv=False, limits=limits, **kw)
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


def drop_kept_schema(d, name, then):
    """Removes the kept copy (var/schemas/<fingerprint>.json) of schema `name` for which
    then(schema) holds: a store from before schemas were kept. Returns how many were removed."""
    n = 0
    for f in (os.listdir(d + "/var/schemas") if os.path.isdir(d + "/var/schemas") else []):
        s = json.load(open(f"{d}/var/schemas/{f}"))
        if s.get("name") == name and then(s):
            os.remove(f"{d}/var/schemas/{f}")
            n += 1
    return n


def purpose_max(s):
    return fld(s, "purpose").get("constraints", {}).get("maxLength")


@case("README 'the engine keeps every schema it judges under ... `replay` judges a batch again under the kept schema of its time': after PAY.json changes, replay of an earlier batch is identical and says so; without the kept copy, it exits 1 naming PAY.json's change beside DIFFERS")
def replay_after_schema_change(rx):
    d = pay_then_purpose_max3("chg")
    f = os.listdir(d + "/var/received")[0]
    diffs = []
    rc, out, err = cmd(d, "replay", d + "/var/received/" + f, "--out", d + "/replay")
    if not (rc == 0 and "identical" in out and "judged under the kept schema of its time" in out and "(PAY.json: fingerprint" in out):
        diffs.append(f"replay with the kept schema: exit {rc}, not identical under the kept schema naming PAY.json: {out.strip()[-220:]!r} {err.strip()[-200:]!r}")
    if drop_kept_schema(d, "PAY", lambda s: purpose_max(s) != 3) != 1:
        return diffs + ["no kept copy of the PAY schema of then in var/schemas"]
    rc, out, err = cmd(d, "replay", d + "/var/received/" + f, "--out", d + "/replay2")
    if not (rc == 1 and "DIFFERS" in out and "another schema than the one in force (PAY.json: fingerprint" in out):
        diffs.append(f"replay without the kept schema: exit {rc}, not DIFFERS naming PAY.json's change: {out.strip()[-220:]!r} {err.strip()[-200:]!r}")
    return diffs


@case("README '`audit verify --rebuild` judges under the kept schemas ... without the copy it stops rebuilding the books at that entry, saying why, rather than report payments ... that no evidence would then explain': --rebuild after PAY.json changes")
def audit_rebuild_after_schema_change(rx):
    d = pay_then_purpose_max3("chg2")
    diffs = []
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    if rc != 0 or "every payment and response agrees" not in out:
        diffs.append(f"--rebuild with the kept schema: exit {rc}: {(out + err).strip()[-300:]!r}")
    drop_kept_schema(d, "PAY", lambda s: purpose_max(s) != 3)
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    text = out + err
    if not (rc == 1 and "was judged under another schema than the one in force (PAY.json" in text
            and "kept file schemas/" in text and "applied by no kept archive" not in text):
        diffs.append(f"--rebuild without the kept schema: exit {rc}, not the missing copy and one finding naming PAY.json's change: {text.strip()[-300:]!r}")
    return diffs


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


# ---------- added registry types (README: "A schemas folder may also add a registry type") ----------
# FEE.json: PAY.json named FEE, reconciled as PAY, with a field more (fee_kind, first, so that every
# column sits one place further than in PAY: the engine must find FEE's amount, payer... by FEE's
# order) and a stricter amount (more than 100.00: rows are checked by FEE.json, not PAY.json).
# RVX.json: REV.json reconciled as REV with an optional field more (channel, at most 3 characters).
# STX.json: REC.json reconciled as REC, fields as the agreement's REC.
FEE_KIND = {"name": "fee_kind", "type": "string", "constraints": {"required": True, "enum": ["DUTY", "FINE"]}}
CHANNEL = {"name": "channel", "type": "string", "constraints": {"required": False, "maxLength": 3}}
AGREED = ["PAY", "REV", "REC"]


def added_schema(base, name, role="same", extra=None, at=None, edit=None):
    """A copy of the built-in schema base named name, with reconcileAs role ("same": base; None:
    no key), extra inserted at at (default: last), then edit(schema)."""
    s = copy.deepcopy(BUILTIN[base])
    s["name"] = name
    s["title"] = f"{name}: an added registry type"
    if role is not None:
        s["reconcileAs"] = base if role == "same" else role
    if extra:
        s["fields"].insert(len(s["fields"]) if at is None else at, copy.deepcopy(extra))
    if edit:
        edit(s)
    return s


def fee_schema(edit=None):
    s = added_schema("PAY", "FEE", extra=FEE_KIND, at=0)
    fld(s, "amount")["constraints"]["exclusiveMinimum"] = "100.00"
    if edit:
        edit(s)
    return s


MAKERS = {"FEE": fee_schema,
          "RVX": lambda: added_schema("REV", "RVX", extra=CHANNEL),
          "STX": lambda: added_schema("REC", "STX")}


def with_types(*names, edit=None):
    """An edit adding the schemas of names (FEE, RVX, STX), then edit(schemas)."""
    def e(s):
        for n in names:
            s[n] = MAKERS[n]()
        if edit:
            edit(s)
    return e


def trx(name, add=("FEE",), types="all", edit=None, **kw):
    """A receiver with the added types of add, partner MUNIS taking types ("all": the agreement's
    three and those of add; None: no `types` key)."""
    t = AGREED + list(add) if types == "all" else types
    d, bad = receiver(name, with_types(*add, edit=edit), types=t, **kw)
    if bad:
        raise AssertionError(f"a folder adding {list(add)} (types {t}) refused: exit {bad[0]} {bad[2].strip()[-300:]!r}")
    return d


def on(inv, **kw):
    """The invoice and payer fields of a row paying invoice inv as its payer."""
    no, pt, pid, name = INV[inv][:4]
    v = dict(invoice_no=no, payer_type=pt, payer_id=pid, payer_name=name)
    v.update(kw)
    return v


def fd(pid, kind="DUTY", inv="A", **kw):
    """A FEE row paying invoice inv (1000.00 by default)."""
    v = pd(pid, fee_kind=kind, **on(inv))
    v.update(kw)
    return v


def gox(d, typ, rows=(), seq=1, date="20261121", enc="utf-8", reg=None, data=None, snd="MUNIS", clear=True, **bk):
    """Builds batch typ/seq/date of rows (in d's schema of typ), runs it, returns the parsed
    response (as go) with "bid" and "archive"; empties the outbox first when clear."""
    b = bidn(seq, typ, date, snd=snd)
    if data is None:
        data = build_archive(b, reg if reg is not None else reg_from(d, typ, rows, enc), enc=enc, **bk)
    if clear:
        lib.clear_outbox(d)
    r = run_archive(d, b + ".zip", data)
    r["archive"], r["bid"] = data, b
    r["res"] = r.get("ctl", {}).get("result")
    r["rows"] = [tuple(x) for x in lib.parse_csv(r.get("result_raw", b""), PYENC[enc])[1:]] if "result_raw" in r else []
    return r


def full(r, exp, enc="utf-8", key=True):
    """Every check of lib.check_response (name, control.txt and its `type`, entries, manifest,
    HMAC, result.csv) on a response of gox; exp as lib.check_response's, rows [(pid, status, field)]
    numbered here."""
    e = dict(exp)
    if e.get("result") == "ACK":
        e.setdefault("enc", enc)
        if "rows" in e:
            e["rows"] = [(i + 1 if s != 306 else "", p, s, f) for i, (p, s, f) in enumerate(e["rows"])]
    return [f"[{r['bid']}] {x}" for x in lib.check_response(r, r["bid"] + ".zip", r["archive"], e, key=key)]


def put(d, typ, rows=(), seq=1, date="20261121", data=None, age=10, **bk):
    """Writes batch typ/seq/date into d's inbox (renamed in place, modified age seconds ago);
    returns (bid, bytes)."""
    b = bidn(seq, typ, date)
    if data is None:
        data = build_archive(b, reg_from(d, typ, rows), **bk)
    p = f"{d}/inbox/{b}.zip"
    with open(p + ".part", "wb") as f:
        f.write(data)
    os.rename(p + ".part", p)
    os.utime(p, (time.time() - age, time.time() - age))
    return b, data


def answer(d, b, res="ACK"):
    """The response res to batch b in d's outbox, parsed as gox's (None when absent)."""
    n = lib.resp_name(b, res)
    p = f"{d}/outbox/{n}"
    if not os.path.exists(p):
        return None
    raw = open(p, "rb").read()
    r = lib.parse_response(n, raw)
    r["raw"], r["res"], r["bid"] = raw, r["ctl"].get("result"), b
    r["rows"] = [tuple(x) for x in lib.parse_csv(r.get("result_raw", b""))[1:]] if "result_raw" in r else []
    r["rc"], r["stderr"] = 0, ""
    return r


def refused_line(name, edit=None, must_name=(), **kw):
    """refused(), and one line of stderr names every word of must_name (a one-line message)."""
    d, bad = receiver(name, edit, import_inv=False, **kw)
    if bad is None:
        return [f"accepted at start (init exit 0); expected exit 3 naming {must_name}"]
    rc, out, err = bad
    diffs = [] if rc == 3 else [f"exit {rc}, expected 3: {err.strip()[-300:]!r}"]
    if not any(all(w in line for w in must_name) for line in err.splitlines()):
        diffs.append(f"no line of the message names all of {list(must_name)}: {err.strip()[-300:]!r}")
    return diffs


def outbox_names(d):
    return sorted(os.listdir(d + "/outbox"))


def set_aside_reasons(d):
    """The reasons kept in var/set-aside (texts of the *.reason.json files)."""
    p = d + "/var/set-aside"
    return [open(os.path.join(p, f)).read() for f in sorted(os.listdir(p)) if f.endswith(".reason.json")] if os.path.isdir(p) else []


# --- the FEE type end to end ---
@case("README 'FEE.json with reconcileAs PAY and a field more': MUNIS_SUDBILLING_FEE_..._001.zip is an archive name; type=FEE; rows checked by FEE.json (201/202 fee_kind, its own amount rule), 1, 4, 301, 302, 303, 304 as PAY; response SUDBILLING_MUNIS_FEE_..._001_ACK.zip with type=FEE, signed; amount_accepted")
def fee_rows_as_pay(rx):
    d = trx("fee_rows")
    r = gox(d, "FEE", [fd("200000000001"), fd("200000000002", kind=""), fd("200000000003", kind="TAX"),
                       fd("200000000004", amount="50.00"), fd("200000000001"),
                       fd("200000000005", invoice_no="10000000000000000099"), fd("200000000006", inv="X"),
                       fd("200000000007", inv="C", payer_id=INV["A"][2]), fd("200000000008", inv="C", amount="300000.01"),
                       fd("200000000009", payer_id="31210932040240"), fd("200000000010", inv="B", amount="499000.00"),
                       fd("200000000011", kind="FINE", amount="200.00"), fd("200000000012", amount="100.00")])
    return full(r, {"result": "ACK", "amount_accepted": "500200.00", "rows": [
        ("200000000001", 1, ""), ("200000000002", 201, "fee_kind"), ("200000000003", 202, "fee_kind"),
        ("200000000004", 202, "amount"), ("200000000001", 301, ""), ("200000000005", 4, ""), ("200000000006", 302, ""),
        ("200000000007", 304, ""), ("200000000008", 303, ""), ("200000000009", 202, "payer_id"),
        ("200000000010", 1, ""), ("200000000011", 1, ""), ("200000000012", 202, "amount")]})


@case("README 'booked as payments in the same books (a REV reverses them, a REC of their day lists them, a PAY repeating one is 301)': FEE, PAY, REV, PAY, REC in turn, every status and balance effect predicted; replay and --rebuild reproduce, audit verify clean")
def fee_same_books(rx):
    d = trx("fee_books")
    diffs = []
    r = gox(d, "FEE", [fd("200000000001"), fd("200000000010", inv="B", amount="499000.00"), fd("200000000011", amount="200.00")])
    diffs += full(r, {"result": "ACK", "amount_accepted": "500200.00", "rows": [
        ("200000000001", 1, ""), ("200000000010", 1, ""), ("200000000011", 1, "")]})
    # B is paid 499000.00 of 500000.00 by FEE: PAY sees it
    r = gox(d, "PAY", [pd("200000000001"), pd("300000000001", **on("B", amount="1000.01")),
                       pd("300000000002", **on("B")), pd("300000000003", **on("B", amount="1.00"))])
    diffs += full(r, {"result": "ACK", "amount_accepted": "1000.00", "rows": [
        ("200000000001", 301, ""), ("300000000001", 303, ""), ("300000000002", 1, ""), ("300000000003", 302, "")]})
    m301 = r["rows"][0][4] if r["rows"] else ""
    if "MUNIS_SUDBILLING_FEE_20261121_001" not in m301:
        diffs.append(f"PAY's 301 for a FEE payment does not name the FEE batch (CHANGES 0.3.0: 'applied before, by batch ...'): {m301!r}")
    r = gox(d, "REV", [rvd("200000000010", "499000.00"), rvd("200000000001", "999.00"), rvd("200000000003", "1000.00"),
                       rvd("200000000010", "499000.00")])
    diffs += full(r, {"result": "ACK", "amount_accepted": "499000.00", "rows": [
        ("200000000010", 1, ""), ("200000000001", 305, ""), ("200000000003", 4, ""), ("200000000010", 307, "")]})
    # the reversal re-opened B; a reversed FEE payment's id is still one applied before
    r = gox(d, "PAY", [pd("300000000004", **on("B", amount="1.00")), pd("200000000010", **on("B", amount="1.00"))], seq=2)
    diffs += full(r, {"result": "ACK", "amount_accepted": "1.00", "rows": [("300000000004", 1, ""), ("200000000010", 301, "")]})
    r = gox(d, "REC", [rcd("200000000001", "1000.00"), rcd("200000000010", "499000.00", inv="B", state="REVERSED"),
                       rcd("300000000002", "1000.00", inv="B"), rcd("300000000001", "1000.01", inv="B"),
                       rcd("200000000011", "200.00", state="REVERSED")])
    diffs += full(r, {"result": "ACK", "rows": [
        ("200000000001", 1, ""), ("200000000010", 1, ""), ("300000000002", 1, ""), ("300000000001", 4, ""),
        ("200000000011", 305, ""), ("300000000004", 306, "")]})
    # a REC that leaves the FEE payments out: 306 for each, in byte order of payment_id
    r = gox(d, "REC", [rcd("300000000002", "1000.00", inv="B"), rcd("300000000004", "1.00", inv="B")], seq=2)
    diffs += full(r, {"result": "ACK", "rows": [
        ("300000000002", 1, ""), ("300000000004", 1, ""), ("200000000001", 306, ""), ("200000000010", 306, ""),
        ("200000000011", 306, "")]})
    rc, out, err = cmd(d, "audit", "verify")
    if rc:
        diffs.append(f"audit verify: exit {rc} {out.strip()[-300:]!r}")
    return diffs + _replays_equal(d)


@case("README/§7.1: a FEE batch id processed (ACK) comes again with other content: B09; the same bytes again: the stored ACK byte for byte")
def fee_b09_and_resend(rx):
    d = trx("fee_b09")
    r1 = gox(d, "FEE", [fd("200000000001")])
    diffs = full(r1, {"result": "ACK", "rows": [("200000000001", 1, "")]})
    r2 = gox(d, "FEE", [fd("200000000002")])
    diffs += full(r2, {"result": "NAK", "code": "B09"})
    r3 = gox(d, "FEE", data=r1["archive"])
    if r3.get("raw") != r1.get("raw"):
        diffs.append(f"re-delivered FEE bytes: {r3.get('name')} is not the stored ACK byte for byte ({desc(r3)})")
    return diffs


@case("README 'its control.txt says type=FEE': a FEE-named archive whose control.txt says type=PAY is B06 (and a PAY-named one saying type=FEE), answered ..._FEE_..._NAK.zip with type=FEE")
def fee_b06_type_mismatch(rx):
    d = trx("fee_b06")
    diffs = []
    b = bidn(1, "FEE")
    reg = reg_from(d, "FEE", [fd("200000000001")])
    n, t = lib.count_amounts(reg, "utf-8", "FEE")
    data = build_archive(b, reg, control=lib.control_text(b, "PAY", "utf-8", n, t))
    diffs += full(gox(d, "FEE", data=data), {"result": "NAK", "code": "B06"})
    b = bidn(1, "PAY")
    reg = reg_from(d, "PAY", [pd("100000000001")])
    n, t = lib.count_amounts(reg, "utf-8", "PAY")
    data = build_archive(b, reg, control=lib.control_text(b, "FEE", "utf-8", n, t))
    diffs += full(gox(d, "PAY", data=data), {"result": "NAK", "code": "B06"})
    return diffs


@case("README/§3-§7.1: NAKs of a FEE archive are named SUDBILLING_MUNIS_FEE_..._NAK.zip with type=FEE: a wrong manifest B04, a wrong HMAC B05, the agreement's PAY header B07 (FEE.json's header differs), a wrong amount_total B08 (FEE's amount column)")
def fee_naks(rx):
    d = trx("fee_naks")
    diffs = []
    b = bidn(1, "FEE")
    reg = reg_from(d, "FEE", [fd("200000000001")])
    diffs += full(gox(d, "FEE", data=build_archive(b, reg, manifest=b"0" * 64 + b"  registry.csv\n")), {"result": "NAK", "code": "B04"})
    diffs += full(gox(d, "FEE", data=build_archive(b, reg, hmac_val=b"0" * 64)), {"result": "NAK", "code": "B05"})
    diffs += full(gox(d, "FEE", data=build_archive(b, registry("PAY", [pay_row("200000000001")]))), {"result": "NAK", "code": "B07"})
    diffs += full(gox(d, "FEE", data=build_archive(b, reg, total="1001.00")), {"result": "NAK", "code": "B08"})
    # FEE's header under PAY: B07 too (PAY.json is the agreement's)
    diffs += full(gox(d, "PAY", data=build_archive(bidn(1), reg_from(d, "FEE", [fd("100000000001")]))), {"result": "NAK", "code": "B07"})
    # and the corrected FEE batch is then judged afresh (§7.1): ACK
    diffs += full(gox(d, "FEE", data=build_archive(b, reg)), {"result": "ACK", "rows": [("200000000001", 1, "")]})
    return diffs


@case("README: a FEE archive in windows-1251 (Cyrillic payer name): result.csv and encoding= in windows-1251, rows as PAY")
def fee_windows1251(rx):
    d = trx("fee_1251")
    r = gox(d, "FEE", [fd("200000000001", payer_name="Алиев Анвар"), fd("200000000002", kind="ШТРАФ")], enc="windows-1251")
    return full(r, {"result": "ACK", "rows": [("200000000001", 1, ""), ("200000000002", 202, "fee_kind")]}, enc="windows-1251")


@case("README: `check` of a FEE archive says what `run` then answers, and changes nothing (the same archive then ACKs with status 1)")
def fee_check(rx):
    d = trx("fee_check")
    b = bidn(1, "FEE")
    data = build_archive(b, reg_from(d, "FEE", [fd("200000000001"), fd("200000000002", kind="X")]))
    p = f"{d}/{b}.zip"
    open(p, "wb").write(data)
    rc, out, err = cmd(d, "check", p)
    rc2, out2, err2 = cmd(d, "check", p)
    r = gox(d, "FEE", data=data)
    diffs = full(r, {"result": "ACK", "rows": [("200000000001", 1, ""), ("200000000002", 202, "fee_kind")]})
    body = r.get("result_raw", b"").decode()
    if rc != 0 or not body or body.replace("\r\n", "\n").strip() not in out.replace("\r\n", "\n"):
        diffs.append(f"check exit {rc} output does not hold run's result.csv {body!r}: {out[-300:]!r} {err[-200:]!r}")
    if out2 != out:
        diffs.append("a second check says otherwise than the first (check changed something)")
    return diffs


@case("README: `replay` of FEE, REV and REC batches of the same books says identical; after FEE.json changes, replay of the FEE batch is identical under the kept FEE schema of then; without that copy it says DIFFERS naming FEE.json and --rebuild stops there naming FEE.json")
def fee_replay_schema_change(rx):
    d = trx("fee_replay")
    r = gox(d, "FEE", [fd("200000000001"), fd("200000000002", payer_name="long name")])
    diffs = full(r, {"result": "ACK", "rows": [("200000000001", 1, ""), ("200000000002", 1, "")]})
    gox(d, "REV", [rvd("200000000001", "1000.00")])
    gox(d, "REC", [rcd("200000000001", "1000.00", state="REVERSED"), rcd("200000000002", "1000.00")])
    diffs += _replays_equal(d)
    if diffs:
        return diffs
    s = sch(d, "FEE")
    fld(s, "payer_name")["constraints"]["maxLength"] = 3
    write_schema(d, "FEE", s)
    rc, out, err = cmd(d, "replay", f"{d}/var/received/{lib.sha(r['archive'])}.zip", "--out", d + "/replay1")
    if not (rc == 0 and "identical" in out and "kept schema of its time" in out and "FEE.json" in out):
        diffs.append(f"replay of the FEE batch after FEE.json changed: exit {rc}, not identical under the kept FEE schema: {out.strip()[-260:]!r} {err.strip()[-200:]!r}")
    drop_kept_schema(d, "FEE", lambda s: fld(s, "payer_name")["constraints"].get("maxLength") != 3)
    rc, out, err = cmd(d, "replay", f"{d}/var/received/{lib.sha(r['archive'])}.zip", "--out", d + "/replay2")
    if not (rc == 1 and "DIFFERS" in out and "FEE.json" in out):
        diffs.append(f"replay of the FEE batch after FEE.json changed: exit {rc}, not DIFFERS naming FEE.json: {out.strip()[-260:]!r} {err.strip()[-200:]!r}")
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    text = out + err
    if not (rc == 1 and "FEE.json" in text and "another schema" in text):
        diffs.append(f"audit verify --rebuild after FEE.json changed: exit {rc}, not stopping at the FEE batch naming FEE.json: {text.strip()[-300:]!r}")
    rc, out, err = cmd(d, "audit", "verify")
    if not (rc == 1 and "kept file schemas/" in out + err):
        diffs.append(f"plain audit verify after the kept FEE schema was removed: exit {rc}, not naming the missing copy {(out + err).strip()[-300:]!r}")
    return diffs


# --- the order of batches waiting together ---
@case("README 'Among batches waiting together it comes with its role (§7.2: PAY, REV, REC), after the agreement's type of that role': PAY, FEE, REV, RVX, REC, STX of one day and a FEE of the day before dropped in one run; statuses show the order")
def order_by_role(rx):
    d = trx("order", add=("FEE", "RVX", "STX"))
    X1, X2, X3, X4 = "400000000001", "400000000002", "400000000003", "400000000004"
    # in reverse of the expected order, so that neither name order nor write order gives it
    put(d, "STX", [rcd(X1, "1000.00", state="REVERSED"), rcd(X2, "1000.00", state="REVERSED"), rcd(X3, "1000.00")])
    put(d, "REC", [rcd(X1, "1000.00", state="REVERSED"), rcd(X2, "1000.00", state="REVERSED"), rcd(X3, "1000.00")])
    put(d, "RVX", [rvd(X2, "1000.00"), rvd(X1, "1000.00")])
    put(d, "REV", [rvd(X2, "1000.00")])
    put(d, "FEE", [fd(X1), fd(X2), fd(X3)])                       # after PAY_001 and PAY_002: X1, X3 are 301
    put(d, "PAY", [pd(X3)], seq=2)                                  # PAY_002 before FEE_001 (type before seq)
    put(d, "PAY", [pd(X1), pd(X4)], seq=1)                          # X4 after the FEE of the 20th: 301
    put(d, "FEE", [fd(X4, paid_at="2026-11-20 10:00:00")], date="20261120")
    rc, out, err = cmd(d, "run")
    want = {("FEE", 1, "20261120"): [(X4, "1")],
            ("PAY", 1, "20261121"): [(X1, "1"), (X4, "301")],
            ("PAY", 2, "20261121"): [(X3, "1")],
            ("FEE", 1, "20261121"): [(X1, "301"), (X2, "1"), (X3, "301")],
            ("REV", 1, "20261121"): [(X2, "1")],
            ("RVX", 1, "20261121"): [(X2, "307"), (X1, "1")],
            ("REC", 1, "20261121"): [(X1, "1"), (X2, "1"), (X3, "1")],
            ("STX", 1, "20261121"): [(X1, "1"), (X2, "1"), (X3, "1")]}
    diffs = [] if rc == 0 else [f"run exit {rc}: {err.strip()[-300:]!r}"]
    for (t, s, dt), w in want.items():
        b = bidn(s, t, dt)
        a = answer(d, b)
        got = [(x[1], x[2]) for x in a["rows"]] if a else None
        if got != w:
            diffs.append(f"{b}: {got if a else 'no ACK: ' + str(outbox_names(d))} != expected {w}")
    # REC before STX: both only judge; the order is read from `status --last 8` (newest first)
    rc, out, err = cmd(d, "status", "--last", "8")
    order = [w for l in out.splitlines() for w in l.split() if w.startswith("MUNIS_SUDBILLING_")][::-1]
    want_order = [bidn(s, t, dt) for (t, s, dt) in want]
    if order != want_order:
        diffs.append(f"status --last 8 lists the batches handled in the order {order}, expected {want_order}")
    return diffs


@case("open: two added types of one role (FEA and FEE, both as PAY) waiting together: after PAY, in either order (noted)")
def order_two_added_same_role(rx):
    def e(s):
        s["FEA"] = added_schema("PAY", "FEA", extra=FEE_KIND, at=0)
    d = trx("order2", add=("FEE",), types=AGREED + ["FEE", "FEA"], edit=e)
    X = "410000000001"
    put(d, "FEE", [fd(X)])
    put(d, "FEA", [fd(X, amount="1000.00")])
    put(d, "PAY", [pd(X)])
    rc, out, err = cmd(d, "run")
    got = {t: [x[2] for x in (answer(d, bidn(1, t)) or {"rows": []})["rows"]] for t in ("PAY", "FEA", "FEE")}
    if got["PAY"] != ["1"] or sorted(got["FEA"] + got["FEE"]) != ["301", "301"]:
        return [f"PAY not first among PAY, FEA, FEE (or a row not answered): {got}"]
    NOTES.append(f"PAY first, then FEA and FEE (both 301); run printed {'FEA first' if out.find('_FEA_') < out.find('_FEE_') else 'FEE first'}")
    return []


# --- partners' types ---
@case("README 'A partner takes an added type only when its types lists it (otherwise B10)': no types key: FEE archive is B10 (..._FEE_..._NAK.zip, type=FEE), PAY ACK; types listing FEE: ACK")
def fee_not_listed_b10(rx):
    d = trx("fee_b10", types=None)
    diffs = full(gox(d, "FEE", [fd("200000000001")]), {"result": "NAK", "code": "B10"})
    diffs += full(gox(d, "PAY", [pd("100000000001")]), {"result": "ACK", "rows": [("100000000001", 1, "")]})
    d = trx("fee_b10b", types=["PAY", "REV", "REC"])
    diffs += full(gox(d, "FEE", [fd("200000000001")]), {"result": "NAK", "code": "B10"})
    return diffs


@case("README: types = [\"FEE\"] only: FEE ACK, the agreement's PAY B10")
def fee_only_type(rx):
    d = trx("fee_only", types=["FEE"])
    diffs = full(gox(d, "FEE", [fd("200000000001")]), {"result": "ACK", "rows": [("200000000001", 1, "")]})
    diffs += full(gox(d, "PAY", [pd("100000000001")]), {"result": "NAK", "code": "B10"})
    return diffs


@case("README: types are per partner: OTHER (no key, no types) gets B10 for FEE while MUNIS (FEE listed) gets ACK; OTHER's PAY ACKs")
def fee_second_partner(rx):
    d = trx("fee_2p", partners="[partners.OTHER]\n")
    diffs = full(gox(d, "FEE", [fd("200000000001")], snd="OTHER", key=None), {"result": "NAK", "code": "B10"}, key=False)
    diffs += full(gox(d, "PAY", [pd("100000000001")], snd="OTHER", key=None), {"result": "ACK", "rows": [("100000000001", 1, "")]}, key=False)
    diffs += full(gox(d, "FEE", [fd("200000000001")]), {"result": "ACK", "rows": [("200000000001", 1, "")]})
    return diffs


@case("README 'a partner's types naming a type not in force stop the engine at start': FEE listed without FEE.json, XYZ listed, FEE listed under the built-in schemas: exit 3 naming the type")
def types_not_in_force(rx):
    diffs = [f"FEE without FEE.json: {x}" for x in refused_line("tnf1", types=AGREED + ["FEE"], must_name=("FEE",))]
    diffs += [f"XYZ: {x}" for x in refused_line("tnf2", with_types("FEE"), types=AGREED + ["FEE", "XYZ"], must_name=("XYZ",))]
    diffs += [f"built-in schemas: {x}" for x in refused_line("tnf3", types=AGREED + ["FEE"], schemas=False, must_name=("FEE",))]
    return diffs


# --- refusals at start ---
@case("README 'An added type without reconcileAs ... stop[s] the engine at start': FEE.json without reconcileAs, exit 3, one line naming FEE.json")
def added_without_reconcile_as(rx):
    return refused_line("no_ra", lambda s: s.update(FEE=added_schema("PAY", "FEE", role=None)), must_name=("FEE.json",))


@case("README 'its reconcileAs (PAY, REV or REC)': reconcileAs pay, FEE (itself), invoices, XYZ, \"\", 1, null, [\"PAY\"], or another added type: exit 3 naming the file")
def added_bad_reconcile_as(rx):
    diffs = []
    for i, v in enumerate(["pay", "FEE", "invoices", "XYZ", "", 1, None, ["PAY"], "PAY "]):
        diffs += [f"reconcileAs {v!r}: {x}" for x in refused_line(f"bad_ra{i}", lambda s, v=v: s.update(FEE=added_schema("PAY", "FEE", role=v)),
                                                               types=None, must_name=("FEE.json",))]
    # FE2 reconciled as FEE, an added type (only the agreement's three are roles)
    diffs += [f"reconcileAs \"FEE\" in FE2.json: {x}" for x in refused_line(
        "bad_ra_fe2", with_types("FEE", edit=lambda s: s.update(FE2=added_schema("PAY", "FE2", role="FEE"))), types=None, must_name=("FE2.json",))]
    return diffs


@case("README 'a file whose stem is not a type code' ([A-Z0-9]{2,16}): fee.json, Fee.json, F.json, FEE-1.json, FEE_1.json, a 17-character stem, a Cyrillic stem, .FEE.json: exit 3 naming the file")
def added_bad_stem(rx):
    diffs = []
    for i, stem in enumerate(["fee", "Fee", "F", "FEE-1", "FEE_1", "ABCDEFGHIJ1234567", "ФЕЕ", "FE E", ".FEE"]):
        diffs += [f"{stem}.json: {x}" for x in refused_line(f"stem{i}", lambda s, stem=stem: s.update({stem: added_schema("PAY", stem)}),
                                                             types=None, must_name=(f"{stem}.json",))]
    return diffs


@case("README '[A-Z0-9]{2,16}': stems of 2 and 16 characters with digits (F1, ABCDEFGHIJ123456) are types: their archives are ACKed, their responses named with them")
def added_stem_bounds(rx):
    t16 = "ABCDEFGHIJ123456"
    d = trx("stem_ok", add=(), types=AGREED + ["F1", t16],
            edit=lambda s: s.update({"F1": added_schema("PAY", "F1"), t16: added_schema("REV", t16)}))
    diffs = full(gox(d, "F1", [pd("100000000001")]), {"result": "ACK", "rows": [("100000000001", 1, "")]})
    diffs += full(gox(d, t16, [rvd("100000000001", "1000.00")]), {"result": "ACK", "rows": [("100000000001", 1, "")]})
    return diffs


@case("README 'a reconcileAs in PAY.json, REV.json or REC.json other than its own type' stops the engine naming the file; its own type is taken (or refused: noted)")
def reconcile_as_in_agreed(rx):
    diffs = []
    for f, v in (("PAY", "REV"), ("REV", "PAY"), ("REC", "PAY"), ("PAY", "FEE"), ("REC", "rec")):
        diffs += [f"{f}.json reconcileAs {v}: {x}" for x in refused_line(
            f"ra_{f}_{v}", with_types("FEE", edit=lambda s, f=f, v=v: s[f].update(reconcileAs=v)), types=None, must_name=(f"{f}.json",))]
    d, bad = receiver("ra_own", lambda s: [s[t].update(reconcileAs=t) for t in AGREED])
    if bad:
        NOTES.append(f"own reconcileAs refused: {bad[2].strip()[-150:]}")
        if bad[0] != 3:
            diffs.append(f"own reconcileAs: exit {bad[0]}")
    else:
        r = gox(d, "PAY", [pd("100000000001")])
        diffs += full(r, {"result": "ACK", "rows": [("100000000001", 1, "")]})
        NOTES.append("own reconcileAs taken")
    return diffs


@case("README 'What a schema says is done or refused, never ignored': reconcileAs \"PAY\" in invoices.json (the export is reconciled as nothing) is refused at start naming invoices.json")
def reconcile_as_in_invoices(rx):
    d, bad = receiver("ra_inv", lambda s: s["invoices"].update(reconcileAs="PAY"))
    if bad:
        return [] if bad[0] == 3 and "invoices.json" in bad[2] else [f"refused without naming invoices.json: {bad}"]
    d2, bad2 = receiver("ra_inv2", lambda s: s["invoices"].update(reconcileAs="garbage"), import_inv=False)
    return ["invoices.json with \"reconcileAs\": \"PAY\" loads and the export imports (exit 0): the key is read "
            f"(\"garbage\" there is {'refused: ' + bad2[2].strip()[-120:] if bad2 else 'taken too'}) but ignored"]


@case("README 'an added type must have what its role reads, as above': FEE lacking bank_mfo, payment_id optional, no primaryKey, amountField other; RVX lacking reason; STX lacking state: exit 3 naming the file (and the field)")
def added_lacks_role_field(rx):
    diffs = []
    for lab, mk, fname, must in (
            ("fee_mfo", lambda: fee_schema(lambda s: s["fields"].remove(fld(s, "bank_mfo"))), "FEE", ("bank_mfo",)),
            ("fee_payer_type", lambda: fee_schema(lambda s: s["fields"].remove(fld(s, "payer_type"))), "FEE", ("payer_type",)),
            ("fee_pid_opt", lambda: fee_schema(lambda s: fld(s, "payment_id")["constraints"].update(required=False)), "FEE", ("payment_id",)),
            ("fee_no_pk", lambda: fee_schema(lambda s: s.pop("primaryKey")), "FEE", ()),
            ("fee_af", lambda: fee_schema(lambda s: s.update(amountField="fee_kind")), "FEE", ()),
            ("rvx_reason", lambda: added_schema("REV", "RVX", edit=lambda s: s["fields"].remove(fld(s, "reason"))), "RVX", ("reason",)),
            ("rvx_rev_at", lambda: added_schema("REV", "RVX", edit=lambda s: s["fields"].remove(fld(s, "reversed_at"))), "RVX", ("reversed_at",)),
            ("stx_state", lambda: added_schema("REC", "STX", edit=lambda s: s["fields"].remove(fld(s, "state"))), "STX", ("state",)),
            ("stx_inv", lambda: added_schema("REC", "STX", edit=lambda s: s["fields"].remove(fld(s, "invoice_no"))), "STX", ("invoice_no",)),
            # a REV-shaped file reconciled as PAY lacks PAY's fields
            ("rev_as_pay", lambda: added_schema("REV", "FEE", role="PAY"), "FEE", ("paid_at",))):
        diffs += [f"{lab}: {x}" for x in refused_line("lack_" + lab, lambda s, mk=mk, fname=fname: s.update({fname: mk()}),
                                                       types=None, must_name=(f"{fname}.json",) + must)]
    return diffs


@case("README: an added type's schema is held to every rule of a schema: name other than the stem, unknown key, malformed JSON, a dialect other than §5's: exit 3 naming FEE.json")
def added_schema_rules(rx):
    diffs = []
    for lab, e in (("name", lambda s: s.update(FEE=fee_schema(lambda f: f.update(name="PAY")))),
                   ("unknown", lambda s: s.update(FEE=fee_schema(lambda f: f.update(roleOf="PAY")))),
                   ("dialect", lambda s: s.update(FEE=fee_schema(lambda f: f["dialect"].update(delimiter=","))))):
        diffs += [f"{lab}: {x}" for x in refused_line("fee_rule_" + lab, e, types=None, must_name=("FEE.json",))]
    diffs += [f"malformed: {x}" for x in refused_line("fee_rule_json", files={"FEE.json": '{"name": "FEE", "reconcileAs": "PAY",'},
                                                      types=None, must_name=("FEE.json",))]
    return diffs


@case("README 'any other *.json file in it is one': files not *.json in the folder (README.txt, FEE.json.bak, FEE.json~, notes.md, a sub-folder) are ignored; a FEE archive is then set aside (no such type), a PAY ACKs")
def non_json_ignored(rx):
    bad = "{ not json"
    d = loads("nonjson", None, files={"README.txt": "notes", "FEE.json.bak": bad, "FEE.json~": bad, "notes.md": bad,
                                      "old": None, "FEE.jsonx": bad, "json": bad})
    diffs = full(gox(d, "PAY", [pd("100000000001")]), {"result": "ACK", "rows": [("100000000001", 1, "")]})
    r = gox(d, "FEE", reg=reg_from(d, "PAY", [pd("200000000001")]))
    if r.get("name") or not any("MUNIS_SUDBILLING_FEE_20261121_001" in x for x in set_aside_reasons(d)):
        diffs.append(f"FEE archive with no FEE.json: expected set aside (name not of the form), got {r.get('name')} / {set_aside_reasons(d)[-1:]}")
    return diffs


@case("open: FEE.JSON (upper-case suffix) and a sub-folder named XY.json: ignored, or read (noted); nothing else breaks")
def json_suffix_case(rx):
    diffs = []
    for lab, files in (("FEE.JSON", {"FEE.JSON": json.dumps(fee_schema())}), ("folder XY.json", {"XY.json": None})):
        d, bad = receiver("suffix_" + lab[-6:], files=files, types=None)
        if bad:
            NOTES.append(f"{lab}: refused at start, exit {bad[0]}: {bad[2].strip()[-110:]}")
            if bad[0] != 3 or "panicked" in bad[2]:
                diffs.append(f"{lab}: exit {bad[0]} {bad[2].strip()[-200:]!r}")
            continue
        r = gox(d, "PAY", [pd("100000000001")])
        NOTES.append(f"{lab}: ignored, PAY then {r.get('res')}")
        diffs += full(r, {"result": "ACK", "rows": [("100000000001", 1, "")]})
    return diffs


# --- status ---
@case("README status 'what waits in the inbox and why': a FEE archive waiting is ready (not a bad name); an archive of a type with no schema (XYZ) is a bad name; FEE shows among the last batches once answered")
def status_fee(rx):
    d = trx("status_fee")
    put(d, "FEE", [fd("200000000001")])
    put(d, "XYZ", data=b"PK")
    rc, out, err = cmd(d, "status")
    diffs = [] if rc == 0 else [f"status exit {rc}: {err[-200:]!r}"]
    lines = out.splitlines()
    fee = [l for l in lines if "MUNIS_SUDBILLING_FEE_20261121_001" in l]
    xyz = [l for l in lines if "MUNIS_SUDBILLING_XYZ_20261121_001" in l]
    if not fee or "bad name" in fee[0] or "ready" not in fee[0]:
        diffs.append(f"status on a waiting FEE archive: {fee or out[-300:]!r} (expected ready)")
    if not xyz or ("bad name" not in xyz[0] and "not of the agreement's form" not in xyz[0]):
        diffs.append(f"status on a waiting XYZ archive: {xyz or out[-300:]!r} (expected bad name)")
    cmd(d, "run")
    put(d, "FEE", [fd("200000000004")], seq=4)
    cmd(d, "run")
    rc, out, err = cmd(d, "status")
    if "MUNIS_SUDBILLING_FEE_20261121_001" not in out or "MUNIS_SUDBILLING_FEE_20261121_004" not in out:
        diffs.append(f"status after the run does not show the FEE batches: {out[-400:]!r}")
    if not any(l.startswith("GAP") and "FEE" in l and "002-003" in l for l in out.splitlines()):
        diffs.append(f"status does not show FEE 002-003 missing (SEQ is per type and day, §2): {out[-400:]!r}")
    return diffs


@case("open: status's 'days with PAY but no REC' for a day with FEE payments only, and for a day whose statement came as STX (REC role): flagged or not (noted)")
def status_rec_due(rx):
    d = trx("status_due", add=("FEE", "STX"))
    gox(d, "FEE", [fd("200000000001", paid_at="2026-11-19 10:00:00")], date="20261119")
    gox(d, "PAY", [pd("100000000001", paid_at="2026-11-20 10:00:00")], date="20261120")
    gox(d, "STX", [rcd("100000000001", "1000.00", paid_at="2026-11-20 10:00:00")], date="20261120")
    rc, out, err = cmd(d, "status")
    if rc:
        return [f"status exit {rc}: {err[-200:]!r}"]
    gaps = [l.strip() for l in out.splitlines() if l.startswith("GAP")]
    NOTES.append(f"FEE-only day 2026-11-19 {'flagged' if any('2026-11-19' in g for g in gaps) else 'not flagged'}; "
                 f"PAY day 2026-11-20 with an STX only {'flagged' if any('2026-11-20' in g for g in gaps) else 'not flagged'}")
    return []


# --- the REV and REC roles ---
@case("README reconcileAs REV and REC: RVX (REV role, a field more) reverses PAY payments (1, 305, 4, 307, 202/201 on its fields), REV then sees them reversed (307); STX (REC role) lists the day's payments (1, 301, 4, 202 paid_at, 306); REC sees RVX's reversal")
def added_rev_rec_roles(rx):
    d = trx("roles", add=("RVX", "STX"))
    P = ["500000000001", "500000000002", "500000000003"]
    diffs = full(gox(d, "PAY", [pd(P[0]), pd(P[1], amount="2000.00"), pd(P[2], amount="3000.00")]),
                 {"result": "ACK", "amount_accepted": "6000.00", "rows": [(p, 1, "") for p in P]})
    diffs += full(gox(d, "RVX", [rvd(P[0], "1000.00", channel="ATM"), rvd(P[1], "1999.00"), rvd("500000000009", "1.00"),
                                 rvd(P[0], "1000.00"), rvd(P[2], "3000.00", channel="LONG"), rvd(P[2], "")]),
                  {"result": "ACK", "amount_accepted": "1000.00", "rows": [
                      (P[0], 1, ""), (P[1], 305, ""), ("500000000009", 4, ""), (P[0], 307, ""), (P[2], 202, "channel"),
                      (P[2], 201, "amount")]})
    diffs += full(gox(d, "REV", [rvd(P[0], "1000.00")]), {"result": "ACK", "rows": [(P[0], 307, "")]})
    diffs += full(gox(d, "STX", [rcd(P[0], "1000.00", state="REVERSED"), rcd(P[1], "2000.00"), rcd(P[1], "2000.00"),
                                 rcd("500000000009", "1.00"), rcd("500000000008", "1.00", paid_at="2026-11-20 10:00:00"),
                                 rcd(P[0], "1000.00")]),
                  {"result": "ACK", "rows": [(P[0], 1, ""), (P[1], 1, ""), (P[1], 301, ""), ("500000000009", 4, ""),
                                             ("500000000008", 202, "paid_at"), (P[0], 301, ""), (P[2], 306, "")]})
    diffs += full(gox(d, "REC", [rcd(P[0], "1000.00", state="REVERSED"), rcd(P[1], "2000.00"), rcd(P[2], "3000.00")]),
                  {"result": "ACK", "rows": [(P[0], 1, ""), (P[1], 1, ""), (P[2], 1, "")]})
    # the agreement's REV header under RVX (a field more): B07
    diffs += full(gox(d, "RVX", seq=2, data=build_archive(bidn(2, "RVX"), registry("REV", [rvd(P[1], "2000.00").values()]))),
                  {"result": "NAK", "code": "B07"})
    rc, out, err = cmd(d, "audit", "verify")
    if rc:
        diffs.append(f"audit verify: exit {rc} {out.strip()[-300:]!r}")
    return diffs + _replays_equal(d)


@case("README/§5.3: an STX (REC role) of the day that leaves a FEE payment out gives it 306 (a statement covers the day's payments, whichever type carried them)")
def stx_lists_fee(rx):
    d = trx("stx_fee", add=("FEE", "STX"))
    gox(d, "FEE", [fd("200000000001")])
    gox(d, "PAY", [pd("100000000001")])
    return full(gox(d, "STX", [rcd("100000000001", "1000.00")]),
                {"result": "ACK", "rows": [("100000000001", 1, ""), ("200000000001", 306, "")]})


# --- removal of an added type ---
@case("README 'A type whose schema is later removed is no longer of the form': FEE dropped from types (FEE.json kept): acknowledged bytes get the stored ACK byte for byte, new FEE B10; FEE.json removed too: acknowledged bytes the stored ACK, new FEE and NAKed-only FEE bytes set aside; audit verify clean; --rebuild judges FEE under its kept schema, and without that copy stops at the FEE delivery saying FEE has no schema in force and none is kept")
def fee_removed(rx):
    d = trx("fee_gone")
    diffs = []
    a1 = gox(d, "FEE", [fd("200000000001"), fd("200000000002", inv="B", amount="2000.00")])
    diffs += full(a1, {"result": "ACK", "rows": [("200000000001", 1, ""), ("200000000002", 1, "")]})
    n2 = gox(d, "FEE", seq=2, data=build_archive(bidn(2, "FEE"), reg_from(d, "FEE", [fd("200000000003")]), hmac_val=b"0" * 64))
    diffs += full(n2, {"result": "NAK", "code": "B05"})
    diffs += full(gox(d, "REV", [rvd("200000000002", "2000.00")]), {"result": "ACK", "rows": [("200000000002", 1, "")]})
    diffs += full(gox(d, "PAY", [pd("100000000001")]), {"result": "ACK", "rows": [("100000000001", 1, "")]})
    if diffs:
        return diffs
    # 1. FEE no longer taken from MUNIS, FEE.json still in force
    cfg = open(d + "/reestr.toml").read()
    open(d + "/reestr.toml", "w").write(cfg.replace('types = ["PAY", "REV", "REC", "FEE"]\n', ""))
    r = gox(d, "FEE", data=a1["archive"])
    if r.get("raw") != a1.get("raw"):
        diffs.append(f"FEE not in types: acknowledged bytes again got {desc(r)} {r.get('name')}, not the stored ACK byte for byte")
    diffs += full(gox(d, "FEE", [fd("200000000004")], seq=3), {"result": "NAK", "code": "B10"})
    # 2. FEE.json removed
    os.remove(d + "/schemas/FEE.json")
    r = gox(d, "FEE", data=a1["archive"])
    if r.get("raw") != a1.get("raw"):
        diffs.append(f"FEE.json removed: acknowledged bytes again got {r.get('name')} rc={r['rc']} {r['stderr'][-200:]!r}, not the stored ACK byte for byte")
    for lab, seq, data in (("a new FEE archive", 4, build_archive(bidn(4, "FEE"), reg_from(d, "PAY", [pd("200000000005")]))),
                           ("the NAKed-only FEE bytes", 2, n2["archive"])):
        before = len(set_aside_reasons(d))
        r = gox(d, "FEE", seq=seq, data=data)
        reasons = set_aside_reasons(d)
        if r.get("name") or len(reasons) != before + 1 or f"MUNIS_SUDBILLING_FEE_20261121_{seq:03d}" not in reasons[-1] \
                or os.path.exists(f"{d}/inbox/{bidn(seq, 'FEE')}.zip"):
            diffs.append(f"FEE.json removed, {lab}: expected set aside (no response), got {r.get('name')} rc={r['rc']} {r['stderr'][-200:]!r}")
    diffs += full(gox(d, "PAY", [pd("100000000002")], seq=2), {"result": "ACK", "rows": [("100000000002", 1, "")]})
    rc, out, err = cmd(d, "audit", "verify")
    if rc:
        diffs.append(f"audit verify after FEE.json removed: exit {rc} {(out + err).strip()[-400:]!r}")
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    if rc or "every payment and response agrees" not in out:
        diffs.append(f"audit verify --rebuild after FEE.json removed (its schema kept): exit {rc}, not clean: {(out + err).strip()[-400:]!r}")
    drop_kept_schema(d, "FEE", lambda s: True)
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    text = out + err
    if "FEE" not in text or "has no schema in force, and none is kept" not in text:
        diffs.append(f"audit verify --rebuild after FEE.json and its kept copy removed: exit {rc}, does not say FEE has no schema in force and none is kept: {text.strip()[-400:]!r}")
    elif "applied by no kept archive" in text:
        diffs.append(f"audit verify --rebuild reports payments instead of stopping: {text.strip()[-400:]!r}")
    others = [f for f in sorted(os.listdir(d + "/var/received"))
              if "_FEE_" not in lib.parse_response("x", open(f"{d}/var/received/{f}", "rb").read())["ctl"]["batch_id"]]
    if len(others) != 3:
        diffs.append(f"var/received holds {len(others)} kept archives other than FEE ones, expected 3 (REV, PAY 001, PAY 002)")
    for f in others:
        rc, out, err = cmd(d, "replay", f"{d}/var/received/{f}", "--out", d + "/rp")
        if rc or "identical" not in out:
            diffs.append(f"FEE.json removed: replay of a non-FEE batch {f[:12]}: exit {rc} {out.strip()[-200:]!r} {err.strip()[-200:]!r}")
    rc, out, err = cmd(d, "status")
    if rc or "MUNIS_SUDBILLING_FEE_20261121_004" not in out:
        diffs.append(f"status after FEE.json removed: exit {rc}, does not show the set-aside FEE archive: {out[-300:]!r}")
    return diffs


@case("open: replay and check of a kept FEE archive after FEE.json is removed: refused saying why, or judged (noted); never a panic")
def fee_removed_replay(rx):
    d = trx("fee_gone2")
    a1 = gox(d, "FEE", [fd("200000000001")])
    if a1.get("res") != "ACK":
        return [f"FEE: {desc(a1)}"]
    os.remove(d + "/schemas/FEE.json")
    cfg = open(d + "/reestr.toml").read()
    open(d + "/reestr.toml", "w").write(cfg.replace('types = ["PAY", "REV", "REC", "FEE"]\n', ""))
    f = [x for x in os.listdir(d + "/var/received")][0]
    rc, out, err = cmd(d, "replay", f"{d}/var/received/{f}", "--out", d + "/rp")
    p = f"{d}/{a1['bid']}.zip"
    open(p, "wb").write(a1["archive"])
    rc2, out2, err2 = cmd(d, "check", p)
    NOTES.append(f"replay exit {rc}: {(out + err).strip()[-140:]!r}; check exit {rc2}: {(out2 + err2).strip()[-140:]!r}")
    return [f"{c} panicked: {e[-300:]!r}" for c, e in (("replay", err), ("check", err2)) if "panicked" in e]


@case("README 'its deliveries journal the role their rows had (reconciled_as), so audit verify still checks them': after FEE.json is removed, a FEE payment's amount edited in the store (its balance edited to match) is found by plain audit verify")
def fee_removed_tamper(rx):
    import sqlite3
    d = trx("fee_tamper")
    diffs = full(gox(d, "FEE", [fd("200000000001"), fd("200000000002")]),
                 {"result": "ACK", "rows": [("200000000001", 1, ""), ("200000000002", 1, "")]})
    os.remove(d + "/schemas/FEE.json")
    cfg = open(d + "/reestr.toml").read()
    open(d + "/reestr.toml", "w").write(cfg.replace('types = ["PAY", "REV", "REC", "FEE"]\n', ""))
    rc, out, err = cmd(d, "audit", "verify")
    if rc:
        return diffs + [f"audit verify before tampering: exit {rc} {(out + err).strip()[-300:]!r}"]
    with sqlite3.connect(d + "/var/reestr.db") as c:
        c.execute("UPDATE payments SET amount = amount - 1000 WHERE payment_id = '200000000002'")
        c.execute("UPDATE balances SET paid = paid - 1000 WHERE invoice_no = ?", (INV["A"][0],))
    rc, out, err = cmd(d, "audit", "verify")
    if rc != 1 or "FEE" not in out + err:
        diffs.append(f"audit verify after a FEE payment's amount was edited (FEE.json removed): exit {rc}, expected 1 naming the FEE batch: {(out + err).strip()[-300:]!r}")
    return diffs


@case("README (Inbox decision) 'a batch that is ready waits while one before it in the agreed order is still settling', with FEE in PAY's role: FEE settling holds REV and REC but not PAY_002; PAY settling holds FEE; a settling archive of a type with no schema holds nothing")
def held_by_role(rx):
    d = trx("held", add=("FEE", "STX"))
    cfg = open(d + "/reestr.toml").read()
    open(d + "/reestr.toml", "w").write(cfg.replace("settle_seconds = 0\n", "settle_seconds = 60\n"))

    def states():
        rc, out, err = cmd(d, "status")
        return {l.split()[0]: l for l in out.splitlines() if l.startswith("  MUNIS_")}

    def is_held(line):
        return "earlier batch" in line or "held" in line
    diffs = []
    put(d, "FEE", [fd("200000000001")], date="20261122", age=0)
    put(d, "PAY", [pd("100000000002")], seq=2, date="20261122", age=120)
    put(d, "REV", [rvd("100000000002", "1000.00")], date="20261122", age=120)
    put(d, "STX", [rcd("100000000002", "1000.00")], date="20261122", age=120)
    put(d, "PAY", [pd("100000000003")], date="20261121", age=120)
    s = states()
    for b, held in ((bidn(2, "PAY", "20261122"), False), (bidn(1, "REV", "20261122"), True), (bidn(1, "STX", "20261122"), True),
                    (bidn(1, "PAY", "20261121"), False)):
        line = s.get(b + ".zip", "")
        if not line or is_held(line) != held:
            diffs.append(f"FEE_20261122_001 settling: {b} is {line.strip() or 'not listed'!r}, expected {'held' if held else 'ready'}")
    lib.clear_outbox(d)
    for f in os.listdir(d + "/inbox"):
        os.remove(f"{d}/inbox/{f}")
    put(d, "PAY", [pd("100000000002")], date="20261122", age=0)
    put(d, "FEE", [fd("200000000001")], date="20261122", age=120)
    put(d, "QQQ", date="20261121", age=0, data=open(f"{d}/inbox/{bidn(1, 'FEE', '20261122')}.zip", "rb").read())
    put(d, "REV", [rvd("100000000002", "1000.00")], date="20261121", age=120)
    s = states()
    for b, held in ((bidn(1, "FEE", "20261122"), True), (bidn(1, "REV", "20261121"), False)):
        line = s.get(b + ".zip", "")
        if not line or is_held(line) != held:
            diffs.append(f"PAY_20261122_001 and QQQ_20261121_001 settling: {b} is {line.strip() or 'not listed'!r}, expected {'held' if held else 'ready'}")
    return diffs


@case("README/Inbox: a FEE archive set aside while FEE.json was removed is released once FEE.json (in another layout) and the partner's FEE are back: answered as FEE (301 against the kept FEE payment, 1); --rebuild is clean again and replay identical")
def fee_back_release(rx):
    d = trx("fee_back")
    diffs = full(gox(d, "FEE", [fd("200000000001")]), {"result": "ACK", "rows": [("200000000001", 1, "")]})
    text = open(d + "/schemas/FEE.json").read()
    cfg = open(d + "/reestr.toml").read()
    data = build_archive(bidn(2, "FEE"), reg_from(d, "FEE", [fd("200000000001"), fd("200000000002")]))
    os.remove(d + "/schemas/FEE.json")
    open(d + "/reestr.toml", "w").write(cfg.replace('types = ["PAY", "REV", "REC", "FEE"]\n', ""))
    r = gox(d, "FEE", seq=2, data=data)
    if r.get("name") or not os.listdir(d + "/var/set-aside"):
        return diffs + [f"FEE.json removed: a new FEE archive got {r.get('name')}, not set aside"]
    open(d + "/schemas/FEE.json", "w").write(json.dumps(json.loads(text), separators=(",", ":")))
    open(d + "/reestr.toml", "w").write(cfg)
    rc, out, err = cmd(d, "release", bidn(2, "FEE") + ".zip")
    if rc:
        return diffs + [f"release: exit {rc} {err.strip()[-300:]!r}"]
    lib.clear_outbox(d)
    cmd(d, "run")
    a = answer(d, bidn(2, "FEE"))
    got = [(x[1], x[2]) for x in a["rows"]] if a else None
    if got != [("200000000001", "301"), ("200000000002", "1")]:
        diffs.append(f"released FEE_002: {got if a else outbox_names(d)} != [301, 1]")
    return diffs + _replays_equal(d)


@case("README 'Replay judges under the configuration of the time ... the sender's types': FEE dropped from MUNIS's types (FEE.json kept): replay of the FEE batch is identical (not B10), --rebuild clean; types naming invoices or fee (lower case) stop the engine (exit 3)")
def fee_types_of_the_time(rx):
    d = trx("fee_tott")
    a = gox(d, "FEE", [fd("200000000001")])
    diffs = full(a, {"result": "ACK", "rows": [("200000000001", 1, "")]})
    gox(d, "REV", [rvd("200000000001", "1000.00")])
    cfg = open(d + "/reestr.toml").read()
    open(d + "/reestr.toml", "w").write(cfg.replace('types = ["PAY", "REV", "REC", "FEE"]\n', ""))
    rc, out, err = cmd(d, "replay", f"{d}/var/received/{lib.sha(a['archive'])}.zip", "--out", d + "/rp")
    if rc or "identical" not in out:
        diffs.append(f"replay of the FEE batch after FEE left the partner's types: exit {rc} {out.strip()[-200:]!r} {err.strip()[-200:]!r}")
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    if rc:
        diffs.append(f"audit verify --rebuild after FEE left the partner's types: exit {rc} {(out + err).strip()[-300:]!r}")
    for t in ("invoices", "fee"):
        diffs += [f"types naming {t!r}: {x}" for x in refused_line("tott_" + t, with_types("FEE"), types=AGREED + ["FEE", t], must_name=(t,))]
    return diffs


@case("README 'its deliveries journal the role their rows had (reconciled_as)': the journal entries of FEE, RVX and STX deliveries say PAY, REV and REC (read from the store's journal table)")
def journal_reconciled_as(rx):
    import sqlite3
    d = trx("journal_ra", add=("FEE", "RVX", "STX"))
    gox(d, "FEE", [fd("200000000001")])
    gox(d, "RVX", [rvd("200000000001", "1000.00")])
    gox(d, "STX", [rcd("200000000001", "1000.00", state="REVERSED")])
    with sqlite3.connect(d + "/var/reestr.db") as c:
        bodies = [json.loads(b) for (b,) in c.execute("SELECT body FROM journal WHERE kind = 'delivery' ORDER BY seq")]
    want = {"FEE": "PAY", "RVX": "REV", "STX": "REC"}
    diffs = []
    for t, role in want.items():
        bs = [b for b in bodies if f"_{t}_" in json.dumps(b)]
        if not bs or f'"reconciled_as": "{role}"' not in json.dumps(bs[0]):
            diffs.append(f"{t} delivery's journal body does not hold reconciled_as {role}: {json.dumps(bs[0])[:300] if bs else 'no entry'}")
    return diffs


@case("README 'removed when the engine does not read it' for an added type: FEE.json without account and purpose (and a field more) loads; FEE rows are booked, listed by REC, and --rebuild compares them field by field clean; replay identical")
def fee_without_optional_fields(rx):
    d = trx("fee_noacc", edit=lambda s: [s["FEE"]["fields"].remove(fld(s["FEE"], n)) for n in ("account", "purpose")])
    diffs = full(gox(d, "FEE", [fd("200000000001"), fd("200000000002", amount="99.99")]),
                 {"result": "ACK", "rows": [("200000000001", 1, ""), ("200000000002", 202, "amount")]})
    diffs += full(gox(d, "REC", [rcd("200000000001", "1000.00")]), {"result": "ACK", "rows": [("200000000001", 1, "")]})
    return diffs + _replays_equal(d)


# ---------- kept schemas over several eras (README "Configuration": the engine keeps every schema
# it judges under as schemas/<fingerprint>.json; replay and audit verify --rebuild judge an entry
# again under the kept schema of its time; "What it keeps"; CHANGES 0.4.0) ----------
# Eras: A the built-in schemas (no `schemas` key); B a folder whose PAY purpose is at most 3
# characters and REV reason at most 5; C as B with an optional PAY field `note` (at most 5) added
# last. Each case works on its own copy of one history built once.
NOTE_FIELD = {"name": "note", "type": "string", "constraints": {"required": False, "maxLength": 5}}
ERA_TYPES = ("PAY", "REV", "REC", "invoices")
_HIST = {}


def era_schemas(era):
    s = copy.deepcopy(BUILTIN)
    if era in "BC":
        fld(s["PAY"], "purpose")["constraints"]["maxLength"] = 3
        fld(s["REV"], "reason")["constraints"]["maxLength"] = 5
    if era == "C":
        s["PAY"]["fields"].append(copy.deepcopy(NOTE_FIELD))
    return s


def set_folder(d, on):
    """Configures the `schemas = "schemas"` key (on) or the built-in schemas (off)."""
    lines = [x for x in open(d + "/reestr.toml").read().splitlines(True) if not x.startswith("schemas =")]
    if on:
        lines.insert(lines.index('data = "var"\n') + 1, 'schemas = "schemas"\n')
    open(d + "/reestr.toml", "w").write("".join(lines))


def set_era(d, era):
    s = era_schemas(era)
    for n in ("PAY", "REV"):
        write_schema(d, n, s[n])
    set_folder(d, era != "A")


def reg_names(names, rows):
    lines = [hdr_of(names)] + [";".join(val(r.get(n, "")) for n in names) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def hist(key, build):
    """A copy-source history built once per run: (dir, meta)."""
    if key not in _HIST:
        _HIST[key] = build()
    return _HIST[key]


def copy_hist(key, build, name):
    src, meta = hist(key, build)
    d = os.path.join(lib.SCRATCH, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(src, d, symlinks=True)
    return d, meta


def kept_dir(d):
    return d + "/var/schemas"


def kept_files(d):
    """{file name: parsed JSON (None when not JSON)} of var/schemas."""
    out = {}
    p = kept_dir(d)
    for f in sorted(os.listdir(p)) if os.path.isdir(p) else []:
        try:
            out[f] = json.load(open(os.path.join(p, f)))
        except Exception:
            out[f] = None
    return out


def kept_name_of(d, schema):
    """The kept file whose content (parsed) is schema, or None."""
    for f, s in kept_files(d).items():
        if s == schema:
            return f
    return None


def era_hist():
    """PAY, REV, REC and a re-delivery across eras A, B, C; C in force at the end. meta: the
    deliveries in order as dicts (bid, typ, era, sha, res, rows or code, raw response)."""
    d, bad = receiver("kept_src", schemas=False)
    if bad:
        raise AssertionError(f"receiver refused: {bad}")
    meta = []

    def send(era, typ, seq, rows=(), reg=None, data=None):
        r = gox(d, typ, rows, seq=seq, reg=reg, data=data)
        m = dict(bid=r["bid"], typ=typ, era=era, sha=lib.sha(r["archive"]), res=r.get("res"),
                 code=r.get("ctl", {}).get("error"), rows=st(r), raw=r.get("raw"), archive=r["archive"])
        meta.append(m)
        return m
    p = {i: "30000000000%d" % i for i in range(1, 8)}
    send("A", "PAY", 1, [pd(p[1], purpose="long purpose"), pd(p[2], purpose="abc")])
    send("A", "REV", 1, [rvd(p[2], "1000.00", reason="xatolik")])
    set_era(d, "B")
    send("B", "PAY", 2, [pd(p[3], purpose="long purpose"), pd(p[4], purpose="abc"), pd(p[1], purpose="abc")])
    send("B", "REV", 2, [rvd(p[4], "1000.00", reason="xatolik")])
    c_names = [f["name"] for f in era_schemas("C")["PAY"]["fields"]]
    send("B", "PAY", 3, reg=reg_names(c_names, [pd(p[7], purpose="ab", note="ok")]))
    set_era(d, "C")
    send("C", "PAY", 4, [pd(p[5], purpose="ab", note="toolong"), pd(p[6], purpose="ab", note="ok"), pd(p[3], purpose="abc")])
    b_names = [f["name"] for f in era_schemas("B")["PAY"]["fields"]]
    send("C", "PAY", 5, reg=reg_names(b_names, [pd(p[7], purpose="ab")]))
    send("C", "REC", 1, [rcd(p[1], "1000.00"), rcd(p[2], "1000.00", state="REVERSED"), rcd(p[4], "1000.00"),
                         rcd(p[6], "1000.00"), rcd(p[3], "1000.00")])
    send("C", "PAY", 1, data=meta[0]["archive"])
    return d, meta


ERA_WANT = [("PAY", [("300000000001", "1", ""), ("300000000002", "1", "")]),
            ("REV", [("300000000002", "1", "")]),
            ("PAY", [("300000000003", "202", "purpose"), ("300000000004", "1", ""), ("300000000001", "301", "")]),
            ("REV", [("300000000004", "202", "reason")]),
            ("PAY", "B07"),
            ("PAY", [("300000000005", "202", "note"), ("300000000006", "1", ""), ("300000000003", "1", "")]),
            ("PAY", "B07"),
            ("REC", [("300000000001", "1", ""), ("300000000002", "1", ""), ("300000000004", "1", ""),
                     ("300000000006", "1", ""), ("300000000003", "1", "")]),
            ("PAY", "resend")]


def replay(d, sha, out, *extra):
    return cmd(d, "replay", f"{d}/var/received/{sha}.zip", "--out", f"{d}/{out}", *extra)


def firsts(meta):
    """The first delivery of each archive's bytes (the re-delivery is replayed as the first)."""
    seen, out = set(), []
    for m in meta:
        if m["sha"] not in seen:
            seen.add(m["sha"])
            out.append(m)
    return out


def says_kept(out, typ):
    line = [x for x in out.splitlines() if "identical" in x]
    return bool(line) and "kept schema" in line[0] and f"{typ}.json" in line[0]


def audit_clean(d, label, rebuild=True):
    diffs = []
    for a in (["audit", "verify"], ["audit", "verify", "--rebuild"]) if rebuild else (["audit", "verify"],):
        rc, out, err = cmd(d, *a)
        if rc != 0 or (len(a) == 3 and "every payment and response agrees" not in out) or "PROBLEM" in out:
            diffs.append(f"{label}: {' '.join(a)} exit {rc}: {(out + err).strip()[-300:]!r}")
        rc, out, err = cmd(d, *a, "--json")
        try:
            j = json.loads(out)
        except Exception:
            j = None
        if rc != 0 or not isinstance(j, dict) or j.get("problems"):
            diffs.append(f"{label}: {' '.join(a)} --json exit {rc}: {out.strip()[-300:]!r}")
    return diffs


@case("README 'Every batch and export journals the fingerprint of the schema it was judged under': a history over eras A (built-in), B (PAY purpose <= 3, REV reason <= 5) and C (a PAY field added) is answered under the schema of each era: 202 purpose/reason/note where the era says, B07 for another era's header, the re-delivery in C of A's batch gets A's ACK byte for byte")
def kept_eras_answers(rx):
    d, meta = hist("eras", era_hist)
    diffs = []
    for m, (typ, want) in zip(meta, ERA_WANT):
        if want == "resend":
            if m["raw"] != meta[0]["raw"]:
                diffs.append(f"[{m['bid']} in era C] the re-delivery's response is not the stored ACK byte for byte")
        elif isinstance(want, str):
            if (m["res"], m["code"]) != ("NAK", want):
                diffs.append(f"[{m['bid']} era {m['era']}] expected NAK {want}, got {m['res']} {m['code']}")
        elif m["res"] != "ACK" or m["rows"] != want:
            diffs.append(f"[{m['bid']} era {m['era']}] expected {want}, got {m['res']} {m['rows']}")
    return diffs


@case("README 'When the schema in force is another one, replay judges the batch again under the kept schema of its time ... and says so beside identical': with era C in force, replay of every kept archive of eras A, B and C (ACKs, NAKs, PAY, REV, REC) exits 0 identical; those whose type's schema changed since name it (TYPE.json) and the kept schema, in text and --json (`schema_changed`); C's own say no change")
def kept_eras_replay(rx):
    d, meta = copy_hist("eras", era_hist, "kept_replay")
    diffs = []
    now = era_schemas("C")
    for i, m in enumerate(firsts(meta)):
        rc, out, err = replay(d, m["sha"], f"r{i}")
        tag = f"[{m['bid']} era {m['era']} {m['res']}]"
        if rc != 0 or "identical" not in out or "DIFFERS" in out:
            diffs.append(f"{tag} replay exit {rc}: {out.strip()[-250:]!r} {err.strip()[-200:]!r}")
            continue
        changed = era_schemas(m["era"])[m["typ"]] != now[m["typ"]]
        if changed and not says_kept(out, m["typ"]):
            diffs.append(f"{tag} identical, but not said to be judged under the kept {m['typ']}.json of its time: {out.strip()[-250:]!r}")
        if not changed and "not the one in force" in out:
            diffs.append(f"{tag} judged under the schema in force, yet said to be judged under another: {out.strip()[-250:]!r}")
        rc, out, err = replay(d, m["sha"], f"j{i}", "--json")
        try:
            j = json.loads(out)
        except Exception:
            j = {}
        sc = j.get("schema_changed")
        if rc != 0 or j.get("identical") is not True or (changed and f"{m['typ']}.json" not in str(sc)) or (not changed and sc):
            diffs.append(f"{tag} replay --json exit {rc}: identical {j.get('identical')!r}, schema_changed {sc!r}")
    return diffs


@case("README '`audit verify --rebuild` does the same': with era C in force, audit verify and audit verify --rebuild (text and --json) find nothing over the whole history of eras A, B and C: every payment and response agrees")
def kept_eras_audit(rx):
    d, meta = copy_hist("eras", era_hist, "kept_audit")
    return audit_clean(d, "eras A-C, C in force")


@case("README 'What it keeps': var/schemas/<fingerprint>.json for every schema in force in every era (PAY and REV of A, B, C, REC, invoices), each named by the SHA-256 of its bytes, its JSON the schema as configured, mode 0600 in a 0700 folder; every journal entry's `schema` is among its `kept` files as schemas/<fingerprint>.json with that SHA-256")
def kept_eras_files(rx):
    import sqlite3
    d, meta = copy_hist("eras", era_hist, "kept_files")
    diffs = []
    files = kept_files(d)
    if not files:
        return ["var/schemas holds no kept schema"]
    for f in files:
        p = os.path.join(kept_dir(d), f)
        h = lib.sha(open(p, "rb").read())
        if f != h + ".json":
            diffs.append(f"var/schemas/{f}: its bytes hash to {h}")
        if os.stat(p).st_mode & 0o777 != 0o600:
            diffs.append(f"var/schemas/{f}: mode {oct(os.stat(p).st_mode & 0o777)}, not 0600")
    if os.stat(kept_dir(d)).st_mode & 0o777 != 0o700:
        diffs.append(f"var/schemas: mode {oct(os.stat(kept_dir(d)).st_mode & 0o777)}, not 0700")
    distinct = []
    for era in "ABC":
        for t in ERA_TYPES:
            if era_schemas(era)[t] not in distinct:
                distinct.append(era_schemas(era)[t])
            if kept_name_of(d, era_schemas(era)[t]) is None:
                diffs.append(f"no kept file holds the {t} schema of era {era}")
    if len(files) != len(distinct):
        diffs.append(f"{len(files)} kept files for {len(distinct)} distinct schemas in force (a built-in schema and its copy in a folder are one)")
    with sqlite3.connect(f"file:{d}/var/reestr.db?mode=ro", uri=True) as c:
        rows = list(c.execute("SELECT seq, kind, body FROM journal WHERE kind IN ('delivery', 'import') ORDER BY seq"))
    for seq, kind, body in rows:
        b = json.loads(body)
        fp = b.get("schema")
        kp = {k.get("path"): k.get("sha256") for k in b.get("kept", [])}
        if not fp or kp.get(f"schemas/{fp}.json") != fp or f"{fp}.json" not in files:
            diffs.append(f"journal entry {seq} ({kind}): schema {fp!r} not kept as schemas/<fingerprint>.json: kept {sorted(kp)}")
    return diffs


@case("README 'the SHA-256 of its JSON in one canonical form: layout does not count': the schemas of era C written again with another layout (indent 8, ASCII escapes) keep the fingerprint: `run` keeps no new file and replay of a C batch says no change; with every object's keys in reverse order: the same fingerprint, or a new one (noted)")
def kept_layout(rx):
    d, meta = copy_hist("eras", era_hist, "kept_layout")
    s = era_schemas("C")
    before = set(kept_files(d))
    for n in ERA_TYPES:
        open(f"{d}/schemas/{n}.json", "w").write(json.dumps(s[n], indent=8, ensure_ascii=True))
    diffs = []
    rc, out, err = cmd(d, "run")
    if rc != 0 or set(kept_files(d)) != before:
        diffs.append(f"another layout: run exit {rc}, new kept files {sorted(set(kept_files(d)) - before)}")
    m = [x for x in meta if x["era"] == "C" and x["res"] == "ACK" and x["typ"] == "PAY"][0]
    rc, out, err = replay(d, m["sha"], "r")
    if rc != 0 or "identical" not in out or "not the one in force" in out:
        diffs.append(f"another layout: replay of {m['bid']} exit {rc}: {out.strip()[-200:]!r}")

    def rev(o):
        return {k: rev(o[k]) for k in reversed(list(o))} if isinstance(o, dict) else [rev(x) for x in o] if isinstance(o, list) else o
    open(f"{d}/schemas/PAY.json", "w").write(json.dumps(rev(s["PAY"])))
    rc, out, err = cmd(d, "run")
    new = set(kept_files(d)) - before
    NOTES.append(f"keys reordered: {'a new fingerprint' if new else 'the same fingerprint'}")
    if rc != 0:
        diffs.append(f"keys reordered: run exit {rc} {err.strip()[-200:]!r}")
    return diffs + audit_clean(d, "after layout changes")


def era_of(meta, era, typ="PAY", res="ACK"):
    return [m for m in meta if m["era"] == era and m["typ"] == typ and m["res"] == res][0]


def problems(text):
    return [x for x in text.splitlines() if x.startswith("PROBLEM")]


def rebuild_stops(d, label, fname, at_bid=None):
    """--rebuild exits 1, stops at an entry naming fname (PAY.json...), reports no payment
    'applied by no kept archive'."""
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    text = out + err
    ok = (rc == 1 and "not rebuilt past" in text and fname in text and "applied by no kept archive" not in text
          and (at_bid is None or at_bid in text))
    return [] if ok else [f"{label}: --rebuild exit {rc}, not stopping at {at_bid or 'the entry'} naming {fname} (or reporting payments no evidence explains): {text.strip()[-400:]!r}"]


def names_kept(d, label, f, words=()):
    rc, out, err = cmd(d, "audit", "verify")
    text = out + err
    line = [x for x in problems(text) if f"schemas/{f}" in x]
    if rc != 1 or not line or not all(w in line[0] for w in words):
        return [f"{label}: audit verify exit {rc}, no problem naming schemas/{f} {' '.join(words)}: {text.strip()[-300:]!r}"]
    return []


@case("README 'Without that kept copy (... or a copy removed, which `audit verify` reports), `replay` judges under the schema in force and says so beside DIFFERS ... and `audit verify` stops rebuilding the books at that entry, saying why ... configure the schema of then to audit past it, and it is kept from then on': era B's kept PAY schema removed: audit names the file; replay of B's ACK and NAK exits 1 DIFFERS naming PAY.json (not the kept schema), A's stays identical; --rebuild stops at B's batch; with B configured --rebuild gets past it; once an engine opens the folder under B the copy is back (the same name and bytes) and, C again in force, everything is clean and identical")
def kept_removed(rx):
    d, meta = copy_hist("eras", era_hist, "kept_rm")
    fB = kept_name_of(d, era_schemas("B")["PAY"])
    if not fB:
        return ["no kept copy of era B's PAY schema"]
    kept_bytes = open(f"{kept_dir(d)}/{fB}", "rb").read()
    os.remove(f"{kept_dir(d)}/{fB}")
    diffs = names_kept(d, "B's PAY copy removed", fB)
    for m in [era_of(meta, "B"), era_of(meta, "B", res="NAK")]:
        rc, out, err = replay(d, m["sha"], "r" + m["bid"][-3:])
        if not (rc == 1 and "DIFFERS" in out and "PAY.json" in out and "kept schema" not in out):
            diffs.append(f"[{m['bid']}] replay without its kept schema: exit {rc}, not DIFFERS naming PAY.json: {out.strip()[-250:]!r} {err.strip()[-200:]!r}")
    rc, out, err = replay(d, era_of(meta, "A")["sha"], "rA")
    if rc != 0 or not says_kept(out, "PAY"):
        diffs.append(f"A's batch (its copy kept): replay exit {rc}: {out.strip()[-200:]!r}")
    m = era_of(meta, "C")
    rc, out, err = replay(d, m["sha"], "rC")
    NOTES.append(f"replay of C's batch (after B's, whose copy is gone): exit {rc} {(out + err).strip()[-110:]!r}")
    if rc not in (0, 1) or (rc == 1 and "PAY.json" not in out + err):
        diffs.append(f"replay of {m['bid']} after B's copy was removed: exit {rc} without naming PAY.json: {(out + err).strip()[-250:]!r}")
    diffs += rebuild_stops(d, "B's copy removed", "PAY.json", era_of(meta, "B")["bid"])
    set_era(d, "B")
    rc, out, err = cmd(d, "audit", "verify", "--rebuild")
    other = [x for x in problems(out + err) if f"schemas/{fB}" not in x]
    if rc != 1 or other or "applied by no kept archive" in out:
        diffs.append(f"B configured again, before any engine wrote it: --rebuild exit {rc}, problems other than the missing copy: {other}")
    rc, out, err = cmd(d, "run")
    if not os.path.exists(f"{kept_dir(d)}/{fB}") or open(f"{kept_dir(d)}/{fB}", "rb").read() != kept_bytes:
        diffs.append(f"B configured again and `run` (exit {rc}): schemas/{fB} not kept again with its bytes of then")
        return diffs
    diffs += audit_clean(d, "B configured again")
    set_era(d, "C")
    diffs += audit_clean(d, "C again")
    for m in firsts(meta):
        rc, out, err = replay(d, m["sha"], "z" + m["bid"][-7:])
        if rc != 0 or "identical" not in out:
            diffs.append(f"C again: replay of {m['bid']} exit {rc}: {out.strip()[-200:]!r}")
    return diffs


@case("README (kept files 'named in the journal entry's kept files, so audit verify checks it'): a kept schema edited is named by audit verify (bytes changed) and not judged under: era C's PAY schema copied over era B's (a valid schema under B's name): replay of B's batch exits 1 DIFFERS naming PAY.json, not 'judged under the kept schema'; --rebuild stops at B's batch; A's copy with its title changed: replay of A's batch not said to be judged under the kept schema either; a layout-only edit of a copy is named (its replay noted)")
def kept_edited(rx):
    d, meta = copy_hist("eras", era_hist, "kept_edit")
    fA, fB, fC = (kept_name_of(d, era_schemas(e)["PAY"]) for e in "ABC")
    if not (fA and fB and fC):
        return [f"kept copies of PAY of A, B, C: {fA}, {fB}, {fC}"]
    shutil.copyfile(f"{kept_dir(d)}/{fC}", f"{kept_dir(d)}/{fB}")
    diffs = names_kept(d, "C's schema over B's name", fB, ("bytes",))
    m = era_of(meta, "B")
    rc, out, err = replay(d, m["sha"], "rB")
    if not (rc == 1 and "DIFFERS" in out and "PAY.json" in out and "kept schema" not in out):
        diffs.append(f"[{m['bid']}] replay with C's schema under B's name: exit {rc}: {out.strip()[-250:]!r} {err.strip()[-150:]!r}")
    diffs += rebuild_stops(d, "C's schema under B's name", "PAY.json", m["bid"])
    s = era_schemas("A")["PAY"]
    s["title"] = "edited"
    open(f"{kept_dir(d)}/{fA}", "w").write(json.dumps(s))
    diffs += names_kept(d, "A's copy retitled", fA, ("bytes",))
    m = era_of(meta, "A")
    rc, out, err = replay(d, m["sha"], "rA")
    if rc == 0 or "kept schema" in out:
        diffs.append(f"[{m['bid']}] replay with A's copy retitled: exit {rc}: {out.strip()[-250:]!r}")
    d2, meta = copy_hist("eras", era_hist, "kept_edit_ws")
    with open(f"{kept_dir(d2)}/{fA}", "ab") as f:
        f.write(b"\n")
    diffs += names_kept(d2, "A's copy with a line end appended", fA, ("bytes",))
    rc, out, err = replay(d2, era_of(meta, "A")["sha"], "rA")
    NOTES.append(f"replay of A's batch, its copy with a line end appended: exit {rc} {out.strip()[-90:]!r}")
    return diffs


@case("README audit verify 'no file in a kept folder it does not name' (schemas/ is one: 'What it keeps'): notes.txt and a <64 hex>.json whose bytes do not hash to its name, put into var/schemas, are each reported; a well-formed schema file no entry names is reported or not (noted)")
def kept_unnamed_file(rx):
    d, meta = copy_hist("eras", era_hist, "kept_unnamed")
    diffs = []
    os.makedirs(kept_dir(d), exist_ok=True)
    for name, data in (("notes.txt", b"x"), ("0" * 64 + ".json", json.dumps(era_schemas("A")["PAY"]).encode())):
        p = f"{kept_dir(d)}/{name}"
        open(p, "wb").write(data)
        os.chmod(p, 0o600)
        rc, out, err = cmd(d, "audit", "verify")
        if rc != 1 or not any(name in x for x in problems(out + err)):
            diffs.append(f"var/schemas/{name} ({'not JSON' if name.endswith('txt') else 'its name not its SHA-256'}) named by no entry: audit verify exit {rc}: {(out + err).strip()[-200:]!r}")
        os.remove(p)
    s = era_schemas("A")["PAY"]
    s["title"] = "never in force"
    b = json.dumps(s).encode()
    p = f"{kept_dir(d)}/{lib.sha(b)}.json"
    open(p, "wb").write(b)
    os.chmod(p, 0o600)
    rc, out, err = cmd(d, "audit", "verify")
    NOTES.append(f"a well-formed schema file no entry names: audit exit {rc}")
    return diffs


def era_d():
    """Era D: C with PAY payer_name at most 10 characters (never in force in the history)."""
    s = era_schemas("C")
    fld(s["PAY"], "payer_name")["constraints"]["maxLength"] = 10
    return s


@case("README 'Nothing is ever deleted or overwritten there' / audit 'every kept file against it': a file planted under the name the next schema (D) will be kept as, holding C's schema: D then comes into force: the engine refuses at start naming it, or answers under D (a payer_name of 20 characters 202) and audit verify names the planted file (never clean); replay of that batch is not said to be judged under the kept schema")
def kept_planted(rx):
    probe, meta = copy_hist("eras", era_hist, "kept_probe")
    write_schema(probe, "PAY", era_d()["PAY"])
    before = set(kept_files(probe))
    cmd(probe, "run")
    new = sorted(set(kept_files(probe)) - before)
    if len(new) != 1:
        return [f"D in force and `run`: kept files added {new}, expected D's PAY schema"]
    fD = new[0]
    d, meta = copy_hist("eras", era_hist, "kept_planted")
    fC = kept_name_of(d, era_schemas("C")["PAY"])
    shutil.copyfile(f"{kept_dir(d)}/{fC}", f"{kept_dir(d)}/{fD}")
    os.chmod(f"{kept_dir(d)}/{fD}", 0o600)
    write_schema(d, "PAY", era_d()["PAY"])
    r = gox(d, "PAY", [pd("300000000009", payer_name="Aliyev Anvar Valiyev", purpose="ab")], seq=6)
    if r["rc"] == 3 and fD in r["stderr"]:
        NOTES.append("refused at start naming the planted file")
        return []
    diffs = []
    if st(r) != [("300000000009", "202", "payer_name")]:
        diffs.append(f"the batch under D: {desc(r)} (under the planted C: 1)")
    NOTES.append(f"answered under D ({desc(r)[:50]})")
    diffs += names_kept(d, "the planted file", fD, ("bytes",))
    write_schema(d, "PAY", era_schemas("C")["PAY"])
    rc, out, err = replay(d, lib.sha(r["archive"]), "rD")
    if rc != 1 or "DIFFERS" not in out or "kept schema" in out:
        diffs.append(f"replay of the batch of D (its copy planted as C's) under C: exit {rc}: {out.strip()[-250:]!r}")
    return diffs


def tree_of(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            if not p.endswith("reestr.lock"):
                out[os.path.relpath(p, d)] = lib.sha(open(p, "rb").read())
        for x in dirs:
            out[os.path.relpath(os.path.join(root, x), d) + "/"] = ""
    return out


@case("README '`status` and `audit verify` open the store read-only and create nothing, so they work on a read-only copy of the data folder or under an account that may only read' with kept schemas: a read-only copy of eras A-C (as uid nobody when root, files 0400, folders 0500): status, audit verify, audit verify --rebuild exit 0 and clean, with C in force and with a schema D in force that was never kept; nothing is created; check ('needs write access to the store') noted")
def kept_readonly(rx):
    d, meta = copy_hist("eras", era_hist, "kept_ro")
    archive = f"{d}/MUNIS_SUDBILLING_PAY_20261121_006.zip"
    open(archive, "wb").write(build_archive(bidn(6), reg_from(d, "PAY", [pd("300000000009", purpose="ab")])))
    root = os.geteuid() == 0
    os.chmod(lib.SCRATCH, 0o711)

    def lock():
        for r, dirs, files in os.walk(d, topdown=False):
            for f in files:
                if root:
                    os.chown(os.path.join(r, f), 65534, 65534)
                os.chmod(os.path.join(r, f), 0o400)
            if root:
                os.chown(r, 65534, 65534)
            os.chmod(r, 0o500)

    def unlock():
        for r, dirs, files in os.walk(d):
            os.chmod(r, 0o700)

    def ro(*a):
        pre = (lambda: (os.setgid(65534), os.setuid(65534))) if root else None
        p = subprocess.run([BIN, "--config", d + "/reestr.toml", *a], capture_output=True, preexec_fn=pre)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    diffs, notes = [], []
    try:
        for label, era in (("C in force", None), ("D in force, never kept", era_d())):
            if era:
                unlock()
                write_schema(d, "PAY", era["PAY"])
            lock()
            before = tree_of(d)
            for a in (["status"], ["audit", "verify"], ["audit", "verify", "--rebuild"]):
                rc, out, err = ro(*a)
                if rc != 0 or "PROBLEM" in out or (a[-1] == "--rebuild" and "every payment and response agrees" not in out):
                    diffs.append(f"{label}: {' '.join(a)} on a read-only copy: exit {rc}: {(out + err).strip()[-250:]!r}")
            rc, out, err = ro("check", archive)
            notes.append(f"{label}: check exit {rc} {(out + err).strip()[-90:]!r}")
            if tree_of(d) != before:
                diffs.append(f"{label}: a command changed the read-only copy")
    finally:
        unlock()
        os.chmod(lib.SCRATCH, 0o700)
    NOTES.extend(notes)
    return diffs


@case("README 'status and audit verify ... create nothing' and 'written when an engine opens the data folder with that schema in force, before any answer under it': with a schema D in force, status and audit verify [--rebuild] keep nothing; `check` (noted); `run` with nothing to do keeps D (a new file, its name its SHA-256), after which audit verify and --rebuild are still clean; a batch under D then names it in its journal entry and replays identical")
def kept_written_on_open(rx):
    import sqlite3
    d, meta = copy_hist("eras", era_hist, "kept_open")
    write_schema(d, "PAY", era_d()["PAY"])
    before = set(kept_files(d))
    diffs = []
    for a in (["status"], ["audit", "verify"], ["audit", "verify", "--rebuild"]):
        rc, out, err = cmd(d, *a)
        if rc != 0 or set(kept_files(d)) != before:
            diffs.append(f"{' '.join(a)} with D in force: exit {rc}, kept files added {sorted(set(kept_files(d)) - before)}")
    archive = f"{d}/MUNIS_SUDBILLING_PAY_20261121_006.zip"
    open(archive, "wb").write(build_archive(bidn(6), reg_from(d, "PAY", [pd("300000000009", purpose="ab")])))
    rc, out, err = cmd(d, "check", archive)
    NOTES.append(f"check: exit {rc}, {'kept D' if set(kept_files(d)) != before else 'kept nothing'}")
    rc, out, err = cmd(d, "run")
    new = sorted(set(kept_files(d)) - before)
    fD = kept_name_of(d, era_d()["PAY"])
    if rc != 0 or not fD or fD != lib.sha(open(f"{kept_dir(d)}/{fD}", "rb").read()) + ".json":
        diffs.append(f"`run` with D in force: exit {rc}, kept files added {new}, none D's PAY schema under its SHA-256")
    diffs += audit_clean(d, "D kept, no batch yet")
    r = gox(d, "PAY", [pd("300000000009", payer_name="Aliyev Anvar Valiyev", purpose="ab")], seq=6)
    if st(r) != [("300000000009", "202", "payer_name")]:
        diffs.append(f"a batch under D: {desc(r)}")
    with sqlite3.connect(f"file:{d}/var/reestr.db?mode=ro", uri=True) as c:
        body = json.loads(list(c.execute("SELECT body FROM journal ORDER BY seq DESC LIMIT 1"))[0][0])
    if fD and f"schemas/{fD}" not in [k.get("path") for k in body.get("kept", [])]:
        diffs.append(f"the batch under D's journal entry does not name schemas/{fD}: {json.dumps(body)[:200]}")
    write_schema(d, "PAY", era_schemas("C")["PAY"])
    rc, out, err = replay(d, lib.sha(r["archive"]), "rD")
    if rc != 0 or not says_kept(out, "PAY"):
        diffs.append(f"C again: replay of the batch of D exit {rc}: {out.strip()[-200:]!r}")
    return diffs + audit_clean(d, "C again after D")


@case("README: eras A (built-in), B (folder) and A again (the `schemas` key removed): A's fingerprint is kept once (no new PAY copy when A returns), a batch in each era; in A again replay of B's batch is identical under its kept schema, of A's first batch identical with no change said; audit verify and --rebuild clean")
def kept_revert(rx):
    d, bad = receiver("kept_revert", schemas=False)
    if bad:
        return [f"receiver: {bad}"]
    r1 = gox(d, "PAY", [pd("310000000001", purpose="long purpose")], seq=1)
    set_era(d, "B")
    r2 = gox(d, "PAY", [pd("310000000002", purpose="long purpose")], seq=2)
    n = len([s for s in kept_files(d).values() if s and s.get("name") == "PAY"])
    set_era(d, "A")
    r3 = gox(d, "PAY", [pd("310000000003", purpose="long purpose")], seq=3)
    diffs = []
    got = [st(r) for r in (r1, r2, r3)]
    want = [[("310000000001", "1", "")], [("310000000002", "202", "purpose")], [("310000000003", "1", "")]]
    if got != want:
        diffs.append(f"answers {got} != {want}")
    m = len([s for s in kept_files(d).values() if s and s.get("name") == "PAY"])
    if (n, m) != (2, 2):
        diffs.append(f"kept PAY schemas: {n} after B, {m} after A again (expected 2 and 2)")
    rc, out, err = replay(d, lib.sha(r2["archive"]), "r2")
    if rc != 0 or not says_kept(out, "PAY"):
        diffs.append(f"replay of B's batch in A again: exit {rc}: {out.strip()[-200:]!r}")
    rc, out, err = replay(d, lib.sha(r1["archive"]), "r1")
    if rc != 0 or "identical" not in out or "not the one in force" in out:
        diffs.append(f"replay of A's batch in A again: exit {rc}: {out.strip()[-200:]!r}")
    return diffs + audit_clean(d, "A again")


@case("README 'Without that kept copy ... `audit verify` reports': the whole var/schemas folder removed: audit verify names every missing copy (A's and B's PAY, A's REV among them); replay of A's batch exits 1 DIFFERS naming PAY.json; --rebuild stops at A's batch; `run` makes the folder again (0700) keeping the schemas in force only; with A's and B's configured in turn and an engine run under each, everything is clean again")
def kept_folder_removed(rx):
    d, meta = copy_hist("eras", era_hist, "kept_rmdir")
    names = {e: {t: kept_name_of(d, era_schemas(e)[t]) for t in ERA_TYPES} for e in "ABC"}
    shutil.rmtree(kept_dir(d), ignore_errors=True)
    rc, out, err = cmd(d, "audit", "verify")
    missing = [f for e in "AB" for f in (names[e]["PAY"], names[e]["REV"]) if not any(f"schemas/{f}" in x for x in problems(out + err))]
    diffs = [f"audit verify without var/schemas: exit {rc}, missing copies not named: {missing}"] if rc != 1 or missing else []
    m = era_of(meta, "A")
    rc, out, err = replay(d, m["sha"], "rA")
    if not (rc == 1 and "DIFFERS" in out and "PAY.json" in out and "kept schema" not in out):
        diffs.append(f"[{m['bid']}] replay without var/schemas: exit {rc}: {(out + err).strip()[-250:]!r}")
    diffs += rebuild_stops(d, "var/schemas removed", "PAY.json", m["bid"])
    rc, out, err = cmd(d, "run")
    now = set(kept_files(d))
    want = {names["C"][t] for t in ERA_TYPES}
    if rc != 0 or now != want or os.stat(kept_dir(d)).st_mode & 0o777 != 0o700:
        diffs.append(f"`run` after var/schemas was removed: exit {rc}, kept {sorted(now)} (expected C's {sorted(want)}), "
                     f"mode {oct(os.stat(kept_dir(d)).st_mode & 0o777) if os.path.isdir(kept_dir(d)) else 'absent'}")
    for e in "AB":
        set_era(d, e)
        cmd(d, "run")
    set_era(d, "C")
    return diffs + audit_clean(d, "every era configured again")


@case("README 'Bytes answered NAK and later ACKed (judged afresh, §7.1) are replayed as the delivery that processed them, the ACK' across eras: bytes with C's header NAKed B07 in era B, sent again in C: ACK; with D, then B, in force, replay of those bytes is identical to the ACK, judged under the kept schema of C; audit verify --rebuild clean")
def kept_nak_then_ack(rx):
    d, meta = copy_hist("eras", era_hist, "kept_nak_ack")
    m = era_of(meta, "B", res="NAK")
    r = gox(d, "PAY", seq=3, data=m["archive"])
    diffs = expect_rows(r, [("300000000007", 1, "")])
    for label, era in (("D", era_d()), ("B", era_schemas("B"))):
        write_schema(d, "PAY", era["PAY"])
        rc, out, err = replay(d, m["sha"], "r" + label)
        if rc != 0 or "(ACK)" not in out or not says_kept(out, "PAY"):
            diffs.append(f"{label} in force: replay of the bytes NAKed under B and ACKed under C: exit {rc}: {(out + err).strip()[-250:]!r}")
        diffs += audit_clean(d, f"{label} in force")
    return diffs


# --- the export schema (invoices.json) across eras ---
def export_eras():
    """invoices.json: A built-in; B status moved first and a required `region` (TAS, SAM) added;
    C a court_code of at most 7. An export imported in each era, a PAY batch after each whose
    answers depend on it."""
    s = {"A": copy.deepcopy(BUILTIN["invoices"])}
    b = copy.deepcopy(BUILTIN["invoices"])
    stt = fld(b, "status")
    b["fields"].remove(stt)
    b["fields"].insert(0, stt)
    b["fields"].append({"name": "region", "type": "string", "constraints": {"required": True, "enum": ["TAS", "SAM"]}})
    s["B"] = b
    s["C"] = copy.deepcopy(BUILTIN["invoices"])
    fld(s["C"], "court_code")["constraints"]["maxLength"] = 7
    return s


def export_in(d, over=None, extra=None):
    names = [f["name"] for f in sch(d, "invoices")["fields"]]
    out = [hdr_of(names)]
    for k, (no, pt, pid, name, amt, stt) in INV.items():
        v = dict(invoice_no=no, court_code="1703002", case_no="2-1/2026", payer_type=pt, payer_id=pid,
                 payer_name=name, amount_due=amt, issued_at="2026-01-10 10:00:00", status=stt)
        v.update((over or {}).get(k, {}))
        v.update(extra or {})
        out.append(";".join(val(v.get(n, "")) for n in names))
    p = f"{d}/export{len(os.listdir(d))}.csv"
    open(p, "wb").write(("\r\n".join(out) + "\r\n").encode())
    return cmd(d, "invoices", "import", p)


def export_hist():
    d, bad = receiver("kept_exp_src", import_inv=False)
    if bad:
        raise AssertionError(f"receiver refused: {bad}")
    ex, meta = export_eras(), []

    def step(era, seq, rows, over=None, extra=None):
        write_schema(d, "invoices", ex[era])
        rc, out, err = export_in(d, over, extra)
        if rc:
            raise AssertionError(f"import in era {era}: exit {rc} {err.strip()[-200:]!r}")
        r = gox(d, "PAY", rows, seq=seq)
        meta.append(dict(era=era, bid=r["bid"], sha=lib.sha(r["archive"]), rows=st(r)))
    step("A", 1, [pd("320000000001"), pd("320000000002", **on("C"))])
    step("B", 2, [pd("320000000003"), pd("320000000004", **on("C"))],
         {"A": {"amount_due": "1500.00"}, "C": {"status": "CANCELLED"}}, {"region": "TAS"})
    step("C", 3, [pd("320000000005"), pd("320000000006", **on("C"))], {"A": {"amount_due": "5000.00"}})
    return d, meta


EXPORT_WANT = [[("320000000001", "1", ""), ("320000000002", "1", "")],
               [("320000000003", "303", ""), ("320000000004", "302", "")],
               [("320000000005", "1", ""), ("320000000006", "1", "")]]


@case("README 'as the books before it (exports included) are rebuilt under theirs': invoices.json changed between eras (B: status moved first, a required field added; C: court_code at most 7), an export imported in each, a PAY batch after each (303/302 from B's export): with C in force replay of each batch is identical; audit verify and --rebuild clean; each era's export schema kept")
def kept_export_eras(rx):
    d, meta = copy_hist("exports", export_hist, "kept_exp")
    diffs = [f"[{m['bid']}] answered {m['rows']}, expected {w}" for m, w in zip(meta, EXPORT_WANT) if m["rows"] != w]
    for era, s in export_eras().items():
        if kept_name_of(d, s) is None:
            diffs.append(f"no kept copy of era {era}'s invoices.json")
    for m in meta:
        rc, out, err = replay(d, m["sha"], "r" + m["era"])
        if rc != 0 or "identical" not in out:
            diffs.append(f"[{m['bid']} era {m['era']}] replay exit {rc}: {out.strip()[-200:]!r} {err.strip()[-200:]!r}")
        elif m["era"] == "B":
            NOTES.append(f"replay after B's export: {'names' if 'invoices.json' in out else 'does not name'} the export schema")
    return diffs + audit_clean(d, "exports A-C")


@case("README 'and refuses, saying why, when an export loaded before the batch was loaded under another export schema': era B's kept invoices.json removed: replay of the batches after B's import exits 1 naming invoices.json and that export, A's batch stays identical; audit verify names the missing copy; --rebuild stops at the import naming invoices.json; B's export schema configured again and an engine run: kept again, then (C in force) everything clean")
def kept_export_removed(rx):
    d, meta = copy_hist("exports", export_hist, "kept_exp_rm")
    ex = export_eras()
    fB = kept_name_of(d, ex["B"])
    if not fB:
        return ["no kept copy of era B's invoices.json"]
    os.remove(f"{kept_dir(d)}/{fB}")
    diffs = names_kept(d, "B's export schema removed", fB)
    for m in meta:
        rc, out, err = replay(d, m["sha"], "r" + m["era"])
        text = out + err
        if m["era"] == "A":
            if rc != 0 or "identical" not in out:
                diffs.append(f"[{m['bid']}] before B's import: replay exit {rc}: {text.strip()[-200:]!r}")
        elif rc != 1 or "invoices.json" not in text or "identical" in out:
            diffs.append(f"[{m['bid']}] after B's import, its export schema gone: replay exit {rc}, not refusing naming invoices.json: {text.strip()[-250:]!r}")
    diffs += rebuild_stops(d, "B's export schema removed", "invoices.json")
    write_schema(d, "invoices", ex["B"])
    cmd(d, "run")
    if not os.path.exists(f"{kept_dir(d)}/{fB}"):
        return diffs + ["B's export schema configured again and `run`: not kept again"]
    write_schema(d, "invoices", ex["C"])
    diffs += audit_clean(d, "B's export schema kept again, C in force")
    for m in meta:
        rc, out, err = replay(d, m["sha"], "z" + m["era"])
        if rc != 0 or "identical" not in out:
            diffs.append(f"[{m['bid']}] replay once B's export schema is kept again: exit {rc}: {(out + err).strip()[-200:]!r}")
    return diffs


# --- an added type (FEE) across eras ---
def fee_era(era):
    """FEE.json: A fee_kind DUTY or FINE; B COST allowed too; C as B with an optional field `ref` added."""
    s = fee_schema()
    if era in "BC":
        fld(s, "fee_kind")["constraints"]["enum"] = ["DUTY", "FINE", "COST"]
    if era == "C":
        s["fields"].append({"name": "ref", "type": "string", "constraints": {"required": False, "maxLength": 4}})
    return s


def fee_hist():
    d = trx("kept_fee_src")
    meta = []

    def send(era, typ, seq, rows):
        r = gox(d, typ, rows, seq=seq)
        meta.append(dict(era=era, typ=typ, bid=r["bid"], sha=lib.sha(r["archive"]), rows=st(r), res=r.get("res")))
    send("A", "FEE", 1, [fd("330000000001"), fd("330000000002", "COST")])
    write_schema(d, "FEE", fee_era("B"))
    send("B", "FEE", 2, [fd("330000000003", "COST"), fd("330000000002", "COST")])
    write_schema(d, "FEE", fee_era("C"))
    send("C", "FEE", 3, [fd("330000000004", "FINE", ref="toolong"), fd("330000000005", "FINE", ref="r1")])
    send("C", "REV", 1, [rvd("330000000001", "1000.00"), rvd("330000000003", "1000.00")])
    send("C", "REC", 1, [rcd(p, "1000.00", state="REVERSED" if p in ("330000000001", "330000000003") else "PAID")
                         for p in ("330000000001", "330000000003", "330000000002", "330000000005")])
    return d, meta


FEE_WANT = [[("330000000001", "1", ""), ("330000000002", "202", "fee_kind")],
            [("330000000003", "1", ""), ("330000000002", "1", "")],
            [("330000000004", "202", "ref"), ("330000000005", "1", "")],
            [("330000000001", "1", ""), ("330000000003", "1", "")],
            [("330000000001", "1", ""), ("330000000003", "1", ""), ("330000000002", "1", ""), ("330000000005", "1", "")]]


@case("README 'A schemas folder may also add a registry type' with kept schemas: FEE.json changed between eras (A: fee_kind DUTY/FINE, B: COST too, C: a field added), FEE batches in each, REV and REC of them in C: with C in force replay of A's and B's FEE batches is identical under the kept FEE.json of their time, the others identical; audit verify and --rebuild clean; each era's FEE.json kept")
def kept_fee_eras(rx):
    d, meta = copy_hist("fee", fee_hist, "kept_fee")
    diffs = [f"[{m['bid']} era {m['era']}] answered {m['res']} {m['rows']}, expected {w}" for m, w in zip(meta, FEE_WANT) if m["rows"] != w]
    for era in "ABC":
        if kept_name_of(d, fee_era(era)) is None:
            diffs.append(f"no kept copy of era {era}'s FEE.json")
    for m in meta:
        rc, out, err = replay(d, m["sha"], "r" + m["bid"][-16:])
        if rc != 0 or "identical" not in out:
            diffs.append(f"[{m['bid']} era {m['era']}] replay exit {rc}: {out.strip()[-200:]!r} {err.strip()[-200:]!r}")
        elif m["typ"] == "FEE" and m["era"] != "C" and not says_kept(out, "FEE"):
            diffs.append(f"[{m['bid']} era {m['era']}] identical, not said to be judged under the kept FEE.json of its time: {out.strip()[-200:]!r}")
    return diffs + audit_clean(d, "FEE eras A-C")


@case("README: era B's kept FEE.json removed: audit verify names it; replay of B's FEE batch exits 1 DIFFERS naming FEE.json; --rebuild stops at it; FEE.json of B configured and an engine run: kept again, C again: clean, replay identical")
def kept_fee_removed(rx):
    d, meta = copy_hist("fee", fee_hist, "kept_fee_rm")
    fB = kept_name_of(d, fee_era("B"))
    if not fB:
        return ["no kept copy of era B's FEE.json"]
    os.remove(f"{kept_dir(d)}/{fB}")
    diffs = names_kept(d, "B's FEE.json removed", fB)
    m = meta[1]
    rc, out, err = replay(d, m["sha"], "rB")
    if not (rc == 1 and "DIFFERS" in out and "FEE.json" in out and "kept schema" not in out):
        diffs.append(f"[{m['bid']}] replay without its kept FEE.json: exit {rc}: {out.strip()[-250:]!r} {err.strip()[-150:]!r}")
    diffs += rebuild_stops(d, "B's FEE.json removed", "FEE.json", m["bid"])
    write_schema(d, "FEE", fee_era("B"))
    cmd(d, "run")
    write_schema(d, "FEE", fee_era("C"))
    diffs += audit_clean(d, "B's FEE.json kept again")
    rc, out, err = replay(d, m["sha"], "zB")
    if rc != 0 or not says_kept(out, "FEE"):
        diffs.append(f"[{m['bid']}] replay once kept again: exit {rc}: {out.strip()[-200:]!r}")
    return diffs


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
