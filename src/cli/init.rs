//! `husky init`: writes a commented starter husky.yaml and keeps `.husky/` out of git.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use argh::FromArgs;

use super::{CliError, CliResult};

/// The starter file, with a small pipeline that validates cleanly.
pub const STARTER: &str = include_str!("../../assets/init/husky.yaml");

#[derive(FromArgs, Debug)]
/// Write a commented starter husky.yaml in the current directory and add .husky/ to .gitignore.
/// An existing husky.yaml is never overwritten.
#[argh(subcommand, name = "init")]
pub struct InitCmd {}

pub fn run(_cmd: &InitCmd) -> CliResult {
    init_in(Path::new("."))
}

fn init_in(dir: &Path) -> CliResult {
    let target = dir.join("husky.yaml");
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&target) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CliError::Failed(format!(
                "{} already exists; not overwriting it (move it away or edit it)",
                target.display()
            )));
        }
        Err(e) => return Err(CliError::Failed(format!("cannot create {}: {e}", target.display()))),
    };
    file.write_all(STARTER.as_bytes())
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", target.display())))?;
    println!("wrote {}", target.display());
    let gitignore = dir.join(".gitignore");
    if ignore_data_dir(&gitignore)? {
        println!("added .husky/ to {}", gitignore.display());
    }
    println!("next: edit husky.yaml, then run `husky validate`");
    Ok(())
}

/// Appends `.husky/` to `.gitignore` unless it is already ignored; true when it wrote.
fn ignore_data_dir(path: &Path) -> Result<bool, CliError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CliError::Failed(format!("cannot read {}: {e}", path.display()))),
    };
    let already = existing
        .lines()
        .map(str::trim)
        .any(|l| matches!(l, ".husky" | ".husky/" | "/.husky" | "/.husky/"));
    if already {
        return Ok(false);
    }
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(".husky/\n");
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| CliError::Failed(format!("cannot update {}: {e}", path.display())))?;
    Ok(true)
}
