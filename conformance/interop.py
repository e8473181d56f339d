"""Black-box conformance suite: the partner's side of the response archive (§6, §8), read with
the tools a partner would use rather than with this harness's own reader.

    REESTR_BIN=target/release/reestr python3 conformance/interop.py [NAME-SUBSTRING ...]

Every other suite reads responses with Python's `zipfile`. MUNIS reads them with its own
stack, most likely Java, and an operator checks one by hand with `unzip`, `sha256sum -c` and
`openssl`. Each case here makes responses of one kind (ACKs in the three encodings, a REC with
306 rows, NAKs including one with the fallback `created_at`, entry times clamped to 1980, an
unsigned partner, a 20,000-row ACK) and hands every response to each reader found on the
machine:

 - Python's `zipfile`: `testzip()` (every CRC), the entries and their bytes: the reference;
 - Info-ZIP `unzip -tqq` (every CRC) and `unzip -p` (every entry's bytes equal the reference);
 - `java.util.zip`: `ZipInputStream` (the streaming reader, which trusts local headers and data
   descriptors only) and `ZipFile` (the central directory): names in order, bytes, method 8
   (deflated, §8) and the entry times (`getTimeLocal`, §8: the local date and time written in
   `created_at`, seconds rounded down to even, clamped to the zip range);
 - `bsdtar -xO` and `7z x -so`, when installed;
 - `sha256sum -c --strict` of `manifest.sha256` in a folder holding the extracted entries
   (§6: "the format `sha256sum -c` reads");
 - `openssl dgst -sha256 -mac HMAC` with the partner's key over `manifest.sha256`, equal to
   `manifest.sha256.hmac` (§6: "lowercase hex HMAC-SHA256 of the exact bytes").

A reader that is not installed is skipped and named in the case's notes; Python's `zipfile`
and `sha256sum` are required. Standard library only.
"""
import json
import shutil
import subprocess
import tempfile

from lib import *

CASES, case = case_list()

JAVA_READER = r"""
import java.io.*; import java.nio.file.*; import java.security.*; import java.util.*; import java.util.zip.*;
public class ReadZips {
  static String hex(byte[] b) throws Exception {
    StringBuilder s = new StringBuilder();
    for (byte x : MessageDigest.getInstance("SHA-256").digest(b)) s.append(String.format("%02x", x));
    return s.toString();
  }
  public static void main(String[] args) throws Exception {
    for (String f : args) {
      StringBuilder s = new StringBuilder();
      s.append("{\"file\":\"").append(Paths.get(f).getFileName()).append("\",\"stream\":[");
      try (ZipInputStream z = new ZipInputStream(new FileInputStream(f))) {
        ZipEntry e; boolean first = true;
        while ((e = z.getNextEntry()) != null) {
          byte[] b = z.readAllBytes();
          if (!first) s.append(","); first = false;
          s.append("[\"").append(e.getName()).append("\",\"").append(hex(b)).append("\",")
           .append(e.getMethod()).append(",\"").append(e.getTimeLocal()).append("\"]");
        }
      }
      s.append("],\"central\":[");
      try (ZipFile z = new ZipFile(f)) {
        boolean first = true;
        for (Enumeration<? extends ZipEntry> en = z.entries(); en.hasMoreElements();) {
          ZipEntry e = en.nextElement();
          byte[] b; try (InputStream in = z.getInputStream(e)) { b = in.readAllBytes(); }
          if (!first) s.append(","); first = false;
          s.append("[\"").append(e.getName()).append("\",\"").append(hex(b)).append("\",")
           .append(e.getMethod()).append(",\"").append(e.getTimeLocal()).append("\"]");
        }
      }
      s.append("]}");
      System.out.println(s);
    }
  }
}
"""


def have(tool):
    return shutil.which(tool) is not None


def reference(raw):
    """The entries of a response as Python's zipfile reads them: [(name, bytes, method, time)]."""
    z = zipfile.ZipFile(io.BytesIO(raw))
    bad = z.testzip()
    if bad is not None:
        raise AssertionError(f"zipfile.testzip: bad CRC in {bad}")
    return [(i.filename, z.read(i.filename), i.compress_type, i.date_time) for i in z.infolist()]


