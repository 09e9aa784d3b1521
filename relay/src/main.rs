//! `memecoin-relay`: run a relay or validator, make keys and chain specs, start a devnet.

use clap::{Args, Parser, Subcommand};
use memecoin_core::genesis::Genesis;
use memecoin_node::keys;
use memecoin_node::store::{Pruning, Store};
use memecoin_relay::{Config, TlsConfig};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "memecoin-relay",
    version,
    about = "memecoin's node: relay, validator, wallet server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a relay (and a validator, with --validator-key).
    #[command(override_usage = "memecoin-relay run --genesis <FILE> [OPTIONS]\n       \
                                memecoin-relay run --config <FILE> [OPTIONS]")]
    Run(Box<RunArgs>),
    /// Make a validator key file (signing key + commit-reveal hash chain).
    Keygen {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// Proposals the hash chain allows (the relay renews it on its own before it ends).
        #[arg(long, default_value_t = keys::DEFAULT_CHAIN_LENGTH)]
        chain_length: u64,
        /// Take the key of a wallet's recovery phrase, read from standard input (one line; the
        /// passphrase, if any, from MEMECOIN_PASSPHRASE), with the hash chain the wallet's Stake
        /// screen registered, instead of fresh randomness. --chain-length is then ignored.
        #[arg(long)]
        from_phrase: bool,
        /// With --from-phrase: the wallet path's account, m/44'/7337'/account'/0'/index'.
        #[arg(long, default_value_t = 0)]
        account: u32,
        /// With --from-phrase: the wallet path's index.
        #[arg(long, default_value_t = 0)]
        index: u32,
    },
    /// Write a chain spec. Validators by public key and commitment (--validator, as `keygen`
    /// prints them, or --validator-key FILE), accounts, parameters and names by flags or a TOML
    /// (--spec). Without --devnet: the standard parameters (4 s slots, 14 days of unbonding),
    /// named --chain-name, no coins for the public test phrase, at least one validator; with
    /// --devnet: devnet parameters (1 s slots, fast unbonding) and the public test phrase's
    /// account funded with 10^9 coins — anyone can spend those.
    Genesis {
        /// Where to write the chain spec (JSON).
        #[arg(long)]
        out: PathBuf,
        /// A devnet: devnet parameters and the public test phrase funded.
        #[arg(long)]
        devnet: bool,
        /// The chain's name (required without --devnet; must not contain "devnet"; a devnet's is
        /// memecoin-devnet unless given).
        #[arg(long)]
        chain_name: Option<String>,
        /// Coins each validator stakes unless the --spec names its own (default 1,000,000).
        #[arg(long)]
        stake: Option<String>,
        /// Validator key files; each gets the stake, and coins for the fees of its hash chain
        /// renewals. Only the public key and commitment are read; --validator needs no file.
        #[arg(long = "validator-key")]
        validator_keys: Vec<PathBuf>,
        /// A validator as PUBLIC_KEY:COMMITMENT (hex, as `keygen` prints them), from an
        /// operator who keeps the key file; repeatable. With --devnet, no validator at all
        /// means devnet validator 0.
        #[arg(long = "validator")]
        validators: Vec<String>,
        /// An account funded at genesis, as ADDRESS:COINS; repeatable.
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// A TOML file with any of: chain_name, genesis_time_ms, stake, [params] (each
        /// parameter; the rest standard), [[validator]] public_key, commitment, stake,
        /// [[account]] address, coins. Flags add to and override it.
        #[arg(long)]
        spec: Option<PathBuf>,
        /// The slot length in milliseconds (a parameter; default 4,000, devnet 1,000).
        #[arg(long)]
        slot_ms: Option<u64>,
        /// Slot 0 start (Unix ms); default: now.
        #[arg(long)]
        genesis_time_ms: Option<u64>,
    },
    /// Start a local devnet: N validators in this process, the dev account funded, a faucet on
    /// the first relay (`POST /api/faucet`). With --www, writes the chain spec to
    /// `<www>/genesis.json` for the wallet page.
    Devnet {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, default_value = "target/devnet")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        validators: u32,
        /// The wallet page to serve at `/`.
        #[arg(long)]
        www: Option<PathBuf>,
        /// Most sockets open at once from one IP address (see `run`); 0 for no cap.
        #[arg(long)]
        max_connections_per_ip: Option<usize>,
        /// Most HTTP requests a second from one IP address (see `run`); 0 for no limit.
        #[arg(long)]
        max_requests_per_ip: Option<u32>,
        /// Slot length in milliseconds (at least 50): short slots make months of blocks in
        /// hours (`cargo xtask soak`).
        #[arg(long, default_value_t = 1_000)]
        slot_ms: u64,
        /// What each validator keeps behind finality (see `run`).
        #[arg(long)]
        pruning: Option<Pruning>,
    },
    /// Look into a data dir's database. Refuses a data dir a running relay has open. A
    /// database of the earlier block layout is moved to the current one first (once, said on
    /// stderr; a relay of before the move cannot read it after).
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Subcommand)]
enum DbCommand {
    /// What the database holds: its file's size, the blocks it has, and each table's entries
    /// and bytes.
    Stats {
        /// The data dir (a devnet's validators each have one: <devnet dir>/node-<i>).
        #[arg(long, default_value = "memecoin-data")]
        data_dir: PathBuf,
    },
    /// Delete blocks, states and tree nodes more than a window behind finality, as a pruned
    /// relay does on its own; one transaction, so a crash leaves the database as it was. The
    /// file keeps its size (the space is reused): `db compact` gives it back.
    Prune {
        #[arg(long, default_value = "memecoin-data")]
        data_dir: PathBuf,
        /// Blocks to keep behind finality; default: the window the relay last ran with. At
        /// least the chain's minimum (its weak-subjectivity window), which the relay recorded.
        #[arg(long)]
        window: Option<u64>,
    },
    /// Write the finalized block, the state after it and its tree nodes to a snapshot file,
    /// for another node to start from (`db import`). Written aside and renamed: never half a
    /// file.
    Export {
        #[arg(long, default_value = "memecoin-data")]
        data_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Start an empty data dir from a snapshot file (`db export`), checked as a checkpoint sync
    /// checks what relays send; prints the block it starts from, to compare with a source you
    /// trust. Killed in the middle, run it again.
    Import {
        #[arg(long, default_value = "memecoin-data")]
        data_dir: PathBuf,
        #[arg(long)]
        from: PathBuf,
    },
    /// Give the database file's free space back to the file system. A crash in the middle
    /// leaves a database that opens (redb repairs it) with everything it held.
    Compact {
        #[arg(long, default_value = "memecoin-data")]
        data_dir: PathBuf,
    },
}

/// `run`'s default for `--doppelganger-epochs` (Lighthouse watches two or three).
const DOPPELGANGER_EPOCHS: u64 = 2;

#[derive(Args)]
struct RunArgs {
    /// A TOML file with any of the flags below (flags given on the command line win).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The chain spec (JSON). Required (here or in --config).
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    genesis: Option<PathBuf>,
    /// Where the database lives [default: memecoin-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The address to serve HTTP and /ws on [default: 127.0.0.1:8080]
    #[arg(long)]
    listen: Option<String>,
    /// Relays to connect to (ws://host:port/ws); repeatable.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// A validator key file: propose and vote with it.
    #[arg(long)]
    validator_key: Option<PathBuf>,
    /// The wallet page to serve at `/`.
    #[arg(long)]
    www: Option<PathBuf>,
    /// Our address as other relays can dial it.
    #[arg(long)]
    public_addr: Option<String>,
    /// Take no part in peer exchange: dial only the --peer relays, learn no relay addresses
    /// from peers and advertise none (a fixed topology).
    #[arg(long)]
    no_peer_exchange: bool,
    /// Serve HTTPS and wss:// with this PEM certificate chain (needs --tls-key).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Most sockets (HTTP and WebSocket) open at once from one IP address; more are refused
    /// with 429. Behind a reverse proxy every client has its address: raise this, or 0 for no
    /// cap. Default 64.
    #[arg(long)]
    max_connections_per_ip: Option<usize>,
    /// Most HTTP requests a second from one IP address; more are answered 429. Behind a
    /// reverse proxy, raise this, or 0 for no limit. Default 200.
    #[arg(long)]
    max_requests_per_ip: Option<u32>,
    /// What to keep behind finality: `archive` (everything), or a window in blocks (at least
    /// the chain's weak-subjectivity window and 1,024). Default: pruned, with the larger of
    /// 8,192 blocks and that minimum.
    #[arg(long)]
    pruning: Option<Pruning>,
    /// Start an empty data dir from a recent finalized block, downloading its state from this
    /// relay (ws://host:port/ws; repeatable; also dialed as a peer) instead of replaying every
    /// block from genesis. Which block: --checkpoint, or the relays' newest finality proof (two
    /// must agree once genesis is past its weak-subjectivity bound). A data dir with a chain
    /// resumes from it.
    #[arg(long = "checkpoint-sync-url")]
    checkpoint_sync_urls: Vec<String>,
    /// With --checkpoint-sync-url: the hash of a finalized block to start from, trusted as given
    /// (take it from a source you trust: your own node, a block explorer, a friend).
    #[arg(long)]
    checkpoint: Option<String>,
    /// Doppelganger protection: after start, watch the network this many epochs for blocks and
    /// votes of --validator-key before signing anything; one seen means another node runs the
    /// same key (both would be slashed), and this one then never signs. 0 turns it off.
    /// [default: 2]
    #[arg(long)]
    doppelganger_epochs: Option<u64>,
    /// Run this relay's clock N ms ahead of the system's (negative: behind): a host whose clock
    /// is wrong, for `cargo xtask testnet`. Not for real use.
    #[arg(long, hide = true, allow_negative_numbers = true)]
    clock_offset_ms: Option<i64>,
    /// A file holding this relay's clock offset in ms, read again every 250 ms: a host whose
    /// clock is stepped while it runs, for `cargo xtask testnet`'s `clock` fault. Not for real
    /// use.
    #[arg(long, hide = true, value_name = "FILE")]
    clock_offset_file: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    genesis: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    #[serde(default)]
    peers: Vec<String>,
    validator_key: Option<PathBuf>,
    www: Option<PathBuf>,
    public_addr: Option<String>,
    #[serde(default)]
    no_peer_exchange: bool,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_connections_per_ip: Option<usize>,
    max_requests_per_ip: Option<u32>,
    /// `"archive"` or a window in blocks, as `--pruning`.
    pruning: Option<String>,
    doppelganger_epochs: Option<u64>,
    #[serde(default)]
    checkpoint_sync_urls: Vec<String>,
    checkpoint: Option<String>,
}

/// The listener's limits: defaults, with the per-address caps if given.
fn limits(
    max_per_ip: Option<usize>,
    requests_per_ip: Option<u32>,
) -> memecoin_relay::limits::Limits {
    let defaults = memecoin_relay::limits::Limits::default();
    memecoin_relay::limits::Limits {
        max_per_ip: max_per_ip.unwrap_or(defaults.max_per_ip),
        max_requests_per_ip: requests_per_ip.unwrap_or(defaults.max_requests_per_ip),
        ..defaults
    }
}

/// Both files or neither: half a TLS setup is an error, never a silent plain-HTTP start.
fn tls_config(cert: Option<PathBuf>, key: Option<PathBuf>) -> anyhow::Result<Option<TlsConfig>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsConfig { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(anyhow::anyhow!("--tls-cert (tls_cert) needs --tls-key (tls_key)")),
        (None, Some(_)) => Err(anyhow::anyhow!("--tls-key (tls_key) needs --tls-cert (tls_cert)")),
    }
}

