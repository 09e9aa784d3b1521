//! What the fuzz targets share: a small real chain built with core (the same `Net` as core's
//! chain tests: 4 validators, 3 users, blocks with transfers, a stake, an unstake, certificates
//! and finality), the objects taken from it that seed the corpus (`seeds`), a relay node that
//! has imported that chain (for `relay_ws` and `relay_http`), and the input framing helpers.
//!
//! Everything is built once per process and is deterministic: the keys come from labels, so
//! the corpus written by `seeds` stays valid for the fixture the targets rebuild.

use memecoin_core::block::Block;
use memecoin_core::crypto::SecretKey;
use memecoin_core::finality::{Checkpoint, SignedVote, Vote};
use memecoin_core::header::{Header, SignedHeader};
use memecoin_core::light::{FinalityProof, LightClient};
use memecoin_core::pos::HashChain;
use memecoin_core::slashing::Evidence;
use memecoin_core::tx::{SignedTx, TxKind};
use std::sync::{Arc, OnceLock};

pub use memecoin_core::test_utils::{CHAIN_LENGTH, Net, key, secret};

/// Blocks in the fixture chain: three epochs of 8 slots, so that proofs cross epochs.
pub const BLOCKS: u64 = 26;

/// The fixture chain and the objects the seeds are made of.
pub struct Fixture {
    /// Genesis, chain, node store, blocks (`net.blocks[i]` applies to `net.states[i]`).
    pub net: Net,
    /// One finality proof per epoch, in the order a light client from genesis accepts them.
    pub finality_proofs: Vec<FinalityProof>,
    /// For each proof, the headers that link its source to the finalized block before it.
    pub finality_links: Vec<Vec<SignedHeader>>,
    /// A double proposal and a double vote by validator 0.
    pub evidence: Vec<Evidence>,
    /// Transactions valid on top of the tip: a transfer, a stake, an unstake, evidence.
    pub tip_txs: Vec<SignedTx>,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let mut net = Net::new(4, 3);
    let staker = net.users[2].clone();
    for i in 0..BLOCKS {
        let mut txs = vec![net.transfer(0, net.user_address(1), 1_000 + i, i)];
        if i % 3 == 1 {
            txs.push(net.transfer(1, net.user_address(0), 5, i / 3));
        }
        if i == 4 {
            let commitment = HashChain::new(secret(&staker), CHAIN_LENGTH).commitment();
            txs.push(net.tx(&staker, 0, TxKind::Stake { amount: 5_000_000_000, commitment }));
        }
        if i == 14 {
            txs.push(net.tx(&staker, 1, TxKind::Unstake { amount: 1_000_000_000 }));
        }
        net.produce(txs);
    }

    // Finality proofs as a relay serves them: the last certified link of each epoch.
    let params = net.chain.params.clone();
    let mut lc = LightClient::from_genesis(&net.genesis).expect("fixture genesis is valid");
    let mut finality_proofs = Vec::new();
    let mut finality_links = Vec::new();
    for i in 0..net.blocks.len().saturating_sub(2) {
        let slot = |j: usize| net.blocks[j].header.header.slot;
        if params.epoch_of(slot(i + 1)) == params.epoch_of(slot(i + 2)) {
            continue;
        }
        let Some(certificate) = net.blocks[i + 2].certificate.clone() else { continue };
        let epoch = params.epoch_of(slot(i + 1));
        let target_set = (epoch != lc.epoch()).then(|| net.states[i + 2].meta.current.clone());
        let proof = FinalityProof {
            source: net.blocks[i].header.header.clone(),
            target: net.blocks[i + 1].header.clone(),
            certificate,
            target_set,
        };
        let links = net.links(&lc.finalized().hash, &proof.source);
        lc.accept_finality(&proof, &links).expect("the fixture's finality proofs verify");
        finality_proofs.push(proof);
        finality_links.push(links);
    }

