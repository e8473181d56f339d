//! Stage 3: required files, HMAC and manifest (agreement §3 and §6; codes `B03`, `B05`, `B04`).

use crate::archive::{Archive, REGISTRY};
use crate::code::BatchCode;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// The control record.
pub const CONTROL: &str = "control.txt";
/// The manifest.
pub const MANIFEST: &str = "manifest.sha256";
/// The manifest's HMAC.
pub const MANIFEST_HMAC: &str = "manifest.sha256.hmac";
/// Every entry name an archive may hold.
pub const ALLOWED: [&str; 4] = [CONTROL, REGISTRY, MANIFEST, MANIFEST_HMAC];

type HmacSha256 = hmac::Hmac<Sha256>;

/// A partner's shared key (32 bytes). Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Key {
    /// Parses the key file's text: 64 hex digits, optionally followed by one line end.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut k = [0u8; 32];
        hex::decode_to_slice(t, &mut k).ok()?;
        Some(Self(k))
    }

    /// An HMAC-SHA256 under this key. HMAC pads a key shorter than the hash's 64-byte block
    /// with zeros (RFC 2104, section 2), so the key followed by zeros is the same key, and of
    /// that length `KeyInit::new` takes it without a length to refuse.
    fn mac(&self) -> HmacSha256 {
        let mut block = hmac::digest::Key::<HmacSha256>::default();
        for (b, k) in block.iter_mut().zip(&self.0) {
            *b = *k;
        }
        <HmacSha256 as KeyInit>::new(&block)
    }

    /// Lower-case hex HMAC-SHA256 of `data`.
    pub fn sign(&self, data: &[u8]) -> String {
        let mut m = self.mac();
        m.update(data);
        hex::encode(m.finalize().into_bytes())
    }

    /// Checks a hex HMAC of `data` in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut m = self.mac();
        m.update(data);
        m.verify_slice(tag).is_ok()
    }

    /// The HMAC of everything `r` yields, for bytes too large to hold ([`check_hmac`]'s
    /// `streamed`).
    pub fn mac_of(&self, mut r: impl std::io::Read) -> std::io::Result<StreamedMac> {
        let mut m = self.mac();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(StreamedMac(m)),
                n => m.update(buf.get(..n).unwrap_or_default()),
            }
        }
    }

    /// SHA-256 fingerprint of the key, safe to record (not the key).
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(Sha256::digest(self.0))
    }
}

/// An HMAC computed over a stream ([`Key::mac_of`]), checked against a tag in constant time.
#[derive(Clone)]
pub struct StreamedMac(HmacSha256);

impl std::fmt::Debug for StreamedMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamedMac(..)")
    }
}

impl StreamedMac {
    fn verify(self, tag: &[u8]) -> bool {
        self.0.verify_slice(tag).is_ok()
    }
}

type Check = Result<(), (BatchCode, String)>;

/// `B03`: every required file is present and no other name appears.
pub fn check_files(a: &Archive) -> Check {
    for e in &a.entries {
        if !ALLOWED.contains(&e.name.as_str()) {
            return Err((
                BatchCode::B03,
                format!("entry {:?} is not allowed in the archive", e.name),
            ));
        }
    }
    for req in [CONTROL, REGISTRY, MANIFEST] {
        if a.get(req).is_none() {
            return Err((BatchCode::B03, format!("required file {req} is missing")));
        }
    }
    Ok(())
}

/// `B05`: with a key, the HMAC file must be present, well-formed and right. A manifest too
/// large to be kept in memory is checked through `streamed`, its HMAC computed by the shell as
/// it streamed the entry ([`Key::mac_of`]); such a manifest can only be malformed, so a right
/// HMAC leads on to `B04`.
pub fn check_hmac(a: &Archive, key: Option<&Key>, streamed: Option<StreamedMac>) -> Check {
    let Some(key) = key else { return Ok(()) };
    let fail = |m: &str| Err((BatchCode::B05, format!("{MANIFEST_HMAC}: {m}")));
    let Some(e) = a.get(MANIFEST_HMAC) else {
        return Err((
            BatchCode::B05,
            format!("{MANIFEST_HMAC} is missing and a key is configured for the sender"),
        ));
    };
    let Some(data) = &e.data else {
        return fail("too large to be an HMAC");
    };
    let body = data
        .strip_suffix(b"\n")
        .map(|d| d.strip_suffix(b"\r").unwrap_or(d))
        .unwrap_or(data);
    if body.len() != 64
        || !body
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return fail("not 64 lowercase hex digits with at most one line end");
    }
    let mut tag = [0u8; 32];
    if hex::decode_to_slice(body, &mut tag).is_err() {
        return fail("not hex");
    }
    let kept = a.get(MANIFEST).and_then(|m| m.data.as_deref());
    let right = match (kept, streamed) {
        (Some(manifest), _) => key.verify(manifest, &tag),
        (None, Some(mac)) => mac.verify(&tag),
        (None, None) => false,
    };
    if !right {
        return fail(&format!(
            "HMAC of {MANIFEST} does not match the sender's key"
        ));
    }
    Ok(())
}

