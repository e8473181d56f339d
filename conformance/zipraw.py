"""Byte-level zip writer for malformed/edge-case archives. Standard library only.

An entry is a dict:
  name (str|bytes), data (bytes, the real uncompressed bytes)
  method (int, default 8), comp (bytes: payload override; default deflate(data) or data)
  flags (int), utf8 (bool -> flag 0x800), made_by (int), ext_attr (int), version_needed
  crc / usize / csize          override in both headers
  lcrc / lusize / lcsize, ccrc / cusize / ccsize   override local / central only
  lname (local name override), lextra / cextra (bytes)
  dd: None | 'sig' | 'nosig' | 'zip64sig'  data descriptor (sets flag bit 3; local crc/sizes 0)
  zip64: True -> 0xFFFFFFFF sizes (+offset in CD) with zip64 extra in both headers
  after: bytes appended after the entry's payload (inside the file, before the next header)
  cd: False -> no central record for this entry; cd_offset: override local header offset in CD
Archive options: comment, prepend, append, zip64_eocd, eocd_count, cd_offset_fix (delta), no_cd
"""
import struct, zlib

DOSTIME = (1 << 11) | (5 << 5) | 0          # 01:05:00
DOSDATE = ((2026 - 1980) << 9) | (11 << 5) | 22
UNIX = 3 << 8
REG = 0o100644 << 16


def deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def deflate_exact(data, target):
    """Raw deflate stream of `data` that is exactly `target` bytes long (pads with empty stored blocks)."""
    for level in range(9, 0, -1):
        for mem in (9, 8, 7, 6, 5, 4, 3, 2, 1):
            for k in range(0, 5):
                c = zlib.compressobj(level, zlib.DEFLATED, -15, mem)
                head = c.compress(data[:len(data) - k]) + c.flush(zlib.Z_SYNC_FLUSH)
                tail_block = b"\x00" + struct.pack("<HH", k, k ^ 0xFFFF) + data[len(data) - k:] if k else b""
                base = len(head) + len(tail_block) + 5      # + final empty stored block
                rest = target - base
                if rest >= 0 and rest % 5 == 0:
                    out = head + tail_block + b"\x00\x00\x00\xff\xff" * (rest // 5) + b"\x01\x00\x00\xff\xff"
                    assert len(out) == target
                    assert zlib.decompress(out, -15) == data
                    return out
    raise ValueError("cannot reach target %d" % target)


def _b(x):
    return x if isinstance(x, bytes) else x.encode("utf-8")


def build(entries, comment=b"", prepend=b"", append=b"", zip64_eocd=False, eocd_count=None,
          cd_offset_fix=0, no_cd=False, cd_size_fix=0):
    out = bytearray(prepend)
    cds = []
    for e in entries:
        name = _b(e["name"])
        data = e.get("data", b"")
        method = e.get("method", 8)
        comp = e.get("comp")
        if comp is None:
            comp = deflate(data) if method == 8 else data
        flags = e.get("flags", 0) | (0x800 if e.get("utf8") else 0)
        dd = e.get("dd")
        if dd:
            flags |= 0x08
        crc = e.get("crc", zlib.crc32(data) & 0xFFFFFFFF)
        usize = e.get("usize", len(data))
        csize = e.get("csize", len(comp))
        z64 = e.get("zip64", False)
        vneed = e.get("version_needed", 45 if z64 else 20)
        made_by = e.get("made_by", UNIX | 63)
        ext_attr = e.get("ext_attr", REG)
        offset = len(out)
        # local header
        lcrc = e.get("lcrc", 0 if dd else crc)
        lus = e.get("lusize", 0 if dd and not z64 else usize)
        lcs = e.get("lcsize", 0 if dd and not z64 else csize)
        lextra = e.get("lextra", b"")
        if z64:
            lextra = struct.pack("<HHQQ", 1, 16, lus, lcs) + lextra
            lus32 = lcs32 = 0xFFFFFFFF
        else:
            lus32, lcs32 = lus, lcs
        lname = _b(e.get("lname", name))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, vneed, flags, method, DOSTIME, DOSDATE,
                           lcrc, lcs32, lus32, len(lname), len(lextra)) + lname + lextra
        out += comp
        if dd == "sig":
            out += struct.pack("<IIII", 0x08074B50, crc, csize, usize)
        elif dd == "nosig":
            out += struct.pack("<III", crc, csize, usize)
        elif dd == "zip64sig":
            out += struct.pack("<IIQQ", 0x08074B50, crc, csize, usize)
        out += e.get("after", b"")
        if e.get("cd", True) is False:
            continue
        ccrc = e.get("ccrc", crc)
        cus = e.get("cusize", usize)
        ccs = e.get("ccsize", csize)
        coff = e.get("cd_offset", offset)
        cextra = e.get("cextra", b"")
        if z64:
            cextra = struct.pack("<HHQQQ", 1, 24, cus, ccs, coff) + cextra
            cus32 = ccs32 = coff32 = 0xFFFFFFFF
        else:
            cus32, ccs32, coff32 = cus, ccs, coff
        cds.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, made_by, vneed, flags, method, DOSTIME,
                               DOSDATE, ccrc, ccs32, cus32, len(name), len(cextra), 0, 0, 0, ext_attr,
                               coff32) + name + cextra)
    if no_cd:
        return bytes(out)
    cd_start = len(out)
    for c in cds:
        out += c
    cd_size = len(out) - cd_start + cd_size_fix
    n = len(cds) if eocd_count is None else eocd_count
    if zip64_eocd:
        z64_off = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size,
                           cd_start + cd_offset_fix)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(comment)) + comment
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_start + cd_offset_fix,
                           len(comment)) + comment
    out += append
    return bytes(out)
