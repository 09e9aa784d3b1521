//! The container image (`cargo xtask image`, and a step of `cargo xtask test`): the relay built
//! static for musl, the wallet page, and nothing else, `FROM scratch` (the root `Containerfile`).
//!
//! The binary is built here, by cargo on the host, and copied into the image: podman builds
//! offline on these machines (no registry to pull a Rust image from), and a testnet runs the
//! very file the image holds ([`relay_binary`]). The build context is staged under the target
//! directory ([`CONTEXT`]): `memecoin-relay`, `www/` (the page's files as `cargo xtask page`
//! built them, with their `.gz`), `data/` (empty: the volume's mount point, owned by the
//! image's user).

use std::path::{Path, PathBuf};

use crate::run::{Cmd, Failure, Run, cargo};
use crate::target_dir;
use crate::tools::{ensure_musl_gcc, ensure_podman, ensure_targets};
use crate::wasm::{WWW, page, page_files};

/// The relay's target: statically linked with musl, so the image needs no C library.
pub(crate) const MUSL: &str = "x86_64-unknown-linux-musl";

/// The build context, relative to Cargo's target directory.
pub(crate) const CONTEXT: &str = "image/context";

/// The Cargo profile of the image's relay (root Cargo.toml): release without debug info.
const PROFILE: &str = "image";

/// The relay in the build context: the file the image's `/memecoin-relay` is a copy of.
pub(crate) const BINARY: &str = "memecoin-relay";

/// The image's name (podman's local images are `localhost/…`); tagged `latest` and with the
/// workspace's version.
pub(crate) const IMAGE: &str = "localhost/memecoin-relay";

/// The Containerfile, at the workspace root.
const CONTAINERFILE: &str = "Containerfile";

/// `cargo xtask image`: the page (`cargo xtask page`), then [`build`].
pub(crate) fn image(run: &mut Run) -> Result<(), Failure> {
    page(run)?;
    build(run)
}

/// The image from the page already built in `www/`: the static relay ([`relay_binary`]), the
/// context staged, then `podman build` (installed with apt-get if missing), offline.
pub(crate) fn build(run: &mut Run) -> Result<(), Failure> {
    let binary = relay_binary(run)?;
    let context = binary.parent().map(Path::to_path_buf).unwrap_or_default();
    run.step("image context", |run| stage(&run.root.join(WWW), &context))?;
    run.step("podman", ensure_podman)?;
    let version = env!("CARGO_PKG_VERSION");
    let build = Cmd::new("podman")
        .args(["build", "--pull=never", "--file", CONTAINERFILE])
        .args(["--tag", &format!("{IMAGE}:{version}"), "--tag", &format!("{IMAGE}:latest")])
        .args([context.display().to_string()]);
    run.exec_with_hint(
        "image build",
        &build,
        "podman must build images (as root, or rootless with subuids); `podman info` says why \
         it cannot",
    )?;
    println!("image {IMAGE}:{version} (and :latest), relay {}", binary.display());
    Ok(())
}

/// Where [`relay_binary`] puts the relay: `<target>/image/context/memecoin-relay`, the file the
/// image holds. A testnet runs this file to run what the image runs.
pub(crate) fn relay_binary_path(root: &Path) -> PathBuf {
    target_dir(root).join(CONTEXT).join(BINARY)
}

/// Builds the relay in release ([`PROFILE`]) for [`MUSL`] (installing the target with rustup and `musl-gcc`,
/// which ring's C code needs, with apt-get, if missing), checks that it is statically linked,
/// and copies it to [`relay_binary_path`]; returns that path.
pub(crate) fn relay_binary(run: &mut Run) -> Result<PathBuf, Failure> {
    run.step("musl target", |run| ensure_targets(run, &[MUSL]))?;
    run.step("musl-gcc", ensure_musl_gcc)?;
    let build = cargo(["build", "--profile", PROFILE, "-p", "memecoin-relay", "--target", MUSL]);
    run.exec("relay musl", &build)?;
    let built = target_dir(&run.root).join(MUSL).join(PROFILE).join(BINARY);
    let staged = relay_binary_path(&run.root);
    run.step("relay static", |_| {
        let failure = |command: String, reason: String| Failure {
            step: "relay static".into(),
            command,
            reason,
            hint: None,
        };
        let read = format!("read {}", built.display());
        let bytes = std::fs::read(&built).map_err(|e| failure(read.clone(), e.to_string()))?;
        match elf_interpreter(&bytes) {
            Some(false) => {}
            Some(true) => {
                return Err(failure(read, "dynamically linked: it names an interpreter".into()));
            }
            None => return Err(failure(read, "not a 64-bit little-endian ELF file".into())),
        }
        let copy = format!("copy {} to {}", built.display(), staged.display());
        let dir = staged.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::copy(&built, &staged))
            .map_err(|e| failure(copy, e.to_string()))?;
        println!("{}: static, {:.1} MB", staged.display(), bytes.len() as f64 / 1e6);
        Ok(())
    })?;
    Ok(staged)
}

