//! `cargo xtask bench`: criterion's benches of core and the relay, the wasm against JavaScript's
//! secp256k1 libraries in Node, and a devnet under load with block propagation across ten
//! relays; every figure printed as a ratio against an anchor measured in the same run.

use std::io;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::chart::relay_chart;
use crate::run::{Cmd, Failure, Outcome, Run, cargo, spawn_error};
use crate::wasm::{WebOrNode, wasm_size, wasm_web_build};
use crate::{CORE, LOAD, NODE, RELAY, target_dir};

/// The wasm bench: a Node project (package.json, package-lock.json, bench.mjs).
const WASM_BENCH: &str = "bench/wasm";

pub(crate) fn bench(run: &mut Run, quick: bool) -> Result<(), Failure> {
    let mut bench = cargo(["bench", "-p", CORE]);
    if quick {
        // Select the bench targets only: the library's own libtest harness is also a bench target
        // and would reject criterion's options.
        bench = bench.args(["--bench", "*", "--", "--quick"]);
    }
    run.exec("bench", &bench)?;
    let mut import = cargo(["bench", "-p", NODE, "--bench", "import"]);
    if quick {
        import = import.args(["--", "--quick"]);
    }
    run.exec("bench node", &import)?;
    let criterion = target_dir(&run.root).join("criterion");
    let ratios = native_ratios(&criterion);
    run.step("wasm size", wasm_size)?;
    wasm_bench(run, quick)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bound = criterion_mean_ns(&criterion, "crypto/verify").map(|t| cores * 1e9 / t);
    let load = relay_load(run, quick, bound)?;
    // The same load across hosts: the testnet of testnet/bench.toml (10 hosts in network
    // namespaces, 50 ms links, blocks of 10,000 transfers), on the image's relay. Root only.
    if crate::testnet::ensure_netns(run).is_ok() {
        let relay = crate::image::relay_binary(run)?;
        let tools = crate::testnet::LoadTools {
            load: target_dir(&run.root).join("release/memecoin-load"),
            bound,
        };
        let manifest = run.root.join("testnet/bench.toml");
        crate::testnet::testnet_with(run, &manifest, &relay, Some(&tools))?;
    } else {
        println!("testnet bench skipped: it needs root (network namespaces)");
    }
    // Checkpoint sync of a state of 10,000 accounts by a relay process (release): the time it
    // prints, against the issue's 10 s.
    let join = cargo([
        "test",
        "--release",
        "-p",
        RELAY,
        "--test",
        "checkpoint",
        "joining",
        "--",
        "--nocapture",
    ])
    .env("MEMECOIN_JOIN_ACCOUNTS", "10000");
    run.exec("checkpoint sync of 10,000 accounts", &join)?;
    print!("{ratios}");
    print!("{load}");
    Ok(())
}

