//! The wasm suite under Node.js: `wasm-pack test --node wasm`.
#![cfg(target_arch = "wasm32")]

mod suite;
