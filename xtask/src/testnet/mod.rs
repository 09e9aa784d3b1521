//! `cargo xtask testnet MANIFEST`: relays and validators as separate hosts on this machine —
//! each a network namespace with its own address, process and data dir — through timed faults
//! read from a manifest (`testnet/*.toml`), then checks on what every host says.
//!
//! Every pair of hosts has one link, through a proxy in this process ([`proxy`]): partitions,
//! delay and loss are the proxies' doing (the kernel here has no `netem`); kill and pause are
//! signals to the host's process; a wrong clock is the relay's `--clock-offset-ms`, and a clock
//! stepped while it runs (a `clock` fault) a file the relay reads again
//! (`--clock-offset-file`). The relays run with `--no-peer-exchange`, so the links are the whole
//! topology.
//!
//! The checks, after the run: (1) no two hosts, at any time, reported different finalized
//! blocks at one height, and every host's chain holds each finalized block seen; (2) after
//! every fault heals, every host's finalized height passes the highest seen before the heal
//! within `finality_bound_s`; (3) outside faults finality never stands still that long; (4) at
//! the end every host is on one chain; (5) no host logged an ERROR the manifest does not allow,
//! or a panic. `target/testnet/<name>/report.json` has the figures; each host's log and data
//! dir stay beside it.

mod manifest;
mod net;
mod proxy;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use manifest::Fault;
pub(crate) use manifest::Manifest;
use net::Net;
use proxy::{Link, Shape};

use crate::run::{Cmd, Failure, Run};
use crate::target_dir;

/// The port every relay listens on, at its host's own address.
const PORT: u16 = 8080;

/// How often the hosts are asked for their head.
const SAMPLE: Duration = Duration::from_millis(500);

/// What a manifest's `[bench]` runs with: the load generator, and the machine's signature
/// bound to report accepted transfers against (`cargo xtask bench` measures it).
pub(crate) struct LoadTools {
    pub load: PathBuf,
    pub bound: Option<f64>,
}

/// Runs the scenario of `manifest_path` with the relay binary `relay`.
pub(crate) fn testnet(run: &mut Run, manifest_path: &Path, relay: &Path) -> Result<(), Failure> {
    testnet_with(run, manifest_path, relay, None)
}

/// [`testnet`], with the tools a `[bench]` needs (without them a `[bench]` is skipped).
pub(crate) fn testnet_with(
    run: &mut Run,
    manifest_path: &Path,
    relay: &Path,
    tools: Option<&LoadTools>,
) -> Result<(), Failure> {
    let fail = |reason: String| {
        Failure::new("testnet", &Cmd::new("cargo xtask testnet"), reason, "see the report above")
    };
    let manifest = Manifest::load(manifest_path).map_err(fail)?;
    let name = manifest_path.file_stem().map_or("testnet".into(), |s| s.to_string_lossy());
    let dir = target_dir(&run.root).join("testnet").join(&*name);
    run.step(&format!("testnet {name}"), |_| {
        let report = scenario(&manifest, relay, &dir, tools).map_err(fail)?;
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        std::fs::write(dir.join("report.json"), &text).map_err(|e| fail(e.to_string()))?;
        print_report(&report);
        match report["failures"].as_array() {
            Some(failures) if !failures.is_empty() => Err(fail(format!(
                "{} check(s) failed (report: {})",
                failures.len(),
                dir.join("report.json").display()
            ))),
            _ => Ok(()),
        }
    })
}

/// What `cargo xtask testnet` needs of the machine: root, and iproute2 (installed if missing).
pub(crate) fn ensure_netns(run: &mut Run) -> Result<(), Failure> {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return Err(Failure::new(
            "testnet",
            &Cmd::new("id -u"),
            "the testnet makes network namespaces, a bridge and veth pairs: it must run as root"
                .into(),
            "run it as root (sudo -E cargo xtask …)",
        ));
    }
    if Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    let hint = "install iproute2 as root: `apt-get update && apt-get install -y iproute2`";
    run.exec_with_hint("apt-get update", &Cmd::new("apt-get").args(["update"]), hint)?;
    run.exec_with_hint(
        "install iproute2",
        &Cmd::new("apt-get").args(["install", "-y", "iproute2"]),
        hint,
    )
}

