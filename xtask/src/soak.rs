//! `cargo xtask soak`: a devnet of several validators on short slots under a steady load of
//! transfers, for a given number of blocks, sampled as it goes: database size, resident memory,
//! CPU, and how far finality trails the head. Months of blocks in hours: what grows with the
//! chain shows here, not in production.
//!
//! Output (in `target/soak/`): `soak.jsonl`, one sample a line; `load.jsonl`, the load
//! generator's steps; `soak.png`, the chart (`bench/chart/soak.py`); a summary on stdout with
//! the figures issue-style targets compare (database and memory at the end against a tenth of
//! the way).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{free_port, http_get};
use crate::chart::draw;
use crate::run::{Cmd, Failure, Run, cargo, spawn_error};
use crate::{LOAD, RELAY, target_dir};

/// What `cargo xtask soak` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Soak {
    /// Stop once the head is this high.
    pub blocks: u64,
    pub validators: u32,
    pub slot_ms: u64,
    /// Transfers offered a second.
    pub rate: u32,
    /// Seconds between samples.
    pub every: u64,
    /// The devnet's `--pruning`; `None`: the relay's default.
    pub pruning: Option<String>,
    /// The debug build `cargo xtask test` already made, no chart: the CI's short run.
    pub quick: bool,
}

impl Default for Soak {
    fn default() -> Self {
        Soak {
            blocks: 100_000,
            validators: 4,
            slot_ms: 100,
            rate: 20,
            every: 10,
            pruning: None,
            quick: false,
        }
    }
}

/// One sample of the running devnet.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    seconds: f64,
    height: u64,
    finalized: u64,
    /// Every validator's `chain.redb` together.
    db_bytes: u64,
    rss_bytes: u64,
    /// CPU of the devnet process over the last interval, in cores (1.0 = one core busy).
    cpu: f64,
}

impl Sample {
    fn json(&self) -> String {
        format!(
            "{{\"seconds\":{:.1},\"height\":{},\"finalized\":{},\"finality_lag\":{},\"db_bytes\":{},\"rss_bytes\":{},\"cpu\":{:.3}}}",
            self.seconds,
            self.height,
            self.finalized,
            self.height.saturating_sub(self.finalized),
            self.db_bytes,
            self.rss_bytes,
            self.cpu
        )
    }
}

