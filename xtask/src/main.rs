//! The workspace's automation, in Rust rather than shell (matklad's "cargo xtask" pattern), so that
//! CI and every developer machine run the same steps in the same order.
//!
//! Run it through the alias in `.cargo/config.toml`: `cargo xtask <task>`. It works from any
//! directory inside the repository, because it locates the workspace root from its own manifest.
//!
//! The tasks spawn `cargo`, `rustup`, `wasm-pack`, `wasm-bindgen`, `npm` and `node`; their one dependency is
//! `flate2`, to gzip the wasm as a web server would (`wasm_size`). When the
//! toolchain lacks something a task needs (the `rustfmt` or `clippy` components, a no_std target),
//! the task installs it with `rustup`, or stops and says what to install.
//!
//! Code map: `flags` reads the command line; `run` spawns commands and keeps the log of
//! steps; `tools` installs what the tasks need; `checks` holds the checks that no tool does;
//! `wasm`, `fuzz`, `bench`, `chart` and `image` (the container image) are the larger tasks. The `test` sequence and the
//! small tasks, which mostly run one command, stay here.

mod bench;
mod chart;
mod checks;
mod flags;
mod fuzz;
mod image;
mod run;
mod soak;
mod testnet;
mod tools;
mod wasm;

use std::env;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::bench::bench;
use crate::checks::{check_rust_version, module_cycles};
use crate::flags::{Task, USAGE, UsageError, parse_args};
use crate::fuzz::{FUZZ_SMOKE_SECONDS, FUZZ_TARGETS, FuzzBuild, fuzz};
use crate::run::{Cmd, Failure, Run, cargo};
use crate::tools::{
    ensure_chromium, ensure_components, ensure_targets, ensure_wasm_bindgen, ensure_wasm_pack,
};
use crate::wasm::{WWW, check_wasm_size, client, page, wasm, wasm_tests};

/// Targets without `std` that `memecoin-core` must build for. `thumbv7m-none-eabi` has no `std` at
/// all, so it proves the no_std claim; wasm32 is the browser wallet's target.
/// `cargo xtask test`'s soak: 150 blocks of 100 ms, sampled every 2 s, no chart.
const SOAK_CI: soak::Soak = soak::Soak {
    blocks: 150,
    validators: 4,
    slot_ms: 100,
    rate: 20,
    every: 2,
    pruning: None,
    quick: true,
};

const NO_STD_TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "thumbv7m-none-eabi"];

/// The protocol crate, whose benches are run; built without `std` with [`WALLET`].
const CORE: &str = "memecoin-core";
/// The wallet's rules (BIP-39/32, amounts), `no_std` like core.
const WALLET: &str = "memecoin-wallet";
/// The node without I/O: its import bench is run.
const NODE: &str = "memecoin-node";
/// The load generator of `cargo xtask bench`.
const LOAD: &str = "memecoin-load";

/// The relay, whose block-import bench (signature cache, parallel verification) runs with core's.
const RELAY: &str = "memecoin-relay";

/// The consensus simulation (sim/), and how many seeds `cargo xtask test` runs of it.
const SIM: &str = "memecoin-sim";
const SIM_CI_SEEDS: &str = "120";

