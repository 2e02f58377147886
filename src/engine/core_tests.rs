//! The engine core with a simulated clock: every decision of the engine, end to end through its
//! effects (a tiny in-memory store applies the row changes).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use time::macros::datetime;

use super::*;
use crate::config::{EnvSource, validate_husky};
use crate::exec::run::Outcome;

const T0: OffsetDateTime = datetime!(2027-03-01 00:00 UTC);

#[derive(Debug, Clone)]
struct Row {
    job: String,
    status: RunStatus,
    reason: Option<String>,
    trigger: Trigger,
    attempt: u32,
    cycle: String,
    created_at: OffsetDateTime,
    finished_at: Option<OffsetDateTime>,
    retry_at: Option<OffsetDateTime>,
    sla_breached: bool,
}

/// The engine, its clock and what its effects did.
struct World {
    core: Core,
    utc: OffsetDateTime,
    mono: Instant,
    rows: BTreeMap<i64, Row>,
    /// Dispatched attempts not finished yet, in order.
    running: Vec<Attempt>,
    cancels: Vec<(i64, bool)>,
    notices: Vec<Notice>,
    logs: Vec<String>,
    next_runs: HashMap<String, Option<OffsetDateTime>>,
    outputs_stored: Vec<(i64, String, String)>,
}

fn config(yaml: &str) -> Arc<Config> {
    let env = EnvSource::from_maps(HashMap::new(), HashMap::new());
    let loaded = validate_husky(std::path::Path::new("/tmp/husky.yaml"), yaml, &env);
    Arc::new(loaded.value.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics)))
}

impl World {
    fn new(yaml: &str) -> World {
        World::with(yaml, Settings::default(), &Restored::default(), T0)
    }

    fn with(yaml: &str, settings: Settings, restored: &Restored, at: OffsetDateTime) -> World {
        World::started(yaml, settings, restored, at, BTreeMap::new())
    }

    /// A core on `restored` started at `at`, with `rows` already in the store.
    fn started(
        yaml: &str,
        settings: Settings,
        restored: &Restored,
        at: OffsetDateTime,
        rows: BTreeMap<i64, Row>,
    ) -> World {
        let mut w = World {
            core: Core::new(config(yaml), settings, restored, 7),
            utc: at,
            mono: crate::clock::Clock::monotonic(&crate::clock::SystemClock),
            rows,
            running: Vec::new(),
            cancels: Vec::new(),
            notices: Vec::new(),
            logs: Vec::new(),
            next_runs: HashMap::new(),
            outputs_stored: Vec::new(),
        };
        let out = w.core.start(restored, w.now());
        w.apply(out.effects);
        w
    }

    fn now(&self) -> Now {
        Now { utc: self.utc, mono: self.mono }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::CreateRun(r) => {
                    let id = r.id.expect("the engine numbers its runs");
                    assert!(!self.rows.contains_key(&id), "run {id} created twice");
                    self.rows.insert(
                        id,
                        Row {
                            job: r.job_name,
                            status: r.status,
                            reason: r.status_reason,
                            trigger: r.trigger,
                            attempt: r.attempt,
                            cycle: r.cycle_id.unwrap_or_default(),
                            created_at: r.created_at,
                            finished_at: r.finished_at,
                            retry_at: None,
                            sla_breached: false,
                        },
                    );
                }
                Effect::UpdateRun { id, patch } => {
                    let row = self.rows.get_mut(&id).unwrap_or_else(|| panic!("no run {id}"));
                    if let Some(s) = patch.status {
                        row.status = s;
                    }
                    if patch.status_reason.is_some() {
                        row.reason = patch.status_reason;
                    }
                    if patch.finished_at.is_some() {
                        row.finished_at = patch.finished_at;
                    }
                    if patch.retry_at.is_some() {
                        row.retry_at = patch.retry_at;
                    }
                    if let Some(b) = patch.sla_breached {
                        row.sla_breached = b;
                    }
                }
                Effect::JobState { job, patch } => {
                    if let Some(next) = patch.next_run {
                        self.next_runs.insert(job, next);
                    }
                }
                Effect::Dispatch(a) => self.running.push(a),
                Effect::Cancel { run_id, now } => self.cancels.push((run_id, now)),
                Effect::Notify(n) => self.notices.push(n),
                Effect::Log(_, l) => self.logs.push(l),
                Effect::Outputs { run_id, outputs, .. } => {
                    for o in outputs {
                        self.outputs_stored.push((run_id, o.var_name, o.value));
                    }
                }
                Effect::PauseTag { .. } => {}
            }
        }
    }

    fn input(&mut self, input: Input) -> Option<Reply> {
        let out = self.core.handle(input, self.now());
        self.apply(out.effects);
        out.reply
    }

    fn cmd(&mut self, c: Command) -> Reply {
        self.input(Input::Command(c)).expect("a command is answered")
    }

    fn run(&mut self, job: &str) -> Created {
        match self.cmd(Command::Run { job: job.into(), reason: None, by: "test".into() }) {
            Reply::Runs(mut v) => v.remove(0),
            other => panic!("{other:?}"),
        }
    }

    /// Both clocks move forward by `d`.
    fn advance(&mut self, d: Duration) {
        self.utc += d;
        self.mono += std::time::Duration::try_from(d).expect("forward");
        self.input(Input::Tick);
    }

    /// Only the wall clock moves (a clock change, or a host that slept).
    fn jump(&mut self, d: Duration) {
        self.utc += d;
        self.input(Input::Tick);
    }

    /// Wakes the engine at each of its deadlines up to `until`, finishing every dispatched run
    /// at once with `exit`.
    fn run_until(&mut self, until: OffsetDateTime, exit: Option<i32>) {
        loop {
            if let Some(code) = exit {
                self.finish_all(code);
            }
            match self.core.next_wakeup() {
                Some(at) if at <= until => {
                    let d = at - self.utc;
                    self.advance(d.max(Duration::ZERO));
                }
                _ => {
                    let d = until - self.utc;
                    self.advance(d);
                    if let Some(code) = exit {
                        self.finish_all(code);
                    }
                    return;
                }
            }
        }
    }

    fn finish_all(&mut self, code: i32) {
        while !self.running.is_empty() {
            let a = self.running.remove(0);
            self.start(a.run_id);
            self.finish(a.run_id, code, &[]);
        }
    }

    fn start(&mut self, id: i64) {
        let at = self.utc;
        self.input(Input::Run(RunEvent::Started { run_id: id, pid: 4242, pid_start: Some(1), at }));
    }

    fn finish(&mut self, id: i64, code: i32, outputs: &[(&str, &str)]) {
        self.running.retain(|a| a.run_id != id);
        let cancelled = self.cancels.iter().any(|(r, _)| *r == id);
        let status = if cancelled {
            RunStatus::Cancelled
        } else if code == 0 {
            RunStatus::Success
        } else {
            RunStatus::Failed
        };
        let result = AttemptResult {
            outcome: Outcome {
                pid: Some(4242),
                exit_code: Some(code),
                cancelled,
                ..Outcome::default()
            },
            status,
            status_reason: (code != 0).then(|| format!("exit code {code}")),
            hc: None,
            outputs: outputs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            warnings: Vec::new(),
        };
        let at = self.utc;
        self.input(Input::Run(RunEvent::Finished { run_id: id, result: Box::new(result), at }));
    }

    /// Starts and finishes the dispatched attempt of `job` (exactly one must be running).
    fn complete(&mut self, job: &str, code: i32) -> i64 {
        let id = self.attempt_of(job).run_id;
        self.start(id);
        self.finish(id, code, &[]);
        id
    }

    fn attempt_of(&self, job: &str) -> Attempt {
        let found: Vec<&Attempt> = self.running.iter().filter(|a| a.job.name == job).collect();
        assert_eq!(
            found.len(),
            1,
            "{job}: {:?}",
            self.running.iter().map(|a| &a.job.name).collect::<Vec<_>>()
        );
        found[0].clone()
    }

    fn rows_of(&self, job: &str) -> Vec<(i64, Row)> {
        self.rows.iter().filter(|(_, r)| r.job == job).map(|(i, r)| (*i, r.clone())).collect()
    }

    fn last_row(&self, job: &str) -> Row {
        self.rows_of(job).pop().unwrap_or_else(|| panic!("{job} has no run")).1
    }

    fn status_of(&self, job: &str) -> (RunStatus, Option<String>) {
        let r = self.last_row(job);
        (r.status, r.reason)
    }
}

