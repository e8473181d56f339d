#!/usr/bin/env python3
"""readme.py: every checkable claim of README.md, against the binary (black box).

Each case cites the README sentence it checks. The cases drive REESTR_BIN only from outside:
scratch receivers, archives built with lib.py / zipraw.py, the commands the README documents,
and the store read through `sqlite3` (README: "Tables (for `sqlite3 var/reestr.db`)").
Where the README leaves a choice open, a case accepts each reading and prints the one taken.
117 cases. Eight (`backup_*`) check "Backup and restore" and the backup lines of
docs/SECURITY.md: what the copy holds, byte for byte, and leaves out; restoring from it; the
refusals and exit codes; beside `watch` and a batch held open (REESTR_PAUSE); an edited journal
naming paths outside the kept folders (probed with FIFOs and access times); a full disk (a small
tmpfs, as root only; skipped otherwise). Four (`former_keys_*`) check a partner's
`former_key_files` after a key rotation (README "Configuration", SECURITY's key-file modes):
`replay` and `audit verify --rebuild` of batches signed with a former key, byte for byte, and
`replay`'s refusal without it; new archives signed with a former key `B05`, every new response
signed with `key_file`; former key files checked at start like a key file; two rotations. The
last four (`edited_store_*`) check "Paths from an edited store" (SECURITY, ARCHITECTURE,
CHANGES): the store edited to name paths outside the data folder (journal `kept` paths,
`set_aside.kept_as`, `deliveries.response_sha256`) and kept files replaced by links out of it
and by FIFOs, against `audit verify`, `backup`, `release`, `check` and `run` (the recovery of a
delivery and a re-delivery): decoys outside the data folder (their bytes, access times and
FIFOs) never read, nothing outside written, no command left waiting, what was not read named.

    REESTR_BIN=/path/to/reestr python3 conformance/readme.py [NAME-SUBSTRING...]

READMEJOBS=N (or CONFORMANCE_JOBS=N) runs N cases at a time (default 2); KEEP=1 keeps the scratch folder.
Prints `OK name` / `FAIL name: why` per case and `== readme: N/M cases OK`; exits 1 on any failure.
"""
import hashlib, hmac, io, json, os, re, shutil, signal, sqlite3, stat, struct, subprocess, sys
import threading, time, traceback, zipfile, zlib
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import lib  # noqa: E402
import zipraw  # noqa: E402

BIN = lib.BIN
ROOT = lib.SCRATCH
KEY_HEX, KEY = lib.KEY_HEX, lib.KEY
CASES = []


class Fail(Exception):
    pass


def case(quote):
    def deco(f):
        CASES.append((f.__name__, quote, f))
        return f
    return deco


def need(cond, why):
    if not cond:
        raise Fail(why)


# ---------------------------------------------------------------- helpers
class P:
    def __init__(self, cp, secs):
        self.rc = cp.returncode
        self.out = cp.stdout.decode("utf-8", "replace")
        self.err = cp.stderr.decode("utf-8", "replace")
        self.secs = secs

    def __repr__(self):
        return f"rc={self.rc} out={self.out[-300:]!r} err={self.err[-300:]!r}"


def R(rx, *args, env=None, cwd=None, timeout=90, config=True):
    cmd = [BIN] + (["--config", os.path.join(rx, "reestr.toml")] if config and rx else []) + list(args)
    e = dict(os.environ)
    e.pop("REESTR_LOG", None)
    if env:
        e.update(env)
    t = time.time()
    cp = subprocess.run(cmd, capture_output=True, env=e, cwd=cwd, timeout=timeout)
    return P(cp, time.time() - t)


def mkrx(name, extra="", key=True, settle=0, grace=0, wait=2, partner="", invoices=True,
         limits=None, init=True):
    d = os.path.join(ROOT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d + "/keys")
    with open(d + "/keys/MUNIS.key", "w") as f:
        f.write(KEY_HEX + "\n")
    os.chmod(d + "/keys/MUNIS.key", 0o600)
    cfg = 'receiver = "SUDBILLING"\ninbox = "inbox"\noutbox = "outbox"\ndata = "var"\n'
    if settle is not None:
        cfg += f"settle_seconds = {settle}\n"
    if grace is not None:
        cfg += f"unreadable_grace_seconds = {grace}\n"
    if wait is not None:
        cfg += f"run_wait_seconds = {wait}\n"
    cfg += extra + "\n"
    if limits:
        cfg += "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    cfg += "[partners.MUNIS]\n" + ('key_file = "keys/MUNIS.key"\n' if key else "") + partner
    with open(d + "/reestr.toml", "w") as f:
        f.write(cfg)
    if init:
        p = R(d, "init")
        need(p.rc == 0, f"init failed {p}")
        if invoices:
            with open(d + "/invoices.csv", "wb") as f:
                f.write(lib.invoices_csv())
            p = R(d, "invoices", "import", d + "/invoices.csv")
            need(p.rc == 0, f"import failed {p}")
    return d


def set_cfg(rx, text):
    with open(rx + "/reestr.toml", "w") as f:
        f.write(text)


def cfg_text(rx):
    return open(rx + "/reestr.toml").read()


def drop(rx, name, data, age=30):
    nb = name if isinstance(name, bytes) else name.encode()
    path = os.path.join(rx.encode(), b"inbox", nb)
    with open(path, "wb") as f:
        f.write(data)
    if age is not None:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def bid(seq, typ="PAY", date="20261121"):
    return lib.bidn(seq, typ, date)


def pay(b, pids, **kw):
    return lib.pay(b, pids, **kw)


def outbox(rx):
    return lib.outbox(rx)


def resp(rx, b, res):
    name = lib.resp_name(b, res)
    path = os.path.join(rx, "outbox", name)
    need(os.path.exists(path), f"no response {name} in outbox (outbox: {sorted(os.listdir(rx + '/outbox'))})")
    return lib.parse_response(name, open(path, "rb").read())


def csvrows(r):
    return [l.split(";") for l in r["result_raw"].decode("utf-8", "replace").split("\r\n")[1:] if l]


def statuses(r):
    return [(x[2], x[3]) for x in csvrows(r)]


def db(rx):
    return sqlite3.connect(f"file:{rx}/var/reestr.db?mode=ro", uri=True)


def q(rx, sql, args=()):
    c = db(rx)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def dbw(rx, *sqls):
    c = sqlite3.connect(f"{rx}/var/reestr.db")
    for s in sqls:
        c.execute(s)
    c.commit()
    c.close()


def inbox(rx):
    return sorted(os.listdir(rx + "/inbox"))


def tree(path):
    out = {}
    for dp, dns, fns in os.walk(path):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode))
    return out


def run_one(rx, b, data, *args):
    drop(rx, b + ".zip", data)
    return R(rx, "run", *args)


def nakcode(rx, b, data):
    lib.clear_outbox(rx)
    p = run_one(rx, b, data)
    r = resp(rx, b, "NAK") if os.path.exists(os.path.join(rx, "outbox", lib.resp_name(b, "NAK"))) else None
    if r is None:
        r = resp(rx, b, "ACK")
    return r["ctl"].get("error") or r["ctl"]["result"], r, p


def zentries(names_data, **kw):
    return zipraw.build([dict(name=n, data=d, **kw) for n, d in names_data])


def good_files(b, reg=None, key=KEY):
    """The entries of a correct PAY batch b (control, registry, manifest, hmac)."""
    reg = reg or lib.registry("PAY", [lib.pay_row("100000000001", amount="1.00")])
    n, tot = lib.count_amounts(reg, "utf-8", "PAY")
    ctl = lib.control_text(b, "PAY", "utf-8", n, tot)
    files = [("control.txt", ctl), ("registry.csv", reg)]
    man = "".join(f"{hashlib.sha256(d).hexdigest()}  {nm}\n" for nm, d in files).encode()
    files.append(("manifest.sha256", man))
    if key:
        files.append(("manifest.sha256.hmac", hmac.new(key, man, hashlib.sha256).hexdigest().encode()))
    return files


def archive_with_control(b, ctl, reg=None):
    reg = reg or lib.registry("PAY", [lib.pay_row("100000000001", amount="1.00")])
    return lib.build_archive(b, reg, control=ctl)


def wait_for(pred, secs, step=0.05):
    end = time.time() + secs
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def keep(rx, b, data):
    """Writes data as <rx>/files/<b>.zip (commands judge the file's name) and returns the path."""
    os.makedirs(rx + "/files", exist_ok=True)
    path = f"{rx}/files/{b}.zip"
    open(path, "wb").write(data)
    return path


def journal(rx):
    return q(rx, "SELECT seq, kind, body FROM journal ORDER BY seq")


# ---------------------------------------------------------------- Two commands / samples
@case('"answers every archive of samples/inbox ... one answered NAK B05, one file set aside for its name ... compares each response with the golden file in samples/expected byte for byte"')
def samples_golden(n):
    rx = mkrx("samples", invoices=False)
    shutil.copy(REPO + "/samples/MUNIS.key", rx + "/keys/MUNIS.key")
    os.chmod(rx + "/keys/MUNIS.key", 0o600)
    p = R(rx, "invoices", "import", REPO + "/samples/invoices.csv")
    need(p.rc == 0, f"import {p}")
    for f in os.listdir(REPO + "/samples/inbox"):
        drop(rx, f, open(REPO + "/samples/inbox/" + f, "rb").read())
    p = R(rx, "run")
    need(p.rc == 0, f"run {p}")
    exp = sorted(os.listdir(REPO + "/samples/expected"))
    need(sorted(os.listdir(rx + "/outbox")) == exp, f"outbox {sorted(os.listdir(rx + '/outbox'))} != {exp}")
    for f in exp:
        need(open(rx + "/outbox/" + f, "rb").read() == open(REPO + "/samples/expected/" + f, "rb").read(),
             f"{f} differs from golden")
    naks = [f for f in exp if f.endswith("_NAK.zip")]
    need(len(naks) == 1 and lib.parse_response(naks[0], open(rx + "/outbox/" + naks[0], "rb").read())["ctl"]["error"] == "B05",
         f"not one NAK B05: {naks}")
    need(q(rx, "SELECT original_name FROM set_aside") == [("payments-november.zip",)], "set-aside not payments-november.zip")
    need("PAY_20261121_001" in p.out and "ACK" in p.out and re.search(r"1:12", p.out), "per-batch summary missing (ACK/NAK, rows by code)")


@case('"sample [--out DIR]  write the sample set (billing export, archives, key) with the generator"')
def sample_out(n):
    d = os.path.join(ROOT, "sampleout")
    p = R(None, "sample", "--out", d, config=False, cwd=ROOT)
    need(p.rc == 0, f"sample {p}")
    files = [os.path.relpath(os.path.join(dp, f), d) for dp, _, fs in os.walk(d) for f in fs]
    need(any(f.endswith(".csv") for f in files), f"no billing export in {files}")
    need(any(f.endswith(".key") for f in files), f"no key in {files}")
    need(sum(f.endswith(".zip") for f in files) >= 5, f"archives missing in {files}")
    same = all(os.path.exists(REPO + "/samples/" + f) and open(REPO + "/samples/" + f, "rb").read() == open(d + "/" + f, "rb").read()
               for f in files)
    n.append(f"sample --out wrote {len(files)} files; identical to samples/: {same}")


# ---------------------------------------------------------------- Using it
@case('"init  create the folders and the store; safe to repeat"')
def init_repeat(n):
    rx = mkrx("init", init=False)
    for i in range(2):
        p = R(rx, "init")
        need(p.rc == 0, f"init #{i + 1}: {p}")
    for f in ("inbox", "outbox", "var"):
        need(os.path.isdir(rx + "/" + f), f"{f} not created")
    need(os.path.isfile(rx + "/var/reestr.db"), "store not created")


@case('"(--config defaults to ./reestr.toml)"')
def config_default(n):
    rx = mkrx("cfgdef")
    p = R(rx, "status", cwd=rx, config=False)
    need(p.rc == 0, f"status without --config in the receiver's folder: {p}")
    empty = os.path.join(ROOT, "emptydir")
    os.makedirs(empty, exist_ok=True)
    p = R(None, "status", cwd=empty, config=False)
    need(p.rc == 3 and "reestr.toml" in (p.err + p.out), f"status without ./reestr.toml should exit 3 naming it: {p}")


@case('"| 2 | usage error (unknown command or option) |"')
def usage_errors(n):
    rx = mkrx("usage")
    for args in (["bogus"], ["run", "--bogus"], ["status", "--last"], ["--log-format", "xml", "status"], ["replay", "x.zip"]):
        p = R(rx, *args)
        need(p.rc == 2, f"{args}: {p}")


@case('"TOML; relative paths are relative to the configuration file\'s folder"')
def relative_paths(n):
    rx = mkrx("relpath")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    p = R(rx, "run", cwd="/")
    need(p.rc == 0, f"run from / : {p}")
    need(os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), "response not in the config-relative outbox")


@case('"invoices import FILE  load a billing export (agreement §9); safe to repeat" + "Invoice export loaded twice: nothing changes and nothing is journaled"')
def import_repeat(n):
    rx = mkrx("importrep")
    j1 = journal(rx)
    inv1 = q(rx, "SELECT * FROM invoices ORDER BY invoice_no")
    p = R(rx, "invoices", "import", rx + "/invoices.csv")
    need(p.rc == 0, f"second import {p}")
    need(journal(rx) == j1, "second import journaled")
    need(q(rx, "SELECT * FROM invoices ORDER BY invoice_no") == inv1, "invoices changed")
    need([k for _, k, _ in j1].count("import") == 1, "first import not journaled as `import`")
    # a later export that changes invoices is journaled as import
    csv = lib.invoices_csv().replace(b"1000000.00", b"1000001.00")
    open(rx + "/inv2.csv", "wb").write(csv)
    p = R(rx, "invoices", "import", rx + "/inv2.csv")
    need(p.rc == 0 and [k for _, k, _ in journal(rx)].count("import") == 2, f"changing export not journaled as import {p}")


@case('"run [--json] [--strict]  handle every archive now in the inbox, then exit" + "one line per batch at info level with batch id, result, code, rows and duration" + "Results go to stdout"')
def run_basic(n):
    rx = mkrx("runbasic")
    b = bid(1)
    p = run_one(rx, b, pay(b, ["100000000001", "100000000002"]))
    need(p.rc == 0, f"run {p}")
    need(inbox(rx) == [], f"inbox not emptied: {inbox(rx)}")
    r = resp(rx, b, "ACK")
    need(r["ctl"]["accepted"] == "2", "not 2 accepted")
    need(b in p.out, "stdout does not name the batch")
    lines = [l for l in p.err.splitlines() if b in l and "INFO" in l]
    need(len(lines) == 1, f"not one info line for the batch on stderr: {p.err!r}")
    l = lines[0]
    need("ACK" in l and re.search(r"rows=2\b", l) and "code" in l and re.search(r"(ms|duration|secs?)=", l),
         f"info line lacks result/code/rows/duration: {l!r}")
    need(b not in "".join(x for x in p.out.splitlines() if "INFO" in x), "log lines on stdout")


@case('"`run --json` ... `left`, and `held` ... in `--json`" + "(`run` prints a `FINISHED` line, `finished` in `--json`)"')
def run_json(n):
    rx = mkrx("runjson")
    b = bid(1)
    p = run_one(rx, b, pay(b, ["100000000001"]), "--json")
    need(p.rc == 0, f"{p}")
    d = json.loads(p.out)
    for k in ("left", "held", "finished"):
        need(k in d, f"run --json lacks {k!r}: {list(d)}")
    need(b in p.out, "document does not name the batch")


@case('"| 5 | `run --strict` only: every archive was handled, and some were answered NAK or set aside |" + "`run` exits 0 whatever the answers were"')
def strict(n):
    rx = mkrx("strict")
    b1, b2 = bid(1), bid(2)
    p = run_one(rx, b1, pay(b1, ["100000000001"]), "--strict")
    need(p.rc == 0, f"strict, all ACK: {p}")
    p = run_one(rx, b2, pay(b2, ["100000000002"], key=None))  # no HMAC -> B05
    need(p.rc == 0, f"plain run with a NAK: {p}")
    b3 = bid(3)
    p = run_one(rx, b3, pay(b3, ["100000000003"], key=None), "--strict")
    need(p.rc == 5, f"--strict with a NAK: {p}")
    drop(rx, "not-a-batch.zip", b"x")
    p = R(rx, "run", "--strict")
    need(p.rc == 5, f"--strict with a set-aside file: {p}")


@case('"Logs go to stderr: readable lines, or JSON lines with `--log-format json` (the final error line of a command that stops too, with its exit code; `run --json` prints its document on stdout even then)"')
def log_json(n):
    rx = mkrx("logjson")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    p = R(rx, "--log-format", "json", "run")
    need(p.rc == 0, f"{p}")
    ls = [l for l in p.err.splitlines() if l.strip()]
    need(ls and all(json.loads(l) is not None for l in ls), f"stderr not JSON lines: {p.err!r}")
    drop(rx, bid(2) + ".zip", pay(bid(2), ["100000000002"]))
    p = R(rx, "--log-format", "json", "run", "--json", env={"REESTR_FAIL": "keep-received"})
    need(p.rc == 1 and "error" in json.loads(p.out), f"exit-1 stop: {p}")
    need(json.loads(p.err.strip().splitlines()[-1]).get("fields", {}).get("exit_code") == 1 or "1" in p.err.strip().splitlines()[-1], "exit 1 line lacks code")
    shutil.rmtree(rx + "/inbox")
    p = R(rx, "--log-format", "json", "run", "--json")
    need(p.rc == 3, f"missing inbox: {p}")
    last = json.loads([l for l in p.err.splitlines() if l.strip()][-1])
    need("3" in json.dumps(last), f"final JSON error line lacks exit code 3: {last}")
    try:
        json.loads(p.out)
    except Exception:
        raise Fail(f"run --json printed no JSON document on stdout when stopping: {p.out!r}")


# ---------------------------------------------------------------- folders, lock
@case('"when one is missing (a share not mounted), `run`, `watch`, `status` and `release` exit 3 naming it"')
def missing_folders(n):
    rx = mkrx("missing")
    for folder in ("inbox", "outbox"):
        os.rename(f"{rx}/{folder}", f"{rx}/{folder}.gone")
        for args in (["run"], ["watch"], ["status"], ["release", "x.zip"]):
            p = R(rx, *args, timeout=20)
            need(p.rc == 3 and folder in p.err, f"{folder} missing, {args}: {p}")
        os.rename(f"{rx}/{folder}.gone", f"{rx}/{folder}")
    need(not os.path.exists(rx + "/inbox.gone"), "folder left renamed")


@case('"`audit verify`, `replay` and `check` need neither."')
def neither_needed(n):
    rx = mkrx("neither")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    a = keep(rx, b, data)
    shutil.rmtree(rx + "/inbox")
    shutil.rmtree(rx + "/outbox")
    os.makedirs(rx + "/rp")
    for args in (["audit", "verify"], ["replay", a, "--out", rx + "/rp"], ["check", a]):
        p = R(rx, *args)
        need(p.rc == 0, f"{args} without inbox/outbox: {p}")


def paused_run(rx, point="validated"):
    hold = os.path.join(rx, "hold-" + point)
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    e = dict(os.environ, REESTR_PAUSE=f"{point}:{hold}")
    proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    need(wait_for(lambda: os.path.exists(hold), 20), "REESTR_PAUSE file never created")
    return proc, hold, b


@case('"`run`, `watch`, `replay`, `invoices import` and `release` take an exclusive lock ... A second one waits up to `lock_wait_seconds` (default 0), then exits with code 4 and says another process holds the lock, even while the first is in the middle of a batch" + "REESTR_PAUSE=POINT:FILE ... holds a batch at that point ... until FILE, which the engine creates there, is removed"')
def lock_exit4(n):
    rx = mkrx("lock")
    a = keep(rx, bid(7), pay(bid(7), ["100000000077"]))
    os.makedirs(rx + "/rp")
    proc, hold, b = paused_run(rx)
    try:
        for args in (["run"], ["watch"], ["replay", a, "--out", rx + "/rp"],
                     ["invoices", "import", rx + "/invoices.csv"], ["release", "deadbeef00"]):
            p = R(rx, *args, timeout=20)
            need(p.rc == 4, f"{args} during a paused batch: {p}")
            need(re.search(r"lock|another", p.err, re.I), f"{args}: does not say another process holds the lock: {p.err!r}")
            need(p.secs < 2.5, f"{args}: waited {p.secs:.1f}s with lock_wait_seconds default 0")
    finally:
        os.remove(hold)
        out, err = proc.communicate(timeout=30)
    need(proc.returncode == 0, f"paused run ended {proc.returncode}: {err[-300:]!r}")
    need(os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), "paused batch not answered after release of the pause")


@case('"lock_wait_seconds = 0  # how long to wait for another engine\'s lock" + "| 4 | another reestr process holds the data folder (after waiting `lock_wait_seconds`) |"')
def lock_wait(n):
    rx = mkrx("lockwait", extra="lock_wait_seconds = 2")
    proc, hold, b = paused_run(rx)
    try:
        p = R(rx, "run", timeout=20)
    finally:
        os.remove(hold)
        proc.communicate(timeout=30)
    need(p.rc == 4 and 1.8 <= p.secs < 6, f"second run with lock_wait_seconds=2: rc {p.rc} after {p.secs:.1f}s")


