//! `docs/openapi.json` stays true: every route the relay serves (`relay/src/http.rs`) is
//! described, nothing else is, and the real answers of a relay with a validator and a faucet —
//! successes and refusals — match the schemas given for their status, field by field (no
//! field left out, none unknown; amounts decimal strings).

use memecoin_core::address::Address;
use memecoin_core::encode::Encode;
use memecoin_core::tx::{Tx, TxKind};
use memecoin_node::keys;
use memecoin_relay::Config;
use memecoin_relay::faucet::FaucetConfig;
use memecoin_tests::{config, genesis, http, launch, wait_for};
use serde_json::Value;
use std::collections::BTreeSet;

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks `value` against `schema` (the subset of JSON Schema the file uses); the first
/// mismatch, with where it is.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(spec, &spec["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options.iter().filter(|o| check(spec, o, value, at).is_ok()).count();
        return if fits == 1 { Ok(()) } else { Err(format!("{at}: {fits} of oneOf fit {value}")) };
    }
    let fail = |why: &str| Err(format!("{at}: {why}: {value}"));
    match schema["type"].as_str() {
        Some("object") => {
            let Some(map) = value.as_object() else { return fail("not an object") };
            for name in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(name.as_str().unwrap()) {
                    return fail(&format!("no {name}"));
                }
            }
            for (name, field) in map {
                match schema["properties"].get(name) {
                    Some(s) => check(spec, s, field, &format!("{at}.{name}"))?,
                    None if schema["additionalProperties"] == false => {
                        return fail(&format!("{name} is not described"));
                    }
                    None => {}
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else { return fail("not an array") };
            if schema["maxItems"].as_u64().is_some_and(|m| items.len() as u64 > m) {
                return fail("too many items");
            }
            for (i, item) in items.iter().enumerate() {
                if !schema["items"].is_null() {
                    check(spec, &schema["items"], item, &format!("{at}[{i}]"))?;
                }
            }
        }
        Some("string") => {
            let Some(text) = value.as_str() else { return fail("not a string") };
            if let Some(pattern) = schema["pattern"].as_str() {
                let re = regex::Regex::new(pattern).unwrap();
                if !re.is_match(text) {
                    return fail(&format!("does not match {pattern}"));
                }
            }
        }
        Some("integer") if !value.is_u64() => return fail("not a non-negative integer"),
        Some("boolean") if !value.is_boolean() => return fail("not a boolean"),
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return fail("not one of the enum");
    }
    if !schema["const"].is_null() && schema["const"] != *value {
        return fail("not the const");
    }
    Ok(())
}

/// The routes `relay/src/http.rs` declares, as OpenAPI paths: a `String` segment becomes the
/// parameter the file names after the segment before it.
fn served_routes() -> BTreeSet<String> {
    let source = include_str!("../../relay/src/http.rs");
    let mut routes = BTreeSet::new();
    for (i, _) in source.match_indices("warp::path!(") {
        let rest = &source[i + "warp::path!(".len()..];
        let segments: Vec<&str> = rest[..rest.find(')').unwrap()]
            .split('/')
            .map(|p| p.trim().trim_matches('"'))
            .collect();
        let mut path = String::new();
        for (k, segment) in segments.iter().enumerate() {
            let name = match (*segment, k.checked_sub(1).map(|j| segments[j])) {
                ("String", Some("accounts")) => "{address}",
                ("String", Some("tx")) => "{tx_id}",
                ("String", _) => "{id}",
                (literal, _) => literal,
            };
            path.push('/');
            path.push_str(name);
        }
        routes.insert(path);
    }
    routes
}

