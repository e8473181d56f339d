"""Black-box conformance suite derived from the exchange agreement (munis-offline/1): operations
(§1 transport, at-least-once delivery and keeping; §7 waiting order and atomicity; §8 newer
responses, replay, set-aside files).

    REESTR_BIN=target/release/reestr python3 conformance/operations.py [NAME-SUBSTRING ...]
    (SEED=n changes the moments processes are killed; BIG_N=n the size of the big PAY and REC,
    default 50000)

Real processes: `watch` and `run` started, stopped with SIGTERM and killed with SIGKILL, files
written slowly in place, renamed in, truncated and rewritten. Each case checks the responses
(lib.check_response, §8), that every archive and response is kept (var/received/<sha256>.zip,
var/sent/<sha256>.zip), and that `audit verify` stays clean. It takes a few minutes: the
transport cases wait for files to settle, and the atomicity cases kill the engine during
50,000-row batches.

Areas:
 1. transport under `watch` and `run` (§1): *.part and dot names, copies in place (slow,
    stalled, truncated and rewritten), archives arriving together or staggered, `run` started
    while a file is still growing, concurrent receivers on one inbox.
 2. at-least-once and keeping (§1, §7.1): re-delivery with `run` and `watch` gets the stored
    response byte for byte and applies nothing twice, also after the response was taken from
    the outbox.
 3. a newer response replaces an older one of the same name in the outbox; both are kept (§8).
 4. batches waiting together are handled by business date, type and SEQ (§7).
 5. atomicity (§7): `run` and `watch` killed with SIGKILL, `watch` stopped with SIGTERM, at
    random moments of large batches, then restarted: the same responses byte for byte as an
    uninterrupted run, each batch applied once.
 6. replay reproduces every sent response byte for byte (§8).
 7. set-aside files and `release` (§2, §8).
"""
import sys, json, signal, threading, traceback, glob
from lib import *

CA = "2026-11-22T01:05:00+05:00"
CASES, case = case_list()
NOTES = []
RNG = random.Random(int(os.environ.get("SEED", "6")))


# ---------------------------------------------------------------- building blocks
def rx_new(name, settle=None, grace=None, run_wait=None, defaults=False):
    """Receiver from lib.new_receiver; defaults=True drops settle/grace/run_wait so the receiver's defaults apply."""
    rx = new_receiver(name)
    cfg = open(rx + "/reestr.toml").read()
    for k, v in (("settle_seconds", settle), ("unreadable_grace_seconds", grace), ("run_wait_seconds", run_wait)):
        line = next(l for l in cfg.split("\n") if l.startswith(k + " "))
        if defaults and v is None:
            cfg = cfg.replace(line + "\n", "")
        elif v is not None:
            cfg = cfg.replace(line, f"{k} = {v}")
    open(rx + "/reestr.toml", "w").write(cfg)
    return rx


def rb(cmd_rx, *args, check=False):
    return sh([BIN, "--config", cmd_rx + "/reestr.toml", *args], check=check)


def rec(bid, items, **kw):
    return build_archive(bid, registry("REC", [[p, pa, INV[i][0], a, st] for p, pa, i, a, st in items]), **kw)


def kept(rx, sub):
    return {sha(open(p, "rb").read()) for p in glob.glob(f"{rx}/var/{sub}/*")}


def drop(rx, name, data, via_part=True, age=10):
    path = os.path.join(rx, "inbox", name)
    tmp = path + ".part" if via_part else path
    with open(tmp, "wb") as f:
        f.write(data)
    if via_part:
        os.rename(tmp, path)
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def run(rx, *extra):
    return rb(rx, "run", "--json", *extra)


class Watch:
    def __init__(self, rx):
        self.rx = rx
        self.err = open(rx + "/watch.%d.err" % time.time_ns(), "w")
        self.p = subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "watch"], stdout=subprocess.DEVNULL, stderr=self.err)
        time.sleep(0.7)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill(); self.p.wait()
            return "TIMEOUT"


def wait_for(pred, timeout=30, step=0.1):
    t = time.time()
    while time.time() - t < timeout:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def handled_count(rx, bid):
    st = json.loads(rb(rx, "status", "--json", "--last", "1000").stdout)
    return [x for x in st.get("recent", []) if x.get("batch_id") == bid]


def keeping(rx, archives, responses, label):
    """Every received archive and every sent response must be kept (by content)."""
    d = []
    rcv, snt = kept(rx, "received"), kept(rx, "sent")
    for n, b in archives:
        if sha(b) not in rcv:
            d.append(f"[{label}] received archive {n} (sha {sha(b)[:12]}) not kept under var/received")
    for n, b in responses:
        if sha(b) not in snt:
            d.append(f"[{label}] sent response {n} (sha {sha(b)[:12]}) not kept under var/sent")
    return d


def audit_ok(rx, label):
    p = rb(rx, "audit", "verify")
    if p.returncode != 0 or "intact" not in p.stdout.decode():
        return [f"[{label}] audit verify rc={p.returncode}: {p.stdout.decode()[-300:]!r} {p.stderr.decode()[-300:]!r}"]
    return []


def slow_write(path, data, pieces, pause, truncate_first=None):
    """Copy in place: open the final name and write in pieces with pauses."""
    with open(path, "wb") as f:
        if truncate_first is not None:
            f.write(truncate_first); f.flush(); time.sleep(pause)
            f.seek(0); f.truncate()
        step = len(data) // pieces + 1
        for i in range(0, len(data), step):
            f.write(data[i:i + step]); f.flush(); os.fsync(f.fileno())
            time.sleep(pause)