#[tokio::main]
async fn main() {
    // Colour only on a terminal: a log written to a file or a pipe stays plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = real_main(Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { out, chain_length, from_phrase, account, index } => {
            let (key, secret) = if from_phrase {
                let mut phrase = String::new();
                std::io::stdin().read_line(&mut phrase)?;
                let passphrase = std::env::var("MEMECOIN_PASSPHRASE").unwrap_or_default();
                keys::from_phrase(phrase.trim(), &passphrase, account, index)?
            } else {
                keys::generate(chain_length)?
            };
            keys::save(&key, &secret, &out)?;
            let pk = key.key.public_key();
            println!("wrote {}", out.display());
            println!("public key: {}", pk.to_hex());
            println!("address:    {}", memecoin_core::address::Address::from_public_key(&pk));
            println!("commitment: {}", key.chain.commitment());
            Ok(())
        }
        Command::Genesis {
            out,
            devnet,
            chain_name,
            stake,
            validator_keys,
            validators,
            accounts,
            spec,
            slot_ms,
            genesis_time_ms,
        } => {
            let mut input = match &spec {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    toml::from_str::<keys::NetworkSpec>(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => keys::NetworkSpec::default(),
            };
            input.chain_name = chain_name.or(input.chain_name);
            input.stake = stake.or(input.stake);
            input.genesis_time_ms = genesis_time_ms.or(input.genesis_time_ms);
            if let Some(ms) = slot_ms {
                input.params.insert("slot_ms".into(), ms);
            }
            for path in &validator_keys {
                let v = keys::load(path)?;
                input.validator.push(keys::SpecValidator {
                    public_key: v.key.public_key().to_hex(),
                    commitment: v.chain.commitment().to_hex(),
                    stake: None,
                });
            }
            for text in &validators {
                let Some((public_key, commitment)) = text.split_once(':') else {
                    anyhow::bail!("--validator {text}: expected PUBLIC_KEY:COMMITMENT");
                };
                input.validator.push(keys::SpecValidator {
                    public_key: public_key.into(),
                    commitment: commitment.into(),
                    stake: None,
                });
            }
            for text in &accounts {
                let Some((address, coins)) = text.split_once(':') else {
                    anyhow::bail!("--account {text}: expected ADDRESS:COINS");
                };
                input
                    .account
                    .push(keys::SpecAccount { address: address.into(), coins: coins.into() });
            }
            let time = input.genesis_time_ms.unwrap_or_else(memecoin_node::node::now_ms);
            let g = if devnet {
                keys::devnet_genesis_from(&input, time)?
            } else {
                keys::network_genesis(&input, time)?
            };
            g.build().map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(&out, g.to_json())?;
            println!("wrote {} (chain id {})", out.display(), g.chain_id());
            Ok(())
        }
        Command::Run(args) => run(*args).await,
        Command::Db(DbCommand::Stats { data_dir }) => {
            let store = open_store(&data_dir)?;
            print!("{}", stats_text(&store.stats()?));
            Ok(())
        }
        Command::Db(DbCommand::Prune { data_dir, window }) => db_prune(&data_dir, window),
        Command::Db(DbCommand::Export { data_dir, out }) => {
            let store = open_store(&data_dir)?;
            let at = memecoin_node::checkpoint::export(&store, &out)?;
            println!("exported height {} ({}) to {}", at.height, at.hash, out.display());
            Ok(())
        }
        Command::Db(DbCommand::Import { data_dir, from }) => {
            let at = memecoin_node::checkpoint::import(&data_dir, &from)?;
            println!(
                "imported height {} ({}) into {}: check this hash against a source you trust",
                at.height,
                at.hash,
                data_dir.display()
            );
            Ok(())
        }
        Command::Db(DbCommand::Compact { data_dir }) => {
            let store = open_store(&data_dir)?;
            let before = store.stats()?.file_bytes;
            store.compact()?;
            let after = Store::open_existing(&data_dir)?.stats()?.file_bytes;
            println!("compacted {}: {before} bytes before, {after} after", data_dir.display());
            Ok(())
        }
        Command::Devnet {
            listen,
            data_dir,
            validators,
            www,
            max_connections_per_ip,
            max_requests_per_ip,
            slot_ms,
            pruning,
        } => {
            anyhow::ensure!(slot_ms >= 50, "--slot-ms is at least 50");
            let limits = limits(max_connections_per_ip, max_requests_per_ip);
            devnet(listen, data_dir, validators, slot_ms, www, limits, pruning).await
        }
    }
}

