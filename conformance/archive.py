"""Black-box conformance suite derived from the exchange agreement (munis-offline/1): the archive,
byte by byte (§2, §3, §6, §7.1, §8).

    REESTR_BIN=target/debug/reestr python3 conformance/archive.py [NAME-SUBSTRING ...]
    (VERBOSE=1 prints every answer; NOCHECK=1 skips the `check` comparison)

Archives are written byte by byte with zipraw.py (local headers, central directory, zip64
records, data descriptors, sizes and CRCs that lie, any name, mode, method or flag). Every
archive is first given to `reestr check --json`, whose control.txt must equal the one `run`
then writes; every response goes through lib.check_response (§8). Limits are set per receiver
in reestr.toml [limits]. Where the agreement leaves the answer open the case lists the
acceptable answers and prints the receiver's choice ("ambiguous").

Areas:
 1. entry rules (§3): names (B02 for paths, directories and unsafe names, B03 for names not
    allowed), duplicates and entries that are not regular files, encryption and methods, zip64
    and data descriptors, the local header against the central directory, the HMAC entry with
    and without a partner key (§6).
 2. limits (§3): 16 entries, the 200 ratio above 1 MiB, configured limits at their boundary,
    declared sizes that lie (judged on the real bytes), B01 for every kind of corruption.
 3. the order of batch codes (§7.1): B02 > B03 > B05 > B04 > B06 > B07 > B08, B10 first, B09
    before B01/B02/B03/B05, re-delivery of an ACKed archive after configuration changes, an
    archive answered only NAK judged afresh.
 4. manifest and HMAC formats (§6): the manifest's line form, the HMAC over the manifest's
    exact bytes, key file forms.
 5. names (§2, §8): names set aside with a reason and no response, names answered, temporary
    names left alone, the response's name.
"""
import sys, json, re, traceback, struct, zlib
from lib import *
import zipraw as Z

CA = "2026-11-22T01:05:00+05:00"
MIB = 1 << 20
CASES = []
NOTES = []
STATS = {"archives": 0, "bad": 0}
PID = [910000000000]


def case(area, desc, key=True, limits=None):
    def deco(f):
        CASES.append((f.__name__, area, desc, f, key, limits)); return f
    return deco


def newpid():
    PID[0] += 1
    return str(PID[0])



def std(bid, pid=None, key=KEY, reg=None, ctl=None, man=None, hm=None, enc="utf-8", created=CA, rows=None, total=None):
    """Valid files of a one-row PAY (or given registry) batch: [(name, bytes)], in the usual order."""
    typ = bid.split("_")[2]
    if reg is None:
        reg = registry(typ, [pay_row(pid, amount="1.00")])
    if ctl is None:
        r, t = count_amounts(reg, enc, typ)
        ctl = control_text(bid, typ, enc, r if rows is None else rows, t if total is None else total, created=created)
    files = [("control.txt", ctl), ("registry.csv", reg)]
    if man is None:
        man = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files).encode()
    files.append(("manifest.sha256", man))
    if key is not None or hm is not None:
        files.append(("manifest.sha256.hmac", hm if hm is not None else hmac.new(key, man, hashlib.sha256).hexdigest().encode()))
    return files


def E(files, **kw):
    return [dict(name=n, data=d, **kw) for n, d in files]


def mod(ents, which, **kw):
    for e in ents:
        if e["name"] == which:
            e.update(kw); return ents
    raise KeyError(which)


def outbox_state(rx):
    out = rx + "/outbox"
    return {f: (os.stat(os.path.join(out, f)).st_mtime_ns, hashlib.sha256(open(os.path.join(out, f), "rb").read()).hexdigest()) for f in os.listdir(out)}


def drop_run(rx, name, data, temp=None):
    before = outbox_state(rx)
    path = os.path.join(rx, "inbox", name)
    if temp is None:
        with open(path + ".part", "wb") as f:
            f.write(data)
        os.rename(path + ".part", path)
        os.utime(path, (time.time() - 10, time.time() - 10))
    p = sh([BIN, "--config", rx + "/reestr.toml", "run", "--json"], check=False)
    r = {"stdout": p.stdout.decode(errors="replace"), "stderr": p.stderr.decode(errors="replace"), "rc": p.returncode}
    try:
        js = json.loads(r["stdout"])
    except Exception:
        js = {}
    h = [x for x in js.get("handled", []) if x.get("file") == name]
    r["handled"] = h[0] if h else None
    r["json"] = js
    after = outbox_state(rx)
    r["changed"] = sorted(f for f in after if before.get(f) != after[f])
    resp = r["handled"]["response"] if r["handled"] else None
    if resp:
        with open(os.path.join(rx, "outbox", resp), "rb") as f:
            r.update(parse_response(resp, f.read()))
    r["in_inbox"] = os.path.exists(path)
    return r


def outcome(r):
    if r.get("handled") is None:
        return "IGNORED" if r["in_inbox"] else "NONE"
    res = r["handled"]["result"]
    if res == "SET_ASIDE":
        return "ASIDE"
    if r.get("ctl"):
        return r["ctl"]["result"] if r["ctl"]["result"] == "ACK" else r["ctl"].get("error")
    return res


def judge(rx, label, name, data, want, alts=(), msg_has=(), created=None, rows=None, signed=True, aa=None, pid=None):
    """want: 'ACK' | 'Bxx' | 'ASIDE' | 'IGNORED'. alts: other answers the agreement leaves open (noted, not a diff)."""
    chk = None
    if data is not None and not os.environ.get("NOCHECK"):
        os.makedirs(rx + "/chk", exist_ok=True)
        cp = rx + "/chk/" + name
        open(cp, "wb").write(data)
        pc = sh([BIN, "--config", rx + "/reestr.toml", "check", "--json", cp], check=False)
        try:
            chk = json.loads(pc.stdout)
        except Exception:
            chk = {"unparsed": pc.stdout.decode(errors="replace")[:200] + pc.stderr.decode(errors="replace")[-200:]}
        os.remove(cp)
    r = drop_run(rx, name, data)
    got = outcome(r)
    d = []
    STATS["archives"] += 1
    if chk is not None and r.get("control_raw") is not None and chk.get("control") != r["control_raw"].decode():
        d.append(f"[{label}] `check` predicted {chk.get('result')} {chk.get('code')} {chk.get('message')!r}, `run` answered {got}")
    msg = (r.get("ctl") or {}).get("message") or (r["handled"] or {}).get("message") or ""
    if os.environ.get("VERBOSE"):
        print(f"        . {label}: {got} {msg!r}", flush=True)
    if got != want:
        if got in alts:
            NOTES.append(f"(ambiguous [{label}]: agreement allows {[want] + list(alts)}; receiver answered {got} {msg!r})")
            want = got
        else:
            d.append(f"[{label}] expected {want}{' or ' + '/'.join(alts) if alts else ''}, got {got} {msg!r}"
                     + ("" if r.get("handled") else f" stderr={r['stderr'][-300:]!r}"))
            return d, r
    if want in ("ASIDE", "IGNORED"):
        if r.get("changed"):
            d.append(f"[{label}] a response was written: {r['changed']}")
        if want == "ASIDE":
            if r["in_inbox"]:
                d.append(f"[{label}] still in inbox after set aside")
            st = json.loads(sh([BIN, "--config", rx + "/reestr.toml", "status", "--json"]).stdout)
            if not any(x.get("original_name") == name and x.get("reason") for x in st.get("set_aside", [])):
                d.append(f"[{label}] status does not list it as set aside with a reason")
        elif not r["in_inbox"]:
            d.append(f"[{label}] temporary file was taken from the inbox")
        return d, r
    if want == "ACK":
        exp = {"result": "ACK", "rows": rows if rows is not None else [(1, pid, 1, "")], "signed": signed,
               "created_at": created or CA}
        if aa: exp["amount_accepted"] = aa
    else:
        exp = {"result": "NAK", "code": want, "signed": signed,
               "created_at": created or ("fallback" if want in ("B01", "B02") else CA)}
    d += [f"[{label}] {x}" for x in check_response(r, name, data, exp, key=signed)]
    STATS["checked_responses"] = STATS.get("checked_responses", 0) + 1
    if r.get("name") and r["name"] not in r["changed"]:
        d.append(f"[{label}] response {r['name']} not (re)written to the outbox")
    for s in msg_has:
        if s not in msg:
            d.append(f"[{label}] NAK message {msg!r} does not name {s!r}")
    return d, r