@case('"`status` and `audit verify` open the store read-only and create nothing"')
def readers_create_nothing(n):
    rx = mkrx("readonly")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    before = tree(rx)
    for args in (["status"], ["status", "--json"], ["audit", "verify"], ["audit", "verify", "--rebuild"]):
        p = R(rx, *args)
        need(p.rc == 0, f"{args}: {p}")
    after = tree(rx)
    diff = [k for k in set(before) | set(after) if before.get(k) != after.get(k)]
    need(not diff, f"status/audit changed or created: {diff[:5]}")
    # on a read-only copy (chmod; as root a ro bind mount would be needed: noted)
    if os.geteuid() == 0:
        n.append("running as root: read-only permission not enforced, checked 'create nothing' only")


@case('"`status` and `audit verify` ... work on a read-only copy of the data folder" (read-only bind mount)')
def readonly_mount(n):
    rx = mkrx("romount")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    if os.geteuid() != 0 or shutil.which("mount") is None:
        n.append("skipped: needs root for a read-only bind mount")
        return
    v = rx + "/var"
    p = subprocess.run(["mount", "--bind", v, v], capture_output=True)
    if p.returncode != 0:
        n.append(f"skipped: bind mount refused ({p.stderr.decode().strip()[:80]})")
        return
    try:
        p2 = subprocess.run(["mount", "-o", "remount,bind,ro", v], capture_output=True)
        if p2.returncode != 0:
            n.append("skipped: ro remount refused")
            return
        for args in (["status"], ["audit", "verify"]):
            p = R(rx, *args)
            need(p.rc == 0, f"{args} on a read-only data folder: {p}")
    finally:
        subprocess.run(["umount", v], capture_output=True)


@case('"`check` changes nothing" + "check FILE [--json]  validate an archive, print what its response would say" + "| 0 | ... `check` printed its answer, ACK or NAK |"')
def check_nochange(n):
    rx = mkrx("check")
    b1, b2 = bid(1), bid(2)
    good, bad = pay(b1, ["100000000001"]), pay(b2, ["100000000002"], key=None)
    g, bb = keep(rx, b1, good), keep(rx, b2, bad)
    before = tree(rx)
    pg = R(rx, "check", g)
    pb = R(rx, "check", bb)
    pj = R(rx, "check", g, "--json")
    need(pg.rc == 0 and pb.rc == 0 and pj.rc == 0, f"check exit codes {pg.rc} {pb.rc} {pj.rc}: {pb}")
    json.loads(pj.out)
    after = tree(rx)
    changed = [k for k in set(before) | set(after) if before.get(k) != after.get(k) and not k.endswith(("reestr.db", "/var", "/tmp", "reestr.lock"))]
    need(not changed, f"check changed {changed[:5]}")
    need(q(rx, "SELECT count(*) FROM deliveries") == [(0,)] and q(rx, "SELECT count(*) FROM payments") == [(0,)], "check applied something")
    need("ACK" in pg.out and "B05" in pb.out, "check did not print ACK / the NAK code")
    # what check says is what run answers
    run_one(rx, b1, good)
    ctl = resp(rx, b1, "ACK")["control_raw"].decode()
    need(ctl.strip() in pg.out, "check's control.txt differs from the response run wrote")


@case('"replay FILE --out DIR [--json]  ... write the response into DIR, say whether it equals the response that was sent" + "| 0 | ... `replay` reproduced the sent bytes |"')
def replay_equal(n):
    rx = mkrx("replay")
    b = bid(1)
    data = pay(b, ["100000000001", "100000000002"])
    run_one(rx, b, data)
    run_one(rx, bid(2), pay(bid(2), ["100000000003"]))  # later batch changes the books
    a = keep(rx, b, data)
    os.makedirs(rx + "/rp")
    before_tmp = set(os.listdir(rx + "/var/tmp"))
    p = R(rx, "replay", a, "--out", rx + "/rp", "--json")
    need(p.rc == 0, f"{p}")
    d = json.loads(p.out)
    need(d.get("identical") is True, f"not identical: {d}")
    name = lib.resp_name(b, "ACK")
    need(open(rx + "/rp/" + name, "rb").read() == open(rx + "/outbox/" + name, "rb").read(), "replayed bytes differ from sent")
    need(set(os.listdir(rx + "/var/tmp")) == before_tmp, "replay left files in var/tmp")
    p = R(rx, "replay", a, "--out", rx + "/rp")
    need(p.rc == 0 and re.search(r"identical|equal|same", p.out, re.I), f"text replay does not say it equals: {p}")


@case('"(an archive never received is computed against the current store)" + "| 0 | ... (or computed a batch never received against the current store) |"')
def replay_never_received(n):
    rx = mkrx("replaynew")
    b = bid(5)
    a = keep(rx, b, pay(b, ["100000000005"]))
    os.makedirs(rx + "/rp")
    p = R(rx, "replay", a, "--out", rx + "/rp", "--json")
    need(p.rc == 0, f"{p}")
    need(os.path.exists(rx + "/rp/" + lib.resp_name(b, "ACK")), "no response written")
    need(q(rx, "SELECT count(*) FROM payments") == [(0,)], "replay applied the batch")
    n.append(f"replay of a never-received archive: {json.loads(p.out).get('received_before')=}")


@case('"Replay of a signed batch needs the partner key that was used ...; if the configured key has changed since, replay says so instead of producing a different signature" + "| 1 | ... `replay` produced different bytes or could not run |"')
def replay_key_changed(n):
    rx = mkrx("replaykey")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    a = keep(rx, b, data)
    open(rx + "/keys/MUNIS.key", "w").write("11" * 32 + "\n")
    os.makedirs(rx + "/rp")
    p = R(rx, "replay", a, "--out", rx + "/rp")
    need(p.rc == 1, f"replay after key change: {p}")
    need(re.search(r"key", p.out + p.err, re.I), f"replay does not say the key changed: {p}")


@case('"Replay judges under the configuration of the time: the receiver\'s code, the sender\'s types and key, and ... the §3 limits are journaled with each delivery, and a replay uses them"')
def replay_config_of_time(n):
    rx = mkrx("replaycfg")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    a = keep(rx, b, data)
    set_cfg(rx, cfg_text(rx).replace("[partners.MUNIS]", "[limits]\nmax_entries = 3\n[partners.MUNIS]\ntypes = [\"REV\"]"))
    os.makedirs(rx + "/rp")
    p = R(rx, "replay", a, "--out", rx + "/rp", "--json")
    need(p.rc == 0 and json.loads(p.out).get("identical") is True, f"replay under changed limits/types: {p}")
    # and check under the new config answers differently (the config is in force)
    p = R(rx, "check", a)
    n.append("check under new config (already ACKed bytes): " + p.out.splitlines()[0][-60:])


@case('"Each delivery journals the engine version that answered it"')
def engine_version_journaled(n):
    rx = mkrx("engver")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    ver = R(None, "--version", config=False).out.split()[-1]
    bodies = [json.loads(bd) for _, k, bd in journal(rx) if k == "delivery"]
    need(bodies and ver in json.dumps(bodies[0]), f"delivery journal body lacks engine version {ver}: {bodies}")
    need(q(rx, "SELECT value FROM meta WHERE key='engine_version'") == [(ver,)] or ver in str(q(rx, "SELECT * FROM meta")), "meta engine_version")


# ---------------------------------------------------------------- audit
def audited(name):
    rx = mkrx(name)
    b1, b2 = bid(1), bid(2)
    run_one(rx, b1, pay(b1, ["100000000001", "100000000002"], inv="A", amount="10.00"))
    run_one(rx, b2, pay(b2, ["100000000003"], inv="B", amount="20.00"))
    return rx


def tamper_found(name, what, sqls, args=("audit", "verify")):
    """An audited history whose store `sqls` edit: `args` must exit 1. Returns the folder."""
    rx = audited(name)
    dbw(rx, *sqls)
    p = R(rx, *args)
    need(p.rc == 1, f"{what} not found: {p}")
    return rx


@case('"audit verify [--json] [--rebuild]  verify the journal\'s chain, every kept file ..." + "| 0 | ... `audit verify` found nothing |"')
def audit_clean(n):
    rx = audited("auditok")
    for args in (["audit", "verify"], ["audit", "verify", "--rebuild"], ["audit", "verify", "--json"]):
        p = R(rx, *args)
        need(p.rc == 0, f"{args} on a clean history: {p}")
    need(json.loads(R(rx, "audit", "verify", "--json").out).get("problems") in ([], None), "json problems not empty")


@case('"(and no file in a kept folder it does not name ...)" + "| 1 | ... `audit verify` found problems |"')
def audit_extra_file(n):
    rx = audited("auditextra")
    open(rx + "/var/sent/" + "0" * 64 + ".zip", "wb").write(b"x")
    p = R(rx, "audit", "verify")
    need(p.rc == 1 and "0" * 64 in (p.out + p.err), f"extra file in sent/ not found/named: {p}")


@case('"every kept file against it"')
def audit_kept_file(n):
    rx = audited("auditkept")
    f = sorted(os.listdir(rx + "/var/received"))[0]
    with open(rx + "/var/received/" + f, "ab") as fh:
        fh.write(b"\0")
    p = R(rx, "audit", "verify", "--json")
    need(p.rc == 1 and json.loads(p.out).get("problems"), f"altered received/ file not found: {p}")


@case('"balances equal to the payments not reversed"')
def audit_balances(n):
    tamper_found("auditbal", "balance tampering",
                 ["UPDATE balances SET paid = paid + 1 WHERE invoice_no = '10000000000000000001'"])


@case('"a payment REVERSED exactly when a reversal is recorded on it"')
def audit_reversed(n):
    tamper_found("auditrev", "REVERSED without reversal",
                 ["UPDATE payments SET state='REVERSED' WHERE payment_id='100000000003'",
                  "UPDATE balances SET paid = paid - 2000 WHERE invoice_no='10000000000000000002'"])


@case('"invoices equal to the kept exports loaded again in journal order"')
def audit_invoices(n):
    tamper_found("auditinv", "invoice tampering",
                 ["UPDATE invoices SET amount_due = amount_due + 100 WHERE invoice_no='10000000000000000003'"])


@case('"With --rebuild ... It finds a payment moved to another invoice or edited, with the balances changed to match, which the sums alone cannot see."')
def audit_rebuild_moved(n):
    rebuild = ("audit", "verify", "--rebuild")
    # move payment 100000000003 (B, 20.00) to invoice C, balances to match
    rx = tamper_found("auditmove", "--rebuild: a moved payment",
                      ["UPDATE payments SET invoice_no='10000000000000000003' WHERE payment_id='100000000003'",
                       "DELETE FROM balances WHERE invoice_no='10000000000000000002'",
                       "INSERT INTO balances(invoice_no, paid) VALUES('10000000000000000003', 2000)"], rebuild)
    pl = R(rx, "audit", "verify")
    n.append(f"plain audit verify on the moved payment: exit {pl.rc}")
    tamper_found("auditedit", "--rebuild: an edited payer_name",
                 ["UPDATE payments SET payer_name='Someone Else' WHERE payment_id='100000000001'"], rebuild)


# ---------------------------------------------------------------- status
@case('"status ... what waits in the inbox and why (ready, settling, held behind an earlier batch, bad name, temporary name, folder, link, special: a FIFO, socket or device)" + "links and those are logged at warning level"')
def status_kinds(n):
    rx = mkrx("statkinds", settle=30)
    d = rx + "/inbox/"
    drop(rx, bid(1, date="20261120") + ".zip", pay(bid(1, date="20261120"), ["1"]), age=None)  # settling
    drop(rx, bid(2, date="20261120") + ".zip", pay(bid(2, date="20261120"), ["2"]), age=100)   # held
    drop(rx, bid(3, date="20261125") + ".zip", pay(bid(3, date="20261125"), ["3"]), age=100)   # later: held too
    drop(rx, "x.part", b"x")
    drop(rx, ".hidden", b"x")
    os.mkdir(d + "folder")
    os.symlink("/etc/hostname", d + bid(9) + ".zip")
    os.mkfifo(d + bid(8) + ".zip")
    drop(rx, "bad name.zip", b"x")
    p = R(rx, "status", "--json")
    need(p.rc == 0, f"{p}")
    st = {w["name"]: w.get("state") for w in json.loads(p.out)["waiting"]}
    want = {bid(1, date="20261120") + ".zip": "settling", bid(2, date="20261120") + ".zip": "held",
            "x.part": "temporary", ".hidden": "temporary", "folder": "folder", bid(9) + ".zip": "link",
            bid(8) + ".zip": "special", "bad name.zip": "bad name"}
    for k, v in want.items():
        need(v in (st.get(k) or ""), f"status shows {k} as {st.get(k)!r}, want {v!r}")
    pt = R(rx, "status")
    for word in ("settling", "link", "special", "folder", "temporary"):
        need(word in pt.out, f"text status lacks {word!r}")
    need(re.search(r"WARN.*link", pt.err) and re.search(r"WARN.*(FIFO|special|regular)", pt.err), f"link/FIFO not logged at warning: {pt.err!r}")
    # ready
    rx2 = mkrx("statready", settle=0)
    drop(rx2, bid(1) + ".zip", pay(bid(1), ["1"]))
    st2 = json.loads(R(rx2, "status", "--json").out)["waiting"]
    need(st2 and st2[0].get("ready") is True and "ready" in str(st2[0].get("state")), f"ready file shown as {st2}")


@case('"Inbox: names ending `.part` and dot-files ... are left alone; so are folders, symbolic links, and FIFOs, sockets and devices, which are never opened"')
def inbox_left_alone(n):
    rx = mkrx("leftalone")
    d = rx + "/inbox/"
    drop(rx, bid(1) + ".zip.part", pay(bid(1), ["1"]))
    drop(rx, "." + bid(2) + ".zip", pay(bid(2), ["2"]))
    os.mkdir(d + bid(3) + ".zip")
    tgt = rx + "/target.zip"
    open(tgt, "wb").write(pay(bid(4), ["100000000004"]))
    os.symlink(tgt, d + bid(4) + ".zip")
    os.mkfifo(d + bid(5) + ".zip")
    before = inbox(rx)
    # a FIFO that is opened would block the run: the timeout catches that
    p = R(rx, "run", timeout=30)
    need(p.rc == 0, f"{p}")
    need(inbox(rx) == before, f"inbox changed: {inbox(rx)} vs {before}")
    need(outbox(rx) == {} and q(rx, "SELECT count(*) FROM set_aside") == [(0,)], "something answered or set aside")


@case('"missing sequence numbers (as runs: 002, 005-009)"')
def status_gaps(n):
    rx = mkrx("gaps")
    for s in (1, 3, 4, 10):
        drop(rx, bid(s) + ".zip", pay(bid(s), ["1000000000%02d" % s]))
    R(rx, "run")
    p = R(rx, "status")
    need(re.search(r"002, 005-009", p.out), f"gaps not shown as runs '002, 005-009': {p.out[-400:]!r}")
    gj = json.loads(R(rx, "status", "--json").out)["gaps"]
    need(gj, f"gaps empty in --json")


@case('"days with PAY but no REC" + "rec_due_hour = 12  # status flags a day with PAY but no REC after this hour next day"')
def status_missing_rec(n):
    rx = mkrx("norec")
    run_one(rx, bid(1), pay(bid(1), ["100000000001"]))
    d = json.loads(R(rx, "status", "--json").out)
    need(any("2026-11-21" in json.dumps(x) for x in d["missing_rec"]), f"2026-11-21 PAY without REC not flagged: {d['missing_rec']}")
    need("2026-11-21" in R(rx, "status").out.split("last batches")[-1] or "REC" in R(rx, "status").out, "text status does not flag it")
    rec = lib.build_archive(bid(1, "REC"), lib.registry("REC", [lib.rec_row("100000000001", "1.00")]))
    run_one(rx, bid(1, "REC"), rec)
    d = json.loads(R(rx, "status", "--json").out)
    need(not any("2026-11-21" in json.dumps(x) for x in d["missing_rec"]), f"still flagged after REC: {d['missing_rec']}")
    # rec_due_hour: a PAY for today is not yet due
    today = time.strftime("%Y%m%d", time.gmtime(time.time() + 5 * 3600))
    b = bid(1, date=today)
    run_one(rx, b, pay(b, ["100000000009"], created=time.strftime("%Y-%m-%dT23:00:00+05:00", time.gmtime(time.time() + 5 * 3600))))
    d = json.loads(R(rx, "status", "--json").out)
    tday = f"{today[:4]}-{today[4:6]}-{today[6:]}"
    need(not any(tday in json.dumps(x) for x in d["missing_rec"]), f"today's PAY flagged before rec_due_hour next day: {d['missing_rec']}")


@case('"status [--last N] [--json] ... the last batches"')
def status_last(n):
    rx = mkrx("statlast")
    for s in (1, 2, 3):
        drop(rx, bid(s) + ".zip", pay(bid(s), ["1000000000%02d" % s]))
    R(rx, "run")
    d = json.loads(R(rx, "status", "--last", "2", "--json").out)
    need(len(d["recent"]) == 2 and d["recent"][0]["batch_id"] == bid(3), f"--last 2: {d['recent']}")
    p = R(rx, "status", "--last", "1")
    need(p.out.count("MUNIS_SUDBILLING_PAY") == 1, f"--last 1 text shows {p.out.count('MUNIS_SUDBILLING_PAY')} batches")


# ---------------------------------------------------------------- release
@case('"release FILE [--as NAME] ... FILE is the name it arrived under, its kept name in set-aside/ (a path is reduced to its last part), or 8+ hex digits of its SHA-256; it goes back under the name it arrived under ... or NAME" + "(recorded in the journal)"')
def release_forms(n):
    rx = mkrx("release")
    b = bid(1)
    data = pay(b, ["100000000001"])
    h = hashlib.sha256(data).hexdigest()
    drop(rx, "payments.zip", data)
    R(rx, "run")
    need(os.path.exists(rx + f"/var/set-aside/{h}.bin"), "not set aside under <sha256>.bin")
    p = R(rx, "release", "payments.zip")
    need(p.rc == 0 and inbox(rx) == ["payments.zip"], f"release by arrival name: {p} {inbox(rx)}")
    R(rx, "run")
    p = R(rx, "release", f"/some/where/set-aside/{h}.bin")
    need(p.rc == 0 and inbox(rx) == ["payments.zip"], f"release by kept name with a path: {p} {inbox(rx)}")
    R(rx, "run")
    p = R(rx, "release", h[:8], "--as", b + ".zip")
    need(p.rc == 0 and inbox(rx) == [b + ".zip"], f"release by 8 hex digits --as: {p} {inbox(rx)}")
    p = R(rx, "run")
    need(os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), f"released archive not answered: {p}")
    kinds = [k for _, k, _ in journal(rx)]
    need(kinds.count("release") == 3 and kinds.count("set_aside") == 3, f"journal kinds {kinds}")
    p = R(rx, "release", h[:7])
    need(p.rc != 0, "7 hex digits accepted")
    n.append(f"release with 7 hex digits: exit {p.rc}")


@case('"A name that is not UTF-8 is recorded with U+FFFD for its invalid bytes, and its exact bytes are kept in hex beside it (`original_name_bytes`, in the reason file and the journal)" + release "(a name that was not UTF-8 in its readable form, U+FFFD for the bad bytes)"')
def nonutf8_name(n):
    rx = mkrx("nonutf8")
    raw = b"MUNIS\xff_x.zip"
    drop(rx, raw, b"junk")
    p = R(rx, "run")
    need(p.rc == 0, f"{p}")
    rs = [f for f in os.listdir(rx + "/var/set-aside") if f.endswith(".reason.json")]
    need(len(rs) == 1 and re.fullmatch(r"[0-9a-f]{64}\.\d+\.reason\.json", rs[0]), f"reason file {rs}")
    rj = json.load(open(rx + "/var/set-aside/" + rs[0]))
    need(rj.get("original_name") == "MUNIS\ufffd_x.zip", f"original_name {rj.get('original_name')!r}")
    need(rj.get("original_name_bytes") == raw.hex(), f"original_name_bytes {rj.get('original_name_bytes')!r}")
    sa = [json.loads(bd) for _, k, bd in journal(rx) if k == "set_aside"]
    need(sa and sa[0].get("original_name_bytes") == raw.hex(), f"journal set_aside lacks original_name_bytes: {sa}")
    p = R(rx, "release", hashlib.sha256(b"junk").hexdigest()[:12])
    need(p.rc == 0 and os.listdir(rx.encode() + b"/inbox") == ["MUNIS\ufffd_x.zip".encode()], f"released as {os.listdir(rx.encode() + b'/inbox')}")


# ---------------------------------------------------------------- settle / run waits / signals
@case('"(so `cp archive inbox/ && reestr run` answers the archive, after the settle time)"')
def cp_then_run(n):
    rx = mkrx("cprun", settle=2, wait=None)
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]), age=None)
    p = R(rx, "run")
    need(p.rc == 0 and os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), f"fresh copy not answered: {p}")
    need(p.secs >= 1.5, f"answered after {p.secs:.1f}s, before settle_seconds=2")


@case('"settle_seconds = 5  # a file changed more recently is not taken yet (default 5)"')
def settle_default(n):
    rx = mkrx("settledef", settle=None, wait=1)
    b1 = bid(1)
    drop(rx, b1 + ".zip", pay(b1, ["100000000001"]), age=2)
    p = R(rx, "run")
    need(p.rc == 0 and inbox(rx) == [b1 + ".zip"] and "LEFT" in p.out, f"file changed 2s ago taken with default settle: {p}")
    os.utime(rx + "/inbox/" + b1 + ".zip", (time.time() - 7, time.time() - 7))
    p = R(rx, "run")
    need(inbox(rx) == [] and os.path.exists(rx + "/outbox/" + lib.resp_name(b1, "ACK")), f"file changed 7s ago not taken: {p}")


