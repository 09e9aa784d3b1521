//! The devnet faucet: `POST /api/faucet` sends test coins from a funded key the relay holds.
//!
//! Only a relay configured with a faucet key has one: `memecoin-relay devnet` gives its first
//! relay the devnet's dev account (`run` has no faucet). It signs an ordinary transfer with the
//! sender's next nonce (pending transactions included) and offers it to the mempool like any
//! other, so the faucet decides nothing about validity. Requests are rate-limited per address
//! and per client IP, in a bounded table.

use crate::admission::client_key;
use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses and IPs remembered for rate limiting; when full, expired entries are dropped
/// and, if none expired, the request is refused.
pub const MAX_REMEMBERED: usize = 4096;

/// How a faucet pays.
#[derive(Clone)]
pub struct FaucetConfig {
    /// The funded key coins are sent from.
    pub key: SecretKey,
    /// Base units per request.
    pub amount: u64,
    /// Least time between two payments to the same address.
    pub per_address: Duration,
    /// Most payments to one client IP per `per_address` window.
    pub per_ip: u32,
}

impl std::fmt::Debug for FaucetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaucetConfig")
            .field("from", &Address::from_public_key(&self.key.public_key()))
            .field("amount", &self.amount)
            .field("per_address", &self.per_address)
            .field("per_ip", &self.per_ip)
            .finish()
    }
}

impl FaucetConfig {
    /// The devnet's: 1000 coins (10^12 base units), once a minute per address, 20 a minute per IP.
    pub fn devnet(key: SecretKey) -> Self {
        FaucetConfig {
            key,
            amount: 1_000_000_000_000,
            per_address: Duration::from_secs(60),
            per_ip: 20,
        }
    }
}

/// Why the faucet refused before anything was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This address was paid less than `per_address` ago; retry after the seconds given.
    AddressTooSoon(u64),
    /// This IP asked too often; retry after the seconds given.
    IpTooOften(u64),
    /// Paying would let the faucet's coins reach a blocking share of the stake (below).
    Budget,
    /// The rate table is full of live entries.
    Busy,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::AddressTooSoon(s) => {
                write!(f, "this address was funded recently; try again in {s} s")
            }
            Refusal::IpTooOften(s) => write!(f, "too many requests; try again in {s} s"),
            Refusal::Budget => write!(
                f,
                "the faucet has handed out all it may: more could let one visitor hold a blocking \
                 share of the validators' stake"
            ),
            Refusal::Busy => write!(f, "the faucet is busy; try again later"),
        }
    }
}

/// What the faucet's account looks like at the head, for [`within_budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spending {
    /// The account's balance in the genesis spec.
    pub genesis_balance: u64,
    /// Its balance at the head.
    pub balance: u64,
    /// Its transactions waiting in the mempool (each at most `amount + fee`).
    pub pending: u64,
    /// The total stake of the head's current validator set.
    pub set_stake: u64,
}

/// Whether paying `amount` (plus `fee`) keeps everything the faucet's account has spent — at the
/// head, pending, and this payment — under 1/3 of the current set's stake. One visitor who
/// gathered all of it and staked it would then hold `F` against honest stake of at least
/// `S − F` (`S` the set's stake, which may already count faucet coins): a blocking share needs
/// `F ≥ (S − F) / 2`, i.e. `3F ≥ S`. Spending by others with the same key (the devnet's dev
/// account is public) counts too, which only closes the faucet sooner.
pub fn within_budget(s: &Spending, amount: u64, fee: u64) -> Result<(), Refusal> {
    let each = u128::from(amount) + u128::from(fee);
    let spent = u128::from(s.genesis_balance.saturating_sub(s.balance))
        .saturating_add(u128::from(s.pending).saturating_mul(each))
        .saturating_add(each);
    if spent.saturating_mul(3) < u128::from(s.set_stake) { Ok(()) } else { Err(Refusal::Budget) }
}

/// A running faucet: its config and the rate table.
#[derive(Debug)]
pub struct Faucet {
    pub config: FaucetConfig,
    /// Address → last payment; IP → (window start, payments in it).
    seen: Mutex<Rates>,
}

#[derive(Debug, Default)]
struct Rates {
    addresses: HashMap<Address, Instant>,
    ips: HashMap<IpAddr, (Instant, u32)>,
}

impl Faucet {
    pub fn new(config: FaucetConfig) -> Self {
        Faucet { config, seen: Mutex::new(Rates::default()) }
    }

    pub fn from(&self) -> Address {
        Address::from_public_key(&self.config.key.public_key())
    }

