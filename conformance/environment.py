"""Black-box conformance suite: the inbox and the operator's environment (written by the audit of
2026-11-24, round 7, from the agreement and the README alone; run by hand, not in CI).

    REESTR_BIN=target/release/reestr python3 conformance/environment.py [NAME-SUBSTRING ...]

Odd inbox entries (links, folders, FIFOs, device nodes, unreadable, empty, hard links, odd names,
files vanishing or replaced while `run` looks at them), files still being written, and the
operator's side (concurrent commands, release, exit codes, missing / read-only folders, a full
disk, key files, malformed configuration). Every expectation quotes the agreement (§) or a
promise of README.md. Needs root for mknod, bind mounts and tmpfs; cases that need them say so
in their notes when they cannot run. Cases run one at a time (timing).
"""
import sys, json, signal, threading, glob, stat
from lib import *

CASES, case = case_list()
NOTES = []


# ---------------------------------------------------------------- helpers
def rx_new(name, **cfg):
    rx = new_receiver(name)
    if cfg:
        c = open(rx + "/reestr.toml").read()
        for k, v in cfg.items():
            lines = [l for l in c.split("\n") if l.startswith(k + " ")]
            if lines:
                c = c.replace(lines[0], f"{k} = {v}")
            else:
                c = c.replace('run_wait_seconds', f'{k} = {v}\nrun_wait_seconds', 1)
        open(rx + "/reestr.toml", "w").write(c)
    return rx


def rb(rx, *args, timeout=120, env=None, user=None):
    cmd = [BIN, "--config", rx + "/reestr.toml", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + cmd
    e = dict(os.environ)
    if env:
        e.update(env)
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=e)
        return p
    except subprocess.TimeoutExpired as ex:
        class T: pass
        t = T(); t.returncode = "TIMEOUT"; t.stdout = ex.stdout or b""; t.stderr = ex.stderr or b""
        return t


def inbox(rx):
    return sorted(os.listdir(rx + "/inbox"))


def drop(rx, name, data, age=10):
    path = os.path.join(rx, "inbox", name)
    tmp = os.path.join(rx, "inbox", ".tmp-drop")
    with open(tmp, "wb") as f:
        f.write(data)
    if age is not None:
        os.utime(tmp, (time.time() - age, time.time() - age))
    os.rename(tmp, path)
    return path


def status(rx, user=None):
    p = rb(rx, "status", "--json", "--last", "1000", user=user)
    try:
        return json.loads(p.stdout)
    except Exception:
        return {"_rc": p.returncode, "_err": p.stderr.decode(errors="replace")[-300:]}


def handled(rx, bid):
    return [x for x in status(rx).get("recent", []) if x.get("batch_id") == bid]


def kept_ok(rx, label):
    """Every kept file is complete: its name is the SHA-256 of its bytes (README 'What it keeps')."""
    d = []
    for sub, ext in (("received", ".zip"), ("sent", ".zip"), ("set-aside", ".bin")):
        for p in glob.glob(f"{rx}/var/{sub}/*{ext}"):
            h = os.path.basename(p).split(".")[0]
            if sha(open(p, "rb").read()) != h:
                d.append(f"[{label}] kept file {sub}/{os.path.basename(p)} is not complete/does not match its name")
    return d


def audit_ok(rx, label):
    p = rb(rx, "audit", "verify")
    if p.returncode != 0:
        return [f"[{label}] audit verify rc={p.returncode}: {p.stdout.decode()[-300:]!r} {p.stderr.decode()[-300:]!r}"]
    return []


def applied_once(rx, seq, pid):
    """After a payment of 200000.00 on invoice C (due 300000.00), a PAY of 100000.00 more is
    accepted (1) only if the first was applied once: a difference if it is not."""
    drop(rx, bidn(seq) + ".zip", pay(bidn(seq), [pid], inv="C", amount="100000.00"))
    rb(rx, "run")
    r = outbox(rx).get(resp_name(bidn(seq), "ACK"))
    if not r or results(r)[2] != [("1", pid, "1")]:
        return [f"applied twice? PAY 100000 on invoice C (300000) after 200000 -> {r and results(r)[2]}"]
    return []


def finish(rx, label):
    return kept_ok(rx, label) + audit_ok(rx, label)


def received_shas(rx):
    return {os.path.basename(p).split(".")[0] for p in glob.glob(rx + "/var/received/*.zip")}


def sent_shas(rx):
    return {os.path.basename(p).split(".")[0] for p in glob.glob(rx + "/var/sent/*.zip")}


def to_nobody(rx):
    """Make rx usable by uid 65534 (to test permissions, which root ignores)."""
    p = rx
    while p not in ("/", ""):
        st = os.stat(p)
        os.chmod(p, stat.S_IMODE(st.st_mode) | 0o011)
        p = os.path.dirname(p)
    subprocess.run(["chown", "-R", "65534:65534", rx], check=True)


class Mount:
    """A read-only bind mount (ro=True) or a tmpfs of the given size over a folder, keeping its content."""
    def __init__(self, path, ro=False, tmpfs_size=None):
        self.path, self.ok = path, False
        if tmpfs_size:
            save = path + ".save"
            shutil.copytree(path, save, symlinks=True)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={tmpfs_size},mode=0700", "tmpfs", path], capture_output=True)
            if r.returncode == 0:
                for n in os.listdir(save):
                    s = os.path.join(save, n)
                    subprocess.run(["cp", "-a", s, path + "/"], check=True)
                shutil.rmtree(save)
                self.ok = True
            else:
                self.err = r.stderr.decode()
        else:
            r1 = subprocess.run(["mount", "--bind", path, path], capture_output=True)
            r2 = subprocess.run(["mount", "-o", "remount,ro,bind", path], capture_output=True) if r1.returncode == 0 else r1
            self.ok = r1.returncode == 0 and r2.returncode == 0
            self.err = (r1.stderr + r2.stderr).decode()

    def remount(self, opts):
        return subprocess.run(["mount", "-o", "remount," + opts, self.path], capture_output=True).returncode == 0

    def umount(self):
        if self.ok:
            subprocess.run(["umount", self.path], capture_output=True)
            self.ok = False


def no_raw_ctl(text, label):
    bad = [c for c in set(text) if (ord(c) < 32 and c not in "\n\t") or c == "\x7f"]
    return [f"[{label}] output holds raw control characters {bad!r}"] if bad else []


# ============================================================ 1. odd inbox entries
@case(1, "README 'Inbox': symbolic links named like valid archives (to a valid archive outside, to /etc/passwd, dangling, to a "
         "directory) and a folder named X.zip are left alone; `run` (and --strict) ends, the regular archive beside them is answered, "
         "link targets untouched; status names them 'link'/'folder'")
def i_links_and_folder(rx):
    d = []
    outside = os.path.join(rx, "outside.zip")
    good1 = pay(bidn(1), ["810000000001"])
    open(outside, "wb").write(good1)
    os.utime(outside, (time.time() - 60, time.time() - 60))
    os.makedirs(rx + "/somedir", exist_ok=True)
    passwd = open("/etc/passwd", "rb").read()
    ib = rx + "/inbox/"
    os.symlink(outside, ib + bidn(1) + ".zip")
    os.symlink("/etc/passwd", ib + bidn(2) + ".zip")
    os.symlink(rx + "/nonexistent.zip", ib + bidn(3) + ".zip")
    os.symlink(rx + "/somedir", ib + bidn(4) + ".zip")
    os.makedirs(ib + bidn(5) + ".zip")
    open(ib + bidn(5) + ".zip/inner.txt", "w").write("x")
    drop(rx, bidn(6) + ".zip", pay(bidn(6), ["810000000006"]))
    p = rb(rx, "run", "--json", timeout=60)
    if p.returncode != 0:
        d.append(f"run rc={p.returncode} (want 0) {p.stderr.decode()[-300:]!r}")
    ob = outbox(rx)
    if list(ob) != [resp_name(bidn(6), "ACK")]:
        d.append(f"outbox {list(ob)} (want only the ACK of the regular file 006)")
    if open(outside, "rb").read() != good1 or open("/etc/passwd", "rb").read() != passwd:
        d.append("a link target was changed")
    for i in range(1, 6):
        if not os.path.lexists(ib + bidn(i) + ".zip"):
            d.append(f"{bidn(i)}.zip removed from the inbox")
    st = status(rx)
    states = {w["name"]: w["state"] for w in st.get("waiting", [])}
    for i, want in ((1, "link"), (2, "link"), (3, "link"), (4, "link"), (5, "folder")):
        if states.get(bidn(i) + ".zip") != want:
            d.append(f"status shows {bidn(i)}.zip as {states.get(bidn(i) + '.zip')!r} (README: {want})")
    ps = rb(rx, "run", "--strict")
    NOTES.append(f"(run --strict with only links/folders left: rc={ps.returncode}, stdout={ps.stdout.decode()[:120]!r}; "
                 f"set aside: {len(st.get('set_aside', []))}; the links are never answered nor set aside)")
    return d + finish(rx, "end")


