//! The relay's WebSocket message handler: `net::serve_connection`, the task that runs every
//! `/ws` connection, on a relay node holding the fixture chain, with the socket replaced by
//! the channels its reader and writer tasks use. The input is `[mode][frames, one per line]`
//! (at most 64, the reader's queue); with mode bit 0 a valid `hello` comes first (bit 1: as a
//! relay, else as a browser). It must not panic or hang, and everything it sends parses as a
//! `wire::Message`.
//!
//! The node is shared by all inputs of a process, as a relay's is by its connections: objects
//! that are valid (from the seeds) change it once (a transaction enters the mempool, a block is
//! known); everything else is rejected without a trace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_relay::net::{Outbox, Outgoing, serve_connection};
use memecoin_relay::wire::{Message, PROTOCOL_VERSION, Role};
use tokio::sync::mpsc;

fuzz_target!(|data: &[u8]| {
    let Some((mode, frames)) = data.split_first() else { return };
    let relay = memecoin_fuzz::relay();
    let mut lines: Vec<String> = Vec::new();
    if mode & 1 == 1 {
        let hello = Message::Hello {
            version: PROTOCOL_VERSION,
            chain_id: memecoin_fuzz::fixture().net.chain.id.to_hex(),
            role: if mode & 2 == 2 { Role::Relay } else { Role::Browser },
            listen: None,
            head_height: 0,
        };
        lines.push(hello.to_json());
    }
    for frame in frames.split(|b| *b == b'\n').take(64) {
        // Text frames only: the reader task drops a non-UTF-8 frame before the handler.
        if let Ok(text) = std::str::from_utf8(frame) {
            lines.push(text.to_owned());
        }
    }
    lines.truncate(64);
    relay.runtime.block_on(async {
        let (in_tx, in_rx) = mpsc::channel(64);
        let (outbox, mut out_rx) = Outbox::new();
        for line in lines {
            in_tx.try_send(line).expect("64 frames fit the queue");
        }
        drop(in_tx);
        let from = Some(std::net::Ipv4Addr::LOCALHOST.into());
        serve_connection(relay.shared.clone(), in_rx, outbox, None, from).await;
        while let Ok(out) = out_rx.try_recv() {
            if let Outgoing::Text(text) = out {
                assert!(Message::from_json(&text).is_ok(), "the relay sent {text}");
            }
        }
    });
});
