//! The command runner: a command kept as data ([`Cmd`]), so that it prints exactly as it runs,
//! and the run log ([`Run`]) that times each step, stops at the first [`Failure`] and ends with
//! a summary.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A command to spawn, kept as data so that it can be printed exactly as it is run.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    program: OsString,
    display_program: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

/// `cargo` with `args`. Uses the `cargo` that runs this xtask (Cargo sets `$CARGO`), so the whole
/// task runs on one toolchain.
pub(crate) fn cargo<const N: usize>(args: [&str; N]) -> Cmd {
    let mut cmd = Cmd::new("cargo").args(args);
    if let Some(path) = env::var_os("CARGO") {
        cmd.program = path;
    }
    cmd
}

impl Cmd {
    pub(crate) fn new(program: &str) -> Self {
        Self {
            program: program.into(),
            display_program: program.to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn command(&self, root: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(root);
        for (key, value) in &self.envs {
            command.env(key, value);
        }
        command
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.envs {
            write!(f, "{key}={} ", shell_quote(value))?;
        }
        write!(f, "{}", self.display_program)?;
        for arg in &self.args {
            write!(f, " {}", shell_quote(arg))?;
        }
        Ok(())
    }
}

/// Quotes `word` for a POSIX shell if it needs it, so a printed command can be pasted back.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_=./:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A step that did not succeed, with what to do about it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) step: String,
    pub(crate) command: String,
    pub(crate) reason: String,
    pub(crate) hint: Option<String>,
}

impl Failure {
    pub(crate) fn new(step: &str, cmd: &Cmd, reason: String, hint: &str) -> Self {
        Self {
            step: step.to_owned(),
            command: cmd.to_string(),
            reason,
            hint: Some(hint.to_owned()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}` failed ({}): {}", self.step, self.reason, self.command)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nxtask: to fix: {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    Failed,
}

/// The steps run so far, for the summary.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) root: PathBuf,
    pub(crate) steps: Vec<(String, Outcome, Duration)>,
    started: Instant,
}

impl Run {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root, steps: Vec::new(), started: Instant::now() }
    }

    /// Runs `body` as the step `name` and records its outcome and duration.
    pub(crate) fn step(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        let result = body(self);
        let outcome = if result.is_ok() { Outcome::Passed } else { Outcome::Failed };
        self.steps.push((name.to_owned(), outcome, started.elapsed()));
        result
    }

    /// Prints `cmd`, runs it in the workspace root and records it as the step `name`.
    pub(crate) fn exec(&mut self, name: &str, cmd: &Cmd) -> Result<(), Failure> {
        self.run_cmd(name, cmd, None)
    }

    /// As [`Run::exec`], with a hint on what to install when the command fails.
    pub(crate) fn exec_with_hint(
        &mut self,
        name: &str,
        cmd: &Cmd,
        hint: &str,
    ) -> Result<(), Failure> {
        self.run_cmd(name, cmd, Some(hint))
    }

    fn run_cmd(&mut self, name: &str, cmd: &Cmd, hint: Option<&str>) -> Result<(), Failure> {
        self.step(name, |run| {
            println!("\n$ {cmd}");
            let reason = match cmd.command(&run.root).status() {
                Ok(status) if status.success() => return Ok(()),
                Ok(status) => format!("{status}"),
                Err(error) => spawn_error(&error),
            };
            Err(Failure {
                step: name.to_owned(),
                command: cmd.to_string(),
                reason,
                hint: hint.map(str::to_owned),
            })
        })
    }

    /// As [`Run::exec`], echoing the command's standard output as it comes, and failing unless
    /// it reports at least one passed test.
    pub(crate) fn exec_counting(&mut self, name: &str, cmd: &Cmd) -> Result<(), Failure> {
        self.step(name, |run| {
            println!("\n$ {cmd}");
            let failure = |reason: String| Failure {
                step: name.to_owned(),
                command: cmd.to_string(),
                reason,
                hint: None,
            };
            let mut child = cmd
                .command(&run.root)
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| failure(spawn_error(&e)))?;
            let mut output = String::new();
            if let Some(stdout) = child.stdout.take() {
                for line in io::BufRead::lines(io::BufReader::new(stdout)).map_while(Result::ok) {
                    println!("{line}");
                    output.push_str(&line);
                    output.push('\n');
                }
            }
            let status = child.wait().map_err(|e| failure(spawn_error(&e)))?;
            if !status.success() {
                return Err(failure(format!("{status}")));
            }
            match passed_tests(&output) {
                Some(n) if n > 0 => {
                    println!("{name}: {n} tests passed");
                    Ok(())
                }
                _ => Err(failure("no test ran (0 passed): wrong runner configuration?".into())),
            }
        })
    }

    pub(crate) fn print_summary(&self) {
        println!("\nxtask summary:");
        for (name, outcome, elapsed) in &self.steps {
            let outcome = match outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
            };
            println!("  {name:<36} {outcome:<6} {:>8.1}s", elapsed.as_secs_f64());
        }
        println!("  {:<36} {:<6} {:>8.1}s", "total", "", self.started.elapsed().as_secs_f64());
    }
}

pub(crate) fn succeeds_quietly(cmd: &Cmd) -> bool {
    cmd.command(&crate::workspace_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub(crate) fn spawn_error(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound {
        "command not found".to_owned()
    } else {
        format!("could not start: {error}")
    }
}

/// The number of tests passed, summed over the `test result: ok. N passed; …` lines of a test
/// run's output, or `None` if there is no such line. With the runner, not the checks:
/// [`Run::exec_counting`] needs it and the checks need [`Run`], so in `checks` the two modules
/// would need each other.
fn passed_tests(output: &str) -> Option<u64> {
    let counts: Vec<u64> = output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_commands_as_they_run() {
        let doc = cargo(["doc", "-p", crate::CORE, "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings");
        assert_eq!(doc.to_string(), "RUSTDOCFLAGS=-Dwarnings cargo doc -p memecoin-core --no-deps");
        let bench = Cmd::new("cargo").args(["bench", "--bench", "*", "--", "--quick"]);
        assert_eq!(bench.to_string(), "cargo bench --bench '*' -- --quick");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn reads_test_counts() {
        let out = "running 0 tests\ntest result: ok. 0 passed; 0 failed\n\
                   test result: ok. 7 passed; 0 failed; 0 ignored\n";
        assert_eq!(passed_tests(out), Some(7));
        assert_eq!(passed_tests("test result: ok. 0 passed; 0 failed"), Some(0));
        assert_eq!(passed_tests("no tests to run!"), None);
    }
}
