//! Husky-Go's daemon scenarios (digest §12, `cmd/huskyd/*_test.go`) against our daemon, driven
//! through the CLI (`start`, `run --wait`, `reload`, `stop`) and checked in the database. Where
//! husky deliberately differs (README, "Differences from Husky-Go"), the test says so.

use std::time::Duration;

use husky::clock::{Clock, SystemClock};
use husky::store::Pragmas;

use crate::util::{TestDir, rows};

/// A daemon started with `husky start` in a temporary directory, stopped at the end.
struct Daemon {
    t: TestDir,
}

impl Daemon {
    fn start(yaml: &str) -> Daemon {
        let t = TestDir::new();
        t.write("husky.yaml", yaml);
        Daemon::start_in(t)
    }

    fn start_in(t: TestDir) -> Daemon {
        t.husky(&["start"]).expect(0);
        Daemon { t }
    }

    fn husky(&self, args: &[&str]) -> crate::util::Run {
        self.t.husky(args)
    }

    fn rows(&self, sql: &str) -> Vec<String> {
        rows(&self.t.path.join(".husky/husky.db"), sql)
    }

    /// Polls `sql` until it yields `want`.
    #[track_caller]
    fn wait_rows(&self, sql: &str, want: &[&str]) {
        let deadline = SystemClock.monotonic() + Duration::from_secs(20);
        loop {
            let got = self.rows(sql);
            if got == want {
                return;
            }
            assert!(SystemClock.monotonic() < deadline, "{sql}: {got:?}, want {want:?}");
            let _ = crossbeam_channel::after(Duration::from_millis(20)).recv();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.t.husky(&["stop", "--force"]).run();
    }
}

fn yaml(jobs: &str) -> String {
    format!("version: \"1\"\njobs:\n{jobs}")
}

#[test]
fn a_pipeline_passes_an_output_down_after_edges_in_order() {
    let d = Daemon::start(&yaml(
        r#"  ingest:
    description: d
    frequency: manual
    command: "echo /data/raw/2026-01-01.csv"
    output:
      path: last_line
  transform:
    description: d
    frequency: after:ingest
    command: "echo transformed {{ outputs.ingest.path }}"
  report:
    description: d
    frequency: after:transform
    command: "echo report"
"#,
    ));
    d.husky(&["run", "ingest", "--wait"]).expect(0);
    d.wait_rows(
        "SELECT job_name || ' ' || status || ' ' || trigger FROM job_runs ORDER BY id",
        &["ingest SUCCESS manual", "transform SUCCESS dependency", "report SUCCESS dependency"],
    );
    let line = d.rows(
        "SELECT line FROM run_logs JOIN job_runs ON job_runs.id = run_id WHERE job_name = 'transform'",
    );
    assert_eq!(line, ["transformed /data/raw/2026-01-01.csv"]);
    let order = d.rows("SELECT job_name FROM job_runs ORDER BY started_at, id");
    assert_eq!(order, ["ingest", "transform", "report"]);
}

#[test]
fn forbid_keeps_one_run_and_records_the_other_skipped() {
    let d = Daemon::start(&yaml(
        "  slow:\n    description: d\n    frequency: manual\n    concurrency: forbid\n    command: \"sleep 30\"\n",
    ));
    d.husky(&["run", "slow"]).expect(0);
    d.husky(&["run", "slow", "--wait"]).expect(3);
    d.husky(&["cancel", "slow"]).expect(0);
    // Husky-Go kept one row and dropped the other silently; husky records it.
    d.wait_rows("SELECT status FROM job_runs ORDER BY id", &["CANCELLED", "SKIPPED"]);
}

#[test]
fn on_failure_variants_never_stop_the_daemon() {
    let job = |name: &str, policy: &str| {
        format!(
            "  {name}:\n    description: d\n    frequency: manual\n    on_failure: {policy}\n    command: \"exit 1\"\n"
        )
    };
    let text = job("alert", "alert")
        + &job("skip", "skip")
        + &job("stop", "stop")
        + &job("ignore", "ignore");
    let d = Daemon::start(&yaml(&text));
    d.husky(&["run", "alert", "--wait"]).expect(1);
    d.husky(&["run", "skip", "--wait"]).expect(3);
    d.husky(&["run", "stop", "--wait"]).expect(1);
    d.husky(&["run", "ignore", "--wait"]).expect(1);
    assert_eq!(
        d.rows("SELECT status FROM job_runs ORDER BY id"),
        ["FAILED", "SKIPPED", "FAILED", "FAILED"]
    );
    d.husky(&["status"]).expect(0);
}

#[test]
fn cancel_records_cancelled() {
    let d = Daemon::start(&yaml(
        "  long:\n    description: d\n    frequency: manual\n    command: \"sleep 30\"\n",
    ));
    d.husky(&["run", "long"]).expect(0);
    d.wait_rows("SELECT status FROM job_runs", &["RUNNING"]);
    d.husky(&["cancel", "long"]).expect(0);
    d.wait_rows(
        "SELECT status || ' ' || status_reason FROM job_runs",
        &["CANCELLED cancelled by api"],
    );
}

#[test]
fn catchup_runs_a_missed_slot_once_and_only_for_catchup_jobs() {
    let t = TestDir::new();
    t.write(
        "husky.yaml",
        &yaml(
            "  caught:\n    description: d\n    frequency: hourly\n    catchup: true\n    command: \"true\"\n  missed:\n    description: d\n    frequency: hourly\n    command: \"true\"\n",
        ),
    );
    // A previous daemon's state: both jobs were due 30 minutes ago.
    std::fs::create_dir_all(t.path.join(".husky")).expect("dir");
    let then = SystemClock.now_utc() - time::Duration::minutes(30);
    {
        let conn = husky::store::open_writer(&t.path.join(".husky/husky.db"), Pragmas::default())
            .expect("db");
        for job in ["caught", "missed"] {
            conn.execute(
                "INSERT INTO job_state (job_name, next_run) VALUES (?1, ?2)",
                rusqlite::params![job, husky::store::ts(then)],
            )
            .expect("state");
        }
    }
    let d = Daemon::start_in(t);
    // (Filtered on the trigger: a test that runs across the top of the hour also sees the
    // hourly fire.)
    d.wait_rows(
        "SELECT job_name || ' ' || status FROM job_runs WHERE trigger = 'catchup'",
        &["caught SUCCESS"],
    );
    let log = std::fs::read_to_string(d.t.path.join(".husky/huskyd.log")).expect("log");
    // How many slots were missed depends on where the hour falls; that they were skipped,
    // and why, does not.
    let skipped = log.lines().find(|l| l.contains("missed: skipped")).unwrap_or_default();
    assert!(skipped.contains("missed fire(s)") && skipped.ends_with("(catchup is off)"), "{log}");
}

#[test]
fn a_reload_to_a_cycle_keeps_the_old_config_and_a_reload_during_a_run_does_not_interrupt_it() {
    let d = Daemon::start(&yaml(
        "  long:\n    description: d\n    frequency: manual\n    command: \"sleep 1; echo done\"\n",
    ));
    d.t.write(
        "husky.yaml",
        &yaml("  a:\n    description: d\n    frequency: after:b\n    command: \"true\"\n  b:\n    description: d\n    frequency: after:a\n    command: \"true\"\n"),
    );
    let rejected = d.husky(&["reload"]).expect(1);
    assert!(rejected.stderr.contains("cycle"), "{}", rejected.stderr);
    d.husky(&["run", "long"]).expect(0);
    d.wait_rows("SELECT status FROM job_runs", &["RUNNING"]);
    d.t.write(
        "husky.yaml",
        &yaml("  long:\n    description: d\n    frequency: manual\n    command: \"sleep 1; echo done\"\n  added:\n    description: d\n    frequency: manual\n    command: \"true\"\n"),
    );
    d.husky(&["reload"]).expect(0);
    d.husky(&["run", "added", "--wait"]).expect(0);
    d.wait_rows(
        "SELECT job_name || ' ' || status FROM job_runs ORDER BY id",
        &["long SUCCESS", "added SUCCESS"],
    );
}

#[test]
fn an_sla_breach_is_flagged_on_a_successful_run() {
    let d = Daemon::start(&yaml(
        "  slowish:\n    description: d\n    frequency: manual\n    sla: 50ms\n    command: \"sleep 0.3\"\n",
    ));
    d.husky(&["run", "slowish", "--wait"]).expect(0);
    assert_eq!(d.rows("SELECT status || ' ' || sla_breached FROM job_runs"), ["SUCCESS 1"]);
}

#[test]
fn healthchecks_fail_and_retry_or_warn() {
    let d = Daemon::start(&yaml(
        r#"  checked:
    description: d
    frequency: manual
    retries: 1
    retry_delay: fixed:20ms
    command: "true"
    healthcheck:
      command: "exit 1"
  warned:
    description: d
    frequency: manual
    command: "true"
    healthcheck:
      command: "exit 1"
      on_fail: warn_only
"#,
    ));
    d.husky(&["run", "checked"]).expect(0);
    d.wait_rows(
        "SELECT attempt || ' ' || status || ' ' || hc_status FROM job_runs WHERE job_name = 'checked' ORDER BY id",
        &["1 RETRYING fail", "2 FAILED fail"],
    );
    d.husky(&["run", "warned", "--wait"]).expect(0);
    assert_eq!(
        d.rows("SELECT status || ' ' || hc_status FROM job_runs WHERE job_name = 'warned'"),
        ["SUCCESS warn"]
    );
}

#[test]
fn pause_and_resume_by_tag() {
    let d = Daemon::start(&yaml(
        "  tagged:\n    description: d\n    frequency: every:1s\n    tags: [etl]\n    command: \"true\"\n  other:\n    description: d\n    frequency: manual\n    command: \"true\"\n",
    ));
    let paused = d.husky(&["pause", "--tag", "etl"]).expect(0);
    assert!(paused.stdout.contains("(1 jobs)"), "{}", paused.stdout);
    let state = |d: &Daemon| -> Vec<(String, bool)> {
        let out = d.husky(&["status", "--format", "json"]).expect(0).stdout;
        let list: serde_json::Value = serde_json::from_str(&out).expect("json");
        list.as_array()
            .into_iter()
            .flatten()
            .map(|j| (j["name"].as_str().unwrap_or("").to_owned(), j["paused"] == true))
            .collect()
    };
    assert_eq!(state(&d), [("other".to_owned(), false), ("tagged".to_owned(), true)]);
    // Pauses are kept across a restart (a job's and a tag's).
    d.husky(&["pause", "other"]).expect(0);
    d.husky(&["stop"]).expect(0);
    d.husky(&["start"]).expect(0);
    assert_eq!(state(&d), [("other".to_owned(), true), ("tagged".to_owned(), true)]);
    d.husky(&["resume", "other"]).expect(0);
    let before = d.rows("SELECT count(*) || '' FROM job_runs");
    d.husky(&["resume", "--tag", "etl"]).expect(0);
    assert_eq!(state(&d), [("other".to_owned(), false), ("tagged".to_owned(), false)]);
    let deadline = SystemClock.monotonic() + Duration::from_secs(10);
    while d.rows("SELECT count(*) || '' FROM job_runs") == before {
        assert!(SystemClock.monotonic() < deadline, "it fires again once resumed");
        let _ = crossbeam_channel::after(Duration::from_millis(50)).recv();
    }
}