def J(rx, label, bid, data, want, **kw):
    return judge(rx, label, bid + ".zip", data, want, **kw)[0]


# =====================================================================================
# Area 1: §3 entry rules
# =====================================================================================
@case(1, "§3 baseline: byte-built archive (Unix 0644, deflate) -> ACK; stored entries; DOS made_by attr 0x20; "
         "Unix 0755; Unix mode 0 (no type bits); archive comment; UTF-8 flag on ASCII names")
def e_baseline(rx):
    d = []
    variants = [("unix0644", {}), ("stored", {"method": 0}), ("dos", {"made_by": 20, "ext_attr": 0x20}),
                ("unix0755", {"ext_attr": 0o100755 << 16}), ("utf8flag", {"utf8": True})]
    for i, (lab, kw) in enumerate(variants, 1):
        b, p = bidn(i), newpid()
        d += J(rx, lab, b, Z.build(E(std(b, p), **kw)), "ACK", pid=p)
    b, p = bidn(10), newpid()
    d += J(rx, "comment", b, Z.build(E(std(b, p)), comment=b"made by test"), "ACK", pid=p)
    b, p = bidn(11), newpid()
    d += J(rx, "unix mode 0", b, Z.build(E(std(b, p), ext_attr=0)), "ACK", alts=("B02",), pid=p)
    return d


@case(1, "§3 B02 entry names: directory entry, '/' in name, '\\' in name, absolute, '..', './control.txt', "
         "'sub/registry.csv' instead of registry.csv (B02 before B03); NUL / empty name (B02 or B03)")
def e_names_b02(rx):
    d = []
    seq = [0]
    def one(label, build, want, alts=(), msg=()):
        seq[0] += 1
        b, p = bidn(seq[0]), newpid()
        ents = E(std(b, p))
        build(ents)
        return J(rx, label, b, Z.build(ents), want, alts=alts, msg_has=msg)
    ex = lambda n, data=b"x", **kw: (lambda es: es.append(dict(name=n, data=data, **kw)))
    d += one("dir entry docs/", ex("docs/", b"", ext_attr=(0o40755 << 16) | 0x10, method=0), "B02", msg=("docs/",))
    d += one("dir entry control.txt/ (dup-looking)", ex("control.txt/", b"", ext_attr=(0o40755 << 16) | 0x10, method=0), "B02")
    d += one("slash a/b.txt", ex("a/b.txt"), "B02", msg=("a/b.txt",))
    d += one("backslash a\\b.txt (message must name the entry: a\\b.txt, or escaped once a\\\\b.txt)", ex("a\\b.txt"), "B02", msg=('"a\\\\b.txt"',))
    d += one("absolute /control.txt", lambda es: mod(es, "control.txt", name="/control.txt"), "B02")
    d += one("dotdot ../control.txt", lambda es: mod(es, "control.txt", name="../control.txt"), "B02", msg=("../control.txt",))
    d += one("dot ./control.txt", lambda es: mod(es, "control.txt", name="./control.txt"), "B02")
    d += one("sub/registry.csv instead of registry.csv", lambda es: mod(es, "registry.csv", name="sub/registry.csv"), "B02")
    d += one("bare '..' entry", ex(".."), "B02")
    d += one("windows drive C:control.txt", ex("C:control.txt"), "B03", alts=("B02",))
    d += one("NUL in name control.txt\\0.exe", ex(b"control.txt\x00.exe"), "B02", alts=("B03",))
    d += one("NUL-terminated registry.csv\\0 (extra)", ex(b"registry.csv\x00"), "B02", alts=("B03",))
    d += one("empty name", ex(b""), "B02", alts=("B03",))
    return d


@case(1, "§3 B03 names (case-sensitive, any other name): Control.txt beside control.txt; CONTROL.TXT instead; "
         "Cyrillic look-alike; trailing space; UTF-8 flagged Cyrillic name; CP437 high byte; 'manifest.sha256.HMAC'")
def e_names_b03(rx):
    d = []
    cases = [
        ("Control.txt extra", lambda es: es.append(dict(name="Control.txt", data=es[0]["data"])), "B03", ("Control.txt",)),
        ("CONTROL.TXT instead (no control.txt: fallback created_at)", lambda es: mod(es, "control.txt", name="CONTROL.TXT"), "B03", ("CONTROL.TXT",)),
        ("cyrillic es in control.txt (no control.txt: fallback created_at)", lambda es: mod(es, "control.txt", name="\u0441ontrol.txt", utf8=True), "B03", ()),
        ("trailing space 'registry.csv '", lambda es: mod(es, "registry.csv", name="registry.csv "), "B03", ()),
        ("utf8-flag extra 'отчёт.txt'", lambda es: es.append(dict(name="отчёт.txt", data=b"x", utf8=True)), "B03", ()),
        ("cp437 extra b'\\x80.txt'", lambda es: es.append(dict(name=b"\x80.txt", data=b"x")), "B03", ()),
        ("manifest.sha256.HMAC", lambda es: mod(es, "manifest.sha256.hmac", name="manifest.sha256.HMAC"), "B03", ()),
    ]
    for i, (lab, fn, want, msg) in enumerate(cases, 1):
        b, p = bidn(i), newpid()
        es = E(std(b, p)); fn(es)
        d += J(rx, lab, b, Z.build(es), want, msg_has=msg, created="fallback" if "fallback" in lab else None)
    b, p = bidn(20), newpid()
    es = E(std(b, p)); es.append(dict(name=b"\xff\xfe.txt", data=b"x", utf8=True))
    d += J(rx, "utf8 flag + invalid UTF-8 name", b, Z.build(es), "B03", alts=("B02", "B01"))
    return d


@case(1, "§3 duplicates and non-regular entries -> B02: duplicate registry.csv (same bytes), duplicate hmac; "
         "registry.csv as symlink / FIFO / char device / socket / Unix directory mode; DOS directory attribute on a file")
