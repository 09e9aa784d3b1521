//! The npm package `@memecoin/client` (`client/`) as a developer gets it: packed with `npm pack`,
//! installed from that tarball into a copy of `examples/pay/`, and run against real relays (a
//! validator, a follower, and a relay that forges balances) —
//!
//! 1. the provider suite (`tests/js/package/provider.mjs`) in Node.js: reads, refusals with
//!    their EIP-1193 codes, transfers signed in the process and followed until proven final,
//!    the forging relay caught, resuming from a checkpoint;
//! 2. the same suite in Chromium, then the example's web page showing a verified balance
//!    (`tests/e2e/package.mjs`; screenshot in `test-output/e2e/package-example.png`);
//! 3. the example's Node.js program (`examples/pay/pay.mjs`) paying, its output checked and the
//!    payment read back from a relay's own API.
//!
//! Its TypeScript declarations are checked first: `tests/js/package/types.ts` compiled with
//! `tsc --strict` against the installed package.
//!
//! Needs the package's wasm (`cargo xtask client`, which `cargo xtask test` runs), npm,
//! Node.js 20 or newer, playwright-core and typescript in `tests/e2e/node_modules` and Chromium.

use memecoin_core::address::Address;
use memecoin_node::keys;
use memecoin_tests::liar::{self, Lie};
use memecoin_tests::{genesis, http, node_command, start, wait_for, workspace_root};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Runs `cmd` to the end within `secs`, failing the test with its output if it fails.
async fn run(what: &str, cmd: &mut Command, secs: u64) -> String {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(secs), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {secs} s"))
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout
}

/// A fresh address nobody holds a key to (its balance starts at 0).
fn fresh(byte: u8) -> String {
    Address([byte; 20]).to_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_package_installs_from_its_tarball_and_works_in_node_and_chromium() {
    let root = workspace_root();
    for needed in [
        root.join("client/pkg/memecoin_wasm_bg.wasm"),
        root.join("tests/e2e/node_modules/playwright-core"),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: build the package with `cargo xtask client` (cargo xtask test does)",
            needed.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();

    // The tarball, as `npm publish` would upload it, installed into a copy of the example.
    let packed = run(
        "npm pack",
        Command::new("npm")
            .arg("pack")
            .arg(root.join("client"))
            .arg("--pack-destination")
            .arg(dir.path())
            .arg("--json"),
        120,
    )
    .await;
    let packed: Value = serde_json::from_str(&packed).expect("npm pack --json");
    let tarball = dir.path().join(packed[0]["filename"].as_str().expect("the tarball's name"));
    let files: Vec<&str> =
        packed[0]["files"].as_array().unwrap().iter().filter_map(|f| f["path"].as_str()).collect();
    for file in ["index.js", "index.d.ts", "README.md", "pkg/memecoin_wasm_bg.wasm"] {
        assert!(files.contains(&file), "the tarball lacks {file}: {files:?}");
    }
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    for entry in std::fs::read_dir(root.join("examples/pay")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), app.join(entry.file_name())).unwrap();
        }
    }
    run(
        "npm install <tarball>",
        Command::new("npm")
            .current_dir(&app)
            .args(["install", "--offline", "--no-audit", "--no-fund"])
            .arg(&tarball),
        120,
    )
    .await;

    // The types a TypeScript program gets from the installed package check what the README
    // shows and refuse what the provider refuses (`@ts-expect-error` lines fail if accepted).
    std::fs::copy(root.join("tests/js/package/types.ts"), app.join("types.ts")).unwrap();
    run(
        "tsc --strict on the installed package's types",
        Command::new("node")
            .current_dir(&app)
            .arg(root.join("tests/e2e/node_modules/typescript/bin/tsc"))
            .args(["--strict", "--noEmit", "--target", "es2022", "--lib", "esnext,dom"])
            .args(["--module", "nodenext"])
            .args(["--moduleResolution", "nodenext", "--skipLibCheck", "false", "types.ts"]),
        120,
    )
    .await;

    let g = genesis(1, 250);
    let genesis_file = app.join("genesis.json");
    std::fs::write(&genesis_file, g.to_json()).unwrap();
    let a =
        start(&g, &dir.path().join("a"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let b = start(&g, &dir.path().join("b"), None, vec![a.url()]).await;
    wait_for("finality", 60, || async { (a.head().await.1 >= 2).then_some(()) }).await;
    let liar = liar::start(b.url(), Lie::Balance).await;
    let dev = keys::devnet_dev_key().unwrap();
    let dev_address = Address::from_public_key(&dev.public_key()).to_text();
    let setup = |to: &str| {
        json!({
            "relays": [a.url(), b.url()],
            "liar": liar.url(),
            "chainId": g.chain_id().to_hex(),
            "minFee": g.params.min_fee.to_string(),
            "phrase": keys::DEVNET_PHRASE,
            "dev": dev_address,
            "to": to,
        })
    };

    // 1. Node.js.
    let mut node_setup = setup(&fresh(0x51));
    node_setup["app"] = json!(app);
    node_setup["genesisFile"] = json!(genesis_file);
    let out = run(
        "the provider suite in Node.js",
        node_command().arg(root.join("tests/js/package/node.mjs")).arg(node_setup.to_string()),
        300,
    )
    .await;
    assert!(out.contains("\"done\""), "the Node.js suite ends with its report:\n{out}");
    println!("node suite: {}", out.trim());

    // 2. Chromium: the suite, then the example page.
    let out = run(
        "the package in Chromium (tests/e2e/package.mjs)",
        Command::new("node")
            .arg(root.join("tests/e2e/package.mjs"))
            .env("APP_DIR", &app)
            .env("SETUP", setup(&fresh(0x52)).to_string())
            .env("EXPECT", "2 MEME")
            .env("OUT_DIR", root.join("test-output/e2e")),
        400,
    )
    .await;
    assert!(out.contains("package e2e: 2 passed"), "{out}");
    println!("{}", out.trim());

    // 3. The example's program pays 2.5 MEME.
    let to = fresh(0x53);
    let out = run(
        "examples/pay/pay.mjs",
        node_command()
            .current_dir(&app)
            .arg("pay.mjs")
            .args(["--genesis", "genesis.json", "--relay", &a.url(), "--relay", &b.url()])
            .args(["--to", &to, "--amount", "2.5"])
            .env("MEMECOIN_PHRASE", keys::DEVNET_PHRASE),
        180,
    )
    .await;
    println!("{}", out.trim());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("from {dev_address}: ")), "{out}");
    assert!(lines[1].starts_with("sent ") && lines[1].len() == 5 + 64, "{out}");
    assert!(lines[2].starts_with("finalized in block "), "{out}");
    assert!(lines[4].starts_with(&format!("{to}: 2.5 MEME, proven at block ")), "{out}");
    // What the program says matches the relay's own account of it.
    let (status, body) = http(b.handle.addr, "GET", &format!("/api/accounts/{to}"), None).await;
    assert_eq!(status, 200, "{body}");
    let account: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(account["balance"], "2500000000", "{body}");
}
