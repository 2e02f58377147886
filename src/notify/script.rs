//! The `script:<path>` provider: runs a program with the event in `HUSKY_*` variables, as a
//! process tree of its own (the executor's process group / Job Object), with a timeout that
//! kills the whole tree.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender, unbounded};

use crate::clock::{Clock, SystemClock};
use crate::exec::{self, Reaped};

/// How much of the combined stdout and stderr is kept.
const KEEP: usize = 4 * 1024;
/// After the script exits, how long its output pipe may stay open (held by what it left
/// behind, which is killed) before the output read so far is taken as all of it.
const DRAIN: Duration = Duration::from_millis(500);

/// What the helper threads report.
#[derive(Debug)]
enum Event {
    /// Bytes of output (only while fewer than `KEEP` were sent).
    Output(Vec<u8>),
    /// The output pipe reached its end.
    Eof,
    /// The main process was reaped.
    Exited(std::io::Result<Reaped>),
}

/// Runs `program` (a path; relative paths were already resolved by the caller) with no
/// arguments, the current environment plus `env` (HUSKY_* variables describing the event),
/// stdin closed, stdout+stderr captured (first 4 KiB kept). Exit 0 → Ok. Non-zero →
/// Err("script <path> exited with status N: <first line of output>"). Not started → Err naming
/// the OS reason. Running past `timeout` → the whole process tree is killed and
/// Err("script <path> timed out after 10s").
pub fn run(program: &Path, env: &[(String, String)], timeout: Duration) -> Result<(), String> {
    let name = program.display();
    let not_started =
        |e: &std::io::Error| format!("script {name} could not be started: {}", reason(e));
    // One pipe for both streams keeps their order; its write ends live in `cmd` until it drops.
    let (mut output, writer) = std::io::pipe().map_err(|e| not_started(&e))?;
    let writer2 = writer.try_clone().map_err(|e| not_started(&e))?;
    let mut cmd = Command::new(program);
    cmd.env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2);
    let spawned = exec::spawn_tree(&mut cmd);
    drop(cmd);
    let (child, tree) = spawned.map_err(|e| not_started(&e))?;

    let (tx, rx) = unbounded::<Event>();
    let reader_tx = tx.clone();
    let reader = std::thread::Builder::new()
        .name("husky-script-out".into())
        .spawn(move || read_output(&mut output, &reader_tx));
    let waiter = std::thread::Builder::new()
        .name("husky-script-wait".into())
        .spawn(move || drop(tx.send(Event::Exited(exec::reap(child)))));
    if reader.is_err() || waiter.is_err() {
        let _ = tree.kill();
        return Err(format!("script {name} could not be supervised: no thread for it"));
    }

    let mut deadline = SystemClock.monotonic().checked_add(timeout);
    let mut kept = Vec::new();
    let mut reaped = None;
    let mut eof = false;
    while reaped.is_none() || !eof {
        let event = match deadline {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Output(bytes)) => {
                let room = KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Ok(Event::Eof) => eof = true,
            Ok(Event::Exited(r)) => {
                // Nothing it started may outlive it: what is left of the tree goes now, and the
                // pipe they held gets a short while to deliver its end.
                if tree.alive() {
                    let _ = tree.kill();
                }
                let drain = SystemClock.monotonic().checked_add(DRAIN);
                deadline = match (deadline, drain) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                reaped = Some(r);
            }
            Err(RecvTimeoutError::Timeout) if reaped.is_some() => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = tree.kill();
                let t = time::Duration::try_from(timeout).unwrap_or(time::Duration::MAX);
                return Err(format!(
                    "script {name} timed out after {}",
                    crate::config::format_duration(t)
                ));
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let first = first_line(&kept);
    let with_output = |what: String| match &first {
        Some(line) => format!("{what}: {line}"),
        None => what,
    };
    match reaped {
        Some(Ok(Reaped { code: Some(0), .. })) => Ok(()),
        Some(Ok(Reaped { code: Some(n), .. })) => {
            Err(with_output(format!("script {name} exited with status {n}")))
        }
        Some(Ok(Reaped { signal: Some(s), .. })) => {
            Err(with_output(format!("script {name} was killed by signal {s}")))
        }
        Some(Ok(_)) => Err(with_output(format!("script {name} ended without an exit status"))),
        Some(Err(e)) => Err(format!("script {name}: cannot wait for it: {}", reason(&e))),
        None => Err(format!("script {name}: its process was lost")),
    }
}

/// Reads the pipe to its end, sending the first `KEEP` bytes and discarding the rest (so that
/// the script never blocks on a full pipe).
fn read_output(pipe: &mut impl Read, tx: &Sender<Event>) {
    let mut buf = [0u8; 4096];
    let mut sent = 0;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if sent < KEEP {
                    sent += n;
                    if tx.send(Event::Output(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(Event::Eof);
}

/// The first non-blank line of the output, trimmed.
fn first_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

/// An I/O error without the "(os error N)" suffix, lowercased: "no such file or directory".
fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.rfind(" (os error ").map_or(text.as_str(), |at| &text[..at]);
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system's temp dir.
    fn temp_dir() -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("husky-script-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes an executable `#!/bin/sh` script.
    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("notify.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const T: Duration = Duration::from_secs(20);

    #[test]
    fn the_event_arrives_in_husky_variables() {
        let dir = temp_dir();
        let out = dir.join("env.txt");
        let body = format!(
            "{{ env | grep -E '^HUSKY_(JOB|EVENT|EXIT)=' | sort; echo \"PATH=$PATH\"; }} > '{}'",
            out.display()
        );
        let path = script(&dir, &body);
        let env = vars(&[("HUSKY_JOB", "backup"), ("HUSKY_EVENT", "failure"), ("HUSKY_EXIT", "3")]);
        run(&path, &env, T).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        // The daemon's own environment is passed on too.
        let inherited = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            text,
            format!("HUSKY_EVENT=failure\nHUSKY_EXIT=3\nHUSKY_JOB=backup\nPATH={inherited}\n")
        );
    }

    #[test]
    fn a_failing_script_gives_its_status_and_first_line() {
        let dir = temp_dir();
        let path = script(&dir, "echo\necho '  mail relay is down  ' >&2\necho more\nexit 3");
        let err = run(&path, &[], T).unwrap_err();
        assert_eq!(
            err,
            format!("script {} exited with status 3: mail relay is down", path.display())
        );
        let quiet = script(&dir, "exit 4");
        let err = run(&quiet, &[], T).unwrap_err();
        assert_eq!(err, format!("script {} exited with status 4", quiet.display()));
    }

    #[test]
    fn a_big_output_does_not_block_the_script() {
        let dir = temp_dir();
        let path = script(&dir, "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done");
        run(&path, &[], T).unwrap();
    }

    #[test]
    fn a_script_past_its_timeout_is_killed_with_its_children() {
        let dir = temp_dir();
        let pid_file = dir.join("pid");
        let path = script(&dir, &format!("sleep 30 &\necho $! > '{}'\nwait", pid_file.display()));
        let started = SystemClock.monotonic();
        let err = run(&path, &[], Duration::from_millis(300)).unwrap_err();
        assert_eq!(err, format!("script {} timed out after 300ms", path.display()));
        assert!(SystemClock.monotonic() - started < Duration::from_secs(10), "took too long");
        let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        let deadline = SystemClock.monotonic() + Duration::from_secs(10);
        while alive(pid) {
            assert!(SystemClock.monotonic() < deadline, "sleep {pid} outlived its script");
            std::thread::yield_now();
        }
    }

    /// Whether `pid` is a live process (a zombie is dead: its parent may be a subreaper that
    /// has not waited for it yet).
    fn alive(pid: u32) -> bool {
        if cfg!(target_os = "linux") {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X") | None)
        } else {
            Command::new("kill")
                .args(["-0", &pid.to_string()])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    }

    #[test]
    fn a_missing_or_unrunnable_script_is_named_with_the_reason() {
        let dir = temp_dir();
        let missing = dir.join("missing.sh");
        let err = run(&missing, &[], T).unwrap_err();
        assert_eq!(
            err,
            format!("script {} could not be started: no such file or directory", missing.display())
        );
        let plain = dir.join("plain.sh");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = run(&plain, &[], T).unwrap_err();
        assert!(err.contains("could not be started: permission denied"), "{err}");
    }
}
