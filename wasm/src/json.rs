//! JSON for the wallet without serde_json: core's `/ws` messages ([`Message`]) both ways, and
//! the genesis chain spec.
//!
//! Core's `Message` is a serde enum tagged by `type`; deserializing such an enum goes through
//! serde's buffering `Content` deserializer, which alone was 64 KB of the served `.wasm`
//! (BENCHMARKS.md, "WebAssembly"). Here the JavaScript engine's `JSON.parse` reads the text and
//! each field is taken from the resulting object by name, with the rules of core's serde
//! attributes: `deny_unknown_fields`, an `Option` field may be missing or `null`, a
//! `#[serde(default)]` field may be missing. Sending goes the other way: serde-wasm-bindgen
//! makes a JavaScript object of the message and `JSON.stringify` writes it. With the genesis
//! read the same way, serde_json is not linked at all.
//!
//! Differences from `Message::from_json`, all on input no relay sends: numbers are JavaScript
//! numbers, so an integer field must be a safe integer (at most 2^53 − 1; ids are the client's
//! own, heights are far below) and `1.0` counts as `1`; a key given twice counts once (the
//! last); `null` counts as missing, also where serde would refuse it; error texts differ in
//! wording (`bad message: missing field `id`` as serde says it, but `bad message: <JSON.parse's
//! message>` for text that is not JSON).
//!
//! The genesis is read by the same rules as core's `Genesis::from_json` (PROTOCOL.md §14.2):
//! an integer is a JSON number up to 2^53 − 1 or a decimal string (which is how core writes
//! larger ones, so `JSON.parse` never rounds one); unknown fields are refused. A spec read
//! differently here than by core would give another chain id, and the light client would then
//! accept nothing from the real chain: the wasm tests compare the two on core's vectors.

use memecoin_core::genesis::{Genesis, GenesisError};
use memecoin_core::wire::Message;

/// Decodes one `/ws` text frame.
pub fn message_from_json(text: &str) -> Result<Message, String> {
    decode(text).map_err(|e| format!("bad message: {e}"))
}

/// The text of one `/ws` frame for `message`.
pub fn message_to_json(message: &Message) -> String {
    encode(message)
}

/// Parses a JSON chain spec (PROTOCOL.md §14.2).
pub fn genesis_from_json(text: &str) -> Result<Genesis, GenesisError> {
    decode_genesis(text).map_err(GenesisError::Json)
}

#[cfg(target_arch = "wasm32")]
use js::{decode, decode_genesis, encode};

#[cfg(not(target_arch = "wasm32"))]
fn encode(message: &Message) -> String {
    message.to_json()
}

#[cfg(not(target_arch = "wasm32"))]
fn decode_genesis(text: &str) -> Result<Genesis, String> {
    Genesis::from_json(text).map_err(|e| match e {
        GenesisError::Json(e) => e,
        other => other.to_string(),
    })
}

