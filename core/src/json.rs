//! JSON for the chain spec (`Genesis::from_json`, `Params`' serde): its integers.
//!
//! Its own module because both the parameters and the genesis spec are written with it, and
//! neither should reach into the other for it.

/// The largest integer every JSON reader holds exactly: 2^53 − 1 (RFC 7493, I-JSON, §2.2).
/// JavaScript's `JSON.parse` rounds larger numbers, so the JSON chain spec writes integers above
/// it as decimal strings.
pub const MAX_JSON_INTEGER: u64 = (1 << 53) - 1;

#[cfg(feature = "std")]
pub(crate) mod integer {
    //! Serde for a `u64` in the JSON chain spec: written as a JSON number up to
    //! [`MAX_JSON_INTEGER`](super::MAX_JSON_INTEGER) and as a decimal string above it; read from
    //! either (a string of ASCII digits without sign, spaces or leading zeros).
    use super::MAX_JSON_INTEGER;
    use core::fmt;
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
        if *value <= MAX_JSON_INTEGER { s.serialize_u64(*value) } else { s.collect_str(value) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(U64)
    }

    struct U64;

    impl de::Visitor<'_> for U64 {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer from 0 to 2^64 - 1, or one in a decimal string")
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            super::parse_json_u64(text)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
        }
    }
}

/// A `u64` written as a decimal string in the JSON chain spec: ASCII digits only, no sign, no
/// leading zero (but `"0"`), at most `u64::MAX`. `None` for anything else.
pub fn parse_json_u64(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_strings_are_plain_decimal() {
        assert_eq!(parse_json_u64("0"), Some(0));
        assert_eq!(parse_json_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "01", "+1", "-1", " 1", "1 ", "1e3", "0x10", "18446744073709551616", "１"]
        {
            assert_eq!(parse_json_u64(bad), None, "{bad:?}");
        }
    }
}
