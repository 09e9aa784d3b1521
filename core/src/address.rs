//! Addresses: who owns an account.
//!
//! `address = first 20 bytes of tagged_hash("memecoin/address", compressed public key)`.
//! Text form: bech32m (BIP-350) with human-readable prefix `meme`, e.g. `meme1...`. The checksum
//! detects any error in up to 4 characters, so a typo is caught, never sent to a stranger.

use crate::crypto::PublicKey;
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, tagged_hash};
use alloc::string::String;
use alloc::vec::Vec;
use bech32::primitives::decode::{CharError, CheckedHrpstring, UncheckedHrpstring};
use bech32::{Bech32, Bech32m, Hrp};
use core::fmt;
use core::str::FromStr;

/// The human-readable prefix of every memecoin address.
pub const ADDRESS_PREFIX: &str = "meme";

/// A 20-byte account address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 20]);

impl Address {
    pub const SIZE: usize = 20;

    pub fn from_public_key(key: &PublicKey) -> Self {
        let h = tagged_hash(Domain::Address, &[key.as_bytes()]);
        let mut out = [0u8; 20];
        out.copy_from_slice(h.0.get(..20).unwrap_or(&[0; 20]));
        Address(out)
    }

    /// The bech32m text form, always lower case.
    pub fn to_text(&self) -> String {
        let hrp = Hrp::parse_unchecked(ADDRESS_PREFIX);
        // Encoding 20 bytes under a 4-character prefix is far below bech32's length limit.
        bech32::encode_lower::<Bech32m>(hrp, &self.0).unwrap_or_default()
    }

    /// Parses the bech32m text form (all lower or all upper case).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let unchecked = UncheckedHrpstring::new(text).map_err(|e| match e {
            bech32::primitives::decode::UncheckedHrpstringError::Char(c) => match c {
                CharError::MixedCase => AddressError::MixedCase,
                CharError::MissingSeparator => AddressError::MissingSeparator,
                CharError::NothingAfterSeparator => AddressError::TooShort,
                CharError::InvalidChar(c) => AddressError::InvalidChar(c),
                _ => AddressError::Malformed,
            },
            _ => AddressError::Malformed,
        })?;
        let hrp = unchecked.hrp();
        if hrp.to_lowercase() != ADDRESS_PREFIX {
            return Err(AddressError::WrongPrefix { found: hrp.to_lowercase() });
        }
        if unchecked.validate_checksum::<Bech32m>().is_err() {
            // A valid *bech32* (not bech32m) checksum is a different, weaker code: say so.
            if unchecked.validate_checksum::<Bech32>().is_ok() {
                return Err(AddressError::NotBech32m);
            }
            return Err(AddressError::BadChecksum);
        }
        let checked =
            CheckedHrpstring::new::<Bech32m>(text).map_err(|_| AddressError::BadChecksum)?;
        // 20 bytes are exactly 32 five-bit characters; any other count is another length, or
        // padding bits that would give a second text for the same address.
        let chars = checked.data_part_ascii_no_checksum().len();
        let bytes: Vec<u8> = checked.byte_iter().collect();
        if chars != 32 {
            return Err(AddressError::WrongLength { bytes: chars.saturating_mul(5) / 8 });
        }
        let arr: [u8; 20] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::WrongLength { bytes: bytes.len() })?;
        Ok(Address(arr))
    }
}

/// Why an address text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// Upper and lower case letters mixed: bech32 forbids it, so it is likely mistyped.
    MixedCase,
    /// No `1` separating the prefix from the data.
    MissingSeparator,
    /// Nothing after the separator.
    TooShort,
    /// A character outside the bech32 alphabet (`1`, `b`, `i`, `o` are excluded).
    InvalidChar(char),
    /// Not a `meme` address.
    WrongPrefix { found: String },
    /// The checksum does not match: a character is wrong or missing.
    BadChecksum,
    /// A bech32 checksum where bech32m is required.
    NotBech32m,
    /// Decodes to the wrong number of bytes.
    WrongLength { bytes: usize },
    /// Otherwise not a bech32m string.
    Malformed,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MixedCase => f.write_str("address mixes upper and lower case"),
            Self::MissingSeparator => f.write_str("address has no '1' separator"),
            Self::TooShort => f.write_str("address is too short"),
            Self::InvalidChar(c) => write!(f, "address contains invalid character {c:?}"),
            Self::WrongPrefix { found } => {
                write!(f, "address prefix is {found:?}, expected \"{ADDRESS_PREFIX}\"")
            }
            Self::BadChecksum => f.write_str("address checksum is wrong (typo?)"),
            Self::NotBech32m => f.write_str("address uses bech32, not bech32m"),
            Self::WrongLength { bytes } => write!(f, "address holds {bytes} bytes, expected 20"),
            Self::Malformed => f.write_str("address is not valid bech32m"),
        }
    }
}

impl core::error::Error for AddressError {}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_text())
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Encode for Address {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_raw(&self.0);
    }
}

impl Decode for Address {
    const MAX_SIZE: usize = 20;
    const NAME: &'static str = "address";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Address(r.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn sample() -> Address {
        Address::from_public_key(&SecretKey::from_bytes(&[1; 32]).unwrap().public_key())
    }

    #[test]
    fn round_trip_and_upper_case() {
        let a = sample();
        let text = a.to_text();
        assert!(text.starts_with("meme1"));
        assert_eq!(Address::parse(&text), Ok(a));
        assert_eq!(Address::parse(&text.to_uppercase()), Ok(a));
    }

    #[test]
    fn each_error_fires() {
        let text = sample().to_text();
        // One character changed.
        let mut typo: Vec<char> = text.chars().collect();
        let last = typo.len() - 3;
        typo[last] = if typo[last] == 'q' { 'p' } else { 'q' };
        let typo: String = typo.into_iter().collect();
        assert_eq!(Address::parse(&typo), Err(AddressError::BadChecksum));
        // Mixed case.
        let mixed = format!("{}{}", &text[..6].to_uppercase(), &text[6..]);
        assert_eq!(Address::parse(&mixed), Err(AddressError::MixedCase));
        // Wrong prefix, valid checksum.
        let btc = bech32::encode_lower::<Bech32m>(Hrp::parse("bc").unwrap(), &[0; 20]).unwrap();
        assert_eq!(Address::parse(&btc), Err(AddressError::WrongPrefix { found: "bc".into() }));
        // bech32 instead of bech32m.
        let old = bech32::encode_lower::<Bech32>(Hrp::parse("meme").unwrap(), &[0; 20]).unwrap();
        assert_eq!(Address::parse(&old), Err(AddressError::NotBech32m));
        // Wrong length.
        let short = bech32::encode_lower::<Bech32m>(Hrp::parse("meme").unwrap(), &[0; 19]).unwrap();
        assert_eq!(Address::parse(&short), Err(AddressError::WrongLength { bytes: 19 }));
        assert_eq!(Address::parse("meme1bbbb"), Err(AddressError::InvalidChar('b')));
        assert_eq!(Address::parse("memeqqqq"), Err(AddressError::MissingSeparator));
    }
}