@case(1, "FIFO named like a valid archive (README silent): `run` and `status` must not hang (bounded by 30 s); an archive beside it "
         "is answered; `watch` keeps answering archives with the FIFO present and stops on SIGTERM")
def i_fifo(rx):
    d = []
    f = rx + "/inbox/" + bidn(1) + ".zip"
    os.mkfifo(f)
    drop(rx, bidn(2) + ".zip", pay(bidn(2), ["820000000002"]))
    p = rb(rx, "run", "--json", timeout=30)
    if p.returncode == "TIMEOUT":
        d.append("run hung on a FIFO in the inbox (killed after 30 s)")
    ps = rb(rx, "status", "--json", timeout=30)
    if ps.returncode == "TIMEOUT":
        d.append("status hung on a FIFO in the inbox")
    if resp_name(bidn(2), "ACK") not in outbox(rx):
        d.append(f"archive beside the FIFO not answered: outbox {list(outbox(rx))}, run rc={p.returncode} {p.stderr.decode()[-300:]!r}")
    try:
        st = json.loads(ps.stdout)
        NOTES.append(f"(FIFO: run rc={p.returncode}; status shows {[w for w in st.get('waiting', []) if w['name'].endswith('_001.zip')]}; "
                     f"set aside {[(x['original_name'], x['reason'][:80]) for x in st.get('set_aside', [])]}; still in inbox: {os.path.lexists(f)})")
    except Exception:
        pass
    # watch
    w = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "watch"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    drop(rx, bidn(3) + ".zip", pay(bidn(3), ["820000000003"]))
    t = time.time()
    while time.time() - t < 15 and resp_name(bidn(3), "ACK") not in outbox(rx):
        time.sleep(0.2)
    if resp_name(bidn(3), "ACK") not in outbox(rx):
        d.append("watch did not answer an archive within 15 s with a FIFO in the inbox")
    w.send_signal(signal.SIGTERM)
    try:
        rc = w.wait(15)
        if rc != 0:
            d.append(f"watch exit {rc} on SIGTERM")
    except subprocess.TimeoutExpired:
        w.kill(); w.wait()
        d.append("watch did not stop within 15 s of SIGTERM (FIFO in inbox)")
    if os.path.lexists(f) and stat.S_ISFIFO(os.lstat(f).st_mode):
        os.remove(f)  # so audit and cleanup do not block
    return d + finish(rx, "end")


@case(1, "character device named like a valid archive (mknod c 1 5 = /dev/zero; README silent): `run` must end within 60 s and must "
         "not copy gigabytes into the data folder; an archive beside it is answered")
def i_chardev(rx):
    d = []
    f = rx + "/inbox/" + bidn(1) + ".zip"
    r = subprocess.run(["mknod", f, "c", "1", "5"], capture_output=True)
    if r.returncode != 0:
        NOTES.append("(mknod not permitted: case skipped)")
        return []
    drop(rx, bidn(2) + ".zip", pay(bidn(2), ["830000000002"]))
    t = time.time()
    p = rb(rx, "run", "--json", timeout=60)
    dt = time.time() - t
    size = sum(os.path.getsize(x) for x in glob.glob(rx + "/var/**", recursive=True) if os.path.isfile(x))
    if p.returncode == "TIMEOUT":
        d.append("run did not end within 60 s with a device node in the inbox")
    if size > 200 * 1024 * 1024:
        d.append(f"data folder grew to {size >> 20} MiB reading a device node")
    if resp_name(bidn(2), "ACK") not in outbox(rx):
        d.append(f"archive beside the device not answered; outbox {list(outbox(rx))}")
    st = status(rx)
    NOTES.append(f"(device node: run rc={p.returncode} in {dt:.1f}s; var {size >> 10} KiB; status "
                 f"{[w for w in st.get('waiting', []) if w['name'].endswith('_001.zip')]}; set aside "
                 f"{[(x['original_name'], x['reason'][:80]) for x in st.get('set_aside', [])]}; "
                 f"responses {list(outbox(rx))}; stdout {p.stdout.decode()[:400]!r})")
    if os.path.lexists(f):
        os.remove(f)
    return d + finish(rx, "end")


@case(1, "a file the receiver may not read (mode 000, engine run as an unprivileged user): README exit 1 'an archive could not be "
         "handled because of the receiver itself (it stays in the inbox for the next run)'; it is not lost; once readable it is answered. "
         "§7.2 order: REV 001 (ready) reverses a payment of the unreadable PAY 001 (earlier in the agreed order)")
