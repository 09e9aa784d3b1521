//! The charts of the bench and the soak, drawn by a pinned matplotlib, so that a run can be read
//! at a glance and compared with the last.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::run::{Cmd, Failure, Run};
use crate::target_dir;

/// Draws the load report (memecoin-load's JSON lines) as `target/bench/relay-load.png`:
/// accepted against offered transfers per second, and accept latency. `bench/chart/chart.py` with
/// the matplotlib pinned in `bench/chart/requirements.txt`, installed into `target/bench-venv`
/// on first use.
pub(crate) fn relay_chart(run: &mut Run, report: &str, quick: bool) -> Result<PathBuf, Failure> {
    let out = target_dir(&run.root).join("bench");
    let failure = |e: io::Error| {
        Failure::new("chart", &Cmd::new("write"), e.to_string(), "check the target directory")
    };
    std::fs::create_dir_all(&out).map_err(failure)?;
    let data = out.join("relay-load.jsonl");
    std::fs::write(&data, report).map_err(failure)?;
    let png = out.join("relay-load.png");
    let title = if quick { "relay under load (--quick)" } else { "relay under load" };
    draw(run, "bench/chart/chart.py", &data, &png, title)?;
    Ok(png)
}

/// Runs the chart `script` on `data` into `png`, with the matplotlib pinned in
/// `bench/chart/requirements.txt`, installed into `target/bench-venv` on first use.
pub(crate) fn draw(
    run: &mut Run,
    script: &str,
    data: &Path,
    png: &Path,
    title: &str,
) -> Result<(), Failure> {
    let venv = target_dir(&run.root).join("bench-venv");
    let python = venv.join("bin/python");
    let has_matplotlib = Cmd::new(&python.display().to_string()).args(["-c", "import matplotlib"]);
    if !has_matplotlib
        .command(&run.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        let make = Cmd::new("python3").args(["-m", "venv", &venv.display().to_string()]);
        run.exec_with_hint("chart venv", &make, "install Python 3 with its venv module")?;
        let install = Cmd::new(&python.display().to_string()).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            "bench/chart/requirements.txt",
        ]);
        run.exec_with_hint("chart matplotlib", &install, "pip needs to reach PyPI")?;
    }
    let draw = Cmd::new(&python.display().to_string()).args([
        script.to_string(),
        data.display().to_string(),
        png.display().to_string(),
        title.to_string(),
    ]);
    run.exec("chart", &draw)
}
