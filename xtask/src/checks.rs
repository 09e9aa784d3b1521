//! Checks of the workspace that are not a tool's own: every dependency within the declared
//! `rust-version`.

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