# ============================================================ 1. transport with watch
@case(1, "§1 watch (settle_seconds=2): *.part then rename, and .name then rename, each written slowly over ~3 s -> "
         "exactly one ACK each, for the full archive; the temporary files are never answered")
def t_part_and_dot(rx):
    d = []
    w = Watch(rx)
    archs = []
    for i, how in enumerate(["part", "dot"]):
        bid = bidn(i + 1)
        data = pay(bid, ["61000000000%d" % i])
        final = os.path.join(rx, "inbox", bid + ".zip")
        tmp = final + ".part" if how == "part" else os.path.join(rx, "inbox", "." + bid + ".zip")
        slow_write(tmp, data, 10, 0.3)
        time.sleep(3)  # longer than settle while still under the temporary name
        if any(bid.split("_", 2)[2] in x for x in os.listdir(rx + "/outbox")):
            d.append(f"[{how}] a response appeared while the file had its temporary name: {os.listdir(rx + '/outbox')}")
        if not os.path.exists(tmp):
            d.append(f"[{how}] the temporary file was taken from the inbox")
        os.rename(tmp, final)
        archs.append((bid, data))
        ok = wait_for(lambda: resp_name(bid, "ACK") in os.listdir(rx + "/outbox"), 20)
        if not ok:
            d.append(f"[{how}] no ACK within 20 s: {os.listdir(rx + '/outbox')}")
    time.sleep(3)
    rc = w.stop()
    if rc != 0:
        d.append(f"watch exit code on SIGTERM {rc}")
    ob = outbox(rx)
    for bid, data in archs:
        hs = handled_count(rx, bid)
        if len(hs) != 1:
            d.append(f"[{bid}] handled {len(hs)} times: {hs}")
        raw = ob.get(resp_name(bid, "ACK"))
        if raw:
            d += [f"[{bid}] {x}" for x in check_response(parse_response(resp_name(bid, "ACK"), raw), bid + ".zip", data,
                                                         {"result": "ACK", "rows": [(1, "61000000000%d" % (int(bid[-1]) - 1), 1, "")]})]
    if len(ob) != 2:
        d.append(f"outbox holds {sorted(ob)} (expected the two ACKs only)")
    return d + keeping(rx, archs, list(ob.items()), "keep") + audit_ok(rx, "audit")


@case(1, "§1 watch (settle_seconds=2): archive copied in place under its final name in 25 pieces, 0.4 s apart (~10 s); "
         "then (receiver defaults) one copied in 3 pieces 7 s apart (pauses longer than the settle time): never taken before complete; "
         "exactly one response, for the full archive")
def t_slow_copy(rx):
    d = []
    for label, pieces, pause in (("25x0.4s, settle 2", 25, 0.4), ("3x7s, defaults", 3, 7.0)):
        if label.endswith("defaults"):
            rx = rx_new("t_slow_copy_defaults", defaults=True)
        bid = bidn(1)
        rows = ["62000000%04d" % i for i in range(300)]
        data = pay(bid, rows)
        w = Watch(rx)
        slow_write(os.path.join(rx, "inbox", bid + ".zip"), data, pieces, pause)
        wait_for(lambda: os.listdir(rx + "/outbox"), 30)
        time.sleep(2)
        w.stop()
        ob = outbox(rx)
        hs = handled_count(rx, bid)
        if list(ob) != [resp_name(bid, "ACK")] or len(hs) != 1:
            d.append(f"[{label}] outbox {sorted(ob)}, handled {[(h['result'], h['code']) for h in hs]} (want one ACK)")
        for n, raw in ob.items():
            c = parse_response(n, raw)["ctl"]
            if c.get("in_reply_to_sha256") != sha(data):
                d.append(f"[{label}] response {n} {c.get('result')} {c.get('error')} {c.get('message')!r} is not for the full archive")
        st = json.loads(rb(rx, "status", "--json").stdout)
        if st.get("set_aside"):
            d.append(f"[{label}] something set aside: {st['set_aside']}")
    return d


@case(1, "§1 watch (settle_seconds=2): a sender writes a first attempt in place (half an archive), truncates the same file and "
         "rewrites it slowly with the full archive -> one ACK for the full archive; then a complete archive 002 written in place "
         "and, within the settle time, truncated and rewritten with other content -> one ACK, for the rewritten content")