/// Kills its process when dropped: a failed soak leaves no devnet behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn soak(run: &mut Run, soak: &Soak) -> Result<(), Failure> {
    let profile = if soak.quick { "debug" } else { "release" };
    let mut build = cargo(["build", "-p", RELAY, "-p", LOAD, "--bins"]);
    if !soak.quick {
        build = build.args(["--release"]);
    }
    run.exec(&format!("build relay and load generator ({profile})"), &build)?;
    let bin = target_dir(&run.root).join(profile);
    let out = target_dir(&run.root).join("soak");
    let data = out.join("devnet");
    let _ = std::fs::remove_dir_all(&data);
    let io_failure = |what: &str, e: std::io::Error| {
        Failure::new("soak", &Cmd::new(what), e.to_string(), "check the target directory")
    };
    std::fs::create_dir_all(&out).map_err(|e| io_failure("mkdir", e))?;
    let port = free_port().map_err(|e| io_failure("bind", e))?;
    let listen = format!("127.0.0.1:{port}");
    let devnet = Cmd::new(&bin.join("memecoin-relay").display().to_string()).args([
        "devnet".to_string(),
        "--validators".into(),
        soak.validators.to_string(),
        "--slot-ms".into(),
        soak.slot_ms.to_string(),
        "--listen".into(),
        listen.clone(),
        "--data-dir".into(),
        data.display().to_string(),
        // One loopback address stands for every client of the load generator.
        "--max-connections-per-ip".into(),
        "0".into(),
        "--max-requests-per-ip".into(),
        "0".into(),
    ]);
    let devnet = match &soak.pruning {
        Some(pruning) => devnet.args(["--pruning", pruning.as_str()]),
        None => devnet,
    };
    println!("\n$ {devnet} &");
    let spawn = |cmd: &Cmd, stdout: Stdio| {
        cmd.command(&run.root)
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .map(Killed)
            .map_err(|e| Failure::new("soak", cmd, spawn_error(&e), "build the relay"))
    };
    let mut relay = spawn(&devnet, Stdio::null())?;
    let started = Instant::now();
    while head(&listen).is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(Failure::new("soak", &devnet, "no head within 60 s".into(), "see its log"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let load_log =
        std::fs::File::create(out.join("load.jsonl")).map_err(|e| io_failure("create", e))?;
    let load = Cmd::new(&bin.join("memecoin-load").display().to_string()).args([
        "--url".to_string(),
        format!("ws://{listen}/ws"),
        "--rates".into(),
        soak.rate.to_string(),
        "--seconds".into(),
        "30".into(),
        "--senders".into(),
        "64".into(),
        "--subscribers".into(),
        "0".into(),
        "--repeat".into(),
    ]);
    println!("$ {load} > {} &", out.join("load.jsonl").display());
    let _load = if soak.rate > 0 { Some(spawn(&load, Stdio::from(load_log))?) } else { None };

    let samples_path = out.join("soak.jsonl");
    // Appended a line a sample, so a soak stopped early still leaves what it measured.
    let mut jsonl = std::fs::File::create(&samples_path).map_err(|e| io_failure("create", e))?;
    let mut samples: Vec<Sample> = Vec::new();
    let pid = relay.0.id();
    let mut cpu_before = (cpu_seconds(pid), Instant::now());
    let mut last_growth = (0u64, Instant::now());
    println!(
        "{:>8} {:>9} {:>9} {:>6} {:>10} {:>10} {:>6}",
        "seconds", "height", "finalized", "lag", "db MB", "rss MB", "cpu"
    );
    loop {
        std::thread::sleep(Duration::from_secs(soak.every));
        if let Ok(Some(status)) = relay.0.try_wait() {
            return Err(Failure::new("soak", &devnet, format!("exited: {status}"), "run it alone"));
        }
        let now = Instant::now();
        let Some((height, finalized)) = head(&listen) else {
            // A devnet that no longer answers has stopped as surely as one that makes no block.
            if now.duration_since(last_growth.1) > Duration::from_secs(60) {
                return Err(Failure::new(
                    "soak",
                    &devnet,
                    "no answer for 60 s".into(),
                    "run it alone",
                ));
            }
            continue;
        };
        let cpu_now = cpu_seconds(pid);
        let cpu = (cpu_now - cpu_before.0) / now.duration_since(cpu_before.1).as_secs_f64();
        cpu_before = (cpu_now, now);
        let sample = Sample {
            seconds: started.elapsed().as_secs_f64(),
            height,
            finalized,
            db_bytes: db_bytes(&data),
            rss_bytes: rss_bytes(pid),
            cpu,
        };
        println!(
            "{:>8.0} {:>9} {:>9} {:>6} {:>10.1} {:>10.1} {:>6.2}",
            sample.seconds,
            sample.height,
            sample.finalized,
            sample.height.saturating_sub(sample.finalized),
            sample.db_bytes as f64 / 1e6,
            sample.rss_bytes as f64 / 1e6,
            sample.cpu
        );
        writeln!(jsonl, "{}", sample.json()).map_err(|e| io_failure("write", e))?;
        samples.push(sample);
        if height > last_growth.0 {
            last_growth = (height, now);
        } else if now.duration_since(last_growth.1) > Duration::from_secs(60) {
            return Err(Failure::new(
                "soak",
                &devnet,
                format!("the chain stopped at height {height} for 60 s"),
                "look at the devnet's data dir and run it alone",
            ));
        }
        if height >= soak.blocks {
            break;
        }
    }
    // Stopped as an operator would (SIGTERM), so `db stats` below reads a file closed cleanly
    // rather than one redb must first repair; killed if it takes more than 10 s.
    let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(relay.0.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(relay);
    let mut summary = summary(&samples, soak);
    // What the file holds, table by table, beside its size: the live data apart from the
    // free pages redb grew the file by (it doubles a file that runs out of pages).
    for node in node_dirs(&data) {
        let stats = Cmd::new(&bin.join("memecoin-relay").display().to_string()).args([
            "db".to_string(),
            "stats".into(),
            "--data-dir".into(),
            node.display().to_string(),
        ]);
        match stats.command(&run.root).output() {
            Ok(out) if out.status.success() => {
                summary.push_str(&format!("\n$ {stats}\n{}", String::from_utf8_lossy(&out.stdout)))
            }
            Ok(out) => summary.push_str(&format!(
                "\n$ {stats}\nfailed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => summary.push_str(&format!("\n$ {stats}\nfailed: {e}\n")),
        }
    }
    print!("{summary}");
    std::fs::write(out.join("summary.txt"), &summary).map_err(|e| io_failure("write", e))?;
    if !soak.quick {
        let png = out.join("soak.png");
        let title = format!(
            "soak: {} validators, {} ms slots, {} tx/s",
            soak.validators, soak.slot_ms, soak.rate
        );
        draw(run, "bench/chart/soak.py", &samples_path, &png, &title)?;
        println!("chart: {}", png.display());
    }
    Ok(())
}

/// The figures at a tenth of the way and at the end: the ratios a flat node keeps near 1.
fn summary(samples: &[Sample], soak: &Soak) -> String {
    let at = |height: u64| samples.iter().find(|s| s.height >= height).or(samples.last());
    let (Some(tenth), Some(end)) = (at(soak.blocks / 10), samples.last()) else {
        return "soak: no samples\n".to_owned();
    };
    let ratio = |a: u64, b: u64| a as f64 / (b.max(1)) as f64;
    let lag_max = samples.iter().map(|s| s.height.saturating_sub(s.finalized)).max().unwrap_or(0);
    let cpu_mean = samples.iter().map(|s| s.cpu).sum::<f64>() / samples.len() as f64;
    format!(
        "\nSoak: {} validators, {} ms slots, {} tx/s offered, {} blocks in {:.0} s\n\
         database   {:.1} MB at height {}, {:.1} MB at height {} ({:.2}x)\n\
         memory     {:.1} MB at height {}, {:.1} MB at height {} ({:.2}x)\n\
         cpu        {:.2} cores on average\n\
         finality   at most {} blocks behind the head ({} at the end)\n",
        soak.validators,
        soak.slot_ms,
        soak.rate,
        end.height,
        end.seconds,
        tenth.db_bytes as f64 / 1e6,
        tenth.height,
        end.db_bytes as f64 / 1e6,
        end.height,
        ratio(end.db_bytes, tenth.db_bytes),
        tenth.rss_bytes as f64 / 1e6,
        tenth.height,
        end.rss_bytes as f64 / 1e6,
        end.height,
        ratio(end.rss_bytes, tenth.rss_bytes),
        cpu_mean,
        lag_max,
        end.height.saturating_sub(end.finalized),
    )
}

/// The devnet's head and finalized heights (`/api/head`).
fn head(addr: &str) -> Option<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(&http_get(addr, "/api/head").ok()?).ok()?;
    Some((v["height"].as_u64()?, v["finalized_height"].as_u64()?))
}

/// Every data dir under `data` (one a validator), in name order.
fn node_dirs(data: &Path) -> Vec<PathBuf> {
    let Ok(dirs) = std::fs::read_dir(data) else { return Vec::new() };
    let mut dirs: Vec<PathBuf> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path())
        .filter(|p| p.join("chain.redb").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The size of every `chain.redb` under `data` (one a validator).
fn db_bytes(data: &Path) -> u64 {
    node_dirs(data)
        .iter()
        .filter_map(|d| std::fs::metadata(d.join("chain.redb")).ok())
        .map(|m| m.len())
        .sum()
}

/// Resident memory of `pid` (`VmRSS`).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// CPU time `pid` has used, user and system, in seconds (`/proc/<pid>/stat`, USER_HZ = 100 on
/// Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(height: u64, db: u64, rss: u64) -> Sample {
        Sample {
            seconds: height as f64,
            height,
            finalized: height.saturating_sub(2),
            db_bytes: db,
            rss_bytes: rss,
            cpu: 0.5,
        }
    }

    #[test]
    fn the_summary_compares_the_end_with_a_tenth_of_the_way() {
        let soak = Soak { blocks: 1_000, ..Soak::default() };
        let samples: Vec<Sample> =
            (1..=10).map(|i| sample(i * 100, i * 1_000_000, 50_000_000)).collect();
        let text = summary(&samples, &soak);
        assert!(text.contains("1.0 MB at height 100, 10.0 MB at height 1000 (10.00x)"), "{text}");
        assert!(text.contains("50.0 MB at height 100, 50.0 MB at height 1000 (1.00x)"), "{text}");
        assert!(text.contains("at most 2 blocks behind"), "{text}");
        assert_eq!(summary(&[], &soak), "soak: no samples\n");
    }

    #[test]
    fn samples_are_json_lines() {
        let line = sample(7, 1, 2).json();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["height"], 7);
        assert_eq!(v["finality_lag"], 2);
        assert_eq!(v["rss_bytes"], 2);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_bytes(pid) > 0);
        assert!(cpu_seconds(pid) >= 0.0);
    }
}