def java_read(paths, notes):
    """What java.util.zip reads of each file: {file name: parsed JSON}, or None without java."""
    if not have("java"):
        notes.append("skipped: java (java.util.zip) is not installed")
        return None
    d = tempfile.mkdtemp(dir=SCRATCH)
    src = os.path.join(d, "ReadZips.java")
    with open(src, "w") as f:
        f.write(JAVA_READER)
    p = subprocess.run(["java", src] + paths, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"java.util.zip could not read the responses: {p.stderr[-1500:]}")
    return {j["file"]: j for j in map(json.loads, p.stdout.splitlines())}


def clamp_time(created):
    t = expected_entry_time(created)
    if t[0] < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t[0] > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return t


def read_everywhere(rx, key_hex=KEY_HEX):
    """Reads every response of rx's outbox with every reader found; returns the differences."""
    out = rx + "/outbox"
    names = sorted(f for f in os.listdir(out) if f.endswith(".zip"))
    if not names:
        return ["no response in the outbox"]
    diffs, notes = [], NOTES
    paths = [os.path.join(out, n) for n in names]
    javas = java_read(paths, notes)
    for tool in ("unzip", "bsdtar", "7z", "openssl"):
        if not have(tool):
            notes.append(f"skipped: {tool} is not installed")
    for n, path in zip(names, paths):
        raw = open(path, "rb").read()
        try:
            ref = reference(raw)
        except Exception as e:  # noqa: BLE001 - any failure of the reference reader is a finding
            diffs.append(f"{n}: Python's zipfile: {e}")
            continue
        want = {name: data for name, data, _, _ in ref}
        created = dict(l.split("=", 1) for l in want["control.txt"].decode().split("\n") if l)["created_at"]
        when = clamp_time(created)
        for name, _, method, t in ref:
            if method != zipfile.ZIP_DEFLATED:
                diffs.append(f"{n}: {name} is not deflated (method {method}; §8: entries deflated)")
            if t != when:
                diffs.append(f"{n}: {name} time {t} in the zip, {when} from created_at {created} (§8)")
        if have("unzip"):
            p = subprocess.run(["unzip", "-tqq", path], capture_output=True)
            if p.returncode != 0:
                diffs.append(f"{n}: unzip -t exit {p.returncode}: {p.stdout[-300:]!r} {p.stderr[-300:]!r}")
            for name, data in want.items():
                got = subprocess.run(["unzip", "-p", path, name], capture_output=True).stdout
                if got != data:
                    diffs.append(f"{n}: unzip -p {name} differs from zipfile's bytes")
        if have("bsdtar"):
            for name, data in want.items():
                got = subprocess.run(["bsdtar", "-xOf", path, name], capture_output=True).stdout
                if got != data:
                    diffs.append(f"{n}: bsdtar {name} differs from zipfile's bytes")
        if have("7z"):
            for name, data in want.items():
                got = subprocess.run(["7z", "x", "-so", path, name], capture_output=True).stdout
                if got != data:
                    diffs.append(f"{n}: 7z {name} differs from zipfile's bytes")
        if javas is not None:
            j = javas.get(n)
            exp = [[name, sha(data), 8, "%04d-%02d-%02dT%02d:%02d" % when[:5] + (":%02d" % when[5] if when[5] else "")]
                   for name, data, _, _ in ref]
            for reader in ("stream", "central"):
                if j is None or j[reader] != exp:
                    diffs.append(f"{n}: java.util.zip {reader} reader read {j and j[reader]}, want {exp}")
        # §6: sha256sum -c and the HMAC, over the files as extracted.
        d = tempfile.mkdtemp(dir=SCRATCH)
        for name, data in want.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        p = subprocess.run(["sha256sum", "-c", "--strict", "manifest.sha256"], cwd=d, capture_output=True, text=True)
        listed = sorted(x for x in want if not x.startswith("manifest.sha256"))
        oks = sorted(l[:-4] for l in p.stdout.splitlines() if l.endswith(": OK"))
        if p.returncode != 0 or oks != listed:
            diffs.append(f"{n}: sha256sum -c --strict exit {p.returncode}, OK for {oks}, want {listed}: {p.stderr[-300:]}")
        if "manifest.sha256.hmac" in want and have("openssl"):
            p = subprocess.run(["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{key_hex}", "-r",
                                "manifest.sha256"], cwd=d, capture_output=True, text=True)
            mac = p.stdout.split(" ")[0] if p.returncode == 0 else None
            sent = want["manifest.sha256.hmac"].decode().rstrip("\r\n")
            if mac != sent:
                diffs.append(f"{n}: openssl HMAC {mac!r}, the response says {sent!r} (exit {p.returncode} {p.stderr[-200:]})")
        shutil.rmtree(d, ignore_errors=True)
    return diffs