fn yaml(jobs: &str) -> String {
    format!("version: \"1\"\njobs:\n{jobs}")
}

fn job(name: &str, body: &str) -> String {
    let mut s = format!("  {name}:\n    description: {name}\n    command: \"echo {name}\"\n");
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

fn skipped(reason: &str) -> (RunStatus, Option<String>) {
    (RunStatus::Skipped, Some(reason.to_owned()))
}

// ---- schedules ----------------------------------------------------------------------------

#[test]
fn thirty_days_of_an_every_15s_job_fire_exactly_172800_times() {
    let mut w = World::new(&yaml(&job("beat", "frequency: every:15s")));
    w.run_until(T0 + Duration::days(30), Some(0));
    let fired = w.rows.values().filter(|r| r.trigger == Trigger::Schedule).count();
    assert_eq!(fired, 172_800);
    assert!(w.rows.values().all(|r| r.status == RunStatus::Success));
    // Every fire is at its slot, in order, 15 s apart.
    let times: Vec<OffsetDateTime> = w.rows.values().map(|r| r.created_at).collect();
    assert!(times.windows(2).all(|p| p[1] - p[0] == Duration::seconds(15)));
    assert_eq!(times[0], T0 + Duration::seconds(15));
}

#[test]
fn a_month_of_calendar_jobs_across_dst_changes_matches_the_schedule_module() {
    let jobs = [
        ("ny", "frequency: daily\ntime: \"0230\"\ntimezone: America/New_York"),
        ("london", "frequency: weekdays\ntime: \"0100\"\ntimezone: Europe/London"),
        ("lord_howe", "frequency: hourly\ntimezone: Australia/Lord_Howe"),
        ("sundays", "frequency: on:[sunday]\ntime: \"0200\"\ntimezone: Europe/Berlin"),
        ("monthly", "frequency: monthly\ntime: \"0000\"\ntimezone: Asia/Kolkata"),
    ];
    let text: String = jobs.iter().map(|(n, b)| job(n, b)).collect();
    let mut w = World::new(&yaml(&text));
    let end = T0 + Duration::days(35);
    w.run_until(end, Some(0));
    let config = w.core.config().clone();
    for (name, _) in jobs {
        let j = config.job(name).expect("job");
        let zone = schedule::job_zone(j.timezone.as_deref());
        let expected: Vec<OffsetDateTime> =
            schedule::next_fires(&j.frequency, j.time, zone, T0, 2000)
                .into_iter()
                .map(|f| f.at)
                .filter(|at| *at <= end)
                .collect();
        let got: Vec<OffsetDateTime> = w.rows_of(name).iter().map(|(_, r)| r.created_at).collect();
        assert_eq!(got, expected, "{name}");
        assert!(!got.is_empty(), "{name}");
    }
    // 2027-03-14 02:30 does not exist in New York: that day's run is at 03:30 EDT (07:30 UTC).
    assert!(w.rows_of("ny").iter().any(|(_, r)| r.created_at == datetime!(2027-03-14 07:30 UTC)));
}

#[test]
fn schedule_jitter_delays_each_fire_within_its_bound_and_keeps_the_slots() {
    let settings = Settings { schedule_jitter: Duration::seconds(30), ..Settings::default() };
    let mut w =
        World::with(&yaml(&job("j", "frequency: hourly")), settings, &Restored::default(), T0);
    w.run_until(T0 + Duration::hours(48) + Duration::minutes(1), Some(0));
    let rows = w.rows_of("j");
    assert_eq!(rows.len(), 48);
    let mut delays = Vec::new();
    for (i, (_, r)) in rows.iter().enumerate() {
        let slot = T0 + Duration::hours(i64::try_from(i).expect("i") + 1);
        let d = r.created_at - slot;
        assert!(d >= Duration::ZERO && d < Duration::seconds(30), "fire {i}: {d}");
        delays.push(d);
    }
    assert!(delays.iter().any(|d| *d != delays[0]), "the delay varies");
}

// ---- retries ------------------------------------------------------------------------------

#[test]
fn exponential_retries_follow_the_formula_then_on_failure_alerts() {
    let body =
        "frequency: manual\nretries: 3\nnotify:\n  on_failure: slack:#ops\n  on_retry: slack:#ops";
    let mut w = World::new(&yaml(&job("flaky", body)));
    let first = w.run("flaky");
    let mut delays = Vec::new();
    for attempt in 1..=4 {
        let id = w.complete("flaky", 1);
        let row = w.rows[&id].clone();
        assert_eq!(row.attempt, attempt);
        assert_eq!(row.cycle, w.rows[&first.run_id].cycle, "retries stay in the cycle");
        if attempt <= 3 {
            assert_eq!(row.status, RunStatus::Retrying);
            let due = row.retry_at.expect("retry_at");
            delays.push((due - w.utc).as_seconds_f64());
            w.run_until(due, None);
            assert_eq!(w.last_row("flaky").trigger, Trigger::Retry);
        } else {
            assert_eq!((row.status, row.reason), (RunStatus::Failed, Some("exit code 1".into())));
        }
    }
    for (i, base) in [30.0, 60.0, 120.0].into_iter().enumerate() {
        assert!(delays[i] >= base * 0.75 && delays[i] <= base * 1.25, "retry {i}: {}", delays[i]);
    }
    let events: Vec<Event> = w.notices.iter().map(|n| n.event).collect();
    assert_eq!(events, [Event::Retry, Event::Retry, Event::Retry, Event::Failure]);
    // The same seed replays the same jitter.
    let mut again = World::new(&yaml(&job("flaky", body)));
    again.run("flaky");
    let id = again.complete("flaky", 1);
    assert_eq!((again.rows[&id].retry_at.expect("due") - again.utc).as_seconds_f64(), delays[0]);
}

#[test]
fn fixed_retries_wait_exactly_and_a_success_ends_them() {
    let mut w =
        World::new(&yaml(&job("j", "frequency: manual\nretries: 2\nretry_delay: fixed:10s")));
    w.run("j");
    let id = w.complete("j", 3);
    assert_eq!(w.rows[&id].retry_at, Some(w.utc + Duration::seconds(10)));
    w.advance(Duration::seconds(9));
    assert!(w.running.is_empty(), "not before its time");
    w.advance(Duration::seconds(1));
    let second = w.complete("j", 0);
    assert_eq!((w.rows[&second].attempt, w.rows[&second].status), (2, RunStatus::Success));
    assert_eq!(w.rows_of("j").len(), 2);
}

// ---- the decision table ---------------------------------------------------------------------

#[test]
fn a_paused_job_does_not_fire_but_a_manual_run_runs_and_dependents_are_skipped() {
    let text = job("up", "frequency: hourly") + &job("down", "frequency: after:up");
    let mut w = World::new(&yaml(&text));
    w.cmd(Command::Pause { job: "up".into(), paused: true });
    w.run_until(T0 + Duration::hours(3), Some(0));
    assert!(w.rows.is_empty(), "a paused job's schedule does not fire");
    assert!(w.core.next_fire("up").is_some(), "its slots keep moving");
    w.cmd(Command::Pause { job: "up".into(), paused: false });
    w.cmd(Command::Pause { job: "down".into(), paused: true });
    let manual = w.run("up");
    assert_eq!(manual.status, RunStatus::Pending);
    w.complete("up", 0);
    assert_eq!(w.status_of("down"), skipped("paused"));
    assert_eq!(w.last_row("down").trigger, Trigger::Dependency);
}

#[test]
fn tags_pause_every_job_carrying_them() {
    let text = job("a", "frequency: hourly\ntags: [etl]") + &job("b", "frequency: hourly");
    let mut w = World::new(&yaml(&text));
    assert_eq!(
        w.cmd(Command::PauseTag { tag: "etl".into(), paused: true }),
        Reply::Done("tag etl paused (1 jobs)".into())
    );
    assert!(w.core.is_paused("a") && !w.core.is_paused("b"));
    w.run_until(T0 + Duration::hours(2), Some(0));
    assert_eq!((w.rows_of("a").len(), w.rows_of("b").len()), (0, 2));
    assert!(matches!(
        w.cmd(Command::PauseTag { tag: "nope".into(), paused: true }),
        Reply::Error(_)
    ));
}

#[test]
fn forbid_records_the_overlap_as_skipped() {
    let mut w = World::new(&yaml(&job("j", "frequency: manual\nconcurrency: forbid")));
    let first = w.run("j");
    let second = w.run("j");
    assert_eq!(second.status, RunStatus::Skipped);
    let why = format!("concurrency: forbid (run {} is still running)", first.run_id);
    assert_eq!(second.reason.as_deref(), Some(why.as_str()));
    assert_eq!(w.status_of("j"), skipped(&why));
    w.complete("j", 0);
    assert_eq!(w.run("j").status, RunStatus::Pending, "free again once it ended");
}

#[test]
fn allow_runs_overlapping_runs_side_by_side() {
    let mut w = World::new(&yaml(&job("j", "frequency: manual")));
    w.run("j");
    w.run("j");
    assert_eq!(w.running.len(), 2);
}

#[test]
fn replace_cancels_the_running_run_and_starts_once_it_ended() {
    let mut w = World::new(&yaml(&job("j", "frequency: manual\nconcurrency: replace")));
    let old = w.run("j").run_id;
    w.start(old);
    let new = w.run("j").run_id;
    assert_eq!(w.cancels, vec![(old, false)]);
    assert_eq!(w.running.len(), 1, "the new run waits for the old one to go");
    w.finish(old, -1, &[]);
    assert_eq!(
        (w.rows[&old].status, w.rows[&old].reason.clone()),
        (RunStatus::Cancelled, Some(format!("replaced by run {new}")))
    );
    assert_eq!(w.attempt_of("j").run_id, new);
}

#[test]
fn an_upstream_outside_the_cycle_gates_by_its_latest_outcome() {
    let text =
        job("base", "frequency: manual") + &job("report", "frequency: manual\ndepends_on: [base]");
    let mut w = World::new(&yaml(&text));
    assert_eq!(w.run("report").reason.as_deref(), Some("upstream base has not run yet"));
    w.run("base");
    w.complete("base", 1);
    assert_eq!(w.run("report").reason.as_deref(), Some("upstream base FAILED"));
    w.run("base");
    w.complete("base", 0);
    assert_eq!(w.run("report").status, RunStatus::Pending);
    w.complete("report", 0);
}

#[test]
fn outputs_flow_to_dependents_of_the_same_cycle_only() {
    let text = job("producer", "frequency: manual\noutput:\n  greeting: last_line")
        + &job(
            "consumer",
            "frequency: after:producer\nenv:\n  MSG: \"{{ outputs.producer.greeting }}\"",
        )
        + "    command: \"notify --msg={{ outputs.producer.greeting }}\"\n";
    // The consumer's command line above replaces its default one.
    let text = text.replace("    command: \"echo consumer\"\n", "");
    let mut w = World::new(&yaml(&text));
    w.run("producer");
    let p = w.attempt_of("producer").run_id;
    w.start(p);
    w.finish(p, 0, &[("greeting", "hello world")]);
    assert_eq!(w.outputs_stored, vec![(p, "greeting".into(), "hello world".into())]);
    let a = w.attempt_of("consumer");
    assert_eq!(a.command.as_deref(), Some("notify --msg=hello world"));
    assert_eq!(a.env, Some(vec![("MSG".to_owned(), "hello world".to_owned())]));
    assert_eq!(a.cycle_id, w.rows[&p].cycle);
    // A manual run of the consumer is a cycle of its own: the value is not visible there.
    w.complete("consumer", 0);
    let c = w.run("consumer");
    let (status, reason) = w.status_of("consumer");
    assert_eq!(status, RunStatus::Failed);
    let reason = reason.expect("reason");
    assert!(reason.contains("outputs.producer.greeting"), "{reason}");
    assert!(reason.contains(&format!("\"{}\"", w.rows[&c.run_id].cycle)), "{reason}");
}

#[test]
fn an_upstream_failure_skips_dependents_transitively() {
    let text = job("a", "frequency: manual")
        + &job("b", "frequency: after:a")
        + &job("c", "frequency: after:b");
    let mut w = World::new(&yaml(&text));
    w.run("a");
    w.complete("a", 2);
    assert_eq!(w.status_of("b"), skipped("upstream a FAILED"));
    assert_eq!(w.status_of("c"), skipped("upstream b SKIPPED"));
    let cycle = &w.last_row("a").cycle;
    assert!(w.rows.values().all(|r| &r.cycle == cycle));
}

#[test]
fn on_failure_skip_records_skipped_without_alert_and_skips_dependents() {
    let body = "frequency: manual\non_failure: skip\nnotify:\n  on_failure: slack:#ops";
    let text = job("a", body) + &job("b", "frequency: after:a");
    let mut w = World::new(&yaml(&text));
    w.run("a");
    w.complete("a", 1);
    assert_eq!(w.status_of("a"), skipped("exit code 1 (on_failure: skip)"));
    assert_eq!(w.status_of("b"), skipped("upstream a SKIPPED"));
    assert!(w.notices.is_empty());
}

#[test]
fn on_failure_ignore_records_failed_without_alert_and_dependents_proceed() {
    let body = "frequency: manual\non_failure: ignore\nnotify:\n  on_failure: slack:#ops";
    let text = job("a", body) + &job("b", "frequency: after:a");
    let mut w = World::new(&yaml(&text));
    w.run("a");
    w.complete("a", 1);
    assert_eq!(w.status_of("a"), (RunStatus::Failed, Some("exit code 1".into())));
    assert!(w.notices.is_empty());
    w.complete("b", 0);
    assert_eq!(w.status_of("b").0, RunStatus::Success);
}

#[test]
fn on_failure_alert_notifies_and_is_the_default() {
    let text = job("a", "frequency: manual\nnotify:\n  on_failure: slack:#ops");
    let mut w = World::new(&yaml(&text));
    w.run("a");
    let id = w.complete("a", 1);
    assert_eq!(w.notices.len(), 1);
    let n = &w.notices[0];
    assert_eq!((n.event, n.run_id, n.status), (Event::Failure, id, RunStatus::Failed));
    assert_eq!(n.target.channel, "slack:#ops");
}

#[test]
fn on_failure_stop_cancels_running_siblings_and_skips_the_rest_of_the_cycle() {
    let text = job("root", "frequency: manual")
        + &job("slow", "frequency: after:root")
        + &job("bad", "frequency: after:root\non_failure: stop")
        + &job("after_bad", "frequency: after:bad")
        + &job("after_slow", "frequency: after:slow")
        + &job("fan_in", "frequency: after:root\ndepends_on: [slow]");
    let mut w = World::new(&yaml(&text));
    w.run("root");
    w.complete("root", 0);
    let slow = w.attempt_of("slow").run_id;
    w.start(slow);
    assert_eq!(w.status_of("fan_in"), (RunStatus::Pending, None), "fan_in waits for slow");
    w.complete("bad", 1);
    let why = "pipeline stopped by bad".to_owned();
    assert_eq!(w.cancels, vec![(slow, false)]);
    assert_eq!(w.status_of("fan_in"), (RunStatus::Cancelled, Some(why.clone())));
    assert_eq!(w.status_of("after_bad"), skipped(&why));
    assert_eq!(w.status_of("after_slow"), skipped(&why), "recorded at once");
    w.finish(slow, -1, &[]);
    assert_eq!(w.status_of("slow"), (RunStatus::Cancelled, Some(why)));
    assert_eq!(w.rows_of("after_slow").len(), 1, "not recorded twice");
    assert!(w.running.is_empty());
}

#[test]
fn fan_in_waits_for_every_upstream_of_its_cycle() {
    let text = job("a", "frequency: manual")
        + &job("b", "frequency: after:a")
        + &job("c", "frequency: after:a")
        + &job("d", "frequency: after:b\ndepends_on: [c]");
    let mut w = World::new(&yaml(&text));
    w.run("a");
    w.complete("a", 0);
    w.complete("b", 0);
    assert_eq!(w.status_of("d").0, RunStatus::Pending);
    assert!(w.running.iter().all(|a| a.job.name != "d"), "d waits for c");
    w.complete("c", 0);
    w.complete("d", 0);
    // Once more, with c failing: d is skipped and names it.
    w.run("a");
    w.complete("a", 0);
    w.complete("b", 0);
    w.complete("c", 1);
    assert_eq!(w.status_of("d"), skipped("upstream c FAILED"));
}

#[test]
fn max_concurrent_jobs_queues_runs_in_fifo_order() {
    let settings = Settings { max_concurrent: 2, ..Settings::default() };
    let text = job("a", "frequency: manual")
        + &job("b", "frequency: manual")
        + &job("c", "frequency: manual");
    let mut w = World::with(&yaml(&text), settings, &Restored::default(), T0);
    let ids: Vec<i64> = ["a", "b", "c", "a"].iter().map(|j| w.run(j).run_id).collect();
    let running: Vec<i64> = w.running.iter().map(|a| a.run_id).collect();
    assert_eq!(running, ids[..2]);
    assert_eq!(w.rows[&ids[2]].status, RunStatus::Pending);
    w.complete("b", 0);
    let running: Vec<i64> = w.running.iter().map(|a| a.run_id).collect();
    assert_eq!(running, vec![ids[0], ids[2]], "c goes before the second a");
    w.complete("c", 0);
    assert_eq!(w.running.len(), 2);
}

#[test]
fn skip_skips_pending_runs_or_else_the_next_slot() {
    let settings = Settings { max_concurrent: 1, ..Settings::default() };
    let text = job("busy", "frequency: manual") + &job("j", "frequency: hourly");
    let mut w = World::with(&yaml(&text), settings, &Restored::default(), T0);
    w.run("busy");
    let queued = w.run("j");
    assert_eq!(
        w.cmd(Command::Skip { job: "j".into() }),
        Reply::Done("j: 1 pending run(s) skipped".into())
    );
    assert_eq!(w.rows[&queued.run_id].status, RunStatus::Skipped);
    w.complete("busy", 0);
    let Reply::Done(msg) = w.cmd(Command::Skip { job: "j".into() }) else { panic!() };
    assert!(msg.contains("next slot"), "{msg}");
    w.run_until(T0 + Duration::hours(2), Some(0));
    let rows = w.rows_of("j");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].1.reason.as_deref(), Some("skipped by a user (next slot)"));
    assert_eq!(rows[2].1.status, RunStatus::Success, "only one slot is skipped");
}

