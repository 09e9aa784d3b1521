//! Checks of the workspace that no tool makes: every dependency within the declared
//! `rust-version`, and no cycle between the modules of a crate.

mod cycles;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::run::{Failure, Run};

/// The workspace's declared `rust-version` must be at least every dependency's: a package that
/// needs a newer compiler than the one we declare makes the declaration a lie. Read from
/// `cargo metadata` (every package the lock file resolves, whatever the platform or feature).
pub(crate) fn check_rust_version(run: &mut Run) -> Result<(), Failure> {
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

/// No cycle between the top-level modules of any crate of the workspace (each library and each
/// binary): modules that need each other are one module in two files, understood, tested and
/// changed only together. Fails listing every cycle, each step of it with a place that takes it.
pub(crate) fn module_cycles(run: &mut Run) -> Result<(), Failure> {
    let failure = |reason: String| Failure {
        step: "module cycles".into(),
        command: "cargo xtask cycles".into(),
        reason,
        hint: Some(
            "cut each cycle at one of its steps: move what both modules need below them both, \
             or pass it in"
                .into(),
        ),
    };
    let mut report = String::new();
    let mut found = 0;
    for (name, file) in crate_roots(&run.root).map_err(failure)? {
        let graph = cycles::crate_graph(&file).map_err(|e| failure(e.to_string()))?;
        let tangles = cycles::tangles(&graph);
        let shown = file.strip_prefix(&run.root).unwrap_or(&file).display().to_string();
        let tangled: usize = tangles.iter().map(Vec::len).sum();
        let modules = match graph.len() {
            0 => "no modules".to_owned(),
            1 => "1 module".to_owned(),
            n if tangled == 0 => format!("{n} modules, no cycle"),
            n => format!("{n} modules, {tangled} of them in cycles"),
        };
        println!("{name} ({shown}): {modules}");
        for tangle in &tangles {
            report.push_str(&format!("{name}: {} reach each other\n", tangle.join(", ")));
            for cycle in cycles::cycles(&graph, tangle) {
                found += 1;
                report.push_str(&format!("  {}\n", cycle.join(" → ")));
                for step in cycle.windows(2) {
                    let place = &graph[&step[0]][&step[1]];
                    let file = place.file.strip_prefix(&run.root).unwrap_or(&place.file);
                    let more = match place.count {
                        1 => String::new(),
                        n => format!(" (and {} more)", n - 1),
                    };
                    let step = format!("{} → {}", step[0], step[1]);
                    let at = format!("{}:{}", file.display(), place.line);
                    report.push_str(&format!("    {step:<24} {at}{more}\n"));
                }
            }
        }
    }
    if found == 0 {
        println!("no cycle between the modules of any crate");
        return Ok(());
    }
    Err(failure(format!("{found} cycles between modules:\n{}", report.trim_end())))
}

/// The root file of every library and binary of the workspace, named for the report
/// (`memecoin-relay`, `memecoin-relay bin memecoin-load`), as `cargo metadata` lists them.
/// Tests, benches, examples and build scripts are crates of their own, not the package's modules.
fn crate_roots(root: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("cargo metadata failed".into());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let mut roots = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let package_name = package["name"].as_str().unwrap_or("?");
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .collect();
            let (Some(name), Some(file)) = (target["name"].as_str(), target["src_path"].as_str())
            else {
                continue;
            };
            if kinds.contains(&"bin") {
                roots.push((format!("{package_name} bin {name}"), file.into()));
            } else if !kinds
                .iter()
                .any(|k| ["test", "bench", "example", "custom-build"].contains(k))
            {
                roots.push((package_name.to_owned(), file.into()));
            }
        }
    }
    roots.sort();
    Ok(roots)
}
