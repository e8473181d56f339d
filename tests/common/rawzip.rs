//! Raw zip crafting for hostile-archive tests (APPNOTE 4.3.7 local header, 4.3.12 central
//! header, 4.3.16 end record): read and patch header fields, or write a zip byte by byte so
//! that any field can be anything. Shared by `tests/batch_codes.rs` and
//! `examples/make_corpus.rs`; test code, so it panics on malformed input.
#![allow(dead_code)]

pub fn u16_at(z: &[u8], o: usize) -> usize {
    usize::from(u16::from_le_bytes([z[o], z[o + 1]]))
}
pub fn u32_at(z: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([z[o], z[o + 1], z[o + 2], z[o + 3]])
}
pub fn put_u16(z: &mut [u8], o: usize, v: u16) {
    z[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(z: &mut [u8], o: usize, v: u32) {
    z[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// Where an entry's two headers are.
#[derive(Debug, Clone)]
pub struct Raw {
    pub central: usize,
    pub local: usize,
    pub name: Vec<u8>,
}

impl Raw {
    /// Start of the entry's compressed data.
    pub fn data_start(&self, z: &[u8]) -> usize {
        self.local + 30 + u16_at(z, self.local + 26) + u16_at(z, self.local + 28)
    }
    /// Compressed size (central directory).
    pub fn csize(&self, z: &[u8]) -> usize {
        u32_at(z, self.central + 20) as usize
    }
    /// Uncompressed size (central directory).
    pub fn usize(&self, z: &[u8]) -> u32 {
        u32_at(z, self.central + 24)
    }
}

/// Every central-directory record, in order, with its local header.
pub fn directory(z: &[u8]) -> Vec<Raw> {
    let eocd = (0..=z.len() - 22)
        .rev()
        .find(|&i| u32_at(z, i) == 0x0605_4b50)
        .expect("end of central directory");
    let count = u16_at(z, eocd + 10);
    let mut off = u32_at(z, eocd + 16) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(z, off), 0x0201_4b50, "central header at {off}");
        let (n, m, k) = (
            u16_at(z, off + 28),
            u16_at(z, off + 30),
            u16_at(z, off + 32),
        );
        let local = u32_at(z, off + 42) as usize;
        assert_eq!(u32_at(z, local), 0x0403_4b50, "local header at {local}");
        out.push(Raw {
            central: off,
            local,
            name: z[off + 46..off + 46 + n].to_vec(),
        });
        off += 46 + n + m + k;
    }
    out
}

pub fn raw_entry(z: &[u8], name: &str) -> Raw {
    directory(z)
        .into_iter()
        .find(|r| r.name == name.as_bytes())
        .unwrap_or_else(|| panic!("entry {name} in the zip"))
}

/// Sets a 16-bit field of an entry in both headers (local offset, central offset).
pub fn patch16(z: &mut [u8], name: &str, local: usize, central: usize, f: impl Fn(u16) -> u16) {
    let r = raw_entry(z, name);
    let v = f(u16_at(z, r.local + local) as u16);
    put_u16(z, r.local + local, v);
    let v = f(u16_at(z, r.central + central) as u16);
    put_u16(z, r.central + central, v);
}

/// Sets a 32-bit field of an entry in both headers (local offset, central offset).
pub fn patch32(z: &mut [u8], name: &str, local: usize, central: usize, f: impl Fn(u32) -> u32) {
    let r = raw_entry(z, name);
    let v = f(u32_at(z, r.local + local));
    put_u32(z, r.local + local, v);
    let v = f(u32_at(z, r.central + central));
    put_u32(z, r.central + central, v);
}

pub fn set_flags(z: &mut [u8], name: &str, f: impl Fn(u16) -> u16) {
    patch16(z, name, 6, 8, f);
}
pub fn set_method(z: &mut [u8], name: &str, method: u16) {
    patch16(z, name, 8, 10, |_| method);
}
pub fn set_crc(z: &mut [u8], name: &str, f: impl Fn(u32) -> u32) {
    patch32(z, name, 14, 16, f);
}
pub fn set_usize(z: &mut [u8], name: &str, f: impl Fn(u32) -> u32) {
    patch32(z, name, 22, 24, f);
}

/// Renames an entry in both headers (same length only: offsets stay valid).
pub fn rename(z: &mut [u8], from: &str, to: &[u8]) {
    assert_eq!(from.len(), to.len(), "same-length rename");
    let r = raw_entry(z, from);
    z[r.local + 30..r.local + 30 + to.len()].copy_from_slice(to);
    z[r.central + 46..r.central + 46 + to.len()].copy_from_slice(to);
}

/// Sets "version made by" and the external attributes of an entry (central directory only).
pub fn set_external(z: &mut [u8], name: &str, made_by: u16, attrs: u32) {
    let r = raw_entry(z, name);
    put_u16(z, r.central + 4, made_by);
    put_u32(z, r.central + 38, attrs);
}

/// One entry for [`raw_zip`]: raw data as stored, with every header field given.
pub struct RawEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    pub method: u16,
    pub flags: u16,
    pub crc: u32,
    pub size: u32,
    pub extra: Vec<u8>,
}

impl RawEntry {
    /// A stored entry with the right CRC and size.
    pub fn stored(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            method: 0,
            flags: 0,
            crc: crc32fast::hash(data),
            size: data.len() as u32,
            extra: Vec::new(),
        }
    }
}

/// A zip written byte by byte (APPNOTE 4.3), so any field can be anything.
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for e in entries {
        let offset = out.len() as u32;
        le32(&mut out, 0x0403_4b50);
        le16(&mut out, 20);
        le16(&mut out, e.flags);
        le16(&mut out, e.method);
        le16(&mut out, 0x28a0); // 05:05:00
        le16(&mut out, 0x5d76); // 2026-11-22
        le32(&mut out, e.crc);
        le32(&mut out, e.data.len() as u32);
        le32(&mut out, e.size);
        le16(&mut out, e.name.len() as u16);
        le16(&mut out, e.extra.len() as u16);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.extra);
        out.extend_from_slice(&e.data);
        le32(&mut central, 0x0201_4b50);
        le16(&mut central, 3 << 8 | 20);
        le16(&mut central, 20);
        le16(&mut central, e.flags);
        le16(&mut central, e.method);
        le16(&mut central, 0x28a0);
        le16(&mut central, 0x5d76);
        le32(&mut central, e.crc);
        le32(&mut central, e.data.len() as u32);
        le32(&mut central, e.size);
        le16(&mut central, e.name.len() as u16);
        le16(&mut central, e.extra.len() as u16);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le32(&mut central, 0o100_644 << 16);
        le32(&mut central, offset);
        central.extend_from_slice(&e.name);
        central.extend_from_slice(&e.extra);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, entries.len() as u16);
    le16(&mut out, entries.len() as u16);
    le32(&mut out, central.len() as u32);
    le32(&mut out, cd_offset);
    le16(&mut out, 0);
    out
}
