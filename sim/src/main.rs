//! `memecoin-sim`: runs seeds of the deterministic consensus simulation in parallel (one
//! thread per core) and reports each violation with the command that reproduces it.
//! `cargo xtask sim` builds it in release mode and runs it.

use memecoin_sim::scenario::{LONG_SLOTS, Scenario};
use memecoin_sim::{Options, Outcome, run_opts};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

const USAGE: &str = "\
Usage: memecoin-sim [--seeds N] [--start S] [--seed X] [--validators V] [--jobs J] [--long]
                    [--slots L]
  --seeds N       run seeds S..S+N (default 100; with --long, 1)
  --start S       first seed (default 0)
  --seed X        run only seed X and print its outcome in full
  --validators V  every seed with V validators (default: the seed picks 4 to 20; 3 or 4
                  with --long)
  --jobs J        threads (default: one per core)
  --long          long runs: 100,000 slots each, with stake/unstake/re-registration churn,
                  stalls of more than 1/3 of the stake (beyond 4,096 slots, or for good),
                  partitions of more than 1/3 longer than 1,024 blocks, crashes, a
                  32-reveal hash chain, far-future votes and made-up parents
  --slots L       with --long: L slots per run instead (implies --long)
  --plan          print each seed's scenario (validators, faults, stalls), run nothing
  --log           with --seed: print every block, vote and import to stderr";

#[derive(Debug)]
struct Args {
    start: u64,
    seeds: u64,
    single: bool,
    validators: Option<usize>,
    jobs: usize,
    log: bool,
    long: Option<u64>,
    seeds_given: bool,
    plan: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        start: 0,
        seeds: 100,
        single: false,
        validators: None,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        log: false,
        long: None,
        seeds_given: false,
        plan: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--seeds" => {
                a.seeds = value("--seeds")?;
                a.seeds_given = true;
            }
            "--long" => a.long = Some(a.long.unwrap_or(LONG_SLOTS)),
            "--slots" => {
                let v = value("--slots")?;
                if v < 100 {
                    return Err("--slots must be at least 100".into());
                }
                a.long = Some(v);
            }
            "--start" => a.start = value("--start")?,
            "--seed" => {
                a.start = value("--seed")?;
                a.seeds = 1;
                a.single = true;
            }
            "--validators" => {
                let v = value("--validators")?;
                if !(1..=100).contains(&v) {
                    return Err("--validators must be 1 to 100".into());
                }
                a.validators = Some(v as usize);
            }
            "--jobs" => a.jobs = value("--jobs")?.max(1) as usize,
            "--log" => a.log = true,
            "--plan" => a.plan = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.long.is_some() && !a.seeds_given && !a.single {
        a.seeds = 1;
    }
    Ok(a)
}

fn reproduce(seed: u64, opts: &Options) -> String {
    let mut cmd = format!("cargo xtask sim --seed {seed}");
    if let Some(v) = opts.validators {
        cmd += &format!(" --validators {v}");
    }
    match opts.long {
        Some(LONG_SLOTS) => cmd += " --long",
        Some(slots) => cmd += &format!(" --long --slots {slots}"),
        None => {}
    }
    cmd
}

/// "kind worst slots (seed)" for each kind of recovery.
fn recoveries(worst: &BTreeMap<&'static str, (u64, u64)>) -> String {
    if worst.is_empty() {
        return "none".into();
    }
    let all: Vec<String> =
        worst.iter().map(|(k, (slots, seed))| format!("{k} {slots} (seed {seed})")).collect();
    all.join(", ")
}

fn print_single(o: &Outcome, opts: &Options) {
    println!("seed {}: {}", o.seed, o.summary);
    println!(
        "  {} blocks, finalized height {}, {} messages, {} offences, {} offenders slashed, \
         liveness margin {:?}, {:.1} simulated s",
        o.blocks,
        o.finalized,
        o.messages,
        o.offences,
        o.slashed,
        o.liveness_margin,
        o.sim_ms as f64 / 1000.0
    );
    let worst = o.recovery.iter().map(|(k, s)| (*k, (*s, o.seed))).collect();
    println!("  slots to finality after: {}; {} churn transactions", recoveries(&worst), o.churn);
    println!("  trace {}", hex(&o.trace));
    let all = if o.violations.is_empty() { o.violation.iter().collect() } else { all(o) };
    for v in &all {
        println!("  VIOLATION ({}) {v}", v.kind.check());
    }
    if all.is_empty() {
        println!("  ok");
    } else {
        println!("  reproduce: {}", reproduce(o.seed, opts));
    }
}