def i_unreadable(rx):
    d = []
    pa = pay(bidn(1), ["840000000001"])
    ra = rev(bidn(1, "REV"), [("840000000001", "1.00")])
    to_nobody(rx)
    pp = drop(rx, bidn(1) + ".zip", pa)
    os.chown(pp, 0, 0)
    os.chmod(pp, 0)
    rp = drop(rx, bidn(1, "REV") + ".zip", ra)
    os.chown(rp, 65534, 65534)
    p = rb(rx, "run", "--json", user=65534, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode not in (1, 3):
        d.append(f"run rc={p.returncode} with an unreadable archive (README: 1, it stays in the inbox) stdout={p.stdout.decode()[:300]!r}")
    if bidn(1) + ".zip" not in err and bidn(1) + ".zip" not in p.stdout.decode():
        d.append(f"no message names the unreadable file: {err[-300:]!r}")
    if not os.path.exists(pp):
        d.append("the unreadable archive left the inbox")
    st = status(rx, user=65534)
    if any(x.get("original_name") == bidn(1) + ".zip" for x in st.get("set_aside", [])):
        NOTES.append("(unreadable file was set aside)")
    ob1 = outbox(rx)
    NOTES.append(f"(unreadable: rc={p.returncode}; outbox after first run {list(ob1)}; stderr {err[-250:]!r})")
    rev_first = resp_name(bidn(1, "REV"), "ACK") in ob1
    os.chmod(pp, 0o644)
    os.chown(pp, 65534, 65534)
    p2 = rb(rx, "run", "--json", user=65534, timeout=60)
    ob = outbox(rx)
    if resp_name(bidn(1), "ACK") not in ob:
        d.append(f"once readable, PAY 001 not answered: rc={p2.returncode} outbox {list(ob)} {p2.stderr.decode()[-300:]!r}")
    rr = ob.get(resp_name(bidn(1, "REV"), "ACK"))
    if rev_first and rr and results(rr)[2] != [("1", "840000000001", "1")]:
        d.append(f"§7.2 'Batches that are waiting together are handled in order of business date, then type (PAY, REV, REC)': REV 001 "
                 f"was handled while PAY 001 waited unreadable in the inbox, and got {results(rr)[2]} (the PAY applied after it)")
    return d + kept_ok(rx, "end") + audit_ok(rx, "end")


@case(1, "zero-byte file with a valid name (settle 0, grace 0): §7.1 B01 'not a readable zip archive', answered NAK with the fallback "
         "created_at (§8), kept in received/, run rc 0")
def i_zero_byte(rx):
    d = []
    drop(rx, bidn(1) + ".zip", b"")
    p = rb(rx, "run")
    r = {"stdout": "", "stderr": "", "rc": p.returncode}
    raw = outbox(rx).get(resp_name(bidn(1), "NAK"))
    if not raw:
        return [f"no NAK for a zero-byte archive; outbox {list(outbox(rx))} rc={p.returncode} {p.stdout.decode()[:200]!r}"]
    r.update(parse_response(resp_name(bidn(1), "NAK"), raw))
    d += check_response(r, bidn(1) + ".zip", b"", {"result": "NAK", "code": "B01", "created_at": "fallback"})
    if sha(b"") not in received_shas(rx):
        d.append("§1 'keeps every archive it received': the zero-byte archive is not kept in received/")
    if p.returncode != 0:
        d.append(f"run rc {p.returncode}")
    return d + finish(rx, "end")


@case(1, "hard link in the inbox to a file outside (ln, same file system): answered ACK; the outside file is untouched; the kept copy "
         "in received/ is not the outside inode (a later in-place write to the outside file must not alter what was kept); a second "
         "hard link to the same bytes -> stored ACK byte for byte, applied once")
def i_hardlink(rx):
    d = []
    a = pay(bidn(1), ["850000000001"], inv="C", amount="200000.00")
    outside = rx + "/sender_copy.zip"
    open(outside, "wb").write(a)
    os.utime(outside, (time.time() - 60, time.time() - 60))
    os.link(outside, rx + "/inbox/" + bidn(1) + ".zip")
    p = rb(rx, "run")
    first = outbox(rx).get(resp_name(bidn(1), "ACK"))
    if not first:
        return [f"hard-linked archive not answered: {list(outbox(rx))} rc={p.returncode}"]
    if open(outside, "rb").read() != a:
        d.append("outside file changed")
    kept = glob.glob(rx + f"/var/received/{sha(a)}.zip")
    if not kept:
        d.append("not kept in received/")
    elif os.stat(kept[0]).st_ino == os.stat(outside).st_ino:
        d.append("§1 'The receiver keeps every archive it received': the kept copy var/received/<sha>.zip IS the sender's inode "
                 "(the inbox file was renamed into the kept folder); the sender overwriting its own file in place alters the kept archive")
        # demonstrate
        with open(outside, "r+b") as f:
            f.seek(10); f.write(b"XXXX")
        pa = rb(rx, "audit", "verify")
        NOTES.append(f"(after the sender wrote 4 bytes into its own file in place: audit verify rc={pa.returncode} {pa.stdout.decode()[-200:]!r})")
        with open(outside, "r+b") as f:
            f.seek(10); f.write(a[10:14])
    os.remove(outside)
    open(outside, "wb").write(a)
    os.utime(outside, (time.time() - 60, time.time() - 60))
    os.link(outside, rx + "/inbox/" + bidn(1) + ".zip")
    rb(rx, "run")
    if outbox(rx).get(resp_name(bidn(1), "ACK")) != first:
        d.append("re-delivered hard link: response not the stored ACK byte for byte")
    d += applied_once(rx, 2, "850000000002")
    return d + finish(rx, "end")


@case(1, "§2 'A file whose name does not have this form ... the receiver sets it aside with a reason': .ZIP, .Zip, lower-case "
         "parties, a trailing space, a name of 255 bytes -> each set aside with a reason, no response; a 255-byte *.part left alone")
def i_name_forms(rx):
    d = []
    names = [bidn(1) + ".ZIP", bidn(2) + ".Zip", bidn(3).lower() + ".zip", bidn(4) + ".zip ",
             bidn(5) + "_" + "9" * (255 - len(bidn(5)) - 1 - 4) + ".zip"]
    assert len(names[-1].encode()) == 255
    part = "P" * (255 - 9) + ".zip.part"
    for i, n in enumerate(names):
        drop(rx, n, pay(bidn(i + 1), ["86000000000%d" % i]))
    drop(rx, part, b"partial")
    p = rb(rx, "run", "--json")
    if p.returncode != 0:
        d.append(f"run rc={p.returncode} {p.stderr.decode()[-300:]!r}")
    if outbox(rx):
        d.append(f"responses for unparsable names: {list(outbox(rx))}")
    st = status(rx)
    sa = {x["original_name"]: x for x in st.get("set_aside", [])}
    for n in names:
        if n not in sa or not sa[n].get("reason"):
            d.append(f"{n[:60]!r}{'...' if len(n) > 60 else ''} not set aside with a reason (in inbox: {os.path.exists(rx + '/inbox/' + n)})")
    if inbox(rx) != [part]:
        d.append(f"inbox after run {[x[:50] for x in inbox(rx)]} (want only the .part)")
    # release the 255-byte one by SHA prefix; it must come back under its name
    h = sha(pay(bidn(5), ["860000000004"]))[:12]
    pr = rb(rx, "release", h)
    if pr.returncode != 0 or not os.path.exists(rx + "/inbox/" + names[-1]):
        d.append(f"release {h} of the 255-byte name: rc={pr.returncode} inbox={[x[:40] for x in inbox(rx)]} {pr.stderr.decode()[-200:]!r}")
    return d + finish(rx, "end")


@case(1, "odd names: space, newline, ESC sequence, bytes not UTF-8 -> set aside with reason (§2); README: `run` and `status` print "
         "names escaped (no raw control character can split a cron-mail line); the non-UTF-8 name's bytes kept (original_name_bytes); "
         "`release` by SHA prefix restores the exact original name bytes")
def i_odd_names(rx):
    d = []
    ib = (rx + "/inbox/").encode()
    names = [b"MUNIS SUDBILLING PAY 20261121 001.zip", b"MUNIS_SUDBILLING_PAY_20261121_001\n.zip",
             b"\x1b[2J\x1b[31mMUNIS_SUDBILLING_PAY_20261121_002.zip", b"MUNIS_SUDBILLING_PAY_20261121_\xff\xfe3.zip",
             b"MUNIS_SUDBILLING_PAY_20261121_004.zip\n"]
    datas = []
    for i, n in enumerate(names):
        data = ("odd file %d" % i).encode()
        datas.append(data)
        with open(ib + n, "wb") as f:
            f.write(data)
        os.utime(ib + n, (time.time() - 10, time.time() - 10))
    p = rb(rx, "run")
    out = p.stdout.decode(errors="replace")
    d += no_raw_ctl(out, "run stdout")
    ps = rb(rx, "status")
    d += no_raw_ctl(ps.stdout.decode(errors="replace"), "status stdout")
    err = p.stderr.decode(errors="replace")
    if no_raw_ctl(err, "x") or "001\n.zip" in err:
        d.append("README 'Response messages': names are printed escaped 'so that ... an escape sequence in a file name cannot rewrite "
                 "the operator's terminal or split a line of a cron mail'; run's stderr log line 'WARN set aside file=...' prints the "
                 f"name raw (reason= is escaped): {[l for l in err.splitlines() if 'set aside' in l or not l.startswith('20')][:4]!r}")
    left = os.listdir(ib)
    if left:
        d.append(f"left in the inbox: {left}")
    if outbox(rx):
        d.append(f"responses: {list(outbox(rx))}")
    st = status(rx)
    if len(st.get("set_aside", [])) != len(names):
        d.append(f"set aside {len(st.get('set_aside', []))} of {len(names)}: {[x['original_name'] for x in st.get('set_aside', [])]}")
    reasons = glob.glob(rx + "/var/set-aside/*.reason.json")
    hexes = [json.load(open(r)).get("original_name_bytes") for r in reasons]
    if names[3].hex() not in [h for h in hexes if h]:
        d.append(f"non-UTF-8 name bytes not kept (original_name_bytes): {hexes}")
    # release each by SHA prefix: the file must come back under its exact name
    for n, data in zip(names, datas):
        pr = rb(rx, "release", sha(data)[:10])
        if pr.returncode != 0:
            d.append(f"release of {n!r} by SHA prefix rc={pr.returncode} {pr.stderr.decode(errors='replace')[-200:]!r}")
            continue
        if not os.path.exists(ib + n):
            NOTES.append(f"(doubtful: release of {n!r} put it back as {[x for x in os.listdir(ib) if x not in names]} (not its original bytes))")
        elif open(ib + n, "rb").read() != data:
            d.append(f"release of {n!r}: bytes differ")
    rb(rx, "run")
    return d + finish(rx, "end")


@case(1, "the same archive under two valid names, and the same bytes also as .ZIP (README 'Re-delivery': same bytes under another "
         "batch name are judged in full -> B06): 001 ACK, 002 NAK B06, .ZIP set aside, applied once")
def i_two_names(rx):
    d = []
    a = pay(bidn(1), ["870000000001"], inv="C", amount="200000.00")
    drop(rx, bidn(1) + ".zip", a)
    drop(rx, bidn(2) + ".zip", a)
    drop(rx, bidn(3) + ".ZIP", a)
    p = rb(rx, "run")
    ob = outbox(rx)
    if sorted(ob) != sorted([resp_name(bidn(1), "ACK"), resp_name(bidn(2), "NAK")]):
        d.append(f"outbox {list(ob)}")
    elif parse_response("x", ob[resp_name(bidn(2), "NAK")])["ctl"].get("error") != "B06":
        d.append(f"002 NAK {parse_response('x', ob[resp_name(bidn(2), 'NAK')])['ctl']}")
    if inbox(rx):
        d.append(f"inbox {inbox(rx)}")
    d += applied_once(rx, 4, "870000000004")
    return d + finish(rx, "end")


@case(1, "file vanishes while `run` waits for it to settle (settle 2, run_wait 6): run ends (no crash), nothing answered or set "
         "aside; file replaced (rename of other content) while settling -> answered once, for the new content, kept copy = answered bytes")
def i_vanish_replace(rx):
    d = []
    a = pay(bidn(1), ["880000000001"])
    drop(rx, bidn(1) + ".zip", a, age=None)
    th = threading.Timer(1.0, lambda: os.remove(rx + "/inbox/" + bidn(1) + ".zip"))
    th.start()
    p = rb(rx, "run", "--json", timeout=30)
    th.join()
    if p.returncode not in (0,):
        d.append(f"[vanish] run rc={p.returncode} {p.stderr.decode()[-300:]!r}")
    if outbox(rx) or status(rx).get("set_aside"):
        d.append(f"[vanish] something answered/set aside: {list(outbox(rx))}")
    NOTES.append(f"(vanish: rc={p.returncode} stdout={p.stdout.decode()[:200]!r})")
    b = pay(bidn(1), ["880000000002"])
    drop(rx, bidn(1) + ".zip", a, age=None)
    th = threading.Timer(1.0, lambda: drop(rx, bidn(1) + ".zip", b, age=None))
    th.start()
    p = rb(rx, "run", "--json", timeout=30)
    th.join()
    if inbox(rx):
        time.sleep(2.5); p = rb(rx, "run", "--json", timeout=30)
    ob = outbox(rx)
    raw = ob.get(resp_name(bidn(1), "ACK"))
    if not raw or parse_response("x", raw)["ctl"]["in_reply_to_sha256"] != sha(b) or results(raw)[2] != [("1", "880000000002", "1")]:
        d.append(f"[replace] outbox {list(ob)} {raw and parse_response('x', raw)['ctl']} (want one ACK for the new content)")
    if len(handled(rx, bidn(1))) != 1:
        d.append(f"[replace] handled {handled(rx, bidn(1))}")
    return d + finish(rx, "end")


@case(1, "race: while `run` (settle 0) handles the inbox, a thread keeps replacing 001 by rename with content A or B (other payment) "
         "or deleting it, 12 rounds: never a crash; every answer's in_reply_to_sha256 is A or B, its rows are those of that content, "
         "the kept received copy has those bytes; nothing applied that was not answered (audit clean)")
def i_race(rx):
    d = []
    notes = []
    for rnd in range(12):
        r = rx_new(f"i_race_{rnd}")
        A = pay(bidn(1), ["890000000%03d" % (rnd * 2)])
        B = pay(bidn(1), ["890000000%03d" % (rnd * 2 + 1)])
        stop = threading.Event()
        def toggler():
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    if i % 3 == 0:
                        os.remove(r + "/inbox/" + bidn(1) + ".zip")
                    else:
                        drop(r, bidn(1) + ".zip", A if i % 3 == 1 else B)
                except FileNotFoundError:
                    pass
                time.sleep(random.uniform(0, 0.004))
        drop(r, bidn(1) + ".zip", A)
        t = threading.Thread(target=toggler); t.start()
        time.sleep(random.uniform(0, 0.02))
        p = rb(r, "run", "--json", timeout=60)
        stop.set(); t.join()
        if p.returncode not in (0, 1):
            d.append(f"[round {rnd}] run rc={p.returncode} {p.stderr.decode()[-300:]!r}")
        for n, raw in outbox(r).items():
            c = parse_response(n, raw)["ctl"]
            h = c.get("in_reply_to_sha256")
            if h not in (sha(A), sha(B)):
                d.append(f"[round {rnd}] response {n} {c.get('result')} {c.get('error')} {c.get('message')!r} answers neither A nor B")
                continue
            want = "890000000%03d" % (rnd * 2 + (h == sha(B)))
            if c.get("result") == "ACK" and results(raw)[2] != [("1", want, "1")]:
                d.append(f"[round {rnd}] ACK rows {results(raw)[2]} are not those of the content it names")
            if h not in received_shas(r):
                d.append(f"[round {rnd}] answered content not kept in received/")
        notes.append((p.returncode, [(n[-7:-4], parse_response(n, raw)["ctl"].get("error")) for n, raw in outbox(r).items()]))
        d += finish(r, f"round {rnd}")
    NOTES.append(f"(race rounds (rc, responses): {notes})")
    return d


# ============================================================ 2. files still being written
def appender(path, data, pieces, pause, keep_old_mtime=False, truncate_at=None):
    step = len(data) // pieces + 1
    with open(path, "wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i:i + step]); f.flush(); os.fsync(f.fileno())
            if keep_old_mtime:
                os.utime(path, (time.time() - 3600, time.time() - 3600))
            time.sleep(pause)


@case(2, "§1 'must never pick up a file that is still growing': `run` (settle 1, run_wait 15) while a sender appends every 0.5 s for "
         "~6 s in place; then the same with the writer resetting the mtime to one hour ago after each write (a copy keeping its "
         "source's time; README: 'taken as soon as it is whole') -> never a response for a prefix, one ACK for the full archive")
def w_append(rx):
    d = []
    for label, old in (("fresh mtime", False), ("old mtime", True)):
        r = rx_new("w_append_" + label.replace(" ", "_"), settle_seconds=1, unreadable_grace_seconds=2, run_wait_seconds=15)
        bid = bidn(1)
        data = pay(bid, ["9100000%05d" % i for i in range(3000)])
        path = r + "/inbox/" + bid + ".zip"
        th = threading.Thread(target=appender, args=(path, data, 12, 0.5, old))
        th.start()
        time.sleep(0.3)
        p = rb(r, "run", "--json", timeout=60)
        th.join()
        if inbox(r):
            time.sleep(1.5)
            p2 = rb(r, "run", "--json", timeout=60)
        ob = outbox(r)
        for n, raw in ob.items():
            c = parse_response(n, raw)["ctl"]
            if c.get("in_reply_to_sha256") != sha(data):
                d.append(f"[{label}] answered a partial file: {n} {c.get('error')} {c.get('message')!r}")
        if list(ob) != [resp_name(bid, "ACK")]:
            d.append(f"[{label}] outbox {list(ob)} (want one ACK)")
        NOTES.append(f"({label}: first run rc={p.returncode} stdout {p.stdout.decode()[:160]!r})")
        d += finish(r, label)
    return d


@case(2, "archive truncated then completed, with `run`: half the archive in place with an mtime one hour old, `run` (settle 2, grace 2, "
         "run_wait 10) starts, 1.2 s later the rest is written and the old mtime set again -> README: 'before run answers an unreadable "
         ".zip B01, it also watches it unchanged for settle_seconds itself' -> ACK for the whole, no B01")
def w_truncated_completed(rx):
    d = []
    bid = bidn(1)
    data = pay(bid, ["9200000%05d" % i for i in range(500)])
    path = rx + "/inbox/" + bid + ".zip"
    open(path, "wb").write(data[:len(data) // 2])
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    def complete():
        with open(path, "ab") as f:
            f.write(data[len(data) // 2:])
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    th = threading.Timer(1.2, complete); th.start()
    p = rb(rx, "run", "--json", timeout=60)
    th.join()
    if inbox(rx):
        p = rb(rx, "run", "--json", timeout=60)
    ob = outbox(rx)
    if list(ob) != [resp_name(bid, "ACK")]:
        d.append(f"outbox {list(ob)} {[parse_response(n, x)['ctl'].get('error') for n, x in ob.items()]} (want ACK)")
    return d + finish(rx, "end")


@case(2, "*.part renamed into place while `run` waits for an earlier-settling file (settle 2, run_wait 8): PAY 002 (fresh, settling) "
         "pays X; 1 s later PAY 001.part (also pays X) renamed to 001.zip with an old mtime -> both answered; §7.2 waiting order "
         "001 then 002 (001 row 1, 002 row 301)")
def w_part_midrun(rx):
    d = []
    a1, a2 = pay(bidn(1), ["930000000001"]), pay(bidn(2), ["930000000001"])
    drop(rx, bidn(2) + ".zip", a2, age=None)
    part = rx + "/inbox/" + bidn(1) + ".zip.part"
    open(part, "wb").write(a1)
    def ren():
        os.utime(part, (time.time() - 60, time.time() - 60))
        os.rename(part, rx + "/inbox/" + bidn(1) + ".zip")
    th = threading.Timer(1.0, ren); th.start()
    p = rb(rx, "run", "--json", timeout=60)
    th.join()
    first = list(outbox(rx))
    if inbox(rx):
        rb(rx, "run")
    ob = outbox(rx)
    r1, r2 = ob.get(resp_name(bidn(1), "ACK")), ob.get(resp_name(bidn(2), "ACK"))
    if not r1 or not r2:
        return [f"outbox {list(ob)}"]
    got = (results(r1)[2], results(r2)[2])
    if got != ([("1", "930000000001", "1")], [("1", "930000000001", "301")]):
        d.append(f"§7.2 'Batches that are waiting together are handled in order of ... sequence number': 001 renamed in while 002 was "
                 f"still settling in the same run; got 001 {got[0]}, 002 {got[1]} (first run answered {first})")
    return d + finish(rx, "end")


@case(2, "mtimes in the future (+1 day, year 2100) and far past (1970): README: 'a time in the future ... settles' once seen unchanged "
         "for settle_seconds -> all three answered by one `run` (settle 1, run_wait 6)")
def w_mtimes(rx):
    d = []
    specs = [(1, time.time() + 86400), (2, 4102444800), (3, 0)]
    for s, mt in specs:
        path = drop(rx, bidn(s) + ".zip", pay(bidn(s), ["94000000000%d" % s]))
        os.utime(path, (mt, mt))
    t = time.time()
    p = rb(rx, "run", "--json", timeout=60)
    dt = time.time() - t
    ob = outbox(rx)
    want = sorted(resp_name(bidn(s), "ACK") for s, _ in specs)
    if sorted(ob) != want:
        d.append(f"one run answered {list(ob)} (want {want}); rc={p.returncode} stdout={p.stdout.decode()[:300]!r}")
    NOTES.append(f"(run with future mtimes took {dt:.1f}s)")
    return d + finish(rx, "end")


# ============================================================ 3. the operator
@case(3, "README 'one engine at a time': while `run` waits for a settling file: a second `run`, `watch`, `release`, `invoices import` "
         "exit 4 naming the lock; `status` and `audit verify` work (rc 0) and status shows the file settling; the first run answers once")
def o_concurrency(rx):
    d = []
    drop(rx, bidn(1) + ".zip", pay(bidn(1), ["950000000001"]), age=None)
    first = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.6)
    for args in (["run"], ["watch"], ["release", "deadbeefdead"], ["invoices", "import", rx + "/invoices.csv"]):
        p = rb(rx, *args, timeout=20)
        e = p.stderr.decode(errors="replace")
        if p.returncode != 4 or "lock" not in e.lower():
            d.append(f"{' '.join(args[:2])} during run: rc={p.returncode} (want 4 naming the lock) {e[-200:]!r}")
    ps = rb(rx, "status", "--json", timeout=20)
    pa = rb(rx, "audit", "verify", timeout=20)
    if ps.returncode != 0 or pa.returncode != 0:
        d.append(f"during run: status rc={ps.returncode}, audit verify rc={pa.returncode} {pa.stdout.decode()[-200:]!r}")
    else:
        st = json.loads(ps.stdout)
        NOTES.append(f"(status during run: {st.get('waiting')})")
    out, err = first.communicate(timeout=60)
    if first.returncode != 0 or resp_name(bidn(1), "ACK") not in outbox(rx) or len(handled(rx, bidn(1))) != 1:
        d.append(f"first run rc={first.returncode} outbox {list(outbox(rx))}")
    return d + finish(rx, "end")


@case(3, "release: a set-aside 'x.zip' released while the sender has put another file 'x.zip' in the inbox -> must not overwrite it "
         "(§1 keeps every archive; never loses data); `release --as ../../escape.zip` writes nothing outside the inbox; release of an "
         "unknown file and of a 7-hex prefix -> non-zero exit with a message")
def o_release(rx):
    d = []
    A = pay(bidn(1), ["960000000001"])
    drop(rx, "x.zip", A)
    rb(rx, "run")
    C = pay(bidn(2), ["960000000002"])
    drop(rx, "x.zip", C)  # the sender's new file, same bad name, not yet handled
    p = rb(rx, "release", "x.zip")
    cur = open(rx + "/inbox/x.zip", "rb").read() if os.path.exists(rx + "/inbox/x.zip") else None
    if cur != C:
        d.append(f"release x.zip with another x.zip waiting in the inbox: rc={p.returncode}, inbox x.zip now "
                 f"{'A (the released one)' if cur == A else cur and len(cur)} -- the waiting file C "
                 f"{'is lost (never kept, never set aside)' if sha(C) not in {os.path.basename(x).split('.')[0] for x in glob.glob(rx + '/var/set-aside/*.bin')} else 'was overwritten (kept elsewhere)'}")
    NOTES.append(f"(release over an existing inbox file: rc={p.returncode} {p.stdout.decode()[-150:]!r} {p.stderr.decode()[-200:]!r}; inbox {inbox(rx)})")
    rb(rx, "run")
    # --as with a path
    esc = os.path.join(rx, "escape.zip")
    p = rb(rx, "release", sha(A)[:12], "--as", "../../escape.zip")
    if os.path.exists(esc) or os.path.exists(os.path.join(os.path.dirname(rx), "escape.zip")):
        d.append("release --as ../../escape.zip wrote outside the inbox")
    NOTES.append(f"(release --as ../../escape.zip: rc={p.returncode}, inbox {inbox(rx)}, {p.stderr.decode()[-150:]!r})")
    for f in inbox(rx):
        os.remove(rx + "/inbox/" + f)
    # --as onto an existing inbox file
    D = pay(bidn(3), ["960000000003"])
    drop(rx, bidn(3) + ".zip", D)
    p = rb(rx, "release", sha(A)[:12], "--as", bidn(3) + ".zip")
    if open(rx + "/inbox/" + bidn(3) + ".zip", "rb").read() != D:
        d.append(f"release --as {bidn(3)}.zip replaced the sender's waiting archive of that name (rc={p.returncode})")
    for args in (["release", "nosuchfile.zip"], ["release", sha(A)[:7]]):
        p = rb(rx, *args)
        if p.returncode in (0,) or not p.stderr.strip():
            d.append(f"{' '.join(args)}: rc={p.returncode} {p.stderr.decode()[-150:]!r}")
    rb(rx, "run")
    return d + finish(rx, "end")


@case(3, "README exit codes: unknown command 2, unknown option 2, missing --config file 3 naming it; run with an ACK 0, with a NAK 0, "
         "--strict with a NAK 5, --strict with a set-aside file 5, --strict all ACK 0")
def o_exit_codes(rx):
    d = []
    def want(label, p, rc, names=None):
        if p.returncode != rc:
            d.append(f"{label}: rc={p.returncode} (README: {rc}) {p.stderr.decode()[-200:]!r}")
        elif names and names not in p.stderr.decode():
            d.append(f"{label}: message does not name {names!r}: {p.stderr.decode()[-200:]!r}")
    want("unknown command", sh([BIN, "--config", rx + "/reestr.toml", "frobnicate"], check=False), 2)
    want("unknown option", rb(rx, "run", "--bogus"), 2)
    want("missing config", sh([BIN, "--config", rx + "/nope.toml", "run"], check=False), 3, "nope.toml")
    drop(rx, bidn(1) + ".zip", pay(bidn(1), ["970000000001"]))
    want("run ACK", rb(rx, "run"), 0)
    drop(rx, bidn(2) + ".zip", pay(bidn(2), ["970000000002"], total="9.99"))
    want("run NAK", rb(rx, "run"), 0)
    drop(rx, bidn(3) + ".zip", pay(bidn(3), ["970000000003"], total="9.99"))
    want("run --strict NAK", rb(rx, "run", "--strict"), 5)
    drop(rx, "junk.zip", b"junk")
    want("run --strict set aside", rb(rx, "run", "--strict"), 5)
    drop(rx, bidn(4) + ".zip", pay(bidn(4), ["970000000004"]))
    want("run --strict ACK", rb(rx, "run", "--strict"), 0)
    want("run --strict empty", rb(rx, "run", "--strict"), 0)
    return d + finish(rx, "end")


@case(3, "README: 'when one is missing (a share not mounted), run, watch, status and release exit 3 naming it'; audit verify needs "
         "neither; the archive in the inbox is untouched")
def o_missing_folders(rx):
    d = []
    a = pay(bidn(1), ["980000000001"])
    drop(rx, bidn(1) + ".zip", a)
    os.rename(rx + "/outbox", rx + "/outbox.away")
    for args in (["run"], ["watch"], ["status"], ["release", "abcdef0123"]):
        p = rb(rx, *args, timeout=20)
        if p.returncode != 3 or "outbox" not in p.stderr.decode():
            d.append(f"outbox missing: {args[0]} rc={p.returncode} {p.stderr.decode()[-200:]!r}")
    if rb(rx, "audit", "verify").returncode != 0:
        d.append("audit verify fails with the outbox missing")
    if inbox(rx) != [bidn(1) + ".zip"] or status_in(rx) is None:
        pass
    os.rename(rx + "/outbox.away", rx + "/outbox")
    os.rename(rx + "/inbox", rx + "/inbox.away")
    for args in (["run"], ["status"]):
        p = rb(rx, *args, timeout=20)
        if p.returncode != 3 or "inbox" not in p.stderr.decode():
            d.append(f"inbox missing: {args[0]} rc={p.returncode} {p.stderr.decode()[-200:]!r}")
    if os.path.exists(rx + "/inbox"):
        d.append("a missing inbox was created by a command other than init")
    os.rename(rx + "/inbox.away", rx + "/inbox")
    if open(rx + "/inbox/" + bidn(1) + ".zip", "rb").read() != a:
        d.append("archive changed")
    rb(rx, "run")
    if resp_name(bidn(1), "ACK") not in outbox(rx):
        d.append("not answered after the folders came back")
    return d + finish(rx, "end")


def status_in(rx):
    return True


@case(3, "outbox read-only (ro bind mount): README 'Status 2': 'A failure after the batch is committed (the outbox full or not writable) "
         "leaves the batch applied and its response kept in sent/; the archive stays in the inbox, run exits 1, and the next run ... "
         "writes that same response and removes the archive (FINISHED)'; applied once")
def o_outbox_ro(rx):
    d = []
    a = pay(bidn(1), ["990000000001"], inv="C", amount="200000.00")
    drop(rx, bidn(1) + ".zip", a)
    m = Mount(rx + "/outbox", ro=True)
    if not m.ok:
        NOTES.append("(bind mount not permitted: skipped " + m.err + ")")
        return []
    try:
        p = rb(rx, "run", "--json")
        if p.returncode != 1:
            d.append(f"run with a read-only outbox rc={p.returncode} (README: 1) {p.stderr.decode()[-300:]!r}")
        if inbox(rx) != [bidn(1) + ".zip"]:
            d.append(f"inbox {inbox(rx)} (README: the archive stays)")
        if "outbox" not in p.stderr.decode():
            d.append(f"message does not name the outbox: {p.stderr.decode()[-300:]!r}")
        sent = sent_shas(rx)
        p2 = rb(rx, "run", "--json")
        if p2.returncode != 1:
            d.append(f"second run, outbox still read-only: rc={p2.returncode}")
        if sent_shas(rx) != sent:
            d.append("second run kept another response in sent/ (batch evaluated again?)")
    finally:
        m.umount()
    p3 = rb(rx, "run")
    if "FINISHED" not in p3.stdout.decode():
        d.append(f"no FINISHED line: {p3.stdout.decode()[:300]!r}")
    raw = outbox(rx).get(resp_name(bidn(1), "ACK"))
    if not raw or sha(raw) not in sent:
        d.append("response written later is not the one kept in sent/")
    if inbox(rx):
        d.append(f"inbox {inbox(rx)}")
    d += applied_once(rx, 2, "990000000002")
    return d + finish(rx, "end")


@case(3, "inbox read-only (ro bind mount; the share mounted read-only): the archive cannot be removed -> `run` must not apply it "
         "twice over repeated runs, must say so (non-zero exit, message naming the inbox/file), and a bad name cannot be moved aside")
def o_inbox_ro(rx):
    d = []
    a = pay(bidn(1), ["991000000001"], inv="C", amount="200000.00")
    drop(rx, bidn(1) + ".zip", a)
    drop(rx, "junk.zip", b"junk")
    m = Mount(rx + "/inbox", ro=True)
    if not m.ok:
        NOTES.append("(bind mount not permitted: skipped)")
        return []
    runs = []
    try:
        for i in range(3):
            p = rb(rx, "run", "--json")
            runs.append((p.returncode, p.stdout.decode()[:300], p.stderr.decode()[-300:]))
        st = status(rx)
    finally:
        m.umount()
    NOTES.append(f"(read-only inbox runs: {runs})")
    if runs[0][0] == 0:
        d.append(f"README exit 0 means 'every archive in the inbox was handled'; with a read-only inbox run exits 0 and the "
                 f"archives stay: {runs[0]}")
    ds = [x for x in st.get("recent", []) if x.get("batch_id") == bidn(1)]
    sa = [x for x in st.get("set_aside", []) if x.get("original_name") == "junk.zip"]
    NOTES.append(f"(deliveries recorded for 001: {[(x['result']) for x in ds]}; set-aside records for junk.zip: {len(sa)})")
    if len(sa) > 1:
        d.append(f"junk.zip set aside {len(sa)} times over 3 runs (it never left the inbox)")
    rb(rx, "run")
    drop(rx, bidn(2) + ".zip", pay(bidn(2), ["991000000002"], inv="C", amount="100000.00"))
    rb(rx, "run")
    r2 = outbox(rx).get(resp_name(bidn(2), "ACK"))
    if not r2 or results(r2)[2] != [("1", "991000000002", "1")]:
        d.append(f"PAY 001 applied more than once? 002 -> {r2 and results(r2)[2]}")
    return d + finish(rx, "end")


@case(3, "data folder read-only (ro bind mount of var/): run exits 3 naming it, the archive stays; README: status and audit verify "
         "'work on a read-only copy of the data folder' (rc 0)")
def o_data_ro(rx):
    d = []
    drop(rx, bidn(1) + ".zip", pay(bidn(1), ["992000000001"]))
    rb(rx, "run")
    drop(rx, bidn(2) + ".zip", pay(bidn(2), ["992000000002"]))
    m = Mount(rx + "/var", ro=True)
    if not m.ok:
        NOTES.append("(bind mount not permitted: skipped)")
        return []
    try:
        p = rb(rx, "run")
        if p.returncode != 3:
            d.append(f"run on a read-only data folder rc={p.returncode} (README: 3) {p.stderr.decode()[-300:]!r}")
        NOTES.append(f"(ro data: run stderr {p.stderr.decode()[-250:]!r})")
        if inbox(rx) != [bidn(2) + ".zip"]:
            d.append(f"inbox {inbox(rx)}")
        ps = rb(rx, "status")
        pa = rb(rx, "audit", "verify")
        if ps.returncode != 0:
            d.append(f"status on read-only data rc={ps.returncode} {ps.stderr.decode()[-300:]!r}")
        if pa.returncode != 0:
            d.append(f"audit verify on read-only data rc={pa.returncode} {pa.stdout.decode()[-200:]!r} {pa.stderr.decode()[-300:]!r}")
    finally:
        m.umount()
    rb(rx, "run")
    if resp_name(bidn(2), "ACK") not in outbox(rx):
        d.append("not answered after the data folder became writable")
    return d + finish(rx, "end")


@case(3, "disk full (data folder on a small tmpfs): README exit 3 'store (... disk full)'; 'an archive in hand was not applied and stays "
         "in the inbox'; after space is freed the next run answers it; no temporary files left; audit clean. Then the outbox on a full "
         "tmpfs: run exits 1, FINISHED later")
def o_disk_full(rx):
    d = []
    used = sum(os.path.getsize(x) for x in glob.glob(rx + "/var/**", recursive=True) if os.path.isfile(x))
    m = Mount(rx + "/var", tmpfs_size=str(used + 600 * 1024))
    if not m.ok:
        NOTES.append("(tmpfs not permitted: skipped)")
        return []
    try:
        bid = bidn(1)
        rows = [pay_row("99300%07d" % i, inv="N%d" % (10 + i % 30), amount="1.00", purpose=rand_letters(200, seed=i)) for i in range(4000)]
        a = build_archive(bid, registry("PAY", rows))
        drop(rx, bid + ".zip", a)
        p = rb(rx, "run", "--json")
        e = p.stderr.decode()
        if p.returncode not in (1, 3):
            d.append(f"run on a full data disk rc={p.returncode} (README: 3 or 1) {e[-300:]!r}")
        if inbox(rx) != [bid + ".zip"]:
            d.append(f"inbox after the failure {inbox(rx)} (README: stays in the inbox)")
        if outbox(rx):
            d.append(f"a response was written although the batch failed: {list(outbox(rx))}")
        NOTES.append(f"(disk full: rc={p.returncode} {e[-250:]!r})")
        ps = rb(rx, "status")
        if ps.returncode != 0:
            d.append(f"status while the disk is full rc={ps.returncode}")
        m.remount("size=300m")
        p = rb(rx, "run")
        raw = outbox(rx).get(resp_name(bid, "ACK"))
        if not raw or parse_response("x", raw)["ctl"].get("accepted") != "4000":
            d.append(f"after freeing space: rc={p.returncode} outbox {list(outbox(rx))}")
        tmp = [x for x in glob.glob(rx + "/var/tmp/*")]
        if tmp:
            d.append(f"temporary files left in var/tmp: {tmp}")
        d += finish(rx, "after data-full")
    finally:
        m.umount()
    # outbox full
    rx2 = rx_new("o_disk_full_outbox")
    m2 = Mount(rx2 + "/outbox", tmpfs_size="8k")
    if not m2.ok:
        return d
    try:
        open(rx2 + "/outbox/filler", "wb").write(b"\0" * 8192) if True else None
    except OSError:
        pass
    try:
        a = build_archive(bidn(1), registry("PAY", [pay_row("99400%07d" % i, inv="C", amount="1.00", purpose=rand_letters(200, seed=i)) for i in range(300)]))
        drop(rx2, bidn(1) + ".zip", a)
        p = rb(rx2, "run")
        if p.returncode != 1 or inbox(rx2) != [bidn(1) + ".zip"]:
            d.append(f"[outbox full] rc={p.returncode} (README: 1) inbox {inbox(rx2)} {p.stderr.decode()[-300:]!r}")
        os.remove(rx2 + "/outbox/filler")
        m2.remount("size=50m")
        p = rb(rx2, "run")
        if "FINISHED" not in p.stdout.decode() or resp_name(bidn(1), "ACK") not in outbox(rx2):
            d.append(f"[outbox full] after freeing: {p.stdout.decode()[:300]!r} outbox {list(outbox(rx2))}")
        leftovers = [f for f in os.listdir(rx2 + "/outbox") if f.startswith(".") or f.endswith(".part") or f.endswith(".tmp")]
        if leftovers:
            d.append(f"[outbox full] temporary files left in the outbox: {leftovers}")
    finally:
        m2.umount()
    return d + finish(rx2, "outbox-full")


@case(3, "store full (data folder on a tmpfs where the received copy fits but the batch's store pages do not): README exit 3 "
         "'store (... disk full)'; 'an archive in hand was not applied and stays in the inbox'; no response; after space is freed the "
         "next run answers it in full; audit clean")
def o_store_full(rx):
    d = []
    bid = bidn(1)
    rows = [pay_row("99600%07d" % i, inv="N%d" % (10 + i % 30), amount="1.00") for i in range(20000)]
    a = build_archive(bid, registry("PAY", rows))
    used = sum(os.path.getsize(x) for x in glob.glob(rx + "/var/**", recursive=True) if os.path.isfile(x))
    m = Mount(rx + "/var", tmpfs_size=str(used + 3 * len(a) + 1024 * 1024))
    if not m.ok:
        NOTES.append("(tmpfs not permitted: skipped)")
        return []
    try:
        drop(rx, bid + ".zip", a)
        p = rb(rx, "run", "--json")
        e = p.stderr.decode()
        NOTES.append(f"(archive {len(a) >> 10} KiB; store full: rc={p.returncode} {e[-250:]!r})")
        if p.returncode != 3:
            d.append(f"run with the store's disk full rc={p.returncode} (README: 3 'store (corrupt, from a newer engine, disk full)') {e[-300:]!r}")
        if inbox(rx) != [bid + ".zip"]:
            d.append(f"inbox after the failure {inbox(rx)}")
        if outbox(rx):
            d.append(f"a response was written although the batch failed: {list(outbox(rx))}")
        ps = rb(rx, "status", "--json")
        if ps.returncode != 0 or json.loads(ps.stdout).get("recent"):
            d.append(f"status after the failure rc={ps.returncode}: shows the batch as handled?")
        m.remount("size=300m")
        p = rb(rx, "run")
        raw = outbox(rx).get(resp_name(bid, "ACK"))
        if not raw or parse_response("x", raw)["ctl"].get("accepted") != "20000":
            d.append(f"after freeing space: rc={p.returncode} outbox {list(outbox(rx))}")
        if glob.glob(rx + "/var/tmp/*"):
            d.append(f"temporary files left in var/tmp: {glob.glob(rx + '/var/tmp/*')}")
        d += finish(rx, "end")
    finally:
        m.umount()
    return d


@case(3, "README 'the inbox and the outbox may be elsewhere, e.g. on the share': inbox and outbox on another file system (tmpfs), and "
         "the inbox/outbox given as symbolic links to folders elsewhere (a mounted share) -> archives answered, kept copies complete")
def o_elsewhere(rx):
    d = []
    mi, mo = Mount(rx + "/inbox", tmpfs_size="20m"), Mount(rx + "/outbox", tmpfs_size="20m")
    if not (mi.ok and mo.ok):
        NOTES.append("(tmpfs not permitted: part skipped)")
    else:
        try:
            a = pay(bidn(1), ["997000000001"])
            drop(rx, bidn(1) + ".zip", a)
            drop(rx, "bad.zip", b"x")
            p = rb(rx, "run")
            if p.returncode != 0 or resp_name(bidn(1), "ACK") not in outbox(rx) or inbox(rx):
                d.append(f"[tmpfs inbox/outbox] rc={p.returncode} outbox {list(outbox(rx))} inbox {inbox(rx)} {p.stderr.decode()[-300:]!r}")
            if sha(a) not in received_shas(rx):
                d.append("[tmpfs] archive not kept")
        finally:
            mi.umount(); mo.umount()
    share = rx + "/share"
    os.makedirs(share + "/in"); os.makedirs(share + "/out")
    shutil.rmtree(rx + "/inbox"); shutil.rmtree(rx + "/outbox")
    os.symlink(share + "/in", rx + "/inbox"); os.symlink(share + "/out", rx + "/outbox")
    a = pay(bidn(2), ["997000000002"])
    drop(rx, bidn(2) + ".zip", a)
    p = rb(rx, "run")
    if p.returncode != 0 or resp_name(bidn(2), "ACK") not in outbox(rx) or inbox(rx):
        d.append(f"[symlinked inbox/outbox] rc={p.returncode} outbox {list(outbox(rx))} inbox {inbox(rx)} {p.stderr.decode()[-300:]!r}")
    return d + finish(rx, "end")


@case(1, "`watch` with an archive it may not read (engine as an unprivileged user): it must go on answering other archives, not exit "
         "or spin, and answer the file once it becomes readable; SIGTERM -> exit 0")
def o_watch_unreadable(rx):
    d = []
    to_nobody(rx)
    pp = drop(rx, bidn(5) + ".zip", pay(bidn(5), ["998000000005"]))
    os.chown(pp, 0, 0); os.chmod(pp, 0)
    err = open(rx + "/watch.err", "w")
    w = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BIN, "--config", rx + "/reestr.toml", "watch"],
                         stdout=subprocess.DEVNULL, stderr=err)
    time.sleep(1.5)
    if w.poll() is not None:
        d.append(f"watch exited {w.returncode} with an unreadable archive in the inbox: {open(rx + '/watch.err').read()[-300:]!r}")
        return d
    p2 = drop(rx, bidn(6) + ".zip", pay(bidn(6), ["998000000006"]))
    os.chown(p2, 65534, 65534)
    t = time.time()
    while time.time() - t < 12 and resp_name(bidn(6), "ACK") not in outbox(rx):
        time.sleep(0.2)
    got6 = resp_name(bidn(6), "ACK") in outbox(rx)
    os.chmod(pp, 0o644); os.chown(pp, 65534, 65534)
    t = time.time()
    while time.time() - t < 12 and resp_name(bidn(5), "ACK") not in outbox(rx):
        time.sleep(0.2)
    w.send_signal(signal.SIGTERM)
    try:
        rc = w.wait(15)
    except subprocess.TimeoutExpired:
        w.kill(); rc = "TIMEOUT"
    log = open(rx + "/watch.err").read()
    NOTES.append(f"(watch with unreadable 005: later 006 answered while 005 unreadable: {got6}; watch rc={rc}; log lines {len(log.splitlines())}; "
                 f"last {log[-250:]!r})")
    if resp_name(bidn(5), "ACK") not in outbox(rx):
        d.append(f"005 not answered after it became readable: outbox {list(outbox(rx))}; watch rc={rc}")
    if rc not in (0,):
        d.append(f"watch rc={rc}")
    if len(log.splitlines()) > 200:
        d.append(f"watch logged {len(log.splitlines())} lines in ~15 s (spinning on the unreadable file)")
    return d + finish(rx, "end")


@case(3, "key file (README 'Configuration'): missing -> exit 3 naming it; 63 hex digits, non-hex, a folder -> exit 3 naming it and never "
         "echoing key material; mode 0664 -> refused naming the file; 0644 -> used with a warning 'chmod 600 ...'; the §6 form '64 hex "
         "digits' written upper-case or with a CRLF line end")
def o_key_file(rx):
    d = []
    kf = rx + "/keys/MUNIS.key"
    def try_key(label, content=None, mode=0o600, folder=False, want_rc=3, must=None):
        if os.path.isdir(kf):
            os.rmdir(kf)
        elif os.path.exists(kf):
            os.remove(kf)
        if folder:
            os.mkdir(kf)
        elif content is not None:
            open(kf, "wb").write(content); os.chmod(kf, mode)
        drop(rx, bidn(1) + ".zip", pay(bidn(1), ["995000000001"]))
        p = rb(rx, "run")
        e = p.stderr.decode(errors="replace") + p.stdout.decode(errors="replace")
        res = (p.returncode, e[-200:])
        if want_rc is not None and p.returncode != want_rc:
            d.append(f"[{label}] rc={p.returncode} (want {want_rc}) {e[-250:]!r}")
        if want_rc == 3 and "MUNIS.key" not in e:
            d.append(f"[{label}] message does not name the key file: {e[-250:]!r}")
        if content and len(content) > 20 and content.strip()[:30].decode(errors="replace") in e:
            d.append(f"[{label}] key material echoed in the message")
        if must and must not in e:
            d.append(f"[{label}] message lacks {must!r}: {e[-250:]!r}")
        for f in inbox(rx):
            os.remove(rx + "/inbox/" + f)
        clear_outbox(rx)
        return res
    try_key("missing")
    try_key("63 hex", (KEY_HEX[:63] + "\n").encode())
    try_key("non-hex", ("z" * 64 + "\n").encode())
    try_key("65 hex", (KEY_HEX + "a\n").encode())
    try_key("folder", folder=True)
    try_key("mode 0664", (KEY_HEX + "\n").encode(), mode=0o664)
    try_key("mode 0644", (KEY_HEX + "\n").encode(), mode=0o644, want_rc=0, must="chmod 600")
    up = try_key("upper-case hex", (KEY_HEX.upper() + "\n").encode(), want_rc=None)
    crlf = try_key("CRLF", (KEY_HEX + "\r\n").encode(), want_rc=None)
    nonl = try_key("no line end", KEY_HEX.encode(), want_rc=None)
    NOTES.append(f"(key upper-case: {up}; CRLF: {crlf}; no line end: {nonl})")
    if nonl[0] != 0:
        d.append(f"key file of exactly 64 hex digits (no line end; §6 'a file holding 64 hex digits') refused: {nonl}")
    try_key("restore", (KEY_HEX + "\n").encode(), want_rc=0)
    return d + finish(rx, "end")


@case(3, "malformed configuration: README exit 3 'could not run: configuration'; an operator wants the file and line named: a TOML "
         "syntax error on line 5, a wrong type, a misspelt key (silently ignored?), an invalid receiver code, a negative settle time, "
         "an unknown type for a partner")
def o_config(rx):
    d = []
    base = open(rx + "/reestr.toml").read()
    cfgp = rx + "/reestr.toml"
    lines = base.split("\n")
    def try_cfg(label, text, want=3, names=()):
        open(cfgp, "w").write(text)
        p = rb(rx, "run")
        e = p.stderr.decode(errors="replace")
        r = (p.returncode, e.strip()[-220:])
        if want is not None and p.returncode != want:
            d.append(f"[{label}] rc={p.returncode} (want {want}) {e[-250:]!r}")
        for n in names:
            if p.returncode == want and n not in e:
                d.append(f"[{label}] message does not name {n!r}: {e[-250:]!r}")
        return r
    l5 = list(lines); l5[4] = l5[4] + " = = oops"
    r1 = try_cfg("syntax line 5", "\n".join(l5), names=("reestr.toml", "5"))
    r2 = try_cfg("wrong type", base.replace("settle_seconds = 0", 'settle_seconds = "five"'), names=("settle_seconds",))
    r3 = try_cfg("misspelt key", base.replace("settle_seconds = 0", "setle_seconds = 0"), want=None)
    r4 = try_cfg("receiver lower-case", base.replace('receiver = "SUDBILLING"', 'receiver = "sudbilling"'), names=("receiver",))
    r5 = try_cfg("negative settle", base.replace("settle_seconds = 0", "settle_seconds = -5"), names=("settle_seconds",))
    r6 = try_cfg("partner type", base + 'types = ["PAY", "XXX"]\n', names=("XXX",))
    r7 = try_cfg("duplicate key", base + 'receiver2 = 1\n'.replace("receiver2", "inbox"), names=("inbox",))
    r8 = try_cfg("partner code invalid", base.replace("[partners.MUNIS]", "[partners.munis]"), want=None)
    NOTES.append(f"(misspelt key setle_seconds: {r3}; partner 'munis': {r8})")
    if r3[0] == 0:
        d.append(f"a misspelt key (setle_seconds) is silently ignored (rc 0): the operator believes it set something it did not")
    open(cfgp, "w").write(base)
    return d + finish(rx, "end")


SETTINGS = {
    "i_vanish_replace": dict(settle_seconds=2, run_wait_seconds=6),
    "w_truncated_completed": dict(settle_seconds=2, unreadable_grace_seconds=2, run_wait_seconds=10),
    "w_part_midrun": dict(settle_seconds=2, run_wait_seconds=8),
    "w_mtimes": dict(settle_seconds=1, run_wait_seconds=6),
    "o_concurrency": dict(settle_seconds=3, run_wait_seconds=10),
}


if __name__ == "__main__":
    run_cases("environment", CASES, lambda c: rx_new(c[0], **SETTINGS.get(c[0], {})), notes=NOTES)
