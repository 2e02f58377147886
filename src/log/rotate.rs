//! A log file rotated by size: past `max_bytes` it becomes `<path>.1` (older backups shift up to
//! `<path>.<max_backups>`, the rest are deleted), backups older than `max_age` are deleted, and
//! with `compress` each backup is gzipped to `<path>.<n>.gz` by a short-lived helper thread
//! (joined before the next rotation), so a rotation never holds up the thread that logs.
//!
//! A line is lost only when the file cannot be written at all; a failed rotation keeps writing
//! to the current file and tries again after another `max_bytes`. Problems are returned to the
//! owner once per run of failures, so a full disk is reported once, not once per line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use time::OffsetDateTime;

use crate::clock::Clock;

/// How a file rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would take the file past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (at least 1).
    pub max_backups: u32,
    /// Rotated files last written longer ago than this are deleted (checked at the first line and at
    /// every rotation).
    pub max_age: Option<time::Duration>,
    /// Gzip rotated files.
    pub compress: bool,
}

/// An append-only, size-rotated log file.
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    clock: Arc<dyn Clock>,
    file: Option<File>,
    size: u64,
    /// Rotate before passing this size (`max_bytes`, or further after a failed rotation).
    limit: u64,
    /// The compressing helper, while it may run.
    mill: Option<JoinHandle<Vec<String>>>,
    /// A problem was reported and nothing has succeeded since.
    failing: bool,
    /// The backups an earlier process left are still to prune and compress (at the first
    /// line: a daemon refused at start, because another one runs, must not touch them).
    housekeeping: bool,
}