#[test]
fn status_lists_every_job_with_its_next_fire_pause_and_live_runs() {
    let text = job("a", "frequency: hourly\ntags: [etl]") + &job("b", "frequency: manual");
    let mut w = World::new(&yaml(&text));
    let id = w.run("b").run_id;
    w.start(id);
    w.cmd(Command::PauseTag { tag: "etl".into(), paused: true });
    let Reply::Jobs(jobs) = w.cmd(Command::Status) else { panic!("jobs") };
    let names: Vec<&str> = jobs.iter().map(|j| j.job.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!((jobs[0].next_run, jobs[0].paused), (Some(T0 + Duration::hours(1)), true));
    assert_eq!((jobs[1].next_run, jobs[1].paused), (None, false));
    assert_eq!(jobs[1].runs, vec![(id, RunStatus::Running)]);
}

#[test]
fn commands_name_unknown_jobs_with_a_suggestion() {
    let mut w = World::new(&yaml(&job("backup", "frequency: manual")));
    let r = w.cmd(Command::Run { job: "bakup".into(), reason: None, by: "cli".into() });
    assert_eq!(r, Reply::Error("no job named \"bakup\" (did you mean \"backup\"?)".into()));
    assert!(matches!(w.cmd(Command::Cancel { run_id: 99, by: "cli".into() }), Reply::Error(_)));
}

#[test]
fn cancel_stops_a_running_run_and_ends_a_queued_one_at_once() {
    let settings = Settings { max_concurrent: 1, ..Settings::default() };
    let mut w =
        World::with(&yaml(&job("j", "frequency: manual")), settings, &Restored::default(), T0);
    let running = w.run("j").run_id;
    let queued = w.run("j").run_id;
    w.cmd(Command::Cancel { run_id: queued, by: "cli".into() });
    assert_eq!(w.rows[&queued].status, RunStatus::Cancelled);
    w.cmd(Command::Cancel { run_id: running, by: "cli".into() });
    assert_eq!(w.cancels, vec![(running, false)]);
    w.finish(running, -1, &[]);
    assert_eq!(
        (w.rows[&running].status, w.rows[&running].reason.as_deref()),
        (RunStatus::Cancelled, Some("cancelled by cli"))
    );
}

// ---- SLA --------------------------------------------------------------------------------------

#[test]
fn an_sla_breach_is_flagged_and_notified_once_while_the_run_goes_on() {
    let body = "frequency: manual\nsla: 5m\nnotify:\n  on_failure: slack:#ops";
    let mut w = World::new(&yaml(&job("j", body)));
    let id = w.run("j").run_id;
    w.start(id);
    w.advance(Duration::minutes(4));
    assert!(!w.rows[&id].sla_breached);
    w.advance(Duration::minutes(2));
    assert!(w.rows[&id].sla_breached);
    assert_eq!(w.notices.len(), 1, "falls back to on_failure");
    assert_eq!((w.notices[0].event, w.notices[0].status), (Event::SlaBreach, RunStatus::Running));
    w.finish(id, 0, &[]);
    assert_eq!((w.rows[&id].status, w.rows[&id].sla_breached), (RunStatus::Success, true));
    // A run that ends in time leaves no timer behind.
    let id = w.run("j").run_id;
    w.start(id);
    w.finish(id, 0, &[]);
    w.advance(Duration::minutes(10));
    assert_eq!(w.notices.len(), 1);
    assert!(!w.rows[&id].sla_breached);
}

// ---- catch-up and clock jumps -----------------------------------------------------------------

fn restored_next(job: &str, next: OffsetDateTime) -> Restored {
    let mut r = Restored::default();
    r.jobs.insert(job.into(), RestoredJob { next_run: Some(next), ..RestoredJob::default() });
    r
}

#[test]
fn missed_fires_are_caught_up_once_within_the_window() {
    let text = job("j", "frequency: hourly\ncatchup: true");
    let restored = restored_next("j", T0 - Duration::hours(5));
    let w = World::with(&yaml(&text), Settings::default(), &restored, T0 + Duration::minutes(30));
    let rows = w.rows_of("j");
    assert_eq!(rows.len(), 1, "once, however many were missed");
    assert_eq!(rows[0].1.trigger, Trigger::Catchup);
    assert_eq!(w.core.next_fire("j"), Some(T0 + Duration::hours(1)));
    assert!(w.logs.iter().any(|l| l.contains("6 missed fire(s)")), "{:?}", w.logs);
}

#[test]
fn missed_fires_outside_the_window_or_without_catchup_are_skipped_and_logged() {
    let settings = Settings { catchup_window: Duration::hours(1), ..Settings::default() };
    let text = job("late", "frequency: daily\ntime: \"2200\"\ncatchup: true")
        + &job("plain", "frequency: hourly");
    let mut restored = restored_next("late", T0 - Duration::hours(2));
    restored.jobs.insert(
        "plain".into(),
        RestoredJob { next_run: Some(T0 - Duration::hours(2)), ..RestoredJob::default() },
    );
    let w = World::with(&yaml(&text), settings, &restored, T0);
    assert!(w.rows.is_empty());
    assert!(
        w.logs
            .iter()
            .any(|l| l.starts_with("late:") && l.contains("outside scheduler.catchup_window"))
    );
    assert!(w.logs.iter().any(|l| l.starts_with("plain:") && l.contains("catchup is off")));
    assert_eq!(w.core.next_fire("plain"), Some(T0 + Duration::hours(1)));
}

#[test]
fn a_forward_clock_jump_catches_up_or_skips_instead_of_firing_every_slot() {
    let text = job("c", "frequency: every:10m\ncatchup: true") + &job("p", "frequency: every:10m");
    let mut w = World::new(&yaml(&text));
    w.jump(Duration::hours(5));
    assert_eq!(w.rows_of("c").len(), 1);
    assert_eq!(w.last_row("c").trigger, Trigger::Catchup);
    assert!(w.rows_of("p").is_empty());
    assert!(w.logs.iter().any(|l| l.contains("wall clock moved")));
    // Both go on from the next slot.
    w.finish_all(0);
    w.advance(Duration::minutes(10));
    assert_eq!((w.rows_of("c").len(), w.rows_of("p").len()), (2, 1));
}

#[test]
fn a_backward_clock_jump_never_fires_a_calendar_slot_twice_and_keeps_intervals_going() {
    let text =
        job("daily", "frequency: daily\ntime: \"0300\"") + &job("beat", "frequency: every:15m");
    let mut w = World::with(
        &yaml(&text),
        Settings::default(),
        &Restored::default(),
        datetime!(2027-03-01 02:50 UTC),
    );
    w.run_until(datetime!(2027-03-01 03:10 UTC), Some(0));
    assert_eq!(w.rows_of("daily").len(), 1);
    let beats = w.rows_of("beat").len();
    w.jump(-Duration::hours(1)); // 02:10 again
    w.run_until(datetime!(2027-03-01 03:10 UTC), Some(0));
    assert_eq!(w.rows_of("daily").len(), 1, "03:00 already fired");
    assert_eq!(w.rows_of("beat").len(), beats + 4, "02:15, 02:30, 02:45, 03:00 again");
    assert_eq!(w.core.next_fire("daily"), Some(datetime!(2027-03-02 03:00 UTC)));
}

// ---- reload -----------------------------------------------------------------------------------

#[test]
fn reload_reschedules_changed_jobs_and_lets_runs_of_removed_jobs_finish() {
    let text = job("keep", "frequency: hourly")
        + &job("gone", "frequency: manual")
        + &job("change", "frequency: daily\ntime: \"0600\"");
    let mut w = World::new(&yaml(&text));
    let gone = w.run("gone").run_id;
    let keep_next = w.core.next_fire("keep");
    let new = job("keep", "frequency: hourly")
        + &job("change", "frequency: daily\ntime: \"0700\"")
        + &job("added", "frequency: every:30m");
    let reply = w.cmd(Command::Reload(config(&yaml(&new))));
    assert_eq!(reply, Reply::Done("configuration reloaded (3 jobs)".into()));
    assert_eq!(w.core.next_fire("keep"), keep_next);
    assert_eq!(w.core.next_fire("change"), Some(T0 + Duration::hours(7)));
    assert_eq!(w.core.next_fire("added"), Some(T0 + Duration::minutes(30)));
    assert_eq!(w.core.next_fire("gone"), None);
    w.start(gone);
    w.finish(gone, 0, &[]);
    assert_eq!(w.rows[&gone].status, RunStatus::Success, "a removed job's run finishes normally");
    // The old 06:00 slot of the changed job is gone with its schedule.
    w.run_until(T0 + Duration::hours(8), Some(0));
    let fired: Vec<OffsetDateTime> =
        w.rows_of("change").iter().map(|(_, r)| r.created_at).collect();
    assert_eq!(fired, vec![T0 + Duration::hours(7)]);
}

#[test]
fn a_persisted_next_fire_of_a_schedule_that_changed_while_down_is_recomputed() {
    // The daemon stopped with an hourly schedule; the file now says daily at 06:00.
    let restored = restored_next("j", T0 + Duration::minutes(30));
    let text = job("j", "frequency: daily\ntime: \"0600\"");
    let w = World::with(&yaml(&text), Settings::default(), &restored, T0);
    assert_eq!(w.core.next_fire("j"), Some(T0 + Duration::hours(6)));
    let kept = World::with(
        &yaml(&text),
        Settings::default(),
        &restored_next("j", T0 + Duration::hours(6)),
        T0,
    );
    assert_eq!(kept.core.next_fire("j"), Some(T0 + Duration::hours(6)));
}

// ---- recovery ---------------------------------------------------------------------------------

fn restored_run(id: i64, job: &str, status: RunStatus, attempt: u32, cycle: &str) -> RestoredRun {
    RestoredRun {
        id,
        job: job.into(),
        status,
        attempt,
        trigger: Trigger::Schedule,
        triggered_by: "scheduler".into(),
        reason: None,
        cycle_id: Some(cycle.into()),
        retry_at: None,
        pid: None,
        pid_start: None,
    }
}

/// Recovery with rows already in the store: the world's rows start as the restored ones.
fn recovered(text: &str, restored: &Restored) -> World {
    let rows = restored
        .live
        .iter()
        .map(|r| {
            let row = Row {
                job: r.job.clone(),
                status: r.status,
                reason: None,
                trigger: r.trigger,
                attempt: r.attempt,
                cycle: r.cycle_id.clone().unwrap_or_default(),
                created_at: T0,
                finished_at: None,
                retry_at: r.retry_at,
                sla_breached: false,
            };
            (r.id, row)
        })
        .collect();
    World::started(&yaml(text), Settings::default(), restored, T0, rows)
}

#[test]
fn recovery_fails_orphans_and_retries_them_in_their_cycle() {
    let text = job("r", "frequency: manual\nretries: 1")
        + &job("once", "frequency: manual\nnotify:\n  on_failure: slack:#ops");
    let restored = Restored {
        last_run_id: 10,
        live: vec![
            restored_run(9, "r", RunStatus::Running, 1, "cy-r"),
            restored_run(10, "once", RunStatus::Running, 1, "cy-o"),
        ],
        ..Restored::default()
    };
    let mut w = recovered(&text, &restored);
    assert_eq!(w.rows[&9].status, RunStatus::Retrying);
    assert_eq!(w.rows[&9].reason.as_deref(), Some("orphaned: daemon restarted"));
    assert_eq!(
        (w.rows[&10].status, w.rows[&10].reason.as_deref()),
        (RunStatus::Failed, Some("orphaned: daemon restarted"))
    );
    assert_eq!(w.notices.len(), 1);
    w.advance(Duration::ZERO);
    let retry = w.attempt_of("r");
    assert_eq!((retry.run_id, retry.attempt, retry.cycle_id.as_str()), (11, 2, "cy-r"));
    assert_eq!(w.rows[&11].trigger, Trigger::Retry);
}

#[test]
fn recovery_rearms_retries_and_pending_runs() {
    let text = job("a", "frequency: manual\nretries: 2")
        + &job("b", "frequency: manual")
        + &job("up", "frequency: manual")
        + &job("down", "frequency: after:up\ndepends_on: [side]")
        + &job("side", "frequency: after:up");
    let mut retrying = restored_run(3, "a", RunStatus::Retrying, 1, "c1");
    retrying.retry_at = Some(T0 + Duration::minutes(1));
    let mut cycles = HashMap::new();
    let mut done = BTreeMap::new();
    done.insert("up".to_owned(), RunStatus::Success);
    cycles.insert(
        "c3".to_owned(),
        RestoredCycle { root: Some("up".into()), done, outputs: Outputs::new() },
    );
    let restored = Restored {
        last_run_id: 7,
        live: vec![
            retrying,
            restored_run(4, "b", RunStatus::Pending, 1, "c2"),
            restored_run(6, "down", RunStatus::Pending, 1, "c3"),
            restored_run(7, "side", RunStatus::Running, 1, "c3"),
        ],
        cycles,
        ..Restored::default()
    };
    let mut w = recovered(&text, &restored);
    // b runs at once; side's orphan failed, so down (waiting for it in its cycle) is skipped.
    assert_eq!(w.attempt_of("b").run_id, 4);
    assert_eq!(w.rows[&7].status, RunStatus::Failed);
    assert_eq!(w.status_of("down"), skipped("upstream side FAILED"));
    assert!(w.running.iter().all(|a| a.job.name != "a"));
    w.advance(Duration::minutes(1));
    let a = w.attempt_of("a");
    assert_eq!((a.run_id, a.attempt, a.cycle_id.as_str()), (8, 2, "c1"));
}

// ---- shutdown ---------------------------------------------------------------------------------

#[test]
fn shutdown_stops_firing_waits_then_cancels_what_is_left() {
    let mut w = World::new(&yaml(&job("j", "frequency: every:1m")));
    w.advance(Duration::minutes(1));
    let id = w.attempt_of("j").run_id;
    w.start(id);
    w.cmd(Command::Shutdown { force: false });
    assert!(!w.core.is_done());
    w.advance(Duration::seconds(59));
    assert!(w.cancels.is_empty());
    assert_eq!(w.rows.len(), 1, "nothing fires while stopping");
    w.advance(Duration::seconds(1));
    assert_eq!(w.cancels, vec![(id, true)]);
    w.finish(id, -1, &[]);
    assert_eq!(
        (w.rows[&id].status, w.rows[&id].reason.as_deref()),
        (RunStatus::Cancelled, Some("daemon shutdown"))
    );
    assert!(w.core.is_done());
}

#[test]
fn a_forced_shutdown_kills_at_once_and_leaves_queued_runs_pending_for_the_next_start() {
    let settings = Settings { max_concurrent: 1, ..Settings::default() };
    let mut w =
        World::with(&yaml(&job("j", "frequency: manual")), settings, &Restored::default(), T0);
    let running = w.run("j").run_id;
    let queued = w.run("j").run_id;
    w.cmd(Command::Shutdown { force: true });
    assert_eq!(w.cancels, vec![(running, true)]);
    w.finish(running, -1, &[]);
    assert!(w.core.is_done());
    assert_eq!(w.rows[&queued].status, RunStatus::Pending, "re-armed at the next start");
    assert!(w.running.is_empty());
}

// ---- notices: cooldown, resolve, daemon-level alerts ------------------------------------------

#[test]
fn a_cooldown_holds_repeats_back_and_the_next_notice_counts_them() {
    let body =
        "frequency: manual\nnotify:\n  on_failure:\n    channel: slack:#ops\n    cooldown: 10m";
    let mut w = World::new(&yaml(&job("j", body)));
    for _ in 0..3 {
        w.run("j");
        w.complete("j", 1);
        w.advance(Duration::minutes(2));
    }
    assert_eq!(w.notices.len(), 1, "two held back within 10 minutes");
    assert_eq!(w.notices[0].suppressed, 0);
    assert_eq!(w.logs.iter().filter(|l| l.contains("held back by its cooldown")).count(), 2);
    // 10 minutes after the one sent, the next goes out and says two were held back.
    w.advance(Duration::minutes(4));
    w.run("j");
    w.complete("j", 1);
    assert_eq!(w.notices.len(), 2);
    assert_eq!(w.notices[1].suppressed, 2);
    // The count starts again.
    w.advance(Duration::minutes(11));
    w.run("j");
    w.complete("j", 1);
    assert_eq!((w.notices.len(), w.notices[2].suppressed), (3, 0));
}

#[test]
fn a_success_after_a_failure_raises_resolve_on_the_failure_channel() {
    let body = "frequency: manual\nnotify:\n  on_failure: pagerduty:p1";
    let mut w = World::new(&yaml(&job("j", body)));
    w.run("j");
    w.complete("j", 0);
    assert!(w.notices.is_empty(), "a success after a success resolves nothing");
    w.run("j");
    w.complete("j", 1);
    w.run("j");
    let id = w.complete("j", 0);
    let events: Vec<Event> = w.notices.iter().map(|n| n.event).collect();
    assert_eq!(events, [Event::Failure, Event::Resolve]);
    let n = &w.notices[1];
    assert_eq!(
        (n.run_id, n.status, n.target.channel.as_str()),
        (id, RunStatus::Success, "pagerduty:p1")
    );
    assert_eq!(n.ended.and_then(|e| e.exit_code), Some(0));
}

#[test]
fn daemon_alerts_catch_sla_breaches_without_a_job_channel_and_forced_kills() {
    let mut w = World::new(&yaml(&job("j", "frequency: manual\nsla: 1m")));
    w.core.set_alerts(DaemonAlerts {
        on_sla_breach: vec!["slack:#sla".into(), "email:ops@example.com".into()],
        on_forced_kill: vec!["slack:#kills".into()],
    });
    let id = w.run("j").run_id;
    w.start(id);
    w.advance(Duration::minutes(2));
    let sla: Vec<(&str, Event, bool)> =
        w.notices.iter().map(|n| (n.target.channel.as_str(), n.event, n.sla_breached)).collect();
    assert_eq!(
        sla,
        [("slack:#sla", Event::SlaBreach, true), ("email:ops@example.com", Event::SlaBreach, true)]
    );
    // The run times out and its processes have to be killed.
    let result = AttemptResult {
        outcome: Outcome {
            pid: Some(4242),
            signal: Some(9),
            timed_out: true,
            ..Outcome::default()
        },
        status: RunStatus::Failed,
        status_reason: Some("timed out".into()),
        hc: None,
        outputs: Vec::new(),
        warnings: Vec::new(),
    };
    w.running.retain(|a| a.run_id != id);
    let at = w.utc;
    w.input(Input::Run(RunEvent::Finished { run_id: id, result: Box::new(result), at }));
    let kill = w.notices.iter().find(|n| n.event == Event::ForcedKill).expect("forced kill notice");
    assert_eq!((kill.target.channel.as_str(), kill.run_id), ("slack:#kills", id));
    assert!(kill.reason.as_deref().is_some_and(|r| r.contains("killed")), "{:?}", kill.reason);
}