/// One host: its process (none while killed) and how to start it again.
struct Host {
    name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// A sample of one host's head.
#[derive(Clone)]
struct Sample {
    t: f64,
    height: u64,
    finalized: u64,
    finalized_hash: String,
}

fn scenario(
    manifest: &Manifest,
    relay: &Path,
    dir: &Path,
    tools: Option<&LoadTools>,
) -> Result<Value, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("keys")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let names = manifest.hosts();
    let genesis = dir.join("genesis.json");
    write_genesis(manifest, relay, dir, &genesis)?;

    let net = Net::create(names.len())?;
    // One link per pair: the lower host dials the higher through it.
    let mut links: BTreeMap<(usize, usize), Link> = BTreeMap::new();
    for a in 0..names.len() {
        for b in a + 1..names.len() {
            let to = SocketAddrV4::new(net.host(b), PORT);
            let seed = manifest.seed ^ ((a as u64) << 32 | b as u64);
            let link = Link::start(net.gateway(), net.source(a), to, seed)
                .map_err(|e| format!("link {a}-{b}: {e}"))?;
            links.insert((a, b), link);
        }
    }
    let mut hosts: Vec<Host> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut args: Vec<String> = vec!["run".into(), "--genesis".into()];
            args.push(genesis.display().to_string());
            args.extend(["--data-dir".into(), dir.join(name).display().to_string()]);
            args.extend(["--listen".into(), format!("{}:{PORT}", net.host(i))]);
            args.push("--no-peer-exchange".into());
            for ((a, _), link) in links.iter().filter(|((a, _), _)| *a == i) {
                let _ = a;
                args.extend(["--peer".into(), format!("ws://{}:{}/ws", net.gateway(), link.port)]);
            }
            if i < manifest.validators {
                args.extend(["--validator-key".into(), key_path(dir, name).display().to_string()]);
            }
            if manifest.bench.is_some() {
                // The load generator is many clients on one address (the root namespace's).
                args.extend(["--max-connections-per-ip".into(), "0".into()]);
                args.extend(["--max-requests-per-ip".into(), "0".into()]);
            }
            if let Some(offset) = manifest.clock_ms.get(name) {
                args.push(format!("--clock-offset-ms={offset}"));
            }
            if manifest.faults.iter().any(|f| f.kind == "clock" && f.hosts.contains(name)) {
                let file = clock_file(dir, name);
                let _ = std::fs::remove_file(&file);
                args.extend(["--clock-offset-file".into(), file.display().to_string()]);
            }
            Host {
                name: name.clone(),
                args,
                log: dir.join(format!("{name}.log")),
                child: None,
                paused: false,
            }
        })
        .collect();
    let mut running = Running { net: &net, relay, hosts: &mut hosts };
    for i in 0..names.len() {
        running.start(i)?;
    }
    // A host that cannot start (a bad spec, a port taken) says so in its log at once.
    std::thread::sleep(Duration::from_secs(1));
    let exited = running.hosts.iter_mut().find_map(|host| {
        let status = host.child.as_mut().map(Child::try_wait)?.ok()??;
        let log = std::fs::read_to_string(&host.log).unwrap_or_default();
        let last = log.lines().last().unwrap_or("").to_owned();
        Some(format!("{} exited at start ({status}): {last}", host.name))
    });
    if let Some(why) = exited {
        running.stop_all();
        return Err(why);
    }
    let result = watch(manifest, &mut running, &links, dir, tools);
    running.stop_all();
    drop(links);
    result
}

fn key_path(dir: &Path, host: &str) -> PathBuf {
    dir.join("keys").join(format!("{host}.key"))
}