impl std::fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path)
            .field("rotation", &self.rotation)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl RotatingFile {
    /// Opens (creating it and its directory) `path` for appending. The first line prunes and,
    /// with `compress`, compresses the backups an earlier process left.
    pub fn open(
        path: PathBuf,
        rotation: Rotation,
        clock: Arc<dyn Clock>,
    ) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(&path)?;
        let size = file.metadata()?.len();
        let rotation = Rotation { max_backups: rotation.max_backups.max(1), ..rotation };
        Ok(RotatingFile {
            path,
            rotation,
            clock,
            file: Some(file),
            size,
            limit: rotation.max_bytes,
            mill: None,
            failing: false,
            housekeeping: true,
        })
    }

    /// Appends `line` (which should end with a newline), rotating first when it would take
    /// the file past the limit. Returns a problem to report, at most once per run of failures.
    pub fn write_line(&mut self, line: &[u8]) -> Option<String> {
        let mut problems = Vec::new();
        if std::mem::take(&mut self.housekeeping) {
            for tmp in self.siblings().into_iter().filter(|s| s.tmp) {
                let _ = std::fs::remove_file(tmp.path);
            }
            problems.extend(self.prune());
            problems.extend(self.start_mill());
        }
        problems.extend(self.collect_mill(false));
        let len = line.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.limit {
            problems.extend(self.rotate());
        }
        if self.file.is_none() {
            match append(&self.path) {
                Ok(f) => {
                    self.size = f.metadata().map_or(0, |m| m.len());
                    self.file = Some(f);
                }
                Err(e) => problems.push(format!("cannot open {}: {e}", self.path.display())),
            }
        }
        if let Some(f) = &mut self.file {
            match f.write_all(line) {
                Ok(()) => self.size = self.size.saturating_add(len),
                Err(e) => {
                    problems.push(format!("cannot write {}: {e}", self.path.display()));
                    // Opened again at the next line (the disk may have room by then).
                    self.file = None;
                }
            }
        }
        self.report(&problems)
    }

    /// Waits for the compressing helper, if any; returns what went wrong.
    pub fn settle(&mut self) -> Option<String> {
        let problems = self.collect_mill(true);
        self.report(&problems)
    }

    fn report(&mut self, problems: &[String]) -> Option<String> {
        if problems.is_empty() {
            self.failing = false;
            return None;
        }
        let first = !self.failing;
        self.failing = true;
        first.then(|| problems.join("; "))
    }

    fn collect_mill(&mut self, wait: bool) -> Vec<String> {
        match self.mill.take() {
            Some(h) if wait || h.is_finished() => {
                h.join().unwrap_or_else(|_| vec!["the log compressor panicked".into()])
            }
            other => {
                self.mill = other;
                Vec::new()
            }
        }
    }

    /// `<path>` becomes `<path>.1`, older backups shift up, a new `<path>` is opened.
    fn rotate(&mut self) -> Vec<String> {
        let mut problems = self.collect_mill(true);
        let mut backups: Vec<Sibling> = self.siblings().into_iter().filter(|s| !s.tmp).collect();
        backups.sort_by_key(|b| std::cmp::Reverse(b.index));
        for b in backups {
            if b.index >= self.rotation.max_backups {
                if let Err(e) = std::fs::remove_file(&b.path) {
                    problems.push(format!("cannot remove {}: {e}", b.path.display()));
                }
            } else if let Err(e) = std::fs::rename(&b.path, self.backup(b.index + 1, b.gz)) {
                problems.push(format!("cannot rename {}: {e}", b.path.display()));
            }
        }
        self.file = None;
        match std::fs::rename(&self.path, self.backup(1, false)) {
            Ok(()) => {}
            // Gone (removed by hand): nothing to rotate, a new file starts.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                problems.push(format!("cannot rotate {}: {e}", self.path.display()));
                // Keep writing where we were; try again after another `max_bytes`.
                self.limit = self.size.saturating_add(self.rotation.max_bytes);
                return problems;
            }
        }
        self.size = 0;
        self.limit = self.rotation.max_bytes;
        problems.extend(self.prune());
        problems.extend(self.start_mill());
        problems
    }

    fn backup(&self, index: u32, gz: bool) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{index}{}", if gz { ".gz" } else { "" }));
        PathBuf::from(name)
    }

    /// The rotated files beside the log: `<name>.<n>`, `<name>.<n>.gz`, `<name>.<n>.gz.tmp`.
    fn siblings(&self) -> Vec<Sibling> {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Vec::new();
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        let prefix = format!("{name}.");
        entries
            .flatten()
            .filter_map(|e| {
                let file = e.file_name();
                let rest = file.to_str()?.strip_prefix(&prefix)?;
                let (digits, tmp, gz) = match rest.strip_suffix(".gz.tmp") {
                    Some(d) => (d, true, true),
                    None => match rest.strip_suffix(".gz") {
                        Some(d) => (d, false, true),
                        None => (rest, false, false),
                    },
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let index = digits.parse().ok().filter(|i| *i > 0)?;
                Some(Sibling { path: e.path(), index, gz, tmp })
            })
            .collect()
    }

    /// Deletes backups past `max_age` (by their modification time).
    fn prune(&self) -> Vec<String> {
        let Some(max_age) = self.rotation.max_age else { return Vec::new() };
        let cutoff = self.clock.now_utc() - max_age;
        let mut problems = Vec::new();
        for b in self.siblings().into_iter().filter(|s| !s.tmp) {
            let modified = std::fs::metadata(&b.path).and_then(|m| m.modified());
            if modified.is_ok_and(|m| OffsetDateTime::from(m) < cutoff)
                && let Err(e) = std::fs::remove_file(&b.path)
            {
                problems.push(format!("cannot remove {}: {e}", b.path.display()));
            }
        }
        problems
    }

    /// With `compress`, gzips every uncompressed backup in a helper thread.
    fn start_mill(&mut self) -> Vec<String> {
        if !self.rotation.compress {
            return Vec::new();
        }
        let plain: Vec<PathBuf> =
            self.siblings().into_iter().filter(|s| !s.gz && !s.tmp).map(|s| s.path).collect();
        if plain.is_empty() {
            return Vec::new();
        }
        let spawned = std::thread::Builder::new()
            .name("husky-log-gzip".into())
            .spawn(move || plain.iter().filter_map(|p| gzip(p).err()).collect());
        match spawned {
            Ok(h) => {
                self.mill = Some(h);
                Vec::new()
            }
            Err(e) => vec![format!("cannot start the log compressor: {e}")],
        }
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        if let Some(p) = self.settle() {
            eprintln!("husky: {p}");
        }
    }
}

struct Sibling {
    path: PathBuf,
    index: u32,
    gz: bool,
    tmp: bool,
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `<p>` → `<p>.gz` (through `<p>.gz.tmp`, keeping `<p>`'s modification time), then removes
/// `<p>`. On failure `<p>` stays as it was.
fn gzip(plain: &Path) -> Result<(), String> {
    let mut gz = plain.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let what = |e: io::Error| format!("cannot compress {}: {e}", plain.display());
    let run = || -> io::Result<()> {
        let mut input = File::open(plain)?;
        let modified = input.metadata()?.modified()?;
        let out = File::create(&tmp)?;
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        io::copy(&mut input, &mut enc)?;
        let out = enc.finish()?;
        out.sync_all()?;
        out.set_modified(modified)?;
        drop(out);
        std::fs::rename(&tmp, &gz)?;
        std::fs::remove_file(plain)
    };
    run().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        what(e)
    })
}

#[cfg(test)]
#[path = "rotate_tests.rs"]
mod tests;
