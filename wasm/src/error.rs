//! The one error type of the bindings. Internal functions return `Result<T, Error>`; the
//! `#[wasm_bindgen]` wrappers turn it into a JavaScript `Error` with `?` (`JsError: From<E>` for
//! any `std::error::Error`), whose message is the `Display` below.

use core::fmt;
use memecoin_core::address::AddressError;
use memecoin_core::encode::DecodeError;
use memecoin_core::genesis::GenesisError;
use memecoin_core::light::LightError;
use memecoin_wallet::hd::HdError;
use memecoin_wallet::units::AmountError;
use memecoin_wallet::uri::UriError;

/// Why a wallet or light-client call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A recovery phrase, seed or key path was refused.
    Hd(HdError),
    /// An address did not parse.
    Address(AddressError),
    /// A hex field is not hex; `field` names it.
    Hex { field: &'static str },
    /// Bytes did not decode as the object `field` names.
    Decode { field: &'static str, error: DecodeError },
    /// The genesis spec was refused.
    Genesis(GenesisError),
    /// The light client did not accept something a relay sent.
    Light(LightError),
    /// A header that the light client has not verified, where a verified one is needed.
    UnverifiedHeader,
    /// A phrase of another length than 12 or 24 words was asked for.
    WordCount { words: u32 },
    /// The platform's random number generator failed.
    Random,
    /// The vault blob is not a vault this version can open; `what` says why.
    VaultFormat { what: String },
    /// A passphrase longer than the vault holds (`vault::MAX_PASSPHRASE` bytes).
    PassphraseTooLong { bytes: usize, max: usize },
    /// A payment request (`meme:…`) was refused.
    Uri(UriError),
    /// The password does not open the vault (or the vault was altered: AES-GCM cannot tell).
    WrongPassword,
    /// `crypto.subtle` is missing: outside a secure context (HTTPS or localhost), browsers do
    /// not offer WebCrypto, which the vault uses.
    NoWebCrypto,
    /// A WebCrypto call failed where its arguments were valid; `step` names it.
    WebCrypto { step: &'static str },
    /// A value could not be converted to JavaScript.
    Js { what: String },
    /// A typed amount was refused.
    Amount(AmountError),
    /// No relay connection is open to ask.
    NoRelay,
    /// A relay answered with an error, went away or did not answer in time.
    Relay { url: String, reason: String },
    /// The client was closed.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hd(e) => write!(f, "{e}"),
            Self::Address(e) => write!(f, "{e}"),
            Self::Hex { field } => write!(f, "{field}: not lower-case hex"),
            Self::Decode { field, error } => write!(f, "{field}: {error}"),
            Self::Genesis(e) => write!(f, "genesis: {e}"),
            Self::Light(e) => write!(f, "{e}"),
            Self::UnverifiedHeader => f.write_str("header is not verified by this light client"),
            Self::WordCount { words } => {
                write!(f, "a new phrase has 12 or 24 words, not {words}")
            }
            Self::Random => f.write_str("the platform's random number generator failed"),
            Self::VaultFormat { what } => write!(f, "not a memecoin vault: {what}"),
            Self::PassphraseTooLong { bytes, max } => {
                write!(f, "passphrase is {bytes} bytes long, at most {max}")
            }
            Self::Uri(e) => write!(f, "{e}"),
            Self::WrongPassword => f.write_str("wrong password"),
            Self::NoWebCrypto => f.write_str(
                "WebCrypto is unavailable: serve the wallet over HTTPS or from localhost",
            ),
            Self::WebCrypto { step } => write!(f, "WebCrypto {step} failed"),
            Self::Js { what } => write!(f, "cannot convert to JavaScript: {what}"),
            Self::Amount(e) => write!(f, "{e}"),
            Self::NoRelay => f.write_str("no relay is connected"),
            Self::Relay { url, reason } => write!(f, "relay {url}: {reason}"),
            Self::Closed => f.write_str("the client is closed"),
        }
    }
}

impl std::error::Error for Error {}

impl From<HdError> for Error {
    fn from(e: HdError) -> Self {
        Self::Hd(e)
    }
}

impl From<AddressError> for Error {
    fn from(e: AddressError) -> Self {
        Self::Address(e)
    }
}

impl From<GenesisError> for Error {
    fn from(e: GenesisError) -> Self {
        Self::Genesis(e)
    }
}

impl From<AmountError> for Error {
    fn from(e: AmountError) -> Self {
        Error::Amount(e)
    }
}

impl From<UriError> for Error {
    fn from(e: UriError) -> Self {
        Self::Uri(e)
    }
}

impl From<LightError> for Error {
    fn from(e: LightError) -> Self {
        Self::Light(e)
    }
}

/// Decodes the hex field `field` into a core object: length capped by the object's `MAX_SIZE`
/// before any byte is decoded, then core's strict decoder.
pub(crate) fn decode_hex<T: memecoin_core::encode::Decode>(
    field: &'static str,
    text: &str,
) -> Result<T, Error> {
    if text.len() > T::MAX_SIZE.saturating_mul(2) {
        let error = DecodeError::TooLarge { what: T::NAME, size: text.len() / 2, max: T::MAX_SIZE };
        return Err(Error::Decode { field, error });
    }
    let bytes = hex::decode(text).map_err(|_| Error::Hex { field })?;
    T::from_bytes(&bytes).map_err(|error| Error::Decode { field, error })
}

/// Converts to a JavaScript object, every `u64` as a `BigInt` (no precision is lost).
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<wasm_bindgen::JsValue, Error> {
    let serializer = serde_wasm_bindgen::Serializer::new()
        .serialize_large_number_types_as_bigints(true)
        .serialize_maps_as_objects(true);
    value.serialize(&serializer).map_err(|e| Error::Js { what: e.to_string() })
}