/// Keys for the validators (`keygen`), a devnet chain spec for them (`genesis --devnet`), with
/// the manifest's slot length and stakes, its first slot a few seconds from now.
fn write_genesis(manifest: &Manifest, relay: &Path, dir: &Path, out: &Path) -> Result<(), String> {
    let run = |args: &[String]| -> Result<(), String> {
        let output = Command::new(relay).args(args).output().map_err(|e| format!("{e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "memecoin-relay {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    let mut genesis_args: Vec<String> = vec!["genesis".into(), "--devnet".into()];
    let mut public_keys = Vec::new();
    for i in 0..manifest.validators {
        let key = key_path(dir, &format!("v{i}"));
        run(&["keygen".into(), "--out".into(), key.display().to_string()])?;
        let text = std::fs::read_to_string(&key).map_err(|e| e.to_string())?;
        let file: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        public_keys.push(file["public_key"].as_str().unwrap_or_default().to_owned());
        genesis_args.extend(["--validator-key".into(), key.display().to_string()]);
    }
    // Time for every host to start before the first slot.
    let start = unix_ms() + 3_000 + 300 * manifest.hosts().len() as u64;
    genesis_args.extend(["--genesis-time-ms".into(), start.to_string()]);
    genesis_args.extend(["--out".into(), out.display().to_string()]);
    run(&genesis_args)?;
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    let mut spec: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    spec["params"]["slot_ms"] = json!(manifest.slot_ms);
    for (name, value) in &manifest.params {
        if spec["params"].get(name).is_none() {
            return Err(format!("params: the chain spec has no parameter {name:?}"));
        }
        spec["params"][name] = json!(value);
    }
    if !manifest.stakes.is_empty() {
        // The spec's unit is the base unit: 10^9 to the coin.
        for validator in spec["validators"].as_array_mut().into_iter().flatten() {
            let key = validator["public_key"].as_str().unwrap_or_default();
            if let Some(i) = public_keys.iter().position(|k| k == key) {
                validator["stake"] = json!(manifest.stakes[i].saturating_mul(1_000_000_000));
            }
        }
    }
    std::fs::write(out, serde_json::to_string_pretty(&spec).unwrap_or_default())
        .map_err(|e| e.to_string())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct Running<'a> {
    net: &'a Net,
    relay: &'a Path,
    hosts: &'a mut Vec<Host>,
}

/// Whatever ends the run (a failed step, a panic), no relay outlives it: a relay left running
/// would keep its namespace alive.
impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.stop_all();
    }
}

impl Running<'_> {
    fn start(&mut self, i: usize) -> Result<(), String> {
        let host = &mut self.hosts[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&host.log)
            .map_err(|e| format!("{}: {e}", host.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = self
            .net
            .exec(i)
            .arg(self.relay)
            .args(&host.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", host.name))?;
        host.child = Some(child);
        Ok(())
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.hosts[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&mut self, i: usize, signal: &str) {
        if let Some(child) = &self.hosts[i].child {
            let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
        }
        self.hosts[i].paused = signal == "-STOP";
    }

    fn stop_all(&mut self) {
        for i in 0..self.hosts.len() {
            self.signal(i, "-CONT");
            self.kill(i);
        }
    }

    /// Host `i`'s head, if it answers within a second.
    fn sample(&self, i: usize, t: f64) -> Option<Sample> {
        if self.hosts[i].child.is_none() || self.hosts[i].paused {
            return None;
        }
        let head: Value = serde_json::from_str(&get(self.net.host(i), "/api/head")?).ok()?;
        Some(Sample {
            t,
            height: head["height"].as_u64()?,
            finalized: head["finalized_height"].as_u64()?,
            finalized_hash: head["finalized_hash"].as_str()?.to_owned(),
        })
    }
}

/// A GET with a short timeout; the body of a 200.
fn get(host: std::net::Ipv4Addr, path: &str) -> Option<String> {
    let addr = SocketAddrV4::new(host, PORT).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The shape of every link while `active` faults hold.
fn shapes(manifest: &Manifest, active: &[&Fault]) -> BTreeMap<(usize, usize), Shape> {
    let n = manifest.hosts().len();
    let group_of = |groups: &[Vec<String>], host: usize| {
        groups.iter().position(|g| g.iter().any(|h| manifest.index(h) == Some(host)))
    };
    let mut shapes = BTreeMap::new();
    for a in 0..n {
        for b in a + 1..n {
            let mut shape = Shape::default();
            for fault in active {
                match fault.kind.as_str() {
                    "partition" => {
                        shape.cut |= group_of(&fault.groups, a) != group_of(&fault.groups, b);
                    }
                    "delay" => {
                        let on = if fault.groups.is_empty() {
                            fault
                                .hosts
                                .iter()
                                .any(|h| [Some(a), Some(b)].contains(&manifest.index(h)))
                        } else {
                            let (ga, gb) = (group_of(&fault.groups, a), group_of(&fault.groups, b));
                            ga.is_some() && gb.is_some() && ga != gb
                        };
                        if on {
                            shape.delay += Duration::from_millis(fault.delay_ms);
                            shape.loss = shape.loss.max(fault.loss_percent / 100.0);
                        }
                    }
                    _ => {}
                }
            }
            shapes.insert((a, b), shape);
        }
    }
    shapes
}

/// Runs the timeline, sampling every host, then checks what was seen.
fn watch(
    manifest: &Manifest,
    running: &mut Running<'_>,
    links: &BTreeMap<(usize, usize), Link>,
    dir: &Path,
    tools: Option<&LoadTools>,
) -> Result<Value, String> {
    let genesis_ms = {
        let text = std::fs::read_to_string(dir.join("genesis.json")).map_err(|e| e.to_string())?;
        let spec: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        spec["genesis_time_ms"].as_u64().unwrap_or(0)
    };
    // The scenario's clock starts at the first slot.
    std::thread::sleep(Duration::from_millis(genesis_ms.saturating_sub(unix_ms())));
    let t0 = Instant::now();
    let n = running.hosts.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); n];
    let mut started = vec![false; manifest.faults.len()];
    let mut ended = vec![false; manifest.faults.len()];
    let mut events: Vec<String> = Vec::new();
    let bench = manifest.bench.as_ref().zip(tools);
    let mut measuring: Option<std::thread::JoinHandle<Value>> = None;
    while t0.elapsed().as_secs() < manifest.duration_s {
        let t = t0.elapsed().as_secs_f64();
        if let Some((bench, tools)) = bench
            && measuring.is_none()
            && t >= bench.at_s as f64
        {
            events.push(format!("{t:7.1} s  bench: load on {}, then propagation", bench.host));
            let urls: Vec<String> = (0..running.hosts.len())
                .map(|i| format!("ws://{}:{PORT}/ws", running.net.host(i)))
                .collect();
            let target = manifest.index(&bench.host).unwrap_or(0);
            let (bench, load, bound) = (bench.clone(), tools.load.clone(), tools.bound);
            let target_url = urls[target].clone();
            measuring =
                Some(std::thread::spawn(move || measure(&load, bound, &bench, &target_url, &urls)));
        }
        let mut changed = false;
        for (k, fault) in manifest.faults.iter().enumerate() {
            let hosts: Vec<usize> = fault.hosts.iter().filter_map(|h| manifest.index(h)).collect();
            if !started[k] && t >= fault.at_s as f64 {
                started[k] = true;
                changed = true;
                events.push(format!("{t:7.1} s  {} {}", fault.kind, describe(fault)));
                for &i in &hosts {
                    match fault.kind.as_str() {
                        "kill" => running.kill(i),
                        "pause" => running.signal(i, "-STOP"),
                        "clock" => set_clock(manifest, dir, i, fault.offset_ms)?,
                        _ => {}
                    }
                }
            }
            if started[k] && !ended[k] && t >= (fault.at_s + fault.for_s) as f64 {
                ended[k] = true;
                changed = true;
                events.push(format!("{t:7.1} s  healed: {} {}", fault.kind, describe(fault)));
                for &i in &hosts {
                    match fault.kind.as_str() {
                        "kill" => running.start(i)?,
                        "pause" => running.signal(i, "-CONT"),
                        "clock" => set_clock(manifest, dir, i, 0)?,
                        _ => {}
                    }
                }
            }
        }
        if changed {
            let active: Vec<&Fault> = manifest
                .faults
                .iter()
                .enumerate()
                .filter(|(k, _)| started[*k] && !ended[*k])
                .map(|(_, f)| f)
                .collect();
            for (pair, shape) in shapes(manifest, &active) {
                if let Some(link) = links.get(&pair) {
                    link.set(shape);
                }
            }
        }
        for (i, host) in samples.iter_mut().enumerate() {
            if let Some(sample) = running.sample(i, t) {
                host.push(sample);
            }
        }
        std::thread::sleep(SAMPLE);
    }
    let bench = measuring.map(|m| m.join().unwrap_or(Value::Null));
    let mut report = check(manifest, running, &samples, events, dir);
    if let Some(bench) = bench {
        report["bench"] = bench;
    }
    Ok(report)
}

/// `memecoin-load` from this namespace: transfers to `target` at each rate, then new blocks
/// timed from the first host to all. Its JSON lines, gathered.
fn measure(
    load: &Path,
    bound: Option<f64>,
    bench: &manifest::Bench,
    target: &str,
    urls: &[String],
) -> Value {
    let run = |args: Vec<String>| -> Vec<Value> {
        println!("$ {} {}", load.display(), args.join(" "));
        Command::new(load)
            .args(&args)
            .stderr(Stdio::inherit())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut args: Vec<String> = vec!["--url".into(), target.into()];
    args.extend([
        "--rates".into(),
        bench.rates.clone(),
        "--seconds".into(),
        bench.seconds.to_string(),
    ]);
    args.extend([
        "--senders".into(),
        bench.senders.to_string(),
        "--subscribers".into(),
        "0".into(),
    ]);
    args.extend(["--heads".into(), "3".into()]);
    if let Some(bound) = bound {
        args.extend(["--bound".into(), format!("{bound:.0}")]);
    }
    let load_report = run(args);
    let propagation = run(vec![
        "--url".into(),
        urls[0].clone(),
        "--rates".into(),
        "0".into(),
        "--heads".into(),
        bench.heads.to_string(),
        "--propagation".into(),
        urls.join(","),
    ]);
    json!({ "load": load_report, "propagation": propagation })
}

/// The file host `name`'s relay reads its clock offset from (`--clock-offset-file`).
fn clock_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.clock"))
}

/// Steps host `i`'s clock to its manifest offset plus `step` ms, written whole (a rename) so the
/// relay never reads half a number.
fn set_clock(manifest: &Manifest, dir: &Path, i: usize, step: i64) -> Result<(), String> {
    let name = &manifest.hosts()[i];
    let offset = manifest.clock_ms.get(name).copied().unwrap_or(0) + step;
    let file = clock_file(dir, name);
    let fresh = file.with_extension("clock.new");
    std::fs::write(&fresh, offset.to_string())
        .and_then(|()| std::fs::rename(&fresh, &file))
        .map_err(|e| format!("{}: {e}", file.display()))
}

fn describe(fault: &Fault) -> String {
    let mut text = if fault.groups.is_empty() {
        fault.hosts.join(",")
    } else {
        fault.groups.iter().map(|g| g.join(",")).collect::<Vec<_>>().join(" | ")
    };
    if fault.kind == "delay" {
        text.push_str(&format!(" ({} ms, {}% loss)", fault.delay_ms, fault.loss_percent));
    }
    if fault.kind == "clock" {
        text.push_str(&format!(" ({:+} ms)", fault.offset_ms));
    }
    text
}

fn check(
    manifest: &Manifest,
    running: &Running<'_>,
    samples: &[Vec<Sample>],
    events: Vec<String>,
    dir: &Path,
) -> Value {
    let names = manifest.hosts();
    let bound = manifest.finality_bound_s as f64;
    let mut failures: Vec<String> = Vec::new();

    // 1. Safety: one finalized block per height, across every host and every time.
    let mut finalized: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for (i, host) in samples.iter().enumerate() {
        for s in host {
            let seen = finalized
                .entry(s.finalized)
                .or_insert((s.finalized_hash.clone(), names[i].clone()));
            if seen.0 != s.finalized_hash {
                failures.push(format!(
                    "conflicting finalized blocks at height {}: {} on {}, {} on {}",
                    s.finalized, seen.0, seen.1, s.finalized_hash, names[i]
                ));
            }
        }
    }

    // 2. Recovery after every fault.
    let mut faults = Vec::new();
    for fault in &manifest.faults {
        let heal = (fault.at_s + fault.for_s) as f64;
        let before = samples
            .iter()
            .flatten()
            .filter(|s| s.t <= heal)
            .map(|s| s.finalized)
            .max()
            .unwrap_or(0);
        let during_start = samples
            .iter()
            .flatten()
            .filter(|s| s.t <= fault.at_s as f64)
            .map(|s| s.finalized)
            .max()
            .unwrap_or(0);
        // When every host's finalized height first passed `before`.
        let passed: Vec<Option<f64>> = samples
            .iter()
            .map(|host| host.iter().find(|s| s.t >= heal && s.finalized > before).map(|s| s.t))
            .collect();
        let recovered = passed
            .iter()
            .copied()
            .collect::<Option<Vec<f64>>>()
            .map(|ts| ts.into_iter().fold(heal, f64::max) - heal);
        match recovered {
            Some(after) if after <= bound => {}
            Some(after) => failures.push(format!(
                "{} {}: finality passed height {before} on every host {after:.1} s after the heal (bound {bound} s)",
                fault.kind,
                describe(fault)
            )),
            None => {
                let behind: Vec<&str> = passed
                    .iter()
                    .zip(&names)
                    .filter(|(p, _)| p.is_none())
                    .map(|(_, n)| n.as_str())
                    .collect();
                failures.push(format!(
                    "{} {}: finality never passed height {before} after the heal on {}",
                    fault.kind,
                    describe(fault),
                    behind.join(", ")
                ));
            }
        }
        faults.push(json!({
            "kind": fault.kind,
            "hosts": describe(fault),
            "at_s": fault.at_s,
            "for_s": fault.for_s,
            "finalized_during": before.saturating_sub(during_start),
            "recovered_after_s": recovered.map(|r| (r * 10.0).round() / 10.0),
        }));
    }

    // 3. Finality never stands still longer than the bound, outside faults (and the start).
    let mut highest: Vec<(f64, u64)> =
        samples.iter().flatten().map(|s| (s.t, s.finalized)).collect();
    highest.sort_by(|a, b| a.0.total_cmp(&b.0));
    // A fault excuses its own time and the recovery measured after it (the bound when there
    // was none): a stall that starts once every host has recovered counts.
    let recovered: Vec<f64> =
        faults.iter().map(|f| f["recovered_after_s"].as_f64().unwrap_or(bound)).collect();
    let first_final = samples.iter().flatten().find(|s| s.finalized > 0).map_or(bound, |s| s.t);
    let excused = |t: f64| {
        t < first_final
            || manifest
                .faults
                .iter()
                .zip(&recovered)
                .any(|(f, r)| t >= f.at_s as f64 && t <= (f.at_s + f.for_s) as f64 + r)
    };
    let (mut best, mut since, mut longest_stall) = (0u64, 0.0f64, 0.0f64);
    for (t, f) in highest {
        if f > best {
            best = f;
            since = t;
        } else if !excused(since) && !excused(t) {
            longest_stall = longest_stall.max(t - since);
        }
    }
    if longest_stall > bound {
        failures.push(format!(
            "finality stood still {longest_stall:.1} s outside any fault (bound {bound} s)"
        ));
    }

    // 4. One chain at the end: every host's block at the lowest finalized height is the same,
    // and so is every finalized block seen during the run that every host still keeps.
    let last: Vec<Option<&Sample>> = samples.iter().map(|h| h.last()).collect();
    let common = last.iter().flatten().map(|s| s.finalized).min().unwrap_or(0);
    let mut heights: Vec<u64> = finalized.keys().copied().filter(|&h| h <= common).collect();
    if heights.len() > 64 {
        let step = heights.len() / 64;
        heights = heights.into_iter().step_by(step).collect();
    }
    heights.push(common);
    for &height in &heights {
        let mut hashes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let hash = get(running.net.host(i), &format!("/api/blocks/{height}"))
                .and_then(|b| serde_json::from_str::<Value>(&b).ok())
                .and_then(|b| b["hash"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "(no answer)".into());
            hashes.entry(hash).or_default().push(name);
        }
        if hashes.len() > 1 {
            failures.push(format!("hosts disagree on block {height}: {hashes:?}"));
        }
    }
    let top = last.iter().flatten().map(|s| s.finalized).max().unwrap_or(0);
    for (i, name) in names.iter().enumerate() {
        match last[i] {
            None => failures.push(format!("{name} never answered")),
            // Every host keeps up at the end, not only the slowest one agrees.
            Some(s) if s.finalized.saturating_add(8) < top => failures.push(format!(
                "{name} ended at finalized height {}, the network at {top}",
                s.finalized
            )),
            Some(_) => {}
        }
    }

    // 5. Logs.
    let mut errors = Vec::new();
    for (host, name) in running.hosts.iter().zip(&names) {
        let text = std::fs::read_to_string(&host.log).unwrap_or_default();
        for line in text.lines() {
            let bad = line.contains(" ERROR ") || line.contains("panicked at");
            if bad && !manifest.allowed_errors.iter().any(|a| line.contains(a.as_str())) {
                errors.push(format!("{name}: {line}"));
            }
        }
    }
    if !errors.is_empty() {
        failures.push(format!("{} log line(s) at ERROR or a panic: {}", errors.len(), errors[0]));
    }

    json!({
        "dir": dir.display().to_string(),
        "hosts": names,
        "slot_ms": manifest.slot_ms,
        "duration_s": manifest.duration_s,
        "finality_bound_s": manifest.finality_bound_s,
        "events": events,
        "faults": faults,
        "longest_stall_outside_faults_s": (longest_stall * 10.0).round() / 10.0,
        "final": names.iter().zip(&last).map(|(n, s)| json!({
            "host": n,
            "height": s.map(|s| s.height),
            "finalized": s.map(|s| s.finalized),
        })).collect::<Vec<_>>(),
        "finalized_heights_seen": finalized.len(),
        "checked_heights": heights.len(),
        "errors": errors,
        "failures": failures,
    })
}

fn print_report(report: &Value) {
    println!(
        "\ntestnet: {} hosts, {} s",
        report["hosts"].as_array().map_or(0, Vec::len),
        report["duration_s"]
    );
    for event in report["events"].as_array().into_iter().flatten() {
        println!("  {}", event.as_str().unwrap_or_default());
    }
    for fault in report["faults"].as_array().into_iter().flatten() {
        println!(
            "  {:<9} {:<40} at {:>4} s for {:>3} s: {} blocks finalized during, every host past it {} s after the heal",
            fault["kind"].as_str().unwrap_or_default(),
            fault["hosts"].as_str().unwrap_or_default(),
            fault["at_s"],
            fault["for_s"],
            fault["finalized_during"],
            fault["recovered_after_s"],
        );
    }
    println!(
        "  longest stall outside faults: {} s (bound {} s)",
        report["longest_stall_outside_faults_s"], report["finality_bound_s"]
    );
    for host in report["final"].as_array().into_iter().flatten() {
        println!(
            "  {:<4} head {:>6}  finalized {:>6}",
            host["host"].as_str().unwrap_or_default(),
            host["height"],
            host["finalized"]
        );
    }
    if !report["bench"].is_null() {
        for line in report["bench"]["load"].as_array().into_iter().flatten() {
            println!("  load: {line}");
        }
        for line in report["bench"]["propagation"].as_array().into_iter().flatten() {
            println!("  propagation: {line}");
        }
    }
    for failure in report["failures"].as_array().into_iter().flatten() {
        println!("  FAILED: {}", failure.as_str().unwrap_or_default());
    }
}
