//! A whole chain in memory for tests and benches: validators that propose, vote and certify,
//! users that send transactions, and a supply check after every block.
//!
//! Behind the `test-utils` feature, for this crate's tests and benches and those of the node and
//! the fuzz targets; no node or wallet builds it. It asserts and unwraps: a test that goes wrong
//! should stop there, so the panic-free lints of the crate do not apply here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::account::Account;
use crate::address::Address;
use crate::block::Block;
use crate::crypto::SecretKey;
use crate::finality::{Certificate, SignedVote, Vote};
use crate::genesis::{Genesis, GenesisAccount, GenesisValidator};
use crate::hash::{Domain, Hash, tagged_hash};
use crate::header::{Header, SignedHeader};
use crate::params::Params;
use crate::pos::HashChain;
use crate::state::{self, Chain, ChainState};
use crate::tree::MemStore;
use crate::tx::{SignedTx, Tx, TxKind};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

pub const CHAIN_LENGTH: u64 = 10_000;
pub const USER_BALANCE: u64 = 1_000_000_000_000;
pub const VALIDATOR_STAKE: u64 = 10_000_000_000;

pub fn key(label: &str, i: u64) -> SecretKey {
    let h = tagged_hash(Domain::Reveal, &[label.as_bytes(), &i.to_be_bytes()]);
    SecretKey::from_bytes(&h.0).unwrap()
}

pub fn secret(key: &SecretKey) -> Hash {
    tagged_hash(Domain::Reveal, &[b"secret", &key.to_bytes()])
}

#[derive(Debug)]
pub struct Net {
    pub genesis: Genesis,
    pub chain: Chain,
    pub store: MemStore,
    pub state: ChainState,
    pub validators: Vec<SecretKey>,
    /// Length of every validator's hash chain (`CHAIN_LENGTH` unless a test shortens it).
    pub chain_length: u64,
    /// The generation of its hash chain each validator last revealed from (PROTOCOL.md §9.3).
    pub generations: BTreeMap<[u8; 33], u64>,
    pub users: Vec<SecretKey>,
    pub addresses: BTreeSet<Address>,
    /// Votes on the tip, to certify in the next block.
    pub votes: Vec<SignedVote>,
    /// Which validators vote (by index); all by default.
    pub voters: Vec<usize>,
    pub blocks: Vec<Block>,
    pub states: Vec<ChainState>,
    /// Validators that miss their slots.
    pub offline: BTreeSet<[u8; 33]>,
}

impl Net {
    /// The signed headers between the block `below` (exclusive) and `top` (exclusive), lowest
    /// first: the links a light client at `below` needs for `top` (PROTOCOL.md §13.4).
    pub fn links(&self, below: &Hash, top: &Header) -> Vec<SignedHeader> {
        let by_hash: BTreeMap<Hash, &Block> = self.blocks.iter().map(|b| (b.hash(), b)).collect();
        let mut links = Vec::new();
        let mut parent = top.parent;
        while parent != *below {
            let Some(block) = by_hash.get(&parent) else { break };
            links.push(block.header.clone());
            parent = block.header.header.parent;
        }
        links.reverse();
        links
    }

    pub fn new(validators: usize, users: usize) -> Self {
        Self::with_params(validators, users, Params::devnet())
    }

    pub fn with_params(validators: usize, users: usize, params: Params) -> Self {
        Self::with_chain_length(validators, users, params, CHAIN_LENGTH)
    }

    /// As [`Net::with_params`], with hash chains of `chain_length` reveals.
    pub fn with_chain_length(
        validators: usize,
        users: usize,
        params: Params,
        chain_length: u64,
    ) -> Self {
        let vkeys: Vec<SecretKey> = (0..validators as u64).map(|i| key("validator", i)).collect();
        let ukeys: Vec<SecretKey> = (0..users as u64).map(|i| key("user", i)).collect();
        let mut genesis = Genesis {
            chain_name: "test".into(),
            genesis_time_ms: 1_700_000_000_000,
            params,
            accounts: ukeys
                .iter()
                .chain(vkeys.iter())
                .map(|k| GenesisAccount {
                    address: Address::from_public_key(&k.public_key()),
                    balance: USER_BALANCE,
                })
                .collect(),
            validators: vkeys
                .iter()
                .map(|k| GenesisValidator {
                    key: k.public_key(),
                    stake: VALIDATOR_STAKE,
                    commitment: HashChain::new(secret(k), chain_length).commitment(),
                })
                .collect(),
        };
        genesis.canonicalize();
        let (chain, state, nodes) = genesis.build().unwrap();
        let mut store = MemStore::default();
        store.extend(nodes);
        let mut addresses = BTreeSet::new();
        for k in vkeys.iter().chain(ukeys.iter()) {
            addresses.insert(Address::from_public_key(&k.public_key()));
        }
        let net = Net {
            genesis,
            chain,
            store,
            states: vec![state.clone()],
            state,
            voters: (0..validators).collect(),
            validators: vkeys,
            chain_length,
            generations: BTreeMap::new(),
            users: ukeys,
            addresses,
            votes: Vec::new(),
            blocks: Vec::new(),
            offline: BTreeSet::new(),
        };
        net.check_supply();
        net
    }

    pub fn validator(&self, key: &crate::crypto::PublicKey) -> &SecretKey {
        self.validators.iter().chain(self.users.iter()).find(|k| &k.public_key() == key).unwrap()
    }

