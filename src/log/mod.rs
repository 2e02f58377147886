//! The daemon's own log (`log.*` of huskyd.yaml): lines with a level, as text
//! (`<RFC 3339 UTC> <LEVEL> <message>`) or JSON (`{"time","level","msg"}`), to standard output,
//! standard error or a size-rotated file; the level can change while the daemon runs (reload).
//! Every thread logs through a cheap clone of one [`Logger`]; a file is shared behind a mutex
//! (it is the log's own output, not domain state). Writing never fails the caller: a problem is
//! reported once on standard error and the daemon goes on. The audit log of run transitions
//! lives in [`audit`].

pub mod audit;
mod rotate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use rotate::{RotatingFile, Rotation};

use crate::clock::Clock;
use crate::config::{LogConfig, LogFormat, LogOutput};

/// A log line's level (`log.level` is the lowest one written).
pub use crate::config::LogLevel as Level;

const MIB: u64 = 1024 * 1024;

/// The daemon's log: cheap to clone, shared by every thread.
#[derive(Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

struct Inner {
    min: AtomicU8,
    format: LogFormat,
    clock: Arc<dyn Clock>,
    out: Out,
    /// A write failed and was reported; reset by the next success.
    failing: AtomicBool,
}

/// Where an output is a function (tests).
type LineFn = Box<dyn Fn(Level, &str) + Send + Sync>;

enum Out {
    Stdout,
    Stderr,
    File(Mutex<RotatingFile>),
    Fn(LineFn),
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger").field("level", &self.level()).finish_non_exhaustive()
    }
}

impl Logger {
    /// The log `config` describes; a relative `log.file.path` is resolved against `base` (the
    /// directory of husky.yaml, as `storage.sqlite.path` is). Fails when the file cannot be
    /// opened.
    pub fn new(config: &LogConfig, base: &Path, clock: Arc<dyn Clock>) -> std::io::Result<Logger> {
        let out = match (config.output, &config.file.path) {
            (LogOutput::File, Some(p)) => {
                let f = &config.file;
                let rotation = Rotation {
                    max_bytes: u64::from(f.max_size_mb) * MIB,
                    max_backups: f.max_backups,
                    max_age: Some(time::Duration::days(i64::from(f.max_age_days))),
                    compress: f.compress,
                };
                let file = RotatingFile::open(resolve(base, p), rotation, clock.clone())?;
                Out::File(Mutex::new(file))
            }
            (LogOutput::Stderr, _) => Out::Stderr,
            _ => Out::Stdout,
        };
        Ok(Logger::with(out, config.level, config.format, clock))
    }

    /// Text lines at `info` on standard error (before huskyd.yaml is read).
    pub fn stderr(clock: Arc<dyn Clock>) -> Logger {
        Logger::with(Out::Stderr, Level::Info, LogFormat::Text, clock)
    }

    /// Every line at `debug` and above, unformatted, to `f` (tests).
    pub fn from_fn(f: impl Fn(Level, &str) + Send + Sync + 'static) -> Logger {
        let clock = Arc::new(crate::clock::SystemClock);
        Logger::with(Out::Fn(Box::new(f)), Level::Debug, LogFormat::Text, clock)
    }

    fn with(out: Out, level: Level, format: LogFormat, clock: Arc<dyn Clock>) -> Logger {
        Logger {
            inner: Arc::new(Inner {
                min: AtomicU8::new(level as u8),
                format,
                clock,
                out,
                failing: AtomicBool::new(false),
            }),
        }
    }

    /// The lowest level written.
    pub fn level(&self) -> Level {
        match self.inner.min.load(Ordering::Relaxed) {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warn,
            _ => Level::Error,
        }
    }

    /// Changes the lowest level written (a reload of huskyd.yaml).
    pub fn set_level(&self, level: Level) {
        self.inner.min.store(level as u8, Ordering::Relaxed);
    }

    /// Whether lines at `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.level()
    }

    /// Writes `msg` at `level`, if that level is enabled.
    pub fn log(&self, level: Level, msg: &str) {
        if !self.enabled(level) {
            return;
        }
        let inner = &*self.inner;
        if let Out::Fn(f) = &inner.out {
            f(level, msg);
            return;
        }
        let line = format_line(inner.format, inner.clock.now_utc(), level, msg);
        let problem = match &inner.out {
            Out::Stdout => write_std(&mut std::io::stdout().lock(), &line, "standard output"),
            Out::Stderr => write_std(&mut std::io::stderr().lock(), &line, "standard error"),
            Out::File(file) => {
                // A file problem is reported by the file itself once per run of failures.
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(p) = file.write_line(line.as_bytes()) {
                    eprintln!("husky: the daemon log: {p}; going on");
                }
                return;
            }
            Out::Fn(_) => None,
        };
        match problem {
            Some(p) if !inner.failing.swap(true, Ordering::Relaxed) => {
                eprintln!("husky: cannot write the daemon log to {p}; going on");
            }
            Some(_) => {}
            None => inner.failing.store(false, Ordering::Relaxed),
        }
    }

    /// A line at `debug`.
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg);
    }

    /// A line at `info`.
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg);
    }

    /// A line at `warn`: a problem that was handled.
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg);
    }

    /// A line at `error`: a problem that was not.
    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg);
    }
}

fn write_std(w: &mut impl std::io::Write, line: &str, name: &str) -> Option<String> {
    w.write_all(line.as_bytes()).and_then(|()| w.flush()).err().map(|e| format!("{name}: {e}"))
}

/// `LEVEL` as written in text lines and in JSON's `level`.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    }
}

/// One log line, newline included.
pub fn format_line(format: LogFormat, at: time::OffsetDateTime, level: Level, msg: &str) -> String {
    let time = crate::store::ts(at);
    match format {
        LogFormat::Text => format!("{time} {} {msg}\n", level_name(level)),
        LogFormat::Json => {
            let v = serde_json::json!({ "time": time, "level": level_name(level), "msg": msg });
            format!("{v}\n")
        }
    }
}

/// `path` from huskyd.yaml: absolute as given, relative to `base` (husky.yaml's directory).
pub fn resolve(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