/// `--checkpoint-sync-url` and `--checkpoint`: both, the URLs alone, or neither.
fn checkpoint_sync(
    urls: Vec<String>,
    checkpoint: Option<String>,
) -> anyhow::Result<Option<memecoin_relay::checkpoint::CheckpointSync>> {
    let trusted = checkpoint
        .map(|hex| {
            memecoin_core::hash::Hash::from_hex(&hex)
                .map_err(|e| anyhow::anyhow!("--checkpoint (a block hash, 64 hex digits): {e}"))
        })
        .transpose()?;
    match (urls.is_empty(), trusted) {
        (true, Some(_)) => {
            anyhow::bail!("--checkpoint needs a --checkpoint-sync-url to download from")
        }
        (true, None) => Ok(None),
        (false, trusted) => Ok(Some(memecoin_relay::checkpoint::CheckpointSync { urls, trusted })),
    }
}

/// The database of `data_dir` for the `db` tools, saying first when opening it moves it to
/// the current layout (a write, once, that takes a while on a long archive).
fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    if Store::needs_upgrade(data_dir).unwrap_or(false) {
        eprintln!("{}: {}", data_dir.display(), memecoin_node::store::UPGRADE_NOTICE);
    }
    Ok(Store::open_existing(data_dir)?)
}