@case('"names any it leaves for the next run (a line `LEFT` on stdout; `left`, and `held` for batches waiting behind one of them, in `--json`; exit code 0)" + "`status` shows the later one as `held`"')
def run_left_held(n):
    rx = mkrx("left", settle=30, wait=1)
    b1, b2 = bid(1), bid(2)
    drop(rx, b1 + ".zip", pay(b1, ["100000000001"]), age=None)
    drop(rx, b2 + ".zip", pay(b2, ["100000000002"]), age=100)
    p = R(rx, "run", "--json")
    need(p.rc == 0, f"{p}")
    d = json.loads(p.out)
    need(b1 in json.dumps(d["left"]) and b2 in json.dumps(d["held"]), f"left/held: {d}")
    need(outbox(rx) == {} and inbox(rx) == [b1 + ".zip", b2 + ".zip"], "something answered")
    p = R(rx, "run")
    need(p.rc == 0 and any("LEFT" in l and b1 in l for l in p.out.splitlines()), f"no LEFT line naming {b1}: {p.out!r}")


@case('"a `.zip` that stays unreadable for `unreadable_grace_seconds` is taken anyway and answered `B01`"')
def unreadable_grace(n):
    rx = mkrx("grace", settle=0, grace=1, wait=4)
    b = bid(1)
    drop(rx, b + ".zip", b"PK\x03\x04 not a zip at all", age=None)
    p = R(rx, "run")
    need(p.rc == 0, f"{p}")
    r = resp(rx, b, "NAK")
    need(r["ctl"]["error"] == "B01", f"code {r['ctl']['error']}")


@case('"On SIGINT or SIGTERM ... `run` stops the same way, also while it waits for files to settle, and exits 1. Either way the next start answers the batch, with the same bytes."')
def sigterm_run(n):
    rx = mkrx("sigrun", settle=4, wait=20)
    b = bid(1)
    data = pay(b, ["100000000001"])
    drop(rx, b + ".zip", data, age=None)
    proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    need(proc.poll() is None, f"run did not wait for the settling file (exit {proc.poll()})")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    need(proc.returncode == 1, f"run on SIGTERM while settling exited {proc.returncode}")
    need(inbox(rx) == [b + ".zip"] and outbox(rx) == {}, "batch not left in inbox untouched")
    os.utime(rx + "/inbox/" + b + ".zip", (time.time() - 60, time.time() - 60))
    p = R(rx, "run")
    need(p.rc == 0 and os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), f"next run: {p}")


@case('"watch  handle archives as they arrive, until SIGINT/SIGTERM" + "`watch` exits 0"')
def watch_sigterm(n):
    rx = mkrx("watch", extra="rescan_seconds = 1")
    proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        b = bid(1)
        p = os.path.join(rx, "inbox", b + ".zip")
        open(p + ".part", "wb").write(pay(b, ["100000000001"]))
        os.rename(p + ".part", p)
        ok = wait_for(lambda: os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), 15)
        need(ok, "watch did not answer an arriving archive within 15 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    need(proc.returncode == 0, f"watch exited {proc.returncode} on SIGTERM: {err[-300:]!r}")


@case('"When `metrics_file` is set, every `run` ... writes a Prometheus textfile-collector file ...: reestr_batches_total{result}, reestr_rows_total{status}, reestr_inbox_waiting, reestr_run_duration_seconds, reestr_last_success_timestamp_seconds ... the one file written with mode 0644"')
def metrics(n):
    rx = mkrx("metrics", extra='metrics_file = "metrics/reestr.prom"', init=False)
    os.makedirs(rx + "/metrics")
    R(rx, "init")
    b = bid(1)
    p = run_one(rx, b, pay(b, ["100000000001"]))
    f = rx + "/metrics/reestr.prom"
    need(os.path.exists(f), f"no metrics file: {p}")
    t = open(f).read()
    for m in ("reestr_batches_total{result", "reestr_rows_total{status", "reestr_inbox_waiting",
              "reestr_run_duration_seconds", "reestr_last_success_timestamp_seconds"):
        need(m in t, f"metrics lack {m}")
    need(stat.S_IMODE(os.stat(f).st_mode) == 0o644, f"metrics mode {oct(stat.S_IMODE(os.stat(f).st_mode))}")
    need(not [x for x in os.listdir(rx + "/metrics") if x != "reestr.prom"], "temporary file left beside metrics")


# ---------------------------------------------------------------- configuration
@case('"max_field_bytes = 1048576  # ... at least 2000" + "A configuration whose `max_field_bytes` is below ... (2000 with the built-in ones ...) is refused, naming the field"')
def max_field_bytes_min(n):
    rx = mkrx("mfb", limits={"max_field_bytes": 1999}, init=False)
    p = R(rx, "init")
    need(p.rc == 3 and "max_field_bytes" in p.err, f"max_field_bytes=1999: {p}")
    need("purpose" in p.err or "PAY" in p.err, f"refusal does not name the field (PAY purpose): {p.err!r}")
    set_cfg(rx, cfg_text(rx).replace("1999", "2000"))
    p = R(rx, "init")
    need(p.rc == 0, f"max_field_bytes=2000 refused: {p}")


@case('"a configuration that still names it [max_record_bytes] is refused with a hint"')
def max_record_bytes(n):
    rx = mkrx("mrb", limits={"max_record_bytes": 16777216}, init=False)
    p = R(rx, "init")
    need(p.rc == 3 and "max_record_bytes" in p.err, f"{p}")
    need(re.search(r"max_field_bytes|gone|removed|no longer", p.err), f"no hint: {p.err!r}")


@case('"| 3 | could not run: configuration ..." (malformed TOML, unknown receiver key type)')
def config_errors(n):
    rx = mkrx("cfgerr")
    good = cfg_text(rx)
    set_cfg(rx, good + "\nthis is not toml = = \n")
    p = R(rx, "run")
    need(p.rc == 3, f"malformed TOML: {p}")
    set_cfg(rx, good.replace("settle_seconds = 0", 'settle_seconds = "five"'))
    p = R(rx, "run")
    need(p.rc == 3, f"settle_seconds as a string: {p}")


@case('"types = [\\"PAY\\", \\"REV\\", \\"REC\\"]  # optional; default the agreement\'s three" + B10 "sender, receiver or type not configured"')
def partner_types(n):
    rx = mkrx("types", partner='types = ["PAY"]\n')
    b = bid(1, "REV")
    code, r, p = nakcode(rx, b, lib.rev(b, [("100000000001", "1.00")]))
    need(code == "B10", f"REV with types=[PAY]: {code}")
    rx2 = mkrx("typesdef")
    code, r, p = nakcode(rx2, b, lib.rev(b, [("100000000001", "1.00")]))
    need(code == "ACK", f"REV with default types: {code}")


@case('"key_file = ... # optional; 64 hex digits; when set, HMAC is required both ways"')
def key_both_ways(n):
    rx = mkrx("keyboth")
    b1, b2 = bid(1), bid(2)
    code, r, _ = nakcode(rx, b1, pay(b1, ["100000000001"], key=None))
    need(code == "B05", f"unsigned archive with key set: {code}")
    code, r, _ = nakcode(rx, b2, pay(b2, ["100000000002"]))
    need(code == "ACK" and "manifest.sha256.hmac" in r["entries"], f"ACK not signed: {r['entries']}")
    need(r["files"]["manifest.sha256.hmac"].strip() == hmac.new(KEY, r["files"]["manifest.sha256"], hashlib.sha256).hexdigest().encode(), "response HMAC wrong")
    rx2 = mkrx("keynone", key=False)
    code, r, _ = nakcode(rx2, b2, pay(b2, ["100000000002"]))  # carries an HMAC entry: ignored
    need(code == "ACK" and "manifest.sha256.hmac" not in r["entries"], f"no key: {code} {r['entries']}")


@case('"A key file must not be writable by others than its owner ...: mode 0664 and the like are refused at start with a message naming the file. One readable by others (0644, or 0444 ...) is used, with a warning at every start: `chmod 600 keys/MUNIS.key`"')
def key_modes(n):
    rx = mkrx("keymode")
    k = rx + "/keys/MUNIS.key"
    for mode in (0o664, 0o666, 0o602):
        os.chmod(k, mode)
        p = R(rx, "run")
        need(p.rc == 3 and "MUNIS.key" in p.err, f"mode {oct(mode)}: {p}")
    for mode in (0o644, 0o444):
        os.chmod(k, mode)
        p = R(rx, "run")
        need(p.rc == 0 and re.search(r"chmod 600 \S*keys/MUNIS\.key", p.err), f"mode {oct(mode)}: {p}")
        p = R(rx, "status")
        need(p.rc == 0 and "chmod 600" in p.err, f"mode {oct(mode)}: no warning at status start: {p}")


@case('"Keys never appear in logs, the journal or error messages; the journal records a SHA-256 fingerprint of the key used."')
def key_secrecy(n):
    rx = mkrx("keysecret")
    b1, b2 = bid(1), bid(2)
    ps = [run_one(rx, b1, pay(b1, ["100000000001"])), run_one(rx, b2, pay(b2, ["100000000002"], key=None)),
          R(rx, "--log-format", "json", "audit", "verify", "--rebuild"), R(rx, "status")]
    open(rx + "/keys/MUNIS.key", "w").write(KEY_HEX[:-1] + "\n")  # 63 hex digits
    pbad = R(rx, "run")
    need(pbad.rc == 3 and "MUNIS.key" in pbad.err, f"a key of 63 hex digits: {pbad}")
    ps.append(pbad)
    low = KEY_HEX.lower()
    for p in ps:
        need(low not in (p.out + p.err).lower() and low[:16] not in (p.out + p.err).lower(), "key material in output")
    bodies = " ".join(bd for _, _, bd in journal(rx)).lower()
    need(low not in bodies, "key in journal")
    fps = {"sha256(key bytes)": hashlib.sha256(KEY).hexdigest(), "sha256(hex text)": hashlib.sha256(KEY_HEX.encode()).hexdigest(),
           "sha256(file)": hashlib.sha256((KEY_HEX + "\n").encode()).hexdigest()}
    hit = [k for k, v in fps.items() if v in bodies]
    need(hit, "no SHA-256 fingerprint of the key in the journal")
    n.append(f"key fingerprint in the journal is {hit[0]}")


def schemas_rx(name):
    rx = mkrx(name, extra='schemas = "myschemas"', init=False)
    shutil.copytree(REPO + "/schemas", rx + "/myschemas")
    return rx


def edit_schema(rx, file, fn):
    p = f"{rx}/myschemas/{file}"
    d = json.load(open(p))
    fn(d)
    json.dump(d, open(p, "w"), indent=1)


@case('"What it reads must be there, and is checked when the configuration loads (exit 3 naming the schema and the field)"')
def schema_missing_field(n):
    rx = schemas_rx("schmiss")
    p = R(rx, "init")
    need(p.rc == 0, f"copy of the built-in schemas refused: {p}")
    for file, field in (("PAY.json", "payer_id"), ("REV.json", "reason"), ("REC.json", "state"), ("invoices.json", "status")):
        rx = schemas_rx("schmiss" + field)
        edit_schema(rx, file, lambda d: d.__setitem__("fields", [f for f in d["fields"] if f["name"] != field]))
        p = R(rx, "init")
        need(p.rc == 3 and file.split(".")[0] in p.err and field in p.err, f"{file} without {field}: {p}")
    rx = schemas_rx("schpurpose")
    edit_schema(rx, "PAY.json", lambda d: d.__setitem__("fields", [f for f in d["fields"] if f["name"] != "purpose"]))
    p = R(rx, "init")
    need(p.rc == 0, f"PAY without purpose (not read by the engine) refused: {p}")


@case('"an unknown key, a field named twice, ... a `name` other than the file\'s, or a `dialect` other than the agreement\'s ... stops the engine at start, naming the file"')
def schema_refusals(n):
    muts = {
        "unknown key": lambda d: d.__setitem__("colour", "red"),
        "field twice": lambda d: d["fields"].append(dict(d["fields"][-1])),
        "name": lambda d: d.__setitem__("name", "REV"),
        "dialect": lambda d: d["dialect"].__setitem__("delimiter", ","),
        "minLength on amount": lambda d: d["fields"][6]["constraints"].__setitem__("minLength", 10),
        "exclusiveMinimum on string": lambda d: d["fields"][5]["constraints"].__setitem__("exclusiveMinimum", "0.00"),
        "accountKeyOf on amount": lambda d: d["fields"][6].__setitem__("rule", {"accountKeyOf": "bank_mfo"}),
        "pattern on amount": lambda d: d["fields"][6]["constraints"].__setitem__("pattern", "9.*"),
        "pattern on datetime": lambda d: d["fields"][1]["constraints"].__setitem__("pattern", "x.*"),
    }
    accepted = []
    for k, fn in muts.items():
        rx = schemas_rx("schref" + k.replace(" ", ""))
        edit_schema(rx, "PAY.json", fn)
        p = R(rx, "init")
        if k.startswith(("unknown", "field", "name", "dialect")):
            need(p.rc == 3 and "PAY.json" in p.err, f"schema with {k}: {p}")
        elif not (p.rc == 3 and "PAY.json" in p.err):
            # accepted: then it must be done, not ignored ("What a schema says is done or refused, never ignored")
            R(rx, "invoices", "import", _inv(rx))
            b = bid(1)
            code, r, _ = nakcode(rx, b, pay(b, ["100000000001"], amount="1.00"))
            st = statuses(r) if code == "ACK" else code
            if st == [("1", "")]:
                accepted.append(f"{k} (ignored: row accepted)")
            else:
                n.append(f"{k}: accepted at start and enforced ({st})")
    need(not accepted, f"a constraint or rule neither refused at start nor done: {accepted}")


@case('"A field may be added ... An added field is checked by its rules" + "a registry in the agreement\'s header is then `B07`"')
def schema_added_field(n):
    rx = schemas_rx("schadd")
    edit_schema(rx, "PAY.json", lambda d: d["fields"].append({"name": "note", "type": "string", "constraints": {"required": False, "maxLength": 5}}))
    R(rx, "init")
    R(rx, "invoices", "import", _inv(rx))
    b1, b2 = bid(1), bid(2)
    code, r, _ = nakcode(rx, b1, pay(b1, ["100000000001"]))
    need(code == "B07", f"agreement header under a schema with an added field: {code}")
    hdr = lib.PAY_HDR + ";note"
    rows = [";".join(lib.pay_row("100000000002")) + ";ok", ";".join(lib.pay_row("100000000003")) + ";toolong"]
    reg = ("\r\n".join([hdr] + rows) + "\r\n").encode()
    code, r, _ = nakcode(rx, b2, lib.build_archive(b2, reg))
    need(code == "ACK" and statuses(r) == [("1", ""), ("202", "note")], f"added field not checked: {code} {statuses(r) if code == 'ACK' else ''}")
    cols = [c[1] for c in q(rx, "PRAGMA table_info(payments)")]
    need("note" not in cols, "added field in the store")


def _inv(rx):
    open(rx + "/invoices.csv", "wb").write(lib.invoices_csv())
    return rx + "/invoices.csv"


# ---------------------------------------------------------------- exit codes
@case('"| 3 | could not run: ... store (corrupt, from a newer engine ...); an archive in hand was not applied and stays in the inbox |"')
def store_corrupt(n):
    rx = mkrx("corrupt")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    with open(rx + "/var/reestr.db", "r+b") as f:
        f.seek(0)
        f.write(b"garbage" * 20)
    p = R(rx, "run")
    need(p.rc == 3 and inbox(rx) == [b + ".zip"] and outbox(rx) == {}, f"corrupt store: {p}")
    rx = mkrx("newer")
    dbw(rx, "UPDATE meta SET value='99' WHERE key='schema_version'")
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    p = R(rx, "run")
    need(p.rc == 3 and inbox(rx) == [b + ".zip"], f"store from a newer engine: {p}")


@case('"| 1 | ... an archive could not be handled because of the receiver itself (it stays in the inbox for the next run) |" + "REESTR_FAIL=outbox-write|spool-create|keep-received makes that write fail"')
def receiver_failure(n):
    rx = mkrx("fail")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    for f in ("keep-received", "spool-create"):
        p = R(rx, "run", env={"REESTR_FAIL": f})
        need(p.rc == 1 and inbox(rx) == [b + ".zip"] and outbox(rx) == {}, f"REESTR_FAIL={f}: {p}")
        need(q(rx, "SELECT count(*) FROM payments") == [(0,)], f"REESTR_FAIL={f}: payments applied")
    p = R(rx, "run")
    need(p.rc == 0 and os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), f"next run: {p}")
    need("2" not in [s for s, _ in statuses(resp(rx, b, "ACK"))], "status 2 written")


@case('"A failure after the batch is committed (the outbox full or not writable) leaves the batch applied and its response kept in `sent/`; the archive stays in the inbox, `run` exits 1, and the next `run` ... writes that same response and removes the archive (`run` prints a `FINISHED` line, `finished` in `--json`)"')
def outbox_failure(n):
    rx = mkrx("outfail")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    p = R(rx, "run", env={"REESTR_FAIL": "outbox-write"})
    need(p.rc == 1 and inbox(rx) == [b + ".zip"], f"{p}")
    need(q(rx, "SELECT count(*) FROM payments") == [(1,)], "batch not applied")
    sent = os.listdir(rx + "/var/sent")
    need(len(sent) == 1, f"response not kept in sent/: {sent}")
    p = R(rx, "run", "--json")
    need(p.rc == 0 and inbox(rx) == [] and (b in json.dumps(json.loads(p.out).get("finished")) or lib.resp_name(b, "ACK") in json.dumps(json.loads(p.out).get("finished"))), f"finishing run: {p}")
    got = open(rx + "/outbox/" + lib.resp_name(b, "ACK"), "rb").read()
    need(got == open(rx + "/var/sent/" + sent[0], "rb").read(), "outbox response differs from the kept one")
    rx2 = mkrx("outfail2")
    drop(rx2, b + ".zip", pay(b, ["100000000001"]))
    R(rx2, "run", env={"REESTR_FAIL": "outbox-write"})
    p = R(rx2, "run")
    need(re.search(r"FINISHED", p.out), f"no FINISHED line: {p.out!r}")


@case('"| 1 | ... an invoice export was refused |" + "a refused billing export names `line N (row M)`" + "names every bad field of every bad line" + "nothing of it is loaded"')
def export_refused(n):
    rx = mkrx("export")
    inv1 = q(rx, "SELECT * FROM invoices ORDER BY invoice_no")
    hdr = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"
    lines = [hdr,
             "20000000000000000001;1703002;2-1/2026;P;%s;Ok;10.00;2026-01-10 10:00:00;OPEN" % lib.P1,
             '20000000000000000002;1703002;"2-1\r\n/2026";X;%s;Bad;-1;2026-01-10 10:00:00;OPEN' % lib.P1,
             "20000000000000000001;1703002;2-1/2026;P;%s;Dup;10.00;2026-01-10 10:00:00;LOST" % lib.P1]
    open(rx + "/bad.csv", "wb").write(("\r\n".join(lines) + "\r\n").encode())
    p = R(rx, "invoices", "import", rx + "/bad.csv")
    need(p.rc == 1, f"refused export exit {p.rc}")
    e = p.err + p.out
    need("line 3 (row 2)" in e, f"does not name 'line 3 (row 2)': {e[-600:]!r}")
    need("line 5 (row 3)" in e, f"does not name 'line 5 (row 3)' (physical line after a quoted line break): {e[-600:]!r}")
    for f in ("payer_type", "amount_due", "status", "invoice_no"):
        need(f in e, f"does not name field {f}: {e[-600:]!r}")
    bad_lines = [l for l in p.err.splitlines() if "line " in l and "(row" in l]
    need(len(bad_lines) >= 2, f"bad lines not each on a line of their own: {p.err!r}")
    need(q(rx, "SELECT * FROM invoices ORDER BY invoice_no") == inv1, "something of a refused export loaded")


# ---------------------------------------------------------------- what it keeps, tables
@case('"received/<sha256>.zip | every inbound archive" + "sent/<sha256>.zip | every response sent" + "imports/<sha256>.csv" + "Files and folders are created with modes 0600 and 0700."')
def kept_files(n):
    rx = mkrx("kept")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    rsp = open(rx + "/outbox/" + lib.resp_name(b, "ACK"), "rb").read()
    need(open(rx + f"/var/received/{hashlib.sha256(data).hexdigest()}.zip", "rb").read() == data, "received/<sha>.zip")
    need(open(rx + f"/var/sent/{hashlib.sha256(rsp).hexdigest()}.zip", "rb").read() == rsp, "sent/<sha>.zip")
    exp = lib.invoices_csv()
    need(open(rx + f"/var/imports/{hashlib.sha256(exp).hexdigest()}.csv", "rb").read() == exp, "imports/<sha>.csv")
    drop(rx, "junk.zip", b"junk")
    R(rx, "run")
    bad = []
    for dp, dns, fns in os.walk(rx + "/var"):
        for d in dns:
            m = stat.S_IMODE(os.stat(os.path.join(dp, d)).st_mode)
            if m != 0o700:
                bad.append((d, oct(m)))
        for f in fns:
            m = stat.S_IMODE(os.stat(os.path.join(dp, f)).st_mode)
            if m != 0o600:
                bad.append((f, oct(m)))
    need(not bad, f"modes: {bad[:5]}")
    need(stat.S_IMODE(os.stat(rx + "/var").st_mode) == 0o700, "data folder not 0700")


@case('"Nothing is ever deleted or overwritten there." (kept files across a NAK, a re-delivery and a newer response)')
def nothing_deleted(n):
    rx = mkrx("nodelete")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"], key=None))   # NAK
    snap = {k: v for k, v in tree(rx + "/var").items() if "/tmp" not in k and not k.endswith(("reestr.db", "reestr.lock"))}
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)   # ACK
    run_one(rx, b, data)   # resend
    now = tree(rx + "/var")
    for k, v in snap.items():
        need(k in now and (now[k][:1] == v[:1]), f"{k} removed or changed")