    /// Counts a request for `to` from `ip` at `now`, or says why it is refused. A request that
    /// is admitted here and then refused by the mempool still counts (it cost a signature).
    /// An IP counts as the relay's other per-address bounds do ([`client_key`]: an IPv6 /64 is
    /// one client).
    pub fn admit(&self, to: &Address, ip: Option<IpAddr>, now: Instant) -> Result<(), Refusal> {
        let ip = ip.map(client_key);
        let window = self.config.per_address;
        let Ok(mut rates) = self.seen.lock() else { return Err(Refusal::Busy) };
        let left =
            |since: Instant| window.saturating_sub(now.duration_since(since)).as_secs().max(1);
        if let Some(last) = rates.addresses.get(to)
            && now.duration_since(*last) < window
        {
            return Err(Refusal::AddressTooSoon(left(*last)));
        }
        if let Some(ip) = ip
            && let Some((start, count)) = rates.ips.get(&ip)
            && now.duration_since(*start) < window
            && *count >= self.config.per_ip
        {
            return Err(Refusal::IpTooOften(left(*start)));
        }
        if rates.addresses.len() >= MAX_REMEMBERED || rates.ips.len() >= MAX_REMEMBERED {
            rates.addresses.retain(|_, t| now.duration_since(*t) < window);
            rates.ips.retain(|_, (t, _)| now.duration_since(*t) < window);
        }
        let full = rates.addresses.len() >= MAX_REMEMBERED
            || (ip.is_some_and(|ip| !rates.ips.contains_key(&ip))
                && rates.ips.len() >= MAX_REMEMBERED);
        if full {
            return Err(Refusal::Busy);
        }
        rates.addresses.insert(*to, now);
        if let Some(ip) = ip {
            let entry = rates.ips.entry(ip).or_insert((now, 0));
            if now.duration_since(entry.0) >= window {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faucet(per_ip: u32) -> Faucet {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        Faucet::new(FaucetConfig { key, amount: 5, per_address: Duration::from_secs(60), per_ip })
    }

    fn addr(b: u8) -> Address {
        Address([b; 20])
    }

    #[test]
    fn limits_each_address_and_ip() {
        let f = faucet(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(f.admit(&addr(1), Some(ip), t0), Ok(()));
        assert_eq!(
            f.admit(&addr(1), Some(ip), t0 + Duration::from_secs(10)),
            Err(Refusal::AddressTooSoon(50))
        );
        assert_eq!(f.admit(&addr(2), Some(ip), t0 + Duration::from_secs(20)), Ok(()));
        assert_eq!(
            f.admit(&addr(3), Some(ip), t0 + Duration::from_secs(30)),
            Err(Refusal::IpTooOften(30))
        );
        // Another IP is not limited by the first one's count.
        assert_eq!(f.admit(&addr(3), Some("127.0.0.2".parse().unwrap()), t0), Ok(()));
        // After the window both limits reset.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(f.admit(&addr(1), Some(ip), later), Ok(()));
        assert_eq!(f.admit(&addr(4), Some(ip), later), Ok(()));
    }

    /// One visitor could gather the faucet's coins and stake a blocking share.
    #[test]
    fn pays_only_while_its_coins_stay_under_a_third_of_the_stake() {
        let at = |spent: u64, pending: u64| Spending {
            genesis_balance: 1_000_000,
            balance: 1_000_000 - spent,
            pending,
            set_stake: 3_000,
        };
        // 3 × (0 + 100 + 1) < 3,000.
        assert_eq!(within_budget(&at(0, 0), 100, 1), Ok(()));
        // 3 × (800 + 101 + 101) ≥ 3,000 with one pending.
        assert_eq!(within_budget(&at(800, 1), 100, 1), Err(Refusal::Budget));
        assert_eq!(within_budget(&at(800, 0), 100, 1), Ok(()));
        assert_eq!(within_budget(&at(899, 0), 100, 1), Err(Refusal::Budget));
        // An amount of a blocking share by itself is never paid.
        assert_eq!(within_budget(&at(0, 0), 1_000, 0), Err(Refusal::Budget));
        assert_eq!(within_budget(&at(0, 0), u64::MAX, u64::MAX), Err(Refusal::Budget));
        // A pending count no mempool holds still cannot overflow the sum.
        assert_eq!(within_budget(&at(0, u64::MAX), u64::MAX, u64::MAX), Err(Refusal::Budget));
    }

    /// One IPv6 host commonly holds a whole /64; counted by address, it had 2^64
    /// per-IP budgets.
    #[test]
    fn one_ipv6_64_shares_one_limit() {
        let f = faucet(2);
        let t0 = Instant::now();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(f.admit(&addr(1), ip("2001:db8:1:2::1"), t0), Ok(()));
        assert_eq!(f.admit(&addr(2), ip("2001:db8:1:2:ffff::9"), t0), Ok(()));
        assert_eq!(f.admit(&addr(3), ip("2001:db8:1:2::abcd"), t0), Err(Refusal::IpTooOften(60)));
        // Another /64 has its own.
        assert_eq!(f.admit(&addr(3), ip("2001:db8:1:3::1"), t0), Ok(()));
    }
}