/// Fills `context` beside the relay already there: `www/` with the page's files from `www`
/// (each before its `.gz`, so the copy is never older than the file and the relay serves it),
/// and an empty `data/`.
fn stage(www: &Path, context: &Path) -> Result<(), Failure> {
    let failure = |command: String, error: std::io::Error| Failure {
        step: "image context".into(),
        command,
        reason: error.to_string(),
        hint: Some("run `cargo xtask page` first (`cargo xtask image` does)".into()),
    };
    for dir in ["www", "data"] {
        let path = context.join(dir);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .map_err(|e| failure(format!("remove {}", path.display()), e))?;
        }
        std::fs::create_dir_all(&path)
            .map_err(|e| failure(format!("create {}", path.display()), e))?;
    }
    for file in page_files(www) {
        for name in [file.clone(), format!("{file}.gz")] {
            let (from, to) = (www.join(&name), context.join("www").join(&name));
            if name.ends_with(".gz") && !from.exists() {
                continue;
            }
            let copy = format!("copy {} to {}", from.display(), to.display());
            let dir = to.parent().unwrap_or(context);
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::copy(&from, &to))
                .map_err(|e| failure(copy, e))?;
        }
    }
    Ok(())
}

/// Whether an ELF file names a program interpreter (`PT_INTERP`: the dynamic loader), or
/// `None` if `elf` is not a 64-bit little-endian ELF file. A static-pie musl binary has none.
fn elf_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| Some(u16::from_le_bytes(*elf.get(at..)?.first_chunk()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(*elf.get(at..)?.first_chunk()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(*elf.get(at..)?.first_chunk()?));
    // Magic, ELFCLASS64, ELFDATA2LSB.
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?);
    let phoff = usize::try_from(phoff).ok()?;
    (0..usize::from(phnum))
        .map(|i| u32_at(i.checked_mul(usize::from(phentsize))?.checked_add(phoff)?))
        .try_fold(false, |found, kind| Some(found || kind? == PT_INTERP))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit ELF header with `kinds` as its program headers' types.
    fn elf(kinds: &[u32]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..6].copy_from_slice(b"\x7fELF\x02\x01");
        out[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        out[0x38..0x3a].copy_from_slice(&(kinds.len() as u16).to_le_bytes());
        for kind in kinds {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            out.extend(header);
        }
        out
    }

    #[test]
    fn tells_static_from_dynamic() {
        // PT_LOAD, PT_DYNAMIC, PT_GNU_STACK: a static-pie binary.
        assert_eq!(elf_interpreter(&elf(&[1, 2, 0x6474_e551])), Some(false));
        // PT_PHDR, PT_INTERP, PT_LOAD: a dynamically linked one.
        assert_eq!(elf_interpreter(&elf(&[6, 3, 1])), Some(true));
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        // Program headers beyond the end of the file.
        let mut cut = elf(&[1, 3]);
        cut.truncate(80);
        assert_eq!(elf_interpreter(&cut), None);
    }

    #[test]
    fn reads_this_machines_binaries() {
        // The test binary itself: built for the host, dynamically linked on glibc hosts.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(elf_interpreter(&me).is_some());
    }

    #[test]
    fn the_binary_is_in_the_context() {
        let path = relay_binary_path(Path::new("/repo"));
        assert!(path.ends_with("image/context/memecoin-relay"), "{}", path.display());
    }
}
