//! Maintainer commands for databricks-mcp, run as `cargo xtask <command>`.
//!
//! `gen` turns the OpenAPI documents in `spec/` into the checked-in client in
//! `generated/` and the operation ledger `spec/coverage.txt`. It reads nothing but
//! `spec/` (and, for the ledger, the tool annotations under `server/src/`), so a
//! generation is reproducible from the repository alone.
#![forbid(unsafe_code)]

mod bench;
mod coverage;
mod generate;
mod spec;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Maintainer commands for databricks-mcp")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the client in generated/ and spec/coverage.txt from spec/*.json.
    ///
    /// With --check nothing is written: the command fails, with a summary of what
    /// differs, when any generated file is stale.
    Gen {
        /// Compare instead of writing; exit non-zero when anything is out of date.
        #[arg(long)]
        check: bool,
    },
    /// Regenerate the README's tool table from the server's tool registry.
    ///
    /// With --check nothing is written (a test of the server checks it too).
    Docs {
        /// Compare instead of writing.
        #[arg(long)]
        check: bool,
    },
    /// Measure the release server against a sandbox and write bench/results.md.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::Gen { check } => generate::run(&root, if check { Mode::Check } else { Mode::Write }),
        Command::Docs { check } => docs(&root, if check { Mode::Check } else { Mode::Write }),
        Command::Bench(args) => bench::run(&root, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Splice `databricks-mcp tools --markdown` into README.md between its markers.
fn docs(root: &Path, mode: Mode) -> anyhow::Result<()> {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--package", "databricks-mcp", "--", "tools", "--markdown"])
        .current_dir(root)
        .output()?;
    if !output.status.success() {
        anyhow::bail!("`databricks-mcp tools --markdown` failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let table = String::from_utf8(output.stdout)?;
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let (start, end) = ("<!-- START AUTOMATED TOOLS -->\n", "<!-- END AUTOMATED TOOLS -->");
    let (Some(a), Some(b)) = (readme.find(start), readme.find(end)) else {
        anyhow::bail!("README.md lacks the markers {start:?} and {end:?}");
    };
    let updated = format!("{}{table}{}", &readme[..a + start.len()], &readme[b..]);
    let mut out = Outputs::new(root, mode).fixed_by("cargo xtask docs");
    out.ensure_file_contents("README.md", &updated)?;
    out.finish()
}

/// The repository root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Whether generated outputs are written or only compared.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
}

/// Every generated output goes through here, so `--check` and a normal run see
/// exactly the same bytes.
pub struct Outputs {
    mode: Mode,
    root: PathBuf,
    stale: Vec<String>,
    fix: &'static str,
}

impl Outputs {
    pub fn new(root: &Path, mode: Mode) -> Self {
        Self { mode, root: root.to_path_buf(), stale: Vec::new(), fix: "cargo xtask gen" }
    }

    /// The command that regenerates these outputs, named when they are stale.
    pub fn fixed_by(mut self, command: &'static str) -> Self {
        self.fix = command;
        self
    }

    /// Write `contents` to `relative` (or, in check mode, record a diff if it differs).
    pub fn ensure_file_contents(&mut self, relative: &str, contents: &str) -> anyhow::Result<()> {
        let path = self.root.join(relative);
        let current = std::fs::read_to_string(&path).ok().map(|s| s.replace("\r\n", "\n"));
        if current.as_deref() == Some(contents) {
            return Ok(());
        }
        match self.mode {
            Mode::Write => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, contents)?;
                eprintln!("wrote {relative}");
            }
            Mode::Check => {
                let summary = match &current {
                    None => format!("{relative}: missing"),
                    Some(old) => {
                        let diff = similar::TextDiff::from_lines(old.as_str(), contents);
                        let (mut added, mut removed) = (0usize, 0usize);
                        for change in diff.iter_all_changes() {
                            match change.tag() {
                                similar::ChangeTag::Insert => added += 1,
                                similar::ChangeTag::Delete => removed += 1,
                                similar::ChangeTag::Equal => {}
                            }
                        }
                        let unified = diff
                            .unified_diff()
                            .context_radius(2)
                            .header(&format!("a/{relative}"), &format!("b/{relative}"))
                            .to_string();
                        let shown: String = unified.lines().take(40).map(|l| format!("    {l}\n")).collect();
                        format!("{relative}: {added} line(s) to add, {removed} to remove\n{shown}")
                    }
                };
                self.stale.push(summary);
            }
        }
        Ok(())
    }

    /// In check mode, fail with every stale file named and the command that fixes it.
    pub fn finish(self) -> anyhow::Result<()> {
        if self.stale.is_empty() {
            if self.mode == Mode::Check {
                eprintln!("generated files are up to date");
            }
            return Ok(());
        }
        let mut message = String::from("generated files are out of date:\n");
        for s in &self.stale {
            message.push_str("  ");
            message.push_str(s);
            message.push('\n');
        }
        message.push_str(&format!("run `{}` and commit the result (spec/ and generated/ change together)", self.fix));
        anyhow::bail!(message)
    }
}