def e_nonregular(rx):
    d = []
    def dup(n):
        def f(es):
            src = [e for e in es if e["name"] == n][0]
            es.append(dict(src))
        return f
    cases = [
        ("duplicate registry.csv", dup("registry.csv"), "B02", ("registry.csv",)),
        ("duplicate manifest.sha256.hmac", dup("manifest.sha256.hmac"), "B02", ()),
        ("symlink registry.csv", lambda es: mod(es, "registry.csv", ext_attr=0o120777 << 16), "B02", ("registry.csv",)),
        ("fifo control.txt", lambda es: mod(es, "control.txt", ext_attr=0o010644 << 16), "B02", ()),
        ("chardev registry.csv", lambda es: mod(es, "registry.csv", ext_attr=0o020644 << 16), "B02", ()),
        ("socket registry.csv", lambda es: mod(es, "registry.csv", ext_attr=0o140644 << 16), "B02", ()),
        ("unix dir mode on registry.csv", lambda es: mod(es, "registry.csv", ext_attr=0o040755 << 16), "B02", ()),
        ("symlink extra entry link.txt", lambda es: es.append(dict(name="link.txt", data=b"/etc/passwd", ext_attr=0o120777 << 16)), "B02", ()),
    ]
    for i, (lab, fn, want, msg) in enumerate(cases, 1):
        b, p = bidn(i), newpid()
        es = E(std(b, p)); fn(es)
        d += J(rx, lab, b, Z.build(es), want, msg_has=msg)
    b, p = bidn(20), newpid()
    es = E(std(b, p)); mod(es, "registry.csv", made_by=20, ext_attr=0x10)
    d += J(rx, "DOS directory attribute 0x10 on registry.csv with data", b, Z.build(es), "B02", alts=("ACK",), pid=p)
    return d


@case(1, "§3 encryption and methods -> B02: flag bit 0 on registry.csv (plain deflate data), bit 0 with method 99 (AES); "
         "methods 1, 9, 12, 14, 93, 95, 98, 99 on registry.csv; method 12 on control.txt")
def e_methods(rx):
    d = []
    i = 0
    b, p = bidn(1), newpid()
    es = E(std(b, p)); mod(es, "registry.csv", flags=1)
    d += J(rx, "encrypted flag", b, Z.build(es), "B02", msg_has=("registry.csv",))
    b, p = bidn(2), newpid()
    es = E(std(b, p)); mod(es, "registry.csv", flags=1, method=99, comp=b"\x00" * 40,
                             cextra=struct.pack("<HHHHBH", 0x9901, 7, 2, 0x4541, 3, 8))
    d += J(rx, "AES method 99", b, Z.build(es), "B02")
    b, p = bidn(3), newpid()
    es = E(std(b, p)); mod(es, "manifest.sha256", flags=0x41)
    d += J(rx, "strong-encryption flags 0x41 on manifest", b, Z.build(es), "B02")
    for j, m in enumerate([1, 9, 12, 14, 93, 95, 98, 99], 10):
        b, p = bidn(j), newpid()
        es = E(std(b, p)); reg = [e for e in es if e["name"] == "registry.csv"][0]
        mod(es, "registry.csv", method=m, comp=reg["data"])
        d += J(rx, f"method {m}", b, Z.build(es), "B02", msg_has=("registry.csv",))
    b, p = bidn(30), newpid()
    es = E(std(b, p)); mod(es, "control.txt", method=12, comp=[e for e in es if e["name"] == "control.txt"][0]["data"])
    d += J(rx, "method 12 on control.txt", b, Z.build(es), "B02")
    return d


@case(1, "§3 'zip64 allowed' and data descriptors -> ACK: zip64 extra in local+central with 0xFFFFFFFF fields and zip64 "
         "end records; zip64 end records only; data descriptor with / without signature (deflate), with stored, zip64 descriptor")
def e_zip64_dd(rx):
    d = []
    variants = [
        ("zip64 entries + zip64 EOCD", dict(zip64=True), dict(zip64_eocd=True)),
        ("zip64 EOCD only", {}, dict(zip64_eocd=True)),
        ("zip64 entries, plain EOCD", dict(zip64=True), {}),
        ("data descriptor with signature", dict(dd="sig"), {}),
        ("data descriptor without signature", dict(dd="nosig"), {}),
        ("stored + data descriptor", dict(dd="sig", method=0), {}),
        ("zip64 data descriptor", dict(dd="zip64sig", zip64=True, lusize=0, lcsize=0), dict(zip64_eocd=True)),
    ]
    for i, (lab, ekw, akw) in enumerate(variants, 1):
        b, p = bidn(i), newpid()
        d += J(rx, lab, b, Z.build(E(std(b, p), **ekw), **akw), "ACK", pid=p)
    return d


@case(1, "§3/§7.1 local header disagreeing with the central directory: other name (B01 or B02), usize / csize / CRC differ "
         "(a declared size or CRC that differs from the real bytes -> B01); overlapping entries (B01 or B02)")
def e_local_vs_cd(rx):
    d = []
    def reg_of(es): return [e for e in es if e["name"] == "registry.csv"][0]
    cases = [
        ("local name evil.txt", lambda es: mod(es, "registry.csv", lname="evil.txt"), "B01", ("B02",)),
        ("local name Registry.csv", lambda es: mod(es, "registry.csv", lname="Registry.csv"), "B01", ("B02",)),
        ("local usize +1", lambda es: mod(es, "registry.csv", lusize=len(reg_of(es)["data"]) + 1), "B01", ()),
        ("local usize -1", lambda es: mod(es, "registry.csv", lusize=len(reg_of(es)["data"]) - 1), "B01", ()),
        ("local csize +1", lambda es: mod(es, "registry.csv", lcsize=len(Z.deflate(reg_of(es)["data"])) + 1), "B01", ()),
        ("local crc wrong", lambda es: mod(es, "registry.csv", lcrc=zlib.crc32(reg_of(es)["data"]) ^ 0x10), "B01", ()),
        ("local method 0, central 8", lambda es: mod(es, "registry.csv", lextra=b"") or es, "B01", ()),
    ]
    for i, (lab, fn, want, alts) in enumerate(cases[:-1], 1):
        b, p = bidn(i), newpid()
        es = E(std(b, p)); fn(es)
        d += J(rx, lab, b, Z.build(es), want, alts=alts)
    # overlapping: registry.csv's central record points at control.txt's local header
    b, p = bidn(20), newpid()
    es = E(std(b, p))
    data = Z.build(es)
    # rebuild with the CD offset of registry.csv = 0
    mod(es, "registry.csv", cd_offset=0)
    d += J(rx, "overlap: registry.csv CD -> control.txt local header", b, Z.build(es), "B01", alts=("B02",))
    return d


@case(1, "§3 no key configured for the sender: valid hmac entry ignored (ACK, unsigned); absent -> ACK; "
         "duplicate hmac -> B02; hmac entry with method 12 / encrypted / bad CRC (B02/B02/B01 or ignored)", key=False)