/// And its long-mode smoke (`--long`, shortened): two seeds whose plan (`memecoin-sim --plan
/// --long --slots 6000`) holds a stall of more than 1/3 of the stake beyond 4,096 slots, a
/// 32-reveal hash chain and the joiner's stake/unstake/re-registration churn (seed 19 also
/// two orphan spammers).
const SIM_CI_LONG: [&str; 7] = ["--long", "--slots", "6000", "--start", "19", "--seeds", "2"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = match parse_args(&args) {
        Ok(task) => task,
        // No task at all is a request for help, not a mistake; exit non-zero all the same so that
        // a script calling `cargo xtask` with a missing argument does not pass silently.
        Err(UsageError::NoTask) => {
            eprint!("{USAGE}");
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("xtask: {error}\n");
            eprint!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    if task == Task::Help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }

    let mut run = Run::new(workspace_root());
    let result = match task {
        Task::Test => test(&mut run),
        Task::Bench { quick } => bench(&mut run, quick),
        Task::Vectors => vectors(&mut run),
        Task::Crash { kills, seed } => crash(&mut run, kills, seed),
        Task::Soak(options) => soak::soak(&mut run, &options),
        Task::Testnet { manifests } => testnets(&mut run, &manifests),
        Task::Attack { seconds } => {
            let test =
                cargo(["test", "--release", "-p", RELAY, "--test", "costly", "--", "--nocapture"])
                    .env("MEMECOIN_ATTACK_SECONDS", &seconds.to_string());
            run.exec("attack", &test)
        }
        Task::Liveness { down_slots } => {
            let test = cargo([
                "test",
                "--release",
                "-p",
                RELAY,
                "--test",
                "liveness",
                "--",
                "--nocapture",
            ])
            .env("MEMECOIN_LIVENESS_DOWN_SLOTS", &down_slots.to_string());
            run.exec("liveness", &test)
        }
        Task::Fuzz { seconds, seeds, merge, targets } => {
            let targets: Vec<&str> = if targets.is_empty() {
                FUZZ_TARGETS.to_vec()
            } else {
                targets.iter().map(String::as_str).collect()
            };
            fuzz(&mut run, seconds, seeds, merge, &targets, FuzzBuild::Release)
        }
        Task::Page => page(&mut run),
        Task::Client => client(&mut run),
        Task::Image => image::image(&mut run),
        Task::Cycles => run.step("module cycles", module_cycles),
        Task::Wasm { out, target } => wasm(&mut run, out.as_deref(), target),
        Task::Devnet { options } => devnet(&mut run, &options),
        Task::Wallet { options } => wallet(&mut run, &options),
        Task::Sim { options } => {
            let sim = cargo(["run", "--release", "-p", SIM, "--"]).args(&options);
            run.exec("sim", &sim)
        }
        Task::Help => Ok(()),
    };
    run.print_summary();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("\nxtask: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory. Cargo sets `CARGO_MANIFEST_DIR` at
/// compile time, so this holds whatever the current directory is.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The kill -9 loop and the other fault tests of `relay/tests/crash.rs`, with `kills` kills.
fn crash(run: &mut Run, kills: u64, seed: u64) -> Result<(), Failure> {
    let test = cargo(["test", "-p", RELAY, "--test", "crash", "--", "--nocapture"])
        .env("MEMECOIN_CRASH_KILLS", &kills.to_string())
        .env("MEMECOIN_CRASH_SEED", &seed.to_string());
    run.exec("crash", &test)
}

fn test(run: &mut Run) -> Result<(), Failure> {
    // Tools first: the whole-system tests build the wasm crate with wasm-pack and drive it in
    // Node.js and Chromium.
    run.step("toolchain", ensure_components)?;
    run.step("targets", |run| ensure_targets(run, &NO_STD_TARGETS))?;
    run.step("wasm-bindgen-cli", ensure_wasm_bindgen)?;
    run.step("wasm-pack", ensure_wasm_pack)?;
    run.step("chromium", ensure_chromium)?;
    run.exec("fmt", &cargo(["fmt", "--all", "--", "--check"]))?;
    // fuzz/ is a workspace of its own, which `--all` does not reach.
    let fmt_fuzz = cargo(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]);
    run.exec("fmt fuzz", &fmt_fuzz)?;
    run.exec("clippy", &cargo(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    // Before the long steps: a cycle is cheap to find and fails the run in any case.
    run.step("module cycles", module_cycles)?;
    run.step("rust-version", check_rust_version)?;
    page(run)?;
    // relay/tests/liveness.rs (about 290 s, mostly waiting on 50 ms slots) stays in this step:
    // run beside the other tests, on 2 cores, its debug relays fell behind their slots and one
    // lost finality (2026-12-04), so it is not run concurrently.
    run.exec("test", &cargo(["test", "--workspace"]))?;
    // The test step's debug build (dependencies optimized, see the root Cargo.toml): no
    // release build of the relay's dependencies just for this.
    run.exec("sim", &cargo(["run", "-p", SIM, "--", "--seeds", SIM_CI_SEEDS]))?;
    // A short soak on the test step's debug build: the soak's own machinery, and a devnet of
    // short slots that keeps making and finalizing blocks under load.
    run.step("soak", |run| soak::soak(run, &SOAK_CI))?;
    for target in NO_STD_TARGETS {
        let build =
            cargo(["build", "-p", CORE, "-p", WALLET, "--no-default-features", "--target", target]);
        run.exec(&format!("no_std {target}"), &build)?;
    }
    let doc = cargo(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings");
    run.exec("doc", &doc)?;
    wasm_tests(run)?;
    // The page step built the served wasm already: measure that file, do not build it again.
    let served = run.root.join(WWW).join("pkg/memecoin_wasm_bg.wasm");
    run.step("wasm size", |_| check_wasm_size(&served))?;
    // The container image around the page built above: the cost is the relay's musl release
    // build.
    image::build(run)?;
    // The short testnet scenario on the image's very binary: hosts in network namespaces,
    // a partition, a kill -9, a pause, a slow and lossy link. After the browser tests: the
    // bridge and veths it makes are a network change Chromium reacts to.
    run.step("root and iproute2", testnet::ensure_netns)?;
    let relay = image::relay_binary_path(&run.root);
    testnet::testnet(run, &run.root.join(TESTNET_CI), &relay)?;
    // The corpus as a regression suite, then a few seconds of new inputs per target.
    fuzz(run, FUZZ_SMOKE_SECONDS, false, false, &FUZZ_TARGETS, FuzzBuild::Dev)?;
    // Last, so that every other check has run: the long-mode smoke, which reports the
    // node's halts beyond its bounds until the node survives them.
    run.exec("sim long", &cargo(["run", "-p", SIM, "--"]).args(SIM_CI_LONG))
}

/// The manifests `cargo xtask test` does not run by default: the short one it runs instead.
const TESTNET_CI: &str = "testnet/ci.toml";

/// `cargo xtask testnet`: each manifest (default: every `testnet/*.toml` but the CI one) on
/// the image's relay (the static musl build, [`image::relay_binary`]), every scenario run even
/// when one fails.
fn testnets(run: &mut Run, manifests: &[PathBuf]) -> Result<(), Failure> {
    let manifests = if manifests.is_empty() {
        let mut all: Vec<PathBuf> = std::fs::read_dir(run.root.join("testnet"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        all.retain(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with(TESTNET_CI));
        all.sort();
        all
    } else {
        manifests.iter().map(|m| run.root.join(m)).collect()
    };
    run.step("root and iproute2", testnet::ensure_netns)?;
    let relay = image::relay_binary(run)?;
    // For a manifest's [bench]: the load generator (without `cargo xtask bench`'s signature
    // bound, which needs its criterion run).
    run.exec("build load generator", &cargo(["build", "--release", "-p", LOAD]))?;
    let tools = testnet::LoadTools {
        load: target_dir(&run.root).join("release/memecoin-load"),
        bound: None,
    };
    let mut first_failure = None;
    for manifest in manifests {
        if let Err(failure) = testnet::testnet_with(run, &manifest, &relay, Some(&tools)) {
            first_failure.get_or_insert(failure);
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, or `target/` at the root.
fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Builds the relay (release) and runs `memecoin-relay devnet` in the foreground, serving the
/// wallet page from `www/` when it exists.
fn devnet(run: &mut Run, options: &[String]) -> Result<(), Failure> {
    page(run)?;
    run.exec("build", &cargo(["build", "--release", "-p", "memecoin-relay"]))?;
    let root = workspace_root();
    // Where cargo put it: `CARGO_TARGET_DIR` (relative to the root, where cargo ran) or target/.
    let target =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let binary = target.join("release/memecoin-relay");
    let mut args: Vec<String> = vec!["devnet".into()];
    args.extend(options.iter().cloned());
    if !options.iter().any(|o| o == "--data-dir") {
        args.extend(["--data-dir".into(), "target/devnet".into()]);
    }
    args.extend(["--www".into(), root.join(WWW).display().to_string()]);
    let devnet = Cmd::new(&binary.display().to_string()).args(args);
    run.exec("devnet", &devnet)
}

/// Builds the page, then the static wallet bundle from it (tools/wallet/bundle.mjs): content-
/// hashed files, the chain spec and relays pinned, integrity on every script, a strict CSP;
/// into `target/wallet` unless `--out` says otherwise.
fn wallet(run: &mut Run, options: &[String]) -> Result<(), Failure> {
    page(run)?;
    let mut args = vec!["tools/wallet/bundle.mjs".to_string(), "--www".into(), WWW.into()];
    args.extend(options.iter().cloned());
    if !options.iter().any(|o| o == "--out") {
        args.extend(["--out".into(), "target/wallet".into()]);
    }
    run.exec("wallet bundle", &Cmd::new("node").args(args))
}

fn vectors(run: &mut Run) -> Result<(), Failure> {
    let generate = cargo(["run", "-p", CORE, "--example", "gen_vectors", "--features", "std"]);
    run.exec("vectors", &generate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_workspace() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
            .expect("the workspace root has a Cargo.toml");
        assert!(manifest.contains("[workspace]"));
    }
}
