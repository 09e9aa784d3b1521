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

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Targets without `std` that `memecoin-core` must build for. `thumbv7m-none-eabi` has no `std` at
/// all, so it proves the no_std claim; wasm32 is the browser wallet's target.
const NO_STD_TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "thumbv7m-none-eabi"];

/// The crate whose no_std build and docs are checked, and whose benches are run.
const CORE: &str = "memecoin-core";
/// The relay, whose block-import bench (signature cache, parallel verification) runs with core's.
const RELAY: &str = "memecoin-relay";

/// The consensus simulation (sim/), and how many seeds `cargo xtask test` runs of it.
const SIM: &str = "memecoin-sim";
const SIM_CI_SEEDS: &str = "200";
/// And its long-mode smoke (`--long`, shortened): two seeds whose plan (`memecoin-sim --plan
/// --long --slots 6000`) holds a stall of more than 1/3 of the stake beyond 4,096 slots, a
/// 32-reveal hash chain and the joiner's stake/unstake/re-registration churn (seed 19 also
/// two orphan spammers).
const SIM_CI_LONG: [&str; 7] = ["--long", "--slots", "6000", "--start", "19", "--seeds", "2"];

/// The wasm crate's folder, as wasm-pack takes it.
const WASM_CRATE: &str = "wasm";
/// The wallet page's folder (served by the relay) and the browser test driver's folder.
const WWW: &str = "www";
const E2E: &str = "tests/e2e";
/// What a browser loads on a first visit, relative to `www/`, for the size report: these and
/// the page's modules (`first_load`).
const FIRST_LOAD: [&str; 7] = [
    "index.html",
    "style.css",
    "app.js",
    "vendor/uqr.js",
    "pkg/memecoin_wasm.js",
    "pkg/memecoin_wasm_bg.wasm",
    "genesis.json",
];
/// The first-load budget, gzipped.
const FIRST_LOAD_BUDGET: u64 = 200 * 1024;
/// The Cargo profile of the served wasm (root Cargo.toml): fat LTO, `opt-level = "z"` (sha2 at 3,
/// k256 at `s`).
const WASM_PROFILE: &str = "wasm-release";
/// The pinned wasm-opt: a Node project (package.json, package-lock.json) holding npm's `binaryen`,
/// and `check.mjs`, which loads a finished build and checks it against the vectors.
const WASM_TOOLS: &str = "tools/wasm";
/// The wasm bench: a Node project (package.json, package-lock.json, bench.mjs).
const WASM_BENCH: &str = "bench/wasm";
/// The size budget of the served `.wasm`, gzipped; `cargo xtask test` fails above it.
/// 150,000 until the wallet's verification grew (headers linked to finality,
/// conflicting finality, checkpoints agreed by several relays, sending to every relay) costs
/// about 10 KB: raised to 155,000 with the first load still within its 200 KB (BENCHMARKS.md
/// "Size"); to 156,000 for the proven registry read (+2.8 KB, of which 1.4 KB were paid
/// for by a JSON decoder and encoder for only what a browser receives and sends). Measured as
/// this file measures it (flate2 level 9), which reads ~500–1,100 bytes more than `gzip -9`.
const WASM_BUDGET_GZIP: usize = 156_000;
/// Debian's chromium and chromium-driver, which `wasm-pack test --chrome` drives.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// cargo-fuzz, pinned; installed with `cargo install --locked` when missing or at another version.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The fuzz targets (`fuzz/fuzz_targets/*.rs`), each with a committed corpus in `fuzz/corpus/`.
const FUZZ_TARGETS: [&str; 9] = [
    "decode",
    "text",
    "check_tx",
    "apply_block",
    "light_client",
    "proofs",
    "wire",
    "relay_ws",
    "relay_http",
];
/// Seconds per target of the smoke pass in `test`, and the default of `fuzz`.
const FUZZ_SMOKE_SECONDS: u64 = 5;
const FUZZ_DEFAULT_SECONDS: u64 = 60;

const USAGE: &str = "\
Usage: cargo xtask <task> [options]