def e_nokey_hmac(rx):
    d = []
    b, p = bidn(1), newpid()
    d += J(rx, "valid hmac, no key", b, Z.build(E(std(b, p))), "ACK", pid=p, signed=False)
    b, p = bidn(2), newpid()
    d += J(rx, "no hmac, no key", b, Z.build(E(std(b, p, key=None))), "ACK", pid=p, signed=False)
    b, p = bidn(3), newpid()
    es = E(std(b, p)); es.append(dict(es[-1]))
    d += J(rx, "duplicate hmac, no key", b, Z.build(es), "B02", signed=False)
    b, p = bidn(4), newpid()
    es = E(std(b, p)); mod(es, "manifest.sha256.hmac", method=12, comp=b"BZh9junk")
    d += J(rx, "hmac method 12, no key", b, Z.build(es), "B02", alts=("ACK",), pid=p, signed=False)
    b, p = bidn(5), newpid()
    es = E(std(b, p)); mod(es, "manifest.sha256.hmac", flags=1)
    d += J(rx, "hmac encrypted flag, no key", b, Z.build(es), "B02", alts=("ACK",), pid=p, signed=False)
    b, p = bidn(6), newpid()
    es = E(std(b, p)); mod(es, "manifest.sha256.hmac", crc=0x12345678)
    d += J(rx, "hmac bad CRC, no key", b, Z.build(es), "B01", alts=("ACK",), pid=p, signed=False)
    b, p = bidn(7), newpid()
    es = E(std(b, p)); mod(es, "manifest.sha256.hmac", ext_attr=0o120777 << 16)
    d += J(rx, "hmac symlink, no key", b, Z.build(es), "B02", alts=("ACK",), pid=p, signed=False)
    return d


@case(1, "§6 key configured: hmac entry absent -> B05; empty -> B05; BOM-prefixed -> B05; 63 hex digits -> B05; "
         "one LF then garbage -> B05; hmac of an empty key -> B05")
def e_key_hmac(rx):
    d = []
    def hv(man): return hmac.new(KEY, man, hashlib.sha256).hexdigest().encode()
    cases = [
        ("absent", lambda f: f[:3]),
        ("empty", lambda f: f[:3] + [("manifest.sha256.hmac", b"")]),
        ("BOM", lambda f: f[:3] + [("manifest.sha256.hmac", b"\xef\xbb\xbf" + hv(f[2][1]))]),
        ("63 digits", lambda f: f[:3] + [("manifest.sha256.hmac", hv(f[2][1])[:63])]),
        ("LF then x", lambda f: f[:3] + [("manifest.sha256.hmac", hv(f[2][1]) + b"\nx")]),
        ("empty key", lambda f: f[:3] + [("manifest.sha256.hmac", hmac.new(b"", f[2][1], hashlib.sha256).hexdigest().encode())]),
    ]
    for i, (lab, fn) in enumerate(cases, 1):
        b, p = bidn(i), newpid()
        d += J(rx, lab, b, Z.build(E(fn(std(b, p)))), "B05", msg_has=("manifest.sha256.hmac",))
    return d


@case(1, "§3 more archive-level edges: Info-ZIP Unicode Path extra field naming another file (ACK by CD name, or rejected); "
         "'manifest.sha256.sig' -> B03; multi-disk end record (B01/B02); end record claiming 65535 entries (B01/B02); "
         "zip64 entry declaring 1 TiB -> B02 (8 GiB sum, from the CD); declared csize 0 with 2 MiB usize -> B02/B01; "
         "data descriptor CRC differing from the CD (B01 or ACK); extra-field length running past the record -> B01")
def e_more(rx):
    d = []
    b, p = bidn(1), newpid()
    es = E(std(b, p))
    up = b"../evil.csv"
    mod(es, "registry.csv", cextra=struct.pack("<HHBI", 0x7075, 5 + len(up), 1, zlib.crc32(b"registry.csv")) + up)
    d += J(rx, "unicode path extra -> ../evil.csv", b, Z.build(es), "B02", alts=("ACK", "B01", "B03"), pid=p)
    b, p = bidn(2), newpid()
    es = E(std(b, p)); es.append(dict(name="manifest.sha256.sig", data=b"x"))
    d += J(rx, "manifest.sha256.sig", b, Z.build(es), "B03", msg_has=("manifest.sha256.sig",))
    b, p = bidn(3), newpid()
    data = bytearray(Z.build(E(std(b, p))))
    i = data.rfind(b"PK\x05\x06"); data[i + 4:i + 6] = struct.pack("<H", 1); data[i + 6:i + 8] = struct.pack("<H", 1)
    d += J(rx, "multi-disk end record", b, bytes(data), "B01", alts=("B02",))
    b, p = bidn(4), newpid()
    d += J(rx, "end record claims 65535 entries", b, Z.build(E(std(b, p)), eocd_count=65535), "B01", alts=("B02",))
    b, p = bidn(5), newpid()
    es = E(std(b, p), zip64=True); mod(es, "registry.csv", cusize=1 << 40)
    d += J(rx, "zip64 CD usize 1 TiB", b, Z.build(es, zip64_eocd=True), "B02")
    b, p = bidn(6), newpid()
    es = E(std(b, p)); mod(es, "registry.csv", usize=2 * MIB, csize=0, comp=b"")
    d += J(rx, "csize 0, usize 2 MiB", b, Z.build(es), "B02", alts=("B01",))
    b, p = bidn(7), newpid()
    es = E(std(b, p), dd="sig")
    reg = [e for e in es if e["name"] == "registry.csv"][0]
    good = zlib.crc32(reg["data"])
    reg["crc"] = good ^ 1; reg["ccrc"] = good
    d += J(rx, "data descriptor CRC wrong, CD right", b, Z.build(es), "B01", alts=("ACK",), pid=p)
    b, p = bidn(8), newpid()
    es = E(std(b, p)); mod(es, "manifest.sha256", cextra=b"\x01\x00\xff\x00")
    d += J(rx, "extra field length past its record", b, Z.build(es), "B01", alts=("B02",), pid=p)
    return d