    pub fn account(&self, address: &Address) -> Account {
        self.state.account(&self.store, address).unwrap()
    }

    pub fn user_address(&self, i: usize) -> Address {
        Address::from_public_key(&self.users[i].public_key())
    }

    pub fn transfer(&self, from: usize, to: Address, amount: u64, nonce: u64) -> SignedTx {
        self.tx(&self.users[from], nonce, TxKind::Transfer { to, amount })
    }

    pub fn tx(&self, key: &SecretKey, nonce: u64, kind: TxKind) -> SignedTx {
        Tx {
            chain_id: self.chain.id,
            sender: key.public_key(),
            nonce,
            fee: self.chain.params.min_fee,
            kind,
        }
        .sign(key)
    }

    pub fn nonce(&self, key: &SecretKey) -> u64 {
        self.account(&Address::from_public_key(&key.public_key())).nonce
    }

    /// The next slot with a proposer, and that proposer's reveal.
    pub fn next_slot(&self) -> (u64, SecretKey, Hash) {
        let mut slot = self.state.tip.slot + 1;
        let mut pk = state::proposer_for(&self.chain, &self.state, slot).unwrap();
        while self.offline.contains(pk.as_bytes()) {
            slot += 1;
            pk = state::proposer_for(&self.chain, &self.state, slot).unwrap();
        }
        let k = self.validator(&pk).clone();
        let reveal = self.reveal(&k, slot).0;
        (slot, k, reveal)
    }

    /// Generation `g` of `k`'s hash chain.
    pub fn hash_chain(&self, k: &SecretKey, generation: u64) -> HashChain {
        HashChain::new(secret(k), self.chain_length).renewal(generation)
    }

    /// `k`'s reveal for a block of `slot` on the tip (asked of core, which knows whether a
    /// renewal takes effect in that block), and the generation of its chain that holds it.
    pub fn reveal(&self, k: &SecretKey, slot: u64) -> (Hash, u64) {
        let commitment =
            state::commitment_to_open(&self.chain, &self.state, &k.public_key(), slot).unwrap();
        let g = self.generations.get(k.public_key().as_bytes()).copied().unwrap_or(0);
        [g, g + 1]
            .into_iter()
            .find_map(|g| Some((self.hash_chain(k, g).preimage_of(&commitment)?, g)))
            .expect("the commitment is on the validator's current or next chain")
    }

    /// The certificate for the tip from the current voters, if they reach 2/3.
    pub fn certificate(&self) -> Option<Certificate> {
        let first = self.votes.first()?;
        let set = state::voting_set(&self.state, first.vote.epoch)?;
        let cert = Certificate::from_votes(first.vote, set, &self.votes);
        cert.verify(&self.chain.id, set).ok().map(|_| cert)
    }

    /// Builds the next block (by the elected proposer, carrying a certificate for the tip if
    /// there is one), validates it as a peer would, and applies it.
    pub fn produce(&mut self, txs: Vec<SignedTx>) -> Block {
        let (slot, _, _) = self.next_slot();
        self.produce_at(slot, txs)
    }

    /// As [`Net::produce`], in a given slot (earlier slots are missed).
    pub fn produce_at(&mut self, slot: u64, txs: Vec<SignedTx>) -> Block {
        let pk = state::proposer_for(&self.chain, &self.state, slot).unwrap();
        let k = self.validator(&pk).clone();
        let (reveal, _) = self.reveal(&k, slot);
        let built = state::build_block(
            &self.store,
            &self.chain,
            &self.state,
            &k,
            slot,
            &reveal,
            &txs,
            self.certificate(),
            state::Signatures::Verify,
        )
        .unwrap();
        assert!(built.rejected.is_empty(), "rejected: {:?}", built.rejected);
        self.import(built.block.clone()).unwrap();
        built.block
    }

    /// Validates and applies a block from outside.
    pub fn import(&mut self, block: Block) -> Result<(), state::BlockError> {
        let applied = state::apply_block(
            &self.store,
            &self.chain,
            &self.state,
            &block,
            state::Signatures::Verify,
        )?;
        let h = &block.header.header;
        let proposer = self.validator(&h.proposer).clone();
        let generation = self.reveal(&proposer, h.slot).1;
        self.generations.insert(*h.proposer.as_bytes(), generation);
        self.store.extend(applied.nodes);
        self.state = applied.state;
        for tx in &block.txs {
            self.addresses.insert(tx.tx.sender_address());
            if let TxKind::Transfer { to, .. } = &tx.tx.kind {
                self.addresses.insert(*to);
            }
        }
        self.votes = self.vote_on_tip();
        self.blocks.push(block);
        self.states.push(self.state.clone());
        self.check_supply();
        Ok(())
    }

    fn vote_on_tip(&self) -> Vec<SignedVote> {
        let vote = Vote {
            epoch: self.chain.params.epoch_of(self.state.tip.slot),
            source: self.state.meta.justified,
            target: crate::finality::Checkpoint {
                height: self.state.tip.height,
                hash: self.state.tip.hash,
            },
        };
        self.voters.iter().map(|i| vote.sign(&self.chain.id, &self.validators[*i])).collect()
    }

    /// Balances + stakes + pending unbonds == genesis supply + issued − burned.
    pub fn check_supply(&self) {
        let mut total: u64 = 0;
        for a in &self.addresses {
            total += self.account(a).total().unwrap();
        }
        assert_eq!(Some(total), self.state.meta.supply.expected(), "supply is conserved");
    }
}
