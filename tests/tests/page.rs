//! The wallet page (`www/`) end to end in real headless Chromium: a devnet relay (one validator,
//! a faucet) serves the built page with the chain spec next to it, two lying relays stand in
//! front of it, and `tests/e2e/wallet.mjs` (playwright-core driving Debian's Chromium) creates a
//! wallet, imports a second, funds the first from the faucet, sends to the second until the
//! transfer is finalized and both verified balances moved by the right amounts, stakes and
//! unstakes part (shown unbonding), reloads
//! and unlocks (a wrong password refused), and sees the page refuse a forged balance and a
//! forged certificate; imports with a BIP-39 passphrase (another address, kept in the vault),
//! unlocks a version-1 vault, adds and renames a second account, pays its `meme:` request from
//! the first, sends from it (the relay counts it on account index 1's nonce) to a contact named
//! in the send form and Activity, and watches an address (verified balance, Send off). Any
//! console error fails it. Screenshots go to `test-output/e2e/`.
//! The page's modules that touch neither the DOM nor the wasm are unit-tested in Node first
//! (`tests/js/wallet/`).
//!
//! Needs the page built (`cargo xtask page`: the release wasm in `www/pkg`, the QR module in
//! `www/vendor`, playwright-core in `tests/e2e/node_modules`), Node.js and Chromium;
//! `cargo xtask test` provides all of them before it runs the tests.

use memecoin_core::address::Address;
use memecoin_node::keys;
use memecoin_relay::Config;
use memecoin_relay::faucet::FaucetConfig;
use memecoin_tests::liar::{self, Lie};
use memecoin_tests::{config, genesis, launch, start, workspace_root};
use memecoin_wallet::hd;
use memecoin_wallet::units::format_amount;
use std::path::Path;
use std::time::Duration;

/// A BIP-39 test phrase (valid checksum) for the imported wallet.
const PHRASE_B: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// An amount as the page shows it: core's text with the whole part grouped by thousands.
fn grouped(units: u64) -> String {
    let text = format_amount(units);
    let (whole, frac) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    frac.map_or(out.clone(), |f| format!("{out}.{f}"))
}