/// `db prune`: below the finalized height by the window given or recorded.
fn db_prune(data_dir: &std::path::Path, window: Option<u64>) -> anyhow::Result<()> {
    let store = open_store(data_dir)?;
    let recorded = store.recorded_pruning()?;
    let Some((last, min)) = recorded else {
        anyhow::bail!(
            "this database records no pruning setting (a relay older than pruning wrote it): \
             run the relay on it once, which records the chain's minimum window, then prune"
        )
    };
    let window = match (window, last) {
        (Some(window), _) => window,
        (None, Pruning::Window(window)) => window,
        (None, Pruning::Archive) => {
            anyhow::bail!("the relay last ran as an archive node: give --window to prune anyway")
        }
    };
    anyhow::ensure!(
        window >= min,
        "a window of {window} blocks is below this chain's minimum of {min}"
    );
    let finalized = store.finalized()?.map_or(0, |f| f.height);
    let below = memecoin_node::store::Below {
        blocks: finalized.saturating_sub(window),
        states: finalized.saturating_sub(memecoin_node::store::STATE_WINDOW.min(window)),
    };
    if below.blocks <= store.pruned_below()? && below.states <= store.states_pruned_below()? {
        println!(
            "nothing to prune: finalized height {finalized}, blocks kept from height {}",
            store.pruned_below()?
        );
        return Ok(());
    }
    let pruned = store.prune(below)?;
    println!(
        "pruned blocks below height {}, states below {}: {} blocks, {} states, {} tree nodes \
         (db compact returns the space)",
        below.blocks, below.states, pruned.blocks, pruned.states, pruned.nodes
    );
    Ok(())
}

