//! The hosts' network: one Linux network namespace per host, each with a veth into one bridge
//! in the root namespace, where this process (the proxies) has the bridge's addresses.
//!
//! Addresses, in a /24 picked from this process's id: `.1` the bridge (what hosts dial: the
//! proxies listen there), `.10 + i` host `i`, `.100 + i` the address the proxies dial host `j`
//! from on host `i`'s behalf, so that every relay sees each peer at an address of its own (a
//! ban of one peer is not a ban of all). Everything is named `mt<pid>…`: a run's leftovers
//! (killed before its cleanup) are removed by the next run, whose process id differs.

use std::net::Ipv4Addr;
use std::process::Command;

pub(crate) struct Net {
    prefix: String,
    subnet: [u8; 3],
    hosts: usize,
}

/// Runs `ip args…`; an error names the command and what it printed.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The process id in a name `mt<pid>…` whose process is gone.
fn orphaned(name: &str) -> bool {
    let digits: String =
        name.strip_prefix("mt").unwrap_or("").chars().take_while(char::is_ascii_digit).collect();
    !digits.is_empty() && !std::path::Path::new(&format!("/proc/{digits}")).exists()
}

/// Deletes what earlier runs, killed before their cleanup, left: their relays (still running
/// in their namespaces), the namespaces, the bridges and any veth left outside.
fn sweep() {
    for line in ip_output(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if orphaned(name) {
            for pid in ip_output(&["netns", "pids", name]).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
            let _ = ip(&["netns", "del", name]);
        }
    }
    for line in ip_output(&["-o", "link", "show"]).lines() {
        let name = line.split(':').nth(1).unwrap_or("").trim();
        let name = name.split('@').next().unwrap_or("");
        if orphaned(name) {
            let _ = ip(&["link", "del", name]);
        }
    }
}

impl Net {
    /// Makes the bridge and `hosts` namespaces, each with its address and loopback up.
    pub(crate) fn create(hosts: usize) -> Result<Self, String> {
        sweep();
        let pid = std::process::id();
        let subnet = [10, 100 + ((pid >> 8) % 100) as u8, (pid % 256) as u8];
        let mut net = Self { prefix: format!("mt{pid}"), subnet, hosts: 0 };
        let bridge = net.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{}/24", net.gateway()), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..hosts {
            let ns = net.namespace(i);
            let outside = format!("{}h{i}", net.prefix);
            let inside = format!("{}i{i}", net.prefix);
            ip(&["netns", "add", &ns])?;
            net.hosts = i + 1;
            ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["-n", &ns, "link", "set", &inside, "name", "eth0"])?;
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", net.host(i)), "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["link", "set", &outside, "master", &bridge])?;
            ip(&["link", "set", &outside, "up"])?;
            ip(&["addr", "add", &format!("{}/32", net.source(i)), "dev", &bridge])?;
        }
        Ok(net)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    pub(crate) fn namespace(&self, host: usize) -> String {
        format!("{}n{host}", self.prefix)
    }

    fn at(&self, last: usize) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, u8::try_from(last).unwrap_or(u8::MAX))
    }

    /// The bridge's own address: where the proxies listen.
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        self.at(1)
    }

    /// Host `i`'s address in its namespace.
    pub(crate) fn host(&self, i: usize) -> Ipv4Addr {
        self.at(10 + i)
    }

    /// The address the proxies dial from for host `i`.
    pub(crate) fn source(&self, i: usize) -> Ipv4Addr {
        self.at(100 + i)
    }

    /// `ip netns exec <host's namespace>`, to which the program and its arguments are added.
    pub(crate) fn exec(&self, host: usize) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.namespace(host)]);
        command
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth pair it holds one end of.
        for i in 0..self.hosts {
            let _ = ip(&["netns", "del", &self.namespace(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
