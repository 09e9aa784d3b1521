//! The tool installers: each `ensure_*` finds a tool a task needs (a rustup component or target,
//! wasm-bindgen, wasm-pack, wasm-opt, cargo-fuzz, Chromium, musl-gcc, podman) at the version it
//! needs, or installs it, or fails saying how to.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::run::{Cmd, Failure, Run, cargo, spawn_error, succeeds_quietly};

/// The pinned wasm-opt: a Node project (package.json, package-lock.json) holding npm's `binaryen`,
/// and `check.mjs`, which loads a finished build and checks it against the vectors.
pub(crate) const WASM_TOOLS: &str = "tools/wasm";

/// Debian's chromium and chromium-driver, which `wasm-pack test --chrome` drives.
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// cargo-fuzz, pinned; installed with `cargo install --locked` when missing or at another version.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Installs `wasm-bindgen-cli` at exactly the version of the `wasm-bindgen` crate in Cargo.lock,
/// unless `wasm-bindgen --version` already says that version. wasm-pack uses the one on `PATH`
/// when it matches, and cannot download one here.
pub(crate) fn ensure_wasm_bindgen(run: &mut Run) -> Result<(), Failure> {
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
pub(crate) fn ensure_cargo_fuzz(run: &mut Run) -> Result<(), Failure> {
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

pub(crate) fn ensure_wasm_pack(run: &mut Run) -> Result<(), Failure> {
    if succeeds_quietly(&Cmd::new("wasm-pack").args(["--version"])) {
        return Ok(());
    }
    let install = cargo(["install", "wasm-pack", "--locked"]);
    run.exec_with_hint("install wasm-pack", &install, "`cargo install wasm-pack --locked`")
}

/// Installs Debian's chromium and chromium-driver (as root) if either is missing.
pub(crate) fn ensure_chromium(run: &mut Run) -> Result<(), Failure> {
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

/// Installs Debian's `musl-tools` (as root) if `musl-gcc` is missing: ring, under rustls, has C
/// code that the musl build of the relay (`cargo xtask image`) compiles with it.
pub(crate) fn ensure_musl_gcc(run: &mut Run) -> Result<(), Failure> {
    if succeeds_quietly(&Cmd::new("musl-gcc").args(["--version"])) {
        return Ok(());
    }
    println!("musl-gcc is missing: installing musl-tools");
    apt_install(run, "musl-tools", &["musl-tools"])
}

/// Installs Debian's `podman` (as root) if it is missing: `cargo xtask image` builds with it.
pub(crate) fn ensure_podman(run: &mut Run) -> Result<(), Failure> {
    if succeeds_quietly(&Cmd::new("podman").args(["--version"])) {
        return Ok(());
    }
    println!("podman is missing: installing it");
    apt_install(run, "podman", &["podman"])
}

/// `apt-get update`, then `apt-get install -y packages`, failing with how to do it by hand.
fn apt_install(run: &mut Run, name: &str, packages: &[&str]) -> Result<(), Failure> {
    let hint = format!(
        "install {name} as root: `apt-get update && apt-get install -y {}` (Debian/Ubuntu \
         package names)",
        packages.join(" ")
    );
    run.exec_with_hint("apt-get update", &Cmd::new("apt-get").args(["update"]), &hint)?;
    let install = Cmd::new("apt-get").args(["install", "-y"]).args(packages.iter().copied());
    run.exec_with_hint(&format!("install {name}"), &install, &hint)
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

/// The pinned wasm-opt, once `tools/wasm/node_modules` is installed.
pub(crate) fn wasm_opt_path(root: &Path) -> PathBuf {
    root.join(WASM_TOOLS).join("node_modules/binaryen/bin/wasm-opt")
}

/// Installs npm's `binaryen` at the version in `tools/wasm/package-lock.json` (`npm ci`) unless
/// `tools/wasm/node_modules` holds it already.
pub(crate) fn ensure_wasm_opt(run: &mut Run) -> Result<(), Failure> {
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

/// Installs `rustfmt` and `clippy` if `cargo fmt` or `cargo clippy` do not answer `--version`.
pub(crate) fn ensure_components(run: &mut Run) -> Result<(), Failure> {
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
pub(crate) fn ensure_targets(run: &mut Run, targets: &[&str]) -> Result<(), Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NO_STD_TARGETS;

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
    fn reads_locked_versions() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").as_deref(), Some("0.2.130"));
        assert_eq!(locked_version(lock, "wasm-bindgen-cli"), None);
    }
}
