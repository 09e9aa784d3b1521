//! Every bound of the relay in one place: what the listener keeps open and for how long
//! ([`Limits`], set from the command line), and the fixed caps of connections, queues, rates and
//! caches. An operator reads here what a peer can make the relay hold; a reviewer checks each
//! table and queue against its cap here.

use memecoin_core::wire::{MAX_FRAME, MAX_RANGE};
use std::time::Duration;

/// Bounds on what the listener keeps open and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most sockets open at once, HTTP and WebSocket together.
    pub max_open: usize,
    /// Most sockets open at once from one IP address (0: no per-address cap). Behind a reverse
    /// proxy every client has the proxy's address: raise it or turn it off there.
    pub max_per_ip: usize,
    /// How long a client may take to send a request's head (and an idle keep-alive connection
    /// may wait for its next request).
    pub header_timeout: Duration,
    /// How long a request may take from its head to the response (body and handler).
    pub request_timeout: Duration,
    /// Most WebSockets open at once, accepted and dialed together: an upgrade beyond gets 503.
    pub max_websockets: usize,
    /// Events (§16.5) a connection may fall behind before it lags: a relay peer is then
    /// dropped, a browser sent the current head.
    pub event_buffer: usize,
    /// Most HTTP requests a second from one IP address, over all its connections (0: no
    /// limit). A WebSocket's upgrade is one request; its messages have their own cap
    /// ([`MAX_RATE`]).
    pub max_requests_per_ip: u32,
}

/// Default [`Limits::max_open`]: the WebSocket cap and room for HTTP clients.
pub const MAX_OPEN: usize = MAX_CONNECTIONS + 512;
/// Default [`Limits::max_per_ip`]: a browser opens a few, a relay one or two; a NAT of many
/// users is the case that needs the room.
pub const MAX_PER_IP: usize = 64;
/// Default [`Limits::max_requests_per_ip`]: a page load is a dozen requests, a wallet talks over
/// its WebSocket; a script polling the API a few hundred times a second is refused.
pub const MAX_REQUESTS_PER_IP: u32 = 200;

/// Default [`Limits::header_timeout`].
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_open: MAX_OPEN,
            max_per_ip: MAX_PER_IP,
            header_timeout: HEADER_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_requests_per_ip: MAX_REQUESTS_PER_IP,
            max_websockets: MAX_CONNECTIONS,
            event_buffer: EVENT_BUFFER,
        }
    }
}

/// Capacity of the event fan-out; a connection that falls this far behind is dropped.
pub const EVENT_BUFFER: usize = 4096;
/// Most WebSockets open at once (the default of [`Limits::max_websockets`]).
pub const MAX_CONNECTIONS: usize = 2048;
/// How long a peer disconnected for invalid input is refused.
pub const BAN: Duration = Duration::from_secs(60);
/// Gossip payloads remembered by the seen-cache.
pub const SEEN_CACHE: usize = 65_536;
/// Most banned addresses remembered.
pub const MAX_BANNED: usize = 4096;

/// Frames read from one connection and not yet handled: the reader waits when it is full, so a
/// fast sender is slowed to the pace its messages are handled at (and its rate cap).
pub const INCOMING_QUEUE: usize = 64;
/// Frames queued for one peer before it counts as too slow and is dropped.
pub const OUTGOING_QUEUE: usize = 1024;
/// Messages per second one connection may send.
pub const MAX_RATE: u32 = 2_000;
/// Reads of stored objects (headers, blocks, finality proofs, account and inclusion proofs)
/// one connection may cause a second. A request is one message but up to `MAX_RANGE` reads
/// under the node lock: this bounds what cheap requests make us do (eight full ranges a
/// second; a syncing relay imports slower than that).
pub const MAX_SERVED: u32 = 8 * MAX_RANGE as u32;
/// Bytes queued for one peer before it counts as too slow: room for two of the largest replies.
pub const MAX_QUEUED_BYTES: usize = 2 * MAX_FRAME;
/// A frame the peer does not take within this long ends the connection: a peer that stopped
/// reading is dropped, and its socket closed, at most this long after its queue stops moving.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads of stored objects served to all connections together in a second, shared fairly
/// ([`ReadBudget`](crate::shared::ReadBudget)): as much as one connection may have ([`MAX_SERVED`]), so a
/// lone syncing peer is served at its full rate and many are served at that rate together.
pub const MAX_SERVED_ALL: u64 = MAX_SERVED as u64;
