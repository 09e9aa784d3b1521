//! A testnet scenario as data (`testnet/*.toml`): the hosts, the chain, the faults and the
//! bounds the checks hold the network to. Read once and checked whole before anything starts.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    /// Validator hosts, named `v0`, `v1`, …
    pub validators: usize,
    /// Relay hosts without a key, named `r0`, `r1`, …
    #[serde(default)]
    pub relays: usize,
    /// Coins each validator stakes, in host order; default: the devnet stake for each.
    #[serde(default)]
    pub stakes: Vec<u64>,
    /// The chain's slot length.
    #[serde(default = "default_slot_ms")]
    pub slot_ms: u64,
    /// How long the scenario runs, from the first slot.
    pub duration_s: u64,
    /// After every fault heals, every host's finalized height must pass the highest one seen
    /// before the heal within this; and finality must never stand still longer outside faults.
    pub finality_bound_s: u64,
    /// Hosts whose clock is off, in ms (positive: ahead), for the whole run.
    #[serde(default)]
    pub clock_ms: BTreeMap<String, i64>,
    /// Substrings of log lines at ERROR level that this scenario expects (anything else at
    /// ERROR, and any panic, fails it).
    #[serde(default)]
    pub allowed_errors: Vec<String>,
    /// Seeds the loss the proxies draw.
    #[serde(default)]
    pub seed: u64,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
    /// Chain parameters set in the spec (e.g. `max_block_txs`, so that blocks are not the
    /// limit of a load), by name.
    #[serde(default)]
    pub params: BTreeMap<String, u64>,
    /// A measurement on the running hosts with `memecoin-load` (`cargo xtask bench`).
    pub bench: Option<Bench>,
}

/// Load on one host, then block propagation to every host, timed from the root namespace
/// (the hosts' own sockets, not the links).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bench {
    /// When the load starts (seconds after the first slot).
    pub at_s: u64,
    /// The host the load generator sends transfers to.
    pub host: String,
    /// Transfers a second offered, one step each (`memecoin-load --rates`).
    pub rates: String,
    /// Seconds per rate.
    pub seconds: u64,
    /// Sending accounts.
    pub senders: u64,
    /// New blocks timed from the first host to every host after the load.
    pub heads: u64,
}

/// One timed fault: from `at_s` (seconds after the first slot) for `for_s` seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fault {
    /// `partition`, `kill` (SIGKILL, restarted on the same data dir when it ends), `pause`
    /// (SIGSTOP, then SIGCONT), `delay` (delay and loss on links) or `clock` (the hosts' clocks
    /// stepped by `offset_ms` while they run, and back when it ends).
    pub kind: String,
    pub at_s: u64,
    pub for_s: u64,
    /// `kill`, `pause`, `clock`: the hosts. `delay`: every link of these hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `partition`: groups that cannot reach each other (every host in one). `delay`: two
    /// groups, the links between them delayed.
    #[serde(default)]
    pub groups: Vec<Vec<String>>,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub loss_percent: f64,
    /// `clock`: how far the hosts' clocks step, in ms (positive: ahead), on top of `clock_ms`.
    #[serde(default)]
    pub offset_ms: i64,
}

fn default_slot_ms() -> u64 {
    1_000
}

