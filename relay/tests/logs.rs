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
