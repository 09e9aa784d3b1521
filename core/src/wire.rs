//! The `/ws` message protocol, shared by browsers and relays.
//!
//! Relays and the browser wallet (memecoin-wasm) both speak it; the JSON codec needs `std`.
//!
//! Every frame is one JSON text message `{"type": "...", ...}`. Protocol objects (transactions,
//! headers, blocks, votes, evidence, proofs) travel as lower-case hex of their canonical bytes
//! (PROTOCOL.md): the receiver decodes and verifies them with core, never trusting the JSON
//! around them. Requests carry a client-chosen `id` echoed in the reply.
//!
//! A connection starts with `hello` from each side; a wrong protocol version or chain id closes
//! it with a reason. PROTOCOL.md ("Wire protocol") lists every message.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to the messages below.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame accepted, in bytes: a full block in hex plus its envelope.
pub const MAX_FRAME: usize = 2 * crate::block::MAX_BLOCK_SIZE + 1024;
/// Most items one range request may ask for.
pub const MAX_RANGE: u64 = 256;
/// Most addresses one connection may subscribe to.
pub const MAX_ACCOUNT_SUBSCRIPTIONS: usize = 64;
/// Most peer addresses in one `peers` message.
pub const MAX_PEERS_PER_MESSAGE: usize = 32;
/// Most node hashes one `get_nodes` may name.
pub const MAX_NODE_HASHES: usize = 64;
/// Most state-tree nodes in one `nodes` reply.
pub const MAX_NODES_REPLY: usize = 1024;

/// What a connection says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Browser,
    Relay,
}

/// Which stored view a state query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum At {
    #[default]
    Finalized,
    Head,
}

/// A message from either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// First message on a connection, both ways.
    Hello {
        version: u32,
        /// Hex chain id (genesis hash).
        chain_id: String,
        role: Role,
        /// A relay's own dialable `ws://host:port/ws` address, for peer exchange.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        listen: Option<String>,
        /// The sender's head height, so a relay knows whom to sync from.
        #[serde(default)]
        head_height: u64,
    },
    /// Submit a transaction; the reply is `tx_result`.
    SubmitTx {
        id: u64,
        tx: String,
    },
    TxResult {
        id: u64,
        tx_id: Option<String>,
        accepted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Ask for notifications: new heads, finality, changes to accounts.
    Subscribe {
        #[serde(default)]
        heads: bool,
        #[serde(default)]
        finality: bool,
        #[serde(default)]
        accounts: Vec<String>,
    },
    /// Request signed headers `from..from+count` of the head chain.
    GetHeaders {
        id: u64,
        from: u64,
        count: u64,
    },
    Headers {
        id: u64,
        headers: Vec<String>,
    },
    /// Request blocks `from..from+count` of the head chain.
    GetBlocks {
        id: u64,
        from: u64,
        count: u64,
    },
    Blocks {
        id: u64,
        blocks: Vec<String>,
    },
    /// Request the finality proofs a light client needs from height `since` on: the newest one
    /// per epoch, oldest first, then the newest overall. With `latest`, only the newest one
    /// (a client far behind tries it alone first: it may skip the epochs between).
    GetFinality {
        id: u64,
        since: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        latest: bool,
    },
    Finality {
        id: u64,
        proofs: Vec<String>,
    },
    /// Request an account proof against the finalized or head state.
    GetAccount {
        id: u64,
        address: String,
        #[serde(default)]
        at: At,
    },
    Account {
        id: u64,
        /// Hex of the header whose state root the proof is against.
        header: String,
        proof: String,
    },
    /// Request the chain meta of the finalized state (§6), with what proves it.
    GetMeta {
        id: u64,
    },
    Meta {
        id: u64,
        /// The finalized block's height and hash (hex): a client checks that it is its own
        /// finalized block, whose state root it knows.
        height: u64,
        hash: String,
        /// Hex of that state's accounts root: with the meta's hash, it makes the state root.
        accounts_root: String,
        /// Hex of the encoded `ChainMeta`.
        meta: String,
    },
    /// Request a stored block and the state after it, by the block's hash (hex): where a
    /// checkpoint sync starts (PROTOCOL.md §16.11).
    GetCheckpoint {
        id: u64,
        hash: String,
    },
    Checkpoint {
        id: u64,
        /// Hex of the `Block`.
        block: String,
        /// Hex of the `ChainState` after it.
        state: String,
    },
    /// Request state-tree nodes by hash (hex, at most `MAX_NODE_HASHES`), each followed by the
    /// nodes below it, breadth first: subtrees, each checked against the hash that names it.
    GetNodes {
        id: u64,
        hashes: Vec<String>,
    },
    Nodes {
        id: u64,
        /// Hex of each `Node`, at most `MAX_NODES_REPLY`.
        nodes: Vec<String>,
    },
    /// Request an inclusion proof of a transaction.
    GetInclusion {
        id: u64,
        tx_id: String,
    },
    Inclusion {
        id: u64,
        /// Hex of the header of the including block; `None` if pending or unknown.
        header: Option<String>,
        proof: Option<String>,
        status: String,
    },
    /// Gossip.
    Tx {
        tx: String,
    },
    Block {
        block: String,
    },
    Vote {
        vote: String,
    },
    Evidence {
        evidence: String,
    },
    Peers {
        peers: Vec<String>,
    },
    /// Notifications.
    Head {
        header: String,
    },
    Finalized {
        proof: String,
    },
    AccountChanged {
        address: String,
    },
    /// A request could not be served.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        reason: String,
    },
}