@case('"Tables (for sqlite3 var/reestr.db)": invoices, balances, invoices_paid (view), payments, payment_days, deliveries, set_aside, imports, journal, meta')
def tables(n):
    rx = mkrx("tables")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"], amount="12.34"))
    drop(rx, "junk.zip", b"x")
    R(rx, "run")
    objs = dict(q(rx, "SELECT name, type FROM sqlite_master WHERE type IN ('table','view')"))
    for t in ("invoices", "balances", "payments", "payment_days", "deliveries", "set_aside", "imports", "journal", "meta"):
        need(objs.get(t) == "table", f"table {t}: {objs.get(t)}")
    need(objs.get("invoices_paid") == "view", "invoices_paid is not a view")
    cols = lambda t: [c[1] for c in q(rx, f"PRAGMA table_info({t})")]
    for t, cs in {"balances": ["paid"], "payment_days": ["first_rowid", "last_rowid"],
                  "payments": ["batch_id", "line", "journal_seq", "state", "reversed_at", "reverse_reason", "reversed_batch_id", "reversed_journal_seq"],
                  "deliveries": ["batch_id", "result", "code", "resent_of", "state"],
                  "journal": ["seq", "recorded_at", "kind", "body", "prev_hash", "hash"],
                  "invoices_paid": ["paid"]}.items():
        miss = [c for c in cs if c not in cols(t)]
        need(not miss, f"{t} lacks {miss} (has {cols(t)})")
    meta = dict(q(rx, "SELECT * FROM meta"))
    need(str(meta.get("schema_version")) == "3" and meta.get("engine_version"), f"meta {meta}")
    need(q(rx, "SELECT paid FROM balances") == [(1234,)], f"balances.paid not tiyin: {q(rx, 'SELECT paid FROM balances')}")
    need(q(rx, "SELECT paid FROM invoices_paid WHERE invoice_no='10000000000000000002'") == [(0,)], "invoices_paid.paid not 0 when absent")
    need(q(rx, "SELECT count(*) FROM balances WHERE invoice_no='10000000000000000002'") == [(0,)], "a balance row for an unpaid invoice")
    amt = q(rx, "SELECT amount, paid_at FROM payments")[0]
    need(amt[0] == 1234 and isinstance(amt[0], int) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", amt[1]), f"payment amount/datetime {amt}")
    need(q(rx, "SELECT state FROM deliveries") == [("done",)], f"deliveries.state {q(rx, 'SELECT state FROM deliveries')}")
    kinds = {k for _, k, _ in journal(rx)}
    need(kinds <= {"import", "delivery", "resend", "set_aside", "release"} and {"import", "delivery", "set_aside"} <= kinds, f"journal kinds {kinds}")
    ra = q(rx, "SELECT recorded_at FROM journal LIMIT 1")[0][0]
    n.append(f"journal recorded_at form: {ra!r}")


@case('"The store ...: SQLite with a rollback journal and `synchronous=EXTRA` ..., 16 KiB pages for new stores"')
def store_pragmas(n):
    rx = mkrx("pragmas")
    c = db(rx)
    jm = c.execute("PRAGMA journal_mode").fetchone()[0]
    ps = c.execute("PRAGMA page_size").fetchone()[0]
    c.close()
    need(jm.lower() != "wal" and ps == 16384, f"journal_mode {jm}, page_size {ps}")


@case('"Every field of an applied payment stays in `payments` (payer name, purpose, account, bank, as well as the keys and amounts)"')
def payments_fields(n):
    rx = mkrx("payfields")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    c = db(rx)
    c.row_factory = sqlite3.Row
    row = dict(c.execute("SELECT * FROM payments").fetchone())
    c.close()
    vals = [str(v) for v in row.values()]
    exp = lib.pay_row("100000000001", amount="1.00")
    for v in exp:
        if v in ("1.00",):
            continue
        need(v in vals, f"payment field value {v!r} not stored: {row}")


# ---------------------------------------------------------------- decisions: zip layer
@case('"Entry names that are empty, hold a control character ..., or look like a drive path (`C:x`) are unsafe (`B02`); a name that is not UTF-8 is simply not an allowed name (`B03`)"')
def entry_names(n):
    rx = mkrx("names")
    for i, (nm, want) in enumerate([(b"", "B02"), (b"reg\x01.csv", "B02"), (b"reg\x7f", "B02"), ("C:x", "B02"),
                                     ("x\u0085y", "B02"), (b"registr\xff.csv", "B03")]):
        b = bid(10 + i)
        files = good_files(b) + [(nm, b"x")]
        code, r, _ = nakcode(rx, b, zentries(files))
        need(code == want, f"entry name {nm!r}: {code} {r['ctl'].get('message')!r}, want {want}")


@case('"Flag bits that change how an entry\'s bytes are read are `B02` ...: bit 6 ... and bit 13 ..., even without bit 0, and bit 5"')
def flag_bits(n):
    rx = mkrx("flags")
    for i, bit in enumerate((5, 6, 13)):
        b = bid(20 + i)
        ents = [dict(name=nm, data=d) for nm, d in good_files(b)]
        ents[1]["flags"] = 1 << bit
        code, r, _ = nakcode(rx, b, zipraw.build(ents))
        need(code == "B02", f"flag bit {bit}: {code} {r['ctl'].get('message')!r}")


@case('"A fault found while the zip is read (B01, B02) ... the message starts with its name, and names the entry too ...: `MUNIS_SUDBILLING_PAY_20261121_001.zip: entry \\"a/b\\": a name holding a path separator`"')
def b02_message(n):
    rx = mkrx("b02msg")
    b = bid(1)
    code, r, _ = nakcode(rx, b, zentries(good_files(b) + [("a/b", b"x")]))
    need(code == "B02", f"code {code}")
    msg = r["ctl"]["message"]
    need(msg == f'{b}.zip: entry "a/b": a name holding a path separator', f"message {msg!r}")


@case('"The response is deflated at level 1"')
def deflate_level1(n):
    rx = mkrx("deflate")
    b = bid(1)
    run_one(rx, b, pay(b, ["1000000000%02d" % i for i in range(1, 40)]))
    raw = open(rx + "/outbox/" + lib.resp_name(b, "ACK"), "rb").read()
    z = zipfile.ZipFile(io.BytesIO(raw))
    for info in z.infolist():
        need(info.compress_type == zipfile.ZIP_DEFLATED, f"{info.filename} not deflated")
        off = info.header_offset
        nl, el = struct.unpack("<HH", raw[off + 26:off + 30])
        comp = raw[off + 30 + nl + el: off + 30 + nl + el + info.compress_size]
        data = z.read(info.filename)
        match = [lv for lv in range(0, 10) if (lambda c: c.compress(data) + c.flush())(zlib.compressobj(lv, zlib.DEFLATED, -15)) == comp]
        n.append(f"{info.filename}: {len(data)}->{len(comp)} bytes; zlib levels giving the same bytes: {match or 'none'}")
    n.append("deflate level 1 not verifiable black-box unless the engine's deflate is zlib's: checked deflated and deterministic only")
    d2 = os.path.join(rx, "rp")
    os.makedirs(d2)
    a = keep(rx, b, pay(b, ["1000000000%02d" % i for i in range(1, 40)]))
    p = R(rx, "replay", a, "--out", d2)
    need(p.rc == 0 and open(d2 + "/" + lib.resp_name(b, "ACK"), "rb").read() == raw, f"response bytes not reproducible: {p}")


# ---------------------------------------------------------------- decisions: records
@case('"The registry\'s line limit counts bytes as they are in the file, a UTF-8 BOM in the first line included ...; a CR not followed by LF is a byte of the line"')
def line_limit(n):
    hdr_len = len(lib.PAY_HDR)
    rx = mkrx("linelim", limits={"max_line_bytes": hdr_len + 2})
    reg = lib.registry("PAY", [lib.pay_row("100000000001", purpose="", name="X", account="")])
    row_len = len(reg.split(b"\r\n")[1])
    need(row_len <= hdr_len + 2, "test row too long")
    b1, b2 = bid(1), bid(2)
    code, r, _ = nakcode(rx, b1, lib.build_archive(b1, reg))
    need(code == "ACK", f"no BOM: {code} {r['ctl'].get('message')}")
    code, r, _ = nakcode(rx, b2, lib.build_archive(b2, b"\xef\xbb\xbf" + reg))
    need(code == "B02", f"BOM pushing the header past max_line_bytes: {code}")
    # lone CR is a byte of the line: purpose of padding + CR
    rx2 = mkrx("linelimcr", limits={"max_line_bytes": hdr_len})
    short = lambda pid, pur: ";".join(lib.pay_row(pid, purpose=pur, name="X", account=""))
    pad = hdr_len - len(short("100000000003", ""))
    row = short("100000000003", "\r" + "p" * (pad - 1))
    reg = (lib.PAY_HDR + "\r\n" + row + "\n").encode()
    b3 = bid(3)
    code, r, _ = nakcode(rx2, b3, lib.build_archive(b3, reg, rows=1, total="1000.00"))
    need(code == "ACK", f"row of {hdr_len} bytes holding a lone CR (LF end) within {hdr_len}: {code} {r['ctl'].get('message')}")
    row2 = short("100000000004", "\r" + "p" * pad)
    reg = (lib.PAY_HDR + "\r\n" + row2 + "\n").encode()
    b4 = bid(4)
    code, r, _ = nakcode(rx2, b4, lib.build_archive(b4, reg, rows=1, total="1000.00"))
    need(code == "B02", f"row of {hdr_len}+1 bytes with the lone CR counted: {code} {r['ctl'].get('message')!r}")


@case('"Blank lines of control.txt ... are empty lines; a line of spaces or tabs is a line without `=` (`B06`). A CR that no LF follows ends no line ..., at the very end of the file too"')
def control_blank(n):
    rx = mkrx("ctlblank")
    base = lib.control_text(bid(1), "PAY", "utf-8", 1, "1.00")
    for i, (ctl, want) in enumerate([(b"\n\n" + base.replace(b"\nencoding", b"\n\nencoding") + b"\n", "ACK"),
                                      (base + b"  \n", "B06"), (base + b"\t\n", "B06"), (base + b"\r", "B06"),
                                      (base.replace(b"\n", b"\r\n"), "ACK")]):
        b = bid(30 + i)
        ctl = ctl.replace(bid(1).encode(), b.encode())
        code, r, _ = nakcode(rx, b, archive_with_control(b, ctl))
        need(code == want, f"control {ctl[-12:]!r}: {code} {r['ctl'].get('message')!r}, want {want}")


@case('"`rows` and `amount_total` of any width are well-formed ...: one too large ... is `B08`, not `B06`"')
def rows_width(n):
    rx = mkrx("width")
    for i, (rows, tot) in enumerate([("1" + "0" * 30, "1.00"), ("1", "9" * 40 + ".00"), ("0" * 25 + "1", "1.00")]):
        b = bid(40 + i)
        ctl = lib.control_text(b, "PAY", "utf-8", rows, tot)
        code, r, _ = nakcode(rx, b, archive_with_control(b, ctl))
        want = "ACK" if rows.startswith("0") else "B08"
        if rows.startswith("0"):
            n.append(f"rows with leading zeros ({rows[:6]}...): {code}")
            continue
        need(code == want, f"rows={rows[:8]}.. amount_total={tot[:8]}..: {code} {r['ctl'].get('message')!r}")


@case('"`created_at` with second 60 is `B06`" + "Year 0000 ... a `created_at` in it is `B06`, a registry ... datetime in it is `202` ... Year 0001 is taken." + "`created_at` years outside the zip range ... give entry times clamped to 1980-01-01 00:00:00 or 2107-12-31 23:59:58; the `created_at` text itself is copied as written"')
def created_at_edges(n):
    rx = mkrx("created")
    b = bid(1)
    code, r, _ = nakcode(rx, b, pay(b, ["100000000001"], created="2026-11-22T01:05:60+05:00"))
    need(code == "B06", f"second 60: {code}")
    b = bid(2)
    code, r, _ = nakcode(rx, b, pay(b, ["100000000002"], created="0000-11-22T01:05:00+05:00"))
    need(code == "B06", f"created_at year 0000: {code}")
    b = bid(3)
    code, r, _ = nakcode(rx, b, pay(b, ["100000000003"], paid_at="0000-11-21 10:00:00"))
    need(code == "ACK" and statuses(r) == [("202", "paid_at")], f"paid_at year 0000: {code} {statuses(r) if code == 'ACK' else ''}")
    b = bid(4)
    reg = lib.registry("PAY", [lib.pay_row("100000000004", paid_at="0001-01-01 10:00:00")])
    data = lib.build_archive(b, reg, created="0001-01-01T12:00:00+05:00")
    code, r, _ = nakcode(rx, b, data)
    need(code == "ACK" and r["ctl"]["created_at"] == "0001-01-01T12:00:00+05:00", f"year 0001: {code}")
    need(all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in r["infos"]), f"entry times not clamped to 1980: {[i.date_time for i in r['infos']]}")
    need(statuses(r)[0][0] in ("1", "304", "303", "302"), f"year-0001 paid_at row: {statuses(r)}")
    b = bid(5)
    data = lib.build_archive(b, lib.registry("PAY", [lib.pay_row("100000000005")]), created="2200-01-01T00:00:00+05:00")
    code, r, _ = nakcode(rx, b, data)
    need(code == "ACK" and r["ctl"]["created_at"] == "2200-01-01T00:00:00+05:00", f"year 2200: {code}")
    need(all(i.date_time == (2107, 12, 31, 23, 59, 58) for i in r["infos"]), f"entry times not clamped to 2107: {[i.date_time for i in r['infos']]}")
    # name dated in year 0000: set aside
    drop(rx, "MUNIS_SUDBILLING_PAY_00001121_001.zip", pay(bid(1), ["1"]))
    R(rx, "run")
    need(q(rx, "SELECT count(*) FROM set_aside WHERE original_name='MUNIS_SUDBILLING_PAY_00001121_001.zip'") == [(1,)], "year-0000 name not set aside")


@case('"Checks of B10 and B09 still read the archive, so that the response\'s `created_at` follows §8 (the inbound value when the archive is readable and safe)"')
def b10_created_at(n):
    rx = mkrx("b10ca")
    b = "MUNIS_OTHERRCV_PAY_20261121_001"
    code, r, _ = nakcode(rx, b, pay(b, ["100000000001"], created="2026-11-22T03:04:05+05:00"))
    outs = os.listdir(rx + "/outbox")
    need(outs == ["SUDBILLING_MUNIS_PAY_20261121_001_NAK.zip"], f"B10 response name {outs}")
    r = lib.parse_response(outs[0], open(rx + "/outbox/" + outs[0], "rb").read())
    need(r["ctl"]["error"] == "B10" and r["ctl"]["created_at"] == "2026-11-22T03:04:05+05:00", f"{r['ctl']}")


@case('"A `created_at` line ... is a line that starts with `created_at=`. A line such as `created_at =…` makes the batch `B06` ... but is no `created_at` line, so the response copies the valid one beside it."')
def created_at_spaced(n):
    rx = mkrx("caspace")
    b = bid(1)
    ctl = lib.control_text(b, "PAY", "utf-8", 1, "1.00", created="2026-11-22T02:00:00+05:00") + b"created_at =2026-11-22T03:00:00+05:00\n"
    code, r, _ = nakcode(rx, b, archive_with_control(b, ctl))
    need(code == "B06" and r["ctl"]["created_at"] == "2026-11-22T02:00:00+05:00", f"{code} {r['ctl'].get('created_at')}")


@case('"A field of spaces is a value ...: a `payment_id` of spaces is `202`, an optional `account` of spaces `202` too, and a `payer_name` of spaces passes" + "`304` ... names are not compared"')
def spaces_values(n):
    rx = mkrx("spaces")
    b = bid(1)
    reg = lib.registry("PAY", [lib.pay_row("   "), lib.pay_row("100000000002", account="    "),
                               lib.pay_row("100000000003", name="   "), lib.pay_row("100000000004", name="Somebody Else")])
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg))
    need(statuses(r) == [("202", "payment_id"), ("202", "account"), ("1", ""), ("1", "")], f"{statuses(r)}")


@case('"Row `field` is filled for `201` and `202` only ... A row with the wrong number of fields is `202` with an empty `field`." + "`payment_id` \\"on an earlier line\\" ... rows with the wrong number of fields included" + "a `301` names the earlier line as `result.csv` numbers it"')
def field_and_301(n):
    rx = mkrx("field301")
    b = bid(1)
    reg = lib.registry("PAY", ["100000000001;short", lib.pay_row("100000000001"), lib.pay_row("100000000002", inv="X"),
                               lib.pay_row("100000000003", inv="99999999999999999999"), lib.pay_row("")])
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg))
    need(statuses(r) == [("202", ""), ("301", ""), ("302", ""), ("4", ""), ("201", "payment_id")], f"{statuses(r)}")
    msg = csvrows(r)[1][4]
    need(re.search(r"\bline 1\b", msg), f"301 message does not name line 1: {msg!r}")
    b2 = bid(2)
    code, r, _ = nakcode(rx, b2, pay(b2, ["100000000002", "100000000010"]))
    code, r2, _ = nakcode(rx, bid(3), pay(bid(3), ["100000000010"]))
    msg = csvrows(r2)[0][4]
    need(statuses(r2) == [("301", "")] and bid(2) in msg and re.search(r"line 2", msg), f"301 across batches: {csvrows(r2)}")


@case('"A quoted header field (`\\"payment_id\\";\\"paid_at\\";…`) is the field\'s name"')
def quoted_header(n):
    rx = mkrx("qhdr")
    b = bid(1)
    hdr = ";".join('"%s"' % h for h in lib.PAY_HDR.split(";"))
    reg = (hdr + "\r\n" + ";".join(lib.pay_row("100000000001")) + "\r\n").encode()
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg))
    need(code == "ACK" and statuses(r) == [("1", "")], f"{code}")


@case('"A reversal dated before its payment is applied" + "A REV `payment_id` has no format of its own ... Any id of no payment, whatever its shape, is `4`; an empty one `201 payment_id`. ... `0.00` ... gets `305`, `4` or `307` ..., never `202`"')
def rev_rules(n):
    rx = mkrx("revrules")
    run_one(rx, bid(1), pay(bid(1), ["100000000001", "100000000002"], amount="5.00"))
    b = bid(1, "REV")
    reg = lib.registry("REV", [["100000000001", "2026-11-20 09:00:00", "5.00", "early"],
                               ["abc-x", "2026-11-21 12:00:00", "5.00", "x"],
                               ["", "2026-11-21 12:00:00", "5.00", "x"],
                               ["100000000002", "2026-11-21 12:00:00", "0.00", "x"],
                               ["nope", "2026-11-21 12:00:00", "0.00", "x"],
                               ["100000000001", "2026-11-21 12:00:00", "0.00", "x"]])
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg))
    st = [s for s, _ in statuses(r)]
    need(statuses(r)[:3] == [("1", ""), ("4", ""), ("201", "payment_id")] and st[3] == "305" and st[4] == "4" and st[5] in ("307", "305"),
         f"{statuses(r)}")
    n.append(f"REV 0.00 on a reversed payment: {st[5]}")


@case('"A statement\'s \\"state at the time of the statement\\" ... a reversal applied before the statement arrives makes a `PAID` line `305`, whatever the two `created_at`s say"')
def rec_current_state(n):
    rx = mkrx("recstate")
    run_one(rx, bid(1), pay(bid(1), ["100000000001"]))
    run_one(rx, bid(1, "REV"), lib.build_archive(bid(1, "REV"), lib.registry("REV", [lib.rev_row("100000000001", "1.00")]),
                                                  created="2026-11-23T01:00:00+05:00"))
    b = bid(1, "REC")
    code, r, _ = nakcode(rx, b, lib.build_archive(b, lib.registry("REC", [lib.rec_row("100000000001", "1.00")]),
                                                  created="2026-11-22T00:30:00+05:00"))
    need(statuses(r) == [("305", "")], f"{statuses(r)}")


@case('"An invoice a later export leaves out stays as it was, with its payments"')
def export_leaves_out(n):
    rx = mkrx("leaveout")
    run_one(rx, bid(1), pay(bid(1), ["100000000001"], inv="A"))
    lines = [l for l in lib.invoices_csv().split(b"\r\n") if not l.startswith(b"10000000000000000001")]
    open(rx + "/inv2.csv", "wb").write(b"\r\n".join(lines))
    p = R(rx, "invoices", "import", rx + "/inv2.csv")
    need(p.rc == 0, f"{p}")
    need(q(rx, "SELECT paid FROM invoices_paid WHERE invoice_no='10000000000000000001'") == [(100,)], "invoice A gone or paid changed")