/// `db stats` as an operator reads it: sizes in kB, MB or GB, one table a line.
fn stats_text(stats: &memecoin_node::store::Stats) -> String {
    let size = |bytes: u64| match bytes as f64 {
        b if b < 1e6 => format!("{:.1} kB", b / 1e3),
        b if b < 1e9 => format!("{:.1} MB", b / 1e6),
        b => format!("{:.2} GB", b / 1e9),
    };
    let mut out = format!("database   {} ({} on disk)\n", stats.path, size(stats.file_bytes));
    out += &format!("chain      {}\n", stats.chain_id);
    out += &match stats.finalized {
        Some(c) => format!("finalized  height {} ({})\n", c.height, c.hash),
        None => "finalized  genesis\n".to_owned(),
    };
    out += &match (stats.blocks_from, stats.blocks_to) {
        (Some(from), Some(to)) => format!("heights    {from} to {to} (stored blocks)\n"),
        _ => "heights    none (no block stored)\n".to_owned(),
    };
    out += &format!(
        "{:<14} {:>10} {:>12} {:>12} {:>12}\n",
        "table", "entries", "stored", "index", "fragmented"
    );
    for t in &stats.tables {
        out += &format!(
            "{:<14} {:>10} {:>12} {:>12} {:>12}\n",
            t.name,
            t.entries,
            size(t.stored_bytes),
            size(t.metadata_bytes),
            size(t.fragmented_bytes)
        );
    }
    out
}

