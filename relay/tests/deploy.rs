//! The deployment (deploy/, Containerfile, docs/deploy.md) against the real binary:
//!
//! 1. every `memecoin_*` metric the Grafana dashboard and the Prometheus alert rules read is one
//!    a running relay (a devnet validator, so `memecoin_reveals_left` too) serves on `/metrics`,
//!    and every metric it serves has a HELP line;
//! 2. every flag the compose file's relays, the systemd unit and the Containerfile give
//!    `memecoin-relay run` is in `run --help`, and every `memecoin-relay <command> --flag` of
//!    docs/deploy.md is in that command's `--help`; the guide names only served metrics.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files under `dir` (recursively) whose names end with one of `extensions`.
fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path, extensions));
        } else if extensions.iter().any(|e| path.to_string_lossy().ends_with(e)) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every `memecoin_[a-z_]+` name in `text`, without a histogram's `_bucket`, `_sum`, `_count`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("memecoin_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        let name =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        // Only at the start of a word.
        let word_start = !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if word_start && name.len() > "memecoin_".len() {
            names.insert(name.trim_end_matches('_').to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// Every `--flag` in `text`: `--` and lowercase letters, digits and dashes, ending the word (or
/// at `=`).
fn flags(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '`' || c == ',')
        .filter_map(|word| word.strip_prefix("--"))
        .map(|flag| flag.split('=').next().unwrap_or(flag))
        .filter(|flag| {
            flag.starts_with(|c: char| c.is_ascii_lowercase())
                && flag.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .map(|flag| format!("--{flag}"))
        .collect()
}

/// The flags `memecoin-relay <command…> --help` lists.
fn help_flags(command: &[&str]) -> BTreeSet<String> {
    let out = Command::new(BIN).args(command).arg("--help").output().unwrap();
    assert!(out.status.success(), "{command:?} --help: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let listed: BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.trim_start().split([' ', ',']).find(|w| w.starts_with("--")))
        .map(|w| w.trim_end_matches(['<', '>']).to_owned())
        .collect();
    assert!(listed.contains("--help"), "{command:?} --help lists no flags: {text}");
    listed
}

struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gauge(body: &str, name: &str) -> Option<u64> {
    body.lines().find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
}

/// `/metrics` of a one-validator devnet once it has finalized a few blocks.
fn served_metrics() -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let _devnet = Devnet(
        Command::new(BIN)
            .args(["devnet", "--validators", "1", "--slot-ms", "200"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body = support::request(port, "GET", "/metrics", None).map(|(_, body)| body);
        if let Some(body) = body.filter(|b| gauge(b, "memecoin_finalized_height") >= Some(3)) {
            return body;
        }
        assert!(Instant::now() < deadline, "no finalized height 3 on /metrics within 120 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_dashboard_and_the_alerts_read_metrics_a_relay_serves() {
    let body = served_metrics();
    // A family is served once declared: `memecoin_rejects_total` has no sample before a reject.
    let served: BTreeSet<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_owned)
        .collect();
    for name in &served {
        assert!(body.contains(&format!("# HELP {name} ")), "{name} has no HELP line");
    }
    for sample in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = sample.split(['{', ' ']).next().unwrap_or_default();
        assert!(served.contains(name), "{name} is served without a TYPE line");
    }
    // Gauges and counters the deployment reads that show only once they are non-zero would
    // pass here by luck: each is served from the start.
    for name in ["memecoin_database_bytes", "memecoin_mempool_capacity", "memecoin_slot"] {
        assert!(gauge(&body, name).is_some_and(|v| v > 0), "{name} is 0 or missing:\n{body}");
    }

    let deploy = root().join("deploy");
    let mut read_by: Vec<(PathBuf, BTreeSet<String>)> = Vec::new();
    for path in files(&deploy.join("grafana"), &[".json"]) {
        let text = read(&path);
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        read_by.push((path, metric_names(&text)));
    }
    for path in files(&deploy.join("prometheus"), &[".yml", ".yaml"]) {
        let names = metric_names(&read(&path));
        read_by.push((path, names));
    }
    read_by
        .push((root().join("docs/deploy.md"), metric_names(&read(&root().join("docs/deploy.md")))));
    let dashboard = &read_by[0];
    assert!(dashboard.1.len() >= 10, "{}: {:?}", dashboard.0.display(), dashboard.1);
    for (path, names) in &read_by {
        let missing: Vec<&String> = names.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "{} reads metrics no relay serves: {missing:?}",
            path.display()
        );
    }
}

/// The relay services of deploy/compose.yaml (those on the `x-relay` anchor): name and text.
fn compose_relays(compose: &str) -> Vec<(String, String)> {
    let services = compose.split_once("\nservices:\n").expect("a services: section").1;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in services.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            break; // the next top-level key
        }
        match line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            Some(name) if !name.starts_with([' ', '#']) => {
                out.push((name.to_owned(), String::new()));
            }
            _ => {
                if let Some((_, text)) = out.last_mut() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    out.retain(|(_, text)| text.contains("<<: *relay"));
    out
}

#[test]
fn the_deployment_gives_the_relay_only_flags_it_has() {
    let run = help_flags(&["run"]);
    let compose = read(&root().join("deploy/compose.yaml"));
    let relays = compose_relays(&compose);
    assert_eq!(relays.len(), 5, "4 validators and a relay: {relays:?}");
    let mut checked = BTreeSet::new();
    for (name, text) in &relays {
        assert!(text.contains("      - run\n"), "{name} does not `run`");
        let used = flags(text);
        let unknown: Vec<&String> = used.difference(&run).collect();
        assert!(unknown.is_empty(), "compose.yaml's {name}: no such `run` flag: {unknown:?}");
        checked.extend(used);
    }
    let unit = read(&root().join("deploy/memecoin-relay.service"));
    let containerfile = read(&root().join("Containerfile"));
    for (file, text, prefix) in [
        ("memecoin-relay.service", &unit, "ExecStart="),
        ("memecoin-relay.service", &unit, "#   ExecStart="),
        ("Containerfile", &containerfile, "CMD "),
    ] {
        for line in text.lines().filter(|l| l.starts_with(prefix)) {
            let used = flags(line);
            let unknown: Vec<&String> = used.difference(&run).collect();
            assert!(unknown.is_empty(), "{file}: no such `run` flag: {unknown:?} in {line}");
            checked.extend(used);
        }
    }
    for flag in ["--genesis", "--data-dir", "--validator-key", "--peer", "--config", "--www"] {
        assert!(checked.contains(flag), "{flag} was not found where it is expected");
    }
}

/// The `memecoin-relay` subcommands the guide may use: `db` ones are two words.
const COMMANDS: [&[&str]; 9] = [
    &["run"],
    &["keygen"],
    &["genesis"],
    &["devnet"],
    &["db", "stats"],
    &["db", "prune"],
    &["db", "export"],
    &["db", "import"],
    &["db", "compact"],
];

#[test]
fn the_guide_uses_only_flags_the_relay_has() {
    let guide = read(&root().join("docs/deploy.md"));
    // Shell lines continued with `\` are one command.
    let joined = guide.replace("\\\n", " ");
    let mut seen = 0;
    for line in joined.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            let word = word.trim_start_matches('`');
            let program = word.rsplit('/').next().unwrap_or(word);
            if !(program == "memecoin-relay" || program.starts_with("memecoin-relay:")) {
                continue;
            }
            let Some(command) = COMMANDS.iter().find(|c| {
                c.iter()
                    .enumerate()
                    .all(|(k, w)| words.get(i + 1 + k).map(|x| x.trim_end_matches('`')) == Some(*w))
            }) else {
                continue;
            };
            // The flags up to the next program on the line (a pipe, `&&`, the end of a code span).
            let tail: Vec<&str> = words[i + 1 + command.len()..]
                .iter()
                .take_while(|w| !["|", "&&", ";"].contains(w) && !w.contains("memecoin-relay"))
                .copied()
                .collect();
            let span = tail.iter().position(|w| w.ends_with('`')).map_or(tail.len(), |p| p + 1);
            let used = flags(&tail[..span].join(" "));
            let known = help_flags(command);
            let unknown: Vec<&String> = used.difference(&known).collect();
            assert!(unknown.is_empty(), "docs/deploy.md: {command:?} has no {unknown:?}: {line}");
            seen += 1;
        }
    }
    assert!(seen >= 10, "only {seen} memecoin-relay commands found in docs/deploy.md");
}

#[test]
fn finds_names_and_flags() {
    let text = "expr: memecoin_head_height - memecoin_finalized_height > 64 (memecoin_relay x)\n\
                rate(memecoin_x_bucket[5m]) memecoin_relay_peers{instance=\"a\"}";
    let names: Vec<String> = metric_names(text).into_iter().collect();
    assert_eq!(
        names,
        [
            "memecoin_finalized_height",
            "memecoin_head_height",
            "memecoin_relay",
            "memecoin_relay_peers",
            "memecoin_x"
        ]
    );
    let found: Vec<String> =
        flags("run --genesis /g --data-dir=/d `--peer` --config.file=x ---x --Big")
            .into_iter()
            .collect();
    assert_eq!(found, ["--data-dir", "--genesis", "--peer"]);
}