@case('"Quoting in `result.csv`: a field is quoted when it starts with `\\"` or holds `;`, a line feed or a carriage return; a `\\"` elsewhere is written as it is" + "Messages are one line of ASCII; other characters are escaped (`\\\\u{...}`)"')
def result_quoting(n):
    rx = mkrx("quoting")
    b = bid(1)
    reg = lib.registry("PAY", ['a"b;' + ";".join(lib.pay_row("x")[1:]), lib.q('"ab') + ";" + ";".join(lib.pay_row("x")[1:]),
                               lib.q("c\rd") + ";" + ";".join(lib.pay_row("x")[1:]), "Ж12;" + ";".join(lib.pay_row("x")[1:])])
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg))
    lines = r["result_raw"].split(b"\r\n")
    need(lines[1].startswith(b'1;a"b;202;'), f"a\"b: {lines[1][:30]!r}")
    need(lines[2].startswith(b'2;"""ab";202;'), f"leading quote: {lines[2][:30]!r}")
    need(lines[3].startswith(b'3;"c\rd";202;'), f"CR: {lines[3][:30]!r}")
    for l in lines[1:]:
        msg = l.rsplit(b";", 1)[-1]
        need(all(c < 128 for c in msg), f"non-ASCII in message {msg!r}")
    b2 = bid(2)
    code, r2, _ = nakcode(rx, b2, zentries(good_files(b2) + [("реестр.csv", b"x")]))
    msg = r2["ctl"].get("message", "")
    need(code == "B03" and msg.isascii() and "\\u{" in msg, f"entry name with Cyrillic: {code} {msg!r}")


@case('"`run`, `check` and `status` print messages, reasons and file names the same way [escaped] ... so that a CR in a manifest line or an escape sequence or LF in a file name cannot rewrite the operator\'s terminal"')
def escaped_names(n):
    rx = mkrx("escape")
    drop(rx, "evil\x1b[2J\nname.zip", b"x")
    ps = R(rx, "status")
    p = R(rx, "run")
    ps2 = R(rx, "status")
    for nm, pp in (("status", ps), ("run", p), ("status after", ps2)):
        need("\x1b" not in pp.out + pp.err, f"{nm} printed a raw ESC")
        need("evil" in pp.out and not re.search(r"evil[^\n]*\n\s*name\.zip", pp.out), f"{nm}: file name split by LF or missing: {pp.out!r}")


@case('"windows-1251 byte 0x98 is undefined in that code page and makes the registry unreadable (`B07`); every other byte of windows-1251 and cp866 is valid"')
def cp1251_98(n):
    rx = mkrx("cp1251")
    b = bid(1)
    row = lib.pay_row("100000000001", purpose="x")
    reg = (lib.PAY_HDR + "\r\n" + ";".join(row[:-1]) + ";").encode("cp1251") + b"ab\x98c\r\n"
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg, enc="windows-1251", rows=1, total="1000.00"))
    need(code == "B07", f"0x98: {code}")
    b = bid(2)
    allb = bytes(x for x in range(0x80, 0x100) if x != 0x98)
    reg = (lib.PAY_HDR + "\r\n" + ";".join(lib.pay_row("100000000002")[:-1]) + ";").encode() + allb + b"\r\n"
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg, enc="windows-1251"))
    need(code == "ACK", f"windows-1251 bytes 0x80-0xFF but 0x98: {code} {r['ctl'].get('message')!r}")
    b = bid(3)
    allb = bytes(range(0x80, 0x100))
    reg = (lib.PAY_HDR + "\r\n" + ";".join(lib.pay_row("100000000003")[:-1]) + ";").encode() + allb + b"\r\n"
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg, enc="cp866"))
    need(code == "ACK", f"cp866 0x80-0xFF: {code} {r['ctl'].get('message')!r}")


@case('"A field over `max_field_bytes` ... is `202` for that field ...; only the message differs (\\"longer than 1048576 bytes\\" ...)"')
def field_over_limit(n):
    rx = mkrx("bigfield", limits={"max_field_bytes": 2000})
    b = bid(1)
    long = lib.long_multiline(3000)
    reg = lib.registry("PAY", [lib.pay_row("100000000001", purpose=long).__class__([*lib.pay_row("100000000001")[:-1], lib.q(long)])])
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg))
    need(code == "ACK" and statuses(r) == [("202", "purpose")] and "longer than 2000 bytes" in csvrows(r)[0][4], f"{code} {csvrows(r) if code == 'ACK' else ''}")


# ---------------------------------------------------------------- re-delivery
@case('"Re-delivery: an archive whose bytes equal an ACKed delivery gets the stored ACK again, byte for byte, and the journal records a `resend`. Bytes equal to a NAKed delivery are judged afresh."')
def redelivery(n):
    rx = mkrx("resend")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    first = open(rx + "/outbox/" + lib.resp_name(b, "ACK"), "rb").read()
    os.remove(rx + "/outbox/" + lib.resp_name(b, "ACK"))
    run_one(rx, b, data)
    need(open(rx + "/outbox/" + lib.resp_name(b, "ACK"), "rb").read() == first, "re-sent ACK differs")
    need([k for _, k, _ in journal(rx)].count("resend") == 1, "no resend in the journal")
    need(q(rx, "SELECT count(*) FROM payments") == [(1,)], "applied twice")
    rs = q(rx, "SELECT resent_of FROM deliveries ORDER BY id")
    n.append(f"deliveries.resent_of: {rs}")
    # NAK bytes judged afresh: key added later
    rx2 = mkrx("resendnak", key=False)
    b2 = bid(2)
    data2 = pay(b2, ["100000000002"], key=None)
    set_cfg(rx2, cfg_text(rx2) + 'types = ["REV"]\n')
    code, _, _ = nakcode(rx2, b2, data2)
    need(code == "B10", f"first {code}")
    set_cfg(rx2, cfg_text(rx2).replace('types = ["REV"]\n', ""))
    code, _, _ = nakcode(rx2, b2, data2)
    need(code == "ACK", f"NAKed bytes not judged afresh: {code}")


@case('"The same bytes under another batch name are a new archive, judged in full (... they get `B06`)" + "The same files zipped again (other zip bytes) ... get `B09`"')
def redelivery_other(n):
    rx = mkrx("resend2")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    code, _, _ = nakcode(rx, bid(2), data)
    need(code == "B06", f"same bytes, other name: {code}")
    z = zipfile.ZipFile(io.BytesIO(data))
    again = lib.build_zip([(i.filename, z.read(i.filename)) for i in z.infolist()], method=zipfile.ZIP_STORED)
    need(again != data, "rezip equal")
    code, _, _ = nakcode(rx, b, again)
    need(code == "B09", f"rezipped: {code}")


@case('"A NAK and a later ACK for the same batch id have different names ..., so both stay there until taken" + "A newer response for the same name (§8) replaces the older one in the outbox ...; both stay kept in `sent/`"')
def nak_then_ack(n):
    rx = mkrx("nakack")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"], key=None))
    nak1 = open(rx + "/outbox/" + lib.resp_name(b, "NAK"), "rb").read()
    run_one(rx, b, pay(b, ["100000000001"], key=None, created="2026-11-22T02:00:00+05:00"))
    nak2 = open(rx + "/outbox/" + lib.resp_name(b, "NAK"), "rb").read()
    need(nak1 != nak2, "second NAK equal to first")
    run_one(rx, b, pay(b, ["100000000001"]))
    need(sorted(os.listdir(rx + "/outbox")) == sorted([lib.resp_name(b, "NAK"), lib.resp_name(b, "ACK")]), f"outbox {os.listdir(rx + '/outbox')}")
    sent = set(os.listdir(rx + "/var/sent"))
    need({hashlib.sha256(nak1).hexdigest() + ".zip", hashlib.sha256(nak2).hexdigest() + ".zip"} <= sent, "older NAK not kept in sent/")
    need(not [f for f in os.listdir(rx + "/outbox") if not f.endswith(".zip")], "temporary file in outbox")


@case('"Status `2` ... is never written: a failure of the receiver ... rolls the whole batch back and leaves the archive in the inbox for the next run, which answers it in full" (REESTR_FAULT crash point)')
def crash_point(n):
    rx = mkrx("fault")
    b = bid(1)
    data = pay(b, ["100000000001", "100000000002"])
    drop(rx, b + ".zip", data)
    p = R(rx, "run", env={"REESTR_FAULT": "validated"})
    need(p.rc != 0 and inbox(rx) == [b + ".zip"] and q(rx, "SELECT count(*) FROM payments") == [(0,)], f"fault at validated: {p}")
    p = R(rx, "run")
    r = resp(rx, b, "ACK")
    need(statuses(r) == [("1", ""), ("1", "")], f"after restart {statuses(r)}")
    p = R(rx, "audit", "verify")
    need(p.rc == 0, f"audit after crash: {p}")


@case('"Batches waiting together (§7.2) ... judged in §7.2\'s order (business date, type, sequence number), so a day\'s statement sent with a later day\'s reversals is judged before them"')
def waiting_order(n):
    rx = mkrx("order")
    run_one(rx, bid(1), pay(bid(1), ["100000000001"]))
    rev_b = bid(1, "REV", "20261122")
    drop(rx, rev_b + ".zip", lib.build_archive(rev_b, lib.registry("REV", [["100000000001", "2026-11-22 12:00:00", "1.00", "x"]]),
                                                 created="2026-11-23T01:00:00+05:00"))
    rec_b = bid(1, "REC")
    drop(rx, rec_b + ".zip", lib.build_archive(rec_b, lib.registry("REC", [lib.rec_row("100000000001", "1.00")])))
    R(rx, "run")
    need(statuses(resp(rx, rec_b, "ACK")) == [("1", "")], "REC of the earlier day judged after the later day's REV")
    order = [x[0] for x in q(rx, "SELECT batch_id FROM deliveries ORDER BY id")]
    need(order == [bid(1), rec_b, rev_b], f"order {order}")


# ---------------------------------------------------------------- more claims
@case('"a reader waits while a batch that has started writing is applied: up to 10 s, then it exits with code 3 saying the store is busy"')
def reader_busy(n):
    rx = mkrx("busy")
    proc, hold, b = paused_run(rx, "response-kept")
    try:
        p = R(rx, "status", timeout=40)
        if p.rc == 0:
            need(b not in p.out.split("last batches")[-1], "status shows the paused batch before its commit")
            need(q(rx, "SELECT count(*) FROM payments") == [(0,)], "a reader sees payments of the paused batch")
    finally:
        os.remove(hold)
        proc.communicate(timeout=30)
    if p.rc == 0:
        n.append(f"status during a batch paused at response-kept: answered at once ({p.secs:.1f}s): the batch had not started writing")
    else:
        need(p.rc == 3 and 9 <= p.secs <= 15 and re.search(r"busy", p.err, re.I), f"status during a paused batch: {p} after {p.secs:.1f}s")
        n.append(f"status during a paused batch: exit 3 after {p.secs:.1f}s")


@case('"(and no file in a kept folder it does not name, except the copies of an archive still in the inbox: a batch in hand)"')
def audit_batch_in_hand(n):
    rx = mkrx("inhand")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    p = R(rx, "run", env={"REESTR_FAIL": "outbox-write"})
    need(p.rc == 1 and inbox(rx) == [b + ".zip"], f"{p}")
    p = R(rx, "audit", "verify")
    need(p.rc == 0, f"audit verify with a batch in hand: {p}")


@case('"(`REESTR_LOG=debug` for more)"')
def log_debug(n):
    rx = mkrx("debug")
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"]))
    shutil.copytree(rx, rx + "2")
    p1 = R(rx, "run")
    p2 = R(rx + "2", "run", env={"REESTR_LOG": "debug"})
    need(len(p2.err.splitlines()) > len(p1.err.splitlines()) and "DEBUG" in p2.err, f"REESTR_LOG=debug: {len(p1.err.splitlines())} vs {len(p2.err.splitlines())} lines")


@case('"`deploy/` holds a systemd service for `watch` (`reestr-watch.service`), a service and timer for the nightly `run` (`reestr-run.service`, `reestr-run.timer`), a service and timer for a nightly `backup` into a new folder named by the date (`reestr-backup.service`, `reestr-backup.timer`) and a cron line (`reestr.cron`); `systemd-analyze verify` passes on them"')
def deploy_files(n):
    d = REPO + "/deploy/"
    for f, word in (("reestr-watch.service", "watch"), ("reestr-run.service", " run"), ("reestr-run.timer", "OnCalendar"),
                    ("reestr-backup.service", " backup --to "), ("reestr-backup.timer", "OnCalendar"), ("reestr.cron", "run")):
        need(os.path.isfile(d + f), f"deploy/{f} missing")
        t = open(d + f).read()
        need(word in t, f"deploy/{f} lacks {word!r}")
        if f.endswith(".service") or f.endswith(".cron"):
            need("/usr/local/bin/reestr" in t, f"deploy/{f} does not run /usr/local/bin/reestr")
    if shutil.which("systemd-analyze") and os.path.isdir("/usr/lib/systemd/system"):
        # a scratch root: the units, /usr/lib/systemd, and an executable at /usr/local/bin/reestr
        root = os.path.join(ROOT, "sdroot")
        os.makedirs(root + "/usr/local/bin")
        os.makedirs(root + "/etc/systemd/system")
        shutil.copytree("/usr/lib/systemd", root + "/usr/lib/systemd", symlinks=True)
        os.makedirs(root + "/bin")
        for exe in ("/usr/local/bin/reestr", "/bin/sh"):   # the backup unit runs through sh
            open(root + exe, "w").write("#!/bin/sh\n")
            os.chmod(root + exe, 0o755)
        units = ["reestr-watch.service", "reestr-run.service", "reestr-run.timer", "reestr-backup.service", "reestr-backup.timer"]
        for u in units:
            shutil.copy(d + u, root + "/etc/systemd/system/" + u)
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=" + root] + ["/etc/systemd/system/" + u for u in units], capture_output=True)
        need(p.returncode == 0, f"systemd-analyze verify: {p.returncode} {p.stderr.decode()[-300:]!r}")
    else:
        n.append("systemd-analyze not installed: verify not run")


@case('"An entry\'s local header must repeat its central record ... bytes before the first entry ..., between two entries ... or after the end record ... are held by no entry. Otherwise the archive is `B01`"')
def two_copies(n):
    rx = mkrx("twocopies")
    for i, (label, mk) in enumerate([
            ("prepend", lambda ents: zipraw.build(ents, prepend=b"JUNKJUNK")),
            ("append", lambda ents: zipraw.build(ents, append=b"JUNK")),
            ("local name", lambda ents: zipraw.build([dict(ents[0], lname="control.txx")] + ents[1:])),
            ("local crc", lambda ents: zipraw.build([dict(ents[0], lcrc=1)] + ents[1:])),
            ("between", lambda ents: zipraw.build([dict(ents[0], after=b"XXXX")] + ents[1:]))]):
        b = bid(50 + i)
        ents = [dict(name=nm, data=d) for nm, d in good_files(b)]
        code, r, _ = nakcode(rx, b, mk(ents))
        need(code == "B01", f"{label}: {code} {r['ctl'].get('message')!r}")
    b = bid(60)
    code, r, _ = nakcode(rx, b, zipraw.build([dict(name=nm, data=d, dd="nosig") for nm, d in good_files(b)]))
    need(code == "ACK", f"data descriptors without signature: {code} {r['ctl'].get('message')!r}")


@case('"Entries other than the registry larger than 1 MiB are not held in memory. Such a manifest or HMAC cannot be valid: the HMAC file is `B05`" + "A control file over 1 MiB (... nearly all of it is blank lines, stored ...) ... is judged as a small one is"')
def big_entries(n):
    rx = mkrx("bigentries")
    b = bid(1)
    files = good_files(b)
    files[-1] = ("manifest.sha256.hmac", files[-1][1] + b"\n" * (1 << 20))
    code, r, _ = nakcode(rx, b, lib.build_zip(files, method=zipfile.ZIP_STORED))
    need(code == "B05", f"HMAC file over 1 MiB: {code} {r['ctl'].get('message')!r}")
    b = bid(2)
    ctl = b"\n" * ((1 << 20) + 10) + lib.control_text(b, "PAY", "utf-8", 1, "1000.00")
    reg = lib.registry("PAY", [lib.pay_row("100000000002")])
    code, r, _ = nakcode(rx, b, lib.build_archive(b, reg, control=ctl, method=zipfile.ZIP_STORED))
    need(code == "ACK", f"control.txt of 1 MiB of blank lines: {code} {r['ctl'].get('message')!r}")


@case('"Bytes answered NAK and later ACKed (judged afresh, §7.1) are replayed as the delivery that processed them, the ACK; bytes only ever NAKed, as their first delivery."')
def replay_nak_then_ack(n):
    rx = mkrx("replaynak", partner='types = ["REV"]\n')
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    nak = open(rx + "/outbox/" + lib.resp_name(b, "NAK"), "rb").read()
    b2 = bid(2)
    data2 = pay(b2, ["100000000002"])
    run_one(rx, b2, data2)
    set_cfg(rx, cfg_text(rx).replace('types = ["REV"]\n', ""))
    run_one(rx, b, data)
    ackb = open(rx + "/outbox/" + lib.resp_name(b, "ACK"), "rb").read()
    os.makedirs(rx + "/rp1")
    os.makedirs(rx + "/rp2")
    p = R(rx, "replay", keep(rx, b, data), "--out", rx + "/rp1", "--json")
    need(p.rc == 0 and os.listdir(rx + "/rp1") == [lib.resp_name(b, "ACK")] and open(rx + "/rp1/" + lib.resp_name(b, "ACK"), "rb").read() == ackb, f"NAK-then-ACK bytes: {p}")
    p = R(rx, "replay", keep(rx, b2, data2), "--out", rx + "/rp2", "--json")
    need(p.rc == 0 and os.listdir(rx + "/rp2") == [lib.resp_name(b2, "NAK")], f"only-NAKed bytes: {p} {os.listdir(rx + '/rp2')}")


@case('"the nameless file ... nothing is left behind" (replay scratch store in TMPDIR)')
def replay_tmpdir(n):
    rx = mkrx("replaytmp")
    b = bid(1)
    data = pay(b, ["100000000001"])
    run_one(rx, b, data)
    t = rx + "/tmpdir"
    os.makedirs(t)
    os.makedirs(rx + "/rp")
    p = R(rx, "replay", keep(rx, b, data), "--out", rx + "/rp", env={"TMPDIR": t, "SQLITE_TMPDIR": t})
    need(p.rc == 0 and os.listdir(t) == [], f"replay left {os.listdir(t)} in TMPDIR: {p}")
    p = R(rx, "audit", "verify", "--rebuild", env={"TMPDIR": t, "SQLITE_TMPDIR": t})
    need(p.rc == 0 and os.listdir(t) == [], f"audit --rebuild left {os.listdir(t)} in TMPDIR: {p}")


@case('"Only `init` creates the inbox and the outbox" + "(the inbox and the outbox may be elsewhere, e.g. on the share)"')
def only_init_creates(n):
    rx = mkrx("onlyinit")
    share = rx + "-share"
    os.makedirs(share, exist_ok=True)
    set_cfg(rx, cfg_text(rx).replace('inbox = "inbox"', f'inbox = "{share}/in"').replace('outbox = "outbox"', f'outbox = "{share}/out"'))
    for args in (["run"], ["status"], ["watch"]):
        p = R(rx, *args, timeout=20)
        need(p.rc == 3 and not os.path.exists(share + "/in"), f"{args} created the inbox or did not exit 3: {p}")
    p = R(rx, "init")
    need(p.rc == 0 and os.path.isdir(share + "/in") and os.path.isdir(share + "/out"), f"init: {p}")
    b = bid(1)
    open(share + "/in/" + b + ".zip", "wb").write(pay(b, ["100000000001"]))
    os.utime(share + "/in/" + b + ".zip", (time.time() - 30, time.time() - 30))
    p = R(rx, "run")
    need(p.rc == 0 and os.path.exists(share + "/out/" + lib.resp_name(b, "ACK")), f"absolute inbox/outbox: {p}")


@case('"unreadable_grace_seconds = 30  # a .zip with an unreadable directory waits this long, then B01" (default: not answered at once)')
def grace_default(n):
    rx = mkrx("gracedef", grace=None, wait=1)
    b = bid(1)
    drop(rx, b + ".zip", b"PK\x03\x04 half written", age=3)
    p = R(rx, "run")
    need(p.rc == 0 and inbox(rx) == [b + ".zip"] and outbox(rx) == {} and "LEFT" in p.out, f"unreadable .zip answered before the default grace: {p}")
    os.utime(rx + "/inbox/" + b + ".zip", (time.time() - 40, time.time() - 40))
    p = R(rx, "run", timeout=30)
    n.append(f"after 40 s of age: exit {p.rc}, outbox {sorted(outbox(rx))}")


@case('"A `payer_id` beside an invalid `payer_type` is judged against both rules (§5.4): it is named only when it is neither a valid PINFL nor a valid TIN" + "a wrong header names the first field that differs"')
def export_payer_rules(n):
    rx = mkrx("exportpayer")
    hdr = "invoice_no;court_code;case_no;payer_type;payer_id;payer_name;amount_due;issued_at;status"
    lines = [hdr, "20000000000000000001;1703002;2-1/2026;X;%s;A;10.00;2026-01-10 10:00:00;OPEN" % lib.TIN1,
             "20000000000000000002;1703002;2-1/2026;X;12345;A;10.00;2026-01-10 10:00:00;OPEN"]
    open(rx + "/e.csv", "w").write("\r\n".join(lines) + "\r\n")
    p = R(rx, "invoices", "import", rx + "/e.csv")
    l2 = [l for l in p.err.splitlines() if "line 2 (row 1)" in l]
    l3 = [l for l in p.err.splitlines() if "line 3 (row 2)" in l]
    need(p.rc == 1 and l2 and l3, f"{p}")
    need("payer_id" not in " ".join(l2) and "payer_type" in " ".join(l2), f"valid TIN beside X named: {l2}")
    need("payer_id" in " ".join(l3), f"invalid payer_id beside X not named: {l3}")
    open(rx + "/h.csv", "w").write(hdr.replace("case_no", "case").replace("status", "state") + "\r\n")
    p = R(rx, "invoices", "import", rx + "/h.csv")
    need(p.rc == 1 and "case" in p.err and "state" not in p.err.replace("statement", ""), f"wrong header: {p}")