/// Natively (clippy, native tests of this crate) there is no `JSON.parse`: core's decoder.
#[cfg(not(target_arch = "wasm32"))]
fn decode(text: &str) -> Result<Message, String> {
    Message::from_json(text).map_err(|e| e.trim_start_matches("bad message: ").to_string())
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod js {
    use js_sys::{Array, JSON, Object, Reflect};
    use memecoin_core::address::Address;
    use memecoin_core::crypto::PublicKey;
    use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
    use memecoin_core::hash::Hash;
    use memecoin_core::json::parse_json_u64;
    use memecoin_core::params::Params;
    use memecoin_core::wire::{At, Message, Role};
    use wasm_bindgen::{JsCast, JsValue};

    /// What a browser sends (PROTOCOL.md §16.8: `hello`, its requests, `subscribe`, evidence),
    /// written as core's serde writes it (field order, `listen` and `latest` only when set), so
    /// serde's `Serialize` for all of `Message` stays out of the wasm. A message a browser never
    /// sends (replies, gossip other than evidence) is the empty string: never built here.
    pub(super) fn encode(message: &Message) -> String {
        use core::fmt::Write;
        let mut out = String::new();
        let _ = match message {
            Message::Hello { version, chain_id, role, listen, head_height } => {
                let role = match role {
                    Role::Browser => "browser",
                    Role::Relay => "relay",
                };
                let _ = write!(out, r#"{{"type":"hello","version":{version},"chain_id":"#);
                string(&mut out, chain_id);
                let _ = write!(out, r#","role":"{role}""#);
                if let Some(listen) = listen {
                    out.push_str(r#","listen":"#);
                    string(&mut out, listen);
                }
                write!(out, r#","head_height":{head_height}}}"#)
            }
            Message::SubmitTx { id, tx } => {
                let _ = write!(out, r#"{{"type":"submit_tx","id":{id},"tx":"#);
                string(&mut out, tx);
                write!(out, "}}")
            }
            Message::Subscribe { heads, finality, accounts } => {
                let _ = write!(
                    out,
                    r#"{{"type":"subscribe","heads":{heads},"finality":{finality},"accounts":["#
                );
                for (i, a) in accounts.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(&mut out, a);
                }
                write!(out, "]}}")
            }
            Message::GetHeaders { id, from, count } => {
                write!(out, r#"{{"type":"get_headers","id":{id},"from":{from},"count":{count}}}"#)
            }
            Message::GetFinality { id, since, latest } => {
                let _ = write!(out, r#"{{"type":"get_finality","id":{id},"since":{since}"#);
                if *latest {
                    out.push_str(r#","latest":true"#);
                }
                write!(out, "}}")
            }
            Message::GetAccount { id, address, at } => {
                let at = match at {
                    At::Finalized => "finalized",
                    At::Head => "head",
                };
                let _ = write!(out, r#"{{"type":"get_account","id":{id},"address":"#);
                string(&mut out, address);
                write!(out, r#","at":"{at}"}}"#)
            }
            Message::GetMeta { id } => write!(out, r#"{{"type":"get_meta","id":{id}}}"#),
            Message::GetInclusion { id, tx_id } => {
                let _ = write!(out, r#"{{"type":"get_inclusion","id":{id},"tx_id":"#);
                string(&mut out, tx_id);
                write!(out, "}}")
            }
            Message::Evidence { evidence } => {
                out.push_str(r#"{"type":"evidence","evidence":"#);
                string(&mut out, evidence);
                write!(out, "}}")
            }
            _ => Ok(()),
        };
        out
    }

    /// A JSON string, escaped as serde_json escapes it.
    fn string(out: &mut String, text: &str) {
        use core::fmt::Write;
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// The object that `text` is, by `JSON.parse`.
    pub(crate) fn parse_object(text: &str) -> Result<Fields, String> {
        let value = JSON::parse(text).map_err(|e| match e.dyn_ref::<js_sys::Error>() {
            Some(error) => String::from(error.message()),
            None => "not JSON".to_string(),
        })?;
        Fields::of(value).ok_or_else(|| "expected an object".into())
    }

    pub(super) fn decode_genesis(text: &str) -> Result<Genesis, String> {
        let o = parse_object(text)?;
        o.exactly(&["chain_name", "genesis_time_ms", "params", "accounts", "validators"])?;
        let p = o.object("params")?;
        p.exactly(&[
            "slot_ms",
            "slots_per_epoch",
            "unbonding_epochs",
            "min_fee",
            "block_reward",
            "max_block_txs",
            "max_validators",
            "min_stake",
            "slash_percent",
        ])?;
        let params = Params {
            slot_ms: p.int("slot_ms")?,
            slots_per_epoch: p.int("slots_per_epoch")?,
            unbonding_epochs: p.int("unbonding_epochs")?,
            min_fee: p.int("min_fee")?,
            block_reward: p.int("block_reward")?,
            max_block_txs: p.number("max_block_txs")?,
            max_validators: p.number("max_validators")?,
            min_stake: p.int("min_stake")?,
            slash_percent: p.number("slash_percent")?,
        };
        let mut accounts = Vec::new();
        for a in o.objects("accounts")? {
            a.exactly(&["address", "balance"])?;
            let address = Address::parse(&a.string("address")?).map_err(|e| e.to_string())?;
            accounts.push(GenesisAccount { address, balance: a.int("balance")? });
        }
        let mut validators = Vec::new();
        for v in o.objects("validators")? {
            v.exactly(&["public_key", "stake", "commitment"])?;
            let bytes = hex::decode(v.string("public_key")?).map_err(|e| e.to_string())?;
            let key = PublicKey::from_sec1(&bytes).map_err(|e| e.to_string())?;
            let commitment = Hash::from_hex(&v.string("commitment")?).map_err(|e| e.to_string())?;
            validators.push(GenesisValidator { key, stake: v.int("stake")?, commitment });
        }
        let mut genesis = Genesis {
            chain_name: o.string("chain_name")?,
            genesis_time_ms: o.int("genesis_time_ms")?,
            params,
            accounts,
            validators,
        };
        genesis.canonicalize();
        Ok(genesis)
    }

    pub(super) fn decode(text: &str) -> Result<Message, String> {
        let o = parse_object(text)?;
        let kind = o.string("type")?;
        let message = match kind.as_str() {
            "hello" => {
                o.only(&["version", "chain_id", "role", "listen", "head_height"])?;
                let version = o.u64("version")?;
                Message::Hello {
                    version: u32::try_from(version).map_err(|_| o.range("version"))?,
                    chain_id: o.string("chain_id")?,
                    role: match o.string("role")?.as_str() {
                        "browser" => Role::Browser,
                        "relay" => Role::Relay,
                        other => return Err(format!("unknown variant `{other}` of `role`")),
                    },
                    listen: o.opt_string("listen")?,
                    head_height: o.opt_u64("head_height")?.unwrap_or_default(),
                }
            }
            "tx_result" => {
                o.only(&["id", "tx_id", "accepted", "reason"])?;
                Message::TxResult {
                    id: o.u64("id")?,
                    tx_id: o.opt_string("tx_id")?,
                    accepted: o.bool("accepted")?.ok_or_else(|| missing("accepted"))?,
                    reason: o.opt_string("reason")?,
                }
            }
            "headers" => {
                o.only(&["id", "headers"])?;
                Message::Headers { id: o.u64("id")?, headers: o.list("headers")? }
            }
            "finality" => {
                o.only(&["id", "proofs"])?;
                Message::Finality { id: o.u64("id")?, proofs: o.list("proofs")? }
            }
            "account" => {
                o.only(&["id", "header", "proof"])?;
                Message::Account {
                    id: o.u64("id")?,
                    header: o.string("header")?,
                    proof: o.string("proof")?,
                }
            }
            "meta" => {
                o.only(&["id", "height", "hash", "accounts_root", "meta"])?;
                Message::Meta {
                    id: o.u64("id")?,
                    height: o.u64("height")?,
                    hash: o.string("hash")?,
                    accounts_root: o.string("accounts_root")?,
                    meta: o.string("meta")?,
                }
            }
            "inclusion" => {
                o.only(&["id", "header", "proof", "status"])?;
                Message::Inclusion {
                    id: o.u64("id")?,
                    header: o.opt_string("header")?,
                    proof: o.opt_string("proof")?,
                    status: o.string("status")?,
                }
            }
            "head" => {
                o.only(&["header"])?;
                Message::Head { header: o.string("header")? }
            }
            "finalized" => {
                o.only(&["proof"])?;
                Message::Finalized { proof: o.string("proof")? }
            }
            "account_changed" => {
                o.only(&["address"])?;
                Message::AccountChanged { address: o.string("address")? }
            }
            "error" => {
                o.only(&["id", "reason"])?;
                Message::Error { id: o.opt_u64("id")?, reason: o.string("reason")? }
            }
            // What relays send only to relays (§16.8: requests, gossip, peers): a browser never
            // reads them, and leaving them out keeps their decoders out of the wasm.
            "submit_tx" | "subscribe" | "get_headers" | "get_blocks" | "blocks"
            | "get_finality" | "get_account" | "get_meta" | "get_inclusion" | "tx" | "block"
            | "vote" | "evidence" | "peers" => {
                return Err(format!("`{kind}` is not sent to browsers"));
            }
            other => return Err(format!("unknown variant `{other}`")),
        };
        Ok(message)
    }

    fn missing(key: &str) -> String {
        format!("missing field `{key}`")
    }

    /// The fields of one parsed JSON object.
    pub(crate) struct Fields(Object);

    impl Fields {
        /// `value` if it is a JSON object (not an array, not `null`).
        fn of(value: JsValue) -> Option<Fields> {
            (value.is_object() && !Array::is_array(&value)).then(|| Fields(value.unchecked_into()))
        }

        /// The field, or `None` if it is missing or `null` (as serde reads an `Option`).
        fn get(&self, key: &str) -> Result<Option<JsValue>, String> {
            let value = Reflect::get(&self.0, &JsValue::from_str(key))
                .map_err(|_| format!("cannot read `{key}`"))?;
            Ok(if value.is_undefined() || value.is_null() { None } else { Some(value) })
        }

        fn wrong(&self, key: &str, expected: &str) -> String {
            format!("invalid type of `{key}`, expected {expected}")
        }

        fn range(&self, key: &str) -> String {
            format!("`{key}` is out of range")
        }

        /// `deny_unknown_fields`: every key is `type` or one of `known`.
        fn only(&self, known: &[&str]) -> Result<(), String> {
            for key in Object::keys(&self.0).iter() {
                let key = key.as_string().unwrap_or_default();
                if key != "type" && !known.contains(&key.as_str()) {
                    return Err(format!("unknown field `{key}`"));
                }
            }
            Ok(())
        }

        /// `deny_unknown_fields` where no key is exempt.
        pub(crate) fn exactly(&self, known: &[&str]) -> Result<(), String> {
            for key in Object::keys(&self.0).iter() {
                let key = key.as_string().unwrap_or_default();
                if !known.contains(&key.as_str()) {
                    return Err(format!("unknown field `{key}`"));
                }
            }
            Ok(())
        }

        /// A `u64` of the chain spec: a safe-integer number, or a decimal string
        /// (PROTOCOL.md §14.2).
        fn int(&self, key: &str) -> Result<u64, String> {
            let v = self.get(key)?.ok_or_else(|| missing(key))?;
            match v.as_string() {
                Some(text) => parse_json_u64(&text).ok_or_else(|| self.range(key)),
                None => self.u64(key),
            }
        }

        /// A small integer of the chain spec (`u32`, `u8`): a JSON number only, as core reads it.
        fn number<T: TryFrom<u64>>(&self, key: &str) -> Result<T, String> {
            T::try_from(self.u64(key)?).map_err(|_| self.range(key))
        }

        fn object(&self, key: &str) -> Result<Fields, String> {
            let v = self.get(key)?.ok_or_else(|| missing(key))?;
            Fields::of(v).ok_or_else(|| self.wrong(key, "an object"))
        }

        fn objects(&self, key: &str) -> Result<Vec<Fields>, String> {
            let v = self.get(key)?.ok_or_else(|| missing(key))?;
            let array = v.dyn_into::<Array>().map_err(|_| self.wrong(key, "an array"))?;
            let mut items = Vec::new();
            for item in array.iter() {
                items.push(Fields::of(item).ok_or_else(|| self.wrong(key, "objects"))?);
            }
            Ok(items)
        }

        pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, String> {
            match self.get(key)? {
                None => Ok(None),
                Some(v) => v.as_string().map(Some).ok_or_else(|| self.wrong(key, "a string")),
            }
        }

        pub(crate) fn string(&self, key: &str) -> Result<String, String> {
            self.opt_string(key)?.ok_or_else(|| missing(key))
        }

        fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
            let Some(v) = self.get(key)? else { return Ok(None) };
            let n = v.as_f64().ok_or_else(|| self.wrong(key, "an integer"))?;
            // JavaScript numbers are exact integers up to 2^53 − 1.
            if !(0.0..=9_007_199_254_740_991.0).contains(&n) || n.fract() != 0.0 {
                return Err(self.range(key));
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Some(n as u64))
        }

        pub(crate) fn u64(&self, key: &str) -> Result<u64, String> {
            self.opt_u64(key)?.ok_or_else(|| missing(key))
        }

        fn bool(&self, key: &str) -> Result<Option<bool>, String> {
            match self.get(key)? {
                None => Ok(None),
                Some(v) => v.as_bool().map(Some).ok_or_else(|| self.wrong(key, "a boolean")),
            }
        }

        fn opt_list(&self, key: &str) -> Result<Option<Vec<String>>, String> {
            let Some(v) = self.get(key)? else { return Ok(None) };
            let array = v.dyn_into::<Array>().map_err(|_| self.wrong(key, "an array"))?;
            let mut items = Vec::new();
            for item in array.iter() {
                items.push(item.as_string().ok_or_else(|| self.wrong(key, "strings"))?);
            }
            Ok(Some(items))
        }

        fn list(&self, key: &str) -> Result<Vec<String>, String> {
            self.opt_list(key)?.ok_or_else(|| missing(key))
        }
    }
}