/// `B04`: the manifest is well-formed, lists every other file once, and every hash matches.
pub fn check_manifest(a: &Archive) -> Check {
    let bad = |m: String| Err((BatchCode::B04, m));
    let Some(e) = a.get(MANIFEST) else {
        return bad(format!("{MANIFEST} is missing"));
    };
    let Some(data) = &e.data else {
        return bad(format!("{MANIFEST} is too large"));
    };
    if !data.is_empty() && !data.ends_with(b"\n") {
        let last = data
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .saturating_add(1);
        return bad(format!(
            "{MANIFEST} line {last}: the last line does not end with LF"
        ));
    }
    let mut listed: Vec<&str> = Vec::new();
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    for (i, line) in body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|_| !data.is_empty())
    {
        let n = i.saturating_add(1);
        let Ok(line) = std::str::from_utf8(line) else {
            return bad(format!("{MANIFEST} line {n}: not text"));
        };
        let form = line.split_at_checked(64).and_then(|(hash, rest)| {
            let name = rest.strip_prefix("  ")?;
            let hex = hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            (hex && !name.is_empty()).then_some((hash, name))
        });
        let Some((hash, name)) = form else {
            return bad(format!(
                "{MANIFEST} line {n}: not '<64 lowercase hex>  <file name>'"
            ));
        };
        if name == MANIFEST || name == MANIFEST_HMAC {
            return bad(format!(
                "{MANIFEST} line {n}: lists {name:?}, which it must not"
            ));
        }
        if listed.contains(&name) {
            return bad(format!("{MANIFEST} line {n}: {name:?} is listed twice"));
        }
        let Some(entry) = a.get(name) else {
            return bad(format!(
                "{MANIFEST} line {n}: {name:?} is not in the archive"
            ));
        };
        if hex::encode(entry.sha256) != hash {
            return bad(format!(
                "{MANIFEST} line {n}: SHA-256 of {name:?} does not match"
            ));
        }
        listed.push(name);
    }
    for e in &a.entries {
        if e.name != MANIFEST && e.name != MANIFEST_HMAC && !listed.contains(&e.name.as_str()) {
            return bad(format!("{MANIFEST}: {:?} is not listed", e.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parsing_and_hmac() {
        let k = Key::parse("6d756e69732d74657374206b65793a206e6f7420666f722070726f6475637469\n")
            .unwrap();
        assert_eq!(format!("{k:?}"), "Key(<redacted>)");
        let tag = k.sign(b"hello");
        let mut raw = [0u8; 32];
        hex::decode_to_slice(&tag, &mut raw).unwrap();
        assert!(k.verify(b"hello", &raw));
        raw[0] ^= 1;
        assert!(!k.verify(b"hello", &raw));
        assert!(Key::parse("abc").is_none());
        assert!(Key::parse(&"g".repeat(64)).is_none());
        assert!(Key::parse(&format!("{}\n\n", "a".repeat(64))).is_none());
    }

    #[test]
    fn the_key_padded_to_a_block_is_the_same_hmac_key() {
        let k = Key(std::array::from_fn(|i| i as u8));
        // Python: hmac.new(bytes(range(32)), b"hello", hashlib.sha256).hexdigest()
        let want = "53c40272a70c15ca4ee0af4df1f155fd6c41e00ce2307d8987ecd4bb36a7e990";
        assert_eq!(k.sign(b"hello"), want);
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&k.0).unwrap();
        m.update(b"hello");
        assert_eq!(hex::encode(m.finalize().into_bytes()), want);
        let streamed = k.mac_of(&b"hello"[..]).unwrap();
        assert!(streamed.verify(&hex::decode(want).unwrap()));
    }
}