@case('"status ... what was set aside and why"')
def status_set_aside(n):
    rx = mkrx("statsa")
    drop(rx, "hello.zip", b"x")
    R(rx, "run")
    p = R(rx, "status")
    need("hello.zip" in p.out and "not of the form" in p.out, f"{p.out!r}")
    d = json.loads(R(rx, "status", "--json").out)
    need(d["set_aside"] and d["set_aside"][0]["original_name"] == "hello.zip" and d["set_aside"][0]["reason"], f"{d['set_aside']}")


@case('"`check` prints the would-be `result.csv` as it is into a file or a pipe; on a terminal, its control characters (an ESC a registry echoes in a `payment_id`) are shown escaped."')
def check_terminal(n):
    import pty
    rx = mkrx("checktty")
    b = bid(1)
    reg = lib.registry("PAY", [["12\x1b[31m34"] + lib.pay_row("x")[1:]])
    a = keep(rx, b, lib.build_archive(b, reg))
    p = R(rx, "check", a)
    need(p.rc == 0 and "\x1b[31m" in p.out, f"check into a pipe does not print result.csv as it is: {p.out[-300:]!r}")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BIN, [BIN, "--config", rx + "/reestr.toml", "check", a])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    need(b"payment_id" in out, f"no output on the terminal: {out[-200:]!r}")
    need(b"\x1b[31m" not in out, f"raw ESC printed on a terminal: {out[-300:]!r}")


# ---------------------------------------------------------------- backup and restore
KEPT_RE = re.compile(r"(?:received|sent|set-aside|imports|schemas)/[^\"\\]+")


def Rc(cfg, *args, **kw):
    """Runs the binary with the configuration file cfg (a path)."""
    return R(None, "--config", cfg, *args, config=False, **kw)


def cfg_data(rx, data, name):
    """A configuration beside rx's reestr.toml, the same but for `data`; returns its path."""
    path = os.path.join(rx, name)
    t = cfg_text(rx)
    need('data = "var"' in t, "configuration without data = \"var\"")
    open(path, "w").write(t.replace('data = "var"', f'data = "{data}"'))
    return path


def hashed_tree(path):
    """Every folder and file under path, by path relative to it: (is a folder, mode, size,
    modification time, SHA-256 of a file's bytes)."""
    out = {}
    for dp, dns, fns in os.walk(path):
        for nm in dns + fns:
            p = os.path.join(dp, nm)
            st = os.lstat(p)
            h = None
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256(open(p, "rb").read()).hexdigest()
            out[os.path.relpath(p, path)] = (stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns, h)
    return out


def tree_diff(a, b):
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def files_of(path):
    """The regular files under path, relative path -> bytes."""
    out = {}
    for dp, _, fns in os.walk(path):
        for nm in fns:
            p = os.path.join(dp, nm)
            out[os.path.relpath(p, path)] = open(p, "rb").read()
    return out


def named_kept(dbfile):
    """Every kept-folder path that some journal entry of the store dbfile names."""
    c = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True)
    try:
        bodies = [r[0] for r in c.execute("SELECT body FROM journal ORDER BY seq")]
    finally:
        c.close()
    return {m for b in bodies for m in KEPT_RE.findall(b)}


def dump_store(dbfile):
    """Every table of the store dbfile, its rows sorted."""
    c = sqlite3.connect(f"file:{dbfile}?mode=ro", uri=True)
    try:
        names = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(map(repr, c.execute(f'SELECT * FROM "{t}"'))) for t in names}
    finally:
        c.close()


def backed(name):
    """A receiver with a history of every kind of kept file: two exports, a PAY answered ACK,
    one answered NAK, a REV, a file set aside and then released. Returns (rx, archives by
    batch id)."""
    rx = mkrx(name)
    arch = {}
    b1, b2, b3 = bid(1), bid(2), bid(1, "REV")
    arch[b1] = pay(b1, ["100000000001", "100000000002"], amount="10.00")
    arch[b2] = pay(b2, ["100000000003"], key=None)  # no HMAC: NAK B05
    arch[b3] = lib.rev(b3, [("100000000002", "10.00")])
    for b in (b1, b2, b3):
        p = run_one(rx, b, arch[b])
        need(p.rc == 0, f"run {b}: {p}")
    drop(rx, "hello.zip", b"not an archive")
    need(R(rx, "run").rc == 0, "run of a set-aside file")
    open(rx + "/inv2.csv", "wb").write(lib.invoices_csv().replace(b"500000.00", b"500001.00"))
    p = R(rx, "invoices", "import", rx + "/inv2.csv")
    need(p.rc == 0, f"second export {p}")
    p = R(rx, "release", "hello.zip", "--as", "hello2.zip")
    need(p.rc == 0, f"release {p}")
    return rx, arch


@case('"`reestr backup --to DIR` writes a copy of the data folder ...: the store as of one committed state ..., then every kept file that state\'s journal names ...; Kept schemas no entry names yet ... are not copied ... The inbox and the outbox are not part of it." + SECURITY: "`backup` writes only into a new or empty folder, copies only files of the kept folders that the journal names" + "a `backup` folder and its folders | 0700", "their copies in a `backup` folder | 0600"')
def backup_copy(n):
    rx, _ = backed("bkcopy")
    # in the inbox: the released file and one being written; in the outbox, a file of its own
    open(rx + "/inbox/MUNIS_SUDBILLING_PAY_20261121_009.zip.part", "wb").write(b"inbox bytes of a file being written")
    open(rx + "/outbox/other.bin", "wb").write(b"outbox bytes of no response")
    var = rx + "/var"
    before = hashed_tree(var)
    store_before = dump_store(var + "/reestr.db")
    p = R(rx, "backup", "--to", rx + "/bk")
    need(p.rc == 0, f"backup of a clean data folder: {p}")
    need(tree_diff(before, hashed_tree(var)) == [], f"backup wrote into the data folder: {tree_diff(before, hashed_tree(var))[:6]}")
    bk = rx + "/bk"
    named = named_kept(var + "/reestr.db")
    for kind in ("received/", "sent/", "set-aside/", "imports/", "schemas/"):
        need(any(x.startswith(kind) for x in named), f"the history's journal names no {kind} file: {sorted(named)}")
    need(any(x.endswith(".reason.json") for x in named), "no reason file named")
    need(sum(x.startswith("imports/") for x in named) == 2, f"not two exports named: {sorted(named)}")
    got = files_of(bk)
    need(set(got) == named | {"reestr.db"}, f"the copy holds {sorted(set(got) - named - {'reestr.db'})} more and lacks {sorted(named - set(got))}")
    for f in named:
        need(got[f] == open(os.path.join(var, f), "rb").read(), f"{f} not copied byte for byte")
    unnamed = [f for f in os.listdir(var + "/schemas") if "schemas/" + f not in named]
    need(unnamed, "no kept schema left unnamed (REV and REC judged?): the case proves nothing")
    need(all(not os.path.exists(f"{bk}/schemas/{f}") for f in unnamed), f"kept schemas no entry names were copied: {unnamed}")
    need(dump_store(bk + "/reestr.db") == store_before, "the copy's store differs from the data folder's")
    need(not os.path.exists(bk + "/inbox") and not os.path.exists(bk + "/outbox"), "inbox or outbox in the copy")
    foreign = {hashlib.sha256(open(os.path.join(rx, d, f), "rb").read()).hexdigest()
               for d in ("inbox", "outbox") for f in os.listdir(rx + "/" + d)
               if not f.startswith("SUDBILLING_") and f != "hello2.zip"}
    need(len(foreign) == 2, f"inbox/outbox probes: {foreign}")
    need(not foreign & {hashlib.sha256(b).hexdigest() for b in got.values()}, "a file of the inbox or outbox is in the copy")
    bad = [(k, oct(m)) for k, (d, m, *_) in hashed_tree(bk).items() if m != (0o700 if d else 0o600)]
    need(stat.S_IMODE(os.stat(bk).st_mode) == 0o700, f"the backup folder is {oct(stat.S_IMODE(os.stat(bk).st_mode))}")
    need(not bad, f"modes in the copy: {bad[:6]}")


@case('"a copy of the data folder that is a data folder itself" + "To restore: stop the engine ..., put the copy in place of the data folder (or point `data` at it), and run `reestr audit verify`." + "Kept schemas no entry names yet ... are not copied: the next `run` keeps them again."')
def backup_restore(n):
    rx, arch = backed("bkrestore")
    p = R(rx, "backup", "--to", rx + "/bk")
    need(p.rc == 0, f"backup {p}")
    cfg = cfg_data(rx, "bk", "restored.toml")
    for args in (["audit", "verify"], ["audit", "verify", "--rebuild"], ["status"], ["status", "--json"]):
        p = Rc(cfg, *args)
        need(p.rc == 0, f"{args} with data pointed at the copy: {p}")
    os.makedirs(rx + "/rp")
    for b in (bid(1), bid(1, "REV")):
        p = Rc(cfg, "replay", keep(rx, b, arch[b]), "--out", rx + "/rp", "--json")
        need(p.rc == 0 and json.loads(p.out).get("identical") is True, f"replay of {b} in the copy: {p}")
    # the same folder put in place of the data folder (moved), as the README's first way
    os.rename(rx + "/var", rx + "/var.failed")
    os.rename(rx + "/bk", rx + "/var")
    p = R(rx, "audit", "verify")
    need(p.rc == 0, f"audit verify of the copy in place of the data folder: {p}")
    b = bid(3)
    p = run_one(rx, b, pay(b, ["100000000004"]))
    need(p.rc == 0 and os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), f"a later run in the restored folder: {p}")
    need(q(rx, "SELECT count(*) FROM payments WHERE payment_id='100000000004'") == [(1,)], "the later batch not applied")
    orig = set(os.listdir(rx + "/var.failed/schemas"))
    now = set(os.listdir(rx + "/var/schemas"))
    need(orig <= now, f"schemas not kept again by the next run: {sorted(orig - now)}")
    for f in orig:
        need(open(f"{rx}/var/schemas/{f}", "rb").read() == open(f"{rx}/var.failed/schemas/{f}", "rb").read(), f"schemas/{f} kept again with other bytes")
    p = R(rx, "audit", "verify", "--rebuild")
    need(p.rc == 0, f"audit verify --rebuild after the later run: {p}")


@case('"The books are then those of the copy: what was applied after it is not in them, and an archive answered after it is judged afresh if it comes again (its first answer is not in the copy, though the partner has it)."')
def backup_restore_afresh(n):
    rx = mkrx("bkafresh")
    b1, b2 = bid(1), bid(2)
    d1, d2 = pay(b1, ["100000000001"]), pay(b2, ["100000000002"])
    run_one(rx, b1, d1)
    ack1 = open(rx + "/outbox/" + lib.resp_name(b1, "ACK"), "rb").read()
    p = R(rx, "backup", "--to", rx + "/bk")
    need(p.rc == 0, f"backup {p}")
    run_one(rx, b2, d2)   # answered after the copy
    ack2 = open(rx + "/outbox/" + lib.resp_name(b2, "ACK"), "rb").read()
    cfg = cfg_data(rx, "bk", "restored.toml")
    need(Rc(cfg, "audit", "verify").rc == 0, "audit verify of the copy")
    qb = lambda sql: sqlite3.connect(f"file:{rx}/bk/reestr.db?mode=ro", uri=True).execute(sql).fetchall()
    need(qb("SELECT count(*) FROM payments WHERE payment_id='100000000002'") == [(0,)], "the copy holds a payment applied after it")
    need(qb("SELECT count(*) FROM deliveries") == [(1,)], "the copy holds a delivery made after it")
    lib.clear_outbox(rx)
    drop(rx, b2 + ".zip", d2)
    p = Rc(cfg, "run")
    need(p.rc == 0 and inbox(rx) == [], f"run of the re-delivered archive in the restored folder: {p}")
    kinds = [k for (k,) in qb("SELECT kind FROM journal ORDER BY seq")]
    need(kinds[-1] == "delivery", f"an archive answered after the copy, delivered again, journaled as {kinds[-1]!r}, not judged afresh ({kinds})")
    need(qb("SELECT resent_of FROM deliveries ORDER BY id DESC LIMIT 1") == [(None,)], "answered as a re-delivery")
    need(qb("SELECT count(*) FROM payments WHERE payment_id='100000000002'") == [(1,)], "judged afresh but not applied")
    again = outbox(rx).get(lib.resp_name(b2, "ACK"))
    need(again is not None, f"no ACK: {sorted(outbox(rx))}")
    n.append(f"the fresh answer equals the first one (which the partner has): {again == ack2}")
    # an archive answered before the copy is a re-delivery there: the copy has its answer
    drop(rx, b1 + ".zip", d1)
    p = Rc(cfg, "run")
    kinds = [k for (k,) in qb("SELECT kind FROM journal ORDER BY seq")]
    need(p.rc == 0 and kinds[-1] == "resend" and outbox(rx).get(lib.resp_name(b1, "ACK")) == ack1,
         f"an archive answered before the copy is not resent with its stored ACK: {p} {kinds}")
    need(Rc(cfg, "audit", "verify").rc == 0, "audit verify after the re-deliveries")


@case('"DIR must be new or empty: a backup never writes over another" + "3 when it could not run (DIR not empty, ...)" + "| 3 | could not run ... |"')
def backup_dir_refused(n):
    rx = mkrx("bkdir")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    full = rx + "/full"
    os.makedirs(full + "/received")
    open(full + "/reestr.db", "wb").write(b"an older backup")
    open(full + "/received/x.zip", "wb").write(b"x")
    hid = rx + "/hidden"
    os.makedirs(hid)
    open(hid + "/.keep", "wb").write(b"")
    for d in (full, hid):
        before = hashed_tree(d)
        for args in (["backup", "--to", d], ["backup", "--to", d, "--json"]):
            p = R(rx, *args)
            need(p.rc == 3, f"{args} into a folder that is not empty: {p}")
            need(tree_diff(before, hashed_tree(d)) == [], f"{args} changed {tree_diff(before, hashed_tree(d))} in a folder it refused")
    # one backup done, a second one into the same folder is refused and changes nothing
    p = R(rx, "backup", "--to", rx + "/bk")
    need(p.rc == 0, f"backup into a new folder: {p}")
    before = hashed_tree(rx + "/bk")
    p = R(rx, "backup", "--to", rx + "/bk")
    need(p.rc == 3 and tree_diff(before, hashed_tree(rx + "/bk")) == [], f"a second backup over the first: {p}")
    # an empty folder is taken
    os.makedirs(rx + "/empty")
    os.chmod(rx + "/empty", 0o755)
    p = R(rx, "backup", "--to", rx + "/empty")
    need(p.rc == 0 and os.path.isfile(rx + "/empty/reestr.db"), f"backup into an empty folder: {p}")
    n.append(f"an empty DIR of mode 0755 is left {oct(stat.S_IMODE(os.stat(rx + '/empty').st_mode))}")
    # a new folder whose parents do not exist either: created, or refused (the README says "new")
    p = R(rx, "backup", "--to", rx + "/new/a/b")
    if p.rc == 0:
        need(os.path.isfile(rx + "/new/a/b/reestr.db"), "exit 0 without a copy")
        n.append("a new DIR under missing parents: created, parents of mode "
                 + ",".join(oct(stat.S_IMODE(os.stat(x).st_mode)) for x in (rx + "/new", rx + "/new/a")))
    else:
        need(p.rc == 3 and not os.path.exists(rx + "/new/a/b"), f"a new DIR under missing parents: {p}")
        n.append("a new DIR under missing parents: refused with exit 3")
    # DIR a regular file: neither new nor empty
    open(rx + "/afile", "wb").write(b"keep me")
    p = R(rx, "backup", "--to", rx + "/afile")
    need(p.rc == 3 and open(rx + "/afile", "rb").read() == b"keep me", f"DIR a regular file: {p}")