/// A 4-validator devnet (`memecoin-relay devnet`, release build, in a fresh data dir on a free
/// loopback port) under `memecoin-load`, a separate process offering transfers over `/ws` at
/// rising rates. Returns the load generator's report (one JSON object per rate), which carries
/// accepted/s against `bound` (cores × k256 verify/s from this run).
fn relay_load(run: &mut Run, quick: bool, bound: Option<f64>) -> Result<String, Failure> {
    let build = cargo(["build", "--release", "-p", RELAY, "-p", LOAD, "--bins"]);
    run.exec("build relay and load generator (release)", &build)?;
    let bin = target_dir(&run.root).join("release");
    let data = target_dir(&run.root).join("bench-devnet");
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port().map_err(|e| {
        Failure::new("relay load", &Cmd::new("bind"), e.to_string(), "free a loopback port")
    })?;
    let listen = format!("127.0.0.1:{port}");
    let devnet = Cmd::new(&bin.join("memecoin-relay").display().to_string()).args([
        "devnet",
        "--validators",
        "4",
        "--listen",
        &listen,
        "--data-dir",
        &data.display().to_string(),
        // The load generator stands for many clients on one loopback address (1,000
        // subscribers, each opening its WebSocket at once): no per-address socket cap and no
        // per-address request rate.
        "--max-connections-per-ip",
        "0",
        "--max-requests-per-ip",
        "0",
    ]);
    println!("\n$ {devnet} &");
    let mut child =
        devnet
            .command(&run.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Failure::new("relay load", &devnet, spawn_error(&e), "build the relay"))?;
    let (rates, seconds, senders, subscribers, heads) = if quick {
        ("500,1000", "3", "256", "200", "3")
    } else {
        ("500,1000,2000,4000,8000", "10", "2048", "1000", "10")
    };
    let mut load = Cmd::new(&bin.join("memecoin-load").display().to_string()).args([
        "--url",
        &format!("ws://{listen}/ws"),
        "--rates",
        rates,
        "--seconds",
        seconds,
        "--senders",
        senders,
        "--subscribers",
        subscribers,
        "--heads",
        heads,
    ]);
    if let Some(bound) = bound {
        load = load.args(["--bound", &format!("{bound:.0}")]);
    }
    let started = Instant::now();
    // The devnet needs a moment to listen; the load generator connects on its first try.
    while std::net::TcpStream::connect(&listen).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err(Failure::new(
                "relay load",
                &devnet,
                "not listening after 30 s".into(),
                "see `memecoin-relay devnet`",
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("$ {load}");
    let output = load.command(&run.root).stderr(Stdio::inherit()).output();
    // Then, with the load over, block propagation across ten relays (the devnet and nine plain
    // ones), twice: a random mesh (each started with one peer picked among the relays before it,
    // a fixed pseudo-random pick so runs compare; peer exchange adds links), then a line (each
    // dials only the one before it, `--no-peer-exchange`). `memecoin-load --propagation` times
    // new blocks from the first relay to each.
    let genesis = data.join("genesis.json");
    let mut propagation = String::new();
    match http_get(&listen, "/api/genesis").and_then(|body| std::fs::write(&genesis, body)) {
        Err(e) => propagation.push_str(&format!("propagation skipped: no genesis: {e}\n")),
        Ok(()) => {
            for line in [false, true] {
                let shape = if line { "a line" } else { "a random mesh" };
                let relays = spawn_relays(run, &bin, &genesis, &data, &listen, line);
                let synced = relays.as_ref().map_err(String::clone).and_then(|(_, urls)| {
                    // The new relays sync the whole chain the load left (every transfer verified
                    // again): time new blocks only once each has caught up.
                    wait_synced(&listen, urls)
                });
                let report = match (&relays, &synced) {
                    (Ok((_, urls)), Ok(caught_up)) => {
                        println!("{shape}: all relays caught up in {caught_up:.1?}");
                        let timing = Cmd::new(&bin.join("memecoin-load").display().to_string())
                            .args(["--url", &urls[0], "--rates", "0", "--heads", heads])
                            .args(["--propagation", &urls.join(",")]);
                        println!("$ {timing}");
                        timing
                            .command(&run.root)
                            .stderr(Stdio::inherit())
                            .output()
                            .ok()
                            .filter(|o| o.status.success())
                            .map_or_else(
                                || "memecoin-load failed (see above)\n".to_owned(),
                                |o| String::from_utf8_lossy(&o.stdout).into_owned(),
                            )
                    }
                    (Err(e), _) => format!("skipped: could not start the relays: {e}\n"),
                    (_, Err(e)) => format!("skipped: {e}\n"),
                };
                propagation.push_str(&format!(
                    "Block propagation across {shape} of 10 relays (target p99 <= 100 ms):\n{report}"
                ));
                for mut relay in relays.map(|(children, _)| children).unwrap_or_default() {
                    let _ = relay.kill();
                    let _ = relay.wait();
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let output = output
        .map_err(|e| Failure::new("relay load", &load, spawn_error(&e), "build the relay"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    run.steps.push((
        "relay load".into(),
        if output.status.success() { Outcome::Passed } else { Outcome::Failed },
        started.elapsed(),
    ));
    if !output.status.success() {
        return Err(Failure::new(
            "relay load",
            &load,
            format!("{}", output.status),
            "see its output above",
        ));
    }
    let chart = relay_chart(run, &stdout, quick)?;
    Ok(format!(
        "\nRelay under load (4-validator devnet, memecoin-load over /ws; ratio = accepted/s ÷ cores × verify/s, target >= 0.7):\n{stdout}\nChart of throughput and latency against offered load: {}\n{propagation}",
        chart.display()
    ))
}

/// Waits until every relay of `urls` (`ws://addr/ws`) has a head at least as high as the
/// devnet's (at `devnet`) when the wait began; how long that took. Gives up after 10 minutes.
fn wait_synced(devnet: &str, urls: &[String]) -> Result<Duration, String> {
    fn height(addr: &str) -> Option<u64> {
        let body = http_get(addr, "/api/head").ok()?;
        serde_json::from_str::<serde_json::Value>(&body).ok()?["height"].as_u64()
    }
    let target = height(devnet).ok_or("the devnet has no head")?;
    let started = Instant::now();
    for url in urls {
        let addr = url.trim_start_matches("ws://").trim_end_matches("/ws");
        while height(addr).is_none_or(|h| h < target) {
            if started.elapsed() > Duration::from_secs(600) {
                return Err(format!("{url} not at height {target} after 10 minutes"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(started.elapsed())
}

/// Nine `memecoin-relay run` processes (release build) next to the devnet at `devnet`, each in
/// its own data dir under `data` and on a free loopback port, each started with one peer among
/// the relays before it: a pseudo-random one (`line == false`; peer exchange then adds links),
/// or the one just before it with `--no-peer-exchange` (`line == true`: a line of ten). Returns
/// the children and every relay's `/ws` URL, the devnet's first.
fn spawn_relays(
    run: &Run,
    bin: &Path,
    genesis: &Path,
    data: &Path,
    devnet: &str,
    line: bool,
) -> Result<(Vec<std::process::Child>, Vec<String>), String> {
    let mut children = Vec::new();
    let mut urls = vec![format!("ws://{devnet}/ws")];
    let shape = if line { "line" } else { "mesh" };
    for i in 1..10usize {
        let started = free_port().map_err(|e| e.to_string()).and_then(|port| {
            let addr = format!("127.0.0.1:{port}");
            let peer = if line { urls[i - 1].clone() } else { urls[(i * 7 + 3) % i].clone() };
            let dir = data.join(format!("{shape}-{i}"));
            let mut relay = Cmd::new(&bin.join("memecoin-relay").display().to_string()).args([
                "run",
                "--genesis",
                &genesis.display().to_string(),
                "--data-dir",
                &dir.display().to_string(),
                "--listen",
                &addr,
                "--peer",
                &peer,
            ]);
            if line {
                relay = relay.args(["--no-peer-exchange"]);
            }
            let child = relay
                .command(&run.root)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| spawn_error(&e))?;
            children.push(child);
            let waiting = Instant::now();
            while std::net::TcpStream::connect(&addr).is_err() {
                if waiting.elapsed() > Duration::from_secs(30) {
                    return Err(format!("relay {i} not listening"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(format!("ws://{addr}/ws"))
        });
        match started {
            Ok(url) => urls.push(url),
            Err(e) => {
                for mut child in children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(e);
            }
        }
    }
    Ok((children, urls))
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port())
}

/// A minimal HTTP/1.1 GET on loopback; the body.
pub(crate) fn http_get(addr: &str, path: &str) -> io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") || head.to_ascii_lowercase().contains("chunked") {
        return Err(io::Error::other(format!("GET {path}: {}", head.lines().next().unwrap_or(""))));
    }
    Ok(body.to_owned())
}

/// Mean time per iteration, in nanoseconds, of the criterion benchmark `id` (its path under
/// `target/criterion`, e.g. `crypto/verify`), from the run that just finished.
fn criterion_mean_ns(criterion: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(criterion.join(id).join("new/estimates.json")).ok()?;
    parse_mean_ns(&text)
}

/// `mean.point_estimate` of criterion's `estimates.json`, read as JSON: a search of the text
/// would take whatever `point_estimate` followed the first `"mean"`, and miss one after a space.
fn parse_mean_ns(estimates: &str) -> Option<f64> {
    let estimates: serde_json::Value = serde_json::from_str(estimates).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

/// The native figures as ratios against the anchors measured in the same run (ISSUE: anchors,
/// not absolute times: these machines are noisy). Missing figures print as `-`.
fn native_ratios(criterion: &Path) -> String {
    let ns = |id: &str| criterion_mean_ns(criterion, id);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // Signatures per second on one core: the bound that block validation is measured against.
    let verify_per_s = ns("crypto/verify").map(|t| 1e9 / t);
    let per_s = |id: &str, n: f64| ns(id).map(|t| n * 1e9 / t);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };
    let rate = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut row = |figure: &str, value: String, anchor: &str, ratio: String, target: &str| {
        rows.push([figure.into(), value, anchor.into(), ratio, target.into()]);
    };
    let lib_verify = ns("libsecp256k1/verify").map(|t| 1e9 / t);
    let lib_sign = ns("libsecp256k1/sign").map(|t| 1e9 / t);
    let k256_sign = ns("crypto/sign").map(|t| 1e9 / t);
    row(
        "k256 verify/s",
        rate(verify_per_s),
        "libsecp256k1 verify/s",
        ratio(verify_per_s, lib_verify),
        "",
    );
    row("k256 sign/s", rate(k256_sign), "libsecp256k1 sign/s", ratio(k256_sign, lib_sign), "");
    let one_core = per_s("block_apply/verified/1000", 1000.0);
    row(
        "block validation tx/s, 1 core",
        rate(one_core),
        "1 × verify/s",
        ratio(one_core, verify_per_s),
        ">= 0.85",
    );
    let bound = verify_per_s.map(|v| v * cores);
    let all_cores = per_s("block_import/parallel/1000", 1000.0);
    row(
        &format!("block validation tx/s, {cores} cores"),
        rate(all_cores),
        "cores × verify/s",
        ratio(all_cores, bound),
        ">= 0.85",
    );
    let cached = per_s("block_import/cached/1000", 1000.0);
    row(
        "block import tx/s, signatures cached",
        rate(cached),
        "cores × verify/s",
        ratio(cached, bound),
        ">= 5",
    );
    for size in ["10000", "100000", "1000000"] {
        let one = ns(&format!("tree_update/1_of/{size}")).map(|t| t / 1000.0);
        let hundred = ns(&format!("tree_update/100_of/{size}")).map(|t| t / 100_000.0);
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} µs"));
        row(
            &format!("state update per account, {size} accounts (1 / 100 updated)"),
            format!("{} / {}", fmt(one), fmt(hundred)),
            "",
            String::new(),
            "",
        );
    }
    // The unbonding queue's cost must not grow with it: each figure with 10^6 payouts pending
    // against the same figure with none.
    for what in ["build_block", "apply_block", "check_tx", "account_proof"] {
        let empty = ns(&format!("unbonding_queue/{what}/0"));
        let full = ns(&format!("unbonding_queue/{what}/1000000"));
        let us = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1} µs", v / 1000.0));
        row(
            &format!("{what} (one unstake), 10^6 payouts queued"),
            us(full),
            &format!("empty queue: {}", us(empty)),
            ratio(full, empty),
            "<= 1.5",
        );
    }
    let block_bytes = ns("encode/block").zip(ns("decode/block"));
    row(
        "block encode / decode (1,000 txs)",
        block_bytes
            .map_or("-".into(), |(e, d)| format!("{:.0} µs / {:.0} µs", e / 1000.0, d / 1000.0)),
        "",
        String::new(),
        "",
    );
    let mut out = String::from("\nNative figures, ratios against anchors measured in this run:\n");
    out.push_str(&format!(
        "{:<62} {:>14}  {:<22} {:>6}  {}\n",
        "figure", "value", "anchor", "ratio", "target"
    ));
    for [figure, value, anchor, ratio, target] in rows {
        out.push_str(&format!("{figure:<62} {value:>14}  {anchor:<22} {ratio:>6}  {target}\n"));
    }
    out
}

/// Times ECDSA sign and verify in one Node process: our wasm (the served build, [`wasm_web_build`]
/// with `--target nodejs`, into `target/wasm-bench/`), @noble/curves and tiny-secp256k1 at the versions in
/// `bench/wasm/package-lock.json` (installed with `npm ci` if `node_modules` is missing).
fn wasm_bench(run: &mut Run, quick: bool) -> Result<(), Failure> {
    let dir = run.root.join(WASM_BENCH);
    if !dir.join("node_modules").exists() {
        let ci = Cmd::new("npm").args(["ci", "--prefix", WASM_BENCH, "--no-audit", "--no-fund"]);
        run.exec_with_hint(
            "npm ci (bench/wasm)",
            &ci,
            "install Node.js 20 or later with npm (e.g. Debian's `nodejs` and `npm` packages); \
             the wasm bench needs npm to install @noble/curves and tiny-secp256k1",
        )?;
    }
    let out = target_dir(&run.root).join("wasm-bench");
    wasm_web_build(run, &out, WebOrNode::Node)?;
    let mut node = Cmd::new("node").args([
        format!("{WASM_BENCH}/bench.mjs"),
        "--pkg".into(),
        out.display().to_string(),
    ]);
    if quick {
        node = node.args(["--quick"]);
    }
    run.exec_with_hint("wasm bench", &node, "install Node.js 20 or later")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_estimates_give_the_mean() {
        let text = r#"{"mean":{"confidence_interval":{"lower_bound":47360.1,"upper_bound":51275.3},"point_estimate":49283.8,"standard_error":997.4},"median":{"point_estimate":1.0}}"#;
        assert_eq!(parse_mean_ns(text), Some(49283.8));
        assert_eq!(parse_mean_ns(r#"{"mean":{"point_estimate":2.5e4}}"#), Some(25000.0));
        assert_eq!(parse_mean_ns("{}"), None);
        assert_eq!(parse_mean_ns("not json"), None);
        // What a search of the text got wrong: spaces and newlines between the tokens, a `mean`
        // nested in another estimate before the top-level one, a `mean` without an estimate.
        let pretty = "{\n  \"mean\": {\n    \"point_estimate\": 49283.8\n  }\n}";
        assert_eq!(parse_mean_ns(pretty), Some(49283.8));
        let nested = r#"{"slope":{"mean":{"point_estimate":1.0}},"mean":{"point_estimate":2.0}}"#;
        assert_eq!(parse_mean_ns(nested), Some(2.0));
        let no_mean = r#"{"mean":null,"median":{"point_estimate":1.0}}"#;
        assert_eq!(parse_mean_ns(no_mean), None);
    }
}