/// A long run's violations, the first of each kind, in the order they happened.
fn all(o: &Outcome) -> Vec<&memecoin_sim::check::Violation> {
    o.violations.iter().collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let opts = Options { validators: a.validators, long: a.long, log: a.log };
    if a.plan {
        let min_stake = memecoin_core::params::Params::devnet().min_stake;
        for seed in a.start..a.start.saturating_add(a.seeds) {
            let sc = Scenario::new(seed, a.validators, min_stake, a.long);
            println!("seed {seed}: {}", sc.summary());
        }
        return ExitCode::SUCCESS;
    }
    if a.single {
        let o = run_opts(a.start, opts);
        print_single(&o, &opts);
        if let Some(slots) = a.long {
            let wall = started.elapsed().as_secs_f64();
            let _ = slots;
            println!("  wall {wall:.1} s, {:.0} slots/s", o.sim_ms as f64 / 1000.0 / wall);
        }
        return if o.violation.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    let next = AtomicU64::new(a.start);
    let end = a.start.saturating_add(a.seeds);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let (mut runs, mut violations, mut blocks, mut finalized, mut sim_ms, mut messages) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut offences, mut slashed) = (0u64, 0u64);
    let mut min_margin: Option<(i64, u64)> = None;
    let mut worst: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let mut churn = 0u64;
    std::thread::scope(|scope| {
        for _ in 0..a.jobs {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end || tx.send(run_opts(seed, opts)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for o in rx {
            runs += 1;
            blocks += o.blocks;
            finalized += o.finalized;
            sim_ms += o.sim_ms;
            messages += o.messages;
            offences += o.offences;
            slashed += o.slashed;
            churn += o.churn;
            for (&kind, &slots) in &o.recovery {
                let w = worst.entry(kind).or_insert((slots, o.seed));
                if slots > w.0 {
                    *w = (slots, o.seed);
                }
            }
            if let Some(m) = o.liveness_margin
                && min_margin.is_none_or(|(x, _)| m < x)
            {
                min_margin = Some((m, o.seed));
            }
            if let Some(v) = &o.violation {
                violations += 1;
                println!("seed {}: VIOLATION ({}) {v}", o.seed, v.kind.check());
                for v in o.violations.iter().skip(1) {
                    println!("  and VIOLATION ({}) {v}", v.kind.check());
                }
                println!("  scenario: {}", o.summary);
                println!("  reproduce: {}", reproduce(o.seed, &opts));
            }
            if runs % 500 == 0 || a.long.is_some() {
                eprintln!("  {runs} seeds, {violations} violations, {:.0?}", started.elapsed());
            }
        }
    });
    let wall = started.elapsed();
    println!("worst slots from a stall's end (or a restart) to finality: {}", recoveries(&worst));
    if a.long.is_some() {
        println!(
            "long: {churn} churn transactions; {:.0} slots/s of wall time",
            sim_ms as f64 / 1000.0 / wall.as_secs_f64()
        );
    }
    println!(
        "seeds {}..{}: {runs} run, {violations} violations; {blocks} blocks simulated, \
         {finalized} finalized (sum of final heights), {:.1} simulated hours, {messages} messages \
         delivered, {offences} equivocations, {slashed} offenders slashed; least liveness \
         margin {}; wall {:.1} s on {} threads",
        a.start,
        end,
        sim_ms as f64 / 3_600_000.0,
        min_margin.map_or("n/a".into(), |(m, s)| format!("{m} blocks (seed {s})")),
        wall.as_secs_f64(),
        a.jobs
    );
    if violations > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
