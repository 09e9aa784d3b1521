//! `memecoin-sim`: runs seeds of the deterministic consensus simulation in parallel (one
//! thread per core) and reports each violation with the command that reproduces it.
//! `cargo xtask sim` builds it in release mode and runs it.

use memecoin_sim::{Outcome, run, run_with};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

const USAGE: &str = "\
Usage: memecoin-sim [--seeds N] [--start S] [--seed X] [--validators V] [--jobs J]
  --seeds N       run seeds S..S+N (default 100)
  --start S       first seed (default 0)
  --seed X        run only seed X and print its outcome in full
  --validators V  every seed with V validators (default: the seed picks 4 to 20)
  --jobs J        threads (default: one per core)
  --log           with --seed: print every block, vote and import to stderr";

#[derive(Debug)]
struct Args {
    start: u64,
    seeds: u64,
    single: bool,
    validators: Option<usize>,
    jobs: usize,
    log: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        start: 0,
        seeds: 100,
        single: false,
        validators: None,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        log: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--seeds" => a.seeds = value("--seeds")?,
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
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn reproduce(seed: u64, validators: Option<usize>) -> String {
    match validators {
        Some(v) => format!("cargo xtask sim --seed {seed} --validators {v}"),
        None => format!("cargo xtask sim --seed {seed}"),
    }
}

fn print_single(o: &Outcome, validators: Option<usize>) {
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
    println!("  trace {}", hex(&o.trace));
    match &o.violation {
        Some(v) => println!("  VIOLATION {v}\n  reproduce: {}", reproduce(o.seed, validators)),
        None => println!("  ok"),
    }
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
    if a.single {
        let o = run_with(a.start, a.validators, a.log);
        print_single(&o, a.validators);
        return if o.violation.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    let next = AtomicU64::new(a.start);
    let end = a.start.saturating_add(a.seeds);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let (mut runs, mut violations, mut blocks, mut finalized, mut sim_ms, mut messages) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut offences, mut slashed) = (0u64, 0u64);
    let mut min_margin: Option<(i64, u64)> = None;
    std::thread::scope(|scope| {
        for _ in 0..a.jobs {
            let tx = tx.clone();
            let next = &next;
            let validators = a.validators;
            scope.spawn(move || {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end || tx.send(run(seed, validators)).is_err() {
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
            if let Some(m) = o.liveness_margin {
                if min_margin.is_none_or(|(x, _)| m < x) {
                    min_margin = Some((m, o.seed));
                }
            }
            if let Some(v) = &o.violation {
                violations += 1;
                println!("seed {}: VIOLATION {v}", o.seed);
                println!("  scenario: {}", o.summary);
                println!("  reproduce: {}", reproduce(o.seed, a.validators));
            }
            if runs % 500 == 0 {
                eprintln!("  {runs} seeds, {violations} violations, {:.0?}", started.elapsed());
            }
        }
    });
    let wall = started.elapsed();
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
