//! Payment requests as text: `meme:<address>[?amount=<MEME>][&memo=<percent-encoded UTF-8>]`
//! (PROTOCOL.md §5.6), what a receive QR code carries and a send form understands.
//!
//! Modelled on Bitcoin's BIP-21: the scheme is case-insensitive (a QR code's alphanumeric mode is
//! upper case), a parameter named `req-…` that this wallet does not know is refused (the payee
//! said it is required, so paying without it would be paying something else), any other unknown
//! parameter is ignored. The memo is a note for the payer, shown and never sent: memecoin
//! transactions carry no memo. Parsing is bounded ([`MAX_URI_LEN`], [`MAX_MEMO_LEN`]) and every
//! refusal is a typed [`UriError`]; formatting writes the one form parsing reads back.

use crate::units::{self, AmountError};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use memecoin_core::address::{Address, AddressError};

/// The scheme, as written (parsing ignores case).
pub const SCHEME: &str = "meme:";
/// Longest payment request accepted, in bytes of text: a 43-character address, the longest
/// amount, a full memo percent-encoded (3 bytes per byte) and room to spare, within what a QR
/// code a phone camera reads comfortably holds.
pub const MAX_URI_LEN: usize = 512;
/// Longest memo, in bytes of UTF-8 after percent-decoding.
pub const MAX_MEMO_LEN: usize = 120;

/// A payment request: who to pay, and optionally how much and a note for the payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub address: Address,
    /// Base units; `None` when the payer chooses.
    pub amount: Option<u64>,
    /// The payee's note, `""` when none.
    pub memo: String,
}

/// Why a text is not a payment request (or a memo cannot go into one).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// Longer than [`MAX_URI_LEN`] bytes.
    TooLong { len: usize },
    /// Does not start with `meme:` (in any case).
    Scheme,
    /// The address part is not an address.
    Address(AddressError),
    /// An empty parameter or name (`?`, `?a=1&&b=2`, `?=1`), or `amount`/`memo` without `=`.
    Parameter,
    /// `amount` or `memo` given twice.
    Duplicate { name: &'static str },
    /// A `req-` parameter this wallet does not know: the payee requires what it cannot honour.
    Required { name: String },
    /// `amount` is not an amount of MEME.
    Amount(AmountError),
    /// `amount=0`: the chain refuses a payment of nothing.
    ZeroAmount,
    /// A `%` not followed by two hexadecimal digits.
    Percent,
    /// The memo's bytes are not UTF-8.
    MemoUtf8,
    /// The memo is longer than [`MAX_MEMO_LEN`] bytes.
    MemoTooLong { bytes: usize },
    /// The memo holds a control character or one that reorders text (bidirectional controls),
    /// with which a note could disguise what is around it.
    MemoCharacter,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => {
                write!(f, "payment request is {len} bytes long, at most {MAX_URI_LEN}")
            }
            Self::Scheme => f.write_str("not a payment request: it does not start with meme:"),
            Self::Address(e) => write!(f, "{e}"),
            Self::Parameter => f.write_str("payment request parameter is not name=value"),
            Self::Duplicate { name } => write!(f, "payment request has {name} twice"),
            Self::Required { name } => {
                write!(f, "payment request requires {name}, which this wallet does not support")
            }
            Self::Amount(e) => write!(f, "payment request amount: {e}"),
            Self::ZeroAmount => f.write_str("payment request amount must be more than 0"),
            Self::Percent => f.write_str("payment request memo has a bad %-escape"),
            Self::MemoUtf8 => f.write_str("payment request memo is not UTF-8 text"),
            Self::MemoTooLong { bytes } => {
                write!(f, "memo is {bytes} bytes long, at most {MAX_MEMO_LEN}")
            }
            Self::MemoCharacter => f.write_str("memo holds a control or text-direction character"),
        }
    }
}

