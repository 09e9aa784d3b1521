//! Amounts as people read and type them: whole coins with [`DECIMALS`] decimal places.
//!
//! The protocol counts base units (`u64`); one coin (ticker [`TICKER`]) is `10^DECIMALS` base
//! units. These conversions are exact (integers only, never floating point), so what a wallet
//! shows and what it signs are the same number. They are presentation, not consensus: no rule of
//! the chain reads them.

use alloc::string::String;
use core::fmt;

/// The coin's ticker.
pub const TICKER: &str = "MEME";
/// Decimal places of one coin: 1 MEME = 10^9 base units.
pub const DECIMALS: u32 = 9;
/// Base units per coin.
pub const UNIT: u64 = 1_000_000_000;

/// Why a typed amount is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmountError {
    Empty,
    /// A character that is neither a digit nor the one decimal point.
    NotANumber,
    TooManyDecimals,
    TooLarge,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("enter an amount"),
            Self::NotANumber => {
                f.write_str("not an amount: use digits and at most one decimal point")
            }
            Self::TooManyDecimals => write!(f, "too many decimals: {TICKER} has {DECIMALS}"),
            Self::TooLarge => f.write_str("amount is too large"),
        }
    }
}

impl core::error::Error for AmountError {}

/// Parses whole coins (`"12"`, `"0.5"`, `"1.000000001"`, `".5"`) into base units. Surrounding
/// spaces are ignored; signs, exponents, thousands separators and a second point are refused.
pub fn parse_amount(text: &str) -> Result<u64, AmountError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
        return Err(AmountError::NotANumber);
    }
    if fraction.len() > DECIMALS as usize {
        return Err(AmountError::TooManyDecimals);
    }
    let mut units: u64 = 0;
    for b in whole.bytes() {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(u64::from(b.wrapping_sub(b'0'))))
            .ok_or(AmountError::TooLarge)?;
    }
    units = units.checked_mul(UNIT).ok_or(AmountError::TooLarge)?;
    let mut place = UNIT;
    for b in fraction.bytes() {
        place /= 10;
        let digit = u64::from(b.wrapping_sub(b'0'));
        units = digit
            .checked_mul(place)
            .and_then(|d| units.checked_add(d))
            .ok_or(AmountError::TooLarge)?;
    }
    Ok(units)
}

/// Formats base units as whole coins with no trailing zeros: `1_500_000_000` → `"1.5"`.
pub fn format_amount(units: u64) -> String {
    use core::fmt::Write;
    let (whole, fraction) = (units / UNIT, units % UNIT);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(out, "{whole}");
    if fraction != 0 {
        let mut digits = String::new();
        let _ = write!(digits, "{fraction:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_whole_coins_exactly() {
        assert_eq!(parse_amount("1"), Ok(UNIT));
        assert_eq!(parse_amount(" 0.5 "), Ok(UNIT / 2));
        assert_eq!(parse_amount(".5"), Ok(UNIT / 2));
        assert_eq!(parse_amount("2."), Ok(2 * UNIT));
        assert_eq!(parse_amount("0.000000001"), Ok(1));
        assert_eq!(parse_amount("18446744073.709551615"), Ok(u64::MAX));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
        assert_eq!(parse_amount("."), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("-1"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("1e3"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("1,000"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("1.2.3"), Err(AmountError::NotANumber));
        assert_eq!(parse_amount("0.0000000001"), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_amount("18446744073.709551616"), Err(AmountError::TooLarge));
        assert_eq!(parse_amount("99999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(AmountError::TooManyDecimals.to_string(), "too many decimals: MEME has 9");
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(format_amount(0), "0");
        assert_eq!(format_amount(1), "0.000000001");
        assert_eq!(format_amount(UNIT * 3 / 2), "1.5");
        assert_eq!(format_amount(u64::MAX), "18446744073.709551615");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_the_identity(units: u64) {
            prop_assert_eq!(parse_amount(&format_amount(units)), Ok(units));
        }
    }
}