/// Copies the built page (without its npm folder and manifests) into `to`, keeping modification
/// times, by which the relay tells a fresh `.gz` from a stale one.
fn copy_page(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "node_modules" || name.starts_with("package") || name == "genesis.json" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_page(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(to.join(&name))
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

/// `GET path` with an optional `Accept-Encoding`: (status, body length, Content-Encoding).
async fn get_raw(
    addr: std::net::SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> (u16, usize, Option<String>) {
    let (status, len, encoding, _) = get_with_head(addr, path, accept).await;
    (status, len, encoding)
}

/// As [`get_raw`], with the response's header block (lower case).
async fn get_with_head(
    addr: std::net::SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> (u16, usize, Option<String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let accept = accept.map(|a| format!("Accept-Encoding: {a}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block") + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let encoding = head
        .lines()
        .find_map(|l| l.strip_prefix("content-encoding:"))
        .map(|v| v.trim().to_string());
    (status, raw.len() - split, encoding, head)
}

/// The page's modules that are not DOM (`www/js/` format, records, verified, warnings, relays),
/// each rule of what the page shows and keeps, under Node's test runner.
#[test]
fn page_modules_in_node() {
    // Files named one by one: Node versions differ on what a directory argument means.
    let dir = workspace_root().join("tests/js/wallet");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "no unit tests in {}", dir.display());
    let status = std::process::Command::new("node")
        .arg("--test")
        .args(&files)
        .current_dir(workspace_root())
        .status()
        .expect("node runs (Node.js is installed)");
    assert!(status.success(), "tests/js/wallet/ failed ({status})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_page_in_chromium() {
    let root = workspace_root();
    let www = root.join("www");
    for needed in [
        www.join("pkg/memecoin_wasm_bg.wasm"),
        www.join("vendor/uqr.js"),
        root.join("tests/e2e/node_modules/playwright-core"),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: build the wallet page with `cargo xtask page` (cargo xtask test does)",
            needed.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("www");
    copy_page(&www, &site);
    let mut g = genesis(1, 500);
    // 20 epochs of 4 s: an unstake stays unbonding for the rest of the test (the page shows it,
    // and the balances checked after it do not move under the test's feet).
    g.params.unbonding_epochs = 20;
    std::fs::write(site.join("genesis.json"), g.to_json()).unwrap();

    let faucet = FaucetConfig::devnet(keys::devnet_dev_key().unwrap());
    let amount = faucet.amount;
    let relay = launch(Config {
        www: Some(site.clone()),
        faucet: Some(faucet),
        ..config(&g, &dir.path().join("v0"), Some(keys::devnet_validator(0).unwrap()), vec![])
    })
    .await
    .unwrap();
    // The wasm goes out gzipped to a browser that accepts it, as is to one that does not.
    let wasm = "/pkg/memecoin_wasm_bg.wasm";
    let (status, plain_len, plain_encoding) = get_raw(relay.handle.addr, wasm, None).await;
    let (status_gz, gz_len, gz_encoding) = get_raw(relay.handle.addr, wasm, Some("gzip")).await;
    assert_eq!((status, status_gz), (200, 200));
    assert_eq!((plain_encoding, gz_encoding.as_deref()), (None, Some("gzip")));
    assert!(gz_len < plain_len / 2, "gzip {gz_len} vs {plain_len}");
    // Every file of the page comes with the headers that keep it to its own code
    // and out of frames; the browser run below fails on any CSP violation (a console error).
    for path in ["/", "/app.js", wasm] {
        let (_, _, _, head) = get_with_head(relay.handle.addr, path, None).await;
        for (name, value) in memecoin_relay::http::page_headers() {
            let line = format!("{name}: {}", value.to_str().unwrap().to_ascii_lowercase());
            assert!(head.contains(&line), "{path} lacks `{line}`:\n{head}");
        }
    }

    let balance_liar = liar::start(relay.url(), Lie::Balance).await;
    let cert_liar = liar::start(relay.url(), Lie::Certificate).await;
    // The devnet's one validator proposes every slot: a relay holding its key can sign any
    // head (on the devnet the validator keys are public).
    let proposer = keys::devnet_validator(0).unwrap().key;
    let head = |tall| Lie::HeadBalance { key: proposer.clone(), chain_id: g.chain_id(), tall };
    let head_liar = liar::start(relay.url(), head(false)).await;
    let tall_liar = liar::start(relay.url(), head(true)).await;
    let swallow_liar = liar::start(relay.url(), Lie::Swallow).await;
    let stale_liar = liar::start(relay.url(), Lie::Stale).await;
    let fork_liar = liar::start(relay.url(), Lie::Fork(proposer.clone(), g.chain_id())).await;
    // A relay of another chain: the page must say why it does not use it.
    let mut other = genesis(1, 500);
    other.chain_name = "another-devnet".into();
    let elsewhere = start(&other, &dir.path().join("other"), None, vec![]).await;

    let phrase = hd::parse_phrase(PHRASE_B).unwrap();
    let key_b = hd::wallet_key(&hd::seed_from_phrase(&phrase, ""), 0, 0).unwrap();
    let address_b = Address::from_public_key(&key_b.public_key()).to_text();
    // B's second account (index 1), and B's first account under the passphrase "TREZOR": each
    // another address, as core derives it.
    let key_b1 = hd::wallet_key(&hd::seed_from_phrase(&phrase, ""), 1, 0).unwrap();
    let address_b1 = Address::from_public_key(&key_b1.public_key()).to_text();
    let key_bp = hd::wallet_key(&hd::seed_from_phrase(&phrase, "TREZOR"), 0, 0).unwrap();
    let address_bp = Address::from_public_key(&key_bp.public_key()).to_text();
    let fee = g.params.min_fee;
    let after_send = amount - 12_500_000_000 - fee;
    let after_stake = after_send - 2_000_000_000 - fee;
    let after_unstake = after_stake - fee;
    let out = root.join("test-output/e2e");

    // The static bundle of this page, pinned to this chain and relay (as `cargo xtask wallet`
    // makes it), served by the browser test from a plain static host.
    let bundle = dir.path().join("bundle");
    let status = tokio::process::Command::new("node")
        .arg(root.join("tools/wallet/bundle.mjs"))
        .args(["--www".as_ref(), site.as_os_str()])
        .args(["--genesis".as_ref(), site.join("genesis.json").as_os_str()])
        .args(["--out".as_ref(), bundle.as_os_str()])
        .args(["--relay", &relay.url()])
        .status()
        .await
        .expect("node runs");
    assert!(status.success(), "tools/wallet/bundle.mjs failed");

    let mut driver = tokio::process::Command::new("node");
    driver
        .arg(root.join("tests/e2e/wallet.mjs"))
        .env("BASE_URL", format!("http://{}/", relay.handle.addr))
        .env("LIAR_BALANCE", balance_liar.url())
        .env("LIAR_CERT", cert_liar.url())
        .env("LIAR_HEAD", head_liar.url())
        .env("LIAR_HEAD_TALL", tall_liar.url())
        .env("LIAR_SWALLOW", swallow_liar.url())
        .env("LIAR_STALE", stale_liar.url())
        .env("LIAR_FORK", fork_liar.url())
        .env("OTHER_CHAIN", elsewhere.url())
        .env("BUNDLE_DIR", &bundle)
        .env("PHRASE_B", PHRASE_B)
        .env("ADDRESS_B", &address_b)
        .env("ADDRESS_B_1", &address_b1)
        .env("ADDRESS_B_TREZOR", &address_bp)
        .env("FAUCET_AMOUNT", grouped(amount))
        .env("TRANSFER_FEE", format_amount(fee))
        .env("AFTER_SEND", grouped(after_send))
        .env("AFTER_STAKE", grouped(after_stake))
        .env("AFTER_UNSTAKE", grouped(after_unstake))
        .env("OUT_DIR", &out)
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(600), driver.status())
        .await
        .expect("the browser test finished within 10 minutes")
        .expect("node runs (Node.js is installed)");
    assert!(
        status.success(),
        "the browser test failed ({status}); screenshots in {}",
        out.display()
    );
    drop((balance_liar, cert_liar, head_liar, tall_liar, swallow_liar, stale_liar, fork_liar));
    elsewhere.stop().await;
    relay.stop().await;
}
