//! `memecoin-load`: see the library's documentation (`bench/load/src/lib.rs`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    memecoin_load::run(memecoin_load::Cli::parse()).await
}