@case("R", "ACKs in utf-8, windows-1251 and cp866 (Cyrillic names and purposes, quoted fields), a REV and a REC with "
           "306 rows: every reader gets the same entries, bytes and times; sha256sum -c and openssl agree with the manifest and HMAC")
def r_acks(rx):
    rows = [pay_row("11%010d" % i, inv="A", amount="10.00", name="Иванов Пётр",
                    purpose=q("оплата; \"пошлина\"\r\nстрока"))
            for i in range(3)]
    for seq, enc in ((1, "utf-8"), (2, "windows-1251"), (3, "cp866")):
        bid = bid_of("PAY", seq)
        rws = [[("%02d" % seq) + r[0][2:]] + r[1:] for r in rows]
        run_archive(rx, bid + ".zip", build_archive(bid, registry("PAY", rws, enc=PYENC[enc]), enc=enc))
    run_archive(rx, bid_of("REV", 1) + ".zip", rev(bid_of("REV", 1), [("010000000000", "10.00"), ("999999999999", "1.00")]))
    rec = registry("REC", [rec_row("010000000001", "10.00"), rec_row("999999999998", "1.00"), rec_row("010000000001", "10.00")])
    run_archive(rx, bid_of("REC", 1) + ".zip", build_archive(bid_of("REC", 1), rec))
    return read_everywhere(rx)


@case("R", "NAKs: B06 with the inbound created_at, B01 (not a zip) with the fallback created_at, B10 from the own code; "
           "a created_at in 1975 and one in 2150 (entry times clamped to the zip range)")
def r_naks(rx):
    bid = bid_of("PAY", 1)
    reg = registry("PAY", [pay_row("120000000001", amount="1.00")])
    run_archive(rx, bid + ".zip", build_archive(bid, reg, ctl_extra=[("note", "x")]))
    run_archive(rx, bid_of("PAY", 2) + ".zip", b"PK\x03\x04 not a zip")
    other = "MUNIS_OTHERBANK_PAY_20261121_003"
    run_archive(rx, other + ".zip", build_archive(other, reg))
    for seq, created in ((4, "1975-06-01T10:00:01+05:00"), (5, "2150-01-01T00:00:00Z")):
        b = bid_of("PAY", seq)
        run_archive(rx, b + ".zip", build_archive(b, registry("PAY", [pay_row("12000000000%d" % seq, amount="1.00",
                                                                               paid_at="1970-01-01 00:00:00")]),
                                                  created=created))
    return read_everywhere(rx)


@case("R", "an unsigned partner (no key configured): responses carry no HMAC entry and still read everywhere")
def r_unsigned(rx):
    rx = new_receiver("r_unsigned_nokey", key=False)
    bid = bid_of("PAY", 1)
    run_archive(rx, bid + ".zip", build_archive(bid, registry("PAY", [pay_row("130000000001", amount="1.00")]), key=None))
    diffs = read_everywhere(rx)
    if any("manifest.sha256.hmac" in n for n in zipfile.ZipFile(os.path.join(rx, "outbox", os.listdir(rx + "/outbox")[0])).namelist()):
        diffs.append("an unsigned partner's response carries an HMAC entry")
    return diffs


@case("R", "a 20,000-row ACK (a result.csv of about a megabyte, deflated): every reader agrees")
def r_big(rx):
    bid = bid_of("PAY", 1)
    rows = [pay_row("14%010d" % i, inv="ABCD"[i % 4], amount="1.00", purpose="x" * (i % 50)) for i in range(20000)]
    run_archive(rx, bid + ".zip", build_archive(bid, registry("PAY", rows)))
    return read_everywhere(rx)


if __name__ == "__main__":
    required = [t for t in ("sha256sum",) if not have(t)]
    if required:
        print(f"interop: {', '.join(required)} is needed", file=sys.stderr)
        sys.exit(1)
    run_cases("interop", CASES, lambda c: new_receiver(c[0]))