Tasks:
  test            Install the tools the checks need, then run the CI checks, in order,
                  stopping at the first failure:
                    1. fmt      cargo fmt --all -- --check (and fuzz/, a workspace
                                  of its own)
                    2. clippy   cargo clippy --workspace --all-targets -- -D warnings
                    3. page     cargo xtask page (below)
                    4. test     cargo test --workspace (the whole-system tests build the
                                wasm crate with wasm-pack and run it in Node.js 20+, and
                                drive the wallet page in Chromium)
                    5. sim      cargo run -p memecoin-sim -- --seeds 200 (the consensus
                                simulation, below; the test step's debug build)
                    6. no_std   cargo build -p memecoin-core --no-default-features
                                  --target <t>   (wasm32-unknown-unknown, thumbv7m-none-eabi)
                    7. doc      RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
                    8. wasm     wasm-pack test --node wasm
                                wasm-pack test --headless --chrome wasm
                                  (each must report at least one passed test)
                    9. size     the gzipped size of the served .wasm that step 3 built
                                  (www/pkg): fails above the 150,000-byte budget
                   10. fuzz     cargo xtask fuzz --seconds 5 (below), built unoptimized
                                  (cargo fuzz --dev): every fuzz target over its
                                  committed corpus, then 5 s of fuzzing
                   11. sim long cargo run -p memecoin-sim -- --long --slots 6000
                                  --start 19 --seeds 2 (long-mode smoke: stalls
                                  beyond 4,096 slots, a 32-reveal chain, churn)
                  Installs missing rustfmt/clippy components and no_std targets with rustup,
                  wasm-bindgen-cli (the version in Cargo.lock), wasm-pack and cargo-fuzz
                  (pinned) with cargo, chromium and chromium-driver with apt-get.
  page            Build the wallet page: the served wasm (cargo xtask wasm) into
                  www/pkg, npm ci in www/ (QR module, copied to www/vendor) and in
                  tests/e2e/ (playwright-core); prints the first load's gzipped size.
  bench [--quick] Run the criterion benchmarks of memecoin-core (k256 against libsecp256k1,
                  block validation, state tree, encoding) and of the relay's block import
                  (signature cache, all cores); print the gzipped size of the release .wasm;
                  time ECDSA sign/verify in Node: our wasm against @noble/curves and
                  tiny-secp256k1 (bench/wasm, `npm ci` on first run), a finality certificate
                  and a light client's catch-up over 100,000 blocks; run a 4-validator
                  devnet under memecoin-load (transfers over /ws at rising rates). Ends with
                  every figure as a ratio against its anchor from the same run
                  (--quick: short, noisier runs).
  wasm [--out DIR] [--node]
                  Build the wallet's .wasm as the page serves it, into DIR (default
                  target/wasm-web in Cargo's target directory): cargo rustc
                  --crate-type cdylib --profile wasm-release (fat LTO), wasm-bindgen
                  --target web (--node: nodejs), then wasm-opt -Oz (npm binaryen, pinned
                  in tools/wasm, `npm ci` on first run); then load it in Node and check it
                  against the vectors, and print its gzipped size.
  crash [--kills N] [--seed S]
                  kill -9 a relay and a validator, each its own process with its own
                  database, N times (default 100) at random points of block import and sync
                  (seeded: S, default 1); after every restart check that the store opens, no
                  finalized block is lost, an account proof from the restored state checks
                  against the chain, and the relay catches up. Also the full-disk and bad
                  data dir tests. `cargo xtask test` runs 10 kills (relay/tests/crash.rs).
  attack [--seconds N]
                  The valid-but-costly attacks (relay/tests/costly.rs, release
                  build), each for N seconds (default 30) against a 4-validator devnet
                  process while an honest wallet sends transfers: prints, per attack,
                  honest transfers accepted and included, empty slots, the honest round
                  trip against idle and the relay's peak memory. `cargo xtask test` runs
                  the same file on a debug build, 8 s per attack.
  liveness [--down-slots N]
                  Liveness for days on release relays, each its own process
                  (relay/tests/liveness.rs, `memecoin-relay genesis --devnet` specs, short slots):
                  a 32-reveal validator proposes past 400 blocks (it renews its hash chain),
                  and of two equal validators one is down N slots (default 4,600, 50 ms
                  each); finality comes back without it and again with it. `cargo xtask
                  test` runs the same file on debug binaries.
  sim [--seeds N] [--start S] [--seed X] [--validators V] [--jobs J] [--log]
      [--long] [--slots L] [--plan]
                  Run the deterministic consensus simulation (memecoin-sim, release build):
                  seeds S..S+N (default 0..100) on every core, each a network of 4 to 20
                  validators (or V) with faults and byzantine validators, checked for
                  safety, liveness, slashing and supply after every step. Prints each
                  violation with the command that replays it (--seed X: one seed, in full;
                  --log: every block, vote and import of it, to stderr). --long: runs of
                  100,000 slots (or L) of 3 or 4 validators with stake churn, stalls beyond
                  every bound, a 32-reveal hash chain and costly byzantine messages;
                  --plan: print each seed's scenario and run nothing.
  vectors         Regenerate the protocol test vectors (core/tests/vectors/*.json).
  fuzz [--seconds N] [--seeds] [--merge] [TARGET...]
                  Build the fuzz targets (cargo fuzz, stable toolchain, --sanitizer none)
                  and run each (default: all) for N seconds (default 60) on its committed
                  corpus (fuzz/corpus/TARGET, read only) plus a scratch corpus in the target
                  dir; prints the executions per target and fails on a crash, with the
                  command that reproduces it. --seeds first rewrites the seed files from the
                  fixture chain (fuzz/examples/seeds.rs); --merge adds the scratch units that
                  bring new coverage to fuzz/corpus.
  wallet --genesis FILE [--relay wss://HOST/ws]... [--checkpoint-source wss://HOST/ws]...
         [--out DIR]
                  Build the wallet as a static, versioned bundle (default target/wallet):
                  content-hashed files, the chain spec FILE and the relays pinned, SRI on
                  every script, a strict Content-Security-Policy (a <meta>, and `_headers`
                  for hosts that read it), SHA256SUMS; checkpoint sources are relays of
                  other operators the wallet also asks when its saved position is older
                  than the weak-subjectivity bound. Serve the folder from any static
                  host; it prints the hash of index.html, the bundle's identity.
  devnet [--listen ADDR] [--data-dir DIR] [--validators N]
                  Build the page and the relay (release) and start a local devnet serving
                  the page at / with its genesis.json (default
                  http://127.0.0.1:8080, 1-second slots, a funded dev account whose
                  recovery phrase it prints). Stop it with Ctrl-C.
  help            Print this message.
";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Task {
    Test,
    Bench {
        quick: bool,
    },
    Vectors,
    Crash {
        kills: u64,
        seed: u64,
    },
    Liveness {
        down_slots: u64,
    },
    Attack {
        seconds: u64,
    },
    Fuzz {
        seconds: u64,
        seeds: bool,
        merge: bool,
        targets: Vec<String>,
    },
    Page,
    Wasm {
        out: Option<PathBuf>,
        target: WebOrNode,
    },
    /// Options passed on to `memecoin-relay devnet`, already checked.
    Devnet {
        options: Vec<String>,
    },
    /// Options passed on to tools/wallet/bundle.mjs, already checked.
    Wallet {
        options: Vec<String>,
    },
    /// Options passed on to `memecoin-sim`, already checked.
    Sim {
        options: Vec<String>,
    },
    Help,
}

/// Why the command line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UsageError {
    NoTask,
    UnknownTask(String),
    UnknownOption { task: &'static str, option: String },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTask => write!(f, "no task given"),
            Self::UnknownTask(task) => write!(f, "unknown task `{task}`"),
            Self::UnknownOption { task, option } => {
                write!(f, "unknown option `{option}` for task `{task}`")
            }
        }
    }
}

fn parse_args(args: &[String]) -> Result<Task, UsageError> {
    let Some((task, rest)) = args.split_first() else {
        return Err(UsageError::NoTask);
    };
    let no_options = |task: &'static str, result: Task| match rest.first() {
        None => Ok(result),
        Some(option) => Err(UsageError::UnknownOption { task, option: option.clone() }),
    };
    match task.as_str() {
        "test" => no_options("test", Task::Test),
        "vectors" => no_options("vectors", Task::Vectors),
        "page" => no_options("page", Task::Page),
        "devnet" => {
            let mut options = Vec::new();
            let mut words = rest.iter();
            while let Some(option) = words.next() {
                match option.as_str() {
                    "--listen" | "--data-dir" | "--validators" => {
                        let Some(value) = words.next() else {
                            return Err(UsageError::UnknownOption {
                                task: "devnet",
                                option: format!("{option} (needs a value)"),
                            });
                        };
                        options.push(option.clone());
                        options.push(value.clone());
                    }
                    _ => {
                        return Err(UsageError::UnknownOption {
                            task: "devnet",
                            option: option.clone(),
                        });
                    }
                }
            }
            Ok(Task::Devnet { options })
        }
        "wallet" => {
            let mut options = Vec::new();
            let mut words = rest.iter();
            while let Some(option) = words.next() {
                match option.as_str() {
                    "--genesis" | "--relay" | "--checkpoint-source" | "--out" => {
                        let Some(value) = words.next() else {
                            return Err(UsageError::UnknownOption {
                                task: "wallet",
                                option: format!("{option} (needs a value)"),
                            });
                        };
                        options.push(option.clone());
                        options.push(value.clone());
                    }
                    _ => {
                        return Err(UsageError::UnknownOption {
                            task: "wallet",
                            option: option.clone(),
                        });
                    }
                }
            }
            if !options.iter().any(|o| o == "--genesis") {
                return Err(UsageError::UnknownOption {
                    task: "wallet",
                    option: "(missing --genesis FILE: the chain spec the bundle pins)".into(),
                });
            }
            Ok(Task::Wallet { options })
        }
        "sim" => {
            let mut options = Vec::new();
            let mut words = rest.iter();
            while let Some(option) = words.next() {
                match option.as_str() {
                    "--seeds" | "--start" | "--seed" | "--validators" | "--jobs" | "--slots" => {
                        let Some(value) = words.next().filter(|v| v.parse::<u64>().is_ok()) else {
                            return Err(UsageError::UnknownOption {
                                task: "sim",
                                option: format!("{option} (needs a number)"),
                            });
                        };
                        options.push(option.clone());
                        options.push(value.clone());
                    }
                    "--log" | "--long" | "--plan" => options.push(option.clone()),
                    _ => {
                        return Err(UsageError::UnknownOption {
                            task: "sim",
                            option: option.clone(),
                        });
                    }
                }
            }
            Ok(Task::Sim { options })
        }
        "fuzz" => parse_fuzz(rest),
        "help" | "-h" | "--help" => Ok(Task::Help),
        "wasm" => {
            let (mut out, mut target) = (None, WebOrNode::Web);
            let mut words = rest.iter();
            while let Some(option) = words.next() {
                match option.as_str() {
                    "--node" => target = WebOrNode::Node,
                    "--out" => {
                        let Some(dir) = words.next() else {
                            return Err(UsageError::UnknownOption {
                                task: "wasm",
                                option: "--out (needs a value)".into(),
                            });
                        };
                        out = Some(PathBuf::from(dir));
                    }
                    _ => {
                        return Err(UsageError::UnknownOption {
                            task: "wasm",
                            option: option.clone(),
                        });
                    }
                }
            }
            Ok(Task::Wasm { out, target })
        }
        "crash" => {
            let (mut kills, mut seed) = (100, 1);
            let mut words = rest.iter();
            while let Some(option) = words.next() {
                let value = match option.as_str() {
                    "--kills" => &mut kills,
                    "--seed" => &mut seed,
                    _ => {
                        return Err(UsageError::UnknownOption {
                            task: "crash",
                            option: option.clone(),
                        });
                    }
                };
                *value = words.next().and_then(|v| v.parse().ok()).ok_or_else(|| {
                    UsageError::UnknownOption {
                        task: "crash",
                        option: format!("{option} (needs a number)"),
                    }
                })?;
            }
            Ok(Task::Crash { kills, seed })
        }
        "attack" => match rest {
            [] => Ok(Task::Attack { seconds: 30 }),
            [flag, n] if flag == "--seconds" => n
                .parse()
                .map(|seconds| Task::Attack { seconds })
                .map_err(|_| UsageError::UnknownOption {
                    task: "attack",
                    option: format!("{flag} (needs a number)"),
                }),
            [option, ..] => {
                Err(UsageError::UnknownOption { task: "attack", option: option.clone() })
            }
        },
        "liveness" => match rest {
            [] => Ok(Task::Liveness { down_slots: 4_600 }),
            [flag, n] if flag == "--down-slots" => n
                .parse()
                .map(|down_slots| Task::Liveness { down_slots })
                .map_err(|_| UsageError::UnknownOption {
                    task: "liveness",
                    option: format!("{flag} (needs a number)"),
                }),
            [option, ..] => {
                Err(UsageError::UnknownOption { task: "liveness", option: option.clone() })
            }
        },
        "bench" => {
            let mut quick = false;
            for option in rest {
                match option.as_str() {
                    "--quick" => quick = true,
                    _ => {
                        return Err(UsageError::UnknownOption {
                            task: "bench",
                            option: option.clone(),
                        });
                    }
                }
            }
            Ok(Task::Bench { quick })
        }
        other => Err(UsageError::UnknownTask(other.to_owned())),
    }
}

fn parse_fuzz(rest: &[String]) -> Result<Task, UsageError> {
    let bad = |option: String| UsageError::UnknownOption { task: "fuzz", option };
    let (mut seconds, mut seeds, mut merge, mut targets) =
        (FUZZ_DEFAULT_SECONDS, false, false, Vec::new());
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--seconds" => {
                seconds = words
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| bad("--seconds (needs a number)".into()))?;
            }
            "--seeds" => seeds = true,
            "--merge" => merge = true,
            target if FUZZ_TARGETS.contains(&target) => targets.push(target.to_owned()),
            other => return Err(bad(other.to_owned())),
        }
    }
    Ok(Task::Fuzz { seconds, seeds, merge, targets })
}

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

// ---------------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------------

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
    run.step("rust-version", check_rust_version)?;
    page(run)?;
    run.exec("test", &cargo(["test", "--workspace"]))?;
    // The test step's debug build (dependencies optimized, see the root Cargo.toml): no
    // release build of the relay's dependencies just for this.
    run.exec("sim", &cargo(["run", "-p", SIM, "--", "--seeds", SIM_CI_SEEDS]))?;
    for target in NO_STD_TARGETS {
        let build = cargo(["build", "-p", CORE, "--no-default-features", "--target", target]);
        run.exec(&format!("no_std {target}"), &build)?;
    }
    let doc = cargo(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings");
    run.exec("doc", &doc)?;
    wasm_tests(run)?;
    // The page step built the served wasm already: measure that file, do not build it again.
    let served = run.root.join(WWW).join("pkg/memecoin_wasm_bg.wasm");
    run.step("wasm size", |_| check_wasm_size(&served))?;
    // The corpus as a regression suite, then a few seconds of new inputs per target.
    fuzz(run, FUZZ_SMOKE_SECONDS, false, false, &FUZZ_TARGETS, FuzzBuild::Dev)?;
    // Last, so that every other check has run: the long-mode smoke, which reports the
    // node's halts beyond its bounds until the node survives them.
    run.exec("sim long", &cargo(["run", "-p", SIM, "--"]).args(SIM_CI_LONG))
}

/// The wasm crate's tests under Node.js and headless Chromium (the tools were installed at the
/// start of `test`: the `wasm-bindgen` CLI at the version in Cargo.lock, `wasm-pack`, and
/// Debian's chromium and chromium-driver). Fails if either runner reports no test: wasm-bindgen's runner skips a suite
/// configured for the other environment without failing.
fn wasm_tests(run: &mut Run) -> Result<(), Failure> {
    let node = Cmd::new("wasm-pack").args(["test", "--node", WASM_CRATE]);
    run.exec_counting("wasm node", &node)?;
    let chrome = Cmd::new("wasm-pack")
        .args(["test", "--headless", "--chrome", "--chromedriver", CHROMEDRIVER, WASM_CRATE])
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "600");
    run.exec_counting("wasm chrome", &chrome)
}

/// Installs `wasm-bindgen-cli` at exactly the version of the `wasm-bindgen` crate in Cargo.lock,
/// unless `wasm-bindgen --version` already says that version. wasm-pack uses the one on `PATH`
/// when it matches, and cannot download one here.
fn ensure_wasm_bindgen(run: &mut Run) -> Result<(), Failure> {
    let lock = std::fs::read_to_string(run.root.join("Cargo.lock")).unwrap_or_default();
    let Some(version) = locked_version(&lock, "wasm-bindgen") else {
        return Err(Failure {
            step: "wasm-bindgen-cli".into(),
            command: "read Cargo.lock".into(),
            reason: "no wasm-bindgen package in Cargo.lock".into(),
            hint: Some("run `cargo update -p wasm-bindgen` at the workspace root".into()),
        });
    };
    let installed = Cmd::new("wasm-bindgen").args(["--version"]);
    let output = installed.command(&run.root).output();
    let have = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(version.as_str()) {
        println!("wasm-bindgen {version} installed");
        return Ok(());
    }
    // `--locked` does not resolve for wasm-bindgen-cli; the exact version pins what matters.
    let install = cargo(["install", "wasm-bindgen-cli", "--version"]).args([version]);
    run.exec_with_hint(
        "install wasm-bindgen-cli",
        &install,
        "install wasm-bindgen-cli at the version of wasm-bindgen in Cargo.lock",
    )
}

/// Installs cargo-fuzz at [`CARGO_FUZZ_VERSION`] unless `cargo fuzz --version` already says it.
fn ensure_cargo_fuzz(run: &mut Run) -> Result<(), Failure> {
    let output = cargo(["fuzz", "--version"]).command(&run.root).output();
    let have = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(CARGO_FUZZ_VERSION) {
        println!("cargo-fuzz {CARGO_FUZZ_VERSION} installed");
        return Ok(());
    }
    let install = cargo(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION]);
    run.exec_with_hint(
        "install cargo-fuzz",
        &install,
        &format!("`cargo install cargo-fuzz --locked --version {CARGO_FUZZ_VERSION}`"),
    )
}

/// `cargo fuzz <sub>` as every fuzz step runs it: on the toolchain that runs xtask (stable),
/// without a sanitizer (`-Zsanitizer` needs nightly; Rust code without `unsafe` gains little
/// from ASan, and debug assertions and overflow checks stay on), in the workspace's target dir.
fn cargo_fuzz(root: &Path, sub: &str, build: FuzzBuild) -> Cmd {
    let cmd = cargo(["fuzz", sub, "--sanitizer", "none", "--target-dir"])
        .args([target_dir(root).display().to_string()]);
    match build {
        FuzzBuild::Release => cmd,
        FuzzBuild::Dev => cmd.args(["--dev"]),
    }
}

/// How the fuzz targets are compiled: optimized for `cargo xtask fuzz` (more executions per
/// second), unoptimized for the smoke pass of `cargo xtask test`, where a few seconds per target
/// do not pay for the minutes an optimized, single-codegen-unit build of the relay takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FuzzBuild {
    Release,
    Dev,
}

/// Builds the fuzz targets, then runs each for `seconds` on its committed corpus (read only)
/// and a scratch corpus under the target dir. Prints executions per target; fails on the first
/// crash with the command that reproduces it.
fn fuzz(
    run: &mut Run,
    seconds: u64,
    seeds: bool,
    merge: bool,
    targets: &[&str],
    build: FuzzBuild,
) -> Result<(), Failure> {
    run.step("cargo-fuzz", ensure_cargo_fuzz)?;
    let root = run.root.clone();
    if seeds {
        let generate = cargo(["run", "--manifest-path", "fuzz/Cargo.toml", "--target-dir"])
            .args([target_dir(&root).display().to_string()])
            .args(["--example", "seeds"]);
        run.exec("fuzz seeds", &generate)?;
    }
    run.exec("fuzz build", &cargo_fuzz(&root, "build", build))?;
    let mut report = Vec::new();
    for target in targets {
        let scratch = target_dir(&root).join("fuzz-corpus").join(target);
        let logs = target_dir(&root).join("fuzz-logs");
        let corpus = format!("fuzz/corpus/{target}");
        let cmd = cargo_fuzz(&root, "run", build)
            .args([*target, &scratch.display().to_string(), &corpus, "--"])
            .args([
                format!("-max_total_time={seconds}"),
                "-timeout=20".into(),
                "-print_final_stats=1".into(),
            ]);
        let log = logs.join(format!("{target}.log"));
        let step = format!("fuzz {target}");
        run.step(&step, |run| {
            println!("\n$ {cmd} 2> {}", log.display());
            let fail = |reason: String| Failure::new(&step, &cmd, reason, "see the log");
            std::fs::create_dir_all(&scratch)
                .and_then(|()| std::fs::create_dir_all(&logs))
                .map_err(|e| fail(e.to_string()))?;
            let file = std::fs::File::create(&log).map_err(|e| fail(e.to_string()))?;
            let status = cmd
                .command(&run.root)
                .stdout(Stdio::null())
                .stderr(file)
                .status()
                .map_err(|e| fail(spawn_error(&e)))?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let executions = fuzz_executions(&text);
            report.push((target.to_string(), executions, status.success()));
            if status.success() {
                println!("{target}: {} executions in {seconds} s", executions.unwrap_or(0));
                return Ok(());
            }
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            let reproduce = match fuzz_artifact(&text) {
                Some(artifact) => {
                    format!(
                        "reproduce with: {} {target} {artifact}",
                        cargo_fuzz(&root, "run", build)
                    )
                }
                None => format!("full log: {}", log.display()),
            };
            Err(Failure::new(&step, &cmd, format!("{status}"), &reproduce))
        })?;
        if merge {
            let cmd = cargo_fuzz(&root, "run", build).args([
                *target,
                &corpus,
                &scratch.display().to_string(),
                "--",
                "-merge=1",
            ]);
            run.exec(&format!("fuzz merge {target}"), &cmd)?;
        }
    }
    println!("\nfuzz: executions per target ({seconds} s each):");
    for (target, executions, ok) in &report {
        let executions = executions.map_or("-".to_owned(), |n| n.to_string());
        println!("  {target:<14} {executions:>12}  {}", if *ok { "ok" } else { "CRASH" });
    }
    Ok(())
}

/// Executions from libFuzzer's final stats (`stat::number_of_executed_units: N`), or from its
/// `Done N runs` line.
fn fuzz_executions(log: &str) -> Option<u64> {
    let stat = log.lines().rev().find_map(|line| {
        line.trim().strip_prefix("stat::number_of_executed_units:")?.trim().parse().ok()
    });
    stat.or_else(|| {
        log.lines()
            .rev()
            .find_map(|line| line.strip_prefix("Done ")?.split(' ').next()?.parse().ok())
    })
}

/// Where libFuzzer wrote the input that crashed (`Test unit written to PATH`).
fn fuzz_artifact(log: &str) -> Option<String> {
    log.lines().find_map(|line| Some(line.split("Test unit written to ").nth(1)?.trim().to_owned()))
}

fn ensure_wasm_pack(run: &mut Run) -> Result<(), Failure> {
    if succeeds_quietly(&Cmd::new("wasm-pack").args(["--version"])) {
        return Ok(());
    }
    let install = cargo(["install", "wasm-pack", "--locked"]);
    run.exec_with_hint("install wasm-pack", &install, "`cargo install wasm-pack --locked`")
}

/// Installs Debian's chromium and chromium-driver (as root) if either is missing.
fn ensure_chromium(run: &mut Run) -> Result<(), Failure> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    println!("{CHROMIUM} or {CHROMEDRIVER} is missing: installing chromium and chromium-driver");
    let hint = "install Chromium and its WebDriver as root: \
                `apt-get update && apt-get install -y chromium chromium-driver` \
                (Debian/Ubuntu package names)";
    run.exec_with_hint("apt-get update", &Cmd::new("apt-get").args(["update"]), hint)?;
    let install = Cmd::new("apt-get").args(["install", "-y", "chromium", "chromium-driver"]);
    run.exec_with_hint("install chromium", &install, hint)
}

/// The `version` of package `name` in Cargo.lock (the first one, if several).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(version.to_owned());
        }
    }
    None
}

/// The number of tests passed, summed over the `test result: ok. N passed; …` lines of a test
/// run's output, or `None` if there is no such line.
fn passed_tests(output: &str) -> Option<u64> {
    let counts: Vec<u64> = output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

fn bench(run: &mut Run, quick: bool) -> Result<(), Failure> {
    let mut bench = cargo(["bench", "-p", CORE]);
    if quick {
        // Select the bench targets only: the library's own libtest harness is also a bench target
        // and would reject criterion's options.
        bench = bench.args(["--bench", "*", "--", "--quick"]);
    }
    run.exec("bench", &bench)?;
    let mut import = cargo(["bench", "-p", RELAY, "--bench", "import"]);
    if quick {
        import = import.args(["--", "--quick"]);
    }
    run.exec("bench relay", &import)?;
    let criterion = target_dir(&run.root).join("criterion");
    let ratios = native_ratios(&criterion);
    run.step("wasm size", wasm_size)?;
    wasm_bench(run, quick)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let bound = criterion_mean_ns(&criterion, "crypto/verify").map(|t| cores * 1e9 / t);
    let load = relay_load(run, quick, bound)?;
    print!("{ratios}");
    print!("{load}");
    Ok(())
}

/// A 4-validator devnet (`memecoin-relay devnet`, release build, in a fresh data dir on a free
/// loopback port) under `memecoin-load`, a separate process offering transfers over `/ws` at
/// rising rates. Returns the load generator's report (one JSON object per rate), which carries
/// accepted/s against `bound` (cores × k256 verify/s from this run).
fn relay_load(run: &mut Run, quick: bool, bound: Option<f64>) -> Result<String, Failure> {
    let build = cargo(["build", "--release", "-p", RELAY, "--bins"]);
    run.exec("build relay (release)", &build)?;
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
        let (_, rest) = body.split_once("\"height\":")?;
        rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
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

/// Draws the load report (memecoin-load's JSON lines) as `target/bench/relay-load.png`:
/// accepted against offered transfers per second, and accept latency. `bench/chart/chart.py` with
/// the matplotlib pinned in `bench/chart/requirements.txt`, installed into `target/bench-venv`
/// on first use.
fn relay_chart(run: &mut Run, report: &str, quick: bool) -> Result<PathBuf, Failure> {
    let out = target_dir(&run.root).join("bench");
    let failure = |e: io::Error| {
        Failure::new("chart", &Cmd::new("write"), e.to_string(), "check the target directory")
    };
    std::fs::create_dir_all(&out).map_err(failure)?;
    let data = out.join("relay-load.jsonl");
    std::fs::write(&data, report).map_err(failure)?;
    let venv = target_dir(&run.root).join("bench-venv");
    let python = venv.join("bin/python");
    let has_matplotlib = Cmd::new(&python.display().to_string()).args(["-c", "import matplotlib"]);
    if !has_matplotlib
        .command(&run.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        let make = Cmd::new("python3").args(["-m", "venv", &venv.display().to_string()]);
        run.exec_with_hint("chart venv", &make, "install Python 3 with its venv module")?;
        let install = Cmd::new(&python.display().to_string()).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            "bench/chart/requirements.txt",
        ]);
        run.exec_with_hint("chart matplotlib", &install, "pip needs to reach PyPI")?;
    }
    let png = out.join("relay-load.png");
    let title = if quick { "relay under load (--quick)" } else { "relay under load" };
    let draw = Cmd::new(&python.display().to_string()).args([
        "bench/chart/chart.py".to_string(),
        data.display().to_string(),
        png.display().to_string(),
        title.to_string(),
    ]);
    run.exec("chart", &draw)?;
    Ok(png)
}

/// A loopback port nobody listens on now.
fn free_port() -> io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port())
}

/// A minimal HTTP/1.1 GET on loopback; the body.
fn http_get(addr: &str, path: &str) -> io::Result<String> {
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

/// `mean.point_estimate` of criterion's `estimates.json`.
fn parse_mean_ns(estimates: &str) -> Option<f64> {
    let mean = &estimates[estimates.find("\"mean\"")?..];
    let value = &mean[mean.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))?;
    value[..end].parse().ok()
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

/// Cargo's target directory: `$CARGO_TARGET_DIR`, or `target/` at the root.
fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Where a wasm build runs: the wallet page (`wasm-bindgen --target web`, an ES module with an
/// `init` function) or Node.js (`--target nodejs`, CommonJS; the bench).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WebOrNode {
    Web,
    Node,
}

impl WebOrNode {
    fn bindgen_target(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Node => "nodejs",
        }
    }
}

/// `cargo xtask wasm`: builds the served wasm into `out` (default `target/wasm-web`), checks
/// it in Node and prints its size.
fn wasm(run: &mut Run, out: Option<&Path>, target: WebOrNode) -> Result<(), Failure> {
    let out = match out {
        Some(dir) => env::current_dir().map(|cwd| cwd.join(dir)).unwrap_or_else(|_| dir.into()),
        None => target_dir(&run.root).join("wasm-web"),
    };
    let file = wasm_web_build(run, &out, target)?;
    print_wasm_size(&file).map(drop)
}

/// Builds the wallet's `.wasm` as the page serves it, into `out_dir` (`memecoin_wasm.js`,
/// `memecoin_wasm_bg.wasm`, TypeScript declarations), and returns the `.wasm`'s path:
///
/// 1. `cargo rustc --crate-type cdylib --profile wasm-release`: the crate alone as a cdylib, so
///    that Cargo runs fat LTO (it does not for the manifest's `["cdylib", "rlib"]`);
/// 2. `wasm-bindgen --target web|nodejs`, without the name and producers sections;
/// 3. `wasm-opt -Oz` from npm's `binaryen`, pinned in `tools/wasm/` (never Debian's wasm-opt 108,
///    which corrupts wasm-bindgen's output);
/// 4. `node tools/wasm/check.mjs`: loads the result and checks it against the vectors (sign,
///    verify, BIP-39 with NFKD done by JavaScript), since wasm-opt rewrote what was tested.
///
/// The sizes each step saves are in BENCHMARKS.md ("WebAssembly").
fn wasm_web_build(run: &mut Run, out_dir: &Path, target: WebOrNode) -> Result<PathBuf, Failure> {
    run.step("wasm-bindgen-cli", ensure_wasm_bindgen)?;
    run.step("wasm-opt", ensure_wasm_opt)?;
    let build = cargo(["rustc", "-p", "memecoin-wasm", "--lib", "--crate-type", "cdylib"])
        .args(["--target", "wasm32-unknown-unknown", "--profile", WASM_PROFILE])
        // sha2's loop-based compression functions instead of its unrolled ones: 3 KB smaller
        // gzipped; the wallet hashes little (headers, proofs, one BIP-39 seed). A cfg, not a
        // feature, so it goes in as target rustflags, for this build only.
        .args([
            "--config",
            r#"target.wasm32-unknown-unknown.rustflags=["--cfg", "sha2_backend_soft=\"compact\""]"#,
        ]);
    run.exec("wasm build", &build)?;
    let linked = target_dir(&run.root)
        .join("wasm32-unknown-unknown")
        .join(WASM_PROFILE)
        .join("memecoin_wasm.wasm");
    let bindgen = Cmd::new("wasm-bindgen")
        .args(["--target", target.bindgen_target()])
        .args(["--remove-name-section", "--remove-producers-section", "--out-dir"])
        .args([out_dir.display().to_string(), linked.display().to_string()]);
    run.exec("wasm-bindgen", &bindgen)?;
    let file = out_dir.join("memecoin_wasm_bg.wasm");
    let file_arg = file.display().to_string();
    // The features wasm-opt may use are read from the module's `target_features` section, which
    // rustc writes and wasm-bindgen keeps.
    let opt = Cmd::new("node")
        .args([wasm_opt_path(&run.root).display().to_string()])
        .args(["-Oz", "--strip-debug", "--strip-producers", "-o"])
        .args([file_arg.clone(), file_arg]);
    run.exec("wasm-opt", &opt)?;
    let check = Cmd::new("node").args([
        format!("{WASM_TOOLS}/check.mjs"),
        format!("--{}", target.bindgen_target()),
        out_dir.display().to_string(),
    ]);
    run.exec_with_hint("wasm check", &check, "install Node.js 20 or later")?;
    Ok(file)
}

/// The pinned wasm-opt, once `tools/wasm/node_modules` is installed.
fn wasm_opt_path(root: &Path) -> PathBuf {
    root.join(WASM_TOOLS).join("node_modules/binaryen/bin/wasm-opt")
}

/// Installs npm's `binaryen` at the version in `tools/wasm/package-lock.json` (`npm ci`) unless
/// `tools/wasm/node_modules` holds it already.
fn ensure_wasm_opt(run: &mut Run) -> Result<(), Failure> {
    if wasm_opt_path(&run.root).exists() {
        return Ok(());
    }
    let ci = Cmd::new("npm").args(["ci", "--prefix", WASM_TOOLS, "--no-audit", "--no-fund"]);
    run.exec_with_hint(
        "npm ci (tools/wasm)",
        &ci,
        "install Node.js 20 or later with npm (e.g. Debian's `nodejs` and `npm` packages): the \
         served wasm is optimized with wasm-opt from npm's `binaryen`, pinned in tools/wasm; \
         do not use Debian's `binaryen` (wasm-opt 108 corrupts wasm-bindgen output)",
    )
}

/// Builds the served wasm ([`wasm_web_build`], `--target web`) into `target/wasm-size/` and
/// prints its size, raw and gzipped at level 9.
fn wasm_size(run: &mut Run) -> Result<(), Failure> {
    let out = target_dir(&run.root).join("wasm-size");
    let file = wasm_web_build(run, &out, WebOrNode::Web)?;
    print_wasm_size(&file).map(drop)
}

/// [`print_wasm_size`], failing when the file is over the budget: `cargo xtask test` keeps the
/// served `.wasm` within it (BENCHMARKS.md "WebAssembly").
fn check_wasm_size(file: &Path) -> Result<(), Failure> {
    let gzipped = print_wasm_size(file)?;
    if gzipped > WASM_BUDGET_GZIP {
        return Err(Failure {
            step: "wasm size".into(),
            command: format!("gzip -9 {}", file.display()),
            reason: format!(
                "{gzipped} bytes gzipped, over the {WASM_BUDGET_GZIP}-byte budget by {}",
                gzipped - WASM_BUDGET_GZIP
            ),
            hint: Some(
                "find what grew with twiggy on a build with names (BENCHMARKS.md \"WebAssembly\")"
                    .into(),
            ),
        });
    }
    Ok(())
}

/// Prints the size of the `.wasm` at `file`, raw and gzipped at level 9, against the budget;
/// returns the gzipped size.
fn print_wasm_size(file: &Path) -> Result<usize, Failure> {
    let failure = |reason: String| Failure {
        step: "wasm size".into(),
        command: format!("gzip -9 {}", file.display()),
        reason,
        hint: None,
    };
    let bytes = std::fs::read(file).map_err(|e| failure(e.to_string()))?;
    let gzipped = gzip_len(&bytes).map_err(|e| failure(e.to_string()))?;
    let verdict = if gzipped <= WASM_BUDGET_GZIP { "within" } else { "over" };
    println!(
        "wasm size: {} bytes, {gzipped} bytes gzipped (level 9): {verdict} the {WASM_BUDGET_GZIP}-byte budget",
        bytes.len()
    );
    Ok(gzipped)
}

/// The length of `bytes` gzipped at level 9, as `gzip -9` would send them.
fn gzip_len(bytes: &[u8]) -> io::Result<usize> {
    use io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
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

/// Builds the wallet page in place: the served wasm (`wasm_web_build`) in `www/pkg` (gitignored), the npm
/// dependencies from their lockfiles (`npm ci`), the QR module copied to `www/vendor`
/// (gitignored), and the browser test driver's playwright-core. Then reports the first load's
/// size, gzipped, against the budget.
fn page(run: &mut Run) -> Result<(), Failure> {
    // The served build (`cargo xtask wasm`): the same bytes that the size figures describe.
    let pkg = run.root.join(WWW).join("pkg");
    wasm_web_build(run, &pkg, WebOrNode::Web)?;
    let hint = "install Node.js and npm (Debian: `apt-get install -y nodejs npm`)";
    let npm_ci =
        |dir: &str| Cmd::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", dir]);
    run.exec_with_hint("page npm ci", &npm_ci(WWW), hint)?;
    run.step("page vendor", |run| {
        let vendor = run.root.join(WWW).join("vendor");
        let from = run.root.join(WWW).join("node_modules/uqr/dist/index.mjs");
        std::fs::create_dir_all(&vendor)
            .and_then(|()| std::fs::copy(&from, vendor.join("uqr.js")).map(|_| ()))
            .map_err(|e| Failure {
                step: "page vendor".into(),
                command: format!("copy {} to {}", from.display(), vendor.display()),
                reason: e.to_string(),
                hint: None,
            })
    })?;
    // Served gzipped to browsers that accept it: the relay serves `f.gz` for `f` only while it is
    // at least as new, so editing a page file by hand never serves a stale copy.
    for file in first_load(&run.root.join(WWW)).iter().filter(|f| *f != "genesis.json") {
        let gzip = Cmd::new("gzip").args(["-9", "-k", "-f", "-n", &format!("{WWW}/{file}")]);
        run.exec("page gzip", &gzip)?;
    }
    run.exec_with_hint("e2e npm ci", &npm_ci(E2E), hint)?;
    run.step("page size", |run| {
        report_first_load(&run.root.join(WWW));
        Ok(())
    })
}

/// `FIRST_LOAD` and every module in `www/js/` (app.js imports them all).
fn first_load(www: &Path) -> Vec<String> {
    let mut modules: Vec<String> = std::fs::read_dir(www.join("js"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".js"))
        .map(|name| format!("js/{name}"))
        .collect();
    modules.sort();
    FIRST_LOAD.iter().map(|f| f.to_string()).chain(modules).collect()
}

/// Prints each first-load file's gzipped size (`gzip -9`) and the total against the budget.
/// `genesis.json` is written by the devnet at start; a missing file counts as 0 and says so.
fn report_first_load(www: &Path) {
    let mut total = 0;
    println!("\nfirst load (gzip -9):");
    for file in first_load(www) {
        let path = www.join(&file);
        let size = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&path)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| o.stdout.len() as u64);
        match size {
            Some(n) => {
                total += n;
                println!("  {file:<28} {:>8.1} KB", n as f64 / 1024.0);
            }
            None => println!("  {file:<28} {:>8} (not built yet)", "-"),
        }
    }
    let verdict = if total <= FIRST_LOAD_BUDGET { "within" } else { "OVER" };
    println!(
        "  {:<28} {:>8.1} KB ({verdict} the {} KB budget)",
        "total",
        total as f64 / 1024.0,
        FIRST_LOAD_BUDGET / 1024
    );
}

fn vectors(run: &mut Run) -> Result<(), Failure> {
    let generate = cargo(["run", "-p", CORE, "--example", "gen_vectors", "--features", "std"]);
    run.exec("vectors", &generate)
}

/// The workspace's declared `rust-version` must be at least every dependency's: a package that
/// needs a newer compiler than the one we declare makes the declaration a lie. Read from
/// `cargo metadata` (every package the lock file resolves, whatever the platform or feature).
fn check_rust_version(run: &mut Run) -> Result<(), Failure> {
    let failure = |reason: String| Failure {
        step: "rust-version".into(),
        command: "cargo metadata --format-version 1".into(),
        reason,
        hint: Some(
            "raise `rust-version` in the root Cargo.toml to what the dependencies need".into(),
        ),
    };
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(&run.root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| failure(e.to_string()))?;
    if !out.status.success() {
        return Err(failure("cargo metadata failed".into()));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| failure(e.to_string()))?;
    let version = |p: &serde_json::Value| -> Option<(Vec<u64>, String)> {
        let text = p["rust_version"].as_str()?;
        Some((text.split('.').map(|x| x.parse().unwrap_or(0)).collect(), text.to_string()))
    };
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let is_member =
        |p: &serde_json::Value| p["id"].as_str().is_some_and(|id| members.contains(&id));
    let declared = packages
        .iter()
        .filter(|p| is_member(p))
        .filter_map(|p| version(p).map(|v| (v, p["name"].as_str().unwrap_or("?").to_string())))
        .min_by(|a, b| a.0.0.cmp(&b.0.0))
        .ok_or_else(|| failure("no workspace member declares a rust-version".into()))?;
    let needed = packages
        .iter()
        .filter(|p| !is_member(p))
        .filter_map(|p| {
            version(p).map(|v| {
                (
                    v,
                    format!(
                        "{} {}",
                        p["name"].as_str().unwrap_or("?"),
                        p["version"].as_str().unwrap_or("?")
                    ),
                )
            })
        })
        .max_by(|a, b| a.0.0.cmp(&b.0.0));
    match needed {
        Some(((v, text), package)) if v > declared.0.0 => Err(failure(format!(
            "the workspace declares rust-version {} ({}) but {package} needs {text}",
            declared.0.1, declared.1
        ))),
        Some(((_, text), package)) => {
            println!(
                "rust-version {} covers every dependency (the highest need: {package}, {text})",
                declared.0.1
            );
            Ok(())
        }
        None => Ok(()),
    }
}

/// Installs `rustfmt` and `clippy` if `cargo fmt` or `cargo clippy` do not answer `--version`.
fn ensure_components(run: &mut Run) -> Result<(), Failure> {
    for (subcommand, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        if succeeds_quietly(&cargo([subcommand, "--version"])) {
            continue;
        }
        println!("`cargo {subcommand}` is missing: installing the `{component}` component");
        let add = Cmd::new("rustup").args(["component", "add", component]);
        run.exec_with_hint(
            &format!("install {component}"),
            &add,
            &format!(
                "install the `{component}` component for your toolchain \
                 (`rustup component add {component}`, or your distribution's package)"
            ),
        )?;
    }
    Ok(())
}

/// Installs the `targets` that `rustup target list --installed` does not list.
fn ensure_targets(run: &mut Run, targets: &[&str]) -> Result<(), Failure> {
    let wanted = targets.join(" ");
    let hint = format!(
        "install rustup (https://rustup.rs), then `rustup target add {wanted}`; \
         without rustup, install the standard library for {wanted} for your toolchain"
    );
    let list = Cmd::new("rustup").args(["target", "list", "--installed"]);
    println!("$ {list}");
    let output = match list.command(&run.root).stderr(Stdio::inherit()).output() {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            return Err(Failure::new("targets", &list, format!("{}", output.status), &hint));
        }
        Err(error) => return Err(Failure::new("targets", &list, spawn_error(&error), &hint)),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let installed = parse_installed_targets(&stdout);
    let missing = missing_targets(&installed, targets);
    if missing.is_empty() {
        println!("targets installed: {wanted}");
        return Ok(());
    }
    let add = Cmd::new("rustup").args(["target", "add"]).args(missing);
    run.exec_with_hint("install targets", &add, &hint)
}

/// The target triples in the output of `rustup target list --installed`: one per line.
fn parse_installed_targets(output: &str) -> Vec<&str> {
    output.lines().map(str::trim).filter(|line| !line.is_empty()).collect()
}

/// The `wanted` targets that are not `installed`, in the order they were asked for.
fn missing_targets<'a>(installed: &[&str], wanted: &[&'a str]) -> Vec<&'a str> {
    wanted.iter().copied().filter(|target| !installed.contains(target)).collect()
}

fn succeeds_quietly(cmd: &Cmd) -> bool {
    cmd.command(&workspace_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn spawn_error(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound {
        "command not found".to_owned()
    } else {
        format!("could not start: {error}")
    }
}

// ---------------------------------------------------------------------------------------------
// Commands and the run log
// ---------------------------------------------------------------------------------------------

/// A command to spawn, kept as data so that it can be printed exactly as it is run.
#[derive(Debug, Clone)]
struct Cmd {
    program: OsString,
    display_program: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

/// `cargo` with `args`. Uses the `cargo` that runs this xtask (Cargo sets `$CARGO`), so the whole
/// task runs on one toolchain.
fn cargo<const N: usize>(args: [&str; N]) -> Cmd {
    let mut cmd = Cmd::new("cargo").args(args);
    if let Some(path) = env::var_os("CARGO") {
        cmd.program = path;
    }
    cmd
}

impl Cmd {
    fn new(program: &str) -> Self {
        Self {
            program: program.into(),
            display_program: program.to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    fn command(&self, root: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(root);
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        command
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.envs {
            write!(f, "{key}={} ", shell_quote(value))?;
        }
        write!(f, "{}", self.display_program)?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

/// Quotes `word` for a POSIX shell if it needs it, so a printed command can be pasted back.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_=./:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A step that did not succeed, with what to do about it.
#[derive(Debug)]
struct Failure {
    step: String,
    command: String,
    reason: String,
    hint: Option<String>,
}

impl Failure {
    fn new(step: &str, cmd: &Cmd, reason: String, hint: &str) -> Self {
        Self {
            step: step.to_owned(),
            command: cmd.to_string(),
            reason,
            hint: Some(hint.to_owned()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}` failed ({}): {}", self.step, self.reason, self.command)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nxtask: to fix: {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
}

/// The steps run so far, for the summary.
#[derive(Debug)]
struct Run {
    root: PathBuf,
    steps: Vec<(String, Outcome, Duration)>,
    started: Instant,
}

impl Run {
    fn new(root: PathBuf) -> Self {
        Self { root, steps: Vec::new(), started: Instant::now() }
    }

    /// Runs `body` as the step `name` and records its outcome and duration.
    fn step(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let result = body(self);
        let outcome = if result.is_ok() { Outcome::Passed } else { Outcome::Failed };
        self.steps.push((name.to_owned(), outcome, started.elapsed()));
        result
    }

    /// Prints `cmd`, runs it in the workspace root and records it as the step `name`.
    fn exec(&mut self, name: &str, cmd: &Cmd) -> Result<(), Failure> {
        self.run_cmd(name, cmd, None)
    }

    /// As [`Run::exec`], with a hint on what to install when the command fails.
    fn exec_with_hint(&mut self, name: &str, cmd: &Cmd, hint: &str) -> Result<(), Failure> {
        self.run_cmd(name, cmd, Some(hint))
    }

    fn run_cmd(&mut self, name: &str, cmd: &Cmd, hint: Option<&str>) -> Result<(), Failure> {
        self.step(name, |run| {
            println!("\n$ {cmd}");
            let reason = match cmd.command(&run.root).status() {
                Ok(status) if status.success() => return Ok(()),
                Ok(status) => format!("{status}"),
                Err(error) => spawn_error(&error),
            };
            Err(Failure {
                step: name.to_owned(),
                command: cmd.to_string(),
                reason,
                hint: hint.map(str::to_owned),
            })
        })
    }

    /// As [`Run::exec`], echoing the command's standard output as it comes, and failing unless
    /// it reports at least one passed test.
    fn exec_counting(&mut self, name: &str, cmd: &Cmd) -> Result<(), Failure> {
        self.step(name, |run| {
            println!("\n$ {cmd}");
            let failure = |reason: String| Failure {
                step: name.to_owned(),
                command: cmd.to_string(),
                reason,
                hint: None,
            };
            let mut child = cmd
                .command(&run.root)
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| failure(spawn_error(&e)))?;
            let mut output = String::new();
            if let Some(stdout) = child.stdout.take() {
                for line in io::BufRead::lines(io::BufReader::new(stdout)).map_while(Result::ok) {
                    println!("{line}");
                    output.push_str(&line);
                    output.push('\n');
                }
            }
            let status = child.wait().map_err(|e| failure(spawn_error(&e)))?;
            if !status.success() {
                return Err(failure(format!("{status}")));
            }
            match passed_tests(&output) {
                Some(n) if n > 0 => {
                    println!("{name}: {n} tests passed");
                    Ok(())
                }
                _ => Err(failure("no test ran (0 passed): wrong runner configuration?".into())),
            }
        })
    }

    fn print_summary(&self) {
        println!("\nxtask summary:");
        for (name, outcome, elapsed) in &self.steps {
            let outcome = match outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
            };
            println!("  {name:<36} {outcome:<6} {:>8.1}s", elapsed.as_secs_f64());
        }
        println!("  {:<36} {:<6} {:>8.1}s", "total", "", self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn criterion_estimates_give_the_mean() {
        let text = r#"{"mean":{"confidence_interval":{"lower_bound":47360.1,"upper_bound":51275.3},"point_estimate":49283.8,"standard_error":997.4},"median":{"point_estimate":1.0}}"#;
        assert_eq!(parse_mean_ns(text), Some(49283.8));
        assert_eq!(parse_mean_ns(r#"{"mean":{"point_estimate":2.5e4}}"#), Some(25000.0));
        assert_eq!(parse_mean_ns("{}"), None);
    }

    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    fn check_args(words: &[&str], expected: Result<Task, UsageError>) {
        assert_eq!(parse_args(&args(words)), expected, "args: {words:?}");
    }

    #[test]
    fn parses_tasks() {
        check_args(&["test"], Ok(Task::Test));
        check_args(&["bench"], Ok(Task::Bench { quick: false }));
        check_args(&["bench", "--quick"], Ok(Task::Bench { quick: true }));
        check_args(&["vectors"], Ok(Task::Vectors));
        check_args(&["page"], Ok(Task::Page));
        check_args(
            &["wallet", "--genesis", "g.json", "--relay", "wss://r/ws"],
            Ok(Task::Wallet { options: args(&["--genesis", "g.json", "--relay", "wss://r/ws"]) }),
        );
        assert!(matches!(
            parse_args(&args(&["wallet", "--relay", "wss://r/ws"])),
            Err(UsageError::UnknownOption { task: "wallet", .. })
        ));
        check_args(&["devnet"], Ok(Task::Devnet { options: vec![] }));
        check_args(
            &["devnet", "--validators", "4", "--listen", "127.0.0.1:9000"],
            Ok(Task::Devnet {
                options: args(&["--validators", "4", "--listen", "127.0.0.1:9000"]),
            }),
        );
        check_args(&["wasm"], Ok(Task::Wasm { out: None, target: WebOrNode::Web }));
        check_args(
            &["wasm", "--node", "--out", "www/pkg"],
            Ok(Task::Wasm { out: Some("www/pkg".into()), target: WebOrNode::Node }),
        );
        check_args(&["crash"], Ok(Task::Crash { kills: 100, seed: 1 }));
        check_args(&["liveness"], Ok(Task::Liveness { down_slots: 4_600 }));
        check_args(&["attack"], Ok(Task::Attack { seconds: 30 }));
        check_args(&["attack", "--seconds", "60"], Ok(Task::Attack { seconds: 60 }));
        check_args(&["liveness", "--down-slots", "9000"], Ok(Task::Liveness { down_slots: 9_000 }));
        check_args(
            &["crash", "--seed", "7", "--kills", "3"],
            Ok(Task::Crash { kills: 3, seed: 7 }),
        );
        check_args(&["sim"], Ok(Task::Sim { options: vec![] }));
        check_args(
            &["sim", "--seeds", "10000", "--start", "5"],
            Ok(Task::Sim { options: args(&["--seeds", "10000", "--start", "5"]) }),
        );
        check_args(
            &["sim", "--seed", "2295", "--log"],
            Ok(Task::Sim { options: args(&["--seed", "2295", "--log"]) }),
        );
        check_args(
            &["sim", "--long", "--slots", "6000", "--seed", "8"],
            Ok(Task::Sim { options: args(&["--long", "--slots", "6000", "--seed", "8"]) }),
        );
        check_args(
            &["sim", "--long", "--plan"],
            Ok(Task::Sim { options: args(&["--long", "--plan"]) }),
        );
        check_args(&["help"], Ok(Task::Help));
        check_args(&["--help"], Ok(Task::Help));
    }

    #[test]
    fn rejects_bad_arguments() {
        check_args(&[], Err(UsageError::NoTask));
        check_args(&["deploy"], Err(UsageError::UnknownTask("deploy".to_owned())));
        check_args(
            &["crash", "--kills", "many"],
            Err(UsageError::UnknownOption {
                task: "crash",
                option: "--kills (needs a number)".to_owned(),
            }),
        );
        check_args(
            &["sim", "--seed", "x"],
            Err(UsageError::UnknownOption {
                task: "sim",
                option: "--seed (needs a number)".into(),
            }),
        );
        check_args(
            &["sim", "--long", "--slots"],
            Err(UsageError::UnknownOption {
                task: "sim",
                option: "--slots (needs a number)".into(),
            }),
        );
        check_args(
            &["bench", "--slow"],
            Err(UsageError::UnknownOption { task: "bench", option: "--slow".to_owned() }),
        );
        check_args(
            &["devnet", "--validators"],
            Err(UsageError::UnknownOption {
                task: "devnet",
                option: "--validators (needs a value)".to_owned(),
            }),
        );
        check_args(
            &["wasm", "--out"],
            Err(UsageError::UnknownOption {
                task: "wasm",
                option: "--out (needs a value)".to_owned(),
            }),
        );
        check_args(
            &["test", "--all"],
            Err(UsageError::UnknownOption { task: "test", option: "--all".to_owned() }),
        );
    }

    #[test]
    fn finds_missing_targets() {
        let output = "x86_64-unknown-linux-gnu\nwasm32-unknown-unknown\n\n";
        let installed = parse_installed_targets(output);
        assert_eq!(installed, ["x86_64-unknown-linux-gnu", "wasm32-unknown-unknown"]);
        assert_eq!(
            missing_targets(&installed, &["wasm32-unknown-unknown", "fake-none-target"]),
            ["fake-none-target"]
        );
        assert_eq!(missing_targets(&installed, &["wasm32-unknown-unknown"]), [] as [&str; 0]);
        assert_eq!(missing_targets(&[], &NO_STD_TARGETS), NO_STD_TARGETS);
    }

    #[test]
    fn parses_crlf_and_indented_output() {
        let installed =
            parse_installed_targets("  thumbv7m-none-eabi\r\nwasm32-unknown-unknown\r\n");
        assert_eq!(missing_targets(&installed, &NO_STD_TARGETS), [] as [&str; 0]);
    }

    #[test]
    fn prints_commands_as_they_run() {
        let doc = cargo(["doc", "-p", CORE, "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings");
        assert_eq!(doc.to_string(), "RUSTDOCFLAGS=-Dwarnings cargo doc -p memecoin-core --no-deps");
        let bench = Cmd::new("cargo").args(["bench", "--bench", "*", "--", "--quick"]);
        assert_eq!(bench.to_string(), "cargo bench --bench '*' -- --quick");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn reads_locked_versions_and_test_counts() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(locked_version(lock, "wasm-bindgen-cli"), None);
        let out = "running 0 tests\ntest result: ok. 0 passed; 0 failed\n\
                   test result: ok. 7 passed; 0 failed; 0 ignored\n";
        assert_eq!(passed_tests(out), Some(7));
        assert_eq!(passed_tests("test result: ok. 0 passed; 0 failed"), Some(0));
        assert_eq!(passed_tests("no tests to run!"), None);
    }

    #[test]
    fn gzips_like_gzip() {
        // 20 bytes of gzip header and trailer around a few bytes of deflate.
        let zeros = gzip_len(&[0; 100_000]).unwrap();
        assert!((20..200).contains(&zeros), "{zeros}");
        let text = gzip_len(b"hello").unwrap();
        assert!((20..40).contains(&text), "{text}");
    }

    #[test]
    fn parses_fuzz_options() {
        check_args(
            &["fuzz"],
            Ok(Task::Fuzz { seconds: 60, seeds: false, merge: false, targets: vec![] }),
        );
        check_args(
            &["fuzz", "--seconds", "5", "--merge", "decode", "relay_ws"],
            Ok(Task::Fuzz {
                seconds: 5,
                seeds: false,
                merge: true,
                targets: args(&["decode", "relay_ws"]),
            }),
        );
        check_args(
            &["fuzz", "--seconds"],
            Err(UsageError::UnknownOption {
                task: "fuzz",
                option: "--seconds (needs a number)".to_owned(),
            }),
        );
        check_args(
            &["fuzz", "nothing"],
            Err(UsageError::UnknownOption { task: "fuzz", option: "nothing".to_owned() }),
        );
    }

    #[test]
    fn reads_libfuzzer_output() {
        let log = "#4096\tpulse  cov: 10 exec/s: 2048\n#9000\tDONE   cov: 12\n\
                   stat::number_of_executed_units: 9000\nstat::peak_rss_mb: 40\n";
        assert_eq!(fuzz_executions(log), Some(9000));
        assert_eq!(fuzz_executions("Done 64 runs in 0 second(s)\n"), Some(64));
        assert_eq!(fuzz_executions("INFO: Seed: 1\n"), None);
        let crash = "==1== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='x/'; Test unit written to fuzz/artifacts/decode/crash-ab\n";
        assert_eq!(fuzz_artifact(crash).as_deref(), Some("fuzz/artifacts/decode/crash-ab"));
        assert_eq!(fuzz_artifact(log), None);
    }

    #[test]
    fn fuzz_targets_have_sources_and_corpora() {
        let fuzz = workspace_root().join("fuzz");
        for target in FUZZ_TARGETS {
            assert!(fuzz.join(format!("fuzz_targets/{target}.rs")).exists(), "{target}");
            assert!(fuzz.join(format!("corpus/{target}")).is_dir(), "{target}");
        }
    }

    #[test]
    fn root_is_the_workspace() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
            .expect("the workspace root has a Cargo.toml");
        assert!(manifest.contains("[workspace]"));
    }
}
