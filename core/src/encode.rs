//! Canonical binary encoding.
//!
//! Every object that is hashed, signed or sent has exactly one byte form:
//! - integers are fixed-width big-endian (`u8`, `u16`, `u32`, `u64`);
//! - fixed-size byte strings (hashes, keys, signatures, addresses) are written raw;
//! - a variable-length list or byte string is a `u32` big-endian count followed by its items;
//! - an enum is a `u8` tag followed by its fields; unknown tags are rejected;
//! - `Option<T>` is tag `0` (none) or tag `1` followed by `T`; a `bool` is `0` or `1`.
//!
//! Decoding is strict: trailing bytes, unknown tags, out-of-range values and counts above a
//! per-object cap are errors. A count is checked against the bytes left in the input before
//! anything is allocated, so a length prefix never makes us allocate beyond the input.

use alloc::vec::Vec;
use core::fmt;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended while `needed` more bytes were expected.
    UnexpectedEnd { needed: usize },
    /// The object was complete with `left` bytes still unread.
    TrailingBytes { left: usize },
    /// An enum or option tag that no version of this type defines.
    InvalidTag { what: &'static str, tag: u8 },
    /// A count above the cap for this field.
    TooMany { what: &'static str, count: u32, max: u32 },
    /// The whole input is larger than the cap for this object.
    TooLarge { what: &'static str, size: usize, max: usize },
    /// A value with a valid shape that breaks a canonical-form rule (e.g. unsorted entries).
    NonCanonical { what: &'static str },
    /// Bytes that are not a valid value of the type (e.g. a point not on the curve).
    Invalid { what: &'static str },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd { needed } => {
                write!(f, "input ended, {needed} more bytes expected")
            }
            Self::TrailingBytes { left } => write!(f, "{left} trailing bytes after the object"),
            Self::InvalidTag { what, tag } => write!(f, "invalid tag {tag} for {what}"),
            Self::TooMany { what, count, max } => {
                write!(f, "{count} {what}, at most {max} allowed")
            }
            Self::TooLarge { what, size, max } => {
                write!(f, "{what} of {size} bytes, at most {max} allowed")
            }
            Self::NonCanonical { what } => write!(f, "non-canonical {what}"),
            Self::Invalid { what } => write!(f, "invalid {what}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// A type with a canonical byte form.
pub trait Encode {
    /// Appends the canonical bytes of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The canonical bytes of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A type that decodes from its canonical byte form.
pub trait Decode: Sized {
    /// Largest accepted encoding of a whole object of this type, in bytes.
    const MAX_SIZE: usize;
    /// Name used in errors.
    const NAME: &'static str;

    /// Reads one value from `r`, leaving the rest of the input.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes exactly one value from `bytes`: size cap first, then no trailing bytes.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > Self::MAX_SIZE {
            return Err(DecodeError::TooLarge {
                what: Self::NAME,
                size: bytes.len(),
                max: Self::MAX_SIZE,
            });
        }
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// A cursor over untrusted input.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            left => Err(DecodeError::TrailingBytes { left }),
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::UnexpectedEnd { needed: n.saturating_sub(self.rest.len()) });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::InvalidTag { what, tag }),
        }
    }

    /// Reads a `u32` count, capped at `max`, and checks that the input can hold `count` items of
    /// at least `min_item_size` bytes each before the caller allocates for them.
    pub fn count(
        &mut self,
        what: &'static str,
        max: u32,
        min_item_size: usize,
    ) -> Result<usize, DecodeError> {
        let count = self.u32()?;
        if count > max {
            return Err(DecodeError::TooMany { what, count, max });
        }
        let count = count as usize;
        let needed = count.saturating_mul(min_item_size.max(1));
        if needed > self.rest.len() {
            return Err(DecodeError::UnexpectedEnd {
                needed: needed.saturating_sub(self.rest.len()),
            });
        }
        Ok(count)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: u32) -> Result<Vec<u8>, DecodeError> {
        let n = self.count(what, max, 1)?;
        Ok(self.take(n)?.to_vec())
    }

    /// A length-prefixed list of at most `max` items, each at least `min_item_size` bytes.
    pub fn list<T>(
        &mut self,
        what: &'static str,
        max: u32,
        min_item_size: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.count(what, max, min_item_size)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// `Option<T>`: tag 0 or tag 1 then the value.
    pub fn option<T>(
        &mut self,
        what: &'static str,
        item: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(item(self)?)),
            tag => Err(DecodeError::InvalidTag { what, tag }),
        }
    }
}

/// Writers for the primitive forms, so every `Encode` impl reads the same way.
pub trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_bool(&mut self, v: bool);
    fn put_raw(&mut self, v: &[u8]);
    /// A count prefix. Every list we encode was built within its cap, which is far below
    /// `u32::MAX`; a larger length saturates and so fails to decode rather than wrapping.
    fn put_count(&mut self, n: usize);
    fn put_bytes(&mut self, v: &[u8]);
    fn put_list<T: Encode>(&mut self, items: &[T]);
    fn put_option<T: Encode>(&mut self, v: &Option<T>);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_bool(&mut self, v: bool) {
        self.push(u8::from(v));
    }
    fn put_raw(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    fn put_count(&mut self, n: usize) {
        self.put_u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn put_bytes(&mut self, v: &[u8]) {
        self.put_count(v.len());
        self.put_raw(v);
    }
    fn put_list<T: Encode>(&mut self, items: &[T]) {
        self.put_count(items.len());
        for item in items {
            item.encode_to(self);
        }
    }
    fn put_option<T: Encode>(&mut self, v: &Option<T>) {
        match v {
            None => self.put_u8(0),
            Some(v) => {
                self.put_u8(1);
                v.encode_to(self);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_never_allocates_beyond_input() {
        // Claims 4 billion items in a 4-byte input.
        let bytes = [0xff, 0xff, 0xff, 0xff];
        let mut r = Reader::new(&bytes);
        assert_eq!(
            r.count("items", u32::MAX, 1),
            Err(DecodeError::UnexpectedEnd { needed: 0xffff_ffff })
        );
        let mut r = Reader::new(&bytes);
        assert_eq!(
            r.count("items", 10, 1),
            Err(DecodeError::TooMany { what: "items", count: u32::MAX, max: 10 })
        );
    }

    #[test]
    fn bool_and_option_tags_are_strict() {
        assert_eq!(
            Reader::new(&[2]).bool("flag"),
            Err(DecodeError::InvalidTag { what: "flag", tag: 2 })
        );
        assert_eq!(
            Reader::new(&[7]).option("opt", |r| r.u8()),
            Err(DecodeError::InvalidTag { what: "opt", tag: 7 })
        );
    }

    #[test]
    fn finish_reports_trailing_bytes() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes { left: 2 }));
    }
}
