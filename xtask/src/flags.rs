//! The command line: the tasks (`Task`), their options, and the usage text that lists them.

use std::fmt;
use std::path::PathBuf;

use crate::fuzz::{FUZZ_DEFAULT_SECONDS, FUZZ_TARGETS};
use crate::soak::Soak;
use crate::wasm::WebOrNode;

pub(crate) const USAGE: &str = "\
Usage: cargo xtask <task> [options]

Tasks:
  test            Install the tools the checks need, then run the CI checks, in order,
                  stopping at the first failure:
                    1. fmt      cargo fmt --all -- --check (and fuzz/, a workspace
                                  of its own)
                    2. clippy   cargo clippy --workspace --all-targets -- -D warnings
                    3. cycles   cargo xtask cycles (below)
                    4. page     cargo xtask page (below)
                    5. test     cargo test --workspace (the whole-system tests build the
                                wasm crate with wasm-pack and run it in Node.js 20+, and
                                drive the wallet page and the npm package in Chromium)
                    6. sim      cargo run -p memecoin-sim -- --seeds 120 (the consensus
                                simulation, below; the test step's debug build)
                    7. soak     cargo xtask soak --quick --blocks 150 --every 2 (below)
                    8. no_std   cargo build -p memecoin-core -p memecoin-wallet
                                  --no-default-features --target <t>
                                  (wasm32-unknown-unknown, thumbv7m-none-eabi)
                    9. doc      RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
                   10. wasm     wasm-pack test --node wasm
                                wasm-pack test --headless --chrome wasm
                                  (each must report at least one passed test)
                   11. size     the gzipped size of the served .wasm that step 4 built
                                  (www/pkg): fails above the 158,000-byte budget
                   12. image    cargo xtask image without its page step (below): the
                                  relay's musl release build and podman build
                   13. testnet  cargo xtask testnet testnet/ci.toml (below) on the
                                  image's relay: 5 hosts, a partition, a kill -9, a
                                  pause, a slow and lossy link, a clock stepped (root)
                   14. fuzz     cargo xtask fuzz --seconds 5 (below), built unoptimized
                                  (cargo fuzz --dev): every fuzz target over its
                                  committed corpus, then 5 s of fuzzing
                   15. sim long cargo run -p memecoin-sim -- --long --slots 6000
                                  --start 19 --seeds 2 (long-mode smoke: stalls
                                  beyond 4,096 slots, a 32-reveal chain, churn)
                  Installs missing rustfmt/clippy components and no_std targets with rustup,
                  wasm-bindgen-cli (the version in Cargo.lock), wasm-pack and cargo-fuzz
                  (pinned) with cargo, chromium, chromium-driver, musl-tools and podman
                  and iproute2 with apt-get.
  page            Build the wallet page: the served wasm (cargo xtask wasm) into
                  www/pkg, npm ci in www/ (QR module, copied to www/vendor) and in
                  tests/e2e/ (playwright-core); prints the first load's gzipped size.
                  Puts the same wasm in the npm package client/ (@memecoin/client) and
                  packs it (npm pack) into target/npm/.
  client          Build the npm package @memecoin/client alone: the served wasm into
                  client/pkg, then npm pack into target/npm/ (a tarball that
                  `npm install` takes; examples/pay uses it).
  image           Build the container image localhost/memecoin-relay (the root
                  Containerfile, FROM scratch): the page (cargo xtask page), the relay in
                  release for x86_64-unknown-linux-musl (checked static), staged with the
                  page's files in target/image/context (the binary there,
                  target/image/context/memecoin-relay, is the one the image holds), then
                  podman build --pull=never, tagged with the version and latest. Installs
                  the musl target with rustup, musl-tools and podman with apt-get.
  cycles          Fail on a cycle between the modules of a crate: for each library and
                  binary of the workspace, which top-level module names which, by every
                  `crate::` and `super::` path outside comments and #[cfg(test)] code
                  (strings in attributes included); prints each cycle, each step of it
                  with the file and line of one path that makes it.
  bench [--quick] Run the criterion benchmarks of memecoin-core (k256 against libsecp256k1,
                  block validation, state tree, encoding) and of the relay's block import
                  (signature cache, all cores); print the gzipped size of the release .wasm;
                  time ECDSA sign/verify in Node: our wasm against @noble/curves and
                  tiny-secp256k1 (bench/wasm, `npm ci` on first run), a finality certificate
                  and a light client's catch-up over 100,000 blocks; run a 4-validator
                  devnet under memecoin-load (transfers over /ws at rising rates); time a
                  relay's checkpoint sync of 10,000 accounts (relay/tests/checkpoint.rs). Ends with
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
  soak [--blocks N] [--validators V] [--slot-ms MS] [--rate TPS] [--every S]
       [--pruning archive|W] [--quick]
                  A devnet of V validators (default 4) on MS-millisecond slots (default
                  100) under a steady TPS transfers a second (default 20, memecoin-load
                  --repeat), release build, until the head reaches N (default 100,000):
                  samples database size, resident memory, CPU and finality lag every S
                  seconds (default 10) into target/soak/soak.jsonl, draws
                  target/soak/soak.png, and prints the end against a tenth of the way.
                  --pruning: what each validator keeps (the relay's default: pruned).
                  --quick: the debug build and no chart (`cargo xtask test` runs 150 blocks).
  liveness [--down-slots N]
                  Liveness for days on release relays, each its own process
                  (relay/tests/liveness.rs, `memecoin-relay genesis --devnet` specs, short slots):
                  a 32-reveal validator proposes past 400 blocks (it renews its hash chain),
                  and of two equal validators one is down N slots (default 4,600, 50 ms
                  each); finality comes back without it and again with it. `cargo xtask
                  test` runs the same file on debug binaries.
  testnet [MANIFEST...]
                  Relays and validators as separate hosts on this machine (root; iproute2,
                  installed if missing): each a network namespace with its own address on
                  one bridge, its own process (the image's static relay, built as
                  `cargo xtask image` builds it) and data dir, every link
                  through a proxy of the testnet's (delay, loss, partitions); the scenario
                  of each TOML manifest (default: every testnet/*.toml but ci.toml): hosts,
                  stakes, slot length, a host's clock, timed faults (partition, kill -9 and
                  restart, SIGSTOP, delay and loss, a clock stepped while it runs). Checks no
                  conflicting finalized blocks, finality back within the manifest's bound
                  after every fault and never stalled outside one, one chain on every host
                  at the end, no ERROR or panic in a log; report in target/testnet/<name>/report.json. `cargo xtask
                  test` runs testnet/ci.toml.
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
pub(crate) enum Task {
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
    Soak(Soak),
    Testnet {
        manifests: Vec<PathBuf>,
    },
    Fuzz {
        seconds: u64,
        seeds: bool,
        merge: bool,
        targets: Vec<String>,
    },
    Page,
    Client,
    Image,
    Cycles,
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
pub(crate) enum UsageError {
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

pub(crate) fn parse_args(args: &[String]) -> Result<Task, UsageError> {
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
        "client" => no_options("client", Task::Client),
        "image" => no_options("image", Task::Image),
        "cycles" => no_options("cycles", Task::Cycles),
        "devnet" => {
            let valued = ["--listen", "--data-dir", "--validators"];
            let options = passed_on("devnet", rest, &valued, Value::Text, &[])?;
            Ok(Task::Devnet { options })
        }
        "wallet" => {
            let valued = ["--genesis", "--relay", "--checkpoint-source", "--out"];
            let options = passed_on("wallet", rest, &valued, Value::Text, &[])?;
            if !options.iter().any(|o| o == "--genesis") {
                return Err(UsageError::UnknownOption {
                    task: "wallet",
                    option: "(missing --genesis FILE: the chain spec the bundle pins)".into(),
                });
            }
            Ok(Task::Wallet { options })
        }
        "sim" => {
            let valued = ["--seeds", "--start", "--seed", "--validators", "--jobs", "--slots"];
            let switches = ["--log", "--long", "--plan"];
            let options = passed_on("sim", rest, &valued, Value::Number, &switches)?;
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
        "soak" => parse_soak(rest),
        "testnet" => match rest.iter().find(|a| a.starts_with('-')) {
            Some(option) => {
                Err(UsageError::UnknownOption { task: "testnet", option: option.clone() })
            }
            None => Ok(Task::Testnet { manifests: rest.iter().map(PathBuf::from).collect() }),
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

fn parse_soak(rest: &[String]) -> Result<Task, UsageError> {
    let bad = |option: String| UsageError::UnknownOption { task: "soak", option };
    let mut soak = Soak::default();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        let mut number = |name: &str| {
            words
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| bad(format!("{name} (needs a number)")))
        };
        match word.as_str() {
            "--blocks" => soak.blocks = number("--blocks")?,
            "--validators" => {
                soak.validators = u32::try_from(number("--validators")?)
                    .map_err(|_| bad("--validators (too many)".into()))?
            }
            "--slot-ms" => soak.slot_ms = number("--slot-ms")?,
            "--rate" => {
                soak.rate =
                    u32::try_from(number("--rate")?).map_err(|_| bad("--rate (too high)".into()))?
            }
            "--every" => soak.every = number("--every")?.max(1),
            "--pruning" => {
                let value = words.next().ok_or_else(|| bad("--pruning (needs a value)".into()))?;
                soak.pruning = Some(value.clone());
            }
            "--quick" => soak.quick = true,
            _ => return Err(bad(word.clone())),
        }
    }
    Ok(Task::Soak(soak))
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

/// What an option of [`passed_on`] takes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Text,
    Number,
}

/// The options of a task that xtask hands to another program (devnet, wallet, sim), checked
/// here so that a typo fails before a long build: each of `valued` takes the next word, each of
/// `switches` stands alone. Returns them as given.
fn passed_on(
    task: &'static str,
    rest: &[String],
    valued: &[&str],
    value: Value,
    switches: &[&str],
) -> Result<Vec<String>, UsageError> {
    let mut options = Vec::new();
    let mut words = rest.iter();
    while let Some(option) = words.next() {
        if switches.contains(&option.as_str()) {
            options.push(option.clone());
            continue;
        }
        if !valued.contains(&option.as_str()) {
            return Err(UsageError::UnknownOption { task, option: option.clone() });
        }
        let fits = |v: &&String| value == Value::Text || v.parse::<u64>().is_ok();
        let Some(word) = words.next().filter(fits) else {
            let needs = if value == Value::Text { "a value" } else { "a number" };
            return Err(UsageError::UnknownOption {
                task,
                option: format!("{option} (needs {needs})"),
            });
        };
        options.push(option.clone());
        options.push(word.clone());
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
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
        check_args(&["client"], Ok(Task::Client));
        check_args(&["image"], Ok(Task::Image));
        check_args(&["cycles"], Ok(Task::Cycles));
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
        check_args(&["soak"], Ok(Task::Soak(Soak::default())));
        check_args(
            &[
                "soak",
                "--blocks",
                "300",
                "--slot-ms",
                "50",
                "--rate",
                "5",
                "--every",
                "2",
                "--pruning",
                "archive",
                "--quick",
            ],
            Ok(Task::Soak(Soak {
                blocks: 300,
                slot_ms: 50,
                rate: 5,
                every: 2,
                pruning: Some("archive".into()),
                quick: true,
                ..Soak::default()
            })),
        );
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
            &["cycles", "--fix"],
            Err(UsageError::UnknownOption { task: "cycles", option: "--fix".to_owned() }),
        );
        check_args(
            &["test", "--all"],
            Err(UsageError::UnknownOption { task: "test", option: "--all".to_owned() }),
        );
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
}
