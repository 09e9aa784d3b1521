//! The simulation itself: a seed replays exactly, and the run's checks pass on a few seeds.

use memecoin_sim::run;

#[test]
fn a_seed_replays_exactly() {
    // Two runs of one seed, each on fresh data dirs: every step hashes the same.
    let a = run(3, Some(5));
    let b = run(3, Some(5));
    assert_eq!(a.trace, b.trace, "seed 3 ran differently twice");
    assert_eq!((a.blocks, a.finalized, a.messages), (b.blocks, b.finalized, b.messages));
    assert!(a.blocks > 10 && a.finalized > 5, "{a:?}");
    // And another seed is another run.
    assert_ne!(run(4, Some(5)).trace, a.trace);
}
