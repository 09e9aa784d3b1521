//! The operator's database tools against the real binary and a real database file:
//! `memecoin-relay db stats` refuses a data dir a running relay has open, reads one that is not,
//! and says so when there is no database at all.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

fn db_stats(data_dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(BIN).args(["db", "stats", "--data-dir"]).arg(data_dir).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The entries of `table`, from its line (`blocks 12 …` → 12).
fn entries(stats: &str, table: &str) -> u64 {
    let line = stats.lines().find(|l| l.split_whitespace().next() == Some(table)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn db_stats_refuses_a_data_dir_in_use_and_reads_it_once_free() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut relay = Command::new(BIN)
        .args(["devnet", "--validators", "1", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let height = loop {
        let head = support::request(port, "GET", "/api/head", None)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["height"].as_u64());
        if let Some(h) = head.filter(|h| *h >= 3) {
            break h;
        }
        assert!(Instant::now() < deadline, "no block 3 within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    let data_dir = dir.path().join("node-0");

    // In use: refused, with the reason, and nothing written.
    let (ok, _, err) = db_stats(&data_dir);
    assert!(!ok, "stats opened a database a running relay has open");
    assert!(err.contains("is open in another process"), "{err}");

    relay.kill().unwrap();
    relay.wait().unwrap();
    let (ok, out, err) = db_stats(&data_dir);
    assert!(ok, "{err}");
    assert!(out.contains("chain.redb"), "{out}");
    let to: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("heights    1 to "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no block range in:\n{out}"))
        .parse()
        .unwrap();
    assert!(to >= height, "{out}");
    assert!(entries(&out, "blocks") >= to, "{out}");
    assert!(entries(&out, "states") > entries(&out, "blocks"), "a state per block and genesis");
    assert!(entries(&out, "nodes") > 0, "{out}");

    // No database: said, not created.
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = db_stats(empty.path());
    assert!(!ok);
    assert!(err.contains("there is no database at"), "{err}");
    assert!(!empty.path().join("chain.redb").exists(), "stats created a database");
}