    let evidence = vec![double_proposal(&net), double_vote(&net)];
    let user = &net.users[0];
    let nonce = net.nonce(user);
    let staker_nonce = net.nonce(&staker);
    let commitment = HashChain::new(secret(user), CHAIN_LENGTH).commitment();
    let tip_txs = vec![
        net.transfer(0, net.user_address(2), 77, nonce),
        net.tx(user, nonce, TxKind::Stake { amount: 2_000_000_000, commitment }),
        net.tx(&staker, staker_nonce, TxKind::Unstake { amount: 1_000_000_000 }),
        net.tx(user, nonce, TxKind::Evidence(Box::new(evidence[0].clone()))),
    ];
    Fixture { net, finality_proofs, finality_links, evidence, tip_txs }
}

/// The proposer of block 1 signs a second header for the same slot.
fn double_proposal(net: &Net) -> Evidence {
    let first: &SignedHeader = &net.blocks[1].header;
    let key: &SecretKey = net.validator(&first.header.proposer);
    let mut other: Header = first.header.clone();
    other.tx_root = memecoin_core::hash::Hash([7; 32]);
    let second = other.sign(&net.chain.id, key);
    Evidence::double_proposal(first.clone(), second).expect("two different headers")
}

/// Validator 0 votes for two different blocks at one height.
fn double_vote(net: &Net) -> Evidence {
    let key = &net.validators[0];
    let source = Checkpoint { height: 0, hash: net.chain.id };
    let vote = |hash| Vote { epoch: 0, source, target: Checkpoint { height: 2, hash } };
    let a: SignedVote = vote(net.blocks[1].hash()).sign(&net.chain.id, key);
    let b: SignedVote = vote(net.blocks[2].hash()).sign(&net.chain.id, key);
    Evidence::double_vote(a, b).expect("two different votes")
}

/// A block's bytes with its header re-signed by the elected proposer of `state` after the
/// transaction root and certificate hash were recomputed from the body, so that a fuzzed
/// body reaches execution instead of stopping at the proposer signature.
pub fn reseal(net: &Net, state: &memecoin_core::state::ChainState, mut block: Block) -> Block {
    use memecoin_core::finality::Certificate;
    let tx_root = memecoin_core::merkle::root(&block.tx_ids());
    let certificate =
        block.certificate.as_ref().map_or(memecoin_core::hash::Hash::ZERO, Certificate::hash);
    let h = &mut block.header.header;
    h.tx_root = tx_root;
    h.certificate = certificate;
    if let Some(elected) = memecoin_core::state::proposer_for(&net.chain, state, h.slot) {
        h.proposer = elected;
    }
    let key = net.validators.iter().chain(net.users.iter()).find(|k| k.public_key() == h.proposer);
    match key {
        Some(key) => {
            let header = block.header.header.clone();
            block.header = header.sign(&net.chain.id, key);
            block
        }
        None => block,
    }
}

/// Splits `data` into length-prefixed items: `[kind u8][len u16 BE][len bytes]`, at most
/// `max` items; a short tail ends the list.
pub fn items(mut data: &[u8], max: usize) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while out.len() < max {
        let [kind, hi, lo, rest @ ..] = data else { break };
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (item, tail) = rest.split_at(len);
        out.push((*kind, item));
        data = tail;
    }
    out
}

/// Encodes one item for [`items`].
pub fn item(kind: u8, bytes: &[u8]) -> Vec<u8> {
    let len = u16::try_from(bytes.len()).expect("items are below 64 KiB");
    let mut out = vec![kind];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// A relay node that has imported the fixture chain, as the network and HTTP layers see it,
/// with the runtime to drive them. Its data dir is under the system temp dir, one per process;
/// dirs of processes that are gone are removed when the next one starts.
pub struct Relay {
    pub runtime: tokio::runtime::Runtime,
    pub shared: Arc<memecoin_relay::shared::Shared>,
    pub faucet: Arc<memecoin_relay::faucet::Faucet>,
    /// The wallet page's folder (`index.html`, `app.js`), and a file beside it that must never
    /// be served.
    pub www: std::path::PathBuf,
    pub secret_file: Vec<u8>,
    /// Keeps `shared.stopping` open: connections end when it flips or is dropped.
    _stop: tokio::sync::watch::Sender<bool>,
}

pub fn relay() -> &'static Relay {
    static RELAY: OnceLock<Relay> = OnceLock::new();
    RELAY.get_or_init(start_relay)
}