/// Sets this relay's clock offset to what `path` says (`--clock-offset-file`) if that is a
/// number other than `offset`, the one it runs on: a missing or unreadable file leaves the
/// clock where it is.
fn follow_clock_file(path: &std::path::Path, offset: &mut i64) {
    let read = std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse::<i64>().ok());
    if let Some(now) = read.filter(|now| now != offset) {
        *offset = now;
        memecoin_node::node::set_clock_offset_ms(now);
        tracing::warn!("this relay's clock runs {now} ms off the system's (--clock-offset-file)");
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Some(offset) = args.clock_offset_ms {
        memecoin_node::node::set_clock_offset_ms(offset);
        tracing::warn!("this relay's clock runs {offset} ms off the system's (--clock-offset-ms)");
    }
    if let Some(path) = args.clock_offset_file.clone() {
        // Read once before the node opens, so a host restarted while its clock is stepped
        // starts on the stepped clock; then every 250 ms.
        let mut offset = args.clock_offset_ms.unwrap_or(0);
        follow_clock_file(&path, &mut offset);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(250));
            loop {
                every.tick().await;
                follow_clock_file(&path, &mut offset);
            }
        });
    }
    let file: FileConfig = match &args.config {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => FileConfig::default(),
    };
    let genesis_path =
        args.genesis.or(file.genesis).ok_or_else(|| anyhow::anyhow!("--genesis is required"))?;
    let text = std::fs::read_to_string(&genesis_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", genesis_path.display()))?;
    let genesis = Genesis::from_json(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", genesis_path.display()))?;
    let listen = args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
    let validator = match args.validator_key.or(file.validator_key) {
        Some(p) => Some(keys::load(&p)?),
        None => None,
    };
    let tls = tls_config(args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key))?;
    let mut peers = file.peers;
    peers.extend(args.peers);
    let config = Config {
        genesis,
        data_dir: args.data_dir.or(file.data_dir).unwrap_or_else(|| "memecoin-data".into()),
        peers,
        validator,
        www: args.www.or(file.www),
        public_addr: args.public_addr.or(file.public_addr),
        max_dialed: 16,
        peer_exchange: !(args.no_peer_exchange || file.no_peer_exchange),
        tls,
        faucet: None,
        limits: limits(
            args.max_connections_per_ip.or(file.max_connections_per_ip),
            args.max_requests_per_ip.or(file.max_requests_per_ip),
        ),
        doppelganger_epochs: args
            .doppelganger_epochs
            .or(file.doppelganger_epochs)
            .unwrap_or(DOPPELGANGER_EPOCHS),
        checkpoint_sync: checkpoint_sync(
            [file.checkpoint_sync_urls, args.checkpoint_sync_urls].concat(),
            args.checkpoint.or(file.checkpoint),
        )?,
        pruning: match (args.pruning, file.pruning) {
            (Some(p), _) => Some(p),
            (None, Some(text)) => Some(text.parse().map_err(|e| anyhow::anyhow!("pruning: {e}"))?),
            (None, None) => None,
        },
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    memecoin_relay::run(config, listener, shutdown_signal()).await
}

async fn devnet(
    listen: String,
    data_dir: PathBuf,
    validators: u32,
    slot_ms: u64,
    www: Option<PathBuf>,
    limits: memecoin_relay::limits::Limits,
    pruning: Option<Pruning>,
) -> anyhow::Result<()> {
    let spec_path = data_dir.join("genesis.json");
    std::fs::create_dir_all(&data_dir)?;
    // Reuse the devnet's genesis across restarts (same chain, same data).
    let genesis = match std::fs::read_to_string(&spec_path) {
        Ok(text)
            if Genesis::from_json(&text)
                .map(|g| {
                    g.validators.len() as u32 == validators.max(1) && g.params.slot_ms == slot_ms
                })
                .unwrap_or(false) =>
        {
            Genesis::from_json(&text).map_err(|e| anyhow::anyhow!("{e}"))?
        }
        _ => {
            let mut g = keys::devnet_genesis(validators, memecoin_node::node::now_ms())?;
            g.params.slot_ms = slot_ms;
            g.build().map_err(|e| anyhow::anyhow!("{e}"))?;
            let _ = std::fs::remove_dir_all(data_dir.join("node-0"));
            for i in 1..validators.max(1) {
                let _ = std::fs::remove_dir_all(data_dir.join(format!("node-{i}")));
            }
            std::fs::write(&spec_path, g.to_json())?;
            g
        }
    };
    let dev = keys::devnet_dev_key()?;
    println!("memecoin devnet: chain {}", genesis.chain_id());
    println!("  wallet and API: http://{listen}/");
    println!(
        "  dev account:    {}",
        memecoin_core::address::Address::from_public_key(&dev.public_key())
    );
    println!("  recovery phrase (public, devnet only): {}", keys::DEVNET_PHRASE);
    println!("  faucet:         POST http://{listen}/api/faucet {{\"address\": \"meme1…\"}}");
    if let Some(www) = &www {
        // The wallet page's trust root: the chain spec ships with the page, it is not asked
        // from the relay at run time.
        let path = www.join("genesis.json");
        std::fs::write(&path, genesis.to_json())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("  wallet page:    {} (genesis written to {})", www.display(), path.display());
    }
    let first = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let first_url = format!("ws://{}/ws", first.local_addr()?);
    let mut listeners = vec![first];
    for _ in 1..validators.max(1) {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await?);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let config = Config {
            genesis: genesis.clone(),
            data_dir: data_dir.join(format!("node-{i}")),
            peers: if i == 0 { vec![] } else { vec![first_url.clone()] },
            validator: Some(keys::devnet_validator(u32::try_from(i)?)?),
            www: if i == 0 { www.clone() } else { None },
            public_addr: None,
            max_dialed: 16,
            peer_exchange: true,
            tls: None,
            faucet: (i == 0).then(|| memecoin_relay::faucet::FaucetConfig::devnet(dev.clone())),
            limits: limits.clone(),
            pruning,
            checkpoint_sync: None,
            // One process starts every validator of the devnet at once: no one to watch for.
            doppelganger_epochs: 0,
        };
        tasks.spawn(memecoin_relay::run(config, listener, shutdown_signal()));
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_needs_both_files_or_neither() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(tls_config(None, None).unwrap(), None);
        assert_eq!(
            tls_config(p("c.pem"), p("k.pem")).unwrap(),
            Some(TlsConfig { cert: "c.pem".into(), key: "k.pem".into() })
        );
        let only_cert = tls_config(p("c.pem"), None).unwrap_err().to_string();
        assert!(only_cert.contains("--tls-key"), "{only_cert}");
        let only_key = tls_config(None, p("k.pem")).unwrap_err().to_string();
        assert!(only_key.contains("--tls-cert"), "{only_key}");
    }

    #[test]
    fn config_file_takes_tls_paths() {
        let file: FileConfig =
            toml::from_str("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n").unwrap();
        assert_eq!(file.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(file.tls_key, Some(PathBuf::from("k.pem")));
    }
}