#[test]
fn every_route_is_described_and_nothing_else() {
    let spec = spec();
    let described: BTreeSet<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(described, served_routes(), "docs/openapi.json against relay/src/http.rs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_answers_match_the_description() {
    let spec = spec();
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 200);
    let dev = keys::devnet_dev_key().unwrap();
    let relay = launch(Config {
        faucet: Some(FaucetConfig::devnet(dev.clone())),
        ..config(&g, &dir.path().join("v0"), Some(keys::devnet_validator(0).unwrap()), vec![])
    })
    .await
    .unwrap();
    let addr = relay.handle.addr;
    wait_for("finality", 60, || async { (relay.head().await.1 >= 2).then_some(()) }).await;

    let dev_addr = Address::from_public_key(&dev.public_key()).to_text();
    let nobody = Address([7; 20]).to_text();
    // A payment first, so that listings, statuses and balances are not empty.
    let (status, paid) =
        http(addr, "POST", "/api/faucet", Some(&format!(r#"{{"address":"{nobody}"}}"#))).await;
    assert_eq!(status, 200, "{paid}");
    let paid: Value = serde_json::from_str(&paid).unwrap();
    let tx_id = paid["tx_id"].as_str().unwrap().to_string();
    let tx_hex = paid["tx"].as_str().unwrap().to_string();
    wait_for("the payment finalized", 60, || async {
        let (_, body) = http(addr, "GET", &format!("/api/tx/{tx_id}"), None).await;
        body.contains("\"finalized\"").then_some(())
    })
    .await;
    let (_, head) = http(addr, "GET", "/api/head", None).await;
    let head: Value = serde_json::from_str(&head).unwrap();
    let block_hash = head["finalized_hash"].as_str().unwrap().to_string();
    // The successes of the two POSTs: the faucet's payment above, and a transfer of our own.
    let payment = &spec["components"]["schemas"]["FaucetPayment"];
    check(&spec, payment, &paid, "POST /api/faucet").unwrap_or_else(|e| panic!("{e}"));
    let (_, account) = http(addr, "GET", &format!("/api/accounts/{dev_addr}?at=head"), None).await;
    let nonce = serde_json::from_str::<Value>(&account).unwrap()["nonce"].as_u64().unwrap();
    let transfer = Tx {
        chain_id: g.chain_id(),
        sender: dev.public_key(),
        nonce,
        fee: g.params.min_fee,
        kind: TxKind::Transfer { to: Address([8; 20]), amount: 5 },
    }
    .sign(&dev);
    let body = format!(r#"{{"tx":"{}"}}"#, hex::encode(transfer.to_bytes()));
    let (status, submitted) = http(addr, "POST", "/api/tx", Some(&body)).await;
    assert_eq!(status, 200, "{submitted}");
    let submitted: Value = serde_json::from_str(&submitted).unwrap();
    let schema = &spec["components"]["schemas"]["Submitted"];
    check(&spec, schema, &submitted, "POST /api/tx").unwrap_or_else(|e| panic!("{e}"));

    // (method, path as asked, the path's entry in the file, body, expected status)
    let asks: Vec<(&str, String, &str, Option<String>, u16)> = vec![
        ("GET", "/api/head".into(), "/api/head", None, 200),
        ("GET", "/api/blocks/1".into(), "/api/blocks/{id}", None, 200),
        ("GET", format!("/api/blocks/{block_hash}"), "/api/blocks/{id}", None, 200),
        ("GET", "/api/blocks/xyz".into(), "/api/blocks/{id}", None, 400),
        ("GET", "/api/blocks/99999999".into(), "/api/blocks/{id}", None, 404),
        ("GET", format!("/api/tx/{tx_id}"), "/api/tx/{tx_id}", None, 200),
        ("GET", format!("/api/tx/{}", "0".repeat(64)), "/api/tx/{tx_id}", None, 404),
        ("GET", "/api/tx/nope".into(), "/api/tx/{tx_id}", None, 400),
        ("POST", "/api/tx".into(), "/api/tx", Some(format!(r#"{{"tx":"{tx_hex}"}}"#)), 400),
        ("POST", "/api/tx".into(), "/api/tx", Some("{".into()), 400),
        ("GET", format!("/api/accounts/{nobody}"), "/api/accounts/{address}", None, 200),
        ("GET", format!("/api/accounts/{dev_addr}?at=head"), "/api/accounts/{address}", None, 200),
        ("GET", "/api/accounts/meme1nope".into(), "/api/accounts/{address}", None, 400),
        ("GET", format!("/api/accounts/{nobody}/txs"), "/api/accounts/{address}/txs", None, 200),
        ("GET", "/api/accounts/meme1nope/txs".into(), "/api/accounts/{address}/txs", None, 400),
        ("GET", "/api/validators".into(), "/api/validators", None, 200),
        ("GET", "/api/genesis".into(), "/api/genesis", None, 200),
        ("GET", "/api/faucet".into(), "/api/faucet", None, 200),
        (
            "POST",
            "/api/faucet".into(),
            "/api/faucet",
            Some(format!(r#"{{"address":"{nobody}"}}"#)),
            429,
        ),
        ("POST", "/api/faucet".into(), "/api/faucet", Some(r#"{"address":"x"}"#.into()), 400),
        ("GET", "/metrics".into(), "/metrics", None, 200),
    ];
    let mut checked = BTreeSet::new();
    for (method, path, entry, body, want) in asks {
        let (status, text) = http(addr, method, &path, body.as_deref()).await;
        assert_eq!(status, want, "{method} {path}: {text}");
        let op = &spec["paths"][entry][method.to_lowercase()];
        let answer = &op["responses"][status.to_string()];
        assert!(answer.is_object(), "{method} {entry}: status {status} is not described");
        let content = &answer["content"];
        if let Some(schema) = content["application/json"]["schema"].as_object() {
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
            check(&spec, &Value::Object(schema.clone()), &value, &format!("{method} {path}"))
                .unwrap_or_else(|e| panic!("{e}"));
        } else {
            assert!(content["text/plain"].is_object(), "{method} {entry}: no schema");
            assert!(text.contains("memecoin_head_height"), "{text}");
        }
        checked.insert((entry, method));
    }
    // Every operation of the file was asked at least once, but the WebSocket upgrade (the wire
    // protocol's own tests speak it).
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let asked = checked.iter().any(|(p, m)| p == path && m.to_lowercase() == *method);
            assert!(asked || path == "/ws", "{method} {path} is described but never asked");
        }
    }
}