fn start_relay() -> Relay {
    let f = fixture();
    let base = std::env::temp_dir();
    // Leftovers of earlier runs whose process is gone (libFuzzer exits without running drops).
    if let Ok(dirs) = std::fs::read_dir(&base) {
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("memecoin-fuzz-relay-") {
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(dir.path());
                }
            }
        }
    }
    let dir = base.join(format!("memecoin-fuzz-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("temp dir is writable");
    std::fs::write(www.join("index.html"), b"<!doctype html>page").expect("write");
    std::fs::write(www.join("app.js"), b"// app").expect("write");
    let secret_file = b"not for the web: outside www".to_vec();
    std::fs::write(dir.join("secret.json"), &secret_file).expect("write");
    let mut node = memecoin_node::node::Node::open(f.net.genesis.clone(), &dir.join("data"), None)
        .expect("the fixture genesis opens");
    for block in &f.net.blocks {
        node.import_block(block.clone()).expect("the fixture chain imports");
    }
    node.take_events();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let shared = memecoin_relay::shared::Shared::new(
        node,
        Some("ws://127.0.0.1:9/ws".into()),
        true,
        stopping,
        memecoin_relay::limits::Limits::default(),
    );
    let faucet = Arc::new(memecoin_relay::faucet::Faucet::new(
        memecoin_relay::faucet::FaucetConfig::devnet(f.net.users[0].clone()),
    ));
    Relay { runtime, shared, faucet, www, secret_file, _stop: stop }
}

/// Decodes `bytes` as `T`; if it decodes, its encoding must be `bytes` exactly (one canonical
/// encoding per value), and that encoding must decode to the same value.
fn round_trip<T>(bytes: &[u8])
where
    T: memecoin_core::encode::Decode + memecoin_core::encode::Encode + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = T::from_bytes(bytes) {
        let encoded = value.to_bytes();
        assert_eq!(encoded, bytes, "{}: encode(decode(b)) != b", T::NAME);
        assert_eq!(T::from_bytes(&encoded).as_ref(), Ok(&value), "{}: not stable", T::NAME);
    }
}

/// Every type of core with a `Decode`, by the selector byte of the `decode` target's input
/// (`input[0] % DECODERS.len()`; the rest of the input is the bytes). Append only: the corpus
/// names types by their index.
pub const DECODERS: &[(&str, fn(&[u8]))] = {
    use memecoin_core::{
        account, address, block, crypto, finality, genesis, hash, header, light, merkle, params,
        pos, slashing, state, tree, tx,
    };
    &[
        ("hash", round_trip::<hash::Hash>),
        ("public_key", round_trip::<crypto::PublicKey>),
        ("signature", round_trip::<crypto::Signature>),
        ("address", round_trip::<address::Address>),
        ("account", round_trip::<account::Account>),
        ("tx", round_trip::<tx::Tx>),
        ("signed_tx", round_trip::<tx::SignedTx>),
        ("header", round_trip::<header::Header>),
        ("signed_header", round_trip::<header::SignedHeader>),
        ("block", round_trip::<block::Block>),
        ("checkpoint", round_trip::<finality::Checkpoint>),
        ("vote", round_trip::<finality::Vote>),
        ("signed_vote", round_trip::<finality::SignedVote>),
        ("certificate", round_trip::<finality::Certificate>),
        ("evidence", round_trip::<slashing::Evidence>),
        ("validator_set", round_trip::<pos::ValidatorSet>),
        ("params", round_trip::<params::Params>),
        ("genesis", round_trip::<genesis::Genesis>),
        ("chain_meta", round_trip::<state::ChainMeta>),
        ("tip", round_trip::<state::Tip>),
        ("chain_state", round_trip::<state::ChainState>),
        ("tree_node", round_trip::<tree::Node>),
        ("tree_proof", round_trip::<tree::Proof>),
        ("inclusion_proof", round_trip::<merkle::InclusionProof>),
        ("account_proof", round_trip::<light::AccountProof>),
        ("anchor", round_trip::<light::Anchor>),
        ("trusted", round_trip::<light::Trusted>),
        ("finality_proof", round_trip::<light::FinalityProof>),
    ]
};

/// The selector byte of a `DECODERS` entry.
pub fn decoder(name: &str) -> u8 {
    let index = DECODERS.iter().position(|(n, _)| *n == name).expect("a known decoder");
    u8::try_from(index).expect("fewer than 256 decoders")
}