@case('"So it ends by printing the journal\'s head, `head: SEQ:HASH` (`head` in --json), read before the audit so that the audit covers it: copy it to another system. With --anchor SEQ:HASH (repeatable), the journal must still hold entry SEQ with that hash: a journal rewritten up to it, or cut before it, is a problem (exit 1)"')
def audit_anchor(n):
    rx = mkrx("anchor")
    b1, b2 = bid(1), bid(2)
    need(run_one(rx, b1, pay(b1, ["100000000001"])).rc == 0, "first run")
    p = R(rx, "audit", "verify")
    m = re.search(r"^head: (\d+):([0-9a-f]{64}) ", p.out, re.M)
    need(p.rc == 0 and m, f"no head line: {p}")
    first = f"{m.group(1)}:{m.group(2)}"
    need(q(rx, "SELECT hash FROM journal WHERE seq = ?", (int(m.group(1)),)) == [(m.group(2),)]
         and q(rx, "SELECT max(seq) FROM journal") == [(int(m.group(1)),)], f"the head {first} is not the journal's last entry")
    need(run_one(rx, b2, pay(b2, ["100000000002"])).rc == 0, "second run")
    p = R(rx, "audit", "verify", "--json")
    doc = json.loads(p.out)
    head = f"{doc['head']['seq']}:{doc['head']['hash']}"
    need(p.rc == 0 and doc["head"]["seq"] > int(m.group(1)), f"the head did not move: {p.out}")
    p = R(rx, "audit", "verify", "--anchor", first, "--anchor", head.upper())
    need(p.rc == 0, f"anchors of the journal as it is: {p}")
    # backup: "the journal's head of the state copied (`head: SEQ:HASH`, `head` in `--json`)"
    p = R(rx, "backup", "--to", rx + "/bk", "--json")
    need(p.rc == 0 and json.loads(p.out).get("head") == doc["head"], f"backup's head is not the journal's: {p}")
    # a consistent rewrite: an earlier entry's time changed, every hash after it recomputed
    c = sqlite3.connect(f"{rx}/var/reestr.db")
    c.execute("UPDATE journal SET recorded_at = '2026-01-01T00:00:00Z' WHERE seq = 1")
    prev = "0" * 64
    for seq, kind, at, body in c.execute("SELECT seq, kind, recorded_at, body FROM journal ORDER BY seq").fetchall():
        h = hashlib.sha256(f"{seq}\n{prev}\n{kind}\n{at}\n{body}".encode()).hexdigest()
        c.execute("UPDATE journal SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    c.commit()
    c.close()
    p = R(rx, "audit", "verify")
    need(p.rc == 0, f"the consistent rewrite was found without an anchor (the README says it is not): {p}")
    for a in (first, head):
        p = R(rx, "audit", "verify", "--anchor", a)
        need(p.rc == 1 and f"journal entry {a.split(':')[0]} has hash" in p.out, f"--anchor {a} after a rewrite: {p}")
    # an anchor past the journal's end: entries removed
    p = R(rx, "audit", "verify", "--json", "--anchor", f"99:{'a' * 64}")
    need(p.rc == 1 and any("journal entry 99 is not in the journal" in x for x in json.loads(p.out)["problems"]), f"an anchor past the end: {p}")
    p = R(rx, "audit", "verify", "--anchor", "7")
    need(p.rc == 2, f"a malformed anchor: {p}")


@case('"`--link-from EARLIER` (an earlier backup, outside the data folder) hard-links into DIR each kept file that EARLIER holds at the same place with the same bytes as the data folder\'s ..., and copies the others" + "Each backup is then a whole data folder on its own (delete any backup and the others stay whole)" + "The report says how many files and bytes were linked (`linked`, `linked_bytes` in `--json`). EARLIER must be a folder outside the data folder (exit 3 otherwise)"')
def backup_link_from(n):
    rx, _ = backed("bklink")
    p = R(rx, "backup", "--to", rx + "/bk1")
    need(p.rc == 0, f"first backup {p}")
    first = {f: b for f, b in files_of(rx + "/bk1").items() if f != "reestr.db"}
    b = bid(3)
    need(run_one(rx, b, pay(b, ["100000000009"])).rc == 0, "a later batch")
    p = R(rx, "backup", "--to", rx + "/bk2", "--link-from", rx + "/bk1", "--json")
    need(p.rc == 0, f"backup --link-from {p}")
    r = json.loads(p.out)
    second = {f: b for f, b in files_of(rx + "/bk2").items() if f != "reestr.db"}
    need(set(first) < set(second), f"the second backup lacks {sorted(set(first) - set(second))} or has nothing new")
    ino = lambda d, f: os.stat(os.path.join(rx, d, f)).st_ino
    shared = {f for f in second if f in first and ino("bk1", f) == ino("bk2", f)}
    need(shared == set(first), f"not linked from the earlier backup: {sorted(set(first) - shared)}")
    need(r.get("linked") == len(first) and r.get("linked_bytes") == sum(len(x) for x in first.values()),
         f"linked {r.get('linked')}/{r.get('linked_bytes')}, expected {len(first)}/{sum(len(x) for x in first.values())}")
    need(r.get("files") == len(second), f"files {r.get('files')} for {len(second)} in the copy")
    for f, data in second.items():
        need(data == open(os.path.join(rx, "var", f), "rb").read(), f"{f} in the second backup differs from the data folder's")
    # the earlier backup removed whole: the later one is still a whole data folder
    shutil.rmtree(rx + "/bk1")
    p = Rc(cfg_data(rx, "bk2", "b2.toml"), "audit", "verify")
    need(p.rc == 0, f"audit verify of the later backup once the earlier one is gone: {p}")
    # refused: the data folder itself, a folder that does not exist; nothing written
    for earlier in (rx + "/var", rx + "/var/received", rx + "/nothing"):
        p = R(rx, "backup", "--to", rx + "/bk3", "--link-from", earlier)
        need(p.rc == 3 and not os.path.exists(rx + "/bk3"), f"--link-from {earlier}: {p}")


@case('"1 when it is not, saying what (a kept file missing or changed in the data folder is missing or changed in the copy, and named ...)" + "| 1 | ... `backup` wrote a copy that is not whole (said) |" + "Exit 0 when the copy is whole and audits clean"')
def backup_not_whole(n):
    rx, _ = backed("bkwhole")
    p = R(rx, "backup", "--to", rx + "/ok", "--json")
    need(p.rc == 0, f"backup --json of a clean data folder: {p}")
    d = json.loads(p.out)
    need(isinstance(d, dict) and not d.get("problems"), f"clean backup --json: {d}")
    n.append(f"backup --json keys: {sorted(d)}")
    var = rx + "/var"
    rec = sorted(os.listdir(var + "/received"))[0]
    reason = [f for f in os.listdir(var + "/set-aside") if f.endswith(".reason.json")][0]
    gone = open(f"{var}/received/{rec}", "rb").read()
    os.remove(f"{var}/received/{rec}")
    with open(f"{var}/set-aside/{reason}", "ab") as f:
        f.write(b" ")
    changed = open(f"{var}/set-aside/{reason}", "rb").read()
    for i, json_out in enumerate((False, True)):
        to = f"{rx}/bk{i}"
        p = R(rx, "backup", "--to", to, *(["--json"] if json_out else []))
        need(p.rc == 1, f"backup {'--json ' if json_out else ''}with a kept file missing and one changed: {p}")
        said = p.out if json_out else p.out + p.err
        if json_out:
            said = json.dumps(json.loads(p.out))
        need(rec[:64] in said, f"the missing received/{rec} is not named: {p}")
        need(reason.split(".")[0] in said, f"the changed set-aside/{reason} is not named: {p}")
        need(not os.path.exists(f"{to}/received/{rec}"), "a file missing from the data folder is in the copy")
        cp = f"{to}/set-aside/{reason}"
        need(not os.path.exists(cp) or open(cp, "rb").read() == changed, "the changed reason file is in the copy with other bytes")
        if i == 0:
            n.append(f"a changed kept file is {'in the copy as changed' if os.path.exists(cp) else 'left out of the copy'}")
    # the copy audits as the original: store rows the journal contradicts
    os.rename(rx + "/bk0", rx + "/bk0.x")
    open(f"{var}/received/{rec}", "wb").write(gone)
    with open(f"{var}/set-aside/{reason}", "r+b") as f:
        f.truncate(len(changed) - 1)
    need(R(rx, "audit", "verify").rc == 0, "the data folder repaired does not audit clean")
    dbw(rx, "UPDATE balances SET paid = paid + 1 WHERE invoice_no = '10000000000000000001'")
    pa = R(rx, "audit", "verify")
    p = R(rx, "backup", "--to", rx + "/bk9")
    need(pa.rc == 1 and p.rc == 1, f"a balance edited in the store: audit verify {pa.rc}, backup {p}")
    need(re.search(r"balance|paid", p.out + p.err, re.I), f"backup does not say what its copy's audit found: {p}")


@case('"a journal entry naming a file outside the kept folders is named, and nothing outside them is read or written" + SECURITY: "(a path an edited journal gives outside them is named, never followed)"')
def backup_outside_kept(n):
    rx = mkrx("bkoutside")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    named = named_kept(rx + "/var/reestr.db")
    rec = [x for x in named if x.startswith("received/")][0]
    sent = [x for x in named if x.startswith("sent/")][0]
    # two entries' paths edited to lead out of the kept folders: "../probe.fifo" and
    # "sent/../../keys/MUNIS.key", from the data folder (var/) and from the copy (out/bk/) alike
    dbw(rx, f"UPDATE journal SET body = replace(replace(body, '\"{rec}\"', '\"../probe.fifo\"'), '\"{sent}\"', '\"sent/../../keys/MUNIS.key\"')")
    os.makedirs(rx + "/out/keys")
    fifos = [rx + "/probe.fifo", rx + "/out/probe.fifo"]
    for f in fifos:
        os.mkfifo(f)   # opening one to read waits for a writer
    open(rx + "/out/keys/MUNIS.key", "w").write("a decoy\n")
    secret = open(rx + "/keys/MUNIS.key", "rb").read().strip()
    keys = [rx + "/out/keys/MUNIS.key"]   # the real one is read at start, as the key_file
    open(rx + "/atime-probe", "w").write("x")
    outside = lambda: {k: v for k, v in hashed_tree(rx).items() if k != "out" and not k.startswith("out/bk")}
    before = outside()

    def age_atime(f):   # an access time before the modification time: a read updates it (relatime)
        m = os.stat(f).st_mtime_ns
        os.utime(f, ns=(m - 10**12, m))
        return m - 10**12
    a = age_atime(rx + "/atime-probe")
    open(rx + "/atime-probe").read()
    atime_kept = os.stat(rx + "/atime-probe").st_atime_ns != a
    for k in keys:
        age_atime(k)
    atimes = [os.stat(k).st_atime_ns for k in keys]
    proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "backup", "--to", rx + "/out/bk"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    opened = []
    try:
        end = time.time() + 30
        while proc.poll() is None and time.time() < end:
            for f in fifos:   # a FIFO opens for writing without waiting only while a reader has it open
                try:
                    os.close(os.open(f, os.O_WRONLY | os.O_NONBLOCK))   # the reader then reads its end
                    opened.append(os.path.relpath(f, rx))
                except OSError:
                    pass
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate(timeout=30)
    said = (out + err).decode("utf-8", "replace")
    read = [os.path.relpath(k, rx) for k, a in zip(keys, atimes) if os.stat(k).st_atime_ns != a]
    need(not opened and not read, f"backup followed paths of an edited journal entry outside the kept folders: "
         f"opened the FIFO {opened} to read it, read {read}: exit {proc.returncode} {said[-600:]!r}")
    if not atime_kept:
        n.append("this file system does not update access times: reads of regular files outside the kept folders not checked, FIFOs only")
    need(proc.returncode == 1, f"backup with journal entries naming files outside the kept folders: exit {proc.returncode} {said[-600:]!r}")
    need("probe.fifo" in said and "MUNIS.key" in said, f"the paths outside the kept folders are not named: {said[-600:]!r}")
    need(tree_diff(before, outside()) == [], f"backup changed outside its folder: {tree_diff(before, outside())}")
    got = files_of(rx + "/out/bk")
    need(not any(secret in v for v in got.values()), "the key file's bytes are in the copy")


@case('"while `run` or `watch` go on" + "takes no lock, so it runs beside `watch`" + "a batch in hand is in the copy whole or not at all"')
def backup_beside_engine(n):
    rx = mkrx("bkwatch", extra="rescan_seconds = 1")
    b = bid(1)
    proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        drop(rx, b + ".zip", pay(b, ["100000000001"]))
        need(wait_for(lambda: os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), 15), "watch did not answer")
        p4 = R(rx, "run")
        need(p4.rc == 4, f"watch does not hold the lock (run beside it: {p4})")
        p = R(rx, "backup", "--to", rx + "/bk", timeout=30)
        need(p.rc == 0, f"backup beside watch: {p}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    cfg = cfg_data(rx, "bk", "restored.toml")
    p = Rc(cfg, "audit", "verify")
    need(p.rc == 0, f"audit verify of the copy made beside watch: {p}")
    need(len(named_kept(rx + "/bk/reestr.db")) > 0 and any(x.startswith("received/") for x in named_kept(rx + "/bk/reestr.db")),
         "the batch watch answered is not in the copy")
    # a batch held in hand (its transaction open, the lock held by run), its response already kept
    proc, hold, b2 = None, None, bid(2)
    drop(rx, b2 + ".zip", pay(b2, ["100000000002"]))
    hold = rx + "/hold"
    proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], env=dict(os.environ, REESTR_PAUSE=f"response-kept:{hold}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        need(wait_for(lambda: os.path.exists(hold), 20), "REESTR_PAUSE file never created")
        p = R(rx, "backup", "--to", rx + "/bk2", timeout=30)
    finally:
        if os.path.exists(hold):
            os.remove(hold)
        proc.communicate(timeout=30)
    need(p.rc == 0, f"backup beside a batch in hand: {p}")
    need(proc.returncode == 0 and os.path.exists(rx + "/outbox/" + lib.resp_name(b2, "ACK")), "the held batch was not answered after the backup")
    c = sqlite3.connect(f"file:{rx}/bk2/reestr.db?mode=ro", uri=True)
    dl, pm = c.execute("SELECT count(*) FROM deliveries").fetchone()[0], c.execute("SELECT count(*) FROM payments WHERE payment_id='100000000002'").fetchone()[0]
    c.close()
    need((dl, pm) in ((1, 0), (2, 1)), f"the batch in hand is in the copy in part: {dl} deliveries, {pm} of its payments")
    for kept in ("received", "sent"):
        k = len(os.listdir(f"{rx}/bk2/{kept}"))
        need(k == dl, f"{kept}/ of the copy holds {k} files for {dl} deliveries")
    p = Rc(cfg_data(rx, "bk2", "restored2.toml"), "audit", "verify")
    need(p.rc == 0, f"audit verify of the copy made beside a batch in hand: {p}")
    n.append(f"the batch in hand (paused at response-kept) is in the copy: {'whole' if dl == 2 else 'not at all'}")


@case('"3 when it could not run (..., a disk full)" (DIR on a small tmpfs)')
def backup_disk_full(n):
    rx = mkrx("bkfull")
    b = bid(1)
    run_one(rx, b, pay(b, ["100000000001"]))
    if os.geteuid() != 0 or shutil.which("mount") is None:
        n.append("skipped: needs root to mount a small tmpfs")
        return
    m = rx + "/small"
    os.makedirs(m)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", m], capture_output=True)
    if p.returncode != 0:
        n.append(f"skipped: tmpfs mount refused ({p.stderr.decode().strip()[:80]})")
        return
    try:
        p = R(rx, "backup", "--to", m + "/bk")
        need(p.rc == 3, f"backup onto a full disk: {p}")
        n.append(f"left on the full disk: {sorted(files_of(m))[:6]}")
    finally:
        subprocess.run(["umount", m], capture_output=True)


# ---------------------------------------------------------------- former_key_files (key rotation)
K2_HEX, K3_HEX, K9_HEX = "22" * 32, "33" * 32, "99" * 32


def put_key(rx, name, hexkey, mode=0o600):
    """Writes a key file keys/<name> of rx holding hexkey, of mode `mode`; returns its path."""
    path = f"{rx}/keys/{name}"
    if os.path.exists(path):
        os.chmod(path, 0o600)
    with open(path, "w") as f:
        f.write(hexkey + "\n")
    os.chmod(path, mode)
    return path


def partner_keys(rx, key_file="MUNIS.key", former=None):
    """Sets [partners.MUNIS] of rx's configuration: key_file (a name under keys/, or None) and
    former_key_files (names under keys/, or None for no such line)."""
    t = cfg_text(rx)
    need("[partners.MUNIS]" in t, "configuration without [partners.MUNIS]")
    t = t.split("[partners.MUNIS]")[0] + "[partners.MUNIS]\n"
    if key_file:
        t += f'key_file = "keys/{key_file}"\n'
    if former is not None:
        t += "former_key_files = [" + ", ".join(f'"keys/{f}"' for f in former) + "]\n"
    set_cfg(rx, t)


def signed_with(raw, key_hex):
    """Whether the response raw carries manifest.sha256.hmac, the HMAC of its manifest with key_hex."""
    r = lib.parse_response("x", raw)
    h = r["files"].get("manifest.sha256.hmac")
    return h is not None and h.strip() == hmac.new(bytes.fromhex(key_hex), r["files"]["manifest.sha256"], hashlib.sha256).hexdigest().encode()


def answer(rx, b, data, res):
    """Runs batch b (archive data) and returns the bytes of its response, which must be `res`."""
    p = run_one(rx, b, data)
    need(p.rc == 0, f"run of {b}: {p}")
    name = lib.resp_name(b, res)
    got = outbox(rx)
    need(name in got, f"{b}: no {res} in the outbox ({sorted(got)}): {p.out[-300:]!r}")
    return got[name]


def replay_same(rx, b, data, sent, what):
    """replay of b's archive data into a new folder must exit 0, say `identical`, and write the
    bytes sent (a response read from the outbox when b was answered)."""
    out = f"{rx}/rp-{b[-3:]}-{time.time_ns()}"
    os.makedirs(out)
    p = R(rx, "replay", keep(rx, b, data), "--out", out, "--json")
    need(p.rc == 0, f"replay of {b} ({what}): {p}")
    need(json.loads(p.out).get("identical") is True, f"replay of {b} ({what}) not identical: {p.out[-400:]!r}")
    files = os.listdir(out)
    need(len(files) == 1 and open(f"{out}/{files[0]}", "rb").read() == sent,
         f"replay of {b} ({what}) wrote {files}, not the bytes sent")


def replay_refused(rx, b, data, what):
    """replay of b's archive data must refuse (exit 1, README's table), name former_key_files
    and write nothing."""
    out = f"{rx}/rp-refused-{b[-3:]}-{time.time_ns()}"
    os.makedirs(out)
    p = R(rx, "replay", keep(rx, b, data), "--out", out)
    need(p.rc == 1, f"replay of {b} ({what}): {p}")
    need("former_key_files" in p.out + p.err, f"replay of {b} ({what}) refuses without naming former_key_files: {p}")
    need(os.listdir(out) == [], f"replay of {b} ({what}) refused but wrote {os.listdir(out)}")
    return p


@case('"# former_key_files = [\\"keys/MUNIS-2025.key\\"]   # optional; keys used before, for replay and audit" + "When a partner\'s key is rotated, put the new key in `key_file` and list the old one in `former_key_files`: `replay` and `audit verify --rebuild` then reproduce, byte for byte, the responses signed with it, finding it by the fingerprint each delivery journaled (without it, `replay` of such a batch refuses and the rebuild does not compare its response, saying so in `replay`\'s message)" + "| 1 | ... `replay` produced different bytes or could not run |" + CHANGES 0.4.0: "Earlier, replaying such a batch needed a configuration with the old key in `key_file`."')
def former_keys_replay(n):
    rx = mkrx("fkreplay")
    b1, b2 = bid(1), bid(2)
    arch = {b1: pay(b1, ["100000000001"]), b2: pay(b2, ["100000000002"], key=None)}  # b2 unsigned: B05
    sent = {b1: answer(rx, b1, arch[b1], "ACK"), b2: answer(rx, b2, arch[b2], "NAK")}
    for b, raw in sent.items():
        need(signed_with(raw, KEY_HEX), f"{b}: the response is not signed with the key of the time")
    # the rotation: the old key kept as keys/MUNIS-2025.key, the new one in key_file
    put_key(rx, "MUNIS-2025.key", KEY_HEX)
    put_key(rx, "MUNIS.key", K2_HEX)
    for b in sent:
        p = replay_refused(rx, b, arch[b], "its key rotated, not listed")
    n.append(f"replay without the former key: {(p.out + p.err).strip()[-220:]!r}")
    p = R(rx, "audit", "verify", "--rebuild")
    need(p.rc == 0, f"audit verify --rebuild with the key of the time not configured (its response not compared): {p}")
    n.append(f"audit verify --rebuild without the former key: exit 0, {p.out.strip().splitlines()[-1][:150]!r}")
    # listed, after a key of no delivery: found by the fingerprint, not by its place
    put_key(rx, "OTHER.key", K9_HEX)
    partner_keys(rx, "MUNIS.key", ["OTHER.key", "MUNIS-2025.key"])
    for b in sent:
        replay_same(rx, b, arch[b], sent[b], "signed with the former key")
    for args in (["audit", "verify", "--rebuild"], ["audit", "verify", "--rebuild", "--json"]):
        p = R(rx, *args)
        need(p.rc == 0, f"{args} with the former key listed: {p}")
    need(json.loads(p.out).get("problems") in ([], None), f"problems: {p.out[-300:]!r}")
    # a key of no delivery listed in its stead: refused again (found by the fingerprint, not taken)
    partner_keys(rx, "MUNIS.key", ["OTHER.key"])
    replay_refused(rx, b1, arch[b1], "only a key of no delivery listed")


@case('"A former key never checks or signs a new archive: one signed with it is `B05`, and every response is signed with `key_file`." + "key_file ... when set, HMAC is required both ways" + "Re-delivery: an archive whose bytes equal an ACKed delivery gets the stored ACK again, byte for byte"')
def former_keys_new_archives(n):
    rx = mkrx("fknew")
    b1 = bid(1)
    d1 = pay(b1, ["100000000001"])
    ack1 = answer(rx, b1, d1, "ACK")
    put_key(rx, "MUNIS-2025.key", KEY_HEX)
    put_key(rx, "MUNIS.key", K2_HEX)
    partner_keys(rx, "MUNIS.key", ["MUNIS-2025.key"])
    K2 = bytes.fromhex(K2_HEX)
    cases = [(bid(2), pay(bid(2), ["100000000002"]), "NAK", "signed with the former key"),
             (bid(3), pay(bid(3), ["100000000003"], key=None), "NAK", "unsigned"),
             (bid(4), pay(bid(4), ["100000000004"], key=K2), "ACK", "signed with key_file"),
             (bid(5), pay(bid(5), ["100000000005"], key=K2, hmac_val=hmac.new(KEY, b"x", hashlib.sha256).hexdigest().encode()), "NAK",
              "a wrong HMAC")]
    for b, data, res, what in cases:
        pc = R(rx, "check", keep(rx, b, data))
        raw = answer(rx, b, data, res)
        c = lib.parse_response("x", raw)["ctl"]
        if res == "NAK":
            need(c.get("error") == "B05", f"a new archive {what}: {c.get('error')} {c.get('message')!r}, not B05")
            need(pc.rc == 0 and "B05" in pc.out, f"check of a new archive {what} does not say B05: {pc}")
        need(signed_with(raw, K2_HEX), f"the response to an archive {what} is not signed with key_file")
        need(not signed_with(raw, KEY_HEX), f"the response to an archive {what} is signed with the former key")
    need(q(rx, "SELECT count(*) FROM payments WHERE payment_id IN ('100000000002','100000000003','100000000005')") == [(0,)],
         "a batch answered B05 was applied")
    # the archive answered before the rotation, delivered again: its stored ACK, as it was (§7.1)
    lib.clear_outbox(rx)
    again = answer(rx, b1, d1, "ACK")
    need(again == ack1, "a re-delivery after the rotation is not answered with the stored ACK, byte for byte")
    n.append("a re-delivered archive of before the rotation gets the stored ACK, signed with the former key "
             "(§7.1 byte for byte; not \"signed with key_file\")")
    # a partner with former_key_files and no key_file: refused at start, or as a partner with no key
    rx2 = mkrx("fknokey")
    put_key(rx2, "MUNIS-2025.key", KEY_HEX)
    partner_keys(rx2, None, ["MUNIS-2025.key"])
    b6, b7 = bid(6), bid(7)
    p = run_one(rx2, b6, pay(b6, ["100000000006"], key=None))
    if p.rc == 3:
        need("former_key_files" in p.err or "key_file" in p.err, f"former_key_files without key_file refused without saying why: {p}")
        n.append(f"former_key_files without key_file: refused at start: {p.err.strip()[-160:]!r}")
        return
    need(p.rc == 0, f"former_key_files without key_file: {p}")
    for b, data in ((b6, None), (b7, pay(b7, ["100000000007"]))):
        raw = outbox(rx2).get(lib.resp_name(b, "ACK")) if data is None else answer(rx2, b, data, "ACK")
        need(raw is not None, f"{b}: no ACK ({sorted(outbox(rx2))})")
        need("manifest.sha256.hmac" not in lib.parse_response("x", raw)["entries"],
             f"{b}: a response signed although no key_file is configured (by the former key?)")
    n.append("former_key_files without key_file: taken as a partner with no key (unsigned and former-key-signed "
             "archives ACKed, responses unsigned; the former key neither checks nor signs)")


@case('"Former key files are read at start, with the checks of a key file." + SECURITY: "key files (`key_file` and `former_key_files`) | 0600 or narrower; writable by others: refused; readable by others (...0444): used, with a warning at every start" + "| 3 | could not run: configuration, key file ... |" + "Keys never appear in logs ... or error messages"')
def former_keys_checked_at_start(n):
    rx = mkrx("fkstart")
    old = put_key(rx, "MUNIS-2025.key", KEY_HEX)
    put_key(rx, "MUNIS.key", K2_HEX)
    partner_keys(rx, "MUNIS.key", ["MUNIS-2025.key"])
    b = bid(1)
    drop(rx, b + ".zip", pay(b, ["100000000001"], key=bytes.fromhex(K2_HEX)))
    outs = []

    def refused(what):
        for args in (["run"], ["status"], ["audit", "verify"]):
            p = R(rx, *args)
            outs.append(p)
            need(p.rc == 3 and "MUNIS-2025.key" in p.err, f"{what}: {args} not refused at start naming the former key file: {p}")
        need(inbox(rx) == [b + ".zip"] and outbox(rx) == {}, f"{what}: an archive was handled: inbox {inbox(rx)}, outbox {sorted(outbox(rx))}")

    for mode in (0o664, 0o666, 0o602):
        os.chmod(old, mode)
        refused(f"mode {oct(mode)}")
    for text in (KEY_HEX[:-1], "zz" * 32, "", KEY_HEX + KEY_HEX):   # 63 digits, not hex, empty, 128 digits
        os.chmod(old, 0o600)
        open(old, "w").write(text + "\n")
        refused(f"content {text[:8]!r}... ({len(text)} characters)")
    os.remove(old)
    refused("missing")
    put_key(rx, "MUNIS-2025.key", KEY_HEX, 0o644)
    p = R(rx, "status")
    outs.append(p)
    need(p.rc == 0 and re.search(r"chmod 600 \S*keys/MUNIS-2025\.key", p.err), f"mode 0644: status without the warning: {p}")
    os.chmod(old, 0o444)
    p = R(rx, "run")
    outs.append(p)
    need(p.rc == 0 and re.search(r"chmod 600 \S*keys/MUNIS-2025\.key", p.err), f"mode 0444: run without the warning: {p}")
    need(os.path.exists(rx + "/outbox/" + lib.resp_name(b, "ACK")), f"mode 0444: the archive not answered: {sorted(outbox(rx))}")
    for p in outs:
        said = (p.out + p.err).lower()
        need(KEY_HEX not in said and KEY_HEX[:16] not in said, "the former key's digits in the output")


@case('"When a partner\'s key is rotated, ... list the old one in `former_key_files`" (a list: two rotations, K1 -> K2 -> K3) + "finding it by the fingerprint each delivery journaled" + "one signed with it is `B05`"')
def former_keys_two_rotations(n):
    rx = mkrx("fktwo")
    K = {1: KEY_HEX, 2: K2_HEX, 3: K3_HEX}
    put_key(rx, "MUNIS-1.key", K[1])
    arch, sent, era = {}, {}, {}

    def answered(b, data, res, e):
        arch[b], era[b] = data, e
        sent[b] = answer(rx, b, data, res)
        need(signed_with(sent[b], K[e]), f"{b} (era {e}): the response is not signed with key {e}")

    answered(bid(1), pay(bid(1), ["100000000001"]), "ACK", 1)
    answered(bid(2), pay(bid(2), ["100000000002"], key=None), "NAK", 1)
    put_key(rx, "MUNIS-2.key", K[2])
    put_key(rx, "MUNIS.key", K[2])
    partner_keys(rx, "MUNIS.key", ["MUNIS-1.key"])
    answered(bid(3), pay(bid(3), ["100000000003"], key=bytes.fromhex(K[2])), "ACK", 2)
    answered(bid(4), pay(bid(4), ["100000000004"]), "NAK", 2)     # signed with K1: B05
    put_key(rx, "MUNIS.key", K[3])
    partner_keys(rx, "MUNIS.key", ["MUNIS-2.key", "MUNIS-1.key"])
    answered(bid(5), pay(bid(5), ["100000000005"], key=bytes.fromhex(K[3])), "ACK", 3)
    answered(bid(6), pay(bid(6), ["100000000006"], key=bytes.fromhex(K[2])), "NAK", 3)  # signed with K2: B05
    for b in (bid(4), bid(6)):
        need(lib.parse_response("x", sent[b])["ctl"].get("error") == "B05", f"{b}: an archive signed with a former key not B05")
    for b in sent:
        replay_same(rx, b, arch[b], sent[b], f"era {era[b]}, K1 and K2 listed")
    p = R(rx, "audit", "verify", "--rebuild")
    need(p.rc == 0, f"audit verify --rebuild after two rotations: {p}")
    # only K2 listed: the eras of K1 refuse, the others are reproduced
    partner_keys(rx, "MUNIS.key", ["MUNIS-2.key"])
    for b in sent:
        if era[b] == 1:
            replay_refused(rx, b, arch[b], "era 1, only K2 listed")
        else:
            replay_same(rx, b, arch[b], sent[b], f"era {era[b]}, only K2 listed")


# ---------------------------------------------------------------- paths from an edited store
class Outside:
    """Decoys beside the data folder of rx (outside it): regular files, each holding a secret of
    its own, and FIFOs, which a reader would wait on. run() runs a command watching them: a FIFO
    outside must never be opened (a writer's non-blocking open succeeds only while a reader has
    it open), a FIFO inside a kept folder may be opened to be judged but never waited on (after
    5 s a writer feeds it a marker, so that a command waiting on it ends and what it does with
    the bytes shows), no command may run 30 s, and after each one the decoys' access times are
    as they were and nothing outside the data folder changed (but the folders commands write:
    the inbox, outbox, backup and replay folders). check() at the end: the decoys' bytes, and no
    secret or marker in any output or any file."""
    REG = ("decoy", "decoy.zip", "decoy.bin", "decoy.csv")
    FIFOS = ("fifo", "fifo.zip", "fifo.bin")
    WRITTEN = ("var", "var.orig", "inbox", "outbox", "files", "bk", "rp")

    def __init__(self, rx, notes):
        self.rx, self.notes, self.said, self.markers = rx, notes, [], []
        self.secret = {f: f"DECOY {f} {os.urandom(8).hex()} outside the data folder\n".encode() for f in self.REG}
        for f, s in self.secret.items():
            open(f"{rx}/{f}", "wb").write(s)
        for f in self.FIFOS:
            os.mkfifo(f"{rx}/{f}")
        open(rx + "/atime-probe", "w").write("x")
        a = self.age(rx + "/atime-probe")
        open(rx + "/atime-probe").read()
        self.atimes = os.stat(rx + "/atime-probe").st_atime_ns != a
        if not self.atimes:
            notes.append("this file system does not update access times: reads of the decoys not checked, FIFOs only")
        self.rearm()

    def rearm(self):
        """The decoys' access times aged again, and what is outside the data folder noted."""
        self.atime = {f: self.age(f"{self.rx}/{f}") for f in self.REG} if self.atimes else {}
        self.before = self.outside()

    @staticmethod
    def age(f):   # an access time before the modification time: a read updates it (relatime)
        m = os.stat(f).st_mtime_ns
        os.utime(f, ns=(m - 10**12, m))
        return m - 10**12

    def outside(self):
        out = {}
        for dp, dns, fns in os.walk(self.rx):
            rel = os.path.relpath(dp, self.rx)
            if rel.split(os.sep)[0].startswith(self.WRITTEN):
                continue
            for nm in dns + fns:
                if rel == "." and nm.startswith(self.WRITTEN) or nm == "atime-probe":
                    continue
                st = os.lstat(os.path.join(dp, nm))
                out[os.path.relpath(os.path.join(dp, nm), self.rx)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        return out

    def run(self, what, *args, inside=()):
        """Runs `reestr --config rx/reestr.toml args` (what: its label); inside: FIFOs in kept
        folders, by path. Returns P."""
        rx = self.rx
        t0 = time.time()
        proc = subprocess.Popen([BIN, "--config", rx + "/reestr.toml"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = {}
        reader = threading.Thread(target=lambda: got.update(zip(("out", "err"), proc.communicate())))
        reader.start()
        opened, waited = [], []
        while proc.poll() is None and time.time() - t0 < 30:
            for f in self.FIFOS:
                try:
                    os.close(os.open(f"{rx}/{f}", os.O_WRONLY | os.O_NONBLOCK))
                    opened.append(f)
                except OSError:
                    pass
            if time.time() - t0 > 5:
                for f in inside:
                    try:
                        fd = os.open(f, os.O_WRONLY | os.O_NONBLOCK)
                    except OSError:
                        continue
                    mark = f"FIFO BYTES of {os.path.relpath(f, rx)}".encode()
                    self.markers.append(mark)
                    try:
                        os.write(fd, mark)
                    except OSError:
                        pass
                    os.close(fd)
                    waited.append(os.path.relpath(f, rx))
            time.sleep(0.02)
        hung = proc.poll() is None
        if hung:
            proc.kill()
        reader.join(30)
        p = P(subprocess.CompletedProcess(args, proc.returncode, got.get("out", b""), got.get("err", b"")), time.time() - t0)
        self.said.append(p.out + p.err)
        ctx = f"{what}: `{' '.join(args)}`"
        need(not opened, f"{ctx} opened FIFOs outside the data folder to read them: {sorted(set(opened))}: {p}")
        read = [f for f, a in self.atime.items() if os.stat(f"{rx}/{f}").st_atime_ns != a]
        need(not read, f"{ctx} read files outside the data folder: {read}: {p}")
        need(not hung and not waited, f"{ctx} {'hung (killed after 30 s)' if hung else 'waited'} on a FIFO of a kept folder"
             f"{' until fed after 5 s: ' + str(sorted(set(waited))) if waited else ''}; then: {p}; outbox "
             f"{ {k: v[:60] for k, v in outbox(rx).items()} }")
        changed = tree_diff(self.before, self.outside())
        need(not changed, f"{ctx} changed outside the data folder: {changed}: {p}")
        return p

    def check(self):
        for f, s in self.secret.items():
            need(open(f"{self.rx}/{f}", "rb").read() == s, f"the decoy {f} changed")
        needles = [s.strip() for s in self.secret.values()] + self.markers
        for x in self.said:
            hit = [m for m in needles if m.decode() in x]
            need(not hit, f"a decoy's bytes in a command's output: {hit}")
        for dp, _, fns in os.walk(self.rx):
            for nm in fns:
                p = os.path.join(dp, nm)
                if os.path.relpath(p, self.rx) in self.secret or not stat.S_ISREG(os.lstat(p).st_mode):
                    continue
                data = open(p, "rb").read()
                hit = [m for m in needles if m in data]
                need(not hit, f"a decoy's bytes in {os.path.relpath(p, self.rx)}: {hit}")


def names(p, what, *items, why=True):
    """p's output names each of items on a line (with `not`, saying what was not done, when why)."""
    lines = (p.out + "\n" + p.err).splitlines()
    for it in items:
        need(any(it in l and (not why or re.search(r"\bnot\b", l)) for l in lines),
             f"{what} does not name {it!r}{' saying it was not read' if why else ''}: {p}")


def store_history(name):
    """A receiver with a PAY answered ACK and a file set aside; its data folder is also copied
    to var.orig (restore() puts it back). Returns (rx, the PAY's archive, its kept paths by
    kind: received, sent, set-aside (the .bin), imports)."""
    rx = mkrx(name)
    b = bid(1)
    data = pay(b, ["100000000001"])
    answer(rx, b, data, "ACK")
    drop(rx, "hello.zip", b"not an archive")
    need(R(rx, "run").rc == 0, "run of a file set aside")
    named = named_kept(rx + "/var/reestr.db")
    kept = {k: [x for x in named if x.startswith(k + "/") and (k != "set-aside" or x.endswith(".bin"))] for k in ("received", "sent", "set-aside", "imports")}
    need(all(len(v) == 1 for v in kept.values()), f"kept files of the history: {kept}")
    shutil.copytree(rx + "/var", rx + "/var.orig")
    return rx, data, {k: v[0] for k, v in kept.items()}


def restore(rx):
    """The data folder as store_history left it; the inbox and outbox emptied."""
    shutil.rmtree(rx + "/var")
    shutil.copytree(rx + "/var.orig", rx + "/var")
    lib.clear_outbox(rx)
    for f in inbox(rx):
        os.remove(f"{rx}/inbox/{f}")


def refusal(p, what, *items):
    """A command that could not do its work because of the data folder: exit 1 or 3 (README's
    table: not done, or could not run), naming what it did not read."""
    need(p.rc in (1, 3), f"{what}: exit {p.rc}, not 1 or 3: {p}")
    names(p, what, *items, why=False)


@case('SECURITY "Paths from an edited store": "A path read back from the store is used only as a file of a kept folder ...; `audit verify`, `backup` ... say what they did not read" + ARCHITECTURE "Nothing the store names is a way out" + CHANGES: "`audit verify` reads only files of the kept folders the journal names ... (it named `../x` by reading it ...). The audit says what it did not read." (journal `kept` paths edited to `../fifo`, an absolute path and `imports/../../decoy.csv`)')
def edited_store_journal_paths(n):
    rx, data, kept = store_history("spjournal")
    o = Outside(rx, n)
    edits = {kept["received"]: "../fifo", kept["sent"]: f"{rx}/decoy.zip", kept["imports"]: "imports/../../decoy.csv",
             kept["set-aside"]: "set-aside/../../fifo.bin"}
    dbw(rx, *[f"UPDATE journal SET body = replace(body, '\"{a}\"', '\"{b}\"')" for a, b in edits.items()])
    need(all(b in " ".join(bd for _, _, bd in journal(rx)) for b in edits.values()), "the journal edit did not take")
    for args in (["audit", "verify"], ["audit", "verify", "--rebuild"], ["backup", "--to", rx + "/bk"]):
        p = o.run("kept paths of the journal edited", *args)
        need(p.rc == 1, f"{args} with journal entries naming paths outside the kept folders: {p}")
        names(p, " ".join(args), *edits.values())
    p = o.run("kept paths of the journal edited", "audit", "verify", "--json")
    problems = json.loads(p.out).get("problems") or []
    need(p.rc == 1 and all(any(b in x for x in problems) for b in edits.values()), f"audit verify --json: {p}")
    # the commands that use the store's other tables work as before, reading nothing the journal names
    p = o.run("kept paths of the journal edited", "check", keep(rx, bid(1), data))
    need(p.rc == 0 and "ACK" in p.out, f"check of the ACKed archive: {p}")
    p = o.run("kept paths of the journal edited", "release", "hello.zip")
    need(p.rc == 0 and inbox(rx) == ["hello.zip"] and open(rx + "/inbox/hello.zip", "rb").read() == b"not an archive", f"release: {p} {inbox(rx)}")
    p = o.run("kept paths of the journal edited", "run")
    need(p.rc == 0 and inbox(rx) == [], f"run: {p}")
    o.check()


@case('SECURITY "Paths from an edited store": "kept and inbox files are opened only when regular (no link followed; a FIFO or device is refused without waiting). `audit verify`, `backup`, `release` ... say what they did not read" + ARCHITECTURE: "a kept or inbox file is opened only when it is a regular file (...: no link followed, a FIFO never waited on)" (kept files replaced by symbolic links out of the data folder and by FIFOs: audit verify, backup, release, check)')
def edited_store_kept_links_fifos(n):
    rx, data, kept = store_history("spkept")
    o = Outside(rx, n)
    a = keep(rx, bid(1), data)
    rounds = [("links and a FIFO", {"received": "fifo", "sent": "decoy.zip", "set-aside": "decoy.bin", "imports": "decoy.csv"}),
              ("FIFOs and a link", {"received": "decoy.zip", "sent": "fifo", "set-aside": "fifo", "imports": "fifo"})]
    for label, how in rounds:
        restore(rx)
        fifos = []
        for kind, what in how.items():
            path = f"{rx}/var/{kept[kind]}"
            os.remove(path)
            if what == "fifo":
                os.mkfifo(path)
                fifos.append(path)
            else:
                os.symlink(f"{rx}/{what}", path)
        allk = list(kept.values())
        for args in (["audit", "verify"], ["audit", "verify", "--rebuild"], ["backup", "--to", f"{rx}/bk-{len(fifos)}"]):
            p = o.run(label, *args, inside=fifos)
            need(p.rc == 1, f"{label}: {args}: {p}")
            names(p, f"{label}: {' '.join(args)}", *allk)
        bk = f"{rx}/bk-{len(fifos)}"
        odd = [k for k in allk if os.path.lexists(f"{bk}/{k}") and not stat.S_ISREG(os.lstat(f"{bk}/{k}").st_mode)]
        need(not odd, f"{label}: the copy holds links or FIFOs: {odd}")
        p = o.run(label, "release", "hello.zip", inside=fifos)
        refusal(p, f"{label}: release of a set-aside file that is not a regular file", os.path.basename(kept["set-aside"]))
        need(inbox(rx) == [], f"{label}: release put {inbox(rx)} in the inbox")
        p = o.run(label, "check", a, inside=fifos)
        if p.rc == 0:
            n.append(f"{label}: check of the ACKed archive answers without its kept response: {p.out[:80]!r}")
        else:
            refusal(p, f"{label}: check of the ACKed archive, its kept response not a regular file", os.path.basename(kept["sent"]))
    o.check()


@case('SECURITY "Paths from an edited store": "kept and inbox files are opened only when regular (no link followed; a FIFO or device is refused without waiting). ... the recovery say[s] what [it] did not read" + ARCHITECTURE: "An edited store makes `audit verify`, `backup`, `release` and `recover` say so, never read or write elsewhere or hang." (`run`: the recovery of a delivery `committed`, and a re-delivery, whose kept response is a link out of the data folder or a FIFO)')
def edited_store_run_kept_response(n):
    rx, data, kept = store_history("sprun")
    o = Outside(rx, n)
    sent = f"{rx}/var/{kept['sent']}"
    problems = []   # every way, each from the history as it was: a failure names them all
    for label, fifo in (("the kept response a link to a file outside", False), ("the kept response a FIFO", True)):
        for how in ("recovery", "re-delivery"):
            restore(rx)
            o.rearm()
            os.remove(sent)
            os.mkfifo(sent) if fifo else os.symlink(rx + "/decoy.zip", sent)
            if how == "recovery":
                dbw(rx, "UPDATE deliveries SET state = 'committed'")
            else:
                drop(rx, bid(1) + ".zip", data)
            try:
                p = o.run(f"{label}, {how}", "run", inside=[sent] if fifo else [])
                refusal(p, f"{label}, {how}: run", os.path.basename(sent))
                need(outbox(rx) == {}, f"{label}, {how}: run wrote {sorted(outbox(rx))} into the outbox")
                need(inbox(rx) == ([] if how == "recovery" else [bid(1) + ".zip"]), f"{label}, {how}: inbox {inbox(rx)}")
            except Fail as e:
                problems.append(f"({len(problems) + 1}) {str(e)[:280]}... outbox: { {k: v[:24] for k, v in outbox(rx).items()} }")
    need(not problems, " ".join(problems))
    restore(rx)
    o.check()


@case('SECURITY "Paths from an edited store": "A path read back from the store is used only ... as `<sha256>.<ext>` of a SHA-256" + CHANGES: "`release`, `check`, the recovery of a delivery ... use a name from the store as a path only when it is a SHA-256" + "| 1 | ... `audit verify` found problems, `backup` wrote a copy that is not whole (said) |" (`set_aside.kept_as` and `deliveries.response_sha256` edited to name paths outside the data folder)')
def edited_store_names_not_sha256(n):
    rx, data, kept = store_history("spnames")
    o = Outside(rx, n)
    a = keep(rx, bid(1), data)
    # kept_as relative to set-aside/, response_sha256 made <sha256>.zip in sent/: both lead to
    # the decoys beside var/, regular files in one round, FIFOs in the other
    rounds = [("regular files", "../../decoy.bin", f"{rx}/decoy"), ("FIFOs", f"{rx}/fifo.bin", "../../fifo")]
    for i, (label, kept_as, resp_sha) in enumerate(rounds):
        restore(rx)
        dbw(rx, f"UPDATE set_aside SET kept_as = '{kept_as}'",
            f"UPDATE deliveries SET response_sha256 = '{resp_sha}', state = 'committed'")
        for args in (["audit", "verify"], ["backup", "--to", f"{rx}/bk-{i}"]):
            p = o.run(label, *args)
            need(p.rc == 1, f"{label}: {args}: {p}")
            names(p, f"{label}: {' '.join(args)}", kept_as, resp_sha, why=False)
        p = o.run(label, "release", "hello.zip")
        refusal(p, f"{label}: release, kept_as {kept_as!r}", kept_as)
        need(inbox(rx) == [], f"{label}: release put {inbox(rx)} in the inbox")
        p = o.run(label, "run")
        refusal(p, f"{label}: run, the recovery of a delivery whose response_sha256 is {resp_sha!r}", resp_sha)
        need(outbox(rx) == {}, f"{label}: the recovery wrote {sorted(outbox(rx))} into the outbox")
        if i == 0:
            n.append(f"the recovery, its archive not in the inbox: {p.err.strip().splitlines()[-1][:200]!r}")
        p = o.run(label, "check", a)
        refusal(p, f"{label}: check of the ACKed archive, response_sha256 {resp_sha!r}", resp_sha)
        dbw(rx, "UPDATE deliveries SET state = 'done'")
        drop(rx, bid(1) + ".zip", data)
        p = o.run(label, "run")
        refusal(p, f"{label}: run of a re-delivery, response_sha256 {resp_sha!r}", resp_sha)
        need(outbox(rx) == {} and inbox(rx) == [bid(1) + ".zip"], f"{label}: re-delivery: outbox {sorted(outbox(rx))}, inbox {inbox(rx)}")
    o.check()


def main():
    pats = sys.argv[1:]
    sel = [c for c in CASES if not pats or any(p in c[0] for p in pats)]
    jobs = max(1, int(os.environ.get("READMEJOBS") or os.environ.get("CONFORMANCE_JOBS") or "2"))
    print(f"readme: {len(sel)} of {len(CASES)} cases against {BIN} (scratch {ROOT})", flush=True)
    t0 = time.time()

    def one(c):
        notes = []
        t = time.time()
        try:
            c[2](notes)
            err = None
        except Fail as e:
            err = str(e)
        except Exception:
            err = "EXCEPTION " + traceback.format_exc()[-900:]
        return err, notes, time.time() - t

    with ThreadPoolExecutor(jobs) as ex:
        res = list(ex.map(one, sel))
    ok = 0
    for (name, quote, _), (err, notes, secs) in zip(sel, res):
        if err is None:
            ok += 1
            print(f"OK   {name} ({secs:.1f}s)  {quote[:110]}", flush=True)
        else:
            print(f"FAIL {name}: {err[:1500]}   [README: {quote[:200]}]", flush=True)
        for x in notes:
            print(f"     note: {x}", flush=True)
    print(f"== readme: {ok}/{len(sel)} cases OK ({time.time() - t0:.0f} s)", flush=True)
    if ok != len(sel) or os.environ.get("KEEP"):
        print(f"scratch folder kept: {ROOT}")
    else:
        shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(0 if ok == len(sel) and sel else 1)


if __name__ == "__main__":
    main()
