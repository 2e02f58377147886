//! husky.yaml and huskyd.yaml: loading (`.env`, `${env:}`), validation with located
//! diagnostics, and the immutable validated models.

mod daemon;
mod diag;
mod duration;
mod env;
mod frequency;
mod husky;
mod model;
mod read;
mod selector;
mod size;
pub mod view;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use daemon::*;
pub use diag::{Diagnostic, Severity, edit_distance, suggest};
pub use duration::{DurationError, format_duration, parse_duration};
pub use env::{EnvSource, Interpolated, interpolate, parse_dotenv};
pub use frequency::{
    Frequency, FrequencyError, TimeOfDay, TimeUse, Weekday, parse_frequency, parse_time,
};
pub use model::*;
pub use selector::Selector;
pub use size::{MAX_SIZE, SIZE_UNITS, SizeError, format_size, parse_size};

use diag::{Diagnostics, Scope};

/// The outcome of loading a file: the validated value when there is no error, and every
/// diagnostic (errors and warnings) in file order.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The validated value; `None` when there is at least one error.
    pub value: Option<T>,
    /// Every diagnostic, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Loaded<T> {
    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }
}

/// Reads and validates a husky.yaml file; `${env:}` values come from the process environment
/// and the `.env` file beside it.
pub fn load_husky(path: &Path) -> Loaded<Config> {
    let mut d = Diagnostics::new(path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            d.file_error(format!("cannot read the file: {}", io_message(&e)));
            return Loaded { value: None, diagnostics: d.into_sorted() };
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let env = match EnvSource::load(dir) {
        Ok(env) => env,
        Err(e) => {
            let mut d = Diagnostics::new(&dir.join(".env"));
            d.file_error(format!("cannot read the file: {}", io_message(&e)));
            return Loaded { value: None, diagnostics: d.into_sorted() };
        }
    };
    validate_husky(path, &text, &env)
}

/// Validates husky.yaml text (the path is used for messages and relative paths).
pub fn validate_husky(path: &Path, text: &str, env: &EnvSource) -> Loaded<Config> {
    let (value, d) = husky::validate(path, text, env);
    Loaded { value, diagnostics: d.into_sorted() }
}

/// Where huskyd.yaml is: the explicit path, else `huskyd.yaml` beside husky.yaml if it exists.
pub fn daemon_config_path(explicit: Option<&Path>, husky_yaml: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let beside = husky_yaml.parent().unwrap_or(Path::new(".")).join("huskyd.yaml");
    beside.is_file().then_some(beside)
}

/// Reads and validates a huskyd.yaml file.
pub fn load_daemon(path: &Path) -> Loaded<DaemonConfig> {
    let mut d = Diagnostics::new(path);
    match std::fs::read_to_string(path) {
        Ok(text) => validate_daemon(path, &text),
        Err(e) => {
            d.file_error(format!("cannot read the file: {}", io_message(&e)));
            Loaded { value: None, diagnostics: d.into_sorted() }
        }
    }
}

/// Validates huskyd.yaml text.
pub fn validate_daemon(path: &Path, text: &str) -> Loaded<DaemonConfig> {
    let (value, d) = daemon::validate(path, text);
    Loaded { value, diagnostics: d.into_sorted() }
}

/// Parses the text and returns the root node, recording syntax errors. `None` also for an
/// empty document, which is recorded as an error.
fn parse_root(text: &str, d: &mut Diagnostics) -> Option<yaml::Node> {
    match yaml::parse(text) {
        Err(e) => {
            let diag = d.error(e.pos, Scope::Top, "", e.message);
            if text.contains('\t') && text.lines().any(|l| l.starts_with('\t')) {
                diag.hint("YAML indentation must use spaces, not tabs");
            }
            None
        }
        Ok(parsed) => {
            if let Some(pos) = parsed.extra_document {
                d.warning(
                    pos,
                    Scope::Top,
                    "",
                    "only the first YAML document is read; the rest is ignored",
                );
            }
            if parsed.root.is_none() {
                d.error(
                    yaml::Pos { line: 1, column: 1 },
                    Scope::Top,
                    "",
                    "file is empty or contains only comments",
                )
                .hint(
                    "start with version: \"1\" and a jobs: mapping (husky init writes a starter)",
                );
            }
            parsed.root
        }
    }
}

/// Whether `name` is an IANA zone of the embedded database (exact, case-sensitive).
pub fn valid_timezone(name: &str) -> bool {
    // Windows zone names ("Eastern Standard Time") resolve too; IANA names have no spaces.
    !name.contains(' ') && time_tz::timezones::get_by_name(name).is_some()
}

/// The closest IANA zone name to a misspelt one.
fn suggest_timezone(name: &str) -> Option<String> {
    use time_tz::TimeZone;
    let names: Vec<&str> = time_tz::timezones::iter().map(|tz| tz.name()).collect();
    if let Some(exact) = names.iter().find(|n| n.eq_ignore_ascii_case(name)) {
        return Some((*exact).to_owned());
    }
    // Compare the city part too, so `New_York` or `America/NewYork` find `America/New_York`.
    let city = name.rsplit('/').next().unwrap_or(name).replace(' ', "_");
    suggest(name, names.iter().copied())
        .or_else(|| {
            names
                .iter()
                .find(|n| n.rsplit('/').next().is_some_and(|c| c.eq_ignore_ascii_case(&city)))
                .copied()
        })
        .map(str::to_owned)
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
