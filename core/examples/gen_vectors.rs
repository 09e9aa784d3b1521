//! Writes `core/tests/vectors/protocol.json`. Run with `cargo xtask vectors`.

#[path = "../tests/support/vectors.rs"]
mod vectors;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/protocol.json");
    let text = serde_json::to_string_pretty(&vectors::generate()).unwrap_or_default() + "\n";
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
    println!("wrote {path}");
}