impl core::error::Error for UriError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Address(e) => Some(e),
            Self::Amount(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses a payment request. Checks, in order: length, scheme, address, then each parameter as
/// it comes (shape, duplicates, `req-`, `amount`, `memo`).
pub fn parse_payment_uri(text: &str) -> Result<PaymentRequest, UriError> {
    if text.len() > MAX_URI_LEN {
        return Err(UriError::TooLong { len: text.len() });
    }
    let rest = match (text.get(..SCHEME.len()), text.get(SCHEME.len()..)) {
        (Some(scheme), Some(rest)) if scheme.eq_ignore_ascii_case(SCHEME) => rest,
        _ => return Err(UriError::Scheme),
    };
    let (address, query) = rest.split_once('?').map_or((rest, None), |(a, q)| (a, Some(q)));
    let address = Address::parse(address).map_err(UriError::Address)?;
    let mut request = PaymentRequest { address, amount: None, memo: String::new() };
    let mut memo_seen = false;
    // `split_once` in a loop rather than a `split` iterator: the same code as above, a smaller
    // `.wasm` (its size budget).
    let mut query = query;
    while let Some(q) = query {
        let (param, more) = q.split_once('&').map_or((q, None), |(p, m)| (p, Some(m)));
        query = more;
        // As BIP-21 has it, a parameter may be a bare name; `amount` and `memo` need a value.
        let (name, value) = param.split_once('=').map_or((param, None), |(n, v)| (n, Some(v)));
        match name {
            "" => return Err(UriError::Parameter),
            "amount" => {
                if request.amount.is_some() {
                    return Err(UriError::Duplicate { name: "amount" });
                }
                request.amount = Some(parse_amount(value.ok_or(UriError::Parameter)?)?);
            }
            "memo" => {
                if memo_seen {
                    return Err(UriError::Duplicate { name: "memo" });
                }
                memo_seen = true;
                request.memo = decode_memo(value.ok_or(UriError::Parameter)?)?;
            }
            _ if name.starts_with("req-") => {
                return Err(UriError::Required { name: name.into() });
            }
            _ => {}
        }
    }
    Ok(request)
}

/// An amount in a request: the digits and at most one point of [`units::parse_amount`], with
/// nothing around them (no spaces, no escapes), and more than 0.
fn parse_amount(value: &str) -> Result<u64, UriError> {
    if value.bytes().any(|b| !(b.is_ascii_digit() || b == b'.')) {
        return Err(UriError::Amount(AmountError::NotANumber));
    }
    match units::parse_amount(value).map_err(UriError::Amount)? {
        0 => Err(UriError::ZeroAmount),
        units => Ok(units),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(b.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(b.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// Percent-decodes a memo (`+` is a plus sign, as RFC 3986 reads it), then checks it.
fn decode_memo(value: &str) -> Result<String, UriError> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut it = value.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = it.next().and_then(hex_digit).ok_or(UriError::Percent)?;
            let lo = it.next().and_then(hex_digit).ok_or(UriError::Percent)?;
            bytes.push((hi << 4) | lo);
        } else {
            bytes.push(b);
        }
    }
    let memo = String::from_utf8(bytes).map_err(|_| UriError::MemoUtf8)?;
    check_memo(&memo)?;
    Ok(memo)
}

/// A memo's rules: at most [`MAX_MEMO_LEN`] bytes, no control characters (Unicode `Cc`), no
/// bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069:
/// Unicode's `Bidi_Control`, which can show an address or amount in the note reordered).
pub fn check_memo(memo: &str) -> Result<(), UriError> {
    if memo.len() > MAX_MEMO_LEN {
        return Err(UriError::MemoTooLong { bytes: memo.len() });
    }
    let bidi = |c: char| matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if memo.chars().any(|c| c.is_control() || bidi(c)) {
        return Err(UriError::MemoCharacter);
    }
    Ok(())
}

/// The request as text: `meme:` and the address in lower case, then `amount` (as
/// [`units::format_amount`] writes it) if any, then `memo` if not empty, every byte of it other
/// than `A–Z a–z 0–9 - . _ ~` written `%XX` (upper-case hex). [`parse_payment_uri`] reads it back
/// to the same request.
pub fn format_payment_uri(request: &PaymentRequest) -> Result<String, UriError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    check_memo(&request.memo)?;
    let mut out = String::from(SCHEME);
    out.push_str(&request.address.to_text());
    let mut sep = '?';
    if let Some(amount) = request.amount {
        if amount == 0 {
            return Err(UriError::ZeroAmount);
        }
        out.push(sep);
        out.push_str("amount=");
        out.push_str(&units::format_amount(amount));
        sep = '&';
    }
    if !request.memo.is_empty() {
        out.push(sep);
        out.push_str("memo=");
        for b in request.memo.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push('%');
                for nibble in [b >> 4, b & 15] {
                    out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const ADDR: &str = "meme1vywuqspjczfy0d7tzdmsd9jcn0zn30gp2lw4t2";

    fn req(amount: Option<u64>, memo: &str) -> PaymentRequest {
        PaymentRequest { address: Address::parse(ADDR).unwrap(), amount, memo: memo.into() }
    }

    /// One data-driven check per vector: the text, and the request or the error it gives.
    fn check(text: &str, expected: Result<PaymentRequest, UriError>) {
        assert_eq!(parse_payment_uri(text), expected, "{text}");
    }

    #[test]
    fn parses_what_it_formats_and_what_bip21_allows() {
        check(&alloc::format!("meme:{ADDR}"), Ok(req(None, "")));
        check(&alloc::format!("MEME:{}", ADDR.to_uppercase()), Ok(req(None, "")));
        check(&alloc::format!("Meme:{ADDR}?amount=1.5"), Ok(req(Some(1_500_000_000), "")));
        check(
            &alloc::format!("meme:{ADDR}?amount=0.000000001&memo=Lunch%20%E2%82%AC+tip"),
            Ok(req(Some(1), "Lunch €+tip")),
        );
        check(&alloc::format!("meme:{ADDR}?memo=&label=x&foo"), Ok(req(None, "")));
        check(&alloc::format!("meme:{ADDR}?label=Shop&memo=hi"), Ok(req(None, "hi")));
        check(&alloc::format!("meme:{ADDR}?memo="), Ok(req(None, "")));
    }

    #[test]
    fn refuses_with_the_reason() {
        check("bitcoin:abc", Err(UriError::Scheme));
        check("meme", Err(UriError::Scheme));
        check(ADDR, Err(UriError::Scheme));
        check("meme:meme1abc", Err(UriError::Address(AddressError::InvalidChar('b'))));
        let typo = alloc::format!("meme:{}q", &ADDR[..ADDR.len() - 1]);
        check(&typo, Err(UriError::Address(AddressError::BadChecksum)));
        check(
            &alloc::format!("meme:{ADDR}?req-fee=1"),
            Err(UriError::Required { name: "req-fee".into() }),
        );
        check(
            &alloc::format!("meme:{ADDR}?amount=1&amount=2"),
            Err(UriError::Duplicate { name: "amount" }),
        );
        check(
            &alloc::format!("meme:{ADDR}?memo=a&memo=b"),
            Err(UriError::Duplicate { name: "memo" }),
        );
        check(&alloc::format!("meme:{ADDR}?amount"), Err(UriError::Parameter));
        check(&alloc::format!("meme:{ADDR}?=1"), Err(UriError::Parameter));
        check(&alloc::format!("meme:{ADDR}?"), Err(UriError::Parameter));
        check(&alloc::format!("meme:{ADDR}?amount=0"), Err(UriError::ZeroAmount));
        check(
            &alloc::format!("meme:{ADDR}?amount=%31"),
            Err(UriError::Amount(AmountError::NotANumber)),
        );
        check(
            &alloc::format!("meme:{ADDR}?amount= 1"),
            Err(UriError::Amount(AmountError::NotANumber)),
        );
        check(
            &alloc::format!("meme:{ADDR}?amount=1e3"),
            Err(UriError::Amount(AmountError::NotANumber)),
        );
        check(&alloc::format!("meme:{ADDR}?amount="), Err(UriError::Amount(AmountError::Empty)));
        check(
            &alloc::format!("meme:{ADDR}?amount=0.0000000001"),
            Err(UriError::Amount(AmountError::TooManyDecimals)),
        );
        check(
            &alloc::format!("meme:{ADDR}?amount=18446744073.709551616"),
            Err(UriError::Amount(AmountError::TooLarge)),
        );
        check(&alloc::format!("meme:{ADDR}?memo=%2"), Err(UriError::Percent));
        check(&alloc::format!("meme:{ADDR}?memo=%zz"), Err(UriError::Percent));
        check(&alloc::format!("meme:{ADDR}?memo=%FF"), Err(UriError::MemoUtf8));
        check(&alloc::format!("meme:{ADDR}?memo=a%0Ab"), Err(UriError::MemoCharacter));
        check(&alloc::format!("meme:{ADDR}?memo=%E2%80%AEtxt"), Err(UriError::MemoCharacter));
        let long = "a".repeat(MAX_MEMO_LEN + 1);
        check(
            &alloc::format!("meme:{ADDR}?memo={long}"),
            Err(UriError::MemoTooLong { bytes: 121 }),
        );
        let huge = alloc::format!("meme:{ADDR}?x={}", "a".repeat(MAX_URI_LEN));
        check(&huge, Err(UriError::TooLong { len: huge.len() }));
        assert_eq!(
            UriError::Required { name: "req-fee".into() }.to_string(),
            "payment request requires req-fee, which this wallet does not support"
        );
    }

    #[test]
    fn formats_one_form_that_parses_back() {
        let r = req(Some(12_500_000_000), "Lunch € tip, 50%!");
        let text = format_payment_uri(&r).unwrap();
        assert_eq!(
            text,
            alloc::format!("meme:{ADDR}?amount=12.5&memo=Lunch%20%E2%82%AC%20tip%2C%2050%25%21")
        );
        assert_eq!(parse_payment_uri(&text), Ok(r));
        assert_eq!(format_payment_uri(&req(None, "")).unwrap(), alloc::format!("meme:{ADDR}"));
        assert_eq!(
            format_payment_uri(&req(None, "a~b")).unwrap(),
            alloc::format!("meme:{ADDR}?memo=a~b")
        );
        assert_eq!(format_payment_uri(&req(Some(0), "")), Err(UriError::ZeroAmount));
        assert_eq!(format_payment_uri(&req(None, "\u{202e}")), Err(UriError::MemoCharacter));
        // The longest memo, every byte escaped, and the longest amount still fit the bound.
        let worst = req(Some(u64::MAX), &"\u{20ac}".repeat(MAX_MEMO_LEN / 3));
        let text = format_payment_uri(&worst).unwrap();
        assert!(text.len() <= MAX_URI_LEN, "{}", text.len());
        assert_eq!(parse_payment_uri(&text), Ok(worst));
    }
}
