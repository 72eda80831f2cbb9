//! Kernel bytes as JSON strings, without losing any: each field prints its
//! bytes as a valid UTF-8 string (each invalid sequence becomes U+FFFD, so
//! every consumer can compare and index it), and, only when that lost
//! something, a sibling `<name>_b64` with the exact bytes in standard base64
//! (RFC 4648, padded). Valid UTF-8 costs one `str::from_utf8` per field.

use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};

/// Writes `key` (the bytes as a string) and, when they are not valid UTF-8,
/// `key_b64` (the exact bytes, base64).
pub fn text_field<S: SerializeStruct>(
    s: &mut S,
    key: &'static str,
    key_b64: &'static str,
    bytes: &[u8],
) -> Result<(), S::Error> {
    let lossy = || String::from_utf8_lossy(bytes);
    with_bytes(s, [key, key_b64], bytes, |t| t, lossy, Base64(bytes))
}

/// Writes `key` (an array of strings, one per element of `nul_terminated`,
/// elements each ending in NUL as argv is laid out) and, when any element is
/// not valid UTF-8, `key_b64`: every element in base64, so that indices line
/// up with `key`'s. NUL never occurs inside a multi-byte sequence, so the
/// whole buffer is valid exactly when every element is: one check for all.
pub fn text_list_field<S: SerializeStruct>(
    s: &mut S,
    key: &'static str,
    key_b64: &'static str,
    nul_terminated: &[u8],
) -> Result<(), S::Error> {
    let lossy = || LossyList(nul_terminated);
    let exact = Base64List(nul_terminated);
    with_bytes(s, [key, key_b64], nul_terminated, StrList, lossy, exact)
}

/// The one check: `valid` of the text when `bytes` are UTF-8, else `lossy`
/// and, beside it, `exact`.
fn with_bytes<'b, S, V, L, E>(
    s: &mut S,
    [key, key_b64]: [&'static str; 2],
    bytes: &'b [u8],
    valid: impl FnOnce(&'b str) -> V,
    lossy: impl FnOnce() -> L,
    exact: E,
) -> Result<(), S::Error>
where
    S: SerializeStruct,
    V: Serialize,
    L: Serialize,
    E: Serialize,
{
    match std::str::from_utf8(bytes) {
        Ok(text) => s.serialize_field(key, &valid(text)),
        Err(_) => {
            s.serialize_field(key, &lossy())?;
            s.serialize_field(key_b64, &exact)
        }
    }
}

/// The elements of a buffer whose elements each end in NUL (a missing last
/// NUL is tolerated); none for an empty buffer.
pub fn nul_terminated(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let empty = b.is_empty();
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    b.split(|&c| c == 0).filter(move |_| !empty)
}

/// Valid UTF-8 elements, NUL-terminated, printed without another check.
struct StrList<'a>(&'a str);

impl Serialize for StrList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        if !self.0.is_empty() {
            let b = self.0.strip_suffix('\0').unwrap_or(self.0);
            for arg in b.split('\0') {
                seq.serialize_element(arg)?;
            }
        }
        seq.end()
    }
}

/// Elements printed as strings, each invalid sequence as U+FFFD.
pub struct LossyList<'a>(pub &'a [u8]);

impl Serialize for LossyList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for arg in nul_terminated(self.0) {
            seq.serialize_element(&String::from_utf8_lossy(arg))?;
        }
        seq.end()
    }
}

struct Base64List<'a>(&'a [u8]);

impl Serialize for Base64List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for arg in nul_terminated(self.0) {
            seq.serialize_element(&Base64(arg))?;
        }
        seq.end()
    }
}

/// Bytes printed as a standard, padded base64 string (RFC 4648 §4).
pub struct Base64<'a>(pub &'a [u8]);

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Base64<'_> {
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(self.0.len().div_ceil(3) * 4);
        for chunk in self.0.chunks(3) {
            let n = chunk.len();
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            for i in 0..4 {
                out.push(if i <= n {
                    ALPHABET[(v >> (18 - 6 * i) & 63) as usize]
                } else {
                    b'='
                });
            }
        }
        String::from_utf8(out).expect("the base64 alphabet is ASCII")
    }
}

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}
