//! `cargo xtask fuzz`: builds the fuzz targets with cargo-fuzz on the stable toolchain and runs
//! each on its committed corpus, reporting executions per target and the command that replays a
//! crash. `cargo xtask test` runs the same, briefly, as a smoke pass.

use std::path::Path;
use std::process::Stdio;

use crate::run::{Cmd, Failure, Run, cargo, spawn_error};
use crate::target_dir;
use crate::tools::ensure_cargo_fuzz;

/// The fuzz targets (`fuzz/fuzz_targets/*.rs`), each with a committed corpus in `fuzz/corpus/`.
pub(crate) const FUZZ_TARGETS: [&str; 9] = [
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
pub(crate) const FUZZ_SMOKE_SECONDS: u64 = 5;

pub(crate) const FUZZ_DEFAULT_SECONDS: u64 = 60;

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
pub(crate) enum FuzzBuild {
    Release,
    Dev,
}

/// Builds the fuzz targets, then runs each for `seconds` on its committed corpus (read only)
/// and a scratch corpus under the target dir. Prints executions per target; fails on the first
/// crash with the command that reproduces it.
pub(crate) fn fuzz(
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let fuzz = crate::workspace_root().join("fuzz");
        for target in FUZZ_TARGETS {
            assert!(fuzz.join(format!("fuzz_targets/{target}.rs")).exists(), "{target}");
            assert!(fuzz.join(format!("corpus/{target}")).is_dir(), "{target}");
        }
    }
}
