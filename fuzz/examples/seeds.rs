//! Writes the seed corpus: valid encodings of real objects from the fixture chain, one file per
//! seed, into `<dir>/<target>/seed-<name>` (default dir: `fuzz/corpus`). Deterministic: the
//! same files each run. `cargo xtask fuzz --seeds` runs it
//! (`cargo run --manifest-path fuzz/Cargo.toml --example seeds`).

use memecoin_core::address::Address;
use memecoin_core::encode::{Encode, Writer};
use memecoin_core::light::{self, LightClient};
use memecoin_core::merkle;
use memecoin_core::tree::Node;
use memecoin_core::wire::{At, Message, PROTOCOL_VERSION, Role, encode_hex};
use memecoin_fuzz::{decoder, fixture, item};
use std::path::{Path, PathBuf};

struct Corpus {
    dir: PathBuf,
    count: usize,
}

impl Corpus {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
        self.count += 1;
    }

    fn decode(&mut self, name: &str, label: &str, value: &impl Encode) {
        let mut bytes = vec![decoder(name)];
        bytes.extend(value.to_bytes());
        self.put("decode", &format!("{name}-{label}"), &bytes);
    }
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"), PathBuf::from);
    let mut c = Corpus { dir, count: 0 };
    let f = fixture();
    let net = &f.net;
    let tip = net.states.len() - 1;
    let tip_state = &net.states[tip];
    let user = Address::from_public_key(&net.users[0].public_key());
    let nobody = Address([0x42; 20]);
    // Blocks worth seeding: the first, one with a stake, one with a certificate crossing an
    // epoch, the last.
    let picks = [0usize, 4, 9, 14, net.blocks.len() - 1];

    // decode: one or more real values of every type.
    c.decode("hash", "chain-id", &net.chain.id);
    c.decode("public_key", "validator", &net.validators[0].public_key());
    c.decode("signature", "header", &net.blocks[0].header.signature);
    c.decode("address", "user", &user);
    c.decode("account", "user", &net.account(&user));
    c.decode("account", "staker", &net.account(&net.user_address(2)));
    for (i, tx) in f.tip_txs.iter().enumerate() {
        c.decode("tx", &i.to_string(), &tx.tx);
        c.decode("signed_tx", &i.to_string(), tx);
    }
    for i in picks {
        let block = &net.blocks[i];
        c.decode("block", &i.to_string(), block);
        c.decode("header", &i.to_string(), &block.header.header);
        c.decode("signed_header", &i.to_string(), &block.header);
        if let Some(cert) = &block.certificate {
            c.decode("certificate", &i.to_string(), cert);
            c.decode("vote", &i.to_string(), &cert.vote);
            c.decode("checkpoint", &i.to_string(), &cert.vote.target);
        }
    }
    for (i, e) in f.evidence.iter().enumerate() {
        c.decode("evidence", &i.to_string(), e);
    }
    if let memecoin_core::slashing::Evidence::DoubleVote { a, .. } = &f.evidence[1] {
        c.decode("signed_vote", "0", a);
    }
    c.decode("validator_set", "tip", &tip_state.meta.current);
    c.decode("params", "devnet", &net.chain.params);
    c.decode("genesis", "fixture", &net.genesis);
    c.decode("chain_meta", "tip", &tip_state.meta);
    c.decode("tip", "tip", &tip_state.tip);
    c.decode("chain_state", "tip", tip_state);
    c.decode("chain_state", "genesis", &net.states[0]);
    let proof = light::prove_account(&net.store, tip_state, &user).expect("prove");
    let absent = light::prove_account(&net.store, tip_state, &nobody).expect("prove");
    c.decode("account_proof", "present", &proof);
    c.decode("account_proof", "absent", &absent);
    c.decode("tree_proof", "present", &proof.proof);
    c.decode("tree_proof", "absent", &absent.proof);
    let account = net.account(&user).to_bytes();
    let key = memecoin_core::account::state_key(&user);
    c.decode("tree_node", "leaf", &Node::Leaf { key, value: account });
    let (l, r) = (net.chain.id, tip_state.accounts_root);
    c.decode("tree_node", "inner", &Node::Inner { left: l, right: r });
    let last = &net.blocks[net.blocks.len() - 1];
    let inclusion = merkle::prove(&last.tx_ids(), 0).expect("a tx");
    c.decode("inclusion_proof", "0", &inclusion);
    c.decode("anchor", "last", &light::Anchor::of(&last.header.header));
    let mut lc = LightClient::from_genesis(&net.genesis).expect("genesis");
    for (p, links) in f.finality_proofs.iter().zip(&f.finality_links) {
        lc.accept_finality(p, links).expect("fixture proofs verify");
    }
    c.decode("trusted", "end", &lc.trusted());
    for (i, p) in f.finality_proofs.iter().enumerate() {
        c.decode("finality_proof", &i.to_string(), p);
    }

    // text: addresses, hashes, amounts, phrases, paths, extended keys, genesis JSON.
    let text = |sel: u8, s: &str| [&[sel][..], s.as_bytes()].concat();
    c.put("text", "address", &text(0, &user.to_text()));
    c.put("text", "address-upper", &text(0, &user.to_text().to_uppercase()));
    c.put("text", "hash", &text(1, &net.chain.id.to_hex()));
    c.put("text", "amount", &text(2, "1234.000000567"));
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                  abandon abandon about";
    c.put("text", "phrase", &text(3, phrase));
    c.put("text", "path", &text(4, "m/44'/7337'/0'/0'/1'"));
    let seed = memecoin_wallet::hd::seed_from_phrase(
        &memecoin_wallet::hd::parse_phrase(phrase).expect("phrase"),
        "",
    );
    let xprv = memecoin_wallet::hd::ExtendedKey::master(&seed).expect("master");
    c.put("text", "xprv", &text(5, &xprv.to_base58()));
    c.put("text", "xpub", &text(6, &xprv.to_public().to_base58()));
    c.put("text", "genesis", &text(7, &net.genesis.to_json()));
    let request = format!("meme:{}?amount=2.5&memo=Rent%20for%20May&label=x", user.to_text());
    c.put("text", "payment-request", &text(8, &request));

    // check_tx: the tip transactions, with and without the verified-signature flag.
    for (i, tx) in f.tip_txs.iter().enumerate() {
        let state = u8::try_from(tip).expect("few states") << 1;
        c.put("check_tx", &format!("{i}"), &[&[state][..], &tx.to_bytes()].concat());
        c.put("check_tx", &format!("{i}-verified"), &[&[state | 1][..], &tx.to_bytes()].concat());
    }

    // apply_block: each picked block on its parent state, as is and resealed.
    for i in picks {
        let index = u8::try_from(i).expect("few blocks");
        let block = net.blocks[i].to_bytes();
        c.put("apply_block", &i.to_string(), &[&[index, 0][..], &block].concat());
        c.put("apply_block", &format!("{i}-resealed"), &[&[index, 3][..], &block].concat());
    }

    // light_client: the proofs in order, a header above the last, ancestry, a saved position.
    let mut follow = Vec::new();
    for (p, links) in f.finality_proofs.iter().zip(&f.finality_links) {
        let mut bytes = p.to_bytes();
        bytes.put_list(links);
        follow.extend(item(0, &bytes));
    }
    c.put("light_client", "proofs", &follow);
    follow.extend(item(1, &last.header.to_bytes()));
    let mut headers = Vec::new();
    let fin = lc.finalized().height;
    let linked: Vec<_> =
        net.blocks.iter().map(|b| b.header.header.clone()).filter(|h| h.height <= fin).collect();
    headers.put_list(&linked[linked.len().saturating_sub(3)..]);
    follow.extend(item(2, &headers));
    c.put("light_client", "proofs-header-ancestry", &follow);
    c.put("light_client", "resume", &item(3, &lc.trusted().to_bytes()));

    // proofs: account proofs (present, absent) at the tip, an inclusion proof.
    let tip_index = u8::try_from(tip).expect("few states");
    let account =
        |a: &Address, p: &light::AccountProof| [&[0, tip_index][..], &a.0, &p.to_bytes()].concat();
    c.put("proofs", "account", &account(&user, &proof));
    c.put("proofs", "absent", &account(&nobody, &absent));
    let last_index = u8::try_from(net.blocks.len() - 1).expect("few blocks");
    let id = last.txs[0].id();
    c.put("proofs", "inclusion", &[&[1, last_index][..], &id.0, &inclusion.to_bytes()].concat());

    // wire and relay_ws: one message of each kind a peer sends, with real payloads.
    let chain_id = net.chain.id.to_hex();
    let hello = |role| Message::Hello {
        version: PROTOCOL_VERSION,
        chain_id: chain_id.clone(),
        role,
        listen: Some("ws://127.0.0.1:9000/ws".into()),
        head_height: 3,
    };
    let tx = encode_hex(&f.tip_txs[0]);
    let vote = match &f.evidence[1] {
        memecoin_core::slashing::Evidence::DoubleVote { a, .. } => encode_hex(a),
        _ => String::new(),
    };
    let messages = [
        ("hello", hello(Role::Relay)),
        ("submit-tx", Message::SubmitTx { id: 1, tx: tx.clone() }),
        ("tx", Message::Tx { tx }),
        ("block", Message::Block { block: encode_hex(last) }),
        ("blocks", Message::Blocks { id: 2, blocks: vec![encode_hex(&net.blocks[0])] }),
        ("vote", Message::Vote { vote }),
        ("evidence", Message::Evidence { evidence: encode_hex(&f.evidence[0]) }),
        ("peers", Message::Peers { peers: vec!["ws://127.0.0.1:9001/ws".into()] }),
        (
            "subscribe",
            Message::Subscribe { heads: true, finality: true, accounts: vec![user.to_text()] },
        ),
        ("get-headers", Message::GetHeaders { id: 3, from: 1, count: 4 }),
        ("get-blocks", Message::GetBlocks { id: 4, from: 1, count: 2 }),
        ("get-finality", Message::GetFinality { id: 5, since: 0, latest: false }),
        ("get-finality-latest", Message::GetFinality { id: 5, since: 0, latest: true }),
        ("get-account", Message::GetAccount { id: 6, address: user.to_text(), at: At::Head }),
        ("get-inclusion", Message::GetInclusion { id: 7, tx_id: id.to_hex() }),
        ("get-meta", Message::GetMeta { id: 8 }),
        ("head", Message::Head { header: encode_hex(&last.header) }),
        ("finalized", Message::Finalized { proof: encode_hex(&f.finality_proofs[0]) }),
        ("error", Message::Error { id: Some(1), reason: "x".into() }),
    ];
    for (name, m) in &messages {
        c.put("wire", name, m.to_json().as_bytes());
    }
    // relay_ws: as a browser and as a relay (mode bit 0: hello added), and a session with
    // every request.
    for (name, m) in &messages {
        if *name != "hello" {
            c.put("relay_ws", name, &[&[1][..], m.to_json().as_bytes()].concat());
        }
    }
    let mut session = vec![3u8];
    for (name, m) in &messages {
        if name.starts_with("get-") || *name == "subscribe" || *name == "peers" {
            session.extend(m.to_json().as_bytes());
            session.push(b'\n');
        }
    }
    c.put("relay_ws", "relay-session", &session);
    c.put("relay_ws", "own-hello", &[&[0][..], hello(Role::Browser).to_json().as_bytes()].concat());

    // relay_http: every route.
    let get = |path: &str| [&[0][..], path.as_bytes()].concat();
    let post =
        |path: &str, body: &str| [&[1][..], path.as_bytes(), b"\n\n", body.as_bytes()].concat();
    let block_hash = last.hash().to_hex();
    let routes = [
        ("head", get("/api/head")),
        ("block-hash", get(&format!("/api/blocks/{block_hash}"))),
        ("block-height", get("/api/blocks/3")),
        ("tx", get(&format!("/api/tx/{}", id.to_hex()))),
        ("account", get(&format!("/api/accounts/{}?at=head", user.to_text()))),
        ("history", get(&format!("/api/accounts/{}/txs", user.to_text()))),
        ("validators", get("/api/validators")),
        ("genesis", get("/api/genesis")),
        ("metrics", get("/metrics")),
        ("faucet-info", get("/api/faucet")),
        ("page", get("/")),
        ("page-gzip", get("/app.js\naccept-encoding: gzip, br")),
        ("submit", post("/api/tx", &format!("{{\"tx\":\"{}\"}}", encode_hex(&f.tip_txs[0])))),
        ("faucet", post("/api/faucet", &format!("{{\"address\":\"{}\"}}", nobody.to_text()))),
        (
            "ws",
            get(
                "/ws\nconnection: upgrade\nupgrade: websocket\nsec-websocket-version: 13\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
            ),
        ),
    ];
    for (name, bytes) in &routes {
        c.put("relay_http", name, bytes);
    }
    println!("{} seeds in {}", c.count, c.dir.display());
}
