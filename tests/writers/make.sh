#!/usr/bin/env bash
# Re-makes the archives of this folder: the files of the reference archive
# MUNIS_SUDBILLING_PAY_20261121_001.zip packed again by common zip writers (Info-ZIP zip 3.0,
# jar and java.util.zip of OpenJDK 17, Python's zipfile, 7-Zip). Needs zip, java, javac, jar,
# python3, 7zz (Debian package 7zip);
# the tests only read the archives made here, so CI needs none of them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -c "import zipfile, sys; zipfile.ZipFile(sys.argv[1]).extractall('files')" \
  "$here/../reference/MUNIS_SUDBILLING_PAY_20261121_001.zip"
cat >Z.java <<'JAVA'
import java.nio.file.*; import java.util.zip.*; import java.io.*;
// java.util.zip as a Java sender would use it: deflated entries get a data descriptor.
public class Z { public static void main(String[] a) throws Exception {
  try (ZipOutputStream z = new ZipOutputStream(new FileOutputStream(a[0]))) {
    for (int i = 2; i < a.length; i++) {
      byte[] b = Files.readAllBytes(Paths.get(a[i]));
      ZipEntry e = new ZipEntry(a[i]);
      if (a[1].equals("stored")) {
        CRC32 c = new CRC32(); c.update(b);
        e.setMethod(ZipEntry.STORED); e.setSize(b.length); e.setCrc(c.getValue());
      }
      z.putNextEntry(e); z.write(b); z.closeEntry();
    } } } }
JAVA
javac -d . Z.java
out=$here
cd files
F="control.txt registry.csv manifest.sha256 manifest.sha256.hmac"
rm -f "$out"/*.zip
zip -X -q "$out/infozip.zip" $F
zip -X -q -0 "$out/infozip-stored.zip" $F
zip -X -q -fz "$out/infozip-zip64.zip" $F
zip -X -q - $F | cat >"$out/infozip-pipe.zip"
zip -X -q -fz - $F | cat >"$out/infozip-pipe-zip64.zip"
jar cfM "$out/jar.zip" $F
java -cp "$work" Z "$out/java-deflate.zip" deflate $F
java -cp "$work" Z "$out/java-stored.zip" stored $F
python3 - "$out" $F <<'PY'
import io, sys, zipfile
out, files = sys.argv[1], sys.argv[2:]
class Pipe(io.RawIOBase):  # not seekable: zipfile writes data descriptors
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
for name, method, pipe, zip64 in [
    ("python", zipfile.ZIP_DEFLATED, False, False),
    ("python-stored", zipfile.ZIP_STORED, False, False),
    ("python-zip64", zipfile.ZIP_DEFLATED, False, True),
    ("python-pipe", zipfile.ZIP_DEFLATED, True, False),
    ("python-pipe-zip64", zipfile.ZIP_DEFLATED, True, True),
]:
    with open(f"{out}/{name}.zip", "wb") as raw:
        with zipfile.ZipFile(Pipe(raw) if pipe else raw, "w", compression=method) as z:
            for f in files:
                with open(f, "rb") as src, z.open(f, "w", force_zip64=zip64) as w:
                    w.write(src.read())
PY
# 7-Zip as a Windows sender would use it (`7z a -tzip`): entries in name order, each with an
# NTFS timestamps extra field (0x000a); deflate at the default and the highest level, stored,
# and Deflate64 (method 9, which the agreement does not allow).
7zz a -tzip "$out/7zip.zip" $F >/dev/null
7zz a -tzip -mx=9 "$out/7zip-ultra.zip" $F >/dev/null
7zz a -tzip -mx=0 "$out/7zip-stored.zip" $F >/dev/null
7zz a -tzip -mm=Deflate64 "$out/7zip-deflate64.zip" $F >/dev/null
ls -l "$out"/*.zip
