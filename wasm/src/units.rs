//! Amounts in whole coins for people, base units for the chain: core's `units`, exactly (integers
//! and `BigInt` only, never floating point).

use crate::error::Error;
use memecoin_wallet::units;
use wasm_bindgen::prelude::*;

/// The coin's ticker, `"MEME"`.
#[wasm_bindgen]
pub fn ticker() -> String {
    units::TICKER.to_owned()
}

/// Decimal places of one coin (9): 1 MEME = 10^9 base units.
#[wasm_bindgen]
pub fn decimals() -> u32 {
    units::DECIMALS
}

/// Parses an amount typed in whole coins (`"1.5"`) into base units. Throws with the reason, e.g.
/// `too many decimals: MEME has 9` or `amount is too large`.
#[wasm_bindgen]
pub fn parse_amount(text: &str) -> Result<u64, JsError> {
    Ok(units::parse_amount(text).map_err(Error::from)?)
}

/// Formats base units as whole coins, without trailing zeros (`1500000000n` → `"1.5"`).
#[wasm_bindgen]
pub fn format_amount(base_units: u64) -> String {
    units::format_amount(base_units)
}
