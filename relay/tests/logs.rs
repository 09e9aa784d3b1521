//! What the relay writes to a log that is not a terminal: plain text, no ANSI
//! colour codes, so a log file or a pipe reads as written. The relay runs as a process with
//! its standard output piped; its first lines must carry no escape character.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

#[test]
fn a_log_to_a_pipe_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    let made = Command::new(BIN)
        .args(["genesis", "--devnet", "--out", genesis.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut relay = Command::new(BIN)
        .args(["run", "--genesis", genesis.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .arg("--no-peer-exchange")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read on a thread, so that a relay that logs nothing fails the test instead of hanging it.
    let stdout = relay.stdout.take().unwrap();
    let (lines, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read: Vec<String> = Vec::new();
    while !read.iter().any(|l| l.contains("listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => read.push(line),
            Err(_) => break,
        }
    }
    let _ = relay.kill();
    let _ = relay.wait();
    assert!(
        read.iter().any(|l| l.contains("relay listening")),
        "the relay did not log that it listens within 30 s: {read:?}"
    );
    for line in &read {
        assert!(!line.contains('\u{1b}'), "a colour code in a piped log: {line:?}");
    }
}

/// A relay process logging to a file, killed when dropped.
struct Logged {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Logged {
    fn start(dir: &std::path::Path, name: &str, extra: &[&str]) -> Logged {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::options().create(true).append(true).open(&log).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--genesis", dir.join("genesis.json").to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-peer-exchange"])
            .args(["--data-dir", dir.join(name).to_str().unwrap()])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Logged { child, port, log }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `what`; the log.
    fn wait_for(&self, what: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.text();
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {what:?} in the log within {secs} s:\n{text}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What an operator reads: a start-up line (version, chain id, validator, data dir), peers
/// connecting and leaving, "synced", "resumed at height N" after a restart, and a warning
/// when finality stops.
#[test]
fn an_operator_reads_start_up_peers_sync_resume_and_stalled_finality() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("v.key");
    let spec = dir.path().join("genesis.json");
    for args in [
        vec!["keygen", "--out", key.to_str().unwrap()],
        vec!["genesis", "--devnet", "--validator-key", key.to_str().unwrap()],
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(&args);
        if args[0] == "genesis" {
            cmd.args(["--out", spec.to_str().unwrap()]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    json["params"]["slot_ms"] = serde_json::Value::from(100);
    std::fs::write(&spec, json.to_string()).unwrap();

    let validator = Logged::start(dir.path(), "a", &["--validator-key", key.to_str().unwrap()]);
    let text = validator.wait_for("memecoin-relay starting", 30);
    let line = text.lines().find(|l| l.contains("memecoin-relay starting")).unwrap();
    for part in ["version=", "chain_id=", "validator=meme1", "data_dir=", "chain=memecoin-devnet"] {
        assert!(line.contains(part), "no {part} in the start-up line: {line}");
    }
    assert!(text.contains("starting from genesis"), "{text}");
    validator.wait_for("doppelganger protection: no other node signed", 30);
    validator.wait_for("finalized height=40", 60);

    let follower = Logged::start(
        dir.path(),
        "b",
        &["--peer", &format!("ws://127.0.0.1:{}/ws", validator.port)],
    );
    let text = follower.wait_for("relay peer connected", 30);
    assert!(text.contains("validator=none"), "{text}");
    follower.wait_for("synced at height", 30);
    follower.stop();

    let follower = Logged::start(
        dir.path(),
        "b",
        &["--peer", &format!("ws://127.0.0.1:{}/ws", validator.port)],
    );
    follower.wait_for("resumed at height", 30);
    follower.wait_for("relay peer connected", 30);
    validator.stop();
    let text = follower.wait_for("relay peer disconnected", 30);
    assert!(text.contains("relay peer disconnected: closed by the peer"), "{text}");
    // No validator: finality stands still, and the follower says so within a report or two.
    follower.wait_for("finality has not advanced for", 40);
}
