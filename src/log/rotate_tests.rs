//! Rotation by size: backups kept and shifted, nothing lost, gzip readable, age pruning with a
//! manual clock, and failures reported once without stopping the writer.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::macros::datetime;

use super::*;
use crate::clock::ManualClock;

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("husky-rotate-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The file names in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const NOW: time::OffsetDateTime = datetime!(2030-01-15 12:00 UTC);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

fn rotation(max_bytes: u64, max_backups: u32) -> Rotation {
    Rotation { max_bytes, max_backups, max_age: None, compress: false }
}

/// Line `n`, 30 bytes with its newline.
fn line(n: usize) -> String {
    format!("line {n:03} ....................\n")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn gunzip(p: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).expect("open gz"))
        .read_to_string(&mut text)
        .expect("gzip");
    text
}

fn lines(range: std::ops::RangeInclusive<usize>) -> String {
    range.map(line).collect()
}

#[test]
fn past_the_size_the_file_rotates_and_only_max_backups_are_kept() {
    let d = Dir::new();
    let p = d.path("husky.log");
    let mut f = RotatingFile::open(p.clone(), rotation(100, 2), clock()).expect("open");
    for n in 1..=20 {
        assert_eq!(line(n).len(), 30);
        assert_eq!(f.write_line(line(n).as_bytes()), None);
    }
    assert_eq!(d.names(), ["husky.log", "husky.log.1", "husky.log.2"]);
    // Three 30-byte lines fit in 100 bytes: 20 = 6 × 3 + 2.
    assert_eq!(read(&p), lines(19..=20));
    assert_eq!(read(&d.path("husky.log.1")), lines(16..=18));
    assert_eq!(read(&d.path("husky.log.2")), lines(13..=15));
}

#[test]
fn a_reopened_file_counts_what_it_already_holds() {
    let d = Dir::new();
    let p = d.path("a.log");
    let mut f = RotatingFile::open(p.clone(), rotation(100, 3), clock()).expect("open");
    for n in 1..=2 {
        f.write_line(line(n).as_bytes());
    }
    drop(f);
    let mut f = RotatingFile::open(p.clone(), rotation(100, 3), clock()).expect("reopen");
    for n in 3..=4 {
        f.write_line(line(n).as_bytes());
    }
    assert_eq!(read(&d.path("a.log.1")), lines(1..=3));
    assert_eq!(read(&p), line(4));
}

#[test]
fn a_line_longer_than_the_limit_is_written_whole() {
    let d = Dir::new();
    let p = d.path("a.log");
    let mut f = RotatingFile::open(p.clone(), rotation(10, 1), clock()).expect("open");
    let long = format!("{}\n", "x".repeat(50));
    f.write_line(long.as_bytes());
    f.write_line(b"short\n");
    assert_eq!(read(&d.path("a.log.1")), long);
    assert_eq!(read(&p), "short\n");
}

#[test]
fn backups_beyond_a_lowered_max_backups_are_removed() {
    let d = Dir::new();
    for n in 1..=5 {
        std::fs::write(d.path(&format!("a.log.{n}")), format!("old {n}\n")).expect("seed");
    }
    std::fs::write(d.path("a.log.x"), "not a backup\n").expect("seed");
    let mut f = RotatingFile::open(d.path("a.log"), rotation(40, 2), clock()).expect("open");
    f.write_line(line(1).as_bytes());
    f.write_line(line(2).as_bytes());
    assert_eq!(d.names(), ["a.log", "a.log.1", "a.log.2", "a.log.x"]);
    assert_eq!(read(&d.path("a.log.1")), line(1));
    assert_eq!(read(&d.path("a.log.2")), "old 1\n");
}

#[test]
fn compressed_backups_are_gzip_files_holding_the_lines() {
    let d = Dir::new();
    let p = d.path("husky.log");
    let r = Rotation { compress: true, ..rotation(100, 3) };
    let mut f = RotatingFile::open(p.clone(), r, clock()).expect("open");
    for n in 1..=11 {
        assert_eq!(f.write_line(line(n).as_bytes()), None);
    }
    assert_eq!(f.settle(), None);
    assert_eq!(d.names(), ["husky.log", "husky.log.1.gz", "husky.log.2.gz", "husky.log.3.gz"]);
    assert_eq!(gunzip(&d.path("husky.log.3.gz")), lines(1..=3));
    assert_eq!(gunzip(&d.path("husky.log.2.gz")), lines(4..=6));
    assert_eq!(gunzip(&d.path("husky.log.1.gz")), lines(7..=9));
    assert_eq!(read(&p), lines(10..=11));
}

