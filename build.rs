//! Build script: stamps the commit and the build date into the binary for `husky --version`,
//! and links release builds on glibc Linux as a fixed-address (non-PIE) executable.
//!
//! Reproducible builds set `SOURCE_DATE_EPOCH`; CI and release scripts may set `HUSKY_COMMIT`.

#![allow(clippy::disallowed_methods)] // the build date is read here, not in the product

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=HUSKY_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");

    let commit = std::env::var("HUSKY_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    println!("cargo:rustc-env=HUSKY_COMMIT={}", commit.unwrap_or_else(|| "unknown".into()));

    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    println!("cargo:rustc-env=HUSKY_BUILD_DATE={}", civil_date(secs));

    link_fixed_address();
}

/// A position-independent executable gets its ~45,000 relative relocations (nearly all of them
/// the name pointers in time-tz's embedded transition tables) applied at every start: the
/// loader reads 1.1 MiB of `.rela.dyn` and copies the 1.5 MiB of `.data.rel.ro` it patches,
/// about 2.3 MiB of the idle daemon's RSS. Release builds for x86_64/aarch64 glibc Linux are
/// therefore linked at a fixed address, like the published binaries of scripts/release.sh
/// (which are also static). Debug builds, other targets and static (`crt-static`) builds keep
/// the toolchain's default.
fn link_fixed_address() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let release = var("PROFILE") == "release";
    let glibc_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let arch = matches!(var("CARGO_CFG_TARGET_ARCH").as_str(), "x86_64" | "aarch64");
    let crt_static = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    if release && glibc_linux && arch && !crt_static {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix timestamp (Howard Hinnant's days-to-civil algorithm).
fn civil_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