# =====================================================================================
# Area 2: §3 limits
# =====================================================================================
def big_registry(pid, n, ch="a"):
    """PAY registry of exactly n bytes: one row whose quoted purpose holds lines of 998 chars (202 purpose)."""
    row = pay_row(pid, amount="1.00", purpose='""')
    base = len(registry("PAY", [row]))
    L = n - base
    assert L > 0
    line = ch * 998 + "\r\n"
    txt = line * (L // len(line)) + ch * (L % len(line))
    row[10] = q(txt)
    r = registry("PAY", [row])
    assert len(r) == n, (len(r), n)
    return r


@case(2, "§3 at most 16 entries: 16 (4 required + 12 others) -> B03 (not B02), 17 -> B02; "
         "manifest listing 12 extra files changes nothing")
def l_entries(rx):
    d = []
    for i, n in enumerate([16, 17], 1):
        b, p = bidn(i), newpid()
        f = std(b, p)
        es = E(f) + [dict(name=f"extra{j:02d}.txt", data=b"x") for j in range(n - 4)]
        d += J(rx, f"{n} entries", b, Z.build(es), "B03" if n == 16 else "B02", msg_has=("extra00.txt",) if n == 16 else ())
    return d


@case(2, "§3 ratio <= 200 only for entries larger than 1 MiB: registry of exactly 1 MiB at ratio ~1000 -> ACK (202 purpose); "
         "1 MiB + 1 -> B02; 1.1 MiB at ratio exactly 200 -> ACK, 200 + 1 byte -> B02, 201 -> B02")
def l_ratio(rx):
    d = []
    b, p = bidn(1), newpid()
    reg = big_registry(p, MIB)
    d += J(rx, "1 MiB ratio ~1000", b, Z.build(E(std(b, p, reg=reg))), "ACK", rows=[(1, p, 202, "purpose")], aa="0.00")
    b, p = bidn(2), newpid()
    reg = big_registry(p, MIB + 1)
    d += J(rx, "1 MiB+1 ratio ~1000", b, Z.build(E(std(b, p, reg=reg))), "B02", msg_has=("registry.csv",))
    C = 5767
    for i, (lab, n, want) in enumerate([("ratio exactly 200", 200 * C, "ACK"), ("ratio 200+1/C", 200 * C + 1, "B02"),
                                        ("ratio 201", 201 * C, "B02")], 3):
        b, p = bidn(i), newpid()
        reg = big_registry(p, n)
        es = E(std(b, p, reg=reg))
        mod(es, "registry.csv", comp=Z.deflate_exact(reg, C))
        d += J(rx, lab, b, Z.build(es), want, rows=[(1, p, 202, "purpose")], aa="0.00")
    # the same in a stored entry: ratio 1 -> ACK
    b, p = bidn(6), newpid()
    reg = big_registry(p, MIB + 1)
    d += J(rx, "1 MiB+1 stored (ratio 1)", b, Z.build(E(std(b, p, reg=reg), method=0)), "ACK", rows=[(1, p, 202, "purpose")], aa="0.00")
    return d


def set_limit(rx, k, v):
    cfg = open(rx + "/reestr.toml").read()
    cfg = re.sub(rf"^{k} = .*$", f"{k} = {v}", cfg, flags=re.M)
    open(rx + "/reestr.toml", "w").write(cfg)


@case(2, "§3 configurable limits at their boundary, and a NAKed archive re-sent after the limit is raised is judged afresh: "
         "archive bytes S-1 -> B02, S -> ACK; uncompressed sum U-1 -> B02, U -> ACK; max_entries 3 -> B02, 4 -> ACK",
      limits={"max_archive_bytes": 1, "max_uncompressed_bytes": 1 << 30, "max_entries": 16})
def l_config(rx):
    d = []
    b, p = bidn(1), newpid()
    data = Z.build(E(std(b, p)))
    set_limit(rx, "max_archive_bytes", len(data) - 1)
    d += J(rx, "archive S-1", b, data, "B02")
    set_limit(rx, "max_archive_bytes", len(data))
    d += J(rx, "archive S (same bytes again)", b, data, "ACK", pid=p)
    set_limit(rx, "max_archive_bytes", 1 << 30)
    b, p = bidn(2), newpid()
    f = std(b, p); U = sum(len(x) for _, x in f)
    data = Z.build(E(f))
    set_limit(rx, "max_uncompressed_bytes", U - 1)
    d += J(rx, "uncompressed U-1", b, data, "B02")
    set_limit(rx, "max_uncompressed_bytes", U)
    d += J(rx, "uncompressed U", b, data, "ACK", pid=p)
    set_limit(rx, "max_uncompressed_bytes", 1 << 30)
    b, p = bidn(3), newpid()
    data = Z.build(E(std(b, p)))
    set_limit(rx, "max_entries", 3)
    d += J(rx, "entries 4 > 3", b, data, "B02")
    set_limit(rx, "max_entries", 4)
    d += J(rx, "entries 4 = 4", b, data, "ACK", pid=p)
    return d


@case(2, "§3/§7.1 declared sizes that lie (max_uncompressed_bytes=50000): usize -1 / +1, csize +10 (padding) / -3 -> B01; "
         "real 60000 bytes declared 1000 -> B02 (limit exceeded by the real bytes); declared 60000, real small -> B02 (central directory)",
      limits={"max_uncompressed_bytes": 50000})
def l_lies(rx):
    d = []
    def reg_es(b, p, n=None):
        reg = big_registry(p, n) if n else None
        es = E(std(b, p, reg=reg)); r = [e for e in es if e["name"] == "registry.csv"][0]
        return es, r
    b, p = bidn(1), newpid(); es, r = reg_es(b, p); r["usize"] = len(r["data"]) - 1
    d += J(rx, "usize -1", b, Z.build(es), "B01", msg_has=("registry.csv",))
    b, p = bidn(2), newpid(); es, r = reg_es(b, p); r["usize"] = len(r["data"]) + 1
    d += J(rx, "usize +1", b, Z.build(es), "B01", msg_has=("registry.csv",))
    b, p = bidn(3), newpid(); es, r = reg_es(b, p); c = Z.deflate(r["data"]); r["comp"] = c + b"\x00" * 10; r["csize"] = len(c) + 10
    d += J(rx, "csize +10 (trailing bytes after the deflate stream)", b, Z.build(es), "B01")
    b, p = bidn(4), newpid(); es, r = reg_es(b, p); c = Z.deflate(r["data"]); r["csize"] = len(c) - 3
    d += J(rx, "csize -3 (stream cut)", b, Z.build(es), "B01")
    b, p = bidn(5), newpid(); es, r = reg_es(b, p, 60000); r["usize"] = 1000
    d += J(rx, "real 60000 declared 1000", b, Z.build(es), "B02")
    b, p = bidn(6), newpid(); es, r = reg_es(b, p); r["usize"] = 60000
    d += J(rx, "declared 60000 real small", b, Z.build(es), "B02")
    b, p = bidn(7), newpid(); es, r = reg_es(b, p, 40000); r["usize"] = 1000
    d += J(rx, "real 40000 (under limit) declared 1000", b, Z.build(es), "B01")
    return d


@case(2, "§3/§7.1 default limits judged on the real bytes: registry really 3 MiB at ratio ~1000 but declared 2000 bytes -> B02; "
         "declared 1 MiB exactly (ratio not judged from the CD), real 3 MiB -> B02")
def l_ratio_lie(rx):
    d = []
    for i, dec in enumerate([2000, MIB], 1):
        b, p = bidn(i), newpid()
        reg = big_registry(p, 3 * MIB)
        es = E(std(b, p, reg=reg)); mod(es, "registry.csv", usize=dec)
        d += J(rx, f"real 3 MiB declared {dec}", b, Z.build(es), "B02", alts=("B01",))
    return d


@case(2, "§7.1 B01: CRC mismatch (deflate, stored, control.txt); truncated to half / minus 1 byte / no central directory; "
         "garbage after the end record; corrupt deflate (reserved block type, flipped bytes); empty file; not a zip; "
         "wrong entry count in the end record; wrong CD offset; garbage prepended (B01 or ACK)")
def l_b01(rx):
    d = []
    n = [0]
    def mk(fn=None, akw=None, post=None, ekw=None):
        n[0] += 1
        b, p = bidn(n[0]), newpid()
        es = E(std(b, p), **(ekw or {}))
        if fn: fn(es)
        data = Z.build(es, **(akw or {}))
        if post: data = post(data)
        return b, p, data
    def regcrc(es): mod(es, "registry.csv", crc=zlib.crc32([e for e in es if e["name"] == "registry.csv"][0]["data"]) ^ 1)
    items = [
        ("crc deflate", dict(fn=regcrc), "B01", ()),
        ("crc stored", dict(fn=regcrc, ekw={"method": 0}), "B01", ()),
        ("crc control.txt", dict(fn=lambda es: mod(es, "control.txt", crc=0)), "B01", ()),
        ("truncated half", dict(post=lambda x: x[:len(x) // 2]), "B01", ()),
        ("truncated -1 byte", dict(post=lambda x: x[:-1]), "B01", ()),
        ("no central directory", dict(akw={"no_cd": True}), "B01", ()),
        ("garbage after end record", dict(post=lambda x: x + b"GARBAGE!"), "B01", ()),
        ("corrupt deflate: reserved block type", dict(fn=lambda es: mod(es, "registry.csv", comp=b"\x07" + b"\x00" * 30)), "B01", ()),
        ("corrupt deflate: flipped bytes", dict(fn=lambda es: mod(es, "registry.csv", comp=(lambda c: c[:10] + bytes(x ^ 0xA5 for x in c[10:20]) + c[20:])(Z.deflate([e for e in es if e["name"] == "registry.csv"][0]["data"])))), "B01", ()),
        ("end record count 5 (CD has 4)", dict(akw={"eocd_count": 5}), "B01", ()),
        ("CD offset +1", dict(akw={"cd_offset_fix": 1}), "B01", ()),
        ("garbage prepended (SFX style)", dict(akw={"prepend": b"MZ" + b"\x00" * 100}), "B01", ("ACK",)),
    ]
    for lab, kw, want, alts in items:
        b, p, data = mk(**kw)
        d += J(rx, lab, b, data, want, alts=alts, pid=p)
    # a second complete archive of the same batch id appended after the end record (two readings of one file)
    b, p1 = bidn(60), newpid(); p2 = newpid()
    a1, a2 = Z.build(E(std(b, p1))), Z.build(E(std(b, p2)))
    dd, r = judge(rx, "second archive appended after the end record", b + ".zip", a1 + a2, "B01")
    if dd and outcome(r) == "ACK":
        got = [l.split(";")[1] for l in r["result_raw"].decode().split("\r\n")[1:] if l]
        dd.append(f"[second archive appended] the receiver applied payment(s) {got} (first archive holds {p1}, appended one {p2})")
    d += dd
    # a local entry "../evil.csv" smuggled between two entries, absent from the central directory
    b, p = bidn(61), newpid()
    es = E(std(b, p)); es.insert(2, dict(name="../evil.csv", data=b"x", cd=False))
    d += J(rx, "local entry ../evil.csv not in the central directory", b, Z.build(es), "B01", alts=("B02", "ACK"), pid=p)
    b = bidn(50); d += J(rx, "empty file", b, b"", "B01")
    b = bidn(51); d += J(rx, "text file", b, b"hello, world\n", "B01")
    b = bidn(52); d += J(rx, "empty zip (end record only)", b, b"PK\x05\x06" + b"\x00" * 18, "B03", created="fallback",
                         msg_has=("control.txt",))
    return d


# =====================================================================================
# Area 3: §7.1 order of codes; re-delivery
# =====================================================================================
@case(3, "§7.1 order with several faults: B02>B03 (../x + no registry), B03>B05 (no registry + bad hmac), "
         "B05>B04 (no hmac + bad sha), B04>B06 (bad sha + unknown control key), B06>B07 (batch_id mismatch + invalid UTF-8), "
         "B07>B08 (invalid bytes + wrong rows), B02>B01-later-entry (symlink first, CRC error later)")
def o_order(rx):
    d = []
    b, p = bidn(1), newpid()
    f = std(b, p); es = E([x for x in f if x[0] != "registry.csv"]); es.append(dict(name="../x", data=b"x"))
    d += J(rx, "B02>B03", b, Z.build(es), "B02")
    b, p = bidn(2), newpid()
    f = std(b, p, hm=b"0" * 64)
    d += J(rx, "B03>B05", b, Z.build(E([x for x in f if x[0] != "registry.csv"])), "B03", msg_has=("registry.csv",))
    b, p = bidn(3), newpid()
    f = std(b, p, man=b"0" * 64 + b"  control.txt\n" + b"0" * 64 + b"  registry.csv\n")
    d += J(rx, "B05(missing)>B04", b, Z.build(E(f[:3])), "B05")
    b, p = bidn(4), newpid()
    reg = registry("PAY", [pay_row(p, amount="1.00")])
    good_ctl = control_text(b, "PAY", "utf-8", 1, "1.00")
    bad_ctl = control_text(b, "PAY", "utf-8", 1, "1.00", extra=[("note", "x")])
    man = f"{hashlib.sha256(good_ctl).hexdigest()}  control.txt\n{hashlib.sha256(reg).hexdigest()}  registry.csv\n".encode()
    d += J(rx, "B04>B06", b, Z.build(E(std(b, p, reg=reg, ctl=bad_ctl, man=man))), "B04", msg_has=("control.txt",))
    b, p = bidn(5), newpid()
    reg = registry("PAY", [pay_row(p, amount="1.00", name="Ali\xffev")], enc="latin-1")
    ctl = control_text(b, "PAY", "utf-8", 1, "1.00").replace(b"batch_id=" + b.encode(), b"batch_id=" + bidn(99).encode())
    d += J(rx, "B06>B07", b, Z.build(E(std(b, p, reg=reg, ctl=ctl))), "B06", msg_has=("batch_id",))
    b, p = bidn(6), newpid()
    ctl = control_text(b, "PAY", "utf-8", 7, "1.00")
    d += J(rx, "B07>B08", b, Z.build(E(std(b, p, reg=reg, ctl=ctl))), "B07", msg_has=("registry.csv",))
    b, p = bidn(7), newpid()
    es = E(std(b, p)); mod(es, "control.txt", ext_attr=0o120777 << 16); mod(es, "manifest.sha256", crc=1)
    d += J(rx, "symlink entry 1 + CRC error entry 3", b, Z.build(es), "B02", alts=("B01",))
    b, p = bidn(8), newpid()
    es = E(std(b, p)); mod(es, "control.txt", crc=1); mod(es, "manifest.sha256", ext_attr=0o120777 << 16)
    d += J(rx, "CRC error entry 1 + symlink entry 3", b, Z.build(es), "B01", alts=("B02",))
    return d


@case(3, "§7.1 B10 first: wrong receiver + symlink entry -> B10 (fallback created_at); type not configured + truncated -> B10; "
         "unknown sender + '../x' entry -> B10 unsigned")
def o_b10(rx):
    d = []
    b, p = bidn(1, rcv="OTHERRX"), newpid()
    es = E(std(b, p)); mod(es, "registry.csv", ext_attr=0o120777 << 16)
    d += J(rx, "wrong receiver + symlink", b, Z.build(es), "B10", created="fallback")
    cfg = open(rx + "/reestr.toml").read()
    open(rx + "/reestr.toml", "w").write(cfg.replace("[partners.MUNIS]\n", '[partners.MUNIS]\ntypes = ["PAY", "REV"]\n'))
    b = bidn(1, typ="REC")
    reg = registry("REC", [[newpid(), "2026-11-21 10:00:00", INV["A"][0], "1.00", "PAID"]])
    data = Z.build(E(std(b, reg=reg)))
    d += J(rx, "REC not configured + truncated", b, data[:len(data) - 30], "B10", created="fallback")
    b, p = bidn(1, snd="OTHERS"), newpid()
    es = E(std(b, p, key=None)); es.append(dict(name="../x", data=b"x"))
    d += J(rx, "unknown sender + ../x", b, Z.build(es), "B10", created="fallback", signed=False)
    return d


@case(3, "§7.1 B09 before B01/B02/B03/B05: after an ACK, the same batch id with other content that is also corrupt / "
         "unsafe / missing a file / badly signed -> B09 each (created_at fallback for B01/B02 archives)")
def o_b09(rx):
    d = []
    b, p = bidn(1), newpid()
    ok = Z.build(E(std(b, p)))
    d += J(rx, "first", b, ok, "ACK", pid=p)
    es = E(std(b, newpid())); es.append(dict(name="../x", data=b"x"))
    d += J(rx, "B09 > B02", b, Z.build(es), "B09", created="fallback")
    d += J(rx, "B09 > B01 (truncated)", b, ok[:-40], "B09", created="fallback")
    f = std(b, newpid())
    d += J(rx, "B09 > B03", b, Z.build(E([x for x in f if x[0] != "registry.csv"])), "B09")
    d += J(rx, "B09 > B05", b, Z.build(E(std(b, newpid(), hm=b"f" * 64))), "B09")
    # the ACKed archive once more after those NAKs -> stored ACK byte for byte
    first = open(rx + "/var/sent/" + [x for x in os.listdir(rx + "/var/sent")][0], "rb").read()
    r = drop_run(rx, b + ".zip", ok)
    if r.get("raw") is None or hashlib.sha256(r["raw"]).hexdigest() not in [hashlib.sha256(open(rx + "/var/sent/" + x, "rb").read()).hexdigest() for x in os.listdir(rx + "/var/sent")] or r.get("ctl", {}).get("result") != "ACK":
        d.append(f"[ACKed archive after B09s] not the stored ACK: {outcome(r)}")
    return d


def ack_bytes(rx, name):
    return open(rx + "/outbox/" + name, "rb").read()


@case(3, "§7.1 re-delivery of an ACKed archive after configuration changes returns the stored ACK byte for byte: "
         "key removed; partner removed; archive limit lowered below its size; own receiver code changed")
def o_redelivery(rx):
    d = []
    cfg0 = open(rx + "/reestr.toml").read()
    b, p = bidn(1), newpid()
    data = Z.build(E(std(b, p)))
    d += J(rx, "first", b, data, "ACK", pid=p)
    stored = ack_bytes(rx, "SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip")
    changes = [
        ("key removed", cfg0.replace('key_file = "keys/MUNIS.key"\n', "")),
        ("partner removed", cfg0.replace('[partners.MUNIS]\nkey_file = "keys/MUNIS.key"\n', '[partners.OTHER]\n')),
        ("max_archive_bytes 100", cfg0.replace("[partners.MUNIS]", "[limits]\nmax_archive_bytes = 100\n[partners.MUNIS]")),
        ("receiver code changed", cfg0.replace('receiver = "SUDBILLING"', 'receiver = "SUDNEW"')),
    ]
    for lab, cfg in changes:
        open(rx + "/reestr.toml", "w").write(cfg)
        assert cfg != cfg0, lab
        r = drop_run(rx, b + ".zip", data)
        if r.get("raw") != stored:
            d.append(f"[{lab}] re-delivery: got {r.get('name')} {outcome(r)} {(r.get('ctl') or {}).get('message')!r} "
                     f"(byte-equal to stored ACK: False) stderr={r['stderr'][-200:]!r}")
        elif r.get("name") not in r["changed"]:
            d.append(f"[{lab}] stored ACK not placed in the outbox again")
    open(rx + "/reestr.toml", "w").write(cfg0)
    # after key removal, a new batch is answered unsigned (config is live) -- sanity
    open(rx + "/reestr.toml", "w").write(changes[0][1])
    b2, p2 = bidn(2), newpid()
    d += J(rx, "new batch after key removed -> unsigned ACK", b2, Z.build(E(std(b2, p2, key=None))), "ACK", pid=p2, signed=False)
    return d


@case(3, "§7.1 an archive whose deliveries were all NAKed is judged afresh: B05 (hmac of another key), key removed -> ACK unsigned; "
         "the same NAKed archive twice under the same config -> identical NAK bytes (§8 pure function)")
def o_afresh(rx):
    d = []
    cfg0 = open(rx + "/reestr.toml").read()
    b, p = bidn(1), newpid()
    data = Z.build(E(std(b, p, key=b"\x01" * 32)))
    d1, r1 = judge(rx, "first: B05", b + ".zip", data, "B05")
    d2, r2 = judge(rx, "again: B05", b + ".zip", data, "B05")
    d += d1 + d2
    if r1.get("raw") and r2.get("raw") and r1["raw"] != r2["raw"]:
        d.append("same NAKed archive, same store/config: NAK bytes differ")
    open(rx + "/reestr.toml", "w").write(cfg0.replace('key_file = "keys/MUNIS.key"\n', ""))
    d += J(rx, "key removed: ACK unsigned", b, data, "ACK", pid=p, signed=False)
    return d


# =====================================================================================
# Area 4: §6 manifest and HMAC formats
# =====================================================================================
@case(4, "§6 manifest formats -> B04: '*' binary marker (sha256sum -c accepts it; B04 or ACK), tab, nonexistent listed file, "
         "file listed twice, manifest listing itself, empty manifest, trailing blank line (B04 or ACK), './registry.csv', "
         "control.txt not listed, hash of 63 digits, CR inside the name")
def m_manifest(rx):
    d = []
    i = [0]
    def run(lab, build, want, alts=(), msg=()):
        i[0] += 1
        b, p = bidn(i[0]), newpid()
        f = std(b, p)
        c, r = f[0][1], f[1][1]
        hc, hr = hashlib.sha256(c).hexdigest(), hashlib.sha256(r).hexdigest()
        man = build(hc, hr)
        return J(rx, lab, b, Z.build(E(std(b, p, man=man))), want, alts=alts, msg_has=msg, pid=p)
    d += run("binary marker *", lambda hc, hr: f"{hc} *control.txt\n{hr} *registry.csv\n".encode(), "B04", alts=("ACK",))
    d += run("tab", lambda hc, hr: f"{hc}\tcontrol.txt\n{hr}\tregistry.csv\n".encode(), "B04", msg=("manifest.sha256",))
    d += run("lists missing other.txt", lambda hc, hr: f"{hc}  control.txt\n{hr}  registry.csv\n{'0'*64}  other.txt\n".encode(), "B04", msg=("other.txt",))
    d += run("registry listed twice", lambda hc, hr: f"{hc}  control.txt\n{hr}  registry.csv\n{hr}  registry.csv\n".encode(), "B04")
    d += run("lists itself", lambda hc, hr: f"{hc}  control.txt\n{hr}  registry.csv\n{'0'*64}  manifest.sha256\n".encode(), "B04")
    d += run("empty manifest", lambda hc, hr: b"", "B04")
    d += run("trailing blank line", lambda hc, hr: f"{hc}  control.txt\n{hr}  registry.csv\n\n".encode(), "B04", alts=("ACK",))
    d += run("./registry.csv", lambda hc, hr: f"{hc}  control.txt\n{hr}  ./registry.csv\n".encode(), "B04")
    d += run("control.txt not listed", lambda hc, hr: f"{hr}  registry.csv\n".encode(), "B04", msg=("control.txt",))
    d += run("63-digit hash", lambda hc, hr: f"{hc[:63]}  control.txt\n{hr}  registry.csv\n".encode(), "B04")
    d += run("three spaces", lambda hc, hr: f"{hc}   control.txt\n{hr}  registry.csv\n".encode(), "B04")
    d += run("leading blank line", lambda hc, hr: f"\n{hc}  control.txt\n{hr}  registry.csv\n".encode(), "B04", alts=("ACK",))
    return d


@case(4, "§6 HMAC of the manifest bytes exactly: HMAC over a CRLF-converted copy of an LF manifest -> B05; CRLF manifest with "
         "its correct HMAC -> B04 (format), CRLF manifest with the HMAC of its LF form -> B05 (B05 before B04); "
         "HMAC + CR only -> B05 or ACK")
def m_hmac_bytes(rx):
    d = []
    b, p = bidn(1), newpid()
    f = std(b, p); man = f[2][1]
    d += J(rx, "hmac of CRLF copy", b, Z.build(E(std(b, p, hm=hmac.new(KEY, man.replace(b"\n", b"\r\n"), hashlib.sha256).hexdigest().encode()))), "B05")
    b, p = bidn(2), newpid()
    f = std(b, p); crlf = f[2][1].replace(b"\n", b"\r\n")
    d += J(rx, "CRLF manifest, correct hmac", b, Z.build(E(std(b, p, man=crlf))), "B04")
    b, p = bidn(3), newpid()
    f = std(b, p); lf = f[2][1]; crlf = lf.replace(b"\n", b"\r\n")
    d += J(rx, "CRLF manifest, hmac of LF form", b, Z.build(E(std(b, p, man=crlf, hm=hmac.new(KEY, lf, hashlib.sha256).hexdigest().encode()))), "B05")
    b, p = bidn(4), newpid()
    f = std(b, p)
    d += J(rx, "hmac + lone CR", b, Z.build(E(f[:3] + [("manifest.sha256.hmac", f[3][1] + b"\r")])), "B05", alts=("ACK",), pid=p)
    return d


@case(4, "§6 key file formats: 64 uppercase hex digits -> ACK and the response is signed with the same key; "
         "key file without final line end; with CRLF; mixed case")
def m_keyfile(rx):
    d = []
    for i, (lab, content) in enumerate([("uppercase", KEY_HEX.upper() + "\n"), ("no final eol", KEY_HEX),
                                         ("CRLF", KEY_HEX + "\r\n"), ("mixed case", "".join(c.upper() if j % 2 else c for j, c in enumerate(KEY_HEX)) + "\n")], 1):
        with open(rx + "/keys/MUNIS.key", "w") as f:
            f.write(content)
        b, p = bidn(i), newpid()
        d += J(rx, "key file " + lab, b, Z.build(E(std(b, p))), "ACK", pid=p)
    return d


# =====================================================================================
# Area 5: §2 names
# =====================================================================================
@case(5, "§2 names set aside with a reason, no response: SEQ 2/7 digits, sender of 1/17 chars, receiver 1/17 chars, lower-case "
         "type, .ZIP, 20260229, 20261131, 20261100, 20261340, extra underscores, leading '_', TYPE XXX (or B10), space, .zip.zip")
def n_setaside(rx):
    d = []
    names = [
        ("MUNIS_SUDBILLING_PAY_20261121_01.zip", ()), ("MUNIS_SUDBILLING_PAY_20261121_0000001.zip", ()),
        ("M_SUDBILLING_PAY_20261121_001.zip", ()), ("ABCDEFGHIJKLMNOPQ_SUDBILLING_PAY_20261121_001.zip", ()),
        ("MUNIS_S_PAY_20261121_001.zip", ()), ("MUNIS_ABCDEFGHIJKLMNOPQ_PAY_20261121_001.zip", ()),
        ("MUNIS_SUDBILLING_pay_20261121_001.zip", ()), ("MUNIS_SUDBILLING_PAY_20261121_001.ZIP", ()),
        ("MUNIS_SUDBILLING_PAY_20260229_001.zip", ()), ("MUNIS_SUDBILLING_PAY_20261131_001.zip", ()),
        ("MUNIS_SUDBILLING_PAY_20261100_001.zip", ()), ("MUNIS_SUDBILLING_PAY_20261340_001.zip", ()),
        ("MUNIS_SUDBILLING_PAY_20261121_001_X.zip", ()), ("MUNIS__SUDBILLING_PAY_20261121_001.zip", ()),
        ("_MUNIS_SUDBILLING_PAY_20261121_001.zip", ()), ("MUNIS_SUDBILLING_XXX_20261121_001.zip", ("B10",)),
        ("MUNIS_SUDBILLING_PAY_20261121_001 .zip", ()), ("MUNIS_SUDBILLING_PAY_20261121_001.zip.zip", ()),
        ("MUNIS_SUDBILLING_PAY_2026112_001.zip", ()), ("MUNIS-SUDBILLING_PAY_20261121_001.zip", ()),
    ]
    for n, alts in names:
        bid = n.split(".")[0]
        try:
            data = Z.build(E(std(bid if bid.count("_") == 4 and len(bid.split("_")[3]) == 8 else bidn(1), newpid())))
        except Exception:
            data = Z.build(E(std(bidn(1), newpid())))
        d += judge(rx, n, n, data, "ASIDE", alts=alts)[0]
    # temporary names are left alone
    for n in [".MUNIS_SUDBILLING_PAY_20261121_001.zip", "MUNIS_SUDBILLING_PAY_20261121_001.zip.part"]:
        path = os.path.join(rx, "inbox", n)
        open(path, "wb").write(Z.build(E(std(bidn(1), newpid()))))
        os.utime(path, (time.time() - 10, time.time() - 10))
        r = drop_run(rx, n, None, temp=True)
        if not r["in_inbox"] or r["changed"]:
            d.append(f"[{n}] temporary name not left alone: in_inbox={r['in_inbox']} changed={r['changed']}")
        os.remove(path) if os.path.exists(path) else None
    return d


@case(5, "§2/§8 answered names: SEQ of 3 and 6 digits, 20240229, 16-char sender (B10 unsigned, to that sender), "
         "2-char digit sender, 16-char receiver (B10 to MUNIS, signed): response name OWN_SENDER_TYPE_DATE_SEQ_ACK|NAK.zip")
def n_answered(rx):
    d = []
    b, p = bidn("000123"), newpid()
    d += J(rx, "SEQ 6 digits", b, Z.build(E(std(b, p))), "ACK", pid=p)
    b, p = bidn("999"), newpid()
    d += J(rx, "SEQ 3 digits 999", b, Z.build(E(std(b, p))), "ACK", pid=p)
    b, p = bidn(1, date="20240229"), newpid()
    reg = registry("PAY", [pay_row(p, amount="1.00", paid_at="2024-02-29 10:00:00")])
    d += J(rx, "20240229", b, Z.build(E(std(b, p, reg=reg))), "ACK", pid=p)
    b = bidn(1, snd="ABCDEFGHIJKLMNOP")
    d += J(rx, "16-char sender", b, Z.build(E(std(b, newpid(), key=None))), "B10", signed=False, msg_has=("ABCDEFGHIJKLMNOP",))
    b = bidn(1, snd="12")
    d += J(rx, "2-digit sender", b, Z.build(E(std(b, newpid(), key=None))), "B10", signed=False)
    b = bidn(2, rcv="ABCDEFGHIJKLMNOP")
    d += J(rx, "16-char receiver", b, Z.build(E(std(b, newpid()))), "B10", msg_has=("ABCDEFGHIJKLMNOP",))
    return d


def summary():
    return f"; {STATS['archives']} archives judged, {STATS.get('checked_responses', 0)} responses through check_response"


if __name__ == "__main__":
    run_cases("archive", CASES, lambda c: new_receiver(c[0], key=c[4], limits=c[5]), notes=NOTES, summary=summary, stats=STATS)