#[test]
fn plain_backups_left_by_an_earlier_run_are_compressed_from_the_first_line_on() {
    let d = Dir::new();
    std::fs::write(d.path("a.log.1"), "earlier\n").expect("seed");
    let r = Rotation { compress: true, ..rotation(100, 3) };
    let mut f = RotatingFile::open(d.path("a.log"), r, clock()).expect("open");
    assert_eq!(f.settle(), None);
    assert_eq!(d.names(), ["a.log", "a.log.1"], "opening alone touches nothing");
    assert_eq!(f.write_line(b"now\n"), None);
    assert_eq!(f.settle(), None);
    assert_eq!(d.names(), ["a.log", "a.log.1.gz"]);
    assert_eq!(gunzip(&d.path("a.log.1.gz")), "earlier\n");
}

fn set_mtime(p: &Path, at: time::OffsetDateTime) {
    let f = std::fs::File::options().write(true).open(p).expect("open");
    f.set_modified(SystemTime::from(at)).expect("set mtime");
}

#[test]
fn backups_older_than_max_age_are_deleted_at_the_first_line_and_at_rotation() {
    use crate::clock::{Clock, SystemClock};
    // Near the real time: a file rotated during the test has the real time as its mtime.
    let now = SystemClock.now_utc();
    let d = Dir::new();
    let (recent, old) = (d.path("a.log.1"), d.path("a.log.2"));
    std::fs::write(&recent, "recent\n").expect("seed");
    std::fs::write(&old, "old\n").expect("seed");
    set_mtime(&recent, now - time::Duration::days(29));
    set_mtime(&old, now - time::Duration::days(40));
    let c = Arc::new(ManualClock::new(now));
    let r = Rotation { max_age: Some(time::Duration::days(30)), ..rotation(40, 5) };
    let mut f = RotatingFile::open(d.path("a.log"), r, c.clone()).expect("open");
    assert_eq!(f.write_line(b"x\n"), None);
    assert_eq!(d.names(), ["a.log", "a.log.1"]);
    // Two days on, the once recent backup (shifted to a.log.2) has aged out; the new one stays.
    c.advance(time::Duration::days(2));
    f.write_line(line(1).as_bytes());
    f.write_line(line(2).as_bytes());
    assert_eq!(d.names(), ["a.log", "a.log.1"]);
    assert_eq!(read(&d.path("a.log.1")), format!("x\n{}", line(1)));
}

#[test]
fn a_failed_rotation_keeps_every_line_and_is_reported_once() {
    let d = Dir::new();
    // A non-empty directory where the backup should go: neither removed nor replaced.
    std::fs::create_dir_all(d.path("a.log.1/keep")).expect("blocker");
    let p = d.path("a.log");
    let mut f = RotatingFile::open(p.clone(), rotation(60, 1), clock()).expect("open");
    assert_eq!(f.write_line(line(1).as_bytes()), None);
    assert_eq!(f.write_line(line(2).as_bytes()), None);
    let problem = f.write_line(line(3).as_bytes());
    assert!(problem.as_deref().is_some_and(|p| p.contains("a.log.1")), "{problem:?}");
    // Written all the same; the next rotation is tried only after another 60 bytes.
    assert_eq!(f.write_line(line(4).as_bytes()), None);
    assert_eq!(read(&p), lines(1..=4));
}

#[cfg(target_os = "linux")]
#[test]
fn a_write_failure_is_reported_once_and_writing_goes_on() {
    let mut f =
        RotatingFile::open(PathBuf::from("/dev/full"), rotation(100, 1), clock()).expect("open");
    let first = f.write_line(b"lost\n");
    assert!(first.as_deref().is_some_and(|p| p.contains("/dev/full")), "{first:?}");
    assert_eq!(f.write_line(b"lost too\n"), None, "reported once");
}
