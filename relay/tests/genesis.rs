//! `memecoin-relay genesis` as the operators of a new network use it: validators given by public
//! key and commitment (nobody hands over a secret key file), accounts, parameters and names by
//! flags or a TOML, and nonsense refused with a clear message and no file written.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

fn relay(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// `keygen`: (public key, commitment, address) as it prints them.
fn keygen(path: &Path) -> (String, String, String) {
    let out = relay(&["keygen", "--out", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..].trim().to_string()
    };
    (field("public key:"), field("commitment:"), field("address:"))
}

#[test]
fn a_real_network_from_public_keys_flags_and_a_toml() {
    let dir = tempfile::tempdir().unwrap();
    let (pk1, c1, addr1) = keygen(&dir.path().join("a.key"));
    let (pk2, c2, _) = keygen(&dir.path().join("b.key"));
    // The key files stay with their operators: the spec is made from what keygen printed.
    std::fs::remove_file(dir.path().join("a.key")).unwrap();
    std::fs::remove_file(dir.path().join("b.key")).unwrap();
    let (_, _, treasury) = keygen(&dir.path().join("treasury.key"));
    let treasury = treasury.as_str();
    let out = dir.path().join("spec.json");
    let made = relay(&[
        "genesis",
        "--chain-name",
        "memecoin-test",
        "--validator",
        &format!("{pk1}:{c1}"),
        "--validator",
        &format!("{pk2}:{c2}"),
        "--stake",
        "2000000",
        "--account",
        &format!("{treasury}:12.5"),
        "--slot-ms",
        "2000",
        "--genesis-time-ms",
        "1900000000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(spec["chain_name"], "memecoin-test");
    assert_eq!(spec["genesis_time_ms"], 1_900_000_000_000u64);
    assert_eq!(spec["params"]["slot_ms"], 2000);
    let stakes: Vec<(String, String)> = spec["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["public_key"].as_str().unwrap().into(), v["stake"].to_string()))
        .collect();
    assert_eq!(stakes.len(), 2);
    for key in [&pk1, &pk2] {
        let stake = &stakes.iter().find(|(k, _)| k == key).unwrap().1;
        assert_eq!(stake.trim_matches('"'), "2000000000000000", "{key}");
    }
    let balance = |address: &str| {
        spec["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["address"] == address)
            .map(|a| a["balance"].to_string().trim_matches('"').to_string())
    };
    assert_eq!(balance(treasury).as_deref(), Some("12500000000"));
    assert!(balance(&addr1).is_some(), "a validator's account for its renewal fees");
    // The two validators' and the treasury: the public test phrase's account is not funded.
    assert_eq!(spec["accounts"].as_array().unwrap().len(), 3, "{spec}");

    // The same from a TOML, with a stake of its own for one validator and a parameter.
    let toml = dir.path().join("network.toml");
    std::fs::write(
        &toml,
        format!(
            "chain_name = \"memecoin-toml\"\nstake = \"1000000\"\n[params]\nmin_fee = 5000\n\
             [[validator]]\npublic_key = \"{pk1}\"\ncommitment = \"{c1}\"\nstake = \"3000000\"\n\
             [[validator]]\npublic_key = \"{pk2}\"\ncommitment = \"{c2}\"\n\
             [[account]]\naddress = \"{treasury}\"\ncoins = \"1\"\n"
        ),
    )
    .unwrap();
    let out2 = dir.path().join("spec2.json");
    let made =
        relay(&["genesis", "--spec", toml.to_str().unwrap(), "--out", out2.to_str().unwrap()]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(&out2).unwrap()).unwrap();
    assert_eq!(spec["chain_name"], "memecoin-toml");
    assert_eq!(spec["params"]["min_fee"], 5000);
    assert_eq!(spec["params"]["slot_ms"], 4000, "the rest standard");
    let total: u128 = spec["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["stake"].to_string().trim_matches('"').parse::<u128>().unwrap())
        .sum();
    assert_eq!(total, 4_000_000_000_000_000);
}

#[test]
fn nonsense_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (pk, c, _) = keygen(&dir.path().join("a.key"));
    let v = format!("{pk}:{c}");
    let toml = dir.path().join("bad.toml");
    std::fs::write(&toml, "chain_name = \"x\"\n[params]\nslot_milliseconds = 5\n").unwrap();
    let out = dir.path().join("spec.json");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["genesis", "--chain-name", "x", "--out", o], "at least one validator"),
        (vec!["genesis", "--validator", &v, "--out", o], "a chain name is required"),
        (vec!["genesis", "--chain-name", "my-devnet", "--validator", &v, "--out", o], "devnet"),
        (vec!["genesis", "--chain-name", "x", "--validator", "02ab:00", "--out", o], "public key"),
        (
            vec!["genesis", "--chain-name", "x", "--validator", &pk, "--out", o],
            "PUBLIC_KEY:COMMITMENT",
        ),
        (
            vec!["genesis", "--chain-name", "x", "--validator", &v, "--validator", &v, "--out", o],
            "given twice",
        ),
        (
            vec!["genesis", "--chain-name", "x", "--validator", &v, "--stake", "0.1", "--out", o],
            "stake",
        ),
        (
            vec![
                "genesis",
                "--chain-name",
                "x",
                "--validator",
                &v,
                "--account",
                "meme1x:5",
                "--out",
                o,
            ],
            "account address",
        ),
        (
            vec!["genesis", "--validator", &v, "--spec", toml.to_str().unwrap(), "--out", o],
            "no parameter named \"slot_milliseconds\"",
        ),
        (
            vec!["genesis", "--chain-name", "x", "--validator", &v, "--slot-ms", "0", "--out", o],
            "slot",
        ),
    ];
    for (args, why) in cases {
        let made = relay(&args);
        let err = String::from_utf8_lossy(&made.stderr);
        assert!(!made.status.success(), "{args:?} was accepted");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote a spec");
    }
}

/// An operator reads how to start a node from `run --help`: the spec is required (the usage
/// line says so, not only the text further down), and every setting with a default shows it.
#[test]
fn run_help_says_the_spec_is_required_and_shows_every_default() {
    let out = relay(&["run", "--help"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let usage = text.lines().find(|l| l.starts_with("Usage:")).unwrap();
    assert!(usage.contains("--genesis <FILE>"), "usage line without --genesis: {usage}");
    assert!(text.contains("--config <FILE>"), "{text}");
    for default in ["[default: memecoin-data]", "[default: 127.0.0.1:8080]", "[default: 2]"] {
        assert!(text.contains(default), "run --help does not show {default}: {text}");
    }
    // What it says is what it does: no spec and no config is refused, naming the flag.
    let refused = relay(&["run"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--genesis"));
}