impl Manifest {
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let manifest: Self =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        manifest.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(manifest)
    }

    /// Host names in host order: the validators, then the relays.
    pub(crate) fn hosts(&self) -> Vec<String> {
        let validators = (0..self.validators).map(|i| format!("v{i}"));
        validators.chain((0..self.relays).map(|i| format!("r{i}"))).collect()
    }

    pub(crate) fn index(&self, host: &str) -> Option<usize> {
        self.hosts().iter().position(|h| h == host)
    }

    fn check(&self) -> Result<(), String> {
        if self.validators == 0 {
            return Err("a testnet needs at least one validator".into());
        }
        if self.validators + self.relays > 60 {
            return Err("at most 60 hosts".into());
        }
        if !self.stakes.is_empty() && self.stakes.len() != self.validators {
            return Err(format!("{} stakes for {} validators", self.stakes.len(), self.validators));
        }
        if self.stakes.contains(&0) {
            return Err("a stake of 0".into());
        }
        if self.slot_ms < 50 {
            return Err("slot_ms below 50".into());
        }
        let known = |h: &String| self.index(h).ok_or_else(|| format!("no host named {h:?}"));
        if let Some(bench) = &self.bench {
            known(&bench.host)?;
            if bench.at_s >= self.duration_s || bench.seconds == 0 || bench.heads == 0 {
                return Err("bench: at_s within the run, and seconds and heads above 0".into());
            }
        }
        for host in self.clock_ms.keys() {
            known(host)?;
        }
        for (n, fault) in self.faults.iter().enumerate() {
            let at = format!("fault {} ({})", n + 1, fault.kind);
            if fault.for_s == 0 {
                return Err(format!("{at}: for_s is 0"));
            }
            if fault.at_s + fault.for_s + self.finality_bound_s > self.duration_s {
                return Err(format!(
                    "{at}: heals at {} s, too late to see finality resume within {} s of a \
                     {} s run",
                    fault.at_s + fault.for_s,
                    self.finality_bound_s,
                    self.duration_s
                ));
            }
            for host in fault.hosts.iter().chain(fault.groups.iter().flatten()) {
                known(host)?;
            }
            match fault.kind.as_str() {
                "kill" | "pause" if !fault.hosts.is_empty() && fault.groups.is_empty() => {}
                "clock" if !fault.hosts.is_empty() && fault.groups.is_empty() => {
                    if fault.offset_ms == 0 {
                        return Err(format!("{at}: offset_ms is 0"));
                    }
                    // One step at a time a host: a heal sets the clock back to the manifest's.
                    let overlaps = self.faults.iter().take(n).any(|other| {
                        other.kind == "clock"
                            && other.hosts.iter().any(|h| fault.hosts.contains(h))
                            && other.at_s < fault.at_s + fault.for_s
                            && fault.at_s < other.at_s + other.for_s
                    });
                    if overlaps {
                        return Err(format!("{at}: overlaps another clock fault on a host"));
                    }
                }
                "partition" => {
                    let mut listed: Vec<&String> = fault.groups.iter().flatten().collect();
                    listed.sort();
                    let all = listed.len();
                    listed.dedup();
                    if fault.groups.len() < 2 || listed.len() != all || all != self.hosts().len() {
                        return Err(format!(
                            "{at}: groups must be two or more, and name every host once"
                        ));
                    }
                }
                "delay" => {
                    let by_groups = fault.groups.len() == 2 && fault.hosts.is_empty();
                    let by_hosts = fault.groups.is_empty() && !fault.hosts.is_empty();
                    if !(by_groups || by_hosts) {
                        return Err(format!("{at}: give two groups, or hosts"));
                    }
                    if !(0.0..=50.0).contains(&fault.loss_percent) {
                        return Err(format!("{at}: loss_percent outside 0..=50"));
                    }
                    if fault.delay_ms == 0 && fault.loss_percent == 0.0 {
                        return Err(format!("{at}: neither delay_ms nor loss_percent"));
                    }
                }
                "kill" | "pause" | "clock" => {
                    return Err(format!("{at}: give hosts (and no groups)"));
                }
                other => {
                    return Err(format!(
                        "fault {}: unknown kind {other:?} (partition, kill, pause, delay, clock)",
                        n + 1
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        manifest.check().map(|()| manifest)
    }

    #[test]
    fn every_committed_manifest_reads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnet");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Manifest::load(&path).unwrap();
                read += 1;
            }
        }
        assert!(read >= 6, "{read} manifests in {}", dir.display());
    }

    #[test]
    fn nonsense_is_refused() {
        let base = "validators = 4\nrelays = 1\nduration_s = 60\nfinality_bound_s = 10\n";
        assert!(parse(base).is_ok());
        let refused = [
            ("validators = 0\nduration_s = 9\nfinality_bound_s = 1\n", "at least one validator"),
            ("[[fault]]\nkind = \"kill\"\nat_s = 1\nfor_s = 1\nhosts = [\"v9\"]\n", "no host"),
            ("[[fault]]\nkind = \"kill\"\nat_s = 45\nfor_s = 10\nhosts = [\"v1\"]\n", "too late"),
            (
                "[[fault]]\nkind = \"partition\"\nat_s = 1\nfor_s = 1\ngroups = [[\"v0\"], [\"v1\"]]\n",
                "every host once",
            ),
            ("[[fault]]\nkind = \"jam\"\nat_s = 1\nfor_s = 1\nhosts = [\"v1\"]\n", "unknown kind"),
            ("[[fault]]\nkind = \"delay\"\nat_s = 1\nfor_s = 1\nhosts = [\"v1\"]\n", "neither"),
            (
                "[[fault]]\nkind = \"clock\"\nat_s = 1\nfor_s = 1\nhosts = [\"v1\"]\n",
                "offset_ms is 0",
            ),
            (
                "[[fault]]\nkind = \"clock\"\nat_s = 1\nfor_s = 1\noffset_ms = 5\ngroups = [[\"v0\"]]\n",
                "give hosts",
            ),
            (
                "[[fault]]\nkind = \"clock\"\nat_s = 1\nfor_s = 5\noffset_ms = 5\nhosts = [\"v1\"]\n\
                 [[fault]]\nkind = \"clock\"\nat_s = 3\nfor_s = 5\noffset_ms = 9\nhosts = [\"v1\", \"v2\"]\n",
                "overlaps another clock fault",
            ),
            ("colour = 1\n", "unknown field"),
        ];
        for (extra, why) in refused {
            let text = if extra.starts_with("validators") {
                extra.to_owned()
            } else {
                format!("{base}{extra}")
            };
            let err = parse(&text).unwrap_err();
            assert!(err.contains(why), "{extra}: {err}");
        }
    }
}
