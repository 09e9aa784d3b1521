//! memecoin's browser wallet and light validator, compiled to WebAssembly.
//!
//! memecoin's wallet trusts no server: it holds the keys, signs transactions itself, and checks
//! every balance a relay reports against a finality certificate signed by more than 2/3 of the
//! stake, with a Merkle proof of the account. All of that is `memecoin-core`; this crate only
//! binds it to JavaScript with `wasm-bindgen` and adds what core leaves to its shell:
//! randomness (`crypto.getRandomValues`, through `getrandom`) and the password vault.
//!
//! - [`wallet`]: recovery phrases (BIP-39), wallet keys at `m/44'/7337'/{account}'/0'/{index}'`,
//!   addresses (`meme1…`).
//! - `vault` (wasm32 only: it runs on WebCrypto): a recovery phrase encrypted under a password
//!   (PBKDF2-HMAC-SHA256, 600 000 iterations, AES-256-GCM), as a versioned JSON blob for
//!   `localStorage`.
//! - [`sign`]: signed transfer, stake and unstake transactions, byte for byte what core signs.
//! - [`light`]: [`light::LightClient`], which follows finality from genesis (or a saved
//!   checkpoint) and verifies account and inclusion proofs.
//! - [`client`]: [`client::Client`], WebSocket connections to relays with reconnect and backoff,
//!   reporting only what the light client verified, and which relay lied or disagreed.
//! - [`units`]: amounts in whole `MEME` (9 decimals), converted exactly.
//! - [`crypto`]: bare ECDSA verify and sign of a 32-byte digest, on `Uint8Array`s.
//!
//! Conventions at the JavaScript boundary: every byte string is lower-case hex (except in
//! [`crypto`], which takes `Uint8Array`s); every `u64`
//! (amounts, nonces, fees, heights, slots) is a `BigInt`; every failure is a thrown `Error` whose
//! message is core's reason (for example `address checksum is wrong (typo?)`), never a panic.
//! Each binding is a thin wrapper over a plain Rust function that returns [`Error`], so the same
//! logic is tested natively and in the browser.

pub mod client;
pub mod crypto;
pub mod error;
pub mod json;
pub mod light;
pub mod sign;
pub mod units;
#[cfg(target_arch = "wasm32")]
pub mod vault;
pub mod wallet;

pub use error::Error;

/// The allocator in the `.wasm`: talc instead of Rust's default dlmalloc, a few KB smaller (the
/// served file has a size budget; BENCHMARKS.md "WebAssembly"). The page is single-threaded.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