def t_truncate_rewrite(rx):
    d = []
    bid = bidn(1)
    data = pay(bid, ["6300000000%02d" % i for i in range(50)])
    w = Watch(rx)
    slow_write(os.path.join(rx, "inbox", bid + ".zip"), data, 10, 0.4, truncate_first=data[:len(data) // 2])
    wait_for(lambda: os.listdir(rx + "/outbox"), 20)
    time.sleep(3)
    ob = outbox(rx)
    hs = handled_count(rx, bid)
    if list(ob) != [resp_name(bid, "ACK")] or len(hs) != 1:
        d.append(f"[half then truncate+rewrite] outbox {sorted(ob)}, handled {[(h['result'], h['code']) for h in hs]} (want one ACK)")
    elif parse_response("x", ob[resp_name(bid, "ACK")])["ctl"]["in_reply_to_sha256"] != sha(data):
        d.append("[half then truncate+rewrite] ACK is not for the full archive")
    # second: a complete archive 002 written in place, then while the receiver settles it, rewritten with other content
    bid2 = bidn(2)
    a = pay(bid2, ["630000000100"])
    b = pay(bid2, ["630000000101"])
    p = os.path.join(rx, "inbox", bid2 + ".zip")
    with open(p, "wb") as f:
        f.write(a)
    time.sleep(0.8)
    slow_write(p, b, 8, 0.3)
    wait_for(lambda: any(bid2.split("_", 2)[2] in x for x in os.listdir(rx + "/outbox")), 20)
    time.sleep(3)
    w.stop()
    hs = handled_count(rx, bid2)
    ob = outbox(rx)
    n2 = resp_name(bid2, "ACK")
    if len(hs) != 1 or n2 not in ob or parse_response("x", ob[n2])["ctl"]["in_reply_to_sha256"] != sha(b):
        d.append(f"[complete, then rewritten within settle] handled {[(h['result'], h['code']) for h in hs]}, outbox {sorted(ob)} "
                 f"(want one ACK for the rewritten content)")
    return d + audit_ok(rx, "audit")


@case(1, "§1/§7 watch (settle_seconds=2): two archives renamed into the inbox at the same moment (PAY 002 paying, REV 001 "
         "reversing it: REV after PAY) -> both answered once, PAY then REV (REV row status 1)")
def t_two_together(rx):
    d = []
    w = Watch(rx)
    bp, br = bidn(2), bidn(1, "REV")
    ap, ar = pay(bp, ["640000000001"]), rev(br, [("640000000001", "1.00")])
    for b, a in ((br, ar), (bp, ap)):
        open(os.path.join(rx, "inbox", b + ".zip.part"), "wb").write(a)
    os.rename(os.path.join(rx, "inbox", br + ".zip.part"), os.path.join(rx, "inbox", br + ".zip"))
    os.rename(os.path.join(rx, "inbox", bp + ".zip.part"), os.path.join(rx, "inbox", bp + ".zip"))
    wait_for(lambda: len(os.listdir(rx + "/outbox")) >= 2, 20)
    time.sleep(2)
    w.stop()
    ob = outbox(rx)
    want = {resp_name(bp, "ACK"): [("1", "640000000001", "1")], resp_name(br, "ACK"): [("1", "640000000001", "1")]}
    for n, rows in want.items():
        if n not in ob:
            d.append(f"missing {n}; outbox {sorted(ob)}"); continue
        got = results(ob[n])[2]
        if got != rows:
            d.append(f"{n}: rows {got} != {rows}")
    if len(ob) != 2:
        d.append(f"outbox {sorted(ob)}")
    return d


@case(1, "§1/§7 watch (settle_seconds=2): REV 001 renamed into the inbox, PAY 002 (which it reverses) 0.5 s and 1.5 s later, "
         "i.e. both waiting before either settled -> handled as waiting together, PAY first: REV row status 1")
def t_staggered(rx):
    d = []
    for gap in (0.5, 1.5):
        rxg = rx_new(f"t_staggered_{gap}", settle=2)
        w = Watch(rxg)
        bp, br = bidn(2), bidn(1, "REV")
        pid = "77000000000%d" % int(gap * 2)
        drop(rxg, br + ".zip", rev(br, [(pid, "1.00")]), age=0)
        time.sleep(gap)
        drop(rxg, bp + ".zip", pay(bp, [pid]), age=0)
        wait_for(lambda: len(os.listdir(rxg + "/outbox")) >= 2, 20)
        time.sleep(1)
        w.stop()
        got = {n: results(r)[2] for n, r in outbox(rxg).items()}
        want = {resp_name(bp, "ACK"): [("1", pid, "1")], resp_name(br, "ACK"): [("1", pid, "1")]}
        if got != want:
            d.append(f"[gap {gap}s] {got} != {want}")
    return d


@case(1, "§1 watch (settle_seconds=1, unreadable_grace_seconds=3): a copy in place that stalls 5 s between pieces (longer than "
         "settle + grace). Not a DIFF either way: records whether the receiver answers the prefix (B01) or waits for the whole "
         "archive, and that the kept archive and audit stay consistent")
def t_stalled(rx):
    d = []
    bid = bidn(1)
    data = pay(bid, ["7800000%05d" % i for i in range(200)])
    w = Watch(rx)
    slow_write(os.path.join(rx, "inbox", bid + ".zip"), data, 4, 5.0)
    time.sleep(4)
    w.stop()
    ob = outbox(rx)
    got = [(n, parse_response(n, r)["ctl"].get("error"), parse_response(n, r)["ctl"]["in_reply_to_sha256"] == sha(data)) for n, r in ob.items()]
    NOTES.append(f"(ambiguous: stalled copy answered {got} (name, error, for-the-full-archive); inbox after: {os.listdir(rx + '/inbox')})")
    return audit_ok(rx, "audit")


@case(1, "§1 run (nightly; run_wait_seconds=5, settle_seconds=2) started while a file is still being copied in place "
         "(30 pieces, 0.25 s apart): `run` never answers it before complete; after it ends (this run or the next) exactly one "
         "ACK for the full archive")
def t_run_growing(rx):
    d = []
    bid = bidn(1)
    data = pay(bid, ["6500000%05d" % i for i in range(2000)])
    p = os.path.join(rx, "inbox", bid + ".zip")
    th = threading.Thread(target=slow_write, args=(p, data, 30, 0.25))
    th.start()
    time.sleep(1.0)
    t0 = time.time()
    r1 = run(rx)
    t1 = time.time() - t0
    th.join()
    ob1 = outbox(rx)
    for n, raw in ob1.items():
        if parse_response(n, raw)["ctl"].get("in_reply_to_sha256") != sha(data):
            d.append(f"run during copy answered a partial file: {n} {parse_response(n, raw)['ctl']}")
    time.sleep(2.5)
    r2 = run(rx)
    ob = outbox(rx)
    hs = handled_count(rx, bid)
    if list(ob) != [resp_name(bid, "ACK")] or len(hs) != 1:
        d.append(f"after the copy: outbox {sorted(ob)}, handled {[(h['result'], h['code']) for h in hs]} (want one ACK)")
    NOTES.append(f"(run during copy took {t1:.1f} s; answered in first run: {bool(ob1)}; "
                 f"first run json: {r1.stdout.decode()[:300]!r})")
    return d


# ============================================================ 2. at-least-once, keeping
@case(2, "§1/§7.1 re-delivery: ACKed archive delivered again with `run` and again with `watch` -> the stored ACK byte for byte, "
         "applied once; a NAKed archive (B08) delivered again -> identical NAK; every received archive (incl. re-deliveries "
         "and the NAKed one) and every sent response kept under var/received, var/sent")
def r_redelivery(rx):
    d = []
    archs, resps = [], []
    b1 = bidn(1)
    a1 = pay(b1, ["660000000001", "660000000002"], inv="C", amount="150000.00")
    drop(rx, b1 + ".zip", a1); run(rx)
    first = outbox(rx)[resp_name(b1, "ACK")]
    archs.append((b1, a1)); resps.append(("ack1", first))
    drop(rx, b1 + ".zip", a1); run(rx)
    again = outbox(rx).get(resp_name(b1, "ACK"))
    if again != first:
        d.append("[run] re-delivered ACKed archive: response not byte-identical")
    w = Watch(rx)
    drop(rx, b1 + ".zip", a1)
    wait_for(lambda: not os.path.exists(os.path.join(rx, "inbox", b1 + ".zip")), 15)
    time.sleep(1.5)
    w.stop()
    if outbox(rx).get(resp_name(b1, "ACK")) != first:
        d.append("[watch] re-delivered ACKed archive: response not byte-identical")
    # applied once: a new PAY on invoice C (fully paid by 2 x 150000) -> 302
    b2 = bidn(2)
    a2 = pay(b2, ["660000000003"], inv="C", amount="1.00")
    drop(rx, b2 + ".zip", a2); run(rx)
    r2 = outbox(rx).get(resp_name(b2, "ACK"))
    archs.append((b2, a2)); resps.append(("ack2", r2))
    if not r2 or results(r2)[2] != [("1", "660000000003", "302")]:
        d.append(f"[applied once] PAY on the invoice paid by the re-delivered batch: {r2 and results(r2)}")
    hs = handled_count(rx, b1)
    NOTES.append(f"(status recent for {b1}: {[(h['result'], h['response']) for h in hs]})")
    # NAK re-delivered
    b3 = bidn(3)
    a3 = pay(b3, ["660000000004"], total="9.99")
    drop(rx, b3 + ".zip", a3); run(rx)
    n3 = outbox(rx).get(resp_name(b3, "NAK"))
    drop(rx, b3 + ".zip", a3); run(rx)
    n3b = outbox(rx).get(resp_name(b3, "NAK"))
    archs.append((b3, a3)); resps.append(("nak", n3))
    if not n3 or n3 != n3b:
        d.append("[NAK re-delivered] NAK bytes differ or missing")
    d += keeping(rx, archs, resps, "keep")
    n_recv = len(glob.glob(rx + "/var/received/*"))
    NOTES.append(f"(var/received holds {n_recv} files for 6 deliveries of 3 distinct archives; kept by content hash)")
    return d + audit_ok(rx, "audit")


@case(2, "§1 re-delivery after MUNIS took the response from the outbox (file deleted): ACKed archive re-sent -> the same ACK "
         "bytes placed in the outbox again; NAKed archive re-sent -> identical NAK placed again")
def r_outbox_consumed(rx):
    d = []
    b1, b2 = bidn(1), bidn(2)
    a1, a2 = pay(b1, ["720000000001"]), pay(b2, ["720000000002"], total="3.00")
    for b, a, res in ((b1, a1, "ACK"), (b2, a2, "NAK")):
        drop(rx, b + ".zip", a); run(rx)
        first = outbox(rx).get(resp_name(b, res))
        os.remove(os.path.join(rx, "outbox", resp_name(b, res)))
        drop(rx, b + ".zip", a); run(rx)
        again = outbox(rx).get(resp_name(b, res))
        if not first or again != first:
            d.append(f"[{res}] after the outbox copy was taken, re-delivery gave {sorted(outbox(rx))} (identical: {again == first})")
    return d + audit_ok(rx, "audit")


@case(1, "§1/§7 concurrent receivers on one inbox: `watch` running while two `run`s start at once, 6 archives dropped together "
         "(PAY 001..005 each paying invoice C 60000.00 of 300000.00, then PAY 006 paying 1.00) -> every batch answered once, "
         "PAY 006 -> 302 (invoice fully paid exactly once by 001..005), audit clean")
def c_concurrent(rx):
    d = []
    specs = [(bidn(i), pay(bidn(i), ["73000000000%d" % i], inv="C", amount="60000.00")) for i in range(1, 6)]
    specs.append((bidn(6), pay(bidn(6), ["730000000006"], inv="C", amount="1.00")))
    w = Watch(rx)
    for b, a in specs:
        open(os.path.join(rx, "inbox", b + ".zip.part"), "wb").write(a)
    for b, a in specs:
        os.rename(os.path.join(rx, "inbox", b + ".zip.part"), os.path.join(rx, "inbox", b + ".zip"))
    time.sleep(0.3)
    ps = [subprocess.Popen([BIN, "--config", rx + "/reestr.toml", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in ps]
    wait_for(lambda: not os.listdir(rx + "/inbox") and len(os.listdir(rx + "/outbox")) >= 6, 30)
    time.sleep(1)
    w.stop()
    ob = outbox(rx)
    for i, (b, a) in enumerate(specs):
        hs = handled_count(rx, b)
        raw = ob.get(resp_name(b, "ACK"))
        want = [("1", "73000000000%d" % (i + 1), "1" if i < 5 else "302")]
        if len(hs) != 1 or not raw or results(raw)[2] != want:
            d.append(f"[{b}] handled {[(h['result'], h['code']) for h in hs]}, rows {raw and results(raw)[2]} (want {want})")
    NOTES.append(f"(run exit codes {[p.returncode for p in ps]}; stderr {[o[1].decode()[-160:] for o in outs]})")
    return d + audit_ok(rx, "audit")


# ============================================================ 3. newer response replaces
@case(3, "§8 newer response replaces an older one of the same name in the outbox; both kept: NAK B08 for 001, then NAK B05 for "
         "001 (other bytes) -> outbox NAK is the B05 one; then corrected 001 -> ACK; then other content under 001 -> B09 NAK "
         "replaces the B05 NAK; all four responses kept under var/sent")
def n_replace(rx):
    d = []
    b = bidn(1)
    steps = [("B08", pay(b, ["670000000001"], total="2.00")),
             ("B05", pay(b, ["670000000001"], hmac_val=b"0" * 64)),
             ("ACK", pay(b, ["670000000001"])),
             ("B09", pay(b, ["670000000002"]))]
    resps = []
    for want, a in steps:
        drop(rx, b + ".zip", a); run(rx)
        n = resp_name(b, "ACK" if want == "ACK" else "NAK")
        raw = outbox(rx).get(n)
        if not raw:
            d.append(f"[{want}] no {n} in outbox: {sorted(outbox(rx))}"); continue
        c = parse_response(n, raw)["ctl"]
        if c.get("in_reply_to_sha256") != sha(a) or (c.get("error") or "ACK") != want:
            d.append(f"[{want}] outbox {n} holds {c.get('result')} {c.get('error')} for sha {c.get('in_reply_to_sha256', '')[:12]} "
                     f"(want the newest, {want} for {sha(a)[:12]})")
        resps.append((want, raw))
    d += keeping(rx, [(w, a) for w, a in steps], resps, "keep")
    ob = sorted(outbox(rx))
    if ob != [resp_name(b, "ACK"), resp_name(b, "NAK")]:
        d.append(f"outbox {ob}")
    NOTES.append(f"(final outbox {ob}: the NAK of a batch id and its later ACK have different names, so the NAK stays beside the ACK)")
    return d + audit_ok(rx, "audit")


# ============================================================ 4. order of waiting batches
@case(4, "§7 batches waiting together, one `run` (and the same set with `watch` started afterwards): order business date, type "
         "(PAY, REV, REC), SEQ. REV 1121/001 reverses a payment carried by PAY 1120/007 (later SEQ of an earlier day); PAY 1121/0009 "
         "before PAY 1121/010; REC 1120/001 sees both 1120 PAYs but not the 1121 reversal; REC 1121/001 sees the reversal")
def o_order(rx):
    d = []
    specs = [
        (bidn(1, "REC", "20261121"), rec(bidn(1, "REC", "20261121"), [("680000000003", "2026-11-21 10:00:00", "A", "1.00", "PAID")])),
        (bidn(1, "REV", "20261121"), rev(bidn(1, "REV", "20261121"), [("680000000002", "1.00")])),
        (bidn("010", "PAY", "20261121"), pay(bidn("010", "PAY", "20261121"), ["680000000003", "680000000004"])),
        (bidn("0009", "PAY", "20261121"), pay(bidn("0009", "PAY", "20261121"), ["680000000004"])),
        (bidn(1, "REC", "20261120"), rec(bidn(1, "REC", "20261120"), [("680000000001", "2026-11-20 10:00:00", "A", "1.00", "PAID"),
                                                                    ("680000000002", "2026-11-20 10:00:00", "A", "1.00", "PAID")])),
        (bidn(7, "PAY", "20261120"), pay(bidn(7, "PAY", "20261120"), ["680000000002"])),
        (bidn(2, "PAY", "20261120"), pay(bidn(2, "PAY", "20261120"), ["680000000001"])),
    ]
    want = {
        bidn(2, "PAY", "20261120"): [("1", "680000000001", "1")],
        bidn(7, "PAY", "20261120"): [("1", "680000000002", "1")],
        bidn(1, "REC", "20261120"): [("1", "680000000001", "1"), ("2", "680000000002", "1")],
        bidn("0009", "PAY", "20261121"): [("1", "680000000004", "1")],
        bidn("010", "PAY", "20261121"): [("1", "680000000003", "1"), ("2", "680000000004", "301")],
        bidn(1, "REV", "20261121"): [("1", "680000000002", "1")],
        bidn(1, "REC", "20261121"): [("1", "680000000003", "1"), ("", "680000000004", "306")],
    }
    order_want = list(want)
    for mode in ("run", "watch"):
        rxm = rx if mode == "run" else rx_new("o_order_watch", settle=1)
        for b, a in specs:
            drop(rxm, b + ".zip", a)
        if mode == "run":
            js = json.loads(run(rxm).stdout or b"{}")
            got_order = [h.get("batch_id") or h.get("file", "")[:-4] for h in js.get("handled", [])]
        else:
            w = Watch(rxm)
            wait_for(lambda: len(os.listdir(rxm + "/outbox")) >= len(specs), 30)
            time.sleep(1.5)
            w.stop()
            st = json.loads(rb(rxm, "status", "--json", "--last", "100").stdout)
            got_order = [x["batch_id"] for x in reversed(st["recent"])]
        if got_order != order_want:
            d.append(f"[{mode}] handling order {got_order} != {order_want}")
        ob = outbox(rxm)
        for b, rows in want.items():
            raw = ob.get(resp_name(b, "ACK"))
            got = results(raw)[2] if raw else None
            if got != rows:
                d.append(f"[{mode}] {b}: {got} != {rows}")
    return d


# ============================================================ 5. atomicity under SIGKILL
BIG_N = int(os.environ.get("BIG_N", "50000"))


def big_specs():
    """PAY 001 of BIG_N rows, PAY 002 (one dup of a BIG row + one new), REC of the day with every payment."""
    b1, b2, b3 = bidn(1), bidn(2), bidn(1, "REC")
    pids = ["69%010d" % i for i in range(BIG_N)]
    a1 = build_archive(b1, registry("PAY", [pay_row(p, inv="N%d" % (10 + i % 30), amount="1.00") for i, p in enumerate(pids)]))
    a2 = pay(b2, [pids[BIG_N // 2], "680000999999"], inv="N10")
    recrows = [[p, "2026-11-21 10:00:00", INV["N%d" % (10 + i % 30)][0], "1.00", "PAID"] for i, p in enumerate(pids)]
    recrows.append(["680000999999", "2026-11-21 10:00:00", INV["N10"][0], "1.00", "PAID"])
    a3 = build_archive(b3, registry("REC", recrows))
    return [(b1, a1), (b2, a2), (b3, a3)]


def reference(specs, name):
    ref = rx_new(name)
    for b, a in specs:
        drop(ref, b + ".zip", a)
    run(ref)
    return outbox(ref)


def crash_check(rx, specs, ref, label):
    d = []
    ob = outbox(rx)
    if sorted(ob) != sorted(ref):
        d.append(f"[{label}] outbox {sorted(ob)} != uninterrupted {sorted(ref)}")
    for n, raw in ref.items():
        if n in ob and ob[n] != raw:
            d.append(f"[{label}] {n} differs from the uninterrupted receiver's: got {results(ob[n])[:2]} "
                     f"rows(accepted)={parse_response(n, ob[n])['ctl'].get('accepted')} vs {parse_response(n, raw)['ctl'].get('accepted')}")
    for b, _ in specs:
        hs = handled_count(rx, b)
        if len(hs) != 1:
            d.append(f"[{label}] {b} recorded {len(hs)} times in status: {[(h['result'], h['code']) for h in hs]}")
    if os.listdir(rx + "/inbox"):
        d.append(f"[{label}] inbox not empty: {os.listdir(rx + '/inbox')}")
    for b, a in specs:  # replay after recovery reproduces the uninterrupted response
        fn = os.path.join(rx, "replay_in", b + ".zip"); od = os.path.join(rx, "replay_out", b)
        os.makedirs(os.path.dirname(fn), exist_ok=True); os.makedirs(od, exist_ok=True)
        open(fn, "wb").write(a)
        rb(rx, "replay", "--out", od, fn)
        fs = os.listdir(od)
        if len(fs) != 1 or open(os.path.join(od, fs[0]), "rb").read() != ref.get(fs[0]):
            d.append(f"[{label}] replay of {b} after recovery: {fs} not byte-identical to the uninterrupted response")
    snt = glob.glob(rx + "/var/sent/*")
    if len(snt) != len(ref):
        d.append(f"[{label}] var/sent holds {len(snt)} responses for {len(ref)} batches")
    return d + audit_ok(rx, label)


def kill_trials(mode, n_trials, kills_per_trial, label, sig=signal.SIGKILL):
    specs = big_specs()
    ref = reference(specs, "k_ref_" + mode)
    # time an uninterrupted pass to spread the kill moments over it
    tr = rx_new("k_time_" + mode)
    for b, a in specs:
        drop(tr, b + ".zip", a)
    t0 = time.time(); run(tr); T = time.time() - t0
    d, log = [], []
    for t in range(n_trials):
        rx = rx_new(f"k_{mode}_{t}", settle=0.2 if mode == "watch" else 0)
        for b, a in specs:
            drop(rx, b + ".zip", a)
        ks = []
        for k in range(kills_per_trial):
            cmd = [BIN, "--config", rx + "/reestr.toml", "run" if mode == "run" else "watch"]
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            delay = RNG.uniform(0.0, T * 1.1) + (0.25 if mode == "watch" else 0)
            time.sleep(delay)
            alive = p.poll() is None
            p.send_signal(sig)
            try:
                rc = p.wait(60)
            except subprocess.TimeoutExpired:
                d.append(f"[{label} trial {t}] did not stop within 60 s after {sig!r}"); p.kill(); rc = p.wait()
            if sig == signal.SIGTERM and rc != 0:
                d.append(f"[{label} trial {t}] exit code {rc} after SIGTERM")
            ks.append((round(delay, 3), alive, len(os.listdir(rx + "/outbox")), len(os.listdir(rx + "/inbox"))))
            # What MUNIS could pick up right after the crash: every file but a temporary name (§1: a
            # name starting with `.`, which the engine writes a response under before its rename; a
            # kill can leave one, and crash_check below requires the next run to have removed it).
            for n, raw in outbox(rx).items():
                if n.startswith(".") or n.endswith(".part"):
                    continue
                if ref.get(n) != raw:
                    d.append(f"[{label} trial {t}] right after SIGKILL at {delay:.3f}s the outbox holds {n} ({len(raw)} bytes) "
                             f"which is not the uninterrupted response ({len(ref.get(n) or b'')} bytes)")
        if mode == "run":
            r = run(rx)
        else:
            w = Watch(rx)
            wait_for(lambda: not os.listdir(rx + "/inbox") and len(os.listdir(rx + "/outbox")) >= len(ref), 60)
            time.sleep(0.5)
            w.stop()
        log.append(ks)
        d += crash_check(rx, specs, ref, f"{label} trial {t} kills {ks}")
        shutil.rmtree(rx, ignore_errors=True) if not d else None
    NOTES.append(f"(uninterrupted pass {T:.2f} s; kills per trial (delay s, process still running, responses, inbox files): {log})")
    return d


@case(5, "§7 atomicity: PAY of 50,000 rows + PAY 002 (duplicate of a big-batch payment) + REC of the day (50,001 rows) waiting; "
         "8 trials, each `run` killed with SIGKILL twice at random moments within the processing time, then a clean run -> every "
         "response byte-identical to an uninterrupted receiver's, each batch recorded once, nothing applied twice (PAY 002 row 1 "
         "-> 301, REC all 1, compared through the responses), audit clean")
def k_kill_run(rx):
    return kill_trials("run", 8, 2, "run+SIGKILL")


@case(5, "§7 atomicity with `watch` (settle 0.2 s): the same three batches; 6 trials, watch killed with SIGKILL twice at random "
         "moments, then watch until done, SIGTERM -> same responses byte for byte as uninterrupted, each batch once, audit clean")
def k_kill_watch(rx):
    return kill_trials("watch", 6, 2, "watch+SIGKILL")


@case(5, "§1/§7 `watch` stopped with SIGTERM while it handles the 50,000-row batches (5 trials, one SIGTERM each at a random "
         "moment), then watch again until done -> exit code 0, responses byte-identical to uninterrupted, each batch once, audit clean")
def k_term_watch(rx):
    return kill_trials("watch", 5, 1, "watch+SIGTERM", sig=signal.SIGTERM)


# ============================================================ 6. replay
@case(6, "§8 replay reproduces the sent response byte for byte: ACK PAY, NAK B08, NAK B05, ACK after the NAKs (same batch id), "
         "B09 NAK, REV ACK, REC ACK with 306, and a re-delivered ACK; replay of the NAKed archive after the batch id was ACKed")
def p_replay(rx):
    d = []
    seq = [
        ("pay1-B08", bidn(1), pay(bidn(1), ["700000000001", "700000000002"], total="5.00")),
        ("pay1-B05", bidn(1), pay(bidn(1), ["700000000001", "700000000002"], hmac_val=b"f" * 64)),
        ("pay1-ACK", bidn(1), pay(bidn(1), ["700000000001", "700000000002"])),
        ("pay1-B09", bidn(1), pay(bidn(1), ["700000000003"])),
        ("pay2-ACK", bidn(2), pay(bidn(2), ["700000000001", "700000000003"])),
        ("rev-ACK", bidn(1, "REV"), rev(bidn(1, "REV"), [("700000000002", "1.00"), ("700000000002", "1.00")])),
        ("rec-ACK", bidn(1, "REC"), rec(bidn(1, "REC"), [("700000000001", "2026-11-21 10:00:00", "A", "1.00", "PAID")])),
        ("pay1-ACK again", bidn(1), None),
    ]
    sent = []
    for lab, b, a in seq:
        if a is None:
            a = seq[2][2]
        before = outbox(rx)
        drop(rx, b + ".zip", a); run(rx)
        after = outbox(rx)
        ch = [n for n in after if before.get(n) != after[n]] or [n for n in after if b.split("_", 2)[2] in n]
        if lab.endswith("again"):
            ch = [resp_name(b, "ACK")]
        sent.append((lab, b, a, after[ch[0]]))
    for lab, b, a, raw in sent:
        fn = os.path.join(rx, "replay_in", b + ".zip")
        os.makedirs(os.path.dirname(fn), exist_ok=True)
        open(fn, "wb").write(a)
        od = os.path.join(rx, "replay_out", lab.replace(" ", "_"))
        shutil.rmtree(od, ignore_errors=True); os.makedirs(od)
        p = rb(rx, "replay", "--out", od, fn)
        files = os.listdir(od)
        if len(files) != 1:
            d.append(f"[replay {lab}] rc={p.returncode} files={files} {p.stdout.decode()[-200:]!r} {p.stderr.decode()[-300:]!r}")
            continue
        got = open(os.path.join(od, files[0]), "rb").read()
        if got != raw:
            c1, c2 = parse_response("x", got)["ctl"], parse_response("x", raw)["ctl"]
            d.append(f"[replay {lab}] differs: replay {files[0]} {c2.get('result')}->{c1.get('result')} {c1.get('error')} "
                     f"{c1.get('message')!r} vs sent {c2.get('error')} {c2.get('message')!r}")
    return d + audit_ok(rx, "audit")


# ============================================================ 7. set aside
@case(7, "§2/§8 set aside: 'MUNIS_SUDBILLING_PAY_20261340_001.zip' and 'registry.zip' with `run`, and a bad name with `watch` -> "
         "no response, kept in var/set-aside with a reason, `status` lists them; `release` by name puts the file back (set aside "
         "again, still no response); `release --as` a valid name -> answered ACK; audit clean")
def s_setaside(rx):
    d = []
    good = pay(bidn(1), ["710000000001"])
    names = ["MUNIS_SUDBILLING_PAY_20261340_001.zip", "registry.zip"]
    for n in names:
        drop(rx, n, good)
    run(rx)
    w = Watch(rx)
    drop(rx, "MUNIS_SUDBILLING_PAY_20261121_1.zip", good)
    wait_for(lambda: not os.path.exists(os.path.join(rx, "inbox", "MUNIS_SUDBILLING_PAY_20261121_1.zip")), 15)
    time.sleep(1)
    w.stop()
    names.append("MUNIS_SUDBILLING_PAY_20261121_1.zip")
    if os.listdir(rx + "/outbox"):
        d.append(f"responses written for unparsable names: {os.listdir(rx + '/outbox')}")
    st = json.loads(rb(rx, "status", "--json").stdout)
    listed = {x["original_name"]: x for x in st.get("set_aside", [])}
    for n in names:
        if n not in listed or not listed[n].get("reason"):
            d.append(f"[{n}] not listed in status set_aside with a reason: {list(listed)}")
        if os.path.exists(os.path.join(rx, "inbox", n)):
            d.append(f"[{n}] still in the inbox")
    txt = rb(rx, "status").stdout.decode()
    if "20261340" not in txt:
        d.append("text status does not name the set-aside file")
    if sha(good) not in {os.path.basename(p).split(".")[0] for p in glob.glob(rx + "/var/set-aside/*.bin")}:
        d.append("set-aside file not kept under var/set-aside")
    # release by original name -> back in the inbox; a run sets it aside again
    p = rb(rx, "release", names[0])
    if p.returncode != 0 or not os.path.exists(os.path.join(rx, "inbox", names[0])):
        d.append(f"release {names[0]}: rc={p.returncode} in inbox={os.path.exists(os.path.join(rx, 'inbox', names[0]))} "
                 f"{p.stdout.decode()[-200:]!r} {p.stderr.decode()[-200:]!r}")
    else:
        os.utime(os.path.join(rx, "inbox", names[0]), (time.time() - 10, time.time() - 10))
        run(rx)
        if os.listdir(rx + "/outbox") or os.path.exists(os.path.join(rx, "inbox", names[0])):
            d.append(f"released bad name: outbox {os.listdir(rx + '/outbox')}, in inbox {os.path.exists(os.path.join(rx, 'inbox', names[0]))}")
    # release --as a good name -> ACK
    p = rb(rx, "release", "registry.zip", "--as", bidn(1) + ".zip")
    if p.returncode != 0:
        d.append(f"release --as rc={p.returncode} {p.stderr.decode()[-300:]!r}")
    else:
        os.utime(os.path.join(rx, "inbox", bidn(1) + ".zip"), (time.time() - 10, time.time() - 10))
        run(rx)
        raw = outbox(rx).get(resp_name(bidn(1), "ACK"))
        if not raw or results(raw)[2] != [("1", "710000000001", "1")]:
            d.append(f"released --as valid name: outbox {sorted(outbox(rx))}")
    st2 = json.loads(rb(rx, "status", "--json").stdout)
    NOTES.append(f"(status set_aside after releases: {[(x['original_name'], x.get('state')) for x in st2.get('set_aside', [])]})")
    d += keeping(rx, [(bidn(1), good)], list(outbox(rx).items()), "keep")
    return d + audit_ok(rx, "audit")


# ------------------------------------------------------------------ main
SETTINGS = {"t_part_and_dot": dict(settle=2), "t_slow_copy": dict(settle=2), "t_truncate_rewrite": dict(settle=2),
            "t_two_together": dict(settle=2), "t_stalled": dict(settle=1, grace=3), "t_run_growing": dict(settle=2, run_wait=5)}


if __name__ == "__main__":
    run_cases("operations", CASES, lambda c: rx_new(c[0], **SETTINGS.get(c[0], {})), notes=NOTES)
