//! The three registry encodings of agreement §4 and strict conversion to and from them.
//!
//! Decoding never replaces: invalid UTF-8 (overlong forms and surrogates included) and the one
//! byte that windows-1251 leaves undefined (`0x98`) are errors. A BOM is never sniffed here:
//! the caller strips a UTF-8 BOM at the start of a file, and only for a UTF-8 registry.
//! Encoding never writes numeric character references for unmappable characters.

use encoding_rs::{Encoding, IBM866, WINDOWS_1251};
use serde::Serialize;

/// A registry encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Charset {
    /// `utf-8`
    #[serde(rename = "utf-8")]
    Utf8,
    /// `windows-1251`
    #[serde(rename = "windows-1251")]
    Windows1251,
    /// `cp866`
    #[serde(rename = "cp866")]
    Cp866,
}

impl Charset {
    /// Parses the name as written in `control.txt` (exactly, lower case).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "utf-8" => Some(Self::Utf8),
            "windows-1251" => Some(Self::Windows1251),
            "cp866" => Some(Self::Cp866),
            _ => None,
        }
    }

    /// The name as written in `control.txt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Windows1251 => "windows-1251",
            Self::Cp866 => "cp866",
        }
    }

    fn single_byte(self) -> Option<&'static Encoding> {
        match self {
            Self::Utf8 => None,
            Self::Windows1251 => Some(WINDOWS_1251),
            Self::Cp866 => Some(IBM866),
        }
    }

    /// Decodes bytes strictly into a field's text ([`crate::validate::Text`]: short text kept
    /// inline); `None` if any byte sequence is invalid in this encoding.
    pub fn decode_text(self, bytes: &[u8]) -> Option<crate::validate::Text> {
        use crate::validate::Text;
        // All three encodings are ASCII-compatible; UTF-8 needs only checking. Either way the
        // text is copied straight into its place, without a `String` first.
        if bytes.is_ascii() || self.single_byte().is_none() {
            return std::str::from_utf8(bytes).ok().map(Text::from);
        }
        self.decode(bytes).map(Text::from)
    }

    /// For the single-byte encodings, whether each byte has a character: all do but
    /// windows-1251's `0x98`, which encoding_rs decodes without an error.
    fn defines_every_byte_of(self, bytes: &[u8]) -> bool {
        self != Self::Windows1251 || !bytes.contains(&0x98)
    }

    /// Decodes bytes strictly; `None` if any byte sequence is invalid in this encoding.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        if bytes.is_ascii() {
            // All three encodings are ASCII-compatible.
            return std::str::from_utf8(bytes).ok().map(str::to_owned);
        }
        match self.single_byte() {
            None => std::str::from_utf8(bytes).ok().map(str::to_owned),
            Some(enc) => {
                if !self.defines_every_byte_of(bytes) {
                    return None;
                }
                enc.decode_without_bom_handling_and_without_replacement(bytes)
                    .map(|c| c.into_owned())
            }
        }
    }

    /// A check of field bytes given in pieces, judging them as [`Self::decode`] judges them
    /// whole: for the fields too long for the registry reader to keep
    /// ([`crate::dialect::RecordReader::with_field_limits`]).
    pub fn unkept_check(self) -> Box<dyn crate::dialect::Unkept> {
        Box::new(PieceCheck {
            charset: self,
            utf8: None,
            out: vec![0; 4096],
        })
    }

    /// Encodes text strictly; `Err(c)` names the first character this encoding cannot hold.
    pub fn encode(self, text: &str) -> Result<Vec<u8>, char> {
        let Some(enc) = self.single_byte() else {
            return Ok(text.as_bytes().to_vec());
        };
        if text.is_ascii() {
            return Ok(text.as_bytes().to_vec());
        }
        let mut encoder = enc.new_encoder();
        let mut out = Vec::with_capacity(text.len());
        let cap = encoder
            .max_buffer_length_from_utf8_without_replacement(text.len())
            .unwrap_or(text.len().saturating_mul(4));
        out.resize(cap, 0);
        let (res, _read, written) =
            encoder.encode_from_utf8_without_replacement(text, &mut out, true);
        match res {
            encoding_rs::EncoderResult::InputEmpty => {
                out.truncate(written);
                Ok(out)
            }
            encoding_rs::EncoderResult::Unmappable(c) => Err(c),
            encoding_rs::EncoderResult::OutputFull => Err('\u{FFFD}'),
        }
    }
}

/// See [`Charset::unkept_check`].
struct PieceCheck {
    charset: Charset,
    /// The UTF-8 decoder of the current field, which holds a sequence split between pieces.
    utf8: Option<encoding_rs::Decoder>,
    /// Where the decoder writes what it checked (thrown away).
    out: Vec<u8>,
}

impl crate::dialect::Unkept for PieceCheck {
    fn check(&mut self, _field: usize, bytes: &[u8], last: bool) -> bool {
        let ok = match self.charset {
            Charset::Cp866 | Charset::Windows1251 => self.charset.defines_every_byte_of(bytes),
            Charset::Utf8 => {
                let d = self
                    .utf8
                    .get_or_insert_with(|| encoding_rs::UTF_8.new_decoder_without_bom_handling());
                let mut src = bytes;
                loop {
                    let (r, read, _) =
                        d.decode_to_utf8_without_replacement(src, &mut self.out, last);
                    src = src.get(read..).unwrap_or_default();
                    match r {
                        encoding_rs::DecoderResult::InputEmpty => break true,
                        encoding_rs::DecoderResult::OutputFull => continue,
                        encoding_rs::DecoderResult::Malformed(..) => break false,
                    }
                }
            }
        };
        if last || !ok {
            self.utf8 = None;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_cyrillic_in_each_encoding() {
        let text = "Давлат божи, иш № 2-706/2026; \"Тошкент\"";
        for cs in [Charset::Utf8, Charset::Windows1251, Charset::Cp866] {
            let bytes = cs.encode(text).expect("encodable");
            assert_eq!(cs.decode(&bytes).as_deref(), Some(text), "{cs:?}");
        }
    }

    #[test]
    fn refuses_unmappable_instead_of_writing_references() {
        assert_eq!(Charset::Windows1251.encode("Қ"), Err('Қ'));
        assert_eq!(Charset::Cp866.encode("Ғ"), Err('Ғ'));
        assert_eq!(Charset::Cp866.encode("ʻ"), Err('ʻ'));
        assert!(Charset::Utf8.encode("Қʻ").is_ok());
    }

    #[test]
    fn refuses_invalid_bytes() {
        assert_eq!(Charset::Utf8.decode(&[0xC0, 0xAF]), None, "overlong slash");
        assert_eq!(Charset::Utf8.decode(&[0xED, 0xA0, 0x80]), None, "surrogate");
        assert_eq!(Charset::Utf8.decode(&[0xD0]), None, "truncated sequence");
        assert_eq!(
            Charset::Windows1251.decode(&[0xC0, 0x98]),
            None,
            "undefined byte"
        );
        assert_eq!(Charset::Windows1251.decode(&[0xC0]).as_deref(), Some("А"));
        assert_eq!(Charset::Cp866.decode(&[0x80]).as_deref(), Some("А"));
    }

    #[test]
    fn names_are_exact() {
        assert_eq!(Charset::parse("utf-8"), Some(Charset::Utf8));
        assert_eq!(Charset::parse("UTF-8"), None);
        assert_eq!(Charset::parse("cp1251"), None);
    }
}