/// `latest` is written only when set, so a request without it reads the same to every relay.
fn is_false(flag: &bool) -> bool {
    !*flag
}

#[cfg(feature = "std")]
impl Message {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("bad message: {e}"))
    }
}

/// The `id` of a frame that is a JSON object with an integer `id`, whether or not it is a valid
/// message: what a relay puts in the `error` for a request it could not parse.
#[cfg(feature = "std")]
pub fn request_id(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct WithId {
        id: u64,
    }
    serde_json::from_str::<WithId>(text).ok().map(|m| m.id)
}

/// Decodes a hex field into a core object, with a reason naming the field.
pub fn decode_hex<T: crate::encode::Decode>(field: &str, hex_text: &str) -> Result<T, String> {
    let max_hex = T::MAX_SIZE.saturating_mul(2);
    if hex_text.len() > max_hex {
        return Err(format!("{field}: {} hex characters, at most {max_hex}", hex_text.len()));
    }
    let bytes = hex::decode(hex_text).map_err(|e| format!("{field}: bad hex: {e}"))?;
    T::from_bytes(&bytes).map_err(|e| format!("{field}: {e}"))
}

pub fn encode_hex<T: crate::encode::Encode>(value: &T) -> String {
    hex::encode(value.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_unknown_is_an_error() {
        let m = Message::SubmitTx { id: 7, tx: "00".into() };
        let text = m.to_json();
        assert_eq!(text, r#"{"type":"submit_tx","id":7,"tx":"00"}"#);
        assert_eq!(Message::from_json(&text), Ok(m));
        assert!(
            Message::from_json(r#"{"type":"launch_rockets"}"#)
                .unwrap_err()
                .contains("unknown variant")
        );
        assert!(Message::from_json("not json").is_err());
        assert_eq!(request_id(r#"{"type":"get_headers","id":7,"count":"x"}"#), Some(7));
        assert_eq!(request_id(r#"{"type":"tx","tx":"00"}"#), None);
        assert_eq!(request_id("not json"), None);
        assert!(Message::from_json(r#"{"type":"submit_tx","id":1,"tx":"00","extra":1}"#).is_err());
    }

    #[test]
    fn get_finality_writes_latest_only_when_set() {
        let all = Message::GetFinality { id: 1, since: 2, latest: false };
        assert_eq!(all.to_json(), r#"{"type":"get_finality","id":1,"since":2}"#);
        let newest = Message::GetFinality { id: 1, since: 2, latest: true };
        assert_eq!(newest.to_json(), r#"{"type":"get_finality","id":1,"since":2,"latest":true}"#);
        assert_eq!(Message::from_json(&newest.to_json()), Ok(newest));
        assert_eq!(Message::from_json(&all.to_json()), Ok(all));
    }

    #[test]
    fn hex_fields_are_checked() {
        use crate::hash::Hash;
        assert!(decode_hex::<Hash>("hash", "zz").unwrap_err().contains("bad hex"));
        assert!(decode_hex::<Hash>("hash", &"00".repeat(33)).unwrap_err().contains("at most 64"));
        assert_eq!(decode_hex::<Hash>("hash", &"11".repeat(32)), Ok(Hash([0x11; 32])));
    }
}
